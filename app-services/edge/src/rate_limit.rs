//! Rate limits: fixed windows counted per key (`ip:<addr>`, `user:<id>`, `workspace:<id>`,
//! `auth-ip:<addr>`), in memory by default ([`MemoryRateLimiter`]) or shared between edge
//! processes through Redis ([`RedisRateLimiter`]); [`NoRateLimiter`] when limits are turned off.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use async_trait::async_trait;
use redis::Script;
use tokio::time::Instant;

use crate::redis_link::{Outage, RedisLink};

/// How many hits a key may make per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    pub limit: u32,
    pub window: Duration,
}

/// The quotas the edge applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimits {
    /// Every request, per client IP.
    pub per_ip: Quota,
    /// Authenticated requests, per user.
    pub per_user: Quota,
    /// Requests under `/v1/workspaces/{workspace_id}`, per workspace.
    pub per_workspace: Quota,
    /// Sign-up, login, refresh and password reset, per client IP (guessing is slow).
    pub auth_per_ip: Quota,
}

/// Counts hits per key.
#[async_trait]
pub trait RateLimiter: Send + Sync + 'static {
    /// Counts one hit on `key`: `Ok(())` while within `quota`, `Err(retry_after)` past it.
    async fn hit(&self, key: &str, quota: Quota) -> Result<(), Duration>;
}

impl Default for RateLimits {
    /// The product defaults: 600 requests a minute per client IP, 300 per user, 600 per workspace,
    /// and 20 sign-up, login, refresh or password-reset attempts a minute per client IP.
    fn default() -> Self {
        let minute = Duration::from_secs(60);
        RateLimits {
            per_ip: Quota {
                limit: 600,
                window: minute,
            },
            per_user: Quota {
                limit: 300,
                window: minute,
            },
            per_workspace: Quota {
                limit: 600,
                window: minute,
            },
            auth_per_ip: Quota {
                limit: 20,
                window: minute,
            },
        }
    }
}

impl RateLimits {
    /// Reads the `SAAS_RATE_LIMITS` setting.
    ///
    /// - `off` turns rate limits off: `Ok(None)`.
    /// - an empty value, `on` or `default` keeps the defaults.
    /// - otherwise a comma-separated list of `name=limit/window` entries, where `name` is one of
    ///   `ip`, `user`, `workspace` or `auth`, `limit` is a whole number of at least 1 and `window`
    ///   is a whole number of seconds (`60s`) or minutes (`1m`), at least one second. Each entry
    ///   replaces the default for its name; names left out keep their default; a name given twice
    ///   is an error.
    ///
    /// Keywords and names are read case-insensitively and spaces around entries are ignored. An
    /// error message quotes the entry that could not be read.
    pub fn parse(spec: &str) -> Result<Option<RateLimits>, String> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let mut limits = RateLimits::default();
        if spec.is_empty()
            || spec.eq_ignore_ascii_case("on")
            || spec.eq_ignore_ascii_case("default")
        {
            return Ok(Some(limits));
        }
        let mut seen: Vec<String> = Vec::new();
        for entry in spec.split(',') {
            let entry = entry.trim();
            if entry.is_empty() {
                return Err(format!(
                    "rate limits {spec:?}: empty entry (expected name=limit/window, e.g. ip=600/60s)"
                ));
            }
            let bad = |why: String| format!("rate limit entry {entry:?}: {why}");
            let Some((name, quota)) = entry.split_once('=') else {
                return Err(bad(
                    "expected name=limit/window, e.g. ip=600/60s, or one of off, on, default"
                        .to_owned(),
                ));
            };
            let name = name.trim().to_ascii_lowercase();
            let slot = match name.as_str() {
                "ip" => &mut limits.per_ip,
                "user" => &mut limits.per_user,
                "workspace" => &mut limits.per_workspace,
                "auth" => &mut limits.auth_per_ip,
                _ => {
                    return Err(bad(format!(
                        "unknown name {name:?} (expected ip, user, workspace or auth)"
                    )));
                }
            };
            if seen.contains(&name) {
                return Err(bad(format!("{name:?} is given more than once")));
            }
            *slot = parse_quota(quota.trim()).map_err(bad)?;
            seen.push(name);
        }
        Ok(Some(limits))
    }
}

/// Reads `limit/window`, e.g. `600/60s` or `20/1m`.
fn parse_quota(text: &str) -> Result<Quota, String> {
    let Some((limit, window)) = text.split_once('/') else {
        return Err(format!("{text:?} is not limit/window (e.g. 600/60s)"));
    };
    let limit = limit.trim();
    let limit = match limit.parse::<u32>() {
        Ok(0) => return Err("the limit must be at least 1 (use off to turn limits off)".to_owned()),
        Ok(n) if limit.bytes().all(|b| b.is_ascii_digit()) => n,
        _ => {
            return Err(format!(
                "limit {limit:?} is not a whole number between 1 and {}",
                u32::MAX
            ));
        }
    };
    let window = window.trim();
    let (amount, seconds_per_unit) = if let Some(n) = window.strip_suffix(['s', 'S']) {
        (n, 1)
    } else if let Some(n) = window.strip_suffix(['m', 'M']) {
        (n, 60)
    } else {
        return Err(format!(
            "window {window:?} needs a unit: s for seconds or m for minutes (e.g. 60s, 1m)"
        ));
    };
    let seconds = amount
        .parse::<u64>()
        .ok()
        .filter(|_| !amount.is_empty() && amount.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|n| n.checked_mul(seconds_per_unit))
        .filter(|&s| s <= MAX_WINDOW_SECS);
    match seconds {
        Some(0) => Err(format!("window {window:?} must be at least one second")),
        Some(s) => Ok(Quota {
            limit,
            window: Duration::from_secs(s),
        }),
        None => Err(format!(
            "window {window:?} is not a whole number of seconds or minutes up to one day"
        )),
    }
}

/// The longest window `SAAS_RATE_LIMITS` accepts: one day.
const MAX_WINDOW_SECS: u64 = 24 * 60 * 60;

/// How long a refused client should wait: `remaining` rounded up to whole seconds, at least one
/// second (the `Retry-After` header counts whole seconds, and zero would invite an instant retry).
fn retry_after(remaining: Duration) -> Duration {
    let secs = remaining.as_secs() + u64::from(remaining.subsec_nanos() > 0);
    Duration::from_secs(secs.max(1))
}

/// Lets every request through; used when `SAAS_RATE_LIMITS=off`.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoRateLimiter;

#[async_trait]
impl RateLimiter for NoRateLimiter {
    async fn hit(&self, _key: &str, _quota: Quota) -> Result<(), Duration> {
        Ok(())
    }
}

/// One key's current window.
#[derive(Debug, Clone, Copy)]
struct Window {
    started: Instant,
    ends: Instant,
    hits: u32,
}

/// Counts hits in this process's memory, in fixed windows per key; suits a single edge process.
///
/// A key's window starts at its first hit and lasts the quota's window; the `limit` hits inside it
/// are allowed and later ones are refused with the time left until the window ends, rounded up
/// to whole seconds. The next hit after the end starts a new window.
///
/// Memory stays bounded: at most `capacity` keys are tracked. When a new key arrives and the table
/// is full, the windows that have already ended are dropped first; if that frees less than half
/// of the table, the windows that started earliest are dropped too until half of it is free.
/// A dropped key simply starts a fresh window on its next hit, so the cap never refuses a client;
/// under a flood of distinct keys the oldest counts are forgotten instead. Clearing half at once
/// keeps the cost of a sweep spread over many hits.
#[derive(Debug)]
pub struct MemoryRateLimiter {
    windows: Mutex<HashMap<String, Window>>,
    capacity: usize,
}

impl MemoryRateLimiter {
    /// How many keys [`MemoryRateLimiter::new`] tracks at most.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    /// A limiter tracking at most [`Self::DEFAULT_CAPACITY`] keys.
    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A limiter tracking at most `capacity` keys (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryRateLimiter {
            windows: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Window>> {
        // A panic while the lock was held leaves at worst one half-updated count; keep counting.
        self.windows.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn hit_at(&self, key: &str, quota: Quota, now: Instant) -> Result<(), Duration> {
        let mut windows = self.lock();
        if let Some(window) = windows.get_mut(key) {
            if now < window.ends {
                window.hits = window.hits.saturating_add(1);
                return if window.hits <= quota.limit {
                    Ok(())
                } else {
                    Err(retry_after(window.ends - now))
                };
            }
        } else if windows.len() >= self.capacity {
            self.make_room(&mut windows, now);
        }
        windows.insert(
            key.to_owned(),
            Window {
                started: now,
                ends: now + quota.window,
                hits: 1,
            },
        );
        if quota.limit >= 1 {
            Ok(())
        } else {
            Err(retry_after(quota.window))
        }
    }

    /// Drops ended windows, then the earliest-started ones until at most half the capacity is used.
    fn make_room(&self, windows: &mut HashMap<String, Window>, now: Instant) {
        windows.retain(|_, window| now < window.ends);
        let keep = self.capacity / 2;
        if windows.len() <= keep {
            return;
        }
        let mut by_start: Vec<(Instant, &str)> = windows
            .iter()
            .map(|(key, window)| (window.started, key.as_str()))
            .collect();
        let drop = by_start.len() - keep;
        by_start.select_nth_unstable_by_key(drop - 1, |&(started, _)| started);
        let oldest: Vec<String> = by_start[..drop]
            .iter()
            .map(|&(_, key)| key.to_owned())
            .collect();
        for key in oldest {
            windows.remove(&key);
        }
    }

    #[cfg(test)]
    fn tracked_keys(&self) -> usize {
        self.lock().len()
    }
}

impl Default for MemoryRateLimiter {
    fn default() -> Self {
        Self::new()
    }
}

#[async_trait]
impl RateLimiter for MemoryRateLimiter {
    async fn hit(&self, key: &str, quota: Quota) -> Result<(), Duration> {
        self.hit_at(key, quota, Instant::now())
    }
}

/// Counts one hit atomically: the first hit of a window sets the window's expiry, a key found
/// without an expiry gets one, and the reply is `{hits in this window, milliseconds left}`.
const HIT_SCRIPT: &str = r"
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  left = tonumber(ARGV[1])
end
return {hits, left}
";

/// Every key this limiter writes starts with this prefix.
const KEY_PREFIX: &str = "saas:rl:";

/// Counts hits in Redis, so every edge process shares one count per key (fixed windows, keys
/// prefixed `saas:rl:`).
///
/// Each hit runs one Lua script (`INCR`, `PEXPIRE` on the window's first hit, `PTTL`), so
/// concurrent hits from any number of processes are counted exactly once each.
///
/// Redis is a cache here, not a gate: when it is down, slow (no answer within 200 ms) or
/// answers with an error, the hit is allowed ("fails open") and a warning is logged at most
/// once a minute with the number of requests let through unchecked since the last one. After
/// a failure, hits skip Redis for one second so requests do not each wait for the timeout; the
/// connection is re-established in the background (see [`crate::redis_link`]). An outage of
/// the rate-limit store therefore turns rate limits off for its duration but never takes the
/// API down.
pub struct RedisRateLimiter {
    link: RedisLink,
    script: Script,
    outage: Outage,
}

impl std::fmt::Debug for RedisRateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisRateLimiter").finish_non_exhaustive()
    }
}

impl RedisRateLimiter {
    /// A limiter on the shared connection `link`.
    pub fn new(link: RedisLink) -> RedisRateLimiter {
        RedisRateLimiter {
            link,
            script: Script::new(HIT_SCRIPT),
            outage: Outage::default(),
        }
    }

    /// A limiter on a connection of its own to the Redis at `url` (see
    /// [`RedisLink::connect`]).
    pub async fn connect(url: &str) -> Result<RedisRateLimiter, String> {
        Ok(Self::new(RedisLink::connect(url).await?))
    }

    #[cfg(test)]
    fn outage(&self) -> std::sync::MutexGuard<'_, crate::redis_link::OutageState> {
        self.outage.lock()
    }

    /// Asks Redis to count one hit: `(hits in the window, milliseconds left in it)`.
    async fn count(&self, key: &str, quota: Quota) -> Result<(i64, i64), String> {
        let window_ms = u64::try_from(quota.window.as_millis())
            .unwrap_or(u64::MAX)
            .max(1);
        let mut connection = self.link.connection();
        let mut invocation = self.script.prepare_invoke();
        invocation.key(format!("{KEY_PREFIX}{key}")).arg(window_ms);
        self.link
            .run(invocation.invoke_async::<(i64, i64)>(&mut connection))
            .await
    }
}

#[async_trait]
impl RateLimiter for RedisRateLimiter {
    async fn hit(&self, key: &str, quota: Quota) -> Result<(), Duration> {
        let now = Instant::now();
        if self.outage.skipping(now) {
            return Ok(());
        }
        match self.count(key, quota).await {
            Ok((hits, left_ms)) => {
                self.outage.answered("rate limits apply again");
                if hits <= i64::from(quota.limit) {
                    return Ok(());
                }
                let left = u64::try_from(left_ms)
                    .ok()
                    .filter(|&ms| ms > 0)
                    .map_or(quota.window, Duration::from_millis);
                Err(retry_after(left))
            }
            Err(error) => {
                self.outage.failed(
                    &error,
                    "rate limits: requests are allowed without a limit until it answers",
                    now,
                );
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redis::Client;

    fn quota(limit: u32, window_secs: u64) -> Quota {
        Quota {
            limit,
            window: Duration::from_secs(window_secs),
        }
    }

    // ---- RateLimits::parse ----

    #[test]
    fn defaults_are_the_product_defaults() {
        let limits = RateLimits::default();
        assert_eq!(limits.per_ip, quota(600, 60));
        assert_eq!(limits.per_user, quota(300, 60));
        assert_eq!(limits.per_workspace, quota(600, 60));
        assert_eq!(limits.auth_per_ip, quota(20, 60));
    }

    #[test]
    fn off_turns_limits_off() {
        assert_eq!(RateLimits::parse("off"), Ok(None));
        assert_eq!(RateLimits::parse(" OFF "), Ok(None));
    }

    #[test]
    fn empty_on_and_default_keep_the_defaults() {
        for spec in ["", "  ", "on", "On", "default", "DEFAULT"] {
            assert_eq!(
                RateLimits::parse(spec),
                Ok(Some(RateLimits::default())),
                "{spec:?}"
            );
        }
    }

    #[test]
    fn a_full_list_sets_every_quota() {
        let limits =
            RateLimits::parse("ip=1000/30s, user=50/2m ,workspace=7/1s,AUTH=3/60s").unwrap();
        assert_eq!(
            limits,
            Some(RateLimits {
                per_ip: quota(1000, 30),
                per_user: quota(50, 120),
                per_workspace: quota(7, 1),
                auth_per_ip: quota(3, 60),
            })
        );
    }

    #[test]
    fn names_left_out_keep_their_default() {
        let limits = RateLimits::parse("auth=5/1m").unwrap().unwrap();
        let defaults = RateLimits::default();
        assert_eq!(limits.auth_per_ip, quota(5, 60));
        assert_eq!(limits.per_ip, defaults.per_ip);
        assert_eq!(limits.per_user, defaults.per_user);
        assert_eq!(limits.per_workspace, defaults.per_workspace);
    }

    #[test]
    fn bad_entries_are_refused_naming_the_entry() {
        let cases = [
            ("fast", "\"fast\""),
            ("ip=600/60s,host=1/1s", "\"host\""),
            ("ip=600", "\"600\""),
            ("ip=abc/60s", "\"abc\""),
            ("ip=-1/60s", "\"-1\""),
            ("ip=+5/60s", "\"+5\""),
            ("ip=0/60s", "at least 1"),
            ("ip=600/60h", "\"60h\""),
            ("ip=600/60", "\"60\""),
            ("ip=600/s", "\"s\""),
            ("ip=600/0s", "\"0s\""),
            ("ip=600/2000m", "\"2000m\""),
            ("ip=600/99999999999999999999s", "99999999999999999999s"),
            ("ip=600/60s,ip=5/1s", "more than once"),
            ("ip=600/60s,,user=1/1s", "empty entry"),
            ("ip=600/60s,", "empty entry"),
            ("off,ip=1/1s", "\"off\""),
        ];
        for (spec, expected) in cases {
            match RateLimits::parse(spec) {
                Err(message) => assert!(
                    message.contains(expected),
                    "{spec:?}: message {message:?} should mention {expected}"
                ),
                Ok(limits) => panic!("{spec:?} should be refused, got {limits:?}"),
            }
        }
    }

    #[test]
    fn retry_after_rounds_up_to_whole_seconds() {
        assert_eq!(retry_after(Duration::ZERO), Duration::from_secs(1));
        assert_eq!(
            retry_after(Duration::from_millis(1)),
            Duration::from_secs(1)
        );
        assert_eq!(retry_after(Duration::from_secs(1)), Duration::from_secs(1));
        assert_eq!(
            retry_after(Duration::from_millis(1001)),
            Duration::from_secs(2)
        );
        assert_eq!(
            retry_after(Duration::from_secs(60)),
            Duration::from_secs(60)
        );
    }

    // ---- NoRateLimiter ----

    #[tokio::test]
    async fn no_limiter_allows_everything() {
        let limiter = NoRateLimiter;
        for _ in 0..10 {
            assert_eq!(limiter.hit("ip:1.2.3.4", quota(1, 60)).await, Ok(()));
        }
    }

    // ---- MemoryRateLimiter ----

    #[tokio::test(start_paused = true)]
    async fn memory_allows_exactly_the_limit_then_tells_when_to_retry() {
        let limiter = MemoryRateLimiter::new();
        let q = quota(3, 10);
        for _ in 0..3 {
            assert_eq!(limiter.hit("ip:a", q).await, Ok(()));
        }
        let Err(wait) = limiter.hit("ip:a", q).await else {
            panic!("the fourth hit should be refused");
        };
        assert!(
            wait >= Duration::from_secs(1) && wait <= q.window,
            "{wait:?}"
        );
        assert_eq!(wait, Duration::from_secs(10));

        tokio::time::advance(Duration::from_secs(4)).await;
        assert_eq!(limiter.hit("ip:a", q).await, Err(Duration::from_secs(6)));
        tokio::time::advance(Duration::from_millis(5_500)).await;
        assert_eq!(limiter.hit("ip:a", q).await, Err(Duration::from_secs(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn memory_starts_a_fresh_window_after_the_window() {
        let limiter = MemoryRateLimiter::new();
        let q = quota(2, 60);
        assert_eq!(limiter.hit("user:u", q).await, Ok(()));
        assert_eq!(limiter.hit("user:u", q).await, Ok(()));
        assert!(limiter.hit("user:u", q).await.is_err());

        tokio::time::advance(Duration::from_secs(59)).await;
        assert!(limiter.hit("user:u", q).await.is_err());
        tokio::time::advance(Duration::from_secs(1)).await;
        assert_eq!(limiter.hit("user:u", q).await, Ok(()));
        assert_eq!(limiter.hit("user:u", q).await, Ok(()));
        assert_eq!(limiter.hit("user:u", q).await, Err(Duration::from_secs(60)));
    }

    #[tokio::test(start_paused = true)]
    async fn memory_counts_keys_independently() {
        let limiter = MemoryRateLimiter::new();
        let q = quota(1, 60);
        assert_eq!(limiter.hit("ip:1", q).await, Ok(()));
        assert!(limiter.hit("ip:1", q).await.is_err());
        assert_eq!(limiter.hit("ip:2", q).await, Ok(()));
        assert_eq!(limiter.hit("auth-ip:1", q).await, Ok(()));
        assert!(limiter.hit("ip:2", q).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn memory_with_a_zero_limit_refuses_every_hit() {
        let limiter = MemoryRateLimiter::new();
        assert_eq!(
            limiter.hit("ip:z", quota(0, 30)).await,
            Err(Duration::from_secs(30))
        );
        assert!(limiter.hit("ip:z", quota(0, 30)).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn memory_stays_within_its_capacity() {
        let limiter = MemoryRateLimiter::with_capacity(10);
        let q = quota(1, 60);
        for i in 0..1_000 {
            assert_eq!(limiter.hit(&format!("ip:{i}"), q).await, Ok(()));
            assert!(limiter.tracked_keys() <= 10, "after key {i}");
        }
        // The most recent key is still counted.
        assert!(limiter.hit("ip:999", q).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn memory_drops_ended_windows_before_live_ones() {
        let limiter = MemoryRateLimiter::with_capacity(4);
        assert_eq!(limiter.hit("short:1", quota(1, 1)).await, Ok(()));
        assert_eq!(limiter.hit("short:2", quota(1, 1)).await, Ok(()));
        tokio::time::advance(Duration::from_secs(2)).await;
        assert_eq!(limiter.hit("long:1", quota(1, 60)).await, Ok(()));
        assert_eq!(limiter.hit("long:2", quota(1, 60)).await, Ok(()));
        assert_eq!(limiter.tracked_keys(), 4);

        assert_eq!(limiter.hit("long:3", quota(1, 60)).await, Ok(()));
        assert_eq!(limiter.tracked_keys(), 3);
        // The live windows were kept, so they still refuse.
        assert!(limiter.hit("long:1", quota(1, 60)).await.is_err());
        assert!(limiter.hit("long:2", quota(1, 60)).await.is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn memory_drops_the_oldest_half_when_nothing_has_ended() {
        let limiter = MemoryRateLimiter::with_capacity(4);
        let q = quota(1, 60);
        for i in 1..=4 {
            assert_eq!(limiter.hit(&format!("k:{i}"), q).await, Ok(()));
            tokio::time::advance(Duration::from_secs(1)).await;
        }
        assert_eq!(limiter.hit("k:5", q).await, Ok(()));
        assert_eq!(limiter.tracked_keys(), 3);
        // The newer windows are still counted...
        assert!(limiter.hit("k:3", q).await.is_err());
        assert!(limiter.hit("k:4", q).await.is_err());
        assert!(limiter.hit("k:5", q).await.is_err());
        // ...and the oldest two were forgotten: their clients start afresh.
        assert_eq!(limiter.hit("k:1", q).await, Ok(()));
    }

    // ---- RedisRateLimiter ----

    /// The Redis to test against, from `SAAS_TEST_REDIS_URL`; `None` skips the test.
    fn test_redis_url(test: &str) -> Option<String> {
        match std::env::var("SAAS_TEST_REDIS_URL") {
            Ok(url) if !url.trim().is_empty() => Some(url),
            _ => {
                eprintln!("{test}: skipped, SAAS_TEST_REDIS_URL is not set");
                None
            }
        }
    }

    fn unique_key(kind: &str) -> String {
        format!("test-{kind}:{}", uuid::Uuid::now_v7())
    }

    #[tokio::test]
    async fn redis_allows_exactly_the_limit_then_tells_when_to_retry() {
        let Some(url) = test_redis_url("redis_allows_exactly_the_limit") else {
            return;
        };
        let limiter = RedisRateLimiter::connect(&url).await.unwrap();
        let key = unique_key("ip");
        let q = quota(3, 60);
        for _ in 0..3 {
            assert_eq!(limiter.hit(&key, q).await, Ok(()));
        }
        for _ in 0..2 {
            let Err(wait) = limiter.hit(&key, q).await else {
                panic!("hits past the limit should be refused");
            };
            assert!(
                wait >= Duration::from_secs(1) && wait <= q.window,
                "{wait:?}"
            );
        }
        // Another key has its own count.
        assert_eq!(limiter.hit(&unique_key("ip"), q).await, Ok(()));
    }

    #[tokio::test]
    async fn redis_limiters_share_one_count() {
        let Some(url) = test_redis_url("redis_limiters_share_one_count") else {
            return;
        };
        let first = RedisRateLimiter::connect(&url).await.unwrap();
        let second = RedisRateLimiter::connect(&url).await.unwrap();
        let key = unique_key("user");
        let q = quota(2, 60);
        assert_eq!(first.hit(&key, q).await, Ok(()));
        assert_eq!(second.hit(&key, q).await, Ok(()));
        assert!(first.hit(&key, q).await.is_err());
        assert!(second.hit(&key, q).await.is_err());
    }

    #[tokio::test]
    async fn redis_keys_are_prefixed_and_expire_with_the_window() {
        let Some(url) = test_redis_url("redis_keys_expire") else {
            return;
        };
        let limiter = RedisRateLimiter::connect(&url).await.unwrap();
        let mut direct = Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let key = unique_key("workspace");
        let stored = format!("saas:rl:{key}");
        assert_eq!(limiter.hit(&key, quota(5, 30)).await, Ok(()));
        assert_eq!(limiter.hit(&key, quota(5, 30)).await, Ok(()));

        let hits: i64 = redis::cmd("GET")
            .arg(&stored)
            .query_async(&mut direct)
            .await
            .unwrap();
        assert_eq!(hits, 2);
        let ttl_ms: i64 = redis::cmd("PTTL")
            .arg(&stored)
            .query_async(&mut direct)
            .await
            .unwrap();
        assert!(ttl_ms > 0 && ttl_ms <= 30_000, "{ttl_ms}");
    }

    #[tokio::test]
    async fn redis_gives_an_expiry_to_a_key_found_without_one() {
        let Some(url) = test_redis_url("redis_key_without_expiry") else {
            return;
        };
        let limiter = RedisRateLimiter::connect(&url).await.unwrap();
        let mut direct = Client::open(url.as_str())
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let key = unique_key("ip");
        let stored = format!("saas:rl:{key}");
        let _: () = redis::cmd("SET")
            .arg(&stored)
            .arg(10)
            .query_async(&mut direct)
            .await
            .unwrap();

        assert_eq!(
            limiter.hit(&key, quota(5, 20)).await,
            Err(Duration::from_secs(20))
        );
        let ttl_ms: i64 = redis::cmd("PTTL")
            .arg(&stored)
            .query_async(&mut direct)
            .await
            .unwrap();
        assert!(ttl_ms > 0 && ttl_ms <= 20_000, "{ttl_ms}");
    }

    #[tokio::test]
    async fn redis_that_does_not_answer_lets_requests_through() {
        // A port that was just free: nothing listens there.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let limiter = RedisRateLimiter::connect(&format!("redis://127.0.0.1:{port}"))
            .await
            .unwrap();
        let q = quota(1, 60);
        for _ in 0..5 {
            assert_eq!(limiter.hit("ip:unreachable", q).await, Ok(()));
        }
        let outage = limiter.outage();
        assert!(outage.warned_unresolved, "the outage should be logged");
        assert!(outage.skip_until.is_some());
    }

    #[tokio::test]
    async fn a_malformed_redis_url_is_refused() {
        let error = RedisRateLimiter::connect("not a url").await.unwrap_err();
        assert!(error.contains("not a Redis URL"), "{error}");
    }
}
