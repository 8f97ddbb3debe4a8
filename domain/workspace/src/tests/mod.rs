//! Tests of the Workspace rules, named after the rule they check.

mod properties;
mod rules;
mod values;

use chrono::DateTime;
use kernel_domain::{Email, Timestamp, Uuid};

use crate::{
    InvitationId, Role, Slug, SubscriptionStanding, TokenHash, UserId, Workspace, WorkspaceEvent,
    WorkspaceId, WorkspaceName,
};

pub(crate) fn t0() -> Timestamp {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

pub(crate) fn uid(n: u128) -> UserId {
    UserId::from_uuid(Uuid::from_u128(n))
}

pub(crate) fn iid(n: u128) -> InvitationId {
    InvitationId::from_uuid(Uuid::from_u128(1_000 + n))
}

pub(crate) fn wid() -> WorkspaceId {
    WorkspaceId::from_uuid(Uuid::from_u128(42))
}

pub(crate) fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

/// The email address of user `n`.
pub(crate) fn email_of(n: u128) -> Email {
    email(&format!("user{n}@example.com"))
}

pub(crate) fn slug(raw: &str) -> Slug {
    Slug::parse(raw).unwrap()
}

pub(crate) fn name(raw: &str) -> WorkspaceName {
    WorkspaceName::parse(raw).unwrap()
}

pub(crate) fn token(byte: u8) -> TokenHash {
    TokenHash::from_bytes([byte; 32])
}

/// Acme, created by user 1 (its Owner) at [`t0`] with 10 seats.
pub(crate) fn created() -> Workspace {
    created_with_seats(10)
}

pub(crate) fn created_with_seats(seats: u32) -> Workspace {
    Workspace::create(wid(), slug("acme"), name("Acme"), uid(1), seats, t0())
        .unwrap()
        .0
}

/// User 1 invites user `n` as `role` (invitation `n`, token `n`) at `now`.
pub(crate) fn invite(
    ws: &mut Workspace,
    n: u128,
    role: Role,
    now: Timestamp,
) -> Result<Vec<WorkspaceEvent>, crate::WorkspaceError> {
    ws.invite(uid(1), iid(n), email_of(n), None, role, token(n as u8), now)
}

/// User `n` accepts invitation `n` with the right token and email at `now`.
pub(crate) fn accept(
    ws: &mut Workspace,
    n: u128,
    now: Timestamp,
) -> Result<Vec<WorkspaceEvent>, crate::WorkspaceError> {
    ws.accept_invitation(iid(n), uid(n), &email_of(n), &token(n as u8), now)
}

/// Acme with user 1 as Owner and users 2.. with the given roles (Owners joined as Admins and
/// were promoted by user 1).
pub(crate) fn with_members(roles: &[Role]) -> Workspace {
    let mut ws = created();
    for (i, role) in roles.iter().enumerate() {
        let n = i as u128 + 2;
        let invited_as = if *role == Role::Member {
            Role::Member
        } else {
            Role::Admin
        };
        invite(&mut ws, n, invited_as, t0()).unwrap();
        accept(&mut ws, n, t0()).unwrap();
        if *role == Role::Owner {
            ws.change_role(uid(1), uid(n), Role::Owner, t0()).unwrap();
        }
    }
    ws
}
