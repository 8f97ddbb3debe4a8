//! What the edge holds: the use cases, the rate limiter, the readiness check and its settings.

use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

use access_app::Access;
use account_app::Account;
use async_trait::async_trait;
use http::HeaderValue;
use plan_app::Plans;
use team_app::Team;

use crate::feed::FeedState;
use crate::gate_cache::GateCache;
use crate::rate_limit::{RateLimiter, RateLimits};

/// Whether every component the edge needs can serve (`GET /readyz`).
#[async_trait]
pub trait Readiness: Send + Sync {
    /// `Ok` when ready; otherwise why not (logged, never shown to the caller).
    async fn ready(&self) -> Result<(), String>;
}

/// A readiness check that is always ready (nothing to wait for).
#[derive(Debug, Clone, Copy, Default)]
pub struct AlwaysReady;

#[async_trait]
impl Readiness for AlwaysReady {
    async fn ready(&self) -> Result<(), String> {
        Ok(())
    }
}

/// How the edge behaves at its boundary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeConfig {
    /// Browser origins allowed by CORS, each exactly as a browser sends it
    /// (`https://app.example.com`); none means no CORS headers at all.
    pub cors_origins: Vec<String>,
    /// The largest request body accepted, in bytes; larger is 413.
    pub body_limit: usize,
    /// How long a request may take in all; longer is answered 504 `TIMEOUT`.
    pub request_timeout: Duration,
    /// The time a read and a command may spend on calls to data services: every call's
    /// deadline is what remains of its request's budget.
    pub budgets: adapters_app::grpc::Budgets,
    /// How long a sign-up has to complete before it is undone ([`access_app::Access::sign_up`]).
    pub sign_up_window: Duration,
}

impl EdgeConfig {
    /// 64 KiB.
    pub const DEFAULT_BODY_LIMIT: usize = 64 * 1024;
    /// 10 seconds.
    pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

    /// Checks the settings: every CORS origin must be a valid header value, the body limit
    /// and the timeout must be above zero. The router skips (and logs) an origin it cannot
    /// use, so call this at start-up to refuse bad configuration instead.
    pub fn validate(&self) -> Result<(), String> {
        for origin in &self.cors_origins {
            if origin.is_empty() || HeaderValue::from_str(origin).is_err() || origin == "*" {
                return Err(format!(
                    "CORS origin {origin:?} is not an origin such as https://app.example.com"
                ));
            }
        }
        if self.body_limit == 0 {
            return Err("the body limit must be at least 1 byte".to_owned());
        }
        if self.request_timeout.is_zero() {
            return Err("the request timeout must be above zero".to_owned());
        }
        Ok(())
    }
}

impl Default for EdgeConfig {
    fn default() -> Self {
        EdgeConfig {
            cors_origins: Vec::new(),
            body_limit: Self::DEFAULT_BODY_LIMIT,
            request_timeout: Self::DEFAULT_REQUEST_TIMEOUT,
            budgets: adapters_app::grpc::Budgets::default(),
            sign_up_window: access_app::SIGN_UP_WINDOW,
        }
    }
}

/// Everything the edge's handlers reach.
pub struct Edge {
    pub access: Arc<Access>,
    pub account: Arc<Account>,
    pub team: Arc<Team>,
    pub plans: Arc<Plans>,
    /// The user's feed: the Notifications service, the live hub and the stream tickets.
    pub feed: FeedState,
    /// What the tenancy gate remembers of memberships (at most 1 s).
    pub gate: GateCache,
    /// The limiter and its quotas; `None` turns rate limits off.
    pub rate_limits: Option<(Arc<dyn RateLimiter>, RateLimits)>,
    pub readiness: Arc<dyn Readiness>,
    pub config: EdgeConfig,
}

/// The router's state: a cheap handle on one [`Edge`].
#[derive(Clone)]
pub struct EdgeState(Arc<Edge>);

impl EdgeState {
    pub fn new(edge: Edge) -> Self {
        EdgeState(Arc::new(edge))
    }
}

impl From<Edge> for EdgeState {
    fn from(edge: Edge) -> Self {
        EdgeState::new(edge)
    }
}

impl Deref for EdgeState {
    type Target = Edge;

    fn deref(&self) -> &Edge {
        &self.0
    }
}
