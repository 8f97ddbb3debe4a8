//! The command pipeline: every command runs through [`Store::create`], [`Store::update`] or
//! [`Store::delete`], which in **one transaction**:
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
//! 5. append the events to the outbox and write the side-table rows the schema projects from
//!    them ([`super::outbox`]), and store the response under the `request_id`.
//!
//! Each step is a function of the open transaction, so a later pipeline can run several
//! commands' steps in one transaction without changing them.

use kernel_domain::{AggregateRoot, Rejection, RejectionKind, Timestamp, Version};
use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr,
    sea_query::{Expr, ExprTrait, LockType, OnConflict, Query},
};
use uuid::Uuid;

use super::{
    Event, Schema, Store, StoreError, Stored, column, decode, reads::documents, set_index_table,
};
use crate::{db::begin_write, rpc};

/// The table of idempotency records.
const IDEMPOTENCY: &str = "idempotency";

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

/// How many times a command without an etag is re-run after losing a race.
const MAX_ATTEMPTS: usize = 8;

/// Ends the process at once, as the fault hook asks: SIGKILL (sent by `kill -9` to ourselves,
/// which needs no unsafe code) for `kill`, else `abort`; `abort` also if `kill` cannot run.
fn crash_after_commit() -> ! {
    if std::env::var(super::FAULT_ABORT_AFTER_COMMIT).as_deref() == Ok("kill") {
        let _ = std::process::Command::new("kill")
            .args(["-9", &std::process::id().to_string()])
            .status();
    }
    std::process::abort()
}

/// Why one run of the pipeline did not commit.
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

impl From<StoreError> for Failure {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Rejected(r) => Failure::Rejected(r),
            StoreError::Internal(cause) => Failure::Internal(cause),
        }
    }
}

impl From<sea_orm::sea_query::error::Error> for Failure {
    fn from(e: sea_orm::sea_query::error::Error) -> Self {
        Failure::Internal(e.to_string())
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

/// What a run that did not fail produced: a fresh response (and whether it wrote events), or
/// the stored response of an earlier run of the same request.
type Outcome<R> = Result<(R, bool), Vec<u8>>;

impl<S: Schema> Store<S> {
    /// Runs a command that creates an aggregate. `respond` renders the response that is
    /// returned and stored for replays, as of the decision's time.
    pub async fn create<R>(
        &self,
        command: Command,
        decide: impl FnOnce(Timestamp) -> Result<(S::Aggregate, Vec<Event<S>>), Rejection>,
        respond: impl Fn(&Stored<S::Aggregate>, Timestamp) -> R,
    ) -> Result<R, StoreError>
    where
        R: prost::Message + Default,
    {
        let _gate = self.gate().await;
        let txn = begin_write(&self.db).await?;
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
    ) -> Result<R, StoreError>
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
    ) -> Result<R, StoreError>
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
    ) -> Result<R, StoreError>
    where
        R: prost::Message + Default,
    {
        for _ in 0..MAX_ATTEMPTS {
            let _gate = self.gate().await;
            let txn = begin_write(&self.db).await?;
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
                let before = document(&loaded)?;
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
                    Write::Save if events.is_empty() && document(&stored)? == before => true,
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
                    txn.rollback().await?;
                    continue;
                }
                other => return self.conclude(txn, other).await,
            }
        }
        Err(Rejection::new(
            RejectionKind::Aborted,
            "CONCURRENT_MODIFICATION",
            "the resource is changing too often right now; retry",
        )
        .into())
    }

    /// Commits a successful run, rolls back anything else, and renders the outcome.
    async fn conclude<R: prost::Message + Default>(
        &self,
        txn: DatabaseTransaction,
        result: Result<Outcome<R>, Failure>,
    ) -> Result<R, StoreError> {
        match result {
            Ok(Ok((response, wrote_events))) => {
                txn.commit().await?;
                if wrote_events {
                    if self.abort_after_commit {
                        crash_after_commit();
                    }
                    self.wake.notify_one();
                }
                Ok(response)
            }
            Ok(Err(replayed)) => {
                txn.rollback().await?;
                R::decode(replayed.as_slice()).map_err(StoreError::internal)
            }
            Err(failure) => {
                txn.rollback().await?;
                Err(match failure {
                    Failure::Rejected(rejection) => rejection.into(),
                    Failure::Db(e) => match self.unique_violation(&e) {
                        Some(rejection) => rejection.into(),
                        None => StoreError::internal(e),
                    },
                    Failure::Internal(cause) => StoreError::Internal(cause),
                    Failure::Conflict => rpc::etag_mismatch().into(),
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

    async fn claim(&self, txn: &impl ConnectionTrait, command: &Command) -> Result<Claim, Failure> {
        let Some(key) = &command.idempotency else {
            return Ok(Claim::Claimed);
        };
        let insert = Query::insert()
            .into_table(IDEMPOTENCY)
            .columns(["request_id", "method", "fingerprint", "created_at"])
            .values([
                Expr::val(key.request_id.to_string()),
                Expr::val(command.method),
                Expr::val(key.fingerprint.clone()),
                Expr::val(self.clock.now().timestamp_micros()),
            ])?
            .on_conflict(OnConflict::column("request_id").do_nothing().to_owned())
            .to_owned();
        if txn.execute(&insert).await?.rows_affected() == 1 {
            return Ok(Claim::Claimed);
        }
        let select = Query::select()
            .columns(["method", "fingerprint", "response"])
            .from(IDEMPOTENCY)
            .and_where(Expr::col("request_id").eq(key.request_id.to_string()))
            .to_owned();
        let row = txn
            .query_one(&select)
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
        txn: &impl ConnectionTrait,
        id: Uuid,
    ) -> Result<Option<Stored<S::Aggregate>>, Failure> {
        let mut query = documents::<S>()
            .and_where(Expr::col(column::ID).eq(id.to_string()))
            .to_owned();
        // PostgreSQL: lock the row, so writers to one aggregate queue instead of losing the
        // version race over and over (SQLite's IMMEDIATE transaction already serialises).
        if txn.get_database_backend() == DbBackend::Postgres {
            query.lock(LockType::Update);
        }
        let row = txn.query_one(&query).await?;
        Ok(row.map(|row| decode(&row)).transpose()?)
    }

    /// The document and indexed columns of an aggregate, as column-value pairs.
    fn row_values(
        &self,
        stored: &Stored<S::Aggregate>,
    ) -> Result<Vec<(&'static str, Expr)>, Failure> {
        let mut values = vec![
            (column::VERSION, Expr::val(stored.version.get() as i64)),
            (column::DOC, Expr::val(document(stored)?)),
            (
                column::UPDATED_AT,
                Expr::val(self.clock.now().timestamp_micros()),
            ),
            (
                column::DUE_AT,
                Expr::val(S::due_at(&stored.aggregate).map(|t| t.timestamp_micros())),
            ),
        ];
        for (column, value) in S::COLUMNS.iter().zip(S::column_values(&stored.aggregate)) {
            values.push((column.name, Expr::val(value)));
        }
        Ok(values)
    }

    async fn insert(
        &self,
        txn: &impl ConnectionTrait,
        stored: &Stored<S::Aggregate>,
    ) -> Result<(), Failure> {
        let mut values = self.row_values(stored)?;
        values.push((
            column::ID,
            Expr::val(stored.aggregate.aggregate_id().to_string()),
        ));
        let (columns, values): (Vec<_>, Vec<_>) = values.into_iter().unzip();
        let insert = Query::insert()
            .into_table(S::TABLE)
            .columns(columns)
            .values(values)?
            .to_owned();
        txn.execute(&insert).await?;
        self.reindex(txn, stored, &[]).await
    }

    async fn save(
        &self,
        txn: &impl ConnectionTrait,
        stored: &Stored<S::Aggregate>,
        loaded: Version,
        before_set: &[String],
    ) -> Result<bool, Failure> {
        let update = Query::update()
            .table(S::TABLE)
            .values(self.row_values(stored)?)
            .and_where(Expr::col(column::ID).eq(stored.aggregate.aggregate_id().to_string()))
            .and_where(Expr::col(column::VERSION).eq(loaded.get() as i64))
            .to_owned();
        if txn.execute(&update).await?.rows_affected() != 1 {
            return Ok(false);
        }
        self.reindex(txn, stored, before_set).await?;
        Ok(true)
    }

    async fn remove(
        &self,
        txn: &impl ConnectionTrait,
        stored: &Stored<S::Aggregate>,
        loaded: Version,
        before_set: &[String],
    ) -> Result<bool, Failure> {
        let id = stored.aggregate.aggregate_id().to_string();
        let delete = Query::delete()
            .from_table(S::TABLE)
            .and_where(Expr::col(column::ID).eq(id.clone()))
            .and_where(Expr::col(column::VERSION).eq(loaded.get() as i64))
            .to_owned();
        if txn.execute(&delete).await?.rows_affected() != 1 {
            return Ok(false);
        }
        if let Some(index) = set_index_table::<S>()
            && !before_set.is_empty()
        {
            let delete = Query::delete()
                .from_table(index)
                .and_where(Expr::col(column::SET_AGGREGATE_ID).eq(id))
                .to_owned();
            txn.execute(&delete).await?;
        }
        Ok(true)
    }

    /// Brings the multi-valued index in line with the aggregate: only the values that
    /// changed are written.
    async fn reindex(
        &self,
        txn: &impl ConnectionTrait,
        stored: &Stored<S::Aggregate>,
        before: &[String],
    ) -> Result<(), Failure> {
        let Some(index) = set_index_table::<S>() else {
            return Ok(());
        };
        let id = stored.aggregate.aggregate_id().to_string();
        let after = S::set_index_values(&stored.aggregate);
        for gone in before.iter().filter(|v| !after.contains(v)) {
            let delete = Query::delete()
                .from_table(index.clone())
                .and_where(Expr::col(column::SET_VALUE).eq(gone.clone()))
                .and_where(Expr::col(column::SET_AGGREGATE_ID).eq(id.clone()))
                .to_owned();
            txn.execute(&delete).await?;
        }
        for new in after.iter().filter(|v| !before.contains(v)) {
            let insert = Query::insert()
                .into_table(index.clone())
                .columns([column::SET_VALUE, column::SET_AGGREGATE_ID])
                .values([Expr::val(new.clone()), Expr::val(id.clone())])?
                .to_owned();
            txn.execute(&insert).await?;
        }
        Ok(())
    }

    /// Writes what an accepted command leaves besides the aggregate: its outbox rows, its
    /// projections, and its response under the request id.
    async fn finish<R: prost::Message>(
        &self,
        txn: &impl ConnectionTrait,
        command: &Command,
        stored: &Stored<S::Aggregate>,
        events: &[Event<S>],
        response: &R,
    ) -> Result<(), Failure> {
        self.append_events(txn, stored, events).await?;
        self.project(txn, stored, events).await?;
        if let Some(key) = &command.idempotency {
            let update = Query::update()
                .table(IDEMPOTENCY)
                .value("response", response.encode_to_vec())
                .and_where(Expr::col("request_id").eq(key.request_id.to_string()))
                .to_owned();
            txn.execute(&update).await?;
        }
        Ok(())
    }
}

/// The aggregate as its stored JSON document.
fn document<A: serde::Serialize>(stored: &Stored<A>) -> Result<String, Failure> {
    serde_json::to_string(&stored.aggregate).map_err(|e| Failure::Internal(e.to_string()))
}
