//! FE options from `fe.conf` (Doris names), with defaults in code.
//! [`FeConfig::from_conf`] builds it; `conf/fe.conf` documents every option.

use std::path::PathBuf;

use doris_common::config::{ConfFile, ConfigError};

#[derive(Debug, Clone)]
pub struct FeConfig {
    pub priority_networks: String,
    pub query_port: u16,
    pub http_port: u16,
    pub rpc_port: u16,
    pub edit_log_port: u16,
    pub meta_dir: PathBuf,
    pub sys_log_dir: PathBuf,
    pub sys_log_level: String,
    pub edit_log_roll_num: u64,
    /// A non-master frontend that has heard nothing from the master for this long refuses
    /// queries rather than answer from stale metadata.
    pub meta_delay_toleration_second: u64,
    pub heartbeat_interval_second: u64,
    pub max_backend_heartbeat_failure_tolerance_count: u32,
    pub qe_query_timeout_second: u64,
    pub qe_max_connection: usize,
    pub autobucket_default_buckets: u32,
    pub mysql_server_version: String,
    /// A finished load's label stays taken this long.
    pub label_keep_max_second: u64,
    /// Stream load timeout when the request has no `timeout` header.
    pub stream_load_default_timeout_second: u64,
    /// INSERT (and explicit transaction) timeout.
    pub insert_load_default_timeout_second: u64,
    /// How often dynamic partitions are created and dropped.
    pub dynamic_partition_check_interval_seconds: u64,
}

impl FeConfig {
    /// The address other frontends and backends reach this one at: `priority_networks`
    /// when it names one address, else the loopback address.
    pub fn advertised_host(&self) -> String {
        let first = self
            .priority_networks
            .split([';', ','])
            .next()
            .unwrap_or("")
            .trim();
        match first.parse::<std::net::IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) => "127.0.0.1".into(),
        }
    }

    pub fn from_conf(conf: &ConfFile) -> Result<Self, ConfigError> {
        Ok(Self {
            priority_networks: conf.get_or("priority_networks", String::new())?,
            query_port: conf.get_or("query_port", 9030)?,
            http_port: conf.get_or("http_port", 8030)?,
            rpc_port: conf.get_or("rpc_port", 9020)?,
            edit_log_port: conf.get_or("edit_log_port", 9010)?,
            meta_dir: conf.get_path("meta_dir", "doris-meta"),
            sys_log_dir: conf.get_path("sys_log_dir", "log"),
            sys_log_level: conf.get_or("sys_log_level", "info".to_string())?,
            edit_log_roll_num: conf.get_or("edit_log_roll_num", 50_000)?,
            meta_delay_toleration_second: conf.get_or("meta_delay_toleration_second", 300)?,
            heartbeat_interval_second: conf.get_or("heartbeat_interval_second", 5)?,
            max_backend_heartbeat_failure_tolerance_count: conf
                .get_or("max_backend_heartbeat_failure_tolerance_count", 1)?,
            qe_query_timeout_second: conf.get_or("qe_query_timeout_second", 900)?,
            qe_max_connection: conf.get_or("qe_max_connection", 1024)?,
            autobucket_default_buckets: conf.get_or("autobucket_default_buckets", 10)?,
            mysql_server_version: conf.get_or("mysql_server_version", "5.7.99".to_string())?,
            label_keep_max_second: conf.get_or("label_keep_max_second", 3 * 24 * 3600)?,
            stream_load_default_timeout_second: conf
                .get_or("stream_load_default_timeout_second", 600)?,
            insert_load_default_timeout_second: conf
                .get_or("insert_load_default_timeout_second", 14_400)?,
            dynamic_partition_check_interval_seconds: conf
                .get_or("dynamic_partition_check_interval_seconds", 600)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_fe_conf_loads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/fe.conf");
        let conf = ConfFile::load(&path).expect("conf/fe.conf readable");
        let c = FeConfig::from_conf(&conf).expect("valid fe.conf");
        assert_eq!(c.query_port, 9030);
        assert_eq!(c.http_port, 8030);
        assert_eq!(c.rpc_port, 9020);
        assert_eq!(c.edit_log_port, 9010);
        assert!(c.meta_dir.is_absolute());
    }
}
