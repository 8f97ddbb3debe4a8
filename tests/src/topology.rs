//! The replicated split topology of QUALITY.md's P8 as OS processes, its open-loop load, and
//! the faults it must ride out: one harness for the fault suite (`tests/it/fault_suite.rs`)
//! and the benchmark's P8 figures (`saas-bench --postgres URL --nats URL`).
//!
//! - [`Topology::start`]: a database per context on PostgreSQL, NATS at a given URL, a private
//!   etcd, 3 replicas of Identity and of Workspace, 2 of Billing and of Notifications, and 2
//!   edges, every one a `saas serve` process that registers in etcd or finds its peers there.
//!   Each process logs one line per call it served (`saas::calls=debug`), so the harness
//!   knows each replica's share of its context's calls from the replica itself.
//! - [`Load`]: requests at a fixed rate through both edges whatever the answers take (open
//!   loop), half of them commands, spread over the accounts [`Topology::sign_up`] made.
//! - [`run`]: the faults one after another under that load: SIGKILL a replica, SIGSTOP one
//!   for 2 s, restart etcd on an emptied data directory, start a new replica, SIGTERM one;
//!   before each, the faulted replica's share of its context's calls is measured.

use std::{
    io::Read as _,
    net::SocketAddr,
    path::PathBuf,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use sea_orm::{ConnectionTrait as _, Statement};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::{
    PASSWORD, PrivateEtcd, SERVICE_TOKEN, TestDatabase, eventually, saas_binary, send_signal,
    temp_dir,
};

/// The data-service contexts, in the order of [`Shape::replicas`].
pub const CONTEXTS: [&str; 4] = ["identity", "workspace", "billing", "notifications"];

/// How long a process may take to start, and a condition to come true.
const PATIENCE: Duration = Duration::from_secs(60);

/// How many replicas of what, and how hard to drive them.
#[derive(Debug, Clone, Copy)]
pub struct Shape {
    /// Replicas of each context of [`CONTEXTS`].
    pub replicas: [usize; 4],
    /// Edge processes.
    pub edges: usize,
    /// `SAAS_DATABASE_POOL` of each process: PostgreSQL here allows 100 connections.
    pub pool: u32,
    /// Accounts signed up before the load starts.
    pub accounts: usize,
    /// Requests per second of the open-loop load.
    pub rate: u32,
    /// How long each phase of the load lasts.
    pub phase: Duration,
}

impl Default for Shape {
    /// QUALITY.md's P8: 3, 3, 2 and 2 replicas, 2 edges, 300 requests/s over 100 users.
    fn default() -> Self {
        Shape {
            replicas: [3, 3, 2, 2],
            edges: 2,
            pool: 3,
            accounts: 100,
            rate: 300,
            phase: Duration::from_secs(5),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------

/// One `saas serve` process, killed when dropped.
pub struct Saas {
    /// `identity-0`, `edge-1`, ...
    pub name: String,
    /// The gRPC address of a data service, the HTTP address of an edge.
    pub addr: SocketAddr,
    /// When it printed its address.
    pub listening: Instant,
    child: tokio::process::Child,
    served: Arc<AtomicU64>,
    first_served: Arc<Mutex<Option<Instant>>>,
    calls: Arc<Mutex<Vec<String>>>,
    dir: PathBuf,
}

impl Saas {
    /// Runs `saas serve <component>` with `env` (and nothing of this process's `SAAS_*`),
    /// and waits until it prints `prefix` and its address.
    async fn spawn(name: String, component: &str, env: &[(&str, String)], prefix: &str) -> Saas {
        let dir = temp_dir(&name);
        let mut command = tokio::process::Command::new(saas_binary());
        for (key, _) in std::env::vars() {
            if key.starts_with("SAAS_") {
                command.env_remove(key);
            }
        }
        command
            .args(["serve", component])
            .env("SAAS_DATA_DIR", &dir)
            .env("SAAS_SERVICE_TOKEN", SERVICE_TOKEN)
            .env("SAAS_LOG", "warn,saas::calls=debug")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn saas");
        let served = Arc::new(AtomicU64::new(0));
        let first_served = Arc::new(Mutex::new(None));
        let calls = Arc::new(Mutex::new(Vec::new()));
        let mut errors = BufReader::new(child.stderr.take().expect("stderr")).lines();
        let (counted, first, summary, label) = (
            served.clone(),
            first_served.clone(),
            calls.clone(),
            name.clone(),
        );
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                if line.contains("saas::calls") {
                    if line.ends_with("served") {
                        counted.fetch_add(1, Ordering::Relaxed);
                        first
                            .lock()
                            .expect("first served")
                            .get_or_insert_with(Instant::now);
                    } else {
                        summary.lock().expect("calls").push(line);
                    }
                } else {
                    eprintln!("[{label}] {line}");
                }
            }
        });
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let addr = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(addr) = line.strip_prefix(prefix) {
                    return addr.trim().parse::<SocketAddr>().expect("address");
                }
            }
            panic!("{name} exited before listening");
        })
        .await
        .unwrap_or_else(|_| panic!("{name} did not listen within {PATIENCE:?}"));
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Saas {
            name,
            addr,
            listening: Instant::now(),
            child,
            served,
            first_served,
            calls,
            dir,
        }
    }

    /// Calls it answered so far (a data service).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::Relaxed)
    }

    /// When it answered its first call, if it has.
    pub fn first_served(&self) -> Option<Instant> {
        *self.first_served.lock().expect("first served")
    }

    /// The lines an edge logged about what its calls took (at its exit).
    pub fn call_summary(&self) -> Vec<String> {
        self.calls.lock().expect("calls").clone()
    }

    fn signal(&self, signal: i32) {
        send_signal(self.child.id().unwrap_or(0), signal);
    }

    /// SIGKILL, and waits until it is gone.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// SIGSTOP: frozen, connections open, answering nothing.
    pub fn freeze(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// SIGCONT.
    pub fn thaw(&self) {
        self.signal(libc::SIGCONT);
    }

    /// SIGTERM, and waits for the exit; `true` when it exited by itself within the patience.
    pub async fn terminate(&mut self) -> bool {
        self.signal(libc::SIGTERM);
        tokio::time::timeout(PATIENCE, self.child.wait())
            .await
            .is_ok_and(|status| status.is_ok())
    }
}

impl Drop for Saas {
    fn drop(&mut self) {
        // A frozen process is thawed too, so that SIGKILL's cleanup runs at once.
        if let Some(pid) = self.child.id() {
            send_signal(pid, libc::SIGKILL);
            send_signal(pid, libc::SIGCONT);
        }
        std::fs::remove_dir_all(&self.dir).ok();
    }
}

/// A data-service replica.
pub struct Replica {
    /// Its context, one of [`CONTEXTS`].
    pub context: &'static str,
    /// The process.
    pub process: Saas,
    /// Whether it is meant to be running (not killed or terminated).
    pub live: bool,
}

// ---------------------------------------------------------------------------------------
// The topology
// ---------------------------------------------------------------------------------------

/// The processes of the split topology, their databases, NATS URL and private etcd.
pub struct Topology {
    /// The private etcd every process registers in or watches.
    pub etcd: PrivateEtcd,
    /// Every data-service replica ever started, in start order.
    pub replicas: Vec<Replica>,
    /// The edges.
    pub edges: Vec<Saas>,
    databases: Vec<TestDatabase>,
    nats_url: String,
    key_dir: PathBuf,
    key_file: PathBuf,
    shape: Shape,
}

/// 48 hex characters from the OS: a signing key edges can share (`SAAS_JWT_KEY_FILE`).
pub fn random_key() -> String {
    let mut bytes = [0u8; 24];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut random| random.read_exact(&mut bytes))
        .expect("read /dev/urandom");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl Topology {
    /// Starts it: fresh databases on the PostgreSQL of `admin_url`, events through the NATS
    /// at `nats_url`, peers found through `etcd`; answers once every edge is ready.
    pub async fn start(
        admin_url: &str,
        nats_url: &str,
        etcd: PrivateEtcd,
        shape: Shape,
    ) -> Topology {
        let mut databases = Vec::new();
        for _ in CONTEXTS {
            databases.push(TestDatabase::fresh_postgres(admin_url).await);
        }
        let key_dir = temp_dir("p8-key");
        let key_file = key_dir.join("jwt-key");
        std::fs::write(&key_file, random_key()).expect("write the key file");
        let mut topology = Topology {
            etcd,
            replicas: Vec::new(),
            edges: Vec::new(),
            databases,
            nats_url: nats_url.to_owned(),
            key_dir,
            key_file,
            shape,
        };
        for (index, context) in CONTEXTS.iter().enumerate() {
            for _ in 0..shape.replicas[index] {
                topology.add_replica(context).await;
            }
        }
        // The edges find every replica through etcd before they take requests.
        let expected = topology.live_addrs();
        assert!(
            eventually(PATIENCE, || {
                let topology = &topology;
                let expected = expected.clone();
                async move { topology.registered().await == expected }
            })
            .await,
            "the replicas did not all register in etcd"
        );
        for index in 0..shape.edges {
            let edge = Saas::spawn(
                format!("edge-{index}"),
                "edge",
                &[
                    ("SAAS_HTTP_ADDR", "127.0.0.1:0".into()),
                    ("SAAS_ETCD_URL", topology.etcd.url()),
                    ("SAAS_NATS_URL", topology.nats_url.clone()),
                    ("SAAS_JWT_KEY_FILE", topology.key_file.display().to_string()),
                    ("SAAS_RATE_LIMITS", "off".into()),
                    ("SAAS_LOG", "warn,saas::calls=info".into()),
                ],
                "http listening on ",
            )
            .await;
            topology.edges.push(edge);
        }
        let http = reqwest::Client::new();
        for edge in &topology.edges {
            let url = format!("http://{}/readyz", edge.addr);
            assert!(
                eventually(PATIENCE, || {
                    let (http, url) = (http.clone(), url.clone());
                    async move {
                        http.get(url)
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success())
                    }
                })
                .await,
                "{} never became ready",
                edge.name
            );
        }
        topology
    }

    /// Starts one more replica of `context` and answers its index in
    /// [`Topology::replicas`].
    pub async fn add_replica(&mut self, context: &'static str) -> usize {
        let index = CONTEXTS
            .iter()
            .position(|c| *c == context)
            .expect("a context");
        let number = self
            .replicas
            .iter()
            .filter(|r| r.context == context)
            .count();
        let database = format!("SAAS_{}_DATABASE_URL", context.to_ascii_uppercase());
        let process = Saas::spawn(
            format!("{context}-{number}"),
            context,
            &[
                ("SAAS_GRPC_ADDR", "127.0.0.1:0".into()),
                (database.as_str(), self.databases[index].url.clone()),
                ("SAAS_ETCD_URL", self.etcd.url()),
                ("SAAS_NATS_URL", self.nats_url.clone()),
                ("SAAS_DATABASE_POOL", self.shape.pool.to_string()),
                ("SAAS_ARGON2", "m=8,t=1,p=1".into()),
            ],
            "grpc listening on ",
        )
        .await;
        self.replicas.push(Replica {
            context,
            process,
            live: true,
        });
        self.replicas.len() - 1
    }

    /// The `(context, addr)` of every live replica, sorted.
    pub fn live_addrs(&self) -> Vec<(String, String)> {
        let mut live: Vec<(String, String)> = self
            .replicas
            .iter()
            .filter(|r| r.live)
            .map(|r| (r.context.to_owned(), r.process.addr.to_string()))
            .collect();
        live.sort();
        live
    }

    /// The `(context, addr)` of every registration in etcd now, sorted (empty while etcd
    /// does not answer).
    pub async fn registered(&self) -> Vec<(String, String)> {
        let Ok((_, kvs)) = self.etcd.client().list("/saas/services/").await else {
            return Vec::new();
        };
        let mut found: Vec<(String, String)> = kvs
            .iter()
            .filter_map(|kv| {
                let key = String::from_utf8_lossy(&kv.key);
                let context = key.strip_prefix("/saas/services/")?.split('/').next()?;
                let value: Value = serde_json::from_slice(&kv.value).ok()?;
                Some((context.to_owned(), value["addr"].as_str()?.to_owned()))
            })
            .collect();
        found.sort();
        found
    }

    /// The edges' base URLs.
    pub fn edge_urls(&self) -> Vec<String> {
        self.edges
            .iter()
            .map(|edge| format!("http://{}", edge.addr))
            .collect()
    }

    /// Calls answered so far by each live replica of `context`, by index.
    pub fn served(&self, context: &str) -> Vec<(usize, u64)> {
        self.replicas
            .iter()
            .enumerate()
            .filter(|(_, r)| r.live && r.context == context)
            .map(|(i, r)| (i, r.process.served()))
            .collect()
    }

    /// Signs up `count` accounts through the edges in turn, 16 at a time, and logs each in.
    pub async fn sign_up(&self, count: usize) -> Vec<Account> {
        let http = reqwest::Client::new();
        let edges = self.edge_urls();
        let run = uuid::Uuid::now_v7().simple().to_string();
        let mut accounts = Vec::with_capacity(count);
        for chunk in (0..count).collect::<Vec<_>>().chunks(16) {
            let signups = chunk.iter().map(|&i| {
                let (http, edge) = (http.clone(), edges[i % edges.len()].clone());
                let email = format!("p8-{i}-{run}@example.com");
                let slug = format!("p8-{i}-{}", &run[run.len() - 12..]);
                async move { sign_up_one(&http, &edge, &email, &slug).await }
            });
            accounts.extend(futures_join_all(signups).await);
        }
        accounts
    }

    /// The events the Billing replicas committed of `event_type`, and the feed entries of
    /// `kind` the Notifications replicas hold with how many distinct source events they
    /// came from: equal counts mean every event reached its feed once, whichever replica
    /// relayed it and whichever edge's policies applied it.
    pub async fn billing_events_and_feed_entries(
        &self,
        event_type: &str,
        kind: &str,
    ) -> (i64, i64, i64) {
        let count = |index: usize, sql: String| async move {
            let db = platform::db::open(
                &self.databases[index].url,
                platform::db::PoolSize { max: 1 },
            )
            .await
            .expect("open a context's database");
            let row = db
                .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
                .await
                .expect("count")
                .expect("a row");
            let n = row.try_get_by_index::<i64>(0).expect("a count");
            db.close().await.ok();
            n
        };
        let events = count(
            2,
            format!("SELECT COUNT(*) FROM outbox WHERE event_type = '{event_type}'"),
        )
        .await;
        let entries = count(
            3,
            format!("SELECT COUNT(*) FROM feed_entries WHERE kind = '{kind}'"),
        )
        .await;
        let sources = count(
            3,
            format!(
                "SELECT COUNT(DISTINCT source_event_id) FROM feed_entries WHERE kind = '{kind}'"
            ),
        )
        .await;
        (events, entries, sources)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.key_dir).ok();
    }
}

/// Runs futures at once and collects their outputs in order.
async fn futures_join_all<F>(futures: impl IntoIterator<Item = F>) -> Vec<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    let handles: Vec<_> = futures.into_iter().map(tokio::spawn).collect();
    let mut outputs = Vec::with_capacity(handles.len());
    for handle in handles {
        outputs.push(handle.await.expect("a task"));
    }
    outputs
}

/// A signed-up user with their workspace, access token and what the load last made of
/// their plan.
pub struct Account {
    token: String,
    workspace_id: String,
    /// Whether the subscription is on Business (else Team), and whether a plan change is
    /// in flight (plan changes of one account go one at a time, so none is refused as
    /// "unchanged").
    plan: Mutex<(bool, bool)>,
}

async fn sign_up_one(http: &reqwest::Client, edge: &str, email: &str, slug: &str) -> Account {
    let signed = http
        .post(format!("{edge}/v1/signup"))
        .json(&json!({
            "email": email,
            "password": PASSWORD,
            "display_name": "Load User",
            "workspace_name": "Load Workspace",
            "workspace_slug": slug,
        }))
        .send()
        .await
        .expect("sign-up answers");
    assert_eq!(signed.status(), 201, "sign-up of {email}");
    let body: Value = signed.json().await.expect("sign-up JSON");
    let workspace_id = body["workspace"]["id"]
        .as_str()
        .expect("workspace id")
        .to_owned();
    let login = http
        .post(format!("{edge}/v1/auth/login"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login answers");
    assert_eq!(login.status(), 200, "login of {email}");
    let body: Value = login.json().await.expect("login JSON");
    let token = body["access_token"]
        .as_str()
        .expect("access token")
        .to_owned();
    Account {
        token,
        workspace_id,
        plan: Mutex::new((false, false)),
    }
}

// ---------------------------------------------------------------------------------------
// The load
// ---------------------------------------------------------------------------------------

/// One request of the load.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// When it was sent.
    pub sent: Instant,
    /// How long its answer took.
    pub latency: Duration,
    /// A read (else a command).
    pub read: bool,
    /// Its method and route, e.g. `GET /v1/me`.
    pub what: &'static str,
    /// Why it failed (a status other than 2xx, or no answer), if it did.
    pub failure: Option<String>,
}

/// Requests at a fixed rate through the edges in turn, each sent on time whatever the
/// earlier ones take. Request `n` is a read when `n` is even (`/v1/me`, the workspace, its
/// subscription, the feed, in turn) and a command when odd (change the display name,
/// rename the workspace, change the plan, in turn; a plan change of an account whose
/// previous one is still in flight renames instead).
pub struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicU64>,
    outcomes: Arc<Mutex<Vec<Outcome>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Load {
    /// Starts sending `rate` requests a second.
    pub fn start(edges: Vec<String>, accounts: Arc<Vec<Account>>, rate: u32) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicU64::new(0));
        let outcomes = Arc::new(Mutex::new(Vec::new()));
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("HTTP client");
        let task = {
            let (stop, sent, outcomes) = (stop.clone(), sent.clone(), outcomes.clone());
            tokio::spawn(async move {
                let mut ticks =
                    tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(rate)));
                ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                let mut n: u64 = 0;
                while !stop.load(Ordering::Relaxed) {
                    ticks.tick().await;
                    let edge = edges[(n as usize) % edges.len()].clone();
                    let account = (n as usize / 2).wrapping_mul(7919) % accounts.len();
                    let (http, accounts, outcomes) =
                        (http.clone(), accounts.clone(), outcomes.clone());
                    sent.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(async move {
                        let outcome = request(&http, &edge, &accounts[account], n).await;
                        outcomes.lock().expect("outcomes").push(outcome);
                    });
                    n += 1;
                }
            })
        };
        Load {
            stop,
            sent,
            outcomes,
            task,
        }
    }

    /// Requests sent so far.
    pub fn sent(&self) -> u64 {
        self.sent.load(Ordering::Relaxed)
    }

    /// The outcomes of the requests answered so far.
    pub fn outcomes(&self) -> Vec<Outcome> {
        self.outcomes.lock().expect("outcomes").clone()
    }

    /// Stops sending, waits for every request sent to be answered, and hands back all
    /// their outcomes.
    pub async fn stop(self) -> Vec<Outcome> {
        self.stop.store(true, Ordering::Relaxed);
        let sent = self.sent.clone();
        let outcomes = self.outcomes.clone();
        let _ = self.task.await;
        let sent = sent.load(Ordering::Relaxed);
        assert!(
            eventually(PATIENCE, || {
                let answered = outcomes.lock().expect("outcomes").len() as u64;
                async move { answered >= sent }
            })
            .await,
            "requests of the load never came back"
        );
        outcomes.lock().expect("outcomes").clone()
    }
}

async fn request(http: &reqwest::Client, edge: &str, account: &Account, n: u64) -> Outcome {
    let workspace = format!("{edge}/v1/workspaces/{}", account.workspace_id);
    let read = n.is_multiple_of(2);
    let mut plan_change = None;
    let (what, builder) = if read {
        match (n / 2) % 4 {
            0 => ("GET /v1/me", http.get(format!("{edge}/v1/me"))),
            1 => ("GET /v1/workspaces/{id}", http.get(&workspace)),
            2 => (
                "GET /v1/workspaces/{id}/subscription",
                http.get(format!("{workspace}/subscription")),
            ),
            _ => ("GET /v1/me/feed", http.get(format!("{edge}/v1/me/feed"))),
        }
    } else {
        let kind = (n / 2) % 3;
        let business = if kind == 2 {
            let mut plan = account.plan.lock().expect("plan");
            if plan.1 {
                None
            } else {
                plan.1 = true;
                Some(!plan.0)
            }
        } else {
            None
        };
        match (kind, business) {
            (0, _) => (
                "PATCH /v1/me",
                http.patch(format!("{edge}/v1/me"))
                    .json(&json!({ "display_name": format!("Load User {n}") })),
            ),
            (2, Some(business)) => {
                plan_change = Some(business);
                (
                    "POST /v1/workspaces/{id}/subscription/plan",
                    http.post(format!("{workspace}/subscription/plan"))
                        .json(&json!({ "plan": if business { "business" } else { "team" } })),
                )
            }
            _ => (
                "PATCH /v1/workspaces/{id}",
                http.patch(&workspace)
                    .json(&json!({ "name": format!("Load Workspace {n}") })),
            ),
        }
    };
    let sent = Instant::now();
    let answer = builder.bearer_auth(&account.token).send().await;
    let latency = sent.elapsed();
    let failure = match answer {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => {
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            Some(format!("{status}: {body}"))
        }
        Err(e) => Some(format!("no answer: {e}")),
    };
    if let Some(business) = plan_change {
        let mut plan = account.plan.lock().expect("plan");
        if failure.is_none() {
            plan.0 = business;
        }
        plan.1 = false;
    }
    Outcome {
        sent,
        latency,
        read,
        what,
        failure,
    }
}

// ---------------------------------------------------------------------------------------
// The faults
// ---------------------------------------------------------------------------------------

/// What a run of [`run`] saw.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Requests answered per second over the whole run.
    pub load: f64,
    /// Requests sent.
    pub requests: usize,
    /// Every failed request: `(phase, what)`.
    pub failures: Vec<(String, String)>,
    /// Failed requests sent while the killed replica was down.
    pub kill_errors: usize,
    /// Failed requests sent from the freeze to 2 s after it ended.
    pub freeze_errors: usize,
    /// Failed requests sent from the restart of etcd until all replicas were back.
    pub etcd_errors: usize,
    /// Failed requests sent from the new replica's start to the end of its phase.
    pub new_replica_errors: usize,
    /// Failed requests sent from the SIGTERM to the end of its phase.
    pub term_errors: usize,
    /// The 99th percentile of reads sent during the freeze, over that of reads sent in
    /// the healthy phase.
    pub freeze_p99: f64,
    /// Read p99 in the healthy phase and during the freeze, ms.
    pub read_p99_ms: (f64, f64),
    /// The slowest requests sent during the freeze: `(what, ms)`.
    pub slowest_in_freeze: Vec<(String, f64)>,
    /// Seconds from etcd's restart on an empty data directory until every live replica
    /// was registered again.
    pub reregister: f64,
    /// Seconds from the new replica's `grpc listening` line to its first served call.
    pub new_replica_first_call: f64,
    /// The faulted replica's share of its context's calls before each fault:
    /// `(fault, replica, share)`.
    pub shares: Vec<(String, String, f64)>,
    /// Retries, free retries (calls that never left) and hedges the edges sent.
    pub retries: u64,
    pub free_retries: u64,
    pub hedges: u64,
    /// Plan changes the Billing replicas committed, the feed entries they became and the
    /// distinct events those came from.
    pub plan_changes: (i64, i64, i64),
}

/// The share of `context`'s calls that replica `victim` answered between two
/// [`Topology::served`] snapshots.
fn share(before: &[(usize, u64)], after: &[(usize, u64)], victim: usize) -> f64 {
    let delta = |i: usize| {
        let then = before.iter().find(|(j, _)| *j == i).map_or(0, |(_, n)| *n);
        after.iter().find(|(j, _)| *j == i).map_or(0, |(_, n)| *n) - then
    };
    let total: u64 = after.iter().map(|(i, _)| delta(*i)).sum();
    if total == 0 {
        0.0
    } else {
        delta(victim) as f64 / total as f64
    }
}

/// The first live replica of `context`.
fn first_live(topology: &Topology, context: &str) -> usize {
    topology
        .replicas
        .iter()
        .position(|r| r.live && r.context == context)
        .expect("a live replica")
}

fn percentile(mut values: Vec<Duration>, p: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_unstable();
    let rank = ((values.len() as f64) * p).ceil() as usize;
    values[rank.saturating_sub(1).min(values.len() - 1)].as_secs_f64() * 1000.0
}

/// Runs the faults one after another under the load, as QUALITY.md's P8 describes, and
/// reports what the users saw. Each phase lasts `shape.phase` (the freeze 2 s).
pub async fn run(topology: &mut Topology, accounts: Vec<Account>) -> Report {
    let phase = topology.shape.phase;
    let load = Load::start(
        topology.edge_urls(),
        Arc::new(accounts),
        topology.shape.rate,
    );
    let started = Instant::now();
    let mut marks: Vec<(String, Instant)> = vec![("warm-up".into(), started)];
    let mut report = Report::default();

    // Warm up, then the healthy phase: read latency and shares as they are.
    tokio::time::sleep(phase).await;
    marks.push(("healthy".into(), Instant::now()));
    let before: Vec<_> = CONTEXTS.iter().map(|c| topology.served(c)).collect();
    tokio::time::sleep(phase).await;
    let after: Vec<_> = CONTEXTS.iter().map(|c| topology.served(c)).collect();

    // SIGKILL an Identity replica.
    let victim = first_live(topology, "identity");
    report.shares.push((
        "kill".into(),
        topology.replicas[victim].process.name.clone(),
        share(&before[0], &after[0], victim),
    ));
    marks.push(("kill".into(), Instant::now()));
    topology.replicas[victim].process.kill().await;
    topology.replicas[victim].live = false;
    tokio::time::sleep(phase).await;

    // SIGSTOP a Workspace replica for 2 s.
    let victim = first_live(topology, "workspace");
    let before = topology.served("workspace");
    tokio::time::sleep(phase).await;
    report.shares.push((
        "freeze".into(),
        topology.replicas[victim].process.name.clone(),
        share(&before, &topology.served("workspace"), victim),
    ));
    marks.push(("freeze".into(), Instant::now()));
    topology.replicas[victim].process.freeze();
    tokio::time::sleep(Duration::from_secs(2)).await;
    topology.replicas[victim].process.thaw();
    marks.push(("after-freeze".into(), Instant::now()));
    tokio::time::sleep(Duration::from_secs(2)).await;

    // Restart etcd on an emptied data directory.
    marks.push(("etcd".into(), Instant::now()));
    topology.etcd.stop();
    topology.etcd.wipe();
    let restarted = Instant::now();
    topology.etcd.resume().await;
    let expected = topology.live_addrs();
    let back = eventually(PATIENCE, || {
        let (topology, expected) = (&*topology, expected.clone());
        async move { topology.registered().await == expected }
    })
    .await;
    assert!(
        back,
        "the replicas did not register again after etcd's restart"
    );
    report.reregister = restarted.elapsed().as_secs_f64();
    tokio::time::sleep(phase).await;

    // A new Identity replica.
    marks.push(("new-replica".into(), Instant::now()));
    let added = topology.add_replica("identity").await;
    let serving = eventually(PATIENCE, || {
        let served = topology.replicas[added].process.first_served().is_some();
        async move { served }
    })
    .await;
    assert!(serving, "the new replica never served a call");
    let process = &topology.replicas[added].process;
    report.new_replica_first_call = process.first_served().map_or(f64::NAN, |t| {
        t.duration_since(process.listening).as_secs_f64()
    });
    tokio::time::sleep(phase).await;

    // SIGTERM a Billing replica.
    let victim = first_live(topology, "billing");
    let before = topology.served("billing");
    tokio::time::sleep(phase).await;
    report.shares.push((
        "term".into(),
        topology.replicas[victim].process.name.clone(),
        share(&before, &topology.served("billing"), victim),
    ));
    marks.push(("term".into(), Instant::now()));
    let exited = topology.replicas[victim].process.terminate().await;
    assert!(exited, "the SIGTERMed replica did not exit by itself");
    topology.replicas[victim].live = false;
    tokio::time::sleep(phase).await;
    marks.push(("end".into(), Instant::now()));

    let outcomes = load.stop().await;
    let elapsed = started.elapsed().as_secs_f64();
    report.requests = outcomes.len();
    report.load = outcomes.len() as f64 / elapsed;
    let phase_of = |sent: Instant| -> String {
        marks
            .iter()
            .rev()
            .find(|(_, at)| *at <= sent)
            .map_or_else(|| "warm-up".to_owned(), |(name, _)| name.clone())
    };
    for outcome in &outcomes {
        if let Some(failure) = &outcome.failure {
            report
                .failures
                .push((phase_of(outcome.sent), failure.clone()));
        }
    }
    let errors_in = |names: &[&str]| {
        report
            .failures
            .iter()
            .filter(|(phase, _)| names.contains(&phase.as_str()))
            .count()
    };
    report.kill_errors = errors_in(&["kill"]);
    report.freeze_errors = errors_in(&["freeze", "after-freeze"]);
    report.etcd_errors = errors_in(&["etcd"]);
    report.new_replica_errors = errors_in(&["new-replica"]);
    report.term_errors = errors_in(&["term"]);
    let reads_in = |name: &str| -> Vec<Duration> {
        outcomes
            .iter()
            .filter(|o| o.read && phase_of(o.sent) == name)
            .map(|o| o.latency)
            .collect()
    };
    let healthy = percentile(reads_in("healthy"), 0.99);
    let frozen = percentile(reads_in("freeze"), 0.99);
    report.read_p99_ms = (healthy, frozen);
    let mut in_freeze: Vec<&Outcome> = outcomes
        .iter()
        .filter(|o| phase_of(o.sent) == "freeze")
        .collect();
    in_freeze.sort_by_key(|o| std::cmp::Reverse(o.latency));
    report.slowest_in_freeze = in_freeze
        .iter()
        .take(12)
        .map(|o| (o.what.to_owned(), o.latency.as_secs_f64() * 1000.0))
        .collect();
    report.freeze_p99 = if healthy > 0.0 {
        frozen / healthy
    } else {
        f64::NAN
    };

    // Every plan change reaches its feed (the edges' policies apply them) before the edges
    // stop; what the counts are when that does not happen is the test's to judge.
    let plan_changes = || async {
        topology
            .billing_events_and_feed_entries("billing.subscription.plan_changed", "plan_changed")
            .await
    };
    eventually(PATIENCE, || async {
        let (events, entries, sources) = plan_changes().await;
        events == entries && entries == sources
    })
    .await;
    report.plan_changes = plan_changes().await;

    // The edges report their retries and hedges as they exit.
    for edge in &mut topology.edges {
        assert!(
            edge.terminate().await,
            "{} did not exit on SIGTERM",
            edge.name
        );
        for line in edge.call_summary() {
            let field = |name: &str| -> u64 {
                line.split_whitespace()
                    .find_map(|word| word.strip_prefix(&format!("{name}=")))
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0)
            };
            report.retries += field("retries");
            report.free_retries += field("free_retries");
            report.hedges += field("hedges");
        }
    }
    report
}
