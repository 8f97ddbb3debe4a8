//! Tests of the Identity rules, named after the rule they check.

mod properties;
mod rules;
mod values;

use std::sync::atomic::{AtomicUsize, Ordering};

use chrono::DateTime;
use kernel_domain::{Email, Timestamp, Uuid};

use crate::{
    DisplayName, LoginOutcome, Password, PasswordHash, PasswordHasher, SessionId, TokenHash, User,
    UserEvent, UserId,
};

/// The right password of the user made by [`registered`].
pub(crate) const RIGHT: &str = "correct horse battery";
/// A wrong one.
pub(crate) const WRONG: &str = "incorrect horse battery";

/// A hasher whose PHC string is `fake$<password>`, counting its calls.
#[derive(Default)]
pub(crate) struct FakeHasher {
    pub(crate) verifications: AtomicUsize,
    pub(crate) last_had_hash: AtomicUsize,
}

impl FakeHasher {
    pub(crate) fn verifications(&self) -> usize {
        self.verifications.load(Ordering::SeqCst)
    }
}

impl PasswordHasher for FakeHasher {
    fn hash(&self, password: &Password) -> PasswordHash {
        PasswordHash::from_phc(format!("fake${}", password.expose()))
    }

    fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> bool {
        self.verifications.fetch_add(1, Ordering::SeqCst);
        self.last_had_hash
            .store(usize::from(hash.is_some()), Ordering::SeqCst);
        match hash {
            Some(hash) => hash.as_phc() == format!("fake${}", password.expose()),
            // A real hasher would spend the same time here.
            None => false,
        }
    }
}

pub(crate) fn t0() -> Timestamp {
    DateTime::from_timestamp(1_700_000_000, 0).unwrap()
}

pub(crate) fn password(raw: &str) -> Password {
    Password::parse(raw).unwrap()
}

pub(crate) fn hash_of(raw: &str) -> PasswordHash {
    FakeHasher::default().hash(&password(raw))
}

pub(crate) fn email(raw: &str) -> Email {
    Email::parse(raw).unwrap()
}

pub(crate) fn name(raw: &str) -> DisplayName {
    DisplayName::parse(raw).unwrap()
}

pub(crate) fn sid(n: u128) -> SessionId {
    SessionId::from_uuid(Uuid::from_u128(n))
}

pub(crate) fn uid(n: u128) -> UserId {
    UserId::from_uuid(Uuid::from_u128(n))
}

pub(crate) fn token(byte: u8) -> TokenHash {
    TokenHash::from_bytes([byte; 32])
}

/// Ada, registered at [`t0`] with password [`RIGHT`].
pub(crate) fn registered() -> User {
    User::register(
        uid(1),
        email("ada@example.com"),
        name("Ada Lovelace"),
        hash_of(RIGHT),
        t0(),
    )
    .0
}

/// Checks `raw` and books the attempt.
pub(crate) fn login(user: &mut User, raw: &str, now: Timestamp) -> LoginOutcome {
    let check = user.check_credentials(&password(raw), &FakeHasher::default(), now);
    user.record_login(check, now).unwrap().0
}

/// Like [`login`] but also returns the events.
pub(crate) fn login_events(
    user: &mut User,
    raw: &str,
    now: Timestamp,
) -> (LoginOutcome, Vec<UserEvent>) {
    let check = user.check_credentials(&password(raw), &FakeHasher::default(), now);
    user.record_login(check, now).unwrap()
}
