//! Per-connection session state (user, current database, variables, warnings) and the
//! registry of live sessions behind `SHOW PROCESSLIST` and `KILL`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::config::FeConfig;

/// Session variables every session starts with, with Doris/MySQL defaults.
pub fn default_variables(config: &FeConfig) -> BTreeMap<String, String> {
    let timeout = config.qe_query_timeout_second.to_string();
    let version = format!(
        "{}-doris-rs-{}",
        config.mysql_server_version,
        env!("CARGO_PKG_VERSION")
    );
    let tz = std::env::var("TZ").unwrap_or_else(|_| "UTC".into());
    let port = config.query_port.to_string();
    [
        ("autocommit", "1"),
        ("auto_increment_increment", "1"),
        ("batch_size", "4064"),
        ("character_set_client", "utf8mb4"),
        ("character_set_connection", "utf8mb4"),
        ("character_set_database", "utf8mb4"),
        ("character_set_results", "utf8mb4"),
        ("character_set_server", "utf8mb4"),
        ("collation_connection", "utf8mb4_0900_bin"),
        ("collation_database", "utf8mb4_0900_bin"),
        ("collation_server", "utf8mb4_0900_bin"),
        ("default_storage_engine", "olap"),
        ("default_tmp_storage_engine", "olap"),
        ("disable_join_reorder", "false"),
        ("div_precision_increment", "4"),
        ("enable_fallback_to_original_planner", "false"),
        ("enable_insert_strict", "true"),
        ("enable_nereids_planner", "true"),
        ("enable_pipeline_engine", "true"),
        ("enable_profile", "false"),
        ("enable_sql_cache", "false"),
        ("enable_unique_key_partial_update", "false"),
        ("enable_vectorized_engine", "true"),
        ("exec_mem_limit", "2147483648"),
        ("experimental_enable_pipeline_x_engine", "true"),
        ("forward_to_master", "true"),
        ("group_commit", "off_mode"),
        ("init_connect", ""),
        ("insert_timeout", "14400"),
        ("interactive_timeout", "3600"),
        ("language", "/palo/share/english/"),
        ("license", "Apache License, Version 2.0"),
        ("lower_case_table_names", "0"),
        ("max_allowed_packet", "67108864"),
        ("max_execution_time", "-1"),
        ("net_buffer_length", "16384"),
        ("net_read_timeout", "60"),
        ("net_write_timeout", "60"),
        ("parallel_fragment_exec_instance_num", "8"),
        ("parallel_pipeline_task_num", "0"),
        // A join's build side estimated at most this many rows is broadcast to every
        // instance of the probe side; a larger one is shuffled with it (Doris's default is
        // 30,000,000; one hash table per instance of up to a million rows is our default).
        ("broadcast_row_count_limit", "1000000"),
        ("performance_schema", "0"),
        ("query_cache_size", "0"),
        ("query_cache_type", "OFF"),
        ("query_timeout", timeout.as_str()),
        ("runtime_filter_type", "IN_OR_BLOOM_FILTER"),
        ("show_hidden_columns", "false"),
        ("socket", ""),
        ("port", port.as_str()),
        ("hostname", "127.0.0.1"),
        ("sql_auto_is_null", "0"),
        ("sql_mode", "ONLY_FULL_GROUP_BY"),
        ("sql_safe_updates", "0"),
        ("sql_select_limit", "9223372036854775807"),
        ("system_time_zone", tz.as_str()),
        ("time_zone", tz.as_str()),
        ("transaction_isolation", "REPEATABLE-READ"),
        ("transaction_read_only", "0"),
        ("tx_isolation", "REPEATABLE-READ"),
        ("tx_read_only", "0"),
        ("version", version.as_str()),
        (
            "version_comment",
            "Doris-compatible warehouse in Rust (doris-rs)",
        ),
        ("wait_timeout", "28800"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// A warning or note kept for `SHOW WARNINGS`.
#[derive(Debug, Clone)]
pub struct Warning {
    pub level: &'static str,
    pub code: u16,
    pub message: String,
}

pub struct Session {
    pub connection_id: u32,
    pub user: String,
    pub client_host: String,
    pub database: Option<String>,
    pub variables: BTreeMap<String, String>,
    pub user_variables: BTreeMap<String, String>,
    pub warnings: Vec<Warning>,
    pub info: Arc<Mutex<ProcessInfo>>,
    /// The transaction opened by `BEGIN`, until COMMIT or ROLLBACK.
    pub txn: Option<ExplicitTxn>,
    /// Statements this connection ran on the master (on a frontend that is not it).
    pub forward: crate::qe::forward::ForwardState,
}

/// An explicit transaction: its INSERTs write under sub-ids, COMMIT publishes them all.
/// The load transaction itself begins with the first INSERT (that fixes the database).
#[derive(Debug, Clone, Default)]
pub struct ExplicitTxn {
    /// `BEGIN WITH LABEL l`.
    pub requested_label: Option<String>,
    /// `(txn id, label, db id)` once the first INSERT began it.
    pub started: Option<(i64, String, i64)>,
    /// `(sub txn id, table id)` of every INSERT that wrote rows.
    pub sub_txns: Vec<(i64, i64)>,
    pub rows: u64,
}

impl Session {
    pub fn var(&self, name: &str) -> Option<&str> {
        self.variables.get(name).map(String::as_str)
    }

    pub fn query_timeout_secs(&self) -> u64 {
        self.var("query_timeout")
            .and_then(|v| v.parse().ok())
            .unwrap_or(900)
    }

    pub fn parallelism(&self) -> usize {
        let n: usize = self
            .var("parallel_pipeline_task_num")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if n > 0 {
            n
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        }
    }

    /// `broadcast_row_count_limit`: largest estimated build side that is broadcast.
    pub fn broadcast_row_limit(&self) -> usize {
        self.var("broadcast_row_count_limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(1_000_000)
    }

    pub fn batch_size(&self) -> usize {
        self.var("batch_size")
            .and_then(|v| v.parse().ok())
            .filter(|n: &usize| *n > 0)
            .unwrap_or(4064)
            .max(1024)
    }
}

/// What `SHOW PROCESSLIST` shows about one connection.
#[derive(Debug, Clone, Default)]
pub struct ProcessInfo {
    pub id: u32,
    pub user: String,
    pub host: String,
    pub db: String,
    pub command: String,
    pub start_ms: i64,
    pub state: String,
    pub query: String,
    pub query_id: String,
    pub killed: bool,
    /// Wakes the running distributed query on `KILL QUERY`.
    pub kill: Option<Arc<tokio::sync::Notify>>,
}

#[derive(Default)]
pub struct SessionRegistry {
    sessions: Mutex<HashMap<u32, Arc<Mutex<ProcessInfo>>>>,
}

impl SessionRegistry {
    pub fn register(&self, info: Arc<Mutex<ProcessInfo>>) {
        let id = info.lock().id;
        self.sessions.lock().insert(id, info);
    }

    pub fn unregister(&self, id: u32) {
        self.sessions.lock().remove(&id);
    }

    pub fn list(&self) -> Vec<ProcessInfo> {
        let mut v: Vec<ProcessInfo> = self
            .sessions
            .lock()
            .values()
            .map(|i| i.lock().clone())
            .collect();
        v.sort_by_key(|i| i.id);
        v
    }

    pub fn get(&self, id: u32) -> Option<Arc<Mutex<ProcessInfo>>> {
        self.sessions.lock().get(&id).cloned()
    }

    pub fn count(&self) -> usize {
        self.sessions.lock().len()
    }
}
