//! [`Users`] over `saas.identity.v1.UserService`: the application's [`User`] to and from the
//! wire, and each failure sorted into the method's error.

use async_trait::async_trait;
use kernel_domain::Version;
use ports_app::{
    AppError, AppResult, CloseSessionError, CredentialsError, Ctx, LookupError, NewUser, Session,
    SessionError, SessionId, SignInError, SignUpState, TokenError, User, UserChangeError, UserId,
    UserReadError, UserStatus, Users,
};
use saas_proto::identity::v1 as wire;

use super::{GrpcUsers, status_to_error, time_from_wire};

/// What Identity could not have sent, as an internal fault.
fn malformed(what: &str) -> AppError {
    AppError::internal(format_args!("Identity answered a user with {what}"))
}

fn uuid_from_wire(what: &str, id: &str) -> AppResult<kernel_domain::Uuid> {
    kernel_domain::Uuid::try_parse(id).map_err(|_| malformed(what))
}

fn status_from_wire(status: wire::UserStatus) -> Option<UserStatus> {
    match status {
        wire::UserStatus::Active => Some(UserStatus::Active),
        wire::UserStatus::Suspended => Some(UserStatus::Suspended),
        wire::UserStatus::Erased => Some(UserStatus::Erased),
        wire::UserStatus::Unspecified => None,
    }
}

/// Identity's session as the application's.
pub fn session_from_wire(session: wire::Session) -> AppResult<Session> {
    let time = |time: Option<&prost_types::Timestamp>, what: &str| {
        time_from_wire(time).ok_or_else(|| malformed(what))
    };
    Ok(Session {
        id: SessionId::from_uuid(uuid_from_wire("a malformed session id", &session.id)?),
        create_time: time(
            session.create_time.as_ref(),
            "a session without create time",
        )?,
        expire_time: time(
            session.expire_time.as_ref(),
            "a session without expire time",
        )?,
        refresh_time: time(
            session.refresh_time.as_ref(),
            "a session without refresh time",
        )?,
    })
}

/// Identity's user as the application's. A message Identity could not have sent (an id that
/// is not a UUID, an unspecified status, an etag it never issues, no time) is an internal
/// fault.
pub fn user_from_wire(wire: wire::User) -> AppResult<User> {
    let sign_up = match wire.sign_up_state() {
        wire::SignUpState::Unspecified => SignUpState::Complete,
        wire::SignUpState::Pending => SignUpState::Pending,
        wire::SignUpState::Unfinished => SignUpState::Unfinished,
    };
    Ok(User {
        sign_up,
        id: UserId::from_uuid(uuid_from_wire("a malformed id", &wire.id)?),
        status: status_from_wire(wire.status()).ok_or_else(|| malformed("no status"))?,
        sessions: wire
            .sessions
            .into_iter()
            .map(session_from_wire)
            .collect::<AppResult<_>>()?,
        lock_expire_time: time_from_wire(wire.lock_expire_time.as_ref()),
        version: Version::parse_etag(&wire.etag).map_err(|_| malformed("a malformed etag"))?,
        create_time: time_from_wire(wire.create_time.as_ref())
            .ok_or_else(|| malformed("no create time"))?,
        update_time: time_from_wire(wire.update_time.as_ref())
            .ok_or_else(|| malformed("no update time"))?,
        email: wire.email,
        display_name: wire.display_name,
        suspension_reason: wire.suspension_reason,
        email_verified: wire.email_verified,
    })
}

/// A user and a session of one answer (open, refresh), both required.
fn user_and_session(
    user: Option<wire::User>,
    session: Option<wire::Session>,
) -> AppResult<(User, Session)> {
    let (Some(user), Some(session)) = (user, session) else {
        return Err(malformed("a session answer without user or session"));
    };
    Ok((user_from_wire(user)?, session_from_wire(session)?))
}

/// One unary call of [`GrpcUsers`] answering a user: the application's [`User`], its
/// failure classified into the method's error.
macro_rules! user_call {
    ($self:ident, $ctx:ident, read $method:ident($request:expr)) => {
        user_call!(@kind $self, $ctx, Read, $method($request))
    };
    ($self:ident, $ctx:ident, unrepeatable $method:ident($request:expr)) => {
        user_call!(@kind $self, $ctx, Unrepeatable, $method($request))
    };
    ($self:ident, $ctx:ident, $method:ident($request:expr)) => {
        user_call!(@kind $self, $ctx, Command, $method($request))
    };
    (@kind $self:ident, $ctx:ident, $kind:ident, $method:ident($request:expr)) => {{
        match send!($self, $ctx, $kind, $method($request)) {
            Ok(response) => user_from_wire(response.into_inner()).map_err(Into::into),
            Err(status) => Err(status_to_error(status).into()),
        }
    }};
}

#[async_trait]
impl Users for GrpcUsers {
    async fn get_user(&self, ctx: &Ctx, id: UserId) -> Result<User, UserReadError> {
        user_call!(
            self,
            ctx,
            read get_user(wire::GetUserRequest { id: id.to_string() })
        )
    }

    async fn batch_get_users(&self, ctx: &Ctx, ids: Vec<UserId>) -> AppResult<Vec<User>> {
        let request = wire::BatchGetUsersRequest {
            ids: ids.iter().map(ToString::to_string).collect(),
        };
        let found = send!(self, ctx, Read, batch_get_users(request))
            .map_err(status_to_error)?
            .into_inner();
        found.users.into_iter().map(user_from_wire).collect()
    }

    async fn lookup_user(&self, ctx: &Ctx, email: String) -> Result<User, LookupError> {
        user_call!(self, ctx, read lookup_user(wire::LookupUserRequest { email }))
    }

    async fn register_user(
        &self,
        ctx: &Ctx,
        step: &str,
        user: NewUser,
    ) -> Result<User, UserChangeError> {
        let request = wire::RegisterUserRequest {
            request_id: ctx.step(step),
            email: user.email,
            display_name: user.display_name,
            password: user.password,
            sign_up_id: user
                .sign_up
                .map(|sign_up| sign_up.id.to_string())
                .unwrap_or_default(),
            // Whole seconds, rounded up: a window is never shortened.
            sign_up_window_seconds: user.sign_up.map_or(0, |sign_up| {
                let seconds =
                    sign_up.window.as_secs() + u64::from(sign_up.window.subsec_nanos() > 0);
                u32::try_from(seconds).unwrap_or(u32::MAX)
            }),
        };
        user_call!(self, ctx, register_user(request))
    }

    async fn change_display_name(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        display_name: String,
    ) -> Result<User, UserChangeError> {
        let request = wire::ChangeDisplayNameRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            display_name,
        };
        user_call!(self, ctx, change_display_name(request))
    }

    async fn change_password(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        old_password: String,
        new_password: String,
    ) -> Result<User, UserChangeError> {
        let request = wire::ChangePasswordRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            old_password,
            new_password,
        };
        user_call!(self, ctx, change_password(request))
    }

    async fn verify_credentials(
        &self,
        ctx: &Ctx,
        email: String,
        password: String,
    ) -> Result<User, CredentialsError> {
        let request = wire::VerifyCredentialsRequest { email, password };
        user_call!(self, ctx, unrepeatable verify_credentials(request))
    }

    async fn open_session(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
    ) -> Result<(User, Session), SignInError> {
        let request = wire::OpenSessionRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
        };
        let opened = send!(self, ctx, Command, open_session(request))
            .map_err(status_to_error)?
            .into_inner();
        Ok(user_and_session(opened.user, opened.session)?)
    }

    async fn refresh_session(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        session: SessionId,
    ) -> Result<(User, Session), SessionError> {
        let request = wire::RefreshSessionRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            session_id: session.to_string(),
        };
        let refreshed = send!(self, ctx, Command, refresh_session(request))
            .map_err(status_to_error)?
            .into_inner();
        Ok(user_and_session(refreshed.user, refreshed.session)?)
    }

    async fn close_session(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        session: SessionId,
    ) -> Result<User, CloseSessionError> {
        let request = wire::CloseSessionRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            session_id: session.to_string(),
        };
        user_call!(self, ctx, close_session(request))
    }

    async fn start_email_verification(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        token: String,
    ) -> Result<User, UserChangeError> {
        let request = wire::StartEmailVerificationRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
            token,
        };
        user_call!(self, ctx, start_email_verification(request))
    }

    async fn confirm_email_verification(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        token: String,
    ) -> Result<User, TokenError> {
        let request = wire::ConfirmEmailVerificationRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            token,
        };
        user_call!(self, ctx, confirm_email_verification(request))
    }

    async fn start_password_reset(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        token: String,
    ) -> Result<User, UserChangeError> {
        let request = wire::StartPasswordResetRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            token,
        };
        user_call!(self, ctx, start_password_reset(request))
    }

    async fn complete_password_reset(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
        token: String,
        new_password: String,
    ) -> Result<User, TokenError> {
        let request = wire::CompletePasswordResetRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            token,
            new_password,
        };
        user_call!(self, ctx, complete_password_reset(request))
    }

    async fn erase_user(&self, ctx: &Ctx, step: &str, id: UserId) -> Result<User, UserChangeError> {
        let request = wire::EraseUserRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
        };
        user_call!(self, ctx, erase_user(request))
    }

    async fn complete_sign_up(
        &self,
        ctx: &Ctx,
        step: &str,
        id: UserId,
    ) -> Result<User, UserChangeError> {
        let request = wire::CompleteSignUpRequest {
            id: id.to_string(),
            request_id: ctx.step(step),
            etag: String::new(),
        };
        user_call!(self, ctx, complete_sign_up(request))
    }
}

#[cfg(test)]
mod tests {
    use prost_types::Timestamp as WireTime;

    use super::*;

    fn at(seconds: i64) -> Option<WireTime> {
        Some(WireTime { seconds, nanos: 0 })
    }

    fn a_wire_user() -> wire::User {
        wire::User {
            id: "0190a0f0-0000-7000-8000-000000000002".to_owned(),
            email: "ada@example.com".to_owned(),
            display_name: "Ada".to_owned(),
            status: wire::UserStatus::Suspended.into(),
            suspension_reason: "abuse".to_owned(),
            email_verified: true,
            sessions: vec![wire::Session {
                id: "0190a0f0-0000-7000-8000-000000000005".to_owned(),
                create_time: at(1_767_225_600),
                expire_time: at(1_769_817_600),
                refresh_time: at(1_767_225_700),
            }],
            lock_expire_time: None,
            etag: "W/\"v4\"".to_owned(),
            create_time: at(1_767_225_600),
            update_time: at(1_767_225_700),
            sign_up_state: wire::SignUpState::Unfinished.into(),
        }
    }

    #[test]
    fn a_wire_user_becomes_the_applications_field_by_field() {
        let user = user_from_wire(a_wire_user()).expect("a valid user");
        assert_eq!(user.id.to_string(), "0190a0f0-0000-7000-8000-000000000002");
        assert_eq!(
            (user.email.as_str(), user.display_name.as_str()),
            ("ada@example.com", "Ada")
        );
        assert_eq!(user.status, UserStatus::Suspended);
        assert_eq!(user.suspension_reason, "abuse");
        assert!(user.email_verified);
        assert_eq!(user.sessions.len(), 1);
        assert_eq!(user.sessions[0].expire_time.timestamp(), 1_769_817_600);
        assert_eq!(user.lock_expire_time, None);
        assert_eq!(user.version.get(), 4);
        assert_eq!(user.update_time.timestamp(), 1_767_225_700);
        assert_eq!(user.sign_up, SignUpState::Unfinished);
    }

    #[test]
    fn a_user_identity_could_not_have_sent_is_internal() {
        let breakages: [fn(&mut wire::User); 5] = [
            |u| u.id = "nope".to_owned(),
            |u| u.status = wire::UserStatus::Unspecified.into(),
            |u| u.etag = "4".to_owned(),
            |u| u.update_time = None,
            |u| u.sessions[0].expire_time = None,
        ];
        for breakage in breakages {
            let mut broken = a_wire_user();
            breakage(&mut broken);
            let error = user_from_wire(broken).expect_err("a malformed user");
            assert_eq!(error.kind, ports_app::ErrorKind::Internal);
        }
        let missing = user_and_session(Some(a_wire_user()), None).expect_err("no session");
        assert_eq!(missing.kind, ports_app::ErrorKind::Internal);
    }

    #[test]
    fn identity_failures_become_the_methods_typed_errors() {
        use kernel_domain::RejectionKind as Kind;
        let refusal = |kind, code| AppError::rejected(kind, code, "refused");
        // Sign-in: every "you cannot sign in" is one refusal; faults stay open.
        for (kind, code) in [
            (Kind::Unauthenticated, "INVALID_CREDENTIALS"),
            (Kind::NotFound, "USER_NOT_FOUND"),
            (Kind::FailedPrecondition, "USER_NOT_ACTIVE"),
        ] {
            assert!(matches!(
                SignInError::from(refusal(kind, code)),
                SignInError::Refused(_)
            ));
        }
        assert!(matches!(
            SignInError::from(refusal(Kind::Unavailable, "OVERLOADED")),
            SignInError::Other(_)
        ));
        // Credentials: unknown or wrong alike; a precondition is not theirs to answer.
        assert!(matches!(
            CredentialsError::from(refusal(Kind::Unauthenticated, "INVALID_CREDENTIALS")),
            CredentialsError::Refused(_)
        ));
        assert!(matches!(
            CredentialsError::from(refusal(Kind::FailedPrecondition, "USER_NOT_ACTIVE")),
            CredentialsError::Other(_)
        ));
        // Closing: only an already ended session is "already ended".
        for (kind, code) in [
            (Kind::NotFound, "SESSION_NOT_FOUND"),
            (Kind::FailedPrecondition, "SESSION_EXPIRED"),
            (Kind::FailedPrecondition, "USER_ERASED"),
        ] {
            assert!(matches!(
                CloseSessionError::from(refusal(kind, code)),
                CloseSessionError::AlreadyEnded(_)
            ));
        }
        for (kind, code) in [
            (Kind::FailedPrecondition, "USER_NOT_ACTIVE"),
            (Kind::InvalidArgument, "REQUEST_ID_REUSED"),
        ] {
            assert!(matches!(
                CloseSessionError::from(refusal(kind, code)),
                CloseSessionError::Other(_)
            ));
        }
        // Refreshing: ended unless "not now".
        assert!(matches!(
            SessionError::from(refusal(Kind::FailedPrecondition, "SESSION_EXPIRED")),
            SessionError::Ended(_)
        ));
        for not_now in [
            (Kind::Aborted, "ETAG_MISMATCH"),
            (Kind::Unavailable, "OVERLOADED"),
        ] {
            assert!(matches!(
                SessionError::from(refusal(not_now.0, not_now.1)),
                SessionError::Other(_)
            ));
        }
        // Tokens: what would tell something about the user is "not eligible".
        for code in ["USER_ERASED", "USER_NOT_ACTIVE", "EMAIL_ALREADY_VERIFIED"] {
            assert!(matches!(
                TokenError::from(refusal(Kind::FailedPrecondition, code)),
                TokenError::UserNotEligible(_)
            ));
        }
        assert!(matches!(
            TokenError::from(refusal(Kind::FailedPrecondition, "TOKEN_INVALID")),
            TokenError::Other(_)
        ));
        // Lookups and commands.
        assert!(matches!(
            LookupError::from(refusal(Kind::InvalidArgument, "INVALID_EMAIL")),
            LookupError::MalformedEmail(_)
        ));
        assert!(matches!(
            UserChangeError::from(refusal(Kind::AlreadyExists, "EMAIL_TAKEN")),
            UserChangeError::Refused(_)
        ));
        assert!(matches!(
            UserChangeError::from(refusal(Kind::InvalidArgument, "REQUEST_ID_REUSED")),
            UserChangeError::Other(_)
        ));
    }
}
