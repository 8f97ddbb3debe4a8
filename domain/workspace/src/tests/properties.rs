//! Property tests: value objects on arbitrary text, and random command sequences on a
//! workspace.

use std::collections::HashSet;

use chrono::Duration;
use proptest::prelude::*;

use super::*;
use crate::{InvitationStatus, RESERVED_SLUGS, TextError, WorkspaceError};

proptest! {
    #[test]
    fn slug_parse_never_panics_and_accepted_slugs_follow_the_rules(raw in "[ a-zA-Z0-9_-]{0,45}|\\PC{0,45}") {
        if let Ok(slug) = Slug::parse(&raw) {
            let s = slug.as_str();
            prop_assert_eq!(s, raw.trim().to_ascii_lowercase());
            prop_assert!((3..=40).contains(&s.len()));
            prop_assert!(s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'));
            prop_assert!(!s.starts_with('-') && !s.ends_with('-'));
            prop_assert!(!RESERVED_SLUGS.contains(&s));
            prop_assert_eq!(Slug::parse(s), Ok(slug.clone()));
        }
    }

    #[test]
    fn well_formed_slugs_are_accepted(raw in "[a-z0-9][a-z0-9-]{1,38}[a-z0-9]") {
        prop_assume!(!RESERVED_SLUGS.contains(&raw.as_str()));
        prop_assert_eq!(Slug::parse(&raw).map(|s| s.as_str().to_owned()), Ok(raw));
    }

    #[test]
    fn workspace_name_parse_never_panics_and_accepted_names_follow_the_rules(raw in "\\PC{0,120}|[ \\t\\n\\x00-\\x1f\\x7f]{0,5}.{0,105}") {
        match WorkspaceName::parse(&raw) {
            Ok(name) => {
                let s = name.as_str();
                prop_assert_eq!(s, raw.trim());
                prop_assert!((1..=100).contains(&s.chars().count()));
                prop_assert!(!s.chars().any(char::is_control));
                prop_assert_eq!(WorkspaceName::parse(s), Ok(name.clone()));
            }
            Err(WorkspaceError::InvalidName(TextError::Empty)) => prop_assert!(raw.trim().is_empty()),
            Err(WorkspaceError::InvalidName(TextError::TooLong { .. })) => {
                prop_assert!(raw.trim().chars().count() > 100);
            }
            Err(WorkspaceError::InvalidName(TextError::ControlCharacter)) => {
                prop_assert!(raw.trim().chars().any(char::is_control));
            }
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn token_hash_hex_round_trips_and_matching_is_equality(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        let hash = TokenHash::from_bytes(a);
        prop_assert_eq!(TokenHash::from_hex(&hash.to_hex()).map(|h| *h.as_bytes()), Ok(a));
        prop_assert_eq!(hash.matches(&TokenHash::from_bytes(b)), a == b);
    }

    #[test]
    fn token_hash_from_arbitrary_text_never_panics(raw in ".{0,70}") {
        let _ = TokenHash::from_hex(&raw);
    }
}

/// Users 1..=USERS; user `n` has the address [`email_of`]`(n)`. User 1 created the workspace.
const USERS: u128 = 7;

/// A user: mostly a current member (by index), sometimes anyone from the pool.
#[derive(Debug, Clone, Copy)]
enum Who {
    Member(usize),
    Anyone(u128),
}

/// An invitation: mostly a pending one (by index), sometimes any (or an unknown one).
#[derive(Debug, Clone, Copy)]
enum Which {
    Pending(usize),
    Any(usize),
}

#[derive(Debug, Clone)]
enum Command {
    Advance(Duration),
    Rename(Who, String),
    /// `tell`: whether the application says which user has the address.
    Invite {
        actor: Who,
        invitee: u128,
        role: Role,
        tell: bool,
    },
    /// The invitee (or someone else) with the right (or wrong) token.
    Accept {
        invitation: Which,
        right_user: bool,
        right_token: bool,
        other: u128,
    },
    Revoke(Who, Which),
    Expire,
    ChangeRole(Who, Who, Role),
    Remove(Who, Who),
    Leave(Who),
    SetSeatLimit(u32),
    /// Billing reports the subscription's standing as of a version.
    Follow(SubscriptionStanding, u64),
    Archive(Who),
    Unarchive(Who),
    Erase(Who),
    Delete(Who),
}

impl Command {
    /// Whether this is a change made by a member (or invitee), refused while archived.
    fn is_member_change(&self) -> bool {
        matches!(
            self,
            Command::Rename(..)
                | Command::Invite { .. }
                | Command::Accept { .. }
                | Command::Revoke(..)
                | Command::ChangeRole(..)
                | Command::Remove(..)
                | Command::Leave(_)
                | Command::Archive(_)
                | Command::Delete(_)
        )
    }
}

fn user() -> impl Strategy<Value = u128> {
    1..=USERS
}

fn who() -> impl Strategy<Value = Who> {
    prop_oneof![
        5 => (0usize..8).prop_map(Who::Member),
        1 => user().prop_map(Who::Anyone),
    ]
}

fn which() -> impl Strategy<Value = Which> {
    prop_oneof![
        5 => (0usize..8).prop_map(Which::Pending),
        1 => (0usize..12).prop_map(Which::Any),
    ]
}

fn role() -> impl Strategy<Value = Role> {
    prop_oneof![Just(Role::Owner), Just(Role::Admin), Just(Role::Member)]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        8 => (0i64..48).prop_map(|h| Command::Advance(Duration::hours(h))),
        2 => (0i64..10).prop_map(|d| Command::Advance(Duration::days(d))),
        3 => (who(), "\\PC{0,6}").prop_map(|(a, n)| Command::Rename(a, n)),
        20 => (who(), user(), role(), any::<bool>())
            .prop_map(|(actor, invitee, role, tell)| Command::Invite { actor, invitee, role, tell }),
        20 => (which(), prop::bool::weighted(0.85), prop::bool::weighted(0.85), user())
            .prop_map(|(invitation, right_user, right_token, other)| Command::Accept {
                invitation, right_user, right_token, other,
            }),
        4 => (who(), which()).prop_map(|(a, i)| Command::Revoke(a, i)),
        2 => Just(Command::Expire),
        12 => (who(), who(), role()).prop_map(|(a, m, r)| Command::ChangeRole(a, m, r)),
        6 => (who(), who()).prop_map(|(a, m)| Command::Remove(a, m)),
        4 => who().prop_map(Command::Leave),
        6 => (0u32..12).prop_map(Command::SetSeatLimit),
        4 => (prop_oneof![Just(SubscriptionStanding::Good), Just(SubscriptionStanding::Lapsed)],
              0u64..6)
            .prop_map(|(standing, version)| Command::Follow(standing, version)),
        1 => who().prop_map(Command::Archive),
        4 => who().prop_map(Command::Unarchive),
        2 => who().prop_map(Command::Erase),
        1 => who().prop_map(Command::Delete),
    ]
}

struct Run {
    ws: Workspace,
    now: Timestamp,
    next_invitation: u128,
}

impl Run {
    fn user(&self, who: Who) -> UserId {
        match who {
            Who::Member(i) => self.ws.members()[i % self.ws.members().len()].user_id,
            Who::Anyone(n) => uid(n),
        }
    }

    /// The invitation picked, or an unknown id.
    fn invitation(&self, which: Which) -> crate::InvitationId {
        let pending: Vec<_> = self.ws.pending_invitations().collect();
        let picked = match which {
            Which::Pending(i) if !pending.is_empty() => Some(pending[i % pending.len()]),
            Which::Pending(_) => None,
            Which::Any(i) => self.ws.invitations().get(i),
        };
        picked.map(|i| i.id).unwrap_or(iid(500))
    }

    fn apply(&mut self, command: &Command) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        let now = self.now;
        match command {
            Command::Advance(by) => {
                self.now += *by;
                Ok(Vec::new())
            }
            Command::Rename(actor, raw) => {
                let name = WorkspaceName::parse(raw)?;
                self.ws.rename(self.user(*actor), name, now)
            }
            Command::Invite {
                actor,
                invitee,
                role,
                tell,
            } => {
                self.next_invitation += 1;
                let n = self.next_invitation;
                let actor = self.user(*actor);
                self.ws.invite(
                    actor,
                    iid(n),
                    email_of(*invitee),
                    tell.then_some(uid(*invitee)),
                    *role,
                    token(n as u8),
                    now,
                )
            }
            Command::Accept {
                invitation,
                right_user,
                right_token,
                other,
            } => {
                let id = self.invitation(*invitation);
                // Invitation k was made with token k; its invitee is the user of its address.
                let k = id.as_uuid().as_u128() - 1_000;
                let invitee = (1..=USERS)
                    .find(|&n| {
                        self.ws
                            .invitation(id)
                            .is_some_and(|i| i.email == email_of(n))
                    })
                    .unwrap_or(*other);
                let user = if *right_user { invitee } else { *other };
                let presented = if *right_token {
                    token(k as u8)
                } else {
                    token(200)
                };
                self.ws
                    .accept_invitation(id, uid(user), &email_of(user), &presented, now)
            }
            Command::Revoke(actor, which) => {
                let (actor, id) = (self.user(*actor), self.invitation(*which));
                self.ws.revoke_invitation(actor, id, now)
            }
            Command::Expire => Ok(self.ws.expire_invitations(now)),
            Command::ChangeRole(actor, member, role) => {
                let (actor, member) = (self.user(*actor), self.user(*member));
                self.ws.change_role(actor, member, *role, now)
            }
            Command::Remove(actor, member) => {
                let (actor, member) = (self.user(*actor), self.user(*member));
                self.ws.remove_member(actor, member, now)
            }
            Command::Leave(actor) => {
                let actor = self.user(*actor);
                self.ws.leave(actor, now)
            }
            Command::SetSeatLimit(limit) => self.ws.set_seat_limit(*limit, now),
            Command::Follow(standing, version) => {
                self.ws.follow_subscription(*standing, *version, now)
            }
            Command::Archive(actor) => {
                let actor = self.user(*actor);
                self.ws.archive(actor, now)
            }
            Command::Unarchive(actor) => {
                let actor = self.user(*actor);
                self.ws.unarchive(actor, now)
            }
            Command::Erase(user) => {
                let user = self.user(*user);
                Ok(self.ws.remove_erased_user(user, now))
            }
            Command::Delete(actor) => self.ws.delete(self.user(*actor), now),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_command_sequences_keep_the_invariants(
        seats in 1u32..10,
        commands in prop::collection::vec(command(), 1..120),
    ) {
        let mut run = Run { ws: created_with_seats(seats), now: t0(), next_invitation: 0 };
        for command in &commands {
            let before = run.ws.clone();
            let deleter = match command {
                Command::Delete(actor) => Some(run.user(*actor)),
                _ => None,
            };
            let result = run.apply(command);
            let ws = &run.ws;
            let now = run.now;

            match &result {
                // A refused command changes nothing; neither does one that did nothing.
                Err(_) => prop_assert_eq!(ws, &before),
                Ok(events) if events.is_empty() => prop_assert_eq!(ws, &before),
                Ok(events) => {
                    if let Command::Delete(_) = command {
                        prop_assert_eq!(ws, &before);
                    } else {
                        prop_assert_eq!(ws.updated_at(), now);
                    }
                    for event in events {
                        prop_assert_eq!(event.workspace_id(), wid());
                        prop_assert_eq!(event.occurred_at(), now);
                    }
                    let json = serde_json::to_string(events).unwrap();
                    for k in 0..=run.next_invitation {
                        prop_assert!(!json.contains(&token(k as u8).to_hex()));
                    }
                }
            }

            // Archived: every change by a member is refused (a name that does not even
            // parse is refused before it reaches the workspace).
            if before.is_archived() && command.is_member_change() {
                let ok = matches!(
                    (command, &result),
                    (_, Err(WorkspaceError::Archived))
                        | (Command::Rename(..), Err(WorkspaceError::InvalidName(_)))
                );
                prop_assert!(ok, "archived: {:?} gave {:?}", command, result);
            }
            // The standing follows the newest report only; a lapsed workspace invites nobody.
            if let Command::Follow(standing, version) = command {
                if *version > before.subscription_standing_as_of() {
                    prop_assert_eq!(ws.subscription_standing(), *standing);
                    prop_assert_eq!(ws.subscription_standing_as_of(), *version);
                } else {
                    prop_assert_eq!(ws.subscription_standing(), before.subscription_standing());
                    prop_assert_eq!(
                        ws.subscription_standing_as_of(),
                        before.subscription_standing_as_of()
                    );
                }
            }
            if before.subscription_standing() == SubscriptionStanding::Lapsed
                && matches!(command, Command::Invite { .. })
            {
                prop_assert!(result.is_err(), "a lapsed workspace invited");
            }
            if let Some(actor) = deleter {
                let allowed = !before.is_archived()
                    && before.is_pristine()
                    && actor == before.created_by();
                prop_assert_eq!(result.is_ok(), allowed);
            }

            // There is always at least one Owner.
            prop_assert!(ws.owner_count() >= 1);
            // Seats in use never exceed the limit, which is at least 1.
            prop_assert!(ws.seat_limit() >= 1);
            prop_assert!(ws.seats_in_use() <= ws.seat_limit());
            // Each user is a member at most once.
            let ids: Vec<_> = ws.member_ids().collect();
            let unique: HashSet<_> = ids.iter().collect();
            prop_assert_eq!(unique.len(), ids.len());
            // At most one pending invitation per email, and never as Owner.
            let pending: Vec<_> = ws.pending_invitations().map(|i| i.email.clone()).collect();
            let unique: HashSet<_> = pending.iter().collect();
            prop_assert_eq!(unique.len(), pending.len());
            prop_assert!(ws.invitations().iter().all(|i| i.role != Role::Owner));
            // Pristine means the creator alone, never an invitation.
            if ws.is_pristine() {
                prop_assert_eq!(ids, vec![uid(1)]);
                prop_assert!(ws.invitations().is_empty());
            }
            // The sweeper's due time is the earliest pending expiry.
            prop_assert_eq!(ws.next_due(), ws.pending_invitations().map(|i| i.expires_at).min());
            // An accepted command leaves no due invitation pending.
            if matches!(&result, Ok(events) if !events.is_empty())
                && !matches!(command, Command::Delete(_))
            {
                prop_assert!(ws.invitations().iter().all(|i| !i.is_due_at(now)));
            }
            prop_assert!(ws
                .invitations()
                .iter()
                .all(|i| i.status != InvitationStatus::Pending || i.expires_at > i.invited_at));
        }
        let json = serde_json::to_string(&run.ws).unwrap();
        let back: Workspace = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, run.ws);
    }
}
