//! The tokens: what they carry, and every way a forged or misused one is refused
//! (QUALITY.md: alg none, wrong key or algorithm, wrong issuer or audience, expired, wrong
//! type).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use super::*;
use crate::KeyError;
use crate::jwt::{ACCESS_TOKEN_TTL, MIN_SECRET_LEN};

fn decode_part(part: &str) -> Value {
    let bytes = URL_SAFE_NO_PAD.decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("json")
}

fn parts(token: &str) -> Vec<String> {
    token.split('.').map(str::to_owned).collect()
}

/// Valid access-token claims for a fresh user and session, expiring after the TTL.
fn access_claims() -> Value {
    json!({
        "iss": "saas",
        "aud": "saas-api",
        "sub": Uuid::now_v7().to_string(),
        "sid": Uuid::now_v7().to_string(),
        "iat": start().timestamp(),
        "exp": (start() + ACCESS_TOKEN_TTL).timestamp(),
        "jti": Uuid::now_v7().to_string(),
    })
}

/// A token signed by hand with `alg`, `typ` and `secret`.
fn sign(alg: Algorithm, typ: Option<&str>, claims: &Value, secret: &[u8]) -> String {
    let mut header = Header::new(alg);
    header.typ = typ.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_secret(secret)).expect("signed")
}

fn with(mut claims: Value, key: &str, value: Value) -> Value {
    claims[key] = value;
    claims
}

fn without(mut claims: Value, key: &str) -> Value {
    if let Some(map) = claims.as_object_mut() {
        map.remove(key);
    }
    claims
}

/// Asserts the access token is refused as `INVALID_TOKEN`, without repeating it.
#[track_caller]
fn assert_invalid_access(token: &str) {
    let error = keys()
        .verify_access(token, start())
        .expect_err("must be refused");
    assert_eq!(
        error.kind,
        ErrorKind::Rejected(RejectionKind::Unauthenticated)
    );
    assert_eq!(error.code, "INVALID_TOKEN");
    assert_not_echoed(&error, token);
}

#[track_caller]
fn assert_not_echoed(error: &AppError, token: &str) {
    if !token.is_empty() {
        assert!(!error.message.contains(token));
        assert!(!error.to_string().contains(token));
    }
}

#[test]
fn a_secret_shorter_than_32_bytes_is_refused() {
    assert_eq!(
        JwtKeys::from_secret(&[1u8; MIN_SECRET_LEN - 1]).map(|_| ()),
        Err(KeyError::TooShort(31))
    );
    assert!(JwtKeys::from_secret(&[1u8; MIN_SECRET_LEN]).is_ok());
}

#[test]
fn an_access_token_is_an_hs256_at_jwt_with_the_expected_claims() {
    let (user_id, session_id) = (Uuid::now_v7(), Uuid::now_v7());
    let (token, expires) = keys()
        .issue_access(user_id, session_id, start())
        .expect("issued");

    let parts = parts(&token);
    assert_eq!(parts.len(), 3);
    let header = decode_part(&parts[0]);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "at+jwt");
    let claims = decode_part(&parts[1]);
    assert_eq!(claims["iss"], "saas");
    assert_eq!(claims["aud"], "saas-api");
    assert_eq!(claims["sub"], user_id.to_string());
    assert_eq!(claims["sid"], session_id.to_string());
    assert_eq!(claims["iat"], start().timestamp());
    assert_eq!(claims["exp"], (start() + ACCESS_TOKEN_TTL).timestamp());
    let jti = Uuid::try_parse(claims["jti"].as_str().expect("a string")).expect("a uuid");
    assert_eq!(jti.get_version_num(), 7);
    assert_eq!(expires, start() + ACCESS_TOKEN_TTL);
}

#[test]
fn a_refresh_token_is_a_refresh_jwt_for_the_refresh_audience_expiring_with_the_session() {
    let (user_id, session_id) = (Uuid::now_v7(), Uuid::now_v7());
    let token = keys()
        .issue_refresh(user_id, session_id, session_expiry(), start())
        .expect("issued");

    let parts = parts(&token);
    let header = decode_part(&parts[0]);
    assert_eq!(header["alg"], "HS256");
    assert_eq!(header["typ"], "refresh+jwt");
    let claims = decode_part(&parts[1]);
    assert_eq!(claims["iss"], "saas");
    assert_eq!(claims["aud"], "saas-refresh");
    assert_eq!(claims["sub"], user_id.to_string());
    assert_eq!(claims["sid"], session_id.to_string());
    assert_eq!(claims["exp"], session_expiry().timestamp());

    let verified = keys()
        .verify_refresh(&token, start())
        .expect("a valid refresh token");
    assert_eq!(verified.user_id, user_id);
    assert_eq!(verified.session_id, session_id);
    assert_eq!(verified.expires_at, session_expiry());
}

#[test]
fn each_token_has_its_own_id() {
    let (user_id, session_id) = (Uuid::now_v7(), Uuid::now_v7());
    let (a, _) = keys()
        .issue_access(user_id, session_id, start())
        .expect("issued");
    let (b, _) = keys()
        .issue_access(user_id, session_id, start())
        .expect("issued");
    assert_ne!(
        decode_part(&parts(&a)[1])["jti"],
        decode_part(&parts(&b)[1])["jti"]
    );
}

#[test]
fn a_hand_signed_token_with_the_right_claims_is_accepted() {
    // The baseline the negative cases below differ from in one thing each.
    let claims = access_claims();
    let token = sign(Algorithm::HS256, Some("at+jwt"), &claims, SECRET);
    let verified = keys().verify_access(&token, start()).expect("valid");
    assert_eq!(verified.user_id.to_string(), claims["sub"]);
    assert_eq!(verified.session_id.to_string(), claims["sid"]);
}

#[test]
fn alg_none_is_refused() {
    let claims = access_claims();
    for header in [
        json!({"alg": "none", "typ": "at+jwt"}),
        json!({"alg": "None", "typ": "at+jwt"}),
        json!({"alg": "NONE", "typ": "at+jwt"}),
    ] {
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string()),
        );
        assert_invalid_access(&unsigned);
        // The same with a signature that would be valid for HS256.
        let signed = sign(Algorithm::HS256, Some("at+jwt"), &claims, SECRET);
        let signature = &parts(&signed)[2];
        assert_invalid_access(&format!("{unsigned}{signature}"));
    }
}

#[test]
fn a_token_signed_with_another_key_is_refused() {
    let token = sign(
        Algorithm::HS256,
        Some("at+jwt"),
        &access_claims(),
        b"another secret that is at least 32 bytes long",
    );
    assert_invalid_access(&token);
}

#[test]
fn other_hmac_algorithms_with_the_same_key_are_refused() {
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign(alg, Some("at+jwt"), &access_claims(), SECRET);
        assert_invalid_access(&token);
    }
}

#[test]
fn an_rs256_header_over_an_hmac_signature_is_refused() {
    let token = sign(Algorithm::HS256, Some("at+jwt"), &access_claims(), SECRET);
    let parts = parts(&token);
    let header = URL_SAFE_NO_PAD.encode(json!({"alg": "RS256", "typ": "at+jwt"}).to_string());
    assert_invalid_access(&format!("{header}.{}.{}", parts[1], parts[2]));
}

#[test]
fn a_wrong_or_missing_issuer_is_refused() {
    let claims = access_claims();
    for claims in [
        with(claims.clone(), "iss", json!("someone-else")),
        with(claims.clone(), "iss", json!("")),
        without(claims, "iss"),
    ] {
        assert_invalid_access(&sign(Algorithm::HS256, Some("at+jwt"), &claims, SECRET));
    }
}

#[test]
fn a_wrong_or_missing_audience_is_refused() {
    let claims = access_claims();
    for claims in [
        with(claims.clone(), "aud", json!("saas-refresh")),
        with(claims.clone(), "aud", json!("another-api")),
        with(claims.clone(), "aud", json!(["another-api"])),
        without(claims, "aud"),
    ] {
        assert_invalid_access(&sign(Algorithm::HS256, Some("at+jwt"), &claims, SECRET));
    }
}

#[test]
fn an_access_token_with_the_refresh_audience_is_not_a_refresh_token_either() {
    // Right type, wrong audience: refused as a refresh token.
    let claims = with(access_claims(), "aud", json!("saas-api"));
    let token = sign(Algorithm::HS256, Some("refresh+jwt"), &claims, SECRET);
    let error = keys().verify_refresh(&token, start()).expect_err("refused");
    assert_eq!(error.code, "INVALID_TOKEN");
}

#[test]
fn an_expired_token_is_refused_as_expired_on_the_injected_clock() {
    let (token, expires) = keys()
        .issue_access(Uuid::now_v7(), Uuid::now_v7(), start())
        .expect("issued");
    let keys = keys();

    assert!(
        keys.verify_access(&token, expires - Duration::seconds(1))
            .is_ok()
    );
    for now in [expires, expires + Duration::days(365)] {
        let error = keys.verify_access(&token, now).expect_err("expired");
        assert_eq!(
            error.kind,
            ErrorKind::Rejected(RejectionKind::Unauthenticated)
        );
        assert_eq!(error.code, "TOKEN_EXPIRED");
        assert_not_echoed(&error, &token);
    }
}

#[test]
fn a_token_long_expired_by_the_system_clock_is_valid_while_the_injected_clock_says_so() {
    // Proves the library's own system-clock checks are off: this token expired in 2001.
    let claims = with(access_claims(), "exp", json!(1_000_000_300));
    let claims = with(claims, "iat", json!(1_000_000_000));
    let token = sign(Algorithm::HS256, Some("at+jwt"), &claims, SECRET);
    let then = DateTime::from_timestamp(1_000_000_000, 0).expect("a time");
    assert!(keys().verify_access(&token, then).is_ok());
}

#[test]
fn a_token_without_an_expiry_is_refused() {
    let claims = without(access_claims(), "exp");
    assert_invalid_access(&sign(Algorithm::HS256, Some("at+jwt"), &claims, SECRET));
}

#[test]
fn a_refresh_token_is_not_an_access_token() {
    let token = keys()
        .issue_refresh(Uuid::now_v7(), Uuid::now_v7(), session_expiry(), start())
        .expect("issued");
    assert_invalid_access(&token);
}

#[test]
fn an_access_token_is_not_a_refresh_token() {
    let (token, _) = keys()
        .issue_access(Uuid::now_v7(), Uuid::now_v7(), start())
        .expect("issued");
    let error = keys().verify_refresh(&token, start()).expect_err("refused");
    assert_eq!(
        error.kind,
        ErrorKind::Rejected(RejectionKind::Unauthenticated)
    );
    assert_eq!(error.code, "INVALID_TOKEN");
    assert_not_echoed(&error, &token);
}

#[test]
fn a_missing_or_other_type_is_refused() {
    let claims = access_claims();
    for typ in [
        None,
        Some("JWT"),
        Some("jwt"),
        Some("refresh+jwt"),
        Some("AT+JWT"),
    ] {
        assert_invalid_access(&sign(Algorithm::HS256, typ, &claims, SECRET));
    }
}

#[test]
fn garbage_is_refused() {
    for garbage in [
        "",
        "garbage",
        "a.b",
        "a.b.c",
        "a.b.c.d",
        "...",
        "eyJhbGciOiJIUzI1NiJ9..",
        "\u{0}\u{1}",
    ] {
        assert_invalid_access(garbage);
    }
}

#[test]
fn a_tampered_payload_is_refused() {
    let (token, _) = keys()
        .issue_access(Uuid::now_v7(), Uuid::now_v7(), start())
        .expect("issued");
    let parts = parts(&token);
    let claims = with(
        decode_part(&parts[1]),
        "sub",
        json!(Uuid::now_v7().to_string()),
    );
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        parts[2]
    );
    assert_invalid_access(&tampered);

    let longer = with(
        decode_part(&parts[1]),
        "exp",
        json!(start().timestamp() + 86_400),
    );
    let extended = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(longer.to_string()),
        parts[2]
    );
    assert_invalid_access(&extended);
}

#[test]
fn a_tampered_signature_is_refused() {
    let (token, _) = keys()
        .issue_access(Uuid::now_v7(), Uuid::now_v7(), start())
        .expect("issued");
    let parts = parts(&token);
    let mut signature = URL_SAFE_NO_PAD.decode(&parts[2]).expect("base64url");
    signature[0] ^= 1;
    assert_invalid_access(&format!(
        "{}.{}.{}",
        parts[0],
        parts[1],
        URL_SAFE_NO_PAD.encode(signature)
    ));
    assert_invalid_access(&format!("{}.{}.", parts[0], parts[1]));
}

#[test]
fn subjects_and_sessions_that_are_not_uuids_are_refused() {
    let claims = access_claims();
    for claims in [
        with(claims.clone(), "sub", json!("ada")),
        with(claims.clone(), "sid", json!("session-1")),
        with(claims.clone(), "sub", json!(42)),
        without(claims.clone(), "sub"),
        without(claims, "sid"),
    ] {
        assert_invalid_access(&sign(Algorithm::HS256, Some("at+jwt"), &claims, SECRET));
    }
}

#[test]
fn critical_header_parameters_are_refused() {
    let claims = access_claims();
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    header.crit = Some(vec!["exp".to_owned()]);
    let token =
        jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(SECRET)).expect("signed");
    assert_invalid_access(&token);
}
