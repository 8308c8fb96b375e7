//! The BE's HTTP server on webserver_port: health, tablet listings, stream load (with its
//! two-phase commit) and load error logs.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, put};
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
        .tablet_stats()
        .into_iter()
        .map(|s| {
            json!({"tablet_id": s.tablet_id, "version": s.max_version, "row_count": s.row_count,
                   "data_size": s.data_size, "rowset_count": s.rowset_count})
        })
        .collect();
    Json(json!({"msg": "OK", "code": 0, "data": {"tablets": list}, "count": list.len()}))
}
