//! Workspaces as the use cases see them: the [`Workspaces`] port.

use async_trait::async_trait;

use crate::wire::workspace;
use crate::{AppResult, Ctx};

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
