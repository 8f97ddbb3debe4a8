//! What happens to a feed, in the past tense.

use serde::{Deserialize, Serialize};

use kernel_domain::{DomainEvent, Timestamp};

use crate::{EntryKind, FeedId, Payload, SourceEventId, WorkspaceId};

/// Something that happened to a [`crate::Feed`].
///
/// Every event names the feed and when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FeedEvent {
    /// An entry was appended; the event carries the whole entry.
    EntryAppended {
        /// Which feed.
        feed_id: FeedId,
        /// The entry's sequence number.
        seq: u64,
        /// The event it was made from.
        source_event_id: SourceEventId,
        /// What kind of notification.
        kind: EntryKind,
        /// The workspace it is about, if any.
        workspace_id: Option<WorkspaceId>,
        /// Its details.
        payload: Payload,
        /// The oldest entry the feed keeps after this append (entries before it were dropped).
        first_retained_seq: u64,
        /// When (the entry's time).
        occurred_at: Timestamp,
    },
    /// The entries up to a sequence number were read.
    Read {
        /// Which feed.
        feed_id: FeedId,
        /// Every entry up to this one is read.
        read_up_to_seq: u64,
        /// When.
        occurred_at: Timestamp,
    },
    /// Entries older than the retention were dropped.
    EntriesExpired {
        /// Which feed.
        feed_id: FeedId,
        /// The oldest entry the feed still keeps (the last sequence number + 1 when none).
        first_retained_seq: u64,
        /// When.
        occurred_at: Timestamp,
    },
}

impl DomainEvent for FeedEvent {
    fn event_type(&self) -> &'static str {
        match self {
            FeedEvent::EntryAppended { .. } => "notifications.feed.entry_appended",
            FeedEvent::Read { .. } => "notifications.feed.read",
            FeedEvent::EntriesExpired { .. } => "notifications.feed.entries_expired",
        }
    }
}
