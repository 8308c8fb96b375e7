//! Code shared by FE and BE: configuration files, Doris column types, MySQL functions and the
//! plan-fragment codec that carries the project's own plan nodes between processes.

pub mod bucket;
pub mod config;
pub mod fragment;
pub mod functions;
pub mod http;
pub mod ipc;
pub mod net;
pub mod partition;
pub mod types;
