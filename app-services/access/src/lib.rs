//! Sign-up and login: the use cases that make an account and let its owner in.
//!
//! - [`Access::sign_up`]: register the user, create their workspace, start a Team trial.
//!   Each step's request id is derived from the sign-up's ([`Ctx::step`]), so a retry after a
//!   crash converges on one user, one workspace, one subscription. A step refused for good
//!   undoes the earlier ones (workspace deleted, user erased), freeing the email and slug.
//! - [`Access::login`], [`Access::refresh`], [`Access::logout`]: a session in Identity, a
//!   short-lived access JWT and a refresh token bound to that session ([`jwt`]).

pub mod jwt;

use std::sync::Arc;

use kernel_domain::Clock;
use ports_app::wire::{billing, identity, workspace};
use ports_app::{AppResult, Ctx, Subscriptions, Users, Workspaces};
use serde::Deserialize;

pub use jwt::{AccessClaims, JwtKeys, Tokens};

/// The seats a sign-up's trial (and its workspace's seat limit) start with.
pub const TRIAL_SEATS: i32 = 5;

/// What a person fills in to sign up.
#[derive(Debug, Clone, Deserialize)]
pub struct SignUpForm {
    pub email: String,
    pub password: String,
    pub display_name: String,
    pub workspace_name: String,
    pub workspace_slug: String,
}

/// What a sign-up made.
#[derive(Debug, Clone)]
pub struct SignedUp {
    pub user: identity::User,
    pub workspace: workspace::Workspace,
    pub subscription: billing::Subscription,
}

/// The sign-up and login use cases.
pub struct Access {
    users: Arc<dyn Users>,
    workspaces: Arc<dyn Workspaces>,
    subscriptions: Arc<dyn Subscriptions>,
    keys: Arc<JwtKeys>,
    clock: Arc<dyn Clock>,
}

impl Access {
    pub fn new(
        users: Arc<dyn Users>,
        workspaces: Arc<dyn Workspaces>,
        subscriptions: Arc<dyn Subscriptions>,
        keys: Arc<JwtKeys>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Access {
            users,
            workspaces,
            subscriptions,
            keys,
            clock,
        }
    }

    /// Registers the user, creates their workspace (the user its Owner, [`TRIAL_SEATS`]
    /// seats) and starts a Team trial for it.
    pub async fn sign_up(&self, ctx: &Ctx, form: SignUpForm) -> AppResult<SignedUp> {
        let _ = (
            ctx,
            form,
            &self.users,
            &self.workspaces,
            &self.subscriptions,
        );
        todo!()
    }

    /// Verifies the credentials, opens a session and issues its tokens. Unknown email, wrong
    /// password, locked, suspended or erased all answer the same `UNAUTHENTICATED`.
    pub async fn login(&self, ctx: &Ctx, email: &str, password: &str) -> AppResult<Tokens> {
        let _ = (ctx, email, password, &self.clock);
        todo!()
    }

    /// Exchanges a refresh token for new tokens while its session is open and its user
    /// active.
    pub async fn refresh(&self, ctx: &Ctx, refresh_token: &str) -> AppResult<Tokens> {
        let _ = (ctx, refresh_token);
        todo!()
    }

    /// Closes the session the access token belongs to.
    pub async fn logout(&self, ctx: &Ctx, claims: &AccessClaims) -> AppResult<()> {
        let _ = (ctx, claims);
        todo!()
    }

    /// Checks an access token (RFC 8725: algorithm, type, issuer, audience, expiry against
    /// the injected clock) and returns who it is for; `UNAUTHENTICATED` otherwise.
    pub fn authenticate(&self, access_token: &str) -> AppResult<AccessClaims> {
        self.keys.verify_access(access_token, self.clock.now())
    }
}
