//! Happy paths: what resources look like in JSON, their ETags, and that no secret leaks.

use std::collections::BTreeSet;

use http::{Method, StatusCode};
use ports_app::AppError;
use ports_app::Role;
use ports_app::{Plan, SubscriptionStatus};
use serde_json::{Value, json};
use uuid::Uuid;

use super::{World, authed, json_request, now, send, subscription, token_for, user, workspace};

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .expect("an object")
        .keys()
        .cloned()
        .collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| (*n).to_owned()).collect()
}

#[tokio::test]
async fn me_is_the_user_without_sessions_with_its_etag() {
    let me = Uuid::now_v7();
    let mut world = World::new();
    world
        .users
        .expect_get_user()
        .returning(move |_, _| Ok(user(me, "ada@example.com")));
    let router = world.router();
    let reply = send(&router, authed(Method::GET, "/v1/me", &token_for(me))).await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("etag"), Some("W/\"v3\""));
    let body = reply.json();
    assert_eq!(
        keys(&body),
        set(&[
            "id",
            "email",
            "display_name",
            "status",
            "email_verified",
            "etag",
            "create_time",
            "update_time"
        ])
    );
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["status"], "active");
    assert_eq!(body["create_time"], "2025-06-15T14:06:40Z");
}

#[tokio::test]
async fn renaming_me_passes_the_new_name() {
    let me = Uuid::now_v7();
    let mut world = World::new();
    world
        .users
        .expect_change_display_name()
        .withf(|_, _, _, display_name| display_name == "Ada L.")
        .returning(move |_, _, _, display_name| {
            let mut renamed = user(me, "ada@example.com");
            renamed.display_name = display_name;
            renamed.version = kernel_domain::Version::new(4);
            Ok(renamed)
        });
    world
        .users
        .expect_get_user()
        .returning(move |_, _| Ok(user(me, "ada@example.com")));
    let router = world.router();
    let reply = send(
        &router,
        json_request(
            Method::PATCH,
            "/v1/me",
            Some(&token_for(me)),
            &json!({"display_name": "Ada L."}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.json()["display_name"], "Ada L.");
    assert_eq!(reply.header("etag"), Some("W/\"v4\""));
}

#[tokio::test]
async fn a_workspace_shows_neither_members_nor_invitations() {
    let me = Uuid::now_v7();
    let id = Uuid::now_v7();
    let router = World::new()
        .with_workspace(workspace(id, &[(me, Role::Member)]))
        .router();
    let reply = send(
        &router,
        authed(Method::GET, &format!("/v1/workspaces/{id}"), &token_for(me)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("etag"), Some("W/\"v7\""));
    let body = reply.json();
    assert_eq!(
        keys(&body),
        set(&[
            "id",
            "slug",
            "name",
            "seat_limit",
            "seats_in_use",
            "archived",
            "etag",
            "create_time",
            "update_time"
        ])
    );
    assert_eq!(body["id"], id.to_string());
    assert_eq!(body["seats_in_use"], 2);
}

#[tokio::test]
async fn members_come_with_their_profiles() {
    let owner = Uuid::now_v7();
    let gone = Uuid::now_v7();
    let id = Uuid::now_v7();
    let mut world =
        World::new().with_workspace(workspace(id, &[(owner, Role::Owner), (gone, Role::Member)]));
    // Identity knows the owner only.
    world
        .users
        .expect_batch_get_users()
        .returning(move |_, ids| {
            Ok(ids
                .iter()
                .filter(|id| **id == owner.into())
                .map(|_| user(owner, "owner@example.com"))
                .collect())
        });
    world.users.expect_get_user().returning(move |_, id| {
        if id == owner.into() {
            Ok(user(owner, "owner@example.com"))
        } else {
            Err(AppError::not_found("USER_NOT_FOUND", "no such user").into())
        }
    });
    let router = world.router();
    let reply = send(
        &router,
        authed(
            Method::GET,
            &format!("/v1/workspaces/{id}/members"),
            &token_for(owner),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let members = reply.json()["members"].clone();
    assert_eq!(
        members,
        json!([
            {
                "user_id": owner.to_string(),
                "role": "owner",
                "join_time": "2025-06-15T14:56:40Z",
                "email": "owner@example.com",
                "display_name": "User owner@example.com",
            },
            {
                "user_id": gone.to_string(),
                "role": "member",
                "join_time": "2025-06-15T14:56:40Z",
                "email": null,
                "display_name": null,
            },
        ])
    );
}

#[tokio::test]
async fn invitations_are_listed_without_tokens() {
    let admin = Uuid::now_v7();
    let id = Uuid::now_v7();
    let router = World::new()
        .with_workspace(workspace(id, &[(admin, Role::Admin)]))
        .router();
    let reply = send(
        &router,
        authed(
            Method::GET,
            &format!("/v1/workspaces/{id}/invitations"),
            &token_for(admin),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let invitations = reply.json()["invitations"].clone();
    let first = &invitations[0];
    assert_eq!(
        keys(first),
        set(&["id", "email", "role", "inviter_id", "expire_time", "state"])
    );
    assert_eq!(first["state"], "pending");
    assert_eq!(first["role"], "member");
}

#[tokio::test]
async fn an_invitation_is_created_and_its_token_only_mailed() {
    let admin = Uuid::now_v7();
    let id = Uuid::now_v7();
    let mailed = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let mut world = World::new().with_workspace(workspace(id, &[(admin, Role::Admin)]));
    world
        .subscriptions
        .expect_lookup_subscription()
        .returning(move |_, _| Ok(subscription(id)));
    world
        .users
        .expect_lookup_user()
        .returning(|_, _| Err(AppError::not_found("USER_NOT_FOUND", "no such user").into()));
    world
        .workspaces
        .expect_invite_member()
        .withf(|_, step, _, invitation| {
            step == "invite"
                && invitation.email == "new@example.com"
                && invitation.role == Role::Admin
        })
        .returning(move |_, _, id, new| {
            let invited = crate::tests::invitation(&new.email, new.role, admin);
            Ok((workspace(id.as_uuid(), &[(admin, Role::Admin)]), invited))
        });
    let seen = mailed.clone();
    world.mailer.expect_send().returning(move |mail| {
        *seen.lock().expect("not poisoned") = mail.token;
        Ok(())
    });
    let router = world.router();
    let reply = send(
        &router,
        json_request(
            Method::POST,
            &format!("/v1/workspaces/{id}/invitations"),
            Some(&token_for(admin)),
            &json!({"email": "new@example.com", "role": "admin"}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let body = reply.json();
    assert_eq!(body["email"], "new@example.com");
    assert_eq!(body["role"], "admin");
    assert!(body.get("token").is_none());
    let token = mailed.lock().expect("not poisoned").clone();
    assert!(!token.is_empty(), "the token was mailed");
    assert!(!String::from_utf8_lossy(&reply.body).contains(&token));
}

#[tokio::test]
async fn a_subscription_shows_its_money_and_status_in_json_words() {
    let member = Uuid::now_v7();
    let id = Uuid::now_v7();
    let mut world = World::new().with_workspace(workspace(id, &[(member, Role::Member)]));
    world
        .subscriptions
        .expect_lookup_subscription()
        .withf(move |_, workspace_id| workspace_id.as_uuid() == id)
        .returning(move |_, _| Ok(subscription(id)));
    let router = world.router();
    let reply = send(
        &router,
        authed(
            Method::GET,
            &format!("/v1/workspaces/{id}/subscription"),
            &token_for(member),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("etag"), Some("W/\"v1\""));
    let body = reply.json();
    assert_eq!(
        body["monthly_amount"],
        json!({"amount_minor": 4000, "currency": "USD"})
    );
    assert_eq!(body["plan"], "team");
    assert_eq!(body["status"], "trialing");
    assert_eq!(body["period_end_time"], Value::Null);
}

#[tokio::test]
async fn an_owner_changes_the_plan_by_name() {
    let owner = Uuid::now_v7();
    let id = Uuid::now_v7();
    let mut world = World::new().with_workspace(workspace(id, &[(owner, Role::Owner)]));
    world
        .subscriptions
        .expect_lookup_subscription()
        .returning(move |_, _| Ok(subscription(id)));
    world
        .subscriptions
        .expect_change_plan()
        .withf(|_, _, _, plan, _| *plan == Plan::Business)
        .returning(move |_, _, _, _, _| {
            let mut changed = subscription(id);
            changed.plan = Plan::Business;
            changed.status = SubscriptionStatus::PastDue;
            changed.monthly_amount_minor = 7_500;
            Ok(changed)
        });
    let router = world.router();
    let reply = send(
        &router,
        json_request(
            Method::POST,
            &format!("/v1/workspaces/{id}/subscription/plan"),
            Some(&token_for(owner)),
            &json!({"plan": "business"}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["plan"], "business");
    assert_eq!(body["status"], "past_due");
    assert_eq!(body["monthly_amount"]["amount_minor"], 7_500);
}

#[tokio::test]
async fn sign_up_answers_201_with_what_it_made_and_no_password() {
    let user_id = Uuid::now_v7();
    let workspace_id = Uuid::now_v7();
    let mut world = World::new();
    world
        .users
        .expect_register_user()
        .withf(|_, _, new| {
            new.email == "ada@example.com"
                && new.display_name == "Ada"
                && new.password == "correct horse battery staple"
        })
        .returning(move |_, _, _| Ok(user(user_id, "ada@example.com")));
    // The sign-up reads the user after registering (a retry must not build on an undone
    // sign-up) and marks it complete once the trial started.
    world
        .users
        .expect_get_user()
        .returning(move |_, _| Ok(user(user_id, "ada@example.com")));
    world
        .users
        .expect_complete_sign_up()
        .times(1)
        .returning(move |_, _, _| Ok(user(user_id, "ada@example.com")));
    world
        .workspaces
        .expect_create_workspace()
        .withf(move |ctx, _, new| {
            ctx.actor == Some(user_id) && new.slug == "acme" && new.name == "Acme"
        })
        .returning(move |_, _, _| Ok(workspace(workspace_id, &[(user_id, Role::Owner)])));
    world
        .subscriptions
        .expect_start_trial()
        .returning(move |_, _, _| Ok(subscription(workspace_id)));
    let router = world.router();
    let reply = send(
        &router,
        json_request(
            Method::POST,
            "/v1/signup",
            None,
            &json!({
                "email": "ada@example.com",
                "password": "correct horse battery staple",
                "display_name": "Ada",
                "workspace_name": "Acme",
                "workspace_slug": "acme",
            }),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED);
    let body = reply.json();
    assert_eq!(keys(&body), set(&["user", "workspace", "subscription"]));
    assert_eq!(body["user"]["id"], user_id.to_string());
    assert_eq!(body["workspace"]["id"], workspace_id.to_string());
    assert_eq!(body["subscription"]["status"], "trialing");
    assert!(!String::from_utf8_lossy(&reply.body).contains("correct horse"));
}

#[tokio::test]
async fn login_answers_tokens_that_are_never_cached() {
    let user_id = Uuid::now_v7();
    let session_id = Uuid::now_v7();
    let mut world = World::new();
    world
        .users
        .expect_verify_credentials()
        .returning(move |_, _, _| Ok(user(user_id, "ada@example.com")));
    world.users.expect_open_session().returning(move |_, _, _| {
        let session = ports_app::Session {
            create_time: now(),
            expire_time: now() + chrono::Duration::days(30),
            refresh_time: now(),
            ..ports_app::types::examples::session(session_id.into())
        };
        Ok((user(user_id, "ada@example.com"), session))
    });
    let router = world.router();
    let reply = send(
        &router,
        json_request(
            Method::POST,
            "/v1/auth/login",
            None,
            &json!({"email": "ada@example.com", "password": "correct horse battery staple"}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    let body = reply.json();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["user_id"], user_id.to_string());
    assert_eq!(body["session_id"], session_id.to_string());
    let access = body["access_token"].as_str().expect("an access token");
    let claims = super::keys()
        .verify_access(access, super::now())
        .expect("a valid access token");
    assert_eq!(claims.user_id, user_id);
}

#[tokio::test]
async fn a_password_reset_is_202_whether_or_not_the_email_exists() {
    let known = Uuid::now_v7();
    let mut world = World::new();
    world.users.expect_lookup_user().returning(move |_, email| {
        if email == "ada@example.com" {
            Ok(user(known, "ada@example.com"))
        } else {
            Err(AppError::not_found("USER_NOT_FOUND", "no such user").into())
        }
    });
    world
        .users
        .expect_start_password_reset()
        .returning(move |_, _, _, _| Ok(user(known, "ada@example.com")));
    world.mailer.expect_send().returning(|_| Ok(()));
    let router = world.router();
    let mut answers = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        let reply = send(
            &router,
            json_request(
                Method::POST,
                "/v1/password-reset",
                None,
                &json!({"email": email}),
            ),
        )
        .await;
        answers.push((reply.status, reply.body.clone()));
    }
    assert_eq!(answers[0].0, StatusCode::ACCEPTED);
    assert_eq!(answers[0], answers[1]);
}

#[tokio::test]
async fn workspaces_are_paged_with_the_callers_parameters() {
    let me = Uuid::now_v7();
    let mut world = World::new();
    world
        .workspaces
        .expect_list_user_workspaces()
        .withf(move |_, user, page_size, page_token| {
            *user == me.into() && *page_size == 2 && page_token == "abc"
        })
        .returning(move |_, _, _, _| {
            Ok(ports_app::WorkspacePage {
                workspaces: vec![workspace(Uuid::now_v7(), &[(me, Role::Owner)])],
                next_page_token: String::new(),
            })
        });
    let router = world.router();
    let reply = send(
        &router,
        authed(
            Method::GET,
            "/v1/workspaces?page_size=2&page_token=abc&unrelated=1",
            &token_for(me),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["workspaces"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["next_page_token"], Value::Null);
}

#[tokio::test]
async fn ids_in_the_path_that_are_not_uuids_answer_like_unknown_ones() {
    let admin = Uuid::now_v7();
    let id = Uuid::now_v7();
    let router = World::new()
        .with_workspace(workspace(id, &[(admin, Role::Owner)]))
        .router();
    let token = token_for(admin);
    let reply = send(
        &router,
        authed(
            Method::DELETE,
            &format!("/v1/workspaces/{id}/members/not-a-uuid"),
            &token,
        ),
    )
    .await;
    reply.problem(StatusCode::NOT_FOUND, "MEMBER_NOT_FOUND");
    let reply = send(
        &router,
        authed(
            Method::DELETE,
            &format!("/v1/workspaces/{id}/invitations/42"),
            &token,
        ),
    )
    .await;
    reply.problem(StatusCode::NOT_FOUND, "INVITATION_NOT_FOUND");
}
