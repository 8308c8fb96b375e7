//! Decoded segment columns kept in memory (Doris's page cache): a scan whose columns are
//! cached reads Arrow arrays instead of decompressing and decoding Parquet pages again.
//! Entries are whole columns of one segment file, in fixed-size chunks, evicted least
//! recently used first once the cache holds more than `storage_page_cache_limit` bytes.
//! Segment files never change after they are written (a new rowset gets new file names),
//! so an entry stays valid until its file is gone and nothing reads it any more.
//! Columns are found by name, so segments written before a light schema change read in
//! the table's current columns. Entry point: [`SegmentCache::read`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ProjectionMask;
use datafusion::scalar::ScalarValue;
use lru::LruCache;
use parking_lot::Mutex;

/// Rows per cached chunk (and per batch a cached scan produces).
pub const CHUNK_ROWS: usize = 8192;

/// One column of one segment, as chunks of [`CHUNK_ROWS`] rows.
pub type CachedColumn = Arc<Vec<ArrayRef>>;

/// A table column as a segment is read for it: by name, in the table's current type, with
/// the value rows written before the column existed hold (a light schema change added it).
#[derive(Debug, Clone)]
pub struct ColumnSpec {
    pub name: String,
    pub data_type: DataType,
    /// A typed NULL when the column has no fill value.
    pub fill: ScalarValue,
}

impl ColumnSpec {
    /// `fill`: the fill value as SQL text (cast to the type; NULL when absent or invalid).
    pub fn new(name: &str, data_type: DataType, fill: Option<&str>) -> Self {
        let null = ScalarValue::try_from(&data_type).unwrap_or(ScalarValue::Null);
        let fill = fill
            .and_then(|t| {
                ScalarValue::Utf8(Some(t.to_string()))
                    .cast_to(&data_type)
                    .ok()
            })
            .unwrap_or(null);
        Self {
            name: name.to_lowercase(),
            data_type,
            fill,
        }
    }
}

/// A cached column of a segment, or the mark that the file has no such column.
#[derive(Clone)]
struct Entry {
    chunks: CachedColumn,
    present: bool,
}

struct Inner {
    entries: LruCache<(PathBuf, String), Entry>,
    bytes: usize,
}

pub struct SegmentCache {
    limit: usize,
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for SegmentCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SegmentCache(limit {} bytes)", self.limit)
    }
}

fn column_bytes(column: &[ArrayRef]) -> usize {
    column.iter().map(|a| a.get_array_memory_size()).sum()
}

impl SegmentCache {
    /// A cache of at most `limit` bytes (0 disables it).
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            inner: Mutex::new(Inner {
                entries: LruCache::unbounded(),
                bytes: 0,
            }),
        }
    }

    pub fn enabled(&self) -> bool {
        self.limit > 0
    }

    /// The columns `columns` of the segment at `path` (of `num_rows` rows), by name: from the
    /// cache, the missing ones decoded from the file (blocking: call it on a blocking
    /// thread) and cached. A column the file lacks comes back as its fill value; one
    /// stored in another type is cast to the asked type.
    pub fn read(
        &self,
        path: &Path,
        num_rows: usize,
        columns: &[ColumnSpec],
    ) -> Result<Vec<CachedColumn>> {
        let key = |name: &str| (path.to_path_buf(), name.to_string());
        let mut found: Vec<Option<Entry>> = {
            let mut inner = self.inner.lock();
            columns
                .iter()
                .map(|c| inner.entries.get(&key(&c.name)).cloned())
                .collect()
        };
        let missing: Vec<&str> = columns
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(c, _)| c.name.as_str())
            .collect();
        if !missing.is_empty() {
            let loaded = read_columns(path, &missing)?;
            let mut inner = self.inner.lock();
            for (name, entry) in missing.iter().zip(loaded) {
                for (slot, c) in found.iter_mut().zip(columns) {
                    if c.name == *name {
                        *slot = Some(entry.clone());
                    }
                }
                let bytes = column_bytes(&entry.chunks);
                if let Some(old) = inner.entries.put(key(name), entry) {
                    inner.bytes = inner.bytes.saturating_sub(column_bytes(&old.chunks));
                }
                inner.bytes += bytes;
            }
            while inner.bytes > self.limit {
                match inner.entries.pop_lru() {
                    Some((_, old)) => {
                        inner.bytes = inner.bytes.saturating_sub(column_bytes(&old.chunks))
                    }
                    None => break,
                }
            }
        }
        let entries: Vec<Entry> = found
            .into_iter()
            .map(|f| f.ok_or_else(|| DataFusionError::Internal("segment column not loaded".into())))
            .collect::<Result<_>>()?;
        // Chunk lengths: those of a stored column, else `num_rows` cut into chunks.
        let lengths: Vec<usize> = match entries.iter().find(|e| e.present) {
            Some(e) => e.chunks.iter().map(|a| a.len()).collect(),
            None => (0..num_rows.div_ceil(CHUNK_ROWS))
                .map(|i| CHUNK_ROWS.min(num_rows - i * CHUNK_ROWS))
                .collect(),
        };
        entries
            .into_iter()
            .zip(columns)
            .map(|(e, c)| {
                if !e.present {
                    let fill = lengths
                        .iter()
                        .map(|&n| c.fill.to_array_of_size(n))
                        .collect::<Result<Vec<_>>>()?;
                    return Ok(Arc::new(fill));
                }
                if e.chunks
                    .first()
                    .is_some_and(|a| a.data_type() != &c.data_type)
                {
                    let cast = e
                        .chunks
                        .iter()
                        .map(|a| datafusion::arrow::compute::cast(a, &c.data_type))
                        .collect::<std::result::Result<Vec<_>, _>>()?;
                    return Ok(Arc::new(cast));
                }
                Ok(e.chunks)
            })
            .collect()
    }
}

/// Decodes whole columns of a segment file in [`CHUNK_ROWS`]-row chunks, by name; a name
/// the file lacks gets an absent entry.
fn read_columns(path: &Path, names: &[&str]) -> Result<Vec<Entry>> {
    let file = std::fs::File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let indices: Vec<Option<usize>> = names
        .iter()
        .map(|n| builder.schema().index_of(n).ok())
        .collect();
    let mut wanted: Vec<usize> = indices.iter().flatten().copied().collect();
    wanted.sort_unstable();
    wanted.dedup();
    let mut chunks: Vec<Vec<ArrayRef>> = vec![Vec::new(); wanted.len()];
    if !wanted.is_empty() {
        let mask = ProjectionMask::roots(builder.parquet_schema(), wanted.iter().copied());
        let reader = builder
            .with_projection(mask)
            .with_batch_size(CHUNK_ROWS)
            .build()?;
        // The reader returns the columns in file order, as `wanted` is sorted.
        for batch in reader {
            let batch = batch?;
            for (i, column) in batch.columns().iter().enumerate() {
                chunks[i].push(Arc::clone(column));
            }
        }
    }
    let chunks: Vec<CachedColumn> = chunks.into_iter().map(Arc::new).collect();
    Ok(indices
        .iter()
        .map(
            |i| match i.and_then(|i| wanted.iter().position(|w| *w == i)) {
                Some(at) => Entry {
                    chunks: Arc::clone(&chunks[at]),
                    present: true,
                },
                None => Entry {
                    chunks: Arc::new(Vec::new()),
                    present: false,
                },
            },
        )
        .collect())
}

pub fn parse_limit(text: &str) -> Option<usize> {
    let text = text.trim();
    if let Some(percent) = text.strip_suffix('%') {
        let percent: f64 = percent.trim().parse().ok()?;
        let total = total_memory()?;
        return Some((total as f64 * percent.clamp(0.0, 100.0) / 100.0) as usize);
    }
    text.parse().ok()
}

/// Physical memory in bytes (Linux `/proc/meminfo`).
fn total_memory() -> Option<usize> {
    let info = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: usize = info
        .lines()
        .find(|l| l.starts_with("MemTotal:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kb * 1024)
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{AsArray, Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema};
    use datafusion::arrow::record_batch::RecordBatch;

    use super::*;
    use crate::storage::segment::{write_segment, SegmentOptions};

    /// A segment of `rows` rows: (k, k * 2, "s<k>").
    fn segment(dir: &Path, name: &str, rows: i64) -> PathBuf {
        let schema = Arc::new(Schema::new(vec![
            Field::new("a", DataType::Int64, false),
            Field::new("b", DataType::Int64, false),
            Field::new("c", DataType::Utf8, false),
        ]));
        let batch = RecordBatch::try_new(
            schema,
            vec![
                Arc::new(Int64Array::from_iter_values(0..rows)),
                Arc::new(Int64Array::from_iter_values((0..rows).map(|k| k * 2))),
                Arc::new(StringArray::from_iter_values(
                    (0..rows).map(|k| format!("s{k}")),
                )),
            ],
        )
        .expect("batch");
        let path = dir.join(name);
        let options = SegmentOptions::from_name("lz4").expect("options");
        write_segment(&path, &batch, &options, &Default::default()).expect("write");
        path
    }

    fn values(column: &CachedColumn) -> Vec<i64> {
        column
            .iter()
            .flat_map(|a| a.as_primitive::<Int64Type>().values().to_vec())
            .collect()
    }

    fn spec(name: &str, data_type: DataType) -> ColumnSpec {
        ColumnSpec::new(name, data_type, None)
    }

    #[test]
    fn columns_come_back_in_the_asked_order_and_chunked() {
        let dir = tempfile::tempdir().expect("dir");
        let path = segment(dir.path(), "s.dat", 20_000);
        let cache = SegmentCache::new(1 << 30);
        let (a, b, c) = (
            spec("a", DataType::Int64),
            spec("b", DataType::Int64),
            spec("c", DataType::Utf8),
        );
        let cols = cache.read(&path, 20_000, &[b.clone(), a]).expect("read");
        assert_eq!(
            values(&cols[0]),
            (0..20_000).map(|k| k * 2).collect::<Vec<_>>()
        );
        assert_eq!(values(&cols[1]), (0..20_000).collect::<Vec<_>>());
        assert_eq!(cols[0].len(), 20_000usize.div_ceil(CHUNK_ROWS));
        // A second read of a cached column and a new one: same chunking, so they line up.
        let again = cache.read(&path, 20_000, &[c, b]).expect("read");
        assert!(Arc::ptr_eq(&again[1], &cols[0]));
        assert_eq!(again[0].len(), cols[0].len());
        assert_eq!(
            again[0][2].as_string::<i32>().value(0),
            format!("s{}", 2 * CHUNK_ROWS)
        );
    }

    #[test]
    fn missing_columns_read_as_their_fill_and_types_are_cast() {
        let dir = tempfile::tempdir().expect("dir");
        let path = segment(dir.path(), "s.dat", 10_000);
        let cache = SegmentCache::new(1 << 30);
        let added = ColumnSpec::new("added", DataType::Int32, Some("7"));
        let nullable = ColumnSpec::new("other", DataType::Utf8, None);
        let wider = spec("a", DataType::Decimal128(20, 0));
        let cols = cache
            .read(&path, 10_000, &[added, nullable, wider])
            .expect("read");
        let ints: Vec<i32> = cols[0]
            .iter()
            .flat_map(|a| {
                a.as_primitive::<datafusion::arrow::datatypes::Int32Type>()
                    .values()
                    .to_vec()
            })
            .collect();
        assert_eq!(ints, vec![7; 10_000]);
        assert_eq!(
            cols[1].iter().map(|a| a.null_count()).sum::<usize>(),
            10_000
        );
        assert_eq!(cols[2][0].data_type(), &DataType::Decimal128(20, 0));
        // Only absent columns: chunked by the row count.
        let cols = cache
            .read(
                &path,
                10_000,
                &[ColumnSpec::new("x", DataType::Int64, Some("1"))],
            )
            .expect("read");
        assert_eq!(cols[0].iter().map(|a| a.len()).sum::<usize>(), 10_000);
    }

    #[test]
    fn least_recently_used_columns_go_first() {
        let dir = tempfile::tempdir().expect("dir");
        let first = segment(dir.path(), "1.dat", 10_000);
        let second = segment(dir.path(), "2.dat", 10_000);
        // Room for about one column of one segment.
        let cache = SegmentCache::new(100_000);
        let a = [spec("a", DataType::Int64)];
        let one = cache.read(&first, 10_000, &a).expect("read");
        cache.read(&second, 10_000, &a).expect("read");
        assert!(cache.inner.lock().bytes <= 100_000);
        // The first segment's column was evicted: reading it decodes a new copy.
        let reread = cache.read(&first, 10_000, &a).expect("read");
        assert!(!Arc::ptr_eq(&one[0], &reread[0]));
        assert_eq!(values(&reread[0]), values(&one[0]));
    }

    #[test]
    fn limits_parse_as_bytes_or_percent() {
        assert_eq!(parse_limit("1048576"), Some(1 << 20));
        assert_eq!(parse_limit("0"), Some(0));
        assert!(parse_limit("20%").is_some_and(|b| b > 0));
        assert_eq!(parse_limit("lots"), None);
    }
}
