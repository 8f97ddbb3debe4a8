use kernel_domain::{Rejection, RejectionKind};

use crate::{RESERVED_SLUGS, Slug, SlugError, TextError, TokenHash, WorkspaceError, WorkspaceName};

use super::token;

#[test]
fn slug_is_trimmed_and_lower_cased() {
    assert_eq!(Slug::parse("  Acme-Corp \n").unwrap().as_str(), "acme-corp");
}

#[test]
fn slug_is_3_to_40_characters() {
    assert!(Slug::parse("abc").is_ok());
    assert!(Slug::parse(&"a".repeat(40)).is_ok());
    assert_eq!(
        Slug::parse("ab"),
        Err(WorkspaceError::InvalidSlug(SlugError::TooShort { min: 3 }))
    );
    assert_eq!(
        Slug::parse(&"a".repeat(41)),
        Err(WorkspaceError::InvalidSlug(SlugError::TooLong { max: 40 }))
    );
    assert_eq!(
        Slug::parse("   "),
        Err(WorkspaceError::InvalidSlug(SlugError::Empty))
    );
}

#[test]
fn slug_has_only_letters_digits_and_hyphens() {
    assert!(Slug::parse("a-1-b-2").is_ok());
    for bad in [
        "ac me",
        "acme_corp",
        "acmé",
        "acme.io",
        "a/b/c",
        "a\u{0}bc",
        "ａｃｍｅ",
    ] {
        assert_eq!(
            Slug::parse(bad),
            Err(WorkspaceError::InvalidSlug(SlugError::InvalidCharacter)),
            "{bad:?}"
        );
    }
}

#[test]
fn slug_does_not_start_or_end_with_a_hyphen() {
    for bad in ["-acme", "acme-", "-a-"] {
        assert_eq!(
            Slug::parse(bad),
            Err(WorkspaceError::InvalidSlug(SlugError::HyphenAtEdge)),
            "{bad:?}"
        );
    }
}

#[test]
fn reserved_slugs_are_refused() {
    for reserved in ["admin", "api", "www", "Admin", " WWW ", "billing", "status"] {
        assert_eq!(
            Slug::parse(reserved),
            Err(WorkspaceError::InvalidSlug(SlugError::Reserved)),
            "{reserved:?}"
        );
    }
    // Only exact matches are reserved.
    assert!(Slug::parse("admin-team").is_ok());
    assert!(Slug::parse("my-api").is_ok());
}

#[test]
fn every_reserved_slug_would_otherwise_be_a_valid_slug() {
    for reserved in RESERVED_SLUGS {
        assert!(
            (Slug::MIN_LEN..=Slug::MAX_LEN).contains(&reserved.len()),
            "{reserved}"
        );
        assert!(
            reserved
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'),
            "{reserved}"
        );
        assert_eq!(
            Slug::parse(reserved),
            Err(WorkspaceError::InvalidSlug(SlugError::Reserved)),
            "{reserved}"
        );
    }
}

#[test]
fn slug_deserialization_applies_the_rules() {
    assert!(serde_json::from_str::<Slug>("\"admin\"").is_err());
    assert!(serde_json::from_str::<Slug>("\"-x-\"").is_err());
    let slug: Slug = serde_json::from_str("\"Acme\"").unwrap();
    assert_eq!(slug.as_str(), "acme");
    assert_eq!(serde_json::to_string(&slug).unwrap(), "\"acme\"");
}

#[test]
fn workspace_name_is_trimmed() {
    assert_eq!(
        WorkspaceName::parse("  Acme Corp \t").unwrap().as_str(),
        "Acme Corp"
    );
}

#[test]
fn workspace_name_is_1_to_100_characters_after_trimming() {
    assert!(WorkspaceName::parse("A").is_ok());
    assert!(WorkspaceName::parse(&"é".repeat(100)).is_ok());
    assert!(WorkspaceName::parse(&format!("  {}  ", "a".repeat(100))).is_ok());
    assert_eq!(
        WorkspaceName::parse(&"a".repeat(101)),
        Err(WorkspaceError::InvalidName(TextError::TooLong { max: 100 }))
    );
    for blank in ["", "  ", "\n\t"] {
        assert_eq!(
            WorkspaceName::parse(blank),
            Err(WorkspaceError::InvalidName(TextError::Empty))
        );
    }
}

#[test]
fn workspace_name_with_control_characters_is_refused() {
    for bad in ["Acme\nCorp", "Acme\u{7}", "A\u{1b}[31mcme", "Acme\u{0}"] {
        assert_eq!(
            WorkspaceName::parse(bad),
            Err(WorkspaceError::InvalidName(TextError::ControlCharacter)),
            "{bad:?}"
        );
    }
}

#[test]
fn workspace_name_deserialization_applies_the_rules() {
    assert!(serde_json::from_str::<WorkspaceName>("\"  \"").is_err());
    let name: WorkspaceName = serde_json::from_str("\" Acme \"").unwrap();
    assert_eq!(name.as_str(), "Acme");
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
fn invalid_values_are_bad_input_on_their_field() {
    let cases = [
        (Slug::parse("a").unwrap_err(), "INVALID_SLUG", "slug"),
        (Slug::parse("admin").unwrap_err(), "SLUG_RESERVED", "slug"),
        (
            WorkspaceName::parse("").unwrap_err(),
            "INVALID_WORKSPACE_NAME",
            "name",
        ),
        (
            WorkspaceError::InvalidSeatLimit,
            "INVALID_SEAT_LIMIT",
            "seat_limit",
        ),
        (
            WorkspaceError::InvalidInvitationRole,
            "INVALID_INVITATION_ROLE",
            "role",
        ),
    ];
    for (error, reason, field) in cases {
        assert_eq!(error.kind(), RejectionKind::InvalidArgument);
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
        (WorkspaceError::NotAMember, "NOT_A_MEMBER", PermissionDenied),
        (
            WorkspaceError::InsufficientRole,
            "INSUFFICIENT_ROLE",
            PermissionDenied,
        ),
        (
            WorkspaceError::EmailMismatch,
            "INVITATION_EMAIL_MISMATCH",
            PermissionDenied,
        ),
        (
            WorkspaceError::Archived,
            "WORKSPACE_ARCHIVED",
            FailedPrecondition,
        ),
        (
            WorkspaceError::NotArchived,
            "WORKSPACE_NOT_ARCHIVED",
            FailedPrecondition,
        ),
        (
            WorkspaceError::RoleUnchanged,
            "ROLE_UNCHANGED",
            FailedPrecondition,
        ),
        (WorkspaceError::LastOwner, "LAST_OWNER", FailedPrecondition),
        (
            WorkspaceError::SeatLimitReached,
            "SEAT_LIMIT_REACHED",
            FailedPrecondition,
        ),
        (
            WorkspaceError::SeatLimitBelowSeatsInUse {
                limit: 2,
                in_use: 3,
            },
            "SEAT_LIMIT_BELOW_SEATS_IN_USE",
            FailedPrecondition,
        ),
        (
            WorkspaceError::InvitationNotPending,
            "INVITATION_NOT_PENDING",
            FailedPrecondition,
        ),
        (
            WorkspaceError::InvitationExpired,
            "INVITATION_EXPIRED",
            FailedPrecondition,
        ),
        (
            WorkspaceError::TokenInvalid,
            "TOKEN_INVALID",
            FailedPrecondition,
        ),
        (
            WorkspaceError::NotPristine,
            "NOT_PRISTINE",
            FailedPrecondition,
        ),
        (WorkspaceError::MemberNotFound, "MEMBER_NOT_FOUND", NotFound),
        (
            WorkspaceError::InvitationNotFound,
            "INVITATION_NOT_FOUND",
            NotFound,
        ),
        (
            WorkspaceError::AlreadyMember,
            "ALREADY_MEMBER",
            AlreadyExists,
        ),
        (
            WorkspaceError::InvitationAlreadyExists,
            "INVITATION_ALREADY_EXISTS",
            AlreadyExists,
        ),
        (
            WorkspaceError::InvitationAlreadyPending,
            "INVITATION_ALREADY_PENDING",
            AlreadyExists,
        ),
    ];
    for (error, reason, kind) in cases {
        let message = error.to_string();
        assert_eq!(error.reason(), reason);
        assert_eq!(error.kind(), kind, "{reason}");
        let rejection = Rejection::from(error);
        assert_eq!(rejection.reason, reason);
        assert_eq!(rejection.kind, kind, "{reason}");
        assert_eq!(rejection.message, message);
        assert!(rejection.field_violations.is_empty());
    }
}

#[test]
fn seat_limit_error_says_the_numbers() {
    let error = WorkspaceError::SeatLimitBelowSeatsInUse {
        limit: 2,
        in_use: 3,
    };
    assert_eq!(
        error.to_string(),
        "the seat limit 2 is below the 3 seats in use"
    );
}
