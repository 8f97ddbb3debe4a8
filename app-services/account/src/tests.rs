//! Unit tests of the account use cases against mocked ports.

mod erase;
mod profile;
mod tokens;

use std::sync::Arc;

use kernel_domain::RejectionKind;
use ports_app::types::examples;
use ports_app::{
    AppError, Ctx, ErrorKind, Member, MockMailer, MockUsers, MockWorkspaces, Role, User,
    UserStatus, Workspace,
};
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

fn user(id: Uuid) -> User {
    User {
        display_name: "Ada".to_owned(),
        status: UserStatus::Active,
        ..examples::user(id.into(), "ada@example.com")
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

fn member(user_id: Uuid, role: Role) -> Member {
    Member {
        user_id: user_id.into(),
        role,
        join_time: examples::made_at(),
    }
}

/// A new workspace `slug` with exactly these members.
fn a_workspace(slug: &str, members: Vec<Member>) -> Workspace {
    Workspace {
        slug: slug.to_owned(),
        name: slug.to_owned(),
        seats_in_use: i32::try_from(members.len()).expect("few members"),
        members,
        seat_limit: 5,
        ..examples::workspace(Uuid::now_v7().into(), Uuid::now_v7().into())
    }
}
