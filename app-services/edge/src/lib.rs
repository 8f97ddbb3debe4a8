//! The HTTP edge: the JSON API under `/v1` that browsers and apps call, on top of the use
//! cases of `access-app`, `account-app`, `team-app` and `plan-app`.
//!
//! Rules:
//!
//! - **One description per operation.** Each handler carries its OpenAPI description
//!   (`#[utoipa::path]`); [`routes`] registers each under its [`Guard`]. The router, the
//!   route set ([`route_set`]) and the OpenAPI document ([`openapi()`], served at
//!   `/openapi.json`) are all made from that one list.
//! - **Who may call.** A route's guard runs before its handler: open, open under the extra
//!   per-IP quota for credentials, signed in (`Authorization: Bearer <access token>`, checked
//!   by `Access::authenticate`; 401 otherwise), or a member of the path's `{workspace_id}`
//!   with at least a role (the tenancy gate, [`gate_cache`]); the feed stream also takes a single-use
//!   stream ticket (`?ticket=`) instead of the header, for EventSource. The workspace comes from the path only, never
//!   from a header or body. A workspace the caller is not a member of, an unknown one and a
//!   `{workspace_id}` that is not a UUID all answer the same 404 `WORKSPACE_NOT_FOUND`; a
//!   role too low is 403 `ROLE_REQUIRED`.
//! - **Ids in paths.** Any path id that is not a UUID answers 404 like an unknown id of its
//!   kind (`WORKSPACE_NOT_FOUND`, `MEMBER_NOT_FOUND`, `INVITATION_NOT_FOUND`), never 400.
//! - **Errors are problems** (RFC 9457): handlers and extractors fail with the application
//!   error, [`AppError`], which renders itself (`ports_app::problem`, status from the
//!   kernel's one code table). Every error answer, unknown routes (404 `ROUTE_NOT_FOUND`) and
//!   wrong methods (405 `METHOD_NOT_ALLOWED`) included, is `application/problem+json` with a
//!   stable `code` and the request id.
//! - **Bodies** are read by [`ApiJson`]: see [`json`] for the order of checks (415, 413,
//!   `MALFORMED_JSON`, every `MISSING_FIELD` at once, `INVALID_FIELD` with its path).
//! - **Ids of a request.** `Idempotency-Key` (a UUID) is the use case's request id, so a
//!   retried command converges; `X-Request-Id` is the correlation id and is echoed on every
//!   answer (see [`request`]).
//! - **Rate limits** (when configured): per client IP on every request, per IP again on the
//!   credential routes, per user once signed in, per workspace on workspace routes; past one,
//!   429 `RATE_LIMITED` with `Retry-After`. The client IP is the connection's peer address.
//! - **Limits.** Bodies over [`EdgeConfig::body_limit`] are 413; a request taking longer than
//!   [`EdgeConfig::request_timeout`] is 504 `TIMEOUT`.
//! - **CORS** only for the configured origins, exactly; none configured, no CORS headers.
//! - **No secrets out.** Responses never carry passwords or token hashes; an invitation never
//!   shows its token; token answers are `Cache-Control: no-store`.

pub mod assemble;
pub mod feed;
pub mod gate_cache;
pub mod handlers;
pub mod json;
pub mod openapi;
pub mod rate_limit;
pub mod redis_link;
pub mod request;
pub mod routes;
pub mod state;
pub mod views;

#[cfg(test)]
mod tests;

use std::future::Future;
use std::net::SocketAddr;

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::middleware::{Next, from_fn_with_state};
use axum::serve::ListenerExt;
use http::{HeaderName, HeaderValue, Method, Uri, header};
use ports_app::AppError;
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use json::{ApiJson, RequestBody};
pub use openapi::openapi;
pub use rate_limit::{Quota, RateLimiter, RateLimits};
pub use request::{Caller, RequestCtx, Tenant};
pub use routes::{Guard, Route, route_set, routes};
pub use state::{AlwaysReady, Edge, EdgeConfig, EdgeState, Readiness};

/// The router of every route in [`routes()`], with the edge's layers: request ids and
/// problems, CORS, per-IP rate limit and timeout, body limit, and each route's guard.
pub fn router(state: EdgeState) -> Router {
    // Adding a second method to a path merges it into the path's method router (axum
    // refuses only the same method twice).
    let mut router = Router::new();
    for described in routes::described_routes() {
        let guard = described.guard;
        let reads_workspace = described.reads_workspace;
        let guarded = described.handler.route_layer(from_fn_with_state(
            state.clone(),
            move |State(state): State<EdgeState>, request: Request, next: Next| {
                request::enforce(state, guard, reads_workspace, request, next)
            },
        ));
        for path in described.paths.paths.keys() {
            router = router.route(path, guarded.clone());
        }
    }
    let mut router = router
        .fallback(route_not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(from_fn_with_state(state.clone(), request::admit));
    if let Some(cors) = cors(&state.config.cors_origins) {
        router = router.layer(cors);
    }
    router
        .layer(from_fn_with_state(state.clone(), request::identify))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then finishes the requests in
/// flight. Connections get `TCP_NODELAY`; handlers see the peer address (per-IP limits).
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let listener = listener.tap_io(|stream| {
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!(%error, "cannot set TCP_NODELAY");
        }
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// The CORS layer for `origins`, or `None` when there are none (no CORS headers at all).
/// An origin that cannot be a header value is skipped and logged
/// ([`EdgeConfig::validate`] refuses it up front).
fn cors(origins: &[String]) -> Option<CorsLayer> {
    let allowed: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|origin| match HeaderValue::from_str(origin) {
            Ok(value) => Some(value),
            Err(_) => {
                tracing::warn!(%origin, "CORS origin skipped: not a valid header value");
                None
            }
        })
        .collect();
    if allowed.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(allowed))
            .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                request::IDEMPOTENCY_KEY,
                request::X_REQUEST_ID,
                HeaderName::from_static("last-event-id"),
            ])
            .expose_headers([header::ETAG, request::X_REQUEST_ID, header::RETRY_AFTER]),
    )
}

/// 404 `ROUTE_NOT_FOUND` for a path no route has.
async fn route_not_found(uri: Uri) -> AppError {
    let path: String = uri.path().chars().take(200).collect();
    AppError::route_not_found(&path)
}

/// 405 `METHOD_NOT_ALLOWED` for a path that exists without this method.
async fn method_not_allowed(method: Method) -> AppError {
    AppError::method_not_allowed(&method)
}
