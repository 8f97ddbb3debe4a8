//! Discovery against private etcd processes: registration and deregistration (also of a
//! real `saas` process on SIGTERM), a watch following replicas, etcd restarted on its data
//! and on an emptied data directory, a compaction forcing a re-list, etcd unreachable for
//! longer than a lease, and the etcd-free sources (URL lists, `dns://`).

use std::{
    net::SocketAddr,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use platform::discovery::{
    self, EndpointSet, PeerSource, Registration, RegistrationConfig,
    etcd::{Etcd, watch_endpoints, watch_endpoints_with},
    registration::Registry,
};
use saas_tests::{PrivateEtcd, ServerProcess, TestDatabase, eventually, sigterm};
use tonic_health::pb::{
    HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient,
};

/// How long conditions get to come true.
const PATIENCE: Duration = Duration::from_secs(30);

/// A short lease, so expiry and recovery happen within a test.
const TTL: Duration = Duration::from_secs(4);

fn config() -> RegistrationConfig {
    RegistrationConfig {
        ttl: TTL,
        retry_min: Duration::from_millis(100),
        retry_max: Duration::from_secs(1),
    }
}

fn register(etcd: &Etcd, context: &str, addr: &str) -> Registration {
    let registry: Arc<dyn Registry> = Arc::new(etcd.clone());
    Registration::start(registry, context, addr, config())
}

/// The keys under `prefix`, sorted; none while etcd does not answer.
async fn keys_under(client: &Etcd, prefix: &str) -> Vec<String> {
    let Ok((_, kvs)) = client.list(prefix).await else {
        return Vec::new();
    };
    kvs.into_iter()
        .map(|kv| String::from_utf8_lossy(&kv.key).into_owned())
        .collect()
}

/// Waits until the set holds exactly `expected`.
async fn settles_on(set: &mut EndpointSet, expected: &[&str]) -> bool {
    let expected: discovery::Endpoints = expected.iter().map(|s| (*s).to_owned()).collect();
    tokio::time::timeout(PATIENCE, set.wait_for(|now| *now == expected))
        .await
        .unwrap_or(false)
}

/// A gRPC server that answers `grpc.health.v1` with SERVING for `name` only, so a caller
/// can tell which replica answered.
async fn health_server(name: &str) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (reporter, service) = tonic_health::server::health_reporter();
    reporter
        .set_service_status(name, tonic_health::ServingStatus::Serving)
        .await;
    tokio::spawn(async move {
        let _keep = reporter;
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
    });
    addr
}

/// Asks the replica a call lands on about `name`: `true` when it serves it.
async fn serves(channel: &discovery::PeerChannel, name: &str) -> Result<bool, tonic::Status> {
    let mut request = tonic::Request::new(HealthCheckRequest {
        service: name.to_owned(),
    });
    request.set_timeout(Duration::from_secs(5));
    let mut client = HealthClient::new(channel.clone());
    let call = client.check(request);
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Err(_) => Err(tonic::Status::deadline_exceeded("no answer")),
        Ok(Ok(response)) => Ok(response.into_inner().status() == ServingStatus::Serving),
        Ok(Err(status)) if status.code() == tonic::Code::NotFound => Ok(false),
        Ok(Err(status)) => Err(status),
    }
}

#[tokio::test]
async fn a_replica_registers_under_its_context_and_deregistering_removes_it() {
    let Some(etcd) = PrivateEtcd::start("discovery registration").await else {
        return;
    };
    let registration = register(&etcd.client(), "identity", "10.1.2.3:50051");
    let key = registration.key().to_owned();
    assert!(key.starts_with("/saas/services/identity/"), "{key}");
    assert!(
        eventually(PATIENCE, || async {
            etcd.keys("/saas/services/identity/").await
                == vec![(key.clone(), r#"{"addr":"10.1.2.3:50051"}"#.to_owned())]
        })
        .await,
        "the key was not registered: {:?}",
        etcd.keys("/saas/services/").await
    );
    registration.deregister().await;
    // Revoked, not expired: gone at once.
    assert_eq!(etcd.keys("/saas/services/").await, vec![]);
}

#[tokio::test]
async fn sigterm_takes_a_real_process_out_of_etcd_before_it_exits() {
    let Some(etcd) = PrivateEtcd::start("discovery sigterm").await else {
        return;
    };
    let database = TestDatabase::fresh_sqlite();
    // A lease far longer than the test's patience: only deregistration can remove the key.
    let mut process = ServerProcess::start_with(
        "identity",
        &database.url,
        &[
            ("SAAS_ETCD_URL", &etcd.url()),
            ("SAAS_ETCD_LEASE_TTL_SECS", "600"),
        ],
    )
    .await;
    let expected = format!(r#"{{"addr":"{}"}}"#, process.addr);
    assert!(
        eventually(PATIENCE, || async {
            let keys = etcd.keys("/saas/services/identity/").await;
            keys.len() == 1 && keys[0].1 == expected
        })
        .await,
        "the process did not register: {:?}",
        etcd.keys("/saas/services/").await
    );
    sigterm(process.pid());
    let status = tokio::time::timeout(PATIENCE, process.wait())
        .await
        .expect("the process ends after SIGTERM");
    assert!(status.success(), "{status:?}");
    assert_eq!(etcd.keys("/saas/services/").await, vec![]);
}

#[tokio::test]
async fn a_watch_sees_a_replica_come_and_go() {
    let Some(etcd) = PrivateEtcd::start("discovery watch").await else {
        return;
    };
    let client = etcd.client();
    let mut set = watch_endpoints(client.clone(), "billing");
    let first = register(&client, "billing", "10.0.0.1:1");
    assert!(settles_on(&mut set, &["http://10.0.0.1:1"]).await);
    let second = register(&client, "billing", "10.0.0.2:2");
    assert!(settles_on(&mut set, &["http://10.0.0.1:1", "http://10.0.0.2:2"]).await);
    // Another context's replica is not ours.
    let other = register(&client, "billing-archive", "10.0.0.9:9");
    second.deregister().await;
    assert!(settles_on(&mut set, &["http://10.0.0.1:1"]).await);
    // The last one going keeps it as the last known endpoint: calls then fail fast on it
    // rather than waiting for a replica that may never come.
    first.deregister().await;
    let third = register(&client, "billing", "10.0.0.3:3");
    assert!(settles_on(&mut set, &["http://10.0.0.3:3"]).await);
    third.deregister().await;
    other.deregister().await;
}

/// Registers two replicas, restarts etcd (optionally on an emptied data directory), and
/// checks that both keys are back within one TTL of etcd answering again and still there
/// three TTLs later.
async fn registrations_survive_a_restart(wipe: bool) {
    let test = if wipe {
        "discovery restart on empty data"
    } else {
        "discovery restart on data"
    };
    let Some(mut etcd) = PrivateEtcd::start(test).await else {
        return;
    };
    let client = etcd.client();
    let replicas = [
        register(&client, "workspace", "10.0.0.1:1"),
        register(&client, "workspace", "10.0.0.2:2"),
    ];
    let mut keys: Vec<String> = replicas.iter().map(|r| r.key().to_owned()).collect();
    keys.sort();
    let listed = || keys_under(&client, "/saas/services/workspace/");
    assert!(eventually(PATIENCE, || async { listed().await == keys }).await);
    let leases: Vec<_> = replicas.iter().map(Registration::lease).collect();

    etcd.stop();
    for replica in &replicas {
        let mut lease = replica.lease_changes();
        assert!(
            tokio::time::timeout(PATIENCE, lease.wait_for(Option::is_none))
                .await
                .is_ok(),
            "the registration did not notice etcd was gone"
        );
    }
    if wipe {
        etcd.wipe();
    }
    etcd.resume().await;
    let back = tokio::time::Instant::now();
    assert!(
        eventually(PATIENCE, || async { listed().await == keys }).await,
        "the keys did not come back: {:?}",
        listed().await
    );
    // A correctness bound, not a speed figure: a replica missing for longer than a lease
    // looks dead to every caller. The retry delay is capped at a quarter of the TTL.
    let took = back.elapsed();
    assert!(took <= TTL, "the keys came back {took:?} after etcd did");
    for replica in &replicas {
        let mut lease = replica.lease_changes();
        assert!(
            tokio::time::timeout(PATIENCE, lease.wait_for(Option::is_some))
                .await
                .is_ok()
        );
    }
    let new_leases: Vec<_> = replicas.iter().map(Registration::lease).collect();
    assert_ne!(leases, new_leases, "registered again on new leases");

    // Three TTLs later the new leases are kept alive: nothing expired.
    tokio::time::sleep(TTL * 3).await;
    assert_eq!(listed().await, keys);
    for replica in replicas {
        replica.deregister().await;
    }
}

#[tokio::test]
async fn registrations_come_back_after_etcd_restarts_on_its_data() {
    registrations_survive_a_restart(false).await;
}

#[tokio::test]
async fn registrations_come_back_after_etcd_restarts_on_an_empty_data_directory() {
    registrations_survive_a_restart(true).await;
}

#[tokio::test]
async fn a_compaction_forces_a_relist() {
    let Some(etcd) = PrivateEtcd::start("discovery compaction").await else {
        return;
    };
    let client = etcd.client();
    let lists = Arc::new(AtomicUsize::new(0));
    // Between the first list and its watch, a replica registers and the history is compacted
    // past the revision the watch starts from: only a new list can see that replica.
    let hook: platform::discovery::etcd::AfterList = {
        let lists = lists.clone();
        let client = client.clone();
        Arc::new(move |_revision| {
            let lists = lists.clone();
            let client = client.clone();
            Box::pin(async move {
                if lists.fetch_add(1, Ordering::SeqCst) == 0 {
                    let registration = register(&client, "identity", "10.0.0.5:5");
                    let mut lease = registration.lease_changes();
                    let _ = lease.wait_for(Option::is_some).await;
                    // One more revision, so the compaction passes the watch's start.
                    let now = client
                        .put("/saas/unrelated", b"x".to_vec(), 0)
                        .await
                        .expect("put");
                    client.compact(now).await.expect("compact");
                    // Keep the replica registered for the rest of the test.
                    std::mem::forget(registration);
                }
            })
        })
    };
    let mut set = watch_endpoints_with(client.clone(), "identity", Some(hook));
    assert!(settles_on(&mut set, &["http://10.0.0.5:5"]).await);
    assert!(lists.load(Ordering::SeqCst) >= 2, "no second list");
}

#[tokio::test]
async fn callers_keep_their_endpoints_while_etcd_is_down_and_registrations_return() {
    let Some(mut etcd) = PrivateEtcd::start("discovery outage").await else {
        return;
    };
    let client = etcd.client();
    let a = health_server("a").await;
    let b = health_server("b").await;
    let replicas = [
        register(&client, "notifications", &a.to_string()),
        register(&client, "notifications", &b.to_string()),
    ];
    let mut set = watch_endpoints(client.clone(), "notifications");
    let both = [format!("http://{a}"), format!("http://{b}")];
    let both: Vec<&str> = both.iter().map(String::as_str).collect();
    assert!(settles_on(&mut set, &both).await);
    let channel = discovery::balanced_channel(set.clone());

    etcd.stop();
    for replica in &replicas {
        let mut lease = replica.lease_changes();
        assert!(
            tokio::time::timeout(PATIENCE, lease.wait_for(Option::is_none))
                .await
                .is_ok()
        );
    }
    // Longer than a lease: etcd would have expired every key by now.
    tokio::time::sleep(TTL + Duration::from_secs(1)).await;
    let known: discovery::Endpoints = both.iter().map(|s| (*s).to_owned()).collect();
    assert_eq!(set.current(), known, "the callers forgot their endpoints");
    // And calls still reach both replicas.
    let mut answered = [false, false];
    for _ in 0..100 {
        answered[0] |= serves(&channel, "a")
            .await
            .expect("a call through the channel");
        answered[1] |= serves(&channel, "b")
            .await
            .expect("a call through the channel");
        if answered == [true, true] {
            break;
        }
    }
    assert_eq!(answered, [true, true], "calls did not reach both replicas");

    etcd.resume().await;
    let mut keys: Vec<String> = replicas.iter().map(|r| r.key().to_owned()).collect();
    keys.sort();
    assert!(
        eventually(PATIENCE, || async {
            keys_under(&client, "/saas/services/notifications/").await == keys
        })
        .await,
        "the registrations did not return"
    );
    assert!(settles_on(&mut set, &both).await);
    for replica in replicas {
        replica.deregister().await;
    }
}

#[tokio::test]
async fn a_url_list_spreads_calls_over_every_replica() {
    let a = health_server("a").await;
    let b = health_server("b").await;
    let source = PeerSource::parse(&format!("http://{a}, http://{b}")).expect("a URL list");
    let channel = discovery::balanced_channel(source.endpoints(Duration::from_secs(5)));
    // A call asks about "a": it is SERVING only where it lands on replica a.
    let mut outcomes = [0usize; 2];
    for _ in 0..200 {
        let on_a = serves(&channel, "a").await.expect("a call");
        outcomes[usize::from(!on_a)] += 1;
        if outcomes[0] > 0 && outcomes[1] > 0 {
            break;
        }
    }
    assert!(
        outcomes[0] > 0 && outcomes[1] > 0,
        "every call went to one replica: {outcomes:?}"
    );
}

#[tokio::test]
async fn a_replica_that_refuses_connections_is_ejected_and_calls_go_on() {
    let live = health_server("a").await;
    // A port nothing listens on any more: connecting is refused.
    let dead = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port");
    let source = PeerSource::parse(&format!("http://{live}, http://{dead}")).expect("a URL list");
    let channel = discovery::balanced_channel(source.endpoints(Duration::from_secs(5)));
    let mut failed = 0;
    for _ in 0..100 {
        match serves(&channel, "a").await {
            Ok(on_live) => assert!(on_live, "an answer from a replica that is not there"),
            Err(_) => failed += 1,
        }
    }
    // The one call that found the refusal ejected the replica; every other one was answered.
    assert!(failed <= 1, "{failed} calls failed");
    if failed == 1 {
        assert_eq!(channel.ejected(), [format!("http://{dead}")]);
    }
}

#[tokio::test]
async fn a_dns_name_finds_the_replicas_it_resolves_to() {
    let a = health_server("a").await;
    let source = PeerSource::parse(&format!("dns://localhost:{}", a.port())).expect("a dns source");
    let mut set = source.endpoints(Duration::from_secs(1));
    assert!(
        tokio::time::timeout(
            PATIENCE,
            set.wait_for(|s| s.contains(&format!("http://{a}")))
        )
        .await
        .unwrap_or(false),
        "localhost did not resolve to {a}: {:?}",
        set.current()
    );
    let channel = discovery::balanced_channel(set);
    // localhost may also resolve to ::1, where nothing listens: some call lands on a.
    assert!(
        eventually(PATIENCE, || async {
            matches!(serves(&channel, "a").await, Ok(true))
        })
        .await,
        "no call reached the replica behind the name"
    );
}

/// Starts `saas serve <components>` with `env`, and answers the address it printed after
/// `prefix` (`grpc listening on `, `http listening on `).
async fn spawn_saas(
    components: &[&str],
    env: &[(&str, String)],
    prefix: &str,
) -> (tokio::process::Child, SocketAddr) {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let mut command = tokio::process::Command::new(saas_tests::saas_binary());
    for (key, _) in std::env::vars() {
        if key.starts_with("SAAS_") {
            command.env_remove(key);
        }
    }
    command
        .arg("serve")
        .args(components)
        .env("SAAS_SERVICE_TOKEN", saas_tests::SERVICE_TOKEN)
        .env("SAAS_ARGON2", "m=8,t=1,p=1")
        .env("SAAS_LOG", "warn")
        // Each process keeps its events: these tests are about finding peers.
        .env("SAAS_BUS", "local")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true);
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("spawn saas");
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let addr = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.expect("read stdout") {
            if let Some(addr) = line.strip_prefix(prefix) {
                return addr.trim().parse::<SocketAddr>().expect("address");
            }
        }
        panic!("saas exited before listening");
    })
    .await
    .expect("saas did not start listening in time");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addr)
}

#[tokio::test]
async fn an_edge_finds_its_data_services_through_etcd_alone() {
    let Some(etcd) = PrivateEtcd::start("discovery edge through etcd").await else {
        return;
    };
    let data_dir = saas_tests::temp_dir("etcd-data");
    let edge_dir = saas_tests::temp_dir("etcd-edge");
    let key_file = edge_dir.join("jwt-key");
    std::fs::write(&key_file, "k".repeat(48)).expect("write the key");
    let (_data, _) = spawn_saas(
        &["identity", "workspace", "billing", "notifications"],
        &[
            ("SAAS_DATA_DIR", data_dir.display().to_string()),
            ("SAAS_GRPC_ADDR", "127.0.0.1:0".into()),
            ("SAAS_ETCD_URL", etcd.url()),
        ],
        "grpc listening on ",
    )
    .await;
    // No SAAS_<CONTEXT>_URL: etcd is the only way the edge can find them.
    let (_edge, http) = spawn_saas(
        &["edge"],
        &[
            ("SAAS_DATA_DIR", edge_dir.display().to_string()),
            ("SAAS_HTTP_ADDR", "127.0.0.1:0".into()),
            ("SAAS_ETCD_URL", etcd.url()),
            ("SAAS_JWT_KEY_FILE", key_file.display().to_string()),
            ("SAAS_RATE_LIMITS", "off".into()),
        ],
        "http listening on ",
    )
    .await;
    let client = reqwest::Client::new();
    assert!(
        eventually(Duration::from_secs(60), || async {
            client
                .get(format!("http://{http}/readyz"))
                .send()
                .await
                .is_ok_and(|r| r.status() == 200)
        })
        .await,
        "the edge never became ready over the services it found in etcd"
    );
    std::fs::remove_dir_all(data_dir).ok();
    std::fs::remove_dir_all(edge_dir).ok();
}
