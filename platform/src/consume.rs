//! Running a durable consumer of integration events.
//!
//! [`run`] feeds every event of a durable consumer to a handler and settles it by the
//! handler's answer:
//!
//! - `Ok(())`: acknowledged; it does not come again.
//! - [`HandlerError::Retry`] (a transient failure): delivered again after a delay that
//!   starts at [`RetryPolicy::first_delay`] and doubles up to [`RetryPolicy::max_delay`];
//!   the delivery that fails at attempt [`RetryPolicy::max_attempts`] is parked instead.
//! - [`HandlerError::Permanent`] (the event can never be applied): parked at once.
//! - A payload that is not an `EventEnvelope` is parked at once; the handler never sees it.
//!
//! Every park is logged with the consumer's name and the event id; parked events are listed
//! and redriven through [`crate::bus::DeadLetters`]. Bus failures never end the loop: it
//! backs off (100 ms doubling to 5 s), reopens the consumer and goes on. Delivery is at
//! least once, so handlers must be idempotent (policies derive their request ids from the
//! event id).

use std::{future::Future, sync::Arc, time::Duration};

use prost::Message as _;
use saas_proto::events::v1::EventEnvelope;

use crate::bus::{Consumer, Delivery, Subscriber};

/// How many deliveries a transiently failing event gets before it is parked, by default.
pub const MAX_ATTEMPTS: u32 = 8;

/// How long one `next` call waits before the loop checks again.
const POLL: Duration = Duration::from_secs(5);

/// The first pause after a bus failure.
const BUS_BACKOFF_MIN: Duration = Duration::from_millis(100);

/// The longest pause between attempts while the bus keeps failing.
const BUS_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Why a handler did not apply an event.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandlerError {
    /// A transient failure (a peer down, a timeout): try again later.
    #[error("transient failure: {0}")]
    Retry(String),
    /// The event can never be applied: park it.
    #[error("permanent failure: {0}")]
    Permanent(String),
}

/// How transient failures are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Deliveries an event gets before it is parked (at least 1).
    pub max_attempts: u32,
    /// The pause before the second delivery.
    pub first_delay: Duration,
    /// The longest pause between deliveries.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: MAX_ATTEMPTS,
            first_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The pause after the failed delivery number `attempt` (1 for the first):
    /// `first_delay * 2^(attempt - 1)`, at most `max_delay`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(31);
        self.first_delay
            .saturating_mul(1 << doublings)
            .min(self.max_delay)
    }
}

/// Exponential backoff for bus failures.
struct Backoff(Option<Duration>);

impl Backoff {
    fn next(&mut self) -> Duration {
        let pause = match self.0 {
            None => BUS_BACKOFF_MIN,
            Some(previous) => (previous * 2).min(BUS_BACKOFF_MAX),
        };
        self.0 = Some(pause);
        pause
    }

    fn reset(&mut self) {
        self.0 = None;
    }
}

/// Runs the durable consumer `name` of the subjects matching `filter` until `stop`
/// completes, handing each event to `handler` (see the module docs). A handler call in
/// progress is finished before the loop stops.
pub async fn run<H, F>(
    subscriber: Arc<dyn Subscriber>,
    name: &str,
    filter: &str,
    policy: RetryPolicy,
    mut handler: H,
    stop: impl Future<Output = ()>,
) where
    H: FnMut(EventEnvelope) -> F,
    F: Future<Output = Result<(), HandlerError>>,
{
    tokio::pin!(stop);
    let mut backoff = Backoff(None);
    let mut open: Option<Box<dyn Consumer>> = None;
    loop {
        let consumer = match &mut open {
            Some(consumer) => consumer,
            None => {
                let opened = tokio::select! {
                    biased;
                    () = &mut stop => return,
                    opened = subscriber.consumer(name, filter) => opened,
                };
                match opened {
                    Ok(consumer) => open.insert(consumer),
                    Err(e) => {
                        tracing::warn!(consumer = name, error = %e, "cannot open the consumer; retrying");
                        if pause(&mut stop, backoff.next()).await {
                            return;
                        }
                        continue;
                    }
                }
            }
        };
        let next = tokio::select! {
            biased;
            () = &mut stop => return,
            next = consumer.next(POLL) => next,
        };
        let delivery = match next {
            Ok(Some(delivery)) => delivery,
            Ok(None) => {
                backoff.reset();
                continue;
            }
            Err(e) => {
                tracing::warn!(consumer = name, error = %e, "cannot receive events; retrying");
                open = None;
                if pause(&mut stop, backoff.next()).await {
                    return;
                }
                continue;
            }
        };
        backoff.reset();
        if let Err(e) = handle(consumer.as_mut(), name, &policy, &mut handler, &delivery).await {
            // Not settled: the bus delivers the event again.
            tracing::warn!(
                consumer = name,
                event_id = %delivery.message.id,
                error = %e,
                "cannot settle an event; it will be delivered again"
            );
            if pause(&mut stop, backoff.next()).await {
                return;
            }
        }
    }
}

/// Sleeps for `duration`; `true` when `stop` completed first.
async fn pause<S: Future<Output = ()>>(
    stop: &mut std::pin::Pin<&mut S>,
    duration: Duration,
) -> bool {
    tokio::select! {
        biased;
        () = stop.as_mut() => true,
        () = tokio::time::sleep(duration) => false,
    }
}

async fn handle<H, F>(
    consumer: &mut dyn Consumer,
    name: &str,
    policy: &RetryPolicy,
    handler: &mut H,
    delivery: &Delivery,
) -> Result<(), crate::bus::BusError>
where
    H: FnMut(EventEnvelope) -> F,
    F: Future<Output = Result<(), HandlerError>>,
{
    let envelope = match EventEnvelope::decode(delivery.message.payload.as_slice()) {
        Ok(envelope) => envelope,
        Err(e) => {
            return park(
                consumer,
                name,
                delivery,
                &format!("undecodable payload: {e}"),
            )
            .await;
        }
    };
    match handler(envelope).await {
        Ok(()) => consumer.ack(delivery).await,
        Err(HandlerError::Permanent(reason)) => park(consumer, name, delivery, &reason).await,
        Err(HandlerError::Retry(reason)) if delivery.attempt >= policy.max_attempts.max(1) => {
            let reason = format!("gave up after {} attempts: {reason}", delivery.attempt);
            park(consumer, name, delivery, &reason).await
        }
        Err(HandlerError::Retry(reason)) => {
            let delay = policy.delay(delivery.attempt);
            tracing::debug!(
                consumer = name,
                event_id = %delivery.message.id,
                attempt = delivery.attempt,
                ?delay,
                %reason,
                "event failed; retrying"
            );
            consumer.nak(delivery, delay).await
        }
    }
}

async fn park(
    consumer: &mut dyn Consumer,
    name: &str,
    delivery: &Delivery,
    reason: &str,
) -> Result<(), crate::bus::BusError> {
    consumer.park(delivery, reason).await?;
    tracing::warn!(
        consumer = name,
        event_id = %delivery.message.id,
        subject = %delivery.message.subject,
        attempt = delivery.attempt,
        %reason,
        "event parked"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::{
        Mutex,
        atomic::{AtomicUsize, Ordering},
    };

    use async_trait::async_trait;
    use tokio::time::Instant;

    use super::*;
    use crate::bus::{BusError, DeadLetters, Message, Publisher, local::LocalBus};

    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new() -> Self {
            TempDir(std::env::temp_dir().join(format!("platform-consume-{}", uuid::Uuid::now_v7())))
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    const DEADLINE: Duration = Duration::from_secs(30);

    async fn eventually(what: &str, condition: impl Fn() -> bool) {
        let deadline = Instant::now() + DEADLINE;
        while !condition() {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    #[derive(Default)]
    struct Counts {
        opens_to_fail: AtomicUsize,
        acks: AtomicUsize,
        naks: AtomicUsize,
        parks: AtomicUsize,
    }

    /// The local bus, counting how consumers settle and failing the first opens on request.
    struct Counting {
        bus: LocalBus,
        counts: Arc<Counts>,
    }

    #[async_trait]
    impl Subscriber for Counting {
        async fn consumer(&self, name: &str, filter: &str) -> Result<Box<dyn Consumer>, BusError> {
            let fail = self
                .counts
                .opens_to_fail
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
            if fail {
                return Err(BusError("bus unavailable".into()));
            }
            Ok(Box::new(CountingConsumer {
                inner: self.bus.consumer(name, filter).await?,
                counts: self.counts.clone(),
            }))
        }
    }

    struct CountingConsumer {
        inner: Box<dyn Consumer>,
        counts: Arc<Counts>,
    }

    #[async_trait]
    impl Consumer for CountingConsumer {
        async fn next(&mut self, wait: Duration) -> Result<Option<Delivery>, BusError> {
            self.inner.next(wait).await
        }
        async fn ack(&mut self, delivery: &Delivery) -> Result<(), BusError> {
            self.inner.ack(delivery).await?;
            self.counts.acks.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn nak(&mut self, delivery: &Delivery, delay: Duration) -> Result<(), BusError> {
            self.inner.nak(delivery, delay).await?;
            self.counts.naks.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
        async fn park(&mut self, delivery: &Delivery, reason: &str) -> Result<(), BusError> {
            self.inner.park(delivery, reason).await?;
            self.counts.parks.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    struct Fixture {
        _dir: TempDir,
        bus: LocalBus,
        counts: Arc<Counts>,
        /// Event ids the handler was called with, in order.
        calls: Arc<Mutex<Vec<String>>>,
    }

    impl Fixture {
        async fn new() -> Fixture {
            let dir = TempDir::new();
            let bus = LocalBus::open(&dir.0.join("bus.db")).await.unwrap();
            Fixture {
                _dir: dir,
                bus,
                counts: Arc::new(Counts::default()),
                calls: Arc::new(Mutex::new(Vec::new())),
            }
        }

        async fn publish(&self, event_id: &str) {
            let envelope = EventEnvelope {
                event_id: event_id.to_owned(),
                event_type: "test.thing.happened".to_owned(),
                ..EventEnvelope::default()
            };
            self.bus
                .publish(Message {
                    subject: "saas.events.test.thing.happened".to_owned(),
                    id: event_id.to_owned(),
                    payload: envelope.encode_to_vec(),
                })
                .await
                .unwrap();
        }

        fn calls(&self) -> Vec<String> {
            self.calls.lock().unwrap().clone()
        }

        fn count(&self, which: impl Fn(&Counts) -> &AtomicUsize) -> usize {
            which(&self.counts).load(Ordering::SeqCst)
        }

        /// Runs the consumer `c` with `outcome(event id, nth call for it)` as the handler.
        fn spawn(
            &self,
            outcome: impl Fn(&str, usize) -> Result<(), HandlerError> + Send + 'static,
        ) -> Running {
            let subscriber = Arc::new(Counting {
                bus: self.bus.clone(),
                counts: self.counts.clone(),
            });
            let calls = self.calls.clone();
            let policy = RetryPolicy {
                max_attempts: 3,
                first_delay: Duration::from_millis(1),
                max_delay: Duration::from_millis(4),
            };
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(async move {
                run(
                    subscriber,
                    "c",
                    "saas.events.>",
                    policy,
                    move |envelope: EventEnvelope| {
                        let nth = {
                            let mut calls = calls.lock().unwrap();
                            calls.push(envelope.event_id.clone());
                            calls.iter().filter(|id| **id == envelope.event_id).count()
                        };
                        let result = outcome(&envelope.event_id, nth);
                        async move { result }
                    },
                    async {
                        stopped.await.ok();
                    },
                )
                .await;
            });
            Running { stop, task }
        }
    }

    struct Running {
        stop: tokio::sync::oneshot::Sender<()>,
        task: tokio::task::JoinHandle<()>,
    }

    impl Running {
        async fn stop(self) {
            self.stop.send(()).unwrap();
            self.task.await.unwrap();
        }
    }

    #[test]
    fn retry_delays_double_up_to_the_cap() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.delay(1), Duration::from_millis(100));
        assert_eq!(policy.delay(2), Duration::from_millis(200));
        assert_eq!(policy.delay(4), Duration::from_millis(800));
        assert_eq!(policy.delay(8), Duration::from_secs(10));
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(10));
        assert_eq!(policy.max_attempts, MAX_ATTEMPTS);
    }

    #[tokio::test]
    async fn a_retried_event_that_then_succeeds_is_acknowledged_once() {
        let fixture = Fixture::new().await;
        fixture.publish("e1").await;
        fixture.publish("e2").await;
        let running = fixture.spawn(|id, nth| {
            if id == "e1" && nth < 3 {
                Err(HandlerError::Retry("peer down".into()))
            } else {
                Ok(())
            }
        });
        eventually("both events acknowledged", || {
            fixture.count(|c| &c.acks) == 2
        })
        .await;
        running.stop().await;
        assert_eq!(fixture.calls(), ["e1", "e1", "e1", "e2"]);
        assert_eq!(fixture.count(|c| &c.naks), 2);
        assert_eq!(fixture.count(|c| &c.parks), 0);
        assert!(fixture.bus.list().await.unwrap().is_empty());
        let mut again = fixture.bus.consumer("c", "saas.events.>").await.unwrap();
        assert_eq!(again.next(Duration::ZERO).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_permanent_failure_parks_the_event_at_once() {
        let fixture = Fixture::new().await;
        fixture.publish("bad").await;
        fixture.publish("good").await;
        let running = fixture.spawn(|id, _| {
            if id == "bad" {
                Err(HandlerError::Permanent("no such workspace".into()))
            } else {
                Ok(())
            }
        });
        eventually("the good event acknowledged", || {
            fixture.count(|c| &c.acks) == 1
        })
        .await;
        running.stop().await;
        assert_eq!(fixture.calls(), ["bad", "good"]);
        assert_eq!(fixture.count(|c| &c.parks), 1);
        assert_eq!(fixture.count(|c| &c.naks), 0);
        let parked = fixture.bus.list().await.unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].consumer, "c");
        assert_eq!(parked[0].message.id, "bad");
        assert_eq!(parked[0].reason, "no such workspace");
    }

    #[tokio::test]
    async fn an_event_that_keeps_failing_is_parked_after_the_limit_and_can_be_redriven() {
        let fixture = Fixture::new().await;
        fixture.publish("stuck").await;
        fixture.publish("after").await;
        let running = fixture.spawn(|id, nth| {
            // Fails its three attempts; succeeds once redriven.
            if id == "stuck" && nth <= 3 {
                Err(HandlerError::Retry("timeout".into()))
            } else {
                Ok(())
            }
        });
        eventually("the next event acknowledged", || {
            fixture.count(|c| &c.acks) == 1
        })
        .await;
        assert_eq!(fixture.calls(), ["stuck", "stuck", "stuck", "after"]);
        assert_eq!(fixture.count(|c| &c.naks), 2);
        assert_eq!(fixture.count(|c| &c.parks), 1);
        let parked = fixture.bus.list().await.unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].message.id, "stuck");
        assert!(parked[0].reason.contains("timeout"), "{}", parked[0].reason);

        assert_eq!(fixture.bus.redrive(Some("c")).await.unwrap(), 1);
        eventually("the redriven event acknowledged", || {
            fixture.count(|c| &c.acks) == 2
        })
        .await;
        running.stop().await;
        assert_eq!(
            fixture.calls(),
            ["stuck", "stuck", "stuck", "after", "stuck"]
        );
        assert!(fixture.bus.list().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn an_undecodable_payload_is_parked_without_calling_the_handler() {
        let fixture = Fixture::new().await;
        fixture
            .bus
            .publish(Message {
                subject: "saas.events.test.garbage".to_owned(),
                id: "garbage".to_owned(),
                payload: vec![0xff, 0xff, 0xff],
            })
            .await
            .unwrap();
        fixture.publish("fine").await;
        let running = fixture.spawn(|_, _| Ok(()));
        eventually("the next event acknowledged", || {
            fixture.count(|c| &c.acks) == 1
        })
        .await;
        running.stop().await;
        assert_eq!(fixture.calls(), ["fine"]);
        let parked = fixture.bus.list().await.unwrap();
        assert_eq!(parked.len(), 1);
        assert_eq!(parked[0].message.id, "garbage");
        assert!(parked[0].reason.starts_with("undecodable payload"));
    }

    #[tokio::test]
    async fn bus_failures_are_retried_instead_of_ending_the_loop() {
        let fixture = Fixture::new().await;
        fixture.counts.opens_to_fail.store(2, Ordering::SeqCst);
        fixture.publish("e1").await;
        let running = fixture.spawn(|_, _| Ok(()));
        eventually("the event acknowledged", || fixture.count(|c| &c.acks) == 1).await;
        assert_eq!(fixture.count(|c| &c.opens_to_fail), 0);
        // Still running: a later event is handled too.
        fixture.publish("e2").await;
        eventually("the later event acknowledged", || {
            fixture.count(|c| &c.acks) == 2
        })
        .await;
        running.stop().await;
        assert_eq!(fixture.calls(), ["e1", "e2"]);
    }
}
