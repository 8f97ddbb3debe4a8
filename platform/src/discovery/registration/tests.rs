//! The retry logic on tokio's paused clock, against a scripted registry.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use tokio::time::Instant;

use super::*;

#[derive(Default)]
struct State {
    reachable: bool,
    next_lease: i64,
    /// Live leases.
    leases: Vec<i64>,
    /// key → lease.
    keys: HashMap<String, i64>,
    grant_attempts: Vec<Instant>,
    puts: usize,
    revoked: Vec<i64>,
}

/// An in-memory registry whose reachability and contents the test controls.
#[derive(Clone)]
struct Fake(Arc<Mutex<State>>);

impl Fake {
    fn new() -> Fake {
        Fake(Arc::new(Mutex::new(State {
            reachable: true,
            ..State::default()
        })))
    }
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        f(&mut self.0.lock().unwrap())
    }
    fn check(&self) -> Result<(), Status> {
        if self.with(|s| s.reachable) {
            Ok(())
        } else {
            Err(Status::unavailable("connection refused"))
        }
    }
}

struct FakeKeeper {
    registry: Fake,
    lease: i64,
}

#[async_trait]
impl LeaseKeeper for FakeKeeper {
    async fn refresh(&mut self) -> Result<i64, Status> {
        self.registry.check()?;
        let alive = self.registry.with(|s| s.leases.contains(&self.lease));
        Ok(if alive { 10 } else { 0 })
    }
}

#[async_trait]
impl Registry for Fake {
    async fn grant(&self, _ttl: i64) -> Result<i64, Status> {
        self.with(|s| s.grant_attempts.push(Instant::now()));
        self.check()?;
        Ok(self.with(|s| {
            s.next_lease += 1;
            s.leases.push(s.next_lease);
            s.next_lease
        }))
    }
    async fn put(&self, key: &str, _value: Vec<u8>, lease: i64) -> Result<(), Status> {
        self.check()?;
        self.with(|s| {
            s.puts += 1;
            s.keys.insert(key.to_owned(), lease);
        });
        Ok(())
    }
    async fn keep_alive(&self, lease: i64) -> Result<Box<dyn LeaseKeeper>, Status> {
        self.check()?;
        Ok(Box::new(FakeKeeper {
            registry: self.clone(),
            lease,
        }))
    }
    async fn revoke(&self, lease: i64) -> Result<(), Status> {
        self.check()?;
        self.with(|s| {
            s.revoked.push(lease);
            s.leases.retain(|l| *l != lease);
            s.keys.retain(|_, l| *l != lease);
        });
        Ok(())
    }
    async fn delete(&self, key: &str) -> Result<(), Status> {
        self.check()?;
        self.with(|s| s.keys.remove(key));
        Ok(())
    }
}

fn config() -> RegistrationConfig {
    RegistrationConfig {
        ttl: Duration::from_secs(3),
        retry_min: Duration::from_millis(100),
        retry_max: Duration::from_secs(2),
    }
}

async fn registered_on_new_lease(registration: &Registration, old: Option<i64>) -> i64 {
    let mut changes = registration.lease_changes();
    let lease = changes
        .wait_for(|lease| lease.is_some() && *lease != old)
        .await
        .expect("registration running");
    lease.expect("some")
}

#[tokio::test(start_paused = true)]
async fn delays_grow_with_jitter_up_to_the_cap_and_reset() {
    let mut delay = RetryDelay::new(Duration::from_millis(100), Duration::from_secs(2));
    let delays: Vec<Duration> = (0..20).map(|_| delay.next_delay()).collect();
    // The k-th delay is the base (100 ms doubling, base capped at 1 s) plus up to as much again.
    for (k, d) in delays.iter().enumerate() {
        let base = Duration::from_millis(100 * (1u64 << k.min(10))).min(Duration::from_secs(1));
        assert!(
            *d >= base && *d <= base * 2,
            "delay {k} = {d:?}, base {base:?}"
        );
        assert!(*d <= Duration::from_secs(2));
    }
    // Jitter: the capped delays are not all the same.
    let capped = &delays[10..];
    assert!(capped.iter().any(|d| *d != capped[0]), "{capped:?}");
    delay.reset();
    assert!(delay.next_delay() <= Duration::from_millis(200));
}

#[tokio::test(start_paused = true)]
async fn the_key_is_put_on_a_lease_that_is_kept_alive() {
    let fake = Fake::new();
    let registration =
        Registration::start(Arc::new(fake.clone()), "identity", "10.0.0.1:1", config());
    assert!(registration.key().starts_with("/saas/services/identity/"));
    let lease = registered_on_new_lease(&registration, None).await;
    // Many TTLs later the same lease still holds the key: nothing was re-registered.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(registration.lease(), Some(lease));
    assert_eq!(fake.with(|s| s.puts), 1);
    assert_eq!(
        fake.with(|s| s.keys.get(registration.key()).copied()),
        Some(lease)
    );
}

#[tokio::test(start_paused = true)]
async fn a_lease_that_is_gone_is_granted_again_and_the_key_put_again() {
    let fake = Fake::new();
    let registration =
        Registration::start(Arc::new(fake.clone()), "billing", "10.0.0.1:1", config());
    let first = registered_on_new_lease(&registration, None).await;
    // etcd restarted on an empty data directory: no lease, no key.
    fake.with(|s| {
        s.leases.clear();
        s.keys.clear();
    });
    let second = registered_on_new_lease(&registration, Some(first)).await;
    assert_ne!(first, second);
    assert_eq!(
        fake.with(|s| s.keys.get(registration.key()).copied()),
        Some(second)
    );
    assert_eq!(fake.with(|s| s.puts), 2);
}

#[tokio::test(start_paused = true)]
async fn an_unreachable_registry_is_retried_forever_within_the_cap() {
    let fake = Fake::new();
    let registration =
        Registration::start(Arc::new(fake.clone()), "workspace", "10.0.0.1:1", config());
    let first = registered_on_new_lease(&registration, None).await;
    fake.with(|s| s.reachable = false);
    // Far longer than any "give up after N keep-alives" would allow.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(registration.lease(), None);
    let attempts = fake.with(|s| s.grant_attempts.clone());
    let failed = &attempts[1..];
    assert!(
        failed.len() >= 200,
        "only {} attempts in 10 minutes",
        failed.len()
    );
    for pair in failed.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap <= Duration::from_secs(2),
            "waited {gap:?} between attempts"
        );
    }
    // The registry comes back (with its data: the old lease expired meanwhile).
    fake.with(|s| {
        s.reachable = true;
        s.leases.clear();
        s.keys.clear();
    });
    let again = registered_on_new_lease(&registration, Some(first)).await;
    assert_eq!(
        fake.with(|s| s.keys.get(registration.key()).copied()),
        Some(again)
    );
}

#[tokio::test(start_paused = true)]
async fn deregistering_revokes_the_lease() {
    let fake = Fake::new();
    let registration =
        Registration::start(Arc::new(fake.clone()), "identity", "10.0.0.1:1", config());
    let lease = registered_on_new_lease(&registration, None).await;
    let key = registration.key().to_owned();
    registration.deregister().await;
    assert_eq!(fake.with(|s| s.revoked.clone()), vec![lease]);
    assert!(fake.with(|s| !s.keys.contains_key(&key)));
}

#[tokio::test(start_paused = true)]
async fn deregistering_while_the_registry_is_down_returns_promptly() {
    let fake = Fake::new();
    let registration =
        Registration::start(Arc::new(fake.clone()), "identity", "10.0.0.1:1", config());
    registered_on_new_lease(&registration, None).await;
    fake.with(|s| s.reachable = false);
    let started = Instant::now();
    registration.deregister().await;
    assert!(Instant::now() - started <= DEREGISTER_TIMEOUT);
}
