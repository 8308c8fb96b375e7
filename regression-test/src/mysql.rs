//! MySQL-protocol client helpers shared by every runner: connecting and running one text query.
//! [`query`] runs a statement and returns a [`QueryOutput`] or a [`SqlError`] carrying the server's code.

use std::fmt;
use std::time::Duration;

use mysql_async::consts::ColumnType;
use mysql_async::prelude::Queryable;
use mysql_async::{Conn, Opts, OptsBuilder, Value};

/// How long one connection attempt may take before it counts as failed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection options for `root` (empty password) on `127.0.0.1:port`.
///
/// The socket probe and the `@@max_allowed_packet`/`@@wait_timeout` probe that mysql_async
/// normally runs after connecting are switched off, so a fresh connection sends nothing but
/// the handshake: readiness checks then test exactly what they ask.
pub fn opts(port: u16, db: Option<&str>) -> Opts {
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some("root"))
        .pass(None::<String>)
        .db_name(db)
        .prefer_socket(false)
        .max_allowed_packet(Some(64 * 1024 * 1024))
        .wait_timeout(Some(28_800))
        .tcp_nodelay(true)
        .into()
}

/// Opens one connection, bounded by [`CONNECT_TIMEOUT`].
pub async fn connect(opts: Opts) -> Result<Conn, SqlError> {
    match tokio::time::timeout(CONNECT_TIMEOUT, Conn::new(opts)).await {
        Ok(Ok(conn)) => Ok(conn),
        Ok(Err(e)) => Err(SqlError::from(e)),
        Err(_) => Err(SqlError::client(format!(
            "connecting timed out after {} s",
            CONNECT_TIMEOUT.as_secs()
        ))),
    }
}

/// An error returned by the server (with its MySQL error code and SQL state) or by the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlError {
    /// MySQL error code (e.g. 1146) when the server sent an ERR packet.
    pub code: Option<u16>,
    /// SQLSTATE (e.g. `42S02`) when the server sent one.
    pub state: Option<String>,
    /// The server's message, or the client-side error text.
    pub message: String,
}

impl SqlError {
    /// A client-side error (I/O, protocol, timeout) without a server code.
    pub fn client(message: impl Into<String>) -> Self {
        SqlError {
            code: None,
            state: None,
            message: message.into(),
        }
    }

    /// True when the error came from the server rather than the connection.
    pub fn is_server_error(&self) -> bool {
        self.code.is_some()
    }
}

impl fmt::Display for SqlError {
    /// `ERROR 1146 (42S02): Table 'x' doesn't exist`, like the mysql command-line client.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.code, &self.state) {
            (Some(code), Some(state)) => write!(f, "ERROR {code} ({state}): {}", self.message),
            (Some(code), None) => write!(f, "ERROR {code}: {}", self.message),
            _ => write!(f, "client error: {}", self.message),
        }
    }
}

impl std::error::Error for SqlError {}

impl From<mysql_async::Error> for SqlError {
    fn from(e: mysql_async::Error) -> Self {
        match e {
            mysql_async::Error::Server(s) => SqlError {
                code: Some(s.code),
                state: Some(s.state),
                message: s.message,
            },
            other => SqlError::client(other.to_string()),
        }
    }
}

/// One result column: its name and the MySQL type the server announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    pub name: String,
    pub column_type: ColumnType,
}

impl ColumnInfo {
    /// TINY/SHORT/INT24/LONG/LONGLONG/YEAR.
    pub fn is_integer(&self) -> bool {
        matches!(
            self.column_type,
            ColumnType::MYSQL_TYPE_TINY
                | ColumnType::MYSQL_TYPE_SHORT
                | ColumnType::MYSQL_TYPE_INT24
                | ColumnType::MYSQL_TYPE_LONG
                | ColumnType::MYSQL_TYPE_LONGLONG
                | ColumnType::MYSQL_TYPE_YEAR
        )
    }

    /// FLOAT/DOUBLE/DECIMAL/NEWDECIMAL.
    pub fn is_floating(&self) -> bool {
        matches!(
            self.column_type,
            ColumnType::MYSQL_TYPE_FLOAT
                | ColumnType::MYSQL_TYPE_DOUBLE
                | ColumnType::MYSQL_TYPE_DECIMAL
                | ColumnType::MYSQL_TYPE_NEWDECIMAL
        )
    }
}

/// What one statement produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryOutput {
    /// A result set (possibly empty). Cells are the server's text; `None` is SQL NULL.
    Rows {
        columns: Vec<ColumnInfo>,
        rows: Vec<Vec<Option<String>>>,
    },
    /// An OK packet without a result set.
    Done { affected_rows: u64 },
}

impl QueryOutput {
    /// The rows, or an empty slice for statements without a result set.
    pub fn rows(&self) -> &[Vec<Option<String>>] {
        match self {
            QueryOutput::Rows { rows, .. } => rows,
            QueryOutput::Done { .. } => &[],
        }
    }

    /// The rows as tab-joined lines, `NULL` for SQL NULL.
    pub fn lines(&self) -> Vec<String> {
        self.rows()
            .iter()
            .map(|r| {
                r.iter()
                    .map(|c| c.as_deref().unwrap_or("NULL"))
                    .collect::<Vec<_>>()
                    .join("\t")
            })
            .collect()
    }
}

/// Runs one statement over the text protocol (`COM_QUERY`) and reads its first result set.
/// Further result sets (multi-statement queries) are read and dropped.
pub async fn query(conn: &mut Conn, sql: &str) -> Result<QueryOutput, SqlError> {
    let mut result = conn.query_iter(sql).await?;
    let columns = result.columns();
    let raw_rows: Vec<mysql_async::Row> = result.collect().await?;
    result.drop_result().await?;
    let affected_rows = conn.affected_rows();
    let columns = match columns {
        Some(c) if !c.is_empty() => c,
        _ => return Ok(QueryOutput::Done { affected_rows }),
    };
    let columns: Vec<ColumnInfo> = columns
        .iter()
        .map(|c| ColumnInfo {
            name: c.name_str().into_owned(),
            column_type: c.column_type(),
        })
        .collect();
    let rows = raw_rows
        .into_iter()
        .map(|row| row.unwrap().into_iter().map(value_text).collect())
        .collect();
    Ok(QueryOutput::Rows { columns, rows })
}

/// The text of one cell as the server sent it (`None` for NULL).
///
/// The text protocol only ever yields `Bytes`/`NULL`; the other arms exist so that a value
/// parsed by the driver still renders the way MySQL would print it.
fn value_text(v: Value) -> Option<String> {
    match v {
        Value::NULL => None,
        Value::Bytes(b) => Some(match String::from_utf8(b) {
            Ok(s) => s,
            Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
        }),
        Value::Int(i) => Some(i.to_string()),
        Value::UInt(u) => Some(u.to_string()),
        Value::Float(f) => Some(f.to_string()),
        Value::Double(d) => Some(d.to_string()),
        Value::Date(y, mo, d, h, mi, s, us) => Some(if us == 0 {
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}")
        } else {
            format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{us:06}")
        }),
        Value::Time(neg, days, h, mi, s, us) => {
            let sign = if neg { "-" } else { "" };
            let hours = u64::from(days) * 24 + u64::from(h);
            Some(if us == 0 {
                format!("{sign}{hours:02}:{mi:02}:{s:02}")
            } else {
                format!("{sign}{hours:02}:{mi:02}:{s:02}.{us:06}")
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_display_looks_like_the_mysql_client() {
        let e = SqlError {
            code: Some(1146),
            state: Some("42S02".into()),
            message: "Table 'db.t' doesn't exist".into(),
        };
        assert_eq!(
            e.to_string(),
            "ERROR 1146 (42S02): Table 'db.t' doesn't exist"
        );
        assert!(e.is_server_error());
        assert_eq!(
            SqlError::client("boom").to_string(),
            "client error: boom".to_string()
        );
    }

    #[test]
    fn values_render_as_text() {
        assert_eq!(value_text(Value::NULL), None);
        assert_eq!(value_text(Value::Bytes(b"".to_vec())), Some(String::new()));
        assert_eq!(value_text(Value::Int(-3)), Some("-3".into()));
        assert_eq!(
            value_text(Value::Date(2024, 1, 2, 3, 4, 5, 0)),
            Some("2024-01-02 03:04:05".into())
        );
    }
}
