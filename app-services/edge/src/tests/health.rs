//! Probes, and the request timeout.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use http::{Method, StatusCode};
use serde_json::json;

use super::{World, bare, send};
use crate::{EdgeConfig, Readiness};

struct NotReady;

#[async_trait]
impl Readiness for NotReady {
    async fn ready(&self) -> Result<(), String> {
        Err("identity at 10.0.0.7:50051 refused the connection".to_owned())
    }
}

/// Never answers.
struct Stuck;

#[async_trait]
impl Readiness for Stuck {
    async fn ready(&self) -> Result<(), String> {
        std::future::pending().await
    }
}

#[tokio::test]
async fn healthz_is_ok() {
    let router = World::new().router();
    let reply = send(&router, bare(Method::GET, "/healthz")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_ok_when_ready() {
    let router = World::new().router();
    let reply = send(&router, bare(Method::GET, "/readyz")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json(), json!({"status": "ok"}));
}

#[tokio::test]
async fn readyz_is_503_not_ready_without_telling_why() {
    let mut world = World::new();
    world.readiness = Arc::new(NotReady);
    let router = world.router();
    let reply = send(&router, bare(Method::GET, "/readyz")).await;
    reply.problem(StatusCode::SERVICE_UNAVAILABLE, "NOT_READY");
    assert!(!String::from_utf8_lossy(&reply.body).contains("10.0.0.7"));
    // Liveness does not depend on readiness.
    let reply = send(&router, bare(Method::GET, "/healthz")).await;
    assert_eq!(reply.status, StatusCode::OK);
}

#[tokio::test(start_paused = true)]
async fn a_request_over_the_timeout_is_a_timeout_problem() {
    let mut world = World::new();
    world.readiness = Arc::new(Stuck);
    world.config = EdgeConfig {
        request_timeout: Duration::from_secs(3),
        ..EdgeConfig::default()
    };
    let router = world.router();
    let reply = send(&router, bare(Method::GET, "/readyz")).await;
    reply.problem(StatusCode::GATEWAY_TIMEOUT, "TIMEOUT");
}
