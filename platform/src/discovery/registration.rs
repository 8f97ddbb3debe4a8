//! A data service's entry in etcd, kept for as long as the process runs.
//!
//! [`Registration::start`] grants a lease, puts `/saas/services/<context>/<instance id>`
//! on it and keeps the lease alive. Whatever ends that (the keep-alive stream closes, etcd
//! answers that the lease is gone, etcd cannot be reached, etcd restarted on an empty data
//! directory), it grants a new lease and puts the key again, for ever, after a jittered
//! exponential delay capped at a few seconds. It never gives up: a service that silently
//! vanishes from discovery is worse than one that keeps knocking.
//! [`Registration::deregister`] revokes the lease (deleting the key) before the server
//! drains.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use backon::{BackoffBuilder, ExponentialBackoff, ExponentialBuilder};
use tokio::sync::{oneshot, watch};
use tonic::Status;

use super::etcd::{Etcd, KeepAlive, Registered, context_prefix};

/// The lease TTL unless configured otherwise.
pub const DEFAULT_TTL: Duration = Duration::from_secs(10);

/// How long deregistering may wait for etcd at shutdown.
const DEREGISTER_TIMEOUT: Duration = Duration::from_secs(2);

/// Delays between attempts: exponential from `min`, each with up to as much again of
/// random jitter, never above `max` (backon's exponential backoff, without an attempt limit).
#[derive(Debug)]
pub struct RetryDelay {
    min: Duration,
    max: Duration,
    current: ExponentialBackoff,
}

impl RetryDelay {
    /// Delays from `min` up to `max`.
    pub fn new(min: Duration, max: Duration) -> RetryDelay {
        RetryDelay {
            min,
            max,
            current: Self::build(min, max),
        }
    }

    fn build(min: Duration, max: Duration) -> ExponentialBackoff {
        // The jitter adds up to the delay itself, so the base is capped at half of `max`.
        ExponentialBuilder::default()
            .with_min_delay(min)
            .with_max_delay((max / 2).max(min))
            .with_factor(2.0)
            .with_jitter()
            .without_max_times()
            .build()
    }

    /// The next delay.
    pub fn next_delay(&mut self) -> Duration {
        self.current.next().unwrap_or(self.max).min(self.max)
    }

    /// Starts again from the shortest delay (after a success).
    pub fn reset(&mut self) {
        self.current = Self::build(self.min, self.max);
    }
}

/// How a registration behaves.
#[derive(Debug, Clone, Copy)]
pub struct RegistrationConfig {
    /// The lease TTL (whole seconds, at least 1); the lease is refreshed every third of it.
    pub ttl: Duration,
    /// The first delay before registering again after a loss.
    pub retry_min: Duration,
    /// The longest delay between attempts.
    pub retry_max: Duration,
}

impl Default for RegistrationConfig {
    fn default() -> Self {
        RegistrationConfig {
            ttl: DEFAULT_TTL,
            retry_min: Duration::from_millis(200),
            retry_max: Duration::from_secs(3),
        }
    }
}

impl RegistrationConfig {
    fn ttl_secs(&self) -> i64 {
        i64::try_from(self.ttl.as_secs()).unwrap_or(i64::MAX).max(1)
    }

    fn refresh_every(&self) -> Duration {
        Duration::from_secs(self.ttl_secs().unsigned_abs()) / 3
    }
}

/// What a registration needs from the registry; etcd in production, a scripted fake in the
/// unit tests of the retry logic.
#[async_trait]
pub trait Registry: Send + Sync + 'static {
    /// A new lease of `ttl` seconds.
    async fn grant(&self, ttl: i64) -> Result<i64, Status>;
    /// Puts `key` on `lease`.
    async fn put(&self, key: &str, value: Vec<u8>, lease: i64) -> Result<(), Status>;
    /// A stream that refreshes `lease`.
    async fn keep_alive(&self, lease: i64) -> Result<Box<dyn LeaseKeeper>, Status>;
    /// Revokes `lease` (its keys go with it).
    async fn revoke(&self, lease: i64) -> Result<(), Status>;
    /// Deletes `key`.
    async fn delete(&self, key: &str) -> Result<(), Status>;
}

/// Refreshes one lease.
#[async_trait]
pub trait LeaseKeeper: Send {
    /// Refreshes the lease; the remaining TTL in seconds (0 or less: the lease is gone).
    async fn refresh(&mut self) -> Result<i64, Status>;
}

#[async_trait]
impl LeaseKeeper for KeepAlive {
    async fn refresh(&mut self) -> Result<i64, Status> {
        KeepAlive::refresh(self).await
    }
}

#[async_trait]
impl Registry for Etcd {
    async fn grant(&self, ttl: i64) -> Result<i64, Status> {
        Etcd::grant(self, ttl).await
    }
    async fn put(&self, key: &str, value: Vec<u8>, lease: i64) -> Result<(), Status> {
        Etcd::put(self, key, value, lease).await.map(drop)
    }
    async fn keep_alive(&self, lease: i64) -> Result<Box<dyn LeaseKeeper>, Status> {
        Ok(Box::new(Etcd::keep_alive(self, lease).await?))
    }
    async fn revoke(&self, lease: i64) -> Result<(), Status> {
        Etcd::revoke(self, lease).await
    }
    async fn delete(&self, key: &str) -> Result<(), Status> {
        Etcd::delete(self, key).await.map(drop)
    }
}

/// A replica's entry in the registry, re-established whenever it is lost, until
/// [`Registration::deregister`].
pub struct Registration {
    key: String,
    stop: Option<oneshot::Sender<()>>,
    lease: watch::Receiver<Option<i64>>,
    task: tokio::task::JoinHandle<()>,
}

impl Registration {
    /// Registers this process as a replica of `context` that peers dial at `addr`
    /// (`host:port`), under a new instance id. Call inside a Tokio runtime.
    pub fn start(
        registry: Arc<dyn Registry>,
        context: &str,
        addr: &str,
        config: RegistrationConfig,
    ) -> Registration {
        let key = format!("{}{}", context_prefix(context), crate::new_id());
        let value = serde_json::to_vec(&Registered {
            addr: addr.to_owned(),
        })
        .unwrap_or_default();
        let (stop, stopped) = oneshot::channel();
        let (lease_sender, lease) = watch::channel(None);
        let task = tokio::spawn(keep_registered(
            registry,
            key.clone(),
            value,
            config,
            lease_sender,
            stopped,
        ));
        Registration {
            key,
            stop: Some(stop),
            lease,
            task,
        }
    }

    /// The key this replica is registered under.
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The lease the key is on now, `None` while it is being re-established.
    pub fn lease(&self) -> Option<i64> {
        *self.lease.borrow()
    }

    /// A view of the lease for waiting on changes.
    pub fn lease_changes(&self) -> watch::Receiver<Option<i64>> {
        self.lease.clone()
    }

    /// Stops keeping the entry and removes it: revokes the lease, or deletes the key if
    /// that fails, giving etcd a couple of seconds at most (the lease expires anyway).
    pub async fn deregister(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Err(e) = (&mut self.task).await {
            tracing::error!(error = %e, "the registration task failed");
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        if self.stop.is_some() {
            self.task.abort();
        }
    }
}

/// Why a registered session ended.
enum Lost {
    Stopped,
    Failed(String),
}

async fn keep_registered(
    registry: Arc<dyn Registry>,
    key: String,
    value: Vec<u8>,
    config: RegistrationConfig,
    lease: watch::Sender<Option<i64>>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut delay = RetryDelay::new(config.retry_min, config.retry_max);
    loop {
        let outcome = session(
            &*registry,
            &key,
            &value,
            &config,
            &lease,
            &mut delay,
            &mut stopped,
        )
        .await;
        match outcome {
            Lost::Stopped => break,
            Lost::Failed(why) => {
                lease.send_replace(None);
                let wait = delay.next_delay();
                tracing::warn!(%key, %why, retry_in = ?wait, "registration lost; registering again");
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    _ = &mut stopped => break,
                }
            }
        }
    }
    let current = lease.send_replace(None);
    let removed = tokio::time::timeout(DEREGISTER_TIMEOUT, async {
        if let Some(id) = current
            && registry.revoke(id).await.is_ok()
        {
            return Ok(());
        }
        registry.delete(&key).await
    })
    .await;
    match removed {
        Ok(Ok(())) => tracing::info!(%key, "deregistered"),
        Ok(Err(status)) => {
            tracing::warn!(%key, code = ?status.code(), "could not deregister; the lease will expire")
        }
        Err(_) => tracing::warn!(%key, "etcd did not answer in time; the lease will expire"),
    }
}

/// Grants a lease, puts the key and keeps the lease alive until something fails or `stopped`.
async fn session(
    registry: &dyn Registry,
    key: &str,
    value: &[u8],
    config: &RegistrationConfig,
    lease: &watch::Sender<Option<i64>>,
    delay: &mut RetryDelay,
    stopped: &mut oneshot::Receiver<()>,
) -> Lost {
    let established = async {
        let id = registry
            .grant(config.ttl_secs())
            .await
            .map_err(|s| format!("lease grant: {}", s.message()))?;
        if let Err(status) = registry.put(key, value.to_vec(), id).await {
            // Do not leave the lease behind; it would expire anyway.
            let _ = registry.revoke(id).await;
            return Err(format!("put: {}", status.message()));
        }
        let keeper = registry
            .keep_alive(id)
            .await
            .map_err(|s| format!("keep-alive: {}", s.message()))?;
        Ok::<_, String>((id, keeper))
    };
    let (id, mut keeper) = tokio::select! {
        outcome = established => match outcome {
            Ok(established) => established,
            Err(why) => return Lost::Failed(why),
        },
        _ = &mut *stopped => return Lost::Stopped,
    };
    lease.send_replace(Some(id));
    delay.reset();
    tracing::info!(%key, lease = id, "registered");
    let every = config.refresh_every();
    loop {
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            _ = &mut *stopped => return Lost::Stopped,
        }
        let refreshed = tokio::select! {
            refreshed = tokio::time::timeout(every, keeper.refresh()) => refreshed,
            _ = &mut *stopped => return Lost::Stopped,
        };
        match refreshed {
            Ok(Ok(ttl)) if ttl > 0 => {}
            Ok(Ok(_)) => return Lost::Failed("the lease is gone".into()),
            Ok(Err(status)) => return Lost::Failed(format!("keep-alive: {}", status.message())),
            Err(_) => return Lost::Failed("keep-alive unanswered".into()),
        }
    }
}

#[cfg(test)]
mod tests;
