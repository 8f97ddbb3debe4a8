//! Value objects of the Workspace context: slugs, names and token hashes.

use serde::{Deserialize, Serialize};

use crate::WorkspaceError;

/// Why a piece of text is not an acceptable value (a workspace name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TextError {
    /// Nothing (or nothing but whitespace, where the value is trimmed).
    #[error("must not be empty")]
    Empty,
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

/// Why a text is not a [`Slug`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SlugError {
    /// Nothing but whitespace.
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
    /// A character other than a letter, a digit or `-`.
    #[error("may contain only letters, digits and hyphens")]
    InvalidCharacter,
    /// Starts or ends with `-`.
    #[error("must not start or end with a hyphen")]
    HyphenAtEdge,
    /// One of the [`RESERVED_SLUGS`], kept for the product's own pages and hosts.
    #[error("is reserved")]
    Reserved,
}

/// Slugs no workspace may have: they name (or may one day name) the product's own hosts,
/// routes and pages.
pub const RESERVED_SLUGS: &[&str] = &[
    "about",
    "account",
    "accounts",
    "admin",
    "api",
    "app",
    "assets",
    "auth",
    "billing",
    "blog",
    "cdn",
    "dashboard",
    "dev",
    "docs",
    "download",
    "ftp",
    "health",
    "help",
    "internal",
    "invite",
    "invites",
    "legal",
    "login",
    "logout",
    "mail",
    "new",
    "null",
    "oauth",
    "pricing",
    "privacy",
    "public",
    "register",
    "root",
    "security",
    "settings",
    "signin",
    "signout",
    "signup",
    "smtp",
    "sso",
    "staging",
    "static",
    "status",
    "support",
    "system",
    "terms",
    "undefined",
    "user",
    "users",
    "webhooks",
    "workspace",
    "workspaces",
    "www",
];

/// The short name of a workspace in URLs (`acme-corp`): 3 to 40 of `a-z`, `0-9` and `-`, not
/// starting or ending with `-`, and not one of the [`RESERVED_SLUGS`].
///
/// Parsing trims surrounding whitespace and lower-cases ASCII letters, like an email address.
/// Slugs are unique across workspaces; the store enforces that, not the domain.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Slug(String);

impl Slug {
    /// The shortest slug, in characters.
    pub const MIN_LEN: usize = 3;
    /// The longest slug, in characters.
    pub const MAX_LEN: usize = 40;

    /// Parses a slug as the user typed it.
    pub fn parse(raw: &str) -> Result<Self, WorkspaceError> {
        Self::check(raw).map_err(WorkspaceError::InvalidSlug)
    }

    fn check(raw: &str) -> Result<Self, SlugError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(SlugError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(SlugError::TooLong { max: Self::MAX_LEN });
        }
        if !trimmed
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return Err(SlugError::InvalidCharacter);
        }
        // Only ASCII from here on: characters are bytes.
        if trimmed.len() < Self::MIN_LEN {
            return Err(SlugError::TooShort { min: Self::MIN_LEN });
        }
        if trimmed.starts_with('-') || trimmed.ends_with('-') {
            return Err(SlugError::HyphenAtEdge);
        }
        let slug = trimmed.to_ascii_lowercase();
        if RESERVED_SLUGS.contains(&slug.as_str()) {
            return Err(SlugError::Reserved);
        }
        Ok(Slug(slug))
    }

    /// The slug.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Slug {
    type Error = WorkspaceError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Slug::parse(&value)
    }
}

impl From<Slug> for String {
    fn from(slug: Slug) -> Self {
        slug.0
    }
}

impl std::fmt::Display for Slug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The name a workspace is shown by: 1 to 100 characters after trimming, no control
/// characters.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WorkspaceName(String);

impl WorkspaceName {
    /// The longest name, in characters.
    pub const MAX_LEN: usize = 100;

    /// Parses a name as the user typed it (surrounding whitespace is dropped).
    pub fn parse(raw: &str) -> Result<Self, WorkspaceError> {
        trimmed_line(raw, Self::MAX_LEN)
            .map(|name| WorkspaceName(name.to_owned()))
            .map_err(WorkspaceError::InvalidName)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WorkspaceName {
    type Error = WorkspaceError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        WorkspaceName::parse(&value)
    }
}

impl From<WorkspaceName> for String {
    fn from(name: WorkspaceName) -> Self {
        name.0
    }
}

impl std::fmt::Display for WorkspaceName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// The SHA-256 hash of an invitation token.
///
/// The application makes the random token and mails it to the invitee; the adapter hashes it;
/// the workspace keeps only this hash and compares presented hashes in constant time with
/// [`TokenHash::matches`]. Stored as 64 lower-case hex digits; `Debug` does not print it, and
/// no event carries it.
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
