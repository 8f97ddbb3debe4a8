//! The stream's resume point, read from the `Last-Event-ID` header or the `last_event_id`
//! query parameter: never a panic, a 400 `INVALID_FIELD` or `MALFORMED_QUERY` for anything
//! that is not a whole number of at least 0, and the number itself otherwise.

use edge_app::handlers::feed::resume_point;
use http::{HeaderMap, HeaderValue, StatusCode, Uri};
use proptest::prelude::*;

use super::text;
use crate::fuzz;

/// Header bytes: numbers with odd signs, spaces and lengths, arbitrary text and bytes.
fn header_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        3 => "[ \\t]{0,2}[+-]?[0-9]{0,25}[ \\t]{0,2}".prop_map(String::into_bytes),
        2 => any::<i64>().prop_map(|n| n.to_string().into_bytes()),
        2 => text().prop_map(String::into_bytes),
        2 => prop::collection::vec(any::<u8>(), 0..30),
    ]
}

/// A query string: the parameter (once, twice or not at all) among others, percent-encoded
/// or raw.
fn query() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        "[+-]?[0-9]{0,22}",
        "(%[0-9A-Fa-f]{2}|[a-z0-9+&=;])*",
        text().prop_map(|t| t.replace(|c: char| !c.is_ascii_graphic(), "")),
    ];
    prop::collection::vec(
        (
            prop_oneof![
                Just("last_event_id"),
                Just("last%5Fevent%5Fid"),
                Just("ticket")
            ],
            value,
        ),
        0..3,
    )
    .prop_map(|pairs| {
        pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&")
    })
}

/// What a whole number of at least 0 reads as: exactly the integer the document describes,
/// with no surrounding blanks (a blank value means no resume point).
fn whole(raw: &str) -> Option<i64> {
    raw.parse::<i64>().ok().filter(|n| *n >= 0)
}

#[test]
fn last_event_id() {
    let strategy = (prop::option::of(header_bytes()), query());
    fuzz("last_event_id", strategy, |(header, query)| {
        let mut headers = HeaderMap::new();
        let mut sent = None;
        if let Some(bytes) = &header
            && let Ok(value) = HeaderValue::from_bytes(bytes)
        {
            headers.insert("last-event-id", value);
            sent = Some(bytes.clone());
        }
        let Ok(uri) = format!("/v1/me/feed/stream?{query}").parse::<Uri>() else {
            return Ok(());
        };
        match resume_point(&headers, &uri) {
            Ok(resume) => {
                if let Some(n) = resume {
                    prop_assert!(n >= 0);
                }
                if let Some(bytes) = sent {
                    let text = std::str::from_utf8(&bytes).map_err(|_| {
                        TestCaseError::fail("a header that is not text was accepted")
                    })?;
                    let expected = if text.trim().is_empty() {
                        None
                    } else {
                        whole(text)
                    };
                    prop_assert_eq!(resume, expected);
                }
            }
            Err(error) => {
                prop_assert_eq!(error.status_code(), StatusCode::BAD_REQUEST);
                prop_assert!(
                    ["INVALID_FIELD", "MALFORMED_QUERY"].contains(&&*error.code),
                    "{}",
                    error.code
                );
                // A visible-ASCII header is refused only when it is not a whole number.
                if let Some(bytes) = sent
                    && bytes
                        .iter()
                        .all(|b| *b == b'\t' || (0x20..0x7f).contains(b))
                {
                    let text = String::from_utf8_lossy(&bytes);
                    prop_assert!(whole(&text).is_none() && !text.trim().is_empty());
                }
            }
        }
        Ok(())
    });
}
