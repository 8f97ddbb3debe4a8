//! Every route of the edge: each handler, described by its `#[utoipa::path]`, under the
//! [`Guard`] that runs before it. The router, the route set and the OpenAPI document are all
//! made from [`described_routes`], so they cannot disagree.

use std::collections::BTreeSet;

use axum::routing::MethodRouter;
use http::Method;
use ports_app::Role;
use utoipa::openapi::path::{PathItem, Paths};
use utoipa::openapi::{RefOr, schema::Schema};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use crate::handlers::{account, auth, billing, feed, ops, workspaces};
use crate::state::EdgeState;

/// Who may call a route, checked before its handler runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Guard {
    /// Anyone (probes, the API description, token confirmations).
    Open,
    /// Anyone, under the extra per-IP quota for credentials (sign-up, login, refresh,
    /// password reset), which keeps guessing slow.
    Credentials,
    /// A signed-in user (`Authorization: Bearer <access token>`).
    User,
    /// A signed-in user by `Authorization: Bearer <access token>`, or, for EventSource
    /// (which cannot send headers), by a single-use stream ticket in `?ticket=`.
    UserOrTicket,
    /// A signed-in member of the path's `{workspace_id}` with at least this role; a
    /// non-member is answered exactly like an unknown workspace (404).
    Workspace(Role),
}

impl Guard {
    /// Whether the route needs an access token.
    pub fn needs_token(self) -> bool {
        matches!(
            self,
            Guard::User | Guard::UserOrTicket | Guard::Workspace(_)
        )
    }
}

/// One route: its method, its path in axum's syntax (also OpenAPI's,
/// `/v1/workspaces/{workspace_id}`) and its guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub method: Method,
    pub path: String,
    pub guard: Guard,
}

/// A handler with its description (`#[utoipa::path]`) and the guard it runs under.
pub(crate) struct Described {
    pub(crate) guard: Guard,
    /// The handler shows workspace data ([`crate::request::Tenant::workspace`]): the gate
    /// reads the workspace fresh instead of deciding from its cache.
    pub(crate) reads_workspace: bool,
    pub(crate) schemas: Vec<(String, RefOr<Schema>)>,
    pub(crate) paths: Paths,
    pub(crate) handler: MethodRouter<EdgeState>,
}

fn guarded(guard: Guard, routes: UtoipaMethodRouter<EdgeState>) -> Described {
    let (schemas, paths, handler) = routes;
    Described {
        guard,
        reads_workspace: false,
        schemas,
        paths,
        handler,
    }
}

/// A handler under a [`Guard::Workspace`] that shows workspace data: its gate reads the
/// workspace and hands it over.
fn reading(guard: Guard, routes: UtoipaMethodRouter<EdgeState>) -> Described {
    Described {
        reads_workspace: true,
        ..guarded(guard, routes)
    }
}

/// Every handler of the edge under its guard: the one source of the router
/// ([`crate::router`]), the route set and the OpenAPI document ([`crate::openapi()`]).
pub(crate) fn described_routes() -> Vec<Described> {
    use Guard::{Credentials, Open, User, UserOrTicket, Workspace};
    use Role::{Admin, Member, Owner};
    vec![
        guarded(Open, routes!(ops::healthz)),
        guarded(Open, routes!(ops::readyz)),
        guarded(Open, routes!(ops::openapi_json)),
        // Access.
        guarded(Credentials, routes!(auth::sign_up)),
        guarded(Credentials, routes!(auth::login)),
        guarded(Credentials, routes!(auth::refresh)),
        guarded(User, routes!(auth::logout)),
        // Account.
        guarded(User, routes!(account::me)),
        guarded(User, routes!(account::change_display_name)),
        guarded(User, routes!(account::erase)),
        guarded(User, routes!(account::change_password)),
        guarded(User, routes!(account::start_email_verification)),
        // Feed.
        guarded(User, routes!(feed::list)),
        guarded(User, routes!(feed::mark_read)),
        guarded(User, routes!(feed::issue_stream_ticket)),
        guarded(UserOrTicket, routes!(feed::stream)),
        guarded(Open, routes!(account::confirm_email_verification)),
        guarded(Credentials, routes!(account::request_password_reset)),
        guarded(Credentials, routes!(account::complete_password_reset)),
        // Workspaces, members, invitations.
        guarded(User, routes!(workspaces::list)),
        reading(Workspace(Member), routes!(workspaces::get)),
        guarded(Workspace(Admin), routes!(workspaces::rename)),
        reading(Workspace(Member), routes!(workspaces::members)),
        guarded(Workspace(Owner), routes!(workspaces::change_role)),
        guarded(Workspace(Admin), routes!(workspaces::remove_member)),
        guarded(Workspace(Member), routes!(workspaces::leave)),
        reading(Workspace(Admin), routes!(workspaces::invitations)),
        reading(Workspace(Admin), routes!(workspaces::invite)),
        reading(Workspace(Admin), routes!(workspaces::invitation)),
        guarded(Workspace(Admin), routes!(workspaces::revoke)),
        guarded(User, routes!(workspaces::accept)),
        // Subscription.
        guarded(Workspace(Member), routes!(billing::get)),
        guarded(Workspace(Owner), routes!(billing::change_plan)),
        guarded(Workspace(Owner), routes!(billing::change_seats)),
        guarded(Workspace(Owner), routes!(billing::cancel)),
        guarded(Workspace(Owner), routes!(billing::resume)),
    ]
}

/// The method of every operation of a path item.
fn methods(item: &PathItem) -> Vec<Method> {
    [
        (Method::GET, item.get.is_some()),
        (Method::PUT, item.put.is_some()),
        (Method::POST, item.post.is_some()),
        (Method::DELETE, item.delete.is_some()),
        (Method::PATCH, item.patch.is_some()),
    ]
    .into_iter()
    .filter_map(|(method, present)| present.then_some(method))
    .collect()
}

/// Every route of the edge.
pub fn routes() -> Vec<Route> {
    described_routes()
        .into_iter()
        .flat_map(|described| {
            let guard = described.guard;
            described
                .paths
                .paths
                .into_iter()
                .flat_map(move |(path, item)| {
                    methods(&item).into_iter().map(move |method| Route {
                        method,
                        path: path.clone(),
                        guard,
                    })
                })
        })
        .collect()
}

/// The `(method, path)` of every route, e.g. `("GET", "/v1/me")`.
pub fn route_set() -> BTreeSet<(String, String)> {
    routes()
        .into_iter()
        .map(|route| (route.method.to_string(), route.path))
        .collect()
}
