//! The Workspace bounded context: tenancy, who belongs to a tenant, and what they may do.
//!
//! # The workspace
//!
//! A [`Workspace`] is one tenant, the aggregate at the centre of this context. It has:
//!
//! - a **slug** for URLs: 3 to 40 of `a-z`, `0-9` and `-`, not starting or ending with `-`,
//!   not one of the [`RESERVED_SLUGS`] (`admin`, `api`, `www`, ...), and unique across
//!   workspaces (the store enforces uniqueness);
//! - a **name** of 1 to 100 characters without control characters;
//! - **members**: Identity users, each at most once, each an Owner, Admin or Member
//!   ([`Role`]). There is always at least one Owner;
//! - **invitations** sent to email addresses;
//! - a **seat limit**, set by the system to follow the subscription;
//! - the subscription's **standing** ([`SubscriptionStanding`]), set by the system to follow
//!   the subscription's status: invitations need good standing (`SUBSCRIPTION_INACTIVE`).
//!
//! # Who may do what
//!
//! | command | who |
//! |---|---|
//! | rename | Owners, Admins |
//! | invite as Member, revoke an invitation, remove a Member | Owners, Admins |
//! | invite as Admin, change a role, remove an Admin or Owner | Owners |
//! | archive, unarchive | Owners |
//! | leave | any member |
//! | delete | the creator, an Owner, while the workspace is pristine |
//!
//! An acting user who is not a member is refused with `NOT_A_MEMBER`, one whose role is too
//! low with `INSUFFICIENT_ROLE` (both permission denied). Nobody removes or demotes the last
//! Owner, and the last Owner cannot leave (`LAST_OWNER`). Nobody is invited as Owner: the
//! Owner role is only granted by [`Workspace::change_role`].
//!
//! # Invitations and seats
//!
//! An invitation names an email address and a role (Member or Admin) and is valid for
//! [`INVITATION_TTL`] (7 days). The application mails the random token; the workspace keeps
//! only its SHA-256 [`TokenHash`]. An email has at most one pending invitation; inviting a
//! member is refused (`ALREADY_MEMBER`, the application tells who has the address).
//! Accepting needs the matching token, a pending unexpired invitation, and a user whose
//! (verified) email is the invited one; they join with the invitation's role.
//!
//! **Seats in use** are members plus pending invitations, and never exceed the seat limit: an
//! invitation past it is refused (`SEAT_LIMIT_REACHED`) and the limit cannot be lowered below
//! the seats in use (`SEAT_LIMIT_BELOW_SEATS_IN_USE`).
//!
//! Pending invitations whose time ran out are marked expired by
//! [`Workspace::expire_invitations`] (the store's sweeper calls it at
//! [`Workspace::next_due`]), and by every accepted command before it does anything else, so
//! an expired invitation never holds a seat or blocks a new invitation to its address.
//!
//! # Archiving, erasure and deletion
//!
//! An archived workspace refuses every change by its members (`WORKSPACE_ARCHIVED`) except
//! [`Workspace::unarchive`] by an Owner. The system's own policies still apply to it:
//! expiring invitations, setting the seat limit, following the subscription's standing, and
//! removing erased users.
//!
//! When an Identity user is erased, [`Workspace::remove_erased_user`] removes their
//! membership. If they were the last Owner, that would break the invariant, so instead their
//! membership stays as a tombstone (a user id only, no personal data) and the workspace is
//! archived by the system.
//!
//! Only a **pristine** workspace can be deleted: one whose creator is the only member it ever
//! had and which never sent an invitation. [`Workspace::delete`] checks that and answers the
//! event; the store then removes the document.
//!
//! **Architecture invariant:** nothing here performs I/O, reads a clock, draws random
//! numbers, spawns or awaits. Ids, `now` and token hashes are all handed in.

mod error;
mod events;
mod members;
mod values;
mod workspace;

#[cfg(test)]
mod tests;

use chrono::Duration;

pub use error::WorkspaceError;
pub use events::WorkspaceEvent;
pub use kernel_domain::{TokenHash, TokenHashError};
pub use members::{Invitation, InvitationStatus, Member, Role};
pub use values::{RESERVED_SLUGS, Slug, SlugError, SubscriptionStanding, TextError, WorkspaceName};
pub use workspace::Workspace;

kernel_domain::entity_id!(
    /// The id of a [`Workspace`].
    WorkspaceId
);
kernel_domain::entity_id!(
    /// The id of an [`Invitation`].
    InvitationId
);
kernel_domain::entity_id!(
    /// An Identity user's id, as this context sees it (the same UUID).
    UserId
);

/// How long an invitation can be accepted after it was sent.
pub const INVITATION_TTL: Duration = Duration::days(7);

/// How many resolved (accepted, revoked or expired) invitations a workspace remembers; older
/// ones are forgotten, so the workspace stays small. Pending invitations are always kept.
pub const MAX_RESOLVED_INVITATIONS: usize = 100;
