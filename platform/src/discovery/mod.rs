//! How a caller finds the replicas of a data service, and how a replica makes itself found.
//!
//! Every source of peers ends in one [`EndpointSet`] per context: the URLs
//! (`http://host:port`) of its live replicas, as a value that changes over time.
//!
//! - [`PeerSource::Urls`]: a fixed, comma-separated list (`SAAS_<CONTEXT>_URL`).
//! - [`PeerSource::Dns`]: `dns://host:port`, re-resolved every refresh interval (a
//!   Kubernetes headless service answers with one address per ready pod); see [`dns`].
//! - etcd: every data service registers itself under `/saas/services/<context>/<instance>`
//!   on a lease ([`registration::Registration`]); callers list the prefix, then watch it
//!   ([`etcd::watch_endpoints`]).
//!
//! No source ever empties a set it has filled: a failed or empty resolution, an unreachable
//! etcd or an empty re-list keeps the last known endpoints, because calls to stale
//! addresses fail fast and are retried, while an empty set leaves nowhere to call at all.
//!
//! [`balanced_channel`] turns a set into a [`PeerChannel`] that follows its changes and
//! balances calls over the replicas ([`balance`]).

pub mod balance;
pub mod dns;
pub mod etcd;
pub mod registration;

use std::{collections::BTreeSet, time::Duration};

use tokio::sync::watch;
use tonic::transport::Endpoint;

pub use balance::{Balanced, BoxError, EjectionPolicy, Link, PeerChannel};
pub use registration::{Registration, RegistrationConfig};

/// How long opening a connection to a peer may take: far above a connect that is answered
/// (a live or refusing replica answers in well under a millisecond here, a few across a
/// data centre), and a quarter of an attempt, so that a replica that never answers (its
/// SYN blackholed: the kernel would try for minutes) fails the connect rather than the
/// attempt, and is ejected and the call retried elsewhere at once, for free
/// ([`balance::refused`]). Measured: README, "Calls between services".
pub const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// How often an HTTP/2 PING checks an open connection to a peer, also while idle.
pub const KEEP_ALIVE_INTERVAL: Duration = Duration::from_secs(10);

/// How long a PING may go unanswered before the connection is dropped (and the next call
/// reconnects).
pub const KEEP_ALIVE_TIMEOUT: Duration = Duration::from_secs(5);

/// How often `dns://` peers are resolved again unless configured otherwise.
pub const DEFAULT_DNS_REFRESH: Duration = Duration::from_secs(5);

/// The URLs (`http://host:port`) of a context's replicas.
pub type Endpoints = BTreeSet<String>;

/// The replicas of one context as they are known now, and a way to wait for a change.
/// Cloning gives another view of the same set.
#[derive(Debug, Clone)]
pub struct EndpointSet {
    current: watch::Receiver<Endpoints>,
}

impl EndpointSet {
    /// A set that never changes.
    pub fn fixed(urls: impl IntoIterator<Item = String>) -> EndpointSet {
        let (_, current) = watch::channel(urls.into_iter().collect());
        EndpointSet { current }
    }

    /// A set fed through the returned sender (for a source of changes).
    pub fn channel() -> (watch::Sender<Endpoints>, EndpointSet) {
        let (sender, current) = watch::channel(Endpoints::new());
        (sender, EndpointSet { current })
    }

    /// The endpoints known now.
    pub fn current(&self) -> Endpoints {
        self.current.borrow().clone()
    }

    /// Waits until the set changes; `false` when it never will again (a fixed set, or a
    /// source that has stopped).
    pub async fn changed(&mut self) -> bool {
        self.current.changed().await.is_ok()
    }

    /// Waits until `condition` holds for the set (for tests and start-up checks).
    pub async fn wait_for(&mut self, condition: impl FnMut(&Endpoints) -> bool) -> bool {
        self.current.wait_for(condition).await.is_ok()
    }
}

/// Replaces the published set with `next` unless `next` is empty (the last known endpoints
/// stay) or equal to it; `true` when it changed.
pub(crate) fn publish(sender: &watch::Sender<Endpoints>, next: Endpoints) -> bool {
    if next.is_empty() {
        return false;
    }
    sender.send_if_modified(|current| {
        if *current == next {
            false
        } else {
            *current = next;
            true
        }
    })
}

/// Where the replicas of a context are found without etcd (`SAAS_<CONTEXT>_URL`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerSource {
    /// A fixed list of `http://host:port` URLs.
    Urls(Vec<String>),
    /// `dns://host:port`: every address `host` resolves to, on `port`, resolved again
    /// periodically.
    Dns { host: String, port: u16 },
}

impl PeerSource {
    /// Parses a comma-separated list of `http://host:port` URLs, or one `dns://host:port`.
    pub fn parse(text: &str) -> Result<PeerSource, String> {
        let items: Vec<&str> = text
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .collect();
        if items.is_empty() {
            return Err(
                "expected http://host:port[,http://host:port...] or dns://host:port".into(),
            );
        }
        if let Some(dns) = items.iter().find(|item| item.starts_with("dns://")) {
            if items.len() > 1 {
                return Err("dns://host:port cannot be combined with other URLs".into());
            }
            let rest = &dns["dns://".len()..];
            let (host, port) = rest
                .rsplit_once(':')
                .ok_or_else(|| format!("{dns:?} is not dns://host:port"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port: u16 = port
                .parse()
                .ok()
                .filter(|p| *p > 0)
                .ok_or_else(|| format!("{dns:?} has no valid port"))?;
            if host.is_empty() || host.contains('/') {
                return Err(format!("{dns:?} is not dns://host:port"));
            }
            return Ok(PeerSource::Dns {
                host: host.to_owned(),
                port,
            });
        }
        let mut urls = Vec::with_capacity(items.len());
        for item in items {
            endpoint(item)?;
            urls.push(item.trim_end_matches('/').to_owned());
        }
        Ok(PeerSource::Urls(urls))
    }

    /// The endpoint set this source describes; a `dns://` source resolves `host` now and
    /// then every `dns_refresh` for as long as the set is in use (call inside a Tokio
    /// runtime).
    pub fn endpoints(&self, dns_refresh: Duration) -> EndpointSet {
        match self {
            PeerSource::Urls(urls) => EndpointSet::fixed(urls.iter().cloned()),
            PeerSource::Dns { host, port } => dns::resolve_periodically(host, *port, dns_refresh),
        }
    }
}

/// The tonic endpoint for a peer URL (`http://host:port`): `TCP_NODELAY`, a
/// [`CONNECT_TIMEOUT`] and HTTP/2 keep-alives ([`KEEP_ALIVE_INTERVAL`], also while idle,
/// [`KEEP_ALIVE_TIMEOUT`]), so a peer that vanished without closing its connections is
/// noticed. TLS is not compiled in, so `https://` is refused.
pub fn endpoint(url: &str) -> Result<Endpoint, String> {
    let endpoint =
        Endpoint::from_shared(url.to_owned()).map_err(|e| format!("{url:?} is not a URI ({e})"))?;
    match endpoint.uri().scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "{url:?}: https needs TLS, which is not compiled in"
            ));
        }
        _ => return Err(format!("{url:?} is not a URL like http://host:port")),
    }
    if endpoint.uri().host().is_none_or(str::is_empty) {
        return Err(format!("{url:?} is not a URL like http://host:port"));
    }
    Ok(endpoint
        .tcp_nodelay(true)
        .connect_timeout(CONNECT_TIMEOUT)
        .http2_keep_alive_interval(KEEP_ALIVE_INTERVAL)
        .keep_alive_timeout(KEEP_ALIVE_TIMEOUT)
        .keep_alive_while_idle(true))
}

/// A balanced channel over every endpoint of `set`, following its changes: each replica
/// gets a lazily opened connection, and calls go by least outstanding requests among two
/// random replicas, ejecting failing ones ([`balance`], [`EjectionPolicy::default`]). Call
/// inside a Tokio runtime.
pub fn balanced_channel(set: EndpointSet) -> PeerChannel {
    balanced_channel_with(set, EjectionPolicy::default())
}

/// Like [`balanced_channel`], ejecting by `policy`.
pub fn balanced_channel_with(set: EndpointSet, policy: EjectionPolicy) -> PeerChannel {
    Balanced::follow(set, policy, |url| {
        endpoint(url).map(|endpoint| Link::Remote(endpoint.connect_lazy()))
    })
}

/// A balanced channel to one peer URL (`http://host:port`), connected lazily.
pub fn single_channel(url: &str) -> Result<PeerChannel, String> {
    Ok(Balanced::single(
        url,
        Link::Remote(endpoint(url)?.connect_lazy()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_url_a_list_and_dns_parse() {
        assert_eq!(
            PeerSource::parse("http://10.0.0.1:50051"),
            Ok(PeerSource::Urls(vec!["http://10.0.0.1:50051".into()]))
        );
        assert_eq!(
            PeerSource::parse(" http://a:1 , http://b:2/,"),
            Ok(PeerSource::Urls(vec![
                "http://a:1".into(),
                "http://b:2".into()
            ]))
        );
        assert_eq!(
            PeerSource::parse("dns://identity.saas.svc:50051"),
            Ok(PeerSource::Dns {
                host: "identity.saas.svc".into(),
                port: 50051
            })
        );
    }

    #[test]
    fn bad_sources_say_why() {
        for bad in [
            "",
            "10.0.0.1:50051",
            "https://a:1",
            "http://a:1,ftp://b:2",
            "dns://host",
            "dns://host:0",
            "dns://:53",
            "dns://a:1,http://b:2",
        ] {
            assert!(PeerSource::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn an_empty_answer_keeps_the_last_known_endpoints() {
        let (sender, set) = EndpointSet::channel();
        let one: Endpoints = ["http://a:1".to_owned()].into();
        assert!(publish(&sender, one.clone()));
        assert!(!publish(&sender, Endpoints::new()));
        assert_eq!(set.current(), one);
        assert!(!publish(&sender, one.clone()), "the same set is no change");
        let two: Endpoints = ["http://b:2".to_owned()].into();
        assert!(publish(&sender, two.clone()));
        assert_eq!(set.current(), two);
    }
}
