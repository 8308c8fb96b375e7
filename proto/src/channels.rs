//! gRPC channels to peer processes, one per address, created lazily and reused.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use tonic::transport::{Channel, Endpoint};

use crate::internal_service_client::InternalServiceClient;

/// Largest gRPC message a peer sends or accepts (plan fragments, result batches).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024 * 1024;

/// Channels by `host:port`. Connecting is lazy: a peer that is down fails the first call.
#[derive(Default)]
pub struct Channels {
    channels: Mutex<HashMap<String, Channel>>,
}

impl Channels {
    /// The channel to `host:port`; an error only when the address is malformed.
    pub fn channel(&self, host: &str, port: u16) -> Result<Channel, String> {
        let addr = format!("http://{host}:{port}");
        let mut channels = self.channels.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = channels.get(&addr) {
            return Ok(c.clone());
        }
        let channel = Endpoint::from_shared(addr.clone())
            .map_err(|e| format!("bad address {addr}: {e}"))?
            .connect_timeout(Duration::from_secs(3))
            .tcp_nodelay(true)
            .http2_keep_alive_interval(Duration::from_secs(10))
            .keep_alive_timeout(Duration::from_secs(20))
            .connect_lazy();
        channels.insert(addr, channel.clone());
        Ok(channel)
    }

    /// Forgets the channel to `host:port` after a transport failure (the peer restarted):
    /// the next call connects afresh instead of failing on the dead connection.
    pub fn evict(&self, host: &str, port: u16) {
        let addr = format!("http://{host}:{port}");
        self.channels
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&addr);
    }

    /// A client of a backend's `InternalService` (brpc_port).
    pub fn internal(
        &self,
        host: &str,
        port: u16,
    ) -> Result<InternalServiceClient<Channel>, String> {
        Ok(InternalServiceClient::new(self.channel(host, port)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }
}
