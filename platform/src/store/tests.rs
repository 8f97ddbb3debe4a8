//! The SQLite writer's group commit, driven deterministically: a job that holds the writer
//! lets the test queue the commands it wants in one batch before the batch begins.

use std::{sync::Arc, time::Duration};

use kernel_domain::{AggregateRoot, DomainEvent, Rejection, RejectionKind};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{
    Command, IntegrationEvent, Schema, Store, StoreError, Stored,
    test_support::{TempDir, count, database},
    writer::Step,
};
use crate::migration::IndexedColumn;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Counter {
    id: Uuid,
    count: u32,
}

#[derive(Debug, Serialize)]
struct Counted;

impl DomainEvent for Counted {
    fn event_type(&self) -> &'static str {
        "test.counter.counted"
    }
}

impl AggregateRoot for Counter {
    type Event = Counted;
    fn aggregate_id(&self) -> Uuid {
        self.id
    }
}

struct Counters;

impl Schema for Counters {
    type Aggregate = Counter;
    const TABLE: &'static str = "counters";
    const AGGREGATE_TYPE: &'static str = "test.counter";
    const ERROR_DOMAIN: &'static str = "test.saas";
    const COLUMNS: &'static [IndexedColumn] = &[];
    fn column_values(_: &Counter) -> Vec<Option<String>> {
        Vec::new()
    }
    fn taken(_: &str) -> Rejection {
        Rejection::new(RejectionKind::AlreadyExists, "TAKEN", "taken")
    }
    fn not_found() -> Rejection {
        Rejection::new(RejectionKind::NotFound, "NOT_FOUND", "no such counter")
    }
    fn integration_event(_: &Counter, _: &Counted) -> IntegrationEvent {
        IntegrationEvent::new(None, &prost_types::Timestamp::default())
    }
}

async fn counters() -> (TempDir, DatabaseConnection, Store<Counters>) {
    let (dir, db) = database("platform-writer", "counters").await;
    let store = Store::new(db.clone(), Arc::new(crate::SystemClock));
    (dir, db, store)
}

async fn create(store: &Store<Counters>) -> Uuid {
    let id = crate::new_id();
    store
        .create(
            Command::new("CreateCounter", crate::new_id(), &(), None),
            move |_| Ok((Counter { id, count: 0 }, vec![Counted])),
            |_, _| (),
        )
        .await
        .unwrap();
    id
}

/// A count after the command, as its response (a message, so it can be stored and replayed).
fn increment(
    store: &Store<Counters>,
    id: Uuid,
    request_id: Uuid,
) -> impl std::future::Future<Output = Result<prost_types::Timestamp, StoreError>> + use<> {
    let store = store.clone();
    async move {
        store
            .update(
                Command::new("Increment", request_id, &(), None),
                id,
                |counter, _| {
                    counter.count += 1;
                    Ok(vec![Counted])
                },
                |stored, _| prost_types::Timestamp {
                    seconds: i64::from(stored.aggregate.count),
                    nanos: 0,
                },
            )
            .await
    }
}

/// Holds the store's writer until the returned sender is dropped or sent to; answers once the
/// writer is held.
async fn hold_writer(store: &Store<Counters>) -> std::sync::mpsc::Sender<()> {
    let writer = store.writer.clone().expect("a SQLite store has a writer");
    let (release, released) = std::sync::mpsc::channel::<()>();
    let (held, holding) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        writer
            .run(move |_| {
                let _ = held.send(());
                let _ = released.recv();
                Step {
                    outcome: Ok(()),
                    keep: true,
                    wrote_events: false,
                }
            })
            .await
    });
    holding.await.unwrap();
    release
}

/// Waits (with a generous deadline) until `n` jobs wait for the writer.
async fn queued(store: &Store<Counters>, n: usize) {
    let writer = store.writer.clone().unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while writer.queued() < n {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{n} jobs never queued"
        );
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn duplicates_inside_one_batch_all_get_the_original_response() {
    let (_dir, db, store) = counters().await;
    let id = create(&store).await;
    let release = hold_writer(&store).await;
    let request_id = crate::new_id();
    let calls: Vec<_> = (0..10)
        .map(|_| tokio::spawn(increment(&store, id, request_id)))
        .collect();
    queued(&store, 10).await;
    drop(release);
    for call in calls {
        let answer = call.await.unwrap().expect("every duplicate is answered");
        assert_eq!(
            answer.seconds, 1,
            "every duplicate gets the original response"
        );
    }
    assert_eq!(
        count(&db, "SELECT version FROM counters").await,
        2,
        "executed once"
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM idempotency WHERE method = 'Increment'"
        )
        .await,
        1
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM outbox").await, 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusal_inside_a_batch_rolls_back_only_itself() {
    let (_dir, db, store) = counters().await;
    let id = create(&store).await;
    let release = hold_writer(&store).await;
    let ok = tokio::spawn(increment(&store, id, crate::new_id()));
    let refused = tokio::spawn({
        let store = store.clone();
        async move {
            store
                .update(
                    Command::new("Refuse", crate::new_id(), &(), None),
                    id,
                    |counter, _| {
                        counter.count += 100;
                        Err(Rejection::new(
                            RejectionKind::FailedPrecondition,
                            "NO",
                            "no",
                        ))
                    },
                    |_, _| (),
                )
                .await
        }
    });
    let after = tokio::spawn(increment(&store, id, crate::new_id()));
    queued(&store, 3).await;
    drop(release);
    // The two increments land in either order, around the refusal, in one batch.
    let mut counts = [
        ok.await.unwrap().unwrap().seconds,
        after.await.unwrap().unwrap().seconds,
    ];
    counts.sort_unstable();
    assert_eq!(counts, [1, 2]);
    assert!(refused.await.unwrap().unwrap_err().is_rejected_as("NO"));
    assert_eq!(count(&db, "SELECT version FROM counters").await, 3);
    assert_eq!(count(&db, "SELECT COUNT(*) FROM idempotency").await, 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_commit_fails_every_command_of_its_batch_and_executes_none() {
    let (_dir, db, store) = counters().await;
    let ids = [
        create(&store).await,
        create(&store).await,
        create(&store).await,
    ];
    let outbox_before = count(&db, "SELECT COUNT(*) FROM outbox").await;
    let requests: Vec<(Uuid, Uuid)> = ids
        .iter()
        .flat_map(|id| [(*id, crate::new_id()), (*id, crate::new_id())])
        .collect();
    let release = hold_writer(&store).await;
    let calls: Vec<_> = requests
        .iter()
        .map(|(id, request_id)| tokio::spawn(increment(&store, *id, *request_id)))
        .collect();
    queued(&store, requests.len()).await;
    store.fail_commits(true);
    drop(release);
    for call in calls {
        let error = call.await.unwrap().expect_err("nothing commits");
        assert!(error.is_rejected_as("COMMIT_FAILED"), "{error:?}");
        assert_eq!(
            error.rejection().map(|r| r.kind),
            Some(RejectionKind::Unavailable)
        );
    }
    assert_eq!(count(&db, "SELECT SUM(version) FROM counters").await, 3);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM outbox").await,
        outbox_before
    );
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM idempotency WHERE method = 'Increment'"
        )
        .await,
        0
    );

    // The same requests, retried once commits work again, execute once each.
    store.fail_commits(false);
    for (id, request_id) in &requests {
        increment(&store, *id, *request_id).await.unwrap();
    }
    for (id, request_id) in &requests {
        increment(&store, *id, *request_id).await.unwrap();
    }
    assert_eq!(count(&db, "SELECT SUM(version) FROM counters").await, 9);
}

/// An increment whose decision notes the name of the thread it ran on.
async fn increment_noting_thread(store: &Store<Counters>, id: Uuid) -> Vec<Option<String>> {
    let threads = Arc::new(std::sync::Mutex::new(Vec::new()));
    let noted = threads.clone();
    store
        .update(
            Command::new("Increment", crate::new_id(), &(), None),
            id,
            move |counter, _| {
                let name = std::thread::current().name().map(str::to_owned);
                noted.lock().unwrap().push(name);
                counter.count += 1;
                Ok(vec![Counted])
            },
            |_, _| (),
        )
        .await
        .unwrap();
    threads.lock().unwrap().clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_command_on_a_cached_aggregate_is_decided_and_rendered_off_the_writer() {
    let (_dir, _db, store) = counters().await;
    let id = create(&store).await;
    let threads = increment_noting_thread(&store, id).await;
    assert_eq!(threads.len(), 1, "decided once: {threads:?}");
    assert_ne!(
        threads[0].as_deref(),
        Some("sqlite-writer"),
        "the decision ran on the caller's task"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_prepared_on_a_stale_copy_is_made_again_on_the_stored_version() {
    let (_dir, db, store) = counters().await;
    let id = create(&store).await;
    // Another process on the same file (its own store, writer and cache) moves the counter
    // on; this store's cached copy is now one version behind.
    let other = Store::<Counters>::new(db.clone(), Arc::new(crate::SystemClock));
    increment(&other, id, crate::new_id()).await.unwrap();

    let threads = increment_noting_thread(&store, id).await;
    assert_eq!(
        threads.len(),
        2,
        "prepared on the stale copy, then decided again: {threads:?}"
    );
    assert_eq!(threads[1].as_deref(), Some("sqlite-writer"));
    assert_eq!(count(&db, "SELECT version FROM counters").await, 3);
    let doc: String = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT doc FROM counters",
        ))
        .await
        .unwrap()
        .unwrap()
        .try_get_by_index(0)
        .unwrap();
    let counter: Counter = serde_json::from_str(&doc).unwrap();
    assert_eq!(counter.count, 2, "no increment lost");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_returns_the_version_another_process_committed_not_the_cached_one() {
    let (_dir, db, store) = counters().await;
    let id = create(&store).await;
    let read = store.get_existing(id).await.unwrap();
    assert_eq!((read.version.get(), read.aggregate.count), (1, 0));
    let other = Store::<Counters>::new(db.clone(), Arc::new(crate::SystemClock));
    increment(&other, id, crate::new_id()).await.unwrap();
    let read = store.get_existing(id).await.unwrap();
    assert_eq!((read.version.get(), read.aggregate.count), (2, 1));
    // Served from the cache now that it holds version 2, and still version 2.
    let again = store.get_existing(id).await.unwrap();
    assert_eq!((again.version.get(), again.aggregate.count), (2, 1));
    assert!(store.get(crate::new_id()).await.unwrap().is_none());
}

#[test]
fn the_read_cache_never_trades_a_version_for_an_older_one() {
    let cache = super::reads::ReadCache::new();
    let id = crate::new_id();
    let at = |count| {
        Arc::new(Stored {
            aggregate: Counter { id, count },
            version: kernel_domain::Version::new(u64::from(count)),
        })
    };
    cache.put(id, at(3));
    cache.put(id, at(2));
    assert_eq!(
        cache
            .latest(id)
            .map(|c| (c.version.get(), c.aggregate.count)),
        Some((3, 3))
    );
    cache.put(id, at(4));
    assert_eq!(cache.version(id).map(|v| v.get()), Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shared_read_of_an_unchanged_aggregate_is_the_cached_copy_itself() {
    let (_dir, _db, store) = counters().await;
    let id = create(&store).await;
    let first = store.get_shared(id).await.unwrap().unwrap();
    let again = store.get_shared(id).await.unwrap().unwrap();
    assert!(
        Arc::ptr_eq(&first, &again),
        "no copy of an unchanged aggregate"
    );
    increment(&store, id, crate::new_id()).await.unwrap();
    let after = store.get_shared(id).await.unwrap().unwrap();
    assert!(!Arc::ptr_eq(&first, &after));
    assert_eq!((after.version.get(), after.aggregate.count), (2, 1));
    assert!(store.get_shared(crate::new_id()).await.unwrap().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_response_is_stored_packed_and_replayed_as_it_was() {
    let (_dir, db, store) = counters().await;
    let id = create(&store).await;
    let request_id = crate::new_id();
    let call = || {
        let store = store.clone();
        async move {
            store
                .update(
                    Command::new("Describe", request_id, &(), None),
                    id,
                    |counter, _| {
                        counter.count += 1;
                        Ok(vec![Counted])
                    },
                    |stored, _| prost_types::Any {
                        type_url: format!("count/{}", stored.aggregate.count),
                        value: (0..300)
                            .flat_map(|i| {
                                format!("line {i} of count {};", stored.aggregate.count)
                                    .into_bytes()
                            })
                            .collect(),
                    },
                )
                .await
                .unwrap()
        }
    };
    let first = call().await;
    assert!(prost::Message::encoded_len(&first) >= super::responses::PACK_FROM);
    let again = call().await;
    assert_eq!(again, first, "the replay is the original response");
    assert_eq!(again.type_url, "count/1", "executed once");
    let stored = count(
        &db,
        "SELECT LENGTH(response) FROM idempotency WHERE method = 'Describe'",
    )
    .await;
    assert!(
        usize::try_from(stored).unwrap() * 3 < prost::Message::encoded_len(&first),
        "the record keeps a frame of {stored} bytes"
    );
}

/// An update names only the indexed columns whose values changed: SQLite rewrites the index
/// entries of every column an `UPDATE` sets, changed or not. `UPDATE OF` triggers fire for the
/// columns a statement sets, so they show which ones it named.
#[tokio::test]
async fn an_update_sets_only_the_columns_that_changed() {
    let (_dir, db, store) = counters().await;
    for sql in [
        "CREATE TABLE named (col TEXT NOT NULL)",
        "CREATE TRIGGER named_doc AFTER UPDATE OF doc ON counters BEGIN INSERT INTO named VALUES ('doc'); END",
        "CREATE TRIGGER named_due_at AFTER UPDATE OF due_at ON counters BEGIN INSERT INTO named VALUES ('due_at'); END",
    ] {
        db.execute_unprepared(sql).await.unwrap();
    }
    let id = create(&store).await;
    for _ in 0..2 {
        increment(&store, id, crate::new_id()).await.unwrap();
    }
    // Both commands wrote the document; neither named `due_at`, which they left as it was.
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM named WHERE col = 'doc'").await,
        2
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM named WHERE col = 'due_at'").await,
        0
    );
}
