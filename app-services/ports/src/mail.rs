//! Outgoing mail: the [`Mailer`] port and its adapters (files under the data directory by
//! default, SMTP when `SAAS_SMTP_URL` is set, memory for tests).

use async_trait::async_trait;

use crate::AppResult;

/// What a mail is about; tests and the file adapter use it to find the right mail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MailKind {
    EmailVerification,
    PasswordReset,
    Invitation,
}

impl MailKind {
    /// A stable name (`email-verification`, `password-reset`, `invitation`).
    pub const fn as_str(self) -> &'static str {
        match self {
            MailKind::EmailVerification => "email-verification",
            MailKind::PasswordReset => "password-reset",
            MailKind::Invitation => "invitation",
        }
    }
}

/// One mail to one recipient. `token` is the secret the mail carries (also in `text`).
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
