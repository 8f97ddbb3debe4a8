//! Where a subscription stands, and which status changes the machine allows.

use serde::{Deserialize, Serialize};

use kernel_domain::Timestamp;

/// Where a subscription stands, with the times that matter in that status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum SubscriptionStatus {
    /// Trying the product for free until the trial ends.
    Trialing {
        /// When the trial ends; from then on it can be expired.
        trial_ends_at: Timestamp,
    },
    /// Paid up until the period end.
    Active {
        /// When the paid period ends; from then on it can be ended.
        period_ends_at: Timestamp,
    },
    /// A payment is owed: a payment failed, or a trial or period ended unpaid.
    PastDue {
        /// When it became past due.
        since: Timestamp,
        /// When the period paid for before ends, while it has not been ended yet; `None`
        /// once it ended, or if there never was one (an unpaid trial).
        period_ends_at: Option<Timestamp>,
    },
    /// Canceled for good.
    Canceled {
        /// When.
        canceled_at: Timestamp,
    },
}

impl SubscriptionStatus {
    /// Which status this is, without its times.
    pub const fn kind(&self) -> StatusKind {
        match self {
            SubscriptionStatus::Trialing { .. } => StatusKind::Trialing,
            SubscriptionStatus::Active { .. } => StatusKind::Active,
            SubscriptionStatus::PastDue { .. } => StatusKind::PastDue,
            SubscriptionStatus::Canceled { .. } => StatusKind::Canceled,
        }
    }

    /// When the trial ends, while trialing.
    pub const fn trial_ends_at(&self) -> Option<Timestamp> {
        match self {
            SubscriptionStatus::Trialing { trial_ends_at } => Some(*trial_ends_at),
            _ => None,
        }
    }

    /// When the current paid period ends, while active or past due with a period.
    pub const fn period_ends_at(&self) -> Option<Timestamp> {
        match self {
            SubscriptionStatus::Active { period_ends_at } => Some(*period_ends_at),
            SubscriptionStatus::PastDue { period_ends_at, .. } => *period_ends_at,
            _ => None,
        }
    }
}

/// The statuses of a subscription, without their data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusKind {
    /// See [`SubscriptionStatus::Trialing`].
    Trialing,
    /// See [`SubscriptionStatus::Active`].
    Active,
    /// See [`SubscriptionStatus::PastDue`].
    PastDue,
    /// See [`SubscriptionStatus::Canceled`].
    Canceled,
}

impl StatusKind {
    /// Every status, for exhaustive tests.
    pub const ALL: [StatusKind; 4] = [
        StatusKind::Trialing,
        StatusKind::Active,
        StatusKind::PastDue,
        StatusKind::Canceled,
    ];

    /// The status's name: `trialing`, `active`, `past_due` or `canceled`.
    pub const fn as_str(self) -> &'static str {
        match self {
            StatusKind::Trialing => "trialing",
            StatusKind::Active => "active",
            StatusKind::PastDue => "past_due",
            StatusKind::Canceled => "canceled",
        }
    }
}

impl StatusKind {
    /// The status in words, for messages: `past due` rather than `past_due`.
    pub(crate) const fn in_words(self) -> &'static str {
        match self {
            StatusKind::PastDue => "past due",
            other => other.as_str(),
        }
    }
}

impl std::fmt::Display for StatusKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whether an accepted command may take a subscription from `from` to `to`: the status
/// machine as a function.
///
/// - Trialing → Active (paid), PastDue (trial ended unpaid) or Canceled.
/// - Active → PastDue (payment failed, or the period ended unpaid) or Canceled.
/// - PastDue → Active (paid) or Canceled.
/// - Staying put is allowed in every status but Canceled (plan and seat changes, renewals,
///   scheduling a cancellation, repeated failed payments).
/// - Nothing leads back into Trialing, and nothing at all happens to a Canceled
///   subscription, not even staying Canceled: every command on it is refused.
pub const fn is_legal_transition(from: StatusKind, to: StatusKind) -> bool {
    use StatusKind::*;
    match (from, to) {
        (Canceled, _) => false,
        (Trialing, Trialing | Active | PastDue | Canceled) => true,
        (Active | PastDue, Active | PastDue | Canceled) => true,
        (Active | PastDue, Trialing) => false,
    }
}

/// A time-driven command the store's sweeper should run, from
/// [`crate::Subscription::due_command`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DueWork {
    /// Run [`crate::Subscription::expire_trial`]: the trial has ended.
    ExpireTrial,
    /// Run [`crate::Subscription::end_period`]: the paid period has ended.
    EndPeriod,
}
