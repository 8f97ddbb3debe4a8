//! Bad input on every RPC: `INVALID_ARGUMENT` with `BadRequest` field violations naming every
//! bad field, and nothing changed.

use saas_proto::workspace::v1 as pb;
use saas_tests::{WorkspaceClient, as_actor};

use super::{
    SEATS, basic, create, create_request, fresh_email, fresh_slug, fresh_token, get, invalid,
    invite_request, request_id, start, unknown_id, user,
};

const BAD_ID: &str = "not-a-uuid";
const BAD_ETAG: &str = "made-up";
const ACTOR: &str = platform::rpc::ACTOR_METADATA;

/// A role number the enum does not know.
const UNKNOWN_ROLE: i32 = 9;

/// Names the workspace must refuse, with why.
fn bad_names() -> Vec<String> {
    vec![
        String::new(),
        "   ".into(),
        "a".repeat(101),
        "\u{fc}".repeat(101),
        "tab\there".into(),
        "new\nline".into(),
    ]
}

/// Slugs the workspace must refuse as `INVALID_SLUG`.
fn bad_slugs() -> Vec<String> {
    vec![
        String::new(),
        "  ".into(),
        "ab".into(),
        "a".repeat(41),
        "-acme".into(),
        "acme-".into(),
        "ac me".into(),
        "ac_me".into(),
        "acmé".into(),
        "a.b.c".into(),
    ]
}

/// Emails the workspace must refuse as `INVALID_EMAIL`.
fn bad_emails() -> Vec<String> {
    vec![
        String::new(),
        "plain".into(),
        "a@b".into(),
        "a b@example.com".into(),
        format!("{}@{}.com", "a".repeat(64), "b".repeat(200)),
    ]
}

/// Checks a refused call left the workspace as it was.
async fn unchanged(client: &mut WorkspaceClient, before: &pb::Workspace) {
    assert_eq!(basic(get(client, &before.id).await), basic(before.clone()));
}

#[tokio::test]
async fn get_workspace_needs_a_uuid_id() {
    let (_services, mut client) = start().await;
    invalid(
        client
            .get_workspace(pb::GetWorkspaceRequest {
                id: String::new(),
                ..Default::default()
            })
            .await,
        "MISSING_FIELD",
        &["id"],
    );
    invalid(
        client
            .get_workspace(pb::GetWorkspaceRequest {
                id: BAD_ID.into(),
                ..Default::default()
            })
            .await,
        "INVALID_ID",
        &["id"],
    );
}

#[tokio::test]
async fn reads_refuse_a_view_they_do_not_know_and_name_every_bad_field() {
    let (_services, mut client) = start().await;
    let (_, workspace) = create(&mut client).await;
    invalid(
        client
            .get_workspace(pb::GetWorkspaceRequest {
                id: workspace.id.clone(),
                view: 3,
            })
            .await,
        "INVALID_VIEW",
        &["view"],
    );
    invalid(
        client
            .get_workspace(pb::GetWorkspaceRequest {
                id: BAD_ID.into(),
                view: -1,
            })
            .await,
        "INVALID_ID",
        &["id", "view"],
    );
    invalid(
        client
            .lookup_workspace(pb::LookupWorkspaceRequest {
                slug: workspace.slug.clone(),
                view: 7,
            })
            .await,
        "INVALID_VIEW",
        &["view"],
    );
}

#[tokio::test]
async fn lookup_workspace_needs_a_valid_slug() {
    let (_services, mut client) = start().await;
    for slug in bad_slugs() {
        invalid(
            client
                .lookup_workspace(pb::LookupWorkspaceRequest {
                    slug,
                    ..Default::default()
                })
                .await,
            "INVALID_SLUG",
            &["slug"],
        );
    }
    invalid(
        client
            .lookup_workspace(pb::LookupWorkspaceRequest {
                slug: "admin".into(),
                ..Default::default()
            })
            .await,
        "SLUG_RESERVED",
        &["slug"],
    );
}

#[tokio::test]
async fn list_user_workspaces_names_every_bad_field() {
    let (_services, mut client) = start().await;
    let list = |user_id: &str, page_size: i32, page_token: &str| pb::ListUserWorkspacesRequest {
        user_id: user_id.into(),
        page_size,
        page_token: page_token.into(),
    };
    let someone = user().to_string();
    invalid(
        client.list_user_workspaces(list("", 10, "")).await,
        "MISSING_FIELD",
        &["user_id"],
    );
    invalid(
        client.list_user_workspaces(list(BAD_ID, 10, "")).await,
        "INVALID_ID",
        &["user_id"],
    );
    invalid(
        client.list_user_workspaces(list(&someone, -1, "")).await,
        "INVALID_PAGE_SIZE",
        &["page_size"],
    );
    // Garbage, valid base64 of something else, and a bare UUID are all foreign tokens.
    for token in ["garbage!", "c29tZXRoaW5nIGVsc2U", &unknown_id()] {
        invalid(
            client.list_user_workspaces(list(&someone, 10, token)).await,
            "INVALID_PAGE_TOKEN",
            &["page_token"],
        );
    }
    invalid(
        client
            .list_user_workspaces(list(BAD_ID, i32::MIN, "garbage!"))
            .await,
        "INVALID_ID",
        &["user_id", "page_size", "page_token"],
    );
}

#[tokio::test]
async fn create_workspace_names_every_bad_field() {
    let (_services, mut client) = start().await;
    let owner = user();
    for slug in bad_slugs() {
        invalid(
            client
                .create_workspace(as_actor(owner, create_request(&slug, "Acme", SEATS)))
                .await,
            "INVALID_SLUG",
            &["slug"],
        );
    }
    for name in bad_names() {
        invalid(
            client
                .create_workspace(as_actor(owner, create_request(&fresh_slug(), &name, SEATS)))
                .await,
            "INVALID_WORKSPACE_NAME",
            &["name"],
        );
    }
    for limit in [0, -1, i32::MIN] {
        invalid(
            client
                .create_workspace(as_actor(owner, create_request(&fresh_slug(), "A", limit)))
                .await,
            "INVALID_SEAT_LIMIT",
            &["seat_limit"],
        );
    }
    for (request_id, reason) in [("", "MISSING_REQUEST_ID"), (BAD_ID, "INVALID_REQUEST_ID")] {
        let mut request = create_request(&fresh_slug(), "Acme", SEATS);
        request.request_id = request_id.into();
        invalid(
            client.create_workspace(as_actor(owner, request)).await,
            reason,
            &["request_id"],
        );
    }
    invalid(
        client
            .create_workspace(as_actor(owner, pb::CreateWorkspaceRequest::default()))
            .await,
        "MISSING_REQUEST_ID",
        &["request_id", "slug", "name", "seat_limit"],
    );
    // A malformed actor is a bad field too, reported with the others.
    invalid(
        client
            .create_workspace(as_actor("nobody", pb::CreateWorkspaceRequest::default()))
            .await,
        "INVALID_ACTOR",
        &[ACTOR, "request_id", "slug", "name", "seat_limit"],
    );
    invalid(
        client
            .create_workspace(as_actor(
                "nobody",
                create_request(&fresh_slug(), "Acme", SEATS),
            ))
            .await,
        "INVALID_ACTOR",
        &[ACTOR],
    );
    assert!(super::workspaces_of(&mut client, owner).await.is_empty());
}

#[tokio::test]
async fn rename_workspace_names_every_bad_field() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    for name in bad_names() {
        invalid(
            client
                .rename_workspace(as_actor(
                    owner,
                    super::rename_request(&workspace.id, "", &name),
                ))
                .await,
            "INVALID_WORKSPACE_NAME",
            &["name"],
        );
    }
    invalid(
        client
            .rename_workspace(as_actor(
                owner,
                super::rename_request(&workspace.id, BAD_ETAG, "Acme"),
            ))
            .await,
        "INVALID_ETAG",
        &["etag"],
    );
    for id in ["", BAD_ID] {
        invalid(
            client
                .rename_workspace(as_actor(owner, super::rename_request(id, "", "Acme")))
                .await,
            if id.is_empty() {
                "MISSING_FIELD"
            } else {
                "INVALID_ID"
            },
            &["id"],
        );
    }
    invalid(
        client
            .rename_workspace(as_actor(
                owner,
                pb::RenameWorkspaceRequest {
                    id: BAD_ID.into(),
                    request_id: BAD_ID.into(),
                    etag: BAD_ETAG.into(),
                    name: String::new(),
                },
            ))
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag", "name"],
    );
    invalid(
        client
            .rename_workspace(as_actor(
                "nobody",
                pb::RenameWorkspaceRequest {
                    id: workspace.id.clone(),
                    request_id: String::new(),
                    etag: String::new(),
                    name: "Acme".into(),
                },
            ))
            .await,
        "INVALID_ACTOR",
        &[ACTOR, "request_id"],
    );
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn invite_member_names_every_bad_field() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let valid = || {
        invite_request(
            &workspace.id,
            &fresh_email(),
            pb::Role::Member,
            &fresh_token(),
        )
    };

    for email in bad_emails() {
        invalid(
            client
                .invite_member(as_actor(
                    owner,
                    pb::InviteMemberRequest { email, ..valid() },
                ))
                .await,
            "INVALID_EMAIL",
            &["email"],
        );
    }
    for role in [pb::Role::Unspecified as i32, UNKNOWN_ROLE, -1] {
        invalid(
            client
                .invite_member(as_actor(owner, pb::InviteMemberRequest { role, ..valid() }))
                .await,
            "INVALID_ROLE",
            &["role"],
        );
    }
    for token in [String::new(), "t".repeat(513)] {
        invalid(
            client
                .invite_member(as_actor(
                    owner,
                    pb::InviteMemberRequest { token, ..valid() },
                ))
                .await,
            "INVALID_TOKEN",
            &["token"],
        );
    }
    invalid(
        client
            .invite_member(as_actor(
                owner,
                pb::InviteMemberRequest {
                    invitee_user_id: BAD_ID.into(),
                    ..valid()
                },
            ))
            .await,
        "INVALID_ID",
        &["invitee_user_id"],
    );
    invalid(
        client
            .invite_member(as_actor(
                owner,
                pb::InviteMemberRequest {
                    etag: BAD_ETAG.into(),
                    ..valid()
                },
            ))
            .await,
        "INVALID_ETAG",
        &["etag"],
    );
    invalid(
        client
            .invite_member(as_actor(
                owner,
                pb::InviteMemberRequest {
                    id: String::new(),
                    request_id: String::new(),
                    etag: BAD_ETAG.into(),
                    email: "plain".into(),
                    role: UNKNOWN_ROLE,
                    token: String::new(),
                    invitee_user_id: BAD_ID.into(),
                },
            ))
            .await,
        "MISSING_FIELD",
        &[
            "id",
            "request_id",
            "etag",
            "email",
            "role",
            "token",
            "invitee_user_id",
        ],
    );
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn accept_invitation_names_every_bad_field() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let (email, token) = (fresh_email(), fresh_token());
    let (invitation, invited) = super::invite(
        &mut client,
        owner,
        &workspace.id,
        &email,
        pb::Role::Member,
        &token,
    )
    .await;
    let valid = || super::accept_request(&workspace.id, &invitation.id, &token, &email);
    let invitee = user();

    for user_email in bad_emails() {
        invalid(
            client
                .accept_invitation(as_actor(
                    invitee,
                    pb::AcceptInvitationRequest {
                        user_email,
                        ..valid()
                    },
                ))
                .await,
            "INVALID_EMAIL",
            &["user_email"],
        );
    }
    for invitation_id in ["", BAD_ID] {
        invalid(
            client
                .accept_invitation(as_actor(
                    invitee,
                    pb::AcceptInvitationRequest {
                        invitation_id: invitation_id.into(),
                        ..valid()
                    },
                ))
                .await,
            if invitation_id.is_empty() {
                "MISSING_FIELD"
            } else {
                "INVALID_ID"
            },
            &["invitation_id"],
        );
    }
    for token in [String::new(), "t".repeat(513)] {
        invalid(
            client
                .accept_invitation(as_actor(
                    invitee,
                    pb::AcceptInvitationRequest { token, ..valid() },
                ))
                .await,
            "INVALID_TOKEN",
            &["token"],
        );
    }
    invalid(
        client
            .accept_invitation(as_actor(invitee, pb::AcceptInvitationRequest::default()))
            .await,
        "MISSING_FIELD",
        &["id", "request_id", "invitation_id", "token", "user_email"],
    );
    invalid(
        client
            .accept_invitation(as_actor(
                "nobody",
                pb::AcceptInvitationRequest {
                    id: BAD_ID.into(),
                    ..valid()
                },
            ))
            .await,
        "INVALID_ACTOR",
        &[ACTOR, "id"],
    );
    unchanged(&mut client, &invited).await;
}

#[tokio::test]
async fn revoke_invitation_names_every_bad_field() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    invalid(
        client
            .revoke_invitation(as_actor(
                owner,
                pb::RevokeInvitationRequest {
                    id: workspace.id.clone(),
                    request_id: request_id(),
                    etag: String::new(),
                    invitation_id: BAD_ID.into(),
                },
            ))
            .await,
        "INVALID_ID",
        &["invitation_id"],
    );
    invalid(
        client
            .revoke_invitation(as_actor(
                owner,
                pb::RevokeInvitationRequest {
                    id: BAD_ID.into(),
                    request_id: BAD_ID.into(),
                    etag: BAD_ETAG.into(),
                    invitation_id: String::new(),
                },
            ))
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag", "invitation_id"],
    );
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn expire_invitations_names_every_bad_field() {
    let (_services, mut client) = start().await;
    let (_, workspace) = create(&mut client).await;
    invalid(
        client
            .expire_invitations(pb::ExpireInvitationsRequest {
                id: workspace.id.clone(),
                request_id: BAD_ID.into(),
            })
            .await,
        "INVALID_REQUEST_ID",
        &["request_id"],
    );
    invalid(
        client
            .expire_invitations(pb::ExpireInvitationsRequest::default())
            .await,
        "MISSING_FIELD",
        &["id", "request_id"],
    );
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn change_member_role_names_every_bad_field() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let valid = |role: i32| pb::ChangeMemberRoleRequest {
        id: workspace.id.clone(),
        request_id: request_id(),
        etag: String::new(),
        user_id: owner.to_string(),
        role,
    };
    for role in [pb::Role::Unspecified as i32, UNKNOWN_ROLE, i32::MAX] {
        invalid(
            client
                .change_member_role(as_actor(owner, valid(role)))
                .await,
            "INVALID_ROLE",
            &["role"],
        );
    }
    invalid(
        client
            .change_member_role(as_actor(
                owner,
                pb::ChangeMemberRoleRequest {
                    user_id: BAD_ID.into(),
                    ..valid(pb::Role::Admin as i32)
                },
            ))
            .await,
        "INVALID_ID",
        &["user_id"],
    );
    invalid(
        client
            .change_member_role(as_actor(owner, pb::ChangeMemberRoleRequest::default()))
            .await,
        "MISSING_FIELD",
        &["id", "request_id", "user_id", "role"],
    );
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn remove_member_names_every_bad_field() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    invalid(
        client
            .remove_member(as_actor(
                owner,
                pb::RemoveMemberRequest {
                    id: workspace.id.clone(),
                    request_id: request_id(),
                    etag: String::new(),
                    user_id: String::new(),
                },
            ))
            .await,
        "MISSING_FIELD",
        &["user_id"],
    );
    invalid(
        client
            .remove_member(as_actor(
                owner,
                pb::RemoveMemberRequest {
                    id: BAD_ID.into(),
                    request_id: String::new(),
                    etag: BAD_ETAG.into(),
                    user_id: BAD_ID.into(),
                },
            ))
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag", "user_id"],
    );
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn leave_archive_unarchive_and_delete_name_every_bad_field() {
    let (_services, mut client) = start().await;
    let (owner, workspace) = create(&mut client).await;
    let fields = ["id", "request_id", "etag"];
    invalid(
        client
            .leave_workspace(as_actor(
                owner,
                pb::LeaveWorkspaceRequest {
                    id: BAD_ID.into(),
                    request_id: BAD_ID.into(),
                    etag: BAD_ETAG.into(),
                },
            ))
            .await,
        "INVALID_ID",
        &fields,
    );
    invalid(
        client
            .archive_workspace(as_actor(
                owner,
                pb::ArchiveWorkspaceRequest {
                    id: String::new(),
                    request_id: String::new(),
                    etag: BAD_ETAG.into(),
                },
            ))
            .await,
        "MISSING_FIELD",
        &fields,
    );
    invalid(
        client
            .unarchive_workspace(as_actor(
                owner,
                pb::UnarchiveWorkspaceRequest {
                    id: BAD_ID.into(),
                    request_id: request_id(),
                    etag: BAD_ETAG.into(),
                },
            ))
            .await,
        "INVALID_ID",
        &["id", "etag"],
    );
    invalid(
        client
            .delete_workspace(as_actor(
                owner,
                pb::DeleteWorkspaceRequest {
                    id: workspace.id.clone(),
                    request_id: BAD_ID.into(),
                    etag: BAD_ETAG.into(),
                },
            ))
            .await,
        "INVALID_REQUEST_ID",
        &["request_id", "etag"],
    );
    invalid(
        client
            .delete_workspace(as_actor(
                "nobody",
                pb::DeleteWorkspaceRequest {
                    id: workspace.id.clone(),
                    request_id: request_id(),
                    etag: String::new(),
                },
            ))
            .await,
        "INVALID_ACTOR",
        &[ACTOR],
    );
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn set_seat_limit_names_every_bad_field() {
    let (_services, mut client) = start().await;
    let (_, workspace) = create(&mut client).await;
    for limit in [0, -1, i32::MIN] {
        invalid(
            client
                .set_seat_limit(pb::SetSeatLimitRequest {
                    id: workspace.id.clone(),
                    request_id: request_id(),
                    etag: String::new(),
                    seat_limit: limit,
                })
                .await,
            "INVALID_SEAT_LIMIT",
            &["seat_limit"],
        );
    }
    invalid(
        client
            .set_seat_limit(pb::SetSeatLimitRequest {
                id: BAD_ID.into(),
                request_id: String::new(),
                etag: BAD_ETAG.into(),
                seat_limit: 0,
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag", "seat_limit"],
    );
    unchanged(&mut client, &workspace).await;
}

#[tokio::test]
async fn remove_erased_user_names_every_bad_field() {
    let (_services, mut client) = start().await;
    let (_, workspace) = create(&mut client).await;
    invalid(
        client
            .remove_erased_user(pb::RemoveErasedUserRequest {
                id: workspace.id.clone(),
                request_id: request_id(),
                user_id: BAD_ID.into(),
            })
            .await,
        "INVALID_ID",
        &["user_id"],
    );
    invalid(
        client
            .remove_erased_user(pb::RemoveErasedUserRequest::default())
            .await,
        "MISSING_FIELD",
        &["id", "request_id", "user_id"],
    );
    unchanged(&mut client, &workspace).await;
}
