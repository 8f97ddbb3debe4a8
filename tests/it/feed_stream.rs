//! The live feed over real HTTP: a member joining reaches the owner's open stream; a client
//! that keeps disconnecting and resuming with Last-Event-ID sees every entry exactly once and
//! in order; another user's entries never show; a resume point before the retained range
//! starts with a `reset` event; a stream ticket works once; no credential is a 401 problem.

use std::pin::Pin;
use std::time::Duration;

use chrono::Duration as Age;
use futures::{Stream, StreamExt};
use kernel_domain::Clock;
use saas_proto::notifications::v1 as pb;
use saas_tests::{FeedClient, System};
use serde_json::{Value, json};
use uuid::Uuid;

/// How long the stream may take to deliver an event before the test gives up on it (a guard
/// against hanging, not a speed check).
const PATIENCE: Duration = Duration::from_secs(20);

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    id: Option<String>,
    event: Option<String>,
    data: Value,
}

impl Sse {
    fn sequence(&self) -> i64 {
        self.id
            .as_deref()
            .expect("an entry has an id")
            .parse()
            .expect("the id is a sequence number")
    }
}

type Chunks = Pin<Box<dyn Stream<Item = Result<Vec<u8>, String>> + Send>>;

/// Reads the events of an open stream, skipping comments (keep-alives).
struct SseReader {
    chunks: Chunks,
    text: String,
}

impl SseReader {
    fn new(response: reqwest::Response) -> SseReader {
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        SseReader {
            chunks: Box::pin(
                response
                    .bytes_stream()
                    .map(|chunk| chunk.map(|b| b.to_vec()).map_err(|e| e.to_string())),
            ),
            text: String::new(),
        }
    }

    async fn next(&mut self) -> Sse {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let frame: String = self.text.drain(..end + 2).collect();
                let mut event = Sse {
                    id: None,
                    event: None,
                    data: Value::Null,
                };
                let mut fields = false;
                for line in frame.lines() {
                    if let Some(id) = line.strip_prefix("id: ") {
                        event.id = Some(id.to_owned());
                        fields = true;
                    } else if let Some(name) = line.strip_prefix("event: ") {
                        event.event = Some(name.to_owned());
                        fields = true;
                    } else if let Some(data) = line.strip_prefix("data: ") {
                        event.data = serde_json::from_str(data).expect("JSON data");
                        fields = true;
                    }
                }
                if fields {
                    return event;
                }
                continue;
            }
            let chunk = tokio::time::timeout(PATIENCE, self.chunks.next())
                .await
                .expect("the stream sends an event in time")
                .expect("the stream goes on")
                .expect("a chunk");
            self.text
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

/// Opens `user`'s stream with an access token, resuming after `last_event_id`.
async fn open(system: &System, token: &str, last_event_id: Option<i64>) -> SseReader {
    let mut request = system
        .http
        .get(system.url("/v1/me/feed/stream"))
        .bearer_auth(token);
    if let Some(id) = last_event_id {
        request = request.header("Last-Event-ID", id.to_string());
    }
    SseReader::new(request.send().await.expect("the edge answers"))
}

/// An access token for `user` (who need not exist: the feed only needs the id).
fn token_for(system: &System, user: Uuid) -> String {
    system
        .keys
        .issue_access(user, Uuid::now_v7(), system.data.clock.now())
        .expect("a token")
        .0
}

/// Appends an entry `{"owner": owner, "n": n}` to `feed` and returns its sequence number.
async fn append(client: &mut FeedClient, feed: Uuid, owner: &str, n: u32) -> i64 {
    client
        .append_feed_entry(pb::AppendFeedEntryRequest {
            feed_id: feed.to_string(),
            request_id: Uuid::now_v7().to_string(),
            source_event_id: Uuid::now_v7().to_string(),
            kind: "note".into(),
            workspace_id: String::new(),
            payload_json: json!({"owner": owner, "n": n}).to_string(),
        })
        .await
        .expect("append")
        .into_inner()
        .sequence
}

/// A small deterministic generator for the test's random choices.
struct Dice(u64);

impl Dice {
    fn roll(&mut self, sides: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % sides
    }
}

#[tokio::test]
async fn a_member_joining_shows_up_live_on_the_owners_open_stream() {
    a_member_joining_shows_up_live_on_the_owners_open_stream_on(System::spawn().await).await;
}

#[tokio::test]
async fn a_member_joining_shows_up_live_on_the_owners_open_stream_on_nats() {
    let Some(nats) = crate::on_nats::private_nats().await else {
        return;
    };
    a_member_joining_shows_up_live_on_the_owners_open_stream_on(
        crate::on_nats::system(&nats).await,
    )
    .await;
}

async fn a_member_joining_shows_up_live_on_the_owners_open_stream_on(system: System) {
    let owner = system.sign_up("owner@example.com", "stream-owner").await;
    let mut stream = open(&system, &owner.access_token, None).await;

    let member = system
        .join(&owner, "member@example.com", "stream-member", "member")
        .await;
    let joined = loop {
        let event = stream.next().await;
        assert_eq!(event.event.as_deref(), Some("entry"), "{event:?}");
        if event.data["kind"] == "member_joined" {
            break event;
        }
    };
    assert_eq!(joined.data["payload"]["user_id"], member.user_id.as_str());
    assert_eq!(joined.data["payload"]["role"], "member");
    assert_eq!(
        joined.data["payload"]["workspace_name"],
        "stream-owner workspace"
    );
    assert_eq!(joined.data["workspace_id"], owner.workspace_id.as_str());
    assert_eq!(joined.data["sequence"], joined.sequence());

    // The member is told too, in their own feed.
    let told_joined = |page: &Value| {
        page["entries"]
            .as_array()
            .is_some_and(|entries| entries.iter().any(|e| e["kind"] == "workspace_joined"))
    };
    let arrived = saas_tests::eventually(PATIENCE, || async {
        let page = system.get("/v1/me/feed", &member.access_token).await;
        assert_eq!(page.status, 200, "{}", page.body);
        told_joined(&page.body)
    })
    .await;
    let told = system.get("/v1/me/feed", &member.access_token).await.body;
    assert!(arrived && told_joined(&told), "the member's feed: {told}");
    let entries = told["entries"].as_array().unwrap();
    assert!(
        entries.iter().all(|e| e["kind"] != "member_joined"),
        "the member's feed has only their own entries: {told}"
    );

    // Reading marks the feed; marking past its end is refused.
    let last = told["last_sequence"].as_i64().unwrap();
    let read = system
        .post(
            "/v1/me/feed/read",
            Some(&member.access_token),
            json!({"up_to_sequence": last}),
        )
        .await;
    assert_eq!(read.status, 204, "{}", read.body);
    let beyond = system
        .post(
            "/v1/me/feed/read",
            Some(&member.access_token),
            json!({"up_to_sequence": last + 100}),
        )
        .await;
    assert_eq!(beyond.status / 100, 4, "{}", beyond.body);
}

#[tokio::test]
async fn a_client_that_keeps_reconnecting_sees_every_entry_once_in_order_and_only_its_own() {
    a_client_that_keeps_reconnecting_sees_every_entry_once_in_order_and_only_its_own_on(
        System::spawn().await,
    )
    .await;
}

#[tokio::test]
async fn a_client_that_keeps_reconnecting_sees_every_entry_once_in_order_and_only_its_own_on_nats()
{
    let Some(nats) = crate::on_nats::private_nats().await else {
        return;
    };
    a_client_that_keeps_reconnecting_sees_every_entry_once_in_order_and_only_its_own_on(
        crate::on_nats::system(&nats).await,
    )
    .await;
}

async fn a_client_that_keeps_reconnecting_sees_every_entry_once_in_order_and_only_its_own_on(
    system: System,
) {
    const ENTRIES: u32 = 200;
    const OTHERS: u32 = 80;
    let (ada, grace) = (Uuid::now_v7(), Uuid::now_v7());
    let token = token_for(&system, ada);

    // Ada's and Grace's entries are appended while Ada's client comes and goes.
    let mut client = system.data.feeds_client().await;
    let appender = tokio::spawn(async move {
        for n in 1..=ENTRIES.max(OTHERS) {
            if n <= ENTRIES {
                assert_eq!(append(&mut client, ada, "ada", n).await, i64::from(n));
            }
            if n <= OTHERS {
                append(&mut client, grace, "grace", n).await;
            }
        }
    });

    let mut dice = Dice(u64::from(Uuid::now_v7().as_u128() as u32) | 1);
    let mut seen: Vec<i64> = Vec::new();
    let mut connections = 0;
    while seen.len() < ENTRIES as usize {
        let mut stream = open(&system, &token, seen.last().copied()).await;
        connections += 1;
        let wanted = 1 + dice.roll(25);
        for _ in 0..wanted {
            if seen.len() == ENTRIES as usize {
                break;
            }
            let event = stream.next().await;
            assert_eq!(event.event.as_deref(), Some("entry"), "{event:?}");
            assert_eq!(event.data["payload"]["owner"], "ada", "{event:?}");
            assert_eq!(
                event.data["payload"]["n"].as_i64(),
                Some(event.sequence()),
                "{event:?}"
            );
            seen.push(event.sequence());
        }
        // Dropping the stream disconnects.
    }
    appender.await.expect("the appends");
    let expected: Vec<i64> = (1..=i64::from(ENTRIES)).collect();
    assert_eq!(
        seen, expected,
        "no gap, no repeat across {connections} seams"
    );
    assert!(connections > 1);

    // Grace's stream shows Grace's entries only.
    let mut stream = open(&system, &token_for(&system, grace), None).await;
    for n in 1..=i64::from(OTHERS) {
        let event = stream.next().await;
        assert_eq!(event.sequence(), n);
        assert_eq!(event.data["payload"]["owner"], "grace", "{event:?}");
    }
}

#[tokio::test]
async fn a_resume_point_before_the_retained_range_starts_with_a_reset() {
    let system = System::spawn().await;
    let user = Uuid::now_v7();
    let mut client = system.data.feeds_client().await;
    for n in 1..=3 {
        append(&mut client, user, "ada", n).await;
    }
    system.data.clock.advance(Age::days(31));
    assert_eq!(system.data.feeds.sweep_once().await.expect("sweep"), 1);
    assert_eq!(append(&mut client, user, "ada", 4).await, 4);
    let token = token_for(&system, user);

    let mut stream = open(&system, &token, Some(1)).await;
    let reset = stream.next().await;
    assert_eq!(reset.event.as_deref(), Some("reset"), "{reset:?}");
    assert_eq!(reset.data, json!({"first_sequence": 4}));
    let entry = stream.next().await;
    assert_eq!(
        (entry.event.as_deref(), entry.sequence()),
        (Some("entry"), 4)
    );

    // From inside the retained range there is no reset.
    let mut stream = open(&system, &token, Some(3)).await;
    let entry = stream.next().await;
    assert_eq!(
        (entry.event.as_deref(), entry.sequence()),
        (Some("entry"), 4)
    );

    // The page says so too.
    let page = system.get("/v1/me/feed?after=1", &token).await;
    assert_eq!(page.status, 200);
    assert_eq!(page.body["reset"], true);
    assert_eq!(page.body["last_sequence"], 4);
    assert_eq!(page.body["entries"][0]["sequence"], 4);
}

#[tokio::test]
async fn a_stream_ticket_opens_one_stream_and_is_refused_the_second_time() {
    let system = System::spawn().await;
    let user = Uuid::now_v7();
    let mut client = system.data.feeds_client().await;
    append(&mut client, user, "ada", 1).await;
    let token = token_for(&system, user);

    let issued = system
        .call(
            reqwest::Method::POST,
            "/v1/me/feed/stream-tickets",
            Some(&token),
            None,
        )
        .await;
    assert_eq!(issued.status, 201, "{}", issued.body);
    assert_eq!(issued.body["expires_in"], 60);
    let ticket = issued.body["ticket"].as_str().unwrap().to_owned();
    let url = system.url(&format!("/v1/me/feed/stream?ticket={ticket}"));

    let response = system.http.get(&url).send().await.unwrap();
    let mut stream = SseReader::new(response);
    let event = stream.next().await;
    assert_eq!(
        (event.sequence(), &event.data["payload"]["owner"]),
        (1, &json!("ada"))
    );

    let again = system.http.get(&url).send().await.unwrap();
    assert_eq!(again.status(), 401);
    assert_eq!(again.headers()["www-authenticate"], "Bearer");
    let problem: Value = again.json().await.unwrap();
    assert_eq!(problem["code"], "INVALID_TICKET");
}

#[tokio::test]
async fn a_stream_without_a_credential_is_a_401_problem() {
    let system = System::spawn().await;
    let response = system
        .http
        .get(system.url("/v1/me/feed/stream"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    let problem: Value = response.json().await.unwrap();
    assert_eq!(problem["code"], "UNAUTHENTICATED");
    assert_eq!(problem["status"], 401);
}
