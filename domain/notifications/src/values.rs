//! Value objects that parse rather than validate: an [`EntryKind`] or a [`Payload`] that
//! exists is valid.

use serde::{Deserialize, Serialize};

use crate::{FeedError, MAX_KIND_LEN, MAX_PAYLOAD_BYTES};

kernel_domain::text_value! {
    /// What kind of notification an entry is: snake_case, a lower-case ASCII letter followed
    /// by lower-case ASCII letters, digits or `_`, 1 to [`MAX_KIND_LEN`] characters in all
    /// (`subscription_past_due`), taken exactly as given (no trimming, no case folding).
    pub struct EntryKind { rule: entry_kind, error: FeedError = std::convert::identity }
}

fn entry_kind(raw: &str) -> Result<&str, FeedError> {
    let mut chars = raw.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if first_ok && rest_ok && raw.len() <= MAX_KIND_LEN {
        Ok(raw)
    } else {
        Err(FeedError::InvalidKind)
    }
}

/// The details of an entry: a JSON object of at most [`MAX_PAYLOAD_BYTES`] bytes, kept
/// exactly as given.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Payload(String);

impl Payload {
    /// Parses a payload: the size is checked first, then that the text is one JSON object.
    pub fn parse(raw: &str) -> Result<Payload, FeedError> {
        if raw.len() > MAX_PAYLOAD_BYTES {
            return Err(FeedError::PayloadTooLarge { bytes: raw.len() });
        }
        serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(raw)
            .map_err(|_| FeedError::PayloadNotAnObject)?;
        Ok(Payload(raw.to_owned()))
    }

    /// The JSON text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
