//! What happens to every request before its handler runs: its ids, rate limits, the time it
//! may take, authentication and the tenancy gate.
//!
//! - `identify` (outermost): the request id is the `Idempotency-Key` header when present (a
//!   UUID, else 400 `INVALID_IDEMPOTENCY_KEY`), a fresh UUIDv7 otherwise; the correlation id
//!   is `X-Request-Id` when it is 1 to 128 visible ASCII characters, else the request id.
//!   Every response echoes the correlation id as `X-Request-Id`, and every problem carries it
//!   as `request_id`.
//! - `admit`: the per-IP quota on every request, then the request timeout around the rest.
//! - `enforce` (per route, after routing): the route's [`Guard`]. Authentication reads
//!   `Authorization: Bearer <access token>` (on the feed stream without that header, a
//!   single-use `?ticket=`, used up by the first attempt); the workspace comes from the path only, and is
//!   allowed only when the user is a member with the route's least role: as the gate's
//!   cache knows it (at most 1 s old, [`crate::gate_cache`]), or as a fresh read of the
//!   workspace says on routes whose handler shows workspace data.

use std::net::SocketAddr;
use std::sync::Arc;

use access_app::AccessClaims;
use axum::RequestExt;
use axum::body::Body;
use axum::extract::{ConnectInfo, FromRequestParts, RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http::request::Parts;
use http::{HeaderMap, HeaderName, HeaderValue, header};
use kernel_domain::RejectionKind;
use ports_app::problem::PendingProblem;
use ports_app::{AppError, AppResult, Ctx, Role, UserId, Workspace, WorkspaceId};
use team_app::Team;
use tracing::Instrument;
use uuid::Uuid;

use crate::gate_cache::Membership;
use crate::rate_limit::{Quota, RateLimits};
use crate::routes::Guard;
use crate::state::EdgeState;

/// The header carrying a use case's idempotency key.
pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// The header carrying the correlation id, in and out.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The longest `X-Request-Id` taken from a client.
const MAX_REQUEST_ID_LEN: usize = 128;

/// Marks a request whose `Idempotency-Key` was not a UUID.
#[derive(Debug, Clone, Copy)]
struct InvalidIdempotencyKey;

/// Gives the request its [`Ctx`] (anonymous so far, with the deadline of its budget from
/// [`EdgeConfig::budgets`](crate::EdgeConfig::budgets)), echoes `X-Request-Id` and puts the
/// request id into every problem.
pub(crate) async fn identify(
    State(state): State<EdgeState>,
    mut request: Request,
    next: Next,
) -> Response {
    let (request_id, key_valid) = match request.headers().get(IDEMPOTENCY_KEY) {
        None => (Uuid::now_v7(), true),
        Some(value) => match value
            .to_str()
            .ok()
            .filter(|v| is_hyphenated_uuid(v))
            .and_then(|v| Uuid::try_parse(v).ok())
        {
            Some(key) => (key, true),
            None => (Uuid::now_v7(), false),
        },
    };
    let correlation_id = request
        .headers()
        .get(X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_sane_request_id(value))
        .map_or_else(|| request_id.to_string(), str::to_owned);
    let budgets = state.config.budgets;
    let budget = if request.method().is_safe() {
        budgets.read
    } else {
        budgets.command
    };
    request.extensions_mut().insert(Ctx {
        actor: None,
        request_id,
        correlation_id: correlation_id.clone(),
        deadline: std::time::Instant::now().checked_add(budget),
    });
    if !key_valid {
        request.extensions_mut().insert(InvalidIdempotencyKey);
    }
    let span = tracing::info_span!(
        "http",
        method = %request.method(),
        path = %request.uri().path(),
        %request_id,
        %correlation_id,
    );

    let mut response = next.run(request).instrument(span).await;

    if let Some(PendingProblem(problem)) = response.extensions_mut().remove::<PendingProblem>() {
        let body = problem.problem_body(Some(&correlation_id));
        response
            .headers_mut()
            .insert(header::CONTENT_LENGTH, HeaderValue::from(body.len()));
        *response.body_mut() = Body::from(body);
    }
    if let Ok(value) = HeaderValue::from_str(&correlation_id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    response
}

/// Whether `value` is a UUID as JSON Schema's `uuid` format has it (and the OpenAPI
/// document states the header): the hyphenated form, any case, nothing around it.
fn is_hyphenated_uuid(value: &str) -> bool {
    value.len() == 36
        && value.char_indices().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// Whether a client's `X-Request-Id` can be used as the correlation id.
fn is_sane_request_id(value: &str) -> bool {
    !value.is_empty()
        && value.len() <= MAX_REQUEST_ID_LEN
        && value.bytes().all(|b| b.is_ascii_graphic())
}

/// Counts the request against its client IP and answers
/// 504 `TIMEOUT` when the rest takes longer than the configured request timeout.
pub(crate) async fn admit(
    State(state): State<EdgeState>,
    request: Request,
    next: Next,
) -> AppResult<Response> {
    let timeout = state.config.request_timeout;
    let admitted = async {
        let ip = client_ip(&request);
        state.limit(|l| l.per_ip, format!("ip:{ip}")).await?;
        Ok(next.run(request).await)
    };
    match tokio::time::timeout(timeout, admitted).await {
        Ok(result) => result,
        Err(_) => {
            tracing::warn!(timeout = ?timeout, "request timed out");
            Err(AppError::timeout())
        }
    }
}

/// The client's IP address as the connection shows it, or `unknown` when the server was not
/// started with connect info (tests). Forwarding headers are not trusted.
fn client_ip(request: &Request) -> String {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |info| info.0.ip().to_string())
}

impl EdgeState {
    /// Counts one hit on `key` under the quota `pick` chooses; 429 past it. Does nothing when
    /// rate limits are off.
    pub(crate) async fn limit(
        &self,
        pick: impl FnOnce(&RateLimits) -> Quota,
        key: String,
    ) -> AppResult<()> {
        let Some((limiter, limits)) = &self.rate_limits else {
            return Ok(());
        };
        limiter
            .hit(&key, pick(limits))
            .await
            .map_err(AppError::rate_limited)
    }
}

/// The signed-in user of a request that passed a [`Guard::User`] or [`Guard::Workspace`]
/// route's check; their [`Ctx`] acts as them.
#[derive(Debug, Clone)]
pub struct Caller {
    pub ctx: Ctx,
    pub claims: AccessClaims,
}

/// The workspace of a request that passed a [`Guard::Workspace`] route's check: the acting
/// user is a member with at least the route's role.
#[derive(Debug, Clone)]
pub struct Tenant {
    pub ctx: Ctx,
    pub workspace_id: WorkspaceId,
    /// The workspace as the check read it, on routes declared as reading it (the gate then
    /// reads it fresh); `None` where the gate decided from its cache.
    pub workspace: Option<Arc<Workspace>>,
}

impl Tenant {
    /// The workspace the gate read for this request; an internal error on a route not
    /// declared as reading it (`routes::described_routes`).
    pub fn workspace(&self) -> AppResult<&Workspace> {
        self.workspace.as_deref().ok_or_else(|| {
            AppError::internal("a handler reading the workspace is on a route not declared so")
        })
    }
}

impl EdgeState {
    /// The tenancy gate: whether the acting user of `ctx` is a member of `workspace_id`
    /// with at least `least`. Decided from the gate's cache when it holds a usable entry and
    /// the route does not show workspace data (`reads_workspace`); otherwise from a fresh
    /// read of the workspace, which refreshes the cache and is handed to the handler.
    async fn pass_gate(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
        least: Role,
        reads_workspace: bool,
    ) -> AppResult<Option<Arc<Workspace>>> {
        let user = ctx.user()?;
        let workspace = workspace_id.as_uuid();
        if !reads_workspace && let Some(known) = self.gate.get(workspace, user).await {
            Team::admit(known.role, least)?;
            return Ok(None);
        }
        let read_at = tokio::time::Instant::now();
        let found = self.team.read_workspace(ctx, workspace_id).await?;
        let role = found.member(UserId::from(user)).map(|member| member.role);
        let membership = Membership {
            version: found.version.get(),
            role,
        };
        self.gate.put(workspace, user, membership, read_at).await;
        Team::admit(role, least)?;
        Ok(Some(Arc::new(found)))
    }

    /// Notes the workspace a command of this edge answered, so the gate uses no entry older
    /// than it (here at once; on every replica when the cache is in Redis).
    pub(crate) async fn saw(&self, workspace: &Workspace) {
        self.gate
            .saw(workspace.id.as_uuid(), workspace.version.get())
            .await;
    }
}

/// The [`Ctx`] of any request (anonymous on open routes).
#[derive(Debug, Clone)]
pub struct RequestCtx(pub Ctx);

/// Applies a route's guard, then runs the handler.
pub(crate) async fn enforce(
    state: EdgeState,
    guard: Guard,
    reads_workspace: bool,
    mut request: Request,
    next: Next,
) -> AppResult<Response> {
    // Checked once routed, so an unknown route or method is still 404 or 405.
    if request
        .extensions()
        .get::<InvalidIdempotencyKey>()
        .is_some()
    {
        return Err(AppError::invalid_idempotency_key());
    }
    match guard {
        Guard::Open => {}
        Guard::Credentials => {
            let ip = client_ip(&request);
            state
                .limit(|l| l.auth_per_ip, format!("auth-ip:{ip}"))
                .await?;
        }
        Guard::UserOrTicket if !request.headers().contains_key(header::AUTHORIZATION) => {
            let ctx = request_ctx(request.extensions())?;
            let ticket = stream_ticket(request.uri()).ok_or_else(AppError::unauthenticated)?;
            let user = state.feed.tickets.redeem(&ticket).await?.ok_or_else(|| {
                AppError::new(
                    RejectionKind::Unauthenticated,
                    "INVALID_TICKET",
                    "the stream ticket is unknown, expired or already used",
                )
            })?;
            state.limit(|l| l.per_user, format!("user:{user}")).await?;
            request.extensions_mut().insert(ctx.acting_as(user));
        }
        Guard::User | Guard::UserOrTicket | Guard::Workspace(_) => {
            let ctx = request_ctx(request.extensions())?;
            let token = bearer_token(request.headers())?;
            let claims = state.access.authenticate(token)?;
            state
                .limit(|l| l.per_user, format!("user:{}", claims.user_id))
                .await?;
            let ctx = ctx.acting_as(claims.user_id);
            if let Guard::Workspace(least) = guard {
                let params = request.extract_parts::<RawPathParams>().await.ok();
                let workspace_id = params
                    .as_ref()
                    .and_then(|params| path_uuid(params, "workspace_id"))
                    .map(WorkspaceId::from)
                    .ok_or_else(workspace_not_found)?;
                let workspace = state
                    .pass_gate(&ctx, workspace_id, least, reads_workspace)
                    .await
                    .map_err(tenancy_error)?;
                state
                    .limit(|l| l.per_workspace, format!("workspace:{workspace_id}"))
                    .await?;
                request.extensions_mut().insert(Tenant {
                    ctx: ctx.clone(),
                    workspace_id,
                    workspace,
                });
            }
            request.extensions_mut().insert(ctx.clone());
            request.extensions_mut().insert(Caller { ctx, claims });
        }
    }
    Ok(next.run(request).await)
}

/// The `ticket` query parameter, if there is one.
fn stream_ticket(uri: &http::Uri) -> Option<String> {
    let axum::extract::Query(pairs) =
        axum::extract::Query::<Vec<(String, String)>>::try_from_uri(uri).ok()?;
    pairs
        .into_iter()
        .find(|(name, value)| name == "ticket" && !value.is_empty())
        .map(|(_, value)| value)
}

/// The access token of `Authorization: Bearer <token>`; 401 without one.
fn bearer_token(headers: &HeaderMap) -> AppResult<&str> {
    let value = headers
        .get(header::AUTHORIZATION)
        .ok_or_else(AppError::unauthenticated)?;
    let invalid = || {
        AppError::new(
            RejectionKind::Unauthenticated,
            "INVALID_TOKEN",
            "the Authorization header must be Bearer <access token>",
        )
    };
    let value = value.to_str().map_err(|_| invalid())?;
    let (scheme, token) = value.trim().split_once(' ').ok_or_else(invalid)?;
    let token = token.trim();
    if !scheme.eq_ignore_ascii_case("bearer") || token.is_empty() {
        return Err(invalid());
    }
    Ok(token)
}

/// The answer for a workspace that is unknown, not a UUID, or not one the user belongs to:
/// always the same, so outsiders learn nothing.
pub fn workspace_not_found() -> AppError {
    AppError::not_found("WORKSPACE_NOT_FOUND", "no such workspace")
}

/// The tenancy gate's refusals: any "not found" becomes [`workspace_not_found`] word for
/// word; a role too low stays 403.
fn tenancy_error(error: AppError) -> AppError {
    if error.is(RejectionKind::NotFound) {
        workspace_not_found()
    } else {
        error
    }
}

/// The path parameter `name` as a UUID, if it is one.
pub(crate) fn path_uuid(params: &RawPathParams, name: &str) -> Option<Uuid> {
    params
        .iter()
        .find(|(key, _)| *key == name)
        .and_then(|(_, value)| Uuid::try_parse(value).ok())
}

fn request_ctx(extensions: &http::Extensions) -> AppResult<Ctx> {
    extensions
        .get::<Ctx>()
        .cloned()
        .ok_or_else(|| AppError::internal("a request reached a route without its context"))
}

impl<S: Send + Sync> FromRequestParts<S> for RequestCtx {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> AppResult<Self> {
        request_ctx(&parts.extensions).map(RequestCtx)
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Caller {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> AppResult<Self> {
        parts.extensions.get::<Caller>().cloned().ok_or_else(|| {
            AppError::internal(
                "a handler needing a signed-in user is on a route without that guard",
            )
        })
    }
}

impl<S: Send + Sync> FromRequestParts<S> for Tenant {
    type Rejection = AppError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> AppResult<Self> {
        parts.extensions.get::<Tenant>().cloned().ok_or_else(|| {
            AppError::internal("a handler needing a workspace is on a route without that guard")
        })
    }
}
