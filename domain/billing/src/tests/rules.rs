use chrono::Duration;
use kernel_domain::{AggregateRoot, DomainEvent, Timestamp};

use super::*;
use crate::{
    BillingError, DueWork, Money, Plan, StatusKind, SubscriptionEvent, SubscriptionStatus,
    TRIAL_LENGTH, is_legal_transition,
};

/// When [`active`] was paid, and when its first period ends.
fn paid_at() -> Timestamp {
    t0() + days(1)
}

fn period_end() -> Timestamp {
    at("2023-12-15T22:13:20Z")
}

fn trial_end() -> Timestamp {
    t0() + days(14)
}

// ----- signing up -----

#[test]
fn signup_trial_is_team_with_5_seats() {
    let (subscription, events) = Subscription::start_trial(sid(1), wid(2), t0());
    assert_eq!(subscription.id(), sid(1));
    assert_eq!(subscription.aggregate_id(), sid(1).as_uuid());
    assert_eq!(subscription.workspace_id(), wid(2));
    assert_eq!(subscription.plan(), Plan::Team);
    assert_eq!(subscription.seats(), seats(5));
    assert_eq!(subscription.status_kind(), StatusKind::Trialing);
    assert!(!subscription.cancel_at_period_end());
    assert_eq!(subscription.created_at(), t0());
    assert_eq!(subscription.updated_at(), t0());
    assert_eq!(subscription.monthly_amount(), Money::from_cents(4000));
    assert_eq!(
        events,
        vec![SubscriptionEvent::TrialStarted {
            subscription_id: sid(1),
            workspace_id: wid(2),
            plan: Plan::Team,
            seats: seats(5),
            trial_ends_at: t0() + days(14),
            occurred_at: t0(),
        }]
    );
}

#[test]
fn trial_lasts_14_days() {
    assert_eq!(TRIAL_LENGTH, days(14));
    let subscription = trialing();
    assert_eq!(
        subscription.status(),
        &SubscriptionStatus::Trialing {
            trial_ends_at: at("2023-11-28T22:13:20Z")
        }
    );
    assert_eq!(subscription.next_due(), Some(trial_end()));
}

#[test]
fn a_trial_can_start_on_another_plan_within_its_seat_limit() {
    let (subscription, _) =
        Subscription::start_trial_with(sid(1), wid(2), Plan::Business, seats(200), t0()).unwrap();
    assert_eq!(subscription.plan(), Plan::Business);
    assert_eq!(subscription.seats(), seats(200));
    assert_eq!(subscription.status_kind(), StatusKind::Trialing);

    assert_eq!(
        Subscription::start_trial_with(sid(1), wid(2), Plan::Free, seats(4), t0()),
        Err(BillingError::SeatsExceedPlan {
            seats: 4,
            plan: Plan::Free,
            max: 3
        })
    );
}

// ----- payments -----

#[test]
fn trial_becomes_active_on_payment() {
    let mut subscription = trialing();
    let events = subscription.record_payment_succeeded(paid_at()).unwrap();
    assert_eq!(
        subscription.status(),
        &SubscriptionStatus::Active {
            period_ends_at: period_end()
        }
    );
    assert_eq!(
        events,
        vec![SubscriptionEvent::PaymentSucceeded {
            subscription_id: sid(1),
            workspace_id: wid(2),
            monthly_amount: Money::from_cents(4000),
            period_ends_at: period_end(),
            occurred_at: paid_at(),
        }]
    );
}

#[test]
fn a_paid_period_is_one_calendar_month() {
    let cases = [
        ("2024-01-15T10:00:00Z", "2024-02-15T10:00:00Z"),
        // The day is clamped to the end of a shorter month.
        ("2024-01-31T10:00:00Z", "2024-02-29T10:00:00Z"),
        ("2023-01-31T10:00:00Z", "2023-02-28T10:00:00Z"),
        ("2024-12-31T23:59:59Z", "2025-01-31T23:59:59Z"),
    ];
    for (paid, ends) in cases {
        let (mut subscription, _) = Subscription::start_trial(sid(1), wid(2), at(paid));
        subscription.record_payment_succeeded(at(paid)).unwrap();
        assert_eq!(subscription.next_due(), Some(at(ends)), "paid {paid}");
    }
}

#[test]
fn renewal_paid_before_the_period_end_extends_the_period_from_its_end() {
    let mut subscription = active();
    subscription
        .record_payment_succeeded(period_end() - days(1))
        .unwrap();
    assert_eq!(
        subscription.status(),
        &SubscriptionStatus::Active {
            period_ends_at: at("2024-01-15T22:13:20Z")
        }
    );
}

#[test]
fn payment_after_the_period_end_starts_the_new_period_now() {
    let mut subscription = active();
    let late = period_end() + days(2);
    subscription.record_payment_succeeded(late).unwrap();
    assert_eq!(
        subscription.status(),
        &SubscriptionStatus::Active {
            period_ends_at: at("2024-01-17T22:13:20Z")
        }
    );
}

#[test]
fn active_becomes_past_due_on_failed_payment() {
    let mut subscription = active();
    let failed_at = t0() + days(3);
    let events = subscription.record_payment_failed(failed_at).unwrap();
    assert_eq!(
        subscription.status(),
        &SubscriptionStatus::PastDue {
            since: failed_at,
            // The period already paid for keeps running.
            period_ends_at: Some(period_end()),
        }
    );
    assert_eq!(
        events,
        vec![SubscriptionEvent::PaymentFailed {
            subscription_id: sid(1),
            workspace_id: wid(2),
            monthly_amount: Money::from_cents(4000),
            occurred_at: failed_at,
        }]
    );
}

#[test]
fn past_due_becomes_active_on_payment() {
    let mut subscription = past_due();
    subscription
        .record_payment_succeeded(t0() + days(4))
        .unwrap();
    assert_eq!(
        subscription.status(),
        &SubscriptionStatus::Active {
            period_ends_at: at("2024-01-15T22:13:20Z")
        }
    );

    // Past due after a trial: no period, so the new one starts now.
    let mut subscription = trialing();
    subscription.expire_trial(trial_end()).unwrap();
    let paid = trial_end() + days(3);
    subscription.record_payment_succeeded(paid).unwrap();
    assert_eq!(
        subscription.status(),
        &SubscriptionStatus::Active {
            period_ends_at: at("2024-01-01T22:13:20Z")
        }
    );
}

#[test]
fn repeated_failed_payments_keep_it_past_due_since_the_first() {
    let mut subscription = past_due();
    let before = *subscription.status();
    let events = subscription.record_payment_failed(t0() + days(5)).unwrap();
    assert_eq!(subscription.status(), &before);
    assert_eq!(subscription.updated_at(), t0() + days(5));
    assert!(matches!(
        events[..],
        [SubscriptionEvent::PaymentFailed { .. }]
    ));
}

#[test]
fn failed_payment_during_a_trial_is_refused() {
    let mut subscription = trialing();
    let error = subscription.record_payment_failed(t0() + days(1));
    assert_eq!(
        error,
        Err(BillingError::IllegalTransition {
            action: "record a failed payment",
            from: StatusKind::Trialing
        })
    );
    assert_eq!(error.unwrap_err().reason(), "ILLEGAL_TRANSITION");
    assert_eq!(subscription, trialing());
}

// ----- time passing -----

#[test]
fn trial_ending_unpaid_makes_it_past_due() {
    let mut subscription = trialing();
    let now = trial_end() + Duration::minutes(5);
    let events = subscription.expire_trial(now).unwrap();
    assert_eq!(
        subscription.status(),
        &SubscriptionStatus::PastDue {
            since: now,
            period_ends_at: None
        }
    );
    assert_eq!(subscription.next_due(), None);
    assert_eq!(
        events,
        vec![SubscriptionEvent::TrialExpired {
            subscription_id: sid(1),
            workspace_id: wid(2),
            occurred_at: now,
        }]
    );
}

#[test]
fn trial_cannot_be_expired_before_it_ends() {
    let mut subscription = trialing();
    assert_eq!(
        subscription.expire_trial(trial_end() - Duration::seconds(1)),
        Err(BillingError::TrialNotEnded {
            trial_ends_at: trial_end()
        })
    );
    assert_eq!(subscription, trialing());
    // Exactly at the end it can.
    assert!(subscription.expire_trial(trial_end()).is_ok());
}

#[test]
fn only_a_trial_can_expire() {
    for mut subscription in [active(), past_due()] {
        let from = subscription.status_kind();
        assert_eq!(
            subscription.expire_trial(trial_end() + days(100)),
            Err(BillingError::IllegalTransition {
                action: "expire the trial",
                from
            })
        );
    }
}

#[test]
fn active_becomes_past_due_when_the_period_ends_unpaid() {
    let mut subscription = active();
    let now = period_end() + Duration::minutes(1);
    let events = subscription.end_period(now).unwrap();
    assert_eq!(
        subscription.status(),
        &SubscriptionStatus::PastDue {
            since: now,
            period_ends_at: None
        }
    );
    assert_eq!(subscription.next_due(), None);
    assert_eq!(
        events,
        vec![SubscriptionEvent::PeriodEnded {
            subscription_id: sid(1),
            workspace_id: wid(2),
            occurred_at: now,
        }]
    );
}

#[test]
fn period_cannot_end_before_its_end() {
    let mut subscription = active();
    assert_eq!(
        subscription.end_period(period_end() - Duration::seconds(1)),
        Err(BillingError::PeriodNotEnded {
            period_ends_at: period_end()
        })
    );
    assert_eq!(subscription, active());
}

#[test]
fn a_renewal_paid_in_time_keeps_it_active_past_the_old_period_end() {
    let mut subscription = active();
    subscription
        .record_payment_succeeded(period_end() - Duration::hours(1))
        .unwrap();
    assert!(matches!(
        subscription.end_period(period_end() + Duration::hours(1)),
        Err(BillingError::PeriodNotEnded { .. })
    ));
    assert_eq!(subscription.status_kind(), StatusKind::Active);
}

#[test]
fn a_trial_has_no_period_to_end() {
    let mut subscription = trialing();
    assert_eq!(
        subscription.end_period(trial_end() + days(1)),
        Err(BillingError::NoCurrentPeriod)
    );
}

#[test]
fn past_due_loses_its_ended_period_and_stays_past_due() {
    let mut subscription = past_due();
    let since = t0() + days(3);
    subscription.end_period(period_end()).unwrap();
    assert_eq!(
        subscription.status(),
        &SubscriptionStatus::PastDue {
            since,
            period_ends_at: None
        }
    );
    assert_eq!(
        subscription.end_period(period_end() + days(1)),
        Err(BillingError::NoCurrentPeriod)
    );
}

// ----- cancellation -----

#[test]
fn cancel_at_once_works_from_every_status_but_canceled() {
    let now = t0() + days(5);
    for mut subscription in [trialing(), active(), past_due()] {
        let events = subscription.cancel(false, now).unwrap();
        assert_eq!(
            subscription.status(),
            &SubscriptionStatus::Canceled { canceled_at: now }
        );
        assert_eq!(subscription.next_due(), None);
        assert_eq!(
            events,
            vec![SubscriptionEvent::Canceled {
                subscription_id: sid(1),
                workspace_id: wid(2),
                at_period_end: false,
                occurred_at: now,
            }]
        );
    }
}

#[test]
fn cancel_at_period_end_cancels_when_the_period_ends() {
    let mut subscription = active();
    let events = subscription.cancel(true, t0() + days(5)).unwrap();
    assert!(subscription.cancel_at_period_end());
    assert_eq!(subscription.cancels_at(), Some(period_end()));
    assert_eq!(subscription.status_kind(), StatusKind::Active);
    assert_eq!(
        events,
        vec![SubscriptionEvent::CancellationScheduled {
            subscription_id: sid(1),
            workspace_id: wid(2),
            cancels_at: period_end(),
            occurred_at: t0() + days(5),
        }]
    );

    assert_eq!(
        subscription.due_command(period_end()),
        Some(DueWork::EndPeriod)
    );
    let events = subscription.end_period(period_end()).unwrap();
    assert_eq!(
        subscription.status(),
        &SubscriptionStatus::Canceled {
            canceled_at: period_end()
        }
    );
    assert!(!subscription.cancel_at_period_end());
    assert!(matches!(
        events[..],
        [SubscriptionEvent::Canceled {
            at_period_end: true,
            ..
        }]
    ));
}

#[test]
fn cancel_at_period_end_during_a_trial_cancels_when_the_trial_ends() {
    let mut subscription = trialing();
    subscription.cancel(true, t0() + days(1)).unwrap();
    assert_eq!(subscription.cancels_at(), Some(trial_end()));
    let events = subscription.expire_trial(trial_end()).unwrap();
    assert_eq!(subscription.status_kind(), StatusKind::Canceled);
    assert!(matches!(
        events[..],
        [SubscriptionEvent::Canceled {
            at_period_end: true,
            ..
        }]
    ));
}

#[test]
fn cancel_at_period_end_of_a_past_due_period_cancels_when_it_ends() {
    let mut subscription = past_due();
    subscription.cancel(true, t0() + days(4)).unwrap();
    assert_eq!(subscription.cancels_at(), Some(period_end()));
    subscription.end_period(period_end()).unwrap();
    assert_eq!(subscription.status_kind(), StatusKind::Canceled);
}

#[test]
fn cancel_at_period_end_needs_a_period() {
    let mut subscription = trialing();
    subscription.expire_trial(trial_end()).unwrap();
    let before = subscription.clone();
    assert_eq!(
        subscription.cancel(true, trial_end() + days(1)),
        Err(BillingError::NoCurrentPeriod)
    );
    assert_eq!(subscription, before);
    // Canceling at once still works.
    assert!(subscription.cancel(false, trial_end() + days(1)).is_ok());
}

#[test]
fn cancel_at_period_end_cannot_be_scheduled_twice() {
    let mut subscription = active();
    subscription.cancel(true, t0() + days(5)).unwrap();
    let before = subscription.clone();
    assert_eq!(
        subscription.cancel(true, t0() + days(6)),
        Err(BillingError::CancelAlreadyScheduled)
    );
    assert_eq!(subscription, before);
}

#[test]
fn resume_undoes_cancel_at_period_end() {
    let mut subscription = active();
    subscription.cancel(true, t0() + days(5)).unwrap();
    let events = subscription.resume(t0() + days(6)).unwrap();
    assert!(!subscription.cancel_at_period_end());
    assert_eq!(subscription.cancels_at(), None);
    assert_eq!(
        events,
        vec![SubscriptionEvent::Resumed {
            subscription_id: sid(1),
            workspace_id: wid(2),
            occurred_at: t0() + days(6),
        }]
    );
    // At the period end it now becomes past due awaiting the renewal, not canceled.
    subscription.end_period(period_end()).unwrap();
    assert_eq!(subscription.status_kind(), StatusKind::PastDue);
}

#[test]
fn resume_needs_a_scheduled_cancellation() {
    let mut subscription = active();
    assert_eq!(
        subscription.resume(t0() + days(5)),
        Err(BillingError::CancelNotScheduled)
    );
    assert_eq!(subscription, active());
}

#[test]
fn payments_do_not_withdraw_a_scheduled_cancellation() {
    let mut subscription = trialing();
    subscription.cancel(true, t0()).unwrap();
    subscription.record_payment_succeeded(paid_at()).unwrap();
    assert!(subscription.cancel_at_period_end());
    assert_eq!(subscription.cancels_at(), Some(period_end()));
    subscription.record_payment_failed(paid_at()).unwrap();
    assert_eq!(subscription.cancels_at(), Some(period_end()));
    subscription.end_period(period_end()).unwrap();
    assert_eq!(subscription.status_kind(), StatusKind::Canceled);
}

#[test]
fn canceled_is_final() {
    let mut subscription = canceled();
    let frozen = subscription.clone();
    let later = t0() + days(400);
    let results = [
        subscription.change_plan(Plan::Business, 1, later),
        subscription.change_seats(seats(7), 1, later),
        subscription.record_payment_succeeded(later),
        subscription.record_payment_failed(later),
        subscription.cancel(false, later),
        subscription.cancel(true, later),
        subscription.resume(later),
        subscription.expire_trial(later),
        subscription.end_period(later),
    ];
    for result in results {
        assert_eq!(result, Err(BillingError::Canceled));
    }
    assert_eq!(subscription, frozen);
    assert_eq!(subscription.next_due(), None);
    assert_eq!(subscription.due_command(later), None);
}

#[test]
fn illegal_transitions_are_rejected_not_ignored() {
    let later = t0() + days(400);
    type Command = fn(&mut Subscription, Timestamp) -> Result<Vec<SubscriptionEvent>, BillingError>;
    let cases: [(Subscription, Command, &str); 8] = [
        (
            trialing(),
            |s, now| s.record_payment_failed(now),
            "ILLEGAL_TRANSITION",
        ),
        (trialing(), |s, now| s.end_period(now), "NO_CURRENT_PERIOD"),
        (active(), |s, now| s.expire_trial(now), "ILLEGAL_TRANSITION"),
        (
            past_due(),
            |s, now| s.expire_trial(now),
            "ILLEGAL_TRANSITION",
        ),
        (active(), |s, now| s.resume(now), "CANCEL_NOT_SCHEDULED"),
        (
            canceled(),
            |s, now| s.record_payment_succeeded(now),
            "SUBSCRIPTION_CANCELED",
        ),
        (
            canceled(),
            |s, now| s.cancel(false, now),
            "SUBSCRIPTION_CANCELED",
        ),
        (
            canceled(),
            |s, now| s.end_period(now),
            "SUBSCRIPTION_CANCELED",
        ),
    ];
    for (mut subscription, command, reason) in cases {
        let before = subscription.clone();
        let error = command(&mut subscription, later).unwrap_err();
        assert_eq!(error.reason(), reason);
        assert_eq!(
            error.kind(),
            kernel_domain::RejectionKind::FailedPrecondition
        );
        assert_eq!(subscription, before, "{reason}");
    }
}

#[test]
fn the_status_machine_allows_exactly_these_transitions() {
    use StatusKind::*;
    let legal = [
        (Trialing, Trialing),
        (Trialing, Active),
        (Trialing, PastDue),
        (Trialing, Canceled),
        (Active, Active),
        (Active, PastDue),
        (Active, Canceled),
        (PastDue, PastDue),
        (PastDue, Active),
        (PastDue, Canceled),
    ];
    for from in StatusKind::ALL {
        for to in StatusKind::ALL {
            assert_eq!(
                is_legal_transition(from, to),
                legal.contains(&(from, to)),
                "{from} -> {to}"
            );
        }
    }
}

// ----- plans and seats -----

#[test]
fn seats_cannot_exceed_the_plan_max() {
    let mut subscription = active();
    assert_eq!(
        subscription.change_seats(seats(51), 1, t0()),
        Err(BillingError::SeatsExceedPlan {
            seats: 51,
            plan: Plan::Team,
            max: 50
        })
    );
    assert_eq!(subscription, active());
    assert!(subscription.change_seats(seats(50), 1, t0()).is_ok());
    assert_eq!(subscription.seats(), seats(50));
}

#[test]
fn seats_cannot_go_below_seats_in_use() {
    let mut subscription = active();
    assert_eq!(
        subscription.change_seats(seats(3), 4, t0()),
        Err(BillingError::SeatsBelowInUse {
            seats: 3,
            in_use: 4
        })
    );
    assert_eq!(subscription, active());
    assert!(subscription.change_seats(seats(4), 4, t0()).is_ok());
    assert_eq!(subscription.seats(), seats(4));
}

#[test]
fn seats_are_at_least_one() {
    assert_eq!(Seats::parse(0), Err(BillingError::InvalidSeats));
    let mut subscription = active();
    assert!(subscription.change_seats(seats(1), 0, t0()).is_ok());
}

#[test]
fn plan_cannot_be_changed_to_one_too_small_for_the_seats() {
    let mut subscription = active();
    assert_eq!(
        subscription.change_plan(Plan::Free, 1, t0()),
        Err(BillingError::SeatsExceedPlan {
            seats: 5,
            plan: Plan::Free,
            max: 3
        })
    );
    assert_eq!(subscription, active());
}

#[test]
fn plan_cannot_be_changed_to_one_too_small_for_the_seats_in_use() {
    let mut subscription = active();
    subscription.change_seats(seats(3), 3, t0()).unwrap();
    let before = subscription.clone();
    assert_eq!(
        subscription.change_plan(Plan::Free, 4, t0()),
        Err(BillingError::SeatsBelowInUse {
            seats: 3,
            in_use: 4
        })
    );
    assert_eq!(subscription, before);
    let events = subscription.change_plan(Plan::Free, 3, t0()).unwrap();
    assert_eq!(subscription.plan(), Plan::Free);
    assert_eq!(
        events,
        vec![SubscriptionEvent::PlanChanged {
            subscription_id: sid(1),
            workspace_id: wid(2),
            previous_plan: Plan::Team,
            plan: Plan::Free,
            monthly_amount: Money::ZERO,
            occurred_at: t0(),
        }]
    );
}

#[test]
fn unchanged_plan_or_seats_are_refused() {
    let mut subscription = active();
    assert_eq!(
        subscription.change_plan(Plan::Team, 1, t0()),
        Err(BillingError::PlanUnchanged(Plan::Team))
    );
    assert_eq!(
        subscription.change_seats(seats(5), 1, t0()),
        Err(BillingError::SeatsUnchanged(5))
    );
    assert_eq!(subscription, active());
}

#[test]
fn plan_and_seat_changes_keep_the_status() {
    for mut subscription in [trialing(), active(), past_due()] {
        let status = *subscription.status();
        subscription.change_plan(Plan::Business, 5, t0()).unwrap();
        subscription.change_seats(seats(900), 5, t0()).unwrap();
        assert_eq!(subscription.status(), &status);
    }
}

#[test]
fn monthly_amount_is_seats_times_price() {
    let mut subscription = trialing();
    assert_eq!(subscription.monthly_amount(), Money::from_cents(5 * 800));
    assert_eq!(subscription.monthly_amount().to_string(), "$40.00");

    let events = subscription.change_seats(seats(12), 1, t0()).unwrap();
    assert_eq!(subscription.monthly_amount(), Money::from_cents(12 * 800));
    assert!(matches!(
        events[..],
        [SubscriptionEvent::SeatsChanged { monthly_amount, .. }] if monthly_amount == Money::from_cents(9600)
    ));

    subscription.change_plan(Plan::Business, 1, t0()).unwrap();
    assert_eq!(subscription.monthly_amount(), Money::from_cents(12 * 1500));
    subscription.change_seats(seats(1000), 1, t0()).unwrap();
    assert_eq!(subscription.monthly_amount().to_string(), "$15,000.00");

    subscription.change_seats(seats(2), 1, t0()).unwrap();
    subscription.change_plan(Plan::Free, 1, t0()).unwrap();
    assert_eq!(subscription.monthly_amount(), Money::ZERO);
}

// ----- the sweeper -----

#[test]
fn next_due_follows_the_status() {
    assert_eq!(trialing().next_due(), Some(trial_end()));
    assert_eq!(active().next_due(), Some(period_end()));
    assert_eq!(past_due().next_due(), Some(period_end()));
    assert_eq!(canceled().next_due(), None);
    let mut ended = past_due();
    ended.end_period(period_end()).unwrap();
    assert_eq!(ended.next_due(), None);
}

#[test]
fn due_command_names_the_command_the_sweeper_runs() {
    let mut subscription = trialing();
    assert_eq!(
        subscription.due_command(trial_end() - Duration::seconds(1)),
        None
    );
    assert_eq!(
        subscription.due_command(trial_end()),
        Some(DueWork::ExpireTrial)
    );
    subscription.expire_trial(trial_end()).unwrap();
    assert_eq!(subscription.due_command(trial_end() + days(100)), None);

    let mut subscription = active();
    assert_eq!(
        subscription.due_command(period_end() - Duration::seconds(1)),
        None
    );
    assert_eq!(
        subscription.due_command(period_end()),
        Some(DueWork::EndPeriod)
    );
    subscription.end_period(period_end()).unwrap();
    assert_eq!(subscription.due_command(period_end() + days(100)), None);
}

// ----- events and bookkeeping -----

#[test]
fn every_event_names_the_subscription_the_workspace_the_time_and_a_dotted_type() {
    let mut subscription = trialing();
    let now = t0() + days(1);
    let mut events = subscription.change_seats(seats(6), 1, now).unwrap();
    events.extend(subscription.change_plan(Plan::Business, 1, now).unwrap());
    events.extend(subscription.cancel(true, now).unwrap());
    events.extend(subscription.resume(now).unwrap());
    events.extend(subscription.record_payment_succeeded(now).unwrap());
    events.extend(subscription.record_payment_failed(now).unwrap());
    events.extend(subscription.cancel(false, now).unwrap());
    for event in &events {
        assert_eq!(event.subscription_id(), sid(1));
        assert_eq!(event.workspace_id(), wid(2));
        assert_eq!(event.occurred_at(), now);
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(
            format!("billing.subscription.{}", json["type"].as_str().unwrap()),
            event.event_type()
        );
        assert_eq!(json["subscription_id"], sid(1).to_string());
        assert_eq!(json["workspace_id"], wid(2).to_string());
        let back: SubscriptionEvent = serde_json::from_value(json).unwrap();
        assert_eq!(&back, event);
    }
    let types: Vec<&str> = events.iter().map(|e| e.event_type()).collect();
    assert_eq!(
        types,
        [
            "billing.subscription.seats_changed",
            "billing.subscription.plan_changed",
            "billing.subscription.cancellation_scheduled",
            "billing.subscription.resumed",
            "billing.subscription.payment_succeeded",
            "billing.subscription.payment_failed",
            "billing.subscription.canceled",
        ]
    );
}

#[test]
fn events_carry_plain_json_values() {
    let (_, events) = Subscription::start_trial(sid(1), wid(2), t0());
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["type"], "trial_started");
    assert_eq!(json["plan"], "team");
    assert_eq!(json["seats"], 5);
    assert_eq!(json["trial_ends_at"], "2023-11-28T22:13:20Z");

    let mut subscription = trialing();
    let events = subscription.record_payment_succeeded(paid_at()).unwrap();
    let json = serde_json::to_value(&events[0]).unwrap();
    assert_eq!(json["monthly_amount"], 4000);
}

#[test]
fn accepted_commands_set_updated_at() {
    let mut subscription = trialing();
    let later = t0() + days(3);
    subscription.change_seats(seats(8), 1, later).unwrap();
    assert_eq!(subscription.updated_at(), later);
    assert_eq!(subscription.created_at(), t0());
}

#[test]
fn refused_commands_leave_the_subscription_unchanged() {
    let mut subscription = active();
    let before = subscription.clone();
    let now = t0() + days(2);
    assert!(subscription.change_seats(seats(60), 1, now).is_err());
    assert!(subscription.change_plan(Plan::Free, 1, now).is_err());
    assert!(subscription.expire_trial(now).is_err());
    assert!(subscription.end_period(now).is_err());
    assert!(subscription.resume(now).is_err());
    assert_eq!(subscription, before);
}

#[test]
fn subscription_round_trips_through_json() {
    for subscription in [trialing(), active(), past_due(), canceled()] {
        let json = serde_json::to_string(&subscription).unwrap();
        let back: Subscription = serde_json::from_str(&json).unwrap();
        assert_eq!(back, subscription);
    }
    let mut scheduled = active();
    scheduled.cancel(true, t0() + days(2)).unwrap();
    let json = serde_json::to_value(&scheduled).unwrap();
    assert_eq!(json["status"]["state"], "active");
    assert_eq!(json["status"]["period_ends_at"], "2023-12-15T22:13:20Z");
    assert_eq!(json["cancel_at_period_end"], true);
    assert_eq!(json["plan"], "team");
    assert_eq!(json["seats"], 5);
    let back: Subscription = serde_json::from_value(json).unwrap();
    assert_eq!(back, scheduled);
}

#[test]
fn a_stored_document_with_zero_seats_is_refused() {
    let mut json = serde_json::to_value(active()).unwrap();
    json["seats"] = 0.into();
    assert!(serde_json::from_value::<Subscription>(json).is_err());
}
