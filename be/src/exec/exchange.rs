//! Data exchange between plan fragments (see `doris_common::fragment` for the row-to-receiver
//! rules). Owns the [`ExchangeRegistry`], where batches for this BE's receiving fragments
//! wait (one bounded slot per exchange, receiver and partition: a full slot holds the
//! sender back), the receiving node [`ExchangeSourceNode`], the sending node
//! [`ExchangeSinkNode`], and [`receive_stream`], the `TransmitData` handler.
//!
//! A sender writes to a receiver on this BE directly into its slot and to other BEs over one
//! gRPC client stream per receiver partition. Each sender ends every stream with an
//! end-of-stream mark; a receiver partition ends when it has one from every sender. A
//! stream cut without that mark (a sender failed or its BE died) fails the receiver with
//! an error naming the sender's BE. A receiver that needs no more rows (LIMIT) closes its
//! slot; senders then stop sending to it.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use datafusion::arrow::array::UInt32Array;
use datafusion::arrow::compute::{concat_batches, take};
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::metrics::{
    BaselineMetrics, Count, ExecutionPlanMetricsSet, MetricBuilder, MetricsSet, Time,
};
use datafusion::physical_plan::repartition::BatchPartitioner;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, ExecutionPlanProperties,
    PhysicalExpr, PlanProperties, SendableRecordBatchStream,
};
use doris_common::fragment::{
    plain_properties, ExchangeEndpoint, ExchangeKind, ExchangeSinkSpec, ExchangeSourceSpec,
};
use doris_proto::{Channels, TransmitDataRequest};
use futures::StreamExt;
use parking_lot::Mutex;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tracing::debug;

use crate::task::AbortOnDrop;

/// Batches a slot holds before its senders wait.
const SLOT_CAPACITY: usize = 16;
/// How long a finished query's id is remembered, so late senders are refused, not parked.
const FINISHED_MEMORY: Duration = Duration::from_secs(600);

/// What arrives in a receiver's slot.
#[derive(Debug)]
pub enum Delivery {
    Batch(RecordBatch),
    /// One sender finished.
    Eos,
    /// A sender failed; the receiver fails with this message.
    Failed(String),
}

/// (exchange id, receiver index, partition) within one query.
type SlotKey = (u32, u32, u32);

struct Slot {
    tx: Option<mpsc::Sender<Delivery>>,
    rx: Option<mpsc::Receiver<Delivery>>,
    closed: bool,
}

impl Slot {
    fn new() -> Self {
        let (tx, rx) = mpsc::channel(SLOT_CAPACITY);
        Self {
            tx: Some(tx),
            rx: Some(rx),
            closed: false,
        }
    }
}

#[derive(Default)]
struct RegistryInner {
    queries: HashMap<String, HashMap<SlotKey, Slot>>,
    finished: HashMap<String, Instant>,
}

/// Slots of the exchanges whose receivers run on this BE, by query.
#[derive(Default)]
pub struct ExchangeRegistry {
    inner: Mutex<RegistryInner>,
}

impl ExchangeRegistry {
    fn with_slot<T>(
        &self,
        query_id: &str,
        key: SlotKey,
        f: impl FnOnce(&mut Slot) -> T,
    ) -> std::result::Result<T, String> {
        let mut inner = self.inner.lock();
        if inner.finished.contains_key(query_id) {
            return Err(format!("query {query_id} is finished or cancelled"));
        }
        let slot = inner
            .queries
            .entry(query_id.to_string())
            .or_default()
            .entry(key)
            .or_insert_with(Slot::new);
        Ok(f(slot))
    }

    /// Where a sender delivers into a slot; `None` once the receiver closed it.
    pub fn sender(
        &self,
        query_id: &str,
        key: SlotKey,
    ) -> std::result::Result<Option<mpsc::Sender<Delivery>>, String> {
        self.with_slot(
            query_id,
            key,
            |s| {
                if s.closed {
                    None
                } else {
                    s.tx.clone()
                }
            },
        )
    }

    /// The receiving end of a slot; it can be taken once.
    fn receiver(
        &self,
        query_id: &str,
        key: SlotKey,
    ) -> std::result::Result<mpsc::Receiver<Delivery>, String> {
        self.with_slot(query_id, key, |s| s.rx.take())?
            .ok_or_else(|| {
                format!(
                    "exchange {} partition {} of query {query_id} is already being read",
                    key.0, key.2
                )
            })
    }

    /// The receiver is done with a slot: senders see it closed from now on.
    fn close(&self, query_id: &str, key: SlotKey) {
        let mut inner = self.inner.lock();
        if let Some(slot) = inner
            .queries
            .get_mut(query_id)
            .and_then(|q| q.get_mut(&key))
        {
            slot.closed = true;
            slot.tx = None;
            slot.rx = None;
        }
    }

    /// Whether the query was finished or cancelled here (its late fragments are refused).
    pub fn is_finished(&self, query_id: &str) -> bool {
        self.inner.lock().finished.contains_key(query_id)
    }

    /// Drops every slot of a finished or cancelled query; later senders are refused.
    pub fn finish_query(&self, query_id: &str) {
        let mut inner = self.inner.lock();
        inner.queries.remove(query_id);
        let now = Instant::now();
        inner
            .finished
            .retain(|_, at| now.duration_since(*at) < FINISHED_MEMORY);
        inner.finished.insert(query_id.to_string(), now);
    }
}

/// Closes a slot when its reader goes away.
struct SlotGuard {
    registry: Arc<ExchangeRegistry>,
    query_id: String,
    key: SlotKey,
}

impl Drop for SlotGuard {
    fn drop(&mut self) {
        self.registry.close(&self.query_id, self.key);
    }
}

/// The receiving end of an exchange on this BE.
pub struct ExchangeSourceNode {
    spec: ExchangeSourceSpec,
    registry: Arc<ExchangeRegistry>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl ExchangeSourceNode {
    pub fn new(
        spec: ExchangeSourceSpec,
        schema: SchemaRef,
        registry: Arc<ExchangeRegistry>,
    ) -> Self {
        let properties = plain_properties(schema, spec.partitions);
        Self {
            spec,
            registry,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl fmt::Debug for ExchangeSourceNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExchangeSourceNode({})", self.spec.exchange_id)
    }
}

impl DisplayAs for ExchangeSourceNode {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ExchangeSource: id={}", self.spec.exchange_id)
    }
}

struct SourceState {
    rx: mpsc::Receiver<Delivery>,
    /// Rows received.
    metrics: BaselineMetrics,
    waiting_for: u32,
    exchange_id: u32,
    done: bool,
    _guard: SlotGuard,
}

impl ExecutionPlan for ExchangeSourceNode {
    fn name(&self) -> &str {
        "ExchangeSourceNode"
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let key = (self.spec.exchange_id, self.spec.receiver, partition as u32);
        let rx = self
            .registry
            .receiver(&self.spec.query_id, key)
            .map_err(DataFusionError::Execution)?;
        let state = SourceState {
            rx,
            metrics: BaselineMetrics::new(&self.metrics, partition),
            waiting_for: self.spec.senders,
            exchange_id: self.spec.exchange_id,
            done: self.spec.senders == 0,
            _guard: SlotGuard {
                registry: Arc::clone(&self.registry),
                query_id: self.spec.query_id.clone(),
                key,
            },
        };
        let stream = futures::stream::unfold(state, |mut st| async move {
            while !st.done {
                match st.rx.recv().await {
                    Some(Delivery::Batch(b)) => {
                        st.metrics.record_output(b.num_rows());
                        return Some((Ok(b), st));
                    }
                    Some(Delivery::Eos) => {
                        st.waiting_for = st.waiting_for.saturating_sub(1);
                        st.done = st.waiting_for == 0;
                    }
                    Some(Delivery::Failed(message)) => {
                        st.done = true;
                        return Some((Err(DataFusionError::Execution(message)), st));
                    }
                    None => {
                        st.done = true;
                        let message = format!(
                            "exchange {} was cancelled before its senders finished",
                            st.exchange_id
                        );
                        return Some((Err(DataFusionError::Execution(message)), st));
                    }
                }
            }
            None
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            self.schema(),
            stream,
        )))
    }
}

/// Handles one `TransmitData` stream: delivers its batches into the receiver's slot.
pub async fn receive_stream(
    registry: &ExchangeRegistry,
    mut stream: tonic::Streaming<TransmitDataRequest>,
) -> std::result::Result<(), tonic::Status> {
    let Some(mut msg) = stream.message().await? else {
        return Ok(());
    };
    let key = (msg.exchange_id, msg.receiver, msg.partition);
    let sender = msg.sender_address.clone();
    let tx = match registry.sender(&msg.query_id, key) {
        Ok(Some(tx)) => tx,
        // The receiver needs nothing more: answering ends the sender's stream.
        Ok(None) => return Ok(()),
        Err(e) => return Err(tonic::Status::cancelled(e)),
    };
    loop {
        if !msg.ipc.is_empty() {
            let (_, batches) = doris_common::ipc::decode(&msg.ipc).map_err(|e| {
                tonic::Status::invalid_argument(format!("bad exchange data from {sender}: {e}"))
            })?;
            for b in batches {
                if tx.send(Delivery::Batch(b)).await.is_err() {
                    return Ok(());
                }
            }
        }
        if msg.eos {
            let _ = tx.send(Delivery::Eos).await;
            return Ok(());
        }
        let failure = match stream.message().await {
            Ok(Some(next)) => {
                msg = next;
                continue;
            }
            Ok(None) => {
                format!("the exchange stream from backend {sender} ended before its end mark")
            }
            Err(status) => format!(
                "lost the exchange stream from backend {sender}: {}",
                status.message()
            ),
        };
        let _ = tx.send(Delivery::Failed(failure)).await;
        return Ok(());
    }
}

/// The sending end of an exchange on this BE: runs every input partition and routes rows.
pub struct ExchangeSinkNode {
    spec: ExchangeSinkSpec,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    input: Arc<dyn ExecutionPlan>,
    registry: Arc<ExchangeRegistry>,
    channels: Arc<Channels>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl ExchangeSinkNode {
    pub fn new(
        spec: ExchangeSinkSpec,
        keys: Vec<Arc<dyn PhysicalExpr>>,
        input: Arc<dyn ExecutionPlan>,
        registry: Arc<ExchangeRegistry>,
        channels: Arc<Channels>,
    ) -> Self {
        Self {
            spec,
            keys,
            input,
            registry,
            channels,
            properties: plain_properties(Arc::new(Schema::empty()), 1),
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl fmt::Debug for ExchangeSinkNode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ExchangeSinkNode({})", self.spec.exchange_id)
    }
}

impl DisplayAs for ExchangeSinkNode {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "ExchangeSink: id={}", self.spec.exchange_id)
    }
}

impl ExecutionPlan for ExchangeSinkNode {
    fn name(&self) -> &str {
        "ExchangeSinkNode"
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::UnspecifiedDistribution]
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        for k in &self.keys {
            if f(k)? == TreeNodeRecursion::Stop {
                return Ok(TreeNodeRecursion::Stop);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("exchange sink needs an input".into()))?;
        Ok(Arc::new(Self::new(
            self.spec.clone(),
            self.keys.clone(),
            input,
            Arc::clone(&self.registry),
            Arc::clone(&self.channels),
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(
                "an exchange sink has one partition".into(),
            ));
        }
        let rows_metric = MetricBuilder::new(&self.metrics).counter("rows_sent", 0);
        let send = Sender {
            rows_metric,
            spec: self.spec.clone(),
            keys: self.keys.clone(),
            input: Arc::clone(&self.input),
            registry: Arc::clone(&self.registry),
            channels: Arc::clone(&self.channels),
        }
        .run(context);
        let schema = self.schema();
        let stream = futures::stream::once(async move {
            send.await?;
            Ok(RecordBatch::new_empty(Arc::new(Schema::empty())))
        })
        .filter(|r| futures::future::ready(r.is_err()));
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
    }
}

/// One output stream of a sender: into a slot on this BE or a gRPC stream to another BE.
#[derive(Clone)]
enum LinkTarget {
    Local(mpsc::Sender<Delivery>),
    Remote(mpsc::Sender<TransmitDataRequest>),
}

#[derive(Clone)]
struct Link {
    target: LinkTarget,
    receiver: u32,
    partition: u32,
    /// The receiver needs no more rows.
    closed: Arc<AtomicBool>,
}

/// What the tasks of one sender share.
struct Shared {
    /// Rows sent, for the profile (a row broadcast to n receivers counts n times).
    rows_metric: Count,
    spec: ExchangeSinkSpec,
    links: Vec<Link>,
    schema: SchemaRef,
    batch_size: usize,
    sent_rows: AtomicUsize,
    address: String,
}

impl Shared {
    /// Whether no receiver that gets rows wants more (a gather only sends to receiver 0).
    fn all_closed(&self) -> bool {
        self.links
            .iter()
            .filter(|l| self.spec.kind != ExchangeKind::Gather || l.receiver == 0)
            .all(|l| l.closed.load(Ordering::Relaxed))
    }

    fn header(&self, link: &Link) -> TransmitDataRequest {
        TransmitDataRequest {
            query_id: self.spec.query_id.clone(),
            exchange_id: self.spec.exchange_id,
            receiver: link.receiver,
            partition: link.partition,
            sender: self.spec.sender,
            ipc: Vec::new(),
            eos: false,
            sender_address: self.address.clone(),
        }
    }

    /// Sends one batch on a link; a closed receiver is remembered, not an error.
    async fn send(&self, link: &Link, batch: RecordBatch) -> Result<()> {
        if link.closed.load(Ordering::Relaxed) || batch.num_rows() == 0 {
            return Ok(());
        }
        self.rows_metric.add(batch.num_rows());
        let ok = match &link.target {
            LinkTarget::Local(tx) => tx.send(Delivery::Batch(batch)).await.is_ok(),
            LinkTarget::Remote(tx) => {
                let ipc = doris_common::ipc::encode(&self.schema, Some(&batch))?;
                let msg = TransmitDataRequest {
                    ipc,
                    ..self.header(link)
                };
                tx.send(msg).await.is_ok()
            }
        };
        if !ok {
            link.closed.store(true, Ordering::Relaxed);
        }
        Ok(())
    }

    async fn send_eos(&self, link: &Link) {
        if link.closed.load(Ordering::Relaxed) {
            return;
        }
        match &link.target {
            LinkTarget::Local(tx) => {
                let _ = tx.send(Delivery::Eos).await;
            }
            LinkTarget::Remote(tx) => {
                let msg = TransmitDataRequest {
                    eos: true,
                    ..self.header(link)
                };
                let _ = tx.send(msg).await;
            }
        }
    }

    /// Takes at most what is left of the fetch limit from `batch`; `None` when none is left.
    fn within_fetch(&self, batch: RecordBatch) -> Option<RecordBatch> {
        let Some(fetch) = self.spec.fetch else {
            return Some(batch);
        };
        let n = batch.num_rows();
        let before = self.sent_rows.fetch_add(n, Ordering::Relaxed);
        if before >= fetch {
            return None;
        }
        Some(batch.slice(0, n.min(fetch - before)))
    }

    /// Links of receiver partition `partition` of every receiver (broadcast) or of receiver 0.
    fn fixed_links(&self, partition: u32) -> Vec<&Link> {
        self.links
            .iter()
            .filter(|l| l.partition == partition)
            .filter(|l| self.spec.kind == ExchangeKind::Broadcast || l.receiver == 0)
            .collect()
    }
}

struct Sender {
    rows_metric: Count,
    spec: ExchangeSinkSpec,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    input: Arc<dyn ExecutionPlan>,
    registry: Arc<ExchangeRegistry>,
    channels: Arc<Channels>,
}

impl Sender {
    async fn run(self, context: Arc<TaskContext>) -> Result<()> {
        let spec = self.spec;
        let partitions = spec.partitions.max(1);
        let local_id = spec.local.as_ref().map(|l| l.backend_id);
        let mut links = Vec::new();
        let mut calls: Vec<(
            ExchangeEndpoint,
            AbortOnDrop<std::result::Result<(), tonic::Status>>,
        )> = Vec::new();
        for (r, endpoint) in spec.receivers.iter().enumerate() {
            for p in 0..partitions {
                let key = (spec.exchange_id, r as u32, p as u32);
                let closed = Arc::new(AtomicBool::new(false));
                let target = if Some(endpoint.backend_id) == local_id {
                    match self.registry.sender(&spec.query_id, key) {
                        Ok(Some(tx)) => LinkTarget::Local(tx),
                        Ok(None) => {
                            closed.store(true, Ordering::Relaxed);
                            LinkTarget::Local(mpsc::channel(1).0)
                        }
                        Err(e) => return Err(DataFusionError::Execution(e)),
                    }
                } else {
                    let mut client = self
                        .channels
                        .internal(&endpoint.host, endpoint.port)
                        .map_err(DataFusionError::Execution)?;
                    let (tx, rx) = mpsc::channel(2);
                    let call = AbortOnDrop::spawn(async move {
                        client
                            .transmit_data(ReceiverStream::new(rx))
                            .await
                            .map(|_| ())
                    });
                    calls.push((endpoint.clone(), call));
                    LinkTarget::Remote(tx)
                };
                links.push(Link {
                    target,
                    receiver: r as u32,
                    partition: p as u32,
                    closed,
                });
            }
        }
        let address = spec
            .local
            .as_ref()
            .map_or_else(|| "?".to_string(), |l| l.to_string());
        let shared = Arc::new(Shared {
            rows_metric: self.rows_metric.clone(),
            spec: spec.clone(),
            links,
            schema: self.input.schema(),
            batch_size: context.session_config().batch_size(),
            sent_rows: AtomicUsize::new(0),
            address,
        });
        let inputs = self.input.output_partitioning().partition_count();
        let mut tasks = Vec::with_capacity(inputs);
        for i in 0..inputs {
            let stream = self.input.execute(i, Arc::clone(&context))?;
            let shared = Arc::clone(&shared);
            let keys = self.keys.clone();
            tasks.push(AbortOnDrop::spawn(route_partition(shared, keys, stream)));
        }
        // The first failure ends the others (dropping their tasks aborts them).
        let routed = futures::future::try_join_all(tasks.into_iter().map(|t| async move {
            t.join()
                .await
                .map_err(|e| DataFusionError::Execution(format!("exchange sender failed: {e}")))
                .and_then(|r| r)
        }))
        .await;
        if let Err(e) = routed {
            // Local receivers learn it here; remote ones see their streams cut.
            for l in &shared.links {
                if let LinkTarget::Local(tx) = &l.target {
                    let _ = tx.send(Delivery::Failed(e.to_string())).await;
                }
            }
            return Err(e);
        }
        for l in &shared.links {
            shared.send_eos(l).await;
        }
        drop(shared);
        for (endpoint, call) in calls {
            match call.join().await {
                Ok(Ok(())) => {}
                Ok(Err(status)) => {
                    if status.message().contains("transport error") {
                        self.channels.evict(&endpoint.host, endpoint.port);
                    }
                    return Err(DataFusionError::Execution(format!(
                        "exchange {} to backend {endpoint} failed: {}",
                        spec.exchange_id,
                        status.message()
                    )));
                }
                Err(e) => {
                    return Err(DataFusionError::Execution(format!(
                        "exchange {} to backend {endpoint} failed: {e}",
                        spec.exchange_id
                    )))
                }
            }
        }
        debug!(query_id = %spec.query_id, exchange_id = spec.exchange_id, "exchange sent");
        Ok(())
    }
}

/// Splits `batch` by the bucket of each row's keys (the loads' bucket hash), as
/// `(link index, rows)` pieces.
fn bucket_pieces(
    shared: &Shared,
    keys: &[Arc<dyn PhysicalExpr>],
    batch: &RecordBatch,
) -> Result<Vec<(usize, RecordBatch)>> {
    let spec = &shared.spec;
    let buckets = spec.bucket_targets.len().max(1) as u64;
    let arrays = keys
        .iter()
        .map(|k| k.evaluate(batch)?.into_array(batch.num_rows()))
        .collect::<Result<Vec<_>>>()?;
    let hashes = doris_common::bucket::bucket_hashes(&arrays, batch.num_rows())?;
    let mut rows: Vec<Vec<u32>> = vec![Vec::new(); shared.links.len()];
    for (row, h) in hashes.iter().enumerate() {
        let (receiver, partition) = spec
            .bucket_targets
            .get((h % buckets) as usize)
            .copied()
            .unwrap_or((0, 0));
        let target = receiver as usize * spec.partitions.max(1) + partition as usize;
        if let Some(r) = rows.get_mut(target) {
            r.push(row as u32);
        }
    }
    let mut out = Vec::new();
    for (target, idx) in rows.into_iter().enumerate() {
        if idx.is_empty() {
            continue;
        }
        let idx = UInt32Array::from(idx);
        let columns = batch
            .columns()
            .iter()
            .map(|c| take(c.as_ref(), &idx, None))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        out.push((target, RecordBatch::try_new(batch.schema(), columns)?));
    }
    Ok(out)
}

/// Routes one input partition's batches to the links.
async fn route_partition(
    shared: Arc<Shared>,
    keys: Vec<Arc<dyn PhysicalExpr>>,
    mut stream: SendableRecordBatchStream,
) -> Result<()> {
    let spec = &shared.spec;
    let fixed_partition = if spec.per_sender_partitions {
        spec.sender
    } else {
        0
    };
    let targets = shared.links.len().max(1);
    let mut hash = match spec.kind {
        ExchangeKind::Hash => Some((
            Some(BatchPartitioner::new_hash_partitioner(
                keys.clone(),
                targets,
                Time::new(),
            )?),
            vec![Vec::<RecordBatch>::new(); targets],
            vec![0usize; targets],
        )),
        ExchangeKind::Bucket => Some((
            None,
            vec![Vec::<RecordBatch>::new(); targets],
            vec![0usize; targets],
        )),
        _ => None,
    };
    while let Some(batch) = stream.next().await {
        if shared.all_closed() {
            return Ok(());
        }
        let batch = batch?;
        match &mut hash {
            None => {
                let Some(batch) = shared.within_fetch(batch) else {
                    return Ok(());
                };
                for link in shared.fixed_links(fixed_partition) {
                    shared.send(link, batch.clone()).await?;
                }
            }
            Some((partitioner, buffers, rows)) => {
                let pieces: Vec<(usize, RecordBatch)> = match partitioner {
                    Some(p) => p.partition_iter(batch)?.collect::<Result<_>>()?,
                    None => bucket_pieces(&shared, &keys, &batch)?,
                };
                for (target, piece) in pieces {
                    rows[target] += piece.num_rows();
                    buffers[target].push(piece);
                    if rows[target] >= shared.batch_size {
                        let out =
                            concat_batches(&shared.schema, &std::mem::take(&mut buffers[target]))?;
                        rows[target] = 0;
                        shared.send(&shared.links[target], out).await?;
                    }
                }
            }
        }
    }
    if let Some((_, buffers, _)) = hash {
        for (target, pieces) in buffers.into_iter().enumerate() {
            if !pieces.is_empty() {
                let out = concat_batches(&shared.schema, &pieces)?;
                shared.send(&shared.links[target], out).await?;
            }
        }
    }
    Ok(())
}
