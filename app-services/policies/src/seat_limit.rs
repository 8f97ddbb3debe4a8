//! The seat limit follows the seats.

use platform::consume::HandlerError;
use ports_app::SeatLimitError;
use saas_proto::{billing::v1::SubscriptionSeatsChanged, events::v1::EventEnvelope};

use crate::{Policies, SEAT_LIMIT, SEATS_CHANGED, event_ctx, handler_error, payload, payload_id};

impl Policies {
    /// On `billing.subscription.seats_changed`: sets the seat limit of the subscription's
    /// workspace to the new seats, as the system, under the request id
    /// `ctx.step("policy-seat-limit")` of the event.
    ///
    /// - The limit follows the subscription as it is now: when the subscription no longer
    ///   has the event's seats, a later change overtook the event (it was redelivered, or
    ///   parked and redriven) and that change's own event sets the limit, so this one is
    ///   acknowledged without a command.
    /// - A workspace whose seats in use exceed the new seats refuses
    ///   (`SEAT_LIMIT_BELOW_SEATS_IN_USE`). Changing seats through the plan use case lowers
    ///   the limit before the subscription, so this only happens when the subscription was
    ///   changed past it; the event is logged and parked, and succeeds when redriven once
    ///   enough members left.
    pub async fn seat_limit(&self, envelope: EventEnvelope) -> Result<(), HandlerError> {
        if envelope.event_type != SEATS_CHANGED {
            return Ok(());
        }
        let ctx = event_ctx(&envelope)?;
        let changed: SubscriptionSeatsChanged =
            payload(&envelope, "saas.billing.v1.SubscriptionSeatsChanged")?;
        let workspace_id = payload_id("workspace_id", &changed.workspace_id)?;
        let subscription_id = payload_id("subscription_id", &changed.subscription_id)?;
        if changed.seats < 1 {
            return Err(HandlerError::Permanent(format!(
                "the event {} carries {} seats",
                envelope.event_id, changed.seats
            )));
        }
        let subscription = self
            .subscriptions
            .get_subscription(&ctx, subscription_id.into())
            .await
            .map_err(|e| handler_error(e.app_error()))?;
        if subscription.seats != changed.seats {
            tracing::debug!(
                event_id = %envelope.event_id,
                %workspace_id,
                event_seats = changed.seats,
                current_seats = subscription.seats,
                "a later seat change overtook the event; its own event sets the seat limit"
            );
            return Ok(());
        }
        let set = self
            .workspaces
            .set_seat_limit(&ctx, SEAT_LIMIT, workspace_id.into(), changed.seats)
            .await;
        match set {
            Ok(updated) => {
                tracing::debug!(
                    event_id = %envelope.event_id,
                    %workspace_id,
                    seat_limit = updated.seat_limit,
                    "the seat limit follows the seats"
                );
                Ok(())
            }
            Err(SeatLimitError::BelowSeatsInUse(error)) => {
                tracing::warn!(
                    event_id = %envelope.event_id,
                    %workspace_id,
                    seats = changed.seats,
                    error = %error,
                    "the subscription has fewer seats than the workspace uses; \
                     the seat limit cannot follow until members leave"
                );
                Err(handler_error(&error))
            }
            Err(error) => Err(handler_error(error.app_error())),
        }
    }
}
