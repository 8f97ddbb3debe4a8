//! Access and refresh tokens as JWTs (HS256), checked per RFC 8725.

use chrono::Duration;
use kernel_domain::Timestamp;
use ports_app::AppResult;
use serde::Serialize;
use uuid::Uuid;

/// How long an access token lives (at most 5 minutes, per the product).
pub const ACCESS_TOKEN_TTL: Duration = Duration::minutes(5);

/// Who an access token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub expires_at: Timestamp,
}

/// What login and refresh hand out.
#[derive(Debug, Clone, Serialize)]
pub struct Tokens {
    pub access_token: String,
    pub token_type: &'static str,
    pub expires_in: i64,
    pub refresh_token: String,
    pub refresh_expires_in: i64,
    pub user_id: Uuid,
    pub session_id: Uuid,
}

/// The signing key.
pub struct JwtKeys {
    _todo: (),
}

impl JwtKeys {
    pub fn verify_access(&self, token: &str, now: Timestamp) -> AppResult<AccessClaims> {
        let _ = (token, now);
        todo!()
    }
}
