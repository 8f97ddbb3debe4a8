//! The policies end to end: events leave the data services through their relays onto the
//! in-process bus, and the policies (`policies-app`) act on them through the data services.
//!
//! - The seat limit follows a raise of the seats.
//! - An erased user leaves every workspace; a workspace whose last Owner was erased is
//!   archived.
//! - A subscription falling past due mails every Owner.
//! - The workspace follows its subscription out of good standing and back: invitations are
//!   refused in between.
//! - A duplicate delivery takes effect once (the target's idempotency store is the inbox).
//! - An event a policy parked can be redriven once it can succeed.

use std::{collections::BTreeSet, time::Duration};

use platform::bus::Message;
use ports_app::MailKind;
use reqwest::Method;
use saas_proto::{billing::v1 as billing_pb, workspace::v1 as workspace_pb};
use saas_tests::{System, as_actor, eventually};
use serde_json::json;

use crate::user_rpc::{erase, request_id};

/// How long a policy may take to act; generous, for a loaded machine.
const PATIENCE: Duration = Duration::from_secs(30);

async fn get_workspace(system: &System, id: &str) -> workspace_pb::Workspace {
    system
        .data
        .workspaces_client()
        .await
        .get_workspace(workspace_pb::GetWorkspaceRequest {
            id: id.to_owned(),
            ..Default::default()
        })
        .await
        .expect("the workspace")
        .into_inner()
}

async fn subscription_of(system: &System, workspace_id: &str) -> billing_pb::Subscription {
    system
        .data
        .subscriptions_client()
        .await
        .lookup_subscription(billing_pb::LookupSubscriptionRequest {
            workspace_id: workspace_id.to_owned(),
        })
        .await
        .expect("the subscription")
        .into_inner()
}

/// Takes the workspace's subscription Trialing -> Active -> PastDue through Billing.
async fn past_due(system: &System, workspace_id: &str) -> billing_pb::Subscription {
    let subscription = subscription_of(system, workspace_id).await;
    let mut billing = system.data.subscriptions_client().await;
    billing
        .record_payment_succeeded(billing_pb::RecordPaymentSucceededRequest {
            id: subscription.id.clone(),
            request_id: request_id(),
        })
        .await
        .expect("paid");
    let failed = billing
        .record_payment_failed(billing_pb::RecordPaymentFailedRequest {
            id: subscription.id.clone(),
            request_id: request_id(),
        })
        .await
        .expect("a failed payment")
        .into_inner();
    assert_eq!(failed.status(), billing_pb::SubscriptionStatus::PastDue);
    failed
}

/// Waits until the workspace satisfies `condition`; fails with the workspace as it is.
async fn until_workspace(
    system: &System,
    id: &str,
    what: &str,
    condition: impl Fn(&workspace_pb::Workspace) -> bool,
) -> workspace_pb::Workspace {
    let held = eventually(PATIENCE, || async {
        condition(&get_workspace(system, id).await)
    })
    .await;
    let now = get_workspace(system, id).await;
    assert!(held, "{what}: {now:?}");
    now
}

fn is_member(held: &workspace_pb::Workspace, user_id: &str) -> bool {
    held.members.iter().any(|m| m.user_id == user_id)
}

async fn change_seats_over_http(system: &System, who: &saas_tests::Account, seats: i32) {
    let answer = system
        .post(
            &format!("/v1/workspaces/{}/subscription/seats", who.workspace_id),
            Some(&who.access_token),
            json!({ "seats": seats }),
        )
        .await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

async fn assert_nothing_parked(system: &System) {
    let parked = system.bus.list().await.expect("the dead letters");
    assert!(parked.is_empty(), "parked events: {parked:?}");
}

/// The first message on the bus with `subject`, read by a consumer of the test's own.
async fn first_message(system: &System, subject: &str) -> Message {
    let mut tap = system
        .bus
        .consumer(
            &format!("test-tap-{}", uuid::Uuid::now_v7().simple()),
            subject,
        )
        .await
        .expect("a consumer");
    let delivery = tap
        .next(PATIENCE)
        .await
        .expect("the bus answers")
        .unwrap_or_else(|| panic!("no {subject} message on the bus"));
    tap.ack(&delivery).await.expect("ack");
    delivery.message
}

#[tokio::test]
async fn the_seat_limit_follows_a_raise_by_event() {
    the_seat_limit_follows_a_raise_by_event_on(System::spawn().await).await;
}

#[tokio::test]
async fn the_seat_limit_follows_a_raise_by_event_on_nats() {
    let Some(nats) = crate::on_nats::private_nats().await else {
        return;
    };
    the_seat_limit_follows_a_raise_by_event_on(crate::on_nats::system(&nats).await).await;
}

async fn the_seat_limit_follows_a_raise_by_event_on(system: System) {
    let owner = system.sign_up("ada@example.com", "engines").await;
    assert_eq!(
        get_workspace(&system, &owner.workspace_id).await.seat_limit,
        5
    );

    change_seats_over_http(&system, &owner, 12).await;
    assert_eq!(
        subscription_of(&system, &owner.workspace_id).await.seats,
        12
    );
    until_workspace(
        &system,
        &owner.workspace_id,
        "the seat limit follows the seats",
        |w| w.seat_limit == 12,
    )
    .await;

    // A raise through Billing alone is followed too.
    let subscription = subscription_of(&system, &owner.workspace_id).await;
    system
        .data
        .subscriptions_client()
        .await
        .change_seats(billing_pb::ChangeSeatsRequest {
            id: subscription.id,
            request_id: request_id(),
            etag: String::new(),
            seats: 20,
            seats_in_use: 1,
        })
        .await
        .expect("more seats");
    until_workspace(
        &system,
        &owner.workspace_id,
        "the seat limit follows a Billing change",
        |w| w.seat_limit == 20,
    )
    .await;
    assert_nothing_parked(&system).await;
}

#[tokio::test]
async fn an_erased_sole_owner_leaves_an_archived_workspace_behind() {
    let system = System::spawn().await;
    let ada = system.sign_up("ada@example.com", "engines").await;
    let erased = system
        .call(Method::DELETE, "/v1/me", Some(&ada.access_token), None)
        .await;
    assert_eq!(erased.status, 204, "{:?}", erased.body);

    let archived = until_workspace(
        &system,
        &ada.workspace_id,
        "the workspace of its erased last owner is archived",
        |w| w.archived,
    )
    .await;
    // The last Owner stays as a tombstone (an id, no personal data).
    assert_eq!(archived.members.len(), 1);
    assert_eq!(archived.members[0].user_id, ada.user_id);
    assert_nothing_parked(&system).await;
}

#[tokio::test]
async fn an_erased_user_leaves_every_workspace() {
    an_erased_user_leaves_every_workspace_on(System::spawn().await).await;
}

#[tokio::test]
async fn an_erased_user_leaves_every_workspace_on_nats() {
    let Some(nats) = crate::on_nats::private_nats().await else {
        return;
    };
    an_erased_user_leaves_every_workspace_on(crate::on_nats::system(&nats).await).await;
}

async fn an_erased_user_leaves_every_workspace_on(system: System) {
    let ada = system.sign_up("ada@example.com", "engines").await;
    let grace = system
        .join(&ada, "grace@example.com", "compilers", "member")
        .await;
    let alan = system
        .join(&ada, "alan@example.com", "machines", "admin")
        .await;
    assert!(is_member(
        &get_workspace(&system, &ada.workspace_id).await,
        &grace.user_id
    ));

    // Erased in Identity directly: only the policy takes her out of the workspaces.
    erase(&mut system.data.users().await, &grace.user_id).await;

    let shared = until_workspace(
        &system,
        &ada.workspace_id,
        "the erased member leaves the shared workspace",
        |w| !is_member(w, &grace.user_id),
    )
    .await;
    assert!(!shared.archived);
    assert!(is_member(&shared, &ada.user_id) && is_member(&shared, &alan.user_id));
    let own = until_workspace(
        &system,
        &grace.workspace_id,
        "the workspace whose last owner was erased is archived",
        |w| w.archived,
    )
    .await;
    assert_eq!(own.members.len(), 1);

    // Only the archived workspace still lists her, as its tombstone Owner.
    let listed = system
        .data
        .workspaces_client()
        .await
        .list_user_workspaces(workspace_pb::ListUserWorkspacesRequest {
            user_id: grace.user_id.clone(),
            page_size: 0,
            page_token: String::new(),
        })
        .await
        .expect("her workspaces")
        .into_inner();
    let ids: Vec<&str> = listed.workspaces.iter().map(|w| w.id.as_str()).collect();
    assert_eq!(ids, [grace.workspace_id.as_str()]);
    // The others' workspaces are untouched.
    assert!(!get_workspace(&system, &alan.workspace_id).await.archived);
    assert_nothing_parked(&system).await;
}

#[tokio::test]
async fn past_due_mails_every_owner() {
    past_due_mails_every_owner_on(System::spawn().await).await;
}

#[tokio::test]
async fn past_due_mails_every_owner_on_nats() {
    let Some(nats) = crate::on_nats::private_nats().await else {
        return;
    };
    past_due_mails_every_owner_on(crate::on_nats::system(&nats).await).await;
}

async fn past_due_mails_every_owner_on(system: System) {
    let ada = system.sign_up("ada@example.com", "engines").await;
    let grace = system
        .join(&ada, "grace@example.com", "compilers", "admin")
        .await;
    let alan = system
        .join(&ada, "alan@example.com", "machines", "member")
        .await;
    let mut workspaces = system.data.workspaces_client().await;
    workspaces
        .change_member_role(as_actor(
            &ada.user_id,
            workspace_pb::ChangeMemberRoleRequest {
                id: ada.workspace_id.clone(),
                request_id: request_id(),
                etag: String::new(),
                user_id: grace.user_id.clone(),
                role: workspace_pb::Role::Owner as i32,
            },
        ))
        .await
        .expect("grace becomes an owner");

    past_due(&system, &ada.workspace_id).await;

    for owner in [&ada, &grace] {
        let mail = system
            .mailer
            .wait_for_mail(&owner.email, MailKind::PastDue, PATIENCE)
            .await
            .unwrap_or_else(|| panic!("no past-due mail to {}", owner.email));
        assert!(mail.token.is_empty());
        assert!(
            mail.subject.contains("engines workspace"),
            "{}",
            mail.subject
        );
        assert!(mail.text.contains("failed"), "{}", mail.text);
    }
    // Every mail of one event is sent by one handling of it, so the member's would be here.
    let past_due: BTreeSet<String> = system
        .mailer
        .sent()
        .into_iter()
        .filter(|mail| mail.kind == MailKind::PastDue)
        .map(|mail| mail.to)
        .collect();
    assert!(!past_due.contains(&alan.email), "{past_due:?}");
    assert_eq!(
        past_due,
        BTreeSet::from([ada.email.clone(), grace.email.clone()])
    );

    // A trial that ends unpaid (the sweeper's doing) is past due too.
    let bob = system.sign_up("bob@example.com", "looms").await;
    system.data.clock.advance(chrono::Duration::days(15));
    assert!(system.data.subscriptions.sweep_once().await.expect("sweep") >= 1);
    assert_eq!(
        subscription_of(&system, &bob.workspace_id).await.status(),
        billing_pb::SubscriptionStatus::PastDue
    );
    let mail = system
        .mailer
        .wait_for_mail(&bob.email, MailKind::PastDue, PATIENCE)
        .await
        .expect("a past-due mail to bob");
    assert!(mail.text.contains("trial"), "{}", mail.text);
    assert_nothing_parked(&system).await;
}

#[tokio::test]
async fn a_duplicate_delivery_takes_effect_once() {
    a_duplicate_delivery_takes_effect_once_on(System::spawn().await).await;
}

#[tokio::test]
async fn a_duplicate_delivery_takes_effect_once_on_nats() {
    let Some(nats) = crate::on_nats::private_nats().await else {
        return;
    };
    a_duplicate_delivery_takes_effect_once_on(crate::on_nats::system(&nats).await).await;
}

async fn a_duplicate_delivery_takes_effect_once_on(system: System) {
    let ada = system.sign_up("ada@example.com", "engines").await;
    change_seats_over_http(&system, &ada, 8).await;
    until_workspace(&system, &ada.workspace_id, "the limit follows", |w| {
        w.seat_limit == 8
    })
    .await;
    let seats_changed =
        first_message(&system, "saas.events.billing.subscription.seats_changed").await;

    // Someone moves the limit by hand after the policy ran.
    let moved = system
        .data
        .workspaces_client()
        .await
        .set_seat_limit(workspace_pb::SetSeatLimitRequest {
            id: ada.workspace_id.clone(),
            request_id: request_id(),
            etag: String::new(),
            seat_limit: 7,
        })
        .await
        .expect("a hand-set limit")
        .into_inner();

    // The same event again, under a new message id so the bus delivers it again.
    system
        .bus
        .publish(Message {
            id: format!("{}-again", seats_changed.id),
            ..seats_changed.clone()
        })
        .await
        .expect("published again");

    // The policy's consumer handles events in publish order: once a later event has taken
    // effect, the duplicate has been handled.
    let bob = system.sign_up("bob@example.com", "looms").await;
    change_seats_over_http(&system, &bob, 9).await;
    until_workspace(&system, &bob.workspace_id, "a later event", |w| {
        w.seat_limit == 9
    })
    .await;

    // The duplicate replayed the first answer instead of setting the limit again.
    let after = get_workspace(&system, &ada.workspace_id).await;
    assert_eq!(after.seat_limit, 7);
    assert_eq!(after.etag, moved.etag);
    assert_nothing_parked(&system).await;
}

#[tokio::test]
async fn a_parked_event_is_redriven_once_it_can_succeed() {
    a_parked_event_is_redriven_once_it_can_succeed_on(System::spawn().await).await;
}

#[tokio::test]
async fn a_parked_event_is_redriven_once_it_can_succeed_on_nats() {
    let Some(nats) = crate::on_nats::private_nats().await else {
        return;
    };
    a_parked_event_is_redriven_once_it_can_succeed_on(crate::on_nats::system(&nats).await).await;
}

async fn a_parked_event_is_redriven_once_it_can_succeed_on(system: System) {
    let ada = system.sign_up("ada@example.com", "engines").await;
    let grace = system
        .join(&ada, "grace@example.com", "compilers", "member")
        .await;
    system
        .join(&ada, "alan@example.com", "machines", "member")
        .await;
    assert_eq!(
        get_workspace(&system, &ada.workspace_id).await.seats_in_use,
        3
    );

    // Billing is told (wrongly) that one seat is in use and goes down to 2 seats: the
    // workspace refuses a limit below its 3 seats in use, and the policy parks the event.
    let subscription = subscription_of(&system, &ada.workspace_id).await;
    system
        .data
        .subscriptions_client()
        .await
        .change_seats(billing_pb::ChangeSeatsRequest {
            id: subscription.id,
            request_id: request_id(),
            etag: String::new(),
            seats: 2,
            seats_in_use: 1,
        })
        .await
        .expect("fewer seats");
    let parked = eventually(PATIENCE, || async {
        !system.bus.list().await.expect("dead letters").is_empty()
    })
    .await;
    assert!(parked, "the seat-limit policy parks the event");
    let letters = system.bus.list().await.expect("dead letters");
    assert_eq!(letters.len(), 1, "{letters:?}");
    assert_eq!(letters[0].consumer, "policy-seat-limit");
    assert_eq!(
        letters[0].message.subject,
        "saas.events.billing.subscription.seats_changed"
    );
    assert!(
        letters[0].reason.contains("SEAT_LIMIT_BELOW_SEATS_IN_USE"),
        "{}",
        letters[0].reason
    );
    assert_eq!(
        get_workspace(&system, &ada.workspace_id).await.seat_limit,
        5
    );

    // A member leaves, so two seats are in use; the redriven event now applies.
    let removed = system
        .call(
            Method::DELETE,
            &format!(
                "/v1/workspaces/{}/members/{}",
                ada.workspace_id, grace.user_id
            ),
            Some(&ada.access_token),
            None,
        )
        .await;
    assert!(removed.status < 300, "{:?}", removed.body);
    assert_eq!(
        system
            .bus
            .redrive(Some("policy-seat-limit"))
            .await
            .expect("redrive"),
        1
    );
    until_workspace(
        &system,
        &ada.workspace_id,
        "the redriven event sets the limit",
        |w| w.seat_limit == 2,
    )
    .await;
    assert_nothing_parked(&system).await;
}

#[tokio::test]
async fn the_workspace_follows_its_subscription_out_of_good_standing_and_back() {
    let system = System::spawn().await;
    let ada = system.sign_up("ada@example.com", "engines").await;
    let standing_is = |standing: workspace_pb::SubscriptionStanding| {
        move |held: &workspace_pb::Workspace| held.subscription_standing() == standing
    };
    let fresh = get_workspace(&system, &ada.workspace_id).await;
    assert_eq!(
        fresh.subscription_standing(),
        workspace_pb::SubscriptionStanding::Good,
        "a new workspace starts with its trial"
    );

    let subscription = past_due(&system, &ada.workspace_id).await;
    until_workspace(
        &system,
        &ada.workspace_id,
        "the workspace follows its past-due subscription",
        standing_is(workspace_pb::SubscriptionStanding::Lapsed),
    )
    .await;
    let invite = |email: &'static str| {
        let system = &system;
        let ada = &ada;
        async move {
            system
                .post(
                    &format!("/v1/workspaces/{}/invitations", ada.workspace_id),
                    Some(&ada.access_token),
                    json!({ "email": email, "role": "member" }),
                )
                .await
        }
    };
    let refused = invite("grace@example.com").await;
    assert_eq!(refused.status, 422, "{:?}", refused.body);
    assert_eq!(refused.body["code"], "SUBSCRIPTION_INACTIVE");

    system
        .data
        .subscriptions_client()
        .await
        .record_payment_succeeded(billing_pb::RecordPaymentSucceededRequest {
            id: subscription.id.clone(),
            request_id: request_id(),
        })
        .await
        .expect("paid");
    until_workspace(
        &system,
        &ada.workspace_id,
        "the workspace follows its paid subscription",
        standing_is(workspace_pb::SubscriptionStanding::Good),
    )
    .await;
    let invited = invite("grace@example.com").await;
    assert_eq!(invited.status, 201, "{:?}", invited.body);
    assert_nothing_parked(&system).await;
}
