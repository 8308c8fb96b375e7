//! Backends as the FE sees them: RPC clients, heartbeats and runtime state, and publishing
//! committed load transactions to them. Entry points: [`BackendClients`],
//! [`heartbeat::run_heartbeats`], [`publish::publish_txn`].

pub mod heartbeat;
pub mod publish;
pub mod report;

use doris_common::fragment::ExchangeEndpoint;
use doris_proto::backend_service_client::BackendServiceClient;
use doris_proto::heartbeat_service_client::HeartbeatServiceClient;
use doris_proto::internal_service_client::InternalServiceClient;
use doris_proto::{Channels, MAX_MESSAGE_BYTES};
use tonic::transport::Channel;

use crate::error::{FeError, Result};

/// `host:port` of a node in ALTER SYSTEM (a backend's heartbeat port, a frontend's
/// edit_log_port).
pub fn parse_endpoint(s: &str) -> Result<(String, u16)> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| FeError::Analysis(format!("Invalid host:port '{s}'")))?;
    let port = port
        .trim()
        .parse()
        .map_err(|_| FeError::Analysis(format!("Invalid port in '{s}'")))?;
    Ok((host.trim().to_string(), port))
}

/// Host and be_port (agent service) of an alive backend.
pub fn agent_address(env: &crate::env::Env, backend_id: i64) -> Option<(String, u16)> {
    let host = env.catalog.read().backends.get(&backend_id)?.host.clone();
    let state = env.backend_state.read();
    let s = state.get(&backend_id).filter(|s| s.alive)?;
    Some((host, s.be_port))
}

/// Every alive backend's id and `brpc_port` address (where plan fragments, exchanges and
/// remote tablet writes go).
pub fn backend_endpoints(env: &crate::env::Env) -> Vec<ExchangeEndpoint> {
    let catalog = env.catalog.read();
    let states = env.backend_state.read();
    catalog
        .backends
        .iter()
        .filter_map(|(id, b)| {
            let s = states.get(id).filter(|s| s.alive)?;
            Some(ExchangeEndpoint {
                backend_id: *id,
                host: b.host.clone(),
                port: s.brpc_port,
            })
        })
        .collect()
}

/// Size of one tablet as its backends last reported it (planner statistics).
#[derive(Debug, Clone, Default)]
pub struct TabletStat {
    /// Per-column NULL counts and integer ranges (see [`crate::planner::stats`]).
    pub columns: Box<[doris_proto::ColumnStats]>,
    /// Each replica as its backend reported it, the latest report first (`SHOW TABLETS`).
    /// Inline for one replica: a catalog may have a million tablets.
    pub replicas: smallvec::SmallVec<[ReplicaStat; 1]>,
}

impl TabletStat {
    /// The replica on `backend_id` as last reported.
    pub fn replica(&self, backend_id: i64) -> Option<&ReplicaStat> {
        self.replicas.iter().find(|r| r.backend_id == backend_id)
    }

    /// Rows as the latest report said.
    pub fn rows(&self) -> u64 {
        self.replicas.first().map_or(0, |r| r.rows)
    }

    /// Bytes of data as the latest report said.
    pub fn bytes(&self) -> u64 {
        self.replicas.first().map_or(0, |r| r.bytes)
    }
}

/// One replica of a tablet as its backend last reported it.
#[derive(Debug, Clone, Default)]
pub struct ReplicaStat {
    pub backend_id: i64,
    /// Highest version published to it.
    pub version: i64,
    pub rows: u64,
    pub bytes: u64,
    /// Visible rowsets (Doris's VersionCount).
    pub rowsets: u32,
}

/// Every tablet's latest reports, sorted by tablet id: a vector rather than a hash map,
/// which would take twice the memory for the million tablets a catalog may have.
#[derive(Debug, Default)]
pub struct TabletReports {
    tablets: Vec<(i64, TabletStat)>,
}

impl TabletReports {
    pub fn get(&self, tablet_id: i64) -> Option<&TabletStat> {
        let i = self
            .tablets
            .binary_search_by_key(&tablet_id, |(id, _)| *id)
            .ok()?;
        Some(&self.tablets[i].1)
    }

    /// Records what a backend reported of some tablets.
    pub fn update(
        &mut self,
        reports: impl IntoIterator<Item = (i64, ReplicaStat, Box<[doris_proto::ColumnStats]>)>,
    ) {
        let mut added: Vec<(i64, TabletStat)> = Vec::new();
        for (tablet_id, replica, columns) in reports {
            let found = self.tablets.binary_search_by_key(&tablet_id, |(id, _)| *id);
            let stat = match found {
                Ok(i) => &mut self.tablets[i].1,
                Err(_) => {
                    added.push((tablet_id, TabletStat::default()));
                    let last = added.len() - 1;
                    &mut added[last].1
                }
            };
            stat.columns = columns;
            stat.replicas.retain(|r| r.backend_id != replica.backend_id);
            stat.replicas.insert(0, replica);
        }
        if !added.is_empty() {
            self.tablets.extend(added);
            // Reports come sorted by tablet id, so this is mostly a check.
            self.tablets.sort_by_key(|(id, _)| *id);
            self.tablets.dedup_by_key(|(id, _)| *id);
        }
    }

    /// After `backend_id`'s full report (`reported`, sorted): its replicas of tablets the
    /// report does not list are gone, and so are tablets without any replica left.
    pub fn forget_missing(&mut self, backend_id: i64, reported: &[i64]) {
        self.tablets.retain_mut(|(id, stat)| {
            if reported.binary_search(id).is_err() {
                stat.replicas.retain(|r| r.backend_id != backend_id);
            }
            !stat.replicas.is_empty()
        });
        self.tablets.shrink_to_fit();
    }
}

/// What heartbeats tell about a backend (not persisted).
#[derive(Debug, Clone, Default)]
pub struct BackendState {
    pub alive: bool,
    pub be_port: u16,
    pub http_port: u16,
    pub brpc_port: u16,
    pub last_heartbeat_ms: i64,
    pub last_start_time_ms: i64,
    pub tablet_num: i64,
    pub data_used_bytes: i64,
    pub disk_total_bytes: i64,
    pub disk_available_bytes: i64,
    pub version: String,
    pub err_msg: String,
    pub failure_count: u32,
}

impl BackendState {
    /// What the master tells the other frontends about backend `backend_id`.
    pub fn to_proto(&self, backend_id: i64) -> doris_proto::BackendLiveness {
        doris_proto::BackendLiveness {
            backend_id,
            alive: self.alive,
            be_port: i32::from(self.be_port),
            http_port: i32::from(self.http_port),
            brpc_port: i32::from(self.brpc_port),
            last_heartbeat_ms: self.last_heartbeat_ms,
            last_start_time_ms: self.last_start_time_ms,
            tablet_num: self.tablet_num,
            data_used_bytes: self.data_used_bytes,
            disk_total_bytes: self.disk_total_bytes,
            disk_available_bytes: self.disk_available_bytes,
            version: self.version.clone(),
            err_msg: self.err_msg.clone(),
        }
    }

    /// A backend's state as the master reported it.
    pub fn from_proto(p: &doris_proto::BackendLiveness) -> Self {
        let port = |p: i32| u16::try_from(p).unwrap_or(0);
        Self {
            alive: p.alive,
            be_port: port(p.be_port),
            http_port: port(p.http_port),
            brpc_port: port(p.brpc_port),
            last_heartbeat_ms: p.last_heartbeat_ms,
            last_start_time_ms: p.last_start_time_ms,
            tablet_num: p.tablet_num,
            data_used_bytes: p.data_used_bytes,
            disk_total_bytes: p.disk_total_bytes,
            disk_available_bytes: p.disk_available_bytes,
            version: p.version.clone(),
            err_msg: p.err_msg.clone(),
            failure_count: 0,
        }
    }
}

/// gRPC channels to backends, one per address, created lazily and reused.
#[derive(Default)]
pub struct BackendClients {
    channels: Channels,
}

impl BackendClients {
    fn channel(&self, host: &str, port: u16) -> Result<Channel> {
        self.channels.channel(host, port).map_err(FeError::Analysis)
    }

    pub fn heartbeat(&self, host: &str, port: u16) -> Result<HeartbeatServiceClient<Channel>> {
        Ok(HeartbeatServiceClient::new(self.channel(host, port)?))
    }

    pub fn agent(&self, host: &str, port: u16) -> Result<BackendServiceClient<Channel>> {
        Ok(BackendServiceClient::new(self.channel(host, port)?)
            .max_decoding_message_size(MAX_MESSAGE_BYTES))
    }

    /// Forgets a backend's channel after a transport failure (see [`Channels::evict`]).
    pub fn evict(&self, host: &str, port: u16) {
        self.channels.evict(host, port);
    }

    pub fn internal(&self, host: &str, port: u16) -> Result<InternalServiceClient<Channel>> {
        self.channels
            .internal(host, port)
            .map_err(FeError::Analysis)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replica(backend_id: i64, rows: u64) -> ReplicaStat {
        ReplicaStat {
            backend_id,
            version: 2,
            rows,
            bytes: rows * 10,
            rowsets: 1,
        }
    }

    #[test]
    fn reports_update_merge_and_forget() {
        let mut reports = TabletReports::default();
        reports.update([
            (30, replica(1, 3), Box::default()),
            (10, replica(1, 1), Box::default()),
        ]);
        reports.update([
            (20, replica(2, 2), Box::default()),
            (10, replica(2, 5), Box::default()),
        ]);
        assert_eq!(
            reports.get(10).map(TabletStat::rows),
            Some(5),
            "latest report first"
        );
        assert_eq!(
            reports.get(10).and_then(|s| s.replica(1)).map(|r| r.rows),
            Some(1)
        );
        assert_eq!(reports.get(20).map(TabletStat::bytes), Some(20));
        assert!(reports.get(15).is_none());
        // Backend 1's full report lists tablet 10 only: tablet 30 (only on 1) is gone,
        // tablet 20 (on 2) stays.
        reports.forget_missing(1, &[10]);
        assert!(reports.get(30).is_none());
        assert!(reports.get(20).is_some());
        assert_eq!(reports.get(10).map(|s| s.replicas.len()), Some(2));
    }
}
