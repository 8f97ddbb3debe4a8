//! PostgreSQL sessions bound how long a frozen process can hold row locks: every session the
//! services open ends a transaction left idle past `idle_in_transaction_session_timeout`
//! (five seconds unless the URL says otherwise), which frees its locks for the other replicas.

use std::time::Duration;

use platform::db::{
    POSTGRES_CHECK_IDLE_AFTER, POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT, PoolSize, open,
};
use saas_tests::TestDatabase;
use sea_orm::{ConnectionTrait as _, DatabaseConnection, Statement, TransactionTrait as _};

/// The PostgreSQL database to test on, or `None` (the test says it skipped).
async fn postgres(test: &str) -> Option<TestDatabase> {
    match std::env::var("SAAS_TEST_POSTGRES_URL") {
        Ok(admin) if !admin.is_empty() => Some(TestDatabase::fresh_postgres(&admin).await),
        _ => {
            eprintln!("skipped {test}: SAAS_TEST_POSTGRES_URL is not set");
            None
        }
    }
}

/// The one value `sql` selects.
async fn one<T: sea_orm::TryGetable>(db: &DatabaseConnection, sql: String) -> T {
    let row = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), sql))
        .await
        .expect("a query")
        .expect("a row");
    row.try_get_by_index::<T>(0).expect("a value")
}

async fn setting(db: &DatabaseConnection) -> String {
    one(db, "SHOW idle_in_transaction_session_timeout".into()).await
}

#[tokio::test]
async fn every_session_gets_the_idle_in_transaction_timeout_unless_the_url_sets_one() {
    let Some(database) = postgres("every_session_gets_the_idle_in_transaction_timeout").await
    else {
        return;
    };
    let db = open(&database.url, PoolSize { max: 2 })
        .await
        .expect("open");
    assert_eq!(
        setting(&db).await,
        format!("{}s", POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT.as_secs())
    );
    let url = format!(
        "{}?options=-c%20idle_in_transaction_session_timeout%3D750",
        database.url
    );
    let db = open(&url, PoolSize { max: 2 }).await.expect("open");
    assert_eq!(setting(&db).await, "750ms");
}

#[tokio::test]
async fn a_transaction_left_idle_loses_its_row_locks_to_the_other_sessions() {
    let Some(database) = postgres("a_transaction_left_idle_loses_its_row_locks").await else {
        return;
    };
    // A short timeout, so the test does not wait the default out.
    let url = format!(
        "{}?options=-c%20idle_in_transaction_session_timeout%3D300",
        database.url
    );
    let db = open(&url, PoolSize { max: 2 }).await.expect("open");
    db.execute_unprepared("CREATE TABLE counters (id INT PRIMARY KEY, n INT NOT NULL)")
        .await
        .expect("create");
    db.execute_unprepared("INSERT INTO counters VALUES (1, 0)")
        .await
        .expect("insert");

    // The "frozen" holder: locks the row, then sends nothing more.
    let frozen = db.begin().await.expect("begin");
    frozen
        .execute_unprepared("UPDATE counters SET n = n + 1 WHERE id = 1")
        .await
        .expect("lock the row");

    // Another session's write on that row waits for the lock, then goes through once the
    // server has ended the idle transaction.
    let other = open(&url, PoolSize { max: 1 }).await.expect("open");
    let write = tokio::spawn(async move {
        other
            .execute_unprepared("UPDATE counters SET n = n + 10 WHERE id = 1")
            .await
            .map(|done| done.rows_affected())
    });
    let written = tokio::time::timeout(Duration::from_secs(30), write)
        .await
        .expect("the other session's write stayed behind the lock");
    assert_eq!(written.expect("join").expect("the write"), 1);

    // The idle transaction is gone: it commits nothing.
    assert!(
        frozen.commit().await.is_err(),
        "the ended transaction committed"
    );
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT n FROM counters WHERE id = 1",
        ))
        .await
        .expect("select")
        .expect("the row");
    assert_eq!(row.try_get_by_index::<i32>(0).expect("n"), 10);
}

async fn backend_pid(db: &DatabaseConnection) -> Result<i32, sea_orm::DbErr> {
    let row = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT pg_backend_pid()",
        ))
        .await?
        .expect("a row");
    row.try_get_by_index::<i32>(0)
}

#[tokio::test]
async fn a_connection_the_server_ended_while_it_sat_idle_is_replaced_before_a_statement_meets_it() {
    let Some(database) = postgres("a_connection_the_server_ended_while_it_sat_idle").await else {
        return;
    };
    let db = open(&database.url, PoolSize { max: 1 })
        .await
        .expect("open");
    let first = backend_pid(&db).await.expect("a first statement");
    let admin = open(&database.url, PoolSize { max: 1 })
        .await
        .expect("open");
    admin
        .execute_raw(Statement::from_string(
            admin.get_database_backend(),
            format!("SELECT pg_terminate_backend({first})"),
        ))
        .await
        .expect("terminate");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let row = admin
            .query_one_raw(Statement::from_string(
                admin.get_database_backend(),
                format!("SELECT COUNT(*) FROM pg_stat_activity WHERE pid = {first}"),
            ))
            .await
            .expect("pg_stat_activity")
            .expect("a row");
        if row.try_get_by_index::<i64>(0).expect("a count") == 0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the backend never ended"
        );
        tokio::task::yield_now().await;
    }
    // The pool's one connection is now dead, and back in the pool since before the server
    // ended it (sqlx returns it after its release ping, or closes it when that ping meets the
    // ended session). Once it has been idle for the check's threshold, the next statement
    // gets a new connection instead of an error.
    tokio::time::sleep(POSTGRES_CHECK_IDLE_AFTER).await;
    let second = backend_pid(&db)
        .await
        .expect("the dead connection was replaced");
    assert_ne!(first, second);
}

/// How many sessions of the store's lanes the server holds.
async fn lanes(admin: &DatabaseConnection) -> i64 {
    one(
        admin,
        format!(
            "SELECT COUNT(*) FROM pg_stat_activity \
             WHERE datname = current_database() AND application_name = '{}'",
            platform::store::LANE_APPLICATION_NAME
        ),
    )
    .await
}

#[tokio::test]
async fn a_lane_the_server_ended_is_replaced_and_no_command_is_lost() {
    let Some(database) = postgres("a_lane_the_server_ended_is_replaced").await else {
        return;
    };
    let service = saas_tests::IdentityService::spawn_on(std::sync::Arc::new(database)).await;
    let admin = open(&service.database.url, PoolSize { max: 1 })
        .await
        .expect("open");
    let mut client = service.client().await;
    let user = crate::concurrency::register(&mut client).await;
    let mut rename = async |name: String| {
        client
            .change_display_name(saas_proto::identity::v1::ChangeDisplayNameRequest {
                id: user.id.clone(),
                request_id: crate::concurrency::request_id(),
                etag: String::new(),
                display_name: name,
            })
            .await
            .map(tonic::Response::into_inner)
    };
    // A command on an aggregate the store holds is one statement, on a lane.
    for round in 0..3 {
        rename(format!("Before {round}")).await.expect("rename");
    }
    assert!(lanes(&admin).await >= 1, "the renames ran on no lane");

    admin
        .execute_raw(Statement::from_string(
            admin.get_database_backend(),
            format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
                 WHERE datname = current_database() AND application_name = '{}'",
                platform::store::LANE_APPLICATION_NAME
            ),
        ))
        .await
        .expect("terminate the lanes");
    assert!(
        saas_tests::eventually(Duration::from_secs(30), || async {
            lanes(&admin).await == 0
        })
        .await,
        "the lanes' sessions never ended"
    );

    // The first statement meets the ended session: its lane is closed and the command runs
    // in a transaction on the pool instead; the next ones open a new lane.
    let mut last = None;
    for round in 0..3 {
        last = Some(rename(format!("After {round}")).await.expect("rename"));
    }
    let last = last.expect("renamed");
    assert_eq!(last.display_name, "After 2");
    assert_eq!(
        crate::concurrency::version(&last.etag),
        crate::concurrency::version(&user.etag) + 6,
        "every rename was applied once"
    );
    assert!(lanes(&admin).await >= 1, "no lane was opened again");
    service.stop().await;
}
