//! Plan and seat use cases on a workspace's subscription. Callers have already passed the
//! tenancy gate (`team-app`'s `Team::authorize`).
//!
//! Changing seats keeps "seat limit = subscription seats" without ever letting the limit fall
//! below the seats in use: lowering first lowers the workspace's seat limit (refused below
//! seats in use), then the subscription; raising first changes the subscription, then the
//! seat limit follows.

use std::sync::Arc;

use ports_app::wire::billing;
use ports_app::{AppResult, Ctx, Subscriptions, Workspaces};
use uuid::Uuid;

/// The plan and seat use cases.
pub struct Plans {
    workspaces: Arc<dyn Workspaces>,
    subscriptions: Arc<dyn Subscriptions>,
}

impl Plans {
    pub fn new(workspaces: Arc<dyn Workspaces>, subscriptions: Arc<dyn Subscriptions>) -> Self {
        Plans {
            workspaces,
            subscriptions,
        }
    }

    /// The workspace's subscription.
    pub async fn subscription(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
    ) -> AppResult<billing::Subscription> {
        let _ = (ctx, workspace_id, &self.workspaces, &self.subscriptions);
        todo!()
    }

    /// Changes the plan (seats in use passed from the workspace).
    pub async fn change_plan(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        plan: billing::Plan,
    ) -> AppResult<billing::Subscription> {
        let _ = (ctx, workspace_id, plan);
        todo!()
    }

    /// Changes the seats, in the order described above.
    pub async fn change_seats(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        seats: i32,
    ) -> AppResult<billing::Subscription> {
        let _ = (ctx, workspace_id, seats);
        todo!()
    }

    /// Cancels now or at the period end.
    pub async fn cancel(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
        at_period_end: bool,
    ) -> AppResult<billing::Subscription> {
        let _ = (ctx, workspace_id, at_period_end);
        todo!()
    }

    /// Undoes a cancel at period end.
    pub async fn resume(&self, ctx: &Ctx, workspace_id: Uuid) -> AppResult<billing::Subscription> {
        let _ = (ctx, workspace_id);
        todo!()
    }
}
