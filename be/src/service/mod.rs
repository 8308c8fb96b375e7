//! The BE's gRPC services: heartbeat (heartbeat_service_port), agent tasks from the FE
//! (be_port) and plan fragments (brpc_port). [`Backend`] owns the shared state and
//! [`serve`] binds every port.

mod agent;
mod heartbeat;
mod internal;

use std::net::SocketAddr;
use std::sync::Arc;

use doris_proto::backend_service_server::BackendServiceServer;
use doris_proto::heartbeat_service_server::HeartbeatServiceServer;
use doris_proto::internal_service_server::InternalServiceServer;
use tracing::info;

use crate::config::BeConfig;
use crate::exec::FragmentExecutor;
use crate::storage::StorageEngine;

/// HTTP/2 flow-control window of one stream into brpc_port.
const STREAM_WINDOW_BYTES: u32 = 2 * 1024 * 1024;
/// HTTP/2 flow-control window of one connection into brpc_port (room for 512 stalled
/// streams; memory is only used by data actually in flight).
const CONNECTION_WINDOW_BYTES: u32 = 1024 * 1024 * 1024;

/// gRPC messages can carry large plan fragments and result batches.
const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// State shared by every service of one BE process.
pub struct Backend {
    pub config: BeConfig,
    pub engine: Arc<StorageEngine>,
    pub executor: FragmentExecutor,
    /// Connections to other backends (exchange, remote tablet writes).
    pub channels: Arc<doris_proto::Channels>,
    pub start_time_ms: i64,
    /// The FE that last sent a heartbeat (where load transactions are begun).
    pub master: parking_lot::RwLock<Option<MasterInfo>>,
    /// The channel to that FE's rpc_port, reused across loads.
    pub fe_channel: parking_lot::Mutex<Option<(String, tonic::transport::Channel)>>,
}

/// What the latest heartbeat told about the FE and this BE's identity.
#[derive(Debug, Clone)]
pub struct MasterInfo {
    pub fe_host: String,
    pub fe_rpc_port: u16,
    pub backend_id: i64,
}

impl Backend {
    /// A client of the FE's `FrontendService`, or why there is none yet.
    pub fn frontend(
        &self,
    ) -> Result<
        (
            doris_proto::frontend_service_client::FrontendServiceClient<tonic::transport::Channel>,
            MasterInfo,
        ),
        String,
    > {
        let master = self
            .master
            .read()
            .clone()
            .ok_or("this backend has not received a heartbeat from the FE yet")?;
        let addr = format!("http://{}:{}", master.fe_host, master.fe_rpc_port);
        let mut cached = self.fe_channel.lock();
        let channel = match cached.as_ref() {
            Some((a, c)) if *a == addr => c.clone(),
            _ => {
                let c = tonic::transport::Endpoint::from_shared(addr.clone())
                    .map_err(|e| format!("bad FE address {addr}: {e}"))?
                    .connect_timeout(std::time::Duration::from_secs(3))
                    .tcp_nodelay(true)
                    .connect_lazy();
                *cached = Some((addr, c.clone()));
                c
            }
        };
        Ok((
            doris_proto::frontend_service_client::FrontendServiceClient::new(channel),
            master,
        ))
    }
}

/// Binds the three gRPC ports and the HTTP port; resolves when any server stops.
pub async fn serve(backend: Arc<Backend>) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let cfg = &backend.config;
    let any = |port: u16| SocketAddr::from(([0, 0, 0, 0], port));
    let hb = HeartbeatServiceServer::new(heartbeat::HeartbeatImpl(Arc::clone(&backend)));
    let agent = BackendServiceServer::new(agent::AgentImpl(Arc::clone(&backend)))
        .max_decoding_message_size(MAX_MESSAGE_BYTES);
    let internal = InternalServiceServer::new(internal::InternalImpl(Arc::clone(&backend)))
        .max_decoding_message_size(MAX_MESSAGE_BYTES)
        .max_encoding_message_size(MAX_MESSAGE_BYTES);
    let hb_listener = tokio::net::TcpListener::bind(any(cfg.heartbeat_service_port)).await?;
    let agent_listener = tokio::net::TcpListener::bind(any(cfg.be_port)).await?;
    let internal_listener = tokio::net::TcpListener::bind(any(cfg.brpc_port)).await?;
    let http_listener = tokio::net::TcpListener::bind(any(cfg.webserver_port)).await?;
    info!(
        be_port = cfg.be_port,
        heartbeat_service_port = cfg.heartbeat_service_port,
        brpc_port = cfg.brpc_port,
        webserver_port = cfg.webserver_port,
        "backend listening"
    );
    let incoming = doris_common::net::nodelay_incoming;
    let builder = tonic::transport::Server::builder;
    tokio::select! {
        r = builder().add_service(hb).serve_with_incoming(incoming(hb_listener)) => r?,
        r = builder().add_service(agent).serve_with_incoming(incoming(agent_listener)) => r?,
        r = builder()
            // Exchange and tablet-write streams share one HTTP/2 connection per peer. A
            // receiver that is not reading one stream yet (a join still building its hash
            // table) must not stall the others: that stream may hold at most its own small
            // window, and the connection's window is large enough for all of them.
            .initial_stream_window_size(STREAM_WINDOW_BYTES)
            .initial_connection_window_size(CONNECTION_WINDOW_BYTES)
            .add_service(internal)
            .serve_with_incoming(incoming(internal_listener)) => r?,
        r = crate::http::serve(http_listener, Arc::clone(&backend)) => r?,
    }
    Ok(())
}
