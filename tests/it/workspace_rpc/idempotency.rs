//! Request ids (AIP-155): a repeat replays the stored original response without running the
//! command again; the same id with a different request, another method or another acting
//! user is `REQUEST_ID_REUSED`; a refused command leaves no trace.

use chrono::Duration;
use saas_proto::workspace::v1 as pb;
use saas_tests::as_actor;
use tonic::Code;

use crate::concurrency::{count, open_db, outbox_rows};

use super::{
    SEATS, accept_request, basic, create, create_owned, create_request, fresh_email, fresh_slug,
    fresh_token, get, invalid, invite, invite_request, join, rejected, rename_request, request_id,
    role_of, start, user, version,
};

#[tokio::test]
async fn replaying_a_rename_returns_the_original_response_even_after_later_changes() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let first = rename_request(&workspace.id, &workspace.etag, "First");
    let original = client
        .rename_workspace(as_actor(owner, first.clone()))
        .await
        .unwrap()
        .into_inner();
    services.clock.advance(Duration::minutes(1));
    let later = client
        .rename_workspace(as_actor(
            owner,
            rename_request(&workspace.id, &original.etag, "Later"),
        ))
        .await
        .unwrap()
        .into_inner();
    let db = open_db(&services.databases[1]).await;
    let events = outbox_rows(&db, &workspace.id, None).await;

    // The replay carries an etag that is stale by now: it still replays.
    let replayed = client
        .rename_workspace(as_actor(owner, first))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replayed, original);
    assert_eq!(get(&mut client, &workspace.id).await, later);
    assert_eq!(outbox_rows(&db, &workspace.id, None).await, events);
}

#[tokio::test]
async fn replaying_an_invitation_returns_the_same_invitation_and_sends_no_second() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let request = invite_request(
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    );
    let original = client
        .invite_member(as_actor(owner, request.clone()))
        .await
        .unwrap()
        .into_inner();
    services.clock.advance(Duration::minutes(1));
    let replayed = client
        .invite_member(as_actor(owner, request))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replayed, original);
    let after = get(&mut client, &workspace.id).await;
    assert_eq!(after.invitations.len(), 1);
    assert_eq!(Some(&basic(after)), original.workspace.as_ref());
}

#[tokio::test]
async fn replaying_a_create_returns_the_same_workspace_instead_of_slug_taken() {
    let (_services, mut client) = start().await;
    let owner = user();
    let request = create_request(&fresh_slug(), "Acme", SEATS);
    let original = client
        .create_workspace(as_actor(owner, request.clone()))
        .await
        .unwrap()
        .into_inner();
    let replayed = client
        .create_workspace(as_actor(owner, request))
        .await
        .expect("a replay, not SLUG_TAKEN")
        .into_inner();
    assert_eq!(replayed, original);
    assert_eq!(
        super::workspaces_of(&mut client, owner).await,
        [original.id]
    );
}

#[tokio::test]
async fn replaying_an_acceptance_returns_the_original_response() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (email, token) = (fresh_email(), fresh_token());
    let (invitation, _) = invite(
        &mut client,
        owner,
        &workspace.id,
        &email,
        pb::Role::Member,
        &token,
    )
    .await;
    let invitee = user();
    let request = accept_request(&workspace.id, &invitation.id, &token, &email);
    let original = client
        .accept_invitation(as_actor(invitee, request.clone()))
        .await
        .unwrap()
        .into_inner();
    let replayed = client
        .accept_invitation(as_actor(invitee, request))
        .await
        .expect("a replay, not INVITATION_NOT_PENDING")
        .into_inner();
    assert_eq!(replayed, original);
    assert_eq!(basic(get(&mut client, &workspace.id).await), original);
}

#[tokio::test]
async fn replaying_a_delete_answers_ok_after_the_workspace_is_gone() {
    let (_services, mut client) = start().await;
    let owner = user();
    let workspace = create_owned(&mut client, owner, 1).await;
    let request = pb::DeleteWorkspaceRequest {
        id: workspace.id.clone(),
        request_id: request_id(),
        etag: workspace.etag.clone(),
    };
    client
        .delete_workspace(as_actor(owner, request.clone()))
        .await
        .unwrap();
    client
        .delete_workspace(as_actor(owner, request))
        .await
        .expect("a replay, not WORKSPACE_NOT_FOUND");
    // A new request is judged afresh.
    rejected(
        client
            .delete_workspace(as_actor(
                owner,
                pb::DeleteWorkspaceRequest {
                    id: workspace.id.clone(),
                    request_id: request_id(),
                    etag: String::new(),
                },
            ))
            .await,
        Code::NotFound,
        "WORKSPACE_NOT_FOUND",
    );
}

#[tokio::test]
async fn replaying_a_system_command_returns_the_original_response() {
    let (_services, mut client) = start().await;
    let (_, workspace) = create(&mut client).await;
    let request = pb::SetSeatLimitRequest {
        id: workspace.id.clone(),
        request_id: request_id(),
        etag: workspace.etag.clone(),
        seat_limit: 20,
    };
    let original = client
        .set_seat_limit(request.clone())
        .await
        .unwrap()
        .into_inner();
    client
        .set_seat_limit(pb::SetSeatLimitRequest {
            id: workspace.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            seat_limit: 30,
        })
        .await
        .unwrap();
    let replayed = client.set_seat_limit(request).await.unwrap().into_inner();
    assert_eq!(replayed, original);
    assert_eq!(get(&mut client, &workspace.id).await.seat_limit, 30);
}

#[tokio::test]
async fn a_request_id_reused_for_another_request_is_refused() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let first = rename_request(&workspace.id, &workspace.etag, "First");
    let renamed = client
        .rename_workspace(as_actor(owner, first.clone()))
        .await
        .unwrap()
        .into_inner();

    let other_name = pb::RenameWorkspaceRequest {
        name: "Second".into(),
        ..first.clone()
    };
    let other_etag = pb::RenameWorkspaceRequest {
        etag: String::new(),
        ..first.clone()
    };
    for other in [other_name, other_etag] {
        invalid(
            client.rename_workspace(as_actor(owner, other)).await,
            "REQUEST_ID_REUSED",
            &["request_id"],
        );
    }
    // Another method under the same id.
    invalid(
        client
            .archive_workspace(as_actor(
                owner,
                pb::ArchiveWorkspaceRequest {
                    id: workspace.id.clone(),
                    request_id: first.request_id.clone(),
                    etag: String::new(),
                },
            ))
            .await,
        "REQUEST_ID_REUSED",
        &["request_id"],
    );
    assert_eq!(get(&mut client, &workspace.id).await, renamed);
}

#[tokio::test]
async fn the_same_request_id_from_another_actor_is_refused_not_replayed() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (first, _) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    let (second, joined) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;

    // The body of a leave names no user: only the actor tells whose leave it is.
    let leave = pb::LeaveWorkspaceRequest {
        id: workspace.id.clone(),
        request_id: request_id(),
        etag: String::new(),
    };
    let left = client
        .leave_workspace(as_actor(first, leave.clone()))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(role_of(&left, first), None);
    assert_eq!(version(&left.etag), version(&joined.etag) + 1);

    invalid(
        client
            .leave_workspace(as_actor(second, leave.clone()))
            .await,
        "REQUEST_ID_REUSED",
        &["request_id"],
    );
    let after = get(&mut client, &workspace.id).await;
    assert_eq!(
        basic(after.clone()),
        left,
        "the second member's leave was not run"
    );
    assert_eq!(role_of(&after, second), Some(pb::Role::Member));

    // The same for a create: another user does not get someone else's workspace.
    let create = create_request(&fresh_slug(), "Mine", SEATS);
    let created = client
        .create_workspace(as_actor(first, create.clone()))
        .await
        .unwrap()
        .into_inner();
    invalid(
        client.create_workspace(as_actor(second, create)).await,
        "REQUEST_ID_REUSED",
        &["request_id"],
    );
    assert_eq!(
        super::workspaces_of(&mut client, second).await,
        std::slice::from_ref(&workspace.id)
    );
    assert_eq!(
        role_of(&get(&mut client, &created.id).await, first),
        Some(pb::Role::Owner)
    );
}

#[tokio::test]
async fn a_refused_request_leaves_no_trace_and_is_judged_afresh() {
    let (services, mut client) = start().await;
    let owner = user();
    let workspace = create_owned(&mut client, owner, 1).await;
    let request = invite_request(
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    );
    rejected(
        client.invite_member(as_actor(owner, request.clone())).await,
        Code::FailedPrecondition,
        "SEAT_LIMIT_REACHED",
    );
    let db = open_db(&services.databases[1]).await;
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM idempotency WHERE request_id = $1",
            vec![request.request_id.clone().into()],
        )
        .await,
        0
    );
    client
        .set_seat_limit(pb::SetSeatLimitRequest {
            id: workspace.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            seat_limit: 2,
        })
        .await
        .unwrap();
    let response = client
        .invite_member(as_actor(owner, request))
        .await
        .expect("the same request, now that a seat is free")
        .into_inner();
    assert!(response.invitation.is_some());
}

#[tokio::test]
async fn invitation_tokens_are_kept_only_as_hashes() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (email, token) = (fresh_email(), fresh_token());
    let (invitation, _) = invite(
        &mut client,
        owner,
        &workspace.id,
        &email,
        pb::Role::Member,
        &token,
    )
    .await;
    client
        .accept_invitation(as_actor(
            user(),
            accept_request(&workspace.id, &invitation.id, &token, &email),
        ))
        .await
        .unwrap();
    let db = open_db(&services.databases[1]).await;
    let like = format!("%{token}%");
    for (table, column) in [
        ("workspaces", "doc"),
        ("workspaces_parts", "doc"),
        ("idempotency", "fingerprint"),
    ] {
        assert_eq!(
            count(
                &db,
                &format!("SELECT COUNT(*) FROM {table} WHERE {column} LIKE $1"),
                vec![like.clone().into()],
            )
            .await,
            0,
            "the token appears in {table}.{column}"
        );
    }
    for (sql, what) in [
        ("SELECT response FROM idempotency", "a stored response"),
        ("SELECT envelope FROM outbox", "an outbox event"),
    ] {
        let rows = sea_orm::ConnectionTrait::query_all_raw(
            &db,
            sea_orm::Statement::from_string(
                sea_orm::ConnectionTrait::get_database_backend(&db),
                sql,
            ),
        )
        .await
        .unwrap();
        for row in rows {
            let bytes: Vec<u8> = row.try_get_by_index(0).unwrap();
            // A stored response may be a zstd frame: search what it holds.
            let bytes = platform::store::responses::unpack(&bytes);
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "{what} holds the token"
            );
        }
    }
}
