//! What happens to a user, in the past tense.

use serde::{Deserialize, Serialize};

use kernel_domain::{DomainEvent, Email, Timestamp};

use crate::{DisplayName, SessionId, SuspensionReason, UserId};

/// Why a session was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionCloseReason {
    /// The user logged out of it.
    LoggedOut,
    /// A 21st session was opened and this was the oldest.
    Evicted,
    /// The password was changed or reset.
    PasswordChanged,
    /// The user was suspended.
    Suspended,
    /// The user was erased.
    Erased,
}

/// Something that happened to a [`crate::User`].
///
/// Every event names the user and when it happened. No event ever carries a password, a
/// password hash or a token hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum UserEvent {
    /// A user signed up.
    Registered {
        /// Who.
        user_id: UserId,
        /// Their email address.
        email: Email,
        /// Their display name.
        display_name: DisplayName,
        /// When.
        occurred_at: Timestamp,
    },
    /// The display name changed.
    DisplayNameChanged {
        /// Who.
        user_id: UserId,
        /// The new name.
        display_name: DisplayName,
        /// When.
        occurred_at: Timestamp,
    },
    /// The email address changed (and is unverified again).
    EmailChanged {
        /// Who.
        user_id: UserId,
        /// The new address.
        email: Email,
        /// When.
        occurred_at: Timestamp,
    },
    /// The user changed their password, proving the old one.
    PasswordChanged {
        /// Who.
        user_id: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// A login attempt with a wrong password (counted).
    LoginFailed {
        /// Who.
        user_id: UserId,
        /// Consecutive failures so far, this one included.
        consecutive_failures: u32,
        /// When.
        occurred_at: Timestamp,
    },
    /// Too many failures in a row: logins are refused until `until`.
    AccountLocked {
        /// Who.
        user_id: UserId,
        /// When the lock ends.
        until: Timestamp,
        /// When.
        occurred_at: Timestamp,
    },
    /// A login attempt succeeded.
    LoggedIn {
        /// Who.
        user_id: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// A session was opened.
    SessionOpened {
        /// Who.
        user_id: UserId,
        /// Which session.
        session_id: SessionId,
        /// When it expires unless refreshed.
        expires_at: Timestamp,
        /// When.
        occurred_at: Timestamp,
    },
    /// A session was refreshed and lives longer.
    SessionRefreshed {
        /// Who.
        user_id: UserId,
        /// Which session.
        session_id: SessionId,
        /// Its new expiry.
        expires_at: Timestamp,
        /// When.
        occurred_at: Timestamp,
    },
    /// A session was closed before it expired.
    SessionClosed {
        /// Who.
        user_id: UserId,
        /// Which session.
        session_id: SessionId,
        /// Why.
        reason: SessionCloseReason,
        /// When.
        occurred_at: Timestamp,
    },
    /// A verification token was sent for the current email address.
    EmailVerificationStarted {
        /// Who.
        user_id: UserId,
        /// The address being verified.
        email: Email,
        /// When the token stops working.
        expires_at: Timestamp,
        /// When.
        occurred_at: Timestamp,
    },
    /// The user proved they own their email address.
    EmailVerified {
        /// Who.
        user_id: UserId,
        /// The verified address.
        email: Email,
        /// When.
        occurred_at: Timestamp,
    },
    /// A password reset token was sent.
    PasswordResetStarted {
        /// Who.
        user_id: UserId,
        /// When the token stops working.
        expires_at: Timestamp,
        /// When.
        occurred_at: Timestamp,
    },
    /// The password was replaced using a reset token.
    PasswordResetCompleted {
        /// Who.
        user_id: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// An operator suspended the user.
    Suspended {
        /// Who.
        user_id: UserId,
        /// Why.
        reason: SuspensionReason,
        /// When.
        occurred_at: Timestamp,
    },
    /// A suspended user was made active again.
    Reactivated {
        /// Who.
        user_id: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// The user's personal data was erased for good.
    Erased {
        /// Who.
        user_id: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// The sign-up that registered the user did not complete within its window (announced
    /// again, later and later, until it completes or the user is erased).
    SignUpUnfinished {
        /// Who.
        user_id: UserId,
        /// The sign-up's request id.
        sign_up_id: uuid::Uuid,
        /// How many times it has been announced, this one included.
        announcement: u32,
        /// When.
        occurred_at: Timestamp,
    },
}

impl UserEvent {
    /// The user it happened to.
    pub fn user_id(&self) -> UserId {
        match self {
            UserEvent::Registered { user_id, .. }
            | UserEvent::DisplayNameChanged { user_id, .. }
            | UserEvent::EmailChanged { user_id, .. }
            | UserEvent::PasswordChanged { user_id, .. }
            | UserEvent::LoginFailed { user_id, .. }
            | UserEvent::AccountLocked { user_id, .. }
            | UserEvent::LoggedIn { user_id, .. }
            | UserEvent::SessionOpened { user_id, .. }
            | UserEvent::SessionRefreshed { user_id, .. }
            | UserEvent::SessionClosed { user_id, .. }
            | UserEvent::EmailVerificationStarted { user_id, .. }
            | UserEvent::EmailVerified { user_id, .. }
            | UserEvent::PasswordResetStarted { user_id, .. }
            | UserEvent::PasswordResetCompleted { user_id, .. }
            | UserEvent::Suspended { user_id, .. }
            | UserEvent::Reactivated { user_id, .. }
            | UserEvent::Erased { user_id, .. }
            | UserEvent::SignUpUnfinished { user_id, .. } => *user_id,
        }
    }

    /// When it happened.
    pub fn occurred_at(&self) -> Timestamp {
        match self {
            UserEvent::Registered { occurred_at, .. }
            | UserEvent::DisplayNameChanged { occurred_at, .. }
            | UserEvent::EmailChanged { occurred_at, .. }
            | UserEvent::PasswordChanged { occurred_at, .. }
            | UserEvent::LoginFailed { occurred_at, .. }
            | UserEvent::AccountLocked { occurred_at, .. }
            | UserEvent::LoggedIn { occurred_at, .. }
            | UserEvent::SessionOpened { occurred_at, .. }
            | UserEvent::SessionRefreshed { occurred_at, .. }
            | UserEvent::SessionClosed { occurred_at, .. }
            | UserEvent::EmailVerificationStarted { occurred_at, .. }
            | UserEvent::EmailVerified { occurred_at, .. }
            | UserEvent::PasswordResetStarted { occurred_at, .. }
            | UserEvent::PasswordResetCompleted { occurred_at, .. }
            | UserEvent::Suspended { occurred_at, .. }
            | UserEvent::Reactivated { occurred_at, .. }
            | UserEvent::Erased { occurred_at, .. }
            | UserEvent::SignUpUnfinished { occurred_at, .. } => *occurred_at,
        }
    }
}

impl DomainEvent for UserEvent {
    fn event_type(&self) -> &'static str {
        match self {
            UserEvent::Registered { .. } => "identity.user.registered",
            UserEvent::DisplayNameChanged { .. } => "identity.user.display_name_changed",
            UserEvent::EmailChanged { .. } => "identity.user.email_changed",
            UserEvent::PasswordChanged { .. } => "identity.user.password_changed",
            UserEvent::LoginFailed { .. } => "identity.user.login_failed",
            UserEvent::AccountLocked { .. } => "identity.user.account_locked",
            UserEvent::LoggedIn { .. } => "identity.user.logged_in",
            UserEvent::SessionOpened { .. } => "identity.user.session_opened",
            UserEvent::SessionRefreshed { .. } => "identity.user.session_refreshed",
            UserEvent::SessionClosed { .. } => "identity.user.session_closed",
            UserEvent::EmailVerificationStarted { .. } => {
                "identity.user.email_verification_started"
            }
            UserEvent::EmailVerified { .. } => "identity.user.email_verified",
            UserEvent::PasswordResetStarted { .. } => "identity.user.password_reset_started",
            UserEvent::PasswordResetCompleted { .. } => "identity.user.password_reset_completed",
            UserEvent::Suspended { .. } => "identity.user.suspended",
            UserEvent::Reactivated { .. } => "identity.user.reactivated",
            UserEvent::Erased { .. } => "identity.user.erased",
            UserEvent::SignUpUnfinished { .. } => "identity.user.sign_up_unfinished",
        }
    }
}
