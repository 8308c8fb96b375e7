//! Backends as the FE sees them: RPC clients, heartbeats and runtime state, and publishing
//! committed load transactions to them. Entry points: [`BackendClients`],
//! [`heartbeat::run_heartbeats`], [`publish::publish_txn`].

pub mod heartbeat;
pub mod publish;
pub mod report;

use doris_common::fragment::ExchangeEndpoint;
use doris_proto::backend_service_client::BackendServiceClient;
use doris_proto::heartbeat_service_client::HeartbeatServiceClient;
use doris_proto::internal_service_client::InternalServiceClient;
use doris_proto::{Channels, MAX_MESSAGE_BYTES};
use tonic::transport::Channel;

use crate::error::{FeError, Result};

/// Host and be_port (agent service) of an alive backend.
pub fn agent_address(env: &crate::env::Env, backend_id: i64) -> Option<(String, u16)> {
    let host = env.catalog.read().backends.get(&backend_id)?.host.clone();
    let state = env.backend_state.read();
    let s = state.get(&backend_id).filter(|s| s.alive)?;
    Some((host, s.be_port))
}

/// Every alive backend's id and `brpc_port` address (where plan fragments, exchanges and
/// remote tablet writes go).
pub fn backend_endpoints(env: &crate::env::Env) -> Vec<ExchangeEndpoint> {
    let catalog = env.catalog.read();
    let states = env.backend_state.read();
    catalog
        .backends
        .iter()
        .filter_map(|(id, b)| {
            let s = states.get(id).filter(|s| s.alive)?;
            Some(ExchangeEndpoint {
                backend_id: *id,
                host: b.host.clone(),
                port: s.brpc_port,
            })
        })
        .collect()
}

/// Size of one tablet as its backend last reported it (planner statistics).
#[derive(Debug, Clone, Default)]
pub struct TabletStat {
    pub rows: u64,
    pub bytes: u64,
    /// Per-column NULL counts and integer ranges (see [`crate::planner::stats`]).
    pub columns: Vec<doris_proto::ColumnStats>,
    /// Each replica as its backend reported it, by backend id (`SHOW TABLETS`).
    pub replicas: std::collections::BTreeMap<i64, ReplicaStat>,
}

/// One replica of a tablet as its backend last reported it.
#[derive(Debug, Clone, Default)]
pub struct ReplicaStat {
    /// Highest version published to it.
    pub version: i64,
    pub rows: u64,
    pub bytes: u64,
    /// Visible rowsets (Doris's VersionCount).
    pub rowsets: u64,
}

/// What heartbeats tell about a backend (not persisted).
#[derive(Debug, Clone, Default)]
pub struct BackendState {
    pub alive: bool,
    pub be_port: u16,
    pub http_port: u16,
    pub brpc_port: u16,
    pub last_heartbeat_ms: i64,
    pub last_start_time_ms: i64,
    pub tablet_num: i64,
    pub data_used_bytes: i64,
    pub disk_total_bytes: i64,
    pub disk_available_bytes: i64,
    pub version: String,
    pub err_msg: String,
    pub failure_count: u32,
}

impl BackendState {
    /// What the master tells the other frontends about backend `backend_id`.
    pub fn to_proto(&self, backend_id: i64) -> doris_proto::BackendLiveness {
        doris_proto::BackendLiveness {
            backend_id,
            alive: self.alive,
            be_port: i32::from(self.be_port),
            http_port: i32::from(self.http_port),
            brpc_port: i32::from(self.brpc_port),
            last_heartbeat_ms: self.last_heartbeat_ms,
            last_start_time_ms: self.last_start_time_ms,
            tablet_num: self.tablet_num,
            data_used_bytes: self.data_used_bytes,
            disk_total_bytes: self.disk_total_bytes,
            disk_available_bytes: self.disk_available_bytes,
            version: self.version.clone(),
            err_msg: self.err_msg.clone(),
        }
    }

    /// A backend's state as the master reported it.
    pub fn from_proto(p: &doris_proto::BackendLiveness) -> Self {
        let port = |p: i32| u16::try_from(p).unwrap_or(0);
        Self {
            alive: p.alive,
            be_port: port(p.be_port),
            http_port: port(p.http_port),
            brpc_port: port(p.brpc_port),
            last_heartbeat_ms: p.last_heartbeat_ms,
            last_start_time_ms: p.last_start_time_ms,
            tablet_num: p.tablet_num,
            data_used_bytes: p.data_used_bytes,
            disk_total_bytes: p.disk_total_bytes,
            disk_available_bytes: p.disk_available_bytes,
            version: p.version.clone(),
            err_msg: p.err_msg.clone(),
            failure_count: 0,
        }
    }
}

/// gRPC channels to backends, one per address, created lazily and reused.
#[derive(Default)]
pub struct BackendClients {
    channels: Channels,
}

impl BackendClients {
    fn channel(&self, host: &str, port: u16) -> Result<Channel> {
        self.channels.channel(host, port).map_err(FeError::Analysis)
    }

    pub fn heartbeat(&self, host: &str, port: u16) -> Result<HeartbeatServiceClient<Channel>> {
        Ok(HeartbeatServiceClient::new(self.channel(host, port)?))
    }

    pub fn agent(&self, host: &str, port: u16) -> Result<BackendServiceClient<Channel>> {
        Ok(BackendServiceClient::new(self.channel(host, port)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// Forgets a backend's channel after a transport failure (see [`Channels::evict`]).
    pub fn evict(&self, host: &str, port: u16) {
        self.channels.evict(host, port);
    }

    pub fn internal(&self, host: &str, port: u16) -> Result<InternalServiceClient<Channel>> {
        self.channels
            .internal(host, port)
            .map_err(FeError::Analysis)
    }
}
