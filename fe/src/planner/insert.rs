//! INSERT as a load transaction: begin (a txn id that is never reused), write on the BE
//! (pending rowsets), commit (the partition's next version in the edit log), publish on
//! every BE, visible (see `crate::txn`). The statement's rows appear all at once or not at all.
//! Entry point: [`run_insert`].

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Statement as SqlStatement};
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use futures::TryStreamExt;
use tracing::info;

use super::{build_context, coordinator, physical_plan, PlanEnv};
use crate::catalog::{LoadKind, LoadStats};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::Session;

/// `INSERT ... VALUES (1, DEFAULT)`: replaces `DEFAULT` by the column's default value.
fn fill_defaults(stmt: &mut SqlStatement, table: &crate::catalog::Table) {
    use crate::catalog::ColumnDefault;
    use datafusion::sql::sqlparser::ast::{SetExpr, Value};
    let SqlStatement::Insert(insert) = stmt else {
        return;
    };
    let names: Vec<String> = if insert.columns.is_empty() {
        table.columns.iter().map(|c| c.name.clone()).collect()
    } else {
        insert
            .columns
            .iter()
            .filter_map(|c| {
                c.0.last()
                    .and_then(|p| p.as_ident())
                    .map(|i| i.value.clone())
            })
            .collect()
    };
    let Some(SetExpr::Values(values)) = insert.source.as_mut().map(|q| q.body.as_mut()) else {
        return;
    };
    for row in values.rows.iter_mut() {
        for (expr, name) in row.iter_mut().zip(&names) {
            let is_default = matches!(expr, SqlExpr::Identifier(i)
                if i.quote_style.is_none() && i.value.eq_ignore_ascii_case("default"));
            if !is_default {
                continue;
            }
            let call = |f: &str| {
                datafusion::sql::sqlparser::parser::Parser::new(&MySqlDialect {})
                    .try_with_sql(f)
                    .and_then(|mut p| p.parse_expr())
                    .unwrap_or(SqlExpr::value(Value::Null))
            };
            *expr = match table.column(name).and_then(|c| c.default.clone()) {
                Some(ColumnDefault::Literal(v)) => SqlExpr::value(Value::SingleQuotedString(v)),
                Some(ColumnDefault::CurrentTimestamp) => call("now()"),
                Some(ColumnDefault::CurrentDate) => call("curdate()"),
                Some(ColumnDefault::Null) | None => SqlExpr::value(Value::Null),
            };
        }
    }
}

/// The columns a partial-update INSERT writes (its column list, which must name every key
/// column); `None` for an INSERT without a column list (it writes whole rows).
fn partial_columns(
    stmt: &SqlStatement,
    table: &crate::catalog::Table,
) -> Result<Option<Vec<String>>> {
    let SqlStatement::Insert(insert) = stmt else {
        return Ok(None);
    };
    if insert.columns.is_empty() {
        return Ok(None);
    }
    let names: Vec<String> = insert
        .columns
        .iter()
        .filter_map(|c| {
            c.0.last()
                .and_then(|p| p.as_ident())
                .map(|i| i.value.to_lowercase())
        })
        .collect();
    let missing: Vec<&str> = table
        .columns
        .iter()
        .filter(|c| c.is_key && !names.contains(&c.name.to_lowercase()))
        .map(|c| c.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(FeError::Analysis(format!(
            "Partial update should include all key columns, missing: {}",
            missing.join(", ")
        )));
    }
    Ok(Some(names))
}

/// Runs an INSERT (or the load a DELETE or UPDATE of a UNIQUE KEY table is, with `write`
/// saying how). Outside an explicit transaction it is its own load transaction
/// (labelled `label`, or a generated one); inside `BEGIN ... COMMIT` its rows are written
/// under a fresh sub-id and become visible with the transaction's COMMIT.
pub(super) async fn run_insert(
    env: &Arc<Env>,
    session: &mut Session,
    mut stmt: SqlStatement,
    (db_id, table_id, table_name): (i64, i64, String),
    label: Option<String>,
    write: PlanEnv,
) -> Result<QueryOutput> {
    let table = env
        .catalog
        .read()
        .databases
        .get(&db_id)
        .and_then(|d| d.tables.get(&table_id))
        .cloned();
    if let Some(t) = &table {
        fill_defaults(&mut stmt, t);
    }
    let mut write = write;
    if session.var("enable_unique_key_partial_update") == Some("true") {
        if let Some(t) = table.as_ref().filter(|t| t.merge_on_write()) {
            write.partial_columns = partial_columns(&stmt, t)?;
        }
    }
    if session.txn.is_some() {
        return insert_in_transaction(env, session, stmt, (db_id, table_id), label, write).await;
    }
    let txn = begin_insert_txn(env, session, (db_id, table_id), label)?;
    let (txn_id, label) = (txn.txn_id, txn.label);
    let rows = match write_rows(env, session, stmt, txn_id, write).await {
        Ok(rows) => rows,
        Err(e) => {
            crate::txn::abort(env, txn_id, &e.to_string(), LoadStats::default()).await?;
            return Err(e);
        }
    };
    if rows == 0 {
        crate::txn::abort(env, txn_id, "no data to load", LoadStats::default()).await?;
        return Ok(QueryOutput::Ok {
            affected_rows: 0,
            info: crate::txn::load_info(&label, "VISIBLE", &txn_id.to_string()),
        });
    }
    let stats = LoadStats {
        total_rows: rows,
        loaded_rows: rows,
        ..LoadStats::default()
    };
    let status = crate::txn::commit(env, txn_id, stats, None).await?;
    info!(txn_id, rows, table = %table_name, status = status.name(), "insert committed");
    Ok(QueryOutput::Ok {
        affected_rows: rows,
        info: crate::txn::load_info(&label, status.name(), &txn_id.to_string()),
    })
}

/// Begins the load transaction of an INSERT, or of the explicit transaction it is the
/// first write of.
fn begin_insert_txn(
    env: &Env,
    session: &Session,
    (db_id, table_id): (i64, i64),
    label: Option<String>,
) -> Result<crate::catalog::LoadTxn> {
    crate::txn::begin(
        env,
        crate::txn::BeginRequest {
            db_id,
            table_id,
            label,
            kind: LoadKind::Insert,
            coordinator: crate::txn::fe_coordinator(),
            coordinator_backend: None,
            user: session.user.clone(),
            client_ip: session.client_host.clone(),
            two_phase_commit: false,
            timeout_ms: crate::txn::insert_timeout_ms(env),
        },
    )
}

/// An INSERT between BEGIN and COMMIT: writes under a fresh sub-id, visible at COMMIT.
async fn insert_in_transaction(
    env: &Arc<Env>,
    session: &mut Session,
    stmt: SqlStatement,
    (db_id, table_id): (i64, i64),
    label: Option<String>,
    write: PlanEnv,
) -> Result<QueryOutput> {
    if label.is_some() {
        return Err(FeError::TxnState(
            "a label cannot be given to an INSERT inside a transaction; give it to BEGIN".into(),
        ));
    }
    let Some(open) = session.txn.clone() else {
        return Err(FeError::Internal("no open transaction".into()));
    };
    let (txn_id, txn_label, txn_db) = match open.started {
        Some(started) => started,
        None => {
            let txn = begin_insert_txn(
                env,
                session,
                (db_id, table_id),
                open.requested_label.clone(),
            )?;
            let started = (txn.txn_id, txn.label, db_id);
            if let Some(open) = session.txn.as_mut() {
                open.started = Some(started.clone());
            }
            started
        }
    };
    if txn_db != db_id {
        return Err(FeError::TxnState(format!(
            "Transaction insert must be in the same database, expect db_id={txn_db}"
        )));
    }
    let sub_txn_id = env.allocate_id()?;
    let rows = match write_rows(env, session, stmt, sub_txn_id, write).await {
        Ok(rows) => rows,
        Err(e) => {
            crate::txn::clear_on_backends(env, vec![sub_txn_id]).await;
            return Err(e);
        }
    };
    if rows > 0 {
        crate::txn::add_sub_txn(env, txn_id, sub_txn_id, table_id)?;
        if let Some(open) = session.txn.as_mut() {
            open.sub_txns.push((sub_txn_id, table_id));
            open.rows += rows;
        }
    }
    Ok(QueryOutput::Ok {
        affected_rows: rows,
        info: crate::txn::load_info(&txn_label, "PREPARE", &txn_id.to_string()),
    })
}

/// Plans and runs the insert's fragment, writing pending rowsets under `txn_id` as `write`
/// says (delete sign, partitions); returns the rows written.
async fn write_rows(
    env: &Arc<Env>,
    session: &Session,
    stmt: SqlStatement,
    txn_id: i64,
    write: PlanEnv,
) -> Result<u64> {
    let plan_env = Arc::new(PlanEnv {
        insert_txn: Some(txn_id),
        ..write
    });
    let ctx = build_context(env, session, plan_env);
    let plan = physical_plan(env, session, &ctx, stmt).await?;
    let out = coordinator::execute_plan(env, session, &ctx, plan).await?;
    let batches: Vec<_> = out.batches.try_collect().await?;
    Ok(batches
        .iter()
        .filter(|b| b.num_columns() == 1)
        .filter_map(|b| {
            b.column(0)
                .as_primitive_opt::<UInt64Type>()
                .map(|a| a.iter().flatten().sum::<u64>())
        })
        .sum())
}

/// Doris's `INSERT INTO t [PARTITION (...)] WITH LABEL l [(cols)] ...`: removes the
/// `WITH LABEL l` (sqlparser does not know it) and returns the label.
pub(super) fn take_insert_label(sql: &str) -> (String, Option<String>) {
    use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
    let Ok(tokens) = Tokenizer::new(&MySqlDialect {}, sql).tokenize() else {
        return (sql.to_string(), None);
    };
    let significant: Vec<usize> = tokens
        .iter()
        .enumerate()
        .filter(|(_, t)| !matches!(t, Token::Whitespace(_)))
        .map(|(i, _)| i)
        .collect();
    let word_is = |i: usize, kw: &str| matches!(&tokens[i], Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw));
    let is_insert = significant.first().is_some_and(|&i| word_is(i, "INSERT"));
    if !is_insert {
        return (sql.to_string(), None);
    }
    for w in significant.windows(3) {
        let [with, label_kw, value] = [w[0], w[1], w[2]];
        if !(word_is(with, "WITH") && word_is(label_kw, "LABEL")) {
            continue;
        }
        let label = match &tokens[value] {
            Token::Word(w) => w.value.clone(),
            Token::SingleQuotedString(s) | Token::DoubleQuotedString(s) => s.clone(),
            _ => continue,
        };
        let text: String = tokens
            .iter()
            .enumerate()
            .filter(|(i, _)| !(with..=value).contains(i))
            .map(|(_, t)| t.to_string())
            .collect();
        return (text, Some(label));
    }
    (sql.to_string(), None)
}

#[cfg(test)]
mod tests {
    use super::take_insert_label;

    #[test]
    fn insert_label_is_taken_out() {
        let (sql, label) = take_insert_label(
            "INSERT INTO t WITH LABEL my_label_1 (a, b) VALUES (1, 'with label')",
        );
        assert_eq!(label.as_deref(), Some("my_label_1"));
        assert_eq!(sql, "INSERT INTO t  (a, b) VALUES (1, 'with label')");
        let (sql, label) = take_insert_label("insert into d.t with label `l2` select 1");
        assert_eq!(label.as_deref(), Some("l2"));
        assert_eq!(sql, "insert into d.t  select 1");
        let (sql, label) = take_insert_label("SELECT 'WITH LABEL x'");
        assert_eq!((sql.as_str(), label), ("SELECT 'WITH LABEL x'", None));
    }
}
