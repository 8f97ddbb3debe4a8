use std::{sync::Arc, time::Duration};

use http_body_util::BodyExt as _;
use tokio::sync::{Semaphore, oneshot};
use tonic::{Status, server::NamedService};
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

use super::*;
use crate::server::{GrpcServer, ServerConfig};

const TOKEN: &str = "token";
const HOLD_PATH: &str = "/test.Hold/Hold";

async fn healthy(channel: PeerChannel) -> Result<i32, Status> {
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|r| r.into_inner().status)
}

/// A service whose calls answer at once with headers and then keep their body open until
/// `release` has a permit (`entered` gets one per call).
#[derive(Clone)]
struct Hold {
    entered: Arc<Semaphore>,
    release: Arc<Semaphore>,
    /// Whether the wait is for the answer (`true`) or, after the headers, for the body's end.
    before_headers: bool,
}

impl Hold {
    fn new(before_headers: bool) -> Hold {
        Hold {
            entered: Arc::new(Semaphore::new(0)),
            release: Arc::new(Semaphore::new(0)),
            before_headers,
        }
    }
}

impl NamedService for Hold {
    const NAME: &'static str = "test.Hold";
}

impl tower::Service<Request<Body>> for Hold {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Request<Body>) -> Self::Future {
        let hold = self.clone();
        Box::pin(async move {
            hold.entered.add_permits(1);
            let release = hold.release.clone();
            let released = async move {
                if let Ok(permit) = release.acquire().await {
                    permit.forget();
                }
            };
            if hold.before_headers {
                released.await;
                return Ok(Status::unimplemented("held").into_http());
            }
            let body = futures::stream::once(async move {
                released.await;
                Ok::<_, Status>(Frame::data(tonic::codegen::Bytes::from_static(b"end")))
            });
            Ok(Response::new(Body::new(http_body_util::StreamBody::new(
                body,
            ))))
        })
    }
}

use std::future::Future;

/// A server with `hold` on a loopback port and in process, stopped through the sender.
fn serve(
    hold: Hold,
) -> (
    Dialer,
    oneshot::Sender<()>,
    tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
    std::net::SocketAddr,
) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    let listener = tokio::net::TcpListener::from_std(listener).unwrap();
    let (dialer, local) = pipe();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        GrpcServer::new(ServerConfig::new(TOKEN, Vec::new()))
            .add_service(hold)
            .serve_with_local(listener, Some(local), async move {
                let _ = stopped.await;
            }),
    );
    (dialer, stop, server, addr)
}

/// A raw call of the held method, with the credential and an optional deadline.
async fn call_hold(
    channel: PeerChannel,
    timeout: Option<Duration>,
) -> Result<Response<Body>, BoxError> {
    let mut request = Request::builder()
        .method("POST")
        .uri(format!("{LOCAL_URL}{HOLD_PATH}"))
        .header("content-type", "application/grpc")
        .header("authorization", format!("Bearer {TOKEN}"));
    if let Some(timeout) = timeout {
        request = request.header("grpc-timeout", format!("{}m", timeout.as_millis()));
    }
    channel.oneshot(request.body(Body::empty()).unwrap()).await
}

fn refused_as_a_closed_port(error: &BoxError) -> bool {
    crate::discovery::balance::refused(error.as_ref())
}

#[tokio::test]
async fn the_server_answers_in_process_and_over_tcp_at_once_and_refuses_once_stopped() {
    let (dialer, stop, server, addr) = serve(Hold::new(true));
    let serving = tonic_health::ServingStatus::Serving as i32;
    assert_eq!(healthy(dialer.channel()).await.unwrap(), serving);
    let tcp = crate::discovery::single_channel(&format!("http://{addr}")).unwrap();
    assert_eq!(healthy(tcp).await.unwrap(), serving);

    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
    // A call after the server stopped is refused, like a closed port: the typed client
    // sees UNAVAILABLE, the balancer a call that never left.
    let error = healthy(dialer.channel()).await.unwrap_err();
    assert_eq!(error.code(), tonic::Code::Unavailable, "{error:?}");
    let error = call_hold(dialer.channel(), None).await.unwrap_err();
    assert!(refused_as_a_closed_port(&error), "{error:?}");
}

#[tokio::test]
async fn the_in_process_stack_checks_the_service_credential() {
    let (dialer, stop, server, _) = serve(Hold::new(true));
    let request = Request::builder()
        .method("POST")
        .uri(format!("{LOCAL_URL}{HOLD_PATH}"))
        .header("content-type", "application/grpc")
        .body(Body::empty())
        .unwrap();
    let response = dialer.channel().oneshot(request).await.unwrap();
    let status = Status::from_header_map(response.headers()).expect("a status");
    assert_eq!(status.code(), tonic::Code::Unauthenticated);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_call_made_before_the_server_starts_waits_for_it() {
    let (dialer, local) = pipe();
    let early = tokio::spawn(healthy(dialer.channel()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let server = tokio::spawn(
        GrpcServer::new(ServerConfig::new(TOKEN, Vec::new())).serve_with_local(
            listener,
            Some(local),
            async move {
                let _ = stopped.await;
            },
        ),
    );
    let serving = tonic_health::ServingStatus::Serving as i32;
    assert_eq!(early.await.unwrap().unwrap(), serving);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn an_attempt_past_its_deadline_fails_as_over_a_channel_and_the_server_still_stops() {
    let hold = Hold::new(true);
    let (dialer, stop, server, _) = serve(hold.clone());
    let error = call_hold(dialer.channel(), Some(Duration::from_millis(50)))
        .await
        .unwrap_err();
    let status = Status::from_error(error);
    assert_eq!(status.code(), tonic::Code::Cancelled, "{status:?}");
    // The abandoned call was dropped with its future: nothing holds the stop.
    assert_eq!(hold.entered.available_permits(), 1);
    stop.send(()).unwrap();
    server.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_stop_refuses_new_calls_and_waits_for_an_open_response_body() {
    let hold = Hold::new(false);
    let (dialer, stop, server, _) = serve(hold.clone());
    let response = call_hold(dialer.channel(), None).await.unwrap();
    assert_eq!(response.status(), http::StatusCode::OK);
    let mut body = response.into_body();

    stop.send(()).unwrap();
    // Once the stop has begun, a new call is refused...
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match call_hold(dialer.channel(), Some(Duration::from_secs(5))).await {
            Err(error) if refused_as_a_closed_port(&error) => break,
            Ok(mut other) => {
                // Admitted before the stop: let it end.
                hold.release.add_permits(1);
                let _ = other.body_mut().frame().await;
            }
            Err(error) => panic!("neither admitted nor refused: {error:?}"),
        }
        assert!(tokio::time::Instant::now() < deadline, "never refused");
        tokio::task::yield_now().await;
    }
    // ...while the body admitted before it still holds the server open.
    assert!(!server.is_finished());

    hold.release.add_permits(1);
    let frame = body.frame().await.expect("a frame").expect("data");
    assert_eq!(frame.into_data().unwrap().as_ref(), b"end");
    drop(body);
    tokio::time::timeout(Duration::from_secs(30), server)
        .await
        .expect("the server stops once the body has ended")
        .unwrap()
        .unwrap();
}

#[test]
fn grpc_timeouts_parse_in_every_unit_and_nothing_else_does() {
    let parse = |value: &'static str| {
        let mut headers = http::HeaderMap::new();
        headers.insert("grpc-timeout", http::HeaderValue::from_static(value));
        grpc_timeout(&headers)
    };
    assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
    assert_eq!(parse("3M"), Some(Duration::from_secs(180)));
    assert_eq!(parse("4S"), Some(Duration::from_secs(4)));
    assert_eq!(parse("1999m"), Some(Duration::from_millis(1999)));
    assert_eq!(parse("5u"), Some(Duration::from_micros(5)));
    assert_eq!(parse("99999999n"), Some(Duration::from_nanos(99_999_999)));
    for bad in ["", "m", "123456789m", "12x", "-1m", "1.5S"] {
        assert_eq!(parse(bad), None, "{bad:?}");
    }
    assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
}
