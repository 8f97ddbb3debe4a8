//! Probes and the API description.

use std::sync::LazyLock;

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use serde_json::{Value, json};

use crate::problem::{ApiError, ApiResult};
use crate::state::EdgeState;

/// The process is up: always 200 `{"status": "ok"}`.
pub async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// Every component is ready: 200 `{"status": "ok"}`, else 503 `NOT_READY` (the reason is
/// logged, not shown).
pub async fn readyz(State(state): State<EdgeState>) -> ApiResult<Json<Value>> {
    match state.readiness.ready().await {
        Ok(()) => Ok(Json(json!({"status": "ok"}))),
        Err(reason) => {
            tracing::warn!(%reason, "not ready");
            Err(ApiError::not_ready())
        }
    }
}

/// The OpenAPI document, rendered once.
static OPENAPI: LazyLock<Vec<u8>> =
    LazyLock::new(|| serde_json::to_vec(&crate::openapi::openapi()).unwrap_or_default());

/// `GET /openapi.json`.
pub async fn openapi_json() -> Response {
    let mut response = OPENAPI.as_slice().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
