//! The Notifications store's schema, applied on start by the data service.
//!
//! Feeds are kept as documents (see `platform::store`), one per user, keyed by the user's id.
//! Their entries live beside them in [`FEED_ENTRIES_TABLE`], one row per entry keyed by
//! `(feed_id, seq)`: a feed may hold 10,000 entries, far too many to rewrite with the
//! document on every append. The command pipeline writes and deletes those rows in the same
//! transaction as the feed (`Schema::project`), so the rows present are always exactly the
//! feed's retained entries.

use sea_orm_migration::prelude::*;

/// The table of `Feed` documents.
pub const FEEDS_TABLE: &str = "feeds";

/// The indexed columns of [`FEEDS_TABLE`]: none (a feed is found by its id, the user's id).
pub const FEED_COLUMNS: &[platform::migration::IndexedColumn] = &[];

/// The table of feed entries.
pub const FEED_ENTRIES_TABLE: &str = "feed_entries";

/// The columns of [`FEED_ENTRIES_TABLE`], in the order the data service writes them.
pub const FEED_ENTRY_COLUMNS: &[&str] = &[
    "feed_id",
    "seq",
    "kind",
    "workspace_id",
    "payload",
    "source_event_id",
    "created_at",
];

/// Every migration of the Notifications store, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateFeeds),
            Box::new(OutboxEnvelope),
            Box::new(OutboxEnvelopeOnly),
        ]
    }
}

/// Named explicitly: names are unique across contexts, so contexts may even share one
/// database.
struct CreateFeeds;

impl MigrationName for CreateFeeds {
    fn name(&self) -> &str {
        "m20261201_000001_notifications_create_feeds"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateFeeds {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        platform::migration::create_document_table(manager, FEEDS_TABLE, FEED_COLUMNS).await?;
        let db = manager.get_connection();
        db.execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS {FEED_ENTRIES_TABLE} (
  feed_id TEXT NOT NULL,
  seq BIGINT NOT NULL,
  kind TEXT NOT NULL,
  workspace_id TEXT NULL,
  payload TEXT NOT NULL,
  source_event_id TEXT NOT NULL,
  created_at BIGINT NOT NULL,
  PRIMARY KEY (feed_id, seq)
)"
        ))
        .await?;
        platform::migration::create_outbox_table(manager).await?;
        platform::migration::create_idempotency_table(manager).await
    }
}

/// Adds the outbox's `envelope` column (the encoded `saas.events.v1.EventEnvelope` of each
/// event). Safe to run twice, for contexts that share one database.
struct OutboxEnvelope;

impl MigrationName for OutboxEnvelope {
    fn name(&self) -> &str {
        "m20261201_000002_notifications_outbox_envelope"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OutboxEnvelope {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        platform::migration::add_outbox_envelope(manager).await
    }
}

/// Drops the outbox's JSON `payload` column: the envelope is the one encoding of each event.
/// Safe to run twice, for contexts that share one database.
struct OutboxEnvelopeOnly;

impl MigrationName for OutboxEnvelopeOnly {
    fn name(&self) -> &str {
        "m20261203_000003_notifications_outbox_envelope_only"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OutboxEnvelopeOnly {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        platform::migration::drop_outbox_payload(manager).await
    }
}
