//! The tenant rule of `ListUserWorkspaces`: a user sees exactly the workspaces they belong
//! to, as memberships come and go.

use std::collections::BTreeSet;

use saas_proto::workspace::v1 as pb;
use saas_tests::{WorkspaceClient, as_actor};
use uuid::Uuid;

use super::{create, join, request_id, start, user, workspaces_of};

/// The set of workspaces listed for a user.
async fn listed(client: &mut WorkspaceClient, user: Uuid) -> BTreeSet<String> {
    let ids = workspaces_of(client, user).await;
    let set: BTreeSet<String> = ids.iter().cloned().collect();
    assert_eq!(set.len(), ids.len(), "a workspace listed twice: {ids:?}");
    set
}

fn set<const N: usize>(ids: [&str; N]) -> BTreeSet<String> {
    ids.into_iter().map(str::to_owned).collect()
}

#[tokio::test]
async fn a_user_lists_only_the_workspaces_they_belong_to() {
    let (_services, mut client) = start().await;
    let (ada, ada_ws) = create(&mut client).await;
    let (bob, bob_ws) = create(&mut client).await;
    let (other, other_ws) = create(&mut client).await;
    let (ada_ws, bob_ws) = (ada_ws.id, bob_ws.id);

    assert_eq!(listed(&mut client, ada).await, set([&ada_ws]));
    assert_eq!(listed(&mut client, bob).await, set([&bob_ws]));
    assert!(listed(&mut client, user()).await.is_empty(), "a stranger");

    // Joining adds the workspace to the joiner's list only.
    let (carol, _) = join(&mut client, &bob_ws, bob, pb::Role::Admin).await;
    let (dave, _) = join(&mut client, &bob_ws, bob, pb::Role::Member).await;
    join(&mut client, &other_ws.id, other, pb::Role::Member).await;
    assert_eq!(listed(&mut client, carol).await, set([&bob_ws]));
    assert_eq!(listed(&mut client, dave).await, set([&bob_ws]));
    assert_eq!(listed(&mut client, ada).await, set([&ada_ws]));

    // Ada joins Bob's workspace too.
    let (email, token) = (super::fresh_email(), super::fresh_token());
    let (invitation, _) =
        super::invite(&mut client, bob, &bob_ws, &email, pb::Role::Member, &token).await;
    client
        .accept_invitation(as_actor(
            ada,
            super::accept_request(&bob_ws, &invitation.id, &token, &email),
        ))
        .await
        .unwrap();
    assert_eq!(listed(&mut client, ada).await, set([&ada_ws, &bob_ws]));

    // Leaving takes it off the list.
    client
        .leave_workspace(as_actor(
            ada,
            pb::LeaveWorkspaceRequest {
                id: bob_ws.clone(),
                request_id: request_id(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    assert_eq!(listed(&mut client, ada).await, set([&ada_ws]));

    // So does being removed, by a member or by the system for an erased user.
    client
        .remove_member(as_actor(
            carol,
            pb::RemoveMemberRequest {
                id: bob_ws.clone(),
                request_id: request_id(),
                etag: String::new(),
                user_id: dave.to_string(),
            },
        ))
        .await
        .unwrap();
    assert!(listed(&mut client, dave).await.is_empty());
    client
        .remove_erased_user(pb::RemoveErasedUserRequest {
            id: bob_ws.clone(),
            request_id: request_id(),
            user_id: carol.to_string(),
        })
        .await
        .unwrap();
    assert!(listed(&mut client, carol).await.is_empty());

    // A role change keeps the workspace listed.
    let (erin, _) = join(&mut client, &bob_ws, bob, pb::Role::Member).await;
    client
        .change_member_role(as_actor(
            bob,
            pb::ChangeMemberRoleRequest {
                id: bob_ws.clone(),
                request_id: request_id(),
                etag: String::new(),
                user_id: erin.to_string(),
                role: pb::Role::Owner as i32,
            },
        ))
        .await
        .unwrap();
    assert_eq!(listed(&mut client, erin).await, set([&bob_ws]));
    assert_eq!(listed(&mut client, bob).await, set([&bob_ws]));
}

/// The Owner of a workspace made by [`create`] (its only member).
fn owner_of(workspace: &pb::Workspace) -> Uuid {
    Uuid::try_parse(&workspace.members[0].user_id).unwrap()
}

#[tokio::test]
async fn an_invitee_sees_a_workspace_only_after_accepting() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let invitee = user();
    let mut request = super::invite_request(
        &workspace.id,
        &super::fresh_email(),
        pb::Role::Member,
        &super::fresh_token(),
    );
    request.invitee_user_id = invitee.to_string();
    client
        .invite_member(as_actor(owner, request))
        .await
        .unwrap();
    assert!(
        listed(&mut client, invitee).await.is_empty(),
        "a pending invitation is no membership"
    );
}

#[tokio::test]
async fn a_deleted_workspace_is_listed_for_nobody() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (_, kept) = create(&mut client).await;
    client
        .delete_workspace(as_actor(
            owner,
            pb::DeleteWorkspaceRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    assert!(listed(&mut client, owner).await.is_empty());
    assert_eq!(listed(&mut client, owner_of(&kept)).await, set([&kept.id]));
}
