//! Plan and seat use cases on a workspace's subscription. Callers have already passed the
//! tenancy gate (`team-app`'s `Team::authorize`).
//!
//! Changing seats keeps "seat limit = subscription seats" without ever letting the limit fall
//! below the seats in use: lowering first lowers the workspace's seat limit (refused below
//! seats in use), then the subscription; raising changes only the subscription, and the seat
//! limit follows by event (the seat-limit policy of `policies-app` reacts to
//! `billing.subscription.seats_changed`), so for a moment after a raise the limit is still
//! the old, lower one.
//!
//! The Billing data service decides on the subscription as it finds it, so the commands
//! here carry no etag: a retry of a use case under the same request id then sends the same
//! request again and gets the original answer back. Setting the seat limit is a system
//! command of the Workspace data service and is made without an acting user.

use std::sync::Arc;

use ports_app::{
    AppError, AppResult, Ctx, Plan, Subscription, SubscriptionChangeError, Subscriptions,
    Workspace, WorkspaceId, Workspaces,
};

#[cfg(test)]
mod tests;

/// The plan and seat use cases.
pub struct Plans {
    workspaces: Arc<dyn Workspaces>,
    subscriptions: Arc<dyn Subscriptions>,
}

/// The same call made by the system rather than a person.
fn as_system(ctx: &Ctx) -> Ctx {
    Ctx {
        actor: None,
        ..ctx.clone()
    }
}

impl Plans {
    pub fn new(workspaces: Arc<dyn Workspaces>, subscriptions: Arc<dyn Subscriptions>) -> Self {
        Plans {
            workspaces,
            subscriptions,
        }
    }

    async fn workspace(&self, ctx: &Ctx, workspace_id: WorkspaceId) -> AppResult<Workspace> {
        Ok(self.workspaces.get_workspace(ctx, workspace_id).await?)
    }

    /// Sets the workspace's seat limit as the system, under the request id of `step`.
    async fn set_seat_limit(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
        step: &str,
        seat_limit: i32,
    ) -> AppResult<Workspace> {
        Ok(self
            .workspaces
            .set_seat_limit(&as_system(ctx), step, workspace_id, seat_limit)
            .await?)
    }

    async fn change_subscription_seats(
        &self,
        ctx: &Ctx,
        subscription: &Subscription,
        seats: i32,
        seats_in_use: i32,
    ) -> Result<Subscription, SubscriptionChangeError> {
        self.subscriptions
            .change_seats(ctx, "change-seats", subscription.id, seats, seats_in_use)
            .await
    }

    /// The workspace's subscription.
    pub async fn subscription(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
    ) -> AppResult<Subscription> {
        Ok(self
            .subscriptions
            .lookup_subscription(ctx, workspace_id)
            .await?)
    }

    /// Changes the plan (seats in use passed from the workspace); Billing checks that the
    /// plan holds them.
    pub async fn change_plan(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
        plan: Plan,
    ) -> AppResult<Subscription> {
        let current = self.workspace(ctx, workspace_id).await?;
        let subscription = self.subscription(ctx, workspace_id).await?;
        Ok(self
            .subscriptions
            .change_plan(
                ctx,
                "change-plan",
                subscription.id,
                plan,
                current.seats_in_use,
            )
            .await?)
    }

    /// Changes the seats, in the order described above. At least 1 seat (`INVALID_SEATS` on
    /// `seats`).
    ///
    /// - Lowering: the seat limit goes down first; when the workspace refuses (more seats in
    ///   use), the subscription is left alone. When Billing then refuses for good, the seat
    ///   limit goes back to what it was and Billing's refusal is the answer.
    /// - Raising: only the subscription; the seat limit follows by event.
    /// - The same seats: the subscription as it is, after a seat limit an earlier lowering
    ///   left above the seats came down to them. A limit below the seats is the seat-limit
    ///   policy's to raise.
    pub async fn change_seats(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
        seats: i32,
    ) -> AppResult<Subscription> {
        if seats < 1 {
            return Err(AppError::invalid_field(
                "INVALID_SEATS",
                "seats",
                "the number of seats must be at least 1",
            ));
        }
        let current = self.workspace(ctx, workspace_id).await?;
        let subscription = self.subscription(ctx, workspace_id).await?;
        if seats < subscription.seats {
            self.lower_seats(ctx, workspace_id, current, &subscription, seats)
                .await
        } else if seats > subscription.seats {
            Ok(self
                .change_subscription_seats(ctx, &subscription, seats, current.seats_in_use)
                .await?)
        } else {
            if current.seat_limit > seats {
                self.set_seat_limit(
                    ctx,
                    workspace_id,
                    &format!("lower-seat-limit/{}", current.version.to_etag()),
                    seats,
                )
                .await?;
            }
            Ok(subscription)
        }
    }

    /// Lowers the seat limit, then the subscription; puts the limit back if Billing refuses.
    ///
    /// The workspace steps are named after the workspace version they start from: after a
    /// limit was put back, a retry under the same request id lowers it again instead of
    /// replaying the first answer.
    async fn lower_seats(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
        current: Workspace,
        subscription: &Subscription,
        seats: i32,
    ) -> AppResult<Subscription> {
        let previous_limit = current.seat_limit;
        let (lowered, changed_limit) = if current.seat_limit == seats {
            (current, false)
        } else {
            let step = format!("lower-seat-limit/{}", current.version.to_etag());
            let lowered = self.set_seat_limit(ctx, workspace_id, &step, seats).await?;
            (lowered, true)
        };
        match self
            .change_subscription_seats(ctx, subscription, seats, lowered.seats_in_use)
            .await
        {
            Ok(changed) => Ok(changed),
            Err(error) => {
                if changed_limit && matches!(error, SubscriptionChangeError::Refused(_)) {
                    let step = format!("restore-seat-limit/{}", lowered.version.to_etag());
                    if let Err(restore_error) = self
                        .set_seat_limit(ctx, workspace_id, &step, previous_limit)
                        .await
                    {
                        tracing::error!(
                            %workspace_id,
                            seat_limit = previous_limit,
                            error = %restore_error,
                            "seat limit not restored after the subscription refused fewer seats"
                        );
                    }
                }
                Err(error.into())
            }
        }
    }

    /// Cancels now or at the period end.
    pub async fn cancel(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
        at_period_end: bool,
    ) -> AppResult<Subscription> {
        let subscription = self.subscription(ctx, workspace_id).await?;
        Ok(self
            .subscriptions
            .cancel_subscription(ctx, "cancel", subscription.id, at_period_end)
            .await?)
    }

    /// Undoes a cancel at period end.
    pub async fn resume(&self, ctx: &Ctx, workspace_id: WorkspaceId) -> AppResult<Subscription> {
        let subscription = self.subscription(ctx, workspace_id).await?;
        Ok(self
            .subscriptions
            .resume_subscription(ctx, "resume", subscription.id)
            .await?)
    }
}
