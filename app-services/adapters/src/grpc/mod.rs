//! gRPC adapters of the ports: [`GrpcUsers`], [`GrpcWorkspaces`], [`GrpcSubscriptions`] and
//! [`GrpcFeeds`] call the data services with the service credential, and [`status_to_error`] turns their
//! statuses into [`AppError`]s.
//!
//! Rules every call follows:
//!
//! - It carries `authorization: Bearer <service token>`, the acting user as `x-saas-actor`
//!   when the [`Ctx`] has one, and the correlation id as `x-request-id` (left out when it is
//!   not valid header text).
//! - It has a deadline: what remains of the caller's [`Ctx::deadline`], else 5 s unless
//!   configured; each attempt has a shorter one, and transient failures are retried and
//!   slow reads hedged within budgets ([`resilience`]). A data service that does not answer
//!   in time is a [`ErrorKind::Timeout`]; one that cannot be reached is
//!   `UPSTREAM_UNAVAILABLE`.
//! - Connections are opened lazily, on the first call, so a caller can start before the
//!   data services do. [`HealthCheck::ready`] tells when they serve.
//! - Only plain `http://` URLs are accepted: no TLS is compiled in.
//! - Adapters are made inside a Tokio runtime (a lazy channel starts its worker task there).

use std::{borrow::Cow, collections::HashMap, sync::Arc, time::Duration};

use kernel_domain::{FieldViolation, RejectionKind};
use platform::{discovery::PeerChannel, server::ServiceCredential};
pub use resilience::{Budgets, CallPolicy, CallSettings};
use resilience::{Counters, Resilience};
use saas_proto::{
    billing::v1::subscription_service_client::SubscriptionServiceClient,
    identity::v1::user_service_client::UserServiceClient,
    notifications::v1::feed_service_client::FeedServiceClient,
    workspace::v1::workspace_service_client::WorkspaceServiceClient,
};
use tonic::{
    Code, Status,
    metadata::{Ascii, MetadataValue},
    service::interceptor::InterceptedService,
};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};
use tonic_types::StatusExt;

use ports_app::{AppError, Ctx, ErrorKind, Feeds, Subscriptions, Users, Workspaces};

/// How long a call may take unless configured otherwise.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(5);

/// The metadata key that carries the correlation id.
pub const REQUEST_ID_METADATA: &str = "x-request-id";

/// The error domain of the server stack itself (credential check, load shedding).
const PLATFORM_DOMAIN: &str = "platform.saas";

/// The gRPC service names of the data services, as `grpc.health.v1` knows them.
pub const USER_SERVICE: &str = "saas.identity.v1.UserService";
/// See [`USER_SERVICE`].
pub const WORKSPACE_SERVICE: &str = "saas.workspace.v1.WorkspaceService";
/// See [`USER_SERVICE`].
pub const SUBSCRIPTION_SERVICE: &str = "saas.billing.v1.SubscriptionService";
/// See [`USER_SERVICE`].
pub const FEED_SERVICE: &str = "saas.notifications.v1.FeedService";

/// A balanced channel that adds the service credential to every call.
pub type Credentialed = InterceptedService<PeerChannel, ServiceCredential>;

/// Why an adapter could not be built. Nothing is dialled at construction, so these are
/// configuration faults only.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConnectError {
    /// The URL is not a plain `http://host:port` URL.
    #[error("invalid data service URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },
    /// The service token cannot be sent as a header.
    #[error("the service token is not valid header text")]
    InvalidToken,
}

/// A lazily connected channel to the one replica at `url` (`http://host:port`):
/// `TCP_NODELAY`, a connect timeout, HTTP/2 keep-alives, and no I/O until the first call
/// (see [`platform::discovery::endpoint`]).
pub fn lazy_channel(url: &str) -> Result<PeerChannel, ConnectError> {
    platform::discovery::single_channel(url).map_err(|reason| ConnectError::InvalidUrl {
        url: url.to_owned(),
        reason,
    })
}

fn credential(token: &str) -> Result<ServiceCredential, ConnectError> {
    if token.is_empty() {
        return Err(ConnectError::InvalidToken);
    }
    ServiceCredential::new(token).ok_or(ConnectError::InvalidToken)
}

/// Wraps `message` for one call: the deadline, the acting user and the correlation id.
fn call<T>(ctx: &Ctx, message: T, deadline: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(deadline);
    let metadata = request.metadata_mut();
    if let Some(actor) = ctx.actor {
        // A hyphenated UUID is always valid header text.
        if let Ok(value) = actor.to_string().parse::<MetadataValue<Ascii>>() {
            metadata.insert(platform::rpc::ACTOR_METADATA, value);
        }
    }
    match ctx.correlation_id.parse::<MetadataValue<Ascii>>() {
        Ok(value) => {
            metadata.insert(REQUEST_ID_METADATA, value);
        }
        Err(_) => tracing::debug!("correlation id is not header text; not forwarded"),
    }
    request
}

/// The UPPER_SNAKE name of a gRPC code, the fallback reason of a status without `ErrorInfo`.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "CANCELLED",
        Code::Unknown => "UNKNOWN",
        Code::InvalidArgument => "INVALID_ARGUMENT",
        Code::DeadlineExceeded => "DEADLINE_EXCEEDED",
        Code::NotFound => "NOT_FOUND",
        Code::AlreadyExists => "ALREADY_EXISTS",
        Code::PermissionDenied => "PERMISSION_DENIED",
        Code::ResourceExhausted => "RESOURCE_EXHAUSTED",
        Code::FailedPrecondition => "FAILED_PRECONDITION",
        Code::Aborted => "ABORTED",
        Code::OutOfRange => "OUT_OF_RANGE",
        Code::Unimplemented => "UNIMPLEMENTED",
        Code::Internal => "INTERNAL",
        Code::Unavailable => "UNAVAILABLE",
        Code::DataLoss => "DATA_LOSS",
        Code::Unauthenticated => "UNAUTHENTICATED",
    }
}

/// Turns a data service's status into the error a use case sees.
///
/// - A refusal (`INVALID_ARGUMENT`, `NOT_FOUND`, `ALREADY_EXISTS`, `FAILED_PRECONDITION`,
///   `ABORTED`, `PERMISSION_DENIED`, `UNAUTHENTICATED`, `UNAVAILABLE`) keeps the `ErrorInfo`
///   reason as its code (the gRPC code's name when there is none), its message, and every
///   `BadRequest` field violation.
/// - A violation of `request_id` names the client's `Idempotency-Key` instead.
/// - `DEADLINE_EXCEEDED` and `CANCELLED` are a timeout, code `UPSTREAM_TIMEOUT`.
/// - `UNAVAILABLE` without `ErrorInfo` (connection refused, reset, ...) is
///   `UPSTREAM_UNAVAILABLE`.
/// - `UNAUTHENTICATED` from the server stack (domain `platform.saas`) or without `ErrorInfo`
///   means our own service credential was refused: a deployment fault, so internal.
/// - Everything else is internal: the cause is logged and nothing of it is passed on.
pub fn status_to_error(status: Status) -> AppError {
    let code = status.code();
    let info = status.get_details_error_info();
    if code == Code::Unauthenticated && info.as_ref().is_none_or(|i| i.domain == PLATFORM_DOMAIN) {
        let reason = info.map(|i| i.reason).unwrap_or_default();
        return AppError::internal(format_args!(
            "a data service refused the service credential ({reason}): {}",
            status.message()
        ));
    }
    match code {
        Code::DeadlineExceeded | Code::Cancelled => {
            tracing::warn!(code = ?code, message = status.message(), "data service call timed out");
            AppError {
                kind: ErrorKind::Timeout,
                code: Cow::Borrowed("UPSTREAM_TIMEOUT"),
                message: "a service did not answer in time; retry later".to_owned(),
                fields: Vec::new(),
                retry_after: None,
            }
        }
        Code::Unavailable if info.is_none() => unavailable(&status),
        // A connection that broke under the call: no server answered this.
        _ if resilience::broke_in_transit(&status) => unavailable(&status),
        _ => match platform::rpc::rejection_kind(code) {
            Some(kind) => {
                let reason = info
                    .map(|i| i.reason)
                    .filter(|r| !r.is_empty())
                    .map_or(Cow::Borrowed(code_name(code)), Cow::Owned);
                let fields = status
                    .get_details_bad_request()
                    .map(|bad| {
                        bad.field_violations
                            .into_iter()
                            .map(|v| FieldViolation {
                                field: v.field,
                                description: v.description,
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let error = AppError {
                    kind: ErrorKind::Rejected(kind),
                    code: reason,
                    message: status.message().to_owned(),
                    fields,
                    // Shed or limited: worth asking again in a second.
                    retry_after: (code == Code::Unavailable).then_some(1),
                };
                name_the_idempotency_key(error)
            }
            None => AppError::internal(format_args!(
                "a data service answered {}: {}",
                code_name(code),
                status.message()
            )),
        },
    }
}

/// `UPSTREAM_UNAVAILABLE`, worth asking again in a second; the cause is logged.
fn unavailable(status: &Status) -> AppError {
    tracing::warn!(code = ?status.code(), message = status.message(), "data service unavailable");
    AppError {
        retry_after: Some(1),
        ..AppError::rejected(
            RejectionKind::Unavailable,
            "UPSTREAM_UNAVAILABLE",
            "a service is unavailable; retry later",
        )
    }
}

/// A data service's `request_id` is always derived from the use case's request id, which
/// the client sent as `Idempotency-Key`: a refusal naming it names that header instead.
fn name_the_idempotency_key(error: AppError) -> AppError {
    if !error.fields.iter().any(|f| f.field == "request_id") {
        return error;
    }
    let reused = error.code == "REQUEST_ID_REUSED";
    let mut error = error.renaming_field("request_id", ports_app::IDEMPOTENCY_KEY_FIELD);
    if reused {
        let description = format!(
            "this {} was already used for a different request",
            ports_app::IDEMPOTENCY_KEY_FIELD
        );
        for field in &mut error.fields {
            if field.field == ports_app::IDEMPOTENCY_KEY_FIELD {
                field.description.clone_from(&description);
            }
        }
        error.message = description;
    }
    error
}

/// Sends one call of an adapter through its [`Resilience`]: `send!(self, ctx, Read,
/// method(request))` answers the call's `Result<tonic::Response<_>, Status>`.
macro_rules! send {
    ($self:ident, $ctx:ident, $kind:ident, $method:ident($request:expr)) => {{
        let client = $self.client.clone();
        $self
            .resilience
            .unary(
                $ctx,
                $self.deadline,
                $crate::grpc::resilience::Kind::$kind,
                $request,
                move |request| {
                    let mut client = client.clone();
                    async move { client.$method(request).await }
                },
            )
            .await
    }};
}

/// Generates an adapter struct and its constructors.
macro_rules! adapter_struct {
    ($(#[$doc:meta])* $adapter:ident($client:ident)) => {
        $(#[$doc])*
        #[derive(Debug, Clone)]
        pub struct $adapter {
            client: $client<Credentialed>,
            deadline: Duration,
            resilience: Arc<Resilience>,
        }

        impl $adapter {
            /// An adapter over `channel` presenting `credential`, each call bounded by
            /// `deadline`.
            pub fn new(
                channel: PeerChannel,
                credential: ServiceCredential,
                deadline: Duration,
            ) -> Self {
                Self::with_policy(channel, credential, deadline, CallPolicy::default())
            }

            /// Like [`Self::new`], calling under `policy`.
            pub fn with_policy(
                channel: PeerChannel,
                credential: ServiceCredential,
                deadline: Duration,
                policy: CallPolicy,
            ) -> Self {
                $adapter {
                    client: $client::with_interceptor(channel, credential),
                    deadline,
                    resilience: Arc::new(Resilience::new(policy)),
                }
            }

            /// The retries and hedges this adapter has sent.
            pub fn counters(&self) -> &Counters {
                self.resilience.counters()
            }

            /// The deadline, retry and hedge state of its calls, shared with its clones.
            pub fn resilience(&self) -> Arc<Resilience> {
                self.resilience.clone()
            }

            /// An adapter for the service at `url` (`http://host:port`) presenting `token`;
            /// it connects on the first call.
            pub fn connect_lazy(
                url: &str,
                token: &str,
                deadline: Duration,
            ) -> Result<Self, ConnectError> {
                Ok(Self::new(lazy_channel(url)?, credential(token)?, deadline))
            }

            /// The deadline of each call.
            pub fn deadline(&self) -> Duration {
                self.deadline
            }
        }
    };
}

adapter_struct!(
    /// [`Users`] over `saas.identity.v1.UserService`.
    GrpcUsers(UserServiceClient)
);
adapter_struct!(
    /// [`Workspaces`] over `saas.workspace.v1.WorkspaceService`.
    GrpcWorkspaces(WorkspaceServiceClient)
);
adapter_struct!(
    /// [`Subscriptions`] over `saas.billing.v1.SubscriptionService`.
    GrpcSubscriptions(SubscriptionServiceClient)
);
adapter_struct!(
    /// [`Feeds`] over `saas.notifications.v1.FeedService`.
    GrpcFeeds(FeedServiceClient)
);

// The adapters, one module per data service; they use the macros above.
mod billing;
mod identity;
mod notifications;
pub mod resilience;
mod workspace;

pub use billing::{
    plan_from_wire, plan_to_wire, status_from_wire, subscription_from_wire, time_from_wire,
};
pub use notifications::{WireEntry, feed_entry_from_wire};

/// Lazily connected channels, one per distinct URL (embedded mode serves every context on
/// one port, so the adapters then share one connection).
#[derive(Default)]
struct Channels(HashMap<String, PeerChannel>);

impl Channels {
    fn get(&mut self, url: &str) -> Result<PeerChannel, ConnectError> {
        if let Some(channel) = self.0.get(url) {
            return Ok(channel.clone());
        }
        let channel = lazy_channel(url)?;
        self.0.insert(url.to_owned(), channel.clone());
        Ok(channel)
    }
}

/// Every data-service port, as use cases and the edge take them. Tests may fill it with
/// mocks; [`DataServices::connect_lazy`] fills it with the gRPC adapters, and
/// [`HealthCheck`] tells whether the services behind them are ready.
#[derive(Clone)]
pub struct DataServices {
    pub users: Arc<dyn Users>,
    pub workspaces: Arc<dyn Workspaces>,
    pub subscriptions: Arc<dyn Subscriptions>,
    pub feeds: Arc<dyn Feeds>,
    /// Each context's call state (`identity`, `workspace`, `billing`, `notifications`), for
    /// the retries and hedges its calls took.
    pub calls: [(&'static str, Arc<Resilience>); 4],
}

/// The channels to the four data services, however they were found (one URL, a balanced
/// set of replicas, the same local port for all four in embedded mode).
#[derive(Debug, Clone)]
pub struct PeerChannels {
    pub identity: PeerChannel,
    pub workspace: PeerChannel,
    pub billing: PeerChannel,
    pub notifications: PeerChannel,
}

impl PeerChannels {
    /// Lazily connected channels to the given URLs (`http://host:port`), one per distinct
    /// URL.
    pub fn connect_lazy(
        identity_url: &str,
        workspace_url: &str,
        billing_url: &str,
        notifications_url: &str,
    ) -> Result<PeerChannels, ConnectError> {
        let mut channels = Channels::default();
        Ok(PeerChannels {
            identity: channels.get(identity_url)?,
            workspace: channels.get(workspace_url)?,
            billing: channels.get(billing_url)?,
            notifications: channels.get(notifications_url)?,
        })
    }
}

impl DataServices {
    /// The gRPC adapters of the four data services at the given URLs (`http://host:port`,
    /// the same URL for all of them in embedded mode), presenting `token`, each call bounded
    /// by `deadline`. Nothing is dialled until the first call.
    pub fn connect_lazy(
        identity_url: &str,
        workspace_url: &str,
        billing_url: &str,
        notifications_url: &str,
        token: &str,
        deadline: Duration,
    ) -> Result<DataServices, ConnectError> {
        let channels = PeerChannels::connect_lazy(
            identity_url,
            workspace_url,
            billing_url,
            notifications_url,
        )?;
        Self::with_channels(&channels, token, deadline)
    }

    /// The gRPC adapters over the given channels, presenting `token`, each call bounded by
    /// `deadline`.
    pub fn with_channels(
        channels: &PeerChannels,
        token: &str,
        deadline: Duration,
    ) -> Result<DataServices, ConnectError> {
        Self::with_policy(channels, token, deadline, CallPolicy::default())
    }

    /// Like [`DataServices::with_channels`], every adapter calling under `policy`.
    pub fn with_policy(
        channels: &PeerChannels,
        token: &str,
        deadline: Duration,
        policy: CallPolicy,
    ) -> Result<DataServices, ConnectError> {
        let credential = credential(token)?;
        let users = GrpcUsers::with_policy(
            channels.identity.clone(),
            credential.clone(),
            deadline,
            policy,
        );
        let workspaces = GrpcWorkspaces::with_policy(
            channels.workspace.clone(),
            credential.clone(),
            deadline,
            policy,
        );
        let subscriptions = GrpcSubscriptions::with_policy(
            channels.billing.clone(),
            credential.clone(),
            deadline,
            policy,
        );
        let feeds =
            GrpcFeeds::with_policy(channels.notifications.clone(), credential, deadline, policy);
        Ok(DataServices {
            calls: [
                ("identity", users.resilience()),
                ("workspace", workspaces.resilience()),
                ("billing", subscriptions.resilience()),
                ("notifications", feeds.resilience()),
            ],
            users: Arc::new(users),
            workspaces: Arc::new(workspaces),
            subscriptions: Arc::new(subscriptions),
            feeds: Arc::new(feeds),
        })
    }
}

/// Asks the data services whether they serve (`grpc.health.v1`, which needs no credential).
#[derive(Debug, Clone)]
pub struct HealthCheck {
    targets: Vec<(&'static str, PeerChannel)>,
    deadline: Duration,
}

impl HealthCheck {
    /// A check of the four data services at the given URLs; nothing is dialled until
    /// [`HealthCheck::ready`]. Each probe is bounded by `deadline`.
    pub fn connect_lazy(
        identity_url: &str,
        workspace_url: &str,
        billing_url: &str,
        notifications_url: &str,
        deadline: Duration,
    ) -> Result<HealthCheck, ConnectError> {
        let channels = PeerChannels::connect_lazy(
            identity_url,
            workspace_url,
            billing_url,
            notifications_url,
        )?;
        Ok(Self::with_channels(&channels, deadline))
    }

    /// A check of the four data services over the given channels, each probe bounded by
    /// `deadline`.
    pub fn with_channels(channels: &PeerChannels, deadline: Duration) -> HealthCheck {
        HealthCheck {
            targets: vec![
                (USER_SERVICE, channels.identity.clone()),
                (WORKSPACE_SERVICE, channels.workspace.clone()),
                (SUBSCRIPTION_SERVICE, channels.billing.clone()),
                (FEED_SERVICE, channels.notifications.clone()),
            ],
            deadline,
        }
    }

    /// `Ok` when every data service answers `SERVING`; otherwise one line per service that
    /// does not, naming it and why (`NOT_SERVING`, or the gRPC code of the failed probe).
    pub async fn ready(&self) -> Result<(), String> {
        let probes = self
            .targets
            .iter()
            .map(|(name, channel)| probe(name, channel.clone(), self.deadline));
        let mut problems = Vec::new();
        for (name, outcome) in self
            .targets
            .iter()
            .map(|(n, _)| *n)
            .zip(join_all(probes).await)
        {
            if let Err(why) = outcome {
                problems.push(format!("{name}: {why}"));
            }
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("\n"))
        }
    }
}

/// Runs the probes concurrently and returns their outcomes in order.
async fn join_all<F: Future<Output = Result<(), String>> + Send + 'static>(
    probes: impl Iterator<Item = F>,
) -> Vec<Result<(), String>> {
    let handles: Vec<_> = probes.map(tokio::spawn).collect();
    let mut outcomes = Vec::with_capacity(handles.len());
    for handle in handles {
        outcomes.push(
            handle
                .await
                .unwrap_or_else(|e| Err(format!("probe failed: {e}"))),
        );
    }
    outcomes
}

async fn probe(
    service: &'static str,
    channel: PeerChannel,
    deadline: Duration,
) -> Result<(), String> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: service.to_owned(),
    });
    request.set_timeout(deadline);
    // The deadline also bounds waiting for a replica to call, which the header alone does not.
    let answer = tokio::time::timeout(deadline, HealthClient::new(channel).check(request))
        .await
        .unwrap_or_else(|_| Err(Status::deadline_exceeded("no answer within the deadline")));
    match answer {
        Ok(response) => match response.into_inner().status() {
            ServingStatus::Serving => Ok(()),
            other => Err(other.as_str_name().to_owned()),
        },
        Err(status) => {
            tracing::debug!(
                service,
                code = ?status.code(),
                message = status.message(),
                "health probe failed"
            );
            Err(code_name(status.code()).to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use tonic_types::ErrorDetails;

    use super::*;

    fn with_info(code: Code, message: &str, reason: &str, domain: &str) -> Status {
        Status::with_error_details(
            code,
            message,
            ErrorDetails::with_error_info(reason, domain, HashMap::<String, String>::new()),
        )
    }

    #[test]
    fn a_refusal_keeps_its_reason_message_and_kind() {
        let error = status_to_error(with_info(
            Code::AlreadyExists,
            "the email is taken",
            "EMAIL_TAKEN",
            "identity.saas",
        ));
        assert_eq!(
            error.kind,
            ErrorKind::Rejected(RejectionKind::AlreadyExists)
        );
        assert_eq!(error.code, "EMAIL_TAKEN");
        assert_eq!(error.message, "the email is taken");
        assert!(error.fields.is_empty());
    }

    #[test]
    fn every_rejection_code_maps_to_its_kind() {
        for kind in RejectionKind::ALL {
            let code = platform::rpc::grpc_code(kind);
            if code == Code::Unauthenticated {
                continue; // covered by its own tests: it depends on the domain
            }
            let error = status_to_error(with_info(code, "no", "SOME_REASON", "workspace.saas"));
            assert_eq!(error.kind, ErrorKind::Rejected(kind), "{code:?}");
            assert_eq!(error.code, "SOME_REASON");
        }
    }

    /// The kernel's table read backwards, as this adapter does it: a data service's status
    /// with a kind's gRPC code comes back as that kind (a timeout and an internal failure
    /// under their own codes); the edge's protocol refusals never come from a data service,
    /// so their codes read as the service kind with the same code, or as internal.
    #[test]
    fn every_grpc_code_of_the_table_maps_back_as_the_kernel_reads_it() {
        for kind in ErrorKind::ALL {
            let code = Code::from_i32(kind.grpc_code());
            if code == Code::Unauthenticated {
                continue; // covered by its own tests: it depends on the domain
            }
            let error = status_to_error(with_info(code, "no", "SOME_REASON", "workspace.saas"));
            let expected =
                ErrorKind::from_grpc_code(kind.grpc_code()).unwrap_or(ErrorKind::Internal);
            assert_eq!(error.kind, expected, "{kind:?}");
            if let ErrorKind::Protocol(_) = kind {
                assert_ne!(error.kind, kind);
            } else {
                assert_eq!(error.kind, kind);
            }
            assert_eq!(error.http_status(), expected.http_status(), "{kind:?}");
        }
    }

    #[test]
    fn bad_input_keeps_every_field_violation() {
        let mut details = ErrorDetails::with_error_info(
            "INVALID_EMAIL",
            "identity.saas",
            HashMap::<String, String>::new(),
        );
        details.add_bad_request_violation("email", "email is not valid");
        details.add_bad_request_violation("password", "password is too short");
        let error = status_to_error(Status::with_error_details(
            Code::InvalidArgument,
            "email is not valid",
            details,
        ));
        assert_eq!(
            error.kind,
            ErrorKind::Rejected(RejectionKind::InvalidArgument)
        );
        assert_eq!(error.code, "INVALID_EMAIL");
        assert_eq!(
            error.fields,
            vec![
                FieldViolation {
                    field: "email".into(),
                    description: "email is not valid".into()
                },
                FieldViolation {
                    field: "password".into(),
                    description: "password is too short".into()
                },
            ]
        );
    }

    #[test]
    fn a_reused_request_id_names_the_idempotency_key() {
        let mut details = ErrorDetails::with_error_info(
            "REQUEST_ID_REUSED",
            "workspace.saas",
            HashMap::<String, String>::new(),
        );
        details.add_bad_request_violation(
            "request_id",
            "this request_id was already used for a different request",
        );
        let error = status_to_error(Status::with_error_details(
            Code::InvalidArgument,
            "this request_id was already used for a different request",
            details,
        ));
        assert_eq!(error.code, "REQUEST_ID_REUSED");
        assert_eq!(
            error.fields,
            vec![FieldViolation {
                field: "Idempotency-Key".into(),
                description: "this Idempotency-Key was already used for a different request".into()
            }]
        );
        assert!(!error.message.contains("request_id"), "{}", error.message);
    }

    #[test]
    fn a_refusal_without_error_info_is_named_after_its_code() {
        let error = status_to_error(Status::not_found("no such thing"));
        assert_eq!(error.kind, ErrorKind::Rejected(RejectionKind::NotFound));
        assert_eq!(error.code, "NOT_FOUND");
        assert_eq!(error.message, "no such thing");
        let error = status_to_error(Status::failed_precondition("not now"));
        assert_eq!(error.code, "FAILED_PRECONDITION");
    }

    #[test]
    fn deadline_exceeded_and_cancelled_are_timeouts() {
        for status in [
            Status::deadline_exceeded("late"),
            Status::cancelled("Timeout expired"),
        ] {
            let error = status_to_error(status);
            assert_eq!(error.kind, ErrorKind::Timeout);
            assert_eq!(error.code, "UPSTREAM_TIMEOUT");
            assert_eq!(error.http_status(), 504);
        }
    }

    #[test]
    fn an_unreachable_service_is_upstream_unavailable() {
        let error = status_to_error(Status::unavailable("tcp connect error: refused"));
        assert_eq!(error.kind, ErrorKind::Rejected(RejectionKind::Unavailable));
        assert_eq!(error.code, "UPSTREAM_UNAVAILABLE");
        assert!(!error.message.contains("tcp"), "{}", error.message);
        assert_eq!(error.retry_after, Some(1));
    }

    #[test]
    fn an_overloaded_service_keeps_its_reason() {
        let error = status_to_error(with_info(
            Code::Unavailable,
            "at the concurrency limit",
            "OVERLOADED",
            PLATFORM_DOMAIN,
        ));
        assert_eq!(error.kind, ErrorKind::Rejected(RejectionKind::Unavailable));
        assert_eq!(error.code, "OVERLOADED");
    }

    #[test]
    fn a_refused_service_credential_is_internal() {
        for status in [
            with_info(
                Code::Unauthenticated,
                "calls need the service credential",
                "SERVICE_CREDENTIAL_INVALID",
                PLATFORM_DOMAIN,
            ),
            Status::unauthenticated("no credential"),
        ] {
            let error = status_to_error(status);
            assert_eq!(error.kind, ErrorKind::Internal);
            assert_eq!(error.code, "INTERNAL");
            assert!(!error.message.contains("credential"), "{}", error.message);
        }
    }

    #[test]
    fn a_missing_actor_is_the_callers_refusal() {
        let error = status_to_error(with_info(
            Code::Unauthenticated,
            "sign in first",
            "ACTOR_REQUIRED",
            "workspace.saas",
        ));
        assert_eq!(
            error.kind,
            ErrorKind::Rejected(RejectionKind::Unauthenticated)
        );
        assert_eq!(error.code, "ACTOR_REQUIRED");
    }

    #[test]
    fn server_faults_are_internal_and_leak_nothing() {
        for status in [
            with_info(
                Code::Internal,
                "internal error",
                "INTERNAL",
                "identity.saas",
            ),
            Status::internal("database is on fire"),
            Status::unknown("h2 protocol error"),
            Status::data_loss("lost"),
            Status::unimplemented("no such method"),
            Status::resource_exhausted("message too large"),
            Status::out_of_range("past the end"),
        ] {
            let error = status_to_error(status);
            assert_eq!(error.kind, ErrorKind::Internal);
            assert_eq!(error.code, "INTERNAL");
            assert_eq!(error.message, "internal error");
            assert!(error.fields.is_empty());
        }
    }

    #[test]
    fn a_call_carries_the_deadline_actor_and_correlation_id() {
        let user = uuid::Uuid::now_v7();
        let ctx = Ctx::anonymous().acting_as(user);
        let request = call(&ctx, (), Duration::from_millis(1500));
        let metadata = request.metadata();
        assert_eq!(
            metadata
                .get(platform::rpc::ACTOR_METADATA)
                .and_then(|v| v.to_str().ok()),
            Some(user.to_string().as_str())
        );
        assert_eq!(
            metadata
                .get(REQUEST_ID_METADATA)
                .and_then(|v| v.to_str().ok()),
            Some(ctx.correlation_id.as_str())
        );
        assert_eq!(
            metadata.get("grpc-timeout").and_then(|v| v.to_str().ok()),
            Some("1500000u")
        );
    }

    #[test]
    fn an_anonymous_call_has_no_actor_and_bad_correlation_ids_are_left_out() {
        let ctx = Ctx {
            correlation_id: "line\nbreak".into(),
            ..Ctx::anonymous()
        };
        let request = call(&ctx, (), DEFAULT_DEADLINE);
        assert!(
            request
                .metadata()
                .get(platform::rpc::ACTOR_METADATA)
                .is_none()
        );
        assert!(request.metadata().get(REQUEST_ID_METADATA).is_none());
    }

    #[tokio::test]
    async fn bad_urls_and_tokens_are_refused_at_construction() {
        for url in [
            "not a url",
            "https://127.0.0.1:1",
            "ftp://127.0.0.1:1",
            "127.0.0.1:50051",
        ] {
            assert!(
                matches!(
                    GrpcUsers::connect_lazy(url, "token", DEFAULT_DEADLINE),
                    Err(ConnectError::InvalidUrl { .. })
                ),
                "{url}"
            );
        }
        for token in ["", "bad\ntoken"] {
            assert_eq!(
                GrpcUsers::connect_lazy("http://127.0.0.1:1", token, DEFAULT_DEADLINE).map(|_| ()),
                Err(ConnectError::InvalidToken)
            );
        }
        assert!(
            DataServices::connect_lazy(
                "http://127.0.0.1:1",
                "http://127.0.0.1:1",
                "http://127.0.0.1:2",
                "http://127.0.0.1:3",
                "token",
                DEFAULT_DEADLINE
            )
            .is_ok()
        );
    }
}
