//! The team use cases end to end through the HTTP edge: invitations, accepting them, members
//! with their profiles, roles, removal, leaving, and the seat and subscription rules.

use std::time::Duration;

use ports_app::MailKind;
use reqwest::Method;
use saas_proto::workspace::v1 as workspace_pb;
use saas_tests::{Account, Answer, System};
use serde_json::{Value, json};

use crate::e2e_access::assert_problem;

async fn invite(system: &System, owner: &Account, email: &str, role: &str) -> Answer {
    system
        .post(
            &format!("/v1/workspaces/{}/invitations", owner.workspace_id),
            Some(&owner.access_token),
            json!({ "email": email, "role": role }),
        )
        .await
}

async fn accept(system: &System, who: &Account, token: &str) -> Answer {
    system
        .post(
            "/v1/invitations/accept",
            Some(&who.access_token),
            json!({ "token": token }),
        )
        .await
}

async fn members(system: &System, viewer: &Account, workspace_id: &str) -> Vec<Value> {
    let answer = system
        .get(
            &format!("/v1/workspaces/{workspace_id}/members"),
            &viewer.access_token,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body["members"].as_array().expect("members").clone()
}

fn role_of(members: &[Value], user_id: &str) -> Option<String> {
    members
        .iter()
        .find(|m| m["user_id"] == user_id)
        .and_then(|m| m["role"].as_str().map(str::to_owned))
}

/// The workspace as the Workspace data service holds it.
async fn stored_workspace(system: &System, workspace_id: &str) -> workspace_pb::Workspace {
    system
        .data
        .workspaces_client()
        .await
        .get_workspace(workspace_pb::GetWorkspaceRequest {
            id: workspace_id.to_owned(),
            ..Default::default()
        })
        .await
        .expect("the workspace")
        .into_inner()
}

#[tokio::test]
async fn an_invitation_is_mailed_with_its_token_and_accepting_makes_a_member() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;

    let invited = invite(&system, &owner, "Grace@Example.com", "admin").await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    assert_eq!(invited.body["email"], "grace@example.com");
    assert_eq!(invited.body["role"], "admin");
    assert_eq!(invited.body["state"], "pending");
    assert_eq!(invited.body["inviter_id"], owner.user_id.as_str());
    let mail = system
        .mailer
        .latest("grace@example.com", MailKind::Invitation)
        .expect("an invitation mail");
    assert!(mail.text.contains(&mail.token), "{}", mail.text);
    assert!(
        invited.body.get("token").is_none() && !invited.body.to_string().contains(&mail.token),
        "the invitation JSON carries no token: {}",
        invited.body
    );
    let listed = system
        .get(
            &format!("/v1/workspaces/{}/invitations", owner.workspace_id),
            &owner.access_token,
        )
        .await;
    assert_eq!(listed.status, 200);
    assert!(!listed.body.to_string().contains(&mail.token));

    let grace = system.sign_up("grace@example.com", "compilers").await;
    let accepted = accept(&system, &grace, &mail.token).await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    assert_eq!(accepted.body["id"], owner.workspace_id.as_str());

    let list = members(&system, &grace, &owner.workspace_id).await;
    assert_eq!(list.len(), 2, "{list:?}");
    let row = list
        .iter()
        .find(|m| m["user_id"] == grace.user_id.as_str())
        .expect("grace is a member");
    assert_eq!(row["role"], "admin");
    assert_eq!(row["email"], "grace@example.com");
    assert_eq!(row["display_name"], "grace");
    let owner_row = list
        .iter()
        .find(|m| m["user_id"] == owner.user_id.as_str())
        .expect("the owner");
    assert_eq!(owner_row["email"], "ada@example.com");
    assert_eq!(owner_row["display_name"], "ada");

    // The invitation is used: accepting again finds nothing pending.
    let again = accept(&system, &grace, &mail.token).await;
    assert_problem(&again, 404, "INVITATION_NOT_FOUND");
    let stored = stored_workspace(&system, &owner.workspace_id).await;
    assert_eq!(stored.members.len(), 2);
    assert_eq!(
        stored.invitations[0].state(),
        workspace_pb::InvitationState::Accepted
    );
}

#[tokio::test]
async fn owners_change_roles_remove_members_and_members_leave() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;
    let grace = system
        .join(&owner, "grace@example.com", "compilers", "member")
        .await;
    let alan = system
        .join(&owner, "alan@example.com", "machines", "member")
        .await;
    let ws = owner.workspace_id.clone();

    // A member may not change roles.
    let denied = system
        .call(
            Method::PATCH,
            &format!("/v1/workspaces/{ws}/members/{}", alan.user_id),
            Some(&grace.access_token),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_problem(&denied, 403, "ROLE_REQUIRED");

    let promoted = system
        .call(
            Method::PATCH,
            &format!("/v1/workspaces/{ws}/members/{}", grace.user_id),
            Some(&owner.access_token),
            Some(json!({ "role": "admin" })),
        )
        .await;
    assert_eq!(promoted.status, 200, "{:?}", promoted.body);
    let list = members(&system, &owner, &ws).await;
    assert_eq!(role_of(&list, &grace.user_id).as_deref(), Some("admin"));
    assert_eq!(role_of(&list, &alan.user_id).as_deref(), Some("member"));

    // The new admin may now remove a member.
    let removed = system
        .call(
            Method::DELETE,
            &format!("/v1/workspaces/{ws}/members/{}", alan.user_id),
            Some(&grace.access_token),
            None,
        )
        .await;
    assert_eq!(removed.status, 204, "{:?}", removed.body);
    let list = members(&system, &owner, &ws).await;
    assert_eq!(role_of(&list, &alan.user_id), None);
    // A removed member sees the workspace as an unknown one.
    let gone = system
        .get(&format!("/v1/workspaces/{ws}"), &alan.access_token)
        .await;
    assert_problem(&gone, 404, "WORKSPACE_NOT_FOUND");

    let left = system
        .call(
            Method::POST,
            &format!("/v1/workspaces/{ws}/leave"),
            Some(&grace.access_token),
            None,
        )
        .await;
    assert_eq!(left.status, 204, "{:?}", left.body);
    let list = members(&system, &owner, &ws).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(role_of(&list, &owner.user_id).as_deref(), Some("owner"));
    let stored = stored_workspace(&system, &ws).await;
    assert_eq!(stored.members.len(), 1);
    assert_eq!(stored.seats_in_use, 1);

    // The last owner may not leave.
    let last = system
        .call(
            Method::POST,
            &format!("/v1/workspaces/{ws}/leave"),
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_problem(&last, 422, "LAST_OWNER");
}

#[tokio::test]
async fn one_invitation_is_read_by_its_id_in_its_own_workspace_only() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;
    let other = system.sign_up("charles@example.com", "analytical").await;
    let invited = invite(&system, &owner, "grace@example.com", "admin").await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    let id = invited.body["id"].as_str().expect("an id");
    let one = |workspace_id: &str, invitation_id: &str| {
        format!("/v1/workspaces/{workspace_id}/invitations/{invitation_id}")
    };

    let read = system
        .get(&one(&owner.workspace_id, id), &owner.access_token)
        .await;
    assert_eq!(read.status, 200, "{:?}", read.body);
    assert_eq!(read.body, invited.body);

    // Another workspace's id, an unknown id and a malformed one all answer the same 404.
    let elsewhere = system
        .get(&one(&other.workspace_id, id), &other.access_token)
        .await;
    assert_problem(&elsewhere, 404, "INVITATION_NOT_FOUND");
    let unknown = uuid::Uuid::now_v7().to_string();
    let unknown = system
        .get(&one(&owner.workspace_id, &unknown), &owner.access_token)
        .await;
    assert_problem(&unknown, 404, "INVITATION_NOT_FOUND");
    let malformed = system
        .get(&one(&owner.workspace_id, "not-a-uuid"), &owner.access_token)
        .await;
    assert_problem(&malformed, 404, "INVITATION_NOT_FOUND");
}

#[tokio::test]
async fn a_revoked_invitation_cannot_be_accepted() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;
    let token = system.invite(&owner, "grace@example.com", "member").await;
    let listed = system
        .get(
            &format!("/v1/workspaces/{}/invitations", owner.workspace_id),
            &owner.access_token,
        )
        .await;
    let invitation_id = listed.body["invitations"][0]["id"]
        .as_str()
        .expect("an invitation")
        .to_owned();

    let revoked = system
        .call(
            Method::DELETE,
            &format!(
                "/v1/workspaces/{}/invitations/{invitation_id}",
                owner.workspace_id
            ),
            Some(&owner.access_token),
            None,
        )
        .await;
    assert_eq!(revoked.status, 204, "{:?}", revoked.body);
    let listed = system
        .get(
            &format!("/v1/workspaces/{}/invitations", owner.workspace_id),
            &owner.access_token,
        )
        .await;
    assert_eq!(listed.body["invitations"][0]["state"], "revoked");

    let grace = system.sign_up("grace@example.com", "compilers").await;
    let refused = accept(&system, &grace, &token).await;
    assert_problem(&refused, 404, "INVITATION_NOT_FOUND");
    let stored = stored_workspace(&system, &owner.workspace_id).await;
    assert_eq!(stored.members.len(), 1);
    assert_eq!(stored.seats_in_use, 1);
}

#[tokio::test]
async fn an_invitation_needs_a_free_seat() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;
    // The owner and four pending invitations fill the trial's five seats.
    for n in 1..=4 {
        let answer = invite(&system, &owner, &format!("person{n}@example.com"), "member").await;
        assert_eq!(answer.status, 201, "invitation {n}: {:?}", answer.body);
    }
    let full = invite(&system, &owner, "person5@example.com", "member").await;
    assert_problem(&full, 422, "SEAT_LIMIT_REACHED");
    assert!(
        system
            .mailer
            .latest("person5@example.com", MailKind::Invitation)
            .is_none(),
        "no mail for a refused invitation"
    );
    let stored = stored_workspace(&system, &owner.workspace_id).await;
    assert_eq!(stored.seats_in_use, 5);
    assert_eq!(stored.seat_limit, 5);
    assert_eq!(stored.invitations.len(), 4);
}

#[tokio::test]
async fn an_invitation_needs_a_live_subscription() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;
    let canceled = system
        .post(
            &format!("/v1/workspaces/{}/subscription/cancel", owner.workspace_id),
            Some(&owner.access_token),
            json!({ "at_period_end": false }),
        )
        .await;
    assert_eq!(canceled.status, 200, "{:?}", canceled.body);
    assert_eq!(canceled.body["status"], "canceled");
    // The workspace follows its subscription through Billing's event.
    let lapsed = saas_tests::eventually(Duration::from_secs(30), || async {
        stored_workspace(&system, &owner.workspace_id)
            .await
            .subscription_standing()
            == workspace_pb::SubscriptionStanding::Lapsed
    })
    .await;
    assert!(
        lapsed,
        "the workspace never followed its canceled subscription"
    );

    let refused = invite(&system, &owner, "grace@example.com", "member").await;
    assert_problem(&refused, 422, "SUBSCRIPTION_INACTIVE");
    assert!(
        system
            .mailer
            .latest("grace@example.com", MailKind::Invitation)
            .is_none()
    );
    let stored = stored_workspace(&system, &owner.workspace_id).await;
    assert!(stored.invitations.is_empty());
}

#[tokio::test]
async fn only_the_invited_email_can_accept_and_garbage_tokens_are_refused() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;
    let token = system.invite(&owner, "grace@example.com", "member").await;

    let alan = system.sign_up("alan@example.com", "machines").await;
    let refused = accept(&system, &alan, &token).await;
    // The token names the workspace, but no pending invitation there is for alan's email.
    assert_problem(&refused, 404, "INVITATION_NOT_FOUND");
    let stored = stored_workspace(&system, &owner.workspace_id).await;
    assert_eq!(stored.members.len(), 1);
    assert_eq!(
        stored.invitations[0].state(),
        workspace_pb::InvitationState::Pending
    );

    let garbage = accept(&system, &alan, "not-a-token").await;
    assert_problem(&garbage, 400, "INVALID_TOKEN");
    // A well-formed token for a workspace that does not exist answers like a missing
    // invitation.
    let unknown_workspace = format!("{}.{}", uuid::Uuid::now_v7().simple(), "A".repeat(43));
    let unknown = accept(&system, &alan, &unknown_workspace).await;
    assert_problem(&unknown, 404, "INVITATION_NOT_FOUND");

    // The invitee with a token of the right shape but the wrong secret is refused too ...
    let grace = system.sign_up("grace@example.com", "compilers").await;
    let workspace_uuid = uuid::Uuid::parse_str(&owner.workspace_id).expect("a workspace id");
    let wrong_secret = format!("{}.{}", workspace_uuid.simple(), "A".repeat(43));
    let wrong = accept(&system, &grace, &wrong_secret).await;
    assert_problem(&wrong, 422, "TOKEN_INVALID");
    // ... and accepted with the mailed one.
    assert_eq!(accept(&system, &grace, &token).await.status, 200);
    let stored = stored_workspace(&system, &owner.workspace_id).await;
    assert_eq!(stored.members.len(), 2);
}

/// The calls one HTTP request made to the data services, by the correlation id it sent.
async fn calls_of(system: &System, owner: &Account, email: &str, request_id: &str) -> Answer {
    let response = system
        .http
        .post(system.url(&format!(
            "/v1/workspaces/{}/invitations",
            owner.workspace_id
        )))
        .bearer_auth(&owner.access_token)
        .header("x-request-id", request_id)
        .json(&json!({ "email": email, "role": "member" }))
        .send()
        .await
        .expect("edge answers");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.json().await.unwrap_or(Value::Null);
    Answer {
        status,
        headers,
        body,
    }
}

#[tokio::test]
async fn an_invitation_costs_three_calls() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "acme").await;
    // An invitee with an account and one without: both cost the same.
    system.sign_up("alan@example.com", "alan-co").await;
    for (email, request_id) in [
        ("grace@example.com", "count-invite-new"),
        ("alan@example.com", "count-invite-known"),
    ] {
        let answer = calls_of(&system, &owner, email, request_id).await;
        assert_eq!(answer.status, 201, "{:?}", answer.body);
        // The tenancy gate's read (reused by the use case), the invitee's account, the
        // invitation: the workspace checks the subscription's standing and the seats itself.
        assert_eq!(
            system.data.calls.paths_with(request_id),
            [
                "/saas.workspace.v1.WorkspaceService/GetWorkspace",
                "/saas.identity.v1.UserService/LookupUser",
                "/saas.workspace.v1.WorkspaceService/InviteMember",
            ],
            "{email}"
        );
    }
    // A refused invitation costs no more: the aggregate's refusal is not retried.
    let again = calls_of(&system, &owner, "grace@example.com", "count-invite-again").await;
    assert_problem(&again, 409, "INVITATION_ALREADY_PENDING");
    assert_eq!(system.data.calls.paths_with("count-invite-again").len(), 3);
    // A malformed address is refused before any call past the gate's read.
    let malformed = calls_of(&system, &owner, "not an email", "count-invite-malformed").await;
    assert_problem(&malformed, 400, "INVALID_EMAIL");
    assert_eq!(malformed.body["errors"][0]["field"], "email");
    assert_eq!(
        system.data.calls.paths_with("count-invite-malformed"),
        ["/saas.workspace.v1.WorkspaceService/GetWorkspace"]
    );
}
