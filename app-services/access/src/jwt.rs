//! Access and refresh tokens as JWTs (HS256), checked per RFC 8725.
//!
//! Rules:
//!
//! - Tokens are signed with HS256 and one secret of at least [`MIN_SECRET_LEN`] bytes. A token
//!   whose header names any other algorithm (`none`, HS384, HS512, RS256, ...) is refused
//!   before anything else is looked at.
//! - The issuer is [`ISSUER`]. An access token is for [`ACCESS_AUDIENCE`] and says so in its
//!   header (`typ` [`ACCESS_TOKEN_TYPE`], RFC 9068); a refresh token is for
//!   [`REFRESH_AUDIENCE`] with `typ` [`REFRESH_TOKEN_TYPE`]. One is never accepted as the
//!   other, and a token without a `typ` is neither.
//! - The claims name the user (`sub`) and the session (`sid`), both UUIDs, and carry `iat`,
//!   `exp` and a fresh `jti`. A token is valid while `exp` is after the injected "now"; the
//!   system clock is never read.
//! - Every refusal is `UNAUTHENTICATED`: `TOKEN_EXPIRED` when only the expiry failed,
//!   `INVALID_TOKEN` for anything else. No message repeats the token.

use std::io::{self, Write};
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use kernel_domain::{RejectionKind, Timestamp};
use ports_app::{AppError, AppResult};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// How long an access token lives (at most 5 minutes, per the product).
pub const ACCESS_TOKEN_TTL: Duration = Duration::minutes(5);

/// The issuer (`iss`) of every token.
pub const ISSUER: &str = "saas";
/// The audience (`aud`) of access tokens: the HTTP API.
pub const ACCESS_AUDIENCE: &str = "saas-api";
/// The audience (`aud`) of refresh tokens: only the refresh endpoint.
pub const REFRESH_AUDIENCE: &str = "saas-refresh";
/// The header `typ` of access tokens (RFC 9068).
pub const ACCESS_TOKEN_TYPE: &str = "at+jwt";
/// The header `typ` of refresh tokens.
pub const REFRESH_TOKEN_TYPE: &str = "refresh+jwt";
/// The shortest signing secret accepted, in bytes (the HS256 output size).
pub const MIN_SECRET_LEN: usize = 32;

/// How many random bytes a generated key file holds (before base64url).
const GENERATED_SECRET_LEN: usize = 64;

/// Who an access token is for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessClaims {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub expires_at: Timestamp,
}

/// Who a refresh token is for: the user and the session it may extend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshClaims {
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

/// Why a signing secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The secret is shorter than [`MIN_SECRET_LEN`] bytes.
    #[error("the JWT signing secret must be at least {MIN_SECRET_LEN} bytes, it has {0}")]
    TooShort(usize),
}

/// The claims as they travel inside a token.
#[derive(Debug, Serialize, Deserialize)]
struct WireClaims {
    iss: String,
    aud: String,
    sub: String,
    sid: String,
    iat: i64,
    exp: i64,
    jti: String,
}

/// What a verified token says, whichever its type.
struct Verified {
    user_id: Uuid,
    session_id: Uuid,
    expires_at: Timestamp,
}

/// The signing key: one HS256 secret that both signs and verifies.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(..)")
    }
}

impl JwtKeys {
    /// Keys from a secret of at least [`MIN_SECRET_LEN`] bytes.
    pub fn from_secret(secret: &[u8]) -> Result<JwtKeys, KeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort(secret.len()));
        }
        Ok(JwtKeys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
        })
    }

    /// Keys from a key file that must exist (`SAAS_JWT_KEY_FILE`): its text, trimmed, is the
    /// secret.
    pub fn load(path: &Path) -> io::Result<JwtKeys> {
        let text = std::fs::read_to_string(path)?;
        Self::from_key_text(&text)
    }

    /// Keys from the key file, or, when there is none yet, from a new random secret (64 bytes
    /// as base64url text) written to it first: parent directories are created, the file is
    /// readable by its owner only, and it appears whole or not at all. When two processes
    /// generate at once, both end up with the one file that was written first.
    pub fn load_or_generate(path: &Path) -> io::Result<JwtKeys> {
        match std::fs::read_to_string(path) {
            Ok(text) => return Self::from_key_text(&text),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let mut secret = [0u8; GENERATED_SECRET_LEN];
        rand::rngs::OsRng.fill_bytes(&mut secret);
        let text = URL_SAFE_NO_PAD.encode(secret);
        if publish_new_file(path, &text)? {
            Self::from_key_text(&text)
        } else {
            Self::load(path)
        }
    }

    fn from_key_text(text: &str) -> io::Result<JwtKeys> {
        Self::from_secret(text.trim().as_bytes())
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
    }

    /// A new access token for the user's session, valid for [`ACCESS_TOKEN_TTL`] from `now`
    /// (to the second), and when it expires.
    pub fn issue_access(
        &self,
        user: Uuid,
        session: Uuid,
        now: Timestamp,
    ) -> AppResult<(String, Timestamp)> {
        let exp = now.timestamp() + ACCESS_TOKEN_TTL.num_seconds();
        let expires = DateTime::from_timestamp(exp, 0)
            .ok_or_else(|| AppError::internal("access token expiry out of range"))?;
        let token = self.issue(ACCESS_TOKEN_TYPE, ACCESS_AUDIENCE, user, session, exp, now)?;
        Ok((token, expires))
    }

    /// A new refresh token for the user's session; it expires with the session.
    pub fn issue_refresh(
        &self,
        user: Uuid,
        session: Uuid,
        session_expires: Timestamp,
        now: Timestamp,
    ) -> AppResult<String> {
        self.issue(
            REFRESH_TOKEN_TYPE,
            REFRESH_AUDIENCE,
            user,
            session,
            session_expires.timestamp(),
            now,
        )
    }

    fn issue(
        &self,
        typ: &str,
        audience: &str,
        user: Uuid,
        session: Uuid,
        exp: i64,
        now: Timestamp,
    ) -> AppResult<String> {
        let mut header = Header::new(Algorithm::HS256);
        header.typ = Some(typ.to_owned());
        let claims = WireClaims {
            iss: ISSUER.to_owned(),
            aud: audience.to_owned(),
            sub: user.to_string(),
            sid: session.to_string(),
            iat: now.timestamp(),
            exp,
            jti: Uuid::now_v7().to_string(),
        };
        encode(&header, &claims, &self.encoding).map_err(AppError::internal)
    }

    /// Checks an access token at `now` and returns who it is for.
    pub fn verify_access(&self, token: &str, now: Timestamp) -> AppResult<AccessClaims> {
        let verified = self.verify(token, now, ACCESS_TOKEN_TYPE, ACCESS_AUDIENCE)?;
        Ok(AccessClaims {
            user_id: verified.user_id,
            session_id: verified.session_id,
            expires_at: verified.expires_at,
        })
    }

    /// Checks a refresh token at `now` and returns the session it may extend.
    pub fn verify_refresh(&self, token: &str, now: Timestamp) -> AppResult<RefreshClaims> {
        let verified = self.verify(token, now, REFRESH_TOKEN_TYPE, REFRESH_AUDIENCE)?;
        Ok(RefreshClaims {
            user_id: verified.user_id,
            session_id: verified.session_id,
            expires_at: verified.expires_at,
        })
    }

    fn verify(
        &self,
        token: &str,
        now: Timestamp,
        typ: &str,
        audience: &str,
    ) -> AppResult<Verified> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.algorithms = vec![Algorithm::HS256];
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // The library's own time checks read the system clock; expiry is checked below
        // against the injected one instead.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;

        let data = decode::<WireClaims>(token, &self.decoding, &validation).map_err(|e| {
            tracing::debug!(error = %e, expected = typ, "token refused");
            invalid_token()
        })?;
        if data.header.typ.as_deref() != Some(typ) {
            tracing::debug!(expected = typ, "token refused: wrong type");
            return Err(invalid_token());
        }
        if data.header.crit.is_some() {
            tracing::debug!("token refused: critical header parameters");
            return Err(invalid_token());
        }
        let claims = data.claims;
        let (Ok(user_id), Ok(session_id)) =
            (Uuid::try_parse(&claims.sub), Uuid::try_parse(&claims.sid))
        else {
            tracing::debug!("token refused: sub or sid is not a UUID");
            return Err(invalid_token());
        };
        let expires_at = DateTime::from_timestamp(claims.exp, 0).ok_or_else(invalid_token)?;
        if expires_at <= now {
            return Err(AppError::rejected(
                RejectionKind::Unauthenticated,
                "TOKEN_EXPIRED",
                "the token has expired",
            ));
        }
        Ok(Verified {
            user_id,
            session_id,
            expires_at,
        })
    }
}

fn invalid_token() -> AppError {
    AppError::rejected(
        RejectionKind::Unauthenticated,
        "INVALID_TOKEN",
        "the token is not valid",
    )
}

/// Writes `text` to a private temporary file next to `path` and links it into place unless
/// `path` exists by then. Returns whether this call's file is the one at `path`.
fn publish_new_file(path: &Path, text: &str) -> io::Result<bool> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let temp = dir.join(format!(".{name}.{}.tmp", Uuid::now_v7().simple()));
    let written = write_private(&temp, text);
    let published = written.and_then(|()| match std::fs::hard_link(&temp, path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(false),
        // A file system without hard links: rename instead (last writer wins).
        Err(_) => std::fs::rename(&temp, path).map(|()| true),
    });
    if let Err(e) = std::fs::remove_file(&temp)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(error = %e, file = %temp.display(), "cannot remove a temporary key file");
    }
    published
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}
