//! `saas`: the launcher.
//!
//! `saas serve` runs every component in one process on SQLite files under the data directory;
//! `saas serve identity` (or `workspace`, `billing`, `notifications`) runs one component
//! alone, on the database its URL names.

mod bus;
mod config;
mod edge;

use std::{path::PathBuf, process::ExitCode, sync::Arc};

use adapters_app::grpc::PeerChannels;
use clap::{Parser, Subcommand, ValueEnum};
use platform::{
    discovery::{self, PeerSource, Registration, RegistrationConfig, etcd::Etcd},
    server::{GrpcServer, ServerConfig},
};

use crate::config::Config;

/// jemalloc, not the C library's allocator: a call allocates and frees many small buffers on
/// every worker thread, and glibc's arenas spent a quarter of a `GET /v1/me` in `malloc`,
/// `free` and their lock (ARCHITECTURE.md, "Profile"). Its settings are built in
/// (`.cargo/config.toml`): a background thread hands freed pages back within about a second,
/// so idle memory stays what it was with glibc (mimalloc, tried first, kept twice as much).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// A multi-tenant SaaS backend: data services over gRPC, an HTTP API at the edge.
///
/// Configuration comes from SAAS_* environment variables over an optional TOML file:
/// SAAS_DATA_DIR (default ./data), SAAS_GRPC_ADDR (default 127.0.0.1:50051),
/// SAAS_IDENTITY_DATABASE_URL, SAAS_WORKSPACE_DATABASE_URL, SAAS_BILLING_DATABASE_URL,
/// SAAS_NOTIFICATIONS_DATABASE_URL (default: a sqlite file per context in the data dir;
/// postgres://... works too),
/// SAAS_SERVICE_TOKEN (default: generated into <data dir>/service-token),
/// SAAS_ARGON2 (argon2id cost, default m=19456,t=2,p=1), SAAS_CONCURRENCY_LIMIT (default 1024),
/// SAAS_DATABASE_POOL (connections per context database in this process, default 8),
/// SAAS_SWEEP_INTERVAL_SECS (how often due work is looked for, default 30),
/// SAAS_LOG (log filter, default info).
///
/// The HTTP edge reads: SAAS_HTTP_ADDR (default 127.0.0.1:8080);
/// SAAS_IDENTITY_URL, SAAS_WORKSPACE_URL, SAAS_BILLING_URL, SAAS_NOTIFICATIONS_URL
/// (where the edge finds a data service it does not host itself: http://host:port, a
/// comma-separated list of them, or dns://host:port for every address the name resolves
/// to, resolved again every SAAS_DNS_REFRESH_SECS, default 5);
/// SAAS_JWT_KEY_FILE (the access-token signing key, shared by every edge replica; required
/// unless all four data services run in the same process, where it defaults to a key
/// generated into <data dir>/jwt-key);
/// SAAS_SIGN_UP_WINDOW_SECS (how long a sign-up has to complete before it is undone,
/// default 120);
/// SAAS_RATE_LIMITS (off, on, or comma-separated name=limit/window entries for ip, user,
/// workspace and auth, like ip=600/60s,auth=20/1m; default on);
/// SAAS_REDIS_URL (keeps rate-limit counts, stream tickets and the tenancy gate's cache in
/// Redis so edge replicas share them; default: in memory); SAAS_SMTP_URL (smtp://host:port relay for outgoing mail; default: .eml files in
/// <data dir>/mail); SAAS_CORS_ORIGINS (comma-separated origins browsers may call from;
/// default none).
///
/// Discovery: SAAS_ETCD_URL (comma-separated http://host:port of an etcd cluster; every data
/// service registers itself under /saas/services/<context>/<instance id> on a lease of
/// SAAS_ETCD_LEASE_TTL_SECS, default 10, and callers find the services they do not host
/// there instead of through their URLs); SAAS_ADVERTISE_ADDR (the host:port peers dial to
/// reach this process; default: the bound gRPC address).
///
/// Calls between services: SAAS_CALLS (comma-separated key=value overrides of the edge's
/// budgets and the balancing, retry, hedge and limit defaults, like read_budget_ms=5000,
/// command_budget_ms=10000,attempt_timeout_ms=2000,attempts=3,
/// retry_ratio=0.2,hedge_ratio=0.05,in_flight=4096,rate=100000,eject_after=5,
/// eject_backoff_ms=1000,eject_max_ms=30000; see the README).
///
/// Events: SAAS_NATS_URL (NATS JetStream for integration events; default: the in-process
/// bus in <data dir>/bus.db, which only `saas serve` of every component may use unless
/// SAAS_BUS=local says so; SAAS_BUS=nats insists on NATS). `saas dead-letters list` and
/// `saas dead-letters redrive` show and replay the events a consumer gave up on.
/// `saas config keys` lists every variable read.
#[derive(Debug, Parser)]
#[command(name = "saas", version, about, long_about)]
struct Cli {
    /// A TOML file with the same settings as the SAAS_* variables, in lower case without the
    /// prefix (data_dir = "...", grpc_addr = "..."); the environment wins.
    #[arg(long, global = true, env = config::CONFIG_FILE_VAR)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the components named (all of them when none is named) until SIGTERM or Ctrl-C.
    Serve {
        /// Components to run; all when omitted.
        #[arg(value_enum)]
        components: Vec<Component>,
        /// Where SQLite files and generated secrets live (overrides SAAS_DATA_DIR).
        #[arg(long)]
        data_dir: Option<PathBuf>,
    },
    /// Shows or replays events a consumer parked after failing on them.
    DeadLetters {
        #[command(subcommand)]
        action: DeadLetterAction,
        /// Where the in-process bus lives (overrides SAAS_DATA_DIR).
        #[arg(long, global = true)]
        data_dir: Option<PathBuf>,
    },
    /// Describes the configuration.
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigAction {
    /// Prints every environment variable the launcher reads, one a line.
    Keys,
}

#[derive(Debug, Subcommand)]
enum DeadLetterAction {
    /// Lists parked events, oldest first: consumer, event id, subject, when, why.
    List,
    /// Delivers parked events to their consumer again.
    Redrive {
        /// Only this consumer's parked events (all consumers' when omitted).
        #[arg(long)]
        consumer: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Component {
    /// The Identity data service (UserService).
    Identity,
    /// The Workspace data service (WorkspaceService).
    Workspace,
    /// The Billing data service (SubscriptionService).
    Billing,
    /// The Notifications data service (FeedService).
    Notifications,
    /// The HTTP edge with the application services; finds the data services it does not
    /// host through etcd (SAAS_ETCD_URL) or SAAS_IDENTITY_URL, SAAS_WORKSPACE_URL,
    /// SAAS_BILLING_URL and SAAS_NOTIFICATIONS_URL.
    Edge,
}

/// The data components and the context names they register under.
const CONTEXTS: [(Component, &str); 4] = [
    (Component::Identity, "identity"),
    (Component::Workspace, "workspace"),
    (Component::Billing, "billing"),
    (Component::Notifications, "notifications"),
];

fn context_of(component: Component) -> &'static str {
    CONTEXTS
        .iter()
        .find(|(c, _)| *c == component)
        .map_or("edge", |(_, name)| name)
}

/// Where peers dial this process: `SAAS_ADVERTISE_ADDR`, else the bound address unless that
/// is every interface (`0.0.0.0`, `::`), which no peer can dial.
fn advertised_addr(
    configured: Option<&str>,
    bound: std::net::SocketAddr,
) -> Result<String, String> {
    match configured {
        Some(addr) => Ok(addr.to_owned()),
        None if bound.ip().is_unspecified() => Err(format!(
            "SAAS_ADVERTISE_ADDR is needed with SAAS_ETCD_URL: the gRPC port listens on {bound}, \
             every interface, which peers cannot dial"
        )),
        None => Ok(bound.to_string()),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve {
                components,
                data_dir,
            } => {
                let config =
                    Config::load(cli.config.as_ref(), data_dir).map_err(|e| e.to_string())?;
                serve(config, components).await
            }
            Command::DeadLetters { action, data_dir } => {
                let config =
                    Config::load(cli.config.as_ref(), data_dir).map_err(|e| e.to_string())?;
                dead_letters(config, action).await
            }
            Command::Config {
                action: ConfigAction::Keys,
            } => {
                for key in config::keys() {
                    println!("{key}");
                }
                Ok(())
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env(config::LOG_VAR)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

async fn dead_letters(config: Config, action: DeadLetterAction) -> Result<(), String> {
    let events = bus::open(&config).await?;
    match action {
        DeadLetterAction::List => {
            let parked = events
                .dead_letters
                .list()
                .await
                .map_err(|e| e.to_string())?;
            for letter in &parked {
                let when = chrono::DateTime::from_timestamp_micros(letter.parked_at)
                    .map(|t| t.to_rfc3339())
                    .unwrap_or_else(|| letter.parked_at.to_string());
                println!(
                    "{}\t{}\t{}\t{}\t{}",
                    letter.consumer, letter.message.id, letter.message.subject, when, letter.reason
                );
            }
            eprintln!("{} parked", parked.len());
        }
        DeadLetterAction::Redrive { consumer } => {
            let count = events
                .dead_letters
                .redrive(consumer.as_deref())
                .await
                .map_err(|e| e.to_string())?;
            println!("redriven: {count}");
        }
    }
    Ok(())
}

async fn serve(config: Config, components: Vec<Component>) -> Result<(), String> {
    let shutdown = platform::server::shutdown_signal();
    let all = components.is_empty();
    let wants = |c: Component| all || components.contains(&c);
    let clock: Arc<dyn kernel_domain::Clock> = Arc::new(platform::SystemClock);
    if config.etcd_url.is_some() && CONTEXTS.iter().any(|(c, _)| wants(*c)) {
        // Checked before anything starts: the address to register must be one peers can dial.
        advertised_addr(config.advertise_addr.as_deref(), config.grpc_addr)?;
    }
    let split = ![
        Component::Identity,
        Component::Workspace,
        Component::Billing,
        Component::Notifications,
        Component::Edge,
    ]
    .into_iter()
    .all(wants);
    let names: Vec<&str> = components.iter().map(|c| context_of(*c)).collect();
    bus::check(&config, split, &names.join(" "))?;
    // Committed outbox rows of every data service hosted here are relayed to this bus.
    let events = bus::open(&config).await?;

    let (token, token_file) =
        platform::server::service_token(config.service_token.as_deref(), &config.data_dir)
            .map_err(|e| {
                format!(
                    "cannot read or create the service token in {}: {e}",
                    config.data_dir.display()
                )
            })?;
    if let Some(path) = &token_file {
        println!("service token: {}", path.display());
    }
    let service_token = token.clone();
    let mut server_config = ServerConfig::new(token, vec![saas_proto::FILE_DESCRIPTOR_SET]);
    server_config.concurrency_limit = config.concurrency_limit;
    let mut server = GrpcServer::new(server_config);
    let pool = platform::db::PoolSize {
        max: config.database_pool,
    };

    if wants(Component::Identity) {
        let url = config.database_url(&config.identity_database_url, "identity");
        let store = identity_data::open(&url, pool, clock.clone())
            .await
            .map_err(|e| format!("identity database: {e}"))?;
        store.spawn_idempotency_purge();
        store.spawn_sweeper(config.sweep_interval);
        store.spawn_relay(events.publisher.clone());
        let hasher = identity_data::Argon2Hasher::new(config.argon2)
            .map_err(|e| format!("SAAS_ARGON2: {e}"))?;
        server = server.add_service(identity_data::user_service(store, Arc::new(hasher)));
    }

    if wants(Component::Workspace) {
        let url = config.database_url(&config.workspace_database_url, "workspace");
        let store = workspace_data::open(&url, pool, clock.clone())
            .await
            .map_err(|e| format!("workspace database: {e}"))?;
        store.spawn_idempotency_purge();
        store.spawn_sweeper(config.sweep_interval);
        store.spawn_relay(events.publisher.clone());
        server = server.add_service(workspace_data::workspace_service(store));
    }

    if wants(Component::Billing) {
        let url = config.database_url(&config.billing_database_url, "billing");
        let store = billing_data::open(&url, pool, clock.clone())
            .await
            .map_err(|e| format!("billing database: {e}"))?;
        store.spawn_idempotency_purge();
        store.spawn_sweeper(config.sweep_interval);
        store.spawn_relay(events.publisher.clone());
        server = server.add_service(billing_data::subscription_service(store));
    }

    // Open watch streams end at shutdown, so the gRPC server can drain.
    let mut feed_watches = None;
    if wants(Component::Notifications) {
        let url = config.database_url(&config.notifications_database_url, "notifications");
        let store = notifications_data::open(&url, pool, clock.clone())
            .await
            .map_err(|e| format!("notifications database: {e}"))?;
        store.spawn_idempotency_purge();
        store.spawn_sweeper(config.sweep_interval);
        store.spawn_relay(events.publisher.clone());
        let api = notifications_data::FeedApi::new(store);
        feed_watches = Some(api.clone());
        server = server.add_service(notifications_data::feed_service_with(api));
    }

    let hosts_data = wants(Component::Identity)
        || wants(Component::Workspace)
        || wants(Component::Billing)
        || wants(Component::Notifications);
    let grpc = if hosts_data {
        let listener = tokio::net::TcpListener::bind(config.grpc_addr)
            .await
            .map_err(|e| format!("cannot listen on {}: {e}", config.grpc_addr))?;
        let bound = listener.local_addr().map_err(|e| e.to_string())?;
        println!("grpc listening on {bound}");
        tracing::info!(%bound, "serving gRPC");
        Some((bound, listener))
    } else {
        None
    };

    // With etcd, every data service hosted here registers itself, and callers find the
    // ones they do not host through it.
    let etcd = config
        .etcd_url
        .as_deref()
        .map(Etcd::connect_lazy)
        .transpose()
        .map_err(|e| format!("SAAS_ETCD_URL: {e}"))?;
    let mut registrations = Vec::new();
    if let (Some(etcd), Some((bound, _))) = (&etcd, &grpc) {
        let addr = advertised_addr(config.advertise_addr.as_deref(), *bound)?;
        let registry: Arc<dyn platform::discovery::registration::Registry> = Arc::new(etcd.clone());
        let registration_config = RegistrationConfig {
            ttl: config.etcd_lease_ttl,
            ..RegistrationConfig::default()
        };
        for (component, context) in CONTEXTS {
            if wants(component) {
                let registration =
                    Registration::start(registry.clone(), context, &addr, registration_config);
                tracing::info!(key = registration.key(), %addr, "registering in etcd");
                registrations.push(registration);
            }
        }
    }

    // The edge calls the data services hosted here straight through their server's stack,
    // with the same client and server stacks as over TCP (`platform::local`).
    let (dialer, local_incoming) = platform::local::pipe();
    let edge = if wants(Component::Edge) {
        let local = grpc.as_ref().map(|_| dialer.channel());
        let peer = |component: Component,
                    configured: &Option<PeerSource>,
                    name: &str|
         -> Result<discovery::PeerChannel, String> {
            let context = context_of(component);
            if wants(component) {
                local
                    .clone()
                    .ok_or_else(|| format!("{name} is not served here"))
            } else if let Some(etcd) = &etcd {
                Ok(discovery::balanced_channel_with(
                    discovery::etcd::watch_endpoints(etcd.clone(), context),
                    config.calls.ejection,
                ))
            } else {
                let source = configured.as_ref().ok_or_else(|| {
                    format!(
                        "{name} is needed by the edge: serve it here, set its URL or SAAS_ETCD_URL"
                    )
                })?;
                Ok(discovery::balanced_channel_with(
                    source.endpoints(config.dns_refresh),
                    config.calls.ejection,
                ))
            }
        };
        let peers = PeerChannels {
            identity: peer(
                Component::Identity,
                &config.identity_url,
                "SAAS_IDENTITY_URL",
            )?,
            workspace: peer(
                Component::Workspace,
                &config.workspace_url,
                "SAAS_WORKSPACE_URL",
            )?,
            billing: peer(Component::Billing, &config.billing_url, "SAAS_BILLING_URL")?,
            notifications: peer(
                Component::Notifications,
                &config.notifications_url,
                "SAAS_NOTIFICATIONS_URL",
            )?,
        };
        let embedded = wants(Component::Identity)
            && wants(Component::Workspace)
            && wants(Component::Billing)
            && wants(Component::Notifications);
        Some(
            edge::prepare(
                &config,
                &service_token,
                peers,
                embedded,
                clock.clone(),
                events.subscriber.clone(),
            )
            .await?,
        )
    } else {
        None
    };

    // SIGTERM first takes this process out of discovery, so no new calls are sent its way.
    let shutdown = async move {
        shutdown.await;
        for registration in registrations {
            registration.deregister().await;
        }
    };

    // Stop order: deregistration, then the edge drains (its requests still need the data services), then
    // the policies finish the events in hand, then the gRPC server drains.
    let (edge_stopped, edge_stopped_rx) = tokio::sync::oneshot::channel::<()>();
    let edge_task = match edge {
        Some(prepared) => {
            let task = tokio::spawn(prepared.serve(shutdown, events.subscriber.clone()));
            tokio::spawn(async move {
                let outcome = task
                    .await
                    .map_err(|e| format!("HTTP server task failed: {e}"))
                    .and_then(|served| served);
                let _ = edge_stopped.send(());
                outcome
            })
        }
        None => tokio::spawn(async move {
            shutdown.await;
            let _ = edge_stopped.send(());
            Ok(())
        }),
    };
    if let Some((_, listener)) = grpc {
        server
            .serve_with_local(listener, Some(local_incoming), async move {
                let _ = edge_stopped_rx.await;
                if let Some(watches) = feed_watches {
                    watches.end_watches();
                }
            })
            .await
            .map_err(|e| format!("gRPC server failed: {e}"))?;
    }
    edge_task
        .await
        .map_err(|e| format!("HTTP server task failed: {e}"))??;
    Ok(())
}
