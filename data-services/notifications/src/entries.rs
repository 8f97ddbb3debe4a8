//! Reading a feed's entries from `feed_entries`, and one page of them after a sequence
//! number with the reset rule.

use notifications_migrations::{FEED_ENTRIES_TABLE, FEED_ENTRY_COLUMNS};
use platform::{rpc::timestamp, store::StoreError};
use saas_proto::notifications::v1 as pb;
use sea_orm::{
    ConnectionTrait, QueryResult,
    sea_query::{Expr, ExprTrait, Order, Query, SelectStatement},
};
use uuid::Uuid;

use crate::{FeedStore, wire::sequence};

/// The entries after a sequence number as one read saw them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EntryPage {
    /// In sequence order, contiguous.
    pub entries: Vec<pb::FeedEntry>,
    /// Entries right after the position asked for were dropped by retention.
    pub reset: bool,
    /// The feed's last sequence number.
    pub last: u64,
    /// The feed's first retained sequence number.
    pub first_retained: u64,
}

/// Reads up to `limit` entries of `feed` after `after`, then the feed itself; `None` when
/// there is no such feed.
///
/// The entry rows present are always exactly the retained entries (the pipeline drops rows
/// in the transaction that stops retaining them), and the feed is read *after* the rows. So
/// when the rows read start later than `after + 1`, the feed read afterwards retains no
/// earlier entry either, and the page says `reset`: a caller is never handed a silent gap.
pub(crate) async fn page(
    store: &FeedStore,
    feed: Uuid,
    after: u64,
    limit: u64,
) -> Result<Option<EntryPage>, StoreError> {
    let entries = after_seq(store, feed, after, limit).await?;
    let Some(stored) = store.get(feed).await? else {
        return Ok(None);
    };
    let first_retained = stored.aggregate.first_retained_seq();
    Ok(Some(EntryPage {
        entries,
        reset: after.saturating_add(1) < first_retained,
        last: stored.aggregate.last_seq(),
        first_retained,
    }))
}

/// The entry rows of `feed`, with their columns in [`FEED_ENTRY_COLUMNS`] order.
fn rows_of(feed: Uuid) -> SelectStatement {
    Query::select()
        .columns(FEED_ENTRY_COLUMNS.iter().copied())
        .from(FEED_ENTRIES_TABLE)
        .and_where(Expr::col("feed_id").eq(feed.to_string()))
        .to_owned()
}

/// Up to `limit` entries of `feed` after `after`, in order.
async fn after_seq(
    store: &FeedStore,
    feed: Uuid,
    after: u64,
    limit: u64,
) -> Result<Vec<pb::FeedEntry>, StoreError> {
    let query = rows_of(feed)
        .and_where(Expr::col("seq").gt(sequence(after)))
        .order_by("seq", Order::Asc)
        .limit(limit)
        .to_owned();
    let rows = store.db().query_all(&query).await?;
    rows.iter().map(entry).collect()
}

/// The entry `seq` of `feed`, if it is still kept.
pub(crate) async fn one(
    store: &FeedStore,
    feed: Uuid,
    seq: u64,
) -> Result<Option<pb::FeedEntry>, StoreError> {
    let query = rows_of(feed)
        .and_where(Expr::col("seq").eq(sequence(seq)))
        .to_owned();
    let row = store.db().query_one(&query).await?;
    row.as_ref().map(entry).transpose()
}

fn entry(row: &QueryResult) -> Result<pb::FeedEntry, StoreError> {
    let created_at: i64 = row.try_get_by_index(6)?;
    let created_at = chrono::DateTime::from_timestamp_micros(created_at)
        .ok_or_else(|| StoreError::internal(format!("entry time {created_at} is out of range")))?;
    let workspace_id: Option<String> = row.try_get_by_index(3)?;
    Ok(pb::FeedEntry {
        feed_id: row.try_get_by_index(0)?,
        sequence: row.try_get_by_index(1)?,
        kind: row.try_get_by_index(2)?,
        workspace_id: workspace_id.unwrap_or_default(),
        payload_json: row.try_get_by_index(4)?,
        source_event_id: row.try_get_by_index(5)?,
        create_time: Some(timestamp(created_at)),
    })
}
