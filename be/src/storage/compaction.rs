//! Compaction: merging a tablet's rowsets so reads stay fast however many loads arrive.
//!
//! * **Policy** ([`pick`]). Rowsets from the tablet's cumulative point on form the
//!   cumulative layer: once it holds `cumulative_compaction_min_deltas` rowsets, cumulative
//!   compaction merges them (at most `cumulative_compaction_max_deltas`), leaving out a
//!   leading rowset much larger than the rest (so big outputs are not rewritten for every
//!   few small loads). An output larger than the promotion size moves the cumulative
//!   point past it, into the base layer. Base compaction merges the base layer once it has
//!   `base_compaction_min_rowset_num` rowsets, or when the rowsets after the first hold at
//!   least `base_compaction_min_data_ratio` of its size. Full compaction merges everything.
//! * **Merge** ([`merge`]). The inputs' rows minus those their delete bitmaps remove up to
//!   the output's version are sorted by key (stably: load order among equal keys). Rows with
//!   equal keys are merged as the model says: AGGREGATE KEY columns by their aggregation,
//!   UNIQUE KEY tables keep the newest row; when the output starts at the tablet's first
//!   rowset, UNIQUE KEY rows whose newest version deletes the key are dropped. The output
//!   is one rowset spanning the inputs' versions, so every read gives the same answer.
//! * **Commit** ([`super::StorageEngine::commit_compaction`]). One atomic RocksDB batch
//!   replaces the inputs' metas by the output's (a `kill -9` before it leaves only orphan
//!   files, removed at start; after it, the inputs' files are orphans). Delete-bitmap marks
//!   that later versions put on the inputs, also while the merge ran, move to the output's
//!   rows. The inputs stay readable for queries at older versions until swept.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::arrow::array::{
    make_comparator, Array, ArrayRef, AsArray, BooleanArray, RecordBatch, UInt32Array, UInt64Array,
};
use datafusion::arrow::compute::{filter_record_batch, partition, take, SortOptions};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::scalar::ScalarValue;
use doris_common::functions::sketch::{union_values, SketchKind};
use roaring::RoaringBitmap;

use super::delete_bitmap::BitmapEntry;
use super::segment;
use super::tablet::{KeysType, RowsetMeta, SegmentMeta, Tablet, TabletMeta};
use crate::error::{BeError, Result};

/// Compaction settings from `be.conf` (Doris's names).
#[derive(Debug, Clone)]
pub struct CompactionConfig {
    /// No background compaction (`disable_auto_compaction`); `/api/compaction/run` works.
    pub disable_auto_compaction: bool,
    /// How often the background task looks for work (`generate_compaction_tasks_interval_ms`).
    pub interval_ms: u64,
    pub cumulative_min_deltas: usize,
    pub cumulative_max_deltas: usize,
    /// A cumulative output at least this large joins the base layer (bounded below and
    /// above by the `*_promotion_min_size_mbytes` / `*_promotion_size_mbytes` settings,
    /// 5% of the base layer in between).
    pub promotion_min_bytes: u64,
    pub promotion_max_bytes: u64,
    pub base_min_rowset_num: usize,
    pub base_min_data_ratio: f64,
    /// Loads into a tablet with this many rowsets fail (`max_tablet_version_num`).
    pub max_tablet_version_num: usize,
    /// Replaced rowsets are deleted this long after a compaction
    /// (`tablet_rowset_stale_sweep_time_sec`).
    pub stale_sweep_sec: u64,
}

impl Default for CompactionConfig {
    fn default() -> Self {
        Self {
            disable_auto_compaction: false,
            interval_ms: 1000,
            cumulative_min_deltas: 5,
            cumulative_max_deltas: 1000,
            promotion_min_bytes: 64 << 20,
            promotion_max_bytes: 1024 << 20,
            base_min_rowset_num: 5,
            base_min_data_ratio: 0.3,
            max_tablet_version_num: 2000,
            stale_sweep_sec: 300,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompactionKind {
    Cumulative,
    Base,
    /// Every rowset into one (`compact_type=full`).
    Full,
}

impl CompactionKind {
    pub fn from_name(name: &str) -> Option<Self> {
        match name.to_ascii_lowercase().as_str() {
            "cumulative" => Some(Self::Cumulative),
            "base" => Some(Self::Base),
            "full" => Some(Self::Full),
            _ => None,
        }
    }
}

/// What one compaction chose: its inputs (consecutive rowsets) and the cumulative point
/// afterwards.
#[derive(Debug, Clone)]
pub struct Plan {
    pub kind: CompactionKind,
    pub inputs: Vec<RowsetMeta>,
    pub cumulative_point: i64,
}

/// Size at which a cumulative output joins the base layer.
fn promotion_bytes(config: &CompactionConfig, base_bytes: u64) -> u64 {
    (base_bytes / 20).clamp(config.promotion_min_bytes, config.promotion_max_bytes)
}

/// The rowsets a compaction of `kind` would merge now, if any.
pub fn pick(tablet: &Tablet, kind: CompactionKind, config: &CompactionConfig) -> Option<Plan> {
    let rowsets = tablet.rowsets.read().clone();
    let mut point = tablet.meta.read().cumulative_point;
    match kind {
        CompactionKind::Full => (rowsets.len() >= 2).then(|| Plan {
            kind,
            cumulative_point: rowsets.last().map_or(point, |r| r.end_version + 1),
            inputs: rowsets,
        }),
        CompactionKind::Base => {
            let base: Vec<RowsetMeta> = rowsets
                .into_iter()
                .filter(|r| r.end_version < point)
                .collect();
            let first = base.first()?.data_size.max(1) as f64;
            let rest: u64 = base.iter().skip(1).map(|r| r.data_size).sum();
            let worth = base.len() >= config.base_min_rowset_num
                || (base.len() >= 2 && rest as f64 / first >= config.base_min_data_ratio);
            worth.then_some(Plan {
                kind,
                inputs: base,
                cumulative_point: point,
            })
        }
        CompactionKind::Cumulative => {
            let base_bytes: u64 = rowsets
                .iter()
                .filter(|r| r.end_version < point)
                .map(|r| r.data_size)
                .sum();
            let promote_at = promotion_bytes(config, base_bytes);
            let mut layer: Vec<RowsetMeta> = rowsets
                .into_iter()
                .filter(|r| r.start_version >= point)
                .collect();
            // Large rowsets at the head of the layer join the base layer unmerged.
            while layer.first().is_some_and(|r| r.data_size >= promote_at) {
                point = layer.remove(0).end_version + 1;
            }
            // A leading rowset much larger than the rest waits for them to grow.
            loop {
                let rest: u64 = layer.iter().skip(1).map(|r| r.data_size).sum();
                match layer.first() {
                    Some(first)
                        if layer.len() > config.cumulative_min_deltas
                            && first.data_size > 2 * rest =>
                    {
                        layer.remove(0);
                    }
                    _ => break,
                }
            }
            if layer.len() < config.cumulative_min_deltas.max(2) {
                // Nothing to merge; a moved point is still worth recording.
                return (point != tablet.meta.read().cumulative_point).then_some(Plan {
                    kind,
                    inputs: Vec::new(),
                    cumulative_point: point,
                });
            }
            layer.truncate(config.cumulative_max_deltas.max(2));
            let bytes: u64 = layer.iter().map(|r| r.data_size).sum();
            if bytes >= promote_at {
                point = layer.last().map_or(point, |r| r.end_version + 1);
            }
            Some(Plan {
                kind,
                inputs: layer,
                cumulative_point: point,
            })
        }
    }
}

/// The merged rows of a compaction, sorted by key, and where each input row went.
pub struct Merged {
    pub batch: RecordBatch,
    /// Per input segment (in input order): its rowset id, segment number and the output
    /// row of each of its rows (`u32::MAX`: removed).
    pub sources: Vec<SourceSegment>,
}

pub struct SourceSegment {
    pub rowset_id: String,
    pub segment: u32,
    pub output_rows: Vec<u32>,
}

/// Reads one segment file whole.
fn read_segment(path: &std::path::Path) -> Result<Vec<RecordBatch>> {
    let file = std::fs::File::open(path)?;
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(datafusion::error::DataFusionError::from)?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(datafusion::error::DataFusionError::from)?;
    reader
        .map(|b| Ok(b.map_err(datafusion::error::DataFusionError::from)?))
        .collect()
}

fn df(e: datafusion::arrow::error::ArrowError) -> BeError {
    BeError::DataFusion(e.into())
}

/// Merges `inputs` (consecutive rowsets of `tablet`): see the module documentation.
/// `drop_deleted_keys`: the output starts at the tablet's first rowset, so UNIQUE KEY rows
/// that delete their key have nothing left to hide and are dropped.
pub fn merge(tablet: &Tablet, inputs: &[RowsetMeta], drop_deleted_keys: bool) -> Result<Merged> {
    let meta = tablet.meta.read().clone();
    let end_version = inputs.last().map_or(0, |r| r.end_version);
    let schema = table_schema(&meta);
    let with_source: SchemaRef = Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .cloned()
            .chain([Arc::new(Field::new(SOURCE_COLUMN, DataType::UInt64, false))])
            .collect::<Vec<_>>(),
    ));
    // Every input row gets a global number: its segment's base plus its row.
    let mut sources = Vec::new();
    let mut batches = Vec::new();
    let mut base = 0u64;
    for r in inputs {
        for (i, s) in r.segments.iter().enumerate() {
            let deleted = tablet
                .delete_bitmap
                .read()
                .deleted(&r.rowset_id, i as u32, end_version);
            let mut row = 0u64;
            for b in read_segment(&tablet.dir.join(&s.file))? {
                let n = b.num_rows() as u64;
                let ids = UInt64Array::from_iter_values(base + row..base + row + n);
                let mut columns = conform(&meta, &b)?;
                columns.push(Arc::new(ids));
                let mut b = RecordBatch::try_new(Arc::clone(&with_source), columns).map_err(df)?;
                if let Some(d) = &deleted {
                    let keep: BooleanArray = (row..row + n)
                        .map(|x| Some(!d.contains(x as u32)))
                        .collect();
                    b = filter_record_batch(&b, &keep).map_err(df)?;
                }
                row += n;
                batches.push(b);
            }
            sources.push(SourceSegment {
                rowset_id: r.rowset_id.clone(),
                segment: i as u32,
                output_rows: vec![u32::MAX; row as usize],
            });
            base += row;
        }
    }
    let key_columns = meta.key_columns();
    let sorted = if batches.is_empty() {
        RecordBatch::new_empty(Arc::clone(&with_source))
    } else {
        segment::sort_by_keys(&with_source, &batches, &key_columns)?
    };
    drop(batches);
    let mut merged = merge_equal_keys(&meta, &sorted, &key_columns)?;
    if drop_deleted_keys && meta.keys_type == KeysType::Unique {
        merged = drop_delete_sign_rows(&meta, merged)?;
    }
    // Where each input row went.
    let starts: Vec<u64> = sources
        .iter()
        .scan(0u64, |acc, s| {
            let start = *acc;
            *acc += s.output_rows.len() as u64;
            Some(start)
        })
        .collect();
    for (out, ids) in merged.groups.iter().enumerate() {
        for &id in ids {
            let seg = starts.partition_point(|&s| s <= id) - 1;
            if let Some(slot) = sources[seg]
                .output_rows
                .get_mut((id - starts[seg]) as usize)
            {
                *slot = out as u32;
            }
        }
    }
    let columns = merged.batch.columns()[..schema.fields().len()].to_vec();
    let batch = RecordBatch::try_new(schema, columns).map_err(df)?;
    Ok(Merged { batch, sources })
}

/// The columns of `batch` (read from a segment file, perhaps written before a light schema
/// change) as the tablet's current columns: found by name, cast to the current type, and
/// filled with the fill value where the file lacks them.
fn conform(meta: &TabletMeta, batch: &RecordBatch) -> Result<Vec<ArrayRef>> {
    (0..meta.columns.len())
        .map(|i| {
            let spec = meta.column_spec(i);
            match batch.schema().index_of(&spec.name) {
                Ok(at) => {
                    let column = batch.column(at);
                    if column.data_type() == &spec.data_type {
                        Ok(Arc::clone(column))
                    } else {
                        datafusion::arrow::compute::cast(column, &spec.data_type).map_err(df)
                    }
                }
                Err(_) => Ok(spec.fill.to_array_of_size(batch.num_rows())?),
            }
        })
        .collect()
}

/// The hidden column giving each row of a merge its input row number.
const SOURCE_COLUMN: &str = "__doris_compaction_source";

/// The stored columns of a tablet as its segment files name them.
fn table_schema(meta: &TabletMeta) -> SchemaRef {
    Arc::new(Schema::new(
        meta.columns
            .iter()
            .map(|c| c.column_type.to_field(&c.name.to_lowercase(), c.nullable))
            .collect::<Vec<_>>(),
    ))
}

/// Rows after merging equal keys, and the input rows (source numbers) behind each.
struct Grouped {
    batch: RecordBatch,
    groups: Vec<Vec<u64>>,
}

/// Merges runs of equal keys of `sorted` as the tablet's model says; DUPLICATE KEY rows
/// (and AGGREGATE KEY tablets whose aggregations are unknown) are kept as they are.
fn merge_equal_keys(meta: &TabletMeta, sorted: &RecordBatch, keys: &[usize]) -> Result<Grouped> {
    let source_col = sorted.num_columns() - 1;
    let sources = sorted
        .column(source_col)
        .as_primitive::<datafusion::arrow::datatypes::UInt64Type>();
    let singles = |batch: RecordBatch| Grouped {
        groups: sources.values().iter().map(|&s| vec![s]).collect(),
        batch,
    };
    let aggregations: Option<Vec<Option<String>>> = match meta.keys_type {
        KeysType::Duplicate => None,
        KeysType::Unique => Some(
            meta.columns
                .iter()
                .map(|c| (!c.is_key).then(|| "REPLACE".to_string()))
                .collect(),
        ),
        KeysType::Aggregate => meta
            .columns
            .iter()
            .map(|c| {
                if c.is_key {
                    Some(None)
                } else {
                    c.aggregation.clone().map(Some)
                }
            })
            .collect(),
    };
    let Some(aggregations) = aggregations else {
        return Ok(singles(sorted.clone()));
    };
    if keys.is_empty() || sorted.num_rows() <= 1 {
        return Ok(singles(sorted.clone()));
    }
    let key_arrays: Vec<ArrayRef> = keys.iter().map(|&i| Arc::clone(sorted.column(i))).collect();
    let runs = partition(&key_arrays).map_err(df)?.ranges();
    if runs.len() == sorted.num_rows() {
        return Ok(singles(sorted.clone()));
    }
    let mut columns: Vec<ArrayRef> = Vec::with_capacity(sorted.num_columns());
    for (i, agg) in aggregations.iter().enumerate() {
        let column = sorted.column(i);
        let merged = match agg.as_deref().map(str::to_ascii_uppercase).as_deref() {
            None => pick_rows(column, runs.iter().map(|r| r.start))?,
            Some("REPLACE") => pick_rows(column, runs.iter().map(|r| r.end - 1))?,
            Some("REPLACE_IF_NOT_NULL") => pick_rows(
                column,
                runs.iter().map(|r| {
                    (r.start..r.end)
                        .rev()
                        .find(|&x| column.is_valid(x))
                        .unwrap_or(r.end - 1)
                }),
            )?,
            Some(m @ ("MIN" | "MAX")) => {
                let cmp = make_comparator(column.as_ref(), column.as_ref(), SortOptions::default())
                    .map_err(df)?;
                let want_max = m == "MAX";
                pick_rows(
                    column,
                    runs.iter().map(|r| {
                        let mut best: Option<usize> = None;
                        for x in (r.start..r.end).filter(|&x| column.is_valid(x)) {
                            let better = best.is_none_or(|b| {
                                let o = cmp(x, b);
                                if want_max {
                                    o.is_gt()
                                } else {
                                    o.is_lt()
                                }
                            });
                            if better {
                                best = Some(x);
                            }
                        }
                        best.unwrap_or(r.start)
                    }),
                )?
            }
            Some("SUM") => {
                let mut sums = Vec::with_capacity(runs.len());
                for r in &runs {
                    let mut total: Option<ScalarValue> = None;
                    for x in (r.start..r.end).filter(|&x| column.is_valid(x)) {
                        let v = ScalarValue::try_from_array(column, x)?;
                        total = Some(match total {
                            None => v,
                            Some(t) => t.add(&v)?, // wraps around, as Doris's sum in the column type
                        });
                    }
                    sums.push(match total {
                        Some(t) => t,
                        None => ScalarValue::try_from(column.data_type())?,
                    });
                }
                ScalarValue::iter_to_array(sums)?
            }
            Some(m @ ("BITMAP_UNION" | "HLL_UNION")) => {
                let kind = if m == "BITMAP_UNION" {
                    SketchKind::Bitmap
                } else {
                    SketchKind::Hll
                };
                let values = column
                    .as_binary_opt::<i32>()
                    .ok_or_else(|| BeError::InvalidArgument(format!("{m} column is not binary")))?;
                let mut merged = datafusion::arrow::array::BinaryBuilder::new();
                for r in &runs {
                    let parts = (r.start..r.end)
                        .filter(|&x| values.is_valid(x))
                        .map(|x| values.value(x));
                    match union_values(kind, parts)? {
                        Some(v) => merged.append_value(v),
                        None => merged.append_null(),
                    }
                }
                Arc::new(merged.finish())
            }
            Some(other) => {
                return Err(BeError::InvalidArgument(format!(
                    "compaction cannot merge aggregation {other}"
                )))
            }
        };
        columns.push(merged);
    }
    columns.push(pick_rows(
        sorted.column(source_col),
        runs.iter().map(|r| r.start),
    )?);
    let groups = runs
        .iter()
        .map(|r| sources.values()[r.start..r.end].to_vec())
        .collect();
    Ok(Grouped {
        batch: RecordBatch::try_new(sorted.schema(), columns).map_err(df)?,
        groups,
    })
}

fn pick_rows(column: &ArrayRef, rows: impl Iterator<Item = usize>) -> Result<ArrayRef> {
    let indices = UInt32Array::from_iter_values(rows.map(|r| r as u32));
    take(column.as_ref(), &indices, None).map_err(df)
}

/// Drops the rows whose hidden delete sign is set (their key is deleted and no older row
/// is left for them to hide).
fn drop_delete_sign_rows(meta: &TabletMeta, merged: Grouped) -> Result<Grouped> {
    let Some(sign) = meta
        .columns
        .iter()
        .position(|c| c.name.eq_ignore_ascii_case("__DORIS_DELETE_SIGN__"))
    else {
        return Ok(merged);
    };
    let signs =
        datafusion::arrow::compute::cast(merged.batch.column(sign), &DataType::Int8).map_err(df)?;
    let signs = signs.as_primitive::<datafusion::arrow::datatypes::Int8Type>();
    let keep: BooleanArray = (0..signs.len())
        .map(|i| Some(!(signs.is_valid(i) && signs.value(i) == 1)))
        .collect();
    let batch = filter_record_batch(&merged.batch, &keep).map_err(df)?;
    let groups = merged
        .groups
        .into_iter()
        .zip(keep.values().iter())
        .filter(|(_, k)| *k)
        .map(|(g, _)| g)
        .collect();
    Ok(Grouped { batch, groups })
}

/// The delete-bitmap marks of later versions (above the output's end) on the inputs,
/// moved to the output rows the marked rows went to. `rows_per_segment` splits the
/// output into its segments.
pub fn carry_marks(
    merged: &Merged,
    marks: &[BitmapEntry],
    output_rowset: &str,
    rows_per_segment: usize,
) -> Vec<BitmapEntry> {
    let mut by_version: HashMap<(i64, u32), RoaringBitmap> = HashMap::new();
    for e in marks {
        let Some(source) = merged
            .sources
            .iter()
            .find(|s| s.rowset_id == e.rowset_id && s.segment == e.segment)
        else {
            continue;
        };
        for row in e.rows.iter() {
            let Some(&out) = source.output_rows.get(row as usize) else {
                continue;
            };
            if out == u32::MAX {
                continue;
            }
            let (segment, row) = (
                out as usize / rows_per_segment,
                out as usize % rows_per_segment,
            );
            by_version
                .entry((e.version, segment as u32))
                .or_default()
                .insert(row as u32);
        }
    }
    by_version
        .into_iter()
        .map(|((version, segment), rows)| BitmapEntry {
            rowset_id: output_rowset.to_string(),
            segment,
            version,
            rows,
        })
        .collect()
}

/// Writes the merged rows as the segments of rowset `rowset_id` (each at most
/// `rows_per_segment` rows) and returns their metas.
pub fn write_output(
    tablet: &Tablet,
    rowset_id: &str,
    batch: &RecordBatch,
    rows_per_segment: usize,
    options: &segment::SegmentOptions,
) -> Result<Vec<SegmentMeta>> {
    let (keys, layout) = {
        let meta = tablet.meta.read();
        (meta.key_columns(), meta.segment_layout())
    };
    std::fs::create_dir_all(&tablet.dir)?;
    let mut segments = Vec::new();
    let mut offset = 0;
    while offset < batch.num_rows() {
        let n = rows_per_segment.min(batch.num_rows() - offset);
        let part = batch.slice(offset, n);
        let file = format!("{rowset_id}_{}.dat", segments.len());
        let size = segment::write_segment(&tablet.dir.join(&file), &part, options, &layout)?;
        segments.push(SegmentMeta {
            file,
            num_rows: n as u64,
            size,
            columns: segment::column_stats(&part, &keys),
        });
        offset += n;
    }
    if let Ok(d) = std::fs::File::open(&tablet.dir) {
        d.sync_all()?;
    }
    Ok(segments)
}
