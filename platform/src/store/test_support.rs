//! What the store's unit tests share: a SQLite file of a store's tables in a directory that
//! is removed when the test ends, and a one-number query.

use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};

use crate::{
    db::{PoolSize, open_sqlite_file},
    migration::{
        add_outbox_envelope, create_document_table, create_idempotency_table, create_outbox_table,
        drop_outbox_payload,
    },
};

/// A directory removed when dropped.
pub(super) struct TempDir(std::path::PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.0).ok();
    }
}

/// A fresh SQLite database with the document table `table` (no indexed columns), the
/// idempotency records and the outbox, in a directory named after `prefix`.
pub(super) async fn database(prefix: &str, table: &str) -> (TempDir, DatabaseConnection) {
    let dir = TempDir(std::env::temp_dir().join(format!("{prefix}-{}", uuid::Uuid::now_v7())));
    let db = open_sqlite_file(&dir.0.join("service.db"), PoolSize::default())
        .await
        .unwrap();
    let manager = sea_orm_migration::SchemaManager::new(&db);
    create_document_table(&manager, table, &[]).await.unwrap();
    create_idempotency_table(&manager).await.unwrap();
    create_outbox_table(&manager).await.unwrap();
    add_outbox_envelope(&manager).await.unwrap();
    drop_outbox_payload(&manager).await.unwrap();
    (dir, db)
}

/// The one integer `sql` selects.
pub(super) async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    db.query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap()
}
