//! `WorkspaceService`: every RPC parses its request (and, for a member's command, the acting
//! user) into a typed command, runs it through the store and renders the workspace (see
//! `platform::endpoint`).

use kernel_domain::Rejection;
use platform::{
    endpoint::Endpoint,
    rpc::{PageRequest, parse_email, parse_id, parse_token},
};
use saas_proto::workspace::v1::{self as pb, workspace_service_server::WorkspaceService};
use tonic::{Request, Response, Status};
use workspace_domain::{
    InvitationId, Slug, UserId, Workspace, WorkspaceError, WorkspaceId, WorkspaceName,
};

use crate::{WorkspaceSchema, WorkspaceStore, wire};

/// The `WorkspaceService` implementation.
#[derive(Clone)]
pub struct WorkspaceApi {
    api: Endpoint<WorkspaceSchema, pb::Workspace>,
}

impl WorkspaceApi {
    /// A service over a store.
    pub fn new(store: WorkspaceStore) -> Self {
        WorkspaceApi {
            api: Endpoint::new(store, |stored, _| wire::workspace(stored)),
        }
    }
}

fn slug(raw: &str) -> Result<Slug, Rejection> {
    Slug::parse(raw).map_err(Rejection::from)
}

fn name(raw: &str) -> Result<WorkspaceName, Rejection> {
    WorkspaceName::parse(raw).map_err(Rejection::from)
}

fn user_id(field: &str, raw: &str) -> Result<UserId, Rejection> {
    parse_id(field, raw).map(UserId::from_uuid)
}

fn invitation_id(raw: &str) -> Result<InvitationId, Rejection> {
    parse_id("invitation_id", raw).map(InvitationId::from_uuid)
}

/// A seat limit from the wire: at least 1 (`INVALID_SEAT_LIMIT` on `seat_limit`).
fn seat_limit(raw: i32) -> Result<u32, Rejection> {
    u32::try_from(raw)
        .ok()
        .filter(|limit| *limit >= 1)
        .ok_or_else(|| WorkspaceError::InvalidSeatLimit.into())
}

#[tonic::async_trait]
impl WorkspaceService for WorkspaceApi {
    async fn get_workspace(
        &self,
        request: Request<pb::GetWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        self.api.get(parse_id("id", &request.get_ref().id)).await
    }

    async fn lookup_workspace(
        &self,
        request: Request<pb::LookupWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let slug = slug(&request.get_ref().slug).map(|slug| slug.as_str().to_owned());
        self.api.find("slug", slug).await
    }

    async fn list_user_workspaces(
        &self,
        request: Request<pb::ListUserWorkspacesRequest>,
    ) -> Result<Response<pb::ListUserWorkspacesResponse>, Status> {
        let r = request.get_ref();
        let (user, page) = self.api.check(|fields| {
            let user = fields.check(user_id("user_id", &r.user_id));
            let page = fields.check(PageRequest::parse(r.page_size, &r.page_token));
            Some((user?, page?))
        })?;
        let page = self
            .api
            .store()
            .list_by_set_index(&user.to_string(), page)
            .await
            .map_err(|e| self.api.status(e))?;
        Ok(Response::new(pb::ListUserWorkspacesResponse {
            workspaces: page.items.iter().map(wire::workspace).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn create_workspace(
        &self,
        request: Request<pb::CreateWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self.api.parse_as_actor(request, |r, fields| {
            let (slug, name, limit) = (
                fields.check(slug(&r.slug)),
                fields.check(name(&r.name)),
                fields.check(seat_limit(r.seat_limit)),
            );
            Some((slug?, name?, limit?))
        })?;
        let id = WorkspaceId::from_uuid(platform::new_id());
        self.api
            .create(call, |(actor, (slug, name, limit)), now| {
                Workspace::create(id, slug.clone(), name.clone(), *actor, *limit, now)
            })
            .await
    }

    async fn rename_workspace(
        &self,
        request: Request<pb::RenameWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self
            .api
            .parse_as_actor(request, |r, fields| fields.check(name(&r.name)))?;
        self.api
            .update(call, |w, (actor, name), now| {
                w.rename(*actor, name.clone(), now)
            })
            .await
    }

    async fn invite_member(
        &self,
        request: Request<pb::InviteMemberRequest>,
    ) -> Result<Response<pb::InviteMemberResponse>, Status> {
        let call = self.api.parse_as_actor(request, |r, fields| {
            let email = fields.check(parse_email("email", &r.email));
            let role = fields.check(wire::parse_role("role", r.role));
            let token = fields.check(parse_token("token", &r.token));
            let invitee = fields.check(match r.invitee_user_id.as_str() {
                "" => Ok(None),
                raw => user_id("invitee_user_id", raw).map(Some),
            });
            Some((email?, role?, token?, invitee?))
        })?;
        let call = call.fingerprint(|r, (_, (_, _, token, _))| pb::InviteMemberRequest {
            token: token.to_hex(),
            ..r
        });
        let invitation_id = InvitationId::from_uuid(platform::new_id());
        self.api
            .update_with(
                call,
                |w, (actor, (email, role, token, invitee)), now| {
                    let (email, token) = (email.clone(), token.clone());
                    w.invite(*actor, invitation_id, email, *invitee, *role, token, now)
                },
                |stored, _| pb::InviteMemberResponse {
                    workspace: Some(wire::workspace(stored)),
                    invitation: stored
                        .aggregate
                        .invitation(invitation_id)
                        .map(wire::invitation),
                },
            )
            .await
    }

    async fn accept_invitation(
        &self,
        request: Request<pb::AcceptInvitationRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self.api.parse_as_actor(request, |r, fields| {
            let invitation = fields.check(invitation_id(&r.invitation_id));
            let token = fields.check(parse_token("token", &r.token));
            let email = fields.check(parse_email("user_email", &r.user_email));
            Some((invitation?, token?, email?))
        })?;
        let call = call.fingerprint(|r, (_, (_, token, _))| pb::AcceptInvitationRequest {
            token: token.to_hex(),
            ..r
        });
        self.api
            .update(call, |w, (actor, (invitation, token, email)), now| {
                w.accept_invitation(*invitation, *actor, email, token, now)
            })
            .await
    }

    async fn revoke_invitation(
        &self,
        request: Request<pb::RevokeInvitationRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self.api.parse_as_actor(request, |r, fields| {
            fields.check(invitation_id(&r.invitation_id))
        })?;
        self.api
            .update(call, |w, (actor, invitation), now| {
                w.revoke_invitation(*actor, *invitation, now)
            })
            .await
    }

    async fn expire_invitations(
        &self,
        request: Request<pb::ExpireInvitationsRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self.api.parse(request, |_, _| Some(()))?;
        self.api
            .update(call, |w, _, now| {
                Ok::<_, Rejection>(w.expire_invitations(now))
            })
            .await
    }

    async fn change_member_role(
        &self,
        request: Request<pb::ChangeMemberRoleRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self.api.parse_as_actor(request, |r, fields| {
            let member = fields.check(user_id("user_id", &r.user_id));
            let role = fields.check(wire::parse_role("role", r.role));
            Some((member?, role?))
        })?;
        self.api
            .update(call, |w, (actor, (member, role)), now| {
                w.change_role(*actor, *member, *role, now)
            })
            .await
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self.api.parse_as_actor(request, |r, fields| {
            fields.check(user_id("user_id", &r.user_id))
        })?;
        self.api
            .update(call, |w, (actor, member), now| {
                w.remove_member(*actor, *member, now)
            })
            .await
    }

    async fn leave_workspace(
        &self,
        request: Request<pb::LeaveWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self.api.parse_as_actor(request, |_, _| Some(()))?;
        self.api
            .update(call, |w, (actor, ()), now| w.leave(*actor, now))
            .await
    }

    async fn set_seat_limit(
        &self,
        request: Request<pb::SetSeatLimitRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self
            .api
            .parse(request, |r, fields| fields.check(seat_limit(r.seat_limit)))?;
        self.api
            .update(call, |w, limit, now| w.set_seat_limit(*limit, now))
            .await
    }

    async fn remove_erased_user(
        &self,
        request: Request<pb::RemoveErasedUserRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self.api.parse(request, |r, fields| {
            fields.check(user_id("user_id", &r.user_id))
        })?;
        self.api
            .update(call, |w, user, now| {
                Ok::<_, Rejection>(w.remove_erased_user(*user, now))
            })
            .await
    }

    async fn archive_workspace(
        &self,
        request: Request<pb::ArchiveWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self.api.parse_as_actor(request, |_, _| Some(()))?;
        self.api
            .update(call, |w, (actor, ()), now| w.archive(*actor, now))
            .await
    }

    async fn unarchive_workspace(
        &self,
        request: Request<pb::UnarchiveWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let call = self.api.parse_as_actor(request, |_, _| Some(()))?;
        self.api
            .update(call, |w, (actor, ()), now| w.unarchive(*actor, now))
            .await
    }

    async fn delete_workspace(
        &self,
        request: Request<pb::DeleteWorkspaceRequest>,
    ) -> Result<Response<()>, Status> {
        let call = self.api.parse_as_actor(request, |_, _| Some(()))?;
        self.api
            .delete(call, |w, (actor, ()), now| w.delete(*actor, now))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seat_limits_below_one_are_refused_on_their_field() {
        for raw in [0, -1, i32::MIN] {
            let rejection = seat_limit(raw).unwrap_err();
            assert_eq!(rejection.reason, "INVALID_SEAT_LIMIT");
            assert_eq!(rejection.field_violations[0].field, "seat_limit");
        }
        assert_eq!(seat_limit(1), Ok(1));
    }
}
