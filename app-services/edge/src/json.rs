//! Reading JSON request bodies into problems a client can act on.
//!
//! Rules, checked in this order:
//!
//! 1. The `Content-Type` must be `application/json` (parameters such as `charset` allowed, as
//!    is a `+json` suffix type): otherwise 415 `UNSUPPORTED_MEDIA_TYPE`.
//! 2. A body over the edge's limit is 413 `PAYLOAD_TOO_LARGE`.
//! 3. The body must be one JSON object: otherwise 400 `MALFORMED_JSON`.
//! 4. Every required field must be present and not `null`: otherwise 400 `MISSING_FIELD`,
//!    listing every missing field in `errors`, not just the first.
//! 5. Every field must have its type (an enum one of its values): otherwise 400
//!    `INVALID_FIELD` naming the field's path.
//!
//! Fields the request does not know are ignored. Whether a well-typed value is acceptable
//! (a password long enough, a slug free) is for the use cases to say.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use http::{HeaderMap, StatusCode, header};
use ports_app::AppError;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A request body: its fields, and which of them must be present.
pub trait RequestBody: DeserializeOwned {
    /// The fields that must be present and not `null` (also the OpenAPI schema's `required`).
    const REQUIRED: &'static [&'static str];
}

/// A JSON request body, read under the rules of this module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiJson<T>(pub T);

impl<S, T> FromRequest<S> for ApiJson<T>
where
    S: Send + Sync,
    T: RequestBody,
{
    type Rejection = AppError;

    async fn from_request(request: Request, state: &S) -> Result<Self, AppError> {
        if !is_json(request.headers()) {
            return Err(AppError::unsupported_media_type());
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|rejection| {
                if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    AppError::payload_too_large()
                } else {
                    tracing::debug!(error = %rejection, "request body could not be read");
                    AppError::malformed_json("the body could not be read")
                }
            })?;
        parse_body(&bytes).map(ApiJson)
    }
}

/// Whether the headers announce a JSON body.
pub fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Reads `bytes` as the body `T` (rules 3 to 5).
pub fn parse_body<T: RequestBody>(bytes: &[u8]) -> Result<T, AppError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|error| {
        AppError::malformed_json(format!("the body is not valid JSON: {error}"))
    })?;
    let Value::Object(object) = value else {
        return Err(AppError::malformed_json("the body must be a JSON object"));
    };
    let missing: Vec<&str> = T::REQUIRED
        .iter()
        .copied()
        .filter(|field| object.get(*field).is_none_or(Value::is_null))
        .collect();
    if !missing.is_empty() {
        return Err(AppError::missing_fields(&missing));
    }
    serde_path_to_error::deserialize(Value::Object(object)).map_err(|error| {
        let path = error.path().to_string();
        let detail = error.into_inner().to_string();
        if path == "." {
            AppError::bad_request("INVALID_FIELD", detail)
        } else {
            AppError::bad_field(path, detail)
        }
    })
}

/// Reads a JSON integer as JSON Schema counts integers: `12` and `12.0` alike (a number
/// with a zero fraction), into any integer type it fits; other numbers and values are
/// refused like serde's own integers.
pub fn whole_number<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<i64>,
{
    use serde::de::{Error, Unexpected};
    let number = serde_json::Number::deserialize(deserializer)?;
    let whole = if let Some(n) = number.as_i64() {
        Some(n)
    } else if let Some(f) = number.as_f64() {
        // Exactly representable whole numbers only.
        (f.fract() == 0.0 && (-9_007_199_254_740_992.0..=9_007_199_254_740_992.0).contains(&f))
            .then_some(f as i64)
    } else {
        None
    };
    let expected = "a whole number in range";
    let whole = whole.ok_or_else(|| match number.as_f64() {
        Some(f) => D::Error::invalid_type(Unexpected::Float(f), &expected),
        None => D::Error::invalid_value(Unexpected::Other("a number out of range"), &expected),
    })?;
    T::try_from(whole).map_err(|_| D::Error::invalid_value(Unexpected::Signed(whole), &expected))
}
