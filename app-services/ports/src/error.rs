use std::borrow::Cow;

use kernel_domain::{FieldViolation, Rejection, RejectionKind};

/// What kind of failure, which decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A refusal the caller can act on (bad input, a rule, an unknown id, a conflict...).
    Rejected(RejectionKind),
    /// A data service did not answer within the deadline (HTTP 504).
    Timeout,
    /// Something broke that is not the caller's fault (HTTP 500); the cause is logged only.
    Internal,
}

/// Why a use case failed: a kind, a stable UPPER_SNAKE code, a message safe to show, and
/// the offending fields for bad input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    pub kind: ErrorKind,
    pub code: Cow<'static, str>,
    pub message: String,
    pub fields: Vec<FieldViolation>,
}

/// The result of a port call or a use case.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    /// A refusal with a stable code.
    pub fn rejected(
        kind: RejectionKind,
        code: impl Into<Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        AppError {
            kind: ErrorKind::Rejected(kind),
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
        }
    }

    /// Bad input in one field.
    pub fn invalid_field(
        code: impl Into<Cow<'static, str>>,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        let description = description.into();
        AppError {
            kind: ErrorKind::Rejected(RejectionKind::InvalidArgument),
            code: code.into(),
            message: description.clone(),
            fields: vec![FieldViolation {
                field: field.into(),
                description,
            }],
        }
    }

    /// An unknown id (also what another tenant's ids look like).
    pub fn not_found(code: impl Into<Cow<'static, str>>, message: impl Into<String>) -> Self {
        Self::rejected(RejectionKind::NotFound, code, message)
    }

    /// A failure that is not the caller's fault. The cause is logged here and never shown.
    pub fn internal(cause: impl std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        AppError {
            kind: ErrorKind::Internal,
            code: Cow::Borrowed("INTERNAL"),
            message: "internal error".to_owned(),
            fields: Vec::new(),
        }
    }

    /// The HTTP status this failure answers with.
    pub fn http_status(&self) -> u16 {
        match self.kind {
            ErrorKind::Rejected(kind) => kind.http_status(),
            ErrorKind::Timeout => 504,
            ErrorKind::Internal => 500,
        }
    }

    /// Whether this is a refusal of the given kind.
    pub fn is(&self, kind: RejectionKind) -> bool {
        self.kind == ErrorKind::Rejected(kind)
    }
}

impl From<Rejection> for AppError {
    fn from(rejection: Rejection) -> Self {
        AppError {
            kind: ErrorKind::Rejected(rejection.kind),
            code: Cow::Borrowed(rejection.reason),
            message: rejection.message,
            fields: rejection.field_violations,
        }
    }
}
