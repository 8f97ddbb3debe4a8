//! A workspace follows its subscription's standing, so that inviting needs no call to
//! Billing.

use platform::consume::HandlerError;
use ports_app::{SubscriptionStanding, WorkspaceChangeError};
use saas_proto::events::v1::EventEnvelope;

use crate::{
    CANCELED, PAYMENT_FAILED, PAYMENT_SUCCEEDED, PERIOD_ENDED, Policies, STANDING, TRIAL_EXPIRED,
    event_ctx, handler_error, payload_id,
};

/// The subscription events that can move a subscription into or out of good standing
/// (trialing or active). A trial start needs no report: a workspace starts in good
/// standing, because sign-up starts its trial right after creating it.
pub const STANDING_EVENTS: [&str; 5] = [
    PAYMENT_SUCCEEDED,
    PAYMENT_FAILED,
    TRIAL_EXPIRED,
    PERIOD_ENDED,
    CANCELED,
];

impl Policies {
    /// On a subscription event of [`STANDING_EVENTS`]: reads the subscription (the
    /// envelope's aggregate) as it is now and reports its standing, as of its version, to
    /// its workspace ([`ports_app::Workspaces::follow_subscription`]), as the system, under
    /// the request id `ctx.step("policy-subscription-standing")` of the event.
    ///
    /// - Events handled late, twice or out of order converge: each reports the subscription
    ///   as it is when handled, and the workspace ignores a report older than the last one
    ///   it followed.
    /// - A workspace that no longer exists (a sign-up undone) is logged and acknowledged.
    /// - Other subscription events are acknowledged and ignored.
    pub async fn subscription_standing(&self, envelope: EventEnvelope) -> Result<(), HandlerError> {
        if !STANDING_EVENTS.contains(&envelope.event_type.as_str()) {
            return Ok(());
        }
        let ctx = event_ctx(&envelope)?;
        let subscription_id = payload_id("aggregate_id", &envelope.aggregate_id)?;
        let subscription = self
            .subscriptions
            .get_subscription(&ctx, subscription_id.into())
            .await
            .map_err(|e| handler_error(e.app_error()))?;
        let standing = SubscriptionStanding::from(subscription.status);
        let followed = self
            .workspaces
            .follow_subscription(
                &ctx,
                STANDING,
                subscription.workspace_id,
                standing,
                subscription.version,
            )
            .await;
        match followed {
            Ok(_) => {
                tracing::debug!(
                    event_id = %envelope.event_id,
                    workspace_id = %subscription.workspace_id,
                    ?standing,
                    version = subscription.version.get(),
                    "the workspace follows its subscription's standing"
                );
                Ok(())
            }
            Err(WorkspaceChangeError::NotFound(_)) => {
                tracing::debug!(
                    event_id = %envelope.event_id,
                    workspace_id = %subscription.workspace_id,
                    "the subscription's workspace is gone; nothing to follow"
                );
                Ok(())
            }
            Err(error) => Err(handler_error(error.app_error())),
        }
    }
}
