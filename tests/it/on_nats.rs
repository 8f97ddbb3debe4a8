//! Runs whole-system tests over NATS JetStream instead of the in-process bus: each test gets
//! a private `nats-server` of its own (the policies' and the edge's consumer names are fixed,
//! so two systems must not share a broker). Runs when `SAAS_TEST_NATS_URL` is set, the sign
//! that NATS is installed, as in CI.

use saas_tests::{PrivateNats, System, SystemOptions};

/// A private broker, or `None` (with a note) when NATS tests are not asked for.
pub async fn private_nats() -> Option<PrivateNats> {
    if std::env::var("SAAS_TEST_NATS_URL").is_err() {
        eprintln!("SAAS_TEST_NATS_URL is not set: the NATS variant did not run");
        return None;
    }
    Some(PrivateNats::start().await)
}

/// The whole system with `nats` as its event bus.
pub async fn system(nats: &PrivateNats) -> System {
    System::spawn_with(SystemOptions {
        nats_url: Some(nats.url()),
        ..SystemOptions::default()
    })
    .await
}
