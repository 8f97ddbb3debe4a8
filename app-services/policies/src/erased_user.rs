//! An erased user leaves every workspace.

use platform::consume::HandlerError;
use ports_app::workspace::all_user_workspaces;
use ports_app::{AppError, Ctx, UserId, WorkspaceChangeError, WorkspaceId};
use saas_proto::{events::v1::EventEnvelope, identity::v1::UserErased};

use crate::{ERASED_USER, Policies, USER_ERASED, event_ctx, handler_error, payload, payload_id};

/// Workspaces read per page.
const PAGE_SIZE: i32 = 100;

impl Policies {
    /// On `identity.user.erased`: removes the user from every workspace they belong to, as
    /// the system, under the request id `ctx.step("policy-erased-user/<workspace id>")` of
    /// the event for each workspace.
    ///
    /// - The Workspace context decides what removal means: a plain member is removed; the
    ///   last Owner stays as a tombstone and the workspace is archived; a user already
    ///   removed, or a tombstone of an archived workspace, changes nothing.
    /// - Every workspace is tried even when one fails; the event then fails with the first
    ///   transient failure if there was one (so the whole event is retried and the
    ///   workspaces already done replay their answers), else with the first permanent one.
    /// - A workspace that is gone by the time it is reached (`NOT_FOUND`) holds nobody and
    ///   is skipped.
    pub async fn erased_user(&self, envelope: EventEnvelope) -> Result<(), HandlerError> {
        if envelope.event_type != USER_ERASED {
            return Ok(());
        }
        let ctx = event_ctx(&envelope)?;
        let erased: UserErased = payload(&envelope, "saas.identity.v1.UserErased")?;
        let user_id = UserId::from(payload_id("user_id", &erased.user_id)?);
        let held = self
            .user_workspaces(&ctx, user_id)
            .await
            .map_err(|e| handler_error(&e))?;
        let mut failure: Option<HandlerError> = None;
        for workspace_id in held {
            let step = format!("{ERASED_USER}/{workspace_id}");
            let removed = self
                .workspaces
                .remove_erased_user(&ctx, &step, workspace_id, user_id)
                .await;
            match removed {
                Ok(updated) => tracing::debug!(
                    event_id = %envelope.event_id,
                    user = %user_id,
                    workspace = %workspace_id,
                    archived = updated.archived,
                    "an erased user left a workspace"
                ),
                Err(WorkspaceChangeError::NotFound(_)) => tracing::debug!(
                    event_id = %envelope.event_id,
                    user = %user_id,
                    workspace = %workspace_id,
                    "the workspace of an erased user is gone"
                ),
                Err(error) => {
                    let error = error.into_app_error();
                    tracing::warn!(
                        event_id = %envelope.event_id,
                        user = %user_id,
                        workspace = %workspace_id,
                        error = %error,
                        "cannot remove an erased user from a workspace"
                    );
                    let this = handler_error(&error);
                    failure = match (failure, this) {
                        (Some(HandlerError::Retry(first)), _) => Some(HandlerError::Retry(first)),
                        (_, HandlerError::Retry(retry)) => Some(HandlerError::Retry(retry)),
                        (Some(first), _) => Some(first),
                        (None, permanent) => Some(permanent),
                    };
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// The ids of every workspace `user_id` is a member of, page after page.
    async fn user_workspaces(
        &self,
        ctx: &Ctx,
        user_id: UserId,
    ) -> Result<Vec<WorkspaceId>, AppError> {
        let held = all_user_workspaces(self.workspaces.as_ref(), ctx, user_id, PAGE_SIZE).await?;
        Ok(held.into_iter().map(|workspace| workspace.id).collect())
    }
}
