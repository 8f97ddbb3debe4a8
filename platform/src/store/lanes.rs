//! PostgreSQL: the connections a store keeps for its chained statements ("lanes").
//!
//! A prepared command on PostgreSQL is one statement ([`super::writes::chain`]), so through
//! the pool it cost two round trips: the statement, and the ping sqlx sends every connection
//! given back to a pool (sqlx's own, which no option turns off), for which PostgreSQL wakes
//! too. A lane is a connection of the store's own, opened beside the pool with the pool's
//! options: a chained statement takes a free lane (waiting for one when all are busy, as it
//! would wait for the pool), runs, and puts it back as it is. A lane that sat idle for
//! [`POSTGRES_CHECK_IDLE_AFTER`] is pinged first; a statement that fails, or a command that
//! is dropped mid-statement, closes its lane, so no lane is reused in an unknown state, and
//! the next statement opens another.
//!
//! The store opens lanes as statements need them, at most [`lanes_for`]: twice the pool's
//! size, so beside the transactions and reads that keep using the pool a store on PostgreSQL
//! may hold up to three times `SAAS_DATABASE_POOL` connections. Measured at P3 (32 clients,
//! a pool of 8): 4 lanes gave 4,700-5,200 commands/s, 8 gave 3,300-7,400, 16 gave
//! 5,500-7,000; each statement waits for its commit's WAL flush, so more statements in flight
//! let PostgreSQL flush more commits at once.

use std::{sync::Arc, time::Instant};

use sea_orm::{DbErr, RuntimeErr, Statement};
use sea_query_sqlx::SqlxValues;
use sqlx::{Connection as _, PgConnection, Row as _, postgres::PgConnectOptions};
use tokio::sync::Semaphore;

use crate::db::POSTGRES_CHECK_IDLE_AFTER;

/// How many lanes a store keeps beside a pool of `pool` connections.
pub fn lanes_for(pool: u32) -> usize {
    2 * pool as usize
}

/// The `application_name` of a lane's session, so `pg_stat_activity` tells lanes from the
/// pool's connections.
pub const LANE_APPLICATION_NAME: &str = "saas lane";

/// A connection of a lane and when it last answered.
struct Lane {
    connection: PgConnection,
    used: Instant,
}

/// The lanes of one store.
pub(super) struct Lanes {
    options: PgConnectOptions,
    permits: Semaphore,
    free: std::sync::Mutex<Vec<Lane>>,
}

impl Lanes {
    /// Lanes opened with `options`, at most `count` (none when `count` is zero).
    pub(super) fn new(options: PgConnectOptions, count: usize) -> Option<Arc<Lanes>> {
        (count > 0).then(|| {
            Arc::new(Lanes {
                options: options.application_name(LANE_APPLICATION_NAME),
                permits: Semaphore::new(count),
                free: std::sync::Mutex::new(Vec::with_capacity(count)),
            })
        })
    }

    /// Runs `statement` on a lane and returns the first column of its one row as an integer
    /// (`None` when it returned no row).
    pub(super) async fn query_count(&self, statement: Statement) -> Result<Option<i64>, DbErr> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|e| DbErr::Custom(e.to_string()))?;
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
            .fetch_optional(&mut lane.connection)
            .await
            .map_err(failed)?;
        let count = row.map(|row| row.try_get::<i64, _>(0)).transpose();
        lane.used = Instant::now();
        self.give_back(lane);
        count.map_err(failed)
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
