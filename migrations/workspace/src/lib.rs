//! The Workspace store's schema, applied on start by the data service.
//!
//! Workspaces are kept as documents (see `platform::store`) with `slug` as a unique indexed
//! column (a deleted workspace frees its slug) and a `members` index of user ids, so a
//! user's workspaces are listed without scanning documents.

use sea_orm_migration::prelude::*;

/// The table of `Workspace` documents.
pub const WORKSPACES_TABLE: &str = "workspaces";

/// The indexed columns of [`WORKSPACES_TABLE`].
pub const WORKSPACE_COLUMNS: &[platform::migration::IndexedColumn] =
    &[platform::migration::IndexedColumn {
        name: "slug",
        unique: true,
    }];

/// The multi-valued index of member user ids.
pub const MEMBERS_INDEX: &str = "members";

/// Every migration of the Workspace store, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateWorkspaces),
            Box::new(OutboxEnvelope),
            Box::new(OutboxEnvelopeOnly),
        ]
    }
}

/// Named explicitly: names are unique across contexts, so contexts may even share one
/// database.
struct CreateWorkspaces;

impl MigrationName for CreateWorkspaces {
    fn name(&self) -> &str {
        "m20261126_000001_workspace_create_workspaces"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateWorkspaces {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        platform::migration::create_document_table(manager, WORKSPACES_TABLE, WORKSPACE_COLUMNS)
            .await?;
        platform::migration::create_set_index_table(manager, WORKSPACES_TABLE, MEMBERS_INDEX)
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
        "m20261126_000002_workspace_outbox_envelope"
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
        "m20261203_000003_workspace_outbox_envelope_only"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for OutboxEnvelopeOnly {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        platform::migration::drop_outbox_payload(manager).await
    }
}
