//! FE high availability: the catalog's edit log replicated through Raft (openraft).
//!
//! [`TypeConfig`] ties the pieces together: a log entry's payload is a catalog
//! [`JournalEntry`], a member is an [`FeNode`] (its addresses). [`log_store::LogStore`]
//! keeps the log, the vote and the committed id in RocksDB under `meta_dir/raft`;
//! [`state_machine::CatalogStateMachine`] applies committed entries to the in-memory
//! catalog and keeps its snapshot (the image) in the same RocksDB.

// openraft's storage traits return its (large) `StorageError`; the helpers here pass it on.
#![allow(clippy::result_large_err)]

pub mod log_store;
pub mod membership;
pub mod network;
pub mod state_machine;

use std::io::Cursor;
use std::path::Path;
use std::sync::Arc;

use rocksdb::{ColumnFamilyDescriptor, Options, DB};
use serde::{Deserialize, Serialize};

use crate::catalog::JournalEntry;
use crate::error::{FeError, Result};

/// Column families of the metadata RocksDB.
const COLUMN_FAMILIES: [&str; 3] = [log_store::LOGS, log_store::META, state_machine::SNAPSHOT];

/// A frontend as a Raft member: where the others reach it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeNode {
    pub host: String,
    pub edit_log_port: u16,
    pub http_port: u16,
    pub query_port: u16,
    pub rpc_port: u16,
    /// FOLLOWER or OBSERVER: what `ALTER SYSTEM ADD ...` asked this frontend to be.
    #[serde(default)]
    pub role: String,
}

openraft::declare_raft_types!(
    /// The FE's Raft types: catalog changes replicated between frontends.
    pub TypeConfig:
        D = JournalEntry,
        R = (),
        NodeId = u64,
        Node = FeNode,
        SnapshotData = Cursor<Vec<u8>>,
);

/// Opens (creating when absent) the metadata RocksDB at `path` with the Raft log's and
/// the snapshot's column families.
pub fn open_db(path: &Path) -> Result<Arc<DB>> {
    let mut options = Options::default();
    options.create_if_missing(true);
    options.create_missing_column_families(true);
    let families = COLUMN_FAMILIES
        .iter()
        .map(|name| ColumnFamilyDescriptor::new(*name, Options::default()));
    DB::open_cf_descriptors(&options, path, families)
        .map(Arc::new)
        .map_err(|e| FeError::Corrupt(format!("metadata store {}: {e}", path.display())))
}

/// The Raft node id of the frontend at `host:edit_log_port`: every FE derives the same id
/// from the address `ALTER SYSTEM ADD FOLLOWER` names, as Doris identifies FEs by it.
pub fn node_id(host: &str, edit_log_port: u16) -> u64 {
    (u64::from(crc32fast::hash(host.as_bytes())) << 16) | u64::from(edit_log_port)
}

/// openraft's settings: heartbeats every 250 ms, a new election after 1-2 s without one
/// (a killed master is replaced in a few seconds; Doris allows 10), a snapshot (image)
/// every `edit_log_roll_num` entries, after which older entries are purged except a tail
/// for followers that are slightly behind.
pub fn raft_config(edit_log_roll_num: u64) -> Result<openraft::Config> {
    openraft::Config {
        cluster_name: "doris".into(),
        heartbeat_interval: 250,
        election_timeout_min: 1000,
        election_timeout_max: 2000,
        snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(edit_log_roll_num.max(1)),
        max_in_snapshot_log_to_keep: edit_log_roll_num.clamp(1, 1000),
        ..Default::default()
    }
    .validate()
    .map_err(|e| FeError::Internal(format!("raft config: {e}")))
}

/// `meta_dir/image/VERSION`'s cluster id, created with a fresh id on a new cluster.
pub fn load_or_create_cluster_id(image_dir: &Path) -> Result<i64> {
    use std::io::Write;
    let path = image_dir.join("VERSION");
    match std::fs::read_to_string(&path) {
        Ok(text) => text
            .lines()
            .find_map(|l| l.strip_prefix("clusterId="))
            .and_then(|v| v.trim().parse().ok())
            .ok_or_else(|| FeError::Corrupt(format!("{} has no clusterId", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let id = i64::from(rand::random::<u32>() & 0x7fff_ffff).max(1);
            let token = uuid::Uuid::new_v4().simple().to_string();
            let mut f = std::fs::File::create(&path)?;
            writeln!(f, "#{}", chrono::Utc::now().to_rfc2822())?;
            writeln!(f, "clusterId={id}")?;
            writeln!(f, "token={token}")?;
            f.sync_all()?;
            Ok(id)
        }
        Err(e) => Err(e.into()),
    }
}
