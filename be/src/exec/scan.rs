//! Reading tablets: turns a [`ScanSpec`] into DataFusion's Parquet scan over the segment
//! files visible at each tablet's version, with projection, predicate pushdown (row-group
//! zone maps, page index, late materialization) and limit. Entry: [`scan_node`].
//!
//! For the input of an AGGREGATE KEY merge ([`ScanSpec::merge_order`]) each file also
//! yields its rowset version and segment number as constant partition columns and each
//! row its position in the file (Parquet's row-number virtual column), see
//! [`doris_common::fragment::merge_order_fields`].

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::BooleanArray;
use datafusion::arrow::compute::filter_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::datasource::listing::PartitionedFile;
use datafusion::datasource::physical_plan::parquet::ParquetRowSelection;
use datafusion::datasource::physical_plan::{FileGroup, FileScanConfigBuilder, ParquetSource};
use datafusion::datasource::source::DataSourceExec;
use datafusion::datasource::table_schema::TableSchema;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::ObjectStoreUrl;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::Operator;
use datafusion::parquet::arrow::arrow_reader::{RowSelection, RowSelector};
use datafusion::physical_expr::split_conjunction;
use datafusion::physical_expr_adapter::{
    DefaultPhysicalExprAdapterFactory, PhysicalExprAdapter, PhysicalExprAdapterFactory,
};
use datafusion::physical_plan::expressions::{BinaryExpr, Column, InListExpr, Literal};
use datafusion::physical_plan::metrics::{BaselineMetrics, ExecutionPlanMetricsSet, MetricsSet};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, Partitioning, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream,
};
use datafusion::scalar::ScalarValue;
use doris_common::fragment::{merge_order_fields, plain_properties, ScanSpec};
use futures::StreamExt;
use roaring::RoaringBitmap;

use crate::storage::segment_cache::{ColumnSpec, SegmentCache};
use crate::storage::tablet::SegmentFile;
use crate::storage::StorageEngine;

/// A node reading `spec`'s tablets from this BE's storage: `spec.output_partitions`
/// partitions of the projected scan schema. With the segment cache on, scans read decoded
/// columns from it (the predicate is applied by the filter the FE keeps above every scan);
/// scans that need Parquet's row numbers (aggregate-model merges) read the files.
pub fn scan_node(
    engine: &StorageEngine,
    cache: &Arc<SegmentCache>,
    spec: ScanSpec,
    table_schema: SchemaRef,
    predicate: Option<Arc<dyn PhysicalExpr>>,
) -> Result<Arc<dyn ExecutionPlan>> {
    let partitions = spec.output_partitions.max(1);
    let columns: Vec<usize> = match &spec.projection {
        Some(p) => p.clone(),
        None => (0..table_schema.fields().len()).collect(),
    };
    let segments = segment_groups(engine, &spec, partitions)?;
    let selective = predicate
        .as_ref()
        .is_some_and(|p| index_selective(engine, &spec, &table_schema, p));
    let fill = |i: usize| spec.fill_values.get(i).cloned().flatten();
    if cache.enabled() && !spec.merge_order && !columns.is_empty() && !selective {
        let groups = segments
            .into_iter()
            .map(|g| {
                g.into_iter()
                    .map(|seg| (seg.path, seg.num_rows, seg.deleted))
                    .collect()
            })
            .collect();
        let specs = columns
            .iter()
            .map(|&i| {
                let f = table_schema.field(i);
                ColumnSpec::new(f.name(), f.data_type().clone(), fill(i).as_deref())
            })
            .collect();
        let schema = Arc::new(table_schema.project(&columns)?);
        return Ok(Arc::new(CachedScanExec::new(
            groups,
            specs,
            schema,
            Arc::clone(cache),
            spec.limit,
        )));
    }
    // Columns segments may lack (added by a light schema change) read as their fill value.
    let fills: HashMap<String, ScalarValue> = table_schema
        .fields()
        .iter()
        .enumerate()
        .filter_map(|(i, f)| {
            let text = fill(i)?;
            Some((
                f.name().clone(),
                ColumnSpec::new(f.name(), f.data_type().clone(), Some(&text)).fill,
            ))
        })
        .collect();
    let groups = segments.into_iter().map(|group| {
        let files = group.into_iter().map(|seg| {
            let mut file = PartitionedFile::new(seg.path.to_string_lossy().into_owned(), seg.size);
            if let Some(deleted) = &seg.deleted {
                file =
                    file.with_extension(ParquetRowSelection::new(kept_rows(deleted, seg.num_rows)));
            }
            if spec.merge_order {
                file.with_partition_values(vec![
                    ScalarValue::Int64(Some(seg.version)),
                    ScalarValue::Int64(Some(seg.ordinal as i64)),
                ])
            } else {
                file
            }
        });
        FileGroup::new(files.collect())
    });
    let schema = if spec.merge_order {
        let [version, segment, row] = <[_; 3]>::try_from(merge_order_fields())
            .map_err(|_| DataFusionError::Internal("three merge order fields".into()))?;
        TableSchema::builder(Arc::clone(&table_schema))
            .with_table_partition_cols(vec![version, segment])
            .with_virtual_columns(vec![row])
            .build()
    } else {
        TableSchema::from(&table_schema)
    };
    let mut source = ParquetSource::new(schema)
        .with_enable_page_index(true)
        .with_pushdown_filters(true);
    if let Some(p) = predicate {
        source = source.with_predicate(p);
    }
    let mut builder =
        FileScanConfigBuilder::new(ObjectStoreUrl::local_filesystem(), Arc::new(source))
            .with_file_groups(groups.collect())
            .with_projection_indices(spec.projection.clone())?
            .with_limit(spec.limit);
    if !fills.is_empty() {
        builder = builder.with_expr_adapter(Some(Arc::new(FillAdapterFactory { fills })));
    }
    if spec.bucket_group.is_some() {
        // Each partition must read exactly its buckets: declaring the partitioning stops
        // DataFusion's idle partitions from taking files of their siblings.
        builder =
            builder.with_output_partitioning(Some(Partitioning::UnknownPartitioning(partitions)));
    }
    let config = builder.build();
    Ok(DataSourceExec::from_data_source(config))
}

/// Whether the segments' own indexes narrow a scan under `predicate`: a comparison or
/// IN list on the first sort-key column (segments are sorted by it, so row-group and page
/// zone maps skip nearly everything else) or `=` / IN on a bloom-filter column. Such a
/// scan reads the files selectively instead of whole columns from the cache.
fn index_selective(
    engine: &StorageEngine,
    spec: &ScanSpec,
    table_schema: &SchemaRef,
    predicate: &Arc<dyn PhysicalExpr>,
) -> bool {
    let Some(meta) = spec
        .tablets
        .first()
        .and_then(|t| engine.tablet(t.tablet_id).ok())
        .map(|t| t.meta.read().clone())
    else {
        return false;
    };
    let first_key = meta.key_columns().first().copied();
    let bloom: Vec<usize> = meta
        .bloom_filter_columns
        .iter()
        .filter_map(|c| table_schema.index_of(c).ok())
        .collect();
    let column = |e: &Arc<dyn PhysicalExpr>| e.downcast_ref::<Column>().map(|c| c.index());
    let literal = |e: &Arc<dyn PhysicalExpr>| e.downcast_ref::<Literal>().is_some();
    split_conjunction(predicate).into_iter().any(|c| {
        if let Some(b) = c.downcast_ref::<BinaryExpr>() {
            let col = match (column(b.left()), column(b.right())) {
                (Some(i), None) if literal(b.right()) => i,
                (None, Some(i)) if literal(b.left()) => i,
                _ => return false,
            };
            return match b.op() {
                Operator::Eq => Some(col) == first_key || bloom.contains(&col),
                Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                    Some(col) == first_key
                }
                _ => false,
            };
        }
        if let Some(list) = c.downcast_ref::<InListExpr>() {
            return !list.negated()
                && column(list.expr()).is_some_and(|i| Some(i) == first_key || bloom.contains(&i));
        }
        false
    })
}

/// The visible segment files of `spec`'s tablets, spread over `partitions` partitions:
/// round-robin, or each tablet where a bucket-aligned scan's planner put it.
fn segment_groups(
    engine: &StorageEngine,
    spec: &ScanSpec,
    partitions: usize,
) -> Result<Vec<Vec<SegmentFile>>> {
    let mut groups: Vec<Vec<SegmentFile>> = vec![Vec::new(); partitions];
    let mut next = 0usize;
    for read in &spec.tablets {
        for seg in engine.tablet(read.tablet_id)?.segments_at(read.version)? {
            groups[read.partition.unwrap_or(next) % partitions].push(seg);
            next += 1;
        }
    }
    Ok(groups)
}

/// The rows of a segment of `num_rows` rows that are not in `deleted`, as a Parquet row
/// selection.
fn kept_rows(deleted: &RoaringBitmap, num_rows: u64) -> RowSelection {
    let mut selectors = Vec::new();
    let mut next = 0u64;
    for row in deleted.iter().map(u64::from).take_while(|&r| r < num_rows) {
        if row > next {
            selectors.push(RowSelector::select((row - next) as usize));
        }
        selectors.push(RowSelector::skip(1));
        next = row + 1;
    }
    if next < num_rows {
        selectors.push(RowSelector::select((num_rows - next) as usize));
    }
    RowSelection::from(selectors)
}

/// `batch`, the rows `offset..offset + batch.num_rows()` of a segment, without the rows in
/// `deleted`.
fn drop_deleted(batch: RecordBatch, offset: u64, deleted: &RoaringBitmap) -> Result<RecordBatch> {
    let n = batch.num_rows() as u64;
    let (start, end) = (offset as u32, (offset + n) as u32);
    if deleted.range_cardinality(start..end) == 0 {
        return Ok(batch);
    }
    let keep: BooleanArray = (start..end).map(|r| Some(!deleted.contains(r))).collect();
    Ok(filter_record_batch(&batch, &keep)?)
}

/// A segment file to read from the cache, its row count and its rows to skip.
type CachedSegment = (PathBuf, u64, Option<Arc<RoaringBitmap>>);

/// Adapts a scan's expressions to a segment file: a column the file lacks (added by a
/// light schema change) becomes its fill value; the rest is DataFusion's default
/// adaptation (casts, NULL for other missing columns).
#[derive(Debug)]
struct FillAdapterFactory {
    fills: HashMap<String, ScalarValue>,
}

impl PhysicalExprAdapterFactory for FillAdapterFactory {
    fn create(
        &self,
        logical_file_schema: SchemaRef,
        physical_file_schema: SchemaRef,
    ) -> Result<Arc<dyn PhysicalExprAdapter>> {
        let missing: HashMap<String, ScalarValue> = self
            .fills
            .iter()
            .filter(|(name, _)| physical_file_schema.index_of(name).is_err())
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect();
        let inner =
            DefaultPhysicalExprAdapterFactory.create(logical_file_schema, physical_file_schema)?;
        Ok(Arc::new(FillAdapter { missing, inner }))
    }
}

#[derive(Debug)]
struct FillAdapter {
    missing: HashMap<String, ScalarValue>,
    inner: Arc<dyn PhysicalExprAdapter>,
}

impl PhysicalExprAdapter for FillAdapter {
    fn rewrite(&self, expr: Arc<dyn PhysicalExpr>) -> Result<Arc<dyn PhysicalExpr>> {
        let filled = expr
            .transform(|e| {
                let fill = e
                    .downcast_ref::<Column>()
                    .and_then(|c| self.missing.get(c.name()));
                Ok(match fill {
                    Some(v) => Transformed::yes(Arc::new(Literal::new(v.clone())) as _),
                    None => Transformed::no(e),
                })
            })?
            .data;
        self.inner.rewrite(filled)
    }
}

/// A scan served from the [`SegmentCache`]: each partition reads its segment files'
/// columns (decoding and caching those not cached yet on a blocking thread).
#[derive(Debug)]
struct CachedScanExec {
    groups: Vec<Vec<CachedSegment>>,
    /// Columns to read, in output order.
    columns: Vec<ColumnSpec>,
    cache: Arc<SegmentCache>,
    limit: Option<usize>,
    properties: Arc<PlanProperties>,
    metrics: ExecutionPlanMetricsSet,
}

impl CachedScanExec {
    fn new(
        groups: Vec<Vec<CachedSegment>>,
        columns: Vec<ColumnSpec>,
        schema: SchemaRef,
        cache: Arc<SegmentCache>,
        limit: Option<usize>,
    ) -> Self {
        let properties = plain_properties(schema, groups.len());
        Self {
            groups,
            columns,
            cache,
            limit,
            properties,
            metrics: ExecutionPlanMetricsSet::new(),
        }
    }
}

impl DisplayAs for CachedScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let files: usize = self.groups.iter().map(Vec::len).sum();
        write!(
            f,
            "CachedSegmentScan: {files} segment files, columns=[{}]",
            self.columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

impl ExecutionPlan for CachedScanExec {
    fn name(&self) -> &str {
        "CachedScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn metrics(&self) -> Option<MetricsSet> {
        Some(self.metrics.clone_inner())
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
        let files = self.groups.get(partition).cloned().unwrap_or_default();
        let schema = self.schema();
        let (cache, columns) = (Arc::clone(&self.cache), self.columns.clone());
        let metrics = BaselineMetrics::new(&self.metrics, partition);
        let batch_schema = Arc::clone(&schema);
        let segments = futures::stream::iter(files).then(move |(path, rows, deleted)| {
            let (cache, columns) = (Arc::clone(&cache), columns.clone());
            async move {
                let columns =
                    tokio::task::spawn_blocking(move || cache.read(&path, rows as usize, &columns))
                        .await
                        .map_err(|e| {
                            DataFusionError::Execution(format!("segment read failed: {e}"))
                        })??;
                Ok::<_, DataFusionError>((columns, deleted))
            }
        });
        let batches = segments.flat_map(move |segment| {
            let out: Vec<Result<RecordBatch>> = match segment {
                Err(e) => vec![Err(e)],
                Ok((cols, deleted)) => {
                    let chunks = cols.first().map_or(0, |c| c.len());
                    let mut offset = 0u64;
                    (0..chunks)
                        .map(|i| {
                            let arrays = cols.iter().map(|c| Arc::clone(&c[i])).collect();
                            let batch = RecordBatch::try_new(Arc::clone(&batch_schema), arrays)?;
                            let start = offset;
                            offset += batch.num_rows() as u64;
                            match &deleted {
                                Some(d) => drop_deleted(batch, start, d),
                                None => Ok(batch),
                            }
                        })
                        .collect()
                }
            };
            futures::stream::iter(out)
        });
        // At most `limit` rows: the last batch is cut, then the stream ends.
        let limited = batches
            .scan(self.limit.unwrap_or(usize::MAX), |remaining, b| {
                let out = match b {
                    _ if *remaining == 0 => None,
                    Ok(b) => {
                        let b = b.slice(0, b.num_rows().min(*remaining));
                        *remaining -= b.num_rows();
                        Some(Ok(b))
                    }
                    Err(e) => Some(Err(e)),
                };
                futures::future::ready(out)
            })
            .map(move |b| {
                if let Ok(b) = &b {
                    metrics.record_output(b.num_rows());
                }
                b
            });
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, limited)))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use datafusion::arrow::array::{Array, AsArray, Int32Array, RecordBatch};
    use datafusion::arrow::datatypes::{DataType, Field, Int32Type, Int64Type, Schema};
    use datafusion::logical_expr::Operator;
    use datafusion::physical_plan::collect;
    use datafusion::physical_plan::expressions::{BinaryExpr, Column, Literal};
    use datafusion::prelude::SessionContext;
    use doris_common::fragment::TabletRead;
    use doris_common::types::ColumnType;

    use super::*;
    use crate::storage::segment::{sort_by_keys, write_segment};
    use crate::storage::tablet::{ColumnMeta, KeysType, RowsetMeta, SegmentMeta, TabletMeta};
    use crate::storage::SegmentOptions;

    const TABLET: i64 = 7;

    fn schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, false),
            Field::new("v", DataType::Int32, false),
        ]))
    }

    /// Publishes one rowset at `version` whose segments hold `segments` (k, v) rows each,
    /// sorted by k as the writer does.
    fn load(engine: &StorageEngine, txn_id: i64, version: i64, segments: &[&[(i32, i32)]]) {
        let dir = engine.tablet_dir(TABLET);
        let rowset_id = StorageEngine::new_rowset_id();
        let mut metas = Vec::new();
        for (i, rows) in segments.iter().enumerate() {
            let batch = RecordBatch::try_new(
                schema(),
                vec![
                    Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.0))),
                    Arc::new(Int32Array::from_iter_values(rows.iter().map(|r| r.1))),
                ],
            )
            .expect("batch");
            let sorted = sort_by_keys(&schema(), &[batch], &[0]).expect("sort");
            let file = format!("{rowset_id}_{i}.dat");
            let opts = SegmentOptions::from_name("none").expect("opts");
            let size = write_segment(&dir.join(&file), &sorted, &opts, &Default::default())
                .expect("write");
            metas.push(SegmentMeta {
                file,
                num_rows: rows.len() as u64,
                size,
                columns: Vec::new(),
            });
        }
        let rowset = RowsetMeta {
            rowset_id,
            tablet_id: TABLET,
            txn_id,
            start_version: 0,
            end_version: 0,
            num_rows: metas.iter().map(|s| s.num_rows).sum(),
            data_size: metas.iter().map(|s| s.size).sum(),
            segments: metas,
            creation_time_ms: 0,
            delete_predicate: None,
            partial_columns: None,
        };
        engine.add_pending_rowsets(&[rowset]).expect("pending");
        let missing = engine
            .publish(txn_id, &HashMap::from([(TABLET, version)]))
            .expect("publish");
        assert!(missing.is_empty());
    }

    /// An engine in `dir` with tablet [`TABLET`] `(k INT, v INT)` keyed on k.
    fn engine_with_tablet(
        dir: &std::path::Path,
        keys_type: KeysType,
        merge_on_write: bool,
    ) -> Arc<StorageEngine> {
        engine_with(dir, keys_type, merge_on_write, None)
    }

    /// [`engine_with_tablet`] whose value column merges with `aggregation`.
    fn engine_with(
        dir: &std::path::Path,
        keys_type: KeysType,
        merge_on_write: bool,
        aggregation: Option<&str>,
    ) -> Arc<StorageEngine> {
        let engine = Arc::new(
            StorageEngine::open(
                dir,
                SegmentOptions::from_name("none").expect("opts"),
                (1000, 1 << 30),
                3600,
            )
            .expect("engine"),
        );
        let column = |name: &str, is_key| ColumnMeta {
            name: name.into(),
            column_type: ColumnType::Int,
            nullable: false,
            is_key,
            aggregation: (!is_key).then(|| aggregation.map(str::to_string)).flatten(),
            fill_value: None,
        };
        engine
            .create_tablet(TabletMeta {
                tablet_id: TABLET,
                table_id: 1,
                partition_id: 2,
                index_id: 3,
                replica_id: 4,
                keys_type,
                columns: vec![column("k", true), column("v", false)],
                schema_version: 0,
                max_version: 1,
                creation_time_ms: 0,
                merge_on_write,
                cumulative_point: 0,
                bloom_filter_columns: Vec::new(),
                bloom_filter_fpp: None,
            })
            .expect("tablet");
        engine
    }

    fn spec(version: i64, merge_order: bool) -> ScanSpec {
        ScanSpec {
            db: "db".into(),
            table: "t".into(),
            table_id: 1,
            tablets: vec![TabletRead {
                tablet_id: TABLET,
                version,
                backends: vec![1],
                bucket: 0,
                partition: None,
            }],
            total_tablets: 1,
            selected_partitions: 1,
            total_partitions: 1,
            projection: None,
            limit: None,
            output_partitions: 2,
            rows: None,
            distribution: vec![0],
            buckets: 1,
            colocate_group: None,
            bucket_group: None,
            merge_order,
            fill_values: Vec::new(),
        }
    }

    /// A merge-on-write tablet yields only the newest row of each key: within a segment,
    /// across the segments of a load and across loads, read from the cache or the files,
    /// and a read at an older version sees the rows as they were then.
    #[tokio::test]
    async fn merge_on_write_reads_the_newest_row_of_each_key() {
        let dir = tempfile::tempdir().expect("tmp");
        let engine = engine_with_tablet(dir.path(), KeysType::Unique, true);
        load(
            &engine,
            100,
            2,
            &[&[(1, 10), (2, 20), (2, 21)], &[(3, 30), (1, 11)]],
        );
        load(&engine, 101, 3, &[&[(2, 22), (4, 40)]]);
        for cache_size in [0, 1 << 20] {
            let cache = Arc::new(SegmentCache::new(cache_size));
            for (version, expected) in [
                (2, vec![(1, 11), (2, 21), (3, 30)]),
                (3, vec![(1, 11), (2, 22), (3, 30), (4, 40)]),
            ] {
                let rows = rows_at(&engine, &cache, version).await;
                assert_eq!(rows, expected, "version {version}, cache {cache_size}");
            }
        }
        // The bitmaps survive a restart.
        drop(engine);
        let engine = engine_with_tablet(dir.path(), KeysType::Unique, true);
        let segments = engine
            .tablet(TABLET)
            .expect("tablet")
            .segments_at(3)
            .expect("segments");
        let deleted: u64 = segments
            .iter()
            .filter_map(|s| s.deleted.as_ref())
            .map(|d| d.len())
            .sum();
        assert_eq!(deleted, 3);
    }

    /// Every row of [`TABLET`] at `version`, sorted.
    async fn rows_at(
        engine: &StorageEngine,
        cache: &Arc<SegmentCache>,
        version: i64,
    ) -> Vec<(i32, i32)> {
        let plan = scan_node(engine, cache, spec(version, false), schema(), None).expect("scan");
        let batches = collect(plan, SessionContext::new().task_ctx())
            .await
            .expect("collect");
        let mut rows: Vec<(i32, i32)> = Vec::new();
        for b in &batches {
            let int = |c: usize| b.column(c).as_primitive::<Int32Type>().clone();
            let (k, v) = (int(0), int(1));
            rows.extend((0..b.num_rows()).map(|i| (k.value(i), v.value(i))));
        }
        rows.sort_unstable();
        rows
    }

    /// A DELETE's predicate removes the rows of older versions it matches, not those of
    /// later loads, and not from reads at versions before it.
    #[tokio::test]
    async fn delete_predicate_removes_older_matching_rows() {
        let dir = tempfile::tempdir().expect("tmp");
        let engine = engine_with_tablet(dir.path(), KeysType::Duplicate, false);
        load(&engine, 100, 2, &[&[(1, 10), (2, 20), (1, 12)]]);
        assert!(engine.add_delete(101, &[TABLET], "\"nope\" = 1").is_err());
        engine
            .add_delete(101, &[TABLET], "\"k\" = 1 AND v >= 10")
            .expect("delete");
        engine
            .publish(101, &HashMap::from([(TABLET, 3)]))
            .expect("publish");
        load(&engine, 102, 4, &[&[(1, 13)]]);
        let cache = Arc::new(SegmentCache::new(1 << 20));
        assert_eq!(
            rows_at(&engine, &cache, 2).await,
            [(1, 10), (1, 12), (2, 20)]
        );
        assert_eq!(rows_at(&engine, &cache, 3).await, [(2, 20)]);
        assert_eq!(rows_at(&engine, &cache, 4).await, [(1, 13), (2, 20)]);
    }

    /// Compactions never change an answer: at the newest version, and at older ones (read
    /// from the replaced rowsets) until they are swept, after which such a read fails.
    #[tokio::test]
    async fn compaction_keeps_every_answer() {
        use crate::storage::compaction::CompactionKind;
        let dir = tempfile::tempdir().expect("tmp");
        let engine = engine_with_tablet(dir.path(), KeysType::Duplicate, false);
        for v in 2..8 {
            load(
                &engine,
                100 + v,
                v,
                &[&[(v as i32, v as i32), (1, v as i32)]],
            );
        }
        engine
            .add_delete(200, &[TABLET], "v = 3 OR k = 4")
            .expect("delete");
        engine
            .publish(200, &HashMap::from([(TABLET, 8)]))
            .expect("publish");
        let cache = Arc::new(SegmentCache::new(1 << 20));
        let before: Vec<Vec<(i32, i32)>> = {
            let mut out = Vec::new();
            for v in 2..=8 {
                out.push(rows_at(&engine, &cache, v).await);
            }
            out
        };
        let outcome = engine
            .compact(TABLET, CompactionKind::Cumulative)
            .expect("compact")
            .expect("work");
        assert_eq!(outcome.input_rowsets, 7);
        assert_eq!(outcome.versions, (2, 8));
        // 12 rows loaded, 3 deleted (k = 4, and v = 3 twice)
        assert_eq!((outcome.input_rows, outcome.output_rows), (12, 9));
        let tablet = engine.tablet(TABLET).expect("tablet");
        assert_eq!(tablet.rowset_count(), 1);
        for (i, v) in (2..=8).enumerate() {
            assert_eq!(rows_at(&engine, &cache, v).await, before[i], "version {v}");
        }
        // A later load on top, then a full compaction over the compacted rowset.
        load(&engine, 300, 9, &[&[(9, 9)]]);
        engine
            .compact(TABLET, CompactionKind::Full)
            .expect("full")
            .expect("work");
        let mut expected = before[6].clone();
        expected.push((9, 9));
        expected.sort_unstable();
        assert_eq!(rows_at(&engine, &cache, 9).await, expected);
        // Replaced rowsets go once their keep time passed; older versions are gone then.
        let mut engine = Arc::into_inner(engine).expect("sole owner");
        engine.compaction.stale_sweep_sec = 0;
        engine.sweep_stale();
        assert!(tablet.stale.read().is_empty());
        let err = tablet.segments_at(5).expect_err("merged");
        assert!(err.to_string().contains("E-230"), "{err}");
        // The compacted tablet survives a restart.
        drop(tablet);
        drop(engine);
        let engine = engine_with_tablet(dir.path(), KeysType::Duplicate, false);
        assert_eq!(rows_at(&engine, &cache, 9).await, expected);
    }

    /// AGGREGATE KEY compaction merges equal keys with the column's aggregation.
    #[tokio::test]
    async fn compaction_merges_aggregate_keys() {
        use crate::storage::compaction::CompactionKind;
        for (aggregation, expected) in [
            ("SUM", [(1, 16), (2, 2)]),
            ("MAX", [(1, 10), (2, 2)]),
            ("MIN", [(1, 1), (2, 2)]),
            ("REPLACE", [(1, 10), (2, 2)]),
        ] {
            let dir = tempfile::tempdir().expect("tmp");
            let engine = engine_with(dir.path(), KeysType::Aggregate, false, Some(aggregation));
            load(&engine, 100, 2, &[&[(1, 1), (2, 2), (1, 5)]]);
            load(&engine, 101, 3, &[&[(1, 10)]]);
            engine
                .compact(TABLET, CompactionKind::Full)
                .expect("compact")
                .expect("work");
            let cache = Arc::new(SegmentCache::new(0));
            assert_eq!(rows_at(&engine, &cache, 3).await, expected, "{aggregation}");
        }
    }

    /// Merge-on-write: marks a load puts on a compaction's inputs while it merges move to
    /// the output's rows.
    #[tokio::test]
    async fn merge_on_write_marks_made_during_compaction_carry_over() {
        use crate::storage::compaction::{self, CompactionKind};
        let dir = tempfile::tempdir().expect("tmp");
        let engine = engine_with_tablet(dir.path(), KeysType::Unique, true);
        load(&engine, 100, 2, &[&[(1, 10), (2, 20)]]);
        load(&engine, 101, 3, &[&[(2, 21), (3, 30)]]);
        let tablet = engine.tablet(TABLET).expect("tablet");
        let plan =
            compaction::pick(&tablet, CompactionKind::Full, &engine.compaction).expect("plan");
        let merged = compaction::merge(&tablet, &plan.inputs, true).expect("merge");
        assert_eq!(merged.batch.num_rows(), 3);
        // A load publishes while the compaction is still writing.
        load(&engine, 102, 4, &[&[(1, 11)]]);
        let rowset_id = StorageEngine::new_rowset_id();
        let segments = compaction::write_output(
            &tablet,
            &rowset_id,
            &merged.batch,
            2,
            &SegmentOptions::from_name("none").expect("opts"),
        )
        .expect("write");
        let output = RowsetMeta {
            rowset_id,
            tablet_id: TABLET,
            txn_id: 0,
            start_version: 2,
            end_version: 3,
            num_rows: 3,
            data_size: segments.iter().map(|s| s.size).sum(),
            segments,
            creation_time_ms: 0,
            delete_predicate: None,
            partial_columns: None,
        };
        assert!(engine
            .commit_compaction(&tablet, &plan, &output, &merged, 2)
            .expect("commit"));
        let cache = Arc::new(SegmentCache::new(0));
        assert_eq!(
            rows_at(&engine, &cache, 4).await,
            [(1, 11), (2, 21), (3, 30)]
        );
        assert_eq!(
            rows_at(&engine, &cache, 3).await,
            [(1, 10), (2, 21), (3, 30)]
        );
        // A newer load finds its keys in the compacted rowset.
        load(&engine, 103, 5, &[&[(3, 31)]]);
        assert_eq!(
            rows_at(&engine, &cache, 5).await,
            [(1, 11), (2, 21), (3, 31)]
        );
    }

    /// A merge-input scan tells every row's version, segment and position in its file, also
    /// when a pushed-down predicate skips rows and files are spread over partitions.
    #[tokio::test]
    async fn merge_order_columns_locate_each_row() {
        let dir = tempfile::tempdir().expect("tmp");
        let engine = engine_with_tablet(dir.path(), KeysType::Aggregate, false);
        // Version 2 in two segments: [2, 1, 2] sorts to [1, 2(10), 2(12)]; then [1, 2].
        load(
            &engine,
            100,
            2,
            &[&[(2, 10), (1, 11), (2, 12)], &[(1, 13), (2, 14)]],
        );
        load(&engine, 101, 3, &[&[(3, 30), (2, 20)]]);
        let spec = spec(3, true);
        let predicate: Arc<dyn PhysicalExpr> = Arc::new(BinaryExpr::new(
            Arc::new(Column::new("k", 0)),
            Operator::Eq,
            Arc::new(Literal::new(ScalarValue::Int32(Some(2)))),
        ));
        let no_cache = Arc::new(SegmentCache::new(0));
        let plan = scan_node(&engine, &no_cache, spec, schema(), Some(predicate)).expect("scan");
        let names: Vec<String> = plan
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect();
        assert_eq!(
            names,
            [
                "k",
                "v",
                "__doris_version",
                "__doris_segment",
                "__doris_row"
            ]
        );
        let batches = collect(plan, SessionContext::new().task_ctx())
            .await
            .expect("collect");
        let mut rows: Vec<(i32, i32, i64, i64, i64)> = Vec::new();
        for b in &batches {
            for i in 0..b.num_rows() {
                let int = |c: usize| b.column(c).as_primitive::<Int32Type>().value(i);
                let long = |c: usize| b.column(c).as_primitive::<Int64Type>().value(i);
                assert!(b.column(4).is_valid(i));
                rows.push((int(0), int(1), long(2), long(3), long(4)));
            }
        }
        rows.sort_by_key(|r| (r.2, r.3, r.4));
        assert_eq!(
            rows,
            [
                (2, 10, 2, 0, 1),
                (2, 12, 2, 0, 2),
                (2, 14, 2, 1, 1),
                (2, 20, 3, 0, 0),
            ]
        );
    }
}
