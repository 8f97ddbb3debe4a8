//! Bad input on every RPC: `INVALID_ARGUMENT` with `BadRequest` field violations naming every
//! bad field, and nothing changed; the service credential and the message size cap.

use saas_proto::billing::v1::{self as pb, subscription_service_client::SubscriptionServiceClient};
use saas_tests::{DataServices, SubscriptionClient};
use tonic::Code;

use super::{
    change_plan_request, change_seats_request, event_types, get, invalid, ok, open, request_id,
    trial, unknown_id,
};
use crate::user_rpc::rejected_in;

const BAD_ID: &str = "not-a-uuid";
/// Not an etag this service could have issued.
const BAD_ETAGS: [&str; 4] = ["made-up", "W/\"v0\"", "W/\"v-1\"", "\"v3\""];

/// A subscription, and a check that nothing happened to it.
struct Untouched {
    subscription: pb::Subscription,
    events: usize,
}

impl Untouched {
    async fn new(services: &DataServices, client: &mut SubscriptionClient) -> Self {
        let subscription = trial(client).await;
        let conn = open(&services.databases[2]).await;
        let events = event_types(&conn, &subscription.id).await.len();
        Untouched {
            subscription,
            events,
        }
    }

    fn id(&self) -> String {
        self.subscription.id.clone()
    }

    async fn check(&self, services: &DataServices, client: &mut SubscriptionClient) {
        assert_eq!(get(client, &self.subscription.id).await, self.subscription);
        let conn = open(&services.databases[2]).await;
        assert_eq!(
            event_types(&conn, &self.subscription.id).await.len(),
            self.events
        );
        assert_eq!(
            crate::concurrency::count(&conn, "SELECT COUNT(*) FROM idempotency", vec![]).await,
            1,
            "only the trial's request was recorded"
        );
    }
}

#[tokio::test]
async fn get_subscription_needs_a_uuid_id() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    invalid(
        client
            .get_subscription(pb::GetSubscriptionRequest { id: String::new() })
            .await,
        "MISSING_FIELD",
        &["id"],
    );
    for bad in [BAD_ID, " ", "00000000-0000-0000-0000-00000000000g"] {
        invalid(
            client
                .get_subscription(pb::GetSubscriptionRequest { id: bad.into() })
                .await,
            "INVALID_ID",
            &["id"],
        );
    }
}

#[tokio::test]
async fn lookup_subscription_needs_a_uuid_workspace_id() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    invalid(
        client
            .lookup_subscription(pb::LookupSubscriptionRequest {
                workspace_id: String::new(),
            })
            .await,
        "MISSING_FIELD",
        &["workspace_id"],
    );
    invalid(
        client
            .lookup_subscription(pb::LookupSubscriptionRequest {
                workspace_id: BAD_ID.into(),
            })
            .await,
        "INVALID_ID",
        &["workspace_id"],
    );
}

#[tokio::test]
async fn start_trial_names_a_bad_request_id_and_workspace_id_together() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    invalid(
        client
            .start_trial(pb::StartTrialRequest {
                request_id: String::new(),
                workspace_id: String::new(),
            })
            .await,
        "MISSING_REQUEST_ID",
        &["request_id", "workspace_id"],
    );
    invalid(
        client
            .start_trial(pb::StartTrialRequest {
                request_id: BAD_ID.into(),
                workspace_id: BAD_ID.into(),
            })
            .await,
        "INVALID_REQUEST_ID",
        &["request_id", "workspace_id"],
    );
    invalid(
        client
            .start_trial(pb::StartTrialRequest {
                request_id: request_id(),
                workspace_id: BAD_ID.into(),
            })
            .await,
        "INVALID_ID",
        &["workspace_id"],
    );
    let conn = open(&services.databases[2]).await;
    assert_eq!(
        crate::concurrency::count(&conn, "SELECT COUNT(*) FROM subscriptions", vec![]).await,
        0
    );
}

#[tokio::test]
async fn change_plan_names_every_bad_field() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let target = Untouched::new(&services, &mut client).await;
    let id = target.id();

    invalid(
        client
            .change_plan(pb::ChangePlanRequest {
                id: BAD_ID.into(),
                request_id: BAD_ID.into(),
                etag: BAD_ETAGS[0].into(),
                plan: pb::Plan::Unspecified as i32,
                seats_in_use: -1,
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag", "plan", "seats_in_use"],
    );
    invalid(
        client
            .change_plan(pb::ChangePlanRequest {
                id: String::new(),
                request_id: String::new(),
                etag: String::new(),
                plan: 99,
                seats_in_use: i32::MIN,
            })
            .await,
        "MISSING_FIELD",
        &["id", "request_id", "plan", "seats_in_use"],
    );
    for plan in [0, 4, 99, -1, i32::MAX] {
        invalid(
            client
                .change_plan(pb::ChangePlanRequest {
                    plan,
                    ..change_plan_request(&id, "", pb::Plan::Business, 1)
                })
                .await,
            "INVALID_PLAN",
            &["plan"],
        );
    }
    invalid(
        client
            .change_plan(change_plan_request(&id, "", pb::Plan::Business, -5))
            .await,
        "INVALID_SEATS_IN_USE",
        &["seats_in_use"],
    );
    for etag in BAD_ETAGS {
        invalid(
            client
                .change_plan(change_plan_request(&id, etag, pb::Plan::Business, 1))
                .await,
            "INVALID_ETAG",
            &["etag"],
        );
    }
    target.check(&services, &mut client).await;
}

#[tokio::test]
async fn change_seats_names_every_bad_field() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let target = Untouched::new(&services, &mut client).await;
    let id = target.id();

    invalid(
        client
            .change_seats(pb::ChangeSeatsRequest {
                id: BAD_ID.into(),
                request_id: BAD_ID.into(),
                etag: BAD_ETAGS[1].into(),
                seats: 0,
                seats_in_use: -1,
            })
            .await,
        "INVALID_ID",
        &["id", "request_id", "etag", "seats", "seats_in_use"],
    );
    for seats in [0, -1, i32::MIN] {
        invalid(
            client
                .change_seats(change_seats_request(&id, "", seats, 0))
                .await,
            "INVALID_SEATS",
            &["seats"],
        );
    }
    invalid(
        client
            .change_seats(change_seats_request(&id, "", 7, -1))
            .await,
        "INVALID_SEATS_IN_USE",
        &["seats_in_use"],
    );
    invalid(
        client
            .change_seats(change_seats_request(&id, "", -7, -1))
            .await,
        "INVALID_SEATS",
        &["seats", "seats_in_use"],
    );
    for etag in BAD_ETAGS {
        invalid(
            client
                .change_seats(change_seats_request(&id, etag, 7, 1))
                .await,
            "INVALID_ETAG",
            &["etag"],
        );
    }
    target.check(&services, &mut client).await;
}

#[tokio::test]
async fn payments_expiry_and_period_end_name_a_bad_id_and_request_id() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let target = Untouched::new(&services, &mut client).await;
    let id = target.id();

    // (id, request_id, reason, fields)
    let cases = [
        (
            BAD_ID.to_owned(),
            BAD_ID.to_owned(),
            "INVALID_ID",
            vec!["id", "request_id"],
        ),
        (
            String::new(),
            String::new(),
            "MISSING_FIELD",
            vec!["id", "request_id"],
        ),
        (
            id.clone(),
            String::new(),
            "MISSING_REQUEST_ID",
            vec!["request_id"],
        ),
        (
            id.clone(),
            BAD_ID.to_owned(),
            "INVALID_REQUEST_ID",
            vec!["request_id"],
        ),
        (BAD_ID.to_owned(), request_id(), "INVALID_ID", vec!["id"]),
    ];
    for (id, request_id, reason, fields) in cases {
        invalid(
            client
                .record_payment_succeeded(pb::RecordPaymentSucceededRequest {
                    id: id.clone(),
                    request_id: request_id.clone(),
                })
                .await,
            reason,
            &fields,
        );
        invalid(
            client
                .record_payment_failed(pb::RecordPaymentFailedRequest {
                    id: id.clone(),
                    request_id: request_id.clone(),
                })
                .await,
            reason,
            &fields,
        );
        invalid(
            client
                .expire_trial(pb::ExpireTrialRequest {
                    id: id.clone(),
                    request_id: request_id.clone(),
                })
                .await,
            reason,
            &fields,
        );
        invalid(
            client
                .end_period(pb::EndPeriodRequest {
                    id: id.clone(),
                    request_id: request_id.clone(),
                })
                .await,
            reason,
            &fields,
        );
    }
    target.check(&services, &mut client).await;
}

#[tokio::test]
async fn cancel_and_resume_name_a_bad_id_request_id_and_etag() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let target = Untouched::new(&services, &mut client).await;
    let id = target.id();

    // (id, request_id, etag, reason, fields)
    let cases = [
        (
            BAD_ID.to_owned(),
            BAD_ID.to_owned(),
            BAD_ETAGS[0],
            "INVALID_ID",
            vec!["id", "request_id", "etag"],
        ),
        (
            String::new(),
            String::new(),
            BAD_ETAGS[1],
            "MISSING_FIELD",
            vec!["id", "request_id", "etag"],
        ),
        (
            id.clone(),
            String::new(),
            "",
            "MISSING_REQUEST_ID",
            vec!["request_id"],
        ),
        (
            id.clone(),
            request_id(),
            BAD_ETAGS[2],
            "INVALID_ETAG",
            vec!["etag"],
        ),
        (
            id.clone(),
            request_id(),
            BAD_ETAGS[3],
            "INVALID_ETAG",
            vec!["etag"],
        ),
    ];
    for (id, request_id, etag, reason, fields) in cases {
        for at_period_end in [false, true] {
            invalid(
                client
                    .cancel_subscription(pb::CancelSubscriptionRequest {
                        id: id.clone(),
                        request_id: request_id.clone(),
                        etag: etag.into(),
                        at_period_end,
                    })
                    .await,
                reason,
                &fields,
            );
        }
        invalid(
            client
                .resume_subscription(pb::ResumeSubscriptionRequest {
                    id: id.clone(),
                    request_id: request_id.clone(),
                    etag: etag.into(),
                })
                .await,
            reason,
            &fields,
        );
    }
    target.check(&services, &mut client).await;
}

#[tokio::test]
async fn bad_input_is_checked_before_the_subscription_is_looked_up() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    // An unknown id with a bad field is bad input, not NOT_FOUND.
    invalid(
        client
            .change_seats(change_seats_request(&unknown_id(), "", 0, 0))
            .await,
        "INVALID_SEATS",
        &["seats"],
    );
    invalid(
        client
            .change_plan(change_plan_request(
                &unknown_id(),
                "",
                pb::Plan::Unspecified,
                0,
            ))
            .await,
        "INVALID_PLAN",
        &["plan"],
    );
}

#[tokio::test]
async fn a_call_without_the_service_credential_is_unauthenticated() {
    let services = DataServices::spawn().await;
    let mut client = services.subscriptions_client().await;
    let started = trial(&mut client).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", services.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut anonymous = SubscriptionServiceClient::new(channel);
    let refused = |result| {
        rejected_in(
            result,
            Code::Unauthenticated,
            "SERVICE_CREDENTIAL_INVALID",
            "platform.saas",
        );
    };
    refused(
        anonymous
            .get_subscription(pb::GetSubscriptionRequest {
                id: started.id.clone(),
            })
            .await,
    );
    refused(
        anonymous
            .record_payment_succeeded(pb::RecordPaymentSucceededRequest {
                id: started.id.clone(),
                request_id: request_id(),
            })
            .await,
    );
    refused(
        anonymous
            .start_trial(pb::StartTrialRequest {
                request_id: request_id(),
                workspace_id: super::workspace_id(),
            })
            .await,
    );
    assert_eq!(get(&mut client, &started.id).await, started);
}

#[tokio::test]
async fn an_oversized_message_is_refused_and_the_server_keeps_serving() {
    let services = DataServices::spawn().await;
    let mut client = services
        .subscriptions_client()
        .await
        .max_encoding_message_size(64 * 1024 * 1024);
    let answer = client
        .start_trial(pb::StartTrialRequest {
            request_id: request_id(),
            workspace_id: "x".repeat(5 * 1024 * 1024),
        })
        .await
        .unwrap_err();
    assert!(
        matches!(answer.code(), Code::OutOfRange | Code::ResourceExhausted),
        "{:?}: {}",
        answer.code(),
        answer.message()
    );
    let started = trial(&mut client).await;
    assert_eq!(
        ok(client
            .get_subscription(pb::GetSubscriptionRequest {
                id: started.id.clone()
            })
            .await),
        started
    );
}
