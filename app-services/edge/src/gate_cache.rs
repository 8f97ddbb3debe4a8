//! The tenancy gate's cache: what a user is in a workspace (a role, or not a member), as the
//! Workspace service last said, so hot requests under `/v1/workspaces/{workspace_id}` need
//! not read the whole workspace before their handler runs.
//!
//! Rules (PRODUCT.md, "Replicas"):
//!
//! - **An entry is never used more than [`ENTRY_LIFETIME`] (1 s) after it was read.** Its
//!   age counts from the moment the read was *sent* to the Workspace service, not from when
//!   it was stored, and nothing (the bus, a later write) extends it. A removed member or a
//!   demoted role therefore loses access within 1 s on every edge, with or without a bus.
//! - **Entries are versioned** by the workspace's version: a lower version never replaces a
//!   held entry (a slow read cannot undo a newer one).
//! - **What this edge changed, it knows at once** ([`GateCache::saw`]): a workspace a command
//!   of this edge returned sets a floor (its version) under which no entry of that workspace
//!   is used or stored, for the 1 s an older entry could live. With Redis every replica sees
//!   the floor.
//! - **Only the gate's decision is cached.** A handler that shows workspace data (the
//!   workspace, its members or invitations, an invitation about to be sent) has its route
//!   declared as reading the workspace, and the gate then reads it fresh and decides on that
//!   read (refreshing the entry); nothing a response shows comes from this cache.
//!
//! Where entries live: in this process ([`MemoryGateCache`]), or, with `SAAS_REDIS_URL`, in
//! Redis ([`RedisGateCache`]) so the replicas share them. Redis keys are
//! `saas:gate:<workspace>:<user>` holding `<version>:<role>:<read time, Unix ms>` with a
//! `PX` of what remains of the second, and `saas:gate:<workspace>:floor`; a Lua script
//! stores an entry only if neither a held entry nor the floor is newer. When Redis does not
//! answer (200 ms), the gate reads the workspace as if nothing were cached (skipping Redis
//! for a second after a failure): the cache is a shortcut, never the authority.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ports_app::Role;
use redis::Script;
use tokio::time::Instant;
use uuid::Uuid;

use crate::redis_link::{Outage, RedisLink};

/// How long after its read an entry may be used.
pub const ENTRY_LIFETIME: Duration = Duration::from_secs(1);

/// What the gate needs to know of one user in one workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Membership {
    /// The workspace's version the read saw.
    pub version: u64,
    /// The user's role then; `None` when not a member.
    pub role: Option<Role>,
}

/// The gate's cache, in memory or in Redis.
pub enum GateCache {
    Memory(MemoryGateCache),
    Redis(RedisGateCache),
}

impl GateCache {
    /// A cache in this process's memory.
    pub fn memory() -> GateCache {
        GateCache::Memory(MemoryGateCache::new())
    }

    /// A cache shared through the Redis of `link`.
    pub fn redis(link: RedisLink) -> GateCache {
        GateCache::Redis(RedisGateCache::new(link))
    }

    /// What `user` is in `workspace`, if an entry younger than [`ENTRY_LIFETIME`] says so.
    pub async fn get(&self, workspace: Uuid, user: Uuid) -> Option<Membership> {
        match self {
            GateCache::Memory(cache) => cache.get_at(workspace, user, Instant::now()),
            GateCache::Redis(cache) => cache.get(workspace, user).await,
        }
    }

    /// Keeps what a read sent at `read_at` said of `user` in `workspace`.
    pub async fn put(&self, workspace: Uuid, user: Uuid, membership: Membership, read_at: Instant) {
        match self {
            GateCache::Memory(cache) => {
                cache.put_at(workspace, user, membership, read_at, Instant::now());
            }
            GateCache::Redis(cache) => cache.put(workspace, user, membership, read_at).await,
        }
    }

    /// Notes that `workspace` is now at `version` (a command of this edge returned it): no
    /// entry of an older version is used or stored any more.
    pub async fn saw(&self, workspace: Uuid, version: u64) {
        match self {
            GateCache::Memory(cache) => cache.saw_at(workspace, version, Instant::now()),
            GateCache::Redis(cache) => cache.saw(workspace, version).await,
        }
    }
}

/// One cached answer and when its read was sent.
#[derive(Debug, Clone, Copy)]
struct Entry {
    membership: Membership,
    read_at: Instant,
}

/// A workspace's version as last seen from a command, and when.
#[derive(Debug, Clone, Copy)]
struct Floor {
    version: u64,
    set_at: Instant,
}

#[derive(Debug, Default)]
struct Entries {
    by_member: HashMap<(Uuid, Uuid), Entry>,
    floors: HashMap<Uuid, Floor>,
}

/// The gate's cache in this process: at most `capacity` entries (and floors).
///
/// A look-up is one lock and one hash probe on a key of two UUIDs: no allocation. When the
/// table is full, entries and floors past their second are dropped (they can no longer be
/// used); if the table is still full (more than `capacity` reads within one second), it
/// starts over, which costs only extra reads.
#[derive(Debug)]
pub struct MemoryGateCache {
    entries: Mutex<Entries>,
    capacity: usize,
}

impl Default for MemoryGateCache {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryGateCache {
    /// How many entries [`MemoryGateCache::new`] holds at most.
    pub const DEFAULT_CAPACITY: usize = 100_000;

    pub fn new() -> Self {
        Self::with_capacity(Self::DEFAULT_CAPACITY)
    }

    /// A cache of at most `capacity` entries (at least one).
    pub fn with_capacity(capacity: usize) -> Self {
        MemoryGateCache {
            entries: Mutex::new(Entries::default()),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Entries> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The entry of `user` in `workspace` usable at `now`.
    pub fn get_at(&self, workspace: Uuid, user: Uuid, now: Instant) -> Option<Membership> {
        let entries = self.lock();
        let entry = entries.by_member.get(&(workspace, user))?;
        if now.saturating_duration_since(entry.read_at) >= ENTRY_LIFETIME {
            return None;
        }
        let below_floor = entries
            .floors
            .get(&workspace)
            .is_some_and(|floor| floor.version > entry.membership.version);
        (!below_floor).then_some(entry.membership)
    }

    /// Stores what a read sent at `read_at` said, unless it is already too old to use, a
    /// held entry has a newer version (or the same version read later), or the workspace's
    /// floor is newer.
    pub fn put_at(
        &self,
        workspace: Uuid,
        user: Uuid,
        membership: Membership,
        read_at: Instant,
        now: Instant,
    ) {
        if now.saturating_duration_since(read_at) >= ENTRY_LIFETIME {
            return;
        }
        let mut entries = self.lock();
        if entries
            .floors
            .get(&workspace)
            .is_some_and(|floor| floor.version > membership.version)
        {
            return;
        }
        let entry = Entry {
            membership,
            read_at,
        };
        if let Some(held) = entries.by_member.get_mut(&(workspace, user)) {
            let held_version = held.membership.version;
            if held_version < membership.version
                || (held_version == membership.version && held.read_at < read_at)
            {
                *held = entry;
            }
            return;
        }
        if entries.by_member.len() >= self.capacity {
            Self::make_room(&mut entries, self.capacity, now);
        }
        entries.by_member.insert((workspace, user), entry);
    }

    /// Raises `workspace`'s floor to `version` (never lowers it).
    pub fn saw_at(&self, workspace: Uuid, version: u64, now: Instant) {
        let mut entries = self.lock();
        if entries.floors.len() >= self.capacity && !entries.floors.contains_key(&workspace) {
            Self::make_room(&mut entries, self.capacity, now);
        }
        let floor = entries.floors.entry(workspace).or_insert(Floor {
            version,
            set_at: now,
        });
        if floor.version <= version {
            *floor = Floor {
                version,
                set_at: now,
            };
        }
    }

    /// Drops what can no longer be used; starts over when that is not enough.
    fn make_room(entries: &mut Entries, capacity: usize, now: Instant) {
        let live = |at: Instant| now.saturating_duration_since(at) < ENTRY_LIFETIME;
        entries.by_member.retain(|_, entry| live(entry.read_at));
        entries.floors.retain(|_, floor| live(floor.set_at));
        if entries.by_member.len() >= capacity {
            entries.by_member.clear();
        }
        if entries.floors.len() >= capacity {
            // Without the floors, entries older than them could be used: drop those too.
            entries.floors.clear();
            entries.by_member.clear();
        }
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().by_member.len()
    }
}

/// Stores an entry unless a held entry or the workspace's floor is newer.
/// KEYS: entry, floor. ARGV: version, value, PX, read time (Unix ms). Returns 1 if stored.
const PUT_SCRIPT: &str = r"
local floor = tonumber(redis.call('GET', KEYS[2]) or '0')
local version = tonumber(ARGV[1])
if floor and floor > version then return 0 end
local held = redis.call('GET', KEYS[1])
if held then
  local held_version, held_read = string.match(held, '^(%d+):%d:(%d+)$')
  held_version = tonumber(held_version)
  if held_version and held_version > version then return 0 end
  if held_version == version and tonumber(held_read) > tonumber(ARGV[4]) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
";

/// Raises a workspace's floor, never lowering it. KEYS: floor. ARGV: version, PX.
const FLOOR_SCRIPT: &str = r"
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if held and held > tonumber(ARGV[1]) then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
";

/// Every key of the gate's cache starts with this prefix.
const KEY_PREFIX: &str = "saas:gate:";

/// The gate's cache in Redis, shared by the edge replicas (see the module's rules).
pub struct RedisGateCache {
    link: RedisLink,
    put: Script,
    floor: Script,
    outage: Outage,
}

impl RedisGateCache {
    pub fn new(link: RedisLink) -> Self {
        RedisGateCache {
            link,
            put: Script::new(PUT_SCRIPT),
            floor: Script::new(FLOOR_SCRIPT),
            outage: Outage::default(),
        }
    }

    fn entry_key(workspace: Uuid, user: Uuid) -> String {
        format!("{KEY_PREFIX}{workspace}:{user}")
    }

    fn floor_key(workspace: Uuid) -> String {
        format!("{KEY_PREFIX}{workspace}:floor")
    }

    /// Runs a command unless Redis failed within the last second; `None` when it cannot.
    async fn ask<T>(
        &self,
        command: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Option<T> {
        let now = Instant::now();
        if self.outage.skipping(now) {
            return None;
        }
        match self.link.run(command).await {
            Ok(reply) => {
                self.outage
                    .answered("the tenancy gate's cache is used again");
                Some(reply)
            }
            Err(error) => {
                self.outage.failed(
                    &error,
                    "the tenancy gate reads every workspace until it answers",
                    now,
                );
                None
            }
        }
    }

    /// The entry of `user` in `workspace`, if Redis holds one younger than a second and not
    /// under the workspace's floor.
    pub async fn get(&self, workspace: Uuid, user: Uuid) -> Option<Membership> {
        let mut connection = self.link.connection();
        let mut mget = redis::cmd("MGET");
        mget.arg(Self::entry_key(workspace, user))
            .arg(Self::floor_key(workspace));
        let (entry, floor) = self
            .ask(mget.query_async::<(Option<String>, Option<u64>)>(&mut connection))
            .await?;
        let (membership, read_ms) = decode(&entry?)?;
        // Expiry (PX) already bounds the entry's life; its read time guards against a
        // clock far behind the writer's.
        if unix_ms(SystemTime::now()).saturating_sub(read_ms) >= millis(ENTRY_LIFETIME) {
            return None;
        }
        if floor.is_some_and(|floor| floor > membership.version) {
            return None;
        }
        Some(membership)
    }

    /// Stores what a read sent at `read_at` said, for what remains of its second.
    pub async fn put(&self, workspace: Uuid, user: Uuid, membership: Membership, read_at: Instant) {
        let age = read_at.elapsed();
        let Some(left) = ENTRY_LIFETIME
            .checked_sub(age)
            .filter(|left| !left.is_zero())
        else {
            return;
        };
        let read_ms = unix_ms(SystemTime::now().checked_sub(age).unwrap_or(UNIX_EPOCH));
        let mut connection = self.link.connection();
        let mut invocation = self.put.prepare_invoke();
        invocation
            .key(Self::entry_key(workspace, user))
            .key(Self::floor_key(workspace))
            .arg(membership.version)
            .arg(encode(membership, read_ms))
            .arg(millis(left).max(1))
            .arg(read_ms);
        self.ask(invocation.invoke_async::<i64>(&mut connection))
            .await;
    }

    /// Raises `workspace`'s floor to `version` for [`ENTRY_LIFETIME`].
    pub async fn saw(&self, workspace: Uuid, version: u64) {
        let mut connection = self.link.connection();
        let mut invocation = self.floor.prepare_invoke();
        invocation
            .key(Self::floor_key(workspace))
            .arg(version)
            .arg(millis(ENTRY_LIFETIME));
        self.ask(invocation.invoke_async::<i64>(&mut connection))
            .await;
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn unix_ms(time: SystemTime) -> u64 {
    time.duration_since(UNIX_EPOCH).map_or(0, millis)
}

/// `<version>:<role>:<read ms>`, the role as 0 (not a member), 1 member, 2 admin, 3 owner.
fn encode(membership: Membership, read_ms: u64) -> String {
    let role = match membership.role {
        None => 0,
        Some(Role::Member) => 1,
        Some(Role::Admin) => 2,
        Some(Role::Owner) => 3,
    };
    format!("{}:{role}:{read_ms}", membership.version)
}

/// The entry [`encode`] wrote; `None` for anything else.
fn decode(value: &str) -> Option<(Membership, u64)> {
    let mut parts = value.split(':');
    let version = parts.next()?.parse().ok()?;
    let role = match parts.next()? {
        "0" => None,
        "1" => Some(Role::Member),
        "2" => Some(Role::Admin),
        "3" => Some(Role::Owner),
        _ => return None,
    };
    let read_ms = parts.next()?.parse().ok()?;
    if parts.next().is_some() {
        return None;
    }
    Some((Membership { version, role }, read_ms))
}

#[cfg(test)]
mod tests;
