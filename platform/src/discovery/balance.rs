//! Calls spread over the live replicas of a context: [`Balanced`].
//!
//! - **Least outstanding requests among two random choices.** Each call picks two distinct
//!   replicas at random among those not ejected and sends to the one with fewer calls in
//!   flight from this process, counted per replica from the call's start until its response
//!   headers arrive (a stream counts while it opens, not while it runs).
//! - **Ejection.** A replica whose connection is refused is ejected at once; one whose calls
//!   fail at the transport (reset, broken connection, connect timeout) [`EjectionPolicy::
//!   failures`] times in a row is ejected too. An ejected replica gets no calls for a
//!   backoff that doubles with each ejection in a row ([`EjectionPolicy::backoff`] up to
//!   [`EjectionPolicy::max_backoff`]); then it is eligible again and the next call sent to
//!   it is its probe: a success restores it, a failure ejects it for longer. gRPC answers,
//!   refusals and shed load included, are the replica working and never eject it.
//! - **Never nowhere to call.** When every replica is ejected, calls go to all of them
//!   (failing fast is better than waiting); a set that changes keeps the counts and health
//!   of the replicas it keeps.
//!
//! tower's `p2c::Balance` (what tonic's `balance_channel` runs) needs a `Buffer` task that
//! every call passes through, reports no per-replica load through tonic's channel, and keeps
//! a replica whose connection fails; ejection needs each call's outcome. So the pick and the
//! bookkeeping are written here, around one lazily connected tonic [`Channel`] per replica.

use std::{
    error::Error as StdError,
    future::Future,
    io,
    pin::Pin,
    sync::{
        Arc, Mutex, RwLock, Weak,
        atomic::{AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use rand::Rng;
use tokio::time::Instant;
use tonic::transport::Channel;
use tower::{Service, ServiceExt};

use super::{EndpointSet, Endpoints};

/// The error of a balanced call.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// When a replica is taken out of the rotation, and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EjectionPolicy {
    /// Consecutive transport failures that eject a replica (a refused connection ejects at
    /// once).
    pub failures: u32,
    /// How long the first ejection lasts; each further one in a row doubles it.
    pub backoff: Duration,
    /// The longest ejection.
    pub max_backoff: Duration,
}

impl Default for EjectionPolicy {
    /// Five failures in a row; 1 s, doubling up to 30 s: a replica that restarts is probed
    /// again within a second, one that stays down costs one failed probe per 30 s.
    fn default() -> Self {
        EjectionPolicy {
            failures: 5,
            backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(30),
        }
    }
}

impl EjectionPolicy {
    /// How long the `n`-th ejection in a row lasts (n from 0).
    fn backoff_for(&self, n: u32) -> Duration {
        self.backoff
            .saturating_mul(1u32 << n.min(16))
            .min(self.max_backoff)
    }
}

/// No replica is known: the endpoint set is still empty.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("no replica of the service is known yet")]
pub struct NoReplica;

/// How a call ended, for the replica's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Answered,
    Refused,
    Failed,
}

impl Outcome {
    fn of<T>(result: &Result<T, BoxError>) -> Outcome {
        match result {
            Ok(_) => Outcome::Answered,
            Err(error) if refused(error.as_ref()) => Outcome::Refused,
            Err(_) => Outcome::Failed,
        }
    }
}

/// Whether `error` (or one of its sources) is a call that never left the client: a refused
/// connection, or one not opened within the connect timeout (a blackholed replica, whose
/// kernel never answers the SYN), or no replica known.
pub fn refused(error: &(dyn StdError + 'static)) -> bool {
    let mut connecting = false;
    let mut next = Some(error);
    while let Some(error) = next {
        connecting |= error.is::<tonic::ConnectError>();
        if let Some(io) = error.downcast_ref::<io::Error>() {
            match io.kind() {
                io::ErrorKind::ConnectionRefused => return true,
                io::ErrorKind::TimedOut if connecting => return true,
                _ => {}
            }
        }
        if error.is::<NoReplica>() {
            return true;
        }
        next = error.source();
    }
    false
}

#[derive(Debug, Default)]
struct Health {
    failures_in_a_row: u32,
    ejections_in_a_row: u32,
    ejected_until: Option<Instant>,
}

/// One replica: its URL, its service (a lazily connected channel), its calls in flight.
#[derive(Debug)]
struct Replica<S> {
    url: String,
    service: S,
    outstanding: AtomicUsize,
    health: Mutex<Health>,
}

impl<S> Replica<S> {
    fn new(url: String, service: S) -> Self {
        Replica {
            url,
            service,
            outstanding: AtomicUsize::new(0),
            health: Mutex::new(Health::default()),
        }
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        // A panic while holding the lock left plain counters behind: still usable.
        self.health.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn available(&self, now: Instant) -> bool {
        self.health().ejected_until.is_none_or(|until| until <= now)
    }

    fn record(&self, outcome: Outcome, policy: &EjectionPolicy, now: Instant) {
        let mut health = self.health();
        let eject = match outcome {
            Outcome::Answered => {
                *health = Health::default();
                return;
            }
            Outcome::Refused => true,
            Outcome::Failed => {
                health.failures_in_a_row += 1;
                health.failures_in_a_row >= policy.failures
            }
        };
        if eject {
            let backoff = policy.backoff_for(health.ejections_in_a_row);
            health.ejections_in_a_row = health.ejections_in_a_row.saturating_add(1);
            health.failures_in_a_row = 0;
            health.ejected_until = Some(now + backoff);
            tracing::warn!(
                replica = %self.url,
                ?outcome,
                backoff_ms = backoff.as_millis() as u64,
                "replica ejected"
            );
        }
    }
}

/// Decrements a replica's calls in flight when the call ends, however it ends.
struct InFlight<S>(Arc<Replica<S>>);

impl<S> Drop for InFlight<S> {
    fn drop(&mut self) {
        self.0.outstanding.fetch_sub(1, Ordering::Relaxed);
    }
}

struct Shared<S> {
    replicas: RwLock<Arc<Vec<Arc<Replica<S>>>>>,
    policy: EjectionPolicy,
}

impl<S> Shared<S> {
    fn snapshot(&self) -> Arc<Vec<Arc<Replica<S>>>> {
        self.replicas
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Least outstanding of two random replicas among the available ones (all of them when
    /// none is).
    fn pick(&self, now: Instant) -> Option<Arc<Replica<S>>> {
        let all = self.snapshot();
        let available: Vec<&Arc<Replica<S>>> = all.iter().filter(|r| r.available(now)).collect();
        let pool: Vec<&Arc<Replica<S>>> = if available.is_empty() {
            all.iter().collect()
        } else {
            available
        };
        let chosen = match pool.len() {
            0 => return None,
            1 => pool[0],
            n => {
                let mut rng = rand::thread_rng();
                let a = rng.gen_range(0..n);
                let b = (a + rng.gen_range(1..n)) % n;
                let (a, b) = (pool[a], pool[b]);
                if b.outstanding.load(Ordering::Relaxed) < a.outstanding.load(Ordering::Relaxed) {
                    b
                } else {
                    a
                }
            }
        };
        Some(chosen.clone())
    }

    /// Replaces the replicas with those of `urls`, keeping the state of the ones that stay.
    fn update(&self, urls: &Endpoints, make: &impl Fn(&str) -> Result<S, String>) {
        let current = self.snapshot();
        let mut next = Vec::with_capacity(urls.len());
        for url in urls {
            if let Some(kept) = current.iter().find(|r| &r.url == url) {
                next.push(kept.clone());
                continue;
            }
            match make(url) {
                Ok(service) => next.push(Arc::new(Replica::new(url.clone(), service))),
                Err(why) => tracing::warn!(%url, %why, "skipping a peer address"),
            }
        }
        if next.is_empty() {
            // Never forget every replica: calls to stale ones fail fast instead of waiting.
            return;
        }
        *self.replicas.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(next);
    }
}

/// A service that spreads calls over the replicas of one context (see the module
/// documentation). Cloning is cheap and shares the replicas and their counts.
pub struct Balanced<S> {
    shared: Arc<Shared<S>>,
}

impl<S> Clone for Balanced<S> {
    fn clone(&self) -> Self {
        Balanced {
            shared: self.shared.clone(),
        }
    }
}

impl<S> std::fmt::Debug for Balanced<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let urls: Vec<String> = self
            .shared
            .snapshot()
            .iter()
            .map(|r| r.url.clone())
            .collect();
        f.debug_struct("Balanced").field("replicas", &urls).finish()
    }
}

impl<S: Send + Sync + 'static> Balanced<S> {
    /// One replica, always called (its failures are still counted).
    pub fn single(url: &str, service: S) -> Balanced<S> {
        Balanced {
            shared: Arc::new(Shared {
                replicas: RwLock::new(Arc::new(vec![Arc::new(Replica::new(
                    url.to_owned(),
                    service,
                ))])),
                policy: EjectionPolicy::default(),
            }),
        }
    }

    /// The replicas of `set`, following its changes for as long as a clone of the result
    /// lives; `make` builds the service of a new URL (an unusable URL is logged and
    /// skipped). Call inside a Tokio runtime.
    pub fn follow(
        mut set: EndpointSet,
        policy: EjectionPolicy,
        make: impl Fn(&str) -> Result<S, String> + Send + 'static,
    ) -> Balanced<S> {
        let shared = Arc::new(Shared {
            replicas: RwLock::new(Arc::new(Vec::new())),
            policy,
        });
        shared.update(&set.current(), &make);
        let weak: Weak<Shared<S>> = Arc::downgrade(&shared);
        tokio::spawn(async move {
            while set.changed().await {
                let Some(shared) = weak.upgrade() else { return };
                shared.update(&set.current(), &make);
            }
        });
        Balanced { shared }
    }

    /// The URLs of the replicas, in order (for tests and diagnostics).
    pub fn replicas(&self) -> Vec<String> {
        self.shared
            .snapshot()
            .iter()
            .map(|r| r.url.clone())
            .collect()
    }

    /// The URLs of the replicas ejected at `now`.
    pub fn ejected(&self) -> Vec<String> {
        let now = Instant::now();
        self.shared
            .snapshot()
            .iter()
            .filter(|r| !r.available(now))
            .map(|r| r.url.clone())
            .collect()
    }
}

impl<S, Request> Service<Request> for Balanced<S>
where
    S: Service<Request> + Clone + Send + Sync + 'static,
    S::Response: Send + 'static,
    S::Error: Into<BoxError>,
    S::Future: Send + 'static,
    Request: Send + 'static,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Readiness is the chosen replica's, awaited inside the call.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some(replica) = self.shared.pick(Instant::now()) else {
            return Box::pin(std::future::ready(Err(NoReplica.into())));
        };
        replica.outstanding.fetch_add(1, Ordering::Relaxed);
        let in_flight = InFlight(replica);
        let shared = self.shared.clone();
        Box::pin(async move {
            let service = in_flight.0.service.clone();
            let result = service.oneshot(request).await.map_err(Into::into);
            in_flight
                .0
                .record(Outcome::of(&result), &shared.policy, Instant::now());
            result
        })
    }
}

/// How a caller reaches one replica: over the network through a lazily connected tonic
/// [`Channel`], or, for the data services of its own process, straight into their server's
/// stack ([`crate::local`]).
#[derive(Clone, Debug)]
pub enum Link {
    /// A replica elsewhere.
    Remote(Channel),
    /// The replica in this process.
    Local(crate::local::Direct),
}

impl Service<http::Request<tonic::body::Body>> for Link {
    type Response = http::Response<tonic::body::Body>;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self {
            Link::Remote(channel) => channel.poll_ready(cx).map_err(Into::into),
            Link::Local(_) => Poll::Ready(Ok(())),
        }
    }

    fn call(&mut self, request: http::Request<tonic::body::Body>) -> Self::Future {
        match self {
            Link::Remote(channel) => {
                let answer = channel.call(request);
                Box::pin(async move { answer.await.map_err(Into::into) })
            }
            Link::Local(direct) => {
                let direct = direct.clone();
                Box::pin(async move { direct.call(request).await })
            }
        }
    }
}

/// The balanced channel of a context: one [`Link`] per replica.
pub type PeerChannel = Balanced<Link>;

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A fake replica: counts its calls, answers after `delay` or fails as told.
    #[derive(Clone)]
    struct Fake {
        name: &'static str,
        delay: Duration,
        fail: Arc<Mutex<Option<io::ErrorKind>>>,
        calls: Arc<Mutex<HashMap<&'static str, usize>>>,
    }

    impl Service<()> for Fake {
        type Response = &'static str;
        type Error = io::Error;
        type Future = Pin<Box<dyn Future<Output = Result<&'static str, io::Error>> + Send>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), io::Error>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, (): ()) -> Self::Future {
            *self.calls.lock().unwrap().entry(self.name).or_default() += 1;
            let (delay, fail, name) = (self.delay, *self.fail.lock().unwrap(), self.name);
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                match fail {
                    Some(kind) => Err(io::Error::new(kind, "injected")),
                    None => Ok(name),
                }
            })
        }
    }

    struct Pool {
        balanced: Balanced<Fake>,
        calls: Arc<Mutex<HashMap<&'static str, usize>>>,
        faults: HashMap<&'static str, Arc<Mutex<Option<io::ErrorKind>>>>,
    }

    impl Pool {
        /// Replicas named `replicas`, each answering after its delay.
        fn new(replicas: &[(&'static str, Duration)], policy: EjectionPolicy) -> Pool {
            let calls = Arc::new(Mutex::new(HashMap::new()));
            let faults: HashMap<_, _> = replicas
                .iter()
                .map(|(name, _)| (*name, Arc::new(Mutex::new(None))))
                .collect();
            let fakes: HashMap<String, Fake> = replicas
                .iter()
                .map(|&(name, delay)| {
                    let fake = Fake {
                        name,
                        delay,
                        fail: faults[name].clone(),
                        calls: calls.clone(),
                    };
                    (format!("http://{name}"), fake)
                })
                .collect();
            let set = EndpointSet::fixed(fakes.keys().cloned());
            let balanced = Balanced::follow(set, policy, move |url| {
                fakes.get(url).cloned().ok_or_else(|| "unknown".to_owned())
            });
            Pool {
                balanced,
                calls,
                faults,
            }
        }

        fn fail(&self, name: &str, kind: Option<io::ErrorKind>) {
            *self.faults[name].lock().unwrap() = kind;
        }

        fn calls(&self, name: &str) -> usize {
            self.calls.lock().unwrap().get(name).copied().unwrap_or(0)
        }

        async fn call(&self) -> Result<&'static str, BoxError> {
            self.balanced.clone().oneshot(()).await
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_replica_gets_fewer_calls_than_fast_ones() {
        let pool = Pool::new(
            &[
                ("slow", Duration::from_millis(200)),
                ("fast-1", Duration::from_millis(1)),
                ("fast-2", Duration::from_millis(1)),
            ],
            EjectionPolicy::default(),
        );
        // 64 callers in a loop: the slow replica's calls pile up, so the pick avoids it.
        let mut callers = Vec::new();
        for _ in 0..64 {
            let balanced = pool.balanced.clone();
            callers.push(tokio::spawn(async move {
                for _ in 0..20 {
                    balanced.clone().oneshot(()).await.unwrap();
                }
            }));
        }
        for caller in callers {
            caller.await.unwrap();
        }
        let (slow, fast) = (
            pool.calls("slow"),
            pool.calls("fast-1") + pool.calls("fast-2"),
        );
        assert_eq!(slow + fast, 64 * 20);
        assert!(slow * 10 < fast, "slow {slow}, fast {fast}");
    }

    #[tokio::test(start_paused = true)]
    async fn calls_spread_over_equal_replicas() {
        let pool = Pool::new(
            &[
                ("a", Duration::from_millis(5)),
                ("b", Duration::from_millis(5)),
            ],
            EjectionPolicy::default(),
        );
        for _ in 0..200 {
            pool.call().await.unwrap();
        }
        assert!(
            pool.calls("a") > 40 && pool.calls("b") > 40,
            "{:?}",
            pool.calls
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_refused_replica_is_ejected_at_once_and_probed_back_after_its_backoff() {
        let policy = EjectionPolicy::default();
        let pool = Pool::new(
            &[
                ("up", Duration::from_millis(1)),
                ("down", Duration::from_millis(1)),
            ],
            policy,
        );
        pool.fail("down", Some(io::ErrorKind::ConnectionRefused));
        // Calls go on; at most one reaches the refusing replica before it is ejected.
        let mut failed = 0;
        for _ in 0..100 {
            failed += usize::from(pool.call().await.is_err());
        }
        assert!(failed <= 1, "{failed} calls failed");
        assert_eq!(pool.calls("down"), failed);
        assert_eq!(pool.balanced.ejected(), ["http://down"]);

        // Still refusing after the backoff: one probe, ejected again for twice as long.
        tokio::time::advance(policy.backoff).await;
        while pool.calls("down") == failed {
            pool.call().await.ok();
        }
        assert_eq!(pool.balanced.ejected(), ["http://down"]);
        let probes = pool.calls("down");
        tokio::time::advance(policy.backoff).await;
        for _ in 0..50 {
            pool.call().await.ok();
        }
        assert_eq!(
            pool.calls("down"),
            probes,
            "probed before the doubled backoff"
        );

        // Back up: the next probe restores it and it shares the calls again.
        pool.fail("down", None);
        tokio::time::advance(policy.backoff).await;
        for _ in 0..200 {
            pool.call().await.unwrap();
        }
        assert!(pool.balanced.ejected().is_empty());
        assert!(pool.calls("down") > probes + 40, "{:?}", pool.calls);
    }

    #[tokio::test(start_paused = true)]
    async fn consecutive_transport_failures_eject_and_a_success_forgives() {
        let policy = EjectionPolicy {
            failures: 3,
            ..EjectionPolicy::default()
        };
        let pool = Pool::new(&[("only", Duration::from_millis(1))], policy);
        pool.fail("only", Some(io::ErrorKind::ConnectionReset));
        pool.call().await.unwrap_err();
        pool.call().await.unwrap_err();
        pool.fail("only", None);
        pool.call().await.unwrap();
        pool.fail("only", Some(io::ErrorKind::ConnectionReset));
        pool.call().await.unwrap_err();
        pool.call().await.unwrap_err();
        assert!(
            pool.balanced.ejected().is_empty(),
            "two in a row, not three"
        );
        pool.call().await.unwrap_err();
        assert_eq!(pool.balanced.ejected(), ["http://only"]);
        // With every replica ejected, calls still go out rather than wait.
        pool.fail("only", None);
        assert_eq!(pool.call().await.unwrap(), "only");
        assert!(pool.balanced.ejected().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn a_changing_set_keeps_the_replicas_it_keeps_and_never_empties() {
        let (sender, set) = EndpointSet::channel();
        let made = Arc::new(Mutex::new(Vec::new()));
        let seen = made.clone();
        let balanced: Balanced<Fake> =
            Balanced::follow(set, EjectionPolicy::default(), move |url| {
                seen.lock().unwrap().push(url.to_owned());
                Ok(Fake {
                    name: "any",
                    delay: Duration::ZERO,
                    fail: Arc::default(),
                    calls: Arc::default(),
                })
            });
        assert!(
            balanced.clone().oneshot(()).await.is_err(),
            "no replica yet"
        );
        let urls = |list: &[&str]| list.iter().map(|u| (*u).to_owned()).collect::<Endpoints>();
        sender.send(urls(&["http://a", "http://b"])).unwrap();
        let settled = |want: &'static [&'static str]| {
            let balanced = balanced.clone();
            async move {
                for _ in 0..1000 {
                    if balanced.replicas() == want {
                        return true;
                    }
                    tokio::task::yield_now().await;
                }
                false
            }
        };
        assert!(settled(&["http://a", "http://b"]).await);
        sender.send(urls(&["http://b", "http://c"])).unwrap();
        assert!(settled(&["http://b", "http://c"]).await);
        // b was kept, not made again.
        assert_eq!(*made.lock().unwrap(), ["http://a", "http://b", "http://c"]);
        sender.send(Endpoints::new()).unwrap();
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        assert_eq!(balanced.replicas(), ["http://b", "http://c"]);
    }

    #[test]
    fn a_refusal_is_found_anywhere_in_the_source_chain() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer")]
        struct Outer(#[source] io::Error);
        let wrapped = Outer(io::Error::from(io::ErrorKind::ConnectionRefused));
        assert!(refused(&wrapped));
        assert!(!refused(&Outer(io::Error::from(
            io::ErrorKind::ConnectionReset
        ))));
    }

    #[test]
    fn a_connection_not_opened_in_time_never_left_but_other_time_outs_did() {
        let timed_out = || io::Error::new(io::ErrorKind::TimedOut, "connect timed out");
        let connect = tonic::ConnectError(Box::new(timed_out()));
        assert!(refused(&connect));
        // A time-out that is not the connection's: the call may have reached the server.
        assert!(!refused(&timed_out()));
        let other = tonic::ConnectError(Box::new(io::Error::from(io::ErrorKind::InvalidData)));
        assert!(!refused(&other));
    }

    #[test]
    fn the_backoff_doubles_up_to_its_cap() {
        let policy = EjectionPolicy::default();
        let seconds: Vec<u64> = (0..8).map(|n| policy.backoff_for(n).as_secs()).collect();
        assert_eq!(seconds, [1, 2, 4, 8, 16, 30, 30, 30]);
    }
}
