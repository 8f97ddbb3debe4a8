//! Serving over real TCP: the peer address reaches the rate limiter, shutdown ends the server.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{CountingLimiter, World, limits};
use crate::serve;

#[tokio::test]
async fn the_server_answers_over_tcp_and_knows_its_clients_address() {
    let limiter = Arc::new(CountingLimiter::default());
    let router = World::new()
        .with_limits(limiter.clone(), limits(100))
        .router();
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("a port");
    let addr = listener.local_addr().expect("an address");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(serve(listener, router, async {
        let _ = stopped.await;
    }));

    let mut stream = TcpStream::connect(addr).await.expect("connected");
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: edge\r\nconnection: close\r\n\r\n")
        .await
        .expect("sent");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("an answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("{\"status\":\"ok\"}"), "{answer}");
    assert_eq!(limiter.hits("ip:127.0.0.1"), 1);

    stop.send(()).expect("the server is running");
    server
        .await
        .expect("the server task ends")
        .expect("the server ends cleanly");
}
