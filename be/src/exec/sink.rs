//! Writing a load's rows into tablets: validates rows against the table schema, routes
//! them to their partition (by range or value list) and hashes them to a bucket of it,
//! buffers per tablet, and writes sorted segments; at the end records one pending rowset
//! per touched tablet. Entry: [`TabletSinkExec`] (built from a `SinkSpec`).

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, RecordBatch, UInt32Array, UInt64Array};
use datafusion::arrow::compute::{cast, take};
use datafusion::arrow::datatypes::{i256, DataType, Decimal256Type, Field, Schema, SchemaRef};
use datafusion::common::hash_utils::{create_hashes, RandomState};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    execute_stream, DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream,
};
use doris_common::fragment::{count_schema, plain_properties, SinkSpec};
use doris_common::partition::PartitionRouter;
use doris_common::types::ColumnType;
use futures::StreamExt;
use tracing::debug;

use crate::storage::tablet::{RowsetMeta, SegmentMeta};
use crate::storage::{now_ms, remove_segment_files, segment, StorageEngine};

/// Seed of the bucket hash; FE bucket pruning must use the same function.
pub const BUCKET_HASH_STATE: RandomState = RandomState::with_seed(0x646f_7269_735f_6273);

pub struct TabletSinkExec {
    engine: Arc<StorageEngine>,
    spec: SinkSpec,
    input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl TabletSinkExec {
    pub fn new(engine: Arc<StorageEngine>, spec: SinkSpec, input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            engine,
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
        let spec = self.spec.clone();
        let input = Arc::clone(&self.input);
        let fut = async move {
            let mut writer = TabletsWriter::try_new(engine, spec)?;
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

/// Rows buffered for one tablet and the segments already written for it.
#[derive(Default)]
struct TabletBuffer {
    batches: Vec<RecordBatch>,
    rows: usize,
    bytes: usize,
    segments: Vec<SegmentMeta>,
    /// Number of the next segment file (segments may still be in flight).
    next_segment: usize,
}

/// A segment being sorted and written on a blocking thread.
type FlushTask = tokio::task::JoinHandle<Result<(i64, SegmentMeta)>>;

pub(crate) struct TabletsWriter {
    engine: Arc<StorageEngine>,
    spec: SinkSpec,
    schema: SchemaRef,
    router: PartitionRouter,
    buffers: HashMap<i64, TabletBuffer>,
    rowset_ids: HashMap<i64, String>,
    rows: u64,
    /// Per partition: the bucket the next batch goes to under random distribution.
    round_robin: Vec<usize>,
    /// Bytes buffered across tablets.
    buffered_bytes: usize,
    /// At most one segment is written in the background while rows keep arriving.
    in_flight: Option<FlushTask>,
}

impl TabletsWriter {
    pub(crate) fn try_new(engine: Arc<StorageEngine>, spec: SinkSpec) -> Result<Self> {
        let schema = Arc::new(Schema::new(
            spec.columns
                .iter()
                .map(|c| Field::new(&c.name, c.column_type.to_arrow(), c.nullable))
                .collect::<Vec<_>>(),
        ));
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
        Ok(Self {
            engine,
            spec,
            schema,
            router,
            buffers: HashMap::new(),
            rowset_ids: HashMap::new(),
            rows: 0,
            round_robin,
            buffered_bytes: 0,
            in_flight: None,
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
    fn conform(&self, batch: RecordBatch) -> Result<RecordBatch> {
        if batch.num_columns() != self.spec.columns.len() {
            return Err(DataFusionError::Execution(format!(
                "insert produced {} columns, table `{}` has {}",
                batch.num_columns(),
                self.spec.table,
                self.spec.columns.len()
            )));
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(batch.num_columns());
        for (i, col) in self.spec.columns.iter().enumerate() {
            let mut array = Arc::clone(batch.column(i));
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
        let mut hashes = vec![0u64; batch.num_rows()];
        create_hashes(&arrays, &BUCKET_HASH_STATE, &mut hashes)?;
        Ok(Some(hashes))
    }

    /// Writes rows that must all have a partition: an INSERT fails on a row without one
    /// (Doris's strict insert), leaving nothing of the statement visible.
    pub(crate) async fn write(&mut self, batch: RecordBatch) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let batch = self.conform(batch)?;
        let routes = self.route(&batch)?;
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
        let mut rows_of: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
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
            rows_of.entry(tablets[bucket]).or_default().push(row as u32);
        }
        self.rows += batch.num_rows() as u64;
        for (tablet_id, rows) in rows_of {
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
            let bytes = part.get_array_memory_size();
            let buf = self.buffers.entry(tablet_id).or_default();
            buf.rows += part.num_rows();
            buf.bytes += bytes;
            buf.batches.push(part);
            self.buffered_bytes += bytes;
            if buf.rows >= self.engine.write_buffer_rows {
                self.flush(tablet_id).await?;
            }
        }
        // Bounded memory: past the byte budget, write out the largest buffer early.
        while self.buffered_bytes > self.engine.write_buffer_bytes {
            let largest = self
                .buffers
                .iter()
                .max_by_key(|(_, b)| b.bytes)
                .map(|(id, _)| *id);
            match largest {
                Some(id) if self.buffers.get(&id).is_some_and(|b| b.rows > 0) => {
                    self.flush(id).await?
                }
                _ => break,
            }
        }
        Ok(())
    }

    /// Starts sorting a tablet's buffered rows and writing them as one segment file on a
    /// blocking thread, after the previous such write finished (one in flight: the caller
    /// keeps converting rows meanwhile, and memory stays bounded).
    async fn flush(&mut self, tablet_id: i64) -> Result<()> {
        let Some(buf) = self.buffers.get_mut(&tablet_id) else {
            return Ok(());
        };
        if buf.rows == 0 {
            return Ok(());
        }
        let batches = std::mem::take(&mut buf.batches);
        buf.rows = 0;
        self.buffered_bytes = self.buffered_bytes.saturating_sub(buf.bytes);
        buf.bytes = 0;
        let seg_no = buf.next_segment;
        buf.next_segment += 1;
        let rowset_id = self
            .rowset_ids
            .entry(tablet_id)
            .or_insert_with(StorageEngine::new_rowset_id)
            .clone();
        let file = format!("{rowset_id}_{seg_no}.dat");
        let dir = self.engine.tablet_dir(tablet_id);
        let path = dir.join(&file);
        let schema = Arc::clone(&self.schema);
        let keys = self.spec.key_columns.clone();
        let options = self.engine.segment_options.clone();
        self.wait_flush().await?;
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let sorted = segment::sort_by_keys(&schema, &batches, &keys)?;
            drop(batches);
            let size = segment::write_segment(&path, &sorted, &options)?;
            let num_rows = sorted.num_rows() as u64;
            debug!(tablet_id, file, num_rows, size, "segment written");
            Ok((
                tablet_id,
                SegmentMeta {
                    file,
                    num_rows,
                    size,
                },
            ))
        }));
        Ok(())
    }

    /// Waits for the segment write in flight, if any, and records its segment.
    async fn wait_flush(&mut self) -> Result<()> {
        let Some(task) = self.in_flight.take() else {
            return Ok(());
        };
        let (tablet_id, segment) = task
            .await
            .map_err(|e| DataFusionError::Execution(format!("segment writer failed: {e}")))??;
        if let Some(buf) = self.buffers.get_mut(&tablet_id) {
            buf.segments.push(segment);
        }
        Ok(())
    }

    /// Flushes every tablet and records the pending rowsets; returns rows written.
    pub(crate) async fn finish(&mut self) -> Result<u64> {
        let ids: Vec<i64> = self.buffers.keys().copied().collect();
        for id in &ids {
            self.flush(*id).await?;
        }
        self.wait_flush().await?;
        let rowsets = self.rowsets();
        for dir in rowsets.iter().map(|r| self.engine.tablet_dir(r.tablet_id)) {
            // Make the new files' directory entries durable before recording them.
            if let Ok(d) = std::fs::File::open(&dir) {
                d.sync_all()?;
            }
        }
        self.engine.add_pending_rowsets(&rowsets)?;
        Ok(self.rows)
    }

    fn rowsets(&self) -> Vec<RowsetMeta> {
        let now = now_ms();
        self.buffers
            .iter()
            .filter(|(_, b)| !b.segments.is_empty())
            .filter_map(|(tablet_id, b)| {
                Some(RowsetMeta {
                    rowset_id: self.rowset_ids.get(tablet_id)?.clone(),
                    tablet_id: *tablet_id,
                    txn_id: self.spec.txn_id,
                    start_version: 0,
                    end_version: 0,
                    num_rows: b.segments.iter().map(|s| s.num_rows).sum(),
                    data_size: b.segments.iter().map(|s| s.size).sum(),
                    segments: b.segments.clone(),
                    creation_time_ms: now,
                })
            })
            .collect()
    }

    /// Removes the files written so far (the load failed), once a write in flight ended.
    pub(crate) async fn discard(&mut self) {
        // A failed write may leave a partial file: the orphan sweep at start removes files
        // no rowset references.
        if let Some(Ok(Ok((tablet_id, segment)))) = match self.in_flight.take() {
            Some(task) => Some(task.await),
            None => None,
        } {
            if let Some(buf) = self.buffers.get_mut(&tablet_id) {
                buf.segments.push(segment);
            }
        }
        for r in self.rowsets() {
            remove_segment_files(&self.engine.tablet_dir(r.tablet_id), &r);
        }
    }
}
