//! Domain to wire: how a stored `Feed` and its entries look on `saas.notifications.v1`.

use kernel_domain::Timestamp;
use notifications_domain::Feed;
use platform::{rpc::timestamp, store::Stored};
use saas_proto::notifications::v1 as pb;

pub(crate) fn feed(stored: &Stored<Feed>, _now: Timestamp) -> pb::Feed {
    let feed = &stored.aggregate;
    pb::Feed {
        id: feed.id().to_string(),
        last_sequence: sequence(feed.last_seq()),
        first_retained_sequence: sequence(feed.first_retained_seq()),
        read_up_to_sequence: sequence(feed.read_up_to_seq()),
        unread_count: sequence(feed.unread_count()),
        etag: stored.version.to_etag(),
        create_time: Some(timestamp(feed.created_at())),
        update_time: Some(timestamp(feed.updated_at())),
    }
}

/// A sequence number (or count) on the wire and in the database.
pub(crate) fn sequence(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// An entry's time on the wire: whole microseconds, as it is stored, so an entry reads the
/// same however it is obtained (the append's answer, a list, a watch, an event).
pub(crate) fn entry_time(time: Timestamp) -> prost_types::Timestamp {
    let stored = chrono::DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time);
    timestamp(stored)
}
