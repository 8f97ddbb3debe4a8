//! Value objects of the Identity context: names, passwords, hashes, tokens and reasons.

use serde::{Deserialize, Serialize};

use crate::UserError;

pub use kernel_domain::text::TextError;
use kernel_domain::text::trimmed_line;

/// The name a user is shown by: 1 to 100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    /// The longest display name, in characters.
    pub const MAX_LEN: usize = kernel_domain::text::DISPLAY_NAME_MAX_LEN;

    /// Parses a display name as the user typed it (surrounding whitespace is dropped).
    pub fn parse(raw: &str) -> Result<Self, UserError> {
        kernel_domain::text::display_name(raw)
            .map(|name| DisplayName(name.to_owned()))
            .map_err(UserError::InvalidDisplayName)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What an erased user is called: their real name is gone for good.
    pub(crate) fn erased() -> Self {
        DisplayName("Erased user".to_owned())
    }
}

impl TryFrom<String> for DisplayName {
    type Error = UserError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        DisplayName::parse(&value)
    }
}

impl From<DisplayName> for String {
    fn from(name: DisplayName) -> Self {
        name.0
    }
}

impl std::fmt::Display for DisplayName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
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

/// Why a user was suspended, as the operator wrote it: 1 to 500 characters after trimming,
/// no control characters at all (not even newlines).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct SuspensionReason(String);

impl SuspensionReason {
    /// The longest reason, in characters.
    pub const MAX_LEN: usize = 500;

    /// Parses a reason (surrounding whitespace is dropped).
    pub fn parse(raw: &str) -> Result<Self, UserError> {
        trimmed_line(raw, Self::MAX_LEN)
            .map(|reason| SuspensionReason(reason.to_owned()))
            .map_err(UserError::InvalidSuspensionReason)
    }

    /// The reason.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for SuspensionReason {
    type Error = UserError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        SuspensionReason::parse(&value)
    }
}

impl From<SuspensionReason> for String {
    fn from(reason: SuspensionReason) -> Self {
        reason.0
    }
}

impl std::fmt::Display for SuspensionReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}
