//! Load transactions: every INSERT, stream load and explicit `BEGIN ... COMMIT` goes
//! through [`begin`] (label checked and reserved), rowsets written on the BEs under the
//! txn's (sub-)ids, then [`commit`] (versions assigned in the edit log, published on the
//! BEs, visible) or [`abort`] (label freed, pending data cleared). [`precommit`] keeps a
//! two-phase stream load invisible until it is committed. [`run_txn_checker`] aborts
//! transactions that timed out or whose coordinating BE died; [`abort_unfinished`] aborts
//! what an FE restart interrupted.

use std::sync::Arc;
use std::time::Duration;

use doris_proto::ClearTransactionRequest;
use tracing::{info, warn};

use crate::catalog::{
    CommittedTxn, JournalEntry, LoadKind, LoadStats, LoadTxn, TxnPart, TxnStatus,
};
use crate::env::Env;
use crate::error::{FeError, Result};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// What a new transaction is for.
pub struct BeginRequest {
    pub db_id: i64,
    pub table_id: i64,
    /// `None`: a generated label.
    pub label: Option<String>,
    pub kind: LoadKind,
    pub coordinator: String,
    pub coordinator_backend: Option<i64>,
    pub user: String,
    pub client_ip: String,
    pub two_phase_commit: bool,
    pub timeout_ms: i64,
}

/// Begins a transaction: checks the label is free and reserves it durably.
pub fn begin(env: &Env, req: BeginRequest) -> Result<LoadTxn> {
    let _guard = env.txn_lock.lock();
    let now = now_ms();
    let expire_before_ms = now - (env.config.label_keep_max_second as i64).saturating_mul(1000);
    let label = match req.label {
        Some(l) => {
            validate_label(&l)?;
            l
        }
        None => format!("label_{}", uuid::Uuid::new_v4().simple()),
    };
    if let Some(t) = env.catalog.read().txn_by_label(req.db_id, &label) {
        if !(t.status.is_final() && t.finish_time_ms < expire_before_ms) {
            return Err(FeError::LabelAlreadyExists {
                label,
                txn_id: t.txn_id,
                status: if t.status.is_final() {
                    "FINISHED"
                } else {
                    "RUNNING"
                }
                .into(),
            });
        }
    }
    let txn_id = env.allocate_id()?;
    let txn = LoadTxn {
        txn_id,
        label,
        db_id: req.db_id,
        table_ids: vec![req.table_id],
        kind: req.kind,
        status: TxnStatus::Prepare,
        coordinator: req.coordinator,
        coordinator_backend: req.coordinator_backend,
        user: req.user,
        client_ip: req.client_ip,
        two_phase_commit: req.two_phase_commit,
        timeout_ms: req.timeout_ms,
        prepare_time_ms: now,
        precommit_time_ms: 0,
        commit_time_ms: 0,
        finish_time_ms: 0,
        reason: String::new(),
        stats: LoadStats::default(),
        sub_txns: vec![(txn_id, req.table_id)],
    };
    env.log_and_apply(JournalEntry::BeginTxn {
        txn: Box::new(txn.clone()),
        expire_before_ms,
    })?;
    Ok(txn)
}

/// Doris's label rule: 1..128 characters of letters, digits, `-`, `_`, `:`.
pub fn validate_label(label: &str) -> Result<()> {
    let ok = !label.is_empty()
        && label.len() <= 128
        && label
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | ':'));
    if ok {
        Ok(())
    } else {
        Err(FeError::Analysis(format!(
            "Label format error. regex: ^[-_A-Za-z0-9:]{{1,128}}$, label: {label}"
        )))
    }
}

fn txn(env: &Env, txn_id: i64) -> Result<LoadTxn> {
    env.catalog
        .read()
        .txns
        .get(&txn_id)
        .cloned()
        .ok_or_else(|| FeError::TxnState(format!("transaction [{txn_id}] not found")))
}

/// Two-phase commit, first phase: the data is written; keep it invisible.
pub fn precommit(env: &Env, txn_id: i64, stats: LoadStats) -> Result<()> {
    let _guard = env.txn_lock.lock();
    let t = txn(env, txn_id)?;
    if t.status != TxnStatus::Prepare {
        return Err(state_error(&t, "pre-commit"));
    }
    env.log_and_apply(JournalEntry::PrecommitTxn {
        txn_id,
        time_ms: now_ms(),
        stats,
        sub_txns: t.sub_txns,
    })?;
    Ok(())
}

pub fn state_error(t: &LoadTxn, what: &str) -> FeError {
    let msg = match t.status {
        TxnStatus::Visible | TxnStatus::Committed => format!(
            "transaction [{}] is already {}, not pre-committed.",
            t.txn_id,
            t.status.name().to_lowercase()
        ),
        TxnStatus::Aborted => format!(
            "transaction [{}] is already aborted. abort reason: {}",
            t.txn_id, t.reason
        ),
        _ => format!(
            "transaction [{}] is {}, cannot {what} it",
            t.txn_id,
            t.status.name()
        ),
    };
    FeError::TxnState(msg)
}

/// Commits and publishes. `sub_txns` replaces the txn's own list when given (explicit
/// transactions add one per statement). Returns `Visible`, or `Committed` when publishing
/// has to be retried in the background (the data becomes visible later).
pub async fn commit(
    env: &Arc<Env>,
    txn_id: i64,
    stats: LoadStats,
    sub_txns: Option<Vec<(i64, i64)>>,
) -> Result<TxnStatus> {
    let t = txn(env, txn_id)?;
    let expected = if t.two_phase_commit {
        TxnStatus::Precommitted
    } else {
        TxnStatus::Prepare
    };
    if t.status != expected {
        return Err(state_error(&t, "commit"));
    }
    let sub_txns = sub_txns.unwrap_or_else(|| t.sub_txns.clone());
    let mut tables: Vec<i64> = sub_txns.iter().map(|(_, table)| *table).collect();
    tables.sort_unstable();
    tables.dedup();
    // Versions become visible in commit order: hold every touched table's publish lock
    // (in id order, so two commits cannot deadlock) and publish older commits first.
    let locks: Vec<_> = tables.iter().map(|id| env.publish_lock(*id)).collect();
    let mut guards = Vec::with_capacity(locks.len());
    for lock in &locks {
        guards.push(lock.lock().await);
    }
    let earlier: Vec<CommittedTxn> = env
        .catalog
        .read()
        .committed_txns
        .values()
        .filter(|c| c.parts.iter().any(|p| tables.contains(&p.table_id)))
        .cloned()
        .collect();
    for c in earlier {
        if let Err(e) = crate::cluster::publish::publish_txn(env, &c).await {
            let reason = format!(
                "an earlier load (txn {}) of the table is not published yet: {e}",
                c.txn_id
            );
            drop(guards);
            abort(env, txn_id, &reason, stats).await?;
            return Err(FeError::Backend(reason));
        }
    }
    let committed = {
        let _guard = env.txn_lock.lock();
        // A concurrent abort (timeout checker, a client's 2PC abort) may have won.
        let t = txn(env, txn_id)?;
        if t.status != expected {
            return Err(state_error(&t, "commit"));
        }
        let catalog = env.catalog.read();
        let mut next: std::collections::HashMap<i64, i64> = Default::default();
        let mut parts = Vec::with_capacity(sub_txns.len());
        for (sub_txn_id, table_id) in &sub_txns {
            let Some(table) = catalog
                .databases
                .get(&t.db_id)
                .and_then(|d| d.tables.get(table_id))
            else {
                continue; // dropped since: nothing to publish there
            };
            let partition_versions = table
                .partitions
                .iter()
                .map(|p| {
                    let v = next.entry(p.id).or_insert(p.next_version);
                    let version = *v;
                    *v += 1;
                    (p.id, version)
                })
                .collect();
            parts.push(TxnPart {
                sub_txn_id: *sub_txn_id,
                table_id: *table_id,
                partition_versions,
            });
        }
        drop(catalog);
        let committed = CommittedTxn {
            txn_id,
            label: t.label.clone(),
            db_id: t.db_id,
            parts,
            commit_time_ms: now_ms(),
            rows: stats.loaded_rows,
        };
        env.log_and_apply(JournalEntry::CommitTxn {
            txn: committed.clone(),
            stats,
        })?;
        committed
    };
    let status = match crate::cluster::publish::publish_txn(env, &committed).await {
        Ok(()) => TxnStatus::Visible,
        Err(e) => {
            warn!(txn_id, error = %e, "publish failed; will retry");
            TxnStatus::Committed
        }
    };
    info!(txn_id, label = %committed.label, status = status.name(), "transaction committed");
    Ok(status)
}

/// Aborts a transaction that is not committed yet: its label is free again and the
/// backends drop what it wrote. Aborting an aborted txn is a no-op.
pub async fn abort(env: &Arc<Env>, txn_id: i64, reason: &str, stats: LoadStats) -> Result<()> {
    let sub_txns = {
        let _guard = env.txn_lock.lock();
        let t = txn(env, txn_id)?;
        match t.status {
            TxnStatus::Aborted => return Ok(()),
            TxnStatus::Prepare | TxnStatus::Precommitted => {}
            _ => return Err(state_error(&t, "abort")),
        }
        env.log_and_apply(JournalEntry::AbortTxn {
            txn_id,
            time_ms: now_ms(),
            reason: reason.to_string(),
            stats,
        })?;
        t.sub_txns
    };
    info!(txn_id, reason, "transaction aborted");
    clear_on_backends(env, sub_txns.iter().map(|(id, _)| *id).collect()).await;
    Ok(())
}

/// Adds a statement's rowsets (written under `sub_txn_id`) to an explicit transaction.
pub fn add_sub_txn(env: &Env, txn_id: i64, sub_txn_id: i64, table_id: i64) -> Result<()> {
    let _guard = env.txn_lock.lock();
    let mut catalog = env.catalog.write();
    let t = catalog
        .txns
        .get_mut(&txn_id)
        .ok_or_else(|| FeError::TxnState(format!("transaction [{txn_id}] not found")))?;
    if t.status != TxnStatus::Prepare {
        return Err(state_error(t, "write into"));
    }
    // Kept in memory only: an FE restart aborts the open transaction anyway.
    t.sub_txns.push((sub_txn_id, table_id));
    if !t.table_ids.contains(&table_id) {
        t.table_ids.push(table_id);
    }
    Ok(())
}

/// Tells every alive backend to drop the pending rowsets of these (sub-)txns (best
/// effort: unpublished data also expires on the BE after `pending_data_expire_time_sec`).
pub async fn clear_on_backends(env: &Arc<Env>, txn_ids: Vec<i64>) {
    for backend in env.alive_backends() {
        clear_on_backend(env, backend, &txn_ids).await;
    }
}

/// Tells one backend to drop these txns' pending rowsets; stops at the first failed call
/// (the backend is likely gone; it is told again when it comes back).
async fn clear_on_backend(env: &Env, backend_id: i64, txn_ids: &[i64]) {
    let Some((host, port)) = crate::cluster::agent_address(env, backend_id) else {
        return;
    };
    let Ok(mut client) = env.clients.agent(&host, port) else {
        return;
    };
    for &txn_id in txn_ids {
        let req = ClearTransactionRequest { txn_id };
        if let Err(e) = client.clear_transaction(req).await {
            warn!(txn_id, backend_id, error = %e, "clearing an aborted txn failed");
            return;
        }
    }
}

/// At FE start: transactions that were running when the FE stopped cannot finish (their
/// coordinator lost its state); abort them so their labels are free again.
pub async fn abort_unfinished(env: &Arc<Env>) {
    let running: Vec<i64> = env
        .catalog
        .read()
        .txns
        .values()
        .filter(|t| t.status == TxnStatus::Prepare)
        .map(|t| t.txn_id)
        .collect();
    for id in running {
        if let Err(e) = abort(env, id, "the frontend restarted", LoadStats::default()).await {
            warn!(txn_id = id, error = %e, "could not abort an interrupted transaction");
        }
    }
}

/// A backend came back (or restarted): aborts the running stream loads it coordinated
/// (their state died with the process) and tells it to drop the data of aborted txns.
pub async fn backend_recovered(env: Arc<Env>, backend_id: i64, restarted: bool) {
    if restarted {
        let running: Vec<i64> = env
            .catalog
            .read()
            .txns
            .values()
            .filter(|t| t.status == TxnStatus::Prepare && t.coordinator_backend == Some(backend_id))
            .map(|t| t.txn_id)
            .collect();
        for txn_id in running {
            let reason = "the coordinating backend restarted";
            if let Err(e) = abort(&env, txn_id, reason, LoadStats::default()).await {
                warn!(txn_id, error = %e, "could not abort a transaction");
            }
        }
    }
    let aborted: Vec<i64> = env
        .catalog
        .read()
        .txns
        .values()
        .rev()
        .filter(|t| t.status == TxnStatus::Aborted)
        .take(1000)
        .flat_map(|t| t.sub_txns.iter().map(|(id, _)| *id))
        .collect();
    clear_on_backend(&env, backend_id, &aborted).await;
}

/// Aborts transactions past their timeout and stream loads whose coordinating BE died.
pub async fn run_txn_checker(env: Arc<Env>) {
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if !env.is_master() {
            continue;
        }
        let now = now_ms();
        let alive = env.alive_backends();
        let doomed: Vec<(i64, String)> = env
            .catalog
            .read()
            .txns
            .values()
            .filter(|t| matches!(t.status, TxnStatus::Prepare | TxnStatus::Precommitted))
            .filter_map(|t| {
                if now > t.prepare_time_ms + t.timeout_ms {
                    return Some((
                        t.txn_id,
                        format!("timeout by txn manager ({} ms)", t.timeout_ms),
                    ));
                }
                let dead = t.status == TxnStatus::Prepare
                    && t.coordinator_backend.is_some_and(|b| !alive.contains(&b));
                dead.then(|| {
                    (
                        t.txn_id,
                        format!("coordinate BE is down: {}", t.coordinator),
                    )
                })
            })
            .collect();
        for (txn_id, reason) in doomed {
            if let Err(e) = abort(&env, txn_id, &reason, LoadStats::default()).await {
                warn!(txn_id, error = %e, "could not abort a timed-out transaction");
            }
        }
    }
}

/// The OK packet's info for a load: `{'label':'l', 'status':'VISIBLE', 'txnId':'10001'}`
/// (`txn_id` is empty while an explicit transaction has not begun its load yet).
pub fn load_info(label: &str, status: &str, txn_id: &str) -> String {
    format!("{{'label':'{label}', 'status':'{status}', 'txnId':'{txn_id}'}}")
}

/// `INSERT` / `BEGIN` coordinator description.
pub fn fe_coordinator() -> String {
    "FE: 127.0.0.1".to_string()
}

/// The default timeout of INSERT and explicit transactions.
pub fn insert_timeout_ms(env: &Env) -> i64 {
    (env.config.insert_load_default_timeout_second as i64).saturating_mul(1000)
}

impl From<&LoadStats> for doris_proto::LoadStats {
    fn from(s: &LoadStats) -> Self {
        doris_proto::LoadStats {
            total_rows: s.total_rows as i64,
            loaded_rows: s.loaded_rows as i64,
            filtered_rows: s.filtered_rows as i64,
            unselected_rows: s.unselected_rows as i64,
            load_bytes: s.load_bytes as i64,
            error_url: s.error_url.clone(),
        }
    }
}

impl From<&doris_proto::LoadStats> for LoadStats {
    fn from(s: &doris_proto::LoadStats) -> Self {
        let n = |v: i64| v.max(0) as u64;
        LoadStats {
            total_rows: n(s.total_rows),
            loaded_rows: n(s.loaded_rows),
            filtered_rows: n(s.filtered_rows),
            unselected_rows: n(s.unselected_rows),
            load_bytes: n(s.load_bytes),
            error_url: s.error_url.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn env(dir: &std::path::Path, keep_secs: u64) -> Arc<Env> {
        crate::env::open_for_test(dir, &format!("label_keep_max_second = {keep_secs}\n")).await
    }

    fn request(label: &str) -> BeginRequest {
        BeginRequest {
            db_id: 1,
            table_id: 2,
            label: Some(label.into()),
            kind: LoadKind::StreamLoad,
            coordinator: "BE: 127.0.0.1".into(),
            coordinator_backend: Some(3),
            user: "root".into(),
            client_ip: String::new(),
            two_phase_commit: false,
            timeout_ms: 60_000,
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn labels_are_held_until_abort_or_expiry() {
        let dir = tempfile::tempdir().expect("tmp");
        let env = env(dir.path(), 3600).await;
        let first = begin(&env, request("l1")).expect("begin");
        let err = begin(&env, request("l1")).expect_err("running label");
        assert!(
            matches!(&err, FeError::LabelAlreadyExists { status, txn_id, .. }
                if status == "RUNNING" && *txn_id == first.txn_id),
            "{err:?}"
        );
        // No backends: abort only journals (the clear is best effort).
        abort(&env, first.txn_id, "test", LoadStats::default())
            .await
            .expect("abort");
        abort(&env, first.txn_id, "again", LoadStats::default())
            .await
            .expect("aborting twice is a no-op");
        let second = begin(&env, request("l1")).expect("label free after abort");
        assert!(second.txn_id > first.txn_id);
        assert!(begin(&env, request("bad label!")).is_err());

        // A finished txn keeps its label; with label_keep_max_second = 0 it expires.
        env.log_and_apply(JournalEntry::VisibleTxn {
            txn_id: second.txn_id,
            time_ms: now_ms() - 10,
        })
        .expect("visible");
        let err = begin(&env, request("l1")).expect_err("finished label");
        assert!(matches!(&err, FeError::LabelAlreadyExists { status, .. } if status == "FINISHED"));
        // A restart: the metadata store is released, then replayed.
        env.raft.shutdown().await.expect("raft shutdown");
        drop(env);
        // Expiry compares milliseconds: let the abort above be strictly in the past.
        std::thread::sleep(std::time::Duration::from_millis(5));
        let env = super::tests::env(dir.path(), 0).await;
        let third = begin(&env, request("l1")).expect("expired label is free");
        assert!(third.txn_id > second.txn_id);
        let kept: Vec<i64> = env.catalog.read().txns.keys().copied().collect();
        assert_eq!(
            kept,
            [third.txn_id],
            "finished txns past the keep time are forgotten"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn precommit_then_commit_states() {
        let dir = tempfile::tempdir().expect("tmp");
        let env = env(dir.path(), 3600).await;
        let mut req = request("tpc");
        req.two_phase_commit = true;
        let t = begin(&env, req).expect("begin");
        precommit(&env, t.txn_id, LoadStats::default()).expect("precommit");
        assert!(precommit(&env, t.txn_id, LoadStats::default()).is_err());
        assert_eq!(
            env.catalog.read().txns[&t.txn_id].status,
            TxnStatus::Precommitted
        );
        // The table does not exist (no catalog objects here): commit has nothing to
        // publish and makes the txn visible.
        let status = commit(&env, t.txn_id, LoadStats::default(), None)
            .await
            .expect("commit");
        assert_eq!(status, TxnStatus::Visible);
        let err = abort(&env, t.txn_id, "late", LoadStats::default())
            .await
            .expect_err("cannot abort a visible txn");
        assert!(err.to_string().contains("already visible"), "{err}");
    }
}
