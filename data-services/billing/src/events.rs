//! Domain events to the published language: every [`SubscriptionEvent`] leaves the service as
//! its message of `saas/billing/v1/events.proto`, concerning the workspace the subscription
//! pays for.
//!
//! The match is exhaustive, so a new domain event does not compile until it is published.
//! Amounts go out in cents with their currency, as on `Subscription`.

use billing_domain::{Money, Seats, Subscription, SubscriptionEvent};
use platform::{rpc::timestamp, store::IntegrationEvent};
use saas_proto::billing::v1 as pb;

use crate::wire::plan;

/// The currency of every amount.
const CURRENCY: &str = "USD";

/// The integration event `event` is published as, for the workspace `subscription` pays for.
pub fn integration_event(
    subscription: &Subscription,
    event: &SubscriptionEvent,
) -> IntegrationEvent {
    let id = Some(subscription.workspace_id().as_uuid());
    match event {
        SubscriptionEvent::TrialStarted {
            subscription_id,
            workspace_id,
            plan: trialed,
            seats,
            trial_ends_at,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::SubscriptionTrialStarted {
                subscription_id: subscription_id.to_string(),
                workspace_id: workspace_id.to_string(),
                plan: plan(*trialed) as i32,
                seats: seat_count(*seats),
                trial_end_time: Some(timestamp(*trial_ends_at)),
            },
        ),
        SubscriptionEvent::PlanChanged {
            subscription_id,
            workspace_id,
            previous_plan,
            plan: new_plan,
            monthly_amount,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::SubscriptionPlanChanged {
                subscription_id: subscription_id.to_string(),
                workspace_id: workspace_id.to_string(),
                previous_plan: plan(*previous_plan) as i32,
                plan: plan(*new_plan) as i32,
                monthly_amount_minor: cents(*monthly_amount),
                currency_code: CURRENCY.to_owned(),
            },
        ),
        SubscriptionEvent::SeatsChanged {
            subscription_id,
            workspace_id,
            previous_seats,
            seats,
            monthly_amount,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::SubscriptionSeatsChanged {
                subscription_id: subscription_id.to_string(),
                workspace_id: workspace_id.to_string(),
                previous_seats: seat_count(*previous_seats),
                seats: seat_count(*seats),
                monthly_amount_minor: cents(*monthly_amount),
                currency_code: CURRENCY.to_owned(),
            },
        ),
        SubscriptionEvent::PaymentSucceeded {
            subscription_id,
            workspace_id,
            monthly_amount,
            period_ends_at,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::SubscriptionPaymentSucceeded {
                subscription_id: subscription_id.to_string(),
                workspace_id: workspace_id.to_string(),
                monthly_amount_minor: cents(*monthly_amount),
                currency_code: CURRENCY.to_owned(),
                period_end_time: Some(timestamp(*period_ends_at)),
            },
        ),
        SubscriptionEvent::PaymentFailed {
            subscription_id,
            workspace_id,
            monthly_amount,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::SubscriptionPaymentFailed {
                subscription_id: subscription_id.to_string(),
                workspace_id: workspace_id.to_string(),
                monthly_amount_minor: cents(*monthly_amount),
                currency_code: CURRENCY.to_owned(),
            },
        ),
        SubscriptionEvent::TrialExpired {
            subscription_id,
            workspace_id,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::SubscriptionTrialExpired {
                subscription_id: subscription_id.to_string(),
                workspace_id: workspace_id.to_string(),
            },
        ),
        SubscriptionEvent::PeriodEnded {
            subscription_id,
            workspace_id,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::SubscriptionPeriodEnded {
                subscription_id: subscription_id.to_string(),
                workspace_id: workspace_id.to_string(),
            },
        ),
        SubscriptionEvent::CancellationScheduled {
            subscription_id,
            workspace_id,
            cancels_at,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::SubscriptionCancellationScheduled {
                subscription_id: subscription_id.to_string(),
                workspace_id: workspace_id.to_string(),
                cancel_time: Some(timestamp(*cancels_at)),
            },
        ),
        SubscriptionEvent::Resumed {
            subscription_id,
            workspace_id,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::SubscriptionResumed {
                subscription_id: subscription_id.to_string(),
                workspace_id: workspace_id.to_string(),
            },
        ),
        SubscriptionEvent::Canceled {
            subscription_id,
            workspace_id,
            at_period_end,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::SubscriptionCanceled {
                subscription_id: subscription_id.to_string(),
                workspace_id: workspace_id.to_string(),
                at_period_end: *at_period_end,
            },
        ),
    }
}

fn seat_count(seats: Seats) -> i32 {
    i32::try_from(seats.get()).unwrap_or(i32::MAX)
}

fn cents(amount: Money) -> i64 {
    i64::try_from(amount.cents()).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use billing_domain::{Plan, SubscriptionId, WorkspaceId};
    use kernel_domain::{DomainEvent, Timestamp, Uuid};
    use prost::Message;

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_timestamp(seconds, 0).unwrap()
    }

    fn subscription() -> Subscription {
        let (subscription, _) = Subscription::start_trial(
            SubscriptionId::from_uuid(Uuid::now_v7()),
            WorkspaceId::from_uuid(Uuid::now_v7()),
            at(1_800_000_000),
        );
        subscription
    }

    /// One event of every variant, about `subscription`.
    fn one_of_each(subscription: &Subscription) -> Vec<SubscriptionEvent> {
        let subscription_id = subscription.id();
        let workspace_id = subscription.workspace_id();
        let occurred_at = at(1_800_000_100);
        vec![
            SubscriptionEvent::TrialStarted {
                subscription_id,
                workspace_id,
                plan: Plan::Team,
                seats: Seats::parse(5).unwrap(),
                trial_ends_at: at(1_801_209_600),
                occurred_at,
            },
            SubscriptionEvent::PlanChanged {
                subscription_id,
                workspace_id,
                previous_plan: Plan::Team,
                plan: Plan::Business,
                monthly_amount: Money::from_cents(7_500),
                occurred_at,
            },
            SubscriptionEvent::SeatsChanged {
                subscription_id,
                workspace_id,
                previous_seats: Seats::parse(5).unwrap(),
                seats: Seats::parse(12).unwrap(),
                monthly_amount: Money::from_cents(18_000),
                occurred_at,
            },
            SubscriptionEvent::PaymentSucceeded {
                subscription_id,
                workspace_id,
                monthly_amount: Money::from_cents(18_000),
                period_ends_at: at(1_802_592_000),
                occurred_at,
            },
            SubscriptionEvent::PaymentFailed {
                subscription_id,
                workspace_id,
                monthly_amount: Money::from_cents(18_000),
                occurred_at,
            },
            SubscriptionEvent::TrialExpired {
                subscription_id,
                workspace_id,
                occurred_at,
            },
            SubscriptionEvent::PeriodEnded {
                subscription_id,
                workspace_id,
                occurred_at,
            },
            SubscriptionEvent::CancellationScheduled {
                subscription_id,
                workspace_id,
                cancels_at: at(1_802_592_000),
                occurred_at,
            },
            SubscriptionEvent::Resumed {
                subscription_id,
                workspace_id,
                occurred_at,
            },
            SubscriptionEvent::Canceled {
                subscription_id,
                workspace_id,
                at_period_end: true,
                occurred_at,
            },
        ]
    }

    /// How many variants `SubscriptionEvent` has.
    const VARIANTS: usize = 10;

    /// The variant's position. Exhaustive: a new variant does not compile here until it gets
    /// the next number, [`VARIANTS`] grows and [`one_of_each`] holds one.
    fn variant(event: &SubscriptionEvent) -> usize {
        match event {
            SubscriptionEvent::TrialStarted { .. } => 0,
            SubscriptionEvent::PlanChanged { .. } => 1,
            SubscriptionEvent::SeatsChanged { .. } => 2,
            SubscriptionEvent::PaymentSucceeded { .. } => 3,
            SubscriptionEvent::PaymentFailed { .. } => 4,
            SubscriptionEvent::TrialExpired { .. } => 5,
            SubscriptionEvent::PeriodEnded { .. } => 6,
            SubscriptionEvent::CancellationScheduled { .. } => 7,
            SubscriptionEvent::Resumed { .. } => 8,
            SubscriptionEvent::Canceled { .. } => 9,
        }
    }

    /// Decodes `bytes` as the message `full_name` and encodes it again (prost drops fields the
    /// message does not know, so bytes of another message do not survive the round trip).
    fn reencode(full_name: &str, bytes: &[u8]) -> Vec<u8> {
        macro_rules! as_message {
            ($($name:ident),* $(,)?) => {
                match full_name {
                    $(concat!("saas.billing.v1.", stringify!($name)) => {
                        pb::$name::decode(bytes).unwrap().encode_to_vec()
                    })*
                    other => panic!("{other} is not a Billing event message"),
                }
            };
        }
        as_message!(
            SubscriptionTrialStarted,
            SubscriptionPlanChanged,
            SubscriptionSeatsChanged,
            SubscriptionPaymentSucceeded,
            SubscriptionPaymentFailed,
            SubscriptionTrialExpired,
            SubscriptionPeriodEnded,
            SubscriptionCancellationScheduled,
            SubscriptionResumed,
            SubscriptionCanceled,
        )
    }

    #[test]
    fn every_subscription_event_is_published_as_its_own_message_for_its_workspace() {
        let subscription = subscription();
        let events = one_of_each(&subscription);
        let covered: BTreeSet<usize> = events.iter().map(variant).collect();
        assert_eq!(covered, (0..VARIANTS).collect(), "one sample per variant");

        let mut names = BTreeSet::new();
        for event in &events {
            let published = integration_event(&subscription, event);
            let name = platform::published::check(event.event_type(), &published)
                .unwrap_or_else(|problem| panic!("{event:?}: {problem}"));
            assert_eq!(
                reencode(name, &published.payload.value),
                published.payload.value,
                "the payload of {event:?} is exactly a {name}"
            );
            assert_eq!(
                published.workspace_id,
                Some(subscription.workspace_id().as_uuid()),
                "{event:?} concerns the workspace it pays for"
            );
            names.insert(name.to_owned());
        }
        assert_eq!(
            names.len(),
            VARIANTS,
            "every variant has a message of its own"
        );
    }

    #[test]
    fn the_messages_carry_what_consumers_need() {
        let subscription = subscription();
        let events = one_of_each(&subscription);
        let payload = |i: usize| integration_event(&subscription, &events[i]).payload.value;
        let workspace_id = subscription.workspace_id().to_string();
        let subscription_id = subscription.id().to_string();

        let trial = pb::SubscriptionTrialStarted::decode(payload(0).as_slice()).unwrap();
        assert_eq!(trial.plan(), pb::Plan::Team);
        assert_eq!(trial.seats, 5);
        assert_eq!(trial.trial_end_time, Some(timestamp(at(1_801_209_600))));

        let plan = pb::SubscriptionPlanChanged::decode(payload(1).as_slice()).unwrap();
        assert_eq!(plan.previous_plan(), pb::Plan::Team);
        assert_eq!(plan.plan(), pb::Plan::Business);

        let seats = pb::SubscriptionSeatsChanged::decode(payload(2).as_slice()).unwrap();
        assert_eq!(seats.subscription_id, subscription_id);
        assert_eq!(seats.workspace_id, workspace_id);
        assert_eq!((seats.previous_seats, seats.seats), (5, 12));
        assert_eq!(seats.monthly_amount_minor, 18_000);
        assert_eq!(seats.currency_code, "USD");

        let failed = pb::SubscriptionPaymentFailed::decode(payload(4).as_slice()).unwrap();
        assert_eq!(failed.workspace_id, workspace_id);
        let expired = pb::SubscriptionTrialExpired::decode(payload(5).as_slice()).unwrap();
        assert_eq!(expired.workspace_id, workspace_id);
        let ended = pb::SubscriptionPeriodEnded::decode(payload(6).as_slice()).unwrap();
        assert_eq!(ended.workspace_id, workspace_id);

        let scheduled =
            pb::SubscriptionCancellationScheduled::decode(payload(7).as_slice()).unwrap();
        assert_eq!(scheduled.cancel_time, Some(timestamp(at(1_802_592_000))));

        let canceled = pb::SubscriptionCanceled::decode(payload(9).as_slice()).unwrap();
        assert!(canceled.at_period_end);
    }
}
