//! The Billing data service: the `Subscription` aggregate behind
//! `saas.billing.v1.SubscriptionService`.
//!
//! - [`open`] opens (and migrates) the store,
//! - [`subscription_service`] builds the tonic service over it.
//!
//! Trials and periods end by themselves: [`SubscriptionSchema`] tells the store when a
//! subscription next has work due, and the store's sweeper applies it through the pipeline.
//!
//! Every domain event is published as its message of `saas/billing/v1/events.proto` (see
//! `events.rs`), concerning the workspace the subscription pays for.

mod api;
mod events;
mod wire;

use std::sync::Arc;

use billing_domain::{DueWork, Subscription, SubscriptionEvent};
use kernel_domain::{Clock, Rejection, RejectionKind, Timestamp};
use platform::{
    db::PoolSize,
    migration::IndexedColumn,
    store::{IntegrationEvent, Store},
};
use saas_proto::billing::v1::subscription_service_server::SubscriptionServiceServer;

pub use api::SubscriptionApi;

/// The error domain of this service's `ErrorInfo`.
pub const ERROR_DOMAIN: &str = "billing.saas";

/// How `Subscription` documents are laid out (see `billing-migrations`).
pub struct SubscriptionSchema;

impl platform::store::Schema for SubscriptionSchema {
    type Aggregate = Subscription;
    const TABLE: &'static str = billing_migrations::SUBSCRIPTIONS_TABLE;
    const AGGREGATE_TYPE: &'static str = "billing.subscription";
    const ERROR_DOMAIN: &'static str = ERROR_DOMAIN;
    const COLUMNS: &'static [IndexedColumn] = billing_migrations::SUBSCRIPTION_COLUMNS;

    fn column_values(subscription: &Subscription) -> Vec<Option<String>> {
        vec![Some(subscription.workspace_id().to_string())]
    }

    fn taken(_column: &str) -> Rejection {
        Rejection::new(
            RejectionKind::AlreadyExists,
            "SUBSCRIPTION_EXISTS",
            "the workspace already has a subscription",
        )
        .on_field("workspace_id")
    }

    fn not_found() -> Rejection {
        Rejection::new(
            RejectionKind::NotFound,
            "SUBSCRIPTION_NOT_FOUND",
            "no such subscription",
        )
    }

    fn integration_event(
        subscription: &Subscription,
        event: &SubscriptionEvent,
    ) -> IntegrationEvent {
        events::integration_event(subscription, event)
    }

    fn due_at(subscription: &Subscription) -> Option<Timestamp> {
        subscription.next_due()
    }

    fn apply_due(
        subscription: &mut Subscription,
        now: Timestamp,
    ) -> Result<Vec<SubscriptionEvent>, Rejection> {
        let result = match subscription.due_command(now) {
            Some(DueWork::ExpireTrial) => subscription.expire_trial(now),
            Some(DueWork::EndPeriod) => subscription.end_period(now),
            None => Ok(Vec::new()),
        };
        result.map_err(Rejection::from)
    }
}

/// The store of subscriptions.
pub type SubscriptionStore = Store<SubscriptionSchema>;

/// Opens the Billing database at `url` and applies its migrations.
pub async fn open(
    url: &str,
    pool: PoolSize,
    clock: Arc<dyn Clock>,
) -> Result<SubscriptionStore, platform::db::OpenError> {
    let db = platform::db::open_migrated::<billing_migrations::Migrator>(url, pool).await?;
    Ok(Store::new(db, clock))
}

/// The gRPC service over a store, with message size caps.
pub fn subscription_service(
    store: SubscriptionStore,
) -> SubscriptionServiceServer<SubscriptionApi> {
    SubscriptionServiceServer::new(SubscriptionApi::new(store))
        .max_decoding_message_size(platform::server::MAX_MESSAGE_BYTES)
        .max_encoding_message_size(platform::server::MAX_MESSAGE_BYTES)
}
