//! The SQLite writer of a store: **group commit on one connection, on its own OS thread.**
//!
//! SQLite has one writer at a time, so a store on SQLite sends every write to one thread that
//! owns a rusqlite connection (WAL, `synchronous=NORMAL`, the busy timeout, foreign keys, a
//! prepared-statement cache). The thread takes every job waiting at that moment (up to
//! [`MAX_BATCH`]) into **one** `BEGIN IMMEDIATE` transaction, runs each job inside its own
//! `SAVEPOINT` (a job that does not keep its work rolls back only itself: `ROLLBACK TO` and
//! `RELEASE`), commits once, and **only then** answers every job of the batch. If the commit
//! fails, the batch is rolled back and every job of it is answered `UNAVAILABLE` /
//! `COMMIT_FAILED`: none executed.
//!
//! A job is the command pipeline's steps run on [`Lite`], whose calls never pend, so a job
//! runs to its end in one poll; there is no thread hop per statement, and the busy timeout
//! (another process holding the file's write lock) is waited out on this thread, never on a
//! tokio worker. Writers of other processes meet the same file lock as before.
//!
//! The thread ends when the last handle to the writer is dropped.

use std::{
    panic::AssertUnwindSafe,
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
        mpsc,
    },
};

use futures::FutureExt as _;
use kernel_domain::{Rejection, RejectionKind};
use sea_orm::StatementBuilder;

use super::{
    StoreError,
    exec::{Exec as _, Lite},
};

/// The most jobs one transaction takes.
pub const MAX_BATCH: usize = 256;

/// What a job leaves for after the commit.
pub(crate) struct Done {
    /// Whether its savepoint is released (kept) or rolled back.
    pub keep: bool,
    /// Whether it wrote outbox rows (the relay is woken after the commit).
    pub wrote_events: bool,
    /// Answers the caller once the batch's fate is known: `Ok` when it committed.
    pub reply: Box<dyn FnOnce(Result<(), StoreError>) + Send>,
}

/// A job: run on the open transaction, or (`None`) told it will not run.
type Job = Box<dyn FnOnce(Option<&Lite<'_>>) -> Done + Send>;

/// What the writer thread shares with its handles.
struct Shared {
    /// Test-only fault hook: commits fail while it is set (`Store::fail_commits`).
    fail_commits: Arc<AtomicBool>,
    /// Notified after every commit that wrote outbox rows.
    wake: Arc<tokio::sync::Notify>,
    /// The fault hook `SAAS_FAULT_ABORT_AFTER_COMMIT`.
    abort_after_commit: bool,
    /// Jobs sent and not yet taken into a batch.
    queued: Arc<AtomicUsize>,
    /// Wakes the checkpoint thread.
    kick: mpsc::SyncSender<()>,
}

/// A handle to a store's SQLite writer thread.
#[derive(Clone)]
pub(crate) struct Writer {
    jobs: mpsc::Sender<Job>,
    /// Jobs sent and not yet taken into a batch.
    queued: Arc<AtomicUsize>,
}

/// The answer to every job of a batch that did not commit.
pub(crate) fn commit_failed() -> StoreError {
    StoreError::Rejected(Rejection::new(
        RejectionKind::Unavailable,
        "COMMIT_FAILED",
        "the database did not commit this request; nothing of it was written, retry",
    ))
}

impl Writer {
    /// Starts the writer thread of the SQLite file at `path`.
    pub(crate) fn start(
        path: PathBuf,
        wake: Arc<tokio::sync::Notify>,
        abort_after_commit: bool,
        fail_commits: Arc<AtomicBool>,
    ) -> Writer {
        let (jobs, queue) = mpsc::channel::<Job>();
        let (kick, kicked) = mpsc::sync_channel::<()>(1);
        let checkpoint_path = path.clone();
        let checkpointer = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || checkpoints(&checkpoint_path, &kicked));
        if let Err(e) = checkpointer {
            // The writer's own autocheckpoint still bounds the WAL.
            tracing::warn!(error = %e, "could not start the SQLite checkpoint thread");
        }
        let queued = Arc::new(AtomicUsize::new(0));
        let shared = Shared {
            fail_commits,
            wake,
            abort_after_commit,
            queued: queued.clone(),
            kick,
        };
        let spawned = std::thread::Builder::new()
            .name("sqlite-writer".into())
            .spawn(move || run(&path, &queue, &shared));
        if let Err(e) = spawned {
            // Without a thread every job's sender is dropped: callers get an internal error.
            tracing::error!(error = %e, "could not start the SQLite writer thread");
        }
        Writer { jobs, queued }
    }

    /// Runs `work` in the next batch and answers with its outcome once the batch committed
    /// (or `UNAVAILABLE` when it did not). `work` returns its outcome and whether its
    /// writes are kept and wrote outbox rows.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce(&Lite<'_>) -> Step<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move |lite| {
            let step = match lite {
                Some(lite) => work(lite),
                None => Step {
                    outcome: Err(commit_failed()),
                    keep: false,
                    wrote_events: false,
                },
            };
            let outcome = step.outcome;
            Done {
                keep: step.keep,
                wrote_events: step.wrote_events,
                reply: Box::new(move |committed| {
                    let _ = answer.send(committed.and(outcome));
                }),
            }
        });
        self.queued.fetch_add(1, Ordering::SeqCst);
        if self.jobs.send(job).is_err() {
            self.queued.fetch_sub(1, Ordering::SeqCst);
            return Err(StoreError::internal("the SQLite writer has stopped"));
        }
        answered
            .await
            .map_err(|_| StoreError::internal("the SQLite writer dropped a job"))?
    }

    /// How many jobs wait for the next batch.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queued.load(Ordering::SeqCst)
    }

    /// Runs one statement in the next batch; answers the rows it changed once committed.
    pub(crate) async fn execute<S: StatementBuilder + Send + 'static>(
        &self,
        statement: S,
    ) -> Result<u64, StoreError> {
        self.run(move |lite| {
            let outcome = match lite.execute(&statement).now_or_never() {
                Some(result) => result.map_err(StoreError::internal),
                None => Err(StoreError::internal("a SQLite statement did not finish")),
            };
            Step {
                keep: outcome.is_ok(),
                wrote_events: false,
                outcome,
            }
        })
        .await
    }
}

/// What a job's work produced.
pub(crate) struct Step<T> {
    /// Answered to the caller once the batch committed.
    pub outcome: Result<T, StoreError>,
    /// Whether the work's writes are kept (its savepoint released, not rolled back).
    pub keep: bool,
    /// Whether it wrote outbox rows.
    pub wrote_events: bool,
}

/// Opens the writer's connection with the settings every SQLite connection uses.
fn open(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    conn.busy_timeout(crate::db::SQLITE_BUSY_TIMEOUT)?;
    let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |row| row.get(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    // Each job's savepoint keeps the pages it changes in a statement journal; in memory, not
    // in a temporary file (past 64 KiB SQLite spills it to one, and those writes were a
    // quarter of the writer's time under load). It holds one job's pages at a time.
    conn.pragma_update(None, "temp_store", "MEMORY")?;
    conn.set_prepared_statement_cache_capacity(128);
    Ok(conn)
}

/// Opens the writer's own connection: [`open`]'s settings, its autocheckpoint backstop, and
/// the file mapped into memory as the readers map it. A statement's B-tree descent then reads
/// pages the writer's 2 MB cache lacks (the idempotency and parts indexes are far larger, and
/// their keys random) from the kernel's page cache in place rather than by a `pread` and a
/// copy each: measured at P2.workspace, 63-69 µs of writer CPU per invite against 77-80.
fn open_writer(path: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = open(path)?;
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_AUTOCHECKPOINT)?;
    let _mapped: i64 = conn.query_row(
        &format!("PRAGMA mmap_size = {}", super::readers::MMAP_BYTES),
        [],
        |row| row.get(0),
    )?;
    Ok(conn)
}

/// Kept jobs between two checkpoints the writer asks for.
const CHECKPOINT_EVERY: usize = 64;
/// The WAL size (pages) past which the writer checkpoints by itself, should the checkpoint
/// thread fall behind (SQLite's default is 1,000).
const WRITER_AUTOCHECKPOINT: u32 = 8_000;

/// The checkpoint thread: copies the WAL back into the database file when the writer asks,
/// on a connection of its own, so the writer never waits for a checkpoint's writes and
/// `fsync` (a `PASSIVE` checkpoint waits for no one and blocks no one).
fn checkpoints(path: &Path, kicked: &mpsc::Receiver<()>) {
    let conn = match open(path) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::warn!(error = %e, "the SQLite checkpoint thread cannot open its database");
            return;
        }
    };
    while kicked.recv().is_ok() {
        let done = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |row| {
            row.get::<_, i64>(0)
        });
        if let Err(e) = done {
            tracing::debug!(error = %e, "a WAL checkpoint failed; the next one retries");
        }
    }
}

fn run(path: &Path, queue: &mpsc::Receiver<Job>, shared: &Shared) {
    let conn = match open_writer(path) {
        Ok(conn) => Some(conn),
        Err(e) => {
            tracing::error!(error = %e, path = %path.display(), "the SQLite writer cannot open its database");
            None
        }
    };
    let mut since_checkpoint = 0;
    while let Ok(first) = queue.recv() {
        let mut jobs = vec![first];
        while jobs.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(job) => jobs.push(job),
                Err(_) => break,
            }
        }
        shared.queued.fetch_sub(jobs.len(), Ordering::SeqCst);
        match &conn {
            Some(conn) => {
                since_checkpoint += batch(conn, jobs, shared);
                if since_checkpoint >= CHECKPOINT_EVERY && shared.kick.try_send(()).is_ok() {
                    since_checkpoint = 0;
                }
            }
            // Nothing can run: every job is answered as a batch that did not commit.
            None => fail_all(jobs),
        }
    }
}

/// Runs one batch: begin, each job in its savepoint, commit, answer. Returns how many jobs'
/// writes it committed.
fn batch(conn: &rusqlite::Connection, jobs: Vec<Job>, shared: &Shared) -> usize {
    let lite = Lite::new(conn);
    if let Err(e) = lite.batch("BEGIN IMMEDIATE") {
        tracing::warn!(error = %e, jobs = jobs.len(), "the SQLite writer could not begin");
        fail_all(jobs);
        return 0;
    }
    let mut done = Vec::with_capacity(jobs.len());
    let mut broken = false;
    for job in jobs {
        if broken {
            done.push(unrun(job));
            continue;
        }
        if let Err(e) = lite.batch("SAVEPOINT job") {
            tracing::warn!(error = %e, "the SQLite writer could not open a savepoint");
            broken = true;
            done.push(unrun(job));
            continue;
        }
        let ran = std::panic::catch_unwind(AssertUnwindSafe(|| job(Some(&lite))));
        let (keep, ran) = match ran {
            Ok(d) => (d.keep, Some(d)),
            Err(_) => (false, None),
        };
        let ended = if keep {
            lite.batch("RELEASE job")
        } else {
            lite.batch("ROLLBACK TO job")
                .and_then(|()| lite.batch("RELEASE job"))
        };
        if let Err(e) = ended {
            tracing::warn!(error = %e, "the SQLite writer could not end a savepoint");
            broken = true;
        }
        // A job that panicked has no reply: its caller sees the dropped answer.
        if let Some(d) = ran {
            done.push(d);
        }
    }
    let committed = if broken {
        Err("a savepoint could not be ended".to_owned())
    } else if shared.fail_commits.load(Ordering::SeqCst) {
        Err("the fault hook failed the commit".to_owned())
    } else {
        lite.batch("COMMIT").map_err(|e| e.to_string())
    };
    match committed {
        Ok(()) => {
            let kept = done.iter().filter(|d| d.keep).count();
            if done.iter().any(|d| d.keep && d.wrote_events) {
                if shared.abort_after_commit {
                    super::pipeline::crash_after_commit();
                }
                shared.wake.notify_one();
            }
            for d in done {
                (d.reply)(Ok(()));
            }
            kept
        }
        Err(e) => {
            tracing::warn!(error = %e, jobs = done.len(), "a batch did not commit");
            if let Err(e) = lite.batch("ROLLBACK") {
                tracing::warn!(error = %e, "the SQLite writer could not roll back");
            }
            for d in done {
                (d.reply)(Err(commit_failed()));
            }
            0
        }
    }
}

/// A job that will not run: its caller is answered as for a batch that did not commit.
fn unrun(job: Job) -> Done {
    job(None)
}

/// Answers every job, running none, as a batch that did not commit.
fn fail_all(jobs: Vec<Job>) {
    for job in jobs {
        (unrun(job).reply)(Err(commit_failed()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_writer_connection_uses_wal_normal_the_busy_timeout_foreign_keys_memory_journals_and_a_map()
     {
        let dir = std::env::temp_dir().join(format!("platform-writer-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        let conn = open_writer(&dir.join("w.db")).unwrap();
        let pragma = |name: &str| -> String {
            conn.query_row(&format!("PRAGMA {name}"), [], |row| {
                row.get::<_, rusqlite::types::Value>(0)
            })
            .map(|value| match value {
                rusqlite::types::Value::Integer(n) => n.to_string(),
                rusqlite::types::Value::Text(s) => s,
                other => format!("{other:?}"),
            })
            .unwrap()
        };
        assert_eq!(pragma("journal_mode"), "wal");
        assert_eq!(pragma("synchronous"), "1");
        assert_eq!(pragma("foreign_keys"), "1");
        assert_eq!(pragma("busy_timeout"), "10000");
        assert_eq!(
            pragma("temp_store"),
            "2",
            "statement journals are kept in memory"
        );
        assert_eq!(
            pragma("mmap_size"),
            super::super::readers::MMAP_BYTES.to_string(),
            "the writer maps the file as the readers do"
        );
        drop(conn);
        std::fs::remove_dir_all(dir).ok();
    }
}
