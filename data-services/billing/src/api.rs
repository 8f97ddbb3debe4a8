//! `SubscriptionService`: every RPC parses its request into a typed command, runs it through
//! the store and renders the subscription (see `platform::endpoint`).

use billing_domain::{BillingError, Plan, Seats, Subscription, SubscriptionId, WorkspaceId};
use kernel_domain::Rejection;
use platform::{endpoint::Endpoint, rpc::parse_id};
use saas_proto::billing::v1::{self as pb, subscription_service_server::SubscriptionService};
use tonic::{Request, Response, Status};

use crate::{SubscriptionSchema, SubscriptionStore, wire};

/// The `SubscriptionService` implementation.
#[derive(Clone)]
pub struct SubscriptionApi {
    api: Endpoint<SubscriptionSchema, pb::Subscription>,
}

impl SubscriptionApi {
    /// A service over a store.
    pub fn new(store: SubscriptionStore) -> Self {
        SubscriptionApi {
            api: Endpoint::new(store, wire::subscription),
        }
    }
}

fn plan(value: i32) -> Result<Plan, Rejection> {
    wire::parse_plan(value).ok_or_else(|| {
        Rejection::invalid_field(
            "INVALID_PLAN",
            "plan",
            "plan must be PLAN_FREE, PLAN_TEAM or PLAN_BUSINESS",
        )
    })
}

fn seats(value: i32) -> Result<Seats, Rejection> {
    u32::try_from(value)
        .map_err(|_| BillingError::InvalidSeats)
        .and_then(Seats::parse)
        .map_err(|e| Rejection::from(e).on_field("seats"))
}

fn seats_in_use(value: i32) -> Result<u32, Rejection> {
    u32::try_from(value).map_err(|_| {
        Rejection::invalid_field(
            "INVALID_SEATS_IN_USE",
            "seats_in_use",
            "seats_in_use must not be negative",
        )
    })
}

#[tonic::async_trait]
impl SubscriptionService for SubscriptionApi {
    async fn get_subscription(
        &self,
        request: Request<pb::GetSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        self.api.get(parse_id("id", &request.get_ref().id)).await
    }

    async fn lookup_subscription(
        &self,
        request: Request<pb::LookupSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let workspace = parse_id("workspace_id", &request.get_ref().workspace_id);
        self.api
            .find("workspace_id", workspace.map(|id| id.to_string()))
            .await
    }

    async fn start_trial(
        &self,
        request: Request<pb::StartTrialRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let call = self.api.parse(request, |r, fields| {
            fields.check(parse_id("workspace_id", &r.workspace_id))
        })?;
        let id = SubscriptionId::from_uuid(platform::new_id());
        self.api
            .create(call, |workspace, now| {
                let workspace = WorkspaceId::from_uuid(*workspace);
                Ok::<_, Rejection>(Subscription::start_trial(id, workspace, now))
            })
            .await
    }

    async fn change_plan(
        &self,
        request: Request<pb::ChangePlanRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let call = self.api.parse(request, |r, fields| {
            let (plan, in_use) = (
                fields.check(plan(r.plan)),
                fields.check(seats_in_use(r.seats_in_use)),
            );
            Some((plan?, in_use?))
        })?;
        self.api
            .update(call, |s, (plan, in_use), now| {
                s.change_plan(*plan, *in_use, now)
            })
            .await
    }

    async fn change_seats(
        &self,
        request: Request<pb::ChangeSeatsRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let call = self.api.parse(request, |r, fields| {
            let (seats, in_use) = (
                fields.check(seats(r.seats)),
                fields.check(seats_in_use(r.seats_in_use)),
            );
            Some((seats?, in_use?))
        })?;
        self.api
            .update(call, |s, (seats, in_use), now| {
                s.change_seats(*seats, *in_use, now)
            })
            .await
    }

    async fn record_payment_succeeded(
        &self,
        request: Request<pb::RecordPaymentSucceededRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let call = self.api.parse(request, |_, _| Some(()))?;
        self.api
            .update(call, |s, _, now| s.record_payment_succeeded(now))
            .await
    }

    async fn record_payment_failed(
        &self,
        request: Request<pb::RecordPaymentFailedRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let call = self.api.parse(request, |_, _| Some(()))?;
        self.api
            .update(call, |s, _, now| s.record_payment_failed(now))
            .await
    }

    async fn cancel_subscription(
        &self,
        request: Request<pb::CancelSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let call = self.api.parse(request, |r, _| Some(r.at_period_end))?;
        self.api
            .update(call, |s, at_period_end, now| s.cancel(*at_period_end, now))
            .await
    }

    async fn resume_subscription(
        &self,
        request: Request<pb::ResumeSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let call = self.api.parse(request, |_, _| Some(()))?;
        self.api.update(call, |s, _, now| s.resume(now)).await
    }

    async fn expire_trial(
        &self,
        request: Request<pb::ExpireTrialRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let call = self.api.parse(request, |_, _| Some(()))?;
        self.api.update(call, |s, _, now| s.expire_trial(now)).await
    }

    async fn end_period(
        &self,
        request: Request<pb::EndPeriodRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let call = self.api.parse(request, |_, _| Some(()))?;
        self.api.update(call, |s, _, now| s.end_period(now)).await
    }
}
