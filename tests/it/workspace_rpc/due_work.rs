//! Due work with the injected clock: invitations expire seven days after they were sent,
//! applied by the store's sweep (once, through the pipeline) and by every command before it
//! does anything else; the sweep survives a restart because the due dates are the data.

use chrono::Duration;
use saas_proto::workspace::v1 as pb;
use saas_tests::{DataServices, as_actor};

use crate::concurrency::{open_db, outbox_rows};

use super::{
    basic, create, create_owned, fresh_email, fresh_token, get, invite, invite_request,
    members_and_pending, start, state_of, user, version,
};

const EXPIRED: &str = "workspace.workspace.invitation_expired";

#[tokio::test]
async fn the_sweep_expires_invitations_older_than_seven_days_once() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (old, _) = invite(
        &mut client,
        owner,
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    )
    .await;
    services.clock.advance(Duration::days(3));
    let (young, sent) = invite(
        &mut client,
        owner,
        &workspace.id,
        &fresh_email(),
        pb::Role::Admin,
        &fresh_token(),
    )
    .await;
    assert_eq!(sent.seats_in_use, 3);

    // Just short of seven days: nothing is due.
    services
        .clock
        .advance(Duration::days(4) - Duration::seconds(1));
    assert_eq!(services.workspaces.sweep_once().await.unwrap(), 0);
    assert_eq!(basic(get(&mut client, &workspace.id).await), sent);

    // Seven days after the first invitation: it (only) expires, its seat is free.
    services.clock.advance(Duration::seconds(1));
    assert_eq!(services.workspaces.sweep_once().await.unwrap(), 1);
    let swept = get(&mut client, &workspace.id).await;
    assert_eq!(state_of(&swept, &old.id), pb::InvitationState::Expired);
    assert_eq!(state_of(&swept, &young.id), pb::InvitationState::Pending);
    assert_eq!(swept.seats_in_use, 2);
    assert_eq!(members_and_pending(&swept), (1, 1));
    assert_eq!(
        version(&swept.etag),
        version(&sent.etag) + 1,
        "the sweep is one accepted command"
    );

    // A second sweep finds nothing to do.
    assert_eq!(services.workspaces.sweep_once().await.unwrap(), 0);
    assert_eq!(get(&mut client, &workspace.id).await, swept);
    let db = open_db(&services.databases[1]).await;
    assert_eq!(outbox_rows(&db, &workspace.id, Some(EXPIRED)).await, 1);

    // The second invitation comes due three days later.
    services.clock.advance(Duration::days(3));
    assert_eq!(services.workspaces.sweep_once().await.unwrap(), 1);
    let swept_again = get(&mut client, &workspace.id).await;
    assert_eq!(
        state_of(&swept_again, &young.id),
        pb::InvitationState::Expired
    );
    assert_eq!(swept_again.seats_in_use, 1);
    assert_eq!(version(&swept_again.etag), version(&swept.etag) + 1);
    assert_eq!(outbox_rows(&db, &workspace.id, Some(EXPIRED)).await, 2);
    assert_eq!(services.workspaces.sweep_once().await.unwrap(), 0);
}

#[tokio::test]
async fn the_sweep_expires_the_invitations_of_every_workspace_that_has_some_due() {
    let (services, mut client) = start().await;
    let mut workspaces = Vec::new();
    for _ in 0..3 {
        let (owner, workspace) = create(&mut client).await;
        let (invitation, _) = invite(
            &mut client,
            owner,
            &workspace.id,
            &fresh_email(),
            pb::Role::Member,
            &fresh_token(),
        )
        .await;
        workspaces.push((workspace.id, invitation.id));
    }
    let (_, untouched) = create(&mut client).await;
    services.clock.advance(Duration::days(8));
    assert_eq!(services.workspaces.sweep_once().await.unwrap(), 3);
    for (workspace, invitation) in &workspaces {
        let after = get(&mut client, workspace).await;
        assert_eq!(state_of(&after, invitation), pb::InvitationState::Expired);
        assert_eq!(after.seats_in_use, 1);
    }
    assert_eq!(get(&mut client, &untouched.id).await, untouched);
}

#[tokio::test]
async fn the_sweep_expires_invitations_of_an_archived_workspace() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (invitation, _) = invite(
        &mut client,
        owner,
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    )
    .await;
    let archived = client
        .archive_workspace(as_actor(
            owner,
            pb::ArchiveWorkspaceRequest {
                id: workspace.id.clone(),
                request_id: super::request_id(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    services.clock.advance(Duration::days(8));
    assert_eq!(services.workspaces.sweep_once().await.unwrap(), 1);
    let swept = get(&mut client, &workspace.id).await;
    assert!(swept.archived);
    assert_eq!(
        state_of(&swept, &invitation.id),
        pb::InvitationState::Expired
    );
    assert_eq!(version(&swept.etag), version(&archived.etag) + 1);
}

#[tokio::test]
async fn every_command_expires_due_invitations_before_it_decides() {
    let (services, mut client) = start().await;
    let owner = user();
    // One seat for the Owner, one for an invitation.
    let workspace = create_owned(&mut client, owner, 2).await;
    let email = fresh_email();
    let (first, _) = invite(
        &mut client,
        owner,
        &workspace.id,
        &email,
        pb::Role::Member,
        &fresh_token(),
    )
    .await;
    services.clock.advance(Duration::days(7));

    // No sweep ran: the invite itself finds the old invitation expired, so the address has
    // no pending invitation and the seat is free.
    let response = client
        .invite_member(as_actor(
            owner,
            invite_request(&workspace.id, &email, pb::Role::Member, &fresh_token()),
        ))
        .await
        .expect("an expired invitation neither blocks its address nor holds a seat")
        .into_inner();
    let after = response.workspace.unwrap();
    assert_eq!(
        state_of(&get(&mut client, &after.id).await, &first.id),
        pb::InvitationState::Expired
    );
    let second = response.invitation.unwrap();
    assert_eq!(
        state_of(&get(&mut client, &after.id).await, &second.id),
        pb::InvitationState::Pending
    );
    assert_eq!((after.seat_limit, after.seats_in_use), (2, 2));
    assert_eq!(
        version(&after.etag),
        version(&workspace.etag) + 2,
        "one version per accepted command"
    );

    // And the sweep has nothing left to do for the first one.
    assert_eq!(services.workspaces.sweep_once().await.unwrap(), 0);
    assert_eq!(basic(get(&mut client, &workspace.id).await), after);
}

#[tokio::test]
async fn the_sweep_survives_a_restart() {
    let (first, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (invitation, sent) = invite(
        &mut client,
        owner,
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    )
    .await;
    let databases = first.databases.clone();
    drop(client);
    drop(first);

    // A new instance on the same databases, with its own clock, eight days on.
    let second = DataServices::spawn_on(databases).await;
    second.clock.advance(Duration::days(8));
    assert_eq!(second.workspaces.sweep_once().await.unwrap(), 1);
    let mut client = second.workspaces_client().await;
    let swept = get(&mut client, &workspace.id).await;
    assert_eq!(
        state_of(&swept, &invitation.id),
        pb::InvitationState::Expired
    );
    assert_eq!(swept.seats_in_use, 1);
    assert_eq!(version(&swept.etag), version(&sent.etag) + 1);
    assert_eq!(second.workspaces.sweep_once().await.unwrap(), 0);
}

#[tokio::test]
async fn an_invitation_past_its_time_does_not_hold_up_lowering_the_seat_limit() {
    let (services, mut client) = start().await;
    let owner = user();
    let workspace = create_owned(&mut client, owner, 2).await;
    let (invitation, _) = invite(
        &mut client,
        owner,
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    )
    .await;
    services.clock.advance(Duration::days(7));
    // No sweep ran; the seat limit command expires the invitation first.
    let lowered = client
        .set_seat_limit(pb::SetSeatLimitRequest {
            id: workspace.id.clone(),
            request_id: super::request_id(),
            etag: String::new(),
            seat_limit: 1,
        })
        .await
        .expect("the expired invitation's seat is free")
        .into_inner();
    assert_eq!((lowered.seat_limit, lowered.seats_in_use), (1, 1));
    assert_eq!(
        state_of(&get(&mut client, &lowered.id).await, &invitation.id),
        pb::InvitationState::Expired
    );
}
