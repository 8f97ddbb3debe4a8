//! Reads, and the cache that makes reading an unchanged aggregate cheap.
//!
//! Every read asks the database for the current version; the document travels (and is
//! decoded) only when this process has not decoded that version yet. So a read never serves
//! a version the database no longer holds, also when other processes write.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use kernel_domain::{AggregateRoot, Version};
use sea_orm::{
    ConnectionTrait, DbBackend, QueryResult,
    sea_query::{Expr, ExprTrait, Order, Query, SelectStatement},
};
use uuid::Uuid;

use super::{
    Page, Schema, Store, StoreError, Stored, column, decode,
    parts::doc_expr,
    readers::{self, Check},
    set_index_table,
};
use crate::rpc::{self, PageRequest};

/// Decoded aggregates with their versions, by id, so a read of an unchanged aggregate costs a
/// version comparison instead of a document transfer and a JSON decode, and a read that only
/// renders it no copy at all ([`Store::get_shared`]).
pub(super) struct ReadCache<A> {
    /// Each aggregate with the `changes` of its last version check ([`readers::Readers`];
    /// [`readers::UNCHECKED`] when none stands behind it).
    entries: Mutex<HashMap<Uuid, Entry<A>>>,
}

/// A cached aggregate and the `changes` of its last version check.
type Entry<A> = (Arc<Stored<A>>, u64);

impl<A> ReadCache<A> {
    /// How many aggregates are kept; past that, an arbitrary one makes room for each new
    /// one. Enough for the working set of a busy context (the benchmark reads 10,000
    /// users); an aggregate costs about a kilobyte, a large workspace tens.
    const CAPACITY: usize = 16_384;

    pub(super) fn new() -> Self {
        ReadCache {
            entries: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Entry<A>>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(super) fn version(&self, id: Uuid) -> Option<Version> {
        self.lock().get(&id).map(|(stored, _)| stored.version)
    }

    /// The version held and the `changes` of its last check.
    fn checked(&self, id: Uuid) -> Option<(Version, u64)> {
        self.lock()
            .get(&id)
            .map(|(stored, checked)| (stored.version, *checked))
    }

    pub(super) fn get(&self, id: Uuid, version: Version) -> Option<Arc<Stored<A>>> {
        self.lock()
            .get(&id)
            .filter(|(stored, _)| stored.version == version)
            .map(|(stored, _)| stored.clone())
    }

    /// The aggregate at `version`, noting that a check at `changes` found it current.
    fn get_checked(&self, id: Uuid, version: Version, changes: u64) -> Option<Arc<Stored<A>>> {
        let mut entries = self.lock();
        let (stored, checked) = entries
            .get_mut(&id)
            .filter(|(stored, _)| stored.version == version)?;
        *checked = changes;
        Some(stored.clone())
    }

    /// The newest version this process holds of the aggregate.
    pub(super) fn latest(&self, id: Uuid) -> Option<Arc<Stored<A>>> {
        self.lock().get(&id).map(|(stored, _)| stored.clone())
    }

    /// Keeps `stored` with no version check behind it (a committed command's aggregate).
    pub(super) fn put(&self, id: Uuid, stored: Arc<Stored<A>>) {
        self.put_checked(id, stored, readers::UNCHECKED);
    }

    /// Whatever leaves the map (the evicted entry, the version replaced, or `stored` itself
    /// when it is older) is dropped after the lock is released: the last copy of a large
    /// aggregate frees hundreds of allocations (a workspace's members and invitations), and
    /// every reader and command of the store waits for this lock. Dropped under it, that
    /// put the tokio workers to sleep on the lock at P2.workspace while a core sat idle.
    fn put_checked(&self, id: Uuid, stored: Arc<Stored<A>>, checked: u64) {
        let mut entries = self.lock();
        let evicted = if entries.len() >= Self::CAPACITY && !entries.contains_key(&id) {
            let any = entries.keys().next().copied();
            any.and_then(|evicted| entries.remove(&evicted))
        } else {
            None
        };
        // A slower reader's older version never replaces a newer one.
        let left = if entries
            .get(&id)
            .is_none_or(|(held, _)| held.version < stored.version)
        {
            entries.insert(id, (stored, checked))
        } else {
            Some((stored, checked))
        };
        drop(entries);
        drop((evicted, left));
    }
}

/// `SELECT version, doc, id FROM <table>`: the shape every document read decodes (the
/// document with its parts put back, see [`super::parts`]).
pub(super) fn documents<S: Schema>(backend: DbBackend) -> SelectStatement {
    Query::select()
        .column((S::TABLE, column::VERSION))
        .expr(doc_expr::<S>(backend))
        .column((S::TABLE, column::ID))
        .from(S::TABLE)
        .to_owned()
}

impl<S: Schema> Store<S> {
    /// Reads one aggregate. The document travels only when it changed since this process
    /// last decoded it.
    pub async fn get(&self, id: Uuid) -> Result<Option<Stored<S::Aggregate>>, StoreError> {
        Ok(self.get_shared(id).await?.map(Arc::unwrap_or_clone))
    }

    /// Reads one aggregate as [`Store::get`] does, sharing the read cache's copy instead of
    /// making one: for a caller that only looks at it (renders it, say).
    pub async fn get_shared(
        &self,
        id: Uuid,
    ) -> Result<Option<Arc<Stored<S::Aggregate>>>, StoreError> {
        let held = self.reads.checked(id);
        if let Some(readers) = &self.readers {
            let (cached, checked) = held.map_or((0, readers::UNCHECKED), |(version, checked)| {
                (version.get() as i64, checked)
            });
            match readers.check(&id.to_string(), cached, checked) {
                Ok(Check::Unchanged) => {
                    if let Some(found) = held.and_then(|(version, _)| self.reads.get(id, version)) {
                        return Ok(Some(found));
                    }
                }
                Ok(Check::Row(None, _)) => return Ok(None),
                Ok(Check::Row(Some((version, doc)), changes)) => {
                    let version = Version::new(version as u64);
                    if let Some(found) = self.settle_read(id, version, doc, changes)? {
                        return Ok(Some(found));
                    }
                }
                Err(e) => tracing::debug!(error = %e, "a SQLite read goes through the pool"),
            }
        }
        let cached = held.map_or(0, |(version, _)| version.get() as i64);
        let query = Query::select()
            .column(column::VERSION)
            .expr(
                Expr::case(Expr::col(column::VERSION).eq(cached), Expr::null())
                    .finally(doc_expr::<S>(self.backend())),
            )
            .from(S::TABLE)
            .and_where(Expr::col(column::ID).eq(id.to_string()))
            .to_owned();
        let Some(row) = self.db.query_one(&query).await? else {
            return Ok(None);
        };
        let version: i64 = row.try_get_by_index(0)?;
        let version = Version::new(version as u64);
        let doc: Option<String> = row.try_get_by_index(1)?;
        if let Some(found) = self.settle_read(id, version, doc, readers::UNCHECKED)? {
            return Ok(Some(found));
        }
        // The cached entry was replaced between the two looks: read the document.
        let query = documents::<S>(self.backend())
            .and_where(Expr::col(column::ID).eq(id.to_string()))
            .to_owned();
        let row = self.db.query_one(&query).await?;
        Ok(row.map(|row| decode(&row)).transpose()?.map(Arc::new))
    }

    /// The aggregate at the stored `version`, found current by a check at `changes`:
    /// decoded from `doc` when it travelled (and cached), else the cache's copy; `None` when
    /// the cache no longer holds that version.
    fn settle_read(
        &self,
        id: Uuid,
        version: Version,
        doc: Option<String>,
        changes: u64,
    ) -> Result<Option<Arc<Stored<S::Aggregate>>>, StoreError> {
        match doc {
            None => Ok(self.reads.get_checked(id, version, changes)),
            Some(doc) => {
                let stored = Arc::new(Stored {
                    aggregate: serde_json::from_str(&doc).map_err(StoreError::internal)?,
                    version,
                });
                self.reads.put_checked(id, stored.clone(), changes);
                Ok(Some(stored))
            }
        }
    }

    /// Reads one aggregate or answers the context's `NOT_FOUND`.
    pub async fn get_existing(&self, id: Uuid) -> Result<Stored<S::Aggregate>, StoreError> {
        self.get(id).await?.ok_or_else(|| S::not_found().into())
    }

    /// Finds the aggregate whose indexed `column` holds `value`.
    pub async fn find_by(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Option<Stored<S::Aggregate>>, StoreError> {
        let column = Self::indexed(column)?;
        let query = documents::<S>(self.backend())
            .and_where(Expr::col(column).eq(value))
            .to_owned();
        let row = self.db.query_one(&query).await?;
        row.map(|row| decode(&row)).transpose()
    }

    /// Finds the aggregate whose indexed `column` holds `value`, or answers the context's
    /// `NOT_FOUND`.
    pub async fn find_existing_by(
        &self,
        column: &str,
        value: &str,
    ) -> Result<Stored<S::Aggregate>, StoreError> {
        self.find_by(column, value)
            .await?
            .ok_or_else(|| S::not_found().into())
    }

    fn indexed(column: &str) -> Result<&'static str, StoreError> {
        S::COLUMNS
            .iter()
            .find(|c| c.name == column)
            .map(|c| c.name)
            .ok_or_else(|| StoreError::internal(format!("{column} is not an indexed column")))
    }

    /// Reads several aggregates, in the order of `ids`; unknown ids are left out.
    pub async fn get_many(&self, ids: &[Uuid]) -> Result<Vec<Stored<S::Aggregate>>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let query = documents::<S>(self.backend())
            .and_where(Expr::col(column::ID).is_in(ids.iter().map(Uuid::to_string)))
            .to_owned();
        let mut found = HashMap::new();
        for row in self.db.query_all(&query).await? {
            let id: String = row.try_get_by_index(2)?;
            found.insert(id, decode(&row)?);
        }
        Ok(ids
            .iter()
            .filter_map(|id| found.get(&id.to_string()).cloned())
            .collect())
    }

    /// One page of aggregates in id (so creation) order, and the token of the next page.
    pub async fn list(&self, page: PageRequest) -> Result<Page<S::Aggregate>, StoreError> {
        let after = page.after.map(|id| id.to_string()).unwrap_or_default();
        let query = documents::<S>(self.backend())
            .and_where(Expr::col(column::ID).gt(after))
            .order_by(column::ID, Order::Asc)
            .limit(page.size + 1)
            .to_owned();
        let rows = self.db.query_all(&query).await?;
        self.page(rows, page)
    }

    /// One page of the aggregates whose multi-valued index holds `value` (the workspaces of
    /// a user, say), in id order.
    pub async fn list_by_set_index(
        &self,
        value: &str,
        page: PageRequest,
    ) -> Result<Page<S::Aggregate>, StoreError> {
        let Some(index) = set_index_table::<S>() else {
            return Err(StoreError::internal(format!(
                "{} has no set index",
                S::TABLE
            )));
        };
        let after = page.after.map(|id| id.to_string()).unwrap_or_default();
        let query = documents::<S>(self.backend())
            .inner_join(
                index.clone(),
                Expr::col((index.clone(), column::SET_AGGREGATE_ID)).equals((S::TABLE, column::ID)),
            )
            .and_where(Expr::col((index, column::SET_VALUE)).eq(value))
            .and_where(Expr::col((S::TABLE, column::ID)).gt(after))
            .order_by((S::TABLE, column::ID), Order::Asc)
            .limit(page.size + 1)
            .to_owned();
        let rows = self.db.query_all(&query).await?;
        self.page(rows, page)
    }

    fn backend(&self) -> DbBackend {
        self.db.get_database_backend()
    }

    fn page(
        &self,
        rows: Vec<QueryResult>,
        page: PageRequest,
    ) -> Result<Page<S::Aggregate>, StoreError> {
        let more = rows.len() as u64 > page.size;
        let mut items = Vec::with_capacity(rows.len());
        for row in rows.iter().take(page.size as usize) {
            items.push(decode::<S::Aggregate>(row)?);
        }
        let next = match (more, items.last()) {
            (true, Some(last)) => rpc::encode_page_token(last.aggregate.aggregate_id()),
            _ => String::new(),
        };
        Ok(Page {
            items,
            next_page_token: next,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Weak,
        atomic::{AtomicUsize, Ordering},
    };

    use super::*;

    /// An aggregate that, when its last copy is dropped, notes whether the cache's lock was
    /// free at that moment.
    struct Probe {
        cache: Weak<ReadCache<Probe>>,
        dropped_unlocked: Arc<AtomicUsize>,
        dropped_locked: Arc<AtomicUsize>,
    }

    impl Drop for Probe {
        fn drop(&mut self) {
            if let Some(cache) = self.cache.upgrade() {
                let counter = match cache.entries.try_lock() {
                    Ok(_) => &self.dropped_unlocked,
                    Err(_) => &self.dropped_locked,
                };
                counter.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    #[test]
    fn what_leaves_the_cache_is_dropped_after_its_lock_is_released() {
        let cache = Arc::new(ReadCache::<Probe>::new());
        let unlocked = Arc::new(AtomicUsize::new(0));
        let locked = Arc::new(AtomicUsize::new(0));
        let probe = |version: u64| {
            Arc::new(Stored {
                aggregate: Probe {
                    cache: Arc::downgrade(&cache),
                    dropped_unlocked: unlocked.clone(),
                    dropped_locked: locked.clone(),
                },
                version: Version::new(version),
            })
        };
        let id = Uuid::now_v7();
        cache.put(id, probe(1));
        // A newer version replaces the one held: the old one's last copy goes.
        cache.put(id, probe(2));
        // An older version is not kept: the one offered goes.
        cache.put(id, probe(1));
        assert_eq!(cache.version(id).map(Version::get), Some(2));
        assert_eq!(unlocked.load(Ordering::SeqCst), 2);
        // Past the capacity, an entry is evicted for each new one.
        for _ in 0..ReadCache::<Probe>::CAPACITY {
            cache.put(Uuid::now_v7(), probe(1));
        }
        assert_eq!(
            locked.load(Ordering::SeqCst),
            0,
            "none dropped under the lock"
        );
        assert!(
            unlocked.load(Ordering::SeqCst) >= 3,
            "the replaced, the refused and at least one evicted were dropped: {}",
            unlocked.load(Ordering::SeqCst)
        );
    }
}
