//! Value objects of the Workspace context: slugs, names and the subscription's standing.

use serde::{Deserialize, Serialize};

use crate::WorkspaceError;

pub use kernel_domain::text::{RESERVED_SLUGS, SlugError, TextError};

kernel_domain::text_value! {
    /// The short name of a workspace in URLs (`acme-corp`): 3 to 40 of `a-z`, `0-9` and `-`,
    /// not starting or ending with `-`, and not one of the [`RESERVED_SLUGS`].
    ///
    /// Parsing trims surrounding whitespace and lower-cases ASCII letters, like an email
    /// address. Slugs are unique across workspaces; the store enforces that, not the domain.
    pub struct Slug {
        rule: kernel_domain::text::slug,
        error: WorkspaceError = WorkspaceError::InvalidSlug,
    }
}

impl Slug {
    /// The shortest slug, in characters.
    pub const MIN_LEN: usize = kernel_domain::text::SLUG_MIN_LEN;
    /// The longest slug, in characters.
    pub const MAX_LEN: usize = kernel_domain::text::SLUG_MAX_LEN;
}

kernel_domain::text_value! {
    /// The name a workspace is shown by: 1 to 100 characters after trimming, no control
    /// characters.
    pub struct WorkspaceName {
        rule: kernel_domain::text::workspace_name,
        error: WorkspaceError = WorkspaceError::InvalidName,
    }
}

impl WorkspaceName {
    /// The longest name, in characters.
    pub const MAX_LEN: usize = kernel_domain::text::WORKSPACE_NAME_MAX_LEN;
}

/// Where the workspace's subscription stands, as Billing last reported it: a workspace
/// sends invitations only in good standing (a trialing or active subscription).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStanding {
    /// Trialing or active: invitations may be sent. A new workspace starts so, because
    /// sign-up starts its trial right after creating it (and deletes it when it cannot).
    #[default]
    Good,
    /// Past due or canceled: invitations are refused (`SUBSCRIPTION_INACTIVE`).
    Lapsed,
}
