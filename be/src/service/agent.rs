//! Agent tasks from the FE on be_port: create/drop tablets, publish and clear load
//! transactions, report tablets (streamed in chunks).

use std::collections::HashMap;
use std::sync::Arc;

use doris_common::types::ColumnType;
use doris_proto::backend_service_server::BackendService;
use doris_proto::{
    BuildIndexRequest, BuildIndexResponse, ClearTransactionRequest, ClearTransactionResponse,
    CreateTabletRequest, CreateTabletResponse, CreateTabletsRequest, DropTabletRequest,
    DropTabletResponse, PublishVersionRequest, PublishVersionResponse, PushDeleteRequest,
    PushDeleteResponse, ReportTabletsRequest, ReportTabletsResponse, TabletInfo, TabletSchema,
    UpdateTabletSchemaRequest, UpdateTabletSchemaResponse,
};
use tonic::{Request, Response, Status};
use tracing::info;

use super::Backend;
use crate::error::BeError;
use crate::storage::now_ms;
use crate::storage::tablet::{ColumnMeta, KeysType, TabletMeta};

pub struct AgentImpl(pub Arc<Backend>);

/// Tablets per message of a tablet report.
const REPORT_CHUNK: usize = 8192;

fn tablet_info(s: crate::storage::TabletStat) -> TabletInfo {
    TabletInfo {
        tablet_id: s.tablet_id,
        max_version: s.max_version,
        row_count: s.row_count as i64,
        data_size: s.data_size as i64,
        rowset_count: s.rowset_count as i64,
        columns: s
            .columns
            .into_iter()
            .map(|c| doris_proto::ColumnStats {
                name: c.name,
                null_count: i64::try_from(c.null_count).unwrap_or(i64::MAX),
                min: c.min,
                max: c.max,
                distinct: c.distinct,
            })
            .collect(),
    }
}

/// Runs blocking storage work (RocksDB syncs, file removal) off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, BeError> + Send + 'static,
) -> Result<T, Status> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Status::internal(e.to_string()))?
        .map_err(Status::from)
}

/// The columns of a tablet schema sent by the FE.
fn columns_of(schema: &TabletSchema) -> Result<Vec<ColumnMeta>, BeError> {
    schema
        .columns
        .iter()
        .cloned()
        .map(|c| {
            let column_type: ColumnType = serde_json::from_str(&c.column_type)
                .map_err(|e| BeError::InvalidArgument(format!("column {}: {e}", c.name)))?;
            Ok(ColumnMeta {
                name: c.name,
                column_type,
                nullable: c.nullable,
                is_key: c.is_key,
                aggregation: (!c.aggregation.is_empty()).then_some(c.aggregation),
                fill_value: c.fill_value,
            })
        })
        .collect()
}

fn tablet_meta(req: CreateTabletRequest) -> Result<TabletMeta, BeError> {
    let schema = req
        .schema
        .ok_or_else(|| BeError::InvalidArgument("tablet schema missing".into()))?;
    let keys_type = KeysType::from_proto(schema.keys_type)
        .ok_or_else(|| BeError::InvalidArgument(format!("keys_type {}", schema.keys_type)))?;
    let columns = columns_of(&schema)?;
    Ok(TabletMeta {
        tablet_id: req.tablet_id,
        table_id: req.table_id,
        partition_id: req.partition_id,
        index_id: req.index_id,
        replica_id: req.replica_id,
        keys_type,
        columns,
        schema_version: schema.schema_version,
        max_version: req.version,
        creation_time_ms: now_ms(),
        merge_on_write: schema.merge_on_write,
        cumulative_point: 0,
        bloom_filter_columns: schema
            .bloom_filter_columns
            .iter()
            .map(|c| c.to_lowercase())
            .collect(),
        bloom_filter_fpp: (schema.bloom_filter_fpp > 0.0).then_some(schema.bloom_filter_fpp),
    })
}

#[tonic::async_trait]
impl BackendService for AgentImpl {
    async fn create_tablets(
        &self,
        request: Request<CreateTabletsRequest>,
    ) -> Result<Response<CreateTabletResponse>, Status> {
        let metas = request
            .into_inner()
            .tablets
            .into_iter()
            .map(tablet_meta)
            .collect::<Result<Vec<_>, _>>()?;
        let engine = Arc::clone(&self.0.engine);
        blocking(move || engine.create_tablets(metas)).await?;
        Ok(Response::new(CreateTabletResponse {}))
    }

    async fn drop_tablet(
        &self,
        request: Request<DropTabletRequest>,
    ) -> Result<Response<DropTabletResponse>, Status> {
        let ids = request.into_inner().tablet_ids;
        info!(count = ids.len(), "drop tablets");
        let engine = Arc::clone(&self.0.engine);
        blocking(move || engine.drop_tablets(&ids)).await?;
        Ok(Response::new(DropTabletResponse {}))
    }

    async fn publish_version(
        &self,
        request: Request<PublishVersionRequest>,
    ) -> Result<Response<PublishVersionResponse>, Status> {
        let req = request.into_inner();
        let versions: HashMap<i64, i64> = req.tablet_versions.into_iter().collect();
        let engine = Arc::clone(&self.0.engine);
        let missing = blocking(move || engine.publish(req.txn_id, &versions)).await?;
        Ok(Response::new(PublishVersionResponse {
            error_tablet_ids: missing,
        }))
    }

    async fn push_delete(
        &self,
        request: Request<PushDeleteRequest>,
    ) -> Result<Response<PushDeleteResponse>, Status> {
        let req = request.into_inner();
        info!(txn_id = req.txn_id, tablets = req.tablet_ids.len(), predicate = %req.predicate, "push delete");
        let engine = Arc::clone(&self.0.engine);
        blocking(move || engine.add_delete(req.txn_id, &req.tablet_ids, &req.predicate)).await?;
        Ok(Response::new(PushDeleteResponse {}))
    }

    async fn update_tablet_schema(
        &self,
        request: Request<UpdateTabletSchemaRequest>,
    ) -> Result<Response<UpdateTabletSchemaResponse>, Status> {
        let req = request.into_inner();
        let schema = req
            .schema
            .ok_or_else(|| Status::invalid_argument("tablet schema missing"))?;
        let columns = columns_of(&schema)?;
        info!(
            tablets = req.tablet_ids.len(),
            version = schema.schema_version,
            "update tablet schema"
        );
        let engine = Arc::clone(&self.0.engine);
        blocking(move || engine.update_schema(&req.tablet_ids, columns, schema.schema_version))
            .await?;
        Ok(Response::new(UpdateTabletSchemaResponse {}))
    }

    async fn build_index(
        &self,
        request: Request<BuildIndexRequest>,
    ) -> Result<Response<BuildIndexResponse>, Status> {
        let req = request.into_inner();
        info!(
            base = req.base_tablet_id,
            index = req.index_tablet_id,
            version = req.version,
            "build materialized index"
        );
        let engine = Arc::clone(&self.0.engine);
        blocking(move || {
            engine.build_index(
                (req.base_tablet_id, req.index_tablet_id),
                req.version,
                (&req.columns, &req.fills),
            )
        })
        .await?;
        Ok(Response::new(BuildIndexResponse {}))
    }

    async fn clear_transaction(
        &self,
        request: Request<ClearTransactionRequest>,
    ) -> Result<Response<ClearTransactionResponse>, Status> {
        let txn_id = request.into_inner().txn_id;
        let engine = Arc::clone(&self.0.engine);
        blocking(move || engine.clear_txn(txn_id)).await?;
        Ok(Response::new(ClearTransactionResponse {}))
    }

    type ReportTabletsStream =
        futures::stream::Iter<std::vec::IntoIter<Result<ReportTabletsResponse, Status>>>;

    async fn report_tablets(
        &self,
        request: Request<ReportTabletsRequest>,
    ) -> Result<Response<Self::ReportTabletsStream>, Status> {
        let only = request.into_inner().tablet_ids;
        let engine = Arc::clone(&self.0.engine);
        let stats = blocking(move || Ok::<_, BeError>(engine.tablet_stats(&only))).await?;
        let mut chunks = Vec::with_capacity(stats.len() / REPORT_CHUNK + 1);
        let mut stats = stats.into_iter().peekable();
        while stats.peek().is_some() {
            let tablets = stats.by_ref().take(REPORT_CHUNK).map(tablet_info).collect();
            chunks.push(Ok(ReportTabletsResponse { tablets }));
        }
        Ok(Response::new(futures::stream::iter(chunks)))
    }
}
