//! The signed-in user's account, and the anonymous halves of email verification and
//! password reset.

use axum::extract::State;
use http::StatusCode;
use kernel_domain::RejectionKind;
use serde::Deserialize;

use crate::json::{ApiJson, RequestBody};
use crate::problem::ApiResult;
use crate::request::{Caller, RequestCtx};
use crate::state::EdgeState;
use crate::views::{Resource, UserView};

/// `PATCH /v1/me`.
#[derive(Deserialize)]
pub struct ChangeDisplayNameBody {
    pub display_name: String,
}

impl RequestBody for ChangeDisplayNameBody {
    const REQUIRED: &'static [&'static str] = &["display_name"];
}

/// `POST /v1/me/password`.
#[derive(Deserialize)]
pub struct ChangePasswordBody {
    pub old_password: String,
    pub new_password: String,
}

impl RequestBody for ChangePasswordBody {
    const REQUIRED: &'static [&'static str] = &["old_password", "new_password"];
}

/// `POST /v1/email-verification/confirm` and `POST /v1/invitations/accept`.
#[derive(Deserialize)]
pub struct TokenBody {
    pub token: String,
}

impl RequestBody for TokenBody {
    const REQUIRED: &'static [&'static str] = &["token"];
}

/// `POST /v1/password-reset`.
#[derive(Deserialize)]
pub struct PasswordResetBody {
    pub email: String,
}

impl RequestBody for PasswordResetBody {
    const REQUIRED: &'static [&'static str] = &["email"];
}

/// `POST /v1/password-reset/confirm`.
#[derive(Deserialize)]
pub struct CompletePasswordResetBody {
    pub token: String,
    pub new_password: String,
}

impl RequestBody for CompletePasswordResetBody {
    const REQUIRED: &'static [&'static str] = &["token", "new_password"];
}

/// The signed-in user.
pub async fn me(State(state): State<EdgeState>, caller: Caller) -> ApiResult<Resource<UserView>> {
    let user = state.account.me(&caller.ctx).await?;
    Ok(Resource::user(&user))
}

/// Renames the signed-in user.
pub async fn change_display_name(
    State(state): State<EdgeState>,
    caller: Caller,
    ApiJson(body): ApiJson<ChangeDisplayNameBody>,
) -> ApiResult<Resource<UserView>> {
    let user = state
        .account
        .change_display_name(&caller.ctx, body.display_name)
        .await?;
    Ok(Resource::user(&user))
}

/// Erases the signed-in user: 204.
pub async fn erase(State(state): State<EdgeState>, caller: Caller) -> ApiResult<StatusCode> {
    state.account.erase(&caller.ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the password: 204.
pub async fn change_password(
    State(state): State<EdgeState>,
    caller: Caller,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> ApiResult<StatusCode> {
    state
        .account
        .change_password(&caller.ctx, body.old_password, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails a verification token: 202.
pub async fn start_email_verification(
    State(state): State<EdgeState>,
    caller: Caller,
) -> ApiResult<StatusCode> {
    state.account.start_email_verification(&caller.ctx).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Confirms an email with its token: 204.
pub async fn confirm_email_verification(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<TokenBody>,
) -> ApiResult<StatusCode> {
    state
        .account
        .confirm_email_verification(&ctx, body.token)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails a reset token if the email belongs to someone: 202 either way. A "not found" from
/// the use case is answered 202 too, so the answer never tells whether the email exists.
pub async fn request_password_reset(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<PasswordResetBody>,
) -> ApiResult<StatusCode> {
    match state.account.request_password_reset(&ctx, body.email).await {
        Ok(()) => Ok(StatusCode::ACCEPTED),
        Err(error) if error.is(RejectionKind::NotFound) => {
            tracing::debug!(code = %error.code, "password reset for an unknown account");
            Ok(StatusCode::ACCEPTED)
        }
        Err(error) => Err(error.into()),
    }
}

/// Sets a new password with the mailed token: 204.
pub async fn complete_password_reset(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<CompletePasswordResetBody>,
) -> ApiResult<StatusCode> {
    state
        .account
        .complete_password_reset(&ctx, body.token, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
