//! Tests of the Billing rules, named after the rule they check.

mod properties;
mod rules;
mod values;

use chrono::{DateTime, Duration};
use kernel_domain::{Timestamp, Uuid};

use crate::{Seats, Subscription, SubscriptionId, WorkspaceId};

/// 2023-11-14T22:13:20Z.
pub(crate) fn t0() -> Timestamp {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

/// A time written out, for calendar rules.
pub(crate) fn at(rfc3339: &str) -> Timestamp {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

pub(crate) fn days(n: i64) -> Duration {
    Duration::days(n)
}

pub(crate) fn sid(n: u128) -> SubscriptionId {
    SubscriptionId::from_uuid(Uuid::from_u128(n))
}

pub(crate) fn wid(n: u128) -> WorkspaceId {
    WorkspaceId::from_uuid(Uuid::from_u128(n))
}

pub(crate) fn seats(n: u32) -> Seats {
    Seats::parse(n).unwrap()
}

/// The sign-up trial of workspace 2, started at [`t0`].
pub(crate) fn trialing() -> Subscription {
    Subscription::start_trial(sid(1), wid(2), t0()).0
}

/// [`trialing`], paid one day into the trial: active until a month after that.
pub(crate) fn active() -> Subscription {
    let mut subscription = trialing();
    subscription
        .record_payment_succeeded(t0() + days(1))
        .unwrap();
    subscription
}

/// [`active`], whose next payment failed two days into the period.
pub(crate) fn past_due() -> Subscription {
    let mut subscription = active();
    subscription.record_payment_failed(t0() + days(3)).unwrap();
    subscription
}

/// [`trialing`], canceled at once two days in.
pub(crate) fn canceled() -> Subscription {
    let mut subscription = trialing();
    subscription.cancel(false, t0() + days(2)).unwrap();
    subscription
}
