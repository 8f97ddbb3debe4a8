//! [`Workspaces`] over `saas.workspace.v1.WorkspaceService`.

use async_trait::async_trait;
use ports_app::wire::workspace;
use ports_app::{AppResult, Ctx, Workspaces};

use super::{GrpcWorkspaces, call, status_to_error};

adapter!(GrpcWorkspaces: Workspaces {
    get_workspace(workspace::GetWorkspaceRequest) -> workspace::Workspace;
    list_user_workspaces(workspace::ListUserWorkspacesRequest)
        -> workspace::ListUserWorkspacesResponse;
    create_workspace(workspace::CreateWorkspaceRequest) -> workspace::Workspace;
    rename_workspace(workspace::RenameWorkspaceRequest) -> workspace::Workspace;
    invite_member(workspace::InviteMemberRequest) -> workspace::InviteMemberResponse;
    accept_invitation(workspace::AcceptInvitationRequest) -> workspace::Workspace;
    revoke_invitation(workspace::RevokeInvitationRequest) -> workspace::Workspace;
    change_member_role(workspace::ChangeMemberRoleRequest) -> workspace::Workspace;
    remove_member(workspace::RemoveMemberRequest) -> workspace::Workspace;
    leave_workspace(workspace::LeaveWorkspaceRequest) -> workspace::Workspace;
    set_seat_limit(workspace::SetSeatLimitRequest) -> workspace::Workspace;
    remove_erased_user(workspace::RemoveErasedUserRequest) -> workspace::Workspace;
    archive_workspace(workspace::ArchiveWorkspaceRequest) -> workspace::Workspace;
    unarchive_workspace(workspace::UnarchiveWorkspaceRequest) -> workspace::Workspace;
    delete_workspace(workspace::DeleteWorkspaceRequest) -> ();
});
