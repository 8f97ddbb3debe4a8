//! Workspaces as the use cases see them: the [`Workspaces`] port, a [`Workspace`] with its
//! members and invitations, the one application [`Role`], and the typed errors of its
//! methods.

use async_trait::async_trait;
use kernel_domain::{Timestamp, Version};

use crate::types::{InvitationId, UserId, WorkspaceId, port_error, surely_refused};
use crate::{AppError, AppResult, Ctx};

/// A member's role, ordered by what it may do: Member < Admin < Owner. A route's least
/// role compares against it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    /// The role's name as the API spells it: `member`, `admin`, `owner`.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

/// Where a workspace's subscription stands, as the workspace follows it: invitations need
/// good standing (a trialing or active subscription, see
/// [`crate::SubscriptionStatus::allows_invitations`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionStanding {
    Good,
    Lapsed,
}

impl From<crate::SubscriptionStatus> for SubscriptionStanding {
    fn from(status: crate::SubscriptionStatus) -> Self {
        if status.allows_invitations() {
            SubscriptionStanding::Good
        } else {
            SubscriptionStanding::Lapsed
        }
    }
}

/// A member of a workspace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub user_id: UserId,
    pub role: Role,
    pub join_time: Timestamp,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvitationState {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

/// An invitation to join a workspace. Its token was mailed; the workspace keeps only a hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invitation {
    pub id: InvitationId,
    /// The invitee's address, as Workspace stores it (trimmed, lower-case).
    pub email: String,
    /// The role the invitee gets on accepting (Member or Admin).
    pub role: Role,
    pub inviter_id: UserId,
    pub expire_time: Timestamp,
    pub state: InvitationState,
}

/// A workspace (the tenant): its members, invitations and seats.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub slug: String,
    pub name: String,
    pub members: Vec<Member>,
    /// Every pending invitation and the latest resolved ones, as
    /// [`Workspaces::get_workspace`] reads them; empty in what commands and lists return
    /// (Workspace's basic view: the invitations are its longest list).
    pub invitations: Vec<Invitation>,
    pub seat_limit: i32,
    /// Members plus pending invitations.
    pub seats_in_use: i32,
    pub archived: bool,
    /// How many commands the workspace has accepted (its etag).
    pub version: Version,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
}

impl Workspace {
    /// The member who is `user`, if any.
    pub fn member(&self, user: UserId) -> Option<&Member> {
        self.members.iter().find(|member| member.user_id == user)
    }

    /// The members holding `role`.
    pub fn members_with(&self, role: Role) -> impl Iterator<Item = &Member> {
        self.members
            .iter()
            .filter(move |member| member.role == role)
    }
}

/// One page of a user's workspaces.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct WorkspacePage {
    pub workspaces: Vec<Workspace>,
    /// Empty on the last page.
    pub next_page_token: String,
}

/// A new workspace; its creator (the acting user) becomes its Owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewWorkspace {
    pub slug: String,
    pub name: String,
    pub seat_limit: i32,
}

/// An invitation to make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewInvitation {
    pub email: String,
    pub role: Role,
    /// The token to mail; the workspace keeps only its hash.
    pub token: String,
    /// The Identity user who holds `email` now, if any, so a member is not invited again.
    pub invitee: Option<UserId>,
}

/// An invitation to accept, as the acting user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acceptance {
    pub invitation_id: InvitationId,
    pub token: String,
    /// The acting user's address as Identity knows it; it must be the invitation's.
    pub user_email: String,
}

port_error!(
    /// Why reading a workspace gave none.
    WorkspaceReadError {
        /// No such workspace (or it was deleted).
        NotFound,
    }
);

port_error!(
    /// Why a command on a workspace was not carried out.
    WorkspaceChangeError {
        /// No such workspace (or it was deleted).
        NotFound,
        /// Workspace refused for good and surely did not carry out the command: a rule of the
        /// aggregate, bad input, a role too low. Asking again changes nothing. A conflict or
        /// a request id already used for another request is `Other`: the outcome is open.
        Refused,
    }
);

port_error!(
    /// Why a seat limit was not set.
    SeatLimitError {
        /// The workspace has more seats in use than the new limit
        /// (`SEAT_LIMIT_BELOW_SEATS_IN_USE`); it succeeds once enough members leave.
        BelowSeatsInUse,
        /// Refused for good otherwise (as [`WorkspaceChangeError::Refused`]).
        Refused,
    }
);

/// How an adapter classifies a failed read by its kind.
impl From<AppError> for WorkspaceReadError {
    fn from(error: AppError) -> Self {
        if error.is(kernel_domain::RejectionKind::NotFound) {
            WorkspaceReadError::NotFound(error)
        } else {
            WorkspaceReadError::Other(error)
        }
    }
}

/// How an adapter classifies a failed command by its kind.
impl From<AppError> for WorkspaceChangeError {
    fn from(error: AppError) -> Self {
        if error.is(kernel_domain::RejectionKind::NotFound) {
            WorkspaceChangeError::NotFound(error)
        } else if surely_refused(&error) {
            WorkspaceChangeError::Refused(error)
        } else {
            WorkspaceChangeError::Other(error)
        }
    }
}

/// How an adapter classifies a failed seat limit by its reason and kind.
impl From<AppError> for SeatLimitError {
    fn from(error: AppError) -> Self {
        if error.code == "SEAT_LIMIT_BELOW_SEATS_IN_USE" {
            SeatLimitError::BelowSeatsInUse(error)
        } else if surely_refused(&error) {
            SeatLimitError::Refused(error)
        } else {
            SeatLimitError::Other(error)
        }
    }
}

/// The Workspace data service (`saas.workspace.v1.WorkspaceService`).
///
/// Commands take the use case's `step` name: the adapter sends [`Ctx::step`] of it as the
/// command's request id, so a retried use case replays the step instead of repeating it.
/// Commands made for a person need `ctx.actor`; Workspace checks the rules (who may do what,
/// the last Owner, the seat limit) atomically on the workspace as it finds it (no etag is
/// sent).
#[cfg_attr(any(test, feature = "testsuite"), mockall::automock)]
#[async_trait]
pub trait Workspaces: Send + Sync + 'static {
    /// The workspace with this id, with its invitations.
    async fn get_workspace(
        &self,
        ctx: &Ctx,
        id: WorkspaceId,
    ) -> Result<Workspace, WorkspaceReadError>;
    /// The workspaces `user` is a member of, a page of at most `page_size` (0: the
    /// service's default) after `page_token` (empty: the first page).
    async fn list_user_workspaces(
        &self,
        ctx: &Ctx,
        user: UserId,
        page_size: i32,
        page_token: String,
    ) -> AppResult<WorkspacePage>;
    /// Creates a workspace whose Owner is the acting user.
    async fn create_workspace(
        &self,
        ctx: &Ctx,
        step: &str,
        workspace: NewWorkspace,
    ) -> Result<Workspace, WorkspaceChangeError>;
    async fn rename_workspace(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        name: String,
    ) -> Result<Workspace, WorkspaceChangeError>;
    /// Invites someone; answers the workspace and the new invitation.
    async fn invite_member(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        invitation: NewInvitation,
    ) -> Result<(Workspace, Invitation), WorkspaceChangeError>;
    async fn accept_invitation(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        acceptance: Acceptance,
    ) -> Result<Workspace, WorkspaceChangeError>;
    async fn revoke_invitation(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        invitation: InvitationId,
    ) -> Result<Workspace, WorkspaceChangeError>;
    async fn change_member_role(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        user: UserId,
        role: Role,
    ) -> Result<Workspace, WorkspaceChangeError>;
    async fn remove_member(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        user: UserId,
    ) -> Result<Workspace, WorkspaceChangeError>;
    /// The acting user leaves.
    async fn leave_workspace(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
    ) -> Result<Workspace, WorkspaceChangeError>;
    async fn set_seat_limit(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        seat_limit: i32,
    ) -> Result<Workspace, SeatLimitError>;
    /// Follows the subscription's standing as of its `subscription_version`, as the system;
    /// a report older than the last one followed changes nothing.
    async fn follow_subscription(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        standing: SubscriptionStanding,
        subscription_version: Version,
    ) -> Result<Workspace, WorkspaceChangeError>;
    /// Removes an erased user's membership and pending invitations, as the system.
    async fn remove_erased_user(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
        user: UserId,
    ) -> Result<Workspace, WorkspaceChangeError>;
    async fn delete_workspace(
        &self,
        ctx: &Ctx,
        step: &str,
        id: WorkspaceId,
    ) -> Result<(), WorkspaceChangeError>;
}

/// Every workspace `user` is a member of, reading page after page of `page_size`. A service
/// that answers the same page token twice would loop forever: that is an internal fault.
pub async fn all_user_workspaces(
    workspaces: &dyn Workspaces,
    ctx: &Ctx,
    user: UserId,
    page_size: i32,
) -> AppResult<Vec<Workspace>> {
    let mut all = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = workspaces
            .list_user_workspaces(ctx, user, page_size, page_token.clone())
            .await?;
        all.extend(page.workspaces);
        if page.next_page_token.is_empty() {
            return Ok(all);
        }
        if page.next_page_token == page_token {
            return Err(AppError::internal(
                "listing workspaces answered the same page token again",
            ));
        }
        page_token = page.next_page_token;
    }
}

/// Examples for other crates' tests.
#[cfg(any(test, feature = "testsuite"))]
pub mod examples {
    use super::*;
    use crate::types::examples::made_at;

    /// A workspace whose only member is `owner`, with `seat_limit` seats, version 1.
    pub fn workspace(id: WorkspaceId, owner: UserId) -> Workspace {
        Workspace {
            id,
            slug: "acme".to_owned(),
            name: "Acme".to_owned(),
            members: vec![Member {
                user_id: owner,
                role: Role::Owner,
                join_time: made_at(),
            }],
            invitations: Vec::new(),
            seat_limit: 5,
            seats_in_use: 1,
            archived: false,
            version: Version::INITIAL,
            create_time: made_at(),
            update_time: made_at(),
        }
    }

    /// The same workspace with `user` as a member holding `role`.
    pub fn with_member(mut workspace: Workspace, user: UserId, role: Role) -> Workspace {
        workspace.members.push(Member {
            user_id: user,
            role,
            join_time: made_at(),
        });
        workspace.seats_in_use += 1;
        workspace
    }

    /// A pending invitation of `email` as a Member, sent by `inviter`.
    pub fn invitation(email: &str, inviter: UserId) -> Invitation {
        Invitation {
            id: InvitationId::from_uuid(kernel_domain::Uuid::now_v7()),
            email: email.to_owned(),
            role: Role::Member,
            inviter_id: inviter,
            expire_time: made_at() + chrono::Duration::days(7),
            state: InvitationState::Pending,
        }
    }
}
