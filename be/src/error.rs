//! The BE's error type. [`BeError`] maps to gRPC statuses at the service edge.

use datafusion::error::DataFusionError;

pub type Result<T, E = BeError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum BeError {
    #[error("meta store error: {0}")]
    Meta(#[from] rocksdb::Error),
    #[error("io error: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    DataFusion(#[from] DataFusionError),
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    #[error("tablet {0} not found")]
    TabletNotFound(i64),
    #[error("tablet {tablet_id}: version {version} is not readable ({reason})")]
    VersionNotReadable {
        tablet_id: i64,
        version: i64,
        reason: String,
    },
    #[error("invalid request: {0}")]
    InvalidArgument(String),
    #[error("cluster id mismatch: this backend belongs to cluster {ours}, request from cluster {theirs}")]
    ClusterMismatch { ours: i64, theirs: i64 },
}

impl From<BeError> for tonic::Status {
    fn from(e: BeError) -> Self {
        match &e {
            BeError::TabletNotFound(_) => tonic::Status::not_found(e.to_string()),
            BeError::InvalidArgument(_) => tonic::Status::invalid_argument(e.to_string()),
            BeError::ClusterMismatch { .. } => tonic::Status::permission_denied(e.to_string()),
            _ => tonic::Status::internal(e.to_string()),
        }
    }
}

impl From<BeError> for DataFusionError {
    fn from(e: BeError) -> Self {
        match e {
            BeError::DataFusion(d) => d,
            other => DataFusionError::External(Box::new(other)),
        }
    }
}
