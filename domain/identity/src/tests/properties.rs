//! Property tests: value objects on arbitrary text, and random command sequences on a user.

use chrono::Duration;
use proptest::prelude::*;

use super::*;
use crate::{
    LoginOutcome, MAX_CONSECUTIVE_FAILURES, MAX_OPEN_SESSIONS, SuspensionReason, TextError,
    UserError, UserStatus, lock_delay,
};

proptest! {
    #[test]
    fn display_name_parse_never_panics_and_accepted_names_follow_the_rules(raw in "\\PC{0,120}|[ \\t\\n\\x00-\\x1f\\x7f]{0,5}.{0,105}") {
        if let Ok(name) = DisplayName::parse(&raw) {
            let s = name.as_str();
            prop_assert_eq!(s, raw.trim());
            prop_assert!((1..=100).contains(&s.chars().count()));
            prop_assert!(!s.chars().any(char::is_control));
            prop_assert_eq!(DisplayName::parse(s), Ok(name.clone()));
        }
    }

    #[test]
    fn password_parse_never_panics_and_accepts_exactly_12_to_128_chars(raw in ".{0,140}") {
        let len = raw.chars().count();
        match Password::parse(&raw) {
            Ok(password) => {
                prop_assert!((12..=128).contains(&len));
                prop_assert_eq!(password.expose(), raw.as_str());
                prop_assert_eq!(format!("{password:?}"), "Password(***)");
            }
            Err(UserError::InvalidPassword(TextError::TooShort { .. })) => prop_assert!(len < 12),
            Err(UserError::InvalidPassword(TextError::TooLong { .. })) => prop_assert!(len > 128),
            Err(other) => prop_assert!(false, "unexpected {other:?}"),
        }
    }

    #[test]
    fn suspension_reason_parse_never_panics_and_accepted_reasons_follow_the_rules(raw in "\\PC{0,520}|.{0,20}") {
        if let Ok(reason) = SuspensionReason::parse(&raw) {
            let s = reason.as_str();
            prop_assert_eq!(s, raw.trim());
            prop_assert!((1..=500).contains(&s.chars().count()));
            prop_assert!(!s.chars().any(char::is_control));
        }
    }

    #[test]
    fn token_hash_hex_round_trips_and_matching_is_equality(a in any::<[u8; 32]>(), b in any::<[u8; 32]>()) {
        let hash = TokenHash::from_bytes(a);
        prop_assert_eq!(TokenHash::from_hex(&hash.to_hex()).map(|h| *h.as_bytes()), Ok(a));
        prop_assert_eq!(hash.matches(&TokenHash::from_bytes(b)), a == b);
    }

    #[test]
    fn token_hash_from_arbitrary_text_never_panics(raw in ".{0,70}") {
        let _ = TokenHash::from_hex(&raw);
    }

    #[test]
    fn lock_delay_grows_and_never_exceeds_24_hours(n in 0u32..200) {
        match (lock_delay(n), lock_delay(n + 1)) {
            (None, _) => prop_assert!(n < MAX_CONSECUTIVE_FAILURES),
            (Some(d), Some(next)) => {
                prop_assert!(d >= Duration::minutes(1));
                prop_assert!(d <= Duration::hours(24));
                prop_assert!(next == (d * 2).min(Duration::hours(24)));
            }
            (Some(_), None) => prop_assert!(false, "the delay cannot vanish"),
        }
    }
}

const PASSWORDS: [&str; 3] = [RIGHT, "second password!", "third password!!"];
const EMAILS: [&str; 3] = [
    "ada@example.com",
    "ada@lovelace.org",
    "countess@example.org",
];

#[derive(Debug, Clone)]
enum Command {
    Advance(Duration),
    Rename(String),
    ChangeEmail(usize),
    Login { right: bool },
    ChangePassword { right: bool, new: usize },
    OpenSession,
    RefreshSession(usize),
    CloseSession(usize),
    StartVerification(u8),
    ConfirmVerification(u8),
    StartReset(u8),
    CompleteReset(u8, usize),
    Suspend,
    Reactivate,
    Erase,
}

fn command() -> impl Strategy<Value = Command> {
    prop_oneof![
        16 => (0i64..180).prop_map(|m| Command::Advance(Duration::minutes(m))),
        4 => (0i64..40).prop_map(|d| Command::Advance(Duration::days(d))),
        4 => "\\PC{0,8}".prop_map(Command::Rename),
        4 => (0..EMAILS.len()).prop_map(Command::ChangeEmail),
        24 => any::<bool>().prop_map(|right| Command::Login { right }),
        4 => (any::<bool>(), 0..PASSWORDS.len())
            .prop_map(|(right, new)| Command::ChangePassword { right, new }),
        20 => Just(Command::OpenSession),
        8 => (0usize..25).prop_map(Command::RefreshSession),
        8 => (0usize..25).prop_map(Command::CloseSession),
        4 => (0u8..3).prop_map(Command::StartVerification),
        4 => (0u8..3).prop_map(Command::ConfirmVerification),
        4 => (0u8..3).prop_map(Command::StartReset),
        4 => ((0u8..3), 0..PASSWORDS.len()).prop_map(|(t, p)| Command::CompleteReset(t, p)),
        4 => Just(Command::Suspend),
        4 => Just(Command::Reactivate),
        1 => Just(Command::Erase),
    ]
}

/// Commands, with bursts of session openings and wrong passwords so that the session limit
/// and the lockout are actually reached.
fn commands() -> impl Strategy<Value = Vec<Command>> {
    let chunk = prop_oneof![
        12 => command().prop_map(|c| vec![c]),
        1 => (1usize..25).prop_map(|n| vec![Command::OpenSession; n]),
        1 => (1usize..8).prop_map(|n| vec![Command::Login { right: false }; n]),
    ];
    prop::collection::vec(chunk, 1..100).prop_map(|chunks| chunks.concat())
}

/// A session id: existing ones by index, or an unknown one past the end.
fn pick_session(user: &User, index: usize) -> SessionId {
    user.open_sessions()
        .get(index)
        .map(|s| s.id)
        .unwrap_or(sid(1_000_000 + index as u128))
}

struct Run {
    user: User,
    now: Timestamp,
    password: &'static str,
    next_session: u128,
    was_erased: bool,
}

impl Run {
    /// Applies one command; returns the events if it was accepted, and whether a login was
    /// accepted.
    fn apply(&mut self, command: &Command) -> (Result<Vec<UserEvent>, UserError>, bool) {
        let hasher = FakeHasher::default();
        let now = self.now;
        let user = &mut self.user;
        let mut accepted_login = false;
        let result = match command {
            Command::Advance(by) => {
                self.now += *by;
                Ok(Vec::new())
            }
            Command::Rename(raw) => match DisplayName::parse(raw) {
                Ok(name) => user.change_display_name(name, now),
                Err(e) => Err(e),
            },
            Command::ChangeEmail(i) => user.change_email(email(EMAILS[*i]), now),
            Command::Login { right } => {
                let raw = if *right { self.password } else { WRONG };
                let check = user.check_credentials(&password(raw), &hasher, now);
                user.record_login(check, now).map(|(outcome, events)| {
                    accepted_login = outcome == LoginOutcome::Accepted;
                    events
                })
            }
            Command::ChangePassword { right, new } => {
                let raw = if *right { self.password } else { WRONG };
                let check = user.check_credentials(&password(raw), &hasher, now);
                let result = user.change_password(check, hash_of(PASSWORDS[*new]), now);
                if result.is_ok() {
                    self.password = PASSWORDS[*new];
                }
                result
            }
            Command::OpenSession => {
                self.next_session += 1;
                user.open_session(sid(self.next_session), now)
            }
            Command::RefreshSession(i) => {
                let id = pick_session(user, *i);
                user.refresh_session(id, now)
            }
            Command::CloseSession(i) => {
                let id = pick_session(user, *i);
                user.close_session(id, now)
            }
            Command::StartVerification(t) => user.start_email_verification(token(*t), now),
            Command::ConfirmVerification(t) => user.confirm_email_verification(&token(*t), now),
            Command::StartReset(t) => user.start_password_reset(token(*t), now),
            Command::CompleteReset(t, p) => {
                let result = user.complete_password_reset(&token(*t), hash_of(PASSWORDS[*p]), now);
                if result.is_ok() {
                    self.password = PASSWORDS[*p];
                }
                result
            }
            Command::Suspend => user.suspend(SuspensionReason::parse("abuse").unwrap(), now),
            Command::Reactivate => user.reactivate(now),
            Command::Erase => user.erase(now),
        };
        (result, accepted_login)
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn random_command_sequences_keep_the_invariants(commands in commands()) {
        let mut run = Run {
            user: registered(),
            now: t0(),
            password: RIGHT,
            next_session: 0,
            was_erased: false,
        };
        for command in &commands {
            let before = run.user.clone();
            let erased_before = run.was_erased;
            let (result, accepted_login) = run.apply(command);
            let user = &run.user;
            let now = run.now;

            match &result {
                // A refused command changes nothing.
                Err(_) => prop_assert_eq!(user, &before),
                Ok(events) if events.is_empty() => prop_assert_eq!(user, &before),
                Ok(events) => {
                    prop_assert_eq!(user.updated_at(), now);
                    // Accepted commands prune: every stored session is open at `now`.
                    prop_assert!(user.open_sessions().iter().all(|s| s.is_open_at(now)));
                    for event in events {
                        prop_assert_eq!(event.user_id(), user.id());
                        prop_assert_eq!(event.occurred_at(), now);
                    }
                    let json = serde_json::to_string(events).unwrap();
                    prop_assert!(!json.contains("fake$"));
                    for t in 0u8..3 {
                        prop_assert!(!json.contains(&token(t).to_hex()));
                    }
                }
            }

            prop_assert!(user.open_sessions().len() <= MAX_OPEN_SESSIONS);
            prop_assert!(user.open_sessions_at(now).count() <= MAX_OPEN_SESSIONS);
            if user.locked_until().is_some() {
                prop_assert!(user.failed_logins() >= MAX_CONSECUTIVE_FAILURES);
            }
            if accepted_login {
                prop_assert_eq!(user.failed_logins(), 0);
                prop_assert_eq!(user.locked_until(), None);
            }
            match user.status() {
                UserStatus::Erased => {
                    prop_assert_eq!(user.email(), None);
                    prop_assert_eq!(user.password_hash(), None);
                    prop_assert!(user.open_sessions().is_empty());
                    prop_assert!(!user.email_verified());
                    run.was_erased = true;
                }
                UserStatus::Suspended { .. } => {
                    prop_assert!(!run.was_erased, "erasure is final");
                    prop_assert!(user.open_sessions().is_empty());
                }
                UserStatus::Active => prop_assert!(!run.was_erased, "erasure is final"),
            }
            if erased_before {
                // Every later command is refused with USER_ERASED (a name that does not even
                // parse is refused before it reaches the user).
                let ok = matches!(
                    (command, &result),
                    (Command::Advance(_), _)
                        | (Command::Rename(_), Err(UserError::InvalidDisplayName(_)))
                        | (_, Err(UserError::Erased))
                );
                prop_assert!(ok, "after erasure {:?} gave {:?}", command, result);
            }
            prop_assert_eq!(user.id(), uid(1));
        }
        let json = serde_json::to_string(&run.user).unwrap();
        let back: User = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back, run.user);
    }
}
