//! The same races across two instances of the Identity data service running as separate OS
//! processes on one database, so no in-process lock can be what passes them; and SIGTERM
//! under load: calls in flight finish or are refused, nothing is half-committed.

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use saas_tests::{
    IdentityService, SERVICE_TOKEN, ServerProcess, TestDatabase, UserClient, eventually, sigterm,
    user_client,
};
use tonic::Code;

use crate::concurrency::{
    DISPLAY_NAME_CHANGED, PATIENCE, all_at_once, assert_identical, assert_one_winner, get, open_db,
    outbox_events, outbox_rows, reason, recorded_requests, register, rename, rename_request,
    request_id, unfinished_idempotency_rows, version,
};

/// Two `saas serve identity` processes on one database, and a client for each.
async fn two_processes(db: &TestDatabase) -> ([ServerProcess; 2], [UserClient; 2]) {
    let first = ServerProcess::start("identity", &db.url).await;
    let second = ServerProcess::start("identity", &db.url).await;
    assert_ne!(first.pid(), second.pid());
    let clients = [
        user_client(first.addr, SERVICE_TOKEN).await,
        user_client(second.addr, SERVICE_TOKEN).await,
    ];
    ([first, second], clients)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_etag_race_across_two_processes_has_exactly_one_winner() {
    let db = TestDatabase::fresh().await;
    let (_servers, clients) = two_processes(&db).await;
    let user = register(&mut clients[0].clone()).await;

    let results = all_at_once(100, |i| {
        let mut client = clients[i % 2].clone();
        let request = rename_request(&user.id, &request_id(), &user.etag, &format!("Name {i}"));
        async move { rename(&mut client, request).await }
    })
    .await;

    assert_one_winner(&results, &user);
    for client in &clients {
        let after = get(&mut client.clone(), &user.id).await.unwrap();
        assert_eq!(version(&after.etag), version(&user.etag) + 1);
    }
    let conn = open_db(&db).await;
    assert_eq!(
        outbox_rows(&conn, &user.id, Some(DISPLAY_NAME_CHANGED)).await,
        1
    );
    assert_eq!(unfinished_idempotency_rows(&conn).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn duplicates_across_two_processes_execute_once() {
    let db = TestDatabase::fresh().await;
    let (_servers, clients) = two_processes(&db).await;
    let user = register(&mut clients[0].clone()).await;

    let request = rename_request(&user.id, &request_id(), &user.etag, "Once");
    let results = all_at_once(50, |i| {
        let mut client = clients[i % 2].clone();
        let request = request.clone();
        async move { rename(&mut client, request).await }
    })
    .await;

    let original = assert_identical(&results);
    assert_eq!(version(&original.etag), version(&user.etag) + 1);
    let after = get(&mut clients[1].clone(), &user.id).await.unwrap();
    assert_eq!(after.etag, original.etag, "executed once");
    let conn = open_db(&db).await;
    assert_eq!(
        outbox_rows(&conn, &user.id, Some(DISPLAY_NAME_CHANGED)).await,
        1
    );
    assert_eq!(unfinished_idempotency_rows(&conn).await, 0);
}

/// What the writers saw: every acknowledged rename as (version, display name).
type Acks = Arc<Mutex<Vec<(u64, String)>>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sigterm_under_load_drains_and_leaves_no_partial_commit() {
    let db = Arc::new(TestDatabase::fresh().await);
    let mut server = ServerProcess::start("identity", &db.url).await;
    let client = user_client(server.addr, SERVICE_TOKEN).await;
    let user = register(&mut client.clone()).await;
    let initial = version(&user.etag);

    let acks: Acks = Arc::default();
    let terminated = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            // Half the writers share a connection, half have their own.
            let shared = client.clone();
            let (acks, terminated, id) = (acks.clone(), terminated.clone(), user.id.clone());
            let addr = server.addr;
            tokio::spawn(async move {
                let mut client = if w % 2 == 0 {
                    shared
                } else {
                    user_client(addr, SERVICE_TOKEN).await
                };
                let mut unexpected = Vec::new();
                for i in 0.. {
                    let etag = match get(&mut client, &id).await {
                        Ok(user) => user.etag,
                        Err(status) => {
                            if !terminated.load(Ordering::SeqCst) {
                                unexpected.push(status);
                            }
                            break;
                        }
                    };
                    let name = format!("w{w}-{i}");
                    let request = rename_request(&id, &request_id(), &etag, &name);
                    match rename(&mut client, request).await {
                        Ok(user) => acks.lock().unwrap().push((version(&user.etag), name)),
                        Err(status) if status.code() == Code::Aborted => {
                            assert_eq!(reason(&status), "ETAG_MISMATCH", "{status:?}");
                        }
                        // Refused or cut off by the shutdown: the outcome is unknown to
                        // this writer, which stops here.
                        Err(status) => {
                            if !terminated.load(Ordering::SeqCst) {
                                unexpected.push(status);
                            }
                            break;
                        }
                    }
                }
                unexpected
            })
        })
        .collect();

    // Let the load build up, then terminate the server in the middle of it.
    let loaded = eventually(PATIENCE, || {
        let acks = acks.clone();
        async move { acks.lock().unwrap().len() >= 40 }
    })
    .await;
    assert!(loaded, "the writers made progress before SIGTERM");
    terminated.store(true, Ordering::SeqCst);
    sigterm(server.pid());
    let status = tokio::time::timeout(Duration::from_secs(60), server.wait())
        .await
        .expect("the server exits after draining");
    assert!(status.success(), "a drained shutdown exits 0: {status:?}");

    for writer in writers {
        let unexpected = writer.await.expect("writer panicked");
        assert!(
            unexpected.is_empty(),
            "calls failed before SIGTERM: {unexpected:?}"
        );
    }
    let acks = acks.lock().unwrap().clone();
    assert!(acks.len() >= 40);

    // Read what was committed, with the process gone.
    let reader = IdentityService::spawn_on(db.clone()).await;
    let after = get(&mut reader.client().await, &user.id).await.unwrap();
    let final_version = version(&after.etag);
    let conn = open_db(&db).await;
    let events: BTreeMap<i64, String> = outbox_events(&conn, &user.id, DISPLAY_NAME_CHANGED)
        .await
        .into_iter()
        .map(|(version, envelope)| {
            let payload = envelope.payload.expect("a payload");
            let changed: saas_proto::identity::v1::UserDisplayNameChanged =
                payload.to_msg().expect("a UserDisplayNameChanged");
            (version, changed.display_name)
        })
        .collect();

    // Every committed version has exactly its outbox row, and every outbox row its version.
    assert_eq!(
        final_version,
        initial + events.len() as u64,
        "version = 1 + display_name_changed outbox rows"
    );
    assert_eq!(
        events.keys().copied().collect::<Vec<_>>(),
        (initial as i64 + 1..=final_version as i64).collect::<Vec<_>>(),
        "one outbox row per version, no gaps, no duplicates"
    );
    // Every acknowledged write is in the state: its version is committed with its name.
    for (acked, name) in &acks {
        assert!(*acked <= final_version, "acknowledged v{acked} was lost");
        let committed = events
            .get(&(*acked as i64))
            .unwrap_or_else(|| panic!("acknowledged v{acked} has no outbox row"));
        assert_eq!(
            committed, name,
            "v{acked} was acknowledged as {name:?} but committed as {committed:?}"
        );
    }
    let latest = &events[&(final_version as i64)];
    assert_eq!(
        *latest, after.display_name,
        "the stored name is the last event's"
    );
    assert_eq!(
        unfinished_idempotency_rows(&conn).await,
        0,
        "no claimed request was left without its response"
    );
    assert_eq!(
        recorded_requests(&conn, "ChangeDisplayName").await,
        events.len() as i64,
        "every committed rename has its idempotency record, and only those"
    );
    reader.stop().await;
}

/// Replicas of a data service are started together; on a fresh database both run the
/// migrations at once, and both must come up (the migrations need a lock, or must tolerate
/// losing the race).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_replicas_starting_at_once_on_a_fresh_database_both_serve() {
    // A race: a few fresh databases make losing it likely.
    for _ in 0..5 {
        let db = TestDatabase::fresh().await;
        let (first, second) = tokio::join!(
            ServerProcess::start("identity", &db.url),
            ServerProcess::start("identity", &db.url)
        );
        let user = register(&mut user_client(first.addr, SERVICE_TOKEN).await).await;
        let seen = get(&mut user_client(second.addr, SERVICE_TOKEN).await, &user.id)
            .await
            .unwrap();
        assert_eq!(seen, user);
    }
}

/// A process that has a user cached still answers a read with the version another process
/// committed after it (the read checks the stored version on every call, on both databases).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_read_returns_what_another_process_committed_after_the_reader_cached_it() {
    let db = TestDatabase::fresh().await;
    let (_servers, clients) = two_processes(&db).await;
    let [mut reader, mut writer] = clients;
    let user = register(&mut reader).await;
    for _ in 0..2 {
        // The reader decodes and caches this version.
        assert_eq!(get(&mut reader, &user.id).await.unwrap().etag, user.etag);
    }
    for round in 0..3 {
        let renamed = rename(
            &mut writer,
            rename_request(&user.id, &request_id(), "", &format!("Renamed {round}")),
        )
        .await
        .unwrap();
        let read = get(&mut reader, &user.id).await.unwrap();
        assert_eq!(read.etag, renamed.etag, "round {round}");
        assert_eq!(read.display_name, format!("Renamed {round}"));
        // A command in the reader's process after the other's write decides on that write.
        let again = rename(
            &mut reader,
            rename_request(&user.id, &request_id(), "", &format!("Back {round}")),
        )
        .await
        .unwrap();
        assert_eq!(version(&again.etag), version(&renamed.etag) + 1);
        assert_eq!(
            get(&mut writer, &user.id).await.unwrap().display_name,
            format!("Back {round}")
        );
    }
}
