//! One test per rule of the crate docs.

use kernel_domain::{AggregateRoot, DomainEvent};

use super::*;
use crate::{AGE_STEP, FeedError, MAX_RETAINED_ENTRIES, RECENT_SOURCES, RETENTION_AGE};

#[test]
fn a_new_feed_is_empty_and_belongs_to_its_user() {
    let feed = empty();
    assert_eq!(feed.id(), fid(1));
    assert_eq!(feed.aggregate_id(), fid(1).as_uuid());
    assert_eq!(feed.last_seq(), 0);
    assert_eq!(feed.first_retained_seq(), 1);
    assert_eq!(feed.retained_count(), 0);
    assert_eq!(feed.read_up_to_seq(), 0);
    assert_eq!(feed.unread_count(), 0);
    assert_eq!(feed.next_due(), None);
    assert_eq!((feed.created_at(), feed.updated_at()), (t0(), t0()));
}

#[test]
fn sequence_numbers_start_at_one_and_grow_by_one() {
    let mut feed = empty();
    for n in 1..=5u64 {
        let events = add(&mut feed, u128::from(n), t0() + minutes(n as i64));
        assert_eq!(appended_seq(&events), n);
        assert_eq!(feed.last_seq(), n);
    }
    assert_eq!(feed.retained_count(), 5);
    assert_eq!(feed.unread_count(), 5);
    assert_eq!(feed.updated_at(), t0() + minutes(5));
}

#[test]
fn an_appended_entry_carries_everything_about_it() {
    let mut feed = empty();
    let events = feed.append(
        src(7),
        kind("subscription_past_due"),
        Some(wid(3)),
        payload("{\"plan\":\"team\"}"),
        t0(),
    );
    assert_eq!(
        events,
        vec![FeedEvent::EntryAppended {
            feed_id: fid(1),
            seq: 1,
            source_event_id: src(7),
            kind: kind("subscription_past_due"),
            workspace_id: Some(wid(3)),
            payload: payload("{\"plan\":\"team\"}"),
            first_retained_seq: 1,
            occurred_at: t0(),
        }]
    );
    assert_eq!(events[0].event_type(), "notifications.feed.entry_appended");
}

#[test]
fn appending_a_source_event_again_appends_nothing_and_changes_nothing() {
    let mut feed = empty();
    add(&mut feed, 1, t0());
    add(&mut feed, 2, t0() + minutes(1));
    let before = feed.clone();
    let events = feed.append(
        src(1),
        kind("something_else"),
        Some(wid(9)),
        payload("{\"other\":true}"),
        t0() + minutes(2),
    );
    assert!(events.is_empty());
    assert_eq!(feed, before);
    assert_eq!(feed.source_seq(src(1)), Some(1));
    assert_eq!(feed.source_seq(src(2)), Some(2));
    assert_eq!(feed.source_seq(src(3)), None);
}

#[test]
fn the_feed_remembers_the_source_events_of_its_last_256_entries() {
    let mut feed = empty();
    let count = RECENT_SOURCES as u128 + 1;
    for n in 1..=count {
        add(&mut feed, n, t0());
    }
    assert_eq!(feed.source_seq(src(1)), None, "the oldest was forgotten");
    for n in 2..=count {
        assert_eq!(feed.source_seq(src(n)), Some(n as u64));
        assert!(add(&mut feed, n, t0()).is_empty());
    }
    // A forgotten source event is appended again.
    assert_eq!(appended_seq(&add(&mut feed, 1, t0())), count as u64 + 1);
}

#[test]
fn only_the_newest_ten_thousand_entries_are_retained() {
    let mut feed = empty();
    for n in 1..=MAX_RETAINED_ENTRIES {
        add(&mut feed, u128::from(n), t0() + minutes(n as i64 / 100));
    }
    assert_eq!(feed.first_retained_seq(), 1);
    assert_eq!(feed.retained_count(), MAX_RETAINED_ENTRIES);

    let events = add(&mut feed, 1_000_001, t0() + days(1));
    match events.as_slice() {
        [
            FeedEvent::EntryAppended {
                seq,
                first_retained_seq,
                ..
            },
        ] => {
            assert_eq!(*seq, MAX_RETAINED_ENTRIES + 1);
            assert_eq!(*first_retained_seq, 2, "the oldest entry was dropped");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(feed.retained_count(), MAX_RETAINED_ENTRIES);
    for n in 0..250u128 {
        add(&mut feed, 2_000_000 + n, t0() + days(1));
    }
    assert_eq!(feed.first_retained_seq(), 252);
    assert_eq!(feed.retained_count(), MAX_RETAINED_ENTRIES);
}

#[test]
fn entries_older_than_thirty_days_are_dropped_when_the_next_one_is_appended() {
    let mut feed = empty();
    add(&mut feed, 1, t0());
    add(&mut feed, 2, t0() + days(2));
    add(&mut feed, 3, t0() + days(2) + minutes(1));

    // 30 days after the first entry: it is dropped, the others (28 days old) are kept.
    let events = add(&mut feed, 4, t0() + RETENTION_AGE);
    match events.as_slice() {
        [
            FeedEvent::EntryAppended {
                seq: 4,
                first_retained_seq: 2,
                ..
            },
        ] => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(feed.retained_count(), 3);

    // Long after everything: only the new entry is kept.
    let events = add(&mut feed, 5, t0() + days(100));
    match events.as_slice() {
        [
            FeedEvent::EntryAppended {
                seq: 5,
                first_retained_seq: 5,
                ..
            },
        ] => {}
        other => panic!("{other:?}"),
    }
    assert_eq!(feed.retained_count(), 1);
}

#[test]
fn an_entry_is_kept_at_least_thirty_days_and_dropped_within_the_hour_after() {
    let mut feed = empty();
    add(&mut feed, 1, t0());
    add(&mut feed, 2, t0() + minutes(59));
    add(&mut feed, 3, t0() + minutes(61));

    // Entries 1 and 2 are one age step; it ends when entry 2 turns 30 days old.
    let due = feed.next_due().unwrap();
    assert_eq!(due, t0() + minutes(59) + RETENTION_AGE);
    assert!(due - (t0() + RETENTION_AGE) < AGE_STEP);

    let before = feed.clone();
    assert!(feed.expire(due - minutes(1)).is_empty(), "not yet due");
    assert_eq!(feed, before);

    let events = feed.expire(due);
    assert_eq!(
        events,
        vec![FeedEvent::EntriesExpired {
            feed_id: fid(1),
            first_retained_seq: 3,
            occurred_at: due,
        }]
    );
    assert_eq!(events[0].event_type(), "notifications.feed.entries_expired");
    assert_eq!(feed.first_retained_seq(), 3);
    assert_eq!(feed.updated_at(), due);
    assert_eq!(feed.next_due(), Some(t0() + minutes(61) + RETENTION_AGE));
}

#[test]
fn when_every_entry_expired_none_is_retained_and_nothing_is_due() {
    let mut feed = empty();
    add(&mut feed, 1, t0());
    add(&mut feed, 2, t0() + days(1));
    let events = feed.expire(t0() + days(40));
    assert_eq!(
        events,
        vec![FeedEvent::EntriesExpired {
            feed_id: fid(1),
            first_retained_seq: 3,
            occurred_at: t0() + days(40),
        }]
    );
    assert_eq!(feed.retained_count(), 0);
    assert_eq!(feed.first_retained_seq(), feed.last_seq() + 1);
    assert_eq!(feed.next_due(), None);
    assert_eq!(feed.unread_count(), 0);
    assert!(
        feed.expire(t0() + days(80)).is_empty(),
        "once applied, nothing is due"
    );

    // Numbering goes on.
    assert_eq!(appended_seq(&add(&mut feed, 3, t0() + days(41))), 3);
}

#[test]
fn an_empty_feed_has_nothing_to_expire() {
    let mut feed = empty();
    assert!(feed.expire(t0() + days(365)).is_empty());
    assert_eq!(feed, empty());
}

#[test]
fn marking_read_moves_the_read_mark_forward() {
    let mut feed = empty();
    for n in 1..=4 {
        add(&mut feed, n, t0());
    }
    let events = feed.mark_read(3, t0() + minutes(5)).unwrap();
    assert_eq!(
        events,
        vec![FeedEvent::Read {
            feed_id: fid(1),
            read_up_to_seq: 3,
            occurred_at: t0() + minutes(5),
        }]
    );
    assert_eq!(events[0].event_type(), "notifications.feed.read");
    assert_eq!(feed.read_up_to_seq(), 3);
    assert_eq!(feed.unread_count(), 1);
    assert_eq!(feed.updated_at(), t0() + minutes(5));
}

#[test]
fn marking_read_never_moves_backwards() {
    let mut feed = empty();
    for n in 1..=4 {
        add(&mut feed, n, t0());
    }
    feed.mark_read(3, t0()).unwrap();
    let before = feed.clone();
    assert!(feed.mark_read(3, t0() + minutes(1)).unwrap().is_empty());
    assert!(feed.mark_read(1, t0() + minutes(1)).unwrap().is_empty());
    assert!(feed.mark_read(0, t0() + minutes(1)).unwrap().is_empty());
    assert_eq!(feed, before);
}

#[test]
fn marking_read_beyond_the_last_entry_is_refused() {
    let mut feed = empty();
    assert_eq!(
        feed.mark_read(1, t0()),
        Err(FeedError::SequenceBeyondEnd { up_to: 1, last: 0 })
    );
    add(&mut feed, 1, t0());
    add(&mut feed, 2, t0());
    let before = feed.clone();
    assert_eq!(
        feed.mark_read(3, t0()),
        Err(FeedError::SequenceBeyondEnd { up_to: 3, last: 2 })
    );
    assert_eq!(feed, before);
    assert!(feed.mark_read(2, t0()).is_ok());
}

#[test]
fn the_unread_count_counts_only_retained_entries_after_the_read_mark() {
    let mut feed = empty();
    add(&mut feed, 1, t0());
    add(&mut feed, 2, t0());
    add(&mut feed, 3, t0() + days(10));
    feed.mark_read(1, t0() + days(10)).unwrap();
    assert_eq!(feed.unread_count(), 2);
    // Entries 1 and 2 expire: only entry 3 is left to read.
    feed.expire(t0() + days(31));
    assert_eq!(feed.first_retained_seq(), 3);
    assert_eq!(feed.unread_count(), 1);
}

#[test]
fn the_feed_survives_a_round_trip_through_its_stored_form() {
    let mut feed = empty();
    add(&mut feed, 1, t0());
    add(&mut feed, 2, t0() + days(1));
    feed.mark_read(1, t0() + days(1)).unwrap();
    let stored = serde_json::to_string(&feed).unwrap();
    let read: Feed = serde_json::from_str(&stored).unwrap();
    assert_eq!(read, feed);
}
