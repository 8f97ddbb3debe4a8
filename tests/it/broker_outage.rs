//! A broker outage loses no event: commits go on while NATS is down, the relay backs off, and
//! once the broker is back every event is published. Uses a private `nats-server` on its own
//! port and store directory (the shared one is never stopped); runs when
//! `SAAS_TEST_NATS_URL` is set, as CI does.

use std::{collections::BTreeSet, time::Duration};

use platform::bus::{Subscriber, nats::NatsBus};
use prost::Message as _;
use saas_proto::{events::v1::EventEnvelope, identity::v1::RegisterUserRequest};
use saas_tests::{PrivateNats, ServerProcess, TestDatabase, user_client};

async fn register(addr: std::net::SocketAddr, email: &str) -> String {
    let mut client = user_client(addr, saas_tests::SERVICE_TOKEN).await;
    client
        .register_user(RegisterUserRequest {
            request_id: uuid::Uuid::now_v7().to_string(),
            email: email.to_owned(),
            display_name: "Outage".into(),
            password: "correct horse battery staple".into(),
            ..Default::default()
        })
        .await
        .expect("commits go on while the broker is down")
        .into_inner()
        .id
}

#[tokio::test]
async fn events_committed_while_the_broker_is_down_are_published_when_it_is_back() {
    if std::env::var("SAAS_TEST_NATS_URL").is_err() {
        eprintln!("SAAS_TEST_NATS_URL is not set: the broker outage test did not run");
        return;
    }
    let mut nats = PrivateNats::start().await;
    let database = TestDatabase::fresh().await;
    let url = nats.url();
    let service =
        ServerProcess::start_with("identity", &database.url, &[("SAAS_NATS_URL", &url)]).await;

    let mut expected = BTreeSet::new();
    expected.insert(register(service.addr, "before@example.com").await);
    nats.stop();
    for n in 0..5 {
        expected.insert(register(service.addr, &format!("during-{n}@example.com")).await);
    }
    nats.resume().await;
    expected.insert(register(service.addr, "after@example.com").await);

    let bus = NatsBus::connect(&url).await.expect("private nats");
    let mut consumer = bus
        .consumer("outage-test", "saas.events.identity.user.registered")
        .await
        .expect("consumer");
    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while tokio::time::Instant::now() < deadline && seen.len() < expected.len() {
        let Some(delivery) = consumer
            .next(Duration::from_millis(500))
            .await
            .expect("bus answers")
        else {
            continue;
        };
        let envelope =
            EventEnvelope::decode(delivery.message.payload.as_slice()).expect("envelope");
        seen.push(envelope.aggregate_id);
        consumer.ack(&delivery).await.expect("ack");
    }
    let distinct: BTreeSet<String> = seen.iter().cloned().collect();
    assert_eq!(distinct, expected, "every registered event arrives");
    assert_eq!(seen.len(), distinct.len(), "the broker dropped duplicates");
}
