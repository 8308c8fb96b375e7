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

use crate::storage::StorageEngine;
use exchange::{ExchangeRegistry, ExchangeSinkNode, ExchangeSourceNode};
use sink::TabletSinkExec;

/// Turns the specs of the project's nodes into nodes over this BE's storage and peers.
#[derive(Clone)]
pub struct NodeResolver {
    pub engine: Arc<StorageEngine>,
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
        scan::scan_node(&self.engine, spec, table_schema, predicate)
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

pub type BatchSender = mpsc::Sender<Result<ArrowBatch, tonic::Status>>;

pub struct FragmentExecutor {
    codec: Arc<DorisCodec>,
    exchanges: Arc<ExchangeRegistry>,
    /// Where fragments run: a runtime of its own, so CPU-bound operators never starve the
    /// gRPC services (cancels, exchange streams, heartbeats) of threads.
    runtime: tokio::runtime::Handle,
    running: Arc<Mutex<HashMap<String, HashMap<tokio::task::Id, AbortHandle>>>>,
}

impl FragmentExecutor {
    pub fn new(resolver: NodeResolver, runtime: tokio::runtime::Handle) -> Self {
        let exchanges = Arc::clone(&resolver.exchanges);
        Self {
            codec: Arc::new(DorisCodec::with_resolver(Arc::new(resolver))),
            exchanges,
            runtime,
            running: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The registry where this BE's exchange receivers collect their data.
    pub fn exchanges(&self) -> &ExchangeRegistry {
        &self.exchanges
    }

    fn task_context(req: &ExecPlanFragmentRequest) -> Arc<TaskContext> {
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
        let ctx = SessionContext::new_with_config(config);
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
        let codec = Arc::clone(&self.codec);
        let running = Arc::clone(&self.running);
        let query_id = req.query_id.clone();
        let timeout = (req.timeout_ms > 0).then(|| Duration::from_millis(req.timeout_ms as u64));
        let qid = query_id.clone();
        let mut running_guard = self.running.lock();
        let handle = self.runtime.spawn(async move {
            let work = run_fragment(req, codec, tx.clone());
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
                    running.remove(&qid);
                }
            }
        });
        // Still holding the lock: the task cannot unregister before it is registered.
        running_guard
            .entry(query_id)
            .or_default()
            .insert(handle.id(), handle.abort_handle());
    }

    /// Aborts every fragment of `query_id` running here and drops its exchange data (also
    /// how the FE releases a finished query).
    pub fn cancel(&self, query_id: &str) -> usize {
        self.exchanges.finish_query(query_id);
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
    tx: BatchSender,
) -> Result<(), tonic::Status> {
    let task_ctx = FragmentExecutor::task_context(&req);
    let plan = physical_plan_from_bytes_with_extension_codec(&req.plan, &task_ctx, codec.as_ref())
        .map_err(|e| tonic::Status::invalid_argument(format!("cannot decode fragment: {e}")))?;
    let plan = cooperative(plan).map_err(df_status)?;
    let schema = plan.schema();
    let mut stream = execute_stream(plan, task_ctx).map_err(df_status)?;
    let header = doris_common::ipc::encode(&schema, None).map_err(to_status)?;
    if tx.send(Ok(ArrowBatch { ipc: header })).await.is_err() {
        return Ok(());
    }
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(df_status)?;
        if batch.num_rows() == 0 {
            continue;
        }
        let ipc = doris_common::ipc::encode(&schema, Some(&batch)).map_err(to_status)?;
        if tx.send(Ok(ArrowBatch { ipc })).await.is_err() {
            // The consumer hung up: dropping the stream cancels the plan.
            return Ok(());
        }
    }
    Ok(())
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
