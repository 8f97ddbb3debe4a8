//! A sign-up whose edge process is SIGKILLed between its steps, while Billing is down, is
//! undone once the edge runs again: Identity announces the sign-up unfinished when its window
//! passes (durable state: the user record and its due date), the restarted edge's sign-up
//! policy cannot undo it while Billing cannot say whether the trial started, and undoes it
//! once Billing is back. The email and the slug are then free for a new sign-up.
//!
//! Real OS processes for the four data services and the edge, on PostgreSQL when
//! `SAAS_TEST_POSTGRES_URL` is set; events cross processes through a private nats-server
//! (so no other test's consumers take these events). Runs when `SAAS_TEST_NATS_URL` is set,
//! like the other tests that need NATS, and says it skipped otherwise.

use std::time::Duration;

use saas_proto::identity::v1::{GetUserRequest, LookupUserRequest, SignUpState, UserStatus};
use saas_proto::workspace::v1::LookupWorkspaceRequest;
use saas_tests::{
    PrivateNats, SERVICE_TOKEN, ServerProcess, TestDatabase, eventually, temp_dir, user_client,
    workspace_client,
};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::split_topology::EdgeProcess;

/// How long conditions get to come true: the window, the sweeps, the consumer's backoff and
/// the announcements that follow a parked event all fit in it many times over.
const PATIENCE: Duration = Duration::from_secs(240);

/// The sign-up window the edge gives: short, so the test does not wait for the default.
const WINDOW_SECS: &str = "4";

const PASSWORD: &str = "correct horse battery staple";

fn form(email: &str, slug: &str) -> Value {
    json!({
        "email": email,
        "password": PASSWORD,
        "display_name": "Undone",
        "workspace_name": "Undone",
        "workspace_slug": slug,
    })
}

/// `POST /v1/signup` to the edge at `addr` with `key`; the status and the JSON body, or
/// `None` when the edge does not answer (it was killed).
async fn sign_up(addr: std::net::SocketAddr, key: Uuid, form: &Value) -> Option<(u16, Value)> {
    let response = reqwest::Client::new()
        .post(format!("http://{addr}/v1/signup"))
        .header("Idempotency-Key", key.to_string())
        .json(form)
        .timeout(Duration::from_secs(60))
        .send()
        .await
        .ok()?;
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    Some((status, body))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sign_up_cut_short_by_a_killed_edge_is_undone_after_the_edge_restarts() {
    if !std::env::var("SAAS_TEST_NATS_URL").is_ok_and(|url| !url.is_empty()) {
        eprintln!(
            "skipped: set SAAS_TEST_NATS_URL (the processes exchange events through NATS; \
             this test runs a private nats-server)"
        );
        return;
    }
    let nats = PrivateNats::start().await;
    let nats_url = nats.url();
    let env = [
        ("SAAS_NATS_URL", nats_url.as_str()),
        ("SAAS_SWEEP_INTERVAL_SECS", "1"),
    ];
    let databases = [
        TestDatabase::fresh().await,
        TestDatabase::fresh().await,
        TestDatabase::fresh().await,
        TestDatabase::fresh().await,
    ];
    let billing_dir = temp_dir("billing");
    let (identity, workspace, mut billing, notifications) = tokio::join!(
        ServerProcess::start_with("identity", &databases[0].url, &env),
        ServerProcess::start_with("workspace", &databases[1].url, &env),
        ServerProcess::start_in(billing_dir.clone(), "billing", &databases[2].url, &env),
        ServerProcess::start_with("notifications", &databases[3].url, &env),
    );
    let billing_addr = billing.addr;
    let edge_env = [
        ("SAAS_NATS_URL", nats_url.as_str()),
        ("SAAS_SIGN_UP_WINDOW_SECS", WINDOW_SECS),
    ];
    let start_edge = || {
        EdgeProcess::start_with(
            identity.addr,
            workspace.addr,
            billing_addr,
            notifications.addr,
            &edge_env,
        )
    };
    let mut edge = start_edge().await;
    let mut users = user_client(identity.addr, SERVICE_TOKEN).await;
    let mut workspaces = workspace_client(workspace.addr).await;

    // Billing is down: the sign-up registers the user, creates the workspace, then waits on
    // the trial.
    billing.kill().await;
    let unique = Uuid::now_v7().simple().to_string();
    let email = format!("undone-{unique}@example.com");
    let slug = format!("undone-{}", &unique[unique.len() - 12..]);
    let key = Uuid::now_v7();
    let request = tokio::spawn({
        let (addr, form) = (edge.addr(), form(&email, &slug));
        async move { sign_up(addr, key, &form).await }
    });
    let workspace_made = eventually(PATIENCE, || {
        let mut workspaces = workspaces.clone();
        let slug = slug.clone();
        async move {
            workspaces
                .lookup_workspace(LookupWorkspaceRequest {
                    slug,
                    ..Default::default()
                })
                .await
                .is_ok()
        }
    })
    .await;
    assert!(workspace_made, "the sign-up never created its workspace");
    let user = users
        .lookup_user(LookupUserRequest {
            email: email.clone(),
        })
        .await
        .expect("the sign-up registered its user")
        .into_inner();
    assert_eq!(user.sign_up_state(), SignUpState::Pending);
    let user_id = user.id.clone();

    // The edge dies mid-sign-up (SIGKILL): no undo ran, nothing in any process remembers it.
    edge.kill().await;
    let answered = request.await.expect("the request task");
    assert!(
        answered.as_ref().is_none_or(|(status, _)| *status != 201),
        "the sign-up cannot have succeeded without Billing: {answered:?}"
    );

    // The edge runs again, Billing still down. The window passes and Identity announces the
    // sign-up unfinished.
    let edge = start_edge().await;
    let get_user = |users: &saas_tests::UserClient| {
        let mut users = users.clone();
        let id = user_id.clone();
        async move {
            users
                .get_user(GetUserRequest { id })
                .await
                .expect("Identity answers")
                .into_inner()
        }
    };
    let announced = eventually(PATIENCE, || async {
        get_user(&users).await.sign_up_state() == SignUpState::Unfinished
    })
    .await;
    assert!(announced, "the sign-up was never announced unfinished");

    // Billing cannot say whether the trial started, so nothing is undone: the email is
    // still taken.
    let now = get_user(&users).await;
    assert_eq!(now.status(), UserStatus::Active);
    workspaces
        .lookup_workspace(LookupWorkspaceRequest {
            slug: slug.clone(),
            ..Default::default()
        })
        .await
        .expect("the workspace stays while Billing is down");
    let (status, body) = sign_up(edge.addr(), Uuid::now_v7(), &form(&email, "another-slug"))
        .await
        .expect("the edge answers");
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("EMAIL_TAKEN")),
        "{body}"
    );

    // Billing comes back on its address: the undo completes.
    let billing_addr_text = billing_addr.to_string();
    let mut billing_env = env.to_vec();
    billing_env.push(("SAAS_GRPC_ADDR", billing_addr_text.as_str()));
    let billing = ServerProcess::start_in(
        billing_dir.clone(),
        "billing",
        &databases[2].url,
        &billing_env,
    )
    .await;
    let erased = eventually(PATIENCE, || async {
        get_user(&users).await.status() == UserStatus::Erased
    })
    .await;
    assert!(erased, "the unfinished sign-up's user was never erased");
    let gone = workspaces
        .lookup_workspace(LookupWorkspaceRequest {
            slug: slug.clone(),
            ..Default::default()
        })
        .await
        .expect_err("the workspace was deleted before the user was erased");
    assert_eq!(gone.code(), tonic::Code::NotFound);

    // Retrying the undone sign-up with its key makes nothing and says so.
    let (status, body) = sign_up(edge.addr(), key, &form(&email, &slug))
        .await
        .expect("the edge answers");
    assert_eq!(
        body["code"].as_str(),
        Some("SIGN_UP_UNDONE"),
        "{status} {body}"
    );

    // The email and the slug are free: a new sign-up with them succeeds, and stands.
    let (status, body) = sign_up(edge.addr(), Uuid::now_v7(), &form(&email, &slug))
        .await
        .expect("the edge answers");
    assert_eq!(status, 201, "{body}");
    let again = users
        .get_user(GetUserRequest {
            id: body["user"]["id"].as_str().expect("user id").to_owned(),
        })
        .await
        .expect("the new user")
        .into_inner();
    assert_eq!(again.sign_up_state(), SignUpState::Unspecified);

    drop(edge);
    drop(billing);
    drop(nats);
    std::fs::remove_dir_all(&billing_dir).ok();
}
