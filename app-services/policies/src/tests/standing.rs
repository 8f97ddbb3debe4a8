//! The workspace follows its subscription's standing.

use kernel_domain::Version;
use ports_app::SubscriptionStanding;

use super::*;
use crate::STANDING;

/// A subscription event of `event_type` about a fresh subscription (the payload is not read:
/// the policy reads the subscription itself).
fn subscription_event(event_type: &str) -> (EventEnvelope, Uuid) {
    let subscription_id = Uuid::now_v7();
    let event = EventEnvelope {
        aggregate_id: subscription_id.to_string(),
        ..envelope(
            event_type,
            "saas.billing.v1.SubscriptionPaymentFailed",
            &SubscriptionPaymentFailed {
                subscription_id: subscription_id.to_string(),
                ..Default::default()
            },
        )
    };
    (event, subscription_id)
}

/// Billing answers the subscription `id` of `workspace_id` in `status` at `version`, once.
fn subscription_is(
    mocks: &mut Mocks,
    id: Uuid,
    workspace_id: Uuid,
    status: SubscriptionStatus,
    version: u64,
) {
    let answer = Subscription {
        id: id.into(),
        status,
        version: Version::new(version),
        ..examples::subscription(workspace_id.into())
    };
    mocks
        .subscriptions
        .expect_get_subscription()
        .withf(move |ctx, asked| ctx.actor.is_none() && asked.as_uuid() == id)
        .times(1)
        .returning(move |_, _| Ok(answer.clone()));
}

/// The workspace answers `follow_subscription` as given, logging
/// `<step> <request id> <workspace> <standing> <version>` of each call.
fn follow_answers(mocks: &mut Mocks, answer: Result<Workspace, AppError>) -> Log {
    let log = Log::default();
    let seen = log.clone();
    mocks
        .workspaces
        .expect_follow_subscription()
        .withf(|ctx, _, _, _, _| ctx.actor.is_none())
        .times(1)
        .returning(move |ctx, step, id, standing, version| {
            seen.lock().unwrap().push(format!(
                "{step} {} {id} {standing:?} {}",
                ctx.step(step),
                version.get()
            ));
            answer.clone().map_err(Into::into)
        });
    log
}

#[tokio::test]
async fn the_workspace_follows_the_standing_of_the_subscription_as_it_is_now() {
    // The status is read, not inferred from the event: a payment that failed and was then
    // paid reports good standing.
    for (event_type, status, standing) in [
        (
            crate::PAYMENT_FAILED,
            SubscriptionStatus::PastDue,
            SubscriptionStanding::Lapsed,
        ),
        (
            crate::PAYMENT_FAILED,
            SubscriptionStatus::Active,
            SubscriptionStanding::Good,
        ),
        (
            crate::TRIAL_EXPIRED,
            SubscriptionStatus::PastDue,
            SubscriptionStanding::Lapsed,
        ),
        (
            crate::PERIOD_ENDED,
            SubscriptionStatus::PastDue,
            SubscriptionStanding::Lapsed,
        ),
        (
            crate::CANCELED,
            SubscriptionStatus::Canceled,
            SubscriptionStanding::Lapsed,
        ),
        (
            crate::PAYMENT_SUCCEEDED,
            SubscriptionStatus::Active,
            SubscriptionStanding::Good,
        ),
        (
            crate::PAYMENT_SUCCEEDED,
            SubscriptionStatus::Trialing,
            SubscriptionStanding::Good,
        ),
    ] {
        let (event, subscription_id) = subscription_event(event_type);
        let workspace_id = Uuid::now_v7();
        let mut mocks = Mocks::default();
        subscription_is(&mut mocks, subscription_id, workspace_id, status, 7);
        let log = follow_answers(&mut mocks, Ok(a_workspace(workspace_id)));
        mocks
            .policies()
            .subscription_standing(event.clone())
            .await
            .unwrap();
        assert_eq!(
            entries(&log),
            vec![format!(
                "{STANDING} {} {workspace_id} {standing:?} 7",
                step_id(&event, STANDING)
            )],
            "{event_type} {status:?}"
        );
    }
}

#[tokio::test]
async fn events_that_do_not_move_the_status_cost_no_call() {
    for event_type in [
        crate::SEATS_CHANGED,
        crate::PLAN_CHANGED,
        "billing.subscription.trial_started",
        "billing.subscription.cancellation_scheduled",
        "billing.subscription.resumed",
        crate::USER_ERASED,
    ] {
        let (event, _) = subscription_event(event_type);
        let mut mocks = Mocks::default();
        mocks.subscriptions.expect_get_subscription().never();
        mocks.workspaces.expect_follow_subscription().never();
        mocks.policies().subscription_standing(event).await.unwrap();
    }
}

#[tokio::test]
async fn standing_failures_settle_by_their_kind() {
    // A workspace that is gone (a sign-up undone): acknowledged.
    let gone = AppError::not_found("WORKSPACE_NOT_FOUND", "no such workspace");
    let (event, subscription_id) = subscription_event(crate::CANCELED);
    let mut mocks = Mocks::default();
    subscription_is(
        &mut mocks,
        subscription_id,
        Uuid::now_v7(),
        SubscriptionStatus::Canceled,
        3,
    );
    follow_answers(&mut mocks, Err(gone));
    mocks.policies().subscription_standing(event).await.unwrap();

    // Overloaded: retried; refused for good: parked.
    for (error, retried) in [
        (unavailable(), true),
        (
            refused(
                RejectionKind::InvalidArgument,
                "INVALID_SUBSCRIPTION_VERSION",
            ),
            false,
        ),
    ] {
        let (event, subscription_id) = subscription_event(crate::PAYMENT_FAILED);
        let mut mocks = Mocks::default();
        subscription_is(
            &mut mocks,
            subscription_id,
            Uuid::now_v7(),
            SubscriptionStatus::PastDue,
            2,
        );
        follow_answers(&mut mocks, Err(error.clone()));
        let result = mocks.policies().subscription_standing(event).await;
        if retried {
            assert!(is_retry(&result, &error.code), "{result:?}");
        } else {
            assert!(is_permanent(&result, &error.code), "{result:?}");
        }
    }

    // The subscription cannot be read: retried, nothing followed.
    let (event, _) = subscription_event(crate::PAYMENT_FAILED);
    let mut mocks = Mocks::default();
    mocks
        .subscriptions
        .expect_get_subscription()
        .times(1)
        .returning(|_, _| Err(SubscriptionReadError::Other(timeout())));
    mocks.workspaces.expect_follow_subscription().never();
    let result = mocks.policies().subscription_standing(event).await;
    assert!(is_retry(&result, "TIMEOUT"), "{result:?}");

    // An aggregate id that is not a UUID: parked without a call.
    let (mut event, _) = subscription_event(crate::PAYMENT_FAILED);
    event.aggregate_id = "not-a-uuid".into();
    let mut mocks = Mocks::default();
    mocks.subscriptions.expect_get_subscription().never();
    let result = mocks.policies().subscription_standing(event).await;
    assert!(is_permanent(&result, "aggregate_id"), "{result:?}");
}
