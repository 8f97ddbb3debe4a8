use chrono::Duration;
use kernel_domain::{AggregateRoot, DomainEvent, Timestamp};

use super::*;
use crate::{
    LOCK_MAX_DELAY, MAX_CONSECUTIVE_FAILURES, MAX_OPEN_SESSIONS, SessionCloseReason,
    SuspensionReason, UserError, UserStatus, lock_delay,
};

fn minutes(n: i64) -> Duration {
    Duration::minutes(n)
}

fn reason(raw: &str) -> SuspensionReason {
    SuspensionReason::parse(raw).unwrap()
}

/// Fails `n` times in a row, starting at `at`, waiting out any lock before each attempt.
/// Returns the time of the last attempt.
fn fail_times(user: &mut User, n: u32, mut at: Timestamp) -> Timestamp {
    for i in 0..n {
        if let Some(until) = user.locked_until().filter(|&u| u > at) {
            at = until;
        }
        if i > 0 {
            at += Duration::seconds(1);
        }
        assert_eq!(login(user, WRONG, at), LoginOutcome::Refused);
    }
    at
}

/// Ada with sessions 1..=n opened one minute apart from t0.
fn with_sessions(n: u128) -> User {
    let mut user = registered();
    for i in 1..=n {
        user.open_session(sid(i), t0() + minutes(i as i64)).unwrap();
    }
    user
}

fn closed_ids(events: &[UserEvent], why: SessionCloseReason) -> Vec<SessionId> {
    events
        .iter()
        .filter_map(|e| match e {
            UserEvent::SessionClosed {
                session_id, reason, ..
            } if *reason == why => Some(*session_id),
            _ => None,
        })
        .collect()
}

// ----- registration and profile -----

#[test]
fn registration_makes_an_active_unverified_user_without_sessions() {
    let (user, events) = User::register(
        uid(9),
        email("ada@example.com"),
        name("Ada"),
        hash_of(RIGHT),
        t0(),
    );
    assert_eq!(user.id(), uid(9));
    assert_eq!(user.aggregate_id(), uid(9).as_uuid());
    assert_eq!(user.email(), Some(&email("ada@example.com")));
    assert_eq!(user.display_name().as_str(), "Ada");
    assert_eq!(user.status(), &UserStatus::Active);
    assert!(!user.email_verified());
    assert!(user.open_sessions().is_empty());
    assert_eq!(user.failed_logins(), 0);
    assert_eq!(user.locked_until(), None);
    assert_eq!(user.created_at(), t0());
    assert_eq!(user.updated_at(), t0());
    assert_eq!(user.password_hash(), Some(&hash_of(RIGHT)));
    assert_eq!(
        events,
        vec![UserEvent::Registered {
            user_id: uid(9),
            email: email("ada@example.com"),
            display_name: name("Ada"),
            occurred_at: t0(),
        }]
    );
}

#[test]
fn display_name_can_be_changed() {
    let mut user = registered();
    let later = t0() + minutes(5);
    let events = user.change_display_name(name("Countess"), later).unwrap();
    assert_eq!(user.display_name().as_str(), "Countess");
    assert_eq!(user.updated_at(), later);
    assert!(matches!(events[..], [UserEvent::DisplayNameChanged { .. }]));
}

#[test]
fn changing_email_clears_verification_and_the_pending_token() {
    let mut user = registered();
    user.start_email_verification(token(1), t0()).unwrap();
    user.confirm_email_verification(&token(1), t0()).unwrap();
    assert!(user.email_verified());
    user.change_email(email("ada@lovelace.org"), t0()).unwrap();
    assert!(!user.email_verified());
    assert_eq!(user.email(), Some(&email("ada@lovelace.org")));

    user.start_email_verification(token(2), t0()).unwrap();
    user.change_email(email("ada@analytical.engine.org"), t0())
        .unwrap();
    assert_eq!(user.email_verification_expires_at(), None);
    assert_eq!(
        user.confirm_email_verification(&token(2), t0()),
        Err(UserError::TokenInvalid)
    );
}

#[test]
fn changing_email_cancels_a_pending_password_reset() {
    let mut user = registered();
    user.start_password_reset(token(3), t0()).unwrap();
    user.change_email(email("ada@lovelace.org"), t0()).unwrap();
    assert_eq!(
        user.complete_password_reset(&token(3), hash_of("a brand new password"), t0()),
        Err(UserError::TokenInvalid)
    );
}

#[test]
fn changing_to_the_same_email_is_refused() {
    let mut user = registered();
    assert_eq!(
        user.change_email(email(" ADA@example.com "), t0()),
        Err(UserError::EmailUnchanged)
    );
}

// ----- authentication -----

#[test]
fn right_password_is_accepted() {
    let mut user = registered();
    let (outcome, events) = login_events(&mut user, RIGHT, t0());
    assert_eq!(outcome, LoginOutcome::Accepted);
    assert!(matches!(events[..], [UserEvent::LoggedIn { .. }]));
}

#[test]
fn wrong_password_is_refused_and_counted() {
    let mut user = registered();
    let (outcome, events) = login_events(&mut user, WRONG, t0());
    assert_eq!(outcome, LoginOutcome::Refused);
    assert_eq!(user.failed_logins(), 1);
    assert!(matches!(
        events[..],
        [UserEvent::LoginFailed {
            consecutive_failures: 1,
            ..
        }]
    ));
}

#[test]
fn four_consecutive_failures_do_not_lock() {
    let mut user = registered();
    let last = fail_times(&mut user, 4, t0());
    assert_eq!(user.failed_logins(), 4);
    assert_eq!(user.locked_until(), None);
    assert_eq!(login(&mut user, RIGHT, last), LoginOutcome::Accepted);
}

#[test]
fn fifth_consecutive_failure_locks_for_one_minute() {
    let mut user = registered();
    let last = fail_times(&mut user, MAX_CONSECUTIVE_FAILURES, t0());
    assert_eq!(user.failed_logins(), 5);
    assert_eq!(user.locked_until(), Some(last + minutes(1)));
    assert!(user.is_locked_at(last + Duration::seconds(59)));
    assert!(!user.is_locked_at(last + minutes(1)));
}

#[test]
fn locking_is_an_event() {
    let mut user = registered();
    let last = fail_times(&mut user, 4, t0()) + Duration::seconds(1);
    let (_, events) = login_events(&mut user, WRONG, last);
    assert_eq!(
        events,
        vec![
            UserEvent::LoginFailed {
                user_id: uid(1),
                consecutive_failures: 5,
                occurred_at: last,
            },
            UserEvent::AccountLocked {
                user_id: uid(1),
                until: last + minutes(1),
                occurred_at: last,
            },
        ]
    );
}

#[test]
fn attempts_during_a_lock_are_refused_even_with_the_right_password() {
    let mut user = registered();
    let last = fail_times(&mut user, 5, t0());
    let (outcome, events) = login_events(&mut user, RIGHT, last + Duration::seconds(30));
    assert_eq!(outcome, LoginOutcome::Refused);
    assert!(events.is_empty());
}

#[test]
fn attempts_during_a_lock_are_not_counted() {
    let mut user = registered();
    let last = fail_times(&mut user, 5, t0());
    let before = user.clone();
    for s in 1..10 {
        login(&mut user, WRONG, last + Duration::seconds(s));
    }
    assert_eq!(user, before);
    assert_eq!(user.failed_logins(), 5);
}

#[test]
fn a_locked_account_is_checked_against_no_hash() {
    let mut user = registered();
    let last = fail_times(&mut user, 5, t0());
    let hasher = FakeHasher::default();
    let check = user.check_credentials(&password(RIGHT), &hasher, last);
    assert_eq!(hasher.verifications(), 1);
    assert_eq!(
        hasher
            .last_had_hash
            .load(std::sync::atomic::Ordering::SeqCst),
        0
    );
    assert!(!check.succeeded());
}

#[test]
fn sixth_consecutive_failure_after_lock_doubles_the_delay() {
    let mut user = registered();
    let fifth = fail_times(&mut user, 5, t0());
    let sixth = fifth + minutes(1);
    let (outcome, events) = login_events(&mut user, WRONG, sixth);
    assert_eq!(outcome, LoginOutcome::Refused);
    assert_eq!(user.failed_logins(), 6);
    assert_eq!(user.locked_until(), Some(sixth + minutes(2)));
    assert!(events.iter().any(
        |e| matches!(e, UserEvent::AccountLocked { until, .. } if *until == sixth + minutes(2))
    ));
}

#[test]
fn each_further_failure_doubles_the_delay_up_to_24_hours() {
    let mut user = registered();
    let mut at = fail_times(&mut user, 5, t0());
    let mut expected = minutes(1);
    for _ in 0..15 {
        assert_eq!(user.locked_until(), Some(at + expected));
        at = user.locked_until().unwrap();
        login(&mut user, WRONG, at);
        expected = (expected * 2).min(Duration::hours(24));
    }
    assert_eq!(user.locked_until(), Some(at + Duration::hours(24)));
}

#[test]
fn lock_delay_is_1_minute_at_5_failures_doubling_and_capped_at_24_hours() {
    assert_eq!(lock_delay(0), None);
    assert_eq!(lock_delay(4), None);
    assert_eq!(lock_delay(5), Some(minutes(1)));
    assert_eq!(lock_delay(6), Some(minutes(2)));
    assert_eq!(lock_delay(7), Some(minutes(4)));
    assert_eq!(lock_delay(15), Some(minutes(1024)));
    assert_eq!(lock_delay(16), Some(LOCK_MAX_DELAY));
    assert_eq!(lock_delay(u32::MAX), Some(LOCK_MAX_DELAY));
}

#[test]
fn success_resets_the_failure_counter() {
    let mut user = registered();
    let last = fail_times(&mut user, 3, t0());
    assert_eq!(login(&mut user, RIGHT, last), LoginOutcome::Accepted);
    assert_eq!(user.failed_logins(), 0);
    // Four more failures do not lock: the count started again.
    fail_times(&mut user, 4, last);
    assert_eq!(user.locked_until(), None);
}

#[test]
fn success_resets_the_lock_delay() {
    let mut user = registered();
    let last = fail_times(&mut user, 7, t0());
    let after_lock = user.locked_until().unwrap();
    assert!(after_lock - last == minutes(4));
    assert_eq!(login(&mut user, RIGHT, after_lock), LoginOutcome::Accepted);
    assert_eq!(user.locked_until(), None);
    let fifth = fail_times(&mut user, 5, after_lock);
    assert_eq!(user.locked_until(), Some(fifth + minutes(1)));
}

#[test]
fn wrong_password_locked_account_and_suspension_look_the_same() {
    let mut wrong = registered();
    let mut locked = registered();
    let last = fail_times(&mut locked, 5, t0());
    let mut suspended = registered();
    suspended.suspend(reason("spam"), t0()).unwrap();
    let now = last + Duration::seconds(1);
    let outcomes = [
        login(&mut wrong, WRONG, now),
        login(&mut locked, RIGHT, now),
        login(&mut suspended, RIGHT, now),
    ];
    assert_eq!(outcomes, [LoginOutcome::Refused; 3]);
}

#[test]
fn check_credentials_runs_the_hasher_exactly_once_whatever_the_state() {
    let now = t0();
    let active = registered();
    let mut locked = registered();
    let last = fail_times(&mut locked, 5, now);
    let mut suspended = registered();
    suspended.suspend(reason("spam"), now).unwrap();
    let mut erased = registered();
    erased.erase(now).unwrap();
    for (user, at) in [
        (&active, now),
        (&locked, last),
        (&suspended, now),
        (&erased, now),
    ] {
        let hasher = FakeHasher::default();
        let _check = user.check_credentials(&password(RIGHT), &hasher, at);
        assert_eq!(hasher.verifications(), 1);
    }
}

#[test]
fn check_credentials_does_not_change_the_user() {
    let user = registered();
    let before = user.clone();
    let _ = user.check_credentials(&password(WRONG), &FakeHasher::default(), t0());
    assert_eq!(user, before);
}

#[test]
fn a_check_against_a_replaced_hash_is_refused() {
    let mut user = registered();
    let stale = user.check_credentials(&password(RIGHT), &FakeHasher::default(), t0());
    assert!(stale.succeeded());
    user.start_password_reset(token(2), t0()).unwrap();
    user.complete_password_reset(&token(2), hash_of("another password!"), t0())
        .unwrap();
    // The password was right for the hash it was checked against, but that hash is gone.
    let (outcome, _) = user.record_login(stale, t0()).unwrap();
    assert_eq!(outcome, LoginOutcome::Refused);
    assert_eq!(user.failed_logins(), 1);
}

#[test]
fn a_check_of_another_user_proves_nothing() {
    let mut ada = registered();
    let grace = User::register(
        uid(2),
        email("grace@example.com"),
        name("Grace"),
        hash_of(RIGHT),
        t0(),
    )
    .0;
    let check = grace.check_credentials(&password(RIGHT), &FakeHasher::default(), t0());
    assert!(check.succeeded());
    assert_eq!(
        ada.record_login(check, t0()).unwrap().0,
        LoginOutcome::Refused
    );
}

#[test]
fn suspended_user_cannot_log_in_and_attempts_are_not_counted() {
    let mut user = registered();
    user.suspend(reason("spam"), t0()).unwrap();
    let before = user.clone();
    assert_eq!(login(&mut user, RIGHT, t0()), LoginOutcome::Refused);
    assert_eq!(login(&mut user, WRONG, t0()), LoginOutcome::Refused);
    assert_eq!(user, before);
}

#[test]
fn erased_user_login_is_refused_with_user_erased() {
    let mut user = registered();
    user.erase(t0()).unwrap();
    let check = user.check_credentials(&password(RIGHT), &FakeHasher::default(), t0());
    assert_eq!(user.record_login(check, t0()), Err(UserError::Erased));
}

// ----- password change -----

#[test]
fn password_change_needs_the_old_password() {
    let mut user = registered();
    let wrong = user.check_credentials(&password(WRONG), &FakeHasher::default(), t0());
    assert_eq!(
        user.change_password(wrong, hash_of("new password here"), t0()),
        Err(UserError::WrongPassword)
    );
    assert_eq!(user.password_hash(), Some(&hash_of(RIGHT)));

    let right = user.check_credentials(&password(RIGHT), &FakeHasher::default(), t0());
    let events = user
        .change_password(right, hash_of("new password here"), t0())
        .unwrap();
    assert_eq!(user.password_hash(), Some(&hash_of("new password here")));
    assert!(matches!(events[0], UserEvent::PasswordChanged { .. }));
    assert_eq!(
        login(&mut user, "new password here", t0()),
        LoginOutcome::Accepted
    );
    assert_eq!(login(&mut user, RIGHT, t0()), LoginOutcome::Refused);
}

#[test]
fn password_change_closes_all_sessions() {
    let mut user = with_sessions(3);
    let check = user.check_credentials(&password(RIGHT), &FakeHasher::default(), t0());
    let events = user
        .change_password(check, hash_of("new password here"), t0() + minutes(10))
        .unwrap();
    assert!(user.open_sessions().is_empty());
    assert_eq!(
        closed_ids(&events, SessionCloseReason::PasswordChanged),
        vec![sid(1), sid(2), sid(3)]
    );
}

#[test]
fn password_change_with_a_check_made_during_a_lock_is_refused() {
    let mut user = registered();
    let last = fail_times(&mut user, 5, t0());
    let check = user.check_credentials(&password(RIGHT), &FakeHasher::default(), last);
    assert_eq!(
        user.change_password(check, hash_of("new password here"), last),
        Err(UserError::WrongPassword)
    );
}

// ----- sessions -----

#[test]
fn a_session_lives_30_days_from_opening() {
    let mut user = registered();
    let events = user.open_session(sid(1), t0()).unwrap();
    let session = &user.open_sessions()[0];
    assert_eq!(session.id(), sid(1));
    assert_eq!(session.created_at(), t0());
    assert_eq!(session.last_refreshed_at(), t0());
    assert_eq!(session.expires_at(), t0() + Duration::days(30));
    assert_eq!(
        events,
        vec![UserEvent::SessionOpened {
            user_id: uid(1),
            session_id: sid(1),
            expires_at: t0() + Duration::days(30),
            occurred_at: t0(),
        }]
    );
}

#[test]
fn twenty_sessions_can_be_open() {
    let user = with_sessions(20);
    assert_eq!(user.open_sessions().len(), MAX_OPEN_SESSIONS);
}

#[test]
fn opening_a_21st_session_closes_the_oldest() {
    let mut user = with_sessions(20);
    let now = t0() + minutes(100);
    let events = user.open_session(sid(21), now).unwrap();
    assert_eq!(user.open_sessions().len(), 20);
    assert!(user.open_sessions().iter().all(|s| s.id != sid(1)));
    assert!(user.open_sessions().iter().any(|s| s.id == sid(21)));
    assert_eq!(
        closed_ids(&events, SessionCloseReason::Evicted),
        vec![sid(1)]
    );
    // The eviction comes before the opening.
    assert!(matches!(
        events[..],
        [
            UserEvent::SessionClosed { .. },
            UserEvent::SessionOpened { .. }
        ]
    ));
}

#[test]
fn the_oldest_session_is_the_first_opened_even_if_refreshed() {
    let mut user = with_sessions(20);
    user.refresh_session(sid(1), t0() + minutes(50)).unwrap();
    let events = user.open_session(sid(21), t0() + minutes(60)).unwrap();
    assert_eq!(
        closed_ids(&events, SessionCloseReason::Evicted),
        vec![sid(1)]
    );
}

#[test]
fn opening_a_session_with_an_open_id_is_refused() {
    let mut user = with_sessions(1);
    assert_eq!(
        user.open_session(sid(1), t0() + minutes(5)),
        Err(UserError::SessionAlreadyExists)
    );
}

#[test]
fn refresh_slides_the_expiry() {
    let mut user = with_sessions(1);
    let later = t0() + Duration::days(29);
    let events = user.refresh_session(sid(1), later).unwrap();
    let session = &user.open_sessions()[0];
    assert_eq!(session.last_refreshed_at(), later);
    assert_eq!(session.expires_at(), later + Duration::days(30));
    assert_eq!(session.created_at(), t0() + minutes(1));
    assert!(
        matches!(events[..], [UserEvent::SessionRefreshed { expires_at, .. }] if expires_at == later + Duration::days(30))
    );
}

#[test]
fn refresh_needs_an_unexpired_session() {
    let mut user = with_sessions(1);
    let expiry = user.open_sessions()[0].expires_at();
    assert_eq!(
        user.refresh_session(sid(1), expiry),
        Err(UserError::SessionExpired)
    );
    assert!(
        user.refresh_session(sid(1), expiry - Duration::seconds(1))
            .is_ok()
    );
}

#[test]
fn refresh_of_an_unknown_or_closed_session_is_not_found() {
    let mut user = with_sessions(1);
    assert_eq!(
        user.refresh_session(sid(99), t0()),
        Err(UserError::SessionNotFound)
    );
    user.close_session(sid(1), t0() + minutes(2)).unwrap();
    assert_eq!(
        user.refresh_session(sid(1), t0() + minutes(3)),
        Err(UserError::SessionNotFound)
    );
}

#[test]
fn refresh_needs_an_active_user() {
    let mut user = with_sessions(1);
    user.suspend(reason("spam"), t0() + minutes(2)).unwrap();
    assert_eq!(
        user.refresh_session(sid(1), t0() + minutes(3)),
        Err(UserError::NotActive)
    );
}

#[test]
fn suspended_user_cannot_open_a_session() {
    let mut user = registered();
    user.suspend(reason("spam"), t0()).unwrap();
    assert_eq!(user.open_session(sid(1), t0()), Err(UserError::NotActive));
}

#[test]
fn logout_closes_one_session() {
    let mut user = with_sessions(2);
    let events = user.close_session(sid(1), t0() + minutes(5)).unwrap();
    assert_eq!(user.open_sessions().len(), 1);
    assert_eq!(user.open_sessions()[0].id, sid(2));
    assert_eq!(
        closed_ids(&events, SessionCloseReason::LoggedOut),
        vec![sid(1)]
    );
}

#[test]
fn closing_a_closed_session_is_not_found() {
    let mut user = with_sessions(1);
    user.close_session(sid(1), t0() + minutes(5)).unwrap();
    assert_eq!(
        user.close_session(sid(1), t0() + minutes(6)),
        Err(UserError::SessionNotFound)
    );
}

#[test]
fn closing_an_expired_session_says_it_expired() {
    let mut user = with_sessions(1);
    assert_eq!(
        user.close_session(sid(1), t0() + Duration::days(31)),
        Err(UserError::SessionExpired)
    );
}

#[test]
fn expired_sessions_are_pruned_on_every_command() {
    let mut user = with_sessions(3);
    user.refresh_session(sid(3), t0() + Duration::days(20))
        .unwrap();
    user.change_display_name(name("Countess"), t0() + Duration::days(31))
        .unwrap();
    let ids: Vec<_> = user.open_sessions().iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![sid(3)]);
}

#[test]
fn expired_sessions_do_not_count_towards_the_limit() {
    let mut user = with_sessions(20);
    let later = t0() + Duration::days(31);
    let events = user.open_session(sid(21), later).unwrap();
    assert_eq!(user.open_sessions().len(), 1);
    assert!(closed_ids(&events, SessionCloseReason::Evicted).is_empty());
}

#[test]
fn next_expiry_and_prune_expired_drop_what_ran_out() {
    let mut user = with_sessions(2);
    user.start_password_reset(token(1), t0()).unwrap();
    assert_eq!(user.next_expiry(), Some(t0() + Duration::hours(1)));
    let updated = user.updated_at();
    assert!(user.prune_expired(t0() + Duration::days(30) + minutes(1)));
    assert_eq!(user.open_sessions().len(), 1);
    assert_eq!(user.password_reset_expires_at(), None);
    assert_eq!(user.updated_at(), updated);
    assert!(!user.prune_expired(t0() + Duration::days(30) + minutes(1)));
}

// ----- email verification -----

#[test]
fn verification_token_works_for_24_hours() {
    let mut user = registered();
    let events = user.start_email_verification(token(1), t0()).unwrap();
    assert_eq!(
        user.email_verification_expires_at(),
        Some(t0() + Duration::hours(24))
    );
    assert!(
        matches!(events[..], [UserEvent::EmailVerificationStarted { expires_at, .. }] if expires_at == t0() + Duration::hours(24))
    );
    let events = user
        .confirm_email_verification(&token(1), t0() + Duration::hours(24) - Duration::seconds(1))
        .unwrap();
    assert!(user.email_verified());
    assert!(matches!(events[..], [UserEvent::EmailVerified { .. }]));
}

#[test]
fn expired_verification_token_is_refused() {
    let mut user = registered();
    user.start_email_verification(token(1), t0()).unwrap();
    assert_eq!(
        user.confirm_email_verification(&token(1), t0() + Duration::hours(24)),
        Err(UserError::TokenInvalid)
    );
    assert!(!user.email_verified());
}

#[test]
fn verification_needs_the_matching_token() {
    let mut user = registered();
    user.start_email_verification(token(1), t0()).unwrap();
    assert_eq!(
        user.confirm_email_verification(&token(2), t0()),
        Err(UserError::TokenInvalid)
    );
    // A wrong guess does not use the real token up.
    assert!(user.confirm_email_verification(&token(1), t0()).is_ok());
}

#[test]
fn verification_without_a_pending_token_is_refused() {
    let mut user = registered();
    assert_eq!(
        user.confirm_email_verification(&token(1), t0()),
        Err(UserError::TokenInvalid)
    );
}

#[test]
fn verification_token_is_single_use() {
    let mut user = registered();
    user.start_email_verification(token(1), t0()).unwrap();
    user.confirm_email_verification(&token(1), t0()).unwrap();
    assert_eq!(user.email_verification_expires_at(), None);
    // Unverify by changing the email and back, then replay the old token.
    user.change_email(email("other@example.com"), t0()).unwrap();
    assert_eq!(
        user.confirm_email_verification(&token(1), t0()),
        Err(UserError::TokenInvalid)
    );
}

#[test]
fn a_new_verification_replaces_the_pending_token() {
    let mut user = registered();
    user.start_email_verification(token(1), t0()).unwrap();
    user.start_email_verification(token(2), t0() + minutes(1))
        .unwrap();
    assert_eq!(
        user.confirm_email_verification(&token(1), t0() + minutes(2)),
        Err(UserError::TokenInvalid)
    );
    assert!(
        user.confirm_email_verification(&token(2), t0() + minutes(2))
            .is_ok()
    );
}

#[test]
fn a_verified_email_cannot_be_verified_again() {
    let mut user = registered();
    user.start_email_verification(token(1), t0()).unwrap();
    user.confirm_email_verification(&token(1), t0()).unwrap();
    assert_eq!(
        user.start_email_verification(token(2), t0()),
        Err(UserError::EmailAlreadyVerified)
    );
    assert_eq!(
        user.confirm_email_verification(&token(1), t0()),
        Err(UserError::EmailAlreadyVerified)
    );
}

// ----- password reset -----

#[test]
fn reset_token_works_for_1_hour() {
    let mut user = registered();
    let events = user.start_password_reset(token(1), t0()).unwrap();
    assert_eq!(
        user.password_reset_expires_at(),
        Some(t0() + Duration::hours(1))
    );
    assert!(
        matches!(events[..], [UserEvent::PasswordResetStarted { expires_at, .. }] if expires_at == t0() + Duration::hours(1))
    );
    user.complete_password_reset(
        &token(1),
        hash_of("a brand new password"),
        t0() + minutes(59),
    )
    .unwrap();
    assert_eq!(
        login(&mut user, "a brand new password", t0() + minutes(60)),
        LoginOutcome::Accepted
    );
}

#[test]
fn expired_reset_token_is_refused() {
    let mut user = registered();
    user.start_password_reset(token(1), t0()).unwrap();
    assert_eq!(
        user.complete_password_reset(
            &token(1),
            hash_of("a brand new password"),
            t0() + minutes(60)
        ),
        Err(UserError::TokenInvalid)
    );
    assert_eq!(user.password_hash(), Some(&hash_of(RIGHT)));
}

#[test]
fn wrong_reset_token_is_refused() {
    let mut user = registered();
    user.start_password_reset(token(1), t0()).unwrap();
    assert_eq!(
        user.complete_password_reset(&token(9), hash_of("a brand new password"), t0()),
        Err(UserError::TokenInvalid)
    );
}

#[test]
fn reset_token_is_single_use() {
    let mut user = registered();
    user.start_password_reset(token(1), t0()).unwrap();
    user.complete_password_reset(&token(1), hash_of("a brand new password"), t0())
        .unwrap();
    assert_eq!(
        user.complete_password_reset(&token(1), hash_of("an attacker's password"), t0()),
        Err(UserError::TokenInvalid)
    );
    assert_eq!(user.password_hash(), Some(&hash_of("a brand new password")));
}

#[test]
fn a_new_reset_replaces_the_pending_token() {
    let mut user = registered();
    user.start_password_reset(token(1), t0()).unwrap();
    user.start_password_reset(token(2), t0()).unwrap();
    assert_eq!(
        user.complete_password_reset(&token(1), hash_of("a brand new password"), t0()),
        Err(UserError::TokenInvalid)
    );
    assert!(
        user.complete_password_reset(&token(2), hash_of("a brand new password"), t0())
            .is_ok()
    );
}

#[test]
fn password_reset_completion_closes_all_sessions() {
    let mut user = with_sessions(2);
    user.start_password_reset(token(1), t0()).unwrap();
    let events = user
        .complete_password_reset(
            &token(1),
            hash_of("a brand new password"),
            t0() + minutes(5),
        )
        .unwrap();
    assert!(user.open_sessions().is_empty());
    assert!(matches!(
        events[0],
        UserEvent::PasswordResetCompleted { .. }
    ));
    assert_eq!(
        closed_ids(&events, SessionCloseReason::PasswordChanged),
        vec![sid(1), sid(2)]
    );
}

#[test]
fn password_reset_completion_lifts_the_lock() {
    let mut user = registered();
    let last = fail_times(&mut user, 6, t0());
    user.start_password_reset(token(1), last).unwrap();
    user.complete_password_reset(&token(1), hash_of("a brand new password"), last)
        .unwrap();
    assert_eq!(user.failed_logins(), 0);
    assert_eq!(user.locked_until(), None);
    assert_eq!(
        login(&mut user, "a brand new password", last),
        LoginOutcome::Accepted
    );
}

// ----- suspension -----

#[test]
fn suspension_closes_all_sessions() {
    let mut user = with_sessions(3);
    let events = user.suspend(reason("spam"), t0() + minutes(10)).unwrap();
    assert!(user.open_sessions().is_empty());
    assert_eq!(
        user.status(),
        &UserStatus::Suspended {
            reason: reason("spam")
        }
    );
    assert!(matches!(&events[0], UserEvent::Suspended { reason: r, .. } if r.as_str() == "spam"));
    assert_eq!(
        closed_ids(&events, SessionCloseReason::Suspended),
        vec![sid(1), sid(2), sid(3)]
    );
}

#[test]
fn suspension_cancels_pending_tokens() {
    let mut user = registered();
    user.start_password_reset(token(1), t0()).unwrap();
    user.start_email_verification(token(2), t0()).unwrap();
    user.suspend(reason("spam"), t0()).unwrap();
    user.reactivate(t0()).unwrap();
    assert_eq!(
        user.complete_password_reset(&token(1), hash_of("a brand new password"), t0()),
        Err(UserError::TokenInvalid)
    );
    assert_eq!(
        user.confirm_email_verification(&token(2), t0()),
        Err(UserError::TokenInvalid)
    );
}

#[test]
fn suspending_a_suspended_user_is_refused() {
    let mut user = registered();
    user.suspend(reason("spam"), t0()).unwrap();
    assert_eq!(
        user.suspend(reason("more spam"), t0()),
        Err(UserError::AlreadySuspended)
    );
}

#[test]
fn reactivation_makes_a_suspended_user_active_again() {
    let mut user = registered();
    user.suspend(reason("spam"), t0()).unwrap();
    let events = user.reactivate(t0() + minutes(1)).unwrap();
    assert_eq!(user.status(), &UserStatus::Active);
    assert!(matches!(events[..], [UserEvent::Reactivated { .. }]));
    assert_eq!(
        login(&mut user, RIGHT, t0() + minutes(2)),
        LoginOutcome::Accepted
    );
}

#[test]
fn reactivating_an_active_user_is_refused() {
    let mut user = registered();
    assert_eq!(user.reactivate(t0()), Err(UserError::NotSuspended));
}

#[test]
fn suspended_user_may_be_renamed_but_not_change_email_password_or_tokens() {
    let mut user = registered();
    user.suspend(reason("spam"), t0()).unwrap();
    assert!(user.change_display_name(name("Countess"), t0()).is_ok());
    assert_eq!(
        user.change_email(email("new@example.com"), t0()),
        Err(UserError::NotActive)
    );
    let check = user.check_credentials(&password(RIGHT), &FakeHasher::default(), t0());
    assert_eq!(
        user.change_password(check, hash_of("new password here"), t0()),
        Err(UserError::NotActive)
    );
    assert_eq!(
        user.start_email_verification(token(1), t0()),
        Err(UserError::NotActive)
    );
    assert_eq!(
        user.confirm_email_verification(&token(1), t0()),
        Err(UserError::NotActive)
    );
    assert_eq!(
        user.start_password_reset(token(1), t0()),
        Err(UserError::NotActive)
    );
    assert_eq!(
        user.complete_password_reset(&token(1), hash_of("new password here"), t0()),
        Err(UserError::NotActive)
    );
}

#[test]
fn suspended_user_can_be_erased() {
    let mut user = registered();
    user.suspend(reason("spam"), t0()).unwrap();
    assert!(user.erase(t0()).is_ok());
    assert_eq!(user.status(), &UserStatus::Erased);
}

// ----- erasure -----

#[test]
fn erasure_frees_the_email_and_is_final() {
    let mut user = with_sessions(2);
    let now = t0() + minutes(10);
    user.erase(now).unwrap();
    assert_eq!(user.email(), None);
    let frozen = user.clone();

    let check = || user_check(&frozen);
    let results = [
        user.change_display_name(name("Back"), now),
        user.change_email(email("ada@example.com"), now),
        user.change_password(check(), hash_of("new password here"), now),
        user.open_session(sid(5), now),
        user.refresh_session(sid(1), now),
        user.close_session(sid(1), now),
        user.start_email_verification(token(1), now),
        user.confirm_email_verification(&token(1), now),
        user.start_password_reset(token(1), now),
        user.complete_password_reset(&token(1), hash_of("new password here"), now),
        user.suspend(reason("spam"), now),
        user.reactivate(now),
        user.erase(now),
        user.record_login(check(), now).map(|(_, events)| events),
    ];
    for result in results {
        assert_eq!(result, Err(UserError::Erased));
    }
    assert_eq!(user, frozen);
}

fn user_check(user: &User) -> crate::CredentialCheck {
    user.check_credentials(&password(RIGHT), &FakeHasher::default(), t0())
}

#[test]
fn erasure_replaces_personal_data_and_keeps_the_id() {
    let mut user = registered();
    user.start_email_verification(token(1), t0()).unwrap();
    user.confirm_email_verification(&token(1), t0()).unwrap();
    user.start_password_reset(token(2), t0()).unwrap();
    fail_times(&mut user, 2, t0());
    let events = user.erase(t0() + minutes(1)).unwrap();
    assert_eq!(user.id(), uid(1));
    assert_eq!(user.email(), None);
    assert_eq!(user.password_hash(), None);
    assert_ne!(user.display_name().as_str(), "Ada Lovelace");
    assert!(!user.email_verified());
    assert_eq!(user.password_reset_expires_at(), None);
    assert_eq!(user.failed_logins(), 0);
    assert_eq!(
        events,
        vec![UserEvent::Erased {
            user_id: uid(1),
            occurred_at: t0() + minutes(1)
        }]
    );
    let json = serde_json::to_string(&user).unwrap();
    assert!(!json.contains("ada@example.com"));
    assert!(!json.contains("Ada Lovelace"));
    assert!(!json.contains("fake$"));
}

#[test]
fn erasure_closes_all_sessions() {
    let mut user = with_sessions(2);
    let events = user.erase(t0() + minutes(10)).unwrap();
    assert!(user.open_sessions().is_empty());
    assert_eq!(
        closed_ids(&events, SessionCloseReason::Erased),
        vec![sid(1), sid(2)]
    );
}

// ----- events and bookkeeping -----

#[test]
fn events_never_carry_secrets() {
    let secret_token = TokenHash::from_bytes([0x5a; 32]);
    let mut user = with_sessions(2);
    let mut events = Vec::new();
    let mut t = t0() + minutes(30);
    let mut step = || {
        t += minutes(1);
        t
    };
    events.extend(
        user.start_email_verification(secret_token.clone(), step())
            .unwrap(),
    );
    events.extend(
        user.confirm_email_verification(&secret_token, step())
            .unwrap(),
    );
    events.extend(login_events(&mut user, WRONG, step()).1);
    events.extend(login_events(&mut user, RIGHT, step()).1);
    let check = user.check_credentials(&password(RIGHT), &FakeHasher::default(), t0());
    events.extend(
        user.change_password(check, hash_of("second password!"), step())
            .unwrap(),
    );
    events.extend(
        user.start_password_reset(secret_token.clone(), step())
            .unwrap(),
    );
    events.extend(
        user.complete_password_reset(&secret_token, hash_of("third password!!"), step())
            .unwrap(),
    );
    events.extend(user.open_session(sid(7), step()).unwrap());
    events.extend(user.suspend(reason("spam"), step()).unwrap());
    events.extend(user.erase(step()).unwrap());

    let json = serde_json::to_string(&events).unwrap();
    for secret in [
        secret_token.to_hex(),
        "5a5a5a5a".to_owned(),
        "fake$".to_owned(),
        RIGHT.to_owned(),
        "second password!".to_owned(),
        "third password!!".to_owned(),
    ] {
        assert!(!json.contains(&secret), "{secret} leaked into {json}");
    }
    // Token bytes as a JSON number array would look like this.
    assert!(!json.contains("90,90,90"));
}

#[test]
fn every_event_names_the_user_the_time_and_a_dotted_type() {
    let mut user = with_sessions(1);
    let now = t0() + minutes(5);
    let mut events = user.change_display_name(name("Countess"), now).unwrap();
    events.extend(user.suspend(reason("spam"), now).unwrap());
    for event in &events {
        assert_eq!(event.user_id(), uid(1));
        assert_eq!(event.occurred_at(), now);
        assert!(event.event_type().starts_with("identity.user."));
        let json = serde_json::to_value(event).unwrap();
        assert_eq!(
            format!("identity.user.{}", json["type"].as_str().unwrap()),
            event.event_type()
        );
    }
}

#[test]
fn accepted_commands_set_updated_at() {
    let mut user = registered();
    let later = t0() + minutes(42);
    user.open_session(sid(1), later).unwrap();
    assert_eq!(user.updated_at(), later);
    assert_eq!(user.created_at(), t0());
}

#[test]
fn refused_commands_leave_the_user_unchanged() {
    let mut user = with_sessions(1);
    let before = user.clone();
    let later = t0() + Duration::days(40);
    assert!(user.change_email(email("ada@example.com"), later).is_err());
    assert!(user.refresh_session(sid(1), later).is_err());
    assert!(user.reactivate(later).is_err());
    assert!(user.confirm_email_verification(&token(1), later).is_err());
    assert_eq!(user, before);
}

#[test]
fn user_round_trips_through_json() {
    let mut user = with_sessions(3);
    user.start_email_verification(token(1), t0()).unwrap();
    user.start_password_reset(token(2), t0()).unwrap();
    fail_times(&mut user, 5, t0() + minutes(10));
    let json = serde_json::to_string(&user).unwrap();
    let back: User = serde_json::from_str(&json).unwrap();
    assert_eq!(back, user);

    user.suspend(reason("spam"), t0() + minutes(30)).unwrap();
    let back: User = serde_json::from_str(&serde_json::to_string(&user).unwrap()).unwrap();
    assert_eq!(back, user);

    user.erase(t0() + minutes(31)).unwrap();
    let back: User = serde_json::from_str(&serde_json::to_string(&user).unwrap()).unwrap();
    assert_eq!(back, user);
}

// ----- sign-up -----

fn signed_up(window: Duration) -> User {
    let (user, _) = User::register_for_sign_up(
        uid(9),
        email("ada@example.com"),
        name("Ada"),
        hash_of(RIGHT),
        crate::PendingSignUp::new(Uuid::from_u128(77), window, t0()),
        t0(),
    );
    user
}

#[test]
fn a_sign_up_is_due_when_its_window_has_passed_and_not_before() {
    let mut user = signed_up(minutes(1));
    assert_eq!(user.next_due(), Some(t0() + minutes(1)));
    assert!(
        user.announce_unfinished_sign_up(t0() + Duration::seconds(59))
            .is_empty()
    );
    let events = user.announce_unfinished_sign_up(t0() + minutes(1));
    assert_eq!(
        events,
        vec![UserEvent::SignUpUnfinished {
            user_id: uid(9),
            sign_up_id: Uuid::from_u128(77),
            announcement: 1,
            occurred_at: t0() + minutes(1),
        }]
    );
    assert_eq!(events[0].event_type(), "identity.user.sign_up_unfinished");
    assert!(user.pending_sign_up().unwrap().is_unfinished());
    // The user is not otherwise changed: still active, may log in.
    assert_eq!(user.status(), &UserStatus::Active);
}

#[test]
fn an_unfinished_sign_up_is_announced_again_later_and_later_up_to_hourly() {
    let mut user = signed_up(minutes(1));
    let mut at = t0() + minutes(1);
    let mut pauses = Vec::new();
    for announcement in 1..=9u32 {
        let events = user.announce_unfinished_sign_up(at);
        assert!(
            matches!(events.as_slice(), [UserEvent::SignUpUnfinished { announcement: n, .. }] if *n == announcement)
        );
        let next = user.next_due().unwrap();
        pauses.push((next - at).num_minutes());
        // Announcing again before the next due time does nothing.
        assert!(
            user.announce_unfinished_sign_up(next - Duration::seconds(1))
                .is_empty()
        );
        at = next;
    }
    assert_eq!(pauses, vec![2, 4, 8, 16, 32, 60, 60, 60, 60]);
}

#[test]
fn a_completed_sign_up_is_never_announced() {
    let mut user = signed_up(minutes(1));
    assert!(user.complete_sign_up(t0()).unwrap().is_empty());
    assert_eq!(user.pending_sign_up(), None);
    assert_eq!(user.next_due(), None);
    assert!(
        user.announce_unfinished_sign_up(t0() + minutes(600))
            .is_empty()
    );
    // Completing again changes nothing.
    let before = user.clone();
    assert!(user.complete_sign_up(t0() + minutes(2)).unwrap().is_empty());
    assert_eq!(user, before);
}

#[test]
fn a_sign_up_announced_unfinished_may_still_complete() {
    let mut user = signed_up(minutes(1));
    user.announce_unfinished_sign_up(t0() + minutes(1));
    user.complete_sign_up(t0() + minutes(2)).unwrap();
    assert_eq!(user.next_due(), None);
}

#[test]
fn erasing_the_user_ends_the_sign_up_and_completing_it_is_then_refused() {
    let mut user = signed_up(minutes(1));
    user.erase(t0()).unwrap();
    assert_eq!(user.next_due(), None);
    assert!(
        user.announce_unfinished_sign_up(t0() + minutes(5))
            .is_empty()
    );
    assert_eq!(user.complete_sign_up(t0()), Err(UserError::Erased));
}

#[test]
fn a_user_registered_without_a_sign_up_has_nothing_due() {
    assert_eq!(registered().next_due(), None);
    assert_eq!(registered().pending_sign_up(), None);
}
