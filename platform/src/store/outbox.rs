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
use sea_orm::sea_query::{Alias, Expr, Query};

use super::{Event, Projection, Schema, Store, Stored, writes::WriteStep};
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

/// One outbox row, rendered before the transaction needs it: the event's id and type and its
/// encoded envelope.
pub(super) struct OutboxRow {
    event_id: String,
    event_type: &'static str,
    envelope: Vec<u8>,
}

/// The outbox rows of `events`, in order, as of `now`: pure work that needs no transaction,
/// so a command can render them before it reaches the writer.
pub(super) fn outbox_rows<S: Schema>(
    stored: &Stored<S::Aggregate>,
    events: &[Event<S>],
    now: Timestamp,
) -> Vec<OutboxRow> {
    events
        .iter()
        .map(|event| {
            let event_id = crate::new_id().to_string();
            let envelope = envelope::<S>(stored, event, event_id.clone(), now).encode_to_vec();
            OutboxRow {
                event_id,
                event_type: event.event_type(),
                envelope,
            }
        })
        .collect()
}

impl<S: Schema> Store<S> {
    /// The inserts of a command's outbox rows, in order.
    pub(super) fn outbox_steps(
        &self,
        stored: &Stored<S::Aggregate>,
        rows: Vec<OutboxRow>,
        now: Timestamp,
    ) -> Vec<WriteStep> {
        let aggregate_id = stored.aggregate.aggregate_id().to_string();
        let version = stored.version.get() as i64;
        rows.into_iter()
            .map(|row| WriteStep::Insert {
                table: Alias::new(OUTBOX),
                columns: vec![
                    "event_id",
                    "aggregate_type",
                    "aggregate_id",
                    "aggregate_version",
                    "event_type",
                    "occurred_at",
                    "envelope",
                ],
                values: vec![
                    Expr::val(row.event_id),
                    Expr::val(S::AGGREGATE_TYPE),
                    Expr::val(aggregate_id.clone()),
                    Expr::val(version),
                    Expr::val(row.event_type),
                    Expr::val(now.timestamp_micros()),
                    Expr::val(row.envelope),
                ],
            })
            .collect()
    }

    /// The side-table writes the schema projects from each event, in event order.
    pub(super) fn projection_steps(
        &self,
        stored: &Stored<S::Aggregate>,
        events: &[Event<S>],
    ) -> Vec<WriteStep> {
        events
            .iter()
            .flat_map(|event| S::project(&stored.aggregate, event))
            .map(|projection| match projection {
                Projection::Insert {
                    table,
                    columns,
                    values,
                } => WriteStep::Insert {
                    table: Alias::new(table),
                    columns: columns.to_vec(),
                    values: values.into_iter().map(Expr::val).collect(),
                },
                Projection::Delete { table, condition } => WriteStep::Delete(
                    Query::delete()
                        .from_table(table)
                        .cond_where(condition)
                        .to_owned(),
                ),
            })
            .collect()
    }
}
