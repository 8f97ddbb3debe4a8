//! The tenancy gate: the authorization matrix, written by hand as data, against the router.
//!
//! Below a route's least role the answer is 403; outside the workspace it is a 404 identical
//! to an unknown workspace's, so ids of other tenants reveal nothing.

use std::collections::BTreeSet;

use axum::Router;
use http::{Method, StatusCode};
use ports_app::wire::workspace::Role as WireRole;
use serde_json::json;
use team_app::Role;
use uuid::Uuid;

use super::{World, authed, json_request, send, token_for, without_request_id, workspace};
use crate::routes::{Guard, routes};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum May {
    Anyone,
    /// Anyone, under the per-IP quota for credentials.
    AnyoneLimited,
    SignedIn,
    /// Signed in, or holding a stream ticket.
    SignedInOrTicket,
    AtLeast(Role),
}

/// The authorization matrix: every route and who may call it.
const MATRIX: &[(&str, &str, May)] = &[
    ("GET", "/healthz", May::Anyone),
    ("GET", "/readyz", May::Anyone),
    ("GET", "/openapi.json", May::Anyone),
    ("POST", "/v1/signup", May::AnyoneLimited),
    ("POST", "/v1/auth/login", May::AnyoneLimited),
    ("POST", "/v1/auth/refresh", May::AnyoneLimited),
    ("POST", "/v1/auth/logout", May::SignedIn),
    ("GET", "/v1/me", May::SignedIn),
    ("PATCH", "/v1/me", May::SignedIn),
    ("DELETE", "/v1/me", May::SignedIn),
    ("POST", "/v1/me/password", May::SignedIn),
    ("POST", "/v1/me/email-verification", May::SignedIn),
    ("GET", "/v1/me/feed", May::SignedIn),
    ("POST", "/v1/me/feed/read", May::SignedIn),
    ("POST", "/v1/me/feed/stream-tickets", May::SignedIn),
    ("GET", "/v1/me/feed/stream", May::SignedInOrTicket),
    ("POST", "/v1/email-verification/confirm", May::Anyone),
    ("POST", "/v1/password-reset", May::AnyoneLimited),
    ("POST", "/v1/password-reset/confirm", May::AnyoneLimited),
    ("GET", "/v1/workspaces", May::SignedIn),
    (
        "GET",
        "/v1/workspaces/{workspace_id}",
        May::AtLeast(Role::Member),
    ),
    (
        "PATCH",
        "/v1/workspaces/{workspace_id}",
        May::AtLeast(Role::Admin),
    ),
    (
        "GET",
        "/v1/workspaces/{workspace_id}/members",
        May::AtLeast(Role::Member),
    ),
    (
        "PATCH",
        "/v1/workspaces/{workspace_id}/members/{user_id}",
        May::AtLeast(Role::Owner),
    ),
    (
        "DELETE",
        "/v1/workspaces/{workspace_id}/members/{user_id}",
        May::AtLeast(Role::Admin),
    ),
    (
        "POST",
        "/v1/workspaces/{workspace_id}/leave",
        May::AtLeast(Role::Member),
    ),
    (
        "GET",
        "/v1/workspaces/{workspace_id}/invitations",
        May::AtLeast(Role::Admin),
    ),
    (
        "POST",
        "/v1/workspaces/{workspace_id}/invitations",
        May::AtLeast(Role::Admin),
    ),
    (
        "DELETE",
        "/v1/workspaces/{workspace_id}/invitations/{invitation_id}",
        May::AtLeast(Role::Admin),
    ),
    ("POST", "/v1/invitations/accept", May::SignedIn),
    (
        "GET",
        "/v1/workspaces/{workspace_id}/subscription",
        May::AtLeast(Role::Member),
    ),
    (
        "POST",
        "/v1/workspaces/{workspace_id}/subscription/plan",
        May::AtLeast(Role::Owner),
    ),
    (
        "POST",
        "/v1/workspaces/{workspace_id}/subscription/seats",
        May::AtLeast(Role::Owner),
    ),
    (
        "POST",
        "/v1/workspaces/{workspace_id}/subscription/cancel",
        May::AtLeast(Role::Owner),
    ),
    (
        "POST",
        "/v1/workspaces/{workspace_id}/subscription/resume",
        May::AtLeast(Role::Owner),
    ),
];

#[test]
fn the_matrix_and_the_router_agree_on_every_route_and_guard() {
    let matrix: BTreeSet<(String, String)> = MATRIX
        .iter()
        .map(|(m, p, _)| ((*m).to_owned(), (*p).to_owned()))
        .collect();
    assert_eq!(matrix.len(), MATRIX.len(), "a route is in the matrix twice");
    assert_eq!(matrix, crate::route_set());
    for route in routes() {
        let (_, _, may) = MATRIX
            .iter()
            .find(|(m, p, _)| *m == route.method.as_str() && *p == route.path)
            .expect("in the matrix");
        let guarded = match route.guard {
            Guard::Open => May::Anyone,
            Guard::Credentials => May::AnyoneLimited,
            Guard::User => May::SignedIn,
            Guard::UserOrTicket => May::SignedInOrTicket,
            Guard::Workspace(role) => May::AtLeast(role),
        };
        assert_eq!(*may, guarded, "{} {}", route.method, route.path);
    }
}

/// A workspace with one member of each role, and an outsider.
struct Tenancy {
    router: Router,
    id: Uuid,
    owner: Uuid,
    admin: Uuid,
    member: Uuid,
    outsider: Uuid,
}

fn tenancy() -> Tenancy {
    let (owner, admin, member, outsider) = (
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
        Uuid::now_v7(),
    );
    let id = Uuid::now_v7();
    let other = Uuid::now_v7();
    let router = World::new()
        .with_workspace(workspace(
            id,
            &[
                (owner, WireRole::Owner),
                (admin, WireRole::Admin),
                (member, WireRole::Member),
            ],
        ))
        // The outsider has a workspace of their own.
        .with_workspace(workspace(other, &[(outsider, WireRole::Owner)]))
        .router();
    Tenancy {
        router,
        id,
        owner,
        admin,
        member,
        outsider,
    }
}

fn request(
    method: &str,
    path: &str,
    workspace_id: &str,
    user: Uuid,
) -> http::Request<axum::body::Body> {
    let path = path
        .replace("{workspace_id}", workspace_id)
        .replace("{user_id}", &Uuid::now_v7().to_string())
        .replace("{invitation_id}", &Uuid::now_v7().to_string());
    let method = Method::from_bytes(method.as_bytes()).expect("a method");
    if method == Method::GET || method == Method::DELETE {
        authed(method, &path, &token_for(user))
    } else {
        json_request(method, &path, Some(&token_for(user)), &json!({}))
    }
}

#[tokio::test]
async fn below_the_least_role_is_403_and_outsiders_get_the_unknown_workspace_404() {
    let t = tenancy();
    let mut denials = 0;
    for (method, path, may) in MATRIX {
        let May::AtLeast(least) = may else { continue };
        for (user, role) in [
            (t.member, Role::Member),
            (t.admin, Role::Admin),
            (t.owner, Role::Owner),
        ] {
            if role >= *least {
                continue;
            }
            let reply = send(&t.router, request(method, path, &t.id.to_string(), user)).await;
            reply.problem(StatusCode::FORBIDDEN, "ROLE_REQUIRED");
            denials += 1;
        }

        let unknown = send(
            &t.router,
            request(method, path, &Uuid::now_v7().to_string(), t.owner),
        )
        .await;
        let unknown =
            without_request_id(unknown.problem(StatusCode::NOT_FOUND, "WORKSPACE_NOT_FOUND"));
        let outside = send(
            &t.router,
            request(method, path, &t.id.to_string(), t.outsider),
        )
        .await;
        let outside =
            without_request_id(outside.problem(StatusCode::NOT_FOUND, "WORKSPACE_NOT_FOUND"));
        assert_eq!(outside, unknown, "{method} {path}");
        let malformed = send(&t.router, request(method, path, "not-a-uuid", t.outsider)).await;
        let malformed =
            without_request_id(malformed.problem(StatusCode::NOT_FOUND, "WORKSPACE_NOT_FOUND"));
        assert_eq!(malformed, unknown, "{method} {path}");
    }
    assert_eq!(denials, 15);
}

#[tokio::test]
async fn routes_that_need_a_token_refuse_anonymous_callers() {
    let t = tenancy();
    for (method, path, may) in MATRIX {
        if matches!(may, May::Anyone | May::AnyoneLimited) {
            continue;
        }
        let path = path
            .replace("{workspace_id}", &t.id.to_string())
            .replace("{user_id}", &t.member.to_string())
            .replace("{invitation_id}", &Uuid::now_v7().to_string());
        let method = Method::from_bytes(method.as_bytes()).expect("a method");
        let reply = send(&t.router, super::bare(method, &path)).await;
        reply.problem(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn a_header_cannot_choose_the_workspace() {
    let t = tenancy();
    // The outsider owns another workspace; naming ours in a header changes nothing.
    let mut request = authed(
        Method::GET,
        &format!("/v1/workspaces/{}", t.id),
        &token_for(t.outsider),
    );
    request.headers_mut().insert(
        "x-workspace-id",
        t.id.to_string().parse().expect("a header"),
    );
    let reply = send(&t.router, request).await;
    reply.problem(StatusCode::NOT_FOUND, "WORKSPACE_NOT_FOUND");
}
