//! The command pipeline: every command runs through [`Store::create`], [`Store::update`] or
//! [`Store::delete`], which in **one transaction** (on SQLite: one savepoint of the writer's
//! group-commit transaction, see [`super::writer`]):
//!
//! 1. look up the `request_id` in the idempotency table (a repeat replays the stored
//!    response; the same id with a different request is `REQUEST_ID_REUSED`). On SQLite the
//!    writer is the only one, so the record is written once, with the response, in step 5,
//!    and a duplicate later in the same batch finds it; on PostgreSQL the id is claimed first
//!    (`INSERT ... ON CONFLICT DO NOTHING`), so concurrent duplicates wait on the claim and
//!    then replay,
//! 2. load the aggregate (on PostgreSQL `FOR UPDATE`, so writers to one aggregate queue)
//!    and compare the caller's etag (`ETAG_MISMATCH` when stale),
//! 3. let the domain decide (a rejection rolls everything back),
//! 4. save it with `version = version + 1 WHERE version = <loaded>` (a lost race retries when
//!    the caller sent no etag, and is `ETAG_MISMATCH` when it did); a decision that changed
//!    nothing and caused no event keeps the version,
//! 5. append the events to the outbox and write the side-table rows the schema projects from
//!    them ([`super::outbox`]), and store the response under the `request_id`.
//!
//! The steps are written once, generic over [`Exec`]: sea-orm's transaction on PostgreSQL,
//! the writer's savepoint on SQLite. Nothing is answered before its transaction commits; a
//! commit that fails answers `UNAVAILABLE` / `COMMIT_FAILED`.
//!
//! `decide` and `respond` are `Send + 'static`: on SQLite they run on the writer's thread.

use std::{collections::HashSet, sync::Arc};

use futures::FutureExt as _;
use kernel_domain::{AggregateRoot, Rejection, RejectionKind, Timestamp, Version};
use sea_orm::{
    DatabaseTransaction, DbBackend, DbErr,
    sea_query::{Alias, Expr, ExprTrait, LockType, OnConflict, Query, UpdateStatement},
};
use uuid::Uuid;

use super::{
    Event, Schema, Store, StoreError, Stored, column,
    exec::{Exec, Row, unique_violation_message},
    lanes::Lanes,
    outbox::{OutboxRow, outbox_rows},
    parts::{self, doc_expr, head},
    reads::documents,
    responses, set_index_table,
    writer::{Step, commit_failed},
    writes::{Chain, WriteStep, run_all},
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
pub(super) fn crash_after_commit() -> ! {
    if std::env::var(super::FAULT_ABORT_AFTER_COMMIT).as_deref() == Ok("kill") {
        let _ = std::process::Command::new("kill")
            .args(["-9", &std::process::id().to_string()])
            .status();
    }
    std::process::abort()
}

/// Why one run of the pipeline did not commit.
#[derive(Debug)]
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

/// Where a command stands with its request id.
enum Claim {
    /// It has none (an unrecorded command).
    Untracked,
    /// Claimed by a record without a response yet (PostgreSQL): step 5 fills it in.
    Claimed,
    /// No record yet (SQLite's single writer): step 5 writes it, with the response.
    Fresh,
    /// An earlier run of the same request: its stored response.
    Replay(Vec<u8>),
}

/// A fresh run's response, whether it wrote events, and the aggregate as it leaves it (for
/// the read cache once committed; `None` when it was deleted).
struct Fresh<R, A> {
    response: R,
    wrote_events: bool,
    cached: Option<Cached<A>>,
}

/// An aggregate at a version, for the read cache.
type Cached<A> = (Uuid, Arc<Stored<A>>);

/// What a run that did not fail produced: a fresh response, or the stored response of an
/// earlier run of the same request.
type Outcome<R, A> = Result<Fresh<R, A>, Vec<u8>>;

/// An accepted decision's response and what it writes besides the aggregate's row, rendered
/// from the aggregate as it leaves it: pure work, which a prepared decision does on the
/// caller's task.
struct Rendered<R> {
    response: R,
    effects: Effects,
}

/// What [`Store::finish`] writes for an accepted decision.
struct Effects {
    /// The decision's time.
    now: Timestamp,
    outbox: Vec<OutboxRow>,
    /// The response as the idempotency record keeps it ([`responses::pack`]; empty for an
    /// unrecorded command).
    encoded: Vec<u8>,
}

/// A decision made before the transaction, on the read cache's copy of the aggregate
/// ([`Store::prepare`]). The transaction takes it as it is (writes it, or answers its
/// refusal) when the stored version is still the copy's, and otherwise decides again on what
/// it loads. Either way `decide` runs once per version it sees, as when a race is lost.
struct Prepared<S: Schema, R> {
    /// The version the decision was made on.
    loaded: Version,
    decision: Result<Accepted<S, R>, Rejection>,
}

/// An accepted prepared decision, with everything it writes already rendered.
struct Accepted<S: Schema, R> {
    /// The aggregate as the decision leaves it: at the next version, or at the same one when
    /// the decision changed nothing.
    stored: Stored<S::Aggregate>,
    /// The update of the aggregate's row, with its new document (its head, see
    /// [`super::parts`]); `None` when the decision changed nothing.
    save: Option<UpdateStatement>,
    /// The writes to the side rows (the set index, the parts) the decision makes.
    rows: Vec<WriteStep>,
    events: Vec<Event<S>>,
    rendered: Rendered<R>,
}

/// The commands of this process in flight, by aggregate.
#[derive(Default)]
pub(super) struct InFlight(std::sync::Mutex<std::collections::HashMap<Uuid, usize>>);

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<Uuid, usize>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Counts a command on `id` until the returned guard is dropped.
    fn enter(&self, id: Uuid) -> Entered<'_> {
        let mut counts = self.lock();
        let count = counts.entry(id).or_insert(0);
        *count += 1;
        Entered {
            in_flight: self,
            id,
            alone: *count == 1,
        }
    }
}

/// A command counted in [`InFlight`].
struct Entered<'a> {
    in_flight: &'a InFlight,
    id: Uuid,
    alone: bool,
}

impl Entered<'_> {
    /// Whether no other command was on the aggregate when this one entered.
    fn alone(&self) -> bool {
        self.alone
    }
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        let mut counts = self.in_flight.lock();
        if let Some(count) = counts.get_mut(&self.id) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.id);
            }
        }
    }
}

/// The steps' future, run to its end at once: on the writer every [`Exec`] call is ready.
fn at_once<T>(steps: impl std::future::Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    steps.now_or_never().unwrap_or_else(|| {
        Err(Failure::Internal(
            "a pipeline step waited on the writer".into(),
        ))
    })
}

impl<S: Schema> Store<S> {
    /// Runs a command that creates an aggregate. `respond` renders the response that is
    /// returned and stored for replays, as of the decision's time.
    pub async fn create<R>(
        &self,
        command: Command,
        decide: impl FnOnce(Timestamp) -> Result<(S::Aggregate, Vec<Event<S>>), Rejection>
        + Send
        + 'static,
        respond: impl Fn(&Stored<S::Aggregate>, Timestamp) -> R + Send + 'static,
    ) -> Result<R, StoreError>
    where
        R: prost::Message + Default + Send + 'static,
    {
        if let Some(writer) = &self.writer {
            let store = self.clone();
            let (response, cached) = writer
                .run(move |lite| {
                    store.step(at_once(
                        store.create_steps(lite, &command, decide, &respond),
                    ))
                })
                .await?;
            self.remember(cached);
            return Ok(response);
        }
        let txn = begin_write(&self.db).await?;
        let result = self.create_steps(&txn, &command, decide, &respond).await;
        self.conclude(txn, result).await
    }

    /// Runs a command on an existing aggregate. `decide` may run more than once when the
    /// command carries no etag and loses a race; it must only depend on the aggregate and
    /// the time it is given.
    pub async fn update<R>(
        &self,
        command: Command,
        id: Uuid,
        decide: impl FnMut(&mut S::Aggregate, Timestamp) -> Result<Vec<Event<S>>, Rejection>
        + Send
        + 'static,
        respond: impl Fn(&Stored<S::Aggregate>, Timestamp) -> R + Send + 'static,
    ) -> Result<R, StoreError>
    where
        R: prost::Message + Default + Send + 'static,
    {
        self.apply(command, id, Write::Save, decide, respond).await
    }

    /// Runs a command that ends an aggregate: when `decide` accepts, the document is deleted
    /// (its events still go to the outbox, and the response is kept for replays).
    pub async fn delete<R>(
        &self,
        command: Command,
        id: Uuid,
        decide: impl FnMut(&mut S::Aggregate, Timestamp) -> Result<Vec<Event<S>>, Rejection>
        + Send
        + 'static,
        respond: impl Fn(&Stored<S::Aggregate>, Timestamp) -> R + Send + 'static,
    ) -> Result<R, StoreError>
    where
        R: prost::Message + Default + Send + 'static,
    {
        self.apply(command, id, Write::Delete, decide, respond)
            .await
    }

    async fn apply<R>(
        &self,
        command: Command,
        id: Uuid,
        write: Write,
        mut decide: impl FnMut(&mut S::Aggregate, Timestamp) -> Result<Vec<Event<S>>, Rejection>
        + Send
        + 'static,
        respond: impl Fn(&Stored<S::Aggregate>, Timestamp) -> R + Send + 'static,
    ) -> Result<R, StoreError>
    where
        R: prost::Message + Default + Send + 'static,
    {
        // A command prepares only when no other command of this process is on the same
        // aggregate: under contention the copy would mostly be stale, and `decide` would run
        // once more for nothing (a one-shot proof such as a password check would be spent).
        let in_flight = self.in_flight.enter(id);
        let prepared = match write {
            Write::Save if in_flight.alone() => self.prepare(&command, id, &mut decide, &respond),
            _ => None,
        };
        if let Some(writer) = &self.writer {
            // The writer is the only one: the version check cannot lose a race.
            let store = self.clone();
            let (response, cached) = writer
                .run(move |lite| {
                    store.step(at_once(store.apply_steps(
                        lite,
                        &command,
                        id,
                        write,
                        prepared,
                        &mut decide,
                        &respond,
                    )))
                })
                .await?;
            self.remember(cached);
            return Ok(response);
        }
        // The paths of a store without a writer hold sea-orm's transaction futures, several
        // kilobytes; boxed, they do not make every command's future (moved into a box by
        // tonic and by each handler) as large on the writer's path.
        Box::pin(self.apply_on_pool(command, id, write, prepared, decide, respond)).await
    }

    /// [`Store::apply`] on a store without a writer: a prepared decision as one chained
    /// statement on PostgreSQL, otherwise in a transaction, again while the version moves.
    async fn apply_on_pool<R>(
        &self,
        command: Command,
        id: Uuid,
        write: Write,
        mut prepared: Option<Prepared<S, R>>,
        mut decide: impl FnMut(&mut S::Aggregate, Timestamp) -> Result<Vec<Event<S>>, Rejection>
        + Send
        + 'static,
        respond: impl Fn(&Stored<S::Aggregate>, Timestamp) -> R + Send + 'static,
    ) -> Result<R, StoreError>
    where
        R: prost::Message + Default + Send + 'static,
    {
        let chained = matches!(
            &prepared,
            Some(Prepared { decision: Ok(accepted), .. }) if accepted.save.is_some()
        );
        if chained
            && !self.fail_commits.load(std::sync::atomic::Ordering::SeqCst)
            && let Some(lanes) = &self.lanes
            && let Some(prepared) = prepared.take()
        {
            match self.write_chained(lanes, &command, id, prepared).await {
                Ok(Some(response)) => return Ok(response),
                Ok(None) => {}
                Err(e) => {
                    tracing::debug!(error = ?e, "a prepared command runs again in a transaction");
                }
            }
        }
        for _ in 0..MAX_ATTEMPTS {
            let txn = begin_write(&self.db).await?;
            let result = self
                .apply_steps(
                    &txn,
                    &command,
                    id,
                    write,
                    prepared.take(),
                    &mut decide,
                    &respond,
                )
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

    /// Writes a prepared decision on PostgreSQL in one statement ([`super::writes`]) on one of
    /// the store's `lanes`, with the other commands of its method waiting for a lane: its
    /// response once committed, `None` when the copy it was made on is no longer the stored
    /// version (nothing of it was written), an error when the statement failed as a whole (a
    /// request id already recorded, a unique value taken, the database away); either way
    /// the caller runs the command again in a transaction.
    async fn write_chained<R>(
        &self,
        lanes: &Arc<Lanes>,
        command: &Command,
        id: Uuid,
        prepared: Prepared<S, R>,
    ) -> Result<Option<R>, Failure> {
        let Prepared {
            loaded: _,
            decision:
                Ok(Accepted {
                    stored,
                    save: Some(saved),
                    rows: mut steps,
                    events,
                    rendered,
                }),
        } = prepared
        else {
            return Ok(None);
        };
        steps.extend(self.effect_steps(
            command,
            Claim::Fresh,
            &stored,
            &events,
            rendered.effects,
        )?);
        let chain = Chain { saved, steps };
        let changed = lanes.run(command.method, id, chain).await?;
        if changed != 1 {
            return Ok(None);
        }
        let fresh = fresh(rendered.response, &events, Some(stored));
        if fresh.wrote_events {
            if self.abort_after_commit {
                crash_after_commit();
            }
            self.wake.notify_one();
        }
        self.remember(fresh.cached);
        Ok(Some(fresh.response))
    }

    /// Steps 1 to 5 of a command that creates an aggregate.
    async fn create_steps<E: Exec, R: prost::Message>(
        &self,
        ex: &E,
        command: &Command,
        decide: impl FnOnce(Timestamp) -> Result<(S::Aggregate, Vec<Event<S>>), Rejection>,
        respond: &impl Fn(&Stored<S::Aggregate>, Timestamp) -> R,
    ) -> Result<Outcome<R, S::Aggregate>, Failure> {
        let claim = self.claim(ex, command).await?;
        if let Claim::Replay(bytes) = claim {
            return Ok(Err(bytes));
        }
        let now = self.clock.now();
        let (aggregate, events) = decide(now)?;
        let stored = Stored {
            aggregate,
            version: Version::INITIAL,
        };
        self.insert(ex, &stored).await?;
        let rendered = render::<S, R>(command, &stored, &events, respond, now);
        self.finish(ex, command, claim, &stored, &events, rendered.effects)
            .await?;
        Ok(Ok(fresh(rendered.response, &events, Some(stored))))
    }

    /// Decides a command before its transaction, on the read cache's copy of the aggregate,
    /// and renders all it writes: the document, the outbox rows and the response. This is
    /// the costly part of a command on a large aggregate (its JSON and its response); done
    /// here, on the caller's task, it runs beside other commands instead of inside the one
    /// writer's batch. `None` when there is no cached copy or the caller's etag is not the
    /// copy's: the transaction then decides as usual. A refusal is kept as the decision too,
    /// since a replay of an earlier response of the same request still goes first.
    fn prepare<R: prost::Message>(
        &self,
        command: &Command,
        id: Uuid,
        decide: &mut impl FnMut(&mut S::Aggregate, Timestamp) -> Result<Vec<Event<S>>, Rejection>,
        respond: &impl Fn(&Stored<S::Aggregate>, Timestamp) -> R,
    ) -> Option<Prepared<S, R>> {
        let copy = self.reads.latest(id)?;
        let loaded = copy.version;
        if command.expected.is_some_and(|expected| expected != loaded) {
            return None;
        }
        let mut aggregate = S::Aggregate::clone(&copy.aggregate);
        let now = self.clock.now();
        let events = match decide(&mut aggregate, now) {
            Ok(events) => events,
            Err(rejection) => {
                return Some(Prepared {
                    loaded,
                    decision: Err(rejection),
                });
            }
        };
        let mut stored = Stored {
            aggregate,
            version: loaded.next(),
        };
        let doc = head::<S>(&stored.aggregate).ok()?;
        let rows = self.row_steps(&copy.aggregate, &stored).ok()?;
        // A command that caused nothing keeps the version (see `apply_steps`).
        let save = if events.is_empty() && unchanged::<S>(&doc, &rows, &copy.aggregate).ok()? {
            stored.version = loaded;
            None
        } else {
            Some(self.save_statement(&stored, doc, loaded, &copy.aggregate))
        };
        let rendered = render::<S, R>(command, &stored, &events, respond, now);
        Some(Prepared {
            loaded,
            decision: Ok(Accepted {
                stored,
                save,
                rows,
                events,
                rendered,
            }),
        })
    }

    /// Steps 1 to 5 of a command on an existing aggregate. A prepared decision is written as
    /// it is when the stored version is the one it was made on.
    #[allow(clippy::too_many_arguments)]
    async fn apply_steps<E: Exec, R: prost::Message>(
        &self,
        ex: &E,
        command: &Command,
        id: Uuid,
        write: Write,
        prepared: Option<Prepared<S, R>>,
        decide: &mut impl FnMut(&mut S::Aggregate, Timestamp) -> Result<Vec<Event<S>>, Rejection>,
        respond: &impl Fn(&Stored<S::Aggregate>, Timestamp) -> R,
    ) -> Result<Outcome<R, S::Aggregate>, Failure> {
        // PostgreSQL: the aggregate's row lock is taken before the request id's, in the order
        // a chained statement takes them (`super::writes`), so a transaction and a chained
        // duplicate never wait on each other in a cycle.
        let locked = match ex.backend() {
            DbBackend::Postgres => Some(self.stored_version(ex, id).await?),
            _ => None,
        };
        let claim = self.claim(ex, command).await?;
        if let Claim::Replay(bytes) = claim {
            return Ok(Err(bytes));
        }
        if let Some(prepared) = prepared {
            let current = match (&prepared.decision, locked) {
                (_, Some(version)) => version == Some(prepared.loaded),
                // SQLite: the update's version guard is the check, and the update is the
                // command's first write, so a moved version has written nothing.
                (Ok(Accepted { save: Some(_), .. }), None) => true,
                (_, None) => self.stored_version(ex, id).await? == Some(prepared.loaded),
            };
            if current {
                let Accepted {
                    stored,
                    save,
                    rows,
                    events,
                    rendered,
                } = prepared.decision?;
                let saved = match save {
                    Some(save) => self.save(ex, &save, rows).await?,
                    None => true,
                };
                if saved {
                    self.finish(ex, command, claim, &stored, &events, rendered.effects)
                        .await?;
                    return Ok(Ok(fresh(rendered.response, &events, Some(stored))));
                }
            }
            // The version moved on since the copy: decide again on what is stored.
        }
        let loaded = self.load(ex, id).await?.ok_or_else(S::not_found)?;
        if let Some(expected) = command.expected
            && expected != loaded.version
        {
            return Err(Failure::Rejected(rpc::etag_mismatch()));
        }
        let before = loaded.aggregate.clone();
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
                self.remove(ex, &stored, loaded.version, &before).await?
            }
            Write::Save => {
                stored.version = loaded.version.next();
                let doc = head::<S>(&stored.aggregate).map_err(internal)?;
                let rows = self.row_steps(&before, &stored)?;
                // A command that caused nothing (a refused login of a locked account, say)
                // is answered without a new version.
                if events.is_empty() && unchanged::<S>(&doc, &rows, &before)? {
                    stored.version = loaded.version;
                    true
                } else {
                    let save = self.save_statement(&stored, doc, loaded.version, &before);
                    self.save(ex, &save, rows).await?
                }
            }
        };
        if !written {
            return Err(Failure::Conflict);
        }
        let rendered = render::<S, R>(command, &stored, &events, respond, now);
        self.finish(ex, command, claim, &stored, &events, rendered.effects)
            .await?;
        let kept = matches!(write, Write::Save).then_some(stored);
        Ok(Ok(fresh(rendered.response, &events, kept)))
    }

    /// Puts a committed aggregate in the read cache, so the next command or read of it
    /// needs no document decode.
    fn remember(&self, cached: Option<Cached<S::Aggregate>>) {
        if let Some((id, stored)) = cached {
            self.reads.put(id, stored);
        }
    }

    /// A run on the writer as the writer keeps or rolls it back and answers it.
    #[allow(clippy::type_complexity)]
    fn step<R: prost::Message + Default>(
        &self,
        result: Result<Outcome<R, S::Aggregate>, Failure>,
    ) -> Step<(R, Option<Cached<S::Aggregate>>)> {
        match result {
            Ok(Ok(fresh)) => Step {
                outcome: Ok((fresh.response, fresh.cached)),
                keep: true,
                wrote_events: fresh.wrote_events,
            },
            other => Step {
                outcome: self.settle(other).map(|response| (response, None)),
                keep: false,
                wrote_events: false,
            },
        }
    }

    /// Commits a successful run, rolls back anything else, and renders the outcome.
    async fn conclude<R: prost::Message + Default>(
        &self,
        txn: DatabaseTransaction,
        result: Result<Outcome<R, S::Aggregate>, Failure>,
    ) -> Result<R, StoreError> {
        match result {
            Ok(Ok(fresh)) => {
                if self.fail_commits.load(std::sync::atomic::Ordering::SeqCst) {
                    txn.rollback().await?;
                    return Err(commit_failed());
                }
                if let Err(e) = txn.commit().await {
                    tracing::warn!(error = %e, "a command did not commit");
                    return Err(commit_failed());
                }
                if fresh.wrote_events {
                    if self.abort_after_commit {
                        crash_after_commit();
                    }
                    self.wake.notify_one();
                }
                self.remember(fresh.cached);
                Ok(fresh.response)
            }
            other => {
                txn.rollback().await?;
                self.settle(other)
            }
        }
    }

    /// The answer of a run that wrote nothing: a replay, or the failure as the caller sees it.
    fn settle<R: prost::Message + Default>(
        &self,
        result: Result<Outcome<R, S::Aggregate>, Failure>,
    ) -> Result<R, StoreError> {
        match result {
            Ok(Ok(fresh)) => Ok(fresh.response),
            Ok(Err(replayed)) => {
                R::decode(responses::unpack(&replayed).as_ref()).map_err(StoreError::internal)
            }
            Err(failure) => Err(match failure {
                Failure::Rejected(rejection) => rejection.into(),
                Failure::Db(e) => match self.unique_violation(&e) {
                    Some(rejection) => rejection.into(),
                    None => StoreError::internal(e),
                },
                Failure::Internal(cause) => StoreError::Internal(cause),
                Failure::Conflict => rpc::etag_mismatch().into(),
            }),
        }
    }

    fn unique_violation(&self, error: &DbErr) -> Option<Rejection> {
        let message = unique_violation_message(error)?;
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

    /// Step 1: where the command stands with its request id.
    async fn claim<E: Exec>(&self, ex: &E, command: &Command) -> Result<Claim, Failure> {
        let Some(key) = &command.idempotency else {
            return Ok(Claim::Untracked);
        };
        let claims_first = ex.backend() == DbBackend::Postgres;
        if claims_first {
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
            if ex.execute(&insert).await? == 1 {
                return Ok(Claim::Claimed);
            }
        }
        let select = Query::select()
            .columns(["method", "fingerprint", "response"])
            .from(IDEMPOTENCY)
            .and_where(Expr::col("request_id").eq(key.request_id.to_string()))
            .to_owned();
        let Some(row) = ex.query_one(&select).await? else {
            if claims_first {
                return Err(Failure::Internal("idempotency record vanished".into()));
            }
            return Ok(Claim::Fresh);
        };
        let method = row.string(0)?;
        let fingerprint = row.string(1)?;
        let response = row.opt_bytes(2)?;
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

    /// The stored version of an aggregate (on PostgreSQL locking its row, as [`Self::load`]
    /// does), without its document.
    async fn stored_version<E: Exec>(&self, ex: &E, id: Uuid) -> Result<Option<Version>, Failure> {
        let mut query = Query::select()
            .column(column::VERSION)
            .from(S::TABLE)
            .and_where(Expr::col(column::ID).eq(id.to_string()))
            .to_owned();
        if ex.backend() == DbBackend::Postgres {
            query.lock(LockType::Update);
        }
        match ex.query_one(&query).await? {
            Some(row) => Ok(Some(Version::new(row.i64(0)? as u64))),
            None => Ok(None),
        }
    }

    /// Step 2: the aggregate as stored. The document travels (and is decoded) only when the
    /// read cache does not hold the stored version already.
    async fn load<E: Exec>(
        &self,
        ex: &E,
        id: Uuid,
    ) -> Result<Option<Stored<S::Aggregate>>, Failure> {
        let cached = self.reads.version(id).map_or(0, |v| v.get() as i64);
        let mut query = Query::select()
            .column(column::VERSION)
            .expr(
                Expr::case(Expr::col(column::VERSION).eq(cached), Expr::null())
                    .finally(doc_expr::<S>(ex.backend())),
            )
            .from(S::TABLE)
            .and_where(Expr::col(column::ID).eq(id.to_string()))
            .to_owned();
        // PostgreSQL: lock the row, so writers to one aggregate queue instead of losing the
        // version race over and over (SQLite's IMMEDIATE transaction already serialises).
        if ex.backend() == DbBackend::Postgres {
            query.lock(LockType::Update);
        }
        let Some(row) = ex.query_one(&query).await? else {
            return Ok(None);
        };
        let version = Version::new(row.i64(0)? as u64);
        if let Some(doc) = row.opt_string(1)? {
            let aggregate = serde_json::from_str(&doc).map_err(internal)?;
            return Ok(Some(Stored { aggregate, version }));
        }
        if let Some(cached) = self.reads.get(id, version) {
            return Ok(Some(Stored {
                aggregate: S::Aggregate::clone(&cached.aggregate),
                version,
            }));
        }
        // The cached entry was replaced between the two looks: read the document.
        let query = documents::<S>(ex.backend())
            .and_where(Expr::col((S::TABLE, column::ID)).eq(id.to_string()))
            .to_owned();
        let Some(row) = ex.query_one(&query).await? else {
            return Ok(None);
        };
        decode_row(&row).map(Some)
    }

    /// The document and indexed columns of an aggregate, as column-value pairs. Given the
    /// aggregate as it was (`before`), the indexed columns are only those whose values it
    /// changed: an `UPDATE` that sets a column rewrites that column's index entries even when
    /// the value is the same (SQLite deletes and inserts them, and checks a unique one
    /// again), so a command that leaves `slug` and `due_at` alone leaves their indexes alone.
    fn row_values(
        &self,
        stored: &Stored<S::Aggregate>,
        doc: String,
        before: Option<&S::Aggregate>,
    ) -> Vec<(&'static str, Expr)> {
        let mut values = vec![
            (column::VERSION, Expr::val(stored.version.get() as i64)),
            (column::DOC, Expr::val(doc)),
            (
                column::UPDATED_AT,
                Expr::val(self.clock.now().timestamp_micros()),
            ),
        ];
        let due_at = S::due_at(&stored.aggregate);
        if before.is_none_or(|before| S::due_at(before) != due_at) {
            values.push((
                column::DUE_AT,
                Expr::val(due_at.map(|t| t.timestamp_micros())),
            ));
        }
        let was = before.map(S::column_values);
        for (index, (column, value)) in S::COLUMNS
            .iter()
            .zip(S::column_values(&stored.aggregate))
            .enumerate()
        {
            if was.as_ref().and_then(|was| was.get(index)) != Some(&value) {
                values.push((column.name, Expr::val(value)));
            }
        }
        values
    }

    async fn insert<E: Exec>(&self, ex: &E, stored: &Stored<S::Aggregate>) -> Result<(), Failure> {
        let id = stored.aggregate.aggregate_id().to_string();
        let mut values = self.row_values(
            stored,
            head::<S>(&stored.aggregate).map_err(internal)?,
            None,
        );
        values.push((
            column::ID,
            Expr::val(stored.aggregate.aggregate_id().to_string()),
        ));
        let (columns, values): (Vec<_>, Vec<_>) = values.into_iter().unzip();
        let mut insert = Query::insert();
        insert
            .into_table(S::TABLE)
            .columns(columns)
            .values(values)?;
        ex.execute(&insert).await?;
        let mut rows = self.reindex_steps(stored, &[]);
        rows.extend(
            parts::part_steps::<S>(&id, None, Some(&stored.aggregate), stored.version)
                .map_err(internal)?,
        );
        run_all(ex, rows).await?;
        Ok(())
    }

    /// The writes that bring the side rows of the aggregate (its set index and its parts)
    /// from `before` to `after`.
    fn row_steps(
        &self,
        before: &S::Aggregate,
        after: &Stored<S::Aggregate>,
    ) -> Result<Vec<WriteStep>, Failure> {
        let mut rows = if S::set_index_changed(before, &after.aggregate) {
            self.reindex_steps(after, &S::set_index_values(before))
        } else {
            Vec::new()
        };
        rows.extend(
            parts::part_steps::<S>(
                &after.aggregate.aggregate_id().to_string(),
                Some(before),
                Some(&after.aggregate),
                after.version,
            )
            .map_err(internal)?,
        );
        Ok(rows)
    }

    /// The update of a saved aggregate, guarded by the version it was loaded at, from what it
    /// was then (`before`).
    fn save_statement(
        &self,
        stored: &Stored<S::Aggregate>,
        doc: String,
        loaded: Version,
        before: &S::Aggregate,
    ) -> UpdateStatement {
        let mut update = Query::update();
        update
            .table(S::TABLE)
            .values(self.row_values(stored, doc, Some(before)))
            .and_where(Expr::col(column::ID).eq(stored.aggregate.aggregate_id().to_string()))
            .and_where(Expr::col(column::VERSION).eq(loaded.get() as i64));
        update
    }

    /// Runs the update of an aggregate's row ([`Store::save_statement`]) and, when it found
    /// the version it expected, the writes to its side rows.
    async fn save<E: Exec>(
        &self,
        ex: &E,
        save: &UpdateStatement,
        rows: Vec<WriteStep>,
    ) -> Result<bool, Failure> {
        if ex.execute(save).await? != 1 {
            return Ok(false);
        }
        run_all(ex, rows).await?;
        Ok(true)
    }

    async fn remove<E: Exec>(
        &self,
        ex: &E,
        stored: &Stored<S::Aggregate>,
        loaded: Version,
        before: &S::Aggregate,
    ) -> Result<bool, Failure> {
        let id = stored.aggregate.aggregate_id().to_string();
        let delete = Query::delete()
            .from_table(S::TABLE)
            .and_where(Expr::col(column::ID).eq(id.clone()))
            .and_where(Expr::col(column::VERSION).eq(loaded.get() as i64))
            .to_owned();
        if ex.execute(&delete).await? != 1 {
            return Ok(false);
        }
        if let Some(index) = set_index_table::<S>()
            && !S::set_index_values(before).is_empty()
        {
            let delete = Query::delete()
                .from_table(index)
                .and_where(Expr::col(column::SET_AGGREGATE_ID).eq(id.clone()))
                .to_owned();
            ex.execute(&delete).await?;
        }
        let parts =
            parts::part_steps::<S>(&id, Some(before), None, stored.version).map_err(internal)?;
        run_all(ex, parts).await?;
        Ok(true)
    }

    /// What brings the multi-valued index in line with the aggregate: only the values that
    /// changed are written.
    fn reindex_steps(&self, stored: &Stored<S::Aggregate>, before: &[String]) -> Vec<WriteStep> {
        let Some(index) = set_index_table::<S>() else {
            return Vec::new();
        };
        let after = S::set_index_values(&stored.aggregate);
        if after == before {
            return Vec::new();
        }
        let id = stored.aggregate.aggregate_id().to_string();
        let (was, is): (HashSet<&String>, HashSet<&String>) =
            (before.iter().collect(), after.iter().collect());
        let mut steps = Vec::new();
        for gone in before.iter().filter(|v| !is.contains(v)) {
            steps.push(WriteStep::Delete(
                Query::delete()
                    .from_table(index.clone())
                    .and_where(Expr::col(column::SET_VALUE).eq(gone.as_str()))
                    .and_where(Expr::col(column::SET_AGGREGATE_ID).eq(id.clone()))
                    .to_owned(),
            ));
        }
        for new in after.iter().filter(|v| !was.contains(v)) {
            steps.push(WriteStep::Insert {
                table: index.clone(),
                columns: vec![column::SET_VALUE, column::SET_AGGREGATE_ID],
                values: vec![Expr::val(new.as_str()), Expr::val(id.clone())],
            });
        }
        steps
    }

    /// Step 5: what an accepted command leaves besides the aggregate: its outbox rows, its
    /// projections, and its response under the request id.
    async fn finish<E: Exec>(
        &self,
        ex: &E,
        command: &Command,
        claim: Claim,
        stored: &Stored<S::Aggregate>,
        events: &[Event<S>],
        effects: Effects,
    ) -> Result<(), Failure> {
        run_all(
            ex,
            self.effect_steps(command, claim, stored, events, effects)?,
        )
        .await?;
        Ok(())
    }

    /// The writes of step 5, in order.
    fn effect_steps(
        &self,
        command: &Command,
        claim: Claim,
        stored: &Stored<S::Aggregate>,
        events: &[Event<S>],
        effects: Effects,
    ) -> Result<Vec<WriteStep>, Failure> {
        let Effects {
            now,
            outbox,
            encoded: response,
        } = effects;
        let mut steps = self.outbox_steps(stored, outbox, now);
        steps.extend(self.projection_steps(stored, events));
        let Some(key) = &command.idempotency else {
            return Ok(steps);
        };
        match claim {
            Claim::Claimed => steps.push(WriteStep::Update(
                Query::update()
                    .table(IDEMPOTENCY)
                    .value("response", response)
                    .and_where(Expr::col("request_id").eq(key.request_id.to_string()))
                    .to_owned(),
            )),
            Claim::Fresh => steps.push(WriteStep::Insert {
                table: Alias::new(IDEMPOTENCY),
                columns: vec![
                    "request_id",
                    "method",
                    "fingerprint",
                    "response",
                    "created_at",
                ],
                values: vec![
                    Expr::val(key.request_id.to_string()),
                    Expr::val(command.method),
                    Expr::val(key.fingerprint.clone()),
                    Expr::val(response),
                    Expr::val(self.clock.now().timestamp_micros()),
                ],
            }),
            Claim::Untracked | Claim::Replay(_) => {}
        }
        Ok(steps)
    }
}

/// Renders what an accepted decision writes besides the aggregate's row.
fn render<S: Schema, R: prost::Message>(
    command: &Command,
    stored: &Stored<S::Aggregate>,
    events: &[Event<S>],
    respond: &impl Fn(&Stored<S::Aggregate>, Timestamp) -> R,
    now: Timestamp,
) -> Rendered<R> {
    let response = respond(stored, now);
    let encoded = if command.idempotency.is_some() {
        responses::pack(response.encode_to_vec())
    } else {
        Vec::new()
    };
    Rendered {
        response,
        effects: Effects {
            now,
            outbox: outbox_rows::<S>(stored, events, now),
            encoded,
        },
    }
}

/// A fresh run's outcome.
fn fresh<R, A>(response: R, events: &[impl Sized], kept: Option<Stored<A>>) -> Fresh<R, A>
where
    A: AggregateRoot,
{
    Fresh {
        response,
        wrote_events: !events.is_empty(),
        cached: kept.map(|stored| (stored.aggregate.aggregate_id(), Arc::new(stored))),
    }
}

/// A fault with its cause, for the log.
fn internal(cause: impl std::fmt::Display) -> Failure {
    Failure::Internal(cause.to_string())
}

/// Decodes a `(version, doc)` row.
fn decode_row<A: serde::de::DeserializeOwned>(row: &Row) -> Result<Stored<A>, Failure> {
    let version = row.i64(0)?;
    let aggregate = serde_json::from_str(&row.string(1)?).map_err(internal)?;
    Ok(Stored {
        aggregate,
        version: Version::new(version as u64),
    })
}

/// Whether a decision left the aggregate as `before` was: its document head `after` reads
/// the same as `before`'s (encoded again, so an older encoding of the same aggregate is not
/// taken for a change) and it writes no side rows.
fn unchanged<S: Schema>(
    after: &str,
    rows: &[WriteStep],
    before: &S::Aggregate,
) -> Result<bool, Failure> {
    Ok(rows.is_empty() && head::<S>(before).map_err(internal)? == after)
}
