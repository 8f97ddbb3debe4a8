//! The outbox relay: moves committed outbox rows of one database onto the event bus.
//!
//! Rules:
//!
//! - Rows are published in `seq` order, one batch ([`RelayConfig::batch`] rows) at a time, as
//!   a [`Message`] with subject [`EVENT_SUBJECT_PREFIX`]` + event_type`, id `event_id` and the
//!   encoded `EventEnvelope` (column `envelope`) as payload.
//! - A row is marked `published_at` only after [`Publisher::publish`] returned `Ok`. A
//!   failure stops the pass at that row: nothing behind it is published before it, so the
//!   events of one aggregate reach the bus in the order they were committed.
//! - Every committed row is published at least once: a crash between publishing and marking
//!   publishes the row again, and the bus drops the duplicate by its id. Several relays on
//!   one database (replicas) may therefore publish a row twice, which is harmless; rows are
//!   not locked with `SKIP LOCKED`, because one relay skipping rows another holds could
//!   publish an aggregate's later event before its earlier one.
//! - Rows written before the `envelope` column existed (no envelope) are never published;
//!   their count is logged once when the relay starts.
//! - While the bus or the database fails, the relay backs off exponentially from
//!   [`RelayConfig::backoff_min`] to [`RelayConfig::backoff_max`] and logs a warning with
//!   the backlog on the first failure and then at most every
//!   [`RelayConfig::backlog_log_every`].
//! - It runs a pass when woken (the store notifies after every commit that wrote outbox
//!   rows) and every [`RelayConfig::poll`] (rows committed by other processes).
//!
//! Stopping or aborting the relay at any point loses nothing: unmarked rows are published by
//! the next relay to run.

use std::{future::Future, sync::Arc, time::Duration};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr,
    sea_query::{Expr, ExprTrait, Func, Order, Query},
};
use tokio::{sync::Notify, task::JoinHandle, time::Instant};

use crate::{
    bus::{BusError, EVENT_SUBJECT_PREFIX, Message, Publisher},
    store::outbox::OUTBOX,
};

/// The largest batch a relay reads at once, whatever its configuration says.
pub const MAX_BATCH: u64 = 1000;

/// How a relay paces itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RelayConfig {
    /// Rows read and published per batch (the relay's memory bound), 1 to
    /// [`MAX_BATCH`].
    pub batch: u64,
    /// How often to look for rows without being woken.
    pub poll: Duration,
    /// The first pause after a failure.
    pub backoff_min: Duration,
    /// The longest pause between attempts while failures go on.
    pub backoff_max: Duration,
    /// How often at most a continuing failure is logged.
    pub backlog_log_every: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        RelayConfig {
            batch: 256,
            poll: Duration::from_millis(500),
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            backlog_log_every: Duration::from_secs(30),
        }
    }
}

/// Why a relay pass stopped early.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The bus refused or could not be reached.
    #[error(transparent)]
    Bus(#[from] BusError),
    /// The outbox could not be read or marked.
    #[error("outbox: {0}")]
    Db(#[from] DbErr),
}

/// Publishes the outbox of one database (see the module docs).
pub struct Relay {
    db: DatabaseConnection,
    publisher: Arc<dyn Publisher>,
    config: RelayConfig,
    writer: Option<crate::store::writer::Writer>,
}

impl Relay {
    /// A relay from the outbox of `db` to `publisher`, with the default pacing.
    pub fn new(db: DatabaseConnection, publisher: Arc<dyn Publisher>) -> Relay {
        Relay {
            db,
            publisher,
            config: RelayConfig::default(),
            writer: None,
        }
    }

    /// The same relay with other pacing.
    pub fn with_config(mut self, config: RelayConfig) -> Relay {
        self.config = config;
        self
    }

    /// Marks rows through `writer`, the store's SQLite writer (SQLite has one writer at a
    /// time; joining its next batch beats waiting on the file lock).
    pub(crate) fn with_writer(mut self, writer: Option<crate::store::writer::Writer>) -> Relay {
        self.writer = writer;
        self
    }

    /// Counts the unpublished rows with (or without) an envelope.
    async fn count(&self, with_envelope: bool) -> Result<u64, RelayError> {
        let envelope = Expr::col("envelope");
        let query = Query::select()
            .expr(Func::count(Expr::col("seq")))
            .from(OUTBOX)
            .and_where(Expr::col("published_at").is_null())
            .and_where(if with_envelope {
                envelope.is_not_null()
            } else {
                envelope.is_null()
            })
            .to_owned();
        let n: i64 = match self.db.query_one(&query).await? {
            Some(row) => row.try_get_by_index(0)?,
            None => 0,
        };
        Ok(u64::try_from(n).unwrap_or_default())
    }

    /// How many rows wait to be published.
    pub async fn backlog(&self) -> Result<u64, RelayError> {
        self.count(true).await
    }

    /// How many unpublished rows have no envelope and are never published.
    pub async fn without_envelope(&self) -> Result<u64, RelayError> {
        self.count(false).await
    }

    /// Publishes every waiting row, batch by batch, and returns how many it published; stops
    /// at the first failure (the rows published before it stay marked).
    pub async fn publish_pending(&self) -> Result<u64, RelayError> {
        let batch = self.config.batch.clamp(1, MAX_BATCH);
        let mut total = 0;
        loop {
            let query = Query::select()
                .columns(["seq", "event_id", "event_type", "envelope"])
                .from(OUTBOX)
                .and_where(Expr::col("published_at").is_null())
                .and_where(Expr::col("envelope").is_not_null())
                .order_by("seq", Order::Asc)
                .limit(batch)
                .to_owned();
            let rows = self.db.query_all(&query).await?;
            if rows.is_empty() {
                return Ok(total);
            }
            let full = rows.len() as u64 >= batch;
            let mut published = Vec::with_capacity(rows.len());
            let mut failure = None;
            for row in rows {
                let seq: i64 = row.try_get_by_index(0)?;
                let event_id: String = row.try_get_by_index(1)?;
                let event_type: String = row.try_get_by_index(2)?;
                let envelope: Vec<u8> = row.try_get_by_index(3)?;
                let message = Message {
                    subject: format!("{EVENT_SUBJECT_PREFIX}{event_type}"),
                    id: event_id,
                    payload: envelope,
                };
                match self.publisher.publish(message).await {
                    Ok(()) => published.push(seq),
                    Err(e) => {
                        failure = Some(e);
                        break;
                    }
                }
            }
            self.mark(&published).await?;
            total += published.len() as u64;
            if let Some(e) = failure {
                return Err(e.into());
            }
            if !full {
                return Ok(total);
            }
        }
    }

    async fn mark(&self, seqs: &[i64]) -> Result<(), RelayError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let update = Query::update()
            .table(OUTBOX)
            .value("published_at", chrono::Utc::now().timestamp_micros())
            .and_where(Expr::col("seq").is_in(seqs.iter().copied()))
            .to_owned();
        match &self.writer {
            Some(writer) => {
                writer
                    .execute(update)
                    .await
                    .map_err(|e| DbErr::Custom(e.to_string()))?;
            }
            None => {
                self.db.execute(&update).await?;
            }
        }
        Ok(())
    }

    /// Runs the relay until `stop` completes: a pass whenever `wake` is notified and every
    /// [`RelayConfig::poll`], with backoff while passes fail.
    pub fn spawn(
        self,
        wake: Arc<Notify>,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> JoinHandle<()> {
        tokio::spawn(async move { self.run(wake, stop).await })
    }

    async fn run(self, wake: Arc<Notify>, stop: impl Future<Output = ()> + Send) {
        tokio::pin!(stop);
        match self.without_envelope().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                rows = n,
                "outbox rows without an envelope are not published"
            ),
            Err(e) => {
                tracing::debug!(error = %e, "could not count outbox rows without an envelope")
            }
        }
        let mut backoff: Option<Duration> = None;
        let mut last_warning: Option<Instant> = None;
        loop {
            let result = tokio::select! {
                biased;
                () = &mut stop => return,
                result = self.publish_pending() => result,
            };
            match result {
                Ok(_) => {
                    if backoff.take().is_some() {
                        tracing::info!("outbox relay recovered");
                    }
                    last_warning = None;
                    tokio::select! {
                        biased;
                        () = &mut stop => return,
                        () = wake.notified() => {}
                        () = tokio::time::sleep(self.config.poll) => {}
                    }
                }
                Err(e) => {
                    let pause = match backoff {
                        None => self.config.backoff_min,
                        Some(previous) => (previous * 2).min(self.config.backoff_max),
                    };
                    backoff = Some(pause);
                    if last_warning.is_none_or(|at| at.elapsed() >= self.config.backlog_log_every) {
                        let backlog = self.backlog().await.ok();
                        tracing::warn!(error = %e, ?backlog, "outbox relay cannot publish; retrying");
                        last_warning = Some(Instant::now());
                    }
                    tokio::select! {
                        biased;
                        () = &mut stop => return,
                        () = tokio::time::sleep(pause) => {}
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };

    use async_trait::async_trait;
    use sea_orm_migration::SchemaManager;

    use super::*;
    use crate::{
        bus::{Subscriber, local::LocalBus},
        db::{PoolSize, open_sqlite_file},
        migration::{add_outbox_envelope, create_outbox_table, drop_outbox_payload},
    };
    use sea_orm::Statement;

    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new() -> Self {
            TempDir(std::env::temp_dir().join(format!("platform-relay-{}", uuid::Uuid::now_v7())))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    const DEADLINE: Duration = Duration::from_secs(30);

    /// Polls `condition` until it holds, failing the test past a generous deadline.
    async fn eventually<F, Fut>(what: &str, mut condition: F)
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = bool>,
    {
        let deadline = Instant::now() + DEADLINE;
        while !condition().await {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    async fn outbox_db(dir: &TempDir) -> DatabaseConnection {
        let db = open_sqlite_file(&dir.0.join("service.db"), PoolSize::default())
            .await
            .unwrap();
        let manager = SchemaManager::new(&db);
        create_outbox_table(&manager).await.unwrap();
        add_outbox_envelope(&manager).await.unwrap();
        drop_outbox_payload(&manager).await.unwrap();
        db
    }

    /// Appends an outbox row; returns its event id.
    async fn append(db: &DatabaseConnection, n: usize, with_envelope: bool) -> String {
        let event_id = format!("event-{n:04}");
        let envelope: Option<Vec<u8>> = with_envelope.then(|| format!("envelope {n}").into_bytes());
        db.execute_raw(Statement::from_sql_and_values(
            db.get_database_backend(),
            "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, aggregate_version, \
             event_type, occurred_at, envelope) VALUES (?, 'test.thing', 'a', ?, \
             'test.thing.happened', 0, ?)",
            vec![event_id.clone().into(), (n as i64).into(), envelope.into()],
        ))
        .await
        .unwrap();
        event_id
    }

    async fn unpublished(db: &DatabaseConnection) -> Vec<String> {
        db.query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT event_id FROM outbox WHERE published_at IS NULL ORDER BY seq",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
    }

    /// Records what it publishes; fails the calls whose number (from 1) is in `failing`.
    #[derive(Default)]
    struct Recorder {
        calls: AtomicUsize,
        failing: Vec<usize>,
        published: Mutex<Vec<Message>>,
    }

    impl Recorder {
        fn failing(calls: impl IntoIterator<Item = usize>) -> Self {
            Recorder {
                failing: calls.into_iter().collect(),
                ..Recorder::default()
            }
        }

        fn ids(&self) -> Vec<String> {
            self.published
                .lock()
                .unwrap()
                .iter()
                .map(|m| m.id.clone())
                .collect()
        }
    }

    #[async_trait]
    impl Publisher for Recorder {
        async fn publish(&self, message: Message) -> Result<(), BusError> {
            let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
            if self.failing.contains(&call) {
                return Err(BusError(format!("broker down (call {call})")));
            }
            self.published.lock().unwrap().push(message);
            Ok(())
        }
    }

    fn quick() -> RelayConfig {
        RelayConfig {
            batch: 4,
            poll: Duration::from_millis(20),
            backoff_min: Duration::from_millis(1),
            backoff_max: Duration::from_millis(10),
            backlog_log_every: Duration::from_secs(30),
        }
    }

    #[tokio::test]
    async fn rows_are_published_in_seq_order_and_marked() {
        let dir = TempDir::new();
        let db = outbox_db(&dir).await;
        let mut expected = Vec::new();
        for n in 0..10 {
            expected.push(append(&db, n, true).await);
        }
        let recorder = Arc::new(Recorder::default());
        let relay = Relay::new(db.clone(), recorder.clone()).with_config(quick());
        assert_eq!(relay.backlog().await.unwrap(), 10);
        assert_eq!(relay.publish_pending().await.unwrap(), 10);
        assert_eq!(recorder.ids(), expected);
        assert!(unpublished(&db).await.is_empty());
        let first = recorder.published.lock().unwrap()[0].clone();
        assert_eq!(first.subject, "saas.events.test.thing.happened");
        assert_eq!(first.payload, b"envelope 0");
        // Nothing is published twice by one relay.
        assert_eq!(relay.publish_pending().await.unwrap(), 0);
        assert_eq!(recorder.ids().len(), 10);
    }

    #[tokio::test]
    async fn a_failure_stops_the_pass_and_nothing_is_lost_or_reordered() {
        let dir = TempDir::new();
        let db = outbox_db(&dir).await;
        let mut expected = Vec::new();
        for n in 0..10 {
            expected.push(append(&db, n, true).await);
        }
        // Calls 3 to 5 fail: the third row is refused three times.
        let recorder = Arc::new(Recorder::failing(3..=5));
        let relay = Relay::new(db.clone(), recorder.clone()).with_config(quick());
        assert!(matches!(
            relay.publish_pending().await,
            Err(RelayError::Bus(_))
        ));
        assert_eq!(recorder.ids(), expected[..2]);
        assert_eq!(unpublished(&db).await, expected[2..]);
        assert!(relay.publish_pending().await.is_err());
        assert!(relay.publish_pending().await.is_err());
        assert_eq!(unpublished(&db).await, expected[2..]);
        assert_eq!(relay.publish_pending().await.unwrap(), 8);
        assert_eq!(recorder.ids(), expected);
        assert!(unpublished(&db).await.is_empty());
    }

    #[tokio::test]
    async fn a_spawned_relay_backs_off_and_recovers() {
        let dir = TempDir::new();
        let db = outbox_db(&dir).await;
        let recorder = Arc::new(Recorder::failing([1, 2, 3, 4, 5, 6, 9]));
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let relay = Relay::new(db.clone(), recorder.clone())
            .with_config(quick())
            .spawn(wake.clone(), async {
                stopped.await.ok();
            });
        let mut expected = Vec::new();
        for n in 0..25 {
            expected.push(append(&db, n, true).await);
            wake.notify_one();
        }
        eventually("every row published", || async {
            unpublished(&db).await.is_empty()
        })
        .await;
        assert_eq!(recorder.ids(), expected);
        stop.send(()).unwrap();
        relay.await.unwrap();
    }

    #[tokio::test]
    async fn rows_without_an_envelope_are_skipped() {
        let dir = TempDir::new();
        let db = outbox_db(&dir).await;
        let first = append(&db, 0, true).await;
        let legacy = append(&db, 1, false).await;
        let last = append(&db, 2, true).await;
        let recorder = Arc::new(Recorder::default());
        let relay = Relay::new(db.clone(), recorder.clone()).with_config(quick());
        assert_eq!(relay.without_envelope().await.unwrap(), 1);
        assert_eq!(relay.publish_pending().await.unwrap(), 2);
        assert_eq!(recorder.ids(), [first, last]);
        assert_eq!(unpublished(&db).await, [legacy]);
        assert_eq!(relay.backlog().await.unwrap(), 0);
    }

    #[tokio::test]
    async fn two_relays_on_one_database_lose_nothing() {
        let dir = TempDir::new();
        let db = outbox_db(&dir).await;
        let bus = LocalBus::open(&dir.0.join("bus.db")).await.unwrap();
        let mut consumer = bus.consumer("check", "saas.events.>").await.unwrap();
        let wake = Arc::new(Notify::new());
        let (stop, stopped) = tokio::sync::watch::channel(false);
        let mut relays = Vec::new();
        for _ in 0..2 {
            let mut stopped = stopped.clone();
            let relay = Relay::new(db.clone(), Arc::new(bus.clone()))
                .with_config(quick())
                .spawn(wake.clone(), async move {
                    stopped.wait_for(|s| *s).await.ok();
                });
            relays.push(relay);
        }
        let mut expected = Vec::new();
        for n in 0..40 {
            expected.push(append(&db, n, true).await);
            wake.notify_waiters();
        }
        let mut received = Vec::new();
        while received.len() < expected.len() {
            let delivery = consumer
                .next(DEADLINE)
                .await
                .unwrap()
                .expect("every event reaches the bus");
            consumer.ack(&delivery).await.unwrap();
            received.push(delivery.message.id);
        }
        assert_eq!(received, expected);
        eventually("every row marked", || async {
            unpublished(&db).await.is_empty()
        })
        .await;
        stop.send(true).unwrap();
        for relay in relays {
            relay.await.unwrap();
        }
        assert_eq!(consumer.next(Duration::ZERO).await.unwrap(), None);
    }

    /// A minimal context for driving the command pipeline.
    mod things {
        use kernel_domain::{AggregateRoot, DomainEvent, Rejection, RejectionKind};
        use serde::{Deserialize, Serialize};
        use uuid::Uuid;

        use crate::{
            migration::{IndexedColumn, create_document_table, create_idempotency_table},
            store::{IntegrationEvent, Schema},
        };

        #[derive(Debug, Clone, Serialize, Deserialize)]
        pub struct Thing {
            pub id: Uuid,
        }

        #[derive(Debug, Serialize)]
        pub struct Happened;

        impl DomainEvent for Happened {
            fn event_type(&self) -> &'static str {
                "test.thing.happened"
            }
        }

        impl AggregateRoot for Thing {
            type Event = Happened;
            fn aggregate_id(&self) -> Uuid {
                self.id
            }
        }

        pub struct Things;

        impl Schema for Things {
            type Aggregate = Thing;
            const TABLE: &'static str = "things";
            const AGGREGATE_TYPE: &'static str = "test.thing";
            const ERROR_DOMAIN: &'static str = "test.saas";
            const COLUMNS: &'static [IndexedColumn] = &[];
            fn column_values(_: &Thing) -> Vec<Option<String>> {
                Vec::new()
            }
            fn taken(_: &str) -> Rejection {
                Rejection::new(RejectionKind::AlreadyExists, "TAKEN", "taken")
            }
            fn not_found() -> Rejection {
                Rejection::new(RejectionKind::NotFound, "NOT_FOUND", "no such thing")
            }
            fn integration_event(_: &Thing, _: &Happened) -> IntegrationEvent {
                IntegrationEvent::new(None, &prost_types::Timestamp::default())
            }
        }

        pub async fn create_tables(db: &sea_orm::DatabaseConnection) {
            let manager = sea_orm_migration::SchemaManager::new(db);
            create_document_table(&manager, "things", &[])
                .await
                .unwrap();
            create_idempotency_table(&manager).await.unwrap();
        }
    }

    async fn create_thing(
        store: &crate::store::Store<things::Things>,
        events: usize,
    ) -> uuid::Uuid {
        let id = crate::new_id();
        store
            .create(
                crate::store::Command::new("CreateThing", crate::new_id(), &(), None),
                move |_| {
                    Ok((
                        things::Thing { id },
                        (0..events).map(|_| things::Happened).collect(),
                    ))
                },
                |_, _| (),
            )
            .await
            .unwrap();
        id
    }

    async fn outbox_event_ids(db: &DatabaseConnection) -> Vec<String> {
        db.query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT event_id FROM outbox ORDER BY seq",
        ))
        .await
        .unwrap()
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).unwrap())
        .collect()
    }

    async fn decoded_events(
        consumer: &mut Box<dyn crate::bus::Consumer>,
        n: usize,
    ) -> Vec<saas_proto::events::v1::EventEnvelope> {
        let mut events = Vec::new();
        for _ in 0..n {
            let delivery = consumer
                .next(DEADLINE)
                .await
                .unwrap()
                .expect("the event reaches the bus");
            consumer.ack(&delivery).await.unwrap();
            let envelope: saas_proto::events::v1::EventEnvelope =
                prost::Message::decode(delivery.message.payload.as_slice()).unwrap();
            assert_eq!(envelope.event_id, delivery.message.id);
            events.push(envelope);
        }
        events
    }

    #[tokio::test]
    async fn a_stores_commits_reach_the_bus_through_its_relay() {
        let dir = TempDir::new();
        let db = outbox_db(&dir).await;
        things::create_tables(&db).await;
        let store =
            crate::store::Store::<things::Things>::new(db.clone(), Arc::new(crate::SystemClock));
        let bus = LocalBus::open(&dir.0.join("bus.db")).await.unwrap();
        let mut consumer = bus.consumer("check", "saas.events.test.>").await.unwrap();
        let relay = store.spawn_relay(Arc::new(bus.clone()));
        let first = create_thing(&store, 2).await;
        let second = create_thing(&store, 1).await;
        let events = decoded_events(&mut consumer, 3).await;
        let ids: Vec<String> = events.iter().map(|e| e.event_id.clone()).collect();
        assert_eq!(ids, outbox_event_ids(&db).await);
        let aggregates: Vec<String> = events.iter().map(|e| e.aggregate_id.clone()).collect();
        assert_eq!(
            aggregates,
            [first.to_string(), first.to_string(), second.to_string()]
        );
        assert!(events.iter().all(|e| e.event_type == "test.thing.happened"));
        eventually("every row marked", || async {
            unpublished(&db).await.is_empty()
        })
        .await;
        relay.abort();
    }

    /// The child half of the crash test: runs commands with the fault hook on.
    async fn crash_after_commit(dir: std::path::PathBuf) {
        let db = open_sqlite_file(&dir.join("service.db"), PoolSize::default())
            .await
            .unwrap();
        let store = crate::store::Store::<things::Things>::new(db, Arc::new(crate::SystemClock));
        // A commit without events does not trip the hook.
        create_thing(&store, 0).await;
        create_thing(&store, 1).await;
        panic!("the process survived a commit with events under the fault hook");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_crash_right_after_commit_loses_no_event() {
        use std::os::unix::process::ExitStatusExt;

        const CHILD: &str = "PLATFORM_TEST_FAULT_CHILD_DIR";
        if let Some(dir) = std::env::var_os(CHILD) {
            crash_after_commit(dir.into()).await;
            return;
        }
        let dir = TempDir::new();
        let db = outbox_db(&dir).await;
        things::create_tables(&db).await;
        let status = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "relay::tests::a_crash_right_after_commit_loses_no_event",
                "--exact",
                "--test-threads=1",
            ])
            .env(CHILD, &dir.0)
            .env(crate::store::FAULT_ABORT_AFTER_COMMIT, "1")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .await
            .unwrap();
        assert_eq!(status.signal(), Some(6), "the child aborts: {status:?}");

        // Both commits are there, the event is not published yet.
        let stored: i64 = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT COUNT(*) FROM things",
            ))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index(0)
            .unwrap();
        assert_eq!(stored, 2);
        let written = outbox_event_ids(&db).await;
        assert_eq!(written.len(), 1);
        assert_eq!(unpublished(&db).await, written);

        // The next relay publishes it.
        let bus = LocalBus::open(&dir.0.join("bus.db")).await.unwrap();
        let mut consumer = bus.consumer("check", "saas.events.>").await.unwrap();
        let relay = Relay::new(db.clone(), Arc::new(bus.clone()));
        assert_eq!(relay.publish_pending().await.unwrap(), 1);
        let events = decoded_events(&mut consumer, 1).await;
        assert_eq!(events[0].event_id, written[0]);
        assert!(unpublished(&db).await.is_empty());
    }
}
