//! A user registered by a sign-up: Identity keeps the sign-up until it completes and its
//! sweeper announces it unfinished once its window has passed, again later and later.

use chrono::Duration;
use saas_proto::identity::v1 as pb;
use saas_tests::{IdentityService, UserClient};
use tonic::Code;

use super::{PASSWORD, get, rejected, request_id, violated_fields};

/// Registers `email` for the sign-up `sign_up_id` with a window of `window_seconds`.
async fn register_for_sign_up(
    client: &mut UserClient,
    email: &str,
    sign_up_id: &str,
    window_seconds: u32,
) -> Result<tonic::Response<pb::User>, tonic::Status> {
    client
        .register_user(pb::RegisterUserRequest {
            request_id: request_id(),
            email: email.into(),
            display_name: "Ada".into(),
            password: PASSWORD.into(),
            sign_up_id: sign_up_id.into(),
            sign_up_window_seconds: window_seconds,
        })
        .await
}

async fn complete(client: &mut UserClient, id: &str) -> Result<pb::User, tonic::Status> {
    client
        .complete_sign_up(pb::CompleteSignUpRequest {
            id: id.into(),
            request_id: request_id(),
            etag: String::new(),
        })
        .await
        .map(tonic::Response::into_inner)
}

#[tokio::test]
async fn a_sign_up_past_its_window_is_announced_by_the_sweeper_until_it_completes() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register_for_sign_up(&mut client, "ada@example.com", &request_id(), 60)
        .await
        .expect("registered")
        .into_inner();
    assert_eq!(user.sign_up_state(), pb::SignUpState::Pending);

    // Within the window nothing is due.
    service.clock.advance(Duration::seconds(59));
    assert_eq!(service.store.sweep_once().await.expect("sweep"), 0);
    service.clock.advance(Duration::seconds(1));
    assert_eq!(service.store.sweep_once().await.expect("sweep"), 1);
    let announced = get(&mut client, &user.id).await;
    assert_eq!(announced.sign_up_state(), pb::SignUpState::Unfinished);
    assert_eq!(announced.status(), pb::UserStatus::Active);

    // Announced again after twice the window, not before.
    service.clock.advance(Duration::seconds(119));
    assert_eq!(service.store.sweep_once().await.expect("sweep"), 0);
    service.clock.advance(Duration::seconds(1));
    assert_eq!(service.store.sweep_once().await.expect("sweep"), 1);

    // Completed (its trial started after all): never announced again.
    let completed = complete(&mut client, &user.id).await.expect("completed");
    assert_eq!(completed.sign_up_state(), pb::SignUpState::Unspecified);
    service.clock.advance(Duration::hours(3));
    assert_eq!(service.store.sweep_once().await.expect("sweep"), 0);
    // Completing again, or a user no sign-up registered, changes nothing.
    let again = complete(&mut client, &user.id)
        .await
        .expect("completed again");
    assert_eq!(again.etag, completed.etag);
}

#[tokio::test]
async fn an_erased_users_sign_up_is_never_announced_and_cannot_complete() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register_for_sign_up(&mut client, "ada@example.com", &request_id(), 10)
        .await
        .expect("registered")
        .into_inner();
    client
        .erase_user(pb::EraseUserRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: String::new(),
        })
        .await
        .expect("erased");
    service.clock.advance(Duration::hours(1));
    assert_eq!(service.store.sweep_once().await.expect("sweep"), 0);
    let refused = client
        .complete_sign_up(pb::CompleteSignUpRequest {
            id: user.id.clone(),
            request_id: request_id(),
            etag: String::new(),
        })
        .await;
    rejected(refused, Code::FailedPrecondition, "USER_ERASED");
}

#[tokio::test]
async fn a_malformed_sign_up_id_or_a_window_out_of_range_is_invalid() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let id = request_id();
    for (sign_up_id, window, field) in [
        (id.as_str(), 0, "sign_up_window_seconds"),
        (id.as_str(), 86_401, "sign_up_window_seconds"),
        ("nope", 10, "sign_up_id"),
        ("", 10, "sign_up_id"),
    ] {
        let status = register_for_sign_up(&mut client, "ada@example.com", sign_up_id, window)
            .await
            .expect_err("invalid");
        assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
        assert_eq!(violated_fields(&status), [field], "{sign_up_id} {window}");
    }
    // Neither: a plain registration, nothing due.
    let plain = register_for_sign_up(&mut client, "ada@example.com", "", 0)
        .await
        .expect("registered")
        .into_inner();
    assert_eq!(plain.sign_up_state(), pb::SignUpState::Unspecified);
    service.clock.advance(Duration::days(2));
    assert_eq!(service.store.sweep_once().await.expect("sweep"), 0);
}
