//! Rules about time, driven by the service's manual clock: lockout, session lifetime and the
//! session cap, token expiry.

use chrono::Duration;
use kernel_domain::Clock;
use saas_proto::identity::v1 as pb;
use saas_tests::{IdentityService, UserClient};
use tonic::Code;

use super::{
    NEW_PASSWORD, PASSWORD, at, get, login_refused, open_session, register, rejected, request_id,
    session_ids, verify,
};

const EMAIL: &str = "ada@example.com";
const WRONG: &str = "definitely not it";

async fn fail_logins(client: &mut UserClient, times: usize) {
    for _ in 0..times {
        login_refused(verify(client, EMAIL, WRONG).await);
    }
}

#[tokio::test]
async fn five_wrong_passwords_lock_the_account_for_a_minute_even_against_the_right_password() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, EMAIL).await;
    fail_logins(&mut client, 4).await;
    assert_eq!(get(&mut client, &user.id).await.lock_expire_time, None);
    // Four failures do not lock: the right password still works ...
    verify(&mut client, EMAIL, PASSWORD).await.unwrap();
    // ... and resets the counter, so it takes five more.
    fail_logins(&mut client, 4).await;
    assert_eq!(get(&mut client, &user.id).await.lock_expire_time, None);
    fail_logins(&mut client, 1).await;
    let locked_at = service.clock.now();
    let locked = get(&mut client, &user.id).await;
    assert_eq!(
        at(&locked.lock_expire_time),
        locked_at + Duration::minutes(1)
    );

    login_refused(verify(&mut client, EMAIL, PASSWORD).await);
    service.clock.advance(Duration::seconds(59));
    login_refused(verify(&mut client, EMAIL, PASSWORD).await);
    // Attempts during the lock are not counted and do not extend it.
    assert_eq!(get(&mut client, &user.id).await, locked);

    service.clock.advance(Duration::seconds(1));
    let verified = verify(&mut client, EMAIL, PASSWORD)
        .await
        .unwrap()
        .into_inner();
    assert_eq!(verified.id, user.id);
    assert_eq!(verified.lock_expire_time, None);
}

#[tokio::test]
async fn the_lock_doubles_with_each_further_wrong_password() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, EMAIL).await;
    fail_logins(&mut client, 5).await;
    let mut delay = Duration::minutes(1);
    for _ in 0..4 {
        let now = service.clock.now();
        assert_eq!(
            at(&get(&mut client, &user.id).await.lock_expire_time),
            now + delay
        );
        service.clock.advance(delay);
        fail_logins(&mut client, 1).await;
        delay = delay * 2;
    }
    // 5 + 4 failures: the last lock is 16 minutes; the right password waits it out.
    assert_eq!(delay, Duration::minutes(16));
    assert_eq!(
        at(&get(&mut client, &user.id).await.lock_expire_time),
        service.clock.now() + delay
    );
    service
        .clock
        .advance(Duration::minutes(16) - Duration::seconds(1));
    login_refused(verify(&mut client, EMAIL, PASSWORD).await);
    service.clock.advance(Duration::seconds(1));
    verify(&mut client, EMAIL, PASSWORD).await.unwrap();
    // Success reset the delay: five new failures lock for one minute again.
    fail_logins(&mut client, 5).await;
    assert_eq!(
        at(&get(&mut client, &user.id).await.lock_expire_time),
        service.clock.now() + Duration::minutes(1)
    );
}

#[tokio::test]
async fn a_password_reset_lifts_the_lock() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, EMAIL).await;
    fail_logins(&mut client, 5).await;
    client
        .start_password_reset(pb::StartPasswordResetRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: "reset".into(),
        })
        .await
        .unwrap();
    let reset = client
        .complete_password_reset(pb::CompletePasswordResetRequest {
            id: user.id.clone(),
            request_id: request_id(),
            token: "reset".into(),
            new_password: NEW_PASSWORD.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reset.lock_expire_time, None);
    verify(&mut client, EMAIL, NEW_PASSWORD).await.unwrap();
}

#[tokio::test]
async fn a_lock_that_ran_out_is_no_longer_shown() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, EMAIL).await;
    fail_logins(&mut client, 5).await;
    assert!(get(&mut client, &user.id).await.lock_expire_time.is_some());
    service.clock.advance(Duration::minutes(2));
    // `lock_expire_time` is documented as "set while logins are refused".
    assert_eq!(get(&mut client, &user.id).await.lock_expire_time, None);
}

#[tokio::test]
async fn a_session_not_refreshed_for_thirty_days_expires_and_cannot_be_refreshed() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, EMAIL).await;
    let (_, session) = open_session(&mut client, &user.id).await;
    let refresh = |session_id: &str| pb::RefreshSessionRequest {
        id: user.id.clone(),
        request_id: request_id(),
        session_id: session_id.into(),
    };
    // Just before the end it can still be refreshed, for 30 more days from then.
    service
        .clock
        .advance(Duration::days(30) - Duration::seconds(1));
    let refreshed = client
        .refresh_session(refresh(&session.id))
        .await
        .unwrap()
        .into_inner()
        .session
        .unwrap();
    assert_eq!(
        at(&refreshed.expire_time),
        service.clock.now() + Duration::days(30)
    );
    service.clock.advance(Duration::days(30));
    let before = get(&mut client, &user.id).await;
    rejected(
        client.refresh_session(refresh(&session.id)).await,
        Code::FailedPrecondition,
        "SESSION_EXPIRED",
    );
    // A refused refresh changes nothing.
    assert_eq!(get(&mut client, &user.id).await.etag, before.etag);
}

#[tokio::test]
async fn an_expired_session_is_no_longer_listed_as_open() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, EMAIL).await;
    let (_, session) = open_session(&mut client, &user.id).await;
    service.clock.advance(Duration::days(30));
    // `User.sessions` is documented as "open, unexpired sessions".
    let read = get(&mut client, &user.id).await;
    assert!(
        read.sessions.is_empty(),
        "session {} expired at {:?} but is still listed",
        session.id,
        session.expire_time
    );
}

#[tokio::test]
async fn opening_a_twenty_first_session_closes_the_oldest() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, EMAIL).await;
    let mut opened = Vec::new();
    for _ in 0..20 {
        let (_, session) = open_session(&mut client, &user.id).await;
        opened.push(session.id);
        service.clock.advance(Duration::seconds(1));
    }
    assert_eq!(session_ids(&get(&mut client, &user.id).await), opened);
    let (after, newest) = open_session(&mut client, &user.id).await;
    assert_eq!(after.sessions.len(), 20);
    let mut expected = opened[1..].to_vec();
    expected.push(newest.id.clone());
    assert_eq!(session_ids(&after), expected);
    rejected(
        client
            .refresh_session(pb::RefreshSessionRequest {
                id: user.id.clone(),
                request_id: request_id(),
                session_id: opened[0].clone(),
            })
            .await,
        Code::NotFound,
        "SESSION_NOT_FOUND",
    );
    // The second-oldest is still good.
    client
        .refresh_session(pb::RefreshSessionRequest {
            id: user.id.clone(),
            request_id: request_id(),
            session_id: opened[1].clone(),
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn the_oldest_session_is_the_first_opened_even_when_refreshed_since() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, EMAIL).await;
    let mut opened = Vec::new();
    for _ in 0..20 {
        let (_, session) = open_session(&mut client, &user.id).await;
        opened.push(session.id);
        service.clock.advance(Duration::seconds(1));
    }
    client
        .refresh_session(pb::RefreshSessionRequest {
            id: user.id.clone(),
            request_id: request_id(),
            session_id: opened[0].clone(),
        })
        .await
        .unwrap();
    let (after, _) = open_session(&mut client, &user.id).await;
    assert!(!session_ids(&after).contains(&opened[0]));
    assert!(session_ids(&after).contains(&opened[1]));
}

#[tokio::test]
async fn an_email_verification_token_works_for_twenty_four_hours() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, EMAIL).await;
    let start = |token: &str| pb::StartEmailVerificationRequest {
        id: user.id.clone(),
        request_id: request_id(),
        etag: String::new(),
        token: token.into(),
    };
    let confirm = |token: &str| pb::ConfirmEmailVerificationRequest {
        id: user.id.clone(),
        request_id: request_id(),
        token: token.into(),
    };
    client
        .start_email_verification(start("late"))
        .await
        .unwrap();
    service.clock.advance(Duration::hours(24));
    rejected(
        client.confirm_email_verification(confirm("late")).await,
        Code::FailedPrecondition,
        "TOKEN_INVALID",
    );
    client
        .start_email_verification(start("in-time"))
        .await
        .unwrap();
    service
        .clock
        .advance(Duration::hours(24) - Duration::seconds(1));
    let verified = client
        .confirm_email_verification(confirm("in-time"))
        .await
        .unwrap()
        .into_inner();
    assert!(verified.email_verified);
}

#[tokio::test]
async fn a_password_reset_token_works_for_one_hour() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client, EMAIL).await;
    let start = |token: &str| pb::StartPasswordResetRequest {
        id: user.id.clone(),
        request_id: request_id(),
        token: token.into(),
    };
    let complete = |token: &str| pb::CompletePasswordResetRequest {
        id: user.id.clone(),
        request_id: request_id(),
        token: token.into(),
        new_password: NEW_PASSWORD.into(),
    };
    client.start_password_reset(start("late")).await.unwrap();
    service.clock.advance(Duration::hours(1));
    rejected(
        client.complete_password_reset(complete("late")).await,
        Code::FailedPrecondition,
        "TOKEN_INVALID",
    );
    verify(&mut client, EMAIL, PASSWORD).await.unwrap();
    client.start_password_reset(start("in-time")).await.unwrap();
    service
        .clock
        .advance(Duration::hours(1) - Duration::seconds(1));
    client
        .complete_password_reset(complete("in-time"))
        .await
        .unwrap();
    verify(&mut client, EMAIL, NEW_PASSWORD).await.unwrap();
}
