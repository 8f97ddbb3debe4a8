//! Authentication with real access tokens, and the ids every request carries.

use axum::body::Body;
use chrono::Duration;
use http::{Method, Request, StatusCode, header};
use uuid::Uuid;

use super::{World, authed, bare, keys, now, send, token_for, token_for_session, user};
use access_app::JwtKeys;

fn with_authorization(value: &str) -> Request<Body> {
    Request::builder()
        .uri("/v1/me")
        .header(header::AUTHORIZATION, value)
        .body(Body::empty())
        .expect("a request")
}

#[tokio::test]
async fn a_request_without_a_token_is_401_unauthenticated() {
    let router = World::new().router();
    let reply = send(&router, bare(Method::GET, "/v1/me")).await;
    reply.problem(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
}

#[tokio::test]
async fn a_garbage_or_foreign_token_is_401_invalid_token() {
    let router = World::new().router();
    let foreign = JwtKeys::from_secret(&[8u8; 32])
        .expect("a key")
        .issue_access(Uuid::now_v7(), Uuid::now_v7(), now())
        .expect("a token")
        .0;
    for value in [
        "Bearer not-a-jwt".to_owned(),
        format!("Bearer {foreign}"),
        "Bearer ".to_owned(),
        "Basic YWRhOnNlY3JldA==".to_owned(),
        token_for(Uuid::now_v7()),
    ] {
        let reply = send(&router, with_authorization(&value)).await;
        reply.problem(StatusCode::UNAUTHORIZED, "INVALID_TOKEN");
    }
}

#[tokio::test]
async fn an_expired_token_is_401_token_expired() {
    let router = World::new().router();
    let expired = keys()
        .issue_access(
            Uuid::now_v7(),
            Uuid::now_v7(),
            now() - Duration::minutes(10),
        )
        .expect("a token")
        .0;
    let reply = send(&router, authed(Method::GET, "/v1/me", &expired)).await;
    reply.problem(StatusCode::UNAUTHORIZED, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn a_valid_token_acts_as_its_user() {
    let me = Uuid::now_v7();
    let mut world = World::new();
    world
        .users
        .expect_get_user()
        .withf(move |ctx, id| ctx.actor == Some(me) && *id == me.into())
        .returning(move |_, _| Ok(user(me, "ada@example.com")));
    let router = world.router();
    let reply = send(&router, authed(Method::GET, "/v1/me", &token_for(me))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["id"], me.to_string());
}

#[tokio::test]
async fn logout_closes_the_session_of_the_token() {
    let me = Uuid::now_v7();
    let session = Uuid::now_v7();
    let mut world = World::new();
    world
        .users
        .expect_close_session()
        .withf(move |ctx, step, id, asked| {
            ctx.actor == Some(me)
                && step == "logout"
                && *id == me.into()
                && *asked == session.into()
        })
        .times(1)
        .returning(move |_, _, _, _| Ok(user(me, "ada@example.com")));
    let router = world.router();
    let reply = send(
        &router,
        authed(
            Method::POST,
            "/v1/auth/logout",
            &token_for_session(me, session),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    assert!(reply.body.is_empty());
}

#[tokio::test]
async fn the_idempotency_key_and_request_id_reach_the_use_case_and_come_back() {
    let me = Uuid::now_v7();
    let key = Uuid::now_v7();
    let mut world = World::new();
    world
        .users
        .expect_get_user()
        .withf(move |ctx, _| ctx.request_id == key && ctx.correlation_id == "trace-42")
        .returning(move |_, _| Ok(user(me, "ada@example.com")));
    let router = world.router();
    let request = Request::builder()
        .uri("/v1/me")
        .header(header::AUTHORIZATION, format!("Bearer {}", token_for(me)))
        .header("idempotency-key", key.to_string())
        .header("x-request-id", "trace-42")
        .body(Body::empty())
        .expect("a request");
    let reply = send(&router, request).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("x-request-id"), Some("trace-42"));
}

#[tokio::test]
async fn without_a_request_id_the_answer_carries_the_request_id() {
    let router = World::new().router();
    let reply = send(&router, bare(Method::GET, "/healthz")).await;
    let echoed = reply.header("x-request-id").expect("an X-Request-Id");
    assert!(Uuid::try_parse(echoed).is_ok(), "{echoed}");

    let key = Uuid::now_v7();
    let request = Request::builder()
        .uri("/healthz")
        .header("idempotency-key", key.to_string())
        .body(Body::empty())
        .expect("a request");
    let reply = send(&router, request).await;
    assert_eq!(reply.header("x-request-id"), Some(key.to_string().as_str()));
}

#[tokio::test]
async fn an_unusable_request_id_is_replaced() {
    let router = World::new().router();
    let bad: Vec<http::HeaderValue> = vec![
        http::HeaderValue::from_static("has spaces"),
        http::HeaderValue::from_str(&"x".repeat(129)).expect("a header value"),
        http::HeaderValue::from_static(""),
        http::HeaderValue::from_static("tab\there"),
        // Not ASCII: UTF-8 and Latin-1 bytes.
        http::HeaderValue::from_bytes("caf\u{e9}".as_bytes()).expect("a header value"),
        http::HeaderValue::from_bytes(b"caf\xe9").expect("a header value"),
    ];
    for value in bad {
        let request = Request::builder()
            .uri("/healthz")
            .header("x-request-id", value.clone())
            .body(Body::empty())
            .expect("a request");
        let reply = send(&router, request).await;
        let echoed = reply.header("x-request-id").expect("an X-Request-Id");
        assert!(Uuid::try_parse(echoed).is_ok(), "{value:?} -> {echoed}");
    }
}

#[tokio::test]
async fn a_request_id_of_128_visible_characters_is_echoed() {
    let router = World::new().router();
    let longest = "~".repeat(64) + &"!".repeat(64);
    let request = Request::builder()
        .uri("/healthz")
        .header("x-request-id", longest.as_str())
        .body(Body::empty())
        .expect("a request");
    let reply = send(&router, request).await;
    assert_eq!(reply.header("x-request-id"), Some(longest.as_str()));
}

#[tokio::test]
async fn an_idempotency_key_that_is_not_a_uuid_is_refused() {
    let router = World::new().router();
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/auth/login")
        .header("idempotency-key", "retry-1")
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from("{}"))
        .expect("a request");
    let reply = send(&router, request).await;
    let body = reply.problem(StatusCode::BAD_REQUEST, "INVALID_IDEMPOTENCY_KEY");
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key");
}

#[tokio::test]
async fn a_wrong_method_is_405_even_with_a_bad_idempotency_key() {
    let router = World::new().router();
    for (method, path, status) in [
        (Method::TRACE, "/healthz", StatusCode::METHOD_NOT_ALLOWED),
        (Method::GET, "/v1/nope", StatusCode::NOT_FOUND),
        (Method::GET, "/healthz", StatusCode::BAD_REQUEST),
    ] {
        let request = Request::builder()
            .method(method.clone())
            .uri(path)
            .header("idempotency-key", "a".repeat(37))
            .body(Body::empty())
            .expect("a request");
        let reply = send(&router, request).await;
        assert_eq!(reply.status, status, "{method} {path}");
    }
    // Only the hyphenated form is a key, as the document's `uuid` format says.
    let simple = Uuid::now_v7().simple().to_string();
    let request = Request::builder()
        .uri("/healthz")
        .header("idempotency-key", simple)
        .body(Body::empty())
        .expect("a request");
    assert_eq!(send(&router, request).await.status, StatusCode::BAD_REQUEST);
}
