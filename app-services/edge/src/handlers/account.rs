//! The signed-in user's account, and the anonymous halves of email verification and
//! password reset.

use axum::extract::State;
use http::StatusCode;
use kernel_domain::RejectionKind;
use ports_app::AppResult;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::json::{ApiJson, RequestBody};
use crate::openapi::Problem;
use crate::request::{Caller, RequestCtx};
use crate::state::EdgeState;
use crate::views::{Resource, UserView};

/// `PATCH /v1/me`.
#[derive(Deserialize, ToSchema)]
#[schema(as = ChangeDisplayNameRequest, examples(json!({"display_name": "Ada King"})))]
pub struct ChangeDisplayNameBody {
    #[schema(
        pattern = r"^\s*[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\s\x00-\x1f\x7f-\x9f])?\s*$"
    )]
    pub display_name: String,
}

impl RequestBody for ChangeDisplayNameBody {
    const REQUIRED: &'static [&'static str] = &["display_name"];
}

/// `POST /v1/me/password`.
#[derive(Deserialize, ToSchema)]
#[schema(as = ChangePasswordRequest, examples(json!({"old_password": "correct horse battery staple", "new_password": "a longer and newer passphrase"})))]
pub struct ChangePasswordBody {
    #[schema(min_length = 12, max_length = 128)]
    pub old_password: String,
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

impl RequestBody for ChangePasswordBody {
    const REQUIRED: &'static [&'static str] = &["old_password", "new_password"];
}

/// `POST /v1/email-verification/confirm` and `POST /v1/invitations/accept`.
#[derive(Deserialize, ToSchema)]
#[schema(as = TokenRequest, examples(json!({"token": "0123456789abcdef0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"})))]
pub struct TokenBody {
    /// The mailed token: the target's id (32 hex digits), a dot, 43 base64url characters.
    #[schema(
        pattern = r"^[0-9a-fA-F]{32}\.[A-Za-z0-9_-]{43}",
        min_length = 76,
        max_length = 76
    )]
    pub token: String,
}

impl RequestBody for TokenBody {
    const REQUIRED: &'static [&'static str] = &["token"];
}

/// `POST /v1/password-reset`.
#[derive(Deserialize, ToSchema)]
#[schema(as = PasswordResetRequest, examples(json!({"email": "ada@example.com"})))]
pub struct PasswordResetBody {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
}

impl RequestBody for PasswordResetBody {
    const REQUIRED: &'static [&'static str] = &["email"];
}

/// `POST /v1/password-reset/confirm`.
#[derive(Deserialize, ToSchema)]
#[schema(as = CompletePasswordResetRequest, examples(json!({"token": "0123456789abcdef0123456789abcdef.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "new_password": "a longer and newer passphrase"})))]
pub struct CompletePasswordResetBody {
    /// The mailed token: the user's id (32 hex digits), a dot, 43 base64url characters.
    #[schema(
        pattern = r"^[0-9a-fA-F]{32}\.[A-Za-z0-9_-]{43}",
        min_length = 76,
        max_length = 76
    )]
    pub token: String,
    #[schema(min_length = 12, max_length = 128)]
    pub new_password: String,
}

impl RequestBody for CompletePasswordResetBody {
    const REQUIRED: &'static [&'static str] = &["token", "new_password"];
}

/// The signed-in user.
#[utoipa::path(get, path = "/v1/me", tag = "account", operation_id = "getMe",
    summary = "The signed-in user",
    responses((status = 200, description = "The user", body = UserView, headers(("ETag" = String, description = "The user's version")))))]
pub async fn me(State(state): State<EdgeState>, caller: Caller) -> AppResult<Resource<UserView>> {
    let user = state.account.me(&caller.ctx).await?;
    Ok(Resource::user(&user))
}

/// Renames the signed-in user.
#[utoipa::path(patch, path = "/v1/me", tag = "account", operation_id = "changeDisplayName",
    summary = "Rename the signed-in user",
    request_body = ChangeDisplayNameBody,
    responses(
        (status = 200, description = "The renamed user", body = UserView, headers(("ETag" = String, description = "The user's version"))),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The user may not change it now", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_display_name(
    State(state): State<EdgeState>,
    caller: Caller,
    ApiJson(body): ApiJson<ChangeDisplayNameBody>,
) -> AppResult<Resource<UserView>> {
    let user = state
        .account
        .change_display_name(&caller.ctx, body.display_name)
        .await?;
    Ok(Resource::user(&user))
}

/// Erases the signed-in user: 204.
#[utoipa::path(delete, path = "/v1/me", tag = "account", operation_id = "eraseMe",
    summary = "Erase the signed-in user (their personal data goes for good)",
    responses(
        (status = 204, description = "Erased"),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The user still owns a workspace with other members, or is already erased", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn erase(State(state): State<EdgeState>, caller: Caller) -> AppResult<StatusCode> {
    state.account.erase(&caller.ctx).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Changes the password: 204.
#[utoipa::path(post, path = "/v1/me/password", tag = "account", operation_id = "changePassword",
    summary = "Change the password (other sessions are closed)",
    request_body = ChangePasswordBody,
    responses(
        (status = 204, description = "Changed"),
        (status = 403, description = "The old password is wrong (WRONG_PASSWORD)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The user may not change it now", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_password(
    State(state): State<EdgeState>,
    caller: Caller,
    ApiJson(body): ApiJson<ChangePasswordBody>,
) -> AppResult<StatusCode> {
    state
        .account
        .change_password(&caller.ctx, body.old_password, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails a verification token: 202.
#[utoipa::path(post, path = "/v1/me/email-verification", tag = "account", operation_id = "startEmailVerification",
    summary = "Mail a verification token to the user's address",
    responses(
        (status = 202, description = "Mailed"),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The address is already verified", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_email_verification(
    State(state): State<EdgeState>,
    caller: Caller,
) -> AppResult<StatusCode> {
    state.account.start_email_verification(&caller.ctx).await?;
    Ok(StatusCode::ACCEPTED)
}

/// Confirms an email with its token: 204.
#[utoipa::path(post, path = "/v1/email-verification/confirm", tag = "account", operation_id = "confirmEmailVerification",
    summary = "Confirm an email address with its mailed token",
    request_body = TokenBody,
    responses(
        (status = 204, description = "Verified"),
        (status = 404, description = "The token is unknown", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The token is expired or used", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn confirm_email_verification(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<TokenBody>,
) -> AppResult<StatusCode> {
    state
        .account
        .confirm_email_verification(&ctx, body.token)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Mails a reset token if the email belongs to someone: 202 either way. A "not found" from
/// the use case is answered 202 too, so the answer never tells whether the email exists.
#[utoipa::path(post, path = "/v1/password-reset", tag = "account", operation_id = "requestPasswordReset",
    summary = "Mail a reset token if the address belongs to someone (202 either way)",
    request_body = PasswordResetBody,
    responses(
        (status = 202, description = "Mailed if the address is known"),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The user may not reset now", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn request_password_reset(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<PasswordResetBody>,
) -> AppResult<StatusCode> {
    match state.account.request_password_reset(&ctx, body.email).await {
        Ok(()) => Ok(StatusCode::ACCEPTED),
        Err(error) if error.is(RejectionKind::NotFound) => {
            tracing::debug!(code = %error.code, "password reset for an unknown account");
            Ok(StatusCode::ACCEPTED)
        }
        Err(error) => Err(error),
    }
}

/// Sets a new password with the mailed token: 204.
#[utoipa::path(post, path = "/v1/password-reset/confirm", tag = "account", operation_id = "completePasswordReset",
    summary = "Set a new password with the mailed token",
    request_body = CompletePasswordResetBody,
    responses(
        (status = 204, description = "Changed"),
        (status = 404, description = "The token is unknown", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The token is expired or used", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn complete_password_reset(
    State(state): State<EdgeState>,
    RequestCtx(ctx): RequestCtx,
    ApiJson(body): ApiJson<CompletePasswordResetBody>,
) -> AppResult<StatusCode> {
    state
        .account
        .complete_password_reset(&ctx, body.token, body.new_password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
