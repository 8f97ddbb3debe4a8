//! Password hashing is bounded: while every hashing slot is busy, a call that cannot get one
//! within the wait is shed with `UNAVAILABLE` / `OVERLOADED` instead of queueing.

use std::{
    sync::{Arc, Mutex, mpsc},
    time::Duration,
};

use identity_domain::{Password, PasswordHash, PasswordHasher};
use platform::server::{GrpcServer, ServerConfig};
use saas_proto::identity::v1::{self as pb, user_service_server::UserServiceServer};
use saas_tests::{SERVICE_TOKEN, TestDatabase, user_client};
use tonic::Code;

/// A hasher that tells when a hash starts and then waits to be let through.
struct GatedHasher {
    entered: Mutex<mpsc::Sender<()>>,
    release: Mutex<mpsc::Receiver<()>>,
}

impl PasswordHasher for GatedHasher {
    fn hash(&self, password: &Password) -> PasswordHash {
        let _ = self.entered.lock().unwrap().send(());
        let _ = self
            .release
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(30));
        PasswordHash::from_phc(format!("gated${}", password.expose().len()))
    }

    fn verify(&self, _password: &Password, _hash: Option<&PasswordHash>) -> bool {
        false
    }
}

fn register(email: &str) -> pb::RegisterUserRequest {
    pb::RegisterUserRequest {
        request_id: uuid::Uuid::now_v7().to_string(),
        email: email.into(),
        display_name: "Gated".into(),
        password: "correct horse battery".into(),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_that_finds_every_hashing_slot_busy_is_shed() {
    let database = TestDatabase::fresh().await;
    let store = identity_data::open(
        &database.url,
        platform::db::PoolSize { max: 2 },
        Arc::new(platform::SystemClock),
    )
    .await
    .unwrap();
    let (entered_tx, entered) = mpsc::channel();
    let (release, release_rx) = mpsc::channel();
    let hasher = Arc::new(GatedHasher {
        entered: Mutex::new(entered_tx),
        release: Mutex::new(release_rx),
    });
    let api = identity_data::UserApi::with_hashing_limit(
        store,
        hasher,
        identity_data::HashingLimit {
            slots: 1,
            wait: Duration::from_millis(50),
        },
    );
    let server = GrpcServer::new(ServerConfig::new(SERVICE_TOKEN, vec![]))
        .add_service(UserServiceServer::new(api));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(server.serve(listener, std::future::pending()));
    let mut client = user_client(addr, SERVICE_TOKEN).await;

    // The first registration takes the only slot and stays inside the hasher.
    let first = tokio::spawn({
        let mut client = client.clone();
        async move { client.register_user(register("first@example.com")).await }
    });
    let entered = tokio::task::spawn_blocking(move || {
        entered.recv_timeout(Duration::from_secs(30))?;
        Ok::<_, mpsc::RecvTimeoutError>(entered)
    })
    .await
    .unwrap()
    .expect("the first registration reaches the hasher");

    let shed = client
        .register_user(register("second@example.com"))
        .await
        .expect_err("no hashing slot is free");
    assert_eq!(shed.code(), Code::Unavailable, "{shed:?}");
    assert_eq!(
        reason_and_domain(&shed),
        ("OVERLOADED".to_owned(), "identity.saas".to_owned())
    );

    // Let the first through; it succeeds, and the slot serves the next call again.
    release.send(()).unwrap();
    let first = first
        .await
        .unwrap()
        .expect("the first registration completes");
    assert_eq!(first.into_inner().email, "first@example.com");
    release.send(()).unwrap();
    let second = client
        .register_user(register("second@example.com"))
        .await
        .expect("a free slot serves the call");
    assert_eq!(second.into_inner().email, "second@example.com");
    drop(entered);
}

fn reason_and_domain(status: &tonic::Status) -> (String, String) {
    use tonic_types::StatusExt;
    let info = status.get_details_error_info().expect("ErrorInfo");
    (info.reason, info.domain)
}
