//! The document store and the command pipeline, generic over a context's [`Schema`].
//!
//! An aggregate is stored whole, as one JSON document per row, beside the columns the context
//! indexes (unique ones such as `email` are enforced by the database). The store is split by
//! concern:
//!
//! - [`schema`]: how a context plugs in ([`Schema`], [`Projection`], [`IntegrationEvent`]);
//! - [`reads`]: reads, and the cache of decoded aggregates that makes them cheap;
//! - [`pipeline`]: **the command pipeline**, [`Store::create`], [`Store::update`] and
//!   [`Store::delete`], one transaction per command, its steps written once over a small
//!   executor (`exec`: sea-orm's transaction, or a savepoint of the SQLite writer);
//! - `writer`: on SQLite, the store's one writer, a rusqlite connection on its own thread
//!   that commits the commands waiting at that moment together (group commit);
//! - `lanes`: on PostgreSQL, connections of the store's own, beside the pool, that its
//!   one-statement commands run on;
//! - [`parts`]: long collections of an aggregate kept as rows of their own, so a command
//!   writes the elements it changed, not the whole collection;
//! - [`outbox`]: the rows a command appends for its events (the encoded envelope only) and
//!   for its projections;
//! - [`sweep`]: due work and the purge of old idempotency records.
//!
//! Every statement is built with sea-query, so the same code runs on SQLite and PostgreSQL
//! without rewriting SQL strings. The store answers with its own [`StoreError`]; the RPC
//! layer maps it to a status ([`crate::rpc::store_status`]), so persistence knows nothing of
//! gRPC.
//!
//! **Invariant:** an accepted command changes the aggregate, its outbox rows and its
//! idempotency record together or not at all. Rejected commands leave no trace, so a retry of
//! a rejected request is evaluated afresh.
//!
//! After every commit that wrote outbox rows the store wakes its relay
//! ([`Store::spawn_relay`], see [`crate::relay`]), which publishes the rows to the event bus.
//!
//! **Test-only fault hook:** when the environment variable `SAAS_FAULT_ABORT_AFTER_COMMIT` is
//! set when the store is created, the process dies right after the first commit that wrote
//! outbox rows, before anything else happens (no response, no relay wake-up): by SIGKILL when
//! the value is `kill`, by `abort` otherwise. Tests use it to crash a service between commit
//! and publish; never set it in production. A second hook, [`Store::fail_commits`], makes
//! every commit fail while it is on, so tests can show that a failed commit answers every
//! command of its batch `UNAVAILABLE` and executes none.

mod exec;
mod lanes;
pub mod outbox;
pub mod parts;
pub mod pipeline;
mod readers;
pub mod reads;
pub mod responses;
pub mod schema;
pub mod sweep;
pub(crate) mod writer;
mod writes;

use std::{
    marker::PhantomData,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
};

use kernel_domain::{AggregateRoot, Clock, Rejection, Timestamp, Version};
use sea_orm::{DatabaseConnection, DbBackend};
use sqlx::postgres::PgConnectOptions;

pub use lanes::LANE_APPLICATION_NAME;
pub use pipeline::{Command, Idempotency};
pub use schema::{IntegrationEvent, Projection, Schema};
pub use sweep::IDEMPOTENCY_RETENTION;

use reads::ReadCache;

/// Why the store did not do what it was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StoreError {
    /// Refused for a reason the caller can act on (not found, stale etag, a domain rule...).
    #[error("{0}")]
    Rejected(Rejection),
    /// A fault that is not the caller's (the database failed, a document did not decode). The
    /// cause is for the log only.
    #[error("internal: {0}")]
    Internal(String),
}

impl StoreError {
    /// A fault, with its cause for the log.
    pub fn internal(cause: impl std::fmt::Display) -> StoreError {
        StoreError::Internal(cause.to_string())
    }

    /// The rejection, if the store refused.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            StoreError::Rejected(rejection) => Some(rejection),
            StoreError::Internal(_) => None,
        }
    }

    /// Whether the store refused with `reason`.
    pub fn is_rejected_as(&self, reason: &str) -> bool {
        self.rejection().is_some_and(|r| r.reason == reason)
    }
}

impl From<Rejection> for StoreError {
    fn from(rejection: Rejection) -> Self {
        StoreError::Rejected(rejection)
    }
}

impl From<sea_orm::DbErr> for StoreError {
    fn from(error: sea_orm::DbErr) -> Self {
        StoreError::internal(error)
    }
}

/// An aggregate with the version it was stored at.
#[derive(Debug, Clone)]
pub struct Stored<A> {
    /// The aggregate.
    pub aggregate: A,
    /// Its version (and so its etag).
    pub version: Version,
}

/// One page of a list, and the token of the next (empty on the last page).
#[derive(Debug, Clone)]
pub struct Page<A> {
    /// The aggregates on this page, in id order.
    pub items: Vec<Stored<A>>,
    /// The opaque token of the next page; empty when there is none.
    pub next_page_token: String,
}

/// The environment variable of the test-only fault hook: when set as the store is created,
/// the process aborts right after a commit that wrote outbox rows (see the module docs).
pub const FAULT_ABORT_AFTER_COMMIT: &str = "SAAS_FAULT_ABORT_AFTER_COMMIT";

/// The domain events of a schema's aggregate.
pub type Event<S> = <<S as Schema>::Aggregate as AggregateRoot>::Event;

/// The store of one context's aggregates and the command pipeline over it.
pub struct Store<S: Schema> {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    /// SQLite has one writer at a time: this process's writes go to the store's writer
    /// thread, which commits them in batches (other processes still meet the busy timeout).
    /// `None` on PostgreSQL, whose row locks let commands run side by side.
    writer: Option<writer::Writer>,
    /// SQLite: the connections reads check versions on, on the calling task.
    readers: Option<Arc<readers::Readers>>,
    /// PostgreSQL: the connections chained statements run on (`lanes`).
    lanes: Option<Arc<lanes::Lanes>>,
    /// The test-only hook that fails every commit while it is on ([`Store::fail_commits`]).
    fail_commits: Arc<AtomicBool>,
    reads: Arc<ReadCache<S::Aggregate>>,
    /// The commands in flight per aggregate (a command decides before its transaction only
    /// when it is alone on its aggregate).
    in_flight: Arc<pipeline::InFlight>,
    /// Notified after every commit that wrote outbox rows; the relay waits on it.
    wake: Arc<tokio::sync::Notify>,
    /// The test-only fault hook `SAAS_FAULT_ABORT_AFTER_COMMIT` (see the module docs).
    abort_after_commit: bool,
    _schema: PhantomData<fn() -> S>,
}

impl<S: Schema> Clone for Store<S> {
    fn clone(&self) -> Self {
        Store {
            db: self.db.clone(),
            clock: self.clock.clone(),
            writer: self.writer.clone(),
            readers: self.readers.clone(),
            lanes: self.lanes.clone(),
            fail_commits: self.fail_commits.clone(),
            reads: self.reads.clone(),
            in_flight: self.in_flight.clone(),
            wake: self.wake.clone(),
            abort_after_commit: self.abort_after_commit,
            _schema: PhantomData,
        }
    }
}

impl<S: Schema> Store<S> {
    /// A store over an open (and migrated) database.
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        let wake = Arc::new(tokio::sync::Notify::new());
        let abort_after_commit = std::env::var_os(FAULT_ABORT_AFTER_COMMIT).is_some();
        let fail_commits = Arc::new(AtomicBool::new(false));
        let path = (db.get_database_backend() == DbBackend::Sqlite).then(|| {
            db.get_sqlite_connection_pool()
                .connect_options()
                .get_filename()
                .to_path_buf()
        });
        let readers = path.as_deref().map(|path| {
            let doc = parts::doc_sql::<S>(DbBackend::Sqlite);
            Arc::new(readers::Readers::new(path, S::TABLE, &doc))
        });
        let writer = path.map(|path| {
            writer::Writer::start(path, wake.clone(), abort_after_commit, fail_commits.clone())
        });
        let lanes = (db.get_database_backend() == DbBackend::Postgres)
            .then(|| {
                let pool = db.get_postgres_connection_pool();
                let count = lanes::lanes_for(pool.options().get_max_connections());
                lanes::Lanes::new(PgConnectOptions::clone(&pool.connect_options()), count)
            })
            .flatten();
        Store {
            db,
            clock,
            writer,
            readers,
            lanes,
            fail_commits,
            reads: Arc::new(ReadCache::new()),
            in_flight: Arc::default(),
            wake,
            abort_after_commit,
            _schema: PhantomData,
        }
    }

    /// **Test-only fault hook:** while `on`, every commit of this store fails: the commands
    /// of the batch are rolled back and answered `UNAVAILABLE` / `COMMIT_FAILED`. Never
    /// use it in production.
    pub fn fail_commits(&self, on: bool) {
        self.fail_commits.store(on, Ordering::SeqCst);
    }

    /// Notified after every commit that wrote outbox rows (what [`Store::spawn_relay`]'s
    /// relay waits on; hand it to [`crate::relay::Relay::spawn`] to run a relay of your own).
    pub fn outbox_wake(&self) -> Arc<tokio::sync::Notify> {
        self.wake.clone()
    }

    /// Runs the outbox relay of this store's database to `publisher` until the process ends
    /// (or the handle is aborted, which loses nothing): see [`crate::relay`].
    pub fn spawn_relay(
        &self,
        publisher: Arc<dyn crate::bus::Publisher>,
    ) -> tokio::task::JoinHandle<()> {
        crate::relay::Relay::new(self.db.clone(), publisher)
            .with_writer(self.writer.clone())
            .spawn(self.wake.clone(), std::future::pending())
    }

    /// The database connection.
    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// The current time by the injected clock.
    pub fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Runs one statement of the store's own upkeep (a purge, say): on SQLite through the
    /// writer, in its next batch; on PostgreSQL on the pool.
    pub(crate) async fn write_statement<T>(&self, statement: T) -> Result<u64, StoreError>
    where
        T: sea_orm::StatementBuilder + Send + 'static,
    {
        use sea_orm::ConnectionTrait as _;
        match &self.writer {
            Some(writer) => writer.execute(statement).await,
            None => Ok(self.db.execute(&statement).await?.rows_affected()),
        }
    }
}

/// The columns every document table has (see [`crate::migration::create_document_table`]).
mod column {
    pub const ID: &str = "id";
    pub const VERSION: &str = "version";
    pub const DOC: &str = "doc";
    pub const UPDATED_AT: &str = "updated_at";
    pub const DUE_AT: &str = "due_at";
    /// The columns of a multi-valued index table `<table>_<name>`.
    pub const SET_VALUE: &str = "value";
    pub const SET_AGGREGATE_ID: &str = "aggregate_id";
}

/// The multi-valued index table of a schema, `<TABLE>_<SET_INDEX>`, if it has one.
fn set_index_table<S: Schema>() -> Option<sea_orm::sea_query::Alias> {
    S::SET_INDEX.map(|index| sea_orm::sea_query::Alias::new(format!("{}_{index}", S::TABLE)))
}

/// Decodes a `(version, doc)` row.
fn decode<A: serde::de::DeserializeOwned>(
    row: &sea_orm::QueryResult,
) -> Result<Stored<A>, StoreError> {
    let version: i64 = row.try_get_by_index(0)?;
    let doc: String = row.try_get_by_index(1)?;
    let aggregate = serde_json::from_str(&doc).map_err(StoreError::internal)?;
    Ok(Stored {
        aggregate,
        version: Version::new(version as u64),
    })
}

#[cfg(test)]
mod test_support;
#[cfg(test)]
mod tests;
