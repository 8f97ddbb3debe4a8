//! Request decoding: every data service's request messages from protobuf bytes, and every
//! JSON body the edge reads.
//!
//! - prost: bytes built from well-formed fields (tags 1 to 20 of every wire type, nested
//!   messages, strings and junk) as well as raw bytes. Decoding never panics, and what it
//!   decodes encodes to bytes that decode to the same message.
//! - the edge: objects with the body's fields holding values of every JSON type, and raw
//!   text. Reading never panics; a refusal is a 400 with one of the documented codes; an
//!   accepted body was a JSON object with every required field present and not `null`.

use edge_app::handlers::{account, auth, billing, feed, workspaces};
use edge_app::json::{RequestBody, parse_body};
use http::StatusCode;
use proptest::prelude::*;
use proptest::test_runner::TestCaseResult;
use saas_proto::{
    billing::v1 as billing_pb, identity::v1 as identity_pb, notifications::v1 as feed_pb,
    workspace::v1 as workspace_pb,
};
use serde_json::{Map, Value};

use super::text;
use crate::fuzz;

// ---------------------------------------------------------------- protobuf

#[derive(Debug, Clone)]
enum Field {
    Varint(u64),
    Fixed64(u64),
    Fixed32(u32),
    Len(Vec<u8>),
    /// A wire type prost does not know, or a group.
    Odd(u8),
}

fn varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn encode_fields(fields: &[(u32, Field)]) -> Vec<u8> {
    let mut out = Vec::new();
    for (number, field) in fields {
        let wire = match field {
            Field::Varint(_) => 0,
            Field::Fixed64(_) => 1,
            Field::Len(_) => 2,
            Field::Fixed32(_) => 5,
            Field::Odd(w) => u64::from(*w),
        };
        varint((u64::from(*number) << 3) | wire, &mut out);
        match field {
            Field::Varint(v) => varint(*v, &mut out),
            Field::Fixed64(v) => out.extend_from_slice(&v.to_le_bytes()),
            Field::Fixed32(v) => out.extend_from_slice(&v.to_le_bytes()),
            Field::Len(bytes) => {
                varint(bytes.len() as u64, &mut out);
                out.extend_from_slice(bytes);
            }
            Field::Odd(_) => {}
        }
    }
    out
}

/// A protobuf message as bytes: well-formed fields, nested messages inside, sometimes
/// truncated or followed by junk.
fn protobuf() -> impl Strategy<Value = Vec<u8>> {
    let scalar = prop_oneof![
        4 => prop_oneof![any::<u64>(), 0u64..4, Just(u64::MAX)].prop_map(Field::Varint),
        1 => any::<u64>().prop_map(Field::Fixed64),
        1 => any::<u32>().prop_map(Field::Fixed32),
        4 => text().prop_map(|t| Field::Len(t.into_bytes())),
        1 => prop::collection::vec(any::<u8>(), 0..24).prop_map(Field::Len),
        1 => prop_oneof![Just(3u8), Just(4), Just(6), Just(7)].prop_map(Field::Odd),
    ];
    let fields = scalar.prop_recursive(3, 24, 6, |inner| {
        prop::collection::vec((1u32..=20, inner), 0..6)
            .prop_map(|fields| Field::Len(encode_fields(&fields)))
    });
    let message = prop::collection::vec(
        (prop_oneof![8 => 1u32..=20, 1 => any::<u32>()], fields),
        0..10,
    )
    .prop_map(|fields| encode_fields(&fields));
    prop_oneof![
        8 => message,
        1 => (message_prefix(), any::<prop::sample::Index>()).prop_map(|(bytes, at)| {
            let cut = if bytes.is_empty() { 0 } else { at.index(bytes.len()) };
            bytes[..cut].to_vec()
        }),
        1 => prop::collection::vec(any::<u8>(), 0..64),
    ]
}

fn message_prefix() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec((1u32..=20, any::<u64>(), text()), 0..4).prop_map(|fields| {
        let fields: Vec<(u32, Field)> = fields
            .into_iter()
            .flat_map(|(n, v, t)| [(n, Field::Varint(v)), (n, Field::Len(t.into_bytes()))])
            .collect();
        encode_fields(&fields)
    })
}

/// Decodes `bytes` as `M`; what decodes re-encodes to bytes that decode to the same message.
fn round_trip<M: prost::Message + Default + PartialEq>(bytes: &[u8]) -> TestCaseResult {
    if let Ok(message) = M::decode(bytes) {
        let encoded = message.encode_to_vec();
        prop_assert_eq!(encoded.len(), message.encoded_len());
        let again = M::decode(encoded.as_slice())
            .map_err(|e| TestCaseError::fail(format!("re-encoded message does not decode: {e}")))?;
        prop_assert!(
            again == message,
            "{} changed on a round trip",
            std::any::type_name::<M>()
        );
    }
    Ok(())
}

macro_rules! round_trips {
    ($bytes:expr; $($module:ident :: $message:ident),* $(,)?) => {{
        $( round_trip::<$module::$message>($bytes)?; )*
    }};
}

#[test]
fn identity_requests() {
    fuzz("identity_requests", protobuf(), |bytes| {
        round_trips!(&bytes;
            identity_pb::GetUserRequest, identity_pb::BatchGetUsersRequest,
            identity_pb::LookupUserRequest, identity_pb::ListUsersRequest,
            identity_pb::RegisterUserRequest, identity_pb::ChangeDisplayNameRequest,
            identity_pb::ChangeEmailRequest, identity_pb::ChangePasswordRequest,
            identity_pb::VerifyCredentialsRequest, identity_pb::OpenSessionRequest,
            identity_pb::RefreshSessionRequest, identity_pb::CloseSessionRequest,
            identity_pb::StartEmailVerificationRequest,
            identity_pb::ConfirmEmailVerificationRequest,
            identity_pb::StartPasswordResetRequest, identity_pb::CompletePasswordResetRequest,
            identity_pb::SuspendUserRequest, identity_pb::ReactivateUserRequest,
            identity_pb::EraseUserRequest,
        );
        Ok(())
    });
}

#[test]
fn workspace_requests() {
    fuzz("workspace_requests", protobuf(), |bytes| {
        round_trips!(&bytes;
            workspace_pb::GetWorkspaceRequest, workspace_pb::LookupWorkspaceRequest,
            workspace_pb::ListUserWorkspacesRequest, workspace_pb::CreateWorkspaceRequest,
            workspace_pb::RenameWorkspaceRequest, workspace_pb::InviteMemberRequest,
            workspace_pb::AcceptInvitationRequest, workspace_pb::RevokeInvitationRequest,
            workspace_pb::ExpireInvitationsRequest, workspace_pb::ChangeMemberRoleRequest,
            workspace_pb::RemoveMemberRequest, workspace_pb::LeaveWorkspaceRequest,
            workspace_pb::SetSeatLimitRequest, workspace_pb::FollowSubscriptionRequest,
            workspace_pb::RemoveErasedUserRequest,
            workspace_pb::ArchiveWorkspaceRequest, workspace_pb::UnarchiveWorkspaceRequest,
            workspace_pb::DeleteWorkspaceRequest,
        );
        Ok(())
    });
}

#[test]
fn billing_and_feed_requests() {
    fuzz("billing_and_feed_requests", protobuf(), |bytes| {
        round_trips!(&bytes;
            billing_pb::GetSubscriptionRequest, billing_pb::LookupSubscriptionRequest,
            billing_pb::StartTrialRequest, billing_pb::ChangePlanRequest,
            billing_pb::ChangeSeatsRequest, billing_pb::RecordPaymentSucceededRequest,
            billing_pb::RecordPaymentFailedRequest, billing_pb::CancelSubscriptionRequest,
            billing_pb::ResumeSubscriptionRequest, billing_pb::ExpireTrialRequest,
            billing_pb::EndPeriodRequest,
            feed_pb::GetFeedRequest, feed_pb::AppendFeedEntryRequest,
            feed_pb::MarkFeedReadRequest, feed_pb::ListFeedEntriesRequest,
            feed_pb::WatchFeedRequest,
        );
        Ok(())
    });
}

// ---------------------------------------------------------------- edge JSON bodies

/// Every field name of every body, so that each body meets its own and others' fields.
const FIELDS: &[&str] = &[
    "email",
    "password",
    "display_name",
    "workspace_name",
    "workspace_slug",
    "refresh_token",
    "old_password",
    "new_password",
    "token",
    "plan",
    "seats",
    "at_period_end",
    "up_to_sequence",
    "name",
    "role",
];

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        2 => Just(Value::Null),
        2 => any::<bool>().prop_map(Value::from),
        3 => prop_oneof![any::<i64>(), -2i64..5, Just(i64::from(i32::MAX) + 1)].prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        4 => prop_oneof![
            text(),
            prop::sample::select(vec!["owner", "admin", "member", "free", "team", "business"])
                .prop_map(str::to_owned),
        ]
        .prop_map(Value::from),
    ];
    leaf.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
            prop::collection::btree_map("[a-z]{1,3}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// A request body: mostly an object of known fields, else any JSON or any bytes.
fn body() -> impl Strategy<Value = Vec<u8>> {
    let object = prop::collection::btree_map(
        prop_oneof![8 => prop::sample::select(FIELDS.to_vec()).prop_map(str::to_owned), 1 => text()],
        json_value(),
        0..7,
    )
    .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()).to_string().into_bytes());
    prop_oneof![
        8 => object,
        1 => json_value().prop_map(|v| v.to_string().into_bytes()),
        1 => text().prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..40),
        1 => (1usize..300).prop_map(|depth| format!("{}{}", "[".repeat(depth), "]".repeat(depth)).into_bytes()),
    ]
}

/// Reads `bytes` as the body `T` and checks the rules of `edge_app::json`.
fn read<T: RequestBody>(bytes: &[u8]) -> TestCaseResult {
    let value: Option<Value> = serde_json::from_slice(bytes).ok();
    let complete = value
        .as_ref()
        .and_then(Value::as_object)
        .is_some_and(|object| {
            T::REQUIRED
                .iter()
                .all(|f| object.get(*f).is_some_and(|v| !v.is_null()))
        });
    match parse_body::<T>(bytes) {
        Ok(_) => prop_assert!(
            complete,
            "{} accepted without its fields",
            std::any::type_name::<T>()
        ),
        Err(error) => {
            prop_assert_eq!(error.status_code(), StatusCode::BAD_REQUEST);
            let code = &*error.code;
            match code {
                "MALFORMED_JSON" => prop_assert!(!value.as_ref().is_some_and(Value::is_object)),
                "MISSING_FIELD" => prop_assert!(!complete),
                "INVALID_FIELD" => prop_assert!(complete),
                other => prop_assert!(false, "unexpected code {other}"),
            }
        }
    }
    Ok(())
}

#[test]
fn edge_json_bodies() {
    fuzz("edge_json_bodies", body(), |bytes| {
        read::<auth::SignUpBody>(&bytes)?;
        read::<auth::LoginBody>(&bytes)?;
        read::<auth::RefreshBody>(&bytes)?;
        read::<account::ChangeDisplayNameBody>(&bytes)?;
        read::<account::ChangePasswordBody>(&bytes)?;
        read::<account::TokenBody>(&bytes)?;
        read::<account::PasswordResetBody>(&bytes)?;
        read::<account::CompletePasswordResetBody>(&bytes)?;
        read::<billing::ChangePlanBody>(&bytes)?;
        read::<billing::ChangeSeatsBody>(&bytes)?;
        read::<billing::CancelBody>(&bytes)?;
        read::<feed::MarkReadBody>(&bytes)?;
        read::<workspaces::RenameBody>(&bytes)?;
        read::<workspaces::ChangeRoleBody>(&bytes)?;
        read::<workspaces::InviteBody>(&bytes)?;
        Ok(())
    });
}
