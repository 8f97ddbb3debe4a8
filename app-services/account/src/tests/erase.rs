//! Erasing an account: the last-owner rule, the erasure, and leaving every workspace.

use std::sync::Mutex;

use mockall::Sequence;
use ports_app::{UserId, WorkspacePage};

use super::*;

/// Expects the listing of the user's workspaces, one call per page; page `i` is asked for
/// with the token `page-<i>` (the first with none).
fn expect_pages(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    pages: Vec<Vec<Workspace>>,
    seq: &mut Sequence,
) {
    let count = pages.len();
    for (i, page) in pages.into_iter().enumerate() {
        let expected_ctx = ctx.clone();
        let asked = if i == 0 {
            String::new()
        } else {
            format!("page-{i}")
        };
        let next = if i + 1 == count {
            String::new()
        } else {
            format!("page-{}", i + 1)
        };
        ports
            .workspaces
            .expect_list_user_workspaces()
            .withf(move |ctx, user, page_size, page_token| {
                *ctx == expected_ctx
                    && *user == UserId::from(user_id)
                    && *page_token == asked
                    && *page_size > 0
            })
            .times(1)
            .in_sequence(seq)
            .returning(move |_, _, _, _| {
                Ok(WorkspacePage {
                    workspaces: page.clone(),
                    next_page_token: next.clone(),
                })
            });
    }
}

fn expect_erase(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    result: ports_app::AppResult<()>,
    seq: &mut Sequence,
) {
    let expected_ctx = ctx.clone();
    ports
        .users
        .expect_erase_user()
        .withf(move |ctx, step, id| {
            *ctx == expected_ctx && step == "erase" && *id == UserId::from(user_id)
        })
        .times(1)
        .in_sequence(seq)
        .returning(move |_, _, _| result.clone().map(|()| user(user_id)).map_err(Into::into));
}

/// Expects the removal from each workspace, in order, as a system policy (no actor);
/// answers with `results` in the same order.
fn expect_removals(
    ports: &mut Ports,
    ctx: &Ctx,
    user_id: Uuid,
    workspaces: &[Workspace],
    results: Vec<ports_app::AppResult<()>>,
    seq: &mut Sequence,
) {
    for (held, result) in workspaces.iter().zip(results) {
        let system = Ctx {
            actor: None,
            ..ctx.clone()
        };
        let id = held.id;
        let expected_step = format!("remove-from-{id}");
        let answer = held.clone();
        ports
            .workspaces
            .expect_remove_erased_user()
            .withf(move |ctx, step, asked, user| {
                *ctx == system
                    && *asked == id
                    && step == expected_step
                    && *user == UserId::from(user_id)
            })
            .times(1)
            .in_sequence(seq)
            .returning(move |_, _, _, _| {
                result.clone().map(|()| answer.clone()).map_err(Into::into)
            });
    }
}

#[tokio::test]
async fn erase_checks_every_page_erases_the_user_then_leaves_each_workspace() {
    let (ctx, user_id) = signed_in();
    let me = user_id;
    let other = Uuid::now_v7();
    let workspaces = vec![
        // Alone in it.
        a_workspace("solo", vec![member(me, Role::Owner)]),
        // Another owner stays.
        a_workspace(
            "shared",
            vec![member(me, Role::Owner), member(other, Role::Owner)],
        ),
        // Someone else's, as a member.
        a_workspace(
            "theirs",
            vec![member(other, Role::Owner), member(me, Role::Member)],
        ),
    ];
    let mut ports = Ports::default();
    let mut seq = Sequence::new();
    expect_pages(
        &mut ports,
        &ctx,
        user_id,
        vec![workspaces[..2].to_vec(), workspaces[2..].to_vec()],
        &mut seq,
    );
    expect_erase(&mut ports, &ctx, user_id, Ok(()), &mut seq);
    expect_removals(
        &mut ports,
        &ctx,
        user_id,
        &workspaces,
        vec![Ok(()), Ok(()), Ok(())],
        &mut seq,
    );

    ports.account().erase(&ctx).await.expect("erased");
}

#[tokio::test]
async fn a_user_in_no_workspace_is_just_erased() {
    let (ctx, user_id) = signed_in();
    let mut ports = Ports::default();
    let mut seq = Sequence::new();
    expect_pages(&mut ports, &ctx, user_id, vec![Vec::new()], &mut seq);
    expect_erase(&mut ports, &ctx, user_id, Ok(()), &mut seq);
    ports.workspaces.expect_remove_erased_user().never();

    ports.account().erase(&ctx).await.expect("erased");
}

#[tokio::test]
async fn the_last_owner_of_a_workspace_with_other_members_cannot_erase_themselves() {
    let (ctx, user_id) = signed_in();
    let me = user_id;
    let other = Uuid::now_v7();
    for others in [Role::Member, Role::Admin] {
        let mut ports = Ports::default();
        let mut seq = Sequence::new();
        expect_pages(
            &mut ports,
            &ctx,
            user_id,
            vec![
                vec![a_workspace("solo", vec![member(me, Role::Owner)])],
                // The last page holds the one that blocks.
                vec![a_workspace(
                    "acme",
                    vec![member(me, Role::Owner), member(other, others)],
                )],
            ],
            &mut seq,
        );
        ports.users.expect_erase_user().never();
        ports.workspaces.expect_remove_erased_user().never();

        let error = ports.account().erase(&ctx).await.expect_err("refused");

        assert_eq!(
            error.kind,
            ErrorKind::Rejected(RejectionKind::FailedPrecondition)
        );
        assert_eq!(error.code, "LAST_OWNER");
        assert!(error.message.contains("acme"));
    }
}

#[tokio::test]
async fn a_failed_removal_is_logged_and_the_others_still_happen() {
    let (ctx, user_id) = signed_in();
    let me = user_id;
    let workspaces = vec![
        a_workspace("one", vec![member(me, Role::Owner)]),
        a_workspace("two", vec![member(me, Role::Owner)]),
        a_workspace("three", vec![member(me, Role::Owner)]),
    ];
    let mut ports = Ports::default();
    let mut seq = Sequence::new();
    expect_pages(
        &mut ports,
        &ctx,
        user_id,
        vec![workspaces.clone()],
        &mut seq,
    );
    expect_erase(&mut ports, &ctx, user_id, Ok(()), &mut seq);
    expect_removals(
        &mut ports,
        &ctx,
        user_id,
        &workspaces,
        vec![
            Err(timeout()),
            Err(rejected(RejectionKind::NotFound, "MEMBER_NOT_FOUND")),
            Ok(()),
        ],
        &mut seq,
    );

    ports.account().erase(&ctx).await.expect("erased");
}

#[tokio::test]
async fn a_refused_erasure_is_returned_and_no_workspace_is_touched() {
    for failure in [
        rejected(RejectionKind::FailedPrecondition, "USER_ERASED"),
        timeout(),
    ] {
        let (ctx, user_id) = signed_in();
        let me = user_id;
        let mut ports = Ports::default();
        let mut seq = Sequence::new();
        expect_pages(
            &mut ports,
            &ctx,
            user_id,
            vec![vec![a_workspace("solo", vec![member(me, Role::Owner)])]],
            &mut seq,
        );
        expect_erase(&mut ports, &ctx, user_id, Err(failure.clone()), &mut seq);
        ports.workspaces.expect_remove_erased_user().never();

        let error = ports.account().erase(&ctx).await.expect_err("refused");

        assert_eq!(error, failure);
    }
}

#[tokio::test]
async fn a_failed_listing_is_returned_and_nothing_is_erased() {
    let (ctx, _) = signed_in();
    let mut ports = Ports::default();
    ports
        .workspaces
        .expect_list_user_workspaces()
        .times(1)
        .returning(|_, _, _, _| Err(timeout()));
    ports.users.expect_erase_user().never();

    let error = ports.account().erase(&ctx).await.expect_err("failed");

    assert_eq!(error, timeout());
}

#[tokio::test]
async fn a_listing_that_repeats_its_page_token_is_an_internal_error() {
    let (ctx, _) = signed_in();
    let mut ports = Ports::default();
    let calls = Arc::new(Mutex::new(0));
    let counted = calls.clone();
    ports
        .workspaces
        .expect_list_user_workspaces()
        .times(2)
        .returning(move |_, _, _, _| {
            *counted.lock().expect("not poisoned") += 1;
            Ok(WorkspacePage {
                workspaces: Vec::new(),
                next_page_token: "again".to_owned(),
            })
        });
    ports.users.expect_erase_user().never();

    let error = ports.account().erase(&ctx).await.expect_err("internal");

    assert_eq!(error.kind, ErrorKind::Internal);
    assert_eq!(*calls.lock().expect("not poisoned"), 2);
}

#[tokio::test]
async fn erase_needs_a_signed_in_user() {
    let mut ports = Ports::default();
    ports.workspaces.expect_list_user_workspaces().never();
    ports.users.expect_erase_user().never();

    let error = ports
        .account()
        .erase(&Ctx::anonymous())
        .await
        .expect_err("anonymous");

    assert_sign_in_required(&error);
}
