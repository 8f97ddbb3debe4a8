//! P6: server-sent event streams held by the real `saas serve`, which runs in a process of
//! its own (started as [`launcher`] starts it, on a fresh data directory, rate limits off);
//! this process holds the client ends.
//!
//! - **P6.streams**: `GET /v1/me/feed/stream` opened for `streams` distinct users (as many as
//!   10 workspaces of 1,000 members have; the edge only checks each access token, minted
//!   here with the key the server generated into `<data dir>/jwt-key`), 200 connections
//!   being opened at a time (until the headers come), each a raw HTTP/1.1 connection. The
//!   figure is how many answered 200 and were still open a second after all had been
//!   opened; a note counts the streams that did not open or ended early.
//! - **P6.rss_per_stream**: the server's resident memory (`VmRSS`) with the streams open,
//!   less its memory after idling a second past ready, divided by the streams held, in KiB.
//! - **P6.delivery_p99**: one entry appended through the Notifications gRPC service to each
//!   of 200 stream users spread evenly over the streams still open, at 50 appends per
//!   second; the time from the start of the append call to the arrival of the entry's
//!   `data:` line on that user's stream, p99. Every entry must arrive, or the figure fails
//!   with a note.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use access_app::JwtKeys;
use platform::server::ServiceCredential;
use saas_proto::notifications::v1::{
    AppendFeedEntryRequest, feed_service_client::FeedServiceClient,
};
use tokio::{
    io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader},
    net::TcpStream,
    process::Child,
    sync::{Semaphore, mpsc},
    task::JoinSet,
};

use crate::{
    BoxError, launcher,
    report::{Figure, Target, Unit, percentile},
};

/// Connections being opened at once.
const OPENING: usize = 200;
/// Users that get an entry appended.
const DELIVERIES: usize = 200;
/// Appends per second.
const APPEND_RATE: u64 = 50;
/// How long the server may idle after ready before its memory is read, and how long the
/// open streams settle before it is read again.
const IDLE: Duration = Duration::from_secs(1);
/// How long anything the server should do at once may take.
const PATIENCE: Duration = Duration::from_secs(30);
/// The read buffer of one client stream.
const READ_BUFFER: usize = 1024;

/// P6's three figures (the `n` of each is the number of streams asked for).
pub async fn p6(data_dir: &Path, streams: usize) -> Result<[Figure; 3], BoxError> {
    raise_fd_limit();
    let mut command = launcher::serve_command(data_dir)?;
    command.env("SAAS_ARGON2", "m=8,t=1,p=1");
    let mut child = command.spawn()?;
    let pid = child.id().ok_or("the saas process ended at once")?;
    let measured = measure(&mut child, pid, data_dir, streams).await;
    let stopped = launcher::stop(&mut child, pid).await;
    let figures = measured?;
    stopped?;
    Ok(figures)
}

/// Raises this process's soft limit of open files to its hard limit (the server started
/// afterwards inherits it): both ends hold one descriptor per stream.
#[allow(unsafe_code)]
fn raise_fd_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit only read or write the struct passed to them.
    let raised = unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) != 0 {
            false
        } else if limit.rlim_cur >= limit.rlim_max {
            true
        } else {
            limit.rlim_cur = limit.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
        }
    };
    if raised {
        tracing::info!("P6: at most {} open files", limit.rlim_cur);
    } else {
        tracing::warn!(
            "P6: cannot raise the open-file limit: {}",
            std::io::Error::last_os_error()
        );
    }
}

fn vm_rss_kib(pid: u32) -> Result<u64, BoxError> {
    launcher::vm_rss_kib(&std::fs::read_to_string(format!("/proc/{pid}/status"))?)
        .ok_or_else(|| "no VmRSS line in /proc/<pid>/status".into())
}

async fn measure(
    child: &mut Child,
    pid: u32,
    data_dir: &Path,
    streams: usize,
) -> Result<[Figure; 3], BoxError> {
    let stdout = child
        .stdout
        .take()
        .ok_or("the saas process has no stdout")?;
    let (grpc, http) = tokio::time::timeout(PATIENCE, launcher::addresses(stdout))
        .await
        .map_err(|_| format!("saas printed no HTTP address within {PATIENCE:?}"))??;
    let grpc = grpc.ok_or("saas printed no gRPC address")?;
    wait_ready(child, http).await?;
    tokio::time::sleep(IDLE).await;
    let rss0 = vm_rss_kib(pid)?;
    tracing::info!(
        "P6: saas (pid {pid}) is ready; {:.1} MiB resident",
        rss0 as f64 / 1024.0
    );

    let keys = JwtKeys::load(&data_dir.join("jwt-key"))?;
    let users: Vec<uuid::Uuid> = (0..streams).map(|_| uuid::Uuid::now_v7()).collect();
    let (deliveries, mut delivered) = mpsc::unbounded_channel::<(usize, Instant)>();
    let held = Arc::new(AtomicUsize::new(0));
    let open_now: Arc<Vec<AtomicBool>> =
        Arc::new((0..streams).map(|_| AtomicBool::new(false)).collect());
    let opening = Arc::new(Semaphore::new(OPENING));
    let began = Instant::now();
    let mut opened = JoinSet::new();
    let mut readers = JoinSet::new();
    for (index, user) in users.iter().enumerate() {
        let (token, _) = keys
            .issue_access(*user, uuid::Uuid::now_v7(), chrono::Utc::now())
            .map_err(|e| format!("cannot issue an access token: {e}"))?;
        let opening = opening.clone();
        let held = held.clone();
        let open_now = open_now.clone();
        let deliveries = deliveries.clone();
        let (ready, answered) = tokio::sync::oneshot::channel();
        readers.spawn(async move {
            let permit = opening.acquire_owned().await;
            let stream = tokio::time::timeout(PATIENCE, open(http, &token)).await;
            drop(permit);
            let mut stream = match stream {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => {
                    let _ = ready.send(Err(e.to_string()));
                    return;
                }
                Err(_) => {
                    let _ = ready.send(Err(format!("no answer within {PATIENCE:?}")));
                    return;
                }
            };
            held.fetch_add(1, Ordering::SeqCst);
            if let Some(flag) = open_now.get(index) {
                flag.store(true, Ordering::SeqCst);
            }
            let _ = ready.send(Ok(()));
            read_entries(&mut stream, index, &deliveries).await;
            if let Some(flag) = open_now.get(index) {
                flag.store(false, Ordering::SeqCst);
            }
            held.fetch_sub(1, Ordering::SeqCst);
        });
        opened.spawn(answered);
    }
    drop(deliveries);
    let mut failures = 0usize;
    let mut first_failure = None;
    while let Some(outcome) = opened.join_next().await {
        match outcome? {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failures += 1;
                first_failure.get_or_insert(e);
            }
            Err(_) => failures += 1,
        }
    }
    tracing::info!(
        "P6: {} of {streams} streams opened in {:.3} s",
        streams - failures,
        began.elapsed().as_secs_f64()
    );
    if let Some(e) = first_failure {
        tracing::warn!("P6: {failures} streams did not open, the first with: {e}");
    }
    tokio::time::sleep(IDLE).await;
    let rss1 = vm_rss_kib(pid)?;
    let holding = held.load(Ordering::SeqCst);
    tracing::info!(
        "P6: {holding} streams held; saas {:.1} MiB resident",
        rss1 as f64 / 1024.0
    );
    let per_stream = if holding == 0 {
        f64::INFINITY
    } else {
        rss1.saturating_sub(rss0) as f64 / holding as f64
    };

    // Delivery: one entry each to users spread evenly over the streams still open.
    let open: Vec<usize> = (0..streams)
        .filter(|&i| {
            open_now
                .get(i)
                .is_some_and(|flag| flag.load(Ordering::SeqCst))
        })
        .collect();
    let count = DELIVERIES.min(open.len());
    let targets: Vec<usize> = (0..count)
        .filter_map(|i| open.get(i * open.len() / count).copied())
        .collect();
    let token = std::fs::read_to_string(data_dir.join("service-token"))?;
    let credential =
        ServiceCredential::new(token.trim()).ok_or("the service token is not header text")?;
    let channel = crate::services::connect(grpc).await?;
    let feeds = FeedServiceClient::with_interceptor(channel, credential);
    let mut started = vec![None; streams];
    let mut arrived = vec![None; streams];
    let mut appends = JoinSet::new();
    let mut ticks = tokio::time::interval(Duration::from_millis(1000 / APPEND_RATE));
    for &index in &targets {
        ticks.tick().await;
        let mut feeds = feeds.clone();
        let request = AppendFeedEntryRequest {
            feed_id: users.get(index).map(|u| u.to_string()).unwrap_or_default(),
            request_id: uuid::Uuid::now_v7().to_string(),
            source_event_id: uuid::Uuid::now_v7().to_string(),
            kind: "bench".into(),
            workspace_id: String::new(),
            payload_json: "{}".into(),
        };
        if let Some(slot) = started.get_mut(index) {
            *slot = Some(Instant::now());
        }
        appends.spawn(async move { feeds.append_feed_entry(request).await.map(|_| ()) });
        while let Ok((at, when)) = delivered.try_recv() {
            if let Some(slot) = arrived.get_mut(at) {
                slot.get_or_insert(when);
            }
        }
    }
    let mut append_failures = 0usize;
    while let Some(outcome) = appends.join_next().await {
        if let Err(status) = outcome? {
            append_failures += 1;
            tracing::warn!("P6: an append failed: {status}");
        }
    }
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while targets
        .iter()
        .any(|&i| arrived.get(i).is_some_and(Option::is_none))
    {
        match tokio::time::timeout_at(deadline, delivered.recv()).await {
            Ok(Some((at, when))) => {
                if let Some(slot) = arrived.get_mut(at) {
                    slot.get_or_insert(when);
                }
            }
            Ok(None) | Err(_) => break,
        }
    }
    let mut latencies: Vec<Duration> = targets
        .iter()
        .filter_map(|&i| {
            let start = (*started.get(i)?)?;
            let end = (*arrived.get(i)?)?;
            Some(end.saturating_duration_since(start))
        })
        .collect();
    latencies.sort();
    let missing = targets.len() - latencies.len();
    tracing::info!(
        "P6: {} of {} entries delivered ({append_failures} appends failed); p50 {:?}, max {:?}",
        latencies.len(),
        targets.len(),
        percentile(&latencies, 0.5),
        latencies.last()
    );
    readers.abort_all();
    while readers.join_next().await.is_some() {}

    let n = streams as u64;
    let mut streams_figure = Figure::absolute(
        "P6.streams",
        holding as f64,
        Unit::Streams,
        Target::AtLeast(streams as f64),
    );
    streams_figure.n = Some(n);
    streams_figure.errors = failures as u64;
    let ended = (streams - failures).saturating_sub(holding);
    if failures > 0 || ended > 0 {
        streams_figure.note = Some(format!(
            "{failures} streams did not open; {ended} answered 200, then ended"
        ));
    }
    let mut rss_figure = Figure::absolute(
        "P6.rss_per_stream",
        per_stream,
        Unit::Kibibytes,
        Target::AtMost(48.0),
    );
    rss_figure.n = Some(n);
    if holding == 0 {
        rss_figure.note = Some("no stream was held".into());
    }
    let p99 = percentile(&latencies, 0.99).map_or(f64::INFINITY, |d| d.as_secs_f64() * 1e3);
    let mut delivery_figure =
        Figure::absolute("P6.delivery_p99", p99, Unit::Millis, Target::AtMost(1000.0));
    delivery_figure.n = Some(n);
    delivery_figure.errors = (append_failures + missing) as u64;
    if targets.is_empty() {
        delivery_figure.note = Some("no stream was held".into());
    } else if missing > 0 {
        delivery_figure.note = Some(format!(
            "{missing} of {} entries did not arrive within {PATIENCE:?}",
            targets.len()
        ));
    }
    Ok([streams_figure, rss_figure, delivery_figure])
}

async fn wait_ready(child: &mut Child, http: SocketAddr) -> Result<(), BoxError> {
    let client = reqwest::Client::builder().timeout(PATIENCE).build()?;
    let url = format!("http://{http}/readyz");
    let deadline = Instant::now() + PATIENCE;
    loop {
        let answer = client.get(&url).send().await;
        if let Ok(answer) = &answer
            && answer.status() == reqwest::StatusCode::OK
        {
            return Ok(());
        }
        if let Some(status) = child.try_wait()? {
            return Err(format!("saas exited before it was ready: {status}").into());
        }
        if Instant::now() >= deadline {
            return Err(format!("saas is not ready after {PATIENCE:?}: {answer:?}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Opens a stream: writes the request, reads the status line and the headers; anything but
/// 200 is an error.
async fn open(http: SocketAddr, token: &str) -> Result<BufReader<TcpStream>, BoxError> {
    let mut stream = TcpStream::connect(http).await?;
    stream.set_nodelay(true)?;
    let request = format!(
        "GET /v1/me/feed/stream HTTP/1.1\r\nHost: {http}\r\nAuthorization: Bearer {token}\r\n\
         Accept: text/event-stream\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut reader = BufReader::with_capacity(READ_BUFFER, stream);
    let mut line = String::new();
    reader.read_line(&mut line).await?;
    let status = status_code(&line);
    if status != Some(200) {
        return Err(format!("answered {:?}", line.trim_end()).into());
    }
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err("the connection closed within the headers".into());
        }
        if line == "\r\n" || line == "\n" {
            return Ok(reader);
        }
    }
}

/// Reads the stream until it ends (the connection closes, or the chunked body's last chunk
/// comes), sending `(index, arrival)` for every entry's `data:` line.
async fn read_entries(
    stream: &mut BufReader<TcpStream>,
    index: usize,
    deliveries: &mpsc::UnboundedSender<(usize, Instant)>,
) {
    let mut line = String::new();
    loop {
        line.clear();
        match stream.read_line(&mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) if is_last_chunk(&line) => return,
            Ok(_) => {
                if is_entry_data(&line) {
                    let _ = deliveries.send((index, Instant::now()));
                }
            }
        }
    }
}

/// Whether a line of the (chunked) event stream is the data of an entry.
fn is_entry_data(line: &str) -> bool {
    line.strip_prefix("data:")
        .is_some_and(|data| data.contains("\"sequence\""))
}

/// Whether a line is the size line of a chunked body's last chunk (`0`). Event-stream
/// lines end in a bare `\n` and name a field, so they never read so.
fn is_last_chunk(line: &str) -> bool {
    line == "0\r\n"
}

/// The status code of an HTTP/1.x status line.
fn status_code(line: &str) -> Option<u16> {
    let mut parts = line.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines_and_entry_data_are_recognised() {
        assert_eq!(status_code("HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(status_code("HTTP/1.1 401 Unauthorized\r\n"), Some(401));
        assert_eq!(status_code("garbage\r\n"), None);
        assert!(is_entry_data(
            "data: {\"sequence\":1,\"kind\":\"bench\",\"payload\":{}}\n"
        ));
        assert!(!is_entry_data(": keep-alive\n"));
        assert!(!is_entry_data("data: {\"first_sequence\":3}\n"));
        assert!(!is_entry_data("id: 1\n"));
        assert!(is_last_chunk("0\r\n"));
        assert!(!is_last_chunk("0\n"));
        assert!(!is_last_chunk("10\r\n"));
    }
}
