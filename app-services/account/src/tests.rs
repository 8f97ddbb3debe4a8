//! Unit tests of the account use cases against mocked ports.

mod erase;
mod profile;
mod tokens;

use std::sync::Arc;

use kernel_domain::RejectionKind;
use ports_app::wire::{identity, workspace};
use ports_app::{AppError, Ctx, ErrorKind, MockMailer, MockUsers, MockWorkspaces};
use uuid::Uuid;

use crate::Account;

/// The mocks a use case runs against; expectations are set before [`Ports::account`].
#[derive(Default)]
struct Ports {
    users: MockUsers,
    workspaces: MockWorkspaces,
    mailer: MockMailer,
}

impl Ports {
    fn account(self) -> Account {
        Account::new(
            Arc::new(self.users),
            Arc::new(self.workspaces),
            Arc::new(self.mailer),
        )
    }
}

/// A signed-in user's context.
fn signed_in() -> (Ctx, Uuid) {
    let user_id = Uuid::now_v7();
    (Ctx::anonymous().acting_as(user_id), user_id)
}

fn user(id: Uuid) -> identity::User {
    identity::User {
        id: id.to_string(),
        email: "ada@example.com".to_owned(),
        display_name: "Ada".to_owned(),
        status: identity::UserStatus::Active as i32,
        ..Default::default()
    }
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

#[track_caller]
fn assert_sign_in_required(error: &AppError) {
    assert_eq!(
        error.kind,
        ErrorKind::Rejected(RejectionKind::Unauthenticated)
    );
    assert_eq!(error.code, "UNAUTHENTICATED");
}

fn member(user_id: &str, role: workspace::Role) -> workspace::Member {
    workspace::Member {
        user_id: user_id.to_owned(),
        role: role as i32,
        join_time: None,
    }
}

fn a_workspace(slug: &str, members: Vec<workspace::Member>) -> workspace::Workspace {
    workspace::Workspace {
        id: Uuid::now_v7().to_string(),
        slug: slug.to_owned(),
        name: slug.to_owned(),
        seats_in_use: i32::try_from(members.len()).expect("few members"),
        members,
        seat_limit: 5,
        ..Default::default()
    }
}
