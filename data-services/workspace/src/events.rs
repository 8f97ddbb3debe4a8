//! Domain events to the published language: every [`WorkspaceEvent`] leaves the service as
//! its message of `saas/workspace/v1/events.proto`, concerning the workspace it happened to.
//!
//! The match is exhaustive, so a new domain event does not compile until it is published.
//! Nothing secret is copied: workspace events never hold an invitation token or its hash.
//! The only personal data is the invitee's email of an invitation sent.

use platform::{rpc::timestamp, store::IntegrationEvent};
use saas_proto::workspace::v1 as pb;
use workspace_domain::{Workspace, WorkspaceEvent};

use crate::wire::{role, subscription_standing};

/// The integration event `event` is published as, for `workspace`'s id.
pub fn integration_event(workspace: &Workspace, event: &WorkspaceEvent) -> IntegrationEvent {
    let id = Some(workspace.id().as_uuid());
    match event {
        WorkspaceEvent::Created {
            workspace_id,
            slug,
            name,
            created_by,
            seat_limit,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceCreated {
                workspace_id: workspace_id.to_string(),
                slug: slug.as_str().to_owned(),
                name: name.as_str().to_owned(),
                created_by_user_id: created_by.to_string(),
                seat_limit: count(*seat_limit),
            },
        ),
        WorkspaceEvent::Renamed {
            workspace_id,
            name,
            renamed_by,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceRenamed {
                workspace_id: workspace_id.to_string(),
                name: name.as_str().to_owned(),
                renamed_by_user_id: renamed_by.to_string(),
            },
        ),
        WorkspaceEvent::InvitationSent {
            workspace_id,
            invitation_id,
            email,
            role: invited_as,
            invited_by,
            expires_at,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceInvitationSent {
                workspace_id: workspace_id.to_string(),
                invitation_id: invitation_id.to_string(),
                email: email.as_str().to_owned(),
                role: role(*invited_as) as i32,
                invited_by_user_id: invited_by.to_string(),
                expire_time: Some(timestamp(*expires_at)),
            },
        ),
        WorkspaceEvent::InvitationAccepted {
            workspace_id,
            invitation_id,
            user_id,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceInvitationAccepted {
                workspace_id: workspace_id.to_string(),
                invitation_id: invitation_id.to_string(),
                user_id: user_id.to_string(),
            },
        ),
        WorkspaceEvent::InvitationRevoked {
            workspace_id,
            invitation_id,
            revoked_by,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceInvitationRevoked {
                workspace_id: workspace_id.to_string(),
                invitation_id: invitation_id.to_string(),
                revoked_by_user_id: revoked_by.to_string(),
            },
        ),
        WorkspaceEvent::InvitationExpired {
            workspace_id,
            invitation_id,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceInvitationExpired {
                workspace_id: workspace_id.to_string(),
                invitation_id: invitation_id.to_string(),
            },
        ),
        WorkspaceEvent::MemberJoined {
            workspace_id,
            user_id,
            role: joined_as,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceMemberJoined {
                workspace_id: workspace_id.to_string(),
                user_id: user_id.to_string(),
                role: role(*joined_as) as i32,
            },
        ),
        WorkspaceEvent::RoleChanged {
            workspace_id,
            user_id,
            from,
            to,
            changed_by,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceRoleChanged {
                workspace_id: workspace_id.to_string(),
                user_id: user_id.to_string(),
                previous_role: role(*from) as i32,
                role: role(*to) as i32,
                changed_by_user_id: changed_by.to_string(),
            },
        ),
        WorkspaceEvent::MemberRemoved {
            workspace_id,
            user_id,
            removed_by,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceMemberRemoved {
                workspace_id: workspace_id.to_string(),
                user_id: user_id.to_string(),
                removed_by_user_id: removed_by.to_string(),
            },
        ),
        WorkspaceEvent::MemberLeft {
            workspace_id,
            user_id,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceMemberLeft {
                workspace_id: workspace_id.to_string(),
                user_id: user_id.to_string(),
            },
        ),
        WorkspaceEvent::ErasedUserRemoved {
            workspace_id,
            user_id,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceErasedUserRemoved {
                workspace_id: workspace_id.to_string(),
                user_id: user_id.to_string(),
            },
        ),
        WorkspaceEvent::SeatLimitChanged {
            workspace_id,
            seat_limit,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceSeatLimitChanged {
                workspace_id: workspace_id.to_string(),
                seat_limit: count(*seat_limit),
            },
        ),
        WorkspaceEvent::SubscriptionFollowed {
            workspace_id,
            standing,
            subscription_version,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceSubscriptionFollowed {
                workspace_id: workspace_id.to_string(),
                standing: subscription_standing(*standing) as i32,
                subscription_version: i64::try_from(*subscription_version).unwrap_or(i64::MAX),
            },
        ),
        WorkspaceEvent::Archived {
            workspace_id,
            archived_by,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceArchived {
                workspace_id: workspace_id.to_string(),
                archived_by_user_id: archived_by.map(|id| id.to_string()).unwrap_or_default(),
            },
        ),
        WorkspaceEvent::Unarchived {
            workspace_id,
            unarchived_by,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceUnarchived {
                workspace_id: workspace_id.to_string(),
                unarchived_by_user_id: unarchived_by.to_string(),
            },
        ),
        WorkspaceEvent::Deleted {
            workspace_id,
            deleted_by,
            ..
        } => IntegrationEvent::new(
            id,
            &pb::WorkspaceDeleted {
                workspace_id: workspace_id.to_string(),
                deleted_by_user_id: deleted_by.to_string(),
            },
        ),
    }
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use kernel_domain::{DomainEvent, Email, Timestamp, Uuid};
    use prost::Message;
    use workspace_domain::{
        InvitationId, Role, Slug, SubscriptionStanding, UserId, WorkspaceId, WorkspaceName,
    };

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_timestamp(seconds, 0).unwrap()
    }

    fn new_user() -> UserId {
        UserId::from_uuid(Uuid::now_v7())
    }

    fn workspace(owner: UserId) -> Workspace {
        let (workspace, _) = Workspace::create(
            WorkspaceId::from_uuid(Uuid::now_v7()),
            Slug::parse("acme").unwrap(),
            WorkspaceName::parse("Acme").unwrap(),
            owner,
            5,
            at(1_800_000_000),
        )
        .unwrap();
        workspace
    }

    /// One event of every variant, about `workspace`.
    fn one_of_each(workspace: &Workspace, owner: UserId, member: UserId) -> Vec<WorkspaceEvent> {
        let workspace_id = workspace.id();
        let invitation_id = InvitationId::from_uuid(Uuid::now_v7());
        let occurred_at = at(1_800_000_100);
        vec![
            WorkspaceEvent::Created {
                workspace_id,
                slug: Slug::parse("acme").unwrap(),
                name: WorkspaceName::parse("Acme").unwrap(),
                created_by: owner,
                seat_limit: 5,
                occurred_at,
            },
            WorkspaceEvent::Renamed {
                workspace_id,
                name: WorkspaceName::parse("Acme Corp").unwrap(),
                renamed_by: owner,
                occurred_at,
            },
            WorkspaceEvent::InvitationSent {
                workspace_id,
                invitation_id,
                email: Email::parse("grace@example.com").unwrap(),
                role: Role::Admin,
                invited_by: owner,
                expires_at: at(1_800_604_800),
                occurred_at,
            },
            WorkspaceEvent::InvitationAccepted {
                workspace_id,
                invitation_id,
                user_id: member,
                occurred_at,
            },
            WorkspaceEvent::InvitationRevoked {
                workspace_id,
                invitation_id,
                revoked_by: owner,
                occurred_at,
            },
            WorkspaceEvent::InvitationExpired {
                workspace_id,
                invitation_id,
                occurred_at,
            },
            WorkspaceEvent::MemberJoined {
                workspace_id,
                user_id: member,
                role: Role::Admin,
                occurred_at,
            },
            WorkspaceEvent::RoleChanged {
                workspace_id,
                user_id: member,
                from: Role::Admin,
                to: Role::Member,
                changed_by: owner,
                occurred_at,
            },
            WorkspaceEvent::MemberRemoved {
                workspace_id,
                user_id: member,
                removed_by: owner,
                occurred_at,
            },
            WorkspaceEvent::MemberLeft {
                workspace_id,
                user_id: member,
                occurred_at,
            },
            WorkspaceEvent::ErasedUserRemoved {
                workspace_id,
                user_id: member,
                occurred_at,
            },
            WorkspaceEvent::SeatLimitChanged {
                workspace_id,
                seat_limit: 12,
                occurred_at,
            },
            WorkspaceEvent::Archived {
                workspace_id,
                archived_by: None,
                occurred_at,
            },
            WorkspaceEvent::Unarchived {
                workspace_id,
                unarchived_by: owner,
                occurred_at,
            },
            WorkspaceEvent::Deleted {
                workspace_id,
                deleted_by: owner,
                occurred_at,
            },
            WorkspaceEvent::SubscriptionFollowed {
                workspace_id,
                standing: SubscriptionStanding::Lapsed,
                subscription_version: 4,
                occurred_at,
            },
        ]
    }

    /// How many variants `WorkspaceEvent` has.
    const VARIANTS: usize = 16;

    /// The variant's position. Exhaustive: a new variant does not compile here until it gets
    /// the next number, [`VARIANTS`] grows and [`one_of_each`] holds one.
    fn variant(event: &WorkspaceEvent) -> usize {
        match event {
            WorkspaceEvent::Created { .. } => 0,
            WorkspaceEvent::Renamed { .. } => 1,
            WorkspaceEvent::InvitationSent { .. } => 2,
            WorkspaceEvent::InvitationAccepted { .. } => 3,
            WorkspaceEvent::InvitationRevoked { .. } => 4,
            WorkspaceEvent::InvitationExpired { .. } => 5,
            WorkspaceEvent::MemberJoined { .. } => 6,
            WorkspaceEvent::RoleChanged { .. } => 7,
            WorkspaceEvent::MemberRemoved { .. } => 8,
            WorkspaceEvent::MemberLeft { .. } => 9,
            WorkspaceEvent::ErasedUserRemoved { .. } => 10,
            WorkspaceEvent::SeatLimitChanged { .. } => 11,
            WorkspaceEvent::Archived { .. } => 12,
            WorkspaceEvent::Unarchived { .. } => 13,
            WorkspaceEvent::Deleted { .. } => 14,
            WorkspaceEvent::SubscriptionFollowed { .. } => 15,
        }
    }

    /// Decodes `bytes` as the message `full_name` and encodes it again (prost drops fields the
    /// message does not know, so bytes of another message do not survive the round trip).
    fn reencode(full_name: &str, bytes: &[u8]) -> Vec<u8> {
        macro_rules! as_message {
            ($($name:ident),* $(,)?) => {
                match full_name {
                    $(concat!("saas.workspace.v1.", stringify!($name)) => {
                        pb::$name::decode(bytes).unwrap().encode_to_vec()
                    })*
                    other => panic!("{other} is not a Workspace event message"),
                }
            };
        }
        as_message!(
            WorkspaceCreated,
            WorkspaceRenamed,
            WorkspaceInvitationSent,
            WorkspaceInvitationAccepted,
            WorkspaceInvitationRevoked,
            WorkspaceInvitationExpired,
            WorkspaceMemberJoined,
            WorkspaceRoleChanged,
            WorkspaceMemberRemoved,
            WorkspaceMemberLeft,
            WorkspaceErasedUserRemoved,
            WorkspaceSeatLimitChanged,
            WorkspaceArchived,
            WorkspaceUnarchived,
            WorkspaceDeleted,
            WorkspaceSubscriptionFollowed,
        )
    }

    #[test]
    fn every_workspace_event_is_published_as_its_own_message_for_its_workspace() {
        let owner = new_user();
        let workspace = workspace(owner);
        let events = one_of_each(&workspace, owner, new_user());
        let covered: BTreeSet<usize> = events.iter().map(variant).collect();
        assert_eq!(covered, (0..VARIANTS).collect(), "one sample per variant");

        let mut names = BTreeSet::new();
        for event in &events {
            let published = integration_event(&workspace, event);
            let name = platform::published::check(event.event_type(), &published)
                .unwrap_or_else(|problem| panic!("{event:?}: {problem}"));
            assert_eq!(
                reencode(name, &published.payload.value),
                published.payload.value,
                "the payload of {event:?} is exactly a {name}"
            );
            assert_eq!(
                published.workspace_id,
                Some(workspace.id().as_uuid()),
                "{event:?} concerns its workspace"
            );
            names.insert(name.to_owned());
        }
        assert_eq!(
            names.len(),
            VARIANTS,
            "every variant has a message of its own"
        );
    }

    #[test]
    fn the_messages_carry_what_consumers_need() {
        let owner = new_user();
        let member = new_user();
        let workspace = workspace(owner);
        let events = one_of_each(&workspace, owner, member);
        let payload = |i: usize| integration_event(&workspace, &events[i]).payload.value;
        let workspace_id = workspace.id().to_string();

        let invited = pb::WorkspaceInvitationSent::decode(payload(2).as_slice()).unwrap();
        assert_eq!(invited.workspace_id, workspace_id);
        assert_eq!(invited.email, "grace@example.com");
        assert_eq!(invited.role(), pb::Role::Admin);
        assert_eq!(invited.invited_by_user_id, owner.to_string());
        assert_eq!(invited.expire_time, Some(timestamp(at(1_800_604_800))));

        let joined = pb::WorkspaceMemberJoined::decode(payload(6).as_slice()).unwrap();
        assert_eq!(joined.workspace_id, workspace_id);
        assert_eq!(joined.user_id, member.to_string());
        assert_eq!(joined.role(), pb::Role::Admin);

        let changed = pb::WorkspaceRoleChanged::decode(payload(7).as_slice()).unwrap();
        assert_eq!(changed.previous_role(), pb::Role::Admin);
        assert_eq!(changed.role(), pb::Role::Member);
        assert_eq!(changed.changed_by_user_id, owner.to_string());

        let removed = pb::WorkspaceMemberRemoved::decode(payload(8).as_slice()).unwrap();
        assert_eq!(removed.user_id, member.to_string());
        assert_eq!(removed.removed_by_user_id, owner.to_string());

        let left = pb::WorkspaceMemberLeft::decode(payload(9).as_slice()).unwrap();
        assert_eq!(left.user_id, member.to_string());

        let limit = pb::WorkspaceSeatLimitChanged::decode(payload(11).as_slice()).unwrap();
        assert_eq!(limit.seat_limit, 12);

        let archived = pb::WorkspaceArchived::decode(payload(12).as_slice()).unwrap();
        assert_eq!(archived.archived_by_user_id, "", "archived by the system");
    }
}
