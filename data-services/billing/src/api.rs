//! `SubscriptionService`: every RPC parses its request into a typed command, runs it through
//! the store and renders the subscription (see `platform::endpoint`).

use billing_domain::{BillingError, Plan, Seats, Subscription, SubscriptionId, WorkspaceId};
use kernel_domain::Rejection;
use platform::{
    endpoint::Endpoint,
    rpc::{FieldCheck, parse_id},
};
use saas_proto::billing::v1::{self as pb, subscription_service_server::SubscriptionService};

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

/// Both `plan` and `seats_in_use`, every bad one reported.
fn plan_and_in_use(r: &pb::ChangePlanRequest, fields: &mut FieldCheck) -> Option<(Plan, u32)> {
    let (plan, in_use) = (
        fields.check(plan(r.plan)),
        fields.check(seats_in_use(r.seats_in_use)),
    );
    Some((plan?, in_use?))
}

/// Both `seats` and `seats_in_use`, every bad one reported.
fn seats_and_in_use(r: &pb::ChangeSeatsRequest, fields: &mut FieldCheck) -> Option<(Seats, u32)> {
    let (seats, in_use) = (
        fields.check(seats(r.seats)),
        fields.check(seats_in_use(r.seats_in_use)),
    );
    Some((seats?, in_use?))
}

platform::grpc_service! {
    impl SubscriptionService for SubscriptionApi {
        rpc get_subscription(this, request: pb::GetSubscriptionRequest) -> pb::Subscription {
            this.api.get(parse_id("id", &request.get_ref().id)).await
        }

        rpc lookup_subscription(this, request: pb::LookupSubscriptionRequest) -> pb::Subscription {
            let workspace = parse_id("workspace_id", &request.get_ref().workspace_id);
            this.api.find("workspace_id", workspace.map(|id| id.to_string())).await
        }

        rpc start_trial(this, request: pb::StartTrialRequest) -> pb::Subscription {
            let call = this.api.parse(request, |r, fields| {
                fields.check(parse_id("workspace_id", &r.workspace_id))
            })?;
            let id = SubscriptionId::from_uuid(platform::new_id());
            this.api
                .create(call, move |workspace, now| {
                    let workspace = WorkspaceId::from_uuid(*workspace);
                    Ok::<_, Rejection>(Subscription::start_trial(id, workspace, now))
                })
                .await
        }

        rpc change_plan(this, request: pb::ChangePlanRequest) -> pb::Subscription {
            let change = |s: &mut Subscription, (plan, in_use): &(Plan, u32), now| {
                s.change_plan(*plan, *in_use, now)
            };
            this.api.command(request, plan_and_in_use, change).await
        }

        rpc change_seats(this, request: pb::ChangeSeatsRequest) -> pb::Subscription {
            let change = |s: &mut Subscription, (seats, in_use): &(Seats, u32), now| {
                s.change_seats(*seats, *in_use, now)
            };
            this.api.command(request, seats_and_in_use, change).await
        }

        rpc record_payment_succeeded(this, request: pb::RecordPaymentSucceededRequest)
            -> pb::Subscription {
            this.api.run(request, |s, now| s.record_payment_succeeded(now)).await
        }

        rpc record_payment_failed(this, request: pb::RecordPaymentFailedRequest)
            -> pb::Subscription {
            this.api.run(request, |s, now| s.record_payment_failed(now)).await
        }

        rpc cancel_subscription(this, request: pb::CancelSubscriptionRequest) -> pb::Subscription {
            let at_period_end = |r: &pb::CancelSubscriptionRequest, _: &mut FieldCheck| {
                Some(r.at_period_end)
            };
            let cancel = |s: &mut Subscription, at_end: &bool, now| s.cancel(*at_end, now);
            this.api.command(request, at_period_end, cancel).await
        }

        rpc resume_subscription(this, request: pb::ResumeSubscriptionRequest) -> pb::Subscription {
            this.api.run(request, |s, now| s.resume(now)).await
        }

        rpc expire_trial(this, request: pb::ExpireTrialRequest) -> pb::Subscription {
            this.api.run(request, |s, now| s.expire_trial(now)).await
        }

        rpc end_period(this, request: pb::EndPeriodRequest) -> pb::Subscription {
            this.api.run(request, |s, now| s.end_period(now)).await
        }
    }
}
