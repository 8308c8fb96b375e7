//! gRPC contracts between FE and BE, generated from `proto/doris.proto`.
//! Entry points: [`heartbeat_service_client`], [`backend_service_client`],
//! [`internal_service_client`] and their server counterparts.

#![allow(clippy::all, missing_docs)]

tonic::include_proto!("doris");
