//! How resources look in JSON: snake_case fields, RFC 3339 UTC times (`null` when unset),
//! lower_snake enum values, money as `{"amount_minor": 4000, "currency": "USD"}`.
//!
//! Views carry no secret: no password or token hash ever reaches them, sessions are left out
//! of users, and an invitation never shows its token (it is mailed).

use axum::Json;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, SecondsFormat};
use http::{HeaderValue, StatusCode, header};
use ports_app::wire::{billing, identity, workspace};
use serde::Serialize;
use team_app::MemberView;

/// A wire time as RFC 3339 UTC, or `None` when unset or out of range.
pub fn time(timestamp: Option<&prost_types::Timestamp>) -> Option<String> {
    let timestamp = timestamp?;
    let nanos = u32::try_from(timestamp.nanos).ok()?;
    DateTime::from_timestamp(timestamp.seconds, nanos)
        .map(|t| t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
}

/// A user as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub status: &'static str,
    pub email_verified: bool,
    pub etag: String,
    pub create_time: Option<String>,
    pub update_time: Option<String>,
}

impl From<&identity::User> for UserView {
    fn from(user: &identity::User) -> Self {
        UserView {
            id: user.id.clone(),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            status: user_status(user.status()),
            email_verified: user.email_verified,
            etag: user.etag.clone(),
            create_time: time(user.create_time.as_ref()),
            update_time: time(user.update_time.as_ref()),
        }
    }
}

fn user_status(status: identity::UserStatus) -> &'static str {
    match status {
        identity::UserStatus::Active => "active",
        identity::UserStatus::Suspended => "suspended",
        identity::UserStatus::Erased => "erased",
        identity::UserStatus::Unspecified => "unspecified",
    }
}

/// A workspace without its members and invitations (they have routes of their own, the
/// invitations for Admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkspaceView {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub seat_limit: i32,
    pub seats_in_use: i32,
    pub archived: bool,
    pub etag: String,
    pub create_time: Option<String>,
    pub update_time: Option<String>,
}

impl From<&workspace::Workspace> for WorkspaceView {
    fn from(workspace: &workspace::Workspace) -> Self {
        WorkspaceView {
            id: workspace.id.clone(),
            slug: workspace.slug.clone(),
            name: workspace.name.clone(),
            seat_limit: workspace.seat_limit,
            seats_in_use: workspace.seats_in_use,
            archived: workspace.archived,
            etag: workspace.etag.clone(),
            create_time: time(workspace.create_time.as_ref()),
            update_time: time(workspace.update_time.as_ref()),
        }
    }
}

/// A role as JSON names it.
pub fn role_name(role: workspace::Role) -> &'static str {
    match role {
        workspace::Role::Owner => "owner",
        workspace::Role::Admin => "admin",
        workspace::Role::Member => "member",
        workspace::Role::Unspecified => "unspecified",
    }
}

/// A member with the profile Identity has of them (`null`s when it has none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MemberJson {
    pub user_id: String,
    pub role: &'static str,
    pub join_time: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
}

impl From<&MemberView> for MemberJson {
    fn from(view: &MemberView) -> Self {
        MemberJson {
            user_id: view.member.user_id.clone(),
            role: role_name(view.member.role()),
            join_time: time(view.member.join_time.as_ref()),
            email: view.profile.as_ref().map(|p| p.email.clone()),
            display_name: view.profile.as_ref().map(|p| p.display_name.clone()),
        }
    }
}

/// An invitation, without its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvitationView {
    pub id: String,
    pub email: String,
    pub role: &'static str,
    pub inviter_id: String,
    pub expire_time: Option<String>,
    pub state: &'static str,
}

impl From<&workspace::Invitation> for InvitationView {
    fn from(invitation: &workspace::Invitation) -> Self {
        InvitationView {
            id: invitation.id.clone(),
            email: invitation.email.clone(),
            role: role_name(invitation.role()),
            inviter_id: invitation.inviter_id.clone(),
            expire_time: time(invitation.expire_time.as_ref()),
            state: match invitation.state() {
                workspace::InvitationState::Pending => "pending",
                workspace::InvitationState::Accepted => "accepted",
                workspace::InvitationState::Revoked => "revoked",
                workspace::InvitationState::Expired => "expired",
                workspace::InvitationState::Unspecified => "unspecified",
            },
        }
    }
}

/// An amount of money in minor units (cents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoneyView {
    pub amount_minor: i64,
    pub currency: String,
}

/// A workspace's subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SubscriptionView {
    pub id: String,
    pub workspace_id: String,
    pub plan: &'static str,
    pub seats: i32,
    pub status: &'static str,
    pub trial_end_time: Option<String>,
    pub period_end_time: Option<String>,
    pub cancel_at_period_end: bool,
    pub cancel_time: Option<String>,
    pub monthly_amount: MoneyView,
    pub etag: String,
    pub create_time: Option<String>,
    pub update_time: Option<String>,
}

/// A plan as JSON names it.
pub fn plan_name(plan: billing::Plan) -> &'static str {
    match plan {
        billing::Plan::Free => "free",
        billing::Plan::Team => "team",
        billing::Plan::Business => "business",
        billing::Plan::Unspecified => "unspecified",
    }
}

impl From<&billing::Subscription> for SubscriptionView {
    fn from(subscription: &billing::Subscription) -> Self {
        SubscriptionView {
            id: subscription.id.clone(),
            workspace_id: subscription.workspace_id.clone(),
            plan: plan_name(subscription.plan()),
            seats: subscription.seats,
            status: match subscription.status() {
                billing::SubscriptionStatus::Trialing => "trialing",
                billing::SubscriptionStatus::Active => "active",
                billing::SubscriptionStatus::PastDue => "past_due",
                billing::SubscriptionStatus::Canceled => "canceled",
                billing::SubscriptionStatus::Unspecified => "unspecified",
            },
            trial_end_time: time(subscription.trial_end_time.as_ref()),
            period_end_time: time(subscription.period_end_time.as_ref()),
            cancel_at_period_end: subscription.cancel_at_period_end,
            cancel_time: time(subscription.cancel_time.as_ref()),
            monthly_amount: MoneyView {
                amount_minor: subscription.monthly_amount_minor,
                currency: subscription.currency_code.clone(),
            },
            etag: subscription.etag.clone(),
            create_time: time(subscription.create_time.as_ref()),
            update_time: time(subscription.update_time.as_ref()),
        }
    }
}

/// A resource answer: its JSON and its etag as the `ETag` header.
#[derive(Debug, Clone)]
pub struct Resource<T> {
    pub status: StatusCode,
    pub etag: String,
    pub body: T,
}

impl<T> Resource<T> {
    /// A 200 answer.
    pub fn ok(etag: &str, body: T) -> Self {
        Resource {
            status: StatusCode::OK,
            etag: etag.to_owned(),
            body,
        }
    }
}

impl Resource<UserView> {
    pub fn user(user: &identity::User) -> Self {
        Resource::ok(&user.etag, UserView::from(user))
    }
}

impl Resource<WorkspaceView> {
    pub fn workspace(workspace: &workspace::Workspace) -> Self {
        Resource::ok(&workspace.etag, WorkspaceView::from(workspace))
    }
}

impl Resource<SubscriptionView> {
    pub fn subscription(subscription: &billing::Subscription) -> Self {
        Resource::ok(&subscription.etag, SubscriptionView::from(subscription))
    }
}

impl<T: Serialize> IntoResponse for Resource<T> {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(self.body)).into_response();
        match HeaderValue::from_str(&self.etag) {
            Ok(etag) if !self.etag.is_empty() => {
                response.headers_mut().insert(header::ETAG, etag);
            }
            _ => tracing::warn!(etag = %self.etag, "a resource's etag cannot be a header"),
        }
        response
    }
}
