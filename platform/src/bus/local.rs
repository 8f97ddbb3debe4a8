//! The in-process durable bus (embedded default).
//!
//! [`LocalBus`] keeps its log, its consumers' positions and its dead letters in a SQLite file
//! of its own, so a restarted process resumes where it stopped. It gives the same guarantees
//! as the NATS transport:
//!
//! - **Publish** stores a message once per id (`INSERT ... ON CONFLICT (id) DO NOTHING`) and
//!   returns only after the row is committed; waiting consumers are woken at once.
//! - **Consumers** are durable and named. A consumer receives the messages whose subject
//!   matches its filter (NATS tokens: `*` is one token, `>` is the rest, at least one token),
//!   in publish order, one at a time: the next message comes only after the one in hand was
//!   acknowledged, parked or, after a `nak`, redelivered and settled. Its position (every
//!   message up to it is acknowledged, parked or does not match) is written on every `ack`
//!   and `park`; reopening the file resumes after it, so a message that was delivered but not
//!   acknowledged comes again.
//! - **Attempts** count deliveries: calling `next` again without settling the message in
//!   hand delivers it again with `attempt + 1`, and `nak(delay)` delivers it again after
//!   `delay` with `attempt + 1`. The attempt a `nak` set survives a restart.
//! - **Dead letters**: `park` records the message as a dead letter of that consumer and moves
//!   on. `redrive` makes the parked messages of a consumer deliverable to it again, oldest
//!   first and **before any newer message**, and removes them from the dead letters.
//! - One handle per consumer name at a time: two open handles of one name each deliver the
//!   same messages (still at least once, but twice the work).
//! - Opening a consumer with another filter keeps its position and uses the new filter from
//!   then on.
//!
//! **Retention:** a message is kept at least [`RETENTION`] (7 days) and, after that, until
//! every consumer has passed it; parked and redriven messages are kept until they are
//! settled. [`LocalBus::purge`] deletes the rest; [`LocalBus::spawn_purge`] runs it hourly.
//! A consumer created later receives every message still kept.

use std::{fmt, path::Path, sync::Arc, time::Duration};

use async_trait::async_trait;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, QueryResult, Statement, Value};
use tokio::{sync::watch, time::Instant};

use super::{
    BusError, Consumer, DeadLetter, DeadLetters, Delivery, Message, Publisher, Subscriber,
};
use crate::db::{PoolSize, begin_write, open_sqlite_file};

/// How long a message is kept at least (see the module docs).
pub const RETENTION: Duration = Duration::from_secs(7 * 24 * 3600);

/// How many messages a consumer reads from the log at once while looking for a match.
const SCAN_BATCH: i64 = 64;

/// The longest reason kept with a dead letter, in characters.
const MAX_REASON_CHARS: usize = 2000;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS bus_messages (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  subject TEXT NOT NULL,
  payload BLOB NOT NULL,
  stored_at BIGINT NOT NULL
)",
    "CREATE INDEX IF NOT EXISTS ix_bus_messages_stored_at ON bus_messages (stored_at)",
    "CREATE TABLE IF NOT EXISTS bus_consumers (
  name TEXT PRIMARY KEY NOT NULL,
  filter TEXT NOT NULL,
  position BIGINT NOT NULL DEFAULT 0,
  retry_seq BIGINT NULL,
  retry_attempt BIGINT NULL
)",
    "CREATE TABLE IF NOT EXISTS bus_dead_letters (
  consumer TEXT NOT NULL,
  seq BIGINT NOT NULL,
  reason TEXT NOT NULL,
  parked_at BIGINT NOT NULL,
  PRIMARY KEY (consumer, seq)
)",
    "CREATE TABLE IF NOT EXISTS bus_redrive (
  consumer TEXT NOT NULL,
  seq BIGINT NOT NULL,
  PRIMARY KEY (consumer, seq)
)",
];

/// The in-process durable bus: one SQLite file holding the log, the consumers' positions
/// and the dead letters. Cheap to clone; clones share the file and the wake-ups.
#[derive(Clone)]
pub struct LocalBus {
    inner: Arc<Inner>,
}

struct Inner {
    db: DatabaseConnection,
    path: std::path::PathBuf,
    /// Writers in this process queue here instead of spinning on SQLite's file lock.
    writes: tokio::sync::Mutex<()>,
    /// Bumped after every publish that stored a message and every redrive.
    changed: watch::Sender<u64>,
}

impl fmt::Debug for LocalBus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBus")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn failed(e: impl fmt::Display) -> BusError {
    BusError(e.to_string())
}

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Sqlite, sql, values)
}

fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}

/// Whether `subject` matches the NATS-style `filter`: tokens are separated by `.`, `*`
/// matches exactly one token and `>` (only as the last token) matches one or more tokens.
pub fn subject_matches(filter: &str, subject: &str) -> bool {
    let mut tokens = subject.split('.');
    for wanted in filter.split('.') {
        match wanted {
            ">" => return tokens.next().is_some(),
            "*" => {
                if tokens.next().is_none() {
                    return false;
                }
            }
            literal => {
                if tokens.next() != Some(literal) {
                    return false;
                }
            }
        }
    }
    tokens.next().is_none()
}

/// Whether `filter` is a valid filter: non-empty tokens, wildcards only as whole tokens and
/// `>` only last.
fn valid_filter(filter: &str) -> bool {
    let tokens: Vec<&str> = filter.split('.').collect();
    tokens.iter().enumerate().all(|(i, token)| {
        !token.is_empty()
            && !token.contains(char::is_whitespace)
            && match *token {
                ">" => i + 1 == tokens.len(),
                "*" => true,
                other => !other.contains(['*', '>']),
            }
    })
}

/// Whether `subject` can be published to: non-empty tokens, no wildcards, no whitespace.
fn valid_subject(subject: &str) -> bool {
    subject.split('.').all(|token| {
        !token.is_empty() && !token.contains(['*', '>']) && !token.contains(char::is_whitespace)
    })
}

impl LocalBus {
    /// Opens (creating if needed) the bus kept in the SQLite file at `path`.
    pub async fn open(path: &Path) -> Result<LocalBus, BusError> {
        let db = open_sqlite_file(path, PoolSize { max: 4 })
            .await
            .map_err(failed)?;
        for ddl in SCHEMA {
            db.execute_unprepared(ddl).await.map_err(failed)?;
        }
        let (changed, _) = watch::channel(0);
        Ok(LocalBus {
            inner: Arc::new(Inner {
                db,
                path: path.to_owned(),
                writes: tokio::sync::Mutex::new(()),
                changed,
            }),
        })
    }

    /// Deletes the messages stored more than `older_than` ago that every consumer has passed
    /// and that are neither parked nor waiting for redelivery; returns how many.
    pub async fn purge(&self, older_than: Duration) -> Result<u64, BusError> {
        let age = i64::try_from(older_than.as_micros()).unwrap_or(i64::MAX);
        self.purge_before(now_micros().saturating_sub(age)).await
    }

    async fn purge_before(&self, cutoff: i64) -> Result<u64, BusError> {
        let _write = self.inner.writes.lock().await;
        let deleted = self
            .inner
            .db
            .execute_raw(stmt(
                "DELETE FROM bus_messages WHERE stored_at < ? \
                 AND seq <= COALESCE((SELECT MIN(position) FROM bus_consumers), seq) \
                 AND seq NOT IN (SELECT seq FROM bus_dead_letters) \
                 AND seq NOT IN (SELECT seq FROM bus_redrive)",
                vec![cutoff.into()],
            ))
            .await
            .map_err(failed)?
            .rows_affected();
        Ok(deleted)
    }

    /// Purges messages past [`RETENTION`] every hour until the process ends.
    pub fn spawn_purge(&self) -> tokio::task::JoinHandle<()> {
        let bus = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(3600));
            loop {
                tick.tick().await;
                match bus.purge(RETENTION).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(purged = n, "purged old bus messages"),
                    Err(e) => tracing::warn!(error = %e, "bus purge failed"),
                }
            }
        })
    }
}

impl Inner {
    fn wake(&self) {
        self.changed.send_modify(|n| *n = n.wrapping_add(1));
    }

    async fn message(&self, seq: i64) -> Result<Option<Message>, BusError> {
        let row = self
            .db
            .query_one_raw(stmt(
                "SELECT id, subject, payload FROM bus_messages WHERE seq = ?",
                vec![seq.into()],
            ))
            .await
            .map_err(failed)?;
        row.map(|row| decode_message(&row, 0)).transpose()
    }

    /// Acknowledges (or, with `reason`, parks) message `seq` for consumer `name` in one
    /// transaction: the position moves past it, a redelivery or retry record goes.
    async fn settle(&self, name: &str, seq: i64, parked: Option<&str>) -> Result<(), BusError> {
        let _write = self.writes.lock().await;
        let txn = begin_write(&self.db).await.map_err(failed)?;
        if let Some(reason) = parked {
            let reason: String = reason.chars().take(MAX_REASON_CHARS).collect();
            txn.execute_raw(stmt(
                "INSERT INTO bus_dead_letters (consumer, seq, reason, parked_at) VALUES (?, ?, ?, ?) \
                 ON CONFLICT (consumer, seq) DO UPDATE SET reason = excluded.reason, \
                 parked_at = excluded.parked_at",
                vec![
                    name.to_owned().into(),
                    seq.into(),
                    reason.into(),
                    now_micros().into(),
                ],
            ))
            .await
            .map_err(failed)?;
        }
        txn.execute_raw(stmt(
            "UPDATE bus_consumers SET position = MAX(position, ?), \
             retry_attempt = CASE WHEN retry_seq = ? THEN NULL ELSE retry_attempt END, \
             retry_seq = CASE WHEN retry_seq = ? THEN NULL ELSE retry_seq END \
             WHERE name = ?",
            vec![seq.into(), seq.into(), seq.into(), name.to_owned().into()],
        ))
        .await
        .map_err(failed)?;
        txn.execute_raw(stmt(
            "DELETE FROM bus_redrive WHERE consumer = ? AND seq = ?",
            vec![name.to_owned().into(), seq.into()],
        ))
        .await
        .map_err(failed)?;
        txn.commit().await.map_err(failed)
    }
}

fn decode_message(row: &QueryResult, first: usize) -> Result<Message, BusError> {
    Ok(Message {
        id: row.try_get_by_index(first).map_err(failed)?,
        subject: row.try_get_by_index(first + 1).map_err(failed)?,
        payload: row.try_get_by_index(first + 2).map_err(failed)?,
    })
}

#[async_trait]
impl Publisher for LocalBus {
    async fn publish(&self, message: Message) -> Result<(), BusError> {
        if !valid_subject(&message.subject) {
            return Err(BusError(format!(
                "invalid subject {:?} for publishing",
                message.subject
            )));
        }
        if message.id.is_empty() {
            return Err(BusError("a message needs an id".into()));
        }
        let inserted = {
            let _write = self.inner.writes.lock().await;
            self.inner
                .db
                .execute_raw(stmt(
                    "INSERT INTO bus_messages (id, subject, payload, stored_at) VALUES (?, ?, ?, ?) \
                     ON CONFLICT (id) DO NOTHING",
                    vec![
                        message.id.into(),
                        message.subject.into(),
                        message.payload.into(),
                        now_micros().into(),
                    ],
                ))
                .await
                .map_err(failed)?
                .rows_affected()
        };
        if inserted > 0 {
            self.inner.wake();
        }
        Ok(())
    }
}

#[async_trait]
impl Subscriber for LocalBus {
    async fn consumer(&self, name: &str, filter: &str) -> Result<Box<dyn Consumer>, BusError> {
        if name.is_empty() {
            return Err(BusError("a consumer needs a name".into()));
        }
        if !valid_filter(filter) {
            return Err(BusError(format!("invalid subject filter {filter:?}")));
        }
        // Subscribe before reading, so nothing published from here on goes unnoticed.
        let changed = self.inner.changed.subscribe();
        {
            let _write = self.inner.writes.lock().await;
            self.inner
                .db
                .execute_raw(stmt(
                    "INSERT INTO bus_consumers (name, filter, position) VALUES (?, ?, 0) \
                     ON CONFLICT (name) DO UPDATE SET filter = excluded.filter",
                    vec![name.to_owned().into(), filter.to_owned().into()],
                ))
                .await
                .map_err(failed)?;
        }
        let row = self
            .inner
            .db
            .query_one_raw(stmt(
                "SELECT position, retry_seq, retry_attempt FROM bus_consumers WHERE name = ?",
                vec![name.to_owned().into()],
            ))
            .await
            .map_err(failed)?
            .ok_or_else(|| BusError(format!("consumer {name} vanished")))?;
        let position: i64 = row.try_get_by_index(0).map_err(failed)?;
        let retry_seq: Option<i64> = row.try_get_by_index(1).map_err(failed)?;
        let retry_attempt: Option<i64> = row.try_get_by_index(2).map_err(failed)?;
        let current = retry_seq.map(|seq| InFlight {
            seq,
            attempt: retry_attempt
                .and_then(|a| u32::try_from(a).ok())
                .unwrap_or(1)
                .max(1),
            due: Some(Instant::now()),
        });
        Ok(Box::new(LocalConsumer {
            inner: self.inner.clone(),
            name: name.to_owned(),
            filter: filter.to_owned(),
            changed,
            position,
            scanned: position,
            current,
        }))
    }
}

#[async_trait]
impl DeadLetters for LocalBus {
    async fn list(&self) -> Result<Vec<DeadLetter>, BusError> {
        let rows = self
            .inner
            .db
            .query_all_raw(stmt(
                "SELECT m.id, m.subject, m.payload, d.consumer, d.reason, d.parked_at \
                 FROM bus_dead_letters d JOIN bus_messages m ON m.seq = d.seq \
                 ORDER BY d.parked_at, d.consumer, d.seq",
                vec![],
            ))
            .await
            .map_err(failed)?;
        rows.iter()
            .map(|row| {
                Ok(DeadLetter {
                    message: decode_message(row, 0)?,
                    consumer: row.try_get_by_index(3).map_err(failed)?,
                    reason: row.try_get_by_index(4).map_err(failed)?,
                    parked_at: row.try_get_by_index(5).map_err(failed)?,
                })
            })
            .collect()
    }

    async fn redrive(&self, consumer: Option<&str>) -> Result<usize, BusError> {
        let (condition, values): (&str, Vec<Value>) = match consumer {
            Some(name) => ("consumer = ?", vec![name.to_owned().into()]),
            None => ("1 = 1", vec![]),
        };
        let moved = {
            let _write = self.inner.writes.lock().await;
            let txn = begin_write(&self.inner.db).await.map_err(failed)?;
            txn.execute_raw(stmt(
                &format!(
                    "INSERT INTO bus_redrive (consumer, seq) SELECT consumer, seq \
                     FROM bus_dead_letters WHERE {condition} ON CONFLICT (consumer, seq) DO NOTHING"
                ),
                values.clone(),
            ))
            .await
            .map_err(failed)?;
            let moved = txn
                .execute_raw(stmt(
                    &format!("DELETE FROM bus_dead_letters WHERE {condition}"),
                    values,
                ))
                .await
                .map_err(failed)?
                .rows_affected();
            txn.commit().await.map_err(failed)?;
            moved
        };
        if moved > 0 {
            self.inner.wake();
        }
        Ok(usize::try_from(moved).unwrap_or(usize::MAX))
    }
}

/// The message a consumer has in hand.
struct InFlight {
    seq: i64,
    /// The attempt of the next delivery of it.
    attempt: u32,
    /// `None`: delivered and not yet settled; `Some(t)`: to be delivered again at `t`.
    due: Option<Instant>,
}

struct LocalConsumer {
    inner: Arc<Inner>,
    name: String,
    filter: String,
    changed: watch::Receiver<u64>,
    /// The durable position as last written by this handle.
    position: i64,
    /// Every message up to here is settled, in hand or does not match the filter.
    scanned: i64,
    current: Option<InFlight>,
}

impl LocalConsumer {
    /// The oldest redriven message of this consumer.
    async fn redriven(&self) -> Result<Option<i64>, BusError> {
        let row = self
            .inner
            .db
            .query_one_raw(stmt(
                "SELECT seq FROM bus_redrive WHERE consumer = ? ORDER BY seq LIMIT 1",
                vec![self.name.clone().into()],
            ))
            .await
            .map_err(failed)?;
        row.map(|row| row.try_get_by_index(0).map_err(failed))
            .transpose()
    }

    /// The next message after `scanned` that matches the filter; moves `scanned` past the
    /// ones that do not.
    async fn scan(&mut self) -> Result<Option<(i64, Message)>, BusError> {
        loop {
            let rows = self
                .inner
                .db
                .query_all_raw(stmt(
                    "SELECT seq, id, subject, payload FROM bus_messages WHERE seq > ? \
                     ORDER BY seq LIMIT ?",
                    vec![self.scanned.into(), SCAN_BATCH.into()],
                ))
                .await
                .map_err(failed)?;
            if rows.is_empty() {
                return Ok(None);
            }
            for row in &rows {
                let seq: i64 = row.try_get_by_index(0).map_err(failed)?;
                let subject: String = row.try_get_by_index(2).map_err(failed)?;
                if subject_matches(&self.filter, &subject) {
                    return Ok(Some((seq, decode_message(row, 1)?)));
                }
                self.scanned = seq;
            }
            if rows.len() < SCAN_BATCH as usize {
                return Ok(None);
            }
        }
    }

    fn deliver(&mut self, seq: i64, attempt: u32, message: Message) -> Delivery {
        self.current = Some(InFlight {
            seq,
            attempt,
            due: None,
        });
        Delivery {
            message,
            attempt,
            sequence: u64::try_from(seq).unwrap_or_default(),
        }
    }

    fn sequence(delivery: &Delivery) -> Result<i64, BusError> {
        i64::try_from(delivery.sequence)
            .map_err(|_| BusError(format!("no such sequence {}", delivery.sequence)))
    }

    fn settled(&mut self, seq: i64) {
        self.position = self.position.max(seq);
        self.scanned = self.scanned.max(seq);
        if self.current.as_ref().is_some_and(|c| c.seq == seq) {
            self.current = None;
        }
    }
}

#[async_trait]
impl Consumer for LocalConsumer {
    async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>, BusError> {
        let deadline = Instant::now() + wait;
        loop {
            if let Some(current) = &mut self.current {
                match current.due {
                    // Delivered and neither acknowledged nor refused: deliver it again.
                    None => current.attempt = current.attempt.saturating_add(1),
                    Some(due) if due > deadline => {
                        tokio::time::sleep_until(deadline).await;
                        return Ok(None);
                    }
                    Some(due) => tokio::time::sleep_until(due).await,
                }
                let (seq, attempt) = (current.seq, current.attempt);
                match self.inner.message(seq).await? {
                    Some(message) => return Ok(Some(self.deliver(seq, attempt, message))),
                    None => {
                        // Purged meanwhile: nothing left to deliver.
                        self.current = None;
                        continue;
                    }
                }
            }
            self.changed.borrow_and_update();
            if let Some(seq) = self.redriven().await? {
                match self.inner.message(seq).await? {
                    Some(message) => return Ok(Some(self.deliver(seq, 1, message))),
                    None => {
                        self.inner.settle(&self.name, seq, None).await?;
                        continue;
                    }
                }
            }
            if let Some((seq, message)) = self.scan().await? {
                self.scanned = seq;
                return Ok(Some(self.deliver(seq, 1, message)));
            }
            // Caught up: record the messages passed over as not matching, so retention can
            // drop them, then wait for news.
            if self.scanned > self.position {
                let _write = self.inner.writes.lock().await;
                self.inner
                    .db
                    .execute_raw(stmt(
                        "UPDATE bus_consumers SET position = MAX(position, ?) WHERE name = ?",
                        vec![self.scanned.into(), self.name.clone().into()],
                    ))
                    .await
                    .map_err(failed)?;
                self.position = self.scanned;
            }
            match tokio::time::timeout_at(deadline, self.changed.changed()).await {
                Ok(Ok(())) => continue,
                Ok(Err(_)) | Err(_) => return Ok(None),
            }
        }
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let seq = Self::sequence(delivery)?;
        self.inner.settle(&self.name, seq, None).await?;
        self.settled(seq);
        Ok(())
    }

    async fn nak(&mut self, delivery: &Delivery, delay: Duration) -> Result<(), BusError> {
        let seq = Self::sequence(delivery)?;
        let attempt = delivery.attempt.saturating_add(1);
        {
            let _write = self.inner.writes.lock().await;
            self.inner
                .db
                .execute_raw(stmt(
                    "UPDATE bus_consumers SET retry_seq = ?, retry_attempt = ? WHERE name = ?",
                    vec![
                        seq.into(),
                        i64::from(attempt).into(),
                        self.name.clone().into(),
                    ],
                ))
                .await
                .map_err(failed)?;
        }
        self.current = Some(InFlight {
            seq,
            attempt,
            due: Some(Instant::now() + delay),
        });
        Ok(())
    }

    async fn park(&mut self, delivery: &Delivery, reason: &str) -> Result<(), BusError> {
        let seq = Self::sequence(delivery)?;
        self.inner.settle(&self.name, seq, Some(reason)).await?;
        self.settled(seq);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A folder under the system's temporary directory, removed when dropped.
    pub(crate) struct TempDir(std::path::PathBuf);

    impl TempDir {
        pub(crate) fn new() -> Self {
            TempDir(std::env::temp_dir().join(format!("platform-bus-{}", uuid::Uuid::now_v7())))
        }

        pub(crate) fn file(&self, name: &str) -> std::path::PathBuf {
            self.0.join(name)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    /// How long a test waits for something that is expected to come.
    const WAIT: Duration = Duration::from_secs(20);

    fn message(subject: &str, id: &str) -> Message {
        Message {
            subject: subject.to_owned(),
            id: id.to_owned(),
            payload: format!("payload of {id}").into_bytes(),
        }
    }

    async fn expect_next(consumer: &mut Box<dyn Consumer>) -> Delivery {
        consumer
            .next(WAIT)
            .await
            .expect("bus works")
            .expect("a message arrives")
    }

    /// Everything published is committed before this is called, so nothing pending means
    /// nothing comes: no waiting needed.
    async fn expect_nothing(consumer: &mut Box<dyn Consumer>) {
        let next = consumer.next(Duration::ZERO).await.expect("bus works");
        assert_eq!(next, None);
    }

    async fn ids(consumer: &mut Box<dyn Consumer>, n: usize) -> Vec<String> {
        let mut ids = Vec::new();
        for _ in 0..n {
            let delivery = expect_next(consumer).await;
            consumer.ack(&delivery).await.expect("ack");
            ids.push(delivery.message.id);
        }
        ids
    }

    #[test]
    fn subjects_match_nats_wildcards() {
        assert!(subject_matches("a.b.c", "a.b.c"));
        assert!(!subject_matches("a.b.c", "a.b"));
        assert!(!subject_matches("a.b", "a.b.c"));
        assert!(subject_matches("a.*.c", "a.x.c"));
        assert!(!subject_matches("a.*.c", "a.x.y.c"));
        assert!(subject_matches("a.>", "a.b"));
        assert!(subject_matches("a.>", "a.b.c.d"));
        assert!(!subject_matches("a.>", "a"));
        assert!(subject_matches(">", "anything.at.all"));
        assert!(subject_matches("*.b.>", "x.b.c"));
        assert!(!subject_matches("*.b.>", "x.c.c"));
    }

    #[test]
    fn filters_and_subjects_are_validated() {
        assert!(valid_filter("saas.events.>"));
        assert!(valid_filter("saas.*.x"));
        assert!(!valid_filter("saas.>.x"));
        assert!(!valid_filter("saas..x"));
        assert!(!valid_filter("saas.ev*"));
        assert!(!valid_filter(""));
        assert!(valid_subject("saas.events.identity.user.registered"));
        assert!(!valid_subject("saas.*"));
        assert!(!valid_subject("saas..x"));
        assert!(!valid_subject("saas. x"));
    }

    #[tokio::test]
    async fn publishing_an_id_twice_stores_it_once() {
        let dir = TempDir::new();
        let bus = LocalBus::open(&dir.file("bus.db")).await.unwrap();
        bus.publish(message("t.a", "1")).await.unwrap();
        bus.publish(message("t.a", "1")).await.unwrap();
        bus.publish(message("t.b", "2")).await.unwrap();
        let mut consumer = bus.consumer("c", ">").await.unwrap();
        assert_eq!(ids(&mut consumer, 2).await, ["1", "2"]);
        expect_nothing(&mut consumer).await;
        let stored = bus
            .inner
            .db
            .query_one_raw(stmt("SELECT COUNT(*) FROM bus_messages", vec![]))
            .await
            .unwrap()
            .unwrap()
            .try_get_by_index::<i64>(0)
            .unwrap();
        assert_eq!(stored, 2);
    }

    #[tokio::test]
    async fn invalid_subjects_and_filters_are_refused() {
        let dir = TempDir::new();
        let bus = LocalBus::open(&dir.file("bus.db")).await.unwrap();
        assert!(bus.publish(message("t.*", "1")).await.is_err());
        assert!(bus.publish(message("t.a", "")).await.is_err());
        assert!(bus.consumer("c", "t.>.x").await.is_err());
        assert!(bus.consumer("", ">").await.is_err());
    }

    #[tokio::test]
    async fn a_consumer_gets_the_matching_messages_in_publish_order() {
        let dir = TempDir::new();
        let bus = LocalBus::open(&dir.file("bus.db")).await.unwrap();
        for (subject, id) in [
            ("a.b.c", "1"),
            ("a.x.c", "2"),
            ("b.b.c", "3"),
            ("a.b.c.d", "4"),
            ("a.y.c", "5"),
        ] {
            bus.publish(message(subject, id)).await.unwrap();
        }
        let mut one_token = bus.consumer("one", "a.*.c").await.unwrap();
        assert_eq!(ids(&mut one_token, 3).await, ["1", "2", "5"]);
        expect_nothing(&mut one_token).await;
        let mut tail = bus.consumer("tail", "a.>").await.unwrap();
        assert_eq!(ids(&mut tail, 4).await, ["1", "2", "4", "5"]);
        expect_nothing(&mut tail).await;
        let mut exact = bus.consumer("exact", "b.b.c").await.unwrap();
        assert_eq!(ids(&mut exact, 1).await, ["3"]);
        expect_nothing(&mut exact).await;
    }

    #[tokio::test]
    async fn a_waiting_consumer_is_woken_by_a_publish() {
        let dir = TempDir::new();
        let bus = LocalBus::open(&dir.file("bus.db")).await.unwrap();
        let mut consumer = bus.consumer("c", "t.>").await.unwrap();
        let publisher = bus.clone();
        let published = tokio::spawn(async move {
            publisher.publish(message("t.a", "late")).await.unwrap();
        });
        let delivery = expect_next(&mut consumer).await;
        assert_eq!(delivery.message.id, "late");
        assert_eq!(delivery.message.payload, b"payload of late");
        published.await.unwrap();
    }

    #[tokio::test]
    async fn a_reopened_bus_resumes_after_the_last_ack() {
        let dir = TempDir::new();
        let path = dir.file("bus.db");
        {
            let bus = LocalBus::open(&path).await.unwrap();
            for id in ["1", "2", "3"] {
                bus.publish(message("t.a", id)).await.unwrap();
            }
            let mut consumer = bus.consumer("c", ">").await.unwrap();
            let first = expect_next(&mut consumer).await;
            assert_eq!(first.message.id, "1");
            consumer.ack(&first).await.unwrap();
            let second = expect_next(&mut consumer).await;
            assert_eq!(second.message.id, "2");
            // Not acknowledged before the "crash".
        }
        let bus = LocalBus::open(&path).await.unwrap();
        let mut consumer = bus.consumer("c", ">").await.unwrap();
        let again = expect_next(&mut consumer).await;
        assert_eq!((again.message.id.as_str(), again.attempt), ("2", 1));
        consumer.ack(&again).await.unwrap();
        assert_eq!(ids(&mut consumer, 1).await, ["3"]);
        expect_nothing(&mut consumer).await;
    }

    #[tokio::test]
    async fn nak_delivers_the_same_message_again_with_the_next_attempt() {
        let dir = TempDir::new();
        let path = dir.file("bus.db");
        let bus = LocalBus::open(&path).await.unwrap();
        bus.publish(message("t.a", "1")).await.unwrap();
        bus.publish(message("t.a", "2")).await.unwrap();
        let mut consumer = bus.consumer("c", ">").await.unwrap();
        let first = expect_next(&mut consumer).await;
        assert_eq!((first.message.id.as_str(), first.attempt), ("1", 1));
        consumer
            .nak(&first, Duration::from_millis(10))
            .await
            .unwrap();
        let second = expect_next(&mut consumer).await;
        assert_eq!((second.message.id.as_str(), second.attempt), ("1", 2));
        assert_eq!(second.sequence, first.sequence);
        // The attempt a nak set survives a restart.
        consumer.nak(&second, Duration::ZERO).await.unwrap();
        drop(consumer);
        drop(bus);
        let bus = LocalBus::open(&path).await.unwrap();
        let mut consumer = bus.consumer("c", ">").await.unwrap();
        let third = expect_next(&mut consumer).await;
        assert_eq!((third.message.id.as_str(), third.attempt), ("1", 3));
        consumer.ack(&third).await.unwrap();
        let next = expect_next(&mut consumer).await;
        assert_eq!((next.message.id.as_str(), next.attempt), ("2", 1));
    }

    #[tokio::test]
    async fn a_message_not_settled_is_delivered_again_with_the_next_attempt() {
        let dir = TempDir::new();
        let bus = LocalBus::open(&dir.file("bus.db")).await.unwrap();
        bus.publish(message("t.a", "1")).await.unwrap();
        let mut consumer = bus.consumer("c", ">").await.unwrap();
        assert_eq!(expect_next(&mut consumer).await.attempt, 1);
        let again = expect_next(&mut consumer).await;
        assert_eq!((again.message.id.as_str(), again.attempt), ("1", 2));
    }

    #[tokio::test]
    async fn a_delayed_redelivery_is_not_handed_out_early() {
        let dir = TempDir::new();
        let bus = LocalBus::open(&dir.file("bus.db")).await.unwrap();
        bus.publish(message("t.a", "1")).await.unwrap();
        bus.publish(message("t.a", "2")).await.unwrap();
        let mut consumer = bus.consumer("c", ">").await.unwrap();
        let first = expect_next(&mut consumer).await;
        consumer
            .nak(&first, Duration::from_secs(3600))
            .await
            .unwrap();
        // Neither the refused message nor the one behind it comes before the delay.
        expect_nothing(&mut consumer).await;
    }

    #[tokio::test]
    async fn parked_messages_are_listed_and_redriven_to_their_consumer() {
        let dir = TempDir::new();
        let path = dir.file("bus.db");
        let bus = LocalBus::open(&path).await.unwrap();
        for id in ["1", "2", "3"] {
            bus.publish(message("t.a", id)).await.unwrap();
        }
        let mut consumer = bus.consumer("c", ">").await.unwrap();
        let mut other = bus.consumer("other", ">").await.unwrap();
        let first = expect_next(&mut consumer).await;
        consumer.park(&first, "cannot apply").await.unwrap();
        assert_eq!(ids(&mut consumer, 1).await, ["2"]);
        let other_first = expect_next(&mut other).await;
        other.park(&other_first, "other reason").await.unwrap();

        let parked = bus.list().await.unwrap();
        assert_eq!(parked.len(), 2);
        let mine = parked.iter().find(|d| d.consumer == "c").unwrap();
        assert_eq!(mine.message, message("t.a", "1"));
        assert_eq!(mine.reason, "cannot apply");
        assert!(mine.parked_at > 0);

        // Parked messages outlive retention until they are settled.
        assert_eq!(bus.purge_before(i64::MAX).await.unwrap(), 0);

        assert_eq!(bus.redrive(Some("c")).await.unwrap(), 1);
        let left = bus.list().await.unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].consumer, "other");

        // The redriven message comes before the newer one, and then never again.
        let redriven = expect_next(&mut consumer).await;
        assert_eq!((redriven.message.id.as_str(), redriven.attempt), ("1", 1));
        consumer.ack(&redriven).await.unwrap();
        assert_eq!(ids(&mut consumer, 1).await, ["3"]);
        expect_nothing(&mut consumer).await;

        // Redriving all consumers, across a restart.
        drop(other);
        drop(bus);
        let bus = LocalBus::open(&path).await.unwrap();
        assert_eq!(bus.redrive(None).await.unwrap(), 1);
        assert!(bus.list().await.unwrap().is_empty());
        let mut other = bus.consumer("other", ">").await.unwrap();
        assert_eq!(ids(&mut other, 3).await, ["1", "2", "3"]);
        expect_nothing(&mut other).await;
    }

    #[tokio::test]
    async fn consumers_with_different_names_each_get_everything() {
        let dir = TempDir::new();
        let bus = LocalBus::open(&dir.file("bus.db")).await.unwrap();
        let mut first = bus.consumer("first", "t.>").await.unwrap();
        let mut second = bus.consumer("second", "t.>").await.unwrap();
        for id in ["1", "2", "3"] {
            bus.publish(message("t.a", id)).await.unwrap();
        }
        assert_eq!(ids(&mut first, 3).await, ["1", "2", "3"]);
        assert_eq!(ids(&mut second, 3).await, ["1", "2", "3"]);
        expect_nothing(&mut first).await;
        expect_nothing(&mut second).await;
    }

    #[tokio::test]
    async fn purge_drops_only_what_every_consumer_has_passed() {
        let dir = TempDir::new();
        let bus = LocalBus::open(&dir.file("bus.db")).await.unwrap();
        for (subject, id) in [("t.a", "1"), ("u.a", "2"), ("t.a", "3")] {
            bus.publish(message(subject, id)).await.unwrap();
        }
        let mut fast = bus.consumer("fast", "t.>").await.unwrap();
        let mut slow = bus.consumer("slow", ">").await.unwrap();
        assert_eq!(ids(&mut fast, 2).await, ["1", "3"]);
        expect_nothing(&mut fast).await;
        assert_eq!(ids(&mut slow, 1).await, ["1"]);
        // Nothing is old enough yet.
        assert_eq!(bus.purge(RETENTION).await.unwrap(), 0);
        // Past retention, only what both passed goes.
        assert_eq!(bus.purge_before(i64::MAX).await.unwrap(), 1);
        assert_eq!(ids(&mut slow, 2).await, ["2", "3"]);
        expect_nothing(&mut slow).await;
        assert_eq!(bus.purge_before(i64::MAX).await.unwrap(), 2);
        // A consumer made later gets what is still kept: nothing.
        let mut late = bus.consumer("late", ">").await.unwrap();
        expect_nothing(&mut late).await;
    }
}
