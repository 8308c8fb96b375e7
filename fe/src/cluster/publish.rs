//! Publishing committed load transactions: every BE holding a touched tablet makes the
//! txn's rowsets visible at the committed version, then the FE logs `VisibleTxn`.
//! Committed txns that could not be published (a BE down, an FE crash) are retried by
//! [`run_publish_retries`].

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use doris_proto::PublishVersionRequest;
use tracing::{info, warn};

use crate::catalog::{CommittedTxn, JournalEntry};
use crate::env::Env;
use crate::error::{FeError, Result};

/// Publishes `txn` on every BE and marks it visible.
pub async fn publish_txn(env: &Arc<Env>, txn: &CommittedTxn) -> Result<()> {
    // (sub txn id, backend id) -> tablet id -> version
    let mut per_backend: HashMap<(i64, i64), HashMap<i64, i64>> = HashMap::new();
    {
        let catalog = env.catalog.read();
        for part in &txn.parts {
            let table = catalog
                .databases
                .get(&txn.db_id)
                .and_then(|d| d.tables.get(&part.table_id));
            // A table dropped after commit has nothing left to publish.
            let Some(table) = table else { continue };
            for (pid, version) in &part.partition_versions {
                let Some(p) = table.partitions.iter().find(|p| p.id == *pid) else {
                    continue;
                };
                for tablet in p.all_tablets() {
                    for r in &tablet.replicas {
                        per_backend
                            .entry((part.sub_txn_id, r.backend_id))
                            .or_default()
                            .insert(tablet.id, *version);
                    }
                }
            }
        }
    }
    let mut touched: HashMap<i64, Vec<i64>> = HashMap::new();
    for ((_, backend_id), tablets) in &per_backend {
        touched
            .entry(*backend_id)
            .or_default()
            .extend(tablets.keys().copied());
    }
    let mut work: Vec<_> = per_backend.into_iter().collect();
    work.sort_by_key(|((sub, backend), _)| (*sub, *backend));
    for ((sub_txn_id, backend_id), tablet_versions) in work {
        let (host, port) = super::agent_address(env, backend_id).ok_or_else(|| {
            let name = env
                .catalog
                .read()
                .backends
                .get(&backend_id)
                .map_or(format!("{backend_id} (dropped)"), |b| b.endpoint());
            FeError::Backend(format!("backend {name} of a touched tablet is not alive"))
        })?;
        let mut client = env.clients.agent(&host, port)?;
        let req = PublishVersionRequest {
            txn_id: sub_txn_id,
            tablet_versions,
        };
        let resp = tokio::time::timeout(Duration::from_secs(30), client.publish_version(req))
            .await
            .map_err(|_| FeError::Backend(format!("publish to {host}:{port} timed out")))??
            .into_inner();
        if !resp.error_tablet_ids.is_empty() {
            return Err(FeError::Backend(format!(
                "backend {host}:{port} lacks tablets {:?}",
                resp.error_tablet_ids
            )));
        }
    }
    mark_visible(env, txn.txn_id)?;
    // Fresh row counts for the planner.
    let env = Arc::clone(env);
    tokio::spawn(async move { super::report::refresh_tablets(&env, touched).await });
    Ok(())
}

fn mark_visible(env: &Env, txn_id: i64) -> Result<()> {
    env.log_and_apply(JournalEntry::VisibleTxn {
        txn_id,
        time_ms: chrono::Utc::now().timestamp_millis(),
    })?;
    Ok(())
}

/// Retries publishing committed-but-invisible txns (in commit order per table).
pub async fn run_publish_retries(env: Arc<Env>) {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        if !env.is_master() {
            continue;
        }
        let pending: Vec<CommittedTxn> = env
            .catalog
            .read()
            .committed_txns
            .values()
            .cloned()
            .collect();
        for txn in pending {
            let locks: Vec<_> = txn
                .table_ids()
                .into_iter()
                .map(|id| env.publish_lock(id))
                .collect();
            let guards: Vec<_> = locks.iter().map(|l| l.try_lock()).collect();
            if guards.iter().any(|g| g.is_err()) {
                continue;
            }
            if !env.catalog.read().committed_txns.contains_key(&txn.txn_id) {
                continue;
            }
            match publish_txn(&env, &txn).await {
                Ok(()) => info!(txn_id = txn.txn_id, "published committed transaction"),
                Err(e) => warn!(txn_id = txn.txn_id, error = %e, "publish retry failed"),
            }
        }
    }
}
