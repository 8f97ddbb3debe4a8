//! The feed routes: stream tickets, the hub's fan-out and the SSE framing of a stream.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use futures::StreamExt as _;
use http::{Method, Request, StatusCode, header};
use ports_app::{FeedEntry, FeedPage};
use serde_json::{Value, json};
use tower::ServiceExt as _;
use uuid::Uuid;

use super::{World, authed, bare, json_request, send, token_for};
use crate::feed::{
    FeedHub, LiveEntry, MemoryTickets, STREAM_BUFFER, TICKET_LIFETIME, hub_consumer_name,
    hub_instance,
};
use crate::router;
use crate::state::EdgeState;

fn entry(user: Uuid, sequence: i64) -> FeedEntry {
    FeedEntry {
        feed_id: user.into(),
        sequence,
        kind: "member_joined".into(),
        workspace_id: None,
        payload_json: format!("{{\"n\":{sequence}}}"),
        source_event_id: Uuid::now_v7().to_string(),
        create_time: super::now(),
    }
}

fn live(user: Uuid, sequence: i64) -> Arc<LiveEntry> {
    Arc::new(LiveEntry {
        feed_id: user,
        entry: entry(user, sequence),
    })
}

// ---------------------------------------------------------------------------------------------
// Tickets

#[test]
fn a_ticket_works_once() {
    let tickets = MemoryTickets::new();
    let user = Uuid::now_v7();
    let now = Instant::now();
    let ticket = tickets.issue(user, now);
    assert_eq!(ticket.len(), 43, "32 bytes in base64url without padding");
    assert!(
        ticket
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_ne!(tickets.issue(user, now), ticket, "tickets are random");
    assert_eq!(tickets.redeem(&ticket, now), Some(user));
    assert_eq!(tickets.redeem(&ticket, now), None, "used up");
    assert_eq!(tickets.redeem("no-such-ticket", now), None);
}

#[test]
fn a_ticket_expires_after_its_lifetime_and_expired_ones_are_swept() {
    let tickets = MemoryTickets::new();
    let user = Uuid::now_v7();
    let start = Instant::now();
    let early = tickets.issue(user, start);
    let late = tickets.issue(user, start);
    let just_before = start + TICKET_LIFETIME - Duration::from_millis(1);
    assert_eq!(tickets.redeem(&early, just_before), Some(user));
    assert_eq!(tickets.redeem(&late, start + TICKET_LIFETIME), None);

    let stale = tickets.issue(user, start);
    assert_eq!(tickets.len(), 1);
    // Issuing a lifetime later sweeps what expired meanwhile.
    let later = start + TICKET_LIFETIME * 2;
    let fresh = tickets.issue(user, later);
    assert_eq!(tickets.len(), 1);
    assert_eq!(tickets.redeem(&stale, later), None);
    assert_eq!(tickets.redeem(&fresh, later), Some(user));
    assert!(tickets.is_empty());
}

#[test]
fn hub_consumer_names_are_plain_tokens() {
    assert_eq!(
        hub_consumer_name("web-1-127.0.0.1:8080"),
        "edge-feed-web-1-127-0-0-1-8080"
    );
    assert_eq!(hub_consumer_name("a b>c*d"), "edge-feed-a-b-c-d");
    // Long host names keep the name within 64 characters, and its distinctive end.
    let long = hub_consumer_name(&format!("{}-8080-0a1b2c3d", "h".repeat(100)));
    assert_eq!(long.len(), 64);
    assert!(long.starts_with("edge-feed-hhh") && long.ends_with("-8080-0a1b2c3d"));
}

#[test]
fn every_edge_process_gets_a_hub_consumer_of_its_own() {
    // Same host, same port (two containers of one image, or a restart): still two names.
    let one = hub_consumer_name(&hub_instance("web-1", 8080));
    let two = hub_consumer_name(&hub_instance("web-1", 8080));
    assert_ne!(one, two);
    assert!(one.starts_with("edge-feed-web-1-8080-"), "{one}");
    assert!(hub_instance("", 8080).starts_with("edge-8080-"));
}

// ---------------------------------------------------------------------------------------------
// The hub

#[tokio::test]
async fn the_hub_hands_an_entry_to_its_users_streams_only() {
    let hub = Arc::new(FeedHub::new());
    let (ada, grace) = (Uuid::now_v7(), Uuid::now_v7());
    let mut ada_one = hub.register(ada).unwrap();
    let mut ada_two = hub.register(ada).unwrap();
    let mut grace_one = hub.register(grace).unwrap();
    assert_eq!(hub.stream_count(), 3);

    hub.dispatch(&live(ada, 1));
    hub.dispatch(&live(grace, 7));
    assert_eq!(ada_one.next().await.unwrap().entry.sequence, 1);
    assert_eq!(ada_two.next().await.unwrap().entry.sequence, 1);
    let to_grace = grace_one.next().await.unwrap();
    assert_eq!((to_grace.feed_id, to_grace.entry.sequence), (grace, 7));

    drop(ada_two);
    assert_eq!(hub.stream_count(), 2);
    drop(grace_one);
    assert_eq!(hub.stream_count(), 1);
}

#[tokio::test]
async fn a_stream_that_falls_behind_is_closed_without_holding_up_the_others() {
    let hub = Arc::new(FeedHub::new());
    let user = Uuid::now_v7();
    let mut slow = hub.register(user).unwrap();
    let mut fast = hub.register(user).unwrap();
    let last = i64::try_from(STREAM_BUFFER).unwrap() + 1;
    for sequence in 1..=last {
        hub.dispatch(&live(user, sequence));
        // The fast stream keeps up.
        assert_eq!(fast.next().await.unwrap().entry.sequence, sequence);
    }
    // The slow one gets what fit in its buffer, then ends.
    let mut got = Vec::new();
    while let Some(entry) = slow.next().await {
        got.push(entry.entry.sequence);
    }
    assert_eq!(got, (1..last).collect::<Vec<_>>());
    assert_eq!(hub.stream_count(), 1);
}

#[tokio::test]
async fn closing_the_hub_ends_its_streams_and_refuses_new_ones() {
    let hub = Arc::new(FeedHub::new());
    let user = Uuid::now_v7();
    let mut open = hub.register(user).unwrap();
    hub.close();
    assert!(open.next().await.is_none());
    assert!(hub.register(user).is_none());
}

// ---------------------------------------------------------------------------------------------
// The routes

/// One server-sent event: its id, name and data (`None` for a field it lacks).
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    id: Option<String>,
    event: Option<String>,
    data: Option<Value>,
}

/// Reads `count` events (comments skipped) from an SSE body.
async fn read_events(body: Body, count: usize) -> Vec<Sse> {
    let mut chunks = body.into_data_stream();
    let mut text = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(10), chunks.next())
            .await
            .expect("the stream sends within 10 s")
            .expect("the stream goes on")
            .expect("a chunk");
        text.push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        while let Some(end) = text.find("\n\n") {
            let frame: String = text.drain(..end + 2).collect();
            let mut event = Sse {
                id: None,
                event: None,
                data: None,
            };
            for line in frame.lines() {
                if let Some(id) = line.strip_prefix("id: ") {
                    event.id = Some(id.to_owned());
                } else if let Some(name) = line.strip_prefix("event: ") {
                    event.event = Some(name.to_owned());
                } else if let Some(data) = line.strip_prefix("data: ") {
                    event.data = Some(serde_json::from_str(data).expect("JSON data"));
                }
            }
            if event
                != (Sse {
                    id: None,
                    event: None,
                    data: None,
                })
            {
                events.push(event);
            }
        }
    }
    events
}

/// A world whose Notifications service lists `user`'s entries 3..=4 after a reset (1 and
/// 2 were dropped), whatever the position asked for below 4, and nothing after 4.
fn world_with_retained_entries(user: Uuid) -> World {
    let mut world = World::new();
    world
        .feeds
        .expect_list_feed_entries()
        .withf(move |ctx, feed, _, _| ctx.actor == Some(user) && *feed == user.into())
        .returning(move |_, _, after_sequence, _| {
            let entries: Vec<_> = (3..=4)
                .filter(|s| *s > after_sequence)
                .map(|s| entry(user, s))
                .collect();
            Ok(FeedPage {
                entries,
                reset: after_sequence < 2,
                last_sequence: 4,
                first_retained_sequence: 3,
            })
        });
    world
}

async fn open_stream(state: &EdgeState, request: Request<Body>) -> http::Response<Body> {
    router(state.clone())
        .oneshot(request)
        .await
        .expect("the router never fails")
}

#[tokio::test]
async fn a_stream_resumes_with_a_reset_then_replays_then_follows_live_entries() {
    let user = Uuid::now_v7();
    let state = world_with_retained_entries(user).state();
    let mut request = authed(Method::GET, "/v1/me/feed/stream", &token_for(user));
    request
        .headers_mut()
        .insert("last-event-id", "1".parse().unwrap());
    let response = open_stream(&state, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/event-stream"
    );
    // Registered before the replay: live entries queue up meanwhile; 4 repeats the replay,
    // another user's entry never shows, 5 is new.
    state.feed.hub.dispatch(&live(user, 4));
    state.feed.hub.dispatch(&live(Uuid::now_v7(), 5));
    state.feed.hub.dispatch(&live(user, 5));

    let events = read_events(response.into_body(), 4).await;
    assert_eq!(
        events[0],
        Sse {
            id: None,
            event: Some("reset".into()),
            data: Some(json!({"first_sequence": 3})),
        }
    );
    let ids: Vec<_> = events[1..].iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(ids, ["3", "4", "5"]);
    for event in &events[1..] {
        assert_eq!(event.event.as_deref(), Some("entry"));
        let data = event.data.as_ref().unwrap();
        assert_eq!(data["kind"], "member_joined");
        assert_eq!(data["workspace_id"], Value::Null);
        assert_eq!(
            data["payload"]["n"].to_string(),
            *event.id.as_ref().unwrap()
        );
        assert_eq!(data["sequence"].to_string(), *event.id.as_ref().unwrap());
    }
}

#[tokio::test]
async fn a_fresh_stream_replays_every_retained_entry_without_a_reset() {
    let user = Uuid::now_v7();
    let state = world_with_retained_entries(user).state();
    let response = open_stream(
        &state,
        authed(Method::GET, "/v1/me/feed/stream", &token_for(user)),
    )
    .await;
    let events = read_events(response.into_body(), 2).await;
    let ids: Vec<_> = events.iter().map(|e| e.id.clone().unwrap()).collect();
    assert_eq!(ids, ["3", "4"], "no reset without a resume point");
}

#[tokio::test]
async fn a_ticket_opens_one_stream_and_no_credential_is_401() {
    let user = Uuid::now_v7();
    let state = world_with_retained_entries(user).state();
    let app = router(state.clone());

    let reply = send(&app, bare(Method::GET, "/v1/me/feed/stream")).await;
    reply.problem(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED");

    let issued = send(
        &app,
        authed(Method::POST, "/v1/me/feed/stream-tickets", &token_for(user)),
    )
    .await;
    assert_eq!(issued.status, StatusCode::CREATED);
    assert_eq!(issued.header("cache-control"), Some("no-store"));
    let body = issued.json();
    assert_eq!(body["expires_in"], 60);
    let ticket = body["ticket"].as_str().unwrap().to_owned();

    let path = format!("/v1/me/feed/stream?ticket={ticket}&last_event_id=3");
    let response = open_stream(&state, bare(Method::GET, &path)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let events = read_events(response.into_body(), 1).await;
    assert_eq!(events[0].id.as_deref(), Some("4"));

    let again = send(&app, bare(Method::GET, &path)).await;
    again.problem(StatusCode::UNAUTHORIZED, "INVALID_TICKET");
}

#[tokio::test]
async fn the_feed_page_shows_entries_as_json_objects() {
    let user = Uuid::now_v7();
    let state = world_with_retained_entries(user).state();
    let app = router(state);
    let reply = send(
        &app,
        authed(
            Method::GET,
            "/v1/me/feed?after=3&page_size=10",
            &token_for(user),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::OK);
    let body = reply.json();
    assert_eq!(body["reset"], false);
    assert_eq!(body["last_sequence"], 4);
    assert_eq!(body["entries"][0]["sequence"], 4);
    assert_eq!(body["entries"][0]["payload"], json!({"n": 4}));
    assert_eq!(body["entries"].as_array().unwrap().len(), 1);

    let reply = send(
        &app,
        authed(Method::GET, "/v1/me/feed?after=-1", &token_for(user)),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
    assert_eq!(reply.error_fields(), ["after"]);
}

#[tokio::test]
async fn marking_nothing_read_needs_no_call_and_a_negative_mark_is_refused() {
    let user = Uuid::now_v7();
    let mut world = World::new();
    world.feeds.expect_mark_feed_read().never();
    let app = world.router();
    let token = token_for(user);
    let reply = send(
        &app,
        json_request(
            Method::POST,
            "/v1/me/feed/read",
            Some(&token),
            &json!({"up_to_sequence": 0}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::NO_CONTENT);
    let reply = send(
        &app,
        json_request(
            Method::POST,
            "/v1/me/feed/read",
            Some(&token),
            &json!({"up_to_sequence": -2}),
        ),
    )
    .await;
    assert_eq!(reply.status, StatusCode::BAD_REQUEST);
}

// ---- Tickets shared through Redis ----

/// The Redis of `SAAS_TEST_REDIS_URL`; `None` skips the test.
async fn test_redis(test: &str) -> Option<(crate::redis_link::RedisLink, String)> {
    match std::env::var("SAAS_TEST_REDIS_URL") {
        Ok(url) if !url.trim().is_empty() => Some((
            crate::redis_link::RedisLink::connect(&url)
                .await
                .expect("connect"),
            url,
        )),
        _ => {
            eprintln!("{test}: skipped, SAAS_TEST_REDIS_URL is not set");
            None
        }
    }
}

#[tokio::test]
async fn a_ticket_issued_by_one_replica_is_redeemed_once_on_another() {
    let Some((link, url)) = test_redis("a_ticket_is_redeemed_once_on_another").await else {
        return;
    };
    let (one, two) = (
        crate::feed::TicketStore::redis(link.clone()),
        crate::feed::TicketStore::redis(link),
    );
    let user = Uuid::now_v7();
    let ticket = one.issue(user).await.expect("issued");
    // Redis holds the ticket's hash, never the ticket, for at most the ticket's lifetime.
    let mut direct = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect directly");
    let exists: i64 = redis::cmd("EXISTS")
        .arg(format!("saas:ticket:{ticket}"))
        .query_async(&mut direct)
        .await
        .expect("EXISTS");
    assert_eq!(exists, 0, "the ticket itself is not a key");

    // Two replicas race for it: exactly one gets the user.
    let (a, b) = tokio::join!(two.redeem(&ticket), one.redeem(&ticket));
    let winners: Vec<Uuid> = [a.expect("asked"), b.expect("asked")]
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(winners, vec![user]);
    assert_eq!(two.redeem(&ticket).await.expect("asked"), None, "used up");
    assert_eq!(two.redeem("no-such-ticket").await.expect("asked"), None);
}

#[tokio::test]
async fn redis_tickets_expire_with_their_lifetime() {
    let Some((link, url)) = test_redis("redis_tickets_expire_with_their_lifetime").await else {
        return;
    };
    let tickets = crate::feed::RedisTickets::new(link);
    let ticket = tickets.issue(Uuid::now_v7()).await.expect("issued");
    let mut direct = redis::Client::open(url.as_str())
        .expect("url")
        .get_multiplexed_async_connection()
        .await
        .expect("connect directly");
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("saas:ticket:*")
        .query_async(&mut direct)
        .await
        .expect("KEYS");
    let mut lifetimes = Vec::new();
    for key in keys {
        let ttl: i64 = redis::cmd("PTTL")
            .arg(&key)
            .query_async(&mut direct)
            .await
            .expect("PTTL");
        lifetimes.push(ttl);
    }
    let limit = i64::try_from(TICKET_LIFETIME.as_millis()).expect("small");
    assert!(
        !lifetimes.is_empty() && lifetimes.iter().all(|&ttl| ttl > 0 && ttl <= limit),
        "{lifetimes:?}"
    );
    assert!(tickets.redeem(&ticket).await.expect("asked").is_some());
}

#[tokio::test]
async fn without_redis_tickets_are_refused_as_unavailable() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port();
    let link = crate::redis_link::RedisLink::connect(&format!("redis://127.0.0.1:{port}"))
        .await
        .expect("a URL");
    let tickets = crate::feed::TicketStore::redis(link);
    for _ in 0..2 {
        let error = tickets.issue(Uuid::now_v7()).await.unwrap_err();
        assert_eq!(error.http_status(), 503);
        assert_eq!(error.code, "TICKETS_UNAVAILABLE");
        assert_eq!(error.retry_after, Some(1));
        let error = tickets.redeem("some-ticket").await.unwrap_err();
        assert_eq!(error.code, "TICKETS_UNAVAILABLE");
    }
}
