//! Property tests: money arithmetic, value objects on arbitrary input, and random command
//! sequences on a subscription.

use chrono::Duration;
use kernel_domain::DomainEvent;
use proptest::prelude::*;

use super::*;
use crate::{
    BillingError, DueWork, Money, Plan, StatusKind, SubscriptionEvent, is_legal_transition,
};

fn plan() -> impl Strategy<Value = Plan> {
    prop::sample::select(Plan::ALL.to_vec())
}

proptest! {
    #[test]
    fn money_addition_never_overflows_silently(a in any::<u64>(), b in any::<u64>()) {
        let exact = u128::from(a) + u128::from(b);
        match Money::from_cents(a).checked_add(Money::from_cents(b)) {
            Some(sum) => prop_assert_eq!(u128::from(sum.cents()), exact),
            None => prop_assert!(exact > u128::from(u64::MAX)),
        }
    }

    #[test]
    fn money_subtraction_never_goes_negative(a in any::<u64>(), b in any::<u64>()) {
        match Money::from_cents(a).checked_sub(Money::from_cents(b)) {
            Some(difference) => prop_assert_eq!(difference.cents(), a - b),
            None => prop_assert!(b > a),
        }
    }

    #[test]
    fn money_multiplication_never_overflows_silently(a in any::<u64>(), factor in any::<u64>()) {
        let exact = u128::from(a) * u128::from(factor);
        match Money::from_cents(a).checked_mul(factor) {
            Some(product) => prop_assert_eq!(u128::from(product.cents()), exact),
            None => prop_assert!(exact > u128::from(u64::MAX)),
        }
    }

    #[test]
    fn money_display_reads_back_as_the_same_cents(cents in any::<u64>()) {
        let shown = Money::from_cents(cents).to_string();
        let digits = shown.strip_prefix('$').unwrap();
        let (dollars, rest) = digits.split_once('.').unwrap();
        prop_assert_eq!(rest.len(), 2);
        let groups: Vec<&str> = dollars.split(',').collect();
        prop_assert!((1..=3).contains(&groups[0].len()));
        prop_assert!(groups[1..].iter().all(|g| g.len() == 3));
        let read: u128 = format!("{}{rest}", groups.concat()).parse().unwrap();
        prop_assert_eq!(read, u128::from(cents));
    }

    #[test]
    fn monthly_amount_is_exact_for_any_seat_count(plan in plan(), seats in 1u32..) {
        let amount = plan.monthly_amount(Seats::parse(seats).unwrap());
        prop_assert_eq!(
            u128::from(amount.cents()),
            u128::from(plan.price_per_seat().cents()) * u128::from(seats)
        );
    }

    #[test]
    fn seats_parse_accepts_exactly_positive_counts(n in any::<u32>()) {
        match Seats::parse(n) {
            Ok(seats) => prop_assert_eq!(seats.get(), n),
            Err(error) => {
                prop_assert_eq!(n, 0);
                prop_assert_eq!(error, BillingError::InvalidSeats);
            }
        }
    }

    #[test]
    fn plan_parse_never_panics_and_round_trips(raw in "\\PC{0,12}") {
        if let Ok(plan) = Plan::parse(&raw) {
            prop_assert_eq!(plan.as_str(), raw.trim().to_ascii_lowercase());
        }
    }
}

#[derive(Debug, Clone)]
enum Command {
    Advance(Duration),
    PaymentSucceeded,
    PaymentFailed,
    Cancel {
        at_period_end: bool,
    },
    Resume,
    ChangePlan {
        plan: Plan,
        in_use: u32,
    },
    ChangeSeats {
        seats: u32,
        in_use: u32,
    },
    ExpireTrial,
    EndPeriod,
    /// What the store's sweeper does: run the due command, if any.
    Sweep,
}

fn in_use() -> impl Strategy<Value = u32> {
    prop_oneof![4 => 0u32..8, 1 => 0u32..1100]
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        12 => (0i64..72).prop_map(|h| Command::Advance(Duration::hours(h))),
        8 => (0i64..40).prop_map(|d| Command::Advance(Duration::days(d))),
        8 => Just(Command::PaymentSucceeded),
        6 => Just(Command::PaymentFailed),
        1 => Just(Command::Cancel { at_period_end: false }),
        3 => Just(Command::Cancel { at_period_end: true }),
        3 => Just(Command::Resume),
        5 => (plan(), in_use()).prop_map(|(plan, in_use)| Command::ChangePlan { plan, in_use }),
        6 => (prop_oneof![0u32..10, 0u32..1100, any::<u32>()], in_use())
            .prop_map(|(seats, in_use)| Command::ChangeSeats { seats, in_use }),
        4 => Just(Command::ExpireTrial),
        4 => Just(Command::EndPeriod),
        8 => Just(Command::Sweep),
    ]
}

/// How the subscription starts: the sign-up trial, or a trial on a random plan and seats
/// (falling back to the sign-up trial when those do not fit).
fn start() -> impl Strategy<Value = Option<(Plan, u32)>> {
    prop::option::of((plan(), 1u32..1100))
}

struct Run {
    subscription: Subscription,
    now: Timestamp,
}

impl Run {
    fn apply(&mut self, command: &Command) -> Result<Vec<SubscriptionEvent>, BillingError> {
        let now = self.now;
        let subscription = &mut self.subscription;
        match command {
            Command::Advance(by) => {
                self.now += *by;
                Ok(Vec::new())
            }
            Command::PaymentSucceeded => subscription.record_payment_succeeded(now),
            Command::PaymentFailed => subscription.record_payment_failed(now),
            Command::Cancel { at_period_end } => subscription.cancel(*at_period_end, now),
            Command::Resume => subscription.resume(now),
            Command::ChangePlan { plan, in_use } => subscription.change_plan(*plan, *in_use, now),
            Command::ChangeSeats { seats, in_use } => Seats::parse(*seats)
                .and_then(|seats| subscription.change_seats(seats, *in_use, now)),
            Command::ExpireTrial => subscription.expire_trial(now),
            Command::EndPeriod => subscription.end_period(now),
            Command::Sweep => match subscription.due_command(now) {
                Some(DueWork::ExpireTrial) => subscription.expire_trial(now),
                Some(DueWork::EndPeriod) => subscription.end_period(now),
                None => Ok(Vec::new()),
            },
        }
    }
}

/// The status an event leaves the subscription in, or `None` for events that keep it.
fn status_after(event: &SubscriptionEvent) -> Option<StatusKind> {
    match event {
        SubscriptionEvent::PaymentSucceeded { .. } => Some(StatusKind::Active),
        SubscriptionEvent::PaymentFailed { .. }
        | SubscriptionEvent::TrialExpired { .. }
        | SubscriptionEvent::PeriodEnded { .. } => Some(StatusKind::PastDue),
        SubscriptionEvent::Canceled { .. } => Some(StatusKind::Canceled),
        SubscriptionEvent::TrialStarted { .. } => Some(StatusKind::Trialing),
        SubscriptionEvent::PlanChanged { .. }
        | SubscriptionEvent::SeatsChanged { .. }
        | SubscriptionEvent::CancellationScheduled { .. }
        | SubscriptionEvent::Resumed { .. } => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_command_sequences_keep_the_invariants(
        start in start(),
        commands in prop::collection::vec(command(), 1..120),
    ) {
        let subscription = start
            .and_then(|(plan, seats)| {
                Subscription::start_trial_with(sid(1), wid(2), plan, Seats::parse(seats).ok()?, t0())
                    .ok()
            })
            .unwrap_or_else(|| Subscription::start_trial(sid(1), wid(2), t0()))
            .0;
        let mut run = Run { subscription, now: t0() };
        let mut was_canceled = false;

        for command in &commands {
            let before = run.subscription.clone();
            let due_before = before.due_command(run.now);
            let result = run.apply(command);
            let subscription = &run.subscription;
            let now = run.now;
            let (from, to) = (before.status_kind(), subscription.status_kind());

            match &result {
                // A refused command changes nothing.
                Err(_) => prop_assert_eq!(subscription, &before),
                Ok(events) if events.is_empty() => {
                    prop_assert_eq!(subscription, &before);
                    if matches!(command, Command::Sweep) {
                        // Nothing due means neither sweeper command would be accepted.
                        prop_assert!(before.clone().expire_trial(now).is_err());
                        prop_assert!(before.clone().end_period(now).is_err());
                    }
                }
                Ok(events) => {
                    // Only legal transitions happen.
                    prop_assert!(is_legal_transition(from, to), "{:?}: {} -> {}", command, from, to);
                    prop_assert_eq!(subscription.updated_at(), now);
                    prop_assert_eq!(subscription.created_at(), t0());
                    for event in events {
                        prop_assert_eq!(event.subscription_id(), sid(1));
                        prop_assert_eq!(event.workspace_id(), wid(2));
                        prop_assert_eq!(event.occurred_at(), now);
                        let json = serde_json::to_value(event).unwrap();
                        prop_assert_eq!(
                            format!("billing.subscription.{}", json["type"].as_str().unwrap()),
                            event.event_type()
                        );
                    }
                    let last = events.last().and_then(status_after).unwrap_or(from);
                    prop_assert_eq!(last, to, "events {:?}", events);
                }
            }
            if matches!(command, Command::Sweep) && due_before.is_some() {
                // A due command is always accepted.
                prop_assert!(result.as_ref().is_ok_and(|e| !e.is_empty()), "{:?}", result);
            }
            match (command, &result) {
                (Command::ChangeSeats { seats, in_use }, Ok(_)) => {
                    prop_assert_eq!(subscription.seats().get(), *seats);
                    prop_assert!(*seats >= *in_use);
                }
                (Command::ChangePlan { plan, in_use }, Ok(_)) => {
                    prop_assert_eq!(subscription.plan(), *plan);
                    prop_assert!(*in_use <= plan.max_seats());
                }
                _ => {}
            }

            // Seats fit the plan, and the monthly amount is seats x price.
            let seats = subscription.seats().get();
            prop_assert!((1..=subscription.plan().max_seats()).contains(&seats));
            prop_assert_eq!(
                u128::from(subscription.monthly_amount().cents()),
                u128::from(subscription.plan().price_per_seat().cents()) * u128::from(seats)
            );

            // Canceled stays canceled, and then nothing is due or scheduled.
            if was_canceled {
                prop_assert_eq!(to, StatusKind::Canceled);
                let refused = matches!(command, Command::Advance(_) | Command::Sweep)
                    || result == Err(BillingError::Canceled)
                    || matches!(
                        (command, &result),
                        (Command::ChangeSeats { seats: 0, .. }, Err(BillingError::InvalidSeats))
                    );
                prop_assert!(refused, "after cancellation {:?} gave {:?}", command, result);
            }
            if to == StatusKind::Canceled {
                was_canceled = true;
                prop_assert!(!subscription.cancel_at_period_end());
                prop_assert_eq!(subscription.next_due(), None);
            }

            // A scheduled cancellation always has a time to happen at.
            if subscription.cancel_at_period_end() {
                prop_assert!(subscription.next_due().is_some());
                prop_assert_eq!(subscription.cancels_at(), subscription.next_due());
            }
            // The sweeper's view agrees with itself.
            prop_assert_eq!(
                subscription.due_command(now).is_some(),
                subscription.next_due().is_some_and(|due| due <= now)
            );
            prop_assert_eq!(subscription.id(), sid(1));
            prop_assert_eq!(subscription.workspace_id(), wid(2));
        }
        let json = serde_json::to_string(&run.subscription).unwrap();
        let back: Subscription = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, run.subscription);
    }
}
