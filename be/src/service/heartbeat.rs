//! Heartbeats from the FE: answers with this BE's ports and usage, and binds the BE to the
//! FE's cluster id on first contact (a BE of another cluster is refused).

use std::sync::Arc;

use doris_proto::heartbeat_service_server::HeartbeatService;
use doris_proto::{HeartbeatRequest, HeartbeatResponse};
use tonic::{Request, Response, Status};

use super::Backend;
use crate::error::BeError;

pub struct HeartbeatImpl(pub Arc<Backend>);

impl HeartbeatImpl {
    fn check_cluster_id(&self, theirs: i64) -> Result<(), BeError> {
        if theirs == 0 {
            return Ok(());
        }
        let path = self.0.engine.root().join("cluster_id");
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let ours: i64 = text
                    .trim()
                    .parse()
                    .map_err(|_| BeError::Corrupt(format!("bad {}", path.display())))?;
                if ours != theirs {
                    return Err(BeError::ClusterMismatch { ours, theirs });
                }
                Ok(())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::write(&path, theirs.to_string())?;
                Ok(())
            }
            Err(e) => Err(e.into()),
        }
    }
}

#[tonic::async_trait]
impl HeartbeatService for HeartbeatImpl {
    async fn heartbeat(
        &self,
        request: Request<HeartbeatRequest>,
    ) -> Result<Response<HeartbeatResponse>, Status> {
        let peer = request.remote_addr().map(|a| a.ip().to_string());
        let req = request.into_inner();
        self.check_cluster_id(req.cluster_id)?;
        let b = &self.0;
        // The FE's address as this BE reaches it (the request's source), else what it says.
        let fe_host = peer.unwrap_or_else(|| req.fe_host.clone());
        *b.master.write() = Some(super::MasterInfo {
            fe_host,
            fe_rpc_port: u16::try_from(req.fe_rpc_port).unwrap_or(9020),
            backend_id: req.backend_id,
        });
        b.engine.set_backend_id(req.backend_id);
        let (tablets, used) = b.engine.usage();
        let (total, avail) = disk_space(b.engine.root());
        Ok(Response::new(HeartbeatResponse {
            be_port: i32::from(b.config.be_port),
            http_port: i32::from(b.config.webserver_port),
            brpc_port: i32::from(b.config.brpc_port),
            version: crate::VERSION.to_string(),
            start_time_ms: b.start_time_ms,
            tablet_num: tablets as i64,
            data_used_bytes: used as i64,
            disk_total_bytes: total,
            disk_available_bytes: avail,
        }))
    }
}

/// `(total, available)` bytes of the filesystem holding `path` (0 when unknown).
fn disk_space(path: &std::path::Path) -> (i64, i64) {
    let Ok(out) = std::process::Command::new("df")
        .arg("-Pk")
        .arg(path)
        .output()
    else {
        return (0, 0);
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let fields: Vec<&str> = text
        .lines()
        .nth(1)
        .map(|l| l.split_whitespace().collect())
        .unwrap_or_default();
    let kb = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0)
            * 1024
    };
    (kb(1), kb(3))
}
