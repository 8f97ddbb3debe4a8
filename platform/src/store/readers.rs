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
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
};

use rusqlite::OptionalExtension as _;

use super::column;

/// How many idle connections are kept (more are opened when reads overlap, and closed after).
const IDLE: usize = 8;

/// How much of the database file a reader maps into memory (`PRAGMA mmap_size`). A read of a
/// page then is a memory access in the kernel's page cache, shared by every connection,
/// instead of a `pread` into a connection's own 2 MB cache: with 10,000 users the version
/// checks missed that cache on most reads, and the copies were a sixth of a read's cost.
pub(super) const MMAP_BYTES: i64 = 256 * 1024 * 1024;

/// A read-cache entry's mark that no version check stands behind it yet (an aggregate the
/// writer put there, say): its next read asks the table.
pub(super) const UNCHECKED: u64 = u64::MAX;

/// The version check of one table, and the connections it runs on.
///
/// **Seen changes.** `PRAGMA data_version` on a connection changes when another connection
/// (this process's writer, another process) has committed to the file since that connection
/// last asked. Each read asks it first, and every change a connection sees, and every new
/// connection, moves `changes` on. A cached aggregate whose check was made while `changes`
/// was still what it is now has had no commit to the file since: the read answers it without
/// touching the table. Any commit at all moves `changes`, so after a write the next read of
/// each aggregate asks the table again, as every read used to.
pub(super) struct Readers {
    path: PathBuf,
    /// `SELECT version, doc-unless-the-version-is-?2 FROM <table> WHERE id = ?1`.
    version_sql: String,
    idle: Mutex<Vec<Reader>>,
    changes: AtomicU64,
}

/// A reader connection and the `data_version` it last saw.
struct Reader {
    conn: rusqlite::Connection,
    data_version: Option<i64>,
}

/// A stored version and, unless it was the cached one, the document; `None` for an unknown id.
pub(super) type Found = Option<(i64, Option<String>)>;

/// What a version check found.
pub(super) enum Check {
    /// No commit to the file since the cached aggregate's check: it is current.
    Unchanged,
    /// The stored version of the id and, unless it was the cached one, its document (`None`
    /// for an unknown id), checked at `changes` = the second value.
    Row(Found, u64),
}

impl Readers {
    /// Readers of `table`, whose document is `doc` (an expression of the table's columns).
    pub(super) fn new(path: &Path, table: &str, doc: &str) -> Readers {
        Readers {
            path: path.to_path_buf(),
            version_sql: format!(
                "SELECT \"{version}\", CASE WHEN \"{version}\" = ?2 THEN NULL ELSE {doc} END \
                 FROM \"{table}\" WHERE \"{id}\" = ?1",
                version = column::VERSION,
                id = column::ID,
            ),
            idle: Mutex::new(Vec::new()),
            changes: AtomicU64::new(0),
        }
    }

    /// Whether the aggregate `id`, cached at version `cached` by a check made at
    /// `checked` (or [`UNCHECKED`]), is current; else its stored version and, unless it is
    /// `cached`, its document. `Err` when SQLite could not answer at once (the caller asks
    /// sqlx).
    pub(super) fn check(&self, id: &str, cached: i64, checked: u64) -> rusqlite::Result<Check> {
        let mut reader = match self.take() {
            Some(reader) => reader,
            None => Reader {
                conn: open(&self.path)?,
                data_version: None,
            },
        };
        let found = self.check_on(&mut reader, id, cached, checked);
        self.give_back(reader);
        found
    }

    fn check_on(
        &self,
        reader: &mut Reader,
        id: &str,
        cached: i64,
        checked: u64,
    ) -> rusqlite::Result<Check> {
        let data_version: i64 = reader
            .conn
            .prepare_cached("PRAGMA data_version")?
            .query_row([], |row| row.get(0))?;
        if reader.data_version != Some(data_version) {
            reader.data_version = Some(data_version);
            self.changes.fetch_add(1, Ordering::SeqCst);
        }
        // Read before the table is, so a commit seen by any connection from now on makes
        // this check stale.
        let changes = self.changes.load(Ordering::SeqCst);
        if checked == changes {
            return Ok(Check::Unchanged);
        }
        let row = reader
            .conn
            .prepare_cached(&self.version_sql)?
            .query_row(rusqlite::params![id, cached], |row| {
                Ok((row.get(0)?, row.get(1)?))
            })
            .optional()?;
        Ok(Check::Row(row, changes))
    }

    fn take(&self) -> Option<Reader> {
        self.idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .pop()
    }

    fn give_back(&self, reader: Reader) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if idle.len() < IDLE {
            idle.push(reader);
        }
    }
}

/// A reader connection, with the pragmas of every connection (WAL, `synchronous=NORMAL`,
/// foreign keys) but a busy timeout of zero (see the module docs) and the file mapped
/// ([`MMAP_BYTES`]); it never creates the file.
fn open(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open_with_flags(
        path,
        rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(std::time::Duration::ZERO)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    let _mapped: i64 = conn.query_row(&format!("PRAGMA mmap_size = {MMAP_BYTES}"), [], |row| {
        row.get(0)
    })?;
    conn.set_prepared_statement_cache_capacity(16);
    Ok(conn)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(check: Check) -> Option<(Found, u64)> {
        match check {
            Check::Unchanged => None,
            Check::Row(row, changes) => Some((row, changes)),
        }
    }

    #[test]
    fn an_unchanged_file_answers_without_the_table_and_any_commit_sends_reads_back_to_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("docs.db");
        let writer = rusqlite::Connection::open(&path).unwrap();
        let _mode: String = writer
            .query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))
            .unwrap();
        writer
            .execute_batch(
                "CREATE TABLE docs (id TEXT PRIMARY KEY, version BIGINT, doc TEXT);
                 INSERT INTO docs VALUES ('a', 1, 'one'), ('b', 1, 'uno');",
            )
            .unwrap();
        let readers = Readers::new(&path, "docs", "\"doc\"");

        let (found, checked) = row(readers.check("a", 0, UNCHECKED).unwrap()).unwrap();
        assert_eq!(found, Some((1, Some("one".to_owned()))));
        // Nothing was committed since: the check stands.
        assert!(row(readers.check("a", 1, checked).unwrap()).is_none());
        assert!(row(readers.check("a", 1, checked).unwrap()).is_none());
        // A stamp from before the last seen change does not.
        let older = row(readers.check("a", 1, checked.wrapping_sub(1)).unwrap()).unwrap();
        assert_eq!(older, (Some((1, None)), checked));

        // Another connection commits, to another row even: every check asks the table again.
        writer
            .execute(
                "UPDATE docs SET version = 2, doc = 'dos' WHERE id = 'b'",
                [],
            )
            .unwrap();
        let (found, after) = row(readers.check("a", 1, checked).unwrap()).unwrap();
        assert_eq!(found, Some((1, None)));
        assert!(after > checked);
        writer
            .execute(
                "UPDATE docs SET version = 2, doc = 'two' WHERE id = 'a'",
                [],
            )
            .unwrap();
        let (found, _) = row(readers.check("a", 1, after).unwrap()).unwrap();
        assert_eq!(found, Some((2, Some("two".to_owned()))));
        let (found, _) = row(readers.check("zzz", 0, UNCHECKED).unwrap()).unwrap();
        assert_eq!(found, None);
    }
}
