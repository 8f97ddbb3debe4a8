use chrono::Duration;
use kernel_domain::{AggregateRoot, DomainEvent, Timestamp};

use super::*;
use crate::{INVITATION_TTL, InvitationStatus, Member, WorkspaceError};

use Role::{Admin, Member as Plain, Owner};

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

fn days(n: i64) -> Duration {
    Duration::days(n)
}

// ----- creation -----

#[test]
fn creating_makes_the_creator_the_only_owner() {
    let (ws, events) =
        Workspace::create(wid(), slug("acme"), name("Acme"), uid(1), 5, t0()).unwrap();
    assert_eq!(ws.id(), wid());
    assert_eq!(ws.aggregate_id(), wid().as_uuid());
    assert_eq!(ws.slug().as_str(), "acme");
    assert_eq!(ws.name().as_str(), "Acme");
    assert_eq!(ws.created_by(), uid(1));
    assert_eq!(
        ws.members(),
        &[Member {
            user_id: uid(1),
            role: Owner,
            joined_at: t0()
        }]
    );
    assert_eq!(ws.role_of(uid(1)), Some(Owner));
    assert_eq!(ws.member_ids().collect::<Vec<_>>(), vec![uid(1)]);
    assert_eq!(ws.seat_limit(), 5);
    assert_eq!(ws.seats_in_use(), 1);
    assert!(ws.invitations().is_empty());
    assert!(!ws.is_archived());
    assert!(ws.is_pristine());
    assert_eq!(ws.next_due(), None);
    assert_eq!(ws.created_at(), t0());
    assert_eq!(ws.updated_at(), t0());
    assert_eq!(
        events,
        vec![WorkspaceEvent::Created {
            workspace_id: wid(),
            slug: slug("acme"),
            name: name("Acme"),
            created_by: uid(1),
            seat_limit: 5,
            occurred_at: t0(),
        }]
    );
}

#[test]
fn a_workspace_needs_at_least_one_seat() {
    assert_eq!(
        Workspace::create(wid(), slug("acme"), name("Acme"), uid(1), 0, t0()).map(|_| ()),
        Err(WorkspaceError::InvalidSeatLimit)
    );
    assert!(Workspace::create(wid(), slug("acme"), name("Acme"), uid(1), 1, t0()).is_ok());
}

// ----- authority -----

#[test]
fn owners_and_admins_may_rename_members_may_not() {
    let mut ws = with_members(&[Admin, Plain]);
    let later = t0() + minutes(1);
    let events = ws.rename(uid(2), name("Acme Inc"), later).unwrap();
    assert_eq!(ws.name().as_str(), "Acme Inc");
    assert_eq!(
        events,
        vec![WorkspaceEvent::Renamed {
            workspace_id: wid(),
            name: name("Acme Inc"),
            renamed_by: uid(2),
            occurred_at: later,
        }]
    );
    assert!(ws.rename(uid(1), name("Acme"), later).is_ok());
    assert_eq!(
        ws.rename(uid(3), name("Mine"), later),
        Err(WorkspaceError::InsufficientRole)
    );
}

#[test]
fn non_members_are_refused_with_not_a_member() {
    let mut ws = with_members(&[Plain]);
    invite(&mut ws, 5, Plain, t0()).unwrap();
    let before = ws.clone();
    let stranger = uid(99);
    let results = [
        ws.rename(stranger, name("Mine"), t0()),
        ws.invite(stranger, iid(9), email_of(9), None, Plain, token(9), t0()),
        ws.revoke_invitation(stranger, iid(5), t0()),
        ws.change_role(stranger, uid(2), Admin, t0()),
        ws.remove_member(stranger, uid(2), t0()),
        ws.leave(stranger, t0()),
        ws.archive(stranger, t0()),
        ws.unarchive(stranger, t0()),
        ws.delete(stranger, t0()),
    ];
    for result in results {
        assert_eq!(result, Err(WorkspaceError::NotAMember));
    }
    assert_eq!(ws, before);
    assert_eq!(
        kernel_domain::Rejection::from(WorkspaceError::NotAMember).kind,
        kernel_domain::RejectionKind::PermissionDenied
    );
}

// ----- invitations -----

#[test]
fn inviting_sends_a_pending_invitation_valid_for_seven_days() {
    let mut ws = created();
    let now = t0() + minutes(3);
    let events = invite(&mut ws, 2, Plain, now).unwrap();
    let invitation = ws.invitation(iid(2)).unwrap();
    assert_eq!(invitation.email(), &email_of(2));
    assert_eq!(invitation.role(), Plain);
    assert_eq!(invitation.invited_by(), uid(1));
    assert_eq!(invitation.invited_at(), now);
    assert_eq!(invitation.expires_at(), now + days(7));
    assert_eq!(INVITATION_TTL, days(7));
    assert_eq!(invitation.status(), InvitationStatus::Pending);
    assert_eq!(ws.pending_invitations().count(), 1);
    assert_eq!(ws.next_due(), Some(now + days(7)));
    assert!(!ws.is_pristine());
    assert!(ws.ever_invited());
    assert_eq!(
        events,
        vec![WorkspaceEvent::InvitationSent {
            workspace_id: wid(),
            invitation_id: iid(2),
            email: email_of(2),
            role: Plain,
            invited_by: uid(1),
            expires_at: now + days(7),
            occurred_at: now,
        }]
    );
}

#[test]
fn members_cannot_invite() {
    let mut ws = with_members(&[Plain]);
    assert_eq!(
        ws.invite(uid(2), iid(9), email_of(9), None, Plain, token(9), t0()),
        Err(WorkspaceError::InsufficientRole)
    );
}

#[test]
fn admins_invite_members_but_only_owners_invite_admins() {
    let mut ws = with_members(&[Admin]);
    assert!(
        ws.invite(uid(2), iid(3), email_of(3), None, Plain, token(3), t0())
            .is_ok()
    );
    assert_eq!(
        ws.invite(uid(2), iid(4), email_of(4), None, Admin, token(4), t0()),
        Err(WorkspaceError::InsufficientRole)
    );
    assert!(
        ws.invite(uid(1), iid(4), email_of(4), None, Admin, token(4), t0())
            .is_ok()
    );
}

#[test]
fn nobody_is_invited_as_owner() {
    let mut ws = created();
    assert_eq!(
        invite(&mut ws, 2, Owner, t0()),
        Err(WorkspaceError::InvalidInvitationRole)
    );
    assert!(ws.invitations().is_empty());
}

#[test]
fn inviting_someone_who_is_already_a_member_is_refused() {
    let mut ws = with_members(&[Plain]);
    assert_eq!(
        ws.invite(
            uid(1),
            iid(7),
            email_of(2),
            Some(uid(2)),
            Plain,
            token(7),
            t0()
        ),
        Err(WorkspaceError::AlreadyMember)
    );
    // An address nobody has yet, or a user who is not a member, is fine.
    assert!(
        ws.invite(
            uid(1),
            iid(8),
            email_of(8),
            Some(uid(8)),
            Plain,
            token(8),
            t0()
        )
        .is_ok()
    );
}

#[test]
fn at_most_one_pending_invitation_per_email() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    assert_eq!(
        ws.invite(uid(1), iid(3), email_of(2), None, Admin, token(3), t0()),
        Err(WorkspaceError::InvitationAlreadyPending)
    );
    // Once it is no longer pending the address can be invited again.
    ws.revoke_invitation(uid(1), iid(2), t0()).unwrap();
    assert!(
        ws.invite(uid(1), iid(3), email_of(2), None, Admin, token(3), t0())
            .is_ok()
    );
    assert_eq!(
        ws.pending_invitations()
            .filter(|i| i.email == email_of(2))
            .count(),
        1
    );
}

#[test]
fn an_expired_invitation_does_not_block_a_new_one() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    let later = t0() + days(7);
    let events = ws
        .invite(uid(1), iid(3), email_of(2), None, Plain, token(3), later)
        .unwrap();
    assert_eq!(
        ws.invitation(iid(2)).unwrap().status,
        InvitationStatus::Expired
    );
    assert!(matches!(
        events[..],
        [
            WorkspaceEvent::InvitationExpired { .. },
            WorkspaceEvent::InvitationSent { .. }
        ]
    ));
}

#[test]
fn invitation_ids_are_not_reused() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    assert_eq!(
        ws.invite(uid(1), iid(2), email_of(3), None, Plain, token(3), t0()),
        Err(WorkspaceError::InvitationAlreadyExists)
    );
}

#[test]
fn only_the_latest_resolved_invitations_are_remembered() {
    let mut ws = created_with_seats(1_000);
    let total = crate::MAX_RESOLVED_INVITATIONS as u128 + 5;
    for n in 0..total {
        invite(&mut ws, 10 + n, Plain, t0()).unwrap();
        ws.revoke_invitation(uid(1), iid(10 + n), t0()).unwrap();
    }
    invite(&mut ws, 5, Plain, t0()).unwrap();
    let resolved: Vec<_> = ws
        .invitations()
        .iter()
        .filter(|i| !i.is_pending())
        .collect();
    assert_eq!(resolved.len(), crate::MAX_RESOLVED_INVITATIONS);
    // The oldest five were forgotten; the newest resolved and the pending one are kept.
    assert!(ws.invitation(iid(10)).is_none());
    assert!(ws.invitation(iid(14)).is_none());
    assert!(ws.invitation(iid(15)).is_some());
    assert!(ws.invitation(iid(10 + total - 1)).is_some());
    assert!(ws.invitation(iid(5)).unwrap().is_pending());
}

#[test]
fn pending_invitations_hold_seats() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    invite(&mut ws, 3, Plain, t0()).unwrap();
    assert_eq!(ws.seats_in_use(), 3);
    accept(&mut ws, 2, t0()).unwrap();
    assert_eq!(ws.seats_in_use(), 3);
    ws.revoke_invitation(uid(1), iid(3), t0()).unwrap();
    assert_eq!(ws.seats_in_use(), 2);
}

#[test]
fn invite_past_the_seat_limit_is_refused() {
    let mut ws = created_with_seats(3);
    invite(&mut ws, 2, Plain, t0()).unwrap();
    invite(&mut ws, 3, Plain, t0()).unwrap();
    assert_eq!(ws.seats_in_use(), 3);
    let before = ws.clone();
    assert_eq!(
        invite(&mut ws, 4, Plain, t0()),
        Err(WorkspaceError::SeatLimitReached)
    );
    assert_eq!(ws, before);
    // A seat freed by an expired invitation can be used again.
    assert!(invite(&mut ws, 4, Plain, t0() + days(7)).is_ok());
    assert_eq!(ws.seats_in_use(), 2);
}

fn follow(
    ws: &mut Workspace,
    standing: SubscriptionStanding,
    version: u64,
    now: Timestamp,
) -> Vec<WorkspaceEvent> {
    ws.follow_subscription(standing, version, now).unwrap()
}

#[test]
fn a_lapsed_subscription_refuses_invitations_until_it_is_in_good_standing_again() {
    let mut ws = created();
    assert_eq!(ws.subscription_standing(), SubscriptionStanding::Good);
    let events = follow(&mut ws, SubscriptionStanding::Lapsed, 3, t0() + minutes(1));
    assert_eq!(
        events,
        vec![WorkspaceEvent::SubscriptionFollowed {
            workspace_id: wid(),
            standing: SubscriptionStanding::Lapsed,
            subscription_version: 3,
            occurred_at: t0() + minutes(1),
        }]
    );
    let before = ws.clone();
    assert_eq!(
        invite(&mut ws, 2, Plain, t0() + minutes(2)),
        Err(WorkspaceError::SubscriptionInactive)
    );
    assert_eq!(ws, before);
    // Authority is checked first: a Member learns nothing about billing.
    let mut member = with_members(&[Plain]);
    follow(&mut member, SubscriptionStanding::Lapsed, 1, t0());
    assert_eq!(
        member.invite(uid(2), iid(9), email_of(9), None, Plain, token(9), t0()),
        Err(WorkspaceError::InsufficientRole)
    );

    follow(&mut ws, SubscriptionStanding::Good, 4, t0() + minutes(3));
    assert!(invite(&mut ws, 2, Plain, t0() + minutes(3)).is_ok());
}

#[test]
fn a_report_no_newer_than_the_last_changes_nothing() {
    let mut ws = created();
    follow(&mut ws, SubscriptionStanding::Lapsed, 5, t0());
    let before = ws.clone();
    // Redelivered, or overtaken by the report of version 5.
    for version in [5, 4, 0] {
        let events = follow(
            &mut ws,
            SubscriptionStanding::Good,
            version,
            t0() + minutes(1),
        );
        assert_eq!(events, vec![]);
        assert_eq!(ws, before);
    }
    // A newer report of the same standing is still an event: it orders later reports, so
    // an older report of another standing arriving after it changes nothing either.
    assert_eq!(
        follow(&mut ws, SubscriptionStanding::Lapsed, 7, t0() + minutes(2)).len(),
        1
    );
    assert_eq!(ws.subscription_standing_as_of(), 7);
    assert_eq!(
        follow(&mut ws, SubscriptionStanding::Good, 6, t0() + minutes(3)),
        vec![]
    );
    assert_eq!(ws.subscription_standing(), SubscriptionStanding::Lapsed);
}

#[test]
fn an_archived_workspace_still_follows_its_subscription() {
    let mut ws = created();
    ws.archive(uid(1), t0()).unwrap();
    let events = follow(&mut ws, SubscriptionStanding::Lapsed, 2, t0() + minutes(1));
    assert_eq!(events.len(), 1);
    assert_eq!(ws.subscription_standing(), SubscriptionStanding::Lapsed);
}

#[test]
fn a_document_stored_before_the_standing_was_kept_reads_as_good_standing() {
    let ws = created();
    let mut json: serde_json::Value = serde_json::to_value(&ws).unwrap();
    let object = json.as_object_mut().unwrap();
    object.remove("standing");
    object.remove("standing_as_of");
    let old: Workspace = serde_json::from_value(json).unwrap();
    assert_eq!(old, ws);
}

// ----- accepting -----

#[test]
fn accepting_makes_the_invitee_a_member_with_the_invited_role() {
    let mut ws = created();
    invite(&mut ws, 2, Admin, t0()).unwrap();
    let now = t0() + days(2);
    let events = accept(&mut ws, 2, now).unwrap();
    assert_eq!(ws.role_of(uid(2)), Some(Admin));
    assert_eq!(ws.member(uid(2)).unwrap().joined_at(), now);
    assert_eq!(
        ws.invitation(iid(2)).unwrap().status(),
        InvitationStatus::Accepted
    );
    assert!(ws.ever_had_other_members());
    assert_eq!(ws.next_due(), None);
    assert_eq!(
        events,
        vec![
            WorkspaceEvent::InvitationAccepted {
                workspace_id: wid(),
                invitation_id: iid(2),
                user_id: uid(2),
                occurred_at: now,
            },
            WorkspaceEvent::MemberJoined {
                workspace_id: wid(),
                user_id: uid(2),
                role: Admin,
                occurred_at: now,
            },
        ]
    );
}

#[test]
fn accepting_needs_the_token() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    let before = ws.clone();
    assert_eq!(
        ws.accept_invitation(iid(2), uid(2), &email_of(2), &token(99), t0()),
        Err(WorkspaceError::TokenInvalid)
    );
    assert_eq!(ws, before);
}

#[test]
fn accepting_needs_the_invitees_email() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    let before = ws.clone();
    assert_eq!(
        ws.accept_invitation(iid(2), uid(3), &email_of(3), &token(2), t0()),
        Err(WorkspaceError::EmailMismatch)
    );
    assert_eq!(ws, before);
    // The same address typed differently is the same address.
    assert!(
        ws.accept_invitation(
            iid(2),
            uid(3),
            &email(" USER2@Example.com "),
            &token(2),
            t0()
        )
        .is_ok()
    );
    assert_eq!(ws.role_of(uid(3)), Some(Plain));
}

#[test]
fn expired_invitation_cannot_be_accepted() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    invite(&mut ws, 3, Plain, t0()).unwrap();
    // Not yet swept: expired at exactly `expires_at`.
    let due = t0() + days(7);
    assert!(accept(&mut ws, 2, due - Duration::seconds(1)).is_ok());
    assert_eq!(
        accept(&mut ws, 3, due),
        Err(WorkspaceError::InvitationExpired)
    );
    // Swept.
    ws.expire_invitations(due);
    assert_eq!(
        accept(&mut ws, 3, due),
        Err(WorkspaceError::InvitationExpired)
    );
    assert_eq!(ws.role_of(uid(3)), None);
}

#[test]
fn an_invitation_is_accepted_once() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    accept(&mut ws, 2, t0()).unwrap();
    ws.remove_member(uid(1), uid(2), t0()).unwrap();
    assert_eq!(
        accept(&mut ws, 2, t0()),
        Err(WorkspaceError::InvitationNotPending)
    );
}

#[test]
fn revoked_invitation_cannot_be_accepted() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    ws.revoke_invitation(uid(1), iid(2), t0()).unwrap();
    assert_eq!(
        accept(&mut ws, 2, t0()),
        Err(WorkspaceError::InvitationNotPending)
    );
}

#[test]
fn a_user_is_a_member_at_most_once() {
    let mut ws = with_members(&[Plain]);
    // An invitation to another address of user 2 (the inviter did not know it was theirs).
    ws.invite(
        uid(1),
        iid(7),
        email("second@example.com"),
        None,
        Admin,
        token(7),
        t0(),
    )
    .unwrap();
    assert_eq!(
        ws.accept_invitation(
            iid(7),
            uid(2),
            &email("second@example.com"),
            &token(7),
            t0()
        ),
        Err(WorkspaceError::AlreadyMember)
    );
    assert_eq!(ws.member_ids().filter(|&u| u == uid(2)).count(), 1);
}

#[test]
fn unknown_invitation_is_not_found() {
    let mut ws = created();
    assert_eq!(
        accept(&mut ws, 2, t0()),
        Err(WorkspaceError::InvitationNotFound)
    );
    assert_eq!(
        ws.revoke_invitation(uid(1), iid(2), t0()),
        Err(WorkspaceError::InvitationNotFound)
    );
}

// ----- revoking and expiring -----

#[test]
fn owners_and_admins_revoke_invitations_freeing_the_seat() {
    let mut ws = with_members(&[Admin]);
    invite(&mut ws, 3, Admin, t0()).unwrap();
    let events = ws.revoke_invitation(uid(2), iid(3), t0()).unwrap();
    assert_eq!(
        ws.invitation(iid(3)).unwrap().status,
        InvitationStatus::Revoked
    );
    assert_eq!(ws.seats_in_use(), 2);
    assert_eq!(
        events,
        vec![WorkspaceEvent::InvitationRevoked {
            workspace_id: wid(),
            invitation_id: iid(3),
            revoked_by: uid(2),
            occurred_at: t0(),
        }]
    );
}

#[test]
fn members_cannot_revoke_invitations() {
    let mut ws = with_members(&[Plain]);
    invite(&mut ws, 3, Plain, t0()).unwrap();
    assert_eq!(
        ws.revoke_invitation(uid(2), iid(3), t0()),
        Err(WorkspaceError::InsufficientRole)
    );
}

#[test]
fn only_pending_invitations_can_be_revoked() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    invite(&mut ws, 3, Plain, t0()).unwrap();
    accept(&mut ws, 2, t0()).unwrap();
    assert_eq!(
        ws.revoke_invitation(uid(1), iid(2), t0()),
        Err(WorkspaceError::InvitationNotPending)
    );
    assert_eq!(
        ws.revoke_invitation(uid(1), iid(3), t0() + days(8)),
        Err(WorkspaceError::InvitationNotPending)
    );
}

#[test]
fn expiring_marks_due_invitations_expired() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    invite(&mut ws, 3, Plain, t0() + days(1)).unwrap();
    assert_eq!(ws.next_due(), Some(t0() + days(7)));

    let before = ws.clone();
    assert!(
        ws.expire_invitations(t0() + days(7) - minutes(1))
            .is_empty()
    );
    assert_eq!(ws, before);

    let due = t0() + days(7);
    let events = ws.expire_invitations(due);
    assert_eq!(
        events,
        vec![WorkspaceEvent::InvitationExpired {
            workspace_id: wid(),
            invitation_id: iid(2),
            occurred_at: due,
        }]
    );
    assert_eq!(ws.updated_at(), due);
    assert_eq!(
        ws.invitation(iid(2)).unwrap().status,
        InvitationStatus::Expired
    );
    assert_eq!(ws.seats_in_use(), 2);
    assert_eq!(ws.next_due(), Some(t0() + days(8)));
    assert!(ws.expire_invitations(due).is_empty());
}

// ----- roles -----

#[test]
fn owners_grant_and_revoke_admin_and_owner() {
    let mut ws = with_members(&[Plain, Plain]);
    let events = ws.change_role(uid(1), uid(2), Admin, t0()).unwrap();
    assert_eq!(
        events,
        vec![WorkspaceEvent::RoleChanged {
            workspace_id: wid(),
            user_id: uid(2),
            from: Plain,
            to: Admin,
            changed_by: uid(1),
            occurred_at: t0(),
        }]
    );
    ws.change_role(uid(1), uid(3), Owner, t0()).unwrap();
    assert_eq!(ws.owner_count(), 2);
    ws.change_role(uid(3), uid(2), Plain, t0()).unwrap();
    ws.change_role(uid(3), uid(1), Admin, t0()).unwrap();
    assert_eq!(ws.role_of(uid(1)), Some(Admin));
    assert_eq!(ws.role_of(uid(2)), Some(Plain));
    assert_eq!(ws.role_of(uid(3)), Some(Owner));
}

#[test]
fn admins_cannot_grant_owner() {
    let mut ws = with_members(&[Admin, Plain]);
    let before = ws.clone();
    assert_eq!(
        ws.change_role(uid(2), uid(3), Owner, t0()),
        Err(WorkspaceError::InsufficientRole)
    );
    assert_eq!(
        ws.change_role(uid(2), uid(2), Owner, t0()),
        Err(WorkspaceError::InsufficientRole)
    );
    assert_eq!(ws, before);
}

#[test]
fn admins_cannot_grant_or_revoke_admin_nor_demote_owners() {
    let mut ws = with_members(&[Admin, Plain, Admin]);
    assert_eq!(
        ws.change_role(uid(2), uid(3), Admin, t0()),
        Err(WorkspaceError::InsufficientRole)
    );
    assert_eq!(
        ws.change_role(uid(2), uid(4), Plain, t0()),
        Err(WorkspaceError::InsufficientRole)
    );
    assert_eq!(
        ws.change_role(uid(2), uid(1), Admin, t0()),
        Err(WorkspaceError::InsufficientRole)
    );
}

#[test]
fn members_cannot_change_roles() {
    let mut ws = with_members(&[Plain, Plain]);
    assert_eq!(
        ws.change_role(uid(2), uid(3), Admin, t0()),
        Err(WorkspaceError::InsufficientRole)
    );
}

#[test]
fn the_last_owner_cannot_be_demoted() {
    let mut ws = with_members(&[Admin]);
    for role in [Admin, Plain] {
        assert_eq!(
            ws.change_role(uid(1), uid(1), role, t0()),
            Err(WorkspaceError::LastOwner)
        );
    }
    assert_eq!(ws.owner_count(), 1);
}

#[test]
fn an_owner_may_step_down_while_another_owner_remains() {
    let mut ws = with_members(&[Owner]);
    ws.change_role(uid(1), uid(1), Plain, t0()).unwrap();
    assert_eq!(ws.role_of(uid(1)), Some(Plain));
    assert_eq!(
        ws.change_role(uid(2), uid(2), Admin, t0()),
        Err(WorkspaceError::LastOwner)
    );
}

#[test]
fn changing_to_the_same_role_is_refused() {
    let mut ws = with_members(&[Admin]);
    assert_eq!(
        ws.change_role(uid(1), uid(2), Admin, t0()),
        Err(WorkspaceError::RoleUnchanged)
    );
}

#[test]
fn changing_the_role_of_a_non_member_is_not_found() {
    let mut ws = created();
    assert_eq!(
        ws.change_role(uid(1), uid(9), Admin, t0()),
        Err(WorkspaceError::MemberNotFound)
    );
}

// ----- removing and leaving -----

#[test]
fn admins_remove_members_but_not_admins_or_owners() {
    let mut ws = with_members(&[Admin, Plain, Admin]);
    let events = ws.remove_member(uid(2), uid(3), t0()).unwrap();
    assert_eq!(ws.role_of(uid(3)), None);
    assert_eq!(
        events,
        vec![WorkspaceEvent::MemberRemoved {
            workspace_id: wid(),
            user_id: uid(3),
            removed_by: uid(2),
            occurred_at: t0(),
        }]
    );
    assert_eq!(
        ws.remove_member(uid(2), uid(4), t0()),
        Err(WorkspaceError::InsufficientRole)
    );
    assert_eq!(
        ws.remove_member(uid(2), uid(1), t0()),
        Err(WorkspaceError::InsufficientRole)
    );
}

#[test]
fn owners_remove_admins_and_other_owners() {
    let mut ws = with_members(&[Admin, Owner]);
    ws.remove_member(uid(1), uid(2), t0()).unwrap();
    ws.remove_member(uid(1), uid(3), t0()).unwrap();
    assert_eq!(ws.member_ids().collect::<Vec<_>>(), vec![uid(1)]);
}

#[test]
fn cannot_remove_the_last_owner() {
    let mut ws = with_members(&[Admin]);
    let before = ws.clone();
    assert_eq!(
        ws.remove_member(uid(1), uid(1), t0()),
        Err(WorkspaceError::LastOwner)
    );
    assert_eq!(
        ws.remove_member(uid(2), uid(1), t0()),
        Err(WorkspaceError::InsufficientRole)
    );
    assert_eq!(ws, before);
}

#[test]
fn members_cannot_remove_anyone() {
    let mut ws = with_members(&[Plain, Plain]);
    assert_eq!(
        ws.remove_member(uid(2), uid(3), t0()),
        Err(WorkspaceError::InsufficientRole)
    );
}

#[test]
fn removing_a_non_member_is_not_found() {
    let mut ws = created();
    assert_eq!(
        ws.remove_member(uid(1), uid(9), t0()),
        Err(WorkspaceError::MemberNotFound)
    );
}

#[test]
fn a_member_may_leave() {
    let mut ws = with_members(&[Admin, Plain, Owner]);
    for n in [2, 3, 1] {
        let events = ws.leave(uid(n), t0()).unwrap();
        assert_eq!(
            events,
            vec![WorkspaceEvent::MemberLeft {
                workspace_id: wid(),
                user_id: uid(n),
                occurred_at: t0(),
            }]
        );
    }
    assert_eq!(ws.member_ids().collect::<Vec<_>>(), vec![uid(4)]);
}

#[test]
fn the_last_owner_cannot_leave() {
    let mut ws = with_members(&[Admin]);
    assert_eq!(ws.leave(uid(1), t0()), Err(WorkspaceError::LastOwner));
    assert_eq!(ws.leave(uid(9), t0()), Err(WorkspaceError::NotAMember));
}

// ----- seats -----

#[test]
fn lowering_the_seat_limit_below_seats_in_use_is_refused() {
    let mut ws = with_members(&[Plain]);
    invite(&mut ws, 3, Plain, t0()).unwrap();
    let before = ws.clone();
    assert_eq!(
        ws.set_seat_limit(2, t0()),
        Err(WorkspaceError::SeatLimitBelowSeatsInUse {
            limit: 2,
            in_use: 3
        })
    );
    assert_eq!(ws, before);
    let events = ws.set_seat_limit(3, t0() + minutes(1)).unwrap();
    assert_eq!(
        events,
        vec![WorkspaceEvent::SeatLimitChanged {
            workspace_id: wid(),
            seat_limit: 3,
            occurred_at: t0() + minutes(1),
        }]
    );
    assert_eq!(ws.seat_limit(), 3);
}

#[test]
fn the_seat_limit_can_be_raised() {
    let mut ws = created_with_seats(1);
    assert_eq!(
        invite(&mut ws, 2, Plain, t0()),
        Err(WorkspaceError::SeatLimitReached)
    );
    ws.set_seat_limit(50, t0()).unwrap();
    assert!(invite(&mut ws, 2, Plain, t0()).is_ok());
}

#[test]
fn a_seat_limit_of_zero_is_refused() {
    let mut ws = created();
    assert_eq!(
        ws.set_seat_limit(0, t0()),
        Err(WorkspaceError::InvalidSeatLimit)
    );
}

#[test]
fn setting_the_same_seat_limit_is_no_event() {
    let mut ws = created();
    let before = ws.clone();
    assert_eq!(ws.set_seat_limit(10, t0() + minutes(1)), Ok(Vec::new()));
    assert_eq!(ws, before);
}

#[test]
fn expired_invitations_do_not_count_against_a_lower_seat_limit() {
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    assert!(ws.set_seat_limit(1, t0()).is_err());
    let events = ws.set_seat_limit(1, t0() + days(7)).unwrap();
    assert!(matches!(
        events[..],
        [
            WorkspaceEvent::InvitationExpired { .. },
            WorkspaceEvent::SeatLimitChanged { seat_limit: 1, .. }
        ]
    ));
    assert_eq!(ws.seats_in_use(), 1);
}

// ----- archiving -----

#[test]
fn only_owners_archive_and_unarchive() {
    let mut ws = with_members(&[Admin, Plain]);
    for n in [2, 3] {
        assert_eq!(
            ws.archive(uid(n), t0()),
            Err(WorkspaceError::InsufficientRole)
        );
    }
    let events = ws.archive(uid(1), t0()).unwrap();
    assert!(ws.is_archived());
    assert_eq!(ws.archived_at(), Some(t0()));
    assert_eq!(
        events,
        vec![WorkspaceEvent::Archived {
            workspace_id: wid(),
            archived_by: Some(uid(1)),
            occurred_at: t0(),
        }]
    );
    for n in [2, 3] {
        assert_eq!(
            ws.unarchive(uid(n), t0()),
            Err(WorkspaceError::InsufficientRole)
        );
    }
    let events = ws.unarchive(uid(1), t0() + minutes(1)).unwrap();
    assert!(!ws.is_archived());
    assert_eq!(
        events,
        vec![WorkspaceEvent::Unarchived {
            workspace_id: wid(),
            unarchived_by: uid(1),
            occurred_at: t0() + minutes(1),
        }]
    );
}

#[test]
fn unarchiving_a_live_workspace_is_refused() {
    let mut ws = created();
    assert_eq!(ws.unarchive(uid(1), t0()), Err(WorkspaceError::NotArchived));
}

#[test]
fn archived_workspace_refuses_member_changes_but_not_system_policies() {
    let mut ws = with_members(&[Admin, Plain, Plain]);
    invite(&mut ws, 5, Plain, t0()).unwrap();
    invite(&mut ws, 6, Plain, t0()).unwrap();
    ws.archive(uid(1), t0()).unwrap();
    let frozen = ws.clone();

    let results = [
        ws.rename(uid(1), name("New"), t0()),
        ws.invite(uid(1), iid(9), email_of(9), None, Plain, token(9), t0()),
        accept(&mut ws, 5, t0()),
        ws.revoke_invitation(uid(1), iid(5), t0()),
        ws.change_role(uid(1), uid(3), Admin, t0()),
        ws.remove_member(uid(1), uid(3), t0()),
        ws.leave(uid(3), t0()),
        ws.archive(uid(1), t0()),
        ws.delete(uid(1), t0()),
    ];
    for result in results {
        assert_eq!(result, Err(WorkspaceError::Archived));
    }
    assert_eq!(ws, frozen);

    // The system's policies still apply.
    assert_eq!(ws.expire_invitations(t0() + days(7)).len(), 2);
    ws.set_seat_limit(4, t0() + days(7)).unwrap();
    assert_eq!(ws.seat_limit(), 4);
    assert_eq!(ws.remove_erased_user(uid(4), t0() + days(7)).len(), 1);
    assert_eq!(ws.role_of(uid(4)), None);
    assert!(ws.is_archived());

    // And an Owner may unarchive.
    assert!(ws.unarchive(uid(1), t0() + days(8)).is_ok());
    assert!(ws.rename(uid(1), name("New"), t0() + days(8)).is_ok());
}

// ----- erasure -----

#[test]
fn an_erased_member_is_removed() {
    let mut ws = with_members(&[Owner, Admin, Plain]);
    for n in [2, 3, 4] {
        let now = t0() + minutes(n as i64);
        let events = ws.remove_erased_user(uid(n), now);
        assert_eq!(
            events,
            vec![WorkspaceEvent::ErasedUserRemoved {
                workspace_id: wid(),
                user_id: uid(n),
                occurred_at: now,
            }]
        );
        assert_eq!(ws.role_of(uid(n)), None);
    }
    assert!(!ws.is_archived());
}

#[test]
fn an_erased_last_owner_stays_as_a_tombstone_and_the_workspace_is_archived() {
    let mut ws = with_members(&[Admin, Plain]);
    let now = t0() + minutes(5);
    let events = ws.remove_erased_user(uid(1), now);
    assert_eq!(
        events,
        vec![WorkspaceEvent::Archived {
            workspace_id: wid(),
            archived_by: None,
            occurred_at: now,
        }]
    );
    assert!(ws.is_archived());
    assert_eq!(ws.role_of(uid(1)), Some(Owner));
    assert_eq!(ws.owner_count(), 1);
    // Nothing more happens when told again.
    let again = ws.clone();
    assert!(ws.remove_erased_user(uid(1), now + minutes(1)).is_empty());
    assert_eq!(ws, again);
    // The remaining members can no longer change anything.
    assert_eq!(ws.leave(uid(3), now), Err(WorkspaceError::Archived));
}

#[test]
fn an_erased_user_who_is_not_a_member_changes_nothing() {
    let mut ws = with_members(&[Plain]);
    let before = ws.clone();
    assert!(ws.remove_erased_user(uid(9), t0() + minutes(1)).is_empty());
    assert_eq!(ws, before);
}

// ----- deletion -----

#[test]
fn only_a_pristine_workspace_can_be_deleted() {
    let ws = created();
    let events = ws.delete(uid(1), t0() + minutes(1)).unwrap();
    assert_eq!(
        events,
        vec![WorkspaceEvent::Deleted {
            workspace_id: wid(),
            deleted_by: uid(1),
            occurred_at: t0() + minutes(1),
        }]
    );

    // Other members, even gone again, make it not pristine.
    let mut ws = with_members(&[Plain]);
    ws.remove_member(uid(1), uid(2), t0()).unwrap();
    assert_eq!(ws.members().len(), 1);
    assert!(!ws.is_pristine());
    assert_eq!(ws.delete(uid(1), t0()), Err(WorkspaceError::NotPristine));

    // So does an invitation, even revoked.
    let mut ws = created();
    invite(&mut ws, 2, Plain, t0()).unwrap();
    ws.revoke_invitation(uid(1), iid(2), t0()).unwrap();
    assert!(!ws.is_pristine());
    assert_eq!(ws.delete(uid(1), t0()), Err(WorkspaceError::NotPristine));
}

#[test]
fn deleting_does_not_change_the_workspace() {
    let ws = created();
    let before = ws.clone();
    ws.delete(uid(1), t0()).unwrap();
    assert_eq!(ws, before);
}

// ----- events and bookkeeping -----

#[test]
fn events_never_carry_token_hashes() {
    let secret = TokenHash::from_bytes([0x5a; 32]);
    let mut ws = created();
    let mut events = Vec::new();
    let mut t = t0();
    let mut step = || {
        t += minutes(1);
        t
    };
    events.extend(
        ws.invite(
            uid(1),
            iid(2),
            email_of(2),
            None,
            Admin,
            secret.clone(),
            step(),
        )
        .unwrap(),
    );
    events.extend(
        ws.accept_invitation(iid(2), uid(2), &email_of(2), &secret, step())
            .unwrap(),
    );
    events.extend(
        ws.invite(
            uid(2),
            iid(3),
            email_of(3),
            None,
            Plain,
            secret.clone(),
            step(),
        )
        .unwrap(),
    );
    events.extend(ws.revoke_invitation(uid(1), iid(3), step()).unwrap());
    events.extend(
        ws.invite(
            uid(2),
            iid(4),
            email_of(4),
            None,
            Plain,
            secret.clone(),
            step(),
        )
        .unwrap(),
    );
    events.extend(ws.expire_invitations(step() + days(7)));

    let json = serde_json::to_string(&events).unwrap();
    assert!(!json.contains(&secret.to_hex()), "{json}");
    assert!(!json.contains("5a5a5a5a"), "{json}");
    assert!(!json.contains("90,90,90"), "{json}");
    assert!(!json.contains("token"), "{json}");
    // The aggregate's own document does keep the hash.
    assert!(
        serde_json::to_string(&ws)
            .unwrap()
            .contains(&secret.to_hex())
    );
}

#[test]
fn every_event_names_the_workspace_the_time_and_a_dotted_type() {
    let mut ws = created();
    let now = t0() + minutes(5);
    let mut events = Vec::new();
    events.extend(ws.rename(uid(1), name("Acme Inc"), now).unwrap());
    events.extend(invite(&mut ws, 2, Plain, now).unwrap());
    events.extend(accept(&mut ws, 2, now).unwrap());
    events.extend(ws.change_role(uid(1), uid(2), Admin, now).unwrap());
    events.extend(invite(&mut ws, 3, Plain, now).unwrap());
    events.extend(ws.revoke_invitation(uid(1), iid(3), now).unwrap());
    events.extend(ws.set_seat_limit(4, now).unwrap());
    events.extend(ws.leave(uid(2), now).unwrap());
    events.extend(ws.archive(uid(1), now).unwrap());
    events.extend(ws.unarchive(uid(1), now).unwrap());
    for event in &events {
        assert_eq!(event.workspace_id(), wid());
        assert_eq!(event.occurred_at(), now);
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(
            format!("workspace.workspace.{}", json["type"].as_str().unwrap()),
            event.event_type()
        );
        let back: WorkspaceEvent = serde_json::from_value(json).unwrap();
        assert_eq!(&back, event);
    }
    assert_eq!(events.len(), 11);
}

#[test]
fn accepted_commands_set_updated_at() {
    let mut ws = created();
    let later = t0() + minutes(42);
    invite(&mut ws, 2, Plain, later).unwrap();
    assert_eq!(ws.updated_at(), later);
    assert_eq!(ws.created_at(), t0());
}

#[test]
fn refused_commands_leave_the_workspace_unchanged() {
    let mut ws = with_members(&[Plain]);
    invite(&mut ws, 3, Plain, t0()).unwrap();
    let before = ws.clone();
    // Nothing due: each command runs on the workspace itself and refuses before it changes it.
    let soon = t0() + minutes(1);
    assert!(ws.rename(uid(2), name("Mine"), soon).is_err());
    assert!(invite(&mut ws, 3, Plain, soon).is_err());
    assert!(ws.change_role(uid(1), uid(2), Plain, soon).is_err());
    assert!(ws.remove_member(uid(2), uid(1), soon).is_err());
    assert!(ws.revoke_invitation(uid(1), iid(9), soon).is_err());
    assert!(ws.leave(uid(1), soon).is_err());
    assert!(ws.set_seat_limit(0, soon).is_err());
    assert!(ws.archive(uid(2), soon).is_err());
    assert!(ws.unarchive(uid(1), soon).is_err());
    assert_eq!(ws, before);
    // Late enough that invitation 3 is due: the expiry is not kept either.
    let later = t0() + days(30);
    assert!(ws.rename(uid(2), name("Mine"), later).is_err());
    assert!(ws.leave(uid(1), later).is_err());
    assert!(ws.set_seat_limit(0, later).is_err());
    assert!(accept(&mut ws, 3, later).is_err());
    assert!(ws.unarchive(uid(1), later).is_err());
    assert_eq!(ws, before);
}

#[test]
fn workspace_round_trips_through_json() {
    let mut ws = with_members(&[Owner, Admin, Plain]);
    invite(&mut ws, 6, Plain, t0()).unwrap();
    invite(&mut ws, 7, Admin, t0()).unwrap();
    ws.revoke_invitation(uid(1), iid(7), t0()).unwrap();
    invite(&mut ws, 8, Plain, t0() + days(1)).unwrap();
    ws.expire_invitations(t0() + days(7));
    let json = serde_json::to_string(&ws).unwrap();
    let back: Workspace = serde_json::from_str(&json).unwrap();
    assert_eq!(back, ws);
    // The hash survives the trip: the pending invitation can still be accepted.
    let mut back = back;
    assert!(accept(&mut back, 8, t0() + days(7) + minutes(1)).is_ok());

    ws.archive(uid(1), t0() + days(8)).unwrap();
    let back: Workspace = serde_json::from_str(&serde_json::to_string(&ws).unwrap()).unwrap();
    assert_eq!(back, ws);
}
