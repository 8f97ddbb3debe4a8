//! Bad input on every RPC: `INVALID_ARGUMENT` with `BadRequest` field violations naming every
//! bad field, and nothing changed.

use saas_proto::identity::v1 as pb;
use saas_tests::{IdentityService, UserClient};
use tonic::Status;

use super::{NEW_PASSWORD, PASSWORD, get, invalid, register, request_id, unknown_id};

const BAD_ID: &str = "not-a-uuid";
const BAD_ETAG: &str = "made-up";

#[tokio::test]
async fn get_user_needs_a_uuid_id() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    invalid(
        client
            .get_user(pb::GetUserRequest { id: String::new() })
            .await,
        "MISSING_FIELD",
        &["id"],
    );
    invalid(
        client
            .get_user(pb::GetUserRequest { id: BAD_ID.into() })
            .await,
        "INVALID_ID",
        &["id"],
    );
}

#[tokio::test]
async fn batch_get_users_names_every_bad_id_by_its_index() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    invalid(
        client
            .batch_get_users(pb::BatchGetUsersRequest {
                ids: vec![BAD_ID.into(), unknown_id(), String::new()],
            })
            .await,
        "INVALID_ID",
        &["ids[0]", "ids[2]"],
    );
}

#[tokio::test]
async fn batch_get_users_refuses_more_than_one_hundred_ids() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    invalid(
        client
            .batch_get_users(pb::BatchGetUsersRequest {
                ids: (0..101).map(|_| unknown_id()).collect(),
            })
            .await,
        "TOO_MANY_IDS",
        &["ids"],
    );
}

#[tokio::test]
async fn lookup_user_needs_a_valid_email() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let too_long = format!("{}@{}.com", "a".repeat(64), "b".repeat(200));
    for email in [
        "",
        "   ",
        "plain",
        "a@b",
        "a b@example.com",
        too_long.as_str(),
    ] {
        invalid(
            client
                .lookup_user(pb::LookupUserRequest {
                    email: email.into(),
                })
                .await,
            "INVALID_EMAIL",
            &["email"],
        );
    }
}

#[tokio::test]
async fn list_users_refuses_a_negative_page_size_and_a_foreign_page_token() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    invalid(
        client
            .list_users(pb::ListUsersRequest {
                page_size: -1,
                page_token: String::new(),
            })
            .await,
        "INVALID_PAGE_SIZE",
        &["page_size"],
    );
    // Garbage, valid base64 of something else, and a bare UUID are all foreign.
    for token in ["garbage!", "c29tZXRoaW5nIGVsc2U", &unknown_id()] {
        invalid(
            client
                .list_users(pb::ListUsersRequest {
                    page_size: 10,
                    page_token: token.into(),
                })
                .await,
            "INVALID_PAGE_TOKEN",
            &["page_token"],
        );
    }
}

#[tokio::test]
async fn list_users_names_both_a_bad_page_size_and_a_bad_page_token() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    invalid(
        client
            .list_users(pb::ListUsersRequest {
                page_size: -5,
                page_token: "garbage!".into(),
            })
            .await,
        "INVALID_PAGE_SIZE",
        &["page_size", "page_token"],
    );
}

#[tokio::test]
async fn list_users_serves_at_most_a_thousand_per_page() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    register(&mut client, "ada@example.com").await;
    let page = client
        .list_users(pb::ListUsersRequest {
            page_size: i32::MAX,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.users.len(), 1);
    assert_eq!(page.next_page_token, "");
}

#[tokio::test]
async fn register_user_names_every_bad_field() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    invalid(
        client
            .register_user(pb::RegisterUserRequest {
                request_id: String::new(),
                email: "not-an-email".into(),
                display_name: "   ".into(),
                password: "too short".into(),
                ..Default::default()
            })
            .await,
        "MISSING_REQUEST_ID",
        &["request_id", "email", "display_name", "password"],
    );
    let listed = client
        .list_users(pb::ListUsersRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(listed.users.is_empty());
}

#[tokio::test]
async fn register_user_checks_each_field_on_its_own() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let valid = || pb::RegisterUserRequest {
        request_id: request_id(),
        email: "ada@example.com".into(),
        display_name: "Ada".into(),
        password: PASSWORD.into(),
        ..Default::default()
    };
    let cases: Vec<(pb::RegisterUserRequest, &str, &str)> = vec![
        (
            pb::RegisterUserRequest {
                request_id: "not-a-uuid".into(),
                ..valid()
            },
            "INVALID_REQUEST_ID",
            "request_id",
        ),
        (
            pb::RegisterUserRequest {
                email: "ada@@example.com".into(),
                ..valid()
            },
            "INVALID_EMAIL",
            "email",
        ),
        (
            pb::RegisterUserRequest {
                display_name: "x".repeat(101),
                ..valid()
            },
            "INVALID_DISPLAY_NAME",
            "display_name",
        ),
        (
            pb::RegisterUserRequest {
                display_name: "Ada\u{1b}[31mLovelace".into(),
                ..valid()
            },
            "INVALID_DISPLAY_NAME",
            "display_name",
        ),
        (
            pb::RegisterUserRequest {
                display_name: "Ada\nLovelace".into(),
                ..valid()
            },
            "INVALID_DISPLAY_NAME",
            "display_name",
        ),
        (
            pb::RegisterUserRequest {
                display_name: "Ada\u{0}".into(),
                ..valid()
            },
            "INVALID_DISPLAY_NAME",
            "display_name",
        ),
        (
            pb::RegisterUserRequest {
                password: "elevenchars".into(),
                ..valid()
            },
            "INVALID_PASSWORD",
            "password",
        ),
        (
            pb::RegisterUserRequest {
                password: "p".repeat(129),
                ..valid()
            },
            "INVALID_PASSWORD",
            "password",
        ),
    ];
    for (request, reason, field) in cases {
        invalid(client.register_user(request).await, reason, &[field]);
    }
    // The boundaries themselves are fine: 100-character name, 12- and 128-character passwords.
    for (i, (name, password)) in [
        ("n".repeat(100), "twelve chars".to_owned()),
        ("Ada".to_owned(), "p".repeat(128)),
        ("Ünïcødé 名前".to_owned(), "ünïcødé pässwörd".to_owned()),
    ]
    .into_iter()
    .enumerate()
    {
        let user = client
            .register_user(pb::RegisterUserRequest {
                email: format!("user{i}@example.com"),
                display_name: name.clone(),
                password: password.clone(),
                ..valid()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(user.display_name, name);
        assert!(
            super::verify(&mut client, &user.email, &password)
                .await
                .is_ok()
        );
    }
}

#[tokio::test]
async fn verify_credentials_names_a_bad_email_and_a_bad_password() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    invalid(
        super::verify(&mut client, "nope", "short").await,
        "INVALID_EMAIL",
        &["email", "password"],
    );
    invalid(
        super::verify(&mut client, "ada@example.com", "").await,
        "INVALID_PASSWORD",
        &["password"],
    );
}

#[tokio::test]
async fn every_command_names_every_bad_field_at_once() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let long_token = "t".repeat(513);
    invalid(
        client
            .change_display_name(pb::ChangeDisplayNameRequest {
                id: BAD_ID.into(),
                request_id: "nope".into(),
                etag: BAD_ETAG.into(),
                display_name: "tab\there".into(),
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag", "display_name"],
    );
    invalid(
        client
            .change_email(pb::ChangeEmailRequest {
                id: String::new(),
                request_id: String::new(),
                etag: BAD_ETAG.into(),
                email: "@example.com".into(),
            })
            .await,
        "MISSING_FIELD",
        &["id", "request_id", "etag", "email"],
    );
    invalid(
        client
            .change_password(pb::ChangePasswordRequest {
                id: BAD_ID.into(),
                request_id: String::new(),
                etag: BAD_ETAG.into(),
                old_password: "short".into(),
                new_password: "x".repeat(200),
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag", "old_password", "new_password"],
    );
    invalid(
        client
            .open_session(pb::OpenSessionRequest {
                id: BAD_ID.into(),
                request_id: String::new(),
                etag: BAD_ETAG.into(),
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag"],
    );
    invalid(
        client
            .refresh_session(pb::RefreshSessionRequest {
                id: BAD_ID.into(),
                request_id: "nope".into(),
                session_id: BAD_ID.into(),
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "session_id"],
    );
    invalid(
        client
            .close_session(pb::CloseSessionRequest {
                id: String::new(),
                request_id: String::new(),
                session_id: String::new(),
            })
            .await,
        "MISSING_FIELD",
        &["id", "request_id", "session_id"],
    );
    invalid(
        client
            .start_email_verification(pb::StartEmailVerificationRequest {
                id: BAD_ID.into(),
                request_id: String::new(),
                etag: BAD_ETAG.into(),
                token: String::new(),
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag", "token"],
    );
    invalid(
        client
            .confirm_email_verification(pb::ConfirmEmailVerificationRequest {
                id: BAD_ID.into(),
                request_id: "nope".into(),
                token: long_token.clone(),
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "token"],
    );
    invalid(
        client
            .start_password_reset(pb::StartPasswordResetRequest {
                id: BAD_ID.into(),
                request_id: String::new(),
                token: String::new(),
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "token"],
    );
    invalid(
        client
            .complete_password_reset(pb::CompletePasswordResetRequest {
                id: BAD_ID.into(),
                request_id: String::new(),
                token: long_token,
                new_password: "short".into(),
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "token", "new_password"],
    );
    invalid(
        client
            .suspend_user(pb::SuspendUserRequest {
                id: BAD_ID.into(),
                request_id: String::new(),
                etag: BAD_ETAG.into(),
                reason: "  ".into(),
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag", "reason"],
    );
    invalid(
        client
            .reactivate_user(pb::ReactivateUserRequest {
                id: BAD_ID.into(),
                request_id: String::new(),
                etag: BAD_ETAG.into(),
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag"],
    );
    invalid(
        client
            .erase_user(pb::EraseUserRequest {
                id: BAD_ID.into(),
                request_id: String::new(),
                etag: BAD_ETAG.into(),
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag"],
    );
}

type Answer = Result<tonic::Response<()>, Status>;

/// Every command on user `id` with `request_id` and otherwise valid fields.
async fn every_command(
    client: &mut UserClient,
    id: &str,
    rid: &str,
) -> Vec<(&'static str, Answer)> {
    fn unit<T>(answer: Result<tonic::Response<T>, Status>) -> Answer {
        answer.map(|r| r.map(|_| ()))
    }
    let id = id.to_owned();
    let rid = rid.to_owned();
    let session_id = unknown_id();
    vec![
        (
            "RegisterUser",
            unit(
                client
                    .register_user(pb::RegisterUserRequest {
                        request_id: rid.clone(),
                        email: "someone.new@example.com".into(),
                        display_name: "Someone".into(),
                        password: PASSWORD.into(),
                        ..Default::default()
                    })
                    .await,
            ),
        ),
        (
            "ChangeDisplayName",
            unit(
                client
                    .change_display_name(pb::ChangeDisplayNameRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        etag: String::new(),
                        display_name: "New Name".into(),
                    })
                    .await,
            ),
        ),
        (
            "ChangeEmail",
            unit(
                client
                    .change_email(pb::ChangeEmailRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        etag: String::new(),
                        email: "new@example.com".into(),
                    })
                    .await,
            ),
        ),
        (
            "ChangePassword",
            unit(
                client
                    .change_password(pb::ChangePasswordRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        etag: String::new(),
                        old_password: PASSWORD.into(),
                        new_password: NEW_PASSWORD.into(),
                    })
                    .await,
            ),
        ),
        (
            "OpenSession",
            unit(
                client
                    .open_session(pb::OpenSessionRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        etag: String::new(),
                    })
                    .await,
            ),
        ),
        (
            "RefreshSession",
            unit(
                client
                    .refresh_session(pb::RefreshSessionRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        session_id: session_id.clone(),
                    })
                    .await,
            ),
        ),
        (
            "CloseSession",
            unit(
                client
                    .close_session(pb::CloseSessionRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        session_id: session_id.clone(),
                    })
                    .await,
            ),
        ),
        (
            "StartEmailVerification",
            unit(
                client
                    .start_email_verification(pb::StartEmailVerificationRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        etag: String::new(),
                        token: "token".into(),
                    })
                    .await,
            ),
        ),
        (
            "ConfirmEmailVerification",
            unit(
                client
                    .confirm_email_verification(pb::ConfirmEmailVerificationRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        token: "token".into(),
                    })
                    .await,
            ),
        ),
        (
            "StartPasswordReset",
            unit(
                client
                    .start_password_reset(pb::StartPasswordResetRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        token: "token".into(),
                    })
                    .await,
            ),
        ),
        (
            "CompletePasswordReset",
            unit(
                client
                    .complete_password_reset(pb::CompletePasswordResetRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        token: "token".into(),
                        new_password: NEW_PASSWORD.into(),
                    })
                    .await,
            ),
        ),
        (
            "SuspendUser",
            unit(
                client
                    .suspend_user(pb::SuspendUserRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        etag: String::new(),
                        reason: "abuse".into(),
                    })
                    .await,
            ),
        ),
        (
            "ReactivateUser",
            unit(
                client
                    .reactivate_user(pb::ReactivateUserRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        etag: String::new(),
                    })
                    .await,
            ),
        ),
        (
            "EraseUser",
            unit(
                client
                    .erase_user(pb::EraseUserRequest {
                        id: id.clone(),
                        request_id: rid.clone(),
                        etag: String::new(),
                    })
                    .await,
            ),
        ),
    ]
}

#[tokio::test]
async fn every_command_without_a_request_id_is_refused_and_changes_nothing() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let answers = every_command(&mut client, &user.id, "").await;
    assert_eq!(answers.len(), 14);
    for (method, answer) in answers {
        let status = invalid(answer, "MISSING_REQUEST_ID", &["request_id"]);
        assert!(!status.message().is_empty(), "{method}");
    }
    assert_eq!(get(&mut client, &user.id).await, user);
}

#[tokio::test]
async fn every_command_with_a_request_id_that_is_no_uuid_is_refused_and_changes_nothing() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    for rid in ["42", "req-1", "{not a uuid}"] {
        for (_, answer) in every_command(&mut client, &user.id, rid).await {
            invalid(answer, "INVALID_REQUEST_ID", &["request_id"]);
        }
    }
    assert_eq!(get(&mut client, &user.id).await, user);
}

#[tokio::test]
async fn commands_refuse_bad_names_emails_passwords_tokens_and_reasons_and_change_nothing() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let id = user.id.clone();
    for name in [
        "",
        "   ",
        &"n".repeat(101),
        "bell\u{7}",
        "line\nbreak",
        "\u{9b}csi",
    ] {
        invalid(
            client
                .change_display_name(pb::ChangeDisplayNameRequest {
                    id: id.clone(),
                    request_id: request_id(),
                    etag: String::new(),
                    display_name: name.into(),
                })
                .await,
            "INVALID_DISPLAY_NAME",
            &["display_name"],
        );
    }
    for email in [
        "",
        "ada",
        "ada@localhost",
        "ada@example.c",
        ".ada@example.com",
    ] {
        invalid(
            client
                .change_email(pb::ChangeEmailRequest {
                    id: id.clone(),
                    request_id: request_id(),
                    etag: String::new(),
                    email: email.into(),
                })
                .await,
            "INVALID_EMAIL",
            &["email"],
        );
    }
    invalid(
        client
            .change_password(pb::ChangePasswordRequest {
                id: id.clone(),
                request_id: request_id(),
                etag: String::new(),
                old_password: PASSWORD.into(),
                new_password: "elevenchars".into(),
            })
            .await,
        "INVALID_PASSWORD",
        &["new_password"],
    );
    invalid(
        client
            .complete_password_reset(pb::CompletePasswordResetRequest {
                id: id.clone(),
                request_id: request_id(),
                token: "token".into(),
                new_password: "p".repeat(129),
            })
            .await,
        "INVALID_PASSWORD",
        &["new_password"],
    );
    invalid(
        client
            .start_password_reset(pb::StartPasswordResetRequest {
                id: id.clone(),
                request_id: request_id(),
                token: "t".repeat(513),
            })
            .await,
        "INVALID_TOKEN",
        &["token"],
    );
    for reason in ["", &"r".repeat(501), "multi\nline"] {
        invalid(
            client
                .suspend_user(pb::SuspendUserRequest {
                    id: id.clone(),
                    request_id: request_id(),
                    etag: String::new(),
                    reason: reason.into(),
                })
                .await,
            "INVALID_SUSPENSION_REASON",
            &["reason"],
        );
    }
    assert_eq!(get(&mut client, &id).await, user);
}
