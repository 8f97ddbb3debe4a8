//! Random command sequences against each aggregate through its public API, with arbitrary
//! client text and numbers, checked after every command:
//!
//! - nothing panics;
//! - a refused command, or one that emits no event, leaves the aggregate as it was (the
//!   store saves nothing then);
//! - every event is named for its aggregate's context and serializes;
//! - the aggregate's snapshot (JSON, as the store keeps it) reads back equal, and its id
//!   never changes.
//!
//! The domain crates' own property tests check each aggregate's rules against a model;
//! these targets look for crashes and broken snapshots with inputs no model constrains.

use std::convert::Infallible;
use std::fmt::Debug;

use billing_domain::{Plan, Seats, Subscription, SubscriptionId};
use chrono::{DateTime, Duration, Utc};
use identity_domain::{
    DisplayName, Password, PasswordHash, PasswordHasher, SessionId, SuspensionReason, User, UserId,
};
use kernel_domain::{DomainEvent, Email, TokenHash, Uuid};
use notifications_domain::{EntryKind, Feed, FeedId, Payload, SourceEventId};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde::Serialize;
use serde::de::DeserializeOwned;
use workspace_domain::{
    InvitationId, Role, Slug, SubscriptionStanding, Workspace, WorkspaceId, WorkspaceName,
};

use super::{instant, step, text};
use crate::fuzz;

/// Applies one command and checks the properties above.
fn apply<A, Ev, E>(
    aggregate: &mut A,
    context: &str,
    command: impl FnOnce(&mut A) -> Result<Vec<Ev>, E>,
) -> TestCaseResult
where
    A: Clone + PartialEq + Debug + Serialize + DeserializeOwned,
    Ev: DomainEvent,
    E: Debug,
{
    let before = aggregate.clone();
    match command(aggregate) {
        Err(_) => prop_assert_eq!(&*aggregate, &before, "a refused command changed it"),
        Ok(events) if events.is_empty() => {
            prop_assert_eq!(&*aggregate, &before, "a command without events changed it");
        }
        Ok(events) => {
            for event in &events {
                let name = event.event_type();
                prop_assert!(name.starts_with(context), "{name} outside {context}");
                prop_assert!(
                    serde_json::to_value(event).is_ok(),
                    "{event:?} does not serialize"
                );
            }
        }
    }
    let snapshot = serde_json::to_value(&*aggregate).map_err(fail)?;
    let read: A = serde_json::from_value(snapshot).map_err(fail)?;
    prop_assert_eq!(&read, &*aggregate, "the snapshot does not read back equal");
    Ok(())
}

fn fail(error: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(error.to_string())
}

fn ok<T>(value: T) -> Result<T, Infallible> {
    Ok(value)
}

/// One of a few people: ids and addresses derived from a small number, so that commands
/// meet the same people again.
fn person() -> impl Strategy<Value = u8> {
    prop_oneof![2 => Just(0u8), 3 => 0u8..6]
}

fn email_of(n: u8) -> Email {
    Email::parse(&format!("p{n}@example.com")).unwrap_or_else(|e| panic!("{e}"))
}

fn role() -> impl Strategy<Value = Role> {
    prop::sample::select(Role::ALL.to_vec())
}

fn plan() -> impl Strategy<Value = Plan> {
    prop::sample::select(Plan::ALL.to_vec())
}

/// A seat count or limit: mostly small, sometimes anything.
fn count() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..12, 1 => any::<u32>()]
}

// ---------------------------------------------------------------- User

#[derive(Debug, Clone)]
enum UserCommand {
    Advance(Duration),
    ChangeDisplayName(String),
    ChangeEmail(String),
    Login { right: bool },
    ChangePassword { right: bool, new: String },
    OpenSession(u8),
    RefreshSession(u8),
    CloseSession(u8),
    StartVerification(u8),
    ConfirmVerification(u8),
    StartReset(u8),
    CompleteReset(u8, String),
    Suspend(String),
    Reactivate,
    Erase,
    Prune,
}

fn user_command() -> impl Strategy<Value = UserCommand> {
    use UserCommand::*;
    prop_oneof![
        3 => step().prop_map(Advance),
        2 => text().prop_map(ChangeDisplayName),
        2 => text().prop_map(ChangeEmail),
        4 => any::<bool>().prop_map(|right| Login { right }),
        2 => (any::<bool>(), text()).prop_map(|(right, new)| ChangePassword { right, new }),
        3 => (0u8..4).prop_map(OpenSession),
        2 => (0u8..4).prop_map(RefreshSession),
        2 => (0u8..4).prop_map(CloseSession),
        2 => (0u8..3).prop_map(StartVerification),
        2 => (0u8..3).prop_map(ConfirmVerification),
        2 => (0u8..3).prop_map(StartReset),
        2 => ((0u8..3), text()).prop_map(|(t, p)| CompleteReset(t, p)),
        1 => text().prop_map(Suspend),
        1 => Just(Reactivate),
        1 => Just(Erase),
        1 => Just(Prune),
    ]
}

/// Passwords "hashed" as themselves: the aggregate only compares what the hasher says.
struct PlainHasher;

impl PasswordHasher for PlainHasher {
    fn hash(&self, password: &Password) -> PasswordHash {
        PasswordHash::from_phc(format!("$plain${}", password.expose()))
    }

    fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> bool {
        hash.is_some_and(|h| h.as_phc() == self.hash(password).as_phc())
    }
}

const PASSWORD: &str = "correct horse battery";

fn password(raw: &str) -> Option<Password> {
    Password::parse(raw).ok()
}

fn user_step(user: &mut User, now: &mut DateTime<Utc>, command: &UserCommand) -> TestCaseResult {
    use UserCommand::*;
    let hasher = PlainHasher;
    let t = *now;
    let token = |n: u8| TokenHash::from_bytes([n; 32]);
    let session = |n: u8| SessionId::from_uuid(Uuid::from_u128(u128::from(n) + 1));
    let current = password(PASSWORD).ok_or_else(|| fail("the fixed password is refused"))?;
    let wrong = password("not the password at all").ok_or_else(|| fail("refused"))?;
    match command {
        Advance(by) => *now += *by,
        ChangeDisplayName(raw) => {
            if let Ok(name) = DisplayName::parse(raw) {
                apply(user, "identity.", |u| u.change_display_name(name, t))?;
            }
        }
        ChangeEmail(raw) => {
            if let Ok(email) = Email::parse(raw) {
                apply(user, "identity.", |u| u.change_email(email, t))?;
            }
        }
        Login { right } => {
            let presented = if *right { &current } else { &wrong };
            let check = user.check_credentials(presented, &hasher, t);
            apply(user, "identity.", |u| {
                u.record_login(check, t).map(|(_, events)| events)
            })?;
        }
        ChangePassword { right, new } => {
            if let Some(new) = password(new) {
                let presented = if *right { &current } else { &wrong };
                let check = user.check_credentials(presented, &hasher, t);
                let hash = hasher.hash(&new);
                apply(user, "identity.", |u| u.change_password(check, hash, t))?;
            }
        }
        OpenSession(n) => apply(user, "identity.", |u| u.open_session(session(*n), t))?,
        RefreshSession(n) => apply(user, "identity.", |u| u.refresh_session(session(*n), t))?,
        CloseSession(n) => apply(user, "identity.", |u| u.close_session(session(*n), t))?,
        StartVerification(n) => {
            apply(user, "identity.", |u| {
                u.start_email_verification(token(*n), t)
            })?;
        }
        ConfirmVerification(n) => {
            apply(user, "identity.", |u| {
                u.confirm_email_verification(&token(*n), t)
            })?;
        }
        StartReset(n) => apply(user, "identity.", |u| u.start_password_reset(token(*n), t))?,
        CompleteReset(n, new) => {
            if let Some(new) = password(new) {
                let hash = hasher.hash(&new);
                apply(user, "identity.", |u| {
                    u.complete_password_reset(&token(*n), hash, t)
                })?;
            }
        }
        Suspend(raw) => {
            if let Ok(reason) = SuspensionReason::parse(raw) {
                apply(user, "identity.", |u| u.suspend(reason, t))?;
            }
        }
        Reactivate => apply(user, "identity.", |u| u.reactivate(t))?,
        Erase => apply(user, "identity.", |u| u.erase(t))?,
        Prune => {
            let before = user.clone();
            if !user.prune_expired(t) {
                prop_assert_eq!(&*user, &before, "pruning nothing changed the user");
            }
        }
    }
    Ok(())
}

#[test]
fn user_command_sequences() {
    let strategy = (instant(), prop::collection::vec(user_command(), 1..60));
    fuzz("user_command_sequences", strategy, |(start, commands)| {
        let hasher = PlainHasher;
        let current = password(PASSWORD).ok_or_else(|| fail("refused"))?;
        let (mut user, _) = User::register(
            UserId::from_uuid(Uuid::from_u128(1)),
            email_of(0),
            DisplayName::parse("Ada").map_err(fail)?,
            hasher.hash(&current),
            start,
        );
        let mut now = start;
        for command in &commands {
            user_step(&mut user, &mut now, command)?;
            prop_assert_eq!(user.id(), UserId::from_uuid(Uuid::from_u128(1)));
        }
        Ok(())
    });
}

// ---------------------------------------------------------------- Workspace

#[derive(Debug, Clone)]
enum WorkspaceCommand {
    Advance(Duration),
    Rename(u8, String),
    Invite {
        actor: u8,
        invitee: u8,
        role: Role,
        tell: bool,
    },
    /// The invitee (or, when `right_user` is false, `other`) with the right (or a wrong)
    /// token.
    Accept {
        invitation: u8,
        right_user: bool,
        other: u8,
        right_token: bool,
    },
    Revoke(u8, u8),
    ChangeRole(u8, u8, Role),
    Remove(u8, u8),
    Leave(u8),
    Archive(u8),
    Unarchive(u8),
    Delete(u8),
    Expire,
    SetSeatLimit(u32),
    Follow(bool, u64),
    RemoveErased(u8),
}

fn workspace_command() -> impl Strategy<Value = WorkspaceCommand> {
    use WorkspaceCommand::*;
    prop_oneof![
        3 => step().prop_map(Advance),
        2 => (person(), text()).prop_map(|(a, n)| Rename(a, n)),
        10 => (person(), person(), role(), any::<bool>())
            .prop_map(|(actor, invitee, role, tell)| Invite { actor, invitee, role, tell }),
        10 => (0u8..8, prop::bool::weighted(0.8), person(), prop::bool::weighted(0.8))
            .prop_map(|(invitation, right_user, other, right_token)| Accept {
                invitation, right_user, other, right_token,
            }),
        2 => (person(), 0u8..8).prop_map(|(a, i)| Revoke(a, i)),
        4 => (person(), person(), role()).prop_map(|(a, m, r)| ChangeRole(a, m, r)),
        3 => (person(), person()).prop_map(|(a, m)| Remove(a, m)),
        3 => person().prop_map(Leave),
        1 => person().prop_map(Archive),
        1 => person().prop_map(Unarchive),
        1 => person().prop_map(Delete),
        1 => Just(Expire),
        2 => count().prop_map(SetSeatLimit),
        1 => (any::<bool>(), 0u64..8).prop_map(|(lapsed, version)| Follow(lapsed, version)),
        1 => person().prop_map(RemoveErased),
    ]
}

fn uid(n: u8) -> workspace_domain::UserId {
    workspace_domain::UserId::from_uuid(Uuid::from_u128(u128::from(n) + 1))
}

fn iid(n: u8) -> InvitationId {
    InvitationId::from_uuid(Uuid::from_u128(u128::from(n) + 100))
}

/// `invited[i]` is the person invitation `i` was sent to.
fn workspace_step(
    ws: &mut Workspace,
    invited: &mut Vec<u8>,
    now: &mut DateTime<Utc>,
    command: &WorkspaceCommand,
) -> TestCaseResult {
    use WorkspaceCommand::*;
    let t = *now;
    let token = |n: u8| TokenHash::from_bytes([n; 32]);
    let c = "workspace.";
    match command {
        Advance(by) => *now += *by,
        Rename(actor, raw) => {
            if let Ok(name) = WorkspaceName::parse(raw) {
                apply(ws, c, |w| w.rename(uid(*actor), name, t))?;
            }
        }
        Invite {
            actor,
            invitee,
            role,
            tell,
        } => {
            let n = u8::try_from(invited.len()).unwrap_or(u8::MAX);
            let invitee_id = tell.then(|| uid(*invitee));
            let email = email_of(*invitee);
            apply(ws, c, |w| {
                w.invite(uid(*actor), iid(n), email, invitee_id, *role, token(n), t)
            })?;
            invited.push(*invitee);
        }
        Accept {
            invitation,
            right_user,
            other,
            right_token,
        } => {
            let presented = if *right_token {
                token(*invitation)
            } else {
                token(200)
            };
            let invitee = invited.get(usize::from(*invitation)).copied();
            let user = match invitee {
                Some(invitee) if *right_user => invitee,
                _ => *other,
            };
            let (user, email) = (&user, email_of(user));
            apply(ws, c, |w| {
                w.accept_invitation(iid(*invitation), uid(*user), &email, &presented, t)
            })?;
        }
        Revoke(actor, i) => apply(ws, c, |w| w.revoke_invitation(uid(*actor), iid(*i), t))?,
        ChangeRole(actor, member, role) => {
            apply(ws, c, |w| {
                w.change_role(uid(*actor), uid(*member), *role, t)
            })?;
        }
        Remove(actor, member) => {
            apply(ws, c, |w| w.remove_member(uid(*actor), uid(*member), t))?;
        }
        Leave(actor) => apply(ws, c, |w| w.leave(uid(*actor), t))?,
        Archive(actor) => apply(ws, c, |w| w.archive(uid(*actor), t))?,
        Unarchive(actor) => apply(ws, c, |w| w.unarchive(uid(*actor), t))?,
        Delete(actor) => apply(ws, c, |w| w.delete(uid(*actor), t))?,
        Expire => apply(ws, c, |w| ok(w.expire_invitations(t)))?,
        SetSeatLimit(limit) => apply(ws, c, |w| w.set_seat_limit(*limit, t))?,
        Follow(lapsed, version) => {
            let standing = if *lapsed {
                SubscriptionStanding::Lapsed
            } else {
                SubscriptionStanding::Good
            };
            apply(ws, c, |w| w.follow_subscription(standing, *version, t))?;
        }
        RemoveErased(user) => apply(ws, c, |w| ok(w.remove_erased_user(uid(*user), t)))?,
    }
    prop_assert!(
        ws.owner_count() >= 1 || ws.members().is_empty(),
        "no owner left"
    );
    Ok(())
}

#[test]
fn workspace_command_sequences() {
    let strategy = (
        instant(),
        count(),
        prop::collection::vec(workspace_command(), 1..60),
    );
    fuzz(
        "workspace_command_sequences",
        strategy,
        |(start, seat_limit, commands)| {
            let id = WorkspaceId::from_uuid(Uuid::from_u128(7));
            let created = Workspace::create(
                id,
                Slug::parse("acme").map_err(fail)?,
                WorkspaceName::parse("Acme").map_err(fail)?,
                uid(0),
                seat_limit,
                start,
            );
            let Ok((mut ws, _)) = created else {
                prop_assert_eq!(seat_limit, 0);
                return Ok(());
            };
            let mut now = start;
            let mut invited = Vec::new();
            for command in &commands {
                workspace_step(&mut ws, &mut invited, &mut now, command)?;
                prop_assert_eq!(ws.id(), id);
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------- Subscription

#[derive(Debug, Clone)]
enum SubscriptionCommand {
    Advance(Duration),
    ChangePlan(Plan, u32),
    ChangeSeats(u32, u32),
    PaymentSucceeded,
    PaymentFailed,
    Cancel(bool),
    Resume,
    ExpireTrial,
    EndPeriod,
    Due,
}

fn subscription_command() -> impl Strategy<Value = SubscriptionCommand> {
    use SubscriptionCommand::*;
    prop_oneof![
        4 => step().prop_map(Advance),
        3 => (plan(), count()).prop_map(|(p, used)| ChangePlan(p, used)),
        3 => (count(), count()).prop_map(|(s, used)| ChangeSeats(s, used)),
        2 => Just(PaymentSucceeded),
        2 => Just(PaymentFailed),
        1 => any::<bool>().prop_map(Cancel),
        1 => Just(Resume),
        1 => Just(ExpireTrial),
        1 => Just(EndPeriod),
        2 => Just(Due),
    ]
}

fn subscription_step(
    sub: &mut Subscription,
    now: &mut DateTime<Utc>,
    command: &SubscriptionCommand,
) -> TestCaseResult {
    use SubscriptionCommand::*;
    let t = *now;
    let c = "billing.";
    match command {
        Advance(by) => *now += *by,
        ChangePlan(plan, used) => apply(sub, c, |s| s.change_plan(*plan, *used, t))?,
        ChangeSeats(seats, used) => {
            if let Ok(seats) = Seats::parse(*seats) {
                apply(sub, c, |s| s.change_seats(seats, *used, t))?;
            }
        }
        PaymentSucceeded => apply(sub, c, |s| s.record_payment_succeeded(t))?,
        PaymentFailed => apply(sub, c, |s| s.record_payment_failed(t))?,
        Cancel(at_end) => apply(sub, c, |s| s.cancel(*at_end, t))?,
        Resume => apply(sub, c, |s| s.resume(t))?,
        ExpireTrial => apply(sub, c, |s| s.expire_trial(t))?,
        EndPeriod => apply(sub, c, |s| s.end_period(t))?,
        Due => match sub.due_command(t) {
            Some(billing_domain::DueWork::ExpireTrial) => {
                apply(sub, c, |s| s.expire_trial(t))?;
            }
            Some(billing_domain::DueWork::EndPeriod) => apply(sub, c, |s| s.end_period(t))?,
            None => {}
        },
    }
    prop_assert!(
        sub.seats().get() <= sub.plan().max_seats(),
        "{} seats on {:?}",
        sub.seats(),
        sub.plan()
    );
    Ok(())
}

#[test]
fn subscription_command_sequences() {
    let strategy = (
        instant(),
        plan(),
        count(),
        prop::collection::vec(subscription_command(), 1..60),
    );
    fuzz(
        "subscription_command_sequences",
        strategy,
        |(start, plan, seats, commands)| {
            let id = SubscriptionId::from_uuid(Uuid::from_u128(9));
            let workspace = billing_domain::WorkspaceId::from_uuid(Uuid::from_u128(7));
            let Ok(seats) = Seats::parse(seats) else {
                return Ok(());
            };
            let Ok((mut sub, _)) =
                Subscription::start_trial_with(id, workspace, plan, seats, start)
            else {
                prop_assert!(seats.get() > plan.max_seats());
                return Ok(());
            };
            let mut now = start;
            for command in &commands {
                subscription_step(&mut sub, &mut now, command)?;
                prop_assert_eq!(sub.id(), id);
            }
            Ok(())
        },
    );
}

// ---------------------------------------------------------------- Feed

#[derive(Debug, Clone)]
enum FeedCommand {
    Advance(Duration),
    Append {
        source: u16,
        kind: String,
        payload: String,
    },
    MarkRead(u64),
    Expire,
}

fn feed_command() -> impl Strategy<Value = FeedCommand> {
    use FeedCommand::*;
    prop_oneof![
        2 => step().prop_map(Advance),
        8 => (0u16..40, prop_oneof![3 => Just("workspace.member_joined".to_owned()), 1 => text()], text())
            .prop_map(|(source, kind, payload)| Append { source, kind, payload }),
        3 => prop_oneof![0u64..50, any::<u64>()].prop_map(MarkRead),
        1 => Just(Expire),
    ]
}

fn feed_step(feed: &mut Feed, now: &mut DateTime<Utc>, command: &FeedCommand) -> TestCaseResult {
    use FeedCommand::*;
    let t = *now;
    let c = "notifications.";
    match command {
        Advance(by) => *now += *by,
        Append {
            source,
            kind,
            payload,
        } => {
            let (Ok(kind), Ok(payload)) = (EntryKind::parse(kind), Payload::parse(payload)) else {
                return Ok(());
            };
            let source = SourceEventId::from_uuid(Uuid::from_u128(u128::from(*source) + 1));
            let last = feed.last_seq();
            let known = feed.source_seq(source).is_some();
            apply(feed, c, |f| ok(f.append(source, kind, None, payload, t)))?;
            if !known {
                prop_assert_eq!(feed.last_seq(), last + 1, "a new source appends one entry");
            }
        }
        MarkRead(up_to) => apply(feed, c, |f| f.mark_read(*up_to, t))?,
        Expire => apply(feed, c, |f| ok(f.expire(t)))?,
    }
    prop_assert!(feed.read_up_to_seq() <= feed.last_seq());
    prop_assert!(feed.unread_count() <= feed.retained_count());
    Ok(())
}

#[test]
fn feed_command_sequences() {
    let strategy = (instant(), prop::collection::vec(feed_command(), 1..80));
    fuzz("feed_command_sequences", strategy, |(start, commands)| {
        let id = FeedId::from_uuid(Uuid::from_u128(3));
        let mut feed = Feed::open(id, start);
        let mut now = start;
        for command in &commands {
            feed_step(&mut feed, &mut now, command)?;
            prop_assert_eq!(feed.id(), id);
        }
        Ok(())
    });
}
