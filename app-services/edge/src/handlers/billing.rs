//! A workspace's subscription: plan, seats, cancel and resume.

use axum::extract::State;
use ports_app::AppResult;
use serde::Deserialize;
use utoipa::ToSchema;

use crate::json::{ApiJson, RequestBody};
use crate::openapi::Problem;
use crate::request::Tenant;
use crate::state::EdgeState;
use crate::views::{Resource, SubscriptionView};

pub use crate::views::PlanName;

/// `POST /v1/workspaces/{workspace_id}/subscription/plan`.
#[derive(Deserialize, ToSchema)]
#[schema(as = ChangePlanRequest, examples(json!({"plan": "business"})))]
pub struct ChangePlanBody {
    pub plan: PlanName,
}

impl RequestBody for ChangePlanBody {
    const REQUIRED: &'static [&'static str] = &["plan"];
}

/// `POST /v1/workspaces/{workspace_id}/subscription/seats`.
#[derive(Deserialize, ToSchema)]
#[schema(as = ChangeSeatsRequest, examples(json!({"seats": 3})))]
pub struct ChangeSeatsBody {
    #[schema(minimum = 1)]
    #[serde(deserialize_with = "crate::json::whole_number")]
    pub seats: i32,
}

impl RequestBody for ChangeSeatsBody {
    const REQUIRED: &'static [&'static str] = &["seats"];
}

/// `POST /v1/workspaces/{workspace_id}/subscription/cancel`.
#[derive(Deserialize, ToSchema)]
#[schema(as = CancelRequest, examples(json!({"at_period_end": true})))]
pub struct CancelBody {
    pub at_period_end: bool,
}

impl RequestBody for CancelBody {
    const REQUIRED: &'static [&'static str] = &["at_period_end"];
}

/// The workspace's subscription.
#[utoipa::path(get, path = "/v1/workspaces/{workspace_id}/subscription", tag = "billing", operation_id = "getSubscription",
    summary = "The workspace's subscription",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView, headers(("ETag" = String, description = "The subscription's version"))),
    ))]
pub async fn get(
    State(state): State<EdgeState>,
    tenant: Tenant,
) -> AppResult<Resource<SubscriptionView>> {
    let subscription = state
        .plans
        .subscription(&tenant.ctx, tenant.workspace_id)
        .await?;
    Ok(Resource::subscription(&subscription))
}

/// Moves to another plan.
#[utoipa::path(post, path = "/v1/workspaces/{workspace_id}/subscription/plan", tag = "billing", operation_id = "changePlan",
    summary = "Move to another plan",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND")),
    request_body = ChangePlanBody,
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView, headers(("ETag" = String, description = "The subscription's version"))),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The subscription is canceled, or the seats in use do not fit the plan", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_plan(
    State(state): State<EdgeState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<ChangePlanBody>,
) -> AppResult<Resource<SubscriptionView>> {
    let subscription = state
        .plans
        .change_plan(&tenant.ctx, tenant.workspace_id, body.plan.into())
        .await?;
    Ok(Resource::subscription(&subscription))
}

/// Changes the number of seats.
#[utoipa::path(post, path = "/v1/workspaces/{workspace_id}/subscription/seats", tag = "billing", operation_id = "changeSeats",
    summary = "Change the number of seats",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND")),
    request_body = ChangeSeatsBody,
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView, headers(("ETag" = String, description = "The subscription's version"))),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Fewer seats than in use, more than the plan allows, or the subscription is canceled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn change_seats(
    State(state): State<EdgeState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<ChangeSeatsBody>,
) -> AppResult<Resource<SubscriptionView>> {
    let subscription = state
        .plans
        .change_seats(&tenant.ctx, tenant.workspace_id, body.seats)
        .await?;
    Ok(Resource::subscription(&subscription))
}

/// Cancels now or at the period end.
#[utoipa::path(post, path = "/v1/workspaces/{workspace_id}/subscription/cancel", tag = "billing", operation_id = "cancelSubscription",
    summary = "Cancel now or at the period end",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND")),
    request_body = CancelBody,
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView, headers(("ETag" = String, description = "The subscription's version"))),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The subscription is already canceled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel(
    State(state): State<EdgeState>,
    tenant: Tenant,
    ApiJson(body): ApiJson<CancelBody>,
) -> AppResult<Resource<SubscriptionView>> {
    let subscription = state
        .plans
        .cancel(&tenant.ctx, tenant.workspace_id, body.at_period_end)
        .await?;
    Ok(Resource::subscription(&subscription))
}

/// Undoes a cancel at period end.
#[utoipa::path(post, path = "/v1/workspaces/{workspace_id}/subscription/resume", tag = "billing", operation_id = "resumeSubscription",
    summary = "Undo a cancel at period end",
    params(("workspace_id" = String, Path, format = Uuid, description = "The workspace; one that is unknown, not a UUID or not the caller's answers 404 WORKSPACE_NOT_FOUND")),
    responses(
        (status = 200, description = "The subscription", body = SubscriptionView, headers(("ETag" = String, description = "The subscription's version"))),
        (status = 409, description = "A concurrent change won (ABORTED); retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Nothing to resume", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn resume(
    State(state): State<EdgeState>,
    tenant: Tenant,
) -> AppResult<Resource<SubscriptionView>> {
    let subscription = state.plans.resume(&tenant.ctx, tenant.workspace_id).await?;
    Ok(Resource::subscription(&subscription))
}
