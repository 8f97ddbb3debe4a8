//! The route table: every route of the edge with its method, path, guard and handler. The
//! router, the OpenAPI document and the tests all read it, so they cannot disagree unnoticed.

use std::collections::BTreeSet;

use axum::handler::Handler;
use axum::routing::{MethodFilter, MethodRouter, on};
use http::Method;
use team_app::Role;

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

/// One route.
pub struct Route {
    pub method: Method,
    /// The path in axum's syntax, which is also OpenAPI's (`/v1/workspaces/{workspace_id}`).
    pub path: &'static str,
    pub guard: Guard,
    pub handler: MethodRouter<EdgeState>,
}

impl Route {
    fn new<H, T>(method: Method, path: &'static str, guard: Guard, handler: H) -> Route
    where
        H: Handler<T, EdgeState>,
        T: 'static,
    {
        // The table below only uses methods a filter exists for.
        let filter = MethodFilter::try_from(method.clone()).unwrap_or(MethodFilter::GET);
        Route {
            method,
            path,
            guard,
            handler: on(filter, handler),
        }
    }
}

/// Every route of the edge.
pub fn routes() -> Vec<Route> {
    use Guard::{Credentials, Open, User, UserOrTicket, Workspace};
    use Method as M;
    use Role::{Admin, Member, Owner};
    vec![
        Route::new(M::GET, "/healthz", Open, ops::healthz),
        Route::new(M::GET, "/readyz", Open, ops::readyz),
        Route::new(M::GET, "/openapi.json", Open, ops::openapi_json),
        // Access.
        Route::new(M::POST, "/v1/signup", Credentials, auth::sign_up),
        Route::new(M::POST, "/v1/auth/login", Credentials, auth::login),
        Route::new(M::POST, "/v1/auth/refresh", Credentials, auth::refresh),
        Route::new(M::POST, "/v1/auth/logout", User, auth::logout),
        // Account.
        Route::new(M::GET, "/v1/me", User, account::me),
        Route::new(M::PATCH, "/v1/me", User, account::change_display_name),
        Route::new(M::DELETE, "/v1/me", User, account::erase),
        Route::new(M::POST, "/v1/me/password", User, account::change_password),
        Route::new(
            M::POST,
            "/v1/me/email-verification",
            User,
            account::start_email_verification,
        ),
        // Feed.
        Route::new(M::GET, "/v1/me/feed", User, feed::list),
        Route::new(M::POST, "/v1/me/feed/read", User, feed::mark_read),
        Route::new(
            M::POST,
            "/v1/me/feed/stream-tickets",
            User,
            feed::issue_stream_ticket,
        ),
        Route::new(M::GET, "/v1/me/feed/stream", UserOrTicket, feed::stream),
        Route::new(
            M::POST,
            "/v1/email-verification/confirm",
            Open,
            account::confirm_email_verification,
        ),
        Route::new(
            M::POST,
            "/v1/password-reset",
            Credentials,
            account::request_password_reset,
        ),
        Route::new(
            M::POST,
            "/v1/password-reset/confirm",
            Credentials,
            account::complete_password_reset,
        ),
        // Workspaces, members, invitations.
        Route::new(M::GET, "/v1/workspaces", User, workspaces::list),
        Route::new(
            M::GET,
            "/v1/workspaces/{workspace_id}",
            Workspace(Member),
            workspaces::get,
        ),
        Route::new(
            M::PATCH,
            "/v1/workspaces/{workspace_id}",
            Workspace(Admin),
            workspaces::rename,
        ),
        Route::new(
            M::GET,
            "/v1/workspaces/{workspace_id}/members",
            Workspace(Member),
            workspaces::members,
        ),
        Route::new(
            M::PATCH,
            "/v1/workspaces/{workspace_id}/members/{user_id}",
            Workspace(Owner),
            workspaces::change_role,
        ),
        Route::new(
            M::DELETE,
            "/v1/workspaces/{workspace_id}/members/{user_id}",
            Workspace(Admin),
            workspaces::remove_member,
        ),
        Route::new(
            M::POST,
            "/v1/workspaces/{workspace_id}/leave",
            Workspace(Member),
            workspaces::leave,
        ),
        Route::new(
            M::GET,
            "/v1/workspaces/{workspace_id}/invitations",
            Workspace(Admin),
            workspaces::invitations,
        ),
        Route::new(
            M::POST,
            "/v1/workspaces/{workspace_id}/invitations",
            Workspace(Admin),
            workspaces::invite,
        ),
        Route::new(
            M::DELETE,
            "/v1/workspaces/{workspace_id}/invitations/{invitation_id}",
            Workspace(Admin),
            workspaces::revoke,
        ),
        Route::new(M::POST, "/v1/invitations/accept", User, workspaces::accept),
        // Subscription.
        Route::new(
            M::GET,
            "/v1/workspaces/{workspace_id}/subscription",
            Workspace(Member),
            billing::get,
        ),
        Route::new(
            M::POST,
            "/v1/workspaces/{workspace_id}/subscription/plan",
            Workspace(Owner),
            billing::change_plan,
        ),
        Route::new(
            M::POST,
            "/v1/workspaces/{workspace_id}/subscription/seats",
            Workspace(Owner),
            billing::change_seats,
        ),
        Route::new(
            M::POST,
            "/v1/workspaces/{workspace_id}/subscription/cancel",
            Workspace(Owner),
            billing::cancel,
        ),
        Route::new(
            M::POST,
            "/v1/workspaces/{workspace_id}/subscription/resume",
            Workspace(Owner),
            billing::resume,
        ),
    ]
}

/// The `(method, path)` of every route, e.g. `("GET", "/v1/me")`.
pub fn route_set() -> BTreeSet<(String, String)> {
    routes()
        .into_iter()
        .map(|route| (route.method.to_string(), route.path.to_owned()))
        .collect()
}
