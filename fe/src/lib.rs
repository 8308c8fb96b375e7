//! Doris-compatible frontend: MySQL protocol, SQL planning, catalog and edit log.
//! Follow a query by module: `mysql` (protocol, sessions) → `qe` (statement dispatch) →
//! `sql` (Doris statement parser) / `planner` (DataFusion planning, fragment dispatch) →
//! `cluster` (backend RPC). `catalog` holds metadata, `ha` replicates its edit log
//! through Raft; [`run`] starts it all.

pub mod catalog;
pub mod cluster;
pub mod config;
pub mod env;
pub mod error;
pub mod ha;
pub mod http;
pub mod mysql;
pub mod planner;
pub mod qe;
pub mod service;
pub mod sql;
pub mod txn;

use std::net::SocketAddr;
use std::path::PathBuf;

use doris_common::config::ConfFile;
use tracing::info;

/// Loads the configuration, recovers metadata (or joins the cluster of `helper`) and
/// serves until killed.
pub async fn run(
    conf_path: PathBuf,
    helper: Option<String>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let conf = ConfFile::load(&conf_path)?;
    let config = config::FeConfig::from_conf(&conf)?;
    let _log_guard =
        doris_common::config::init_logging(&config.sys_log_dir, "fe", &config.sys_log_level)?;
    info!(conf = %conf_path.display(), meta_dir = %config.meta_dir.display(), "starting frontend");
    let env = env::Env::open(config, helper.as_deref()).await?;
    let any = |port: u16| SocketAddr::from(([0, 0, 0, 0], port));
    // Raft between frontends on edit_log_port; up before waiting for a leader.
    let raft_listener = std::net::TcpListener::bind(any(env.config.edit_log_port))?;
    raft_listener.set_nonblocking(true)?;
    let status_env = std::sync::Arc::clone(&env);
    let raft_service = ha::network::RaftService::new(
        env.raft.clone(),
        env.cluster_id,
        std::sync::Arc::new(move || status_env.status()),
        std::sync::Arc::clone(&env.last_leader_contact_ms),
    );
    env.spawn_on_raft_runtime(async move {
        let raft_listener = match tokio::net::TcpListener::from_std(raft_listener) {
            Ok(l) => l,
            Err(e) => {
                tracing::error!(error = %e, "raft service failed");
                return;
            }
        };
        let server = tonic::transport::Server::builder()
            .add_service(
                doris_proto::frontend_raft_service_server::FrontendRaftServiceServer::new(
                    raft_service,
                )
                .max_decoding_message_size(doris_proto::MAX_MESSAGE_BYTES)
                .max_encoding_message_size(doris_proto::MAX_MESSAGE_BYTES),
            )
            .serve_with_incoming(doris_common::net::nodelay_incoming(raft_listener));
        if let Err(e) = server.await {
            tracing::error!(error = %e, "raft service failed");
        }
    });
    // A joining frontend waits until the master adds it.
    let timeout = helper
        .is_none()
        .then_some(std::time::Duration::from_secs(60));
    env.wait_ready(timeout).await?;
    tokio::spawn(ha::membership::run_membership(std::sync::Arc::clone(&env)));
    let mysql_listener = tokio::net::TcpListener::bind(any(env.config.query_port)).await?;
    let http_listener = tokio::net::TcpListener::bind(any(env.config.http_port)).await?;
    tokio::spawn(cluster::heartbeat::run_heartbeats(std::sync::Arc::clone(
        &env,
    )));
    tokio::spawn(cluster::publish::run_publish_retries(
        std::sync::Arc::clone(&env),
    ));
    let rpc_listener = tokio::net::TcpListener::bind(any(env.config.rpc_port)).await?;
    let rpc = std::sync::Arc::clone(&env);
    tokio::spawn(async move {
        if let Err(e) = service::serve(rpc_listener, rpc).await {
            tracing::error!(error = %e, "frontend service failed");
        }
    });
    tokio::spawn(take_over_as_master(std::sync::Arc::clone(&env)));
    tokio::spawn(txn::run_txn_checker(std::sync::Arc::clone(&env)));
    tokio::spawn(qe::dynamic_partition::run_scheduler(
        std::sync::Arc::clone(&env),
        std::time::Duration::from_secs(env.config.dynamic_partition_check_interval_seconds.max(1)),
    ));
    tokio::spawn(http::serve(http_listener, std::sync::Arc::clone(&env)));
    info!(
        query_port = env.config.query_port,
        http_port = env.config.http_port,
        "frontend ready"
    );
    tokio::select! {
        _ = mysql::serve(env, mysql_listener) => Ok(()),
        _ = tokio::signal::ctrl_c() => {
            info!("shutting down");
            Ok(())
        }
    }
}

/// Whenever this frontend becomes the master: aborts the load transactions the previous
/// master (or this one before a restart) left running, since their coordinators' state is
/// gone, and resumes materialized view and schema change builds.
async fn take_over_as_master(env: std::sync::Arc<env::Env>) {
    let mut metrics = env.raft.metrics();
    let mut was_master = false;
    loop {
        let master = env.is_master();
        if master && !was_master {
            info!("this frontend is the master");
            env.forwarded_sessions.clear();
            // Backends follow whoever heartbeats them: tell them at once.
            cluster::heartbeat::heartbeat_all(&env).await;
            txn::abort_unfinished(&env).await;
            qe::materialized_view::resume_builds(&env);
        }
        was_master = master;
        if metrics.changed().await.is_err() {
            return;
        }
    }
}
