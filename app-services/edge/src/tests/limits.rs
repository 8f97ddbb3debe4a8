//! Rate limits per client IP, per IP on credential routes, per user and per workspace.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::ConnectInfo;
use http::{Method, StatusCode};
use ports_app::Role;
use serde_json::json;
use uuid::Uuid;

use super::{
    CountingLimiter, World, authed, bare, json_request, limits, send, token_for, workspace,
};

#[tokio::test]
async fn past_the_per_ip_quota_the_answer_is_429_with_retry_after() {
    let limiter = Arc::new(CountingLimiter::default());
    let router = World::new()
        .with_limits(limiter.clone(), limits(2))
        .router();
    for _ in 0..2 {
        let reply = send(&router, bare(Method::GET, "/healthz")).await;
        assert_eq!(reply.status, StatusCode::OK);
    }
    let reply = send(&router, bare(Method::GET, "/healthz")).await;
    reply.problem(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(reply.header("retry-after"), Some("2"));
    assert_eq!(limiter.hits("ip:unknown"), 3);

    // Unknown routes count too.
    let reply = send(&router, bare(Method::GET, "/nowhere")).await;
    reply.problem(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
}

#[tokio::test]
async fn the_client_ip_is_the_connections_peer() {
    let limiter = Arc::new(CountingLimiter::default());
    let router = World::new()
        .with_limits(limiter.clone(), limits(1))
        .router();
    let from = |addr: &str| {
        let mut request = bare(Method::GET, "/healthz");
        let peer: SocketAddr = addr.parse().expect("an address");
        request.extensions_mut().insert(ConnectInfo(peer));
        request
    };
    assert_eq!(
        send(&router, from("10.1.2.3:5000")).await.status,
        StatusCode::OK
    );
    // Another port of the same host is the same client.
    let reply = send(&router, from("10.1.2.3:5001")).await;
    assert_eq!(reply.status, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        send(&router, from("10.9.9.9:5000")).await.status,
        StatusCode::OK
    );
    assert_eq!(limiter.hits("ip:10.1.2.3"), 2);
    assert_eq!(limiter.hits("ip:10.9.9.9"), 1);
}

#[tokio::test]
async fn credential_routes_have_their_own_per_ip_quota() {
    let limiter = Arc::new(CountingLimiter::default());
    let mut quotas = limits(100);
    quotas.auth_per_ip.limit = 1;
    let router = World::new().with_limits(limiter.clone(), quotas).router();

    send(&router, bare(Method::GET, "/healthz")).await;
    assert_eq!(limiter.hits("auth-ip:unknown"), 0);

    // The quota is counted before the body is read, so bad bodies count too.
    let reply = send(
        &router,
        json_request(Method::POST, "/v1/auth/login", None, &json!({})),
    )
    .await;
    reply.problem(StatusCode::BAD_REQUEST, "MISSING_FIELD");
    let reply = send(
        &router,
        json_request(Method::POST, "/v1/signup", None, &json!({})),
    )
    .await;
    reply.problem(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert!(reply.header("retry-after").is_some());
    assert_eq!(limiter.hits("auth-ip:unknown"), 2);
}

#[tokio::test]
async fn each_user_has_a_quota() {
    let limiter = Arc::new(CountingLimiter::default());
    let mut quotas = limits(100);
    quotas.per_user.limit = 1;
    let router = World::new().with_limits(limiter.clone(), quotas).router();
    let ada = Uuid::now_v7();
    let bob = Uuid::now_v7();
    // A bad page size answers 400 from the handler, after the user's quota was counted.
    let path = "/v1/workspaces?page_size=-1";
    let reply = send(&router, authed(Method::GET, path, &token_for(ada))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    let reply = send(&router, authed(Method::GET, path, &token_for(ada))).await;
    reply.problem(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    let reply = send(&router, authed(Method::GET, path, &token_for(bob))).await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(limiter.hits(&format!("user:{ada}")), 2);
}

#[tokio::test]
async fn each_workspace_has_a_quota_that_outsiders_cannot_spend() {
    let limiter = Arc::new(CountingLimiter::default());
    let mut quotas = limits(100);
    quotas.per_workspace.limit = 1;
    let member = Uuid::now_v7();
    let outsider = Uuid::now_v7();
    let id = Uuid::now_v7();
    let router = World::new()
        .with_workspace(workspace(id, &[(member, Role::Member)]))
        .with_limits(limiter.clone(), quotas)
        .router();
    let path = format!("/v1/workspaces/{id}");

    let reply = send(&router, authed(Method::GET, &path, &token_for(outsider))).await;
    reply.problem(StatusCode::NOT_FOUND, "WORKSPACE_NOT_FOUND");
    assert_eq!(limiter.hits(&format!("workspace:{id}")), 0);

    let reply = send(&router, authed(Method::GET, &path, &token_for(member))).await;
    assert_eq!(reply.status, StatusCode::OK);
    let reply = send(&router, authed(Method::GET, &path, &token_for(member))).await;
    reply.problem(StatusCode::TOO_MANY_REQUESTS, "RATE_LIMITED");
    assert_eq!(limiter.hits(&format!("workspace:{id}")), 2);
}

#[tokio::test]
async fn each_request_gets_the_deadline_of_its_configured_budget() {
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    let me = Uuid::now_v7();
    let deadlines: Arc<Mutex<Vec<Option<Instant>>>> = Arc::default();
    let mut world = World::new();
    world.config.budgets = adapters_app::grpc::Budgets {
        read: Duration::from_millis(1_500),
        command: Duration::from_secs(7),
    };
    let seen = deadlines.clone();
    world.users.expect_get_user().returning(move |ctx, _| {
        seen.lock().unwrap().push(ctx.deadline);
        Ok(super::user(me, "ada@example.com"))
    });
    let seen = deadlines.clone();
    world
        .users
        .expect_change_display_name()
        .returning(move |ctx, _, _, _| {
            seen.lock().unwrap().push(ctx.deadline);
            Ok(super::user(me, "ada@example.com"))
        });
    let router = world.router();

    let within = |budget: Duration, before: Instant, after: Instant| {
        let deadline = deadlines
            .lock()
            .unwrap()
            .pop()
            .flatten()
            .expect("a deadline");
        assert!(
            deadline >= before + budget && deadline <= after + budget,
            "{:?} is not {budget:?} after the request",
            deadline - before
        );
    };
    let before = Instant::now();
    let reply = send(
        &router,
        super::authed(Method::GET, "/v1/me", &token_for(me)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    within(Duration::from_millis(1_500), before, Instant::now());

    let before = Instant::now();
    let reply = send(
        &router,
        json_request(
            Method::PATCH,
            "/v1/me",
            Some(&token_for(me)),
            &json!({"display_name": "Ada L."}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    // Every call the command makes carries the command's deadline: take the first.
    let seen = deadlines.lock().unwrap().len();
    assert!(seen >= 1, "{seen}");
    deadlines.lock().unwrap().truncate(1);
    within(Duration::from_secs(7), before, Instant::now());
}
