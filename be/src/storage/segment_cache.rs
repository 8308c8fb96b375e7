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
