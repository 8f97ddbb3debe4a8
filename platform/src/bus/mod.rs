//! The event bus: how integration events leave a data service and reach their consumers.
//!
//! Two transports implement the same traits with the same at-least-once semantics: NATS
//! JetStream (when `SAAS_NATS_URL` is set) and an in-process bus for the embedded default
//! whose log and consumer positions are durable, so a restart resumes where it stopped.
//!
//! - [`Publisher::publish`] returns only once the bus has stored the message; publishing the
//!   same message id twice stores it once.
//! - A [`Consumer`] (durable, by name) receives every message whose subject matches its
//!   filter, in publish order, until it acknowledges it; a restarted consumer continues after
//!   the last message it acknowledged.
//! - A message a consumer keeps failing on is parked as a dead letter
//!   ([`DeadLetters`]), listed and redriven by `saas dead-letters`.

use std::time::Duration;

use async_trait::async_trait;

/// The subject prefix of integration events: `saas.events.<event type>`.
pub const EVENT_SUBJECT_PREFIX: &str = "saas.events.";

/// A message on the bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Where it is published, e.g. `saas.events.billing.subscription.seats_changed`.
    pub subject: String,
    /// Its unique id (the event id); the bus drops a second message with the same id.
    pub id: String,
    /// The encoded `saas.events.v1.EventEnvelope`.
    pub payload: Vec<u8>,
}

/// A message handed to a consumer, with how often it has been delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The message.
    pub message: Message,
    /// 1 on the first delivery, 2 on the first redelivery, ...
    pub attempt: u32,
    /// The transport's position of the message (its stream sequence), for acknowledging.
    pub sequence: u64,
}

/// A bus failure (broker down, storage error); callers back off and retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("event bus: {0}")]
pub struct BusError(pub String);

/// Stores messages on the bus.
#[async_trait]
pub trait Publisher: Send + Sync + 'static {
    /// Stores `message`; `Ok` means the bus has it durably (the broker acknowledged it).
    async fn publish(&self, message: Message) -> Result<(), BusError>;
}

/// Opens durable consumers.
#[async_trait]
pub trait Subscriber: Send + Sync + 'static {
    /// The durable consumer `name` (1 to 64 ASCII letters, digits, `_` or `-`: it is a NATS
    /// subject token) of the subjects matching `filter` (NATS wildcards: `*` one token, `>`
    /// the rest), created on first use.
    async fn consumer(&self, name: &str, filter: &str) -> Result<Box<dyn Consumer>, BusError>;

    /// A consumer for fanning live messages out to what is connected to this process (the
    /// edge's feed hub), named per process: like [`Subscriber::consumer`], except that on a
    /// broker it starts at the messages published after its creation, not at the oldest
    /// kept, and the broker deletes it once unused for [`LIVE_CONSUMER_EXPIRY`] (a process
    /// that is gone leaves nothing behind). Buses that keep consumers in the process use
    /// [`Subscriber::consumer`].
    async fn live_consumer(&self, name: &str, filter: &str) -> Result<Box<dyn Consumer>, BusError> {
        self.consumer(name, filter).await
    }
}

/// How long a broker keeps a [`Subscriber::live_consumer`] that nobody uses: one hour.
pub const LIVE_CONSUMER_EXPIRY: Duration = Duration::from_secs(3600);

/// One durable consumer.
#[async_trait]
pub trait Consumer: Send {
    /// The next message not yet acknowledged, waiting up to `wait`; `None` when none came.
    async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>, BusError>;
    /// Done with `delivery`: it is not delivered to this consumer again.
    async fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError>;
    /// Failed on `delivery`: deliver it again after `delay`.
    async fn nak(&mut self, delivery: &Delivery, delay: Duration) -> Result<(), BusError>;
    /// Gave up on `delivery`: keep it as a dead letter of this consumer with `reason`, and
    /// move on (it counts as acknowledged).
    async fn park(&mut self, delivery: &Delivery, reason: &str) -> Result<(), BusError>;
}

/// A parked message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadLetter {
    /// The consumer that gave up on it.
    pub consumer: String,
    /// The message.
    pub message: Message,
    /// Why the consumer gave up (its last error).
    pub reason: String,
    /// When it was parked, as Unix microseconds.
    pub parked_at: i64,
}

/// The dead letters of a bus.
#[async_trait]
pub trait DeadLetters: Send + Sync + 'static {
    /// Every parked message, oldest first.
    async fn list(&self) -> Result<Vec<DeadLetter>, BusError>;
    /// Delivers the parked messages of `consumer` (all consumers when `None`) to it again,
    /// and removes them from the dead letters; returns how many.
    async fn redrive(&self, consumer: Option<&str>) -> Result<usize, BusError>;
}

pub mod local;
pub mod nats;
