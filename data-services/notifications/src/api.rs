//! `FeedService`: parse the request into domain values, run the command pipeline (or read),
//! render. Watches follow new entries through an in-process signal of committed appends,
//! and re-read every second for appends other replicas committed.

use std::{
    pin::Pin,
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::Duration,
};

use kernel_domain::Rejection;
use notifications_domain::{EntryKind, Feed, FeedId, Payload, SourceEventId, WorkspaceId};
use platform::{
    endpoint::{Call, Endpoint},
    rpc::{FieldCheck, parse_id},
    store::{Schema, StoreError},
};
use saas_proto::notifications::v1::{self as pb, feed_service_server::FeedService};
use tokio::sync::{broadcast, mpsc, watch};
use tonic::{Response, Status};
use uuid::Uuid;

use crate::{FeedSchema, FeedStore, entries, wire};

/// The page size of a list when the caller asks for 0.
pub const DEFAULT_PAGE_SIZE: u64 = 100;
/// The most entries one list page (or one read of a watch) holds.
pub const MAX_PAGE_SIZE: u64 = 1000;
/// How many entries a watch reads at a time while catching up.
const WATCH_PAGE: u64 = 100;
/// How many messages a watch buffers for a slow reader before it waits for it.
const WATCH_BUFFER: usize = 16;
/// How often a watch re-reads its feed, to see appends committed by other replicas.
const REREAD_EVERY: Duration = Duration::from_secs(1);
/// How many committed appends the in-process signal holds for a watch that lags behind
/// (a watch that lags more simply re-reads).
const SIGNAL_CAPACITY: usize = 1024;

/// The `FeedService` implementation. Clones share the store, the signal of committed
/// appends and the shutdown switch of open watches.
#[derive(Clone)]
pub struct FeedApi {
    api: Endpoint<FeedSchema, pb::Feed>,
    /// The id of every feed an append was just committed to.
    appended: broadcast::Sender<Uuid>,
    /// Turned on by [`FeedApi::end_watches`].
    closing: Arc<watch::Sender<bool>>,
}

/// What the pipeline stores for an append: the new entry, or the sequence number of the
/// entry the same source event already became.
#[derive(Clone, PartialEq, prost::Message)]
struct AppendOutcome {
    #[prost(message, optional, tag = "1")]
    entry: Option<pb::FeedEntry>,
    #[prost(int64, tag = "2")]
    duplicate_of: i64,
}

/// The arguments of an append, parsed.
#[derive(Clone)]
struct Append {
    source: SourceEventId,
    kind: EntryKind,
    workspace: Option<WorkspaceId>,
    payload: Payload,
}

impl FeedApi {
    /// A service over a store.
    pub fn new(store: FeedStore) -> Self {
        FeedApi {
            api: Endpoint::new(store, wire::feed),
            appended: broadcast::channel(SIGNAL_CAPACITY).0,
            closing: Arc::new(watch::channel(false).0),
        }
    }

    /// Ends every open watch stream, now and from now on (for shutdown: a server drains
    /// only once its streams end).
    pub fn end_watches(&self) {
        self.closing.send_replace(true);
    }

    fn store(&self) -> &FeedStore {
        self.api.store()
    }

    /// Appends through the pipeline, creating the feed on first use. Two first appends
    /// racing to create the feed both land: the loser's create is refused `FEED_EXISTS` and
    /// it appends to the feed the winner created.
    async fn append(
        &self,
        call: &Call<pb::AppendFeedEntryRequest, Append>,
    ) -> Result<AppendOutcome, StoreError> {
        let (feed_id, command) = (call.target()?, call.command());
        let append = Arc::new(call.args.clone());
        let appended = Arc::new(AtomicBool::new(false));
        let respond = {
            let (append, appended) = (append.clone(), appended.clone());
            move |stored: &platform::store::Stored<Feed>, now| {
                let seq = stored.aggregate.source_seq(append.source).unwrap_or(0);
                if appended.load(Ordering::SeqCst) {
                    AppendOutcome {
                        entry: Some(pb::FeedEntry {
                            feed_id: feed_id.to_string(),
                            sequence: wire::sequence(seq),
                            kind: append.kind.as_str().to_owned(),
                            workspace_id: append
                                .workspace
                                .map(|id| id.to_string())
                                .unwrap_or_default(),
                            payload_json: append.payload.as_str().to_owned(),
                            source_event_id: append.source.to_string(),
                            create_time: Some(wire::entry_time(now)),
                        }),
                        duplicate_of: 0,
                    }
                } else {
                    AppendOutcome {
                        entry: None,
                        duplicate_of: wire::sequence(seq),
                    }
                }
            }
        };
        let decide = move |feed: &mut Feed, now| {
            let events = feed.append(
                append.source,
                append.kind.clone(),
                append.workspace,
                append.payload.clone(),
                now,
            );
            appended.store(!events.is_empty(), Ordering::SeqCst);
            events
        };
        if self.store().get(feed_id).await?.is_none() {
            let created = self
                .store()
                .create(
                    command.clone(),
                    {
                        let decide = decide.clone();
                        move |now| {
                            let mut feed = Feed::open(FeedId::from_uuid(feed_id), now);
                            let events = decide(&mut feed, now);
                            Ok((feed, events))
                        }
                    },
                    respond.clone(),
                )
                .await;
            match created {
                Err(e) if e.is_rejected_as("FEED_EXISTS") => {
                    tracing::debug!(feed = %feed_id, "lost the race to create the feed");
                }
                other => return other,
            }
        }
        self.store()
            .update(
                command,
                feed_id,
                move |feed, now| Ok(decide(feed, now)),
                respond,
            )
            .await
    }

    /// The entry an append answers with: the one it appended, or the one its source event
    /// became before (as the request describes it, should that entry have been dropped
    /// since).
    async fn appended_entry(
        &self,
        feed_id: Uuid,
        append: &Append,
        outcome: AppendOutcome,
    ) -> Result<pb::FeedEntry, StoreError> {
        if let Some(entry) = outcome.entry {
            // Nobody listening is fine.
            let _ = self.appended.send(feed_id);
            return Ok(entry);
        }
        let seq = u64::try_from(outcome.duplicate_of).unwrap_or(0);
        if let Some(entry) = entries::one(self.store(), feed_id, seq).await? {
            return Ok(entry);
        }
        Ok(pb::FeedEntry {
            feed_id: feed_id.to_string(),
            sequence: outcome.duplicate_of,
            kind: append.kind.as_str().to_owned(),
            workspace_id: append
                .workspace
                .map(|id| id.to_string())
                .unwrap_or_default(),
            payload_json: append.payload.as_str().to_owned(),
            source_event_id: append.source.to_string(),
            create_time: None,
        })
    }

    /// Sends the entries after `after`, then follows new ones, until the receiver goes away
    /// or the watches are ended. Every entry is sent once, in order; when entries the
    /// watcher had not seen were dropped, a reset comes first.
    async fn follow(
        self,
        feed: Uuid,
        after: u64,
        out: mpsc::Sender<Result<pb::WatchFeedResponse, Status>>,
        mut appended: broadcast::Receiver<Uuid>,
    ) {
        let mut closing = self.closing.subscribe();
        let mut position = after;
        let mut reread = tokio::time::interval(REREAD_EVERY);
        reread.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            // Catch up, a page at a time.
            loop {
                let page = match entries::page(self.store(), feed, position, WATCH_PAGE).await {
                    Ok(Some(page)) => page,
                    Ok(None) => break,
                    Err(e) => {
                        let _ = out.send(Err(self.api.status(e))).await;
                        return;
                    }
                };
                let full = page.entries.len() as u64 >= WATCH_PAGE;
                if page.reset {
                    position = page.first_retained - 1;
                    let reset = pb::WatchFeedResponse {
                        event: Some(pb::watch_feed_response::Event::Reset(pb::FeedReset {
                            first_retained_sequence: wire::sequence(page.first_retained),
                        })),
                    };
                    if !deliver(&out, &mut closing, reset).await {
                        return;
                    }
                }
                for entry in page.entries {
                    let seq = u64::try_from(entry.sequence).unwrap_or(0);
                    if seq <= position {
                        continue;
                    }
                    position = seq;
                    let message = pb::WatchFeedResponse {
                        event: Some(pb::watch_feed_response::Event::Entry(entry)),
                    };
                    if !deliver(&out, &mut closing, message).await {
                        return;
                    }
                }
                if !full {
                    break;
                }
            }
            // Wait for an append to this feed, or the next re-read.
            loop {
                tokio::select! {
                    _ = out.closed() => return,
                    _ = closing.wait_for(|closed| *closed) => return,
                    _ = reread.tick() => break,
                    signal = appended.recv() => match signal {
                        Ok(id) if id == feed => break,
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        }
    }
}

/// Sends one message, waiting while the receiver's buffer is full; `false` once the
/// receiver went away or the watches are ended.
async fn deliver(
    out: &mpsc::Sender<Result<pb::WatchFeedResponse, Status>>,
    closing: &mut watch::Receiver<bool>,
    message: pb::WatchFeedResponse,
) -> bool {
    tokio::select! {
        sent = out.send(Ok(message)) => sent.is_ok(),
        _ = closing.wait_for(|closed| *closed) => false,
    }
}

/// A required sequence number field: 0 or more.
fn sequence(field: &str, value: i64) -> Result<u64, Rejection> {
    u64::try_from(value).map_err(|_| {
        Rejection::invalid_field(
            "INVALID_SEQUENCE",
            field,
            format!("{field} must not be negative"),
        )
    })
}

fn page_size(value: i32) -> Result<u64, Rejection> {
    match value {
        0 => Ok(DEFAULT_PAGE_SIZE),
        n if n < 0 => Err(Rejection::invalid_field(
            "INVALID_PAGE_SIZE",
            "page_size",
            "page_size must not be negative",
        )),
        n => Ok((n as u64).min(MAX_PAGE_SIZE)),
    }
}

fn optional_id(field: &str, value: &str) -> Result<Option<Uuid>, Rejection> {
    if value.is_empty() {
        Ok(None)
    } else {
        parse_id(field, value).map(Some)
    }
}

/// A stream of watch messages.
pub type WatchStream =
    Pin<Box<dyn tokio_stream::Stream<Item = Result<pb::WatchFeedResponse, Status>> + Send>>;

/// Parses a read of a feed's entries: the feed and the position after which to read.
fn feed_position(
    feed_id: &str,
    after_sequence: i64,
    fields: &mut FieldCheck,
) -> Option<(Uuid, u64)> {
    let feed = fields.check(parse_id("feed_id", feed_id));
    let after = fields.check(sequence("after_sequence", after_sequence));
    Some((feed?, after?))
}

platform::grpc_service! {
    impl FeedService for FeedApi {
        type WatchFeedStream = WatchStream;

        rpc get_feed(this, request: pb::GetFeedRequest) -> pb::Feed {
            this.api
                .get(parse_id("feed_id", &request.get_ref().feed_id))
                .await
        }

        rpc append_feed_entry(this, request: pb::AppendFeedEntryRequest) -> pb::FeedEntry {
            let call = this.api.parse(request, |r, fields| {
                let source = fields.check(parse_id("source_event_id", &r.source_event_id));
                let kind = fields.check(EntryKind::parse(&r.kind).map_err(Rejection::from));
                let workspace = fields.check(optional_id("workspace_id", &r.workspace_id));
                let payload = fields.check(
                    Payload::parse(&r.payload_json)
                        .map_err(|e| Rejection::from(e).on_field("payload_json")),
                );
                Some(Append {
                    source: SourceEventId::from_uuid(source?),
                    kind: kind?,
                    workspace: workspace?.map(WorkspaceId::from_uuid),
                    payload: payload?,
                })
            })?;
            let appended = async {
                let outcome = this.append(&call).await?;
                this.appended_entry(call.target()?, &call.args, outcome)
                    .await
            };
            appended
                .await
                .map(Response::new)
                .map_err(|e| this.api.status(e))
        }

        rpc mark_feed_read(this, request: pb::MarkFeedReadRequest) -> pb::Feed {
            let call = this.api.parse(request, |r, fields| {
                fields.check(sequence("up_to_sequence", r.up_to_sequence))
            })?;
            this.api
                .update(call, |feed, up_to, now| {
                    feed.mark_read(*up_to, now)
                        .map_err(|e| Rejection::from(e).on_field("up_to_sequence"))
                })
                .await
        }

        rpc list_feed_entries(this, request: pb::ListFeedEntriesRequest)
            -> pb::ListFeedEntriesResponse {
            let r = request.get_ref();
            let ((feed, after), size) = this.api.check(|fields| {
                let position = feed_position(&r.feed_id, r.after_sequence, fields);
                let size = fields.check(page_size(r.page_size));
                Some((position?, size?))
            })?;
            let page = entries::page(this.store(), feed, after, size)
                .await
                .map_err(|e| this.api.status(e))?
                .ok_or_else(|| this.api.status(<FeedSchema as Schema>::not_found()))?;
            Ok(Response::new(pb::ListFeedEntriesResponse {
                entries: page.entries,
                reset: page.reset,
                last_sequence: wire::sequence(page.last),
                first_retained_sequence: wire::sequence(page.first_retained),
            }))
        }

        rpc watch_feed(this, request: pb::WatchFeedRequest) -> Self::WatchFeedStream {
            let r = request.get_ref();
            let (feed, after) = this
                .api
                .check(|fields| feed_position(&r.feed_id, r.after_sequence, fields))?;
            let (out, messages) = mpsc::channel(WATCH_BUFFER);
            // Listen before the first read, so no append between the two is missed.
            let appended = this.appended.subscribe();
            tokio::spawn(this.clone().follow(feed, after, out, appended));
            Ok(Response::new(Box::pin(
                tokio_stream::wrappers::ReceiverStream::new(messages),
            )))
        }
    }
}
