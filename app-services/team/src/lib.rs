//! Team use cases: who may act in a workspace, members with their profiles, invitations,
//! roles, leaving.
//!
//! [`Team::authorize`] is the tenancy gate every `/v1/workspaces/{workspace_id}/...` route
//! passes: a workspace the user is not a member of answers exactly like an unknown one.

use std::sync::Arc;

use ports_app::wire::{identity, workspace};
use ports_app::{AppResult, Ctx, Mailer, Subscriptions, Users, Workspaces};
use uuid::Uuid;

/// The least role a route needs, ordered Member < Admin < Owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

/// A member with their profile from Identity.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub member: workspace::Member,
    /// `None` when Identity no longer knows the user.
    pub profile: Option<identity::User>,
}

/// The team use cases.
pub struct Team {
    users: Arc<dyn Users>,
    workspaces: Arc<dyn Workspaces>,
    subscriptions: Arc<dyn Subscriptions>,
    mailer: Arc<dyn Mailer>,
}

impl Team {
    pub fn new(
        users: Arc<dyn Users>,
        workspaces: Arc<dyn Workspaces>,
        subscriptions: Arc<dyn Subscriptions>,
        mailer: Arc<dyn Mailer>,
    ) -> Self {
        Team {
            users,
            workspaces,
            subscriptions,
            mailer,
        }
    }

    /// The workspace, if the acting user is a member with at least `at_least`:
    /// `NOT_FOUND` (`WORKSPACE_NOT_FOUND`) when unknown or not a member, `PERMISSION_DENIED`
    /// (`ROLE_REQUIRED`) when the role is too low.
    pub async fn authorize(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        at_least: Role,
    ) -> AppResult<workspace::Workspace> {
        let _ = (
            ctx,
            workspace_id,
            at_least,
            &self.users,
            &self.workspaces,
            &self.subscriptions,
            &self.mailer,
        );
        todo!()
    }

    /// The acting user's workspaces, paged.
    pub async fn my_workspaces(
        &self,
        ctx: &Ctx,
        page_size: i32,
        page_token: String,
    ) -> AppResult<workspace::ListUserWorkspacesResponse> {
        let _ = (ctx, page_size, page_token);
        todo!()
    }

    /// Renames a workspace.
    pub async fn rename(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        name: String,
    ) -> AppResult<workspace::Workspace> {
        let _ = (ctx, workspace_id, name);
        todo!()
    }

    /// The members of an (already authorized) workspace with their profiles.
    pub async fn members(
        &self,
        ctx: &Ctx,
        workspace: &workspace::Workspace,
    ) -> AppResult<Vec<MemberView>> {
        let _ = (ctx, workspace);
        todo!()
    }

    /// Invites `email` with `role`, only while the subscription is Trialing or Active and a
    /// seat is free; mails the token.
    pub async fn invite(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        email: String,
        role: workspace::Role,
    ) -> AppResult<workspace::Invitation> {
        let _ = (ctx, workspace_id, email, role);
        todo!()
    }

    /// Accepts the invitation the token was mailed for, as the acting user.
    pub async fn accept(&self, ctx: &Ctx, token: String) -> AppResult<workspace::Workspace> {
        let _ = (ctx, token);
        todo!()
    }

    /// Revokes a pending invitation.
    pub async fn revoke(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        invitation_id: Uuid,
    ) -> AppResult<workspace::Workspace> {
        let _ = (ctx, workspace_id, invitation_id);
        todo!()
    }

    /// Changes a member's role.
    pub async fn change_role(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        user_id: Uuid,
        role: workspace::Role,
    ) -> AppResult<workspace::Workspace> {
        let _ = (ctx, workspace_id, user_id, role);
        todo!()
    }

    /// Removes a member.
    pub async fn remove_member(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        user_id: Uuid,
    ) -> AppResult<workspace::Workspace> {
        let _ = (ctx, workspace_id, user_id);
        todo!()
    }

    /// The acting user leaves.
    pub async fn leave(&self, ctx: &Ctx, workspace_id: Uuid) -> AppResult<()> {
        let _ = (ctx, workspace_id);
        todo!()
    }
}
