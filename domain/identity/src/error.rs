//! Why a command on a [`crate::User`] was refused, and how that reads at the edge.

use kernel_domain::{Rejection, RejectionKind};

use crate::TextError;

/// Why the Identity domain refused a value or a command.
///
/// Every variant converts into a [`Rejection`] with a stable UPPER_SNAKE reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// The display name breaks its rule (`INVALID_DISPLAY_NAME`).
    #[error("the display name {0}")]
    InvalidDisplayName(TextError),
    /// The password breaks its rule (`INVALID_PASSWORD`).
    #[error("the password {0}")]
    InvalidPassword(TextError),
    /// The suspension reason breaks its rule (`INVALID_SUSPENSION_REASON`).
    #[error("the suspension reason {0}")]
    InvalidSuspensionReason(TextError),
    /// The user was erased; nothing can be done with them any more (`USER_ERASED`).
    #[error("the user was erased")]
    Erased,
    /// The user is suspended and may not do this (`USER_NOT_ACTIVE`).
    #[error("the user is not active")]
    NotActive,
    /// Suspending a user who already is (`USER_ALREADY_SUSPENDED`).
    #[error("the user is already suspended")]
    AlreadySuspended,
    /// Reactivating a user who is not suspended (`USER_NOT_SUSPENDED`).
    #[error("the user is not suspended")]
    NotSuspended,
    /// The old password given to prove who the user is was wrong (`WRONG_PASSWORD`).
    #[error("the password is wrong")]
    WrongPassword,
    /// A password check was spent or made against a hash that changed while the command
    /// ran; check again on the current state (`PASSWORD_CHECK_STALE`, a retryable conflict).
    #[error("the account changed while the password was checked")]
    PasswordCheckStale,
    /// What the caller is told for an unknown email, a wrong password and a locked account
    /// alike (`INVALID_CREDENTIALS`). The aggregate itself answers [`crate::LoginOutcome::Refused`];
    /// the application turns that (and "no such email") into this one error.
    #[error("the email or password is wrong")]
    InvalidCredentials,
    /// No open session with that id: never opened, closed or evicted (`SESSION_NOT_FOUND`).
    #[error("the session does not exist")]
    SessionNotFound,
    /// The session existed but its lifetime ran out (`SESSION_EXPIRED`).
    #[error("the session has expired")]
    SessionExpired,
    /// A session with that id is already open (`SESSION_ALREADY_EXISTS`).
    #[error("a session with this id is already open")]
    SessionAlreadyExists,
    /// The presented token is wrong, expired, already used or was never issued
    /// (`TOKEN_INVALID`; one reason for all, so nothing is learned from it).
    #[error("the token is invalid or has expired")]
    TokenInvalid,
    /// The email address is already verified (`EMAIL_ALREADY_VERIFIED`).
    #[error("the email address is already verified")]
    EmailAlreadyVerified,
    /// Changing the email to the one the user already has (`EMAIL_UNCHANGED`).
    #[error("the email address is the same as the current one")]
    EmailUnchanged,
}

impl UserError {
    /// The stable machine-readable reason.
    pub const fn reason(&self) -> &'static str {
        match self {
            UserError::InvalidDisplayName(_) => "INVALID_DISPLAY_NAME",
            UserError::InvalidPassword(_) => "INVALID_PASSWORD",
            UserError::InvalidSuspensionReason(_) => "INVALID_SUSPENSION_REASON",
            UserError::Erased => "USER_ERASED",
            UserError::NotActive => "USER_NOT_ACTIVE",
            UserError::AlreadySuspended => "USER_ALREADY_SUSPENDED",
            UserError::NotSuspended => "USER_NOT_SUSPENDED",
            UserError::WrongPassword => "WRONG_PASSWORD",
            UserError::PasswordCheckStale => "PASSWORD_CHECK_STALE",
            UserError::InvalidCredentials => "INVALID_CREDENTIALS",
            UserError::SessionNotFound => "SESSION_NOT_FOUND",
            UserError::SessionExpired => "SESSION_EXPIRED",
            UserError::SessionAlreadyExists => "SESSION_ALREADY_EXISTS",
            UserError::TokenInvalid => "TOKEN_INVALID",
            UserError::EmailAlreadyVerified => "EMAIL_ALREADY_VERIFIED",
            UserError::EmailUnchanged => "EMAIL_UNCHANGED",
        }
    }

    /// The kind of refusal.
    pub const fn kind(&self) -> RejectionKind {
        match self {
            UserError::InvalidDisplayName(_)
            | UserError::InvalidPassword(_)
            | UserError::InvalidSuspensionReason(_) => RejectionKind::InvalidArgument,
            UserError::Erased
            | UserError::NotActive
            | UserError::AlreadySuspended
            | UserError::NotSuspended
            | UserError::SessionExpired
            | UserError::TokenInvalid
            | UserError::EmailAlreadyVerified
            | UserError::EmailUnchanged => RejectionKind::FailedPrecondition,
            UserError::WrongPassword => RejectionKind::PermissionDenied,
            UserError::PasswordCheckStale => RejectionKind::Aborted,
            UserError::InvalidCredentials => RejectionKind::Unauthenticated,
            UserError::SessionNotFound => RejectionKind::NotFound,
            UserError::SessionAlreadyExists => RejectionKind::AlreadyExists,
        }
    }

    /// The request field a bad value came from, for input errors.
    const fn field(&self) -> Option<&'static str> {
        match self {
            UserError::InvalidDisplayName(_) => Some("display_name"),
            UserError::InvalidPassword(_) => Some("password"),
            UserError::InvalidSuspensionReason(_) => Some("reason"),
            _ => None,
        }
    }
}

impl From<UserError> for Rejection {
    fn from(error: UserError) -> Self {
        match error.field() {
            Some(field) => Rejection::invalid_field(error.reason(), field, error.to_string()),
            None => Rejection::new(error.kind(), error.reason(), error.to_string()),
        }
    }
}
