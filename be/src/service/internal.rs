//! Plan fragments on brpc_port: execute (streaming Arrow IPC results) and cancel.

use std::pin::Pin;
use std::sync::Arc;

use doris_proto::internal_service_server::InternalService;
use doris_proto::{
    ArrowBatch, CancelPlanFragmentRequest, CancelPlanFragmentResponse, ExecPlanFragmentRequest,
};
use futures::Stream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};

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
}
