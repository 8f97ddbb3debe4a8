//! The edge's tests: the router driven with `oneshot`, the use cases built on mocked ports
//! that answer with canned wire messages.

mod auth;
mod bodies;
mod cors;
mod feed;
mod health;
mod limits;
mod problems;
mod resources;
mod routing;
mod serving;
mod tenancy;

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use access_app::{Access, JwtKeys};
use account_app::Account;
use async_trait::async_trait;
use axum::Router;
use axum::body::{Body, Bytes};
use chrono::DateTime;
use http::{HeaderMap, Method, Request, StatusCode, header};
use kernel_domain::{ManualClock, Timestamp, Version};
use plan_app::Plans;
use ports_app::{
    AppError, Feeds, Invitation, InvitationState, Mailer, Member, MockFeeds, MockMailer,
    MockSubscriptions, MockUsers, MockWorkspaces, Plan, Role, Subscription, SubscriptionStatus,
    Subscriptions, User, Users, Workspace, WorkspaceId, WorkspaceReadError, Workspaces,
};
use serde_json::Value;
use team_app::Team;
use tower::ServiceExt;
use uuid::Uuid;

use crate::rate_limit::{Quota, RateLimiter, RateLimits};
use crate::{AlwaysReady, Edge, EdgeConfig, EdgeState, Readiness, router};
use ports_app::problem::PROBLEM_TYPE_BASE;

/// The signing secret of the tests' access tokens.
pub const SECRET: [u8; 32] = [7u8; 32];

/// The tests' "now" (the clock never moves).
pub fn now() -> Timestamp {
    DateTime::from_timestamp(1_750_000_000, 0).expect("a valid time")
}

pub fn keys() -> JwtKeys {
    JwtKeys::from_secret(&SECRET).expect("a long enough secret")
}

/// A valid access token for `user` (and a fresh session).
pub fn token_for(user: Uuid) -> String {
    token_for_session(user, Uuid::now_v7())
}

pub fn token_for_session(user: Uuid, session: Uuid) -> String {
    keys()
        .issue_access(user, session, now())
        .expect("a token")
        .0
}

/// The mocked ports behind the use cases, and the edge's settings.
pub struct World {
    pub users: MockUsers,
    pub workspaces: MockWorkspaces,
    pub subscriptions: MockSubscriptions,
    pub feeds: MockFeeds,
    pub mailer: MockMailer,
    pub rate_limits: Option<(Arc<dyn RateLimiter>, RateLimits)>,
    pub readiness: Arc<dyn Readiness>,
    pub config: EdgeConfig,
    /// How many times a workspace was read.
    pub workspace_reads: Arc<AtomicUsize>,
    known: HashMap<WorkspaceId, Workspace>,
}

impl World {
    pub fn new() -> Self {
        World {
            users: MockUsers::new(),
            workspaces: MockWorkspaces::new(),
            subscriptions: MockSubscriptions::new(),
            feeds: MockFeeds::new(),
            mailer: MockMailer::new(),
            rate_limits: None,
            readiness: Arc::new(AlwaysReady),
            config: EdgeConfig::default(),
            workspace_reads: Arc::new(AtomicUsize::new(0)),
            known: HashMap::new(),
        }
    }

    /// Workspace reads find `workspace` (and nothing else).
    pub fn with_workspace(mut self, workspace: Workspace) -> Self {
        self.known.insert(workspace.id, workspace);
        self
    }

    pub fn with_limits(mut self, limiter: Arc<dyn RateLimiter>, limits: RateLimits) -> Self {
        self.rate_limits = Some((limiter, limits));
        self
    }

    pub fn router(self) -> Router {
        router(self.state())
    }

    /// The edge's state over the mocks.
    pub fn state(mut self) -> EdgeState {
        let known = self.known;
        let reads = self.workspace_reads.clone();
        self.workspaces
            .expect_get_workspace()
            .returning(move |_, id| {
                reads.fetch_add(1, Ordering::Relaxed);
                known.get(&id).cloned().ok_or_else(|| {
                    WorkspaceReadError::NotFound(AppError::not_found(
                        "WORKSPACE_NOT_FOUND",
                        format!("workspace {id} does not exist"),
                    ))
                })
            });
        let users: Arc<dyn Users> = Arc::new(self.users);
        let workspaces: Arc<dyn Workspaces> = Arc::new(self.workspaces);
        let subscriptions: Arc<dyn Subscriptions> = Arc::new(self.subscriptions);
        let mailer: Arc<dyn Mailer> = Arc::new(self.mailer);
        let feeds: Arc<dyn Feeds> = Arc::new(self.feeds);
        let access = Access::new(
            users.clone(),
            workspaces.clone(),
            subscriptions.clone(),
            Arc::new(keys()),
            Arc::new(ManualClock::new(now())),
        );
        let account = Account::new(users.clone(), workspaces.clone(), mailer.clone());
        let team = Team::new(users, workspaces.clone(), mailer);
        let plans = Plans::new(workspaces, subscriptions);
        EdgeState::new(Edge {
            access: Arc::new(access),
            account: Arc::new(account),
            team: Arc::new(team),
            plans: Arc::new(plans),
            feed: crate::feed::FeedState::new(feeds),
            gate: crate::gate_cache::GateCache::memory(),
            rate_limits: self.rate_limits,
            readiness: self.readiness,
            config: self.config,
        })
    }
}

/// What came back.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts the RFC 9457 shape with this status and code; returns the body.
    pub fn problem(&self, status: StatusCode, code: &str) -> Value {
        let body = self.json();
        assert_eq!(self.status, status, "status of {body}");
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "content type of {body}"
        );
        assert_eq!(body["status"], status.as_u16(), "{body}");
        assert_eq!(body["code"], code, "{body}");
        assert_eq!(
            body["type"],
            format!(
                "{PROBLEM_TYPE_BASE}{}",
                code.to_ascii_lowercase().replace('_', "-")
            ),
            "{body}"
        );
        assert_eq!(
            body["title"],
            status.canonical_reason().expect("a reason"),
            "{body}"
        );
        assert!(body["detail"].is_string(), "{body}");
        let request_id = body["request_id"].as_str().expect("a request id");
        assert_eq!(Some(request_id), self.header("x-request-id"), "{body}");
        if let Some(errors) = body.get("errors") {
            assert!(
                errors.as_array().is_some_and(|e| !e.is_empty()),
                "errors only when there are some: {body}"
            );
        }
        if status == StatusCode::UNAUTHORIZED {
            assert_eq!(self.header("www-authenticate"), Some("Bearer"));
        }
        body
    }

    /// The `field`s of a problem's `errors`, in order.
    pub fn error_fields(&self) -> Vec<String> {
        self.json()["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .map(|e| e["field"].as_str().unwrap_or_default().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The body of a problem without its `request_id` (which differs per request).
pub fn without_request_id(mut problem: Value) -> Value {
    if let Some(object) = problem.as_object_mut() {
        object.remove("request_id");
    }
    problem
}

pub async fn send(router: &Router, request: Request<Body>) -> Reply {
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router never fails");
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .expect("a body");
    Reply {
        status,
        headers,
        body,
    }
}

/// A request without a body.
pub fn bare(method: Method, path: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .expect("a request")
}

/// A request without a body, signed in with `token`.
pub fn authed(method: Method, path: &str, token: &str) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .body(Body::empty())
        .expect("a request")
}

/// A JSON request, signed in with `token` when given.
pub fn json_request(
    method: Method,
    path: &str,
    token: Option<&str>,
    body: &Value,
) -> Request<Body> {
    let mut builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::CONTENT_TYPE, "application/json");
    if let Some(token) = token {
        builder = builder.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    builder
        .body(Body::from(body.to_string()))
        .expect("a request")
}

/// An active, verified user at version 3 with one session.
pub fn user(id: Uuid, email: &str) -> User {
    let mut user = ports_app::types::examples::user(id.into(), email);
    user.sessions = vec![ports_app::types::examples::session(Uuid::now_v7().into())];
    user.version = Version::new(3);
    user.create_time = now() - chrono::Duration::hours(1);
    user.update_time = now() - chrono::Duration::minutes(1);
    user
}

pub fn member(user: Uuid, role: Role) -> Member {
    Member {
        user_id: user.into(),
        role,
        join_time: now() - chrono::Duration::seconds(600),
    }
}

/// A pending invitation of `email` as `role`, sent by `inviter`, expiring in 7 days.
pub fn invitation(email: &str, role: Role, inviter: Uuid) -> Invitation {
    Invitation {
        id: Uuid::now_v7().into(),
        email: email.to_owned(),
        role,
        inviter_id: inviter.into(),
        expire_time: now() + chrono::Duration::days(7),
        state: InvitationState::Pending,
    }
}

/// A workspace with these members and one pending invitation, at version 7.
pub fn workspace(id: Uuid, members: &[(Uuid, Role)]) -> Workspace {
    let inviter = members.first().map_or_else(Uuid::nil, |(user, _)| *user);
    Workspace {
        id: id.into(),
        slug: "acme".to_owned(),
        name: "Acme".to_owned(),
        members: members.iter().map(|(u, r)| member(*u, *r)).collect(),
        invitations: vec![invitation("invitee@example.com", Role::Member, inviter)],
        seat_limit: 5,
        seats_in_use: i32::try_from(members.len()).expect("few members") + 1,
        archived: false,
        version: Version::new(7),
        create_time: now() - chrono::Duration::days(1),
        update_time: now() - chrono::Duration::seconds(600),
    }
}

pub fn subscription(workspace_id: Uuid) -> Subscription {
    Subscription {
        id: Uuid::now_v7().into(),
        workspace_id: workspace_id.into(),
        plan: Plan::Team,
        seats: 5,
        status: SubscriptionStatus::Trialing,
        trial_end_time: Some(now() + chrono::Duration::days(14)),
        period_end_time: None,
        cancel_at_period_end: false,
        cancel_time: None,
        monthly_amount_minor: 4_000,
        currency_code: "USD".to_owned(),
        version: Version::INITIAL,
        create_time: now() - chrono::Duration::days(1),
        update_time: now() - chrono::Duration::days(1),
    }
}

/// The same quota for every limit.
pub fn limits(limit: u32) -> RateLimits {
    let quota = Quota {
        limit,
        window: Duration::from_secs(60),
    };
    RateLimits {
        per_ip: quota,
        per_user: quota,
        per_workspace: quota,
        auth_per_ip: quota,
    }
}

/// Counts hits per key and refuses those past the quota, asking to retry in 1.5 s.
#[derive(Debug, Default)]
pub struct CountingLimiter {
    hits: Mutex<HashMap<String, u32>>,
}

impl CountingLimiter {
    pub fn hits(&self, key: &str) -> u32 {
        self.hits
            .lock()
            .expect("not poisoned")
            .get(key)
            .copied()
            .unwrap_or(0)
    }
}

#[async_trait]
impl RateLimiter for CountingLimiter {
    async fn hit(&self, key: &str, quota: Quota) -> Result<(), Duration> {
        let mut hits = self.hits.lock().expect("not poisoned");
        let count = hits.entry(key.to_owned()).or_insert(0);
        *count += 1;
        if *count > quota.limit {
            Err(Duration::from_millis(1_500))
        } else {
            Ok(())
        }
    }
}
