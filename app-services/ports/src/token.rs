//! Secret tokens made by the application layer (email verification, password reset,
//! invitations). A token names what it is for, so a use case can find its target without
//! asking the user for ids: `<target uuid, simple form>.<32 random bytes, base64url>`. Only the
//! data service sees the token, and it keeps nothing but its SHA-256.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use uuid::Uuid;

use crate::AppError;

/// A new random token for `target` (a user for verification and reset, a workspace for an
/// invitation).
pub fn new_token(target: Uuid) -> String {
    let mut secret = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    format!("{}.{}", target.simple(), URL_SAFE_NO_PAD.encode(secret))
}

/// The target a token was made for. `field` names the request field in the error.
pub fn token_target(field: &str, token: &str) -> Result<Uuid, AppError> {
    let invalid = || {
        AppError::invalid_field(
            "INVALID_TOKEN",
            field,
            format!("{field} is not a valid token"),
        )
    };
    let (target, secret) = token.split_once('.').ok_or_else(invalid)?;
    if target.len() != 32 || secret.len() != 43 {
        return Err(invalid());
    }
    Uuid::try_parse(target).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_target_and_differs_every_time() {
        let target = Uuid::now_v7();
        let a = new_token(target);
        let b = new_token(target);
        assert_ne!(a, b);
        assert_eq!(token_target("token", &a), Ok(target));
    }

    #[test]
    fn malformed_tokens_are_invalid_arguments_naming_the_field() {
        for bad in [
            "",
            "abc",
            "not-a-uuid.secret",
            &format!("{}.short", Uuid::now_v7().simple()),
        ] {
            let error = token_target("token", bad).expect_err(bad);
            assert_eq!(error.code, "INVALID_TOKEN");
            assert_eq!(error.fields[0].field, "token");
        }
    }
}
