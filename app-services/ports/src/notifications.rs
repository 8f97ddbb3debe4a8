//! Notifications as the use cases see them: the [`Feeds`] port, each user's feed of
//! [`FeedEntry`]s (a feed's id is its user's id), and the typed errors of its methods.

use async_trait::async_trait;
use kernel_domain::Timestamp;

use crate::types::{UserId, WorkspaceId, port_error};
use crate::{AppError, AppResult, Ctx};

/// One entry of a user's feed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedEntry {
    pub feed_id: UserId,
    /// 1, 2, 3, ... in the order the entries were appended.
    pub sequence: i64,
    /// snake_case, e.g. `member_joined`.
    pub kind: String,
    /// The workspace the entry is about, if any.
    pub workspace_id: Option<WorkspaceId>,
    /// Its details, a JSON object.
    pub payload_json: String,
    /// The event the entry was made from.
    pub source_event_id: String,
    pub create_time: Timestamp,
}

/// An entry to append.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFeedEntry {
    /// The event it is made from: a feed holds one entry per event.
    pub source_event_id: String,
    pub kind: String,
    pub workspace_id: Option<WorkspaceId>,
    pub payload_json: String,
}

/// A page of a feed's entries after a sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FeedPage {
    pub entries: Vec<FeedEntry>,
    /// Entries after the asked sequence number were dropped by retention: the page starts
    /// at `first_retained_sequence`.
    pub reset: bool,
    pub last_sequence: i64,
    pub first_retained_sequence: i64,
}

port_error!(
    /// Why a feed answered nothing.
    FeedError {
        /// The user has no feed yet: nothing was ever appended to it (`FEED_NOT_FOUND`).
        NotFound,
    }
);

/// How an adapter classifies a failure: only Notifications' "no such feed" is `NotFound`.
impl From<AppError> for FeedError {
    fn from(error: AppError) -> Self {
        if error.is(kernel_domain::RejectionKind::NotFound) && error.code == "FEED_NOT_FOUND" {
            FeedError::NotFound(error)
        } else {
            FeedError::Other(error)
        }
    }
}

/// The Notifications data service (`saas.notifications.v1.FeedService`).
///
/// Commands take the use case's `step` name, sent as [`Ctx::step`] of it, as the other ports
/// do.
#[cfg_attr(any(test, feature = "testsuite"), mockall::automock)]
#[async_trait]
pub trait Feeds: Send + Sync + 'static {
    /// At most `page_size` entries (0: the service's default) after `after_sequence`.
    async fn list_feed_entries(
        &self,
        ctx: &Ctx,
        feed: UserId,
        after_sequence: i64,
        page_size: i32,
    ) -> Result<FeedPage, FeedError>;
    /// Appends an entry, once per source event.
    async fn append_feed_entry(
        &self,
        ctx: &Ctx,
        step: &str,
        feed: UserId,
        entry: NewFeedEntry,
    ) -> AppResult<FeedEntry>;
    /// Moves the read mark up to `up_to_sequence` (never backwards).
    async fn mark_feed_read(
        &self,
        ctx: &Ctx,
        step: &str,
        feed: UserId,
        up_to_sequence: i64,
    ) -> Result<(), FeedError>;
}
