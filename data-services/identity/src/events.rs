//! Domain events to the published language: every [`UserEvent`] leaves the service as its
//! message of `saas/identity/v1/events.proto`.
//!
//! The match is exhaustive, so a new domain event does not compile until it is published.
//! Identity events concern no workspace. Nothing secret is copied: user events never hold a
//! password, a password hash or a token hash, and the messages carry personal data (email,
//! display name) only where the proto says a consumer needs it.

use identity_domain::{SessionCloseReason, User, UserEvent};
use platform::{rpc::timestamp, store::IntegrationEvent};
use saas_proto::identity::v1 as pb;

/// The integration event `event` is published as. The user is not needed: every event names
/// its user.
pub fn integration_event(_user: &User, event: &UserEvent) -> IntegrationEvent {
    match event {
        UserEvent::Registered {
            user_id,
            email,
            display_name,
            ..
        } => publish(&pb::UserRegistered {
            user_id: user_id.to_string(),
            email: email.as_str().to_owned(),
            display_name: display_name.as_str().to_owned(),
        }),
        UserEvent::DisplayNameChanged {
            user_id,
            display_name,
            ..
        } => publish(&pb::UserDisplayNameChanged {
            user_id: user_id.to_string(),
            display_name: display_name.as_str().to_owned(),
        }),
        UserEvent::EmailChanged { user_id, email, .. } => publish(&pb::UserEmailChanged {
            user_id: user_id.to_string(),
            email: email.as_str().to_owned(),
        }),
        UserEvent::PasswordChanged { user_id, .. } => publish(&pb::UserPasswordChanged {
            user_id: user_id.to_string(),
        }),
        UserEvent::LoginFailed {
            user_id,
            consecutive_failures,
            ..
        } => publish(&pb::UserLoginFailed {
            user_id: user_id.to_string(),
            consecutive_failures: count(*consecutive_failures),
        }),
        UserEvent::AccountLocked { user_id, until, .. } => publish(&pb::UserAccountLocked {
            user_id: user_id.to_string(),
            lock_expire_time: Some(timestamp(*until)),
        }),
        UserEvent::LoggedIn { user_id, .. } => publish(&pb::UserLoggedIn {
            user_id: user_id.to_string(),
        }),
        UserEvent::SessionOpened {
            user_id,
            session_id,
            expires_at,
            ..
        } => publish(&pb::UserSessionOpened {
            user_id: user_id.to_string(),
            session_id: session_id.to_string(),
            expire_time: Some(timestamp(*expires_at)),
        }),
        UserEvent::SessionRefreshed {
            user_id,
            session_id,
            expires_at,
            ..
        } => publish(&pb::UserSessionRefreshed {
            user_id: user_id.to_string(),
            session_id: session_id.to_string(),
            expire_time: Some(timestamp(*expires_at)),
        }),
        UserEvent::SessionClosed {
            user_id,
            session_id,
            reason,
            ..
        } => publish(&pb::UserSessionClosed {
            user_id: user_id.to_string(),
            session_id: session_id.to_string(),
            reason: close_reason(*reason) as i32,
        }),
        UserEvent::EmailVerificationStarted {
            user_id,
            expires_at,
            ..
        } => publish(&pb::UserEmailVerificationStarted {
            user_id: user_id.to_string(),
            expire_time: Some(timestamp(*expires_at)),
        }),
        UserEvent::EmailVerified { user_id, .. } => publish(&pb::UserEmailVerified {
            user_id: user_id.to_string(),
        }),
        UserEvent::PasswordResetStarted {
            user_id,
            expires_at,
            ..
        } => publish(&pb::UserPasswordResetStarted {
            user_id: user_id.to_string(),
            expire_time: Some(timestamp(*expires_at)),
        }),
        UserEvent::PasswordResetCompleted { user_id, .. } => {
            publish(&pb::UserPasswordResetCompleted {
                user_id: user_id.to_string(),
            })
        }
        UserEvent::Suspended {
            user_id, reason, ..
        } => publish(&pb::UserSuspended {
            user_id: user_id.to_string(),
            suspension_reason: reason.as_str().to_owned(),
        }),
        UserEvent::Reactivated { user_id, .. } => publish(&pb::UserReactivated {
            user_id: user_id.to_string(),
        }),
        UserEvent::Erased { user_id, .. } => publish(&pb::UserErased {
            user_id: user_id.to_string(),
        }),
        UserEvent::SignUpUnfinished {
            user_id,
            sign_up_id,
            announcement,
            ..
        } => publish(&pb::UserSignUpUnfinished {
            user_id: user_id.to_string(),
            sign_up_id: sign_up_id.to_string(),
            announcement: *announcement,
        }),
    }
}

/// Packs `message` for no workspace.
fn publish<M: prost::Name>(message: &M) -> IntegrationEvent {
    IntegrationEvent::new(None, message)
}

fn count(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn close_reason(reason: SessionCloseReason) -> pb::SessionCloseReason {
    match reason {
        SessionCloseReason::LoggedOut => pb::SessionCloseReason::LoggedOut,
        SessionCloseReason::Evicted => pb::SessionCloseReason::Evicted,
        SessionCloseReason::PasswordChanged => pb::SessionCloseReason::PasswordChanged,
        SessionCloseReason::Suspended => pb::SessionCloseReason::Suspended,
        SessionCloseReason::Erased => pb::SessionCloseReason::Erased,
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use identity_domain::{DisplayName, PasswordHash, SessionId, SuspensionReason, UserId};
    use kernel_domain::{DomainEvent, Email, Timestamp, Uuid};
    use prost::Message;

    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_timestamp(seconds, 0).unwrap()
    }

    fn user() -> User {
        let (user, _) = User::register(
            UserId::from_uuid(Uuid::now_v7()),
            Email::parse("ada@example.com").unwrap(),
            DisplayName::parse("Ada Lovelace").unwrap(),
            PasswordHash::from_phc("$argon2id$v=19$m=8,t=1,p=1$c2FsdA$aGFzaA".to_owned()),
            at(1_800_000_000),
        );
        user
    }

    /// One event of every variant, about `user`.
    fn one_of_each(user: &User) -> Vec<UserEvent> {
        let user_id = user.id();
        let session_id = SessionId::from_uuid(Uuid::now_v7());
        let occurred_at = at(1_800_000_100);
        vec![
            UserEvent::Registered {
                user_id,
                email: Email::parse("ada@example.com").unwrap(),
                display_name: DisplayName::parse("Ada Lovelace").unwrap(),
                occurred_at,
            },
            UserEvent::DisplayNameChanged {
                user_id,
                display_name: DisplayName::parse("Countess Lovelace").unwrap(),
                occurred_at,
            },
            UserEvent::EmailChanged {
                user_id,
                email: Email::parse("countess@example.com").unwrap(),
                occurred_at,
            },
            UserEvent::PasswordChanged {
                user_id,
                occurred_at,
            },
            UserEvent::LoginFailed {
                user_id,
                consecutive_failures: 3,
                occurred_at,
            },
            UserEvent::AccountLocked {
                user_id,
                until: at(1_800_000_900),
                occurred_at,
            },
            UserEvent::LoggedIn {
                user_id,
                occurred_at,
            },
            UserEvent::SessionOpened {
                user_id,
                session_id,
                expires_at: at(1_800_086_400),
                occurred_at,
            },
            UserEvent::SessionRefreshed {
                user_id,
                session_id,
                expires_at: at(1_800_172_800),
                occurred_at,
            },
            UserEvent::SessionClosed {
                user_id,
                session_id,
                reason: SessionCloseReason::Evicted,
                occurred_at,
            },
            UserEvent::EmailVerificationStarted {
                user_id,
                email: Email::parse("countess@example.com").unwrap(),
                expires_at: at(1_800_003_600),
                occurred_at,
            },
            UserEvent::EmailVerified {
                user_id,
                email: Email::parse("countess@example.com").unwrap(),
                occurred_at,
            },
            UserEvent::PasswordResetStarted {
                user_id,
                expires_at: at(1_800_003_600),
                occurred_at,
            },
            UserEvent::PasswordResetCompleted {
                user_id,
                occurred_at,
            },
            UserEvent::Suspended {
                user_id,
                reason: SuspensionReason::parse("chargeback").unwrap(),
                occurred_at,
            },
            UserEvent::Reactivated {
                user_id,
                occurred_at,
            },
            UserEvent::Erased {
                user_id,
                occurred_at,
            },
            UserEvent::SignUpUnfinished {
                user_id,
                sign_up_id: Uuid::from_u128(77),
                announcement: 2,
                occurred_at,
            },
        ]
    }

    /// How many variants `UserEvent` has.
    const VARIANTS: usize = 18;

    /// The variant's position. Exhaustive: a new variant does not compile here until it gets
    /// the next number, [`VARIANTS`] grows and [`one_of_each`] holds one.
    fn variant(event: &UserEvent) -> usize {
        match event {
            UserEvent::Registered { .. } => 0,
            UserEvent::DisplayNameChanged { .. } => 1,
            UserEvent::EmailChanged { .. } => 2,
            UserEvent::PasswordChanged { .. } => 3,
            UserEvent::LoginFailed { .. } => 4,
            UserEvent::AccountLocked { .. } => 5,
            UserEvent::LoggedIn { .. } => 6,
            UserEvent::SessionOpened { .. } => 7,
            UserEvent::SessionRefreshed { .. } => 8,
            UserEvent::SessionClosed { .. } => 9,
            UserEvent::EmailVerificationStarted { .. } => 10,
            UserEvent::EmailVerified { .. } => 11,
            UserEvent::PasswordResetStarted { .. } => 12,
            UserEvent::PasswordResetCompleted { .. } => 13,
            UserEvent::Suspended { .. } => 14,
            UserEvent::Reactivated { .. } => 15,
            UserEvent::Erased { .. } => 16,
            UserEvent::SignUpUnfinished { .. } => 17,
        }
    }

    /// Decodes `bytes` as the message `full_name` and encodes it again (prost drops fields the
    /// message does not know, so bytes of another message do not survive the round trip).
    fn reencode(full_name: &str, bytes: &[u8]) -> Vec<u8> {
        macro_rules! as_message {
            ($($name:ident),* $(,)?) => {
                match full_name {
                    $(concat!("saas.identity.v1.", stringify!($name)) => {
                        pb::$name::decode(bytes).unwrap().encode_to_vec()
                    })*
                    other => panic!("{other} is not an Identity event message"),
                }
            };
        }
        as_message!(
            UserRegistered,
            UserDisplayNameChanged,
            UserEmailChanged,
            UserPasswordChanged,
            UserLoginFailed,
            UserAccountLocked,
            UserLoggedIn,
            UserSessionOpened,
            UserSessionRefreshed,
            UserSessionClosed,
            UserEmailVerificationStarted,
            UserEmailVerified,
            UserPasswordResetStarted,
            UserPasswordResetCompleted,
            UserSuspended,
            UserReactivated,
            UserErased,
            UserSignUpUnfinished,
        )
    }

    #[test]
    fn every_user_event_is_published_as_its_own_message_of_the_descriptor_set() {
        let user = user();
        let events = one_of_each(&user);
        let covered: BTreeSet<usize> = events.iter().map(variant).collect();
        assert_eq!(covered, (0..VARIANTS).collect(), "one sample per variant");

        let mut names = BTreeSet::new();
        for event in &events {
            let published = integration_event(&user, event);
            let name = platform::published::check(event.event_type(), &published)
                .unwrap_or_else(|problem| panic!("{event:?}: {problem}"));
            assert_eq!(
                reencode(name, &published.payload.value),
                published.payload.value,
                "the payload of {event:?} is exactly a {name}"
            );
            assert_eq!(
                published.workspace_id, None,
                "{event:?} concerns no workspace"
            );
            names.insert(name.to_owned());
        }
        assert_eq!(
            names.len(),
            VARIANTS,
            "every variant has a message of its own"
        );
    }

    fn payload<M: Message + Default>(event: &UserEvent) -> M {
        M::decode(integration_event(&user(), event).payload.value.as_slice()).unwrap()
    }

    #[test]
    fn the_messages_carry_what_consumers_need() {
        let user = user();
        let events = one_of_each(&user);
        let id = user.id().to_string();

        let registered: pb::UserRegistered = payload(&events[0]);
        assert_eq!(registered.user_id, id);
        assert_eq!(registered.email, "ada@example.com");
        assert_eq!(registered.display_name, "Ada Lovelace");

        let locked: pb::UserAccountLocked = payload(&events[5]);
        assert_eq!(locked.lock_expire_time, Some(timestamp(at(1_800_000_900))));

        let opened: pb::UserSessionOpened = payload(&events[7]);
        let UserEvent::SessionOpened { session_id, .. } = &events[7] else {
            panic!("sample 7 opens a session");
        };
        assert_eq!(opened.session_id, session_id.to_string());
        assert_eq!(opened.expire_time, Some(timestamp(at(1_800_086_400))));

        let closed: pb::UserSessionClosed = payload(&events[9]);
        assert_eq!(closed.reason(), pb::SessionCloseReason::Evicted);

        let suspended: pb::UserSuspended = payload(&events[14]);
        assert_eq!(suspended.suspension_reason, "chargeback");

        let erased: pb::UserErased = payload(&events[16]);
        assert_eq!(erased.user_id, id);
    }

    #[test]
    fn every_close_reason_has_its_own_wire_value() {
        let reasons = [
            SessionCloseReason::LoggedOut,
            SessionCloseReason::Evicted,
            SessionCloseReason::PasswordChanged,
            SessionCloseReason::Suspended,
            SessionCloseReason::Erased,
        ];
        let wire: BTreeSet<i32> = reasons.iter().map(|r| close_reason(*r) as i32).collect();
        assert_eq!(wire.len(), reasons.len());
        assert!(!wire.contains(&(pb::SessionCloseReason::Unspecified as i32)));
    }
}
