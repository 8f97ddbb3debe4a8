use serde::{Deserialize, Serialize};

/// How many commands an aggregate has accepted: 1 after creation, +1 per accepted command.
///
/// On the wire it travels as an opaque etag (AIP-154). Only versions the server issued parse
/// back; anything else is an [`EtagError`], which callers answer as bad input, not as a
/// conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Version(u64);

/// An etag that the server could not have issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the etag is not one this service issued")]
pub struct EtagError;

impl Version {
    /// The version of a freshly created aggregate.
    pub const INITIAL: Version = Version(1);

    /// A version read back from storage.
    pub const fn new(value: u64) -> Self {
        Version(value)
    }

    /// The version after one more accepted command.
    #[must_use]
    pub const fn next(self) -> Self {
        Version(self.0 + 1)
    }

    /// The number itself.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The opaque wire form, e.g. `W/"v7"`.
    pub fn to_etag(self) -> String {
        format!("W/\"v{}\"", self.0)
    }

    /// Parses an etag this service issued.
    pub fn parse_etag(etag: &str) -> Result<Self, EtagError> {
        let digits = etag
            .strip_prefix("W/\"v")
            .and_then(|rest| rest.strip_suffix('"'))
            .ok_or(EtagError)?;
        if digits.is_empty()
            || !digits.bytes().all(|b| b.is_ascii_digit())
            || digits.starts_with('0')
        {
            return Err(EtagError);
        }
        // Versions are stored as signed 64-bit integers: larger ones were never issued.
        digits
            .parse::<u64>()
            .ok()
            .filter(|v| *v <= i64::MAX as u64)
            .map(Version)
            .ok_or(EtagError)
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_new_aggregate_starts_at_version_one() {
        assert_eq!(Version::INITIAL.get(), 1);
        assert_eq!(Version::INITIAL.next().get(), 2);
    }

    #[test]
    fn etags_the_server_never_issued_are_refused() {
        for bad in [
            "",
            "7",
            "\"7\"",
            "W/\"v\"",
            "W/\"v0\"",
            "W/\"v07\"",
            "W/\"v-1\"",
            "W/\"v1",
            "W/\"v99999999999999999999999\"",
            "W/\"v9223372036854775808\"",
        ] {
            assert_eq!(Version::parse_etag(bad), Err(EtagError), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn every_issued_etag_parses_back_to_its_version(v in 1u64..=i64::MAX as u64) {
            let version = Version::new(v);
            prop_assert_eq!(Version::parse_etag(&version.to_etag()), Ok(version));
        }

        #[test]
        fn parsing_arbitrary_text_never_panics(s in ".*") {
            let _ = Version::parse_etag(&s);
        }
    }
}
