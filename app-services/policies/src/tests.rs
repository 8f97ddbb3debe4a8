use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use kernel_domain::RejectionKind;
use platform::consume::HandlerError;
use ports_app::{
    AppError, ErrorKind, Mail, MailKind, Member, MockFeeds, MockMailer, MockSubscriptions,
    MockUsers, MockWorkspaces, Role, Subscription, SubscriptionReadError, SubscriptionStatus,
    UserId, Workspace, WorkspaceId, WorkspacePage, types::examples,
};
use prost::Message as _;
use saas_proto::{
    billing::v1::{
        SubscriptionPaymentFailed, SubscriptionPeriodEnded, SubscriptionSeatsChanged,
        SubscriptionTrialExpired, SubscriptionTrialStarted,
    },
    events::v1::EventEnvelope,
    identity::v1::UserErased,
};
use uuid::Uuid;

use crate::{CONSUMERS, ERASED_USER, FEED, Policies, SEAT_LIMIT, event_ctx, handler_error};

mod feed;
mod sign_up;
mod standing;

// ---------------------------------------------------------------------------------------------
// Helpers

/// An envelope of `event_type` carrying `message` as `full_name`, with a fresh event id.
fn envelope(event_type: &str, full_name: &str, message: &impl prost::Message) -> EventEnvelope {
    EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        event_type: event_type.to_owned(),
        aggregate_type: event_type
            .rsplit_once('.')
            .map(|(a, _)| a.to_owned())
            .unwrap(),
        aggregate_id: Uuid::now_v7().to_string(),
        aggregate_version: 2,
        occur_time: None,
        workspace_id: String::new(),
        payload: Some(prost_types::Any {
            type_url: format!("type.googleapis.com/{full_name}"),
            value: message.encode_to_vec(),
        }),
    }
}

/// The entry Notifications answers for an append.
fn an_appended_entry(
    feed: ports_app::UserId,
    entry: ports_app::NewFeedEntry,
) -> ports_app::FeedEntry {
    ports_app::FeedEntry {
        feed_id: feed,
        sequence: 1,
        kind: entry.kind,
        workspace_id: entry.workspace_id,
        payload_json: entry.payload_json,
        source_event_id: entry.source_event_id,
        create_time: examples::made_at(),
    }
}

fn refused(kind: RejectionKind, code: &'static str) -> AppError {
    AppError::rejected(kind, code, format!("refused: {code}"))
}

fn unavailable() -> AppError {
    refused(RejectionKind::Unavailable, "OVERLOADED")
}

fn timeout() -> AppError {
    AppError {
        kind: ErrorKind::Timeout,
        code: "TIMEOUT".into(),
        message: "no answer in time".into(),
        fields: Vec::new(),
        retry_after: None,
    }
}

/// The request id a policy's step gets for `envelope`.
fn step_id(envelope: &EventEnvelope, step: &str) -> String {
    event_ctx(envelope).unwrap().step(step)
}

/// Everything the policies asked for, in order.
type Log = Arc<Mutex<Vec<String>>>;

fn entries(log: &Log) -> Vec<String> {
    log.lock().unwrap().clone()
}

#[derive(Default)]
struct Mocks {
    users: MockUsers,
    workspaces: MockWorkspaces,
    subscriptions: MockSubscriptions,
    feeds: MockFeeds,
    mailer: MockMailer,
}

impl Mocks {
    fn policies(self) -> Policies {
        Policies::new(
            Arc::new(self.users),
            Arc::new(self.workspaces),
            Arc::new(self.subscriptions),
            Arc::new(self.feeds),
            Arc::new(self.mailer),
        )
    }
}

/// The workspace `id` named `name` with exactly these members (user id, role).
fn workspace_of(id: Uuid, name: &str, members: &[(Uuid, Role)]) -> Workspace {
    Workspace {
        name: name.to_owned(),
        members: members
            .iter()
            .map(|&(user_id, role)| Member {
                user_id: user_id.into(),
                role,
                join_time: examples::made_at(),
            })
            .collect(),
        ..examples::workspace(id.into(), Uuid::now_v7().into())
    }
}

/// A workspace `id` as Workspace answers a command.
fn a_workspace(id: Uuid) -> Workspace {
    examples::workspace(id.into(), Uuid::now_v7().into())
}

fn is_permanent(result: &Result<(), HandlerError>, containing: &str) -> bool {
    matches!(result, Err(HandlerError::Permanent(reason)) if reason.contains(containing))
}

fn is_retry(result: &Result<(), HandlerError>, containing: &str) -> bool {
    matches!(result, Err(HandlerError::Retry(reason)) if reason.contains(containing))
}

// ---------------------------------------------------------------------------------------------
// Shared rules

#[test]
fn transient_failures_retry_and_other_refusals_park() {
    for (error, retried) in [
        (timeout(), true),
        (AppError::internal("connection reset"), true),
        (unavailable(), true),
        (refused(RejectionKind::Aborted, "ETAG_MISMATCH"), true),
        (
            refused(RejectionKind::NotFound, "WORKSPACE_NOT_FOUND"),
            false,
        ),
        (
            refused(RejectionKind::InvalidArgument, "REQUEST_ID_REUSED"),
            false,
        ),
        (
            refused(
                RejectionKind::FailedPrecondition,
                "SEAT_LIMIT_BELOW_SEATS_IN_USE",
            ),
            false,
        ),
        (refused(RejectionKind::AlreadyExists, "TAKEN"), false),
        (refused(RejectionKind::PermissionDenied, "DENIED"), false),
        (
            refused(RejectionKind::Unauthenticated, "UNAUTHENTICATED"),
            false,
        ),
    ] {
        let mapped = handler_error(&error);
        match (&mapped, retried) {
            (HandlerError::Retry(reason), true) | (HandlerError::Permanent(reason), false) => {
                assert!(reason.contains(error.code.as_ref()), "{reason}");
            }
            _ => panic!("{error:?} became {mapped:?}"),
        }
    }
}

#[test]
fn an_event_gives_its_policies_a_stable_request_id_of_their_own() {
    let first = envelope(
        crate::USER_ERASED,
        "saas.identity.v1.UserErased",
        &UserErased::default(),
    );
    let ctx = event_ctx(&first).unwrap();
    assert_eq!(ctx.actor, None);
    assert_eq!(ctx.request_id.to_string(), first.event_id);
    assert_eq!(ctx.correlation_id, first.event_id);
    assert_eq!(
        step_id(&first, SEAT_LIMIT),
        step_id(&EventEnvelope { ..first.clone() }, SEAT_LIMIT)
    );
    assert_ne!(step_id(&first, SEAT_LIMIT), step_id(&first, ERASED_USER));
    let second = EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        ..first.clone()
    };
    assert_ne!(step_id(&first, SEAT_LIMIT), step_id(&second, SEAT_LIMIT));

    let bad = EventEnvelope {
        event_id: "not-a-uuid".into(),
        ..first
    };
    assert!(matches!(event_ctx(&bad), Err(HandlerError::Permanent(_))));
}

#[test]
fn the_consumers_read_the_subjects_of_their_events() {
    use platform::bus::{EVENT_SUBJECT_PREFIX, local::subject_matches};
    let subject = |event_type: &str| format!("{EVENT_SUBJECT_PREFIX}{event_type}");
    let [
        (seat, seat_filter),
        (erased, erased_filter),
        (past_due, past_due_filter),
        (feed, feed_filter),
        (standing, standing_filter),
        (sign_up, sign_up_filter),
    ] = CONSUMERS;
    assert_eq!(
        [seat, erased, past_due, feed, standing, sign_up],
        [
            "policy-seat-limit",
            "policy-erased-user",
            "policy-past-due",
            "policy-feed",
            "policy-subscription-standing",
            "policy-sign-up",
        ]
    );
    assert!(subject_matches(
        sign_up_filter,
        &subject(crate::SIGN_UP_UNFINISHED)
    ));
    assert!(!subject_matches(
        sign_up_filter,
        &subject(crate::USER_ERASED)
    ));
    for event_type in crate::STANDING_EVENTS {
        assert!(
            subject_matches(standing_filter, &subject(event_type)),
            "{event_type}"
        );
    }
    assert!(!subject_matches(
        standing_filter,
        &subject(crate::USER_ERASED)
    ));
    for event_type in [
        crate::MEMBER_JOINED,
        crate::ROLE_CHANGED,
        crate::MEMBER_REMOVED,
        crate::PLAN_CHANGED,
        crate::SEATS_CHANGED,
        crate::PAYMENT_FAILED,
        crate::TRIAL_EXPIRED,
        crate::PERIOD_ENDED,
    ] {
        assert!(
            subject_matches(feed_filter, &subject(event_type)),
            "{event_type}"
        );
    }
    assert!(!subject_matches(
        feed_filter,
        "saas.other.workspace.member_joined"
    ));
    assert!(subject_matches(seat_filter, &subject(crate::SEATS_CHANGED)));
    assert!(!subject_matches(
        seat_filter,
        &subject(crate::PAYMENT_FAILED)
    ));
    assert!(subject_matches(erased_filter, &subject(crate::USER_ERASED)));
    assert!(!subject_matches(
        erased_filter,
        &subject("identity.user.suspended")
    ));
    for past in [
        crate::PAYMENT_FAILED,
        crate::TRIAL_EXPIRED,
        crate::PERIOD_ENDED,
    ] {
        assert!(subject_matches(past_due_filter, &subject(past)));
    }
    assert!(!subject_matches(
        past_due_filter,
        &subject(crate::USER_ERASED)
    ));
}

// ---------------------------------------------------------------------------------------------
// Seat limit

struct SeatCase {
    workspace_id: Uuid,
    subscription_id: Uuid,
    event: EventEnvelope,
}

impl SeatCase {
    fn new(seats: i32) -> SeatCase {
        let (workspace_id, subscription_id) = (Uuid::now_v7(), Uuid::now_v7());
        let event = envelope(
            crate::SEATS_CHANGED,
            "saas.billing.v1.SubscriptionSeatsChanged",
            &SubscriptionSeatsChanged {
                subscription_id: subscription_id.to_string(),
                workspace_id: workspace_id.to_string(),
                previous_seats: 5,
                seats,
                monthly_amount_minor: i64::from(seats) * 800,
                currency_code: "USD".into(),
            },
        );
        SeatCase {
            workspace_id,
            subscription_id,
            event,
        }
    }

    /// Billing answers the subscription with `seats`, `times` times.
    fn subscription_has(&self, mocks: &mut Mocks, seats: i32, times: usize) {
        let id = self.subscription_id;
        let answer = Subscription {
            id: id.into(),
            seats,
            status: SubscriptionStatus::Active,
            ..examples::subscription(self.workspace_id.into())
        };
        mocks
            .subscriptions
            .expect_get_subscription()
            .withf(move |ctx, asked| ctx.actor.is_none() && asked.as_uuid() == id)
            .times(times)
            .returning(move |_, _| Ok(answer.clone()));
    }

    /// The workspace answers `set_seat_limit` as given (an error by its kind), logging
    /// `<step> <request id> <seat limit>` of each call.
    fn seat_limit_answers(
        &self,
        mocks: &mut Mocks,
        times: usize,
        answer: Result<Workspace, AppError>,
    ) -> Log {
        let log = Log::default();
        let seen = log.clone();
        let id = WorkspaceId::from(self.workspace_id);
        mocks
            .workspaces
            .expect_set_seat_limit()
            .withf(move |ctx, _, asked, _| ctx.actor.is_none() && *asked == id)
            .times(times)
            .returning(move |ctx, step, _, seat_limit| {
                seen.lock()
                    .unwrap()
                    .push(format!("{step} {} {seat_limit}", ctx.step(step)));
                answer.clone().map_err(Into::into)
            });
        log
    }
}

#[tokio::test]
async fn the_seat_limit_follows_the_seats_once_per_event() {
    let case = SeatCase::new(8);
    let mut mocks = Mocks::default();
    case.subscription_has(&mut mocks, 8, 3);
    let updated = Workspace {
        seat_limit: 8,
        ..a_workspace(case.workspace_id)
    };
    let log = case.seat_limit_answers(&mut mocks, 3, Ok(updated));
    let policies = mocks.policies();

    // The same event twice (a redelivery): the same request id, so Workspace replays.
    policies.seat_limit(case.event.clone()).await.unwrap();
    policies.seat_limit(case.event.clone()).await.unwrap();
    let expected = format!("{SEAT_LIMIT} {} 8", step_id(&case.event, SEAT_LIMIT));
    assert_eq!(entries(&log), vec![expected.clone(), expected.clone()]);

    // Another event with the same seats is another request.
    let other = EventEnvelope {
        event_id: Uuid::now_v7().to_string(),
        ..case.event.clone()
    };
    policies.seat_limit(other).await.unwrap();
    let third = entries(&log)[2].clone();
    assert_ne!(third, expected);
    assert!(third.starts_with(&format!("{SEAT_LIMIT} ")), "{third}");
    assert!(third.ends_with(" 8"), "{third}");
}

#[tokio::test]
async fn an_event_overtaken_by_a_later_seat_change_sets_nothing() {
    let case = SeatCase::new(8);
    let mut mocks = Mocks::default();
    case.subscription_has(&mut mocks, 6, 1);
    mocks.workspaces.expect_set_seat_limit().never();
    mocks.policies().seat_limit(case.event).await.unwrap();
}

#[tokio::test]
async fn a_workspace_using_more_seats_parks_the_event() {
    let case = SeatCase::new(2);
    let mut mocks = Mocks::default();
    case.subscription_has(&mut mocks, 2, 1);
    let refusal = refused(
        RejectionKind::FailedPrecondition,
        "SEAT_LIMIT_BELOW_SEATS_IN_USE",
    );
    let log = case.seat_limit_answers(&mut mocks, 1, Err(refusal));
    let result = mocks.policies().seat_limit(case.event.clone()).await;
    assert!(
        is_permanent(&result, "SEAT_LIMIT_BELOW_SEATS_IN_USE"),
        "{result:?}"
    );
    assert_eq!(
        entries(&log),
        vec![format!(
            "{SEAT_LIMIT} {} 2",
            step_id(&case.event, SEAT_LIMIT)
        )]
    );
}

#[tokio::test]
async fn seat_limit_failures_settle_by_their_kind() {
    // The subscription cannot be read: retried, nothing set.
    let case = SeatCase::new(8);
    let mut mocks = Mocks::default();
    mocks
        .subscriptions
        .expect_get_subscription()
        .times(1)
        .returning(|_, _| Err(SubscriptionReadError::Other(timeout())));
    mocks.workspaces.expect_set_seat_limit().never();
    let result = mocks.policies().seat_limit(case.event).await;
    assert!(is_retry(&result, "TIMEOUT"), "{result:?}");

    // No such subscription: parked.
    let case = SeatCase::new(8);
    let mut mocks = Mocks::default();
    mocks
        .subscriptions
        .expect_get_subscription()
        .times(1)
        .returning(|_, _| {
            Err(SubscriptionReadError::NotFound(AppError::not_found(
                "SUBSCRIPTION_NOT_FOUND",
                "no such subscription",
            )))
        });
    let result = mocks.policies().seat_limit(case.event).await;
    assert!(
        is_permanent(&result, "SUBSCRIPTION_NOT_FOUND"),
        "{result:?}"
    );

    // The workspace is overloaded: retried; it is gone: parked.
    for (error, retried) in [
        (unavailable(), true),
        (
            AppError::not_found("WORKSPACE_NOT_FOUND", "no such workspace"),
            false,
        ),
    ] {
        let case = SeatCase::new(8);
        let mut mocks = Mocks::default();
        case.subscription_has(&mut mocks, 8, 1);
        case.seat_limit_answers(&mut mocks, 1, Err(error.clone()));
        let result = mocks.policies().seat_limit(case.event).await;
        if retried {
            assert!(is_retry(&result, &error.code), "{result:?}");
        } else {
            assert!(is_permanent(&result, &error.code), "{result:?}");
        }
    }
}

#[tokio::test]
async fn undecodable_seat_events_are_parked_without_a_call() {
    let case = SeatCase::new(8);
    let mut bad = Vec::new();
    bad.push(EventEnvelope {
        payload: None,
        ..case.event.clone()
    });
    let mut wrong_type = case.event.clone();
    wrong_type.payload.as_mut().unwrap().type_url =
        "type.googleapis.com/saas.billing.v1.SubscriptionPlanChanged".into();
    bad.push(wrong_type);
    let mut garbage = case.event.clone();
    garbage.payload.as_mut().unwrap().value = vec![0xff, 0xff, 0xff];
    bad.push(garbage);
    bad.push(EventEnvelope {
        event_id: "seventeen".into(),
        ..case.event.clone()
    });
    for (workspace_id, seats) in [("nope", 8), (case.workspace_id.to_string().as_str(), 0)] {
        bad.push(envelope(
            crate::SEATS_CHANGED,
            "saas.billing.v1.SubscriptionSeatsChanged",
            &SubscriptionSeatsChanged {
                subscription_id: case.subscription_id.to_string(),
                workspace_id: workspace_id.to_owned(),
                seats,
                ..Default::default()
            },
        ));
    }
    for event in bad {
        // No expectations: any port call fails the test.
        let result = Mocks::default().policies().seat_limit(event.clone()).await;
        assert!(
            matches!(result, Err(HandlerError::Permanent(_))),
            "{event:?}: {result:?}"
        );
    }
}

#[tokio::test]
async fn policies_ignore_events_they_do_not_handle() {
    let started = envelope(
        "billing.subscription.trial_started",
        "saas.billing.v1.SubscriptionTrialStarted",
        &SubscriptionTrialStarted::default(),
    );
    let policies = Mocks::default().policies();
    policies.seat_limit(started.clone()).await.unwrap();
    policies.erased_user(started.clone()).await.unwrap();
    policies.past_due(started.clone()).await.unwrap();
    policies.feed(started).await.unwrap();
}

// ---------------------------------------------------------------------------------------------
// Erased user

fn erased(user_id: Uuid) -> EventEnvelope {
    envelope(
        crate::USER_ERASED,
        "saas.identity.v1.UserErased",
        &UserErased {
            user_id: user_id.to_string(),
        },
    )
}

/// The user's workspaces come in pages of the given ids.
fn workspaces_listed(mocks: &mut Mocks, user_id: Uuid, pages: Vec<Vec<Uuid>>, rounds: usize) {
    let count = pages.len();
    for (n, page) in pages.into_iter().enumerate() {
        let token = if n == 0 {
            String::new()
        } else {
            format!("page-{n}")
        };
        let next = if n + 1 == count {
            String::new()
        } else {
            format!("page-{}", n + 1)
        };
        let user = UserId::from(user_id);
        mocks
            .workspaces
            .expect_list_user_workspaces()
            .withf(move |ctx, asked, _, page_token| {
                ctx.actor.is_none() && *asked == user && *page_token == token
            })
            .times(rounds)
            .returning(move |_, _, _, _| {
                Ok(WorkspacePage {
                    workspaces: page.iter().map(|&id| a_workspace(id)).collect(),
                    next_page_token: next.clone(),
                })
            });
    }
}

/// `remove_erased_user` answers per workspace by `answer` (an error by its kind), logging
/// `<workspace> <step> <request id>`.
fn removal_answers(
    mocks: &mut Mocks,
    user_id: Uuid,
    answer: impl Fn(Uuid) -> Result<Workspace, AppError> + Send + 'static,
) -> Log {
    let log = Log::default();
    let seen = log.clone();
    let user = UserId::from(user_id);
    mocks
        .workspaces
        .expect_remove_erased_user()
        .withf(move |ctx, _, _, asked| ctx.actor.is_none() && *asked == user)
        .returning(move |ctx, step, id, _| {
            seen.lock()
                .unwrap()
                .push(format!("{id} {step} {}", ctx.step(step)));
            answer(id.as_uuid()).map_err(Into::into)
        });
    log
}

#[tokio::test]
async fn an_erased_user_leaves_every_workspace_once_per_event() {
    let user_id = Uuid::now_v7();
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let mut mocks = Mocks::default();
    workspaces_listed(
        &mut mocks,
        user_id,
        vec![ids[..2].to_vec(), ids[2..].to_vec()],
        2,
    );
    let log = removal_answers(&mut mocks, user_id, |id| Ok(a_workspace(id)));
    let policies = mocks.policies();
    let event = erased(user_id);
    policies.erased_user(event.clone()).await.unwrap();
    let expected: Vec<String> = ids
        .iter()
        .map(|id| {
            let step = format!("{ERASED_USER}/{id}");
            format!("{id} {step} {}", step_id(&event, &step))
        })
        .collect();
    assert_eq!(entries(&log), expected);
    // Each workspace gets its own request id.
    let request_ids: std::collections::HashSet<&str> = expected
        .iter()
        .filter_map(|line| line.split(' ').nth(2))
        .collect();
    assert_eq!(request_ids.len(), 3);

    // A duplicate delivery asks with the very same request ids.
    policies.erased_user(event).await.unwrap();
    assert_eq!(entries(&log)[3..], expected[..]);
}

#[tokio::test]
async fn a_user_in_no_workspace_needs_nothing() {
    let user_id = Uuid::now_v7();
    let mut mocks = Mocks::default();
    workspaces_listed(&mut mocks, user_id, vec![Vec::new()], 1);
    mocks.workspaces.expect_remove_erased_user().never();
    mocks.policies().erased_user(erased(user_id)).await.unwrap();
}

#[tokio::test]
async fn every_workspace_is_tried_and_a_transient_failure_wins() {
    let user_id = Uuid::now_v7();
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let (gone, stuck, busy) = (ids[0], ids[1], ids[2]);
    let mut mocks = Mocks::default();
    workspaces_listed(&mut mocks, user_id, vec![ids.clone()], 1);
    let log = removal_answers(&mut mocks, user_id, move |id| {
        if id == gone {
            Err(AppError::not_found("WORKSPACE_NOT_FOUND", "gone"))
        } else if id == stuck {
            Err(refused(RejectionKind::InvalidArgument, "REQUEST_ID_REUSED"))
        } else if id == busy {
            Err(unavailable())
        } else {
            Ok(a_workspace(id))
        }
    });
    let result = mocks.policies().erased_user(erased(user_id)).await;
    assert!(is_retry(&result, "OVERLOADED"), "{result:?}");
    assert_eq!(entries(&log).len(), 4);

    // Without the transient failure, the permanent one parks the event; a workspace that is
    // gone alone is no failure.
    let user_id = Uuid::now_v7();
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    let (gone, stuck) = (ids[0], ids[1]);
    let mut mocks = Mocks::default();
    workspaces_listed(&mut mocks, user_id, vec![ids.clone()], 1);
    let log = removal_answers(&mut mocks, user_id, move |id| {
        if id == gone {
            Err(AppError::not_found("WORKSPACE_NOT_FOUND", "gone"))
        } else if id == stuck {
            Err(refused(RejectionKind::InvalidArgument, "REQUEST_ID_REUSED"))
        } else {
            Ok(a_workspace(id))
        }
    });
    let result = mocks.policies().erased_user(erased(user_id)).await;
    assert!(is_permanent(&result, "REQUEST_ID_REUSED"), "{result:?}");
    assert_eq!(entries(&log).len(), 3);

    let user_id = Uuid::now_v7();
    let mut mocks = Mocks::default();
    workspaces_listed(&mut mocks, user_id, vec![vec![Uuid::now_v7()]], 1);
    removal_answers(&mut mocks, user_id, |_| {
        Err(AppError::not_found("WORKSPACE_NOT_FOUND", "gone"))
    });
    mocks.policies().erased_user(erased(user_id)).await.unwrap();
}

#[tokio::test]
async fn erased_user_read_failures_and_bad_payloads() {
    let user_id = Uuid::now_v7();
    let mut mocks = Mocks::default();
    mocks
        .workspaces
        .expect_list_user_workspaces()
        .times(1)
        .returning(|_, _, _, _| Err(timeout()));
    mocks.workspaces.expect_remove_erased_user().never();
    let result = mocks.policies().erased_user(erased(user_id)).await;
    assert!(is_retry(&result, "TIMEOUT"), "{result:?}");

    // A page token that comes back again would loop forever: an internal failure.
    let mut mocks = Mocks::default();
    mocks
        .workspaces
        .expect_list_user_workspaces()
        .times(2)
        .returning(|_, _, _, _| {
            Ok(WorkspacePage {
                workspaces: Vec::new(),
                next_page_token: "again".into(),
            })
        });
    let result = mocks.policies().erased_user(erased(user_id)).await;
    assert!(is_retry(&result, "INTERNAL"), "{result:?}");

    let not_a_user = envelope(
        crate::USER_ERASED,
        "saas.identity.v1.UserErased",
        &UserErased {
            user_id: "someone".into(),
        },
    );
    let mut garbage = erased(user_id);
    garbage.payload.as_mut().unwrap().value = vec![0x0a, 0xff];
    for event in [not_a_user, garbage] {
        let result = Mocks::default().policies().erased_user(event).await;
        assert!(
            matches!(result, Err(HandlerError::Permanent(_))),
            "{result:?}"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Past due

struct PastDueCase {
    workspace_id: Uuid,
    subscription_id: Uuid,
}

impl PastDueCase {
    fn new() -> PastDueCase {
        PastDueCase {
            workspace_id: Uuid::now_v7(),
            subscription_id: Uuid::now_v7(),
        }
    }

    /// The three events that leave a subscription past due.
    fn events(&self) -> Vec<EventEnvelope> {
        let (subscription_id, workspace_id) = (
            self.subscription_id.to_string(),
            self.workspace_id.to_string(),
        );
        vec![
            envelope(
                crate::PAYMENT_FAILED,
                "saas.billing.v1.SubscriptionPaymentFailed",
                &SubscriptionPaymentFailed {
                    subscription_id: subscription_id.clone(),
                    workspace_id: workspace_id.clone(),
                    monthly_amount_minor: 4000,
                    currency_code: "USD".into(),
                },
            ),
            envelope(
                crate::TRIAL_EXPIRED,
                "saas.billing.v1.SubscriptionTrialExpired",
                &SubscriptionTrialExpired {
                    subscription_id: subscription_id.clone(),
                    workspace_id: workspace_id.clone(),
                },
            ),
            envelope(
                crate::PERIOD_ENDED,
                "saas.billing.v1.SubscriptionPeriodEnded",
                &SubscriptionPeriodEnded {
                    subscription_id,
                    workspace_id,
                },
            ),
        ]
        .into_iter()
        .map(|event| EventEnvelope {
            aggregate_id: self.subscription_id.to_string(),
            ..event
        })
        .collect()
    }

    fn status_is(&self, mocks: &mut Mocks, status: SubscriptionStatus) {
        self.status_is_times(mocks, status, 1);
    }

    /// Billing answers the subscription in `status`, `times` times.
    fn status_is_times(&self, mocks: &mut Mocks, status: SubscriptionStatus, times: usize) {
        let id = self.subscription_id;
        let workspace_id = self.workspace_id;
        mocks
            .subscriptions
            .expect_get_subscription()
            .withf(move |_, asked| asked.as_uuid() == id)
            .times(times)
            .returning(move |_, asked| {
                Ok(Subscription {
                    id: asked,
                    status,
                    ..examples::subscription(workspace_id.into())
                })
            });
    }

    /// The workspace has these members (user id, role).
    fn members_are(&self, mocks: &mut Mocks, members: Members) {
        self.members_are_times(mocks, members, 1);
    }

    /// The workspace has these members (user id, role), read `times` times.
    fn members_are_times(&self, mocks: &mut Mocks, members: Members, times: usize) {
        let id = self.workspace_id;
        mocks
            .workspaces
            .expect_get_workspace()
            .withf(move |_, asked| asked.as_uuid() == id)
            .times(times)
            .returning(move |_, _| {
                Ok(Workspace {
                    slug: "engines".into(),
                    ..workspace_of(id, "Analytical\nEngines", &members)
                })
            });
    }
}

/// Identity knows these users (id, email; empty once erased).
fn users_are(mocks: &mut Mocks, known: Known) -> Log {
    let log = Log::default();
    let seen = log.clone();
    mocks
        .users
        .expect_batch_get_users()
        .returning(move |_, ids| {
            let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
            seen.lock().unwrap().push(ids.join(","));
            Ok(known
                .iter()
                .filter(|(id, _)| ids.contains(id))
                .map(|(id, email)| ports_app::User {
                    email: email.clone(),
                    ..examples::user(Uuid::parse_str(id).unwrap().into(), email)
                })
                .collect())
        });
    log
}

/// The mailer answers by `answer` and keeps every mail.
fn mails_answer(
    mocks: &mut Mocks,
    answer: impl Fn(&Mail) -> Result<(), AppError> + Send + 'static,
) -> Arc<Mutex<Vec<Mail>>> {
    let sent = Arc::new(Mutex::new(Vec::new()));
    let kept = sent.clone();
    mocks.mailer.expect_send().returning(move |mail| {
        kept.lock().unwrap().push(mail.clone());
        answer(&mail)
    });
    sent
}

/// Members as (user id, role) and users as (user id, email).
type Members = Vec<(Uuid, Role)>;
type Known = Vec<(String, String)>;

fn owners_and_a_member() -> (Members, Known) {
    let ids: Vec<Uuid> = (0..4).map(|_| Uuid::now_v7()).collect();
    let members = vec![
        (ids[0], Role::Owner),
        (ids[1], Role::Member),
        (ids[2], Role::Owner),
        (ids[3], Role::Owner),
    ];
    let users = vec![
        (ids[0].to_string(), "ada@example.com".to_owned()),
        (ids[1].to_string(), "member@example.com".to_owned()),
        (ids[2].to_string(), "grace@example.com".to_owned()),
        // Erased: no address.
        (ids[3].to_string(), String::new()),
    ];
    (members, users)
}

#[tokio::test]
async fn every_owner_is_mailed_when_the_subscription_falls_past_due() {
    let case = PastDueCase::new();
    for event in case.events() {
        let mut mocks = Mocks::default();
        case.status_is(&mut mocks, SubscriptionStatus::PastDue);
        let (members, users) = owners_and_a_member();
        let owners = [&members[0].0, &members[2].0, &members[3].0].map(|id| id.to_string());
        case.members_are(&mut mocks, members);
        let asked = users_are(&mut mocks, users);
        let sent = mails_answer(&mut mocks, |_| Ok(()));
        mocks.policies().past_due(event.clone()).await.unwrap();

        // Only Owners are looked up, in one batch.
        assert_eq!(entries(&asked), vec![owners.join(",")]);
        let sent = sent.lock().unwrap().clone();
        let to: Vec<&str> = sent.iter().map(|mail| mail.to.as_str()).collect();
        assert_eq!(to, ["ada@example.com", "grace@example.com"]);
        for mail in &sent {
            assert_eq!(mail.kind, MailKind::PastDue);
            assert_eq!(mail.kind.as_str(), "past-due");
            assert!(mail.token.is_empty());
            assert_eq!(mail.subject, "Payment needed for AnalyticalEngines");
            assert!(mail.text.contains("past due"), "{}", mail.text);
            assert!(mail.text.contains("engines"), "{}", mail.text);
        }
        let cause = match event.event_type.as_str() {
            crate::PAYMENT_FAILED => "payment",
            crate::TRIAL_EXPIRED => "trial",
            _ => "paid period",
        };
        assert!(sent[0].text.contains(cause), "{}", sent[0].text);
    }
}

#[tokio::test]
async fn a_subscription_no_longer_past_due_tells_nobody() {
    let case = PastDueCase::new();
    for status in [SubscriptionStatus::Active, SubscriptionStatus::Canceled] {
        let mut mocks = Mocks::default();
        case.status_is(&mut mocks, status);
        mocks.workspaces.expect_get_workspace().never();
        mocks.mailer.expect_send().never();
        let event = case.events().remove(0);
        mocks.policies().past_due(event).await.unwrap();
    }
}

#[tokio::test]
async fn owners_are_looked_up_in_batches_of_a_hundred() {
    let case = PastDueCase::new();
    let mut mocks = Mocks::default();
    case.status_is(&mut mocks, SubscriptionStatus::PastDue);
    let ids: Vec<Uuid> = (0..150).map(|_| Uuid::now_v7()).collect();
    case.members_are(
        &mut mocks,
        ids.iter().map(|&id| (id, Role::Owner)).collect(),
    );
    let asked = users_are(
        &mut mocks,
        ids.iter()
            .enumerate()
            .map(|(n, id)| (id.to_string(), format!("owner{n}@example.com")))
            .collect(),
    );
    let sent = mails_answer(&mut mocks, |_| Ok(()));
    mocks
        .policies()
        .past_due(case.events().remove(0))
        .await
        .unwrap();
    let batches: Vec<usize> = entries(&asked)
        .iter()
        .map(|ids| ids.split(',').count())
        .collect();
    assert_eq!(batches, [100, 50]);
    assert_eq!(sent.lock().unwrap().len(), 150);
}

#[tokio::test]
async fn a_mail_that_fails_retries_the_event_and_a_refused_address_is_skipped() {
    // The mailer fails: the event is retried (Owners before may be mailed again).
    let case = PastDueCase::new();
    let mut mocks = Mocks::default();
    case.status_is(&mut mocks, SubscriptionStatus::PastDue);
    let (members, users) = owners_and_a_member();
    case.members_are(&mut mocks, members);
    users_are(&mut mocks, users);
    let sent = mails_answer(&mut mocks, |mail| {
        if mail.to == "grace@example.com" {
            Err(AppError::internal("smtp down"))
        } else {
            Ok(())
        }
    });
    let result = mocks.policies().past_due(case.events().remove(0)).await;
    assert!(is_retry(&result, "INTERNAL"), "{result:?}");
    assert_eq!(sent.lock().unwrap().len(), 2);

    // An address the mailer refuses is skipped; the others are mailed.
    let case = PastDueCase::new();
    let mut mocks = Mocks::default();
    case.status_is(&mut mocks, SubscriptionStatus::PastDue);
    let (members, users) = owners_and_a_member();
    case.members_are(&mut mocks, members);
    users_are(&mut mocks, users);
    let sent = mails_answer(&mut mocks, |mail| {
        if mail.to == "ada@example.com" {
            Err(AppError::invalid_field(
                "INVALID_EMAIL",
                "email",
                "cannot receive mail",
            ))
        } else {
            Ok(())
        }
    });
    mocks
        .policies()
        .past_due(case.events().remove(0))
        .await
        .unwrap();
    let to: Vec<String> = sent.lock().unwrap().iter().map(|m| m.to.clone()).collect();
    assert_eq!(to, ["ada@example.com", "grace@example.com"]);
}

#[tokio::test]
async fn past_due_read_failures_and_bad_payloads() {
    // Billing times out: retried.
    let case = PastDueCase::new();
    let mut mocks = Mocks::default();
    mocks
        .subscriptions
        .expect_get_subscription()
        .times(1)
        .returning(|_, _| Err(SubscriptionReadError::Other(timeout())));
    let result = mocks.policies().past_due(case.events().remove(1)).await;
    assert!(is_retry(&result, "TIMEOUT"), "{result:?}");

    // The workspace is gone: parked.
    let mut mocks = Mocks::default();
    case.status_is(&mut mocks, SubscriptionStatus::PastDue);
    mocks
        .workspaces
        .expect_get_workspace()
        .times(1)
        .returning(|_, _| Err(AppError::not_found("WORKSPACE_NOT_FOUND", "gone").into()));
    mocks.mailer.expect_send().never();
    let result = mocks.policies().past_due(case.events().remove(2)).await;
    assert!(is_permanent(&result, "WORKSPACE_NOT_FOUND"), "{result:?}");

    // Identity is overloaded: retried.
    let mut mocks = Mocks::default();
    case.status_is(&mut mocks, SubscriptionStatus::PastDue);
    let (members, _) = owners_and_a_member();
    case.members_are(&mut mocks, members);
    mocks
        .users
        .expect_batch_get_users()
        .times(1)
        .returning(|_, _| Err(unavailable()));
    let result = mocks.policies().past_due(case.events().remove(0)).await;
    assert!(is_retry(&result, "OVERLOADED"), "{result:?}");

    // Payloads that are not what their type says: parked without a call.
    for mut event in case.events() {
        event.payload.as_mut().unwrap().value = vec![0x0a, 0xff];
        let result = Mocks::default().policies().past_due(event).await;
        assert!(
            matches!(result, Err(HandlerError::Permanent(_))),
            "{result:?}"
        );
    }
    let mut swapped = case.events().remove(0);
    swapped.payload.as_mut().unwrap().type_url =
        "type.googleapis.com/saas.billing.v1.SubscriptionTrialExpired".into();
    let result = Mocks::default().policies().past_due(swapped).await;
    assert!(
        matches!(result, Err(HandlerError::Permanent(_))),
        "{result:?}"
    );
    let not_a_workspace = envelope(
        crate::TRIAL_EXPIRED,
        "saas.billing.v1.SubscriptionTrialExpired",
        &SubscriptionTrialExpired {
            subscription_id: case.subscription_id.to_string(),
            workspace_id: "engines".into(),
        },
    );
    let result = Mocks::default().policies().past_due(not_a_workspace).await;
    assert!(
        matches!(result, Err(HandlerError::Permanent(_))),
        "{result:?}"
    );
}

// ---------------------------------------------------------------------------------------------
// Running over a bus

/// Waits until `condition` holds; panics after a generous deadline.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn run_feeds_each_policy_its_events_parks_failures_and_stops() {
    use platform::bus::{DeadLetters, EVENT_SUBJECT_PREFIX, Message, Publisher, local::LocalBus};

    let dir = tempfile::tempdir().unwrap();
    let bus = Arc::new(LocalBus::open(&dir.path().join("bus.db")).await.unwrap());
    let publish = |event: &EventEnvelope| {
        let bus = bus.clone();
        let message = Message {
            subject: format!("{EVENT_SUBJECT_PREFIX}{}", event.event_type),
            id: event.event_id.clone(),
            payload: event.encode_to_vec(),
        };
        async move { bus.publish(message).await.unwrap() }
    };

    let seats = SeatCase::new(8);
    let user_id = Uuid::now_v7();
    let past_due = PastDueCase::new();
    let mut mocks = Mocks::default();
    seats.subscription_has(&mut mocks, 8, 1);
    let seat_log = seats.seat_limit_answers(&mut mocks, 1, Ok(a_workspace(seats.workspace_id)));
    workspaces_listed(&mut mocks, user_id, vec![vec![Uuid::now_v7()]], 1);
    let removal_log = removal_answers(&mut mocks, user_id, |id| Ok(a_workspace(id)));
    // Read by the past-due policy and by the standing policy, which reports it lapsed.
    past_due.status_is_times(&mut mocks, SubscriptionStatus::PastDue, 2);
    let followed = Log::default();
    let seen = followed.clone();
    let past_due_workspace = WorkspaceId::from(past_due.workspace_id);
    mocks
        .workspaces
        .expect_follow_subscription()
        .withf(move |_, _, id, standing, _| {
            *id == past_due_workspace && *standing == ports_app::SubscriptionStanding::Lapsed
        })
        .times(1)
        .returning(move |_, step, id, _, _| {
            seen.lock().unwrap().push(step.to_owned());
            Ok(a_workspace(id.as_uuid()))
        });
    let (members, users) = owners_and_a_member();
    // Read by the past-due policy and by the feed policy.
    past_due.members_are_times(&mut mocks, members, 2);
    users_are(&mut mocks, users);
    let sent = mails_answer(&mut mocks, |_| Ok(()));
    // The feed policy reads the seat event's workspace (gone: nobody to tell) and appends an
    // entry for each of the three Owners of the past-due workspace.
    let seats_workspace = WorkspaceId::from(seats.workspace_id);
    mocks
        .workspaces
        .expect_get_workspace()
        .withf(move |_, asked| *asked == seats_workspace)
        .times(1)
        .returning(|_, _| Err(refused(RejectionKind::NotFound, "WORKSPACE_NOT_FOUND").into()));
    let appended = Log::default();
    let seen = appended.clone();
    mocks
        .feeds
        .expect_append_feed_entry()
        .returning(move |_, _, feed, entry| {
            seen.lock().unwrap().push(feed.to_string());
            Ok(an_appended_entry(feed, entry))
        });
    let policies = Arc::new(mocks.policies());

    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(policies.run(bus.clone(), async {
        let _ = stopped.await;
    }));

    publish(&seats.event).await;
    publish(&erased(user_id)).await;
    publish(&past_due.events().remove(0)).await;
    // A seat event whose payload is not a seat change is parked by the seat-limit consumer.
    let mut broken = SeatCase::new(3).event;
    broken.payload.as_mut().unwrap().value = vec![0xff];
    publish(&broken).await;

    until("the seat limit", || entries(&seat_log).len() == 1).await;
    until("the removal", || entries(&removal_log).len() == 1).await;
    until("the mails", || sent.lock().unwrap().len() == 2).await;
    until("the feed entries", || entries(&appended).len() == 3).await;
    until("the standing", || entries(&followed).len() == 1).await;
    let mut parked = Vec::new();
    for _ in 0..1000 {
        parked = bus.list().await.unwrap();
        if parked.len() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Both consumers of seat events park the broken one.
    assert_eq!(parked.len(), 2, "{parked:?}");
    let mut consumers: Vec<&str> = parked.iter().map(|p| p.consumer.as_str()).collect();
    consumers.sort_unstable();
    assert_eq!(consumers, [FEED, SEAT_LIMIT]);
    assert!(parked.iter().all(|p| p.message.id == broken.event_id));

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the policies stop")
        .unwrap();
}
