//! Request ids (AIP-155): a repeat replays the stored original response without running the
//! command again; the same id with a different request is `REQUEST_ID_REUSED`.

use saas_proto::identity::v1 as pb;
use saas_tests::IdentityService;
use sea_orm::ConnectionTrait;

use super::{PASSWORD, get, invalid, register, request_id};

async fn outbox_rows(service: &IdentityService) -> i64 {
    let db = platform::db::open(&service.database.url, platform::db::PoolSize { max: 1 })
        .await
        .unwrap();
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            db.get_database_backend(),
            "SELECT COUNT(*) FROM outbox",
        ))
        .await
        .unwrap()
        .unwrap();
    let count = row.try_get_by_index::<i64>(0).unwrap();
    db.close().await.ok();
    count
}

#[tokio::test]
async fn replaying_a_request_id_returns_the_original_response_even_after_later_changes() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let first = pb::ChangeDisplayNameRequest {
        id: user.id.clone(),
        request_id: request_id(),
        etag: user.etag.clone(),
        display_name: "First Name".into(),
    };
    let original = client
        .change_display_name(first.clone())
        .await
        .unwrap()
        .into_inner();
    service.clock.advance(chrono::Duration::minutes(1));
    let later = client
        .change_display_name(pb::ChangeDisplayNameRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: original.etag.clone(),
            display_name: "Later Name".into(),
        })
        .await
        .unwrap()
        .into_inner();
    let events = outbox_rows(&service).await;
    service.clock.advance(chrono::Duration::minutes(1));

    // The replay carries the etag the first call read, which is stale by now: it must still
    // replay, not compare etags or run again.
    let replayed = client
        .change_display_name(first)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replayed, original);
    assert_eq!(get(&mut client, &user.id).await, later);
    assert_eq!(outbox_rows(&service).await, events);
}

#[tokio::test]
async fn replaying_register_user_returns_the_same_user_and_registers_nobody_new() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let request = pb::RegisterUserRequest {
        request_id: request_id(),
        email: "ada@example.com".into(),
        display_name: "Ada".into(),
        password: PASSWORD.into(),
        ..Default::default()
    };
    let original = client
        .register_user(request.clone())
        .await
        .unwrap()
        .into_inner();
    client
        .change_display_name(pb::ChangeDisplayNameRequest {
            id: original.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            display_name: "Renamed".into(),
        })
        .await
        .unwrap();
    let replayed = client.register_user(request).await.unwrap().into_inner();
    assert_eq!(replayed, original);
    let all = client
        .list_users(pb::ListUsersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].display_name, "Renamed");
}

#[tokio::test]
async fn replaying_open_session_returns_the_same_session_and_opens_no_other() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let request = pb::OpenSessionRequest {
        id: user.id.clone(),
        request_id: request_id(),
        etag: user.etag.clone(),
    };
    let original = client
        .open_session(request.clone())
        .await
        .unwrap()
        .into_inner();
    let replayed = client.open_session(request).await.unwrap().into_inner();
    assert_eq!(replayed, original);
    let now = get(&mut client, &user.id).await;
    assert_eq!(now.sessions.len(), 1);
    assert_eq!(now.etag, original.user.unwrap().etag);
}

#[tokio::test]
async fn replaying_a_password_change_succeeds_although_the_old_password_changed() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let request = pb::ChangePasswordRequest {
        id: user.id.clone(),
        request_id: request_id(),
        etag: user.etag.clone(),
        old_password: PASSWORD.into(),
        new_password: super::NEW_PASSWORD.into(),
    };
    let original = client
        .change_password(request.clone())
        .await
        .unwrap()
        .into_inner();
    let replayed = client.change_password(request).await.unwrap().into_inner();
    assert_eq!(replayed, original);
    assert_eq!(get(&mut client, &user.id).await.etag, original.etag);
}

#[tokio::test]
async fn a_request_id_reused_for_a_different_request_is_refused_and_changes_nothing() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let reused = request_id();
    let renamed = client
        .change_display_name(pb::ChangeDisplayNameRequest {
            id: user.id.clone(),
            request_id: reused.clone(),
            etag: String::new(),
            display_name: "First".into(),
        })
        .await
        .unwrap()
        .into_inner();
    invalid(
        client
            .change_display_name(pb::ChangeDisplayNameRequest {
                id: user.id.clone(),
                request_id: reused.clone(),
                etag: String::new(),
                display_name: "Second".into(),
            })
            .await,
        "REQUEST_ID_REUSED",
        &["request_id"],
    );
    // The same id on another method.
    invalid(
        client
            .suspend_user(pb::SuspendUserRequest {
                id: user.id.clone(),
                request_id: reused.clone(),
                etag: String::new(),
                reason: "abuse".into(),
            })
            .await,
        "REQUEST_ID_REUSED",
        &["request_id"],
    );
    // The same id for another user.
    let bob = register(&mut client, "bob@example.com").await;
    invalid(
        client
            .change_display_name(pb::ChangeDisplayNameRequest {
                id: bob.id.clone(),
                request_id: reused.clone(),
                etag: String::new(),
                display_name: "First".into(),
            })
            .await,
        "REQUEST_ID_REUSED",
        &["request_id"],
    );
    assert_eq!(get(&mut client, &user.id).await, renamed);
    assert_eq!(get(&mut client, &bob.id).await, bob);
}

#[tokio::test]
async fn a_rejected_command_leaves_its_request_id_free_for_a_retry() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let retried = pb::SuspendUserRequest {
        id: user.id.clone(),
        request_id: request_id(),
        etag: String::new(),
        reason: "abuse".into(),
    };
    // First attempt with a stale etag fails ...
    let renamed = client
        .change_display_name(pb::ChangeDisplayNameRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            display_name: "Renamed".into(),
        })
        .await
        .unwrap()
        .into_inner();
    super::rejected(
        client
            .suspend_user(pb::SuspendUserRequest {
                etag: user.etag.clone(),
                ..retried.clone()
            })
            .await,
        tonic::Code::Aborted,
        "ETAG_MISMATCH",
    );
    // ... and leaves no record, so the same id with the fresh etag is a new request.
    let suspended = client
        .suspend_user(pb::SuspendUserRequest {
            etag: renamed.etag.clone(),
            ..retried
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(super::status_of(&suspended), pb::UserStatus::Suspended);
}

#[tokio::test]
async fn concurrent_duplicates_of_one_request_execute_once_and_all_get_the_same_answer() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    let request = pb::ChangeDisplayNameRequest {
        id: user.id.clone(),
        request_id: request_id(),
        etag: user.etag.clone(),
        display_name: "Only Once".into(),
    };
    let calls = (0..20).map(|_| {
        let mut client = client.clone();
        let request = request.clone();
        async move { client.change_display_name(request).await }
    });
    let answers: Vec<pb::User> = futures::future::join_all(calls)
        .await
        .into_iter()
        .map(|answer| answer.expect("every duplicate succeeds").into_inner())
        .collect();
    for answer in &answers {
        assert_eq!(answer, &answers[0]);
    }
    let now = get(&mut client, &user.id).await;
    assert_eq!(now, answers[0]);
    // Executed once: one `Registered` and one `DisplayNameChanged` event, not twenty.
    assert_eq!(outbox_rows(&service).await, 2);
}
