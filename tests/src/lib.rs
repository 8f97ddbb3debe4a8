//! The integration test harness.
//!
//! [`TestDatabase::fresh`] makes an empty database for one test: a SQLite file in a temporary
//! directory, or, when `SAAS_TEST_POSTGRES_URL` is set, a new PostgreSQL database on that
//! server (dropped again when the test ends). [`IdentityService::spawn`] serves the Identity
//! data service in-process on port 0 over such a database, with a manual clock and cheap
//! password hashing, and hands out a typed client that carries the service credential.
//! [`ServerProcess`] runs the real `saas` binary as a separate OS process.
//!
//! Application teams can use the same harness for their own tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod fault_proxy;
pub mod topology;

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use kernel_domain::ManualClock;
use platform::server::{GrpcServer, ServerConfig, ServiceCredential};
use saas_proto::identity::v1::user_service_client::UserServiceClient;
use sea_orm::ConnectionTrait;
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    sync::oneshot,
    task::JoinHandle,
};
use tonic::{service::interceptor::InterceptedService, transport::Channel};

/// The service credential every harness server is started with.
pub const SERVICE_TOKEN: &str = "test-service-token-0123456789abcdef";

/// The environment variable that points the tests at a PostgreSQL server.
pub const POSTGRES_ENV: &str = "SAAS_TEST_POSTGRES_URL";

/// A typed client with the service credential.
pub type UserClient = UserServiceClient<InterceptedService<Channel, ServiceCredential>>;

/// Which engine a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Engine {
    /// A SQLite file.
    Sqlite,
    /// A database on the PostgreSQL server of `SAAS_TEST_POSTGRES_URL`.
    Postgres,
}

/// An empty database for one test.
pub struct TestDatabase {
    /// The URL services open.
    pub url: String,
    /// Which engine.
    pub engine: Engine,
    dir: Option<PathBuf>,
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh database: PostgreSQL when `SAAS_TEST_POSTGRES_URL` is set, SQLite otherwise.
    pub async fn fresh() -> TestDatabase {
        match std::env::var(POSTGRES_ENV).ok().filter(|u| !u.is_empty()) {
            Some(admin) => Self::fresh_postgres(&admin).await,
            None => Self::fresh_sqlite(),
        }
    }

    /// A fresh SQLite file in its own temporary directory.
    pub fn fresh_sqlite() -> TestDatabase {
        let dir = temp_dir("db");
        TestDatabase {
            url: format!("sqlite://{}", dir.join("test.db").display()),
            engine: Engine::Sqlite,
            dir: Some(dir),
            postgres: None,
        }
    }

    /// A fresh database on the server `admin_url` points at.
    pub async fn fresh_postgres(admin_url: &str) -> TestDatabase {
        let name = format!("saas_test_{}", uuid::Uuid::now_v7().simple());
        let admin = platform::db::open(admin_url, platform::db::PoolSize { max: 1 })
            .await
            .expect("connect to SAAS_TEST_POSTGRES_URL");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        admin.close().await.ok();
        let url = replace_database(admin_url, &name);
        TestDatabase {
            url,
            engine: Engine::Postgres,
            dir: None,
            postgres: Some((admin_url.to_owned(), name)),
        }
    }

    /// The directory of a SQLite database (for data files that go beside it).
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            std::fs::remove_dir_all(dir).ok();
        }
        if let Some((admin_url, name)) = self.postgres.take() {
            // Drop runs outside any runtime guarantee: use a thread with its own runtime.
            let _ = std::thread::spawn(move || {
                let Ok(runtime) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                else {
                    return;
                };
                runtime.block_on(async {
                    if let Ok(admin) =
                        platform::db::open(&admin_url, platform::db::PoolSize { max: 1 }).await
                    {
                        let _ = admin
                            .execute_unprepared(&format!(
                                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                            ))
                            .await;
                        admin.close().await.ok();
                    }
                });
            })
            .join();
        }
    }
}

fn replace_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let scheme_end = base.find("://").map(|i| i + 3).unwrap_or(0);
    let path_start = base[scheme_end..].find('/').map(|i| i + scheme_end);
    let host = match path_start {
        Some(i) => &base[..i],
        None => base,
    };
    match query {
        Some(query) => format!("{host}/{name}?{query}"),
        None => format!("{host}/{name}"),
    }
}

/// A new empty temporary directory.
pub fn temp_dir(purpose: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("saas-test-{purpose}-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// Opens a channel to `addr` and wraps it with the service credential.
pub async fn user_client(addr: SocketAddr, token: &str) -> UserClient {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect to the service");
    UserServiceClient::with_interceptor(
        channel,
        ServiceCredential::new(token).expect("token is header text"),
    )
}

/// A `WorkspaceService` client of the service at `addr`, with the service credential.
pub async fn workspace_client(addr: SocketAddr) -> WorkspaceClient {
    saas_proto::workspace::v1::workspace_service_client::WorkspaceServiceClient::with_interceptor(
        channel(addr).await,
        credential(),
    )
}

/// The Identity data service running in this process.
pub struct IdentityService {
    /// Where it listens.
    pub addr: SocketAddr,
    /// Its clock; tests move it.
    pub clock: Arc<ManualClock>,
    /// Its database (kept alive as long as the service).
    pub database: Arc<TestDatabase>,
    /// Its store (for the store's test-only fault hooks).
    pub store: identity_data::UserStore,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl IdentityService {
    /// Starts the service on port 0 over a fresh database.
    pub async fn spawn() -> IdentityService {
        Self::spawn_on(Arc::new(TestDatabase::fresh().await)).await
    }

    /// Starts the service on port 0 over `database` (several services may share one).
    pub async fn spawn_on(database: Arc<TestDatabase>) -> IdentityService {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let store = identity_data::open(
            &database.url,
            platform::db::PoolSize { max: 5 },
            clock.clone(),
        )
        .await
        .expect("open identity store");
        let hasher = identity_data::Argon2Hasher::new(identity_data::Argon2Params::INSECURE_FAST)
            .expect("hasher");
        let server = GrpcServer::new(ServerConfig::new(
            SERVICE_TOKEN,
            vec![saas_proto::FILE_DESCRIPTOR_SET],
        ))
        .add_service(identity_data::user_service(store.clone(), Arc::new(hasher)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = server
                .serve(listener, async {
                    let _ = signal.await;
                })
                .await;
        });
        IdentityService {
            addr,
            clock,
            database,
            store,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// A client with the service credential.
    pub async fn client(&self) -> UserClient {
        user_client(self.addr, SERVICE_TOKEN).await
    }

    /// Stops serving and waits for calls in flight.
    pub async fn stop(mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for IdentityService {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// Typed clients of the Workspace and Billing services with the service credential.
pub type WorkspaceClient =
    saas_proto::workspace::v1::workspace_service_client::WorkspaceServiceClient<
        InterceptedService<Channel, ServiceCredential>,
    >;
/// See [`WorkspaceClient`].
pub type SubscriptionClient =
    saas_proto::billing::v1::subscription_service_client::SubscriptionServiceClient<
        InterceptedService<Channel, ServiceCredential>,
    >;
/// See [`WorkspaceClient`].
pub type FeedClient = saas_proto::notifications::v1::feed_service_client::FeedServiceClient<
    InterceptedService<Channel, ServiceCredential>,
>;

async fn channel(addr: SocketAddr) -> Channel {
    Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect to the service")
}

fn credential() -> ServiceCredential {
    ServiceCredential::new(SERVICE_TOKEN).expect("token is header text")
}

/// Every data service in this process on one port, as `saas serve` runs them: each context
/// on a fresh database of its own, all on one manual clock.
pub struct DataServices {
    /// Where they listen.
    pub addr: SocketAddr,
    /// The shared clock; tests move it.
    pub clock: Arc<ManualClock>,
    /// The Identity store (e.g. to relay its outbox).
    pub users: identity_data::UserStore,
    /// The Workspace store, for running its due-work sweep on demand.
    pub workspaces: workspace_data::WorkspaceStore,
    /// The Billing store, for running its due-work sweep on demand.
    pub subscriptions: billing_data::SubscriptionStore,
    /// The Notifications store, for running its due-work sweep on demand.
    pub feeds: notifications_data::FeedStore,
    /// The databases, kept alive as long as the services: identity, workspace, billing,
    /// notifications.
    pub databases: [Arc<TestDatabase>; 4],
    /// Every call the services received, to count what a request costs.
    pub calls: CallLog,
    shutdown: Option<oneshot::Sender<()>>,
}

/// The calls a harness's data services received: each call's gRPC path and the
/// `x-request-id` it carried (the correlation id of the HTTP request that caused it).
#[derive(Clone, Default)]
pub struct CallLog(Arc<std::sync::Mutex<Vec<(String, String)>>>);

impl CallLog {
    fn record(&self, path: &str, request_id: &str) {
        if let Ok(mut calls) = self.0.lock() {
            calls.push((path.to_owned(), request_id.to_owned()));
        }
    }

    /// The paths (`/saas.workspace.v1.WorkspaceService/GetWorkspace`) of the calls that
    /// carried `request_id`, in the order they arrived.
    pub fn paths_with(&self, request_id: &str) -> Vec<String> {
        self.0
            .lock()
            .map(|calls| {
                calls
                    .iter()
                    .filter(|(_, id)| id == request_id)
                    .map(|(path, _)| path.clone())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// A data service that records each call in a [`CallLog`] before serving it.
#[derive(Clone)]
struct Logged<S> {
    inner: S,
    log: CallLog,
}

impl<S: tonic::server::NamedService> tonic::server::NamedService for Logged<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> tonic::codegen::Service<tonic::codegen::http::Request<B>> for Logged<S>
where
    S: tonic::codegen::Service<tonic::codegen::http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: tonic::codegen::http::Request<B>) -> Self::Future {
        let request_id = request
            .headers()
            .get(adapters_app::grpc::REQUEST_ID_METADATA)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default();
        self.log.record(request.uri().path(), request_id);
        self.inner.call(request)
    }
}

impl DataServices {
    /// Starts Identity, Workspace, Billing and Notifications on port 0 over fresh databases.
    pub async fn spawn() -> DataServices {
        let databases = [
            Arc::new(TestDatabase::fresh().await),
            Arc::new(TestDatabase::fresh().await),
            Arc::new(TestDatabase::fresh().await),
            Arc::new(TestDatabase::fresh().await),
        ];
        Self::spawn_on(databases).await
    }

    /// Starts the services over the given databases (identity, workspace, billing,
    /// notifications), e.g. to run a second replica on the same databases.
    pub async fn spawn_on(databases: [Arc<TestDatabase>; 4]) -> DataServices {
        let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
        let pool = platform::db::PoolSize { max: 5 };
        let users = identity_data::open(&databases[0].url, pool, clock.clone())
            .await
            .expect("open identity store");
        let workspaces = workspace_data::open(&databases[1].url, pool, clock.clone())
            .await
            .expect("open workspace store");
        let subscriptions = billing_data::open(&databases[2].url, pool, clock.clone())
            .await
            .expect("open billing store");
        let feeds = notifications_data::open(&databases[3].url, pool, clock.clone())
            .await
            .expect("open notifications store");
        let hasher = identity_data::Argon2Hasher::new(identity_data::Argon2Params::INSECURE_FAST)
            .expect("hasher");
        let calls = CallLog::default();
        let server = GrpcServer::new(ServerConfig::new(
            SERVICE_TOKEN,
            vec![saas_proto::FILE_DESCRIPTOR_SET],
        ))
        .add_service(Logged {
            inner: identity_data::user_service(users.clone(), Arc::new(hasher)),
            log: calls.clone(),
        })
        .add_service(Logged {
            inner: workspace_data::workspace_service(workspaces.clone()),
            log: calls.clone(),
        })
        .add_service(Logged {
            inner: billing_data::subscription_service(subscriptions.clone()),
            log: calls.clone(),
        })
        .add_service(Logged {
            inner: notifications_data::feed_service(feeds.clone()),
            log: calls.clone(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        let (shutdown, signal) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = server
                .serve(listener, async {
                    let _ = signal.await;
                })
                .await;
        });
        DataServices {
            addr,
            clock,
            users,
            workspaces,
            subscriptions,
            feeds,
            databases,
            calls,
            shutdown: Some(shutdown),
        }
    }

    /// A `UserService` client.
    pub async fn users(&self) -> UserClient {
        user_client(self.addr, SERVICE_TOKEN).await
    }

    /// A `WorkspaceService` client.
    pub async fn workspaces_client(&self) -> WorkspaceClient {
        saas_proto::workspace::v1::workspace_service_client::WorkspaceServiceClient::with_interceptor(
            channel(self.addr).await,
            credential(),
        )
    }

    /// A `SubscriptionService` client.
    pub async fn subscriptions_client(&self) -> SubscriptionClient {
        saas_proto::billing::v1::subscription_service_client::SubscriptionServiceClient::with_interceptor(
            channel(self.addr).await,
            credential(),
        )
    }

    /// A `FeedService` client.
    pub async fn feeds_client(&self) -> FeedClient {
        saas_proto::notifications::v1::feed_service_client::FeedServiceClient::with_interceptor(
            channel(self.addr).await,
            credential(),
        )
    }
}

impl Drop for DataServices {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}

/// A request carrying the acting user as `x-saas-actor` metadata.
pub fn as_actor<T>(actor: impl std::fmt::Display, message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.metadata_mut().insert(
        platform::rpc::ACTOR_METADATA,
        actor.to_string().parse().expect("a uuid is header text"),
    );
    request
}

/// The `saas` binary built beside the test executable (`cargo test --workspace` and nextest
/// build it), or the one `SAAS_BIN` names.
pub fn saas_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("SAAS_BIN") {
        return PathBuf::from(path);
    }
    let exe = std::env::current_exe().expect("current exe");
    let mut dir = exe.parent().expect("exe dir").to_path_buf();
    // Tests run from `deps/`, examples from `examples/`; the binary is beside both.
    if dir.ends_with("deps") || dir.ends_with("examples") {
        dir.pop();
    }
    let binary = dir.join(format!("saas{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "{} is missing: build it first (cargo build -p saas) or set SAAS_BIN",
        binary.display()
    );
    binary
}

/// The real `saas` binary running as a separate OS process.
pub struct ServerProcess {
    /// Where it listens.
    pub addr: SocketAddr,
    child: tokio::process::Child,
    data_dir: PathBuf,
    owns_dir: bool,
}

impl ServerProcess {
    /// Runs `saas serve <component>` on port 0 with the given database (for whichever
    /// contexts the component hosts).
    pub async fn start(component: &str, database_url: &str) -> ServerProcess {
        Self::start_with(component, database_url, &[]).await
    }

    /// Like [`ServerProcess::start`], with extra environment variables.
    pub async fn start_with(
        component: &str,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let mut process = Self::start_in(temp_dir("proc"), component, database_url, env).await;
        process.owns_dir = true;
        process
    }

    /// Like [`ServerProcess::start_with`], in the given data directory (a restart that must
    /// find the same generated files and in-process event bus); the caller removes it.
    pub async fn start_in(
        data_dir: PathBuf,
        component: &str,
        database_url: &str,
        env: &[(&str, &str)],
    ) -> ServerProcess {
        let mut command = tokio::process::Command::new(saas_binary());
        command
            .arg("serve")
            .arg(component)
            .arg("--data-dir")
            .arg(&data_dir)
            .env("SAAS_GRPC_ADDR", "127.0.0.1:0")
            .env("SAAS_SERVICE_TOKEN", SERVICE_TOKEN)
            .env("SAAS_ARGON2", "m=8,t=1,p=1")
            .env("SAAS_IDENTITY_DATABASE_URL", database_url)
            .env("SAAS_WORKSPACE_DATABASE_URL", database_url)
            .env("SAAS_BILLING_DATABASE_URL", database_url)
            .env("SAAS_NOTIFICATIONS_DATABASE_URL", database_url)
            .env("SAAS_LOG", "warn")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        // A process of the split topology needs NATS, or to say it keeps its events.
        if !env.iter().any(|(key, _)| *key == "SAAS_NATS_URL") {
            command.env("SAAS_BUS", "local");
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn saas");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(Duration::from_secs(60), async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(addr) = line.strip_prefix("grpc listening on ") {
                    return addr.trim().parse::<SocketAddr>().expect("address");
                }
            }
            panic!("saas exited before listening");
        })
        .await
        .expect("saas did not start listening within 60 s");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServerProcess {
            addr,
            child,
            data_dir,
            owns_dir: false,
        }
    }

    /// Its data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The OS process id.
    pub fn pid(&self) -> u32 {
        self.child.id().unwrap_or(0)
    }

    /// Waits for the process to exit and returns its status.
    pub async fn wait(&mut self) -> std::process::ExitStatus {
        self.child.wait().await.expect("wait for saas")
    }

    /// Kills the process at once.
    pub async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        if self.owns_dir {
            std::fs::remove_dir_all(&self.data_dir).ok();
        }
    }
}

/// Sends `signal` (`libc::SIGTERM`, `SIGSTOP`, ...) to a process this test started.
#[allow(unsafe_code)]
pub fn send_signal(pid: u32, signal: i32) {
    assert_ne!(pid, 0, "the process has already been reaped");
    let pid = libc::pid_t::try_from(pid).expect("pid fits pid_t");
    // SAFETY: kill(2) only sends a signal; `pid` is a child the test spawned and has not
    // reaped yet (its handle holds it), so it cannot name an unrelated process.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(
        rc,
        0,
        "kill({pid}, {signal}) failed: {}",
        std::io::Error::last_os_error()
    );
}

/// Sends SIGTERM to a process this test started.
pub fn sigterm(pid: u32) {
    send_signal(pid, libc::SIGTERM);
}

/// Polls `condition` until it holds or `deadline` passes; for waiting on conditions instead
/// of sleeping a fixed time.
pub async fn eventually<F, Fut>(deadline: Duration, mut condition: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + deadline;
    loop {
        if condition().await {
            return true;
        }
        if tokio::time::Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_urls_get_the_test_database_name() {
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1:5432/test", "x"),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            replace_database("postgres://postgres@127.0.0.1/test?sslmode=disable", "x"),
            "postgres://postgres@127.0.0.1/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://h", "x"), "postgres://h/x");
    }
}

/// The JWT signing secret of every harness system.
pub const JWT_SECRET: &[u8] = b"test-jwt-secret-0123456789abcdef-0123456789";

/// How a [`System`] is started.
#[derive(Clone, Default)]
pub struct SystemOptions {
    /// Rate limits; `None` (the default) turns them off.
    pub rate_limits: Option<(
        Arc<dyn edge_app::rate_limit::RateLimiter>,
        edge_app::rate_limit::RateLimits,
    )>,
    /// Edge settings (CORS, body limit, timeout); the defaults when `None`.
    pub edge: Option<edge_app::EdgeConfig>,
    /// A NATS JetStream server to use as the event bus instead of a fresh in-process bus
    /// (give each test a server of its own, [`PrivateNats`]: consumer names are fixed).
    pub nats_url: Option<String>,
}

/// Every role of an event bus, so [`System::bus`] can be either transport.
pub trait AnyBus:
    platform::bus::Publisher + platform::bus::Subscriber + platform::bus::DeadLetters
{
}

impl<T: platform::bus::Publisher + platform::bus::Subscriber + platform::bus::DeadLetters> AnyBus
    for T
{
}

/// A private JetStream server on a free port with its own store directory, for tests that
/// stop the broker or need a bus of their own; killed and removed when dropped.
pub struct PrivateNats {
    port: u16,
    store: PathBuf,
    child: Option<std::process::Child>,
}

impl PrivateNats {
    fn binary() -> String {
        std::env::var("SAAS_TEST_NATS_SERVER").unwrap_or_else(|_| "/usr/sbin/nats-server".into())
    }

    /// Starts one and waits until it accepts connections.
    pub async fn start() -> PrivateNats {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let mut nats = PrivateNats {
            port,
            store: temp_dir("nats"),
            child: None,
        };
        nats.resume().await;
        nats
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Starts it again on the same port and store directory.
    pub async fn resume(&mut self) {
        let child = std::process::Command::new(Self::binary())
            .args([
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-js",
                "-sd",
            ])
            .arg(&self.store)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("nats-server starts (set SAAS_TEST_NATS_SERVER to its path)");
        self.child = Some(child);
        let port = self.port;
        assert!(
            eventually(Duration::from_secs(20), || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            })
            .await,
            "private nats-server did not come up"
        );
    }

    /// Stops it (the broker outage).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for PrivateNats {
    fn drop(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.store).ok();
    }
}

/// The whole system in this process, as `saas serve` runs it: the four data services on
/// one gRPC port over fresh databases, the application services and the HTTP edge on
/// another, all on one manual clock. Mail is kept in memory ([`System::mailer`]). The
/// Identity, Workspace and Billing outboxes are relayed to an in-process bus of the system's
/// own ([`System::bus`], in a temporary directory), and the policies run over it with the
/// edge's ports and mailer.
pub struct System {
    /// The data services (gRPC clients, stores, the clock).
    pub data: DataServices,
    /// Where the HTTP edge listens.
    pub http_addr: SocketAddr,
    /// The mail the application services sent.
    pub mailer: Arc<adapters_app::mail::MemoryMailer>,
    /// The signing keys, to mint tokens in tests.
    pub keys: Arc<access_app::JwtKeys>,
    /// An HTTP client for the edge.
    pub http: reqwest::Client,
    /// The event bus the outboxes are relayed to and the policies consume (its dead letters
    /// are the events a policy parked): in-process, or NATS with [`SystemOptions::nats_url`].
    pub bus: Arc<dyn AnyBus>,
    shutdown: Option<oneshot::Sender<()>>,
    stop_policies: Option<oneshot::Sender<()>>,
    relays: Vec<JoinHandle<()>>,
    bus_dir: PathBuf,
}

impl System {
    /// Starts everything with rate limits off.
    pub async fn spawn() -> System {
        Self::spawn_with(SystemOptions::default()).await
    }

    /// Starts everything with the given options.
    pub async fn spawn_with(options: SystemOptions) -> System {
        let data = DataServices::spawn().await;
        let url = format!("http://{}", data.addr);
        let ports = adapters_app::grpc::DataServices::connect_lazy(
            &url,
            &url,
            &url,
            &url,
            SERVICE_TOKEN,
            Duration::from_secs(10),
        )
        .expect("data service adapters");
        let health = adapters_app::grpc::HealthCheck::connect_lazy(
            &url,
            &url,
            &url,
            &url,
            Duration::from_secs(2),
        )
        .expect("health check");
        let mailer = Arc::new(adapters_app::mail::MemoryMailer::new());
        let bus_dir = temp_dir("bus");
        let bus: Arc<dyn AnyBus> = match &options.nats_url {
            Some(url) => Arc::new(
                platform::bus::nats::NatsBus::connect(url)
                    .await
                    .expect("connect to NATS"),
            ),
            None => Arc::new(
                platform::bus::local::LocalBus::open(&bus_dir.join("bus.db"))
                    .await
                    .expect("open the event bus"),
            ),
        };
        let relays = vec![
            data.users.spawn_relay(bus.clone()),
            data.workspaces.spawn_relay(bus.clone()),
            data.subscriptions.spawn_relay(bus.clone()),
            data.feeds.spawn_relay(bus.clone()),
        ];
        let policies = Arc::new(policies_app::Policies::new(
            ports.users.clone(),
            ports.workspaces.clone(),
            ports.subscriptions.clone(),
            ports.feeds.clone(),
            mailer.clone(),
        ));
        let (stop_policies, policies_stopped) = oneshot::channel::<()>();
        tokio::spawn(policies.run(bus.clone(), async move {
            let _ = policies_stopped.await;
        }));
        let keys = Arc::new(access_app::JwtKeys::from_secret(JWT_SECRET).expect("jwt key"));
        let state = edge_app::assemble::assemble(edge_app::assemble::Parts {
            data: ports,
            mailer: mailer.clone(),
            keys: keys.clone(),
            clock: data.clock.clone(),
            rate_limits: options.rate_limits,
            readiness: Arc::new(health),
            config: options.edge.unwrap_or_default(),
            feed_events: Some(edge_app::feed::FeedEvents {
                subscriber: bus.clone(),
                consumer: edge_app::feed::hub_consumer_name("harness"),
            }),
            redis: None,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let http_addr = listener.local_addr().expect("local addr");
        let (shutdown, signal) = oneshot::channel::<()>();
        tokio::spawn(edge_app::serve(
            listener,
            edge_app::router(state),
            async move {
                let _ = signal.await;
            },
        ));
        System {
            data,
            http_addr,
            mailer,
            keys,
            http: reqwest::Client::new(),
            bus,
            shutdown: Some(shutdown),
            stop_policies: Some(stop_policies),
            relays,
            bus_dir,
        }
    }

    /// The absolute URL of an edge path (`/v1/me`).
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }
}

impl Drop for System {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(stop) = self.stop_policies.take() {
            let _ = stop.send(());
        }
        for relay in &self.relays {
            relay.abort();
        }
        std::fs::remove_dir_all(&self.bus_dir).ok();
    }
}

/// An HTTP answer of the edge: status, headers and the JSON body (`Null` when empty).
#[derive(Debug)]
pub struct Answer {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body as JSON, `Null` when empty or not JSON.
    pub body: serde_json::Value,
}

impl Answer {
    /// The problem `code` of an error answer, or "" when there is none.
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or("")
    }

    /// The `field` of every field error of a problem, in order (empty when there are none).
    pub fn error_fields(&self) -> Vec<&str> {
        self.body["errors"]
            .as_array()
            .map(|errors| errors.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default()
    }

    /// A header as text, or "".
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}

/// A signed-up user with their workspace and tokens.
#[derive(Debug, Clone)]
pub struct Account {
    /// The email they signed up with.
    pub email: String,
    /// Their password.
    pub password: String,
    /// Their user id.
    pub user_id: String,
    /// The workspace sign-up made for them.
    pub workspace_id: String,
    /// A valid access token.
    pub access_token: String,
    /// The refresh token of the same session.
    pub refresh_token: String,
}

/// The password every harness account gets.
pub const PASSWORD: &str = "correct horse battery staple";

impl System {
    /// Sends `method path` with an optional bearer token and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> Answer {
        let mut request = self.http.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("edge answers");
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    /// `GET path` with a token.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// `POST path` with an optional token and a JSON body.
    pub async fn post(&self, path: &str, token: Option<&str>, body: serde_json::Value) -> Answer {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    /// Signs up `email` with a workspace `slug`, then logs in.
    pub async fn sign_up(&self, email: &str, slug: &str) -> Account {
        let answer = self
            .post(
                "/v1/signup",
                None,
                serde_json::json!({
                    "email": email,
                    "password": PASSWORD,
                    "display_name": email.split('@').next().unwrap_or("someone"),
                    "workspace_name": format!("{slug} workspace"),
                    "workspace_slug": slug,
                }),
            )
            .await;
        assert_eq!(answer.status, 201, "sign-up of {email}: {:?}", answer.body);
        let user_id = answer.body["user"]["id"]
            .as_str()
            .expect("user id")
            .to_owned();
        let workspace_id = answer.body["workspace"]["id"]
            .as_str()
            .expect("workspace id")
            .to_owned();
        let (access_token, refresh_token) = self.login(email, PASSWORD).await;
        Account {
            email: email.to_owned(),
            password: PASSWORD.to_owned(),
            user_id,
            workspace_id,
            access_token,
            refresh_token,
        }
    }

    /// Logs in and returns the access and refresh tokens.
    pub async fn login(&self, email: &str, password: &str) -> (String, String) {
        let answer = self
            .post(
                "/v1/auth/login",
                None,
                serde_json::json!({ "email": email, "password": password }),
            )
            .await;
        assert_eq!(answer.status, 200, "login of {email}: {:?}", answer.body);
        (
            answer.body["access_token"]
                .as_str()
                .expect("access")
                .to_owned(),
            answer.body["refresh_token"]
                .as_str()
                .expect("refresh")
                .to_owned(),
        )
    }

    /// Has `owner` invite `email` with `role` ("admin" or "member") to `owner`'s workspace and
    /// returns the mailed token.
    pub async fn invite(&self, owner: &Account, email: &str, role: &str) -> String {
        let answer = self
            .post(
                &format!("/v1/workspaces/{}/invitations", owner.workspace_id),
                Some(&owner.access_token),
                serde_json::json!({ "email": email, "role": role }),
            )
            .await;
        assert_eq!(answer.status, 201, "invite {email}: {:?}", answer.body);
        self.mailer
            .wait_for_mail(
                email,
                ports_app::MailKind::Invitation,
                Duration::from_secs(10),
            )
            .await
            .expect("invitation mail")
            .token
    }

    /// Signs up `email` (with a workspace of their own, `slug`) and makes them a member of
    /// `owner`'s workspace with `role`, by invitation.
    pub async fn join(&self, owner: &Account, email: &str, slug: &str, role: &str) -> Account {
        let token = self.invite(owner, email, role).await;
        let member = self.sign_up(email, slug).await;
        let answer = self
            .post(
                "/v1/invitations/accept",
                Some(&member.access_token),
                serde_json::json!({ "token": token }),
            )
            .await;
        assert_eq!(answer.status, 200, "accept by {email}: {:?}", answer.body);
        member
    }
}

/// Set to `1` (as `.ci/run` does) to make tests that need the `etcd` binary fail instead of
/// skipping when it is not on the PATH.
pub const REQUIRE_ETCD_ENV: &str = "SAAS_TEST_REQUIRE_ETCD";

/// A private etcd on free ports with its own data directory, for tests that stop, restart
/// or wipe it; killed and removed when dropped.
pub struct PrivateEtcd {
    client_port: u16,
    peer_port: u16,
    data: PathBuf,
    child: Option<std::process::Child>,
}

impl PrivateEtcd {
    /// The `etcd` binary on the PATH, if any.
    fn binary() -> Option<PathBuf> {
        let path = std::env::var_os("PATH")?;
        std::env::split_paths(&path)
            .map(|dir| dir.join("etcd"))
            .find(|candidate| candidate.is_file())
    }

    /// Starts one and waits until it answers; `None` (after saying so) when `etcd` is not on
    /// the PATH, unless `SAAS_TEST_REQUIRE_ETCD=1`, which makes that a failure.
    pub async fn start(test: &str) -> Option<PrivateEtcd> {
        if Self::binary().is_none() {
            let required = std::env::var(REQUIRE_ETCD_ENV).is_ok_and(|v| v == "1");
            assert!(
                !required,
                "{test}: etcd is not on the PATH and {REQUIRE_ETCD_ENV}=1"
            );
            eprintln!("skipped {test}: etcd is not on the PATH");
            return None;
        }
        let free_port = || {
            std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port()
        };
        let mut etcd = PrivateEtcd {
            client_port: free_port(),
            peer_port: free_port(),
            data: temp_dir("etcd"),
            child: None,
        };
        etcd.resume().await;
        Some(etcd)
    }

    /// Its client URL.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.client_port)
    }

    /// A client of it.
    pub fn client(&self) -> platform::discovery::etcd::Etcd {
        platform::discovery::etcd::Etcd::connect_lazy(&self.url()).expect("etcd url")
    }

    /// Starts it again on the same ports and data directory, and waits until it answers.
    pub async fn resume(&mut self) {
        let binary = Self::binary().expect("etcd on the PATH");
        let peer = format!("http://127.0.0.1:{}", self.peer_port);
        let child = std::process::Command::new(binary)
            .arg("--name")
            .arg("private")
            .arg("--data-dir")
            .arg(&self.data)
            .args(["--listen-client-urls", &self.url()])
            .args(["--advertise-client-urls", &self.url()])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &format!("private={peer}")])
            .args(["--logger", "zap", "--log-level", "error"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("etcd starts");
        self.child = Some(child);
        let client = self.client();
        assert!(
            eventually(Duration::from_secs(30), || {
                let client = client.clone();
                async move { client.list("/").await.is_ok() }
            })
            .await,
            "private etcd did not come up"
        );
    }

    /// Kills it (the outage); its data directory stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Empties its data directory (stop it first): the next [`PrivateEtcd::resume`] starts
    /// a new cluster that knows no lease and no key.
    pub fn wipe(&mut self) {
        assert!(self.child.is_none(), "stop etcd before wiping its data");
        std::fs::remove_dir_all(&self.data).ok();
        std::fs::create_dir_all(&self.data).expect("recreate the etcd data directory");
    }

    /// The keys under `prefix` with their values, as etcd holds them now.
    pub async fn keys(&self, prefix: &str) -> Vec<(String, String)> {
        let (_, kvs) = self.client().list(prefix).await.expect("list keys");
        kvs.into_iter()
            .map(|kv| {
                (
                    String::from_utf8_lossy(&kv.key).into_owned(),
                    String::from_utf8_lossy(&kv.value).into_owned(),
                )
            })
            .collect()
    }
}

impl Drop for PrivateEtcd {
    fn drop(&mut self) {
        self.stop();
        std::fs::remove_dir_all(&self.data).ok();
    }
}
