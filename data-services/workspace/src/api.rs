//! `WorkspaceService`: parse the request (and the acting user) into domain values, run the
//! command pipeline, render.

use kernel_domain::{Rejection, RejectionKind, Timestamp, Version};
use platform::{
    rpc::{FieldCheck, PageRequest, Target, parse_email, parse_id, parse_request_id, parse_token},
    store::Command,
};
use saas_proto::workspace::v1::{self as pb, workspace_service_server::WorkspaceService};
use tonic::{Request, Response, Status};
use uuid::Uuid;
use workspace_domain::{
    InvitationId, Slug, UserId, Workspace, WorkspaceError, WorkspaceEvent, WorkspaceId,
    WorkspaceName,
};

use crate::{WorkspaceStore, wire};

/// The `WorkspaceService` implementation.
#[derive(Clone)]
pub struct WorkspaceApi {
    store: WorkspaceStore,
}

impl WorkspaceApi {
    /// A service over a store.
    pub fn new(store: WorkspaceStore) -> Self {
        WorkspaceApi { store }
    }

    fn reject(&self, rejection: impl Into<Rejection>) -> Status {
        self.store.reject(&rejection.into())
    }

    /// Runs `decide` on an existing workspace as `method` (bound to `actor`, if any),
    /// rendering the workspace.
    async fn run<M: prost::Message>(
        &self,
        method: &'static str,
        target: Target,
        fingerprinted: &M,
        actor: Option<UserId>,
        mut decide: impl FnMut(&mut Workspace, Timestamp) -> Result<Vec<WorkspaceEvent>, WorkspaceError>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let command = command(
            method,
            target.request_id,
            fingerprinted,
            target.expected,
            actor,
        );
        self.store
            .update(
                command,
                target.id,
                |workspace, now| decide(workspace, now).map_err(Rejection::from),
                |stored, _| wire::workspace(stored),
            )
            .await
            .map(Response::new)
    }
}

/// The acting user of a member's command. A missing actor is answered at once
/// (`UNAUTHENTICATED` / `ACTOR_REQUIRED`); a malformed one is a bad field (`INVALID_ACTOR`),
/// reported together with the bad fields of the body.
fn acting_user<T>(request: &Request<T>) -> Result<Result<UserId, Rejection>, Rejection> {
    match platform::rpc::actor(request) {
        Ok(Some(id)) => Ok(Ok(UserId::from_uuid(id))),
        Ok(None) => Err(Rejection::new(
            RejectionKind::Unauthenticated,
            "ACTOR_REQUIRED",
            format!(
                "this command is made on behalf of a user: send their id as {} metadata",
                platform::rpc::ACTOR_METADATA
            ),
        )),
        Err(malformed) => Ok(Err(malformed)),
    }
}

/// A command with its idempotency fingerprint. The acting user travels as metadata, not in
/// the body, so it is part of the fingerprint: the same `request_id` from another actor is a
/// different request (`REQUEST_ID_REUSED`), never a replay of someone else's response.
fn command<M: prost::Message>(
    method: &'static str,
    request_id: Uuid,
    fingerprinted: &M,
    expected: Option<Version>,
    actor: Option<UserId>,
) -> Command {
    Command::new(method, request_id, fingerprinted, expected).by_actor(actor.map(|a| a.as_uuid()))
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
        let id = parse_id("id", &request.get_ref().id).map_err(|r| self.reject(r))?;
        let stored = self.store.get_existing(id).await?;
        Ok(Response::new(wire::workspace(&stored)))
    }

    async fn lookup_workspace(
        &self,
        request: Request<pb::LookupWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let slug = slug(&request.get_ref().slug).map_err(|r| self.reject(r))?;
        let stored = self.store.find_existing_by("slug", slug.as_str()).await?;
        Ok(Response::new(wire::workspace(&stored)))
    }

    async fn list_user_workspaces(
        &self,
        request: Request<pb::ListUserWorkspacesRequest>,
    ) -> Result<Response<pb::ListUserWorkspacesResponse>, Status> {
        let request = request.get_ref();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let user = fields.check(user_id("user_id", &request.user_id));
            let page = fields.check(PageRequest::parse(request.page_size, &request.page_token));
            platform::checked!(fields, user, page);
            Ok((user, page))
        })();
        let (user, page) = parsed.map_err(|r| self.reject(r))?;
        let page = self
            .store
            .list_by_set_index(&user.to_string(), page)
            .await?;
        Ok(Response::new(pb::ListUserWorkspacesResponse {
            workspaces: page.items.iter().map(wire::workspace).collect(),
            next_page_token: page.next_page_token,
        }))
    }

    async fn create_workspace(
        &self,
        request: Request<pb::CreateWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let actor = acting_user(&request).map_err(|r| self.reject(r))?;
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let actor = fields.check(actor);
            let request_id = fields.check(parse_request_id(&request.request_id));
            let slug = fields.check(slug(&request.slug));
            let name = fields.check(name(&request.name));
            let seat_limit = fields.check(seat_limit(request.seat_limit));
            platform::checked!(fields, actor, request_id, slug, name, seat_limit);
            Ok((actor, request_id, slug, name, seat_limit))
        })();
        let (actor, request_id, slug, name, seat_limit) = parsed.map_err(|r| self.reject(r))?;
        let command = command("CreateWorkspace", request_id, &request, None, Some(actor));
        let id = WorkspaceId::from_uuid(platform::new_id());
        self.store
            .create(
                command,
                |now| {
                    Workspace::create(id, slug, name, actor, seat_limit, now)
                        .map_err(Rejection::from)
                },
                |stored, _| wire::workspace(stored),
            )
            .await
            .map(Response::new)
    }

    async fn rename_workspace(
        &self,
        request: Request<pb::RenameWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let actor = acting_user(&request).map_err(|r| self.reject(r))?;
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let actor = fields.check(actor);
            let target =
                Target::parse(&mut fields, &request.id, &request.request_id, &request.etag);
            let name = fields.check(name(&request.name));
            platform::checked!(fields, actor, target, name);
            Ok((actor, target, name))
        })();
        let (actor, target, name) = parsed.map_err(|r| self.reject(r))?;
        self.run(
            "RenameWorkspace",
            target,
            &request,
            Some(actor),
            |workspace, now| workspace.rename(actor, name.clone(), now),
        )
        .await
    }

    async fn invite_member(
        &self,
        request: Request<pb::InviteMemberRequest>,
    ) -> Result<Response<pb::InviteMemberResponse>, Status> {
        let actor = acting_user(&request).map_err(|r| self.reject(r))?;
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let actor = fields.check(actor);
            let target =
                Target::parse(&mut fields, &request.id, &request.request_id, &request.etag);
            let email = fields.check(parse_email("email", &request.email));
            let role = fields.check(wire::parse_role("role", request.role));
            let token = fields.check(parse_token("token", &request.token));
            let invitee = fields.check(if request.invitee_user_id.is_empty() {
                Ok(None)
            } else {
                parse_id("invitee_user_id", &request.invitee_user_id)
                    .map(|id| Some(UserId::from_uuid(id)))
            });
            platform::checked!(fields, actor, target, email, role, token, invitee);
            Ok((actor, target, email, role, token, invitee))
        })();
        let (actor, target, email, role, token, invitee) = parsed.map_err(|r| self.reject(r))?;
        let fingerprinted = pb::InviteMemberRequest {
            token: token.to_hex(),
            ..request
        };
        let command = command(
            "InviteMember",
            target.request_id,
            &fingerprinted,
            target.expected,
            Some(actor),
        );
        let invitation_id = InvitationId::from_uuid(platform::new_id());
        self.store
            .update(
                command,
                target.id,
                |workspace, now| {
                    workspace
                        .invite(
                            actor,
                            invitation_id,
                            email.clone(),
                            invitee,
                            role,
                            token.clone(),
                            now,
                        )
                        .map_err(Rejection::from)
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
            .map(Response::new)
    }

    async fn accept_invitation(
        &self,
        request: Request<pb::AcceptInvitationRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let actor = acting_user(&request).map_err(|r| self.reject(r))?;
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let actor = fields.check(actor);
            let target = Target::parse(&mut fields, &request.id, &request.request_id, "");
            let invitation = fields.check(invitation_id(&request.invitation_id));
            let token = fields.check(parse_token("token", &request.token));
            let user_email = fields.check(parse_email("user_email", &request.user_email));
            platform::checked!(fields, actor, target, invitation, token, user_email);
            Ok((actor, target, invitation, token, user_email))
        })();
        let (actor, target, invitation, token, user_email) = parsed.map_err(|r| self.reject(r))?;
        let fingerprinted = pb::AcceptInvitationRequest {
            token: token.to_hex(),
            ..request
        };
        self.run(
            "AcceptInvitation",
            target,
            &fingerprinted,
            Some(actor),
            |workspace, now| {
                workspace.accept_invitation(invitation, actor, &user_email, &token, now)
            },
        )
        .await
    }

    async fn revoke_invitation(
        &self,
        request: Request<pb::RevokeInvitationRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let actor = acting_user(&request).map_err(|r| self.reject(r))?;
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let actor = fields.check(actor);
            let target =
                Target::parse(&mut fields, &request.id, &request.request_id, &request.etag);
            let invitation = fields.check(invitation_id(&request.invitation_id));
            platform::checked!(fields, actor, target, invitation);
            Ok((actor, target, invitation))
        })();
        let (actor, target, invitation) = parsed.map_err(|r| self.reject(r))?;
        self.run(
            "RevokeInvitation",
            target,
            &request,
            Some(actor),
            |workspace, now| workspace.revoke_invitation(actor, invitation, now),
        )
        .await
    }

    async fn expire_invitations(
        &self,
        request: Request<pb::ExpireInvitationsRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let request = request.into_inner();
        let target = Target::parse_alone(&request.id, &request.request_id, "")
            .map_err(|r| self.reject(r))?;
        self.run(
            "ExpireInvitations",
            target,
            &request,
            None,
            |workspace, now| Ok(workspace.expire_invitations(now)),
        )
        .await
    }

    async fn change_member_role(
        &self,
        request: Request<pb::ChangeMemberRoleRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let actor = acting_user(&request).map_err(|r| self.reject(r))?;
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let actor = fields.check(actor);
            let target =
                Target::parse(&mut fields, &request.id, &request.request_id, &request.etag);
            let member = fields.check(user_id("user_id", &request.user_id));
            let role = fields.check(wire::parse_role("role", request.role));
            platform::checked!(fields, actor, target, member, role);
            Ok((actor, target, member, role))
        })();
        let (actor, target, member, role) = parsed.map_err(|r| self.reject(r))?;
        self.run(
            "ChangeMemberRole",
            target,
            &request,
            Some(actor),
            |workspace, now| workspace.change_role(actor, member, role, now),
        )
        .await
    }

    async fn remove_member(
        &self,
        request: Request<pb::RemoveMemberRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let actor = acting_user(&request).map_err(|r| self.reject(r))?;
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let actor = fields.check(actor);
            let target =
                Target::parse(&mut fields, &request.id, &request.request_id, &request.etag);
            let member = fields.check(user_id("user_id", &request.user_id));
            platform::checked!(fields, actor, target, member);
            Ok((actor, target, member))
        })();
        let (actor, target, member) = parsed.map_err(|r| self.reject(r))?;
        self.run(
            "RemoveMember",
            target,
            &request,
            Some(actor),
            |workspace, now| workspace.remove_member(actor, member, now),
        )
        .await
    }

    async fn leave_workspace(
        &self,
        request: Request<pb::LeaveWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let actor = acting_user(&request).map_err(|r| self.reject(r))?;
        let request = request.into_inner();
        let (actor, target) = member_target(actor, &request.id, &request.request_id, &request.etag)
            .map_err(|r| self.reject(r))?;
        self.run(
            "LeaveWorkspace",
            target,
            &request,
            Some(actor),
            |workspace, now| workspace.leave(actor, now),
        )
        .await
    }

    async fn set_seat_limit(
        &self,
        request: Request<pb::SetSeatLimitRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target =
                Target::parse(&mut fields, &request.id, &request.request_id, &request.etag);
            let limit = fields.check(seat_limit(request.seat_limit));
            platform::checked!(fields, target, limit);
            Ok((target, limit))
        })();
        let (target, limit) = parsed.map_err(|r| self.reject(r))?;
        self.run("SetSeatLimit", target, &request, None, |workspace, now| {
            workspace.set_seat_limit(limit, now)
        })
        .await
    }

    async fn remove_erased_user(
        &self,
        request: Request<pb::RemoveErasedUserRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target = Target::parse(&mut fields, &request.id, &request.request_id, "");
            let user = fields.check(user_id("user_id", &request.user_id));
            platform::checked!(fields, target, user);
            Ok((target, user))
        })();
        let (target, user) = parsed.map_err(|r| self.reject(r))?;
        self.run(
            "RemoveErasedUser",
            target,
            &request,
            None,
            |workspace, now| Ok(workspace.remove_erased_user(user, now)),
        )
        .await
    }

    async fn archive_workspace(
        &self,
        request: Request<pb::ArchiveWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let actor = acting_user(&request).map_err(|r| self.reject(r))?;
        let request = request.into_inner();
        let (actor, target) = member_target(actor, &request.id, &request.request_id, &request.etag)
            .map_err(|r| self.reject(r))?;
        self.run(
            "ArchiveWorkspace",
            target,
            &request,
            Some(actor),
            |workspace, now| workspace.archive(actor, now),
        )
        .await
    }

    async fn unarchive_workspace(
        &self,
        request: Request<pb::UnarchiveWorkspaceRequest>,
    ) -> Result<Response<pb::Workspace>, Status> {
        let actor = acting_user(&request).map_err(|r| self.reject(r))?;
        let request = request.into_inner();
        let (actor, target) = member_target(actor, &request.id, &request.request_id, &request.etag)
            .map_err(|r| self.reject(r))?;
        self.run(
            "UnarchiveWorkspace",
            target,
            &request,
            Some(actor),
            |workspace, now| workspace.unarchive(actor, now),
        )
        .await
    }

    async fn delete_workspace(
        &self,
        request: Request<pb::DeleteWorkspaceRequest>,
    ) -> Result<Response<()>, Status> {
        let actor = acting_user(&request).map_err(|r| self.reject(r))?;
        let request = request.into_inner();
        let (actor, target) = member_target(actor, &request.id, &request.request_id, &request.etag)
            .map_err(|r| self.reject(r))?;
        let command = command(
            "DeleteWorkspace",
            target.request_id,
            &request,
            target.expected,
            Some(actor),
        );
        self.store
            .delete(
                command,
                target.id,
                |workspace, now| workspace.delete(actor, now).map_err(Rejection::from),
                |_, _| (),
            )
            .await
            .map(Response::new)
    }
}

/// Parses a member's command that carries nothing but the acting user and the target.
fn member_target(
    actor: Result<UserId, Rejection>,
    id: &str,
    request_id: &str,
    etag: &str,
) -> Result<(UserId, Target), Rejection> {
    let mut fields = FieldCheck::new();
    let actor = fields.check(actor);
    let target = Target::parse(&mut fields, id, request_id, etag);
    platform::checked!(fields, actor, target);
    Ok((actor, target))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_actor(value: Option<&str>) -> Request<()> {
        let mut request = Request::new(());
        if let Some(value) = value {
            request.metadata_mut().insert(
                platform::rpc::ACTOR_METADATA,
                value.parse().expect("ascii metadata"),
            );
        }
        request
    }

    #[test]
    fn a_missing_actor_is_unauthenticated() {
        let rejection = acting_user(&with_actor(None)).unwrap_err();
        assert_eq!(rejection.kind, RejectionKind::Unauthenticated);
        assert_eq!(rejection.reason, "ACTOR_REQUIRED");
    }

    #[test]
    fn a_malformed_actor_is_reported_with_the_other_bad_fields() {
        let actor = acting_user(&with_actor(Some("nobody"))).unwrap();
        let rejection = member_target(actor, "x", "", "").unwrap_err();
        assert_eq!(rejection.kind, RejectionKind::InvalidArgument);
        assert_eq!(rejection.reason, "INVALID_ACTOR");
        let fields: Vec<_> = rejection
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(fields, [platform::rpc::ACTOR_METADATA, "id", "request_id"]);
    }

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
    fn the_actor_is_part_of_the_fingerprint() {
        let request = pb::LeaveWorkspaceRequest::default();
        let id = Uuid::now_v7();
        let fingerprint = |actor: Option<UserId>| {
            command("LeaveWorkspace", id, &request, None, actor)
                .idempotency
                .map(|key| key.fingerprint)
        };
        let a = UserId::from_uuid(Uuid::now_v7());
        let b = UserId::from_uuid(Uuid::now_v7());
        assert_ne!(fingerprint(Some(a)), fingerprint(Some(b)));
        assert_eq!(fingerprint(Some(a)), fingerprint(Some(a)));
        assert_ne!(fingerprint(None), fingerprint(Some(a)));
    }
}
