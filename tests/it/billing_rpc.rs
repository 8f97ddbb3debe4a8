//! The Billing `SubscriptionService` over real gRPC: happy paths, rejections, bad input, due
//! work driven by the injected clock and the sweep, and races (QUALITY.md "Reliability").
//!
//! The helpers here keep the tests short: [`trial`] starts a subscription, [`priced`] checks
//! that a response's monthly amount is seats × the plan's price (every helper that returns a
//! subscription runs it), [`rejected`] and [`invalid`] check a status's code, `ErrorInfo`
//! (domain `billing.saas`) and `BadRequest` fields, and [`outbox`] reads a subscription's
//! events straight from the billing database.

mod bad_input;
mod due_work;
mod happy_path;
mod races;
mod rejections;

use std::time::Duration;

use chrono::{DateTime, Months, Utc};
use platform::server::ServiceCredential;
use saas_proto::{
    billing::v1::{self as pb, subscription_service_client::SubscriptionServiceClient},
    events::v1::EventEnvelope,
};
use saas_tests::{SERVICE_TOKEN, SubscriptionClient, TestDatabase};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement};
use tonic::{Code, Response, Status, transport::Channel};

pub(crate) use crate::concurrency::{request_id, version};
pub(crate) use crate::user_rpc::at;
use crate::user_rpc::{invalid_in, rejected_in};

/// The `ErrorInfo` domain of the Billing service.
pub const DOMAIN: &str = "billing.saas";

/// A random id no subscription or workspace has.
pub fn unknown_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A fresh workspace id.
pub fn workspace_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// The price of one seat for a month, in cents.
pub fn price_per_seat(plan: pb::Plan) -> i64 {
    match plan {
        pb::Plan::Free => 0,
        pb::Plan::Team => 800,
        pb::Plan::Business => 1500,
        pb::Plan::Unspecified => panic!("a subscription never has an unspecified plan"),
    }
}

/// The plan of a subscription as the wire enum.
pub fn plan_of(subscription: &pb::Subscription) -> pb::Plan {
    pb::Plan::try_from(subscription.plan).expect("a known plan")
}

/// The status of a subscription as the wire enum.
pub fn status_of(subscription: &pb::Subscription) -> pb::SubscriptionStatus {
    pb::SubscriptionStatus::try_from(subscription.status).expect("a known status")
}

/// Checks the money of a response: USD, and seats × the plan's price per seat.
#[track_caller]
pub fn priced(subscription: pb::Subscription) -> pb::Subscription {
    assert_eq!(subscription.currency_code, "USD", "{subscription:?}");
    assert_eq!(
        subscription.monthly_amount_minor,
        i64::from(subscription.seats) * price_per_seat(plan_of(&subscription)),
        "monthly amount = seats x price per seat: {subscription:?}"
    );
    subscription
}

/// The answer of a call that returns a subscription, with its money checked.
#[track_caller]
pub fn ok(result: Result<Response<pb::Subscription>, Status>) -> pb::Subscription {
    match result {
        Ok(response) => priced(response.into_inner()),
        Err(status) => panic!("expected a subscription, got {status:?}"),
    }
}

/// The error of a call that must fail with `code` and `ErrorInfo { reason, billing.saas }`.
#[track_caller]
pub fn rejected<T: std::fmt::Debug>(
    result: Result<Response<T>, Status>,
    code: Code,
    reason: &str,
) -> Status {
    rejected_in(result, code, reason, DOMAIN)
}

/// The error of a call that must fail `INVALID_ARGUMENT` with `reason`, naming exactly
/// `fields` (in any order) in its `BadRequest`.
#[track_caller]
pub fn invalid<T: std::fmt::Debug>(
    result: Result<Response<T>, Status>,
    reason: &str,
    fields: &[&str],
) -> Status {
    invalid_in(result, reason, fields, DOMAIN)
}

/// One billing period after `time`: the same day of the next month, clamped.
pub fn one_month_after(time: DateTime<Utc>) -> DateTime<Utc> {
    time.checked_add_months(Months::new(1)).expect("in range")
}

/// Starts the sign-up trial of a new workspace.
pub async fn trial(client: &mut SubscriptionClient) -> pb::Subscription {
    trial_for(client, &workspace_id()).await
}

/// Starts the sign-up trial of `workspace`.
pub async fn trial_for(client: &mut SubscriptionClient, workspace: &str) -> pb::Subscription {
    ok(client
        .start_trial(pb::StartTrialRequest {
            request_id: request_id(),
            workspace_id: workspace.into(),
        })
        .await)
}

/// Reads a subscription.
pub async fn get(client: &mut SubscriptionClient, id: &str) -> pb::Subscription {
    ok(client
        .get_subscription(pb::GetSubscriptionRequest { id: id.into() })
        .await)
}

/// A ChangePlan request.
pub fn change_plan_request(
    id: &str,
    etag: &str,
    plan: pb::Plan,
    seats_in_use: i32,
) -> pb::ChangePlanRequest {
    pb::ChangePlanRequest {
        id: id.into(),
        request_id: request_id(),
        etag: etag.into(),
        plan: plan as i32,
        seats_in_use,
    }
}

/// A ChangeSeats request.
pub fn change_seats_request(
    id: &str,
    etag: &str,
    seats: i32,
    seats_in_use: i32,
) -> pb::ChangeSeatsRequest {
    pb::ChangeSeatsRequest {
        id: id.into(),
        request_id: request_id(),
        etag: etag.into(),
        seats,
        seats_in_use,
    }
}

/// A CancelSubscription request.
pub fn cancel_request(id: &str, etag: &str, at_period_end: bool) -> pb::CancelSubscriptionRequest {
    pb::CancelSubscriptionRequest {
        id: id.into(),
        request_id: request_id(),
        etag: etag.into(),
        at_period_end,
    }
}

/// A ResumeSubscription request.
pub fn resume_request(id: &str, etag: &str) -> pb::ResumeSubscriptionRequest {
    pb::ResumeSubscriptionRequest {
        id: id.into(),
        request_id: request_id(),
        etag: etag.into(),
    }
}

/// Books a successful payment.
pub async fn pay(client: &mut SubscriptionClient, id: &str) -> pb::Subscription {
    ok(client
        .record_payment_succeeded(pb::RecordPaymentSucceededRequest {
            id: id.into(),
            request_id: request_id(),
        })
        .await)
}

/// Books a failed payment.
pub async fn fail_payment(client: &mut SubscriptionClient, id: &str) -> pb::Subscription {
    ok(client
        .record_payment_failed(pb::RecordPaymentFailedRequest {
            id: id.into(),
            request_id: request_id(),
        })
        .await)
}

/// Cancels, now or at the period end, unconditionally.
pub async fn cancel(
    client: &mut SubscriptionClient,
    id: &str,
    at_period_end: bool,
) -> pb::Subscription {
    ok(client
        .cancel_subscription(cancel_request(id, "", at_period_end))
        .await)
}

/// A client of a `SubscriptionService` at `addr` (a [`saas_tests::ServerProcess`]) with the
/// service credential.
pub async fn client_at(addr: std::net::SocketAddr) -> SubscriptionClient {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("valid uri")
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .expect("connect to the service");
    SubscriptionServiceClient::with_interceptor(
        channel,
        ServiceCredential::new(SERVICE_TOKEN).expect("token is header text"),
    )
}

/// One row of the billing outbox.
#[derive(Debug, Clone)]
pub struct OutboxRow {
    /// The version the event's command produced.
    pub version: i64,
    /// e.g. `billing.subscription.trial_expired`.
    pub event_type: String,
    /// The event as published.
    pub envelope: EventEnvelope,
}

impl OutboxRow {
    /// The event's message, which must be an `M`.
    pub fn message<M: prost::Name + Default>(&self) -> M {
        let payload = self.envelope.payload.as_ref().expect("a payload");
        payload
            .to_msg()
            .unwrap_or_else(|e| panic!("{} is not a {}: {e}", payload.type_url, M::full_name()))
    }

    /// The `subscription_id` every Billing event message carries as field 1.
    pub fn subscription_id(&self) -> String {
        #[derive(Clone, PartialEq, prost::Message)]
        struct Subject {
            #[prost(string, tag = "1")]
            subscription_id: String,
        }
        let payload = self.envelope.payload.as_ref().expect("a payload");
        <Subject as prost::Message>::decode(payload.value.as_slice())
            .expect("field 1 is a string")
            .subscription_id
    }
}

/// Opens the billing database directly (a small pool beside the services').
pub async fn open(db: &TestDatabase) -> DatabaseConnection {
    platform::db::open(&db.url, platform::db::PoolSize { max: 2 })
        .await
        .expect("open the billing database")
}

/// Every outbox row of one subscription, in `aggregate_version` order.
pub async fn outbox(conn: &DatabaseConnection, subscription_id: &str) -> Vec<OutboxRow> {
    let sql = "SELECT aggregate_version, event_type, envelope FROM outbox \
               WHERE aggregate_id = $1 ORDER BY aggregate_version, seq";
    conn.query_all_raw(Statement::from_sql_and_values(
        conn.get_database_backend(),
        sql,
        vec![subscription_id.into()],
    ))
    .await
    .expect("read the outbox")
    .iter()
    .map(|row| OutboxRow {
        version: row.try_get_by_index(0).expect("aggregate_version"),
        event_type: row.try_get_by_index(1).expect("event_type"),
        envelope: prost::Message::decode(
            row.try_get_by_index::<Vec<u8>>(2)
                .expect("envelope")
                .as_slice(),
        )
        .expect("an EventEnvelope"),
    })
    .collect()
}

/// The event types of a subscription's outbox rows, in version order.
pub async fn event_types(conn: &DatabaseConnection, subscription_id: &str) -> Vec<String> {
    outbox(conn, subscription_id)
        .await
        .into_iter()
        .map(|row| row.event_type)
        .collect()
}

/// The full name of a billing event type (`trial_expired` → `billing.subscription.trial_expired`).
pub fn event(name: &str) -> String {
    format!("billing.subscription.{name}")
}
