//! argon2id behind the domain's `PasswordHasher` port.

use argon2::{
    Algorithm, Argon2, Params, Version,
    password_hash::{PasswordHasher as _, PasswordVerifier as _, SaltString, rand_core::OsRng},
};
use identity_domain::{Password, PasswordHash, PasswordHasher};

/// argon2id cost parameters: memory in KiB, iterations, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Params {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over memory.
    pub iterations: u32,
    /// Degree of parallelism.
    pub lanes: u32,
}

/// A parameter string that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("argon2 parameters must look like m=19456,t=2,p=1 ({0})")]
pub struct Argon2ParamsError(String);

impl Argon2Params {
    /// OWASP's recommendation: m=19456 KiB, t=2, p=1. The production default.
    pub const OWASP: Argon2Params = Argon2Params {
        memory_kib: 19_456,
        iterations: 2,
        lanes: 1,
    };

    /// The cheapest argon2 allows; for tests and benchmark fixtures only.
    pub const INSECURE_FAST: Argon2Params = Argon2Params {
        memory_kib: 8,
        iterations: 1,
        lanes: 1,
    };

    /// Parses `m=<KiB>,t=<iterations>,p=<lanes>`.
    pub fn parse(text: &str) -> Result<Self, Argon2ParamsError> {
        let mut params = Argon2Params::OWASP;
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (key, value) = part
                .split_once('=')
                .ok_or_else(|| Argon2ParamsError(format!("{part:?} is not key=value")))?;
            let value: u32 = value
                .parse()
                .map_err(|_| Argon2ParamsError(format!("{value:?} is not a number")))?;
            match key {
                "m" => params.memory_kib = value,
                "t" => params.iterations = value,
                "p" => params.lanes = value,
                other => return Err(Argon2ParamsError(format!("unknown key {other:?}"))),
            }
        }
        Params::new(params.memory_kib, params.iterations, params.lanes, None)
            .map_err(|e| Argon2ParamsError(e.to_string()))?;
        Ok(params)
    }
}

/// argon2id hashing. Verification of "no hash" runs against a dummy hash made at start, so
/// an unknown email costs the same time as a wrong password.
pub struct Argon2Hasher {
    argon2: Argon2<'static>,
    dummy: String,
}

impl Argon2Hasher {
    /// A hasher with the given cost.
    pub fn new(params: Argon2Params) -> Result<Self, Argon2ParamsError> {
        let params = Params::new(params.memory_kib, params.iterations, params.lanes, None)
            .map_err(|e| Argon2ParamsError(e.to_string()))?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let salt = SaltString::generate(&mut OsRng);
        let dummy = argon2
            .hash_password(b"not a password anyone has", &salt)
            .map_err(|e| Argon2ParamsError(e.to_string()))?
            .to_string();
        Ok(Argon2Hasher { argon2, dummy })
    }
}

impl PasswordHasher for Argon2Hasher {
    fn hash(&self, password: &Password) -> PasswordHash {
        let salt = SaltString::generate(&mut OsRng);
        match self
            .argon2
            .hash_password(password.expose().as_bytes(), &salt)
        {
            Ok(hash) => PasswordHash::from_phc(hash.to_string()),
            // Only reachable with a password longer than argon2 allows (4 GiB); the domain
            // caps passwords at 128 characters. Store an unmatchable hash rather than panic.
            Err(e) => {
                tracing::error!(error = %e, "argon2 refused to hash a password");
                PasswordHash::from_phc("$argon2id$unusable".to_owned())
            }
        }
    }

    fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> bool {
        let (phc, real) = match hash {
            Some(hash) => (hash.as_phc(), true),
            None => (self.dummy.as_str(), false),
        };
        let matched = argon2::password_hash::PasswordHash::new(phc)
            .map(|parsed| {
                self.argon2
                    .verify_password(password.expose().as_bytes(), &parsed)
                    .is_ok()
            })
            .unwrap_or(false);
        real && matched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn production_default_is_owasp_argon2id() {
        let hasher = Argon2Hasher::new(Argon2Params::OWASP).unwrap();
        let hash = hasher.hash(&Password::parse("correct horse battery").unwrap());
        assert!(
            hash.as_phc().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_phc()
        );
    }

    #[test]
    fn verify_accepts_the_password_and_nothing_else() {
        let hasher = Argon2Hasher::new(Argon2Params::INSECURE_FAST).unwrap();
        let right = Password::parse("correct horse battery").unwrap();
        let wrong = Password::parse("correct horse battery!").unwrap();
        let hash = hasher.hash(&right);
        assert!(hasher.verify(&right, Some(&hash)));
        assert!(!hasher.verify(&wrong, Some(&hash)));
        assert!(!hasher.verify(&right, None));
    }

    #[test]
    fn params_parse_and_refuse_nonsense() {
        assert_eq!(Argon2Params::parse("m=64,t=1,p=1").unwrap().memory_kib, 64);
        assert!(Argon2Params::parse("m=abc").is_err());
        assert!(Argon2Params::parse("q=1").is_err());
        assert!(Argon2Params::parse("m=1,t=1,p=1").is_err());
    }
}
