//! JSON bodies: syntax, types, missing fields, content type and size are problems a client
//! can act on.

use axum::body::Body;
use http::{Method, Request, StatusCode, header};
use ports_app::Role;
use serde_json::{Value, json};
use uuid::Uuid;

use super::{World, json_request, send, token_for, workspace};
use crate::routes::routes;
use crate::{EdgeConfig, openapi};

fn raw(path: &str, content_type: Option<&str>, body: impl Into<Body>) -> Request<Body> {
    let mut builder = Request::builder().method(Method::POST).uri(path);
    if let Some(content_type) = content_type {
        builder = builder.header(header::CONTENT_TYPE, content_type);
    }
    builder.body(body.into()).expect("a request")
}

#[tokio::test]
async fn bad_json_syntax_is_malformed_json() {
    let router = World::new().router();
    for body in [
        &b"{\"email\": "[..],
        b"",
        b"{'email': 'a'}",
        b"{\"email\": \"\xff\xfe\"}",
    ] {
        let reply = send(
            &router,
            raw("/v1/auth/login", Some("application/json"), body.to_vec()),
        )
        .await;
        reply.problem(StatusCode::BAD_REQUEST, "MALFORMED_JSON");
    }
}

#[tokio::test]
async fn a_body_that_is_not_an_object_is_malformed_json() {
    let router = World::new().router();
    for body in ["[1, 2]", "\"text\"", "null", "42"] {
        let reply = send(
            &router,
            raw("/v1/auth/login", Some("application/json"), body),
        )
        .await;
        reply.problem(StatusCode::BAD_REQUEST, "MALFORMED_JSON");
    }
}

#[tokio::test]
async fn a_wrong_type_is_an_invalid_field_naming_it() {
    let router = World::new().router();
    let reply = send(
        &router,
        json_request(
            Method::POST,
            "/v1/auth/login",
            None,
            &json!({"email": 5, "password": "correct horse battery"}),
        ),
    )
    .await;
    reply.problem(StatusCode::BAD_REQUEST, "INVALID_FIELD");
    assert_eq!(reply.error_fields(), ["email"]);
}

#[tokio::test]
async fn every_missing_field_is_listed() {
    let router = World::new().router();
    let reply = send(
        &router,
        json_request(Method::POST, "/v1/signup", None, &json!({})),
    )
    .await;
    reply.problem(StatusCode::BAD_REQUEST, "MISSING_FIELD");
    assert_eq!(
        reply.error_fields(),
        [
            "email",
            "password",
            "display_name",
            "workspace_name",
            "workspace_slug"
        ]
    );

    // `null` counts as missing; present fields are not listed.
    let reply = send(
        &router,
        json_request(
            Method::POST,
            "/v1/signup",
            None,
            &json!({"email": "ada@example.com", "password": null, "workspace_slug": 3}),
        ),
    )
    .await;
    reply.problem(StatusCode::BAD_REQUEST, "MISSING_FIELD");
    assert_eq!(
        reply.error_fields(),
        ["password", "display_name", "workspace_name"]
    );
}

/// A router where `owner` owns `workspace_id`, for routes behind the tenancy gate.
fn owned_workspace() -> (axum::Router, Uuid, String) {
    let owner = Uuid::now_v7();
    let workspace_id = Uuid::now_v7();
    let router = World::new()
        .with_workspace(workspace(workspace_id, &[(owner, Role::Owner)]))
        .router();
    (router, workspace_id, token_for(owner))
}

#[tokio::test]
async fn every_body_reports_exactly_the_required_fields_its_schema_names() {
    let (router, workspace_id, token) = owned_workspace();
    let document = openapi();
    let mut checked = 0;
    for operation in routes() {
        let lower = operation.method.as_str().to_ascii_lowercase();
        let Some(schema) = document["paths"][&operation.path][&lower]["requestBody"]
            ["content"]["application/json"]["schema"]["$ref"]
            .as_str()
        else {
            continue;
        };
        let required: Vec<String> = document
            .pointer(schema.trim_start_matches('#'))
            .and_then(|s| s["required"].as_array())
            .expect("a schema with required fields")
            .iter()
            .map(|f| f.as_str().unwrap_or_default().to_owned())
            .collect();
        let path = operation
            .path
            .replace("{workspace_id}", &workspace_id.to_string())
            .replace("{user_id}", &Uuid::now_v7().to_string());
        let method = operation.method.clone();
        let reply = send(
            &router,
            json_request(method, &path, Some(&token), &json!({})),
        )
        .await;
        reply.problem(StatusCode::BAD_REQUEST, "MISSING_FIELD");
        assert_eq!(reply.error_fields(), required, "{}", operation.path);
        checked += 1;
    }
    assert!(checked >= 14, "only {checked} bodies checked");
}

#[tokio::test]
async fn an_unknown_enum_value_is_an_invalid_field() {
    let (router, workspace_id, token) = owned_workspace();
    let cases: [(Method, String, Value, &str); 4] = [
        (
            Method::POST,
            format!("/v1/workspaces/{workspace_id}/subscription/plan"),
            json!({"plan": "gold"}),
            "plan",
        ),
        (
            Method::POST,
            format!("/v1/workspaces/{workspace_id}/invitations"),
            json!({"email": "x@example.com", "role": "owner"}),
            "role",
        ),
        (
            Method::PATCH,
            format!("/v1/workspaces/{workspace_id}/members/{}", Uuid::now_v7()),
            json!({"role": "superuser"}),
            "role",
        ),
        (
            Method::POST,
            format!("/v1/workspaces/{workspace_id}/subscription/seats"),
            json!({"seats": 10_000_000_000_i64}),
            "seats",
        ),
    ];
    for (method, path, body, field) in cases {
        let reply = send(&router, json_request(method, &path, Some(&token), &body)).await;
        reply.problem(StatusCode::BAD_REQUEST, "INVALID_FIELD");
        assert_eq!(reply.error_fields(), [field], "{path}");
    }
}

#[tokio::test]
async fn a_body_that_is_not_sent_as_json_is_unsupported() {
    let router = World::new().router();
    let body = json!({"email": "a@example.com", "password": "x"}).to_string();
    for content_type in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let reply = send(&router, raw("/v1/auth/login", content_type, body.clone())).await;
        reply.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE");
    }
    // Parameters and +json types are JSON.
    for content_type in [
        "application/json; charset=utf-8",
        "application/merge-patch+json",
    ] {
        let reply = send(&router, raw("/v1/auth/login", Some(content_type), "{}")).await;
        reply.problem(StatusCode::BAD_REQUEST, "MISSING_FIELD");
    }
}

#[tokio::test]
async fn a_body_over_the_limit_is_413() {
    let mut world = World::new();
    world.config = EdgeConfig {
        body_limit: 1_024,
        ..EdgeConfig::default()
    };
    let router = world.router();
    let padding = "x".repeat(2_000);
    let body = json!({"email": "a@example.com", "password": padding}).to_string();
    let reply = send(
        &router,
        raw("/v1/auth/login", Some("application/json"), body.clone()),
    )
    .await;
    reply.problem(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");

    // The same with a Content-Length announcing it.
    let request = Request::builder()
        .method(Method::POST)
        .uri("/v1/auth/login")
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, body.len())
        .body(Body::from(body))
        .expect("a request");
    send(&router, request)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn the_default_limit_is_64_kib() {
    let router = World::new().router();
    let body = json!({"email": "a@example.com", "password": "x".repeat(64 * 1024)}).to_string();
    let reply = send(
        &router,
        raw("/v1/auth/login", Some("application/json"), body),
    )
    .await;
    reply.problem(StatusCode::PAYLOAD_TOO_LARGE, "PAYLOAD_TOO_LARGE");
}

#[tokio::test]
async fn a_bad_page_size_is_an_invalid_field() {
    let router = World::new().router();
    let token = token_for(Uuid::now_v7());
    for query in ["page_size=-1", "page_size=ten", "page_size=99999999999"] {
        let reply = send(
            &router,
            super::authed(Method::GET, &format!("/v1/workspaces?{query}"), &token),
        )
        .await;
        reply.problem(StatusCode::BAD_REQUEST, "INVALID_FIELD");
        assert_eq!(reply.error_fields(), ["page_size"], "{query}");
    }
}

#[test]
fn a_whole_number_written_with_a_zero_fraction_is_an_integer_as_json_schema_says() {
    use crate::handlers::billing::ChangeSeatsBody;
    use crate::json::parse_body;
    let seats = |body: &str| parse_body::<ChangeSeatsBody>(body.as_bytes()).map(|b| b.seats);
    assert_eq!(seats(r#"{"seats": 3}"#).ok(), Some(3));
    assert_eq!(seats(r#"{"seats": 3.0}"#).ok(), Some(3));
    assert_eq!(seats(r#"{"seats": -2.0}"#).ok(), Some(-2));
    for bad in [
        r#"{"seats": 3.5}"#,
        r#"{"seats": 1e10}"#,
        r#"{"seats": 2147483648}"#,
        r#"{"seats": "3"}"#,
        r#"{"seats": 1e300}"#,
    ] {
        let error = seats(bad).expect_err(bad);
        assert_eq!(error.code, "INVALID_FIELD", "{bad}");
        assert_eq!(error.fields[0].field, "seats", "{bad}");
    }
}
