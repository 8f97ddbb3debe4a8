//! The Notifications bounded context: what each user is told, in order.
//!
//! # The feed
//!
//! A [`Feed`] is the aggregate at the centre of Notifications. There is one per user, and its
//! id is the user's id ([`FeedId`]). It is an append-only sequence of **entries**: each has a
//! **sequence number** (1 for the first entry of a feed, then one more than the entry before,
//! never reused), a **kind** ([`EntryKind`]: snake_case, a lower-case letter followed by
//! lower-case letters, digits or `_`, 1 to 64 of them), optionally the **workspace** it is
//! about, a **payload** ([`Payload`]: a JSON object of at most 8 KiB, kept as given), the
//! **source event** it was made from, and the time it was appended.
//!
//! The entries themselves are not part of the aggregate's state: the feed decides their
//! sequence numbers and which of them are retained, and each accepted append is an
//! [`FeedEvent::EntryAppended`] that carries the whole entry, which the store keeps beside
//! the feed. So the feed stays small however many entries it holds.
//!
//! # Appending
//!
//! [`Feed::append`] gives the entry the next sequence number. Appending is **idempotent by
//! the source event id**: the feed remembers the source events of its last
//! [`RECENT_SOURCES`] (256) entries, and appending one of those again appends nothing,
//! raises no event and changes nothing ([`Feed::source_seq`] tells which entry it became).
//! Source events older than that are forgotten, so whoever appends must not resend events
//! that old.
//!
//! # Retention
//!
//! A feed keeps its newest [`MAX_RETAINED_ENTRIES`] (10,000) entries, and only those of the
//! last [`RETENTION_AGE`] (30 days):
//!
//! - **by count**: when an append makes the feed hold more than 10,000 entries, the oldest is
//!   dropped;
//! - **by age**: entries older than 30 days are dropped. The feed tracks ages in steps of
//!   [`AGE_STEP`] (one hour), so an entry is kept at least 30 days and is dropped within the
//!   hour after (plus however long the next sweep takes). Age retention applies on every
//!   append, and by itself: [`Feed::next_due`] says when the oldest retained entries turn 30
//!   days old, and [`Feed::expire`] drops them then ([`FeedEvent::EntriesExpired`]).
//!
//! The feed tracks the **first retained sequence number** ([`Feed::first_retained_seq`]):
//! every entry from it to the last is kept, every entry before it is gone. A reader that asks
//! for the entries after a sequence number before that range has missed entries, and is told
//! so (a reset), never handed a silent gap.
//!
//! # Reading
//!
//! [`Feed::mark_read`] marks the entries up to a sequence number as read. It may not go past
//! the last entry (`SEQUENCE_BEYOND_END`), and it never moves backwards: marking up to a
//! sequence number already read changes nothing and raises no event. The **unread count** is
//! the number of retained entries after the read mark.
//!
//! **Architecture invariant:** nothing here performs I/O, reads a clock, draws random
//! numbers, spawns or awaits. Ids and `now` are handed in.

mod error;
mod events;
mod feed;
mod values;

#[cfg(test)]
mod tests;

use chrono::Duration;

pub use error::FeedError;
pub use events::FeedEvent;
pub use feed::Feed;
pub use values::{EntryKind, Payload};

kernel_domain::entity_id!(
    /// The id of a [`Feed`]: the id of the user it belongs to (owned by the Identity context).
    FeedId
);
kernel_domain::entity_id!(
    /// The id of a workspace an entry is about (owned by the Workspace context).
    WorkspaceId
);
kernel_domain::entity_id!(
    /// The id of the event an entry was made from (an integration event's id).
    SourceEventId
);

/// How long an entry is kept: 30 days of 24 hours.
pub const RETENTION_AGE: Duration = Duration::days(30);
/// The most entries a feed keeps.
pub const MAX_RETAINED_ENTRIES: u64 = 10_000;
/// The resolution of age retention: entries appended within one step of each other are
/// dropped together, when the newest of them turns [`RETENTION_AGE`] old.
pub const AGE_STEP: Duration = Duration::hours(1);
/// How many of its newest entries' source events a feed remembers, to append each once.
pub const RECENT_SOURCES: usize = 256;
/// The longest kind, in characters.
pub const MAX_KIND_LEN: usize = 64;
/// The largest payload, in bytes of JSON text.
pub const MAX_PAYLOAD_BYTES: usize = 8 * 1024;
