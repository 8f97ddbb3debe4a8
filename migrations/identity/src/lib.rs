//! The Identity store's schema, applied on start by the data service.
//!
//! Users are kept as documents (see `platform::store`) with `email` as a unique indexed
//! column; erased users hold NULL there, so their address is free again.

use sea_orm_migration::prelude::*;

/// The table of `User` documents.
pub const USERS_TABLE: &str = "users";

/// The indexed columns of [`USERS_TABLE`].
pub const USER_COLUMNS: &[platform::migration::IndexedColumn] =
    &[platform::migration::IndexedColumn {
        name: "email",
        unique: true,
    }];

/// Every migration of the Identity store, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateUsers),
            Box::new(OutboxEnvelope),
            Box::new(OutboxEnvelopeOnly),
        ]
    }
}

/// Named explicitly: names are unique across contexts, so contexts may even share one
/// database.
struct CreateUsers;

impl MigrationName for CreateUsers {
    fn name(&self) -> &str {
        "m20261126_000001_identity_create_users"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateUsers {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        platform::migration::create_document_table(manager, USERS_TABLE, USER_COLUMNS).await?;
        platform::migration::create_outbox_table(manager).await?;
        platform::migration::create_idempotency_table(manager).await
    }
}

/// Adds the outbox's `envelope` column (the encoded `saas.events.v1.EventEnvelope` of each
/// event). Safe to run twice, for contexts that share one database.
struct OutboxEnvelope;

impl MigrationName for OutboxEnvelope {
    fn name(&self) -> &str {
        "m20261126_000002_identity_outbox_envelope"
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
        "m20261203_000003_identity_outbox_envelope_only"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OutboxEnvelopeOnly {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        platform::migration::drop_outbox_payload(manager).await
    }
}
