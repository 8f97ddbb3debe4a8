//! W0: the raw database write a `ChangeDisplayName` command does, through sqlx alone.
//!
//! The same statements the command pipeline (`platform::store::Store::update`) runs, in one
//! transaction, with the same values it writes:
//!
//! ```sql
//! BEGIN IMMEDIATE;
//! INSERT INTO idempotency (request_id, method, fingerprint, response, created_at)
//!   VALUES (?, ?, ?, NULL, ?) ON CONFLICT (request_id) DO NOTHING;
//! SELECT version, doc FROM users WHERE id = ?;
//! UPDATE users SET version = ?, doc = ?, updated_at = ?, email = ? WHERE id = ? AND version = ?;
//! INSERT INTO outbox (event_id, aggregate_type, aggregate_id, aggregate_version, event_type,
//!   envelope, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?);
//! UPDATE idempotency SET response = ? WHERE request_id = ?;
//! COMMIT;
//! ```
//!
//! The database is a fresh file migrated by `identity_data::open` (so the tables and indexes
//! are the service's), opened with `platform::db::sqlite_options` (WAL, `synchronous=NORMAL`,
//! busy timeout, foreign keys), holding copies of the very user rows the service run uses.
//!
//! **Concurrency discipline:** as many calls in flight as the command benchmark, over a pool of
//! `PoolSize::default()` connections (what the launcher gives the service), one writer at a
//! time as SQLite allows. Two ways of getting one writer at a time are measured and W0 is the
//! faster, so the baseline is never the handicapped one:
//!
//! - [`Discipline::SqliteLock`]: every transaction goes straight to `BEGIN IMMEDIATE` and
//!   SQLite's lock (with the busy timeout of `sqlite_options`) picks the next writer;
//! - [`Discipline::WriteGate`]: writers first queue on a FIFO `tokio::sync::Mutex` in this
//!   process, exactly like the store's write gate, then `BEGIN IMMEDIATE`.
//!
//! (Measured here, the first is about twice as fast: the next writer's `BEGIN` is already
//! waiting inside SQLite when the lock frees, instead of behind a chain of task wake-ups.)
//! What the baseline leaves out is everything that is not the database write: gRPC, request
//! parsing, the domain decision, sea-orm.

use std::{path::Path, sync::Arc};

use platform::db::{PoolSize, sqlite_options};
use saas_proto::identity::v1 as pb;
use sqlx::{
    SqlitePool,
    sqlite::{SqlitePoolOptions, SqliteRow},
};

use crate::{
    BoxError,
    drive::{Plan, Sample, drive},
    services,
};

const METHOD: &str = "ChangeDisplayName";

/// A user the baseline writes to, and the response bytes its idempotency record stores.
struct Target {
    id: String,
    response: Vec<u8>,
}

/// How writers are kept to one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Discipline {
    /// By SQLite's own lock: `BEGIN IMMEDIATE` waits (busy timeout) for the writer before it.
    SqliteLock,
    /// By an in-process FIFO mutex taken before `BEGIN IMMEDIATE`, like the store's write gate.
    WriteGate,
}

/// The baseline's database, ready to run.
pub struct W0 {
    pool: SqlitePool,
    targets: Arc<Vec<Target>>,
}

impl W0 {
    /// A fresh migrated database in `dir` holding copies of `users`' rows from the service's
    /// database at `service_db`.
    pub async fn prepare(
        dir: &Path,
        service_db: &Path,
        users: &[pb::User],
    ) -> Result<W0, BoxError> {
        let path = dir.join("w0.db");
        let store = identity_data::open(
            &format!("sqlite://{}", path.display()),
            PoolSize { max: 1 },
            Arc::new(platform::SystemClock),
        )
        .await?;
        store.db().clone().close().await?;
        drop(store);

        let pool = SqlitePoolOptions::new()
            .max_connections(PoolSize::default().max)
            .min_connections(1)
            .connect_with(sqlite_options(&path))
            .await?;
        let source = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(sqlite_options(service_db))
            .await?;
        let rows: Vec<(String, i64, String, i64, Option<String>)> =
            sqlx::query_as("SELECT id, version, doc, updated_at, email FROM users")
                .fetch_all(&source)
                .await?;
        source.close().await;
        for (id, version, doc, updated_at, email) in rows {
            sqlx::query(
                "INSERT INTO users (id, version, doc, updated_at, email) VALUES (?, ?, ?, ?, ?)",
            )
            .bind(id)
            .bind(version)
            .bind(doc)
            .bind(updated_at)
            .bind(email)
            .execute(&pool)
            .await?;
        }
        let targets = users
            .iter()
            .map(|user| Target {
                id: user.id.clone(),
                response: prost::Message::encode_to_vec(user),
            })
            .collect();
        Ok(W0 {
            pool,
            targets: Arc::new(targets),
        })
    }

    /// Runs the write at `plan.concurrency` in flight, worker `i` writing user `i % users`.
    pub async fn run(&self, plan: Plan, discipline: Discipline) -> Result<Sample, BoxError> {
        let pool = self.pool.clone();
        let targets = self.targets.clone();
        let gate =
            (discipline == Discipline::WriteGate).then(|| Arc::new(tokio::sync::Mutex::new(())));
        let label = format!("W0 raw sqlx write ({discipline:?})");
        drive(&label, plan, move |worker, sequence| {
            let pool = pool.clone();
            let targets = targets.clone();
            let gate = gate.clone();
            async move {
                let target = targets
                    .get(worker % targets.len().max(1))
                    .ok_or("no users")?;
                write(&pool, gate.as_deref(), target, worker, sequence)
                    .await
                    .map_err(|e| e.to_string())
            }
        })
        .await
    }

    /// Rows in `table` (for the log: proof the baseline did the work).
    pub async fn count(&self, table: &'static str) -> Result<i64, BoxError> {
        let row: SqliteRow =
            sqlx::query(sqlx::AssertSqlSafe(format!("SELECT COUNT(*) FROM {table}")))
                .fetch_one(&self.pool)
                .await?;
        Ok(sqlx::Row::try_get(&row, 0)?)
    }

    /// Closes the pool.
    pub async fn close(self) {
        self.pool.close().await;
    }
}

async fn write(
    pool: &SqlitePool,
    gate: Option<&tokio::sync::Mutex<()>>,
    target: &Target,
    worker: usize,
    sequence: u64,
) -> Result<(), BoxError> {
    let request = services::change_display_name(&target.id, worker, sequence);
    let fingerprint = platform::rpc::fingerprint(METHOD, &request);
    let _writer = match gate {
        Some(gate) => Some(gate.lock().await),
        None => None,
    };
    let now = chrono::Utc::now();
    let micros = now.timestamp_micros();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let claimed = sqlx::query(
        "INSERT INTO idempotency (request_id, method, fingerprint, response, created_at) \
         VALUES (?, ?, ?, NULL, ?) ON CONFLICT (request_id) DO NOTHING",
    )
    .bind(&request.request_id)
    .bind(METHOD)
    .bind(&fingerprint)
    .bind(micros)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if claimed != 1 {
        return Err("the request id was already claimed".into());
    }
    let (version, doc): (i64, String) =
        sqlx::query_as("SELECT version, doc FROM users WHERE id = ?")
            .bind(&target.id)
            .fetch_one(&mut *tx)
            .await?;
    let mut document: serde_json::Value = serde_json::from_str(&doc)?;
    let stamp = serde_json::to_value(now)?;
    let fields = document
        .as_object_mut()
        .ok_or("the stored document is not an object")?;
    fields.insert("display_name".into(), request.display_name.clone().into());
    fields.insert("updated_at".into(), stamp.clone());
    let email = fields
        .get("email")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    let doc = serde_json::to_string(&document)?;
    let updated = sqlx::query(
        "UPDATE users SET version = ?, doc = ?, updated_at = ?, email = ? \
         WHERE id = ? AND version = ?",
    )
    .bind(version + 1)
    .bind(doc)
    .bind(micros)
    .bind(email)
    .bind(&target.id)
    .bind(version)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated != 1 {
        return Err("the version check failed".into());
    }
    let event_id = uuid::Uuid::now_v7().to_string();
    let changed = pb::UserDisplayNameChanged {
        user_id: target.id.clone(),
        display_name: request.display_name.clone(),
    };
    let envelope = saas_proto::events::v1::EventEnvelope {
        event_id: event_id.clone(),
        event_type: "identity.user.display_name_changed".to_owned(),
        aggregate_type: "identity.user".to_owned(),
        aggregate_id: target.id.clone(),
        aggregate_version: version + 1,
        occur_time: Some(platform::rpc::timestamp(now)),
        workspace_id: String::new(),
        payload: Some(platform::store::IntegrationEvent::new(None, &changed).payload),
    };
    sqlx::query(
        "INSERT INTO outbox (event_id, aggregate_type, aggregate_id, aggregate_version, \
         event_type, envelope, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(event_id)
    .bind("identity.user")
    .bind(&target.id)
    .bind(version + 1)
    .bind("identity.user.display_name_changed")
    .bind(prost::Message::encode_to_vec(&envelope))
    .bind(micros)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE idempotency SET response = ? WHERE request_id = ?")
        .bind(target.response.as_slice())
        .bind(&request.request_id)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}
