//! The live feed at the edge: each user's notifications as a server-sent event stream.
//!
//! - **One bus subscription per edge process.** [`FeedHub`] holds the only consumer of
//!   `notifications.feed.entry_appended` events in the process (a durable consumer named
//!   after the edge process, [`hub_consumer_name`] of [`hub_instance`], so every edge
//!   receives every entry; it starts at new entries and expires once its process is gone:
//!   a stream reads what it missed from the Notifications service) and fans each
//!   entry out in memory to the streams open for that entry's user. Each stream has a small
//!   bounded buffer ([`STREAM_BUFFER`] entries); a stream whose buffer is full is closed
//!   rather than waited for, so a slow client never holds up the others: it reconnects with
//!   `Last-Event-ID` and replays what it missed. An idle stream costs its buffer and its
//!   place in the hub's map, no task of its own.
//! - **A stream never shows another user's entries**: it is registered under the user the
//!   request authenticated, and every live entry is checked against that user again.
//! - **Resuming.** A stream registers with the hub first, then replays the user's entries
//!   after the resume point from the Notifications service, page by page, then forwards
//!   live entries. Only entries numbered after the last one sent are sent, so the seam
//!   between replay and live neither repeats nor skips an entry; a live entry that is not
//!   the next one (the hub missed some) makes the stream read the gap from the service
//!   first. When the resume point is before the retained range, an explicit `reset` event
//!   (`{"first_sequence": N}`) comes before the entries.
//! - **Stream tickets** ([`TicketStore`]): EventSource cannot send headers, so a signed-in
//!   client first asks for a ticket (random 32 bytes, base64url), valid for
//!   [`TICKET_LIFETIME`] and for one stream only. With `SAAS_REDIS_URL` the replicas share
//!   them through Redis ([`RedisTickets`]: a ticket issued by one opens a stream on any,
//!   once); without it they live in this process's memory ([`MemoryTickets`]).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, Instant};

use adapters_app::grpc::WireEntry;
use axum::response::sse::Event;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use futures::Stream;
use kernel_domain::RejectionKind;
use platform::bus::Subscriber;
use platform::consume::{self, RetryPolicy};
use ports_app::{AppError, AppResult, Ctx, FeedEntry, FeedError, FeedPage, Feeds};
use prost::Message as _;
use rand::RngCore as _;
use saas_proto::events::v1::EventEnvelope;
use saas_proto::notifications::v1 as notifications;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest as _, Sha256};
use tokio::sync::mpsc;
use uuid::Uuid;

use crate::redis_link::{Outage, RedisLink};
use crate::views::app_time;

/// The event type of an appended feed entry.
pub const ENTRY_APPENDED: &str = "notifications.feed.entry_appended";
/// The bus subject the hub consumes.
pub const ENTRY_APPENDED_SUBJECT: &str = "saas.events.notifications.feed.entry_appended";
/// How many live entries a stream may have waiting before it is closed.
pub const STREAM_BUFFER: usize = 64;
/// How long a stream ticket is valid.
pub const TICKET_LIFETIME: Duration = Duration::from_secs(60);
/// How often an idle stream sends a keep-alive comment.
pub const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How many entries one replay read asks for.
const REPLAY_PAGE: i32 = 100;
/// How often the hub's task checks whether the edge is gone.
const HUB_CHECK: Duration = Duration::from_secs(1);

/// The SSE event name of an entry (its kind is in the data).
pub const ENTRY_EVENT: &str = "entry";
/// The SSE event name of a reset.
pub const RESET_EVENT: &str = "reset";

/// Where the hub reads appended entries from: the bus and the name of this edge's durable
/// consumer ([`hub_consumer_name`]).
#[derive(Clone)]
pub struct FeedEvents {
    pub subscriber: Arc<dyn Subscriber>,
    pub consumer: String,
}

/// The longest consumer name a bus takes.
const MAX_CONSUMER_NAME: usize = 64;

/// The durable consumer name of the hub of the edge instance `instance`:
/// `edge-feed-<instance>`, with every character other than ASCII letters, digits, `-` and
/// `_` replaced by `-` (consumer names must be plain tokens), and cut from the front of the
/// instance to 64 characters in all (its end, the most distinctive part, is kept).
/// Instances must have distinct names, or they would share, and split, one consumer: see
/// [`hub_instance`].
pub fn hub_consumer_name(instance: &str) -> String {
    let token: Vec<char> = instance
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let room = MAX_CONSUMER_NAME - "edge-feed-".len();
    let kept: String = token[token.len().saturating_sub(room)..].iter().collect();
    format!("edge-feed-{kept}")
}

/// The instance name of this edge process's hub: the host's name, the HTTP port and 8
/// random hex digits drawn at start, so that no two edge processes (two machines whose
/// `HOSTNAME` is not exported, two containers of one image, a restarted process) ever
/// share a consumer. The hub's consumer is a live one ([`Subscriber::live_consumer`]): it
/// starts at new entries and the broker drops it an hour after its process is gone.
pub fn hub_instance(host: &str, port: u16) -> String {
    let mut random = [0u8; 4];
    rand::rngs::OsRng.fill_bytes(&mut random);
    let suffix: String = random.iter().map(|b| format!("{b:02x}")).collect();
    let host = if host.is_empty() { "edge" } else { host };
    format!("{host}-{port}-{suffix}")
}

/// Opens the hub's consumer as a live one (see [`Subscriber::live_consumer`]).
struct LiveSubscriber(Arc<dyn Subscriber>);

#[async_trait::async_trait]
impl Subscriber for LiveSubscriber {
    async fn consumer(
        &self,
        name: &str,
        filter: &str,
    ) -> Result<Box<dyn platform::bus::Consumer>, platform::bus::BusError> {
        self.0.live_consumer(name, filter).await
    }
}

/// What the edge's feed routes reach: the Notifications service, the hub and the tickets.
pub struct FeedState {
    pub feeds: Arc<dyn Feeds>,
    pub hub: Arc<FeedHub>,
    pub tickets: TicketStore,
}

impl FeedState {
    /// Feed routes over `feeds`, with a hub that has no bus yet (see [`FeedHub::start`]).
    pub fn new(feeds: Arc<dyn Feeds>) -> FeedState {
        FeedState {
            feeds,
            hub: Arc::new(FeedHub::new()),
            tickets: TicketStore::memory(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Tickets

/// The stream tickets of this edge: in this process's memory ([`MemoryTickets`]), or shared
/// by every edge replica through Redis ([`RedisTickets`]), so a ticket issued by one replica
/// opens a stream on any, once.
pub enum TicketStore {
    Memory(MemoryTickets),
    Redis(RedisTickets),
}

impl TicketStore {
    /// Tickets in this process's memory.
    pub fn memory() -> TicketStore {
        TicketStore::Memory(MemoryTickets::new())
    }

    /// Tickets shared through the Redis of `link`.
    pub fn redis(link: RedisLink) -> TicketStore {
        TicketStore::Redis(RedisTickets::new(link))
    }

    /// A new ticket for `user`, valid for [`TICKET_LIFETIME`]; 503 `TICKETS_UNAVAILABLE`
    /// when the shared store cannot keep it.
    pub async fn issue(&self, user: Uuid) -> AppResult<String> {
        match self {
            TicketStore::Memory(tickets) => Ok(tickets.issue(user, Instant::now())),
            TicketStore::Redis(tickets) => tickets.issue(user).await,
        }
    }

    /// The user of `ticket` if it is valid now; the ticket is used up either way (on every
    /// replica). 503 `TICKETS_UNAVAILABLE` when the shared store cannot be asked.
    pub async fn redeem(&self, ticket: &str) -> AppResult<Option<Uuid>> {
        match self {
            TicketStore::Memory(tickets) => Ok(tickets.redeem(ticket, Instant::now())),
            TicketStore::Redis(tickets) => tickets.redeem(ticket).await,
        }
    }
}

/// A new random ticket: 32 bytes from the OS, base64url.
fn new_ticket() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// Single-use stream tickets, kept in memory and dropped lazily once expired.
pub struct MemoryTickets {
    inner: Mutex<Tickets>,
}

struct Tickets {
    by_ticket: HashMap<String, (Uuid, Instant)>,
    last_sweep: Option<Instant>,
}

impl Default for MemoryTickets {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryTickets {
    pub fn new() -> MemoryTickets {
        MemoryTickets {
            inner: Mutex::new(Tickets {
                by_ticket: HashMap::new(),
                last_sweep: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Tickets> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new ticket for `user`, valid for [`TICKET_LIFETIME`] from `now`.
    pub fn issue(&self, user: Uuid, now: Instant) -> String {
        let ticket = new_ticket();
        let mut tickets = self.lock();
        // Expired tickets go at most once per lifetime, so issuing stays cheap.
        if tickets
            .last_sweep
            .is_none_or(|last| now.saturating_duration_since(last) >= TICKET_LIFETIME)
        {
            tickets.by_ticket.retain(|_, (_, expires)| *expires > now);
            tickets.last_sweep = Some(now);
        }
        tickets
            .by_ticket
            .insert(ticket.clone(), (user, now + TICKET_LIFETIME));
        ticket
    }

    /// The user of `ticket` if it is valid at `now`; the ticket is used up either way.
    pub fn redeem(&self, ticket: &str, now: Instant) -> Option<Uuid> {
        let (user, expires) = self.lock().by_ticket.remove(ticket)?;
        (now < expires).then_some(user)
    }

    /// How many tickets are held (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.lock().by_ticket.len()
    }

    /// Whether no ticket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Every key of a stream ticket in Redis starts with this prefix.
const TICKET_KEY_PREFIX: &str = "saas:ticket:";

/// Single-use stream tickets shared by the edge replicas through Redis.
///
/// A ticket is stored under `saas:ticket:<SHA-256 of the ticket, base64url>` (Redis never
/// holds a usable ticket) with the user's id as its value and an expiry of
/// [`TICKET_LIFETIME`] (`SET ... PX`); redeeming is one `GETDEL`, atomic in Redis, so of any
/// number of attempts on any replicas exactly one gets the user.
///
/// **Redis down** (no answer within 200 ms, or an error): issuing and redeeming answer 503
/// `TICKETS_UNAVAILABLE` (with `Retry-After: 1`): a ticket kept only in this process would
/// open streams on this replica alone, and a redemption that cannot be checked cannot be
/// single-use. Streams opened with `Authorization` do not need tickets and go on working.
pub struct RedisTickets {
    link: RedisLink,
    outage: Outage,
}

impl RedisTickets {
    pub fn new(link: RedisLink) -> RedisTickets {
        RedisTickets {
            link,
            outage: Outage::default(),
        }
    }

    fn key(ticket: &str) -> String {
        let digest = Sha256::digest(ticket.as_bytes());
        format!("{TICKET_KEY_PREFIX}{}", URL_SAFE_NO_PAD.encode(digest))
    }

    fn unavailable() -> AppError {
        let mut error = AppError::new(
            RejectionKind::Unavailable,
            "TICKETS_UNAVAILABLE",
            "stream tickets cannot be issued or checked right now; retry, or send Authorization",
        );
        error.retry_after = Some(1);
        error
    }

    /// Runs `command` unless Redis failed within the last second; notes its outcome.
    async fn ask<T>(
        &self,
        command: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> AppResult<T> {
        let now = tokio::time::Instant::now();
        if self.outage.skipping(now) {
            return Err(Self::unavailable());
        }
        match self.link.run(command).await {
            Ok(reply) => {
                self.outage.answered("stream tickets work again");
                Ok(reply)
            }
            Err(error) => {
                self.outage.failed(
                    &error,
                    "stream tickets are refused (503) until it answers",
                    now,
                );
                Err(Self::unavailable())
            }
        }
    }

    /// A new ticket for `user`, kept in Redis for [`TICKET_LIFETIME`].
    pub async fn issue(&self, user: Uuid) -> AppResult<String> {
        let ticket = new_ticket();
        let lifetime_ms = u64::try_from(TICKET_LIFETIME.as_millis()).unwrap_or(u64::MAX);
        let mut connection = self.link.connection();
        let mut set = redis::cmd("SET");
        set.arg(Self::key(&ticket))
            .arg(user.to_string())
            .arg("PX")
            .arg(lifetime_ms);
        self.ask(set.query_async::<()>(&mut connection)).await?;
        Ok(ticket)
    }

    /// The user of `ticket` if Redis still holds it; it is gone from Redis afterwards.
    pub async fn redeem(&self, ticket: &str) -> AppResult<Option<Uuid>> {
        let mut connection = self.link.connection();
        let mut getdel = redis::cmd("GETDEL");
        getdel.arg(Self::key(ticket));
        let user = self
            .ask(getdel.query_async::<Option<String>>(&mut connection))
            .await?;
        Ok(user.and_then(|user| Uuid::try_parse(&user).ok()))
    }
}

// ---------------------------------------------------------------------------------------------
// The hub

/// An appended entry as the hub hands it to streams.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEntry {
    pub feed_id: Uuid,
    pub entry: FeedEntry,
}

type Senders = Vec<(u64, mpsc::Sender<Arc<LiveEntry>>)>;

/// Fans appended entries out to the streams open in this process, by user.
pub struct FeedHub {
    streams: Mutex<HashMap<Uuid, Senders>>,
    next_id: AtomicU64,
    closed: AtomicBool,
}

impl Default for FeedHub {
    fn default() -> Self {
        Self::new()
    }
}

impl FeedHub {
    pub fn new() -> FeedHub {
        FeedHub {
            streams: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(0),
            closed: AtomicBool::new(false),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Uuid, Senders>> {
        self.streams
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Starts the hub's consumer of appended entries on the current runtime. It runs until
    /// the hub is dropped or closed; bus failures only delay it.
    pub fn start(self: &Arc<Self>, events: FeedEvents) {
        let weak = Arc::downgrade(self);
        tokio::spawn(run_hub(weak, events));
    }

    /// A new stream of `user`'s live entries; `None` once the hub is closed.
    pub fn register(self: &Arc<Self>, user: Uuid) -> Option<Registration> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let (sender, receiver) = mpsc::channel(STREAM_BUFFER);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().entry(user).or_default().push((id, sender));
        Some(Registration {
            hub: self.clone(),
            user,
            id,
            receiver,
        })
    }

    /// Hands `entry` to every stream of its user; a stream whose buffer is full, or that is
    /// gone, is dropped from the hub (a full one then ends, and its client reconnects).
    pub fn dispatch(&self, entry: &Arc<LiveEntry>) {
        let mut streams = self.lock();
        let Some(senders) = streams.get_mut(&entry.feed_id) else {
            return;
        };
        senders.retain(|(_, sender)| match sender.try_send(entry.clone()) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::debug!(user = %entry.feed_id, "a feed stream fell behind; closing it");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        if senders.is_empty() {
            streams.remove(&entry.feed_id);
        }
    }

    /// Ends every open stream (after what it has buffered) and refuses new ones: for a
    /// graceful shutdown, which waits for open responses.
    pub fn close(&self) {
        self.closed.store(true, Ordering::Release);
        self.lock().clear();
    }

    /// How many streams are open.
    pub fn stream_count(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }

    fn deregister(&self, user: Uuid, id: u64) {
        let mut streams = self.lock();
        if let Some(senders) = streams.get_mut(&user) {
            senders.retain(|(other, _)| *other != id);
            if senders.is_empty() {
                streams.remove(&user);
            }
        }
    }
}

/// One stream's place in the hub; leaves it when dropped.
pub struct Registration {
    hub: Arc<FeedHub>,
    user: Uuid,
    id: u64,
    receiver: mpsc::Receiver<Arc<LiveEntry>>,
}

impl Registration {
    /// The next live entry; `None` once the hub dropped this stream or closed.
    pub async fn next(&mut self) -> Option<Arc<LiveEntry>> {
        self.receiver.recv().await
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.hub.deregister(self.user, self.id);
    }
}

/// The hub's consumer loop: every appended entry is dispatched and acknowledged (the hub
/// only serves live entries; an old one a restarted consumer delivers again is ignored by
/// the streams, which only send entries after their last one).
async fn run_hub(hub: Weak<FeedHub>, events: FeedEvents) {
    let gone = {
        let hub = hub.clone();
        async move {
            loop {
                match hub.upgrade() {
                    Some(hub) if !hub.closed.load(Ordering::Acquire) => {}
                    _ => return,
                }
                tokio::time::sleep(HUB_CHECK).await;
            }
        }
    };
    let handler = |envelope: EventEnvelope| {
        let hub = hub.clone();
        async move {
            if let (Some(hub), Some(entry)) = (hub.upgrade(), live_entry(&envelope)) {
                hub.dispatch(&Arc::new(entry));
            }
            Ok(())
        }
    };
    consume::run(
        Arc::new(LiveSubscriber(events.subscriber)),
        &events.consumer,
        ENTRY_APPENDED_SUBJECT,
        RetryPolicy::default(),
        handler,
        gone,
    )
    .await;
}

/// The entry an `entry_appended` event carries; `None` (logged) for anything else.
pub fn live_entry(envelope: &EventEnvelope) -> Option<LiveEntry> {
    if envelope.event_type != ENTRY_APPENDED {
        return None;
    }
    let any = envelope.payload.as_ref()?;
    let appended = match notifications::FeedEntryAppended::decode(any.value.as_slice()) {
        Ok(appended) => appended,
        Err(error) => {
            tracing::warn!(event_id = %envelope.event_id, %error, "an entry_appended event does not decode");
            return None;
        }
    };
    let Ok(feed_id) = Uuid::try_parse(&appended.feed_id) else {
        tracing::warn!(event_id = %envelope.event_id, "an entry_appended event has no valid feed id");
        return None;
    };
    let entry = WireEntry {
        feed_id: &appended.feed_id,
        sequence: appended.sequence,
        kind: appended.kind,
        workspace_id: &appended.workspace_id,
        payload_json: appended.payload_json,
        source_event_id: appended.source_event_id,
        create_time: appended.create_time.as_ref(),
    }
    .into_entry();
    match entry {
        Ok(entry) => Some(LiveEntry { feed_id, entry }),
        Err(error) => {
            tracing::warn!(event_id = %envelope.event_id, %error, "an entry_appended event is malformed");
            None
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Views and SSE events

/// A feed entry as the API shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = FeedEntry)]
pub struct EntryView {
    pub sequence: i64,
    /// snake_case, e.g. `member_joined`.
    pub kind: String,
    /// The workspace it is about, or `null`.
    #[schema(format = Uuid)]
    pub workspace_id: Option<String>,
    /// Its details (a JSON object).
    #[schema(value_type = Object)]
    pub payload: Value,
    #[schema(format = DateTime)]
    pub create_time: Option<String>,
}

impl From<&FeedEntry> for EntryView {
    fn from(entry: &FeedEntry) -> Self {
        let payload = serde_json::from_str::<Value>(&entry.payload_json)
            .ok()
            .filter(Value::is_object)
            .unwrap_or_else(|| json!({}));
        EntryView {
            sequence: entry.sequence,
            kind: entry.kind.clone(),
            workspace_id: entry.workspace_id.map(|id| id.to_string()),
            payload,
            create_time: Some(app_time(entry.create_time)),
        }
    }
}

/// The SSE event of an entry: `id: <sequence>`, `event: entry`, `data: <entry as JSON>`.
pub fn entry_event(entry: &FeedEntry) -> Event {
    let data = serde_json::to_string(&EntryView::from(entry)).unwrap_or_else(|_| "{}".into());
    Event::default()
        .id(entry.sequence.to_string())
        .event(ENTRY_EVENT)
        .data(data)
}

/// The SSE event saying entries before `first_sequence` were dropped.
pub fn reset_event(first_sequence: i64) -> Event {
    Event::default()
        .event(RESET_EVENT)
        .data(json!({ "first_sequence": first_sequence }).to_string())
}

// ---------------------------------------------------------------------------------------------
// One stream

/// Where a stream is: what it still has to send, and whether it must read from the service.
struct StreamState {
    feeds: Arc<dyn Feeds>,
    ctx: Ctx,
    user: Uuid,
    /// The sequence number of the last entry sent (or the resume point).
    last_sent: i64,
    /// Whether a reset may be announced (the client gave a resume point).
    resumed: bool,
    /// Whether entries after `last_sent` must be read from the service.
    replaying: bool,
    pending: VecDeque<Event>,
    live: Registration,
}

/// The events of `user`'s stream: the entries after `after` (a resume point when
/// `resumed`), then live ones from `live`. Ends when the hub drops the stream or a read
/// from the service fails (the client reconnects and resumes).
pub fn feed_stream(
    feeds: Arc<dyn Feeds>,
    ctx: Ctx,
    user: Uuid,
    after: i64,
    resumed: bool,
    live: Registration,
) -> impl Stream<Item = Result<Event, std::convert::Infallible>> + Send + 'static {
    let state = StreamState {
        feeds,
        ctx,
        user,
        last_sent: after,
        resumed,
        replaying: true,
        pending: VecDeque::new(),
        live,
    };
    futures::stream::unfold(state, |mut state| async move {
        let event = state.next_event().await?;
        Some((Ok(event), state))
    })
}

impl StreamState {
    async fn next_event(&mut self) -> Option<Event> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some(event);
            }
            if self.replaying {
                self.replay_page().await?;
                continue;
            }
            let live = self.live.next().await?;
            if live.feed_id != self.user {
                // The hub keys streams by user; this guards that rule once more.
                continue;
            }
            let sequence = live.entry.sequence;
            if sequence <= self.last_sent {
                continue;
            }
            if sequence == self.last_sent + 1 {
                self.last_sent = sequence;
                return Some(entry_event(&live.entry));
            }
            // Entries before this one did not come live: read them first.
            self.replaying = true;
        }
    }

    /// Reads the next page after `last_sent` into `pending`; `None` when the read failed.
    async fn replay_page(&mut self) -> Option<()> {
        let read = read_page(self.feeds.as_ref(), &self.ctx, self.user, self.last_sent).await;
        let page = match read {
            Ok(page) => page,
            Err(FeedError::NotFound(_)) => {
                // No entry was ever appended: nothing to replay.
                self.replaying = false;
                return Some(());
            }
            Err(error) => {
                tracing::warn!(user = %self.user, error = %error, "cannot replay a feed; ending the stream");
                return None;
            }
        };
        if page.reset && (self.resumed || self.last_sent > 0) {
            self.pending
                .push_back(reset_event(page.first_retained_sequence));
        }
        // A reset is announced once; later pages continue from what was sent.
        self.resumed = true;
        for entry in &page.entries {
            if entry.sequence > self.last_sent {
                self.last_sent = entry.sequence;
                self.pending.push_back(entry_event(entry));
            }
        }
        if page.entries.is_empty() || self.last_sent >= page.last_sequence {
            self.replaying = false;
        }
        Some(())
    }
}

/// How many replay reads one edge process makes at once. Thousands of streams opening
/// together (a deploy, a network blip) would otherwise push the Notifications service past
/// its concurrency limit and have their reads shed; they queue here instead.
const REPLAY_CONCURRENCY: usize = 64;

static REPLAY_PERMITS: tokio::sync::Semaphore =
    tokio::sync::Semaphore::const_new(REPLAY_CONCURRENCY);

/// Reads one replay page, at most [`REPLAY_CONCURRENCY`] at once per process, retrying a
/// shed read (`UNAVAILABLE`) a few times with backoff before giving up.
async fn read_page(
    feeds: &dyn Feeds,
    ctx: &Ctx,
    user: Uuid,
    after_sequence: i64,
) -> Result<FeedPage, FeedError> {
    let mut delay = std::time::Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        let outcome = {
            let _permit = REPLAY_PERMITS
                .acquire()
                .await
                .map_err(|error| FeedError::Other(AppError::internal(error)))?;
            feeds
                .list_feed_entries(ctx, user.into(), after_sequence, REPLAY_PAGE)
                .await
        };
        match outcome {
            Err(FeedError::Other(error)) if error.is(RejectionKind::Unavailable) && attempt < 5 => {
                tokio::time::sleep(delay).await;
                delay *= 2;
                attempt += 1;
            }
            other => return other,
        }
    }
}
