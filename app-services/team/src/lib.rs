//! Team use cases: who may act in a workspace, members with their profiles, invitations,
//! roles, leaving.
//!
//! [`Team::authorize`] is the tenancy gate every `/v1/workspaces/{workspace_id}/...` route
//! passes: a workspace the user is not a member of answers exactly like an unknown one.
//!
//! The rules the Workspace data service enforces (who may invite, change roles or remove
//! whom, the last Owner, the seat limit, the subscription's standing, which the workspace
//! follows from Billing's events) stay there; its refusals pass through unchanged. The use
//! cases add what needs other contexts: the invitee's account (if any) is named so a member
//! is not invited again, the token is mailed, and accepting uses the email Identity knows.
//!
//! Inviting costs three data-service calls in three round trips: the gate's read of the
//! workspace (reused, never read again), the invitee's account, and the invitation itself.

use std::collections::HashMap;
use std::sync::Arc;

use kernel_domain::{Email, Rejection, RejectionKind};
use ports_app::{
    Acceptance, AppError, AppResult, Ctx, Invitation, InvitationId, InvitationState, LookupError,
    Mail, MailKind, Mailer, Member, NewInvitation, Role, User, UserId, UserStatus, Users,
    Workspace, WorkspaceId, WorkspacePage, WorkspaceReadError, Workspaces,
};

#[cfg(test)]
mod tests;

/// How many users Identity returns in one batch read.
const USER_BATCH: usize = 100;

/// A member with their profile from Identity.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub member: Member,
    /// `None` when Identity no longer knows the user. Other members see no one's sessions:
    /// the profile comes without them.
    pub profile: Option<User>,
}

/// The team use cases.
pub struct Team {
    users: Arc<dyn Users>,
    workspaces: Arc<dyn Workspaces>,
    mailer: Arc<dyn Mailer>,
}

/// What an unknown workspace, and one the user is not a member of, both answer.
fn workspace_not_found() -> AppError {
    AppError::not_found("WORKSPACE_NOT_FOUND", "no such workspace")
}

/// What a token whose invitation cannot be found answers, whatever the reason.
fn invitation_not_found() -> AppError {
    AppError::not_found("INVITATION_NOT_FOUND", "no such invitation")
}

/// An email address compared the way Identity and Workspace store it (trimmed, lower-case).
fn same_email(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

fn role_in_words(role: Role) -> &'static str {
    match role {
        Role::Owner => "an owner",
        Role::Admin => "an admin",
        Role::Member => "a member",
    }
}

/// The invitation mail: it names the workspace and carries the token.
fn invitation_mail(to: String, workspace_name: &str, role: Role, token: String) -> Mail {
    Mail {
        kind: MailKind::Invitation,
        to,
        subject: format!("You are invited to {workspace_name}"),
        text: format!(
            "You are invited to join {workspace_name} as {}.\n\n\
             Sign in with this email address and accept the invitation with this token:\n\n\
             {token}\n",
            role_in_words(role)
        ),
        token,
    }
}

impl Team {
    pub fn new(
        users: Arc<dyn Users>,
        workspaces: Arc<dyn Workspaces>,
        mailer: Arc<dyn Mailer>,
    ) -> Self {
        Team {
            users,
            workspaces,
            mailer,
        }
    }

    /// The workspace, if the acting user is a member with at least `at_least`:
    /// `NOT_FOUND` (`WORKSPACE_NOT_FOUND`) when unknown or not a member, `PERMISSION_DENIED`
    /// (`ROLE_REQUIRED`) when the role is too low.
    pub async fn authorize(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
        at_least: Role,
    ) -> AppResult<Workspace> {
        let user = UserId::from(ctx.user()?);
        let found = self.read_workspace(ctx, workspace_id).await?;
        Self::admit(found.member(user).map(|member| member.role), at_least)?;
        Ok(found)
    }

    /// The workspace as the Workspace service holds it now, before any membership check
    /// (the gate's cache keeps what it says of the user; see [`Team::admit`]). An unknown
    /// workspace is `WORKSPACE_NOT_FOUND`.
    pub async fn read_workspace(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
    ) -> AppResult<Workspace> {
        match self.workspaces.get_workspace(ctx, workspace_id).await {
            Ok(found) => Ok(found),
            Err(WorkspaceReadError::NotFound(_)) => Err(workspace_not_found()),
            Err(WorkspaceReadError::Other(error)) => Err(error),
        }
    }

    /// The gate's decision for a user holding `role` (`None`: not a member) on a route
    /// needing `at_least`: a non-member is answered like an unknown workspace (404
    /// `WORKSPACE_NOT_FOUND`), a role too low is 403 `ROLE_REQUIRED`.
    pub fn admit(role: Option<Role>, at_least: Role) -> AppResult<()> {
        match role {
            None => Err(workspace_not_found()),
            Some(role) if role >= at_least => Ok(()),
            Some(_) => Err(AppError::rejected(
                RejectionKind::PermissionDenied,
                "ROLE_REQUIRED",
                format!("this needs the {} role", at_least.name()),
            )),
        }
    }

    /// The acting user's workspaces, paged.
    pub async fn my_workspaces(
        &self,
        ctx: &Ctx,
        page_size: i32,
        page_token: String,
    ) -> AppResult<WorkspacePage> {
        let user = ctx.user()?;
        self.workspaces
            .list_user_workspaces(ctx, user.into(), page_size, page_token)
            .await
    }

    /// Renames a workspace.
    pub async fn rename(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
        name: String,
    ) -> AppResult<Workspace> {
        ctx.user()?;
        Ok(self
            .workspaces
            .rename_workspace(ctx, "rename", workspace_id, name)
            .await?)
    }

    /// The members of an (already authorized) workspace with their profiles, in the
    /// workspace's member order.
    pub async fn members(&self, ctx: &Ctx, workspace: &Workspace) -> AppResult<Vec<MemberView>> {
        let mut profiles: HashMap<UserId, User> = HashMap::new();
        let ids: Vec<UserId> = workspace.members.iter().map(|m| m.user_id).collect();
        for batch in ids.chunks(USER_BATCH) {
            for mut user in self.users.batch_get_users(ctx, batch.to_vec()).await? {
                user.sessions.clear();
                profiles.insert(user.id, user);
            }
        }
        Ok(workspace
            .members
            .iter()
            .map(|member| MemberView {
                member: member.clone(),
                profile: profiles.get(&member.user_id).cloned(),
            })
            .collect())
    }

    /// Invites `email` with `role` to the workspace the tenancy gate read
    /// ([`Team::authorize`]), only while the subscription is Trialing or Active; mails the
    /// token.
    ///
    /// Three round trips, four calls: the gate's read, then the subscription and the
    /// invitee's account looked up at once, then the invitation. The Workspace data service
    /// checks the seat limit, membership and who may invite whom atomically, so nothing is
    /// pre-checked here and no etag is sent: a concurrent change cannot make the invitation
    /// break a rule, only lose a seat race (`SEAT_LIMIT_REACHED`). If the mail cannot be
    /// sent, the invitation is withdrawn again, so no seat is held by an invitation nobody
    /// received.
    pub async fn invite(
        &self,
        ctx: &Ctx,
        checked: &Workspace,
        email: String,
        role: Role,
    ) -> AppResult<Invitation> {
        ctx.user()?;
        // The whole request first (the role is typed): a malformed address is refused as
        // the Workspace service words it, before any call.
        Email::parse(&email).map_err(|error| Rejection::from(error).on_field("email"))?;
        let workspace_id = checked.id;
        let token = ports_app::token::new_token(workspace_id.as_uuid());
        let invitation = NewInvitation {
            email: email.clone(),
            role,
            token: token.clone(),
            invitee: self.account_holding(ctx, &email).await?,
        };
        let (workspace, invitation) = self
            .workspaces
            .invite_member(ctx, "invite", workspace_id, invitation)
            .await?;
        let to = if invitation.email.is_empty() {
            email
        } else {
            invitation.email.clone()
        };
        let mail = invitation_mail(to, &workspace.name, invitation.role, token);
        if let Err(error) = self.mailer.send(mail).await {
            tracing::warn!(
                %workspace_id,
                invitation_id = %invitation.id,
                %error,
                "invitation mail not sent, withdrawing the invitation"
            );
            let withdrawn = self
                .workspaces
                .revoke_invitation(ctx, "revoke-unsent", workspace_id, invitation.id)
                .await;
            if let Err(revoke_error) = withdrawn {
                tracing::error!(
                    %workspace_id,
                    invitation_id = %invitation.id,
                    error = %revoke_error,
                    "could not withdraw an invitation whose mail was not sent"
                );
            }
            return Err(error);
        }
        Ok(invitation)
    }

    /// The id of the user who holds `email` now, or `None` when nobody does (or Identity
    /// finds the address malformed: the invitation then decides).
    async fn account_holding(&self, ctx: &Ctx, email: &str) -> AppResult<Option<UserId>> {
        match self.users.lookup_user(ctx, email.to_owned()).await {
            Ok(user) => Ok(Some(user.id)),
            Err(LookupError::NotFound(_) | LookupError::MalformedEmail(_)) => Ok(None),
            Err(LookupError::Other(error)) => Err(error),
        }
    }

    /// Accepts the invitation the token was mailed for, as the acting user.
    ///
    /// The token names the workspace; the invitation is the pending one sent to the email
    /// Identity knows for the user. An unknown workspace answers like a missing invitation
    /// (`INVITATION_NOT_FOUND`), so a token cannot tell which workspaces exist.
    pub async fn accept(&self, ctx: &Ctx, token: String) -> AppResult<Workspace> {
        let workspace_id = WorkspaceId::from(ports_app::token::token_target("token", &token)?);
        let user_id = ctx.user()?;
        let user = self.users.get_user(ctx, user_id.into()).await?;
        // Joining a team is a new grant of access: only an active account may take it, even
        // with an access token issued before a suspension.
        if user.status != UserStatus::Active {
            return Err(AppError::rejected(
                RejectionKind::FailedPrecondition,
                "USER_NOT_ACTIVE",
                "only an active account can accept an invitation",
            ));
        }
        let found = match self.workspaces.get_workspace(ctx, workspace_id).await {
            Ok(found) => found,
            Err(WorkspaceReadError::NotFound(_)) => return Err(invitation_not_found()),
            Err(WorkspaceReadError::Other(error)) => return Err(error),
        };
        let invitation = found
            .invitations
            .iter()
            .find(|invitation| {
                invitation.state == InvitationState::Pending
                    && !user.email.is_empty()
                    && same_email(&invitation.email, &user.email)
            })
            .ok_or_else(invitation_not_found)?;
        let acceptance = Acceptance {
            invitation_id: invitation.id,
            token,
            user_email: user.email,
        };
        Ok(self
            .workspaces
            .accept_invitation(ctx, "accept", workspace_id, acceptance)
            .await?)
    }

    /// Revokes a pending invitation.
    pub async fn revoke(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
        invitation_id: InvitationId,
    ) -> AppResult<Workspace> {
        ctx.user()?;
        Ok(self
            .workspaces
            .revoke_invitation(ctx, "revoke", workspace_id, invitation_id)
            .await?)
    }

    /// Changes a member's role.
    pub async fn change_role(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
        user_id: UserId,
        role: Role,
    ) -> AppResult<Workspace> {
        ctx.user()?;
        Ok(self
            .workspaces
            .change_member_role(ctx, "change-role", workspace_id, user_id, role)
            .await?)
    }

    /// Removes a member.
    pub async fn remove_member(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
        user_id: UserId,
    ) -> AppResult<Workspace> {
        ctx.user()?;
        Ok(self
            .workspaces
            .remove_member(ctx, "remove-member", workspace_id, user_id)
            .await?)
    }

    /// The acting user leaves; answers the workspace without them.
    pub async fn leave(&self, ctx: &Ctx, workspace_id: WorkspaceId) -> AppResult<Workspace> {
        ctx.user()?;
        Ok(self
            .workspaces
            .leave_workspace(ctx, "leave", workspace_id)
            .await?)
    }
}
