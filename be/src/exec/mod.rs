//! Plan-fragment execution on the BE: decodes a fragment (datafusion-proto with
//! [`DorisCodec`]), runs it vectorized, and streams Arrow IPC batches to the caller.
//! Entry point: [`FragmentExecutor::execute`]; running fragments can be cancelled by query id.

pub mod scan;
pub mod sink;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::TaskContext;
use datafusion::physical_plan::execute_stream;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion_proto::bytes::physical_plan_from_bytes_with_extension_codec;
use doris_common::fragment::DorisCodec;
use doris_proto::{ArrowBatch, ExecPlanFragmentRequest};
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tracing::{info, warn};

use crate::storage::StorageEngine;
use scan::TabletResolver;

pub type BatchSender = mpsc::Sender<Result<ArrowBatch, tonic::Status>>;

pub struct FragmentExecutor {
    codec: Arc<DorisCodec>,
    running: Arc<Mutex<HashMap<String, Vec<AbortHandle>>>>,
}

impl FragmentExecutor {
    pub fn new(engine: Arc<StorageEngine>) -> Self {
        let resolver = Arc::new(TabletResolver { engine });
        Self {
            codec: Arc::new(DorisCodec::with_resolver(resolver)),
            running: Arc::new(Mutex::new(HashMap::new())),
        }
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
        let codec = Arc::clone(&self.codec);
        let running = Arc::clone(&self.running);
        let query_id = req.query_id.clone();
        let timeout = (req.timeout_ms > 0).then(|| Duration::from_millis(req.timeout_ms as u64));
        let qid = query_id.clone();
        let handle = tokio::spawn(async move {
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
            running.lock().remove(&qid);
        });
        self.running
            .lock()
            .entry(query_id)
            .or_default()
            .push(handle.abort_handle());
    }

    /// Aborts every fragment of `query_id` running here.
    pub fn cancel(&self, query_id: &str) -> usize {
        let handles = self.running.lock().remove(query_id).unwrap_or_default();
        for h in &handles {
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
