//! The Notifications `FeedService` over real gRPC: appends in order and once per source
//! event, request-id replays, the read mark, retention with an explicit reset (never a silent
//! gap), watches that replay and then follow (also appends another replica commits), never
//! another user's entries, bad input and unknown feeds.

use std::time::Duration;

use chrono::Duration as Age;
use kernel_domain::Clock;
use saas_proto::notifications::v1::{self as pb, watch_feed_response::Event};
use saas_tests::{DataServices, FeedClient, SERVICE_TOKEN, ServerProcess, TestDatabase, sigterm};
use sea_orm::DatabaseConnection;
use tonic::{Code, Response, Status, Streaming};
use uuid::Uuid;

use crate::concurrency::{count, request_id, version};
use crate::user_rpc::{at, invalid_in, rejected_in};

/// The `ErrorInfo` domain of the Notifications service.
const DOMAIN: &str = "notifications.saas";

/// How long a watch may take to deliver a message before the test gives up on it (a guard
/// against hanging, not a speed check).
const PATIENCE: Duration = Duration::from_secs(20);

fn new_id() -> String {
    Uuid::now_v7().to_string()
}

#[track_caller]
fn rejected<T: std::fmt::Debug>(
    result: Result<Response<T>, Status>,
    code: Code,
    reason: &str,
) -> Status {
    rejected_in(result, code, reason, DOMAIN)
}

#[track_caller]
fn invalid<T: std::fmt::Debug>(
    result: Result<Response<T>, Status>,
    reason: &str,
    fields: &[&str],
) -> Status {
    invalid_in(result, reason, fields, DOMAIN)
}

/// An append request of a fresh source event and request id.
fn append_request(feed: &str, kind: &str, payload: &str) -> pb::AppendFeedEntryRequest {
    pb::AppendFeedEntryRequest {
        feed_id: feed.into(),
        request_id: request_id(),
        source_event_id: new_id(),
        kind: kind.into(),
        workspace_id: String::new(),
        payload_json: payload.into(),
    }
}

/// Appends an entry (kind `note`, payload `{"n": <n>}`) and returns it.
async fn append(client: &mut FeedClient, feed: &str, n: u32) -> pb::FeedEntry {
    client
        .append_feed_entry(append_request(feed, "note", &format!("{{\"n\":{n}}}")))
        .await
        .expect("append")
        .into_inner()
}

async fn get(client: &mut FeedClient, feed: &str) -> pb::Feed {
    client
        .get_feed(pb::GetFeedRequest {
            feed_id: feed.into(),
        })
        .await
        .expect("get feed")
        .into_inner()
}

async fn list(client: &mut FeedClient, feed: &str, after: i64) -> pb::ListFeedEntriesResponse {
    client
        .list_feed_entries(pb::ListFeedEntriesRequest {
            feed_id: feed.into(),
            after_sequence: after,
            page_size: 0,
        })
        .await
        .expect("list entries")
        .into_inner()
}

fn sequences(entries: &[pb::FeedEntry]) -> Vec<i64> {
    entries.iter().map(|e| e.sequence).collect()
}

async fn open(database: &TestDatabase) -> DatabaseConnection {
    platform::db::open(&database.url, platform::db::PoolSize { max: 2 })
        .await
        .expect("open the notifications database")
}

/// Outbox rows of one feed with the given event type.
async fn events_of(conn: &DatabaseConnection, feed: &str, event_type: &str) -> i64 {
    count(
        conn,
        "SELECT COUNT(*) FROM outbox WHERE aggregate_id = $1 AND event_type = $2",
        vec![feed.into(), event_type.into()],
    )
    .await
}

/// Entry rows of one feed.
async fn rows_of(conn: &DatabaseConnection, feed: &str) -> i64 {
    count(
        conn,
        "SELECT COUNT(*) FROM feed_entries WHERE feed_id = $1",
        vec![feed.into()],
    )
    .await
}

async fn watch(
    client: &mut FeedClient,
    feed: &str,
    after: i64,
) -> Streaming<pb::WatchFeedResponse> {
    client
        .watch_feed(pb::WatchFeedRequest {
            feed_id: feed.into(),
            after_sequence: after,
        })
        .await
        .expect("watch")
        .into_inner()
}

/// The next message of a watch.
async fn next(stream: &mut Streaming<pb::WatchFeedResponse>) -> Event {
    tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("the watch delivered nothing in time")
        .expect("the watch failed")
        .expect("the watch ended")
        .event
        .expect("a message with an event")
}

/// The next message of a watch, which must be an entry.
async fn next_entry(stream: &mut Streaming<pb::WatchFeedResponse>) -> pb::FeedEntry {
    match next(stream).await {
        Event::Entry(entry) => entry,
        other => panic!("expected an entry, got {other:?}"),
    }
}

#[tokio::test]
async fn entries_are_numbered_in_order_and_listed_after_a_sequence_number() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;
    let feed = new_id();
    let workspace = new_id();
    let now = services.clock.now();

    let first = client
        .append_feed_entry(pb::AppendFeedEntryRequest {
            workspace_id: workspace.clone(),
            ..append_request(&feed, "member_joined", "{\"member\":\"ada\"}")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(first.feed_id, feed);
    assert_eq!(first.sequence, 1);
    assert_eq!(first.kind, "member_joined");
    assert_eq!(first.workspace_id, workspace);
    assert_eq!(first.payload_json, "{\"member\":\"ada\"}");
    assert_eq!(
        at(&first.create_time).timestamp_micros(),
        now.timestamp_micros(),
        "entry times are kept in microseconds"
    );
    let second = append(&mut client, &feed, 2).await;
    let third = append(&mut client, &feed, 3).await;
    assert_eq!((second.sequence, third.sequence), (2, 3));
    assert_eq!(second.workspace_id, "", "no workspace");

    let all = list(&mut client, &feed, 0).await;
    assert_eq!(
        all.entries,
        vec![first.clone(), second.clone(), third.clone()]
    );
    assert!(!all.reset);
    assert_eq!((all.last_sequence, all.first_retained_sequence), (3, 1));

    let later = list(&mut client, &feed, 1).await;
    assert_eq!(sequences(&later.entries), [2, 3]);
    assert!(!later.reset);
    assert!(list(&mut client, &feed, 3).await.entries.is_empty());

    let page = client
        .list_feed_entries(pb::ListFeedEntriesRequest {
            feed_id: feed.clone(),
            after_sequence: 1,
            page_size: 1,
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(page.entries, vec![second]);
    assert_eq!(page.last_sequence, 3);

    let read = get(&mut client, &feed).await;
    assert_eq!(read.id, feed);
    assert_eq!(read.last_sequence, 3);
    assert_eq!(read.first_retained_sequence, 1);
    assert_eq!(read.read_up_to_sequence, 0);
    assert_eq!(read.unread_count, 3);
    assert_eq!(
        version(&read.etag),
        3,
        "created by the first append, one version each"
    );
    assert_eq!(at(&read.create_time), now);

    let conn = open(&services.databases[3]).await;
    assert_eq!(
        events_of(&conn, &feed, "notifications.feed.entry_appended").await,
        3
    );
    assert_eq!(rows_of(&conn, &feed).await, 3);
}

#[tokio::test]
async fn a_source_event_appended_again_appends_once_and_answers_the_first_entry() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;
    let feed = new_id();
    let source = new_id();

    let original = client
        .append_feed_entry(pb::AppendFeedEntryRequest {
            source_event_id: source.clone(),
            ..append_request(&feed, "invited", "{\"a\":1}")
        })
        .await
        .unwrap()
        .into_inner();
    append(&mut client, &feed, 2).await;
    let etag = get(&mut client, &feed).await.etag;

    // Another request (say, a redelivered event) with the same source: nothing is appended.
    let again = client
        .append_feed_entry(pb::AppendFeedEntryRequest {
            source_event_id: source.clone(),
            ..append_request(&feed, "something_else", "{\"b\":2}")
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        again, original,
        "the entry the source became the first time"
    );

    assert_eq!(
        sequences(&list(&mut client, &feed, 0).await.entries),
        [1, 2]
    );
    assert_eq!(
        get(&mut client, &feed).await.etag,
        etag,
        "the feed did not change"
    );
    let conn = open(&services.databases[3]).await;
    assert_eq!(
        events_of(&conn, &feed, "notifications.feed.entry_appended").await,
        2
    );
}

#[tokio::test]
async fn a_repeated_request_id_replays_and_a_reused_one_is_refused() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;
    let feed = new_id();
    let request = append_request(&feed, "note", "{}");

    let first = client
        .append_feed_entry(request.clone())
        .await
        .unwrap()
        .into_inner();
    services.clock.advance(Age::minutes(5));
    let replayed = client
        .append_feed_entry(request.clone())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(replayed, first, "the stored response, not a second append");
    assert_eq!(get(&mut client, &feed).await.last_sequence, 1);

    rejected(
        client
            .append_feed_entry(pb::AppendFeedEntryRequest {
                payload_json: "{\"changed\":true}".into(),
                ..request.clone()
            })
            .await,
        Code::InvalidArgument,
        "REQUEST_ID_REUSED",
    );

    let mark = pb::MarkFeedReadRequest {
        feed_id: feed.clone(),
        request_id: request_id(),
        etag: String::new(),
        up_to_sequence: 1,
    };
    let marked = client
        .mark_feed_read(mark.clone())
        .await
        .unwrap()
        .into_inner();
    let again = client.mark_feed_read(mark).await.unwrap().into_inner();
    assert_eq!(again, marked);
}

#[tokio::test]
async fn two_first_appends_at_once_both_land() {
    let services = DataServices::spawn().await;
    let feed = new_id();
    let mut tasks = Vec::new();
    for n in 0..8 {
        let mut client = services.feeds_client().await;
        let feed = feed.clone();
        tasks.push(tokio::spawn(
            async move { append(&mut client, &feed, n).await },
        ));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.push(task.await.unwrap().sequence);
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=8).collect::<Vec<i64>>());
    let mut client = services.feeds_client().await;
    assert_eq!(
        sequences(&list(&mut client, &feed, 0).await.entries),
        (1..=8).collect::<Vec<i64>>()
    );
}

#[tokio::test]
async fn marking_read_moves_forward_only_and_not_past_the_last_entry() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;
    let feed = new_id();
    for n in 1..=3 {
        append(&mut client, &feed, n).await;
    }
    let mark = |up_to: i64, etag: &str| pb::MarkFeedReadRequest {
        feed_id: feed.clone(),
        request_id: request_id(),
        etag: etag.into(),
        up_to_sequence: up_to,
    };

    let read = client
        .mark_feed_read(mark(2, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(read.read_up_to_sequence, 2);
    assert_eq!(read.unread_count, 1);

    let unchanged = client
        .mark_feed_read(mark(1, ""))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        unchanged, read,
        "backwards is no change, not even a new version"
    );

    let status = rejected(
        client.mark_feed_read(mark(4, "")).await,
        Code::FailedPrecondition,
        "SEQUENCE_BEYOND_END",
    );
    assert!(status.message().contains('3'), "{}", status.message());

    append(&mut client, &feed, 4).await;
    rejected(
        client.mark_feed_read(mark(4, &read.etag)).await,
        Code::Aborted,
        "ETAG_MISMATCH",
    );
    let current = get(&mut client, &feed).await;
    let all = client
        .mark_feed_read(mark(4, &current.etag))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((all.read_up_to_sequence, all.unread_count), (4, 0));

    let conn = open(&services.databases[3]).await;
    assert_eq!(events_of(&conn, &feed, "notifications.feed.read").await, 2);
}

#[tokio::test]
async fn entries_past_thirty_days_are_dropped_by_the_sweep_and_reading_from_before_says_reset() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;
    let feed = new_id();
    append(&mut client, &feed, 1).await;
    append(&mut client, &feed, 2).await;

    services.clock.advance(Age::days(31));
    assert_eq!(services.feeds.sweep_once().await.unwrap(), 1);
    let conn = open(&services.databases[3]).await;
    assert_eq!(
        rows_of(&conn, &feed).await,
        0,
        "the rows went with the entries"
    );
    assert_eq!(
        events_of(&conn, &feed, "notifications.feed.entries_expired").await,
        1
    );

    let from_start = list(&mut client, &feed, 0).await;
    assert!(from_start.reset, "entries 1 and 2 were missed");
    assert!(from_start.entries.is_empty());
    assert_eq!(
        (from_start.first_retained_sequence, from_start.last_sequence),
        (3, 2)
    );
    let up_to_date = list(&mut client, &feed, 2).await;
    assert!(!up_to_date.reset, "nothing was missed after 2");

    let third = append(&mut client, &feed, 3).await;
    assert_eq!(third.sequence, 3, "numbers are never reused");
    let again = list(&mut client, &feed, 0).await;
    assert!(again.reset);
    assert_eq!(again.entries, vec![third]);
    assert!(!list(&mut client, &feed, 2).await.reset);
    assert_eq!(
        services.feeds.sweep_once().await.unwrap(),
        0,
        "nothing is due"
    );
}

#[tokio::test]
async fn an_append_after_thirty_days_drops_the_old_entries_itself() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;
    let feed = new_id();
    append(&mut client, &feed, 1).await;
    services.clock.advance(Age::days(31));
    append(&mut client, &feed, 2).await;

    let from_start = list(&mut client, &feed, 0).await;
    assert!(from_start.reset);
    assert_eq!(sequences(&from_start.entries), [2]);
    let conn = open(&services.databases[3]).await;
    assert_eq!(rows_of(&conn, &feed).await, 1);
    assert_eq!(get(&mut client, &feed).await.first_retained_sequence, 2);
}

#[tokio::test]
async fn a_watch_replays_then_follows_new_entries() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;
    let feed = new_id();
    let first = append(&mut client, &feed, 1).await;
    let second = append(&mut client, &feed, 2).await;

    let mut stream = watch(&mut client, &feed, 0).await;
    assert_eq!(next_entry(&mut stream).await, first);
    assert_eq!(next_entry(&mut stream).await, second);

    let third = append(&mut client, &feed, 3).await;
    assert_eq!(next_entry(&mut stream).await, third);
    let fourth = append(&mut client, &feed, 4).await;
    assert_eq!(next_entry(&mut stream).await, fourth);

    // Watching from a later position replays only what follows it.
    let mut later = watch(&mut client, &feed, 3).await;
    assert_eq!(next_entry(&mut later).await, fourth);
}

#[tokio::test]
async fn a_watch_of_a_feed_without_entries_waits_for_the_first() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;
    let feed = new_id();
    let mut stream = watch(&mut client, &feed, 0).await;
    let first = append(&mut client, &feed, 1).await;
    assert_eq!(next_entry(&mut stream).await, first);
}

#[tokio::test]
async fn a_watch_from_before_the_retained_range_starts_with_a_reset() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;
    let feed = new_id();
    append(&mut client, &feed, 1).await;
    services.clock.advance(Age::days(31));
    let second = append(&mut client, &feed, 2).await;

    let mut stream = watch(&mut client, &feed, 0).await;
    match next(&mut stream).await {
        Event::Reset(reset) => assert_eq!(reset.first_retained_sequence, 2),
        other => panic!("expected a reset first, got {other:?}"),
    }
    assert_eq!(next_entry(&mut stream).await, second);

    // From the retained range on, no reset.
    let mut current = watch(&mut client, &feed, 1).await;
    assert_eq!(next_entry(&mut current).await, second);
}

#[tokio::test]
async fn a_watch_never_yields_another_users_entries() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;
    let (mine, theirs) = (new_id(), new_id());
    append(&mut client, &theirs, 1).await;
    let mut stream = watch(&mut client, &mine, 0).await;

    for n in 2..=6 {
        append(&mut client, &theirs, n).await;
    }
    let own = append(&mut client, &mine, 1).await;
    let received = next_entry(&mut stream).await;
    assert_eq!(received, own, "the first thing seen is my own entry");
    assert_eq!(received.feed_id, mine);

    for n in 7..=9 {
        append(&mut client, &theirs, n).await;
    }
    let own = append(&mut client, &mine, 2).await;
    assert_eq!(next_entry(&mut stream).await, own);

    let listed = list(&mut client, &mine, 0).await;
    assert!(listed.entries.iter().all(|e| e.feed_id == mine));
    assert_eq!(sequences(&listed.entries), [1, 2]);
}

#[tokio::test]
async fn a_watch_sees_entries_another_replica_appends() {
    let first = DataServices::spawn().await;
    let second = DataServices::spawn_on(first.databases.clone()).await;
    let mut watcher = first.feeds_client().await;
    let mut writer = second.feeds_client().await;
    let feed = new_id();
    let one = append(&mut writer, &feed, 1).await;

    let mut stream = watch(&mut watcher, &feed, 0).await;
    assert_eq!(next_entry(&mut stream).await, one);
    // Committed by the other replica: seen by the watch's periodic re-read.
    let two = append(&mut writer, &feed, 2).await;
    assert_eq!(next_entry(&mut stream).await, two);
}

#[tokio::test]
async fn bad_input_names_every_bad_field_and_changes_nothing() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;

    invalid(
        client
            .append_feed_entry(pb::AppendFeedEntryRequest {
                feed_id: "not-a-uuid".into(),
                request_id: String::new(),
                source_event_id: "nope".into(),
                kind: "Not Snake".into(),
                workspace_id: "42".into(),
                payload_json: "[1, 2]".into(),
            })
            .await,
        "INVALID_ID",
        &[
            "feed_id",
            "request_id",
            "source_event_id",
            "kind",
            "workspace_id",
            "payload_json",
        ],
    );
    let feed = new_id();
    for (kind, payload, reason, field) in [
        ("", "{}", "INVALID_KIND", "kind"),
        (&*"k".repeat(65), "{}", "INVALID_KIND", "kind"),
        ("note", "", "INVALID_PAYLOAD", "payload_json"),
        ("note", "{\"a\":", "INVALID_PAYLOAD", "payload_json"),
        (
            "note",
            &*format!("{{\"big\":\"{}\"}}", "x".repeat(8 * 1024)),
            "PAYLOAD_TOO_LARGE",
            "payload_json",
        ),
    ] {
        invalid(
            client
                .append_feed_entry(append_request(&feed, kind, payload))
                .await,
            reason,
            &[field],
        );
    }
    rejected(
        client
            .get_feed(pb::GetFeedRequest {
                feed_id: feed.clone(),
            })
            .await,
        Code::NotFound,
        "FEED_NOT_FOUND",
    );

    invalid(
        client
            .list_feed_entries(pb::ListFeedEntriesRequest {
                feed_id: String::new(),
                after_sequence: -1,
                page_size: -5,
            })
            .await,
        "MISSING_FIELD",
        &["feed_id", "after_sequence", "page_size"],
    );
    invalid(
        client
            .mark_feed_read(pb::MarkFeedReadRequest {
                feed_id: feed.clone(),
                request_id: "x".into(),
                etag: "made-up".into(),
                up_to_sequence: -1,
            })
            .await,
        "INVALID_REQUEST_ID",
        &["request_id", "etag", "up_to_sequence"],
    );
    invalid(
        client
            .watch_feed(pb::WatchFeedRequest {
                feed_id: "x".into(),
                after_sequence: -2,
            })
            .await,
        "INVALID_ID",
        &["feed_id", "after_sequence"],
    );
    invalid(
        client
            .get_feed(pb::GetFeedRequest {
                feed_id: String::new(),
            })
            .await,
        "MISSING_FIELD",
        &["feed_id"],
    );

    let conn = open(&services.databases[3]).await;
    assert_eq!(count(&conn, "SELECT COUNT(*) FROM feeds", vec![]).await, 0);
    assert_eq!(
        count(&conn, "SELECT COUNT(*) FROM idempotency", vec![]).await,
        0
    );
}

#[tokio::test]
async fn reading_an_unknown_feed_is_not_found() {
    let services = DataServices::spawn().await;
    let mut client = services.feeds_client().await;
    let feed = new_id();
    rejected(
        client
            .get_feed(pb::GetFeedRequest {
                feed_id: feed.clone(),
            })
            .await,
        Code::NotFound,
        "FEED_NOT_FOUND",
    );
    rejected(
        client
            .list_feed_entries(pb::ListFeedEntriesRequest {
                feed_id: feed.clone(),
                after_sequence: 0,
                page_size: 10,
            })
            .await,
        Code::NotFound,
        "FEED_NOT_FOUND",
    );
    rejected(
        client
            .mark_feed_read(pb::MarkFeedReadRequest {
                feed_id: feed.clone(),
                request_id: request_id(),
                etag: String::new(),
                up_to_sequence: 0,
            })
            .await,
        Code::NotFound,
        "FEED_NOT_FOUND",
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn saas_serve_notifications_ends_open_watches_on_sigterm_and_exits() {
    let database = TestDatabase::fresh().await;
    let mut server = ServerProcess::start("notifications", &database.url).await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", server.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client =
        saas_proto::notifications::v1::feed_service_client::FeedServiceClient::with_interceptor(
            channel,
            platform::server::ServiceCredential::new(SERVICE_TOKEN).unwrap(),
        );
    let feed = new_id();
    let one = append(&mut client, &feed, 1).await;
    let mut stream = watch(&mut client, &feed, 0).await;
    assert_eq!(next_entry(&mut stream).await, one);

    sigterm(server.pid());
    let status = tokio::time::timeout(Duration::from_secs(60), server.wait())
        .await
        .expect("the server exits although a watch was open");
    assert!(status.success(), "a drained shutdown exits 0: {status:?}");
    let end = tokio::time::timeout(PATIENCE, stream.message())
        .await
        .expect("the watch ends");
    assert!(matches!(end, Ok(None)), "the watch ended cleanly: {end:?}");
}
