//! etcd as the registry of live replicas: a client for the subset of etcd's v3 API this
//! needs (compiled from `proto/etcd` with protox, no system protoc), and the list-then-watch
//! discovery of a context's replicas.
//!
//! Layout: `/saas/services/<context>/<instance id>` → `{"addr":"host:port"}`, each key on
//! its replica's lease ([`super::registration`]).

use std::{collections::BTreeMap, sync::Arc, time::Duration};

use futures::{StreamExt, future::BoxFuture};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, watch};
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Status, transport::Channel};

use super::{EndpointSet, Endpoints, publish, registration::RetryDelay};

/// The generated etcd messages and clients (`etcdserverpb`, `mvccpb`).
#[allow(clippy::all, missing_docs)]
pub mod pb {
    pub mod mvccpb {
        tonic::include_proto!("mvccpb");
    }
    pub mod etcdserverpb {
        tonic::include_proto!("etcdserverpb");
    }
}

use pb::{
    etcdserverpb::{
        CompactionRequest, DeleteRangeRequest, LeaseGrantRequest, LeaseKeepAliveRequest,
        LeaseRevokeRequest, PutRequest, RangeRequest, WatchCreateRequest, WatchRequest,
        kv_client::KvClient, lease_client::LeaseClient, watch_client::WatchClient,
        watch_request::RequestUnion,
    },
    mvccpb::{KeyValue, event::EventType},
};

/// Where every replica registers: `/saas/services/<context>/<instance id>`.
pub const SERVICES_PREFIX: &str = "/saas/services/";

/// How long one unary etcd request may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(3);

/// The key prefix of a context's replicas (`/saas/services/<context>/`).
pub fn context_prefix(context: &str) -> String {
    format!("{SERVICES_PREFIX}{context}/")
}

/// What a replica registers: where peers dial it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registered {
    /// `host:port`.
    pub addr: String,
}

/// A client of one etcd cluster. Cloning shares the connections.
#[derive(Debug, Clone)]
pub struct Etcd {
    kv: KvClient<Channel>,
    lease: LeaseClient<Channel>,
    watch: WatchClient<Channel>,
}

impl Etcd {
    /// A client of the cluster at `urls` (comma-separated `http://host:port`); nothing is
    /// dialled until the first request. HTTP/2 keep-alives notice a cluster that stops
    /// answering without closing the connection.
    pub fn connect_lazy(urls: &str) -> Result<Etcd, String> {
        let endpoints = Self::endpoints(urls)?;
        let channel = match endpoints.as_slice() {
            [one] => one.clone().connect_lazy(),
            _ => Channel::balance_list(endpoints.into_iter()),
        };
        Ok(Etcd {
            kv: KvClient::new(channel.clone()),
            lease: LeaseClient::new(channel.clone()),
            watch: WatchClient::new(channel),
        })
    }

    /// Checks `urls` (comma-separated `http://host:port`) without dialling.
    pub fn validate(urls: &str) -> Result<(), String> {
        Self::endpoints(urls).map(drop)
    }

    fn endpoints(urls: &str) -> Result<Vec<tonic::transport::Endpoint>, String> {
        let endpoints = urls
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(|url| {
                super::endpoint(url).map(|e| {
                    e.http2_keep_alive_interval(Duration::from_secs(5))
                        .keep_alive_timeout(Duration::from_secs(5))
                        .keep_alive_while_idle(true)
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        if endpoints.is_empty() {
            return Err("expected http://host:port[,http://host:port...]".into());
        }
        Ok(endpoints)
    }

    /// Every key under `prefix` and the store revision they were read at.
    pub async fn list(&self, prefix: &str) -> Result<(i64, Vec<KeyValue>), Status> {
        let response = self
            .kv
            .clone()
            .range(timed(RangeRequest {
                key: prefix.as_bytes().to_vec(),
                range_end: prefix_end(prefix),
                ..RangeRequest::default()
            }))
            .await?
            .into_inner();
        let revision = response.header.map_or(0, |h| h.revision);
        Ok((revision, response.kvs))
    }

    /// Puts `key` on `lease` (0: no lease); returns the new revision.
    pub async fn put(&self, key: &str, value: Vec<u8>, lease: i64) -> Result<i64, Status> {
        let response = self
            .kv
            .clone()
            .put(timed(PutRequest {
                key: key.as_bytes().to_vec(),
                value,
                lease,
                ..PutRequest::default()
            }))
            .await?
            .into_inner();
        Ok(response.header.map_or(0, |h| h.revision))
    }

    /// Deletes `key`; returns how many keys went.
    pub async fn delete(&self, key: &str) -> Result<i64, Status> {
        Ok(self
            .kv
            .clone()
            .delete_range(timed(DeleteRangeRequest {
                key: key.as_bytes().to_vec(),
                ..DeleteRangeRequest::default()
            }))
            .await?
            .into_inner()
            .deleted)
    }

    /// Compacts the history up to `revision` (an operator's task; tests use it).
    pub async fn compact(&self, revision: i64) -> Result<(), Status> {
        self.kv
            .clone()
            .compact(timed(CompactionRequest {
                revision,
                physical: true,
            }))
            .await?;
        Ok(())
    }

    /// Grants a lease of `ttl` seconds; returns its id.
    pub async fn grant(&self, ttl: i64) -> Result<i64, Status> {
        let response = self
            .lease
            .clone()
            .lease_grant(timed(LeaseGrantRequest { ttl, id: 0 }))
            .await?
            .into_inner();
        if !response.error.is_empty() {
            return Err(Status::unavailable(response.error));
        }
        Ok(response.id)
    }

    /// Revokes a lease, deleting the keys attached to it.
    pub async fn revoke(&self, lease: i64) -> Result<(), Status> {
        self.lease
            .clone()
            .lease_revoke(timed(LeaseRevokeRequest { id: lease }))
            .await?;
        Ok(())
    }

    /// Opens a keep-alive stream for `lease` and refreshes it once (etcd sends the
    /// stream's headers with its first answer, so the call completes only after a refresh).
    pub async fn keep_alive(&self, lease: i64) -> Result<KeepAlive, Status> {
        let (requests, outgoing) = mpsc::channel(1);
        requests
            .send(LeaseKeepAliveRequest { id: lease })
            .await
            .map_err(|_| Status::internal("keep-alive request queue closed"))?;
        let call = tonic::Request::new(ReceiverStream::new(outgoing));
        // Bounds only the wait for the first answer; the stream itself lasts.
        let opened = tokio::time::timeout(REQUEST_TIMEOUT, async {
            let mut responses = self
                .lease
                .clone()
                .lease_keep_alive(call)
                .await?
                .into_inner();
            match responses.message().await? {
                Some(first) if first.ttl > 0 => Ok(responses),
                Some(_) => Err(Status::not_found("the lease is gone")),
                None => Err(Status::unavailable("keep-alive stream ended")),
            }
        })
        .await
        .map_err(|_| Status::deadline_exceeded("no keep-alive answer"))??;
        Ok(KeepAlive {
            lease,
            requests,
            responses: opened,
        })
    }
}

/// A keep-alive stream for one lease.
pub struct KeepAlive {
    lease: i64,
    requests: mpsc::Sender<LeaseKeepAliveRequest>,
    responses: tonic::Streaming<pb::etcdserverpb::LeaseKeepAliveResponse>,
}

impl KeepAlive {
    /// Refreshes the lease; returns its remaining TTL in seconds (0 or less: it is gone).
    pub async fn refresh(&mut self) -> Result<i64, Status> {
        self.requests
            .send(LeaseKeepAliveRequest { id: self.lease })
            .await
            .map_err(|_| Status::unavailable("keep-alive stream closed"))?;
        match self.responses.message().await? {
            Some(response) => Ok(response.ttl),
            None => Err(Status::unavailable("keep-alive stream ended")),
        }
    }
}

fn timed<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(REQUEST_TIMEOUT);
    request
}

/// The end of the range of keys that start with `prefix`: its last byte plus one.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![0]
}

/// The URL peers dial for a registered value, or `None` for a value that is not ours.
fn url_of(value: &[u8]) -> Option<String> {
    let registered: Registered = serde_json::from_slice(value).ok()?;
    let addr = registered.addr.trim();
    if addr.is_empty() || addr.contains('/') {
        return None;
    }
    Some(format!("http://{addr}"))
}

/// The replicas of `context` as etcd knows them: listed, then followed through a watch
/// from the listed revision. A compaction that overtakes the watch, a cancelled watch or a
/// lost connection leads to a new list. While etcd cannot be reached, and whenever a list
/// comes back empty, the last known endpoints stay. Runs for as long as a view of the
/// returned set exists.
pub fn watch_endpoints(etcd: Etcd, context: &str) -> EndpointSet {
    watch_endpoints_with(etcd, context, None)
}

/// Awaited between each list and the watch that follows it, with the listed revision: a
/// fault hook for tests (a compaction in that gap forces the next list).
#[doc(hidden)]
pub type AfterList = Arc<dyn Fn(i64) -> BoxFuture<'static, ()> + Send + Sync>;

/// [`watch_endpoints`] with a fault hook.
#[doc(hidden)]
pub fn watch_endpoints_with(
    etcd: Etcd,
    context: &str,
    after_list: Option<AfterList>,
) -> EndpointSet {
    let prefix = context_prefix(context);
    let (sender, set) = EndpointSet::channel();
    tokio::spawn(async move {
        tokio::select! {
            () = follow(&etcd, &prefix, &sender, after_list) => {}
            () = sender.closed() => {}
        }
    });
    set
}

/// Why a watch ended.
#[derive(Debug)]
enum WatchEnd {
    /// The revision to resume from was compacted away, or etcd cancelled the watch.
    Relist(String),
    /// The stream failed or ended (etcd restarted or unreachable).
    Lost(Status),
}

async fn follow(
    etcd: &Etcd,
    prefix: &str,
    sender: &watch::Sender<Endpoints>,
    after_list: Option<AfterList>,
) {
    let mut delay = RetryDelay::new(Duration::from_millis(100), Duration::from_secs(2));
    loop {
        let (revision, kvs) = match etcd.list(prefix).await {
            Ok(listed) => listed,
            Err(status) => {
                tracing::warn!(%prefix, code = ?status.code(), message = status.message(),
                    "cannot list peers in etcd; keeping the last known ones");
                tokio::time::sleep(delay.next_delay()).await;
                continue;
            }
        };
        let mut keys: BTreeMap<Vec<u8>, String> = kvs
            .into_iter()
            .filter_map(|kv| url_of(&kv.value).map(|url| (kv.key, url)))
            .collect();
        if keys.is_empty() {
            tracing::info!(%prefix, "no peer registered in etcd; keeping the last known ones");
        }
        announce(prefix, sender, &keys);
        if let Some(hook) = &after_list {
            hook(revision).await;
        }
        let end = watch_from(etcd, prefix, revision + 1, &mut keys, sender, &mut delay).await;
        match end {
            WatchEnd::Relist(why) => tracing::info!(%prefix, %why, "listing peers again"),
            WatchEnd::Lost(status) => {
                tracing::warn!(%prefix, code = ?status.code(), message = status.message(),
                    "etcd watch lost; keeping the last known peers");
                tokio::time::sleep(delay.next_delay()).await;
            }
        }
    }
}

fn announce(prefix: &str, sender: &watch::Sender<Endpoints>, keys: &BTreeMap<Vec<u8>, String>) {
    if publish(sender, keys.values().cloned().collect()) {
        tracing::info!(%prefix, peers = ?sender.borrow(), "peers changed");
    }
}

async fn watch_from(
    etcd: &Etcd,
    prefix: &str,
    start_revision: i64,
    keys: &mut BTreeMap<Vec<u8>, String>,
    sender: &watch::Sender<Endpoints>,
    delay: &mut RetryDelay,
) -> WatchEnd {
    let (requests, outgoing) = mpsc::channel(1);
    let create = WatchRequest {
        request_union: Some(RequestUnion::CreateRequest(WatchCreateRequest {
            key: prefix.as_bytes().to_vec(),
            range_end: prefix_end(prefix),
            start_revision,
            ..WatchCreateRequest::default()
        })),
    };
    if requests.send(create).await.is_err() {
        return WatchEnd::Lost(Status::internal("watch request queue closed"));
    }
    // etcd answers the create request at once, which completes the call.
    let mut client = etcd.watch.clone();
    let opened = tokio::time::timeout(REQUEST_TIMEOUT, client.watch(ReceiverStream::new(outgoing)));
    let mut responses = match opened.await {
        Ok(Ok(response)) => response.into_inner(),
        Ok(Err(status)) => return WatchEnd::Lost(status),
        Err(_) => return WatchEnd::Lost(Status::deadline_exceeded("the watch was not created")),
    };
    // `requests` stays open for as long as the watch runs: closing it would end the stream.
    let _keep_open = requests;
    loop {
        let response = match responses.next().await {
            Some(Ok(response)) => response,
            Some(Err(status)) => return WatchEnd::Lost(status),
            None => return WatchEnd::Lost(Status::unavailable("watch stream ended")),
        };
        if response.compact_revision > 0 {
            return WatchEnd::Relist(format!(
                "history compacted up to revision {}",
                response.compact_revision
            ));
        }
        if response.canceled {
            return WatchEnd::Relist(format!("watch cancelled: {}", response.cancel_reason));
        }
        if response.created {
            delay.reset();
        }
        for event in response.events {
            let kind = event.r#type();
            let Some(kv) = event.kv else { continue };
            match kind {
                EventType::Put => match url_of(&kv.value) {
                    Some(url) => {
                        keys.insert(kv.key, url);
                    }
                    None => {
                        keys.remove(&kv.key);
                    }
                },
                EventType::Delete => {
                    keys.remove(&kv.key);
                }
            }
        }
        announce(prefix, sender, keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_range_ends_after_its_last_byte() {
        assert_eq!(
            prefix_end("/saas/services/identity/"),
            b"/saas/services/identity0"
        );
        assert_eq!(prefix_end("a\u{7f}"), b"a\x80".to_vec());
    }

    #[test]
    fn only_our_values_become_peers() {
        assert_eq!(
            url_of(br#"{"addr":"10.0.0.1:50051"}"#),
            Some("http://10.0.0.1:50051".into())
        );
        assert_eq!(
            url_of(br#"{"addr":"[fd00::1]:50051","started":"x"}"#),
            Some("http://[fd00::1]:50051".into())
        );
        assert_eq!(url_of(b"10.0.0.1:50051"), None);
        assert_eq!(url_of(br#"{"addr":""}"#), None);
        assert_eq!(url_of(br#"{"addr":"http://x:1/y"}"#), None);
    }
}
