//! Every command and query on its happy path, with what it answers and what it keeps.

use std::collections::BTreeSet;

use chrono::Duration;
use kernel_domain::Clock;
use saas_proto::workspace::v1 as pb;
use saas_tests::as_actor;

use super::{
    SEATS, accept_request, at, basic, create, create_owned, create_request, fresh_email,
    fresh_token, get, invite, join, members_and_pending, rename_request, request_id, role_of,
    start, state_of, user, version,
};

#[tokio::test]
async fn creating_a_workspace_makes_the_actor_its_only_owner() {
    let (services, mut client) = start().await;
    let owner = user();
    let created = client
        .create_workspace(as_actor(
            owner,
            create_request("  Acme-Corp ", "  Acme Corporation ", 5),
        ))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(
        created.slug, "acme-corp",
        "slugs are trimmed and lower-cased"
    );
    assert_eq!(created.name, "Acme Corporation", "names are trimmed");
    assert!(uuid::Uuid::try_parse(&created.id).is_ok());
    assert_eq!(created.members.len(), 1);
    assert_eq!(created.members[0].user_id, owner.to_string());
    assert_eq!(role_of(&created, owner), Some(pb::Role::Owner));
    assert_eq!(at(&created.members[0].join_time), services.clock.now());
    assert!(created.invitations.is_empty());
    assert_eq!((created.seat_limit, created.seats_in_use), (5, 1));
    assert!(!created.archived);
    assert_eq!(version(&created.etag), 1);
    assert_eq!(at(&created.create_time), services.clock.now());
    assert_eq!(created.update_time, created.create_time);

    assert_eq!(get(&mut client, &created.id).await, created);
}

#[tokio::test]
async fn lookup_finds_a_workspace_by_its_slug_in_any_case() {
    let (_services, mut client) = start().await;
    let (_, workspace) = create(&mut client).await;
    let (_, other) = create(&mut client).await;
    for slug in [
        workspace.slug.clone(),
        workspace.slug.to_uppercase(),
        format!(" {} ", workspace.slug),
    ] {
        let found = client
            .lookup_workspace(pb::LookupWorkspaceRequest {
                slug,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(found, workspace);
    }
    let found = client
        .lookup_workspace(pb::LookupWorkspaceRequest {
            slug: other.slug.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found.id, other.id);
}

#[tokio::test]
async fn renaming_changes_the_name_and_moves_the_etag_on() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    services.clock.advance(Duration::minutes(5));
    let renamed = client
        .rename_workspace(as_actor(
            owner,
            rename_request(&workspace.id, &workspace.etag, " Acme Two "),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.name, "Acme Two");
    assert_eq!(version(&renamed.etag), version(&workspace.etag) + 1);
    assert_eq!(at(&renamed.update_time), services.clock.now());
    assert_eq!(renamed.create_time, workspace.create_time);

    // An Admin may rename too, unconditionally.
    let (admin, joined) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    let renamed = client
        .rename_workspace(as_actor(
            admin,
            rename_request(&workspace.id, "", "By Admin"),
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(renamed.name, "By Admin");
    assert_eq!(version(&renamed.etag), version(&joined.etag) + 1);
    assert_eq!(basic(get(&mut client, &workspace.id).await), renamed);
}

#[tokio::test]
async fn inviting_answers_with_the_invitation_which_holds_a_seat() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let response = client
        .invite_member(as_actor(
            owner,
            pb::InviteMemberRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: workspace.etag.clone(),
                email: " Grace.Hopper@Example.COM ".into(),
                role: pb::Role::Admin as i32,
                token: fresh_token(),
                invitee_user_id: user().to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    let invitation = response
        .invitation
        .expect("the response carries the invitation");
    let after = response
        .workspace
        .expect("the response carries the workspace");

    assert!(uuid::Uuid::try_parse(&invitation.id).is_ok());
    assert_eq!(invitation.email, "grace.hopper@example.com");
    assert_eq!(invitation.role, pb::Role::Admin as i32);
    assert_eq!(invitation.inviter_id, owner.to_string());
    assert_eq!(invitation.state, pb::InvitationState::Pending as i32);
    assert_eq!(
        at(&invitation.expire_time),
        services.clock.now() + Duration::days(7)
    );
    assert!(
        after.invitations.is_empty(),
        "a command answers the basic view"
    );
    assert_eq!(
        get(&mut client, &workspace.id).await.invitations,
        vec![invitation]
    );
    assert_eq!((after.seat_limit, after.seats_in_use), (SEATS, 2));
    assert_eq!(after.members.len(), 1, "an invitee is no member yet");
    assert_eq!(version(&after.etag), version(&workspace.etag) + 1);
    assert_eq!(basic(get(&mut client, &workspace.id).await), after);
}

#[tokio::test]
async fn an_admin_invites_members() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (admin, _) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    let (invitation, after) = invite(
        &mut client,
        admin,
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    )
    .await;
    assert_eq!(invitation.inviter_id, admin.to_string());
    assert_eq!(after.seats_in_use, 3);
}

#[tokio::test]
async fn accepting_an_invitation_makes_the_invitee_a_member_with_its_role() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (email, token) = (fresh_email(), fresh_token());
    let (invitation, invited) = invite(
        &mut client,
        owner,
        &workspace.id,
        &email,
        pb::Role::Admin,
        &token,
    )
    .await;
    services.clock.advance(Duration::days(6));

    let invitee = user();
    let joined = client
        .accept_invitation(as_actor(
            invitee,
            // The email as Identity knows it may differ in case.
            accept_request(&workspace.id, &invitation.id, &token, &email.to_uppercase()),
        ))
        .await
        .unwrap()
        .into_inner();

    assert_eq!(role_of(&joined, invitee), Some(pb::Role::Admin));
    let member = joined
        .members
        .iter()
        .find(|m| m.user_id == invitee.to_string())
        .unwrap();
    assert_eq!(at(&member.join_time), services.clock.now());
    assert_eq!(
        state_of(&get(&mut client, &joined.id).await, &invitation.id),
        pb::InvitationState::Accepted
    );
    assert_eq!(
        joined.seats_in_use, invited.seats_in_use,
        "the invitation's seat became the member's"
    );
    assert_eq!(
        members_and_pending(&get(&mut client, &workspace.id).await),
        (2, 0)
    );
    assert_eq!(version(&joined.etag), version(&invited.etag) + 1);
    assert_eq!(basic(get(&mut client, &workspace.id).await), joined);
}

#[tokio::test]
async fn revoking_an_invitation_frees_its_seat() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (invitation, invited) = invite(
        &mut client,
        owner,
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    )
    .await;
    assert_eq!(invited.seats_in_use, 2);
    let revoked = client
        .revoke_invitation(as_actor(
            owner,
            pb::RevokeInvitationRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: invited.etag.clone(),
                invitation_id: invitation.id.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        state_of(&get(&mut client, &revoked.id).await, &invitation.id),
        pb::InvitationState::Revoked
    );
    assert_eq!(revoked.seats_in_use, 1);
    assert_eq!(version(&revoked.etag), version(&invited.etag) + 1);
    assert_eq!(basic(get(&mut client, &workspace.id).await), revoked);
}

#[tokio::test]
async fn expire_invitations_marks_due_invitations_expired_and_frees_their_seats() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (invitation, invited) = invite(
        &mut client,
        owner,
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    )
    .await;

    // Nothing due yet: nothing changes, not even the etag.
    let early = client
        .expire_invitations(pb::ExpireInvitationsRequest {
            id: workspace.id.clone(),
            request_id: request_id(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(early, invited);

    services.clock.advance(Duration::days(7));
    // A system command: no acting user.
    let expired = client
        .expire_invitations(pb::ExpireInvitationsRequest {
            id: workspace.id.clone(),
            request_id: request_id(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        state_of(&get(&mut client, &expired.id).await, &invitation.id),
        pb::InvitationState::Expired
    );
    assert_eq!(expired.seats_in_use, 1);
    assert_eq!(version(&expired.etag), version(&invited.etag) + 1);
    assert_eq!(at(&expired.update_time), services.clock.now());
    assert_eq!(basic(get(&mut client, &workspace.id).await), expired);
}

#[tokio::test]
async fn changing_roles_promotes_and_demotes_members() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (member, joined) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;

    let change = |actor, user: uuid::Uuid, role: pb::Role, etag: &str| {
        as_actor(
            actor,
            pb::ChangeMemberRoleRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: etag.into(),
                user_id: user.to_string(),
                role: role as i32,
            },
        )
    };
    let promoted = client
        .change_member_role(change(owner, member, pb::Role::Owner, &joined.etag))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(role_of(&promoted, member), Some(pb::Role::Owner));
    assert_eq!(version(&promoted.etag), version(&joined.etag) + 1);

    // With two Owners, the first may step down to Admin, then to Member.
    let demoted = client
        .change_member_role(change(owner, owner, pb::Role::Admin, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(role_of(&demoted, owner), Some(pb::Role::Admin));
    let demoted = client
        .change_member_role(change(member, owner, pb::Role::Member, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(role_of(&demoted, owner), Some(pb::Role::Member));
    assert_eq!(role_of(&demoted, member), Some(pb::Role::Owner));
    assert_eq!(demoted.seats_in_use, 2);
    assert_eq!(basic(get(&mut client, &workspace.id).await), demoted);
}

#[tokio::test]
async fn removing_a_member_takes_them_out_and_frees_their_seat() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (admin, _) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    let (member, joined) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    assert_eq!(joined.seats_in_use, 3);

    // An Admin removes a Member.
    let removed = client
        .remove_member(as_actor(
            admin,
            pb::RemoveMemberRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: joined.etag.clone(),
                user_id: member.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(role_of(&removed, member), None);
    assert_eq!(removed.seats_in_use, 2);
    assert_eq!(version(&removed.etag), version(&joined.etag) + 1);

    // An Owner removes an Admin.
    let removed = client
        .remove_member(as_actor(
            owner,
            pb::RemoveMemberRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: String::new(),
                user_id: admin.to_string(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(role_of(&removed, admin), None);
    assert_eq!(
        members_and_pending(&get(&mut client, &workspace.id).await),
        (1, 0)
    );
    assert_eq!(basic(get(&mut client, &workspace.id).await), removed);
}

#[tokio::test]
async fn leaving_takes_the_actor_out() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (member, joined) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    let left = client
        .leave_workspace(as_actor(
            member,
            pb::LeaveWorkspaceRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: joined.etag.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(role_of(&left, member), None);
    assert_eq!(role_of(&left, owner), Some(pb::Role::Owner));
    assert_eq!(left.seats_in_use, 1);
    assert_eq!(version(&left.etag), version(&joined.etag) + 1);
    assert_eq!(basic(get(&mut client, &workspace.id).await), left);
}

#[tokio::test]
async fn an_owner_leaves_when_another_owner_remains() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (second, _) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    client
        .change_member_role(as_actor(
            owner,
            pb::ChangeMemberRoleRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: String::new(),
                user_id: second.to_string(),
                role: pb::Role::Owner as i32,
            },
        ))
        .await
        .unwrap();
    let left = client
        .leave_workspace(as_actor(
            owner,
            pb::LeaveWorkspaceRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(role_of(&left, owner), None);
    assert_eq!(role_of(&left, second), Some(pb::Role::Owner));
}

#[tokio::test]
async fn the_seat_limit_follows_the_subscription_up_and_down() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (_, invited) = invite(
        &mut client,
        owner,
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    )
    .await;
    let set = |limit: i32, etag: &str| pb::SetSeatLimitRequest {
        id: workspace.id.clone(),
        request_id: request_id(),
        etag: etag.into(),
        seat_limit: limit,
    };

    // A system command: no acting user.
    let raised = client
        .set_seat_limit(set(50, &invited.etag))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((raised.seat_limit, raised.seats_in_use), (50, 2));
    assert_eq!(version(&raised.etag), version(&invited.etag) + 1);

    // Down to exactly the seats in use.
    let lowered = client
        .set_seat_limit(set(2, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((lowered.seat_limit, lowered.seats_in_use), (2, 2));
    assert_eq!(version(&lowered.etag), version(&raised.etag) + 1);

    // The same limit again changes nothing.
    let same = client
        .set_seat_limit(set(2, &lowered.etag))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(same, lowered);
    assert_eq!(basic(get(&mut client, &workspace.id).await), lowered);
}

#[tokio::test]
async fn removing_an_erased_user_takes_their_membership_away() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (member, joined) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    let remove = |user: uuid::Uuid| pb::RemoveErasedUserRequest {
        id: workspace.id.clone(),
        request_id: request_id(),
        user_id: user.to_string(),
    };
    let removed = client
        .remove_erased_user(remove(member))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(role_of(&removed, member), None);
    assert_eq!(removed.seats_in_use, 1);
    assert!(!removed.archived);
    assert_eq!(version(&removed.etag), version(&joined.etag) + 1);

    // Someone who is not (or no longer) a member: nothing happens.
    for nobody in [member, user()] {
        let unchanged = client
            .remove_erased_user(remove(nobody))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(unchanged, removed);
    }
}

#[tokio::test]
async fn erasing_the_last_owner_archives_the_workspace_and_keeps_a_tombstone() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (member, joined) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    let remove = || pb::RemoveErasedUserRequest {
        id: workspace.id.clone(),
        request_id: request_id(),
        user_id: owner.to_string(),
    };
    let archived = client
        .remove_erased_user(remove())
        .await
        .unwrap()
        .into_inner();
    assert!(archived.archived, "a workspace whose last Owner was erased");
    assert_eq!(
        role_of(&archived, owner),
        Some(pb::Role::Owner),
        "the last Owner stays as a tombstone: there is always an Owner"
    );
    assert_eq!(role_of(&archived, member), Some(pb::Role::Member));
    assert_eq!(version(&archived.etag), version(&joined.etag) + 1);

    // Again: already a tombstone in an archived workspace, nothing happens.
    let again = client
        .remove_erased_user(remove())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, archived);
}

#[tokio::test]
async fn an_owner_archives_and_unarchives() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let archived = client
        .archive_workspace(as_actor(
            owner,
            pb::ArchiveWorkspaceRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: workspace.etag.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(archived.archived);
    assert_eq!(version(&archived.etag), 2);
    assert_eq!(get(&mut client, &workspace.id).await, archived);

    let unarchived = client
        .unarchive_workspace(as_actor(
            owner,
            pb::UnarchiveWorkspaceRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: archived.etag.clone(),
            },
        ))
        .await
        .unwrap()
        .into_inner();
    assert!(!unarchived.archived);
    assert_eq!(version(&unarchived.etag), 3);
    assert_eq!(unarchived.name, workspace.name);
    assert_eq!(unarchived.members, workspace.members);
    assert_eq!(get(&mut client, &workspace.id).await, unarchived);
}

#[tokio::test]
async fn deleting_a_pristine_workspace_removes_it() {
    let (_services, mut client) = start().await;
    let owner = user();
    let workspace = create_owned(&mut client, owner, 1).await;
    // Renaming, following the seats and archiving do not spoil a workspace: only other
    // members or invitations do.
    client
        .rename_workspace(as_actor(
            owner,
            rename_request(&workspace.id, "", "Renamed"),
        ))
        .await
        .unwrap();
    client
        .set_seat_limit(pb::SetSeatLimitRequest {
            id: workspace.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            seat_limit: 5,
        })
        .await
        .unwrap();
    client
        .archive_workspace(as_actor(
            owner,
            pb::ArchiveWorkspaceRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    client
        .unarchive_workspace(as_actor(
            owner,
            pb::UnarchiveWorkspaceRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: String::new(),
            },
        ))
        .await
        .unwrap();
    let workspace = get(&mut client, &workspace.id).await;
    assert_eq!(version(&workspace.etag), 5);
    client
        .delete_workspace(as_actor(
            owner,
            pb::DeleteWorkspaceRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: workspace.etag.clone(),
            },
        ))
        .await
        .expect("delete a pristine workspace");
    super::rejected(
        client
            .get_workspace(pb::GetWorkspaceRequest {
                id: workspace.id.clone(),
                ..Default::default()
            })
            .await,
        tonic::Code::NotFound,
        "WORKSPACE_NOT_FOUND",
    );
    super::rejected(
        client
            .lookup_workspace(pb::LookupWorkspaceRequest {
                slug: workspace.slug.clone(),
                ..Default::default()
            })
            .await,
        tonic::Code::NotFound,
        "WORKSPACE_NOT_FOUND",
    );
    assert!(super::workspaces_of(&mut client, owner).await.is_empty());
}

#[tokio::test]
async fn listing_a_users_workspaces_pages_through_all_of_them_by_keyset() {
    let (_services, mut client) = start().await;
    let member = user();
    let mut expected = Vec::new();
    for _ in 0..5 {
        expected.push(create_owned(&mut client, member, SEATS).await.id);
    }
    // Two more they joined, and two they have nothing to do with.
    for _ in 0..2 {
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
                member,
                accept_request(&workspace.id, &invitation.id, &token, &email),
            ))
            .await
            .unwrap();
        expected.push(workspace.id);
        create(&mut client).await;
    }
    expected.sort();

    let page = |token: &str| pb::ListUserWorkspacesRequest {
        user_id: member.to_string(),
        page_size: 3,
        page_token: token.into(),
    };
    let first = client
        .list_user_workspaces(page(""))
        .await
        .unwrap()
        .into_inner();
    let second = client
        .list_user_workspaces(page(&first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    // Keyset: a workspace made while paging comes after everything already listed.
    let late = create_owned(&mut client, member, SEATS).await;
    expected.push(late.id.clone());
    let third = client
        .list_user_workspaces(page(&second.next_page_token))
        .await
        .unwrap()
        .into_inner();

    let sizes = [
        first.workspaces.len(),
        second.workspaces.len(),
        third.workspaces.len(),
    ];
    assert_eq!(sizes, [3, 3, 2]);
    assert!(!first.next_page_token.is_empty());
    assert!(!second.next_page_token.is_empty());
    assert!(
        third.next_page_token.is_empty(),
        "the last page has no next"
    );
    let listed: Vec<String> = [first.clone(), second.clone(), third]
        .into_iter()
        .flat_map(|page| page.workspaces)
        .map(|w| w.id)
        .collect();
    assert_eq!(listed, expected, "every workspace once, in id order");

    // Pages are stable: the same token gives the same page.
    let again = client
        .list_user_workspaces(page(&first.next_page_token))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again.workspaces, second.workspaces);
    // The listed workspaces are the full resources.
    assert_eq!(first.workspaces[0], get(&mut client, &expected[0]).await);

    // page_size 0 means the default (50): everything on one page.
    let all = client
        .list_user_workspaces(pb::ListUserWorkspacesRequest {
            user_id: member.to_string(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        all.workspaces
            .iter()
            .map(|w| w.id.clone())
            .collect::<Vec<_>>(),
        expected
    );
    assert!(all.next_page_token.is_empty());

    // A page size that divides the count exactly: the last full page says there is no next.
    let mut seen = BTreeSet::new();
    let mut token = String::new();
    let mut pages = 0;
    loop {
        let page = client
            .list_user_workspaces(pb::ListUserWorkspacesRequest {
                user_id: member.to_string(),
                page_size: 4,
                page_token: token.clone(),
            })
            .await
            .unwrap()
            .into_inner();
        pages += 1;
        assert_eq!(page.workspaces.len(), 4);
        seen.extend(page.workspaces.into_iter().map(|w| w.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!((pages, seen.len()), (2, 8));
}

#[tokio::test]
async fn a_user_with_no_workspaces_gets_an_empty_list() {
    let (_services, mut client) = start().await;
    create(&mut client).await;
    let empty = client
        .list_user_workspaces(pb::ListUserWorkspacesRequest {
            user_id: user().to_string(),
            page_size: 10,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(empty, pb::ListUserWorkspacesResponse::default());
}

#[tokio::test]
async fn slugs_names_and_seat_limits_at_their_bounds_are_accepted() {
    let (_services, mut client) = start().await;
    let owner = user();
    let longest_slug = format!("a{}", "0".repeat(39));
    let longest_name = "\u{fc}".repeat(100);
    for (slug, name) in [
        ("abc", "x"),
        (longest_slug.as_str(), longest_name.as_str()),
        ("a-b", "A name with spaces"),
    ] {
        let created = client
            .create_workspace(as_actor(owner, create_request(slug, name, 1)))
            .await
            .unwrap_or_else(|s| panic!("{slug:?} / {name:?}: {s:?}"))
            .into_inner();
        assert_eq!((created.slug.as_str(), created.name.as_str()), (slug, name));
        assert_eq!(created.seat_limit, 1);
    }
    let (_, workspace) = create(&mut client).await;
    let most = client
        .set_seat_limit(pb::SetSeatLimitRequest {
            id: workspace.id.clone(),
            request_id: request_id(),
            etag: String::new(),
            seat_limit: i32::MAX,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(most.seat_limit, i32::MAX);
    let all = client
        .list_user_workspaces(pb::ListUserWorkspacesRequest {
            user_id: owner.to_string(),
            page_size: i32::MAX,
            page_token: String::new(),
        })
        .await
        .expect("a huge page size is capped, not refused")
        .into_inner();
    assert_eq!(all.workspaces.len(), 3);
    assert!(all.next_page_token.is_empty());
}

#[tokio::test]
async fn reads_show_the_invitations_unless_asked_for_the_basic_view_and_commands_never() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (invitation, invited) = invite(
        &mut client,
        owner,
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    )
    .await;
    assert!(
        invited.invitations.is_empty(),
        "a command answers the basic view"
    );
    assert_eq!(
        invited.seats_in_use, 2,
        "the pending invitation holds its seat"
    );

    let read = |view: pb::WorkspaceView| pb::GetWorkspaceRequest {
        id: workspace.id.clone(),
        view: view.into(),
    };
    let full = client
        .get_workspace(read(pb::WorkspaceView::Full))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(full.invitations, vec![invitation]);
    let unset = client
        .get_workspace(read(pb::WorkspaceView::Unspecified))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(unset, full, "unset is the full view");
    let basic_read = client
        .get_workspace(read(pb::WorkspaceView::Basic))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(basic_read, invited);
    assert_eq!(basic_read, basic(full.clone()));

    let looked_up = |view: pb::WorkspaceView| pb::LookupWorkspaceRequest {
        slug: workspace.slug.clone(),
        view: view.into(),
    };
    let by_slug = client
        .lookup_workspace(looked_up(pb::WorkspaceView::Unspecified))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_slug, full);
    let by_slug = client
        .lookup_workspace(looked_up(pb::WorkspaceView::Basic))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(by_slug, invited);

    let listed = client
        .list_user_workspaces(pb::ListUserWorkspacesRequest {
            user_id: owner.to_string(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        listed.workspaces,
        vec![invited],
        "lists answer the basic view"
    );
}
