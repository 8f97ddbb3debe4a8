//! Erasure is final and frees the email address.

use saas_proto::identity::v1 as pb;
use saas_tests::IdentityService;
use tonic::Code;

use super::{PASSWORD, erase, get, login_refused, register, rejected, verify};

#[tokio::test]
async fn erasing_a_user_frees_the_email_for_a_new_registration() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let old = register(&mut client, "ada@example.com").await;
    let erased = erase(&mut client, &old.id).await;
    rejected(
        client
            .lookup_user(pb::LookupUserRequest {
                email: "ada@example.com".into(),
            })
            .await,
        Code::NotFound,
        "USER_NOT_FOUND",
    );
    login_refused(verify(&mut client, "ada@example.com", PASSWORD).await);

    let new = register(&mut client, "ADA@example.com").await;
    assert_ne!(new.id, old.id);
    assert_eq!(new.email, "ada@example.com");
    let found = client
        .lookup_user(pb::LookupUserRequest {
            email: "ada@example.com".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found, new);
    assert_eq!(
        verify(&mut client, "ada@example.com", PASSWORD)
            .await
            .unwrap()
            .into_inner()
            .id,
        new.id
    );
    // The erased user is still there by id, unchanged.
    assert_eq!(get(&mut client, &old.id).await, erased);
}

#[tokio::test]
async fn several_erased_users_do_not_collide_on_their_emptied_email() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    for email in ["a@example.com", "b@example.com", "c@example.com"] {
        let user = register(&mut client, email).await;
        erase(&mut client, &user.id).await;
    }
    let listed = client
        .list_users(pb::ListUsersRequest::default())
        .await
        .unwrap()
        .into_inner()
        .users;
    assert_eq!(listed.len(), 3);
    assert!(listed.iter().all(|u| u.email.is_empty()));
}

#[tokio::test]
async fn erasing_a_suspended_user_works_and_is_final() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, "ada@example.com").await;
    super::suspend(&mut client, &user.id).await;
    let erased = erase(&mut client, &user.id).await;
    assert_eq!(super::status_of(&erased), pb::UserStatus::Erased);
    assert_eq!(erased.suspension_reason, "");
    rejected(
        client
            .erase_user(pb::EraseUserRequest {
                id: user.id.clone(),
                request_id: super::request_id(),
                etag: erased.etag.clone(),
            })
            .await,
        Code::FailedPrecondition,
        "USER_ERASED",
    );
}
