//! Email verification and password reset: tokens made, stored as hashes, mailed, presented.

use std::sync::Mutex;

use ports_app::token::{new_token, token_target};
use ports_app::{Mail, MailKind, UserId};

use super::*;

/// Records what a mock was given, to compare across calls.
type Seen<T> = Arc<Mutex<Vec<T>>>;

fn seen<T>() -> Seen<T> {
    Arc::new(Mutex::new(Vec::new()))
}

fn taken<T: Clone>(seen: &Seen<T>) -> Vec<T> {
    seen.lock().expect("not poisoned").clone()
}

fn expect_mail(ports: &mut Ports, result: ports_app::AppResult<()>) -> Seen<Mail> {
    let mails = seen();
    let recorded = mails.clone();
    ports.mailer.expect_send().times(1).returning(move |mail| {
        recorded.lock().expect("not poisoned").push(mail);
        result.clone()
    });
    mails
}

/// The refusal every token that says something about its user turns into.
#[track_caller]
fn assert_token_invalid(error: &AppError) {
    assert_eq!(
        error.kind,
        ErrorKind::Rejected(RejectionKind::FailedPrecondition)
    );
    assert_eq!(error.code, "TOKEN_INVALID");
    assert!(error.fields.is_empty());
}

/// Refusals that would tell a token holder something about the user the token names.
fn refusals_about_the_user() -> Vec<AppError> {
    vec![
        rejected(RejectionKind::NotFound, "USER_NOT_FOUND"),
        rejected(RejectionKind::FailedPrecondition, "USER_ERASED"),
        rejected(RejectionKind::FailedPrecondition, "USER_NOT_ACTIVE"),
        rejected(RejectionKind::FailedPrecondition, "EMAIL_ALREADY_VERIFIED"),
    ]
}

fn malformed_tokens() -> Vec<String> {
    vec![
        String::new(),
        "token".to_owned(),
        format!("{}.short", Uuid::now_v7().simple()),
        format!("not-a-uuid.{}", "a".repeat(43)),
    ]
}

// Starting email verification.

#[tokio::test]
async fn start_email_verification_stores_a_token_for_the_user_and_mails_the_same_token() {
    let (ctx, user_id) = signed_in();
    let mut ports = Ports::default();
    let tokens = seen();
    let recorded = tokens.clone();
    let expected_ctx = ctx.clone();
    ports
        .users
        .expect_start_email_verification()
        .withf(move |ctx, step, id, _| {
            *ctx == expected_ctx
                && step == "start-email-verification"
                && *id == UserId::from(user_id)
        })
        .times(1)
        .returning(move |_, _, _, token| {
            recorded.lock().expect("not poisoned").push(token);
            Ok(user(user_id))
        });
    let mails = expect_mail(&mut ports, Ok(()));

    ports
        .account()
        .start_email_verification(&ctx)
        .await
        .expect("started");

    let tokens = taken(&tokens);
    let mails = taken(&mails);
    assert_eq!(tokens.len(), 1);
    assert_eq!(token_target("token", &tokens[0]), Ok(user_id));
    assert_eq!(mails.len(), 1);
    let mail = &mails[0];
    assert_eq!(mail.kind, MailKind::EmailVerification);
    assert_eq!(mail.to, "ada@example.com");
    assert_eq!(mail.subject, "Confirm your email address");
    assert_eq!(mail.token, tokens[0]);
    assert!(mail.text.contains(&tokens[0]));
}

#[tokio::test]
async fn every_start_of_email_verification_makes_a_new_token() {
    let (ctx, user_id) = signed_in();
    let mut ports = Ports::default();
    let tokens = seen();
    let recorded = tokens.clone();
    ports
        .users
        .expect_start_email_verification()
        .times(2)
        .returning(move |_, _, _, token| {
            recorded.lock().expect("not poisoned").push(token);
            Ok(user(user_id))
        });
    ports.mailer.expect_send().times(2).returning(|_| Ok(()));
    let account = ports.account();

    account.start_email_verification(&ctx).await.expect("first");
    account
        .start_email_verification(&ctx.with_request_id(Uuid::now_v7()))
        .await
        .expect("second");

    let tokens = taken(&tokens);
    assert_ne!(tokens[0], tokens[1]);
}

#[tokio::test]
async fn a_refused_start_of_email_verification_mails_nothing() {
    for failure in [
        rejected(RejectionKind::FailedPrecondition, "EMAIL_ALREADY_VERIFIED"),
        rejected(RejectionKind::FailedPrecondition, "USER_NOT_ACTIVE"),
        timeout(),
    ] {
        let (ctx, _) = signed_in();
        let mut ports = Ports::default();
        let returned = failure.clone();
        ports
            .users
            .expect_start_email_verification()
            .times(1)
            .returning(move |_, _, _, _| Err(returned.clone().into()));
        ports.mailer.expect_send().never();

        let error = ports
            .account()
            .start_email_verification(&ctx)
            .await
            .expect_err("refused");

        assert_eq!(error, failure);
    }
}

#[tokio::test]
async fn a_verification_mail_that_cannot_be_sent_is_an_error() {
    let (ctx, user_id) = signed_in();
    let mut ports = Ports::default();
    ports
        .users
        .expect_start_email_verification()
        .times(1)
        .returning(move |_, _, _, _| Ok(user(user_id)));
    expect_mail(&mut ports, Err(internal()));

    let error = ports
        .account()
        .start_email_verification(&ctx)
        .await
        .expect_err("not sent");

    assert_eq!(error.kind, ErrorKind::Internal);
}

#[tokio::test]
async fn start_email_verification_needs_a_signed_in_user() {
    let mut ports = Ports::default();
    ports.users.expect_start_email_verification().never();
    ports.mailer.expect_send().never();

    let error = ports
        .account()
        .start_email_verification(&Ctx::anonymous())
        .await
        .expect_err("anonymous");

    assert_sign_in_required(&error);
}

// Confirming email verification.

fn expect_confirm(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    token: &str,
    result: impl Fn() -> ports_app::AppResult<User> + Send + 'static,
) {
    let expected_ctx = ctx.clone();
    let expected_token = token.to_owned();
    ports
        .users
        .expect_confirm_email_verification()
        .withf(move |ctx, step, id, token| {
            *ctx == expected_ctx
                && step == "confirm-email-verification"
                && *id == UserId::from(user_id)
                && *token == expected_token
        })
        .times(1)
        .returning(move |_, _, _, _| result().map_err(Into::into));
}

#[tokio::test]
async fn confirm_email_verification_presents_the_token_for_the_user_it_names() {
    let ctx = Ctx::anonymous();
    let user_id = Uuid::now_v7();
    let token = new_token(user_id);
    let mut ports = Ports::default();
    expect_confirm(&mut ports, &ctx, user_id, &token, move || {
        Ok(User {
            email_verified: true,
            ..user(user_id)
        })
    });

    ports
        .account()
        .confirm_email_verification(&ctx, token)
        .await
        .expect("confirmed");
}

#[tokio::test]
async fn a_malformed_verification_token_is_refused_without_asking_identity() {
    for token in malformed_tokens() {
        let mut ports = Ports::default();
        ports.users.expect_confirm_email_verification().never();

        let error = ports
            .account()
            .confirm_email_verification(&Ctx::anonymous(), token)
            .await
            .expect_err("malformed");

        assert_eq!(
            error.kind,
            ErrorKind::Rejected(RejectionKind::InvalidArgument)
        );
        assert_eq!(error.code, "INVALID_TOKEN");
        assert_eq!(error.fields[0].field, "token");
    }
}

#[tokio::test]
async fn a_wrong_verification_token_is_refused_as_identity_says() {
    let ctx = Ctx::anonymous();
    let user_id = Uuid::now_v7();
    let token = new_token(user_id);
    let mut ports = Ports::default();
    let refusal = AppError::rejected(
        RejectionKind::FailedPrecondition,
        "TOKEN_INVALID",
        "the token is invalid or has expired",
    );
    let returned = refusal.clone();
    expect_confirm(&mut ports, &ctx, user_id, &token, move || {
        Err(returned.clone())
    });

    let error = ports
        .account()
        .confirm_email_verification(&ctx, token)
        .await
        .expect_err("refused");

    assert_eq!(error, refusal);
}

#[tokio::test]
async fn a_verification_token_naming_an_unknown_or_inactive_user_answers_as_a_wrong_token() {
    for refusal in refusals_about_the_user() {
        let ctx = Ctx::anonymous();
        let user_id = Uuid::now_v7();
        let token = new_token(user_id);
        let mut ports = Ports::default();
        expect_confirm(&mut ports, &ctx, user_id, &token, move || {
            Err(refusal.clone())
        });

        let error = ports
            .account()
            .confirm_email_verification(&ctx, token)
            .await
            .expect_err("refused");

        assert_token_invalid(&error);
    }
}

#[tokio::test]
async fn a_transient_failure_to_confirm_passes_through() {
    let ctx = Ctx::anonymous();
    let user_id = Uuid::now_v7();
    let token = new_token(user_id);
    let mut ports = Ports::default();
    expect_confirm(&mut ports, &ctx, user_id, &token, || Err(timeout()));

    let error = ports
        .account()
        .confirm_email_verification(&ctx, token)
        .await
        .expect_err("failed");

    assert_eq!(error, timeout());
}

// Requesting a password reset.

fn expect_lookup(
    ports: &mut Ports,
    ctx: &Ctx,
    result: impl Fn() -> ports_app::AppResult<User> + Send + 'static,
) {
    let expected_ctx = ctx.clone();
    ports
        .users
        .expect_lookup_user()
        .withf(move |ctx, email| *ctx == expected_ctx && email == "ada@example.com")
        .times(1)
        .returning(move |_, _| result().map_err(Into::into));
}

/// Expects the reset to start for `user_id`; returns the tokens it was given.
fn expect_start_reset(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    result: ports_app::AppResult<()>,
) -> Seen<String> {
    let tokens = seen();
    let recorded = tokens.clone();
    let expected_ctx = ctx.clone();
    ports
        .users
        .expect_start_password_reset()
        .withf(move |ctx, step, id, _| {
            *ctx == expected_ctx && step == "start-password-reset" && *id == UserId::from(user_id)
        })
        .times(1)
        .returning(move |_, _, _, token| {
            recorded.lock().expect("not poisoned").push(token);
            result.clone().map(|()| user(user_id)).map_err(Into::into)
        });
    tokens
}

#[tokio::test]
async fn a_reset_for_an_active_user_stores_a_token_and_mails_it() {
    let ctx = Ctx::anonymous();
    let user_id = Uuid::now_v7();
    let mut ports = Ports::default();
    expect_lookup(&mut ports, &ctx, move || Ok(user(user_id)));
    let tokens = expect_start_reset(&mut ports, &ctx, user_id, Ok(()));
    let mails = expect_mail(&mut ports, Ok(()));

    ports
        .account()
        .request_password_reset(&ctx, "ada@example.com".to_owned())
        .await
        .expect("asked");

    let tokens = taken(&tokens);
    let mails = taken(&mails);
    assert_eq!(token_target("token", &tokens[0]), Ok(user_id));
    assert_eq!(mails.len(), 1);
    assert_eq!(mails[0].kind, MailKind::PasswordReset);
    assert_eq!(mails[0].to, "ada@example.com");
    assert_eq!(mails[0].subject, "Reset your password");
    assert_eq!(mails[0].token, tokens[0]);
    assert!(mails[0].text.contains(&tokens[0]));
}

#[tokio::test]
async fn a_reset_for_an_unknown_email_answers_the_same_and_mails_nothing() {
    let ctx = Ctx::anonymous();
    let mut ports = Ports::default();
    expect_lookup(&mut ports, &ctx, || {
        Err(rejected(RejectionKind::NotFound, "USER_NOT_FOUND"))
    });
    ports.users.expect_start_password_reset().never();
    ports.mailer.expect_send().never();

    let result = ports
        .account()
        .request_password_reset(&ctx, "ada@example.com".to_owned())
        .await;

    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn a_reset_for_an_inactive_user_answers_the_same_and_mails_nothing() {
    for status in [UserStatus::Suspended, UserStatus::Erased] {
        let ctx = Ctx::anonymous();
        let user_id = Uuid::now_v7();
        let mut ports = Ports::default();
        expect_lookup(&mut ports, &ctx, move || {
            Ok(User {
                status,
                ..user(user_id)
            })
        });
        ports.users.expect_start_password_reset().never();
        ports.mailer.expect_send().never();

        let result = ports
            .account()
            .request_password_reset(&ctx, "ada@example.com".to_owned())
            .await;

        assert_eq!(result, Ok(()));
    }
}

#[tokio::test]
async fn a_refused_start_of_a_reset_answers_the_same_and_mails_nothing() {
    for refusal in [
        rejected(RejectionKind::FailedPrecondition, "USER_NOT_ACTIVE"),
        rejected(RejectionKind::FailedPrecondition, "USER_ERASED"),
        rejected(RejectionKind::NotFound, "USER_NOT_FOUND"),
        // A conflict: not a sure refusal to the port, still answered quietly.
        rejected(RejectionKind::Aborted, "CONFLICT"),
    ] {
        let ctx = Ctx::anonymous();
        let user_id = Uuid::now_v7();
        let mut ports = Ports::default();
        expect_lookup(&mut ports, &ctx, move || Ok(user(user_id)));
        expect_start_reset(&mut ports, &ctx, user_id, Err(refusal));
        ports.mailer.expect_send().never();

        let result = ports
            .account()
            .request_password_reset(&ctx, "ada@example.com".to_owned())
            .await;

        assert_eq!(result, Ok(()));
    }
}

#[tokio::test]
async fn a_malformed_email_or_a_failed_lookup_is_returned() {
    let failures = [
        AppError::invalid_field("INVALID_EMAIL", "email", "not an email address"),
        rejected(RejectionKind::Unavailable, "OVERLOADED"),
        timeout(),
        internal(),
    ];
    for failure in failures {
        let ctx = Ctx::anonymous();
        let mut ports = Ports::default();
        let returned = failure.clone();
        expect_lookup(&mut ports, &ctx, move || Err(returned.clone()));
        ports.users.expect_start_password_reset().never();
        ports.mailer.expect_send().never();

        let error = ports
            .account()
            .request_password_reset(&ctx, "ada@example.com".to_owned())
            .await
            .expect_err("failed");

        assert_eq!(error, failure);
    }
}

#[tokio::test]
async fn a_transient_failure_to_start_a_reset_is_returned() {
    for failure in [
        timeout(),
        internal(),
        rejected(RejectionKind::Unavailable, "OVERLOADED"),
    ] {
        let ctx = Ctx::anonymous();
        let user_id = Uuid::now_v7();
        let mut ports = Ports::default();
        expect_lookup(&mut ports, &ctx, move || Ok(user(user_id)));
        expect_start_reset(&mut ports, &ctx, user_id, Err(failure.clone()));
        ports.mailer.expect_send().never();

        let error = ports
            .account()
            .request_password_reset(&ctx, "ada@example.com".to_owned())
            .await
            .expect_err("failed");

        assert_eq!(error, failure);
    }
}

#[tokio::test]
async fn a_reset_mail_that_cannot_be_sent_is_an_error() {
    let ctx = Ctx::anonymous();
    let user_id = Uuid::now_v7();
    let mut ports = Ports::default();
    expect_lookup(&mut ports, &ctx, move || Ok(user(user_id)));
    expect_start_reset(&mut ports, &ctx, user_id, Ok(()));
    expect_mail(&mut ports, Err(timeout()));

    let error = ports
        .account()
        .request_password_reset(&ctx, "ada@example.com".to_owned())
        .await
        .expect_err("not sent");

    assert_eq!(error, timeout());
}

// Completing a password reset.

fn expect_complete(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    token: &str,
    result: impl Fn() -> ports_app::AppResult<User> + Send + 'static,
) {
    let expected_ctx = ctx.clone();
    let expected_token = token.to_owned();
    ports
        .users
        .expect_complete_password_reset()
        .withf(move |ctx, step, id, token, new_password| {
            *ctx == expected_ctx
                && step == "complete-password-reset"
                && *id == UserId::from(user_id)
                && *token == expected_token
                && new_password == "new password 456"
        })
        .times(1)
        .returning(move |_, _, _, _, _| result().map_err(Into::into));
}

#[tokio::test]
async fn complete_password_reset_presents_the_token_and_the_new_password() {
    let ctx = Ctx::anonymous();
    let user_id = Uuid::now_v7();
    let token = new_token(user_id);
    let mut ports = Ports::default();
    expect_complete(&mut ports, &ctx, user_id, &token, move || Ok(user(user_id)));

    ports
        .account()
        .complete_password_reset(&ctx, token, "new password 456".to_owned())
        .await
        .expect("reset");
}

#[tokio::test]
async fn a_malformed_reset_token_is_refused_without_asking_identity() {
    for token in malformed_tokens() {
        let mut ports = Ports::default();
        ports.users.expect_complete_password_reset().never();

        let error = ports
            .account()
            .complete_password_reset(&Ctx::anonymous(), token, "new password 456".to_owned())
            .await
            .expect_err("malformed");

        assert_eq!(
            error.kind,
            ErrorKind::Rejected(RejectionKind::InvalidArgument)
        );
        assert_eq!(error.code, "INVALID_TOKEN");
    }
}

#[tokio::test]
async fn a_malformed_reset_token_and_a_bad_new_password_are_reported_together() {
    let mut ports = Ports::default();
    ports.users.expect_complete_password_reset().never();

    let error = ports
        .account()
        .complete_password_reset(&Ctx::anonymous(), "garbage".to_owned(), "short".to_owned())
        .await
        .expect_err("bad request");

    assert_eq!(
        error.kind,
        ErrorKind::Rejected(RejectionKind::InvalidArgument)
    );
    assert_eq!(error.code, "INVALID_TOKEN");
    let fields: Vec<&str> = error.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["token", "new_password"]);
}

#[tokio::test]
async fn a_new_password_that_breaks_the_rule_is_refused_as_identity_would_without_asking() {
    let mut ports = Ports::default();
    ports.users.expect_complete_password_reset().never();
    let token = ports_app::token::new_token(Uuid::now_v7());

    let error = ports
        .account()
        .complete_password_reset(&Ctx::anonymous(), token, "short".to_owned())
        .await
        .expect_err("bad password");

    assert_eq!(
        error.kind,
        ErrorKind::Rejected(RejectionKind::InvalidArgument)
    );
    assert_eq!(error.code, "INVALID_PASSWORD");
    assert_eq!(
        error.message,
        "the password must be at least 12 characters long"
    );
    assert_eq!(error.fields.len(), 1);
    assert_eq!(error.fields[0].field, "new_password");
}

#[tokio::test]
async fn a_reset_token_naming_an_unknown_or_inactive_user_answers_as_a_wrong_token() {
    for refusal in refusals_about_the_user() {
        let ctx = Ctx::anonymous();
        let user_id = Uuid::now_v7();
        let token = new_token(user_id);
        let mut ports = Ports::default();
        expect_complete(&mut ports, &ctx, user_id, &token, move || {
            Err(refusal.clone())
        });

        let error = ports
            .account()
            .complete_password_reset(&ctx, token, "new password 456".to_owned())
            .await
            .expect_err("refused");

        assert_token_invalid(&error);
    }
}

#[tokio::test]
async fn other_reset_refusals_pass_through() {
    let failures = [
        AppError::rejected(
            RejectionKind::FailedPrecondition,
            "TOKEN_INVALID",
            "the token is invalid or has expired",
        ),
        AppError::invalid_field("INVALID_PASSWORD", "new_password", "too short"),
        rejected(RejectionKind::Unavailable, "HASHING_SATURATED"),
        timeout(),
    ];
    for failure in failures {
        let ctx = Ctx::anonymous();
        let user_id = Uuid::now_v7();
        let token = new_token(user_id);
        let mut ports = Ports::default();
        let returned = failure.clone();
        expect_complete(&mut ports, &ctx, user_id, &token, move || {
            Err(returned.clone())
        });

        let error = ports
            .account()
            .complete_password_reset(&ctx, token, "new password 456".to_owned())
            .await
            .expect_err("refused");

        assert_eq!(error, failure);
    }
}
