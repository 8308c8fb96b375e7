//! The FE's gRPC `FrontendService` on rpc_port: what a BE coordinating a stream load
//! asks of the FE (authenticate and begin a transaction with the table's write plan,
//! commit or pre-commit it, roll it back, and the two-phase commit's second phase); and
//! what another frontend forwards to the master (statements that change metadata). On a
//! frontend that is not the master, backends' load calls are relayed to the master.

use std::sync::Arc;

use doris_proto::frontend_service_client::FrontendServiceClient;
use doris_proto::frontend_service_server::{FrontendService, FrontendServiceServer};
use doris_proto::{
    FeStatus, ForwardStatementRequest, ForwardStatementResponse, LoadTxn2PcRequest,
    LoadTxn2PcResponse, LoadTxnBeginRequest, LoadTxnBeginResponse, LoadTxnCommitRequest,
    LoadTxnCommitResponse, LoadTxnRollbackRequest, LoadTxnRollbackResponse,
};
use tonic::transport::Channel;
use tonic::{Request, Response, Status};
use tracing::info;

use crate::catalog::{ColumnDefault, LoadKind, LoadStats, TxnStatus};
use crate::env::Env;
use crate::error::{FeError, Result};

/// Serves `FrontendService` on an already bound rpc_port listener.
pub async fn serve(
    listener: tokio::net::TcpListener,
    env: Arc<Env>,
) -> std::result::Result<(), tonic::transport::Error> {
    info!(rpc_port = env.config.rpc_port, "frontend service listening");
    tonic::transport::Server::builder()
        .add_service(
            FrontendServiceServer::new(FrontendImpl(env))
                .max_decoding_message_size(doris_proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(doris_proto::MAX_MESSAGE_BYTES),
        )
        .serve_with_incoming(doris_common::net::nodelay_incoming(listener))
        .await
}

struct FrontendImpl(Arc<Env>);

/// Marks a load RPC that one frontend relayed to the master (never relayed again).
const RELAYED: &str = "x-doris-relayed";

/// Where a backend's load RPC is answered.
enum Route<T> {
    Here(Request<T>),
    /// Relayed to the master's service.
    Master(FrontendServiceClient<Channel>, Request<T>),
}

impl FrontendImpl {
    /// A backend talks to the frontend that heartbeat it last, which may have just lost
    /// mastership: on a frontend that is not the master, its load RPCs go to the master.
    fn route<T>(&self, request: Request<T>) -> std::result::Result<Route<T>, Status> {
        if self.0.is_master() {
            return Ok(Route::Here(request));
        }
        if request.metadata().contains_key(RELAYED) {
            return Err(Status::unavailable("this frontend is not the master"));
        }
        let (_, host, port) = crate::qe::forward::master_rpc_address(&self.0)
            .ok_or_else(|| Status::unavailable("no frontend master is elected"))?;
        let channel = self
            .0
            .fe_channels
            .channel(&host, port)
            .map_err(Status::unavailable)?;
        let mut relayed = Request::new(request.into_inner());
        relayed
            .metadata_mut()
            .insert(RELAYED, tonic::metadata::MetadataValue::from_static("1"));
        Ok(Route::Master(FrontendServiceClient::new(channel), relayed))
    }
}

fn ok() -> Option<FeStatus> {
    Some(FeStatus {
        code: "OK".into(),
        message: String::new(),
    })
}

/// Doris's status name for an error (the BE puts it in brackets in `Message`).
fn status_of(e: &FeError) -> Option<FeStatus> {
    let code = match e {
        FeError::LabelAlreadyExists { .. } => "LABEL_ALREADY_EXISTS",
        FeError::AccessDenied(_) => "NOT_AUTHORIZED",
        FeError::UnknownDatabase(_) | FeError::UnknownTable(_) | FeError::Analysis(_) => {
            "ANALYSIS_ERROR"
        }
        FeError::NotSupported(_) => "NOT_IMPLEMENTED_ERROR",
        FeError::TxnState(_) => "INVALID_ARGUMENT",
        _ => "INTERNAL_ERROR",
    };
    Some(FeStatus {
        code: code.into(),
        message: e.to_string(),
    })
}

fn authenticate(env: &Env, user: &str, password: &str) -> Result<()> {
    if crate::mysql::verify_plain_password(&env.catalog.read(), user, password) {
        Ok(())
    } else {
        Err(FeError::AccessDenied(format!(
            "{user}@% (using password: {})",
            if password.is_empty() { "NO" } else { "YES" }
        )))
    }
}

fn default_sql(d: &Option<ColumnDefault>) -> String {
    match d {
        Some(ColumnDefault::Literal(v)) => format!("'{}'", v.replace('\'', "''")),
        Some(ColumnDefault::CurrentTimestamp) => "now()".into(),
        Some(ColumnDefault::CurrentDate) => "curdate()".into(),
        Some(ColumnDefault::Null) => "NULL".into(),
        None => String::new(),
    }
}

impl FrontendImpl {
    fn begin(&self, req: LoadTxnBeginRequest) -> Result<LoadTxnBeginResponse> {
        let env = &self.0;
        authenticate(env, &req.user, &req.password)?;
        let (db_id, table) = {
            let catalog = env.catalog.read();
            let db = catalog
                .db_by_name(&req.db)
                .ok_or_else(|| FeError::UnknownDatabase(req.db.clone()))?;
            let table = db
                .table_by_name(&req.table)
                .ok_or_else(|| FeError::UnknownTable(req.table.clone()))?;
            (db.id, table.clone())
        };
        for p in &req.partitions {
            if !table
                .partitions
                .iter()
                .any(|x| x.name.eq_ignore_ascii_case(p))
            {
                return Err(FeError::Analysis(format!(
                    "Unknown partition '{p}' in table '{}'",
                    table.name
                )));
            }
        }
        let host = env
            .catalog
            .read()
            .backends
            .get(&req.backend_id)
            .map_or_else(|| "unknown".to_string(), |b| b.host.clone());
        let timeout_s = if req.timeout_s > 0 {
            req.timeout_s
        } else {
            env.config.stream_load_default_timeout_second as i64
        };
        let txn = crate::txn::begin(
            env,
            crate::txn::BeginRequest {
                db_id,
                table_id: table.id,
                label: (!req.label.is_empty()).then(|| req.label.clone()),
                kind: LoadKind::StreamLoad,
                coordinator: format!("BE: {host}"),
                coordinator_backend: Some(req.backend_id),
                user: req.user.clone(),
                client_ip: req.client_host.clone(),
                two_phase_commit: req.two_phase_commit,
                timeout_ms: timeout_s.saturating_mul(1000),
            },
        )?;
        // The table as of after the txn began: an index (rollup, schema change shadow)
        // added before then is one this load must write (see `add_index`).
        let table = env
            .catalog
            .read()
            .databases
            .get(&db_id)
            .and_then(|d| d.tables.get(&table.id))
            .cloned()
            .unwrap_or(table);
        let spec = crate::planner::catalog::sink_spec(
            &req.db,
            &table,
            txn.txn_id,
            crate::cluster::backend_endpoints(env),
        );
        Ok(LoadTxnBeginResponse {
            status: ok(),
            txn_id: txn.txn_id,
            label: txn.label,
            existing_job_status: String::new(),
            sink_spec_json: serde_json::to_string(&spec)
                .map_err(|e| FeError::Internal(e.to_string()))?,
            column_defaults: table
                .storage_columns()
                .iter()
                .map(|c| default_sql(&c.default))
                .collect(),
        })
    }

    async fn two_phase(&self, req: LoadTxn2PcRequest) -> Result<i64> {
        let env = &self.0;
        authenticate(env, &req.user, &req.password)?;
        let db_id = env
            .catalog
            .read()
            .db_by_name(&req.db)
            .map(|d| d.id)
            .ok_or_else(|| FeError::UnknownDatabase(req.db.clone()))?;
        let txn_id = if req.txn_id > 0 {
            req.txn_id
        } else if !req.label.is_empty() {
            env.catalog
                .read()
                .txn_by_label(db_id, &req.label)
                .map(|t| t.txn_id)
                .ok_or_else(|| FeError::TxnState(format!("label [{}] does not exist", req.label)))?
        } else {
            return Err(FeError::TxnState("no txn_id or label given".into()));
        };
        let t = env.catalog.read().txns.get(&txn_id).cloned();
        let Some(t) = t.filter(|t| t.db_id == db_id) else {
            return Err(FeError::TxnState(format!(
                "transaction [{txn_id}] not found in database {}",
                req.db
            )));
        };
        match req.operation.to_ascii_lowercase().as_str() {
            "commit" => {
                // Only a pre-committed (two-phase) load may be committed here.
                if t.status != TxnStatus::Precommitted {
                    return Err(crate::txn::state_error(&t, "commit"));
                }
                crate::txn::commit(env, txn_id, t.stats.clone(), None).await?;
            }
            "abort" => {
                if t.status == TxnStatus::Visible || t.status == TxnStatus::Committed {
                    return Err(FeError::TxnState(format!(
                        "transaction [{txn_id}] is already {}, could not abort.",
                        t.status.name()
                    )));
                }
                crate::txn::abort(env, txn_id, "user abort", LoadStats::default()).await?;
            }
            other => {
                return Err(FeError::TxnState(format!(
                    "txn_operation must be commit or abort, got '{other}'"
                )))
            }
        }
        Ok(txn_id)
    }
}

#[tonic::async_trait]
impl FrontendService for FrontendImpl {
    async fn load_txn_begin(
        &self,
        request: Request<LoadTxnBeginRequest>,
    ) -> std::result::Result<Response<LoadTxnBeginResponse>, Status> {
        let request = match self.route(request)? {
            Route::Here(request) => request,
            Route::Master(mut master, request) => return master.load_txn_begin(request).await,
        };
        let req = request.into_inner();
        let label = req.label.clone();
        let resp = self.begin(req).unwrap_or_else(|e| {
            let existing_job_status = match &e {
                FeError::LabelAlreadyExists { status, .. } => status.clone(),
                _ => String::new(),
            };
            LoadTxnBeginResponse {
                status: status_of(&e),
                txn_id: -1,
                label,
                existing_job_status,
                ..Default::default()
            }
        });
        Ok(Response::new(resp))
    }

    async fn load_txn_commit(
        &self,
        request: Request<LoadTxnCommitRequest>,
    ) -> std::result::Result<Response<LoadTxnCommitResponse>, Status> {
        let request = match self.route(request)? {
            Route::Here(request) => request,
            Route::Master(mut master, request) => return master.load_txn_commit(request).await,
        };
        let req = request.into_inner();
        let stats: LoadStats = req.stats.as_ref().map(Into::into).unwrap_or_default();
        let env = &self.0;
        let result = if req.precommit {
            crate::txn::precommit(env, req.txn_id, stats).map(|()| TxnStatus::Precommitted)
        } else {
            crate::txn::commit(env, req.txn_id, stats, None).await
        };
        let status = match result {
            Ok(TxnStatus::Committed) => Some(FeStatus {
                code: "PUBLISH_TIMEOUT".into(),
                message: "transaction commit successfully, BUT data will be visible later".into(),
            }),
            Ok(_) => ok(),
            Err(e) => status_of(&e),
        };
        Ok(Response::new(LoadTxnCommitResponse { status }))
    }

    async fn load_txn_rollback(
        &self,
        request: Request<LoadTxnRollbackRequest>,
    ) -> std::result::Result<Response<LoadTxnRollbackResponse>, Status> {
        let request = match self.route(request)? {
            Route::Here(request) => request,
            Route::Master(mut master, request) => return master.load_txn_rollback(request).await,
        };
        let req = request.into_inner();
        let stats: LoadStats = req.stats.as_ref().map(Into::into).unwrap_or_default();
        let status = match crate::txn::abort(&self.0, req.txn_id, &req.reason, stats).await {
            Ok(()) => ok(),
            Err(e) => status_of(&e),
        };
        Ok(Response::new(LoadTxnRollbackResponse { status }))
    }

    async fn load_txn2_pc(
        &self,
        request: Request<LoadTxn2PcRequest>,
    ) -> std::result::Result<Response<LoadTxn2PcResponse>, Status> {
        let request = match self.route(request)? {
            Route::Here(request) => request,
            Route::Master(mut master, request) => return master.load_txn2_pc(request).await,
        };
        let resp = match self.two_phase(request.into_inner()).await {
            Ok(txn_id) => LoadTxn2PcResponse {
                status: ok(),
                txn_id,
            },
            Err(e) => LoadTxn2PcResponse {
                status: status_of(&e),
                txn_id: -1,
            },
        };
        Ok(Response::new(resp))
    }

    async fn forward_statement(
        &self,
        request: Request<ForwardStatementRequest>,
    ) -> std::result::Result<Response<ForwardStatementResponse>, Status> {
        let req = request.into_inner();
        crate::ha::network::check_cluster(req.cluster_id, self.0.cluster_id)?;
        Ok(Response::new(
            crate::qe::forward::execute_forwarded(&self.0, req).await,
        ))
    }
}
