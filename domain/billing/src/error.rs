//! Why a command on a [`crate::Subscription`] was refused, and how that reads at the edge.

use kernel_domain::{Rejection, RejectionKind, Timestamp};

use crate::{Plan, StatusKind};

/// Why the Billing domain refused a value or a command.
///
/// Every variant converts into a [`Rejection`] with a stable UPPER_SNAKE reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BillingError {
    /// A seat count of 0 (`INVALID_SEATS`).
    #[error("the number of seats must be at least 1")]
    InvalidSeats,
    /// Not a plan of the catalogue (`INVALID_PLAN`).
    #[error("the plan must be one of free, team or business")]
    InvalidPlan,
    /// More seats than the plan allows, or a plan that allows fewer seats than the
    /// subscription has (`SEATS_EXCEED_PLAN`).
    #[error("{seats} seats are more than the {max} the {plan} plan allows")]
    SeatsExceedPlan {
        /// The seats asked for, or the current seats when changing plan.
        seats: u32,
        /// The plan.
        plan: Plan,
        /// The most seats it allows.
        max: u32,
    },
    /// Fewer seats than are in use, or a plan that allows fewer seats than are in use
    /// (`SEATS_BELOW_IN_USE`).
    #[error("{in_use} seats are in use, more than {seats}")]
    SeatsBelowInUse {
        /// The seats asked for, or the plan's maximum when changing plan.
        seats: u32,
        /// The seats in use, as the caller counted them.
        in_use: u32,
    },
    /// Changing to the plan the subscription already has (`PLAN_UNCHANGED`).
    #[error("the subscription is already on the {0} plan")]
    PlanUnchanged(Plan),
    /// Changing to the seat count the subscription already has (`SEATS_UNCHANGED`).
    #[error("the subscription already has {0} seats")]
    SeatsUnchanged(u32),
    /// The subscription was canceled; nothing can be done with it any more
    /// (`SUBSCRIPTION_CANCELED`).
    #[error("the subscription was canceled")]
    Canceled,
    /// The command does not apply in the current status (`ILLEGAL_TRANSITION`).
    #[error("cannot {action} while the subscription is {}", .from.in_words())]
    IllegalTransition {
        /// What was asked, in words (`expire the trial`).
        action: &'static str,
        /// The status it was asked in.
        from: StatusKind,
    },
    /// Expiring a trial before it ended (`TRIAL_NOT_ENDED`).
    #[error("the trial runs until {trial_ends_at}")]
    TrialNotEnded {
        /// When it ends.
        trial_ends_at: Timestamp,
    },
    /// Ending a period before its end (`PERIOD_NOT_ENDED`).
    #[error("the period runs until {period_ends_at}")]
    PeriodNotEnded {
        /// When it ends.
        period_ends_at: Timestamp,
    },
    /// Ending a period, or canceling at its end, when there is no paid period running: a
    /// trial (which ends by [`crate::Subscription::expire_trial`]) or a past due
    /// subscription whose period already ended (`NO_CURRENT_PERIOD`).
    #[error("the subscription has no current period")]
    NoCurrentPeriod,
    /// Scheduling a cancellation that is already scheduled (`CANCEL_ALREADY_SCHEDULED`).
    #[error("the subscription is already set to cancel at the period end")]
    CancelAlreadyScheduled,
    /// Resuming a subscription that is not set to cancel (`CANCEL_NOT_SCHEDULED`).
    #[error("the subscription is not set to cancel at the period end")]
    CancelNotScheduled,
}

impl BillingError {
    /// The stable machine-readable reason.
    pub const fn reason(&self) -> &'static str {
        match self {
            BillingError::InvalidSeats => "INVALID_SEATS",
            BillingError::InvalidPlan => "INVALID_PLAN",
            BillingError::SeatsExceedPlan { .. } => "SEATS_EXCEED_PLAN",
            BillingError::SeatsBelowInUse { .. } => "SEATS_BELOW_IN_USE",
            BillingError::PlanUnchanged(_) => "PLAN_UNCHANGED",
            BillingError::SeatsUnchanged(_) => "SEATS_UNCHANGED",
            BillingError::Canceled => "SUBSCRIPTION_CANCELED",
            BillingError::IllegalTransition { .. } => "ILLEGAL_TRANSITION",
            BillingError::TrialNotEnded { .. } => "TRIAL_NOT_ENDED",
            BillingError::PeriodNotEnded { .. } => "PERIOD_NOT_ENDED",
            BillingError::NoCurrentPeriod => "NO_CURRENT_PERIOD",
            BillingError::CancelAlreadyScheduled => "CANCEL_ALREADY_SCHEDULED",
            BillingError::CancelNotScheduled => "CANCEL_NOT_SCHEDULED",
        }
    }

    /// The kind of refusal.
    pub const fn kind(&self) -> RejectionKind {
        match self {
            BillingError::InvalidSeats | BillingError::InvalidPlan => {
                RejectionKind::InvalidArgument
            }
            BillingError::SeatsExceedPlan { .. }
            | BillingError::SeatsBelowInUse { .. }
            | BillingError::PlanUnchanged(_)
            | BillingError::SeatsUnchanged(_)
            | BillingError::Canceled
            | BillingError::IllegalTransition { .. }
            | BillingError::TrialNotEnded { .. }
            | BillingError::PeriodNotEnded { .. }
            | BillingError::NoCurrentPeriod
            | BillingError::CancelAlreadyScheduled
            | BillingError::CancelNotScheduled => RejectionKind::FailedPrecondition,
        }
    }

    /// The request field a bad value came from, for input errors.
    const fn field(&self) -> Option<&'static str> {
        match self {
            BillingError::InvalidSeats => Some("seats"),
            BillingError::InvalidPlan => Some("plan"),
            _ => None,
        }
    }
}

impl From<BillingError> for Rejection {
    fn from(error: BillingError) -> Self {
        match error.field() {
            Some(field) => Rejection::invalid_field(error.reason(), field, error.to_string()),
            None => Rejection::new(error.kind(), error.reason(), error.to_string()),
        }
    }
}
