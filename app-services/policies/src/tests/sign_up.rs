//! An unfinished sign-up is undone with the sign-up's own request ids, unless its trial
//! started.

use ports_app::{Ctx, SignUpState, User, UserChangeError, UserStatus};
use saas_proto::identity::v1::UserSignUpUnfinished;

use super::*;
use crate::SIGN_UP_UNFINISHED;

/// The announcement of `user_id`'s sign-up `sign_up_id`.
fn unfinished(user_id: Uuid, sign_up_id: Uuid) -> EventEnvelope {
    envelope(
        SIGN_UP_UNFINISHED,
        "saas.identity.v1.UserSignUpUnfinished",
        &UserSignUpUnfinished {
            user_id: user_id.to_string(),
            sign_up_id: sign_up_id.to_string(),
            announcement: 1,
        },
    )
}

/// The sign-up's own context: what its steps' request ids derive from.
fn sign_up_ctx(sign_up_id: Uuid) -> Ctx {
    Ctx {
        request_id: sign_up_id,
        ..Ctx::anonymous()
    }
}

/// Identity answers the user as standing `(status, sign_up)`.
fn user_is(mocks: &mut Mocks, user_id: Uuid, status: UserStatus, sign_up: SignUpState) {
    mocks
        .users
        .expect_get_user()
        .withf(move |ctx, id| ctx.actor.is_none() && id.as_uuid() == user_id)
        .times(1)
        .returning(move |_, id| {
            Ok(User {
                status,
                sign_up,
                ..examples::user(id, "ada@example.com")
            })
        });
}

/// The user holds exactly `held`.
/// The active user `user_id`, whose sign-up is unfinished, owns the one workspace
/// `workspace_id` (the workspace the sign-up made).
fn unfinished_owner(mocks: &mut Mocks, user_id: Uuid, workspace_id: Uuid) {
    user_is(mocks, user_id, UserStatus::Active, SignUpState::Unfinished);
    holds(
        mocks,
        vec![workspace_of(
            workspace_id,
            "Acme",
            &[(user_id, Role::Owner)],
        )],
    );
}

fn holds(mocks: &mut Mocks, held: Vec<Workspace>) {
    mocks
        .workspaces
        .expect_list_user_workspaces()
        .times(1)
        .returning(move |_, _, _, _| {
            Ok(WorkspacePage {
                workspaces: held.clone(),
                next_page_token: String::new(),
            })
        });
}

/// Billing answers the subscription lookup of `workspace_id` with `answer`, logging it.
fn subscription_of(
    mocks: &mut Mocks,
    log: &Log,
    workspace_id: Uuid,
    answer: impl Fn() -> Result<Subscription, AppError> + Send + 'static,
) {
    let seen = log.clone();
    mocks
        .subscriptions
        .expect_lookup_subscription()
        .withf(move |_, asked| asked.as_uuid() == workspace_id)
        .times(1)
        .returning(move |_, asked| {
            seen.lock().unwrap().push(format!("lookup {asked}"));
            answer().map_err(SubscriptionReadError::from)
        });
}

fn no_subscription() -> Result<Subscription, AppError> {
    Err(refused(RejectionKind::NotFound, "SUBSCRIPTION_NOT_FOUND"))
}

/// Workspace answers deletions with `answer`, logging `delete <id> <actor> <request id>`.
fn deletes(
    mocks: &mut Mocks,
    log: &Log,
    answer: impl Fn() -> Result<(), AppError> + Send + 'static,
) {
    let seen = log.clone();
    mocks
        .workspaces
        .expect_delete_workspace()
        .returning(move |ctx, step, id| {
            seen.lock()
                .unwrap()
                .push(format!("delete {id} {:?} {}", ctx.actor, ctx.step(step)));
            answer().map_err(Into::into)
        });
}

/// Identity answers erasures with `answer`, logging `erase <id> <actor> <request id>`.
fn erases(
    mocks: &mut Mocks,
    log: &Log,
    answer: impl Fn() -> Result<(), AppError> + Send + 'static,
) {
    let seen = log.clone();
    mocks
        .users
        .expect_erase_user()
        .returning(move |ctx, step, id| {
            seen.lock()
                .unwrap()
                .push(format!("erase {id} {:?} {}", ctx.actor, ctx.step(step)));
            answer()
                .map(|()| examples::user(id, ""))
                .map_err(UserChangeError::from)
        });
}

#[tokio::test]
async fn an_unfinished_sign_up_without_a_trial_deletes_its_workspace_then_erases_the_user_as_the_sign_up_would()
 {
    let (user_id, sign_up_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut mocks = Mocks::default();
    let log = Log::default();
    unfinished_owner(&mut mocks, user_id, workspace_id);
    subscription_of(&mut mocks, &log, workspace_id, no_subscription);
    deletes(&mut mocks, &log, || Ok(()));
    erases(&mut mocks, &log, || Ok(()));
    mocks.users.expect_complete_sign_up().never();

    let result = mocks
        .policies()
        .unfinished_sign_up(unfinished(user_id, sign_up_id))
        .await;

    assert_eq!(result, Ok(()));
    // The very commands the sign-up itself makes when it undoes (`ports_app::sign_up`).
    let sign_up = sign_up_ctx(sign_up_id);
    assert_eq!(
        entries(&log),
        [
            format!("lookup {workspace_id}"),
            format!(
                "delete {workspace_id} {:?} {}",
                Some(user_id),
                sign_up.step("undo-create-workspace")
            ),
            format!("erase {user_id} None {}", sign_up.step("undo-register")),
        ]
    );
}

#[tokio::test]
async fn an_unfinished_sign_up_whose_trial_started_is_completed_and_nothing_is_undone() {
    let (user_id, sign_up_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let mut mocks = Mocks::default();
    let log = Log::default();
    unfinished_owner(&mut mocks, user_id, workspace_id);
    subscription_of(&mut mocks, &log, workspace_id, move || {
        Ok(examples::subscription(workspace_id.into()))
    });
    let expected = sign_up_ctx(sign_up_id).step("complete-sign-up");
    mocks
        .users
        .expect_complete_sign_up()
        .withf(move |ctx, step, id| ctx.step(step) == expected && id.as_uuid() == user_id)
        .times(1)
        .returning(|_, _, id| Ok(examples::user(id, "ada@example.com")));
    mocks.workspaces.expect_delete_workspace().never();
    mocks.users.expect_erase_user().never();

    let result = mocks
        .policies()
        .unfinished_sign_up(unfinished(user_id, sign_up_id))
        .await;

    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn a_sign_up_completed_or_undone_since_it_was_announced_is_left_alone() {
    for (status, sign_up) in [
        (UserStatus::Active, SignUpState::Complete),
        (UserStatus::Erased, SignUpState::Complete),
    ] {
        let mut mocks = Mocks::default();
        let user_id = Uuid::now_v7();
        user_is(&mut mocks, user_id, status, sign_up);
        mocks.workspaces.expect_list_user_workspaces().never();
        mocks.workspaces.expect_delete_workspace().never();
        mocks.users.expect_erase_user().never();

        let result = mocks
            .policies()
            .unfinished_sign_up(unfinished(user_id, Uuid::now_v7()))
            .await;

        assert_eq!(result, Ok(()), "{status:?} {sign_up:?}");
    }
}

#[tokio::test]
async fn only_a_workspace_the_user_holds_alone_as_owner_is_the_sign_ups() {
    let (user_id, sign_up_id) = (Uuid::now_v7(), Uuid::now_v7());
    let (theirs, joined) = (Uuid::now_v7(), Uuid::now_v7());
    let mut mocks = Mocks::default();
    let log = Log::default();
    user_is(
        &mut mocks,
        user_id,
        UserStatus::Active,
        SignUpState::Unfinished,
    );
    holds(
        &mut mocks,
        vec![
            workspace_of(
                joined,
                "Joined",
                &[(Uuid::now_v7(), Role::Owner), (user_id, Role::Member)],
            ),
            workspace_of(theirs, "Acme", &[(user_id, Role::Owner)]),
        ],
    );
    // The joined workspace has a subscription, but it is not the sign-up's.
    subscription_of(&mut mocks, &log, theirs, no_subscription);
    deletes(&mut mocks, &log, || Ok(()));
    erases(&mut mocks, &log, || Ok(()));

    let result = mocks
        .policies()
        .unfinished_sign_up(unfinished(user_id, sign_up_id))
        .await;

    assert_eq!(result, Ok(()));
    let deleted: Vec<String> = entries(&log)
        .into_iter()
        .filter(|entry| entry.starts_with("delete"))
        .collect();
    assert_eq!(deleted.len(), 1);
    assert!(deleted[0].starts_with(&format!("delete {theirs} ")));
}

#[tokio::test]
async fn a_transient_failure_retries_and_the_user_is_never_erased_before_the_workspace_is_gone() {
    // Billing cannot say whether the trial started: nothing is undone.
    let (user_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut mocks = Mocks::default();
    let log = Log::default();
    unfinished_owner(&mut mocks, user_id, workspace_id);
    subscription_of(&mut mocks, &log, workspace_id, || Err(unavailable()));
    mocks.workspaces.expect_delete_workspace().never();
    mocks.users.expect_erase_user().never();
    let result = mocks
        .policies()
        .unfinished_sign_up(unfinished(user_id, Uuid::now_v7()))
        .await;
    assert!(is_retry(&result, "OVERLOADED"), "{result:?}");

    // The deletion fails for now: the user stays until it succeeds.
    let mut mocks = Mocks::default();
    let log = Log::default();
    unfinished_owner(&mut mocks, user_id, workspace_id);
    subscription_of(&mut mocks, &log, workspace_id, no_subscription);
    deletes(&mut mocks, &log, || Err(timeout()));
    mocks.users.expect_erase_user().never();
    let result = mocks
        .policies()
        .unfinished_sign_up(unfinished(user_id, Uuid::now_v7()))
        .await;
    assert!(is_retry(&result, "TIMEOUT"), "{result:?}");

    // Identity cannot be read: retried.
    let mut mocks = Mocks::default();
    mocks
        .users
        .expect_get_user()
        .times(1)
        .returning(|_, _| Err(unavailable().into()));
    mocks.workspaces.expect_list_user_workspaces().never();
    let result = mocks
        .policies()
        .unfinished_sign_up(unfinished(user_id, Uuid::now_v7()))
        .await;
    assert!(is_retry(&result, "OVERLOADED"), "{result:?}");
}

#[tokio::test]
async fn a_workspace_gone_already_is_skipped_and_an_erasure_made_already_is_done() {
    let (user_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut mocks = Mocks::default();
    let log = Log::default();
    unfinished_owner(&mut mocks, user_id, workspace_id);
    subscription_of(&mut mocks, &log, workspace_id, no_subscription);
    deletes(&mut mocks, &log, || {
        Err(refused(RejectionKind::NotFound, "WORKSPACE_NOT_FOUND"))
    });
    erases(&mut mocks, &log, || {
        Err(refused(RejectionKind::FailedPrecondition, "USER_ERASED"))
    });

    let result = mocks
        .policies()
        .unfinished_sign_up(unfinished(user_id, Uuid::now_v7()))
        .await;

    assert_eq!(result, Ok(()));
}

#[tokio::test]
async fn a_workspace_that_was_used_parks_the_event_and_keeps_the_user() {
    let (user_id, workspace_id) = (Uuid::now_v7(), Uuid::now_v7());
    let mut mocks = Mocks::default();
    let log = Log::default();
    unfinished_owner(&mut mocks, user_id, workspace_id);
    subscription_of(&mut mocks, &log, workspace_id, no_subscription);
    deletes(&mut mocks, &log, || {
        Err(refused(
            RejectionKind::FailedPrecondition,
            "WORKSPACE_NOT_PRISTINE",
        ))
    });
    mocks.users.expect_erase_user().never();

    let result = mocks
        .policies()
        .unfinished_sign_up(unfinished(user_id, Uuid::now_v7()))
        .await;

    assert!(
        is_permanent(&result, "WORKSPACE_NOT_PRISTINE"),
        "{result:?}"
    );
}

#[tokio::test]
async fn other_identity_events_are_ignored() {
    let mocks = Mocks::default();
    let result = mocks
        .policies()
        .unfinished_sign_up(envelope(
            crate::USER_ERASED,
            "saas.identity.v1.UserErased",
            &UserErased::default(),
        ))
        .await;
    assert_eq!(result, Ok(()));
}
