//! What every port shares: the typed ids, the macro that declares a port's error enum, and
//! examples for tests. Each port's own types live beside it ([`crate::billing`], ...): no wire
//! message, no etag string, no `as i32`. The adapters map them to and from the published
//! language.

use kernel_domain::RejectionKind;
#[cfg(any(test, feature = "testsuite"))]
use kernel_domain::Timestamp;

use crate::{AppError, ErrorKind};

kernel_domain::entity_id!(
    /// A workspace (the tenant).
    WorkspaceId
);
kernel_domain::entity_id!(
    /// A workspace's subscription.
    SubscriptionId
);
kernel_domain::entity_id!(
    /// A user, as Identity knows them.
    UserId
);
kernel_domain::entity_id!(
    /// An invitation to a workspace.
    InvitationId
);
kernel_domain::entity_id!(
    /// A signed-in session of a user.
    SessionId
);

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

pub(crate) use port_error;

/// Whether an answer refuses for good: a refusal that asking again would not change. A
/// timeout, an internal failure or an overloaded service leave the outcome open.
pub(crate) fn refused_for_good(error: &AppError) -> bool {
    matches!(error.kind, ErrorKind::Rejected(kind) if kind != RejectionKind::Unavailable)
}

/// Whether an answer surely refuses a command for good: asking again changes nothing and
/// the command was not carried out. A conflict (`ABORTED`) and a request id already used
/// for another request (`REQUEST_ID_REUSED`) leave open whether an earlier attempt did it.
pub(crate) fn surely_refused(error: &AppError) -> bool {
    refused_for_good(error)
        && !error.is(RejectionKind::Aborted)
        && error.code != "REQUEST_ID_REUSED"
}

/// Examples of the application's types for other crates' tests.
#[cfg(any(test, feature = "testsuite"))]
pub mod examples {
    use super::*;

    pub use crate::billing::examples::*;
    pub use crate::identity::examples::*;
    pub use crate::workspace::examples::*;

    /// 2026-01-01T00:00:00Z, the time every example was made.
    pub fn made_at() -> Timestamp {
        Timestamp::from_timestamp(1_767_225_600, 0).expect("a valid time")
    }
}
