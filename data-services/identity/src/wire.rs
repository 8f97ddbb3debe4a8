//! Domain to wire: how a stored `User` looks on `saas.identity.v1`.

use identity_domain::{Session, User, UserStatus};
use kernel_domain::Timestamp;
use platform::{rpc::timestamp, store::Stored};
use saas_proto::identity::v1 as pb;

/// Renders a user as seen at `now`: only sessions still open, and the lock only while it
/// lasts.
pub(crate) fn user(stored: &Stored<User>, now: Timestamp) -> pb::User {
    let user = &stored.aggregate;
    let (status, suspension_reason) = match user.status() {
        UserStatus::Active => (pb::UserStatus::Active, String::new()),
        UserStatus::Suspended { reason } => (pb::UserStatus::Suspended, reason.as_str().to_owned()),
        UserStatus::Erased => (pb::UserStatus::Erased, String::new()),
    };
    pb::User {
        id: user.id().to_string(),
        email: user
            .email()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        display_name: user.display_name().as_str().to_owned(),
        status: status as i32,
        suspension_reason,
        email_verified: user.email_verified(),
        sessions: user.open_sessions_at(now).map(session).collect(),
        lock_expire_time: user
            .locked_until()
            .filter(|until| *until > now)
            .map(timestamp),
        etag: stored.version.to_etag(),
        create_time: Some(timestamp(user.created_at())),
        update_time: Some(timestamp(user.updated_at())),
        sign_up_state: match user.pending_sign_up() {
            None => pb::SignUpState::Unspecified,
            Some(sign_up) if sign_up.is_unfinished() => pb::SignUpState::Unfinished,
            Some(_) => pb::SignUpState::Pending,
        } as i32,
    }
}

pub(crate) fn session(session: &Session) -> pb::Session {
    pb::Session {
        id: session.id().to_string(),
        create_time: Some(timestamp(session.created_at())),
        expire_time: Some(timestamp(session.expires_at())),
        refresh_time: Some(timestamp(session.last_refreshed_at())),
    }
}
