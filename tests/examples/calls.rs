//! Measures what the defaults of calls between services rest on (README, "Calls between
//! services"): the answer times of Identity calls through the typed client at 64 in flight
//! (reads and commands), the most calls per second one replica answers, how long a connection
//! to a refused and to a blackholed replica takes to fail, and what a blackholed replica of
//! two costs a call.
//!
//! ```sh
//! cargo build --release -p saas && cargo build --release -p saas-tests --example calls
//! target/release/examples/calls            # SQLite; SAAS_TEST_POSTGRES_URL for PostgreSQL
//! ```
//!
//! It starts `saas serve identity` (the `saas` binary beside `examples/`, or `SAAS_BIN`) and
//! prints one line per figure.

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use adapters_app::grpc::{CallPolicy, GrpcUsers};
use platform::discovery::{self, EndpointSet};
use platform::server::ServiceCredential;
use ports_app::{Ctx, NewUser, UserId, Users};
use saas_tests::{SERVICE_TOKEN, ServerProcess, TestDatabase};

type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long each load runs.
const RUN: Duration = Duration::from_secs(5);
/// The users the reads and commands are spread over.
const USERS: usize = 200;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let database = TestDatabase::fresh().await;
    println!("database: {:?}", database.engine);
    let replica = ServerProcess::start("identity", &database.url).await;
    let users = users_over(&[format!("http://{}", replica.addr)])?;
    let mut ids = Vec::with_capacity(USERS);
    for n in 0..USERS {
        ids.push(register(&users, n).await?);
    }
    let ids = Arc::new(ids);

    // Warm up connections, the store's caches and the hedge window.
    load(&users, &ids, Op::Read, 64, Duration::from_secs(1)).await;
    for (op, in_flight) in [
        (Op::Read, 64),
        (Op::Command, 64),
        (Op::Read, 256),
        (Op::Read, 1024),
        (Op::Command, 256),
    ] {
        let fresh = users_over(&[format!("http://{}", replica.addr)])?;
        load(&fresh, &ids, op, in_flight, Duration::from_secs(1)).await;
        let before = sent_again(&fresh);
        let run = load(&fresh, &ids, op, in_flight, RUN).await;
        run.print(&format!("{op:?} x{in_flight}"), sent_again(&fresh) - before);
    }

    connect_times().await?;
    one_of_two_blackholed(&replica.addr, &ids).await?;
    Ok(())
}

fn users_over(urls: &[String]) -> Result<GrpcUsers, Error> {
    let channel = discovery::balanced_channel(EndpointSet::fixed(urls.to_vec()));
    let credential = ServiceCredential::new(SERVICE_TOKEN).ok_or("the token is not a header")?;
    Ok(GrpcUsers::with_policy(
        channel,
        credential,
        Duration::from_secs(5),
        CallPolicy::default(),
    ))
}

async fn register(users: &GrpcUsers, n: usize) -> Result<UserId, Error> {
    let user = users
        .register_user(
            &Ctx::anonymous(),
            "register",
            NewUser {
                email: format!("user-{n}-{}@example.com", uuid::Uuid::now_v7().simple()),
                display_name: format!("User {n}"),
                password: "correct horse battery staple".into(),
                sign_up: None,
            },
        )
        .await
        .map_err(|e| format!("register: {e:?}"))?;
    Ok(user.id)
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Read,
    Command,
}

/// What one load measured.
struct Run {
    took: Vec<Duration>,
    failed: u64,
    elapsed: Duration,
}

impl Run {
    fn print(&self, what: &str, (retries, free, hedges): (u64, u64, u64)) {
        let mut took = self.took.clone();
        took.sort_unstable();
        let at = |p: f64| {
            let rank = ((took.len() as f64) * p).ceil() as usize;
            took.get(rank.saturating_sub(1))
                .copied()
                .unwrap_or_default()
        };
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        println!(
            "{what}: {:.0} calls/s, {} failed; ms p50 {:.2} p95 {:.2} p99 {:.2} p99.9 {:.2} \
             max {:.2}; retries {retries} free {free} hedges {hedges}",
            took.len() as f64 / self.elapsed.as_secs_f64(),
            self.failed,
            ms(at(0.5)),
            ms(at(0.95)),
            ms(at(0.99)),
            ms(at(0.999)),
            ms(took.last().copied().unwrap_or_default()),
        );
    }
}

/// Retries, free retries and hedges sent so far.
fn sent_again(users: &GrpcUsers) -> Counted {
    let counters = users.counters();
    Counted(
        counters.retries.load(Ordering::Relaxed),
        counters.free_retries.load(Ordering::Relaxed),
        counters.hedges.load(Ordering::Relaxed),
    )
}

#[derive(Debug, Clone, Copy)]
struct Counted(u64, u64, u64);

impl std::ops::Sub for Counted {
    type Output = (u64, u64, u64);
    fn sub(self, before: Counted) -> (u64, u64, u64) {
        (self.0 - before.0, self.1 - before.1, self.2 - before.2)
    }
}

/// `in_flight` callers, each calling again as soon as answered, for `run`.
async fn load(
    users: &GrpcUsers,
    ids: &Arc<Vec<UserId>>,
    op: Op,
    in_flight: usize,
    run: Duration,
) -> Run {
    let users = Arc::new(users.clone());
    let stop = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for caller in 0..in_flight {
        let (users, ids, stop, failed) = (users.clone(), ids.clone(), stop.clone(), failed.clone());
        tasks.push(tokio::spawn(async move {
            let mut took = Vec::new();
            let mut n = caller;
            while !stop.load(Ordering::Relaxed) {
                n += in_flight;
                let id = ids[n % ids.len()];
                let mut ctx = Ctx::anonymous();
                ctx.deadline = Instant::now().checked_add(Duration::from_secs(5));
                let sent = Instant::now();
                let ok = match op {
                    Op::Read => users.get_user(&ctx, id).await.is_ok(),
                    Op::Command => users
                        .change_display_name(&ctx, "rename", id, format!("Name {n}"))
                        .await
                        .is_ok(),
                };
                if ok {
                    took.push(sent.elapsed());
                } else {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
            took
        }));
    }
    tokio::time::sleep(run).await;
    stop.store(true, Ordering::Relaxed);
    let mut took = Vec::new();
    for task in tasks {
        took.extend(task.await.unwrap_or_default());
    }
    Run {
        took,
        failed: failed.load(Ordering::Relaxed),
        elapsed: started.elapsed(),
    }
}

/// A listener that completes no more handshakes: its accept queue is full and never
/// drained, so the kernel drops further SYNs as a blackholed host would.
async fn blackhole() -> Result<
    (
        SocketAddr,
        Vec<tokio::net::TcpStream>,
        tokio::net::TcpListener,
    ),
    Error,
> {
    let socket = tokio::net::TcpSocket::new_v4()?;
    socket.bind("127.0.0.1:0".parse()?)?;
    let listener = socket.listen(1)?;
    let addr = listener.local_addr()?;
    let mut held = Vec::new();
    // Fill the queue: connections complete until it is full, then hang.
    loop {
        match tokio::time::timeout(
            Duration::from_millis(200),
            tokio::net::TcpStream::connect(addr),
        )
        .await
        {
            Ok(Ok(stream)) => held.push(stream),
            Ok(Err(e)) => return Err(e.into()),
            Err(_) => break,
        }
    }
    Ok((addr, held, listener))
}

async fn connect_times() -> Result<(), Error> {
    // A port nobody listens on: the kernel answers RST.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await?
        .local_addr()?;
    let mut refused = Vec::new();
    for _ in 0..100 {
        let start = Instant::now();
        let result = tokio::net::TcpStream::connect(closed).await;
        refused.push(start.elapsed());
        if result.is_ok() {
            return Err("the closed port accepted".into());
        }
    }
    refused.sort_unstable();
    println!(
        "connect refused: median {:.3} ms, max {:.3} ms",
        refused[50].as_secs_f64() * 1e3,
        refused[99].as_secs_f64() * 1e3
    );
    let (addr, _held, _listener) = blackhole().await?;
    let start = Instant::now();
    let limit = Duration::from_secs(10);
    match tokio::time::timeout(limit, tokio::net::TcpStream::connect(addr)).await {
        Ok(result) => println!(
            "connect blackholed: ended after {:.3} s ({})",
            start.elapsed().as_secs_f64(),
            if result.is_ok() {
                "connected"
            } else {
                "failed"
            }
        ),
        Err(_) => println!("connect blackholed: still waiting after {limit:?}"),
    }
    Ok(())
}

/// Reads over two replicas, one of them blackholed from the start: what the first calls
/// and the calls after them take.
async fn one_of_two_blackholed(live: &SocketAddr, ids: &Arc<Vec<UserId>>) -> Result<(), Error> {
    let (addr, _held, _listener) = blackhole().await?;
    let users = users_over(&[format!("http://{addr}"), format!("http://{live}")])?;
    let mut took = Vec::new();
    let mut failed = 0;
    let started = Instant::now();
    for n in 0..200 {
        let mut ctx = Ctx::anonymous();
        ctx.deadline = Instant::now().checked_add(Duration::from_secs(5));
        let sent = Instant::now();
        match users.get_user(&ctx, ids[n % ids.len()]).await {
            Ok(_) => took.push(sent.elapsed()),
            Err(_) => failed += 1,
        }
    }
    let slow = took
        .iter()
        .filter(|t| **t > Duration::from_millis(100))
        .count();
    let counters = users.counters();
    println!(
        "one of two blackholed: 200 sequential reads in {:.2} s, {failed} failed, {slow} over \
         100 ms, slowest {:.3} s; retries {} free {} hedges {}",
        started.elapsed().as_secs_f64(),
        took.iter().max().copied().unwrap_or_default().as_secs_f64(),
        counters.retries.load(Ordering::Relaxed),
        counters.free_retries.load(Ordering::Relaxed),
        counters.hedges.load(Ordering::Relaxed),
    );
    Ok(())
}
