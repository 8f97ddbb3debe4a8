//! PostgreSQL: the connections a store keeps for its chained statements ("lanes"), and the
//! queue that gathers the commands waiting for one into one statement.
//!
//! A prepared command on PostgreSQL writes as one statement ([`super::writes::chain`]), so
//! through the pool it cost two round trips: the statement, and the ping sqlx sends every
//! connection given back to a pool (sqlx's own, which no option turns off), for which
//! PostgreSQL wakes too. A lane is a connection of the store's own, opened beside the pool
//! with the pool's options. A command joins the queue; whenever a lane is free, a task of its
//! own takes the first waiting command and up to [`MAX_BATCH`] - 1 more **of the same
//! method**, runs them as one statement (one round trip, one commit, one WAL flush for them
//! all), answers each, and puts the lane back as it is. A statement commits all its commands
//! or none; one that fails answers every command in it with the error, and each then runs on
//! its own through its ordinary transaction, which replays, refuses or applies it as usual.
//! A lane that sat idle for [`POSTGRES_CHECK_IDLE_AFTER`] is pinged first; a statement that
//! fails closes its lane, so no lane is reused in an unknown state, and the next statement
//! opens another. The statement runs on its own task, so a caller that goes away does not
//! cut it short for the others.
//!
//! Only commands of one method share a statement so that a store's statements come in few
//! shapes (the methods times [`MAX_BATCH`]), each prepared once per lane. Within a statement
//! the commands' aggregates are updated in the order of their ids, so two statements (of this
//! process or another) never each hold a row the other waits for. One process never has two
//! prepared commands of one aggregate in flight, so a statement never updates a row twice.
//!
//! The store opens lanes as statements need them, at most [`lanes_for`]: half the pool's
//! size (rounded up), so beside the transactions and reads that keep using the pool a store on
//! PostgreSQL may hold up to one and a half times `SAAS_DATABASE_POOL` connections. Fewer
//! lanes make larger statements: measured at P3 (32 clients, the launcher's pool of 8, 10 s
//! windows, pgbench beside it), one command per statement on 16 lanes gave 7,000-7,500
//! commands/s; statements of up to 8 on 16 lanes 7,600-8,800, on 8 lanes 10,000, on 4 lanes
//! 10,300-12,100, on 2 lanes 14,300; statements of up to 16 on 4 lanes 11,500-12,100, on 2
//! lanes 12,400. Two lanes would leave a store with many methods in flight at once only two
//! statements at a time, so it is half the pool.

use std::{collections::VecDeque, sync::Arc, time::Instant};

use sea_orm::{DbErr, RuntimeErr};
use sea_query_sqlx::SqlxValues;
use sqlx::{Connection as _, PgConnection, Row as _, postgres::PgConnectOptions};
use tokio::sync::{Semaphore, oneshot};
use uuid::Uuid;

use super::writes::{self, Chain};
use crate::db::POSTGRES_CHECK_IDLE_AFTER;

/// How many lanes a store keeps beside a pool of `pool` connections.
pub fn lanes_for(pool: u32) -> usize {
    (pool as usize).div_ceil(2)
}

/// The most commands one statement carries.
pub const MAX_BATCH: usize = 16;

/// The `application_name` of a lane's session, so `pg_stat_activity` tells lanes from the
/// pool's connections.
pub const LANE_APPLICATION_NAME: &str = "saas lane";

/// A connection of a lane and when it last answered.
struct Lane {
    connection: PgConnection,
    used: Instant,
}

/// A command waiting for a lane.
struct Waiting {
    /// Only commands of one method share a statement, so a store's statements come in few
    /// shapes (each one prepared once per lane).
    method: &'static str,
    /// The aggregate: a statement updates its aggregates in this order, so two statements
    /// never wait for each other's rows.
    id: Uuid,
    chain: Chain,
    answer: oneshot::Sender<Result<i64, DbErr>>,
}

/// The lanes of one store.
pub(super) struct Lanes {
    options: PgConnectOptions,
    permits: Arc<Semaphore>,
    free: std::sync::Mutex<Vec<Lane>>,
    waiting: std::sync::Mutex<VecDeque<Waiting>>,
}

impl Lanes {
    /// Lanes opened with `options`, at most `count` (none when `count` is zero).
    pub(super) fn new(options: PgConnectOptions, count: usize) -> Option<Arc<Lanes>> {
        (count > 0).then(|| {
            Arc::new(Lanes {
                options: options.application_name(LANE_APPLICATION_NAME),
                permits: Arc::new(Semaphore::new(count)),
                free: std::sync::Mutex::new(Vec::with_capacity(count)),
                waiting: std::sync::Mutex::new(VecDeque::new()),
            })
        })
    }

    /// Runs the writes of the command of `method` on aggregate `id` on a lane, in one
    /// statement with the other commands of that method waiting at that moment, and answers
    /// how many rows its guarded update changed (1, or 0 when the version moved). An error
    /// means the statement as a whole failed and wrote nothing of any of its commands.
    ///
    /// The statement runs on a task of its own: a caller that goes away does not interrupt
    /// it, so the other commands of the statement always learn how it ended.
    pub(super) async fn run(
        self: &Arc<Self>,
        method: &'static str,
        id: Uuid,
        chain: Chain,
    ) -> Result<i64, DbErr> {
        let (answer, answered) = oneshot::channel();
        if let Ok(mut waiting) = self.waiting.lock() {
            waiting.push_back(Waiting {
                method,
                id,
                chain,
                answer,
            });
        }
        self.dispatch();
        answered
            .await
            .map_err(|_| DbErr::Custom("the statement ended without an answer".into()))?
    }

    /// Starts a statement on every free lane while commands wait. Called after a command
    /// joins the queue and after a statement gives its lane back, so no command waits while
    /// a lane is free.
    fn dispatch(self: &Arc<Self>) {
        loop {
            let Ok(permit) = self.permits.clone().try_acquire_owned() else {
                return;
            };
            let batch = self.take_batch();
            if batch.is_empty() {
                return;
            }
            let lanes = self.clone();
            tokio::spawn(async move {
                lanes.run_batch(batch).await;
                drop(permit);
                lanes.dispatch();
            });
        }
    }

    /// The first waiting command and up to [`MAX_BATCH`] - 1 more of its method, in the order
    /// they came.
    fn take_batch(&self) -> Vec<Waiting> {
        let Ok(mut waiting) = self.waiting.lock() else {
            return Vec::new();
        };
        let Some(first) = waiting.pop_front() else {
            return Vec::new();
        };
        let method = first.method;
        let mut batch = vec![first];
        let mut index = 0;
        while batch.len() < MAX_BATCH && index < waiting.len() {
            if waiting[index].method == method
                && let Some(next) = waiting.remove(index)
            {
                batch.push(next);
            } else {
                index += 1;
            }
        }
        batch
    }

    /// Runs one statement of `batch` and answers each of its commands.
    async fn run_batch(&self, mut batch: Vec<Waiting>) {
        batch.sort_by_key(|waiting| waiting.id);
        let (answers, chains): (Vec<_>, Vec<_>) = batch
            .into_iter()
            .map(|waiting| (waiting.answer, waiting.chain))
            .unzip();
        match self.write(chains).await {
            Ok(counts) => {
                for (answer, changed) in answers.into_iter().zip(counts) {
                    let _ = answer.send(Ok(changed));
                }
            }
            Err(e) => {
                let message = e.to_string();
                for answer in answers {
                    let _ = answer.send(Err(DbErr::Custom(message.clone())));
                }
            }
        }
    }

    /// Writes `chains` as one statement on a lane and returns, per chain, how many rows its
    /// guarded update changed.
    async fn write(&self, chains: Vec<Chain>) -> Result<Vec<i64>, DbErr> {
        let count = chains.len();
        let statement = writes::chain(chains)?;
        let mut lane = match self.take() {
            Some(lane) => lane,
            None => Lane {
                connection: PgConnection::connect_with(&self.options)
                    .await
                    .map_err(failed)?,
                used: Instant::now(),
            },
        };
        if lane.used.elapsed() >= POSTGRES_CHECK_IDLE_AFTER {
            lane.connection.ping().await.map_err(failed)?;
        }
        let values = statement.values.unwrap_or(sea_orm::Values(Vec::new()));
        let row = sqlx::query_with(sqlx::AssertSqlSafe(statement.sql), SqlxValues(values))
            .fetch_one(&mut lane.connection)
            .await
            .map_err(failed)?;
        let counts = (0..count)
            .map(|column| row.try_get::<i64, _>(column))
            .collect::<Result<Vec<_>, _>>();
        lane.used = Instant::now();
        self.give_back(lane);
        counts.map_err(failed)
    }

    fn take(&self) -> Option<Lane> {
        self.free.lock().ok().and_then(|mut free| free.pop())
    }

    fn give_back(&self, lane: Lane) {
        if let Ok(mut free) = self.free.lock() {
            free.push(lane);
        }
    }
}

fn failed(error: sqlx::Error) -> DbErr {
    DbErr::Query(RuntimeErr::SqlxError(Arc::new(error)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_lanes_means_the_pool() {
        let options = PgConnectOptions::new();
        assert!(Lanes::new(options.clone(), 0).is_none());
        assert!(Lanes::new(options, lanes_for(1)).is_some());
    }
}
