//! Problem details (RFC 9457): the one shape of every error answer.
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
//! - `code` is the stable UPPER_SNAKE reason clients branch on; `type` is the same code in
//!   lower-kebab under `https://saas.invalid/problems/`; `title` is the status's reason phrase.
//! - `errors` lists the offending fields and appears only when there are some.
//! - `request_id` is the id the response's `X-Request-Id` header carries too.
//! - A 500 never shows its cause (it is logged where it happened); every 401 carries
//!   `WWW-Authenticate: Bearer`; a 429 carries `Retry-After` in whole seconds.

use std::borrow::Cow;
use std::time::Duration;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use ports_app::{AppError, ErrorKind};
use serde::Serialize;

/// Where problem types live; each code has its own page under it.
pub const PROBLEM_TYPE_BASE: &str = "https://saas.invalid/problems/";

/// The media type of every problem.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// What the result of a handler is.
pub type ApiResult<T> = Result<T, ApiError>;

/// One offending field of a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field's path as the client sent it (`email`, `members[0].role`).
    pub field: String,
    /// What is wrong with it.
    pub detail: String,
}

/// An error answer: a status, a stable code, a detail safe to show and the offending fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: Cow<'static, str>,
    detail: String,
    errors: Vec<FieldError>,
    retry_after: Option<u64>,
}

/// Marks a response as a problem whose body still needs the request id; the request-context
/// layer renders it again with the id.
#[derive(Debug, Clone)]
pub(crate) struct PendingProblem(pub(crate) ApiError);

/// The JSON body of a problem.
#[derive(Serialize)]
struct ProblemBody<'a> {
    r#type: String,
    title: &'a str,
    status: u16,
    detail: &'a str,
    code: &'a str,
    #[serde(skip_serializing_if = "<[FieldError]>::is_empty")]
    errors: &'a [FieldError],
    request_id: Option<&'a str>,
}

impl ApiError {
    /// A problem with a status, a stable UPPER_SNAKE code and a detail safe to show.
    pub fn new(
        status: StatusCode,
        code: impl Into<Cow<'static, str>>,
        detail: impl Into<String>,
    ) -> Self {
        ApiError {
            status,
            code: code.into(),
            detail: detail.into(),
            errors: Vec::new(),
            retry_after: None,
        }
    }

    /// The same problem naming the offending fields.
    #[must_use]
    pub fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        self.errors = errors;
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &str {
        &self.code
    }

    /// The detail.
    pub fn detail(&self) -> &str {
        &self.detail
    }

    /// The offending fields.
    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The problem's `type` URI: the code in lower-kebab under [`PROBLEM_TYPE_BASE`].
    pub fn type_uri(&self) -> String {
        format!(
            "{PROBLEM_TYPE_BASE}{}",
            self.code.to_ascii_lowercase().replace('_', "-")
        )
    }

    /// 500 `INTERNAL`; the cause must have been logged by the caller.
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL",
            "internal error",
        )
    }

    /// 401 `UNAUTHENTICATED`: no bearer token came with a request that needs one.
    pub fn unauthenticated() -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "sign in first")
    }

    /// 404 `ROUTE_NOT_FOUND`: no route has this path.
    pub fn route_not_found(path: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "ROUTE_NOT_FOUND",
            format!("there is no route {path}"),
        )
    }

    /// 405 `METHOD_NOT_ALLOWED`: the path exists, the method does not (see `Allow`).
    pub fn method_not_allowed(method: &http::Method) -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "METHOD_NOT_ALLOWED",
            format!("{method} is not allowed here; the Allow header lists what is"),
        )
    }

    /// 413 `PAYLOAD_TOO_LARGE`: the body is over the edge's limit.
    pub fn payload_too_large() -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "PAYLOAD_TOO_LARGE",
            "the body is larger than the edge accepts",
        )
    }

    /// 415 `UNSUPPORTED_MEDIA_TYPE`: a JSON body without `Content-Type: application/json`.
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "UNSUPPORTED_MEDIA_TYPE",
            "the body must be JSON, sent with Content-Type: application/json",
        )
    }

    /// 400 `MALFORMED_JSON`: the body is not a JSON object.
    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "MALFORMED_JSON", detail)
    }

    /// 400 `INVALID_FIELD` for one field.
    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        let field = field.into();
        let detail = detail.into();
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_FIELD",
            format!("{field}: {detail}"),
        )
        .with_errors(vec![FieldError { field, detail }])
    }

    /// 400 `MISSING_FIELD` listing every required field that is absent.
    pub fn missing_fields(fields: &[&str]) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "MISSING_FIELD",
            format!("required fields are missing: {}", fields.join(", ")),
        )
        .with_errors(
            fields
                .iter()
                .map(|field| FieldError {
                    field: (*field).to_owned(),
                    detail: format!("{field} is required"),
                })
                .collect(),
        )
    }

    /// 400 `INVALID_IDEMPOTENCY_KEY`.
    pub fn invalid_idempotency_key() -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "INVALID_IDEMPOTENCY_KEY",
            "the Idempotency-Key header must be a UUID",
        )
        .with_errors(vec![FieldError {
            field: "Idempotency-Key".to_owned(),
            detail: "must be a UUID".to_owned(),
        }])
    }

    /// 429 `RATE_LIMITED`, with `Retry-After` rounded up to whole seconds (at least 1).
    pub fn rate_limited(retry_after: Duration) -> Self {
        let seconds = retry_after
            .as_secs()
            .saturating_add(u64::from(retry_after.subsec_nanos() > 0))
            .max(1);
        ApiError {
            retry_after: Some(seconds),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "RATE_LIMITED",
                format!("too many requests; retry in {seconds} s"),
            )
        }
    }

    /// 504 `TIMEOUT`: the request took longer than the edge allows.
    pub fn timeout() -> Self {
        Self::new(
            StatusCode::GATEWAY_TIMEOUT,
            "TIMEOUT",
            "the request took too long; retry later",
        )
    }

    /// 503 `NOT_READY`.
    pub fn not_ready() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "NOT_READY",
            "the service is not ready",
        )
    }

    /// The JSON body, with the request id when known.
    pub(crate) fn body(&self, request_id: Option<&str>) -> Vec<u8> {
        let body = ProblemBody {
            r#type: self.type_uri(),
            title: self.status.canonical_reason().unwrap_or("Error"),
            status: self.status.as_u16(),
            detail: &self.detail,
            code: &self.code,
            errors: &self.errors,
            request_id,
        };
        // Serialising plain strings and numbers cannot fail.
        serde_json::to_vec(&body).unwrap_or_default()
    }

    /// The response, body included, for the given request id.
    pub(crate) fn response(&self, request_id: Option<&str>) -> Response {
        let mut response = (self.status, self.body(request_id)).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if self.status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        if let Some(seconds) = self.retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

impl IntoResponse for ApiError {
    /// The problem without a request id yet; the request-context layer adds it.
    fn into_response(self) -> Response {
        let mut response = self.response(None);
        response.extensions_mut().insert(PendingProblem(self));
        response
    }
}

impl From<AppError> for ApiError {
    /// Status from [`AppError::http_status`], the use case's code, message and field
    /// violations; an internal failure shows nothing of its cause.
    fn from(error: AppError) -> Self {
        let status =
            StatusCode::from_u16(error.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        if error.kind == ErrorKind::Internal || status == StatusCode::INTERNAL_SERVER_ERROR {
            return ApiError::internal();
        }
        // An idempotency key reused for a different request is a valid request the server
        // cannot process (422), as the IETF Idempotency-Key draft has it, not bad syntax.
        let status = if error.code == "REQUEST_ID_REUSED" {
            StatusCode::UNPROCESSABLE_ENTITY
        } else {
            status
        };
        ApiError {
            status,
            code: error.code,
            detail: error.message,
            errors: error
                .fields
                .into_iter()
                .map(|violation| FieldError {
                    field: violation.field,
                    detail: violation.description,
                })
                .collect(),
            retry_after: None,
        }
    }
}
