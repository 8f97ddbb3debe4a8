//! Calls that survive their peers, with real processes: two Identity replicas on one
//! database, the application's own adapter (`GrpcUsers`) balancing over them, and calls
//! going on while one replica is frozen behind the fault proxy, reset by it, or killed. No
//! call may fail.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};
use std::time::Duration;

use adapters_app::grpc::GrpcUsers;
use platform::discovery::{self, EndpointSet, PeerChannel};
use platform::server::ServiceCredential;
use ports_app::{Ctx, NewUser, UserId, Users};
use saas_tests::fault_proxy::{Fault, FaultProxy};
use saas_tests::{SERVICE_TOKEN, ServerProcess, TestDatabase, eventually};

/// How long a condition may take to hold; generous, for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(90);

/// Calls made from several tasks at once until stopped: reads and commands, alternately.
struct Load {
    ok: Arc<AtomicUsize>,
    failures: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(users: Arc<GrpcUsers>, user: UserId, workers: usize) -> Load {
        let ok = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = (0..workers)
            .map(|worker| {
                let (users, ok, failures, stop) =
                    (users.clone(), ok.clone(), failures.clone(), stop.clone());
                tokio::spawn(async move {
                    let mut n = 0u64;
                    while !stop.load(Ordering::SeqCst) {
                        n += 1;
                        let ctx = Ctx::anonymous();
                        let result = if n.is_multiple_of(2) {
                            users
                                .get_user(&ctx, user)
                                .await
                                .map(|_| ())
                                .map_err(|e| format!("read: {}", e.app_error()))
                        } else {
                            let name = format!("Ada {worker}-{n}");
                            users
                                .change_display_name(&ctx, "rename", user, name)
                                .await
                                .map(|_| ())
                                .map_err(|e| format!("command: {}", e.app_error()))
                        };
                        match result {
                            Ok(()) => {
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(failure) => failures.lock().unwrap().push(failure),
                        }
                    }
                })
            })
            .collect();
        Load {
            ok,
            failures,
            stop,
            workers,
        }
    }

    fn ok(&self) -> usize {
        self.ok.load(Ordering::SeqCst)
    }

    /// Waits until `more` further calls succeeded and `also` holds.
    async fn until(&self, what: &str, more: usize, also: impl Fn() -> bool) {
        let target = self.ok() + more;
        let held = eventually(PATIENCE, || async { self.ok() >= target && also() }).await;
        assert!(
            held,
            "{what}: {} calls answered, failures {:?}",
            self.ok(),
            self.failures.lock().unwrap()
        );
    }

    /// Stops the load and returns the failed calls.
    async fn finish(self) -> Vec<String> {
        self.stop.store(true, Ordering::SeqCst);
        for worker in self.workers {
            worker.await.expect("a load worker");
        }
        self.failures.lock().unwrap().clone()
    }
}

/// Two Identity replicas on one database, and the adapter balancing over `urls(a, b)`.
struct Replicas {
    _database: TestDatabase,
    a: ServerProcess,
    b: ServerProcess,
}

impl Replicas {
    async fn start() -> Replicas {
        let database = TestDatabase::fresh().await;
        let a = ServerProcess::start("identity", &database.url).await;
        let b = ServerProcess::start("identity", &database.url).await;
        Replicas {
            _database: database,
            a,
            b,
        }
    }
}

async fn users_over(urls: [String; 2]) -> (Arc<GrpcUsers>, PeerChannel, UserId) {
    let channel = discovery::balanced_channel(EndpointSet::fixed(urls));
    let credential = ServiceCredential::new(SERVICE_TOKEN).expect("a header-safe token");
    let users = Arc::new(GrpcUsers::new(
        channel.clone(),
        credential,
        Duration::from_secs(5),
    ));
    let user = users
        .register_user(
            &Ctx::anonymous(),
            "register",
            NewUser {
                email: format!("ada-{}@example.com", uuid::Uuid::now_v7().simple()),
                display_name: "Ada".into(),
                password: "correct horse battery staple".into(),
                sign_up: None,
            },
        )
        .await
        .expect("registered")
        .id;
    (users, channel, user)
}

fn retries_and_hedges(users: &GrpcUsers) -> u64 {
    let counters = users.counters();
    counters.retries.load(Ordering::SeqCst)
        + counters.free_retries.load(Ordering::SeqCst)
        + counters.hedges.load(Ordering::SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_frozen_behind_the_proxy_costs_no_call() {
    let replicas = Replicas::start().await;
    let proxy = FaultProxy::start(replicas.a.addr).await;
    let (users, _channel, user) = users_over([
        format!("http://{}", proxy.addr),
        format!("http://{}", replicas.b.addr),
    ])
    .await;
    let load = Load::start(users.clone(), user, 8);
    load.until("warming up", 200, || true).await;

    let before = retries_and_hedges(&users);
    proxy.set(Fault::Blackhole);
    // Calls go on, and the frozen replica was met: some call was retried or hedged.
    load.until("while frozen", 300, || retries_and_hedges(&users) > before)
        .await;
    proxy.set(Fault::Pass);
    load.until("after the thaw", 100, || true).await;

    let failures = load.finish().await;
    assert!(failures.is_empty(), "failed calls: {failures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_reset_by_the_proxy_cost_no_call() {
    let replicas = Replicas::start().await;
    let proxy = FaultProxy::start(replicas.a.addr).await;
    let proxied = format!("http://{}", proxy.addr);
    let (users, channel, user) =
        users_over([proxied.clone(), format!("http://{}", replicas.b.addr)]).await;
    let load = Load::start(users.clone(), user, 8);
    load.until("warming up", 200, || true).await;

    proxy.set(Fault::Reset);
    load.until("while resetting", 300, || {
        channel.ejected() == [proxied.clone()]
    })
    .await;
    proxy.set(Fault::Pass);
    // Probed back after its backoff, the replica serves again.
    load.until("after the resets", 100, || channel.ejected().is_empty())
        .await;

    let failures = load.finish().await;
    assert!(failures.is_empty(), "failed calls: {failures:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_replica_costs_no_call() {
    let mut replicas = Replicas::start().await;
    let killed = format!("http://{}", replicas.b.addr);
    let (users, channel, user) =
        users_over([format!("http://{}", replicas.a.addr), killed.clone()]).await;
    let load = Load::start(users.clone(), user, 8);
    load.until("warming up", 200, || true).await;

    replicas.b.kill().await;
    load.until("after the kill", 300, || {
        channel.ejected() == [killed.clone()]
    })
    .await;

    let failures = load.finish().await;
    assert!(failures.is_empty(), "failed calls: {failures:?}");
}

/// A listener that completes no more handshakes: its accept queue is full and never drained,
/// so the kernel drops further SYNs, as for a host that is blackholed. Keep all three alive.
async fn blackhole() -> (
    std::net::SocketAddr,
    Vec<tokio::net::TcpStream>,
    tokio::net::TcpListener,
) {
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .bind("127.0.0.1:0".parse().expect("an address"))
        .expect("bind");
    let listener = socket.listen(1).expect("listen");
    let addr = listener.local_addr().expect("its address");
    let mut held = Vec::new();
    loop {
        let connect = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(Duration::from_millis(200), connect).await {
            Ok(stream) => held.push(stream.expect("a connection while the queue has room")),
            Err(_) => return (addr, held, listener),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blackholed_replica_is_ejected_at_its_first_connect_and_costs_no_attempt() {
    let database = TestDatabase::fresh().await;
    let live = ServerProcess::start("identity", &database.url).await;
    let (dark, _held, _listener) = blackhole().await;
    let started = std::time::Instant::now();
    let (users, _channel, user) =
        users_over([format!("http://{dark}"), format!("http://{}", live.addr)]).await;
    // Registering the user was the first call.
    let mut slowest = started.elapsed();
    // Past the first ejection's 1 s, the blackholed replica is tried again.
    let started = std::time::Instant::now();
    while started.elapsed() < Duration::from_millis(2_500) {
        let sent = std::time::Instant::now();
        users
            .get_user(&Ctx::anonymous(), user)
            .await
            .expect("read past the blackholed replica");
        slowest = slowest.max(sent.elapsed());
    }
    // A connect that is never answered ends at the connect timeout (0.5 s), well before the
    // 2 s attempt timeout, and the call goes to the live replica at once without spending
    // the retry budget.
    assert!(
        slowest < Duration::from_millis(1_500),
        "a read took {slowest:?}"
    );
    let counters = users.counters();
    assert!(counters.free_retries.load(Ordering::SeqCst) >= 1);
    assert_eq!(counters.retries.load(Ordering::SeqCst), 0);
}
