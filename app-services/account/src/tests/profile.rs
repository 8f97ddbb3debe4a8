//! Me, display name and password change.

use ports_app::UserId;

use super::*;

#[tokio::test]
async fn me_reads_the_signed_in_user() {
    let (ctx, user_id) = signed_in();
    let mut ports = Ports::default();
    let expected_ctx = ctx.clone();
    ports
        .users
        .expect_get_user()
        .withf(move |ctx, id| *ctx == expected_ctx && *id == UserId::from(user_id))
        .times(1)
        .returning(move |_, _| Ok(user(user_id)));

    let me = ports.account().me(&ctx).await.expect("found");

    assert_eq!(me.id, UserId::from(user_id));
}

#[tokio::test]
async fn me_needs_a_signed_in_user() {
    let mut ports = Ports::default();
    ports.users.expect_get_user().never();

    let error = ports
        .account()
        .me(&Ctx::anonymous())
        .await
        .expect_err("anonymous");

    assert_sign_in_required(&error);
}

#[tokio::test]
async fn me_passes_failures_through() {
    for failure in [
        rejected(RejectionKind::NotFound, "USER_NOT_FOUND"),
        timeout(),
    ] {
        let (ctx, _) = signed_in();
        let mut ports = Ports::default();
        let returned = failure.clone();
        ports
            .users
            .expect_get_user()
            .times(1)
            .returning(move |_, _| Err(returned.clone().into()));

        let error = ports.account().me(&ctx).await.expect_err("failed");

        assert_eq!(error, failure);
    }
}

#[tokio::test]
async fn change_display_name_renames_the_signed_in_user_under_its_step_id() {
    let (ctx, user_id) = signed_in();
    let mut ports = Ports::default();
    let expected_ctx = ctx.clone();
    ports
        .users
        .expect_change_display_name()
        .withf(move |ctx, step, id, display_name| {
            *ctx == expected_ctx
                && step == "change-display-name"
                && *id == UserId::from(user_id)
                && display_name == "Ada Lovelace"
        })
        .times(1)
        .returning(move |_, _, _, display_name| {
            Ok(User {
                display_name,
                ..user(user_id)
            })
        });

    let renamed = ports
        .account()
        .change_display_name(&ctx, "Ada Lovelace".to_owned())
        .await
        .expect("renamed");

    assert_eq!(renamed.display_name, "Ada Lovelace");
}

#[tokio::test]
async fn a_bad_display_name_is_refused_with_its_field() {
    let (ctx, _) = signed_in();
    let mut ports = Ports::default();
    let refusal = AppError::invalid_field(
        "INVALID_DISPLAY_NAME",
        "display_name",
        "the display name must not be empty",
    );
    let returned = refusal.clone();
    ports
        .users
        .expect_change_display_name()
        .times(1)
        .returning(move |_, _, _, _| Err(returned.clone().into()));

    let error = ports
        .account()
        .change_display_name(&ctx, " ".to_owned())
        .await
        .expect_err("refused");

    assert_eq!(error, refusal);
}

#[tokio::test]
async fn change_display_name_needs_a_signed_in_user() {
    let mut ports = Ports::default();
    ports.users.expect_change_display_name().never();

    let error = ports
        .account()
        .change_display_name(&Ctx::anonymous(), "Ada".to_owned())
        .await
        .expect_err("anonymous");

    assert_sign_in_required(&error);
}

#[tokio::test]
async fn change_password_sends_the_old_and_the_new_password() {
    let (ctx, user_id) = signed_in();
    let mut ports = Ports::default();
    let expected_ctx = ctx.clone();
    ports
        .users
        .expect_change_password()
        .withf(move |ctx, step, id, old_password, new_password| {
            *ctx == expected_ctx
                && step == "change-password"
                && *id == UserId::from(user_id)
                && old_password == "old password 123"
                && new_password == "new password 456"
        })
        .times(1)
        .returning(move |_, _, _, _, _| Ok(user(user_id)));

    ports
        .account()
        .change_password(
            &ctx,
            "old password 123".to_owned(),
            "new password 456".to_owned(),
        )
        .await
        .expect("changed");
}

#[tokio::test]
async fn change_password_passes_refusals_through() {
    let failures = [
        rejected(RejectionKind::PermissionDenied, "WRONG_PASSWORD"),
        AppError::invalid_field("INVALID_PASSWORD", "new_password", "too short"),
        rejected(RejectionKind::Unavailable, "HASHING_SATURATED"),
        timeout(),
    ];
    for failure in failures {
        let (ctx, _) = signed_in();
        let mut ports = Ports::default();
        let returned = failure.clone();
        ports
            .users
            .expect_change_password()
            .times(1)
            .returning(move |_, _, _, _, _| Err(returned.clone().into()));

        let error = ports
            .account()
            .change_password(&ctx, "old password 123".to_owned(), "short".to_owned())
            .await
            .expect_err("refused");

        assert_eq!(error, failure);
    }
}

#[tokio::test]
async fn change_password_needs_a_signed_in_user() {
    let mut ports = Ports::default();
    ports.users.expect_change_password().never();

    let error = ports
        .account()
        .change_password(
            &Ctx::anonymous(),
            "old password 123".to_owned(),
            "new password 456".to_owned(),
        )
        .await
        .expect_err("anonymous");

    assert_sign_in_required(&error);
}
