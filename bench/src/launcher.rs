//! P5: the real `saas serve` (every component in one process) started on a fresh data
//! directory.
//!
//! - **P5.ready**: seconds from spawning the process to the first 200 of `GET /readyz`,
//!   polled every 10 ms once the process has printed `http listening on ADDR`.
//! - **P5.rss**: its resident memory (`VmRSS` of `/proc/<pid>/status`) after it has idled
//!   for a second past ready.
//!
//! The binary is the `saas` built next to this one (`cargo build --release --bins`). It gets
//! free ports (`127.0.0.1:0`), rate limits off and otherwise its defaults (production
//! password hashing included: idle memory is what is measured). It is stopped with SIGTERM.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant},
};

use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, ChildStdout, Command},
};

use crate::BoxError;

/// How often `/readyz` is asked.
const POLL: Duration = Duration::from_millis(10);
/// How long the process may idle before its memory is read.
const IDLE: Duration = Duration::from_secs(1);
/// How long the benchmark waits for the process to start, get ready or stop.
const PATIENCE: Duration = Duration::from_secs(30);

/// What P5 measured.
#[derive(Debug)]
pub struct Startup {
    /// From spawning to the first 200 of `/readyz`.
    pub ready: Duration,
    /// Resident memory after idling, in MiB.
    pub rss_mib: f64,
}

/// The `saas` binary next to the running benchmark.
pub fn saas_binary() -> Result<PathBuf, BoxError> {
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .ok_or("the benchmark's own path has no folder")?;
    let binary = dir.join("saas");
    if !binary.is_file() {
        return Err(format!(
            "{} is missing: build it with the benchmark (cargo build --release --bins)",
            binary.display()
        )
        .into());
    }
    Ok(binary)
}

/// `saas serve` on the data directory `data_dir` (created if missing): free ports
/// (`127.0.0.1:0`), rate limits off, `SAAS_*` settings of this process removed, stdout piped
/// (it prints the bound addresses), killed if dropped.
pub fn serve_command(data_dir: &Path) -> Result<Command, BoxError> {
    let binary = saas_binary()?;
    std::fs::create_dir_all(data_dir)?;
    let mut command = Command::new(&binary);
    command.arg("serve");
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SAAS_") {
            command.env_remove(&name);
        }
    }
    command
        .env("SAAS_DATA_DIR", data_dir)
        .env("SAAS_GRPC_ADDR", "127.0.0.1:0")
        .env("SAAS_HTTP_ADDR", "127.0.0.1:0")
        .env("SAAS_RATE_LIMITS", "off")
        .env("SAAS_LOG", "warn")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    Ok(command)
}

/// Starts `saas serve` on the fresh data directory `data_dir`, measures it, stops it.
pub async fn p5(data_dir: &Path) -> Result<Startup, BoxError> {
    let mut command = serve_command(data_dir)?;
    let spawned = Instant::now();
    let mut child = command.spawn()?;
    let pid = child.id().ok_or("the saas process ended at once")?;
    let measured = measure(&mut child, pid, spawned).await;
    let stopped = stop(&mut child, pid).await;
    let startup = measured?;
    stopped?;
    Ok(startup)
}

async fn measure(child: &mut Child, pid: u32, spawned: Instant) -> Result<Startup, BoxError> {
    let stdout = child
        .stdout
        .take()
        .ok_or("the saas process has no stdout")?;
    let (_, addr) = tokio::time::timeout(PATIENCE, addresses(stdout))
        .await
        .map_err(|_| format!("saas printed no HTTP address within {PATIENCE:?}"))??;
    let client = reqwest::Client::builder().timeout(PATIENCE).build()?;
    let url = format!("http://{addr}/readyz");
    let ready = loop {
        let answer = client.get(&url).send().await;
        if let Ok(answer) = &answer
            && answer.status() == reqwest::StatusCode::OK
        {
            break spawned.elapsed();
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("saas exited before it was ready: {status}").into());
        }
        if spawned.elapsed() > PATIENCE {
            return Err(format!("saas is not ready after {PATIENCE:?}: {answer:?}").into());
        }
        tokio::time::sleep(POLL).await;
    };
    tracing::info!(
        "P5: saas (pid {pid}) answered /readyz 200 {:.3} s after it was spawned",
        ready.as_secs_f64()
    );
    tokio::time::sleep(IDLE).await;
    let rss_kib = vm_rss_kib(&std::fs::read_to_string(format!("/proc/{pid}/status"))?)
        .ok_or("no VmRSS line in /proc/<pid>/status")?;
    Ok(Startup {
        ready,
        rss_mib: rss_kib as f64 / 1024.0,
    })
}

/// Reads stdout until `http listening on ADDR`, then keeps draining it (logged) so the
/// process never blocks on a full pipe. Returns the gRPC address if `grpc listening on ADDR`
/// came first (it does when the process hosts data services), and the HTTP address.
pub async fn addresses(stdout: ChildStdout) -> Result<(Option<SocketAddr>, SocketAddr), BoxError> {
    let mut lines = BufReader::new(stdout).lines();
    let mut grpc = None;
    while let Some(line) = lines.next_line().await? {
        tracing::debug!("saas: {line}");
        if let Some(addr) = line.strip_prefix("grpc listening on ") {
            grpc = Some(addr.trim().parse()?);
        }
        if let Some(addr) = line.strip_prefix("http listening on ") {
            let addr: SocketAddr = addr.trim().parse()?;
            tokio::spawn(async move {
                while let Ok(Some(line)) = lines.next_line().await {
                    tracing::debug!("saas: {line}");
                }
            });
            return Ok((grpc, addr));
        }
    }
    Err("saas closed its stdout without printing its HTTP address".into())
}

/// Sends SIGTERM to the process (it is ours: spawned above) and waits for it to exit.
pub async fn stop(child: &mut Child, pid: u32) -> Result<(), BoxError> {
    if child.try_wait()?.is_some() {
        return Err("saas exited on its own".into());
    }
    let signalled = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .await?;
    if !signalled.success() {
        child.kill().await?;
        return Err(format!("kill -TERM {pid} failed: {signalled}").into());
    }
    match tokio::time::timeout(PATIENCE, child.wait()).await {
        Ok(status) => {
            let status = status?;
            tracing::info!("saas (pid {pid}) stopped on SIGTERM: {status}");
            if status.success() {
                Ok(())
            } else {
                Err(format!("saas exited with {status} on SIGTERM").into())
            }
        }
        Err(_) => {
            child.kill().await?;
            Err(format!("saas did not stop within {PATIENCE:?} of SIGTERM").into())
        }
    }
}

/// The `VmRSS` of a `/proc/<pid>/status` text, in KiB.
pub fn vm_rss_kib(status: &str) -> Option<u64> {
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().strip_suffix("kB"))
        .and_then(|number| number.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rss_is_read_from_the_status_file() {
        let status = "Name:\tsaas\nVmPeak:\t  90000 kB\nVmRSS:\t   23456 kB\nThreads:\t5\n";
        assert_eq!(vm_rss_kib(status), Some(23_456));
        assert_eq!(vm_rss_kib("Name:\tsaas\n"), None);
        assert_eq!(vm_rss_kib("VmRSS:\tlots kB\n"), None);
    }
}
