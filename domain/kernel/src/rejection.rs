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

    /// The HTTP status the edge answers with (from [`ErrorKind::codes`]).
    pub const fn http_status(self) -> u16 {
        ErrorKind::Rejected(self).http_status()
    }

    /// The gRPC code (the number of `google.rpc.Code`) the data services answer with (from
    /// [`ErrorKind::codes`]).
    pub const fn grpc_code(self) -> i32 {
        ErrorKind::Rejected(self).grpc_code()
    }
}

/// How a request is sent, refused before any use case reads it: the edge's own refusals,
/// which no data service answers with. Each has a gRPC code too (the one gRPC itself would
/// answer), so the table is complete, but a gRPC status never reads back as one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolKind {
    /// The path exists, the method does not (`UNIMPLEMENTED`, HTTP 405).
    MethodNotAllowed,
    /// The body is over the size limit (`RESOURCE_EXHAUSTED`, 413).
    PayloadTooLarge,
    /// The body is not of a media type the route reads (`INVALID_ARGUMENT`, 415).
    UnsupportedMediaType,
    /// The caller is over a rate limit; retry after a while (`RESOURCE_EXHAUSTED`, 429).
    TooManyRequests,
}

impl ProtocolKind {
    /// Every kind, for exhaustive mapping tests.
    pub const ALL: [ProtocolKind; 4] = [
        ProtocolKind::MethodNotAllowed,
        ProtocolKind::PayloadTooLarge,
        ProtocolKind::UnsupportedMediaType,
        ProtocolKind::TooManyRequests,
    ];
}

/// Every way a call can fail, whichever protocol reports it: a refusal of some kind, a
/// service that did not answer in time, or a fault that is nobody's doing but ours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A refusal the caller can act on (bad input, a rule, an unknown id, a conflict...).
    Rejected(RejectionKind),
    /// A request the edge refuses for how it was sent (method, size, media type, rate).
    Protocol(ProtocolKind),
    /// A service did not answer within the deadline.
    Timeout,
    /// Something broke that is not the caller's fault; the cause is logged only.
    Internal,
}

impl ErrorKind {
    /// Every kind, for exhaustive mapping tests: first the kinds a data service answers with
    /// (each with its own gRPC code), then the edge's protocol refusals.
    pub const ALL: [ErrorKind; 14] = [
        ErrorKind::Rejected(RejectionKind::InvalidArgument),
        ErrorKind::Rejected(RejectionKind::FailedPrecondition),
        ErrorKind::Rejected(RejectionKind::NotFound),
        ErrorKind::Rejected(RejectionKind::AlreadyExists),
        ErrorKind::Rejected(RejectionKind::Aborted),
        ErrorKind::Rejected(RejectionKind::PermissionDenied),
        ErrorKind::Rejected(RejectionKind::Unauthenticated),
        ErrorKind::Rejected(RejectionKind::Unavailable),
        ErrorKind::Timeout,
        ErrorKind::Internal,
        ErrorKind::Protocol(ProtocolKind::MethodNotAllowed),
        ErrorKind::Protocol(ProtocolKind::PayloadTooLarge),
        ErrorKind::Protocol(ProtocolKind::UnsupportedMediaType),
        ErrorKind::Protocol(ProtocolKind::TooManyRequests),
    ];

    /// **The one code table**: each kind's gRPC code (the number of `google.rpc.Code`) and
    /// HTTP status. `platform` turns the number into `tonic::Code` and the application error
    /// the status into `http::StatusCode`; nothing else maps kinds to codes. Every kind a
    /// data service answers with has its own gRPC code, so a status read back from the wire
    /// finds its kind again ([`ErrorKind::from_grpc_code`]); the edge's protocol refusals
    /// reuse gRPC's own codes for such failures and are never read back. No two kinds share
    /// both codes; HTTP alone is coarser: 409 is both a taken value and a lost race.
    pub const fn codes(self) -> (i32, u16) {
        match self {
            ErrorKind::Rejected(RejectionKind::InvalidArgument) => (3, 400),
            ErrorKind::Rejected(RejectionKind::NotFound) => (5, 404),
            ErrorKind::Rejected(RejectionKind::AlreadyExists) => (6, 409),
            ErrorKind::Rejected(RejectionKind::PermissionDenied) => (7, 403),
            ErrorKind::Rejected(RejectionKind::FailedPrecondition) => (9, 422),
            ErrorKind::Rejected(RejectionKind::Aborted) => (10, 409),
            ErrorKind::Rejected(RejectionKind::Unavailable) => (14, 503),
            ErrorKind::Rejected(RejectionKind::Unauthenticated) => (16, 401),
            ErrorKind::Timeout => (4, 504),
            ErrorKind::Internal => (13, 500),
            ErrorKind::Protocol(ProtocolKind::MethodNotAllowed) => (12, 405),
            ErrorKind::Protocol(ProtocolKind::PayloadTooLarge) => (8, 413),
            ErrorKind::Protocol(ProtocolKind::UnsupportedMediaType) => (3, 415),
            ErrorKind::Protocol(ProtocolKind::TooManyRequests) => (8, 429),
        }
    }

    /// The gRPC code.
    pub const fn grpc_code(self) -> i32 {
        self.codes().0
    }

    /// The HTTP status.
    pub const fn http_status(self) -> u16 {
        self.codes().1
    }

    /// The kind a data service's gRPC status with this code stands for, if the table has
    /// one. Protocol refusals are the edge's own: no status reads back as one.
    pub fn from_grpc_code(code: i32) -> Option<ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .filter(|kind| !matches!(kind, ErrorKind::Protocol(_)))
            .find(|kind| kind.grpc_code() == code)
    }

    /// The kinds that answer with this HTTP status.
    pub fn from_http_status(status: u16) -> Vec<ErrorKind> {
        ErrorKind::ALL
            .into_iter()
            .filter(|kind| kind.http_status() == status)
            .collect()
    }
}

impl From<RejectionKind> for ErrorKind {
    fn from(kind: RejectionKind) -> Self {
        ErrorKind::Rejected(kind)
    }
}

impl From<ProtocolKind> for ErrorKind {
    fn from(kind: ProtocolKind) -> Self {
        ErrorKind::Protocol(kind)
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
    use std::collections::HashSet;

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

    /// The index of `kind`'s variant; a new variant fails to compile here until it is
    /// added to the table's tests.
    fn variant(kind: ErrorKind) -> usize {
        match kind {
            ErrorKind::Rejected(kind) => match kind {
                RejectionKind::InvalidArgument => 0,
                RejectionKind::FailedPrecondition => 1,
                RejectionKind::NotFound => 2,
                RejectionKind::AlreadyExists => 3,
                RejectionKind::Aborted => 4,
                RejectionKind::PermissionDenied => 5,
                RejectionKind::Unauthenticated => 6,
                RejectionKind::Unavailable => 7,
            },
            ErrorKind::Timeout => 8,
            ErrorKind::Internal => 9,
            ErrorKind::Protocol(kind) => match kind {
                ProtocolKind::MethodNotAllowed => 10,
                ProtocolKind::PayloadTooLarge => 11,
                ProtocolKind::UnsupportedMediaType => 12,
                ProtocolKind::TooManyRequests => 13,
            },
        }
    }

    #[test]
    fn the_table_lists_every_kind_once_with_its_own_pair_of_codes() {
        let variants: HashSet<usize> = ErrorKind::ALL.into_iter().map(variant).collect();
        assert_eq!(variants, (0..ErrorKind::ALL.len()).collect());
        for kind in RejectionKind::ALL {
            assert!(
                ErrorKind::ALL.contains(&ErrorKind::Rejected(kind)),
                "{kind:?}"
            );
        }
        for kind in ProtocolKind::ALL {
            assert!(
                ErrorKind::ALL.contains(&ErrorKind::Protocol(kind)),
                "{kind:?}"
            );
        }
        let pairs: HashSet<(i32, u16)> = ErrorKind::ALL.into_iter().map(ErrorKind::codes).collect();
        assert_eq!(pairs.len(), ErrorKind::ALL.len());
        for kind in ErrorKind::ALL {
            let (grpc, http) = kind.codes();
            // A real google.rpc.Code other than OK, and an HTTP error status.
            assert!((1..=16).contains(&grpc), "{kind:?}");
            assert!((400..600).contains(&http), "{kind:?}");
        }
    }

    #[test]
    fn every_kind_has_the_codes_the_protocols_define_for_it() {
        let expected = [
            (RejectionKind::InvalidArgument.into(), (3, 400)),
            (RejectionKind::FailedPrecondition.into(), (9, 422)),
            (RejectionKind::NotFound.into(), (5, 404)),
            (RejectionKind::AlreadyExists.into(), (6, 409)),
            (RejectionKind::Aborted.into(), (10, 409)),
            (RejectionKind::PermissionDenied.into(), (7, 403)),
            (RejectionKind::Unauthenticated.into(), (16, 401)),
            (RejectionKind::Unavailable.into(), (14, 503)),
            (ErrorKind::Timeout, (4, 504)),
            (ErrorKind::Internal, (13, 500)),
            (ProtocolKind::MethodNotAllowed.into(), (12, 405)),
            (ProtocolKind::PayloadTooLarge.into(), (8, 413)),
            (ProtocolKind::UnsupportedMediaType.into(), (3, 415)),
            (ProtocolKind::TooManyRequests.into(), (8, 429)),
        ];
        assert_eq!(expected.len(), ErrorKind::ALL.len());
        for (kind, codes) in expected {
            assert_eq!(kind.codes(), codes, "{kind:?}");
            assert_eq!((kind.grpc_code(), kind.http_status()), codes, "{kind:?}");
        }
    }

    #[test]
    fn every_service_kind_round_trips_through_its_grpc_code() {
        for kind in ErrorKind::ALL {
            let back = ErrorKind::from_grpc_code(kind.grpc_code());
            match kind {
                // The edge's refusals never come back from the wire: their code reads as the
                // service kind with that code, or as nothing.
                ErrorKind::Protocol(_) => {
                    assert!(!matches!(back, Some(ErrorKind::Protocol(_))), "{kind:?}");
                    if let Some(back) = back {
                        assert_eq!(back.grpc_code(), kind.grpc_code());
                    }
                }
                _ => assert_eq!(back, Some(kind)),
            }
        }
        assert_eq!(
            ErrorKind::from_grpc_code(3),
            Some(RejectionKind::InvalidArgument.into())
        );
        // OK (0) and the codes no service kind uses name no kind.
        for code in [0, 1, 2, 8, 11, 12, 15, 17] {
            assert_eq!(ErrorKind::from_grpc_code(code), None, "{code}");
        }
    }

    #[test]
    fn every_kind_round_trips_through_its_http_status() {
        for kind in ErrorKind::ALL {
            let back = ErrorKind::from_http_status(kind.http_status());
            assert!(back.contains(&kind), "{kind:?}");
            // Only a taken value and a lost race share a status (409).
            assert_eq!(back.len(), if kind.http_status() == 409 { 2 } else { 1 });
        }
        assert_eq!(
            (
                ErrorKind::Timeout.http_status(),
                ErrorKind::Internal.http_status()
            ),
            (504, 500)
        );
    }

    #[test]
    fn on_field_names_the_field_of_a_domain_error() {
        let rejection = Rejection::from(crate::EmailError::Invalid).on_field("new_email");
        assert_eq!(rejection.field_violations[0].field, "new_email");
        assert_eq!(rejection.reason, "INVALID_EMAIL");
    }
}
