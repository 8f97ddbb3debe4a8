//! The policies: the asynchronous work the system does when integration events arrive.
//!
//! Each policy is a durable consumer of the event bus, run by [`platform::consume::run`],
//! whose handler calls a command of a data service through the ports:
//!
//! | consumer             | events                                        | effect |
//! |----------------------|-----------------------------------------------|--------|
//! | `policy-seat-limit`  | `billing.subscription.seats_changed`          | the workspace's seat limit follows the subscription's seats ([`Policies::seat_limit`]) |
//! | `policy-erased-user` | `identity.user.erased`                        | the user leaves every workspace; one whose last Owner they were is archived ([`Policies::erased_user`]) |
//! | `policy-past-due`    | `billing.subscription.payment_failed`, `trial_expired`, `period_ended` | every Owner of the workspace gets a `past-due` mail ([`Policies::past_due`]) |
//! | `policy-feed`        | every event (`saas.events.>`); acts on the user-facing ones | an entry in the feed of each user it concerns ([`Policies::feed`]) |
//! | `policy-sign-up`     | `identity.user.sign_up_unfinished`            | a sign-up not completed within its window is undone (its workspace deleted, its user erased) unless its trial started ([`Policies::unfinished_sign_up`]) |
//! | `policy-subscription-standing` | `billing.subscription.payment_succeeded`, `payment_failed`, `trial_expired`, `period_ended`, `canceled` | the workspace follows whether its subscription is in good standing, which invitations need ([`Policies::subscription_standing`]) |
//!
//! A plan change never changes the seats (Billing refuses a plan that does not hold them),
//! so only a seat change moves the seat limit.
//!
//! Rules every policy keeps:
//!
//! - **Each event takes effect once.** Delivery is at least once, so a policy may see an
//!   event again (a redelivery after a crash, a duplicate publish, a redriven event that had
//!   in fact been applied). Every command it makes carries a request id derived from the
//!   event id and the policy's step ([`event_ctx`], [`Ctx::step`]): the same event always
//!   gives the same request id, so the target's idempotency store is the inbox and a repeat
//!   gets the first answer back instead of acting again.
//! - **Commands are the system's:** no acting user is sent.
//! - **Failures:** a timeout, an internal failure, an overloaded data service
//!   (`UNAVAILABLE`) or a lost race (`ABORTED`) are transient ([`HandlerError::Retry`]): the
//!   event is delivered again with backoff and parked after the retry limit. Any other
//!   refusal cannot succeed by asking again ([`HandlerError::Permanent`]): the event is
//!   parked at once with the refusal's code, for an operator to look at and redrive
//!   (`saas dead-letters`). So is an event whose id is not a UUID or whose payload is not the
//!   message its type names.
//! - **Mail is sent at least once.** Sending mail has no idempotency key: when a past-due
//!   event is handled again (a retry after a later recipient failed, a redelivery), Owners
//!   who were already mailed may get the same mail again. Nothing is ever left unsent.
//!
//! Events of a type a policy does not handle are acknowledged and ignored.

use std::{future::Future, sync::Arc};

use kernel_domain::RejectionKind;
use platform::{
    bus::Subscriber,
    consume::{self, HandlerError, RetryPolicy},
};
use ports_app::{AppError, Ctx, ErrorKind, Feeds, Mailer, Subscriptions, Users, Workspaces};
use saas_proto::events::v1::EventEnvelope;
use uuid::Uuid;

mod erased_user;
mod feed;
mod past_due;
mod seat_limit;
mod sign_up;
mod standing;

#[cfg(test)]
mod tests;

/// The durable consumer of the seat-limit policy.
pub const SEAT_LIMIT: &str = "policy-seat-limit";
/// The durable consumer of the erased-user policy.
pub const ERASED_USER: &str = "policy-erased-user";
/// The durable consumer of the past-due policy.
pub const PAST_DUE: &str = "policy-past-due";
/// The durable consumer of the feed policy.
pub const FEED: &str = "policy-feed";
/// The durable consumer of the subscription-standing policy.
pub const STANDING: &str = "policy-subscription-standing";
/// The durable consumer of the unfinished sign-up policy.
pub const SIGN_UP: &str = "policy-sign-up";

pub use feed::{MEMBER_JOINED, MEMBER_REMOVED, PLAN_CHANGED, ROLE_CHANGED};
pub use standing::STANDING_EVENTS;

/// The event a subscription's seats changed with.
pub const SEATS_CHANGED: &str = "billing.subscription.seats_changed";
/// The event a user's personal data was erased with.
pub const USER_ERASED: &str = "identity.user.erased";
/// The event Identity announces a sign-up past its window with.
pub const SIGN_UP_UNFINISHED: &str = "identity.user.sign_up_unfinished";
/// A payment failed: the subscription is past due.
pub const PAYMENT_FAILED: &str = "billing.subscription.payment_failed";
/// The trial ended unpaid: the subscription is past due.
pub const TRIAL_EXPIRED: &str = "billing.subscription.trial_expired";
/// The paid period ended without a renewal payment: the subscription is past due.
pub const PERIOD_ENDED: &str = "billing.subscription.period_ended";
/// A payment succeeded: the subscription is active.
pub const PAYMENT_SUCCEEDED: &str = "billing.subscription.payment_succeeded";
/// The subscription was canceled (for good).
pub const CANCELED: &str = "billing.subscription.canceled";

/// Each policy's consumer name and the subjects it consumes (bus filters: `*` is one
/// token). The past-due consumer reads every subscription event and acts on the three that
/// mean past due. The feed consumer reads every event (one filter per consumer is all NATS
/// 2.9 allows) and acts on the user-facing ones. The standing consumer reads every
/// subscription event and acts on those that can change the status.
pub const CONSUMERS: [(&str, &str); 6] = [
    (SEAT_LIMIT, "saas.events.billing.subscription.seats_changed"),
    (ERASED_USER, "saas.events.identity.user.erased"),
    (PAST_DUE, "saas.events.billing.subscription.*"),
    (FEED, "saas.events.>"),
    (STANDING, "saas.events.billing.subscription.*"),
    (SIGN_UP, "saas.events.identity.user.sign_up_unfinished"),
];

/// The policies over the data services and the mailer.
pub struct Policies {
    users: Arc<dyn Users>,
    workspaces: Arc<dyn Workspaces>,
    subscriptions: Arc<dyn Subscriptions>,
    feeds: Arc<dyn Feeds>,
    mailer: Arc<dyn Mailer>,
    retry: RetryPolicy,
}

impl Policies {
    /// The policies calling these ports, retrying transient failures by
    /// [`RetryPolicy::default`].
    pub fn new(
        users: Arc<dyn Users>,
        workspaces: Arc<dyn Workspaces>,
        subscriptions: Arc<dyn Subscriptions>,
        feeds: Arc<dyn Feeds>,
        mailer: Arc<dyn Mailer>,
    ) -> Policies {
        Policies {
            users,
            workspaces,
            subscriptions,
            feeds,
            mailer,
            retry: RetryPolicy::default(),
        }
    }

    /// The same policies retrying transient failures by `retry`.
    #[must_use]
    pub fn with_retry_policy(self, retry: RetryPolicy) -> Policies {
        Policies { retry, ..self }
    }

    /// Runs one durable consumer per policy ([`CONSUMERS`]) over `subscriber`, concurrently,
    /// until `stop` completes; the events being handled then are finished first. Bus
    /// failures never end it (each consumer backs off and reopens).
    pub async fn run(
        self: Arc<Self>,
        subscriber: Arc<dyn Subscriber>,
        stop: impl Future<Output = ()>,
    ) {
        let (stopping, stopped) = tokio::sync::watch::channel(false);
        let signal = |mut stopped: tokio::sync::watch::Receiver<bool>| async move {
            // An error means the sender is gone, which also means stop.
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        let [
            (seat_limit, seat_limit_filter),
            (erased_user, erased_user_filter),
            (past_due, past_due_filter),
            (feed, feed_filter),
            (standing, standing_filter),
            (sign_up, sign_up_filter),
        ] = CONSUMERS;
        let consumers = async {
            tokio::join!(
                consume::run(
                    subscriber.clone(),
                    seat_limit,
                    seat_limit_filter,
                    self.retry,
                    |envelope| self.seat_limit(envelope),
                    signal(stopped.clone()),
                ),
                consume::run(
                    subscriber.clone(),
                    erased_user,
                    erased_user_filter,
                    self.retry,
                    |envelope| self.erased_user(envelope),
                    signal(stopped.clone()),
                ),
                consume::run(
                    subscriber.clone(),
                    past_due,
                    past_due_filter,
                    self.retry,
                    |envelope| self.past_due(envelope),
                    signal(stopped.clone()),
                ),
                consume::run(
                    subscriber.clone(),
                    feed,
                    feed_filter,
                    self.retry,
                    |envelope| self.feed(envelope),
                    signal(stopped.clone()),
                ),
                consume::run(
                    subscriber.clone(),
                    standing,
                    standing_filter,
                    self.retry,
                    |envelope| self.subscription_standing(envelope),
                    signal(stopped.clone()),
                ),
                consume::run(
                    subscriber.clone(),
                    sign_up,
                    sign_up_filter,
                    self.retry,
                    |envelope| self.unfinished_sign_up(envelope),
                    signal(stopped.clone()),
                ),
            );
        };
        tokio::pin!(consumers);
        tokio::select! {
            () = &mut consumers => return,
            () = stop => {}
        }
        let _ = stopping.send(true);
        consumers.await;
    }
}

/// The context of the commands a policy makes for `envelope`: no acting user, the event id
/// as the request id (each command's request id is [`Ctx::step`] of it, named after the
/// policy) and as the correlation id. An event id that is not a UUID is a permanent
/// failure.
pub fn event_ctx(envelope: &EventEnvelope) -> Result<Ctx, HandlerError> {
    let id = Uuid::try_parse(&envelope.event_id).map_err(|_| {
        HandlerError::Permanent(format!(
            "the event id {:?} is not a UUID",
            envelope.event_id
        ))
    })?;
    Ok(Ctx {
        actor: None,
        request_id: id,
        correlation_id: id.to_string(),
        deadline: None,
    })
}

/// How a failed port call settles the event: a timeout, an internal failure, `UNAVAILABLE`
/// or `ABORTED` are retried; every other refusal is permanent. The reason names the code
/// and the message (which is safe to show).
pub fn handler_error(error: &AppError) -> HandlerError {
    let reason = format!("{}: {}", error.code, error.message);
    match error.kind {
        ErrorKind::Timeout
        | ErrorKind::Internal
        | ErrorKind::Rejected(RejectionKind::Unavailable | RejectionKind::Aborted) => {
            HandlerError::Retry(reason)
        }
        ErrorKind::Rejected(_) | ErrorKind::Protocol(_) => HandlerError::Permanent(reason),
    }
}

/// The envelope's payload as the message `full_name` (e.g.
/// `saas.billing.v1.SubscriptionSeatsChanged`); a missing payload, another type or bytes
/// that do not decode are a permanent failure.
fn payload<M: prost::Message + Default>(
    envelope: &EventEnvelope,
    full_name: &str,
) -> Result<M, HandlerError> {
    let Some(any) = &envelope.payload else {
        return Err(HandlerError::Permanent(format!(
            "the {} event {} has no payload",
            envelope.event_type, envelope.event_id
        )));
    };
    let expected = format!("type.googleapis.com/{full_name}");
    if any.type_url != expected {
        return Err(HandlerError::Permanent(format!(
            "the {} event {} carries {:?}, not {expected:?}",
            envelope.event_type, envelope.event_id, any.type_url
        )));
    }
    M::decode(any.value.as_slice()).map_err(|e| {
        HandlerError::Permanent(format!(
            "the payload of the {} event {} is not a valid {full_name}: {e}",
            envelope.event_type, envelope.event_id
        ))
    })
}

/// The UUID in the payload field `field`; anything else is a permanent failure.
fn payload_id(field: &str, value: &str) -> Result<Uuid, HandlerError> {
    Uuid::try_parse(value).map_err(|_| {
        HandlerError::Permanent(format!("the payload's {field} {value:?} is not a UUID"))
    })
}
