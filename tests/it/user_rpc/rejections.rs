//! Refused commands: each with its gRPC code and `ErrorInfo` reason in domain `identity.saas`,
//! and nothing changed afterwards.

use saas_proto::identity::v1 as pb;
use saas_tests::{IdentityService, UserClient};
use tonic::Code;

use super::{
    NEW_PASSWORD, PASSWORD, erase, get, invalid, login_refused, open_session, register, rejected,
    request_id, suspend, unknown_id, verify,
};

#[tokio::test]
async fn registering_a_taken_email_is_already_exists_even_in_another_case() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let ada = register(&mut client, "ada@example.com").await;
    let status = rejected(
        client
            .register_user(pb::RegisterUserRequest {
                request_id: request_id(),
                email: "  ADA@Example.Com".into(),
                display_name: "Impostor".into(),
                password: PASSWORD.into(),
                ..Default::default()
            })
            .await,
        Code::AlreadyExists,
        "EMAIL_TAKEN",
    );
    assert_eq!(super::violated_fields(&status), vec!["email"]);
    let all = client
        .list_users(pb::ListUsersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(all, vec![ada]);
}

#[tokio::test]
async fn changing_the_email_to_one_another_user_has_is_email_taken() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    register(&mut client, "ada@example.com").await;
    let bob = register(&mut client, "bob@example.com").await;
    rejected(
        client
            .change_email(pb::ChangeEmailRequest {
                id: bob.id.clone(),
                request_id: request_id(),
                etag: bob.etag.clone(),
                email: "Ada@Example.com".into(),
            })
            .await,
        Code::AlreadyExists,
        "EMAIL_TAKEN",
    );
    assert_eq!(get(&mut client, &bob.id).await, bob);
}

#[tokio::test]
async fn changing_the_email_to_the_current_one_is_email_unchanged() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let ada = register(&mut client, "ada@example.com").await;
    rejected(
        client
            .change_email(pb::ChangeEmailRequest {
                id: ada.id.clone(),
                request_id: request_id(),
                etag: String::new(),
                email: "ADA@example.com".into(),
            })
            .await,
        Code::FailedPrecondition,
        "EMAIL_UNCHANGED",
    );
    assert_eq!(get(&mut client, &ada.id).await, ada);
}

/// Calls every RPC that names a user by id with `id`, expecting each to be refused with
/// `code` / `reason`.
async fn every_command_on(client: &mut UserClient, id: &str, code: Code, reason: &str) {
    let id = id.to_owned();
    let session = unknown_id();
    rejected(
        client
            .change_display_name(pb::ChangeDisplayNameRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
                display_name: "New Name".into(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .change_email(pb::ChangeEmailRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
                email: "new@example.com".into(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .change_password(pb::ChangePasswordRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
                old_password: PASSWORD.into(),
                new_password: NEW_PASSWORD.into(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .open_session(pb::OpenSessionRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .refresh_session(pb::RefreshSessionRequest {
                id: id.clone(),
                request_id: request_id(),
                session_id: session.clone(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .close_session(pb::CloseSessionRequest {
                id: id.clone(),
                request_id: request_id(),
                session_id: session.clone(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .start_email_verification(pb::StartEmailVerificationRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
                token: "token".into(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .confirm_email_verification(pb::ConfirmEmailVerificationRequest {
                id: id.clone(),
                request_id: request_id(),
                token: "token".into(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .start_password_reset(pb::StartPasswordResetRequest {
                id: id.clone(),
                request_id: request_id(),
                token: "token".into(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .complete_password_reset(pb::CompletePasswordResetRequest {
                id: id.clone(),
                request_id: request_id(),
                token: "token".into(),
                new_password: NEW_PASSWORD.into(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .suspend_user(pb::SuspendUserRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
                reason: "abuse".into(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .reactivate_user(pb::ReactivateUserRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .erase_user(pb::EraseUserRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
            })
            .await,
        code,
        reason,
    );
}

#[tokio::test]
async fn an_unknown_user_id_is_user_not_found_on_every_rpc() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    register(&mut client, "ada@example.com").await;
    let id = unknown_id();
    rejected(
        client.get_user(pb::GetUserRequest { id: id.clone() }).await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    rejected(
        client
            .lookup_user(pb::LookupUserRequest {
                email: "nobody@example.com".into(),
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    every_command_on(&mut client, &id, Code::NotFound, "USER_NOT_FOUND").await;
}

#[tokio::test]
async fn an_erased_user_refuses_every_command_with_user_erased() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let ada = register(&mut client, "ada@example.com").await;
    let erased = erase(&mut client, &ada.id).await;
    every_command_on(
        &mut client,
        &ada.id,
        Code::FailedPrecondition,
        "USER_ERASED",
    )
    .await;
    assert_eq!(get(&mut client, &ada.id).await, erased);
}

#[tokio::test]
async fn a_stale_etag_is_aborted_and_changes_nothing() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let renamed = client
        .change_display_name(pb::ChangeDisplayNameRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: user.etag.clone(),
            display_name: "First".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let stale = user.etag.clone();
    rejected(
        client
            .change_display_name(pb::ChangeDisplayNameRequest {
                id: user.id.clone(),
                request_id: request_id(),
                etag: stale.clone(),
                display_name: "Second".into(),
            })
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    rejected(
        client
            .suspend_user(pb::SuspendUserRequest {
                id: user.id.clone(),
                request_id: request_id(),
                etag: stale.clone(),
                reason: "abuse".into(),
            })
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    rejected(
        client
            .erase_user(pb::EraseUserRequest {
                id: user.id.clone(),
                request_id: request_id(),
                etag: stale.clone(),
            })
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    rejected(
        client
            .open_session(pb::OpenSessionRequest {
                id: user.id.clone(),
                request_id: request_id(),
                etag: stale,
            })
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    assert_eq!(get(&mut client, &user.id).await, renamed);
}

#[tokio::test]
async fn an_etag_from_the_future_is_aborted_too() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    // Well-formed, so one the server could issue, but not the current version.
    rejected(
        client
            .change_display_name(pb::ChangeDisplayNameRequest {
                id: user.id.clone(),
                request_id: request_id(),
                etag: "W/\"v42\"".into(),
                display_name: "Second".into(),
            })
            .await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    assert_eq!(get(&mut client, &user.id).await, user);
}

#[tokio::test]
async fn a_made_up_etag_is_invalid_argument() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    for etag in ["abc", "W/\"v0\"", "\"1\"", "W/\"v-1\"", "W/\"vx\""] {
        invalid(
            client
                .change_display_name(pb::ChangeDisplayNameRequest {
                    id: user.id.clone(),
                    request_id: request_id(),
                    etag: etag.into(),
                    display_name: "Second".into(),
                })
                .await,
            "INVALID_ETAG",
            &["etag"],
        );
    }
    assert_eq!(get(&mut client, &user.id).await, user);
}

#[tokio::test]
async fn a_wrong_old_password_is_permission_denied_and_changes_nothing() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let (with_session, _) = open_session(&mut client, &user.id).await;
    rejected(
        client
            .change_password(pb::ChangePasswordRequest {
                id: user.id.clone(),
                request_id: request_id(),
                etag: String::new(),
                old_password: "not the password at all".into(),
                new_password: NEW_PASSWORD.into(),
            })
            .await,
        Code::PermissionDenied,
        "WRONG_PASSWORD",
    );
    assert_eq!(get(&mut client, &user.id).await, with_session);
    assert!(
        verify(&mut client, "ada@example.com", PASSWORD)
            .await
            .is_ok()
    );
    login_refused(verify(&mut client, "ada@example.com", NEW_PASSWORD).await);
}

#[tokio::test]
async fn unknown_email_wrong_password_locked_and_suspended_logins_are_indistinguishable() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    register(&mut client, "wrong@example.com").await;
    let locked = register(&mut client, "locked@example.com").await;
    let suspended = register(&mut client, "suspended@example.com").await;
    for _ in 0..5 {
        login_refused(verify(&mut client, "locked@example.com", "a wrong password!").await);
    }
    assert!(
        get(&mut client, &locked.id)
            .await
            .lock_expire_time
            .is_some()
    );
    suspend(&mut client, &suspended.id).await;

    let answers = [
        verify(&mut client, "nobody@example.com", PASSWORD).await,
        verify(&mut client, "wrong@example.com", "a wrong password!").await,
        verify(&mut client, "locked@example.com", PASSWORD).await,
        verify(&mut client, "suspended@example.com", PASSWORD).await,
    ]
    .map(login_refused);
    for answer in &answers[1..] {
        assert_eq!(answer.code(), answers[0].code());
        assert_eq!(answer.message(), answers[0].message());
        assert_eq!(answer.details(), answers[0].details());
    }
}

#[tokio::test]
async fn a_suspended_user_is_refused_what_needs_an_active_user() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    client
        .start_password_reset(pb::StartPasswordResetRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: "reset-token".into(),
        })
        .await
        .unwrap();
    let suspended = suspend(&mut client, &user.id).await;
    let id = user.id.clone();
    let not_active = |result: Result<tonic::Response<_>, tonic::Status>| {
        rejected(result, Code::FailedPrecondition, "USER_NOT_ACTIVE");
    };
    not_active(
        client
            .open_session(pb::OpenSessionRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
            })
            .await
            .map(|r| r.map(|o| o.user.unwrap_or_default())),
    );
    not_active(
        client
            .change_email(pb::ChangeEmailRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
                email: "new@example.com".into(),
            })
            .await,
    );
    not_active(
        client
            .change_password(pb::ChangePasswordRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
                old_password: PASSWORD.into(),
                new_password: NEW_PASSWORD.into(),
            })
            .await,
    );
    not_active(
        client
            .start_email_verification(pb::StartEmailVerificationRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
                token: "verify-token".into(),
            })
            .await,
    );
    not_active(
        client
            .confirm_email_verification(pb::ConfirmEmailVerificationRequest {
                id: id.clone(),
                request_id: request_id(),
                token: "verify-token".into(),
            })
            .await,
    );
    not_active(
        client
            .start_password_reset(pb::StartPasswordResetRequest {
                id: id.clone(),
                request_id: request_id(),
                token: "reset-token-2".into(),
            })
            .await,
    );
    not_active(
        client
            .complete_password_reset(pb::CompletePasswordResetRequest {
                id: id.clone(),
                request_id: request_id(),
                token: "reset-token".into(),
                new_password: NEW_PASSWORD.into(),
            })
            .await,
    );
    not_active(
        client
            .refresh_session(pb::RefreshSessionRequest {
                id: id.clone(),
                request_id: request_id(),
                session_id: unknown_id(),
            })
            .await
            .map(|r| r.map(|o| o.user.unwrap_or_default())),
    );
    rejected(
        client
            .suspend_user(pb::SuspendUserRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
                reason: "again".into(),
            })
            .await,
        Code::FailedPrecondition,
        "USER_ALREADY_SUSPENDED",
    );
    assert_eq!(get(&mut client, &id).await, suspended);

    // Renaming is still allowed while suspended.
    let renamed = client
        .change_display_name(pb::ChangeDisplayNameRequest {
            id: id.clone(),
            request_id: request_id(),
            etag: suspended.etag.clone(),
            display_name: "Still Ada".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.display_name, "Still Ada");
}

#[tokio::test]
async fn reactivating_an_active_user_is_user_not_suspended() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    rejected(
        client
            .reactivate_user(pb::ReactivateUserRequest {
                id: user.id.clone(),
                request_id: request_id(),
                etag: user.etag.clone(),
            })
            .await,
        Code::FailedPrecondition,
        "USER_NOT_SUSPENDED",
    );
    assert_eq!(get(&mut client, &user.id).await, user);
}

#[tokio::test]
async fn an_unknown_or_closed_session_is_session_not_found() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    rejected(
        client
            .refresh_session(pb::RefreshSessionRequest {
                id: user.id.clone(),
                request_id: request_id(),
                session_id: unknown_id(),
            })
            .await,
        Code::NotFound,
        "SESSION_NOT_FOUND",
    );
    let (_, session) = open_session(&mut client, &user.id).await;
    client
        .close_session(pb::CloseSessionRequest {
            id: user.id.clone(),
            request_id: request_id(),
            session_id: session.id.clone(),
        })
        .await
        .unwrap();
    rejected(
        client
            .close_session(pb::CloseSessionRequest {
                id: user.id.clone(),
                request_id: request_id(),
                session_id: session.id.clone(),
            })
            .await,
        Code::NotFound,
        "SESSION_NOT_FOUND",
    );
    rejected(
        client
            .refresh_session(pb::RefreshSessionRequest {
                id: user.id.clone(),
                request_id: request_id(),
                session_id: session.id.clone(),
            })
            .await,
        Code::NotFound,
        "SESSION_NOT_FOUND",
    );
}

#[tokio::test]
async fn another_users_session_is_session_not_found() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let ada = register(&mut client, "ada@example.com").await;
    let bob = register(&mut client, "bob@example.com").await;
    let (_, bobs) = open_session(&mut client, &bob.id).await;
    rejected(
        client
            .close_session(pb::CloseSessionRequest {
                id: ada.id.clone(),
                request_id: request_id(),
                session_id: bobs.id.clone(),
            })
            .await,
        Code::NotFound,
        "SESSION_NOT_FOUND",
    );
    assert_eq!(get(&mut client, &bob.id).await.sessions, vec![bobs]);
}

#[tokio::test]
async fn a_wrong_or_replaced_verification_token_is_token_invalid() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let confirm = |token: &str| pb::ConfirmEmailVerificationRequest {
        id: user.id.clone(),
        request_id: request_id(),
        token: token.into(),
    };
    // Nothing started yet.
    rejected(
        client.confirm_email_verification(confirm("first")).await,
        Code::FailedPrecondition,
        "TOKEN_INVALID",
    );
    for token in ["first", "second"] {
        client
            .start_email_verification(pb::StartEmailVerificationRequest {
                id: user.id.clone(),
                request_id: request_id(),
                etag: String::new(),
                token: token.into(),
            })
            .await
            .unwrap();
    }
    let before = get(&mut client, &user.id).await;
    rejected(
        client.confirm_email_verification(confirm("wrong")).await,
        Code::FailedPrecondition,
        "TOKEN_INVALID",
    );
    // Starting again replaced the first token.
    rejected(
        client.confirm_email_verification(confirm("first")).await,
        Code::FailedPrecondition,
        "TOKEN_INVALID",
    );
    assert_eq!(get(&mut client, &user.id).await, before);
    let verified = client
        .confirm_email_verification(confirm("second"))
        .await
        .unwrap()
        .into_inner();
    assert!(verified.email_verified);
    // Used up: the address is verified now, so confirming again is refused.
    rejected(
        client.confirm_email_verification(confirm("second")).await,
        Code::FailedPrecondition,
        "EMAIL_ALREADY_VERIFIED",
    );
    rejected(
        client
            .start_email_verification(pb::StartEmailVerificationRequest {
                id: user.id.clone(),
                request_id: request_id(),
                etag: String::new(),
                token: "third".into(),
            })
            .await,
        Code::FailedPrecondition,
        "EMAIL_ALREADY_VERIFIED",
    );
}

#[tokio::test]
async fn a_wrong_or_reused_reset_token_is_token_invalid() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let complete = |token: &str, password: &str| pb::CompletePasswordResetRequest {
        id: user.id.clone(),
        request_id: request_id(),
        token: token.into(),
        new_password: password.into(),
    };
    rejected(
        client
            .complete_password_reset(complete("never-started", NEW_PASSWORD))
            .await,
        Code::FailedPrecondition,
        "TOKEN_INVALID",
    );
    client
        .start_password_reset(pb::StartPasswordResetRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: "the-reset-token".into(),
        })
        .await
        .unwrap();
    rejected(
        client
            .complete_password_reset(complete("not-the-reset-token", NEW_PASSWORD))
            .await,
        Code::FailedPrecondition,
        "TOKEN_INVALID",
    );
    assert!(
        verify(&mut client, "ada@example.com", PASSWORD)
            .await
            .is_ok()
    );
    client
        .complete_password_reset(complete("the-reset-token", NEW_PASSWORD))
        .await
        .unwrap();
    rejected(
        client
            .complete_password_reset(complete("the-reset-token", "yet another password"))
            .await,
        Code::FailedPrecondition,
        "TOKEN_INVALID",
    );
    assert!(
        verify(&mut client, "ada@example.com", NEW_PASSWORD)
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn changing_the_email_cancels_pending_tokens() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    client
        .start_email_verification(pb::StartEmailVerificationRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            token: "verify-old-address".into(),
        })
        .await
        .unwrap();
    client
        .start_password_reset(pb::StartPasswordResetRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: "reset-via-old-address".into(),
        })
        .await
        .unwrap();
    client
        .change_email(pb::ChangeEmailRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            email: "ada@new.example.com".into(),
        })
        .await
        .unwrap();
    rejected(
        client
            .confirm_email_verification(pb::ConfirmEmailVerificationRequest {
                id: user.id.clone(),
                request_id: request_id(),
                token: "verify-old-address".into(),
            })
            .await,
        Code::FailedPrecondition,
        "TOKEN_INVALID",
    );
    rejected(
        client
            .complete_password_reset(pb::CompletePasswordResetRequest {
                id: user.id.clone(),
                request_id: request_id(),
                token: "reset-via-old-address".into(),
                new_password: NEW_PASSWORD.into(),
            })
            .await,
        Code::FailedPrecondition,
        "TOKEN_INVALID",
    );
}
