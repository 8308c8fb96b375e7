//! The FE's error type. Every [`FeError`] maps to a MySQL error code and SQLSTATE at the
//! protocol edge ([`FeError::mysql_code`]).

use datafusion::error::DataFusionError;

pub type Result<T, E = FeError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum FeError {
    #[error("{0}")]
    Syntax(String),
    #[error("Unknown database '{0}'")]
    UnknownDatabase(String),
    #[error("Table '{0}' doesn't exist")]
    UnknownTable(String),
    #[error("Unknown column '{0}'")]
    UnknownColumn(String),
    #[error("Column '{0}' in field list is ambiguous")]
    AmbiguousColumn(String),
    #[error("Can't drop database '{0}'; database doesn't exist")]
    DropUnknownDatabase(String),
    #[error("Unknown table '{0}'")]
    DropUnknownTable(String),
    #[error("No database selected")]
    NoDatabaseSelected,
    #[error("Can't create database '{0}'; database exists")]
    DatabaseExists(String),
    #[error("Table '{0}' already exists")]
    TableExists(String),
    #[error("Unknown system variable '{0}'")]
    UnknownVariable(String),
    #[error("Access denied for user '{0}'")]
    AccessDenied(String),
    #[error("not supported yet: {0}")]
    NotSupported(String),
    #[error("{0}")]
    Analysis(String),
    #[error("{0}")]
    Backend(String),
    #[error("{0}")]
    DataFusion(String),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    #[error("{0}")]
    Internal(String),
    /// A load's label is held by an earlier, unaborted load.
    #[error("Label [{label}] has already been used, relate to txn [{txn_id}], status [{status}].")]
    LabelAlreadyExists {
        label: String,
        txn_id: i64,
        status: String,
    },
    /// A transaction operation that its state does not allow.
    #[error("{0}")]
    TxnState(String),
    /// A metadata write on a frontend that is not the master, or with no master elected.
    #[error("{0}")]
    NotMaster(String),
    /// The master's answer to a statement this frontend forwarded to it.
    #[error("{message}")]
    Forwarded { code: u16, message: String },
}

impl FeError {
    /// MySQL error code (SQLSTATE follows from it).
    pub fn mysql_code(&self) -> u16 {
        match self {
            FeError::Syntax(_) => 1064,
            FeError::UnknownDatabase(_) => 1049,
            FeError::UnknownTable(_) => 1146,
            FeError::UnknownColumn(_) => 1054,
            FeError::AmbiguousColumn(_) => 1052,
            FeError::DropUnknownDatabase(_) => 1008,
            FeError::DropUnknownTable(_) => 1051,
            FeError::NoDatabaseSelected => 1046,
            FeError::DatabaseExists(_) => 1007,
            FeError::TableExists(_) => 1050,
            FeError::UnknownVariable(_) => 1193,
            FeError::AccessDenied(_) => 1045,
            FeError::Forwarded { code, .. } => *code,
            _ => 1105,
        }
    }
}

impl From<DataFusionError> for FeError {
    fn from(e: DataFusionError) -> Self {
        classify_datafusion(e)
    }
}

impl From<datafusion::arrow::error::ArrowError> for FeError {
    fn from(e: datafusion::arrow::error::ArrowError) -> Self {
        FeError::Internal(e.to_string())
    }
}

impl From<tonic::Status> for FeError {
    fn from(s: tonic::Status) -> Self {
        FeError::Backend(s.message().to_string())
    }
}

/// Maps DataFusion's errors to the MySQL error a client expects.
fn classify_datafusion(e: DataFusionError) -> FeError {
    let e = e.find_root().clone_or_message();
    match e {
        DfRoot::SqlParse(msg) => FeError::Syntax(format!("Syntax error: {msg}")),
        DfRoot::Plan(msg) | DfRoot::Other(msg) => {
            if msg.contains(crate::planner::NO_DATABASE_SCHEMA) {
                return FeError::NoDatabaseSelected;
            }
            if msg.contains("has no type information") {
                // `variable ["@@session", "x"] has no type information`
                let list = msg.split(['[', ']']).nth(1).unwrap_or("");
                let last = list.rsplit(',').next().unwrap_or(list);
                let name = last.trim().trim_matches('"').trim_start_matches('@');
                return FeError::UnknownVariable(name.to_string());
            }
            if msg.contains("not found") {
                if let Some(rest) = msg.split("table '").nth(1) {
                    let name = rest.split('\'').next().unwrap_or(rest);
                    let name = name.rsplit('.').next().unwrap_or(name);
                    return FeError::UnknownTable(name.to_string());
                }
            }
            if let Some(rest) = msg
                .split("Ambiguous reference to unqualified field ")
                .nth(1)
            {
                return FeError::AmbiguousColumn(rest.trim().trim_matches('"').to_string());
            }
            if msg.contains("No field named") {
                let col = msg
                    .split("No field named ")
                    .nth(1)
                    .map(|s| s.split(['.', ' ']).next().unwrap_or(s).trim_matches('"'))
                    .unwrap_or("?");
                return FeError::UnknownColumn(col.to_string());
            }
            if msg.contains("Not implemented") || msg.starts_with("not supported yet") {
                return FeError::NotSupported(msg);
            }
            FeError::DataFusion(msg)
        }
    }
}

enum DfRoot {
    SqlParse(String),
    Plan(String),
    Other(String),
}

trait RootMessage {
    fn clone_or_message(&self) -> DfRoot;
}

impl RootMessage for DataFusionError {
    fn clone_or_message(&self) -> DfRoot {
        match self {
            DataFusionError::SQL(e, _) => DfRoot::SqlParse(match e.as_ref() {
                datafusion::sql::sqlparser::parser::ParserError::ParserError(m)
                | datafusion::sql::sqlparser::parser::ParserError::TokenizerError(m) => m.clone(),
                other => other.to_string(),
            }),
            DataFusionError::Plan(m) => DfRoot::Plan(m.clone()),
            DataFusionError::SchemaError(e, _) => DfRoot::Plan(e.to_string()),
            DataFusionError::NotImplemented(m) => DfRoot::Other(format!("not supported yet: {m}")),
            DataFusionError::Execution(m) => DfRoot::Other(m.clone()),
            DataFusionError::External(e) => DfRoot::Other(e.to_string()),
            other => DfRoot::Other(other.to_string()),
        }
    }
}
