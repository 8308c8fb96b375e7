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
