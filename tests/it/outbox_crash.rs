//! A data service killed (SIGKILL) right after a commit loses no event: the outbox row committed with
//! the aggregate, and the relay of the restarted process publishes it. Runs on the in-process
//! bus, and on NATS JetStream as well when `SAAS_TEST_NATS_URL` is set.

use std::{sync::Arc, time::Duration};

use platform::bus::{Subscriber, local::LocalBus, nats::NatsBus};
use prost::Message as _;
use saas_proto::{events::v1::EventEnvelope, identity::v1::RegisterUserRequest};
use saas_tests::{ServerProcess, TestDatabase, temp_dir, user_client};

const SUBJECT: &str = "saas.events.identity.user.registered";

/// Registers a user on a process that aborts right after the commit, restarts the service
/// on the same database and data directory, and waits for the user's `registered` event on
/// the bus the restarted process relays to.
async fn crash_then_publish(nats: Option<&str>) {
    let database = TestDatabase::fresh().await;
    let data_dir = temp_dir("crash");
    let mut env = vec![("SAAS_FAULT_ABORT_AFTER_COMMIT", "kill")];
    if let Some(url) = nats {
        env.push(("SAAS_NATS_URL", url));
    }

    let mut doomed =
        ServerProcess::start_in(data_dir.clone(), "identity", &database.url, &env).await;
    let email = format!("crash-{}@example.com", uuid::Uuid::now_v7().simple());
    let mut client = user_client(doomed.addr, saas_tests::SERVICE_TOKEN).await;
    let outcome = client
        .register_user(RegisterUserRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            email: email.clone(),
            display_name: "Crash".into(),
            password: "correct horse battery staple".into(),
            ..Default::default()
        })
        .await;
    assert!(outcome.is_err(), "the process should die before answering");
    let status = doomed.wait().await;
    assert!(
        !status.success(),
        "the fault hook aborts the process: {status:?}"
    );

    let restarted =
        ServerProcess::start_in(data_dir.clone(), "identity", &database.url, &env[1..]).await;
    let mut client = user_client(restarted.addr, saas_tests::SERVICE_TOKEN).await;
    let user = client
        .lookup_user(saas_proto::identity::v1::LookupUserRequest {
            email: email.clone(),
        })
        .await
        .expect("the commit survived the crash")
        .into_inner();

    let subscriber: Arc<dyn Subscriber> = match nats {
        Some(url) => Arc::new(NatsBus::connect(url).await.expect("nats")),
        None => Arc::new(
            LocalBus::open(&data_dir.join("bus.db"))
                .await
                .expect("the restarted process's bus"),
        ),
    };
    let name = format!("crash-test-{}", uuid::Uuid::now_v7().simple());
    let mut consumer = subscriber.consumer(&name, SUBJECT).await.expect("consumer");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let mut found = false;
    while tokio::time::Instant::now() < deadline && !found {
        let Some(delivery) = consumer
            .next(Duration::from_millis(500))
            .await
            .expect("bus answers")
        else {
            continue;
        };
        let envelope =
            EventEnvelope::decode(delivery.message.payload.as_slice()).expect("envelope");
        found = envelope.aggregate_id == user.id;
        consumer.ack(&delivery).await.expect("ack");
    }
    eprintln!("published after restart: {} ({found})", user.id);
    assert!(
        found,
        "the registered event of {} was never published",
        user.id
    );
    drop(restarted);
    std::fs::remove_dir_all(&data_dir).ok();
}

#[tokio::test]
async fn an_event_committed_just_before_a_crash_is_published_after_restart() {
    crash_then_publish(None).await;
}

#[tokio::test]
async fn the_same_holds_on_nats_jetstream() {
    let Ok(url) = std::env::var("SAAS_TEST_NATS_URL") else {
        eprintln!("SAAS_TEST_NATS_URL is not set: the NATS variant did not run");
        return;
    };
    crash_then_publish(Some(&url)).await;
}
