//! Runs a physical plan: on the FE when it touches no tablets (constants, `numbers()`),
//! otherwise as a distributed query: the plan is cut into fragments
//! ([`super::distribute`]), placed on backends ([`super::schedule`]), every instance is
//! started on its backend, and the root fragment's output is streamed back from the
//! coordinator backend. The other fragments are watched: the first failure anywhere
//! fails the query with its message. When the query ends, fails, times out
//! (`query_timeout`), is killed (`KILL QUERY`) or its client goes away, every backend is
//! told to cancel and release the query. Entry point: [`execute_plan`].

use std::sync::Arc;
use std::time::Duration;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::physical_plan::{execute_stream, ExecutionPlan};
use datafusion::prelude::SessionContext;
use datafusion_proto::bytes::physical_plan_to_bytes_with_extension_codec;
use doris_common::fragment::{DorisCodec, ExchangeEndpoint, OlapScanExec, OlapTableSinkExec};
use doris_proto::{ArrowBatch, CancelPlanFragmentRequest, ExecPlanFragmentRequest};
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use tracing::{debug, warn};

use super::distribute::nodes;
use super::{distribute, schedule};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::RowSet;
use crate::mysql::session::{ProcessInfo, Session};
use crate::qe::profile::{FragmentProfile, QueryProfile};

/// Whether the plan reads or writes tablets (and so runs on backends).
fn touches_tablets(plan: &Arc<dyn ExecutionPlan>) -> bool {
    !nodes::<OlapScanExec>(plan).is_empty() || writes_tablets(plan)
}

/// Executes `plan` and returns its output as a stream.
pub async fn execute_plan(
    env: &Arc<Env>,
    session: &Session,
    ctx: &SessionContext,
    plan: Arc<dyn ExecutionPlan>,
) -> Result<RowSet> {
    if !touches_tablets(&plan) {
        let stream = execute_stream(plan, ctx.task_ctx())?;
        let schema = stream.schema();
        return Ok(RowSet {
            schema,
            batches: Box::pin(stream.map(|r| r.map_err(FeError::from))),
        });
    }
    // A read that fails on a dead connection before any row (a backend restarted since the
    // connections were made; each backend notices its own dead connections one call late)
    // runs again over fresh ones, at most twice more.
    let read_only = !writes_tablets(&plan);
    let mut attempt = 1;
    loop {
        match start_query(env, session, Arc::clone(&plan)).await {
            Err(e) if read_only && attempt < 3 && e.to_string().contains("transport error") => {
                warn!(error = %e, "query failed on a dead connection; running it again");
                for b in crate::cluster::backend_endpoints(env) {
                    env.clients.evict(&b.host, b.port);
                }
                attempt += 1;
            }
            other => return other,
        }
    }
}

/// Whether the plan writes tablets (an INSERT: never run twice).
fn writes_tablets(plan: &Arc<dyn ExecutionPlan>) -> bool {
    !nodes::<OlapTableSinkExec>(plan).is_empty()
}

/// Plans, places and starts the query, and waits for its first rows (or its end).
async fn start_query(
    env: &Arc<Env>,
    session: &Session,
    plan: Arc<dyn ExecutionPlan>,
) -> Result<RowSet> {
    let query_id = uuid::Uuid::new_v4().to_string();
    let fragmented = distribute::fragment_plan(plan, &query_id, session.parallelism())?;
    let placed = match schedule::schedule(env, &fragmented) {
        Ok(s) => s,
        Err(_) => {
            // Right after a restart no heartbeat may have reached the backends yet.
            crate::cluster::heartbeat::heartbeat_all(env).await;
            schedule::schedule(env, &fragmented)?
        }
    };
    let timeout = Duration::from_secs(session.query_timeout_secs().max(1));
    let kill = Arc::new(Notify::new());
    {
        let mut info = session.info.lock();
        info.query_id = query_id.clone();
        info.killed = false;
        info.kill = Some(Arc::clone(&kill));
    }
    let profiling = session.var("enable_profile") == Some("true");
    let profile = profiling.then(|| {
        Arc::new(Mutex::new(QueryProfile {
            query_id: query_id.clone(),
            user: session.user.clone(),
            db: session.database.clone().unwrap_or_default(),
            sql: session.info.lock().query.clone(),
            start_ms: chrono::Utc::now().timestamp_millis(),
            end_ms: 0,
            state: "Running".into(),
            fragments: Vec::new(),
        }))
    });
    let mut query = RunningQuery {
        env: Arc::clone(env),
        query_id,
        backends: placed.backends(),
        deadline: Instant::now() + timeout,
        timeout,
        info: Arc::clone(&session.info),
        kill,
        failures: None,
        watchers: Vec::new(),
        profile,
        released: false,
    };
    let template = ExecPlanFragmentRequest {
        query_id: query.query_id.clone(),
        fragment_id: 0,
        plan: Vec::new(),
        batch_size: session.batch_size() as i32,
        parallelism: session.parallelism() as i32,
        timeout_ms: timeout.as_millis() as i64,
        time_zone: session.var("time_zone").unwrap_or("UTC").to_string(),
        mem_limit_bytes: session
            .var("exec_mem_limit")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0),
        profile: profiling,
    };
    let root = query.start(&placed, &template)?;
    let (host, port) = (root.0.host.clone(), root.0.port);
    debug!(query_id = %query.query_id, fragments = placed.fragments.len(), coordinator = %root.0, "query started");
    let mut stream = query
        .wait(async {
            let mut client = env.clients.internal(&host, port)?;
            client
                .exec_plan_fragment(root.1)
                .await
                .map(|r| r.into_inner())
                .map_err(|s| status_error(&host, port, &s))
        })
        .await?;
    let first = query
        .wait(async {
            stream
                .message()
                .await
                .map_err(|s| status_error(&host, port, &s))
        })
        .await?
        .ok_or_else(|| FeError::Backend(format!("backend {host}:{port} sent an empty result")))?;
    let (schema, _) = doris_common::ipc::decode(&first.ipc)
        .map_err(|e| FeError::Internal(format!("bad result from backend: {e}")))?;
    let mut state = ResultStream {
        query,
        stream,
        host,
        port,
        pending: Vec::new(),
        done: false,
    };
    state.next_rows().await?;
    let batches = futures::stream::try_unfold(state, |mut st| async move {
        st.next_rows().await?;
        Ok(st.pending.pop().map(|b| (b, st)))
    });
    Ok(RowSet {
        schema,
        batches: Box::pin(batches),
    })
}

struct ResultStream {
    query: RunningQuery,
    stream: tonic::Streaming<ArrowBatch>,
    host: String,
    port: u16,
    /// Batches received and not yet handed out, last first.
    pending: Vec<RecordBatch>,
    done: bool,
}

impl ResultStream {
    /// Reads the root fragment's stream until it brings rows (into `pending`) or ends.
    async fn next_rows(&mut self) -> Result<()> {
        while self.pending.is_empty() && !self.done {
            let (host, port) = (self.host.clone(), self.port);
            let stream = &mut self.stream;
            let msg = self
                .query
                .wait(async {
                    stream
                        .message()
                        .await
                        .map_err(|s| status_error(&host, port, &s))
                })
                .await?;
            let Some(msg) = msg else {
                self.done = true;
                self.query.finish().await;
                break;
            };
            if msg.ipc.is_empty() {
                self.query
                    .add_profile(0, &format!("{host}:{port}"), msg.profile);
                continue;
            }
            let (_, mut batches) = doris_common::ipc::decode(&msg.ipc)
                .map_err(|e| FeError::Internal(format!("bad result from backend: {e}")))?;
            batches.retain(|b| b.num_rows() > 0);
            batches.reverse();
            self.pending = batches;
        }
        Ok(())
    }
}

/// A distributed query in flight. Dropping it (the client went away) or [`Self::release`]
/// cancels what still runs and frees the query's state on every backend.
struct RunningQuery {
    env: Arc<Env>,
    query_id: String,
    backends: Vec<ExchangeEndpoint>,
    deadline: Instant,
    timeout: Duration,
    info: Arc<Mutex<ProcessInfo>>,
    kill: Arc<Notify>,
    /// Failures of the fragments other than the root.
    failures: Option<mpsc::Receiver<FeError>>,
    watchers: Vec<tokio::task::JoinHandle<()>>,
    /// Filled when the query is profiled; filed in `Env::profiles` at the end.
    profile: Option<Arc<Mutex<QueryProfile>>>,
    released: bool,
}

impl RunningQuery {
    /// Starts every instance but the root's, each watched by a task; returns where the root
    /// runs and its request.
    fn start(
        &mut self,
        placed: &schedule::Schedule,
        template: &ExecPlanFragmentRequest,
    ) -> Result<(ExchangeEndpoint, ExecPlanFragmentRequest)> {
        let codec = DorisCodec::new();
        let (fail_tx, fail_rx) = mpsc::channel(16);
        self.failures = Some(fail_rx);
        let mut root = None;
        for (fragment_id, f) in placed.fragments.iter().enumerate() {
            for (endpoint, plan) in f.instances.iter().zip(&f.plans) {
                let bytes = physical_plan_to_bytes_with_extension_codec(Arc::clone(plan), &codec)?;
                let req = ExecPlanFragmentRequest {
                    fragment_id: fragment_id as i32,
                    plan: bytes.to_vec(),
                    ..template.clone()
                };
                if fragment_id == 0 {
                    root = Some((endpoint.clone(), req));
                    continue;
                }
                let env = Arc::clone(&self.env);
                let endpoint = endpoint.clone();
                let fail_tx = fail_tx.clone();
                let profile = self.profile.clone();
                self.watchers.push(tokio::spawn(async move {
                    match run_instance(&env, &endpoint, req).await {
                        Ok(text) => {
                            if let (Some(p), Some(text)) = (profile, text) {
                                p.lock().fragments.push(FragmentProfile {
                                    fragment_id: fragment_id as i32,
                                    backend: endpoint.to_string(),
                                    text,
                                });
                            }
                        }
                        Err(e) => {
                            let _ = fail_tx.send(e).await;
                        }
                    }
                }));
            }
        }
        root.ok_or_else(|| FeError::Internal("the plan has no root fragment".into()))
    }

    /// Waits for `work`, failing instead on another fragment's failure, the deadline or a
    /// KILL; any failure releases the query.
    async fn wait<T>(&mut self, work: impl std::future::Future<Output = Result<T>>) -> Result<T> {
        let failures = self.failures.as_mut();
        let other = async {
            match failures {
                Some(rx) => match rx.recv().await {
                    Some(e) => e,
                    None => futures::future::pending().await,
                },
                None => futures::future::pending().await,
            }
        };
        let result = tokio::select! {
            r = work => r,
            e = other => Err(e),
            _ = tokio::time::sleep_until(self.deadline) => Err(timeout_error(self.timeout)),
            _ = self.kill.notified() => Err(FeError::Analysis("Query was cancelled (KILL QUERY)".into())),
        };
        if result.is_err() {
            self.release();
        }
        result
    }

    fn add_profile(&self, fragment_id: i32, backend: &str, text: String) {
        if let (Some(p), false) = (&self.profile, text.is_empty()) {
            p.lock().fragments.push(FragmentProfile {
                fragment_id,
                backend: backend.to_string(),
                text,
            });
        }
    }

    /// The root fragment finished: for a profile, give the other fragments a moment to
    /// report, then release.
    async fn finish(&mut self) {
        if self.profile.is_some() {
            let all = futures::future::join_all(self.watchers.iter_mut());
            let _ = tokio::time::timeout(Duration::from_secs(5), all).await;
            if let Some(p) = &self.profile {
                p.lock().state = "EOF".into();
            }
        }
        self.release();
    }

    /// Tells every backend of the query to cancel what still runs and drop its state.
    fn release(&mut self) {
        if std::mem::replace(&mut self.released, true) {
            return;
        }
        if let Some(p) = &self.profile {
            let mut profile = p.lock().clone();
            profile.end_ms = chrono::Utc::now().timestamp_millis();
            if profile.state == "Running" {
                profile.state = "Error".into();
            }
            self.env.profiles.add(profile);
        }
        for w in &self.watchers {
            w.abort();
        }
        {
            let mut info = self.info.lock();
            info.kill = None;
            info.killed = false;
        }
        let env = Arc::clone(&self.env);
        let query_id = self.query_id.clone();
        let backends = std::mem::take(&mut self.backends);
        tokio::spawn(async move {
            let cancels = backends.into_iter().map(|b| {
                let env = Arc::clone(&env);
                let query_id = query_id.clone();
                async move {
                    if let Ok(mut c) = env.clients.internal(&b.host, b.port) {
                        let req = CancelPlanFragmentRequest { query_id };
                        let cancel = c.cancel_plan_fragment(req);
                        let _ = tokio::time::timeout(Duration::from_secs(5), cancel).await;
                    }
                }
            });
            futures::future::join_all(cancels).await;
        });
    }
}

impl Drop for RunningQuery {
    fn drop(&mut self) {
        self.release();
    }
}

/// Runs one fragment instance that sends into an exchange, to its end; returns its
/// profile when it sent one.
async fn run_instance(
    env: &Env,
    at: &ExchangeEndpoint,
    req: ExecPlanFragmentRequest,
) -> Result<Option<String>> {
    let mut client = env.clients.internal(&at.host, at.port)?;
    let mut stream = client
        .exec_plan_fragment(req)
        .await
        .map_err(|s| status_error(&at.host, at.port, &s))?
        .into_inner();
    let mut profile = None;
    while let Some(msg) = stream
        .message()
        .await
        .map_err(|s| status_error(&at.host, at.port, &s))?
    {
        if !msg.profile.is_empty() {
            profile = Some(msg.profile);
        }
    }
    Ok(profile)
}

fn timeout_error(t: Duration) -> FeError {
    FeError::Analysis(format!(
        "Query timeout after {} seconds; you can change the limit by session variable query_timeout",
        t.as_secs()
    ))
}

fn status_error(host: &str, port: u16, s: &tonic::Status) -> FeError {
    match s.code() {
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => {
            FeError::Backend(format!("backend {host}:{port} failed: {}", s.message()))
        }
        tonic::Code::DeadlineExceeded | tonic::Code::ResourceExhausted => {
            FeError::Analysis(s.message().to_string())
        }
        _ => FeError::DataFusion(s.message().to_string()),
    }
}
