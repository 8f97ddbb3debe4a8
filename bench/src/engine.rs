//! R0 and R0.reference: the SQLite engine's best single-row write, frozen so it cannot drift.
//!
//! **R0** is rusqlite on one connection with the service's pragmas (`journal_mode=WAL`,
//! `synchronous=NORMAL`, a busy timeout, foreign keys), a table `(id INTEGER PRIMARY KEY, body
//! BLOB)`, and back to back, sequentially: `BEGIN IMMEDIATE`, a prepared `INSERT` of a
//! 100-byte blob, `COMMIT` (all three statements prepared once). rusqlite links the very
//! SQLite the services use (the same `libsqlite3-sys`, bundled).
//!
//! **R0.reference** times the same loop in Python's `sqlite3` module (whose statement cache
//! prepares each statement once), as a subprocess of the same run: R0 must not be slower than
//! an interpreter driving the same engine, or R0 itself is handicapped.
//!
//! Both count the transactions that commit inside the window, after a warm-up.

use std::{
    path::Path,
    time::{Duration, Instant},
};

use crate::{BoxError, drive::Plan};

/// The blob each transaction inserts.
const BODY: [u8; 100] = [0x5a; 100];

/// What a baseline loop measured.
#[derive(Debug, Clone, Copy)]
pub struct Rate {
    /// Transactions committed inside the window.
    pub transactions: u64,
    /// The window actually measured.
    pub window: Duration,
}

impl Rate {
    /// Transactions per second.
    pub fn per_second(&self) -> f64 {
        self.transactions as f64 / self.window.as_secs_f64().max(f64::EPSILON)
    }
}

/// R0 on a fresh database file at `path`.
pub async fn r0(path: &Path, plan: Plan) -> Result<Rate, BoxError> {
    let path = path.to_owned();
    let rate = tokio::task::spawn_blocking(move || r0_blocking(&path, plan)).await??;
    tracing::info!(
        "R0 rusqlite: {:.0} transactions/s ({} in {:.1} s)",
        rate.per_second(),
        rate.transactions,
        rate.window.as_secs_f64()
    );
    Ok(rate)
}

fn r0_blocking(path: &Path, plan: Plan) -> Result<Rate, BoxError> {
    let conn = rusqlite::Connection::open(path)?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute("CREATE TABLE r0 (id INTEGER PRIMARY KEY, body BLOB)", ())?;
    let mut begin = conn.prepare("BEGIN IMMEDIATE")?;
    let mut insert = conn.prepare("INSERT INTO r0 (body) VALUES (?1)")?;
    let mut commit = conn.prepare("COMMIT")?;
    let start = Instant::now();
    let window_start = start + plan.warmup;
    let end = window_start + plan.window;
    let mut transactions = 0u64;
    loop {
        begin.execute(())?;
        insert.execute([&BODY[..]])?;
        commit.execute(())?;
        let now = Instant::now();
        if now >= end {
            break;
        }
        if now >= window_start {
            transactions += 1;
        }
    }
    Ok(Rate {
        transactions,
        window: plan.window,
    })
}

/// The Python loop of R0.reference: the same pragmas, table, statements and blob.
const REFERENCE: &str = r#"
import json, sqlite3, sys, time
path, warmup, window = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
con = sqlite3.connect(path, isolation_level=None, cached_statements=16)
con.execute("PRAGMA journal_mode=WAL")
con.execute("PRAGMA synchronous=NORMAL")
con.execute("PRAGMA foreign_keys=ON")
con.execute("PRAGMA busy_timeout=5000")
con.execute("CREATE TABLE r0 (id INTEGER PRIMARY KEY, body BLOB)")
body = bytes([0x5a]) * 100
execute = con.execute
clock = time.perf_counter
start = clock()
window_start = start + warmup
end = window_start + window
transactions = 0
while True:
    execute("BEGIN IMMEDIATE")
    execute("INSERT INTO r0 (body) VALUES (?)", (body,))
    execute("COMMIT")
    now = clock()
    if now >= end:
        break
    if now >= window_start:
        transactions += 1
print(json.dumps({"transactions": transactions, "sqlite": sqlite3.sqlite_version}))
"#;

/// R0.reference on a fresh database file at `path`: `python3` running [`REFERENCE`]. The
/// error says why it could not run (the figure is then skipped).
pub async fn reference(path: &Path, plan: Plan) -> Result<Rate, String> {
    let output = tokio::time::timeout(
        plan.warmup + plan.window + Duration::from_secs(60),
        tokio::process::Command::new("python3")
            .arg("-c")
            .arg(REFERENCE)
            .arg(path)
            .arg(plan.warmup.as_secs_f64().to_string())
            .arg(plan.window.as_secs_f64().to_string())
            .kill_on_drop(true)
            .output(),
    )
    .await
    .map_err(|_| "python3 did not finish in time".to_owned())?
    .map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => "python3 is not installed".to_owned(),
        _ => format!("python3 could not run: {e}"),
    })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(format!(
            "python3 failed ({}): {}",
            output.status,
            stderr.lines().last().unwrap_or("")
        ));
    }
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout)
        .map_err(|e| format!("python3 printed no result: {e}"))?;
    let transactions = answer["transactions"]
        .as_u64()
        .ok_or("python3 printed no transaction count")?;
    tracing::info!(
        "R0.reference python3 sqlite3 (SQLite {}): {:.0} transactions/s",
        answer["sqlite"].as_str().unwrap_or("?"),
        transactions as f64 / plan.window.as_secs_f64()
    );
    Ok(Rate {
        transactions,
        window: plan.window,
    })
}
