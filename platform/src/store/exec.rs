//! What the pipeline's steps write through: a small executor of sea-query statements, so one
//! pipeline runs on two drivers.
//!
//! - [`Exec`] for sea-orm's [`DatabaseTransaction`] (PostgreSQL): each call is a round trip.
//! - [`Exec`] for [`Lite`], a savepoint on the SQLite writer's own rusqlite connection
//!   ([`super::writer`]): each call runs at once on the writer thread, through the
//!   connection's prepared-statement cache, and its future never pends.
//!
//! Statements stay built with sea-query; [`Lite`] renders them with `SqliteQueryBuilder` (what
//! sea-orm's `build` does for SQLite) and binds the `sea_query::Value`s itself ([`bind`]):
//! the values the store writes are integers, text, blobs and NULL, which map one to one onto
//! SQLite's storage classes.

use sea_orm::{
    ConnectionTrait, DatabaseTransaction, DbBackend, DbErr, QueryResult, Statement,
    StatementBuilder, Value,
};

/// A row a statement returned, from either driver.
pub(crate) enum Row {
    /// From sea-orm (sqlx).
    Orm(QueryResult),
    /// From rusqlite: the columns in order.
    Lite(Vec<rusqlite::types::Value>),
}

fn column_missing(index: usize) -> DbErr {
    DbErr::Type(format!("no column {index} in the row"))
}

fn wrong_type(index: usize, wanted: &str) -> DbErr {
    DbErr::Type(format!("column {index} is not {wanted}"))
}

impl Row {
    fn lite(&self, index: usize) -> Result<Option<&rusqlite::types::Value>, DbErr> {
        match self {
            Row::Lite(values) => values
                .get(index)
                .map(Some)
                .ok_or_else(|| column_missing(index)),
            Row::Orm(_) => Ok(None),
        }
    }

    /// An integer column.
    pub(crate) fn i64(&self, index: usize) -> Result<i64, DbErr> {
        use rusqlite::types::Value as V;
        match (self, self.lite(index)?) {
            (Row::Orm(row), _) => row.try_get_by_index(index),
            (_, Some(V::Integer(value))) => Ok(*value),
            _ => Err(wrong_type(index, "an integer")),
        }
    }

    /// A text column that may be NULL.
    pub(crate) fn opt_string(&self, index: usize) -> Result<Option<String>, DbErr> {
        use rusqlite::types::Value as V;
        match (self, self.lite(index)?) {
            (Row::Orm(row), _) => row.try_get_by_index(index),
            (_, Some(V::Text(value))) => Ok(Some(value.clone())),
            (_, Some(V::Null)) => Ok(None),
            _ => Err(wrong_type(index, "text")),
        }
    }

    /// A text column.
    pub(crate) fn string(&self, index: usize) -> Result<String, DbErr> {
        self.opt_string(index)?
            .ok_or_else(|| wrong_type(index, "text (it is NULL)"))
    }

    /// A blob column that may be NULL.
    pub(crate) fn opt_bytes(&self, index: usize) -> Result<Option<Vec<u8>>, DbErr> {
        use rusqlite::types::Value as V;
        match (self, self.lite(index)?) {
            (Row::Orm(row), _) => row.try_get_by_index(index),
            (_, Some(V::Blob(value))) => Ok(Some(value.clone())),
            (_, Some(V::Null)) => Ok(None),
            _ => Err(wrong_type(index, "a blob")),
        }
    }
}

/// Executes the pipeline's statements inside an open transaction (or savepoint).
pub(crate) trait Exec {
    /// The database the statements are built for.
    fn backend(&self) -> DbBackend;
    /// Runs a statement; returns the rows it changed.
    async fn execute<S: StatementBuilder>(&self, statement: &S) -> Result<u64, DbErr>;
    /// Runs a query; returns its first row, if any.
    async fn query_one<S: StatementBuilder>(&self, statement: &S) -> Result<Option<Row>, DbErr>;
}

impl Exec for DatabaseTransaction {
    fn backend(&self) -> DbBackend {
        self.get_database_backend()
    }

    async fn execute<S: StatementBuilder>(&self, statement: &S) -> Result<u64, DbErr> {
        Ok(ConnectionTrait::execute(self, statement)
            .await?
            .rows_affected())
    }

    async fn query_one<S: StatementBuilder>(&self, statement: &S) -> Result<Option<Row>, DbErr> {
        Ok(ConnectionTrait::query_one(self, statement)
            .await?
            .map(Row::Orm))
    }
}

/// The start of the message of a unique-constraint failure from [`Lite`] (SQLite's own
/// wording, which names the table and column).
pub(crate) const UNIQUE_FAILED: &str = "UNIQUE constraint failed";

/// The SQLite writer's connection inside its open transaction: every call runs at once.
pub(crate) struct Lite<'c> {
    conn: &'c rusqlite::Connection,
}

impl<'c> Lite<'c> {
    pub(crate) fn new(conn: &'c rusqlite::Connection) -> Self {
        Lite { conn }
    }

    fn prepared(&self, statement: Statement) -> Result<rusqlite::CachedStatement<'c>, DbErr> {
        let mut prepared = self.conn.prepare_cached(&statement.sql).map_err(db_err)?;
        if let Some(values) = statement.values {
            for (index, value) in values.0.into_iter().enumerate() {
                prepared
                    .raw_bind_parameter(index + 1, bind(value)?)
                    .map_err(db_err)?;
            }
        }
        Ok(prepared)
    }

    /// Runs a statement without parameters (`SAVEPOINT`, `RELEASE`...).
    pub(crate) fn batch(&self, sql: &str) -> Result<(), DbErr> {
        self.conn
            .prepare_cached(sql)
            .and_then(|mut s| s.raw_execute())
            .map(|_| ())
            .map_err(db_err)
    }
}

impl Exec for Lite<'_> {
    fn backend(&self) -> DbBackend {
        DbBackend::Sqlite
    }

    async fn execute<S: StatementBuilder>(&self, statement: &S) -> Result<u64, DbErr> {
        let mut prepared = self.prepared(statement.build(&DbBackend::Sqlite))?;
        let changed = prepared.raw_execute().map_err(db_err)?;
        Ok(changed as u64)
    }

    async fn query_one<S: StatementBuilder>(&self, statement: &S) -> Result<Option<Row>, DbErr> {
        let mut prepared = self.prepared(statement.build(&DbBackend::Sqlite))?;
        let columns = prepared.column_count();
        let mut rows = prepared.raw_query();
        let Some(row) = rows.next().map_err(db_err)? else {
            return Ok(None);
        };
        let values = (0..columns)
            .map(|i| row.get::<_, rusqlite::types::Value>(i))
            .collect::<Result<Vec<_>, _>>()
            .map_err(db_err)?;
        Ok(Some(Row::Lite(values)))
    }
}

/// A rusqlite error as sea-orm's: a unique-constraint failure keeps SQLite's message (see
/// [`UNIQUE_FAILED`]), so the pipeline can name the column that was taken.
pub(crate) fn db_err(error: rusqlite::Error) -> DbErr {
    match &error {
        rusqlite::Error::SqliteFailure(failure, Some(message))
            if matches!(
                failure.extended_code,
                rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE
                    | rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            ) =>
        {
            DbErr::Custom(message.clone())
        }
        _ => DbErr::Custom(format!("sqlite: {error}")),
    }
}

/// The message of a unique-constraint failure from either driver.
pub(crate) fn unique_violation_message(error: &DbErr) -> Option<String> {
    if let DbErr::Custom(message) = error
        && message.starts_with(UNIQUE_FAILED)
    {
        return Some(message.clone());
    }
    match error.sql_err()? {
        sea_orm::SqlErr::UniqueConstraintViolation(message) => Some(message),
        _ => None,
    }
}

/// A sea-query value as the SQLite value it is stored as.
pub(crate) fn bind(value: Value) -> Result<rusqlite::types::Value, DbErr> {
    use rusqlite::types::Value as V;
    let unsupported = |what: &str| DbErr::Custom(format!("cannot bind a {what} to SQLite"));
    Ok(match value {
        Value::Bool(v) => v.map_or(V::Null, |v| V::Integer(i64::from(v))),
        Value::TinyInt(v) => v.map_or(V::Null, |v| V::Integer(i64::from(v))),
        Value::SmallInt(v) => v.map_or(V::Null, |v| V::Integer(i64::from(v))),
        Value::Int(v) => v.map_or(V::Null, |v| V::Integer(i64::from(v))),
        Value::BigInt(v) => v.map_or(V::Null, V::Integer),
        Value::TinyUnsigned(v) => v.map_or(V::Null, |v| V::Integer(i64::from(v))),
        Value::SmallUnsigned(v) => v.map_or(V::Null, |v| V::Integer(i64::from(v))),
        Value::Unsigned(v) => v.map_or(V::Null, |v| V::Integer(i64::from(v))),
        Value::BigUnsigned(v) => match v {
            None => V::Null,
            Some(v) => V::Integer(i64::try_from(v).map_err(|_| unsupported("u64 past i64"))?),
        },
        Value::Float(v) => v.map_or(V::Null, |v| V::Real(f64::from(v))),
        Value::Double(v) => v.map_or(V::Null, V::Real),
        Value::String(v) => v.map_or(V::Null, V::Text),
        Value::Char(v) => v.map_or(V::Null, |v| V::Text(v.to_string())),
        Value::Bytes(v) => v.map_or(V::Null, V::Blob),
        other => return Err(unsupported(&format!("{other:?}"))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_bind_to_their_storage_class() {
        use rusqlite::types::Value as V;
        assert_eq!(bind(Value::BigInt(Some(7))).unwrap(), V::Integer(7));
        assert_eq!(bind(Value::BigInt(None)).unwrap(), V::Null);
        assert_eq!(bind(Value::Bool(Some(true))).unwrap(), V::Integer(1));
        assert_eq!(
            bind(Value::String(Some("a".into()))).unwrap(),
            V::Text("a".into())
        );
        assert_eq!(bind(Value::Bytes(Some(vec![1]))).unwrap(), V::Blob(vec![1]));
        assert!(bind(Value::BigUnsigned(Some(u64::MAX))).is_err());
    }
}
