//! Tests of the Notifications rules, named after the rule they check.

mod properties;
mod rules;
mod values;

use chrono::{DateTime, Duration};
use kernel_domain::{Timestamp, Uuid};

use crate::{EntryKind, Feed, FeedEvent, FeedId, Payload, SourceEventId, WorkspaceId};

/// 2023-11-14T22:13:20Z.
pub(crate) fn t0() -> Timestamp {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

pub(crate) fn days(n: i64) -> Duration {
    Duration::days(n)
}

pub(crate) fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

pub(crate) fn fid(n: u128) -> FeedId {
    FeedId::from_uuid(Uuid::from_u128(n))
}

pub(crate) fn wid(n: u128) -> WorkspaceId {
    WorkspaceId::from_uuid(Uuid::from_u128(n))
}

pub(crate) fn src(n: u128) -> SourceEventId {
    SourceEventId::from_uuid(Uuid::from_u128(n))
}

pub(crate) fn kind(raw: &str) -> EntryKind {
    EntryKind::parse(raw).unwrap()
}

pub(crate) fn payload(raw: &str) -> Payload {
    Payload::parse(raw).unwrap()
}

/// An empty feed of user 1, opened at [`t0`].
pub(crate) fn empty() -> Feed {
    Feed::open(fid(1), t0())
}

/// Appends an entry made from source `n` at `now`; the events it raised.
pub(crate) fn add(feed: &mut Feed, n: u128, now: Timestamp) -> Vec<FeedEvent> {
    feed.append(src(n), kind("member_joined"), None, payload("{}"), now)
}

/// The sequence number of an `EntryAppended` event.
pub(crate) fn appended_seq(events: &[FeedEvent]) -> u64 {
    match events {
        [FeedEvent::EntryAppended { seq, .. }] => *seq,
        other => panic!("expected one EntryAppended, got {other:?}"),
    }
}
