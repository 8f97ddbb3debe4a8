//! Every RPC doing what it is for, with the money checked on every response.

use chrono::Duration;
use kernel_domain::Clock;
use saas_proto::billing::v1 as pb;
use saas_tests::DataServices;

use super::{
    at, cancel, cancel_request, change_plan_request, change_seats_request, event, event_types,
    fail_payment, get, ok, one_month_after, open, pay, plan_of, request_id, resume_request,
    status_of, trial, version, workspace_id,
};

#[tokio::test]
async fn a_trial_starts_on_team_with_five_seats_for_fourteen_days_at_forty_dollars() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let workspace = workspace_id();
    let now = services.clock.now();

    let started = ok(client
        .start_trial(pb::StartTrialRequest {
            request_id: request_id(),
            workspace_id: workspace.clone(),
        })
        .await);

    uuid::Uuid::try_parse(&started.id).expect("the id is a UUID");
    assert_eq!(started.workspace_id, workspace);
    assert_eq!(plan_of(&started), pb::Plan::Team);
    assert_eq!(started.seats, 5);
    assert_eq!(status_of(&started), pb::SubscriptionStatus::Trialing);
    assert_eq!(at(&started.trial_end_time), now + Duration::days(14));
    assert_eq!(started.period_end_time, None);
    assert!(!started.cancel_at_period_end);
    assert_eq!(started.cancel_time, None);
    assert_eq!(started.monthly_amount_minor, 4000);
    assert_eq!(started.currency_code, "USD");
    assert_eq!(version(&started.etag), 1);
    assert_eq!(at(&started.create_time), now);
    assert_eq!(at(&started.update_time), now);

    let conn = open(&services.databases[2]).await;
    assert_eq!(
        event_types(&conn, &started.id).await,
        vec![event("trial_started")]
    );
}

#[tokio::test]
async fn get_and_lookup_by_workspace_return_the_stored_subscription() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let other = trial(&mut client).await;

    assert_eq!(get(&mut client, &started.id).await, started);
    let found = ok(client
        .lookup_subscription(pb::LookupSubscriptionRequest {
            workspace_id: started.workspace_id.clone(),
        })
        .await);
    assert_eq!(found, started);
    let found = ok(client
        .lookup_subscription(pb::LookupSubscriptionRequest {
            workspace_id: other.workspace_id.clone(),
        })
        .await);
    assert_eq!(found, other);
}

#[tokio::test]
async fn changing_the_plan_reprices_the_seats() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    services.clock.advance(Duration::hours(1));

    let business = ok(client
        .change_plan(change_plan_request(
            &started.id,
            &started.etag,
            pb::Plan::Business,
            5,
        ))
        .await);
    assert_eq!(plan_of(&business), pb::Plan::Business);
    assert_eq!(business.seats, 5);
    assert_eq!(business.monthly_amount_minor, 7500);
    assert_eq!(status_of(&business), pb::SubscriptionStatus::Trialing);
    assert_eq!(business.trial_end_time, started.trial_end_time);
    assert_eq!(version(&business.etag), 2);
    assert_eq!(at(&business.update_time), services.clock.now());
    assert_eq!(business.create_time, started.create_time);

    // Down to Free once the seats fit its three.
    let three = ok(client
        .change_seats(change_seats_request(&started.id, &business.etag, 3, 2))
        .await);
    assert_eq!(three.monthly_amount_minor, 4500);
    let free = ok(client
        .change_plan(change_plan_request(&started.id, "", pb::Plan::Free, 3))
        .await);
    assert_eq!(plan_of(&free), pb::Plan::Free);
    assert_eq!(free.monthly_amount_minor, 0);
    assert_eq!(version(&free.etag), 4);
    assert_eq!(get(&mut client, &started.id).await, free);

    let conn = open(&services.databases[2]).await;
    assert_eq!(
        event_types(&conn, &started.id).await,
        vec![
            event("trial_started"),
            event("plan_changed"),
            event("seats_changed"),
            event("plan_changed")
        ]
    );
}

#[tokio::test]
async fn changing_seats_reprices_the_subscription() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;

    let twelve = ok(client
        .change_seats(change_seats_request(&started.id, &started.etag, 12, 12))
        .await);
    assert_eq!(twelve.seats, 12);
    assert_eq!(twelve.monthly_amount_minor, 9600);
    assert_eq!(plan_of(&twelve), pb::Plan::Team);
    assert_eq!(version(&twelve.etag), 2);

    let fifty = ok(client
        .change_seats(change_seats_request(&started.id, "", 50, 0))
        .await);
    assert_eq!(fifty.monthly_amount_minor, 40_000);

    let one = ok(client
        .change_seats(change_seats_request(&started.id, &fifty.etag, 1, 1))
        .await);
    assert_eq!(one.seats, 1);
    assert_eq!(one.monthly_amount_minor, 800);

    let business = ok(client
        .change_plan(change_plan_request(&started.id, "", pb::Plan::Business, 1))
        .await);
    let thousand = ok(client
        .change_seats(change_seats_request(&started.id, &business.etag, 1000, 999))
        .await);
    assert_eq!(thousand.monthly_amount_minor, 1_500_000);
    assert_eq!(get(&mut client, &started.id).await, thousand);
}

#[tokio::test]
async fn a_successful_payment_makes_a_trial_active_for_a_month_and_a_renewal_extends_it() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    services.clock.advance(Duration::days(3));
    let paid_at = services.clock.now();

    let active = pay(&mut client, &started.id).await;
    assert_eq!(status_of(&active), pb::SubscriptionStatus::Active);
    assert_eq!(active.trial_end_time, None, "paying ends the trial early");
    assert_eq!(at(&active.period_end_time), one_month_after(paid_at));
    assert_eq!(active.monthly_amount_minor, 4000);
    assert_eq!(version(&active.etag), 2);

    // A renewal paid early extends from the current period end, not from now.
    services.clock.advance(Duration::days(20));
    let renewed = pay(&mut client, &started.id).await;
    assert_eq!(status_of(&renewed), pb::SubscriptionStatus::Active);
    assert_eq!(
        at(&renewed.period_end_time),
        one_month_after(one_month_after(paid_at))
    );
    assert_eq!(version(&renewed.etag), 3);
    assert_eq!(get(&mut client, &started.id).await, renewed);
}

#[tokio::test]
async fn a_failed_payment_makes_an_active_subscription_past_due_keeping_its_period() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let active = pay(&mut client, &started.id).await;
    services.clock.advance(Duration::days(2));

    let past_due = fail_payment(&mut client, &started.id).await;
    assert_eq!(status_of(&past_due), pb::SubscriptionStatus::PastDue);
    assert_eq!(past_due.period_end_time, active.period_end_time);
    assert_eq!(past_due.monthly_amount_minor, 4000);
    assert_eq!(version(&past_due.etag), 3);

    // A further failure is recorded and changes nothing else.
    let again = fail_payment(&mut client, &started.id).await;
    assert_eq!(status_of(&again), pb::SubscriptionStatus::PastDue);
    assert_eq!(again.period_end_time, active.period_end_time);
    assert_eq!(version(&again.etag), 4);

    // Paying makes it active again, for a month after the period still running.
    let recovered = pay(&mut client, &started.id).await;
    assert_eq!(status_of(&recovered), pb::SubscriptionStatus::Active);
    assert_eq!(
        at(&recovered.period_end_time),
        one_month_after(at(&active.period_end_time))
    );

    let conn = open(&services.databases[2]).await;
    assert_eq!(
        event_types(&conn, &started.id).await,
        vec![
            event("trial_started"),
            event("payment_succeeded"),
            event("payment_failed"),
            event("payment_failed"),
            event("payment_succeeded")
        ]
    );
}

#[tokio::test]
async fn canceling_now_cancels_at_once_and_for_good() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    services.clock.advance(Duration::days(1));

    let canceled = ok(client
        .cancel_subscription(cancel_request(&started.id, &started.etag, false))
        .await);
    assert_eq!(status_of(&canceled), pb::SubscriptionStatus::Canceled);
    assert_eq!(at(&canceled.cancel_time), services.clock.now());
    assert_eq!(canceled.trial_end_time, None);
    assert_eq!(canceled.period_end_time, None);
    assert!(!canceled.cancel_at_period_end);
    assert_eq!(canceled.monthly_amount_minor, 4000);
    assert_eq!(version(&canceled.etag), 2);
    assert_eq!(get(&mut client, &started.id).await, canceled);

    let conn = open(&services.databases[2]).await;
    let rows = super::outbox(&conn, &started.id).await;
    assert_eq!(rows[1].event_type, event("canceled"));
    assert!(!rows[1].message::<pb::SubscriptionCanceled>().at_period_end);
}

#[tokio::test]
async fn canceling_at_the_period_end_keeps_it_running_until_resumed() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let active = pay(&mut client, &started.id).await;

    let scheduled = ok(client
        .cancel_subscription(cancel_request(&started.id, &active.etag, true))
        .await);
    assert_eq!(status_of(&scheduled), pb::SubscriptionStatus::Active);
    assert!(scheduled.cancel_at_period_end);
    assert_eq!(scheduled.cancel_time, None);
    assert_eq!(scheduled.period_end_time, active.period_end_time);
    assert_eq!(version(&scheduled.etag), 3);

    let resumed = ok(client
        .resume_subscription(resume_request(&started.id, &scheduled.etag))
        .await);
    assert_eq!(status_of(&resumed), pb::SubscriptionStatus::Active);
    assert!(!resumed.cancel_at_period_end);
    assert_eq!(resumed.period_end_time, active.period_end_time);
    assert_eq!(version(&resumed.etag), 4);
    assert_eq!(get(&mut client, &started.id).await, resumed);

    let conn = open(&services.databases[2]).await;
    let rows = super::outbox(&conn, &started.id).await;
    assert_eq!(rows[2].event_type, event("cancellation_scheduled"));
    assert_eq!(
        rows[2]
            .message::<pb::SubscriptionCancellationScheduled>()
            .cancel_time,
        active.period_end_time
    );
    assert_eq!(rows[3].event_type, event("resumed"));
}

#[tokio::test]
async fn expiring_an_ended_trial_makes_it_past_due() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    services.clock.advance(Duration::days(14));

    let expired = ok(client
        .expire_trial(pb::ExpireTrialRequest {
            id: started.id.clone(),
            request_id: request_id(),
        })
        .await);
    assert_eq!(status_of(&expired), pb::SubscriptionStatus::PastDue);
    assert_eq!(expired.trial_end_time, None);
    assert_eq!(expired.period_end_time, None);
    assert_eq!(expired.monthly_amount_minor, 4000);
    assert_eq!(version(&expired.etag), 2);
    assert_eq!(at(&expired.update_time), services.clock.now());

    // Paying now starts a month from today.
    let paid = pay(&mut client, &started.id).await;
    assert_eq!(status_of(&paid), pb::SubscriptionStatus::Active);
    assert_eq!(
        at(&paid.period_end_time),
        one_month_after(services.clock.now())
    );
}

#[tokio::test]
async fn ending_an_ended_period_without_renewal_makes_it_past_due() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let active = pay(&mut client, &started.id).await;
    services.clock.set(at(&active.period_end_time));

    let ended = ok(client
        .end_period(pb::EndPeriodRequest {
            id: started.id.clone(),
            request_id: request_id(),
        })
        .await);
    assert_eq!(status_of(&ended), pb::SubscriptionStatus::PastDue);
    assert_eq!(ended.period_end_time, None);
    assert_eq!(version(&ended.etag), 3);
    assert_eq!(get(&mut client, &started.id).await, ended);
}

#[tokio::test]
async fn a_trial_or_period_set_to_cancel_at_its_end_is_canceled_when_it_ends() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;

    // The trial counts as the period.
    let trialing = trial(&mut client).await;
    let scheduled = cancel(&mut client, &trialing.id, true).await;
    assert_eq!(status_of(&scheduled), pb::SubscriptionStatus::Trialing);
    assert!(scheduled.cancel_at_period_end);

    let paying = trial(&mut client).await;
    let active = pay(&mut client, &paying.id).await;
    cancel(&mut client, &paying.id, true).await;

    services.clock.set(at(&trialing.trial_end_time));
    let expired = ok(client
        .expire_trial(pb::ExpireTrialRequest {
            id: trialing.id.clone(),
            request_id: request_id(),
        })
        .await);
    assert_eq!(status_of(&expired), pb::SubscriptionStatus::Canceled);
    assert_eq!(at(&expired.cancel_time), at(&trialing.trial_end_time));
    assert!(!expired.cancel_at_period_end);

    services.clock.set(at(&active.period_end_time));
    let ended = ok(client
        .end_period(pb::EndPeriodRequest {
            id: paying.id.clone(),
            request_id: request_id(),
        })
        .await);
    assert_eq!(status_of(&ended), pb::SubscriptionStatus::Canceled);
    assert_eq!(at(&ended.cancel_time), at(&active.period_end_time));

    let conn = open(&services.databases[2]).await;
    for id in [&trialing.id, &paying.id] {
        let rows = super::outbox(&conn, id).await;
        let last = rows.last().unwrap();
        assert_eq!(last.event_type, event("canceled"));
        assert!(last.message::<pb::SubscriptionCanceled>().at_period_end);
    }
}
