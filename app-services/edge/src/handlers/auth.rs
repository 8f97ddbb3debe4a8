//! Sign-up, login, refresh and logout.

use access_app::{SignUpForm, Tokens};
use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use ports_app::AppResult;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::json::{ApiJson, RequestBody};
use crate::openapi::Problem;
use crate::request::{Caller, RequestCtx};
use crate::state::EdgeState;
use crate::views::{SubscriptionView, TokensView, UserView, WorkspaceView};

/// `POST /v1/signup`.
#[derive(Deserialize, ToSchema)]
#[schema(as = SignUpRequest, examples(json!({"email": "ada@example.com", "password": "correct horse battery staple", "display_name": "Ada Lovelace", "workspace_name": "Analytical Engines", "workspace_slug": "analytical-engines"})))]
pub struct SignUpBody {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
    #[schema(
        pattern = r"^\s*[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\s\x00-\x1f\x7f-\x9f])?\s*$"
    )]
    pub display_name: String,
    #[schema(
        pattern = r"^\s*[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\s\x00-\x1f\x7f-\x9f])?\s*$"
    )]
    pub workspace_name: String,
    #[schema(pattern = r"^\s*[A-Za-z0-9][A-Za-z0-9-]{1,38}[A-Za-z0-9]\s*$")]
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
#[derive(Deserialize, ToSchema)]
#[schema(as = LoginRequest, examples(json!({"email": "ada@example.com", "password": "correct horse battery staple"})))]
pub struct LoginBody {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    #[schema(min_length = 12, max_length = 128)]
    pub password: String,
}

impl RequestBody for LoginBody {
    const REQUIRED: &'static [&'static str] = &["email", "password"];
}

/// `POST /v1/auth/refresh`.
#[derive(Deserialize, ToSchema)]
#[schema(as = RefreshRequest, examples(json!({"refresh_token": "0123456789abcdef0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})))]
pub struct RefreshBody {
    pub refresh_token: String,
}

impl RequestBody for RefreshBody {
    const REQUIRED: &'static [&'static str] = &["refresh_token"];
}

/// What a sign-up made.
#[derive(Debug, Serialize, ToSchema)]
#[schema(as = SignUp)]
pub struct SignedUpView {
    pub user: UserView,
    pub workspace: WorkspaceView,
    pub subscription: SubscriptionView,
}

/// Registers a user with their workspace and its trial: 201.
#[utoipa::path(post, path = "/v1/signup", tag = "auth", operation_id = "signUp",
    summary = "Register a user with their workspace and a Team trial",
    request_body = SignUpBody,
    responses(
        (status = 201, description = "Signed up", body = SignedUpView),
        (status = 409, description = "EMAIL_TAKEN or SLUG_TAKEN", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A business rule refuses it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sign_up(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<SignUpBody>,
) -> AppResult<Response> {
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
    let mut response = Json(TokensView::from(tokens)).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// Logs in: 200 with tokens.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", operation_id = "login",
    summary = "Log in with email and password",
    request_body = LoginBody,
    responses(
        (status = 200, description = "Logged in", body = TokensView),
        (status = 401, description = "INVALID_CREDENTIALS (unknown email, wrong password, suspended or erased user)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The account is locked after repeated failures", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn login(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<LoginBody>,
) -> AppResult<Response> {
    let issued = state
        .access
        .login(&ctx, &body.email, &body.password)
        .await?;
    Ok(tokens(issued))
}

/// Exchanges a refresh token: 200 with new tokens.
#[utoipa::path(post, path = "/v1/auth/refresh", tag = "auth", operation_id = "refresh",
    summary = "Exchange a refresh token for new tokens (rotation)",
    request_body = RefreshBody,
    responses(
        (status = 200, description = "New tokens", body = TokensView),
        (status = 401, description = "The refresh token is unknown, expired, reused or its session closed", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn refresh(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<RefreshBody>,
) -> AppResult<Response> {
    let issued = state.access.refresh(&ctx, &body.refresh_token).await?;
    Ok(tokens(issued))
}

/// Closes the caller's session: 204.
#[utoipa::path(post, path = "/v1/auth/logout", tag = "auth", operation_id = "logout",
    summary = "Close the caller's session",
    responses((status = 204, description = "Logged out")))]
pub async fn logout(State(state): State<EdgeState>, caller: Caller) -> AppResult<StatusCode> {
    state.access.logout(&caller.ctx, &caller.claims).await?;
    Ok(StatusCode::NO_CONTENT)
}
