//! The BE's HTTP server on webserver_port: health, tablet listings, stream load (with its
//! two-phase commit), load error logs and Doris's compaction API.

use std::sync::Arc;

use axum::extract::Query;
use axum::extract::State;
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::service::Backend;

pub async fn serve(
    listener: tokio::net::TcpListener,
    backend: Arc<Backend>,
) -> std::io::Result<()> {
    let app = Router::new()
        .route("/api/health", get(health))
        .route("/api/tablets", get(tablets))
        .route(
            "/api/{db}/{table}/_stream_load",
            put(crate::load::stream_load::stream_load),
        )
        .route(
            "/api/{db}/{table}/_stream_load_2pc",
            put(crate::load::stream_load::stream_load_2pc),
        )
        .route(
            "/api/{db}/_stream_load_2pc",
            put(crate::load::stream_load::stream_load_2pc),
        )
        .route("/api/compaction/show", get(compaction_show))
        .route("/api/compaction/run", post(compaction_run))
        .route("/api/compaction/run_status", get(compaction_run_status))
        .route(
            "/api/_load_error_log",
            get(crate::load::stream_load::load_error_log),
        )
        // Stream load bodies are streamed, never buffered: no body size limit here.
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(backend);
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .await
}

async fn health() -> Json<Value> {
    Json(json!({"status": "OK", "msg": "To Be Added"}))
}

async fn tablets(State(backend): State<Arc<Backend>>) -> Json<Value> {
    let list: Vec<Value> = backend
        .engine
        .tablet_stats(&[])
        .into_iter()
        .map(|s| {
            json!({"tablet_id": s.tablet_id, "version": s.max_version, "row_count": s.row_count,
                   "data_size": s.data_size, "rowset_count": s.rowset_count})
        })
        .collect();
    Json(json!({"msg": "OK", "code": 0, "data": {"tablets": list}, "count": list.len()}))
}

#[derive(serde::Deserialize)]
struct CompactionParams {
    tablet_id: Option<i64>,
    compact_type: Option<String>,
}

fn fail(msg: impl Into<String>) -> Json<Value> {
    Json(json!({"status": "Fail", "msg": msg.into()}))
}

fn time_text(ms: i64) -> String {
    if ms <= 0 {
        return "1970-01-01 00:00:00.000".into();
    }
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.format("%Y-%m-%d %H:%M:%S%.3f").to_string())
        .unwrap_or_default()
}

/// `GET /api/compaction/show?tablet_id=N`: the cumulative point, last compaction times and
/// the rowsets (`[start-end] segments DATA|DELETE NONOVERLAPPING|OVERLAPPING id size`).
async fn compaction_show(
    State(backend): State<Arc<Backend>>,
    Query(p): Query<CompactionParams>,
) -> Json<Value> {
    let Some(id) = p.tablet_id else {
        return fail("tablet_id is required");
    };
    let Ok(tablet) = backend.engine.tablet(id) else {
        return fail(format!("Tablet not found. tablet_id={id}"));
    };
    let describe = |r: &crate::storage::tablet::RowsetMeta| {
        format!(
            "[{}-{}] {} {} {} {} {}",
            r.start_version,
            r.end_version,
            r.segments.len(),
            if r.delete_predicate.is_some() {
                "DELETE"
            } else {
                "DATA"
            },
            if r.segments.len() > 1 {
                "OVERLAPPING"
            } else {
                "NONOVERLAPPING"
            },
            r.rowset_id,
            r.data_size
        )
    };
    let rowsets: Vec<String> = tablet.rowsets.read().iter().map(describe).collect();
    let stale: Vec<String> = tablet
        .stale
        .read()
        .iter()
        .map(|s| describe(&s.rowset))
        .collect();
    let status = tablet.compaction_status.lock().clone();
    Json(json!({
        "cumulative policy type": "SIZE_BASED",
        "cumulative point": tablet.meta.read().cumulative_point,
        "last cumulative failure time": time_text(status.last_cumulative_failure_ms),
        "last base failure time": time_text(status.last_base_failure_ms),
        "last cumulative success time": time_text(status.last_cumulative_success_ms),
        "last base success time": time_text(status.last_base_success_ms),
        "rowsets": rowsets,
        "stale_rowsets": stale,
    }))
}

/// `POST /api/compaction/run?tablet_id=N&compact_type=cumulative|base|full`: runs the
/// compaction now and answers when it is done (Doris answers at once and leaves the task
/// running; polling `run_status` works with both).
async fn compaction_run(
    State(backend): State<Arc<Backend>>,
    Query(p): Query<CompactionParams>,
) -> Json<Value> {
    let Some(id) = p.tablet_id else {
        return fail("tablet_id is required");
    };
    let kind = p.compact_type.as_deref().unwrap_or("cumulative");
    let Some(kind) = crate::storage::compaction::CompactionKind::from_name(kind) else {
        return fail(format!(
            "compact_type {kind} is invalid (cumulative, base or full)"
        ));
    };
    let engine = Arc::clone(&backend.engine);
    match tokio::task::spawn_blocking(move || engine.compact(id, kind)).await {
        Ok(Ok(Some(o))) => Json(json!({
            "status": "Success",
            "msg": "compaction task is successfully triggered",
            "input_rowsets": o.input_rowsets,
            "input_rows": o.input_rows,
            "output_rows": o.output_rows,
            "output_version": format!("[{}-{}]", o.versions.0, o.versions.1),
        })),
        Ok(Ok(None)) => {
            fail("no suitable versions to compact (or a compaction of the tablet is running)")
        }
        Ok(Err(e)) => fail(e.to_string()),
        Err(e) => fail(e.to_string()),
    }
}

/// `GET /api/compaction/run_status?tablet_id=N`: whether a compaction of it is running.
async fn compaction_run_status(
    State(backend): State<Arc<Backend>>,
    Query(p): Query<CompactionParams>,
) -> Json<Value> {
    let Some(id) = p.tablet_id else {
        return fail("tablet_id is required");
    };
    let Ok(tablet) = backend.engine.tablet(id) else {
        return fail(format!("Tablet not found. tablet_id={id}"));
    };
    let running = tablet.compaction_lock.try_lock().is_none();
    let msg = if running {
        "compaction task for this tablet is running"
    } else {
        "compaction task for this tablet is not running"
    };
    Json(json!({"status": "Success", "run_status": running, "msg": msg, "tablet_id": id}))
}
