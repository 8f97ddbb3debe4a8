//! The fuzz targets, one `#[test]` each, and the input shapes they share.

mod aggregates;
mod decode;
mod jwt;
mod last_event_id;
mod values;

use chrono::{DateTime, Duration, Utc};
use proptest::prelude::*;

/// Text as clients send it: anything printable, control characters and odd whitespace,
/// long runs, and the ASCII that the value objects' rules are about.
pub fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "\\PC{0,40}",
        2 => "[ \\t\\r\\n\\x00-\\x1f\\x7f\\u{a0}\\u{85}\\u{2028}\\u{200b}\\u{feff}a-zA-Z0-9@._+-]{0,48}",
        2 => "[a-z0-9][a-z0-9.+_-]{0,20}@[a-z0-9-]{1,12}(\\.[a-z]{1,6}){0,2}",
        1 => ".{0,300}",
        1 => any::<String>(),
    ]
}

/// An instant between 2000 and 2200: clocks are the system's, never a client's.
pub fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    (946_684_800i64..7_258_118_400).prop_map(|s| DateTime::from_timestamp(s, 0).unwrap_or_default())
}

/// How far the clock moves between two commands: mostly a little, sometimes weeks.
pub fn step() -> impl Strategy<Value = Duration> {
    prop_oneof![
        4 => (0i64..3_600).prop_map(Duration::seconds),
        2 => (0i64..72).prop_map(Duration::hours),
        1 => (0i64..120).prop_map(Duration::days),
    ]
}
