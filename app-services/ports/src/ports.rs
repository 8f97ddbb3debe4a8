//! The data services as the use cases see them: one method per RPC they call, taking a
//! [`Ctx`] (which the adapter turns into call metadata). `Subscriptions` speaks the
//! application's types ([`crate::types`]) and answers a typed error per method; the other
//! ports still take the wire request.

use async_trait::async_trait;

use crate::types::{
    Plan, StartTrialError, Subscription, SubscriptionChangeError, SubscriptionId,
    SubscriptionReadError, WorkspaceId,
};
use crate::wire::{identity, notifications, workspace};
use crate::{AppResult, Ctx};

/// The messages of a feed watch, in order, until the watch ends or fails.
pub type FeedWatch = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = AppResult<notifications::WatchFeedResponse>> + Send>,
>;

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

/// The Workspace data service (`saas.workspace.v1.WorkspaceService`); commands made for a
/// person need `ctx.actor`.
#[cfg_attr(any(test, feature = "testsuite"), mockall::automock)]
#[async_trait]
pub trait Workspaces: Send + Sync + 'static {
    async fn get_workspace(
        &self,
        ctx: &Ctx,
        request: workspace::GetWorkspaceRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn list_user_workspaces(
        &self,
        ctx: &Ctx,
        request: workspace::ListUserWorkspacesRequest,
    ) -> AppResult<workspace::ListUserWorkspacesResponse>;
    async fn create_workspace(
        &self,
        ctx: &Ctx,
        request: workspace::CreateWorkspaceRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn rename_workspace(
        &self,
        ctx: &Ctx,
        request: workspace::RenameWorkspaceRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn invite_member(
        &self,
        ctx: &Ctx,
        request: workspace::InviteMemberRequest,
    ) -> AppResult<workspace::InviteMemberResponse>;
    async fn accept_invitation(
        &self,
        ctx: &Ctx,
        request: workspace::AcceptInvitationRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn revoke_invitation(
        &self,
        ctx: &Ctx,
        request: workspace::RevokeInvitationRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn change_member_role(
        &self,
        ctx: &Ctx,
        request: workspace::ChangeMemberRoleRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn remove_member(
        &self,
        ctx: &Ctx,
        request: workspace::RemoveMemberRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn leave_workspace(
        &self,
        ctx: &Ctx,
        request: workspace::LeaveWorkspaceRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn set_seat_limit(
        &self,
        ctx: &Ctx,
        request: workspace::SetSeatLimitRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn remove_erased_user(
        &self,
        ctx: &Ctx,
        request: workspace::RemoveErasedUserRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn archive_workspace(
        &self,
        ctx: &Ctx,
        request: workspace::ArchiveWorkspaceRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn unarchive_workspace(
        &self,
        ctx: &Ctx,
        request: workspace::UnarchiveWorkspaceRequest,
    ) -> AppResult<workspace::Workspace>;
    async fn delete_workspace(
        &self,
        ctx: &Ctx,
        request: workspace::DeleteWorkspaceRequest,
    ) -> AppResult<()>;
}

/// The Billing data service (`saas.billing.v1.SubscriptionService`).
///
/// Commands take the use case's `step` name: the adapter sends [`Ctx::step`] of it as the
/// command's request id, so a retried use case replays the step instead of repeating it.
/// Billing decides on the subscription as it finds it (no etag is sent).
#[cfg_attr(any(test, feature = "testsuite"), mockall::automock)]
#[async_trait]
pub trait Subscriptions: Send + Sync + 'static {
    /// The subscription with this id.
    async fn get_subscription(
        &self,
        ctx: &Ctx,
        id: SubscriptionId,
    ) -> Result<Subscription, SubscriptionReadError>;
    /// The workspace's subscription.
    async fn lookup_subscription(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
    ) -> Result<Subscription, SubscriptionReadError>;
    /// Starts the sign-up trial of a workspace: Team, 5 seats, 14 days.
    async fn start_trial(
        &self,
        ctx: &Ctx,
        step: &str,
        workspace_id: WorkspaceId,
    ) -> Result<Subscription, StartTrialError>;
    /// Moves to `plan`; Billing checks that it holds `seats_in_use`.
    async fn change_plan(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
        plan: Plan,
        seats_in_use: i32,
    ) -> Result<Subscription, SubscriptionChangeError>;
    /// Changes the seats, never below `seats_in_use`.
    async fn change_seats(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
        seats: i32,
        seats_in_use: i32,
    ) -> Result<Subscription, SubscriptionChangeError>;
    /// Cancels now, or at the period end.
    async fn cancel_subscription(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
        at_period_end: bool,
    ) -> Result<Subscription, SubscriptionChangeError>;
    /// Undoes a cancel at period end.
    async fn resume_subscription(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
    ) -> Result<Subscription, SubscriptionChangeError>;
}

/// The Notifications data service (`saas.notifications.v1.FeedService`): each user's feed,
/// whose id is the user's id.
#[cfg_attr(any(test, feature = "testsuite"), mockall::automock)]
#[async_trait]
pub trait Feeds: Send + Sync + 'static {
    async fn get_feed(
        &self,
        ctx: &Ctx,
        request: notifications::GetFeedRequest,
    ) -> AppResult<notifications::Feed>;
    async fn append_feed_entry(
        &self,
        ctx: &Ctx,
        request: notifications::AppendFeedEntryRequest,
    ) -> AppResult<notifications::FeedEntry>;
    async fn mark_feed_read(
        &self,
        ctx: &Ctx,
        request: notifications::MarkFeedReadRequest,
    ) -> AppResult<notifications::Feed>;
    async fn list_feed_entries(
        &self,
        ctx: &Ctx,
        request: notifications::ListFeedEntriesRequest,
    ) -> AppResult<notifications::ListFeedEntriesResponse>;
    /// Replays the entries after `after_sequence`, then follows new ones; the stream has no
    /// deadline and ends when dropped.
    async fn watch_feed(
        &self,
        ctx: &Ctx,
        request: notifications::WatchFeedRequest,
    ) -> AppResult<FeedWatch>;
}
