//! Plan-fragment execution on the BE: decodes a fragment (datafusion-proto with
//! [`DorisCodec`] and a [`NodeResolver`] for the project's nodes), runs it vectorized, and
//! streams Arrow IPC batches to the caller. Entry point: [`FragmentExecutor::execute`];
//! every fragment of a query can be cancelled by query id.

pub mod exchange;
pub mod scan;
pub mod sink;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::{Transformed, TreeNode};
use std::num::NonZeroUsize;

use datafusion::execution::cache::cache_manager::{
    CacheManager, CacheManagerConfig, FileMetadataCache,
};
use datafusion::execution::disk_manager::{DiskManagerBuilder, DiskManagerMode};
use datafusion::execution::memory_pool::{GreedyMemoryPool, TrackConsumersPool};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::coop::CooperativeExec;
use datafusion::physical_plan::{
    execute_stream, replace_children_if_necessary, ExecutionPlan, PhysicalExpr,
};
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec;
use doris_common::fragment::{
    BackendResolver, DorisCodec, ExchangeSinkSpec, ExchangeSourceSpec, ScanSpec, SinkSpec,
};
use doris_proto::{ArrowBatch, Channels, ExecPlanFragmentRequest};
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tracing::{info, warn};

use crate::storage::segment_cache::SegmentCache;
use crate::storage::StorageEngine;
use exchange::{ExchangeRegistry, ExchangeSinkNode, ExchangeSourceNode};
use sink::TabletSinkExec;

/// Turns the specs of the project's nodes into nodes over this BE's storage and peers.
#[derive(Clone)]
pub struct NodeResolver {
    pub engine: Arc<StorageEngine>,
    /// Decoded segment columns shared by every scan on this BE.
    pub segment_cache: Arc<SegmentCache>,
    pub exchanges: Arc<ExchangeRegistry>,
    pub channels: Arc<Channels>,
}

impl std::fmt::Debug for NodeResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NodeResolver")
    }
}

impl BackendResolver for NodeResolver {
    fn scan(
        &self,
        spec: ScanSpec,
        table_schema: SchemaRef,
        predicate: Option<Arc<dyn PhysicalExpr>>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        scan::scan_node(
            &self.engine,
            &self.segment_cache,
            spec,
            table_schema,
            predicate,
        )
    }

    fn sink(
        &self,
        spec: SinkSpec,
        input: Arc<dyn ExecutionPlan>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(TabletSinkExec::new(
            Arc::clone(&self.engine),
            Arc::clone(&self.channels),
            spec,
            input,
        )))
    }

    fn exchange_source(
        &self,
        spec: ExchangeSourceSpec,
        schema: SchemaRef,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(ExchangeSourceNode::new(
            spec,
            schema,
            Arc::clone(&self.exchanges),
        )))
    }

    fn exchange_sink(
        &self,
        spec: ExchangeSinkSpec,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        input: Arc<dyn ExecutionPlan>,
    ) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
        Ok(Arc::new(ExchangeSinkNode::new(
            spec,
            keys,
            input,
            Arc::clone(&self.exchanges),
            Arc::clone(&self.channels),
        )))
    }
}

/// Memory for parsed segment footers and page indexes.
const SEGMENT_METADATA_CACHE_BYTES: usize = 256 * 1024 * 1024;

pub type BatchSender = mpsc::Sender<Result<ArrowBatch, tonic::Status>>;

pub struct FragmentExecutor {
    codec: Arc<DorisCodec>,
    exchanges: Arc<ExchangeRegistry>,
    /// Per running query: its memory pool (exec_mem_limit) and spill space on this BE.
    runtimes: Arc<Mutex<HashMap<String, Arc<RuntimeEnv>>>>,
    /// Where sorts and aggregations spill when a query's memory runs short.
    spill_dir: std::path::PathBuf,
    /// Parsed segment footers and page indexes, shared by all queries (segments never
    /// change once written, so entries stay valid until the file is gone).
    segment_metadata: Option<Arc<FileMetadataCache>>,
    /// Where fragments run: a runtime of its own, so CPU-bound operators never starve the
    /// gRPC services (cancels, exchange streams, heartbeats) of threads.
    runtime: tokio::runtime::Handle,
    running: Arc<Mutex<HashMap<String, HashMap<tokio::task::Id, AbortHandle>>>>,
}

impl FragmentExecutor {
    pub fn new(resolver: NodeResolver, runtime: tokio::runtime::Handle) -> Self {
        let exchanges = Arc::clone(&resolver.exchanges);
        let spill_dir = resolver.engine.root().join("spill");
        if let Err(e) = std::fs::create_dir_all(&spill_dir) {
            warn!(dir = %spill_dir.display(), error = %e, "cannot create the spill directory");
        }
        let caches =
            CacheManagerConfig::default().with_metadata_cache_limit(SEGMENT_METADATA_CACHE_BYTES);
        let segment_metadata = match CacheManager::try_new(&caches) {
            Ok(m) => Some(m.get_file_metadata_cache()),
            Err(e) => {
                warn!(error = %e, "no segment metadata cache");
                None
            }
        };
        Self {
            codec: Arc::new(DorisCodec::with_resolver(Arc::new(resolver))),
            exchanges,
            runtimes: Arc::default(),
            spill_dir,
            segment_metadata,
            runtime,
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The registry where this BE's exchange receivers collect their data.
    pub fn exchanges(&self) -> &ExchangeRegistry {
        &self.exchanges
    }

    /// The query's memory pool and spill space on this BE, shared by its fragments here.
    fn query_runtime(
        &self,
        req: &ExecPlanFragmentRequest,
    ) -> Result<Arc<RuntimeEnv>, tonic::Status> {
        let mut runtimes = self.runtimes.lock();
        if let Some(r) = runtimes.get(&req.query_id) {
            return Ok(Arc::clone(r));
        }
        let limit = usize::try_from(req.mem_limit_bytes).ok().filter(|l| *l > 0);
        let caches = CacheManagerConfig::default()
            .with_metadata_cache_limit(SEGMENT_METADATA_CACHE_BYTES)
            .with_file_metadata_cache(self.segment_metadata.clone());
        let mut builder = RuntimeEnvBuilder::new()
            .with_cache_manager(caches)
            .with_disk_manager_builder(
                DiskManagerBuilder::default()
                    .with_mode(DiskManagerMode::Directories(vec![self.spill_dir.clone()])),
            );
        if let Some(limit) = limit {
            let pool = TrackConsumersPool::new(
                GreedyMemoryPool::new(limit),
                NonZeroUsize::new(3).unwrap_or(NonZeroUsize::MIN),
            );
            builder = builder.with_memory_pool(Arc::new(pool));
        }
        let runtime = builder.build_arc().map_err(df_status)?;
        runtimes.insert(req.query_id.clone(), Arc::clone(&runtime));
        Ok(runtime)
    }

    fn task_context(req: &ExecPlanFragmentRequest, runtime: Arc<RuntimeEnv>) -> Arc<TaskContext> {
        let parallelism = if req.parallelism > 0 {
            req.parallelism as usize
        } else {
            std::thread::available_parallelism().map_or(2, |n| n.get())
        };
        let mut config = SessionConfig::new().with_target_partitions(parallelism);
        if req.batch_size > 0 {
            config = config.with_batch_size(req.batch_size as usize);
        }
        config.options_mut().execution.time_zone =
            doris_common::functions::valid_time_zone(&req.time_zone);
        let ctx = SessionContext::new_with_config_rt(config, runtime);
        doris_common::functions::register_mysql_functions(&ctx);
        ctx.task_ctx()
    }

    /// Starts the fragment; batches (first message: schema only) go to `tx`.
    pub fn execute(&self, req: ExecPlanFragmentRequest, tx: BatchSender) {
        if self.exchanges.is_finished(&req.query_id) {
            // Cancelled before this fragment arrived.
            let status = tonic::Status::cancelled(format!("query {} was cancelled", req.query_id));
            let _ = tx.try_send(Err(status));
            return;
        }
        let runtime = match self.query_runtime(&req) {
            Ok(r) => r,
            Err(status) => {
                let _ = tx.try_send(Err(status));
                return;
            }
        };
        let codec = Arc::clone(&self.codec);
        let running = Arc::clone(&self.running);
        let runtimes = Arc::clone(&self.runtimes);
        let query_id = req.query_id.clone();
        let timeout = (req.timeout_ms > 0).then(|| Duration::from_millis(req.timeout_ms as u64));
        let qid = query_id.clone();
        let mut running_guard = self.running.lock();
        let handle = self.runtime.spawn(async move {
            let work = run_fragment(req, codec, runtime, tx.clone());
            let result = match timeout {
                Some(t) => match tokio::time::timeout(t, work).await {
                    Ok(r) => r,
                    Err(_) => Err(tonic::Status::deadline_exceeded(format!(
                        "query {qid} timed out after {} seconds (query_timeout)",
                        t.as_secs()
                    ))),
                },
                None => work.await,
            };
            if let Err(status) = result {
                warn!(query_id = %qid, error = %status.message(), "fragment failed");
                // The receiver may be gone (client cancelled); nothing else to do then.
                let _ = tx.send(Err(status)).await;
            }
            let mut running = running.lock();
            if let Some(tasks) = running.get_mut(&qid) {
                tasks.remove(&tokio::task::id());
                if tasks.is_empty() {
                    // The query's last fragment here: its memory pool goes too.
                    running.remove(&qid);
                    runtimes.lock().remove(&qid);
                }
            }
        });
        // Still holding the lock: the task cannot unregister before it is registered.
        running_guard
            .entry(query_id.clone())
            .or_default()
            .insert(handle.id(), handle.abort_handle());
        // A cancel that came after the check above found nothing to abort: do it now.
        if self.exchanges.is_finished(&query_id) {
            handle.abort();
        }
    }

    /// Aborts every fragment of `query_id` running here and drops its exchange data (also
    /// how the FE releases a finished query).
    pub fn cancel(&self, query_id: &str) -> usize {
        self.exchanges.finish_query(query_id);
        self.runtimes.lock().remove(query_id);
        let handles = self.running.lock().remove(query_id).unwrap_or_default();
        for h in handles.values() {
            h.abort();
        }
        if !handles.is_empty() {
            info!(query_id, fragments = handles.len(), "cancelled");
        }
        handles.len()
    }
}

async fn run_fragment(
    req: ExecPlanFragmentRequest,
    codec: Arc<DorisCodec>,
    runtime: Arc<RuntimeEnv>,
    tx: BatchSender,
) -> Result<(), tonic::Status> {
    let task_ctx = FragmentExecutor::task_context(&req, runtime);
    let limit = req.mem_limit_bytes;
    // Out of memory here, or in a fragment that sent this one its rows.
    let mem_status = |e: datafusion::error::DataFusionError| {
        use datafusion::error::DataFusionError::{Execution, ResourcesExhausted};
        let message = match e.find_root() {
            ResourcesExhausted(m) => m.clone(),
            Execution(m) if m.starts_with("Resources exhausted: ") => {
                m.trim_start_matches("Resources exhausted: ").to_string()
            }
            Execution(m) if m.starts_with("MEM_LIMIT_EXCEEDED") => {
                return tonic::Status::resource_exhausted(m.clone())
            }
            _ => return df_status(e),
        };
        tonic::Status::resource_exhausted(format!(
            "MEM_LIMIT_EXCEEDED: query {} needs more than exec_mem_limit ({limit} bytes) on a backend: {message}. You can change the limit by session variable exec_mem_limit.",
            req.query_id
        ))
    };
    let plan = physical_plan_from_bytes_with_extension_codec(&req.plan, &task_ctx, codec.as_ref())
        .map_err(|e| tonic::Status::invalid_argument(format!("cannot decode fragment: {e}")))?;
    let plan = cooperative(plan).map_err(df_status)?;
    let schema = plan.schema();
    let started = std::time::Instant::now();
    let mut stream = execute_stream(Arc::clone(&plan), task_ctx).map_err(mem_status)?;
    let header = doris_common::ipc::encode(&schema, None).map_err(to_status)?;
    let batch = |ipc| ArrowBatch {
        ipc,
        profile: String::new(),
    };
    if tx.send(Ok(batch(header))).await.is_err() {
        return Ok(());
    }
    while let Some(b) = stream.next().await {
        let b = b.map_err(mem_status)?;
        if b.num_rows() == 0 {
            continue;
        }
        let ipc = doris_common::ipc::encode(&schema, Some(&b)).map_err(to_status)?;
        if tx.send(Ok(batch(ipc))).await.is_err() {
            // The consumer hung up: dropping the stream cancels the plan.
            return Ok(());
        }
    }
    if req.profile {
        drop(stream);
        let mut text = format!(
            "Fragment {} (active {} ms)\n",
            req.fragment_id,
            started.elapsed().as_millis()
        );
        profile_lines(&plan, 1, &mut text);
        let _ = tx
            .send(Ok(ArrowBatch {
                ipc: Vec::new(),
                profile: text,
            }))
            .await;
    }
    Ok(())
}

/// The operators of an executed plan with their metrics (rows, time, memory), one per
/// line, indented by depth (the cooperative wrappers left out).
fn profile_lines(plan: &Arc<dyn ExecutionPlan>, depth: usize, out: &mut String) {
    if plan.is::<CooperativeExec>() {
        for c in plan.children() {
            profile_lines(c, depth, out);
        }
        return;
    }
    let line = datafusion::physical_plan::displayable(plan.as_ref())
        .one_line()
        .to_string();
    let metrics = plan
        .metrics()
        .map(|m| {
            m.aggregate_by_name()
                .sorted_for_display()
                .timestamps_removed()
                .to_string()
        })
        .unwrap_or_default();
    out.push_str(&format!(
        "{}{}  metrics=[{metrics}]\n",
        "  ".repeat(depth),
        line.trim_end()
    ));
    for c in plan.children() {
        profile_lines(c, depth + 1, out);
    }
}

/// Puts a [`CooperativeExec`] between every operator and its inputs: each batch passed up
/// uses up some of the task's budget, so an operator that loops over a CPU-bound input (an
/// aggregation over a nested-loop join) still yields now and then, and a cancelled
/// fragment stops promptly instead of running to its end.
fn cooperative(plan: Arc<dyn ExecutionPlan>) -> datafusion::error::Result<Arc<dyn ExecutionPlan>> {
    let wrapped = plan.transform_up(|node| {
        if node.children().is_empty() || node.is::<CooperativeExec>() {
            return Ok(Transformed::no(node));
        }
        let children = node
            .children()
            .into_iter()
            .map(|c| -> Arc<dyn ExecutionPlan> {
                if c.is::<CooperativeExec>() {
                    Arc::clone(c)
                } else {
                    Arc::new(CooperativeExec::new(Arc::clone(c)))
                }
            })
            .collect();
        Ok(Transformed::yes(replace_children_if_necessary(
            node, children,
        )?))
    })?;
    Ok(wrapped.data)
}

/// A DataFusion error as the client should read it (without "Execution error: " etc.).
fn df_status(e: datafusion::error::DataFusionError) -> tonic::Status {
    use datafusion::error::DataFusionError;
    match e.find_root() {
        DataFusionError::Execution(m) => tonic::Status::internal(m.clone()),
        other => tonic::Status::internal(other.to_string()),
    }
}

fn to_status(e: impl std::fmt::Display) -> tonic::Status {
    tonic::Status::internal(e.to_string())
}
