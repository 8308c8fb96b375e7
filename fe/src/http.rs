//! The FE's HTTP server on http_port: health and bootstrap endpoints, and the stream-load
//! entry: the FE authenticates the request and answers 307 with the same URL on a live BE
//! holding the table (the BE runs the load), as Doris does; `curl --location-trusted`
//! follows it with the credentials.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{OriginalUri, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::env::Env;

pub async fn serve(listener: tokio::net::TcpListener, env: Arc<Env>) -> std::io::Result<()> {
    let app = Router::new()
        .route("/api/health", get(health))
        .route("/api/bootstrap", get(bootstrap))
        .route("/api/{db}/{table}/_stream_load", put(redirect_to_backend))
        .route(
            "/api/{db}/{table}/_stream_load_2pc",
            put(redirect_to_backend),
        )
        .route("/api/{db}/_stream_load_2pc", put(redirect_to_backend))
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

fn unauthorized(message: String) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Basic realm=\"doris\"")],
        Json(json!({"status": "FAILED", "msg": message})),
    )
        .into_response()
}

/// Checks the request's basic-auth credentials against the FE's users.
fn check_auth(env: &Env, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some((user, password)) = doris_common::http::basic_auth(headers) else {
        return Err(Box::new(unauthorized(
            "Need auth information: use HTTP basic auth (curl -u user:password)".into(),
        )));
    };
    if crate::mysql::verify_plain_password(&env.catalog.read(), &user, &password) {
        Ok(())
    } else {
        Err(Box::new(unauthorized(format!(
            "Access denied for user '{user}' (using password: {})",
            if password.is_empty() { "NO" } else { "YES" }
        ))))
    }
}

/// A live BE to run a load, round-robin (as Doris: the BE that receives the data sends each
/// tablet's rows to the backends holding its replicas).
fn pick_backend(env: &Env) -> Option<(String, u16)> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let candidates = env.alive_backends();
    if candidates.is_empty() {
        return None;
    }
    let id = candidates[NEXT.fetch_add(1, Ordering::Relaxed) % candidates.len()];
    let host = env.catalog.read().backends.get(&id)?.host.clone();
    let port = env.backend_state.read().get(&id)?.http_port;
    Some((host, port))
}

fn redirect(env: &Env, headers: &HeaderMap, uri: &axum::http::Uri) -> Response {
    if let Err(denied) = check_auth(env, headers) {
        return *denied;
    }
    let Some((host, port)) = pick_backend(env) else {
        let label = doris_common::http::header(headers, "label").unwrap_or_default();
        let reply = doris_common::http::StreamLoadReply::failed(
            label,
            "[SERVICE_UNAVAILABLE]No backend is alive to run the load",
        );
        return Json(reply).into_response();
    };
    let path_and_query = uri.path_and_query().map_or(uri.path(), |p| p.as_str());
    let location = format!("http://{host}:{port}{path_and_query}");
    (
        StatusCode::TEMPORARY_REDIRECT,
        [(header::LOCATION, location)],
    )
        .into_response()
}

/// Stream load and its 2PC endpoints: 307 to a live BE with the same path and query.
async fn redirect_to_backend(
    State(env): State<Arc<Env>>,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
) -> Response {
    redirect(&env, &headers, &uri)
}
