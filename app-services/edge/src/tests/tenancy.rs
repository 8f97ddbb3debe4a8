//! The tenancy gate, route by route as the router guards them: below a route's least role the
//! answer is 403; outside the workspace it is a 404 identical to an unknown workspace's, so
//! ids of other tenants reveal nothing. The authorization matrix written by hand as data, and
//! its agreement with the router and the OpenAPI document, is `tests/it/authz_matrix.rs`.

use axum::Router;
use http::{Method, StatusCode};
use ports_app::Role;
use serde_json::json;
use uuid::Uuid;

use super::{World, authed, json_request, send, token_for, without_request_id, workspace};
use crate::routes::{Guard, routes};

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
                (owner, Role::Owner),
                (admin, Role::Admin),
                (member, Role::Member),
            ],
        ))
        // The outsider has a workspace of their own.
        .with_workspace(workspace(other, &[(outsider, Role::Owner)]))
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
    for route in routes() {
        let Guard::Workspace(least) = route.guard else {
            continue;
        };
        let (method, path) = (route.method.as_str(), route.path.as_str());
        for (user, role) in [
            (t.member, Role::Member),
            (t.admin, Role::Admin),
            (t.owner, Role::Owner),
        ] {
            if role >= least {
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
    // Member-level routes deny no one; admin-level ones the member; owner-level ones two.
    assert!(
        denials >= 10,
        "only {denials} denials: the gate was hardly tried"
    );
}

#[tokio::test]
async fn routes_that_need_a_token_refuse_anonymous_callers() {
    let t = tenancy();
    for route in routes()
        .into_iter()
        .filter(|route| route.guard.needs_token())
    {
        let path = route
            .path
            .replace("{workspace_id}", &t.id.to_string())
            .replace("{user_id}", &t.member.to_string())
            .replace("{invitation_id}", &Uuid::now_v7().to_string());
        let reply = send(&t.router, super::bare(route.method, &path)).await;
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

/// The gate decides from its cache (at most 1 s old) where the handler shows no workspace
/// data, and reads the workspace fresh where it does.
#[tokio::test(start_paused = true)]
async fn the_gate_decides_from_its_cache_for_one_second_where_the_handler_shows_no_workspace() {
    let (owner, member, outsider) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    let id = Uuid::now_v7();
    let world = World::new().with_workspace(workspace(
        id,
        &[(owner, Role::Owner), (member, Role::Member)],
    ));
    let reads = world.workspace_reads.clone();
    let router = world.router();
    let reads = move || reads.load(std::sync::atomic::Ordering::Relaxed);
    let rename = |user| {
        request(
            "PATCH",
            "/v1/workspaces/{workspace_id}",
            &id.to_string(),
            user,
        )
    };

    // A member below the route's role: refused, then refused from the cache.
    send(&router, rename(member))
        .await
        .problem(StatusCode::FORBIDDEN, "ROLE_REQUIRED");
    send(&router, rename(member))
        .await
        .problem(StatusCode::FORBIDDEN, "ROLE_REQUIRED");
    assert_eq!(reads(), 1, "the second decision came from the cache");
    // Not a member: the same, answered like an unknown workspace.
    for _ in 0..2 {
        send(&router, rename(outsider))
            .await
            .problem(StatusCode::NOT_FOUND, "WORKSPACE_NOT_FOUND");
    }
    assert_eq!(reads(), 2);

    // A route that shows the workspace reads it every time.
    let get = || {
        authed(
            Method::GET,
            &format!("/v1/workspaces/{id}"),
            &token_for(member),
        )
    };
    assert_eq!(send(&router, get()).await.status, StatusCode::OK);
    assert_eq!(send(&router, get()).await.status, StatusCode::OK);
    assert_eq!(reads(), 4);

    // One second after its read, an entry is no longer used.
    tokio::time::advance(std::time::Duration::from_secs(1)).await;
    send(&router, rename(outsider))
        .await
        .problem(StatusCode::NOT_FOUND, "WORKSPACE_NOT_FOUND");
    assert_eq!(reads(), 5);
}
