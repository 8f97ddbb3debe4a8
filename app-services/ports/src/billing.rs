//! Billing as the use cases see it: the [`Subscriptions`] port, a workspace's
//! [`Subscription`], and the typed errors of its methods.

use async_trait::async_trait;
use kernel_domain::{RejectionKind, Timestamp, Version};

use crate::types::{SubscriptionId, WorkspaceId, port_error, refused_for_good, surely_refused};
use crate::{AppError, Ctx};

/// The plan catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Plan {
    /// Up to 3 seats, free.
    Free,
    /// Up to 50 seats, $8.00 per seat per month.
    Team,
    /// Up to 1000 seats, $15.00 per seat per month.
    Business,
}

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SubscriptionStatus {
    Trialing,
    Active,
    PastDue,
    Canceled,
}

impl SubscriptionStatus {
    /// Whether a workspace with a subscription in this status may invite (Trialing or Active).
    pub fn allows_invitations(self) -> bool {
        matches!(
            self,
            SubscriptionStatus::Trialing | SubscriptionStatus::Active
        )
    }
}

/// A workspace's subscription, as Billing holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subscription {
    pub id: SubscriptionId,
    pub workspace_id: WorkspaceId,
    pub plan: Plan,
    pub seats: i32,
    pub status: SubscriptionStatus,
    /// Set while trialing.
    pub trial_end_time: Option<Timestamp>,
    /// Set while a paid period runs.
    pub period_end_time: Option<Timestamp>,
    pub cancel_at_period_end: bool,
    /// Set once canceled.
    pub cancel_time: Option<Timestamp>,
    /// Seats times the plan's price per seat, in minor units of `currency_code`.
    pub monthly_amount_minor: i64,
    /// Always `USD`.
    pub currency_code: String,
    /// How many commands the subscription has accepted (its etag).
    pub version: Version,
    pub create_time: Timestamp,
    pub update_time: Timestamp,
}

port_error!(
    /// Why reading a subscription gave none.
    SubscriptionReadError {
        /// No such subscription (by id), or the workspace has none (by workspace).
        NotFound,
    }
);

port_error!(
    /// Why a trial did not start.
    StartTrialError {
        /// The workspace has a subscription already (it may be this very trial, started by
        /// an earlier attempt under another request id).
        AlreadyStarted,
        /// Billing refused for good (a malformed workspace id, ...): asking again changes
        /// nothing. A conflict or a request id already used for another request is `Other`:
        /// the trial may have started.
        Refused,
    }
);

port_error!(
    /// Why a change of a subscription (plan, seats, cancel, resume) was not made.
    SubscriptionChangeError {
        /// Billing refused the change for good: an unknown subscription, one that is
        /// canceled, seats outside the plan's range or below those in use, nothing to
        /// resume, a request id reused for another request. Asking again changes nothing.
        Refused,
    }
);

/// How an adapter classifies a failed read by its kind.
impl From<AppError> for SubscriptionReadError {
    fn from(error: AppError) -> Self {
        if error.is(RejectionKind::NotFound) {
            SubscriptionReadError::NotFound(error)
        } else {
            SubscriptionReadError::Other(error)
        }
    }
}

/// How an adapter classifies a failed trial start by its kind. A conflict and a request id
/// already used for another request are not final refusals: the trial may have started.
impl From<AppError> for StartTrialError {
    fn from(error: AppError) -> Self {
        if error.is(RejectionKind::AlreadyExists) {
            StartTrialError::AlreadyStarted(error)
        } else if surely_refused(&error) {
            StartTrialError::Refused(error)
        } else {
            StartTrialError::Other(error)
        }
    }
}

/// How an adapter classifies a failed change by its kind.
impl From<AppError> for SubscriptionChangeError {
    fn from(error: AppError) -> Self {
        if refused_for_good(&error) {
            SubscriptionChangeError::Refused(error)
        } else {
            SubscriptionChangeError::Other(error)
        }
    }
}

/// The Billing data service (`saas.billing.v1.SubscriptionService`).
///
/// Commands take the use case's `step` name: the adapter sends [`Ctx::step`] of it as the
/// command's request id, so a retried use case replays the step instead of repeating it.
/// Billing decides on the subscription as it finds it (no etag is sent).
#[cfg_attr(any(test, feature = "testsuite"), mockall::automock)]
#[async_trait]
pub trait Subscriptions: Send + Sync + 'static {
    /// The subscription with this id.
    async fn get_subscription(
        &self,
        ctx: &Ctx,
        id: SubscriptionId,
    ) -> Result<Subscription, SubscriptionReadError>;
    /// The workspace's subscription.
    async fn lookup_subscription(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
    ) -> Result<Subscription, SubscriptionReadError>;
    /// Starts the sign-up trial of a workspace: Team, 5 seats, 14 days.
    async fn start_trial(
        &self,
        ctx: &Ctx,
        step: &str,
        workspace_id: WorkspaceId,
    ) -> Result<Subscription, StartTrialError>;
    /// Moves to `plan`; Billing checks that it holds `seats_in_use`.
    async fn change_plan(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
        plan: Plan,
        seats_in_use: i32,
    ) -> Result<Subscription, SubscriptionChangeError>;
    /// Changes the seats, never below `seats_in_use`.
    async fn change_seats(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
        seats: i32,
        seats_in_use: i32,
    ) -> Result<Subscription, SubscriptionChangeError>;
    /// Cancels now, or at the period end.
    async fn cancel_subscription(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
        at_period_end: bool,
    ) -> Result<Subscription, SubscriptionChangeError>;
    /// Undoes a cancel at period end.
    async fn resume_subscription(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
    ) -> Result<Subscription, SubscriptionChangeError>;
}

/// Examples for other crates' tests.
#[cfg(any(test, feature = "testsuite"))]
pub mod examples {
    use super::*;
    use crate::types::examples::made_at;

    /// A sign-up trial of `workspace_id`: Team, 5 seats, version 1, a fresh id.
    pub fn subscription(workspace_id: WorkspaceId) -> Subscription {
        Subscription {
            id: SubscriptionId::from_uuid(kernel_domain::Uuid::now_v7()),
            workspace_id,
            plan: Plan::Team,
            seats: 5,
            status: SubscriptionStatus::Trialing,
            trial_end_time: Some(made_at() + chrono::Duration::days(14)),
            period_end_time: None,
            cancel_at_period_end: false,
            cancel_time: None,
            monthly_amount_minor: 4_000,
            currency_code: "USD".to_owned(),
            version: Version::INITIAL,
            create_time: made_at(),
            update_time: made_at(),
        }
    }
}
