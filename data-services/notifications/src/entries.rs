//! Reading a feed's entries from `feed_entries`, and one page of them after a sequence
//! number with the reset rule.

use platform::{db::placeholders, rpc::timestamp};
use saas_proto::notifications::v1 as pb;
use sea_orm::{ConnectionTrait, QueryResult, Statement, Value};
use tonic::Status;
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
) -> Result<Option<EntryPage>, Status> {
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

/// Up to `limit` entries of `feed` after `after`, in order.
async fn after_seq(
    store: &FeedStore,
    feed: Uuid,
    after: u64,
    limit: u64,
) -> Result<Vec<pb::FeedEntry>, Status> {
    let rows = query(
        store,
        "SELECT feed_id, seq, kind, workspace_id, payload, source_event_id, created_at \
         FROM feed_entries WHERE feed_id = ? AND seq > ? ORDER BY seq LIMIT ?",
        vec![
            feed.to_string().into(),
            sequence(after).into(),
            sequence(limit).into(),
        ],
    )
    .await?;
    rows.iter().map(|row| entry(store, row)).collect()
}

/// The entry `seq` of `feed`, if it is still kept.
pub(crate) async fn one(
    store: &FeedStore,
    feed: Uuid,
    seq: u64,
) -> Result<Option<pb::FeedEntry>, Status> {
    let rows = query(
        store,
        "SELECT feed_id, seq, kind, workspace_id, payload, source_event_id, created_at \
         FROM feed_entries WHERE feed_id = ? AND seq = ?",
        vec![feed.to_string().into(), sequence(seq).into()],
    )
    .await?;
    rows.first().map(|row| entry(store, row)).transpose()
}

async fn query(
    store: &FeedStore,
    sql: &str,
    values: Vec<Value>,
) -> Result<Vec<QueryResult>, Status> {
    let backend = store.db().get_database_backend();
    store
        .db()
        .query_all_raw(Statement::from_sql_and_values(
            backend,
            placeholders(backend, sql),
            values,
        ))
        .await
        .map_err(|e| store.internal(e))
}

fn entry(store: &FeedStore, row: &QueryResult) -> Result<pb::FeedEntry, Status> {
    let created_at: i64 = row.try_get_by_index(6).map_err(|e| store.internal(e))?;
    let created_at = chrono::DateTime::from_timestamp_micros(created_at)
        .ok_or_else(|| store.internal(format!("entry time {created_at} is out of range")))?;
    let workspace_id: Option<String> = row.try_get_by_index(3).map_err(|e| store.internal(e))?;
    Ok(pb::FeedEntry {
        feed_id: row.try_get_by_index(0).map_err(|e| store.internal(e))?,
        sequence: row.try_get_by_index(1).map_err(|e| store.internal(e))?,
        kind: row.try_get_by_index(2).map_err(|e| store.internal(e))?,
        workspace_id: workspace_id.unwrap_or_default(),
        payload_json: row.try_get_by_index(4).map_err(|e| store.internal(e))?,
        source_event_id: row.try_get_by_index(5).map_err(|e| store.internal(e))?,
        create_time: Some(timestamp(created_at)),
    })
}
