//! Value objects of the Workspace context: slugs, names and token hashes.

use serde::{Deserialize, Serialize};

use crate::WorkspaceError;

pub use kernel_domain::text::{RESERVED_SLUGS, SlugError, TextError};

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
    pub const MIN_LEN: usize = kernel_domain::text::SLUG_MIN_LEN;
    /// The longest slug, in characters.
    pub const MAX_LEN: usize = kernel_domain::text::SLUG_MAX_LEN;

    /// Parses a slug as the user typed it.
    pub fn parse(raw: &str) -> Result<Self, WorkspaceError> {
        kernel_domain::text::slug(raw)
            .map(Slug)
            .map_err(WorkspaceError::InvalidSlug)
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
    pub const MAX_LEN: usize = kernel_domain::text::WORKSPACE_NAME_MAX_LEN;

    /// Parses a name as the user typed it (surrounding whitespace is dropped).
    pub fn parse(raw: &str) -> Result<Self, WorkspaceError> {
        kernel_domain::text::workspace_name(raw)
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
