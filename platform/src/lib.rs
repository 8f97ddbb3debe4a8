//! The shared runtime every data service is built from.
//!
//! - [`db`]: opening SQLite (WAL, `synchronous=NORMAL`, `busy_timeout`, `foreign_keys`) or
//!   PostgreSQL, the same way for services, tests and the benchmark's raw baseline.
//! - [`store`]: the generic document store and **the command pipeline**: load, decide, save
//!   with a version check, write the outbox rows and the idempotency record, in one transaction.
//!   It answers with its own error type and knows nothing of gRPC.
//! - [`endpoint`]: the one shape of a data service's RPCs: parse the request into a typed
//!   command, run it through the store, render the result or the failure.
//! - [`rpc`]: the RPC conventions (AIP-193 errors, etags, request ids, page tokens, actors).
//! - [`server`]: one way to serve gRPC: service credential, load shedding, health, reflection,
//!   message caps, graceful shutdown.
//! - [`discovery`]: finding a context's replicas (etcd, `dns://`, URL lists) and
//!   registering this one in etcd, kept alive for as long as the process runs.
//! - [`migration`]: the outbox and idempotency tables every context's migrations create.
//! - [`bus`]: the event bus traits and transports; [`relay`] moves committed outbox rows
//!   onto it, [`consume`] runs a durable consumer with retries and dead letters.
//!
//! **Architecture invariant:** nothing here knows a bounded context; contexts plug in through
//! [`store::Schema`].

pub mod bus;
pub mod consume;
pub mod db;
pub mod discovery;
pub mod endpoint;
pub mod local;
pub mod migration;
pub mod published;
pub mod relay;
pub mod rpc;
pub mod server;
pub mod store;

use kernel_domain::{Clock, Timestamp};

/// The wall clock, for production.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        chrono::Utc::now()
    }
}

/// A new UUIDv7: time-ordered, so keyset pages follow creation order.
pub fn new_id() -> uuid::Uuid {
    uuid::Uuid::now_v7()
}
