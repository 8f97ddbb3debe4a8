/// What kind of refusal a [`Rejection`] is. Each kind has exactly one gRPC code and one HTTP
/// status; the adapters map it, the domain only chooses the kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RejectionKind {
    /// The input itself is malformed or out of range (gRPC `INVALID_ARGUMENT`, HTTP 400).
    InvalidArgument,
    /// The input is fine but the aggregate's state forbids the command (`FAILED_PRECONDITION`,
    /// HTTP 422: 409 is kept for conflicts with other writers and unique values).
    FailedPrecondition,
    /// The aggregate or child does not exist (`NOT_FOUND`, 404).
    NotFound,
    /// A unique value is already taken (`ALREADY_EXISTS`, 409).
    AlreadyExists,
    /// A concurrent change won; retry with a fresh read (`ABORTED`, 409).
    Aborted,
    /// The acting user may not do this (`PERMISSION_DENIED`, 403).
    PermissionDenied,
    /// The caller did not prove who it is (`UNAUTHENTICATED`, 401).
    Unauthenticated,
    /// Not now: the service is at a capacity limit; retry with backoff (`UNAVAILABLE`, 503).
    Unavailable,
}

impl RejectionKind {
    /// Every kind, for exhaustive mapping tests.
    pub const ALL: [RejectionKind; 8] = [
        RejectionKind::InvalidArgument,
        RejectionKind::FailedPrecondition,
        RejectionKind::NotFound,
        RejectionKind::AlreadyExists,
        RejectionKind::Aborted,
        RejectionKind::PermissionDenied,
        RejectionKind::Unauthenticated,
        RejectionKind::Unavailable,
    ];

    /// The HTTP status the edge answers with.
    pub const fn http_status(self) -> u16 {
        match self {
            RejectionKind::InvalidArgument => 400,
            RejectionKind::Unauthenticated => 401,
            RejectionKind::PermissionDenied => 403,
            RejectionKind::NotFound => 404,
            RejectionKind::AlreadyExists | RejectionKind::Aborted => 409,
            RejectionKind::FailedPrecondition => 422,
            RejectionKind::Unavailable => 503,
        }
    }
}

/// One bad field of a request: which, and why, in words a client developer can act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldViolation {
    /// The field's path as the client named it (`display_name`, `session.id`).
    pub field: String,
    /// What is wrong with it.
    pub description: String,
}

/// Why something was refused: a kind, a stable UPPER_SNAKE reason, a human message and, for
/// bad input, the offending fields.
///
/// Every domain error converts into one; the adapters turn it into a gRPC status with
/// `ErrorInfo` and `BadRequest`, or an HTTP problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    /// What kind of refusal.
    pub kind: RejectionKind,
    /// A stable machine-readable reason, e.g. `EMAIL_TAKEN`.
    pub reason: &'static str,
    /// A sentence for humans; never contains secrets or internal causes.
    pub message: String,
    /// The offending fields, for bad input.
    pub field_violations: Vec<FieldViolation>,
}

impl Rejection {
    /// A rejection without field violations.
    pub fn new(kind: RejectionKind, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            kind,
            reason,
            message: message.into(),
            field_violations: Vec::new(),
        }
    }

    /// Bad input in one field.
    pub fn invalid_field(
        reason: &'static str,
        field: impl Into<String>,
        description: impl Into<String>,
    ) -> Self {
        let description = description.into();
        Self {
            kind: RejectionKind::InvalidArgument,
            reason,
            message: description.clone(),
            field_violations: vec![FieldViolation {
                field: field.into(),
                description,
            }],
        }
    }

    /// Names the field this rejection is about, when the domain could not know it.
    #[must_use]
    pub fn on_field(mut self, field: impl Into<String>) -> Self {
        let field = field.into();
        if self.field_violations.is_empty() {
            self.field_violations.push(FieldViolation {
                field,
                description: self.message.clone(),
            });
        } else {
            for violation in &mut self.field_violations {
                violation.field = field.clone();
            }
        }
        self
    }
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.reason, self.message)
    }
}

impl std::error::Error for Rejection {}

impl From<crate::EmailError> for Rejection {
    fn from(error: crate::EmailError) -> Self {
        Rejection::invalid_field("INVALID_EMAIL", "email", error.to_string())
    }
}

impl From<crate::EtagError> for Rejection {
    fn from(error: crate::EtagError) -> Self {
        Rejection::invalid_field("INVALID_ETAG", "etag", error.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_but_unavailable_has_a_client_error_status() {
        for kind in RejectionKind::ALL {
            let expected = if kind == RejectionKind::Unavailable {
                500..600
            } else {
                400..500
            };
            assert!(expected.contains(&kind.http_status()), "{kind:?}");
        }
    }

    #[test]
    fn on_field_names_the_field_of_a_domain_error() {
        let rejection = Rejection::from(crate::EmailError::Invalid).on_field("new_email");
        assert_eq!(rejection.field_violations[0].field, "new_email");
        assert_eq!(rejection.reason, "INVALID_EMAIL");
    }
}
