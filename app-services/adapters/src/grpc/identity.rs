//! [`Users`] over `saas.identity.v1.UserService`.

use async_trait::async_trait;
use ports_app::wire::identity;
use ports_app::{AppResult, Ctx, Users};

use super::{GrpcUsers, call, status_to_error};

adapter!(GrpcUsers: Users {
    get_user(identity::GetUserRequest) -> identity::User;
    batch_get_users(identity::BatchGetUsersRequest) -> identity::BatchGetUsersResponse;
    lookup_user(identity::LookupUserRequest) -> identity::User;
    register_user(identity::RegisterUserRequest) -> identity::User;
    change_display_name(identity::ChangeDisplayNameRequest) -> identity::User;
    change_password(identity::ChangePasswordRequest) -> identity::User;
    verify_credentials(identity::VerifyCredentialsRequest) -> identity::User;
    open_session(identity::OpenSessionRequest) -> identity::OpenSessionResponse;
    refresh_session(identity::RefreshSessionRequest) -> identity::RefreshSessionResponse;
    close_session(identity::CloseSessionRequest) -> identity::User;
    start_email_verification(identity::StartEmailVerificationRequest) -> identity::User;
    confirm_email_verification(identity::ConfirmEmailVerificationRequest) -> identity::User;
    start_password_reset(identity::StartPasswordResetRequest) -> identity::User;
    complete_password_reset(identity::CompletePasswordResetRequest) -> identity::User;
    erase_user(identity::EraseUserRequest) -> identity::User;
});
