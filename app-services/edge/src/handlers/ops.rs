//! Probes and the API description.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use ports_app::{AppError, AppResult};
use serde::Serialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::state::EdgeState;

/// The answer of the probes.
#[derive(Serialize, ToSchema)]
pub struct Status {
    /// Always `ok`.
    #[schema(pattern = "^ok$")]
    pub status: String,
}

/// The process is up: always 200 `{"status": "ok"}`.
#[utoipa::path(get, path = "/healthz", tag = "ops", operation_id = "healthz",
    summary = "The process is up",
    responses((status = 200, description = "Up", body = Status)))]
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Every component is ready: 200 `{"status": "ok"}`, else 503 `NOT_READY` (the reason is
/// logged, not shown).
#[utoipa::path(get, path = "/readyz", tag = "ops", operation_id = "readyz",
    summary = "Every component is ready",
    responses(
        (status = 200, description = "Ready", body = Status),
        (status = 503, description = "Not ready (NOT_READY)", body = crate::openapi::Problem, content_type = "application/problem+json"),
    ))]
pub async fn readyz(State(state): State<EdgeState>) -> AppResult<Json<Value>> {
    match state.readiness.ready().await {
        Ok(()) => Ok(Json(json!({"status": "ok"}))),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            Err(AppError::not_ready())
        }
    }
}

/// The OpenAPI document, rendered once.
static OPENAPI: LazyLock<Vec<u8>> =
    LazyLock::new(|| serde_json::to_vec(&crate::openapi::openapi()).unwrap_or_default());

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "ops", operation_id = "openapi",
    summary = "This document",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub async fn openapi_json() -> Response {
    let mut response = OPENAPI.as_slice().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
