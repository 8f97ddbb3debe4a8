use serde::{Deserialize, Serialize};

/// The SHA-256 hash of a single-use secret token (email verification, password reset,
/// invitations).
///
/// The application makes the random token and sends it to the user; the adapter hashes it;
/// the aggregate keeps only this hash and compares presented hashes in constant time with
/// [`TokenHash::matches`]. Stored as 64 lower-case hex digits; `Debug` does not print it.
#[derive(Clone, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct TokenHash([u8; 32]);

/// A stored token hash that is not 64 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a token hash is 64 hex digits")]
pub struct TokenHashError;

impl TokenHash {
    /// Wraps the 32 bytes of a SHA-256 digest.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        TokenHash(bytes)
    }

    /// The digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `other` is the same hash, in time that does not depend on where they differ
    /// (every byte is XOR-ed and folded, no early exit).
    pub fn matches(&self, other: &TokenHash) -> bool {
        let mut diff = 0u8;
        for (a, b) in self.0.iter().zip(other.0.iter()) {
            diff |= a ^ b;
        }
        std::hint::black_box(diff) == 0
    }

    /// The 64 lower-case hex digits.
    pub fn to_hex(&self) -> String {
        const HEX: &[u8; 16] = b"0123456789abcdef";
        let mut out = String::with_capacity(64);
        for byte in self.0 {
            out.push(char::from(HEX[usize::from(byte >> 4)]));
            out.push(char::from(HEX[usize::from(byte & 0x0f)]));
        }
        out
    }

    /// Parses 64 hex digits (either case).
    pub fn from_hex(hex: &str) -> Result<Self, TokenHashError> {
        let digits = hex.as_bytes();
        if digits.len() != 64 {
            return Err(TokenHashError);
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.chunks_exact(2)) {
            let high = hex_value(pair[0]).ok_or(TokenHashError)?;
            let low = hex_value(pair[1]).ok_or(TokenHashError)?;
            *byte = (high << 4) | low;
        }
        Ok(TokenHash(bytes))
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

impl PartialEq for TokenHash {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other)
    }
}

impl Eq for TokenHash {}

impl std::fmt::Debug for TokenHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenHash(***)")
    }
}

impl TryFrom<String> for TokenHash {
    type Error = TokenHashError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        TokenHash::from_hex(&value)
    }
}

impl From<TokenHash> for String {
    fn from(hash: TokenHash) -> Self {
        hash.to_hex()
    }
}
