//! The cache's rules, on tokio's paused clock (memory) and on the Redis of
//! `SAAS_TEST_REDIS_URL` (skipped without it).

use super::*;

const SECOND: Duration = Duration::from_secs(1);

fn member(version: u64) -> Membership {
    Membership {
        version,
        role: Some(Role::Member),
    }
}

fn ids() -> (Uuid, Uuid) {
    (Uuid::now_v7(), Uuid::now_v7())
}

#[tokio::test(start_paused = true)]
async fn an_entry_is_used_until_one_second_after_its_read() {
    let cache = MemoryGateCache::new();
    let (workspace, user) = ids();
    let read_at = Instant::now();
    cache.put_at(workspace, user, member(3), read_at, read_at);
    assert_eq!(cache.get_at(workspace, user, read_at), Some(member(3)));
    tokio::time::advance(SECOND - Duration::from_millis(1)).await;
    assert_eq!(
        cache.get_at(workspace, user, Instant::now()),
        Some(member(3))
    );
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(cache.get_at(workspace, user, Instant::now()), None);
}

#[tokio::test(start_paused = true)]
async fn age_counts_from_the_read_not_from_the_store() {
    let cache = MemoryGateCache::new();
    let (workspace, user) = ids();
    let read_at = Instant::now();
    // The read took 900 ms to come back.
    tokio::time::advance(Duration::from_millis(900)).await;
    cache.put_at(workspace, user, member(3), read_at, Instant::now());
    assert_eq!(
        cache.get_at(workspace, user, Instant::now()),
        Some(member(3))
    );
    tokio::time::advance(Duration::from_millis(100)).await;
    assert_eq!(cache.get_at(workspace, user, Instant::now()), None);
}

#[tokio::test(start_paused = true)]
async fn a_read_older_than_one_second_is_not_stored() {
    let cache = MemoryGateCache::new();
    let (workspace, user) = ids();
    let read_at = Instant::now();
    tokio::time::advance(SECOND).await;
    cache.put_at(workspace, user, member(3), read_at, Instant::now());
    assert_eq!(cache.len(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_lower_version_never_replaces_a_held_entry() {
    let cache = MemoryGateCache::new();
    let (workspace, user) = ids();
    let removed = Membership {
        version: 5,
        role: None,
    };
    let first = Instant::now();
    cache.put_at(workspace, user, removed, first, first);
    // A slower read, sent later but of an older version, comes back.
    tokio::time::advance(Duration::from_millis(10)).await;
    let now = Instant::now();
    cache.put_at(workspace, user, member(4), now, now);
    assert_eq!(cache.get_at(workspace, user, now), Some(removed));
    // A newer version replaces it.
    let owner = Membership {
        version: 6,
        role: Some(Role::Owner),
    };
    cache.put_at(workspace, user, owner, now, now);
    assert_eq!(cache.get_at(workspace, user, now), Some(owner));
}

#[tokio::test(start_paused = true)]
async fn the_same_version_read_later_extends_the_entry_and_never_shortens_it() {
    let cache = MemoryGateCache::new();
    let (workspace, user) = ids();
    let first = Instant::now();
    tokio::time::advance(Duration::from_millis(600)).await;
    let second = Instant::now();
    cache.put_at(workspace, user, member(2), second, second);
    // The earlier read of the same version does not shorten it.
    cache.put_at(workspace, user, member(2), first, second);
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(
        cache.get_at(workspace, user, Instant::now()),
        Some(member(2))
    );
    tokio::time::advance(Duration::from_millis(500)).await;
    assert_eq!(cache.get_at(workspace, user, Instant::now()), None);
}

#[tokio::test(start_paused = true)]
async fn a_seen_version_hides_older_entries_of_its_workspace() {
    let cache = MemoryGateCache::new();
    let (workspace, user) = ids();
    let other = Uuid::now_v7();
    let now = Instant::now();
    cache.put_at(workspace, user, member(4), now, now);
    cache.put_at(other, user, member(4), now, now);
    cache.saw_at(workspace, 5, now);
    assert_eq!(cache.get_at(workspace, user, now), None);
    assert_eq!(
        cache.get_at(other, user, now),
        Some(member(4)),
        "other workspaces keep theirs"
    );
    // Older reads are not stored under the floor; the floor's version and newer are.
    cache.put_at(workspace, user, member(4), now, now);
    assert_eq!(cache.get_at(workspace, user, now), None);
    cache.put_at(workspace, user, member(5), now, now);
    assert_eq!(cache.get_at(workspace, user, now), Some(member(5)));
    // A floor never goes down.
    cache.saw_at(workspace, 3, now);
    cache.saw_at(workspace, 6, now);
    cache.saw_at(workspace, 4, now);
    assert_eq!(cache.get_at(workspace, user, now), None);
}

#[tokio::test(start_paused = true)]
async fn the_cache_stays_within_its_capacity() {
    let cache = MemoryGateCache::with_capacity(8);
    let user = Uuid::now_v7();
    for i in 0..100u64 {
        let now = Instant::now();
        cache.put_at(Uuid::now_v7(), user, member(i), now, now);
        assert!(cache.len() <= 8, "after entry {i}");
        tokio::time::advance(Duration::from_millis(100)).await;
    }
}

#[test]
fn entries_encode_and_decode() {
    for role in [
        None,
        Some(Role::Member),
        Some(Role::Admin),
        Some(Role::Owner),
    ] {
        let membership = Membership { version: 42, role };
        assert_eq!(
            decode(&encode(membership, 1_700_000_000_123)),
            Some((membership, 1_700_000_000_123))
        );
    }
    for bad in ["", "1", "1:1", "1:9:5", "x:1:5", "1:1:5:6", "-1:1:5"] {
        assert_eq!(decode(bad), None, "{bad:?}");
    }
}

// ---- Redis ----

/// The Redis to test against, from `SAAS_TEST_REDIS_URL`; `None` skips the test.
async fn test_redis(test: &str) -> Option<(RedisLink, redis::aio::MultiplexedConnection)> {
    match std::env::var("SAAS_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => {
            let link = RedisLink::connect(&url).await.expect("connect");
            let direct = redis::Client::open(url.as_str())
                .expect("url")
                .get_multiplexed_async_connection()
                .await
                .expect("connect directly");
            Some((link, direct))
        }
        _ => {
            eprintln!("{test}: skipped, SAAS_TEST_REDIS_URL is not set");
            None
        }
    }
}

#[tokio::test]
async fn redis_entries_are_shared_and_expire_within_a_second_of_their_read() {
    let Some((link, mut direct)) = test_redis("redis_entries_are_shared").await else {
        return;
    };
    let (one, two) = (RedisGateCache::new(link.clone()), RedisGateCache::new(link));
    let (workspace, user) = ids();
    let read_at = Instant::now();
    one.put(workspace, user, member(7), read_at).await;
    assert_eq!(two.get(workspace, user).await, Some(member(7)));
    let ttl_ms: i64 = redis::cmd("PTTL")
        .arg(RedisGateCache::entry_key(workspace, user))
        .query_async(&mut direct)
        .await
        .expect("PTTL");
    assert!(ttl_ms > 0 && ttl_ms <= 1000, "{ttl_ms}");
    // A read sent more than a second ago is not stored.
    let (workspace, user) = ids();
    let old = Instant::now()
        .checked_sub(Duration::from_millis(1_500))
        .expect("an instant 1.5 s ago");
    one.put(workspace, user, member(7), old).await;
    assert_eq!(two.get(workspace, user).await, None);
}

#[tokio::test]
async fn redis_never_replaces_an_entry_with_a_lower_version() {
    let Some((link, _direct)) = test_redis("redis_never_replaces_a_lower_version").await else {
        return;
    };
    let cache = RedisGateCache::new(link);
    let (workspace, user) = ids();
    let removed = Membership {
        version: 9,
        role: None,
    };
    cache.put(workspace, user, removed, Instant::now()).await;
    cache.put(workspace, user, member(8), Instant::now()).await;
    assert_eq!(cache.get(workspace, user).await, Some(removed));
    let admin = Membership {
        version: 10,
        role: Some(Role::Admin),
    };
    cache.put(workspace, user, admin, Instant::now()).await;
    assert_eq!(cache.get(workspace, user).await, Some(admin));
}

#[tokio::test]
async fn redis_floor_hides_older_entries_on_every_replica() {
    let Some((link, _direct)) = test_redis("redis_floor_hides_older_entries").await else {
        return;
    };
    let (one, two) = (RedisGateCache::new(link.clone()), RedisGateCache::new(link));
    let (workspace, user) = ids();
    one.put(workspace, user, member(3), Instant::now()).await;
    two.saw(workspace, 4).await;
    assert_eq!(one.get(workspace, user).await, None);
    one.put(workspace, user, member(3), Instant::now()).await;
    assert_eq!(
        one.get(workspace, user).await,
        None,
        "not stored under the floor"
    );
    two.saw(workspace, 2).await;
    one.put(workspace, user, member(4), Instant::now()).await;
    assert_eq!(one.get(workspace, user).await, Some(member(4)));
}

#[tokio::test]
async fn redis_that_does_not_answer_caches_nothing() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let link = RedisLink::connect(&format!("redis://127.0.0.1:{port}"))
        .await
        .expect("a URL");
    let cache = RedisGateCache::new(link);
    let (workspace, user) = ids();
    cache.put(workspace, user, member(1), Instant::now()).await;
    cache.saw(workspace, 1).await;
    assert_eq!(cache.get(workspace, user).await, None);
    assert!(
        cache.outage.lock().warned_unresolved,
        "the outage is logged"
    );
}
