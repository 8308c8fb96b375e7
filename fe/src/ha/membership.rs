//! Frontend membership with Doris's statements, as Raft membership changes.
//!
//! * `ALTER SYSTEM ADD FOLLOWER "host:edit_log_port"` adds the FE as a Raft learner marked
//!   FOLLOWER; [`run_membership`] makes it a voter once it has caught up with the log, so
//!   that adding a frontend that is not running yet never costs the cluster its quorum.
//! * `ADD OBSERVER` adds a learner that stays one (replicates, never votes).
//! * `DROP FOLLOWER` / `DROP OBSERVER` remove it.
//!
//! A new FE started with `--helper host:edit_log_port` takes the helper's cluster id
//! ([`join_cluster`]) and waits for the master to add it. Every FE asks the others for their
//! ports and progress (`FrontendStatus`) for `SHOW FRONTENDS`; the master's answer also
//! carries its view of the backends, which the other frontends adopt.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use doris_proto::frontend_raft_service_client::FrontendRaftServiceClient;
use doris_proto::{Channels, ClusterInfoRequest, FrontendStatusRequest, FrontendStatusResponse};
use openraft::ChangeMembers;
use tracing::{info, warn};

use super::FeNode;
use crate::cluster::{parse_endpoint, BackendState};
use crate::env::Env;
use crate::error::{FeError, Result};

/// Role names as SHOW FRONTENDS prints them (and as FeNode records the intended one).
pub const FOLLOWER: &str = "FOLLOWER";
pub const OBSERVER: &str = "OBSERVER";

/// A frontend as another FE last heard of it.
#[derive(Debug, Clone)]
pub struct FrontendStatus {
    pub reply: FrontendStatusResponse,
    pub last_heartbeat_ms: i64,
    pub error: String,
}

/// Records the helper's cluster id in `image_dir/VERSION` unless this FE already belongs
/// to a cluster (a restart), in which case the helper must be of the same one.
pub async fn join_cluster(channels: &Channels, helper: &str, image_dir: &Path) -> Result<()> {
    let (host, port) = parse_endpoint(helper)?;
    let channel = channels.channel(&host, port).map_err(FeError::Analysis)?;
    let reply = FrontendRaftServiceClient::new(channel)
        .cluster_info(ClusterInfoRequest {})
        .await
        .map_err(|e| FeError::Backend(format!("helper {helper}: {}", e.message())))?
        .into_inner();
    let version = image_dir.join("VERSION");
    if version.exists() {
        let mine = super::load_or_create_cluster_id(image_dir)?;
        if mine != reply.cluster_id {
            return Err(FeError::Corrupt(format!(
                "this frontend belongs to cluster {mine}, the helper {helper} to cluster {}",
                reply.cluster_id
            )));
        }
        return Ok(());
    }
    std::fs::write(
        &version,
        format!(
            "#{}\nclusterId={}\n",
            chrono::Utc::now().to_rfc2822(),
            reply.cluster_id
        ),
    )?;
    info!(
        helper,
        cluster_id = reply.cluster_id,
        "joining the cluster of the helper"
    );
    Ok(())
}

fn not_master(env: &Env) -> FeError {
    match env.raft.metrics().borrow().current_leader {
        Some(_) => FeError::NotMaster(
            "this frontend is not the master: run ALTER SYSTEM on the master".into(),
        ),
        None => FeError::NotMaster("no frontend master elected".into()),
    }
}

/// `ALTER SYSTEM ADD FOLLOWER|OBSERVER "host:edit_log_port"`.
pub async fn add_frontend(env: &Arc<Env>, endpoint: &str, role: &str) -> Result<()> {
    if !env.is_master() {
        return Err(not_master(env));
    }
    let (host, edit_log_port) = parse_endpoint(endpoint)?;
    let id = super::node_id(&host, edit_log_port);
    let known = env
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .get_node(&id)
        .is_some();
    if known {
        return Err(FeError::Analysis(format!(
            "frontend already exists: {host}:{edit_log_port}"
        )));
    }
    let node = FeNode {
        host,
        edit_log_port,
        role: role.to_string(),
        ..FeNode::default()
    };
    env.raft
        .add_learner(id, node, false)
        .await
        .map_err(|e| FeError::NotMaster(format!("adding frontend {endpoint}: {e}")))?;
    info!(
        endpoint,
        role, "frontend added; it joins when it has caught up"
    );
    Ok(())
}

/// `ALTER SYSTEM DROP FOLLOWER|OBSERVER "host:edit_log_port"`.
pub async fn drop_frontend(env: &Arc<Env>, endpoint: &str, role: &str) -> Result<()> {
    if !env.is_master() {
        return Err(not_master(env));
    }
    let (host, edit_log_port) = parse_endpoint(endpoint)?;
    let id = super::node_id(&host, edit_log_port);
    if id == env.node_id {
        return Err(FeError::Analysis("can not drop current master".into()));
    }
    let membership = env.raft.metrics().borrow().membership_config.clone();
    let Some(node) = membership.membership().get_node(&id).cloned() else {
        return Err(FeError::Analysis(format!(
            "frontend does not exist: {host}:{edit_log_port}"
        )));
    };
    if node.role != role {
        return Err(FeError::Analysis(format!(
            "frontend {host}:{edit_log_port} is not a {}",
            role.to_lowercase()
        )));
    }
    let voter = membership.membership().voter_ids().any(|v| v == id);
    let change = if voter {
        ChangeMembers::RemoveVoters(BTreeSet::from([id]))
    } else {
        ChangeMembers::RemoveNodes(BTreeSet::from([id]))
    };
    env.raft
        .change_membership(change, false)
        .await
        .map_err(|e| FeError::NotMaster(format!("dropping frontend {endpoint}: {e}")))?;
    env.frontend_state.write().remove(&id);
    info!(endpoint, role, "frontend dropped");
    Ok(())
}

/// How far behind the master's log a learner may be to be made a voter.
const CAUGHT_UP_ENTRIES: u64 = 100;

/// Every second: on the master, makes caught-up FOLLOWER learners voters; on every FE,
/// asks the other frontends for their status (SHOW FRONTENDS).
pub async fn run_membership(env: Arc<Env>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if env.is_master() {
            promote_followers(&env).await;
        }
        poll_status(&env).await;
    }
}

async fn promote_followers(env: &Arc<Env>) {
    let metrics = env.raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership().clone();
    let voters: BTreeSet<u64> = membership.voter_ids().collect();
    let last = metrics.last_log_index.unwrap_or(0);
    // Only learners that have accepted entries: one that refuses them (down, or of another
    // cluster) must never become a voter, or the quorum would wait on it.
    let matched: HashMap<u64, u64> = metrics
        .replication
        .iter()
        .flatten()
        .filter_map(|(id, log)| log.map(|l| (*id, l.index)))
        .collect();
    for (id, node) in membership.nodes() {
        let caught_up = matched
            .get(id)
            .is_some_and(|m| m + CAUGHT_UP_ENTRIES >= last);
        if voters.contains(id) || node.role != FOLLOWER || !caught_up {
            continue;
        }
        let change = ChangeMembers::AddVoterIds(BTreeSet::from([*id]));
        match env.raft.change_membership(change, false).await {
            Ok(_) => info!(host = %node.host, port = node.edit_log_port, "follower joined"),
            Err(e) => warn!(host = %node.host, error = %e, "could not make the follower a voter"),
        }
    }
}

async fn poll_status(env: &Arc<Env>) {
    let nodes: Vec<(u64, FeNode)> = env
        .raft
        .metrics()
        .borrow()
        .membership_config
        .membership()
        .nodes()
        .filter(|(id, _)| **id != env.node_id)
        .map(|(id, n)| (*id, n.clone()))
        .collect();
    let now = chrono::Utc::now().timestamp_millis();
    for (id, node) in nodes {
        let reply = async {
            let channel = env
                .fe_channels
                .channel(&node.host, node.edit_log_port)
                .map_err(tonic::Status::unavailable)?;
            let mut request = tonic::Request::new(FrontendStatusRequest {
                cluster_id: env.cluster_id,
            });
            request.set_timeout(Duration::from_secs(2));
            FrontendRaftServiceClient::new(channel)
                .frontend_status(request)
                .await
        }
        .await;
        if let Ok(reply) = &reply {
            adopt_backend_states(env, id, reply.get_ref());
        }
        let mut state = env.frontend_state.write();
        match reply {
            Ok(reply) => {
                if state.get(&id).is_some_and(|st| !st.error.is_empty()) {
                    info!(host = %node.host, port = node.edit_log_port, "frontend reachable again");
                }
                state.insert(
                    id,
                    FrontendStatus {
                        reply: reply.into_inner(),
                        last_heartbeat_ms: now,
                        error: String::new(),
                    },
                );
            }
            Err(e) => {
                env.fe_channels.evict(&node.host, node.edit_log_port);
                let entry = state.entry(id).or_insert_with(|| FrontendStatus {
                    reply: FrontendStatusResponse::default(),
                    last_heartbeat_ms: 0,
                    error: String::new(),
                });
                if entry.error.is_empty() {
                    // Logged once per outage: openraft's own per-retry replication
                    // warnings are filtered out of the log (see `init_logging`).
                    warn!(host = %node.host, port = node.edit_log_port, error = %e.message(),
                        "frontend unreachable");
                }
                entry.error = e.message().to_string();
            }
        }
    }
}

/// On a frontend that is not the master: takes the master's view of the backends (only the
/// master heartbeats them), so that this frontend can plan queries and redirect loads.
fn adopt_backend_states(env: &Env, from: u64, reply: &FrontendStatusResponse) {
    let leader = env.raft.metrics().borrow().current_leader;
    if !reply.is_master || leader != Some(from) || env.is_master() {
        return;
    }
    let mut states = env.backend_state.write();
    states.clear();
    for b in &reply.backends {
        states.insert(b.backend_id, BackendState::from_proto(b));
    }
}
