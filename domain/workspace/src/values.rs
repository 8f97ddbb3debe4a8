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
