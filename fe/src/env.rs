//! The FE's shared state: configuration, the catalog and its edit log, backend runtime
//! state and RPC clients, and connected sessions. [`Env::log_and_apply`] is the only way
//! the catalog changes.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};

use crate::catalog::{Catalog, JournalEntry, ID_BATCH};
use crate::cluster::{BackendClients, BackendState, TabletStat};
use crate::config::FeConfig;
use crate::error::Result;
use crate::journal::EditLog;
use crate::mysql::session::SessionRegistry;

/// First id handed out in a new cluster (Doris starts its ids at 10000 too).
const FIRST_ID: i64 = 10_000;

pub struct Env {
    pub config: FeConfig,
    pub cluster_id: i64,
    pub catalog: RwLock<Catalog>,
    edit_log: Mutex<EditLog>,
    next_id: Mutex<i64>,
    pub backend_state: RwLock<HashMap<i64, BackendState>>,
    /// Tablet sizes from the backends' reports (planner statistics; not persisted).
    pub tablet_stats: RwLock<HashMap<i64, TabletStat>>,
    pub clients: BackendClients,
    pub sessions: SessionRegistry,
    /// Profiles of recent profiled queries.
    pub profiles: crate::qe::profile::ProfileStore,
    next_connection_id: AtomicU32,
    /// Serialises commit + publish per table, so versions become visible in order.
    publish_locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    /// Serialises label checks and transaction state changes.
    pub txn_lock: Mutex<()>,
    pub start_time_ms: i64,
}

impl Env {
    /// Recovers metadata from `meta_dir` and builds the FE state.
    pub fn open(config: FeConfig) -> Result<Arc<Self>> {
        let recovered = EditLog::open(Path::new(&config.meta_dir), config.edit_log_roll_num)?;
        let catalog = recovered.catalog;
        let next_id = catalog.id_watermark.max(FIRST_ID);
        info!(
            databases = catalog.databases.len(),
            backends = catalog.backends.len(),
            replayed = recovered.replayed,
            "catalog loaded"
        );
        Ok(Arc::new(Self {
            cluster_id: recovered.log.cluster_id,
            config,
            catalog: RwLock::new(catalog),
            edit_log: Mutex::new(recovered.log),
            next_id: Mutex::new(next_id),
            backend_state: RwLock::new(HashMap::new()),
            tablet_stats: RwLock::new(HashMap::new()),
            clients: BackendClients::default(),
            sessions: SessionRegistry::default(),
            profiles: Default::default(),
            next_connection_id: AtomicU32::new(1),
            publish_locks: Mutex::new(HashMap::new()),
            txn_lock: Mutex::new(()),
            start_time_ms: chrono::Utc::now().timestamp_millis(),
        }))
    }

    /// Logs `entry` durably, then applies it to the catalog. Returns the journal id.
    pub fn log_and_apply(&self, entry: JournalEntry) -> Result<u64> {
        let mut log = self.edit_log.lock();
        let id = log.append(&entry)?;
        let mut catalog = self.catalog.write();
        catalog.apply(&entry);
        if log.wants_checkpoint() {
            if let Err(e) = log.checkpoint(&catalog) {
                warn!(error = %e, "checkpoint failed; the journal keeps growing");
            }
        }
        Ok(id)
    }

    /// Reserves `n` consecutive ids that are never reused, even after a crash.
    pub fn allocate_ids(&self, n: i64) -> Result<i64> {
        let mut next = self.next_id.lock();
        let first = *next;
        let end = first + n;
        if end > self.catalog.read().id_watermark {
            self.log_and_apply(JournalEntry::IdWatermark {
                next_id: end + ID_BATCH,
            })?;
        }
        *next = end;
        Ok(first)
    }

    pub fn allocate_id(&self) -> Result<i64> {
        self.allocate_ids(1)
    }

    pub fn next_connection_id(&self) -> u32 {
        self.next_connection_id.fetch_add(1, Ordering::Relaxed)
    }

    pub fn publish_lock(&self, table_id: i64) -> Arc<tokio::sync::Mutex<()>> {
        Arc::clone(self.publish_locks.lock().entry(table_id).or_default())
    }

    pub fn last_journal_id(&self) -> u64 {
        self.edit_log.lock().last_id()
    }

    /// Ids of backends whose last heartbeat succeeded.
    pub fn alive_backends(&self) -> Vec<i64> {
        let state = self.backend_state.read();
        self.catalog
            .read()
            .backends
            .keys()
            .filter(|id| state.get(id).is_some_and(|s| s.alive))
            .copied()
            .collect()
    }
}
