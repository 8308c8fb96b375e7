//! brpc_port: plan fragments (execute, streaming Arrow IPC results; cancel), exchange
//! streams between fragments, and rows another backend writes into this one's tablets.

use std::pin::Pin;
use std::sync::Arc;

use doris_common::fragment::SinkSpec;
use doris_proto::internal_service_server::InternalService;
use doris_proto::{
    ArrowBatch, CancelPlanFragmentRequest, CancelPlanFragmentResponse, ExecPlanFragmentRequest,
    TabletWriteRequest, TabletWriteResponse, TransmitDataRequest, TransmitDataResponse,
};
use futures::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status, Streaming};
use tracing::warn;

use crate::storage::writer::TabletStore;

use super::Backend;

pub struct InternalImpl(pub Arc<Backend>);

type BatchStream = Pin<Box<dyn Stream<Item = Result<ArrowBatch, Status>> + Send>>;

#[tonic::async_trait]
impl InternalService for InternalImpl {
    type ExecPlanFragmentStream = BatchStream;

    async fn exec_plan_fragment(
        &self,
        request: Request<ExecPlanFragmentRequest>,
    ) -> Result<Response<Self::ExecPlanFragmentStream>, Status> {
        let (tx, rx) = tokio::sync::mpsc::channel(8);
        self.0.executor.execute(request.into_inner(), tx);
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }

    async fn cancel_plan_fragment(
        &self,
        request: Request<CancelPlanFragmentRequest>,
    ) -> Result<Response<CancelPlanFragmentResponse>, Status> {
        self.0.executor.cancel(&request.into_inner().query_id);
        Ok(Response::new(CancelPlanFragmentResponse {}))
    }

    async fn transmit_data(
        &self,
        request: Request<Streaming<TransmitDataRequest>>,
    ) -> Result<Response<TransmitDataResponse>, Status> {
        crate::exec::exchange::receive_stream(self.0.executor.exchanges(), request.into_inner())
            .await?;
        Ok(Response::new(TransmitDataResponse {}))
    }

    async fn tablet_write(
        &self,
        request: Request<Streaming<TabletWriteRequest>>,
    ) -> Result<Response<TabletWriteResponse>, Status> {
        let rows = write_tablets(&self.0, request.into_inner()).await?;
        Ok(Response::new(TabletWriteResponse { rows }))
    }
}

/// Writes the rows of one `TabletWrite` stream into this BE's tablets; on the end mark the
/// pending rowsets are recorded, otherwise (the sender failed) everything is discarded.
async fn write_tablets(
    backend: &Backend,
    mut stream: Streaming<TabletWriteRequest>,
) -> Result<u64, Status> {
    let Some(first) = stream.message().await? else {
        return Err(Status::invalid_argument("empty tablet write stream"));
    };
    let spec: SinkSpec = serde_json::from_str(&first.sink_spec_json)
        .map_err(|e| Status::invalid_argument(format!("bad write plan: {e}")))?;
    // The stream writes the base table's tablets, or those of one materialized index.
    let mut store = match spec.indexes.iter().find(|i| i.index_id == first.index_id) {
        Some(index) => TabletStore::new(
            Arc::clone(&backend.engine),
            spec.txn_id,
            crate::exec::sink::index_schema(index),
            index.key_columns.clone(),
            None,
        ),
        None => TabletStore::new(
            Arc::clone(&backend.engine),
            spec.txn_id,
            crate::exec::sink::sink_schema(&spec),
            spec.key_columns.clone(),
            spec.partial_columns.clone(),
        ),
    };
    let mut rows = 0u64;
    let result = loop {
        let msg = match stream.message().await {
            Ok(Some(m)) => m,
            Ok(None) => break Err(Status::aborted("the writer stopped before its end mark")),
            Err(status) => break Err(status),
        };
        if !msg.ipc.is_empty() {
            let batches = match doris_common::ipc::decode(&msg.ipc) {
                Ok((_, b)) => b,
                Err(e) => break Err(Status::invalid_argument(format!("bad rows: {e}"))),
            };
            let mut failed = None;
            for b in batches {
                rows += b.num_rows() as u64;
                if let Err(e) = store.add(msg.tablet_id, b).await {
                    failed = Some(Status::internal(e.to_string()));
                    break;
                }
            }
            if let Some(status) = failed {
                break Err(status);
            }
        }
        if msg.eos {
            break store
                .finish()
                .await
                .map(|()| rows)
                .map_err(|e| Status::internal(e.to_string()));
        }
    };
    if let Err(status) = &result {
        warn!(txn_id = spec.txn_id, error = %status.message(), "remote tablet write failed");
        store.discard().await;
    }
    result
}
