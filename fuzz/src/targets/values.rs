//! The value objects' constructors on arbitrary input: they never panic; what they accept
//! they accept again unchanged (normal forms are fixed points); and reading a stored value
//! through serde agrees with parsing it.

use billing_domain::{Money, Plan, Seats};
use identity_domain::{DisplayName, Password, SuspensionReason};
use kernel_domain::{Email, TokenHash, Version};
use notifications_domain::{EntryKind, Payload};
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use serde::de::DeserializeOwned;
use workspace_domain::{Slug, WorkspaceName};

use super::text;
use crate::fuzz;

/// `parse` is total, its accepted values are fixed points, and serde (`try_from = "String"`)
/// accepts exactly what `parse` accepts.
fn text_value<T, E>(
    raw: &str,
    parse: impl Fn(&str) -> Result<T, E>,
    show: impl Fn(&T) -> &str,
    serde: bool,
) -> TestCaseResult
where
    T: PartialEq + std::fmt::Debug + DeserializeOwned,
{
    let parsed = parse(raw);
    if let Ok(value) = &parsed {
        let again = parse(show(value));
        prop_assert!(
            again.as_ref().ok() == Some(value),
            "{value:?} is not a fixed point"
        );
    }
    if serde {
        let read = serde_json::from_value::<T>(serde_json::Value::String(raw.to_owned()));
        prop_assert_eq!(
            read.ok(),
            parsed.ok(),
            "serde and parse disagree on {:?}",
            raw
        );
    }
    Ok(())
}

#[test]
fn text_value_objects() {
    fuzz("text_value_objects", text(), |raw| {
        text_value(&raw, Email::parse, Email::as_str, true)?;
        text_value(&raw, DisplayName::parse, DisplayName::as_str, true)?;
        text_value(
            &raw,
            SuspensionReason::parse,
            SuspensionReason::as_str,
            true,
        )?;
        text_value(&raw, Slug::parse, Slug::as_str, true)?;
        text_value(&raw, WorkspaceName::parse, WorkspaceName::as_str, true)?;
        text_value(&raw, EntryKind::parse, EntryKind::as_str, false)?;
        text_value(&raw, Payload::parse, Payload::as_str, false)?;
        if let Ok(password) = Password::parse(&raw) {
            prop_assert!(Password::parse(password.expose()).is_ok());
        }
        if let Ok(plan) = Plan::parse(&raw) {
            prop_assert_eq!(Plan::parse(plan.as_str()).ok(), Some(plan));
        }
        Ok(())
    });
}

#[test]
fn etags_and_token_hashes() {
    let etag = prop_oneof![
        text(),
        "W/\"v[0-9]{0,22}\"",
        any::<u64>().prop_map(|n| format!("W/\"v{n}\"")),
    ];
    let hex = prop_oneof![text(), "[0-9a-fA-F]{60,68}"];
    fuzz("etags_and_token_hashes", (etag, hex), |(etag, hex)| {
        if let Ok(version) = Version::parse_etag(&etag) {
            prop_assert_eq!(version.to_etag(), etag.clone());
            prop_assert!(
                i64::try_from(version.get()).is_ok(),
                "{} does not fit a column",
                etag
            );
        }
        if let Ok(hash) = TokenHash::from_hex(&hex) {
            let again = TokenHash::from_hex(&hash.to_hex());
            prop_assert!(again.is_ok_and(|h| h.matches(&hash)));
            prop_assert_eq!(hash.to_hex(), hex.to_ascii_lowercase());
        }
        Ok(())
    });
}

#[test]
fn numbers() {
    fuzz(
        "numbers",
        (any::<u32>(), any::<u64>(), any::<u64>()),
        |(seats, a, b)| {
            match Seats::parse(seats) {
                Ok(s) => prop_assert_eq!(s.get(), seats),
                Err(_) => prop_assert_eq!(seats, 0),
            }
            let read = serde_json::from_value::<Seats>(serde_json::json!(seats));
            prop_assert_eq!(read.ok(), Seats::parse(seats).ok());
            let (x, y) = (Money::from_cents(a), Money::from_cents(b));
            prop_assert_eq!(x.checked_add(y).map(Money::cents), a.checked_add(b));
            prop_assert_eq!(x.checked_sub(y).map(Money::cents), a.checked_sub(b));
            prop_assert_eq!(x.checked_mul(b).map(Money::cents), a.checked_mul(b));
            Ok(())
        },
    );
}
