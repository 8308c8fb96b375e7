//! Periodic heartbeats from the FE to every backend; a backend that misses more than
//! `max_backend_heartbeat_failure_tolerance_count` heartbeats is marked dead.

use std::sync::Arc;
use std::time::Duration;

use doris_proto::HeartbeatRequest;
use tracing::{info, warn};

use crate::env::Env;

/// Runs forever: heartbeats every backend every `heartbeat_interval_second`.
pub async fn run_heartbeats(env: Arc<Env>) {
    let interval = Duration::from_secs(env.config.heartbeat_interval_second.max(1));
    loop {
        // Only the master heartbeats backends: they follow whoever heartbeats them. Every
        // frontend reads their tablet reports (planner statistics).
        if env.is_master() {
            heartbeat_all(&env).await;
        }
        super::report::refresh_tablet_stats(&env, false).await;
        tokio::time::sleep(interval).await;
    }
}

/// One round of heartbeats (also used right after ADD BACKEND).
pub async fn heartbeat_all(env: &Arc<Env>) {
    let backends: Vec<_> = env.catalog.read().backends.values().cloned().collect();
    let rounds = backends.into_iter().map(|b| {
        let env = Arc::clone(env);
        async move {
            let result = async {
                let mut client = env.clients.heartbeat(&b.host, b.heartbeat_port)?;
                let req = HeartbeatRequest {
                    cluster_id: env.cluster_id,
                    fe_host: "127.0.0.1".into(),
                    fe_rpc_port: i32::from(env.config.rpc_port),
                    backend_id: b.id,
                };
                let resp = tokio::time::timeout(Duration::from_secs(3), client.heartbeat(req))
                    .await
                    .map_err(|_| crate::error::FeError::Backend("heartbeat timed out".into()))??;
                Ok::<_, crate::error::FeError>(resp.into_inner())
            }
            .await;
            let mut states = env.backend_state.write();
            let st = states.entry(b.id).or_default();
            match result {
                Ok(r) => {
                    if !st.alive {
                        info!(backend = %b.endpoint(), "backend is alive");
                    }
                    let restarted =
                        st.last_start_time_ms != 0 && st.last_start_time_ms != r.start_time_ms;
                    if !st.alive || restarted {
                        // Loads it coordinated died with it; what failed loads left there is
                        // cleared now that it can be reached.
                        let env = Arc::clone(&env);
                        tokio::spawn(crate::txn::backend_recovered(env, b.id, restarted));
                    }
                    st.alive = true;
                    st.failure_count = 0;
                    st.err_msg.clear();
                    st.be_port = u16::try_from(r.be_port).unwrap_or(0);
                    st.http_port = u16::try_from(r.http_port).unwrap_or(0);
                    st.brpc_port = u16::try_from(r.brpc_port).unwrap_or(0);
                    st.last_heartbeat_ms = chrono::Utc::now().timestamp_millis();
                    st.last_start_time_ms = r.start_time_ms;
                    st.tablet_num = r.tablet_num;
                    st.data_used_bytes = r.data_used_bytes;
                    st.disk_total_bytes = r.disk_total_bytes;
                    st.disk_available_bytes = r.disk_available_bytes;
                    st.version = r.version;
                }
                Err(e) => {
                    st.failure_count += 1;
                    st.err_msg = e.to_string();
                    if st.alive
                        && st.failure_count
                            > env.config.max_backend_heartbeat_failure_tolerance_count
                    {
                        warn!(backend = %b.endpoint(), error = %e, "backend is dead");
                        st.alive = false;
                    }
                }
            }
        }
    });
    futures::future::join_all(rounds).await;
}
