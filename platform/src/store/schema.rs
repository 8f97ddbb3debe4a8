//! How a context plugs into the store: its [`Schema`], the side-table writes it projects
//! from events ([`Projection`]), and what its events are published as ([`IntegrationEvent`]).

use kernel_domain::{AggregateRoot, Rejection, Timestamp};
use sea_orm::{Value, sea_query::Condition};
use uuid::Uuid;

use super::parts::Collections;
use crate::migration::IndexedColumn;

/// How a context's aggregate is laid out in its store.
pub trait Schema: Send + Sync + 'static {
    /// The aggregate root kept in this table.
    type Aggregate: AggregateRoot;
    /// The table of documents.
    const TABLE: &'static str;
    /// The aggregate's name in the outbox, e.g. `identity.user`.
    const AGGREGATE_TYPE: &'static str;
    /// The error domain of `ErrorInfo`, e.g. `identity.saas`.
    const ERROR_DOMAIN: &'static str;
    /// The indexed columns, in the order [`Schema::column_values`] returns them.
    const COLUMNS: &'static [IndexedColumn];
    /// The values of the indexed columns for an aggregate (`None` stores NULL).
    fn column_values(aggregate: &Self::Aggregate) -> Vec<Option<String>>;
    /// The rejection when the unique column `column` already holds the value.
    fn taken(column: &str) -> Rejection;
    /// The rejection for an id that names no aggregate.
    fn not_found() -> Rejection;

    /// A multi-valued index kept in the side table `<TABLE>_<name>` (for example the
    /// members of a workspace, to list a user's workspaces); `None` when there is none.
    const SET_INDEX: Option<&'static str> = None;
    /// The values of the multi-valued index for an aggregate.
    fn set_index_values(_aggregate: &Self::Aggregate) -> Vec<String> {
        Vec::new()
    }
    /// Whether a decision changed the multi-valued index (its values or their order). The
    /// default compares [`Schema::set_index_values`]; a schema whose values are formatted
    /// from typed ones can compare those instead, so a command that leaves the index alone
    /// formats nothing.
    fn set_index_changed(before: &Self::Aggregate, after: &Self::Aggregate) -> bool {
        Self::set_index_values(before) != Self::set_index_values(after)
    }

    /// The aggregate's long collections kept as rows of their own (see [`super::parts`]),
    /// by the name of the field that holds each in the document; none by default.
    const PARTS: &'static [&'static str] = &[];
    /// Every collection of [`Schema::PARTS`], in that order, made with
    /// [`super::parts::collection`]: its elements in the order the document lists them, each
    /// keyed uniquely within the collection by a function of the element alone.
    fn parts(_aggregate: &Self::Aggregate) -> Collections<'_> {
        Vec::new()
    }

    /// When the aggregate next has work due that the system itself applies (an invitation
    /// expiring, a trial ending); `None` when nothing is due.
    fn due_at(_aggregate: &Self::Aggregate) -> Option<Timestamp> {
        None
    }

    /// The integration event (the published language) a domain event leaves the service
    /// as: its `saas.<context>.v1` payload message and the workspace it concerns. Written to
    /// the outbox inside the command's transaction, in an `EventEnvelope`.
    fn integration_event(
        aggregate: &Self::Aggregate,
        event: &<Self::Aggregate as AggregateRoot>::Event,
    ) -> IntegrationEvent;

    /// Applies the work due at `now` ([`super::Store::sweep_once`] calls it for every aggregate whose
    /// [`Schema::due_at`] has passed). It must be idempotent: once applied, `due_at` moves on.
    fn apply_due(
        _aggregate: &mut Self::Aggregate,
        _now: Timestamp,
    ) -> Result<Vec<<Self::Aggregate as AggregateRoot>::Event>, Rejection> {
        Ok(Vec::new())
    }

    /// The rows a domain event writes to the context's side tables besides the document
    /// (the entries of a feed, say, which are too many to keep inside it), given the
    /// aggregate as the command left it. They are written in the command's transaction
    /// right after its outbox rows, so they commit with the aggregate or not at all. None by
    /// default.
    fn project(
        _aggregate: &Self::Aggregate,
        _event: &<Self::Aggregate as AggregateRoot>::Event,
    ) -> Vec<Projection> {
        Vec::new()
    }

    /// The rejection for creating an aggregate whose id is already stored, for aggregates
    /// whose id the caller chooses (one feed per user, keyed by the user's id): two first
    /// commands racing to create it then tell the loser apart from a fault, and it can retry
    /// as an update. `None` (the default) answers a taken id as an internal fault, since ids
    /// made by [`crate::new_id`] never collide.
    fn id_taken() -> Option<Rejection> {
        None
    }
}

/// One write to a side table, made by [`Schema::project`] in the command's transaction.
/// Table and column names are the schema's own constants, never input; values are bound.
#[derive(Debug, Clone, PartialEq)]
pub enum Projection {
    /// Inserts one row: one value per column, in order.
    Insert {
        /// The side table.
        table: &'static str,
        /// Its columns.
        columns: &'static [&'static str],
        /// The values, one per column.
        values: Vec<Value>,
    },
    /// Deletes the rows that meet `condition` (built with sea-query, so it is portable).
    Delete {
        /// The side table.
        table: &'static str,
        /// Which rows, e.g. `Expr::col("feed_id").eq(id).and(Expr::col("seq").lt(first))`.
        condition: Condition,
    },
}

/// What a domain event is published as: a message of the context's `events.proto` and the
/// workspace the event concerns, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct IntegrationEvent {
    /// The workspace the event concerns; `None` for events about no workspace.
    pub workspace_id: Option<Uuid>,
    /// The payload, packed with its full message name.
    pub payload: prost_types::Any,
}

impl IntegrationEvent {
    /// Packs `message` (a message of the published language, which knows its full proto
    /// name, e.g. `saas.billing.v1.SubscriptionSeatsChanged`) for the workspace
    /// `workspace_id`.
    pub fn new<M: prost::Name>(workspace_id: Option<Uuid>, message: &M) -> IntegrationEvent {
        IntegrationEvent {
            workspace_id,
            payload: prost_types::Any {
                type_url: M::type_url(),
                value: message.encode_to_vec(),
            },
        }
    }
}
