//! Checking passwords without the domain doing any hashing itself.

use crate::{Password, PasswordHash, UserId};

/// The port to the password hashing algorithm (argon2id in production).
///
/// The domain stays pure: it never hashes, it only asks this port, and keeps the PHC
/// strings it returns.
pub trait PasswordHasher: Send + Sync {
    /// Hashes a new password into a PHC string.
    fn hash(&self, password: &Password) -> PasswordHash;
    /// Whether `password` matches `hash`.
    ///
    /// `None` means "no hash to check against": spend the same time and return false.
    fn verify(&self, password: &Password, hash: Option<&PasswordHash>) -> bool;
}

/// Result of checking a password, made by [`crate::User::check_credentials`]; a proof bound to
/// the user and to the hash it was checked against.
///
/// It can be spent once (it is not `Clone`) by [`crate::User::record_login`] or
/// [`crate::User::change_password`]. A check made against a hash that is no longer the user's
/// current one proves nothing.
#[derive(Debug)]
pub struct CredentialCheck {
    pub(crate) user_id: UserId,
    pub(crate) against: Option<PasswordHash>,
    pub(crate) verified: bool,
}

impl CredentialCheck {
    /// Whether the password matched the hash it was checked against (which may since have
    /// changed; only the aggregate decides whether the check still counts).
    pub fn succeeded(&self) -> bool {
        self.verified
    }

    /// Whether this check proves the password of `user_id` whose current hash is `current`.
    pub(crate) fn proves(&self, user_id: UserId, current: Option<&PasswordHash>) -> bool {
        self.verified
            && self.user_id == user_id
            && matches!((&self.against, current), (Some(a), Some(c)) if a == c)
    }
}

/// What became of a login attempt.
///
/// `Refused` is one answer for a wrong password, a locked account and a suspended user, so
/// callers cannot tell them apart (the application answers an unknown email the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// The password was right and the account may log in; open a session next.
    Accepted,
    /// The login was refused.
    Refused,
}
