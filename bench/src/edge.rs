//! The embedded system in this process, as `saas serve` runs it: the data services on one
//! gRPC server over fresh SQLite files (reached by the edge in process, `platform::local`),
//! the application services and the HTTP edge over them (rate limits off), and the figures
//! measured through its HTTP API.
//!
//! - **P4.read / P4.read.p50**: `GET /v1/me` (the edge checks the access token, then one
//!   `GetUser` through the application service and the Identity data service) as users drawn
//!   uniformly from the fixture's (10,000 in a full run), 64 in flight
//!   over a pool of HTTP/1.1 keep-alive connections, against an E0 measured right before it
//!   at the same concurrency that echoes as many bytes as the answer's JSON body. Every
//!   answer must be 200: a failure anywhere in the run (warm-up included) fails the figure.
//! - **P7.errors / P7.connections**: 1,000 `GET /v1/me` at once on a freshly started system,
//!   each on a connection of its own: every connection is opened first, then all requests
//!   are released together. Errors are answers other than 200 and transport failures; the
//!   connections are the most the Identity store's pool held while the burst ran (sampled
//!   every millisecond), against the pool's maximum.

use std::{
    net::SocketAddr,
    path::Path,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use access_app::JwtKeys;
use adapters_app::{
    grpc::{DataServices, HealthCheck, PeerChannels},
    mail::MemoryMailer,
};
use edge_app::{
    EdgeConfig,
    assemble::{Parts, assemble},
};
use platform::{db::PoolSize, server::GrpcServer};
use sea_orm::{DatabaseConnection, DbBackend};
use tokio::{
    io::{AsyncReadExt as _, AsyncWriteExt as _},
    sync::{Barrier, oneshot},
    task::JoinHandle,
};

use crate::{
    BoxError,
    drive::{Plan, Sample, drive},
    services::{self, Served},
};

/// The access-token signing secret of the embedded edge.
const JWT_SECRET: &[u8] = b"saas-bench-jwt-secret-0123456789abcdef-0123456789abcdef";
/// How long one call of the edge to a data service may take (the launcher's setting).
const DATA_SERVICE_DEADLINE: Duration = Duration::from_secs(5);
/// How long a readiness probe may take (the launcher's setting).
const PROBE_DEADLINE: Duration = Duration::from_secs(1);
/// How often the launcher's sweepers look for due work (its default).
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);
/// How long the benchmark waits for anything the system should do at once.
const PATIENCE: Duration = Duration::from_secs(30);

/// The whole system running in this process, with one registered user.
pub struct System {
    /// Where the HTTP edge listens.
    pub http_addr: SocketAddr,
    /// The registered user's id (the first of `users`).
    pub user_id: uuid::Uuid,
    /// Every registered user's id.
    pub users: Vec<uuid::Uuid>,
    keys: Arc<JwtKeys>,
    identity_db: DatabaseConnection,
    other_dbs: Vec<DatabaseConnection>,
    background: Vec<JoinHandle<()>>,
    grpc: Served,
    edge_shutdown: oneshot::Sender<()>,
    edge: JoinHandle<std::io::Result<()>>,
}

impl System {
    /// Starts the data services on fresh SQLite files `<dir>/<name>-{identity,workspace,
    /// billing,notifications}.db` (default pools, system clock, cheap password hashing for the
    /// fixture), the edge over them with rate limits off, registers `fixture_users` users (at least
    /// one) and waits until `/readyz` answers 200.
    pub async fn start(dir: &Path, name: &str, fixture_users: usize) -> Result<System, BoxError> {
        let url = |context: &str| {
            format!(
                "sqlite://{}",
                dir.join(format!("{name}-{context}.db")).display()
            )
        };
        let clock: Arc<dyn kernel_domain::Clock> = Arc::new(platform::SystemClock);
        let pool = PoolSize::default();
        let users = identity_data::open(&url("identity"), pool, clock.clone()).await?;
        let workspaces = workspace_data::open(&url("workspace"), pool, clock.clone()).await?;
        let subscriptions = billing_data::open(&url("billing"), pool, clock.clone()).await?;
        let feeds = notifications_data::open(&url("notifications"), pool, clock.clone()).await?;
        let identity_db = users.db().clone();
        let other_dbs = vec![
            workspaces.db().clone(),
            subscriptions.db().clone(),
            feeds.db().clone(),
        ];
        let background = vec![
            users.spawn_idempotency_purge(),
            workspaces.spawn_idempotency_purge(),
            workspaces.spawn_sweeper(SWEEP_INTERVAL),
            subscriptions.spawn_idempotency_purge(),
            subscriptions.spawn_sweeper(SWEEP_INTERVAL),
            feeds.spawn_idempotency_purge(),
            feeds.spawn_sweeper(SWEEP_INTERVAL),
        ];
        let hasher = identity_data::Argon2Hasher::new(identity_data::Argon2Params::INSECURE_FAST)?;
        // The edge reaches the data services in process, as `saas serve` wires it.
        let (dialer, local) = platform::local::pipe();
        let grpc = Served::start_with_local(
            GrpcServer::new(services::server_config())
                .add_service(identity_data::user_service(users, Arc::new(hasher)))
                .add_service(workspace_data::workspace_service(workspaces))
                .add_service(billing_data::subscription_service(subscriptions))
                .add_service(notifications_data::feed_service(feeds)),
            Some(local),
        )
        .await?;

        let client = services::user_client(grpc.addr).await?;
        let registered = services::register_users(&client, fixture_users.max(1)).await?;
        let users = registered
            .iter()
            .map(|user| uuid::Uuid::try_parse(&user.id))
            .collect::<Result<Vec<_>, _>>()?;
        let user_id = *users.first().ok_or("no user was registered")?;

        let channel = dialer.channel();
        let channels = PeerChannels {
            identity: channel.clone(),
            workspace: channel.clone(),
            billing: channel.clone(),
            notifications: channel,
        };
        let data =
            DataServices::with_channels(&channels, services::SERVICE_TOKEN, DATA_SERVICE_DEADLINE)?;
        let health = HealthCheck::with_channels(&channels, PROBE_DEADLINE);
        let keys = Arc::new(JwtKeys::from_secret(JWT_SECRET)?);
        let state = assemble(Parts {
            data,
            mailer: Arc::new(MemoryMailer::new()),
            keys: keys.clone(),
            clock,
            rate_limits: None,
            readiness: Arc::new(health),
            config: EdgeConfig::default(),
            feed_events: None,
            redis: None,
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let http_addr = listener.local_addr()?;
        let (edge_shutdown, signal) = oneshot::channel::<()>();
        let edge = tokio::spawn(edge_app::serve(
            listener,
            edge_app::router(state),
            async move {
                let _ = signal.await;
            },
        ));
        let system = System {
            http_addr,
            user_id,
            users,
            keys,
            identity_db,
            other_dbs,
            background,
            grpc,
            edge_shutdown,
            edge,
        };
        system.wait_ready().await?;
        Ok(system)
    }

    /// The absolute URL of an edge path.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http_addr)
    }

    /// A fresh access token of the first registered user (a new session id; the edge checks
    /// only the token).
    pub fn access_token(&self) -> Result<String, BoxError> {
        self.access_token_of(self.user_id)
    }

    /// A fresh access token of `user`.
    pub fn access_token_of(&self, user: uuid::Uuid) -> Result<String, BoxError> {
        let (token, _) = self
            .keys
            .issue_access(user, uuid::Uuid::now_v7(), chrono::Utc::now())
            .map_err(|e| format!("cannot issue an access token: {e}"))?;
        Ok(token)
    }

    /// The Identity store's connection pool (SQLite here).
    pub fn identity_pool(&self) -> Result<&sqlx::SqlitePool, BoxError> {
        if self.identity_db.get_database_backend() != DbBackend::Sqlite {
            return Err("the Identity store is not on SQLite".into());
        }
        Ok(self.identity_db.get_sqlite_connection_pool())
    }

    async fn wait_ready(&self) -> Result<(), BoxError> {
        let client = reqwest::Client::new();
        let url = self.url("/readyz");
        let deadline = Instant::now() + PATIENCE;
        loop {
            let answer = client.get(&url).send().await;
            if let Ok(answer) = &answer
                && answer.status() == reqwest::StatusCode::OK
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "the embedded edge is not ready after {PATIENCE:?}: {answer:?}"
                )
                .into());
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the edge (finishing its requests), then the data services, then closes the
    /// pools.
    pub async fn stop(self) -> Result<(), BoxError> {
        let _ = self.edge_shutdown.send(());
        self.edge.await??;
        for task in &self.background {
            task.abort();
        }
        self.grpc.stop().await?;
        self.identity_db.close().await?;
        for db in self.other_dbs {
            db.close().await?;
        }
        Ok(())
    }
}

/// P4's load: `GET /v1/me` at `plan.concurrency` in flight, each request as a user drawn
/// uniformly from the registered ones (a token each, issued before the run). Returns the
/// sample and the number of requests that failed at any time during the run.
pub async fn read_me(system: &System, plan: Plan) -> Result<(Sample, u64), BoxError> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(plan.concurrency)
        .tcp_nodelay(true)
        .build()?;
    let url = reqwest::Url::parse(&system.url("/v1/me"))?;
    let authorizations = system
        .users
        .iter()
        .map(|user| Ok(format!("Bearer {}", system.access_token_of(*user)?)))
        .collect::<Result<Vec<String>, BoxError>>()?;
    let authorizations = Arc::new(authorizations);
    let failures = Arc::new(AtomicU64::new(0));
    let counted = failures.clone();
    let sample = drive("P4 GET /v1/me", plan, move |_, _| {
        let index = services::uniform(authorizations.len());
        let authorization = authorizations.get(index).cloned().unwrap_or_default();
        let request = client
            .get(url.clone())
            .header(reqwest::header::AUTHORIZATION, authorization);
        let failures = counted.clone();
        async move {
            let outcome = ok_body(request).await.map(|_| ());
            if outcome.is_err() {
                failures.fetch_add(1, Ordering::Relaxed);
            }
            outcome
        }
    })
    .await?;
    Ok((sample, failures.load(Ordering::Relaxed)))
}

/// The encoded length of the JSON body `GET /v1/me` answers (what E0 echoes for P4).
pub async fn me_body_len(system: &System) -> Result<usize, BoxError> {
    let request = reqwest::Client::new()
        .get(system.url("/v1/me"))
        .bearer_auth(system.access_token()?);
    Ok(ok_body(request).await?.len())
}

/// Sends `request` and reads the whole body; anything but 200 is an error naming the
/// status and the start of the body.
async fn ok_body(request: reqwest::RequestBuilder) -> Result<Vec<u8>, String> {
    let answer = request.send().await.map_err(|e| e.to_string())?;
    let status = answer.status();
    let body = answer.bytes().await.map_err(|e| e.to_string())?;
    if status != reqwest::StatusCode::OK {
        let start: String = String::from_utf8_lossy(&body).chars().take(200).collect();
        return Err(format!("{status}: {start}"));
    }
    Ok(body.to_vec())
}

/// What the burst of P7 found.
#[derive(Debug)]
pub struct Burst {
    /// Requests sent.
    pub requests: usize,
    /// Answers other than 200, and requests that failed in transport.
    pub errors: u64,
    /// The most connections the Identity store's pool held during the burst.
    pub peak_connections: u32,
    /// The pool's maximum.
    pub max_connections: u32,
}

/// P7: `requests` concurrent `GET /v1/me`, each on a connection of its own. Every connection
/// is opened before any request is written; then all are released at once.
pub async fn burst(system: &System, requests: usize) -> Result<Burst, BoxError> {
    let pool = system.identity_pool()?.clone();
    let max_connections = pool.options().get_max_connections();
    tracing::info!(
        "P7: the Identity pool holds {} of at most {max_connections} connections before the burst",
        pool.size()
    );
    let addr = system.http_addr;
    let request: Arc<[u8]> = format!(
        "GET /v1/me HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {}\r\n\
         Connection: close\r\n\r\n",
        system.access_token()?
    )
    .into_bytes()
    .into();

    let stop = Arc::new(AtomicBool::new(false));
    let sampler = {
        let stop = stop.clone();
        let pool = pool.clone();
        tokio::spawn(async move {
            let mut peak = pool.size();
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_millis(1)).await;
                peak = peak.max(pool.size());
            }
            peak.max(pool.size())
        })
    };

    let barrier = Arc::new(Barrier::new(requests));
    let sent = Arc::new(AtomicUsize::new(0));
    let sent_at_first_answer = Arc::new(AtomicUsize::new(usize::MAX));
    let began = Instant::now();
    let tasks: Vec<JoinHandle<Result<(), String>>> = (0..requests)
        .map(|_| {
            let barrier = barrier.clone();
            let request = request.clone();
            let sent = sent.clone();
            let sent_at_first_answer = sent_at_first_answer.clone();
            tokio::spawn(async move {
                let connected = tokio::net::TcpStream::connect(addr).await;
                // Every task reaches the barrier exactly once, connected or not.
                barrier.wait().await;
                let mut stream = connected.map_err(|e| format!("connect: {e}"))?;
                stream.set_nodelay(true).map_err(|e| e.to_string())?;
                let exchange = async {
                    stream.write_all(&request).await?;
                    sent.fetch_add(1, Ordering::Relaxed);
                    let mut answer = Vec::new();
                    stream.read_to_end(&mut answer).await?;
                    Ok::<_, std::io::Error>(answer)
                };
                let answer = tokio::time::timeout(PATIENCE, exchange)
                    .await
                    .map_err(|_| format!("no answer within {PATIENCE:?}"))?
                    .map_err(|e| e.to_string())?;
                let _ = sent_at_first_answer.compare_exchange(
                    usize::MAX,
                    sent.load(Ordering::Relaxed),
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                );
                match status_code(&answer) {
                    Some(200) => Ok(()),
                    Some(status) => Err(format!(
                        "status {status}: {}",
                        String::from_utf8_lossy(&answer)
                            .chars()
                            .take(300)
                            .collect::<String>()
                    )),
                    None => Err(format!("not an HTTP answer ({} bytes)", answer.len())),
                }
            })
        })
        .collect();
    let mut errors = 0u64;
    let mut first_error = None;
    for task in tasks {
        if let Err(e) = task.await? {
            errors += 1;
            first_error.get_or_insert(e);
        }
    }
    let elapsed = began.elapsed();
    stop.store(true, Ordering::Relaxed);
    let peak_connections = sampler.await?;
    if let Some(e) = first_error {
        tracing::warn!("P7: {errors} of {requests} requests failed, the first with: {e}");
    }
    tracing::info!(
        "P7: {requests} requests in {:.3} s ({} written before the first answer came back); \
         the Identity pool held at most {peak_connections} of {max_connections} connections",
        elapsed.as_secs_f64(),
        match sent_at_first_answer.load(Ordering::Relaxed) {
            usize::MAX => "none".to_owned(),
            n => n.to_string(),
        }
    );
    Ok(Burst {
        requests,
        errors,
        peak_connections,
        max_connections,
    })
}

/// The status code of a raw HTTP/1.1 answer (`HTTP/1.1 200 OK\r\n...`).
fn status_code(answer: &[u8]) -> Option<u16> {
    let line = answer.split(|&b| b == b'\r').next()?;
    let line = std::str::from_utf8(line).ok()?;
    let mut parts = line.split(' ');
    parts.next().filter(|v| v.starts_with("HTTP/1."))?;
    parts.next()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_read_from_the_status_line() {
        assert_eq!(
            status_code(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}"),
            Some(200)
        );
        assert_eq!(
            status_code(b"HTTP/1.1 503 Service Unavailable\r\n\r\n"),
            Some(503)
        );
        assert_eq!(
            status_code(b"HTTP/1.0 429 Too Many Requests\r\n\r\n"),
            Some(429)
        );
        assert_eq!(status_code(b""), None);
        assert_eq!(status_code(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(status_code(b"HTTP/1.1 abc\r\n"), None);
    }
}
