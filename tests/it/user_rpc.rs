//! The Identity `UserService` over real gRPC: happy paths, rejections, bad input, time rules
//! (with the injected clock), erasure, the service credential, health, reflection and secrets.
//!
//! The helpers here keep the tests short: [`register`] makes a user, [`rejected`] checks a
//! status's code and `ErrorInfo`, [`invalid`] checks an `INVALID_ARGUMENT` and the fields its
//! `BadRequest` names.

mod bad_input;
mod erasure;
mod happy_path;
mod idempotency;
mod races;
mod rejections;
mod secrets;
mod server_guard;
mod sign_up;
mod time_rules;

use saas_proto::identity::v1 as pb;
use saas_tests::UserClient;
use tonic::{Code, Response, Status};
use tonic_types::StatusExt;

/// The password every test user registers with.
pub const PASSWORD: &str = "correct horse battery staple";
/// Another valid password.
pub const NEW_PASSWORD: &str = "tr0ub4dor & 3 new secret";
/// The `ErrorInfo` domain of the Identity service.
pub const DOMAIN: &str = "identity.saas";

/// A fresh request id.
pub fn request_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// A random id no user has.
pub fn unknown_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Registers a user with [`PASSWORD`].
pub async fn register(client: &mut UserClient, email: &str) -> pb::User {
    register_named(client, email, "Ada Lovelace").await
}

/// Registers a user with [`PASSWORD`] and a display name.
pub async fn register_named(client: &mut UserClient, email: &str, name: &str) -> pb::User {
    client
        .register_user(pb::RegisterUserRequest {
            request_id: request_id(),
            email: email.into(),
            display_name: name.into(),
            password: PASSWORD.into(),
            ..Default::default()
        })
        .await
        .expect("register user")
        .into_inner()
}

/// Reads a user.
pub async fn get(client: &mut UserClient, id: &str) -> pb::User {
    client
        .get_user(pb::GetUserRequest { id: id.into() })
        .await
        .expect("get user")
        .into_inner()
}

/// Opens a session and returns the user and the session.
pub async fn open_session(client: &mut UserClient, id: &str) -> (pb::User, pb::Session) {
    let response = client
        .open_session(pb::OpenSessionRequest {
            id: id.into(),
            request_id: request_id(),
            etag: String::new(),
        })
        .await
        .expect("open session")
        .into_inner();
    (
        response.user.expect("user in response"),
        response.session.expect("session in response"),
    )
}

/// Checks email and password.
pub async fn verify(
    client: &mut UserClient,
    email: &str,
    password: &str,
) -> Result<Response<pb::User>, Status> {
    client
        .verify_credentials(pb::VerifyCredentialsRequest {
            email: email.into(),
            password: password.into(),
        })
        .await
}

/// Suspends a user.
pub async fn suspend(client: &mut UserClient, id: &str) -> pb::User {
    client
        .suspend_user(pb::SuspendUserRequest {
            id: id.into(),
            request_id: request_id(),
            etag: String::new(),
            reason: "chargeback fraud".into(),
        })
        .await
        .expect("suspend user")
        .into_inner()
}

/// Erases a user.
pub async fn erase(client: &mut UserClient, id: &str) -> pb::User {
    client
        .erase_user(pb::EraseUserRequest {
            id: id.into(),
            request_id: request_id(),
            etag: String::new(),
        })
        .await
        .expect("erase user")
        .into_inner()
}

/// The error of a call that must fail with `code` and `ErrorInfo { reason, identity.saas }`.
#[track_caller]
pub fn rejected<T: std::fmt::Debug>(
    result: Result<Response<T>, Status>,
    code: Code,
    reason: &str,
) -> Status {
    rejected_in(result, code, reason, DOMAIN)
}

/// Like [`rejected`], with another error domain.
#[track_caller]
pub fn rejected_in<T: std::fmt::Debug>(
    result: Result<Response<T>, Status>,
    code: Code,
    reason: &str,
    domain: &str,
) -> Status {
    let status = match result {
        Ok(response) => panic!(
            "expected {code:?} / {reason}, got a response: {:?}",
            response.into_inner()
        ),
        Err(status) => status,
    };
    assert_eq!(status.code(), code, "code of {status:?}");
    let info = status
        .get_details_error_info()
        .unwrap_or_else(|| panic!("no ErrorInfo in {status:?}"));
    assert_eq!(info.reason, reason, "reason of {status:?}");
    assert_eq!(info.domain, domain, "domain of {status:?}");
    status
}

/// The code a refused login answers with (`UserError::InvalidCredentials`, as `user.proto`
/// documents it).
pub const LOGIN_REFUSED: Code = Code::Unauthenticated;

/// The error of a refused login: [`LOGIN_REFUSED`] with reason `INVALID_CREDENTIALS`.
#[track_caller]
pub fn login_refused(result: Result<Response<pb::User>, Status>) -> Status {
    rejected(result, LOGIN_REFUSED, "INVALID_CREDENTIALS")
}

/// The fields a status's `BadRequest` names, in order.
pub fn violated_fields(status: &Status) -> Vec<String> {
    status
        .get_details_bad_request()
        .map(|bad| bad.field_violations.into_iter().map(|v| v.field).collect())
        .unwrap_or_default()
}

/// The error of a call that must fail `INVALID_ARGUMENT` with `reason`, naming exactly
/// `fields` (in any order) in its `BadRequest`.
#[track_caller]
pub fn invalid<T: std::fmt::Debug>(
    result: Result<Response<T>, Status>,
    reason: &str,
    fields: &[&str],
) -> Status {
    invalid_in(result, reason, fields, DOMAIN)
}

/// Like [`invalid`], with another error domain.
#[track_caller]
pub fn invalid_in<T: std::fmt::Debug>(
    result: Result<Response<T>, Status>,
    reason: &str,
    fields: &[&str],
    domain: &str,
) -> Status {
    let status = rejected_in(result, Code::InvalidArgument, reason, domain);
    let mut named = violated_fields(&status);
    named.sort();
    let mut expected: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
    expected.sort();
    assert_eq!(named, expected, "fields named by {status:?}");
    status
}

/// A wire timestamp as a UTC time.
#[track_caller]
pub fn at<T>(timestamp: &Option<T>) -> chrono::DateTime<chrono::Utc>
where
    T: Clone,
    std::time::SystemTime: TryFrom<T>,
    <std::time::SystemTime as TryFrom<T>>::Error: std::fmt::Debug,
{
    let timestamp = timestamp.clone().expect("timestamp is set");
    std::time::SystemTime::try_from(timestamp)
        .expect("timestamp in range")
        .into()
}

/// The user's status as the wire enum.
pub fn status_of(user: &pb::User) -> pb::UserStatus {
    pb::UserStatus::try_from(user.status).expect("known status")
}

/// The ids of the user's open sessions.
pub fn session_ids(user: &pb::User) -> Vec<String> {
    user.sessions.iter().map(|s| s.id.clone()).collect()
}
