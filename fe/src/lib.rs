//! Doris-compatible frontend: MySQL protocol, SQL planning, catalog and edit log.
//! Follow a query by module: `mysql` (protocol, sessions) → `qe` (statement dispatch) →
//! `sql` (Doris statement parser) / `planner` (DataFusion planning, fragment dispatch) →
//! `cluster` (backend RPC). `catalog` + `journal` hold metadata; [`run`] starts it all.

pub mod catalog;
pub mod cluster;
pub mod config;
pub mod env;
pub mod error;
pub mod ha;
pub mod http;
pub mod journal;
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

/// Loads the configuration, recovers metadata and serves until killed.
pub async fn run(conf_path: PathBuf) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let conf = ConfFile::load(&conf_path)?;
    let config = config::FeConfig::from_conf(&conf)?;
    let _log_guard =
        doris_common::config::init_logging(&config.sys_log_dir, "fe", &config.sys_log_level)?;
    info!(conf = %conf_path.display(), meta_dir = %config.meta_dir.display(), "starting frontend");
    let env = env::Env::open(config)?;
    let any = |port: u16| SocketAddr::from(([0, 0, 0, 0], port));
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
    txn::abort_unfinished(&env).await;
    tokio::spawn(txn::run_txn_checker(std::sync::Arc::clone(&env)));
    qe::materialized_view::resume_builds(&env);
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
