//! Backends as the FE sees them: RPC clients, heartbeats and runtime state, and publishing
//! committed load transactions to them. Entry points: [`BackendClients`],
//! [`heartbeat::run_heartbeats`], [`publish::publish_txn`].

pub mod heartbeat;
pub mod publish;

use std::collections::HashMap;
use std::time::Duration;

use doris_proto::backend_service_client::BackendServiceClient;
use doris_proto::heartbeat_service_client::HeartbeatServiceClient;
use doris_proto::internal_service_client::InternalServiceClient;
use parking_lot::Mutex;
use tonic::transport::{Channel, Endpoint};

use crate::error::{FeError, Result};

/// Host and be_port (agent service) of an alive backend.
pub fn agent_address(env: &crate::env::Env, backend_id: i64) -> Option<(String, u16)> {
    let host = env.catalog.read().backends.get(&backend_id)?.host.clone();
    let state = env.backend_state.read();
    let s = state.get(&backend_id).filter(|s| s.alive)?;
    Some((host, s.be_port))
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

const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// gRPC channels to backends, one per address, created lazily and reused.
#[derive(Default)]
pub struct BackendClients {
    channels: Mutex<HashMap<String, Channel>>,
}

impl BackendClients {
    fn channel(&self, host: &str, port: u16) -> Result<Channel> {
        let addr = format!("http://{host}:{port}");
        let mut channels = self.channels.lock();
        if let Some(c) = channels.get(&addr) {
            return Ok(c.clone());
        }
        let channel = Endpoint::from_shared(addr.clone())
            .map_err(|e| FeError::Analysis(format!("bad backend address {addr}: {e}")))?
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .connect_lazy();
        channels.insert(addr, channel.clone());
        Ok(channel)
    }

    pub fn heartbeat(&self, host: &str, port: u16) -> Result<HeartbeatServiceClient<Channel>> {
        Ok(HeartbeatServiceClient::new(self.channel(host, port)?))
    }

    pub fn agent(&self, host: &str, port: u16) -> Result<BackendServiceClient<Channel>> {
        Ok(BackendServiceClient::new(self.channel(host, port)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES))
    }

    pub fn internal(&self, host: &str, port: u16) -> Result<InternalServiceClient<Channel>> {
        Ok(InternalServiceClient::new(self.channel(host, port)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }
}
