//! Sessions: the logins a user currently has open.

use serde::{Deserialize, Serialize};

use kernel_domain::Timestamp;

use crate::{SESSION_TTL, SessionId};

/// One open login of a user, a child of the [`crate::User`] aggregate.
///
/// A session lives [`SESSION_TTL`] (30 days) from when it was opened or last refreshed.
/// Once expired it is no longer open, and the aggregate drops it.
///
/// Fields are public for reading; only the aggregate makes and changes sessions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// The session's id, made by the adapter.
    pub id: SessionId,
    /// When it was opened.
    pub created_at: Timestamp,
    /// When it stops being open unless refreshed before.
    pub expires_at: Timestamp,
    /// When it was last refreshed (its opening counts as the first refresh).
    pub last_refreshed_at: Timestamp,
}

impl Session {
    pub(crate) fn open(id: SessionId, now: Timestamp) -> Self {
        Session {
            id,
            created_at: now,
            expires_at: now + SESSION_TTL,
            last_refreshed_at: now,
        }
    }

    pub(crate) fn refresh(&mut self, now: Timestamp) {
        self.last_refreshed_at = now;
        self.expires_at = now + SESSION_TTL;
    }

    /// The session's id.
    pub fn id(&self) -> SessionId {
        self.id
    }

    /// When it was opened.
    pub fn created_at(&self) -> Timestamp {
        self.created_at
    }

    /// When it expires.
    pub fn expires_at(&self) -> Timestamp {
        self.expires_at
    }

    /// When it was last refreshed.
    pub fn last_refreshed_at(&self) -> Timestamp {
        self.last_refreshed_at
    }

    /// Whether it is still open at `now` (strictly before its expiry).
    pub fn is_open_at(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }
}
