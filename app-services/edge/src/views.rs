//! How resources look in JSON: snake_case fields, RFC 3339 UTC times (`null` when unset),
//! lower_snake enum values, money as `{"amount_minor": 4000, "currency": "USD"}`.
//!
//! Views carry no secret: no password or token hash ever reaches them, sessions are left out
//! of users, and an invitation never shows its token (it is mailed).

use axum::Json;
use axum::response::{IntoResponse, Response};
use chrono::SecondsFormat;
use http::{HeaderValue, StatusCode, header};
use kernel_domain::Timestamp;
use ports_app::{
    Invitation, InvitationState as AppInvitationState, Plan, Role, Subscription,
    SubscriptionStatus, User, UserStatus, Workspace,
};
use serde::{Deserialize, Serialize};
use team_app::MemberView;
use utoipa::ToSchema;

/// A user as its owner sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = User)]
pub struct UserView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Email)]
    pub email: String,
    pub display_name: String,
    /// Always set (the type stays nullable for the clients that read it so).
    pub status: Option<UserState>,
    pub email_verified: bool,
    /// The user's version, also sent as `ETag`.
    pub etag: String,
    #[schema(format = DateTime)]
    pub create_time: Option<String>,
    #[schema(format = DateTime)]
    pub update_time: Option<String>,
}

/// Whether a user may sign in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum UserState {
    Active,
    Suspended,
    Erased,
}

/// A role in a workspace, as JSON names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Role)]
pub enum RoleName {
    Owner,
    Admin,
    Member,
}

impl From<RoleName> for Role {
    fn from(role: RoleName) -> Self {
        match role {
            RoleName::Owner => Role::Owner,
            RoleName::Admin => Role::Admin,
            RoleName::Member => Role::Member,
        }
    }
}

impl From<Role> for RoleName {
    fn from(role: Role) -> Self {
        match role {
            Role::Owner => RoleName::Owner,
            Role::Admin => RoleName::Admin,
            Role::Member => RoleName::Member,
        }
    }
}

/// A plan, as JSON names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[schema(as = Plan)]
pub enum PlanName {
    Free,
    Team,
    Business,
}

impl From<PlanName> for Plan {
    fn from(plan: PlanName) -> Self {
        match plan {
            PlanName::Free => Plan::Free,
            PlanName::Team => Plan::Team,
            PlanName::Business => Plan::Business,
        }
    }
}

impl From<Plan> for PlanName {
    fn from(plan: Plan) -> Self {
        match plan {
            Plan::Free => PlanName::Free,
            Plan::Team => PlanName::Team,
            Plan::Business => PlanName::Business,
        }
    }
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvitationState {
    Pending,
    Accepted,
    Revoked,
    Expired,
}

/// Where a subscription stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionState {
    Trialing,
    Active,
    PastDue,
    Canceled,
}

impl From<&User> for UserView {
    fn from(user: &User) -> Self {
        UserView {
            id: user.id.to_string(),
            email: user.email.clone(),
            display_name: user.display_name.clone(),
            status: Some(match user.status {
                UserStatus::Active => UserState::Active,
                UserStatus::Suspended => UserState::Suspended,
                UserStatus::Erased => UserState::Erased,
            }),
            email_verified: user.email_verified,
            etag: user.version.to_etag(),
            create_time: Some(app_time(user.create_time)),
            update_time: Some(app_time(user.update_time)),
        }
    }
}

/// A workspace without its members and invitations (they have routes of their own, the
/// invitations for Admins only).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Workspace)]
pub struct WorkspaceView {
    #[schema(format = Uuid)]
    pub id: String,
    pub slug: String,
    pub name: String,
    pub seat_limit: i32,
    /// Members plus pending invitations.
    pub seats_in_use: i32,
    pub archived: bool,
    /// The workspace's version, also sent as `ETag`.
    pub etag: String,
    #[schema(format = DateTime)]
    pub create_time: Option<String>,
    #[schema(format = DateTime)]
    pub update_time: Option<String>,
}

impl From<&Workspace> for WorkspaceView {
    fn from(workspace: &Workspace) -> Self {
        WorkspaceView {
            id: workspace.id.to_string(),
            slug: workspace.slug.clone(),
            name: workspace.name.clone(),
            seat_limit: workspace.seat_limit,
            seats_in_use: workspace.seats_in_use,
            archived: workspace.archived,
            etag: workspace.version.to_etag(),
            create_time: Some(app_time(workspace.create_time)),
            update_time: Some(app_time(workspace.update_time)),
        }
    }
}

/// A member with the profile Identity has of them (`null`s when it has none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Member)]
pub struct MemberJson {
    #[schema(format = Uuid)]
    pub user_id: String,
    pub role: Option<RoleName>,
    #[schema(format = DateTime)]
    pub join_time: Option<String>,
    pub email: Option<String>,
    pub display_name: Option<String>,
}

impl From<&MemberView> for MemberJson {
    fn from(view: &MemberView) -> Self {
        MemberJson {
            user_id: view.member.user_id.to_string(),
            role: Some(view.member.role.into()),
            join_time: Some(app_time(view.member.join_time)),
            email: view.profile.as_ref().map(|p| p.email.clone()),
            display_name: view.profile.as_ref().map(|p| p.display_name.clone()),
        }
    }
}

/// An invitation, without its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Invitation)]
pub struct InvitationView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Email)]
    pub email: String,
    pub role: Option<RoleName>,
    #[schema(format = Uuid)]
    pub inviter_id: String,
    #[schema(format = DateTime)]
    pub expire_time: Option<String>,
    pub state: Option<InvitationState>,
}

impl From<&Invitation> for InvitationView {
    fn from(invitation: &Invitation) -> Self {
        InvitationView {
            id: invitation.id.to_string(),
            email: invitation.email.clone(),
            role: Some(invitation.role.into()),
            inviter_id: invitation.inviter_id.to_string(),
            expire_time: Some(app_time(invitation.expire_time)),
            state: Some(match invitation.state {
                AppInvitationState::Pending => InvitationState::Pending,
                AppInvitationState::Accepted => InvitationState::Accepted,
                AppInvitationState::Revoked => InvitationState::Revoked,
                AppInvitationState::Expired => InvitationState::Expired,
            }),
        }
    }
}

/// An amount of money in minor units (cents).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Money)]
pub struct MoneyView {
    /// Minor units (cents).
    pub amount_minor: i64,
    /// ISO 4217, always USD.
    pub currency: String,
}

/// A workspace's subscription.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Subscription)]
pub struct SubscriptionView {
    #[schema(format = Uuid)]
    pub id: String,
    #[schema(format = Uuid)]
    pub workspace_id: String,
    pub plan: Option<PlanName>,
    pub seats: i32,
    pub status: Option<SubscriptionState>,
    #[schema(format = DateTime)]
    pub trial_end_time: Option<String>,
    #[schema(format = DateTime)]
    pub period_end_time: Option<String>,
    pub cancel_at_period_end: bool,
    #[schema(format = DateTime)]
    pub cancel_time: Option<String>,
    pub monthly_amount: MoneyView,
    /// The subscription's version, also sent as `ETag`.
    pub etag: String,
    #[schema(format = DateTime)]
    pub create_time: Option<String>,
    #[schema(format = DateTime)]
    pub update_time: Option<String>,
}

/// An application time as JSON shows it (RFC 3339, UTC).
pub fn app_time(timestamp: Timestamp) -> String {
    timestamp.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

impl From<&Subscription> for SubscriptionView {
    fn from(subscription: &Subscription) -> Self {
        SubscriptionView {
            id: subscription.id.to_string(),
            workspace_id: subscription.workspace_id.to_string(),
            plan: Some(subscription.plan.into()),
            seats: subscription.seats,
            status: Some(match subscription.status {
                SubscriptionStatus::Trialing => SubscriptionState::Trialing,
                SubscriptionStatus::Active => SubscriptionState::Active,
                SubscriptionStatus::PastDue => SubscriptionState::PastDue,
                SubscriptionStatus::Canceled => SubscriptionState::Canceled,
            }),
            trial_end_time: subscription.trial_end_time.map(app_time),
            period_end_time: subscription.period_end_time.map(app_time),
            cancel_at_period_end: subscription.cancel_at_period_end,
            cancel_time: subscription.cancel_time.map(app_time),
            monthly_amount: MoneyView {
                amount_minor: subscription.monthly_amount_minor,
                currency: subscription.currency_code.clone(),
            },
            etag: subscription.version.to_etag(),
            create_time: Some(app_time(subscription.create_time)),
            update_time: Some(app_time(subscription.update_time)),
        }
    }
}

/// What login and refresh hand out (RFC 6749 names).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[schema(as = Tokens)]
pub struct TokensView {
    pub access_token: String,
    /// Always `Bearer`.
    #[schema(pattern = "^Bearer$")]
    pub token_type: String,
    /// Seconds.
    pub expires_in: i64,
    pub refresh_token: String,
    /// Seconds.
    pub refresh_expires_in: i64,
    #[schema(format = Uuid)]
    pub user_id: String,
    #[schema(format = Uuid)]
    pub session_id: String,
}

impl From<access_app::Tokens> for TokensView {
    fn from(tokens: access_app::Tokens) -> Self {
        TokensView {
            access_token: tokens.access_token,
            token_type: tokens.token_type.to_owned(),
            expires_in: tokens.expires_in,
            refresh_token: tokens.refresh_token,
            refresh_expires_in: tokens.refresh_expires_in,
            user_id: tokens.user_id.to_string(),
            session_id: tokens.session_id.to_string(),
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
    pub fn user(user: &User) -> Self {
        Resource::ok(&user.version.to_etag(), UserView::from(user))
    }
}

impl Resource<WorkspaceView> {
    pub fn workspace(workspace: &Workspace) -> Self {
        Resource::ok(&workspace.version.to_etag(), WorkspaceView::from(workspace))
    }
}

impl Resource<SubscriptionView> {
    pub fn subscription(subscription: &Subscription) -> Self {
        Resource::ok(
            &subscription.version.to_etag(),
            SubscriptionView::from(subscription),
        )
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
