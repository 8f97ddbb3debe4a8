//! **Parts:** the long collections of an aggregate kept as rows of their own, so a command
//! writes the elements it changed instead of the whole collection.
//!
//! A document is rewritten whole by every command that changes it, so an aggregate holding a
//! long collection (the invitations and members of a workspace) pays for every element on
//! every command. A schema names such collections in [`Schema::PARTS`] (the fields that hold
//! them in the document) and lists their elements by key with [`Schema::parts`]. Then:
//!
//! - every element is a row of `<TABLE>_parts` (`aggregate_id`, `collection`, `key`,
//!   `since`, `position`, `doc`), and the document row keeps the rest: its **head**
//!   ([`head`]), the aggregate serialized without those fields;
//! - a command compares the elements before and after it by key, with `PartialEq` on the
//!   typed elements ([`part_steps`]): it inserts the new ones, updates the ones that changed
//!   and deletes the ones that left, and leaves every other row alone. Inviting one member
//!   into a workspace of 50 members and 100 invitations writes one part row and a small head
//!   instead of a 30 kB document;
//! - every read is unchanged: the document column it selects is an expression that puts the
//!   elements back into the head, in order, in SQL ([`doc_sql`]), so a read is still one row.
//!
//! **Order.** A collection reads back in the order of `(since, position)`: the aggregate
//! version that wrote the element's place and its index in the collection then. A new
//! element therefore sorts after every older one, which keeps the order of collections that
//! grow at their end (the only way the workspace's grow). A command that reorders kept
//! elements, or puts a new one before a kept one, rewrites the places of the whole collection,
//! so the order read back is always the aggregate's.
//!
//! **Requirements**, checked by the schema's own tests: the aggregate serializes as a struct
//! (as `#[derive(Serialize)]` makes it) whose fields named in `PARTS` are sequences of the
//! elements [`Schema::parts`] lists, in the same order, and keys are unique within a
//! collection.

use std::any::Any;
use std::collections::{HashMap, HashSet};

use kernel_domain::Version;
use sea_orm::{
    DbBackend,
    sea_query::{Alias, Expr, ExprTrait as _, Query},
};
use serde::{
    Serialize,
    ser::{self, Impossible},
};

use super::{Schema, writes::WriteStep};

/// The columns of a parts table `<table>_parts`.
pub mod column {
    /// The aggregate the element belongs to.
    pub const AGGREGATE_ID: &str = "aggregate_id";
    /// The collection's field in the document.
    pub const COLLECTION: &str = "collection";
    /// The element's key, unique within its collection.
    pub const KEY: &str = "key";
    /// The aggregate version that wrote the element's place.
    pub const SINCE: &str = "since";
    /// The element's index in its collection at that version.
    pub const POSITION: &str = "position";
    /// The element as JSON.
    pub const DOC: &str = "doc";
}

/// A collection of the aggregate kept as rows of its own, as [`Schema::parts`] lists it:
/// made with [`collection`] from the elements and how each is keyed.
pub trait Collection {
    /// How many elements it has.
    fn len(&self) -> usize;
    /// Whether it has none.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The key of element `index`, unique within the collection.
    fn key(&self, index: usize) -> String;
    /// Element `index`, to compare with another collection's ([`Collection::same`]).
    fn element(&self, index: usize) -> &dyn Any;
    /// Whether element `index` equals `other` (an element of the same collection).
    fn same(&self, index: usize, other: &dyn Any) -> bool;
    /// Element `index` as JSON.
    fn json(&self, index: usize) -> Result<String, serde_json::Error>;
}

/// The elements of a collection and the key of each (a function of the element alone).
pub fn collection<'a, T>(elements: &'a [T], key: fn(&T) -> String) -> Box<dyn Collection + 'a>
where
    T: Serialize + PartialEq + 'static,
{
    Box::new(Slice { elements, key })
}

struct Slice<'a, T> {
    elements: &'a [T],
    key: fn(&T) -> String,
}

impl<T: Serialize + PartialEq + 'static> Collection for Slice<'_, T> {
    fn len(&self) -> usize {
        self.elements.len()
    }

    fn key(&self, index: usize) -> String {
        (self.key)(&self.elements[index])
    }

    fn element(&self, index: usize) -> &dyn Any {
        &self.elements[index]
    }

    fn same(&self, index: usize, other: &dyn Any) -> bool {
        other.downcast_ref::<T>() == Some(&self.elements[index])
    }

    fn json(&self, index: usize) -> Result<String, serde_json::Error> {
        serde_json::to_string(&self.elements[index])
    }
}

/// The collections of an aggregate, in the order of [`Schema::PARTS`].
pub type Collections<'a> = Vec<Box<dyn Collection + 'a>>;

/// The parts table of a schema, `<TABLE>_parts`.
pub(super) fn table<S: Schema>() -> Alias {
    Alias::new(format!("{}_parts", S::TABLE))
}

/// The aggregate as its document row keeps it: without the fields of [`Schema::PARTS`].
pub fn head<S: Schema>(aggregate: &S::Aggregate) -> Result<String, serde_json::Error> {
    if S::PARTS.is_empty() {
        return serde_json::to_string(aggregate);
    }
    let mut out = Vec::with_capacity(512);
    aggregate.serialize(Head {
        inner: &mut serde_json::Serializer::new(&mut out),
        skip: S::PARTS,
    })?;
    String::from_utf8(out).map_err(ser::Error::custom)
}

/// The writes that bring the parts rows of aggregate `id` from `before` to `after` (`None`:
/// created, or deleted), `version` being the version `after` is saved at.
pub(super) fn part_steps<S: Schema>(
    id: &str,
    before: Option<&S::Aggregate>,
    after: Option<&S::Aggregate>,
    version: Version,
) -> Result<Vec<WriteStep>, serde_json::Error> {
    if S::PARTS.is_empty() {
        return Ok(Vec::new());
    }
    let table = table::<S>();
    let Some(after) = after else {
        return Ok(vec![WriteStep::Delete(
            Query::delete()
                .from_table(table)
                .and_where(Expr::col(column::AGGREGATE_ID).eq(id))
                .to_owned(),
        )]);
    };
    let befores = before.map(S::parts).unwrap_or_default();
    let mut steps = Vec::new();
    for (index, (collection, after)) in S::PARTS.iter().zip(S::parts(after)).enumerate() {
        let before = befores.get(index).map(|b| b.as_ref());
        let written = Written {
            table: &table,
            id,
            collection,
            version,
        };
        written.steps(before, after.as_ref(), &mut steps)?;
    }
    Ok(steps)
}

/// The rows of one collection of one aggregate, written at one version.
struct Written<'a> {
    table: &'a Alias,
    id: &'a str,
    collection: &'a str,
    version: Version,
}

impl Written<'_> {
    /// Appends the writes that bring the rows from `before` to `after`. Elements equal in
    /// place at the front are passed over without a look at their keys (an invite appends
    /// to 150 elements and writes one); past them, elements are matched by key.
    fn steps(
        &self,
        before: Option<&dyn Collection>,
        after: &dyn Collection,
        steps: &mut Vec<WriteStep>,
    ) -> Result<(), serde_json::Error> {
        let before_len = before.map_or(0, |b| b.len());
        let same_front = (0..before_len.min(after.len()))
            .take_while(|&i| before.is_some_and(|b| after.same(i, b.element(i))))
            .count();
        let old: HashMap<String, usize> = (same_front..before_len)
            .filter_map(|i| before.map(|b| (b.key(i), i)))
            .collect();
        let new: Vec<(usize, String)> = (same_front..after.len())
            .map(|i| (i, after.key(i)))
            .collect();
        let kept: HashSet<&str> = new.iter().map(|(_, key)| key.as_str()).collect();
        for key in old.keys().filter(|key| !kept.contains(key.as_str())) {
            steps.push(WriteStep::Delete(
                Query::delete()
                    .from_table(self.table.clone())
                    .cond_where(self.row(key))
                    .to_owned(),
            ));
        }
        let in_order = keeps_order(&new, &old);
        for (position, key) in &new {
            let position = *position;
            match (old.get(key), before) {
                (None, _) | (_, None) => steps.push(WriteStep::Insert {
                    table: self.table.clone(),
                    columns: vec![
                        column::AGGREGATE_ID,
                        column::COLLECTION,
                        column::KEY,
                        column::SINCE,
                        column::POSITION,
                        column::DOC,
                    ],
                    values: vec![
                        Expr::val(self.id),
                        Expr::val(self.collection),
                        Expr::val(key.as_str()),
                        Expr::val(self.version.get() as i64),
                        Expr::val(position as i64),
                        Expr::val(after.json(position)?),
                    ],
                }),
                (Some(_), Some(_)) if !in_order => steps.push(WriteStep::Update(
                    Query::update()
                        .table(self.table.clone())
                        .value(column::SINCE, self.version.get() as i64)
                        .value(column::POSITION, position as i64)
                        .value(column::DOC, after.json(position)?)
                        .cond_where(self.row(key))
                        .to_owned(),
                )),
                (Some(&was), Some(before)) if !after.same(position, before.element(was)) => steps
                    .push(WriteStep::Update(
                        Query::update()
                            .table(self.table.clone())
                            .value(column::DOC, after.json(position)?)
                            .cond_where(self.row(key))
                            .to_owned(),
                    )),
                (Some(_), Some(_)) => {}
            }
        }
        Ok(())
    }

    /// The row of element `key`.
    fn row(&self, key: &str) -> sea_orm::sea_query::Condition {
        sea_orm::sea_query::Cond::all()
            .add(Expr::col(column::AGGREGATE_ID).eq(self.id))
            .add(Expr::col(column::COLLECTION).eq(self.collection))
            .add(Expr::col(column::KEY).eq(key))
    }
}

/// Whether `new` (the elements past the equal front, with their indexes) lists those it
/// keeps from `old` in their old order, with every element new to the collection after
/// them: then the stored places still read back in order. (A rewritten place sorts after
/// the front's, whose versions are older.)
fn keeps_order(new: &[(usize, String)], old: &HashMap<String, usize>) -> bool {
    let mut last = None;
    let mut seen_new = false;
    for (_, key) in new {
        match old.get(key) {
            Some(&index) => {
                if seen_new || last.is_some_and(|last| last > index) {
                    return false;
                }
                last = Some(index);
            }
            None => seen_new = true,
        }
    }
    true
}

/// The SQL of the document a read selects, of the schema's table (which the query must name
/// in its `FROM`): the `doc` column itself, or for a schema with parts the head with every
/// collection put back, in order. Table and collection names are the schema's constants,
/// never input.
pub(super) fn doc_sql<S: Schema>(backend: DbBackend) -> String {
    let table = S::TABLE;
    if S::PARTS.is_empty() {
        return format!("\"{table}\".\"doc\"");
    }
    let elements = |collection: &str, aggregate: &str| {
        format!(
            "SELECT {aggregate} FROM \"{table}_parts\" AS \"p\" WHERE \"p\".\"aggregate_id\" = \
             \"{table}\".\"id\" AND \"p\".\"collection\" = '{collection}'"
        )
    };
    match backend {
        DbBackend::Postgres => {
            let fields: Vec<String> = S::PARTS
                .iter()
                .map(|collection| {
                    let select = elements(
                        collection,
                        "jsonb_agg((\"p\".\"doc\")::jsonb ORDER BY \"p\".\"since\", \"p\".\"position\")",
                    );
                    format!("'{collection}', COALESCE(({select}), '[]'::jsonb)")
                })
                .collect();
            format!(
                "((\"{table}\".\"doc\")::jsonb || jsonb_build_object({}))::text",
                fields.join(", ")
            )
        }
        _ => {
            let fields: Vec<String> = S::PARTS
                .iter()
                .map(|collection| {
                    let select = elements(
                        collection,
                        "json_group_array(json(\"p\".\"doc\") ORDER BY \"p\".\"since\", \"p\".\"position\")",
                    );
                    format!("'$.{collection}', json(({select}))")
                })
                .collect();
            format!("json_set(\"{table}\".\"doc\", {})", fields.join(", "))
        }
    }
}

/// [`doc_sql`] as an expression.
pub(super) fn doc_expr<S: Schema>(backend: DbBackend) -> Expr {
    Expr::cust(doc_sql::<S>(backend))
}

/// Serializes a struct with some of its fields left out (the head of a document).
struct Head<'a, W: std::io::Write> {
    inner: &'a mut serde_json::Serializer<W>,
    skip: &'static [&'static str],
}

/// The fields of [`Head`]'s struct.
struct HeadFields<'a, W: std::io::Write> {
    inner: serde_json::ser::Compound<'a, W, serde_json::ser::CompactFormatter>,
    skip: &'static [&'static str],
}

fn not_a_struct() -> serde_json::Error {
    ser::Error::custom("an aggregate with parts must serialize as a struct")
}

impl<W: std::io::Write> ser::SerializeStruct for HeadFields<'_, W> {
    type Ok = ();
    type Error = serde_json::Error;

    fn serialize_field<T: ?Sized + Serialize>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Self::Error> {
        if self.skip.contains(&key) {
            return Ok(());
        }
        self.inner.serialize_field(key, value)
    }

    fn end(self) -> Result<(), Self::Error> {
        self.inner.end()
    }
}

/// Every shape but a struct is refused.
macro_rules! refuse {
    ($($method:ident($($arg:ty),*);)*) => {
        $(fn $method(self, $(_: $arg),*) -> Result<(), Self::Error> {
            Err(not_a_struct())
        })*
    };
}

impl<'a, W: std::io::Write> ser::Serializer for Head<'a, W> {
    type Ok = ();
    type Error = serde_json::Error;
    type SerializeSeq = Impossible<(), serde_json::Error>;
    type SerializeTuple = Impossible<(), serde_json::Error>;
    type SerializeTupleStruct = Impossible<(), serde_json::Error>;
    type SerializeTupleVariant = Impossible<(), serde_json::Error>;
    type SerializeMap = Impossible<(), serde_json::Error>;
    type SerializeStruct = HeadFields<'a, W>;
    type SerializeStructVariant = Impossible<(), serde_json::Error>;

    refuse! {
        serialize_bool(bool);
        serialize_i8(i8);
        serialize_i16(i16);
        serialize_i32(i32);
        serialize_i64(i64);
        serialize_u8(u8);
        serialize_u16(u16);
        serialize_u32(u32);
        serialize_u64(u64);
        serialize_f32(f32);
        serialize_f64(f64);
        serialize_char(char);
        serialize_str(&str);
        serialize_bytes(&[u8]);
        serialize_none();
        serialize_unit();
        serialize_unit_struct(&'static str);
        serialize_unit_variant(&'static str, u32, &'static str);
    }

    fn serialize_some<T: ?Sized + Serialize>(self, _: &T) -> Result<(), Self::Error> {
        Err(not_a_struct())
    }

    fn serialize_newtype_struct<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: &T,
    ) -> Result<(), Self::Error> {
        Err(not_a_struct())
    }

    fn serialize_newtype_variant<T: ?Sized + Serialize>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Self::Error> {
        Err(not_a_struct())
    }

    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Self::Error> {
        Err(not_a_struct())
    }

    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Self::Error> {
        Err(not_a_struct())
    }

    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Self::Error> {
        Err(not_a_struct())
    }

    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Self::Error> {
        Err(not_a_struct())
    }

    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Self::Error> {
        Err(not_a_struct())
    }

    fn serialize_struct(
        self,
        name: &'static str,
        len: usize,
    ) -> Result<Self::SerializeStruct, Self::Error> {
        Ok(HeadFields {
            inner: ser::Serializer::serialize_struct(self.inner, name, len)?,
            skip: self.skip,
        })
    }

    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Self::Error> {
        Err(not_a_struct())
    }
}

#[cfg(test)]
mod tests;
