//! W0.user: the raw database write a `ChangeDisplayName` command does, through sqlx alone.
//!
//! The same statements the command pipeline (`platform::store::Store::update`) runs, in one
//! transaction, with the same values it writes:
//!
//! ```sql
//! BEGIN IMMEDIATE;
//! SELECT method, fingerprint, response FROM idempotency WHERE request_id = ?;  -- none
//! SELECT version, doc FROM users WHERE id = ?;
//! UPDATE users SET version = ?, doc = ?, updated_at = ?, email = ? WHERE id = ? AND version = ?;
//! INSERT INTO outbox (event_id, aggregate_type, aggregate_id, aggregate_version, event_type,
//!   envelope, occurred_at) VALUES (?, ?, ?, ?, ?, ?, ?);
//! INSERT INTO idempotency (request_id, method, fingerprint, response, created_at)
//!   VALUES (?, ?, ?, ?, ?);
//! COMMIT;
//! ```
//!
//! The database is a copy (`VACUUM INTO`) of the service's own database taken right before
//! the run, so the tables, indexes and row counts are the service's, opened with
//! `platform::db::sqlite_options` (WAL, `synchronous=NORMAL`, busy timeout, foreign keys).
//!
//! **At its best:** one connection, one transaction at a time, every statement prepared once
//! (sqlx keeps them cached on the connection). Writers are one at a time in SQLite anyway;
//! this leaves out every wait for the lock. The commands are spread over the users as P2's
//! are. What W0 leaves out is everything that is not the database write: gRPC, request
//! parsing, the domain decision, sea-orm, the queue for the single writer. It is information,
//! not the baseline of a target (P2's is R0, see [`crate::engine`]).

use std::{path::Path, sync::Arc};

use platform::db::sqlite_options;
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

/// The baseline's database, ready to run.
pub struct W0 {
    pool: SqlitePool,
    targets: Arc<Vec<Target>>,
}

impl W0 {
    /// A copy of the service's database at `service_db` in `dir`, writing to `users`.
    pub async fn prepare(
        dir: &Path,
        service_db: &Path,
        users: &[pb::User],
    ) -> Result<W0, BoxError> {
        let path = dir.join("w0-user.db");
        copy_database(service_db, &path).await?;
        let pool = one_connection(&path).await?;
        let targets = users
            .iter()
            .map(|user| Target {
                id: user.id.clone(),
                response: platform::store::responses::pack(prost::Message::encode_to_vec(user)),
            })
            .collect();
        Ok(W0 {
            pool,
            targets: Arc::new(targets),
        })
    }

    /// Runs the write sequentially (`plan.concurrency` is ignored), call `k` writing user
    /// `k % users`.
    pub async fn run(&self, plan: Plan) -> Result<Sample, BoxError> {
        let pool = self.pool.clone();
        let targets = self.targets.clone();
        let plan = Plan {
            concurrency: 1,
            ..plan
        };
        drive("W0.user raw sqlx write", plan, move |worker, sequence| {
            let pool = pool.clone();
            let targets = targets.clone();
            async move {
                let index = (sequence % targets.len().max(1) as u64) as usize;
                let target = targets.get(index).ok_or("no users")?;
                write(&pool, target, worker, sequence)
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
    target: &Target,
    worker: usize,
    sequence: u64,
) -> Result<(), BoxError> {
    let request = services::change_display_name(&target.id, worker, sequence);
    let fingerprint = platform::rpc::fingerprint(METHOD, &request);
    let now = chrono::Utc::now();
    let micros = now.timestamp_micros();
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let seen =
        sqlx::query("SELECT method, fingerprint, response FROM idempotency WHERE request_id = ?")
            .bind(&request.request_id)
            .fetch_optional(&mut *tx)
            .await?;
    if seen.is_some() {
        return Err("the request id was already used".into());
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
    sqlx::query(
        "INSERT INTO idempotency (request_id, method, fingerprint, response, created_at) \
         VALUES (?, ?, ?, ?, ?)",
    )
    .bind(&request.request_id)
    .bind(METHOD)
    .bind(&fingerprint)
    .bind(target.response.as_slice())
    .bind(micros)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(())
}

/// Copies the SQLite database at `source` (live: a read transaction) to a new file `target`.
pub async fn copy_database(source: &Path, target: &Path) -> Result<(), BoxError> {
    let pool = SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(sqlite_options(source))
        .await?;
    let copied = sqlx::query("VACUUM INTO ?")
        .bind(target.display().to_string())
        .execute(&pool)
        .await;
    pool.close().await;
    copied?;
    Ok(())
}

/// One connection to the database at `path`, with the service's options.
pub async fn one_connection(path: &Path) -> Result<SqlitePool, BoxError> {
    Ok(SqlitePoolOptions::new()
        .max_connections(1)
        .min_connections(1)
        .connect_with(sqlite_options(path))
        .await?)
}
