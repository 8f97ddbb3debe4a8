//! The application error over HTTP: an RFC 9457 problem (the `http` feature).
//!
//! A problem is `application/problem+json`:
//!
//! ```json
//! {"type": "https://saas.invalid/problems/missing-field", "title": "Bad Request",
//!  "status": 400, "detail": "...", "code": "MISSING_FIELD",
//!  "errors": [{"field": "email", "detail": "email is required"}],
//!  "request_id": "..."}
//! ```
//!
//! - The status is [`AppError::http_status`]: the kind's in the kernel's one table
//!   ([`ErrorKind::codes`]), the same table that gives the gRPC code.
//! - `code` is the stable UPPER_SNAKE reason clients branch on; `type` is the same code in
//!   lower-kebab under [`PROBLEM_TYPE_BASE`]; `title` is the status's reason phrase.
//! - `errors` lists the offending fields and appears only when there are some.
//! - `request_id` is the id the response's `X-Request-Id` header carries too. The error
//!   cannot know it: [`IntoResponse`] answers without it and leaves a [`PendingProblem`] in
//!   the response's extensions, which the edge's request layer renders again with
//!   [`AppError::problem_response`].
//! - A 500 never shows its cause (it is logged where it happened); every 401 carries
//!   `WWW-Authenticate: Bearer`; a 429 carries `Retry-After` in whole seconds.
//!
//! The constructors here are the failures the edge finds itself, before any use case runs.

use std::time::Duration;

use axum_core::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use kernel_domain::{FieldViolation, ProtocolKind, RejectionKind};
use serde::Serialize;

use crate::{AppError, ErrorKind};

/// Where problem types live; each code has its own page under it.
pub const PROBLEM_TYPE_BASE: &str = "https://saas.invalid/problems/";

/// The media type of every problem.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// Marks a response as a problem whose body still needs the request id; the edge's request
/// layer takes it out and renders the error again with [`AppError::problem_response`].
#[derive(Debug, Clone)]
pub struct PendingProblem(pub AppError);

/// The JSON body of a problem.
#[derive(Serialize)]
struct ProblemBody<'a> {
    r#type: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError<'a>],
    request_id: Option<&'a str>,
}

/// One offending field as a problem lists it.
#[derive(Serialize)]
struct FieldError<'a> {
    field: &'a str,
    detail: &'a str,
}

impl AppError {
    /// An error of any kind with a stable code and a message safe to show.
    pub fn new(
        kind: impl Into<ErrorKind>,
        code: impl Into<std::borrow::Cow<'static, str>>,
        message: impl Into<String>,
    ) -> Self {
        AppError {
            kind: kind.into(),
            code: code.into(),
            message: message.into(),
            fields: Vec::new(),
            retry_after: None,
        }
    }

    /// 401 `UNAUTHENTICATED`: no bearer token came with a request that needs one.
    pub fn unauthenticated() -> Self {
        Self::new(
            RejectionKind::Unauthenticated,
            "UNAUTHENTICATED",
            "sign in first",
        )
    }

    /// 404 `ROUTE_NOT_FOUND`: no route has this path.
    pub fn route_not_found(path: &str) -> Self {
        Self::not_found("ROUTE_NOT_FOUND", format!("there is no route {path}"))
    }

    /// 405 `METHOD_NOT_ALLOWED`: the path exists, the method does not (see `Allow`).
    pub fn method_not_allowed(method: &http::Method) -> Self {
        Self::new(
            ProtocolKind::MethodNotAllowed,
            "METHOD_NOT_ALLOWED",
            format!("{method} is not allowed here; the Allow header lists what is"),
        )
    }

    /// 413 `PAYLOAD_TOO_LARGE`: the body is over the edge's limit.
    pub fn payload_too_large() -> Self {
        Self::new(
            ProtocolKind::PayloadTooLarge,
            "PAYLOAD_TOO_LARGE",
            "the body is larger than the edge accepts",
        )
    }

    /// 415 `UNSUPPORTED_MEDIA_TYPE`: a JSON body without `Content-Type: application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            ProtocolKind::UnsupportedMediaType,
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be JSON, sent with Content-Type: application/json",
        )
    }

    /// 400 with a code and no field, e.g. `MALFORMED_JSON`, `MALFORMED_QUERY`.
    pub fn bad_request(
        code: impl Into<std::borrow::Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        Self::new(RejectionKind::InvalidArgument, code, detail)
    }

    /// 400 `MALFORMED_JSON`: the body is not a JSON object.
    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::bad_request("MALFORMED_JSON", detail)
    }

    /// 400 `INVALID_FIELD` for one field of a request, the detail naming it.
    pub fn bad_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let field = field.into();
        let description = detail.into();
        AppError {
            fields: vec![FieldViolation {
                field: field.clone(),
                description: description.clone(),
            }],
            ..Self::bad_request("INVALID_FIELD", format!("{field}: {description}"))
        }
    }

    /// 400 `MISSING_FIELD` listing every required field that is absent.
    pub fn missing_fields(fields: &[&str]) -> Self {
        AppError {
            fields: fields
                .iter()
                .map(|field| FieldViolation {
                    field: (*field).to_owned(),
                    description: format!("{field} is required"),
                })
                .collect(),
            ..Self::bad_request(
                "MISSING_FIELD",
                format!("required fields are missing: {}", fields.join(", ")),
            )
        }
    }

    /// 400 `INVALID_IDEMPOTENCY_KEY`.
    pub fn invalid_idempotency_key() -> Self {
        AppError {
            fields: vec![FieldViolation {
                field: crate::IDEMPOTENCY_KEY_FIELD.to_owned(),
                description: "must be a UUID".to_owned(),
            }],
            ..Self::bad_request(
                "INVALID_IDEMPOTENCY_KEY",
                "the Idempotency-Key header must be a UUID",
            )
        }
    }

    /// 429 `RATE_LIMITED`, with `Retry-After` rounded up to whole seconds (at least 1).
    pub fn rate_limited(retry_after: Duration) -> Self {
        let seconds = retry_after
            .as_secs()
            .saturating_add(u64::from(retry_after.subsec_nanos() > 0))
            .max(1);
        let seconds = u32::try_from(seconds).unwrap_or(u32::MAX);
        AppError {
            retry_after: Some(seconds),
            ..Self::new(
                ProtocolKind::TooManyRequests,
                "RATE_LIMITED",
                format!("too many requests; retry in {seconds} s"),
            )
        }
    }

    /// 504 `TIMEOUT`: the request took longer than the edge allows.
    pub fn timeout() -> Self {
        Self::new(
            ErrorKind::Timeout,
            "TIMEOUT",
            "the request took too long; retry later",
        )
    }

    /// 503 `NOT_READY`.
    pub fn not_ready() -> Self {
        Self::new(
            RejectionKind::Unavailable,
            "NOT_READY",
            "the service is not ready",
        )
    }

    /// The status as HTTP has it; 500 for anything the table does not make a valid status.
    pub fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The problem's `type` URI: the code in lower-kebab under [`PROBLEM_TYPE_BASE`].
    pub fn type_uri(&self) -> String {
        format!(
            "{PROBLEM_TYPE_BASE}{}",
            self.code.to_ascii_lowercase().replace('_', "-")
        )
    }

    /// The error as a client may see it: an internal failure (or anything answering 500)
    /// shows nothing but `INTERNAL`, whatever its code and message say.
    fn shown(&self) -> (StatusCode, &str, &str, &[FieldViolation]) {
        let status = self.status_code();
        if self.kind == ErrorKind::Internal || status == StatusCode::INTERNAL_SERVER_ERROR {
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "INTERNAL",
                "internal error",
                &[],
            )
        } else {
            (status, &self.code, &self.message, &self.fields)
        }
    }

    /// The problem's JSON body, with the request id when known.
    pub fn problem_body(&self, request_id: Option<&str>) -> Vec<u8> {
        let (status, code, detail, fields) = self.shown();
        let errors: Vec<FieldError<'_>> = fields
            .iter()
            .map(|violation| FieldError {
                field: &violation.field,
                detail: &violation.description,
            })
            .collect();
        let body = ProblemBody {
            r#type: format!(
                "{PROBLEM_TYPE_BASE}{}",
                code.to_ascii_lowercase().replace('_', "-")
            ),
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail,
            code,
            errors: &errors,
            request_id,
        };
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The problem response, body and headers, for the given request id.
    pub fn problem_response(&self, request_id: Option<&str>) -> Response {
        let (status, ..) = self.shown();
        let mut response = (status, self.problem_body(request_id)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if matches!(
            status,
            StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE
        ) && let Some(seconds) = self.retry_after
        {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl IntoResponse for AppError {
    /// The problem without a request id yet; the edge's request layer adds it
    /// ([`PendingProblem`]).
    fn into_response(self) -> Response {
        let mut response = self.problem_response(None);
        response.extensions_mut().insert(PendingProblem(self));
        response
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;

    fn body(error: &AppError, request_id: Option<&str>) -> Value {
        serde_json::from_slice(&error.problem_body(request_id)).unwrap_or(Value::Null)
    }

    fn header<'a>(response: &'a Response, name: &str) -> Option<&'a str> {
        response.headers().get(name).and_then(|v| v.to_str().ok())
    }

    #[test]
    fn every_kind_answers_the_status_of_the_table_with_its_code_and_message() {
        for kind in ErrorKind::ALL {
            let error = AppError::new(kind, "SOME_REASON", "what happened");
            let response = error.clone().into_response();
            let body = body(&error, None);
            if kind == ErrorKind::Internal {
                assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
                assert_eq!(body["code"], "INTERNAL");
                continue;
            }
            assert_eq!(response.status().as_u16(), kind.http_status(), "{kind:?}");
            assert_eq!(
                body,
                json!({
                    "type": "https://saas.invalid/problems/some-reason",
                    "title": response.status().canonical_reason(),
                    "status": kind.http_status(),
                    "detail": "what happened",
                    "code": "SOME_REASON",
                    "request_id": null,
                }),
                "{kind:?}"
            );
            assert_eq!(header(&response, "content-type"), Some(PROBLEM_JSON));
            assert_eq!(
                error.type_uri(),
                "https://saas.invalid/problems/some-reason"
            );
        }
    }

    #[test]
    fn an_internal_error_shows_nothing_of_its_cause() {
        let error = AppError::internal("connection to db-7 refused");
        assert_eq!(error.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = String::from_utf8_lossy(&error.problem_body(None)).into_owned();
        assert!(!text.contains("db-7"), "{text}");
        assert_eq!(body(&error, None)["code"], "INTERNAL");

        // Even an internal error built by hand with a revealing message and fields.
        let error = AppError {
            kind: ErrorKind::Internal,
            code: "DB_DOWN".into(),
            message: "db-7 is down".to_owned(),
            fields: vec![FieldViolation {
                field: "db-7".to_owned(),
                description: "down".to_owned(),
            }],
            retry_after: None,
        };
        let body = body(&error, Some("req-1"));
        assert_eq!(
            body,
            json!({
                "type": "https://saas.invalid/problems/internal",
                "title": "Internal Server Error",
                "status": 500,
                "detail": "internal error",
                "code": "INTERNAL",
                "request_id": "req-1",
            })
        );
    }

    #[test]
    fn field_violations_become_the_problems_errors() {
        let mut error = AppError::invalid_field("INVALID_DISPLAY_NAME", "display_name", "too long");
        error.fields.push(FieldViolation {
            field: "email".to_owned(),
            description: "not an address".to_owned(),
        });
        assert_eq!(
            body(&error, None)["errors"],
            json!([
                {"field": "display_name", "detail": "too long"},
                {"field": "email", "detail": "not an address"},
            ])
        );
        let error = AppError::missing_fields(&["email", "password"]);
        assert_eq!(
            body(&error, None),
            json!({
                "type": "https://saas.invalid/problems/missing-field",
                "title": "Bad Request",
                "status": 400,
                "detail": "required fields are missing: email, password",
                "code": "MISSING_FIELD",
                "errors": [
                    {"field": "email", "detail": "email is required"},
                    {"field": "password", "detail": "password is required"},
                ],
                "request_id": null,
            })
        );
        let error = AppError::bad_field("page_size", "must be between 0 and 1000");
        assert_eq!(error.message, "page_size: must be between 0 and 1000");
        assert_eq!(
            body(&error, None)["errors"],
            json!([{"field": "page_size", "detail": "must be between 0 and 1000"}])
        );
    }

    #[test]
    fn a_401_asks_for_a_bearer_token() {
        let response = AppError::unauthenticated().into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(header(&response, "www-authenticate"), Some("Bearer"));
        let response = AppError::not_found("NO", "no").into_response();
        assert_eq!(header(&response, "www-authenticate"), None);
    }

    #[test]
    fn retry_after_is_whole_seconds_rounded_up_and_at_least_one() {
        for (wait, seconds) in [
            (Duration::ZERO, "1"),
            (Duration::from_millis(1), "1"),
            (Duration::from_millis(1_500), "2"),
            (Duration::from_secs(3), "3"),
        ] {
            let response = AppError::rate_limited(wait).problem_response(None);
            assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(header(&response, "retry-after"), Some(seconds), "{wait:?}");
        }
    }

    #[test]
    fn an_unavailable_service_says_when_to_come_back() {
        let unavailable = AppError::rejected(RejectionKind::Unavailable, "CLIENT_LIMIT", "full");
        let response = AppError {
            retry_after: Some(1),
            ..unavailable.clone()
        }
        .problem_response(None);
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(header(&response, "retry-after"), Some("1"));
        let response = unavailable.problem_response(None);
        assert_eq!(header(&response, "retry-after"), None);
    }

    #[test]
    fn the_edges_own_failures_answer_their_statuses() {
        let cases = [
            (
                AppError::route_not_found("/nowhere"),
                404,
                "ROUTE_NOT_FOUND",
            ),
            (
                AppError::method_not_allowed(&http::Method::PATCH),
                405,
                "METHOD_NOT_ALLOWED",
            ),
            (AppError::payload_too_large(), 413, "PAYLOAD_TOO_LARGE"),
            (
                AppError::unsupported_media_type(),
                415,
                "UNSUPPORTED_MEDIA_TYPE",
            ),
            (AppError::malformed_json("no"), 400, "MALFORMED_JSON"),
            (
                AppError::invalid_idempotency_key(),
                400,
                "INVALID_IDEMPOTENCY_KEY",
            ),
            (AppError::timeout(), 504, "TIMEOUT"),
            (AppError::not_ready(), 503, "NOT_READY"),
            (AppError::unauthenticated(), 401, "UNAUTHENTICATED"),
        ];
        for (error, status, code) in cases {
            let response = error.problem_response(None);
            assert_eq!(response.status().as_u16(), status, "{code}");
            assert_eq!(body(&error, None)["code"], code);
            assert_eq!(header(&response, "retry-after"), None, "{code}");
        }
    }

    #[test]
    fn a_reused_request_id_is_unprocessable() {
        let error = AppError::invalid_field(
            crate::REQUEST_ID_REUSED,
            crate::IDEMPOTENCY_KEY_FIELD,
            "this Idempotency-Key was already used for a different request",
        );
        assert_eq!(error.status_code(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body(&error, None)["status"], 422);
    }

    #[test]
    fn the_request_id_is_added_by_rendering_the_pending_problem_again() {
        let response = AppError::not_found("NO_SUCH_THING", "no").into_response();
        let Some(PendingProblem(error)) = response.extensions().get::<PendingProblem>() else {
            panic!("no pending problem");
        };
        assert_eq!(body(error, Some("abc"))["request_id"], "abc");
    }
}
