//! Integration tests: one binary, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod architecture;
mod authz_matrix;
mod billing_rpc;
mod broker_outage;
mod concurrency;
mod deploy;
mod discovery;
mod e2e_access;
mod e2e_account;
mod e2e_plan;
mod e2e_team;
mod edge_replicas;
mod fault_suite;
mod feed_rpc;
mod feed_stream;
mod gate_cache;
mod hashing;
mod on_nats;
mod outbox_crash;
mod policies;
mod ports_grpc;
mod postgres_sessions;
mod processes;
mod published_language;
mod read_cache;
mod resilient_calls;
mod sign_up_compensation;
mod smoke;
mod split_topology;
mod user_rpc;
mod workspace_rpc;
