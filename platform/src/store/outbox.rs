//! What an accepted command appends besides its aggregate, in the command's transaction:
//!
//! - one `outbox` row per domain event, holding the event's one encoding, the
//!   `saas.events.v1.EventEnvelope` the relay publishes as it is ([`crate::relay`]), beside
//!   the columns the relay orders and routes by (`seq`, `event_id`, `event_type`, the
//!   aggregate and its version);
//! - the side-table rows the schema projects from each event ([`Schema::project`]).

use kernel_domain::{AggregateRoot, DomainEvent, Timestamp};
use prost::Message as _;
use saas_proto::events::v1 as saas_events;
use sea_orm::sea_query::{Expr, Query};

use super::{Event, Projection, Schema, Store, StoreError, Stored, exec::Exec};
use crate::rpc;

/// The outbox table (see [`crate::migration::create_outbox_table`]).
pub const OUTBOX: &str = "outbox";

/// The envelope `event` is published in: the schema's integration event for it, with the
/// event's id, type and time and the aggregate's id and version as stored.
pub fn envelope<S: Schema>(
    stored: &Stored<S::Aggregate>,
    event: &Event<S>,
    event_id: String,
    now: Timestamp,
) -> saas_events::EventEnvelope {
    let published = S::integration_event(&stored.aggregate, event);
    saas_events::EventEnvelope {
        event_id,
        event_type: event.event_type().to_owned(),
        aggregate_type: S::AGGREGATE_TYPE.to_owned(),
        aggregate_id: stored.aggregate.aggregate_id().to_string(),
        aggregate_version: stored.version.get() as i64,
        occur_time: Some(rpc::timestamp(now)),
        workspace_id: published
            .workspace_id
            .map(|id| id.to_string())
            .unwrap_or_default(),
        payload: Some(published.payload),
    }
}

impl<S: Schema> Store<S> {
    /// Appends one outbox row per event, in order, each with its envelope.
    pub(super) async fn append_events(
        &self,
        ex: &impl Exec,
        stored: &Stored<S::Aggregate>,
        events: &[Event<S>],
    ) -> Result<(), StoreError> {
        let now = self.clock.now();
        let aggregate_id = stored.aggregate.aggregate_id().to_string();
        let version = stored.version.get() as i64;
        for event in events {
            let event_id = crate::new_id().to_string();
            let envelope = envelope::<S>(stored, event, event_id.clone(), now);
            let insert = Query::insert()
                .into_table(OUTBOX)
                .columns([
                    "event_id",
                    "aggregate_type",
                    "aggregate_id",
                    "aggregate_version",
                    "event_type",
                    "occurred_at",
                    "envelope",
                ])
                .values([
                    Expr::val(event_id),
                    Expr::val(S::AGGREGATE_TYPE),
                    Expr::val(aggregate_id.clone()),
                    Expr::val(version),
                    Expr::val(event.event_type()),
                    Expr::val(now.timestamp_micros()),
                    Expr::val(envelope.encode_to_vec()),
                ])
                .map_err(StoreError::internal)?
                .to_owned();
            ex.execute(&insert).await?;
        }
        Ok(())
    }

    /// Writes the side-table rows the schema projects from each event, in event order.
    pub(super) async fn project(
        &self,
        ex: &impl Exec,
        stored: &Stored<S::Aggregate>,
        events: &[Event<S>],
    ) -> Result<(), StoreError> {
        for event in events {
            for projection in S::project(&stored.aggregate, event) {
                match projection {
                    Projection::Insert {
                        table,
                        columns,
                        values,
                    } => {
                        let insert = Query::insert()
                            .into_table(table)
                            .columns(columns.iter().copied())
                            .values(values.into_iter().map(Expr::val))
                            .map_err(|e| {
                                StoreError::internal(format!("projection into {table}: {e}"))
                            })?
                            .to_owned();
                        ex.execute(&insert).await?;
                    }
                    Projection::Delete { table, condition } => {
                        let delete = Query::delete()
                            .from_table(table)
                            .cond_where(condition)
                            .to_owned();
                        ex.execute(&delete).await?;
                    }
                }
            }
        }
        Ok(())
    }
}
