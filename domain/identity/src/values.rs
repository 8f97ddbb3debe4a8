//! Value objects of the Identity context: names, passwords, hashes, tokens and reasons.

use serde::{Deserialize, Serialize};

use crate::UserError;

pub use kernel_domain::text::TextError;
use kernel_domain::text::trimmed_line;

kernel_domain::text_value! {
    /// The name a user is shown by: 1 to 100 characters after trimming, no control characters.
    pub struct DisplayName {
        rule: kernel_domain::text::display_name,
        error: UserError = UserError::InvalidDisplayName,
    }
}

impl DisplayName {
    /// The longest display name, in characters.
    pub const MAX_LEN: usize = kernel_domain::text::DISPLAY_NAME_MAX_LEN;

    /// What an erased user is called: their real name is gone for good.
    pub(crate) fn erased() -> Self {
        DisplayName("Erased user".to_owned())
    }
}

/// A plain-text password on its way to the hasher: 12 to 128 characters, taken exactly as
/// typed (not trimmed; every character counts).
///
/// It is never stored, never serialized and never printed: `Debug` shows `Password(***)`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    /// The shortest password, in characters.
    pub const MIN_LEN: usize = kernel_domain::text::PASSWORD_MIN_LEN;
    /// The longest password, in characters.
    pub const MAX_LEN: usize = kernel_domain::text::PASSWORD_MAX_LEN;

    /// Checks the length rule.
    pub fn parse(raw: &str) -> Result<Self, UserError> {
        kernel_domain::text::password(raw)
            .map(|raw| Password(raw.to_owned()))
            .map_err(UserError::InvalidPassword)
    }

    /// The plain text, for the hasher only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// A password as stored: an argon2id PHC string made by a [`crate::PasswordHasher`].
///
/// The domain never looks inside; it only keeps it and hands it back to the hasher.
/// `Debug` does not print it, and no event carries it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Wraps a PHC string the hasher made (trusted, not checked).
    pub fn from_phc(phc: String) -> Self {
        PasswordHash(phc)
    }

    /// The PHC string, for the hasher and the store.
    pub fn as_phc(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PasswordHash(***)")
    }
}

kernel_domain::text_value! {
    /// Why a user was suspended, as the operator wrote it: 1 to 500 characters after trimming,
    /// no control characters at all (not even newlines).
    pub struct SuspensionReason {
        rule: suspension_reason,
        error: UserError = UserError::InvalidSuspensionReason,
    }
}

impl SuspensionReason {
    /// The longest reason, in characters.
    pub const MAX_LEN: usize = 500;
}

fn suspension_reason(raw: &str) -> Result<&str, TextError> {
    trimmed_line(raw, SuspensionReason::MAX_LEN)
}
