//! Why a command on a [`crate::Workspace`] was refused, and how that reads at the edge.

use kernel_domain::{Rejection, RejectionKind};

use crate::{SlugError, TextError};

/// Why the Workspace domain refused a value or a command.
///
/// Every variant converts into a [`Rejection`] with a stable UPPER_SNAKE reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkspaceError {
    /// The slug breaks its rule (`INVALID_SLUG`, or `SLUG_RESERVED` for a reserved one).
    #[error("the slug {0}")]
    InvalidSlug(SlugError),
    /// The workspace name breaks its rule (`INVALID_WORKSPACE_NAME`).
    #[error("the workspace name {0}")]
    InvalidName(TextError),
    /// A seat limit of zero: a workspace always has its Owner (`INVALID_SEAT_LIMIT`).
    #[error("the seat limit must be at least 1")]
    InvalidSeatLimit,
    /// Inviting someone as Owner: the Owner role is only granted by changing the role of a
    /// member (`INVALID_INVITATION_ROLE`).
    #[error("invitations may grant the Member or Admin role only")]
    InvalidInvitationRole,
    /// The acting user is not a member of the workspace (`NOT_A_MEMBER`).
    #[error("the acting user is not a member of this workspace")]
    NotAMember,
    /// The acting user's role does not allow this (`INSUFFICIENT_ROLE`).
    #[error("the acting user's role does not allow this")]
    InsufficientRole,
    /// The workspace is archived: only an Owner may unarchive it (`WORKSPACE_ARCHIVED`).
    #[error("the workspace is archived")]
    Archived,
    /// Unarchiving a workspace that is not archived (`WORKSPACE_NOT_ARCHIVED`).
    #[error("the workspace is not archived")]
    NotArchived,
    /// The user named as a member is not one (`MEMBER_NOT_FOUND`).
    #[error("no such member")]
    MemberNotFound,
    /// The user is already a member (`ALREADY_MEMBER`).
    #[error("the user is already a member of this workspace")]
    AlreadyMember,
    /// Changing a member's role to the one they have (`ROLE_UNCHANGED`).
    #[error("the member already has this role")]
    RoleUnchanged,
    /// Removing or demoting the last Owner, or the last Owner leaving (`LAST_OWNER`).
    #[error("a workspace must keep at least one owner")]
    LastOwner,
    /// The subscription is not in good standing (neither trialing nor active), so the
    /// workspace sends no invitations (`SUBSCRIPTION_INACTIVE`).
    #[error("invitations need a trialing or active subscription")]
    SubscriptionInactive,
    /// Every seat is taken by a member or a pending invitation (`SEAT_LIMIT_REACHED`).
    #[error("every seat is taken")]
    SeatLimitReached,
    /// A seat limit below the seats in use (`SEAT_LIMIT_BELOW_SEATS_IN_USE`).
    #[error("the seat limit {limit} is below the {in_use} seats in use")]
    SeatLimitBelowSeatsInUse {
        /// The limit asked for.
        limit: u32,
        /// Members plus pending invitations.
        in_use: u32,
    },
    /// No invitation with that id (`INVITATION_NOT_FOUND`).
    #[error("no such invitation")]
    InvitationNotFound,
    /// An invitation with that id was already made (`INVITATION_ALREADY_EXISTS`).
    #[error("an invitation with this id already exists")]
    InvitationAlreadyExists,
    /// The email already has a pending invitation (`INVITATION_ALREADY_PENDING`).
    #[error("this email address already has a pending invitation")]
    InvitationAlreadyPending,
    /// The invitation was already accepted or revoked (`INVITATION_NOT_PENDING`).
    #[error("the invitation is no longer pending")]
    InvitationNotPending,
    /// The invitation's time ran out (`INVITATION_EXPIRED`).
    #[error("the invitation has expired")]
    InvitationExpired,
    /// The presented token is not the invitation's (`TOKEN_INVALID`).
    #[error("the invitation token is invalid")]
    TokenInvalid,
    /// The accepting user's email is not the one invited (`INVITATION_EMAIL_MISMATCH`).
    #[error("the invitation was sent to another email address")]
    EmailMismatch,
    /// Deleting a workspace that had other members or sent invitations (`NOT_PRISTINE`).
    #[error("only a workspace that never had other members or invitations can be deleted")]
    NotPristine,
}

impl WorkspaceError {
    /// The stable machine-readable reason.
    pub const fn reason(&self) -> &'static str {
        match self {
            WorkspaceError::InvalidSlug(SlugError::Reserved) => "SLUG_RESERVED",
            WorkspaceError::InvalidSlug(_) => "INVALID_SLUG",
            WorkspaceError::InvalidName(_) => "INVALID_WORKSPACE_NAME",
            WorkspaceError::InvalidSeatLimit => "INVALID_SEAT_LIMIT",
            WorkspaceError::InvalidInvitationRole => "INVALID_INVITATION_ROLE",
            WorkspaceError::NotAMember => "NOT_A_MEMBER",
            WorkspaceError::InsufficientRole => "INSUFFICIENT_ROLE",
            WorkspaceError::Archived => "WORKSPACE_ARCHIVED",
            WorkspaceError::NotArchived => "WORKSPACE_NOT_ARCHIVED",
            WorkspaceError::MemberNotFound => "MEMBER_NOT_FOUND",
            WorkspaceError::AlreadyMember => "ALREADY_MEMBER",
            WorkspaceError::RoleUnchanged => "ROLE_UNCHANGED",
            WorkspaceError::LastOwner => "LAST_OWNER",
            WorkspaceError::SubscriptionInactive => "SUBSCRIPTION_INACTIVE",
            WorkspaceError::SeatLimitReached => "SEAT_LIMIT_REACHED",
            WorkspaceError::SeatLimitBelowSeatsInUse { .. } => "SEAT_LIMIT_BELOW_SEATS_IN_USE",
            WorkspaceError::InvitationNotFound => "INVITATION_NOT_FOUND",
            WorkspaceError::InvitationAlreadyExists => "INVITATION_ALREADY_EXISTS",
            WorkspaceError::InvitationAlreadyPending => "INVITATION_ALREADY_PENDING",
            WorkspaceError::InvitationNotPending => "INVITATION_NOT_PENDING",
            WorkspaceError::InvitationExpired => "INVITATION_EXPIRED",
            WorkspaceError::TokenInvalid => "TOKEN_INVALID",
            WorkspaceError::EmailMismatch => "INVITATION_EMAIL_MISMATCH",
            WorkspaceError::NotPristine => "NOT_PRISTINE",
        }
    }

    /// The kind of refusal.
    pub const fn kind(&self) -> RejectionKind {
        match self {
            WorkspaceError::InvalidSlug(_)
            | WorkspaceError::InvalidName(_)
            | WorkspaceError::InvalidSeatLimit
            | WorkspaceError::InvalidInvitationRole => RejectionKind::InvalidArgument,
            WorkspaceError::NotAMember
            | WorkspaceError::InsufficientRole
            | WorkspaceError::EmailMismatch => RejectionKind::PermissionDenied,
            WorkspaceError::Archived
            | WorkspaceError::NotArchived
            | WorkspaceError::RoleUnchanged
            | WorkspaceError::LastOwner
            | WorkspaceError::SubscriptionInactive
            | WorkspaceError::SeatLimitReached
            | WorkspaceError::SeatLimitBelowSeatsInUse { .. }
            | WorkspaceError::InvitationNotPending
            | WorkspaceError::InvitationExpired
            | WorkspaceError::TokenInvalid
            | WorkspaceError::NotPristine => RejectionKind::FailedPrecondition,
            WorkspaceError::MemberNotFound | WorkspaceError::InvitationNotFound => {
                RejectionKind::NotFound
            }
            WorkspaceError::AlreadyMember
            | WorkspaceError::InvitationAlreadyExists
            | WorkspaceError::InvitationAlreadyPending => RejectionKind::AlreadyExists,
        }
    }

    /// The request field a bad value came from, for input errors.
    const fn field(&self) -> Option<&'static str> {
        match self {
            WorkspaceError::InvalidSlug(_) => Some("slug"),
            WorkspaceError::InvalidName(_) => Some("name"),
            WorkspaceError::InvalidSeatLimit => Some("seat_limit"),
            WorkspaceError::InvalidInvitationRole => Some("role"),
            _ => None,
        }
    }
}

impl From<WorkspaceError> for Rejection {
    fn from(error: WorkspaceError) -> Self {
        match error.field() {
            Some(field) => Rejection::invalid_field(error.reason(), field, error.to_string()),
            None => Rejection::new(error.kind(), error.reason(), error.to_string()),
        }
    }
}
