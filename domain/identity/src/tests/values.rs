use kernel_domain::{Rejection, RejectionKind};

use crate::{
    DisplayName, Password, PasswordHash, SuspensionReason, TextError, TokenHash, UserError,
};

use super::token;

#[test]
fn display_name_is_trimmed() {
    assert_eq!(
        DisplayName::parse("  Ada Lovelace \t").unwrap().as_str(),
        "Ada Lovelace"
    );
}

#[test]
fn blank_display_name_is_refused() {
    for blank in ["", "   ", "\t\n"] {
        assert_eq!(
            DisplayName::parse(blank),
            Err(UserError::InvalidDisplayName(TextError::Empty))
        );
    }
}

#[test]
fn display_name_of_100_chars_is_accepted() {
    assert!(DisplayName::parse(&"a".repeat(100)).is_ok());
    // Characters, not bytes: 100 two-byte characters are fine.
    assert!(DisplayName::parse(&"é".repeat(100)).is_ok());
}

#[test]
fn display_name_longer_than_100_chars_is_refused() {
    assert_eq!(
        DisplayName::parse(&"a".repeat(101)),
        Err(UserError::InvalidDisplayName(TextError::TooLong {
            max: 100
        }))
    );
}

#[test]
fn display_name_length_is_counted_after_trimming() {
    let padded = format!("   {}   ", "a".repeat(100));
    assert!(DisplayName::parse(&padded).is_ok());
}

#[test]
fn display_name_with_control_characters_is_refused() {
    for bad in ["Ada\nLovelace", "Ada\u{7}", "A\u{1b}[31mda", "Ada\u{0}"] {
        assert_eq!(
            DisplayName::parse(bad),
            Err(UserError::InvalidDisplayName(TextError::ControlCharacter)),
            "{bad:?}"
        );
    }
}

#[test]
fn display_name_deserialization_applies_the_rules() {
    assert!(serde_json::from_str::<DisplayName>("\"   \"").is_err());
    let name: DisplayName = serde_json::from_str("\" Ada \"").unwrap();
    assert_eq!(name.as_str(), "Ada");
}

#[test]
fn password_shorter_than_12_chars_is_refused() {
    assert_eq!(
        Password::parse("elevenchars"),
        Err(UserError::InvalidPassword(TextError::TooShort { min: 12 }))
    );
    assert!(Password::parse("").is_err());
}

#[test]
fn password_of_12_to_128_chars_is_accepted() {
    assert!(Password::parse(&"p".repeat(12)).is_ok());
    assert!(Password::parse(&"p".repeat(128)).is_ok());
}

#[test]
fn password_longer_than_128_chars_is_refused() {
    assert_eq!(
        Password::parse(&"p".repeat(129)),
        Err(UserError::InvalidPassword(TextError::TooLong { max: 128 }))
    );
}

#[test]
fn password_length_counts_characters_not_bytes() {
    // 12 characters, 36 bytes.
    assert!(Password::parse(&"密".repeat(12)).is_ok());
    // 11 characters, 44 bytes.
    assert!(Password::parse(&"🔑".repeat(11)).is_err());
    // 128 characters, 512 bytes.
    assert!(Password::parse(&"🔑".repeat(128)).is_ok());
}

#[test]
fn password_is_taken_exactly_as_typed() {
    let raw = "  spaces count  ";
    assert_eq!(Password::parse(raw).unwrap().expose(), raw);
}

#[test]
fn password_debug_does_not_reveal_it() {
    let password = Password::parse("super secret password").unwrap();
    assert_eq!(format!("{password:?}"), "Password(***)");
}

#[test]
fn password_hash_debug_does_not_reveal_it() {
    let hash = PasswordHash::from_phc("$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into());
    assert_eq!(format!("{hash:?}"), "PasswordHash(***)");
    assert_eq!(
        serde_json::to_string(&hash).unwrap(),
        format!("\"{}\"", hash.as_phc())
    );
}

#[test]
fn token_hash_debug_does_not_reveal_it() {
    assert_eq!(format!("{:?}", token(0xab)), "TokenHash(***)");
}

#[test]
fn token_hash_matches_only_the_same_bytes() {
    let mut other = [7u8; 32];
    assert!(token(7).matches(&TokenHash::from_bytes(other)));
    for i in [0, 15, 31] {
        other = [7u8; 32];
        other[i] ^= 1;
        assert!(!token(7).matches(&TokenHash::from_bytes(other)), "byte {i}");
    }
}

#[test]
fn token_hash_is_stored_as_hex() {
    let mut bytes = [0u8; 32];
    bytes[0] = 0xab;
    bytes[31] = 0x01;
    let hash = TokenHash::from_bytes(bytes);
    let json = serde_json::to_string(&hash).unwrap();
    assert_eq!(json, format!("\"ab{}01\"", "0".repeat(60)));
    let back: TokenHash = serde_json::from_str(&json).unwrap();
    assert_eq!(back.as_bytes(), &bytes);
    assert!(serde_json::from_str::<TokenHash>("\"abc\"").is_err());
    assert!(serde_json::from_str::<TokenHash>(&format!("\"{}\"", "g".repeat(64))).is_err());
}

#[test]
fn suspension_reason_is_trimmed() {
    assert_eq!(
        SuspensionReason::parse("  spam  ").unwrap().as_str(),
        "spam"
    );
}

#[test]
fn suspension_reason_is_1_to_500_chars() {
    assert!(SuspensionReason::parse(&"r".repeat(500)).is_ok());
    assert_eq!(
        SuspensionReason::parse(&"r".repeat(501)),
        Err(UserError::InvalidSuspensionReason(TextError::TooLong {
            max: 500
        }))
    );
    assert_eq!(
        SuspensionReason::parse("  "),
        Err(UserError::InvalidSuspensionReason(TextError::Empty))
    );
}

#[test]
fn suspension_reason_with_control_characters_is_refused() {
    assert_eq!(
        SuspensionReason::parse("line one\nline two"),
        Err(UserError::InvalidSuspensionReason(
            TextError::ControlCharacter
        ))
    );
}

#[test]
fn invalid_values_are_bad_input_on_their_field() {
    let cases = [
        (
            DisplayName::parse("").unwrap_err(),
            "INVALID_DISPLAY_NAME",
            "display_name",
        ),
        (
            Password::parse("short").unwrap_err(),
            "INVALID_PASSWORD",
            "password",
        ),
        (
            SuspensionReason::parse("").unwrap_err(),
            "INVALID_SUSPENSION_REASON",
            "reason",
        ),
    ];
    for (error, reason, field) in cases {
        let rejection = Rejection::from(error);
        assert_eq!(rejection.kind, RejectionKind::InvalidArgument);
        assert_eq!(rejection.reason, reason);
        assert_eq!(rejection.field_violations.len(), 1);
        assert_eq!(rejection.field_violations[0].field, field);
    }
}

#[test]
fn every_error_has_its_stable_reason_and_kind() {
    use RejectionKind::*;
    let cases = [
        (UserError::Erased, "USER_ERASED", FailedPrecondition),
        (UserError::NotActive, "USER_NOT_ACTIVE", FailedPrecondition),
        (
            UserError::AlreadySuspended,
            "USER_ALREADY_SUSPENDED",
            FailedPrecondition,
        ),
        (
            UserError::NotSuspended,
            "USER_NOT_SUSPENDED",
            FailedPrecondition,
        ),
        (
            UserError::EmailAlreadyVerified,
            "EMAIL_ALREADY_VERIFIED",
            FailedPrecondition,
        ),
        (
            UserError::EmailUnchanged,
            "EMAIL_UNCHANGED",
            FailedPrecondition,
        ),
        (UserError::TokenInvalid, "TOKEN_INVALID", FailedPrecondition),
        (
            UserError::SessionExpired,
            "SESSION_EXPIRED",
            FailedPrecondition,
        ),
        (UserError::WrongPassword, "WRONG_PASSWORD", PermissionDenied),
        (
            UserError::PasswordCheckStale,
            "PASSWORD_CHECK_STALE",
            Aborted,
        ),
        (UserError::SessionNotFound, "SESSION_NOT_FOUND", NotFound),
        (
            UserError::SessionAlreadyExists,
            "SESSION_ALREADY_EXISTS",
            AlreadyExists,
        ),
        (
            UserError::InvalidCredentials,
            "INVALID_CREDENTIALS",
            Unauthenticated,
        ),
    ];
    for (error, reason, kind) in cases {
        let message = error.to_string();
        let rejection = Rejection::from(error);
        assert_eq!(rejection.reason, reason);
        assert_eq!(rejection.kind, kind, "{reason}");
        assert_eq!(rejection.message, message);
        assert!(rejection.field_violations.is_empty());
    }
}
