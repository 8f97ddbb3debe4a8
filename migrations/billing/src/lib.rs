//! The Billing store's schema, applied on start by the data service.
//!
//! Subscriptions are kept as documents (see `platform::store`) with `workspace_id` as a
//! unique indexed column: one subscription per workspace, enforced by the database.

use sea_orm_migration::prelude::*;

/// The table of `Subscription` documents.
pub const SUBSCRIPTIONS_TABLE: &str = "subscriptions";

/// The indexed columns of [`SUBSCRIPTIONS_TABLE`].
pub const SUBSCRIPTION_COLUMNS: &[platform::migration::IndexedColumn] =
    &[platform::migration::IndexedColumn {
        name: "workspace_id",
        unique: true,
    }];

/// Every migration of the Billing store, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateSubscriptions),
            Box::new(OutboxEnvelope),
            Box::new(OutboxEnvelopeOnly),
        ]
    }
}

/// Named explicitly: names are unique across contexts, so contexts may even share one
/// database.
struct CreateSubscriptions;

impl MigrationName for CreateSubscriptions {
    fn name(&self) -> &str {
        "m20261126_000001_billing_create_subscriptions"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateSubscriptions {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        platform::migration::create_document_table(
            manager,
            SUBSCRIPTIONS_TABLE,
            SUBSCRIPTION_COLUMNS,
        )
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
        "m20261126_000002_billing_outbox_envelope"
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
        "m20261203_000003_billing_outbox_envelope_only"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OutboxEnvelopeOnly {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        platform::migration::drop_outbox_payload(manager).await
    }
}
