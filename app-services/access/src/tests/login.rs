//! Login, refresh, logout and authenticate.

use ports_app::Ctx;

use super::*;
use crate::jwt::ACCESS_TOKEN_TTL;
use crate::{AccessClaims, Tokens};

fn expect_verify(
    ports: &mut Ports,
    ctx: &Ctx,
    result: impl Fn() -> ports_app::AppResult<User> + Send + 'static,
) {
    let expected_ctx = ctx.clone();
    ports
        .users
        .expect_verify_credentials()
        .withf(move |ctx, email, password| {
            *ctx == expected_ctx
                && email == "ada@example.com"
                && password == "correct horse battery"
        })
        .times(1)
        // Identity's answer, classified the way the adapter classifies it.
        .returning(move |_, _, _| result().map_err(Into::into));
}

fn expect_open_session(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    result: impl Fn() -> ports_app::AppResult<(User, Session)> + Send + 'static,
) {
    let expected_ctx = ctx.acting_as(user_id);
    ports
        .users
        .expect_open_session()
        .withf(move |ctx, step, id| {
            *ctx == expected_ctx && step == "open-session" && id.as_uuid() == user_id
        })
        .times(1)
        // Identity's answer, classified the way the adapter classifies it.
        .returning(move |_, _, _| result().map_err(Into::into));
}

fn opened(user_id: Uuid, session_id: Uuid) -> (User, Session) {
    (user(user_id), session(session_id, session_expiry()))
}

/// Checks that `tokens` are a working pair for the user's session at the start time.
fn assert_tokens(tokens: &Tokens, user_id: Uuid, session_id: Uuid, session_expires: Timestamp) {
    let keys = keys();
    assert_eq!(tokens.token_type, "Bearer");
    assert_eq!(tokens.user_id, user_id);
    assert_eq!(tokens.session_id, session_id);
    assert_eq!(tokens.expires_in, ACCESS_TOKEN_TTL.num_seconds());
    assert_eq!(
        tokens.refresh_expires_in,
        (session_expires - start()).num_seconds()
    );
    let access = keys
        .verify_access(&tokens.access_token, start())
        .expect("a valid access token");
    assert_eq!(
        access,
        AccessClaims {
            user_id,
            session_id,
            expires_at: start() + ACCESS_TOKEN_TTL,
        }
    );
    let refresh = keys
        .verify_refresh(&tokens.refresh_token, start())
        .expect("a valid refresh token");
    assert_eq!(refresh.user_id, user_id);
    assert_eq!(refresh.session_id, session_id);
    assert_eq!(refresh.expires_at, session_expires);
}

fn assert_invalid_credentials(error: &AppError) {
    assert_eq!(
        error.kind,
        ErrorKind::Rejected(RejectionKind::Unauthenticated)
    );
    assert_eq!(error.code, "INVALID_CREDENTIALS");
    assert_eq!(
        error.message,
        "email or password is wrong, or the account cannot sign in"
    );
    assert!(error.fields.is_empty());
}

#[tokio::test]
async fn login_verifies_opens_a_session_as_the_user_and_issues_its_tokens() {
    let ctx = Ctx::anonymous();
    let (user_id, session_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut ports = Ports::default();
    expect_verify(&mut ports, &ctx, move || Ok(user(user_id)));
    expect_open_session(&mut ports, &ctx, user_id, move || {
        Ok(opened(user_id, session_id))
    });

    let tokens = ports
        .access(clock())
        .login(&ctx, "ada@example.com", "correct horse battery")
        .await
        .expect("logged in");

    assert_tokens(&tokens, user_id, session_id, session_expiry());
}

#[tokio::test]
async fn every_refused_verification_answers_the_same() {
    let refusals = [
        rejected(RejectionKind::Unauthenticated, "INVALID_CREDENTIALS"),
        rejected(RejectionKind::NotFound, "USER_NOT_FOUND"),
    ];
    for refusal in refusals {
        let ctx = Ctx::anonymous();
        let mut ports = Ports::default();
        expect_verify(&mut ports, &ctx, move || Err(refusal.clone()));
        ports.users.expect_open_session().never();

        let error = ports
            .access(clock())
            .login(&ctx, "ada@example.com", "correct horse battery")
            .await
            .expect_err("refused");

        assert_invalid_credentials(&error);
    }
}

#[tokio::test]
async fn other_verification_failures_pass_through() {
    let failures = [
        rejected(RejectionKind::Unavailable, "HASHING_SATURATED"),
        AppError::invalid_field("INVALID_EMAIL", "email", "not an email address"),
        // Grouped with the refusals by the port, but never answered like a wrong password.
        rejected(RejectionKind::FailedPrecondition, "USER_NOT_ACTIVE"),
        timeout(),
        internal(),
    ];
    for failure in failures {
        let ctx = Ctx::anonymous();
        let mut ports = Ports::default();
        let returned = failure.clone();
        expect_verify(&mut ports, &ctx, move || Err(returned.clone()));
        ports.users.expect_open_session().never();

        let error = ports
            .access(clock())
            .login(&ctx, "ada@example.com", "correct horse battery")
            .await
            .expect_err("failed");

        assert_eq!(error, failure);
    }
}

#[tokio::test]
async fn a_user_who_cannot_open_a_session_is_refused_like_a_wrong_password() {
    let refusals = [
        rejected(RejectionKind::FailedPrecondition, "USER_NOT_ACTIVE"),
        rejected(RejectionKind::FailedPrecondition, "USER_ERASED"),
        rejected(RejectionKind::NotFound, "USER_NOT_FOUND"),
    ];
    for refusal in refusals {
        let ctx = Ctx::anonymous();
        let user_id = Uuid::now_v7();
        let mut ports = Ports::default();
        expect_verify(&mut ports, &ctx, move || Ok(user(user_id)));
        expect_open_session(&mut ports, &ctx, user_id, move || Err(refusal.clone()));

        let error = ports
            .access(clock())
            .login(&ctx, "ada@example.com", "correct horse battery")
            .await
            .expect_err("refused");

        assert_invalid_credentials(&error);
    }
}

#[tokio::test]
async fn a_transient_failure_to_open_the_session_passes_through() {
    for failure in [
        timeout(),
        rejected(RejectionKind::Unavailable, "OVERLOADED"),
    ] {
        let ctx = Ctx::anonymous();
        let user_id = Uuid::now_v7();
        let mut ports = Ports::default();
        expect_verify(&mut ports, &ctx, move || Ok(user(user_id)));
        let returned = failure.clone();
        expect_open_session(&mut ports, &ctx, user_id, move || Err(returned.clone()));

        let error = ports
            .access(clock())
            .login(&ctx, "ada@example.com", "correct horse battery")
            .await
            .expect_err("failed");

        assert_eq!(error, failure);
    }
}

#[tokio::test]
async fn two_logins_open_two_sessions_under_different_request_ids() {
    let (first, second) = (Ctx::anonymous(), Ctx::anonymous());
    let user_id = Uuid::now_v7();
    let mut ports = Ports::default();
    ports
        .users
        .expect_verify_credentials()
        .times(2)
        .returning(move |_, _, _| Ok(user(user_id)));
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let recorded = seen.clone();
    ports
        .users
        .expect_open_session()
        .times(2)
        .returning(move |ctx, step, _| {
            // The request id the adapter sends for the step.
            recorded.lock().expect("not poisoned").push(ctx.step(step));
            Ok(opened(user_id, Uuid::now_v7()))
        });
    let access = ports.access(clock());

    let a = access
        .login(&first, "ada@example.com", "correct horse battery")
        .await
        .expect("first");
    let b = access
        .login(&second, "ada@example.com", "correct horse battery")
        .await
        .expect("second");

    assert_ne!(a.session_id, b.session_id);
    let seen = seen.lock().expect("not poisoned").clone();
    assert_eq!(
        seen,
        vec![first.step("open-session"), second.step("open-session")]
    );
    assert_ne!(seen[0], seen[1]);
}

// Refresh.

fn expect_refresh_session(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    session_id: Uuid,
    result: impl Fn() -> ports_app::AppResult<(User, Session)> + Send + 'static,
) {
    let expected_ctx = ctx.acting_as(user_id);
    ports
        .users
        .expect_refresh_session()
        .withf(move |ctx, step, id, session| {
            *ctx == expected_ctx
                && step == "refresh"
                && id.as_uuid() == user_id
                && session.as_uuid() == session_id
        })
        .times(1)
        // Identity's answer, classified the way the adapter classifies it.
        .returning(move |_, _, _, _| result().map_err(Into::into));
}

fn refresh_token(user_id: Uuid, session_id: Uuid) -> String {
    keys()
        .issue_refresh(user_id, session_id, session_expiry(), start())
        .expect("issued")
}

#[tokio::test]
async fn refresh_extends_the_session_and_issues_new_tokens_for_it() {
    let ctx = Ctx::anonymous();
    let (user_id, session_id) = (Uuid::now_v7(), Uuid::now_v7());
    let token = refresh_token(user_id, session_id);
    let extended = session_expiry() + Duration::hours(1);
    let mut ports = Ports::default();
    expect_refresh_session(&mut ports, &ctx, user_id, session_id, move || {
        Ok((user(user_id), session(session_id, extended)))
    });

    let tokens = ports
        .access(clock())
        .refresh(&ctx, &token)
        .await
        .expect("refreshed");

    assert_tokens(&tokens, user_id, session_id, extended);
    assert_ne!(tokens.refresh_token, token);
}

#[tokio::test]
async fn an_access_token_cannot_refresh() {
    let ctx = Ctx::anonymous();
    let (access_token, _) = keys()
        .issue_access(Uuid::now_v7(), Uuid::now_v7(), start())
        .expect("issued");
    let mut ports = Ports::default();
    ports.users.expect_refresh_session().never();

    let error = ports
        .access(clock())
        .refresh(&ctx, &access_token)
        .await
        .expect_err("refused");

    assert!(error.is(RejectionKind::Unauthenticated));
    assert_eq!(error.code, "INVALID_TOKEN");
}

#[tokio::test]
async fn an_expired_refresh_token_is_refused_without_asking_identity() {
    let ctx = Ctx::anonymous();
    let token = refresh_token(Uuid::now_v7(), Uuid::now_v7());
    let clock = clock();
    clock.set(session_expiry());
    let mut ports = Ports::default();
    ports.users.expect_refresh_session().never();

    let error = ports
        .access(clock)
        .refresh(&ctx, &token)
        .await
        .expect_err("expired");

    assert!(error.is(RejectionKind::Unauthenticated));
    assert_eq!(error.code, "TOKEN_EXPIRED");
}

#[tokio::test]
async fn an_ended_session_or_an_inactive_user_cannot_refresh() {
    let refusals = [
        rejected(RejectionKind::NotFound, "SESSION_NOT_FOUND"),
        rejected(RejectionKind::FailedPrecondition, "SESSION_EXPIRED"),
        rejected(RejectionKind::FailedPrecondition, "USER_NOT_ACTIVE"),
        rejected(RejectionKind::FailedPrecondition, "USER_ERASED"),
        rejected(RejectionKind::NotFound, "USER_NOT_FOUND"),
    ];
    for refusal in refusals {
        let ctx = Ctx::anonymous();
        let (user_id, session_id) = (Uuid::now_v7(), Uuid::now_v7());
        let token = refresh_token(user_id, session_id);
        let mut ports = Ports::default();
        expect_refresh_session(&mut ports, &ctx, user_id, session_id, move || {
            Err(refusal.clone())
        });

        let error = ports
            .access(clock())
            .refresh(&ctx, &token)
            .await
            .expect_err("refused");

        assert_eq!(
            error.kind,
            ErrorKind::Rejected(RejectionKind::Unauthenticated)
        );
        assert_eq!(error.code, "INVALID_REFRESH_TOKEN");
    }
}

#[tokio::test]
async fn a_transient_refresh_failure_passes_through() {
    let failures = [
        timeout(),
        internal(),
        rejected(RejectionKind::Unavailable, "OVERLOADED"),
        rejected(RejectionKind::Aborted, "CONFLICT"),
    ];
    for failure in failures {
        let ctx = Ctx::anonymous();
        let (user_id, session_id) = (Uuid::now_v7(), Uuid::now_v7());
        let token = refresh_token(user_id, session_id);
        let mut ports = Ports::default();
        let returned = failure.clone();
        expect_refresh_session(&mut ports, &ctx, user_id, session_id, move || {
            Err(returned.clone())
        });

        let error = ports
            .access(clock())
            .refresh(&ctx, &token)
            .await
            .expect_err("failed");

        assert_eq!(error, failure);
    }
}

// Logout.

fn claims() -> AccessClaims {
    AccessClaims {
        user_id: Uuid::now_v7(),
        session_id: Uuid::now_v7(),
        expires_at: start() + ACCESS_TOKEN_TTL,
    }
}

fn expect_close_session(
    ports: &mut Ports,
    ctx: &Ctx,
    claims: &AccessClaims,
    result: impl Fn() -> ports_app::AppResult<User> + Send + 'static,
) {
    let expected_ctx = ctx.acting_as(claims.user_id);
    let (user_id, session_id) = (claims.user_id, claims.session_id);
    ports
        .users
        .expect_close_session()
        .withf(move |ctx, step, id, session| {
            *ctx == expected_ctx
                && step == "logout"
                && id.as_uuid() == user_id
                && session.as_uuid() == session_id
        })
        .times(1)
        // Identity's answer, classified the way the adapter classifies it.
        .returning(move |_, _, _, _| result().map_err(Into::into));
}

#[tokio::test]
async fn logout_closes_the_tokens_session() {
    let ctx = Ctx::anonymous();
    let claims = claims();
    let user_id = claims.user_id;
    let mut ports = Ports::default();
    expect_close_session(&mut ports, &ctx, &claims, move || Ok(user(user_id)));

    ports
        .access(clock())
        .logout(&ctx, &claims)
        .await
        .expect("logged out");
}

#[tokio::test]
async fn logging_out_of_an_ended_session_succeeds() {
    let ended = [
        rejected(RejectionKind::NotFound, "SESSION_NOT_FOUND"),
        rejected(RejectionKind::FailedPrecondition, "SESSION_EXPIRED"),
        rejected(RejectionKind::FailedPrecondition, "USER_ERASED"),
    ];
    for refusal in ended {
        let ctx = Ctx::anonymous();
        let claims = claims();
        let mut ports = Ports::default();
        expect_close_session(&mut ports, &ctx, &claims, move || Err(refusal.clone()));

        let result = ports.access(clock()).logout(&ctx, &claims).await;

        assert_eq!(result, Ok(()));
    }
}

#[tokio::test]
async fn other_logout_failures_pass_through() {
    for failure in [
        timeout(),
        internal(),
        rejected(RejectionKind::Unavailable, "OVERLOADED"),
        // Grouped with an ended session by the port, but never taken as a logout.
        rejected(RejectionKind::FailedPrecondition, "USER_NOT_ACTIVE"),
        rejected(RejectionKind::InvalidArgument, "REQUEST_ID_REUSED"),
    ] {
        let ctx = Ctx::anonymous();
        let claims = claims();
        let mut ports = Ports::default();
        let returned = failure.clone();
        expect_close_session(&mut ports, &ctx, &claims, move || Err(returned.clone()));

        let error = ports
            .access(clock())
            .logout(&ctx, &claims)
            .await
            .expect_err("failed");

        assert_eq!(error, failure);
    }
}

// Authenticate.

#[tokio::test]
async fn authenticate_accepts_an_access_token_until_it_expires_on_the_injected_clock() {
    let (user_id, session_id) = (Uuid::now_v7(), Uuid::now_v7());
    let (token, expires) = keys()
        .issue_access(user_id, session_id, start())
        .expect("issued");
    let clock = clock();
    let access = Ports::default().access(clock.clone());

    let claims = access.authenticate(&token).expect("valid");
    assert_eq!(claims.user_id, user_id);
    assert_eq!(claims.session_id, session_id);
    assert_eq!(claims.expires_at, expires);

    clock.set(expires - Duration::seconds(1));
    assert!(access.authenticate(&token).is_ok());

    clock.set(expires);
    let error = access.authenticate(&token).expect_err("expired");
    assert_eq!(error.code, "TOKEN_EXPIRED");
    assert!(error.is(RejectionKind::Unauthenticated));
}

#[tokio::test]
async fn authenticate_refuses_a_refresh_token() {
    let token = refresh_token(Uuid::now_v7(), Uuid::now_v7());
    let access = Ports::default().access(clock());

    let error = access.authenticate(&token).expect_err("refused");

    assert_eq!(error.code, "INVALID_TOKEN");
}
