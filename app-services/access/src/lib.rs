//! Sign-up and login: the use cases that make an account and let its owner in.
//!
//! - [`Access::sign_up`]: register the user, create their workspace, start a Team trial.
//!   Each step's request id is derived from the sign-up's ([`Ctx::step`]), so a retry after a
//!   crash converges on one user, one workspace, one subscription. A step refused for good
//!   undoes the earlier ones (workspace deleted, user erased), freeing the email and slug.
//! - [`Access::login`], [`Access::refresh`], [`Access::logout`]: a session in Identity, a
//!   short-lived access JWT and a refresh token bound to that session ([`jwt`]).

pub mod jwt;

use std::sync::Arc;

use kernel_domain::text::{self, SlugError};
use kernel_domain::{Clock, Email, RejectionKind, Timestamp};
use ports_app::wire::{identity, workspace};
use ports_app::{
    AppError, AppResult, Ctx, ErrorKind, FieldErrors, StartTrialError, Subscription, Subscriptions,
    Users, WorkspaceId, Workspaces,
};
use serde::Deserialize;
use uuid::Uuid;

pub use jwt::{AccessClaims, JwtKeys, KeyError, RefreshClaims, Tokens};

#[cfg(test)]
mod tests;

/// Step names: each command's request id is `ctx.step(<name>)`.
const STEP_REGISTER: &str = "register";
const STEP_CREATE_WORKSPACE: &str = "create-workspace";
const STEP_START_TRIAL: &str = "start-trial";
const STEP_UNDO_CREATE_WORKSPACE: &str = "undo-create-workspace";
const STEP_UNDO_REGISTER: &str = "undo-register";
const STEP_OPEN_SESSION: &str = "open-session";
const STEP_REFRESH: &str = "refresh";
const STEP_LOGOUT: &str = "logout";

/// The seats a sign-up's trial (and its workspace's seat limit) start with.
pub const TRIAL_SEATS: i32 = 5;

/// What a person fills in to sign up.
#[derive(Debug, Clone, Deserialize)]
pub struct SignUpForm {
    pub email: String,
    pub password: String,
    pub display_name: String,
    pub workspace_name: String,
    pub workspace_slug: String,
}

impl SignUpForm {
    /// Checks every field by the rules the data services apply, naming each bad one as the
    /// form does (`workspace_slug`, not the Workspace service's `slug`), so a person fixes
    /// them all in one go and no step runs on a form that cannot succeed.
    pub fn check(&self) -> AppResult<()> {
        let mut bad = FieldErrors::new();
        if let Err(error) = Email::parse(&self.email) {
            bad.add("INVALID_EMAIL", "email", error.to_string());
        }
        if let Err(error) = text::password(&self.password) {
            bad.add(
                "INVALID_PASSWORD",
                "password",
                format!("the password {error}"),
            );
        }
        if let Err(error) = text::display_name(&self.display_name) {
            bad.add(
                "INVALID_DISPLAY_NAME",
                "display_name",
                format!("the display name {error}"),
            );
        }
        if let Err(error) = text::workspace_name(&self.workspace_name) {
            bad.add(
                "INVALID_WORKSPACE_NAME",
                "workspace_name",
                format!("the workspace name {error}"),
            );
        }
        if let Err(error) = text::slug(&self.workspace_slug) {
            let code = match error {
                SlugError::Reserved => "SLUG_RESERVED",
                _ => "INVALID_SLUG",
            };
            bad.add(
                code,
                "workspace_slug",
                format!("the workspace slug {error}"),
            );
        }
        bad.finish()
    }
}

/// What a sign-up made.
#[derive(Debug, Clone)]
pub struct SignedUp {
    pub user: identity::User,
    pub workspace: workspace::Workspace,
    pub subscription: Subscription,
}

/// The sign-up and login use cases.
pub struct Access {
    users: Arc<dyn Users>,
    workspaces: Arc<dyn Workspaces>,
    subscriptions: Arc<dyn Subscriptions>,
    keys: Arc<JwtKeys>,
    clock: Arc<dyn Clock>,
}

impl Access {
    pub fn new(
        users: Arc<dyn Users>,
        workspaces: Arc<dyn Workspaces>,
        subscriptions: Arc<dyn Subscriptions>,
        keys: Arc<JwtKeys>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Access {
            users,
            workspaces,
            subscriptions,
            keys,
            clock,
        }
    }

    /// Registers the user, creates their workspace (the user its Owner, [`TRIAL_SEATS`]
    /// seats) and starts a Team trial for it.
    ///
    /// The whole form is checked first ([`SignUpForm::check`]): a form with bad fields is
    /// `INVALID_ARGUMENT` naming every one of them, and nothing is called.
    ///
    /// Each step's request id is [`Ctx::step`] of the sign-up's, so a retry with the same
    /// request id replays the steps already done and converges. A step refused for good undoes
    /// the earlier steps and returns its refusal; a transient failure (timeout, internal,
    /// unavailable, a conflict) is returned as it is, undoing nothing, for the caller to retry.
    /// A failed undo is logged and the step's refusal still returned.
    pub async fn sign_up(&self, ctx: &Ctx, form: SignUpForm) -> AppResult<SignedUp> {
        form.check()?;
        let user = self
            .users
            .register_user(
                ctx,
                identity::RegisterUserRequest {
                    request_id: ctx.step(STEP_REGISTER),
                    email: form.email,
                    display_name: form.display_name,
                    password: form.password,
                },
            )
            .await?;
        let user_id = parse_wire_id("user", &user.id)?;
        let actor = ctx.acting_as(user_id);

        let created = self
            .workspaces
            .create_workspace(
                &actor,
                workspace::CreateWorkspaceRequest {
                    request_id: ctx.step(STEP_CREATE_WORKSPACE),
                    slug: form.workspace_slug,
                    name: form.workspace_name,
                    seat_limit: TRIAL_SEATS,
                },
            )
            .await
            .map_err(|error| {
                error
                    .renaming_field("slug", "workspace_slug")
                    .renaming_field("name", "workspace_name")
            });
        let workspace = match created {
            Ok(workspace) => workspace,
            Err(error) => {
                if refused_for_good(&error) {
                    self.undo_register(ctx, user_id).await;
                }
                return Err(error);
            }
        };

        let workspace_id = WorkspaceId::from(parse_wire_id("workspace", &workspace.id)?);
        let started = self
            .subscriptions
            .start_trial(&actor, STEP_START_TRIAL, workspace_id)
            .await;
        let subscription = match started {
            Ok(subscription) => subscription,
            // A subscription for the workspace exists already: it did start, so the
            // workspace must stay.
            Err(StartTrialError::AlreadyStarted(error)) => {
                tracing::warn!(
                    workspace = %workspace.id,
                    code = %error.code,
                    "sign-up: the trial was refused because a subscription exists; nothing undone"
                );
                return Err(error);
            }
            Err(StartTrialError::Refused(error)) => {
                self.undo_create_workspace(ctx, &actor, &workspace.id).await;
                self.undo_register(ctx, user_id).await;
                return Err(error);
            }
            Err(StartTrialError::Other(error)) => return Err(error),
        };

        Ok(SignedUp {
            user,
            workspace,
            subscription,
        })
    }

    /// Deletes the workspace a failed sign-up created (its trial never started).
    async fn undo_create_workspace(&self, ctx: &Ctx, actor: &Ctx, workspace_id: &str) {
        let deleted = self
            .workspaces
            .delete_workspace(
                actor,
                workspace::DeleteWorkspaceRequest {
                    id: workspace_id.to_owned(),
                    request_id: ctx.step(STEP_UNDO_CREATE_WORKSPACE),
                    etag: String::new(),
                },
            )
            .await;
        if let Err(error) = deleted {
            tracing::error!(
                workspace = %workspace_id,
                code = %error.code,
                error = %error,
                "sign-up: cannot delete the workspace of a failed sign-up"
            );
        }
    }

    /// Erases the user a failed sign-up registered, freeing the email.
    async fn undo_register(&self, ctx: &Ctx, user_id: Uuid) {
        let erased = self
            .users
            .erase_user(
                ctx,
                identity::EraseUserRequest {
                    id: user_id.to_string(),
                    request_id: ctx.step(STEP_UNDO_REGISTER),
                    etag: String::new(),
                },
            )
            .await;
        if let Err(error) = erased {
            tracing::error!(
                user = %user_id,
                code = %error.code,
                error = %error,
                "sign-up: cannot erase the user of a failed sign-up"
            );
        }
    }

    /// Verifies the credentials, opens a session and issues its tokens. Unknown email, wrong
    /// password, locked, suspended or erased all answer the same `UNAUTHENTICATED`
    /// (`INVALID_CREDENTIALS`). Every login opens a new session unless the caller repeats a
    /// request id, which replays the session opened under it.
    pub async fn login(&self, ctx: &Ctx, email: &str, password: &str) -> AppResult<Tokens> {
        let user = self
            .users
            .verify_credentials(
                ctx,
                identity::VerifyCredentialsRequest {
                    email: email.to_owned(),
                    password: password.to_owned(),
                },
            )
            .await
            .map_err(|error| match error.kind {
                ErrorKind::Rejected(RejectionKind::Unauthenticated | RejectionKind::NotFound) => {
                    tracing::debug!(code = %error.code, "login refused");
                    invalid_credentials()
                }
                _ => error,
            })?;
        let user_id = parse_wire_id("user", &user.id)?;
        let opened = self
            .users
            .open_session(
                &ctx.acting_as(user_id),
                identity::OpenSessionRequest {
                    id: user_id.to_string(),
                    request_id: ctx.step(STEP_OPEN_SESSION),
                    etag: String::new(),
                },
            )
            .await
            .map_err(|error| match error.kind {
                // Suspended, erased or gone between the check and the session: the same answer.
                ErrorKind::Rejected(
                    RejectionKind::Unauthenticated
                    | RejectionKind::NotFound
                    | RejectionKind::FailedPrecondition,
                ) => {
                    tracing::debug!(user = %user_id, code = %error.code, "login refused at open session");
                    invalid_credentials()
                }
                _ => error,
            })?;
        let session = opened
            .session
            .ok_or_else(|| AppError::internal("open session answered without the session"))?;
        let session_id = parse_wire_id("session", &session.id)?;
        let session_expires = wire_time("session expire_time", session.expire_time.as_ref())?;
        self.tokens(user_id, session_id, session_expires, self.clock.now())
    }

    /// Exchanges a refresh token for new tokens while its session is open and its user
    /// active. A closed or expired session, a suspended, erased or unknown user all answer
    /// `UNAUTHENTICATED` (`INVALID_REFRESH_TOKEN`); a bad or expired token answers as
    /// [`JwtKeys::verify_refresh`] does.
    pub async fn refresh(&self, ctx: &Ctx, refresh_token: &str) -> AppResult<Tokens> {
        let now = self.clock.now();
        let claims = self.keys.verify_refresh(refresh_token, now)?;
        let refreshed = self
            .users
            .refresh_session(
                &ctx.acting_as(claims.user_id),
                identity::RefreshSessionRequest {
                    id: claims.user_id.to_string(),
                    request_id: ctx.step(STEP_REFRESH),
                    session_id: claims.session_id.to_string(),
                },
            )
            .await
            .map_err(|error| match error.kind {
                ErrorKind::Rejected(RejectionKind::Unavailable | RejectionKind::Aborted) => error,
                ErrorKind::Rejected(_) => {
                    tracing::debug!(user = %claims.user_id, code = %error.code, "refresh refused");
                    AppError::rejected(
                        RejectionKind::Unauthenticated,
                        "INVALID_REFRESH_TOKEN",
                        "the session has ended; sign in again",
                    )
                }
                ErrorKind::Timeout | ErrorKind::Internal | ErrorKind::Protocol(_) => error,
            })?;
        let session = refreshed
            .session
            .ok_or_else(|| AppError::internal("refresh session answered without the session"))?;
        let session_expires = wire_time("session expire_time", session.expire_time.as_ref())?;
        self.tokens(claims.user_id, claims.session_id, session_expires, now)
    }

    /// Closes the session the access token belongs to. Closing a session that is already
    /// closed, expired or gone succeeds.
    pub async fn logout(&self, ctx: &Ctx, claims: &AccessClaims) -> AppResult<()> {
        let closed = self
            .users
            .close_session(
                &ctx.acting_as(claims.user_id),
                identity::CloseSessionRequest {
                    id: claims.user_id.to_string(),
                    request_id: ctx.step(STEP_LOGOUT),
                    session_id: claims.session_id.to_string(),
                },
            )
            .await;
        match closed {
            Ok(_) => Ok(()),
            Err(error)
                if error.is(RejectionKind::NotFound)
                    || error.code == "SESSION_EXPIRED"
                    || error.code == "USER_ERASED" =>
            {
                tracing::debug!(user = %claims.user_id, code = %error.code, "logout of a session already ended");
                Ok(())
            }
            Err(error) => Err(error),
        }
    }

    /// The tokens of a session: a new access token and a refresh token expiring with the
    /// session.
    fn tokens(
        &self,
        user_id: Uuid,
        session_id: Uuid,
        session_expires: Timestamp,
        now: Timestamp,
    ) -> AppResult<Tokens> {
        let (access_token, access_expires) = self.keys.issue_access(user_id, session_id, now)?;
        let refresh_token = self
            .keys
            .issue_refresh(user_id, session_id, session_expires, now)?;
        Ok(Tokens {
            access_token,
            token_type: "Bearer",
            expires_in: seconds_until(now, access_expires),
            refresh_token,
            refresh_expires_in: seconds_until(now, session_expires),
            user_id,
            session_id,
        })
    }

    /// Checks an access token (RFC 8725: algorithm, type, issuer, audience, expiry against
    /// the injected clock) and returns who it is for; `UNAUTHENTICATED` otherwise.
    pub fn authenticate(&self, access_token: &str) -> AppResult<AccessClaims> {
        self.keys.verify_access(access_token, self.clock.now())
    }
}

/// Whether a failed step was refused for good, so the steps before it are undone. Not for
/// good: a timeout or internal failure (the step may have happened), a refusal to retry
/// later (unavailable, a concurrent change), and a request id already used for a different
/// request (the step did happen, with other input, under this request id).
fn refused_for_good(error: &AppError) -> bool {
    match error.kind {
        ErrorKind::Rejected(RejectionKind::Unavailable | RejectionKind::Aborted) => false,
        ErrorKind::Rejected(_) => error.code != "REQUEST_ID_REUSED",
        ErrorKind::Timeout | ErrorKind::Internal | ErrorKind::Protocol(_) => false,
    }
}

/// The one answer to every refused login.
fn invalid_credentials() -> AppError {
    AppError::rejected(
        RejectionKind::Unauthenticated,
        "INVALID_CREDENTIALS",
        "email or password is wrong, or the account cannot sign in",
    )
}

/// An id a data service answered with; one that is not a UUID is its fault.
fn parse_wire_id(what: &str, id: &str) -> AppResult<Uuid> {
    Uuid::try_parse(id)
        .map_err(|e| AppError::internal(format!("the {what} id {id:?} is not a UUID: {e}")))
}

/// A time a data service answered with; a missing or out-of-range one is its fault.
fn wire_time(what: &str, time: Option<&prost_types::Timestamp>) -> AppResult<Timestamp> {
    time.and_then(|t| {
        let nanos = u32::try_from(t.nanos).ok()?;
        chrono::DateTime::from_timestamp(t.seconds, nanos)
    })
    .ok_or_else(|| AppError::internal(format!("the {what} is missing or out of range")))
}

/// Seconds from `now` until `then` as a token's `exp` counts them (whole seconds since the
/// epoch), never negative.
fn seconds_until(now: Timestamp, then: Timestamp) -> i64 {
    (then.timestamp() - now.timestamp()).max(0)
}
