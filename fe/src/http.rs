//! The FE's HTTP server on http_port: health and bootstrap endpoints (stream load
//! redirection arrives here in a later change).

use std::sync::Arc;

use axum::extract::State;
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::env::Env;

pub async fn serve(listener: tokio::net::TcpListener, env: Arc<Env>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/api/health", get(health))
        .route("/api/bootstrap", get(bootstrap))
        .route(
            "/api/{db}/{table}/_stream_load",
            put(doris_common::http::stream_load_handler),
        )
        .with_state(env);
    axum::serve(listener, app).await
}

async fn health(State(env): State<Arc<Env>>) -> Json<Value> {
    let total = env.catalog.read().backends.len();
    let online = env.alive_backends().len();
    Json(json!({"msg": "success", "code": 0,
        "data": {"online_backend_num": online, "total_backend_num": total}, "count": 0}))
}

async fn bootstrap(State(env): State<Arc<Env>>) -> Json<Value> {
    Json(json!({"msg": "success", "code": 0,
        "data": {"replayedJournalId": env.last_journal_id(), "queryPort": env.config.query_port,
                 "rpcPort": env.config.rpc_port, "version": env!("CARGO_PKG_VERSION")}}))
}
