//! NATS JetStream transport of the event bus.
//!
//! [`NatsBus::connect`] creates (or updates) two streams:
//! - `SAAS_EVENTS` holds the subjects `saas.events.>` in files for 7 days; a second message
//!   with the same `Nats-Msg-Id` (the message id) within 2 minutes is dropped by the broker.
//! - `SAAS_DEAD_LETTERS` holds the subjects `saas.dead.<consumer>`: one message per parked
//!   delivery, kept until it is redriven.
//!
//! Each [`Consumer`] is a durable pull consumer on `SAAS_EVENTS` with explicit
//! acknowledgement and unlimited redelivery (giving up is the caller's decision, by parking).
//! By default a consumer has at most one unacknowledged message, so it sees its messages
//! strictly in publish order even when it asks for one to be delivered again later.
//!
//! A redrive republishes the parked message to its original subject with the header
//! `Saas-Redrive-For: <consumer>` and a new `Nats-Msg-Id`; the consumer it names receives it
//! as a normal delivery with the original message id, and every other consumer of that
//! subject acknowledges and skips it. This works on every JetStream server (it needs no
//! consumer with several filter subjects, which servers before 2.10 lack).

use std::collections::HashMap;
use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use async_nats::connection::State;
use async_nats::header::{IntoHeaderName, NATS_MESSAGE_ID};
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, PullConsumer, pull};
use async_nats::jetstream::context::PublishAckFuture;
use async_nats::jetstream::publish::PublishAck;
use async_nats::jetstream::stream::{self, RawMessageErrorKind};
use async_nats::jetstream::{self, AckKind, ErrorCode};
use async_nats::{HeaderMap, HeaderValue};
use async_trait::async_trait;
use futures::StreamExt;
use tokio::time::{Instant, timeout};

use super::{
    BusError, Consumer, DeadLetter, DeadLetters, Delivery, EVENT_SUBJECT_PREFIX,
    LIVE_CONSUMER_EXPIRY, Message, Publisher, Subscriber,
};

/// The stream of integration events (subjects `saas.events.>`).
pub const EVENTS_STREAM: &str = "SAAS_EVENTS";
/// The stream of parked messages (subjects `saas.dead.<consumer>`).
pub const DEAD_LETTER_STREAM: &str = "SAAS_DEAD_LETTERS";
/// The subject prefix of parked messages: `saas.dead.<consumer>`.
pub const DEAD_LETTER_SUBJECT_PREFIX: &str = "saas.dead.";

/// Header: the message id a consumer sees when it differs from `Nats-Msg-Id` (redriven copies).
const HEADER_MESSAGE_ID: &str = "Saas-Message-Id";
/// Header: the only consumer that handles a redriven copy.
const HEADER_REDRIVE_FOR: &str = "Saas-Redrive-For";
/// Header of a dead letter: the consumer that parked it.
const HEADER_CONSUMER: &str = "Saas-Consumer";
/// Header of a dead letter: why it was parked.
const HEADER_REASON: &str = "Saas-Reason";
/// Header of a dead letter: the subject it was published to.
const HEADER_ORIGINAL_SUBJECT: &str = "Saas-Original-Subject";
/// Header of a dead letter: when it was parked, as Unix microseconds.
const HEADER_PARKED_AT: &str = "Saas-Parked-At";

/// The longest consumer name.
const MAX_NAME_LEN: usize = 64;
/// The longest parking reason kept; longer ones are cut.
const MAX_REASON_CHARS: usize = 1024;
/// The shortest wait of one pull request.
const MIN_PULL_EXPIRY: Duration = Duration::from_millis(10);

/// Settings of a [`NatsBus`]; [`NatsConfig::default`] holds the production values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatsConfig {
    /// How long a publish, an acknowledgement or a management request may take before it
    /// fails (also the connect timeout): 5 s. Calls fail at once while the connection is
    /// known to be down, and after this long when the server does not answer; they never
    /// wait for it to come back.
    pub request_timeout: Duration,
    /// Within this window the broker drops a message whose id it already stored: 2 minutes.
    pub duplicate_window: Duration,
    /// How long `SAAS_EVENTS` keeps a message: 7 days.
    pub max_age: Duration,
    /// A delivery neither acknowledged nor refused within this time is delivered again: 30 s.
    pub ack_wait: Duration,
    /// How many unacknowledged deliveries a consumer may hold: 1, so that a consumer sees its
    /// messages strictly in order.
    pub max_ack_pending: i64,
    /// When set, the broker deletes a consumer that nobody used for this long (for tests and
    /// short-lived consumers); production consumers never expire: `None`.
    pub consumer_inactive_threshold: Option<Duration>,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(5),
            duplicate_window: Duration::from_secs(120),
            max_age: Duration::from_secs(7 * 24 * 3600),
            ack_wait: Duration::from_secs(30),
            max_ack_pending: 1,
            consumer_inactive_threshold: None,
        }
    }
}

/// The event bus on a NATS JetStream server. Cloning shares the connection, which
/// reconnects by itself after the server comes back.
#[derive(Clone)]
pub struct NatsBus {
    client: async_nats::Client,
    js: jetstream::Context,
    config: Arc<NatsConfig>,
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl NatsBus {
    /// Connects to the server at `url` (e.g. `nats://127.0.0.1:4222`) with the production
    /// settings and creates or updates the streams.
    pub async fn connect(url: &str) -> Result<NatsBus, BusError> {
        Self::connect_with(url, NatsConfig::default()).await
    }

    /// Connects to the server at `url` with `config` and creates or updates the streams.
    /// Fails when the server cannot be reached; the caller retries.
    pub async fn connect_with(url: &str, config: NatsConfig) -> Result<NatsBus, BusError> {
        let client = async_nats::ConnectOptions::new()
            .name("saas")
            .connection_timeout(config.request_timeout)
            .request_timeout(Some(config.request_timeout))
            .connect(url)
            .await
            .map_err(|e| failure("cannot connect to the NATS server", e))?;
        let js = jetstream::ContextBuilder::new()
            .timeout(config.request_timeout)
            .build(client.clone());
        let bus = NatsBus {
            client,
            js,
            config: Arc::new(config),
        };
        bus.ensure_streams().await?;
        Ok(bus)
    }

    /// The settings in use.
    pub fn config(&self) -> &NatsConfig {
        &self.config
    }

    async fn ensure_streams(&self) -> Result<(), BusError> {
        let events = stream::Config {
            name: EVENTS_STREAM.to_owned(),
            description: Some("Integration events of the saas services".to_owned()),
            subjects: vec![format!("{EVENT_SUBJECT_PREFIX}>")],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            max_age: self.config.max_age,
            duplicate_window: self.config.duplicate_window,
            ..Default::default()
        };
        let dead_letters = stream::Config {
            name: DEAD_LETTER_STREAM.to_owned(),
            description: Some("Events the saas consumers gave up on".to_owned()),
            subjects: vec![format!("{DEAD_LETTER_SUBJECT_PREFIX}>")],
            storage: stream::StorageType::File,
            retention: stream::RetentionPolicy::Limits,
            discard: stream::DiscardPolicy::Old,
            duplicate_window: self.config.duplicate_window,
            ..Default::default()
        };
        for config in [events, dead_letters] {
            let name = config.name.clone();
            self.js
                .create_or_update_stream(config)
                .await
                .map_err(|e| failure(&format!("cannot create or update stream {name}"), e))?;
        }
        Ok(())
    }

    /// Fails at once while the connection is down, so that callers back off instead of
    /// waiting for a timeout.
    fn check_connected(&self) -> Result<(), BusError> {
        match self.client.connection_state() {
            State::Connected => Ok(()),
            State::Pending | State::Disconnected => {
                Err(BusError("not connected to the NATS server".to_owned()))
            }
        }
    }

    /// Publishes and waits for the stream's acknowledgement, for at most the request timeout;
    /// fails at once while the connection is known to be down.
    async fn publish_acked(
        &self,
        subject: String,
        headers: HeaderMap,
        payload: Vec<u8>,
    ) -> Result<PublishAck, BusError> {
        self.check_connected()?;
        let attempt = async {
            let ack: PublishAckFuture = self
                .js
                .publish_with_headers(subject.clone(), headers, payload.into())
                .await?;
            ack.await
        };
        match timeout(self.config.request_timeout, attempt).await {
            Ok(Ok(ack)) => Ok(ack),
            Ok(Err(e)) => Err(failure(&format!("publish to {subject} failed"), e)),
            Err(_) => Err(failure(
                &format!("publish to {subject} failed"),
                "no acknowledgement within the request timeout",
            )),
        }
    }

    /// Every dead letter with its sequence in the dead-letter stream, oldest first.
    async fn parked(&self) -> Result<Vec<(u64, DeadLetter)>, BusError> {
        let stream = self
            .js
            .get_stream_no_info(DEAD_LETTER_STREAM)
            .await
            .map_err(|e| failure("cannot open the dead-letter stream", e))?;
        let filter = format!("{DEAD_LETTER_SUBJECT_PREFIX}>");
        let mut parked = Vec::new();
        let mut next = 1;
        loop {
            let found = stream
                .raw_message_builder()
                .sequence(next)
                .next_by_subject(filter.clone())
                .send()
                .await;
            let raw = match found {
                Ok(raw) => raw,
                Err(e) if e.kind() == RawMessageErrorKind::NoMessageFound => break,
                Err(e) => return Err(failure("cannot read the dead letters", e)),
            };
            next = raw.sequence.saturating_add(1);
            parked.push((raw.sequence, dead_letter(&raw)));
        }
        Ok(parked)
    }
}

#[async_trait]
impl Publisher for NatsBus {
    async fn publish(&self, message: Message) -> Result<(), BusError> {
        if message.id.is_empty() || message.id.chars().any(char::is_control) {
            return Err(BusError(
                "a message id must be non-empty and free of control characters".to_owned(),
            ));
        }
        let mut headers = HeaderMap::new();
        headers.insert(NATS_MESSAGE_ID, message.id.as_str());
        let ack = self
            .publish_acked(message.subject, headers, message.payload)
            .await?;
        if ack.duplicate {
            tracing::debug!(id = %message.id, sequence = ack.sequence, "duplicate message dropped by the broker");
        }
        Ok(())
    }
}

#[async_trait]
impl Subscriber for NatsBus {
    async fn consumer(&self, name: &str, filter: &str) -> Result<Box<dyn Consumer>, BusError> {
        let expiry = self.config.consumer_inactive_threshold.unwrap_or_default();
        self.open_consumer(name, filter, DeliverPolicy::All, expiry)
            .await
    }

    async fn live_consumer(&self, name: &str, filter: &str) -> Result<Box<dyn Consumer>, BusError> {
        let expiry = self
            .config
            .consumer_inactive_threshold
            .unwrap_or(LIVE_CONSUMER_EXPIRY);
        self.open_consumer(name, filter, DeliverPolicy::New, expiry)
            .await
    }
}

impl NatsBus {
    /// Creates (or finds) the durable pull consumer `name`; a zero `expiry` never expires.
    async fn open_consumer(
        &self,
        name: &str,
        filter: &str,
        deliver_policy: DeliverPolicy,
        expiry: Duration,
    ) -> Result<Box<dyn Consumer>, BusError> {
        check_consumer_name(name)?;
        check_filter(filter)?;
        let config = pull::Config {
            durable_name: Some(name.to_owned()),
            deliver_policy,
            ack_policy: AckPolicy::Explicit,
            ack_wait: self.config.ack_wait,
            max_deliver: -1,
            filter_subject: filter.to_owned(),
            max_ack_pending: self.config.max_ack_pending,
            inactive_threshold: expiry,
            ..Default::default()
        };
        let consumer: PullConsumer = self
            .js
            .create_consumer_on_stream(config, EVENTS_STREAM)
            .await
            .map_err(|e| failure(&format!("cannot create consumer {name}"), e))?;
        Ok(Box::new(NatsConsumer {
            bus: self.clone(),
            name: name.to_owned(),
            consumer,
            in_flight: HashMap::new(),
        }))
    }
}

#[async_trait]
impl DeadLetters for NatsBus {
    async fn list(&self) -> Result<Vec<DeadLetter>, BusError> {
        Ok(self
            .parked()
            .await?
            .into_iter()
            .map(|(_, letter)| letter)
            .collect())
    }

    async fn redrive(&self, consumer: Option<&str>) -> Result<usize, BusError> {
        if let Some(name) = consumer {
            check_consumer_name(name)?;
        }
        let stream = self
            .js
            .get_stream_no_info(DEAD_LETTER_STREAM)
            .await
            .map_err(|e| failure("cannot open the dead-letter stream", e))?;
        let mut redriven = 0;
        for (sequence, letter) in self.parked().await? {
            if consumer.is_some_and(|name| name != letter.consumer) {
                continue;
            }
            if check_consumer_name(&letter.consumer).is_err()
                || !letter.message.subject.starts_with(EVENT_SUBJECT_PREFIX)
            {
                tracing::warn!(
                    sequence,
                    consumer = %letter.consumer,
                    subject = %letter.message.subject,
                    "dead letter without a valid consumer or event subject left in place"
                );
                continue;
            }
            // The id depends on the dead letter only, so a retried redrive of the same dead
            // letter is dropped by the broker as a duplicate.
            let mut headers = HeaderMap::new();
            headers.insert(
                NATS_MESSAGE_ID,
                format!("{}:redrive:{sequence}", letter.message.id),
            );
            headers.insert(HEADER_MESSAGE_ID, letter.message.id.as_str());
            headers.insert(HEADER_REDRIVE_FOR, letter.consumer.as_str());
            self.publish_acked(letter.message.subject, headers, letter.message.payload)
                .await?;
            let deleted = timeout(self.config.request_timeout, stream.delete_message(sequence))
                .await
                .map_err(|_| failure("cannot delete a redriven dead letter", "timed out"))?;
            match deleted {
                Ok(_) => redriven += 1,
                // Another redrive deleted it first; its copy was dropped as a duplicate or
                // counted there.
                Err(e) if is_no_message(&e) => {}
                Err(e) => return Err(failure("cannot delete a redriven dead letter", e)),
            }
        }
        Ok(redriven)
    }
}

/// A delivery handed out and not yet acknowledged, refused or parked.
struct InFlight {
    raw: jetstream::Message,
    message: Message,
}

/// One durable pull consumer of `SAAS_EVENTS`.
struct NatsConsumer {
    bus: NatsBus,
    name: String,
    consumer: PullConsumer,
    in_flight: HashMap<u64, InFlight>,
}

impl NatsConsumer {
    /// Pulls at most one message, waiting up to `wait` on the server.
    async fn fetch_one(&self, wait: Duration) -> Result<Option<jetstream::Message>, BusError> {
        self.bus.check_connected()?;
        let expires = wait.max(MIN_PULL_EXPIRY);
        let pull = async {
            let mut batch = self
                .consumer
                .batch()
                .max_messages(1)
                .expires(expires)
                .messages()
                .await
                .map_err(|e| failure(&format!("consumer {}: pull failed", self.name), e))?;
            batch
                .next()
                .await
                .transpose()
                .map_err(|e| failure(&format!("consumer {}: pull failed", self.name), e))
        };
        timeout(expires + self.bus.config.request_timeout, pull)
            .await
            .map_err(|_| {
                failure(
                    &format!("consumer {}: pull failed", self.name),
                    "no answer from the server",
                )
            })?
    }

    /// Sends `kind` for `raw` and waits for the server to confirm it.
    async fn acknowledge(&self, raw: &jetstream::Message, kind: AckKind) -> Result<(), BusError> {
        let what = match kind {
            AckKind::Nak(_) => "negative acknowledgement",
            _ => "acknowledgement",
        };
        match timeout(self.bus.config.request_timeout, raw.double_ack_with(kind)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(failure(
                &format!("consumer {}: {what} failed", self.name),
                e,
            )),
            Err(_) => Err(failure(
                &format!("consumer {}: {what} failed", self.name),
                "no confirmation within the request timeout",
            )),
        }
    }

    fn outstanding(&self, delivery: &Delivery) -> Result<&InFlight, BusError> {
        self.in_flight.get(&delivery.sequence).ok_or_else(|| {
            BusError(format!(
                "consumer {}: message {} (sequence {}) is not an outstanding delivery",
                self.name, delivery.message.id, delivery.sequence
            ))
        })
    }
}

#[async_trait]
impl Consumer for NatsConsumer {
    async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>, BusError> {
        let deadline = Instant::now() + wait;
        loop {
            let remaining = deadline.saturating_duration_since(Instant::now());
            let Some(raw) = self.fetch_one(remaining).await? else {
                return Ok(None);
            };
            let info = raw
                .info()
                .map_err(|e| failure(&format!("consumer {}: bad delivery", self.name), e))?;
            let (sequence, delivered) = (info.stream_sequence, info.delivered);
            let redrive_for = header(raw.headers.as_ref(), HEADER_REDRIVE_FOR);
            if redrive_for.is_some_and(|target| target != self.name) {
                // A redriven copy meant for another consumer of the same subject.
                self.acknowledge(&raw, AckKind::Ack).await?;
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                continue;
            }
            let message = received_message(&raw, sequence);
            let delivery = Delivery {
                message: message.clone(),
                attempt: u32::try_from(delivered.max(1)).unwrap_or(u32::MAX),
                sequence,
            };
            self.in_flight.insert(sequence, InFlight { raw, message });
            return Ok(Some(delivery));
        }
    }

    async fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError> {
        let pending = self.outstanding(delivery)?;
        self.acknowledge(&pending.raw, AckKind::Ack).await?;
        self.in_flight.remove(&delivery.sequence);
        Ok(())
    }

    async fn nak(&mut self, delivery: &Delivery, delay: Duration) -> Result<(), BusError> {
        let pending = self.outstanding(delivery)?;
        let delay = (!delay.is_zero()).then_some(delay);
        self.acknowledge(&pending.raw, AckKind::Nak(delay)).await?;
        self.in_flight.remove(&delivery.sequence);
        Ok(())
    }

    async fn park(&mut self, delivery: &Delivery, reason: &str) -> Result<(), BusError> {
        let pending = self.outstanding(delivery)?;
        let message = &pending.message;
        let mut headers = HeaderMap::new();
        // One dead letter per delivery: a retried park of the same delivery is dropped as a
        // duplicate, while parking a redriven copy again (a new sequence) is kept.
        headers.insert(
            NATS_MESSAGE_ID,
            format!("{}:{}:{}", self.name, message.id, delivery.sequence),
        );
        headers.insert(HEADER_CONSUMER, self.name.as_str());
        headers.insert(HEADER_REASON, clean_reason(reason));
        headers.insert(HEADER_ORIGINAL_SUBJECT, message.subject.as_str());
        headers.insert(HEADER_MESSAGE_ID, message.id.as_str());
        headers.insert(
            HEADER_PARKED_AT,
            chrono::Utc::now().timestamp_micros().to_string(),
        );
        self.bus
            .publish_acked(
                format!("{DEAD_LETTER_SUBJECT_PREFIX}{}", self.name),
                headers,
                message.payload.clone(),
            )
            .await?;
        self.acknowledge(&pending.raw, AckKind::Ack).await?;
        tracing::warn!(consumer = %self.name, id = %message.id, "message parked as a dead letter");
        self.in_flight.remove(&delivery.sequence);
        Ok(())
    }
}

/// The message as its consumer sees it: a redriven copy keeps the original id.
fn received_message(raw: &jetstream::Message, sequence: u64) -> Message {
    let headers = raw.headers.as_ref();
    let id = header(headers, HEADER_MESSAGE_ID)
        .or_else(|| header(headers, NATS_MESSAGE_ID))
        .map_or_else(|| format!("{EVENTS_STREAM}:{sequence}"), str::to_owned);
    Message {
        subject: raw.subject.to_string(),
        id,
        payload: raw.payload.to_vec(),
    }
}

/// Reads a dead letter; parts a foreign message lacks are filled from what is there.
fn dead_letter(raw: &jetstream::message::StreamMessage) -> DeadLetter {
    let headers = Some(&raw.headers);
    let consumer = header(headers, HEADER_CONSUMER)
        .map(str::to_owned)
        .or_else(|| {
            raw.subject
                .strip_prefix(DEAD_LETTER_SUBJECT_PREFIX)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let id = header(headers, HEADER_MESSAGE_ID)
        .or_else(|| header(headers, NATS_MESSAGE_ID))
        .map_or_else(
            || format!("{DEAD_LETTER_STREAM}:{}", raw.sequence),
            str::to_owned,
        );
    DeadLetter {
        consumer,
        message: Message {
            subject: header(headers, HEADER_ORIGINAL_SUBJECT)
                .unwrap_or_default()
                .to_owned(),
            id,
            payload: raw.payload.to_vec(),
        },
        reason: header(headers, HEADER_REASON)
            .unwrap_or_default()
            .to_owned(),
        parked_at: header(headers, HEADER_PARKED_AT)
            .and_then(|v| v.parse().ok())
            .unwrap_or_default(),
    }
}

fn header(headers: Option<&HeaderMap>, name: impl IntoHeaderName) -> Option<&str> {
    headers
        .and_then(|h| h.get(name))
        .map(HeaderValue::as_str)
        .filter(|v| !v.is_empty())
}

/// A reason fits in one header line: control characters become spaces and it is cut at
/// [`MAX_REASON_CHARS`] characters.
fn clean_reason(reason: &str) -> String {
    reason
        .chars()
        .take(MAX_REASON_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// A consumer name is 1 to 64 ASCII letters, digits, `_` or `-` (it is a subject token and
/// a JetStream consumer name).
fn check_consumer_name(name: &str) -> Result<(), BusError> {
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if valid {
        Ok(())
    } else {
        Err(BusError(format!(
            "invalid consumer name {name:?}: use 1 to {MAX_NAME_LEN} letters, digits, '_' or '-'"
        )))
    }
}

/// A filter is a subject under `saas.events.` whose tokens are non-empty and without
/// whitespace; `*` and `>` stand alone as tokens, `>` only last.
fn check_filter(filter: &str) -> Result<(), BusError> {
    let tokens: Vec<&str> = filter.split('.').collect();
    let last = tokens.len().saturating_sub(1);
    let tokens_valid = tokens.iter().enumerate().all(|(i, token)| {
        !token.is_empty()
            && !token.chars().any(char::is_whitespace)
            && (!token.contains('*') || *token == "*")
            && (!token.contains('>') || (*token == ">" && i == last))
    });
    if filter.starts_with(EVENT_SUBJECT_PREFIX) && tokens_valid {
        Ok(())
    } else {
        Err(BusError(format!(
            "invalid consumer filter {filter:?}: a subject under {EVENT_SUBJECT_PREFIX}"
        )))
    }
}

/// The message to delete is already gone (deleted by a concurrent redrive).
fn is_no_message(error: &stream::DeleteMessageError) -> bool {
    match error.kind() {
        stream::DeleteMessageErrorKind::JetStream(e) => {
            let code = e.error_code();
            code == ErrorCode::SEQUENCE_NOT_FOUND
                || code == ErrorCode::NO_MESSAGE_FOUND
                || (code == ErrorCode::STREAM_MESSAGE_DELETE_FAILED
                    && e.to_string().starts_with("no message found"))
        }
        _ => false,
    }
}

/// Logs the cause and returns the failure the callers see.
fn failure(what: &str, cause: impl Display) -> BusError {
    tracing::warn!(%cause, "{what}");
    BusError(format!("{what}: {cause}"))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::process::Stdio;

    use super::*;

    /// The shared server, when the environment names one.
    fn shared_url() -> Option<String> {
        let url = std::env::var("SAAS_TEST_NATS_URL")
            .ok()
            .filter(|u| !u.is_empty());
        if url.is_none() {
            eprintln!("SAAS_TEST_NATS_URL is not set: skipping the NATS test");
        }
        url
    }

    /// Consumers of the tests on the shared server disappear after an hour unused, so that a
    /// failed run leaves nothing behind for long.
    fn test_config() -> NatsConfig {
        NatsConfig {
            consumer_inactive_threshold: Some(Duration::from_secs(3600)),
            ..NatsConfig::default()
        }
    }

    /// A subject prefix no other test or run uses.
    fn unique_prefix() -> String {
        format!(
            "{EVENT_SUBJECT_PREFIX}test.{}",
            uuid::Uuid::now_v7().simple()
        )
    }

    fn unique_name(what: &str) -> String {
        format!("test-{what}-{}", uuid::Uuid::now_v7().simple())
    }

    fn message(subject: &str, n: usize) -> Message {
        Message {
            subject: subject.to_owned(),
            id: uuid::Uuid::now_v7().to_string(),
            payload: format!("payload {n}").into_bytes(),
        }
    }

    /// The next delivery, polling until `deadline`.
    async fn next_within(consumer: &mut dyn Consumer, limit: Duration) -> Delivery {
        let deadline = Instant::now() + limit;
        loop {
            match consumer.next(Duration::from_millis(500)).await {
                Ok(Some(delivery)) => return delivery,
                Ok(None) | Err(_) if Instant::now() < deadline => {}
                other => panic!("no delivery before the deadline: {other:?}"),
            }
        }
    }

    /// Removes what a test left on the shared server.
    async fn clean_up(bus: &NatsBus, consumers: &[&str], prefix: &str) {
        let Ok(stream) = bus.js.get_stream_no_info(EVENTS_STREAM).await else {
            return;
        };
        for name in consumers {
            let _ = stream.delete_consumer(name).await;
        }
        let _ = stream.purge().filter(format!("{prefix}.>")).await;
    }

    #[tokio::test]
    async fn a_message_published_twice_is_delivered_once() {
        let Some(url) = shared_url() else { return };
        let bus = NatsBus::connect_with(&url, test_config()).await.unwrap();
        let prefix = unique_prefix();
        let subject = format!("{prefix}.created");
        let name = unique_name("dedup");
        let first = message(&subject, 1);
        let second = message(&subject, 2);
        bus.publish(first.clone()).await.unwrap();
        bus.publish(first.clone()).await.unwrap();
        bus.publish(second.clone()).await.unwrap();

        let mut consumer = bus.consumer(&name, &format!("{prefix}.>")).await.unwrap();
        let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
        assert_eq!(got.message, first);
        assert_eq!(got.attempt, 1);
        consumer.ack(&got).await.unwrap();
        let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
        assert_eq!(got.message, second, "the duplicate was delivered");
        consumer.ack(&got).await.unwrap();
        assert!(
            consumer.ack(&got).await.is_err(),
            "a delivery is acknowledged only once"
        );
        clean_up(&bus, &[&name], &prefix).await;
    }

    #[tokio::test]
    async fn live_consumers_start_at_new_messages_and_each_gets_every_one() {
        let Some(url) = shared_url() else { return };
        let bus = NatsBus::connect_with(&url, test_config()).await.unwrap();
        let prefix = unique_prefix();
        let subject = format!("{prefix}.x");
        let filter = format!("{prefix}.>");
        let (one, two) = (unique_name("live-a"), unique_name("live-b"));
        let old = message(&subject, 1);
        bus.publish(old).await.unwrap();
        let mut first = bus.live_consumer(&one, &filter).await.unwrap();
        let mut second = bus.live_consumer(&two, &filter).await.unwrap();
        let new: Vec<Message> = (2..5).map(|n| message(&subject, n)).collect();
        for m in &new {
            bus.publish(m.clone()).await.unwrap();
        }
        for consumer in [&mut first, &mut second] {
            for expected in &new {
                let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
                assert_eq!(&got.message, expected, "the old message was not skipped");
                consumer.ack(&got).await.unwrap();
            }
        }
        clean_up(&bus, &[&one, &two], &prefix).await;
    }

    #[tokio::test]
    async fn messages_arrive_in_publish_order_and_filtered() {
        let Some(url) = shared_url() else { return };
        let bus = NatsBus::connect_with(&url, test_config()).await.unwrap();
        let prefix = unique_prefix();
        let name = unique_name("order");
        let mut sent = Vec::new();
        for n in 0..20 {
            // Every third message is outside the consumer's filter.
            let kind = if n % 3 == 0 { "other" } else { "wanted" };
            let m = message(&format!("{prefix}.{kind}.x"), n);
            bus.publish(m.clone()).await.unwrap();
            if kind == "wanted" {
                sent.push(m);
            }
        }
        let mut consumer = bus
            .consumer(&name, &format!("{prefix}.wanted.*"))
            .await
            .unwrap();
        let mut received = Vec::new();
        let mut sequences = Vec::new();
        while received.len() < sent.len() {
            let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
            consumer.ack(&got).await.unwrap();
            sequences.push(got.sequence);
            received.push(got.message);
        }
        assert_eq!(received, sent);
        assert!(sequences.windows(2).all(|w| w[0] < w[1]));
        clean_up(&bus, &[&name], &prefix).await;
    }

    #[tokio::test]
    async fn a_restarted_consumer_continues_after_its_last_ack() {
        let Some(url) = shared_url() else { return };
        let prefix = unique_prefix();
        let subject = format!("{prefix}.x");
        let filter = format!("{prefix}.>");
        let name = unique_name("restart");
        let sent: Vec<Message> = (0..5).map(|n| message(&subject, n)).collect();
        {
            let bus = NatsBus::connect_with(&url, test_config()).await.unwrap();
            for m in &sent {
                bus.publish(m.clone()).await.unwrap();
            }
            let mut consumer = bus.consumer(&name, &filter).await.unwrap();
            for expected in &sent[..3] {
                let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
                assert_eq!(&got.message, expected);
                consumer.ack(&got).await.unwrap();
            }
        }
        let bus = NatsBus::connect_with(&url, test_config()).await.unwrap();
        let mut consumer = bus.consumer(&name, &filter).await.unwrap();
        for expected in &sent[3..] {
            let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
            assert_eq!(&got.message, expected);
            assert_eq!(got.attempt, 1);
            consumer.ack(&got).await.unwrap();
        }
        let sentinel = message(&subject, 99);
        bus.publish(sentinel.clone()).await.unwrap();
        let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
        assert_eq!(got.message, sentinel, "an acknowledged message came back");
        consumer.ack(&got).await.unwrap();
        clean_up(&bus, &[&name], &prefix).await;
    }

    #[tokio::test]
    async fn a_refused_message_comes_back_before_later_ones() {
        let Some(url) = shared_url() else { return };
        let bus = NatsBus::connect_with(&url, test_config()).await.unwrap();
        let prefix = unique_prefix();
        let subject = format!("{prefix}.x");
        let name = unique_name("nak");
        let first = message(&subject, 1);
        let second = message(&subject, 2);
        bus.publish(first.clone()).await.unwrap();
        bus.publish(second.clone()).await.unwrap();
        let mut consumer = bus.consumer(&name, &format!("{prefix}.>")).await.unwrap();

        let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
        assert_eq!((got.message.clone(), got.attempt), (first.clone(), 1));
        consumer
            .nak(&got, Duration::from_millis(200))
            .await
            .unwrap();
        let again = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
        assert_eq!(again.message, first);
        assert_eq!(again.attempt, 2);
        assert_eq!(again.sequence, got.sequence);
        consumer.nak(&again, Duration::ZERO).await.unwrap();
        let third = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
        assert_eq!((third.message.clone(), third.attempt), (first, 3));
        consumer.ack(&third).await.unwrap();
        let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
        assert_eq!((got.message.clone(), got.attempt), (second, 1));
        consumer.ack(&got).await.unwrap();
        clean_up(&bus, &[&name], &prefix).await;
    }

    #[tokio::test]
    async fn a_parked_message_is_listed_and_redriven_to_its_consumer_only() {
        let Some(url) = shared_url() else { return };
        let bus = NatsBus::connect_with(&url, test_config()).await.unwrap();
        let prefix = unique_prefix();
        let subject = format!("{prefix}.x");
        let filter = format!("{prefix}.>");
        let failing = unique_name("parks");
        let other = unique_name("other");
        let poison = message(&subject, 1);
        let fine = message(&subject, 2);
        bus.publish(poison.clone()).await.unwrap();
        bus.publish(fine.clone()).await.unwrap();
        let mut parks = bus.consumer(&failing, &filter).await.unwrap();
        let mut bystander = bus.consumer(&other, &filter).await.unwrap();

        let got = next_within(parks.as_mut(), Duration::from_secs(10)).await;
        assert_eq!(got.message, poison);
        parks.park(&got, "cannot decode\r\nat all").await.unwrap();
        let got = next_within(parks.as_mut(), Duration::from_secs(10)).await;
        assert_eq!(got.message, fine, "parking moves on");
        parks.ack(&got).await.unwrap();
        for expected in [&poison, &fine] {
            let got = next_within(bystander.as_mut(), Duration::from_secs(10)).await;
            assert_eq!(&got.message, expected);
            bystander.ack(&got).await.unwrap();
        }

        let mine: Vec<DeadLetter> = bus
            .list()
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.consumer == failing)
            .collect();
        assert_eq!(mine.len(), 1);
        assert_eq!(mine[0].message, poison);
        assert_eq!(mine[0].reason, "cannot decode  at all");
        assert!(mine[0].parked_at > 0);

        assert_eq!(bus.redrive(Some(&failing)).await.unwrap(), 1);
        assert!(
            !bus.list()
                .await
                .unwrap()
                .iter()
                .any(|d| d.consumer == failing),
            "a redriven dead letter is removed"
        );
        let got = next_within(parks.as_mut(), Duration::from_secs(10)).await;
        assert_eq!(got.message, poison, "the redriven message keeps its id");
        // Parking the redriven copy again keeps a new dead letter.
        parks.park(&got, "still failing").await.unwrap();
        let again: Vec<DeadLetter> = bus
            .list()
            .await
            .unwrap()
            .into_iter()
            .filter(|d| d.consumer == failing)
            .collect();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].reason, "still failing");
        assert_eq!(bus.redrive(Some(&failing)).await.unwrap(), 1);
        let got = next_within(parks.as_mut(), Duration::from_secs(10)).await;
        assert_eq!(got.message, poison);
        parks.ack(&got).await.unwrap();

        // The other consumer skips the redriven copies: its next delivery is a new message.
        let later = message(&subject, 3);
        bus.publish(later.clone()).await.unwrap();
        let got = next_within(bystander.as_mut(), Duration::from_secs(10)).await;
        assert_eq!(
            got.message, later,
            "a copy redriven for another consumer arrived"
        );
        bystander.ack(&got).await.unwrap();
        let got = next_within(parks.as_mut(), Duration::from_secs(10)).await;
        assert_eq!(got.message, later);
        parks.ack(&got).await.unwrap();
        clean_up(&bus, &[&failing, &other], &prefix).await;
    }

    #[tokio::test]
    async fn invalid_names_and_filters_are_refused() {
        let Some(url) = shared_url() else { return };
        let bus = NatsBus::connect_with(&url, test_config()).await.unwrap();
        for (name, filter) in [
            ("a.b", "saas.events.>"),
            ("", "saas.events.>"),
            ("has space", "saas.events.>"),
            ("ok", "other.>"),
            ("ok", "saas.events.>.x"),
            ("ok", "saas.events..x"),
            ("ok", "saas.events.a*"),
        ] {
            assert!(
                bus.consumer(name, filter).await.is_err(),
                "{name:?} {filter:?} accepted"
            );
        }
        let bad_id = Message {
            subject: format!("{}.x", unique_prefix()),
            id: String::new(),
            payload: Vec::new(),
        };
        assert!(bus.publish(bad_id).await.is_err());
    }

    /// A nats-server of its own, on a free port with its own store directory; killed and
    /// its directory removed on drop.
    struct PrivateServer {
        port: u16,
        dir: PathBuf,
        child: Option<tokio::process::Child>,
    }

    impl PrivateServer {
        fn binary() -> String {
            std::env::var("SAAS_TEST_NATS_SERVER").unwrap_or_else(|_| {
                if std::path::Path::new("/usr/sbin/nats-server").exists() {
                    "/usr/sbin/nats-server".to_owned()
                } else {
                    "nats-server".to_owned()
                }
            })
        }

        fn new() -> Self {
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .unwrap()
                .local_addr()
                .unwrap()
                .port();
            let dir = std::env::temp_dir()
                .join(format!("saas-nats-test-{}", uuid::Uuid::now_v7().simple()));
            std::fs::create_dir_all(&dir).unwrap();
            let mut server = PrivateServer {
                port,
                dir,
                child: None,
            };
            server.start();
            server
        }

        fn url(&self) -> String {
            format!("nats://127.0.0.1:{}", self.port)
        }

        fn start(&mut self) {
            let child = tokio::process::Command::new(Self::binary())
                .arg("-js")
                .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
                .arg("-sd")
                .arg(&self.dir)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("nats-server starts (set SAAS_TEST_NATS_SERVER to its path)");
            self.child = Some(child);
        }

        /// Sends `signal` (e.g. `TERM`, `STOP`, `CONT`) to the server.
        fn signal(&self, signal: &str) {
            let pid = self
                .child
                .as_ref()
                .and_then(tokio::process::Child::id)
                .expect("the server is running");
            let status = std::process::Command::new("kill")
                .arg(format!("-{signal}"))
                .arg(pid.to_string())
                .status()
                .unwrap();
            assert!(status.success(), "kill -{signal} failed");
        }

        /// Freezes the server with SIGSTOP and waits until all its threads are stopped (the
        /// signal takes effect after `kill` returns).
        async fn freeze(&self) {
            self.signal("STOP");
            let pid = self
                .child
                .as_ref()
                .and_then(tokio::process::Child::id)
                .expect("the server is running");
            let deadline = Instant::now() + Duration::from_secs(10);
            loop {
                let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).unwrap();
                let all_stopped = tasks.flatten().all(|task| {
                    std::fs::read_to_string(task.path().join("stat")).is_ok_and(|stat| {
                        // The state follows the parenthesised command name.
                        stat.rsplit_once(") ")
                            .is_some_and(|(_, rest)| rest.starts_with('T'))
                    })
                });
                if all_stopped {
                    return;
                }
                assert!(Instant::now() < deadline, "nats-server did not stop");
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        }

        /// Shuts the server down with SIGTERM and waits until it has exited.
        async fn stop(&mut self) {
            self.signal("TERM");
            let mut child = self.child.take().expect("the server is running");
            timeout(Duration::from_secs(30), child.wait())
                .await
                .expect("nats-server exits after SIGTERM")
                .unwrap();
        }

        /// Connects, retrying until the server accepts clients.
        async fn connect(&self) -> NatsBus {
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                let config = NatsConfig {
                    request_timeout: Duration::from_secs(2),
                    ..test_config()
                };
                match NatsBus::connect_with(&self.url(), config).await {
                    Ok(bus) => return bus,
                    Err(e) if Instant::now() < deadline => {
                        eprintln!("waiting for the private nats-server: {e}");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    Err(e) => panic!("the private nats-server never came up: {e}"),
                }
            }
        }
    }

    impl Drop for PrivateServer {
        fn drop(&mut self) {
            if let Some(child) = self.child.as_mut() {
                let _ = child.start_kill();
            }
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    /// Publishes, retrying until the broker acknowledges (after an outage).
    async fn publish_until_stored(bus: &NatsBus, m: &Message) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            match bus.publish(m.clone()).await {
                Ok(()) => return,
                Err(e) if Instant::now() < deadline => {
                    eprintln!("publish still failing: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => panic!("publish never recovered: {e}"),
            }
        }
    }

    #[tokio::test]
    async fn a_broker_outage_loses_no_message() {
        if shared_url().is_none() {
            return;
        }
        let mut server = PrivateServer::new();
        let bus = server.connect().await;
        let subject = format!("{EVENT_SUBJECT_PREFIX}outage.x");
        let mut consumer = bus
            .consumer("outage", &format!("{EVENT_SUBJECT_PREFIX}outage.>"))
            .await
            .unwrap();
        let sent: Vec<Message> = (0..12).map(|n| message(&subject, n)).collect();
        for m in &sent[..4] {
            bus.publish(m.clone()).await.unwrap();
        }
        // Consume part of it before the outage.
        for expected in &sent[..2] {
            let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
            assert_eq!(&got.message, expected);
            consumer.ack(&got).await.unwrap();
        }

        // A frozen broker keeps the connection open but never answers.
        server.freeze().await;
        let frozen = timeout(
            bus.config().request_timeout * 3,
            bus.publish(sent[4].clone()),
        )
        .await
        .expect("a publish to a frozen broker fails instead of hanging");
        assert!(
            frozen.is_err(),
            "a publish succeeded with the broker frozen"
        );
        server.signal("CONT");

        server.stop().await;
        let during = timeout(
            bus.config().request_timeout * 3,
            bus.publish(sent[5].clone()),
        )
        .await
        .expect("a publish while the broker is down fails instead of hanging");
        assert!(during.is_err(), "a publish succeeded with the broker down");
        let pulled = timeout(
            bus.config().request_timeout * 3,
            consumer.next(Duration::from_millis(100)),
        )
        .await
        .expect("a pull while the broker is down returns");
        assert!(!matches!(pulled, Ok(Some(_))));

        server.start();
        // The failed messages are published again with the same ids, as the relay does (the
        // one sent to the frozen broker may have been stored after all).
        for m in &sent[4..] {
            publish_until_stored(&bus, m).await;
        }
        let mut received = Vec::new();
        while received.len() < sent.len() - 2 {
            let got = next_within(consumer.as_mut(), Duration::from_secs(60)).await;
            consumer.ack(&got).await.unwrap();
            received.push(got.message);
        }
        assert_eq!(
            received,
            sent[2..],
            "messages lost, duplicated or reordered"
        );
        let sentinel = message(&subject, 99);
        bus.publish(sentinel.clone()).await.unwrap();
        let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
        assert_eq!(got.message, sentinel, "an extra message was delivered");
    }

    #[tokio::test]
    async fn redriving_all_returns_each_dead_letter_to_its_consumer() {
        if shared_url().is_none() {
            return;
        }
        let server = PrivateServer::new();
        let bus = server.connect().await;
        let subject = format!("{EVENT_SUBJECT_PREFIX}redrive.x");
        let filter = format!("{EVENT_SUBJECT_PREFIX}redrive.>");
        let m = message(&subject, 1);
        bus.publish(m.clone()).await.unwrap();
        let mut first = bus.consumer("first", &filter).await.unwrap();
        let mut second = bus.consumer("second", &filter).await.unwrap();
        let got = next_within(first.as_mut(), Duration::from_secs(10)).await;
        first.park(&got, "first failed").await.unwrap();
        let got = next_within(second.as_mut(), Duration::from_secs(10)).await;
        second.park(&got, "second failed").await.unwrap();

        let listed: Vec<(String, String)> = bus
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|d| (d.consumer, d.reason))
            .collect();
        assert_eq!(
            listed,
            [
                ("first".to_owned(), "first failed".to_owned()),
                ("second".to_owned(), "second failed".to_owned())
            ]
        );
        // Two redrives at once: each dead letter is redriven (and counted) once.
        let (one, two) = tokio::join!(bus.redrive(None), bus.redrive(None));
        assert_eq!(one.unwrap() + two.unwrap(), 2);
        assert!(bus.list().await.unwrap().is_empty());
        assert_eq!(bus.redrive(None).await.unwrap(), 0);
        for consumer in [&mut first, &mut second] {
            let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
            assert_eq!(got.message, m);
            consumer.ack(&got).await.unwrap();
        }
        // Each got its own copy once: the next delivery of both is a new message.
        let later = message(&subject, 2);
        bus.publish(later.clone()).await.unwrap();
        for consumer in [&mut first, &mut second] {
            let got = next_within(consumer.as_mut(), Duration::from_secs(10)).await;
            assert_eq!(got.message, later);
        }
    }
}
