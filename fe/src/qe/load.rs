//! Transaction statements (`BEGIN [WITH LABEL l]`, `COMMIT`, `ROLLBACK`) and the views of
//! load transactions: `SHOW LOAD`, `SHOW STREAM LOAD`, `SHOW TRANSACTION`.

use std::sync::Arc;

use serde_json::json;

use super::show::{fmt_time, like_match};
use crate::catalog::{LoadKind, LoadTxn, TxnStatus};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::{ExplicitTxn, Session};
use crate::sql::ast::LoadFilter;

pub fn begin(session: &mut Session, label: Option<String>) -> Result<QueryOutput> {
    if let Some(l) = &label {
        crate::txn::validate_label(l)?;
    }
    if session.txn.is_some() {
        return Err(FeError::TxnState(
            "A transaction is already open; COMMIT or ROLLBACK it first".into(),
        ));
    }
    session.txn = Some(ExplicitTxn {
        requested_label: label.clone(),
        ..ExplicitTxn::default()
    });
    let info = match label {
        Some(l) => crate::txn::load_info(&l, "PREPARE", ""),
        None => String::new(),
    };
    Ok(QueryOutput::Ok {
        affected_rows: 0,
        info,
    })
}

/// COMMIT: every INSERT since BEGIN becomes visible at once. Without BEGIN it is a no-op
/// (each statement already committed itself), as in MySQL.
pub async fn commit(env: &Arc<Env>, session: &mut Session) -> Result<QueryOutput> {
    let Some(open) = session.txn.take() else {
        return Ok(QueryOutput::ok());
    };
    let Some((txn_id, label, _)) = open.started else {
        return Ok(QueryOutput::ok());
    };
    let info = |status: &str| crate::txn::load_info(&label, status, &txn_id.to_string());
    if open.sub_txns.is_empty() {
        crate::txn::abort(env, txn_id, "no data to load", Default::default()).await?;
        return Ok(QueryOutput::Ok {
            affected_rows: 0,
            info: info("VISIBLE"),
        });
    }
    let stats = crate::catalog::LoadStats {
        total_rows: open.rows,
        loaded_rows: open.rows,
        ..Default::default()
    };
    let status = crate::txn::commit(env, txn_id, stats, Some(open.sub_txns)).await?;
    Ok(QueryOutput::Ok {
        affected_rows: open.rows,
        info: info(status.name()),
    })
}

/// Aborts the transaction a session left open (its client went away): nothing it wrote
/// becomes visible.
pub async fn abandon(env: &Arc<Env>, txn: Option<ExplicitTxn>, reason: &str) {
    if let Some((txn_id, _, _)) = txn.and_then(|t| t.started) {
        if let Err(e) = crate::txn::abort(env, txn_id, reason, Default::default()).await {
            tracing::warn!(txn_id, error = %e, "could not abort the transaction");
        }
    }
}

/// ROLLBACK: nothing written since BEGIN becomes visible; the label is free again.
pub async fn rollback(env: &Arc<Env>, session: &mut Session) -> Result<QueryOutput> {
    if let Some((txn_id, _, _)) = session.txn.take().and_then(|t| t.started) {
        crate::txn::abort(env, txn_id, "user rollback", Default::default()).await?;
    }
    Ok(QueryOutput::ok())
}

fn db_id(env: &Env, session: &Session, db: Option<&str>) -> Result<i64> {
    let name = db
        .map(str::to_string)
        .or_else(|| session.database.clone())
        .ok_or(FeError::NoDatabaseSelected)?;
    env.catalog
        .read()
        .db_by_name(&name)
        .map(|d| d.id)
        .ok_or(FeError::UnknownDatabase(name))
}

fn table_names(env: &Env, t: &LoadTxn) -> String {
    let catalog = env.catalog.read();
    let db = catalog.databases.get(&t.db_id);
    t.table_ids
        .iter()
        .map(|id| {
            db.and_then(|d| d.tables.get(id))
                .map_or(id.to_string(), |t| t.name.clone())
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Doris's load job state for a transaction state.
fn load_state(t: &LoadTxn) -> &'static str {
    match t.status {
        TxnStatus::Prepare => "LOADING",
        TxnStatus::Precommitted => "PRECOMMITTED",
        TxnStatus::Committed => "COMMITTED",
        TxnStatus::Visible => "FINISHED",
        TxnStatus::Aborted => "CANCELLED",
    }
}

fn opt_time(ms: i64) -> Option<String> {
    (ms > 0).then(|| fmt_time(ms))
}

fn matches(t: &LoadTxn, filter: &LoadFilter, state: &str) -> bool {
    filter.label.as_ref().is_none_or(|l| &t.label == l)
        && filter
            .label_like
            .as_ref()
            .is_none_or(|p| like_match(p, &t.label))
        && filter.state.as_ref().is_none_or(|s| s == state)
}

pub fn show_load(
    env: &Env,
    session: &Session,
    db: Option<&str>,
    stream: bool,
    filter: &LoadFilter,
    limit: Option<u64>,
) -> Result<QueryOutput> {
    let db_id = db_id(env, session, db)?;
    let txns: Vec<LoadTxn> = env
        .catalog
        .read()
        .txns
        .values()
        .filter(|t| t.db_id == db_id)
        .filter(|t| !stream || t.kind == LoadKind::StreamLoad)
        .cloned()
        .collect();
    let limit = limit.map_or(usize::MAX, |n| n as usize);
    if stream {
        let rows = txns
            .iter()
            .filter(|t| {
                let status = stream_status(t);
                matches(t, filter, &status.to_uppercase())
            })
            .take(limit)
            .map(|t| {
                let s = &t.stats;
                vec![
                    Some(t.label.clone()),
                    env.catalog
                        .read()
                        .databases
                        .get(&t.db_id)
                        .map(|d| d.name.clone()),
                    Some(table_names(env, t)),
                    Some(t.client_ip.clone()),
                    Some(stream_status(t).to_string()),
                    Some(if t.reason.is_empty() {
                        "OK".to_string()
                    } else {
                        t.reason.clone()
                    }),
                    Some(s.error_url.clone()),
                    Some(s.total_rows.to_string()),
                    Some(s.loaded_rows.to_string()),
                    Some(s.filtered_rows.to_string()),
                    Some(s.unselected_rows.to_string()),
                    Some(s.load_bytes.to_string()),
                    opt_time(t.prepare_time_ms),
                    opt_time(t.finish_time_ms.max(t.commit_time_ms)),
                    Some(t.user.clone()),
                    Some(String::new()),
                ]
            })
            .collect();
        return QueryOutput::strings(
            &[
                "Label",
                "Db",
                "Table",
                "ClientIp",
                "Status",
                "Message",
                "Url",
                "TotalRows",
                "LoadedRows",
                "FilteredRows",
                "UnselectedRows",
                "LoadBytes",
                "StartTime",
                "FinishTime",
                "User",
                "Comment",
            ],
            rows,
        );
    }
    let rows = txns
        .iter()
        .filter(|t| matches(t, filter, load_state(t)))
        .take(limit)
        .map(|t| {
            let s = &t.stats;
            let kind = match t.kind {
                LoadKind::Insert => "INSERT",
                LoadKind::StreamLoad => "STREAM_LOAD",
                LoadKind::Delete => "DELETE",
            };
            let details = json!({
                "Unfinished backends": {}, "ScannedRows": s.total_rows, "TaskNumber": 1,
                "LoadBytes": s.load_bytes, "All backends": {}, "FileNumber": 0, "FileSize": 0,
            });
            vec![
                Some(t.txn_id.to_string()),
                Some(t.label.clone()),
                Some(load_state(t).to_string()),
                Some(
                    if t.status.is_final() {
                        "100.00% (1/1)"
                    } else {
                        "0.00% (0/1)"
                    }
                    .to_string(),
                ),
                Some(kind.to_string()),
                Some(format!(
                    "unselected.rows={}; dpp.abnorm.ALL={}; dpp.norm.ALL={}",
                    s.unselected_rows, s.filtered_rows, s.loaded_rows
                )),
                Some(format!(
                    "cluster:N/A; timeout(s):{}; max_filter_ratio:N/A",
                    t.timeout_ms / 1000
                )),
                (!t.reason.is_empty()).then(|| format!("type:LOAD_RUN_FAIL; msg:{}", t.reason)),
                opt_time(t.prepare_time_ms),
                opt_time(t.prepare_time_ms),
                opt_time(t.prepare_time_ms),
                opt_time(t.prepare_time_ms),
                opt_time(t.finish_time_ms),
                Some(s.error_url.clone()),
                Some(details.to_string()),
                Some(t.txn_id.to_string()),
                Some("{}".to_string()),
                Some(t.user.clone()),
                Some(String::new()),
            ]
        })
        .collect();
    QueryOutput::strings(
        &[
            "JobId",
            "Label",
            "State",
            "Progress",
            "Type",
            "EtlInfo",
            "TaskInfo",
            "ErrorMsg",
            "CreateTime",
            "EtlStartTime",
            "EtlFinishTime",
            "LoadStartTime",
            "LoadFinishTime",
            "URL",
            "JobDetails",
            "TransactionId",
            "ErrorTablets",
            "User",
            "Comment",
        ],
        rows,
    )
}

/// The `Status` a stream load reported (as `SHOW STREAM LOAD` shows it).
fn stream_status(t: &LoadTxn) -> &'static str {
    match t.status {
        TxnStatus::Visible | TxnStatus::Precommitted => "Success",
        TxnStatus::Committed => "Publish Timeout",
        TxnStatus::Aborted => "Fail",
        TxnStatus::Prepare => "Running",
    }
}

pub fn show_transaction(
    env: &Env,
    session: &Session,
    db: Option<&str>,
    id: Option<i64>,
    label: Option<&str>,
) -> Result<QueryOutput> {
    let db_id = db_id(env, session, db)?;
    if id.is_none() && label.is_none() {
        return Err(FeError::Analysis(
            "Where clause should looks like one of them: id = 123 or label = 'label'".into(),
        ));
    }
    let txn = env
        .catalog
        .read()
        .txns
        .values()
        .rev()
        .find(|t| {
            t.db_id == db_id
                && id.is_none_or(|i| t.txn_id == i)
                && label.is_none_or(|l| t.label == l)
        })
        .cloned();
    let Some(t) = txn else {
        return Err(FeError::Analysis(match id {
            Some(i) => format!("transaction with id {i} does not exist"),
            None => format!(
                "transaction with label {} does not exist",
                label.unwrap_or_default()
            ),
        }));
    };
    let kind = match t.kind {
        LoadKind::Insert => "INSERT_STREAMING",
        LoadKind::StreamLoad => "BACKEND_STREAMING",
        LoadKind::Delete => "DELETE",
    };
    let publish = if t.status == TxnStatus::Visible {
        t.finish_time_ms
    } else {
        0
    };
    let row = vec![
        Some(t.txn_id.to_string()),
        Some(t.label.clone()),
        Some(t.coordinator.clone()),
        Some(t.status.name().to_string()),
        Some(kind.to_string()),
        opt_time(t.prepare_time_ms),
        opt_time(t.precommit_time_ms),
        opt_time(t.commit_time_ms),
        opt_time(publish),
        opt_time(t.finish_time_ms),
        Some(t.reason.clone()),
        Some("0".to_string()),
        Some("-1".to_string()),
        Some(t.timeout_ms.to_string()),
        Some(String::new()),
    ];
    QueryOutput::strings(
        &[
            "TransactionId",
            "Label",
            "Coordinator",
            "TransactionStatus",
            "LoadJobSourceType",
            "PrepareTime",
            "PreCommitTime",
            "CommitTime",
            "PublishTime",
            "FinishTime",
            "Reason",
            "ErrorReplicasCount",
            "ListenerId",
            "TimeoutMs",
            "ErrMsg",
        ],
        vec![row],
    )
}
