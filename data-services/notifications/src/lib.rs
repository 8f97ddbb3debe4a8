//! The Notifications data service: the `Feed` aggregate behind
//! `saas.notifications.v1.FeedService`.
//!
//! - [`open`] opens (and migrates) the store,
//! - [`feed_service`] builds the tonic service over it ([`FeedApi::new`] and
//!   [`feed_service_with`] when the caller also wants to end open watches at shutdown).
//!
//! A feed is stored as a document; its entries are rows of `feed_entries` beside it, written
//! and dropped in the command's own transaction through [`FeedSchema`]'s projection, so the
//! rows present are always exactly the feed's retained entries. Age retention also runs by
//! itself: the schema tells the store when a feed next has entries turning 30 days old, and
//! the store's sweeper drops them through the pipeline.
//!
//! Every domain event is published as its message of `saas/notifications/v1/events.proto`
//! (see `events.rs`); an entry about a workspace concerns that workspace.

mod api;
mod entries;
mod events;
mod wire;

use std::sync::Arc;

use kernel_domain::{AggregateRoot, Clock, Rejection, RejectionKind, Timestamp};
use notifications_domain::{Feed, FeedEvent};
use platform::{
    db::PoolSize,
    migration::IndexedColumn,
    store::{IntegrationEvent, Projection, Store},
};
use saas_proto::notifications::v1::feed_service_server::FeedServiceServer;
use sea_orm::sea_query::{Cond, Expr, ExprTrait};

pub use api::FeedApi;

/// The error domain of this service's `ErrorInfo`.
pub const ERROR_DOMAIN: &str = "notifications.saas";

/// How `Feed` documents and their entries are laid out (see `notifications-migrations`).
pub struct FeedSchema;

impl platform::store::Schema for FeedSchema {
    type Aggregate = Feed;
    const TABLE: &'static str = notifications_migrations::FEEDS_TABLE;
    const AGGREGATE_TYPE: &'static str = "notifications.feed";
    const ERROR_DOMAIN: &'static str = ERROR_DOMAIN;
    const COLUMNS: &'static [IndexedColumn] = notifications_migrations::FEED_COLUMNS;

    fn column_values(_feed: &Feed) -> Vec<Option<String>> {
        Vec::new()
    }

    fn taken(_column: &str) -> Rejection {
        feed_exists()
    }

    fn not_found() -> Rejection {
        Rejection::new(RejectionKind::NotFound, "FEED_NOT_FOUND", "no such feed")
    }

    fn integration_event(feed: &Feed, event: &FeedEvent) -> IntegrationEvent {
        events::integration_event(feed, event)
    }

    fn due_at(feed: &Feed) -> Option<Timestamp> {
        feed.next_due()
    }

    fn apply_due(feed: &mut Feed, now: Timestamp) -> Result<Vec<FeedEvent>, Rejection> {
        Ok(feed.expire(now))
    }

    /// An appended entry becomes its row; the rows before the first retained entry go.
    fn project(feed: &Feed, event: &FeedEvent) -> Vec<Projection> {
        let feed_id = feed.aggregate_id().to_string();
        match event {
            FeedEvent::EntryAppended {
                seq,
                source_event_id,
                kind,
                workspace_id,
                payload,
                first_retained_seq,
                occurred_at,
                ..
            } => vec![
                Projection::Insert {
                    table: notifications_migrations::FEED_ENTRIES_TABLE,
                    columns: notifications_migrations::FEED_ENTRY_COLUMNS,
                    values: vec![
                        feed_id.clone().into(),
                        wire::sequence(*seq).into(),
                        kind.as_str().to_owned().into(),
                        workspace_id.map(|id| id.to_string()).into(),
                        payload.as_str().to_owned().into(),
                        source_event_id.to_string().into(),
                        occurred_at.timestamp_micros().into(),
                    ],
                },
                drop_before(feed_id, *first_retained_seq),
            ],
            FeedEvent::EntriesExpired {
                first_retained_seq, ..
            } => vec![drop_before(feed_id, *first_retained_seq)],
            FeedEvent::Read { .. } => Vec::new(),
        }
    }

    fn id_taken() -> Option<Rejection> {
        Some(feed_exists())
    }
}

/// The rejection of creating a feed that exists (a lost race between two first appends,
/// which the service retries as an append to the existing feed).
fn feed_exists() -> Rejection {
    Rejection::new(
        RejectionKind::AlreadyExists,
        "FEED_EXISTS",
        "the feed already exists",
    )
}

/// Deletes the entry rows of `feed_id` before `first_retained`.
fn drop_before(feed_id: String, first_retained: u64) -> Projection {
    Projection::Delete {
        table: notifications_migrations::FEED_ENTRIES_TABLE,
        condition: Cond::all()
            .add(Expr::col("feed_id").eq(feed_id))
            .add(Expr::col("seq").lt(wire::sequence(first_retained))),
    }
}

/// The store of feeds.
pub type FeedStore = Store<FeedSchema>;

/// Opens the Notifications database at `url` and applies its migrations.
pub async fn open(
    url: &str,
    pool: PoolSize,
    clock: Arc<dyn Clock>,
) -> Result<FeedStore, platform::db::OpenError> {
    let db = platform::db::open_migrated::<notifications_migrations::Migrator>(url, pool).await?;
    Ok(Store::new(db, clock))
}

/// The gRPC service over a store, with message size caps.
pub fn feed_service(store: FeedStore) -> FeedServiceServer<FeedApi> {
    feed_service_with(FeedApi::new(store))
}

/// The gRPC service over `api` (keep a clone of it to call [`FeedApi::end_watches`] when
/// shutting down), with message size caps.
pub fn feed_service_with(api: FeedApi) -> FeedServiceServer<FeedApi> {
    FeedServiceServer::new(api)
        .max_decoding_message_size(platform::server::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(platform::server::MAX_MESSAGE_BYTES)
}
