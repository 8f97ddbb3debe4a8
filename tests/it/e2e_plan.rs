//! The plan and seat use cases end to end through the HTTP edge: the subscription, plan
//! changes, seats (with the workspace's seat limit following: at once when lowered, by
//! event when raised), cancel and resume.

use std::time::Duration;

use saas_proto::{billing::v1 as billing_pb, workspace::v1 as workspace_pb};
use saas_tests::{Account, Answer, System};
use serde_json::{Value, json};

use crate::e2e_access::assert_problem;

/// The price of one seat for a month, in cents.
fn price(plan: &str) -> i64 {
    match plan {
        "free" => 0,
        "team" => 800,
        "business" => 1500,
        other => panic!("no plan {other}"),
    }
}

/// Asserts the monthly amount is seats × the plan's price.
fn assert_amount_follows(subscription: &Value) {
    let plan = subscription["plan"].as_str().expect("a plan");
    let seats = subscription["seats"].as_i64().expect("seats");
    assert_eq!(
        subscription["monthly_amount"],
        json!({ "amount_minor": seats * price(plan), "currency": "USD" }),
        "{subscription}"
    );
}

async fn subscription(system: &System, who: &Account) -> Value {
    let answer = system
        .get(
            &format!("/v1/workspaces/{}/subscription", who.workspace_id),
            &who.access_token,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.header("etag"), answer.body["etag"]);
    answer.body
}

async fn workspace(system: &System, who: &Account) -> Value {
    let answer = system
        .get(
            &format!("/v1/workspaces/{}", who.workspace_id),
            &who.access_token,
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    answer.body
}

async fn post(system: &System, who: &Account, action: &str, body: Value) -> Answer {
    system
        .post(
            &format!("/v1/workspaces/{}/subscription/{action}", who.workspace_id),
            Some(&who.access_token),
            body,
        )
        .await
}

async fn change_plan(system: &System, who: &Account, plan: &str) -> Answer {
    post(system, who, "plan", json!({ "plan": plan })).await
}

async fn change_seats(system: &System, who: &Account, seats: i32) -> Answer {
    post(system, who, "seats", json!({ "seats": seats })).await
}

#[tokio::test]
async fn the_subscription_of_a_new_workspace_is_a_team_trial() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;
    let read = subscription(&system, &owner).await;
    assert_eq!(read["workspace_id"], owner.workspace_id.as_str());
    assert_eq!(read["plan"], "team");
    assert_eq!(read["seats"], 5);
    assert_eq!(read["status"], "trialing");
    assert_eq!(read["cancel_at_period_end"], false);
    assert!(read["trial_end_time"].is_string());
    assert_amount_follows(&read);

    // Members read it too, but only Owners change it.
    let grace = system
        .join(&owner, "grace@example.com", "compilers", "admin")
        .await;
    let as_admin = system
        .get(
            &format!("/v1/workspaces/{}/subscription", owner.workspace_id),
            &grace.access_token,
        )
        .await;
    assert_eq!(as_admin.status, 200);
    assert_eq!(as_admin.body["id"], read["id"]);
    let denied = system
        .post(
            &format!("/v1/workspaces/{}/subscription/plan", owner.workspace_id),
            Some(&grace.access_token),
            json!({ "plan": "business" }),
        )
        .await;
    assert_problem(&denied, 403, "ROLE_REQUIRED");
    assert_eq!(subscription(&system, &owner).await["plan"], "team");
}

#[tokio::test]
async fn changing_plans_keeps_the_amount_at_seats_times_price() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;

    let business = change_plan(&system, &owner, "business").await;
    assert_eq!(business.status, 200, "{:?}", business.body);
    assert_eq!(business.body["plan"], "business");
    assert_eq!(business.body["seats"], 5);
    assert_amount_follows(&business.body);
    assert_eq!(business.body["monthly_amount"]["amount_minor"], 7500);

    // Free allows 3 seats; the subscription has 5: Billing refuses and nothing changes.
    let free = change_plan(&system, &owner, "free").await;
    assert_problem(&free, 422, "SEATS_EXCEED_PLAN");
    let unchanged = subscription(&system, &owner).await;
    assert_eq!(unchanged["plan"], "business");
    assert_eq!(unchanged["etag"], business.body["etag"]);

    // With 3 seats it fits.
    let fewer = change_seats(&system, &owner, 3).await;
    assert_eq!(fewer.status, 200, "{:?}", fewer.body);
    let free = change_plan(&system, &owner, "free").await;
    assert_eq!(free.status, 200, "{:?}", free.body);
    assert_eq!(free.body["plan"], "free");
    assert_eq!(free.body["monthly_amount"]["amount_minor"], 0);
    assert_amount_follows(&free.body);

    let unknown = change_plan(&system, &owner, "platinum").await;
    assert_problem(&unknown, 400, "INVALID_FIELD");
    assert_eq!(unknown.body["errors"][0]["field"], "plan");
    let same = change_plan(&system, &owner, "free").await;
    assert_problem(&same, 422, "PLAN_UNCHANGED");

    // Billing holds what the edge answered.
    let stored = system
        .data
        .subscriptions_client()
        .await
        .lookup_subscription(billing_pb::LookupSubscriptionRequest {
            workspace_id: owner.workspace_id.clone(),
        })
        .await
        .expect("the subscription")
        .into_inner();
    assert_eq!(stored.plan(), billing_pb::Plan::Free);
    assert_eq!(stored.seats, 3);
    assert_eq!(stored.monthly_amount_minor, 0);
}

#[tokio::test]
async fn seats_go_up_and_down_and_the_seat_limit_follows() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;

    let up = change_seats(&system, &owner, 8).await;
    assert_eq!(up.status, 200, "{:?}", up.body);
    assert_eq!(up.body["seats"], 8);
    assert_eq!(up.body["monthly_amount"]["amount_minor"], 8 * 800);
    assert_amount_follows(&up.body);
    assert_eq!(subscription(&system, &owner).await["seats"], 8);
    // The seat limit follows a raise by event.
    let followed = saas_tests::eventually(Duration::from_secs(30), || async {
        workspace(&system, &owner).await["seat_limit"] == 8
    })
    .await;
    assert!(
        followed,
        "the seat limit did not follow: {}",
        workspace(&system, &owner).await
    );

    let down = change_seats(&system, &owner, 2).await;
    assert_eq!(down.status, 200, "{:?}", down.body);
    assert_eq!(down.body["seats"], 2);
    assert_amount_follows(&down.body);
    assert_eq!(subscription(&system, &owner).await["seats"], 2);
    assert_eq!(workspace(&system, &owner).await["seat_limit"], 2);

    let stored = system
        .data
        .workspaces_client()
        .await
        .get_workspace(workspace_pb::GetWorkspaceRequest {
            id: owner.workspace_id.clone(),
            ..Default::default()
        })
        .await
        .expect("the workspace")
        .into_inner();
    assert_eq!(stored.seat_limit, 2);

    let zero = change_seats(&system, &owner, 0).await;
    assert_problem(&zero, 400, "INVALID_SEATS");
    let too_many = change_seats(&system, &owner, 51).await;
    assert_problem(&too_many, 422, "SEATS_EXCEED_PLAN");
    // A refused raise leaves both where they were.
    assert_eq!(subscription(&system, &owner).await["seats"], 2);
    assert_eq!(workspace(&system, &owner).await["seat_limit"], 2);
}

#[tokio::test]
async fn seats_cannot_go_below_the_seats_in_use() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;
    // Three seats in use: the owner, a member and a pending invitation.
    system
        .join(&owner, "grace@example.com", "compilers", "member")
        .await;
    system.invite(&owner, "alan@example.com", "member").await;
    let before_subscription = subscription(&system, &owner).await;
    let before_workspace = workspace(&system, &owner).await;
    assert_eq!(before_workspace["seats_in_use"], 3);

    let refused = change_seats(&system, &owner, 2).await;
    assert_problem(&refused, 422, "SEAT_LIMIT_BELOW_SEATS_IN_USE");
    let after_subscription = subscription(&system, &owner).await;
    let after_workspace = workspace(&system, &owner).await;
    assert_eq!(after_subscription["seats"], 5);
    assert_eq!(after_subscription["etag"], before_subscription["etag"]);
    assert_eq!(after_workspace["seat_limit"], 5);
    assert_eq!(after_workspace["etag"], before_workspace["etag"]);

    // Exactly the seats in use is fine.
    let exact = change_seats(&system, &owner, 3).await;
    assert_eq!(exact.status, 200, "{:?}", exact.body);
    assert_eq!(workspace(&system, &owner).await["seat_limit"], 3);
}

#[tokio::test]
async fn cancel_at_period_end_then_resume_then_cancel_now() {
    let system = System::spawn().await;
    let owner = system.sign_up("ada@example.com", "engines").await;

    let scheduled = post(&system, &owner, "cancel", json!({ "at_period_end": true })).await;
    assert_eq!(scheduled.status, 200, "{:?}", scheduled.body);
    assert_eq!(scheduled.body["cancel_at_period_end"], true);
    assert_eq!(scheduled.body["status"], "trialing");
    let twice = post(&system, &owner, "cancel", json!({ "at_period_end": true })).await;
    assert_problem(&twice, 422, "CANCEL_ALREADY_SCHEDULED");

    let resumed = post(&system, &owner, "resume", json!({})).await;
    assert_eq!(resumed.status, 200, "{:?}", resumed.body);
    assert_eq!(resumed.body["cancel_at_period_end"], false);
    assert_eq!(resumed.body["status"], "trialing");
    let again = post(&system, &owner, "resume", json!({})).await;
    assert_problem(&again, 422, "CANCEL_NOT_SCHEDULED");
    assert_eq!(
        subscription(&system, &owner).await["cancel_at_period_end"],
        false
    );

    let now = post(&system, &owner, "cancel", json!({ "at_period_end": false })).await;
    assert_eq!(now.status, 200, "{:?}", now.body);
    assert_eq!(now.body["status"], "canceled");
    assert!(now.body["cancel_time"].is_string());
    let read = subscription(&system, &owner).await;
    assert_eq!(read["status"], "canceled");

    // Canceled is final.
    let plan = change_plan(&system, &owner, "business").await;
    assert_problem(&plan, 422, "SUBSCRIPTION_CANCELED");
    let resume = post(&system, &owner, "resume", json!({})).await;
    assert_problem(&resume, 422, "SUBSCRIPTION_CANCELED");
}
