//! Statements that change metadata, run on the master for clients of another frontend.
//!
//! Only the master writes the edit log, so on a follower or observer DDL, loads (INSERT,
//! UPDATE, DELETE, BEGIN ... COMMIT), user changes and `SET GLOBAL` are sent to the
//! master's `FrontendService.ForwardStatement` ([`forward`]); reads stay local. The master
//! runs each in a session it keeps per client connection ([`ForwardedSessions`]), so an
//! explicit transaction spans statements, and answers with the statement's result and its
//! applied log index; the forwarding frontend answers the client once it has applied that
//! index itself, so the client reads its own writes on any frontend.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use doris_proto::frontend_service_client::FrontendServiceClient;
use doris_proto::{ForwardStatementRequest, ForwardStatementResponse, ForwardWarning};
use futures::StreamExt;
use parking_lot::Mutex;
use tracing::{debug, warn};

use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::{ProcessInfo, Session, Warning};
use crate::sql::ast::{Statement, VarScope};

/// How long a forwarding frontend waits for a master to be elected (or to become known).
const MASTER_WAIT: Duration = Duration::from_secs(10);
/// How long it waits to apply the master's log up to a forwarded statement's index.
const CATCH_UP_WAIT: Duration = Duration::from_secs(10);
/// A master's session for a client connection that has sent nothing for this long (its
/// frontend died without saying goodbye) is dropped.
const IDLE_SESSION: Duration = Duration::from_secs(8 * 3600);

/// Whether `stmt` changes metadata and so must run on the master.
pub fn needs_master(stmt: &Statement) -> bool {
    match stmt {
        Statement::Query(text) => query_writes(text),
        Statement::Set(assignments) => assignments.iter().any(|a| a.scope == VarScope::Global),
        Statement::CreateDatabase { .. }
        | Statement::DropDatabase { .. }
        | Statement::CreateTable(_)
        | Statement::DropTable { .. }
        | Statement::AlterSystem(_)
        | Statement::SetPassword { .. }
        | Statement::CreateUser { .. }
        | Statement::DropUser { .. }
        | Statement::Begin { .. }
        | Statement::Commit
        | Statement::Rollback
        | Statement::AlterTable { .. }
        | Statement::Truncate { .. }
        | Statement::CreateMaterializedView { .. }
        | Statement::DropMaterializedView { .. } => true,
        Statement::ShowDatabases { .. }
        | Statement::ShowTables { .. }
        | Statement::Use { .. }
        | Statement::Describe { .. }
        | Statement::ShowCreateTable { .. }
        | Statement::ShowPartitions { .. }
        | Statement::ShowCreateDatabase { .. }
        | Statement::ShowBackends
        | Statement::ShowFrontends
        | Statement::ShowQueryProfile { .. }
        | Statement::ShowProcesslist { .. }
        | Statement::ShowVariables { .. }
        | Statement::ShowWarnings
        | Statement::ShowErrors
        | Statement::ShowEngines
        | Statement::ShowCharset
        | Statement::ShowCollation { .. }
        | Statement::ShowTableStatus { .. }
        | Statement::Explain { .. }
        | Statement::Kill { .. }
        | Statement::ShowLoad { .. }
        | Statement::ShowTransaction { .. }
        | Statement::ShowAlterTableColumn { .. }
        | Statement::ShowAlterTableMv { .. }
        | Statement::ShowTablets { .. }
        | Statement::ShowTablet { .. }
        | Statement::ShowProc { .. } => false,
    }
}

/// Whether a statement the SQL planner handles writes: DML and view DDL.
fn query_writes(text: &str) -> bool {
    let mut rest = text.trim_start();
    // Leading comments and parentheses do not change what the statement is.
    loop {
        if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix("--").or_else(|| rest.strip_prefix('#')) {
            rest = r.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(r) = rest.strip_prefix('(') {
            rest = r.trim_start();
        } else {
            break;
        }
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_lowercase();
    matches!(
        word.as_str(),
        "insert" | "update" | "delete" | "create" | "drop" | "alter" | "replace" | "truncate"
    )
}

/// What a connection's session knows about forwarding.
#[derive(Debug, Clone, Default)]
pub struct ForwardState {
    /// A statement of this connection has been forwarded (the master keeps a session).
    pub used: bool,
    /// The master's session is inside BEGIN ... (as its last answer said).
    pub in_txn: bool,
    /// This session is the master's copy of another frontend's connection: it never
    /// forwards again.
    pub is_master_copy: bool,
}

/// An explicit transaction lives on the master that began it. When the master changes
/// under a connection inside one (this frontend became the master, or stopped being it),
/// the transaction is gone (the new master aborts what the old one left running): ROLLBACK
/// just ends it, any other write says so. `Some` answers the statement.
pub fn check_txn_home(
    env: &Env,
    session: &mut Session,
    stmt: &Statement,
) -> Result<Option<QueryOutput>> {
    if session.forward.is_master_copy {
        return Ok(None);
    }
    let is_master = env.is_master();
    let lost = (session.forward.in_txn && is_master) || (session.txn.is_some() && !is_master);
    if !lost {
        return Ok(None);
    }
    session.forward.in_txn = false;
    session.txn = None;
    match stmt {
        Statement::Rollback => Ok(Some(QueryOutput::ok())),
        stmt if needs_master(stmt) => Err(lost_txn()),
        _ => Ok(None),
    }
}

fn lost_txn() -> FeError {
    FeError::TxnState(
        "the transaction was lost: the master frontend changed since BEGIN, and what it wrote \
         was rolled back"
            .into(),
    )
}

/// The master's address for forwarded statements (`host`, rpc_port), once known.
pub fn master_rpc_address(env: &Env) -> Option<(u64, String, u16)> {
    let metrics = env.raft.metrics().borrow().clone();
    let leader = metrics.current_leader?;
    let node = metrics
        .membership_config
        .membership()
        .get_node(&leader)?
        .clone();
    let port = env
        .frontend_state
        .read()
        .get(&leader)
        .and_then(|st| u16::try_from(st.reply.rpc_port).ok())
        .filter(|p| *p != 0)?;
    Some((leader, node.host, port))
}

/// Runs `sql` (a statement for which [`needs_master`] holds) on the master for `session`.
pub async fn forward(env: &Arc<Env>, session: &mut Session, sql: &str) -> Result<QueryOutput> {
    let deadline = Instant::now() + MASTER_WAIT;
    let reply = loop {
        if env.is_master() {
            // Elected while waiting: nothing was forwarded, run it here.
            return Box::pin(crate::qe::execute(env, session, sql)).await;
        }
        let attempt = match master_rpc_address(env) {
            Some((_, host, port)) => send(env, &host, port, request(env, session, sql)).await,
            None => Err(Retry("no frontend master is elected".into())),
        };
        match attempt {
            Ok(reply) => break reply,
            Err(Retry(why)) if Instant::now() < deadline => {
                debug!(reason = %why, "waiting for the master to forward a statement");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(Retry(why)) => {
                return Err(FeError::NotMaster(format!(
                    "this frontend is not the master and could not reach one within {} s \
                     ({why}); metadata cannot change now",
                    MASTER_WAIT.as_secs()
                )))
            }
        }
    };
    session.forward.used = true;
    session.forward.in_txn = reply.in_txn;
    session.warnings = reply
        .warnings
        .iter()
        .map(|w| Warning {
            level: match w.level.as_str() {
                "Note" => "Note",
                "Error" => "Error",
                _ => "Warning",
            },
            code: u16::try_from(w.code).unwrap_or(1105),
            message: w.message.clone(),
        })
        .collect();
    // Read-your-writes: answer once this frontend has applied what the master had.
    let caught_up = env
        .raft
        .wait(Some(CATCH_UP_WAIT))
        .applied_index_at_least(Some(reply.journal_id), "forwarded statement")
        .await;
    if let Err(e) = caught_up {
        warn!(journal_id = reply.journal_id, error = %e, "frontend is behind the master");
    }
    if reply.error_code != 0 {
        return Err(FeError::Forwarded {
            code: u16::try_from(reply.error_code).unwrap_or(1105),
            message: reply.error_message,
        });
    }
    if reply.has_rows {
        let reader = StreamReader::try_new(std::io::Cursor::new(reply.rows_ipc), None)?;
        let schema = reader.schema();
        let batches = reader.collect::<std::result::Result<Vec<_>, _>>()?;
        return Ok(QueryOutput::batches(schema, batches));
    }
    Ok(QueryOutput::Ok {
        affected_rows: reply.affected_rows,
        info: reply.info,
    })
}

/// Why a forward attempt may be repeated: nothing ran on the master.
struct Retry(String);

fn request(env: &Env, session: &Session, sql: &str) -> ForwardStatementRequest {
    ForwardStatementRequest {
        cluster_id: env.cluster_id,
        origin_node_id: env.node_id,
        connection_id: session.connection_id,
        user: session.user.clone(),
        client_host: session.client_host.clone(),
        database: session.database.clone().unwrap_or_default(),
        variables: session.variables.clone().into_iter().collect(),
        user_variables: session.user_variables.clone().into_iter().collect(),
        sql: sql.to_string(),
        expect_txn: session.forward.in_txn,
        close_session: false,
    }
}

/// Sends one forward request. A master that is unreachable before the statement starts, or
/// that says it is no longer the master, is worth retrying; a failure while the statement
/// ran is not (it may have taken effect).
async fn send(
    env: &Env,
    host: &str,
    port: u16,
    request: ForwardStatementRequest,
) -> std::result::Result<ForwardStatementResponse, Retry> {
    let channel = env.fe_channels.channel(host, port).map_err(Retry)?;
    let reply = FrontendServiceClient::new(channel)
        .max_decoding_message_size(doris_proto::MAX_MESSAGE_BYTES)
        .forward_statement(request)
        .await;
    match reply {
        Ok(reply) if reply.get_ref().not_master => {
            Err(Retry(format!("{host}:{port} is no longer the master")))
        }
        Ok(reply) => Ok(reply.into_inner()),
        // tonic reports a refused or failed connection as UNAVAILABLE "tcp connect error":
        // the request never left.
        Err(status)
            if status.code() == tonic::Code::Unavailable
                && status.message().contains("connect") =>
        {
            env.fe_channels.evict(host, port);
            Err(Retry(format!("master {host}:{port} unreachable")))
        }
        Err(status) => Ok(ForwardStatementResponse {
            error_code: 1105,
            error_message: format!(
                "the connection to the master {host}:{port} failed while it ran the statement \
                 ({}); it may or may not have taken effect",
                status.message()
            ),
            ..Default::default()
        }),
    }
}

/// A client of this (non-master) frontend that forwarded statements has disconnected: the
/// master drops its session, aborting a transaction left open. Best effort.
pub fn close_session(env: &Arc<Env>, session: &Session) {
    if !session.forward.used {
        return;
    }
    let env = Arc::clone(env);
    let connection_id = session.connection_id;
    tokio::spawn(async move {
        let Some((leader, host, port)) = master_rpc_address(&env) else {
            return;
        };
        let request = ForwardStatementRequest {
            cluster_id: env.cluster_id,
            origin_node_id: env.node_id,
            connection_id,
            close_session: true,
            ..Default::default()
        };
        if leader == env.node_id {
            execute_forwarded(&env, request).await;
        } else if let Err(Retry(why)) = send(&env, &host, port, request).await {
            debug!(connection_id, reason = %why, "could not close the master's session");
        }
    });
}

/// The master's sessions for other frontends' client connections.
#[derive(Default)]
pub struct ForwardedSessions {
    sessions: Mutex<HashMap<(u64, u32), MasterCopy>>,
}

struct MasterCopy {
    session: Arc<tokio::sync::Mutex<Session>>,
    last_used: Instant,
}

impl ForwardedSessions {
    fn get_or_create(
        &self,
        key: (u64, u32),
        create: impl FnOnce() -> Session,
    ) -> Arc<tokio::sync::Mutex<Session>> {
        let mut sessions = self.sessions.lock();
        let now = Instant::now();
        sessions.retain(|_, s| now.duration_since(s.last_used) < IDLE_SESSION);
        let entry = sessions.entry(key).or_insert_with(|| MasterCopy {
            session: Arc::new(tokio::sync::Mutex::new(create())),
            last_used: now,
        });
        entry.last_used = now;
        Arc::clone(&entry.session)
    }

    fn remove(&self, key: (u64, u32)) -> Option<Arc<tokio::sync::Mutex<Session>>> {
        self.sessions.lock().remove(&key).map(|s| s.session)
    }

    /// Forgets every session (a new term as master: the transactions they held were
    /// aborted when this frontend took over).
    pub fn clear(&self) {
        self.sessions.lock().clear();
    }
}

fn master_copy(req: &ForwardStatementRequest) -> Session {
    Session {
        connection_id: req.connection_id,
        user: req.user.clone(),
        client_host: req.client_host.clone(),
        database: None,
        variables: Default::default(),
        user_variables: Default::default(),
        warnings: Vec::new(),
        info: Arc::new(parking_lot::Mutex::new(ProcessInfo {
            id: req.connection_id,
            host: req.client_host.clone(),
            user: req.user.clone(),
            command: "Query".into(),
            start_ms: chrono::Utc::now().timestamp_millis(),
            ..Default::default()
        })),
        txn: None,
        forward: ForwardState {
            is_master_copy: true,
            ..Default::default()
        },
    }
}

/// The master's side of [`forward`]: runs the statement in the connection's session.
pub async fn execute_forwarded(
    env: &Arc<Env>,
    req: ForwardStatementRequest,
) -> ForwardStatementResponse {
    if !env.is_master() {
        return ForwardStatementResponse {
            not_master: true,
            ..Default::default()
        };
    }
    let key = (req.origin_node_id, req.connection_id);
    if req.close_session {
        if let Some(session) = env.forwarded_sessions.remove(key) {
            let txn = session.lock().await.txn.take();
            crate::qe::load::abandon(env, txn, "the client disconnected").await;
        }
        return ForwardStatementResponse::default();
    }
    let session = env
        .forwarded_sessions
        .get_or_create(key, || master_copy(&req));
    let mut session = session.lock().await;
    // The forwarding frontend owns the connection's state; the master's copy follows it.
    session.user = req.user;
    session.database = Some(req.database).filter(|d| !d.is_empty());
    session.variables = req.variables.into_iter().collect();
    session.user_variables = req.user_variables.into_iter().collect();
    session.info.lock().query = req.sql.chars().take(1024).collect();
    let result = if req.expect_txn && session.txn.is_none() {
        Err(lost_txn())
    } else {
        crate::qe::execute(env, &mut session, &req.sql).await
    };
    let mut reply = ForwardStatementResponse {
        in_txn: session.txn.is_some(),
        warnings: session
            .warnings
            .iter()
            .map(|w| ForwardWarning {
                level: w.level.to_string(),
                code: u32::from(w.code),
                message: w.message.clone(),
            })
            .collect(),
        ..Default::default()
    };
    let result = match result {
        Ok(QueryOutput::Rows(rows)) => encode_rows(rows).await.map(|ipc| {
            reply.has_rows = true;
            reply.rows_ipc = ipc;
        }),
        Ok(QueryOutput::Ok {
            affected_rows,
            info,
        }) => {
            reply.affected_rows = affected_rows;
            reply.info = info;
            Ok(())
        }
        Err(e) => Err(e),
    };
    if let Err(e) = result {
        reply.error_code = u32::from(e.mysql_code());
        reply.error_message = e.to_string();
    }
    reply.journal_id = env.last_journal_id();
    reply
}

/// A result set as an Arrow IPC stream.
async fn encode_rows(mut rows: crate::mysql::result::RowSet) -> Result<Vec<u8>> {
    let mut batches: Vec<RecordBatch> = Vec::new();
    while let Some(batch) = rows.batches.next().await {
        batches.push(batch?);
    }
    let mut writer = StreamWriter::try_new(Vec::new(), &rows.schema)?;
    for batch in &batches {
        writer.write(batch)?;
    }
    Ok(writer.into_inner()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sql::parser::parse_statement;

    fn forwarded(sql: &str) -> bool {
        needs_master(&parse_statement(sql).expect("parses"))
    }

    #[test]
    fn writes_go_to_the_master_and_reads_stay() {
        for sql in [
            "CREATE DATABASE d",
            "DROP TABLE t",
            "INSERT INTO t VALUES (1)",
            "  /* hint */ insert into t select 1",
            "UPDATE t SET v = 1 WHERE k = 1",
            "DELETE FROM t WHERE k = 1",
            "CREATE VIEW v AS SELECT 1",
            "BEGIN",
            "COMMIT",
            "SET GLOBAL query_timeout = 10",
            "ALTER TABLE t ADD COLUMN c INT",
            "TRUNCATE TABLE t",
        ] {
            assert!(forwarded(sql), "{sql}");
        }
        for sql in [
            "SELECT 1",
            "(SELECT 1) UNION (SELECT 2)",
            "WITH x AS (SELECT 1) SELECT * FROM x",
            "SHOW DATABASES",
            "SET query_timeout = 10",
            "SET @a = 1",
            "USE d",
            "EXPLAIN SELECT 1",
            "SHOW FRONTENDS",
        ] {
            assert!(!forwarded(sql), "{sql}");
        }
    }
}
