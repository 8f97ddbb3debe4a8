//! The SQLite readers of a store: **a read checks the stored version on the calling task,
//! through a rusqlite connection of its own, with no thread hop.**
//!
//! sqlx runs each SQLite connection on a worker thread of its own, so every query it makes
//! is two thread hops and a channel round; for a read whose answer is usually "the version
//! you already hold", that was most of the read's cost. A WAL reader never waits for the
//! writer, so the version check runs where the read is, on prepared statements cached per
//! connection. The connections have no busy timeout: in the rare moment SQLite answers
//! `SQLITE_BUSY` to a reader (the WAL being reset), the read goes through sqlx instead, so
//! no tokio worker ever sleeps in SQLite.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

use rusqlite::OptionalExtension as _;

use super::column;

/// How many idle connections are kept (more are opened when reads overlap, and closed after).
const IDLE: usize = 8;

/// The version check of one table, and the connections it runs on.
pub(super) struct Readers {
    path: PathBuf,
    /// `SELECT version, doc-unless-the-version-is-?2 FROM <table> WHERE id = ?1`.
    version_sql: String,
    idle: Mutex<Vec<rusqlite::Connection>>,
}

impl Readers {
    pub(super) fn new(path: &Path, table: &str) -> Readers {
        Readers {
            path: path.to_path_buf(),
            version_sql: format!(
                "SELECT \"{version}\", CASE WHEN \"{version}\" = ?2 THEN NULL ELSE \"{doc}\" END \
                 FROM \"{table}\" WHERE \"{id}\" = ?1",
                version = column::VERSION,
                doc = column::DOC,
                id = column::ID,
            ),
            idle: Mutex::new(Vec::new()),
        }
    }

    /// The stored version of `id` and, unless it is `cached`, its document; `None` for an
    /// unknown id; `Err` when SQLite could not answer at once (the caller asks sqlx).
    pub(super) fn version(
        &self,
        id: &str,
        cached: i64,
    ) -> rusqlite::Result<Option<(i64, Option<String>)>> {
        let conn = match self.take() {
            Some(conn) => conn,
            None => open(&self.path)?,
        };
        let found = conn
            .prepare_cached(&self.version_sql)
            .and_then(|mut statement| {
                statement
                    .query_row(rusqlite::params![id, cached], |row| {
                        Ok((row.get(0)?, row.get(1)?))
                    })
                    .optional()
            });
        self.give_back(conn);
        found
    }

    fn take(&self) -> Option<rusqlite::Connection> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
    }

    fn give_back(&self, conn: rusqlite::Connection) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < IDLE {
            idle.push(conn);
        }
    }
}

/// A reader connection, with the pragmas of every connection (WAL, `synchronous=NORMAL`,
/// foreign keys) but a busy timeout of zero (see the module docs); it never creates the file.
fn open(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::ZERO)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}
