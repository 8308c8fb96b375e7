//! One server process of a test cluster: its directory, conf file, ports and child process.
//! [`Node::new_fe`]/[`Node::new_be`] lay out the directory; [`Node::spawn`] starts the binary.

use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use crate::error::HarnessError;

/// How many lines of each log file a failure message shows.
const LOG_TAIL_LINES: usize = 40;
/// How many bytes at the end of a log file are read to find those lines.
const LOG_TAIL_BYTES: u64 = 16 * 1024;

/// Which server a node runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeKind {
    Fe,
    Be,
}

impl NodeKind {
    /// Binary name, also used in messages.
    pub fn binary_name(self) -> &'static str {
        match self {
            NodeKind::Fe => "doris-fe",
            NodeKind::Be => "doris-be",
        }
    }

    /// Environment variable that overrides the binary's path.
    fn env_var(self) -> &'static str {
        match self {
            NodeKind::Fe => "DORIS_FE_BIN",
            NodeKind::Be => "DORIS_BE_BIN",
        }
    }
}

/// The ports of an FE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FePorts {
    pub query_port: u16,
    pub http_port: u16,
    pub rpc_port: u16,
    pub edit_log_port: u16,
}

/// The ports of a BE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BePorts {
    pub be_port: u16,
    pub webserver_port: u16,
    pub heartbeat_service_port: u16,
    pub brpc_port: u16,
}

/// One server process and everything that belongs to it on disk.
#[derive(Debug)]
pub struct Node {
    /// `fe` or `be0`, `be1`, ...: used in messages and as the directory name.
    pub name: String,
    pub kind: NodeKind,
    pub dir: PathBuf,
    pub conf_path: PathBuf,
    pub log_dir: PathBuf,
    binary: PathBuf,
    /// Arguments after `--conf <path>` (an FE's `--helper host:port`).
    pub extra_args: Vec<String>,
    child: Option<Child>,
}

impl Node {
    /// Creates `root/fe` with `fe.conf`, `meta/` and `log/`.
    pub fn new_fe(root: &Path, ports: FePorts, extra_conf: &str) -> Result<Node, HarnessError> {
        Node::new_fe_named(root, "fe", ports, extra_conf)
    }

    /// Creates `root/<name>` with `fe.conf` (ending with `extra_conf`), `meta/` and `log/`
    /// (several FEs of a cluster).
    pub fn new_fe_named(
        root: &Path,
        name: &str,
        ports: FePorts,
        extra_conf: &str,
    ) -> Result<Node, HarnessError> {
        let node = Node::layout(root, name.to_string(), NodeKind::Fe)?;
        let meta_dir = node.dir.join("meta");
        create_dir(&meta_dir)?;
        let conf = format!(
            "# written by the regression-test harness\n\
             priority_networks = 127.0.0.1/32\n\
             query_port = {}\n\
             http_port = {}\n\
             rpc_port = {}\n\
             edit_log_port = {}\n\
             meta_dir = ../{name}/meta\n\
             sys_log_dir = {}\n\
             {extra_conf}\n",
            ports.query_port,
            ports.http_port,
            ports.rpc_port,
            ports.edit_log_port,
            node.log_dir.display(),
        );
        write_file(&node.conf_path, &conf)?;
        Ok(node)
    }

    /// Creates `root/be<index>` with `be.conf` (ending with `extra_conf`), `storage/` and
    /// `log/`.
    pub fn new_be(
        root: &Path,
        index: usize,
        ports: BePorts,
        extra_conf: &str,
    ) -> Result<Node, HarnessError> {
        let node = Node::layout(root, format!("be{index}"), NodeKind::Be)?;
        let storage = node.dir.join("storage");
        create_dir(&storage)?;
        // Data paths are relative with `..` like the shipped conf files (resolved against
        // the conf file's directory, `node.dir`): the same directories as created here.
        let conf = format!(
            "# written by the regression-test harness\n\
             priority_networks = 127.0.0.1/32\n\
             be_port = {}\n\
             webserver_port = {}\n\
             heartbeat_service_port = {}\n\
             brpc_port = {}\n\
             storage_root_path = ../be{index}/storage\n\
             sys_log_dir = {}\n\
             {extra_conf}\n",
            ports.be_port,
            ports.webserver_port,
            ports.heartbeat_service_port,
            ports.brpc_port,
            node.log_dir.display(),
        );
        write_file(&node.conf_path, &conf)?;
        Ok(node)
    }

    fn layout(root: &Path, name: String, kind: NodeKind) -> Result<Node, HarnessError> {
        let binary = find_binary(kind)?;
        let dir = root.join(&name);
        let log_dir = dir.join("log");
        create_dir(&dir)?;
        create_dir(&log_dir)?;
        let conf_path = dir.join(match kind {
            NodeKind::Fe => "fe.conf",
            NodeKind::Be => "be.conf",
        });
        Ok(Node {
            name,
            kind,
            dir,
            conf_path,
            log_dir,
            binary,
            extra_args: Vec::new(),
            child: None,
        })
    }

    /// Starts the binary with `--conf`; stdout/stderr are appended to `stdout.log`/`stderr.log`
    /// in the node directory, so output of earlier runs survives a restart.
    pub fn spawn(&mut self) -> Result<(), HarnessError> {
        if self.is_running() {
            return Ok(());
        }
        let stdout = append_file(&self.dir.join("stdout.log"))?;
        let stderr = append_file(&self.dir.join("stderr.log"))?;
        let child = Command::new(&self.binary)
            .arg("--conf")
            .arg(&self.conf_path)
            .args(&self.extra_args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .env("RUST_BACKTRACE", "1")
            .spawn()
            .map_err(|e| {
                HarnessError::io(
                    format!("starting {} ({})", self.name, self.binary.display()),
                    e,
                )
            })?;
        self.child = Some(child);
        Ok(())
    }

    /// SIGKILL (std's `Child::kill` on unix) and reap. A node that is not running is left alone.
    pub fn kill(&mut self) -> Result<(), HarnessError> {
        if let Some(mut child) = self.child.take() {
            // kill() fails only if the process was already reaped; wait() reaps it either way.
            let _ = child.kill();
            child
                .wait()
                .map_err(|e| HarnessError::io(format!("waiting for killed {}", self.name), e))?;
        }
        Ok(())
    }

    /// True while the child process has been started and has not exited.
    pub fn is_running(&mut self) -> bool {
        match self.child.as_mut() {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// Fails with [`HarnessError::Exited`] if the process has exited (or was never started).
    pub fn check_alive(&mut self) -> Result<(), HarnessError> {
        let status = match self.child.as_mut() {
            None => Some("not started".to_string()),
            Some(child) => match child.try_wait() {
                Ok(None) => None,
                Ok(Some(status)) => Some(status.to_string()),
                Err(e) => Some(format!("cannot query status: {e}")),
            },
        };
        match status {
            None => Ok(()),
            Some(status) => Err(HarnessError::Exited {
                what: self.name.clone(),
                status,
                logs: self.log_tail(),
            }),
        }
    }

    /// The last lines of `stdout.log`, `stderr.log` and every `log/*.log`, for failure messages.
    pub fn log_tail(&self) -> String {
        let mut files = vec![self.dir.join("stdout.log"), self.dir.join("stderr.log")];
        if let Ok(entries) = fs::read_dir(&self.log_dir) {
            let mut logs: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|ext| ext == "log"))
                .collect();
            logs.sort();
            files.extend(logs);
        }
        let mut out = format!("---- logs of {} ({}) ----\n", self.name, self.dir.display());
        for file in files {
            match tail(&file) {
                Ok(text) if text.trim().is_empty() => {
                    out.push_str(&format!("== {}: (empty)\n", file.display()))
                }
                Ok(text) => {
                    out.push_str(&format!("== {} (last lines):\n{text}", file.display()));
                    if !text.ends_with('\n') {
                        out.push('\n');
                    }
                }
                Err(e) => out.push_str(&format!("== {}: cannot read: {e}\n", file.display())),
            }
        }
        out
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.kill();
    }
}

/// Binds `n` listeners on 127.0.0.1:0 at once (so the ports are distinct), then releases them.
pub fn free_ports(n: usize) -> Result<Vec<u16>, HarnessError> {
    let listeners = (0..n)
        .map(|_| {
            TcpListener::bind("127.0.0.1:0")
                .map_err(|e| HarnessError::io("binding 127.0.0.1:0 to find a free port", e))
        })
        .collect::<Result<Vec<_>, _>>()?;
    listeners
        .iter()
        .map(|l| {
            l.local_addr()
                .map(|a| a.port())
                .map_err(|e| HarnessError::io("reading a listener's port", e))
        })
        .collect()
}

/// `DORIS_FE_BIN`/`DORIS_BE_BIN`, else the binary next to the test executable:
/// `<target>/<profile>/deps/test-xxxx` → `<target>/<profile>/doris-fe`.
fn find_binary(kind: NodeKind) -> Result<PathBuf, HarnessError> {
    let name = kind.binary_name();
    let path = match std::env::var_os(kind.env_var()) {
        Some(p) => PathBuf::from(p),
        None => {
            let exe = std::env::current_exe()
                .map_err(|e| HarnessError::io("locating the test executable", e))?;
            let mut dir = exe
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("."));
            if dir
                .file_name()
                .is_some_and(|n| n == "deps" || n == "examples")
            {
                dir.pop();
            }
            dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX))
        }
    };
    if path.is_file() {
        Ok(path)
    } else {
        Err(HarnessError::BinaryMissing { name, path })
    }
}

fn create_dir(p: &Path) -> Result<(), HarnessError> {
    fs::create_dir_all(p).map_err(|e| HarnessError::io(format!("creating {}", p.display()), e))
}

fn write_file(p: &Path, text: &str) -> Result<(), HarnessError> {
    fs::write(p, text).map_err(|e| HarnessError::io(format!("writing {}", p.display()), e))
}

fn append_file(p: &Path) -> Result<File, HarnessError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .open(p)
        .map_err(|e| HarnessError::io(format!("opening {}", p.display()), e))
}

/// The last [`LOG_TAIL_LINES`] lines of a file (reading at most [`LOG_TAIL_BYTES`]).
fn tail(p: &Path) -> std::io::Result<String> {
    let mut f = File::open(p)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(LOG_TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut buf = Vec::new();
    f.read_to_end(&mut buf)?;
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(LOG_TAIL_LINES);
    Ok(lines[from..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct() {
        let ports = free_ports(8).expect("free ports");
        let mut sorted = ports.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 8);
        assert!(ports.iter().all(|&p| p != 0));
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("x.log");
        let text: String = (0..100).map(|i| format!("line {i}\n")).collect();
        fs::write(&p, text).expect("write");
        let t = tail(&p).expect("tail");
        assert!(t.starts_with("line 60"));
        assert!(t.ends_with("line 99"));
    }
}
