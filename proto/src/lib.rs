//! gRPC contracts between FE and BE, generated from `proto/doris.proto`.
//! Entry points: [`heartbeat_service_client`], [`backend_service_client`],
//! [`internal_service_client`] and their server counterparts; [`Channels`] caches the
//! connections a process keeps to its peers.

#[allow(clippy::all, missing_docs)]
mod generated {
    tonic::include_proto!("doris");
}
pub use generated::*;

mod channels;
pub use channels::{Channels, MAX_MESSAGE_BYTES};
