//! Segment files: immutable Parquet files sorted by the tablet's key columns, with page-level
//! statistics (zone maps) and a page index so readers can skip data.
//! [`write_segment`] writes one; readers go through DataFusion's Parquet source.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::{
    concat_batches, max, min, partition, take, LexicographicalComparator, SortColumn,
};
use datafusion::arrow::datatypes::{DataType, Int64Type, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::basic::{Compression, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;

use super::tablet::ColumnStats;
use crate::error::{BeError, Result};

/// Rows per Parquet row group: the granularity of segment-level zone-map pruning.
const ROW_GROUP_ROWS: usize = 128 * 1024;
/// Rows per data page: the granularity of page-index pruning.
const PAGE_ROWS: usize = 8 * 1024;

/// How segments are encoded.
#[derive(Debug, Clone)]
pub struct SegmentOptions {
    pub compression: Compression,
}

impl SegmentOptions {
    pub fn from_name(name: &str) -> Result<Self> {
        let compression = match name.to_ascii_lowercase().as_str() {
            "lz4" | "lz4f" | "lz4_raw" => Compression::LZ4_RAW,
            "zstd" => Compression::ZSTD(ZstdLevel::default()),
            "snappy" => Compression::SNAPPY,
            "none" | "uncompressed" => Compression::UNCOMPRESSED,
            other => {
                return Err(BeError::InvalidArgument(format!(
                    "unknown segment_compression '{other}' (lz4, zstd, snappy, none)"
                )))
            }
        };
        Ok(Self { compression })
    }

    fn writer_properties(&self, layout: &SegmentLayout) -> WriterProperties {
        let mut builder = WriterProperties::builder()
            .set_compression(self.compression)
            .set_statistics_enabled(EnabledStatistics::Page)
            .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
            .set_data_page_row_count_limit(PAGE_ROWS);
        for column in &layout.bloom_filter_columns {
            let path = ColumnPath::from(column.as_str());
            builder = builder
                .set_column_bloom_filter_enabled(path.clone(), true)
                .set_column_bloom_filter_fpp(path, layout.bloom_filter_fpp.unwrap_or(0.05));
        }
        builder.build()
    }
}

/// What a table asks of its segment files beyond the engine-wide options.
#[derive(Debug, Clone, Default)]
pub struct SegmentLayout {
    /// Columns (as the files name them) with a bloom filter per row group.
    pub bloom_filter_columns: Vec<String>,
    pub bloom_filter_fpp: Option<f64>,
}

/// Concatenates `batches` and sorts the rows by `key_columns`. The sort is stable: rows with
/// equal keys keep their arrival order, so a segment's row order is the load order among
/// equal keys (the AGGREGATE KEY merge relies on it for REPLACE; arrow's `lexsort` is not
/// stable, hence the comparator and Rust's stable sort).
pub fn sort_by_keys(
    schema: &SchemaRef,
    batches: &[RecordBatch],
    key_columns: &[usize],
) -> Result<RecordBatch> {
    let batch =
        concat_batches(schema, batches).map_err(datafusion::error::DataFusionError::from)?;
    if key_columns.is_empty() || batch.num_rows() <= 1 {
        return Ok(batch);
    }
    let rows = u32::try_from(batch.num_rows()).map_err(|_| {
        BeError::InvalidArgument(format!("segment of {} rows is too large", batch.num_rows()))
    })?;
    if let Some(indices) = single_integer_key_order(&batch, key_columns, rows) {
        return take_rows(schema, &batch, &indices);
    }
    let sort_columns: Vec<SortColumn> = key_columns
        .iter()
        .map(|&i| SortColumn {
            values: Arc::clone(batch.column(i)),
            options: None,
        })
        .collect();
    let comparator = LexicographicalComparator::try_new(&sort_columns)
        .map_err(datafusion::error::DataFusionError::from)?;
    let mut order: Vec<u32> = (0..rows).collect();
    order.sort_by(|&a, &b| comparator.compare(a as usize, b as usize));
    take_rows(schema, &batch, &UInt32Array::from(order))
}

/// The common case, one integer-like key column (BIGINT, INT, DATE, ...): sorting
/// `(value, row)` pairs is the stable order (NULLs first, as the comparator) and much
/// cheaper than a dynamic comparator.
fn single_integer_key_order(
    batch: &RecordBatch,
    key_columns: &[usize],
    rows: u32,
) -> Option<UInt32Array> {
    let [key] = key_columns else {
        return None;
    };
    let widened = widen_integer(batch.column(*key))?;
    let values = widened.as_primitive::<Int64Type>();
    let mut pairs: Vec<(Option<i64>, u32)> = (0..rows)
        .map(|i| {
            let v = (!values.is_null(i as usize)).then(|| values.value(i as usize));
            (v, i)
        })
        .collect();
    pairs.sort_unstable();
    Some(pairs.into_iter().map(|(_, i)| i).collect())
}

fn take_rows(
    schema: &SchemaRef,
    batch: &RecordBatch,
    indices: &UInt32Array,
) -> Result<RecordBatch> {
    let columns = batch
        .columns()
        .iter()
        .map(|c| take(c.as_ref(), indices, None))
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(datafusion::error::DataFusionError::from)?;
    Ok(RecordBatch::try_new(Arc::clone(schema), columns)
        .map_err(datafusion::error::DataFusionError::from)?)
}

/// Statistics of each column of `batch` (a segment's rows, sorted by `key_columns`): NULL
/// counts, the range of integer-like columns, and the exact number of distinct values of
/// the first key column (counted as runs of equal values, which sorting makes cheap).
pub fn column_stats(batch: &RecordBatch, key_columns: &[usize]) -> Vec<ColumnStats> {
    batch
        .schema()
        .fields()
        .iter()
        .zip(batch.columns())
        .enumerate()
        .map(|(i, (field, column))| {
            let (min, max) = integer_range(column).unwrap_or((None, None));
            let distinct = (key_columns.first() == Some(&i))
                .then(|| distinct_sorted(column))
                .flatten();
            ColumnStats {
                name: field.name().clone(),
                null_count: column.null_count() as u64,
                min,
                max,
                distinct,
            }
        })
        .collect()
}

/// Distinct non-NULL values of a sorted column: its runs of equal values, less the run of
/// NULLs.
fn distinct_sorted(column: &ArrayRef) -> Option<u64> {
    let runs = partition(std::slice::from_ref(column)).ok()?.len() as u64;
    Some(runs - u64::from(column.null_count() > 0))
}

/// Smallest and largest value of an integer or date column (`None` for other types).
fn integer_range(column: &ArrayRef) -> Option<(Option<i64>, Option<i64>)> {
    let widened = widen_integer(column)?;
    let values = widened.as_primitive::<Int64Type>();
    Some((min(values), max(values)))
}

/// An integer-like column (integers up to 32 bits unsigned, BIGINT, DATE) as `Int64`.
fn widen_integer(column: &ArrayRef) -> Option<ArrayRef> {
    let integer_like = matches!(
        column.data_type(),
        DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::Date32
    );
    if !integer_like {
        return None;
    }
    datafusion::arrow::compute::cast(column, &DataType::Int64).ok()
}

/// Writes `batch` as one segment file at `path` and syncs it; returns the file size.
pub fn write_segment(
    path: &Path,
    batch: &RecordBatch,
    options: &SegmentOptions,
    layout: &SegmentLayout,
) -> Result<u64> {
    let file = File::create(path)?;
    let props = options.writer_properties(layout);
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(props))
        .map_err(datafusion::error::DataFusionError::from)?;
    writer
        .write(batch)
        .map_err(datafusion::error::DataFusionError::from)?;
    let file = writer
        .into_inner()
        .map_err(datafusion::error::DataFusionError::from)?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Array, Int32Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn column_stats_count_key_runs_and_ranges() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, true),
            Field::new("v", DataType::Utf8, true),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int32Array::from(vec![
                    None,
                    Some(1),
                    Some(1),
                    Some(2),
                    Some(9),
                ])),
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    None,
                    Some("b"),
                    None,
                    Some("c"),
                ])),
            ],
        )
        .expect("batch");
        let stats = column_stats(&batch, &[0]);
        assert_eq!(stats[0].name, "k");
        assert_eq!(
            (
                stats[0].null_count,
                stats[0].min,
                stats[0].max,
                stats[0].distinct
            ),
            (1, Some(1), Some(9), Some(3))
        );
        assert_eq!(
            (stats[1].null_count, stats[1].min, stats[1].distinct),
            (2, None, None)
        );
    }

    #[test]
    fn sorts_by_key_and_round_trips() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int32, false),
            Field::new("v", DataType::Utf8, true),
        ]));
        let b1 = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int32Array::from(vec![3, 1])),
                Arc::new(StringArray::from(vec![Some("c"), None])),
            ],
        )
        .expect("batch");
        let b2 = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int32Array::from(vec![2])),
                Arc::new(StringArray::from(vec![Some("b")])),
            ],
        )
        .expect("batch");
        let sorted = sort_by_keys(&schema, &[b1, b2], &[0]).expect("sort");
        let k = sorted
            .column(0)
            .as_any()
            .downcast_ref::<Int32Array>()
            .expect("int");
        assert_eq!(k.values().to_vec(), vec![1, 2, 3]);

        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("s.dat");
        let size = write_segment(
            &path,
            &sorted,
            &SegmentOptions::from_name("lz4").expect("opt"),
            &SegmentLayout::default(),
        )
        .expect("write");
        assert!(size > 0);
        let file = File::open(&path).expect("open");
        let reader =
            datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReader::try_new(file, 1024)
                .expect("reader");
        let rows: usize = reader.map(|b| b.expect("batch").num_rows()).sum();
        assert_eq!(rows, 3);
    }

    #[test]
    fn sort_keeps_arrival_order_of_equal_keys() {
        let schema: SchemaRef = Arc::new(Schema::new(vec![
            Field::new("k1", DataType::Int32, true),
            Field::new("k2", DataType::Int32, false),
            Field::new("seq", DataType::Int32, false),
        ]));
        // Many equal keys (an unstable sort reorders them), NULL keys included.
        let n = 5000;
        let k1: Vec<Option<i32>> = (0..n).map(|i| (i % 7 != 0).then_some(i % 3)).collect();
        let k2: Vec<i32> = (0..n).map(|i| i % 2).collect();
        let seq: Vec<i32> = (0..n).collect();
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(Int32Array::from(k1)),
                Arc::new(Int32Array::from(k2)),
                Arc::new(Int32Array::from(seq)),
            ],
        )
        .expect("batch");
        let (a, b) = (batch.slice(0, 1234), batch.slice(1234, (n - 1234) as usize));
        let sorted = sort_by_keys(&schema, &[a, b], &[0, 1]).expect("sort");
        let col = |i: usize| {
            sorted
                .column(i)
                .as_any()
                .downcast_ref::<Int32Array>()
                .expect("int")
                .clone()
        };
        let (k1, k2, seq) = (col(0), col(1), col(2));
        for i in 1..sorted.num_rows() {
            let prev = (k1.is_valid(i - 1).then(|| k1.value(i - 1)), k2.value(i - 1));
            let cur = (k1.is_valid(i).then(|| k1.value(i)), k2.value(i));
            assert!(prev <= cur, "not sorted at {i}");
            if prev == cur {
                assert!(
                    seq.value(i - 1) < seq.value(i),
                    "equal keys reordered at {i}"
                );
            }
        }
    }

    #[test]
    fn single_integer_key_sort_is_stable_with_nulls_first() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Int64, true),
            Field::new("seq", DataType::Int32, false),
        ]));
        let keys = vec![Some(2), None, Some(1), Some(2), None, Some(1), Some(2)];
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(datafusion::arrow::array::Int64Array::from(keys)),
                Arc::new(Int32Array::from((0..7).collect::<Vec<i32>>())),
            ],
        )
        .expect("batch");
        let sorted = sort_by_keys(&schema, &[batch], &[0]).expect("sort");
        let seq = sorted
            .column(1)
            .as_any()
            .downcast_ref::<Int32Array>()
            .expect("int")
            .values()
            .to_vec();
        assert_eq!(seq, [1, 4, 2, 5, 0, 3, 6]);
    }
}
