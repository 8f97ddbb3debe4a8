//! The Identity bounded context: who a person is to the product, and how they prove it.
//!
//! # The user
//!
//! A [`User`] is one person's account, the aggregate at the centre of Identity. It has:
//!
//! - an **email address** (trimmed, lower-cased, valid, at most 254 characters, and unique
//!   across users: the store enforces uniqueness), which may or may not be **verified**;
//! - a **display name** of 1 to 100 characters without control characters;
//! - a **password**, 12 to 128 characters, which the domain never sees stored: only the
//!   argon2id PHC string made by a [`PasswordHasher`] (a port, so the domain stays pure);
//! - a **status**: active, suspended (with a reason an operator gave) or erased.
//!
//! # Logging in
//!
//! A login is two steps: [`User::check_credentials`] asks the hasher exactly once (against a
//! dummy when there is nothing to check, so timing tells nothing), and
//! [`User::record_login`] books the attempt. Wrong passwords, locked accounts and suspended
//! users all get the same answer, [`LoginOutcome::Refused`]; the application answers an
//! unknown email the same way ([`UserError::InvalidCredentials`]).
//!
//! **Lockout.** The 5th consecutive wrong password locks the account for 1 minute. Each
//! further wrong password (after the lock ran out) locks again for twice the previous delay:
//! 2, 4, 8 minutes ..., at most 24 hours. Attempts while locked are refused without looking
//! at the password and are not counted. A successful login resets the counter and the delay.
//!
//! # Sessions
//!
//! Each successful login opens a [`Session`], which lives 30 days from when it was opened or
//! last refreshed. A user has at most 20 open sessions: opening a 21st closes the oldest.
//! Logging out closes one session; suspension, erasure and a password change or reset close
//! them all. Expired sessions are simply gone: the aggregate keeps only open ones.
//!
//! # Tokens
//!
//! Email verification (valid 24 hours) and password reset (valid 1 hour) use single-use
//! tokens. The application makes the random token and mails it; the user keeps only its
//! SHA-256 [`TokenHash`]. Starting again replaces the pending token; confirming needs the
//! matching, unexpired token and uses it up. Changing the email address makes it unverified
//! again and cancels pending verification and reset tokens.
//!
//! # Suspension and erasure
//!
//! A suspended user can still be read, renamed, reactivated, erased and have a session
//! closed, but cannot log in, open or refresh sessions, change email or password, or use
//! tokens (all refused with `USER_NOT_ACTIVE`). Erasure is final: personal data is replaced
//! (the email is freed, the name becomes "Erased user", the password hash is dropped), the id
//! stays, and every later command is refused with `USER_ERASED`.
//!
//! # Sign-up
//!
//! A user registered by a sign-up ([`User::register_for_sign_up`]) keeps the sign-up's id
//! and window ([`PendingSignUp`]) until the sign-up completes ([`User::complete_sign_up`]).
//! Once the window has passed, the store's sweeper announces it unfinished
//! ([`User::announce_unfinished_sign_up`], `SignUpUnfinished`), again after twice the
//! window, then twice that, up to once an hour, until the sign-up completes or the user is
//! erased: the sign-up policy undoes it from that event, however the process that ran the
//! sign-up ended.
//!
//! **Architecture invariant:** nothing here performs I/O, reads a clock, draws random
//! numbers, spawns or awaits. Ids, `now`, hashes and tokens are all handed in.

mod credentials;
mod error;
mod events;
mod session;
mod user;
mod values;

#[cfg(test)]
mod tests;

use chrono::Duration;

pub use credentials::{CredentialCheck, LoginOutcome, PasswordHasher};
pub use error::UserError;
pub use events::{SessionCloseReason, UserEvent};
pub use kernel_domain::{TokenHash, TokenHashError};
pub use session::Session;
pub use user::{PendingSignUp, User, UserStatus};
pub use values::{DisplayName, Password, PasswordHash, SuspensionReason, TextError};

kernel_domain::entity_id!(
    /// The id of a [`User`]; it survives erasure.
    UserId
);
kernel_domain::entity_id!(
    /// The id of a [`Session`] of a user.
    SessionId
);

/// The most sessions a user may have open; opening one more closes the oldest.
pub const MAX_OPEN_SESSIONS: usize = 20;
/// Consecutive wrong passwords that lock the account.
pub const MAX_CONSECUTIVE_FAILURES: u32 = 5;
/// How long a session lives after it was opened or last refreshed.
pub const SESSION_TTL: Duration = Duration::days(30);
/// How long an email verification token works.
pub const EMAIL_VERIFICATION_TTL: Duration = Duration::hours(24);
/// How long a password reset token works.
pub const PASSWORD_RESET_TTL: Duration = Duration::hours(1);
/// The lock after the [`MAX_CONSECUTIVE_FAILURES`]th consecutive wrong password.
pub const LOCK_BASE_DELAY: Duration = Duration::minutes(1);
/// The longest a lock lasts, however many failures.
pub const LOCK_MAX_DELAY: Duration = Duration::hours(24);

/// The longest pause between two announcements of an unfinished sign-up.
pub const SIGN_UP_MAX_ANNOUNCE_INTERVAL: Duration = Duration::hours(1);

/// The pause after the `announcement`th announcement of an unfinished sign-up whose window
/// is `window`: the window doubled `announcement` times, at most
/// [`SIGN_UP_MAX_ANNOUNCE_INTERVAL`] (and never less than a second).
pub fn sign_up_announce_interval(window: Duration, announcement: u32) -> Duration {
    let window = window.max(Duration::seconds(1));
    let factor = 1i32 << announcement.min(12);
    window
        .checked_mul(factor)
        .unwrap_or(SIGN_UP_MAX_ANNOUNCE_INTERVAL)
        .min(SIGN_UP_MAX_ANNOUNCE_INTERVAL)
}

/// How long the account is locked after `consecutive_failures` wrong passwords in a row:
/// nothing below 5; 1 minute at 5, doubling with each further failure, at most 24 hours.
pub fn lock_delay(consecutive_failures: u32) -> Option<Duration> {
    let doublings = consecutive_failures.checked_sub(MAX_CONSECUTIVE_FAILURES)?;
    // 2^11 minutes already exceeds the cap, so larger exponents need not be computed.
    let minutes = 1i64 << doublings.min(11);
    Some(Duration::minutes(minutes).min(LOCK_MAX_DELAY))
}
