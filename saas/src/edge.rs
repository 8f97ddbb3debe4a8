//! The edge component: the application services and the HTTP API over the data services,
//! and the policies (the asynchronous work driven by events) over the same ports.

use std::{
    sync::{Arc, atomic::Ordering},
    time::Duration,
};

use access_app::JwtKeys;
use adapters_app::{
    grpc::{DataServices, HealthCheck, PeerChannels, resilience::Resilience},
    mail::{FileMailer, SmtpMailer},
};
use edge_app::{
    EdgeConfig,
    assemble::{Parts, assemble},
    feed::{FeedEvents, FeedHub, hub_consumer_name, hub_instance},
    rate_limit::{MemoryRateLimiter, RateLimiter, RedisRateLimiter},
    redis_link::RedisLink,
};
use kernel_domain::Clock;
use platform::bus::Subscriber;
use policies_app::Policies;
use ports_app::Mailer;

use crate::config::Config;

/// How long one call to a data service may take.
const DATA_SERVICE_DEADLINE: Duration = Duration::from_secs(5);
/// How long a readiness probe may take.
const PROBE_DEADLINE: Duration = Duration::from_secs(1);

/// A bound HTTP listener with its router, and the policies, ready to run.
pub struct Prepared {
    listener: tokio::net::TcpListener,
    router: axum::Router,
    policies: Arc<Policies>,
    feed_hub: Arc<FeedHub>,
    calls: [(&'static str, Arc<Resilience>); 4],
}

/// Builds the application layer and binds the HTTP port. `embedded` (every data service in
/// this process) lets a missing `SAAS_JWT_KEY_FILE` be generated into the data directory;
/// an edge of the split topology must be given the key its replicas share. The live feed
/// reads appended entries from `events` through one consumer per edge process, named after
/// the host (`HOSTNAME`, else the kernel's host name), the bound HTTP port and a random
/// suffix drawn at start.
pub async fn prepare(
    config: &Config,
    service_token: &str,
    peers: PeerChannels,
    embedded: bool,
    clock: Arc<dyn Clock>,
    events: Arc<dyn Subscriber>,
) -> Result<Prepared, String> {
    let keys = match (&config.jwt_key_file, embedded) {
        (Some(path), _) => {
            JwtKeys::load(path).map_err(|e| format!("SAAS_JWT_KEY_FILE {}: {e}", path.display()))?
        }
        (None, true) => {
            let path = config.data_dir.join("jwt-key");
            let keys = JwtKeys::load_or_generate(&path)
                .map_err(|e| format!("cannot read or create {}: {e}", path.display()))?;
            println!("jwt key: {}", path.display());
            keys
        }
        (None, false) => {
            return Err(
                "SAAS_JWT_KEY_FILE is required when the edge runs apart from the data services \
                 (every edge replica must share one key)"
                    .to_owned(),
            );
        }
    };
    let data = DataServices::with_policy(
        &peers,
        service_token,
        DATA_SERVICE_DEADLINE,
        config.calls.calls,
    )
    .map_err(|e| format!("data services: {e}"))?;
    let calls = data.calls.clone();
    let health = HealthCheck::with_channels(&peers, PROBE_DEADLINE);
    let mailer: Arc<dyn Mailer> = match &config.smtp_url {
        Some(url) => Arc::new(SmtpMailer::new(url).map_err(|e| format!("SAAS_SMTP_URL: {e}"))?),
        None => Arc::new(FileMailer::new(config.data_dir.join("mail"))),
    };
    let redis = match &config.redis_url {
        Some(url) => Some(
            RedisLink::connect(url)
                .await
                .map_err(|e| format!("SAAS_REDIS_URL: {e}"))?,
        ),
        None => None,
    };
    let rate_limits = config.rate_limits.map(|quotas| {
        let limiter: Arc<dyn RateLimiter> = match &redis {
            Some(link) => Arc::new(RedisRateLimiter::new(link.clone())),
            None => Arc::new(MemoryRateLimiter::new()),
        };
        (limiter, quotas)
    });
    let budgets = config.calls.budgets;
    let edge_config = EdgeConfig {
        cors_origins: config.cors_origins.clone(),
        // A budget longer than the request timeout would be cut short by it.
        request_timeout: EdgeConfig::DEFAULT_REQUEST_TIMEOUT
            .max(budgets.read)
            .max(budgets.command),
        budgets,
        sign_up_window: config.sign_up_window,
        ..EdgeConfig::default()
    };
    edge_config
        .validate()
        .map_err(|e| format!("SAAS_CORS_ORIGINS: {e}"))?;
    let policies = Arc::new(Policies::new(
        data.users.clone(),
        data.workspaces.clone(),
        data.subscriptions.clone(),
        data.feeds.clone(),
        mailer.clone(),
    ));
    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", config.http_addr))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    let host = std::env::var("HOSTNAME")
        .ok()
        .filter(|host| !host.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .unwrap_or_default();
    let state = assemble(Parts {
        data,
        mailer,
        keys: Arc::new(keys),
        clock,
        rate_limits,
        readiness: Arc::new(health),
        config: edge_config,
        feed_events: Some(FeedEvents {
            subscriber: events,
            consumer: hub_consumer_name(&hub_instance(host.trim(), bound.port())),
        }),
        redis,
    });
    let feed_hub = state.feed.hub.clone();
    println!("http listening on {bound}");
    tracing::info!(%bound, "serving HTTP");
    Ok(Prepared {
        listener,
        router: edge_app::router(state),
        policies,
        feed_hub,
        calls,
    })
}

impl Prepared {
    /// Serves HTTP and runs the policies over `events` until `shutdown` completes; then
    /// finishes the requests in flight, and after them the events being handled.
    pub async fn serve(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
        events: Arc<dyn Subscriber>,
    ) -> Result<(), String> {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let policies = tokio::spawn(self.policies.run(events, async {
            let _ = stopped.await;
        }));
        // Feed streams never end by themselves: close them when shutdown begins, so the
        // graceful shutdown does not wait for them.
        let feed_hub = self.feed_hub;
        let shutdown = async move {
            shutdown.await;
            feed_hub.close();
        };
        let served = edge_app::serve(self.listener, self.router, shutdown)
            .await
            .map_err(|e| format!("HTTP server failed: {e}"));
        let _ = stop.send(());
        if let Err(e) = policies.await {
            tracing::error!(error = %e, "the policies task failed");
        }
        for (peer, resilience) in &self.calls {
            let counters = resilience.counters();
            tracing::info!(
                target: platform::server::CALLS_LOG_TARGET,
                peer,
                retries = counters.retries.load(Ordering::Relaxed),
                free_retries = counters.free_retries.load(Ordering::Relaxed),
                hedges = counters.hedges.load(Ordering::Relaxed),
                "what this edge's calls took"
            );
        }
        served
    }
}
