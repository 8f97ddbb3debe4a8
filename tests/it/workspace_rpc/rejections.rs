//! Every refusal with its gRPC code and `ErrorInfo` reason (domain `workspace.saas`), and a
//! refused command changes nothing.

use chrono::Duration;
use saas_proto::workspace::v1 as pb;
use saas_tests::{WorkspaceClient, as_actor};
use tonic::Code;
use uuid::Uuid;

use super::{
    SEATS, accept_request, basic, create, create_owned, create_request, fresh_email, fresh_slug,
    fresh_token, get, invite, invite_request, join, rejected, rename_request, request_id, role_of,
    start, unknown_id, user, version,
};

fn change_role(workspace: &str, member: Uuid, role: pb::Role) -> pb::ChangeMemberRoleRequest {
    pb::ChangeMemberRoleRequest {
        id: workspace.into(),
        request_id: request_id(),
        etag: String::new(),
        user_id: member.to_string(),
        role: role as i32,
    }
}

fn remove(workspace: &str, member: Uuid) -> pb::RemoveMemberRequest {
    pb::RemoveMemberRequest {
        id: workspace.into(),
        request_id: request_id(),
        etag: String::new(),
        user_id: member.to_string(),
    }
}

fn leave(workspace: &str) -> pb::LeaveWorkspaceRequest {
    pb::LeaveWorkspaceRequest {
        id: workspace.into(),
        request_id: request_id(),
        etag: String::new(),
    }
}

fn seat_limit(workspace: &str, limit: i32) -> pb::SetSeatLimitRequest {
    pb::SetSeatLimitRequest {
        id: workspace.into(),
        request_id: request_id(),
        etag: String::new(),
        seat_limit: limit,
    }
}

fn delete(workspace: &pb::Workspace) -> pb::DeleteWorkspaceRequest {
    pb::DeleteWorkspaceRequest {
        id: workspace.id.clone(),
        request_id: request_id(),
        etag: String::new(),
    }
}

fn archive(workspace: &str) -> pb::ArchiveWorkspaceRequest {
    pb::ArchiveWorkspaceRequest {
        id: workspace.into(),
        request_id: request_id(),
        etag: String::new(),
    }
}

fn unarchive(workspace: &str) -> pb::UnarchiveWorkspaceRequest {
    pb::UnarchiveWorkspaceRequest {
        id: workspace.into(),
        request_id: request_id(),
        etag: String::new(),
    }
}

/// Checks that a refused command left the workspace as it was.
async fn unchanged(client: &mut WorkspaceClient, before: &pb::Workspace) {
    assert_eq!(
        basic(get(client, &before.id).await),
        basic(before.clone()),
        "a refused command changes nothing"
    );
}

#[tokio::test]
async fn a_taken_slug_is_refused_in_any_case() {
    let (_services, mut client) = start().await;
    let slug = fresh_slug();
    let first = client
        .create_workspace(as_actor(user(), create_request(&slug, "First", SEATS)))
        .await
        .unwrap()
        .into_inner();
    for taken in [slug.clone(), slug.to_uppercase(), format!("  {slug} ")] {
        let status = rejected(
            client
                .create_workspace(as_actor(user(), create_request(&taken, "Second", SEATS)))
                .await,
            Code::AlreadyExists,
            "SLUG_TAKEN",
        );
        assert_eq!(super::violated_fields(&status), ["slug"]);
    }
    let found = client
        .lookup_workspace(pb::LookupWorkspaceRequest {
            slug,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found, first, "the first workspace keeps its slug");
}

#[tokio::test]
async fn deleting_a_workspace_frees_its_slug() {
    let (_services, mut client) = start().await;
    let owner = user();
    let slug = fresh_slug();
    let first = client
        .create_workspace(as_actor(owner, create_request(&slug, "First", SEATS)))
        .await
        .unwrap()
        .into_inner();
    client
        .delete_workspace(as_actor(owner, delete(&first)))
        .await
        .unwrap();
    let second = client
        .create_workspace(as_actor(user(), create_request(&slug, "Second", SEATS)))
        .await
        .expect("the slug of a deleted workspace is free")
        .into_inner();
    assert_ne!(second.id, first.id);
    let found = client
        .lookup_workspace(pb::LookupWorkspaceRequest {
            slug,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(found, second);
}

#[tokio::test]
async fn reserved_slugs_are_refused() {
    let (_services, mut client) = start().await;
    for slug in ["admin", "API", " www ", "workspaces"] {
        let status = rejected(
            client
                .create_workspace(as_actor(user(), create_request(slug, "Mine", SEATS)))
                .await,
            Code::InvalidArgument,
            "SLUG_RESERVED",
        );
        assert_eq!(super::violated_fields(&status), ["slug"]);
    }
}

#[tokio::test]
async fn someone_who_is_not_a_member_may_do_nothing() {
    let (_services, mut client) = start().await;
    let (_owner, workspace) = create(&mut client).await;
    let stranger = user();
    let id = workspace.id.as_str();
    let code = Code::PermissionDenied;
    let reason = "NOT_A_MEMBER";
    rejected(
        client
            .rename_workspace(as_actor(stranger, rename_request(id, "", "Mine now")))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .invite_member(as_actor(
                stranger,
                invite_request(id, &fresh_email(), pb::Role::Member, &fresh_token()),
            ))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .change_member_role(as_actor(
                stranger,
                change_role(id, stranger, pb::Role::Owner),
            ))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .remove_member(as_actor(stranger, remove(id, user())))
            .await,
        code,
        reason,
    );
    rejected(
        client.leave_workspace(as_actor(stranger, leave(id))).await,
        code,
        reason,
    );
    rejected(
        client
            .archive_workspace(as_actor(stranger, archive(id)))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .delete_workspace(as_actor(stranger, delete(&workspace)))
            .await,
        code,
        reason,
    );
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn an_admin_may_not_grant_the_owner_role() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (admin, _) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    let (member, joined) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    for (who, role) in [
        (member, pb::Role::Owner),
        (member, pb::Role::Admin),
        (admin, pb::Role::Owner),
        (owner, pb::Role::Member),
    ] {
        rejected(
            client
                .change_member_role(as_actor(admin, change_role(&workspace.id, who, role)))
                .await,
            Code::PermissionDenied,
            "INSUFFICIENT_ROLE",
        );
    }
    unchanged(&mut client, &joined).await;
}

#[tokio::test]
async fn a_member_may_not_invite_and_an_admin_may_not_invite_admins() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (admin, _) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    let (member, joined) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    for (actor, role) in [
        (member, pb::Role::Member),
        (member, pb::Role::Admin),
        (admin, pb::Role::Admin),
    ] {
        rejected(
            client
                .invite_member(as_actor(
                    actor,
                    invite_request(&workspace.id, &fresh_email(), role, &fresh_token()),
                ))
                .await,
            Code::PermissionDenied,
            "INSUFFICIENT_ROLE",
        );
    }
    unchanged(&mut client, &joined).await;
}

#[tokio::test]
async fn members_and_admins_are_held_to_their_roles() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (admin, _) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    let (member, _) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    let (other, joined) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    let (code, reason) = (Code::PermissionDenied, "INSUFFICIENT_ROLE");
    let id = workspace.id.as_str();

    rejected(
        client
            .rename_workspace(as_actor(member, rename_request(id, "", "Mine")))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .remove_member(as_actor(member, remove(id, other)))
            .await,
        code,
        reason,
    );
    // An Admin removes Members only.
    for target in [owner, admin] {
        rejected(
            client
                .remove_member(as_actor(admin, remove(id, target)))
                .await,
            code,
            reason,
        );
    }
    for actor in [admin, member] {
        rejected(
            client.archive_workspace(as_actor(actor, archive(id))).await,
            code,
            reason,
        );
    }
    unchanged(&mut client, &joined).await;
}

#[tokio::test]
async fn nobody_is_invited_as_owner() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let status = rejected(
        client
            .invite_member(as_actor(
                owner,
                invite_request(
                    &workspace.id,
                    &fresh_email(),
                    pb::Role::Owner,
                    &fresh_token(),
                ),
            ))
            .await,
        Code::InvalidArgument,
        "INVALID_INVITATION_ROLE",
    );
    assert_eq!(super::violated_fields(&status), ["role"]);
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn the_last_owner_can_be_neither_removed_nor_demoted_nor_leave() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (admin, joined) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    let id = workspace.id.as_str();
    let (code, reason) = (Code::FailedPrecondition, "LAST_OWNER");

    rejected(
        client
            .remove_member(as_actor(owner, remove(id, owner)))
            .await,
        code,
        reason,
    );
    rejected(
        client.leave_workspace(as_actor(owner, leave(id))).await,
        code,
        reason,
    );
    for role in [pb::Role::Admin, pb::Role::Member] {
        rejected(
            client
                .change_member_role(as_actor(owner, change_role(id, owner, role)))
                .await,
            code,
            reason,
        );
    }
    unchanged(&mut client, &joined).await;
    assert_eq!(role_of(&joined, admin), Some(pb::Role::Admin));
}

#[tokio::test]
async fn a_full_workspace_refuses_another_invitation() {
    let (_services, mut client) = start().await;
    let owner = user();
    let workspace = create_owned(&mut client, owner, 3).await;
    join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    let (_, full) = invite(
        &mut client,
        owner,
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    )
    .await;
    assert_eq!((full.seat_limit, full.seats_in_use), (3, 3));
    rejected(
        client
            .invite_member(as_actor(
                owner,
                invite_request(
                    &workspace.id,
                    &fresh_email(),
                    pb::Role::Member,
                    &fresh_token(),
                ),
            ))
            .await,
        Code::FailedPrecondition,
        "SEAT_LIMIT_REACHED",
    );
    unchanged(&mut client, &full).await;
}

#[tokio::test]
async fn the_seat_limit_cannot_go_below_the_seats_in_use() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    let (_, invited) = invite(
        &mut client,
        owner,
        &workspace.id,
        &fresh_email(),
        pb::Role::Member,
        &fresh_token(),
    )
    .await;
    assert_eq!(invited.seats_in_use, 3);
    for limit in [2, 1] {
        rejected(
            client
                .set_seat_limit(seat_limit(&workspace.id, limit))
                .await,
            Code::FailedPrecondition,
            "SEAT_LIMIT_BELOW_SEATS_IN_USE",
        );
    }
    unchanged(&mut client, &invited).await;
}

/// An invitation to a fresh email; returns (email, token, invitation, workspace after).
async fn invited(
    client: &mut WorkspaceClient,
    owner: Uuid,
    workspace: &str,
) -> (String, String, pb::Invitation, pb::Workspace) {
    let (email, token) = (fresh_email(), fresh_token());
    let (invitation, after) =
        invite(client, owner, workspace, &email, pb::Role::Member, &token).await;
    (email, token, invitation, after)
}

#[tokio::test]
async fn an_invitation_is_accepted_only_by_the_invited_email() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (_email, token, invitation, after) = invited(&mut client, owner, &workspace.id).await;
    rejected(
        client
            .accept_invitation(as_actor(
                user(),
                accept_request(&workspace.id, &invitation.id, &token, &fresh_email()),
            ))
            .await,
        Code::PermissionDenied,
        "INVITATION_EMAIL_MISMATCH",
    );
    unchanged(&mut client, &after).await;
}

#[tokio::test]
async fn an_invitation_is_accepted_only_with_its_token() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (email, token, invitation, _) = invited(&mut client, owner, &workspace.id).await;
    // Another invitation's token does not open this one either.
    let (_, other_token, _, after) = invited(&mut client, owner, &workspace.id).await;
    for wrong in [fresh_token(), other_token, format!("{token}x")] {
        rejected(
            client
                .accept_invitation(as_actor(
                    user(),
                    accept_request(&workspace.id, &invitation.id, &wrong, &email),
                ))
                .await,
            Code::FailedPrecondition,
            "TOKEN_INVALID",
        );
    }
    unchanged(&mut client, &after).await;
}

#[tokio::test]
async fn an_invitation_older_than_seven_days_cannot_be_accepted() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (email, token, invitation, _) = invited(&mut client, owner, &workspace.id).await;
    services
        .clock
        .advance(Duration::days(7) + Duration::seconds(1));
    rejected(
        client
            .accept_invitation(as_actor(
                user(),
                accept_request(&workspace.id, &invitation.id, &token, &email),
            ))
            .await,
        Code::FailedPrecondition,
        "INVITATION_EXPIRED",
    );
    let after = get(&mut client, &workspace.id).await;
    assert_eq!(after.members.len(), 1, "nobody joined");
}

#[tokio::test]
async fn an_accepted_or_revoked_invitation_cannot_be_accepted_or_revoked_again() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (email, token, invitation, _) = invited(&mut client, owner, &workspace.id).await;
    client
        .accept_invitation(as_actor(
            user(),
            accept_request(&workspace.id, &invitation.id, &token, &email),
        ))
        .await
        .unwrap();
    let (email2, token2, revoked, _) = invited(&mut client, owner, &workspace.id).await;
    let revoke = |invitation: &str| pb::RevokeInvitationRequest {
        id: workspace.id.clone(),
        request_id: request_id(),
        etag: String::new(),
        invitation_id: invitation.into(),
    };
    client
        .revoke_invitation(as_actor(owner, revoke(&revoked.id)))
        .await
        .unwrap();
    let before = get(&mut client, &workspace.id).await;

    for (id, token, email) in [
        (&invitation.id, &token, &email),
        (&revoked.id, &token2, &email2),
    ] {
        rejected(
            client
                .accept_invitation(as_actor(
                    user(),
                    accept_request(&workspace.id, id, token, email),
                ))
                .await,
            Code::FailedPrecondition,
            "INVITATION_NOT_PENDING",
        );
        rejected(
            client.revoke_invitation(as_actor(owner, revoke(id))).await,
            Code::FailedPrecondition,
            "INVITATION_NOT_PENDING",
        );
    }
    rejected(
        client
            .revoke_invitation(as_actor(owner, revoke(&unknown_id())))
            .await,
        Code::NotFound,
        "INVITATION_NOT_FOUND",
    );
    rejected(
        client
            .accept_invitation(as_actor(
                user(),
                accept_request(&workspace.id, &unknown_id(), &token, &email),
            ))
            .await,
        Code::NotFound,
        "INVITATION_NOT_FOUND",
    );
    unchanged(&mut client, &before).await;
}

#[tokio::test]
async fn a_member_is_not_invited_or_admitted_again() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (member, _) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;

    // The caller names the user who holds the address (from Identity): already a member.
    for existing in [member, owner] {
        let mut request = invite_request(
            &workspace.id,
            &fresh_email(),
            pb::Role::Member,
            &fresh_token(),
        );
        request.invitee_user_id = existing.to_string();
        rejected(
            client.invite_member(as_actor(owner, request)).await,
            Code::AlreadyExists,
            "ALREADY_MEMBER",
        );
    }
    // A member who accepts another invitation sent to their address.
    let (email, token, invitation, after) = invited(&mut client, owner, &workspace.id).await;
    rejected(
        client
            .accept_invitation(as_actor(
                member,
                accept_request(&workspace.id, &invitation.id, &token, &email),
            ))
            .await,
        Code::AlreadyExists,
        "ALREADY_MEMBER",
    );
    unchanged(&mut client, &after).await;
}

#[tokio::test]
async fn an_email_has_at_most_one_pending_invitation() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (admin, _) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    let (email, _, _, after) = invited(&mut client, owner, &workspace.id).await;
    for (actor, again) in [
        (owner, email.clone()),
        (admin, email.to_uppercase()),
        (owner, format!(" {email} ")),
    ] {
        rejected(
            client
                .invite_member(as_actor(
                    actor,
                    invite_request(&workspace.id, &again, pb::Role::Member, &fresh_token()),
                ))
                .await,
            Code::AlreadyExists,
            "INVITATION_ALREADY_PENDING",
        );
    }
    unchanged(&mut client, &after).await;
}

#[tokio::test]
async fn an_archived_workspace_refuses_changes_by_members() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (admin, _) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    let (email, token, invitation, _) = invited(&mut client, owner, &workspace.id).await;
    client
        .archive_workspace(as_actor(owner, archive(&workspace.id)))
        .await
        .unwrap();
    let archived = get(&mut client, &workspace.id).await;
    assert!(archived.archived);
    let id = workspace.id.as_str();
    let (code, reason) = (Code::FailedPrecondition, "WORKSPACE_ARCHIVED");

    rejected(
        client
            .rename_workspace(as_actor(owner, rename_request(id, "", "Renamed")))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .invite_member(as_actor(
                owner,
                invite_request(id, &fresh_email(), pb::Role::Member, &fresh_token()),
            ))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .accept_invitation(as_actor(
                user(),
                accept_request(id, &invitation.id, &token, &email),
            ))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .revoke_invitation(as_actor(
                owner,
                pb::RevokeInvitationRequest {
                    id: id.into(),
                    request_id: request_id(),
                    etag: String::new(),
                    invitation_id: invitation.id.clone(),
                },
            ))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .change_member_role(as_actor(owner, change_role(id, admin, pb::Role::Member)))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .remove_member(as_actor(owner, remove(id, admin)))
            .await,
        code,
        reason,
    );
    rejected(
        client.leave_workspace(as_actor(admin, leave(id))).await,
        code,
        reason,
    );
    rejected(
        client.archive_workspace(as_actor(owner, archive(id))).await,
        code,
        reason,
    );
    rejected(
        client
            .delete_workspace(as_actor(owner, delete(&workspace)))
            .await,
        code,
        reason,
    );
    // Unarchiving is still an Owners' command.
    rejected(
        client
            .unarchive_workspace(as_actor(admin, unarchive(id)))
            .await,
        Code::PermissionDenied,
        "INSUFFICIENT_ROLE",
    );
    unchanged(&mut client, &archived).await;
}

#[tokio::test]
async fn the_system_still_applies_its_policies_to_an_archived_workspace() {
    let (services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (admin, _) = join(&mut client, &workspace.id, owner, pb::Role::Admin).await;
    let (_, _, invitation, _) = invited(&mut client, owner, &workspace.id).await;
    client
        .archive_workspace(as_actor(owner, archive(&workspace.id)))
        .await
        .unwrap();
    let archived = get(&mut client, &workspace.id).await;

    let limited = client
        .set_seat_limit(seat_limit(&workspace.id, 4))
        .await
        .expect("the seat limit follows the subscription while archived")
        .into_inner();
    assert_eq!(limited.seat_limit, 4);
    assert_eq!(version(&limited.etag), version(&archived.etag) + 1);

    services.clock.advance(Duration::days(8));
    let expired = client
        .expire_invitations(pb::ExpireInvitationsRequest {
            id: workspace.id.clone(),
            request_id: request_id(),
        })
        .await
        .expect("invitations expire while archived")
        .into_inner();
    assert_eq!(
        super::state_of(&super::get(&mut client, &expired.id).await, &invitation.id),
        pb::InvitationState::Expired
    );

    let removed = client
        .remove_erased_user(pb::RemoveErasedUserRequest {
            id: workspace.id.clone(),
            request_id: request_id(),
            user_id: admin.to_string(),
        })
        .await
        .expect("an erased user is removed while archived")
        .into_inner();
    assert_eq!(role_of(&removed, admin), None);
    assert!(removed.archived, "still archived");

    // And the Owner can still unarchive.
    let unarchived = client
        .unarchive_workspace(as_actor(owner, unarchive(&workspace.id)))
        .await
        .unwrap()
        .into_inner();
    assert!(!unarchived.archived);
}

#[tokio::test]
async fn unarchiving_a_workspace_that_is_not_archived_is_refused() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    rejected(
        client
            .unarchive_workspace(as_actor(owner, unarchive(&workspace.id)))
            .await,
        Code::FailedPrecondition,
        "WORKSPACE_NOT_ARCHIVED",
    );
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn only_a_pristine_workspace_can_be_deleted() {
    let (_services, mut client) = start().await;
    let (code, reason) = (Code::FailedPrecondition, "NOT_PRISTINE");

    // It sent an invitation, even one that was revoked.
    let (owner, workspace) = create(&mut client).await;
    let (_, _, invitation, _) = invited(&mut client, owner, &workspace.id).await;
    client
        .revoke_invitation(as_actor(
            owner,
            pb::RevokeInvitationRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                etag: String::new(),
                invitation_id: invitation.id.clone(),
            },
        ))
        .await
        .unwrap();
    let revoked = get(&mut client, &workspace.id).await;
    rejected(
        client
            .delete_workspace(as_actor(owner, delete(&workspace)))
            .await,
        code,
        reason,
    );
    unchanged(&mut client, &revoked).await;

    // Someone else was a member, even one who has left.
    let (owner, workspace) = create(&mut client).await;
    let (member, _) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    client
        .leave_workspace(as_actor(member, leave(&workspace.id)))
        .await
        .unwrap();
    let left = get(&mut client, &workspace.id).await;
    assert_eq!(left.members.len(), 1);
    rejected(
        client
            .delete_workspace(as_actor(owner, delete(&workspace)))
            .await,
        code,
        reason,
    );
    unchanged(&mut client, &left).await;
}

#[tokio::test]
async fn unknown_workspaces_are_not_found() {
    let (_services, mut client) = start().await;
    let (owner, _) = create(&mut client).await;
    let id = unknown_id();
    let (code, reason) = (Code::NotFound, "WORKSPACE_NOT_FOUND");
    rejected(
        client
            .get_workspace(pb::GetWorkspaceRequest {
                id: id.clone(),
                ..Default::default()
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .lookup_workspace(pb::LookupWorkspaceRequest {
                slug: fresh_slug(),
                ..Default::default()
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .rename_workspace(as_actor(owner, rename_request(&id, "", "Name")))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .invite_member(as_actor(
                owner,
                invite_request(&id, &fresh_email(), pb::Role::Member, &fresh_token()),
            ))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .accept_invitation(as_actor(
                owner,
                accept_request(&id, &unknown_id(), &fresh_token(), &fresh_email()),
            ))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .expire_invitations(pb::ExpireInvitationsRequest {
                id: id.clone(),
                request_id: request_id(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client.set_seat_limit(seat_limit(&id, 5)).await,
        code,
        reason,
    );
    rejected(
        client
            .remove_erased_user(pb::RemoveErasedUserRequest {
                id: id.clone(),
                request_id: request_id(),
                user_id: owner.to_string(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client.leave_workspace(as_actor(owner, leave(&id))).await,
        code,
        reason,
    );
    rejected(
        client
            .archive_workspace(as_actor(owner, archive(&id)))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .delete_workspace(as_actor(
                owner,
                pb::DeleteWorkspaceRequest {
                    id: id.clone(),
                    request_id: request_id(),
                    etag: String::new(),
                },
            ))
            .await,
        code,
        reason,
    );
}

#[tokio::test]
async fn unknown_members_are_not_found() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let stranger = user();
    rejected(
        client
            .change_member_role(as_actor(
                owner,
                change_role(&workspace.id, stranger, pb::Role::Admin),
            ))
            .await,
        Code::NotFound,
        "MEMBER_NOT_FOUND",
    );
    rejected(
        client
            .remove_member(as_actor(owner, remove(&workspace.id, stranger)))
            .await,
        Code::NotFound,
        "MEMBER_NOT_FOUND",
    );
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn changing_a_role_to_the_same_role_is_refused() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (member, joined) = join(&mut client, &workspace.id, owner, pb::Role::Member).await;
    rejected(
        client
            .change_member_role(as_actor(
                owner,
                change_role(&workspace.id, member, pb::Role::Member),
            ))
            .await,
        Code::FailedPrecondition,
        "ROLE_UNCHANGED",
    );
    unchanged(&mut client, &joined).await;
}

#[tokio::test]
async fn a_stale_etag_is_aborted_and_changes_nothing() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let renamed = client
        .rename_workspace(as_actor(
            owner,
            rename_request(&workspace.id, &workspace.etag, "First"),
        ))
        .await
        .unwrap()
        .into_inner();
    let stale = workspace.etag.as_str();
    let id = workspace.id.as_str();
    let (code, reason) = (Code::Aborted, "ETAG_MISMATCH");
    rejected(
        client
            .rename_workspace(as_actor(owner, rename_request(id, stale, "Second")))
            .await,
        code,
        reason,
    );
    let mut request = invite_request(id, &fresh_email(), pb::Role::Member, &fresh_token());
    request.etag = stale.into();
    rejected(
        client.invite_member(as_actor(owner, request)).await,
        code,
        reason,
    );
    let mut request = seat_limit(id, 20);
    request.etag = stale.into();
    rejected(client.set_seat_limit(request).await, code, reason);
    let mut request = archive(id);
    request.etag = stale.into();
    rejected(
        client.archive_workspace(as_actor(owner, request)).await,
        code,
        reason,
    );
    // An etag from the future is just as stale.
    let mut request = delete(&workspace);
    request.etag = kernel_domain::Version::new(99).to_etag();
    rejected(
        client.delete_workspace(as_actor(owner, request)).await,
        code,
        reason,
    );
    unchanged(&mut client, &renamed).await;
}

#[tokio::test]
async fn member_commands_need_the_acting_user() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (email, token, invitation, after) = invited(&mut client, owner, &workspace.id).await;
    let id = workspace.id.as_str();
    let (code, reason) = (Code::Unauthenticated, "ACTOR_REQUIRED");

    rejected(
        client
            .create_workspace(create_request(&fresh_slug(), "Name", SEATS))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .rename_workspace(rename_request(id, "", "Name"))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .invite_member(invite_request(
                id,
                &fresh_email(),
                pb::Role::Member,
                &fresh_token(),
            ))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .accept_invitation(accept_request(id, &invitation.id, &token, &email))
            .await,
        code,
        reason,
    );
    rejected(
        client
            .revoke_invitation(pb::RevokeInvitationRequest {
                id: id.into(),
                request_id: request_id(),
                etag: String::new(),
                invitation_id: invitation.id.clone(),
            })
            .await,
        code,
        reason,
    );
    rejected(
        client
            .change_member_role(change_role(id, owner, pb::Role::Admin))
            .await,
        code,
        reason,
    );
    rejected(client.remove_member(remove(id, owner)).await, code, reason);
    rejected(client.leave_workspace(leave(id)).await, code, reason);
    rejected(client.archive_workspace(archive(id)).await, code, reason);
    rejected(
        client.unarchive_workspace(unarchive(id)).await,
        code,
        reason,
    );
    rejected(
        client.delete_workspace(delete(&workspace)).await,
        code,
        reason,
    );
    // Even with a bad body, the missing actor is what is answered.
    rejected(
        client
            .rename_workspace(pb::RenameWorkspaceRequest::default())
            .await,
        code,
        reason,
    );
    unchanged(&mut client, &after).await;
}
