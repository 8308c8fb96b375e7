//! A throw-away Doris-compatible cluster (1 FE + N BEs as real processes) for end-to-end tests.
//! [`Cluster::start`] brings it up on free ports in a temporary directory; dropping it kills it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use mysql_async::{Conn, Opts};
use tempfile::TempDir;

use crate::error::HarnessError;
use crate::mysql::{self, QueryOutput, SqlError};
use crate::node::{free_ports, BePorts, FePorts, Node};

/// How long a node may take to become ready (FE answering `SELECT 1`, BE reported alive).
pub const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Pause between readiness probes.
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// Set to `1` to keep the cluster directory (conf, data, logs) after the test; its path is printed.
pub const KEEP_ENV: &str = "KEEP_TEST_CLUSTER";

/// One FE and `num_be` BEs running as child processes, each in its own directory under a
/// temporary root, on ports found by binding port 0.
///
/// All methods that change the cluster panic with a message that includes the tail of the
/// relevant nodes' logs; [`Cluster::try_start`] is the non-panicking entry point.
#[derive(Debug)]
pub struct Cluster {
    /// `None` once the directory has been handed over for keeping.
    dir: Option<TempDir>,
    root: PathBuf,
    fe: Node,
    fe_ports: FePorts,
    bes: Vec<(Node, BePorts)>,
    /// Frontends added with [`Cluster::add_frontend`] (index `i` here is frontend `i + 1`).
    more_fes: Vec<(Node, FePorts)>,
    /// Appended to every FE's configuration.
    fe_conf: String,
}

impl Cluster {
    /// Starts 1 FE and `num_be` BEs, registers the BEs and waits until all are alive.
    ///
    /// # Panics
    /// If a binary is missing (run `cargo build --bins`) or a node does not come up within
    /// [`START_TIMEOUT`]; the message includes the tail of its logs.
    pub async fn start(num_be: usize) -> Cluster {
        match Cluster::try_start(num_be).await {
            Ok(c) => c,
            Err(e) => panic!("cannot start the test cluster: {e}"),
        }
    }

    /// [`Cluster::start`] with `be_conf` (lines of `key = value`) appended to every BE's
    /// configuration.
    pub async fn start_with_be_conf(num_be: usize, be_conf: &str) -> Cluster {
        Cluster::start_with_conf(num_be, "", be_conf).await
    }

    /// [`Cluster::start`] with `fe_conf` and `be_conf` (lines of `key = value`) appended to
    /// every FE's (also those added later) and every BE's configuration.
    pub async fn start_with_conf(num_be: usize, fe_conf: &str, be_conf: &str) -> Cluster {
        match Cluster::try_start_with(num_be, fe_conf, be_conf).await {
            Ok(c) => c,
            Err(e) => panic!("cannot start the test cluster: {e}"),
        }
    }

    /// Like [`Cluster::start`], returning the error instead of panicking.
    pub async fn try_start(num_be: usize) -> Result<Cluster, HarnessError> {
        Cluster::try_start_with(num_be, "", "").await
    }

    async fn try_start_with(
        num_be: usize,
        fe_conf: &str,
        be_conf: &str,
    ) -> Result<Cluster, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("doris-test-cluster-")
            .tempdir()
            .map_err(|e| HarnessError::io("creating the cluster's temporary directory", e))?;
        let root = dir.path().to_path_buf();
        if keep_requested() {
            eprintln!(
                "{KEEP_ENV}=1: test cluster files are in {} (kept after the test)",
                root.display()
            );
        }
        let ports = free_ports(4 + 4 * num_be)?;
        let fe_ports = FePorts {
            query_port: ports[0],
            http_port: ports[1],
            rpc_port: ports[2],
            edit_log_port: ports[3],
        };
        let fe = Node::new_fe(&root, fe_ports, fe_conf)?;
        let mut bes = Vec::with_capacity(num_be);
        for i in 0..num_be {
            let p = &ports[4 + 4 * i..8 + 4 * i];
            let be_ports = BePorts {
                be_port: p[0],
                webserver_port: p[1],
                heartbeat_service_port: p[2],
                brpc_port: p[3],
            };
            bes.push((Node::new_be(&root, i, be_ports, be_conf)?, be_ports));
        }
        // From here on the cluster owns the processes, so an early return kills them.
        let mut cluster = Cluster {
            dir: Some(dir),
            root,
            fe,
            fe_ports,
            bes,
            more_fes: Vec::new(),
            fe_conf: fe_conf.to_string(),
        };
        cluster.fe.spawn()?;
        for (be, _) in &mut cluster.bes {
            be.spawn()?;
        }
        cluster.wait_fe_ready().await?;
        if num_be > 0 {
            let mut conn = cluster.harness_conn().await?;
            for i in 0..num_be {
                let sql = format!(
                    "ALTER SYSTEM ADD BACKEND \"127.0.0.1:{}\"",
                    cluster.bes[i].1.heartbeat_service_port
                );
                mysql::query(&mut conn, &sql)
                    .await
                    .map_err(|error| HarnessError::Sql { sql, error })?;
            }
            let _ = conn.disconnect().await;
            let all: Vec<usize> = (0..num_be).collect();
            cluster.wait_backends_alive(&all).await?;
        }
        Ok(cluster)
    }

    /// `mysql://root@127.0.0.1:<query_port>` (empty password, no default database).
    pub fn mysql_url(&self) -> String {
        format!("mysql://root@127.0.0.1:{}", self.fe_ports.query_port)
    }

    /// Connection options for `root` on the FE, optionally with a default database.
    pub fn mysql_opts(&self, db: Option<&str>) -> Opts {
        mysql::opts(self.fe_ports.query_port, db)
    }

    /// Opens a new connection to the FE.
    pub async fn try_connect(&self, db: Option<&str>) -> Result<Conn, SqlError> {
        mysql::connect(self.mysql_opts(db)).await
    }

    /// Opens a new connection to the FE; panics with the FE's log tail if that fails.
    pub async fn connect(&self) -> Conn {
        match self.try_connect(None).await {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot connect to the FE at {}: {e}\n{}",
                self.mysql_url(),
                self.fe.log_tail()
            ),
        }
    }

    /// The FE's MySQL port.
    pub fn query_port(&self) -> u16 {
        self.fe_ports.query_port
    }

    /// The FE's HTTP address (stream load, REST API).
    pub fn fe_http_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.fe_ports.http_port))
    }

    /// All FE ports.
    pub fn fe_ports(&self) -> FePorts {
        self.fe_ports
    }

    /// All ports of BE `i`.
    pub fn be_ports(&self, i: usize) -> BePorts {
        self.bes[i].1
    }

    /// Number of BEs.
    pub fn num_be(&self) -> usize {
        self.bes.len()
    }

    /// The cluster's root directory (one sub-directory per node: `fe`, `be0`, ...).
    pub fn dir(&self) -> &Path {
        &self.root
    }

    /// The tail of every node's logs, for failure messages.
    pub fn logs(&self) -> String {
        let mut out = self.fe.log_tail();
        for (fe, _) in &self.more_fes {
            out.push_str(&fe.log_tail());
        }
        for (be, _) in &self.bes {
            out.push_str(&be.log_tail());
        }
        out
    }

    /// Runs `sql` on `conn`; a failure panics with the statement and the nodes' logs.
    pub async fn exec(&self, conn: &mut Conn, sql: &str) -> QueryOutput {
        match mysql::query(conn, sql).await {
            Ok(out) => out,
            Err(e) => panic!("`{sql}` failed: {e}\n{}", self.logs()),
        }
    }

    /// The rows of `sql` as tab-joined lines (`NULL` for NULL), as [`Cluster::exec`] runs it.
    pub async fn lines(&self, conn: &mut Conn, sql: &str) -> Vec<String> {
        self.exec(conn, sql).await.lines()
    }

    /// Starts another frontend that joins with `--helper` (the first FE) and adds it on the
    /// master (`ALTER SYSTEM ADD FOLLOWER|OBSERVER`); waits until the master shows it
    /// joined and alive. Returns its index for the `*_frontend` methods (the first FE is 0).
    pub async fn add_frontend(&mut self, observer: bool) -> usize {
        let index = self.more_fes.len() + 1;
        let result = async {
            let p = free_ports(4)?;
            let ports = FePorts {
                query_port: p[0],
                http_port: p[1],
                rpc_port: p[2],
                edit_log_port: p[3],
            };
            let mut node =
                Node::new_fe_named(&self.root, &format!("fe{index}"), ports, &self.fe_conf)?;
            node.extra_args = vec![
                "--helper".into(),
                format!("127.0.0.1:{}", self.fe_ports.edit_log_port),
            ];
            node.spawn()?;
            self.more_fes.push((node, ports));
            let role = if observer { "OBSERVER" } else { "FOLLOWER" };
            let sql = format!(
                "ALTER SYSTEM ADD {role} \"127.0.0.1:{}\"",
                ports.edit_log_port
            );
            let master = self
                .master_index()
                .await
                .ok_or_else(|| HarnessError::NotReady {
                    what: "an FE master".into(),
                    secs: 0,
                    last_error: "no master".into(),
                    logs: self.logs(),
                })?;
            let mut conn = self.connect_frontend(master).await;
            mysql::query(&mut conn, &sql)
                .await
                .map_err(|error| HarnessError::Sql { sql, error })?;
            self.wait_frontend_joined(ports.edit_log_port).await?;
            self.wait_frontend_ready(index).await
        }
        .await;
        if let Err(e) = result {
            panic!("adding frontend {index} failed: {e}");
        }
        index
    }

    /// The ports of frontend `i` (0: the first FE).
    pub fn frontend_ports(&self, i: usize) -> FePorts {
        match i {
            0 => self.fe_ports,
            _ => self.more_fes[i - 1].1,
        }
    }

    /// Number of frontends.
    pub fn num_fe(&self) -> usize {
        1 + self.more_fes.len()
    }

    fn frontend_node(&mut self, i: usize) -> &mut Node {
        match i {
            0 => &mut self.fe,
            _ => &mut self.more_fes[i - 1].0,
        }
    }

    /// Whether frontend `i`'s process runs.
    pub fn frontend_running(&mut self, i: usize) -> bool {
        self.frontend_node(i).is_running()
    }

    /// A connection to frontend `i`; panics with the logs if that fails.
    pub async fn connect_frontend(&self, i: usize) -> Conn {
        let port = self.frontend_ports(i).query_port;
        match mysql::connect(mysql::opts(port, None)).await {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot connect to frontend {i} (port {port}): {e}\n{}",
                self.logs()
            ),
        }
    }

    /// SIGKILLs frontend `i`.
    pub fn kill_frontend(&mut self, i: usize) {
        if let Err(e) = self.frontend_node(i).kill() {
            panic!("cannot kill frontend {i}: {e}");
        }
    }

    /// Starts frontend `i` again (same conf and meta_dir) and waits until it answers.
    pub async fn restart_frontend(&mut self, i: usize) {
        let result = async {
            let node = self.frontend_node(i);
            node.kill()?;
            node.spawn()?;
            self.wait_frontend_ready(i).await
        }
        .await;
        if let Err(e) = result {
            panic!("restarting frontend {i} failed: {e}");
        }
    }

    /// The frontend that running frontends report as master (`SHOW FRONTENDS` IsMaster),
    /// if the first one that answers knows one and it is running.
    pub async fn master_index(&mut self) -> Option<usize> {
        for i in 0..self.num_fe() {
            if !self.frontend_running(i) {
                continue;
            }
            let port = self.frontend_ports(i).query_port;
            let Ok(mut conn) = mysql::connect(mysql::opts(port, None)).await else {
                continue;
            };
            let Ok(out) = mysql::query(&mut conn, "SHOW FRONTENDS").await else {
                continue;
            };
            let _ = conn.disconnect().await;
            let master_port = out
                .rows()
                .iter()
                .find(|r| r.get(8).and_then(|c| c.as_deref()) == Some("true"))
                .and_then(|r| {
                    r.get(2)
                        .and_then(|c| c.as_deref())
                        .and_then(|p| p.parse().ok())
                });
            let index = (0..self.num_fe())
                .find(|&j| Some(self.frontend_ports(j).edit_log_port) == master_port);
            if let Some(j) = index.filter(|&j| self.frontend_running(j)) {
                return Some(j);
            }
        }
        None
    }

    async fn wait_frontend_joined(&mut self, edit_log_port: u16) -> Result<(), HarnessError> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(master) = self.master_index().await {
                let port = self.frontend_ports(master).query_port;
                if let Ok(mut conn) = mysql::connect(mysql::opts(port, None)).await {
                    if let Ok(out) = mysql::query(&mut conn, "SHOW FRONTENDS").await {
                        let joined = out.rows().iter().any(|r| {
                            let cell = |k: usize| r.get(k).and_then(|c| c.as_deref());
                            cell(2) == Some(edit_log_port.to_string().as_str())
                                && cell(10) == Some("true")
                                && cell(11) == Some("true")
                        });
                        if joined {
                            return Ok(());
                        }
                    }
                }
            }
            if Instant::now() > deadline {
                return Err(HarnessError::NotReady {
                    what: format!("frontend with edit_log_port {edit_log_port} to join"),
                    secs: START_TIMEOUT.as_secs(),
                    last_error: "not joined".into(),
                    logs: self.logs(),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn wait_frontend_ready(&mut self, i: usize) -> Result<(), HarnessError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let port = self.frontend_ports(i).query_port;
        loop {
            self.frontend_node(i).check_alive()?;
            if let Ok(mut conn) = mysql::connect(mysql::opts(port, None)).await {
                let ok = mysql::query(&mut conn, "SELECT 1").await.is_ok();
                let _ = conn.disconnect().await;
                if ok {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(HarnessError::NotReady {
                    what: format!("frontend {i} (query_port {port})"),
                    secs: START_TIMEOUT.as_secs(),
                    last_error: "no answer to SELECT 1".into(),
                    logs: self.logs(),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// SIGKILLs the FE (no-op if it is not running).
    pub fn kill_fe(&mut self) {
        if let Err(e) = self.fe.kill() {
            panic!("cannot kill the FE: {e}");
        }
    }

    /// SIGKILLs BE `i` (no-op if it is not running).
    pub fn kill_be(&mut self, i: usize) {
        if let Err(e) = self.bes[i].0.kill() {
            panic!("cannot kill be{i}: {e}");
        }
    }

    /// Starts the FE again with the same conf, ports and directories (killing it first if it
    /// still runs), waits for `SELECT 1`, then waits until every running BE is reported alive.
    /// BEs are not re-added: they must come back from the FE's persisted catalog.
    pub async fn restart_fe(&mut self) {
        if let Err(e) = self.try_restart_fe().await {
            panic!("FE restart failed: {e}");
        }
    }

    async fn try_restart_fe(&mut self) -> Result<(), HarnessError> {
        self.fe.kill()?;
        self.fe.spawn()?;
        self.wait_fe_ready().await?;
        let running: Vec<usize> = (0..self.bes.len())
            .filter(|&i| self.bes[i].0.is_running())
            .collect();
        self.wait_backends_alive(&running).await
    }

    /// Starts BE `i` again with the same conf, ports and storage (killing it first if it still
    /// runs) and waits until it listens on its heartbeat port and the FE reports it alive.
    pub async fn restart_be(&mut self, i: usize) {
        if let Err(e) = self.try_restart_be(i).await {
            panic!("be{i} restart failed: {e}");
        }
    }

    async fn try_restart_be(&mut self, i: usize) -> Result<(), HarnessError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let (be, ports) = &mut self.bes[i];
        be.kill()?;
        be.spawn()?;
        let addr = SocketAddr::from(([127, 0, 0, 1], ports.heartbeat_service_port));
        loop {
            be.check_alive()?;
            match tokio::net::TcpStream::connect(addr).await {
                Ok(_) => break,
                Err(e) if Instant::now() > deadline => {
                    return Err(HarnessError::NotReady {
                        what: format!("be{i} heartbeat port {addr}"),
                        secs: START_TIMEOUT.as_secs(),
                        last_error: e.to_string(),
                        logs: be.log_tail(),
                    })
                }
                Err(_) => tokio::time::sleep(POLL_INTERVAL).await,
            }
        }
        self.wait_backends_alive(&[i]).await
    }

    /// A connection for the harness's own statements, with the FE's logs on failure.
    async fn harness_conn(&self) -> Result<Conn, HarnessError> {
        self.try_connect(None)
            .await
            .map_err(|e| HarnessError::NotReady {
                what: "FE connection".to_string(),
                secs: mysql::CONNECT_TIMEOUT.as_secs(),
                last_error: e.to_string(),
                logs: self.fe.log_tail(),
            })
    }

    /// Polls until a fresh connection answers `SELECT 1` with `1`.
    async fn wait_fe_ready(&mut self) -> Result<(), HarnessError> {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last_error;
        loop {
            self.fe.check_alive()?;
            match self.try_connect(None).await {
                Ok(mut conn) => {
                    last_error = match mysql::query(&mut conn, "SELECT 1").await {
                        Ok(out) if out.rows() == [vec![Some("1".to_string())]] => {
                            let _ = conn.disconnect().await;
                            return Ok(());
                        }
                        Ok(out) => format!("SELECT 1 answered {out:?}"),
                        Err(e) => format!("SELECT 1 failed: {e}"),
                    };
                    let _ = conn.disconnect().await;
                }
                Err(e) => last_error = format!("connect failed: {e}"),
            }
            if Instant::now() > deadline {
                return Err(HarnessError::NotReady {
                    what: format!("FE (query_port {})", self.fe_ports.query_port),
                    secs: START_TIMEOUT.as_secs(),
                    last_error,
                    logs: self.fe.log_tail(),
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    /// Polls `SHOW BACKENDS` until the rows of the given BEs (matched by `HeartbeatPort`) say
    /// `Alive` = `true`.
    async fn wait_backends_alive(&mut self, which: &[usize]) -> Result<(), HarnessError> {
        if which.is_empty() {
            return Ok(());
        }
        let deadline = Instant::now() + START_TIMEOUT;
        let mut conn: Option<Conn> = None;
        let mut last_error;
        loop {
            self.fe.check_alive()?;
            for &i in which {
                self.bes[i].0.check_alive()?;
            }
            if conn.is_none() {
                conn = self.try_connect(None).await.ok();
            }
            last_error = match conn.as_mut() {
                None => "cannot connect to the FE".to_string(),
                Some(c) => match mysql::query(c, "SHOW BACKENDS").await {
                    Err(e) => {
                        conn = None;
                        format!("SHOW BACKENDS failed: {e}")
                    }
                    Ok(out) => {
                        let ports: Vec<u16> = which
                            .iter()
                            .map(|&i| self.bes[i].1.heartbeat_service_port)
                            .collect();
                        match backends_not_alive(&out, &ports) {
                            Ok(missing) if missing.is_empty() => {
                                if let Some(c) = conn.take() {
                                    let _ = c.disconnect().await;
                                }
                                return Ok(());
                            }
                            Ok(missing) => missing.join("; "),
                            Err(e) => e,
                        }
                    }
                },
            };
            if Instant::now() > deadline {
                let mut logs = self.fe.log_tail();
                for &i in which {
                    logs.push_str(&self.bes[i].0.log_tail());
                }
                let names: Vec<String> = which.iter().map(|i| format!("be{i}")).collect();
                return Err(HarnessError::NotReady {
                    what: format!("{} (alive in SHOW BACKENDS)", names.join(", ")),
                    secs: START_TIMEOUT.as_secs(),
                    last_error,
                    logs,
                });
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self.fe.kill();
        for (fe, _) in &mut self.more_fes {
            let _ = fe.kill();
        }
        for (be, _) in &mut self.bes {
            let _ = be.kill();
        }
        if keep_requested() {
            if let Some(dir) = self.dir.take() {
                let path = dir.keep();
                eprintln!(
                    "{KEEP_ENV}=1: kept the test cluster directory {}",
                    path.display()
                );
            }
        }
    }
}

fn keep_requested() -> bool {
    std::env::var(KEEP_ENV).is_ok_and(|v| v == "1" || v.eq_ignore_ascii_case("true"))
}

/// For each heartbeat port, a description of why its BE is not yet alive (empty: all alive).
/// `Err` when the result set lacks the needed columns.
fn backends_not_alive(out: &QueryOutput, heartbeat_ports: &[u16]) -> Result<Vec<String>, String> {
    let QueryOutput::Rows { columns, rows } = out else {
        return Err("SHOW BACKENDS returned no result set".to_string());
    };
    let find = |name: &str| {
        columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                let names: Vec<&str> = columns.iter().map(|c| c.name.as_str()).collect();
                format!("SHOW BACKENDS has no `{name}` column (columns: {names:?})")
            })
    };
    let port_col = find("HeartbeatPort")?;
    let alive_col = find("Alive")?;
    let mut not_alive = Vec::new();
    for &port in heartbeat_ports {
        let port_text = port.to_string();
        let row = rows
            .iter()
            .find(|r| r.get(port_col).and_then(|c| c.as_deref()) == Some(port_text.as_str()));
        match row {
            None => not_alive.push(format!("no SHOW BACKENDS row with HeartbeatPort {port}")),
            Some(r) => {
                let alive = r
                    .get(alive_col)
                    .and_then(|c| c.as_deref())
                    .unwrap_or("NULL");
                if !alive.eq_ignore_ascii_case("true") {
                    not_alive.push(format!("backend :{port} has Alive = {alive}"));
                }
            }
        }
    }
    Ok(not_alive)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mysql::ColumnInfo;
    use mysql_async::consts::ColumnType;

    fn col(name: &str) -> ColumnInfo {
        ColumnInfo {
            name: name.to_string(),
            column_type: ColumnType::MYSQL_TYPE_VAR_STRING,
        }
    }

    #[test]
    fn backends_are_found_by_column_name() {
        let out = QueryOutput::Rows {
            columns: vec![
                col("BackendId"),
                col("Host"),
                col("HeartbeatPort"),
                col("Alive"),
            ],
            rows: vec![
                vec![
                    Some("1".into()),
                    Some("127.0.0.1".into()),
                    Some("9050".into()),
                    Some("true".into()),
                ],
                vec![
                    Some("2".into()),
                    Some("127.0.0.1".into()),
                    Some("9051".into()),
                    Some("false".into()),
                ],
            ],
        };
        assert_eq!(backends_not_alive(&out, &[9050]), Ok(vec![]));
        let missing = backends_not_alive(&out, &[9050, 9051, 9052]).expect("columns exist");
        assert_eq!(missing.len(), 2);
        assert!(missing[0].contains("Alive = false"));
        assert!(missing[1].contains("no SHOW BACKENDS row"));
        let bad = QueryOutput::Rows {
            columns: vec![col("Host")],
            rows: vec![],
        };
        assert!(backends_not_alive(&bad, &[1]).is_err());
    }
}
