//! Tables every data service has, created by each context's own migrations crate through
//! these helpers so the command pipeline can rely on their shape.
//!
//! - the aggregate's document table: `id`, `version`, `doc` (the aggregate as JSON),
//!   `updated_at`, `due_at` (when the system next has work on it), plus the context's
//!   indexed columns, and optionally a multi-valued index table;
//! - `outbox`: domain events written in the aggregate's transaction, each as its encoded
//!   `EventEnvelope` (the JSON `payload` column of the first schema is dropped again);
//! - `idempotency`: one row per `request_id`, with a hash of the request and the response.

use sea_orm::{ConnectionTrait, DbBackend, DbErr};
use sea_orm_migration::SchemaManager;

/// An indexed column of a document table (`email`, `slug`, ...), stored as nullable text.
#[derive(Debug, Clone, Copy)]
pub struct IndexedColumn {
    /// Column name.
    pub name: &'static str,
    /// Whether two aggregates may share a (non-null) value.
    pub unique: bool,
}

/// Creates `table` for documents with the given indexed columns.
pub async fn create_document_table(
    manager: &SchemaManager<'_>,
    table: &str,
    columns: &[IndexedColumn],
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let mut ddl = format!(
        "CREATE TABLE IF NOT EXISTS {table} (\n  id TEXT PRIMARY KEY NOT NULL,\n  version BIGINT NOT NULL,\n  doc TEXT NOT NULL,\n  updated_at BIGINT NOT NULL,\n  due_at BIGINT NULL"
    );
    for column in columns {
        ddl.push_str(&format!(",\n  {} TEXT NULL", column.name));
    }
    ddl.push_str("\n)");
    db.execute_unprepared(&ddl).await?;
    db.execute_unprepared(&format!(
        "CREATE INDEX IF NOT EXISTS ix_{table}_due_at ON {table} (due_at)"
    ))
    .await?;
    for column in columns {
        let unique = if column.unique { "UNIQUE " } else { "" };
        db.execute_unprepared(&format!(
            "CREATE {unique}INDEX IF NOT EXISTS ux_{table}_{name} ON {table} ({name})",
            name = column.name
        ))
        .await?;
    }
    Ok(())
}

/// Creates the side table of a multi-valued index, `<table>_<name>` (`value`,
/// `aggregate_id`), kept in step by the command pipeline.
pub async fn create_set_index_table(
    manager: &SchemaManager<'_>,
    table: &str,
    name: &str,
) -> Result<(), DbErr> {
    let db = manager.get_connection();
    db.execute_unprepared(&format!(
        "CREATE TABLE IF NOT EXISTS {table}_{name} (
  value TEXT NOT NULL,
  aggregate_id TEXT NOT NULL REFERENCES {table} (id) ON DELETE CASCADE,
  PRIMARY KEY (value, aggregate_id)
)"
    ))
    .await?;
    db.execute_unprepared(&format!(
        "CREATE INDEX IF NOT EXISTS ix_{table}_{name}_aggregate ON {table}_{name} (aggregate_id)"
    ))
    .await?;
    Ok(())
}

/// Creates the `outbox` table.
pub async fn create_outbox_table(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let seq = match db.get_database_backend() {
        DbBackend::Postgres => "seq BIGSERIAL PRIMARY KEY",
        _ => "seq INTEGER PRIMARY KEY AUTOINCREMENT",
    };
    db.execute_unprepared(&format!(
        "CREATE TABLE IF NOT EXISTS outbox (
  {seq},
  event_id TEXT NOT NULL UNIQUE,
  aggregate_type TEXT NOT NULL,
  aggregate_id TEXT NOT NULL,
  aggregate_version BIGINT NOT NULL,
  event_type TEXT NOT NULL,
  payload TEXT NOT NULL,
  occurred_at BIGINT NOT NULL,
  published_at BIGINT NULL
)"
    ))
    .await?;
    db.execute_unprepared(
        "CREATE INDEX IF NOT EXISTS ix_outbox_unpublished ON outbox (published_at, seq)",
    )
    .await?;
    Ok(())
}

/// Adds the `envelope` column to the outbox: the encoded `saas.events.v1.EventEnvelope` the
/// relay publishes as it is. Safe to run twice (contexts may share one database).
pub async fn add_outbox_envelope(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    match db.get_database_backend() {
        DbBackend::Postgres => {
            db.execute_unprepared(
                "ALTER TABLE outbox ADD COLUMN IF NOT EXISTS envelope BYTEA NULL",
            )
            .await?;
        }
        _ => {
            let present = db
                .query_one_raw(sea_orm::Statement::from_string(
                    DbBackend::Sqlite,
                    "SELECT COUNT(*) AS n FROM pragma_table_info('outbox') WHERE name = 'envelope'",
                ))
                .await?
                .map(|row| row.try_get::<i64>("", "n"))
                .transpose()?
                .unwrap_or(0);
            if present == 0 {
                db.execute_unprepared("ALTER TABLE outbox ADD COLUMN envelope BLOB NULL")
                    .await?;
            }
        }
    }
    Ok(())
}

/// Drops the outbox's JSON `payload` column: the envelope is the one encoding of an event.
/// Safe to run twice (contexts may share one database); on SQLite it needs 3.35 or later.
pub async fn drop_outbox_payload(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    if manager.has_column("outbox", "payload").await? {
        manager
            .alter_table(
                sea_orm_migration::prelude::Table::alter()
                    .table("outbox")
                    .drop_column("payload")
                    .to_owned(),
            )
            .await?;
    }
    Ok(())
}

/// Creates the `idempotency` table.
pub async fn create_idempotency_table(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let db = manager.get_connection();
    let blob = match db.get_database_backend() {
        DbBackend::Postgres => "BYTEA",
        _ => "BLOB",
    };
    db.execute_unprepared(&format!(
        "CREATE TABLE IF NOT EXISTS idempotency (
  request_id TEXT PRIMARY KEY NOT NULL,
  method TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  response {blob} NULL,
  created_at BIGINT NOT NULL
)"
    ))
    .await?;
    db.execute_unprepared(
        "CREATE INDEX IF NOT EXISTS ix_idempotency_created ON idempotency (created_at)",
    )
    .await?;
    Ok(())
}
