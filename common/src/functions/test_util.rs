//! Test harness for the function modules: parses SQL with the MySQL dialect, applies
//! [`rewrite_mysql_semantics`], plans and runs it on a `SessionContext` with every MySQL
//! function registered, and renders cells as strings (`NULL` for nulls).

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::DataType;
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::context::SessionConfig;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::Statement as DFStatement;
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::sql::sqlparser::parser::Parser;

use super::{apply_mysql_options, register_mysql_functions, rewrite_mysql_semantics, session_udfs};

pub(crate) fn context() -> SessionContext {
    let mut config = SessionConfig::new().with_target_partitions(1);
    apply_mysql_options(config.options_mut());
    let ctx = SessionContext::new_with_config(config);
    register_mysql_functions(&ctx);
    for f in session_udfs(Some("test_db".to_string()), "root@%".to_string(), 42) {
        ctx.register_udf(f);
    }
    ctx
}

async fn run_async(sql: &str) -> Result<Vec<RecordBatch>> {
    let ctx = context();
    let mut stmts = Parser::parse_sql(&MySqlDialect {}, sql)
        .map_err(|e| DataFusionError::Plan(format!("parse error: {e}")))?;
    if stmts.len() != 1 {
        return Err(DataFusionError::Plan("expected one statement".to_string()));
    }
    let mut stmt = stmts.remove(0);
    rewrite_mysql_semantics(&mut stmt);
    let plan = ctx
        .state()
        .statement_to_plan(DFStatement::Statement(Box::new(stmt)))
        .await?;
    ctx.execute_logical_plan(plan).await?.collect().await
}

pub(crate) fn run(sql: &str) -> Result<Vec<RecordBatch>> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| DataFusionError::External(Box::new(e)))?;
    rt.block_on(run_async(sql))
}

fn render(batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let options = FormatOptions::default()
        .with_null("NULL")
        .with_timestamp_format(Some("%Y-%m-%d %H:%M:%S%.f"));
    let mut rows = Vec::new();
    for batch in batches {
        let formatters: Vec<ArrayFormatter> = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &options))
            .collect::<std::result::Result<_, _>>()
            .expect("formatter");
        for row in 0..batch.num_rows() {
            rows.push(
                formatters
                    .iter()
                    .map(|f| f.value(row).to_string())
                    .collect(),
            );
        }
    }
    rows
}

/// All rows of a query, each cell rendered.
pub(crate) fn rows(sql: &str) -> Vec<Vec<String>> {
    match run(sql) {
        Ok(b) => render(&b),
        Err(e) => panic!("query failed: {sql}: {e}"),
    }
}

/// First column of every row.
pub(crate) fn q_all(sql: &str) -> Vec<String> {
    rows(sql).into_iter().map(|mut r| r.remove(0)).collect()
}

/// The single cell of a one-row, one-column query.
pub(crate) fn q(sql: &str) -> String {
    let r = rows(sql);
    assert_eq!(r.len(), 1, "expected one row for {sql}: {r:?}");
    r[0][0].clone()
}

/// The type of the first column.
pub(crate) fn q_type(sql: &str) -> DataType {
    match run(sql) {
        Ok(b) => b
            .first()
            .map(|b| b.schema().field(0).data_type().clone())
            .expect("at least one batch"),
        Err(e) => panic!("query failed: {sql}: {e}"),
    }
}

/// The error message of a failing query.
pub(crate) fn q_err(sql: &str) -> String {
    match run(sql) {
        Ok(b) => panic!("expected an error for {sql}, got {:?}", render(&b)),
        Err(e) => e.to_string(),
    }
}
