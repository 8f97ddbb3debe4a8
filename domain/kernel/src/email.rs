use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// An email address: trimmed, lower-cased, at most 254 characters, and syntactically valid
/// (`local@domain`, a dotted domain of letters, digits and hyphens).
///
/// The check is deliberately conservative rather than a full RFC 5322 parser: what it accepts
/// is an address a mail server will take.
///
/// The address is immutable and shared: a copy of an aggregate (a workspace copies every
/// invitation's address each time a command decides on it) shares the text instead of
/// allocating it again, and two copies compare equal without reading it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct Email(Arc<str>);

/// Why a text is not an [`Email`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EmailError {
    /// Nothing but whitespace.
    #[error("the email address is empty")]
    Empty,
    /// More than 254 characters after trimming.
    #[error("the email address is longer than 254 characters")]
    TooLong,
    /// Not of the form `local@domain.tld`.
    #[error("the email address is not valid")]
    Invalid,
}

impl Email {
    /// The longest address SMTP can carry.
    pub const MAX_LEN: usize = 254;

    /// Parses and normalises an address as a user typed it.
    pub fn parse(raw: &str) -> Result<Self, EmailError> {
        let trimmed = raw.trim();
        if trimmed.is_empty() {
            return Err(EmailError::Empty);
        }
        if trimmed.chars().count() > Self::MAX_LEN {
            return Err(EmailError::TooLong);
        }
        let email = trimmed.to_lowercase();
        let (local, domain) = email.rsplit_once('@').ok_or(EmailError::Invalid)?;
        if !valid_local_part(local) || !valid_domain(domain) {
            return Err(EmailError::Invalid);
        }
        Ok(Email(email.into()))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn valid_local_part(local: &str) -> bool {
    const SPECIAL: &str = "!#$%&'*+/=?^_`{|}~.-";
    !local.is_empty()
        && local.len() <= 64
        && !local.starts_with('.')
        && !local.ends_with('.')
        && !local.contains("..")
        && local
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || SPECIAL.contains(c))
}

fn valid_domain(domain: &str) -> bool {
    let labels: Vec<&str> = domain.split('.').collect();
    labels.len() >= 2
        && domain.len() <= 253
        && labels.iter().all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
        && labels
            .last()
            .is_some_and(|tld| tld.chars().all(|c| c.is_ascii_alphabetic()) && tld.len() >= 2)
}

impl TryFrom<String> for Email {
    type Error = EmailError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Email::parse(&value)
    }
}

impl From<Email> for String {
    fn from(email: Email) -> Self {
        email.0.as_ref().to_owned()
    }
}

impl Serialize for Email {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl std::fmt::Display for Email {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn email_is_trimmed_and_lower_cased() {
        let email = Email::parse("  Ada.Lovelace@Example.COM \n").unwrap();
        assert_eq!(email.as_str(), "ada.lovelace@example.com");
    }

    #[test]
    fn email_must_not_be_empty() {
        assert_eq!(Email::parse("   "), Err(EmailError::Empty));
    }

    #[test]
    fn email_is_at_most_254_characters() {
        let long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
        assert_eq!(Email::parse(&long), Err(EmailError::TooLong));
    }

    #[test]
    fn email_must_be_syntactically_valid() {
        for bad in [
            "plain",
            "@example.com",
            "a@",
            "a@b",
            "a@-b.com",
            "a..b@c.com",
            "a b@c.com",
            "a@b.c",
            "a@b..com",
            ".a@b.com",
        ] {
            assert_eq!(Email::parse(bad), Err(EmailError::Invalid), "{bad}");
        }
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_valid_emails_are_normal(s in "\\PC{0,300}") {
            if let Ok(email) = Email::parse(&s) {
                prop_assert_eq!(email.as_str(), email.as_str().trim().to_lowercase());
                prop_assert!(email.as_str().chars().count() <= Email::MAX_LEN);
                prop_assert_eq!(Email::parse(email.as_str()), Ok(email.clone()));
            }
        }

        #[test]
        fn generated_addresses_parse(local in "[a-z0-9]{1,20}", domain in "[a-z0-9]{1,20}", tld in "[a-z]{2,6}") {
            let raw = format!("{local}@{domain}.{tld}");
            prop_assert_eq!(Email::parse(&raw).map(|e| e.as_str().to_owned()), Ok(raw));
        }
    }
}
