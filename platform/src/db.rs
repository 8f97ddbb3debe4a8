//! Opening a context's database: SQLite by default, PostgreSQL when the URL says so.
//!
//! **Invariant:** every SQLite connection runs in WAL mode with `synchronous=NORMAL`, a busy
//! timeout and foreign keys on, and every write transaction begins `IMMEDIATE` (see
//! [`crate::store`]). sqlx sets none of this by default. The store's own SQLite writer and
//! checkpoint connections (rusqlite, `store::writer`) set the same.

use std::{path::Path, str::FromStr, time::Duration};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, SqlxPostgresConnector, SqlxSqliteConnector,
    TransactionOptions, TransactionTrait,
};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
};

/// How long a SQLite writer waits for the lock before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// PostgreSQL's `idle_in_transaction_session_timeout` for every session the services open,
/// unless the URL sets it (`?options=-c%20idle_in_transaction_session_timeout%3D<ms>`).
///
/// A transaction here sends its statements back to back, so it is idle only while its
/// process is not running: frozen (SIGSTOP, a paused VM) or cut off. The server then ends
/// the session and frees its row locks after this long, instead of holding every other
/// replica's commands on those rows until the process wakes. Five seconds is half a command's
/// budget at the edge: a command queued behind such a lock still gets its answer in time,
/// and a live process never comes near it.
pub const POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT: Duration = Duration::from_secs(5);

/// A PostgreSQL connection idle in the pool for this long is pinged before it is handed out
/// (a server restart or a cut connection shows there, not in a command); one in steady use
/// is not, since sqlx pings every connection as it returns to the pool.
pub const POSTGRES_CHECK_IDLE_AFTER: Duration = Duration::from_secs(1);

/// The server setting behind [`POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT`].
const IDLE_IN_TRANSACTION: &str = "idle_in_transaction_session_timeout";

/// Errors opening a database; the message names the URL's problem, never a password.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The URL is neither `sqlite:` nor `postgres:`/`postgresql:`.
    #[error("unsupported database URL scheme (expected sqlite: or postgres:)")]
    UnsupportedScheme,
    /// The URL did not parse.
    #[error("invalid database URL: {0}")]
    InvalidUrl(String),
    /// The server or file could not be opened.
    #[error("could not open the database: {0}")]
    Connect(String),
}

/// Pool sizes: small for PostgreSQL (it allows 100 connections here), a handful for SQLite.
#[derive(Debug, Clone, Copy)]
pub struct PoolSize {
    /// Upper bound of open connections.
    pub max: u32,
}

impl Default for PoolSize {
    fn default() -> Self {
        PoolSize { max: 8 }
    }
}

/// The SQLite settings every connection uses, also for the benchmark's raw baseline.
pub fn sqlite_options(path: &Path) -> SqliteConnectOptions {
    SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(SQLITE_BUSY_TIMEOUT)
        .foreign_keys(true)
}

/// Opens a SQLite file, creating it (and its folder) if needed.
pub async fn open_sqlite_file(
    path: &Path,
    size: PoolSize,
) -> Result<DatabaseConnection, OpenError> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| OpenError::Connect(e.to_string()))?;
    }
    // SQLite runs one writer at a time and each connection is a thread of its own in sqlx:
    // past about two connections per core, more only add thread switches.
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get()) as u32;
    let max = size.max.min((2 * cores).max(2));
    // Two processes opening a new file at once race to switch it to WAL, which takes an
    // exclusive lock before the busy timeout is in force: retry that briefly.
    let mut attempt = 0;
    let pool = loop {
        attempt += 1;
        let connected = SqlitePoolOptions::new()
            .max_connections(max)
            .min_connections(1)
            .connect_with(sqlite_options(path))
            .await;
        match connected {
            Ok(pool) => break pool,
            Err(e) if attempt < 20 && is_locked(&e) => {
                tokio::time::sleep(Duration::from_millis(25 * attempt)).await;
            }
            Err(e) => return Err(OpenError::Connect(e.to_string())),
        }
    };
    Ok(SqlxSqliteConnector::from_sqlx_sqlite_pool(pool))
}

/// Opens a database by URL: `sqlite://path/to/file.db` (or `sqlite:path`) or
/// `postgres://user@host/db`.
pub async fn open(url: &str, size: PoolSize) -> Result<DatabaseConnection, OpenError> {
    if let Some(rest) = url.strip_prefix("sqlite:") {
        let path = rest.trim_start_matches("//");
        let path = path.split('?').next().unwrap_or(path);
        if path.is_empty() {
            return Err(OpenError::InvalidUrl("the sqlite URL names no file".into()));
        }
        return open_sqlite_file(Path::new(path), size).await;
    }
    if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        let mut options = PgConnectOptions::from_str(url)
            .map_err(|e| OpenError::InvalidUrl(redact(&e.to_string())))?;
        if !url.contains(IDLE_IN_TRANSACTION) {
            let millis = POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT.as_millis().to_string();
            options = options.options([(IDLE_IN_TRANSACTION, millis)]);
        }
        let pool = PgPoolOptions::new()
            .max_connections(size.max)
            // sqlx's own test pings every connection it hands out: a round trip per
            // statement, a quarter of a command's cost at P3. Only one that sat idle is
            // checked; one in steady use was checked when it came back (sqlx pings on
            // release) a moment ago.
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= POSTGRES_CHECK_IDLE_AFTER {
                        // A broken connection is closed and another one acquired.
                        sqlx::Connection::ping(connection).await?;
                    }
                    Ok(true)
                })
            })
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await
            .map_err(|e| OpenError::Connect(postgres_refusal(&e, &options)))?;
        return Ok(SqlxPostgresConnector::from_sqlx_postgres_pool(pool));
    }
    Err(OpenError::UnsupportedScheme)
}

fn is_locked(error: &sqlx::Error) -> bool {
    // SQLITE_BUSY (5) and SQLITE_LOCKED (6), with any extended code.
    let sqlx::Error::Database(e) = error else {
        return false;
    };
    e.code()
        .and_then(|code| code.parse::<i32>().ok())
        .is_some_and(|code| matches!(code & 0xff, 5 | 6))
}

/// What went wrong connecting to PostgreSQL, in one line: the server's own message without
/// the source position sqlx appends (" at line 948" of the server's C file), and for a
/// database that does not exist, how to create it.
fn postgres_refusal(error: &sqlx::Error, options: &PgConnectOptions) -> String {
    let sqlx::Error::Database(refused) = error else {
        return redact(&error.to_string());
    };
    const INVALID_CATALOG_NAME: &str = "3D000";
    let (host, port, user) = (
        options.get_host(),
        options.get_port(),
        options.get_username(),
    );
    match (refused.code().as_deref(), options.get_database()) {
        (Some(INVALID_CATALOG_NAME), Some(name)) => format!(
            "database {name:?} does not exist on {host}:{port}; create it first \
             (createdb -h {host} -p {port} -U {user} {name})"
        ),
        _ => format!("{host}:{port} refused: {}", redact(refused.message())),
    }
}

fn redact(message: &str) -> String {
    // Drop any `user:password@` that follows a `scheme://`, should a driver echo a URL.
    let mut out = String::with_capacity(message.len());
    let mut rest = message;
    while let Some(start) = rest.find("://") {
        let (head, tail) = rest.split_at(start + 3);
        out.push_str(head);
        let end = tail.find(char::is_whitespace).unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***@");
                rest = &tail[at + 1..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

/// Opens a database and applies the migrations of `M`, safely when several replicas start
/// at once on one database: PostgreSQL serialises them with an advisory lock held on one
/// connection; SQLite retries (every step is `IF NOT EXISTS`, and a retry finds the steps
/// another process applied).
pub async fn open_migrated<M: sea_orm_migration::MigratorTrait>(
    url: &str,
    size: PoolSize,
) -> Result<DatabaseConnection, OpenError> {
    let db = open(url, size).await?;
    let failed = |e: sea_orm::DbErr| OpenError::Connect(format!("migrations failed: {e}"));
    if db.get_database_backend() == DbBackend::Postgres {
        // Session-level lock: take it, migrate and release it on one and the same connection.
        const MIGRATION_LOCK: i64 = 0x5341_4153_4d49_4752; // "SAASMIGR"
        let single = open(url, PoolSize { max: 1 }).await?;
        single
            .execute_unprepared(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .await
            .map_err(failed)?;
        let migrated = M::up(&single, None).await;
        let unlocked = single
            .execute_unprepared(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK})"))
            .await;
        single.close().await.ok();
        migrated.map_err(failed)?;
        unlocked.map_err(failed)?;
        return Ok(db);
    }
    let mut attempt = 0;
    loop {
        attempt += 1;
        match M::up(&db, None).await {
            Ok(()) => return Ok(db),
            Err(e) if attempt < 10 => {
                tracing::debug!(error = %e, attempt, "migration raced another process; retrying");
                tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
            }
            Err(e) => return Err(failed(e)),
        }
    }
}

/// Begins a write transaction: `BEGIN IMMEDIATE` on SQLite (so a read-then-write never fails
/// with `SQLITE_BUSY_SNAPSHOT`), the default `READ COMMITTED` on PostgreSQL.
pub async fn begin_write(
    db: &DatabaseConnection,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    let options = match db.get_database_backend() {
        DbBackend::Sqlite => TransactionOptions {
            sqlite_transaction_mode: Some(sea_orm::SqliteTransactionMode::Immediate),
            ..TransactionOptions::default()
        },
        _ => TransactionOptions::default(),
    };
    db.begin_with_options(options).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_credentials_in_urls() {
        assert_eq!(
            redact("cannot reach postgres://app:s3cret@db:5432/x now"),
            "cannot reach postgres://***@db:5432/x now"
        );
        assert_eq!(redact("no url here"), "no url here");
        assert_eq!(redact("postgres://db/x"), "postgres://db/x");
    }

    #[tokio::test]
    async fn sqlite_connections_use_wal_normal_and_foreign_keys() {
        let dir = std::env::temp_dir().join(format!("platform-db-{}", uuid::Uuid::now_v7()));
        let db = open_sqlite_file(&dir.join("t.db"), PoolSize::default())
            .await
            .unwrap();
        let pragma = |name: &'static str| {
            let db = db.clone();
            async move {
                let row = db
                    .query_one_raw(sea_orm::Statement::from_string(
                        DbBackend::Sqlite,
                        format!("PRAGMA {name}"),
                    ))
                    .await
                    .unwrap()
                    .unwrap();
                row.try_get_by_index::<String>(0)
                    .or_else(|_| row.try_get_by_index::<i64>(0).map(|v| v.to_string()))
                    .unwrap()
            }
        };
        assert_eq!(pragma("journal_mode").await, "wal");
        assert_eq!(pragma("synchronous").await, "1");
        assert_eq!(pragma("foreign_keys").await, "1");
        assert_eq!(pragma("busy_timeout").await, "10000");
        std::fs::remove_dir_all(dir).ok();
    }
}
