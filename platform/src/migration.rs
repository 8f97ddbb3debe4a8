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

/// Creates the parts table `<table>_parts` of a document table: one row per element of the
/// collections the context keeps out of its documents (see `platform::store::parts`).
pub async fn create_parts_table(manager: &SchemaManager<'_>, table: &str) -> Result<(), DbErr> {
    manager
        .get_connection()
        .execute_unprepared(&format!(
            "CREATE TABLE IF NOT EXISTS {table}_parts (
  aggregate_id TEXT NOT NULL REFERENCES {table} (id) ON DELETE CASCADE,
  collection TEXT NOT NULL,
  \"key\" TEXT NOT NULL,
  since BIGINT NOT NULL,
  position BIGINT NOT NULL,
  doc TEXT NOT NULL,
  PRIMARY KEY (aggregate_id, collection, \"key\")
)"
        ))
        .await?;
    Ok(())
}

/// A collection a migration moves out of the documents into their parts table: the field
/// that holds it in the document, and the field of each element that is its key (the key
/// the context's schema gives the element, as text).
#[derive(Debug, Clone, Copy)]
pub struct PartsField {
    /// The field of the document.
    pub collection: &'static str,
    /// The field of each element that keys it.
    pub key: &'static str,
}

/// How many documents [`split_documents`] reads at a time.
const SPLIT_PAGE: u64 = 500;

/// Moves the elements of `fields` out of every document of `table` into `<table>_parts`, in
/// their order, leaving each document its head: the data migration of a context that starts
/// keeping parts. Documents already split (without the fields) are left as they are, so it
/// is safe to run twice.
pub async fn split_documents(
    manager: &SchemaManager<'_>,
    table: &str,
    fields: &[PartsField],
) -> Result<(), DbErr> {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait as _, Order, Query};
    let db = manager.get_connection();
    let parts = Alias::new(format!("{table}_parts"));
    let corrupt = |id: &str, why: &str| DbErr::Custom(format!("{table} {id}: {why}"));
    let mut after = String::new();
    loop {
        let page = Query::select()
            .columns(["id", "version", "doc"])
            .from(Alias::new(table))
            .and_where(Expr::col("id").gt(after.clone()))
            .order_by("id", Order::Asc)
            .limit(SPLIT_PAGE)
            .to_owned();
        let rows = db.query_all(&page).await?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        after = last.try_get_by_index(0)?;
        for row in rows {
            let id: String = row.try_get_by_index(0)?;
            let version: i64 = row.try_get_by_index(1)?;
            let doc: String = row.try_get_by_index(2)?;
            let mut doc: serde_json::Value =
                serde_json::from_str(&doc).map_err(|e| corrupt(&id, &e.to_string()))?;
            let Some(head) = doc.as_object_mut() else {
                return Err(corrupt(&id, "the document is not an object"));
            };
            let mut moved = false;
            for field in fields {
                let Some(elements) = head.remove(field.collection) else {
                    continue;
                };
                moved = true;
                let serde_json::Value::Array(elements) = elements else {
                    return Err(corrupt(
                        &id,
                        &format!("{} is not an array", field.collection),
                    ));
                };
                for (position, element) in elements.into_iter().enumerate() {
                    let key = match element.get(field.key) {
                        Some(serde_json::Value::String(key)) => key.clone(),
                        Some(key) => key.to_string(),
                        None => {
                            return Err(corrupt(&id, &format!("an element has no {}", field.key)));
                        }
                    };
                    let insert = Query::insert()
                        .into_table(parts.clone())
                        .columns([
                            "aggregate_id",
                            "collection",
                            "key",
                            "since",
                            "position",
                            "doc",
                        ])
                        .values([
                            Expr::val(id.clone()),
                            Expr::val(field.collection),
                            Expr::val(key),
                            Expr::val(version),
                            Expr::val(position as i64),
                            Expr::val(element.to_string()),
                        ])
                        .map_err(|e| DbErr::Custom(e.to_string()))?
                        .to_owned();
                    db.execute(&insert).await?;
                }
            }
            if moved {
                let update = Query::update()
                    .table(Alias::new(table))
                    .value("doc", doc.to_string())
                    .and_where(Expr::col("id").eq(id))
                    .to_owned();
                db.execute(&update).await?;
            }
        }
    }
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
