//! Raft messages between frontends over gRPC (`FrontendRaftService` on each FE's
//! `edit_log_port`): [`Network`] is openraft's client side, one connection per peer;
//! [`RaftService`] serves a peer's calls into the local [`openraft::Raft`]. Requests and
//! replies travel as JSON; a snapshot chunk's bytes go beside the JSON, not inside it.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use doris_proto::frontend_raft_service_client::FrontendRaftServiceClient;
use doris_proto::frontend_raft_service_server::FrontendRaftService;
use doris_proto::{
    Channels, ClusterInfoRequest, ClusterInfoResponse, FrontendStatusRequest,
    FrontendStatusResponse, RaftPayload, MAX_MESSAGE_BYTES,
};
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
#[derive(Clone)]
pub struct Network {
    channels: Arc<Channels>,
    cluster_id: i64,
}

impl Network {
    pub fn new(channels: Arc<Channels>, cluster_id: i64) -> Self {
        Self {
            channels,
            cluster_id,
        }
    }
}

/// openraft's handle to one peer.
pub struct PeerConnection {
    target: u64,
    node: FeNode,
    channels: Arc<Channels>,
    cluster_id: i64,
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = PeerConnection;

    async fn new_client(&mut self, target: u64, node: &FeNode) -> PeerConnection {
        PeerConnection {
            target,
            node: node.clone(),
            channels: Arc::clone(&self.channels),
            cluster_id: self.cluster_id,
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
    /// A request to the peer: `rpc` as JSON, `data` beside it, our cluster id.
    fn payload<T: Serialize, E: std::error::Error>(
        &self,
        rpc: &T,
        data: Vec<u8>,
    ) -> RpcResult<RaftPayload, E> {
        let json = encode(rpc).map_err(|e| RPCError::Network(NetworkError::new(&e)))?;
        Ok(RaftPayload {
            json,
            data,
            cluster_id: self.cluster_id,
        })
    }

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
        let payload = self.payload(&rpc, Vec::new())?;
        let mut client = self.client()?;
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
        let payload = self.payload(&rpc, data)?;
        let mut client = self.client()?;
        let reply = client
            .install_snapshot(with_timeout(payload, &option))
            .await
            .map_err(|s| self.transport_error(s))?;
        self.reply(reply.into_inner())
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> RpcResult<VoteResponse<u64>> {
        let payload = self.payload(&rpc, Vec::new())?;
        let mut client = self.client()?;
        let reply = client
            .vote(with_timeout(payload, &option))
            .await
            .map_err(|s| self.transport_error(s))?;
        self.reply(reply.into_inner())
    }
}

/// Refuses a call from a frontend of another cluster (`theirs` is the caller's cluster id).
pub fn check_cluster(theirs: i64, ours: i64) -> Result<(), Status> {
    if theirs == ours {
        Ok(())
    } else {
        Err(Status::permission_denied(format!(
            "frontend of cluster {theirs} refused: this is cluster {ours}"
        )))
    }
}

/// What this frontend reports about itself (`FrontendStatus`).
pub type StatusFn = Arc<dyn Fn() -> FrontendStatusResponse + Send + Sync>;

/// Serves peers' Raft calls into the local node.
pub struct RaftService {
    raft: Raft,
    cluster_id: i64,
    status: StatusFn,
    /// When a leader last sent entries, a heartbeat or a snapshot here (ms since epoch).
    last_leader_contact_ms: Arc<AtomicI64>,
}

impl RaftService {
    pub fn new(
        raft: Raft,
        cluster_id: i64,
        status: StatusFn,
        last_leader_contact_ms: Arc<AtomicI64>,
    ) -> Self {
        Self {
            raft,
            cluster_id,
            status,
            last_leader_contact_ms,
        }
    }

    fn check_cluster(&self, cluster_id: i64) -> Result<(), Status> {
        check_cluster(cluster_id, self.cluster_id)
    }

    fn leader_contact(&self) {
        self.last_leader_contact_ms
            .store(chrono::Utc::now().timestamp_millis(), Ordering::Relaxed);
    }
}

fn payload<T: Serialize>(result: &T) -> Result<Response<RaftPayload>, Status> {
    Ok(Response::new(RaftPayload {
        json: encode(result)?,
        data: Vec::new(),
        cluster_id: 0,
    }))
}

#[tonic::async_trait]
impl FrontendRaftService for RaftService {
    async fn append_entries(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let request = request.into_inner();
        self.check_cluster(request.cluster_id)?;
        let rpc: AppendEntriesRequest<TypeConfig> = decode(&request.json)?;
        self.leader_contact();
        payload(&self.raft.append_entries(rpc).await)
    }

    async fn vote(&self, request: Request<RaftPayload>) -> Result<Response<RaftPayload>, Status> {
        let request = request.into_inner();
        self.check_cluster(request.cluster_id)?;
        let rpc: VoteRequest<u64> = decode(&request.json)?;
        payload(&self.raft.vote(rpc).await)
    }

    async fn install_snapshot(
        &self,
        request: Request<RaftPayload>,
    ) -> Result<Response<RaftPayload>, Status> {
        let request = request.into_inner();
        self.check_cluster(request.cluster_id)?;
        let mut rpc: InstallSnapshotRequest<TypeConfig> = decode(&request.json)?;
        rpc.data = request.data;
        self.leader_contact();
        payload(&self.raft.install_snapshot(rpc).await)
    }

    async fn cluster_info(
        &self,
        _request: Request<ClusterInfoRequest>,
    ) -> Result<Response<ClusterInfoResponse>, Status> {
        Ok(Response::new(ClusterInfoResponse {
            cluster_id: self.cluster_id,
        }))
    }

    async fn frontend_status(
        &self,
        request: Request<FrontendStatusRequest>,
    ) -> Result<Response<FrontendStatusResponse>, Status> {
        self.check_cluster(request.into_inner().cluster_id)?;
        Ok(Response::new((self.status)()))
    }
}
