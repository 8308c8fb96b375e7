//! Runs a physical plan: on the FE when it touches no tablets (constants, `numbers()`),
//! otherwise as a plan fragment on a backend that holds every tablet it reads or writes,
//! streaming the Arrow batches back. Entry point: [`execute_plan`].

use std::sync::Arc;
use std::time::Duration;

use datafusion::physical_plan::{execute_stream, ExecutionPlan};
use datafusion::prelude::SessionContext;
use datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec;
use doris_common::fragment::{DorisCodec, OlapScanExec, OlapTableSinkExec};
use doris_proto::{CancelPlanFragmentRequest, ExecPlanFragmentRequest};
use futures::StreamExt;
use parking_lot::Mutex;
use tracing::debug;

use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::RowSet;
use crate::mysql::session::{ProcessInfo, Session};

/// Backend sets required by the plan's scans and sinks (each set: any one will do).
fn required_backends(plan: &Arc<dyn ExecutionPlan>, out: &mut Vec<Vec<i64>>) {
    if let Some(scan) = plan.downcast_ref::<OlapScanExec>() {
        out.push(scan.spec.replica_backends.clone());
    }
    if let Some(sink) = plan.downcast_ref::<OlapTableSinkExec>() {
        out.push(sink.spec.replica_backends.clone());
    }
    for child in plan.children() {
        required_backends(child, out);
    }
}

/// Picks one alive backend holding every tablet the plan touches.
fn choose_backend(env: &Env, sets: &[Vec<i64>]) -> Result<(i64, String, u16)> {
    let mut common: Vec<i64> = sets.first().cloned().unwrap_or_default();
    for s in &sets[1..] {
        common.retain(|b| s.contains(b));
    }
    let catalog = env.catalog.read();
    let states = env.backend_state.read();
    if common.is_empty() {
        return Err(FeError::NotSupported(
            "a query over tables placed on different backends (distributed exchange comes with the MPP work)".into(),
        ));
    }
    for id in &common {
        if let (Some(b), Some(s)) = (catalog.backends.get(id), states.get(id)) {
            if s.alive {
                return Ok((*id, b.host.clone(), s.brpc_port));
            }
        }
    }
    let names: Vec<String> = common
        .iter()
        .map(|id| {
            catalog
                .backends
                .get(id)
                .map_or(format!("backend {id} (dropped)"), |b| b.endpoint())
        })
        .collect();
    Err(FeError::Backend(format!(
        "no alive backend holds the data: backend {} is not alive",
        names.join(", ")
    )))
}

/// Executes `plan` and returns its output as a stream.
pub async fn execute_plan(
    env: &Arc<Env>,
    session: &Session,
    ctx: &SessionContext,
    plan: Arc<dyn ExecutionPlan>,
) -> Result<RowSet> {
    let mut sets = Vec::new();
    required_backends(&plan, &mut sets);
    if sets.is_empty() {
        let stream = execute_stream(plan, ctx.task_ctx())?;
        let schema = stream.schema();
        return Ok(RowSet {
            schema,
            batches: Box::pin(stream.map(|r| r.map_err(FeError::from))),
        });
    }
    let (backend_id, host, port) = match choose_backend(env, &sets) {
        Ok(b) => b,
        Err(_) => {
            // Right after a restart no heartbeat may have reached the backend yet.
            crate::cluster::heartbeat::heartbeat_all(env).await;
            choose_backend(env, &sets)?
        }
    };
    let bytes = physical_plan_to_bytes_with_extension_codec(plan, &DorisCodec::new())?;
    let query_id = uuid::Uuid::new_v4().to_string();
    let timeout = Duration::from_secs(session.query_timeout_secs().max(1));
    let req = ExecPlanFragmentRequest {
        query_id: query_id.clone(),
        fragment_id: 0,
        plan: bytes.to_vec(),
        batch_size: session.batch_size() as i32,
        parallelism: session.parallelism() as i32,
        timeout_ms: timeout.as_millis() as i64,
        time_zone: session.var("time_zone").unwrap_or("UTC").to_string(),
    };
    debug!(%query_id, backend_id, "sending fragment");
    session.info.lock().query_id = query_id.clone();
    let unavailable = |e: String| FeError::Backend(format!("backend {host}:{port} failed: {e}"));
    let mut client = env.clients.internal(&host, port)?;
    let mut stream = tokio::time::timeout(timeout, client.exec_plan_fragment(req))
        .await
        .map_err(|_| unavailable("timed out".into()))?
        .map_err(|s| unavailable(s.message().to_string()))?
        .into_inner();
    let first = tokio::time::timeout(timeout, stream.message())
        .await
        .map_err(|_| timeout_error(timeout))?
        .map_err(|s| status_error(&host, port, &s))?
        .ok_or_else(|| unavailable("empty response".into()))?;
    let (schema, _) = doris_common::ipc::decode(&first.ipc)
        .map_err(|e| FeError::Internal(format!("bad result from backend: {e}")))?;
    let state = RemoteStream {
        stream,
        host: host.clone(),
        port,
        timeout,
        info: Arc::clone(&session.info),
        env: Arc::clone(env),
        query_id,
        pending: Vec::new(),
    };
    let batches = futures::stream::try_unfold(state, |mut st| async move {
        loop {
            if let Some(b) = st.pending.pop() {
                return Ok(Some((b, st)));
            }
            if st.info.lock().killed {
                st.info.lock().killed = false;
                st.cancel().await;
                return Err(FeError::Analysis("Query was cancelled (KILL QUERY)".into()));
            }
            let msg = tokio::time::timeout(st.timeout, st.stream.message())
                .await
                .map_err(|_| timeout_error(st.timeout))?
                .map_err(|s| status_error(&st.host, st.port, &s))?;
            let Some(msg) = msg else {
                return Ok(None);
            };
            let (_, mut batches) = doris_common::ipc::decode(&msg.ipc)
                .map_err(|e| FeError::Internal(format!("bad result from backend: {e}")))?;
            batches.reverse();
            st.pending = batches;
        }
    });
    Ok(RowSet {
        schema,
        batches: Box::pin(batches),
    })
}

struct RemoteStream {
    stream: tonic::Streaming<doris_proto::ArrowBatch>,
    host: String,
    port: u16,
    timeout: Duration,
    info: Arc<Mutex<ProcessInfo>>,
    env: Arc<Env>,
    query_id: String,
    pending: Vec<datafusion::arrow::record_batch::RecordBatch>,
}

impl RemoteStream {
    async fn cancel(&self) {
        if let Ok(mut c) = self.env.clients.internal(&self.host, self.port) {
            let _ = c
                .cancel_plan_fragment(CancelPlanFragmentRequest {
                    query_id: self.query_id.clone(),
                })
                .await;
        }
    }
}

fn timeout_error(t: Duration) -> FeError {
    FeError::Analysis(format!(
        "Query timeout after {} seconds; you can change the limit by session variable query_timeout",
        t.as_secs()
    ))
}

fn status_error(host: &str, port: u16, s: &tonic::Status) -> FeError {
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => {
            FeError::Backend(format!("backend {host}:{port} failed: {}", s.message()))
        }
        tonic::Code::DeadlineExceeded => FeError::Analysis(s.message().to_string()),
        _ => FeError::DataFusion(s.message().to_string()),
    }
}
