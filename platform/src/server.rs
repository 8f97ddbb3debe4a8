//! One way to serve gRPC, for every data service and the benchmark's echo baseline alike.
//!
//! [`GrpcServer`] adds `grpc.health.v1` and reflection (v1 and v1alpha), requires the service
//! credential on every other call, sheds load past a server-wide concurrency limit (answering
//! `UNAVAILABLE` / `OVERLOADED` at once instead of queueing), sets `TCP_NODELAY` on accepted
//! connections, and drains in-flight calls on shutdown. Client deadlines (`grpc-timeout`) are
//! honoured by tonic. Message size caps ([`MAX_MESSAGE_BYTES`]) are set by each service's
//! builder, since tonic sets them on the generated service.

use std::{
    convert::Infallible,
    future::Future,
    path::{Path, PathBuf},
    pin::Pin,
    sync::Arc,
    task::{Context, Poll},
};

use base64::Engine as _;
use http::{Request, Response};
use rand::RngCore;
use subtle::ConstantTimeEq;
use tokio::sync::Semaphore;
use tonic::{
    Status,
    body::Body,
    server::NamedService,
    service::{Routes, RoutesBuilder},
    transport::server::TcpIncoming,
};
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service, util::BoxCloneSyncService};
use tracing::Instrument;

/// The largest message a service accepts or sends.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024 * 1024;

/// Settings shared by every gRPC server.
#[derive(Clone)]
pub struct ServerConfig {
    /// The bearer token every caller (except health and reflection) must present.
    pub service_token: Arc<str>,
    /// Calls in flight at once before new ones are shed.
    pub concurrency_limit: usize,
    /// Encoded `FileDescriptorSet`s served by reflection.
    pub descriptor_sets: Vec<&'static [u8]>,
}

impl ServerConfig {
    /// The default in-flight limit.
    pub const DEFAULT_CONCURRENCY_LIMIT: usize = 1024;

    /// Defaults with the given credential and descriptors.
    pub fn new(service_token: impl Into<Arc<str>>, descriptor_sets: Vec<&'static [u8]>) -> Self {
        ServerConfig {
            service_token: service_token.into(),
            concurrency_limit: Self::DEFAULT_CONCURRENCY_LIMIT,
            descriptor_sets,
        }
    }
}

/// A gRPC server under construction.
pub struct GrpcServer {
    config: ServerConfig,
    routes: RoutesBuilder,
    names: Vec<&'static str>,
}

impl GrpcServer {
    /// An empty server.
    pub fn new(config: ServerConfig) -> Self {
        GrpcServer {
            config,
            routes: RoutesBuilder::default(),
            names: Vec::new(),
        }
    }

    /// Adds a generated tonic service.
    pub fn add_service<S>(mut self, service: S) -> Self
    where
        S: Service<Request<Body>, Error = Infallible>
            + NamedService
            + Clone
            + Send
            + Sync
            + 'static,
        S::Response: axum::response::IntoResponse,
        S::Future: Send + 'static,
    {
        self.names.push(S::NAME);
        self.routes.add_service(service);
        self
    }

    /// Serves until `shutdown` completes, then refuses new calls and waits for the calls in
    /// flight to finish.
    pub async fn serve(
        self,
        listener: tokio::net::TcpListener,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        self.serve_with_local(listener, None, shutdown).await
    }

    /// Like [`Self::serve`], also answering the in-process calls of `local`
    /// ([`crate::local`]) with the same stack; on shutdown those are refused and drained too.
    pub async fn serve_with_local(
        self,
        listener: tokio::net::TcpListener,
        local: Option<crate::local::Listener>,
        shutdown: impl Future<Output = ()> + Send,
    ) -> Result<(), tonic::transport::Error> {
        let (health, health_service) = tonic_health::server::health_reporter();
        health
            .set_service_status("", tonic_health::ServingStatus::Serving)
            .await;
        for name in &self.names {
            health
                .set_service_status(name, tonic_health::ServingStatus::Serving)
                .await;
        }
        let mut routes = self.routes.routes().add_service(health_service);
        routes = add_reflection(routes, &self.config.descriptor_sets);
        let guard = GuardLayer {
            token: self.config.service_token.clone(),
            permits: Arc::new(Semaphore::new(self.config.concurrency_limit)),
        };
        if let Some(local) = &local {
            local.serve(BoxCloneSyncService::new(guard.layer(routes.clone())));
        }
        let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
        let names = self.names.clone();
        let local_calls = local.as_ref();
        let shutdown = async move {
            shutdown.await;
            if let Some(local) = local_calls {
                local.refuse();
            }
            for name in std::iter::once("").chain(names) {
                health
                    .set_service_status(name, tonic_health::ServingStatus::NotServing)
                    .await;
            }
            tracing::info!("shutting down: draining calls in flight");
        };
        let served = tonic::transport::Server::builder()
            .layer(guard)
            .add_routes(routes)
            .serve_with_incoming_shutdown(incoming, shutdown)
            .await;
        if let Some(local) = &local {
            local.stop().await;
        }
        served
    }
}

fn add_reflection(mut routes: Routes, descriptor_sets: &[&'static [u8]]) -> Routes {
    let mut v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    let mut v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET);
    for set in descriptor_sets {
        v1 = v1.register_encoded_file_descriptor_set(set);
        v1alpha = v1alpha.register_encoded_file_descriptor_set(set);
    }
    match v1.build_v1() {
        Ok(service) => routes = routes.add_service(service),
        Err(e) => tracing::error!(error = %e, "reflection v1 unavailable"),
    }
    match v1alpha.build_v1alpha() {
        Ok(service) => routes = routes.add_service(service),
        Err(e) => tracing::error!(error = %e, "reflection v1alpha unavailable"),
    }
    routes
}

/// Checks the service credential and sheds load; health and reflection stay open so probes
/// and tools work without the credential and under load.
#[derive(Clone)]
struct GuardLayer {
    token: Arc<str>,
    permits: Arc<Semaphore>,
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Guard {
            inner,
            token: self.token.clone(),
            permits: self.permits.clone(),
        }
    }
}

#[derive(Clone)]
struct Guard<S> {
    inner: S,
    token: Arc<str>,
    permits: Arc<Semaphore>,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S> Service<Request<Body>> for Guard<S>
where
    S: Service<Request<Body>, Response = Response<Body>> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<Body>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Response<Body>, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let path = request.uri().path();
        let open =
            path.starts_with("/grpc.health.v1.Health/") || path.starts_with("/grpc.reflection.");
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        if open {
            return Box::pin(inner.call(request));
        }
        if !authorized(&request, &self.token) {
            let status = platform_status(
                tonic::Code::Unauthenticated,
                "SERVICE_CREDENTIAL_INVALID",
                "calls need the service credential: authorization: Bearer <token>",
            );
            return Box::pin(async move { Ok(status.into_http()) });
        }
        let Ok(permit) = self.permits.clone().try_acquire_owned() else {
            return Box::pin(async move { Ok(overloaded().into_http()) });
        };
        // The caller's correlation id (`x-request-id`) tags every log line of this call.
        let span = tracing::info_span!(
            "rpc",
            method = path,
            request_id = request
                .headers()
                .get(REQUEST_ID_HEADER)
                .and_then(|v| v.to_str().ok())
                .unwrap_or("-"),
        );
        Box::pin(
            async move {
                let response = inner.call(request).await;
                drop(permit);
                tracing::debug!(target: CALLS_LOG_TARGET, "served");
                response
            }
            .instrument(span),
        )
    }
}

/// The shortest and longest delay an overloaded server asks a caller to wait before it tries
/// again (`grpc-retry-pushback-ms`, gRFC A6), drawn evenly between them per shed call.
///
/// Why these: a shed call means the server already holds its full concurrency limit of calls;
/// at a few milliseconds per call (README, "Calls between services") 50 ms lets all of them
/// finish several times over, so a retry after it finds room rather than shedding again, yet
/// stays far inside a 2 s attempt and a 5 s budget. The spread of 100 ms keeps the callers shed
/// in one burst from coming back in one burst. The caller's own backoff (25 ms, doubling) would
/// retry sooner, into the same overload.
pub const OVERLOAD_PUSHBACK_MS: std::ops::RangeInclusive<u64> = 50..=150;

/// `UNAVAILABLE` / `OVERLOADED`, asking the caller to wait a jittered
/// [`OVERLOAD_PUSHBACK_MS`] before trying again.
fn overloaded() -> Status {
    use rand::Rng as _;
    let mut status = platform_status(
        tonic::Code::Unavailable,
        "OVERLOADED",
        "the server is at its concurrency limit; retry with backoff",
    );
    let millis = rand::thread_rng().gen_range(OVERLOAD_PUSHBACK_MS);
    status.metadata_mut().insert(
        PUSHBACK_HEADER,
        tonic::metadata::MetadataValue::from(millis),
    );
    status
}

/// The metadata key by which a server tells a caller how long to wait before trying again.
pub const PUSHBACK_HEADER: &str = "grpc-retry-pushback-ms";

/// The log target of one debug line per application call a server answered (inside the
/// call's `rpc` span, so it names the method), and of what a process's calls to its peers
/// took: `SAAS_LOG=warn,saas::calls=debug` shows how a process's share of its context's
/// calls moves when replicas come and go, from the process itself.
pub const CALLS_LOG_TARGET: &str = "saas::calls";

/// The metadata key carrying a caller's correlation id, for logs.
pub const REQUEST_ID_HEADER: &str = "x-request-id";

fn platform_status(code: tonic::Code, reason: &str, message: &str) -> Status {
    Status::with_error_details(
        code,
        message,
        ErrorDetails::with_error_info(
            reason,
            "platform.saas",
            std::collections::HashMap::<String, String>::new(),
        ),
    )
}

fn authorized(request: &Request<Body>, token: &str) -> bool {
    request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .is_some_and(|presented| bool::from(presented.as_bytes().ct_eq(token.as_bytes())))
}

/// Adds the service credential to every outgoing call.
#[derive(Clone)]
pub struct ServiceCredential {
    header: tonic::metadata::MetadataValue<tonic::metadata::Ascii>,
}

impl ServiceCredential {
    /// A credential from the shared token; `None` when the token is not valid header text.
    pub fn new(token: &str) -> Option<Self> {
        format!("Bearer {token}")
            .parse()
            .ok()
            .map(|header| ServiceCredential { header })
    }
}

impl tonic::service::Interceptor for ServiceCredential {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.header.clone());
        Ok(request)
    }
}

/// The service token: from `SAAS_SERVICE_TOKEN` if given, else read from (or generated into)
/// `<data dir>/service-token`, readable by the owner only. Returns the token and, when it
/// came from a file, the file's path.
pub fn service_token(
    configured: Option<&str>,
    data_dir: &Path,
) -> std::io::Result<(String, Option<PathBuf>)> {
    if let Some(token) = configured.filter(|t| !t.is_empty()) {
        return Ok((token.to_owned(), None));
    }
    let path = data_dir.join("service-token");
    match std::fs::read_to_string(&path) {
        Ok(token) if !token.trim().is_empty() => return Ok((token.trim().to_owned(), Some(path))),
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    std::fs::create_dir_all(data_dir)?;
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    write_private(&path, &token)?;
    Ok((token, Some(path)))
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

/// Completes on SIGTERM or Ctrl-C. The handlers are installed when this is called, not when
/// the future is first polled, so call it before announcing that the server is up.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send {
    #[cfg(unix)]
    let term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate());
    async move {
        #[cfg(unix)]
        {
            match term {
                Ok(mut term) => {
                    tokio::select! {
                        _ = term.recv() => {},
                        _ = tokio::signal::ctrl_c() => {},
                    }
                }
                Err(e) => {
                    tracing::error!(error = %e, "cannot listen for SIGTERM");
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A service whose calls stay in flight until `release` has a permit, then fail.
    #[derive(Clone)]
    struct Hold {
        entered: Arc<Semaphore>,
        release: Arc<Semaphore>,
    }

    impl NamedService for Hold {
        const NAME: &'static str = "test.Hold";
    }

    impl Service<Request<Body>> for Hold {
        type Response = Response<Body>;
        type Error = Infallible;
        type Future = BoxFuture<Result<Response<Body>, Infallible>>;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: Request<Body>) -> Self::Future {
            let (entered, release) = (self.entered.clone(), self.release.clone());
            Box::pin(async move {
                entered.add_permits(1);
                if let Ok(permit) = release.acquire().await {
                    permit.forget();
                }
                Ok(Status::unimplemented("held").into_http())
            })
        }
    }

    #[tokio::test]
    async fn a_server_over_its_limit_sheds_with_a_jittered_pushback() {
        let hold = Hold {
            entered: Arc::new(Semaphore::new(0)),
            release: Arc::new(Semaphore::new(0)),
        };
        let mut config = ServerConfig::new("token", Vec::new());
        config.concurrency_limit = 1;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(GrpcServer::new(config).add_service(hold.clone()).serve(
            listener,
            async move {
                let _ = stopped.await;
            },
        ));
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let call = |channel: tonic::transport::Channel| async move {
            let mut client = tonic::client::Grpc::new(channel);
            client
                .ready()
                .await
                .map_err(|e| Status::unknown(e.to_string()))?;
            let mut request = tonic::Request::new(());
            request
                .metadata_mut()
                .insert("authorization", "Bearer token".parse().unwrap());
            client
                .unary::<(), (), _>(
                    request,
                    http::uri::PathAndQuery::from_static("/test.Hold/Hold"),
                    tonic_prost::ProstCodec::default(),
                )
                .await
        };

        // The one permit is taken by a call the service holds.
        let held = tokio::spawn(call(channel.clone()));
        let _entered = hold.entered.acquire().await.unwrap();
        let mut pushbacks = std::collections::BTreeSet::new();
        for _ in 0..20 {
            let status = call(channel.clone()).await.unwrap_err();
            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
            let reason = status
                .get_error_details()
                .error_info()
                .map(|i| i.reason.clone());
            assert_eq!(reason.as_deref(), Some("OVERLOADED"));
            let millis: u64 = status
                .metadata()
                .get(PUSHBACK_HEADER)
                .expect("a pushback")
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(OVERLOAD_PUSHBACK_MS.contains(&millis), "{millis}");
            pushbacks.insert(millis);
        }
        assert!(pushbacks.len() > 1, "jittered: {pushbacks:?}");

        // Once the held call ends, the next one is served (and has no pushback).
        hold.release.add_permits(2);
        let status = held.await.unwrap().unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        let status = call(channel.clone()).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::Unimplemented);
        assert!(status.metadata().get(PUSHBACK_HEADER).is_none());
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
    }

    #[test]
    fn generated_token_is_kept_and_reused() {
        let dir = std::env::temp_dir().join(format!("platform-token-{}", uuid::Uuid::now_v7()));
        let (first, path) = service_token(None, &dir).unwrap();
        let (second, _) = service_token(None, &dir).unwrap();
        assert_eq!(first, second);
        assert!(first.len() >= 43);
        assert_eq!(path, Some(dir.join("service-token")));
        let (configured, path) = service_token(Some("abc"), &dir).unwrap();
        assert_eq!((configured.as_str(), path), ("abc", None));
        std::fs::remove_dir_all(dir).ok();
    }
}
