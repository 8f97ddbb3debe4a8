//! The Workspace `WorkspaceService` over real gRPC, hosted by [`DataServices`]: happy paths,
//! rejections, bad input, idempotency, due work with the injected clock (and across a
//! restart), races on the seat limit and on etags (also across two OS processes), and the
//! tenant rule of `ListUserWorkspaces`, and the rows a command writes for members and
//! invitations (kept as rows of their own).
//!
//! The Workspace service does not ask Identity about users: a user is just an id (sent as
//! `x-saas-actor`) and an email the caller vouches for, so the tests make both up.
//!
//! The helpers here keep the tests short: [`create`] makes a workspace owned by a fresh user,
//! [`join`] invites and accepts someone, [`rejected`] checks a status's code and `ErrorInfo`
//! in the `workspace.saas` domain, [`invalid`] checks an `INVALID_ARGUMENT` and the fields its
//! `BadRequest` names.

mod bad_input;
mod due_work;
mod happy_path;
mod idempotency;
mod parts;
mod races;
mod rejections;
mod tenancy;

use saas_proto::workspace::v1 as pb;
use saas_tests::{DataServices, WorkspaceClient, as_actor};
use tonic::{Code, Response, Status};
use uuid::Uuid;

pub(crate) use crate::{
    concurrency::{request_id, version},
    user_rpc::{at, invalid_in, rejected_in, violated_fields},
};

/// The `ErrorInfo` domain of the Workspace service.
pub const DOMAIN: &str = "workspace.saas";

/// The seat limit workspaces are created with unless a test needs another.
pub const SEATS: i32 = 10;

/// The services and a Workspace client.
pub async fn start() -> (DataServices, WorkspaceClient) {
    let services = DataServices::spawn().await;
    let client = services.workspaces_client().await;
    (services, client)
}

/// A fresh user id (the Workspace service takes users as ids; Identity is not asked).
pub fn user() -> Uuid {
    Uuid::now_v7()
}

/// A random id nothing has.
pub fn unknown_id() -> String {
    Uuid::now_v7().to_string()
}

/// A fresh, valid, unique slug.
pub fn fresh_slug() -> String {
    format!("ws-{}", Uuid::now_v7().simple())
}

/// A fresh, unique email address.
pub fn fresh_email() -> String {
    format!("invitee-{}@example.com", Uuid::now_v7().simple())
}

/// A fresh invitation token (what the application would mail).
pub fn fresh_token() -> String {
    format!("token-{}", Uuid::now_v7().simple())
}

/// A `CreateWorkspace` request.
pub fn create_request(slug: &str, name: &str, seat_limit: i32) -> pb::CreateWorkspaceRequest {
    pb::CreateWorkspaceRequest {
        request_id: request_id(),
        slug: slug.into(),
        name: name.into(),
        seat_limit,
    }
}

/// Creates a workspace with a fresh slug owned by `owner`, with `seat_limit` seats.
pub async fn create_owned(
    client: &mut WorkspaceClient,
    owner: Uuid,
    seat_limit: i32,
) -> pb::Workspace {
    client
        .create_workspace(as_actor(
            owner,
            create_request(&fresh_slug(), "Acme Corp", seat_limit),
        ))
        .await
        .expect("create workspace")
        .into_inner()
}

/// Creates a workspace with [`SEATS`] seats owned by a fresh user; returns the owner too.
pub async fn create(client: &mut WorkspaceClient) -> (Uuid, pb::Workspace) {
    let owner = user();
    (owner, create_owned(client, owner, SEATS).await)
}

/// Reads a workspace.
pub async fn get(client: &mut WorkspaceClient, id: &str) -> pb::Workspace {
    client
        .get_workspace(pb::GetWorkspaceRequest {
            id: id.into(),
            ..Default::default()
        })
        .await
        .expect("get workspace")
        .into_inner()
}

/// An unconditional `InviteMember` request.
pub fn invite_request(
    workspace: &str,
    email: &str,
    role: pb::Role,
    token: &str,
) -> pb::InviteMemberRequest {
    pb::InviteMemberRequest {
        id: workspace.into(),
        request_id: request_id(),
        etag: String::new(),
        email: email.into(),
        role: role as i32,
        token: token.into(),
        invitee_user_id: String::new(),
    }
}

/// Invites `email` as `role` on behalf of `actor`; returns the invitation and the workspace.
pub async fn invite(
    client: &mut WorkspaceClient,
    actor: Uuid,
    workspace: &str,
    email: &str,
    role: pb::Role,
    token: &str,
) -> (pb::Invitation, pb::Workspace) {
    let response = client
        .invite_member(as_actor(
            actor,
            invite_request(workspace, email, role, token),
        ))
        .await
        .expect("invite member")
        .into_inner();
    (
        response.invitation.expect("the invitation just made"),
        response.workspace.expect("the workspace"),
    )
}

/// An `AcceptInvitation` request.
pub fn accept_request(
    workspace: &str,
    invitation: &str,
    token: &str,
    email: &str,
) -> pb::AcceptInvitationRequest {
    pb::AcceptInvitationRequest {
        id: workspace.into(),
        request_id: request_id(),
        invitation_id: invitation.into(),
        token: token.into(),
        user_email: email.into(),
    }
}

/// `inviter` invites a fresh user as `role`, who accepts; returns the new member and the
/// workspace after they joined.
pub async fn join(
    client: &mut WorkspaceClient,
    workspace: &str,
    inviter: Uuid,
    role: pb::Role,
) -> (Uuid, pb::Workspace) {
    let (email, token, member) = (fresh_email(), fresh_token(), user());
    let (invitation, _) = invite(client, inviter, workspace, &email, role, &token).await;
    let joined = client
        .accept_invitation(as_actor(
            member,
            accept_request(workspace, &invitation.id, &token, &email),
        ))
        .await
        .expect("accept invitation")
        .into_inner();
    (member, joined)
}

/// A `RenameWorkspace` request.
pub fn rename_request(workspace: &str, etag: &str, name: &str) -> pb::RenameWorkspaceRequest {
    pb::RenameWorkspaceRequest {
        id: workspace.into(),
        request_id: request_id(),
        etag: etag.into(),
        name: name.into(),
    }
}

/// The role a user has in a workspace, if they are a member.
pub fn role_of(workspace: &pb::Workspace, user: Uuid) -> Option<pb::Role> {
    workspace
        .members
        .iter()
        .find(|m| m.user_id == user.to_string())
        .map(|m| pb::Role::try_from(m.role).expect("a known role"))
}

/// A workspace as commands return it (the basic view): a read without its invitations.
pub fn basic(workspace: pb::Workspace) -> pb::Workspace {
    pb::Workspace {
        invitations: Vec::new(),
        ..workspace
    }
}

/// The state of one invitation of a workspace (as a read shows it: commands leave the
/// invitations out).
pub fn state_of(workspace: &pb::Workspace, invitation: &str) -> pb::InvitationState {
    let invitation = workspace
        .invitations
        .iter()
        .find(|i| i.id == invitation)
        .unwrap_or_else(|| panic!("no invitation {invitation} in {workspace:?}"));
    pb::InvitationState::try_from(invitation.state).expect("a known state")
}

/// The number of members and of pending invitations.
pub fn members_and_pending(workspace: &pb::Workspace) -> (usize, usize) {
    let pending = workspace
        .invitations
        .iter()
        .filter(|i| i.state == pb::InvitationState::Pending as i32)
        .count();
    (workspace.members.len(), pending)
}

/// The ids of the workspaces `ListUserWorkspaces` shows for a user, paging through all.
pub async fn workspaces_of(client: &mut WorkspaceClient, user: Uuid) -> Vec<String> {
    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = client
            .list_user_workspaces(pb::ListUserWorkspacesRequest {
                user_id: user.to_string(),
                page_size: 2,
                page_token: page_token.clone(),
            })
            .await
            .expect("list user workspaces")
            .into_inner();
        for workspace in &page.workspaces {
            assert!(
                workspace
                    .members
                    .iter()
                    .any(|m| m.user_id == user.to_string()),
                "{user} was shown {} without being a member",
                workspace.id
            );
        }
        ids.extend(page.workspaces.into_iter().map(|w| w.id));
        if page.next_page_token.is_empty() {
            return ids;
        }
        page_token = page.next_page_token;
    }
}

/// The error of a call that must fail with `code` and `ErrorInfo { reason, workspace.saas }`.
#[track_caller]
pub fn rejected<T: std::fmt::Debug>(
    result: Result<Response<T>, Status>,
    code: Code,
    reason: &str,
) -> Status {
    rejected_in(result, code, reason, DOMAIN)
}

/// The error of a call that must fail `INVALID_ARGUMENT` with `reason`, naming exactly
/// `fields` (in any order) in its `BadRequest`.
#[track_caller]
pub fn invalid<T: std::fmt::Debug>(
    result: Result<Response<T>, Status>,
    reason: &str,
    fields: &[&str],
) -> Status {
    invalid_in(result, reason, fields, DOMAIN)
}
