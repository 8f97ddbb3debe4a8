//! The Billing bounded context: what a workspace pays for, and whether it is paid up.
//!
//! # The subscription
//!
//! A [`Subscription`] is the aggregate at the centre of Billing. There is one per workspace
//! (the store enforces uniqueness; the subscription carries its [`WorkspaceId`]). It has:
//!
//! - a **plan** from the catalogue ([`Plan`]):
//!
//!   | plan     | most seats | price per seat and month |
//!   |----------|-----------:|-------------------------:|
//!   | Free     |          3 |                    $0.00 |
//!   | Team     |         50 |                    $8.00 |
//!   | Business |       1 000 |                   $15.00 |
//!
//! - a number of **seats** ([`Seats`]): at least 1, at most the plan's maximum, and never
//!   fewer than the seats in use (which the workspace knows and the caller passes in);
//! - a **status** ([`SubscriptionStatus`]), and whether it is set to **cancel at the period
//!   end**.
//!
//! Money is [`Money`]: whole US cents in a `u64`, with checked arithmetic, never floats. The
//! **monthly amount** is seats × the plan's price per seat
//! ([`Subscription::monthly_amount`]); with seats and prices below 2³², it cannot overflow.
//!
//! # Signing up
//!
//! Every workspace starts with a trial: [`Subscription::start_trial`] makes a **Team**
//! subscription with **5 seats**, trialing for **14 days** (14 × 24 hours,
//! [`TRIAL_LENGTH`]). [`Subscription::start_trial_with`] starts one on another plan or seat
//! count, within the same rules.
//!
//! # The status machine
//!
//! ```text
//! Trialing ── payment succeeded ──────────────────────────► Active
//! Trialing ── trial ended unpaid ─────────────────────────► PastDue
//! Active   ── payment failed, or period ended unpaid ─────► PastDue
//! PastDue  ── payment succeeded ──────────────────────────► Active
//! Trialing, Active, PastDue ── cancel (now or at the end) ► Canceled   (final)
//! ```
//!
//! [`is_legal_transition`] states the machine as a function; every status change the
//! aggregate makes satisfies it (the property tests check this after every command).
//!
//! - **Paying** ([`Subscription::record_payment_succeeded`]) makes a trialing, active or past
//!   due subscription active for one more **billing period** of one calendar month: the new
//!   period ends one month after the current period end, or after `now` when there is none
//!   (trialing, or past due after the period ran out) or it is already past. "One month" is
//!   chrono's `checked_add_months`: the same day of the next month, clamped to its last day
//!   (31 January + 1 month = 28 or 29 February). Paying while trialing ends the trial early.
//! - **A failed payment** ([`Subscription::record_payment_failed`]) makes an active
//!   subscription past due; the period already paid for keeps running (its end is kept). A
//!   further failure while past due is recorded and changes nothing else. Nothing is charged
//!   during a trial, so a failed payment then is refused (`ILLEGAL_TRANSITION`).
//! - **The trial ending** ([`Subscription::expire_trial`], once the trial end is reached,
//!   else `TRIAL_NOT_ENDED`) makes an unpaid trial past due, or canceled if it was set to
//!   cancel at the period end (the trial counts as the period).
//! - **The period ending** ([`Subscription::end_period`], once the period end is reached,
//!   else `PERIOD_NOT_ENDED`; without a period `NO_CURRENT_PERIOD`): if the subscription is
//!   set to cancel at the period end, it is canceled. Otherwise the renewal payment for the
//!   next period has not arrived (a payment would have moved the period end on), so an
//!   active subscription becomes **past due** awaiting it; a past due one just loses its
//!   (now ended) period. A renewal paid before this runs extends the period instead.
//! - **Canceling** ([`Subscription::cancel`]) works from any status but Canceled: at once,
//!   or at the end of the current period (or trial). Scheduling needs a period end to cancel
//!   at (`NO_CURRENT_PERIOD` for a past due subscription whose period is over) and is refused
//!   twice (`CANCEL_ALREADY_SCHEDULED`). [`Subscription::resume`] withdraws a scheduled
//!   cancellation (`CANCEL_NOT_SCHEDULED` if there is none). Payments do not withdraw it.
//! - **Canceled is final**: every later command is refused with `SUBSCRIPTION_CANCELED`.
//!
//! Commands that do not apply in the current status are refused with a specific reason or
//! `ILLEGAL_TRANSITION`, never silently ignored, and a refused command leaves the
//! subscription untouched.
//!
//! # Plans and seats
//!
//! [`Subscription::change_plan`] and [`Subscription::change_seats`] work in every status but
//! Canceled (`SUBSCRIPTION_CANCELED`). A plan whose maximum is below the current seats is
//! refused with `SEATS_EXCEED_PLAN`, one whose maximum is below the seats in use with
//! `SEATS_BELOW_IN_USE`; more seats than the plan allows are `SEATS_EXCEED_PLAN`, fewer than
//! in use `SEATS_BELOW_IN_USE`. Changing to the same plan or seat count is refused
//! (`PLAN_UNCHANGED`, `SEATS_UNCHANGED`), so every accepted command is a real change. The
//! status machine is the same on every plan; on Free the payments are simply $0.00.
//!
//! # The sweeper
//!
//! Time-driven commands are run by the store's sweeper: [`Subscription::next_due`] says when
//! the next one is due (the trial end while trialing; the period end while active or past
//! due with a period; never once canceled), and [`Subscription::due_command`] which one is
//! due at `now` ([`DueWork::ExpireTrial`] or [`DueWork::EndPeriod`]). A due command is always
//! accepted.
//!
//! **Architecture invariant:** nothing here performs I/O, reads a clock, draws random
//! numbers, spawns, awaits or uses floating point. Ids and `now` are handed in.

mod error;
mod events;
mod status;
mod subscription;
mod values;

#[cfg(test)]
mod tests;

use chrono::{Duration, Months};

pub use error::BillingError;
pub use events::SubscriptionEvent;
pub use status::{DueWork, StatusKind, SubscriptionStatus, is_legal_transition};
pub use subscription::Subscription;
pub use values::{Money, Plan, Seats};

kernel_domain::entity_id!(
    /// The id of a [`Subscription`].
    SubscriptionId
);
kernel_domain::entity_id!(
    /// The id of the workspace a [`Subscription`] pays for (owned by the Workspace context).
    WorkspaceId
);

/// How long a trial lasts: 14 days of 24 hours.
pub const TRIAL_LENGTH: Duration = Duration::days(14);
/// How long one paid period lasts: one calendar month.
pub const BILLING_PERIOD: Months = Months::new(1);
/// The plan a sign-up trial starts on.
pub const SIGNUP_PLAN: Plan = Plan::Team;
/// The seats a sign-up trial starts with.
pub const SIGNUP_SEATS: Seats = Seats::constant(5);
