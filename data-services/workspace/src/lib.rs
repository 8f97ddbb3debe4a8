//! The Workspace data service: the `Workspace` aggregate behind
//! `saas.workspace.v1.WorkspaceService`.
//!
//! - [`open`] opens (and migrates) the store,
//! - [`workspace_service`] builds the tonic service over it.
//!
//! Invitations expire by themselves: [`WorkspaceSchema`] tells the store when a workspace next
//! has an invitation due to expire, and the store's sweeper expires it through the pipeline
//! (every accepted command also expires due invitations first).
//!
//! The service only translates: wire types become domain values at the boundary (the acting
//! user comes from `x-saas-actor` metadata), the platform's command pipeline runs the domain's
//! decision in one transaction, and the result is rendered back.
//!
//! Every domain event is published as its message of `saas/workspace/v1/events.proto` (see
//! `events.rs`), concerning the workspace it happened to; no event carries an invitation
//! token.

mod api;
mod events;
mod wire;

use std::sync::Arc;

use kernel_domain::{Clock, Rejection, RejectionKind, Timestamp};
use platform::{
    db::PoolSize,
    migration::IndexedColumn,
    store::{
        IntegrationEvent, Store,
        parts::{Collections, collection},
    },
};
use saas_proto::workspace::v1::workspace_service_server::WorkspaceServiceServer;
use workspace_domain::{Workspace, WorkspaceEvent};

pub use api::WorkspaceApi;

/// The error domain of this service's `ErrorInfo`.
pub const ERROR_DOMAIN: &str = "workspace.saas";

/// How `Workspace` documents are laid out (see `workspace-migrations`).
pub struct WorkspaceSchema;

impl platform::store::Schema for WorkspaceSchema {
    type Aggregate = Workspace;
    const TABLE: &'static str = workspace_migrations::WORKSPACES_TABLE;
    const AGGREGATE_TYPE: &'static str = "workspace.workspace";
    const ERROR_DOMAIN: &'static str = ERROR_DOMAIN;
    const COLUMNS: &'static [IndexedColumn] = workspace_migrations::WORKSPACE_COLUMNS;

    fn column_values(workspace: &Workspace) -> Vec<Option<String>> {
        vec![Some(workspace.slug().as_str().to_owned())]
    }

    fn taken(_column: &str) -> Rejection {
        Rejection::new(
            RejectionKind::AlreadyExists,
            "SLUG_TAKEN",
            "another workspace already has this slug",
        )
        .on_field("slug")
    }

    fn not_found() -> Rejection {
        Rejection::new(
            RejectionKind::NotFound,
            "WORKSPACE_NOT_FOUND",
            "no such workspace",
        )
    }

    fn integration_event(workspace: &Workspace, event: &WorkspaceEvent) -> IntegrationEvent {
        events::integration_event(workspace, event)
    }

    const SET_INDEX: Option<&'static str> = Some(workspace_migrations::MEMBERS_INDEX);

    fn set_index_values(workspace: &Workspace) -> Vec<String> {
        workspace.member_ids().map(|id| id.to_string()).collect()
    }

    fn set_index_changed(before: &Workspace, after: &Workspace) -> bool {
        before.member_ids().ne(after.member_ids())
    }

    const PARTS: &'static [&'static str] = workspace_migrations::PARTS;

    fn parts(workspace: &Workspace) -> Collections<'_> {
        vec![
            collection(workspace.members(), |member| member.user_id().to_string()),
            collection(workspace.invitations(), |invitation| {
                invitation.id().to_string()
            }),
        ]
    }

    fn due_at(workspace: &Workspace) -> Option<Timestamp> {
        workspace.next_due()
    }

    fn apply_due(
        workspace: &mut Workspace,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, Rejection> {
        Ok(workspace.expire_invitations(now))
    }
}

/// The store of workspaces.
pub type WorkspaceStore = Store<WorkspaceSchema>;

/// Opens the Workspace database at `url` and applies its migrations.
pub async fn open(
    url: &str,
    pool: PoolSize,
    clock: Arc<dyn Clock>,
) -> Result<WorkspaceStore, platform::db::OpenError> {
    let db = platform::db::open_migrated::<workspace_migrations::Migrator>(url, pool).await?;
    Ok(Store::new(db, clock))
}

/// The gRPC service over a store, with message size caps.
pub fn workspace_service(store: WorkspaceStore) -> WorkspaceServiceServer<WorkspaceApi> {
    WorkspaceServiceServer::new(WorkspaceApi::new(store))
        .max_decoding_message_size(platform::server::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(platform::server::MAX_MESSAGE_BYTES)
}

#[cfg(test)]
mod tests {
    use kernel_domain::Email;
    use platform::store::Schema;
    use uuid::Uuid;
    use workspace_domain::{
        InvitationId, Role, Slug, TokenHash, UserId, Workspace, WorkspaceId, WorkspaceName,
    };

    use super::WorkspaceSchema;

    /// The typed comparison agrees with comparing the index's values: an invite leaves the
    /// members (and so the index) as they were, an accepted invitation adds one.
    #[test]
    fn the_member_index_changes_only_when_the_members_do() {
        let now = kernel_domain::Clock::now(&platform::SystemClock);
        let owner = UserId::from_uuid(Uuid::from_u128(1));
        let (created, _) = Workspace::create(
            WorkspaceId::from_uuid(Uuid::from_u128(42)),
            Slug::parse("acme").unwrap(),
            WorkspaceName::parse("Acme").unwrap(),
            owner,
            10,
            now,
        )
        .unwrap();
        let email = Email::parse("two@example.com").unwrap();
        let token = TokenHash::from_bytes([2; 32]);
        let invitation = InvitationId::from_uuid(Uuid::from_u128(2));
        let mut invited = created.clone();
        invited
            .invite(
                owner,
                invitation,
                email.clone(),
                None,
                Role::Member,
                token.clone(),
                now,
            )
            .unwrap();
        let mut joined = invited.clone();
        joined
            .accept_invitation(
                invitation,
                UserId::from_uuid(Uuid::from_u128(2)),
                &email,
                &token,
                now,
            )
            .unwrap();
        for (before, after, changed) in [
            (&created, &invited, false),
            (&invited, &joined, true),
            (&joined, &created, true),
        ] {
            assert_eq!(WorkspaceSchema::set_index_changed(before, after), changed);
            assert_eq!(
                WorkspaceSchema::set_index_values(before)
                    != WorkspaceSchema::set_index_values(after),
                changed
            );
        }
    }
}
