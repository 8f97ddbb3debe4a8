//! CORS for the configured origins only.

use axum::body::Body;
use http::{Method, Request, StatusCode};

use super::{World, send};
use crate::EdgeConfig;

const ALLOWED: &str = "https://app.example.com";

fn router_allowing(origins: &[&str]) -> axum::Router {
    let mut world = World::new();
    world.config = EdgeConfig {
        cors_origins: origins.iter().map(|o| (*o).to_owned()).collect(),
        ..EdgeConfig::default()
    };
    world.router()
}

fn preflight(origin: &str) -> Request<Body> {
    Request::builder()
        .method(Method::OPTIONS)
        .uri("/v1/me")
        .header("origin", origin)
        .header("access-control-request-method", "PATCH")
        .header(
            "access-control-request-headers",
            "authorization, content-type, idempotency-key",
        )
        .body(Body::empty())
        .expect("a request")
}

fn simple(origin: &str, path: &str) -> Request<Body> {
    Request::builder()
        .uri(path)
        .header("origin", origin)
        .body(Body::empty())
        .expect("a request")
}

#[tokio::test]
async fn a_preflight_from_an_allowed_origin_is_answered() {
    let router = router_allowing(&[ALLOWED, "https://admin.example.com"]);
    let reply = send(&router, preflight(ALLOWED)).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
    let methods = reply
        .header("access-control-allow-methods")
        .expect("allowed methods")
        .to_ascii_uppercase();
    for method in ["GET", "POST", "PATCH", "DELETE"] {
        assert!(methods.contains(method), "{methods}");
    }
    let headers = reply
        .header("access-control-allow-headers")
        .expect("allowed headers")
        .to_ascii_lowercase();
    for name in [
        "authorization",
        "content-type",
        "idempotency-key",
        "x-request-id",
        "last-event-id",
    ] {
        assert!(headers.contains(name), "{headers}");
    }
}

#[tokio::test]
async fn a_preflight_from_another_origin_gets_no_allowance() {
    let router = router_allowing(&[ALLOWED]);
    for origin in [
        "https://evil.example.com",
        "https://app.example.com.evil.net",
        "null",
    ] {
        let reply = send(&router, preflight(origin)).await;
        assert!(
            reply.header("access-control-allow-origin").is_none(),
            "{origin}"
        );
    }
}

#[tokio::test]
async fn answers_to_an_allowed_origin_expose_the_edges_headers_problems_included() {
    let router = router_allowing(&[ALLOWED]);
    let reply = send(&router, simple(ALLOWED, "/healthz")).await;
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
    let exposed = reply
        .header("access-control-expose-headers")
        .expect("exposed headers")
        .to_ascii_lowercase();
    for name in ["etag", "x-request-id", "retry-after"] {
        assert!(exposed.contains(name), "{exposed}");
    }

    let reply = send(&router, simple(ALLOWED, "/v1/me")).await;
    reply.problem(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    assert_eq!(reply.header("access-control-allow-origin"), Some(ALLOWED));
}

#[tokio::test]
async fn without_configured_origins_there_are_no_cors_headers() {
    let router = router_allowing(&[]);
    let reply = send(&router, simple(ALLOWED, "/healthz")).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert!(
        reply
            .headers
            .keys()
            .all(|name| !name.as_str().starts_with("access-control-")),
        "{:?}",
        reply.headers
    );
    let reply = send(&router, preflight(ALLOWED)).await;
    assert!(reply.header("access-control-allow-origin").is_none());
}
