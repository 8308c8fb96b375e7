//! Decoded segment columns kept in memory (Doris's page cache): a scan whose columns are
//! cached reads Arrow arrays instead of decompressing and decoding Parquet pages again.
//! Entries are whole columns of one segment file, in fixed-size chunks, evicted least
//! recently used first once the cache holds more than `storage_page_cache_limit` bytes.
//! Segment files never change after they are written (a new rowset gets new file names),
//! so an entry stays valid until its file is gone and nothing reads it any more.
//! Entry point: [`SegmentCache::columns`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;
use datafusion::error::{DataFusionError, Result};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::arrow::ProjectionMask;
use lru::LruCache;
use parking_lot::Mutex;

/// Rows per cached chunk (and per batch a cached scan produces).
pub const CHUNK_ROWS: usize = 8192;

/// One column of one segment, as chunks of [`CHUNK_ROWS`] rows.
pub type CachedColumn = Arc<Vec<ArrayRef>>;

struct Inner {
    entries: LruCache<(PathBuf, usize), CachedColumn>,
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

    /// Columns `columns` (indices into the segment's columns) of the segment at `path`:
    /// from the cache, the missing ones decoded from the file (blocking: call it on a
    /// blocking thread) and cached.
    pub fn columns(&self, path: &Path, columns: &[usize]) -> Result<Vec<CachedColumn>> {
        let mut found: Vec<Option<CachedColumn>> = {
            let mut inner = self.inner.lock();
            columns
                .iter()
                .map(|&c| inner.entries.get(&(path.to_path_buf(), c)).cloned())
                .collect()
        };
        let missing: Vec<usize> = columns
            .iter()
            .zip(&found)
            .filter(|(_, f)| f.is_none())
            .map(|(&c, _)| c)
            .collect();
        if !missing.is_empty() {
            let loaded = read_columns(path, &missing)?;
            let mut inner = self.inner.lock();
            for (c, column) in missing.iter().zip(loaded) {
                if let Some(slot) = columns.iter().position(|x| x == c) {
                    found[slot] = Some(Arc::clone(&column));
                }
                let bytes = column_bytes(&column);
                if let Some(old) = inner.entries.put((path.to_path_buf(), *c), column) {
                    inner.bytes = inner.bytes.saturating_sub(column_bytes(&old));
                }
                inner.bytes += bytes;
            }
            while inner.bytes > self.limit {
                match inner.entries.pop_lru() {
                    Some((_, old)) => inner.bytes = inner.bytes.saturating_sub(column_bytes(&old)),
                    None => break,
                }
            }
        }
        found
            .into_iter()
            .map(|f| f.ok_or_else(|| DataFusionError::Internal("segment column not loaded".into())))
            .collect()
    }
}

/// Decodes whole columns of a segment file in [`CHUNK_ROWS`]-row chunks.
fn read_columns(path: &Path, columns: &[usize]) -> Result<Vec<CachedColumn>> {
    let file = std::fs::File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)?;
    let mask = ProjectionMask::roots(builder.parquet_schema(), columns.iter().copied());
    let reader = builder
        .with_projection(mask)
        .with_batch_size(CHUNK_ROWS)
        .build()?;
    // The reader returns the columns in file order; map them back to the requested order.
    let mut order: Vec<usize> = columns.to_vec();
    order.sort_unstable();
    let mut chunks: Vec<Vec<ArrayRef>> = vec![Vec::new(); columns.len()];
    for batch in reader {
        let batch = batch?;
        for (i, c) in columns.iter().enumerate() {
            let at = order.iter().position(|x| x == c).unwrap_or(i);
            chunks[i].push(Arc::clone(batch.column(at)));
        }
    }
    Ok(chunks.into_iter().map(Arc::new).collect())
}

/// `storage_page_cache_limit` as bytes: a byte count, or a percentage (`20%`) of the
/// machine's memory.
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

    #[test]
    fn columns_come_back_in_the_asked_order_and_chunked() {
        let dir = tempfile::tempdir().expect("dir");
        let path = segment(dir.path(), "s.dat", 20_000);
        let cache = SegmentCache::new(1 << 30);
        let cols = cache.columns(&path, &[1, 0]).expect("read");
        assert_eq!(
            values(&cols[0]),
            (0..20_000).map(|k| k * 2).collect::<Vec<_>>()
        );
        assert_eq!(values(&cols[1]), (0..20_000).collect::<Vec<_>>());
        assert_eq!(cols[0].len(), 20_000usize.div_ceil(CHUNK_ROWS));
        // A second read of a cached column and a new one: same chunking, so they line up.
        let again = cache.columns(&path, &[2, 1]).expect("read");
        assert!(Arc::ptr_eq(&again[1], &cols[0]));
        assert_eq!(again[0].len(), cols[0].len());
        assert_eq!(
            again[0][2].as_string::<i32>().value(0),
            format!("s{}", 2 * CHUNK_ROWS)
        );
    }

    #[test]
    fn least_recently_used_columns_go_first() {
        let dir = tempfile::tempdir().expect("dir");
        let first = segment(dir.path(), "1.dat", 10_000);
        let second = segment(dir.path(), "2.dat", 10_000);
        // Room for about one column of one segment.
        let cache = SegmentCache::new(100_000);
        let one = cache.columns(&first, &[0]).expect("read");
        cache.columns(&second, &[0]).expect("read");
        assert!(cache.inner.lock().bytes <= 100_000);
        // The first segment's column was evicted: reading it decodes a new copy.
        let reread = cache.columns(&first, &[0]).expect("read");
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
