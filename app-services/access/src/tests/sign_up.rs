//! Sign-up: the three steps, their request ids, and what a failure undoes.

use mockall::Sequence;
use ports_app::{Ctx, SignUpState, SignUpWindow, StartTrialError, UserStatus};

use super::*;
use crate::{SIGN_UP_WINDOW, SignUpForm, TRIAL_SEATS};

fn form() -> SignUpForm {
    SignUpForm {
        email: "ada@example.com".to_owned(),
        password: "correct horse battery".to_owned(),
        display_name: "Ada".to_owned(),
        workspace_name: "Acme".to_owned(),
        workspace_slug: "acme".to_owned(),
    }
}

/// Expects the registration of `form()` under `ctx` with the sign-up's id and the default
/// window, answering `user_id`'s user, and as many reads of the user, who stands `as_now`.
fn expect_register_as(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    times: usize,
    as_now: (UserStatus, SignUpState),
) {
    let expected_ctx = ctx.clone();
    let sign_up = SignUpWindow {
        id: ctx.request_id,
        window: SIGN_UP_WINDOW,
    };
    ports
        .users
        .expect_register_user()
        .withf(move |ctx, step, new| {
            *ctx == expected_ctx
                && step == "register"
                && new.email == "ada@example.com"
                && new.display_name == "Ada"
                && new.password == "correct horse battery"
                && new.sign_up == Some(sign_up)
        })
        .times(times)
        .returning(move |_, _, _| Ok(pending(user_id)));
    let expected_ctx = ctx.clone();
    ports
        .users
        .expect_get_user()
        .withf(move |ctx, id| *ctx == expected_ctx && id.as_uuid() == user_id)
        .times(times)
        .returning(move |_, _| {
            Ok(User {
                status: as_now.0,
                sign_up: as_now.1,
                ..user(user_id)
            })
        });
}

/// [`expect_register_as`] a user whose sign-up is pending.
fn expect_register(ports: &mut Ports, ctx: &Ctx, user_id: Uuid, times: usize) {
    expect_register_as(
        ports,
        ctx,
        user_id,
        times,
        (UserStatus::Active, SignUpState::Pending),
    );
}

/// The user as registered by a sign-up.
fn pending(user_id: Uuid) -> User {
    User {
        sign_up: SignUpState::Pending,
        ..user(user_id)
    }
}

/// Expects the sign-up to be marked complete `times` times, answering with `result`.
fn expect_complete(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    times: usize,
    result: ports_app::AppResult<()>,
) {
    let expected_ctx = ctx.clone();
    ports
        .users
        .expect_complete_sign_up()
        .withf(move |ctx, step, id| {
            *ctx == expected_ctx && step == "complete-sign-up" && id.as_uuid() == user_id
        })
        .times(times)
        .returning(move |_, _, _| result.clone().map(|()| user(user_id)).map_err(Into::into));
}

/// Expects the workspace creation by `user_id`, answering with `result`.
fn expect_create(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    result: impl Fn() -> ports_app::AppResult<Workspace> + Send + 'static,
) {
    let expected_ctx = ctx.acting_as(user_id);
    ports
        .workspaces
        .expect_create_workspace()
        .withf(move |ctx, step, new| {
            *ctx == expected_ctx
                && step == "create-workspace"
                && new.slug == "acme"
                && new.name == "Acme"
                && new.seat_limit == TRIAL_SEATS
        })
        .times(1)
        // Workspace's answer, classified the way the adapter classifies it.
        .returning(move |_, _, _| result().map_err(Into::into));
}

/// Expects the trial for `workspace_id`, answering with `result`.
fn expect_trial(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    workspace_id: Uuid,
    result: impl Fn() -> ports_app::AppResult<Subscription> + Send + 'static,
) {
    let expected_ctx = ctx.acting_as(user_id);
    ports
        .subscriptions
        .expect_start_trial()
        .withf(move |ctx, step, workspace| {
            *ctx == expected_ctx && step == "start-trial" && workspace.as_uuid() == workspace_id
        })
        .times(1)
        // Billing's answer, classified the way the adapter classifies it.
        .returning(move |_, _, _| result().map_err(Into::into));
}

fn expect_erase(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    result: ports_app::AppResult<()>,
    seq: Option<&mut Sequence>,
) {
    let expected_ctx = ctx.clone();
    let expectation = ports.users.expect_erase_user();
    expectation
        .withf(move |ctx, step, id| {
            *ctx == expected_ctx && step == "undo-register" && id.as_uuid() == user_id
        })
        .times(1)
        // Identity's answer, classified the way the adapter classifies it.
        .returning(move |_, _, _| result.clone().map(|()| user(user_id)).map_err(Into::into));
    if let Some(seq) = seq {
        expectation.in_sequence(seq);
    }
}

fn expect_delete(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    workspace_id: Uuid,
    result: ports_app::AppResult<()>,
    seq: &mut Sequence,
) {
    let expected_ctx = ctx.acting_as(user_id);
    ports
        .workspaces
        .expect_delete_workspace()
        .withf(move |ctx, step, id| {
            *ctx == expected_ctx && step == "undo-create-workspace" && id.as_uuid() == workspace_id
        })
        .times(1)
        .in_sequence(seq)
        .returning(move |_, _, _| result.clone().map_err(Into::into));
}

/// Failures that may leave a step done or that ask for a retry: never undone.
fn transient_failures() -> Vec<AppError> {
    vec![
        timeout(),
        internal(),
        rejected(RejectionKind::Unavailable, "OVERLOADED"),
        rejected(RejectionKind::Aborted, "ETAG_MISMATCH"),
        rejected(RejectionKind::InvalidArgument, "REQUEST_ID_REUSED"),
    ]
}

#[tokio::test]
async fn sign_up_registers_creates_the_workspace_as_the_user_and_starts_a_trial() {
    let ctx = Ctx::anonymous();
    let (user_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut ports = Ports::default();
    expect_register(&mut ports, &ctx, user_id, 1);
    expect_create(&mut ports, &ctx, user_id, move || {
        Ok(a_workspace(workspace_id, user_id))
    });
    expect_trial(&mut ports, &ctx, user_id, workspace_id, move || {
        Ok(subscription(workspace_id))
    });
    expect_complete(&mut ports, &ctx, user_id, 1, Ok(()));

    let signed_up = ports
        .access(clock())
        .sign_up(&ctx, form())
        .await
        .expect("signed up");

    assert_eq!(signed_up.user.id.as_uuid(), user_id);
    assert_eq!(signed_up.workspace.id.as_uuid(), workspace_id);
    assert_eq!(signed_up.subscription.workspace_id.as_uuid(), workspace_id);
}

#[tokio::test]
async fn a_refused_registration_is_returned_and_nothing_else_happens() {
    let ctx = Ctx::anonymous();
    let mut ports = Ports::default();
    let refusal = AppError::invalid_field("INVALID_PASSWORD", "password", "too short");
    let returned = refusal.clone();
    ports
        .users
        .expect_register_user()
        .times(1)
        .returning(move |_, _, _| Err(returned.clone().into()));

    let error = ports
        .access(clock())
        .sign_up(&ctx, form())
        .await
        .expect_err("refused");

    assert_eq!(error, refusal);
    assert_eq!(error.fields[0].field, "password");
}

#[tokio::test]
async fn a_taken_email_is_returned_as_it_is() {
    let ctx = Ctx::anonymous();
    let mut ports = Ports::default();
    ports
        .users
        .expect_register_user()
        .times(1)
        .returning(|_, _, _| Err(rejected(RejectionKind::AlreadyExists, "EMAIL_TAKEN").into()));

    let error = ports
        .access(clock())
        .sign_up(&ctx, form())
        .await
        .expect_err("refused");

    assert_eq!(error.code, "EMAIL_TAKEN");
    assert!(error.is(RejectionKind::AlreadyExists));
}

#[tokio::test]
async fn a_workspace_refused_for_good_erases_the_user_and_returns_the_refusal() {
    let ctx = Ctx::anonymous();
    let user_id = Uuid::now_v7();
    let mut ports = Ports::default();
    expect_register(&mut ports, &ctx, user_id, 1);
    expect_create(&mut ports, &ctx, user_id, || {
        Err(rejected(RejectionKind::AlreadyExists, "SLUG_TAKEN"))
    });
    expect_erase(&mut ports, &ctx, user_id, Ok(()), None);

    let error = ports
        .access(clock())
        .sign_up(&ctx, form())
        .await
        .expect_err("refused");

    assert_eq!(error.code, "SLUG_TAKEN");
    assert!(error.is(RejectionKind::AlreadyExists));
}

#[tokio::test]
async fn a_bad_slug_erases_the_user_and_keeps_the_field_violation() {
    let ctx = Ctx::anonymous();
    let user_id = Uuid::now_v7();
    let mut ports = Ports::default();
    let refusal = AppError::invalid_field("SLUG_TAKEN", "slug", "the slug is taken");
    let returned = refusal.clone();
    expect_register(&mut ports, &ctx, user_id, 1);
    expect_create(&mut ports, &ctx, user_id, move || Err(returned.clone()));
    expect_erase(&mut ports, &ctx, user_id, Ok(()), None);

    let error = ports
        .access(clock())
        .sign_up(&ctx, form())
        .await
        .expect_err("refused");

    // The field is named as the form names it.
    assert_eq!(
        error,
        AppError::invalid_field("SLUG_TAKEN", "workspace_slug", "the slug is taken")
    );
}

#[tokio::test]
async fn a_form_with_bad_fields_names_them_all_and_calls_nothing() {
    // No port expects a call: any call would fail the test.
    let ports = Ports::default();
    let bad_form = SignUpForm {
        email: "not an email".to_owned(),
        password: "short".to_owned(),
        display_name: " ".to_owned(),
        workspace_name: "Acme\u{7}".to_owned(),
        workspace_slug: "admin".to_owned(),
    };
    let error = ports
        .access(clock())
        .sign_up(&Ctx::anonymous(), bad_form)
        .await
        .expect_err("refused");
    assert!(error.is(RejectionKind::InvalidArgument));
    assert_eq!(error.code, "INVALID_EMAIL");
    let fields: Vec<&str> = error.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "email",
            "password",
            "display_name",
            "workspace_name",
            "workspace_slug"
        ]
    );
    assert_eq!(
        error.fields[4].description,
        "the workspace slug is reserved"
    );

    let mut reserved = form();
    reserved.workspace_slug = "Admin".to_owned();
    let error = reserved.check().expect_err("reserved");
    assert_eq!(error.code, "SLUG_RESERVED");
    assert_eq!(error.fields.len(), 1);
    assert_eq!(form().check(), Ok(()));
}

#[tokio::test]
async fn a_failed_erasure_while_undoing_still_returns_the_original_refusal() {
    let ctx = Ctx::anonymous();
    let user_id = Uuid::now_v7();
    let mut ports = Ports::default();
    expect_register(&mut ports, &ctx, user_id, 1);
    expect_create(&mut ports, &ctx, user_id, || {
        Err(rejected(RejectionKind::AlreadyExists, "SLUG_TAKEN"))
    });
    expect_erase(&mut ports, &ctx, user_id, Err(timeout()), None);

    let error = ports
        .access(clock())
        .sign_up(&ctx, form())
        .await
        .expect_err("refused");

    assert_eq!(error.code, "SLUG_TAKEN");
}

#[tokio::test]
async fn a_transient_workspace_failure_is_returned_without_undoing_anything() {
    for failure in transient_failures() {
        let ctx = Ctx::anonymous();
        let user_id = Uuid::now_v7();
        let mut ports = Ports::default();
        expect_register(&mut ports, &ctx, user_id, 1);
        let returned = failure.clone();
        expect_create(&mut ports, &ctx, user_id, move || Err(returned.clone()));
        ports.users.expect_erase_user().never();

        let error = ports
            .access(clock())
            .sign_up(&ctx, form())
            .await
            .expect_err("failed");

        assert_eq!(error, failure);
    }
}

#[tokio::test]
async fn a_trial_refused_for_good_deletes_the_workspace_then_erases_the_user() {
    let ctx = Ctx::anonymous();
    let (user_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut ports = Ports::default();
    let mut seq = Sequence::new();
    expect_register(&mut ports, &ctx, user_id, 1);
    expect_create(&mut ports, &ctx, user_id, move || {
        Ok(a_workspace(workspace_id, user_id))
    });
    expect_trial(&mut ports, &ctx, user_id, workspace_id, || {
        Err(rejected(
            RejectionKind::FailedPrecondition,
            "PLAN_UNAVAILABLE",
        ))
    });
    expect_delete(&mut ports, &ctx, user_id, workspace_id, Ok(()), &mut seq);
    expect_erase(&mut ports, &ctx, user_id, Ok(()), Some(&mut seq));

    let error = ports
        .access(clock())
        .sign_up(&ctx, form())
        .await
        .expect_err("refused");

    assert_eq!(error.code, "PLAN_UNAVAILABLE");
    assert!(error.is(RejectionKind::FailedPrecondition));
}

#[tokio::test]
async fn a_failed_workspace_deletion_still_erases_the_user_and_returns_the_original_refusal() {
    let ctx = Ctx::anonymous();
    let (user_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut ports = Ports::default();
    let mut seq = Sequence::new();
    expect_register(&mut ports, &ctx, user_id, 1);
    expect_create(&mut ports, &ctx, user_id, move || {
        Ok(a_workspace(workspace_id, user_id))
    });
    expect_trial(&mut ports, &ctx, user_id, workspace_id, || {
        Err(rejected(
            RejectionKind::InvalidArgument,
            "INVALID_WORKSPACE_ID",
        ))
    });
    expect_delete(
        &mut ports,
        &ctx,
        user_id,
        workspace_id,
        Err(rejected(
            RejectionKind::FailedPrecondition,
            "WORKSPACE_NOT_PRISTINE",
        )),
        &mut seq,
    );
    expect_erase(&mut ports, &ctx, user_id, Err(internal()), Some(&mut seq));

    let error = ports
        .access(clock())
        .sign_up(&ctx, form())
        .await
        .expect_err("refused");

    assert_eq!(error.code, "INVALID_WORKSPACE_ID");
}

#[tokio::test]
async fn a_transient_trial_failure_is_returned_without_undoing_anything() {
    for failure in transient_failures() {
        let ctx = Ctx::anonymous();
        let (user_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7());
        let mut ports = Ports::default();
        expect_register(&mut ports, &ctx, user_id, 1);
        expect_create(&mut ports, &ctx, user_id, move || {
            Ok(a_workspace(workspace_id, user_id))
        });
        let returned = failure.clone();
        expect_trial(&mut ports, &ctx, user_id, workspace_id, move || {
            Err(returned.clone())
        });
        ports.workspaces.expect_delete_workspace().never();
        ports.users.expect_erase_user().never();

        let error = ports
            .access(clock())
            .sign_up(&ctx, form())
            .await
            .expect_err("failed");

        assert_eq!(error, failure);
    }
}

#[tokio::test]
async fn a_trial_refused_because_a_subscription_exists_keeps_the_workspace_and_the_user() {
    let ctx = Ctx::anonymous();
    let (user_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut ports = Ports::default();
    expect_register(&mut ports, &ctx, user_id, 1);
    expect_create(&mut ports, &ctx, user_id, move || {
        Ok(a_workspace(workspace_id, user_id))
    });
    expect_trial(&mut ports, &ctx, user_id, workspace_id, || {
        Err(rejected(
            RejectionKind::AlreadyExists,
            "SUBSCRIPTION_EXISTS",
        ))
    });
    ports.workspaces.expect_delete_workspace().never();
    ports.users.expect_erase_user().never();

    let error = ports
        .access(clock())
        .sign_up(&ctx, form())
        .await
        .expect_err("refused");

    assert_eq!(error.code, "SUBSCRIPTION_EXISTS");
}

#[tokio::test]
async fn a_retry_with_the_same_request_id_repeats_the_same_steps_and_converges() {
    let ctx = Ctx::anonymous();
    let (user_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut ports = Ports::default();
    // The data services replay the stored responses of the steps already done.
    expect_register(&mut ports, &ctx, user_id, 2);
    let expected_ctx = ctx.acting_as(user_id);
    let create_ctx = expected_ctx.clone();
    ports
        .workspaces
        .expect_create_workspace()
        .withf(move |ctx, step, _| *ctx == create_ctx && step == "create-workspace")
        .times(2)
        .returning(move |_, _, _| Ok(a_workspace(workspace_id, user_id)));
    let mut seq = Sequence::new();
    let trial_ctx = expected_ctx.clone();
    ports
        .subscriptions
        .expect_start_trial()
        .withf(move |ctx, step, _| *ctx == trial_ctx && step == "start-trial")
        .times(1)
        .in_sequence(&mut seq)
        .returning(|_, _, _| Err(StartTrialError::Other(timeout())));
    let trial_ctx = expected_ctx.clone();
    ports
        .subscriptions
        .expect_start_trial()
        .withf(move |ctx, step, _| *ctx == trial_ctx && step == "start-trial")
        .times(1)
        .in_sequence(&mut seq)
        .returning(move |_, _, _| Ok(subscription(workspace_id)));
    expect_complete(&mut ports, &ctx, user_id, 1, Ok(()));
    let access = ports.access(clock());

    let first = access.sign_up(&ctx, form()).await.expect_err("timed out");
    let second = access.sign_up(&ctx, form()).await.expect("converged");

    assert_eq!(first.kind, ErrorKind::Timeout);
    assert_eq!(second.user.id.as_uuid(), user_id);
    assert_eq!(second.workspace.id.as_uuid(), workspace_id);
}

#[tokio::test]
async fn a_sign_up_registers_the_user_with_its_request_id_and_the_configured_window() {
    let ctx = Ctx::anonymous();
    let mut ports = Ports::default();
    let expected = SignUpWindow {
        id: ctx.request_id,
        window: std::time::Duration::from_secs(30),
    };
    ports
        .users
        .expect_register_user()
        .withf(move |_, _, new| new.sign_up == Some(expected))
        .times(1)
        .returning(|_, _, _| Err(rejected(RejectionKind::AlreadyExists, "EMAIL_TAKEN").into()));

    let error = ports
        .access(clock())
        .with_sign_up_window(std::time::Duration::from_secs(30))
        .sign_up(&ctx, form())
        .await
        .expect_err("refused");

    assert_eq!(error.code, "EMAIL_TAKEN");
}

#[tokio::test]
async fn a_sign_up_that_cannot_be_marked_complete_still_succeeds_because_its_trial_started() {
    for failure in [
        timeout(),
        internal(),
        rejected(RejectionKind::FailedPrecondition, "USER_ERASED"),
    ] {
        let ctx = Ctx::anonymous();
        let (user_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7());
        let mut ports = Ports::default();
        expect_register(&mut ports, &ctx, user_id, 1);
        expect_create(&mut ports, &ctx, user_id, move || {
            Ok(a_workspace(workspace_id, user_id))
        });
        expect_trial(&mut ports, &ctx, user_id, workspace_id, move || {
            Ok(subscription(workspace_id))
        });
        expect_complete(&mut ports, &ctx, user_id, 1, Err(failure));
        ports.workspaces.expect_delete_workspace().never();
        ports.users.expect_erase_user().never();

        let signed_up = ports
            .access(clock())
            .sign_up(&ctx, form())
            .await
            .expect("signed up");

        assert_eq!(signed_up.workspace.id.as_uuid(), workspace_id);
    }
}

#[tokio::test]
async fn a_retried_sign_up_that_was_announced_unfinished_or_undone_is_refused_and_makes_nothing() {
    for as_now in [
        (UserStatus::Active, SignUpState::Unfinished),
        (UserStatus::Erased, SignUpState::Complete),
    ] {
        let ctx = Ctx::anonymous();
        let user_id = Uuid::now_v7();
        let mut ports = Ports::default();
        expect_register_as(&mut ports, &ctx, user_id, 1, as_now);
        ports.workspaces.expect_create_workspace().never();
        ports.subscriptions.expect_start_trial().never();
        ports.users.expect_complete_sign_up().never();
        ports.users.expect_erase_user().never();

        let error = ports
            .access(clock())
            .sign_up(&ctx, form())
            .await
            .expect_err("refused");

        assert_eq!(error.code, "SIGN_UP_UNDONE", "{as_now:?}");
        assert!(error.is(RejectionKind::FailedPrecondition));
    }
}

#[tokio::test]
async fn a_failed_read_of_the_registered_user_undoes_nothing_and_is_returned() {
    let ctx = Ctx::anonymous();
    let user_id = Uuid::now_v7();
    let mut ports = Ports::default();
    ports
        .users
        .expect_register_user()
        .times(1)
        .returning(move |_, _, _| Ok(pending(user_id)));
    ports
        .users
        .expect_get_user()
        .times(1)
        .returning(|_, _| Err(timeout().into()));
    ports.workspaces.expect_create_workspace().never();
    ports.users.expect_erase_user().never();

    let error = ports
        .access(clock())
        .sign_up(&ctx, form())
        .await
        .expect_err("failed");

    assert_eq!(error.kind, ErrorKind::Timeout);
}
