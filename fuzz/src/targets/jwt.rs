//! The JWT checker on tokens a client could send: arbitrary text, three arbitrary segments,
//! and (the inputs that reach past the signature) tokens signed with the right key whose
//! header and claims are arbitrary JSON around the fields the checker reads. It never
//! panics; it accepts only an unexpired token of the expected type and audience whose
//! subject and session are UUIDs; and no one-character change of an issued token passes.

use access_app::JwtKeys;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, EncodingKey};
use kernel_domain::Uuid;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

use super::{instant, text};
use crate::fuzz;

const SECRET: &[u8] = b"a signing secret of at least thirty-two bytes";

fn keys() -> JwtKeys {
    JwtKeys::from_secret(SECRET).unwrap_or_else(|e| panic!("{e}"))
}

/// A JSON value of any type, small.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A field value: mostly a right one, sometimes a near miss, sometimes anything.
fn field(right: Value, near: Vec<Value>) -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        24 => Just(Some(right)),
        1 => prop::sample::select(near).prop_map(Some),
        1 => Just(None),
        1 => json_value().prop_map(Some),
    ]
}

fn object(fields: Vec<(&'static str, Option<Value>)>, extra: Map<String, Value>) -> Value {
    let mut object = extra;
    for (name, value) in fields {
        if let Some(value) = value {
            object.insert(name.to_owned(), value);
        }
    }
    Value::Object(object)
}

fn extra() -> impl Strategy<Value = Map<String, Value>> {
    let fields = prop::collection::btree_map(
        prop_oneof![
            Just("crit".to_owned()),
            Just("kid".to_owned()),
            "[a-z]{1,5}"
        ],
        json_value(),
        1..3,
    )
    .prop_map(|m| m.into_iter().collect());
    prop_oneof![3 => Just(Map::new()), 1 => fields]
}

/// A token signed with the right key (HS256), with a header and claims around the fields
/// the checker reads.
fn signed(now: DateTime<Utc>) -> impl Strategy<Value = String> {
    let id = Uuid::from_u128(42).to_string();
    let uuid = Value::from(id.clone());
    let upper = Value::from(id.to_uppercase());
    let exp = vec![
        json!(now.timestamp()),
        json!(now.timestamp() - 1),
        json!(i64::MAX),
        json!(i64::MIN),
        json!(u64::MAX),
        json!(1e300),
        json!("9999999999"),
    ];
    let typ = vec![json!("JWT"), json!("AT+JWT"), json!("")];
    // Access or refresh: the type and audience go together unless mixed up on purpose.
    let kind = prop_oneof![
        Just(("at+jwt", "saas-api")),
        Just(("refresh+jwt", "saas-refresh")),
        Just(("at+jwt", "saas-refresh")),
    ];
    kind.prop_flat_map(move |(typ_right, aud_right)| {
        let header = (
            field(
                json!("HS256"),
                vec![json!("none"), json!("HS512"), json!("hs256")],
            ),
            field(json!(typ_right), typ.clone()),
            extra(),
        )
            .prop_map(|(alg, typ, extra)| object(vec![("alg", alg), ("typ", typ)], extra));
        let claims = (
            (
                field(json!("saas"), vec![json!("Saas"), json!(["saas"])]),
                field(
                    json!(aud_right),
                    vec![json!([aud_right]), json!([aud_right, "x"])],
                ),
                field(uuid.clone(), vec![json!("not-a-uuid"), json!(42)]),
                field(uuid.clone(), vec![json!(""), upper.clone()]),
            ),
            (
                field(json!((now + Duration::minutes(5)).timestamp()), exp.clone()),
                field(json!(now.timestamp()), vec![json!(-1)]),
                field(
                    json!("0192f0c4-6a43-7b7e-9d3c-1f1f2b2b3c3c"),
                    vec![json!(7)],
                ),
                extra(),
            ),
        )
            .prop_map(|((iss, aud, sub, sid), (exp, iat, jti, extra))| {
                object(
                    vec![
                        ("iss", iss),
                        ("aud", aud),
                        ("sub", sub),
                        ("sid", sid),
                        ("exp", exp),
                        ("iat", iat),
                        ("jti", jti),
                    ],
                    extra,
                )
            });
        (header, claims).prop_map(|(header, claims)| {
            let message = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header.to_string()),
                URL_SAFE_NO_PAD.encode(claims.to_string())
            );
            let key = EncodingKey::from_secret(SECRET);
            let signature = jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256)
                .unwrap_or_else(|e| panic!("{e}"));
            format!("{message}.{signature}")
        })
    })
}

/// Three segments of arbitrary bytes.
fn segments() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::collection::vec(any::<u8>(), 0..64), 3).prop_map(|parts| {
        parts
            .iter()
            .map(|p| URL_SAFE_NO_PAD.encode(p))
            .collect::<Vec<_>>()
            .join(".")
    })
}

/// The claims as the token carries them (the signature was checked by then).
fn claims_of(token: &str) -> Option<(Value, Value)> {
    let mut parts = token.split('.');
    let header = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    let claims = URL_SAFE_NO_PAD.decode(parts.next()?).ok()?;
    Some((
        serde_json::from_slice(&header).ok()?,
        serde_json::from_slice(&claims).ok()?,
    ))
}

#[test]
fn jwt_checker() {
    let now = DateTime::from_timestamp(1_900_000_000, 0).unwrap_or_default();
    let token = prop_oneof![2 => text(), 2 => segments(), 6 => signed(now)];
    let keys = keys();
    fuzz("jwt_checker", token, |token| {
        let access = keys.verify_access(&token, now);
        let refresh = keys.verify_refresh(&token, now);
        prop_assert!(access.is_err() || refresh.is_err(), "one token, both types");
        let expiry = access
            .as_ref()
            .map(|c| c.expires_at)
            .or(refresh.as_ref().map(|c| c.expires_at));
        if let Ok(expires_at) = expiry {
            prop_assert!(expires_at > now, "an expired token passed");
            let Some((header, claims)) = claims_of(&token) else {
                return Err(TestCaseError::fail("an undecodable token passed"));
            };
            prop_assert_eq!(&header["alg"], "HS256");
            // `"crit": null` reads as no critical parameters, which asks for nothing.
            prop_assert!(
                header.get("crit").is_none_or(Value::is_null),
                "a token with critical parameters passed"
            );
            prop_assert_eq!(&claims["iss"], "saas");
            let typ = if access.is_ok() {
                "at+jwt"
            } else {
                "refresh+jwt"
            };
            prop_assert_eq!(&header["typ"], typ);
            for field in ["sub", "sid"] {
                let id = claims[field].as_str().map(Uuid::try_parse);
                prop_assert!(matches!(id, Some(Ok(_))), "{field} is not a UUID");
            }
        }
        Ok(())
    });
}

#[test]
fn issued_tokens_pass_and_no_one_character_change_does() {
    let keys = keys();
    let strategy = (
        instant(),
        any::<u128>(),
        any::<u128>(),
        any::<prop::sample::Index>(),
        "[A-Za-z0-9_.=-]",
    );
    fuzz(
        "issued_tokens_pass_and_no_one_character_change_does",
        strategy,
        |(now, user, session, at, replacement)| {
            let (user, session) = (Uuid::from_u128(user), Uuid::from_u128(session));
            let (token, expires) = keys.issue_access(user, session, now).map_err(fail)?;
            let claims = keys.verify_access(&token, now).map_err(fail)?;
            prop_assert_eq!((claims.user_id, claims.session_id), (user, session));
            prop_assert_eq!(claims.expires_at, expires);
            prop_assert!(keys.verify_refresh(&token, now).is_err());
            prop_assert!(
                keys.verify_access(&token, expires).is_err(),
                "valid at expiry"
            );

            let i = at.index(token.len());
            let mut changed = token.clone();
            changed.replace_range(i..=i, &replacement);
            if changed != token {
                prop_assert!(
                    keys.verify_access(&changed, now).is_err(),
                    "changed at {i}: {changed}"
                );
            }
            Ok(())
        },
    );
}

fn fail(error: impl std::fmt::Debug) -> TestCaseError {
    TestCaseError::fail(format!("{error:?}"))
}
