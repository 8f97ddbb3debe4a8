//! `UserService`: parse the request into domain values, run the command pipeline, render.

use std::sync::Arc;

use identity_domain::{
    DisplayName, LoginOutcome, Password, PasswordHash, PasswordHasher, SessionId, SuspensionReason,
    User, UserError, UserId,
};
use kernel_domain::Rejection;
use platform::{
    rpc::{FieldCheck, PageRequest, Target, parse_email, parse_id, parse_request_id, parse_token},
    store::{Command, Stored},
};
use saas_proto::identity::v1::{self as pb, user_service_server::UserService};
use tonic::{Request, Response, Status};

use crate::{UserStore, wire};

/// The most ids one `BatchGetUsers` may ask for.
pub const MAX_BATCH: usize = 100;

/// The `UserService` implementation.
#[derive(Clone)]
pub struct UserApi {
    store: UserStore,
    hasher: Arc<dyn PasswordHasher>,
    /// Password hashing is deliberately expensive (argon2id, 19 MiB per hash): at most
    /// `limit.slots` run at once, and a call that cannot get a slot within `limit.wait` is
    /// shed, not queued.
    hashing: Arc<tokio::sync::Semaphore>,
    hashing_wait: std::time::Duration,
}

/// How much password hashing may run at once, and how long a call waits for a slot before it
/// is shed with `UNAVAILABLE` / `OVERLOADED`.
#[derive(Debug, Clone, Copy)]
pub struct HashingLimit {
    /// Hashes at once.
    pub slots: usize,
    /// The longest wait for a slot.
    pub wait: std::time::Duration,
}

impl Default for HashingLimit {
    /// Two hashes per core; a two-second wait.
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        HashingLimit {
            slots: 2 * cores,
            wait: std::time::Duration::from_secs(2),
        }
    }
}

impl UserApi {
    /// A service over a store, with the default [`HashingLimit`].
    pub fn new(store: UserStore, hasher: Arc<dyn PasswordHasher>) -> Self {
        Self::with_hashing_limit(store, hasher, HashingLimit::default())
    }

    /// A service over a store with the given [`HashingLimit`].
    pub fn with_hashing_limit(
        store: UserStore,
        hasher: Arc<dyn PasswordHasher>,
        limit: HashingLimit,
    ) -> Self {
        UserApi {
            store,
            hasher,
            hashing: Arc::new(tokio::sync::Semaphore::new(limit.slots.max(1))),
            hashing_wait: limit.wait,
        }
    }

    /// Runs password hashing work off the async workers, within the hashing slots.
    async fn hashing<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Status> {
        let slot = tokio::time::timeout(self.hashing_wait, self.hashing.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
            .ok_or_else(|| {
                self.reject(Rejection::new(
                    kernel_domain::RejectionKind::Unavailable,
                    "OVERLOADED",
                    "too many password checks at once; retry with backoff",
                ))
            })?;
        let result = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| self.store.internal(e));
        drop(slot);
        result
    }

    fn reject(&self, rejection: impl Into<Rejection>) -> Status {
        self.store.reject(&rejection.into())
    }

    /// Hashes off the async workers: argon2 takes tens of milliseconds by design.
    async fn hash(&self, password: Password) -> Result<PasswordHash, Status> {
        let hasher = self.hasher.clone();
        self.hashing(move || hasher.hash(&password)).await
    }

    async fn check(
        &self,
        user: User,
        password: Password,
    ) -> Result<identity_domain::CredentialCheck, Status> {
        let hasher = self.hasher.clone();
        let now = self.store.now();
        self.hashing(move || user.check_credentials(&password, hasher.as_ref(), now))
            .await
    }
}

/// How often a password check is repeated when a concurrent change to the user spent it.
const CHECK_ATTEMPTS: usize = 5;

fn is_stale_check(status: &Status) -> bool {
    platform::rpc::error_reason(status).as_deref() == Some(UserError::PasswordCheckStale.reason())
}

fn invalid_credentials() -> Rejection {
    UserError::InvalidCredentials.into()
}

fn display_name(raw: &str) -> Result<DisplayName, Rejection> {
    DisplayName::parse(raw).map_err(Rejection::from)
}

fn password(field: &str, raw: &str) -> Result<Password, Rejection> {
    Password::parse(raw).map_err(|e| Rejection::from(e).on_field(field))
}

fn user_id(raw: &str) -> Result<uuid::Uuid, Rejection> {
    parse_id("id", raw)
}

fn target(fields: &mut FieldCheck, id: &str, request_id: &str, etag: &str) -> Option<Target> {
    Target::parse(fields, id, request_id, etag)
}

impl UserApi {
    /// Runs `decide` on an existing user as `method`, rendering the user.
    async fn command<M: prost::Message>(
        &self,
        method: &'static str,
        target: Target,
        fingerprinted: &M,
        mut decide: impl FnMut(
            &mut User,
            kernel_domain::Timestamp,
        ) -> Result<Vec<identity_domain::UserEvent>, UserError>,
    ) -> Result<Response<pb::User>, Status> {
        let command = Command::new(method, target.request_id, fingerprinted, target.expected);
        self.store
            .update(
                command,
                target.id,
                |user, now| decide(user, now).map_err(Rejection::from),
                wire::user,
            )
            .await
            .map(Response::new)
    }
}

#[tonic::async_trait]
impl UserService for UserApi {
    async fn get_user(
        &self,
        request: Request<pb::GetUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let id = user_id(&request.get_ref().id).map_err(|r| self.reject(r))?;
        let stored = self.store.get_existing(id).await?;
        Ok(Response::new(wire::user(&stored, self.store.now())))
    }

    async fn batch_get_users(
        &self,
        request: Request<pb::BatchGetUsersRequest>,
    ) -> Result<Response<pb::BatchGetUsersResponse>, Status> {
        let ids = &request.get_ref().ids;
        if ids.len() > MAX_BATCH {
            return Err(self.reject(Rejection::invalid_field(
                "TOO_MANY_IDS",
                "ids",
                format!("at most {MAX_BATCH} ids per call"),
            )));
        }
        let mut fields = FieldCheck::new();
        let parsed: Vec<_> = ids
            .iter()
            .enumerate()
            .filter_map(|(i, id)| fields.check(parse_id(&format!("ids[{i}]"), id)))
            .collect();
        fields.finish().map_err(|r| self.reject(r))?;
        let users = self.store.get_many(&parsed).await?;
        let now = self.store.now();
        Ok(Response::new(pb::BatchGetUsersResponse {
            users: users.iter().map(|u| wire::user(u, now)).collect(),
        }))
    }

    async fn lookup_user(
        &self,
        request: Request<pb::LookupUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let email = parse_email("email", &request.get_ref().email).map_err(|r| self.reject(r))?;
        let stored = self.store.find_existing_by("email", email.as_str()).await?;
        Ok(Response::new(wire::user(&stored, self.store.now())))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Result<Response<pb::ListUsersResponse>, Status> {
        let request = request.get_ref();
        let page = PageRequest::parse(request.page_size, &request.page_token)
            .map_err(|r| self.reject(r))?;
        let page = self.store.list(page).await?;
        let now = self.store.now();
        Ok(Response::new(pb::ListUsersResponse {
            users: page.items.iter().map(|u| wire::user(u, now)).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn register_user(
        &self,
        request: Request<pb::RegisterUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let request_id = fields.check(parse_request_id(&request.request_id));
            let email = fields.check(parse_email("email", &request.email));
            let name = fields.check(display_name(&request.display_name));
            let password = fields.check(password("password", &request.password));
            platform::checked!(fields, request_id, email, name, password);
            Ok((request_id, email, name, password))
        })();
        let (request_id, email, name, password) = parsed.map_err(|r| self.reject(r))?;
        let hash = self.hash(password).await?;
        let fingerprinted = pb::RegisterUserRequest {
            password: String::new(),
            ..request
        };
        let command = Command::new("RegisterUser", request_id, &fingerprinted, None);
        let id = UserId::from_uuid(platform::new_id());
        self.store
            .create(
                command,
                |now| Ok(User::register(id, email, name, hash, now)),
                wire::user,
            )
            .await
            .map(Response::new)
    }

    async fn change_display_name(
        &self,
        request: Request<pb::ChangeDisplayNameRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target = target(&mut fields, &request.id, &request.request_id, &request.etag);
            let name = fields.check(display_name(&request.display_name));
            platform::checked!(fields, target, name);
            Ok((target, name))
        })();
        let (target, name) = parsed.map_err(|r| self.reject(r))?;
        self.command("ChangeDisplayName", target, &request, |user, now| {
            user.change_display_name(name.clone(), now)
        })
        .await
    }

    async fn change_email(
        &self,
        request: Request<pb::ChangeEmailRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target = target(&mut fields, &request.id, &request.request_id, &request.etag);
            let email = fields.check(parse_email("email", &request.email));
            platform::checked!(fields, target, email);
            Ok((target, email))
        })();
        let (target, email) = parsed.map_err(|r| self.reject(r))?;
        self.command("ChangeEmail", target, &request, |user, now| {
            user.change_email(email.clone(), now)
        })
        .await
    }

    async fn change_password(
        &self,
        request: Request<pb::ChangePasswordRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target = target(&mut fields, &request.id, &request.request_id, &request.etag);
            let old = fields.check(password("old_password", &request.old_password));
            let new = fields.check(password("new_password", &request.new_password));
            platform::checked!(fields, target, old, new);
            Ok((target, old, new))
        })();
        let (target, old, new) = parsed.map_err(|r| self.reject(r))?;
        let new_hash = self.hash(new).await?;
        let fingerprinted = pb::ChangePasswordRequest {
            old_password: String::new(),
            new_password: String::new(),
            ..request
        };
        let mut attempts = 0;
        loop {
            attempts += 1;
            let user = self.store.get_existing(target.id).await?.aggregate;
            let mut check = Some(self.check(user, old.clone()).await?);
            let result = self
                .command("ChangePassword", target, &fingerprinted, |user, now| {
                    let check = check.take().ok_or(UserError::PasswordCheckStale)?;
                    user.change_password(check, new_hash.clone(), now)
                })
                .await;
            match result {
                Err(status) if is_stale_check(&status) && attempts < CHECK_ATTEMPTS => continue,
                other => return other,
            }
        }
    }

    async fn verify_credentials(
        &self,
        request: Request<pb::VerifyCredentialsRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let email = fields.check(parse_email("email", &request.email));
            let password = fields.check(password("password", &request.password));
            platform::checked!(fields, email, password);
            Ok((email, password))
        })();
        let (email, password) = parsed.map_err(|r| self.reject(r))?;
        let Some(found) = self.store.find_by("email", email.as_str()).await? else {
            // Spend the same time as a wrong password, then answer the same.
            let hasher = self.hasher.clone();
            self.hashing(move || hasher.verify(&password, None)).await?;
            return Err(self.reject(invalid_credentials()));
        };
        let id = found.aggregate.id().as_uuid();
        let mut user = found.aggregate;
        let mut attempts = 0;
        loop {
            attempts += 1;
            let mut check = Some(self.check(user, password.clone()).await?);
            let mut outcome = LoginOutcome::Refused;
            let result = self
                .store
                .update(
                    Command::unrecorded("VerifyCredentials"),
                    id,
                    |user, now| {
                        // A lost race spends the proof; check the password again on the
                        // fresh state rather than judge the attempt on a stale one.
                        let check = check.take().ok_or(UserError::PasswordCheckStale)?;
                        let (result, events) = user
                            .record_login(check, now)
                            .map_err(|_| invalid_credentials())?;
                        outcome = result;
                        Ok(events)
                    },
                    wire::user,
                )
                .await;
            match result {
                Ok(rendered) if outcome == LoginOutcome::Accepted => {
                    return Ok(Response::new(rendered));
                }
                Ok(_) => return Err(self.reject(invalid_credentials())),
                Err(status) if is_stale_check(&status) && attempts < CHECK_ATTEMPTS => {
                    user = self.store.get_existing(id).await?.aggregate;
                }
                // Out of attempts: still one answer for every refused login.
                Err(status) if is_stale_check(&status) => {
                    return Err(self.reject(invalid_credentials()));
                }
                Err(status) => return Err(status),
            }
        }
    }

    async fn open_session(
        &self,
        request: Request<pb::OpenSessionRequest>,
    ) -> Result<Response<pb::OpenSessionResponse>, Status> {
        let request = request.into_inner();
        let target = Target::parse_alone(&request.id, &request.request_id, &request.etag)
            .map_err(|r| self.reject(r))?;
        let session_id = SessionId::from_uuid(platform::new_id());
        let command = Command::new("OpenSession", target.request_id, &request, target.expected);
        self.store
            .update(
                command,
                target.id,
                |user, now| user.open_session(session_id, now).map_err(Rejection::from),
                |stored, now| pb::OpenSessionResponse {
                    user: Some(wire::user(stored, now)),
                    session: find_session(stored, session_id),
                },
            )
            .await
            .map(Response::new)
    }

    async fn refresh_session(
        &self,
        request: Request<pb::RefreshSessionRequest>,
    ) -> Result<Response<pb::RefreshSessionResponse>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target = target(&mut fields, &request.id, &request.request_id, "");
            let session = fields.check(parse_id("session_id", &request.session_id));
            platform::checked!(fields, target, session);
            Ok((target, SessionId::from_uuid(session)))
        })();
        let (target, session_id) = parsed.map_err(|r| self.reject(r))?;
        let command = Command::new("RefreshSession", target.request_id, &request, None);
        self.store
            .update(
                command,
                target.id,
                |user, now| {
                    user.refresh_session(session_id, now)
                        .map_err(Rejection::from)
                },
                |stored, now| pb::RefreshSessionResponse {
                    user: Some(wire::user(stored, now)),
                    session: find_session(stored, session_id),
                },
            )
            .await
            .map(Response::new)
    }

    async fn close_session(
        &self,
        request: Request<pb::CloseSessionRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target = target(&mut fields, &request.id, &request.request_id, "");
            let session = fields.check(parse_id("session_id", &request.session_id));
            platform::checked!(fields, target, session);
            Ok((target, SessionId::from_uuid(session)))
        })();
        let (target, session_id) = parsed.map_err(|r| self.reject(r))?;
        self.command("CloseSession", target, &request, |user, now| {
            user.close_session(session_id, now)
        })
        .await
    }

    async fn start_email_verification(
        &self,
        request: Request<pb::StartEmailVerificationRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target = target(&mut fields, &request.id, &request.request_id, &request.etag);
            let token = fields.check(parse_token("token", &request.token));
            platform::checked!(fields, target, token);
            Ok((target, token))
        })();
        let (target, token) = parsed.map_err(|r| self.reject(r))?;
        let fingerprinted = pb::StartEmailVerificationRequest {
            token: token.to_hex(),
            ..request
        };
        self.command(
            "StartEmailVerification",
            target,
            &fingerprinted,
            |user, now| user.start_email_verification(token.clone(), now),
        )
        .await
    }

    async fn confirm_email_verification(
        &self,
        request: Request<pb::ConfirmEmailVerificationRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target = target(&mut fields, &request.id, &request.request_id, "");
            let token = fields.check(parse_token("token", &request.token));
            platform::checked!(fields, target, token);
            Ok((target, token))
        })();
        let (target, token) = parsed.map_err(|r| self.reject(r))?;
        let fingerprinted = pb::ConfirmEmailVerificationRequest {
            token: token.to_hex(),
            ..request
        };
        self.command(
            "ConfirmEmailVerification",
            target,
            &fingerprinted,
            |user, now| user.confirm_email_verification(&token, now),
        )
        .await
    }

    async fn start_password_reset(
        &self,
        request: Request<pb::StartPasswordResetRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target = target(&mut fields, &request.id, &request.request_id, "");
            let token = fields.check(parse_token("token", &request.token));
            platform::checked!(fields, target, token);
            Ok((target, token))
        })();
        let (target, token) = parsed.map_err(|r| self.reject(r))?;
        let fingerprinted = pb::StartPasswordResetRequest {
            token: token.to_hex(),
            ..request
        };
        self.command("StartPasswordReset", target, &fingerprinted, |user, now| {
            user.start_password_reset(token.clone(), now)
        })
        .await
    }

    async fn complete_password_reset(
        &self,
        request: Request<pb::CompletePasswordResetRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target = target(&mut fields, &request.id, &request.request_id, "");
            let token = fields.check(parse_token("token", &request.token));
            let new = fields.check(password("new_password", &request.new_password));
            platform::checked!(fields, target, token, new);
            Ok((target, token, new))
        })();
        let (target, token, new) = parsed.map_err(|r| self.reject(r))?;
        let new_hash = self.hash(new).await?;
        let fingerprinted = pb::CompletePasswordResetRequest {
            token: token.to_hex(),
            new_password: String::new(),
            ..request
        };
        self.command(
            "CompletePasswordReset",
            target,
            &fingerprinted,
            |user, now| user.complete_password_reset(&token, new_hash.clone(), now),
        )
        .await
    }

    async fn suspend_user(
        &self,
        request: Request<pb::SuspendUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target = target(&mut fields, &request.id, &request.request_id, &request.etag);
            let reason =
                fields.check(SuspensionReason::parse(&request.reason).map_err(Rejection::from));
            platform::checked!(fields, target, reason);
            Ok((target, reason))
        })();
        let (target, reason) = parsed.map_err(|r| self.reject(r))?;
        self.command("SuspendUser", target, &request, |user, now| {
            user.suspend(reason.clone(), now)
        })
        .await
    }

    async fn reactivate_user(
        &self,
        request: Request<pb::ReactivateUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let target = Target::parse_alone(&request.id, &request.request_id, &request.etag)
            .map_err(|r| self.reject(r))?;
        self.command("ReactivateUser", target, &request, |user, now| {
            user.reactivate(now)
        })
        .await
    }

    async fn erase_user(
        &self,
        request: Request<pb::EraseUserRequest>,
    ) -> Result<Response<pb::User>, Status> {
        let request = request.into_inner();
        let target = Target::parse_alone(&request.id, &request.request_id, &request.etag)
            .map_err(|r| self.reject(r))?;
        self.command("EraseUser", target, &request, |user, now| user.erase(now))
            .await
    }
}

fn find_session(stored: &Stored<User>, id: SessionId) -> Option<pb::Session> {
    stored
        .aggregate
        .open_sessions()
        .iter()
        .find(|s| s.id() == id)
        .map(wire::session)
}
