//! Every RPC's accepted path, checking the resource it returns.

use chrono::Duration;
use kernel_domain::Clock;
use saas_proto::identity::v1 as pb;
use saas_tests::IdentityService;

use super::{
    NEW_PASSWORD, PASSWORD, at, get, open_session, register, register_named, request_id,
    session_ids, status_of, verify,
};

#[tokio::test]
async fn register_user_returns_an_active_user_with_normalised_email_and_trimmed_name() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = client
        .register_user(pb::RegisterUserRequest {
            request_id: request_id(),
            email: "  Grace.Hopper@Example.COM ".into(),
            display_name: "  Grace Hopper  ".into(),
            password: PASSWORD.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let id = uuid::Uuid::parse_str(&user.id).expect("id is a UUID");
    assert_eq!(id.get_version_num(), 7);
    assert_eq!(user.email, "grace.hopper@example.com");
    assert_eq!(user.display_name, "Grace Hopper");
    assert_eq!(status_of(&user), pb::UserStatus::Active);
    assert_eq!(user.suspension_reason, "");
    assert!(!user.email_verified);
    assert!(user.sessions.is_empty());
    assert_eq!(user.lock_expire_time, None);
    assert!(!user.etag.is_empty());
    assert_eq!(at(&user.create_time), service.clock.now());
    assert_eq!(at(&user.update_time), service.clock.now());
}

#[tokio::test]
async fn get_user_returns_the_user_as_last_changed() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    assert_eq!(get(&mut client, &user.id).await, user);
    let renamed = client
        .change_display_name(pb::ChangeDisplayNameRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: user.etag.clone(),
            display_name: "Countess of Lovelace".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(get(&mut client, &user.id).await, renamed);
}

#[tokio::test]
async fn batch_get_users_returns_the_users_in_the_order_asked_and_leaves_out_unknown_ids() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let a = register(&mut client, "a@example.com").await;
    let b = register(&mut client, "b@example.com").await;
    let c = register(&mut client, "c@example.com").await;
    let found = client
        .batch_get_users(pb::BatchGetUsersRequest {
            ids: vec![
                c.id.clone(),
                super::unknown_id(),
                a.id.clone(),
                b.id.clone(),
            ],
        })
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(found, vec![c, a, b]);
    let none = client
        .batch_get_users(pb::BatchGetUsersRequest { ids: vec![] })
        .await
        .unwrap()
        .into_inner()
        .users;
    assert!(none.is_empty());
}

#[tokio::test]
async fn batch_get_users_accepts_one_hundred_ids() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let mut ids: Vec<String> = (0..99).map(|_| super::unknown_id()).collect();
    ids.push(user.id.clone());
    let found = client
        .batch_get_users(pb::BatchGetUsersRequest { ids })
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(found, vec![user]);
}

#[tokio::test]
async fn lookup_user_finds_the_user_by_email_in_any_case_and_spacing() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    register(&mut client, "bob@example.com").await;
    let found = client
        .lookup_user(pb::LookupUserRequest {
            email: " ADA@Example.com ".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found, user);
}

#[tokio::test]
async fn list_users_pages_through_every_user_in_id_order_until_the_token_is_empty() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let mut registered = Vec::new();
    for i in 0..7 {
        registered.push(register(&mut client, &format!("user{i}@example.com")).await);
    }
    let mut listed = Vec::new();
    let mut page_sizes = Vec::new();
    let mut token = String::new();
    loop {
        let page = client
            .list_users(pb::ListUsersRequest {
                page_size: 3,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        page_sizes.push(page.users.len());
        listed.extend(page.users);
        if page.next_page_token.is_empty() {
            break;
        }
        assert!(page_sizes.len() < 10, "paging does not end");
        token = page.next_page_token;
    }
    assert_eq!(page_sizes, vec![3, 3, 1]);
    let mut expected = registered.clone();
    expected.sort_by(|a, b| a.id.cmp(&b.id));
    assert_eq!(listed, expected);

    // Page size 0 means the default (50): everything on one page, no next token.
    let all = client
        .list_users(pb::ListUsersRequest {
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(all.users.len(), 7);
    assert_eq!(all.next_page_token, "");
}

#[tokio::test]
async fn list_users_of_an_exactly_full_last_page_gives_no_next_token() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    for i in 0..4 {
        register(&mut client, &format!("user{i}@example.com")).await;
    }
    let first = client
        .list_users(pb::ListUsersRequest {
            page_size: 2,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.users.len(), 2);
    assert!(!first.next_page_token.is_empty());
    let second = client
        .list_users(pb::ListUsersRequest {
            page_size: 2,
            page_token: first.next_page_token,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.users.len(), 2);
    assert_eq!(second.next_page_token, "");
}

#[tokio::test]
async fn change_display_name_renames_and_moves_etag_and_update_time() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    service.clock.advance(Duration::minutes(5));
    let renamed = client
        .change_display_name(pb::ChangeDisplayNameRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: user.etag.clone(),
            display_name: " Augusta Ada King ".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.display_name, "Augusta Ada King");
    assert_ne!(renamed.etag, user.etag);
    assert_eq!(renamed.create_time, user.create_time);
    assert_eq!(at(&renamed.update_time), service.clock.now());
    assert_eq!(renamed.email, user.email);
}

#[tokio::test]
async fn change_email_sets_the_new_address_unverified_and_frees_the_old_one() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    client
        .start_email_verification(pb::StartEmailVerificationRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            token: "verify-token-1".into(),
        })
        .await
        .unwrap();
    let verified = client
        .confirm_email_verification(pb::ConfirmEmailVerificationRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: "verify-token-1".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(verified.email_verified);
    service.clock.advance(Duration::minutes(1));
    let changed = client
        .change_email(pb::ChangeEmailRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: verified.etag.clone(),
            email: "Ada@Lovelace.org".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(changed.email, "ada@lovelace.org");
    assert!(!changed.email_verified);
    assert_ne!(changed.etag, verified.etag);
    assert_eq!(at(&changed.update_time), service.clock.now());
    let found = client
        .lookup_user(pb::LookupUserRequest {
            email: "ada@lovelace.org".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.id, user.id);
    // The old address is free for someone else.
    let other = register(&mut client, "ada@example.com").await;
    assert_ne!(other.id, user.id);
}

#[tokio::test]
async fn change_password_with_the_old_one_replaces_it_and_closes_every_session() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    open_session(&mut client, &user.id).await;
    let (with_sessions, _) = open_session(&mut client, &user.id).await;
    assert_eq!(with_sessions.sessions.len(), 2);
    service.clock.advance(Duration::minutes(1));
    let changed = client
        .change_password(pb::ChangePasswordRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: with_sessions.etag.clone(),
            old_password: PASSWORD.into(),
            new_password: NEW_PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(changed.sessions.is_empty());
    assert_ne!(changed.etag, with_sessions.etag);
    assert_eq!(at(&changed.update_time), service.clock.now());
    super::login_refused(verify(&mut client, "ada@example.com", PASSWORD).await);
    let verified = verify(&mut client, "ada@example.com", NEW_PASSWORD)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verified.id, user.id);
}

#[tokio::test]
async fn verify_credentials_returns_the_user_for_the_right_password() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let verified = verify(&mut client, " ADA@example.com", PASSWORD)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verified.id, user.id);
    assert_eq!(verified.email, "ada@example.com");
    assert_eq!(verified.lock_expire_time, None);
    assert_eq!(status_of(&verified), pb::UserStatus::Active);
}

#[tokio::test]
async fn open_refresh_and_close_a_session() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let opened_at = service.clock.now();
    let opened = client
        .open_session(pb::OpenSessionRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: user.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let (after_open, session) = (opened.user.unwrap(), opened.session.unwrap());
    assert_eq!(after_open.sessions, vec![session.clone()]);
    assert_ne!(after_open.etag, user.etag);
    assert_eq!(at(&session.create_time), opened_at);
    assert_eq!(at(&session.refresh_time), opened_at);
    assert_eq!(at(&session.expire_time), opened_at + Duration::days(30));
    uuid::Uuid::parse_str(&session.id).expect("session id is a UUID");

    service.clock.advance(Duration::days(3));
    let refreshed = client
        .refresh_session(pb::RefreshSessionRequest {
            id: user.id.clone(),
            request_id: request_id(),
            session_id: session.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    let (after_refresh, refreshed_session) = (refreshed.user.unwrap(), refreshed.session.unwrap());
    let now = service.clock.now();
    assert_eq!(refreshed_session.id, session.id);
    assert_eq!(at(&refreshed_session.create_time), opened_at);
    assert_eq!(at(&refreshed_session.refresh_time), now);
    assert_eq!(at(&refreshed_session.expire_time), now + Duration::days(30));
    assert_eq!(after_refresh.sessions, vec![refreshed_session]);
    assert_ne!(after_refresh.etag, after_open.etag);
    assert_eq!(at(&after_refresh.update_time), now);

    service.clock.advance(Duration::hours(1));
    let closed = client
        .close_session(pb::CloseSessionRequest {
            id: user.id.clone(),
            request_id: request_id(),
            session_id: session.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(closed.sessions.is_empty());
    assert_ne!(closed.etag, after_refresh.etag);
    assert_eq!(at(&closed.update_time), service.clock.now());
}

#[tokio::test]
async fn closing_one_session_leaves_the_others_open() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let (_, first) = open_session(&mut client, &user.id).await;
    let (_, second) = open_session(&mut client, &user.id).await;
    let closed = client
        .close_session(pb::CloseSessionRequest {
            id: user.id.clone(),
            request_id: request_id(),
            session_id: first.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(session_ids(&closed), vec![second.id]);
}

#[tokio::test]
async fn email_verification_stores_the_token_and_confirming_it_verifies_the_email() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    service.clock.advance(Duration::minutes(1));
    let started = client
        .start_email_verification(pb::StartEmailVerificationRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: user.etag.clone(),
            token: "mailed-verification-token".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!started.email_verified);
    assert_ne!(started.etag, user.etag);
    assert_eq!(at(&started.update_time), service.clock.now());
    service.clock.advance(Duration::minutes(10));
    let confirmed = client
        .confirm_email_verification(pb::ConfirmEmailVerificationRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: "mailed-verification-token".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(confirmed.email_verified);
    assert_ne!(confirmed.etag, started.etag);
    assert_eq!(at(&confirmed.update_time), service.clock.now());
    assert!(get(&mut client, &user.id).await.email_verified);
}

#[tokio::test]
async fn password_reset_with_the_mailed_token_sets_a_new_password_and_closes_sessions() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    open_session(&mut client, &user.id).await;
    let started = client
        .start_password_reset(pb::StartPasswordResetRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: "mailed-reset-token".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(started.sessions.len(), 1);
    service.clock.advance(Duration::minutes(20));
    let completed = client
        .complete_password_reset(pb::CompletePasswordResetRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: "mailed-reset-token".into(),
            new_password: NEW_PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(completed.sessions.is_empty());
    assert_ne!(completed.etag, started.etag);
    assert_eq!(at(&completed.update_time), service.clock.now());
    super::login_refused(verify(&mut client, "ada@example.com", PASSWORD).await);
    assert_eq!(
        verify(&mut client, "ada@example.com", NEW_PASSWORD)
            .await
            .unwrap()
            .into_inner()
            .id,
        user.id
    );
}

#[tokio::test]
async fn suspend_closes_sessions_and_reactivate_lets_the_user_log_in_again() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let (with_session, _) = open_session(&mut client, &user.id).await;
    service.clock.advance(Duration::minutes(1));
    let suspended = client
        .suspend_user(pb::SuspendUserRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: with_session.etag.clone(),
            reason: "  unpaid invoices  ".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status_of(&suspended), pb::UserStatus::Suspended);
    assert_eq!(suspended.suspension_reason, "unpaid invoices");
    assert!(suspended.sessions.is_empty());
    assert_ne!(suspended.etag, with_session.etag);
    assert_eq!(at(&suspended.update_time), service.clock.now());

    service.clock.advance(Duration::minutes(1));
    let reactivated = client
        .reactivate_user(pb::ReactivateUserRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: suspended.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(status_of(&reactivated), pb::UserStatus::Active);
    assert_eq!(reactivated.suspension_reason, "");
    assert_ne!(reactivated.etag, suspended.etag);
    assert_eq!(at(&reactivated.update_time), service.clock.now());
    assert!(
        verify(&mut client, "ada@example.com", PASSWORD)
            .await
            .is_ok()
    );
    open_session(&mut client, &user.id).await;
}

#[tokio::test]
async fn erase_user_replaces_personal_data_and_keeps_the_id() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register_named(&mut client, "ada@example.com", "Ada Lovelace").await;
    let (with_session, _) = open_session(&mut client, &user.id).await;
    service.clock.advance(Duration::minutes(1));
    let erased = client
        .erase_user(pb::EraseUserRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: with_session.etag.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(erased.id, user.id);
    assert_eq!(status_of(&erased), pb::UserStatus::Erased);
    assert_eq!(erased.email, "");
    assert_eq!(erased.display_name, "Erased user");
    assert!(!erased.email_verified);
    assert!(erased.sessions.is_empty());
    assert_ne!(erased.etag, with_session.etag);
    assert_eq!(erased.create_time, user.create_time);
    assert_eq!(at(&erased.update_time), service.clock.now());
    assert_eq!(get(&mut client, &user.id).await, erased);
}

#[tokio::test]
async fn every_accepted_command_gives_a_new_etag() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let mut etags = vec![user.etag.clone()];
    let id = user.id.clone();
    let mut push = |etag: String| {
        assert!(!etags.contains(&etag), "etag {etag} repeated in {etags:?}");
        etags.push(etag);
    };
    let renamed = client
        .change_display_name(pb::ChangeDisplayNameRequest {
            id: id.clone(),
            request_id: request_id(),
            etag: String::new(),
            display_name: "Ada".into(),
        })
        .await
        .unwrap()
        .into_inner();
    push(renamed.etag);
    let (opened, session) = open_session(&mut client, &id).await;
    push(opened.etag);
    let refreshed = client
        .refresh_session(pb::RefreshSessionRequest {
            id: id.clone(),
            request_id: request_id(),
            session_id: session.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    push(refreshed.user.unwrap().etag);
    let started = client
        .start_password_reset(pb::StartPasswordResetRequest {
            id: id.clone(),
            request_id: request_id(),
            token: "t".into(),
        })
        .await
        .unwrap()
        .into_inner();
    push(started.etag);
    let suspended = super::suspend(&mut client, &id).await;
    push(suspended.etag);
    let erased = super::erase(&mut client, &id).await;
    push(erased.etag);
}
