//! Writing a load's rows into tablets: validates rows against the table schema, routes
//! them to their partition (by range or value list), hashes them to a bucket of it, and
//! hands each tablet's rows to every replica: this BE's [`TabletStore`] or, over a
//! `TabletWrite` stream, another backend's. Entry: [`TabletSinkExec`] (INSERT) and
//! [`TabletsWriter`] (stream load).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Int8Array, RecordBatch, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::{cast, filter_record_batch, take};
use datafusion::arrow::datatypes::{i256, DataType, Decimal256Type, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    execute_stream, DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream,
};
use doris_common::bucket::bucket_hashes;
use doris_common::fragment::{
    count_schema, plain_properties, ExchangeEndpoint, SinkIndex, SinkSpec,
};
use doris_common::partition::PartitionRouter;
use doris_common::types::ColumnType;
use doris_proto::{Channels, TabletWriteRequest, TabletWriteResponse};
use futures::StreamExt;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;

use crate::storage::segment_cache::ColumnSpec;
use crate::storage::writer::TabletStore;
use crate::storage::StorageEngine;
use crate::task::AbortOnDrop;

pub struct TabletSinkExec {
    engine: Arc<StorageEngine>,
    channels: Arc<Channels>,
    spec: SinkSpec,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl TabletSinkExec {
    pub fn new(
        engine: Arc<StorageEngine>,
        channels: Arc<Channels>,
        spec: SinkSpec,
        input: Arc<dyn ExecutionPlan>,
    ) -> Self {
        Self {
            engine,
            channels,
            spec,
            input,
            properties: plain_properties(count_schema(), 1),
        }
    }
}

impl fmt::Debug for TabletSinkExec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TabletSinkExec({}.{})", self.spec.db, self.spec.table)
    }
}

impl DisplayAs for TabletSinkExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "TabletSinkExec: txn_id={}", self.spec.txn_id)
    }
}

impl ExecutionPlan for TabletSinkExec {
    fn name(&self) -> &str {
        "TabletSinkExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let input = children
            .pop()
            .ok_or_else(|| DataFusionError::Internal("sink needs an input".into()))?;
        Ok(Arc::new(Self::new(
            Arc::clone(&self.engine),
            Arc::clone(&self.channels),
            self.spec.clone(),
            input,
        )))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition != 0 {
            return Err(DataFusionError::Internal(
                "TabletSinkExec has one partition".into(),
            ));
        }
        let engine = Arc::clone(&self.engine);
        let channels = Arc::clone(&self.channels);
        let spec = self.spec.clone();
        let input = Arc::clone(&self.input);
        let fut = async move {
            let mut writer = TabletsWriter::try_new(engine, channels, spec)?;
            let mut stream = execute_stream(input, context)?;
            let result = async {
                while let Some(batch) = stream.next().await {
                    writer.write(batch?).await?;
                }
                writer.finish().await
            }
            .await;
            match result {
                Ok(rows) => {
                    let counts = UInt64Array::from(vec![rows]);
                    Ok(RecordBatch::try_new(
                        count_schema(),
                        vec![Arc::new(counts)],
                    )?)
                }
                Err(e) => {
                    writer.discard().await;
                    Err(e)
                }
            }
        };
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            count_schema(),
            futures::stream::once(fut),
        )))
    }
}

/// The table's columns with their stored types: what tablets hold.
pub(crate) fn sink_schema(spec: &SinkSpec) -> SchemaRef {
    Arc::new(Schema::new(
        spec.columns
            .iter()
            .map(|c| Field::new(&c.name, c.column_type.to_arrow(), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

pub(crate) struct TabletsWriter {
    spec: SinkSpec,
    schema: SchemaRef,
    router: PartitionRouter,
    rows: u64,
    /// Per partition: the bucket the next batch goes to under random distribution.
    round_robin: Vec<usize>,
    /// Tablet id -> backends holding its replicas.
    replicas: HashMap<i64, Vec<i64>>,
    local_backend: Option<i64>,
    /// This BE's replicas.
    store: TabletStore,
    /// This BE's replicas of each materialized index (same order as the spec's indexes).
    index_stores: Vec<TabletStore>,
    /// Other backends' replicas, by backend id and index (0: the base).
    remotes: HashMap<(i64, i64), RemoteTablets>,
    channels: Arc<Channels>,
}

/// The columns of a materialized index with their stored types.
pub(crate) fn index_schema(index: &SinkIndex) -> SchemaRef {
    Arc::new(Schema::new(
        index
            .columns
            .iter()
            .map(|c| Field::new(&c.name, c.column_type.to_arrow(), true))
            .collect::<Vec<_>>(),
    ))
}

impl TabletsWriter {
    pub(crate) fn try_new(
        engine: Arc<StorageEngine>,
        channels: Arc<Channels>,
        spec: SinkSpec,
    ) -> Result<Self> {
        let schema = sink_schema(&spec);
        if spec.partitions.is_empty() {
            return Err(DataFusionError::Execution(format!(
                "table `{}` has no partitions to write into",
                spec.table
            )));
        }
        if let Some(p) = spec.partitions.iter().find(|p| p.tablet_ids.is_empty()) {
            return Err(DataFusionError::Internal(format!(
                "partition {} has no tablets",
                p.partition_id
            )));
        }
        let types = spec
            .partition_columns
            .iter()
            .map(|&i| {
                spec.columns
                    .get(i)
                    .map(|c| c.column_type.clone())
                    .ok_or_else(|| {
                        DataFusionError::Internal(format!(
                            "partition column {i} is not in the table"
                        ))
                    })
            })
            .collect::<Result<Vec<_>>>()?;
        let items: Vec<_> = spec.partitions.iter().map(|p| p.item.as_ref()).collect();
        let router = PartitionRouter::try_new(spec.partition_columns.clone(), types, &items)
            .map_err(DataFusionError::Internal)?;
        let round_robin = vec![0; spec.partitions.len()];
        let mut replicas = HashMap::new();
        for p in &spec.partitions {
            for (i, tablet_id) in p.tablet_ids.iter().enumerate() {
                if let Some(backends) = p.tablet_backends.get(i) {
                    replicas.insert(*tablet_id, backends.clone());
                }
            }
        }
        let store = TabletStore::new(
            Arc::clone(&engine),
            spec.txn_id,
            Arc::clone(&schema),
            spec.key_columns.clone(),
            spec.partial_columns.clone(),
        );
        let index_stores = spec
            .indexes
            .iter()
            .map(|index| {
                TabletStore::new(
                    Arc::clone(&engine),
                    spec.txn_id,
                    index_schema(index),
                    index.key_columns.clone(),
                    None,
                )
            })
            .collect();
        Ok(Self {
            local_backend: engine.backend_id(),
            spec,
            schema,
            router,
            rows: 0,
            round_robin,
            replicas,
            store,
            index_stores,
            remotes: HashMap::new(),
            channels,
        })
    }

    /// The partition (index into the spec's partitions) of every row of `batch`, which has
    /// the table's columns and stored types; `None` where no partition takes the row.
    pub(crate) fn route(&self, batch: &RecordBatch) -> Result<Vec<Option<usize>>> {
        self.router.route(batch).map_err(DataFusionError::Execution)
    }

    /// Names of the target partitions, in the spec's order (the indices [`Self::route`]
    /// returns).
    pub(crate) fn partition_names(&self) -> Vec<&str> {
        self.spec
            .partitions
            .iter()
            .map(|p| p.name.as_str())
            .collect()
    }

    /// `k=15` for the partition columns of one row, for error messages.
    pub(crate) fn partition_key_text(&self, batch: &RecordBatch, row: usize) -> String {
        let names: Vec<String> = self.spec.columns.iter().map(|c| c.name.clone()).collect();
        self.router.row_text(batch, row, &names)
    }

    /// Checks nullability and string lengths, and casts columns to the stored types.
    /// An input without the hidden delete-sign column gets it, valued as the spec says.
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let mut input: Vec<ArrayRef> = batch.columns().to_vec();
        if let Some(sign) = self.spec.delete_sign {
            if input.len() + 1 == self.spec.columns.len() {
                input.push(Arc::new(Int8Array::from_value(sign, batch.num_rows())));
            }
        }
        if input.len() != self.spec.columns.len() {
            return Err(DataFusionError::Execution(format!(
                "insert produced {} columns, table `{}` has {}",
                input.len(),
                self.spec.table,
                self.spec.columns.len()
            )));
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(input.len());
        for (i, col) in self.spec.columns.iter().enumerate() {
            let mut array = Arc::clone(&input[i]);
            let target = self.schema.field(i).data_type();
            if array.data_type() != target {
                array = cast(&array, target)?;
            }
            if !col.nullable && array.null_count() > 0 {
                return Err(DataFusionError::Execution(format!(
                    "Insert has filtered data in strict mode: NULL value for NOT NULL column `{}`",
                    col.name
                )));
            }
            if col.column_type == ColumnType::LargeInt {
                let values = array.as_primitive::<Decimal256Type>();
                let (lo, hi) = (i256::from_i128(i128::MIN), i256::from_i128(i128::MAX));
                if let Some(v) = values.iter().flatten().find(|v| *v < lo || *v > hi) {
                    return Err(DataFusionError::Execution(format!(
                        "Insert has filtered data in strict mode: {v} is out of range for LARGEINT column `{}`",
                        col.name
                    )));
                }
            }
            if let (Some(max), DataType::Utf8) = (col.column_type.max_len(), target) {
                let strings = array.as_string::<i32>();
                if let Some(v) = strings.iter().flatten().find(|v| v.len() > max) {
                    return Err(DataFusionError::Execution(format!(
                        "Insert has filtered data in strict mode: value '{}' is too long for column `{}` {} ({} > {max} bytes)",
                        v.chars().take(32).collect::<String>(),
                        col.name,
                        col.column_type.sql_name(),
                        v.len()
                    )));
                }
            }
            columns.push(array);
        }
        Ok(RecordBatch::try_new(Arc::clone(&self.schema), columns)?)
    }

    /// Hash of the distribution columns of every row; `None` under random distribution.
    fn hashes(&self, batch: &RecordBatch) -> Result<Option<Vec<u64>>> {
        if self.spec.distribution_columns.is_empty() {
            return Ok(None);
        }
        let arrays: Vec<ArrayRef> = self
            .spec
            .distribution_columns
            .iter()
            .map(|&i| Arc::clone(batch.column(i)))
            .collect();
        Ok(Some(bucket_hashes(&arrays, batch.num_rows())?))
    }

    /// Writes rows that must all have a partition: an INSERT fails on a row without one
    /// (Doris's strict insert), leaving nothing of the statement visible.
    pub(crate) async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = self.conform(batch)?;
        let routes = self.route(&batch)?;
        if self.spec.skip_unrouted && routes.iter().any(Option::is_none) {
            let keep: BooleanArray = routes.iter().map(|r| Some(r.is_some())).collect();
            let batch = filter_record_batch(&batch, &keep)?;
            let partitions: Vec<usize> = routes.into_iter().flatten().collect();
            return self.write_routed(batch, &partitions).await;
        }
        let mut partitions = Vec::with_capacity(routes.len());
        for (row, r) in routes.into_iter().enumerate() {
            match r {
                Some(p) => partitions.push(p),
                None => {
                    return Err(DataFusionError::Execution(format!(
                        "Insert has filtered data in strict mode: no partition for this tuple ({}) in table `{}`",
                        self.partition_key_text(&batch, row),
                        self.spec.table
                    )))
                }
            }
        }
        self.write_routed(batch, &partitions).await
    }

    /// Writes rows whose partitions are already known (`partitions[row]`, from
    /// [`Self::route`] on the same batch), each hashed to a bucket of its partition.
    pub(crate) async fn write_routed(
        &mut self,
        batch: RecordBatch,
        partitions: &[usize],
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if partitions.len() != batch.num_rows() {
            return Err(DataFusionError::Internal(format!(
                "{} partition indices for {} rows",
                partitions.len(),
                batch.num_rows()
            )));
        }
        let batch = self.conform(batch)?;
        let hashes = self.hashes(&batch)?;
        let n_partitions = self.spec.partitions.len();
        if hashes.is_none() {
            // Random distribution: each batch goes to the next bucket of each partition.
            let mut touched = vec![false; n_partitions];
            for &p in partitions {
                if let Some(t) = touched.get_mut(p) {
                    *t = true;
                }
            }
            for (p, t) in touched.into_iter().enumerate() {
                if t {
                    let n = self.spec.partitions[p].tablet_ids.len();
                    self.round_robin[p] = (self.round_robin[p] + 1) % n;
                }
            }
        }
        // (partition, bucket) -> rows
        let mut rows_of: BTreeMap<(usize, usize), Vec<u32>> = BTreeMap::new();
        for (row, &p) in partitions.iter().enumerate() {
            let tablets = &self
                .spec
                .partitions
                .get(p)
                .ok_or_else(|| DataFusionError::Internal(format!("no partition #{p}")))?
                .tablet_ids;
            let bucket = match &hashes {
                Some(h) => (h[row] % tablets.len() as u64) as usize,
                None => self.round_robin[p],
            };
            rows_of.entry((p, bucket)).or_default().push(row as u32);
        }
        self.rows += batch.num_rows() as u64;
        for ((p, bucket), rows) in rows_of {
            let part = if rows.len() == batch.num_rows() {
                batch.clone()
            } else {
                let idx = UInt32Array::from(rows);
                let cols = batch
                    .columns()
                    .iter()
                    .map(|c| take(c.as_ref(), &idx, None))
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                RecordBatch::try_new(Arc::clone(&self.schema), cols)?
            };
            let tablet_id = self.spec.partitions[p].tablet_ids[bucket];
            // The materialized indexes' rows go to their bucket of the partition, on the
            // base tablet's backends.
            for k in 0..self.spec.indexes.len() {
                let index = &self.spec.indexes[k];
                let Some(index_tablet) = index.tablet_ids.get(p).and_then(|t| t.get(bucket)) else {
                    continue;
                };
                let (index_tablet, index_id) = (*index_tablet, index.index_id);
                let projected = project_index(index, &part)?;
                self.dispatch((tablet_id, Some((k, index_id, index_tablet))), projected)
                    .await?;
            }
            self.dispatch((tablet_id, None), part).await?;
        }
        Ok(())
    }

    /// Hands one tablet's rows to every replica: this BE's store or a remote writer. The
    /// target is the base tablet, or the tablet of materialized index `k` (id, tablet)
    /// next to it.
    async fn dispatch(
        &mut self,
        (base_tablet, index): (i64, Option<(usize, i64, i64)>),
        part: RecordBatch,
    ) -> Result<()> {
        let backends = self.replicas.get(&base_tablet).cloned().unwrap_or_default();
        let tablet_id = index.map_or(base_tablet, |(_, _, t)| t);
        let backends = if backends.is_empty() {
            // A write plan without placement (older FE): the tablet is local.
            vec![self.local_backend.unwrap_or_default()]
        } else {
            backends
        };
        for backend_id in backends {
            if backends_is_local(self.local_backend, backend_id) {
                let store = match index {
                    Some((k, _, _)) => self.index_stores.get_mut(k).ok_or_else(|| {
                        DataFusionError::Internal(format!("no store for index #{k}"))
                    })?,
                    None => &mut self.store,
                };
                store.add(tablet_id, part.clone()).await?;
            } else {
                let index_id = index.map_or(0, |(_, id, _)| id);
                self.remote(backend_id, index_id)?
                    .send(tablet_id, &part)
                    .await?;
            }
        }
        Ok(())
    }

    /// The writer into `backend_id`'s tablets of index `index_id` (0: the base), opened on
    /// first use.
    fn remote(&mut self, backend_id: i64, index_id: i64) -> Result<&mut RemoteTablets> {
        let key = (backend_id, index_id);
        if !self.remotes.contains_key(&key) {
            let endpoint = self
                .spec
                .backends
                .iter()
                .find(|e| e.backend_id == backend_id)
                .cloned()
                .ok_or_else(|| {
                    DataFusionError::Execution(format!(
                        "backend {backend_id} of a target tablet is not alive"
                    ))
                })?;
            let spec_json = serde_json::to_string(&self.spec)
                .map_err(|e| DataFusionError::Internal(format!("cannot encode write plan: {e}")))?;
            let schema = match self.spec.indexes.iter().find(|i| i.index_id == index_id) {
                Some(index) => index_schema(index),
                None => Arc::clone(&self.schema),
            };
            let remote =
                RemoteTablets::open(&self.channels, endpoint, (spec_json, index_id), &schema)?;
            self.remotes.insert(key, remote);
        }
        self.remotes
            .get_mut(&key)
            .ok_or_else(|| DataFusionError::Internal("remote writer vanished".into()))
    }

    /// Writes out every buffer here and on the other backends, and records the pending
    /// rowsets everywhere; returns the rows written (each counted once, not per replica).
    pub(crate) async fn finish(&mut self) -> Result<u64> {
        let remotes = self.remotes.drain().map(|(_, r)| r.finish());
        let (remote, local) =
            futures::future::join(futures::future::join_all(remotes), self.store.finish()).await;
        for r in remote {
            r?;
        }
        local?;
        for store in self.index_stores.iter_mut() {
            store.finish().await?;
        }
        Ok(self.rows)
    }

    /// Removes what was written (the load failed); remote writers discard theirs when
    /// their stream ends without its end mark.
    pub(crate) async fn discard(&mut self) {
        self.remotes.clear();
        self.store.discard().await;
        for store in self.index_stores.iter_mut() {
            store.discard().await;
        }
    }
}

fn backends_is_local(local: Option<i64>, backend_id: i64) -> bool {
    local.is_none_or(|l| l == backend_id)
}

/// A materialized index's rows of `part` (rows of the table): its columns taken from the
/// table's and cast to their stored types.
fn project_index(index: &SinkIndex, part: &RecordBatch) -> Result<RecordBatch> {
    let schema = index_schema(index);
    let columns = index
        .sources
        .iter()
        .zip(schema.fields())
        .enumerate()
        .map(
            |(i, (source, field))| match source.and_then(|s| part.columns().get(s)) {
                Some(column) => Ok(cast(column, field.data_type())?),
                None => {
                    let fill = index.fills.get(i).cloned().flatten();
                    let spec =
                        ColumnSpec::new(field.name(), field.data_type().clone(), fill.as_deref());
                    Ok(spec.fill.to_array_of_size(part.num_rows())?)
                }
            },
        )
        .collect::<Result<Vec<_>>>()?;
    Ok(RecordBatch::try_new(schema, columns)?)
}

/// A stream of one load's rows to the tablets of another backend (`TabletWrite`).
struct RemoteTablets {
    endpoint: ExchangeEndpoint,
    schema: SchemaRef,
    tx: mpsc::Sender<TabletWriteRequest>,
    call: WriteCall,
}

type WriteCall =
    AbortOnDrop<std::result::Result<tonic::Response<TabletWriteResponse>, tonic::Status>>;

impl RemoteTablets {
    fn open(
        channels: &Channels,
        endpoint: ExchangeEndpoint,
        (spec_json, index_id): (String, i64),
        schema: &SchemaRef,
    ) -> Result<Self> {
        let mut client = channels
            .internal(&endpoint.host, endpoint.port)
            .map_err(DataFusionError::Execution)?;
        let (tx, rx) = mpsc::channel(4);
        // The first message names the load; it cannot fail: the channel is empty.
        let _ = tx.try_send(TabletWriteRequest {
            sink_spec_json: spec_json,
            index_id,
            ..Default::default()
        });
        let call =
            AbortOnDrop::spawn(async move { client.tablet_write(ReceiverStream::new(rx)).await });
        Ok(Self {
            endpoint,
            schema: Arc::clone(schema),
            tx,
            call,
        })
    }

    async fn send(&mut self, tablet_id: i64, batch: &RecordBatch) -> Result<()> {
        let ipc = doris_common::ipc::encode(&self.schema, Some(batch))?;
        let msg = TabletWriteRequest {
            tablet_id,
            ipc,
            ..Default::default()
        };
        if self.tx.send(msg).await.is_err() {
            // The call ended early; its result (reported by `finish`) says why.
            return Err(self.error("the backend stopped reading"));
        }
        Ok(())
    }

    fn error(&self, message: &str) -> DataFusionError {
        DataFusionError::Execution(format!(
            "writing tablets on backend {} failed: {message}",
            self.endpoint
        ))
    }

    /// Sends the end mark and waits until the backend recorded its pending rowsets.
    async fn finish(self) -> Result<()> {
        let eos = TabletWriteRequest {
            eos: true,
            ..Default::default()
        };
        let sent = self.tx.send(eos).await.is_ok();
        let Self {
            endpoint, tx, call, ..
        } = self;
        drop(tx);
        let message = match call.join().await {
            Ok(Ok(_)) if sent => return Ok(()),
            Ok(Ok(_)) => "the backend stopped reading".to_string(),
            Ok(Err(status)) => status.message().to_string(),
            Err(e) => e.to_string(),
        };
        Err(DataFusionError::Execution(format!(
            "writing tablets on backend {endpoint} failed: {message}"
        )))
    }
}
