//! Optimistic concurrency, idempotency and load shedding under real concurrency (QUALITY.md
//! "Reliability"), on the harness database: SQLite, or PostgreSQL when
//! `SAAS_TEST_POSTGRES_URL` is set.
//!
//! The helpers here are shared with [`crate::processes`], which runs the same races across
//! two OS processes.

use std::{collections::BTreeSet, sync::Arc};

use kernel_domain::Version;
use saas_proto::identity::v1 as pb;
use saas_tests::{Engine, IdentityService, ServerProcess, TestDatabase, UserClient, eventually};
use sea_orm::{ConnectionTrait, DatabaseConnection, Statement, TransactionTrait, Value};
use tokio::sync::Barrier;
use tonic::{Code, Status};
use uuid::Uuid;

pub(crate) const PASSWORD: &str = "correct horse battery staple";
pub(crate) const DISPLAY_NAME_CHANGED: &str = "identity.user.display_name_changed";

/// How long a test waits for a condition before it fails (generous: CI machines are shared).
pub(crate) const PATIENCE: std::time::Duration = std::time::Duration::from_secs(30);

/// A fresh request id.
pub(crate) fn request_id() -> String {
    Uuid::now_v7().to_string()
}

/// The `ErrorInfo` reason of a status.
pub(crate) fn reason(status: &Status) -> String {
    platform::rpc::error_reason(status).unwrap_or_default()
}

/// The version an etag stands for.
pub(crate) fn version(etag: &str) -> u64 {
    Version::parse_etag(etag)
        .unwrap_or_else(|_| panic!("the server issued an etag it cannot parse: {etag:?}"))
        .get()
}

/// Registers a user with a unique email.
pub(crate) async fn register(client: &mut UserClient) -> pb::User {
    client
        .register_user(pb::RegisterUserRequest {
            request_id: request_id(),
            email: format!("user-{}@example.com", Uuid::now_v7().simple()),
            display_name: "Initial".into(),
            password: PASSWORD.into(),
            ..Default::default()
        })
        .await
        .expect("register a user")
        .into_inner()
}

/// Reads a user.
pub(crate) async fn get(client: &mut UserClient, id: &str) -> Result<pb::User, Status> {
    client
        .get_user(pb::GetUserRequest { id: id.into() })
        .await
        .map(tonic::Response::into_inner)
}

/// A ChangeDisplayName request.
pub(crate) fn rename_request(
    id: &str,
    request_id: &str,
    etag: &str,
    name: &str,
) -> pb::ChangeDisplayNameRequest {
    pb::ChangeDisplayNameRequest {
        id: id.into(),
        request_id: request_id.into(),
        etag: etag.into(),
        display_name: name.into(),
    }
}

/// Sends a ChangeDisplayName request.
pub(crate) async fn rename(
    client: &mut UserClient,
    request: pb::ChangeDisplayNameRequest,
) -> Result<pb::User, Status> {
    client
        .change_display_name(request)
        .await
        .map(tonic::Response::into_inner)
}

/// Runs `calls` at once: every call is spawned on its own task and waits on a barrier, so
/// they reach the server together. Results come back in call order.
pub(crate) async fn all_at_once<T, F, Fut>(calls: usize, call: F) -> Vec<T>
where
    T: Send + 'static,
    F: Fn(usize) -> Fut,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(calls));
    let tasks: Vec<_> = (0..calls)
        .map(|i| {
            let barrier = barrier.clone();
            let fut = call(i);
            tokio::spawn(async move {
                barrier.wait().await;
                fut.await
            })
        })
        .collect();
    let mut results = Vec::with_capacity(calls);
    for task in tasks {
        results.push(task.await.expect("call task panicked"));
    }
    results
}

/// Opens the test database directly (a small pool beside the services').
pub(crate) async fn open_db(db: &TestDatabase) -> DatabaseConnection {
    platform::db::open(&db.url, platform::db::PoolSize { max: 2 })
        .await
        .expect("open the test database")
}

/// A statement with numbered placeholders (`$1`, `$2`, ...), which SQLite and PostgreSQL
/// both read.
fn stmt(conn: &impl ConnectionTrait, sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(conn.get_database_backend(), sql, values)
}

/// One `SELECT COUNT(*) ...` with numbered placeholders.
pub(crate) async fn count(conn: &DatabaseConnection, sql: &str, values: Vec<Value>) -> i64 {
    conn.query_one_raw(stmt(conn, sql, values))
        .await
        .expect("count query")
        .expect("a count row")
        .try_get_by_index::<i64>(0)
        .expect("count is an integer")
}

/// Outbox rows of one aggregate, optionally of one event type.
pub(crate) async fn outbox_rows(
    conn: &DatabaseConnection,
    aggregate_id: &str,
    event_type: Option<&str>,
) -> i64 {
    match event_type {
        Some(event_type) => {
            count(
                conn,
                "SELECT COUNT(*) FROM outbox WHERE aggregate_id = $1 AND event_type = $2",
                vec![aggregate_id.into(), event_type.into()],
            )
            .await
        }
        None => {
            count(
                conn,
                "SELECT COUNT(*) FROM outbox WHERE aggregate_id = $1",
                vec![aggregate_id.into()],
            )
            .await
        }
    }
}

/// The `(aggregate_version, envelope)` of every outbox row of one aggregate and event type.
pub(crate) async fn outbox_events(
    conn: &DatabaseConnection,
    aggregate_id: &str,
    event_type: &str,
) -> Vec<(i64, saas_proto::events::v1::EventEnvelope)> {
    conn.query_all_raw(stmt(
        conn,
        "SELECT aggregate_version, envelope FROM outbox \
         WHERE aggregate_id = $1 AND event_type = $2 ORDER BY seq",
        vec![aggregate_id.into(), event_type.into()],
    ))
    .await
    .expect("read the outbox")
    .iter()
    .map(|row| {
        (
            row.try_get_by_index::<i64>(0).expect("aggregate_version"),
            prost::Message::decode(
                row.try_get_by_index::<Vec<u8>>(1)
                    .expect("envelope")
                    .as_slice(),
            )
            .expect("an EventEnvelope"),
        )
    })
    .collect()
}

/// Idempotency records still waiting for their response (a claim that was never finished).
pub(crate) async fn unfinished_idempotency_rows(conn: &DatabaseConnection) -> i64 {
    count(
        conn,
        "SELECT COUNT(*) FROM idempotency WHERE response IS NULL",
        vec![],
    )
    .await
}

/// Idempotency records of one method.
pub(crate) async fn recorded_requests(conn: &DatabaseConnection, method: &str) -> i64 {
    count(
        conn,
        "SELECT COUNT(*) FROM idempotency WHERE method = $1",
        vec![method.into()],
    )
    .await
}

/// Checks the outcome of a same-etag race: exactly one success, every other call `ABORTED`
/// with `ETAG_MISMATCH`.
pub(crate) fn assert_one_winner(results: &[Result<pb::User, Status>], initial: &pb::User) {
    let winners: Vec<_> = results.iter().filter_map(|r| r.as_ref().ok()).collect();
    let losers: Vec<_> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert_eq!(
        winners.len(),
        1,
        "exactly one command with the current etag may win; errors: {:?}",
        losers
            .iter()
            .map(|s| format!("{:?} {}", s.code(), reason(s)))
            .collect::<BTreeSet<_>>()
    );
    assert_eq!(version(&winners[0].etag), version(&initial.etag) + 1);
    for status in &losers {
        assert_eq!(
            (status.code(), reason(status).as_str()),
            (Code::Aborted, "ETAG_MISMATCH"),
            "a loser must be ABORTED / ETAG_MISMATCH: {status:?}"
        );
    }
    assert_eq!(losers.len(), results.len() - 1);
}

/// Checks that every response of a duplicate race is the same successful response.
pub(crate) fn assert_identical(results: &[Result<pb::User, Status>]) -> pb::User {
    let first = match &results[0] {
        Ok(user) => user.clone(),
        Err(status) => panic!("a duplicate failed: {status:?}"),
    };
    for result in results {
        match result {
            Ok(user) => assert_eq!(user, &first, "every duplicate gets the original response"),
            Err(status) => panic!("a duplicate failed: {status:?}"),
        }
    }
    first
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn same_etag_race_has_exactly_one_winner() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client).await;

    let results = all_at_once(100, |i| {
        let mut client = client.clone();
        let request = rename_request(&user.id, &request_id(), &user.etag, &format!("Name {i}"));
        async move { rename(&mut client, request).await }
    })
    .await;

    assert_one_winner(&results, &user);
    let db = open_db(&service.database).await;
    assert_eq!(
        recorded_requests(&db, "ChangeDisplayName").await,
        1,
        "rejected commands leave no idempotency record"
    );
    let after = get(&mut client, &user.id).await.unwrap();
    assert_eq!(version(&after.etag), version(&user.etag) + 1);
    let winner = results.iter().find_map(|r| r.as_ref().ok()).unwrap();
    assert_eq!(after.display_name, winner.display_name);
    assert_eq!(
        outbox_rows(&db, &user.id, Some(DISPLAY_NAME_CHANGED)).await,
        1,
        "rejected commands leave no outbox rows"
    );
    assert_eq!(unfinished_idempotency_rows(&db).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retrying_on_aborted_loses_no_update() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client).await;
    let db = open_db(&service.database).await;
    let outbox_before = outbox_rows(&db, &user.id, None).await;

    let results = all_at_once(100, |i| {
        let mut client = client.clone();
        let (id, first_etag) = (user.id.clone(), user.etag.clone());
        async move {
            // One logical command per client: its request id stays the same across retries
            // (a rejected attempt leaves no trace, so the new etag is not a reuse).
            let request_id = request_id();
            let name = format!("Writer {i}");
            let mut etag = first_etag;
            let mut attempts = 0u32;
            loop {
                attempts += 1;
                match rename(&mut client, rename_request(&id, &request_id, &etag, &name)).await {
                    Ok(user) => return (user, attempts),
                    Err(status) if status.code() == Code::Aborted => {
                        assert_eq!(reason(&status), "ETAG_MISMATCH", "{status:?}");
                        assert!(attempts <= 200, "client {i} never won: {status:?}");
                        etag = get(&mut client, &id).await.expect("re-read").etag;
                    }
                    Err(status) => panic!("client {i}: unexpected {status:?}"),
                }
            }
        }
    })
    .await;

    let initial = version(&user.etag);
    let acknowledged: BTreeSet<u64> = results.iter().map(|(u, _)| version(&u.etag)).collect();
    assert_eq!(
        acknowledged,
        (initial + 1..=initial + 100).collect::<BTreeSet<_>>(),
        "every success got its own version: no two writers won the same version"
    );
    assert!(
        results.iter().any(|(_, attempts)| *attempts > 1),
        "the writers really raced"
    );
    let after = get(&mut client, &user.id).await.unwrap();
    assert_eq!(version(&after.etag), initial + 100, "0 lost updates");
    let last = results
        .iter()
        .max_by_key(|(u, _)| version(&u.etag))
        .unwrap();
    assert_eq!(after.display_name, last.0.display_name);

    assert_eq!(
        outbox_rows(&db, &user.id, None).await - outbox_before,
        100,
        "one outbox row per accepted command"
    );
    let versions: BTreeSet<i64> = outbox_events(&db, &user.id, DISPLAY_NAME_CHANGED)
        .await
        .into_iter()
        .map(|(v, _)| v)
        .collect();
    assert_eq!(
        versions,
        (initial as i64 + 1..=initial as i64 + 100).collect::<BTreeSet<_>>()
    );
    assert_eq!(recorded_requests(&db, "ChangeDisplayName").await, 100);
    assert_eq!(unfinished_idempotency_rows(&db).await, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicates_execute_once() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client).await;
    let db = open_db(&service.database).await;

    let request = rename_request(&user.id, &request_id(), &user.etag, "Once");
    let results = all_at_once(50, |_| {
        let mut client = client.clone();
        let request = request.clone();
        async move { rename(&mut client, request).await }
    })
    .await;

    let original = assert_identical(&results);
    assert_eq!(version(&original.etag), version(&user.etag) + 1);
    let after = get(&mut client, &user.id).await.unwrap();
    assert_eq!(after.etag, original.etag, "executed once: version +1");
    assert_eq!(
        outbox_rows(&db, &user.id, Some(DISPLAY_NAME_CHANGED)).await,
        1
    );

    // A later repeat, with the etag now stale, still replays the original response.
    let replay = rename(&mut client, request.clone()).await.unwrap();
    assert_eq!(replay, original);
    assert_eq!(unfinished_idempotency_rows(&db).await, 0);
}

/// A commit that fails (the store's test-only fault hook) fails every command waiting on it
/// with `UNAVAILABLE` / `COMMIT_FAILED` and executes none of them: no new version, no outbox
/// row, no idempotency record; the same requests retried afterwards execute once each.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_commit_fails_every_command_of_its_batch_and_executes_none() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let db = open_db(&service.database).await;
    let mut users = Vec::new();
    for _ in 0..8 {
        users.push(register(&mut client).await);
    }
    let requests: Arc<Vec<pb::ChangeDisplayNameRequest>> = Arc::new(
        (0..32)
            .map(|i| {
                let user = &users[i % users.len()];
                rename_request(&user.id, &request_id(), "", &format!("Doomed {i}"))
            })
            .collect(),
    );

    service.store.fail_commits(true);
    let results = all_at_once(requests.len(), |i| {
        let mut client = client.clone();
        let request = requests[i].clone();
        async move { rename(&mut client, request).await }
    })
    .await;
    for result in &results {
        let status = result.as_ref().expect_err("no commit succeeds");
        assert_eq!(status.code(), Code::Unavailable, "{status:?}");
        assert_eq!(reason(status), "COMMIT_FAILED");
    }
    for user in &users {
        let now = get(&mut client, &user.id).await.unwrap();
        assert_eq!(now.etag, user.etag, "nothing executed");
        assert_eq!(
            outbox_rows(&db, &user.id, Some(DISPLAY_NAME_CHANGED)).await,
            0
        );
    }
    assert_eq!(recorded_requests(&db, "ChangeDisplayName").await, 0);

    service.store.fail_commits(false);
    for _ in 0..2 {
        let retried = all_at_once(requests.len(), |i| {
            let mut client = client.clone();
            let request = requests[i].clone();
            async move { rename(&mut client, request).await }
        })
        .await;
        assert!(retried.iter().all(Result::is_ok), "{retried:?}");
    }
    let per_user = (requests.len() / users.len()) as u64;
    for user in &users {
        let now = get(&mut client, &user.id).await.unwrap();
        assert_eq!(
            version(&now.etag),
            version(&user.etag) + per_user,
            "each once"
        );
    }
    assert_eq!(
        recorded_requests(&db, "ChangeDisplayName").await,
        requests.len() as i64
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_duplicate_registrations_make_one_user() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let request = pb::RegisterUserRequest {
        request_id: request_id(),
        email: "dup@example.com".into(),
        display_name: "Dup".into(),
        password: PASSWORD.into(),
        ..Default::default()
    };
    let results = all_at_once(50, |_| {
        let mut client = client.clone();
        let request = request.clone();
        async move {
            client
                .register_user(request)
                .await
                .map(tonic::Response::into_inner)
        }
    })
    .await;

    let original = assert_identical(&results);
    let listed = client
        .list_users(pb::ListUsersRequest {
            page_size: 100,
            page_token: String::new(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.users.len(), 1, "one user for 50 duplicates");
    assert_eq!(listed.users[0].id, original.id);

    let db = open_db(&service.database).await;
    assert_eq!(outbox_rows(&db, &original.id, None).await, 1);
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM idempotency", vec![]).await,
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_id_reused_for_another_request_is_refused() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let user = register(&mut client).await;
    let id = request_id();

    let first = rename(
        &mut client,
        rename_request(&user.id, &id, &user.etag, "First"),
    )
    .await
    .unwrap();
    for other in [
        rename_request(&user.id, &id, &user.etag, "Second"),
        rename_request(&user.id, &id, "", "First"),
    ] {
        let status = rename(&mut client, other).await.unwrap_err();
        assert_eq!(
            (status.code(), reason(&status).as_str()),
            (Code::InvalidArgument, "REQUEST_ID_REUSED"),
            "{status:?}"
        );
    }
    // Another method under the same id is a different request too.
    let status = client
        .register_user(pb::RegisterUserRequest {
            request_id: id.clone(),
            email: "other@example.com".into(),
            display_name: "Other".into(),
            password: PASSWORD.into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(
        (status.code(), reason(&status).as_str()),
        (Code::InvalidArgument, "REQUEST_ID_REUSED"),
        "{status:?}"
    );
    let after = get(&mut client, &user.id).await.unwrap();
    assert_eq!(after, first, "the refused requests changed nothing");
}

/// On PostgreSQL, commands of one method waiting for a lane share one statement, which commits
/// all of them or none: one that cannot be written (its request id is already recorded for
/// another user) fails the statement, and every command in it is then run on its own, so the
/// others are applied once and only that one is refused. On SQLite the writer's batch does
/// the same with a savepoint per command.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_command_among_many_at_once_leaves_the_others_applied_once() {
    let service = IdentityService::spawn().await;
    let mut client = service.client().await;
    let mut users = Vec::new();
    for _ in 0..40 {
        users.push(register(&mut client).await);
    }
    let taken = request_id();
    rename(
        &mut client,
        rename_request(&users[0].id, &taken, &users[0].etag, "Taken"),
    )
    .await
    .expect("the first use of the request id");

    let results = all_at_once(users.len() - 1, |i| {
        let mut client = client.clone();
        let user = &users[i + 1];
        let id = if i == 0 { taken.clone() } else { request_id() };
        let request = rename_request(&user.id, &id, &user.etag, &format!("Name {i}"));
        async move { rename(&mut client, request).await }
    })
    .await;

    let db = open_db(&service.database).await;
    for (i, result) in results.iter().enumerate() {
        let user = &users[i + 1];
        let after = get(&mut client, &user.id).await.unwrap();
        let changes = outbox_rows(&db, &user.id, Some(DISPLAY_NAME_CHANGED)).await;
        if i == 0 {
            let status = result.as_ref().unwrap_err();
            assert_eq!(
                (status.code(), reason(status).as_str()),
                (Code::InvalidArgument, "REQUEST_ID_REUSED"),
                "{status:?}"
            );
            assert_eq!(&after, user, "the refused command changed nothing");
            assert_eq!(changes, 0);
        } else {
            let renamed = result.as_ref().expect("every other command is applied");
            assert_eq!(renamed.display_name, format!("Name {i}"));
            assert_eq!(version(&after.etag), version(&user.etag) + 1);
            assert_eq!(&after, renamed);
            assert_eq!(changes, 1, "applied once");
        }
    }
    assert_eq!(unfinished_idempotency_rows(&db).await, 0);
}

/// Classifies the outcome of a call against a server with a tiny concurrency limit.
#[derive(Debug, Default)]
struct Shedding {
    ok: usize,
    overloaded: usize,
    other: Vec<(Code, String)>,
}

impl Shedding {
    fn record<T>(&mut self, result: &Result<T, Status>) {
        match result {
            Ok(_) => self.ok += 1,
            Err(s) if s.code() == Code::Unavailable && reason(s) == "OVERLOADED" => {
                self.overloaded += 1
            }
            Err(s) => self.other.push((s.code(), reason(s))),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn past_the_concurrency_limit_calls_are_shed_not_failed() {
    let db = TestDatabase::fresh().await;
    let server = ServerProcess::start_with(
        "identity",
        &db.url,
        &[
            ("SAAS_CONCURRENCY_LIMIT", "1"),
            // OWASP cost: each verification takes long enough for the calls to overlap.
            ("SAAS_ARGON2", "m=19456,t=2,p=1"),
        ],
    )
    .await;
    let mut client = saas_tests::user_client(server.addr, saas_tests::SERVICE_TOKEN).await;
    let user = register(&mut client).await;

    // Several connections, so the calls arrive in parallel, not one behind another.
    let mut clients = Vec::new();
    for _ in 0..5 {
        clients.push(saas_tests::user_client(server.addr, saas_tests::SERVICE_TOKEN).await);
    }
    let results = all_at_once(50, |i| {
        let mut client = clients[i % clients.len()].clone();
        let email = user.email.clone();
        async move {
            client
                .verify_credentials(pb::VerifyCredentialsRequest {
                    email,
                    password: PASSWORD.into(),
                })
                .await
                .map(tonic::Response::into_inner)
        }
    })
    .await;

    let mut outcome = Shedding::default();
    for result in &results {
        outcome.record(result);
    }
    assert!(outcome.overloaded >= 1, "a limit of 1 sheds: {outcome:?}");
    assert!(
        outcome.ok >= 1,
        "the call holding the permit succeeds: {outcome:?}"
    );
    assert!(
        outcome.other.is_empty(),
        "shed calls are UNAVAILABLE / OVERLOADED, never INTERNAL: {outcome:?}"
    );
    // The server recovers: once the wave is over, a call goes through.
    client
        .get_user(pb::GetUserRequest { id: user.id })
        .await
        .unwrap();
}

/// Holds the database's write lock (SQLite) or the user's row lock (PostgreSQL), so a command
/// on that user blocks inside the server while holding its only permit.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_in_flight_at_the_limit_sheds_every_other_call() {
    let db = TestDatabase::fresh().await;
    let server =
        ServerProcess::start_with("identity", &db.url, &[("SAAS_CONCURRENCY_LIMIT", "1")]).await;
    let mut client = saas_tests::user_client(server.addr, saas_tests::SERVICE_TOKEN).await;
    let user = register(&mut client).await;

    let conn = open_db(&db).await;
    let lock = match db.engine {
        Engine::Sqlite => platform::db::begin_write(&conn).await.unwrap(),
        Engine::Postgres => {
            let txn = conn.begin().await.unwrap();
            txn.query_one_raw(stmt(
                &txn,
                "SELECT version FROM users WHERE id = $1 FOR UPDATE",
                vec![user.id.clone().into()],
            ))
            .await
            .unwrap()
            .expect("the user row");
            txn
        }
    };

    let blocked = tokio::spawn({
        let mut client = client.clone();
        let request = rename_request(&user.id, &request_id(), &user.etag, "Blocked");
        async move {
            // A probe may hold the only permit at the moment this arrives: then this call is
            // the one shed, and it tries again until it holds the permit and blocks.
            loop {
                match rename(&mut client, request.clone()).await {
                    Err(s) if s.code() == Code::Unavailable && reason(&s) == "OVERLOADED" => {
                        tokio::task::yield_now().await;
                    }
                    other => return other,
                }
            }
        }
    });

    // While the blocked command holds the only permit, every other call is shed at once.
    let mut probe = saas_tests::user_client(server.addr, saas_tests::SERVICE_TOKEN).await;
    let shed = eventually(PATIENCE, || {
        let mut probe = probe.clone();
        let id = user.id.clone();
        async move {
            match get(&mut probe, &id).await {
                Err(s) => s.code() == Code::Unavailable && reason(&s) == "OVERLOADED",
                Ok(_) => false,
            }
        }
    })
    .await;
    let mut outcome = Shedding::default();
    if shed {
        let wave = all_at_once(20, |_| {
            let mut probe = probe.clone();
            let id = user.id.clone();
            async move { get(&mut probe, &id).await }
        })
        .await;
        for result in &wave {
            outcome.record(result);
        }
    }
    lock.rollback().await.unwrap();

    let renamed = blocked.await.unwrap();
    assert!(
        shed,
        "a call past the limit must be shed while one is in flight"
    );
    assert_eq!(
        (outcome.ok, outcome.overloaded, outcome.other.len()),
        (0, 20, 0),
        "every call past the limit is shed: {outcome:?}"
    );
    let renamed = renamed.expect("the call holding the permit completes once the lock is gone");
    assert_eq!(renamed.display_name, "Blocked");
    assert_eq!(get(&mut probe, &user.id).await.unwrap(), renamed);
}
