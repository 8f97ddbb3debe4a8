//! Workspaces, members and invitations.
//!
//! Every `/v1/workspaces/{workspace_id}/...` handler runs after the route's guard checked the
//! caller's role there ([`Tenant`]). A `{user_id}` or `{invitation_id}` that is not a UUID
//! answers 404 like an unknown one (`MEMBER_NOT_FOUND`, `INVITATION_NOT_FOUND`).

use axum::Json;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, Uri};
use ports_app::{AppError, AppResult, InvitationId, Role};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::handlers::PathIds;
use crate::json::{ApiJson, RequestBody};
use crate::openapi::Problem;
use crate::request::{Caller, Tenant};
use crate::state::EdgeState;
use crate::views::{InvitationView, MemberJson, Resource, WorkspaceView};

use super::account::TokenBody;

pub use crate::views::RoleName;

/// `PATCH /v1/workspaces/{workspace_id}`.
#[derive(Deserialize, ToSchema)]
#[schema(as = RenameWorkspaceRequest, examples(json!({"name": "Difference Engines"})))]
pub struct RenameBody {
    #[schema(
        pattern = r"^\s*[^\s\x00-\x1f\x7f-\x9f](?:[^\x00-\x1f\x7f-\x9f]{0,98}[^\s\x00-\x1f\x7f-\x9f])?\s*$"
    )]
    pub name: String,
}

impl RequestBody for RenameBody {
    const REQUIRED: &'static [&'static str] = &["name"];
}

/// `PATCH /v1/workspaces/{workspace_id}/members/{user_id}`.
#[derive(Deserialize, ToSchema)]
#[schema(as = ChangeRoleRequest, examples(json!({"role": "admin"})))]
pub struct ChangeRoleBody {
    pub role: RoleName,
}

impl RequestBody for ChangeRoleBody {
    const REQUIRED: &'static [&'static str] = &["role"];
}

/// The roles an invitation may offer (Owners are made by changing a member's role).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InviteRole {
    Admin,
    Member,
}

impl From<InviteRole> for Role {
    fn from(role: InviteRole) -> Self {
        match role {
            InviteRole::Admin => Role::Admin,
            InviteRole::Member => Role::Member,
        }
    }
}

/// `POST /v1/workspaces/{workspace_id}/invitations`.
#[derive(Deserialize, ToSchema)]
#[schema(as = InviteRequest, examples(json!({"email": "charles@example.com", "role": "member"})))]
pub struct InviteBody {
    #[schema(format = Email, max_length = 254)]
    pub email: String,
    pub role: InviteRole,
}

impl RequestBody for InviteBody {
    const REQUIRED: &'static [&'static str] = &["email", "role"];
}

/// A page of the caller's workspaces; `next_page_token` is `null` on the last page.
#[derive(Debug, Serialize, ToSchema)]
pub struct WorkspaceList {
    pub workspaces: Vec<WorkspaceView>,
    pub next_page_token: Option<String>,
}

/// A workspace's members.
#[derive(Debug, Serialize, ToSchema)]
pub struct MemberList {
    pub members: Vec<MemberJson>,
}

/// A workspace's invitations.
#[derive(Debug, Serialize, ToSchema)]
pub struct InvitationList {
    pub invitations: Vec<InvitationView>,
}

fn member_not_found() -> AppError {
    AppError::not_found("MEMBER_NOT_FOUND", "no such member")
}

fn invitation_not_found() -> AppError {
    AppError::not_found("INVITATION_NOT_FOUND", "no such invitation")
}

/// The paging of `GET /v1/workspaces`: `page_size` a whole number of at least 0 (0 means the
/// default), `page_token` as the previous page gave it. Other parameters are ignored.
fn paging(uri: &Uri) -> AppResult<(i32, String)> {
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri)
        .map_err(|_| AppError::bad_request("MALFORMED_QUERY", "the query string cannot be read"))?;
    let mut page_size = 0;
    let mut page_token = String::new();
    for (name, value) in pairs {
        match name.as_str() {
            "page_size" => {
                page_size = value
                    .parse::<i32>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| {
                        AppError::bad_field("page_size", "must be a whole number of at least 0")
                    })?;
            }
            "page_token" => page_token = value,
            _ => {}
        }
    }
    Ok((page_size, page_token))
}

/// The caller's workspaces, paged.
#[utoipa::path(get, path = "/v1/workspaces", tag = "workspaces", operation_id = "listWorkspaces",
    summary = "The caller's workspaces, paged",
    params(
        ("page_size" = Option<i32>, Query, minimum = 0, description = "How many per page; 0 or absent means the default, and the service caps it"),
        ("page_token" = Option<String>, Query, description = "The `next_page_token` of the previous page"),
    ),
    responses((status = 200, description = "A page", body = WorkspaceList)))]
pub async fn list(
    State(state): State<EdgeState>,
    caller: Caller,
    uri: Uri,
) -> AppResult<Json<WorkspaceList>> {
    let (page_size, page_token) = paging(&uri)?;
    let page = state
        .team
        .my_workspaces(&caller.ctx, page_size, page_token)
        .await?;
    Ok(Json(WorkspaceList {
        workspaces: page.workspaces.iter().map(WorkspaceView::from).collect(),
        next_page_token: Some(page.next_page_token).filter(|token| !token.is_empty()),
    }))
}

/// One workspace, as the tenancy check read it.
#[utoipa::path(get, path = "/v1/workspaces/{workspace_id}", tag = "workspaces", operation_id = "getWorkspace",
    summary = "One workspace",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND")),
    responses((status = 200, description = "The workspace", body = WorkspaceView, headers(("ETag" = String, description = "The workspace's version")))))]
pub async fn get(tenant: Tenant) -> AppResult<Resource<WorkspaceView>> {
    Ok(Resource::workspace(tenant.workspace()?))
}

/// Renames the workspace.
#[utoipa::path(patch, path = "/v1/workspaces/{workspace_id}", tag = "workspaces", operation_id = "renameWorkspace",
    summary = "Rename the workspace",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND")),
    request_body = RenameBody,
    responses(
        (status = 200, description = "The renamed workspace", body = WorkspaceView, headers(("ETag" = String, description = "The workspace's version"))),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The workspace is archived", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rename(
    State(state): State<EdgeState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<RenameBody>,
) -> AppResult<Resource<WorkspaceView>> {
    let renamed = state
        .team
        .rename(&tenant.ctx, tenant.workspace_id, body.name)
        .await?;
    state.saw(&renamed).await;
    Ok(Resource::workspace(&renamed))
}

/// The members with their profiles.
#[utoipa::path(get, path = "/v1/workspaces/{workspace_id}/members", tag = "workspaces", operation_id = "listMembers",
    summary = "The members with their profiles",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND")),
    responses((status = 200, description = "The members", body = MemberList)))]
pub async fn members(
    State(state): State<EdgeState>,
    tenant: Tenant,
) -> AppResult<Json<MemberList>> {
    let members = state.team.members(&tenant.ctx, tenant.workspace()?).await?;
    Ok(Json(MemberList {
        members: members.iter().map(MemberJson::from).collect(),
    }))
}

/// Changes a member's role; answers the workspace.
#[utoipa::path(patch, path = "/v1/workspaces/{workspace_id}/members/{user_id}", tag = "workspaces", operation_id = "changeRole",
    summary = "Change a member's role",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND"), ("user_id" = String, Path, format = Uuid, description = "The member; one that is unknown or not a UUID answers 404 MEMBER_NOT_FOUND")),
    request_body = ChangeRoleBody,
    responses(
        (status = 200, description = "The workspace", body = WorkspaceView, headers(("ETag" = String, description = "The workspace's version"))),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The change would leave no Owner, or the workspace is archived", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_role(
    State(state): State<EdgeState>,
    tenant: Tenant,
    path: PathIds,
    ApiJson(body): ApiJson<ChangeRoleBody>,
) -> AppResult<Resource<WorkspaceView>> {
    let user_id = path.uuid("user_id", member_not_found)?;
    let changed = state
        .team
        .change_role(&tenant.ctx, tenant.workspace_id, user_id, body.role.into())
        .await?;
    state.saw(&changed).await;
    Ok(Resource::workspace(&changed))
}

/// Removes a member: 204.
#[utoipa::path(delete, path = "/v1/workspaces/{workspace_id}/members/{user_id}", tag = "workspaces", operation_id = "removeMember",
    summary = "Remove a member",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND"), ("user_id" = String, Path, format = Uuid, description = "The member; one that is unknown or not a UUID answers 404 MEMBER_NOT_FOUND")),
    responses(
        (status = 204, description = "Removed"),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The last Owner cannot be removed, or the workspace is archived", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn remove_member(
    State(state): State<EdgeState>,
    tenant: Tenant,
    path: PathIds,
) -> AppResult<StatusCode> {
    let user_id = path.uuid("user_id", member_not_found)?;
    let changed = state
        .team
        .remove_member(&tenant.ctx, tenant.workspace_id, user_id)
        .await?;
    state.saw(&changed).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The caller leaves the workspace: 204.
#[utoipa::path(post, path = "/v1/workspaces/{workspace_id}/leave", tag = "workspaces", operation_id = "leaveWorkspace",
    summary = "The caller leaves the workspace",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND")),
    responses(
        (status = 204, description = "Left"),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The last Owner cannot leave", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn leave(State(state): State<EdgeState>, tenant: Tenant) -> AppResult<StatusCode> {
    let left = state.team.leave(&tenant.ctx, tenant.workspace_id).await?;
    state.saw(&left).await;
    Ok(StatusCode::NO_CONTENT)
}

/// The invitations of the workspace, as the tenancy check read it.
#[utoipa::path(get, path = "/v1/workspaces/{workspace_id}/invitations", tag = "workspaces", operation_id = "listInvitations",
    summary = "The workspace's invitations",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND")),
    responses((status = 200, description = "The invitations", body = InvitationList)))]
pub async fn invitations(tenant: Tenant) -> AppResult<Json<InvitationList>> {
    Ok(Json(InvitationList {
        invitations: tenant
            .workspace()?
            .invitations
            .iter()
            .map(InvitationView::from)
            .collect(),
    }))
}

/// One invitation of the workspace, as the tenancy check read it: whatever its state, so an
/// admin can see whether it was accepted, revoked or let expire.
#[utoipa::path(get, path = "/v1/workspaces/{workspace_id}/invitations/{invitation_id}", tag = "workspaces", operation_id = "getInvitation",
    summary = "One invitation of the workspace",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND"), ("invitation_id" = String, Path, format = Uuid, description = "The invitation; one that is unknown, not a UUID or another workspace's answers 404 INVITATION_NOT_FOUND")),
    responses(
        (status = 200, description = "The invitation", body = InvitationView),
        (status = 404, description = "No such invitation in this workspace (INVITATION_NOT_FOUND)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invitation(tenant: Tenant, path: PathIds) -> AppResult<Json<InvitationView>> {
    let id: InvitationId = path.uuid("invitation_id", invitation_not_found)?;
    let invitations = &tenant.workspace()?.invitations;
    let invitation = invitations.iter().find(|invitation| invitation.id == id);
    let invitation = invitation.ok_or_else(invitation_not_found)?;
    Ok(Json(InvitationView::from(invitation)))
}

/// Invites someone by email: 201 with the invitation (its token goes by mail only).
#[utoipa::path(post, path = "/v1/workspaces/{workspace_id}/invitations", tag = "workspaces", operation_id = "invite",
    summary = "Invite someone by email (the token goes by mail only)",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND")),
    request_body = InviteBody,
    responses(
        (status = 201, description = "The invitation", body = InvitationView),
        (status = 409, description = "Already a member or invited, or a concurrent change won", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No free seat, too many invitations, or the workspace is archived", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn invite(
    State(state): State<EdgeState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<InviteBody>,
) -> AppResult<Response> {
    let invitation = state
        .team
        .invite(
            &tenant.ctx,
            tenant.workspace()?,
            body.email,
            body.role.into(),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(InvitationView::from(&invitation))).into_response())
}

/// Revokes a pending invitation: 204.
#[utoipa::path(delete, path = "/v1/workspaces/{workspace_id}/invitations/{invitation_id}", tag = "workspaces", operation_id = "revokeInvitation",
    summary = "Revoke a pending invitation",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND"), ("invitation_id" = String, Path, format = Uuid, description = "The invitation; one that is unknown or not a UUID answers 404 INVITATION_NOT_FOUND")),
    responses(
        (status = 204, description = "Revoked"),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The invitation is no longer pending", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke(
    State(state): State<EdgeState>,
    tenant: Tenant,
    path: PathIds,
) -> AppResult<StatusCode> {
    let invitation_id = path.uuid("invitation_id", invitation_not_found)?;
    let changed = state
        .team
        .revoke(&tenant.ctx, tenant.workspace_id, invitation_id)
        .await?;
    state.saw(&changed).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Accepts an invitation with its mailed token; answers the workspace joined.
#[utoipa::path(post, path = "/v1/invitations/accept", tag = "workspaces", operation_id = "acceptInvitation",
    summary = "Accept an invitation with its mailed token",
    request_body = TokenBody,
    responses(
        (status = 200, description = "The workspace joined", body = WorkspaceView, headers(("ETag" = String, description = "The workspace's version"))),
        (status = 404, description = "The token is unknown (INVITATION_NOT_FOUND)", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The invitation is expired, revoked or for another address, or no seat is free", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn accept(
    State(state): State<EdgeState>,
    caller: Caller,
    ApiJson(body): ApiJson<TokenBody>,
) -> AppResult<Resource<WorkspaceView>> {
    let joined = state.team.accept(&caller.ctx, body.token).await?;
    state.saw(&joined).await;
    Ok(Resource::workspace(&joined))
}
