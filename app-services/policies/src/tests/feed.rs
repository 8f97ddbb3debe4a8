//! The feed policy: who gets an entry for which event, once per event.

use saas_proto::{billing::v1 as billing, workspace::v1 as workspace};
use saas_proto::{
    billing::v1::SubscriptionPlanChanged,
    workspace::v1::{WorkspaceMemberJoined, WorkspaceMemberRemoved, WorkspaceRoleChanged},
};
use serde_json::Value;

use super::*;
use crate::FEED;

/// What an append asked for: (feed, request id, source event, kind, workspace, payload).
type Appended = Arc<Mutex<Vec<(String, String, String, String, String, Value)>>>;

fn appends(
    mocks: &mut Mocks,
    answer: impl Fn() -> Result<(), AppError> + Send + 'static,
) -> Appended {
    let log = Appended::default();
    let seen = log.clone();
    mocks
        .feeds
        .expect_append_feed_entry()
        .withf(|ctx, _, _, _| ctx.actor.is_none())
        .returning(move |ctx, step, feed, entry| {
            seen.lock().unwrap().push((
                feed.to_string(),
                ctx.step(step),
                entry.source_event_id.clone(),
                entry.kind.clone(),
                entry
                    .workspace_id
                    .map(|id| id.to_string())
                    .unwrap_or_default(),
                serde_json::from_str(&entry.payload_json).unwrap(),
            ));
            answer().map(|()| an_appended_entry(feed, entry))
        });
    log
}

/// A workspace named "Engines" with an Owner, an Admin and a Member.
struct Team {
    workspace_id: Uuid,
    owner: Uuid,
    admin: Uuid,
    member: Uuid,
}

impl Team {
    fn new() -> Team {
        Team {
            workspace_id: Uuid::now_v7(),
            owner: Uuid::now_v7(),
            admin: Uuid::now_v7(),
            member: Uuid::now_v7(),
        }
    }

    fn is_read(&self, mocks: &mut Mocks) {
        let id = self.workspace_id;
        let held = workspace_of(
            id,
            "Engines",
            &[
                (self.owner, Role::Owner),
                (self.admin, Role::Admin),
                (self.member, Role::Member),
            ],
        );
        mocks
            .workspaces
            .expect_get_workspace()
            .withf(move |ctx, asked| ctx.actor.is_none() && asked.as_uuid() == id)
            .returning(move |_, _| Ok(held.clone()));
    }

    fn joined(&self) -> EventEnvelope {
        envelope(
            crate::MEMBER_JOINED,
            "saas.workspace.v1.WorkspaceMemberJoined",
            &WorkspaceMemberJoined {
                workspace_id: self.workspace_id.to_string(),
                user_id: self.member.to_string(),
                role: workspace::Role::Member as i32,
            },
        )
    }
}

fn recipients(log: &Appended) -> Vec<String> {
    log.lock().unwrap().iter().map(|a| a.0.clone()).collect()
}

#[tokio::test]
async fn a_member_joining_tells_the_member_and_the_owners_and_admins_once_per_event() {
    let team = Team::new();
    let mut mocks = Mocks::default();
    team.is_read(&mut mocks);
    let log = appends(&mut mocks, || Ok(()));
    let policies = mocks.policies();
    let event = team.joined();

    policies.feed(event.clone()).await.unwrap();
    let first = log.lock().unwrap().clone();
    assert_eq!(
        recipients(&log),
        [team.member, team.owner, team.admin].map(|u| u.to_string())
    );
    let (feed, request_id, source, kind, workspace_id, payload) = &first[0];
    assert_eq!(feed, &team.member.to_string());
    assert_eq!(
        request_id,
        &step_id(&event, &format!("{FEED}/{}", team.member))
    );
    assert_eq!(source, &event.event_id);
    assert_eq!(kind, "workspace_joined");
    assert_eq!(workspace_id, &team.workspace_id.to_string());
    assert_eq!(payload["workspace_name"], "Engines");
    assert_eq!(payload["workspace_id"], team.workspace_id.to_string());
    assert_eq!(payload["role"], "member");
    for (feed, request_id, source, kind, _, payload) in &first[1..] {
        assert_eq!(kind, "member_joined");
        assert_eq!(source, &event.event_id);
        assert_eq!(request_id, &step_id(&event, &format!("{FEED}/{feed}")));
        assert_eq!(payload["user_id"], team.member.to_string());
    }
    let ids: std::collections::BTreeSet<&String> = first.iter().map(|a| &a.1).collect();
    assert_eq!(ids.len(), 3, "one request id per recipient");

    // A redelivery asks again with the same request ids and source event.
    policies.feed(event).await.unwrap();
    let all = log.lock().unwrap().clone();
    assert_eq!(all[3..], all[..3]);
}

#[tokio::test]
async fn a_role_change_and_a_removal_tell_the_member_only() {
    let team = Team::new();
    let mut mocks = Mocks::default();
    team.is_read(&mut mocks);
    let log = appends(&mut mocks, || Ok(()));
    let policies = mocks.policies();
    let changed = envelope(
        crate::ROLE_CHANGED,
        "saas.workspace.v1.WorkspaceRoleChanged",
        &WorkspaceRoleChanged {
            workspace_id: team.workspace_id.to_string(),
            user_id: team.member.to_string(),
            previous_role: workspace::Role::Member as i32,
            role: workspace::Role::Admin as i32,
            changed_by_user_id: team.owner.to_string(),
        },
    );
    let removed = envelope(
        crate::MEMBER_REMOVED,
        "saas.workspace.v1.WorkspaceMemberRemoved",
        &WorkspaceMemberRemoved {
            workspace_id: team.workspace_id.to_string(),
            user_id: team.member.to_string(),
            removed_by_user_id: team.admin.to_string(),
        },
    );
    policies.feed(changed).await.unwrap();
    policies.feed(removed).await.unwrap();
    let all = log.lock().unwrap().clone();
    assert_eq!(
        recipients(&log),
        [team.member, team.member].map(|u| u.to_string())
    );
    assert_eq!(all[0].3, "role_changed");
    assert_eq!(all[0].5["previous_role"], "member");
    assert_eq!(all[0].5["role"], "admin");
    assert_eq!(all[1].3, "member_removed");
    assert_eq!(all[1].5["removed_by_user_id"], team.admin.to_string());
    assert_eq!(all[1].5["workspace_name"], "Engines");
}

#[tokio::test]
async fn billing_events_tell_the_owners_only() {
    let team = Team::new();
    let mut mocks = Mocks::default();
    team.is_read(&mut mocks);
    let log = appends(&mut mocks, || Ok(()));
    let policies = mocks.policies();
    let subscription_id = Uuid::now_v7().to_string();
    let workspace_id = team.workspace_id.to_string();
    let plan = envelope(
        crate::PLAN_CHANGED,
        "saas.billing.v1.SubscriptionPlanChanged",
        &SubscriptionPlanChanged {
            subscription_id: subscription_id.clone(),
            workspace_id: workspace_id.clone(),
            previous_plan: billing::Plan::Team as i32,
            plan: billing::Plan::Business as i32,
            monthly_amount_minor: 1500,
            currency_code: "USD".into(),
        },
    );
    let seats = envelope(
        crate::SEATS_CHANGED,
        "saas.billing.v1.SubscriptionSeatsChanged",
        &SubscriptionSeatsChanged {
            subscription_id: subscription_id.clone(),
            workspace_id: workspace_id.clone(),
            previous_seats: 3,
            seats: 5,
            monthly_amount_minor: 4000,
            currency_code: "USD".into(),
        },
    );
    let failed = envelope(
        crate::PAYMENT_FAILED,
        "saas.billing.v1.SubscriptionPaymentFailed",
        &SubscriptionPaymentFailed {
            subscription_id: subscription_id.clone(),
            workspace_id: workspace_id.clone(),
            monthly_amount_minor: 4000,
            currency_code: "USD".into(),
        },
    );
    let expired = envelope(
        crate::TRIAL_EXPIRED,
        "saas.billing.v1.SubscriptionTrialExpired",
        &SubscriptionTrialExpired {
            subscription_id: subscription_id.clone(),
            workspace_id: workspace_id.clone(),
        },
    );
    for event in [plan, seats, failed, expired] {
        policies.feed(event).await.unwrap();
    }
    let all = log.lock().unwrap().clone();
    assert_eq!(recipients(&log), vec![team.owner.to_string(); 4]);
    let kinds: Vec<&str> = all.iter().map(|a| a.3.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "plan_changed",
            "seats_changed",
            "subscription_past_due",
            "subscription_past_due"
        ]
    );
    assert_eq!(all[0].5["previous_plan"], "team");
    assert_eq!(all[0].5["plan"], "business");
    assert_eq!(all[1].5["seats"], 5);
    assert_eq!(all[2].5["cause"], "payment_failed");
    assert_eq!(all[3].5["cause"], "trial_expired");
}

#[tokio::test]
async fn a_workspace_that_is_gone_still_tells_the_member_the_event_names() {
    let team = Team::new();
    let mut mocks = Mocks::default();
    mocks
        .workspaces
        .expect_get_workspace()
        .returning(|_, _| Err(refused(RejectionKind::NotFound, "WORKSPACE_NOT_FOUND").into()));
    let log = appends(&mut mocks, || Ok(()));
    mocks.policies().feed(team.joined()).await.unwrap();
    let all = log.lock().unwrap().clone();
    assert_eq!(recipients(&log), [team.member.to_string()]);
    assert!(all[0].5.get("workspace_name").is_none());
}

#[tokio::test]
async fn feed_failures_settle_by_their_kind() {
    let team = Team::new();

    let mut mocks = Mocks::default();
    team.is_read(&mut mocks);
    appends(&mut mocks, || Err(unavailable()));
    assert!(is_retry(
        &mocks.policies().feed(team.joined()).await,
        "OVERLOADED"
    ));

    let mut mocks = Mocks::default();
    team.is_read(&mut mocks);
    appends(&mut mocks, || {
        Err(refused(RejectionKind::InvalidArgument, "INVALID_PAYLOAD"))
    });
    assert!(is_permanent(
        &mocks.policies().feed(team.joined()).await,
        "INVALID_PAYLOAD"
    ));

    let mut mocks = Mocks::default();
    mocks
        .workspaces
        .expect_get_workspace()
        .returning(|_, _| Err(timeout().into()));
    mocks.feeds.expect_append_feed_entry().never();
    assert!(is_retry(
        &mocks.policies().feed(team.joined()).await,
        "TIMEOUT"
    ));

    let mut broken = team.joined();
    broken.payload.as_mut().unwrap().value = vec![0xff];
    let mut mocks = Mocks::default();
    mocks.feeds.expect_append_feed_entry().never();
    assert!(is_permanent(
        &mocks.policies().feed(broken).await,
        "WorkspaceMemberJoined"
    ));
}
