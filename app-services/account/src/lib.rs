//! Account use cases for the signed-in user (and the anonymous halves of password reset and
//! email verification): me, display name, password change, email verification, password
//! reset, erasure.
//!
//! Tokens are made here ([`ports_app::token::new_token`], naming the user) and mailed; only
//! the data service's hash of them is ever stored.

use std::sync::Arc;

use ports_app::wire::identity;
use ports_app::{AppResult, Ctx, Mailer, Users, Workspaces};

/// The account use cases.
pub struct Account {
    users: Arc<dyn Users>,
    workspaces: Arc<dyn Workspaces>,
    mailer: Arc<dyn Mailer>,
}

impl Account {
    pub fn new(
        users: Arc<dyn Users>,
        workspaces: Arc<dyn Workspaces>,
        mailer: Arc<dyn Mailer>,
    ) -> Self {
        Account {
            users,
            workspaces,
            mailer,
        }
    }

    /// The signed-in user.
    pub async fn me(&self, ctx: &Ctx) -> AppResult<identity::User> {
        let _ = (ctx, &self.users, &self.workspaces, &self.mailer);
        todo!()
    }

    /// Renames the signed-in user.
    pub async fn change_display_name(
        &self,
        ctx: &Ctx,
        display_name: String,
    ) -> AppResult<identity::User> {
        let _ = (ctx, display_name);
        todo!()
    }

    /// Changes the password (the old one is required); every session closes.
    pub async fn change_password(
        &self,
        ctx: &Ctx,
        old_password: String,
        new_password: String,
    ) -> AppResult<()> {
        let _ = (ctx, old_password, new_password);
        todo!()
    }

    /// Mails the signed-in user a verification token.
    pub async fn start_email_verification(&self, ctx: &Ctx) -> AppResult<()> {
        let _ = ctx;
        todo!()
    }

    /// Confirms an email address with the mailed token (no sign-in needed).
    pub async fn confirm_email_verification(&self, ctx: &Ctx, token: String) -> AppResult<()> {
        let _ = (ctx, token);
        todo!()
    }

    /// Mails a reset token when the email belongs to an active user; answers the same
    /// whether or not it does.
    pub async fn request_password_reset(&self, ctx: &Ctx, email: String) -> AppResult<()> {
        let _ = (ctx, email);
        todo!()
    }

    /// Sets a new password with the mailed token; every session closes.
    pub async fn complete_password_reset(
        &self,
        ctx: &Ctx,
        token: String,
        new_password: String,
    ) -> AppResult<()> {
        let _ = (ctx, token, new_password);
        todo!()
    }

    /// Erases the signed-in user, refused (`LAST_OWNER`) while they are the last Owner of a
    /// workspace that has other members; then removes them from their workspaces.
    pub async fn erase(&self, ctx: &Ctx) -> AppResult<()> {
        let _ = ctx;
        todo!()
    }
}
