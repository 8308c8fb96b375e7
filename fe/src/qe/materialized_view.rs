//! Synchronous materialized views (rollups): `CREATE MATERIALIZED VIEW mv AS SELECT k1,
//! SUM(v) FROM t GROUP BY k1`. The view is a materialized index of the table: its own
//! tablets in every partition, bucket i next to the base's bucket i on the same backends.
//!
//! * **Creation** logs the index as BUILDING with its tablets. From then on every load
//!   writes the view's rows too (see the sink). [`run_build`] waits for the loads that
//!   began before (the watershed), then has each backend build the view's rows up to the
//!   partition's visible version from its base replica (`BuildIndex`), which replaces what
//!   loads wrote there up to that version; the rest came from the loads. Then the index is
//!   NORMAL and queries may read it (the planner's rollup selection).
//! * An aggregated view is an AGGREGATE KEY index: the GROUP BY columns are its keys, each
//!   `SUM` / `MIN` / `MAX` of a column a value column of that name merged the same way.
//!   A view without aggregates keeps the chosen columns as a DUPLICATE KEY index sorted by
//!   its ORDER BY (or first) columns.
//! * Base tables are DUPLICATE KEY tables (other models: a clear error).
//! * A heavy schema change (see `schema_change`) is built the same way: its shadow index
//!   has the table's new columns, with fill values for the added ones; when built it
//!   becomes the base instead of turning NORMAL.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, FunctionArguments, GroupByExpr, SelectItem,
    SetExpr, Statement as SqlStatement, TableFactor,
};
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use doris_common::types::ColumnType;
use doris_proto::BuildIndexRequest;
use tracing::{info, warn};

use super::ddl::{create_partition_tablets, drop_partition_tablets};
use super::show::{fmt_time, s};
use crate::catalog::{
    Aggregation, Column, IndexState, JournalEntry, KeysType, MaterializedIndex, Partition, Replica,
    Table, Tablet,
};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::Session;
use crate::sql::ast::TableName;

fn analysis(msg: impl Into<String>) -> FeError {
    FeError::Analysis(msg.into())
}

fn ident_of(e: &SqlExpr) -> Option<String> {
    match e {
        SqlExpr::Identifier(i) => Some(i.value.clone()),
        SqlExpr::CompoundIdentifier(parts) => parts.last().map(|i| i.value.clone()),
        _ => None,
    }
}

/// The index a `SELECT` defines over `table` (columns and model; ids set by the caller).
fn analyze(
    table: &Table,
    select: &datafusion::sql::sqlparser::ast::Select,
) -> Result<(Vec<Column>, KeysType, Vec<String>)> {
    let base = |name: &str| {
        table
            .column(name)
            .cloned()
            .ok_or_else(|| analysis(format!("Unknown column '{name}' in '{}'", table.name)))
    };
    let mut plain: Vec<Column> = Vec::new();
    let mut values: Vec<Column> = Vec::new();
    for item in &select.projection {
        let expr = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => {
                return Err(analysis(
                    "The materialized view does not support * in its select list",
                ))
            }
        };
        if let Some(name) = ident_of(expr) {
            plain.push(base(&name)?);
            continue;
        }
        let SqlExpr::Function(f) = expr else {
            return Err(FeError::NotSupported(format!(
                "materialized view expression {expr} (columns and SUM / MIN / MAX of columns are)"
            )));
        };
        let agg = match f.name.to_string().to_ascii_uppercase().as_str() {
            "SUM" => Aggregation::Sum,
            "MIN" => Aggregation::Min,
            "MAX" => Aggregation::Max,
            other => {
                return Err(FeError::NotSupported(format!(
                    "materialized view aggregate {other} (SUM, MIN and MAX are)"
                )))
            }
        };
        let arg = match &f.args {
            FunctionArguments::List(list) if list.args.len() == 1 => match &list.args[0] {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => ident_of(e),
                _ => None,
            },
            _ => None,
        }
        .ok_or_else(|| {
            FeError::NotSupported(format!(
                "materialized view aggregate of an expression: {expr}"
            ))
        })?;
        let mut c = base(&arg)?;
        if values
            .iter()
            .any(|v: &Column| v.name.eq_ignore_ascii_case(&c.name))
        {
            return Err(FeError::NotSupported(format!(
                "two aggregates of column {} in one materialized view",
                c.name
            )));
        }
        if agg == Aggregation::Sum {
            // Sums add up in a wider type, as the query's own SUM does.
            c.column_type = match c.column_type {
                ColumnType::TinyInt | ColumnType::SmallInt | ColumnType::Int => ColumnType::BigInt,
                ColumnType::Float => ColumnType::Double,
                ColumnType::Decimal { scale, .. } => ColumnType::Decimal {
                    precision: 38,
                    scale,
                },
                other => other,
            };
        }
        c.is_key = false;
        c.aggregation = Some(agg.name().to_string());
        c.default = None;
        c.fill_value = None;
        values.push(c);
    }
    let group_by: Vec<String> = match &select.group_by {
        GroupByExpr::Expressions(exprs, _) => exprs
            .iter()
            .map(|e| ident_of(e).ok_or_else(|| FeError::NotSupported(format!("GROUP BY {e}"))))
            .collect::<Result<_>>()?,
        GroupByExpr::All(_) => return Err(FeError::NotSupported("GROUP BY ALL".into())),
    };
    if values.is_empty() {
        if !group_by.is_empty() {
            return Err(analysis(
                "A materialized view with GROUP BY needs an aggregate",
            ));
        }
        // A DUPLICATE KEY index of the columns, keyed like CREATE TABLE infers keys.
        let mut keys = Vec::new();
        for c in plain.iter().take(3) {
            keys.push(c.name.clone());
            if matches!(
                c.column_type,
                ColumnType::Varchar { .. } | ColumnType::String | ColumnType::Char { .. }
            ) {
                break;
            }
        }
        let columns = plain
            .into_iter()
            .map(|mut c| {
                c.is_key = keys.contains(&c.name);
                c
            })
            .collect();
        return Ok((columns, KeysType::Duplicate, keys));
    }
    for c in &plain {
        if !group_by.iter().any(|g| g.eq_ignore_ascii_case(&c.name)) {
            return Err(analysis(format!(
                "The materialized view column {} must be in GROUP BY or an aggregate",
                c.name
            )));
        }
    }
    if plain.is_empty() {
        return Err(analysis(
            "An aggregated materialized view needs a GROUP BY column",
        ));
    }
    let keys: Vec<String> = plain.iter().map(|c| c.name.clone()).collect();
    let mut columns: Vec<Column> = plain
        .into_iter()
        .map(|mut c| {
            c.is_key = true;
            c.aggregation = None;
            c
        })
        .collect();
    columns.extend(values);
    Ok((columns, KeysType::Aggregate, keys))
}

fn parse_definition(query: &str) -> Result<(TableName, datafusion::sql::sqlparser::ast::Select)> {
    let mut stmts =
        Parser::parse_sql(&MySqlDialect {}, query).map_err(|e| FeError::Syntax(e.to_string()))?;
    let Some(SqlStatement::Query(q)) = stmts.pop() else {
        return Err(FeError::Syntax(
            "CREATE MATERIALIZED VIEW ... AS SELECT expected".into(),
        ));
    };
    if q.limit_clause.is_some() || q.with.is_some() {
        return Err(FeError::NotSupported(
            "LIMIT or WITH in a materialized view".into(),
        ));
    }
    let SetExpr::Select(select) = *q.body else {
        return Err(FeError::NotSupported(
            "a materialized view of a set operation".into(),
        ));
    };
    if select.selection.is_some() || select.having.is_some() || select.distinct.is_some() {
        return Err(FeError::NotSupported(
            "WHERE, HAVING or DISTINCT in a synchronous materialized view".into(),
        ));
    }
    let [from] = select.from.as_slice() else {
        return Err(FeError::NotSupported(
            "a materialized view of several tables".into(),
        ));
    };
    let TableFactor::Table { name, .. } = &from.relation else {
        return Err(FeError::NotSupported(
            "a materialized view of a subquery".into(),
        ));
    };
    if !from.joins.is_empty() {
        return Err(FeError::NotSupported(
            "a materialized view of a join".into(),
        ));
    }
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
        .collect();
    let table = match parts.as_slice() {
        [t] => TableName {
            db: None,
            table: t.clone(),
        },
        [d, t] => TableName {
            db: Some(d.clone()),
            table: t.clone(),
        },
        _ => return Err(FeError::Syntax(format!("invalid table name {name}"))),
    };
    Ok((table, *select))
}

/// Tablets for index `index_id` in `partition`: bucket i on the backends of the base's
/// bucket i (so each backend builds its view replicas from its own base replicas).
pub(super) fn plan_index_tablets(env: &Env, partition: &Partition) -> Result<Vec<Tablet>> {
    let replicas: usize = partition.tablets.iter().map(|t| 1 + t.replicas.len()).sum();
    let mut next = env.allocate_ids(replicas as i64)?;
    let mut take = || {
        let id = next;
        next += 1;
        id
    };
    Ok(partition
        .tablets
        .iter()
        .map(|base| Tablet {
            id: take(),
            replicas: base
                .replicas
                .iter()
                .map(|r| Replica {
                    id: take(),
                    backend_id: r.backend_id,
                })
                .collect(),
        })
        .collect())
}

/// `CREATE MATERIALIZED VIEW`.
pub async fn create(
    env: &Arc<Env>,
    session: &Session,
    name: &str,
    if_not_exists: bool,
    query: &str,
) -> Result<QueryOutput> {
    let (table_name, select) = parse_definition(query)?;
    let (db, table) = super::show::lookup_table(env, session, &table_name)?;
    let db_id = super::alter::db_id_of(env, &db)?;
    let lock = env.publish_lock(table.id);
    let _guard = lock.lock().await;
    let table = super::alter::current(env, db_id, table.id)?;
    if table
        .indexes
        .iter()
        .any(|i| i.name.eq_ignore_ascii_case(name))
        || table.name.eq_ignore_ascii_case(name)
    {
        if if_not_exists {
            return Ok(QueryOutput::ok());
        }
        return Err(analysis(format!(
            "Materialized view [{name}] already exists in table {}",
            table.name
        )));
    }
    if table.keys_type != KeysType::Duplicate {
        return Err(FeError::NotSupported(format!(
            "a materialized view of a {} table (DUPLICATE KEY tables take them)",
            table.keys_type.sql()
        )));
    }
    let (columns, keys_type, key_columns) = analyze(&table, &select)?;
    let index = MaterializedIndex {
        id: env.allocate_id()?,
        name: name.to_string(),
        columns,
        keys_type,
        key_columns,
        state: IndexState::Building,
        // Set by `add_index`.
        watershed_txn_id: 0,
        definition: query.trim().to_string(),
        create_time_ms: chrono::Utc::now().timestamp_millis(),
        finish_time_ms: 0,
        schema_change: false,
        fills: Vec::new(),
    };
    ensure_no_job(&table)?;
    add_index(env, db_id, &table, index).await?;
    Ok(QueryOutput::ok())
}

/// Refuses a change to `table`'s schema or indexes while a rollup or schema change job
/// runs on it, as Doris does.
pub(super) fn ensure_no_job(table: &Table) -> Result<()> {
    match table
        .indexes
        .iter()
        .find(|i| i.state == IndexState::Building)
    {
        Some(job) => Err(analysis(format!(
            "Table[{}]'s state({}) is not NORMAL. Do not allow doing ALTER ops",
            table.name,
            if job.schema_change {
                "SCHEMA_CHANGE"
            } else {
                "ROLLUP"
            }
        ))),
        None => Ok(()),
    }
}

/// Creates `index`'s tablets in every partition, logs it and starts its build.
pub(super) async fn add_index(
    env: &Arc<Env>,
    db_id: i64,
    table: &Table,
    mut index: MaterializedIndex,
) -> Result<()> {
    let mut with_index = table.clone();
    with_index.indexes.push(index.clone());
    let mut tablets = Vec::new();
    let mut partitions = Vec::new();
    for p in &table.partitions {
        let planned = plan_index_tablets(env, p)?;
        let mut q = p.clone();
        q.tablets = Vec::new();
        q.index_tablets = BTreeMap::from([(index.id, planned.clone())]);
        partitions.push(q);
        tablets.push((p.id, planned));
    }
    create_partition_tablets(env, &with_index, &partitions).await?;
    {
        // Under the transaction lock: a load whose id is past the watershed began after
        // the index was logged, so the sink it plans writes the index; older ones the
        // build waits for.
        let _guard = env.txn_lock.lock();
        index.watershed_txn_id = env.allocate_id()?;
        env.log_and_apply(JournalEntry::AddIndex {
            db_id,
            table_id: table.id,
            index: index.clone(),
            tablets,
        })?;
    }
    info!(table = %table.name, index = %index.name, "materialized index created; building");
    tokio::spawn(run_build(Arc::clone(env), db_id, table.id, index.id));
    Ok(())
}

/// `DROP MATERIALIZED VIEW mv ON t`.
pub async fn drop(
    env: &Arc<Env>,
    session: &Session,
    name: &str,
    table_name: &TableName,
    if_exists: bool,
) -> Result<QueryOutput> {
    let (db, table) = super::show::lookup_table(env, session, table_name)?;
    let db_id = super::alter::db_id_of(env, &db)?;
    let lock = env.publish_lock(table.id);
    let _guard = lock.lock().await;
    let table = super::alter::current(env, db_id, table.id)?;
    let Some(index) = table
        .indexes
        .iter()
        .find(|i| i.name.eq_ignore_ascii_case(name))
    else {
        if if_exists {
            return Ok(QueryOutput::ok());
        }
        return Err(analysis(format!(
            "Materialized view [{name}] does not exist in table [{}]",
            table.name
        )));
    };
    env.log_and_apply(JournalEntry::DropIndex {
        db_id,
        table_id: table.id,
        index_id: index.id,
    })?;
    let mut only_index: Vec<Partition> = table.partitions.clone();
    for p in only_index.iter_mut() {
        p.tablets = p.index_tablets.remove(&index.id).unwrap_or_default();
        p.index_tablets.clear();
    }
    drop_partition_tablets(env, &only_index).await;
    Ok(QueryOutput::ok())
}

/// Builds a materialized index's rows from before its creation, then marks it NORMAL.
/// Retries every few seconds until it succeeds or the index is gone.
pub async fn run_build(env: Arc<Env>, db_id: i64, table_id: i64, index_id: i64) {
    loop {
        // A new master resumes the build (see `resume_builds`).
        if !env.is_master() {
            return;
        }
        match build_once(&env, db_id, table_id, index_id).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => warn!(index_id, error = %e, "materialized view build failed; retrying"),
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// `Ok(true)`: built (or gone); `Ok(false)`: still waiting for older loads.
async fn build_once(env: &Arc<Env>, db_id: i64, table_id: i64, index_id: i64) -> Result<bool> {
    let Ok(table) = super::alter::current(env, db_id, table_id) else {
        return Ok(true);
    };
    let Some(index) = table.indexes.iter().find(|i| i.id == index_id) else {
        return Ok(true);
    };
    if index.state == IndexState::Normal {
        return Ok(true);
    }
    let waiting = env.catalog.read().txns.values().any(|t| {
        t.txn_id < index.watershed_txn_id && t.table_ids.contains(&table_id) && !t.status.is_final()
    });
    if waiting {
        return Ok(false);
    }
    // No publish while the index is built from the base's visible version and installed:
    // a DELETE published to the index in between would miss the built rows.
    let lock = env.publish_lock(table_id);
    let _guard = lock.lock().await;
    let table = super::alter::current(env, db_id, table_id)?;
    let base_names: Vec<String> = index
        .columns
        .iter()
        .map(|c| c.name.to_lowercase())
        .collect();
    let fills: std::collections::HashMap<u32, String> = index
        .fills
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((i as u32, f.clone()?)))
        .collect();
    for p in &table.partitions {
        let Some(index_tablets) = p.index_tablets.get(&index_id) else {
            continue;
        };
        for (base, view) in p.tablets.iter().zip(index_tablets) {
            for r in &view.replicas {
                let (host, port) =
                    crate::cluster::agent_address(env, r.backend_id).ok_or_else(|| {
                        FeError::Backend(format!("backend {} is not alive", r.backend_id))
                    })?;
                let mut client = env.clients.agent(&host, port)?;
                client
                    .build_index(BuildIndexRequest {
                        base_tablet_id: base.id,
                        index_tablet_id: view.id,
                        version: p.visible_version,
                        columns: base_names.clone(),
                        fills: fills.clone(),
                    })
                    .await
                    .map_err(|e| FeError::Backend(format!("{host}:{port}: {}", e.message())))?;
            }
        }
    }
    let time_ms = chrono::Utc::now().timestamp_millis();
    if index.schema_change {
        // The shadow becomes the base; the old base tablets go.
        env.log_and_apply(JournalEntry::FinishSchemaChange {
            db_id,
            table_id,
            index_id,
            time_ms,
        })?;
        let mut old_base = table.partitions.clone();
        for p in old_base.iter_mut() {
            p.index_tablets.clear();
        }
        // Queries planned on the old base may still be reading it: drop it a little later.
        let env = Arc::clone(env);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            drop_partition_tablets(&env, &old_base).await;
        });
        info!(table = %table.name, "schema change finished");
        return Ok(true);
    }
    env.log_and_apply(JournalEntry::IndexBuilt {
        db_id,
        table_id,
        index_id,
        time_ms,
    })?;
    info!(table = %table.name, view = %index.name, "materialized view built");
    Ok(true)
}

/// Resumes the builds of materialized indexes still BUILDING (after an FE restart).
pub fn resume_builds(env: &Arc<Env>) {
    let building: Vec<(i64, i64, i64)> = env
        .catalog
        .read()
        .databases
        .values()
        .flat_map(|d| {
            d.tables.values().flat_map(move |t| {
                t.indexes
                    .iter()
                    .filter(|i| i.state == IndexState::Building)
                    .map(move |i| (d.id, t.id, i.id))
            })
        })
        .collect();
    for (db_id, table_id, index_id) in building {
        tokio::spawn(run_build(Arc::clone(env), db_id, table_id, index_id));
    }
}

/// `SHOW ALTER TABLE MATERIALIZED VIEW [FROM db]`.
pub fn show_jobs(env: &Env, session: &Session, db: Option<&str>) -> Result<QueryOutput> {
    let db = match db.or(session.database.as_deref()) {
        Some(d) => d.to_string(),
        None => return Err(FeError::NoDatabaseSelected),
    };
    let catalog = env.catalog.read();
    let d = catalog
        .db_by_name(&db)
        .ok_or_else(|| FeError::UnknownDatabase(db.clone()))?;
    let mut rows = Vec::new();
    for t in d.tables.values() {
        for i in t.indexes.iter().filter(|i| !i.schema_change) {
            let (state, progress) = match i.state {
                IndexState::Building => ("RUNNING", "N/A"),
                IndexState::Normal => ("FINISHED", "N/A"),
            };
            rows.push(vec![
                s(i.id),
                s(&t.name),
                s(fmt_time(i.create_time_ms)),
                s(fmt_time(i.finish_time_ms)),
                s(&t.name),
                s(&i.name),
                s(i.id),
                s(i.watershed_txn_id),
                s(state),
                s(""),
                s(progress),
                s(86400),
            ]);
        }
    }
    QueryOutput::strings(
        &[
            "JobId",
            "TableName",
            "CreateTime",
            "FinishTime",
            "BaseIndexName",
            "RollupIndexName",
            "RollupId",
            "TransactionId",
            "State",
            "Msg",
            "Progress",
            "Timeout",
        ],
        rows,
    )
}
