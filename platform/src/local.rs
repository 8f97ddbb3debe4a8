//! **In-process transport:** the embedded process's application services call the data
//! services it hosts through in-memory pipes instead of loopback sockets.
//!
//! Nothing else changes: the calls go through the same tonic client (the typed client's
//! retries, the balancer, the service credential) and the same server stack (HTTP/2, the
//! guard layer, shedding, health) as in the split topology, so both run the same code; only
//! the bytes travel through a [`tokio::io::duplex`] pipe rather than the kernel's TCP stack.
//! [`pipe`] makes the two ends: the [`Dialer`] gives a [`PeerChannel`] whose every new
//! connection is a fresh pipe, and the server takes the other end of each from
//! [`Incoming`] beside its TCP listener ([`crate::server::GrpcServer::serve_with_local`]).

use std::{
    io,
    pin::Pin,
    task::{Context, Poll},
};

use hyper_util::rt::TokioIo;
use tokio::{
    io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf},
    net::TcpStream,
    sync::mpsc,
};
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::discovery::{PeerChannel, balance::Balanced, endpoint};

/// The URL the in-process replica is known by (in logs and the balancer).
pub const LOCAL_URL: &str = "http://in-process";

/// Bytes a pipe buffers each way before the writer waits (a few HTTP/2 frames).
const PIPE_BYTES: usize = 256 * 1024;

/// Makes the two ends of the in-process transport.
pub fn pipe() -> (Dialer, Incoming) {
    let (connections, accepted) = mpsc::unbounded_channel();
    (Dialer { connections }, Incoming { accepted })
}

/// The client end: opens in-memory connections to this process's gRPC server.
#[derive(Clone)]
pub struct Dialer {
    connections: mpsc::UnboundedSender<DuplexStream>,
}

impl Dialer {
    /// A channel to this process's gRPC server, connected lazily like a remote one. Once the
    /// server has stopped, a new connection is refused (`ConnectionRefused`), as a closed
    /// port would be.
    pub fn channel(&self) -> Result<PeerChannel, String> {
        let connections = self.connections.clone();
        let channel =
            endpoint(LOCAL_URL)?.connect_with_connector_lazy(tower::service_fn(move |_| {
                let connections = connections.clone();
                async move {
                    let (client, server) = tokio::io::duplex(PIPE_BYTES);
                    connections.send(server).map_err(|_| {
                        io::Error::new(
                            io::ErrorKind::ConnectionRefused,
                            "the in-process gRPC server has stopped",
                        )
                    })?;
                    Ok::<_, io::Error>(TokioIo::new(client))
                }
            }));
        Ok(Balanced::single(LOCAL_URL, channel))
    }
}

/// The server end: the pipes the dialer opened, to serve beside the TCP listener.
pub struct Incoming {
    pub(crate) accepted: mpsc::UnboundedReceiver<DuplexStream>,
}

/// A connection the gRPC server serves: accepted from its TCP listener or opened in process.
pub(crate) enum Connection {
    Tcp(TcpStream),
    Local(DuplexStream),
}

impl Connected for Connection {
    /// The peer's addresses for a TCP connection; `None` in process.
    type ConnectInfo = Option<TcpConnectInfo>;

    fn connect_info(&self) -> Self::ConnectInfo {
        match self {
            Connection::Tcp(stream) => Some(stream.connect_info()),
            Connection::Local(_) => None,
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Tcp(stream) => Pin::new(stream).poll_read(cx, buf),
            Connection::Local(stream) => Pin::new(stream).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Tcp(stream) => Pin::new(stream).poll_write(cx, buf),
            Connection::Local(stream) => Pin::new(stream).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Connection::Tcp(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Connection::Local(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Connection::Tcp(stream) => stream.is_write_vectored(),
            Connection::Local(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Tcp(stream) => Pin::new(stream).poll_flush(cx),
            Connection::Local(stream) => Pin::new(stream).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Connection::Tcp(stream) => Pin::new(stream).poll_shutdown(cx),
            Connection::Local(stream) => Pin::new(stream).poll_shutdown(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

    use super::*;
    use crate::server::{GrpcServer, ServerConfig};

    async fn healthy<S>(channel: S) -> Result<i32, tonic::Status>
    where
        S: tonic::client::GrpcService<tonic::body::Body>,
        S::Error: Into<tonic::codegen::StdError>,
        S::ResponseBody: tonic::codegen::Body<Data = tonic::codegen::Bytes> + Send + 'static,
        <S::ResponseBody as tonic::codegen::Body>::Error: Into<tonic::codegen::StdError> + Send,
    {
        HealthClient::new(channel)
            .check(HealthCheckRequest::default())
            .await
            .map(|r| r.into_inner().status)
    }

    #[tokio::test]
    async fn the_server_answers_in_process_and_over_tcp_at_once_and_refuses_once_stopped() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (dialer, incoming) = pipe();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(
            GrpcServer::new(ServerConfig::new("token", Vec::new())).serve_with_local(
                listener,
                Some(incoming),
                async move {
                    let _ = stopped.await;
                },
            ),
        );
        let serving = tonic_health::ServingStatus::Serving as i32;
        let local = dialer.channel().unwrap();
        assert_eq!(healthy(local.clone()).await.unwrap(), serving);
        let tcp = tonic::transport::Endpoint::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        assert_eq!(healthy(tcp).await.unwrap(), serving);

        drop(local);
        stop.send(()).unwrap();
        server.await.unwrap().unwrap();
        // A new connection after the server stopped is refused, like a closed port.
        let error = healthy(dialer.channel().unwrap()).await.unwrap_err();
        assert_eq!(error.code(), tonic::Code::Unavailable, "{error:?}");
    }
}
