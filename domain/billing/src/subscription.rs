//! The [`Subscription`] aggregate.

use chrono::DateTime;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use kernel_domain::{AggregateRoot, Timestamp};

use crate::{
    BILLING_PERIOD, BillingError, DueWork, Money, Plan, SIGNUP_PLAN, SIGNUP_SEATS, Seats,
    StatusKind, SubscriptionEvent, SubscriptionId, SubscriptionStatus, TRIAL_LENGTH, WorkspaceId,
};

/// What a workspace pays for: the aggregate root of the Billing context.
///
/// See the crate documentation for the rules. Every command checks the rules against `now`,
/// changes the subscription, sets `updated_at = now`, and returns the events it caused (at
/// least one). A refused command leaves the subscription untouched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subscription {
    id: SubscriptionId,
    workspace_id: WorkspaceId,
    plan: Plan,
    seats: Seats,
    status: SubscriptionStatus,
    cancel_at_period_end: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl AggregateRoot for Subscription {
    type Event = SubscriptionEvent;
    fn aggregate_id(&self) -> Uuid {
        self.id.as_uuid()
    }
}

/// `time` plus one billing period, or the end of representable time if that overflows.
fn one_period_after(time: Timestamp) -> Timestamp {
    time.checked_add_months(BILLING_PERIOD)
        .unwrap_or(DateTime::<chrono::Utc>::MAX_UTC)
}

impl Subscription {
    /// Starts the sign-up trial of a workspace: [`SIGNUP_PLAN`] (Team) with [`SIGNUP_SEATS`]
    /// (5), trialing for [`TRIAL_LENGTH`] (14 days) from `now`.
    ///
    /// The workspace must not have a subscription yet; the store checks that.
    pub fn start_trial(
        id: SubscriptionId,
        workspace_id: WorkspaceId,
        now: Timestamp,
    ) -> (Subscription, Vec<SubscriptionEvent>) {
        Self::new_trial(id, workspace_id, SIGNUP_PLAN, SIGNUP_SEATS, now)
    }

    /// Starts a trial on another plan or seat count: the seats must fit the plan
    /// (`SEATS_EXCEED_PLAN`).
    pub fn start_trial_with(
        id: SubscriptionId,
        workspace_id: WorkspaceId,
        plan: Plan,
        seats: Seats,
        now: Timestamp,
    ) -> Result<(Subscription, Vec<SubscriptionEvent>), BillingError> {
        ensure_fits(plan, seats)?;
        Ok(Self::new_trial(id, workspace_id, plan, seats, now))
    }

    fn new_trial(
        id: SubscriptionId,
        workspace_id: WorkspaceId,
        plan: Plan,
        seats: Seats,
        now: Timestamp,
    ) -> (Subscription, Vec<SubscriptionEvent>) {
        let trial_ends_at = now
            .checked_add_signed(TRIAL_LENGTH)
            .unwrap_or(DateTime::<chrono::Utc>::MAX_UTC);
        let subscription = Subscription {
            id,
            workspace_id,
            plan,
            seats,
            status: SubscriptionStatus::Trialing { trial_ends_at },
            cancel_at_period_end: false,
            created_at: now,
            updated_at: now,
        };
        let event = SubscriptionEvent::TrialStarted {
            subscription_id: id,
            workspace_id,
            plan,
            seats,
            trial_ends_at,
            occurred_at: now,
        };
        (subscription, vec![event])
    }

    // ----- reading -----

    /// The subscription's id.
    pub fn id(&self) -> SubscriptionId {
        self.id
    }

    /// The workspace it pays for.
    pub fn workspace_id(&self) -> WorkspaceId {
        self.workspace_id
    }

    /// The plan.
    pub fn plan(&self) -> Plan {
        self.plan
    }

    /// The seats paid for.
    pub fn seats(&self) -> Seats {
        self.seats
    }

    /// The status, with its times.
    pub fn status(&self) -> &SubscriptionStatus {
        &self.status
    }

    /// The status, without its times.
    pub fn status_kind(&self) -> StatusKind {
        self.status.kind()
    }

    /// Whether it is set to cancel when the current period (or trial) ends.
    pub fn cancel_at_period_end(&self) -> bool {
        self.cancel_at_period_end
    }

    /// When a scheduled cancellation takes effect, if one is scheduled.
    pub fn cancels_at(&self) -> Option<Timestamp> {
        self.next_due().filter(|_| self.cancel_at_period_end)
    }

    /// What it costs per month: seats × the plan's price per seat.
    pub fn monthly_amount(&self) -> Money {
        self.plan.monthly_amount(self.seats)
    }

    /// When the trial started.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When the last accepted command changed the subscription.
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    /// When the next time-driven command is due, for the store's sweeper: the trial end while
    /// trialing, the period end while active or past due with a period, `None` otherwise
    /// (always `None` once canceled).
    pub fn next_due(&self) -> Option<Timestamp> {
        match self.status {
            SubscriptionStatus::Trialing { trial_ends_at } => Some(trial_ends_at),
            SubscriptionStatus::Active { .. } | SubscriptionStatus::PastDue { .. } => {
                self.status.period_ends_at()
            }
            SubscriptionStatus::Canceled { .. } => None,
        }
    }

    /// Which time-driven command is due at `now`, if any: [`DueWork::ExpireTrial`] once the
    /// trial end is reached, [`DueWork::EndPeriod`] once the period end is reached. The
    /// command named is accepted if run at `now`.
    pub fn due_command(&self, now: Timestamp) -> Option<DueWork> {
        self.next_due().filter(|&at| at <= now)?;
        match self.status {
            SubscriptionStatus::Trialing { .. } => Some(DueWork::ExpireTrial),
            _ => Some(DueWork::EndPeriod),
        }
    }

    // ----- guards -----

    fn ensure_not_canceled(&self) -> Result<(), BillingError> {
        match self.status {
            SubscriptionStatus::Canceled { .. } => Err(BillingError::Canceled),
            _ => Ok(()),
        }
    }

    /// Cancels for good at `now`: the end of every road.
    fn cancel_now(&mut self, at_period_end: bool, now: Timestamp) -> Vec<SubscriptionEvent> {
        self.status = SubscriptionStatus::Canceled { canceled_at: now };
        self.cancel_at_period_end = false;
        self.updated_at = now;
        vec![SubscriptionEvent::Canceled {
            subscription_id: self.id,
            workspace_id: self.workspace_id,
            at_period_end,
            occurred_at: now,
        }]
    }

    // ----- plan and seats -----

    /// Moves to another plan. Refused once canceled (`SUBSCRIPTION_CANCELED`), for the
    /// current plan (`PLAN_UNCHANGED`), for a plan allowing fewer seats than the
    /// subscription has (`SEATS_EXCEED_PLAN`) or than are in use (`SEATS_BELOW_IN_USE`).
    /// The status does not change.
    pub fn change_plan(
        &mut self,
        plan: Plan,
        seats_in_use: u32,
        now: Timestamp,
    ) -> Result<Vec<SubscriptionEvent>, BillingError> {
        self.ensure_not_canceled()?;
        if plan == self.plan {
            return Err(BillingError::PlanUnchanged(plan));
        }
        ensure_fits(plan, self.seats)?;
        if seats_in_use > plan.max_seats() {
            return Err(BillingError::SeatsBelowInUse {
                seats: plan.max_seats(),
                in_use: seats_in_use,
            });
        }
        let previous_plan = self.plan;
        self.plan = plan;
        self.updated_at = now;
        Ok(vec![SubscriptionEvent::PlanChanged {
            subscription_id: self.id,
            workspace_id: self.workspace_id,
            previous_plan,
            plan,
            monthly_amount: self.monthly_amount(),
            occurred_at: now,
        }])
    }

    /// Changes the number of seats. Refused once canceled (`SUBSCRIPTION_CANCELED`), above
    /// the plan's maximum (`SEATS_EXCEED_PLAN`), below the seats in use
    /// (`SEATS_BELOW_IN_USE`), or for the current count (`SEATS_UNCHANGED`). The status does
    /// not change.
    pub fn change_seats(
        &mut self,
        seats: Seats,
        seats_in_use: u32,
        now: Timestamp,
    ) -> Result<Vec<SubscriptionEvent>, BillingError> {
        self.ensure_not_canceled()?;
        ensure_fits(self.plan, seats)?;
        if seats.get() < seats_in_use {
            return Err(BillingError::SeatsBelowInUse {
                seats: seats.get(),
                in_use: seats_in_use,
            });
        }
        if seats == self.seats {
            return Err(BillingError::SeatsUnchanged(seats.get()));
        }
        let previous_seats = self.seats;
        self.seats = seats;
        self.updated_at = now;
        Ok(vec![SubscriptionEvent::SeatsChanged {
            subscription_id: self.id,
            workspace_id: self.workspace_id,
            previous_seats,
            seats,
            monthly_amount: self.monthly_amount(),
            occurred_at: now,
        }])
    }

    // ----- payments -----

    /// Books a successful payment: the subscription is active for one more billing period,
    /// ending one month after the current period end, or after `now` if there is none or it
    /// has passed. From trialing (the trial ends early), active (a renewal) or past due.
    /// Refused once canceled. A scheduled cancellation stays scheduled.
    pub fn record_payment_succeeded(
        &mut self,
        now: Timestamp,
    ) -> Result<Vec<SubscriptionEvent>, BillingError> {
        self.ensure_not_canceled()?;
        let start = self
            .status
            .period_ends_at()
            .filter(|&end| end > now)
            .unwrap_or(now);
        let period_ends_at = one_period_after(start);
        self.status = SubscriptionStatus::Active { period_ends_at };
        self.updated_at = now;
        Ok(vec![SubscriptionEvent::PaymentSucceeded {
            subscription_id: self.id,
            workspace_id: self.workspace_id,
            monthly_amount: self.monthly_amount(),
            period_ends_at,
            occurred_at: now,
        }])
    }

    /// Books a failed payment: an active subscription becomes past due (the period already
    /// paid for keeps its end); a past due one stays past due. Refused while trialing
    /// (`ILLEGAL_TRANSITION`: nothing is charged during a trial) and once canceled.
    pub fn record_payment_failed(
        &mut self,
        now: Timestamp,
    ) -> Result<Vec<SubscriptionEvent>, BillingError> {
        match self.status {
            SubscriptionStatus::Canceled { .. } => return Err(BillingError::Canceled),
            SubscriptionStatus::Trialing { .. } => {
                return Err(BillingError::IllegalTransition {
                    action: "record a failed payment",
                    from: StatusKind::Trialing,
                });
            }
            SubscriptionStatus::Active { period_ends_at } => {
                self.status = SubscriptionStatus::PastDue {
                    since: now,
                    period_ends_at: Some(period_ends_at),
                };
            }
            SubscriptionStatus::PastDue { .. } => {}
        }
        self.updated_at = now;
        Ok(vec![SubscriptionEvent::PaymentFailed {
            subscription_id: self.id,
            workspace_id: self.workspace_id,
            monthly_amount: self.monthly_amount(),
            occurred_at: now,
        }])
    }

    // ----- cancellation -----

    /// Cancels, at once (`at_period_end == false`, from any status but Canceled) or when the
    /// current period or trial ends (`at_period_end == true`). Scheduling needs a period end
    /// to cancel at (`NO_CURRENT_PERIOD`) and is refused if already scheduled
    /// (`CANCEL_ALREADY_SCHEDULED`). Refused once canceled (`SUBSCRIPTION_CANCELED`).
    pub fn cancel(
        &mut self,
        at_period_end: bool,
        now: Timestamp,
    ) -> Result<Vec<SubscriptionEvent>, BillingError> {
        self.ensure_not_canceled()?;
        if !at_period_end {
            return Ok(self.cancel_now(false, now));
        }
        if self.cancel_at_period_end {
            return Err(BillingError::CancelAlreadyScheduled);
        }
        let cancels_at = self.next_due().ok_or(BillingError::NoCurrentPeriod)?;
        self.cancel_at_period_end = true;
        self.updated_at = now;
        Ok(vec![SubscriptionEvent::CancellationScheduled {
            subscription_id: self.id,
            workspace_id: self.workspace_id,
            cancels_at,
            occurred_at: now,
        }])
    }

    /// Withdraws a scheduled cancellation. Refused if none is scheduled
    /// (`CANCEL_NOT_SCHEDULED`) and once canceled (`SUBSCRIPTION_CANCELED`).
    pub fn resume(&mut self, now: Timestamp) -> Result<Vec<SubscriptionEvent>, BillingError> {
        self.ensure_not_canceled()?;
        if !self.cancel_at_period_end {
            return Err(BillingError::CancelNotScheduled);
        }
        self.cancel_at_period_end = false;
        self.updated_at = now;
        Ok(vec![SubscriptionEvent::Resumed {
            subscription_id: self.id,
            workspace_id: self.workspace_id,
            occurred_at: now,
        }])
    }

    // ----- time-driven (the sweeper) -----

    /// Ends a trial that reached its end unpaid: past due, or canceled if set to cancel at
    /// the period end. Refused before the trial end (`TRIAL_NOT_ENDED`), when not trialing
    /// (`ILLEGAL_TRANSITION`) and once canceled (`SUBSCRIPTION_CANCELED`).
    pub fn expire_trial(&mut self, now: Timestamp) -> Result<Vec<SubscriptionEvent>, BillingError> {
        let trial_ends_at = match self.status {
            SubscriptionStatus::Canceled { .. } => return Err(BillingError::Canceled),
            SubscriptionStatus::Trialing { trial_ends_at } => trial_ends_at,
            other => {
                return Err(BillingError::IllegalTransition {
                    action: "expire the trial",
                    from: other.kind(),
                });
            }
        };
        if now < trial_ends_at {
            return Err(BillingError::TrialNotEnded { trial_ends_at });
        }
        if self.cancel_at_period_end {
            return Ok(self.cancel_now(true, now));
        }
        self.status = SubscriptionStatus::PastDue {
            since: now,
            period_ends_at: None,
        };
        self.updated_at = now;
        Ok(vec![SubscriptionEvent::TrialExpired {
            subscription_id: self.id,
            workspace_id: self.workspace_id,
            occurred_at: now,
        }])
    }

    /// Ends a paid period that reached its end: canceled if set to cancel at the period end;
    /// otherwise no renewal payment arrived, so an active subscription becomes past due and
    /// a past due one loses its ended period. Refused before the period end
    /// (`PERIOD_NOT_ENDED`), without a period (`NO_CURRENT_PERIOD`: trialing, or past due
    /// after the period ended) and once canceled (`SUBSCRIPTION_CANCELED`).
    pub fn end_period(&mut self, now: Timestamp) -> Result<Vec<SubscriptionEvent>, BillingError> {
        self.ensure_not_canceled()?;
        let period_ends_at = self
            .status
            .period_ends_at()
            .ok_or(BillingError::NoCurrentPeriod)?;
        if now < period_ends_at {
            return Err(BillingError::PeriodNotEnded { period_ends_at });
        }
        if self.cancel_at_period_end {
            return Ok(self.cancel_now(true, now));
        }
        let since = match self.status {
            SubscriptionStatus::PastDue { since, .. } => since,
            _ => now,
        };
        self.status = SubscriptionStatus::PastDue {
            since,
            period_ends_at: None,
        };
        self.updated_at = now;
        Ok(vec![SubscriptionEvent::PeriodEnded {
            subscription_id: self.id,
            workspace_id: self.workspace_id,
            occurred_at: now,
        }])
    }
}

/// Whether `seats` fit `plan` (`SEATS_EXCEED_PLAN` if not).
fn ensure_fits(plan: Plan, seats: Seats) -> Result<(), BillingError> {
    let max = plan.max_seats();
    if seats.get() > max {
        return Err(BillingError::SeatsExceedPlan {
            seats: seats.get(),
            plan,
            max,
        });
    }
    Ok(())
}
