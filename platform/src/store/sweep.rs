//! Work the store does by itself: applying due work ([`Store::sweep_once`]) and forgetting
//! old request ids ([`Store::purge_idempotency`]), each with a task that repeats it.

use std::sync::{
    Arc,
    atomic::{AtomicBool, Ordering},
};

use sea_orm::{
    ConnectionTrait,
    sea_query::{Cond, Expr, ExprTrait, Order, Query},
};
use uuid::Uuid;

use super::{Command, Schema, Store, StoreError, column};

/// How long a request id is remembered: a retry within this window replays the original
/// response (AIP-155 asks for at least 24 hours).
pub const IDEMPOTENCY_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// How many due aggregates one read of a sweep takes.
const SWEEP_PAGE: u64 = 100;

impl<S: Schema> Store<S> {
    /// One page of the aggregates whose due work has come (`due_at <= now`), in
    /// `(due_at, id)` order after `after`: a keyset walk, so rows that keep failing cannot
    /// hide the ones behind them.
    async fn due_page(
        &self,
        after: Option<&(i64, String)>,
        limit: u64,
    ) -> Result<Vec<(i64, String)>, StoreError> {
        let (after_due, after_id) = after.cloned().unwrap_or((i64::MIN, String::new()));
        let query = Query::select()
            .columns([column::DUE_AT, column::ID])
            .from(S::TABLE)
            .and_where(Expr::col(column::DUE_AT).is_not_null())
            .and_where(Expr::col(column::DUE_AT).lte(self.clock.now().timestamp_micros()))
            .cond_where(
                Cond::any()
                    .add(Expr::col(column::DUE_AT).gt(after_due))
                    .add(
                        Expr::col(column::DUE_AT)
                            .eq(after_due)
                            .and(Expr::col(column::ID).gt(after_id)),
                    ),
            )
            .order_by(column::DUE_AT, Order::Asc)
            .order_by(column::ID, Order::Asc)
            .limit(limit)
            .to_owned();
        let rows = self.db.query_all(&query).await?;
        rows.iter()
            .map(|row| Ok((row.try_get_by_index(0)?, row.try_get_by_index(1)?)))
            .collect()
    }

    /// Applies the due work of every aggregate whose time has come, each in its own
    /// transaction through the pipeline; returns how many aggregates changed. Safe to run
    /// from several replicas at once: the version check lets one win, and the loser finds
    /// nothing due any more. An aggregate whose work fails is logged and passed over until
    /// the next sweep.
    pub async fn sweep_once(&self) -> Result<usize, StoreError> {
        let mut changed = 0;
        let mut after: Option<(i64, String)> = None;
        loop {
            let page = self.due_page(after.as_ref(), SWEEP_PAGE).await?;
            let Some(last) = page.last().cloned() else {
                return Ok(changed);
            };
            for (_, id) in &page {
                let id = Uuid::try_parse(id).map_err(StoreError::internal)?;
                let caused = Arc::new(AtomicBool::new(false));
                let result = self
                    .update(
                        Command::unrecorded("ApplyDueWork"),
                        id,
                        {
                            let caused = caused.clone();
                            move |aggregate, now| {
                                let events = S::apply_due(aggregate, now)?;
                                caused.store(!events.is_empty(), Ordering::Relaxed);
                                Ok(events)
                            }
                        },
                        |_, _| (),
                    )
                    .await;
                match result {
                    Ok(()) if caused.load(Ordering::Relaxed) => changed += 1,
                    Ok(()) => {}
                    // Deleted since the page was read.
                    Err(e) if e.is_rejected_as(S::not_found().reason) => {}
                    Err(e) => {
                        tracing::warn!(table = S::TABLE, %id, error = %e, "due work failed");
                    }
                }
            }
            after = Some(last);
        }
    }

    /// Sweeps for due work every `every` until the process ends. The due dates are data, so
    /// a restart simply picks up where the last sweep stopped.
    pub fn spawn_sweeper(&self, every: std::time::Duration) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                match store.sweep_once().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(table = S::TABLE, changed = n, "applied due work"),
                    Err(e) => tracing::warn!(error = %e, "sweep failed"),
                }
            }
        })
    }

    /// Deletes idempotency records older than [`IDEMPOTENCY_RETENTION`]; returns how many.
    pub async fn purge_idempotency(&self) -> Result<u64, StoreError> {
        let cutoff = self.clock.now() - IDEMPOTENCY_RETENTION;
        let delete = Query::delete()
            .from_table("idempotency")
            .and_where(Expr::col("created_at").lt(cutoff.timestamp_micros()))
            .to_owned();
        self.write_statement(delete).await
    }

    /// Purges old idempotency records every hour until the process ends.
    pub fn spawn_idempotency_purge(&self) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(std::time::Duration::from_secs(3600));
            loop {
                tick.tick().await;
                match store.purge_idempotency().await {
                    Ok(0) => {}
                    Ok(n) => {
                        tracing::info!(table = S::TABLE, purged = n, "purged idempotency records")
                    }
                    Err(e) => tracing::warn!(error = %e, "idempotency purge failed"),
                }
            }
        })
    }
}
