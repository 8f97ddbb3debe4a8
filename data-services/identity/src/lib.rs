//! The Identity data service: the `User` aggregate behind `saas.identity.v1.UserService`.
//!
//! - [`open`] opens (and migrates) the store,
//! - [`user_service`] builds the tonic service over it,
//! - [`Argon2Hasher`] is the production password hasher (argon2id, OWASP parameters unless
//!   configured cheaper for tests and benchmarks).
//!
//! The service only translates: wire types become domain values at the boundary, the
//! platform's command pipeline runs the domain's decision in one transaction, and the result
//! is rendered back. It holds no rules of its own beyond "hash before the transaction".
//!
//! A user registered by a sign-up carries a due date until the sign-up completes; the store's
//! sweeper announces a sign-up past its window unfinished (`identity.user.sign_up_unfinished`)
//! so that the sign-up policy undoes it.
//!
//! Every domain event is published as its message of `saas/identity/v1/events.proto` (see
//! `events.rs`); Identity events concern no workspace and never carry a password or a token.

mod api;
mod events;
mod hasher;
mod wire;

use std::sync::Arc;

use identity_domain::{PasswordHasher, User, UserEvent};
use kernel_domain::{Clock, Rejection, RejectionKind, Timestamp};
use platform::{
    db::PoolSize,
    migration::IndexedColumn,
    store::{IntegrationEvent, Store},
};
use saas_proto::identity::v1::user_service_server::UserServiceServer;

pub use api::{HashingLimit, UserApi};
pub use hasher::{Argon2Hasher, Argon2Params, Argon2ParamsError};

/// The error domain of this service's `ErrorInfo`.
pub const ERROR_DOMAIN: &str = "identity.saas";

/// How `User` documents are laid out (see `identity-migrations`).
pub struct UserSchema;

impl platform::store::Schema for UserSchema {
    type Aggregate = User;
    const TABLE: &'static str = identity_migrations::USERS_TABLE;
    const AGGREGATE_TYPE: &'static str = "identity.user";
    const ERROR_DOMAIN: &'static str = ERROR_DOMAIN;
    const COLUMNS: &'static [IndexedColumn] = identity_migrations::USER_COLUMNS;

    fn column_values(user: &User) -> Vec<Option<String>> {
        vec![user.email().map(|e| e.as_str().to_owned())]
    }

    fn taken(_column: &str) -> Rejection {
        Rejection::new(
            RejectionKind::AlreadyExists,
            "EMAIL_TAKEN",
            "another user already has this email address",
        )
        .on_field("email")
    }

    fn not_found() -> Rejection {
        Rejection::new(RejectionKind::NotFound, "USER_NOT_FOUND", "no such user")
    }

    fn integration_event(user: &User, event: &UserEvent) -> IntegrationEvent {
        events::integration_event(user, event)
    }

    /// A sign-up not completed within its window is due to be announced unfinished.
    fn due_at(user: &User) -> Option<Timestamp> {
        user.next_due()
    }

    fn apply_due(user: &mut User, now: Timestamp) -> Result<Vec<UserEvent>, Rejection> {
        Ok(user.announce_unfinished_sign_up(now))
    }
}

/// The store of users.
pub type UserStore = Store<UserSchema>;

/// Opens the Identity database at `url` and applies its migrations.
pub async fn open(
    url: &str,
    pool: PoolSize,
    clock: Arc<dyn Clock>,
) -> Result<UserStore, platform::db::OpenError> {
    let db = platform::db::open_migrated::<identity_migrations::Migrator>(url, pool).await?;
    Ok(Store::new(db, clock))
}

/// The gRPC service over a store, with message size caps.
pub fn user_service(
    store: UserStore,
    hasher: Arc<dyn PasswordHasher>,
) -> UserServiceServer<UserApi> {
    UserServiceServer::new(UserApi::new(store, hasher))
        .max_decoding_message_size(platform::server::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(platform::server::MAX_MESSAGE_BYTES)
}
