//! The writes a command makes after its decision, as data: run one by one through an
//! [`Exec`], or, on PostgreSQL for a prepared decision, **chained into one statement** that
//! writes only if the aggregate's own guarded update did ([`chain`]).
//!
//! A command on PostgreSQL used to cost seven round trips (`BEGIN`, claim, load, update,
//! outbox, response, `COMMIT`). A decision prepared on the read cache's copy
//! ([`super::pipeline`]) already knows everything it writes, so it goes as one statement in
//! its own implicit transaction, together with the other commands of its method waiting for a
//! lane ([`super::lanes`]), each under names of its own:
//!
//! ```sql
//! WITH s0 AS (UPDATE <table> SET ... WHERE id = $1 AND version = $2 RETURNING 1),
//!      s0w0 AS (INSERT INTO outbox (...) SELECT $3, ... WHERE EXISTS (SELECT 1 FROM s0)),
//!      s0w1 AS (INSERT INTO idempotency (...) SELECT $9, ... WHERE EXISTS (SELECT 1 FROM s0)),
//!      s1 AS (UPDATE <table> SET ... WHERE id = $15 AND version = $16 RETURNING 1), ...
//! SELECT (SELECT COUNT(*) FROM s0), (SELECT COUNT(*) FROM s1), ...
//! ```
//!
//! The update's row lock orders it against every other writer of the aggregate (a
//! concurrent one re-checks the version after the lock is released), and every other write
//! of its command depends on it: a copy that was stale writes nothing and answers 0, and the
//! other commands of the statement are written all the same. The idempotency record is a
//! plain insert, so a request id already recorded fails the whole statement, every command in
//! it. In both cases the command runs again through its ordinary transaction, which decides
//! on what it loads and replays or refuses as usual.

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

/// The writes of one prepared command on PostgreSQL: `saved` (an update guarded by the
/// version it expects) and the steps that depend on it.
pub(super) struct Chain {
    /// The aggregate's guarded update.
    pub saved: UpdateStatement,
    /// What the command writes besides, each only if `saved` changed a row.
    pub steps: Vec<WriteStep>,
}

/// One PostgreSQL statement that runs the chains in order, each `saved` and then every one of
/// its steps only if that `saved` changed a row; its one row selects, per chain, how many
/// rows its `saved` changed. The statement is one implicit transaction: it commits all the
/// chains or none.
pub(super) fn chain(chains: Vec<Chain>) -> Result<Statement, DbErr> {
    let written = |e: std::fmt::Error| DbErr::Custom(e.to_string());
    let count = chains.len();
    let mut sql = SqlWriterValues::new("$", true);
    sql.write_str("WITH ").map_err(written)?;
    for (n, Chain { saved, steps }) in chains.into_iter().enumerate() {
        if n > 0 {
            sql.write_str(", ").map_err(written)?;
        }
        write!(sql, "s{n} AS (").map_err(written)?;
        saved.build_collect_into(PostgresQueryBuilder, &mut sql);
        sql.write_str(" RETURNING 1)").map_err(written)?;
        let guard = Query::select()
            .expr(Expr::val(1))
            .from(Alias::new(format!("s{n}")))
            .to_owned();
        for (index, step) in steps.into_iter().enumerate() {
            write!(sql, ", s{n}w{index} AS (").map_err(written)?;
            step.guarded(&guard, &mut sql)?;
            sql.write_str(")").map_err(written)?;
        }
    }
    sql.write_str(" SELECT ").map_err(written)?;
    for n in 0..count {
        if n > 0 {
            sql.write_str(", ").map_err(written)?;
        }
        write!(sql, "(SELECT COUNT(*) FROM s{n})").map_err(written)?;
    }
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

    /// The guarded update of user `id` from `version` to the next.
    fn saved(id: &str, version: i64) -> UpdateStatement {
        Query::update()
            .table(Alias::new("users"))
            .value(Alias::new("version"), version + 1)
            .and_where(Expr::col(Alias::new("id")).eq(id))
            .and_where(Expr::col(Alias::new("version")).eq(version))
            .to_owned()
    }

    #[test]
    fn every_step_depends_on_its_own_commands_update_and_parameters_number_on_across_commands() {
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
        let statement = chain(vec![
            Chain {
                saved: saved("u1", 2),
                steps,
            },
            Chain {
                saved: saved("u2", 7),
                steps: Vec::new(),
            },
        ])
        .unwrap();
        assert_eq!(
            statement.sql,
            "WITH s0 AS (UPDATE \"users\" SET \"version\" = $1 WHERE \"id\" = $2 AND \
             \"version\" = $3 RETURNING 1), \
             s0w0 AS (INSERT INTO \"outbox\" (\"event_id\", \"envelope\") SELECT $4, $5 WHERE \
             EXISTS(SELECT $6 FROM \"s0\")), \
             s0w1 AS (DELETE FROM \"users_members\" WHERE \"value\" = $7 AND \
             EXISTS(SELECT $8 FROM \"s0\")), \
             s1 AS (UPDATE \"users\" SET \"version\" = $9 WHERE \"id\" = $10 AND \
             \"version\" = $11 RETURNING 1) \
             SELECT (SELECT COUNT(*) FROM s0), (SELECT COUNT(*) FROM s1)"
        );
        assert_eq!(statement.values.unwrap().0.len(), 11);
    }
}
