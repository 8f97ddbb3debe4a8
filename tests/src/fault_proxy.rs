//! A TCP proxy the test controls, put between a client and one server to inject faults:
//! pass bytes through, delay them, blackhole them (connections stay open and nothing
//! arrives, like a frozen process), or reset every connection (and refuse new ones).

use std::{net::SocketAddr, time::Duration};

use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};

/// What the proxy does to the bytes it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward at once.
    Pass,
    /// Forward each chunk after this delay.
    Latency(Duration),
    /// Keep every connection open but forward nothing until the fault changes.
    Blackhole,
    /// Close every connection, and each new one as soon as it is accepted.
    Reset,
}

/// A running proxy; dropping it stops accepting (open connections end with their peers).
pub struct FaultProxy {
    /// Where clients connect.
    pub addr: SocketAddr,
    fault: watch::Sender<Fault>,
    accept: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy on a free local port in front of `target`, passing bytes through.
    pub async fn start(target: SocketAddr) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fault proxy");
        let addr = listener.local_addr().expect("the proxy's address");
        let (fault, watching) = watch::channel(Fault::Pass);
        let accept = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let fault = watching.clone();
                if *fault.borrow() == Fault::Reset {
                    drop(client);
                    continue;
                }
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    tokio::select! {
                        () = pump(client_read, server_write, fault.clone()) => {}
                        () = pump(server_read, client_write, fault) => {}
                    }
                });
            }
        });
        FaultProxy {
            addr,
            fault,
            accept,
        }
    }

    /// Applies `fault` from now on, to open connections too.
    pub fn set(&self, fault: Fault) {
        self.fault.send_replace(fault);
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Copies `from` to `to` under the current fault; returns when either side ends or the
/// fault is `Reset`.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mut fault: watch::Receiver<Fault>,
) {
    let mut buffer = vec![0u8; 16 * 1024];
    loop {
        let read = tokio::select! {
            read = from.read(&mut buffer) => read,
            _ = fault.wait_for(|f| *f == Fault::Reset) => return,
        };
        let n = match read {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        // Hold the bytes while blackholed; a reset meanwhile drops them and the connection.
        let current = match fault.wait_for(|f| *f != Fault::Blackhole).await {
            Ok(current) => *current,
            Err(_) => return,
        };
        match current {
            Fault::Reset => return,
            Fault::Latency(delay) => tokio::time::sleep(delay).await,
            Fault::Pass | Fault::Blackhole => {}
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}
