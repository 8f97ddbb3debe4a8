//! Identity as the use cases see it: the [`Users`] port.

use async_trait::async_trait;

use crate::wire::identity;
use crate::{AppResult, Ctx};

/// The Identity data service (`saas.identity.v1.UserService`).
#[cfg_attr(any(test, feature = "testsuite"), mockall::automock)]
#[async_trait]
pub trait Users: Send + Sync + 'static {
    async fn get_user(
        &self,
        ctx: &Ctx,
        request: identity::GetUserRequest,
    ) -> AppResult<identity::User>;
    async fn batch_get_users(
        &self,
        ctx: &Ctx,
        request: identity::BatchGetUsersRequest,
    ) -> AppResult<identity::BatchGetUsersResponse>;
    async fn lookup_user(
        &self,
        ctx: &Ctx,
        request: identity::LookupUserRequest,
    ) -> AppResult<identity::User>;
    async fn register_user(
        &self,
        ctx: &Ctx,
        request: identity::RegisterUserRequest,
    ) -> AppResult<identity::User>;
    async fn change_display_name(
        &self,
        ctx: &Ctx,
        request: identity::ChangeDisplayNameRequest,
    ) -> AppResult<identity::User>;
    async fn change_password(
        &self,
        ctx: &Ctx,
        request: identity::ChangePasswordRequest,
    ) -> AppResult<identity::User>;
    async fn verify_credentials(
        &self,
        ctx: &Ctx,
        request: identity::VerifyCredentialsRequest,
    ) -> AppResult<identity::User>;
    async fn open_session(
        &self,
        ctx: &Ctx,
        request: identity::OpenSessionRequest,
    ) -> AppResult<identity::OpenSessionResponse>;
    async fn refresh_session(
        &self,
        ctx: &Ctx,
        request: identity::RefreshSessionRequest,
    ) -> AppResult<identity::RefreshSessionResponse>;
    async fn close_session(
        &self,
        ctx: &Ctx,
        request: identity::CloseSessionRequest,
    ) -> AppResult<identity::User>;
    async fn start_email_verification(
        &self,
        ctx: &Ctx,
        request: identity::StartEmailVerificationRequest,
    ) -> AppResult<identity::User>;
    async fn confirm_email_verification(
        &self,
        ctx: &Ctx,
        request: identity::ConfirmEmailVerificationRequest,
    ) -> AppResult<identity::User>;
    async fn start_password_reset(
        &self,
        ctx: &Ctx,
        request: identity::StartPasswordResetRequest,
    ) -> AppResult<identity::User>;
    async fn complete_password_reset(
        &self,
        ctx: &Ctx,
        request: identity::CompletePasswordResetRequest,
    ) -> AppResult<identity::User>;
    async fn erase_user(
        &self,
        ctx: &Ctx,
        request: identity::EraseUserRequest,
    ) -> AppResult<identity::User>;
}
