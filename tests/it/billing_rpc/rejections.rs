//! Refused commands: each with its gRPC code and `ErrorInfo` reason in domain `billing.saas`,
//! and nothing changed afterwards; optimistic concurrency and request ids.

use chrono::Duration;
use saas_proto::billing::v1 as pb;
use saas_tests::{DataServices, SubscriptionClient};
use tonic::Code;

use super::{
    at, cancel, cancel_request, change_plan_request, change_seats_request, event_types,
    fail_payment, get, ok, open, pay, rejected, request_id, resume_request, trial, trial_for,
    unknown_id, version, workspace_id,
};
use crate::{
    concurrency::{all_at_once, reason},
    user_rpc::violated_fields,
};

#[tokio::test]
async fn a_second_trial_for_the_same_workspace_is_subscription_exists() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let workspace = workspace_id();
    let first = trial_for(&mut client, &workspace).await;

    let status = rejected(
        client
            .start_trial(pb::StartTrialRequest {
                request_id: request_id(),
                workspace_id: workspace.clone(),
            })
            .await,
        Code::AlreadyExists,
        "SUBSCRIPTION_EXISTS",
    );
    assert_eq!(violated_fields(&status), vec!["workspace_id"]);
    let found = ok(client
        .lookup_subscription(pb::LookupSubscriptionRequest {
            workspace_id: workspace,
        })
        .await);
    assert_eq!(found, first);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_concurrent_trials_for_one_workspace_make_exactly_one_subscription() {
    let services = DataServices::spawn().await;
    let client = services.subscriptions_client().await;
    let workspace = workspace_id();

    let results = all_at_once(20, |_| {
        let mut client = client.clone();
        let request = pb::StartTrialRequest {
            request_id: request_id(),
            workspace_id: workspace.clone(),
        };
        async move { client.start_trial(request).await }
    })
    .await;

    let mut winners = Vec::new();
    for result in results {
        match result {
            Ok(response) => winners.push(response.into_inner()),
            Err(status) => {
                rejected::<pb::Subscription>(
                    Err(status),
                    Code::AlreadyExists,
                    "SUBSCRIPTION_EXISTS",
                );
            }
        }
    }
    assert_eq!(winners.len(), 1, "exactly one trial per workspace");
    let mut client = client.clone();
    let found = ok(client
        .lookup_subscription(pb::LookupSubscriptionRequest {
            workspace_id: workspace,
        })
        .await);
    assert_eq!(found, winners[0]);
    let conn = open(&services.databases[2]).await;
    assert_eq!(
        crate::concurrency::count(&conn, "SELECT COUNT(*) FROM subscriptions", vec![]).await,
        1
    );
    assert_eq!(
        crate::concurrency::count(&conn, "SELECT COUNT(*) FROM outbox", vec![]).await,
        1,
        "the refused trials left no events"
    );
    assert_eq!(
        crate::concurrency::recorded_requests(&conn, "StartTrial").await,
        1,
        "the refused trials left no idempotency records"
    );
}

/// Calls every RPC that names a subscription by id with `id`, expecting each to be refused
/// with `code` / `reason`.
async fn every_command_on(client: &mut SubscriptionClient, id: &str, code: Code, reason: &str) {
    let id = id.to_owned();
    rejected(
        client
            .change_plan(change_plan_request(&id, "", pb::Plan::Business, 1))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .change_seats(change_seats_request(&id, "", 7, 1))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .record_payment_succeeded(pb::RecordPaymentSucceededRequest {
                id: id.clone(),
                request_id: request_id(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .record_payment_failed(pb::RecordPaymentFailedRequest {
                id: id.clone(),
                request_id: request_id(),
            })
            .await,
        code,
        reason,
    );
    for at_period_end in [false, true] {
        rejected(
            client
                .cancel_subscription(cancel_request(&id, "", at_period_end))
                .await,
            code,
            reason,
        );
    }
    rejected(
        client.resume_subscription(resume_request(&id, "")).await,
        code,
        reason,
    );
    rejected(
        client
            .expire_trial(pb::ExpireTrialRequest {
                id: id.clone(),
                request_id: request_id(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .end_period(pb::EndPeriodRequest {
                id: id.clone(),
                request_id: request_id(),
            })
            .await,
        code,
        reason,
    );
}

#[tokio::test]
async fn unknown_ids_are_subscription_not_found_on_every_rpc() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let existing = trial(&mut client).await;
    let unknown = unknown_id();

    rejected(
        client
            .get_subscription(pb::GetSubscriptionRequest {
                id: unknown.clone(),
            })
            .await,
        Code::NotFound,
        "SUBSCRIPTION_NOT_FOUND",
    );
    // A workspace id is not a subscription id, and a subscription id is not a workspace id.
    rejected(
        client
            .get_subscription(pb::GetSubscriptionRequest {
                id: existing.workspace_id.clone(),
            })
            .await,
        Code::NotFound,
        "SUBSCRIPTION_NOT_FOUND",
    );
    for workspace in [unknown.clone(), existing.id.clone()] {
        rejected(
            client
                .lookup_subscription(pb::LookupSubscriptionRequest {
                    workspace_id: workspace,
                })
                .await,
            Code::NotFound,
            "SUBSCRIPTION_NOT_FOUND",
        );
    }
    every_command_on(
        &mut client,
        &unknown,
        Code::NotFound,
        "SUBSCRIPTION_NOT_FOUND",
    )
    .await;
    assert_eq!(get(&mut client, &existing.id).await, existing);
}

#[tokio::test]
async fn more_seats_than_the_plan_allows_are_seats_exceed_plan() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;

    rejected(
        client
            .change_seats(change_seats_request(&started.id, &started.etag, 51, 1))
            .await,
        Code::FailedPrecondition,
        "SEATS_EXCEED_PLAN",
    );
    // Free holds three seats; the subscription has five.
    rejected(
        client
            .change_plan(change_plan_request(
                &started.id,
                &started.etag,
                pb::Plan::Free,
                1,
            ))
            .await,
        Code::FailedPrecondition,
        "SEATS_EXCEED_PLAN",
    );
    let business = ok(client
        .change_plan(change_plan_request(&started.id, "", pb::Plan::Business, 1))
        .await);
    rejected(
        client
            .change_seats(change_seats_request(&started.id, "", 1001, 1))
            .await,
        Code::FailedPrecondition,
        "SEATS_EXCEED_PLAN",
    );
    rejected(
        client
            .change_seats(change_seats_request(&started.id, "", i32::MAX, 1))
            .await,
        Code::FailedPrecondition,
        "SEATS_EXCEED_PLAN",
    );
    assert_eq!(get(&mut client, &started.id).await, business);
}

#[tokio::test]
async fn fewer_seats_than_are_in_use_are_seats_below_in_use() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;

    rejected(
        client
            .change_seats(change_seats_request(&started.id, &started.etag, 3, 4))
            .await,
        Code::FailedPrecondition,
        "SEATS_BELOW_IN_USE",
    );
    let three = ok(client
        .change_seats(change_seats_request(&started.id, "", 3, 3))
        .await);
    // Free's three seats hold the subscription's three, but not the four in use.
    rejected(
        client
            .change_plan(change_plan_request(
                &started.id,
                &three.etag,
                pb::Plan::Free,
                4,
            ))
            .await,
        Code::FailedPrecondition,
        "SEATS_BELOW_IN_USE",
    );
    assert_eq!(get(&mut client, &started.id).await, three);
}

#[tokio::test]
async fn changing_to_the_current_plan_or_seats_is_refused() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;

    rejected(
        client
            .change_plan(change_plan_request(
                &started.id,
                &started.etag,
                pb::Plan::Team,
                1,
            ))
            .await,
        Code::FailedPrecondition,
        "PLAN_UNCHANGED",
    );
    rejected(
        client
            .change_seats(change_seats_request(&started.id, &started.etag, 5, 1))
            .await,
        Code::FailedPrecondition,
        "SEATS_UNCHANGED",
    );
    assert_eq!(get(&mut client, &started.id).await, started);
}

#[tokio::test]
async fn a_canceled_subscription_refuses_every_command() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    pay(&mut client, &started.id).await;
    let canceled = cancel(&mut client, &started.id, false).await;
    // Even once its times have passed.
    services.clock.advance(Duration::days(60));

    every_command_on(
        &mut client,
        &started.id,
        Code::FailedPrecondition,
        "SUBSCRIPTION_CANCELED",
    )
    .await;
    rejected(
        client
            .change_seats(change_seats_request(&started.id, &canceled.etag, 9, 1))
            .await,
        Code::FailedPrecondition,
        "SUBSCRIPTION_CANCELED",
    );
    assert_eq!(get(&mut client, &started.id).await, canceled);
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
    assert_eq!(get(&mut client, &started.id).await, canceled);
    // Nor can the workspace start a second trial.
    rejected(
        client
            .start_trial(pb::StartTrialRequest {
                request_id: request_id(),
                workspace_id: started.workspace_id.clone(),
            })
            .await,
        Code::AlreadyExists,
        "SUBSCRIPTION_EXISTS",
    );
}

#[tokio::test]
async fn commands_that_do_not_apply_in_the_status_are_illegal_transitions() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;

    // Nothing is charged during a trial, so nothing can fail.
    rejected(
        client
            .record_payment_failed(pb::RecordPaymentFailedRequest {
                id: started.id.clone(),
                request_id: request_id(),
            })
            .await,
        Code::FailedPrecondition,
        "ILLEGAL_TRANSITION",
    );
    assert_eq!(get(&mut client, &started.id).await, started);

    let active = pay(&mut client, &started.id).await;
    services.clock.advance(Duration::days(15));
    rejected(
        client
            .expire_trial(pb::ExpireTrialRequest {
                id: started.id.clone(),
                request_id: request_id(),
            })
            .await,
        Code::FailedPrecondition,
        "ILLEGAL_TRANSITION",
    );
    let past_due = fail_payment(&mut client, &started.id).await;
    rejected(
        client
            .expire_trial(pb::ExpireTrialRequest {
                id: started.id.clone(),
                request_id: request_id(),
            })
            .await,
        Code::FailedPrecondition,
        "ILLEGAL_TRANSITION",
    );
    assert_eq!(get(&mut client, &started.id).await, past_due);
    assert_eq!(version(&past_due.etag), version(&active.etag) + 1);
}

#[tokio::test]
async fn expiring_a_trial_before_its_end_is_trial_not_ended() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    services
        .clock
        .set(at(&started.trial_end_time) - Duration::milliseconds(1));

    rejected(
        client
            .expire_trial(pb::ExpireTrialRequest {
                id: started.id.clone(),
                request_id: request_id(),
            })
            .await,
        Code::FailedPrecondition,
        "TRIAL_NOT_ENDED",
    );
    assert_eq!(get(&mut client, &started.id).await, started);
    // At the trial end itself it has ended.
    services.clock.set(at(&started.trial_end_time));
    ok(client
        .expire_trial(pb::ExpireTrialRequest {
            id: started.id.clone(),
            request_id: request_id(),
        })
        .await);
}

#[tokio::test]
async fn ending_a_period_before_its_end_is_period_not_ended_and_without_one_no_current_period() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let end_period = |id: &str| pb::EndPeriodRequest {
        id: id.into(),
        request_id: request_id(),
    };

    // A trial has no paid period (it ends by expiring).
    rejected(
        client.end_period(end_period(&started.id)).await,
        Code::FailedPrecondition,
        "NO_CURRENT_PERIOD",
    );
    let active = pay(&mut client, &started.id).await;
    services
        .clock
        .set(at(&active.period_end_time) - Duration::milliseconds(1));
    rejected(
        client.end_period(end_period(&started.id)).await,
        Code::FailedPrecondition,
        "PERIOD_NOT_ENDED",
    );
    assert_eq!(get(&mut client, &started.id).await, active);

    services.clock.set(at(&active.period_end_time));
    let ended = ok(client.end_period(end_period(&started.id)).await);
    // Past due without a period: nothing left to end, nothing to cancel at.
    rejected(
        client.end_period(end_period(&started.id)).await,
        Code::FailedPrecondition,
        "NO_CURRENT_PERIOD",
    );
    rejected(
        client
            .cancel_subscription(cancel_request(&started.id, "", true))
            .await,
        Code::FailedPrecondition,
        "NO_CURRENT_PERIOD",
    );
    assert_eq!(get(&mut client, &started.id).await, ended);
}

#[tokio::test]
async fn scheduling_a_cancellation_twice_or_resuming_without_one_is_refused() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;

    rejected(
        client
            .resume_subscription(resume_request(&started.id, &started.etag))
            .await,
        Code::FailedPrecondition,
        "CANCEL_NOT_SCHEDULED",
    );
    let scheduled = cancel(&mut client, &started.id, true).await;
    rejected(
        client
            .cancel_subscription(cancel_request(&started.id, &scheduled.etag, true))
            .await,
        Code::FailedPrecondition,
        "CANCEL_ALREADY_SCHEDULED",
    );
    // Payments do not withdraw it.
    let paid = pay(&mut client, &started.id).await;
    assert!(paid.cancel_at_period_end);
    rejected(
        client
            .cancel_subscription(cancel_request(&started.id, "", true))
            .await,
        Code::FailedPrecondition,
        "CANCEL_ALREADY_SCHEDULED",
    );
    assert_eq!(get(&mut client, &started.id).await, paid);
}

#[tokio::test]
async fn a_stale_etag_is_etag_mismatch_and_changes_nothing() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let current = ok(client
        .change_seats(change_seats_request(&started.id, &started.etag, 6, 1))
        .await);
    let conn = open(&services.databases[2]).await;
    let events = event_types(&conn, &started.id).await;

    // The etag read before the change, and a well-formed one the server never got to.
    for stale in [started.etag.clone(), "W/\"v99\"".to_owned()] {
        let mismatch = |result| rejected(result, Code::Aborted, "ETAG_MISMATCH");
        mismatch(
            client
                .change_plan(change_plan_request(
                    &started.id,
                    &stale,
                    pb::Plan::Business,
                    1,
                ))
                .await,
        );
        mismatch(
            client
                .change_seats(change_seats_request(&started.id, &stale, 7, 1))
                .await,
        );
        for at_period_end in [false, true] {
            mismatch(
                client
                    .cancel_subscription(cancel_request(&started.id, &stale, at_period_end))
                    .await,
            );
        }
    }
    let scheduled = ok(client
        .cancel_subscription(cancel_request(&started.id, &current.etag, true))
        .await);
    rejected(
        client
            .resume_subscription(resume_request(&started.id, &current.etag))
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    assert_eq!(get(&mut client, &started.id).await, scheduled);
    assert_eq!(
        event_types(&conn, &started.id).await.len(),
        events.len() + 1,
        "only the command with the current etag left an event"
    );
}

#[tokio::test]
async fn a_repeated_request_id_replays_the_original_response() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let workspace = workspace_id();
    let start = pb::StartTrialRequest {
        request_id: request_id(),
        workspace_id: workspace.clone(),
    };
    let started = ok(client.start_trial(start.clone()).await);

    // A repeated trial is the original, not SUBSCRIPTION_EXISTS.
    assert_eq!(ok(client.start_trial(start.clone()).await), started);

    let seats = change_seats_request(&started.id, &started.etag, 8, 1);
    let eight = ok(client.change_seats(seats.clone()).await);
    let payment = pb::RecordPaymentSucceededRequest {
        id: started.id.clone(),
        request_id: request_id(),
    };
    let paid = ok(client.record_payment_succeeded(payment.clone()).await);
    services.clock.advance(Duration::days(3));
    let later = ok(client
        .change_seats(change_seats_request(&started.id, "", 9, 1))
        .await);

    // Each repeat answers as the first time, though the subscription moved on (and the
    // repeated etag is now stale).
    assert_eq!(ok(client.change_seats(seats.clone()).await), eight);
    assert_eq!(
        ok(client.record_payment_succeeded(payment.clone()).await),
        paid,
        "a repeated payment is not booked twice"
    );
    assert_eq!(ok(client.start_trial(start).await), started);
    assert_eq!(get(&mut client, &started.id).await, later);
    let conn = open(&services.databases[2]).await;
    assert_eq!(
        event_types(&conn, &started.id).await.len(),
        4,
        "trial, seats, payment, seats: the repeats executed nothing"
    );
}

#[tokio::test]
async fn a_request_id_reused_for_another_request_is_request_id_reused() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let seats = change_seats_request(&started.id, "", 8, 1);
    let eight = ok(client.change_seats(seats.clone()).await);
    let id = seats.request_id.clone();
    let reused = |result| {
        let status = rejected(result, Code::InvalidArgument, "REQUEST_ID_REUSED");
        assert_eq!(violated_fields(&status), vec!["request_id"]);
    };

    // Other seats, other seats in use, an etag: each is another request.
    let mut other = seats.clone();
    other.seats = 9;
    reused(client.change_seats(other).await);
    let mut other = seats.clone();
    other.seats_in_use = 2;
    reused(client.change_seats(other).await);
    let mut other = seats.clone();
    other.etag = eight.etag.clone();
    reused(client.change_seats(other).await);
    // Another method under the same id is another request too.
    reused(
        client
            .record_payment_succeeded(pb::RecordPaymentSucceededRequest {
                id: started.id.clone(),
                request_id: id.clone(),
            })
            .await,
    );
    reused(
        client
            .start_trial(pb::StartTrialRequest {
                request_id: id.clone(),
                workspace_id: workspace_id(),
            })
            .await,
    );
    // The trial's own id, for another workspace.
    let first = pb::StartTrialRequest {
        request_id: request_id(),
        workspace_id: workspace_id(),
    };
    ok(client.start_trial(first.clone()).await);
    reused(
        client
            .start_trial(pb::StartTrialRequest {
                workspace_id: workspace_id(),
                ..first
            })
            .await,
    );
    assert_eq!(get(&mut client, &started.id).await, eight);
}

#[tokio::test]
async fn a_refused_command_leaves_no_trace_so_its_retry_is_decided_afresh() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let expire = pb::ExpireTrialRequest {
        id: started.id.clone(),
        request_id: request_id(),
    };
    let status = client.expire_trial(expire.clone()).await.unwrap_err();
    assert_eq!(reason(&status), "TRIAL_NOT_ENDED");

    services.clock.advance(Duration::days(14));
    let expired = ok(client.expire_trial(expire.clone()).await);
    assert_eq!(super::status_of(&expired), pb::SubscriptionStatus::PastDue);
    // From now on the same id replays the success.
    assert_eq!(ok(client.expire_trial(expire).await), expired);
}
