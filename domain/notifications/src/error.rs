//! Why a value or a command on a [`crate::Feed`] was refused, and how that reads at the edge.

use kernel_domain::{Rejection, RejectionKind};

use crate::{MAX_KIND_LEN, MAX_PAYLOAD_BYTES};

/// Why the Notifications domain refused a value or a command.
///
/// Every variant converts into a [`Rejection`] with a stable UPPER_SNAKE reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FeedError {
    /// A kind that is not snake_case of 1 to 64 characters (`INVALID_KIND`).
    #[error(
        "kind must be snake_case: a lower-case letter, then lower-case letters, digits or _, \
         at most {MAX_KIND_LEN} in all"
    )]
    InvalidKind,
    /// A payload that is not a JSON object (`INVALID_PAYLOAD`).
    #[error("the payload must be a JSON object")]
    PayloadNotAnObject,
    /// A payload over 8 KiB (`PAYLOAD_TOO_LARGE`).
    #[error("the payload is {bytes} bytes, more than the {MAX_PAYLOAD_BYTES} allowed")]
    PayloadTooLarge {
        /// Its size.
        bytes: usize,
    },
    /// Marking read past the last entry (`SEQUENCE_BEYOND_END`).
    #[error("the feed's last entry is {last}; {up_to} is beyond it")]
    SequenceBeyondEnd {
        /// The sequence number asked for.
        up_to: u64,
        /// The feed's last sequence number.
        last: u64,
    },
}

impl FeedError {
    /// The stable machine-readable reason.
    pub const fn reason(&self) -> &'static str {
        match self {
            FeedError::InvalidKind => "INVALID_KIND",
            FeedError::PayloadNotAnObject => "INVALID_PAYLOAD",
            FeedError::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            FeedError::SequenceBeyondEnd { .. } => "SEQUENCE_BEYOND_END",
        }
    }

    /// The kind of refusal.
    pub const fn kind(&self) -> RejectionKind {
        match self {
            FeedError::InvalidKind
            | FeedError::PayloadNotAnObject
            | FeedError::PayloadTooLarge { .. } => RejectionKind::InvalidArgument,
            FeedError::SequenceBeyondEnd { .. } => RejectionKind::FailedPrecondition,
        }
    }

    /// The value the refusal is about, in the domain's words (the wire may name it
    /// differently).
    pub const fn field(&self) -> &'static str {
        match self {
            FeedError::InvalidKind => "kind",
            FeedError::PayloadNotAnObject | FeedError::PayloadTooLarge { .. } => "payload",
            FeedError::SequenceBeyondEnd { .. } => "up_to",
        }
    }
}

impl From<FeedError> for Rejection {
    fn from(error: FeedError) -> Self {
        Rejection::new(error.kind(), error.reason(), error.to_string()).on_field(error.field())
    }
}
