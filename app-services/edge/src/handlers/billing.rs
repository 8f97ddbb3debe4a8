//! A workspace's subscription: plan, seats, cancel and resume.

use axum::extract::State;
use ports_app::wire::billing;
use serde::Deserialize;

use crate::json::{ApiJson, RequestBody};
use crate::problem::ApiResult;
use crate::request::Tenant;
use crate::state::EdgeState;
use crate::views::{Resource, SubscriptionView};

/// A plan as requests name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanName {
    Free,
    Team,
    Business,
}

impl From<PlanName> for billing::Plan {
    fn from(plan: PlanName) -> Self {
        match plan {
            PlanName::Free => billing::Plan::Free,
            PlanName::Team => billing::Plan::Team,
            PlanName::Business => billing::Plan::Business,
        }
    }
}

/// `POST /v1/workspaces/{workspace_id}/subscription/plan`.
#[derive(Deserialize)]
pub struct ChangePlanBody {
    pub plan: PlanName,
}

impl RequestBody for ChangePlanBody {
    const REQUIRED: &'static [&'static str] = &["plan"];
}

/// `POST /v1/workspaces/{workspace_id}/subscription/seats`.
#[derive(Deserialize)]
pub struct ChangeSeatsBody {
    pub seats: i32,
}

impl RequestBody for ChangeSeatsBody {
    const REQUIRED: &'static [&'static str] = &["seats"];
}

/// `POST /v1/workspaces/{workspace_id}/subscription/cancel`.
#[derive(Deserialize)]
pub struct CancelBody {
    pub at_period_end: bool,
}

impl RequestBody for CancelBody {
    const REQUIRED: &'static [&'static str] = &["at_period_end"];
}

/// The workspace's subscription.
pub async fn get(
    State(state): State<EdgeState>,
    tenant: Tenant,
) -> ApiResult<Resource<SubscriptionView>> {
    let subscription = state
        .plans
        .subscription(&tenant.ctx, tenant.workspace_id)
        .await?;
    Ok(Resource::subscription(&subscription))
}

/// Moves to another plan.
pub async fn change_plan(
    State(state): State<EdgeState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<ChangePlanBody>,
) -> ApiResult<Resource<SubscriptionView>> {
    let subscription = state
        .plans
        .change_plan(&tenant.ctx, tenant.workspace_id, body.plan.into())
        .await?;
    Ok(Resource::subscription(&subscription))
}

/// Changes the number of seats.
pub async fn change_seats(
    State(state): State<EdgeState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<ChangeSeatsBody>,
) -> ApiResult<Resource<SubscriptionView>> {
    let subscription = state
        .plans
        .change_seats(&tenant.ctx, tenant.workspace_id, body.seats)
        .await?;
    Ok(Resource::subscription(&subscription))
}

/// Cancels now or at the period end.
pub async fn cancel(
    State(state): State<EdgeState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<CancelBody>,
) -> ApiResult<Resource<SubscriptionView>> {
    let subscription = state
        .plans
        .cancel(&tenant.ctx, tenant.workspace_id, body.at_period_end)
        .await?;
    Ok(Resource::subscription(&subscription))
}

/// Undoes a cancel at period end.
pub async fn resume(
    State(state): State<EdgeState>,
    tenant: Tenant,
) -> ApiResult<Resource<SubscriptionView>> {
    let subscription = state.plans.resume(&tenant.ctx, tenant.workspace_id).await?;
    Ok(Resource::subscription(&subscription))
}
