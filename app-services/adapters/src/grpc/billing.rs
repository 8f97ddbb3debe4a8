//! [`Subscriptions`] over `saas.billing.v1.SubscriptionService`: the application's
//! [`Subscription`] to and from the wire, and each failure sorted into the method's error.

use async_trait::async_trait;
use kernel_domain::{Timestamp, Version};
use ports_app::{
    AppError, AppResult, Ctx, Plan, StartTrialError, Subscription, SubscriptionChangeError,
    SubscriptionId, SubscriptionReadError, SubscriptionStatus, Subscriptions, WorkspaceId,
};
use saas_proto::billing::v1 as billing;

use super::{GrpcSubscriptions, status_to_error};

/// One unary call of [`GrpcSubscriptions`]: its answer as the application's
/// [`Subscription`], its failure classified into the method's error.
macro_rules! subscription_call {
    ($self:ident, $ctx:ident, read $method:ident($request:expr)) => {
        subscription_call!(@kind $self, $ctx, Read, $method($request))
    };
    ($self:ident, $ctx:ident, unrepeatable $method:ident($request:expr)) => {
        subscription_call!(@kind $self, $ctx, Unrepeatable, $method($request))
    };
    ($self:ident, $ctx:ident, $method:ident($request:expr)) => {
        subscription_call!(@kind $self, $ctx, Command, $method($request))
    };
    (@kind $self:ident, $ctx:ident, $kind:ident, $method:ident($request:expr)) => {{
        match send!($self, $ctx, $kind, $method($request)) {
            Ok(response) => subscription_from_wire(response.into_inner()).map_err(Into::into),
            Err(status) => Err(status_to_error(status).into()),
        }
    }};
}

#[async_trait]
impl Subscriptions for GrpcSubscriptions {
    async fn get_subscription(
        &self,
        ctx: &Ctx,
        id: SubscriptionId,
    ) -> Result<Subscription, SubscriptionReadError> {
        let request = billing::GetSubscriptionRequest { id: id.to_string() };
        subscription_call!(self, ctx, read get_subscription(request))
    }

    async fn lookup_subscription(
        &self,
        ctx: &Ctx,
        workspace_id: WorkspaceId,
    ) -> Result<Subscription, SubscriptionReadError> {
        let request = billing::LookupSubscriptionRequest {
            workspace_id: workspace_id.to_string(),
        };
        subscription_call!(self, ctx, read lookup_subscription(request))
    }

    async fn start_trial(
        &self,
        ctx: &Ctx,
        step: &str,
        workspace_id: WorkspaceId,
    ) -> Result<Subscription, StartTrialError> {
        let request = billing::StartTrialRequest {
            request_id: ctx.step(step),
            workspace_id: workspace_id.to_string(),
        };
        subscription_call!(self, ctx, start_trial(request))
    }

    async fn change_plan(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
        plan: Plan,
        seats_in_use: i32,
    ) -> Result<Subscription, SubscriptionChangeError> {
        let request = billing::ChangePlanRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            plan: plan_to_wire(plan) as i32,
            seats_in_use,
        };
        subscription_call!(self, ctx, change_plan(request))
    }

    async fn change_seats(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
        seats: i32,
        seats_in_use: i32,
    ) -> Result<Subscription, SubscriptionChangeError> {
        let request = billing::ChangeSeatsRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            seats,
            seats_in_use,
        };
        subscription_call!(self, ctx, change_seats(request))
    }

    async fn cancel_subscription(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
        at_period_end: bool,
    ) -> Result<Subscription, SubscriptionChangeError> {
        let request = billing::CancelSubscriptionRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            at_period_end,
        };
        subscription_call!(self, ctx, cancel_subscription(request))
    }

    async fn resume_subscription(
        &self,
        ctx: &Ctx,
        step: &str,
        id: SubscriptionId,
    ) -> Result<Subscription, SubscriptionChangeError> {
        let request = billing::ResumeSubscriptionRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
        };
        subscription_call!(self, ctx, resume_subscription(request))
    }
}

/// A plan as the published language names it.
pub fn plan_to_wire(plan: Plan) -> billing::Plan {
    match plan {
        Plan::Free => billing::Plan::Free,
        Plan::Team => billing::Plan::Team,
        Plan::Business => billing::Plan::Business,
    }
}

/// A plan of the published language; `None` for an unspecified one.
pub fn plan_from_wire(plan: billing::Plan) -> Option<Plan> {
    match plan {
        billing::Plan::Free => Some(Plan::Free),
        billing::Plan::Team => Some(Plan::Team),
        billing::Plan::Business => Some(Plan::Business),
        billing::Plan::Unspecified => None,
    }
}

/// A subscription status of the published language; `None` for an unspecified one.
pub fn status_from_wire(status: billing::SubscriptionStatus) -> Option<SubscriptionStatus> {
    match status {
        billing::SubscriptionStatus::Trialing => Some(SubscriptionStatus::Trialing),
        billing::SubscriptionStatus::Active => Some(SubscriptionStatus::Active),
        billing::SubscriptionStatus::PastDue => Some(SubscriptionStatus::PastDue),
        billing::SubscriptionStatus::Canceled => Some(SubscriptionStatus::Canceled),
        billing::SubscriptionStatus::Unspecified => None,
    }
}

/// A wire time as the application's; `None` when absent or out of range.
pub fn time_from_wire(time: Option<&prost_types::Timestamp>) -> Option<Timestamp> {
    let time = time?;
    let nanos = u32::try_from(time.nanos).ok()?;
    Timestamp::from_timestamp(time.seconds, nanos)
}

/// Billing's subscription as the application's. A message Billing could not have sent (an
/// id that is not a UUID, an unspecified enum, an etag it never issues, no create time) is
/// an internal fault.
pub fn subscription_from_wire(wire: billing::Subscription) -> AppResult<Subscription> {
    let malformed = |what: &str| {
        AppError::internal(format_args!("Billing answered a subscription with {what}"))
    };
    let id = uuid::Uuid::try_parse(&wire.id).map_err(|_| malformed("a malformed id"))?;
    let workspace_id = uuid::Uuid::try_parse(&wire.workspace_id)
        .map_err(|_| malformed("a malformed workspace id"))?;
    Ok(Subscription {
        id: SubscriptionId::from_uuid(id),
        workspace_id: WorkspaceId::from_uuid(workspace_id),
        plan: plan_from_wire(wire.plan()).ok_or_else(|| malformed("no plan"))?,
        seats: wire.seats,
        status: status_from_wire(wire.status()).ok_or_else(|| malformed("no status"))?,
        trial_end_time: time_from_wire(wire.trial_end_time.as_ref()),
        period_end_time: time_from_wire(wire.period_end_time.as_ref()),
        cancel_at_period_end: wire.cancel_at_period_end,
        cancel_time: time_from_wire(wire.cancel_time.as_ref()),
        monthly_amount_minor: wire.monthly_amount_minor,
        currency_code: wire.currency_code,
        version: Version::parse_etag(&wire.etag).map_err(|_| malformed("a malformed etag"))?,
        create_time: time_from_wire(wire.create_time.as_ref())
            .ok_or_else(|| malformed("no create time"))?,
        update_time: time_from_wire(wire.update_time.as_ref())
            .ok_or_else(|| malformed("no update time"))?,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use ports_app::ErrorKind;
    use tonic::{Code, Status};
    use tonic_types::{ErrorDetails, StatusExt};

    use super::*;

    fn with_info(code: Code, message: &str, reason: &str, domain: &str) -> Status {
        Status::with_error_details(
            code,
            message,
            ErrorDetails::with_error_info(reason, domain, HashMap::<String, String>::new()),
        )
    }

    fn a_wire_subscription() -> billing::Subscription {
        let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
        billing::Subscription {
            id: uuid::Uuid::now_v7().to_string(),
            workspace_id: uuid::Uuid::now_v7().to_string(),
            plan: billing::Plan::Business as i32,
            seats: 12,
            status: billing::SubscriptionStatus::PastDue as i32,
            trial_end_time: None,
            period_end_time: at(1_750_000_000),
            cancel_at_period_end: true,
            cancel_time: None,
            monthly_amount_minor: 18_000,
            currency_code: "USD".into(),
            etag: "W/\"v4\"".into(),
            create_time: at(1_740_000_000),
            update_time: at(1_745_000_000),
        }
    }

    #[test]
    fn a_wire_subscription_becomes_the_applications_field_by_field() {
        let wire = a_wire_subscription();
        let app = subscription_from_wire(wire.clone()).unwrap();
        assert_eq!(app.id.to_string(), wire.id);
        assert_eq!(app.workspace_id.to_string(), wire.workspace_id);
        assert_eq!(app.plan, Plan::Business);
        assert_eq!(app.seats, 12);
        assert_eq!(app.status, SubscriptionStatus::PastDue);
        assert_eq!(app.trial_end_time, None);
        assert_eq!(
            app.period_end_time.map(|t| t.timestamp()),
            Some(1_750_000_000)
        );
        assert!(app.cancel_at_period_end);
        assert_eq!(app.monthly_amount_minor, 18_000);
        assert_eq!(app.currency_code, "USD");
        assert_eq!(app.version, Version::new(4));
        assert_eq!(app.version.to_etag(), wire.etag);
        assert_eq!(app.create_time.timestamp(), 1_740_000_000);
        assert_eq!(app.update_time.timestamp(), 1_745_000_000);
        for plan in [Plan::Free, Plan::Team, Plan::Business] {
            assert_eq!(plan_from_wire(plan_to_wire(plan)), Some(plan));
        }
    }

    #[test]
    fn a_subscription_billing_could_not_have_sent_is_internal() {
        let cases: [fn(&mut billing::Subscription); 6] = [
            |s| s.id = "not-a-uuid".into(),
            |s| s.workspace_id = String::new(),
            |s| s.plan = billing::Plan::Unspecified as i32,
            |s| s.status = billing::SubscriptionStatus::Unspecified as i32,
            |s| s.etag = "7".into(),
            |s| s.create_time = None,
        ];
        for spoil in cases {
            let mut wire = a_wire_subscription();
            spoil(&mut wire);
            let error = subscription_from_wire(wire).unwrap_err();
            assert_eq!(error.kind, ErrorKind::Internal);
        }
    }

    #[test]
    fn billing_failures_become_the_methods_typed_errors() {
        let not_found = status_to_error(with_info(
            Code::NotFound,
            "no such subscription",
            "SUBSCRIPTION_NOT_FOUND",
            "billing.saas",
        ));
        assert!(matches!(
            SubscriptionReadError::from(not_found.clone()),
            SubscriptionReadError::NotFound(e) if e == not_found
        ));
        let exists = status_to_error(with_info(
            Code::AlreadyExists,
            "the workspace has a subscription",
            "SUBSCRIPTION_EXISTS",
            "billing.saas",
        ));
        assert!(matches!(
            StartTrialError::from(exists.clone()),
            StartTrialError::AlreadyStarted(e) if e == exists
        ));
        let canceled = status_to_error(with_info(
            Code::FailedPrecondition,
            "the subscription is canceled",
            "SUBSCRIPTION_CANCELED",
            "billing.saas",
        ));
        assert!(matches!(
            SubscriptionChangeError::from(canceled.clone()),
            SubscriptionChangeError::Refused(_)
        ));
        assert!(matches!(
            StartTrialError::from(canceled.clone()),
            StartTrialError::Refused(_)
        ));
        let conflict = status_to_error(with_info(
            Code::Aborted,
            "a concurrent change won",
            "ETAG_MISMATCH",
            "billing.saas",
        ));
        assert!(matches!(
            StartTrialError::from(conflict),
            StartTrialError::Other(_)
        ));
        // The outcome of these is open: never a refusal.
        for open in [
            Status::deadline_exceeded("late"),
            Status::unavailable("connection refused"),
            Status::internal("boom"),
        ] {
            let error = status_to_error(open);
            assert!(matches!(
                SubscriptionReadError::from(error.clone()),
                SubscriptionReadError::Other(_)
            ));
            assert!(matches!(
                StartTrialError::from(error.clone()),
                StartTrialError::Other(_)
            ));
            assert!(matches!(
                SubscriptionChangeError::from(error.clone()),
                SubscriptionChangeError::Other(e) if e == error
            ));
        }
    }
}
