//! Every user-facing event becomes an entry in the feeds of the users it concerns.

use platform::consume::HandlerError;
use ports_app::{Ctx, NewFeedEntry, Role, Workspace, WorkspaceReadError};
use saas_proto::billing::v1 as billing;
use saas_proto::workspace::v1 as workspace;
use saas_proto::{
    billing::v1::{
        SubscriptionPaymentFailed, SubscriptionPeriodEnded, SubscriptionPlanChanged,
        SubscriptionSeatsChanged, SubscriptionTrialExpired,
    },
    events::v1::EventEnvelope,
    workspace::v1::{WorkspaceMemberJoined, WorkspaceMemberRemoved, WorkspaceRoleChanged},
};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::{
    PAYMENT_FAILED, PERIOD_ENDED, Policies, SEATS_CHANGED, TRIAL_EXPIRED, event_ctx, handler_error,
    payload, payload_id,
};

/// A member joined a workspace.
pub const MEMBER_JOINED: &str = "workspace.workspace.member_joined";
/// A member's role changed.
pub const ROLE_CHANGED: &str = "workspace.workspace.role_changed";
/// A member was removed from a workspace.
pub const MEMBER_REMOVED: &str = "workspace.workspace.member_removed";
/// A subscription moved to another plan.
pub const PLAN_CHANGED: &str = "billing.subscription.plan_changed";

/// Who of a workspace an entry goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audience {
    Owners,
    OwnersAndAdmins,
}

/// One entry to append: its kind, the workspace it is about and its details. Each recipient
/// gets the same entry; `workspace_name` is added to the details when the workspace is read.
struct Entry {
    kind: &'static str,
    workspace_id: Uuid,
    details: Map<String, Value>,
}

impl Entry {
    fn new(kind: &'static str, workspace_id: Uuid, details: Value) -> Entry {
        let mut details = match details {
            Value::Object(details) => details,
            _ => Map::new(),
        };
        details.insert("workspace_id".into(), json!(workspace_id.to_string()));
        Entry {
            kind,
            workspace_id,
            details,
        }
    }
}

impl Policies {
    /// On a user-facing event: appends an entry to the feed of every user it concerns
    /// (`policy-feed`, one consumer of every event subject; events of other types are
    /// acknowledged and ignored).
    ///
    /// | event                                   | kind                    | feeds |
    /// |-----------------------------------------|-------------------------|-------|
    /// | `workspace.workspace.member_joined`     | `workspace_joined`      | the member who joined |
    /// |                                         | `member_joined`         | the workspace's Owners and Admins (but the joiner) |
    /// | `workspace.workspace.role_changed`      | `role_changed`          | the member |
    /// | `workspace.workspace.member_removed`    | `member_removed`        | the removed member |
    /// | `billing.subscription.payment_failed`, `trial_expired`, `period_ended` | `subscription_past_due` | the workspace's Owners |
    /// | `billing.subscription.plan_changed`     | `plan_changed`          | the workspace's Owners |
    /// | `billing.subscription.seats_changed`    | `seats_changed`         | the workspace's Owners |
    ///
    /// - The payload is a JSON object with the workspace's id and, when it can still be read,
    ///   its name (`workspace_name`), plus the event's details (role, plan, seats, ...).
    /// - Recipients are read from the workspace as it is when the event is handled; a
    ///   workspace that no longer exists gets entries only to the member the event names.
    /// - Each entry is appended once: its source event is the event's id (a feed holds each
    ///   source event at most once) and its request id is the event's step
    ///   `policy-feed/<user id>`, so a redelivered event appends nothing new.
    pub async fn feed(&self, envelope: EventEnvelope) -> Result<(), HandlerError> {
        let event_type = envelope.event_type.as_str();
        match event_type {
            MEMBER_JOINED => {
                let event: WorkspaceMemberJoined =
                    payload(&envelope, "saas.workspace.v1.WorkspaceMemberJoined")?;
                let workspace_id = payload_id("workspace_id", &event.workspace_id)?;
                let user_id = payload_id("user_id", &event.user_id)?;
                let ctx = event_ctx(&envelope)?;
                let held = self.workspace(&ctx, workspace_id).await?;
                let role = role_name(event.role());
                let joined = Entry::new(
                    "workspace_joined",
                    workspace_id,
                    json!({"user_id": user_id.to_string(), "role": role}),
                );
                self.append(&ctx, &envelope, user_id, &joined, held.as_ref())
                    .await?;
                let announced = Entry::new(
                    "member_joined",
                    workspace_id,
                    json!({"user_id": user_id.to_string(), "role": role}),
                );
                for recipient in audience(held.as_ref(), Audience::OwnersAndAdmins) {
                    if recipient != user_id {
                        self.append(&ctx, &envelope, recipient, &announced, held.as_ref())
                            .await?;
                    }
                }
                Ok(())
            }
            ROLE_CHANGED => {
                let event: WorkspaceRoleChanged =
                    payload(&envelope, "saas.workspace.v1.WorkspaceRoleChanged")?;
                let workspace_id = payload_id("workspace_id", &event.workspace_id)?;
                let user_id = payload_id("user_id", &event.user_id)?;
                let ctx = event_ctx(&envelope)?;
                let held = self.workspace(&ctx, workspace_id).await?;
                let entry = Entry::new(
                    "role_changed",
                    workspace_id,
                    json!({
                        "user_id": user_id.to_string(),
                        "previous_role": role_name(event.previous_role()),
                        "role": role_name(event.role()),
                        "changed_by_user_id": event.changed_by_user_id,
                    }),
                );
                self.append(&ctx, &envelope, user_id, &entry, held.as_ref())
                    .await
            }
            MEMBER_REMOVED => {
                let event: WorkspaceMemberRemoved =
                    payload(&envelope, "saas.workspace.v1.WorkspaceMemberRemoved")?;
                let workspace_id = payload_id("workspace_id", &event.workspace_id)?;
                let user_id = payload_id("user_id", &event.user_id)?;
                let ctx = event_ctx(&envelope)?;
                let held = self.workspace(&ctx, workspace_id).await?;
                let entry = Entry::new(
                    "member_removed",
                    workspace_id,
                    json!({
                        "user_id": user_id.to_string(),
                        "removed_by_user_id": event.removed_by_user_id,
                    }),
                );
                self.append(&ctx, &envelope, user_id, &entry, held.as_ref())
                    .await
            }
            PAYMENT_FAILED | TRIAL_EXPIRED | PERIOD_ENDED => {
                let (cause, subscription_id, workspace_id) = match event_type {
                    PAYMENT_FAILED => {
                        let event: SubscriptionPaymentFailed =
                            payload(&envelope, "saas.billing.v1.SubscriptionPaymentFailed")?;
                        ("payment_failed", event.subscription_id, event.workspace_id)
                    }
                    TRIAL_EXPIRED => {
                        let event: SubscriptionTrialExpired =
                            payload(&envelope, "saas.billing.v1.SubscriptionTrialExpired")?;
                        ("trial_expired", event.subscription_id, event.workspace_id)
                    }
                    _ => {
                        let event: SubscriptionPeriodEnded =
                            payload(&envelope, "saas.billing.v1.SubscriptionPeriodEnded")?;
                        ("period_ended", event.subscription_id, event.workspace_id)
                    }
                };
                let workspace_id = payload_id("workspace_id", &workspace_id)?;
                let entry = Entry::new(
                    "subscription_past_due",
                    workspace_id,
                    json!({"subscription_id": subscription_id, "cause": cause}),
                );
                self.to_owners(&envelope, entry).await
            }
            PLAN_CHANGED => {
                let event: SubscriptionPlanChanged =
                    payload(&envelope, "saas.billing.v1.SubscriptionPlanChanged")?;
                let workspace_id = payload_id("workspace_id", &event.workspace_id)?;
                let entry = Entry::new(
                    "plan_changed",
                    workspace_id,
                    json!({
                        "subscription_id": event.subscription_id,
                        "previous_plan": plan_name(event.previous_plan()),
                        "plan": plan_name(event.plan()),
                        "monthly_amount_minor": event.monthly_amount_minor,
                        "currency": event.currency_code,
                    }),
                );
                self.to_owners(&envelope, entry).await
            }
            SEATS_CHANGED => {
                let event: SubscriptionSeatsChanged =
                    payload(&envelope, "saas.billing.v1.SubscriptionSeatsChanged")?;
                let workspace_id = payload_id("workspace_id", &event.workspace_id)?;
                let entry = Entry::new(
                    "seats_changed",
                    workspace_id,
                    json!({
                        "subscription_id": event.subscription_id,
                        "previous_seats": event.previous_seats,
                        "seats": event.seats,
                        "monthly_amount_minor": event.monthly_amount_minor,
                        "currency": event.currency_code,
                    }),
                );
                self.to_owners(&envelope, entry).await
            }
            _ => Ok(()),
        }
    }

    /// Appends `entry` to the feed of every Owner of its workspace.
    async fn to_owners(&self, envelope: &EventEnvelope, entry: Entry) -> Result<(), HandlerError> {
        let ctx = event_ctx(envelope)?;
        let held = self.workspace(&ctx, entry.workspace_id).await?;
        for owner in audience(held.as_ref(), Audience::Owners) {
            self.append(&ctx, envelope, owner, &entry, held.as_ref())
                .await?;
        }
        Ok(())
    }

    /// The workspace, or `None` when it no longer exists.
    async fn workspace(
        &self,
        ctx: &Ctx,
        workspace_id: Uuid,
    ) -> Result<Option<Workspace>, HandlerError> {
        match self
            .workspaces
            .get_workspace(ctx, workspace_id.into())
            .await
        {
            Ok(held) => Ok(Some(held)),
            Err(WorkspaceReadError::NotFound(_)) => Ok(None),
            Err(WorkspaceReadError::Other(error)) => Err(handler_error(&error)),
        }
    }

    /// Appends `entry` to `user`'s feed, once per event and user.
    async fn append(
        &self,
        ctx: &Ctx,
        envelope: &EventEnvelope,
        user: Uuid,
        entry: &Entry,
        held: Option<&Workspace>,
    ) -> Result<(), HandlerError> {
        let mut details = entry.details.clone();
        if let Some(held) = held {
            details.insert("workspace_name".into(), json!(held.name));
        }
        let new_entry = NewFeedEntry {
            source_event_id: envelope.event_id.clone(),
            kind: entry.kind.to_owned(),
            workspace_id: Some(entry.workspace_id.into()),
            payload_json: Value::Object(details).to_string(),
        };
        let step = format!("{}/{user}", crate::FEED);
        self.feeds
            .append_feed_entry(ctx, &step, user.into(), new_entry)
            .await
            .map_err(|e| handler_error(&e))?;
        Ok(())
    }
}

/// The members of `held` in `audience`; nobody when the workspace is gone.
fn audience(held: Option<&Workspace>, audience: Audience) -> Vec<Uuid> {
    let Some(held) = held else {
        return Vec::new();
    };
    let least = match audience {
        Audience::Owners => Role::Owner,
        Audience::OwnersAndAdmins => Role::Admin,
    };
    held.members
        .iter()
        .filter(|member| member.role >= least)
        .map(|member| member.user_id.as_uuid())
        .collect()
}

/// A role as the API names it (`owner`, `admin`, `member`).
fn role_name(role: workspace::Role) -> &'static str {
    match role {
        workspace::Role::Owner => "owner",
        workspace::Role::Admin => "admin",
        workspace::Role::Member => "member",
        workspace::Role::Unspecified => "unspecified",
    }
}

/// A plan as the API names it (`free`, `team`, `business`).
fn plan_name(plan: billing::Plan) -> String {
    plan.as_str_name()
        .trim_start_matches("PLAN_")
        .to_ascii_lowercase()
}
