//! The value objects: kinds and payloads.

use crate::{EntryKind, FeedError, MAX_KIND_LEN, MAX_PAYLOAD_BYTES, Payload};

#[test]
fn a_kind_is_snake_case_of_one_to_sixty_four_characters() {
    for good in [
        "a",
        "member_joined",
        "subscription_past_due",
        "x1_2_",
        "a__b",
    ] {
        assert_eq!(EntryKind::parse(good).unwrap().as_str(), good);
    }
    let longest = "k".repeat(MAX_KIND_LEN);
    assert!(EntryKind::parse(&longest).is_ok());
    for bad in [
        "",
        "Member",
        "member-joined",
        "1st",
        "_private",
        " member",
        "member ",
        "membér",
        "member.joined",
    ] {
        assert_eq!(
            EntryKind::parse(bad),
            Err(FeedError::InvalidKind),
            "{bad:?}"
        );
    }
    assert_eq!(
        EntryKind::parse(&"k".repeat(MAX_KIND_LEN + 1)),
        Err(FeedError::InvalidKind)
    );
}

#[test]
fn a_payload_is_a_json_object_kept_exactly_as_given() {
    for good in ["{}", "{\"a\": 1}", " { \"nested\": {\"b\": [1, 2]} } "] {
        assert_eq!(Payload::parse(good).unwrap().as_str(), good);
    }
    for bad in ["", "null", "[]", "1", "\"text\"", "{", "{} {}", "{\"a\":}"] {
        assert_eq!(
            Payload::parse(bad),
            Err(FeedError::PayloadNotAnObject),
            "{bad:?}"
        );
    }
}

#[test]
fn a_payload_is_at_most_eight_kib() {
    let filler = |total: usize| format!("{{\"f\":\"{}\"}}", "x".repeat(total - 8));
    let largest = filler(MAX_PAYLOAD_BYTES);
    assert_eq!(largest.len(), MAX_PAYLOAD_BYTES);
    assert!(Payload::parse(&largest).is_ok());
    let over = filler(MAX_PAYLOAD_BYTES + 1);
    assert_eq!(
        Payload::parse(&over),
        Err(FeedError::PayloadTooLarge {
            bytes: MAX_PAYLOAD_BYTES + 1
        })
    );
}

#[test]
fn refusals_read_as_rejections_naming_their_value() {
    use kernel_domain::{Rejection, RejectionKind};
    let kind = Rejection::from(FeedError::InvalidKind);
    assert_eq!(
        (kind.kind, kind.reason),
        (RejectionKind::InvalidArgument, "INVALID_KIND")
    );
    assert_eq!(kind.field_violations[0].field, "kind");
    let too_large = Rejection::from(FeedError::PayloadTooLarge { bytes: 9000 });
    assert_eq!(too_large.reason, "PAYLOAD_TOO_LARGE");
    assert_eq!(too_large.field_violations[0].field, "payload");
    let beyond = Rejection::from(FeedError::SequenceBeyondEnd { up_to: 5, last: 3 });
    assert_eq!(
        (beyond.kind, beyond.reason),
        (RejectionKind::FailedPrecondition, "SEQUENCE_BEYOND_END")
    );
}
