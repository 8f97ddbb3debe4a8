//! Domain to wire: how a stored `Subscription` looks on `saas.billing.v1`.

use billing_domain::{Plan, StatusKind, Subscription, SubscriptionStatus};
use kernel_domain::Timestamp;
use platform::{rpc::timestamp, store::Stored};
use saas_proto::billing::v1 as pb;

pub(crate) fn subscription(stored: &Stored<Subscription>, _now: Timestamp) -> pb::Subscription {
    let subscription = &stored.aggregate;
    let status = subscription.status();
    pb::Subscription {
        id: subscription.id().to_string(),
        workspace_id: subscription.workspace_id().to_string(),
        plan: plan(subscription.plan()) as i32,
        seats: i32::try_from(subscription.seats().get()).unwrap_or(i32::MAX),
        status: status_kind(subscription.status_kind()) as i32,
        trial_end_time: status.trial_ends_at().map(timestamp),
        period_end_time: status.period_ends_at().map(timestamp),
        cancel_at_period_end: subscription.cancel_at_period_end(),
        cancel_time: match status {
            SubscriptionStatus::Canceled { canceled_at } => Some(timestamp(*canceled_at)),
            _ => None,
        },
        monthly_amount_minor: i64::try_from(subscription.monthly_amount().cents())
            .unwrap_or(i64::MAX),
        currency_code: "USD".to_owned(),
        etag: stored.version.to_etag(),
        create_time: Some(timestamp(subscription.created_at())),
        update_time: Some(timestamp(subscription.updated_at())),
    }
}

pub(crate) fn plan(plan: Plan) -> pb::Plan {
    match plan {
        Plan::Free => pb::Plan::Free,
        Plan::Team => pb::Plan::Team,
        Plan::Business => pb::Plan::Business,
    }
}

fn status_kind(kind: StatusKind) -> pb::SubscriptionStatus {
    match kind {
        StatusKind::Trialing => pb::SubscriptionStatus::Trialing,
        StatusKind::Active => pb::SubscriptionStatus::Active,
        StatusKind::PastDue => pb::SubscriptionStatus::PastDue,
        StatusKind::Canceled => pb::SubscriptionStatus::Canceled,
    }
}

/// The plan a wire value names; `None` for unspecified or unknown values.
pub(crate) fn parse_plan(value: i32) -> Option<Plan> {
    match pb::Plan::try_from(value).ok()? {
        pb::Plan::Unspecified => None,
        pb::Plan::Free => Some(Plan::Free),
        pb::Plan::Team => Some(Plan::Team),
        pb::Plan::Business => Some(Plan::Business),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_plan_round_trips_and_unknown_values_are_none() {
        for p in Plan::ALL {
            assert_eq!(parse_plan(plan(p) as i32), Some(p));
        }
        assert_eq!(parse_plan(0), None);
        assert_eq!(parse_plan(99), None);
        assert_eq!(parse_plan(-1), None);
    }
}
