//! The stream-load HTTP handlers on the BE (`PUT /api/{db}/{table}/_stream_load` and the
//! two-phase commit's `_stream_load_2pc`). A load runs as a pipeline: the request body is
//! forwarded chunk by chunk to a blocking thread that decompresses, parses and converts it
//! ([`super::convert::LoadPlan`]), and converted batches are written to tablets
//! ([`crate::exec::sink::TabletsWriter`]) as they come; both sides use bounded channels,
//! so memory stays bounded whatever the body size. The transaction is begun, committed
//! (or pre-committed) and rolled back through the FE's `FrontendService`. The load runs
//! in its own task: a client that hangs up cannot cancel the cleanup.

use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use bytes::Bytes;
use datafusion::arrow::array::{Array, BooleanArray, RecordBatch};
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::util::display::array_value_to_string;
use doris_common::fragment::SinkSpec;
use doris_common::http::{basic_auth, header, StreamLoadReply};
use doris_proto::{
    FeStatus, LoadStats, LoadTxn2PcRequest, LoadTxnBeginRequest, LoadTxnCommitRequest,
    LoadTxnRollbackRequest,
};
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::convert::{Converted, LoadPlan};
use super::error_log::ErrorLog;
use super::format::csv::CsvDecoder;
use super::format::json::JsonDecoder;
use super::format::{BatchBuilder, RowError};
use super::request::{BodyFormat, ColumnItem, Compression, LoadRequest, MergeType};
use crate::exec::sink::TabletsWriter;
use crate::service::Backend;
use crate::task::AbortOnDrop;

/// Rows per converted batch.
const BATCH_ROWS: usize = 65_536;
/// Text bytes per converted batch (whichever limit comes first).
const BATCH_BYTES: usize = 8 << 20;
/// Body chunks in flight between the HTTP reader and the parser.
const BODY_CHANNEL: usize = 16;
/// Converted batches in flight between the parser and the writer.
const BATCH_CHANNEL: usize = 2;
/// Bytes read from the (decompressed) body per parser step.
const READ_BUFFER: usize = 1 << 20;
/// Longest CSV line (or JSON line) held while waiting for its end.
const MAX_LINE_BYTES: usize = 128 << 20;
/// Largest JSON document read whole (Doris's `streaming_load_json_max_mb`, 100 MB).
const MAX_JSON_DOCUMENT_BYTES: usize = 100 << 20;

/// Why a load failed: Doris's bracketed status code and a message.
struct LoadError {
    code: String,
    message: String,
}

impl LoadError {
    fn new(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            message: message.into(),
        }
    }

    /// From a `[CODE]message` text (what [`LoadPlan`] reports); unmarked text is internal.
    fn from_text(text: &str) -> Self {
        for code in ["ANALYSIS_ERROR", "INVALID_ARGUMENT", "INTERNAL_ERROR"] {
            if let Some(rest) = text.strip_prefix(&format!("[{code}]")) {
                return Self::new(code, rest);
            }
        }
        Self::new("INTERNAL_ERROR", text)
    }

    fn text(&self) -> String {
        format!("[{}]{}", self.code, self.message)
    }
}

fn fe_status_error(status: Option<FeStatus>) -> Option<LoadError> {
    let s = status.unwrap_or_default();
    if s.code == "OK" {
        return None;
    }
    // The FE sends Doris's status names (`fe/src/service.rs`); none means it failed oddly.
    let code = if s.code.is_empty() {
        "INTERNAL_ERROR".to_string()
    } else {
        s.code
    };
    Some(LoadError::new(code, s.message))
}

fn reply_response(reply: StreamLoadReply, unauthorized: bool) -> Response {
    let status = if unauthorized {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    (status, Json(reply)).into_response()
}

/// `PUT /api/{db}/{table}/_stream_load`
pub async fn stream_load(
    State(backend): State<Arc<Backend>>,
    Path((db, table)): Path<(String, String)>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let label = header(&headers, "label").unwrap_or_default().to_string();
    let chunked = header(&headers, "transfer-encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if header(&headers, "content-length").is_none() && !chunked {
        return reply_response(
            StreamLoadReply::failed(
                &label,
                "[INTERNAL_ERROR]content_length is empty and transfer-encoding!=chunked, please set content_length or transfer-encoding=chunked",
            ),
            false,
        );
    }
    let Some((user, password)) = basic_auth(&headers) else {
        return reply_response(
            StreamLoadReply::failed(&label, "[NOT_AUTHORIZED]no basic auth credentials"),
            true,
        );
    };
    let request = match LoadRequest::from_headers(&headers) {
        Ok(r) => r,
        Err(e) => {
            return reply_response(
                StreamLoadReply::failed(&label, format!("[INVALID_ARGUMENT]{e}")),
                false,
            )
        }
    };
    let host = header(&headers, "host")
        .map(str::to_string)
        .unwrap_or_else(|| format!("127.0.0.1:{}", backend.config.webserver_port));
    let client = header(&headers, "x-forwarded-for")
        .map(str::to_string)
        .unwrap_or_else(|| peer.ip().to_string());
    let job = LoadJob {
        backend,
        db,
        table,
        user,
        password,
        client,
        host,
        request,
    };
    match tokio::spawn(job.run(body)).await {
        Ok((reply, unauthorized)) => reply_response(reply, unauthorized),
        Err(e) => reply_response(
            StreamLoadReply::failed(&label, format!("[INTERNAL_ERROR]load task failed: {e}")),
            false,
        ),
    }
}

struct LoadJob {
    backend: Arc<Backend>,
    db: String,
    table: String,
    user: String,
    password: String,
    client: String,
    host: String,
    request: LoadRequest,
}

/// What the data phase produced.
#[derive(Default)]
struct Counts {
    total: u64,
    loaded: u64,
    filtered: u64,
    unselected: u64,
    bytes: u64,
    read_ms: u64,
    write_ms: u64,
    error_file: Option<String>,
}

impl Counts {
    fn stats(&self, error_url: &str) -> LoadStats {
        LoadStats {
            total_rows: self.total as i64,
            loaded_rows: self.loaded as i64,
            filtered_rows: self.filtered as i64,
            unselected_rows: self.unselected as i64,
            load_bytes: self.bytes as i64,
            error_url: error_url.to_string(),
        }
    }
}

impl LoadJob {
    /// Runs the whole load; returns the reply and whether it is an authentication failure.
    async fn run(self, body: Body) -> (StreamLoadReply, bool) {
        let started = Instant::now();
        let req = &self.request;
        let mut reply = StreamLoadReply {
            txn_id: -1,
            label: req.label.clone().unwrap_or_default(),
            two_phase_commit: req.two_phase_commit.to_string(),
            ..StreamLoadReply::default()
        };
        let (mut fe, master) = match self.backend.frontend() {
            Ok(x) => x,
            Err(e) => {
                reply.status = "Fail".into();
                reply.message = format!("[SERVICE_UNAVAILABLE]{e}");
                return (reply, false);
            }
        };
        // Begin: the FE authenticates, reserves the label and returns the write plan.
        let begin = fe
            .load_txn_begin(LoadTxnBeginRequest {
                user: self.user.clone(),
                password: self.password.clone(),
                client_host: self.client.clone(),
                db: self.db.clone(),
                table: self.table.clone(),
                label: req.label.clone().unwrap_or_default(),
                timeout_s: req.timeout_s.unwrap_or(0),
                two_phase_commit: req.two_phase_commit,
                backend_id: master.backend_id,
                partitions: req.partitions.clone(),
            })
            .await;
        reply.begin_txn_time_ms = started.elapsed().as_millis() as u64;
        let begin = match begin {
            Ok(b) => b.into_inner(),
            Err(e) => {
                reply.status = "Fail".into();
                reply.message =
                    format!("[SERVICE_UNAVAILABLE]cannot reach the FE: {}", e.message());
                return (reply, false);
            }
        };
        reply.label = begin.label.clone();
        if let Some(err) = fe_status_error(begin.status) {
            reply.status = if err.code == "LABEL_ALREADY_EXISTS" {
                reply.existing_job_status = Some(begin.existing_job_status.clone());
                "Label Already Exists".into()
            } else {
                "Fail".into()
            };
            reply.message = err.text();
            return (reply, err.code == "NOT_AUTHORIZED");
        }
        let txn_id = begin.txn_id;
        reply.txn_id = txn_id;
        let timeout = Duration::from_secs(req.timeout_s.unwrap_or(600).max(1) as u64);
        let mut counts = Counts::default();
        let data = tokio::time::timeout(
            timeout,
            self.load_data(
                &begin.sink_spec_json,
                &begin.column_defaults,
                txn_id,
                body,
                &mut counts,
                &mut reply,
            ),
        )
        .await
        .unwrap_or_else(|_| {
            Err(LoadError::new(
                "TIMEOUT",
                format!(
                    "the load did not finish within its timeout of {} s",
                    timeout.as_secs()
                ),
            ))
        });
        reply.number_total_rows = counts.total;
        reply.number_filtered_rows = counts.filtered;
        reply.number_unselected_rows = counts.unselected;
        reply.load_bytes = counts.bytes;
        reply.read_data_time_ms = counts.read_ms;
        reply.write_data_time_ms = counts.write_ms;
        let error_url = counts
            .error_file
            .as_ref()
            .map(|f| {
                format!(
                    "http://{}/api/_load_error_log?file=__shard_0/{f}",
                    self.host
                )
            })
            .unwrap_or_default();
        if !error_url.is_empty() {
            reply.error_url = Some(error_url.clone());
        }
        let outcome = match data {
            Ok(()) => {
                let commit_start = Instant::now();
                let result = fe
                    .load_txn_commit(LoadTxnCommitRequest {
                        txn_id,
                        stats: Some(counts.stats(&error_url)),
                        precommit: req.two_phase_commit,
                    })
                    .await;
                reply.commit_and_publish_time_ms = commit_start.elapsed().as_millis() as u64;
                match result {
                    Ok(r) => match fe_status_error(r.into_inner().status) {
                        None => Ok("Success"),
                        Some(e) if e.code == "PUBLISH_TIMEOUT" => Err(("Publish Timeout", e)),
                        Some(e) => Err(("Fail", e)),
                    },
                    Err(e) => Err((
                        "Fail",
                        LoadError::new("INTERNAL_ERROR", format!("commit failed: {}", e.message())),
                    )),
                }
            }
            Err(e) => Err(("Fail", e)),
        };
        match outcome {
            Ok(status) => {
                reply.status = status.into();
                reply.message = "OK".into();
                reply.number_loaded_rows = counts.loaded;
            }
            Err(("Publish Timeout", e)) => {
                reply.status = "Publish Timeout".into();
                reply.message = e.text();
                reply.number_loaded_rows = counts.loaded;
            }
            Err((status, e)) => {
                reply.status = status.into();
                reply.message = e.text();
                reply.number_loaded_rows = 0;
                let rollback = fe
                    .load_txn_rollback(LoadTxnRollbackRequest {
                        txn_id,
                        reason: e.text(),
                        stats: Some(LoadStats {
                            loaded_rows: 0,
                            ..counts.stats(&error_url)
                        }),
                    })
                    .await;
                if let Err(err) = rollback {
                    warn!(txn_id, error = %err.message(), "rollback on the FE failed; the txn will time out there");
                }
                if let Err(err) = self.backend.engine.clear_txn(txn_id) {
                    warn!(txn_id, error = %err, "clearing the failed load's data failed");
                }
            }
        }
        reply.load_time_ms = started.elapsed().as_millis() as u64;
        info!(
            txn_id,
            label = %reply.label,
            status = %reply.status,
            rows = counts.total,
            loaded = reply.number_loaded_rows,
            filtered = counts.filtered,
            bytes = counts.bytes,
            ms = reply.load_time_ms,
            "stream load finished"
        );
        (reply, false)
    }

    /// Reads, converts and writes the body; on success the rowsets are pending on this BE.
    async fn load_data(
        &self,
        spec_json: &str,
        defaults: &[String],
        txn_id: i64,
        body: Body,
        counts: &mut Counts,
        reply: &mut StreamLoadReply,
    ) -> Result<(), LoadError> {
        let put_start = Instant::now();
        let spec: SinkSpec = serde_json::from_str(spec_json).map_err(|e| {
            LoadError::new("INTERNAL_ERROR", format!("bad write plan from the FE: {e}"))
        })?;
        let req = &self.request;
        let mut spec = spec;
        if req.partial_columns {
            spec.partial_columns = Some(partial_columns(&spec, &req.columns)?);
        }
        let items = delete_sign_mapping(&spec, &req.columns, &req.merge_type)?;
        let plan = LoadPlan::try_new(
            &spec.columns,
            defaults,
            &items,
            req.where_expr.as_deref(),
            req.strict_mode,
            req.timezone.as_deref(),
        )
        .await
        .map_err(|e| LoadError::from_text(&e))?;
        let plan = Arc::new(plan);
        let mut writer = TabletsWriter::try_new(
            Arc::clone(&self.backend.engine),
            Arc::clone(&self.backend.channels),
            spec,
        )
        .map_err(|e| LoadError::new("INTERNAL_ERROR", e.to_string()))?;
        // The `partitions` header: rows of other partitions are filtered.
        let allowed: Option<Vec<bool>> = (!req.partitions.is_empty()).then(|| {
            writer
                .partition_names()
                .iter()
                .map(|n| req.partitions.iter().any(|p| p.eq_ignore_ascii_case(n)))
                .collect()
        });
        let separator = match &req.format {
            BodyFormat::Csv(o) if !o.column_separator.is_empty() => {
                String::from_utf8_lossy(&o.column_separator).into_owned()
            }
            BodyFormat::Csv(_) => "\t".to_string(),
            BodyFormat::Json(_) => ",".to_string(),
        };
        reply.stream_load_put_time_ms = put_start.elapsed().as_millis() as u64;

        // Body → parser thread.
        let (body_tx, body_rx) = mpsc::channel::<Result<Bytes, String>>(BODY_CHANNEL);
        // Aborted if the load is dropped (timeout): stop reading the client's body then.
        let mut receive = AbortOnDrop(tokio::spawn(forward_body(body, body_tx)));
        // Parser thread → writer (here).
        let (batch_tx, mut batch_rx) = mpsc::channel::<Converted>(BATCH_CHANNEL);
        let parse_plan = Arc::clone(&plan);
        let format = req.format.clone();
        let compression = req.compression;
        let parser = tokio::task::spawn_blocking(move || {
            parse_body(body_rx, compression, format, &parse_plan, &batch_tx)
        });
        let mut error_log = ErrorLog::new(self.backend.engine.root(), txn_id);
        let mut failure: Option<LoadError> = None;
        // Ends when the parser finishes or fails (its result says which).
        while let Some(converted) = batch_rx.recv().await {
            counts.total += (converted.filtered.len()
                + converted.unselected
                + converted.batch.num_rows()) as u64;
            let routed = route_rows(&writer, converted.batch, allowed.as_deref(), &separator);
            let (batch, partitions, unrouted) = match routed {
                Ok(r) => r,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            counts.filtered += (converted.filtered.len() + unrouted.len()) as u64;
            counts.unselected += converted.unselected as u64;
            counts.loaded += batch.num_rows() as u64;
            for errors in [&converted.filtered, &unrouted] {
                if let Err(e) = error_log.append(errors) {
                    warn!(txn_id, error = %e, "cannot write the load's error log");
                }
            }
            let write_start = Instant::now();
            if let Err(e) = writer.write_routed(batch, &partitions).await {
                failure = Some(LoadError::new(
                    "INTERNAL_ERROR",
                    format!("writing tablets: {e}"),
                ));
                break;
            }
            counts.write_ms += write_start.elapsed().as_millis() as u64;
        }
        drop(batch_rx);
        let parsed = parser.await;
        counts.bytes = (&mut receive.0).await.unwrap_or(0);
        counts.error_file = error_log.finish().unwrap_or(None);
        let parse_result = match parsed {
            Ok(r) => r,
            Err(e) => Err(LoadError::new(
                "INTERNAL_ERROR",
                format!("parser failed: {e}"),
            )),
        };
        let result = match (failure, parse_result) {
            (Some(e), _) => Err(e),
            (None, Err(e)) => Err(e),
            (None, Ok(read_ms)) => {
                counts.read_ms = read_ms;
                let considered = counts.loaded + counts.filtered;
                let too_many = counts.filtered as f64 > req.max_filter_ratio * considered as f64;
                if too_many {
                    Err(LoadError::new(
                        "DATA_QUALITY_ERROR",
                        "too many filtered rows",
                    ))
                } else {
                    let write_start = Instant::now();
                    let finished = writer.finish().await;
                    counts.write_ms += write_start.elapsed().as_millis() as u64;
                    finished.map(|_| ()).map_err(|e| {
                        LoadError::new("INTERNAL_ERROR", format!("writing tablets: {e}"))
                    })
                }
            }
        };
        if result.is_err() {
            writer.discard().await;
        }
        result
    }
}

/// Routes a converted batch to its partitions. Rows that no partition takes, or whose
/// partition the `partitions` header leaves out (`allowed[p]` false), become filtered rows
/// (`no partition for this tuple`), as in Doris. Returns the rows to write, their
/// partitions, and the filtered rows.
/// The columns a `partial_columns: true` load writes: those its `columns` header maps
/// (every key column among them), into a merge-on-write table.
fn partial_columns(spec: &SinkSpec, columns: &[ColumnItem]) -> Result<Vec<String>, LoadError> {
    if !spec.merge_on_write {
        return Err(LoadError::new(
            "INVALID_ARGUMENT",
            "partial update is only supported in unique table with merge-on-write enabled",
        ));
    }
    if columns.is_empty() {
        return Err(LoadError::new(
            "INVALID_ARGUMENT",
            "a partial update needs the columns header naming the columns it writes",
        ));
    }
    let names: Vec<String> = columns
        .iter()
        .map(|c| match c {
            ColumnItem::Source(n) | ColumnItem::Derived { name: n, .. } => n.to_lowercase(),
        })
        .filter(|n| spec.columns.iter().any(|c| c.name == *n))
        .collect();
    let missing: Vec<&str> = spec
        .key_columns
        .iter()
        .filter_map(|&i| spec.columns.get(i))
        .filter(|c| !names.contains(&c.name))
        .map(|c| c.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(LoadError::new(
            "INVALID_ARGUMENT",
            format!(
                "Partial update should include all key columns, missing: {}",
                missing.join(", ")
            ),
        ));
    }
    Ok(names)
}

/// The column mapping with the delete sign `merge_type` asks for (an unmapped load maps
/// the file's fields to the visible columns in order, as without it).
fn delete_sign_mapping(
    spec: &SinkSpec,
    columns: &[ColumnItem],
    merge_type: &MergeType,
) -> Result<Vec<ColumnItem>, LoadError> {
    let sign = match merge_type {
        MergeType::Append => return Ok(columns.to_vec()),
        MergeType::Delete => "1".to_string(),
        MergeType::Merge(condition) => format!("CASE WHEN ({condition}) THEN 1 ELSE 0 END"),
    };
    let Some(sign_column) = spec.columns.iter().rfind(|c| c.hidden) else {
        return Err(LoadError::new(
            "INVALID_ARGUMENT",
            "load by MERGE or DELETE is only supported in unique tables.",
        ));
    };
    let mut items: Vec<ColumnItem> = if columns.is_empty() {
        spec.columns
            .iter()
            .filter(|c| !c.hidden)
            .map(|c| ColumnItem::Source(c.name.clone()))
            .collect()
    } else {
        columns.to_vec()
    };
    items.push(ColumnItem::Derived {
        name: sign_column.name.clone(),
        expr: sign,
    });
    Ok(items)
}

fn route_rows(
    writer: &TabletsWriter,
    batch: RecordBatch,
    allowed: Option<&[bool]>,
    separator: &str,
) -> Result<(RecordBatch, Vec<usize>, Vec<RowError>), LoadError> {
    let routes = writer.route(&batch).map_err(|e| {
        LoadError::new("INTERNAL_ERROR", format!("routing rows to partitions: {e}"))
    })?;
    let keep: Vec<bool> = routes
        .iter()
        .map(|r| r.is_some_and(|p| allowed.is_none_or(|a| a.get(p).copied().unwrap_or(false))))
        .collect();
    if keep.iter().all(|k| *k) {
        return Ok((batch, routes.into_iter().flatten().collect(), Vec::new()));
    }
    let mut rejected = Vec::new();
    for (row, _) in keep.iter().enumerate().filter(|(_, k)| !**k) {
        let fields: Vec<String> = batch
            .columns()
            .iter()
            .map(|c| {
                if c.is_null(row) {
                    "\\N".to_string()
                } else {
                    array_value_to_string(c, row).unwrap_or_default()
                }
            })
            .collect();
        rejected.push(RowError::new(
            fields.join(separator).as_bytes(),
            format!(
                "no partition for this tuple ({})",
                writer.partition_key_text(&batch, row)
            ),
        ));
    }
    let partitions = routes
        .into_iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .filter_map(|(r, _)| r)
        .collect();
    let mask = BooleanArray::from(keep);
    let kept = filter_record_batch(&batch, &mask)
        .map_err(|e| LoadError::new("INTERNAL_ERROR", format!("filtering rows: {e}")))?;
    Ok((kept, partitions, rejected))
}

/// Forwards the request body to the parser; returns the bytes received. A body that
/// breaks off (the client hung up) reaches the parser as an error.
async fn forward_body(body: Body, tx: mpsc::Sender<Result<Bytes, String>>) -> u64 {
    let mut stream = body.into_data_stream();
    let mut bytes = 0u64;
    while let Some(chunk) = stream.next().await {
        let item = chunk.map_err(|e| format!("reading the request body failed: {e}"));
        if let Ok(c) = &item {
            bytes += c.len() as u64;
        }
        let failed = item.is_err();
        if tx.send(item).await.is_err() || failed {
            break;
        }
    }
    bytes
}

/// A blocking `Read` over the body chunks.
struct ChannelReader {
    rx: mpsc::Receiver<Result<Bytes, String>>,
    current: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                None => return Ok(0),
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::ConnectionAborted,
                        e,
                    ))
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

enum Decoder {
    Csv(CsvDecoder),
    Json(JsonDecoder),
}

impl Decoder {
    fn decode(&mut self, chunk: &[u8], out: &mut BatchBuilder) {
        match self {
            Decoder::Csv(d) => d.decode(chunk, out),
            Decoder::Json(d) => d.decode(chunk, out),
        }
    }

    fn finish(&mut self, out: &mut BatchBuilder) {
        match self {
            Decoder::Csv(d) => d.finish(out),
            Decoder::Json(d) => d.finish(out),
        }
    }

    /// An error when the input held back for an unfinished line or document is too big.
    fn check_pending(&self, json_by_line: bool) -> Result<(), LoadError> {
        let (pending, limit, what) = match self {
            Decoder::Csv(d) => (d.pending_bytes(), MAX_LINE_BYTES, "a line"),
            Decoder::Json(d) if json_by_line => (d.pending_bytes(), MAX_LINE_BYTES, "a JSON line"),
            Decoder::Json(d) => (
                d.pending_bytes(),
                MAX_JSON_DOCUMENT_BYTES,
                "the JSON document",
            ),
        };
        if pending > limit {
            return Err(LoadError::new(
                "DATA_QUALITY_ERROR",
                format!(
                    "{what} is longer than {} MiB; check line_delimiter (or use read_json_by_line for large JSON)",
                    limit >> 20
                ),
            ));
        }
        Ok(())
    }
}

/// The parser thread: decompresses, parses and converts the body, sending batches to the
/// writer. Returns the time spent reading.
fn parse_body(
    rx: mpsc::Receiver<Result<Bytes, String>>,
    compression: Compression,
    format: BodyFormat,
    plan: &LoadPlan,
    tx: &mpsc::Sender<Converted>,
) -> Result<u64, LoadError> {
    let started = Instant::now();
    let raw = ChannelReader {
        rx,
        current: Bytes::new(),
    };
    let mut input: Box<dyn Read> = match compression {
        Compression::None => Box::new(raw),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(raw)),
        Compression::Deflate => Box::new(flate2::read::DeflateDecoder::new(raw)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::new(raw)
                .map_err(|e| LoadError::new("INTERNAL_ERROR", format!("zstd: {e}")))?,
        ),
        Compression::Lz4Frame => Box::new(lz4_flex::frame::FrameDecoder::new(raw)),
    };
    let columns = plan.source_names().to_vec();
    let json_by_line = matches!(&format, BodyFormat::Json(o) if o.read_json_by_line);
    let (mut decoder, separator) = match format {
        BodyFormat::Csv(o) => {
            let sep = String::from_utf8_lossy(&o.column_separator).into_owned();
            (Decoder::Csv(CsvDecoder::new(o, columns.len())), sep)
        }
        BodyFormat::Json(o) => (
            Decoder::Json(
                JsonDecoder::new(o, columns).map_err(|e| LoadError::new("INVALID_ARGUMENT", e))?,
            ),
            ",".to_string(),
        ),
    };
    let mut builder = BatchBuilder::new(plan.source_names().len());
    let mut buf = vec![0u8; READ_BUFFER];
    let send = |builder: &mut BatchBuilder| -> Result<(), LoadError> {
        let converted = plan
            .convert(builder.take(), &separator)
            .map_err(|e| LoadError::from_text(&e))?;
        tx.blocking_send(converted)
            .map_err(|_| LoadError::new("CANCELLED", "the load was cancelled"))
    };
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                let code = if e.kind() == std::io::ErrorKind::ConnectionAborted {
                    "CANCELLED"
                } else {
                    "DATA_QUALITY_ERROR"
                };
                let what = if compression == Compression::None {
                    "reading the body"
                } else {
                    "decompressing the body"
                };
                return Err(LoadError::new(code, format!("{what} failed: {e}")));
            }
        };
        decoder.decode(&buf[..n], &mut builder);
        // The writer sees the channel close and takes this error from the parser's result.
        decoder.check_pending(json_by_line)?;
        if builder.rows() + builder.error_count() >= BATCH_ROWS
            || builder.data_bytes() >= BATCH_BYTES
        {
            send(&mut builder)?;
        }
    }
    decoder.finish(&mut builder);
    if builder.rows() + builder.error_count() > 0 {
        send(&mut builder)?;
    }
    Ok(started.elapsed().as_millis() as u64)
}

/// `PUT /api/{db}/{table}/_stream_load_2pc` (and `/api/{db}/_stream_load_2pc`): commits or
/// aborts a pre-committed load by `txn_id` or `label`.
pub async fn stream_load_2pc(
    State(backend): State<Arc<Backend>>,
    Path(params): Path<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let db = params
        .iter()
        .find(|(k, _)| k == "db")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let fail = |code: StatusCode, msg: String| {
        (code, Json(json!({"status": "Fail", "msg": msg}))).into_response()
    };
    let Some((user, password)) = basic_auth(&headers) else {
        return fail(StatusCode::UNAUTHORIZED, "no basic auth credentials".into());
    };
    let txn_id = match header(&headers, "txn_id").map(str::trim) {
        None | Some("") => 0,
        Some(v) => match v.parse::<i64>() {
            Ok(id) => id,
            Err(_) => return fail(StatusCode::OK, format!("invalid txn_id: {v}")),
        },
    };
    let label = header(&headers, "label").unwrap_or_default().to_string();
    if txn_id == 0 && label.is_empty() {
        return fail(StatusCode::OK, "txn_id or label is required".into());
    }
    let operation = header(&headers, "txn_operation")
        .unwrap_or_default()
        .to_string();
    let mut fe = match backend.frontend() {
        Ok((fe, _)) => fe,
        Err(e) => return fail(StatusCode::OK, e),
    };
    let resp = fe
        .load_txn2_pc(LoadTxn2PcRequest {
            user,
            password,
            db,
            txn_id,
            label,
            operation: operation.clone(),
        })
        .await;
    match resp {
        Err(e) => fail(
            StatusCode::OK,
            format!("cannot reach the FE: {}", e.message()),
        ),
        Ok(r) => {
            let r = r.into_inner();
            match fe_status_error(r.status) {
                None => {
                    let done = if operation.eq_ignore_ascii_case("commit") {
                        "commit"
                    } else {
                        "abort"
                    };
                    Json(json!({"status": "Success",
                        "msg": format!("transaction [{}] {done} successfully.", r.txn_id)}))
                    .into_response()
                }
                Some(e) if e.code == "NOT_AUTHORIZED" => fail(StatusCode::UNAUTHORIZED, e.text()),
                Some(e) => fail(StatusCode::OK, e.message),
            }
        }
    }
}

/// `GET /api/_load_error_log?file=...`: the rejected rows of a load.
pub async fn load_error_log(
    State(backend): State<Arc<Backend>>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    let Some(path) = q
        .get("file")
        .and_then(|f| super::error_log::resolve(backend.engine.root(), f))
    else {
        return (StatusCode::BAD_REQUEST, "missing or invalid `file`").into_response();
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => (
            [(
                axum::http::header::CONTENT_TYPE,
                "text/plain; charset=utf-8",
            )],
            bytes,
        )
            .into_response(),
        Err(_) => (StatusCode::NOT_FOUND, "no such error log").into_response(),
    }
}
