//! Identity as the use cases see it: the [`Users`] port, a [`User`] with their sessions, and
//! the typed errors of its methods.

use async_trait::async_trait;
use kernel_domain::{RejectionKind, Timestamp, Version};

use crate::types::{SessionId, UserId, port_error, surely_refused};
use crate::{AppError, AppResult, Ctx, ErrorKind};

/// Where an account stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UserStatus {
    Active,
    Suspended,
    Erased,
}

/// Where the sign-up that registered a user stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignUpState {
    /// Complete, or the user was not registered by a sign-up.
    Complete,
    /// Not complete yet, within its window.
    Pending,
    /// Past its window and announced unfinished: being undone unless its trial started.
    Unfinished,
}

/// A signed-in session of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: SessionId,
    pub create_time: Timestamp,
    pub expire_time: Timestamp,
    pub refresh_time: Timestamp,
}

/// A user as Identity holds them; never a password or token hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    /// Empty once erased.
    pub email: String,
    pub display_name: String,
    pub status: UserStatus,
    /// Why the account is suspended; empty otherwise.
    pub suspension_reason: String,
    pub email_verified: bool,
    pub sessions: Vec<Session>,
    /// Set while sign-in is locked after failed attempts.
    pub lock_expire_time: Option<Timestamp>,
    /// How many commands the user has accepted (its etag).
    pub version: Version,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
    /// Where the sign-up that registered the user stands.
    pub sign_up: SignUpState,
}

/// A user to register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUser {
    pub email: String,
    pub display_name: String,
    pub password: String,
    /// The sign-up registering the user, if one does.
    pub sign_up: Option<SignUpWindow>,
}

/// The sign-up registering a user: Identity keeps it until [`Users::complete_sign_up`], and
/// once `window` has passed announces it unfinished (`identity.user.sign_up_unfinished`),
/// again and again, so that it is undone however the sign-up's own process ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SignUpWindow {
    /// The sign-up's request id (its steps' request ids derive from it).
    pub id: uuid::Uuid,
    /// How long it has to complete (whole seconds, 1 s to a day).
    pub window: std::time::Duration,
}

port_error!(
    /// Why reading a user gave none.
    UserReadError {
        /// No such user.
        NotFound,
    }
);

port_error!(
    /// Why looking a user up by email gave none.
    LookupError {
        /// Nobody holds the address.
        NotFound,
        /// The address is malformed, so nobody can hold it.
        MalformedEmail,
    }
);

port_error!(
    /// Why a command on a user was not carried out.
    UserChangeError {
        /// No such user.
        NotFound,
        /// Identity refused for good and surely did not carry out the command (bad input, a
        /// rule of the aggregate). A conflict or a reused request id is `Other`.
        Refused,
    }
);

port_error!(
    /// Why credentials were refused.
    CredentialsError {
        /// Unknown email, wrong password, or a locked, suspended or erased account: the
        /// caller cannot sign in (Identity answers them alike).
        Refused,
    }
);

port_error!(
    /// Why a new session was refused.
    SignInError {
        /// Unknown email, wrong password, a locked, suspended or erased account, or a user
        /// gone between the check and the session: the caller cannot sign in.
        Refused,
    }
);

port_error!(
    /// Why a session was not closed.
    CloseSessionError {
        /// It had ended already: closed, expired, unknown, or its user erased.
        AlreadyEnded,
    }
);

port_error!(
    /// Why a session was not refreshed.
    SessionError {
        /// The session has ended: closed, expired, unknown, or its user erased, suspended or
        /// gone. A conflict, an overloaded service or a fault is `Other`.
        Ended,
    }
);

port_error!(
    /// Why a mailed token (email verification, password reset) was refused.
    TokenError {
        /// The token's user cannot use it: unknown, erased, not active, or already verified.
        /// A use case answers this like a wrong token, so tokens cannot probe users.
        UserNotEligible,
    }
);

/// How an adapter classifies a failed read by its kind.
impl From<AppError> for UserReadError {
    fn from(error: AppError) -> Self {
        if error.is(RejectionKind::NotFound) {
            UserReadError::NotFound(error)
        } else {
            UserReadError::Other(error)
        }
    }
}

/// How an adapter classifies a failed lookup by its kind.
impl From<AppError> for LookupError {
    fn from(error: AppError) -> Self {
        if error.is(RejectionKind::NotFound) {
            LookupError::NotFound(error)
        } else if error.is(RejectionKind::InvalidArgument) {
            LookupError::MalformedEmail(error)
        } else {
            LookupError::Other(error)
        }
    }
}

/// How an adapter classifies a failed command by its kind.
impl From<AppError> for UserChangeError {
    fn from(error: AppError) -> Self {
        if error.is(RejectionKind::NotFound) {
            UserChangeError::NotFound(error)
        } else if surely_refused(&error) {
            UserChangeError::Refused(error)
        } else {
            UserChangeError::Other(error)
        }
    }
}

/// How an adapter classifies refused credentials by their kind.
impl From<AppError> for CredentialsError {
    fn from(error: AppError) -> Self {
        if error.is(RejectionKind::Unauthenticated) || error.is(RejectionKind::NotFound) {
            CredentialsError::Refused(error)
        } else {
            CredentialsError::Other(error)
        }
    }
}

/// How an adapter classifies a failed close by its kind and reason.
impl From<AppError> for CloseSessionError {
    fn from(error: AppError) -> Self {
        let ended = error.is(RejectionKind::NotFound)
            || (matches!(error.kind, ErrorKind::Rejected(_))
                && matches!(error.code.as_ref(), "SESSION_EXPIRED" | "USER_ERASED"));
        if ended {
            CloseSessionError::AlreadyEnded(error)
        } else {
            CloseSessionError::Other(error)
        }
    }
}

/// How an adapter classifies a refused session by its kind.
impl From<AppError> for SignInError {
    fn from(error: AppError) -> Self {
        let refused = matches!(
            error.kind,
            ErrorKind::Rejected(
                RejectionKind::Unauthenticated
                    | RejectionKind::NotFound
                    | RejectionKind::FailedPrecondition
            )
        );
        if refused {
            SignInError::Refused(error)
        } else {
            SignInError::Other(error)
        }
    }
}

/// How an adapter classifies a failed refresh: every refusal but "not now" (an
/// overloaded service, a conflict) means the session has ended.
impl From<AppError> for SessionError {
    fn from(error: AppError) -> Self {
        let not_now = error.is(RejectionKind::Unavailable) || error.is(RejectionKind::Aborted);
        if matches!(error.kind, ErrorKind::Rejected(_)) && !not_now {
            SessionError::Ended(error)
        } else {
            SessionError::Other(error)
        }
    }
}

/// How an adapter classifies a refused token by its kind and reason.
impl From<AppError> for TokenError {
    fn from(error: AppError) -> Self {
        let about_the_user = error.is(RejectionKind::NotFound)
            || matches!(
                error.code.as_ref(),
                "USER_ERASED" | "USER_NOT_ACTIVE" | "EMAIL_ALREADY_VERIFIED"
            );
        if about_the_user {
            TokenError::UserNotEligible(error)
        } else {
            TokenError::Other(error)
        }
    }
}

/// The Identity data service (`saas.identity.v1.UserService`).
///
/// Commands take the use case's `step` name, sent as [`Ctx::step`] of it, so a retried use
/// case replays the step instead of repeating it; Identity decides on the user as it finds
/// it (no etag is sent).
#[cfg_attr(any(test, feature = "testsuite"), mockall::automock)]
#[async_trait]
pub trait Users: Send + Sync + 'static {
    async fn get_user(&self, ctx: &Ctx, id: UserId) -> Result<User, UserReadError>;
    /// The users Identity knows among `ids` (at most 100), in no particular order.
    async fn batch_get_users(&self, ctx: &Ctx, ids: Vec<UserId>) -> AppResult<Vec<User>>;
    async fn lookup_user(&self, ctx: &Ctx, email: String) -> Result<User, LookupError>;
    async fn register_user(
        &self,
        ctx: &Ctx,
        step: &str,
        user: NewUser,
    ) -> Result<User, UserChangeError>;
    async fn change_display_name(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        display_name: String,
    ) -> Result<User, UserChangeError>;
    async fn change_password(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        old_password: String,
        new_password: String,
    ) -> Result<User, UserChangeError>;
    /// The user holding `email` if `password` is theirs and they may sign in.
    async fn verify_credentials(
        &self,
        ctx: &Ctx,
        email: String,
        password: String,
    ) -> Result<User, CredentialsError>;
    /// Opens a session for the acting user.
    async fn open_session(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
    ) -> Result<(User, Session), SignInError>;
    async fn refresh_session(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        session: SessionId,
    ) -> Result<(User, Session), SessionError>;
    async fn close_session(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        session: SessionId,
    ) -> Result<User, CloseSessionError>;
    /// Keeps the hash of the mailed `token`.
    async fn start_email_verification(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        token: String,
    ) -> Result<User, UserChangeError>;
    async fn confirm_email_verification(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        token: String,
    ) -> Result<User, TokenError>;
    /// Keeps the hash of the mailed `token`.
    async fn start_password_reset(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        token: String,
    ) -> Result<User, UserChangeError>;
    async fn complete_password_reset(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        token: String,
        new_password: String,
    ) -> Result<User, TokenError>;
    async fn erase_user(&self, ctx: &Ctx, step: &str, id: UserId) -> Result<User, UserChangeError>;
    /// Marks the sign-up that registered the user complete: it is never announced unfinished.
    /// A user with no pending sign-up is unchanged; an erased one is `Refused`.
    async fn complete_sign_up(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
    ) -> Result<User, UserChangeError>;
}

/// Examples for other crates' tests.
#[cfg(any(test, feature = "testsuite"))]
pub mod examples {
    use super::*;
    use crate::types::examples::made_at;

    /// An active, verified user with `email` and no session, version 1.
    pub fn user(id: UserId, email: &str) -> User {
        User {
            id,
            email: email.to_owned(),
            display_name: format!("User {email}"),
            status: UserStatus::Active,
            suspension_reason: String::new(),
            email_verified: true,
            sessions: Vec::new(),
            lock_expire_time: None,
            version: Version::INITIAL,
            create_time: made_at(),
            update_time: made_at(),
            sign_up: SignUpState::Complete,
        }
    }

    /// A session opened at [`made_at`], lasting 30 days.
    pub fn session(id: SessionId) -> Session {
        Session {
            id,
            create_time: made_at(),
            expire_time: made_at() + chrono::Duration::days(30),
            refresh_time: made_at(),
        }
    }
}
