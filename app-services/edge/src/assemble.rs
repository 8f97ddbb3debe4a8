//! The composition root of the application layer: ports in, a ready [`EdgeState`] out. The
//! launcher (`saas serve`, `saas serve edge`) and the integration harness both build the edge
//! here, so they run the same wiring.

use std::sync::Arc;

use access_app::{Access, JwtKeys};
use account_app::Account;
use adapters_app::grpc::{DataServices, HealthCheck};
use async_trait::async_trait;
use kernel_domain::Clock;
use plan_app::Plans;
use ports_app::Mailer;
use team_app::Team;

use crate::feed::{FeedEvents, FeedState, TicketStore};
use crate::gate_cache::GateCache;
use crate::rate_limit::{RateLimiter, RateLimits};
use crate::redis_link::RedisLink;
use crate::{Edge, EdgeConfig, EdgeState, Readiness};

/// Everything the application layer is made from.
pub struct Parts {
    /// The data services (gRPC adapters, or mocks in unit tests).
    pub data: DataServices,
    pub mailer: Arc<dyn Mailer>,
    pub keys: Arc<JwtKeys>,
    pub clock: Arc<dyn Clock>,
    /// `None` turns rate limits off.
    pub rate_limits: Option<(Arc<dyn RateLimiter>, RateLimits)>,
    pub readiness: Arc<dyn Readiness>,
    pub config: EdgeConfig,
    /// The bus the live feed reads appended entries from, with this edge's consumer name;
    /// `None` serves feed streams without live entries (replay only).
    pub feed_events: Option<FeedEvents>,
    /// The Redis the edge replicas share (`SAAS_REDIS_URL`): stream tickets and the tenancy
    /// gate's cache live there; `None` keeps both in this process.
    pub redis: Option<RedisLink>,
}

/// Builds the use cases over the ports and the edge over the use cases, and starts the live
/// feed's hub on the current runtime when `feed_events` is given (it stops once the edge is
/// dropped or [`crate::feed::FeedHub::close`]d).
pub fn assemble(parts: Parts) -> EdgeState {
    let Parts {
        data,
        mailer,
        keys,
        clock,
        rate_limits,
        readiness,
        config,
        feed_events,
        redis,
    } = parts;
    let DataServices {
        users,
        workspaces,
        subscriptions,
        feeds,
        calls: _,
    } = data;
    let mut feed = FeedState::new(feeds);
    if let Some(events) = feed_events {
        feed.hub.start(events);
    }
    let gate = match redis {
        Some(link) => {
            feed.tickets = TicketStore::redis(link.clone());
            GateCache::redis(link)
        }
        None => GateCache::memory(),
    };
    EdgeState::new(Edge {
        access: Arc::new(
            Access::new(
                users.clone(),
                workspaces.clone(),
                subscriptions.clone(),
                keys,
                clock,
            )
            .with_sign_up_window(config.sign_up_window),
        ),
        account: Arc::new(Account::new(
            users.clone(),
            workspaces.clone(),
            mailer.clone(),
        )),
        team: Arc::new(Team::new(users, workspaces.clone(), mailer)),
        plans: Arc::new(Plans::new(workspaces, subscriptions)),
        feed,
        gate,
        rate_limits,
        readiness,
        config,
    })
}

#[async_trait]
impl Readiness for HealthCheck {
    async fn ready(&self) -> Result<(), String> {
        HealthCheck::ready(self).await
    }
}
