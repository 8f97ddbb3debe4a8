//! The application's own types: what the ports take and return. Typed ids, the kernel's value
//! types, plain enums and structs; no wire message, no etag string, no `as i32`. The adapters
//! map them to and from the published language.

use kernel_domain::{RejectionKind, Timestamp, Version};

use crate::{AppError, ErrorKind};

kernel_domain::entity_id!(
    /// A workspace (the tenant).
    WorkspaceId
);
kernel_domain::entity_id!(
    /// A workspace's subscription.
    SubscriptionId
);

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

/// Declares a port's error enum: the outcomes a use case tells apart, then `Other`, the
/// catch-all for everything else (timeouts, an unreachable or overloaded service, internal
/// faults). Every variant keeps the [`AppError`] the data service's answer became, which is
/// what the client sees when a use case passes the error on with `?`.
macro_rules! port_error {
    ($(#[$meta:meta])* $name:ident { $($(#[$variant_meta:meta])* $variant:ident,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        pub enum $name {
            $(
                $(#[$variant_meta])*
                #[error(transparent)]
                $variant(AppError),
            )*
            /// Anything else: the outcome is open or the fault is not the caller's.
            #[error(transparent)]
            Other(AppError),
        }

        impl $name {
            /// The application error inside, whichever the variant.
            pub fn into_app_error(self) -> AppError {
                match self {
                    $($name::$variant(error) => error,)*
                    $name::Other(error) => error,
                }
            }

            /// The application error inside, whichever the variant.
            pub fn app_error(&self) -> &AppError {
                match self {
                    $($name::$variant(error) => error,)*
                    $name::Other(error) => error,
                }
            }
        }

        impl From<$name> for AppError {
            fn from(error: $name) -> AppError {
                error.into_app_error()
            }
        }
    };
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

/// Whether an answer refuses for good: a refusal that asking again would not change. A
/// timeout, an internal failure or an overloaded service leave the outcome open.
fn refused_for_good(error: &AppError) -> bool {
    matches!(error.kind, ErrorKind::Rejected(kind) if kind != RejectionKind::Unavailable)
}

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
        } else if refused_for_good(&error)
            && !error.is(RejectionKind::Aborted)
            && error.code != "REQUEST_ID_REUSED"
        {
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

/// Examples of the application's types for other crates' tests.
#[cfg(any(test, feature = "testsuite"))]
pub mod examples {
    use super::*;

    /// 2026-01-01T00:00:00Z, the time every example was made.
    pub fn made_at() -> Timestamp {
        Timestamp::from_timestamp(1_767_225_600, 0).expect("a valid time")
    }

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
