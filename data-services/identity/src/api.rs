//! `UserService`: parse the request into domain values, run the command pipeline, render.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use identity_domain::{
    DisplayName, LoginOutcome, Password, PasswordHash, PasswordHasher, PendingSignUp, SessionId,
    SuspensionReason, User, UserError, UserId,
};
use kernel_domain::Rejection;
use platform::{
    endpoint::Endpoint,
    rpc::{PageRequest, parse_email, parse_id, parse_token},
    store::{Command, StoreError, Stored},
};
use saas_proto::identity::v1::{self as pb, user_service_server::UserService};
use tonic::{Response, Status};

use crate::{UserSchema, UserStore, wire};

/// The most ids one `BatchGetUsers` may ask for.
pub const MAX_BATCH: usize = 100;

/// The `UserService` implementation.
#[derive(Clone)]
pub struct UserApi {
    api: Endpoint<UserSchema, pb::User>,
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
            api: Endpoint::new(store, wire::user),
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
                self.api.status(Rejection::new(
                    kernel_domain::RejectionKind::Unavailable,
                    "OVERLOADED",
                    "too many password checks at once; retry with backoff",
                ))
            })?;
        let result = tokio::task::spawn_blocking(work)
            .await
            .map_err(|e| self.api.status(StoreError::internal(e)));
        drop(slot);
        result
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
        let now = self.api.store().now();
        self.hashing(move || user.check_credentials(&password, hasher.as_ref(), now))
            .await
    }
}

/// How often a password check is repeated when a concurrent change to the user spent it.
const CHECK_ATTEMPTS: usize = 5;

fn is_stale_check(error: &StoreError) -> bool {
    error.is_rejected_as(UserError::PasswordCheckStale.reason())
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

/// The longest window a sign-up may ask for.
const MAX_SIGN_UP_WINDOW_SECONDS: u32 = 86_400;

/// The sign-up registering a user, if any: its id and window (1 s to a day).
fn sign_up(
    id: &str,
    window_seconds: u32,
) -> Result<Option<(uuid::Uuid, chrono::Duration)>, Rejection> {
    if id.is_empty() && window_seconds == 0 {
        return Ok(None);
    }
    let id = parse_id("sign_up_id", id)?;
    if !(1..=MAX_SIGN_UP_WINDOW_SECONDS).contains(&window_seconds) {
        return Err(Rejection::invalid_field(
            "INVALID_SIGN_UP_WINDOW",
            "sign_up_window_seconds",
            format!("the sign-up window must be 1 to {MAX_SIGN_UP_WINDOW_SECONDS} seconds"),
        ));
    }
    Ok(Some((
        id,
        chrono::Duration::seconds(i64::from(window_seconds)),
    )))
}

fn session_id(raw: &str) -> Result<SessionId, Rejection> {
    parse_id("session_id", raw).map(SessionId::from_uuid)
}

impl UserApi {
    /// Reads a user or answers `NOT_FOUND`.
    async fn existing(&self, id: uuid::Uuid) -> Result<User, Status> {
        let stored = self.api.store().get_existing(id).await;
        stored.map(|s| s.aggregate).map_err(|e| self.api.status(e))
    }

    /// Renders `users` as of now.
    fn users<'a>(&self, users: impl Iterator<Item = &'a Stored<User>>) -> Vec<pb::User> {
        users.map(|user| self.api.render(user)).collect()
    }
}

platform::grpc_service! {
    impl UserService for UserApi {
        rpc get_user(this, request: pb::GetUserRequest) -> pb::User {
            this.api.get(parse_id("id", &request.get_ref().id)).await
        }

        rpc batch_get_users(this, request: pb::BatchGetUsersRequest) -> pb::BatchGetUsersResponse {
            let ids = &request.get_ref().ids;
            if ids.len() > MAX_BATCH {
                return Err(this.api.status(Rejection::invalid_field(
                    "TOO_MANY_IDS",
                    "ids",
                    format!("at most {MAX_BATCH} ids per call"),
                )));
            }
            let parsed = this.api.check(|fields| {
                let parsed: Vec<_> = ids
                    .iter()
                    .enumerate()
                    .map(|(i, id)| fields.check(parse_id(&format!("ids[{i}]"), id)))
                    .collect();
                parsed.into_iter().collect::<Option<Vec<_>>>()
            })?;
            let users = this.api.store().get_many(&parsed).await;
            let users = users.map_err(|e| this.api.status(e))?;
            Ok(Response::new(pb::BatchGetUsersResponse {
                users: this.users(users.iter()),
            }))
        }

        rpc lookup_user(this, request: pb::LookupUserRequest) -> pb::User {
            let email = parse_email("email", &request.get_ref().email);
            this.api
                .find("email", email.map(|email| email.as_str().to_owned()))
                .await
        }

        rpc list_users(this, request: pb::ListUsersRequest) -> pb::ListUsersResponse {
            let request = request.get_ref();
            let page = PageRequest::parse(request.page_size, &request.page_token)
                .map_err(|r| this.api.status(r))?;
            let page = this.api.store().list(page).await;
            let page = page.map_err(|e| this.api.status(e))?;
            Ok(Response::new(pb::ListUsersResponse {
                users: this.users(page.items.iter()),
                next_page_token: page.next_page_token,
            }))
        }

        rpc register_user(this, request: pb::RegisterUserRequest) -> pb::User {
            let call = this.api.parse(request, |r, fields| {
                let email = fields.check(parse_email("email", &r.email));
                let name = fields.check(display_name(&r.display_name));
                let password = fields.check(password("password", &r.password));
                let sign_up = fields.check(sign_up(&r.sign_up_id, r.sign_up_window_seconds));
                Some((email?, name?, password?, sign_up?))
            })?;
            let call = call.fingerprint(|r, _| pb::RegisterUserRequest {
                password: String::new(),
                ..r
            });
            let hash = this.hash(call.args.2.clone()).await?;
            let id = UserId::from_uuid(platform::new_id());
            this.api
                .create(call, move |(email, name, _, sign_up), now| {
                    let user = match sign_up {
                        Some((sign_up_id, window)) => User::register_for_sign_up(
                            id,
                            email.clone(),
                            name.clone(),
                            hash,
                            PendingSignUp::new(*sign_up_id, *window, now),
                            now,
                        ),
                        None => User::register(id, email.clone(), name.clone(), hash, now),
                    };
                    Ok::<_, Rejection>(user)
                })
                .await
        }

        rpc change_display_name(this, request: pb::ChangeDisplayNameRequest) -> pb::User {
            let call = this.api.parse(request, |r, fields| {
                fields.check(display_name(&r.display_name))
            })?;
            this.api
                .update(call, |user, name, now| {
                    user.change_display_name(name.clone(), now)
                })
                .await
        }

        rpc change_email(this, request: pb::ChangeEmailRequest) -> pb::User {
            let call = this.api.parse(request, |r, fields| {
                fields.check(parse_email("email", &r.email))
            })?;
            this.api
                .update(call, |user, email, now| {
                    user.change_email(email.clone(), now)
                })
                .await
        }

        rpc change_password(this, request: pb::ChangePasswordRequest) -> pb::User {
            let call = this.api.parse(request, |r, fields| {
                let old = fields.check(password("old_password", &r.old_password));
                let new = fields.check(password("new_password", &r.new_password));
                Some((old?, new?))
            })?;
            let call = call.fingerprint(|r, _| pb::ChangePasswordRequest {
                old_password: String::new(),
                new_password: String::new(),
                ..r
            });
            let new_hash = this.hash(call.args.1.clone()).await?;
            let id = call.target().map_err(|e| this.api.status(e))?;
            let mut attempts = 0;
            loop {
                attempts += 1;
                let user = this.existing(id).await?;
                let mut check = Some(this.check(user, call.args.0.clone()).await?);
                let new_hash = new_hash.clone();
                let result = this
                    .api
                    .store()
                    .update(
                        call.command(),
                        id,
                        move |user, now| {
                            let check = check.take().ok_or(UserError::PasswordCheckStale)?;
                            Ok(user.change_password(check, new_hash.clone(), now)?)
                        },
                        wire::user,
                    )
                    .await;
                match result {
                    Err(e) if is_stale_check(&e) && attempts < CHECK_ATTEMPTS => continue,
                    other => return other.map(Response::new).map_err(|e| this.api.status(e)),
                }
            }
        }

        rpc verify_credentials(this, request: pb::VerifyCredentialsRequest) -> pb::User {
            let r = request.get_ref();
            let (email, password) = this.api.check(|fields| {
                let email = fields.check(parse_email("email", &r.email));
                let password = fields.check(password("password", &r.password));
                Some((email?, password?))
            })?;
            let found = this.api.store().find_by("email", email.as_str()).await;
            let Some(found) = found.map_err(|e| this.api.status(e))? else {
                // Spend the same time as a wrong password, then answer the same.
                let hasher = this.hasher.clone();
                this.hashing(move || hasher.verify(&password, None)).await?;
                return Err(this.api.status(invalid_credentials()));
            };
            let id = found.aggregate.id().as_uuid();
            let mut user = found.aggregate;
            let mut attempts = 0;
            loop {
                attempts += 1;
                let mut check = Some(this.check(user, password.clone()).await?);
                let accepted = Arc::new(AtomicBool::new(false));
                let result = this
                    .api
                    .store()
                    .update(
                        Command::unrecorded("VerifyCredentials"),
                        id,
                        {
                        let accepted = accepted.clone();
                        move |user, now| {
                            // A lost race spends the proof; check the password again on the
                            // fresh state rather than judge the attempt on a stale one.
                            let check = check.take().ok_or(UserError::PasswordCheckStale)?;
                            let (result, events) = user
                                .record_login(check, now)
                                .map_err(|_| invalid_credentials())?;
                            accepted.store(result == LoginOutcome::Accepted, Ordering::SeqCst);
                            Ok(events)
                        }
                        },
                        wire::user,
                    )
                    .await;
                match result {
                    Ok(rendered) if accepted.load(Ordering::SeqCst) => {
                        return Ok(Response::new(rendered));
                    }
                    Ok(_) => return Err(this.api.status(invalid_credentials())),
                    Err(e) if is_stale_check(&e) && attempts < CHECK_ATTEMPTS => {
                        user = this.existing(id).await?;
                    }
                    // Out of attempts: still one answer for every refused login.
                    Err(e) if is_stale_check(&e) => {
                        return Err(this.api.status(invalid_credentials()));
                    }
                    Err(e) => return Err(this.api.status(e)),
                }
            }
        }

        rpc open_session(this, request: pb::OpenSessionRequest) -> pb::OpenSessionResponse {
            let call = this.api.parse(request, |_, _| Some(()))?;
            let session_id = SessionId::from_uuid(platform::new_id());
            this.api
                .update_with(
                    call,
                    move |user, _, now| user.open_session(session_id, now),
                    move |stored, now| pb::OpenSessionResponse {
                        user: Some(wire::user(stored, now)),
                        session: find_session(stored, session_id),
                    },
                )
                .await
        }

        rpc refresh_session(this, request: pb::RefreshSessionRequest)
            -> pb::RefreshSessionResponse {
            let call = this
                .api
                .parse(request, |r, fields| fields.check(session_id(&r.session_id)))?;
            let session_id = call.args;
            this.api
                .update_with(
                    call,
                    |user, session, now| user.refresh_session(*session, now),
                    move |stored, now| pb::RefreshSessionResponse {
                        user: Some(wire::user(stored, now)),
                        session: find_session(stored, session_id),
                    },
                )
                .await
        }

        rpc close_session(this, request: pb::CloseSessionRequest) -> pb::User {
            let call = this
                .api
                .parse(request, |r, fields| fields.check(session_id(&r.session_id)))?;
            this.api
                .update(call, |user, session, now| user.close_session(*session, now))
                .await
        }

        rpc start_email_verification(this, request: pb::StartEmailVerificationRequest) -> pb::User {
            let call = this.api.parse(request, |r, fields| {
                fields.check(parse_token("token", &r.token))
            })?;
            let call = call.fingerprint(|r, token| pb::StartEmailVerificationRequest {
                token: token.to_hex(),
                ..r
            });
            this.api
                .update(call, |user, token, now| {
                    user.start_email_verification(token.clone(), now)
                })
                .await
        }

        rpc confirm_email_verification(this, request: pb::ConfirmEmailVerificationRequest)
            -> pb::User {
            let call = this.api.parse(request, |r, fields| {
                fields.check(parse_token("token", &r.token))
            })?;
            let call = call.fingerprint(|r, token| pb::ConfirmEmailVerificationRequest {
                token: token.to_hex(),
                ..r
            });
            this.api
                .update(call, |user, token, now| {
                    user.confirm_email_verification(token, now)
                })
                .await
        }

        rpc start_password_reset(this, request: pb::StartPasswordResetRequest) -> pb::User {
            let call = this.api.parse(request, |r, fields| {
                fields.check(parse_token("token", &r.token))
            })?;
            let call = call.fingerprint(|r, token| pb::StartPasswordResetRequest {
                token: token.to_hex(),
                ..r
            });
            this.api
                .update(call, |user, token, now| {
                    user.start_password_reset(token.clone(), now)
                })
                .await
        }

        rpc complete_password_reset(this, request: pb::CompletePasswordResetRequest) -> pb::User {
            let call = this.api.parse(request, |r, fields| {
                let token = fields.check(parse_token("token", &r.token));
                let new = fields.check(password("new_password", &r.new_password));
                Some((token?, new?))
            })?;
            let call = call.fingerprint(|r, (token, _)| pb::CompletePasswordResetRequest {
                token: token.to_hex(),
                new_password: String::new(),
                ..r
            });
            let new_hash = this.hash(call.args.1.clone()).await?;
            this.api
                .update(call, move |user, (token, _), now| {
                    user.complete_password_reset(token, new_hash.clone(), now)
                })
                .await
        }

        rpc suspend_user(this, request: pb::SuspendUserRequest) -> pb::User {
            let call = this.api.parse(request, |r, fields| {
                fields.check(SuspensionReason::parse(&r.reason).map_err(Rejection::from))
            })?;
            this.api
                .update(call, |user, reason, now| user.suspend(reason.clone(), now))
                .await
        }

        rpc reactivate_user(this, request: pb::ReactivateUserRequest) -> pb::User {
            let call = this.api.parse(request, |_, _| Some(()))?;
            this.api
                .update(call, |user, _, now| user.reactivate(now))
                .await
        }

        rpc erase_user(this, request: pb::EraseUserRequest) -> pb::User {
            let call = this.api.parse(request, |_, _| Some(()))?;
            this.api.update(call, |user, _, now| user.erase(now)).await
        }

        rpc complete_sign_up(this, request: pb::CompleteSignUpRequest) -> pb::User {
            let call = this.api.parse(request, |_, _| Some(()))?;
            this.api
                .update(call, |user, _, now| user.complete_sign_up(now))
                .await
        }
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
