//! Tablet reports: every backend's tablets with their row counts and sizes, fetched after
//! each heartbeat round and after loads publish, kept in [`crate::env::Env::tablet_stats`]
//! for the planner (join order, broadcast or shuffle).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use doris_proto::ReportTabletsRequest;
use tracing::debug;

use super::{ReplicaStat, TabletStat};
use crate::env::Env;

/// Fetches every alive backend's tablet report. Rounds do not overlap: a call while one is
/// running returns at once.
pub async fn refresh_tablet_stats(env: &Arc<Env>) {
    static RUNNING: AtomicBool = AtomicBool::new(false);
    if RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    for backend_id in env.alive_backends() {
        let Some((host, port)) = super::agent_address(env, backend_id) else {
            continue;
        };
        let Ok(mut client) = env.clients.agent(&host, port) else {
            continue;
        };
        let reply = tokio::time::timeout(
            Duration::from_secs(10),
            client.report_tablets(ReportTabletsRequest {}),
        )
        .await;
        match reply {
            Ok(Ok(r)) => {
                let mut stats = env.tablet_stats.write();
                for t in r.into_inner().tablets {
                    let (rows, bytes) = (
                        u64::try_from(t.row_count).unwrap_or(0),
                        u64::try_from(t.data_size).unwrap_or(0),
                    );
                    let stat: &mut TabletStat = stats.entry(t.tablet_id).or_default();
                    stat.rows = rows;
                    stat.bytes = bytes;
                    stat.columns = t.columns;
                    stat.replicas.insert(
                        backend_id,
                        ReplicaStat {
                            version: t.max_version,
                            rows,
                            bytes,
                            rowsets: u64::try_from(t.rowset_count).unwrap_or(0),
                        },
                    );
                }
            }
            Ok(Err(e)) => debug!(backend_id, error = %e, "tablet report failed"),
            Err(_) => debug!(backend_id, "tablet report timed out"),
        }
    }
    RUNNING.store(false, Ordering::Release);
}
