//! **In-process transport:** the embedded process's application services call the data
//! services it hosts by handing each request to the server's own tower stack: no socket, no
//! pipe, no HTTP/2 framing.
//!
//! Everything else is the split topology's code: the calls go through the same typed client
//! (its retries, deadlines and service credential) and the same balancer ([`PeerChannel`],
//! whose one replica here is a [`Link::Local`](crate::discovery::Link)), and reach the same
//! server stack: the guard layer (credential, shedding, the call's log span), health,
//! reflection and the generated services with their message size caps. What HTTP/2 did on
//! the way is done here instead:
//!
//! - **the deadline:** the attempt's `grpc-timeout` bounds the wait for the response
//!   headers, which then fails with [`tonic::TimeoutExpired`], as tonic's channel does;
//! - **refusal:** a call made once the server has begun to stop is refused with
//!   `ConnectionRefused`, as a closed port would be, so the balancer and the retries treat it
//!   as a call that never left ([`crate::discovery::balance::refused`]);
//! - **drain:** a call admitted before the stop holds the server open until its response
//!   body has ended or been dropped, streams included, as an HTTP/2 connection with a call in
//!   flight does ([`Listener::stop`]).
//!
//! A call made before the server has started waits for it (within its deadline), as a
//! connection queued on a listening socket would.
//!
//! [`pipe`] makes the two ends: the [`Dialer`] gives channels, and the server publishes its
//! stack through the [`Listener`] ([`crate::server::GrpcServer::serve_with_local`]).

use std::{
    convert::Infallible,
    io,
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use http_body::{Frame, SizeHint};
use tokio::sync::{OwnedRwLockReadGuard, RwLock, watch};
use tonic::body::Body;
use tower::{ServiceExt as _, util::BoxCloneSyncService};

use crate::discovery::{BoxError, Link, PeerChannel, balance::Balanced};

/// The URL the in-process replica is known by (in logs and the balancer).
pub const LOCAL_URL: &str = "http://in-process";

/// The server's stack as the transport calls it.
pub(crate) type Stack = BoxCloneSyncService<Request<Body>, Response<Body>, Infallible>;

/// What the two ends share.
struct Shared {
    /// The server's stack once it serves.
    stack: watch::Sender<Option<Stack>>,
    /// Set when the server begins to stop: new calls are refused from then on.
    stopped: AtomicBool,
    /// Every admitted call holds a read guard until its response body ends; the stop takes
    /// the write lock, so it waits for all of them.
    calls: Arc<RwLock<()>>,
}

/// Makes the two ends of the in-process transport.
pub fn pipe() -> (Dialer, Listener) {
    let shared = Arc::new(Shared {
        stack: watch::Sender::new(None),
        stopped: AtomicBool::new(false),
        calls: Arc::new(RwLock::new(())),
    });
    (
        Dialer {
            shared: shared.clone(),
        },
        Listener { shared },
    )
}

/// The client end: channels to this process's gRPC server.
#[derive(Clone)]
pub struct Dialer {
    shared: Arc<Shared>,
}

impl Dialer {
    /// A channel to this process's gRPC server.
    pub fn channel(&self) -> PeerChannel {
        Balanced::single(
            LOCAL_URL,
            Link::Local(Direct {
                shared: self.shared.clone(),
            }),
        )
    }
}

/// The server end: where the server publishes its stack, and how it stops taking calls.
pub struct Listener {
    shared: Arc<Shared>,
}

impl Listener {
    /// Starts answering calls with `stack`.
    pub(crate) fn serve(&self, stack: Stack) {
        self.shared.stack.send_replace(Some(stack));
    }

    /// Refuses every call from now on.
    pub(crate) fn refuse(&self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
    }

    /// Refuses every call from now on, then waits for the calls admitted before to end.
    pub(crate) async fn stop(&self) {
        self.refuse();
        let drained = self.shared.calls.clone().write_owned().await;
        // Drop the stack (and the services it holds) once nothing can call it any more.
        self.shared.stack.send_replace(None);
        drop(drained);
    }
}

/// One in-process replica: calls go straight into the server's stack.
#[derive(Clone)]
pub struct Direct {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Direct {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Direct")
    }
}

impl Direct {
    /// Calls the server's stack with `request`, as described in the module documentation.
    pub(crate) async fn call(&self, request: Request<Body>) -> Result<Response<Body>, BoxError> {
        let deadline = grpc_timeout(request.headers());
        let answer = async {
            // The guard first, then the flag: a stop that has begun either sees this call
            // holding the guard (and waits for it) or is seen here.
            let admitted = self.shared.calls.clone().try_read_owned();
            let admitted = match admitted {
                Ok(guard) if !self.shared.stopped.load(Ordering::SeqCst) => guard,
                _ => return Err(refused()),
            };
            let stack = {
                let mut published = self.shared.stack.subscribe();
                match published.wait_for(Option::is_some).await {
                    Ok(stack) => stack.clone(),
                    Err(_) => None,
                }
            };
            let Some(stack) = stack else {
                return Err(refused());
            };
            let response = stack
                .oneshot(request)
                .await
                .map_err(|never| match never {})?;
            Ok(response.map(|body| {
                Body::new(Held {
                    body,
                    _admitted: admitted,
                })
            }))
        };
        match deadline {
            Some(deadline) => tokio::time::timeout(deadline, answer)
                .await
                .unwrap_or_else(|_| Err(tonic::TimeoutExpired(()).into())),
            None => answer.await,
        }
    }
}

/// A refused connection, as tonic's channel reports one: the typed client answers it
/// `UNAVAILABLE`, the balancer and the retries see a call that never left.
fn refused() -> BoxError {
    tonic::ConnectError(Box::new(io::Error::new(
        io::ErrorKind::ConnectionRefused,
        "the in-process gRPC server has stopped",
    )))
    .into()
}

/// A response body that keeps its call admitted (and so the server from finishing its
/// drain) until it ends or is dropped.
struct Held {
    body: Body,
    _admitted: OwnedRwLockReadGuard<()>,
}

impl http_body::Body for Held {
    type Data = tonic::codegen::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The deadline a `grpc-timeout` header carries (`<at most 8 digits><unit>`, gRPC over
/// HTTP/2); `None` when there is none or it does not parse. tonic's own parser is private
/// to its transport.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests;
