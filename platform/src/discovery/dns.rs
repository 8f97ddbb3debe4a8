//! `dns://host:port`: the replicas are every address `host` resolves to, resolved again
//! every refresh interval. A Kubernetes headless service answers with one address per ready
//! pod, so replicas that come and go are followed without etcd.

use std::{future::Future, io, net::SocketAddr, time::Duration};

use super::{EndpointSet, Endpoints, publish};

/// Resolves `host:port` now and then every `refresh`, for as long as a view of the returned
/// set exists. A failed or empty resolution keeps the last known endpoints.
pub fn resolve_periodically(host: &str, port: u16, refresh: Duration) -> EndpointSet {
    let target = format!("{host}:{port}");
    follow(refresh, move || {
        let target = target.clone();
        async move { tokio::net::lookup_host(target).await.map(Iterator::collect) }
    })
}

/// Runs `resolve` now and then every `refresh`, publishing its answers as `http://` URLs.
pub(crate) fn follow<F, Fut>(refresh: Duration, mut resolve: F) -> EndpointSet
where
    F: FnMut() -> Fut + Send + 'static,
    Fut: Future<Output = io::Result<Vec<SocketAddr>>> + Send,
{
    let (sender, set) = EndpointSet::channel();
    tokio::spawn(async move {
        loop {
            match resolve().await {
                Ok(addrs) if addrs.is_empty() => {
                    tracing::warn!("DNS answered no address; keeping the last known peers");
                }
                Ok(addrs) => {
                    let next: Endpoints = addrs.iter().map(|a| format!("http://{a}")).collect();
                    if publish(&sender, next) {
                        tracing::info!(peers = ?sender.borrow(), "DNS peers changed");
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "DNS resolution failed; keeping the last known peers");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(refresh) => {}
                () = sender.closed() => return,
            }
        }
    });
    set
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().expect("socket address")
    }

    #[tokio::test(start_paused = true)]
    async fn answers_are_followed_and_failures_keep_the_last_peers() {
        // Each resolution takes the next scripted answer.
        let script: Arc<Mutex<Vec<io::Result<Vec<SocketAddr>>>>> = Arc::new(Mutex::new(vec![
            Ok(vec![addr("10.0.0.1:50051")]),
            Ok(vec![addr("10.0.0.1:50051"), addr("[fd00::2]:50051")]),
            Err(io::Error::other("SERVFAIL")),
            Ok(vec![]),
            Ok(vec![addr("10.0.0.3:50051")]),
        ]));
        let calls = Arc::new(Mutex::new(0usize));
        let mut set = {
            let script = script.clone();
            let calls = calls.clone();
            follow(Duration::from_secs(5), move || {
                let next = {
                    *calls.lock().expect("lock") += 1;
                    let mut script = script.lock().expect("lock");
                    if script.is_empty() {
                        Err(io::Error::other("script ended"))
                    } else {
                        script.remove(0)
                    }
                };
                async move { next }
            })
        };
        assert!(set.wait_for(|s| s.len() == 1).await);
        assert_eq!(set.current(), ["http://10.0.0.1:50051".to_owned()].into());
        assert!(set.changed().await);
        assert_eq!(
            set.current(),
            [
                "http://10.0.0.1:50051".to_owned(),
                "http://[fd00::2]:50051".to_owned()
            ]
            .into()
        );
        // The failure and the empty answer change nothing; the fifth answer replaces the set.
        assert!(set.changed().await);
        assert_eq!(set.current(), ["http://10.0.0.3:50051".to_owned()].into());
        assert_eq!(
            *calls.lock().expect("lock"),
            5,
            "one resolution per refresh"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn resolution_stops_when_the_set_is_dropped() {
        let calls = Arc::new(Mutex::new(0usize));
        let set = {
            let calls = calls.clone();
            follow(Duration::from_secs(1), move || {
                *calls.lock().expect("lock") += 1;
                async { Ok(vec![addr("10.0.0.1:1")]) }
            })
        };
        let mut view = set.clone();
        assert!(view.wait_for(|s| !s.is_empty()).await);
        drop(view);
        drop(set);
        tokio::time::sleep(Duration::from_secs(10)).await;
        let after_drop = *calls.lock().expect("lock");
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(*calls.lock().expect("lock"), after_drop);
        assert!(after_drop <= 2);
    }

    #[tokio::test]
    async fn localhost_resolves_to_loopback() {
        let mut set = resolve_periodically("localhost", 50051, Duration::from_secs(60));
        assert!(set.wait_for(|s| !s.is_empty()).await);
        let peers = set.current();
        assert!(
            peers
                .iter()
                .all(|p| p == "http://127.0.0.1:50051" || p == "http://[::1]:50051"),
            "{peers:?}"
        );
    }
}
