//! P3: durable command RPCs on PostgreSQL against `pgbench` on the same server, same run.
//!
//! The service side: the Identity data service on a fresh database with the launcher's pool,
//! `ChangeDisplayName` at 32 in flight, spread over [`USERS`] users so that no two commands in
//! flight write one user. The baseline, frozen: `pgbench -n -M prepared -c 32 -j 2 -T 30`
//! (`-T` shorter with `--quick`) running the one-statement script
//! `INSERT INTO bench_t (v) VALUES (1);` against the same server, whose
//! `synchronous_commit` both sides share (the run logs it).

use std::{path::Path, time::Duration};

use platform::db::PoolSize;
use sqlx::{Connection, PgConnection};

use crate::{
    BoxError,
    drive::{Plan, drive},
    report::{Figure, Target, Unit},
    services,
};

/// Clients on both sides of P3.
pub const CLIENTS: usize = 32;
/// Users the commands are spread over.
pub const USERS: usize = 1_000;
/// Why P3 is skipped without pgbench.
const PGBENCH_MISSING: &str = "pgbench is not installed";
/// pgbench's `-T` of a full run.
pub const PGBENCH_SECONDS: u64 = 30;

/// Measures P3.user on a fresh database `saas_bench_<uuid>` made through `admin_url`, dropped
/// again afterwards whatever happened; pgbench runs for `pgbench_seconds`.
pub async fn p3(
    admin_url: &str,
    plan: Plan,
    dir: &Path,
    users: usize,
    pgbench_seconds: u64,
) -> Result<Figure, BoxError> {
    let name = format!("saas_bench_{}", uuid::Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(admin_url).await?;
    let commit: (String,) = sqlx::query_as("SHOW synchronous_commit")
        .fetch_one(&mut admin)
        .await?;
    let fsync: (String,) = sqlx::query_as("SHOW fsync").fetch_one(&mut admin).await?;
    tracing::info!(
        "PostgreSQL: synchronous_commit = {}, fsync = {} (both sides run with these)",
        commit.0,
        fsync.0
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut admin)
        .await?;
    let url = replace_database(admin_url, &name);
    let result = measure(&url, plan, dir, users, pgbench_seconds).await;
    let dropped = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await;
    if let Err(e) = dropped {
        tracing::warn!("could not drop {name}: {e}");
    }
    admin.close().await.ok();
    result
}

async fn measure(
    url: &str,
    plan: Plan,
    dir: &Path,
    users: usize,
    pgbench_seconds: u64,
) -> Result<Figure, BoxError> {
    // The service side: the Identity data service on this database with the pool it gets
    // from the launcher (`SAAS_BENCH_P3_POOL` overrides it, to size it by measurement).
    let pool = std::env::var("SAAS_BENCH_P3_POOL")
        .ok()
        .and_then(|v| v.parse().ok())
        .map_or_else(PoolSize::default, |max| PoolSize { max });
    tracing::info!(
        "P3: the service's pool holds up to {} connections",
        pool.max
    );
    let (server, db) = services::start_identity(url, pool).await?;
    let client = services::user_client(server.addr).await?;
    let users = services::register_users(&client, users).await?;
    let ids: std::sync::Arc<Vec<String>> =
        std::sync::Arc::new(users.into_iter().map(|u| u.id).collect());
    let commands = drive(
        "P3 ChangeDisplayName on PostgreSQL",
        plan,
        move |worker, sequence| {
            let mut client = client.clone();
            let index = services::spread(worker, sequence, CLIENTS, ids.len());
            let id = ids.get(index).cloned().unwrap_or_default();
            async move {
                client
                    .change_display_name(services::change_display_name(&id, worker, sequence))
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }
        },
    )
    .await;
    server.stop().await?;
    db.close().await?;
    let commands = commands?;

    // The baseline: pgbench, single-row INSERT transactions, same server, same clients.
    let mut conn = PgConnection::connect(url).await?;
    sqlx::query("CREATE TABLE bench_t (v INTEGER NOT NULL)")
        .execute(&mut conn)
        .await?;
    conn.close().await?;
    let script = dir.join("pgbench-insert.sql");
    std::fs::write(&script, "INSERT INTO bench_t(v) VALUES (1);\n")?;
    let seconds = pgbench_seconds.max(1);
    let mut figure = Figure::ratio(
        "P3.user",
        commands.throughput(),
        Unit::PerSecond,
        0.0,
        Target::AtLeast(0.3),
    );
    figure.n = Some(commands.calls());
    figure.errors = commands.errors;
    match pgbench(url, &script, seconds).await {
        Ok(tps) => {
            tracing::info!(
                "pgbench: {tps:.0} single-row INSERT transactions/s at {CLIENTS} clients"
            );
            figure.baseline = Some(tps);
        }
        Err(note) => {
            tracing::warn!("pgbench: {note}");
            figure.baseline = None;
            if note == PGBENCH_MISSING {
                figure.skipped = Some(note);
            } else {
                figure.note = Some(note);
            }
        }
    }
    Ok(figure)
}

/// Runs pgbench with the custom script and returns its tps; the error is the figure's note.
async fn pgbench(url: &str, script: &Path, seconds: u64) -> Result<f64, String> {
    let output = tokio::time::timeout(
        Duration::from_secs(seconds + 60),
        tokio::process::Command::new("pgbench")
            .args(["-n", "-M", "prepared"])
            .args(["-c", &CLIENTS.to_string(), "-j", "2"])
            .args(["-T", &seconds.to_string()])
            .arg("-f")
            .arg(script)
            .arg(url)
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "pgbench did not finish in time".to_owned())?
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => PGBENCH_MISSING.to_owned(),
        _ => format!("pgbench could not run: {e}"),
    })?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "pgbench failed ({}): {}",
            output.status,
            stderr.lines().last().unwrap_or("")
        ));
    }
    parse_tps(&stdout).ok_or_else(|| "pgbench printed no tps line".to_owned())
}

/// The number on pgbench's first `tps = ` line.
pub fn parse_tps(output: &str) -> Option<f64> {
    output.lines().find_map(|line| {
        line.trim()
            .strip_prefix("tps = ")?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// `url` with its database name replaced by `name` (query string kept).
pub fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let host = match base[scheme_end..].find('/') {
        Some(i) => &base[..scheme_end + i],
        None => base,
    };
    match query {
        Some(query) => format!("{host}/{name}?{query}"),
        None => format!("{host}/{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tps_is_read_from_pgbench_output() {
        let output = "transaction type: script.sql\nnumber of clients: 32\n\
                      latency average = 7.1 ms\n\
                      initial connection time = 20.123 ms\n\
                      tps = 4512.345678 (without initial connection time)\n";
        assert_eq!(parse_tps(output), Some(4512.345678));
        assert_eq!(parse_tps("nothing here"), None);
    }

    #[test]
    fn database_name_is_replaced() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u:p@h/test?sslmode=disable", "x"),
            "postgres://u:p@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "x"), "postgres://h/x");
    }
}
