//! C1: instructions per read (`C1.read`, `GetUser`) and per command (`C1.command`,
//! `ChangeDisplayName`), counted by callgrind on the server: a figure the machine's noise
//! cannot move.
//!
//! The server is the real launcher, `saas serve identity` (the Identity data service with its
//! idempotency purge and outbox relay to the in-process bus), run under `valgrind
//! --tool=callgrind` with one tokio worker thread (`TOKIO_WORKER_THREADS=1`) on a copy of the
//! benchmark's Identity database (its fixture users, already migrated; the fixture's outbox
//! rows marked published, so the relay has no backlog to drain). The client is this
//! process, outside valgrind, making one call at a time over one connection, reads spread
//! uniformly over the users and commands spread over them in turn.
//!
//! After a warm-up, `callgrind_control --dump` ends an interval: `n1` calls, dump, `n2` calls,
//! dump; each dump holds the instructions (`Ir`, every thread of the server) since the one
//! before. Per call: `(I(n2) - I(n1)) / (n2 - n1)`, so whatever an interval costs besides its
//! calls (the dump itself, the wake-ups between calls) cancels out.

use std::{
    path::{Path, PathBuf},
    process::Stdio,
    sync::Arc,
    time::{Duration, Instant},
};

use saas_proto::identity::v1 as pb;
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::Command,
};

use crate::{
    BoxError, launcher,
    report::{Figure, Unit},
    services::{self, UserClient},
};

/// How long the benchmark waits for the server under valgrind to start or to dump.
const PATIENCE: Duration = Duration::from_secs(180);

/// How many calls each interval makes.
#[derive(Debug, Clone, Copy)]
pub struct Lengths {
    /// Calls of each kind before counting starts.
    pub warmup: u64,
    /// Reads of the short and the long interval.
    pub reads: (u64, u64),
    /// Commands of the short and the long interval.
    pub commands: (u64, u64),
}

impl Lengths {
    /// A full run's lengths.
    pub const FULL: Lengths = Lengths {
        warmup: 200,
        reads: (200, 1_000),
        commands: (100, 500),
    };
    /// `--quick`'s lengths.
    pub const QUICK: Lengths = Lengths {
        warmup: 50,
        reads: (50, 250),
        commands: (25, 125),
    };
}

/// The two skipped lines, when valgrind is not there.
pub fn skipped(why: &str) -> [Figure; 2] {
    [
        Figure::skipped("C1.read", Unit::Instructions, None, why),
        Figure::skipped("C1.command", Unit::Instructions, None, why),
    ]
}

/// Whether `valgrind` and `callgrind_control` can be run; the error says which is missing.
pub fn available() -> Result<(), String> {
    for tool in ["valgrind", "callgrind_control"] {
        let found = std::process::Command::new(tool)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if found.is_err() {
            return Err(format!("{tool} is not installed"));
        }
    }
    Ok(())
}

/// Measures C1 on a copy of the Identity database `database` (holding `users`); the dumps go
/// to `out` (kept for `callgrind_annotate`).
pub async fn c1(
    database: &Path,
    users: &[pb::User],
    out: &Path,
    lengths: Lengths,
) -> Result<[Figure; 2], BoxError> {
    std::fs::create_dir_all(out)?;
    let data_dir = out.join("data");
    std::fs::create_dir_all(&data_dir)?;
    let copy = data_dir.join("identity.db");
    crate::baseline::copy_database(database, &copy).await?;
    settle_outbox(&copy).await?;
    let saas = launcher::saas_binary()?;
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg(format!(
            "--callgrind-out-file={}",
            out.join("callgrind.out").display()
        ))
        .arg(&saas)
        .args(["serve", "identity"]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SAAS_") {
            command.env_remove(&name);
        }
    }
    command
        .env("SAAS_DATA_DIR", &data_dir)
        .env(
            "SAAS_IDENTITY_DATABASE_URL",
            format!("sqlite://{}", copy.display()),
        )
        .env("SAAS_GRPC_ADDR", "127.0.0.1:0")
        // One data service on its own: its events stay in its own process.
        .env("SAAS_BUS", "local")
        .env("SAAS_SERVICE_TOKEN", services::SERVICE_TOKEN)
        .env("SAAS_ARGON2", "m=8,t=1,p=1")
        .env("SAAS_LOG", "warn")
        .env("TOKIO_WORKER_THREADS", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id().ok_or("valgrind ended at once")?;
    if let Some(stderr) = child.stderr.take() {
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!("callgrind: {line}");
            }
        });
    }
    let stdout = child.stdout.take().ok_or("valgrind has no stdout")?;
    let addr = tokio::time::timeout(PATIENCE, grpc_address(stdout))
        .await
        .map_err(|_| format!("the server under callgrind did not listen within {PATIENCE:?}"))??;
    tracing::info!(
        "C1: saas serve identity under callgrind (pid {pid}) listens on {addr} after {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let measured = measure(addr, pid, out, users, lengths).await;
    let stopped = launcher::stop(&mut child, pid).await;
    let figures = measured?;
    if let Err(e) = stopped {
        tracing::warn!("C1: the server under callgrind did not stop cleanly: {e}");
    }
    Ok(figures)
}

async fn measure(
    addr: std::net::SocketAddr,
    pid: u32,
    out: &Path,
    users: &[pb::User],
    lengths: Lengths,
) -> Result<[Figure; 2], BoxError> {
    let client = services::user_client(addr).await?;
    let ids: Arc<Vec<String>> = Arc::new(users.iter().map(|u| u.id.clone()).collect());
    let mut calls = Calls {
        client,
        ids,
        commands: 0,
    };
    calls.reads(lengths.warmup).await?;
    calls.commands(lengths.warmup).await?;
    dump(pid, out).await?;
    let (n1, n2) = lengths.reads;
    calls.reads(n1).await?;
    let i1 = dump(pid, out).await?;
    calls.reads(n2).await?;
    let i2 = dump(pid, out).await?;
    let read = per_call(i1, i2, n1, n2)?;
    tracing::info!("C1.read: I({n1}) = {i1}, I({n2}) = {i2}: {read:.0} instructions per GetUser");
    let (n1, n2) = lengths.commands;
    calls.commands(n1).await?;
    let c1 = dump(pid, out).await?;
    calls.commands(n2).await?;
    let c2 = dump(pid, out).await?;
    let command = per_call(c1, c2, n1, n2)?;
    tracing::info!(
        "C1.command: I({n1}) = {c1}, I({n2}) = {c2}: {command:.0} instructions per \
         ChangeDisplayName"
    );
    let mut read = Figure::info("C1.read", read, Unit::Instructions, None);
    read.n = Some(lengths.reads.1);
    let mut command = Figure::info("C1.command", command, Unit::Instructions, None);
    command.n = Some(lengths.commands.1);
    Ok([read, command])
}

/// Marks the fixture's outbox rows published in the copy: the benchmark's in-process service
/// ran no relay, and the launcher's relay would otherwise publish that backlog during the
/// measured intervals, counting the fixture's events against C1's calls.
async fn settle_outbox(path: &Path) -> Result<(), BoxError> {
    let pool = crate::baseline::one_connection(path).await?;
    let settled = sqlx::query("UPDATE outbox SET published_at = ? WHERE published_at IS NULL")
        .bind(chrono::Utc::now().timestamp_micros())
        .execute(&pool)
        .await;
    pool.close().await;
    let settled = settled.map_err(|e| format!("cannot settle the fixture's outbox: {e}"))?;
    tracing::info!(
        "C1: {} outbox rows of the fixture marked published",
        settled.rows_affected()
    );
    Ok(())
}

/// `(I(n2) - I(n1)) / (n2 - n1)`.
pub fn per_call(i1: u64, i2: u64, n1: u64, n2: u64) -> Result<f64, BoxError> {
    if n2 <= n1 {
        return Err("the long interval must make more calls than the short one".into());
    }
    if i2 <= i1 {
        return Err(format!("the long interval counted {i2} instructions, the short {i1}").into());
    }
    Ok((i2 - i1) as f64 / (n2 - n1) as f64)
}

/// The client side: sequential calls, any failure ends the measurement.
struct Calls {
    client: UserClient,
    ids: Arc<Vec<String>>,
    commands: u64,
}

impl Calls {
    async fn reads(&mut self, n: u64) -> Result<(), BoxError> {
        for _ in 0..n {
            let id = self
                .ids
                .get(services::uniform(self.ids.len()))
                .cloned()
                .unwrap_or_default();
            self.client.get_user(pb::GetUserRequest { id }).await?;
        }
        Ok(())
    }

    async fn commands(&mut self, n: u64) -> Result<(), BoxError> {
        for _ in 0..n {
            let sequence = self.commands;
            self.commands += 1;
            let index = services::spread(0, sequence, 1, self.ids.len());
            let id = self.ids.get(index).cloned().unwrap_or_default();
            self.client
                .change_display_name(services::change_display_name(&id, 0, sequence))
                .await?;
        }
        Ok(())
    }
}

/// Asks callgrind in process `pid` to dump, and returns the instructions of the new dump
/// file in `out`.
async fn dump(pid: u32, out: &Path) -> Result<u64, BoxError> {
    let before = dumps(out)?;
    let status = tokio::time::timeout(
        PATIENCE,
        Command::new("callgrind_control")
            .args(["--dump", &pid.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .status(),
    )
    .await
    .map_err(|_| format!("callgrind_control --dump did not finish within {PATIENCE:?}"))??;
    if !status.success() {
        return Err(format!("callgrind_control --dump {pid} failed: {status}").into());
    }
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = dumps(out)?;
        if let Some(new) = now.iter().find(|path| !before.contains(path)) {
            // The file is complete once its totals line is there.
            if let Some(total) = instructions(&std::fs::read_to_string(new)?) {
                return Ok(total);
            }
        }
        if Instant::now() >= deadline {
            return Err("callgrind wrote no dump".into());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The dump files in `out` (`callgrind.out.<pid>.<n>` or `callgrind.out.<n>`).
fn dumps(out: &Path) -> Result<Vec<PathBuf>, BoxError> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(out)? {
        let path = entry?.path();
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        if name.starts_with("callgrind.out") {
            found.push(path);
        }
    }
    Ok(found)
}

/// The `Ir` total of a callgrind output file (its `totals:` or `summary:` line).
pub fn instructions(text: &str) -> Option<u64> {
    text.lines().rev().find_map(|line| {
        let rest = line
            .strip_prefix("totals:")
            .or_else(|| line.strip_prefix("summary:"))?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Reads the server's stdout until `grpc listening on ADDR`, then keeps draining it.
async fn grpc_address(
    stdout: tokio::process::ChildStdout,
) -> Result<std::net::SocketAddr, BoxError> {
    let mut lines = BufReader::new(stdout).lines();
    while let Some(line) = lines.next_line().await? {
        if let Some(addr) = line.strip_prefix("grpc listening on ") {
            let addr = addr.trim().parse()?;
            tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
            return Ok(addr);
        }
    }
    Err("the server closed its stdout without printing its gRPC address".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_are_read_from_a_dump() {
        let dump = "version: 1\ncreator: callgrind-3.24\npid: 7\ncmd: saas\npart: 2\n\n\
                    events: Ir\nfn=(1) main\n0 5\n\ntotals: 123456789\n";
        assert_eq!(instructions(dump), Some(123_456_789));
        assert_eq!(instructions("summary: 42\n"), Some(42));
        assert_eq!(instructions("events: Ir\n"), None);
    }

    #[test]
    fn per_call_is_the_difference_of_two_lengths() {
        assert_eq!(per_call(1_000_000, 3_000_000, 100, 500).ok(), Some(5_000.0));
        assert!(per_call(1, 2, 5, 5).is_err());
        assert!(per_call(3, 2, 1, 5).is_err());
    }
}
