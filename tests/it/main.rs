//! Integration tests: one binary, one module per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod architecture;
mod billing_rpc;
mod concurrency;
mod hashing;
mod ports_grpc;
mod processes;
mod read_cache;
mod smoke;
mod user_rpc;
mod workspace_rpc;
