//! Outgoing mail as the use cases see it: a [`Mail`] of a [`MailKind`], handed to the
//! [`Mailer`] port. The adapters (files, SMTP, memory) live in `adapters-app`.

use async_trait::async_trait;

use crate::AppResult;

/// What a mail is about; tests and the file adapter use it to find the right mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    EmailVerification,
    PasswordReset,
    Invitation,
    /// A workspace's subscription is past due; sent to its Owners. Carries no token.
    PastDue,
}

impl MailKind {
    /// A stable name (`email-verification`, `password-reset`, `invitation`, `past-due`).
    pub const fn as_str(self) -> &'static str {
        match self {
            MailKind::EmailVerification => "email-verification",
            MailKind::PasswordReset => "password-reset",
            MailKind::Invitation => "invitation",
            MailKind::PastDue => "past-due",
        }
    }
}

/// One mail to one recipient. `token` is the secret the mail carries (also in `text`); it
/// is empty for a mail that carries none ([`MailKind::PastDue`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub kind: MailKind,
    pub to: String,
    pub subject: String,
    pub text: String,
    pub token: String,
}

/// Sends mail.
#[cfg_attr(any(test, feature = "testsuite"), mockall::automock)]
#[async_trait]
pub trait Mailer: Send + Sync + 'static {
    async fn send(&self, mail: Mail) -> AppResult<()>;
}
