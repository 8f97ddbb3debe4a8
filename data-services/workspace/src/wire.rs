//! Domain to wire: how a stored `Workspace` looks on `saas.workspace.v1`, and the role enum
//! both ways.

use kernel_domain::Rejection;
use platform::{rpc::timestamp, store::Stored};
use saas_proto::workspace::v1 as pb;
use workspace_domain::{
    Invitation, InvitationStatus, Member, Role, SubscriptionStanding, Workspace,
};

/// How much of a workspace an answer shows (`pb::WorkspaceView`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// Everything but the invitations: what commands and lists return.
    Basic,
    /// Everything: what reads return unless asked otherwise.
    Full,
}

/// Parses the wire view of field `field`: unset is [`View::Full`], a number the enum does not
/// know is `INVALID_VIEW`.
pub(crate) fn parse_view(field: &str, raw: i32) -> Result<View, Rejection> {
    match pb::WorkspaceView::try_from(raw) {
        Ok(pb::WorkspaceView::Unspecified | pb::WorkspaceView::Full) => Ok(View::Full),
        Ok(pb::WorkspaceView::Basic) => Ok(View::Basic),
        Err(_) => Err(Rejection::invalid_field(
            "INVALID_VIEW",
            field,
            format!("{field} must be WORKSPACE_VIEW_BASIC or WORKSPACE_VIEW_FULL"),
        )),
    }
}

/// Renders a workspace as stored in `view`: every member and, in the full view, every
/// invitation with its state (the domain expires due invitations in each command, the
/// sweeper by time).
pub(crate) fn workspace(stored: &Stored<Workspace>, view: View) -> pb::Workspace {
    let workspace = &stored.aggregate;
    let invitations = match view {
        View::Basic => Vec::new(),
        View::Full => workspace.invitations().iter().map(invitation).collect(),
    };
    pb::Workspace {
        id: workspace.id().to_string(),
        slug: workspace.slug().as_str().to_owned(),
        name: workspace.name().as_str().to_owned(),
        members: workspace.members().iter().map(member).collect(),
        invitations,
        seat_limit: count(workspace.seat_limit()),
        seats_in_use: count(workspace.seats_in_use()),
        archived: workspace.is_archived(),
        etag: stored.version.to_etag(),
        create_time: Some(timestamp(workspace.created_at())),
        update_time: Some(timestamp(workspace.updated_at())),
        subscription_standing: subscription_standing(workspace.subscription_standing()) as i32,
    }
}

/// A domain standing on the wire.
pub(crate) fn subscription_standing(standing: SubscriptionStanding) -> pb::SubscriptionStanding {
    match standing {
        SubscriptionStanding::Good => pb::SubscriptionStanding::Good,
        SubscriptionStanding::Lapsed => pb::SubscriptionStanding::Lapsed,
    }
}

/// Parses the wire standing of field `field`: unspecified and unknown numbers are
/// `INVALID_SUBSCRIPTION_STANDING`.
pub(crate) fn parse_subscription_standing(
    field: &str,
    raw: i32,
) -> Result<SubscriptionStanding, Rejection> {
    match pb::SubscriptionStanding::try_from(raw) {
        Ok(pb::SubscriptionStanding::Good) => Ok(SubscriptionStanding::Good),
        Ok(pb::SubscriptionStanding::Lapsed) => Ok(SubscriptionStanding::Lapsed),
        Ok(pb::SubscriptionStanding::Unspecified) | Err(_) => Err(Rejection::invalid_field(
            "INVALID_SUBSCRIPTION_STANDING",
            field,
            format!("{field} must be SUBSCRIPTION_STANDING_GOOD or SUBSCRIPTION_STANDING_LAPSED"),
        )),
    }
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn member(member: &Member) -> pb::Member {
    pb::Member {
        user_id: member.user_id().to_string(),
        role: role(member.role()) as i32,
        join_time: Some(timestamp(member.joined_at())),
    }
}

pub(crate) fn invitation(invitation: &Invitation) -> pb::Invitation {
    pb::Invitation {
        id: invitation.id().to_string(),
        email: invitation.email().as_str().to_owned(),
        role: role(invitation.role()) as i32,
        inviter_id: invitation.invited_by().to_string(),
        expire_time: Some(timestamp(invitation.expires_at())),
        state: state(invitation.status()) as i32,
    }
}

fn state(status: InvitationStatus) -> pb::InvitationState {
    match status {
        InvitationStatus::Pending => pb::InvitationState::Pending,
        InvitationStatus::Accepted => pb::InvitationState::Accepted,
        InvitationStatus::Revoked => pb::InvitationState::Revoked,
        InvitationStatus::Expired => pb::InvitationState::Expired,
    }
}

/// A domain role on the wire.
pub(crate) fn role(role: Role) -> pb::Role {
    match role {
        Role::Owner => pb::Role::Owner,
        Role::Admin => pb::Role::Admin,
        Role::Member => pb::Role::Member,
    }
}

/// Parses the wire role of field `field`: `ROLE_UNSPECIFIED` and numbers the enum does not
/// know are `INVALID_ROLE`. (Whether the role fits the command, such as nobody being invited
/// as Owner, is the domain's rule.)
pub(crate) fn parse_role(field: &str, raw: i32) -> Result<Role, Rejection> {
    match pb::Role::try_from(raw) {
        Ok(pb::Role::Owner) => Ok(Role::Owner),
        Ok(pb::Role::Admin) => Ok(Role::Admin),
        Ok(pb::Role::Member) => Ok(Role::Member),
        Ok(pb::Role::Unspecified) | Err(_) => Err(Rejection::invalid_field(
            "INVALID_ROLE",
            field,
            format!("{field} must be ROLE_OWNER, ROLE_ADMIN or ROLE_MEMBER"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_role_round_trips_through_the_wire() {
        for r in Role::ALL {
            assert_eq!(parse_role("role", role(r) as i32), Ok(r));
        }
    }

    #[test]
    fn an_unset_view_is_the_full_one_and_an_unknown_one_is_invalid() {
        assert_eq!(parse_view("view", 0), Ok(View::Full));
        assert_eq!(
            parse_view("view", pb::WorkspaceView::Basic as i32),
            Ok(View::Basic)
        );
        assert_eq!(
            parse_view("view", pb::WorkspaceView::Full as i32),
            Ok(View::Full)
        );
        for raw in [3, -1, i32::MAX] {
            let rejection = parse_view("view", raw).unwrap_err();
            assert_eq!(rejection.reason, "INVALID_VIEW");
            assert_eq!(rejection.field_violations[0].field, "view");
        }
    }

    #[test]
    fn unspecified_and_unknown_roles_are_invalid() {
        for raw in [pb::Role::Unspecified as i32, 4, -1, i32::MAX] {
            let rejection = parse_role("role", raw).unwrap_err();
            assert_eq!(rejection.reason, "INVALID_ROLE");
            assert_eq!(
                rejection.kind,
                kernel_domain::RejectionKind::InvalidArgument
            );
            assert_eq!(rejection.field_violations[0].field, "role");
        }
    }
}
