//! Property tests: random command sequences on a feed, checked against a plain model of
//! every entry ever appended.

use chrono::Duration;
use proptest::prelude::*;

use super::*;
use crate::{AGE_STEP, FeedError, MAX_RETAINED_ENTRIES, RECENT_SOURCES, RETENTION_AGE};

#[derive(Debug, Clone)]
enum Op {
    /// Let time pass (minutes), then append from source `source`.
    Append { after_minutes: i64, source: u8 },
    /// Let time pass (hours), then mark read up to `last_seq - back` (or beyond, when
    /// `back` is negative).
    MarkRead { after_hours: i64, back: i64 },
    /// Let time pass (days), then run the sweep.
    Expire { after_days: i64 },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0i64..180, any::<u8>()).prop_map(|(after_minutes, source)| Op::Append { after_minutes, source }),
        2 => (0i64..48, -2i64..6).prop_map(|(after_hours, back)| Op::MarkRead { after_hours, back }),
        1 => (0i64..20).prop_map(|after_days| Op::Expire { after_days }),
    ]
}

/// One entry as the model remembers it.
struct Entry {
    seq: u64,
    source: u128,
    at: Timestamp,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn random_commands_keep_every_rule(ops in prop::collection::vec(op(), 1..400)) {
        let mut feed = empty();
        let mut now = t0();
        let mut model: Vec<Entry> = Vec::new();
        let mut read_mark = 0u64;
        for op in ops {
            let before = feed.clone();
            match op {
                Op::Append { after_minutes, source } => {
                    now += Duration::minutes(after_minutes);
                    let source = u128::from(source);
                    let remembered = model
                        .iter()
                        .rev()
                        .take(RECENT_SOURCES)
                        .find(|entry| entry.source == source)
                        .map(|entry| entry.seq);
                    let events = add(&mut feed, source, now);
                    match remembered {
                        Some(seq) => {
                            prop_assert!(events.is_empty(), "a duplicate raises no event");
                            prop_assert_eq!(&feed, &before, "a duplicate changes nothing");
                            prop_assert_eq!(feed.source_seq(src(source)), Some(seq));
                        }
                        None => {
                            let seq = appended_seq(&events);
                            prop_assert_eq!(seq, before.last_seq() + 1, "numbers grow by one");
                            model.push(Entry { seq, source, at: now });
                            match &events[0] {
                                FeedEvent::EntryAppended { first_retained_seq, .. } => {
                                    prop_assert_eq!(*first_retained_seq, feed.first_retained_seq());
                                }
                                other => prop_assert!(false, "{other:?}"),
                            }
                        }
                    }
                }
                Op::MarkRead { after_hours, back } => {
                    now += Duration::hours(after_hours);
                    let up_to = feed.last_seq().saturating_add_signed(-back);
                    match feed.mark_read(up_to, now) {
                        Ok(events) => {
                            prop_assert!(up_to <= before.last_seq());
                            prop_assert_eq!(events.is_empty(), up_to <= read_mark);
                            read_mark = read_mark.max(up_to);
                        }
                        Err(error) => {
                            prop_assert_eq!(error, FeedError::SequenceBeyondEnd { up_to, last: before.last_seq() });
                            prop_assert_eq!(&feed, &before);
                        }
                    }
                }
                Op::Expire { after_days } => {
                    now += Duration::days(after_days);
                    let events = feed.expire(now);
                    prop_assert_eq!(events.is_empty(), feed.first_retained_seq() == before.first_retained_seq());
                    // After a sweep nothing retained is a step past 30 days old.
                    for entry in model.iter().filter(|e| e.seq >= feed.first_retained_seq()) {
                        prop_assert!(entry.at + RETENTION_AGE + AGE_STEP > now, "entry {} kept too long", entry.seq);
                    }
                    if let Some(due) = feed.next_due() {
                        prop_assert!(due > now, "nothing is due right after a sweep");
                    }
                }
            }

            // Invariants after every command.
            let last = model.last().map_or(0, |e| e.seq);
            prop_assert_eq!(feed.last_seq(), last);
            prop_assert!(feed.first_retained_seq() >= before.first_retained_seq(), "retention never moves back");
            prop_assert!(feed.first_retained_seq() <= last + 1);
            prop_assert!(feed.retained_count() <= MAX_RETAINED_ENTRIES);
            prop_assert_eq!(feed.read_up_to_seq(), read_mark);
            prop_assert!(feed.read_up_to_seq() <= last);
            prop_assert!(feed.unread_count() <= feed.retained_count());
            prop_assert_eq!(feed.next_due().is_some(), feed.retained_count() > 0);
            // No entry younger than 30 days is ever dropped (the count limit is not reached here).
            for entry in model.iter().filter(|e| e.seq < feed.first_retained_seq()) {
                prop_assert!(entry.at + RETENTION_AGE <= now, "entry {} dropped too early", entry.seq);
            }
            // The oldest retained entries are due within a step of turning 30 days old.
            if let (Some(due), Some(oldest)) = (feed.next_due(), model.iter().find(|e| e.seq == feed.first_retained_seq())) {
                prop_assert!(due >= oldest.at + RETENTION_AGE);
                prop_assert!(due < oldest.at + RETENTION_AGE + AGE_STEP);
            }
        }
    }
}
