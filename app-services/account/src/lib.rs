//! Account use cases for the signed-in user (and the anonymous halves of password reset and
//! email verification): me, display name, password change, email verification, password
//! reset, erasure.
//!
//! Tokens are made here ([`ports_app::token::new_token`], naming the user) and mailed; only
//! the data service's hash of them is ever stored.

use std::sync::Arc;

use kernel_domain::{RejectionKind, text};
use ports_app::token::{new_token, token_target};
use ports_app::workspace::all_user_workspaces;
use ports_app::{
    AppError, AppResult, Ctx, ErrorKind, FieldErrors, LookupError, Mail, MailKind, Mailer, Role,
    TokenError, User, UserChangeError, UserId, UserStatus, Users, Workspace, Workspaces,
};

#[cfg(test)]
mod tests;

/// The subject of the email-verification mail.
pub const EMAIL_VERIFICATION_SUBJECT: &str = "Confirm your email address";
/// The subject of the password-reset mail.
pub const PASSWORD_RESET_SUBJECT: &str = "Reset your password";

/// How many workspaces to ask for per page when listing a user's.
const WORKSPACE_PAGE_SIZE: i32 = 1000;

/// Step names: each command's request id is `ctx.step(<name>)` (the port sends it).
const STEP_CHANGE_DISPLAY_NAME: &str = "change-display-name";
const STEP_CHANGE_PASSWORD: &str = "change-password";
const STEP_START_EMAIL_VERIFICATION: &str = "start-email-verification";
const STEP_CONFIRM_EMAIL_VERIFICATION: &str = "confirm-email-verification";
const STEP_START_PASSWORD_RESET: &str = "start-password-reset";
const STEP_COMPLETE_PASSWORD_RESET: &str = "complete-password-reset";
const STEP_ERASE: &str = "erase";

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
    pub async fn me(&self, ctx: &Ctx) -> AppResult<User> {
        let user_id = ctx.user()?;
        Ok(self.users.get_user(ctx, user_id.into()).await?)
    }

    /// Renames the signed-in user.
    pub async fn change_display_name(&self, ctx: &Ctx, display_name: String) -> AppResult<User> {
        let user_id = ctx.user()?;
        Ok(self
            .users
            .change_display_name(ctx, STEP_CHANGE_DISPLAY_NAME, user_id.into(), display_name)
            .await?)
    }

    /// Changes the password (the old one is required); every session closes. A wrong old
    /// password and a new one that breaks the rules are refused by Identity as they are.
    pub async fn change_password(
        &self,
        ctx: &Ctx,
        old_password: String,
        new_password: String,
    ) -> AppResult<()> {
        let user_id = ctx.user()?;
        self.users
            .change_password(
                ctx,
                STEP_CHANGE_PASSWORD,
                user_id.into(),
                old_password,
                new_password,
            )
            .await?;
        Ok(())
    }

    /// Mails the signed-in user a verification token; Identity keeps only its hash.
    pub async fn start_email_verification(&self, ctx: &Ctx) -> AppResult<()> {
        let user_id = ctx.user()?;
        let token = new_token(user_id);
        let user = self
            .users
            .start_email_verification(
                ctx,
                STEP_START_EMAIL_VERIFICATION,
                user_id.into(),
                token.clone(),
            )
            .await?;
        self.mailer
            .send(Mail {
                kind: MailKind::EmailVerification,
                to: user.email,
                subject: EMAIL_VERIFICATION_SUBJECT.to_owned(),
                text: format!(
                    "Confirm your email address with this token:\n\n{token}\n\n\
                     If you did not ask for this, ignore this mail.\n"
                ),
                token,
            })
            .await
    }

    /// Confirms an email address with the mailed token (no sign-in needed). A token that is
    /// malformed is `INVALID_ARGUMENT` (`INVALID_TOKEN`); one that is wrong, expired, used,
    /// or names an unknown, inactive or already verified user is refused the same way
    /// (`FAILED_PRECONDITION`, `TOKEN_INVALID`), so tokens cannot probe users.
    pub async fn confirm_email_verification(&self, ctx: &Ctx, token: String) -> AppResult<()> {
        let user_id = token_target("token", &token)?;
        self.users
            .confirm_email_verification(ctx, STEP_CONFIRM_EMAIL_VERIFICATION, user_id.into(), token)
            .await
            .map_err(as_token_refusal)?;
        Ok(())
    }

    /// Mails a reset token when the email belongs to an active user; answers the same
    /// whether or not it does. Only a malformed email (which no user can hold) and a
    /// failure to reach a service (timeout, internal, unavailable) are answered otherwise.
    pub async fn request_password_reset(&self, ctx: &Ctx, email: String) -> AppResult<()> {
        let found = self.users.lookup_user(ctx, email).await;
        let user = match found {
            Ok(user) => user,
            // A malformed email: no user can hold it, and the caller can fix it.
            Err(LookupError::MalformedEmail(error)) => return Err(error),
            Err(LookupError::NotFound(error)) => {
                tracing::debug!(code = %error.code, "password reset asked for no user");
                return Ok(());
            }
            Err(LookupError::Other(error)) if quietly_refused(&error) => {
                tracing::debug!(code = %error.code, "password reset asked for no user");
                return Ok(());
            }
            Err(LookupError::Other(error)) => return Err(error),
        };
        if user.status != UserStatus::Active {
            tracing::debug!(user = %user.id, "password reset asked for an inactive user");
            return Ok(());
        }
        let user_id = user.id;
        let token = new_token(user_id.as_uuid());
        let started = self
            .users
            .start_password_reset(ctx, STEP_START_PASSWORD_RESET, user_id, token.clone())
            .await;
        let user = match started {
            Ok(user) => user,
            Err(UserChangeError::NotFound(error)) => {
                tracing::debug!(user = %user_id, code = %error.code, "password reset refused");
                return Ok(());
            }
            // A refusal for good, or one whose outcome is open, is answered quietly unless it
            // is bad input or "not now".
            Err(UserChangeError::Refused(error) | UserChangeError::Other(error))
                if quietly_refused(&error) =>
            {
                tracing::debug!(user = %user_id, code = %error.code, "password reset refused");
                return Ok(());
            }
            Err(error) => return Err(error.into_app_error()),
        };
        self.mailer
            .send(Mail {
                kind: MailKind::PasswordReset,
                to: user.email,
                subject: PASSWORD_RESET_SUBJECT.to_owned(),
                text: format!(
                    "Set a new password with this token:\n\n{token}\n\n\
                     If you did not ask for this, ignore this mail; your password stays as it is.\n"
                ),
                token,
            })
            .await
    }

    /// Sets a new password with the mailed token; every session closes. Tokens are refused
    /// as in [`Account::confirm_email_verification`]. The whole request is checked first: a
    /// malformed token and a new password that breaks the kernel's rule (the one Identity
    /// applies, answered as Identity answers it) are reported together, and nothing is asked.
    pub async fn complete_password_reset(
        &self,
        ctx: &Ctx,
        token: String,
        new_password: String,
    ) -> AppResult<()> {
        let target = token_target("token", &token);
        let mut bad = FieldErrors::new();
        if let Err(error) = &target {
            for field in &error.fields {
                bad.add("INVALID_TOKEN", &field.field, field.description.clone());
            }
        }
        if let Err(error) = text::password(&new_password) {
            bad.add(
                "INVALID_PASSWORD",
                "new_password",
                format!("the password {error}"),
            );
        }
        bad.finish()?;
        let user_id = target?;
        self.users
            .complete_password_reset(
                ctx,
                STEP_COMPLETE_PASSWORD_RESET,
                user_id.into(),
                token,
                new_password,
            )
            .await
            .map_err(as_token_refusal)?;
        Ok(())
    }

    /// Erases the signed-in user, refused (`FAILED_PRECONDITION`, `LAST_OWNER`) while they
    /// are the only Owner of a workspace that has other members; then removes them from
    /// their workspaces. A removal that fails is logged and the rest go on: the erasure has
    /// happened, and the erased-user policy removes them too.
    pub async fn erase(&self, ctx: &Ctx) -> AppResult<()> {
        let user_id = ctx.user()?;
        let workspaces = self.user_workspaces(ctx, user_id.into()).await?;
        let user = UserId::from(user_id);
        if let Some(held) = workspaces.iter().find(|w| is_last_owner_of_others(w, user)) {
            tracing::debug!(user = %user_id, workspace = %held.id, "erasure refused: last owner");
            return Err(AppError::rejected(
                RejectionKind::FailedPrecondition,
                "LAST_OWNER",
                format!(
                    "you are the only owner of the workspace {:?}, which has other members; \
                     make another member an owner or remove the members first",
                    held.slug
                ),
            ));
        }
        self.users.erase_user(ctx, STEP_ERASE, user).await?;
        // A system policy, made for nobody.
        let system = Ctx {
            actor: None,
            ..ctx.clone()
        };
        for held in &workspaces {
            let step = format!("remove-from-{}", held.id);
            let removed = self
                .workspaces
                .remove_erased_user(&system, &step, held.id, user)
                .await;
            if let Err(error) = removed {
                let error = error.into_app_error();
                tracing::warn!(
                    user = %user_id,
                    workspace = %held.id,
                    code = %error.code,
                    error = %error,
                    "cannot remove an erased user from a workspace"
                );
            }
        }
        Ok(())
    }

    /// Every workspace the user is a member of, page after page.
    async fn user_workspaces(&self, ctx: &Ctx, user_id: UserId) -> AppResult<Vec<Workspace>> {
        all_user_workspaces(self.workspaces.as_ref(), ctx, user_id, WORKSPACE_PAGE_SIZE).await
    }
}

/// Whether `user` is the only Owner of `workspace` while it has other members.
fn is_last_owner_of_others(workspace: &Workspace, user: UserId) -> bool {
    let is_owner = workspace
        .member(user)
        .is_some_and(|member| member.role == Role::Owner);
    let other_owners = workspace
        .members_with(Role::Owner)
        .any(|m| m.user_id != user);
    let other_members = workspace.members.iter().any(|m| m.user_id != user);
    is_owner && !other_owners && other_members
}

/// Whether a password-reset step's failure that its port's variants leave open (`Other`, or
/// a command's `Refused`) is answered as if nothing was asked: every refusal except bad
/// input and "not now".
fn quietly_refused(error: &AppError) -> bool {
    match error.kind {
        ErrorKind::Rejected(RejectionKind::InvalidArgument | RejectionKind::Unavailable) => false,
        ErrorKind::Rejected(_) => true,
        ErrorKind::Timeout | ErrorKind::Internal | ErrorKind::Protocol(_) => false,
    }
}

/// Identity's answer to a token, with everything that would tell something about the user
/// the token names (unknown, erased, suspended, already verified) made the answer to a
/// wrong token.
fn as_token_refusal(error: TokenError) -> AppError {
    match error {
        TokenError::UserNotEligible(error) => {
            tracing::debug!(code = %error.code, "token refused");
            AppError::rejected(
                RejectionKind::FailedPrecondition,
                "TOKEN_INVALID",
                "the token is invalid or has expired",
            )
        }
        TokenError::Other(error) => error,
    }
}
