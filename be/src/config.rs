//! BE options from `be.conf` (Doris names), with defaults in code.
//! [`BeConfig::from_conf`] builds it; `conf/be.conf` documents every option.

use std::path::PathBuf;

use doris_common::config::{ConfFile, ConfigError};

#[derive(Debug, Clone)]
pub struct BeConfig {
    pub priority_networks: String,
    pub be_port: u16,
    pub webserver_port: u16,
    pub heartbeat_service_port: u16,
    pub brpc_port: u16,
    pub storage_root_path: PathBuf,
    pub sys_log_dir: PathBuf,
    pub sys_log_level: String,
    /// Pending (unpublished) load data older than this is removed.
    pub pending_data_expire_time_sec: u64,
    /// Rows buffered per tablet before a segment is sorted and written.
    pub write_buffer_rows: usize,
    pub write_buffer_size: usize,
    /// Parquet compression of segment files: lz4, zstd, snappy or none.
    pub segment_compression: String,
    /// Bytes of decoded segment columns kept in memory (0: no cache).
    pub storage_page_cache_limit: usize,
    /// Bytes of encoded merge-on-write keys kept for publish-time lookups.
    pub pk_storage_page_cache_limit: usize,
    /// Compaction policy and limits (see `storage::compaction`).
    pub compaction: crate::storage::compaction::CompactionConfig,
}

impl BeConfig {
    pub fn from_conf(conf: &ConfFile) -> Result<Self, ConfigError> {
        // `storage_root_path` may list several dirs (`a;b,medium:SSD`); one is used for now.
        let root = conf
            .get_str("storage_root_path")
            .unwrap_or("storage")
            .split(';')
            .next()
            .unwrap_or("storage")
            .split(',')
            .next()
            .unwrap_or("storage")
            .trim()
            .to_string();
        Ok(Self {
            priority_networks: conf.get_or("priority_networks", String::new())?,
            be_port: conf.get_or("be_port", 9060)?,
            webserver_port: conf.get_or("webserver_port", 8040)?,
            heartbeat_service_port: conf.get_or("heartbeat_service_port", 9050)?,
            brpc_port: conf.get_or("brpc_port", 8060)?,
            storage_root_path: conf.resolve(&root),
            sys_log_dir: conf.get_path("sys_log_dir", "log"),
            sys_log_level: conf.get_or("sys_log_level", "info".to_string())?,
            pending_data_expire_time_sec: conf.get_or("pending_data_expire_time_sec", 1800)?,
            write_buffer_rows: conf.get_or("write_buffer_rows", 1_000_000)?,
            write_buffer_size: conf.get_or("write_buffer_size", 128 << 20)?,
            segment_compression: conf.get_or("segment_compression", "lz4".to_string())?,
            storage_page_cache_limit: {
                let text: String = conf.get_or("storage_page_cache_limit", "20%".to_string())?;
                crate::storage::segment_cache::parse_limit(&text).ok_or_else(|| {
                    ConfigError::InvalidValue {
                        key: "storage_page_cache_limit".into(),
                        value: text.clone(),
                        reason: "a byte count or a percentage of memory (20%)".into(),
                    }
                })?
            },
            pk_storage_page_cache_limit: {
                let text: String = conf.get_or("pk_storage_page_cache_limit", "5%".to_string())?;
                crate::storage::segment_cache::parse_limit(&text).ok_or_else(|| {
                    ConfigError::InvalidValue {
                        key: "pk_storage_page_cache_limit".into(),
                        value: text.clone(),
                        reason: "a byte count or a percentage of memory (5%)".into(),
                    }
                })?
            },
            compaction: {
                let d = crate::storage::compaction::CompactionConfig::default();
                let mb = |key: &str, default: u64| -> Result<u64, ConfigError> {
                    Ok(conf.get_or::<u64>(key, default >> 20)? << 20)
                };
                crate::storage::compaction::CompactionConfig {
                    disable_auto_compaction: conf
                        .get_or("disable_auto_compaction", d.disable_auto_compaction)?,
                    interval_ms: conf
                        .get_or("generate_compaction_tasks_interval_ms", d.interval_ms)?,
                    cumulative_min_deltas: conf
                        .get_or("cumulative_compaction_min_deltas", d.cumulative_min_deltas)?,
                    cumulative_max_deltas: conf
                        .get_or("cumulative_compaction_max_deltas", d.cumulative_max_deltas)?,
                    promotion_min_bytes: mb(
                        "compaction_promotion_min_size_mbytes",
                        d.promotion_min_bytes,
                    )?,
                    promotion_max_bytes: mb(
                        "compaction_promotion_size_mbytes",
                        d.promotion_max_bytes,
                    )?,
                    base_min_rowset_num: conf
                        .get_or("base_compaction_min_rowset_num", d.base_min_rowset_num)?,
                    base_min_data_ratio: conf
                        .get_or("base_compaction_min_data_ratio", d.base_min_data_ratio)?,
                    max_tablet_version_num: conf
                        .get_or("max_tablet_version_num", d.max_tablet_version_num)?,
                    stale_sweep_sec: conf
                        .get_or("tablet_rowset_stale_sweep_time_sec", d.stale_sweep_sec)?,
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_be_conf_loads() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../conf/be.conf");
        let conf = ConfFile::load(&path).expect("conf/be.conf readable");
        let c = BeConfig::from_conf(&conf).expect("valid be.conf");
        assert_eq!(c.be_port, 9060);
        assert_eq!(c.webserver_port, 8040);
        assert_eq!(c.heartbeat_service_port, 9050);
        assert_eq!(c.brpc_port, 8060);
        assert!(c.storage_root_path.is_absolute());
    }
}
