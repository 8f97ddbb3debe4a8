//! Unit tests of the access use cases against mocked ports, and of the tokens.

mod jwt;
mod key_file;
mod login;
mod sign_up;

use std::sync::Arc;

use chrono::{DateTime, Duration};
use kernel_domain::{ManualClock, RejectionKind, Timestamp};
use ports_app::types::examples;
use ports_app::{AppError, ErrorKind, MockSubscriptions, MockUsers, MockWorkspaces};
use ports_app::{Session, Subscription, User, Workspace};
use uuid::Uuid;

use crate::{Access, JwtKeys};

/// The secret the test keys are made from.
const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef-test";

fn start() -> Timestamp {
    DateTime::from_timestamp(1_900_000_000, 0).expect("a valid time")
}

fn keys() -> JwtKeys {
    JwtKeys::from_secret(SECRET).expect("a long enough secret")
}

fn user(id: Uuid) -> User {
    User {
        display_name: "Ada".to_owned(),
        ..examples::user(id.into(), "ada@example.com")
    }
}

fn session(id: Uuid, expires: Timestamp) -> Session {
    Session {
        id: id.into(),
        create_time: start(),
        expire_time: expires,
        refresh_time: start(),
    }
}

fn a_workspace(id: Uuid, owner: Uuid) -> Workspace {
    Workspace {
        seat_limit: crate::TRIAL_SEATS,
        ..examples::workspace(id.into(), owner.into())
    }
}

fn subscription(workspace_id: Uuid) -> Subscription {
    examples::subscription(workspace_id.into())
}

fn rejected(kind: RejectionKind, code: &'static str) -> AppError {
    AppError::rejected(kind, code, format!("refused: {code}"))
}

fn timeout() -> AppError {
    AppError {
        kind: ErrorKind::Timeout,
        code: "DEADLINE_EXCEEDED".into(),
        message: "the data service did not answer in time".to_owned(),
        fields: Vec::new(),
        retry_after: None,
    }
}

fn internal() -> AppError {
    AppError {
        kind: ErrorKind::Internal,
        code: "INTERNAL".into(),
        message: "internal error".to_owned(),
        fields: Vec::new(),
        retry_after: None,
    }
}

/// The mocks a use case runs against; expectations are set before [`Ports::access`].
#[derive(Default)]
struct Ports {
    users: MockUsers,
    workspaces: MockWorkspaces,
    subscriptions: MockSubscriptions,
}

impl Ports {
    fn access(self, clock: Arc<ManualClock>) -> Access {
        Access::new(
            Arc::new(self.users),
            Arc::new(self.workspaces),
            Arc::new(self.subscriptions),
            Arc::new(keys()),
            clock,
        )
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(start()))
}

/// A session expiry a day after the start.
fn session_expiry() -> Timestamp {
    start() + Duration::days(1)
}
