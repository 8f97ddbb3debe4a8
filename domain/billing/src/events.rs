//! What happens to a subscription, in the past tense.

use serde::{Deserialize, Serialize};

use kernel_domain::{DomainEvent, Timestamp};

use crate::{Money, Plan, Seats, SubscriptionId, WorkspaceId};

/// Something that happened to a [`crate::Subscription`].
///
/// Every event names the subscription, its workspace and when it happened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum SubscriptionEvent {
    /// A workspace started its trial.
    TrialStarted {
        /// Which subscription.
        subscription_id: SubscriptionId,
        /// The workspace it pays for.
        workspace_id: WorkspaceId,
        /// The plan it trials.
        plan: Plan,
        /// Its seats.
        seats: Seats,
        /// When the trial ends.
        trial_ends_at: Timestamp,
        /// When.
        occurred_at: Timestamp,
    },
    /// The plan changed.
    PlanChanged {
        /// Which subscription.
        subscription_id: SubscriptionId,
        /// The workspace it pays for.
        workspace_id: WorkspaceId,
        /// The plan before.
        previous_plan: Plan,
        /// The new plan.
        plan: Plan,
        /// What it costs per month now.
        monthly_amount: Money,
        /// When.
        occurred_at: Timestamp,
    },
    /// The number of seats changed.
    SeatsChanged {
        /// Which subscription.
        subscription_id: SubscriptionId,
        /// The workspace it pays for.
        workspace_id: WorkspaceId,
        /// The seats before.
        previous_seats: Seats,
        /// The new number of seats.
        seats: Seats,
        /// What it costs per month now.
        monthly_amount: Money,
        /// When.
        occurred_at: Timestamp,
    },
    /// A payment arrived: the subscription is active for another period.
    PaymentSucceeded {
        /// Which subscription.
        subscription_id: SubscriptionId,
        /// The workspace it pays for.
        workspace_id: WorkspaceId,
        /// What it costs per month.
        monthly_amount: Money,
        /// When the paid period now ends.
        period_ends_at: Timestamp,
        /// When.
        occurred_at: Timestamp,
    },
    /// A payment failed: the subscription is past due.
    PaymentFailed {
        /// Which subscription.
        subscription_id: SubscriptionId,
        /// The workspace it pays for.
        workspace_id: WorkspaceId,
        /// What it costs per month.
        monthly_amount: Money,
        /// When.
        occurred_at: Timestamp,
    },
    /// The trial ended unpaid: the subscription is past due.
    TrialExpired {
        /// Which subscription.
        subscription_id: SubscriptionId,
        /// The workspace it pays for.
        workspace_id: WorkspaceId,
        /// When.
        occurred_at: Timestamp,
    },
    /// The paid period ended without a renewal payment: the subscription is past due.
    PeriodEnded {
        /// Which subscription.
        subscription_id: SubscriptionId,
        /// The workspace it pays for.
        workspace_id: WorkspaceId,
        /// When.
        occurred_at: Timestamp,
    },
    /// The subscription was set to cancel when its period (or trial) ends.
    CancellationScheduled {
        /// Which subscription.
        subscription_id: SubscriptionId,
        /// The workspace it pays for.
        workspace_id: WorkspaceId,
        /// When it will cancel, unless resumed first.
        cancels_at: Timestamp,
        /// When.
        occurred_at: Timestamp,
    },
    /// A scheduled cancellation was withdrawn.
    Resumed {
        /// Which subscription.
        subscription_id: SubscriptionId,
        /// The workspace it pays for.
        workspace_id: WorkspaceId,
        /// When.
        occurred_at: Timestamp,
    },
    /// The subscription was canceled for good.
    Canceled {
        /// Which subscription.
        subscription_id: SubscriptionId,
        /// The workspace it pays for.
        workspace_id: WorkspaceId,
        /// Whether a scheduled cancellation took effect at the period end (else canceled at once).
        at_period_end: bool,
        /// When.
        occurred_at: Timestamp,
    },
}

impl SubscriptionEvent {
    /// The subscription it happened to.
    pub fn subscription_id(&self) -> SubscriptionId {
        match self {
            SubscriptionEvent::TrialStarted {
                subscription_id, ..
            }
            | SubscriptionEvent::PlanChanged {
                subscription_id, ..
            }
            | SubscriptionEvent::SeatsChanged {
                subscription_id, ..
            }
            | SubscriptionEvent::PaymentSucceeded {
                subscription_id, ..
            }
            | SubscriptionEvent::PaymentFailed {
                subscription_id, ..
            }
            | SubscriptionEvent::TrialExpired {
                subscription_id, ..
            }
            | SubscriptionEvent::PeriodEnded {
                subscription_id, ..
            }
            | SubscriptionEvent::CancellationScheduled {
                subscription_id, ..
            }
            | SubscriptionEvent::Resumed {
                subscription_id, ..
            }
            | SubscriptionEvent::Canceled {
                subscription_id, ..
            } => *subscription_id,
        }
    }

    /// The workspace that subscription pays for.
    pub fn workspace_id(&self) -> WorkspaceId {
        match self {
            SubscriptionEvent::TrialStarted { workspace_id, .. }
            | SubscriptionEvent::PlanChanged { workspace_id, .. }
            | SubscriptionEvent::SeatsChanged { workspace_id, .. }
            | SubscriptionEvent::PaymentSucceeded { workspace_id, .. }
            | SubscriptionEvent::PaymentFailed { workspace_id, .. }
            | SubscriptionEvent::TrialExpired { workspace_id, .. }
            | SubscriptionEvent::PeriodEnded { workspace_id, .. }
            | SubscriptionEvent::CancellationScheduled { workspace_id, .. }
            | SubscriptionEvent::Resumed { workspace_id, .. }
            | SubscriptionEvent::Canceled { workspace_id, .. } => *workspace_id,
        }
    }

    /// When it happened.
    pub fn occurred_at(&self) -> Timestamp {
        match self {
            SubscriptionEvent::TrialStarted { occurred_at, .. }
            | SubscriptionEvent::PlanChanged { occurred_at, .. }
            | SubscriptionEvent::SeatsChanged { occurred_at, .. }
            | SubscriptionEvent::PaymentSucceeded { occurred_at, .. }
            | SubscriptionEvent::PaymentFailed { occurred_at, .. }
            | SubscriptionEvent::TrialExpired { occurred_at, .. }
            | SubscriptionEvent::PeriodEnded { occurred_at, .. }
            | SubscriptionEvent::CancellationScheduled { occurred_at, .. }
            | SubscriptionEvent::Resumed { occurred_at, .. }
            | SubscriptionEvent::Canceled { occurred_at, .. } => *occurred_at,
        }
    }
}

impl DomainEvent for SubscriptionEvent {
    fn event_type(&self) -> &'static str {
        match self {
            SubscriptionEvent::TrialStarted { .. } => "billing.subscription.trial_started",
            SubscriptionEvent::PlanChanged { .. } => "billing.subscription.plan_changed",
            SubscriptionEvent::SeatsChanged { .. } => "billing.subscription.seats_changed",
            SubscriptionEvent::PaymentSucceeded { .. } => "billing.subscription.payment_succeeded",
            SubscriptionEvent::PaymentFailed { .. } => "billing.subscription.payment_failed",
            SubscriptionEvent::TrialExpired { .. } => "billing.subscription.trial_expired",
            SubscriptionEvent::PeriodEnded { .. } => "billing.subscription.period_ended",
            SubscriptionEvent::CancellationScheduled { .. } => {
                "billing.subscription.cancellation_scheduled"
            }
            SubscriptionEvent::Resumed { .. } => "billing.subscription.resumed",
            SubscriptionEvent::Canceled { .. } => "billing.subscription.canceled",
        }
    }
}
