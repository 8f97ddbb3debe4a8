//! Two edge replicas as OS processes over the same data services (each its own process and
//! database), sharing `SAAS_JWT_KEY_FILE` and, when `SAAS_TEST_REDIS_URL` is set,
//! `SAAS_REDIS_URL`:
//!
//! - a stream ticket issued by one edge opens a stream on the other, once;
//! - on NATS (a private server), each edge's feed hub receives every entry, so a user's
//!   streams on both edges get each one live;
//! - a member removed through edge A, and an admin demoted at the Workspace service past
//!   every edge, lose access on edge B, which had just served them (so held a cache entry),
//!   within a generous deadline; with the edges' own caches and no bus between the
//!   processes (`SAAS_BUS=local`), and with the cache shared in Redis.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use adapters_app::mail::read_mails;
use futures::StreamExt as _;
use ports_app::MailKind;
use saas_proto::notifications::v1 as pb;
use saas_tests::{
    PrivateNats, SERVICE_TOKEN, ServerProcess, TestDatabase, eventually, saas_binary, temp_dir,
};
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};
use uuid::Uuid;

/// How long processes get to start, and conditions to come true.
const PATIENCE: Duration = Duration::from_secs(60);
/// How long a removed or demoted member may keep access on the other edge, at most, in
/// this test (the product's bound is 1 s; this is a guard against hanging, not a timing).
const LOSS_DEADLINE: Duration = Duration::from_secs(10);

const PASSWORD: &str = "correct horse battery staple";

/// The Redis the edges share, from `SAAS_TEST_REDIS_URL`.
fn redis_url() -> Option<String> {
    std::env::var("SAAS_TEST_REDIS_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// `saas serve edge` as an OS process; killed when dropped.
struct Edge {
    addr: SocketAddr,
    data_dir: PathBuf,
    _child: tokio::process::Child,
    http: reqwest::Client,
}

impl Edge {
    /// Starts an edge over `services` with the shared `key_file`, the shared Redis and NATS
    /// when given (`SAAS_BUS=local` otherwise), and waits until it listens.
    async fn start(
        services: &[SocketAddr; 4],
        key_file: &Path,
        redis: Option<&str>,
        nats: Option<&str>,
    ) -> Edge {
        let data_dir = temp_dir("edge-replica");
        let mut command = tokio::process::Command::new(saas_binary());
        for (key, _) in std::env::vars() {
            if key.starts_with("SAAS_") {
                command.env_remove(key);
            }
        }
        let [identity, workspace, billing, notifications] = services;
        command
            .args(["serve", "edge"])
            .env("SAAS_DATA_DIR", &data_dir)
            .env("SAAS_HTTP_ADDR", "127.0.0.1:0")
            .env("SAAS_IDENTITY_URL", format!("http://{identity}"))
            .env("SAAS_WORKSPACE_URL", format!("http://{workspace}"))
            .env("SAAS_BILLING_URL", format!("http://{billing}"))
            .env("SAAS_NOTIFICATIONS_URL", format!("http://{notifications}"))
            .env("SAAS_SERVICE_TOKEN", SERVICE_TOKEN)
            .env("SAAS_JWT_KEY_FILE", key_file)
            .env("SAAS_RATE_LIMITS", "off")
            .env("SAAS_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .kill_on_drop(true);
        if let Some(url) = redis {
            command.env("SAAS_REDIS_URL", url);
        }
        match nats {
            Some(url) => command.env("SAAS_NATS_URL", url),
            None => command.env("SAAS_BUS", "local"),
        };
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
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(15))
            .build()
            .expect("http client");
        Edge {
            addr,
            data_dir,
            _child: child,
            http,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.http.request(method, self.url(path));
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

    async fn sign_up(&self, email: &str, slug: &str) -> (String, String) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/v1/signup",
                None,
                Some(json!({
                    "email": email,
                    "password": PASSWORD,
                    "display_name": email.split('@').next().unwrap_or("someone"),
                    "workspace_name": format!("{slug} workspace"),
                    "workspace_slug": slug,
                })),
            )
            .await;
        assert_eq!(status, 201, "sign-up of {email}: {body}");
        (
            body["user"]["id"].as_str().expect("user id").to_owned(),
            body["workspace"]["id"]
                .as_str()
                .expect("workspace")
                .to_owned(),
        )
    }

    async fn login(&self, email: &str) -> String {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/v1/auth/login",
                None,
                Some(json!({ "email": email, "password": PASSWORD })),
            )
            .await;
        assert_eq!(status, 200, "login of {email}: {body}");
        body["access_token"].as_str().expect("token").to_owned()
    }

    /// Invites `email` into `workspace` as `role` and has them accept; answers their id and
    /// token.
    async fn join(
        &self,
        owner: &str,
        workspace: &str,
        email: &str,
        role: &str,
    ) -> (String, String) {
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                &format!("/v1/workspaces/{workspace}/invitations"),
                Some(owner),
                Some(json!({ "email": email, "role": role })),
            )
            .await;
        assert_eq!(status, 201, "invite {email}: {body}");
        let invitation = invitation_token(&self.data_dir.join("mail"), email).await;
        let slug = format!("own-{}", Uuid::now_v7().simple());
        let (id, _) = self.sign_up(email, &slug).await;
        let token = self.login(email).await;
        let (status, body) = self
            .call(
                reqwest::Method::POST,
                "/v1/invitations/accept",
                Some(&token),
                Some(json!({ "token": invitation })),
            )
            .await;
        assert_eq!(status, 200, "accept by {email}: {body}");
        (id, token)
    }
}

impl Drop for Edge {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.data_dir).ok();
    }
}

/// The token of the newest invitation mail to `to` in `dir`, once there.
async fn invitation_token(dir: &Path, to: &str) -> String {
    let mut token = None;
    let arrived = eventually(PATIENCE, || {
        token = read_mails(dir)
            .unwrap_or_default()
            .into_iter()
            .rev()
            .find(|mail| mail.kind == MailKind::Invitation && mail.to == to)
            .map(|mail| mail.token);
        let found = token.is_some();
        async move { found }
    })
    .await;
    assert!(arrived, "no invitation mail to {to} in {}", dir.display());
    token.expect("found")
}

/// The four data services, each a process on a database of its own, and two edges.
struct Replicas {
    a: Edge,
    b: Edge,
    key_file: PathBuf,
    services: [ServerProcess; 4],
    _databases: [TestDatabase; 4],
    key_dir: PathBuf,
}

impl Replicas {
    async fn start(redis: Option<&str>, nats: Option<&str>) -> Replicas {
        let databases = [
            TestDatabase::fresh().await,
            TestDatabase::fresh().await,
            TestDatabase::fresh().await,
            TestDatabase::fresh().await,
        ];
        let env: Vec<(&str, &str)> = nats.map(|url| ("SAAS_NATS_URL", url)).into_iter().collect();
        let (identity, workspace, billing, notifications) = tokio::join!(
            ServerProcess::start_with("identity", &databases[0].url, &env),
            ServerProcess::start_with("workspace", &databases[1].url, &env),
            ServerProcess::start_with("billing", &databases[2].url, &env),
            ServerProcess::start_with("notifications", &databases[3].url, &env),
        );
        let addrs = [
            identity.addr,
            workspace.addr,
            billing.addr,
            notifications.addr,
        ];
        let key_dir = temp_dir("edge-key");
        let key_file = key_dir.join("jwt-key");
        std::fs::write(&key_file, saas_tests::topology::random_key()).expect("write the key file");
        let (a, b) = tokio::join!(
            Edge::start(&addrs, &key_file, redis, nats),
            Edge::start(&addrs, &key_file, redis, nats),
        );
        Replicas {
            a,
            b,
            key_file,
            services: [identity, workspace, billing, notifications],
            _databases: databases,
            key_dir,
        }
    }

    /// An access token for `user` signed with the edges' shared key (the feed needs no
    /// account).
    fn token_for(&self, user: Uuid) -> String {
        access_app::JwtKeys::load(&self.key_file)
            .expect("the shared key")
            .issue_access(user, Uuid::now_v7(), chrono::Utc::now())
            .expect("a token")
            .0
    }
}

impl Drop for Replicas {
    fn drop(&mut self) {
        std::fs::remove_dir_all(&self.key_dir).ok();
    }
}

/// The text of an open event stream, read as it comes.
struct Stream {
    chunks: futures::stream::BoxStream<'static, Result<Vec<u8>, String>>,
    text: String,
}

impl Stream {
    fn new(response: reqwest::Response) -> Stream {
        assert_eq!(response.status(), 200, "the stream opens");
        Stream {
            chunks: response
                .bytes_stream()
                .map(|chunk| chunk.map(|b| b.to_vec()).map_err(|e| e.to_string()))
                .boxed(),
            text: String::new(),
        }
    }

    /// Waits until the entry numbered `sequence` came (`id: <sequence>`); panics when the
    /// stream ends or sends nothing for a long time.
    async fn entry(&mut self, sequence: i64) {
        let line = format!("id: {sequence}\n");
        while !self.text.contains(&line) {
            let chunk = tokio::time::timeout(PATIENCE, self.chunks.next())
                .await
                .unwrap_or_else(|_| panic!("entry {sequence} did not come; got {:?}", self.text))
                .expect("the stream goes on")
                .expect("a chunk");
            self.text.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

/// Appends an entry to `feed` through the Notifications service; answers its sequence.
async fn append(notifications: SocketAddr, feed: Uuid, n: u32) -> i64 {
    let channel = tonic::transport::Channel::from_shared(format!("http://{notifications}"))
        .expect("a URL")
        .connect()
        .await
        .expect("connect to notifications");
    let mut client = pb::feed_service_client::FeedServiceClient::with_interceptor(
        channel,
        platform::server::ServiceCredential::new(SERVICE_TOKEN).expect("a credential"),
    );
    client
        .append_feed_entry(pb::AppendFeedEntryRequest {
            feed_id: feed.to_string(),
            request_id: Uuid::now_v7().to_string(),
            source_event_id: Uuid::now_v7().to_string(),
            kind: "note".into(),
            workspace_id: String::new(),
            payload_json: json!({ "n": n }).to_string(),
        })
        .await
        .expect("append")
        .into_inner()
        .sequence
}

/// Issues a stream ticket on `edge` for the holder of `token`.
async fn ticket(edge: &Edge, token: &str) -> String {
    let (status, body) = edge
        .call(
            reqwest::Method::POST,
            "/v1/me/feed/stream-tickets",
            Some(token),
            None,
        )
        .await;
    assert_eq!(status, 201, "ticket: {body}");
    body["ticket"].as_str().expect("a ticket").to_owned()
}

async fn stream_with_ticket(edge: &Edge, ticket: &str) -> reqwest::Response {
    edge.http
        .get(edge.url(&format!("/v1/me/feed/stream?ticket={ticket}")))
        .send()
        .await
        .expect("the edge answers")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ticket_issued_by_one_edge_opens_a_stream_on_the_other_once() {
    let Some(redis) = redis_url() else {
        eprintln!("a_ticket_issued_by_one_edge: skipped, SAAS_TEST_REDIS_URL is not set");
        return;
    };
    let replicas = Replicas::start(Some(&redis), None).await;
    let token = replicas.token_for(Uuid::now_v7());
    let issued = ticket(&replicas.a, &token).await;
    let opened = stream_with_ticket(&replicas.b, &issued).await;
    assert_eq!(
        opened.status(),
        200,
        "the ticket of edge A opens a stream on B"
    );
    for edge in [&replicas.b, &replicas.a] {
        let again = stream_with_ticket(edge, &issued).await;
        assert_eq!(again.status(), 401, "a ticket is used once, on every edge");
        let problem: Value = again.json().await.expect("a problem");
        assert_eq!(problem["code"], "INVALID_TICKET");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_nats_each_edge_receives_every_feed_entry() {
    let nats = PrivateNats::start().await;
    let redis = redis_url();
    let replicas = Replicas::start(redis.as_deref(), Some(&nats.url())).await;
    let user = Uuid::now_v7();
    let token = replicas.token_for(user);
    // One stream on each edge (on B with a ticket from A when they share Redis).
    let on_a = replicas
        .a
        .http
        .get(replicas.a.url("/v1/me/feed/stream"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("the edge answers");
    let on_b = match &redis {
        Some(_) => stream_with_ticket(&replicas.b, &ticket(&replicas.a, &token).await).await,
        None => replicas
            .b
            .http
            .get(replicas.b.url("/v1/me/feed/stream"))
            .bearer_auth(&token)
            .send()
            .await
            .expect("the edge answers"),
    };
    let (mut on_a, mut on_b) = (Stream::new(on_a), Stream::new(on_b));
    let notifications = replicas.services[3].addr;
    // Each entry must reach both streams before the next is appended: a hub that missed
    // one (two edges splitting one consumer) would leave its stream waiting.
    for n in 1..=3 {
        let sequence = append(notifications, user, n).await;
        on_a.entry(sequence).await;
        on_b.entry(sequence).await;
    }
}

/// What `token`'s holder gets from `GET /v1/workspaces/{workspace}/subscription` on `edge`.
async fn subscription_status(edge: &Edge, workspace: &str, token: &str) -> u16 {
    edge.call(
        reqwest::Method::GET,
        &format!("/v1/workspaces/{workspace}/subscription"),
        Some(token),
        None,
    )
    .await
    .0
}

/// What `token`'s holder gets revoking an invitation that does not exist: 404
/// `INVITATION_NOT_FOUND` past the gate (an admin), 403 below it.
async fn admin_gate(edge: &Edge, workspace: &str, token: &str) -> (u16, String) {
    let (status, body) = edge
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/workspaces/{workspace}/invitations/{}", Uuid::now_v7()),
            Some(token),
            None,
        )
        .await;
    (status, body["code"].as_str().unwrap_or_default().to_owned())
}

/// Makes `admin` a plain member of `workspace` by a call of `owner` to the Workspace
/// service at `addr`.
async fn demote(addr: SocketAddr, workspace: &str, owner: &str, admin: &str) {
    use saas_proto::workspace::v1 as ws;
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("a URL")
        .connect()
        .await
        .expect("connect to workspace");
    let mut client = ws::workspace_service_client::WorkspaceServiceClient::with_interceptor(
        channel,
        platform::server::ServiceCredential::new(SERVICE_TOKEN).expect("a credential"),
    );
    client
        .change_member_role(saas_tests::as_actor(
            owner,
            ws::ChangeMemberRoleRequest {
                id: workspace.to_owned(),
                request_id: Uuid::now_v7().to_string(),
                etag: String::new(),
                user_id: admin.to_owned(),
                role: ws::Role::Member.into(),
            },
        ))
        .await
        .expect("the owner demotes the admin");
}

/// Whether Redis holds the gate's entry of `user` in `workspace`.
async fn redis_holds_entry(redis: &str, workspace: &str, user: &str) -> bool {
    let Ok(client) = redis::Client::open(redis) else {
        return false;
    };
    let Ok(mut connection) = client.get_multiplexed_async_connection().await else {
        return false;
    };
    redis::cmd("EXISTS")
        .arg(format!("saas:gate:{workspace}:{user}"))
        .query_async::<i64>(&mut connection)
        .await
        .is_ok_and(|n| n == 1)
}

async fn removed_and_demoted_members_lose_access_on_the_other_edge(redis: Option<&str>) {
    let replicas = Replicas::start(redis, None).await;
    let (a, b) = (&replicas.a, &replicas.b);
    let slug = format!("team-{}", Uuid::now_v7().simple());
    let (owner_id, workspace) = a.sign_up(&format!("owner-{slug}@example.com"), &slug).await;
    let owner = a.login(&format!("owner-{slug}@example.com")).await;
    let (member_id, member) = a
        .join(
            &owner,
            &workspace,
            &format!("member-{slug}@example.com"),
            "member",
        )
        .await;
    let (admin_id, admin) = a
        .join(
            &owner,
            &workspace,
            &format!("admin-{slug}@example.com"),
            "admin",
        )
        .await;

    // Edge B serves both (its gate keeps their entries)...
    assert_eq!(subscription_status(b, &workspace, &member).await, 200);
    assert_eq!(
        admin_gate(b, &workspace, &admin).await,
        (404, "INVITATION_NOT_FOUND".to_owned())
    );
    if let Some(redis) = redis {
        // ...and, shared, the entry is in Redis: B's request put it there.
        let cached = eventually(LOSS_DEADLINE, || async {
            subscription_status(b, &workspace, &member).await == 200
                && redis_holds_entry(redis, &workspace, &member_id).await
        })
        .await;
        assert!(cached, "edge B left no entry in Redis");
    }

    // The member is removed through edge A.
    let (status, body) = a
        .call(
            reqwest::Method::DELETE,
            &format!("/v1/workspaces/{workspace}/members/{member_id}"),
            Some(&owner),
            None,
        )
        .await;
    assert_eq!(status, 204, "remove: {body}");
    // The admin is demoted at the Workspace service itself, past every edge: no edge
    // hears of it, so only the entries' one second ends the old role.
    demote(replicas.services[1].addr, &workspace, &owner_id, &admin_id).await;

    // Edge B lets neither through any more.
    let removed = eventually(LOSS_DEADLINE, || async {
        subscription_status(b, &workspace, &member).await == 404
    })
    .await;
    assert!(removed, "edge B still serves the removed member");
    let demoted = eventually(LOSS_DEADLINE, || async {
        admin_gate(b, &workspace, &admin).await == (403, "ROLE_REQUIRED".to_owned())
    })
    .await;
    assert!(demoted, "edge B still lets the demoted admin act as one");
    // And it stays so.
    assert_eq!(subscription_status(b, &workspace, &member).await, 404);
    assert_eq!(subscription_status(b, &workspace, &admin).await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_bus_a_removed_or_demoted_member_loses_access_on_the_other_edge() {
    // Each edge keeps its own cache, and no event crosses the processes.
    removed_and_demoted_members_lose_access_on_the_other_edge(None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_cache_in_redis_a_removed_or_demoted_member_loses_access_on_the_other_edge() {
    let Some(redis) = redis_url() else {
        eprintln!("with_the_cache_in_redis: skipped, SAAS_TEST_REDIS_URL is not set");
        return;
    };
    removed_and_demoted_members_lose_access_on_the_other_edge(Some(&redis)).await;
}
