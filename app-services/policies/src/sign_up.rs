//! A sign-up that did not complete within its window is undone, unless its trial started.

use platform::consume::HandlerError;
use ports_app::sign_up::{COMPLETE, UNDO_CREATE_WORKSPACE, UNDO_REGISTER};
use ports_app::workspace::all_user_workspaces;
use ports_app::{
    Ctx, Role, SignUpState, SubscriptionReadError, UserChangeError, UserId, UserReadError,
    UserStatus, Workspace, WorkspaceChangeError,
};
use saas_proto::{events::v1::EventEnvelope, identity::v1::UserSignUpUnfinished};

use crate::{Policies, SIGN_UP_UNFINISHED, handler_error, payload, payload_id};

/// Workspaces read per page.
const PAGE_SIZE: i32 = 100;

impl Policies {
    /// On `identity.user.sign_up_unfinished`: finishes the sign-up's undo, or completes it
    /// when its trial started. Its commands are the sign-up's own: the context's request id
    /// is the sign-up's (from the payload), so every step's request id is the one the sign-up
    /// itself sends ([`ports_app::sign_up`]); an undo the sign-up already made replays, and a
    /// sign-up's late step replays this policy's.
    ///
    /// 1. The user as they are now: erased (undone already), gone, or with no pending
    ///    sign-up (completed since): nothing to do.
    /// 2. The sign-up's workspace is one the user holds alone as its Owner (the sign-up made
    ///    them its only member). If Billing has a subscription for it, the trial started and
    ///    the sign-up stands: it is marked complete and **nothing is undone** (a workspace
    ///    whose subscription started is never deleted).
    /// 3. Otherwise each such workspace is deleted, as the user (Workspace deletes only a
    ///    pristine workspace its creator asks to delete; one already gone is skipped), then
    ///    the user is erased (freeing the email; an erasure already made replays).
    ///
    /// Any transient failure retries the event; should it be parked, Identity announces the
    /// sign-up again later (twice the pause each time, at most hourly) with a new event, so
    /// the undo is driven until it completes. A workspace Workspace refuses to delete (it was
    /// used: someone else joined, an invitation was sent) is a permanent failure, parked for
    /// an operator, and the user is then left alone.
    pub async fn unfinished_sign_up(&self, envelope: EventEnvelope) -> Result<(), HandlerError> {
        if envelope.event_type != SIGN_UP_UNFINISHED {
            return Ok(());
        }
        let unfinished: UserSignUpUnfinished =
            payload(&envelope, "saas.identity.v1.UserSignUpUnfinished")?;
        let user_id = UserId::from(payload_id("user_id", &unfinished.user_id)?);
        let sign_up_id = payload_id("sign_up_id", &unfinished.sign_up_id)?;
        let ctx = Ctx {
            actor: None,
            request_id: sign_up_id,
            correlation_id: envelope.event_id.clone(),
            deadline: None,
        };

        let user = match self.users.get_user(&ctx, user_id).await {
            Ok(user) => user,
            Err(UserReadError::NotFound(_)) => return Ok(()),
            Err(UserReadError::Other(error)) => return Err(handler_error(&error)),
        };
        if user.status == UserStatus::Erased || user.sign_up == SignUpState::Complete {
            tracing::debug!(
                event_id = %envelope.event_id,
                user = %user_id,
                "an unfinished sign-up was completed or undone already"
            );
            return Ok(());
        }

        let held = all_user_workspaces(self.workspaces.as_ref(), &ctx, user_id, PAGE_SIZE)
            .await
            .map_err(|e| handler_error(&e))?;
        let made: Vec<&Workspace> = held
            .iter()
            .filter(|workspace| {
                workspace.members.len() == 1
                    && workspace
                        .member(user_id)
                        .is_some_and(|member| member.role == Role::Owner)
            })
            .collect();
        for workspace in &made {
            match self
                .subscriptions
                .lookup_subscription(&ctx, workspace.id)
                .await
            {
                Ok(_) => return self.complete(&ctx, &envelope, user_id).await,
                Err(SubscriptionReadError::NotFound(_)) => {}
                Err(SubscriptionReadError::Other(error)) => return Err(handler_error(&error)),
            }
        }

        let actor = ctx.acting_as(user_id.as_uuid());
        for workspace in made {
            let deleted = self
                .workspaces
                .delete_workspace(&actor, UNDO_CREATE_WORKSPACE, workspace.id)
                .await;
            match deleted {
                Ok(()) | Err(WorkspaceChangeError::NotFound(_)) => {}
                Err(error) => {
                    let error = error.into_app_error();
                    tracing::warn!(
                        event_id = %envelope.event_id,
                        user = %user_id,
                        workspace = %workspace.id,
                        error = %error,
                        "cannot delete the workspace of an unfinished sign-up"
                    );
                    return Err(handler_error(&error));
                }
            }
        }
        match self.users.erase_user(&ctx, UNDO_REGISTER, user_id).await {
            Ok(_) | Err(UserChangeError::NotFound(_)) => {}
            // Erased since it was read: the undo is done.
            Err(UserChangeError::Refused(error)) if error.code == "USER_ERASED" => {}
            Err(error) => return Err(handler_error(error.app_error())),
        }
        tracing::info!(
            event_id = %envelope.event_id,
            user = %user_id,
            sign_up = %sign_up_id,
            "an unfinished sign-up was undone"
        );
        Ok(())
    }

    /// The sign-up's trial started: it stands, and Identity is told so.
    async fn complete(
        &self,
        ctx: &Ctx,
        envelope: &EventEnvelope,
        user_id: UserId,
    ) -> Result<(), HandlerError> {
        match self.users.complete_sign_up(ctx, COMPLETE, user_id).await {
            Ok(_) => {
                tracing::info!(
                    event_id = %envelope.event_id,
                    user = %user_id,
                    "an unfinished sign-up whose trial started was completed"
                );
                Ok(())
            }
            // Erased meanwhile (the account was closed): nothing left to complete.
            Err(UserChangeError::Refused(error)) if error.code == "USER_ERASED" => Ok(()),
            Err(UserChangeError::NotFound(_)) => Ok(()),
            Err(error) => Err(handler_error(error.app_error())),
        }
    }
}
