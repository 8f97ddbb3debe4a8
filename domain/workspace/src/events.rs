//! What happens to a workspace, in the past tense.

use serde::{Deserialize, Serialize};

use kernel_domain::{DomainEvent, Email, Timestamp};

use crate::{InvitationId, Role, Slug, SubscriptionStanding, UserId, WorkspaceId, WorkspaceName};

/// Something that happened to a [`crate::Workspace`].
///
/// Every event names the workspace and when it happened. No event ever carries a token or a
/// token hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum WorkspaceEvent {
    /// A workspace was created; its creator is its Owner.
    Created {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Its slug.
        slug: Slug,
        /// Its name.
        name: WorkspaceName,
        /// Who created it (and owns it).
        created_by: UserId,
        /// Its seat limit.
        seat_limit: u32,
        /// When.
        occurred_at: Timestamp,
    },
    /// The workspace was renamed.
    Renamed {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// The new name.
        name: WorkspaceName,
        /// Who renamed it.
        renamed_by: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// Someone was invited; the application mails them the token.
    InvitationSent {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Which invitation.
        invitation_id: InvitationId,
        /// Who is invited.
        email: Email,
        /// The role they get on accepting.
        role: Role,
        /// Who invited.
        invited_by: UserId,
        /// When the invitation stops working.
        expires_at: Timestamp,
        /// When.
        occurred_at: Timestamp,
    },
    /// An invitation was accepted (followed by [`WorkspaceEvent::MemberJoined`]).
    InvitationAccepted {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Which invitation.
        invitation_id: InvitationId,
        /// The user who accepted.
        user_id: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// An Owner or Admin withdrew an invitation.
    InvitationRevoked {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Which invitation.
        invitation_id: InvitationId,
        /// Who revoked it.
        revoked_by: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// A pending invitation's time ran out.
    InvitationExpired {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Which invitation.
        invitation_id: InvitationId,
        /// When.
        occurred_at: Timestamp,
    },
    /// A user became a member.
    MemberJoined {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Who.
        user_id: UserId,
        /// Their role.
        role: Role,
        /// When.
        occurred_at: Timestamp,
    },
    /// A member's role changed.
    RoleChanged {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Whose role.
        user_id: UserId,
        /// The role they had.
        from: Role,
        /// The role they have now.
        to: Role,
        /// Who changed it.
        changed_by: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// An Owner or Admin removed a member.
    MemberRemoved {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Who was removed.
        user_id: UserId,
        /// Who removed them.
        removed_by: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// A member left of their own accord.
    MemberLeft {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Who left.
        user_id: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// A member whose Identity user was erased was removed by the system.
    ErasedUserRemoved {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// The erased user.
        user_id: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// The system set the seat limit (following the subscription).
    SeatLimitChanged {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// The new limit.
        seat_limit: u32,
        /// When.
        occurred_at: Timestamp,
    },
    /// The system reported where the subscription stands, newer than any report before
    /// (following the subscription).
    SubscriptionFollowed {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Where the subscription stands.
        standing: SubscriptionStanding,
        /// The subscription's version the standing was read at.
        subscription_version: u64,
        /// When.
        occurred_at: Timestamp,
    },
    /// The workspace was archived.
    Archived {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// The Owner who archived it; `None` when the system did, because its last Owner was
        /// erased.
        archived_by: Option<UserId>,
        /// When.
        occurred_at: Timestamp,
    },
    /// An Owner unarchived the workspace.
    Unarchived {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Who unarchived it.
        unarchived_by: UserId,
        /// When.
        occurred_at: Timestamp,
    },
    /// The creator deleted the (pristine) workspace; the store removes it.
    Deleted {
        /// Which workspace.
        workspace_id: WorkspaceId,
        /// Who deleted it.
        deleted_by: UserId,
        /// When.
        occurred_at: Timestamp,
    },
}

impl WorkspaceEvent {
    /// The workspace it happened to.
    pub fn workspace_id(&self) -> WorkspaceId {
        match self {
            WorkspaceEvent::Created { workspace_id, .. }
            | WorkspaceEvent::Renamed { workspace_id, .. }
            | WorkspaceEvent::InvitationSent { workspace_id, .. }
            | WorkspaceEvent::InvitationAccepted { workspace_id, .. }
            | WorkspaceEvent::InvitationRevoked { workspace_id, .. }
            | WorkspaceEvent::InvitationExpired { workspace_id, .. }
            | WorkspaceEvent::MemberJoined { workspace_id, .. }
            | WorkspaceEvent::RoleChanged { workspace_id, .. }
            | WorkspaceEvent::MemberRemoved { workspace_id, .. }
            | WorkspaceEvent::MemberLeft { workspace_id, .. }
            | WorkspaceEvent::ErasedUserRemoved { workspace_id, .. }
            | WorkspaceEvent::SeatLimitChanged { workspace_id, .. }
            | WorkspaceEvent::SubscriptionFollowed { workspace_id, .. }
            | WorkspaceEvent::Archived { workspace_id, .. }
            | WorkspaceEvent::Unarchived { workspace_id, .. }
            | WorkspaceEvent::Deleted { workspace_id, .. } => *workspace_id,
        }
    }

    /// When it happened.
    pub fn occurred_at(&self) -> Timestamp {
        match self {
            WorkspaceEvent::Created { occurred_at, .. }
            | WorkspaceEvent::Renamed { occurred_at, .. }
            | WorkspaceEvent::InvitationSent { occurred_at, .. }
            | WorkspaceEvent::InvitationAccepted { occurred_at, .. }
            | WorkspaceEvent::InvitationRevoked { occurred_at, .. }
            | WorkspaceEvent::InvitationExpired { occurred_at, .. }
            | WorkspaceEvent::MemberJoined { occurred_at, .. }
            | WorkspaceEvent::RoleChanged { occurred_at, .. }
            | WorkspaceEvent::MemberRemoved { occurred_at, .. }
            | WorkspaceEvent::MemberLeft { occurred_at, .. }
            | WorkspaceEvent::ErasedUserRemoved { occurred_at, .. }
            | WorkspaceEvent::SeatLimitChanged { occurred_at, .. }
            | WorkspaceEvent::SubscriptionFollowed { occurred_at, .. }
            | WorkspaceEvent::Archived { occurred_at, .. }
            | WorkspaceEvent::Unarchived { occurred_at, .. }
            | WorkspaceEvent::Deleted { occurred_at, .. } => *occurred_at,
        }
    }
}

impl DomainEvent for WorkspaceEvent {
    fn event_type(&self) -> &'static str {
        match self {
            WorkspaceEvent::Created { .. } => "workspace.workspace.created",
            WorkspaceEvent::Renamed { .. } => "workspace.workspace.renamed",
            WorkspaceEvent::InvitationSent { .. } => "workspace.workspace.invitation_sent",
            WorkspaceEvent::InvitationAccepted { .. } => "workspace.workspace.invitation_accepted",
            WorkspaceEvent::InvitationRevoked { .. } => "workspace.workspace.invitation_revoked",
            WorkspaceEvent::InvitationExpired { .. } => "workspace.workspace.invitation_expired",
            WorkspaceEvent::MemberJoined { .. } => "workspace.workspace.member_joined",
            WorkspaceEvent::RoleChanged { .. } => "workspace.workspace.role_changed",
            WorkspaceEvent::MemberRemoved { .. } => "workspace.workspace.member_removed",
            WorkspaceEvent::MemberLeft { .. } => "workspace.workspace.member_left",
            WorkspaceEvent::ErasedUserRemoved { .. } => "workspace.workspace.erased_user_removed",
            WorkspaceEvent::SeatLimitChanged { .. } => "workspace.workspace.seat_limit_changed",
            WorkspaceEvent::SubscriptionFollowed { .. } => {
                "workspace.workspace.subscription_followed"
            }
            WorkspaceEvent::Archived { .. } => "workspace.workspace.archived",
            WorkspaceEvent::Unarchived { .. } => "workspace.workspace.unarchived",
            WorkspaceEvent::Deleted { .. } => "workspace.workspace.deleted",
        }
    }
}
