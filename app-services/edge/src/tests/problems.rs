//! Every error class reaches the client as an RFC 9457 problem with its status; internal
//! causes never show. (How the application error renders is tested in `ports-app`.)

use http::{Method, StatusCode};
use kernel_domain::{FieldViolation, RejectionKind};
use ports_app::{AppError, ErrorKind};
use uuid::Uuid;

use super::{World, authed, send, token_for};

/// `GET /v1/me` where reading the user fails with `error`.
async fn me_failing_with(error: AppError) -> super::Reply {
    let user = Uuid::now_v7();
    let mut world = World::new();
    world
        .users
        .expect_get_user()
        .returning(move |_, _| Err(error.clone().into()));
    let router = world.router();
    send(&router, authed(Method::GET, "/v1/me", &token_for(user))).await
}

#[tokio::test]
async fn each_error_class_reaches_the_client_as_a_problem_with_its_status() {
    let cases = [
        (
            AppError::rejected(RejectionKind::InvalidArgument, "BAD_THING", "bad"),
            StatusCode::BAD_REQUEST,
        ),
        (
            AppError::rejected(RejectionKind::Unauthenticated, "USER_SUSPENDED", "no"),
            StatusCode::UNAUTHORIZED,
        ),
        (
            AppError::rejected(RejectionKind::PermissionDenied, "ROLE_REQUIRED", "no"),
            StatusCode::FORBIDDEN,
        ),
        (
            AppError::not_found("USER_NOT_FOUND", "no such user"),
            StatusCode::NOT_FOUND,
        ),
        (
            AppError::rejected(RejectionKind::AlreadyExists, "EMAIL_TAKEN", "taken"),
            StatusCode::CONFLICT,
        ),
        (
            AppError::rejected(RejectionKind::Aborted, "ETAG_MISMATCH", "stale"),
            StatusCode::CONFLICT,
        ),
        (
            AppError::rejected(RejectionKind::FailedPrecondition, "LAST_OWNER", "no"),
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
        (
            AppError::rejected(RejectionKind::Unavailable, "OVERLOADED", "later"),
            StatusCode::SERVICE_UNAVAILABLE,
        ),
        (
            AppError {
                kind: ErrorKind::Timeout,
                code: "UPSTREAM_TIMEOUT".into(),
                message: "later".to_owned(),
                fields: vec![],
                retry_after: None,
            },
            StatusCode::GATEWAY_TIMEOUT,
        ),
    ];
    for (error, status) in cases {
        let code = error.code.to_string();
        let reply = me_failing_with(error).await;
        let body = reply.problem(status, &code);
        assert!(body.get("errors").is_none(), "{body}");
    }
}

#[tokio::test]
async fn a_reused_idempotency_key_is_a_422() {
    let reply = me_failing_with(AppError::invalid_field(
        "REQUEST_ID_REUSED",
        "Idempotency-Key",
        "this Idempotency-Key was already used for a different request",
    ))
    .await;
    let body = reply.problem(StatusCode::UNPROCESSABLE_ENTITY, "REQUEST_ID_REUSED");
    assert_eq!(body["errors"][0]["field"], "Idempotency-Key", "{body}");
}

#[tokio::test]
async fn field_violations_become_the_problems_errors() {
    let mut error = AppError::invalid_field("INVALID_DISPLAY_NAME", "display_name", "too long");
    error.fields.push(FieldViolation {
        field: "email".to_owned(),
        description: "not an address".to_owned(),
    });
    let reply = me_failing_with(error).await;
    let body = reply.problem(StatusCode::BAD_REQUEST, "INVALID_DISPLAY_NAME");
    assert_eq!(
        body["errors"],
        serde_json::json!([
            {"field": "display_name", "detail": "too long"},
            {"field": "email", "detail": "not an address"},
        ])
    );
}

#[tokio::test]
async fn an_internal_failure_is_a_bare_500() {
    let reply = me_failing_with(AppError::internal("password=hunter2 at db-7")).await;
    let body = reply.problem(StatusCode::INTERNAL_SERVER_ERROR, "INTERNAL");
    let text = String::from_utf8_lossy(&reply.body);
    assert!(
        !text.contains("hunter2") && !text.contains("db-7"),
        "{text}"
    );
    assert_eq!(body["detail"], "internal error");
}
