//! The [`Feed`] aggregate.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use kernel_domain::{AggregateRoot, Timestamp, Uuid};

use crate::{
    AGE_STEP, EntryKind, FeedError, FeedEvent, FeedId, MAX_RETAINED_ENTRIES, Payload,
    RECENT_SOURCES, RETENTION_AGE, SourceEventId, WorkspaceId,
};

/// A user's notifications: the sequence numbers handed out, which entries are retained,
/// how far the user has read, and the recent source events (see the crate docs for the
/// rules).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Feed {
    id: FeedId,
    /// The sequence number the next entry gets (1 for a new feed).
    next_seq: u64,
    /// The oldest entry still kept; `next_seq` when none is.
    first_retained_seq: u64,
    /// Every entry up to this one is read; 0 when none is.
    read_up_to_seq: u64,
    /// The source events of the newest entries, oldest first, at most [`RECENT_SOURCES`].
    recent_sources: VecDeque<RecentSource>,
    /// The retained entries grouped by age, oldest first: one step per [`AGE_STEP`] in which
    /// entries were appended. Empty exactly when no entry is retained.
    age_steps: VecDeque<AgeStep>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

/// A source event and the entry it became.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct RecentSource {
    source: SourceEventId,
    seq: u64,
}

/// Retained entries appended within one [`AGE_STEP`]: from `first_seq` up to the next step's
/// first entry (or the last entry), appended from `opened_at` on, the newest at `newest_at`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct AgeStep {
    first_seq: u64,
    #[serde(with = "chrono::serde::ts_microseconds")]
    opened_at: Timestamp,
    #[serde(with = "chrono::serde::ts_microseconds")]
    newest_at: Timestamp,
}

impl AggregateRoot for Feed {
    type Event = FeedEvent;

    fn aggregate_id(&self) -> Uuid {
        self.id.as_uuid()
    }
}

impl Feed {
    /// An empty feed for the user `id`, as of `now`. Opening a feed is no event: a feed
    /// comes into being with its first entry.
    pub fn open(id: FeedId, now: Timestamp) -> Feed {
        Feed {
            id,
            next_seq: 1,
            first_retained_seq: 1,
            read_up_to_seq: 0,
            recent_sources: VecDeque::new(),
            age_steps: VecDeque::new(),
            created_at: now,
            updated_at: now,
        }
    }

    /// The feed's id (its user's id).
    pub fn id(&self) -> FeedId {
        self.id
    }

    /// The sequence number of the newest entry; 0 before the first.
    pub fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The oldest entry still kept; [`Feed::last_seq`] + 1 when none is.
    pub fn first_retained_seq(&self) -> u64 {
        self.first_retained_seq
    }

    /// How many entries are kept.
    pub fn retained_count(&self) -> u64 {
        self.next_seq - self.first_retained_seq
    }

    /// Every entry up to this one is read; 0 when none is.
    pub fn read_up_to_seq(&self) -> u64 {
        self.read_up_to_seq
    }

    /// The retained entries after the read mark.
    pub fn unread_count(&self) -> u64 {
        let seen = self.read_up_to_seq.max(self.first_retained_seq - 1);
        self.last_seq().saturating_sub(seen)
    }

    /// When the feed was opened.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When the feed last changed.
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    /// The entry a recent source event became (see [`crate::RECENT_SOURCES`]); `None` for a
    /// source event the feed does not remember.
    pub fn source_seq(&self, source: SourceEventId) -> Option<u64> {
        self.recent_sources
            .iter()
            .rev()
            .find(|recent| recent.source == source)
            .map(|recent| recent.seq)
    }

    /// Appends an entry made from `source`, as of `now`: it gets the next sequence number,
    /// and entries past the retention are dropped (the event's `first_retained_seq` says
    /// from where entries are kept). A source event the feed remembers appends nothing: no
    /// event, no change.
    pub fn append(
        &mut self,
        source: SourceEventId,
        kind: EntryKind,
        workspace_id: Option<WorkspaceId>,
        payload: Payload,
        now: Timestamp,
    ) -> Vec<FeedEvent> {
        if self.source_seq(source).is_some() {
            return Vec::new();
        }
        self.drop_aged(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        match self.age_steps.back_mut() {
            Some(step) if now < step.opened_at + AGE_STEP => {
                step.newest_at = step.newest_at.max(now);
            }
            _ => self.age_steps.push_back(AgeStep {
                first_seq: seq,
                opened_at: now,
                newest_at: now,
            }),
        }
        if self.retained_count() > MAX_RETAINED_ENTRIES {
            self.retain_from(self.next_seq - MAX_RETAINED_ENTRIES);
        }
        self.recent_sources.push_back(RecentSource { source, seq });
        while self.recent_sources.len() > RECENT_SOURCES {
            self.recent_sources.pop_front();
        }
        self.updated_at = now;
        vec![FeedEvent::EntryAppended {
            feed_id: self.id,
            seq,
            source_event_id: source,
            kind,
            workspace_id,
            payload,
            first_retained_seq: self.first_retained_seq,
            occurred_at: now,
        }]
    }

    /// Marks the entries up to `up_to` as read, as of `now`. Refused past the last entry
    /// (`SEQUENCE_BEYOND_END`); up to an entry already read, it changes nothing.
    pub fn mark_read(&mut self, up_to: u64, now: Timestamp) -> Result<Vec<FeedEvent>, FeedError> {
        if up_to > self.last_seq() {
            return Err(FeedError::SequenceBeyondEnd {
                up_to,
                last: self.last_seq(),
            });
        }
        if up_to <= self.read_up_to_seq {
            return Ok(Vec::new());
        }
        self.read_up_to_seq = up_to;
        self.updated_at = now;
        Ok(vec![FeedEvent::Read {
            feed_id: self.id,
            read_up_to_seq: up_to,
            occurred_at: now,
        }])
    }

    /// When the oldest retained entries turn [`RETENTION_AGE`] old (and [`Feed::expire`]
    /// has work); `None` while no entry is retained.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.age_steps
            .front()
            .map(|step| step.newest_at + RETENTION_AGE)
    }

    /// Drops the entries that are [`RETENTION_AGE`] old at `now`. Nothing due is no change
    /// and no event.
    pub fn expire(&mut self, now: Timestamp) -> Vec<FeedEvent> {
        if !self.drop_aged(now) {
            return Vec::new();
        }
        self.updated_at = now;
        vec![FeedEvent::EntriesExpired {
            feed_id: self.id,
            first_retained_seq: self.first_retained_seq,
            occurred_at: now,
        }]
    }

    /// Drops the age steps whose newest entry is [`RETENTION_AGE`] old at `now`; whether any
    /// entry was dropped.
    fn drop_aged(&mut self, now: Timestamp) -> bool {
        let mut dropped = false;
        while let Some(step) = self.age_steps.front() {
            if step.newest_at + RETENTION_AGE > now {
                break;
            }
            self.age_steps.pop_front();
            dropped = true;
        }
        if dropped {
            self.first_retained_seq = self
                .age_steps
                .front()
                .map_or(self.next_seq, |step| step.first_seq);
        }
        dropped
    }

    /// Keeps the entries from `first` on (by count), trimming the age steps to match.
    fn retain_from(&mut self, first: u64) {
        self.first_retained_seq = self.first_retained_seq.max(first);
        while self.age_steps.len() > 1
            && self
                .age_steps
                .get(1)
                .is_some_and(|next| next.first_seq <= self.first_retained_seq)
        {
            self.age_steps.pop_front();
        }
        if let Some(front) = self.age_steps.front_mut() {
            front.first_seq = front.first_seq.max(self.first_retained_seq);
        }
    }
}
