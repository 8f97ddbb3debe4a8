//! Passwords and tokens never reach the idempotency records or the outbox, in any form.

use saas_proto::identity::v1 as pb;
use saas_tests::IdentityService;
use sea_orm::{ConnectionTrait, Statement};

use super::{get, request_id};

const FIRST_PASSWORD: &str = "first-Pa55word-4-tests";
const SECOND_PASSWORD: &str = "second-Pa55word-4-tests";
const THIRD_PASSWORD: &str = "third-Pa55word-4-tests";
const VERIFY_TOKEN: &str = "verify-TOKEN-0c5e1a9b7d3f";
const RESET_TOKEN: &str = "reset-TOKEN-5b2e9d0f1c7a";

/// Every row of `table` as text: text columns as they are, byte columns decoded lossily and
/// also as hex, so a secret is found whichever way it was stored.
async fn rows(db: &sea_orm::DatabaseConnection, sql: &str, columns: usize) -> Vec<String> {
    let rows = db
        .query_all_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .unwrap();
    rows.iter()
        .map(|row| {
            let mut text = String::new();
            for i in 0..columns {
                if let Ok(Some(value)) = row.try_get_by_index::<Option<String>>(i) {
                    text.push_str(&value);
                } else if let Ok(Some(bytes)) = row.try_get_by_index::<Option<Vec<u8>>>(i) {
                    // A stored response may be a zstd frame: read what it holds.
                    let bytes = platform::store::responses::unpack(&bytes);
                    text.push_str(&String::from_utf8_lossy(&bytes));
                    text.push_str(&platform::rpc::hex(&bytes));
                } else if let Ok(Some(number)) = row.try_get_by_index::<Option<i64>>(i) {
                    text.push_str(&number.to_string());
                }
                text.push('|');
            }
            text
        })
        .collect()
}

/// The token hash the aggregate keeps (it belongs in the users table only).
fn sha256_hex(text: &str) -> String {
    use sha2::Digest;
    platform::rpc::hex(&sha2::Sha256::digest(text.as_bytes()))
}

#[tokio::test]
async fn no_password_or_token_is_kept_in_the_idempotency_records_or_the_outbox() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let register = pb::RegisterUserRequest {
        request_id: request_id(),
        email: "ada@example.com".into(),
        display_name: "Ada".into(),
        password: FIRST_PASSWORD.into(),
        ..Default::default()
    };
    let user = client
        .register_user(register.clone())
        .await
        .unwrap()
        .into_inner();
    let change = pb::ChangePasswordRequest {
        id: user.id.clone(),
        request_id: request_id(),
        etag: String::new(),
        old_password: FIRST_PASSWORD.into(),
        new_password: SECOND_PASSWORD.into(),
    };
    client.change_password(change.clone()).await.unwrap();
    let start_verification = pb::StartEmailVerificationRequest {
        id: user.id.clone(),
        request_id: request_id(),
        etag: String::new(),
        token: VERIFY_TOKEN.into(),
    };
    client
        .start_email_verification(start_verification.clone())
        .await
        .unwrap();
    let confirm = pb::ConfirmEmailVerificationRequest {
        id: user.id.clone(),
        request_id: request_id(),
        token: VERIFY_TOKEN.into(),
    };
    client
        .confirm_email_verification(confirm.clone())
        .await
        .unwrap();
    let start_reset = pb::StartPasswordResetRequest {
        id: user.id.clone(),
        request_id: request_id(),
        token: RESET_TOKEN.into(),
    };
    client
        .start_password_reset(start_reset.clone())
        .await
        .unwrap();
    let complete = pb::CompletePasswordResetRequest {
        id: user.id.clone(),
        request_id: request_id(),
        token: RESET_TOKEN.into(),
        new_password: THIRD_PASSWORD.into(),
    };
    client
        .complete_password_reset(complete.clone())
        .await
        .unwrap();
    assert!(get(&mut client, &user.id).await.email_verified);

    let db = platform::db::open(&service.database.url, platform::db::PoolSize { max: 1 })
        .await
        .unwrap();
    let idempotency = rows(
        &db,
        "SELECT request_id, method, fingerprint, response FROM idempotency",
        4,
    )
    .await;
    let outbox = rows(
        &db,
        "SELECT event_id, aggregate_type, aggregate_id, event_type, envelope FROM outbox",
        5,
    )
    .await;
    let users = rows(&db, "SELECT id, doc, email FROM users", 3).await;
    db.close().await.ok();
    assert_eq!(idempotency.len(), 6, "one record per command");
    assert!(outbox.len() >= 6, "at least one event per command");
    assert_eq!(users.len(), 1);

    // What would betray a secret: the secret itself, the token hashes, and the fingerprints
    // of the requests as sent (with the secret fields still in them).
    let secrets = [
        FIRST_PASSWORD.to_owned(),
        SECOND_PASSWORD.to_owned(),
        THIRD_PASSWORD.to_owned(),
        VERIFY_TOKEN.to_owned(),
        RESET_TOKEN.to_owned(),
    ];
    let mut derived = vec![sha256_hex(VERIFY_TOKEN), sha256_hex(RESET_TOKEN)];
    derived.extend([
        platform::rpc::fingerprint("RegisterUser", &register),
        platform::rpc::fingerprint("ChangePassword", &change),
        platform::rpc::fingerprint("StartEmailVerification", &start_verification),
        platform::rpc::fingerprint("ConfirmEmailVerification", &confirm),
        platform::rpc::fingerprint("StartPasswordReset", &start_reset),
        platform::rpc::fingerprint("CompletePasswordReset", &complete),
    ]);
    for row in idempotency.iter().chain(&outbox) {
        for secret in secrets.iter().chain(&derived) {
            assert!(
                !row.contains(secret.as_str()),
                "a stored row holds {secret:?}: {row}"
            );
        }
        assert!(!row.to_lowercase().contains("argon2"), "a hash in {row}");
    }
    // The aggregate itself keeps only the argon2 hash, never a plain password or token.
    for secret in &secrets {
        assert!(
            !users[0].contains(secret.as_str()),
            "users row holds {secret}"
        );
    }
    assert!(
        users[0].contains("$argon2id$"),
        "the password is an argon2id hash"
    );
}
