//! Tablet reports: the backends' tablets with their row counts, sizes and column statistics,
//! kept in [`crate::env::Env::tablet_stats`] for the planner (join order, broadcast or
//! shuffle) and SHOW TABLETS. Every backend reports all its tablets every
//! [`FULL_REPORT_INTERVAL`] ([`refresh_tablet_stats`], after a heartbeat round) and a load's
//! tablets right after it is published ([`refresh_tablets`]), so that a catalog of a
//! million tablets is not fetched whole after every INSERT.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use doris_proto::{ReportTabletsRequest, TabletInfo};
use tracing::debug;

use super::ReplicaStat;
use crate::env::Env;

/// How often every tablet of every backend is reported (Doris's BEs report every minute).
pub const FULL_REPORT_INTERVAL: Duration = Duration::from_secs(60);

/// Fetches every alive backend's full tablet report if the last one is older than
/// [`FULL_REPORT_INTERVAL`] (or `force`). Rounds do not overlap: a call while one is
/// running returns at once.
pub async fn refresh_tablet_stats(env: &Arc<Env>, force: bool) {
    static RUNNING: AtomicBool = AtomicBool::new(false);
    static LAST_MS: AtomicI64 = AtomicI64::new(0);
    let now = chrono::Utc::now().timestamp_millis();
    let interval_ms = i64::try_from(FULL_REPORT_INTERVAL.as_millis()).unwrap_or(i64::MAX);
    if !force && now - LAST_MS.load(Ordering::Acquire) < interval_ms {
        return;
    }
    if RUNNING.swap(true, Ordering::AcqRel) {
        return;
    }
    let backends = env.alive_backends();
    for &backend_id in &backends {
        fetch(env, backend_id, Vec::new()).await;
    }
    if !backends.is_empty() {
        LAST_MS.store(now, Ordering::Release);
    }
    RUNNING.store(false, Ordering::Release);
}

/// Fetches the reports of `tablets` (by backend) only: after a load is published.
pub async fn refresh_tablets(env: &Arc<Env>, tablets: HashMap<i64, Vec<i64>>) {
    for (backend_id, ids) in tablets {
        fetch(env, backend_id, ids).await;
    }
}

/// One backend's report of `tablet_ids` (all its tablets when empty), stored as its chunks
/// arrive. After a full report, tablets the backend no longer has lose its replica.
async fn fetch(env: &Arc<Env>, backend_id: i64, tablet_ids: Vec<i64>) {
    let full = tablet_ids.is_empty();
    let report = async {
        let (host, port) = super::agent_address(env, backend_id)
            .ok_or_else(|| tonic::Status::unavailable("backend not alive"))?;
        let mut client = env
            .clients
            .agent(&host, port)
            .map_err(|e| tonic::Status::unavailable(e.to_string()))?;
        let mut chunks = client
            .report_tablets(ReportTabletsRequest { tablet_ids })
            .await?
            .into_inner();
        let mut reported = Vec::new();
        while let Some(chunk) = chunks.message().await? {
            if full {
                reported.extend(chunk.tablets.iter().map(|t| t.tablet_id));
            }
            store(env, backend_id, chunk.tablets);
        }
        Ok::<_, tonic::Status>(reported)
    };
    match tokio::time::timeout(Duration::from_secs(60), report).await {
        Ok(Ok(mut reported)) if full => {
            reported.sort_unstable();
            forget_missing(env, backend_id, &reported);
        }
        Ok(Ok(_)) => {}
        Ok(Err(e)) => debug!(backend_id, error = %e, "tablet report failed"),
        Err(_) => debug!(backend_id, "tablet report timed out"),
    }
}

/// Drops `backend_id`'s replica from the tablets its full report (`reported`, sorted) does
/// not list, and tablets no replica is left of (dropped tables, moved replicas).
fn forget_missing(env: &Env, backend_id: i64, reported: &[i64]) {
    env.tablet_stats
        .write()
        .forget_missing(backend_id, reported);
}

fn store(env: &Env, backend_id: i64, tablets: Vec<TabletInfo>) {
    env.tablet_stats
        .write()
        .update(tablets.into_iter().map(|t| {
            let replica = ReplicaStat {
                backend_id,
                version: t.max_version,
                rows: u64::try_from(t.row_count).unwrap_or(0),
                bytes: u64::try_from(t.data_size).unwrap_or(0),
                rowsets: u32::try_from(t.rowset_count).unwrap_or(u32::MAX),
            };
            (t.tablet_id, replica, t.columns.into_boxed_slice())
        }));
}
