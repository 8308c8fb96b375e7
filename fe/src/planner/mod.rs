//! Query planning with DataFusion: builds a per-statement `SessionContext` over the
//! catalog, applies MySQL semantics, plans SELECT and INSERT, and hands the physical plan
//! to the [`coordinator`]. INSERT runs as a load transaction: write on the BE, commit
//! (new partition version in the edit log), publish, visible. Entry points: [`run_query`],
//! [`explain`], [`eval_constant`].

pub mod catalog;
pub mod coordinator;
mod names;
mod rules;
mod views;

use std::sync::Arc;

use datafusion::arrow::array::AsArray;
use datafusion::arrow::datatypes::UInt64Type;
use datafusion::execution::context::SQLOptions;
use datafusion::execution::SessionStateBuilder;
use datafusion::logical_expr::LogicalPlan;
use datafusion::optimizer::{Analyzer, AnalyzerRule};
use datafusion::physical_plan::{displayable, ExecutionPlan};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::parser::{DFParser, Statement as DfStatement};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, FunctionArg, FunctionArgExpr, ObjectName, ObjectType,
    Statement as SqlStatement, TableFactor, TableObject, VisitMut, VisitorMut,
};
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::variable::VarType;
use doris_proto::ClearTransactionRequest;
use futures::TryStreamExt;
use tracing::{info, warn};

use crate::catalog::{CommittedTxn, JournalEntry};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::Session;
use catalog::{InternalCatalog, PlanEnv};

/// The catalog name DataFusion resolves unqualified tables in (Doris's internal catalog).
pub const INTERNAL_CATALOG: &str = "internal";
/// Default schema of a session without a current database; errors naming it mean
/// "No database selected".
pub const NO_DATABASE_SCHEMA: &str = "__no_database_selected__";

/// A DataFusion context over a catalog snapshot with the project's functions and MySQL
/// semantics, resolving unqualified tables in `default_db`.
pub(crate) fn base_context(
    env: Arc<Env>,
    plan_env: Arc<PlanEnv>,
    default_db: Option<String>,
    parallelism: usize,
    batch_size: usize,
) -> SessionContext {
    let schema = default_db.unwrap_or_else(|| NO_DATABASE_SCHEMA.into());
    let mut config = SessionConfig::new()
        .with_information_schema(true)
        .with_default_catalog_and_schema(INTERNAL_CATALOG, schema)
        .with_create_default_catalog_and_schema(false)
        .with_target_partitions(parallelism)
        .with_batch_size(batch_size);
    doris_common::functions::apply_mysql_options(config.options_mut());
    config.options_mut().sql_parser.dialect = datafusion::config::Dialect::MySQL;
    // MySQL: NULL is the smallest value (first in ASC, last in DESC).
    config.options_mut().sql_parser.default_null_ordering = "nulls_min".into();
    // Our analyzer rules run before DataFusion's (type coercion in particular).
    let mut analyzer_rules: Vec<Arc<dyn AnalyzerRule + Send + Sync>> =
        vec![Arc::new(rules::DatetimeLiterals)];
    analyzer_rules.extend(Analyzer::new().rules);
    let state = SessionStateBuilder::new()
        .with_config(config)
        .with_default_features()
        .with_analyzer_rules(analyzer_rules)
        .build();
    let ctx = SessionContext::new_with_state(state);
    ctx.register_catalog(
        INTERNAL_CATALOG,
        Arc::new(InternalCatalog { env, plan_env }),
    );
    doris_common::functions::register_mysql_functions(&ctx);
    ctx.register_udtf("numbers", Arc::new(doris_common::fragment::NumbersFunction));
    ctx
}

/// A DataFusion context for one statement of `session`.
fn build_context(env: &Arc<Env>, session: &Session, plan_env: Arc<PlanEnv>) -> SessionContext {
    let ctx = base_context(
        Arc::clone(env),
        plan_env,
        session.database.clone(),
        session.parallelism(),
        session.batch_size(),
    );
    for udf in doris_common::functions::session_udfs(
        session.database.clone(),
        format!("{}@{}", session.user, session.client_host),
        session.connection_id,
    ) {
        ctx.register_udf(udf);
    }
    if let Some(tz) = session_time_zone(session) {
        ctx.state_ref()
            .write()
            .config_mut()
            .options_mut()
            .execution
            .time_zone = Some(tz);
    }
    let vars = crate::qe::session_var_provider(session);
    ctx.register_variable(VarType::System, Arc::clone(&vars));
    ctx.register_variable(VarType::UserDefined, vars);
    ctx
}

/// The session's `time_zone` if it names a zone (`+08:00`, `Asia/Shanghai`); `SYSTEM` or
/// anything unparsable means the server's local zone.
pub fn session_time_zone(session: &Session) -> Option<String> {
    doris_common::functions::valid_time_zone(session.var("time_zone")?)
}

/// `numbers("number" = "10")`: sqlparser reads `"number" = "10"` as a comparison of two
/// strings; rewrite the argument to the plain count so the table function sees a literal.
struct NumbersArgs;

impl VisitorMut for NumbersArgs {
    type Break = ();

    fn pre_visit_table_factor(
        &mut self,
        factor: &mut TableFactor,
    ) -> std::ops::ControlFlow<Self::Break> {
        if let TableFactor::Table {
            name,
            args: Some(args),
            ..
        } = factor
        {
            let is_numbers = name
                .0
                .last()
                .and_then(|p| p.as_ident())
                .is_some_and(|i| i.value.eq_ignore_ascii_case("numbers"));
            if is_numbers {
                for arg in args.args.iter_mut() {
                    if let FunctionArg::Unnamed(FunctionArgExpr::Expr(SqlExpr::BinaryOp {
                        right,
                        ..
                    })) = arg
                    {
                        let value = (**right).clone();
                        *arg = FunctionArg::Unnamed(FunctionArgExpr::Expr(value));
                    }
                }
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

pub(crate) fn parse_one(sql: &str) -> Result<SqlStatement> {
    Ok(parse_with_names(sql)?.0)
}

/// Parses one statement, applies MySQL semantics, and returns it with the result column
/// names a client should see (see [`names::display_names`]).
fn parse_with_names(sql: &str) -> Result<(SqlStatement, Option<Vec<String>>)> {
    let mut stmts = DFParser::parse_sql_with_dialect(sql, &MySqlDialect {})?;
    if stmts.len() != 1 {
        return Err(FeError::Syntax("expected exactly one statement".into()));
    }
    match stmts.pop_front() {
        Some(DfStatement::Statement(s)) => {
            let mut s = *s;
            let display = names::display_names(&s, sql);
            names::prepare_select_names(&mut s, sql)?;
            doris_common::functions::rewrite_mysql_semantics(&mut s);
            let _ = s.visit(&mut NumbersArgs);
            Ok((s, display))
        }
        Some(_) => Err(FeError::NotSupported(format!("statement: {sql}"))),
        None => Err(FeError::Syntax("Query was empty".into())),
    }
}

/// Gives result columns the names the client wrote (MySQL keeps the case of aliases).
fn with_display_names(out: QueryOutput, display: Option<Vec<String>>) -> QueryOutput {
    match (out, display) {
        (QueryOutput::Rows(mut rows), Some(names)) if names.len() == rows.schema.fields().len() => {
            let fields: Vec<_> = rows
                .schema
                .fields()
                .iter()
                .zip(names)
                .map(|(f, n)| f.as_ref().clone().with_name(n))
                .collect();
            rows.schema = Arc::new(datafusion::arrow::datatypes::Schema::new(fields));
            QueryOutput::Rows(rows)
        }
        (out, _) => out,
    }
}

pub(crate) async fn logical_plan(ctx: &SessionContext, stmt: SqlStatement) -> Result<LogicalPlan> {
    let plan = ctx
        .state()
        .statement_to_plan(DfStatement::Statement(Box::new(stmt)))
        .await?;
    SQLOptions::new()
        .with_allow_ddl(false)
        .with_allow_statements(false)
        .with_allow_dml(true)
        .verify_plan(&plan)
        .map_err(|_| FeError::NotSupported(format!("statement {}", plan.display())))?;
    Ok(plan)
}

async fn physical_plan(ctx: &SessionContext, stmt: SqlStatement) -> Result<Arc<dyn ExecutionPlan>> {
    let plan = logical_plan(ctx, stmt).await?;
    Ok(ctx.state().create_physical_plan(&plan).await?)
}

fn insert_target(stmt: &SqlStatement) -> Option<&ObjectName> {
    match stmt {
        SqlStatement::Insert(insert) => match &insert.table {
            TableObject::TableName(name) => Some(name),
            _ => None,
        },
        _ => None,
    }
}

/// Resolves `[db.]table` to `(db_id, table_id)`.
pub(crate) fn resolve_table(
    env: &Env,
    session: &Session,
    name: &ObjectName,
) -> Result<(i64, i64, String)> {
    let parts: Vec<String> = name
        .0
        .iter()
        .filter_map(|p| p.as_ident().map(|i| i.value.clone()))
        .collect();
    let (db, table) = match parts.as_slice() {
        [t] => (
            session
                .database
                .clone()
                .ok_or(FeError::NoDatabaseSelected)?,
            t.clone(),
        ),
        [d, t] | [_, d, t] => (d.clone(), t.clone()),
        _ => return Err(FeError::Analysis(format!("invalid table name {name}"))),
    };
    let catalog = env.catalog.read();
    let d = catalog
        .db_by_name(&db)
        .ok_or_else(|| FeError::UnknownDatabase(db.clone()))?;
    let t = d
        .table_by_name(&table)
        .ok_or_else(|| FeError::UnknownTable(table.clone()))?;
    Ok((d.id, t.id, t.name.clone()))
}

/// Runs a SELECT/INSERT/... statement.
pub async fn run_query(env: &Arc<Env>, session: &mut Session, sql: &str) -> Result<QueryOutput> {
    let (stmt, display) = parse_with_names(sql)?;
    match &stmt {
        SqlStatement::CreateView(cv) => return views::create_view(env, session, cv).await,
        SqlStatement::Drop {
            object_type: ObjectType::View,
            if_exists,
            names,
            ..
        } => return views::drop_views(env, session, names, *if_exists),
        _ => {}
    }
    if let Some(name) = insert_target(&stmt) {
        let target = resolve_table(env, session, name)?;
        return run_insert(env, session, stmt, target).await;
    }
    let ctx = build_context(env, session, Arc::new(PlanEnv::default()));
    let plan = physical_plan(&ctx, stmt).await?;
    Ok(with_display_names(
        rows(env, session, &ctx, plan).await?,
        display,
    ))
}

async fn rows(
    env: &Arc<Env>,
    session: &Session,
    ctx: &SessionContext,
    plan: Arc<dyn ExecutionPlan>,
) -> Result<QueryOutput> {
    let rows = coordinator::execute_plan(env, session, ctx, plan).await?;
    Ok(QueryOutput::Rows(rows))
}

/// INSERT as a load transaction; the statement's rows become visible all at once.
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

async fn run_insert(
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
        if let Some((host, port)) = crate::qe::agent_address(env, *b) {
            if let Ok(mut c) = env.clients.agent(&host, port) {
                let _ = c
                    .clear_transaction(ClearTransactionRequest { txn_id })
                    .await;
            }
        }
    }
}

/// `EXPLAIN`: the fragment plan as Doris-style text lines.
pub async fn explain(
    env: &Arc<Env>,
    session: &mut Session,
    sql: &str,
    verbose: bool,
    _analyze: bool,
) -> Result<QueryOutput> {
    let stmt = parse_one(sql)?;
    let plan_env = Arc::new(PlanEnv {
        insert_txn: insert_target(&stmt).map(|_| 0),
    });
    let ctx = build_context(env, session, plan_env);
    let logical = logical_plan(&ctx, stmt).await?;
    let physical = ctx.state().create_physical_plan(&logical).await?;
    let mut lines = vec![
        "PLAN FRAGMENT 0".to_string(),
        "  PARTITION: UNPARTITIONED".to_string(),
        String::new(),
        "  VRESULT SINK".to_string(),
        "     MYSQL_PROTOCAL".to_string(),
        String::new(),
    ];
    let text = displayable(physical.as_ref()).indent(verbose).to_string();
    lines.extend(text.lines().map(|l| format!("  {l}")));
    if verbose {
        lines.push(String::new());
        lines.push("LOGICAL PLAN".to_string());
        lines.extend(
            logical
                .display_indent()
                .to_string()
                .lines()
                .map(|l| format!("  {l}")),
        );
    }
    QueryOutput::strings(
        &["Explain String(Nereids Planner)"],
        lines.into_iter().map(|l| vec![Some(l)]).collect(),
    )
}

/// Evaluates a constant expression (e.g. `SET exec_mem_limit = 8*1024*1024*1024`).
pub async fn eval_constant(env: &Arc<Env>, session: &mut Session, expr: &str) -> Result<String> {
    let stmt = parse_one(&format!("SELECT {expr}"))?;
    let ctx = build_context(env, session, Arc::new(PlanEnv::default()));
    let plan = physical_plan(&ctx, stmt).await?;
    let out = coordinator::execute_plan(env, session, &ctx, plan).await?;
    let batches: Vec<_> = out.batches.try_collect().await?;
    let batch = batches
        .first()
        .filter(|b| b.num_rows() == 1 && b.num_columns() == 1)
        .ok_or_else(|| FeError::Analysis(format!("'{expr}' is not a constant")))?;
    let rendered = crate::mysql::result::render_rows(batch)?;
    Ok(rendered
        .into_iter()
        .next()
        .and_then(|r| r.into_iter().next().flatten())
        .unwrap_or_default())
}
