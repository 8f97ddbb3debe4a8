//! Sign-up and login: the use cases that make an account and let its owner in.
//!
//! - [`Access::sign_up`]: register the user, create their workspace, start a Team trial.
//!   Each step's request id is derived from the sign-up's ([`Ctx::step`]), so a retry after a
//!   crash converges on one user, one workspace, one subscription. A step refused for good
//!   undoes the earlier ones (workspace deleted, user erased), freeing the email and slug.
//!   Identity keeps the sign-up with the user until it completes: one that does not complete
//!   within [`SIGN_UP_WINDOW`] (an undo that failed, a process killed between steps) is
//!   announced unfinished and undone by the sign-up policy (`policies-app`).
//! - [`Access::login`], [`Access::refresh`], [`Access::logout`]: a session in Identity, a
//!   short-lived access JWT and a refresh token bound to that session ([`jwt`]).

pub mod jwt;

use std::sync::Arc;

use kernel_domain::text::{self, SlugError};
use kernel_domain::{Clock, Email, RejectionKind, Timestamp};
use ports_app::{
    AppError, AppResult, CloseSessionError, CredentialsError, Ctx, FieldErrors, NewUser,
    NewWorkspace, SessionError, SignInError, SignUpState, SignUpWindow, StartTrialError,
    Subscription, Subscriptions, User, UserId, UserReadError, UserStatus, Users, Workspace,
    WorkspaceChangeError, WorkspaceId, Workspaces,
};
use serde::Deserialize;
use uuid::Uuid;

pub use jwt::{AccessClaims, JwtKeys, KeyError, RefreshClaims, Tokens};

#[cfg(test)]
mod tests;

// Step names: each command's request id is `ctx.step(<name>)` (the ports send it). The
// sign-up's are shared with the policy that undoes an unfinished sign-up
// (`ports_app::sign_up`).
use ports_app::sign_up::{
    COMPLETE as STEP_COMPLETE_SIGN_UP, CREATE_WORKSPACE as STEP_CREATE_WORKSPACE,
    REGISTER as STEP_REGISTER, START_TRIAL as STEP_START_TRIAL,
    UNDO_CREATE_WORKSPACE as STEP_UNDO_CREATE_WORKSPACE, UNDO_REGISTER as STEP_UNDO_REGISTER,
};
const STEP_OPEN_SESSION: &str = "open-session";
const STEP_REFRESH: &str = "refresh";
const STEP_LOGOUT: &str = "logout";

/// The seats a sign-up's trial (and its workspace's seat limit) start with.
pub const TRIAL_SEATS: i32 = 5;

/// How long a sign-up has to complete, by default, before Identity announces it unfinished
/// and it is undone. Far longer than any sign-up's request may take (its command budget, 10 s
/// by default), so a sign-up still running is never undone under it.
pub const SIGN_UP_WINDOW: std::time::Duration = std::time::Duration::from_secs(120);

/// The longest window Identity accepts.
pub const MAX_SIGN_UP_WINDOW: std::time::Duration = std::time::Duration::from_secs(86_400);

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
    pub user: User,
    pub workspace: Workspace,
    pub subscription: Subscription,
}

/// The sign-up and login use cases.
pub struct Access {
    users: Arc<dyn Users>,
    workspaces: Arc<dyn Workspaces>,
    subscriptions: Arc<dyn Subscriptions>,
    keys: Arc<JwtKeys>,
    clock: Arc<dyn Clock>,
    sign_up_window: std::time::Duration,
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
            sign_up_window: SIGN_UP_WINDOW,
        }
    }

    /// The same use cases giving each sign-up `window` to complete (whole seconds, 1 s to
    /// [`MAX_SIGN_UP_WINDOW`]; it is kept at those bounds) instead of [`SIGN_UP_WINDOW`]. It
    /// must stay longer than a sign-up's request may take.
    #[must_use]
    pub fn with_sign_up_window(self, window: std::time::Duration) -> Self {
        Access {
            sign_up_window: window.clamp(std::time::Duration::from_secs(1), MAX_SIGN_UP_WINDOW),
            ..self
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
    ///
    /// **Undo that cannot fail for good.** The user is registered with the sign-up's request
    /// id and window ([`SignUpWindow`]), and the last step tells Identity the sign-up
    /// completed. A sign-up that has not completed when its window passes (an undo that
    /// failed, a process killed between two steps, a caller that never retried) is announced
    /// unfinished by Identity's sweeper, again and again, and the sign-up policy undoes it
    /// with these same step request ids, unless its trial started. So a failed undo here is
    /// only logged.
    ///
    /// A retried sign-up first reads the user as it is now (the registration replays as it
    /// was): once the sign-up is announced unfinished or undone, the retry is refused
    /// (`FAILED_PRECONDITION` / `SIGN_UP_UNDONE`) and makes nothing, so it cannot build a
    /// workspace or a trial for a user being erased; the caller signs up again with a new
    /// request id.
    pub async fn sign_up(&self, ctx: &Ctx, form: SignUpForm) -> AppResult<SignedUp> {
        form.check()?;
        let user = self
            .users
            .register_user(
                ctx,
                STEP_REGISTER,
                NewUser {
                    email: form.email,
                    display_name: form.display_name,
                    password: form.password,
                    sign_up: Some(SignUpWindow {
                        id: ctx.request_id,
                        window: self.sign_up_window,
                    }),
                },
            )
            .await?;
        let user_id = user.id;
        // A retry replays the registration as it was: how does the user stand now?
        match self.users.get_user(ctx, user_id).await {
            Ok(now)
                if now.status != UserStatus::Erased && now.sign_up != SignUpState::Unfinished => {}
            Ok(_) | Err(UserReadError::NotFound(_)) => return Err(sign_up_undone()),
            Err(UserReadError::Other(error)) => return Err(error),
        }
        let actor = ctx.acting_as(user_id.as_uuid());

        let new_workspace = NewWorkspace {
            slug: form.workspace_slug,
            name: form.workspace_name,
            seat_limit: TRIAL_SEATS,
        };
        let created = self
            .workspaces
            .create_workspace(&actor, STEP_CREATE_WORKSPACE, new_workspace)
            .await;
        // The request names the workspace's fields `workspace_slug` and `workspace_name`.
        let in_request_terms = |error: AppError| {
            error
                .renaming_field("slug", "workspace_slug")
                .renaming_field("name", "workspace_name")
        };
        let workspace = match created {
            Ok(workspace) => workspace,
            Err(WorkspaceChangeError::Refused(error) | WorkspaceChangeError::NotFound(error)) => {
                self.undo_register(ctx, user_id).await;
                return Err(in_request_terms(error));
            }
            Err(WorkspaceChangeError::Other(error)) => return Err(in_request_terms(error)),
        };

        let workspace_id = workspace.id;
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
                    workspace = %workspace_id,
                    code = %error.code,
                    "sign-up: the trial was refused because a subscription exists; nothing undone"
                );
                return Err(error);
            }
            Err(StartTrialError::Refused(error)) => {
                self.undo_create_workspace(&actor, workspace_id).await;
                self.undo_register(ctx, user_id).await;
                return Err(error);
            }
            Err(StartTrialError::Other(error)) => return Err(error),
        };

        // The trial started, so the sign-up stands whatever this step answers: a sign-up
        // announced unfinished whose trial started is completed by the policy, never undone.
        let completed = self
            .users
            .complete_sign_up(ctx, STEP_COMPLETE_SIGN_UP, user_id)
            .await;
        if let Err(error) = completed {
            let error = error.into_app_error();
            tracing::warn!(
                user = %user_id,
                code = %error.code,
                error = %error,
                "sign-up: cannot mark the sign-up complete; the sign-up policy will"
            );
        }

        Ok(SignedUp {
            user,
            workspace,
            subscription,
        })
    }

    /// Deletes the workspace a failed sign-up created (its trial never started).
    async fn undo_create_workspace(&self, actor: &Ctx, workspace_id: WorkspaceId) {
        let deleted = self
            .workspaces
            .delete_workspace(actor, STEP_UNDO_CREATE_WORKSPACE, workspace_id)
            .await;
        if let Err(error) = deleted {
            let error = error.into_app_error();
            tracing::error!(
                workspace = %workspace_id,
                code = %error.code,
                error = %error,
                "sign-up: cannot delete the workspace of a failed sign-up; it is undone once its window passes"
            );
        }
    }

    /// Erases the user a failed sign-up registered, freeing the email.
    async fn undo_register(&self, ctx: &Ctx, user_id: UserId) {
        let erased = self
            .users
            .erase_user(ctx, STEP_UNDO_REGISTER, user_id)
            .await;
        if let Err(error) = erased {
            let error = error.into_app_error();
            tracing::error!(
                user = %user_id,
                code = %error.code,
                error = %error,
                "sign-up: cannot erase the user of a failed sign-up; it is undone once its window passes"
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
            .verify_credentials(ctx, email.to_owned(), password.to_owned())
            .await
            .map_err(|error| match error {
                CredentialsError::Refused(error) => {
                    tracing::debug!(code = %error.code, "login refused");
                    invalid_credentials()
                }
                CredentialsError::Other(error) => error,
            })?;
        let user_id = user.id;
        let (_, session) = self
            .users
            .open_session(
                &ctx.acting_as(user_id.as_uuid()),
                STEP_OPEN_SESSION,
                user_id,
            )
            .await
            .map_err(|error| match error {
                // Suspended, erased or gone between the check and the session: the same answer.
                SignInError::Refused(error) => {
                    tracing::debug!(user = %user_id, code = %error.code, "login refused at open session");
                    invalid_credentials()
                }
                SignInError::Other(error) => error,
            })?;
        self.tokens(
            user_id.as_uuid(),
            session.id.as_uuid(),
            session.expire_time,
            self.clock.now(),
        )
    }

    /// Exchanges a refresh token for new tokens while its session is open and its user
    /// active. A closed or expired session, a suspended, erased or unknown user all answer
    /// `UNAUTHENTICATED` (`INVALID_REFRESH_TOKEN`); a bad or expired token answers as
    /// [`JwtKeys::verify_refresh`] does.
    pub async fn refresh(&self, ctx: &Ctx, refresh_token: &str) -> AppResult<Tokens> {
        let now = self.clock.now();
        let claims = self.keys.verify_refresh(refresh_token, now)?;
        let (_, session) = self
            .users
            .refresh_session(
                &ctx.acting_as(claims.user_id),
                STEP_REFRESH,
                claims.user_id.into(),
                claims.session_id.into(),
            )
            .await
            .map_err(|error| match error {
                SessionError::Ended(error) => {
                    tracing::debug!(user = %claims.user_id, code = %error.code, "refresh refused");
                    AppError::rejected(
                        RejectionKind::Unauthenticated,
                        "INVALID_REFRESH_TOKEN",
                        "the session has ended; sign in again",
                    )
                }
                SessionError::Other(error) => error,
            })?;
        self.tokens(claims.user_id, claims.session_id, session.expire_time, now)
    }

    /// Closes the session the access token belongs to. Closing a session that is already
    /// closed, expired or gone succeeds.
    pub async fn logout(&self, ctx: &Ctx, claims: &AccessClaims) -> AppResult<()> {
        let closed = self
            .users
            .close_session(
                &ctx.acting_as(claims.user_id),
                STEP_LOGOUT,
                claims.user_id.into(),
                claims.session_id.into(),
            )
            .await;
        match closed {
            Ok(_) => Ok(()),
            Err(CloseSessionError::AlreadyEnded(error)) => {
                tracing::debug!(user = %claims.user_id, code = %error.code, "logout of a session already ended");
                Ok(())
            }
            Err(CloseSessionError::Other(error)) => Err(error),
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

/// The answer to a retried sign-up that was undone (or is being undone).
fn sign_up_undone() -> AppError {
    AppError::rejected(
        RejectionKind::FailedPrecondition,
        "SIGN_UP_UNDONE",
        "this sign-up did not complete and was undone; sign up again with a new Idempotency-Key",
    )
}

/// The one answer to every refused login.
fn invalid_credentials() -> AppError {
    AppError::rejected(
        RejectionKind::Unauthenticated,
        "INVALID_CREDENTIALS",
        "email or password is wrong, or the account cannot sign in",
    )
}

/// Seconds from `now` until `then` as a token's `exp` counts them (whole seconds since the
/// epoch), never negative.
fn seconds_until(now: Timestamp, then: Timestamp) -> i64 {
    (then.timestamp() - now.timestamp()).max(0)
}
