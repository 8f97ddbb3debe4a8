//! Value objects of the Identity context: names, passwords, hashes, tokens and reasons.

use serde::{Deserialize, Serialize};

use crate::UserError;

/// Why a piece of text is not an acceptable value (display name, password, suspension reason).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing (or nothing but whitespace, where the value is trimmed).
    #[error("must not be empty")]
    Empty,
    /// Fewer characters than the minimum.
    #[error("must be at least {min} characters long")]
    TooShort {
        /// The minimum number of characters.
        min: usize,
    },
    /// More characters than the maximum.
    #[error("must be at most {max} characters long")]
    TooLong {
        /// The maximum number of characters.
        max: usize,
    },
    /// Contains a control character (newline, tab, escape, ...).
    #[error("must not contain control characters")]
    ControlCharacter,
}

/// Trims `raw` and checks it is `1..=max` characters without control characters.
fn trimmed_line(raw: &str, max: usize) -> Result<&str, TextError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(TextError::Empty);
    }
    if trimmed.chars().count() > max {
        return Err(TextError::TooLong { max });
    }
    if trimmed.chars().any(char::is_control) {
        return Err(TextError::ControlCharacter);
    }
    Ok(trimmed)
}

/// The name a user is shown by: 1 to 100 characters after trimming, no control characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct DisplayName(String);

impl DisplayName {
    /// The longest display name, in characters.
    pub const MAX_LEN: usize = 100;

    /// Parses a display name as the user typed it (surrounding whitespace is dropped).
    pub fn parse(raw: &str) -> Result<Self, UserError> {
        trimmed_line(raw, Self::MAX_LEN)
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
    pub const MIN_LEN: usize = 12;
    /// The longest password, in characters.
    pub const MAX_LEN: usize = 128;

    /// Checks the length rule.
    pub fn parse(raw: &str) -> Result<Self, UserError> {
        let len = raw.chars().count();
        if len < Self::MIN_LEN {
            return Err(UserError::InvalidPassword(TextError::TooShort {
                min: Self::MIN_LEN,
            }));
        }
        if len > Self::MAX_LEN {
            return Err(UserError::InvalidPassword(TextError::TooLong {
                max: Self::MAX_LEN,
            }));
        }
        Ok(Password(raw.to_owned()))
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

/// The SHA-256 hash of a single-use token (email verification, password reset).
///
/// The application makes the random token and sends it to the user; the adapter hashes it;
/// the aggregate keeps only this hash and compares presented hashes in constant time with
/// [`TokenHash::matches`]. Stored as 64 lower-case hex digits; `Debug` does not print it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenHash([u8; 32]);

/// A stored token hash that is not 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a token hash is 64 hex digits")]
pub struct TokenHashError;

impl TokenHash {
    /// Wraps the 32 bytes of a SHA-256 digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        TokenHash(bytes)
    }

    /// The digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `other` is the same hash, in time that does not depend on where they differ
    /// (every byte is XOR-ed and folded, no early exit).
    pub fn matches(&self, other: &TokenHash) -> bool {
        let mut diff = 0u8;
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            diff |= a ^ b;
        }
        std::hint::black_box(diff) == 0
    }

    /// The 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(hex: &str) -> Result<Self, TokenHashError> {
        let digits = hex.as_bytes();
        if digits.len() != 64 {
            return Err(TokenHashError);
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let high = hex_value(pair[0]).ok_or(TokenHashError)?;
            let low = hex_value(pair[1]).ok_or(TokenHashError)?;
            *byte = (high << 4) | low;
        }
        Ok(TokenHash(bytes))
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for TokenHash {}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(***)")
    }
}

impl TryFrom<String> for TokenHash {
    type Error = TokenHashError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TokenHash::from_hex(&value)
    }
}

impl From<TokenHash> for String {
    fn from(hash: TokenHash) -> Self {
        hash.to_hex()
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
