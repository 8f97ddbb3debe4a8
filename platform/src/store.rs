//! The document store and the command pipeline, generic over a context's [`Schema`].
//!
//! An aggregate is stored whole, as one JSON document per row, beside the columns the context
//! indexes (unique ones such as `email` are enforced by the database). Every command runs
//! through [`Store::create`] or [`Store::update`], which in **one transaction**:
//!
//! 1. claim the `request_id` in the idempotency table (a repeat replays the stored response;
//!    the same id with a different request is `REQUEST_ID_REUSED`; concurrent duplicates wait
//!    on the claim and then replay),
//! 2. load the aggregate (on PostgreSQL `FOR UPDATE`, so writers to one aggregate queue)
//!    and compare the caller's etag (`ETAG_MISMATCH` when stale),
//! 3. let the domain decide (a rejection rolls everything back),
//! 4. save it with `version = version + 1 WHERE version = <loaded>` (a lost race retries when
//!    the caller sent no etag, and is `ETAG_MISMATCH` when it did); a decision that changed
//!    nothing and caused no event keeps the version,
//! 5. append the events to the outbox, write the side-table rows the schema projects from
//!    them ([`Schema::project`]), and store the response under the `request_id`.
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
//! and publish; never set it in production.

use std::{marker::PhantomData, sync::Arc};

use kernel_domain::{
    AggregateRoot, Clock, DomainEvent, Rejection, RejectionKind, Timestamp, Version,
};
use saas_proto::events::v1 as saas_events;
use sea_orm::{
    ConnectionTrait, DatabaseConnection, DatabaseTransaction, DbBackend, DbErr, QueryResult,
    Statement, Value,
};
use tonic::Status;
use uuid::Uuid;

use crate::{
    db::{begin_write, placeholders},
    migration::IndexedColumn,
    rpc::{self, PageRequest},
};

/// How a context's aggregate is laid out in its store.
pub trait Schema: Send + Sync + 'static {
    /// The aggregate root kept in this table.
    type Aggregate: AggregateRoot;
    /// The table of documents.
    const TABLE: &'static str;
    /// The aggregate's name in the outbox, e.g. `identity.user`.
    const AGGREGATE_TYPE: &'static str;
    /// The error domain of `ErrorInfo`, e.g. `identity.saas`.
    const ERROR_DOMAIN: &'static str;
    /// The indexed columns, in the order [`Schema::column_values`] returns them.
    const COLUMNS: &'static [IndexedColumn];
    /// The values of the indexed columns for an aggregate (`None` stores NULL).
    fn column_values(aggregate: &Self::Aggregate) -> Vec<Option<String>>;
    /// The rejection when the unique column `column` already holds the value.
    fn taken(column: &str) -> Rejection;
    /// The rejection for an id that names no aggregate.
    fn not_found() -> Rejection;

    /// A multi-valued index kept in the side table `<TABLE>_<name>` (for example the
    /// members of a workspace, to list a user's workspaces); `None` when there is none.
    const SET_INDEX: Option<&'static str> = None;
    /// The values of the multi-valued index for an aggregate.
    fn set_index_values(_aggregate: &Self::Aggregate) -> Vec<String> {
        Vec::new()
    }

    /// When the aggregate next has work due that the system itself applies (an invitation
    /// expiring, a trial ending); `None` when nothing is due.
    fn due_at(_aggregate: &Self::Aggregate) -> Option<Timestamp> {
        None
    }

    /// The integration event (the published language) a domain event leaves the service
    /// as: its `saas.<context>.v1` payload message and the workspace it concerns. Written to
    /// the outbox inside the command's transaction, in an `EventEnvelope`.
    fn integration_event(
        aggregate: &Self::Aggregate,
        event: &<Self::Aggregate as AggregateRoot>::Event,
    ) -> IntegrationEvent;

    /// Applies the work due at `now` ([`Store::sweep_once`] calls it for every aggregate whose
    /// [`Schema::due_at`] has passed). It must be idempotent: once applied, `due_at` moves on.
    fn apply_due(
        _aggregate: &mut Self::Aggregate,
        _now: Timestamp,
    ) -> Result<Vec<<Self::Aggregate as AggregateRoot>::Event>, Rejection> {
        Ok(Vec::new())
    }

    /// The rows a domain event writes to the context's side tables besides the document
    /// (the entries of a feed, say, which are too many to keep inside it), given the
    /// aggregate as the command left it. They are written in the command's transaction
    /// right after its outbox rows, so they commit with the aggregate or not at all. None by
    /// default.
    fn project(
        _aggregate: &Self::Aggregate,
        _event: &<Self::Aggregate as AggregateRoot>::Event,
    ) -> Vec<Projection> {
        Vec::new()
    }

    /// The rejection for creating an aggregate whose id is already stored, for aggregates
    /// whose id the caller chooses (one feed per user, keyed by the user's id): two first
    /// commands racing to create it then tell the loser apart from a fault, and it can retry
    /// as an update. `None` (the default) answers a taken id as an internal fault, since ids
    /// made by [`crate::new_id`] never collide.
    fn id_taken() -> Option<Rejection> {
        None
    }
}

/// One write to a side table, made by [`Schema::project`] in the command's transaction.
/// Table and column names are the schema's own constants, never input; values are bound.
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    /// `INSERT INTO table (columns...) VALUES (values...)`: one value per column, in order.
    Insert {
        /// The side table.
        table: &'static str,
        /// Its columns.
        columns: &'static [&'static str],
        /// The values, one per column.
        values: Vec<Value>,
    },
    /// `DELETE FROM table WHERE condition`, with `?` placeholders in `condition` bound to
    /// `values` in order.
    DeleteWhere {
        /// The side table.
        table: &'static str,
        /// The condition, e.g. `feed_id = ? AND seq < ?`.
        condition: &'static str,
        /// The values of its placeholders.
        values: Vec<Value>,
    },
}

/// What a domain event is published as: a message of the context's `events.proto` and the
/// workspace the event concerns, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationEvent {
    /// The workspace the event concerns; `None` for events about no workspace.
    pub workspace_id: Option<Uuid>,
    /// The payload, packed with its full message name.
    pub payload: prost_types::Any,
}

impl IntegrationEvent {
    /// Packs `message` (whose full proto name, e.g. `saas.billing.v1.SubscriptionSeatsChanged`,
    /// is `full_name`) for the workspace `workspace_id`.
    pub fn new(
        workspace_id: Option<Uuid>,
        full_name: &str,
        message: &impl prost::Message,
    ) -> IntegrationEvent {
        IntegrationEvent {
            workspace_id,
            payload: prost_types::Any {
                type_url: format!("type.googleapis.com/{full_name}"),
                value: message.encode_to_vec(),
            },
        }
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

/// What the pipeline needs to know about a command besides the domain decision.
#[derive(Debug, Clone)]
pub struct Command {
    /// The RPC method, part of the request fingerprint.
    pub method: &'static str,
    /// The request id and fingerprint; `None` only for the few commands without a request id.
    pub idempotency: Option<Idempotency>,
    /// The etag the caller read, if it sent one.
    pub expected: Option<Version>,
}

/// The idempotency key of a command and the fingerprint of its request.
#[derive(Debug, Clone)]
pub struct Idempotency {
    /// The caller's request id.
    pub request_id: Uuid,
    /// From [`rpc::fingerprint`], with secrets cleared.
    pub fingerprint: String,
}

impl Command {
    /// A command with a request id.
    pub fn new(
        method: &'static str,
        request_id: Uuid,
        request: &impl prost::Message,
        expected: Option<Version>,
    ) -> Self {
        Command {
            method,
            idempotency: Some(Idempotency {
                request_id,
                fingerprint: rpc::fingerprint(method, request),
            }),
            expected,
        }
    }

    /// Binds the command to the acting user: the same request id sent by another user is
    /// then `REQUEST_ID_REUSED`, never a replay of someone else's response.
    #[must_use]
    pub fn by_actor(mut self, actor: Option<Uuid>) -> Self {
        if let (Some(actor), Some(key)) = (actor, self.idempotency.as_mut()) {
            key.fingerprint = rpc::fingerprint(
                self.method,
                &rpc::ActorBound {
                    fingerprint: std::mem::take(&mut key.fingerprint),
                    actor: actor.to_string(),
                },
            );
        }
        self
    }

    /// A command without a request id (verifying credentials): not replayed, never stored.
    pub fn unrecorded(method: &'static str) -> Self {
        Command {
            method,
            idempotency: None,
            expected: None,
        }
    }
}

/// How long a request id is remembered: a retry within this window replays the original
/// response (AIP-155 asks for at least 24 hours).
pub const IDEMPOTENCY_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// How many times a command without an etag is re-run after losing a race.
const MAX_ATTEMPTS: usize = 8;

/// Ends the process at once, as the fault hook asks: SIGKILL (sent by `kill -9` to ourselves,
/// which needs no unsafe code) for `kill`, else `abort`; `abort` also if `kill` cannot run.
fn crash_after_commit() -> ! {
    if std::env::var(FAULT_ABORT_AFTER_COMMIT).as_deref() == Ok("kill") {
        let _ = std::process::Command::new("kill")
            .args(["-9", &std::process::id().to_string()])
            .status();
    }
    std::process::abort()
}

/// The environment variable of the test-only fault hook: when set as the store is created,
/// the process aborts right after a commit that wrote outbox rows (see the module docs).
pub const FAULT_ABORT_AFTER_COMMIT: &str = "SAAS_FAULT_ABORT_AFTER_COMMIT";

enum Failure {
    Rejected(Rejection),
    Db(DbErr),
    Internal(String),
    /// Lost the version race (PostgreSQL; SQLite serialises writers).
    Conflict,
}

impl From<DbErr> for Failure {
    fn from(e: DbErr) -> Self {
        Failure::Db(e)
    }
}

impl From<Rejection> for Failure {
    fn from(r: Rejection) -> Self {
        Failure::Rejected(r)
    }
}

#[derive(Clone, Copy)]
enum Write {
    Save,
    Delete,
}

enum Claim {
    Claimed,
    Replay(Vec<u8>),
}

/// The store of one context's aggregates and the command pipeline over it.
pub struct Store<S: Schema> {
    db: DatabaseConnection,
    clock: Arc<dyn Clock>,
    /// SQLite has one writer at a time: writers in this process queue here instead of
    /// spinning on the file lock (other processes still meet the busy timeout).
    write_gate: Option<Arc<tokio::sync::Mutex<()>>>,
    reads: Arc<ReadCache<S::Aggregate>>,
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
            write_gate: self.write_gate.clone(),
            reads: self.reads.clone(),
            wake: self.wake.clone(),
            abort_after_commit: self.abort_after_commit,
            _schema: PhantomData,
        }
    }
}

/// Decoded aggregates by id and version, so a read of an unchanged aggregate costs a version
/// comparison instead of a document transfer and a JSON decode. Every read still asks the
/// database for the current version, so it never serves a stale aggregate, also when other
/// processes write to the same database.
struct ReadCache<A> {
    entries: std::sync::Mutex<std::collections::HashMap<Uuid, (Version, Arc<A>)>>,
}

impl<A> ReadCache<A> {
    /// How many aggregates are kept; past that the cache starts over.
    const CAPACITY: usize = 4096;

    fn new() -> Self {
        ReadCache {
            entries: std::sync::Mutex::new(std::collections::HashMap::new()),
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<Uuid, (Version, Arc<A>)>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn version(&self, id: Uuid) -> Option<Version> {
        self.lock().get(&id).map(|(version, _)| *version)
    }

    fn get(&self, id: Uuid, version: Version) -> Option<Arc<A>> {
        self.lock()
            .get(&id)
            .filter(|(cached, _)| *cached == version)
            .map(|(_, aggregate)| aggregate.clone())
    }

    fn put(&self, id: Uuid, version: Version, aggregate: Arc<A>) {
        let mut entries = self.lock();
        if entries.len() >= Self::CAPACITY && !entries.contains_key(&id) {
            entries.clear();
        }
        entries.insert(id, (version, aggregate));
    }
}

type Event<S> = <<S as Schema>::Aggregate as AggregateRoot>::Event;

impl<S: Schema> Store<S> {
    /// A store over an open (and migrated) database.
    pub fn new(db: DatabaseConnection, clock: Arc<dyn Clock>) -> Self {
        let write_gate = (db.get_database_backend() == DbBackend::Sqlite)
            .then(|| Arc::new(tokio::sync::Mutex::new(())));
        Store {
            db,
            clock,
            write_gate,
            reads: Arc::new(ReadCache::new()),
            wake: Arc::new(tokio::sync::Notify::new()),
            abort_after_commit: std::env::var_os(FAULT_ABORT_AFTER_COMMIT).is_some(),
            _schema: PhantomData,
        }
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
            .with_write_gate(self.write_gate.clone())
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

    /// Maps a rejection to this context's status.
    pub fn reject(&self, rejection: &Rejection) -> Status {
        rpc::rejection_status(rejection, S::ERROR_DOMAIN)
    }

    /// Logs an internal failure and answers `INTERNAL`.
    pub fn internal(&self, cause: impl std::fmt::Display) -> Status {
        rpc::internal(cause, S::ERROR_DOMAIN)
    }

    fn stmt(&self, sql: &str, values: Vec<Value>) -> Statement {
        let backend = self.db.get_database_backend();
        Statement::from_sql_and_values(backend, placeholders(backend, sql), values)
    }

    fn decode(&self, row: &QueryResult) -> Result<Stored<S::Aggregate>, Status> {
        let version: i64 = row.try_get_by_index(0).map_err(|e| self.internal(e))?;
        let doc: String = row.try_get_by_index(1).map_err(|e| self.internal(e))?;
        let aggregate = serde_json::from_str(&doc).map_err(|e| self.internal(e))?;
        Ok(Stored {
            aggregate,
            version: Version::new(version as u64),
        })
    }

    /// Reads one aggregate. The document travels only when it changed since this process
    /// last decoded it.
    pub async fn get(&self, id: Uuid) -> Result<Option<Stored<S::Aggregate>>, Status> {
        let cached = self.reads.version(id).map_or(0, |v| v.get() as i64);
        let sql = format!(
            "SELECT version, CASE WHEN version = ? THEN NULL ELSE doc END FROM {} WHERE id = ?",
            S::TABLE
        );
        let Some(row) = self
            .db
            .query_one_raw(self.stmt(&sql, vec![cached.into(), id.to_string().into()]))
            .await
            .map_err(|e| self.internal(e))?
        else {
            return Ok(None);
        };
        let version: i64 = row.try_get_by_index(0).map_err(|e| self.internal(e))?;
        let version = Version::new(version as u64);
        let doc: Option<String> = row.try_get_by_index(1).map_err(|e| self.internal(e))?;
        let aggregate = match (doc, self.reads.get(id, version)) {
            (None, Some(aggregate)) => aggregate,
            (Some(doc), _) => {
                let aggregate: Arc<S::Aggregate> =
                    Arc::new(serde_json::from_str(&doc).map_err(|e| self.internal(e))?);
                self.reads.put(id, version, aggregate.clone());
                aggregate
            }
            // The cached entry was replaced between the two looks: read the document.
            (None, None) => {
                let sql = format!("SELECT version, doc FROM {} WHERE id = ?", S::TABLE);
                let row = self
                    .db
                    .query_one_raw(self.stmt(&sql, vec![id.to_string().into()]))
                    .await
                    .map_err(|e| self.internal(e))?;
                return row.map(|row| self.decode(&row)).transpose();
            }
        };
        Ok(Some(Stored {
            aggregate: Arc::unwrap_or_clone(aggregate),
            version,
        }))
    }

    /// Reads one aggregate or answers the context's `NOT_FOUND`.
    pub async fn get_existing(&self, id: Uuid) -> Result<Stored<S::Aggregate>, Status> {
        self.get(id)
            .await?
            .ok_or_else(|| self.reject(&S::not_found()))
    }

    /// Finds the aggregate whose indexed `column` holds `value`.
    pub async fn find_by(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Option<Stored<S::Aggregate>>, Status> {
        let column = Self::indexed(column)?;
        let sql = format!("SELECT version, doc FROM {} WHERE {column} = ?", S::TABLE);
        let row = self
            .db
            .query_one_raw(self.stmt(&sql, vec![value.to_owned().into()]))
            .await
            .map_err(|e| self.internal(e))?;
        row.map(|row| self.decode(&row)).transpose()
    }

    /// Finds the aggregate whose indexed `column` holds `value`, or answers the context's
    /// `NOT_FOUND`.
    pub async fn find_existing_by(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Stored<S::Aggregate>, Status> {
        self.find_by(column, value)
            .await?
            .ok_or_else(|| self.reject(&S::not_found()))
    }

    fn indexed(column: &str) -> Result<&'static str, Status> {
        S::COLUMNS
            .iter()
            .find(|c| c.name == column)
            .map(|c| c.name)
            .ok_or_else(|| {
                rpc::internal(
                    format!("{column} is not an indexed column"),
                    S::ERROR_DOMAIN,
                )
            })
    }

    /// Reads several aggregates, in the order of `ids`; unknown ids are left out.
    pub async fn get_many(&self, ids: &[Uuid]) -> Result<Vec<Stored<S::Aggregate>>, Status> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let marks = vec!["?"; ids.len()].join(", ");
        let sql = format!(
            "SELECT version, doc, id FROM {} WHERE id IN ({marks})",
            S::TABLE
        );
        let values = ids.iter().map(|id| id.to_string().into()).collect();
        let rows = self
            .db
            .query_all_raw(self.stmt(&sql, values))
            .await
            .map_err(|e| self.internal(e))?;
        let mut found = std::collections::HashMap::new();
        for row in rows {
            let id: String = row.try_get_by_index(2).map_err(|e| self.internal(e))?;
            found.insert(id, self.decode(&row)?);
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.get(&id.to_string()).cloned())
            .collect())
    }

    /// One page of aggregates in id (so creation) order, and the token of the next page.
    pub async fn list(&self, page: PageRequest) -> Result<Page<S::Aggregate>, Status> {
        let after = page.after.map(|id| id.to_string()).unwrap_or_default();
        let sql = format!(
            "SELECT version, doc, id FROM {} WHERE id > ? ORDER BY id LIMIT ?",
            S::TABLE
        );
        let rows = self
            .db
            .query_all_raw(self.stmt(&sql, vec![after.into(), ((page.size + 1) as i64).into()]))
            .await
            .map_err(|e| self.internal(e))?;
        self.page(rows, page)
    }

    fn page(
        &self,
        rows: Vec<QueryResult>,
        page: PageRequest,
    ) -> Result<Page<S::Aggregate>, Status> {
        let more = rows.len() as u64 > page.size;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows.iter().take(page.size as usize) {
            items.push(self.decode(row)?);
        }
        let next = match (more, items.last()) {
            (true, Some(last)) => rpc::encode_page_token(last.aggregate.aggregate_id()),
            _ => String::new(),
        };
        Ok(Page {
            items,
            next_page_token: next,
        })
    }

    /// Deletes idempotency records older than [`IDEMPOTENCY_RETENTION`]; returns how many.
    pub async fn purge_idempotency(&self) -> Result<u64, Status> {
        let cutoff = self.clock.now() - IDEMPOTENCY_RETENTION;
        let deleted = self
            .db
            .execute_raw(self.stmt(
                "DELETE FROM idempotency WHERE created_at < ?",
                vec![cutoff.timestamp_micros().into()],
            ))
            .await
            .map_err(|e| self.internal(e))?
            .rows_affected();
        Ok(deleted)
    }

    /// Purges old idempotency records every hour until the process ends.
    pub fn spawn_idempotency_purge(&self) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tick.tick().await;
                match store.purge_idempotency().await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(table = S::TABLE, purged = n, "purged idempotency records")
                    }
                    Err(e) => tracing::warn!(error = %e.message(), "idempotency purge failed"),
                }
            }
        })
    }

    /// Runs a command that creates an aggregate. `respond` renders the response that is
    /// returned and stored for replays, as of the decision's time.
    pub async fn create<R>(
        &self,
        command: Command,
        decide: impl FnOnce(Timestamp) -> Result<(S::Aggregate, Vec<Event<S>>), Rejection>,
        respond: impl Fn(&Stored<S::Aggregate>, Timestamp) -> R,
    ) -> Result<R, Status>
    where
        R: prost::Message + Default,
    {
        let _gate = self.gate().await;
        let txn = begin_write(&self.db).await.map_err(|e| self.internal(e))?;
        let result = async {
            if let Claim::Replay(bytes) = self.claim(&txn, &command).await? {
                return Ok(Err(bytes));
            }
            let now = self.clock.now();
            let (aggregate, events) = decide(now)?;
            let stored = Stored {
                aggregate,
                version: Version::INITIAL,
            };
            self.insert(&txn, &stored).await?;
            let response = respond(&stored, now);
            self.finish(&txn, &command, &stored, &events, &response)
                .await?;
            Ok(Ok((response, !events.is_empty())))
        }
        .await;
        self.conclude(txn, result).await
    }

    /// Runs a command on an existing aggregate. `decide` may run more than once when the
    /// command carries no etag and loses a race; it must only depend on the aggregate and
    /// the time it is given.
    pub async fn update<R>(
        &self,
        command: Command,
        id: Uuid,
        decide: impl FnMut(&mut S::Aggregate, Timestamp) -> Result<Vec<Event<S>>, Rejection>,
        respond: impl Fn(&Stored<S::Aggregate>, Timestamp) -> R,
    ) -> Result<R, Status>
    where
        R: prost::Message + Default,
    {
        self.apply(command, id, Write::Save, decide, respond).await
    }

    /// Runs a command that ends an aggregate: when `decide` accepts, the document is deleted
    /// (its events still go to the outbox, and the response is kept for replays).
    pub async fn delete<R>(
        &self,
        command: Command,
        id: Uuid,
        decide: impl FnMut(&mut S::Aggregate, Timestamp) -> Result<Vec<Event<S>>, Rejection>,
        respond: impl Fn(&Stored<S::Aggregate>, Timestamp) -> R,
    ) -> Result<R, Status>
    where
        R: prost::Message + Default,
    {
        self.apply(command, id, Write::Delete, decide, respond)
            .await
    }

    async fn apply<R>(
        &self,
        command: Command,
        id: Uuid,
        write: Write,
        mut decide: impl FnMut(&mut S::Aggregate, Timestamp) -> Result<Vec<Event<S>>, Rejection>,
        respond: impl Fn(&Stored<S::Aggregate>, Timestamp) -> R,
    ) -> Result<R, Status>
    where
        R: prost::Message + Default,
    {
        for _ in 0..MAX_ATTEMPTS {
            let _gate = self.gate().await;
            let txn = begin_write(&self.db).await.map_err(|e| self.internal(e))?;
            let result = async {
                if let Claim::Replay(bytes) = self.claim(&txn, &command).await? {
                    return Ok(Err(bytes));
                }
                let loaded = self.load(&txn, id).await?.ok_or_else(S::not_found)?;
                if let Some(expected) = command.expected
                    && expected != loaded.version
                {
                    return Err(Failure::Rejected(rpc::etag_mismatch()));
                }
                let before = self.document(&loaded)?;
                let before_set = S::set_index_values(&loaded.aggregate);
                let mut aggregate = loaded.aggregate;
                let now = self.clock.now();
                let events = decide(&mut aggregate, now)?;
                let mut stored = Stored {
                    aggregate,
                    version: loaded.version,
                };
                let written = match write {
                    Write::Delete => {
                        stored.version = loaded.version.next();
                        self.remove(&txn, &stored, loaded.version, &before_set)
                            .await?
                    }
                    // A command that caused nothing (a refused login of a locked account,
                    // say) is answered without a new version.
                    Write::Save if events.is_empty() && self.document(&stored)? == before => true,
                    Write::Save => {
                        stored.version = loaded.version.next();
                        self.save(&txn, &stored, loaded.version, &before_set)
                            .await?
                    }
                };
                if !written {
                    return Err(Failure::Conflict);
                }
                let response = respond(&stored, now);
                self.finish(&txn, &command, &stored, &events, &response)
                    .await?;
                Ok(Ok((response, !events.is_empty())))
            }
            .await;
            match result {
                Err(Failure::Conflict) if command.expected.is_none() => {
                    txn.rollback().await.map_err(|e| self.internal(e))?;
                    continue;
                }
                Err(Failure::Conflict) => {
                    txn.rollback().await.map_err(|e| self.internal(e))?;
                    return Err(self.reject(&rpc::etag_mismatch()));
                }
                other => return self.conclude(txn, other).await,
            }
        }
        Err(self.reject(&Rejection::new(
            RejectionKind::Aborted,
            "CONCURRENT_MODIFICATION",
            "the resource is changing too often right now; retry",
        )))
    }

    /// One page of the aggregates whose due work has come (`due_at <= now`), in
    /// `(due_at, id)` order after `after`: a keyset walk, so rows that keep failing cannot
    /// hide the ones behind them.
    async fn due_page(
        &self,
        after: Option<&(i64, String)>,
        limit: u64,
    ) -> Result<Vec<(i64, String)>, Status> {
        let (after_due, after_id) = after.cloned().unwrap_or((i64::MIN, String::new()));
        let sql = format!(
            "SELECT due_at, id FROM {} WHERE due_at IS NOT NULL AND due_at <= ? \
             AND (due_at > ? OR (due_at = ? AND id > ?)) ORDER BY due_at, id LIMIT ?",
            S::TABLE
        );
        let rows = self
            .db
            .query_all_raw(self.stmt(
                &sql,
                vec![
                    self.clock.now().timestamp_micros().into(),
                    after_due.into(),
                    after_due.into(),
                    after_id.into(),
                    (limit as i64).into(),
                ],
            ))
            .await
            .map_err(|e| self.internal(e))?;
        rows.iter()
            .map(|row| {
                let due: i64 = row.try_get_by_index(0).map_err(|e| self.internal(e))?;
                let id: String = row.try_get_by_index(1).map_err(|e| self.internal(e))?;
                Ok((due, id))
            })
            .collect()
    }

    /// Applies the due work of every aggregate whose time has come, each in its own
    /// transaction through the pipeline; returns how many aggregates changed. Safe to run
    /// from several replicas at once: the version check lets one win, and the loser finds
    /// nothing due any more. An aggregate whose work fails is logged and passed over until
    /// the next sweep.
    pub async fn sweep_once(&self) -> Result<usize, Status> {
        let mut changed = 0;
        let mut after: Option<(i64, String)> = None;
        loop {
            let page = self.due_page(after.as_ref(), 100).await?;
            let Some(last) = page.last().cloned() else {
                return Ok(changed);
            };
            for (_, id) in &page {
                let id = Uuid::try_parse(id).map_err(|e| self.internal(e))?;
                let mut caused = false;
                let result = self
                    .update(
                        Command::unrecorded("ApplyDueWork"),
                        id,
                        |aggregate, now| {
                            let events = S::apply_due(aggregate, now)?;
                            caused = !events.is_empty();
                            Ok(events)
                        },
                        |_, _| (),
                    )
                    .await;
                match result {
                    Ok(()) if caused => changed += 1,
                    Ok(()) => {}
                    Err(status) if status.code() == tonic::Code::NotFound => {}
                    Err(status) => {
                        tracing::warn!(table = S::TABLE, %id, error = %status.message(), "due work failed");
                    }
                }
            }
            after = Some(last);
        }
    }

    /// Sweeps for due work every `every` until the process ends. The due dates are data, so
    /// a restart simply picks up where the last sweep stopped.
    pub fn spawn_sweeper(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match store.sweep_once().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(table = S::TABLE, changed = n, "applied due work"),
                    Err(e) => tracing::warn!(error = %e.message(), "sweep failed"),
                }
            }
        })
    }

    /// One page of the aggregates whose multi-valued index holds `value` (the workspaces of
    /// a user, say), in id order.
    pub async fn list_by_set_index(
        &self,
        value: &str,
        page: PageRequest,
    ) -> Result<Page<S::Aggregate>, Status> {
        let Some(index) = S::SET_INDEX else {
            return Err(self.internal(format!("{} has no set index", S::TABLE)));
        };
        let after = page.after.map(|id| id.to_string()).unwrap_or_default();
        let sql = format!(
            "SELECT d.version, d.doc, d.id FROM {table} d JOIN {table}_{index} x ON x.aggregate_id = d.id \
             WHERE x.value = ? AND d.id > ? ORDER BY d.id LIMIT ?",
            table = S::TABLE
        );
        let rows = self
            .db
            .query_all_raw(self.stmt(
                &sql,
                vec![
                    value.to_owned().into(),
                    after.into(),
                    ((page.size + 1) as i64).into(),
                ],
            ))
            .await
            .map_err(|e| self.internal(e))?;
        self.page(rows, page)
    }

    async fn gate(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.write_gate {
            Some(gate) => Some(gate.clone().lock_owned().await),
            None => None,
        }
    }

    /// Commits a successful run, rolls back anything else, and renders the outcome.
    async fn conclude<R: prost::Message + Default>(
        &self,
        txn: DatabaseTransaction,
        result: Result<Result<(R, bool), Vec<u8>>, Failure>,
    ) -> Result<R, Status> {
        match result {
            Ok(Ok((response, wrote_events))) => {
                txn.commit().await.map_err(|e| self.internal(e))?;
                if wrote_events {
                    if self.abort_after_commit {
                        crash_after_commit();
                    }
                    self.wake.notify_one();
                }
                Ok(response)
            }
            Ok(Err(replayed)) => {
                txn.rollback().await.map_err(|e| self.internal(e))?;
                R::decode(replayed.as_slice()).map_err(|e| self.internal(e))
            }
            Err(failure) => {
                txn.rollback().await.map_err(|e| self.internal(e))?;
                Err(match failure {
                    Failure::Rejected(rejection) => self.reject(&rejection),
                    Failure::Db(e) => match self.unique_violation(&e) {
                        Some(rejection) => self.reject(&rejection),
                        None => self.internal(e),
                    },
                    Failure::Internal(cause) => self.internal(cause),
                    Failure::Conflict => self.reject(&rpc::etag_mismatch()),
                })
            }
        }
    }

    fn unique_violation(&self, error: &DbErr) -> Option<Rejection> {
        let sea_orm::SqlErr::UniqueConstraintViolation(message) = error.sql_err()? else {
            return None;
        };
        S::COLUMNS
            .iter()
            .filter(|c| c.unique)
            .find(|c| {
                message.contains(&format!("{}.{}", S::TABLE, c.name))
                    || message.contains(&format!("ux_{}_{}", S::TABLE, c.name))
            })
            .map(|c| S::taken(c.name))
            .or_else(|| {
                // The primary key: `<table>.id` on SQLite, `<table>_pkey` on PostgreSQL.
                let id_taken = message.ends_with(&format!("{}.id", S::TABLE))
                    || message.contains(&format!("\"{}_pkey\"", S::TABLE));
                if id_taken { S::id_taken() } else { None }
            })
    }

    async fn claim(&self, txn: &DatabaseTransaction, command: &Command) -> Result<Claim, Failure> {
        let Some(key) = &command.idempotency else {
            return Ok(Claim::Claimed);
        };
        let inserted = txn
            .execute_raw(self.stmt(
                "INSERT INTO idempotency (request_id, method, fingerprint, response, created_at) \
                 VALUES (?, ?, ?, NULL, ?) ON CONFLICT (request_id) DO NOTHING",
                vec![
                    key.request_id.to_string().into(),
                    command.method.into(),
                    key.fingerprint.clone().into(),
                    self.clock.now().timestamp_micros().into(),
                ],
            ))
            .await?
            .rows_affected();
        if inserted == 1 {
            return Ok(Claim::Claimed);
        }
        let row = txn
            .query_one_raw(self.stmt(
                "SELECT method, fingerprint, response FROM idempotency WHERE request_id = ?",
                vec![key.request_id.to_string().into()],
            ))
            .await?
            .ok_or_else(|| Failure::Internal("idempotency record vanished".into()))?;
        let method: String = row.try_get_by_index(0)?;
        let fingerprint: String = row.try_get_by_index(1)?;
        let response: Option<Vec<u8>> = row.try_get_by_index(2)?;
        if method != command.method || fingerprint != key.fingerprint {
            return Err(Failure::Rejected(Rejection::invalid_field(
                "REQUEST_ID_REUSED",
                "request_id",
                "this request_id was already used for a different request",
            )));
        }
        response
            .map(Claim::Replay)
            .ok_or_else(|| Failure::Internal("idempotency record without a response".into()))
    }

    async fn load(
        &self,
        txn: &DatabaseTransaction,
        id: Uuid,
    ) -> Result<Option<Stored<S::Aggregate>>, Failure> {
        // PostgreSQL: lock the row, so writers to one aggregate queue instead of losing the
        // version race over and over (SQLite's IMMEDIATE transaction already serialises).
        let lock = match self.db.get_database_backend() {
            DbBackend::Postgres => " FOR UPDATE",
            _ => "",
        };
        let sql = format!("SELECT version, doc FROM {} WHERE id = ?{lock}", S::TABLE);
        let row = txn
            .query_one_raw(self.stmt(&sql, vec![id.to_string().into()]))
            .await?;
        row.map(|row| self.decode(&row))
            .transpose()
            .map_err(|status| Failure::Internal(status.message().to_owned()))
    }

    fn document(&self, stored: &Stored<S::Aggregate>) -> Result<String, Failure> {
        serde_json::to_string(&stored.aggregate).map_err(|e| Failure::Internal(e.to_string()))
    }

    async fn insert(
        &self,
        txn: &DatabaseTransaction,
        stored: &Stored<S::Aggregate>,
    ) -> Result<(), Failure> {
        let mut columns = String::from("id, version, doc, updated_at, due_at");
        let mut marks = String::from("?, ?, ?, ?, ?");
        let mut values: Vec<Value> = vec![
            stored.aggregate.aggregate_id().to_string().into(),
            (stored.version.get() as i64).into(),
            self.document(stored)?.into(),
            self.clock.now().timestamp_micros().into(),
            S::due_at(&stored.aggregate)
                .map(|t| t.timestamp_micros())
                .into(),
        ];
        for (column, value) in S::COLUMNS.iter().zip(S::column_values(&stored.aggregate)) {
            columns.push_str(", ");
            columns.push_str(column.name);
            marks.push_str(", ?");
            values.push(value.into());
        }
        let sql = format!("INSERT INTO {} ({columns}) VALUES ({marks})", S::TABLE);
        txn.execute_raw(self.stmt(&sql, values)).await?;
        self.reindex(txn, stored, &[]).await
    }

    async fn save(
        &self,
        txn: &DatabaseTransaction,
        stored: &Stored<S::Aggregate>,
        loaded: Version,
        before_set: &[String],
    ) -> Result<bool, Failure> {
        let mut sets = String::from("version = ?, doc = ?, updated_at = ?, due_at = ?");
        let mut values: Vec<Value> = vec![
            (stored.version.get() as i64).into(),
            self.document(stored)?.into(),
            self.clock.now().timestamp_micros().into(),
            S::due_at(&stored.aggregate)
                .map(|t| t.timestamp_micros())
                .into(),
        ];
        for (column, value) in S::COLUMNS.iter().zip(S::column_values(&stored.aggregate)) {
            sets.push_str(", ");
            sets.push_str(column.name);
            sets.push_str(" = ?");
            values.push(value.into());
        }
        values.push(stored.aggregate.aggregate_id().to_string().into());
        values.push((loaded.get() as i64).into());
        let sql = format!(
            "UPDATE {} SET {sets} WHERE id = ? AND version = ?",
            S::TABLE
        );
        let updated = txn
            .execute_raw(self.stmt(&sql, values))
            .await?
            .rows_affected();
        if updated != 1 {
            return Ok(false);
        }
        self.reindex(txn, stored, before_set).await?;
        Ok(true)
    }

    async fn remove(
        &self,
        txn: &DatabaseTransaction,
        stored: &Stored<S::Aggregate>,
        loaded: Version,
        before_set: &[String],
    ) -> Result<bool, Failure> {
        let id = stored.aggregate.aggregate_id().to_string();
        let sql = format!("DELETE FROM {} WHERE id = ? AND version = ?", S::TABLE);
        let deleted = txn
            .execute_raw(self.stmt(&sql, vec![id.clone().into(), (loaded.get() as i64).into()]))
            .await?
            .rows_affected();
        if deleted != 1 {
            return Ok(false);
        }
        if let Some(index) = S::SET_INDEX
            && !before_set.is_empty()
        {
            let sql = format!("DELETE FROM {}_{index} WHERE aggregate_id = ?", S::TABLE);
            txn.execute_raw(self.stmt(&sql, vec![id.into()])).await?;
        }
        Ok(true)
    }

    /// Brings the multi-valued index in line with the aggregate: only the values that
    /// changed are written.
    async fn reindex(
        &self,
        txn: &DatabaseTransaction,
        stored: &Stored<S::Aggregate>,
        before: &[String],
    ) -> Result<(), Failure> {
        let Some(index) = S::SET_INDEX else {
            return Ok(());
        };
        let id = stored.aggregate.aggregate_id().to_string();
        let after = S::set_index_values(&stored.aggregate);
        let table = format!("{}_{index}", S::TABLE);
        for gone in before.iter().filter(|v| !after.contains(v)) {
            txn.execute_raw(self.stmt(
                &format!("DELETE FROM {table} WHERE value = ? AND aggregate_id = ?"),
                vec![gone.clone().into(), id.clone().into()],
            ))
            .await?;
        }
        for new in after.iter().filter(|v| !before.contains(v)) {
            txn.execute_raw(self.stmt(
                &format!("INSERT INTO {table} (value, aggregate_id) VALUES (?, ?)"),
                vec![new.clone().into(), id.clone().into()],
            ))
            .await?;
        }
        Ok(())
    }

    async fn finish<R: prost::Message>(
        &self,
        txn: &DatabaseTransaction,
        command: &Command,
        stored: &Stored<S::Aggregate>,
        events: &[Event<S>],
        response: &R,
    ) -> Result<(), Failure> {
        let now = self.clock.now();
        for event in events {
            let payload =
                serde_json::to_string(event).map_err(|e| Failure::Internal(e.to_string()))?;
            let event_id = crate::new_id().to_string();
            let aggregate_id = stored.aggregate.aggregate_id().to_string();
            let published = S::integration_event(&stored.aggregate, event);
            let envelope = saas_events::EventEnvelope {
                event_id: event_id.clone(),
                event_type: event.event_type().to_owned(),
                aggregate_type: S::AGGREGATE_TYPE.to_owned(),
                aggregate_id: aggregate_id.clone(),
                aggregate_version: stored.version.get() as i64,
                occur_time: Some(rpc::timestamp(now)),
                workspace_id: published
                    .workspace_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                payload: Some(published.payload),
            };
            txn.execute_raw(self.stmt(
                "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, aggregate_version, \
                 event_type, payload, occurred_at, envelope) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                vec![
                    event_id.into(),
                    S::AGGREGATE_TYPE.into(),
                    aggregate_id.into(),
                    (stored.version.get() as i64).into(),
                    event.event_type().into(),
                    payload.into(),
                    now.timestamp_micros().into(),
                    prost::Message::encode_to_vec(&envelope).into(),
                ],
            ))
            .await?;
        }
        for event in events {
            for projection in S::project(&stored.aggregate, event) {
                let (sql, values) = match projection {
                    Projection::Insert {
                        table,
                        columns,
                        values,
                    } => {
                        if columns.len() != values.len() {
                            return Err(Failure::Internal(format!(
                                "projection into {table}: {} columns, {} values",
                                columns.len(),
                                values.len()
                            )));
                        }
                        let marks = vec!["?"; columns.len()].join(", ");
                        (
                            format!(
                                "INSERT INTO {table} ({}) VALUES ({marks})",
                                columns.join(", ")
                            ),
                            values,
                        )
                    }
                    Projection::DeleteWhere {
                        table,
                        condition,
                        values,
                    } => (format!("DELETE FROM {table} WHERE {condition}"), values),
                };
                txn.execute_raw(self.stmt(&sql, values)).await?;
            }
        }
        if let Some(key) = &command.idempotency {
            txn.execute_raw(self.stmt(
                "UPDATE idempotency SET response = ? WHERE request_id = ?",
                vec![
                    response.encode_to_vec().into(),
                    key.request_id.to_string().into(),
                ],
            ))
            .await?;
        }
        Ok(())
    }
}
