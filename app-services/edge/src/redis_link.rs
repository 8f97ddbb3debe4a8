//! The edge's one connection to Redis (`SAAS_REDIS_URL`), shared by everything edge
//! replicas keep together: rate-limit counts ([`crate::rate_limit::RedisRateLimiter`]),
//! stream tickets ([`crate::feed::TicketStore`]) and the tenancy gate's cache
//! ([`crate::gate_cache::GateCache`]).
//!
//! [`RedisLink`] is a multiplexed [`ConnectionManager`] (cloning it shares the connection,
//! which reconnects in the background) with short timeouts: a command that gets no answer
//! within 200 ms fails. [`Outage`] is how each user of the link rides out a Redis that is
//! down: after a failure it skips Redis for one second (so requests do not each wait for the
//! timeout), and logs one warning a minute at most, and one line when Redis answers again.
//! What a user does meanwhile is its own decision (rate limits let requests through, the gate
//! reads the workspace, tickets are refused).

use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use redis::Client;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::time::Instant;

/// How long one command may wait for Redis before it counts as failed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_millis(200);
/// How long connecting to Redis may take, per attempt.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// After Redis failed, its users skip it for this long.
const OUTAGE_BACKOFF: Duration = Duration::from_secs(1);
/// At most one warning about a Redis outage is logged per this interval, per user.
const WARN_INTERVAL: Duration = Duration::from_secs(60);

/// The shared connection to Redis; cheap to clone.
#[derive(Clone)]
pub struct RedisLink {
    connection: ConnectionManager,
}

impl std::fmt::Debug for RedisLink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisLink").finish_non_exhaustive()
    }
}

impl RedisLink {
    /// Prepares the connection to the Redis at `url` (e.g. `redis://127.0.0.1:6379`).
    ///
    /// Fails only when `url` cannot be read. A Redis that does not answer yet is not an error:
    /// a warning is logged and the connection is retried in the background. Must be called
    /// inside a Tokio runtime.
    pub async fn connect(url: &str) -> Result<RedisLink, String> {
        let client =
            Client::open(url).map_err(|e| format!("SAAS_REDIS_URL is not a Redis URL: {e}"))?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CONNECT_TIMEOUT))
            .set_response_timeout(Some(COMMAND_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(CONNECT_TIMEOUT);
        let connection = ConnectionManager::new_lazy_with_config(client, config)
            .map_err(|e| format!("cannot set up the Redis connection: {e}"))?;
        let link = RedisLink { connection };
        let mut probe = link.connection();
        let ping_cmd = redis::cmd("PING");
        let ping = ping_cmd.query_async::<String>(&mut probe);
        match tokio::time::timeout(CONNECT_TIMEOUT * 3, ping).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(
                error = %e,
                "Redis does not answer; the edge works without it until it does"
            ),
            Err(_) => {
                tracing::warn!(
                    "Redis did not answer in time; the edge works without it until it does"
                );
            }
        }
        Ok(link)
    }

    /// A handle on the connection for one command.
    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    /// Runs `command` with [`COMMAND_TIMEOUT`]; the error is the cause, for the logs.
    pub async fn run<T>(
        &self,
        command: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, String> {
        match tokio::time::timeout(COMMAND_TIMEOUT, command).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(e)) => Err(e.to_string()),
            Err(_) => Err(format!(
                "no answer within {} ms",
                COMMAND_TIMEOUT.as_millis()
            )),
        }
    }
}

/// What one user of the link knows about a Redis outage.
#[derive(Debug, Default)]
pub struct Outage {
    state: Mutex<OutageState>,
}

#[derive(Debug, Default)]
pub(crate) struct OutageState {
    /// Calls before this instant do not ask Redis.
    pub(crate) skip_until: Option<Instant>,
    /// When the last warning was logged.
    warned_at: Option<Instant>,
    /// Calls that went without Redis since the last warning.
    pub(crate) unlogged: u64,
    /// A warning was logged and Redis has not answered since.
    pub(crate) warned_unresolved: bool,
}

impl Outage {
    pub(crate) fn lock(&self) -> MutexGuard<'_, OutageState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether calls skip Redis now (it failed less than a second ago); a skipped call is
    /// counted for the next warning.
    pub fn skipping(&self, now: Instant) -> bool {
        let mut state = self.lock();
        let skipping = state.skip_until.is_some_and(|until| now < until);
        if skipping {
            state.unlogged = state.unlogged.saturating_add(1);
        }
        skipping
    }

    /// Notes that Redis answered; logs the end of an outage that was warned about, with
    /// `what` saying what works again.
    pub fn answered(&self, what: &str) {
        let mut state = self.lock();
        if state.skip_until.take().is_some() && state.warned_unresolved {
            tracing::info!(
                calls_without_redis = state.unlogged,
                "Redis answers again; {what}"
            );
            state.warned_unresolved = false;
            state.unlogged = 0;
        }
    }

    /// Notes that Redis failed (`error`): calls skip it for a second, and a warning saying
    /// `what` happens meanwhile is logged if none was lately.
    pub fn failed(&self, error: &str, what: &str, now: Instant) {
        let mut state = self.lock();
        state.unlogged = state.unlogged.saturating_add(1);
        state.skip_until = Some(now + OUTAGE_BACKOFF);
        let due = state
            .warned_at
            .is_none_or(|at| now.duration_since(at) >= WARN_INTERVAL);
        if due {
            tracing::warn!(
                error = %error,
                calls_without_redis = state.unlogged,
                "Redis failed; {what}"
            );
            state.warned_at = Some(now);
            state.unlogged = 0;
            state.warned_unresolved = true;
        }
    }
}
