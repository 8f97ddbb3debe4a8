//! The [`User`] aggregate.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use kernel_domain::{AggregateRoot, Email, Timestamp};

use crate::{
    CredentialCheck, DisplayName, EMAIL_VERIFICATION_TTL, LoginOutcome, MAX_OPEN_SESSIONS,
    PASSWORD_RESET_TTL, Password, PasswordHash, PasswordHasher, Session, SessionCloseReason,
    SessionId, SuspensionReason, TokenHash, UserError, UserEvent, UserId, lock_delay,
};

/// Where a user stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UserStatus {
    /// May log in and use everything.
    Active,
    /// Stopped by an operator: cannot log in, has no sessions, cannot use tokens, change
    /// email or password. May be renamed, reactivated or erased.
    Suspended {
        /// Why.
        reason: SuspensionReason,
    },
    /// Personal data gone for good; every command is refused.
    Erased,
}

impl UserStatus {
    /// Whether the user is active.
    pub fn is_active(&self) -> bool {
        matches!(self, UserStatus::Active)
    }
}

/// A single-use token waiting to be presented: only its hash and expiry are kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct PendingToken {
    hash: TokenHash,
    expires_at: Timestamp,
}

impl PendingToken {
    fn accepts(&self, presented: &TokenHash, now: Timestamp) -> bool {
        // Compare first, always, so timing does not depend on expiry.
        let matches = self.hash.matches(presented);
        matches && now < self.expires_at
    }
}

/// The sign-up that registered a user, until it completes: the durable record that lets an
/// unfinished sign-up be undone even when the process running it is gone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingSignUp {
    /// The sign-up's request id (its steps' request ids derive from it).
    pub id: Uuid,
    /// How long the sign-up has to complete; also the first pause between announcements.
    pub window: chrono::Duration,
    /// When it is next announced unfinished.
    pub due_at: Timestamp,
    /// How many times it has been announced unfinished.
    pub announcements: u32,
}

impl PendingSignUp {
    /// A sign-up registered at `now` that must complete within `window`.
    pub fn new(id: Uuid, window: chrono::Duration, now: Timestamp) -> PendingSignUp {
        PendingSignUp {
            id,
            window,
            due_at: now
                .checked_add_signed(window)
                .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC),
            announcements: 0,
        }
    }

    /// Whether its window has passed (it has been announced unfinished at least once).
    pub fn is_unfinished(&self) -> bool {
        self.announcements > 0
    }
}

/// A person's account: the aggregate root of the Identity context.
///
/// See the crate documentation for the rules. Every command checks the rules against `now`,
/// changes the user, sets `updated_at = now`, drops expired sessions and tokens, and returns
/// the events it caused. A refused command leaves the user untouched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    id: UserId,
    email: Option<Email>,
    display_name: DisplayName,
    password_hash: Option<PasswordHash>,
    status: UserStatus,
    email_verified: bool,
    sessions: Vec<Session>,
    failed_logins: u32,
    locked_until: Option<Timestamp>,
    pending_verification: Option<PendingToken>,
    pending_reset: Option<PendingToken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    sign_up: Option<PendingSignUp>,
    created_at: Timestamp,
    updated_at: Timestamp,
}

impl AggregateRoot for User {
    type Event = UserEvent;
    fn aggregate_id(&self) -> Uuid {
        self.id.as_uuid()
    }
}

impl User {
    /// Signs a person up: active, email not yet verified, no sessions.
    ///
    /// The email must not be taken by another user; the store checks that.
    pub fn register(
        id: UserId,
        email: Email,
        display_name: DisplayName,
        password_hash: PasswordHash,
        now: Timestamp,
    ) -> (User, Vec<UserEvent>) {
        let user = User {
            id,
            email: Some(email.clone()),
            display_name: display_name.clone(),
            password_hash: Some(password_hash),
            status: UserStatus::Active,
            email_verified: false,
            sessions: Vec::new(),
            failed_logins: 0,
            locked_until: None,
            pending_verification: None,
            pending_reset: None,
            sign_up: None,
            created_at: now,
            updated_at: now,
        };
        let event = UserEvent::Registered {
            user_id: id,
            email,
            display_name,
            occurred_at: now,
        };
        (user, vec![event])
    }

    /// Registers the user of a sign-up: as [`User::register`], and the sign-up is pending
    /// until [`User::complete_sign_up`]; at its due time ([`User::next_due`]) the store's
    /// sweeper announces it unfinished ([`User::announce_unfinished_sign_up`]).
    pub fn register_for_sign_up(
        id: UserId,
        email: Email,
        display_name: DisplayName,
        password_hash: PasswordHash,
        sign_up: PendingSignUp,
        now: Timestamp,
    ) -> (User, Vec<UserEvent>) {
        let (mut user, events) = User::register(id, email, display_name, password_hash, now);
        user.sign_up = Some(sign_up);
        (user, events)
    }

    // ----- reading -----

    /// The sign-up that registered the user, while it has not completed.
    pub fn pending_sign_up(&self) -> Option<&PendingSignUp> {
        self.sign_up.as_ref()
    }

    /// When the system next has work to do on this user: announcing an unfinished sign-up.
    pub fn next_due(&self) -> Option<Timestamp> {
        self.sign_up.as_ref().map(|sign_up| sign_up.due_at)
    }

    /// The user's id (kept after erasure).
    pub fn id(&self) -> UserId {
        self.id
    }

    /// The email address; `None` once erased (the address is then free for others).
    pub fn email(&self) -> Option<&Email> {
        self.email.as_ref()
    }

    /// The display name.
    pub fn display_name(&self) -> &DisplayName {
        &self.display_name
    }

    /// Active, suspended or erased.
    pub fn status(&self) -> &UserStatus {
        &self.status
    }

    /// Whether the user proved they own the current email address.
    pub fn email_verified(&self) -> bool {
        self.email_verified
    }

    /// The open sessions as of the last command, oldest first. Some may have expired since;
    /// use [`Session::is_open_at`] or [`User::open_sessions_at`] to be exact.
    pub fn open_sessions(&self) -> &[Session] {
        &self.sessions
    }

    /// The sessions still open at `now`.
    pub fn open_sessions_at(&self, now: Timestamp) -> impl Iterator<Item = &Session> {
        self.sessions.iter().filter(move |s| s.is_open_at(now))
    }

    /// When the last lock ends (or ended); `None` if the account was never locked since the
    /// last successful login.
    pub fn locked_until(&self) -> Option<Timestamp> {
        self.locked_until
    }

    /// Whether logins are refused at `now` because of too many wrong passwords.
    pub fn is_locked_at(&self, now: Timestamp) -> bool {
        self.locked_until.is_some_and(|until| now < until)
    }

    /// Consecutive wrong passwords since the last successful login.
    pub fn failed_logins(&self) -> u32 {
        self.failed_logins
    }

    /// When the user signed up.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When the last accepted command changed the user.
    pub fn updated_at(&self) -> Timestamp {
        self.updated_at
    }

    /// The stored password hash; `None` once erased.
    pub fn password_hash(&self) -> Option<&PasswordHash> {
        self.password_hash.as_ref()
    }

    /// When the pending email verification token expires, if one is pending.
    pub fn email_verification_expires_at(&self) -> Option<Timestamp> {
        self.pending_verification.as_ref().map(|t| t.expires_at)
    }

    /// When the pending password reset token expires, if one is pending.
    pub fn password_reset_expires_at(&self) -> Option<Timestamp> {
        self.pending_reset.as_ref().map(|t| t.expires_at)
    }

    /// When the next session or token stored here expires.
    ///
    /// Due only for the sessions/tokens expiry pruning (e.g. a sweeper calling
    /// [`User::prune_expired`]); not needed for commands, which prune by themselves.
    pub fn next_expiry(&self) -> Option<Timestamp> {
        self.sessions
            .iter()
            .map(|s| s.expires_at)
            .chain(self.pending_verification.as_ref().map(|t| t.expires_at))
            .chain(self.pending_reset.as_ref().map(|t| t.expires_at))
            .min()
    }

    /// Drops sessions and tokens that expired by `now`. Expiry is not an event and does not
    /// change `updated_at`. Returns whether anything was dropped.
    pub fn prune_expired(&mut self, now: Timestamp) -> bool {
        let before = (
            self.sessions.len(),
            self.pending_verification.is_some(),
            self.pending_reset.is_some(),
        );
        self.sessions.retain(|s| s.is_open_at(now));
        if self
            .pending_verification
            .as_ref()
            .is_some_and(|t| now >= t.expires_at)
        {
            self.pending_verification = None;
        }
        if self
            .pending_reset
            .as_ref()
            .is_some_and(|t| now >= t.expires_at)
        {
            self.pending_reset = None;
        }
        before
            != (
                self.sessions.len(),
                self.pending_verification.is_some(),
                self.pending_reset.is_some(),
            )
    }

    // ----- guards -----

    fn ensure_not_erased(&self) -> Result<(), UserError> {
        match self.status {
            UserStatus::Erased => Err(UserError::Erased),
            _ => Ok(()),
        }
    }

    fn ensure_active(&self) -> Result<(), UserError> {
        match self.status {
            UserStatus::Active => Ok(()),
            UserStatus::Suspended { .. } => Err(UserError::NotActive),
            UserStatus::Erased => Err(UserError::Erased),
        }
    }

    /// Bookkeeping every accepted command does first: drop what expired, stamp the time.
    fn touch(&mut self, now: Timestamp) {
        self.prune_expired(now);
        self.updated_at = now;
    }

    /// Closes every session, one event each.
    fn close_all_sessions(&mut self, reason: SessionCloseReason, now: Timestamp) -> Vec<UserEvent> {
        let user_id = self.id;
        self.sessions
            .drain(..)
            .map(|s| UserEvent::SessionClosed {
                user_id,
                session_id: s.id,
                reason,
                occurred_at: now,
            })
            .collect()
    }

    // ----- profile -----

    /// Renames the user. Allowed for active and suspended users; refused once erased.
    /// Setting the same name again is accepted and still an event.
    pub fn change_display_name(
        &mut self,
        name: DisplayName,
        now: Timestamp,
    ) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_not_erased()?;
        self.touch(now);
        self.display_name = name.clone();
        Ok(vec![UserEvent::DisplayNameChanged {
            user_id: self.id,
            display_name: name,
            occurred_at: now,
        }])
    }

    /// Changes the email address (active users only; the store checks it is free). The new
    /// address is unverified, and pending verification and reset tokens (mailed to the old
    /// address) stop working.
    pub fn change_email(
        &mut self,
        email: Email,
        now: Timestamp,
    ) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_active()?;
        if self.email.as_ref() == Some(&email) {
            return Err(UserError::EmailUnchanged);
        }
        self.touch(now);
        self.email = Some(email.clone());
        self.email_verified = false;
        self.pending_verification = None;
        self.pending_reset = None;
        Ok(vec![UserEvent::EmailChanged {
            user_id: self.id,
            email,
            occurred_at: now,
        }])
    }

    // ----- credentials -----

    /// Checks a password, running the hasher exactly once: against the user's hash, or against
    /// `None` when there is none, the user is not active, or the account is locked at `now`,
    /// so timing does not tell these cases apart. Pure: does not change the user.
    pub fn check_credentials(
        &self,
        password: &Password,
        hasher: &dyn PasswordHasher,
        now: Timestamp,
    ) -> CredentialCheck {
        let against = match (&self.status, &self.password_hash) {
            (UserStatus::Active, Some(hash)) if !self.is_locked_at(now) => Some(hash),
            _ => None,
        };
        let matched = hasher.verify(password, against);
        CredentialCheck {
            user_id: self.id,
            verified: matched && against.is_some(),
            against: against.cloned(),
        }
    }

    /// Books a login attempt.
    ///
    /// - Erased: `Err(Erased)` (an erased user has no email, so cannot be found to log in).
    /// - Suspended, or locked at `now`: `Refused`, without looking at the check, not counted,
    ///   no events, user unchanged.
    /// - The check proves the current password of this user: `Accepted`, the failure counter
    ///   and lock are reset, [`UserEvent::LoggedIn`].
    /// - Otherwise (wrong password, or a check made against a hash that is no longer current,
    ///   or for another user): `Refused`, one more consecutive failure
    ///   ([`UserEvent::LoginFailed`]); from the 5th on the account is locked
    ///   ([`UserEvent::AccountLocked`]) for [`crate::lock_delay`].
    pub fn record_login(
        &mut self,
        check: CredentialCheck,
        now: Timestamp,
    ) -> Result<(LoginOutcome, Vec<UserEvent>), UserError> {
        match self.status {
            UserStatus::Erased => return Err(UserError::Erased),
            UserStatus::Suspended { .. } => return Ok((LoginOutcome::Refused, Vec::new())),
            UserStatus::Active => {}
        }
        if self.is_locked_at(now) {
            return Ok((LoginOutcome::Refused, Vec::new()));
        }
        self.touch(now);
        if check.proves(self.id, self.password_hash.as_ref()) {
            self.failed_logins = 0;
            self.locked_until = None;
            return Ok((
                LoginOutcome::Accepted,
                vec![UserEvent::LoggedIn {
                    user_id: self.id,
                    occurred_at: now,
                }],
            ));
        }
        self.failed_logins = self.failed_logins.saturating_add(1);
        let mut events = vec![UserEvent::LoginFailed {
            user_id: self.id,
            consecutive_failures: self.failed_logins,
            occurred_at: now,
        }];
        if let Some(delay) = lock_delay(self.failed_logins) {
            let until = now + delay;
            self.locked_until = Some(until);
            events.push(UserEvent::AccountLocked {
                user_id: self.id,
                until,
                occurred_at: now,
            });
        }
        Ok((LoginOutcome::Refused, events))
    }

    /// Changes the password of an active user, who proves the old one: `check` must be a
    /// successful check of this user's current hash (else `WrongPassword`; this does not count
    /// towards the lockout). Closes all sessions and cancels a pending password reset.
    pub fn change_password(
        &mut self,
        check: CredentialCheck,
        new_hash: PasswordHash,
        now: Timestamp,
    ) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_active()?;
        if !check.proves(self.id, self.password_hash.as_ref()) {
            return Err(UserError::WrongPassword);
        }
        self.touch(now);
        self.password_hash = Some(new_hash);
        self.pending_reset = None;
        let mut events = vec![UserEvent::PasswordChanged {
            user_id: self.id,
            occurred_at: now,
        }];
        events.extend(self.close_all_sessions(SessionCloseReason::PasswordChanged, now));
        Ok(events)
    }

    // ----- sessions -----

    /// Opens a session for an active user (after an accepted login). If 20 are already open,
    /// the oldest is closed first ([`SessionCloseReason::Evicted`]).
    pub fn open_session(
        &mut self,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_active()?;
        if self.open_sessions_at(now).any(|s| s.id == id) {
            return Err(UserError::SessionAlreadyExists);
        }
        self.touch(now);
        let mut events = Vec::new();
        while self.sessions.len() >= MAX_OPEN_SESSIONS {
            let Some(oldest) = self
                .sessions
                .iter()
                .enumerate()
                .min_by_key(|(_, s)| s.created_at)
                .map(|(index, _)| index)
            else {
                break;
            };
            let evicted = self.sessions.remove(oldest);
            events.push(UserEvent::SessionClosed {
                user_id: self.id,
                session_id: evicted.id,
                reason: SessionCloseReason::Evicted,
                occurred_at: now,
            });
        }
        let session = Session::open(id, now);
        events.push(UserEvent::SessionOpened {
            user_id: self.id,
            session_id: id,
            expires_at: session.expires_at,
            occurred_at: now,
        });
        self.sessions.push(session);
        Ok(events)
    }

    /// Refreshes an open, unexpired session of an active user: it lives another 30 days from
    /// `now`. Unknown or closed: `SessionNotFound`; expired: `SessionExpired`.
    pub fn refresh_session(
        &mut self,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_active()?;
        self.find_open_session(id, now)?;
        self.touch(now);
        let session = self
            .sessions
            .iter_mut()
            .find(|s| s.id == id)
            .ok_or(UserError::SessionNotFound)?;
        session.refresh(now);
        Ok(vec![UserEvent::SessionRefreshed {
            user_id: self.id,
            session_id: id,
            expires_at: session.expires_at,
            occurred_at: now,
        }])
    }

    /// Logs out of one session. Allowed for suspended users too (who have none open, so it
    /// answers `SessionNotFound`); refused once erased. Unknown or closed: `SessionNotFound`;
    /// expired: `SessionExpired`.
    pub fn close_session(
        &mut self,
        id: SessionId,
        now: Timestamp,
    ) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_not_erased()?;
        self.find_open_session(id, now)?;
        self.touch(now);
        self.sessions.retain(|s| s.id != id);
        Ok(vec![UserEvent::SessionClosed {
            user_id: self.id,
            session_id: id,
            reason: SessionCloseReason::LoggedOut,
            occurred_at: now,
        }])
    }

    fn find_open_session(&self, id: SessionId, now: Timestamp) -> Result<&Session, UserError> {
        let session = self
            .sessions
            .iter()
            .find(|s| s.id == id)
            .ok_or(UserError::SessionNotFound)?;
        if session.is_open_at(now) {
            Ok(session)
        } else {
            Err(UserError::SessionExpired)
        }
    }

    // ----- email verification -----

    /// Starts verifying the current email address of an active user: keeps the token's hash,
    /// valid for 24 hours, replacing any pending one.
    pub fn start_email_verification(
        &mut self,
        token: TokenHash,
        now: Timestamp,
    ) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_active()?;
        if self.email_verified {
            return Err(UserError::EmailAlreadyVerified);
        }
        let Some(email) = self.email.clone() else {
            return Err(UserError::Erased);
        };
        self.touch(now);
        let expires_at = now + EMAIL_VERIFICATION_TTL;
        self.pending_verification = Some(PendingToken {
            hash: token,
            expires_at,
        });
        Ok(vec![UserEvent::EmailVerificationStarted {
            user_id: self.id,
            email,
            expires_at,
            occurred_at: now,
        }])
    }

    /// Confirms the email address with a presented token: it must match the pending token and
    /// not have expired (else `TokenInvalid`). The token is used up.
    pub fn confirm_email_verification(
        &mut self,
        presented: &TokenHash,
        now: Timestamp,
    ) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_active()?;
        if self.email_verified {
            return Err(UserError::EmailAlreadyVerified);
        }
        let accepted = self
            .pending_verification
            .as_ref()
            .is_some_and(|t| t.accepts(presented, now));
        let Some(email) = self.email.clone().filter(|_| accepted) else {
            return Err(UserError::TokenInvalid);
        };
        self.touch(now);
        self.pending_verification = None;
        self.email_verified = true;
        Ok(vec![UserEvent::EmailVerified {
            user_id: self.id,
            email,
            occurred_at: now,
        }])
    }

    // ----- password reset -----

    /// Starts a password reset for an active user: keeps the token's hash, valid for 1 hour,
    /// replacing any pending one.
    pub fn start_password_reset(
        &mut self,
        token: TokenHash,
        now: Timestamp,
    ) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_active()?;
        self.touch(now);
        let expires_at = now + PASSWORD_RESET_TTL;
        self.pending_reset = Some(PendingToken {
            hash: token,
            expires_at,
        });
        Ok(vec![UserEvent::PasswordResetStarted {
            user_id: self.id,
            expires_at,
            occurred_at: now,
        }])
    }

    /// Completes a password reset: the presented token must match the pending one and not
    /// have expired (else `TokenInvalid`). The token is used up, the password replaced, all
    /// sessions closed, and the failure counter and lock reset (the user proved they own the
    /// mailbox).
    pub fn complete_password_reset(
        &mut self,
        presented: &TokenHash,
        new_hash: PasswordHash,
        now: Timestamp,
    ) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_active()?;
        let accepted = self
            .pending_reset
            .as_ref()
            .is_some_and(|t| t.accepts(presented, now));
        if !accepted {
            return Err(UserError::TokenInvalid);
        }
        self.touch(now);
        self.pending_reset = None;
        self.password_hash = Some(new_hash);
        self.failed_logins = 0;
        self.locked_until = None;
        let mut events = vec![UserEvent::PasswordResetCompleted {
            user_id: self.id,
            occurred_at: now,
        }];
        events.extend(self.close_all_sessions(SessionCloseReason::PasswordChanged, now));
        Ok(events)
    }

    // ----- lifecycle -----

    /// Suspends an active user: closes all sessions and cancels pending tokens.
    pub fn suspend(
        &mut self,
        reason: SuspensionReason,
        now: Timestamp,
    ) -> Result<Vec<UserEvent>, UserError> {
        match self.status {
            UserStatus::Erased => return Err(UserError::Erased),
            UserStatus::Suspended { .. } => return Err(UserError::AlreadySuspended),
            UserStatus::Active => {}
        }
        self.touch(now);
        self.status = UserStatus::Suspended {
            reason: reason.clone(),
        };
        self.pending_verification = None;
        self.pending_reset = None;
        let mut events = vec![UserEvent::Suspended {
            user_id: self.id,
            reason,
            occurred_at: now,
        }];
        events.extend(self.close_all_sessions(SessionCloseReason::Suspended, now));
        Ok(events)
    }

    /// Makes a suspended user active again (the lockout state is kept as it was).
    pub fn reactivate(&mut self, now: Timestamp) -> Result<Vec<UserEvent>, UserError> {
        match self.status {
            UserStatus::Erased => return Err(UserError::Erased),
            UserStatus::Active => return Err(UserError::NotSuspended),
            UserStatus::Suspended { .. } => {}
        }
        self.touch(now);
        self.status = UserStatus::Active;
        Ok(vec![UserEvent::Reactivated {
            user_id: self.id,
            occurred_at: now,
        }])
    }

    /// Erases an active or suspended user, irreversibly: the email is freed, the name
    /// replaced, the password hash, tokens and lockout dropped, all sessions closed. The id
    /// stays. Every later command is refused with `USER_ERASED`.
    pub fn erase(&mut self, now: Timestamp) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_not_erased()?;
        self.touch(now);
        self.status = UserStatus::Erased;
        self.email = None;
        self.display_name = DisplayName::erased();
        self.password_hash = None;
        self.email_verified = false;
        self.pending_verification = None;
        self.pending_reset = None;
        self.sign_up = None;
        self.failed_logins = 0;
        self.locked_until = None;
        let mut events = vec![UserEvent::Erased {
            user_id: self.id,
            occurred_at: now,
        }];
        events.extend(self.close_all_sessions(SessionCloseReason::Erased, now));
        Ok(events)
    }

    // ----- sign-up -----

    /// The sign-up that registered the user completed (its trial started): it is no longer
    /// pending and is never announced. No event: nothing outside Identity acts on it.
    /// Idempotent: a user with no pending sign-up (completed already, or not registered by
    /// one) is unchanged. Refused
    /// only for an erased user (`USER_ERASED`): the sign-up was undone.
    pub fn complete_sign_up(&mut self, now: Timestamp) -> Result<Vec<UserEvent>, UserError> {
        self.ensure_not_erased()?;
        if self.sign_up.take().is_some() {
            self.touch(now);
        }
        Ok(Vec::new())
    }

    /// The system's due work: a pending sign-up whose due time has passed by `now` is
    /// announced unfinished, and its next announcement is due after twice the previous pause
    /// (the window, doubling, at most [`crate::SIGN_UP_MAX_ANNOUNCE_INTERVAL`]), so an undo
    /// that failed for longer than its consumer retries is driven again, for as long as the
    /// sign-up is neither complete nor undone (the user erased). Nothing due: no events,
    /// nothing changes.
    pub fn announce_unfinished_sign_up(&mut self, now: Timestamp) -> Vec<UserEvent> {
        if matches!(self.status, UserStatus::Erased) {
            return Vec::new();
        }
        let Some(sign_up) = self.sign_up.as_mut() else {
            return Vec::new();
        };
        if now < sign_up.due_at {
            return Vec::new();
        }
        sign_up.announcements = sign_up.announcements.saturating_add(1);
        let pause = crate::sign_up_announce_interval(sign_up.window, sign_up.announcements);
        sign_up.due_at = now
            .checked_add_signed(pause)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC);
        let event = UserEvent::SignUpUnfinished {
            user_id: self.id,
            sign_up_id: sign_up.id,
            announcement: sign_up.announcements,
            occurred_at: now,
        };
        self.updated_at = now;
        vec![event]
    }
}
