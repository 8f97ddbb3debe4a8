//! The [`Workspace`] aggregate.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use kernel_domain::{AggregateRoot, Email, Timestamp};

use crate::{
    INVITATION_TTL, Invitation, InvitationId, InvitationStatus, Member, Role, Slug,
    SubscriptionStanding, TokenHash, UserId, WorkspaceError, WorkspaceEvent, WorkspaceId,
    WorkspaceName,
};

/// A tenant: the aggregate root of the Workspace context.
///
/// See the crate documentation for the rules. Every command is worked out on a copy of the
/// workspace: invitations whose time ran out by `now` are expired first, then the command's
/// rules are checked and its changes made; the copy replaces the workspace (with
/// `updated_at = now`) only if the command is accepted and something happened. A refused
/// command leaves the workspace untouched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Workspace {
    id: WorkspaceId,
    slug: Slug,
    name: WorkspaceName,
    created_by: UserId,
    members: Vec<Member>,
    invitations: Vec<Invitation>,
    seat_limit: u32,
    /// Documents stored before the standing was kept read as good standing, version 0.
    #[serde(default)]
    standing: SubscriptionStanding,
    /// The subscription version `standing` was read from; an older report never replaces it.
    #[serde(default)]
    standing_as_of: u64,
    archived_at: Option<Timestamp>,
    ever_invited: bool,
    ever_had_other_members: bool,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl AggregateRoot for Workspace {
    type Event = WorkspaceEvent;
    fn aggregate_id(&self) -> Uuid {
        self.id.as_uuid()
    }
}

/// Whether granting, revoking or removing `role` takes an Owner (Owner and Admin do).
fn needs_owner(role: Role) -> bool {
    role != Role::Member
}

impl Workspace {
    /// Creates a workspace owned by its creator, its only member.
    ///
    /// The seat limit must be at least 1 (`INVALID_SEAT_LIMIT`); the slug must not be taken
    /// by another workspace (the store checks that).
    pub fn create(
        id: WorkspaceId,
        slug: Slug,
        name: WorkspaceName,
        creator: UserId,
        seat_limit: u32,
        now: Timestamp,
    ) -> Result<(Workspace, Vec<WorkspaceEvent>), WorkspaceError> {
        if seat_limit == 0 {
            return Err(WorkspaceError::InvalidSeatLimit);
        }
        let workspace = Workspace {
            id,
            slug: slug.clone(),
            name: name.clone(),
            created_by: creator,
            members: vec![Member {
                user_id: creator,
                role: Role::Owner,
                joined_at: now,
            }],
            invitations: Vec::new(),
            seat_limit,
            standing: SubscriptionStanding::Good,
            standing_as_of: 0,
            archived_at: None,
            ever_invited: false,
            ever_had_other_members: false,
            created_at: now,
            updated_at: now,
        };
        let event = WorkspaceEvent::Created {
            workspace_id: id,
            slug,
            name,
            created_by: creator,
            seat_limit,
            occurred_at: now,
        };
        Ok((workspace, vec![event]))
    }

    // ----- reading -----

    /// The workspace's id.
    pub fn id(&self) -> WorkspaceId {
        self.id
    }

    /// Its slug.
    pub fn slug(&self) -> &Slug {
        &self.slug
    }

    /// Its name.
    pub fn name(&self) -> &WorkspaceName {
        &self.name
    }

    /// The user who created it (who may no longer be a member).
    pub fn created_by(&self) -> UserId {
        self.created_by
    }

    /// When it was created.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When the last accepted command changed it.
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    /// The most seats (members plus pending invitations) it may use.
    pub fn seat_limit(&self) -> u32 {
        self.seat_limit
    }

    /// Where the subscription stands, as Billing last reported it.
    pub fn subscription_standing(&self) -> SubscriptionStanding {
        self.standing
    }

    /// The subscription version the standing was reported as of (0: none yet).
    pub fn subscription_standing_as_of(&self) -> u64 {
        self.standing_as_of
    }

    /// Seats in use: members plus pending invitations. Never above [`Workspace::seat_limit`].
    pub fn seats_in_use(&self) -> u32 {
        let pending = self.invitations.iter().filter(|i| i.is_pending()).count();
        u32::try_from(self.members.len() + pending).unwrap_or(u32::MAX)
    }

    /// The members, in the order they joined.
    pub fn members(&self) -> &[Member] {
        &self.members
    }

    /// The ids of the members (for the store's "workspaces of a user" index).
    pub fn member_ids(&self) -> impl Iterator<Item = UserId> + '_ {
        self.members.iter().map(|m| m.user_id)
    }

    /// The membership of `user`, if they are a member.
    pub fn member(&self, user: UserId) -> Option<&Member> {
        self.members.iter().find(|m| m.user_id == user)
    }

    /// The role of `user`, if they are a member.
    pub fn role_of(&self, user: UserId) -> Option<Role> {
        self.member(user).map(|m| m.role)
    }

    /// How many Owners there are (at least one).
    pub fn owner_count(&self) -> usize {
        self.members
            .iter()
            .filter(|m| m.role == Role::Owner)
            .count()
    }

    /// The invitations in the order sent: every pending one, and the latest
    /// [`crate::MAX_RESOLVED_INVITATIONS`] accepted, revoked or expired ones.
    pub fn invitations(&self) -> &[Invitation] {
        &self.invitations
    }

    /// The pending invitations (some may be due to expire: see [`Workspace::next_due`]).
    pub fn pending_invitations(&self) -> impl Iterator<Item = &Invitation> {
        self.invitations.iter().filter(|i| i.is_pending())
    }

    /// The invitation with this id.
    pub fn invitation(&self, id: InvitationId) -> Option<&Invitation> {
        self.invitations.iter().find(|i| i.id == id)
    }

    /// Whether it is archived.
    pub fn is_archived(&self) -> bool {
        self.archived_at.is_some()
    }

    /// When it was archived, if it is.
    pub fn archived_at(&self) -> Option<Timestamp> {
        self.archived_at
    }

    /// Whether it ever sent an invitation.
    pub fn ever_invited(&self) -> bool {
        self.ever_invited
    }

    /// Whether anyone but its creator was ever a member.
    pub fn ever_had_other_members(&self) -> bool {
        self.ever_had_other_members
    }

    /// Whether it may be deleted: its creator is the only member it ever had and it never
    /// sent an invitation.
    pub fn is_pristine(&self) -> bool {
        !self.ever_invited && !self.ever_had_other_members
    }

    /// When the next pending invitation expires: when the store's sweeper should call
    /// [`Workspace::expire_invitations`].
    pub fn next_due(&self) -> Option<Timestamp> {
        self.pending_invitations().map(|i| i.expires_at).min()
    }

    // ----- guards -----

    fn ensure_not_archived(&self) -> Result<(), WorkspaceError> {
        if self.is_archived() {
            Err(WorkspaceError::Archived)
        } else {
            Ok(())
        }
    }

    /// The role of the acting user, who must be a member.
    fn actor_role(&self, actor: UserId) -> Result<Role, WorkspaceError> {
        self.role_of(actor).ok_or(WorkspaceError::NotAMember)
    }

    /// The role of the acting user, who must be an Owner or Admin.
    fn ensure_manager(&self, actor: UserId) -> Result<Role, WorkspaceError> {
        let role = self.actor_role(actor)?;
        if role.manages_members() {
            Ok(role)
        } else {
            Err(WorkspaceError::InsufficientRole)
        }
    }

    /// The acting user must be an Owner.
    fn ensure_owner(&self, actor: UserId) -> Result<(), WorkspaceError> {
        match self.actor_role(actor)? {
            Role::Owner => Ok(()),
            Role::Admin | Role::Member => Err(WorkspaceError::InsufficientRole),
        }
    }

    /// Whether `user` is the only Owner.
    fn is_last_owner(&self, user: UserId) -> bool {
        self.role_of(user) == Some(Role::Owner) && self.owner_count() == 1
    }

    fn remove(&mut self, user: UserId) {
        self.members.retain(|m| m.user_id != user);
    }

    /// Marks pending invitations whose time ran out by `now` expired, one event each.
    fn expire_due(&mut self, now: Timestamp) -> Vec<WorkspaceEvent> {
        let workspace_id = self.id;
        self.invitations
            .iter_mut()
            .filter(|i| i.is_due_at(now))
            .map(|i| {
                i.status = InvitationStatus::Expired;
                WorkspaceEvent::InvitationExpired {
                    workspace_id,
                    invitation_id: i.id,
                    occurred_at: now,
                }
            })
            .collect()
    }

    /// Runs a command after expiring due invitations, and keeps what it did only if it is
    /// accepted and something happened.
    ///
    /// Every command checks everything before it changes anything (no change precedes a
    /// refusal, and none is made without an event), so when nothing is due it runs on the
    /// workspace itself: a refused command has changed nothing. Only when invitations expire
    /// first, a change the command's refusal must undo, does it run on a copy.
    fn apply(
        &mut self,
        now: Timestamp,
        command: impl FnOnce(&mut Workspace, &mut Vec<WorkspaceEvent>) -> Result<(), WorkspaceError>,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        if !self.invitations.iter().any(|i| i.is_due_at(now)) {
            let mut events = Vec::new();
            command(self, &mut events)?;
            if !events.is_empty() {
                self.forget_old_resolved_invitations();
                self.updated_at = now;
            }
            return Ok(events);
        }
        let mut next = self.clone();
        let mut events = next.expire_due(now);
        command(&mut next, &mut events)?;
        if !events.is_empty() {
            next.forget_old_resolved_invitations();
            next.updated_at = now;
            *self = next;
        }
        Ok(events)
    }

    /// Keeps at most [`crate::MAX_RESOLVED_INVITATIONS`] accepted, revoked or expired
    /// invitations, forgetting the oldest, so a workspace does not grow without bound (their
    /// history is in the events). Pending invitations are always kept.
    fn forget_old_resolved_invitations(&mut self) {
        let resolved = self.invitations.iter().filter(|i| !i.is_pending()).count();
        let mut excess = resolved.saturating_sub(crate::MAX_RESOLVED_INVITATIONS);
        if excess == 0 {
            return;
        }
        self.invitations.retain(|i| {
            if excess > 0 && !i.is_pending() {
                excess -= 1;
                false
            } else {
                true
            }
        });
    }

    // ----- commands of members -----

    /// Renames the workspace (Owners and Admins). The same name again is accepted and still
    /// an event.
    pub fn rename(
        &mut self,
        actor: UserId,
        name: WorkspaceName,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.apply(now, |ws, events| {
            ws.ensure_not_archived()?;
            ws.ensure_manager(actor)?;
            ws.name = name.clone();
            events.push(WorkspaceEvent::Renamed {
                workspace_id: ws.id,
                name,
                renamed_by: actor,
                occurred_at: now,
            });
            Ok(())
        })
    }

    /// Invites `email` to join as `role`, valid for [`INVITATION_TTL`] (7 days); the
    /// workspace keeps only the hash of the mailed token.
    ///
    /// `invitee` is the Identity user who has this email address now, if any (the
    /// application looks it up): inviting a member is refused (`ALREADY_MEMBER`).
    ///
    /// Owners and Admins invite Members; only Owners invite Admins (`INSUFFICIENT_ROLE`);
    /// nobody is invited as Owner (`INVALID_INVITATION_ROLE`). At most one invitation per
    /// email is pending (`INVITATION_ALREADY_PENDING`); the subscription must be in good
    /// standing (`SUBSCRIPTION_INACTIVE`), and the new invitation must fit in the seat limit
    /// (`SEAT_LIMIT_REACHED`).
    #[allow(clippy::too_many_arguments)] // each argument is one fact the command needs
    pub fn invite(
        &mut self,
        actor: UserId,
        invitation_id: InvitationId,
        email: Email,
        invitee: Option<UserId>,
        role: Role,
        token: TokenHash,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.apply(now, |ws, events| {
            ws.ensure_not_archived()?;
            let actor_role = ws.ensure_manager(actor)?;
            match role {
                Role::Owner => return Err(WorkspaceError::InvalidInvitationRole),
                Role::Admin if actor_role != Role::Owner => {
                    return Err(WorkspaceError::InsufficientRole);
                }
                Role::Admin | Role::Member => {}
            }
            if ws.invitation(invitation_id).is_some() {
                return Err(WorkspaceError::InvitationAlreadyExists);
            }
            if invitee.is_some_and(|user| ws.member(user).is_some()) {
                return Err(WorkspaceError::AlreadyMember);
            }
            if ws.pending_invitations().any(|i| i.email == email) {
                return Err(WorkspaceError::InvitationAlreadyPending);
            }
            if ws.standing != SubscriptionStanding::Good {
                return Err(WorkspaceError::SubscriptionInactive);
            }
            if ws.seats_in_use() >= ws.seat_limit {
                return Err(WorkspaceError::SeatLimitReached);
            }
            let expires_at = now + INVITATION_TTL;
            ws.invitations.push(Invitation {
                id: invitation_id,
                email: email.clone(),
                role,
                invited_by: actor,
                invited_at: now,
                expires_at,
                status: InvitationStatus::Pending,
                token_hash: token,
            });
            ws.ever_invited = true;
            events.push(WorkspaceEvent::InvitationSent {
                workspace_id: ws.id,
                invitation_id,
                email,
                role,
                invited_by: actor,
                expires_at,
                occurred_at: now,
            });
            Ok(())
        })
    }

    /// Accepts an invitation: `user` becomes a member with the invitation's role.
    ///
    /// `user` and `user_email` are the accepting Identity user and their current email
    /// address, which the application verified. The presented token must be the
    /// invitation's (`TOKEN_INVALID`, checked first and in constant time); the invitation
    /// must be pending (`INVITATION_NOT_PENDING`) and unexpired (`INVITATION_EXPIRED`); the
    /// email must be the invited one (`INVITATION_EMAIL_MISMATCH`); the user must not be a
    /// member already (`ALREADY_MEMBER`). Seats in use do not change: the invitation's seat
    /// becomes the member's.
    pub fn accept_invitation(
        &mut self,
        invitation_id: InvitationId,
        user: UserId,
        user_email: &Email,
        presented: &TokenHash,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.apply(now, |ws, events| {
            ws.ensure_not_archived()?;
            let already_member = ws.member(user).is_some();
            let invitation = ws
                .invitations
                .iter_mut()
                .find(|i| i.id == invitation_id)
                .ok_or(WorkspaceError::InvitationNotFound)?;
            if !invitation.token_hash.matches(presented) {
                return Err(WorkspaceError::TokenInvalid);
            }
            match invitation.status {
                InvitationStatus::Pending => {}
                InvitationStatus::Expired => return Err(WorkspaceError::InvitationExpired),
                InvitationStatus::Accepted | InvitationStatus::Revoked => {
                    return Err(WorkspaceError::InvitationNotPending);
                }
            }
            if invitation.email != *user_email {
                return Err(WorkspaceError::EmailMismatch);
            }
            if already_member {
                return Err(WorkspaceError::AlreadyMember);
            }
            invitation.status = InvitationStatus::Accepted;
            let role = invitation.role;
            ws.members.push(Member {
                user_id: user,
                role,
                joined_at: now,
            });
            ws.ever_had_other_members = true;
            events.push(WorkspaceEvent::InvitationAccepted {
                workspace_id: ws.id,
                invitation_id,
                user_id: user,
                occurred_at: now,
            });
            events.push(WorkspaceEvent::MemberJoined {
                workspace_id: ws.id,
                user_id: user,
                role,
                occurred_at: now,
            });
            Ok(())
        })
    }

    /// Withdraws a pending invitation (Owners and Admins), freeing its seat.
    pub fn revoke_invitation(
        &mut self,
        actor: UserId,
        invitation_id: InvitationId,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.apply(now, |ws, events| {
            ws.ensure_not_archived()?;
            ws.ensure_manager(actor)?;
            let invitation = ws
                .invitations
                .iter_mut()
                .find(|i| i.id == invitation_id)
                .ok_or(WorkspaceError::InvitationNotFound)?;
            if !invitation.is_pending() {
                return Err(WorkspaceError::InvitationNotPending);
            }
            invitation.status = InvitationStatus::Revoked;
            events.push(WorkspaceEvent::InvitationRevoked {
                workspace_id: ws.id,
                invitation_id,
                revoked_by: actor,
                occurred_at: now,
            });
            Ok(())
        })
    }

    /// Changes a member's role. Granting or revoking the Owner or Admin role takes an Owner,
    /// so with three roles this is in effect an Owners' command (`INSUFFICIENT_ROLE`). The
    /// last Owner cannot be demoted (`LAST_OWNER`); the same role again is `ROLE_UNCHANGED`.
    pub fn change_role(
        &mut self,
        actor: UserId,
        member: UserId,
        role: Role,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.apply(now, |ws, events| {
            ws.ensure_not_archived()?;
            let actor_role = ws.ensure_manager(actor)?;
            let from = ws.role_of(member).ok_or(WorkspaceError::MemberNotFound)?;
            if (needs_owner(from) || needs_owner(role)) && actor_role != Role::Owner {
                return Err(WorkspaceError::InsufficientRole);
            }
            if from == role {
                return Err(WorkspaceError::RoleUnchanged);
            }
            if ws.is_last_owner(member) {
                return Err(WorkspaceError::LastOwner);
            }
            for m in ws.members.iter_mut().filter(|m| m.user_id == member) {
                m.role = role;
            }
            events.push(WorkspaceEvent::RoleChanged {
                workspace_id: ws.id,
                user_id: member,
                from,
                to: role,
                changed_by: actor,
                occurred_at: now,
            });
            Ok(())
        })
    }

    /// Removes a member. Owners and Admins remove Members; only Owners remove Admins and
    /// Owners (`INSUFFICIENT_ROLE`). The last Owner cannot be removed (`LAST_OWNER`).
    pub fn remove_member(
        &mut self,
        actor: UserId,
        member: UserId,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.apply(now, |ws, events| {
            ws.ensure_not_archived()?;
            let actor_role = ws.ensure_manager(actor)?;
            let role = ws.role_of(member).ok_or(WorkspaceError::MemberNotFound)?;
            if needs_owner(role) && actor_role != Role::Owner {
                return Err(WorkspaceError::InsufficientRole);
            }
            if ws.is_last_owner(member) {
                return Err(WorkspaceError::LastOwner);
            }
            ws.remove(member);
            events.push(WorkspaceEvent::MemberRemoved {
                workspace_id: ws.id,
                user_id: member,
                removed_by: actor,
                occurred_at: now,
            });
            Ok(())
        })
    }

    /// The acting member leaves the workspace; the last Owner may not (`LAST_OWNER`).
    pub fn leave(
        &mut self,
        actor: UserId,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.apply(now, |ws, events| {
            ws.ensure_not_archived()?;
            ws.actor_role(actor)?;
            if ws.is_last_owner(actor) {
                return Err(WorkspaceError::LastOwner);
            }
            ws.remove(actor);
            events.push(WorkspaceEvent::MemberLeft {
                workspace_id: ws.id,
                user_id: actor,
                occurred_at: now,
            });
            Ok(())
        })
    }

    /// Archives the workspace (Owners only). An archived workspace refuses every change by
    /// its members (`WORKSPACE_ARCHIVED`) except being unarchived by an Owner.
    pub fn archive(
        &mut self,
        actor: UserId,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.apply(now, |ws, events| {
            ws.ensure_not_archived()?;
            ws.ensure_owner(actor)?;
            ws.archived_at = Some(now);
            events.push(WorkspaceEvent::Archived {
                workspace_id: ws.id,
                archived_by: Some(actor),
                occurred_at: now,
            });
            Ok(())
        })
    }

    /// Unarchives the workspace (Owners only); `WORKSPACE_NOT_ARCHIVED` if it is not archived.
    pub fn unarchive(
        &mut self,
        actor: UserId,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.apply(now, |ws, events| {
            ws.ensure_owner(actor)?;
            if !ws.is_archived() {
                return Err(WorkspaceError::NotArchived);
            }
            ws.archived_at = None;
            events.push(WorkspaceEvent::Unarchived {
                workspace_id: ws.id,
                unarchived_by: actor,
                occurred_at: now,
            });
            Ok(())
        })
    }

    /// Asks to delete the workspace. Only an Owner of an unarchived, pristine workspace may
    /// (its creator, then: the only member it ever had); otherwise `NOT_PRISTINE`. `Ok` means
    /// the store may delete it; the workspace itself is not changed.
    pub fn delete(
        &self,
        actor: UserId,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.ensure_not_archived()?;
        self.ensure_owner(actor)?;
        if !self.is_pristine() || actor != self.created_by {
            return Err(WorkspaceError::NotPristine);
        }
        Ok(vec![WorkspaceEvent::Deleted {
            workspace_id: self.id,
            deleted_by: actor,
            occurred_at: now,
        }])
    }

    // ----- system policies (no actor; they apply to archived workspaces too) -----

    /// Marks pending invitations whose `expires_at <= now` expired, one event each, freeing
    /// their seats. Nothing due: no events, nothing changes. (Every command also does this
    /// first; the store's sweeper calls it at [`Workspace::next_due`].)
    pub fn expire_invitations(&mut self, now: Timestamp) -> Vec<WorkspaceEvent> {
        let events = self.expire_due(now);
        if !events.is_empty() {
            self.forget_old_resolved_invitations();
            self.updated_at = now;
        }
        events
    }

    /// Sets the seat limit to follow the subscription. It must be at least 1
    /// (`INVALID_SEAT_LIMIT`) and not below the seats in use
    /// (`SEAT_LIMIT_BELOW_SEATS_IN_USE`). The same limit again changes nothing and is no
    /// event.
    pub fn set_seat_limit(
        &mut self,
        limit: u32,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.apply(now, |ws, events| {
            if limit == 0 {
                return Err(WorkspaceError::InvalidSeatLimit);
            }
            let in_use = ws.seats_in_use();
            if limit < in_use {
                return Err(WorkspaceError::SeatLimitBelowSeatsInUse { limit, in_use });
            }
            if limit != ws.seat_limit {
                ws.seat_limit = limit;
                events.push(WorkspaceEvent::SeatLimitChanged {
                    workspace_id: ws.id,
                    seat_limit: limit,
                    occurred_at: now,
                });
            }
            Ok(())
        })
    }

    /// Follows the subscription's standing, as of the subscription's `version` (the system's
    /// command, applied also to an archived workspace; it refuses nothing).
    ///
    /// Reports may arrive late, twice or out of order: one no newer than the last followed
    /// (a `version` not above it) changes nothing, so the workspace ends where the
    /// subscription is. A newer report is an event, whether or not the standing changed,
    /// because the version it was read at is what orders later reports.
    pub fn follow_subscription(
        &mut self,
        standing: SubscriptionStanding,
        version: u64,
        now: Timestamp,
    ) -> Result<Vec<WorkspaceEvent>, WorkspaceError> {
        self.apply(now, |ws, events| {
            if version > ws.standing_as_of {
                ws.standing = standing;
                ws.standing_as_of = version;
                events.push(WorkspaceEvent::SubscriptionFollowed {
                    workspace_id: ws.id,
                    standing,
                    subscription_version: version,
                    occurred_at: now,
                });
            }
            Ok(())
        })
    }

    /// Removes a member whose Identity user was erased.
    ///
    /// If they are the last Owner, removing them would leave the workspace without one, so
    /// instead their membership stays as a tombstone (it holds only the user id, no personal
    /// data) and the workspace is archived by the system (`archived_by: None`); it stays so
    /// until support steps in. Anyone else is simply removed. Not a member, or already a
    /// tombstone in an archived workspace: nothing happens.
    pub fn remove_erased_user(&mut self, user: UserId, now: Timestamp) -> Vec<WorkspaceEvent> {
        let mut events = self.expire_due(now);
        if self.is_last_owner(user) {
            if !self.is_archived() {
                self.archived_at = Some(now);
                events.push(WorkspaceEvent::Archived {
                    workspace_id: self.id,
                    archived_by: None,
                    occurred_at: now,
                });
            }
        } else if self.member(user).is_some() {
            self.remove(user);
            events.push(WorkspaceEvent::ErasedUserRemoved {
                workspace_id: self.id,
                user_id: user,
                occurred_at: now,
            });
        }
        if !events.is_empty() {
            self.updated_at = now;
        }
        events
    }
}
