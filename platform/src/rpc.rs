//! The RPC conventions shared by every data service (Google AIPs are the model).
//!
//! - AIP-193: a [`Rejection`] becomes a status with `google.rpc.ErrorInfo` (reason, domain
//!   `<context>.saas`) and, for bad input, `google.rpc.BadRequest`; internal causes are logged
//!   and answered as a bare `INTERNAL`.
//! - AIP-154: etags ([`parse_etag`]); AIP-155: request ids ([`parse_request_id`],
//!   [`fingerprint`]); AIP-158: page sizes and opaque page tokens ([`PageRequest`]).
//! - The acting user arrives as `x-saas-actor` metadata ([`actor`]), never in a body.

use std::fmt::Display;

use base64::Engine as _;
use kernel_domain::{Email, ErrorKind, Rejection, RejectionKind, TokenHash, Version};
use sha2::{Digest, Sha256};
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use uuid::Uuid;

/// Metadata key that carries the acting user's id.
pub const ACTOR_METADATA: &str = "x-saas-actor";

/// The gRPC code of each rejection kind, from the kernel's one table ([`ErrorKind::codes`]).
pub fn grpc_code(kind: RejectionKind) -> Code {
    Code::from_i32(kind.grpc_code())
}

/// The rejection kind a gRPC code stands for, if it is one a rejection can have.
pub fn rejection_kind(code: Code) -> Option<RejectionKind> {
    match ErrorKind::from_grpc_code(code as i32) {
        Some(ErrorKind::Rejected(kind)) => Some(kind),
        _ => None,
    }
}

/// Turns a rejection into a status carrying `ErrorInfo` and, when there are field
/// violations, `BadRequest`. `domain` is the context's error domain, e.g. `identity.saas`.
pub fn rejection_status(rejection: &Rejection, domain: &str) -> Status {
    let mut details = ErrorDetails::with_error_info(
        rejection.reason,
        domain,
        std::collections::HashMap::<String, String>::new(),
    );
    for violation in &rejection.field_violations {
        details.add_bad_request_violation(violation.field.clone(), violation.description.clone());
    }
    Status::with_error_details(
        grpc_code(rejection.kind),
        rejection.message.clone(),
        details,
    )
}

/// A failure that is not the caller's fault: logged with its cause, answered as `INTERNAL`
/// with no detail beyond a stable reason.
pub fn internal(cause: impl Display, domain: &str) -> Status {
    tracing::error!(error = %cause, "internal error");
    Status::with_error_details(
        Code::Internal,
        "internal error",
        ErrorDetails::with_error_info(
            "INTERNAL",
            domain,
            std::collections::HashMap::<String, String>::new(),
        ),
    )
}

/// The status of a store failure: a rejection with its details, or `INTERNAL` with the
/// cause logged. `domain` is the context's error domain, e.g. `identity.saas`.
pub fn store_status(error: crate::store::StoreError, domain: &str) -> Status {
    match error {
        crate::store::StoreError::Rejected(rejection) => rejection_status(&rejection, domain),
        crate::store::StoreError::Internal(cause) => internal(cause, domain),
    }
}

/// Reads the `ErrorInfo` reason of a status, if it has one.
pub fn error_reason(status: &Status) -> Option<String> {
    status.get_details_error_info().map(|info| info.reason)
}

/// Collects the field violations of a request so the caller learns about every bad field at
/// once, not one per round trip.
#[derive(Debug, Default)]
pub struct FieldCheck {
    first: Option<Rejection>,
}

impl FieldCheck {
    /// An empty check.
    pub fn new() -> Self {
        Self::default()
    }

    /// Keeps the value, or records the rejection and returns `None`.
    pub fn check<T>(&mut self, result: Result<T, Rejection>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(rejection) => {
                match &mut self.first {
                    None => self.first = Some(rejection),
                    Some(first) => first.field_violations.extend(rejection.field_violations),
                }
                None
            }
        }
    }

    /// `Ok` when every field was fine; otherwise one rejection naming every bad field (its
    /// reason is the first one found).
    pub fn finish(self) -> Result<(), Rejection> {
        match self.first {
            None => Ok(()),
            Some(rejection) => Err(rejection),
        }
    }
}

/// What every command on an existing aggregate names: which one, the request id, and
/// optionally the etag the caller read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    /// The aggregate's id.
    pub id: Uuid,
    /// The command's request id.
    pub request_id: Uuid,
    /// The etag the caller read, if it sent one.
    pub expected: Option<Version>,
}

impl Target {
    /// Parses the three fields, recording bad ones in `fields` (the id field is named `id`).
    pub fn parse(
        fields: &mut FieldCheck,
        id: &str,
        request_id: &str,
        etag: &str,
    ) -> Option<Target> {
        let id = fields.check(parse_id("id", id));
        let request_id = fields.check(parse_request_id(request_id));
        let expected = fields.check(parse_etag(etag));
        Some(Target {
            id: id?,
            request_id: request_id?,
            expected: expected?,
        })
    }

    /// Parses a command that carries nothing but the three fields.
    pub fn parse_alone(id: &str, request_id: &str, etag: &str) -> Result<Target, Rejection> {
        let mut fields = FieldCheck::new();
        let target = Target::parse(&mut fields, id, request_id, etag);
        fields.finish()?;
        target.ok_or_else(invalid_request)
    }
}

/// The longest secret token accepted (tokens are made by our application layer; this only
/// bounds input).
pub const MAX_TOKEN_LEN: usize = 512;

/// The SHA-256 of a presented secret token: the only form in which tokens are kept.
pub fn parse_token(field: &str, raw: &str) -> Result<TokenHash, Rejection> {
    if raw.is_empty() || raw.len() > MAX_TOKEN_LEN {
        return Err(Rejection::invalid_field(
            "INVALID_TOKEN",
            field,
            format!("{field} must be 1 to {MAX_TOKEN_LEN} bytes"),
        ));
    }
    Ok(TokenHash::from_bytes(Sha256::digest(raw.as_bytes()).into()))
}

/// Parses an email address field (trimmed, lower-cased, checked).
pub fn parse_email(field: &str, raw: &str) -> Result<Email, Rejection> {
    Email::parse(raw).map_err(|e| Rejection::from(e).on_field(field))
}

/// Finishes a [`FieldCheck`] (returning its rejection from the enclosing function) and
/// unwraps the `Option`s it vouched for into plain bindings of the same names.
#[macro_export]
macro_rules! checked {
    ($fields:ident, $($value:ident),+ $(,)?) => {
        $fields.finish()?;
        let ($(Some($value),)+) = ($($value,)+) else {
            return Err($crate::rpc::invalid_request());
        };
    };
}

/// The rejection for a request a [`FieldCheck`] passed but that still lacks a value (a bug
/// in the caller of the check, reported as bad input rather than a panic).
pub fn invalid_request() -> Rejection {
    Rejection::new(
        RejectionKind::InvalidArgument,
        "INVALID_ARGUMENT",
        "invalid request",
    )
}

/// Parses a required UUID field.
pub fn parse_id(field: &str, value: &str) -> Result<Uuid, Rejection> {
    if value.is_empty() {
        return Err(Rejection::invalid_field(
            "MISSING_FIELD",
            field,
            format!("{field} is required"),
        ));
    }
    Uuid::try_parse(value).map_err(|_| {
        Rejection::invalid_field("INVALID_ID", field, format!("{field} must be a UUID"))
    })
}

/// Parses the required `request_id` of a command.
pub fn parse_request_id(value: &str) -> Result<Uuid, Rejection> {
    if value.is_empty() {
        return Err(Rejection::invalid_field(
            "MISSING_REQUEST_ID",
            "request_id",
            "request_id is required (a UUID, the same on every retry)",
        ));
    }
    Uuid::try_parse(value).map_err(|_| {
        Rejection::invalid_field(
            "INVALID_REQUEST_ID",
            "request_id",
            "request_id must be a UUID",
        )
    })
}

/// Parses an optional etag: empty means "unconditional".
pub fn parse_etag(value: &str) -> Result<Option<Version>, Rejection> {
    if value.is_empty() {
        return Ok(None);
    }
    Version::parse_etag(value)
        .map(Some)
        .map_err(Rejection::from)
}

/// A stale etag: the aggregate moved on since the caller read it.
pub fn etag_mismatch() -> Rejection {
    Rejection::new(
        RejectionKind::Aborted,
        "ETAG_MISMATCH",
        "the resource changed since it was read; read it again and retry",
    )
}

/// The fingerprint of a request kept in the idempotency store: SHA-256 over the method name
/// and the encoded request. Callers first clear passwords and replace secret tokens by their
/// SHA-256 (which the aggregate keeps anyway), so the store never holds a password or a
/// token, and a retry with a different token under the same request id is refused.
pub fn fingerprint(method: &str, request: &impl prost::Message) -> String {
    let mut hasher = Sha256::new();
    hasher.update(method.as_bytes());
    hasher.update([0u8]);
    hasher.update(request.encode_to_vec());
    hex(&hasher.finalize())
}

/// A request fingerprint bound to the acting user (see `store::Command::by_actor`).
#[derive(Clone, PartialEq, prost::Message)]
pub struct ActorBound {
    /// The fingerprint of the request body.
    #[prost(string, tag = "1")]
    pub fingerprint: String,
    /// The acting user.
    #[prost(string, tag = "2")]
    pub actor: String,
}

/// Lower-case hex of some bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// The acting user from call metadata: absent is `None`; present but malformed is
/// `INVALID_ARGUMENT`.
pub fn actor<T>(request: &tonic::Request<T>) -> Result<Option<Uuid>, Rejection> {
    match request.metadata().get(ACTOR_METADATA) {
        None => Ok(None),
        Some(value) => value
            .to_str()
            .ok()
            .and_then(|s| Uuid::try_parse(s).ok())
            .map(Some)
            .ok_or_else(|| {
                Rejection::invalid_field(
                    "INVALID_ACTOR",
                    ACTOR_METADATA,
                    "x-saas-actor must be a user id (UUID)",
                )
            }),
    }
}

/// A page request after validation (AIP-158).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PageRequest {
    /// How many items to return at most.
    pub size: u64,
    /// Return items strictly after this id (keyset pagination).
    pub after: Option<Uuid>,
}

impl PageRequest {
    /// The size used when the caller asks for 0.
    pub const DEFAULT_SIZE: u64 = 50;
    /// The cap: larger requests are served this many.
    pub const MAX_SIZE: u64 = 1000;

    /// Validates `page_size` and `page_token`, naming both when both are bad.
    pub fn parse(page_size: i32, page_token: &str) -> Result<Self, Rejection> {
        let mut fields = FieldCheck::new();
        let size = fields.check(match page_size {
            0 => Ok(Self::DEFAULT_SIZE),
            n if n < 0 => Err(Rejection::invalid_field(
                "INVALID_PAGE_SIZE",
                "page_size",
                "page_size must not be negative",
            )),
            n => Ok((n as u64).min(Self::MAX_SIZE)),
        });
        let after = fields.check(if page_token.is_empty() {
            Ok(None)
        } else {
            decode_page_token(page_token).map(Some).ok_or_else(|| {
                Rejection::invalid_field(
                    "INVALID_PAGE_TOKEN",
                    "page_token",
                    "page_token is not one this service issued",
                )
            })
        });
        crate::checked!(fields, size, after);
        Ok(PageRequest { size, after })
    }
}

const PAGE_TOKEN_PREFIX: &[u8] = b"saas.page.v1:";

/// The opaque token for the page after `last`.
pub fn encode_page_token(last: Uuid) -> String {
    let mut raw = PAGE_TOKEN_PREFIX.to_vec();
    raw.extend_from_slice(last.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

fn decode_page_token(token: &str) -> Option<Uuid> {
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()?;
    let bytes = raw.strip_prefix(PAGE_TOKEN_PREFIX)?;
    Uuid::from_slice(bytes).ok()
}

/// A timestamp for the wire.
pub fn timestamp(t: kernel_domain::Timestamp) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rejection_kind_round_trips_through_its_grpc_code() {
        for kind in RejectionKind::ALL {
            assert_eq!(rejection_kind(grpc_code(kind)), Some(kind));
        }
        // The kernel's numbers are tonic's codes.
        assert_eq!(
            grpc_code(RejectionKind::InvalidArgument),
            Code::InvalidArgument
        );
        assert_eq!(
            grpc_code(RejectionKind::FailedPrecondition),
            Code::FailedPrecondition
        );
        assert_eq!(
            grpc_code(RejectionKind::Unauthenticated),
            Code::Unauthenticated
        );
        assert_eq!(
            Code::from_i32(ErrorKind::Timeout.grpc_code()),
            Code::DeadlineExceeded
        );
        assert_eq!(
            Code::from_i32(ErrorKind::Internal.grpc_code()),
            Code::Internal
        );
        assert_eq!(rejection_kind(Code::Internal), None);
    }

    #[test]
    fn rejection_status_carries_error_info_and_field_violations() {
        let rejection = Rejection::invalid_field("INVALID_EMAIL", "email", "bad");
        let status = rejection_status(&rejection, "identity.saas");
        assert_eq!(status.code(), Code::InvalidArgument);
        let info = status.get_details_error_info().unwrap();
        assert_eq!(
            (info.reason.as_str(), info.domain.as_str()),
            ("INVALID_EMAIL", "identity.saas")
        );
        let bad = status.get_details_bad_request().unwrap();
        assert_eq!(bad.field_violations[0].field, "email");
    }

    #[test]
    fn internal_errors_do_not_leak_their_cause() {
        let status = internal("disk I/O error at /var/lib/secret", "identity.saas");
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("secret"));
        assert_eq!(error_reason(&status).as_deref(), Some("INTERNAL"));
    }

    #[test]
    fn page_tokens_round_trip_and_foreign_tokens_are_refused() {
        let id = Uuid::now_v7();
        let page = PageRequest::parse(10, &encode_page_token(id)).unwrap();
        assert_eq!(
            page,
            PageRequest {
                size: 10,
                after: Some(id)
            }
        );
        assert_eq!(
            PageRequest::parse(0, "").unwrap().size,
            PageRequest::DEFAULT_SIZE
        );
        assert_eq!(
            PageRequest::parse(5000, "").unwrap().size,
            PageRequest::MAX_SIZE
        );
        assert_eq!(
            PageRequest::parse(-1, "").unwrap_err().reason,
            "INVALID_PAGE_SIZE"
        );
        assert_eq!(
            PageRequest::parse(1, "garbage").unwrap_err().reason,
            "INVALID_PAGE_TOKEN"
        );
    }

    #[test]
    fn field_check_reports_every_bad_field() {
        let mut fields = FieldCheck::new();
        assert_eq!(fields.check(parse_id("id", "x")), None);
        assert_eq!(fields.check(parse_request_id("")), None);
        assert!(fields.check(parse_etag("")).is_some());
        let rejection = fields.finish().unwrap_err();
        let named: Vec<_> = rejection
            .field_violations
            .iter()
            .map(|v| v.field.as_str())
            .collect();
        assert_eq!(named, ["id", "request_id"]);
        assert_eq!(rejection.kind, RejectionKind::InvalidArgument);
    }

    #[test]
    fn request_ids_must_be_uuids() {
        assert_eq!(
            parse_request_id("").unwrap_err().reason,
            "MISSING_REQUEST_ID"
        );
        assert_eq!(
            parse_request_id("nope").unwrap_err().reason,
            "INVALID_REQUEST_ID"
        );
        assert!(parse_request_id(&Uuid::now_v7().to_string()).is_ok());
    }

    #[test]
    fn empty_etag_is_unconditional_and_foreign_etag_is_invalid() {
        assert_eq!(parse_etag("").unwrap(), None);
        assert_eq!(
            parse_etag(&Version::new(3).to_etag()).unwrap(),
            Some(Version::new(3))
        );
        assert_eq!(parse_etag("abc").unwrap_err().reason, "INVALID_ETAG");
    }
}
