//! sqllogictest over the MySQL protocol: [`MysqlDb`] implements [`sqllogictest::AsyncDB`].
//! [`run_slt_file`] runs (or, with `SLT_COMPLETE=1`, rewrites) one `.slt` file against a cluster.
//!
//! Cells render as the server's text, with `NULL` for SQL NULL and `(empty)` for the empty
//! string. Errors render as `ERROR <code> (<sqlstate>): <message>`, so `statement error` /
//! `query error` regexes can match codes as well as messages.
//!
//! **Completion mode** (`SLT_COMPLETE=1`): the file is rewritten with the output the server
//! actually produced. That output is *not* a reference: a human must check every completed
//! result against an independent source (Apache Doris itself, MySQL, DuckDB, or a hand
//! derivation) before committing it, otherwise the suite only pins down current bugs.

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use mysql_async::{Conn, Opts};
use sqllogictest::{
    default_column_validator, default_normalizer, default_validator, AsyncDB, DBOutput,
    DefaultColumnType, Runner,
};

use crate::cluster::Cluster;
use crate::mysql::{self, ColumnInfo, QueryOutput, SqlError};

/// Environment variable that switches [`run_slt_file`] to completion mode.
pub const COMPLETE_ENV: &str = "SLT_COMPLETE";

/// One MySQL connection seen as a sqllogictest database.
pub struct MysqlDb {
    conn: Option<Conn>,
}

impl MysqlDb {
    /// Connects with the given options.
    pub async fn connect(opts: Opts) -> Result<MysqlDb, SqlError> {
        Ok(MysqlDb {
            conn: Some(mysql::connect(opts).await?),
        })
    }
}

#[async_trait]
impl AsyncDB for MysqlDb {
    type Error = SqlError;
    type ColumnType = DefaultColumnType;

    async fn run(&mut self, sql: &str) -> Result<DBOutput<DefaultColumnType>, SqlError> {
        let conn = self
            .conn
            .as_mut()
            .ok_or_else(|| SqlError::client("connection already shut down"))?;
        Ok(match mysql::query(conn, sql).await? {
            QueryOutput::Done { affected_rows } => DBOutput::StatementComplete(affected_rows),
            QueryOutput::Rows { columns, rows } => DBOutput::Rows {
                types: columns.iter().map(column_type).collect(),
                rows: rows
                    .into_iter()
                    .map(|r| r.into_iter().map(|c| render_cell(c.as_deref())).collect())
                    .collect(),
            },
        })
    }

    async fn shutdown(&mut self) {
        if let Some(conn) = self.conn.take() {
            let _ = conn.disconnect().await;
        }
    }

    fn engine_name(&self) -> &str {
        "doris"
    }

    async fn sleep(dur: Duration) {
        tokio::time::sleep(dur).await
    }

    async fn run_command(command: std::process::Command) -> std::io::Result<std::process::Output> {
        tokio::process::Command::from(command).output().await
    }

    fn error_sql_state(err: &SqlError) -> Option<String> {
        err.state.clone()
    }
}

/// integers → `I`, float/double/decimal → `R`, everything else → `T`.
pub fn column_type(c: &ColumnInfo) -> DefaultColumnType {
    if c.is_integer() {
        DefaultColumnType::Integer
    } else if c.is_floating() {
        DefaultColumnType::FloatingPoint
    } else {
        DefaultColumnType::Text
    }
}

/// `NULL` for SQL NULL, `(empty)` for the empty string, else the text unchanged.
pub fn render_cell(cell: Option<&str>) -> String {
    match cell {
        None => "NULL".to_string(),
        Some("") => "(empty)".to_string(),
        Some(s) => s.to_string(),
    }
}

/// Runs one `.slt` file on a fresh connection (extra `connection` records get their own).
///
/// With `SLT_COMPLETE=1` the file is rewritten with the actual output instead (see the module
/// docs: completed output must be checked by a human against an independent source).
/// The error is sqllogictest's report: file, line, SQL, expected and actual output.
pub async fn run_slt_file(cluster: &Cluster, path: &Path) -> Result<(), String> {
    let opts = cluster.mysql_opts(None);
    let mut runner = Runner::new(move || MysqlDb::connect(opts.clone()));
    let complete = std::env::var(COMPLETE_ENV).is_ok_and(|v| v == "1");
    let result = if complete {
        runner
            .update_test_file(
                path,
                " ",
                default_validator,
                default_normalizer,
                default_column_validator,
            )
            .await
            .map_err(|e| format!("{}: completing failed: {e}", path.display()))
    } else {
        runner
            .run_file_async(path)
            .await
            .map_err(|e| e.display(false).to_string())
    };
    runner.shutdown_async().await;
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use mysql_async::consts::ColumnType;

    #[test]
    fn cells_render_like_sqllogictest_expects() {
        assert_eq!(render_cell(None), "NULL");
        assert_eq!(render_cell(Some("")), "(empty)");
        assert_eq!(render_cell(Some(" a ")), " a ");
    }

    #[test]
    fn column_types_map_to_sqllogictest_types() {
        let c = |t| ColumnInfo {
            name: "c".into(),
            column_type: t,
        };
        assert_eq!(
            column_type(&c(ColumnType::MYSQL_TYPE_LONGLONG)),
            DefaultColumnType::Integer
        );
        assert_eq!(
            column_type(&c(ColumnType::MYSQL_TYPE_NEWDECIMAL)),
            DefaultColumnType::FloatingPoint
        );
        assert_eq!(
            column_type(&c(ColumnType::MYSQL_TYPE_DATETIME)),
            DefaultColumnType::Text
        );
    }
}
