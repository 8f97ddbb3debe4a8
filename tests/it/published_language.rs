//! The published language in the outbox: after real commands over gRPC, every outbox row of
//! every context holds its `saas.events.v1.EventEnvelope` (the row's event id, aggregate and
//! version, the event type, the workspace it concerns, and a payload that is a message of the
//! context's `events.proto`), and no envelope holds a password or a token in any form.

use std::collections::{BTreeMap, BTreeSet};

use prost::Message;
use saas_proto::{
    billing::v1 as billing, events::v1::EventEnvelope, identity::v1 as identity,
    workspace::v1 as workspace,
};
use saas_tests::{DataServices, TestDatabase, as_actor};
use sea_orm::{ConnectionTrait, Statement};

use crate::user_rpc::request_id;

const FIRST_PASSWORD: &str = "envelope-first-Pa55word";
const SECOND_PASSWORD: &str = "envelope-second-Pa55word";
const THIRD_PASSWORD: &str = "envelope-third-Pa55word";
const WRONG_PASSWORD: &str = "envelope-wrong-Pa55word";
const VERIFY_TOKEN: &str = "envelope-verify-TOKEN-4e1f9a";
const RESET_TOKEN: &str = "envelope-reset-TOKEN-7c2d0b";
const INVITE_TOKEN: &str = "envelope-invite-TOKEN-93ab5e";

/// One outbox row with its envelope decoded.
#[derive(Debug)]
struct Row {
    event_id: String,
    aggregate_type: String,
    aggregate_id: String,
    aggregate_version: i64,
    event_type: String,
    occurred_at: i64,
    raw: Vec<u8>,
    envelope: EventEnvelope,
}

/// Every outbox row of `database`, oldest first; fails if a row has no envelope or one that
/// does not decode.
async fn outbox(database: &TestDatabase) -> Vec<Row> {
    let db = platform::db::open(&database.url, platform::db::PoolSize { max: 1 })
        .await
        .unwrap();
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT event_id, aggregate_type, aggregate_id, aggregate_version, event_type, \
             occurred_at, envelope FROM outbox ORDER BY seq",
        ))
        .await
        .unwrap();
    db.close().await.ok();
    rows.iter()
        .map(|row| {
            let event_id: String = row.try_get_by_index(0).unwrap();
            let raw: Option<Vec<u8>> = row.try_get_by_index(6).unwrap();
            let raw = raw.unwrap_or_else(|| panic!("outbox row {event_id} has no envelope"));
            let envelope = EventEnvelope::decode(raw.as_slice())
                .unwrap_or_else(|e| panic!("the envelope of {event_id} does not decode: {e}"));
            Row {
                event_id,
                aggregate_type: row.try_get_by_index(1).unwrap(),
                aggregate_id: row.try_get_by_index(2).unwrap(),
                aggregate_version: row.try_get_by_index(3).unwrap(),
                event_type: row.try_get_by_index(4).unwrap(),
                occurred_at: row.try_get_by_index(5).unwrap(),
                raw,
                envelope,
            }
        })
        .collect()
}

/// The full names of every top-level message in the published descriptor set.
fn published_messages() -> BTreeSet<String> {
    let set = prost_types::FileDescriptorSet::decode(saas_proto::FILE_DESCRIPTOR_SET).unwrap();
    set.file
        .iter()
        .flat_map(|file| {
            file.message_type
                .iter()
                .map(move |message| format!("{}.{}", file.package(), message.name()))
        })
        .collect()
}

/// Checks that each row's envelope states the row: same event id, aggregate, version, type
/// and time, and a payload that is a message of `package` in the descriptor set. Returns the
/// payloads by event type (the last of each type).
#[track_caller]
fn check_envelopes(rows: &[Row], package: &str) -> BTreeMap<String, prost_types::Any> {
    let messages = published_messages();
    let mut ids = BTreeSet::new();
    let mut payloads = BTreeMap::new();
    for row in rows {
        let envelope = &row.envelope;
        assert_eq!(envelope.event_id, row.event_id, "{row:?}");
        assert!(ids.insert(row.event_id.clone()), "event ids are unique");
        assert_eq!(envelope.event_type, row.event_type, "{row:?}");
        assert_eq!(envelope.aggregate_type, row.aggregate_type, "{row:?}");
        assert_eq!(envelope.aggregate_id, row.aggregate_id, "{row:?}");
        assert_eq!(envelope.aggregate_version, row.aggregate_version, "{row:?}");
        assert!(row.aggregate_version >= 1, "{row:?}");
        let time = envelope.occur_time.unwrap_or_else(|| panic!("{row:?}"));
        assert_eq!(
            time.seconds * 1_000_000 + i64::from(time.nanos / 1_000),
            row.occurred_at,
            "the envelope's time is the row's: {row:?}"
        );
        let payload = envelope
            .payload
            .clone()
            .unwrap_or_else(|| panic!("{row:?}"));
        let name = payload
            .type_url
            .strip_prefix("type.googleapis.com/")
            .unwrap_or_else(|| panic!("type url of {row:?}"));
        assert!(messages.contains(name), "{name} is not published: {row:?}");
        assert!(
            name.starts_with(&format!("{package}.")),
            "{name} is not in {package}"
        );
        payloads.insert(row.event_type.clone(), payload);
    }
    payloads
}

/// The payload of the last event of `event_type`, decoded as `M`.
#[track_caller]
fn payload<M: Message + Default>(
    payloads: &BTreeMap<String, prost_types::Any>,
    event_type: &str,
) -> M {
    let any = payloads
        .get(event_type)
        .unwrap_or_else(|| panic!("no {event_type} event among {:?}", payloads.keys()));
    M::decode(any.value.as_slice()).unwrap()
}

fn fresh_email(who: &str) -> String {
    format!("{who}-{}@example.com", uuid::Uuid::now_v7().simple())
}

#[tokio::test]
async fn every_outbox_row_holds_the_envelope_of_its_event() {
    let services = DataServices::spawn().await;
    let mut users = services.users().await;
    let mut workspaces = services.workspaces_client().await;
    let mut subscriptions = services.subscriptions_client().await;

    // Identity: two users, one renamed, with a session.
    let owner_email = fresh_email("owner");
    let owner = users
        .register_user(identity::RegisterUserRequest {
            request_id: request_id(),
            email: owner_email.clone(),
            display_name: "Olive Owner".into(),
            password: FIRST_PASSWORD.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let member_email = fresh_email("member");
    let member = users
        .register_user(identity::RegisterUserRequest {
            request_id: request_id(),
            email: member_email.clone(),
            display_name: "Max Member".into(),
            password: FIRST_PASSWORD.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    users
        .change_display_name(identity::ChangeDisplayNameRequest {
            id: member.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            display_name: "Max M. Member".into(),
        })
        .await
        .unwrap();
    users
        .open_session(identity::OpenSessionRequest {
            id: owner.id.clone(),
            request_id: request_id(),
            etag: String::new(),
        })
        .await
        .unwrap();

    // Workspace: created by the owner, the member invited and joined, promoted, renamed.
    let created = workspaces
        .create_workspace(as_actor(
            &owner.id,
            workspace::CreateWorkspaceRequest {
                request_id: request_id(),
                slug: format!("ws-{}", uuid::Uuid::now_v7().simple()),
                name: "Acme".into(),
                seat_limit: 5,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let invitation = workspaces
        .invite_member(as_actor(
            &owner.id,
            workspace::InviteMemberRequest {
                id: created.id.clone(),
                request_id: request_id(),
                etag: String::new(),
                email: member_email.clone(),
                role: workspace::Role::Member as i32,
                token: INVITE_TOKEN.into(),
                invitee_user_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .invitation
        .unwrap();
    workspaces
        .accept_invitation(as_actor(
            &member.id,
            workspace::AcceptInvitationRequest {
                id: created.id.clone(),
                request_id: request_id(),
                invitation_id: invitation.id.clone(),
                token: INVITE_TOKEN.into(),
                user_email: member_email.clone(),
            },
        ))
        .await
        .unwrap();
    workspaces
        .change_member_role(as_actor(
            &owner.id,
            workspace::ChangeMemberRoleRequest {
                id: created.id.clone(),
                request_id: request_id(),
                etag: String::new(),
                user_id: member.id.clone(),
                role: workspace::Role::Admin as i32,
            },
        ))
        .await
        .unwrap();
    workspaces
        .rename_workspace(as_actor(
            &owner.id,
            workspace::RenameWorkspaceRequest {
                id: created.id.clone(),
                request_id: request_id(),
                etag: String::new(),
                name: "Acme Corp".into(),
            },
        ))
        .await
        .unwrap();

    // Billing: a trial for the workspace, more seats, paid, then a failed payment.
    let subscription = subscriptions
        .start_trial(billing::StartTrialRequest {
            request_id: request_id(),
            workspace_id: created.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    subscriptions
        .change_seats(billing::ChangeSeatsRequest {
            id: subscription.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            seats: 8,
            seats_in_use: 2,
        })
        .await
        .unwrap();
    subscriptions
        .record_payment_succeeded(billing::RecordPaymentSucceededRequest {
            id: subscription.id.clone(),
            request_id: request_id(),
        })
        .await
        .unwrap();
    subscriptions
        .record_payment_failed(billing::RecordPaymentFailedRequest {
            id: subscription.id.clone(),
            request_id: request_id(),
        })
        .await
        .unwrap();

    // Identity events concern no workspace.
    let rows = outbox(&services.databases[0]).await;
    let payloads = check_envelopes(&rows, "saas.identity.v1");
    for row in &rows {
        assert_eq!(row.envelope.aggregate_type, "identity.user");
        assert_eq!(row.envelope.workspace_id, "", "{row:?}");
    }
    let types: BTreeSet<&str> = rows.iter().map(|r| r.event_type.as_str()).collect();
    for expected in [
        "identity.user.registered",
        "identity.user.display_name_changed",
        "identity.user.session_opened",
    ] {
        assert!(types.contains(expected), "{expected} among {types:?}");
    }
    let renamed: identity::UserDisplayNameChanged =
        payload(&payloads, "identity.user.display_name_changed");
    assert_eq!(renamed.user_id, member.id);
    assert_eq!(renamed.display_name, "Max M. Member");
    let registered = rows
        .iter()
        .filter(|r| r.event_type == "identity.user.registered")
        .map(|r| {
            let payload = r.envelope.payload.as_ref().unwrap();
            let message = identity::UserRegistered::decode(payload.value.as_slice()).unwrap();
            assert_eq!(message.user_id, r.aggregate_id);
            message.email
        })
        .collect::<BTreeSet<_>>();
    assert_eq!(
        registered,
        BTreeSet::from([owner_email, member_email.clone()])
    );

    // Workspace events concern their workspace.
    let rows = outbox(&services.databases[1]).await;
    let payloads = check_envelopes(&rows, "saas.workspace.v1");
    for row in &rows {
        assert_eq!(row.envelope.aggregate_type, "workspace.workspace");
        assert_eq!(row.envelope.aggregate_id, created.id);
        assert_eq!(row.envelope.workspace_id, created.id, "{row:?}");
    }
    let created_event: workspace::WorkspaceCreated =
        payload(&payloads, "workspace.workspace.created");
    assert_eq!(created_event.created_by_user_id, owner.id);
    let invited: workspace::WorkspaceInvitationSent =
        payload(&payloads, "workspace.workspace.invitation_sent");
    assert_eq!(invited.invitation_id, invitation.id);
    assert_eq!(invited.email, member_email);
    let joined: workspace::WorkspaceMemberJoined =
        payload(&payloads, "workspace.workspace.member_joined");
    assert_eq!(joined.workspace_id, created.id);
    assert_eq!(joined.user_id, member.id);
    assert_eq!(joined.role(), workspace::Role::Member);
    let promoted: workspace::WorkspaceRoleChanged =
        payload(&payloads, "workspace.workspace.role_changed");
    assert_eq!(promoted.previous_role(), workspace::Role::Member);
    assert_eq!(promoted.role(), workspace::Role::Admin);
    let renamed: workspace::WorkspaceRenamed = payload(&payloads, "workspace.workspace.renamed");
    assert_eq!(renamed.name, "Acme Corp");
    // Accepting made two events at one version.
    let accepted = rows
        .iter()
        .find(|r| r.event_type == "workspace.workspace.invitation_accepted")
        .unwrap();
    let joined_row = rows
        .iter()
        .find(|r| r.event_type == "workspace.workspace.member_joined")
        .unwrap();
    assert_eq!(
        accepted.envelope.aggregate_version,
        joined_row.envelope.aggregate_version
    );

    // Billing events concern the workspace the subscription pays for.
    let rows = outbox(&services.databases[2]).await;
    let payloads = check_envelopes(&rows, "saas.billing.v1");
    for row in &rows {
        assert_eq!(row.envelope.aggregate_type, "billing.subscription");
        assert_eq!(row.envelope.aggregate_id, subscription.id);
        assert_eq!(row.envelope.workspace_id, created.id, "{row:?}");
    }
    let seats: billing::SubscriptionSeatsChanged =
        payload(&payloads, "billing.subscription.seats_changed");
    assert_eq!(seats.workspace_id, created.id);
    assert_eq!((seats.previous_seats, seats.seats), (5, 8));
    assert_eq!(seats.monthly_amount_minor, 8 * 800);
    let paid: billing::SubscriptionPaymentSucceeded =
        payload(&payloads, "billing.subscription.payment_succeeded");
    assert!(paid.period_end_time.is_some());
    let past_due: billing::SubscriptionPaymentFailed =
        payload(&payloads, "billing.subscription.payment_failed");
    assert_eq!(past_due.subscription_id, subscription.id);
    assert_eq!(past_due.workspace_id, created.id);
}

/// Whether `haystack` contains `needle` anywhere.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}

#[tokio::test]
async fn no_envelope_holds_a_password_or_a_token_in_any_form() {
    let services = DataServices::spawn().await;
    let mut users = services.users().await;
    let mut workspaces = services.workspaces_client().await;

    let email = fresh_email("secretive");
    let user = users
        .register_user(identity::RegisterUserRequest {
            request_id: request_id(),
            email: email.clone(),
            display_name: "Sam Secretive".into(),
            password: FIRST_PASSWORD.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    users
        .change_password(identity::ChangePasswordRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            old_password: FIRST_PASSWORD.into(),
            new_password: SECOND_PASSWORD.into(),
        })
        .await
        .unwrap();
    let wrong = users
        .verify_credentials(identity::VerifyCredentialsRequest {
            email: email.clone(),
            password: WRONG_PASSWORD.into(),
        })
        .await;
    assert_eq!(wrong.unwrap_err().code(), tonic::Code::Unauthenticated);
    users
        .verify_credentials(identity::VerifyCredentialsRequest {
            email: email.clone(),
            password: SECOND_PASSWORD.into(),
        })
        .await
        .unwrap();
    users
        .start_email_verification(identity::StartEmailVerificationRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            token: VERIFY_TOKEN.into(),
        })
        .await
        .unwrap();
    users
        .confirm_email_verification(identity::ConfirmEmailVerificationRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: VERIFY_TOKEN.into(),
        })
        .await
        .unwrap();
    users
        .start_password_reset(identity::StartPasswordResetRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: RESET_TOKEN.into(),
        })
        .await
        .unwrap();
    users
        .complete_password_reset(identity::CompletePasswordResetRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: RESET_TOKEN.into(),
            new_password: THIRD_PASSWORD.into(),
        })
        .await
        .unwrap();

    let owner = uuid::Uuid::now_v7();
    let created = workspaces
        .create_workspace(as_actor(
            owner,
            workspace::CreateWorkspaceRequest {
                request_id: request_id(),
                slug: format!("ws-{}", uuid::Uuid::now_v7().simple()),
                name: "Vault".into(),
                seat_limit: 3,
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let invitation = workspaces
        .invite_member(as_actor(
            owner,
            workspace::InviteMemberRequest {
                id: created.id.clone(),
                request_id: request_id(),
                etag: String::new(),
                email: email.clone(),
                role: workspace::Role::Member as i32,
                token: INVITE_TOKEN.into(),
                invitee_user_id: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner()
        .invitation
        .unwrap();
    workspaces
        .accept_invitation(as_actor(
            &user.id,
            workspace::AcceptInvitationRequest {
                id: created.id.clone(),
                request_id: request_id(),
                invitation_id: invitation.id,
                token: INVITE_TOKEN.into(),
                user_email: email,
            },
        ))
        .await
        .unwrap();

    let identity_rows = outbox(&services.databases[0]).await;
    let workspace_rows = outbox(&services.databases[1]).await;
    let types: BTreeSet<&str> = identity_rows
        .iter()
        .chain(&workspace_rows)
        .map(|r| r.event_type.as_str())
        .collect();
    for flow in [
        "identity.user.registered",
        "identity.user.password_changed",
        "identity.user.login_failed",
        "identity.user.logged_in",
        "identity.user.email_verification_started",
        "identity.user.email_verified",
        "identity.user.password_reset_started",
        "identity.user.password_reset_completed",
        "workspace.workspace.invitation_sent",
        "workspace.workspace.invitation_accepted",
    ] {
        assert!(types.contains(flow), "{flow} has an envelope: {types:?}");
    }

    // The secrets as sent, and the token hashes as stored (hex and raw digest).
    let mut secrets: Vec<Vec<u8>> = [
        FIRST_PASSWORD,
        SECOND_PASSWORD,
        THIRD_PASSWORD,
        WRONG_PASSWORD,
        VERIFY_TOKEN,
        RESET_TOKEN,
        INVITE_TOKEN,
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    for token in [VERIFY_TOKEN, RESET_TOKEN, INVITE_TOKEN] {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(token.as_bytes());
        secrets.push(platform::rpc::hex(&digest).into_bytes());
        secrets.push(digest.to_vec());
    }
    for row in identity_rows.iter().chain(&workspace_rows) {
        for secret in &secrets {
            assert!(
                !contains(&row.raw, secret),
                "the envelope of {} holds {:?}",
                row.event_type,
                String::from_utf8_lossy(secret)
            );
        }
        assert!(
            !contains(&row.raw, b"argon2"),
            "the envelope of {} holds a password hash",
            row.event_type
        );
    }
}
