//! `SubscriptionService`: parse the request into domain values, run the command pipeline,
//! render.

use billing_domain::{
    BillingError, Plan, Seats, Subscription, SubscriptionEvent, SubscriptionId, WorkspaceId,
};
use kernel_domain::{Rejection, Timestamp};
use platform::{
    rpc::{FieldCheck, Target, parse_id, parse_request_id},
    store::Command,
};
use saas_proto::billing::v1::{self as pb, subscription_service_server::SubscriptionService};
use tonic::{Request, Response, Status};

use crate::{SubscriptionStore, wire};

/// The `SubscriptionService` implementation.
#[derive(Clone)]
pub struct SubscriptionApi {
    store: SubscriptionStore,
}

impl SubscriptionApi {
    /// A service over a store.
    pub fn new(store: SubscriptionStore) -> Self {
        SubscriptionApi { store }
    }

    fn reject(&self, rejection: impl Into<Rejection>) -> Status {
        self.store.reject(&rejection.into())
    }

    /// Runs `decide` on an existing subscription as `method`, rendering it.
    async fn command<M: prost::Message>(
        &self,
        method: &'static str,
        target: Target,
        request: &M,
        mut decide: impl FnMut(
            &mut Subscription,
            Timestamp,
        ) -> Result<Vec<SubscriptionEvent>, BillingError>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let command = Command::new(method, target.request_id, request, target.expected);
        self.store
            .update(
                command,
                target.id,
                |subscription, now| decide(subscription, now).map_err(Rejection::from),
                wire::subscription,
            )
            .await
            .map(Response::new)
    }

    fn target(&self, id: &str, request_id: &str, etag: &str) -> Result<Target, Status> {
        Target::parse_alone(id, request_id, etag).map_err(|r| self.reject(r))
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
        let id = parse_id("id", &request.get_ref().id).map_err(|r| self.reject(r))?;
        let stored = self.store.get_existing(id).await?;
        Ok(Response::new(wire::subscription(&stored, self.store.now())))
    }

    async fn lookup_subscription(
        &self,
        request: Request<pb::LookupSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let workspace = parse_id("workspace_id", &request.get_ref().workspace_id)
            .map_err(|r| self.reject(r))?;
        let stored = self
            .store
            .find_existing_by("workspace_id", &workspace.to_string())
            .await?;
        Ok(Response::new(wire::subscription(&stored, self.store.now())))
    }

    async fn start_trial(
        &self,
        request: Request<pb::StartTrialRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let request_id = fields.check(parse_request_id(&request.request_id));
            let workspace = fields.check(parse_id("workspace_id", &request.workspace_id));
            platform::checked!(fields, request_id, workspace);
            Ok((request_id, WorkspaceId::from_uuid(workspace)))
        })();
        let (request_id, workspace) = parsed.map_err(|r| self.reject(r))?;
        let id = SubscriptionId::from_uuid(platform::new_id());
        self.store
            .create(
                Command::new("StartTrial", request_id, &request, None),
                |now| Ok(Subscription::start_trial(id, workspace, now)),
                wire::subscription,
            )
            .await
            .map(Response::new)
    }

    async fn change_plan(
        &self,
        request: Request<pb::ChangePlanRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target =
                Target::parse(&mut fields, &request.id, &request.request_id, &request.etag);
            let plan = fields.check(plan(request.plan));
            let in_use = fields.check(seats_in_use(request.seats_in_use));
            platform::checked!(fields, target, plan, in_use);
            Ok((target, plan, in_use))
        })();
        let (target, plan, in_use) = parsed.map_err(|r| self.reject(r))?;
        self.command("ChangePlan", target, &request, |s, now| {
            s.change_plan(plan, in_use, now)
        })
        .await
    }

    async fn change_seats(
        &self,
        request: Request<pb::ChangeSeatsRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let request = request.into_inner();
        let parsed = (|| {
            let mut fields = FieldCheck::new();
            let target =
                Target::parse(&mut fields, &request.id, &request.request_id, &request.etag);
            let seats = fields.check(seats(request.seats));
            let in_use = fields.check(seats_in_use(request.seats_in_use));
            platform::checked!(fields, target, seats, in_use);
            Ok((target, seats, in_use))
        })();
        let (target, seats, in_use) = parsed.map_err(|r| self.reject(r))?;
        self.command("ChangeSeats", target, &request, |s, now| {
            s.change_seats(seats, in_use, now)
        })
        .await
    }

    async fn record_payment_succeeded(
        &self,
        request: Request<pb::RecordPaymentSucceededRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let request = request.into_inner();
        let target = self.target(&request.id, &request.request_id, "")?;
        self.command("RecordPaymentSucceeded", target, &request, |s, now| {
            s.record_payment_succeeded(now)
        })
        .await
    }

    async fn record_payment_failed(
        &self,
        request: Request<pb::RecordPaymentFailedRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let request = request.into_inner();
        let target = self.target(&request.id, &request.request_id, "")?;
        self.command("RecordPaymentFailed", target, &request, |s, now| {
            s.record_payment_failed(now)
        })
        .await
    }

    async fn cancel_subscription(
        &self,
        request: Request<pb::CancelSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let request = request.into_inner();
        let target = self.target(&request.id, &request.request_id, &request.etag)?;
        let at_period_end = request.at_period_end;
        self.command("CancelSubscription", target, &request, |s, now| {
            s.cancel(at_period_end, now)
        })
        .await
    }

    async fn resume_subscription(
        &self,
        request: Request<pb::ResumeSubscriptionRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let request = request.into_inner();
        let target = self.target(&request.id, &request.request_id, &request.etag)?;
        self.command("ResumeSubscription", target, &request, |s, now| {
            s.resume(now)
        })
        .await
    }

    async fn expire_trial(
        &self,
        request: Request<pb::ExpireTrialRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let request = request.into_inner();
        let target = self.target(&request.id, &request.request_id, "")?;
        self.command("ExpireTrial", target, &request, |s, now| {
            s.expire_trial(now)
        })
        .await
    }

    async fn end_period(
        &self,
        request: Request<pb::EndPeriodRequest>,
    ) -> Result<Response<pb::Subscription>, Status> {
        let request = request.into_inner();
        let target = self.target(&request.id, &request.request_id, "")?;
        self.command("EndPeriod", target, &request, |s, now| s.end_period(now))
            .await
    }
}
