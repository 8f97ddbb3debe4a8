//! [`Workspaces`] over `saas.workspace.v1.WorkspaceService`: the application's
//! [`Workspace`] to and from the wire, and each failure sorted into the method's error.

use async_trait::async_trait;
use kernel_domain::Version;
use ports_app::{
    Acceptance, AppError, AppResult, Ctx, Invitation, InvitationId, InvitationState, Member,
    NewInvitation, NewWorkspace, Role, SeatLimitError, SubscriptionStanding, UserId, Workspace,
    WorkspaceChangeError, WorkspaceId, WorkspacePage, WorkspaceReadError, Workspaces,
};
use saas_proto::workspace::v1 as wire;

use super::{GrpcWorkspaces, status_to_error, time_from_wire};

/// A role as the published language names it.
pub fn role_to_wire(role: Role) -> wire::Role {
    match role {
        Role::Owner => wire::Role::Owner,
        Role::Admin => wire::Role::Admin,
        Role::Member => wire::Role::Member,
    }
}

/// A role of the published language; `None` for an unspecified one.
pub fn role_from_wire(role: wire::Role) -> Option<Role> {
    match role {
        wire::Role::Owner => Some(Role::Owner),
        wire::Role::Admin => Some(Role::Admin),
        wire::Role::Member => Some(Role::Member),
        wire::Role::Unspecified => None,
    }
}

fn state_from_wire(state: wire::InvitationState) -> Option<InvitationState> {
    match state {
        wire::InvitationState::Pending => Some(InvitationState::Pending),
        wire::InvitationState::Accepted => Some(InvitationState::Accepted),
        wire::InvitationState::Revoked => Some(InvitationState::Revoked),
        wire::InvitationState::Expired => Some(InvitationState::Expired),
        wire::InvitationState::Unspecified => None,
    }
}

/// What Workspace could not have sent, as an internal fault.
fn malformed(what: &str) -> AppError {
    AppError::internal(format_args!("Workspace answered a workspace with {what}"))
}

fn id_from_wire(what: &str, id: &str) -> AppResult<kernel_domain::Uuid> {
    kernel_domain::Uuid::try_parse(id).map_err(|_| malformed(what))
}

/// Workspace's invitation as the application's.
pub fn invitation_from_wire(wire: wire::Invitation) -> AppResult<Invitation> {
    Ok(Invitation {
        id: InvitationId::from_uuid(id_from_wire("a malformed invitation id", &wire.id)?),
        role: role_from_wire(wire.role()).ok_or_else(|| malformed("an invitation without role"))?,
        state: state_from_wire(wire.state())
            .ok_or_else(|| malformed("an invitation without state"))?,
        inviter_id: UserId::from_uuid(id_from_wire("a malformed inviter id", &wire.inviter_id)?),
        expire_time: time_from_wire(wire.expire_time.as_ref())
            .ok_or_else(|| malformed("an invitation without expire time"))?,
        email: wire.email,
    })
}

/// Workspace's workspace as the application's. A message Workspace could not have sent (an
/// id that is not a UUID, an unspecified enum, an etag it never issues, no time) is an
/// internal fault.
pub fn workspace_from_wire(wire: wire::Workspace) -> AppResult<Workspace> {
    let members = wire
        .members
        .into_iter()
        .map(|member| {
            Ok(Member {
                user_id: UserId::from_uuid(id_from_wire("a malformed member id", &member.user_id)?),
                role: role_from_wire(member.role())
                    .ok_or_else(|| malformed("a member without role"))?,
                join_time: time_from_wire(member.join_time.as_ref())
                    .ok_or_else(|| malformed("a member without join time"))?,
            })
        })
        .collect::<AppResult<Vec<_>>>()?;
    let invitations = wire
        .invitations
        .into_iter()
        .map(invitation_from_wire)
        .collect::<AppResult<Vec<_>>>()?;
    Ok(Workspace {
        id: WorkspaceId::from_uuid(id_from_wire("a malformed id", &wire.id)?),
        slug: wire.slug,
        name: wire.name,
        members,
        invitations,
        seat_limit: wire.seat_limit,
        seats_in_use: wire.seats_in_use,
        archived: wire.archived,
        version: Version::parse_etag(&wire.etag).map_err(|_| malformed("a malformed etag"))?,
        create_time: time_from_wire(wire.create_time.as_ref())
            .ok_or_else(|| malformed("no create time"))?,
        update_time: time_from_wire(wire.update_time.as_ref())
            .ok_or_else(|| malformed("no update time"))?,
    })
}

/// One unary call of [`GrpcWorkspaces`] answering a workspace: the application's
/// [`Workspace`], its failure classified into the method's error.
macro_rules! workspace_call {
    ($self:ident, $ctx:ident, read $method:ident($request:expr)) => {
        workspace_call!(@kind $self, $ctx, Read, $method($request))
    };
    ($self:ident, $ctx:ident, unrepeatable $method:ident($request:expr)) => {
        workspace_call!(@kind $self, $ctx, Unrepeatable, $method($request))
    };
    ($self:ident, $ctx:ident, $method:ident($request:expr)) => {
        workspace_call!(@kind $self, $ctx, Command, $method($request))
    };
    (@kind $self:ident, $ctx:ident, $kind:ident, $method:ident($request:expr)) => {{
        match send!($self, $ctx, $kind, $method($request)) {
            Ok(response) => workspace_from_wire(response.into_inner()).map_err(Into::into),
            Err(status) => Err(status_to_error(status).into()),
        }
    }};
}

#[async_trait]
impl Workspaces for GrpcWorkspaces {
    async fn get_workspace(
        &self,
        ctx: &Ctx,
        id: WorkspaceId,
    ) -> Result<Workspace, WorkspaceReadError> {
        // The full view: the edge's invitation routes and accepting read the invitations.
        let request = wire::GetWorkspaceRequest {
            id: id.to_string(),
            view: wire::WorkspaceView::Full.into(),
        };
        workspace_call!(self, ctx, read get_workspace(request))
    }

    async fn list_user_workspaces(
        &self,
        ctx: &Ctx,
        user: UserId,
        page_size: i32,
        page_token: String,
    ) -> AppResult<WorkspacePage> {
        let request = wire::ListUserWorkspacesRequest {
            user_id: user.to_string(),
            page_size,
            page_token,
        };
        let page = send!(self, ctx, Read, list_user_workspaces(request))
            .map_err(status_to_error)?
            .into_inner();
        Ok(WorkspacePage {
            workspaces: page
                .workspaces
                .into_iter()
                .map(workspace_from_wire)
                .collect::<AppResult<_>>()?,
            next_page_token: page.next_page_token,
        })
    }

    async fn create_workspace(
        &self,
        ctx: &Ctx,
        step: &str,
        workspace: NewWorkspace,
    ) -> Result<Workspace, WorkspaceChangeError> {
        let request = wire::CreateWorkspaceRequest {
            request_id: ctx.step(step),
            slug: workspace.slug,
            name: workspace.name,
            seat_limit: workspace.seat_limit,
        };
        workspace_call!(self, ctx, create_workspace(request))
    }

    async fn rename_workspace(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        name: String,
    ) -> Result<Workspace, WorkspaceChangeError> {
        let request = wire::RenameWorkspaceRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            name,
        };
        workspace_call!(self, ctx, rename_workspace(request))
    }

    async fn invite_member(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        invitation: NewInvitation,
    ) -> Result<(Workspace, Invitation), WorkspaceChangeError> {
        let request = wire::InviteMemberRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            email: invitation.email,
            role: role_to_wire(invitation.role).into(),
            token: invitation.token,
            invitee_user_id: invitation
                .invitee
                .map(|user| user.to_string())
                .unwrap_or_default(),
        };
        let made = send!(self, ctx, Command, invite_member(request))
            .map_err(status_to_error)?
            .into_inner();
        let (Some(workspace), Some(invitation)) = (made.workspace, made.invitation) else {
            return Err(malformed("an invite answer without workspace or invitation").into());
        };
        Ok((
            workspace_from_wire(workspace)?,
            invitation_from_wire(invitation)?,
        ))
    }

    async fn accept_invitation(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        acceptance: Acceptance,
    ) -> Result<Workspace, WorkspaceChangeError> {
        let request = wire::AcceptInvitationRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            invitation_id: acceptance.invitation_id.to_string(),
            token: acceptance.token,
            user_email: acceptance.user_email,
        };
        workspace_call!(self, ctx, accept_invitation(request))
    }

    async fn revoke_invitation(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        invitation: InvitationId,
    ) -> Result<Workspace, WorkspaceChangeError> {
        let request = wire::RevokeInvitationRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            invitation_id: invitation.to_string(),
        };
        workspace_call!(self, ctx, revoke_invitation(request))
    }

    async fn change_member_role(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        user: UserId,
        role: Role,
    ) -> Result<Workspace, WorkspaceChangeError> {
        let request = wire::ChangeMemberRoleRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            user_id: user.to_string(),
            role: role_to_wire(role).into(),
        };
        workspace_call!(self, ctx, change_member_role(request))
    }

    async fn remove_member(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        user: UserId,
    ) -> Result<Workspace, WorkspaceChangeError> {
        let request = wire::RemoveMemberRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            user_id: user.to_string(),
        };
        workspace_call!(self, ctx, remove_member(request))
    }

    async fn leave_workspace(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
    ) -> Result<Workspace, WorkspaceChangeError> {
        let request = wire::LeaveWorkspaceRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
        };
        workspace_call!(self, ctx, leave_workspace(request))
    }

    async fn set_seat_limit(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        seat_limit: i32,
    ) -> Result<Workspace, SeatLimitError> {
        let request = wire::SetSeatLimitRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            seat_limit,
        };
        workspace_call!(self, ctx, set_seat_limit(request))
    }

    async fn follow_subscription(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        standing: SubscriptionStanding,
        subscription_version: Version,
    ) -> Result<Workspace, WorkspaceChangeError> {
        let standing = match standing {
            SubscriptionStanding::Good => wire::SubscriptionStanding::Good,
            SubscriptionStanding::Lapsed => wire::SubscriptionStanding::Lapsed,
        };
        let request = wire::FollowSubscriptionRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            standing: standing as i32,
            subscription_version: i64::try_from(subscription_version.get()).unwrap_or(i64::MAX),
        };
        workspace_call!(self, ctx, follow_subscription(request))
    }

    async fn remove_erased_user(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        user: UserId,
    ) -> Result<Workspace, WorkspaceChangeError> {
        let request = wire::RemoveErasedUserRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            user_id: user.to_string(),
        };
        workspace_call!(self, ctx, remove_erased_user(request))
    }

    async fn delete_workspace(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
    ) -> Result<(), WorkspaceChangeError> {
        let request = wire::DeleteWorkspaceRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
        };
        send!(self, ctx, Command, delete_workspace(request))
            .map(|_| ())
            .map_err(|status| status_to_error(status).into())
    }
}

#[cfg(test)]
mod tests {
    use prost_types::Timestamp as WireTime;

    use super::*;

    fn at(seconds: i64) -> Option<WireTime> {
        Some(WireTime { seconds, nanos: 0 })
    }

    fn a_wire_workspace() -> wire::Workspace {
        wire::Workspace {
            id: "0190a0f0-0000-7000-8000-000000000001".to_owned(),
            slug: "acme".to_owned(),
            name: "Acme".to_owned(),
            members: vec![wire::Member {
                user_id: "0190a0f0-0000-7000-8000-000000000002".to_owned(),
                role: wire::Role::Owner.into(),
                join_time: at(1_767_225_600),
            }],
            invitations: vec![wire::Invitation {
                id: "0190a0f0-0000-7000-8000-000000000003".to_owned(),
                email: "ann@example.com".to_owned(),
                role: wire::Role::Admin.into(),
                inviter_id: "0190a0f0-0000-7000-8000-000000000002".to_owned(),
                expire_time: at(1_767_830_400),
                state: wire::InvitationState::Pending.into(),
            }],
            seat_limit: 5,
            seats_in_use: 2,
            archived: false,
            etag: "W/\"v3\"".to_owned(),
            create_time: at(1_767_225_600),
            update_time: at(1_767_225_700),
            subscription_standing: wire::SubscriptionStanding::Good.into(),
        }
    }

    #[test]
    fn a_wire_workspace_becomes_the_applications_field_by_field() {
        let workspace = workspace_from_wire(a_wire_workspace()).expect("a valid workspace");
        assert_eq!(
            workspace.id.to_string(),
            "0190a0f0-0000-7000-8000-000000000001"
        );
        assert_eq!(
            (workspace.slug.as_str(), workspace.name.as_str()),
            ("acme", "Acme")
        );
        assert_eq!(workspace.members.len(), 1);
        assert_eq!(workspace.members[0].role, Role::Owner);
        let owner = workspace.members[0].user_id;
        assert!(workspace.member(owner).is_some());
        let invitation = &workspace.invitations[0];
        assert_eq!(invitation.role, Role::Admin);
        assert_eq!(invitation.state, InvitationState::Pending);
        assert_eq!(invitation.inviter_id, owner);
        assert_eq!(invitation.expire_time.timestamp(), 1_767_830_400);
        assert_eq!((workspace.seat_limit, workspace.seats_in_use), (5, 2));
        assert_eq!(workspace.version.get(), 3);
        assert_eq!(workspace.update_time.timestamp(), 1_767_225_700);
    }

    #[test]
    fn every_role_survives_the_round_trip_and_unspecified_is_none() {
        for role in [Role::Member, Role::Admin, Role::Owner] {
            assert_eq!(role_from_wire(role_to_wire(role)), Some(role));
        }
        assert_eq!(role_from_wire(wire::Role::Unspecified), None);
    }

    #[test]
    fn a_workspace_workspace_could_not_have_sent_is_internal() {
        let breakages: [fn(&mut wire::Workspace); 6] = [
            |w| w.id = "not-a-uuid".to_owned(),
            |w| w.etag = "3".to_owned(),
            |w| w.create_time = None,
            |w| w.members[0].role = wire::Role::Unspecified.into(),
            |w| w.members[0].user_id = String::new(),
            |w| w.invitations[0].state = wire::InvitationState::Unspecified.into(),
        ];
        for breakage in breakages {
            let mut broken = a_wire_workspace();
            breakage(&mut broken);
            let error = workspace_from_wire(broken).expect_err("a malformed workspace");
            assert_eq!(error.kind, ports_app::ErrorKind::Internal);
        }
    }
}
