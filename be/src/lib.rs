//! Doris-compatible backend: tablet storage and plan-fragment execution.
//! The binary's entry is [`run`]; `storage` owns data on disk, `exec` runs fragments,
//! `service` exposes them over gRPC and `http` over HTTP.

pub mod config;
pub mod error;
pub mod exec;
pub mod http;
pub mod load;
pub mod service;
pub mod storage;
pub mod task;

use std::path::PathBuf;
use std::sync::Arc;

use doris_common::config::ConfFile;
use tracing::{error, info};

pub const VERSION: &str = concat!("doris-rs-", env!("CARGO_PKG_VERSION"));

/// Loads the configuration, opens storage and serves until killed or a server fails.
pub async fn run(conf_path: PathBuf) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let conf = ConfFile::load(&conf_path)?;
    let config = config::BeConfig::from_conf(&conf)?;
    let _log_guard =
        doris_common::config::init_logging(&config.sys_log_dir, "be", &config.sys_log_level)?;
    info!(conf = %conf_path.display(), root = %config.storage_root_path.display(), "starting backend");
    let options = storage::SegmentOptions::from_name(&config.segment_compression)?;
    let mut engine = storage::StorageEngine::open(
        &config.storage_root_path,
        options,
        (config.write_buffer_rows, config.write_buffer_size),
        config.pending_data_expire_time_sec,
    )?;
    engine.segment_cache = Arc::new(storage::segment_cache::SegmentCache::new(
        config.storage_page_cache_limit,
    ));
    engine.compaction = config.compaction.clone();
    engine.key_index =
        storage::delete_bitmap::KeyIndexCache::new(config.pk_storage_page_cache_limit);
    let engine = Arc::new(engine);
    // Background compaction and removal of replaced rowsets, on a thread of its own.
    let compactor = Arc::clone(&engine);
    let interval = std::time::Duration::from_millis(config.compaction.interval_ms.max(10));
    std::thread::Builder::new()
        .name("compaction".into())
        .spawn(move || loop {
            std::thread::sleep(interval);
            compactor.compaction_round();
        })?;
    let channels = Arc::new(doris_proto::Channels::default());
    // Plan fragments run on their own threads; this runtime lives as long as the process.
    let exec_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get()))
        .thread_name("be-exec")
        .enable_all()
        .build()?;
    let exec_handle = exec_runtime.handle().clone();
    std::mem::forget(exec_runtime);
    let backend = Arc::new(service::Backend {
        executor: exec::FragmentExecutor::new(
            exec::NodeResolver {
                engine: Arc::clone(&engine),
                segment_cache: Arc::clone(&engine.segment_cache),
                exchanges: Arc::default(),
                channels: Arc::clone(&channels),
            },
            exec_handle,
        ),
        channels,
        engine,
        config,
        start_time_ms: storage::now_ms(),
        master: parking_lot::RwLock::new(None),
        fe_channel: parking_lot::Mutex::new(None),
    });
    tokio::select! {
        r = service::serve(backend) => {
            if let Err(e) = &r {
                error!(error = %e, "backend server stopped");
            }
            r
        }
        _ = tokio::signal::ctrl_c() => {
            info!("shutting down");
            Ok(())
        }
    }
}
