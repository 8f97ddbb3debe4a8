//! The typed client's side of a call that survives its peers: the deadline, the attempts,
//! the retries and the hedges of every data-service call ([`Resilience::unary`]).
//!
//! - **Deadline.** A call ends when the caller's [`Ctx::deadline`] passes (the edge's
//!   per-route budget), or after the adapter's own deadline when the caller has none. Each
//!   attempt gets what remains, at most [`CallPolicy::attempt_timeout`], so an attempt stuck
//!   on a frozen replica gives way to another while the caller still waits.
//! - **Retries** happen here, above the channel, because a tonic request body cannot be
//!   cloned below it. A transient failure (`UNAVAILABLE`, an attempt out of time) is tried
//!   again, on whichever replica the balancer picks, after a jittered backoff or the delay
//!   the server asks for (`grpc-retry-pushback-ms`; a negative one means do not). Commands are
//!   safe to repeat because each carries its `request_id`. Retries spend a budget that every
//!   call refills by [`CallPolicy::retry_ratio`]: at most that share of extra load, beyond a
//!   small reserve. A call that never left the client (a refused connection, no replica
//!   known) is tried again at once and spends nothing.
//! - **Hedges.** A read still unanswered after the [`CallPolicy::hedge_percentile`] of
//!   recent answer times is sent a second time, from a budget refilled by
//!   [`CallPolicy::hedge_ratio`] per read; the first answer wins and the other is dropped.
//! - **Limits.** At most [`CallPolicy::max_in_flight`] calls to one service at once and
//!   [`CallPolicy::rate`] per second (bursts of a tenth of a second): a call past either is
//!   answered `UNAVAILABLE` (`CLIENT_LIMIT`) at once, never queued; the edge shows it as 503
//!   with `Retry-After`.
//! - [`Kind::Unrepeatable`] calls (verifying credentials, which counts failed logins) are
//!   neither retried after they left nor hedged.

use std::{
    collections::VecDeque,
    future::Future,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use ports_app::Ctx;
use rand::Rng;
use tokio::time::Instant;
use tonic::{Code, Status};

/// How a call may be repeated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A query: retried and hedged.
    Read,
    /// A command with a `request_id`: retried (the data service replays a repeat).
    Command,
    /// A command without a `request_id`: retried only when it never left the client.
    Unrepeatable,
}

/// The knobs of [`Resilience`]; [`CallPolicy::default`] documents the defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CallPolicy {
    /// The longest one attempt may take.
    pub attempt_timeout: Duration,
    /// Attempts per call, the first included.
    pub max_attempts: u32,
    /// Retries earned per call: the most extra load retries may add.
    pub retry_ratio: f64,
    /// Retries available before any call earned them (and the most ever saved).
    pub retry_reserve: f64,
    /// The first retry waits up to this (with full jitter), doubling per attempt.
    pub backoff: Duration,
    /// Hedges earned per read.
    pub hedge_ratio: f64,
    /// Reads are hedged after this share of recent answers came back.
    pub hedge_percentile: f64,
    /// Never hedge sooner than this.
    pub min_hedge_delay: Duration,
    /// Calls to the service in flight at once, from this process.
    pub max_in_flight: usize,
    /// Calls per second to the service, from this process.
    pub rate: f64,
}

impl Default for CallPolicy {
    /// A 2 s attempt (a replica frozen for longer is left for another while a 5 s budget
    /// still has time), 3 attempts, retries up to 20% extra load plus a reserve of 10, a
    /// 25 ms first backoff; reads hedged after the p99 of the last 256 answers (at least
    /// 2 ms), up to 5% extra reads: a healthy service spends about 1% of the budget, so
    /// the rest is there when a replica freezes (at the p95, steady hedging spent all of it
    /// and a frozen replica's reads waited out their attempt). The limits are safety valves well above what two cores
    /// serve (a data service sheds past 1,024 calls in flight; the benchmark's 1,000
    /// concurrent edge requests stay below 4,096): 4,096 in flight and 100,000 calls/s.
    fn default() -> Self {
        CallPolicy {
            attempt_timeout: Duration::from_secs(2),
            max_attempts: 3,
            retry_ratio: 0.2,
            retry_reserve: 10.0,
            backoff: Duration::from_millis(25),
            hedge_ratio: 0.05,
            hedge_percentile: 0.99,
            min_hedge_delay: Duration::from_millis(2),
            max_in_flight: 4096,
            rate: 100_000.0,
        }
    }
}

/// How long a request at the edge may take in all, every data-service call and its retries
/// included: each call's deadline is what remains of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budgets {
    /// A read (`GET`, `HEAD`, `OPTIONS`): 5 s.
    pub read: Duration,
    /// A command: 10 s (a sign-up makes several calls, some hashing a password), never less
    /// than [`Budgets::MIN_COMMAND`].
    pub command: Duration,
}

impl Budgets {
    /// Every command gets at least this long.
    pub const MIN_COMMAND: Duration = Duration::from_secs(5);
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets {
            read: Duration::from_secs(5),
            command: Duration::from_secs(10),
        }
    }
}

/// Every knob of calls between services, as `SAAS_CALLS` sets them: the edge's budgets, the
/// call policy and the balancer's ejection policy.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CallSettings {
    pub budgets: Budgets,
    pub calls: CallPolicy,
    pub ejection: platform::discovery::EjectionPolicy,
}

impl CallSettings {
    /// Parses `key=value` pairs separated by commas, each overriding its default:
    /// `read_budget_ms`, `command_budget_ms` (at least 5,000), `attempt_timeout_ms`, `attempts`, `retry_ratio`, `retry_reserve`, `backoff_ms`,
    /// `hedge_ratio`, `hedge_percentile`, `in_flight`, `rate`, `eject_after`,
    /// `eject_backoff_ms`, `eject_max_ms`. An unknown key or a value out of range is an error
    /// naming it.
    pub fn parse(text: &str) -> Result<CallSettings, String> {
        let mut settings = CallSettings::default();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not key=value"))?;
            let (key, value) = (key.trim(), value.trim());
            let number = |min: f64, max: f64| -> Result<f64, String> {
                value
                    .parse::<f64>()
                    .ok()
                    .filter(|v| v.is_finite() && *v >= min && *v <= max)
                    .ok_or_else(|| format!("{key}={value:?} must be a number from {min} to {max}"))
            };
            let millis =
                |min: f64| number(min, 3_600_000.0).map(|v| Duration::from_millis(v as u64));
            let calls = &mut settings.calls;
            let ejection = &mut settings.ejection;
            match key {
                "read_budget_ms" => settings.budgets.read = millis(1.0)?,
                "command_budget_ms" => {
                    settings.budgets.command = millis(Budgets::MIN_COMMAND.as_millis() as f64)?;
                }
                "attempt_timeout_ms" => calls.attempt_timeout = millis(1.0)?,
                "attempts" => calls.max_attempts = number(1.0, 10.0)? as u32,
                "retry_ratio" => calls.retry_ratio = number(0.0, 1.0)?,
                "retry_reserve" => calls.retry_reserve = number(0.0, 1_000.0)?,
                "backoff_ms" => calls.backoff = millis(0.0)?,
                "hedge_ratio" => calls.hedge_ratio = number(0.0, 1.0)?,
                "hedge_percentile" => calls.hedge_percentile = number(0.5, 1.0)?,
                "in_flight" => calls.max_in_flight = number(1.0, 1_000_000.0)? as usize,
                "rate" => calls.rate = number(1.0, 1e9)?,
                "eject_after" => ejection.failures = number(1.0, 1_000.0)? as u32,
                "eject_backoff_ms" => ejection.backoff = millis(1.0)?,
                "eject_max_ms" => ejection.max_backoff = millis(1.0)?,
                other => return Err(format!("unknown setting {other:?}")),
            }
        }
        if settings.ejection.max_backoff < settings.ejection.backoff {
            return Err("eject_max_ms is below eject_backoff_ms".to_owned());
        }
        Ok(settings)
    }
}

/// A token bucket: calls deposit a fraction, each retry or hedge withdraws one.
#[derive(Debug)]
struct Budget {
    tokens: Mutex<f64>,
    ratio: f64,
    cap: f64,
}

impl Budget {
    fn new(ratio: f64, cap: f64) -> Budget {
        Budget {
            tokens: Mutex::new(cap),
            ratio,
            cap,
        }
    }

    fn deposit(&self) {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        *tokens = (*tokens + self.ratio).min(self.cap);
    }

    fn withdraw(&self) -> bool {
        let mut tokens = self.tokens.lock().unwrap_or_else(|e| e.into_inner());
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Calls per second, refilled continuously, holding at most a tenth of a second's worth.
#[derive(Debug)]
struct Rate {
    state: Mutex<(f64, Instant)>,
    per_second: f64,
}

impl Rate {
    fn new(per_second: f64) -> Rate {
        Rate {
            state: Mutex::new((Self::burst_of(per_second), Instant::now())),
            per_second,
        }
    }

    fn burst_of(per_second: f64) -> f64 {
        (per_second / 10.0).max(1.0)
    }

    fn take(&self) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let (tokens, since) = *state;
        let refilled = (tokens + now.duration_since(since).as_secs_f64() * self.per_second)
            .min(Self::burst_of(self.per_second));
        if refilled >= 1.0 {
            *state = (refilled - 1.0, now);
            true
        } else {
            *state = (refilled, now);
            false
        }
    }
}

/// The most recent answer times, and the hedge delay they give.
#[derive(Debug, Default)]
struct Latencies {
    recent: Mutex<VecDeque<Duration>>,
}

/// Answer times kept.
const WINDOW: usize = 256;
/// Answer times needed before reads are hedged.
const MIN_SAMPLES: usize = 32;

impl Latencies {
    fn record(&self, took: Duration) {
        let mut recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
        if recent.len() == WINDOW {
            recent.pop_front();
        }
        recent.push_back(took);
    }

    fn percentile(&self, p: f64) -> Option<Duration> {
        let mut sorted: Vec<Duration> = {
            let recent = self.recent.lock().unwrap_or_else(|e| e.into_inner());
            if recent.len() < MIN_SAMPLES {
                return None;
            }
            recent.iter().copied().collect()
        };
        sorted.sort_unstable();
        let rank = ((sorted.len() as f64) * p).ceil() as usize;
        sorted.get(rank.saturating_sub(1)).copied()
    }
}

/// Retries and hedges sent so far, for the benchmark and logs.
#[derive(Debug, Default)]
pub struct Counters {
    pub retries: AtomicU64,
    pub free_retries: AtomicU64,
    pub hedges: AtomicU64,
}

/// The deadline, retry and hedge state of one downstream service, shared by every call to
/// it.
#[derive(Debug)]
pub struct Resilience {
    policy: CallPolicy,
    in_flight: tokio::sync::Semaphore,
    rate: Rate,
    retries: Budget,
    hedges: Budget,
    latencies: Latencies,
    counters: Counters,
}

impl Default for Resilience {
    fn default() -> Self {
        Resilience::new(CallPolicy::default())
    }
}

/// What a failed attempt allows.
#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    /// It never left the client: try again now, for free.
    Again,
    /// Transient: try again after this long, if the budget allows.
    After(Option<Duration>),
    /// Final.
    Stop,
}

/// A call refused by this process's own limits: `UNAVAILABLE` with reason `CLIENT_LIMIT`,
/// asking to come back in a second.
fn limited(message: &str) -> Status {
    use tonic_types::{ErrorDetails, StatusExt};
    let details = ErrorDetails::with_error_info("CLIENT_LIMIT", "platform.saas", []);
    let mut status = Status::with_error_details(Code::Unavailable, message, details);
    status.metadata_mut().insert(
        "grpc-retry-pushback-ms",
        tonic::metadata::MetadataValue::from(1000),
    );
    status
}

/// Whether a failed call never reached a server.
fn never_left(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if platform::discovery::balance::refused(error) {
            return true;
        }
        source = error.source();
    }
    false
}

/// Whether the status was made by the client from a failed transport rather than sent by a
/// server (a server's status has no source error).
pub(crate) fn broke_in_transit(status: &Status) -> bool {
    std::error::Error::source(status).is_some()
}

/// The server's pushback: `Some(None)` says do not retry, `Some(Some(delay))` when.
fn pushback(status: &Status) -> Option<Option<Duration>> {
    let value = status.metadata().get("grpc-retry-pushback-ms")?;
    let millis: i64 = value.to_str().ok()?.trim().parse().ok()?;
    Some(u64::try_from(millis).ok().map(Duration::from_millis))
}

fn verdict(kind: Kind, status: &Status) -> Verdict {
    if never_left(status) {
        return Verdict::Again;
    }
    if kind == Kind::Unrepeatable {
        return Verdict::Stop;
    }
    if broke_in_transit(status) {
        // The connection broke under the call (a reset, a replica killed): whatever code
        // tonic gave it (often UNKNOWN or INTERNAL), no server answered.
        return Verdict::After(None);
    }
    match status.code() {
        // An attempt out of time (tonic's client answers CANCELLED or DEADLINE_EXCEEDED),
        // a broken connection, a shed call.
        Code::Unavailable | Code::DeadlineExceeded | Code::Cancelled => match pushback(status) {
            Some(None) => Verdict::Stop,
            Some(Some(delay)) => Verdict::After(Some(delay)),
            None => Verdict::After(None),
        },
        _ => Verdict::Stop,
    }
}

impl Resilience {
    /// The state for one downstream under `policy`.
    pub fn new(policy: CallPolicy) -> Resilience {
        Resilience {
            policy,
            in_flight: tokio::sync::Semaphore::new(policy.max_in_flight),
            rate: Rate::new(policy.rate),
            retries: Budget::new(policy.retry_ratio, policy.retry_reserve),
            hedges: Budget::new(policy.hedge_ratio, 1.0 + policy.hedge_ratio * 100.0),
            latencies: Latencies::default(),
            counters: Counters::default(),
        }
    }

    /// Retries and hedges sent so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Makes one call of `kind` with `message`: `send` sends one attempt (the request
    /// carries the attempt's deadline, the actor and the correlation id of `ctx`). Without
    /// a deadline in `ctx` the call may take `deadline`.
    pub async fn unary<M, R, F, Fut>(
        &self,
        ctx: &Ctx,
        deadline: Duration,
        kind: Kind,
        message: M,
        mut send: F,
    ) -> Result<tonic::Response<R>, Status>
    where
        M: Clone,
        F: FnMut(tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            return Err(limited("too many calls to this service are in flight"));
        };
        if !self.rate.take() {
            return Err(limited("calls to this service are over their rate"));
        }
        let ends = ctx
            .deadline
            .map_or_else(|| Instant::now() + deadline, Instant::from_std);
        self.retries.deposit();
        if kind == Kind::Read {
            self.hedges.deposit();
        }
        let mut attempt = 0u32;
        loop {
            let remaining = ends.saturating_duration_since(Instant::now());
            if remaining.is_zero() {
                return Err(Status::deadline_exceeded(
                    "the caller's deadline passed before an answer came",
                ));
            }
            let timeout = remaining.min(self.policy.attempt_timeout);
            let started = Instant::now();
            let result = if kind == Kind::Read {
                self.hedged(ctx, &message, timeout, &mut send).await
            } else {
                send(super::call(ctx, message.clone(), timeout)).await
            };
            let status = match result {
                Ok(response) => {
                    self.latencies.record(started.elapsed());
                    return Ok(response);
                }
                Err(status) => status,
            };
            attempt += 1;
            if attempt >= self.policy.max_attempts {
                return Err(status);
            }
            let wait = match verdict(kind, &status) {
                Verdict::Stop => return Err(status),
                Verdict::Again => {
                    self.counters.free_retries.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                Verdict::After(asked) => {
                    if !self.retries.withdraw() {
                        tracing::debug!(code = ?status.code(), "retry budget spent");
                        return Err(status);
                    }
                    asked.unwrap_or_else(|| {
                        let cap = self
                            .policy
                            .backoff
                            .saturating_mul(1 << (attempt - 1).min(8));
                        let micros = u64::try_from(cap.as_micros()).unwrap_or(u64::MAX);
                        Duration::from_micros(rand::thread_rng().gen_range(0..=micros))
                    })
                }
            };
            if Instant::now() + wait >= ends {
                return Err(status);
            }
            self.counters.retries.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(code = ?status.code(), attempt, ?wait, "retrying a call");
            tokio::time::sleep(wait).await;
        }
    }

    /// One attempt of a read, sent a second time if the first is slower than usual and
    /// the hedge budget allows; the first answer wins (a failure waits for the other).
    async fn hedged<M, R, F, Fut>(
        &self,
        ctx: &Ctx,
        message: &M,
        timeout: Duration,
        send: &mut F,
    ) -> Result<tonic::Response<R>, Status>
    where
        M: Clone,
        F: FnMut(tonic::Request<M>) -> Fut,
        Fut: Future<Output = Result<tonic::Response<R>, Status>>,
    {
        let first = send(super::call(ctx, message.clone(), timeout));
        let delay = self
            .latencies
            .percentile(self.policy.hedge_percentile)
            .map(|p| p.max(self.policy.min_hedge_delay))
            .filter(|delay| *delay < timeout);
        let Some(delay) = delay else {
            return first.await;
        };
        tokio::pin!(first);
        tokio::select! {
            result = &mut first => return result,
            () = tokio::time::sleep(delay) => {}
        }
        if !self.hedges.withdraw() {
            return first.await;
        }
        self.counters.hedges.fetch_add(1, Ordering::Relaxed);
        let second = send(super::call(ctx, message.clone(), timeout - delay));
        tokio::pin!(second);
        tokio::select! {
            result = &mut first => match result {
                Ok(response) => Ok(response),
                Err(_) => second.await,
            },
            result = &mut second => match result {
                Ok(response) => Ok(response),
                Err(_) => first.await,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, atomic::AtomicUsize};

    use super::*;

    type Attempt =
        std::pin::Pin<Box<dyn Future<Output = Result<tonic::Response<u32>, Status>> + Send>>;

    /// A fake downstream: answers attempt `n` as `script(n)` after `delay(n)`, counting them.
    struct Fake {
        attempts: Arc<AtomicUsize>,
        deadlines: Arc<Mutex<Vec<Duration>>>,
    }

    impl Fake {
        fn new() -> Fake {
            Fake {
                attempts: Arc::default(),
                deadlines: Arc::default(),
            }
        }

        fn sender<S>(
            &self,
            script: S,
        ) -> impl FnMut(tonic::Request<u32>) -> Attempt + Clone + Send + use<S>
        where
            S: Fn(usize) -> (Duration, Result<u32, Status>) + Clone + Send + 'static,
        {
            let (attempts, deadlines) = (self.attempts.clone(), self.deadlines.clone());
            move |request: tonic::Request<u32>| {
                let n = attempts.fetch_add(1, Ordering::SeqCst);
                let timeout = request
                    .metadata()
                    .get("grpc-timeout")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_suffix('u'))
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_micros);
                if let Some(timeout) = timeout {
                    deadlines.lock().unwrap().push(timeout);
                }
                let (delay, answer) = script(n);
                Box::pin(async move {
                    // The attempt's own deadline, as tonic's client enforces it.
                    if timeout.is_some_and(|t| delay > t) {
                        tokio::time::sleep(timeout.unwrap_or_default()).await;
                        return Err(Status::cancelled("Timeout expired"));
                    }
                    tokio::time::sleep(delay).await;
                    answer.map(tonic::Response::new)
                })
            }
        }

        fn attempts(&self) -> usize {
            self.attempts.load(Ordering::SeqCst)
        }
    }

    /// One call of `kind` without a caller's deadline (5 s), as an adapter makes it.
    async fn run(
        resilience: &Resilience,
        kind: Kind,
        send: impl FnMut(tonic::Request<u32>) -> Attempt,
    ) -> Result<tonic::Response<u32>, Status> {
        resilience
            .unary(&Ctx::anonymous(), Duration::from_secs(5), kind, 1u32, send)
            .await
    }

    fn unavailable() -> Status {
        Status::unavailable("connection reset")
    }

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[tokio::test(start_paused = true)]
    async fn transient_failures_are_retried_and_final_ones_are_not() {
        let resilience = Resilience::default();
        let fake = Fake::new();
        let send = fake.sender(|n| (ms(1), if n < 2 { Err(unavailable()) } else { Ok(7) }));
        let answer = run(&resilience, Kind::Command, send).await.unwrap();
        assert_eq!(answer.into_inner(), 7);
        assert_eq!(fake.attempts(), 3);
        assert_eq!(resilience.counters().retries.load(Ordering::SeqCst), 2);

        let fake = Fake::new();
        let send = fake.sender(|_| {
            (
                ms(1),
                Err(Status::failed_precondition("SEAT_LIMIT_REACHED")),
            )
        });
        let refused = run(&resilience, Kind::Command, send).await.unwrap_err();
        assert_eq!(refused.code(), Code::FailedPrecondition);
        assert_eq!(fake.attempts(), 1, "a refusal is an answer");
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_stuck_on_a_frozen_replica_gives_way_within_the_deadline() {
        let resilience = Resilience::default();
        let fake = Fake::new();
        // The first replica is frozen; the retry lands on a live one.
        let send = fake.sender(|n| {
            if n == 0 {
                (Duration::from_secs(60), Ok(0))
            } else {
                (ms(3), Ok(9))
            }
        });
        let ctx = Ctx::anonymous().within(Duration::from_secs(5));
        let started = Instant::now();
        let answer = resilience
            .unary(&ctx, Duration::from_secs(30), Kind::Command, 1u32, send)
            .await
            .unwrap();
        assert_eq!(answer.into_inner(), 9);
        let took = started.elapsed();
        assert!(took >= ms(2000) && took < ms(2200), "{took:?}");
        // The first attempt had 2 s of the 5 s budget; the second what remained, capped.
        let deadlines = fake.deadlines.lock().unwrap().clone();
        assert_eq!(deadlines[0], Duration::from_secs(2));
        assert!(deadlines[1] <= Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn the_callers_deadline_bounds_every_attempt() {
        let resilience = Resilience::default();
        let fake = Fake::new();
        let send = fake.sender(|_| (Duration::from_secs(60), Ok(0)));
        let ctx = Ctx::anonymous().within(Duration::from_secs(3));
        let started = Instant::now();
        let error = resilience
            .unary(&ctx, Duration::from_secs(30), Kind::Read, 1u32, send)
            .await
            .unwrap_err();
        assert!(matches!(
            error.code(),
            Code::Cancelled | Code::DeadlineExceeded
        ));
        let took = started.elapsed();
        assert!(took <= Duration::from_secs(3) + ms(50), "{took:?}");
        let deadlines = fake.deadlines.lock().unwrap().clone();
        assert_eq!(deadlines[0], Duration::from_secs(2));
        assert!(
            deadlines.iter().skip(1).all(|d| *d <= ms(1000)),
            "{deadlines:?}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stay_within_their_budget() {
        let policy = CallPolicy {
            retry_reserve: 2.0,
            ..CallPolicy::default()
        };
        let resilience = Resilience::new(policy);
        let fake = Fake::new();
        let send = fake.sender(|_| (ms(1), Err(unavailable())));
        for _ in 0..100 {
            let _ = run(&resilience, Kind::Command, send.clone()).await;
        }
        let retries = resilience.counters().retries.load(Ordering::SeqCst) as usize;
        // 100 calls earn 20 retries, plus the reserve of 2.
        assert!(retries <= 22, "{retries} retries");
        assert!(retries >= 18, "{retries} retries");
        assert_eq!(fake.attempts(), 100 + retries);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_broken_under_a_call_is_retried_whatever_its_code() {
        let broken = || {
            let mut status = Status::from_error(Box::new(std::io::Error::from(
                std::io::ErrorKind::ConnectionReset,
            )));
            assert_eq!(status.code(), Code::Unknown);
            status.metadata_mut().remove("grpc-retry-pushback-ms");
            status
        };
        let resilience = Resilience::default();
        let fake = Fake::new();
        let send = fake.sender(move |n| (ms(1), if n == 0 { Err(broken()) } else { Ok(5) }));
        let answer = run(&resilience, Kind::Command, send).await.unwrap();
        assert_eq!(answer.into_inner(), 5);
        assert_eq!(fake.attempts(), 2);
        // A server's own INTERNAL is an answer.
        let fake = Fake::new();
        let send = fake.sender(|_| (ms(1), Err(Status::internal("a bug"))));
        run(&resilience, Kind::Command, send).await.unwrap_err();
        assert_eq!(fake.attempts(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn pushback_is_honoured() {
        let resilience = Resilience::default();
        let with_pushback = |millis: &str| {
            let mut status = Status::unavailable("OVERLOADED");
            status
                .metadata_mut()
                .insert("grpc-retry-pushback-ms", millis.parse().unwrap());
            status
        };
        let fake = Fake::new();
        let stop = with_pushback("-1");
        let send = fake.sender(move |_| (ms(1), Err(stop.clone())));
        run(&resilience, Kind::Command, send).await.unwrap_err();
        assert_eq!(fake.attempts(), 1, "told not to retry");

        let fake = Fake::new();
        let later = with_pushback("700");
        let send = fake.sender(move |n| (ms(1), if n == 0 { Err(later.clone()) } else { Ok(1) }));
        let started = Instant::now();
        run(&resilience, Kind::Command, send).await.unwrap();
        assert!(started.elapsed() >= ms(700));
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_that_never_left_is_retried_for_free_and_unrepeatable_ones_only_then() {
        let never_left = || {
            Status::from_error(Box::new(std::io::Error::from(
                std::io::ErrorKind::ConnectionRefused,
            )))
        };
        assert!(super::never_left(&never_left()));
        let policy = CallPolicy {
            retry_reserve: 0.0,
            retry_ratio: 0.0,
            ..CallPolicy::default()
        };
        let resilience = Resilience::new(policy);
        let fake = Fake::new();
        let send = fake.sender(move |n| (ms(1), if n == 0 { Err(never_left()) } else { Ok(3) }));
        run(&resilience, Kind::Unrepeatable, send).await.unwrap();
        assert_eq!(fake.attempts(), 2);
        assert_eq!(resilience.counters().free_retries.load(Ordering::SeqCst), 1);

        let fake = Fake::new();
        let send = fake.sender(|n| (ms(1), if n == 0 { Err(unavailable()) } else { Ok(3) }));
        run(&resilience, Kind::Unrepeatable, send)
            .await
            .unwrap_err();
        assert_eq!(
            fake.attempts(),
            1,
            "it may have been counted as a failed login"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_read_is_hedged_after_the_usual_answer_time() {
        let resilience = Resilience::default();
        // Teach it the usual answer time: 10 ms.
        let fake = Fake::new();
        let send = fake.sender(|_| (ms(10), Ok(1)));
        for _ in 0..MIN_SAMPLES {
            run(&resilience, Kind::Read, send.clone()).await.unwrap();
        }
        assert_eq!(resilience.counters().hedges.load(Ordering::SeqCst), 0);
        // A read whose first attempt stalls is answered by its hedge, soon after 10 ms.
        let fake = Fake::new();
        let send = fake.sender(|n| {
            if n == 0 {
                (Duration::from_secs(1), Ok(0))
            } else {
                (ms(10), Ok(2))
            }
        });
        let started = Instant::now();
        let answer = run(&resilience, Kind::Read, send).await.unwrap();
        assert_eq!(answer.into_inner(), 2);
        assert!(started.elapsed() <= ms(25), "{:?}", started.elapsed());
        assert_eq!(fake.attempts(), 2);
        assert_eq!(resilience.counters().hedges.load(Ordering::SeqCst), 1);
        // Commands are never hedged.
        let fake = Fake::new();
        let send = fake.sender(|n| {
            if n == 0 {
                (ms(500), Ok(0))
            } else {
                (ms(10), Ok(2))
            }
        });
        let answer = run(&resilience, Kind::Command, send).await.unwrap();
        assert_eq!(answer.into_inner(), 0);
        assert_eq!(fake.attempts(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn calls_past_the_limits_are_refused_at_once() {
        let policy = CallPolicy {
            max_in_flight: 2,
            rate: 1_000.0,
            ..CallPolicy::default()
        };
        let resilience = Arc::new(Resilience::new(policy));
        let fake = Fake::new();
        let send = fake.sender(|_| (ms(100), Ok(1)));
        let slow = |resilience: Arc<Resilience>, send| {
            tokio::spawn(async move { run(&resilience, Kind::Command, send).await.map(|_| ()) })
        };
        let a = slow(resilience.clone(), send.clone());
        let b = slow(resilience.clone(), send.clone());
        tokio::task::yield_now().await;
        let refused = run(&resilience, Kind::Command, send.clone())
            .await
            .unwrap_err();
        assert_eq!(refused.code(), Code::Unavailable);
        assert_eq!(pushback(&refused), Some(Some(ms(1000))));
        assert_eq!(fake.attempts(), 2, "the third call was not sent");
        a.await.unwrap().unwrap();
        b.await.unwrap().unwrap();

        // The rate: a burst of a tenth of a second's worth, then one per millisecond.
        let fast = Fake::new();
        let send = fast.sender(|_| (Duration::ZERO, Ok(1)));
        let mut answered = 0;
        for _ in 0..200 {
            answered += usize::from(run(&resilience, Kind::Command, send.clone()).await.is_ok());
        }
        // The two slow calls took 2 tokens of the 100 (100 ms of refill have since passed).
        assert!((98..=100).contains(&answered), "{answered}");
        tokio::time::advance(ms(10)).await;
        for _ in 0..10 {
            run(&resilience, Kind::Command, send.clone()).await.unwrap();
        }
    }

    #[test]
    fn settings_override_their_defaults_and_say_what_is_wrong() {
        assert_eq!(CallSettings::parse(""), Ok(CallSettings::default()));
        let settings =
            CallSettings::parse("attempt_timeout_ms=500, attempts=2, rate=50, eject_after=3")
                .unwrap();
        assert_eq!(settings.calls.attempt_timeout, ms(500));
        assert_eq!(settings.calls.max_attempts, 2);
        assert_eq!(settings.calls.rate, 50.0);
        assert_eq!(settings.ejection.failures, 3);
        assert_eq!(settings.budgets, Budgets::default());
        let budgets = CallSettings::parse("read_budget_ms=1500,command_budget_ms=5000")
            .unwrap()
            .budgets;
        assert_eq!(budgets.read, ms(1500));
        assert_eq!(budgets.command, Budgets::MIN_COMMAND);
        assert_eq!(
            settings.calls.hedge_ratio,
            CallPolicy::default().hedge_ratio
        );
        for (bad, names) in [
            ("attempts=0", "attempts"),
            ("retry_ratio=2", "retry_ratio"),
            ("hedges=1", "hedges"),
            ("rate", "rate"),
            ("eject_backoff_ms=5000,eject_max_ms=10", "eject_max_ms"),
            ("command_budget_ms=4999", "command_budget_ms"),
            ("read_budget_ms=0", "read_budget_ms"),
            ("read_budget_ms=soon", "read_budget_ms"),
        ] {
            let error = CallSettings::parse(bad).unwrap_err();
            assert!(error.contains(names), "{bad}: {error}");
        }
    }

    #[test]
    fn the_hedge_budget_allows_about_one_read_in_twenty() {
        let policy = CallPolicy::default();
        let budget = Budget::new(policy.hedge_ratio, 1.0);
        let mut hedged = 0;
        for _ in 0..1000 {
            budget.deposit();
            hedged += usize::from(budget.withdraw());
        }
        assert!((49..=51).contains(&hedged), "{hedged}");
    }
}
