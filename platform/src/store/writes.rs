//! The writes a command makes after its decision, as data: run one by one through an
//! [`Exec`], or, on PostgreSQL for a prepared decision, **chained into one statement** that
//! writes only if the aggregate's own guarded update did ([`chain`]).
//!
//! A command on PostgreSQL used to cost seven round trips (`BEGIN`, claim, load, update,
//! outbox, response, `COMMIT`). A decision prepared on the read cache's copy
//! ([`super::pipeline`]) already knows everything it writes, so it goes as one statement in
//! its own implicit transaction:
//!
//! ```sql
//! WITH saved AS (UPDATE <table> SET ... WHERE id = $1 AND version = $2 RETURNING 1),
//!      w1 AS (INSERT INTO outbox (...) SELECT $3, ... WHERE EXISTS (SELECT 1 FROM saved)),
//!      w2 AS (INSERT INTO idempotency (...) SELECT $9, ... WHERE EXISTS (SELECT 1 FROM saved))
//! SELECT COUNT(*) FROM saved
//! ```
//!
//! The update's row lock orders it against every other writer of the aggregate (a
//! concurrent one re-checks the version after the lock is released), and every other write
//! depends on it: a copy that was stale writes nothing and answers 0. The idempotency record
//! is a plain insert, so a request id already recorded fails the whole statement. In both
//! cases the command runs again through its ordinary transaction, which decides on what it
//! loads and replays or refuses as usual.

use std::fmt::Write as _;

use sea_orm::{
    DbBackend, DbErr, Statement,
    sea_query::{
        Alias, DeleteStatement, Expr, PostgresQueryBuilder, Query, SelectStatement,
        SqlWriterValues, UpdateStatement,
    },
};

use super::exec::Exec;

/// One write after the decision.
pub(super) enum WriteStep {
    /// Inserts one row.
    Insert {
        table: Alias,
        columns: Vec<&'static str>,
        values: Vec<Expr>,
    },
    Update(UpdateStatement),
    Delete(DeleteStatement),
}

impl WriteStep {
    /// Runs the step on its own; answers the rows it changed.
    pub(super) async fn run(self, ex: &impl Exec) -> Result<u64, DbErr> {
        match self {
            WriteStep::Insert {
                table,
                columns,
                values,
            } => {
                // Built in place: `to_owned` on the builder would copy every value (the
                // response, the envelope) once more.
                let mut insert = Query::insert();
                insert
                    .into_table(table)
                    .columns(columns)
                    .values(values)
                    .map_err(|e| DbErr::Custom(e.to_string()))?;
                ex.execute(&insert).await
            }
            WriteStep::Update(update) => ex.execute(&update).await,
            WriteStep::Delete(delete) => ex.execute(&delete).await,
        }
    }

    /// Writes the step into `sql` so that it changes anything only when `guard` returns a row.
    fn guarded(self, guard: &SelectStatement, sql: &mut SqlWriterValues) -> Result<(), DbErr> {
        let exists = || Expr::exists(guard.clone());
        match self {
            WriteStep::Insert {
                table,
                columns,
                values,
            } => Query::insert()
                .into_table(table)
                .columns(columns)
                .select_from(Query::select().exprs(values).and_where(exists()).to_owned())
                .map_err(|e| DbErr::Custom(e.to_string()))?
                .build_collect_into(PostgresQueryBuilder, sql),
            WriteStep::Update(mut update) => update
                .and_where(exists())
                .build_collect_into(PostgresQueryBuilder, sql),
            WriteStep::Delete(mut delete) => delete
                .and_where(exists())
                .build_collect_into(PostgresQueryBuilder, sql),
        }
        Ok(())
    }
}

/// Runs the steps in order.
pub(super) async fn run_all(ex: &impl Exec, steps: Vec<WriteStep>) -> Result<(), DbErr> {
    for step in steps {
        step.run(ex).await?;
    }
    Ok(())
}

/// One PostgreSQL statement that runs `saved` (an update guarded by the version it expects)
/// and then every step, each only if `saved` changed a row; it selects how many it changed.
pub(super) fn chain(saved: &UpdateStatement, steps: Vec<WriteStep>) -> Result<Statement, DbErr> {
    let written = |e: std::fmt::Error| DbErr::Custom(e.to_string());
    let mut sql = SqlWriterValues::new("$", true);
    sql.write_str("WITH saved AS (").map_err(written)?;
    saved.build_collect_into(PostgresQueryBuilder, &mut sql);
    sql.write_str(" RETURNING 1)").map_err(written)?;
    let guard = Query::select()
        .expr(Expr::val(1))
        .from(Alias::new("saved"))
        .to_owned();
    for (index, step) in steps.into_iter().enumerate() {
        write!(sql, ", w{index} AS (").map_err(written)?;
        step.guarded(&guard, &mut sql)?;
        sql.write_str(")").map_err(written)?;
    }
    sql.write_str(" SELECT COUNT(*) FROM saved")
        .map_err(written)?;
    let (sql, values) = sql.into_parts();
    Ok(Statement::from_sql_and_values(
        DbBackend::Postgres,
        sql,
        values,
    ))
}

#[cfg(test)]
mod tests {
    use sea_orm::sea_query::ExprTrait as _;

    use super::*;

    #[test]
    fn every_step_of_a_chain_depends_on_the_guarded_update_and_numbers_its_parameters_on() {
        let saved = Query::update()
            .table(Alias::new("users"))
            .value(Alias::new("version"), 3_i64)
            .and_where(Expr::col(Alias::new("id")).eq("u1"))
            .and_where(Expr::col(Alias::new("version")).eq(2_i64))
            .to_owned();
        let steps = vec![
            WriteStep::Insert {
                table: Alias::new("outbox"),
                columns: vec!["event_id", "envelope"],
                values: vec![Expr::val("e1"), Expr::val(vec![1_u8, 2])],
            },
            WriteStep::Delete(
                Query::delete()
                    .from_table(Alias::new("users_members"))
                    .and_where(Expr::col(Alias::new("value")).eq("x"))
                    .to_owned(),
            ),
        ];
        let statement = chain(&saved, steps).unwrap();
        assert_eq!(
            statement.sql,
            "WITH saved AS (UPDATE \"users\" SET \"version\" = $1 WHERE \"id\" = $2 AND \
             \"version\" = $3 RETURNING 1), \
             w0 AS (INSERT INTO \"outbox\" (\"event_id\", \"envelope\") SELECT $4, $5 WHERE \
             EXISTS(SELECT $6 FROM \"saved\")), \
             w1 AS (DELETE FROM \"users_members\" WHERE \"value\" = $7 AND \
             EXISTS(SELECT $8 FROM \"saved\")) \
             SELECT COUNT(*) FROM saved"
        );
        assert_eq!(statement.values.unwrap().0.len(), 8);
    }
}
