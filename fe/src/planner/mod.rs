//! Query planning with DataFusion: builds a per-statement `SessionContext` over the
//! catalog, applies MySQL semantics, plans SELECT (and INSERT, see [`insert`]), and hands
//! the physical plan to the [`coordinator`]. Entry points: [`run_query`], [`explain`],
//! [`eval_constant`].

mod aggregate_model;
pub mod catalog;
pub mod coordinator;
mod distribute;
mod dml;
mod explain;
pub(crate) mod information_schema;
mod insert;
mod join_order;
mod names;
mod prune;
mod rollup;
mod rules;
mod schedule;
pub(crate) mod stats;
mod subquery;
mod views;

use std::sync::Arc;

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
use futures::TryStreamExt;

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
        .with_information_schema(false)
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
    {
        let state = ctx.state_ref();
        let mut state = state.write();
        let optimizer = &mut state.config_mut().options_mut().optimizer;
        // Row estimates only (no byte sizes) decide between broadcast and shuffle joins.
        optimizer.hash_join_single_partition_threshold_rows = session.broadcast_row_limit();
        // Fragments are cut between operators: a UNION stays a union of partitions (an
        // interleave needs its inputs' hash partitioning, which exchanges do not declare to
        // the BE), and scalar subqueries that survive inlining (in views) become joins.
        optimizer.prefer_existing_union = true;
        optimizer.enable_physical_uncorrelated_scalar_subquery = false;
    }
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
    if session.var("disable_join_reorder") != Some("true") {
        ctx.add_optimizer_rule(Arc::new(join_order::ReorderJoins));
    }
    ctx.add_optimizer_rule(Arc::new(rollup::SelectRollup));
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

/// `FROM t PARTITION (p1, p2)` and `INSERT INTO t PARTITION (p1)`: not built yet; refused
/// so that a partition list is never silently ignored (reading every partition instead).
struct RefusePartitionLists;

impl VisitorMut for RefusePartitionLists {
    type Break = String;

    fn pre_visit_table_factor(
        &mut self,
        factor: &mut TableFactor,
    ) -> std::ops::ControlFlow<Self::Break> {
        match factor {
            TableFactor::Table {
                name, partitions, ..
            } if !partitions.is_empty() => std::ops::ControlFlow::Break(format!(
                "reading chosen partitions (`{name} PARTITION (...)`); filter on the partition column instead"
            )),
            _ => std::ops::ControlFlow::Continue(()),
        }
    }

    fn pre_visit_statement(
        &mut self,
        statement: &mut SqlStatement,
    ) -> std::ops::ControlFlow<Self::Break> {
        match statement {
            SqlStatement::Insert(insert) if insert.partitioned.is_some() => {
                std::ops::ControlFlow::Break(
                    "INSERT INTO t PARTITION (...); insert without the partition list (rows go to their partitions by value)"
                        .to_string(),
                )
            }
            _ => std::ops::ControlFlow::Continue(()),
        }
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
            if let std::ops::ControlFlow::Break(what) = s.visit(&mut RefusePartitionLists) {
                return Err(FeError::NotSupported(what));
            }
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

/// The plan to execute for `stmt`; uncorrelated scalar subqueries have run already.
async fn physical_plan(
    env: &Arc<Env>,
    session: &Session,
    ctx: &SessionContext,
    stmt: SqlStatement,
) -> Result<Arc<dyn ExecutionPlan>> {
    let plan = logical_plan(ctx, stmt).await?;
    let plan = subquery::inline_scalar_subqueries(env, session, ctx, plan).await?;
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
    match dml::statement_kind(sql) {
        Some(dml::DmlKind::Delete) => return dml::run_delete(env, session, sql).await,
        Some(dml::DmlKind::Update) => return dml::run_update(env, session, sql).await,
        None => {}
    }
    let (sql, label) = insert::take_insert_label(sql);
    let (stmt, display) = parse_with_names(&sql)?;
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
        return insert::run_insert(env, session, stmt, target, label, PlanEnv::default()).await;
    }
    let ctx = build_context(env, session, Arc::new(PlanEnv::default()));
    let plan = physical_plan(env, session, &ctx, stmt).await?;
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
/// `EXPLAIN`: the fragment plan as Doris-style text lines.
pub async fn explain(
    env: &Arc<Env>,
    session: &mut Session,
    sql: &str,
    verbose: bool,
    analyze: bool,
) -> Result<QueryOutput> {
    if analyze {
        return explain_analyze(env, session, sql).await;
    }
    let stmt = parse_one(sql)?;
    let plan_env = Arc::new(PlanEnv {
        insert_txn: insert_target(&stmt).map(|_| 0),
        ..PlanEnv::default()
    });
    let ctx = build_context(env, session, plan_env);
    let logical = logical_plan(&ctx, stmt).await?;
    let physical = ctx.state().create_physical_plan(&logical).await?;
    let output: Vec<String> = physical
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    let fragmented =
        distribute::fragment_plan(Arc::clone(&physical), "explain", session.parallelism())?;
    let mut lines = explain::render(&fragmented, &output);
    if verbose {
        lines.push("PHYSICAL PLAN (DataFusion)".to_string());
        let text = displayable(physical.as_ref())
            .set_show_statistics(true)
            .indent(true)
            .to_string();
        lines.extend(text.lines().map(|l| format!("  {l}")));
    }
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

/// `EXPLAIN ANALYZE`: runs the statement profiled and shows the profile: each fragment
/// instance's operators with their rows, times and memory.
async fn explain_analyze(env: &Arc<Env>, session: &mut Session, sql: &str) -> Result<QueryOutput> {
    session.info.lock().query_id.clear();
    let previous = session
        .variables
        .insert("enable_profile".into(), "true".into());
    let result = async {
        if let QueryOutput::Rows(rows) = run_query(env, session, sql).await? {
            let _: Vec<_> = rows.batches.try_collect().await?;
        }
        Ok::<_, FeError>(())
    }
    .await;
    match previous {
        Some(v) => session.variables.insert("enable_profile".into(), v),
        None => session.variables.remove("enable_profile"),
    };
    result?;
    let query_id = session.info.lock().query_id.clone();
    let lines = match env.profiles.get(&query_id) {
        Some(p) => p.lines(),
        None => vec!["(the statement ran on the FE only: no fragments to profile)".to_string()],
    };
    QueryOutput::strings(
        &["Explain String(Nereids Planner)"],
        lines.into_iter().map(|l| vec![Some(l)]).collect(),
    )
}

/// Evaluates a constant expression (e.g. `SET exec_mem_limit = 8*1024*1024*1024`).
pub async fn eval_constant(env: &Arc<Env>, session: &mut Session, expr: &str) -> Result<String> {
    let stmt = parse_one(&format!("SELECT {expr}"))?;
    let ctx = build_context(env, session, Arc::new(PlanEnv::default()));
    let plan = physical_plan(env, session, &ctx, stmt).await?;
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
