//! The Workspace store's schema, applied on start by the data service.
//!
//! Workspaces are kept as documents (see `platform::store`) with `slug` as a unique indexed
//! column (a deleted workspace frees its slug) and a `members` index of user ids, so a
//! user's workspaces are listed without scanning documents. Members and invitations are
//! rows of their own in `workspaces_parts`, so a command writes only those it changed.

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

/// The collection of members, kept as rows of its own (see `platform::store::parts`).
pub const MEMBERS_PART: &str = "members";
/// The collection of invitations, kept as rows of its own.
pub const INVITATIONS_PART: &str = "invitations";
/// The collections of a workspace kept in `workspaces_parts`, as the schema names them.
pub const PARTS: &[&str] = &[MEMBERS_PART, INVITATIONS_PART];

/// Every migration of the Workspace store, in order.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateWorkspaces),
            Box::new(OutboxEnvelope),
            Box::new(OutboxEnvelopeOnly),
            Box::new(SplitParts),
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

/// Keeps members and invitations as rows of their own (`workspaces_parts`), so a command
/// writes the ones it changed instead of the whole document, and moves those of every stored
/// workspace there. Safe to run twice.
struct SplitParts;

impl MigrationName for SplitParts {
    fn name(&self) -> &str {
        "m20261204_000004_workspace_parts"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for SplitParts {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use platform::migration::PartsField;
        platform::migration::create_parts_table(manager, WORKSPACES_TABLE).await?;
        platform::migration::split_documents(
            manager,
            WORKSPACES_TABLE,
            &[
                PartsField {
                    collection: MEMBERS_PART,
                    key: "user_id",
                },
                PartsField {
                    collection: INVITATIONS_PART,
                    key: "id",
                },
            ],
        )
        .await
    }
}
