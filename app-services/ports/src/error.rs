use std::borrow::Cow;

use kernel_domain::{FieldViolation, Rejection, RejectionKind};

/// What kind of failure: the kernel's one table gives its gRPC code and HTTP status.
pub use kernel_domain::ErrorKind;

/// Why a use case (or the edge, before any use case) failed: a kind, a stable UPPER_SNAKE
/// code, a message safe to show, the offending fields for bad input, and for a rate limit
/// when to retry. With the `http` feature it renders itself as an RFC 9457 problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct AppError {
    pub kind: ErrorKind,
    pub code: Cow<'static, str>,
    pub message: String,
    pub fields: Vec<FieldViolation>,
    /// Whole seconds after which a retry may succeed (`Retry-After` over HTTP).
    pub retry_after: Option<u32>,
}

/// The code of a request id reused for a different request.
pub const REQUEST_ID_REUSED: &str = "REQUEST_ID_REUSED";

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
            retry_after: None,
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
            retry_after: None,
        }
    }

    /// The same error with its field `from` named `to`, the name the client's request gives
    /// it (a data service's `slug` is a sign-up's `workspace_slug`).
    #[must_use]
    pub fn renaming_field(mut self, from: &str, to: &str) -> Self {
        for violation in &mut self.fields {
            if violation.field == from {
                violation.field = to.to_owned();
            }
        }
        self
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
            retry_after: None,
        }
    }

    /// The HTTP status this failure answers with: its kind's in [`ErrorKind::codes`], with
    /// one exception. A request id (`Idempotency-Key`) reused for a different request comes
    /// from the data services as `INVALID_ARGUMENT` (and the use cases treat it as such), but
    /// it is a valid request the server cannot process: 422, as the IETF Idempotency-Key
    /// draft has it.
    pub fn http_status(&self) -> u16 {
        if matches!(self.kind, ErrorKind::Rejected(_)) && self.code == REQUEST_ID_REUSED {
            return 422;
        }
        self.kind.http_status()
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
            retry_after: None,
        }
    }
}

/// Every bad field of a request, collected before any step runs so the client hears about
/// all of them at once. The first bad field's code is the error's code.
#[derive(Debug, Default)]
pub struct FieldErrors {
    code: Option<&'static str>,
    fields: Vec<FieldViolation>,
}

impl FieldErrors {
    /// No bad field yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records that `field` (as the client named it) is bad.
    pub fn add(&mut self, code: &'static str, field: &str, description: impl Into<String>) {
        self.code.get_or_insert(code);
        self.fields.push(FieldViolation {
            field: field.to_owned(),
            description: description.into(),
        });
    }

    /// `Ok` when every field was fine; otherwise one `INVALID_ARGUMENT` error naming every
    /// bad field, with the first one's code and description.
    pub fn finish(self) -> AppResult<()> {
        match self.code {
            None => Ok(()),
            Some(code) => Err(AppError {
                kind: ErrorKind::Rejected(RejectionKind::InvalidArgument),
                code: Cow::Borrowed(code),
                message: self
                    .fields
                    .first()
                    .map(|field| field.description.clone())
                    .unwrap_or_default(),
                fields: self.fields,
                retry_after: None,
            }),
        }
    }
}
