//! The split topology with the real binary: `saas serve identity`, `saas serve workspace`,
//! `saas serve billing` and `saas serve notifications` as four OS processes, each on a
//! database of its own, and `saas serve edge` as a fifth that reaches them by URL. A team is formed through the HTTP
//! API across all of them, and the edge reports itself unready when a data service dies.

use std::{
    net::SocketAddr,
    path::{Path, PathBuf},
    time::Duration,
};

use adapters_app::mail::read_mails;
use ports_app::MailKind;
use saas_tests::{
    SERVICE_TOKEN, ServerProcess, TestDatabase, eventually, saas_binary, temp_dir,
    topology::random_key,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

/// How long the processes get to start, and conditions to come true.
const PATIENCE: Duration = Duration::from_secs(60);

/// The password every account of this module gets.
const PASSWORD: &str = "correct horse battery staple";

/// `saas serve edge` as an OS process; killed when dropped (also when a test panics).
pub(crate) struct EdgeProcess {
    addr: SocketAddr,
    data_dir: PathBuf,
    child: tokio::process::Child,
    http: reqwest::Client,
}

impl EdgeProcess {
    /// Starts the edge over the data services at the given gRPC addresses, with a fresh data
    /// directory and a fresh signing key file, and waits until it listens.
    async fn start(
        identity: SocketAddr,
        workspace: SocketAddr,
        billing: SocketAddr,
        notifications: SocketAddr,
    ) -> Self {
        Self::start_with(identity, workspace, billing, notifications, &[]).await
    }

    /// Like [`EdgeProcess::start`], with extra environment variables (with `SAAS_NATS_URL`
    /// among them, the edge uses that bus instead of keeping its events).
    pub(crate) async fn start_with(
        identity: SocketAddr,
        workspace: SocketAddr,
        billing: SocketAddr,
        notifications: SocketAddr,
        env: &[(&str, &str)],
    ) -> Self {
        let data_dir = temp_dir("edge");
        let key_file = data_dir.join("shared-jwt-key");
        std::fs::write(&key_file, random_key()).expect("write the key file");
        let mut command = tokio::process::Command::new(saas_binary());
        for (key, _) in std::env::vars() {
            if key.starts_with("SAAS_") {
                command.env_remove(key);
            }
        }
        command
            .args(["serve", "edge"])
            .env("SAAS_DATA_DIR", &data_dir)
            .env("SAAS_HTTP_ADDR", "127.0.0.1:0")
            .env("SAAS_IDENTITY_URL", format!("http://{identity}"))
            .env("SAAS_WORKSPACE_URL", format!("http://{workspace}"))
            .env("SAAS_BILLING_URL", format!("http://{billing}"))
            .env("SAAS_NOTIFICATIONS_URL", format!("http://{notifications}"))
            .env("SAAS_SERVICE_TOKEN", SERVICE_TOKEN)
            .env("SAAS_JWT_KEY_FILE", &key_file)
            .env("SAAS_RATE_LIMITS", "off")
            .env("SAAS_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        // Like the data services started by `ServerProcess`, it keeps its events unless it
        // is given a bus.
        if !env.iter().any(|(key, _)| *key == "SAAS_NATS_URL") {
            command.env("SAAS_BUS", "local");
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().expect("spawn saas serve edge");
        let stdout = child.stdout.take().expect("stdout");
        let mut lines = BufReader::new(stdout).lines();
        let addr = tokio::time::timeout(PATIENCE, async {
            while let Some(line) = lines.next_line().await.expect("read stdout") {
                if let Some(addr) = line.strip_prefix("http listening on ") {
                    return addr.trim().parse::<SocketAddr>().expect("address");
                }
            }
            panic!("saas serve edge exited before listening");
        })
        .await
        .expect("the edge did not start listening in time");
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("http client");
        EdgeProcess {
            addr,
            data_dir,
            child,
            http,
        }
    }

    /// Where it listens for HTTP.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Kills the process at once (SIGKILL) and waits for it to be gone.
    pub(crate) async fn kill(&mut self) {
        let _ = self.child.kill().await;
    }

    /// Where the edge writes mail.
    fn mail_dir(&self) -> PathBuf {
        self.data_dir.join("mail")
    }

    /// Sends `method path` with an optional bearer token and JSON body; answers the status
    /// and the JSON body (`Null` when empty).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("http://{}{path}", self.addr));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("the edge answers");
        let status = response.status().as_u16();
        let bytes = response.bytes().await.expect("body");
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    pub(crate) async fn post(&self, path: &str, token: Option<&str>, body: Value) -> (u16, Value) {
        self.call(reqwest::Method::POST, path, token, Some(body))
            .await
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        self.call(reqwest::Method::GET, path, Some(token), None)
            .await
    }

    /// The status of `GET /readyz`, or `None` when the edge does not answer.
    async fn readiness(&self) -> Option<u16> {
        self.http
            .get(format!("http://{}/readyz", self.addr))
            .send()
            .await
            .ok()
            .map(|response| response.status().as_u16())
    }

    /// Signs `email` up with a workspace `slug`; answers the user id and workspace id.
    pub(crate) async fn sign_up(&self, email: &str, slug: &str) -> (String, String) {
        let (status, body) = self
            .post(
                "/v1/signup",
                None,
                json!({
                    "email": email,
                    "password": PASSWORD,
                    "display_name": email.split('@').next().unwrap_or("someone"),
                    "workspace_name": format!("{slug} workspace"),
                    "workspace_slug": slug,
                }),
            )
            .await;
        assert_eq!(status, 201, "sign-up of {email}: {body}");
        (
            body["user"]["id"].as_str().expect("user id").to_owned(),
            body["workspace"]["id"]
                .as_str()
                .expect("workspace id")
                .to_owned(),
        )
    }

    /// Logs `email` in; answers the access token.
    async fn login(&self, email: &str) -> String {
        let (status, body) = self
            .post(
                "/v1/auth/login",
                None,
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(status, 200, "login of {email}: {body}");
        body["access_token"]
            .as_str()
            .expect("access token")
            .to_owned()
    }
}

impl Drop for EdgeProcess {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
        std::fs::remove_dir_all(&self.data_dir).ok();
    }
}

/// The token of the newest invitation mail to `to` in `dir`, once one is there.
async fn invitation_token(dir: &Path, to: &str) -> String {
    let mut token = None;
    let arrived = eventually(PATIENCE, || {
        let found = read_mails(dir)
            .expect("read the mail directory")
            .into_iter()
            .rev()
            .find(|mail| mail.kind == MailKind::Invitation && mail.to == to)
            .map(|mail| mail.token);
        let arrived = found.is_some();
        if found.is_some() {
            token = found;
        }
        async move { arrived }
    })
    .await;
    assert!(arrived, "no invitation mail to {to} in {}", dir.display());
    token.expect("the token of the mail found")
}

/// The five processes of the split topology; every one is killed when this is dropped.
struct Split {
    // The edge first, so it goes before the services it calls.
    edge: EdgeProcess,
    identity: ServerProcess,
    workspace: ServerProcess,
    billing: ServerProcess,
    notifications: ServerProcess,
    // The databases outlive the processes that use them.
    _databases: [TestDatabase; 4],
}

impl Split {
    async fn start() -> Split {
        let databases = [
            TestDatabase::fresh().await,
            TestDatabase::fresh().await,
            TestDatabase::fresh().await,
            TestDatabase::fresh().await,
        ];
        let (identity, workspace, billing, notifications) = tokio::join!(
            ServerProcess::start("identity", &databases[0].url),
            ServerProcess::start("workspace", &databases[1].url),
            ServerProcess::start("billing", &databases[2].url),
            ServerProcess::start("notifications", &databases[3].url),
        );
        let pids = [
            identity.pid(),
            workspace.pid(),
            billing.pid(),
            notifications.pid(),
        ];
        let distinct: std::collections::BTreeSet<u32> = pids.iter().copied().collect();
        assert_eq!(distinct.len(), 4, "four processes: {pids:?}");
        let edge = EdgeProcess::start(
            identity.addr,
            workspace.addr,
            billing.addr,
            notifications.addr,
        )
        .await;
        Split {
            edge,
            identity,
            workspace,
            billing,
            notifications,
            _databases: databases,
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_team_forms_across_five_processes() {
    let split = Split::start().await;
    let edge = &split.edge;
    assert_ne!(split.identity.addr, split.workspace.addr);
    assert_ne!(split.workspace.addr, split.billing.addr);
    assert_ne!(split.billing.addr, split.notifications.addr);

    let ready = eventually(PATIENCE, || async { edge.readiness().await == Some(200) }).await;
    assert!(
        ready,
        "the edge did not become ready: {:?}",
        edge.readiness().await
    );

    let owner_email = "owner@example.com";
    let mate_email = "mate@example.com";
    let (owner_id, workspace_id) = edge.sign_up(owner_email, "owner-team").await;
    let owner_token = edge.login(owner_email).await;

    let (status, body) = edge
        .post(
            &format!("/v1/workspaces/{workspace_id}/invitations"),
            Some(&owner_token),
            json!({ "email": mate_email, "role": "member" }),
        )
        .await;
    assert_eq!(status, 201, "invite: {body}");
    let invitation = invitation_token(&edge.mail_dir(), mate_email).await;

    let (mate_id, mate_workspace) = edge.sign_up(mate_email, "mate-team").await;
    assert_ne!(mate_workspace, workspace_id);
    let mate_token = edge.login(mate_email).await;
    let (status, body) = edge
        .post(
            "/v1/invitations/accept",
            Some(&mate_token),
            json!({ "token": invitation }),
        )
        .await;
    assert_eq!(status, 200, "accept: {body}");

    let (status, body) = edge
        .get(
            &format!("/v1/workspaces/{workspace_id}/members"),
            &owner_token,
        )
        .await;
    assert_eq!(status, 200, "members: {body}");
    let mut members: Vec<(String, String, String)> = body["members"]
        .as_array()
        .unwrap_or_else(|| panic!("a member list: {body}"))
        .iter()
        .map(|m| {
            (
                m["user_id"].as_str().unwrap_or_default().to_owned(),
                m["email"].as_str().unwrap_or_default().to_owned(),
                m["role"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    members.sort();
    let mut expected = vec![
        (owner_id, owner_email.to_owned(), "owner".to_owned()),
        (mate_id, mate_email.to_owned(), "member".to_owned()),
    ];
    expected.sort();
    assert_eq!(members, expected, "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_edge_turns_unready_when_a_data_service_process_dies() {
    let mut split = Split::start().await;
    let ready = eventually(PATIENCE, || async {
        split.edge.readiness().await == Some(200)
    })
    .await;
    assert!(ready, "the edge did not become ready");

    split.billing.kill().await;
    let status = split.billing.wait().await;
    assert!(!status.success(), "billing was killed: {status:?}");

    let edge = &split.edge;
    let unready = eventually(PATIENCE, || async { edge.readiness().await == Some(503) }).await;
    assert!(
        unready,
        "/readyz still answers {:?} without billing",
        edge.readiness().await
    );
}
