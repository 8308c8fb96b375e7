//! The MySQL protocol front on `query_port` (opensrv-mysql): handshake and
//! mysql_native_password authentication, COM_QUERY with multi-statements, COM_INIT_DB,
//! COM_PING, COM_QUIT. Entry point: [`serve`]; statements go to [`crate::qe`].

mod prepared;
mod relay;
pub mod result;
pub mod session;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use futures::StreamExt;
use opensrv_mysql::{
    AsyncMysqlIntermediary, AsyncMysqlShim, ColumnFlags, ColumnType, ErrorKind, InitWriter,
    OkResponse, ParamParser, QueryResultWriter, RowWriter, StatementMetaWriter, StatusFlags,
};
use parking_lot::Mutex;
use sha1::{Digest, Sha1};
use tokio::io::AsyncWrite;
use tracing::{debug, info, warn};

use crate::env::Env;
use crate::error::FeError;
use crate::qe;
use result::{mysql_columns, render_rows, QueryOutput, RowSet};
use session::{default_variables, ProcessInfo, Session};

/// Client capability: OK packets carry length-encoded info and session state.
const CLIENT_SESSION_TRACK: u32 = 0x0080_0000;

/// Accepts MySQL connections forever.
pub async fn serve(env: Arc<Env>, listener: tokio::net::TcpListener) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(x) => x,
            Err(e) => {
                warn!(error = %e, "accept failed");
                continue;
            }
        };
        if env.sessions.count() >= env.config.qe_max_connection {
            warn!(%peer, "too many connections; refusing");
            continue;
        }
        let env = Arc::clone(&env);
        tokio::spawn(async move {
            let _ = stream.set_nodelay(true);
            let shim = Shim::new(env, peer.ip().to_string());
            let id = shim.session.connection_id;
            let caps = Arc::clone(&shim.client_caps);
            let (client_r, client_w) = stream.into_split();
            let (server_side, relay_side) = tokio::io::duplex(256 * 1024);
            let info = Arc::clone(&shim.session.info);
            // A client that hangs up mid-query cancels it, like KILL QUERY.
            let client_closed = move || {
                let mut info = info.lock();
                if let Some(kill) = info.kill.clone() {
                    info.killed = true;
                    kill.notify_one();
                }
            };
            let relay = tokio::spawn(relay::relay(
                client_r,
                client_w,
                relay_side,
                caps,
                client_closed,
            ));
            let (r, w) = tokio::io::split(server_side);
            if let Err(e) = AsyncMysqlIntermediary::run_on(shim, r, w).await {
                debug!(connection = id, error = %e, "connection ended with error");
            }
            // Let the relay deliver what opensrv wrote last (e.g. an access-denied error).
            let abort = relay.abort_handle();
            if tokio::time::timeout(std::time::Duration::from_secs(2), relay)
                .await
                .is_err()
            {
                abort.abort();
            }
        });
    }
}

struct Shim {
    env: Arc<Env>,
    session: Session,
    salt: [u8; 20],
    /// Set by the handshake (which only sees `&self`), copied into the session.
    authed_user: Mutex<String>,
    /// The client's capability flags, seen by the relay in the handshake response.
    client_caps: Arc<AtomicU32>,
    /// Prepared statements of this connection by id.
    statements: HashMap<u32, String>,
    next_statement_id: u32,
}

impl Shim {
    fn new(env: Arc<Env>, client_host: String) -> Self {
        let mut variables = default_variables(&env.config);
        variables.extend(env.catalog.read().global_variables.clone());
        let connection_id = env.next_connection_id();
        let info = Arc::new(Mutex::new(ProcessInfo {
            id: connection_id,
            host: client_host.clone(),
            command: "Sleep".into(),
            start_ms: chrono::Utc::now().timestamp_millis(),
            ..Default::default()
        }));
        env.sessions.register(Arc::clone(&info));
        // The scramble must be printable-free of NUL and '$' for some clients.
        let mut salt = [0u8; 20];
        for b in salt.iter_mut() {
            *b = rand::random::<u8>() % 94 + 33;
            if *b == b'$' {
                *b += 1;
            }
        }
        Self {
            session: Session {
                connection_id,
                user: String::new(),
                client_host,
                database: None,
                variables,
                user_variables: BTreeMap::new(),
                warnings: Vec::new(),
                info,
                txn: None,
                forward: Default::default(),
            },
            env,
            salt,
            authed_user: Mutex::new(String::new()),
            client_caps: Arc::new(AtomicU32::new(0)),
            statements: HashMap::new(),
            next_statement_id: 0,
        }
    }

    fn check_password(&self, user: &str, salt: &[u8], auth: &[u8]) -> bool {
        let catalog = self.env.catalog.read();
        let stored = catalog
            .users
            .values()
            .find(|u| u.name == user)
            .map(|u| u.password_sha1_sha1.clone());
        let stored = match stored {
            Some(s) => s,
            None if user == "root" || user == "admin" => None,
            None => return false,
        };
        match stored {
            None => auth.is_empty(),
            Some(hex) => verify_native_password(&hex, salt, auth),
        }
    }
}

/// mysql_native_password: the client sends SHA1(pw) XOR SHA1(salt + SHA1(SHA1(pw))).
pub fn verify_native_password(stored_hex: &str, salt: &[u8], auth: &[u8]) -> bool {
    let Some(stage2) = decode_hex(stored_hex) else {
        return false;
    };
    if auth.len() != 20 || stage2.len() != 20 {
        return false;
    }
    let mut h = Sha1::new();
    h.update(salt);
    h.update(&stage2);
    let mix = h.finalize();
    let stage1: Vec<u8> = auth.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect();
    Sha1::digest(&stage1).as_slice() == stage2.as_slice()
}

/// Hex of SHA1(SHA1(password)), as stored for a user.
pub fn password_hash(password: &str) -> String {
    let stage2 = Sha1::digest(Sha1::digest(password.as_bytes()));
    stage2.iter().map(|b| format!("{b:02X}")).collect()
}

/// Checks a clear-text password (HTTP basic auth) against the user table; like the MySQL
/// login, `root` and `admin` exist with an empty password until one is set.
pub fn verify_plain_password(
    catalog: &crate::catalog::Catalog,
    user: &str,
    password: &str,
) -> bool {
    match catalog.users.values().find(|u| u.name == user) {
        Some(u) => match &u.password_sha1_sha1 {
            None => password.is_empty(),
            Some(hex) => hex
                .trim_start_matches('*')
                .eq_ignore_ascii_case(&password_hash(password)),
        },
        None => (user == "root" || user == "admin") && password.is_empty(),
    }
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_start_matches('*');
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn error_kind(code: u16) -> ErrorKind {
    match code {
        1064 => ErrorKind::ER_PARSE_ERROR,
        1049 => ErrorKind::ER_BAD_DB_ERROR,
        1146 => ErrorKind::ER_NO_SUCH_TABLE,
        1054 => ErrorKind::ER_BAD_FIELD_ERROR,
        1052 => ErrorKind::ER_NON_UNIQ_ERROR,
        1008 => ErrorKind::ER_DB_DROP_EXISTS,
        1051 => ErrorKind::ER_BAD_TABLE_ERROR,
        1046 => ErrorKind::ER_NO_DB_ERROR,
        1007 => ErrorKind::ER_DB_CREATE_EXISTS,
        1050 => ErrorKind::ER_TABLE_EXISTS_ERROR,
        1193 => ErrorKind::ER_UNKNOWN_SYSTEM_VARIABLE,
        1045 => ErrorKind::ER_ACCESS_DENIED_ERROR,
        _ => ErrorKind::ER_UNKNOWN_ERROR,
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        self.env.sessions.unregister(self.session.connection_id);
        // A client that leaves inside BEGIN ... without COMMIT: nothing becomes visible.
        if let Some(txn) = self.session.txn.take() {
            let env = Arc::clone(&self.env);
            tokio::spawn(async move {
                let reason = "the client disconnected inside the transaction";
                qe::load::abandon(&env, Some(txn), reason).await;
            });
        }
        qe::forward::close_session(&self.env, &self.session);
    }
}

#[async_trait]
impl<W: AsyncWrite + Send + Unpin> AsyncMysqlShim<W> for Shim {
    type Error = std::io::Error;

    fn version(&self) -> String {
        self.env.config.mysql_server_version.clone()
    }

    fn connect_id(&self) -> u32 {
        self.session.connection_id
    }

    fn salt(&self) -> [u8; 20] {
        self.salt
    }

    async fn authenticate(
        &self,
        _auth_plugin: &str,
        username: &[u8],
        salt: &[u8],
        auth_data: &[u8],
    ) -> bool {
        let user = String::from_utf8_lossy(username).to_string();
        let ok = self.check_password(&user, salt, auth_data);
        if ok {
            *self.authed_user.lock() = user;
        } else {
            info!(user, "authentication failed");
        }
        ok
    }

    async fn on_prepare<'a>(
        &'a mut self,
        query: &'a str,
        info: StatementMetaWriter<'a, W>,
    ) -> std::io::Result<()> {
        self.adopt_user();
        let n = prepared::count_placeholders(query);
        self.next_statement_id += 1;
        let id = self.next_statement_id;
        self.statements.insert(id, query.to_string());
        let params: Vec<opensrv_mysql::Column> = (0..n)
            .map(|i| opensrv_mysql::Column {
                table: String::new(),
                column: format!("?{i}"),
                coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
                colflags: ColumnFlags::empty(),
            })
            .collect();
        // Result columns are described when the statement runs.
        info.reply(id, &params, &[]).await
    }

    async fn on_execute<'a>(
        &'a mut self,
        id: u32,
        params: ParamParser<'a>,
        results: QueryResultWriter<'a, W>,
    ) -> std::io::Result<()> {
        let Some(sql) = self.statements.get(&id).cloned() else {
            return results
                .error(
                    ErrorKind::ER_UNKNOWN_STMT_HANDLER,
                    b"unknown prepared statement",
                )
                .await;
        };
        let literals: crate::error::Result<Vec<String>> = params
            .into_iter()
            .map(|p| prepared::literal(p.value.into_inner()))
            .collect();
        let output = match literals.and_then(|l| prepared::bind(&sql, &l)) {
            Ok(bound) => qe::execute(&self.env, &mut self.session, &bound).await,
            Err(e) => Err(e),
        };
        let result = match output {
            Err(e) => {
                results
                    .error(error_kind(e.mysql_code()), e.to_string().as_bytes())
                    .await
            }
            Ok(QueryOutput::Ok { affected_rows, .. }) => {
                results
                    .completed(OkResponse {
                        affected_rows,
                        ..Default::default()
                    })
                    .await
            }
            Ok(QueryOutput::Rows(mut rows)) => {
                // The binary protocol needs typed values; every column is sent as a
                // string, which drivers convert to the type the caller asks for.
                let cols: Vec<opensrv_mysql::Column> = mysql_columns(&rows.schema)
                    .into_iter()
                    .map(|c| opensrv_mysql::Column {
                        coltype: ColumnType::MYSQL_TYPE_VAR_STRING,
                        colflags: ColumnFlags::empty(),
                        ..c
                    })
                    .collect();
                let mut rw = results.start(&cols).await?;
                match pump_rows(&mut rw, &mut rows).await? {
                    Some(e) => {
                        rw.finish_error(error_kind(e.mysql_code()), &e.to_string().as_bytes())
                            .await
                    }
                    None => rw.finish().await,
                }
            }
        };
        self.finish_command();
        result
    }

    async fn on_close<'a>(&'a mut self, stmt: u32)
    where
        W: 'async_trait,
    {
        self.statements.remove(&stmt);
    }

    async fn on_init<'a>(
        &'a mut self,
        db: &'a str,
        writer: InitWriter<'a, W>,
    ) -> std::io::Result<()> {
        self.adopt_user();
        match qe::use_database(&self.env, &mut self.session, db) {
            Ok(()) => writer.ok().await,
            Err(e) => {
                writer
                    .error(error_kind(e.mysql_code()), e.to_string().as_bytes())
                    .await
            }
        }
    }

    async fn on_query<'a>(
        &'a mut self,
        query: &'a str,
        results: QueryResultWriter<'a, W>,
    ) -> std::io::Result<()> {
        self.adopt_user();
        {
            let mut info = self.session.info.lock();
            info.command = "Query".into();
            info.query = query.chars().take(1024).collect();
            info.start_ms = chrono::Utc::now().timestamp_millis();
            info.user = self.session.user.clone();
        }
        let statements = crate::sql::parser::split_statements(query);
        let mut outputs: Vec<QueryOutput> = Vec::with_capacity(statements.len());
        let mut failure: Option<FeError> = None;
        if statements.is_empty() {
            failure = Some(FeError::Syntax("Query was empty".into()));
        }
        for stmt in &statements {
            match qe::execute(&self.env, &mut self.session, stmt).await {
                Ok(out) => outputs.push(out),
                Err(e) => {
                    debug!(error = %e, sql = %stmt, "statement failed");
                    failure = Some(e);
                    break;
                }
            }
        }
        let columns: Vec<Vec<opensrv_mysql::Column>> = outputs
            .iter()
            .map(|o| match o {
                QueryOutput::Rows(r) => mysql_columns(&r.schema),
                QueryOutput::Ok { .. } => Vec::new(),
            })
            .collect();
        let mut w = results;
        let last = outputs.len().saturating_sub(1);
        let more_after_last = failure.is_some();
        for (i, (out, cols)) in outputs.into_iter().zip(&columns).enumerate() {
            let more = i < last || more_after_last;
            match out {
                QueryOutput::Ok {
                    affected_rows,
                    info,
                } => {
                    // opensrv writes the info text raw (string<EOF>) to clients without
                    // CLIENT_SESSION_TRACK, but drivers such as mysql_async parse it as a
                    // length-encoded string and then drop the whole OK packet (losing the
                    // affected-row count): only session-tracking clients get the text.
                    let caps = self.client_caps.load(Ordering::Relaxed);
                    let info = if caps & CLIENT_SESSION_TRACK != 0 {
                        info
                    } else {
                        String::new()
                    };
                    let mut status_flags = StatusFlags::SERVER_STATUS_AUTOCOMMIT;
                    // opensrv does not flag an OK packet as followed by more results.
                    status_flags.set(StatusFlags::SERVER_MORE_RESULTS_EXISTS, more);
                    w = w
                        .complete_one(OkResponse {
                            affected_rows,
                            status_flags,
                            info,
                            ..Default::default()
                        })
                        .await?;
                }
                QueryOutput::Rows(mut rows) => {
                    let mut rw = w.start(cols).await?;
                    if let Some(e) = pump_rows(&mut rw, &mut rows).await? {
                        self.finish_command();
                        return rw
                            .finish_error(error_kind(e.mysql_code()), &e.to_string().as_bytes())
                            .await;
                    }
                    w = rw.finish_one().await?;
                }
            }
        }
        self.finish_command();
        match failure {
            Some(e) => {
                w.error(error_kind(e.mysql_code()), e.to_string().as_bytes())
                    .await
            }
            None => w.no_more_results().await,
        }
    }
}

/// Writes every row of `rows`; returns the error that cut the stream short, if any.
async fn pump_rows<W: AsyncWrite + Send + Unpin>(
    rw: &mut RowWriter<'_, W>,
    rows: &mut RowSet,
) -> std::io::Result<Option<FeError>> {
    while let Some(batch) = rows.batches.next().await {
        match batch.and_then(|b| render_rows(&b)) {
            Ok(rendered) => {
                for row in rendered {
                    for v in row {
                        rw.write_col(v.as_deref())?;
                    }
                    rw.end_row().await?;
                }
            }
            Err(e) => return Ok(Some(e)),
        }
    }
    Ok(None)
}

impl Shim {
    fn adopt_user(&mut self) {
        if self.session.user.is_empty() {
            self.session.user = self.authed_user.lock().clone();
            self.session.info.lock().user = self.session.user.clone();
        }
    }

    fn finish_command(&self) {
        let mut info = self.session.info.lock();
        info.command = "Sleep".into();
        info.state.clear();
        info.db = self.session.database.clone().unwrap_or_default();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_password_round_trip() {
        let stored = password_hash("secret");
        let salt = b"abcdefghijklmnopqrst";
        // What a client computes.
        let stage1 = Sha1::digest(b"secret");
        let mut h = Sha1::new();
        h.update(salt);
        h.update(Sha1::digest(stage1));
        let mix = h.finalize();
        let auth: Vec<u8> = stage1.iter().zip(mix.iter()).map(|(a, b)| a ^ b).collect();
        assert!(verify_native_password(&stored, salt, &auth));
        assert!(!verify_native_password(&stored, salt, &[0u8; 20]));
        assert!(!verify_native_password(&stored, salt, b""));
    }
}
