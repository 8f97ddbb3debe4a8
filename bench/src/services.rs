//! The servers under test, started in-process exactly as the launcher starts them, and their
//! clients, set up exactly as the harness and the application services set them up.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use platform::{
    db::PoolSize,
    server::{GrpcServer, MAX_MESSAGE_BYTES, ServerConfig, ServiceCredential},
};
use prost::Message as _;
use saas_proto::{
    bench::v1::{
        EchoRequest, EchoResponse,
        echo_service_server::{EchoService, EchoServiceServer},
    },
    identity::v1::{self as pb, user_service_client::UserServiceClient},
    workspace::v1::workspace_service_client::WorkspaceServiceClient,
};
use tokio::{sync::oneshot, task::JoinHandle};
use tonic::{
    Request, Response, Status, metadata::AsciiMetadataValue,
    service::interceptor::InterceptedService, transport::Channel,
};

use crate::BoxError;

/// The service credential of every server the benchmark starts.
pub const SERVICE_TOKEN: &str = "bench-service-token-0123456789abcdef";

/// A typed client carrying the service credential.
pub type UserClient = UserServiceClient<InterceptedService<Channel, ServiceCredential>>;
/// A `WorkspaceService` client, set up the same way.
pub type WorkspaceClient = WorkspaceServiceClient<InterceptedService<Channel, ServiceCredential>>;

/// E0's service: answers with the payload it was sent, nothing else.
#[derive(Debug, Default, Clone, Copy)]
pub struct Echo;

#[tonic::async_trait]
impl EchoService for Echo {
    async fn echo(&self, request: Request<EchoRequest>) -> Result<Response<EchoResponse>, Status> {
        Ok(Response::new(EchoResponse {
            payload: request.into_inner().payload,
        }))
    }
}

/// The echo service with the same message caps as the data services.
pub fn echo_service() -> EchoServiceServer<Echo> {
    EchoServiceServer::new(Echo)
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES)
}

/// The largest payload whose `EchoResponse` encodes to at most `encoded` bytes, so E0 echoes a
/// message as large as the response it is compared with.
pub fn echo_payload_len(encoded: usize) -> usize {
    (0..=encoded)
        .rev()
        .find(|&len| {
            EchoResponse {
                payload: vec![0; len],
            }
            .encoded_len()
                <= encoded
        })
        .unwrap_or(0)
}

/// The server config every data service gets from the launcher (default concurrency limit).
pub fn server_config() -> ServerConfig {
    ServerConfig::new(SERVICE_TOKEN, vec![saas_proto::FILE_DESCRIPTOR_SET])
}

/// A `GrpcServer` serving on 127.0.0.1:0 in this process.
pub struct Served {
    /// Where it listens.
    pub addr: SocketAddr,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl Served {
    /// Serves `server` on an ephemeral loopback port.
    pub async fn start(server: GrpcServer) -> Result<Served, BoxError> {
        Served::start_with_local(server, None).await
    }

    /// Like [`Served::start`], also answering the in-process calls of `local`, as the
    /// launcher does for the edge it hosts.
    pub async fn start_with_local(
        server: GrpcServer,
        local: Option<platform::local::Listener>,
    ) -> Result<Served, BoxError> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (shutdown, signal) = oneshot::channel::<()>();
        let task = tokio::spawn(server.serve_with_local(listener, local, async {
            let _ = signal.await;
        }));
        Ok(Served {
            addr,
            shutdown,
            task,
        })
    }

    /// Stops serving and waits for the calls in flight.
    pub async fn stop(self) -> Result<(), BoxError> {
        let _ = self.shutdown.send(());
        self.task.await??;
        Ok(())
    }
}

/// The Identity data service over `url`, as the launcher builds it (system clock), with cheap
/// password hashing for the fixtures. Also returns its database handle, to close the pool.
pub async fn start_identity(
    url: &str,
    pool: PoolSize,
) -> Result<(Served, sea_orm::DatabaseConnection), BoxError> {
    let store = open_identity(url, pool).await?;
    let db = store.db().clone();
    Ok((serve_identity(store).await?, db))
}

/// The Identity store over `url`, as the launcher opens it (system clock).
pub async fn open_identity(
    url: &str,
    pool: PoolSize,
) -> Result<identity_data::UserStore, BoxError> {
    Ok(identity_data::open(url, pool, Arc::new(platform::SystemClock)).await?)
}

/// The Identity data service over an opened `store`, with cheap password hashing for the
/// fixtures.
pub async fn serve_identity(store: identity_data::UserStore) -> Result<Served, BoxError> {
    let hasher = identity_data::Argon2Hasher::new(identity_data::Argon2Params::INSECURE_FAST)?;
    let server = GrpcServer::new(server_config())
        .add_service(identity_data::user_service(store, Arc::new(hasher)));
    Served::start(server).await
}

/// How often the launcher's Workspace sweeper looks for due invitations (its default).
const SWEEP_INTERVAL: Duration = Duration::from_secs(30);

/// The Workspace data service, as the launcher runs it (sweeper and idempotency purge
/// included), and its database handle.
pub struct WorkspaceServer {
    /// Where it listens.
    pub served: Served,
    db: sea_orm::DatabaseConnection,
    background: Vec<JoinHandle<()>>,
}

impl WorkspaceServer {
    /// The Workspace data service over `url` (system clock).
    pub async fn start(url: &str, pool: PoolSize) -> Result<WorkspaceServer, BoxError> {
        let store = workspace_data::open(url, pool, Arc::new(platform::SystemClock)).await?;
        let db = store.db().clone();
        let background = vec![
            store.spawn_idempotency_purge(),
            store.spawn_sweeper(SWEEP_INTERVAL),
        ];
        let server =
            GrpcServer::new(server_config()).add_service(workspace_data::workspace_service(store));
        Ok(WorkspaceServer {
            served: Served::start(server).await?,
            db,
            background,
        })
    }

    /// Stops serving, stops the background tasks and closes the pool.
    pub async fn stop(self) -> Result<(), BoxError> {
        for task in &self.background {
            task.abort();
        }
        self.served.stop().await?;
        self.db.close().await?;
        Ok(())
    }
}

/// One HTTP/2 connection to `addr`.
pub async fn connect(addr: SocketAddr) -> Result<Channel, BoxError> {
    Ok(Channel::from_shared(format!("http://{addr}"))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await?)
}

fn credential() -> Result<ServiceCredential, BoxError> {
    ServiceCredential::new(SERVICE_TOKEN).ok_or_else(|| "the token is not header text".into())
}

/// A `UserService` client over one connection.
pub async fn user_client(addr: SocketAddr) -> Result<UserClient, BoxError> {
    Ok(UserServiceClient::with_interceptor(
        connect(addr).await?,
        credential()?,
    ))
}

/// A `WorkspaceService` client over one connection.
pub async fn workspace_client(addr: SocketAddr) -> Result<WorkspaceClient, BoxError> {
    Ok(WorkspaceServiceClient::with_interceptor(
        connect(addr).await?,
        credential()?,
    ))
}

/// The `x-saas-actor` value naming the acting user `id`.
pub fn actor_value(id: &str) -> Result<AsciiMetadataValue, BoxError> {
    Ok(id.parse()?)
}

/// `message` sent on behalf of `actor` (see `platform::rpc::ACTOR_METADATA`).
pub fn as_actor<T>(message: T, actor: &AsciiMetadataValue) -> Request<T> {
    let mut request = Request::new(message);
    request
        .metadata_mut()
        .insert(platform::rpc::ACTOR_METADATA, actor.clone());
    request
}

/// The measured phases' client (P1 and the E0 right before each, and P2): unary calls whose
/// answers are taken as their encoded bytes, not decoded into messages.
///
/// Client and server share the machine's two cores, so what the client spends is taken from
/// the server. E0's answer is one field of bytes; a `GetWorkspace` answer is 150 nested
/// messages and their strings, and decoding them was a quarter of the samples of the P1.workspace
/// phase, more than the service's whole handler: a typed client made the ratio measure the
/// client's decoder as much as the server. With this client both sides of the ratio pay the
/// same for an answer of the same size (a copy of its bytes). The server, its stack and the
/// connection are unchanged; [`check_first_answer`] decodes one answer per worker to show
/// that the calls are answered with what they ask for. An `InviteMember` answer holds a
/// workspace too (its basic view, 3 kB), so P2's commands are called the same way.
#[derive(Clone)]
pub struct RawCaller {
    grpc: tonic::client::Grpc<InterceptedService<Channel, ServiceCredential>>,
    path: tonic::codegen::http::uri::PathAndQuery,
}

impl RawCaller {
    /// A reader of the method at `path` (`/package.Service/Method`) on its own connection.
    pub async fn connect(addr: SocketAddr, path: &'static str) -> Result<RawCaller, BoxError> {
        let channel = InterceptedService::new(connect(addr).await?, credential()?);
        Ok(RawCaller {
            grpc: tonic::client::Grpc::new(channel),
            path: tonic::codegen::http::uri::PathAndQuery::from_static(path),
        })
    }

    /// Calls the method with `message` (or a request of it, with metadata); the answer's
    /// encoded bytes.
    pub async fn call<M>(
        &mut self,
        message: impl tonic::IntoRequest<M>,
    ) -> Result<prost::bytes::Bytes, Status>
    where
        M: prost::Message + Send + Sync + 'static,
    {
        self.grpc
            .ready()
            .await
            .map_err(|e| Status::unavailable(e.to_string()))?;
        self.grpc
            .unary(
                message.into_request(),
                self.path.clone(),
                RawCodec::default(),
            )
            .await
            .map(Response::into_inner)
    }
}

/// Decodes an answer of [`RawCaller`] as `T` and checks it with `is_right`: an error names
/// what came back instead.
pub fn check_first_answer<T: prost::Message + Default + std::fmt::Debug>(
    bytes: &[u8],
    is_right: impl FnOnce(&T) -> bool,
) -> Result<(), String> {
    let answer = T::decode(bytes).map_err(|e| format!("an answer did not decode: {e}"))?;
    if is_right(&answer) {
        Ok(())
    } else {
        Err(format!("a wrong answer: {answer:?}"))
    }
}

/// Encodes `M` as prost does; decodes an answer as its bytes.
struct RawCodec<M>(std::marker::PhantomData<M>);

impl<M> Default for RawCodec<M> {
    fn default() -> Self {
        RawCodec(std::marker::PhantomData)
    }
}

impl<M: prost::Message + Send + 'static> tonic::codec::Codec for RawCodec<M> {
    type Encode = M;
    type Decode = prost::bytes::Bytes;
    type Encoder = tonic_prost::ProstEncoder<M>;
    type Decoder = BytesDecoder;

    fn encoder(&mut self) -> Self::Encoder {
        tonic_prost::ProstEncoder::default()
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesDecoder
    }
}

/// Takes a message's bytes as they are.
struct BytesDecoder;

impl tonic::codec::Decoder for BytesDecoder {
    type Item = prost::bytes::Bytes;
    type Error = Status;

    fn decode(
        &mut self,
        buf: &mut tonic::codec::DecodeBuf<'_>,
    ) -> Result<Option<Self::Item>, Self::Error> {
        use prost::bytes::Buf as _;
        Ok(Some(buf.copy_to_bytes(buf.remaining())))
    }
}

/// Registrations in flight while seeding users.
const REGISTRARS: usize = 64;

/// Registers `count` users through `RegisterUser` ([`REGISTRARS`] at a time) and returns them
/// in order, as the service rendered them.
pub async fn register_users(client: &UserClient, count: usize) -> Result<Vec<pb::User>, BoxError> {
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::with_capacity(REGISTRARS);
    for _ in 0..REGISTRARS.min(count) {
        let mut client = client.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut made = Vec::new();
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    break;
                }
                let user = client
                    .register_user(pb::RegisterUserRequest {
                        request_id: uuid::Uuid::now_v7().to_string(),
                        email: format!("bench-user-{i}@example.com"),
                        display_name: format!("Bench User {i}"),
                        password: "correct horse battery staple".into(),
                        ..Default::default()
                    })
                    .await?
                    .into_inner();
                made.push((i, user));
            }
            Ok::<_, BoxError>(made)
        }));
    }
    let mut users = Vec::with_capacity(count);
    for task in tasks {
        users.extend(task.await??);
    }
    users.sort_by_key(|(i, _)| *i);
    Ok(users.into_iter().map(|(_, user)| user).collect())
}

/// An index drawn uniformly from `0..n` (0 when `n` is 0): which fixture a read asks for.
pub fn uniform(n: usize) -> usize {
    rand::Rng::gen_range(&mut rand::thread_rng(), 0..n.max(1))
}

/// The aggregate (of `total`) of the `sequence`-th command of `worker` (of `workers`): its
/// own aggregates `worker, worker + workers, ...` in turn, so no two commands in flight write
/// one aggregate. With fewer aggregates than workers, workers share them.
pub fn spread(worker: usize, sequence: u64, workers: usize, total: usize) -> usize {
    let workers = workers.max(1);
    let total = total.max(1);
    if total < workers {
        return worker % total;
    }
    let first = worker % workers;
    let mine = (total - first).div_ceil(workers) as u64;
    first + workers * (sequence % mine) as usize
}

/// An unconditional `ChangeDisplayName` with a fresh request id.
pub fn change_display_name(id: &str, worker: usize, sequence: u64) -> pb::ChangeDisplayNameRequest {
    pb::ChangeDisplayNameRequest {
        id: id.to_owned(),
        request_id: uuid::Uuid::now_v7().to_string(),
        etag: String::new(),
        display_name: display_name(worker, sequence),
    }
}

/// The display name a command sets (the same in the service run and the raw baseline).
pub fn display_name(worker: usize, sequence: u64) -> String {
    format!("Bench User {worker} #{sequence}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_raw_reader_gets_the_encoded_answer_and_the_check_tells_a_wrong_one() {
        let served = Served::start(GrpcServer::new(server_config()).add_service(echo_service()))
            .await
            .unwrap();
        let mut reader = RawCaller::connect(served.addr, "/saas.bench.v1.EchoService/Echo")
            .await
            .unwrap();
        let payload = vec![7u8; 1_000];
        let answer = reader
            .call(EchoRequest {
                payload: payload.clone(),
            })
            .await
            .unwrap();
        let expected = EchoResponse {
            payload: payload.clone(),
        };
        assert_eq!(answer.as_ref(), expected.encode_to_vec().as_slice());
        assert_eq!(
            check_first_answer(&answer, |e: &EchoResponse| e.payload == payload),
            Ok(())
        );
        assert!(check_first_answer(&answer, |e: &EchoResponse| e.payload.is_empty()).is_err());
        assert!(check_first_answer::<EchoResponse>(&[0xff, 0xff], |_| true).is_err());
        served.stop().await.unwrap();
    }

    #[test]
    fn echo_payload_fills_the_response_size_exactly() {
        for encoded in [2usize, 100, 129, 130, 131, 300, 16_385] {
            let len = echo_payload_len(encoded);
            let response = EchoResponse {
                payload: vec![0; len],
            };
            assert!(response.encoded_len() <= encoded);
            let bigger = EchoResponse {
                payload: vec![0; len + 1],
            };
            assert!(bigger.encoded_len() > encoded);
        }
    }

    #[test]
    fn each_worker_cycles_through_its_own_aggregates() {
        let (workers, total) = (64, 1_000);
        let mut seen = std::collections::HashSet::new();
        for worker in 0..workers {
            let mine: std::collections::HashSet<usize> = (0..100)
                .map(|sequence| spread(worker, sequence, workers, total))
                .collect();
            assert!(mine.iter().all(|&i| i % workers == worker && i < total));
            assert!(
                seen.is_disjoint(&mine),
                "worker {worker} shares a workspace"
            );
            seen.extend(mine);
        }
        assert_eq!(seen.len(), total, "every workspace gets invites");
        assert_eq!(spread(3, 0, 64, 1_000), 3);
        assert_eq!(spread(3, 1, 64, 1_000), 67);
        assert_eq!(
            spread(3, 16, 64, 1_000),
            3,
            "16 workspaces, then round again"
        );
        assert_eq!(spread(5, 7, 64, 3), 2, "fewer workspaces than workers");
        assert_eq!(spread(5, 7, 0, 0), 0, "zero counts as one");
    }
}
