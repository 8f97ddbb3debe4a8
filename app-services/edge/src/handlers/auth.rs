//! Sign-up, login, refresh and logout.

use access_app::{SignUpForm, Tokens};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use serde::{Deserialize, Serialize};

use crate::json::{ApiJson, RequestBody};
use crate::problem::ApiResult;
use crate::request::{Caller, RequestCtx};
use crate::state::EdgeState;
use crate::views::{SubscriptionView, UserView, WorkspaceView};

/// `POST /v1/signup`.
#[derive(Deserialize)]
pub struct SignUpBody {
    pub email: String,
    pub password: String,
    pub display_name: String,
    pub workspace_name: String,
    pub workspace_slug: String,
}

impl RequestBody for SignUpBody {
    const REQUIRED: &'static [&'static str] = &[
        "email",
        "password",
        "display_name",
        "workspace_name",
        "workspace_slug",
    ];
}

/// `POST /v1/auth/login`.
#[derive(Deserialize)]
pub struct LoginBody {
    pub email: String,
    pub password: String,
}

impl RequestBody for LoginBody {
    const REQUIRED: &'static [&'static str] = &["email", "password"];
}

/// `POST /v1/auth/refresh`.
#[derive(Deserialize)]
pub struct RefreshBody {
    pub refresh_token: String,
}

impl RequestBody for RefreshBody {
    const REQUIRED: &'static [&'static str] = &["refresh_token"];
}

/// What a sign-up made.
#[derive(Debug, Serialize)]
pub struct SignedUpView {
    pub user: UserView,
    pub workspace: WorkspaceView,
    pub subscription: SubscriptionView,
}

/// Registers a user with their workspace and its trial: 201.
pub async fn sign_up(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<SignUpBody>,
) -> ApiResult<Response> {
    let form = SignUpForm {
        email: body.email,
        password: body.password,
        display_name: body.display_name,
        workspace_name: body.workspace_name,
        workspace_slug: body.workspace_slug,
    };
    let made = state.access.sign_up(&ctx, form).await?;
    let view = SignedUpView {
        user: UserView::from(&made.user),
        workspace: WorkspaceView::from(&made.workspace),
        subscription: SubscriptionView::from(&made.subscription),
    };
    Ok((StatusCode::CREATED, Json(view)).into_response())
}

/// Tokens are secrets: never cached anywhere (RFC 6749, section 5.1).
fn tokens(tokens: Tokens) -> Response {
    let mut response = Json(tokens).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Logs in: 200 with tokens.
pub async fn login(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<LoginBody>,
) -> ApiResult<Response> {
    let issued = state
        .access
        .login(&ctx, &body.email, &body.password)
        .await?;
    Ok(tokens(issued))
}

/// Exchanges a refresh token: 200 with new tokens.
pub async fn refresh(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<RefreshBody>,
) -> ApiResult<Response> {
    let issued = state.access.refresh(&ctx, &body.refresh_token).await?;
    Ok(tokens(issued))
}

/// Closes the caller's session: 204.
pub async fn logout(State(state): State<EdgeState>, caller: Caller) -> ApiResult<StatusCode> {
    state.access.logout(&caller.ctx, &caller.claims).await?;
    Ok(StatusCode::NO_CONTENT)
}
