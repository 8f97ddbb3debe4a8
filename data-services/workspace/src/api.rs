//! `WorkspaceService`: every RPC parses its request (and, for a member's command, the acting
//! user) into a typed command, runs it through the store and renders the workspace (see
//! `platform::endpoint`).

use kernel_domain::Rejection;
use platform::{
    endpoint::Endpoint,
    rpc::{FieldCheck, PageRequest, parse_email, parse_id, parse_token},
};
use saas_proto::workspace::v1::{self as pb, workspace_service_server::WorkspaceService};
use tonic::Response;
use workspace_domain::{
    InvitationId, Slug, SubscriptionStanding, UserId, Workspace, WorkspaceError, WorkspaceId,
    WorkspaceName,
};

use crate::{
    WorkspaceSchema, WorkspaceStore,
    wire::{self, View},
};

/// The `WorkspaceService` implementation.
#[derive(Clone)]
pub struct WorkspaceApi {
    api: Endpoint<WorkspaceSchema, pb::Workspace>,
}

impl WorkspaceApi {
    /// A service over a store.
    pub fn new(store: WorkspaceStore) -> Self {
        WorkspaceApi {
            api: Endpoint::new(store, |stored, _| wire::workspace(stored, View::Basic)),
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

/// A subscription version from the wire: at least 1 (`INVALID_SUBSCRIPTION_VERSION` on
/// `subscription_version`).
fn subscription_version(raw: i64) -> Result<u64, Rejection> {
    u64::try_from(raw)
        .ok()
        .filter(|version| *version >= 1)
        .ok_or_else(|| {
            Rejection::invalid_field(
                "INVALID_SUBSCRIPTION_VERSION",
                "subscription_version",
                "subscription_version must be at least 1",
            )
        })
}

platform::grpc_service! {
    impl WorkspaceService for WorkspaceApi {
        rpc get_workspace(this, request: pb::GetWorkspaceRequest) -> pb::Workspace {
            let r = request.get_ref();
            let (id, view) = this.api.check(|fields| {
                let id = fields.check(parse_id("id", &r.id));
                let view = fields.check(wire::parse_view("view", r.view));
                Some((id?, view?))
            })?;
            this.api
                .get_with(id, |stored, _| wire::workspace(stored, view))
                .await
        }

        rpc lookup_workspace(this, request: pb::LookupWorkspaceRequest) -> pb::Workspace {
            let r = request.get_ref();
            let (slug, view) = this.api.check(|fields| {
                let slug = fields.check(slug(&r.slug));
                let view = fields.check(wire::parse_view("view", r.view));
                Some((slug?, view?))
            })?;
            this.api
                .find_with("slug", slug.as_str(), |stored, _| {
                    wire::workspace(stored, view)
                })
                .await
        }

        rpc list_user_workspaces(this, request: pb::ListUserWorkspacesRequest)
            -> pb::ListUserWorkspacesResponse {
            let r = request.get_ref();
            let (user, page) = this.api.check(|fields| {
                let user = fields.check(user_id("user_id", &r.user_id));
                let page = fields.check(PageRequest::parse(r.page_size, &r.page_token));
                Some((user?, page?))
            })?;
            let page = this
                .api
                .store()
                .list_by_set_index(&user.to_string(), page)
                .await
                .map_err(|e| this.api.status(e))?;
            Ok(Response::new(pb::ListUserWorkspacesResponse {
                workspaces: page
                    .items
                    .iter()
                    .map(|stored| wire::workspace(stored, View::Basic))
                    .collect(),
                next_page_token: page.next_page_token,
            }))
        }

        rpc create_workspace(this, request: pb::CreateWorkspaceRequest) -> pb::Workspace {
            let call = this.api.parse_as_actor(request, |r, fields| {
                let (slug, name, limit) = (
                    fields.check(slug(&r.slug)),
                    fields.check(name(&r.name)),
                    fields.check(seat_limit(r.seat_limit)),
                );
                Some((slug?, name?, limit?))
            })?;
            let id = WorkspaceId::from_uuid(platform::new_id());
            this.api
                .create(call, move |(actor, (slug, name, limit)), now| {
                    Workspace::create(id, slug.clone(), name.clone(), *actor, *limit, now)
                })
                .await
        }

        rpc rename_workspace(this, request: pb::RenameWorkspaceRequest) -> pb::Workspace {
            let new_name = |r: &pb::RenameWorkspaceRequest, fields: &mut FieldCheck| {
                fields.check(name(&r.name))
            };
            this.api
                .command_as_actor(request, new_name, |w, (actor, name), now| {
                    w.rename(*actor, name.clone(), now)
                })
                .await
        }

        rpc invite_member(this, request: pb::InviteMemberRequest) -> pb::InviteMemberResponse {
            let call = this.api.parse_as_actor(request, |r, fields| {
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
            this.api
                .update_with(
                    call,
                    move |w, (actor, (email, role, token, invitee)), now| {
                        let (email, token) = (email.clone(), token.clone());
                        w.invite(*actor, invitation_id, email, *invitee, *role, token, now)
                    },
                    move |stored, _| pb::InviteMemberResponse {
                        workspace: Some(wire::workspace(stored, View::Basic)),
                        invitation: stored
                            .aggregate
                            .invitation(invitation_id)
                            .map(wire::invitation),
                    },
                )
                .await
        }

        rpc accept_invitation(this, request: pb::AcceptInvitationRequest) -> pb::Workspace {
            let call = this.api.parse_as_actor(request, |r, fields| {
                let invitation = fields.check(invitation_id(&r.invitation_id));
                let token = fields.check(parse_token("token", &r.token));
                let email = fields.check(parse_email("user_email", &r.user_email));
                Some((invitation?, token?, email?))
            })?;
            let call = call.fingerprint(|r, (_, (_, token, _))| pb::AcceptInvitationRequest {
                token: token.to_hex(),
                ..r
            });
            this.api
                .update(call, |w, (actor, (invitation, token, email)), now| {
                    w.accept_invitation(*invitation, *actor, email, token, now)
                })
                .await
        }

        rpc revoke_invitation(this, request: pb::RevokeInvitationRequest) -> pb::Workspace {
            let invitation = |r: &pb::RevokeInvitationRequest, fields: &mut FieldCheck| {
                fields.check(invitation_id(&r.invitation_id))
            };
            let revoke = |w: &mut Workspace, (actor, id): &(UserId, InvitationId), now| {
                w.revoke_invitation(*actor, *id, now)
            };
            this.api.command_as_actor(request, invitation, revoke).await
        }

        rpc expire_invitations(this, request: pb::ExpireInvitationsRequest) -> pb::Workspace {
            this.api.run(request, |w, now| Ok::<_, Rejection>(w.expire_invitations(now))).await
        }

        rpc change_member_role(this, request: pb::ChangeMemberRoleRequest) -> pb::Workspace {
            let member_and_role = |r: &pb::ChangeMemberRoleRequest, fields: &mut FieldCheck| {
                let member = fields.check(user_id("user_id", &r.user_id));
                let role = fields.check(wire::parse_role("role", r.role));
                Some((member?, role?))
            };
            this.api
                .command_as_actor(request, member_and_role, |w, (actor, (member, role)), now| {
                    w.change_role(*actor, *member, *role, now)
                })
                .await
        }

        rpc remove_member(this, request: pb::RemoveMemberRequest) -> pb::Workspace {
            let member = |r: &pb::RemoveMemberRequest, fields: &mut FieldCheck| {
                fields.check(user_id("user_id", &r.user_id))
            };
            let remove = |w: &mut Workspace, (actor, member): &(UserId, UserId), now| {
                w.remove_member(*actor, *member, now)
            };
            this.api.command_as_actor(request, member, remove).await
        }

        rpc leave_workspace(this, request: pb::LeaveWorkspaceRequest) -> pb::Workspace {
            this.api.run_as_actor(request, |w, actor, now| w.leave(actor, now)).await
        }

        rpc set_seat_limit(this, request: pb::SetSeatLimitRequest) -> pb::Workspace {
            let limit = |r: &pb::SetSeatLimitRequest, fields: &mut FieldCheck| {
                fields.check(seat_limit(r.seat_limit))
            };
            this.api.command(request, limit, |w, limit, now| w.set_seat_limit(*limit, now)).await
        }

        rpc follow_subscription(this, request: pb::FollowSubscriptionRequest) -> pb::Workspace {
            let report = |r: &pb::FollowSubscriptionRequest, fields: &mut FieldCheck| {
                let standing =
                    fields.check(wire::parse_subscription_standing("standing", r.standing));
                let version = fields.check(subscription_version(r.subscription_version));
                Some((standing?, version?))
            };
            let follow = |w: &mut Workspace, (standing, version): &(SubscriptionStanding, u64), now| {
                w.follow_subscription(*standing, *version, now)
            };
            this.api.command(request, report, follow).await
        }

        rpc remove_erased_user(this, request: pb::RemoveErasedUserRequest) -> pb::Workspace {
            let user = |r: &pb::RemoveErasedUserRequest, fields: &mut FieldCheck| {
                fields.check(user_id("user_id", &r.user_id))
            };
            let remove = |w: &mut Workspace, user: &UserId, now| {
                Ok::<_, Rejection>(w.remove_erased_user(*user, now))
            };
            this.api.command(request, user, remove).await
        }

        rpc archive_workspace(this, request: pb::ArchiveWorkspaceRequest) -> pb::Workspace {
            this.api.run_as_actor(request, |w, actor, now| w.archive(actor, now)).await
        }

        rpc unarchive_workspace(this, request: pb::UnarchiveWorkspaceRequest) -> pb::Workspace {
            this.api.run_as_actor(request, |w, actor, now| w.unarchive(actor, now)).await
        }

        rpc delete_workspace(this, request: pb::DeleteWorkspaceRequest) -> () {
            let call = this.api.parse_as_actor(request, |_, _| Some(()))?;
            this.api
                .delete(call, |w, (actor, ()), now| w.delete(*actor, now))
                .await
        }
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

    #[test]
    fn a_standing_report_needs_a_standing_and_a_version_of_at_least_one() {
        for raw in [0, -1, i64::MIN] {
            let rejection = subscription_version(raw).unwrap_err();
            assert_eq!(rejection.reason, "INVALID_SUBSCRIPTION_VERSION");
            assert_eq!(rejection.field_violations[0].field, "subscription_version");
        }
        assert_eq!(subscription_version(1), Ok(1));
        for raw in [pb::SubscriptionStanding::Unspecified as i32, 3, -1] {
            let rejection = wire::parse_subscription_standing("standing", raw).unwrap_err();
            assert_eq!(rejection.reason, "INVALID_SUBSCRIPTION_STANDING");
            assert_eq!(rejection.field_violations[0].field, "standing");
        }
        assert_eq!(
            wire::parse_subscription_standing("standing", pb::SubscriptionStanding::Lapsed as i32),
            Ok(SubscriptionStanding::Lapsed)
        );
    }
}
