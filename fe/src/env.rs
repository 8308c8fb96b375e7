//! The FE's shared state: configuration, the catalog and the Raft node that replicates
//! its edit log, backend runtime state and RPC clients, and connected sessions.
//! [`Env::log_and_apply`] is the only way the catalog changes: the entry is committed
//! through Raft and applied by the state machine before it returns.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use parking_lot::{Mutex, RwLock};
use tracing::info;

use crate::catalog::{Catalog, JournalEntry, ID_BATCH};
use crate::cluster::{BackendClients, BackendState, TabletReports};
use crate::config::FeConfig;
use crate::error::{FeError, Result};
use crate::ha::log_store::LogStore;
use crate::ha::network::Network;
use crate::ha::state_machine::CatalogStateMachine;
use crate::ha::{FeNode, TypeConfig};
use crate::mysql::session::SessionRegistry;

/// How long a metadata write waits for a majority of the FE followers.
const WRITE_TIMEOUT: Duration = Duration::from_secs(15);

/// First id handed out in a new cluster (Doris starts its ids at 10000 too).
const FIRST_ID: i64 = 10_000;

pub struct Env {
    pub config: FeConfig,
    pub cluster_id: i64,
    pub catalog: Arc<RwLock<Catalog>>,
    /// This frontend's Raft node: the edit log's replication.
    pub raft: openraft::Raft<TypeConfig>,
    pub node_id: u64,
    /// Raft's own threads: a write waits for them while the caller may hold locks that
    /// other tasks on the FE's workers block on, so Raft never needs those workers.
    raft_runtime: RaftRuntime,
    /// gRPC channels to the other frontends.
    pub fe_channels: Arc<doris_proto::Channels>,
    /// When a master last sent this frontend entries or a heartbeat (ms since epoch).
    pub last_leader_contact_ms: Arc<std::sync::atomic::AtomicI64>,
    /// The other frontends as last heard of (SHOW FRONTENDS).
    pub frontend_state: RwLock<HashMap<u64, crate::ha::membership::FrontendStatus>>,
    next_id: Mutex<IdAllocator>,
    pub backend_state: RwLock<HashMap<i64, BackendState>>,
    /// Tablet sizes from the backends' reports (planner statistics; not persisted).
    pub tablet_stats: RwLock<TabletReports>,
    pub clients: BackendClients,
    pub sessions: SessionRegistry,
    /// On the master: the sessions of other frontends' connections that forwarded
    /// statements here.
    pub forwarded_sessions: crate::qe::forward::ForwardedSessions,
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
    /// Opens the metadata store under `meta_dir` (the Raft log and the catalog's latest
    /// snapshot) and starts this frontend's Raft node; a new cluster's first FE makes
    /// itself its only member. Call [`Env::wait_ready`] before serving.
    ///
    /// With `helper` (`host:edit_log_port` of a member), a frontend with an empty
    /// `meta_dir` joins that member's cluster instead: it takes the cluster id and waits
    /// to be added (`ALTER SYSTEM ADD FOLLOWER/OBSERVER` on the master).
    pub async fn open(config: FeConfig, helper: Option<&str>) -> Result<Arc<Self>> {
        let meta_dir = std::path::Path::new(&config.meta_dir);
        let image_dir = meta_dir.join("image");
        std::fs::create_dir_all(&image_dir)?;
        let old_journal = meta_dir.join("journal");
        if old_journal.is_dir() && std::fs::read_dir(&old_journal)?.next().is_some() {
            return Err(FeError::Corrupt(format!(
                "{} holds an edit log of an older format; start from an empty meta_dir",
                old_journal.display()
            )));
        }
        let channels = Arc::new(doris_proto::Channels::default());
        if let Some(helper) = helper {
            crate::ha::membership::join_cluster(&channels, helper, &image_dir).await?;
        }
        let cluster_id = crate::ha::load_or_create_cluster_id(&image_dir)?;
        let db = crate::ha::open_db(&meta_dir.join("raft"))?;
        let catalog: Arc<RwLock<Catalog>> = Arc::default();
        let state_machine = CatalogStateMachine::open(Arc::clone(&db), Arc::clone(&catalog))
            .map_err(|e| FeError::Corrupt(e.to_string()))?;
        let host = config.advertised_host();
        let node_id = crate::ha::node_id(&host, config.edit_log_port);
        let raft_runtime = RaftRuntime::new()?;
        let raft_config = Arc::new(crate::ha::raft_config(config.edit_log_roll_num)?);
        let raft = raft_runtime
            .handle()
            .spawn(openraft::Raft::new(
                node_id,
                raft_config,
                Network::new(Arc::clone(&channels), cluster_id),
                LogStore::new(db),
                state_machine,
            ))
            .await
            .map_err(|e| FeError::Internal(format!("raft: {e}")))?
            .map_err(|e| FeError::Internal(format!("raft: {e}")))?;
        let initialized = raft
            .is_initialized()
            .await
            .map_err(|e| FeError::Internal(format!("raft: {e}")))?;
        if !initialized && helper.is_none() {
            let me = FeNode {
                host,
                edit_log_port: config.edit_log_port,
                http_port: config.http_port,
                query_port: config.query_port,
                rpc_port: config.rpc_port,
                role: crate::ha::membership::FOLLOWER.into(),
            };
            raft.initialize(BTreeMap::from([(node_id, me)]))
                .await
                .map_err(|e| FeError::Internal(format!("raft initialize: {e}")))?;
            info!(
                node_id,
                cluster_id, "new cluster: this frontend is its first member"
            );
        }
        Ok(Arc::new(Self {
            cluster_id,
            config,
            catalog,
            raft,
            node_id,
            raft_runtime,
            fe_channels: channels,
            last_leader_contact_ms: Arc::default(),
            frontend_state: RwLock::new(HashMap::new()),
            next_id: Mutex::new(IdAllocator::default()),
            backend_state: RwLock::new(HashMap::new()),
            tablet_stats: RwLock::new(TabletReports::default()),
            clients: BackendClients::default(),
            sessions: SessionRegistry::default(),
            forwarded_sessions: Default::default(),
            profiles: Default::default(),
            next_connection_id: AtomicU32::new(1),
            publish_locks: Mutex::new(HashMap::new()),
            txn_lock: Mutex::new(()),
            start_time_ms: chrono::Utc::now().timestamp_millis(),
        }))
    }

    /// Waits until a leader is known and this FE has applied every entry it had logged at
    /// start (the replay).
    /// `None` waits as long as it takes (a frontend waiting to be added to a cluster).
    pub async fn wait_ready(&self, timeout: Option<Duration>) -> Result<()> {
        let start = std::time::Instant::now();
        let (target, alone) = {
            let m = self.raft.metrics().borrow().clone();
            let voters: Vec<u64> = m.membership_config.membership().voter_ids().collect();
            (m.last_log_index, voters == [self.node_id])
        };
        if alone {
            // The only voter need not wait out an election timeout.
            if let Err(e) = self.raft.trigger().elect().await {
                return Err(FeError::Internal(format!("raft: {e}")));
            }
        }
        let mut metrics = self.raft.metrics();
        loop {
            let ready = {
                let m = metrics.borrow_and_update();
                m.current_leader.is_some() && m.last_applied.map(|l| l.index) >= target
            };
            if ready {
                break;
            }
            let left = match timeout {
                Some(t) => t.saturating_sub(start.elapsed()),
                None => Duration::from_secs(10),
            };
            if left.is_zero() {
                return Err(FeError::NotMaster(
                    "no frontend master elected yet; metadata is not available".into(),
                ));
            }
            if tokio::time::timeout(left, metrics.changed()).await.is_err() && timeout.is_none() {
                info!("waiting for the master to add this frontend (ALTER SYSTEM ADD FOLLOWER)");
            }
        }
        let catalog = self.catalog.read();
        info!(
            databases = catalog.databases.len(),
            backends = catalog.backends.len(),
            replayed = ?target,
            elapsed_ms = start.elapsed().as_millis() as u64,
            "catalog ready"
        );
        Ok(())
    }

    /// Commits `entry` through Raft; returns once the catalog has applied it, with its log
    /// index. Synchronous for the many callers that hold locks: this worker thread is
    /// handed over (`block_in_place`) while Raft, on its own threads, commits and applies.
    pub fn log_and_apply(&self, entry: JournalEntry) -> Result<u64> {
        let raft = self.raft.clone();
        let write = async move { raft.client_write(entry).await.map_err(Box::new) };
        let Some(result) = self.wait_on_raft(write) else {
            return Err(FeError::NotMaster(format!(
                "metadata write not confirmed within {} s: a majority of the FE followers \
                 is unreachable (it takes effect if they come back)",
                WRITE_TIMEOUT.as_secs()
            )));
        };
        match result.map_err(|e| *e) {
            Ok(reply) => Ok(reply.log_id.index),
            Err(openraft::error::RaftError::APIError(
                openraft::error::ClientWriteError::ForwardToLeader(f),
            )) => Err(self.not_master(f.leader_id, f.leader_node)),
            Err(e) => Err(FeError::NotMaster(format!("metadata write failed: {e}"))),
        }
    }

    /// Runs `task` on Raft's runtime and blocks this worker (handed over with
    /// `block_in_place`) until it is done; `None` after [`WRITE_TIMEOUT`].
    fn wait_on_raft<T: Send + 'static>(
        &self,
        task: impl std::future::Future<Output = T> + Send + 'static,
    ) -> Option<T> {
        let timed = tokio::time::timeout(WRITE_TIMEOUT, task);
        tokio::task::block_in_place(|| self.raft_runtime.handle().block_on(timed)).ok()
    }

    /// The error for a metadata change asked of a frontend that is not the master.
    fn not_master(&self, leader_id: Option<u64>, leader: Option<FeNode>) -> FeError {
        FeError::NotMaster(match (leader_id, leader) {
            (Some(id), Some(n)) => {
                let query_port = self
                    .frontend_state
                    .read()
                    .get(&id)
                    .map_or(0, |st| st.reply.query_port);
                format!(
                    "this frontend is not the master; metadata changes go to the master at {}:{}",
                    n.host, query_port
                )
            }
            _ => "no frontend master elected; metadata cannot change now".into(),
        })
    }

    /// Reserves `n` consecutive ids that are never reused, even after a crash or a change
    /// of master.
    pub fn allocate_ids(&self, n: i64) -> Result<i64> {
        let mut ids = self.next_id.lock();
        let term = self.raft.metrics().borrow().current_term;
        if ids.term != Some(term) {
            // First ids of this term: start above everything earlier masters (or this one
            // before a restart) reserved, which the catalog knows once it has applied the
            // whole log up to this master's first entry.
            self.catch_up_as_master()?;
            ids.next = self.catalog.read().id_watermark.max(FIRST_ID);
            ids.term = Some(term);
        }
        let first = ids.next;
        let end = first + n;
        if end > self.catalog.read().id_watermark {
            self.log_and_apply(JournalEntry::IdWatermark {
                next_id: end + ID_BATCH,
            })?;
        }
        ids.next = end;
        Ok(first)
    }

    /// Confirms this frontend is the master and waits until it has applied every entry
    /// committed before (openraft's linearizable read barrier).
    fn catch_up_as_master(&self) -> Result<()> {
        let raft = self.raft.clone();
        let barrier = async move { raft.ensure_linearizable().await };
        match self.wait_on_raft(barrier) {
            Some(Ok(_)) => Ok(()),
            Some(Err(openraft::error::RaftError::APIError(
                openraft::error::CheckIsLeaderError::ForwardToLeader(f),
            ))) => Err(self.not_master(f.leader_id, f.leader_node)),
            Some(Err(e)) => Err(FeError::NotMaster(format!(
                "this frontend cannot act as the master: {e}"
            ))),
            None => Err(FeError::NotMaster(format!(
                "mastership not confirmed within {} s: a majority of the FE followers is \
                 unreachable",
                WRITE_TIMEOUT.as_secs()
            ))),
        }
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

    /// Whether this frontend is the master (the Raft leader).
    pub fn is_master(&self) -> bool {
        self.raft.metrics().borrow().current_leader == Some(self.node_id)
    }

    /// What this frontend tells the others about itself (`FrontendStatus`).
    pub fn status(&self) -> doris_proto::FrontendStatusResponse {
        let is_master = self.is_master();
        let backends = if is_master {
            self.backend_state
                .read()
                .iter()
                .map(|(id, st)| st.to_proto(*id))
                .collect()
        } else {
            Vec::new()
        };
        doris_proto::FrontendStatusResponse {
            cluster_id: self.cluster_id,
            query_port: i32::from(self.config.query_port),
            http_port: i32::from(self.config.http_port),
            rpc_port: i32::from(self.config.rpc_port),
            replayed_journal_id: i64::try_from(self.last_journal_id()).unwrap_or(i64::MAX),
            start_time_ms: self.start_time_ms,
            version: concat!("doris-rs-", env!("CARGO_PKG_VERSION")).into(),
            is_master,
            backends,
        }
    }

    /// Spawns `task` on Raft's runtime (the Raft RPC server runs there, so that peers are
    /// answered even while every FE worker waits on a lock).
    pub fn spawn_on_raft_runtime<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.raft_runtime.handle().spawn(task);
    }

    /// Index of the last edit log entry this frontend applied.
    pub fn last_journal_id(&self) -> u64 {
        self.raft
            .metrics()
            .borrow()
            .last_applied
            .map_or(0, |l| l.index)
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

/// A single-FE cluster over `dir/meta` with `extra_conf` (lines of fe.conf), ready (for
/// unit tests).
#[cfg(test)]
pub async fn open_for_test(dir: &std::path::Path, extra_conf: &str) -> Arc<Env> {
    let text = format!("meta_dir = {}\n{extra_conf}", dir.join("meta").display());
    let conf = doris_common::config::ConfFile::parse(&text, &dir.join("fe.conf")).expect("conf");
    let env = Env::open(FeConfig::from_conf(&conf).expect("config"), None)
        .await
        .expect("env");
    env.wait_ready(Some(Duration::from_secs(30)))
        .await
        .expect("ready");
    env
}

/// Hands out catalog ids on the master: `next` is valid within Raft term `term` (a new
/// term starts again from the catalog's watermark).
#[derive(Default)]
struct IdAllocator {
    term: Option<u64>,
    next: i64,
}

/// The runtime Raft runs on, shut down (without waiting) when the FE state goes.
struct RaftRuntime {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
}

impl RaftRuntime {
    fn new() -> Result<Self> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("raft")
            .enable_all()
            .build()?;
        Ok(Self {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
        })
    }

    fn handle(&self) -> &tokio::runtime::Handle {
        &self.handle
    }
}

impl Drop for RaftRuntime {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}
