//! Raft messages between frontends over gRPC (`FrontendRaftService` on each FE's
//! `edit_log_port`): [`Network`] is openraft's client side, one connection per peer;
//! [`RaftService`] serves a peer's calls into the local [`openraft::Raft`]. Requests and
//! replies travel as JSON; a snapshot chunk's bytes go beside the JSON, not inside it.

use std::sync::Arc;
use std::time::Duration;

use doris_proto::frontend_raft_service_client::FrontendRaftServiceClient;
use doris_proto::frontend_raft_service_server::FrontendRaftService;
use doris_proto::{Channels, RaftPayload, MAX_MESSAGE_BYTES};
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::AnyError;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tonic::transport::Channel;
use tonic::{Request, Response, Status};

use super::{FeNode, TypeConfig};

type Raft = openraft::Raft<TypeConfig>;
type RpcResult<T, E = RaftError<u64>> = Result<T, RPCError<u64, FeNode, E>>;

/// Creates the connections to peers (channels are shared and reused).
#[derive(Clone, Default)]
pub struct Network {
    channels: Arc<Channels>,
}

/// openraft's handle to one peer.
pub struct PeerConnection {
    target: u64,
    node: FeNode,
    channels: Arc<Channels>,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: u64, node: &FeNode) -> PeerConnection {
        PeerConnection {
            target,
            node: node.clone(),
            channels: Arc::clone(&self.channels),
        }
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Status> {
    serde_json::to_vec(value).map_err(|e| Status::internal(format!("encode: {e}")))
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Status> {
    serde_json::from_slice(bytes).map_err(|e| Status::invalid_argument(format!("decode: {e}")))
}

impl PeerConnection {
    fn client(&self) -> Result<FrontendRaftServiceClient<Channel>, Unreachable> {
        let channel = self
            .channels
            .channel(&self.node.host, self.node.edit_log_port)
            .map_err(|e| Unreachable::new(&AnyError::error(e)))?;
        Ok(FrontendRaftServiceClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// A transport failure: the peer is down or restarting. Its channel is dropped so the
    /// next call reconnects.
    fn transport_error<E: std::error::Error>(&self, status: Status) -> RPCError<u64, FeNode, E> {
        self.channels
            .evict(&self.node.host, self.node.edit_log_port);
        RPCError::Unreachable(Unreachable::new(&status))
    }

    /// Decodes a peer's reply: its Raft result, or the local error the reply maps to.
    fn reply<T, E>(&self, payload: RaftPayload) -> RpcResult<T, RaftError<u64, E>>
    where
        T: DeserializeOwned,
        E: std::error::Error + DeserializeOwned,
    {
        let result: Result<T, RaftError<u64, E>> =
            decode(&payload.json).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        result.map_err(|e| {
            RPCError::RemoteError(RemoteError::new_with_node(
                self.target,
                self.node.clone(),
                e,
            ))
        })
    }
}

fn with_timeout<T>(request: T, option: &RPCOption) -> Request<T> {
    let mut request = Request::new(request);
    request.set_timeout(option.hard_ttl().max(Duration::from_millis(100)));
    request
}

impl RaftNetwork<TypeConfig> for PeerConnection {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<AppendEntriesResponse<u64>> {
        let json = encode(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = self.client()?;
        let payload = RaftPayload {
            json,
            data: Vec::new(),
        };
        let reply = client
            .append_entries(with_timeout(payload, &option))
            .await
            .map_err(|s| self.transport_error(s))?;
        self.reply(reply.into_inner())
    }

    async fn install_snapshot(
        &mut self,
        mut rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> RpcResult<InstallSnapshotResponse<u64>, RaftError<u64, InstallSnapshotError>> {
        let data = std::mem::take(&mut rpc.data);
        let json = encode(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = self.client()?;
        let reply = client
            .install_snapshot(with_timeout(RaftPayload { json, data }, &option))
            .await
            .map_err(|s| self.transport_error(s))?;
        self.reply(reply.into_inner())
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        let json = encode(&rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        let mut client = self.client()?;
        let reply = client
            .vote(with_timeout(
                RaftPayload {
                    json,
                    data: Vec::new(),
                },
                &option,
            ))
            .await
            .map_err(|s| self.transport_error(s))?;
        self.reply(reply.into_inner())
    }
}

/// Serves peers' Raft calls into the local node.
pub struct RaftService {
    raft: Raft,
}

impl RaftService {
    pub fn new(raft: Raft) -> Self {
        Self { raft }
    }
}

fn payload<T: Serialize>(result: &T) -> Result<Response<RaftPayload>, Status> {
    Ok(Response::new(RaftPayload {
        json: encode(result)?,
        data: Vec::new(),
    }))
}

#[tonic::async_trait]
impl FrontendRaftService for RaftService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let rpc: AppendEntriesRequest<TypeConfig> = decode(&request.into_inner().json)?;
        payload(&self.raft.append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let rpc: VoteRequest<u64> = decode(&request.into_inner().json)?;
        payload(&self.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let RaftPayload { json, data } = request.into_inner();
        let mut rpc: InstallSnapshotRequest<TypeConfig> = decode(&json)?;
        rpc.data = data;
        payload(&self.raft.install_snapshot(rpc).await)
    }
}
