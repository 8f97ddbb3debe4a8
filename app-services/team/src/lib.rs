//! Team use cases: who may act in a workspace, members with their profiles, invitations,
//! roles, leaving.
//!
//! [`Team::authorize`] is the tenancy gate every `/v1/workspaces/{workspace_id}/...` route
//! passes: a workspace the user is not a member of answers exactly like an unknown one.
//!
//! The rules the Workspace data service enforces (who may invite, change roles or remove
//! whom, the last Owner, the seat limit) stay there; its refusals pass through unchanged.
//! The use cases add what needs other contexts: an invitation needs a Trialing or Active
//! subscription and a free seat, the invitee's account (if any) is named so a member is not
//! invited again, the token is mailed, and accepting uses the email Identity knows.

use std::collections::HashMap;
use std::sync::Arc;

use kernel_domain::{Email, Rejection, RejectionKind};
use ports_app::wire::{identity, workspace};
use ports_app::{
    AppError, AppResult, Ctx, Mail, MailKind, Mailer, SubscriptionReadError, Subscriptions, Users,
    Workspaces,
};
use uuid::Uuid;

#[cfg(test)]
mod tests;

/// How many users Identity returns in one batch read.
const USER_BATCH: usize = 100;

/// The least role a route needs, ordered Member < Admin < Owner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    /// The role a member holds on the wire; `None` for a value that names no role.
    fn from_wire(role: workspace::Role) -> Option<Role> {
        match role {
            workspace::Role::Owner => Some(Role::Owner),
            workspace::Role::Admin => Some(Role::Admin),
            workspace::Role::Member => Some(Role::Member),
            workspace::Role::Unspecified => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Role::Member => "member",
            Role::Admin => "admin",
            Role::Owner => "owner",
        }
    }
}

/// A member with their profile from Identity.
#[derive(Debug, Clone)]
pub struct MemberView {
    pub member: workspace::Member,
    /// `None` when Identity no longer knows the user. Other members see no one's sessions:
    /// the profile comes without them.
    pub profile: Option<identity::User>,
}

/// The team use cases.
pub struct Team {
    users: Arc<dyn Users>,
    workspaces: Arc<dyn Workspaces>,
    subscriptions: Arc<dyn Subscriptions>,
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

fn role_in_words(role: workspace::Role) -> &'static str {
    match role {
        workspace::Role::Owner => "an owner",
        workspace::Role::Admin => "an admin",
        workspace::Role::Member | workspace::Role::Unspecified => "a member",
    }
}

/// The invitation mail: it names the workspace and carries the token.
fn invitation_mail(to: String, workspace_name: &str, role: workspace::Role, token: String) -> Mail {
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
        let user = ctx.user()?;
        let found = self
            .workspaces
            .get_workspace(
                ctx,
                workspace::GetWorkspaceRequest {
                    id: workspace_id.to_string(),
                },
            )
            .await
            .map_err(|error| {
                if error.is(RejectionKind::NotFound) {
                    workspace_not_found()
                } else {
                    error
                }
            })?;
        let member = found
            .members
            .iter()
            .find(|member| Uuid::try_parse(&member.user_id).is_ok_and(|id| id == user))
            .ok_or_else(workspace_not_found)?;
        match Role::from_wire(member.role()) {
            Some(role) if role >= at_least => Ok(found),
            _ => Err(AppError::rejected(
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
    ) -> AppResult<workspace::ListUserWorkspacesResponse> {
        let user = ctx.user()?;
        self.workspaces
            .list_user_workspaces(
                ctx,
                workspace::ListUserWorkspacesRequest {
                    user_id: user.to_string(),
                    page_size,
                    page_token,
                },
            )
            .await
    }

    /// Renames a workspace.
    pub async fn rename(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        name: String,
    ) -> AppResult<workspace::Workspace> {
        ctx.user()?;
        self.workspaces
            .rename_workspace(
                ctx,
                workspace::RenameWorkspaceRequest {
                    id: workspace_id.to_string(),
                    request_id: ctx.step("rename"),
                    etag: String::new(),
                    name,
                },
            )
            .await
    }

    /// The members of an (already authorized) workspace with their profiles, in the
    /// workspace's member order.
    pub async fn members(
        &self,
        ctx: &Ctx,
        workspace: &workspace::Workspace,
    ) -> AppResult<Vec<MemberView>> {
        let mut profiles: HashMap<Uuid, identity::User> = HashMap::new();
        let ids: Vec<String> = workspace
            .members
            .iter()
            .map(|member| member.user_id.clone())
            .collect();
        for batch in ids.chunks(USER_BATCH) {
            let found = self
                .users
                .batch_get_users(
                    ctx,
                    identity::BatchGetUsersRequest {
                        ids: batch.to_vec(),
                    },
                )
                .await?;
            for mut user in found.users {
                if let Ok(id) = Uuid::try_parse(&user.id) {
                    user.sessions.clear();
                    profiles.insert(id, user);
                }
            }
        }
        Ok(workspace
            .members
            .iter()
            .map(|member| MemberView {
                member: member.clone(),
                profile: Uuid::try_parse(&member.user_id)
                    .ok()
                    .and_then(|id| profiles.get(&id).cloned()),
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
        checked: &workspace::Workspace,
        email: String,
        role: workspace::Role,
    ) -> AppResult<workspace::Invitation> {
        ctx.user()?;
        // The whole request first (the role is typed): a malformed address is refused as
        // the Workspace service words it, before any call.
        Email::parse(&email).map_err(|error| Rejection::from(error).on_field("email"))?;
        let workspace_id = Uuid::try_parse(&checked.id).map_err(|_| {
            AppError::internal(format!("workspace id {:?} is not a UUID", checked.id))
        })?;
        let token = ports_app::token::new_token(workspace_id);
        let (allowed, invitee) = futures::join!(
            self.ensure_subscription_allows_invitations(ctx, workspace_id),
            self.account_holding(ctx, &email),
        );
        allowed?;
        let request = workspace::InviteMemberRequest {
            id: workspace_id.to_string(),
            request_id: ctx.step("invite"),
            etag: String::new(),
            email: email.clone(),
            role: role as i32,
            token: token.clone(),
            invitee_user_id: invitee?,
        };
        let made = self.workspaces.invite_member(ctx, request).await?;
        let name = made
            .workspace
            .as_ref()
            .map_or_else(|| checked.name.clone(), |ws| ws.name.clone());
        let invitation = made.invitation.ok_or_else(|| {
            AppError::internal(format!(
                "invite to workspace {workspace_id} answered without the invitation"
            ))
        })?;
        let to = if invitation.email.is_empty() {
            email
        } else {
            invitation.email.clone()
        };
        let mail = invitation_mail(to, &name, invitation.role(), token);
        if let Err(error) = self.mailer.send(mail).await {
            tracing::warn!(
                %workspace_id,
                invitation_id = %invitation.id,
                %error,
                "invitation mail not sent, withdrawing the invitation"
            );
            let withdrawn = self
                .workspaces
                .revoke_invitation(
                    ctx,
                    workspace::RevokeInvitationRequest {
                        id: workspace_id.to_string(),
                        request_id: ctx.step("revoke-unsent"),
                        etag: String::new(),
                        invitation_id: invitation.id.clone(),
                    },
                )
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

    /// Refuses an invitation unless the workspace's subscription is Trialing or Active; a
    /// workspace without a subscription has none that is.
    async fn ensure_subscription_allows_invitations(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
    ) -> AppResult<()> {
        let inactive = || {
            AppError::rejected(
                RejectionKind::FailedPrecondition,
                "SUBSCRIPTION_INACTIVE",
                "invitations need a trialing or active subscription",
            )
        };
        match self
            .subscriptions
            .lookup_subscription(ctx, workspace_id.into())
            .await
        {
            Ok(subscription) if subscription.status.allows_invitations() => Ok(()),
            Ok(_) | Err(SubscriptionReadError::NotFound(_)) => Err(inactive()),
            Err(SubscriptionReadError::Other(error)) => Err(error),
        }
    }

    /// The id of the user who holds `email` now, or empty when nobody does (or Identity
    /// finds the address malformed: the invitation then decides).
    async fn account_holding(&self, ctx: &Ctx, email: &str) -> AppResult<String> {
        match self
            .users
            .lookup_user(
                ctx,
                identity::LookupUserRequest {
                    email: email.to_owned(),
                },
            )
            .await
        {
            Ok(user) => Ok(user.id),
            Err(error)
                if error.is(RejectionKind::NotFound)
                    || error.is(RejectionKind::InvalidArgument) =>
            {
                Ok(String::new())
            }
            Err(error) => Err(error),
        }
    }

    /// Accepts the invitation the token was mailed for, as the acting user.
    ///
    /// The token names the workspace; the invitation is the pending one sent to the email
    /// Identity knows for the user. An unknown workspace answers like a missing invitation
    /// (`INVITATION_NOT_FOUND`), so a token cannot tell which workspaces exist.
    pub async fn accept(&self, ctx: &Ctx, token: String) -> AppResult<workspace::Workspace> {
        let workspace_id = ports_app::token::token_target("token", &token)?;
        let user_id = ctx.user()?;
        let user = self
            .users
            .get_user(
                ctx,
                identity::GetUserRequest {
                    id: user_id.to_string(),
                },
            )
            .await?;
        // Joining a team is a new grant of access: only an active account may take it, even
        // with an access token issued before a suspension.
        if user.status() != identity::UserStatus::Active {
            return Err(AppError::rejected(
                RejectionKind::FailedPrecondition,
                "USER_NOT_ACTIVE",
                "only an active account can accept an invitation",
            ));
        }
        let found = self
            .workspaces
            .get_workspace(
                ctx,
                workspace::GetWorkspaceRequest {
                    id: workspace_id.to_string(),
                },
            )
            .await
            .map_err(|error| {
                if error.is(RejectionKind::NotFound) {
                    invitation_not_found()
                } else {
                    error
                }
            })?;
        let invitation = found
            .invitations
            .iter()
            .find(|invitation| {
                invitation.state() == workspace::InvitationState::Pending
                    && !user.email.is_empty()
                    && same_email(&invitation.email, &user.email)
            })
            .ok_or_else(invitation_not_found)?;
        self.workspaces
            .accept_invitation(
                ctx,
                workspace::AcceptInvitationRequest {
                    id: workspace_id.to_string(),
                    request_id: ctx.step("accept"),
                    invitation_id: invitation.id.clone(),
                    token,
                    user_email: user.email,
                },
            )
            .await
    }

    /// Revokes a pending invitation.
    pub async fn revoke(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        invitation_id: Uuid,
    ) -> AppResult<workspace::Workspace> {
        ctx.user()?;
        self.workspaces
            .revoke_invitation(
                ctx,
                workspace::RevokeInvitationRequest {
                    id: workspace_id.to_string(),
                    request_id: ctx.step("revoke"),
                    etag: String::new(),
                    invitation_id: invitation_id.to_string(),
                },
            )
            .await
    }

    /// Changes a member's role.
    pub async fn change_role(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        user_id: Uuid,
        role: workspace::Role,
    ) -> AppResult<workspace::Workspace> {
        ctx.user()?;
        self.workspaces
            .change_member_role(
                ctx,
                workspace::ChangeMemberRoleRequest {
                    id: workspace_id.to_string(),
                    request_id: ctx.step("change-role"),
                    etag: String::new(),
                    user_id: user_id.to_string(),
                    role: role as i32,
                },
            )
            .await
    }

    /// Removes a member.
    pub async fn remove_member(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        user_id: Uuid,
    ) -> AppResult<workspace::Workspace> {
        ctx.user()?;
        self.workspaces
            .remove_member(
                ctx,
                workspace::RemoveMemberRequest {
                    id: workspace_id.to_string(),
                    request_id: ctx.step("remove-member"),
                    etag: String::new(),
                    user_id: user_id.to_string(),
                },
            )
            .await
    }

    /// The acting user leaves.
    pub async fn leave(&self, ctx: &Ctx, workspace_id: Uuid) -> AppResult<()> {
        ctx.user()?;
        self.workspaces
            .leave_workspace(
                ctx,
                workspace::LeaveWorkspaceRequest {
                    id: workspace_id.to_string(),
                    request_id: ctx.step("leave"),
                    etag: String::new(),
                },
            )
            .await
            .map(|_| ())
    }
}
