//! Trials and periods end by themselves: the store's sweep, driven by the injected clock,
//! applies the due command once, survives a restart, and is applied once when two instances
//! sweep at the same time.

use std::sync::Arc;

use chrono::Duration;
use kernel_domain::Clock;
use saas_proto::billing::v1 as pb;
use saas_tests::DataServices;
use tokio::sync::Barrier;

use super::{
    at, cancel, event, event_types, fail_payment, get, one_month_after, open, outbox, pay,
    status_of, trial, version,
};

#[tokio::test]
async fn after_fourteen_days_the_sweep_makes_an_unpaid_trial_past_due_once() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;

    services.clock.advance(Duration::days(13));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
    assert_eq!(get(&mut client, &started.id).await, started, "not due yet");

    services.clock.advance(Duration::days(1));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 1);
    let expired = get(&mut client, &started.id).await;
    assert_eq!(status_of(&expired), pb::SubscriptionStatus::PastDue);
    assert_eq!(expired.trial_end_time, None);
    assert_eq!(expired.period_end_time, None);
    assert_eq!(version(&expired.etag), version(&started.etag) + 1);
    assert_eq!(at(&expired.update_time), services.clock.now());

    // Nothing is due any more: a second sweep, even much later, changes nothing.
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
    services.clock.advance(Duration::days(365));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
    assert_eq!(get(&mut client, &started.id).await, expired);
    let conn = open(&services.databases[2]).await;
    assert_eq!(
        event_types(&conn, &started.id).await,
        vec![event("trial_started"), event("trial_expired")]
    );
}

#[tokio::test]
async fn a_paid_trial_is_not_expired_by_the_sweep() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let active = pay(&mut client, &started.id).await;
    services.clock.advance(Duration::days(15));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
    assert_eq!(get(&mut client, &started.id).await, active);
}

#[tokio::test]
async fn the_sweep_makes_an_active_subscription_whose_period_ran_out_unrenewed_past_due() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let active = pay(&mut client, &started.id).await;
    let period_end = at(&active.period_end_time);

    services.clock.set(period_end - Duration::seconds(1));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
    assert_eq!(get(&mut client, &started.id).await, active);

    services.clock.set(period_end);
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 1);
    let ended = get(&mut client, &started.id).await;
    assert_eq!(status_of(&ended), pb::SubscriptionStatus::PastDue);
    assert_eq!(ended.period_end_time, None);
    assert_eq!(version(&ended.etag), version(&active.etag) + 1);

    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
    assert_eq!(get(&mut client, &started.id).await, ended);
    let conn = open(&services.databases[2]).await;
    assert_eq!(
        event_types(&conn, &started.id).await,
        vec![
            event("trial_started"),
            event("payment_succeeded"),
            event("period_ended")
        ]
    );
}

#[tokio::test]
async fn a_renewal_paid_before_the_period_end_moves_the_due_date_on() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let first = pay(&mut client, &started.id).await;
    let renewed = pay(&mut client, &started.id).await;
    assert_eq!(
        at(&renewed.period_end_time),
        one_month_after(at(&first.period_end_time))
    );

    services.clock.set(at(&first.period_end_time));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
    assert_eq!(get(&mut client, &started.id).await, renewed);

    services.clock.set(at(&renewed.period_end_time));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 1);
    assert_eq!(
        status_of(&get(&mut client, &started.id).await),
        pb::SubscriptionStatus::PastDue
    );
}

#[tokio::test]
async fn the_sweep_ends_the_period_a_past_due_subscription_still_had() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    pay(&mut client, &started.id).await;
    let past_due = fail_payment(&mut client, &started.id).await;
    assert_eq!(status_of(&past_due), pb::SubscriptionStatus::PastDue);
    assert!(past_due.period_end_time.is_some());

    services.clock.set(at(&past_due.period_end_time));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 1);
    let ended = get(&mut client, &started.id).await;
    assert_eq!(status_of(&ended), pb::SubscriptionStatus::PastDue);
    assert_eq!(ended.period_end_time, None);
    assert_eq!(version(&ended.etag), version(&past_due.etag) + 1);
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
}

#[tokio::test]
async fn a_cancellation_at_the_period_end_is_carried_out_by_the_sweep() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let paying = trial(&mut client).await;
    let active = pay(&mut client, &paying.id).await;
    let scheduled = cancel(&mut client, &paying.id, true).await;
    let period_end = at(&active.period_end_time);

    services.clock.set(period_end - Duration::seconds(1));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
    assert_eq!(get(&mut client, &paying.id).await, scheduled);

    services.clock.set(period_end);
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 1);
    let canceled = get(&mut client, &paying.id).await;
    assert_eq!(status_of(&canceled), pb::SubscriptionStatus::Canceled);
    assert_eq!(at(&canceled.cancel_time), period_end);
    assert!(!canceled.cancel_at_period_end);
    assert_eq!(canceled.period_end_time, None);
    assert_eq!(version(&canceled.etag), version(&scheduled.etag) + 1);

    // Canceled is never due again.
    services.clock.advance(Duration::days(400));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
    assert_eq!(get(&mut client, &paying.id).await, canceled);
    let conn = open(&services.databases[2]).await;
    let rows = outbox(&conn, &paying.id).await;
    let last = rows.last().unwrap();
    assert_eq!(last.event_type, event("canceled"));
    assert!(last.message::<pb::SubscriptionCanceled>().at_period_end);
    assert_eq!(rows.len(), 4);
}

#[tokio::test]
async fn a_trial_set_to_cancel_is_canceled_by_the_sweep_and_a_resumed_one_is_not() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let leaving = trial(&mut client).await;
    cancel(&mut client, &leaving.id, true).await;
    let staying = trial(&mut client).await;
    let scheduled = cancel(&mut client, &staying.id, true).await;
    ok_resume(&mut client, &staying.id, &scheduled.etag).await;

    services.clock.advance(Duration::days(14));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 2);
    let left = get(&mut client, &leaving.id).await;
    assert_eq!(status_of(&left), pb::SubscriptionStatus::Canceled);
    assert_eq!(at(&left.cancel_time), services.clock.now());
    let stayed = get(&mut client, &staying.id).await;
    assert_eq!(status_of(&stayed), pb::SubscriptionStatus::PastDue);
    assert_eq!(stayed.cancel_time, None);
}

async fn ok_resume(client: &mut saas_tests::SubscriptionClient, id: &str, etag: &str) {
    super::ok(
        client
            .resume_subscription(super::resume_request(id, etag))
            .await,
    );
}

#[tokio::test]
async fn due_work_survives_a_restart() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let databases = services.databases.clone();
    drop(client);
    drop(services);

    // A new instance over the same databases, with its own clock.
    let restarted = DataServices::spawn_on(databases).await;
    let mut client = restarted.subscriptions_client().await;
    assert_eq!(get(&mut client, &started.id).await, started);
    assert_eq!(restarted.subscriptions.sweep_once().await.unwrap(), 0);
    restarted.clock.advance(Duration::days(15));
    assert_eq!(restarted.subscriptions.sweep_once().await.unwrap(), 1);
    let expired = get(&mut client, &started.id).await;
    assert_eq!(status_of(&expired), pb::SubscriptionStatus::PastDue);
    assert_eq!(version(&expired.etag), version(&started.etag) + 1);
    assert_eq!(at(&expired.update_time), restarted.clock.now());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_instances_sweeping_the_same_due_subscriptions_apply_each_once() {
    let first = DataServices::spawn().await;
    let second = DataServices::spawn_on(first.databases.clone()).await;
    let mut client = first.subscriptions_client().await;
    let mut started = Vec::new();
    for _ in 0..20 {
        started.push(trial(&mut client).await);
    }
    for services in [&first, &second] {
        services.clock.advance(Duration::days(15));
    }

    let barrier = Arc::new(Barrier::new(2));
    let sweeps: Vec<_> = [first.subscriptions.clone(), second.subscriptions.clone()]
        .into_iter()
        .map(|store| {
            let barrier = barrier.clone();
            tokio::spawn(async move {
                barrier.wait().await;
                store.sweep_once().await
            })
        })
        .collect();
    let mut changed = 0;
    for sweep in sweeps {
        changed += sweep.await.unwrap().expect("a sweep succeeds");
    }
    assert_eq!(
        changed, 20,
        "each due subscription was applied by exactly one sweep"
    );

    let conn = open(&first.databases[2]).await;
    for subscription in &started {
        let expired = get(&mut client, &subscription.id).await;
        assert_eq!(status_of(&expired), pb::SubscriptionStatus::PastDue);
        assert_eq!(
            version(&expired.etag),
            version(&subscription.etag) + 1,
            "one version bump"
        );
        let rows = outbox(&conn, &subscription.id).await;
        assert_eq!(
            rows.iter()
                .map(|r| r.event_type.clone())
                .collect::<Vec<_>>(),
            vec![event("trial_started"), event("trial_expired")],
            "one outbox row for the expiry"
        );
        assert_eq!(rows[1].version, 2);
    }
    for services in [&first, &second] {
        assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 0);
    }
}

#[tokio::test]
async fn subscriptions_whose_due_work_keeps_failing_do_not_hide_the_ones_behind_them() {
    use sea_orm::ConnectionTrait;

    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    // 100 trials that end first, broken on purpose, and one healthy trial that ends later.
    let mut broken = Vec::new();
    for _ in 0..100 {
        broken.push(trial(&mut client).await.id);
    }
    services.clock.advance(Duration::seconds(1));
    let healthy = trial(&mut client).await;
    let conn = open(&services.databases[2]).await;
    for id in &broken {
        conn.execute_raw(sea_orm::Statement::from_sql_and_values(
            conn.get_database_backend(),
            // A new version, as every write makes: a process decodes a version it has not
            // decoded yet, and keeps what it decoded of the ones it has.
            "UPDATE subscriptions SET doc = 'not json', version = version + 1 WHERE id = $1",
            [id.clone().into()],
        ))
        .await
        .unwrap();
    }

    services.clock.advance(Duration::days(15));
    assert_eq!(services.subscriptions.sweep_once().await.unwrap(), 1);
    let expired = get(&mut client, &healthy.id).await;
    assert_eq!(status_of(&expired), pb::SubscriptionStatus::PastDue);
}
