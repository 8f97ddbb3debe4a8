//! Members, their roles, and invitations: the children of a [`crate::Workspace`].

use serde::{Deserialize, Serialize};

use kernel_domain::{Email, Timestamp};

use crate::{InvitationId, TokenHash, UserId};

/// What a member may do in a workspace.
///
/// - **Owner**: everything, including granting and revoking the Owner and Admin roles,
///   removing Admins and Owners, archiving and unarchiving. A workspace always has one.
/// - **Admin**: renames the workspace, invites Members, removes Members, revokes invitations.
/// - **Member**: uses the workspace and may leave it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Full control.
    Owner,
    /// Manages members and invitations.
    Admin,
    /// Uses the workspace.
    Member,
}

impl Role {
    /// Every role, highest first.
    pub const ALL: [Role; 3] = [Role::Owner, Role::Admin, Role::Member];

    /// Whether the role is Owner or Admin: the roles that manage Members and invitations.
    pub const fn manages_members(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        })
    }
}

/// One user's membership of a workspace.
///
/// Only the user's id is kept (no personal data). Fields are public for reading; only the
/// aggregate makes and changes members.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    /// The Identity user.
    pub user_id: UserId,
    /// What they may do.
    pub role: Role,
    /// When they joined (created the workspace or accepted an invitation).
    pub joined_at: Timestamp,
}

impl Member {
    /// The Identity user.
    pub fn user_id(&self) -> UserId {
        self.user_id
    }

    /// What they may do.
    pub fn role(&self) -> Role {
        self.role
    }

    /// When they joined.
    pub fn joined_at(&self) -> Timestamp {
        self.joined_at
    }
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InvitationStatus {
    /// Waiting to be accepted; holds a seat.
    Pending,
    /// The invitee accepted and became a member.
    Accepted,
    /// An Owner or Admin withdrew it.
    Revoked,
    /// Its time ran out before it was accepted.
    Expired,
}

/// An invitation to join a workspace, sent to an email address.
///
/// The token itself was mailed to the invitee; only its hash is kept, privately, to check the
/// token presented on acceptance. Fields are public for reading; only the aggregate makes and
/// changes invitations (it cannot be built elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invitation {
    /// The invitation's id, made by the adapter.
    pub id: InvitationId,
    /// Who is invited.
    pub email: Email,
    /// The role the invitee gets on accepting (Member or Admin).
    pub role: Role,
    /// The Owner or Admin who invited.
    pub invited_by: UserId,
    /// When it was sent.
    pub invited_at: Timestamp,
    /// When it stops being acceptable ([`crate::INVITATION_TTL`] after it was sent).
    pub expires_at: Timestamp,
    /// Where it stands.
    pub status: InvitationStatus,
    /// The SHA-256 hash of the mailed token; never leaves the aggregate but in its document.
    pub(crate) token_hash: TokenHash,
}

impl Invitation {
    /// The invitation's id.
    pub fn id(&self) -> InvitationId {
        self.id
    }

    /// Who is invited.
    pub fn email(&self) -> &Email {
        &self.email
    }

    /// The role granted on accepting.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Who invited.
    pub fn invited_by(&self) -> UserId {
        self.invited_by
    }

    /// When it was sent.
    pub fn invited_at(&self) -> Timestamp {
        self.invited_at
    }

    /// When it expires.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// Where it stands.
    pub fn status(&self) -> InvitationStatus {
        self.status
    }

    /// Whether it is pending (holds a seat and may be accepted, if not yet expired).
    pub fn is_pending(&self) -> bool {
        self.status == InvitationStatus::Pending
    }

    /// Whether it is pending and its time ran out by `now` (the sweeper will expire it).
    pub fn is_due_at(&self, now: Timestamp) -> bool {
        self.is_pending() && self.expires_at <= now
    }
}
