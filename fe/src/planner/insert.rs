//! INSERT as a load transaction: begin (a txn id that is never reused), write on the BE
//! (pending rowsets), commit (the partition's next version in the edit log), publish on
//! every BE, visible. The statement's rows appear all at once or not at all.
//! Entry point: [`run_insert`].

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::sql::sqlparser::ast::{Expr as SqlExpr, Statement as SqlStatement};
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use doris_proto::ClearTransactionRequest;
use futures::TryStreamExt;
use tracing::{info, warn};

use super::{build_context, coordinator, physical_plan, PlanEnv};
use crate::catalog::{CommittedTxn, JournalEntry};
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

pub(super) async fn run_insert(
    env: &Arc<Env>,
    session: &Session,
    mut stmt: SqlStatement,
    (db_id, table_id, table_name): (i64, i64, String),
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
    let txn_id = env.allocate_id()?;
    let label = format!("insert_{}", uuid::Uuid::new_v4().simple());
    let plan_env = Arc::new(PlanEnv {
        insert_txn: Some(txn_id),
    });
    let ctx = build_context(env, session, plan_env);
    let plan = physical_plan(&ctx, stmt).await?;
    let backends = {
        let mut sets = Vec::new();
        collect_sink_backends(&plan, &mut sets);
        sets
    };
    let written = async {
        let out = coordinator::execute_plan(env, session, &ctx, plan).await?;
        let batches: Vec<_> = out.batches.try_collect().await?;
        let rows: u64 = batches
            .iter()
            .filter(|b| b.num_columns() == 1)
            .filter_map(|b| {
                b.column(0)
                    .as_primitive_opt::<UInt64Type>()
                    .map(|a| a.iter().flatten().sum::<u64>())
            })
            .sum();
        Ok::<u64, FeError>(rows)
    }
    .await;
    let rows = match written {
        Ok(r) => r,
        Err(e) => {
            abort_txn(env, txn_id, &backends).await;
            return Err(e);
        }
    };
    if rows == 0 {
        abort_txn(env, txn_id, &backends).await;
        return Ok(QueryOutput::Ok {
            affected_rows: 0,
            info: format!("{{'label':'{label}', 'status':'VISIBLE', 'txnId':'{txn_id}'}}"),
        });
    }
    let lock = env.publish_lock(table_id);
    let _guard = lock.lock().await;
    // Earlier committed loads of this table must be visible first (versions in order).
    let earlier: Vec<CommittedTxn> = env
        .catalog
        .read()
        .committed_txns
        .values()
        .filter(|t| t.table_id == table_id)
        .cloned()
        .collect();
    for t in earlier {
        if let Err(e) = crate::cluster::publish::publish_txn(env, &t).await {
            abort_txn(env, txn_id, &backends).await;
            return Err(FeError::Backend(format!(
                "an earlier load (txn {}) of `{table_name}` is not published yet: {e}",
                t.txn_id
            )));
        }
    }
    let txn = {
        let catalog = env.catalog.read();
        let table = catalog
            .databases
            .get(&db_id)
            .and_then(|d| d.tables.get(&table_id))
            .ok_or_else(|| FeError::UnknownTable(table_name.clone()))?;
        CommittedTxn {
            txn_id,
            label: label.clone(),
            db_id,
            table_id,
            partition_versions: table
                .partitions
                .iter()
                .map(|p| (p.id, p.next_version))
                .collect(),
            commit_time_ms: chrono::Utc::now().timestamp_millis(),
            rows,
        }
    };
    env.log_and_apply(JournalEntry::CommitTxn { txn: txn.clone() })?;
    let status = match crate::cluster::publish::publish_txn(env, &txn).await {
        Ok(()) => "VISIBLE",
        Err(e) => {
            warn!(txn_id, error = %e, "publish failed; will retry");
            "COMMITTED"
        }
    };
    info!(txn_id, rows, table = %table_name, status, "insert committed");
    Ok(QueryOutput::Ok {
        affected_rows: rows,
        info: format!("{{'label':'{label}', 'status':'{status}', 'txnId':'{txn_id}'}}"),
    })
}

fn collect_sink_backends(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<i64>) {
    if let Some(sink) = plan.downcast_ref::<doris_common::fragment::OlapTableSinkExec>() {
        out.extend(sink.spec.replica_backends.iter().copied());
    }
    for c in plan.children() {
        collect_sink_backends(c, out);
    }
}

/// Tells backends to drop what a failed load wrote (best effort; unpublished data also
/// expires on the BE after `pending_data_expire_time_sec`).
async fn abort_txn(env: &Arc<Env>, txn_id: i64, backends: &[i64]) {
    for b in backends {
        if let Some((host, port)) = crate::cluster::agent_address(env, *b) {
            if let Ok(mut c) = env.clients.agent(&host, port) {
                let _ = c
                    .clear_transaction(ClearTransactionRequest { txn_id })
                    .await;
            }
        }
    }
}
