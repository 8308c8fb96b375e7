//! Tablet and rowset metadata kept by the BE, and the in-memory view of one tablet.
//! [`Tablet`] answers "which segment files make up version V" for readers.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use doris_common::types::ColumnType;
pub use doris_common::types::KeysType;
use parking_lot::{Mutex, RwLock};
use roaring::RoaringBitmap;
use serde::{Deserialize, Serialize};
use std::time::Instant;

use super::delete_bitmap::DeleteBitmap;
use super::segment_cache::ColumnSpec;
use crate::error::{BeError, Result};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnMeta {
    pub name: String,
    pub column_type: ColumnType,
    pub nullable: bool,
    pub is_key: bool,
    /// How an AGGREGATE KEY table merges this value column (`SUM`, `REPLACE`, ...), so
    /// compaction can merge rows with equal keys; `None` for key columns, other models and
    /// tablets created before it was recorded (their rows are then kept unmerged).
    #[serde(default)]
    pub aggregation: Option<String>,
    /// The value (SQL text) rows written before the column was added hold; `None`: NULL.
    #[serde(default)]
    pub fill_value: Option<String>,
}

/// What `tablet/<id>` holds.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TabletMeta {
    pub tablet_id: i64,
    pub table_id: i64,
    pub partition_id: i64,
    pub index_id: i64,
    pub replica_id: i64,
    pub keys_type: KeysType,
    pub columns: Vec<ColumnMeta>,
    pub schema_version: i32,
    /// Highest version published to this tablet (with or without data).
    pub max_version: i64,
    pub creation_time_ms: i64,
    /// A merge-on-write UNIQUE KEY tablet: publishing a rowset marks the rows it replaces
    /// in the delete bitmap.
    #[serde(default)]
    pub merge_on_write: bool,
    /// Rowsets starting at or after this version form the cumulative layer (merged by
    /// cumulative compaction); those below it the base layer.
    #[serde(default)]
    pub cumulative_point: i64,
    /// Columns (lower-cased) whose segments carry bloom filters, and their false positive
    /// rate.
    #[serde(default)]
    pub bloom_filter_columns: Vec<String>,
    #[serde(default)]
    pub bloom_filter_fpp: Option<f64>,
}

impl TabletMeta {
    /// Indices of the sort-key columns.
    pub fn key_columns(&self) -> Vec<usize> {
        self.columns
            .iter()
            .enumerate()
            .filter(|(_, c)| c.is_key)
            .map(|(i, _)| i)
            .collect()
    }

    /// How segments are read for column `i`, by name, with its fill value.
    pub fn column_spec(&self, i: usize) -> ColumnSpec {
        let c = &self.columns[i];
        ColumnSpec::new(&c.name, c.column_type.to_arrow(), c.fill_value.as_deref())
    }

    /// How this tablet's segments are written.
    pub fn segment_layout(&self) -> super::segment::SegmentLayout {
        super::segment::SegmentLayout {
            bloom_filter_columns: self.bloom_filter_columns.clone(),
            bloom_filter_fpp: self.bloom_filter_fpp,
        }
    }
}

/// One segment file of a rowset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// File name inside the tablet directory.
    pub file: String,
    pub num_rows: u64,
    pub size: u64,
    /// Per-column statistics (empty for segments written before they were kept).
    #[serde(default)]
    pub columns: Vec<ColumnStats>,
}

/// Statistics of one column of a segment (or, merged, of a tablet): the planner's input
/// for selectivity and distinct-value estimates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ColumnStats {
    pub name: String,
    pub null_count: u64,
    /// Smallest and largest value of integer-like columns (integers, dates), widened to i64.
    pub min: Option<i64>,
    pub max: Option<i64>,
    /// Distinct non-NULL values: exact for a segment's first key column; merged, the sum
    /// (an upper bound, exact when segments hold disjoint values).
    #[serde(default)]
    pub distinct: Option<u64>,
}

impl ColumnStats {
    /// Merges per-segment statistics into one per column. A column missing from any segment
    /// (written before statistics were kept, or before the column was added) is left out:
    /// its range is unknown.
    pub fn merge<'a>(segments: impl IntoIterator<Item = &'a [ColumnStats]>) -> Vec<ColumnStats> {
        let mut merged: Option<Vec<ColumnStats>> = None;
        for columns in segments {
            merged = Some(match merged {
                None => columns.to_vec(),
                Some(acc) => acc
                    .into_iter()
                    .filter_map(|a| {
                        let b = columns.iter().find(|c| c.name == a.name)?;
                        Some(ColumnStats {
                            name: a.name,
                            null_count: a.null_count + b.null_count,
                            min: combine(a.min, b.min, i64::min),
                            max: combine(a.max, b.max, i64::max),
                            distinct: a.distinct.zip(b.distinct).map(|(x, y)| x + y),
                        })
                    })
                    .collect(),
            });
        }
        merged.unwrap_or_default()
    }
}

/// `f` of both values when both are known, else the known one (a segment whose values are
/// all NULL has no range).
fn combine(a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, y) => x.or(y),
    }
}

/// Output of one load (or, later, one compaction) on one tablet.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowsetMeta {
    pub rowset_id: String,
    pub tablet_id: i64,
    pub txn_id: i64,
    /// `[start_version, end_version]`; both 0 while pending.
    pub start_version: i64,
    pub end_version: i64,
    pub num_rows: u64,
    pub data_size: u64,
    pub segments: Vec<SegmentMeta>,
    pub creation_time_ms: i64,
    /// A DELETE's rowset: no segments, only the predicate (SQL over the lower-cased column
    /// names); publishing it marks the older rows it matches in the delete bitmap.
    #[serde(default)]
    pub delete_predicate: Option<String>,
    /// A partial column update's rowset: the columns its rows carry. Publishing it fills
    /// the other columns from each key's current row (see `storage::partial_update`).
    #[serde(default)]
    pub partial_columns: Option<Vec<String>>,
}

/// A tablet: its meta, visible rowsets and delete bitmap, and the rowsets a compaction
/// replaced (kept for reads at older versions until swept).
pub struct Tablet {
    pub dir: PathBuf,
    pub meta: RwLock<TabletMeta>,
    pub rowsets: RwLock<Vec<RowsetMeta>>,
    pub delete_bitmap: RwLock<DeleteBitmap>,
    pub stale: RwLock<Vec<StaleRowset>>,
    /// Held by the compaction running on this tablet (one at a time).
    pub compaction_lock: Mutex<()>,
    pub compaction_status: Mutex<CompactionStatus>,
}

/// A rowset replaced by a compaction: still readable by queries at versions before the
/// compaction's end until `tablet_rowset_stale_sweep_time_sec` passed.
#[derive(Debug, Clone)]
pub struct StaleRowset {
    pub rowset: RowsetMeta,
    pub since: Instant,
}

/// When compactions of a tablet last succeeded and failed (ms since the epoch; 0 = never),
/// for `/api/compaction/show`.
#[derive(Debug, Clone, Default)]
pub struct CompactionStatus {
    pub last_cumulative_success_ms: i64,
    pub last_cumulative_failure_ms: i64,
    pub last_base_success_ms: i64,
    pub last_base_failure_ms: i64,
}

/// A segment file to read: absolute path and size, and where it stands in load order.
#[derive(Debug, Clone)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub size: u64,
    pub num_rows: u64,
    /// End version of the segment's rowset.
    pub version: i64,
    /// Position of the segment within its rowset (segments are written in load order).
    pub ordinal: usize,
    /// Rows to skip: replaced by a later load of a merge-on-write tablet.
    pub deleted: Option<Arc<RoaringBitmap>>,
}

impl Tablet {
    pub fn new(dir: PathBuf, meta: TabletMeta, rowsets: Vec<RowsetMeta>) -> Self {
        Self {
            dir,
            meta: RwLock::new(meta),
            rowsets: RwLock::new(rowsets),
            delete_bitmap: RwLock::new(DeleteBitmap::default()),
            stale: RwLock::new(Vec::new()),
            compaction_lock: Mutex::new(()),
            compaction_status: Mutex::new(CompactionStatus::default()),
        }
    }

    pub fn id(&self) -> i64 {
        self.meta.read().tablet_id
    }

    /// Segment files of every rowset visible at `version`, oldest rowset first. A version
    /// that a compaction merged into a larger rowset is read from the rowsets it replaced
    /// while they are kept; after that it is an error (Doris's -230).
    pub fn segments_at(&self, version: i64) -> Result<Vec<SegmentFile>> {
        let bitmap = self.delete_bitmap.read();
        let visible = self.rowsets.read();
        let stale = self.stale.read();
        let path =
            version_path(&visible, stale.iter().map(|s| &s.rowset), version).ok_or_else(|| {
                BeError::VersionNotReadable {
                    tablet_id: self.id(),
                    version,
                    reason: "[E-230] version already merged by a compaction".into(),
                }
            })?;
        Ok(path
            .into_iter()
            .flat_map(|r| {
                r.segments
                    .iter()
                    .enumerate()
                    .map(move |(ordinal, s)| (r, ordinal, s))
            })
            .map(|(r, ordinal, s)| SegmentFile {
                path: self.dir.join(&s.file),
                size: s.size,
                num_rows: s.num_rows,
                version: r.end_version,
                ordinal,
                deleted: bitmap
                    .deleted(&r.rowset_id, ordinal as u32, version)
                    .map(Arc::new),
            })
            .collect())
    }

    pub fn row_count(&self) -> u64 {
        self.rowsets.read().iter().map(|r| r.num_rows).sum()
    }

    pub fn data_size(&self) -> u64 {
        self.rowsets.read().iter().map(|r| r.data_size).sum()
    }

    pub fn rowset_count(&self) -> usize {
        self.rowsets.read().len()
    }

    /// Column statistics over every rowset (see [`ColumnStats::merge`]).
    pub fn column_stats(&self) -> Vec<ColumnStats> {
        let rowsets = self.rowsets.read();
        ColumnStats::merge(
            rowsets
                .iter()
                .flat_map(|r| &r.segments)
                .map(|s| s.columns.as_slice()),
        )
    }
}

/// The rowsets that make up `version`: the visible ones up to it and, for a visible rowset
/// whose range covers it (a compaction's output), the replaced rowsets up to it, the
/// widest first. `None` when those are gone.
fn version_path<'a>(
    visible: &'a [RowsetMeta],
    stale: impl Iterator<Item = &'a RowsetMeta> + Clone,
    version: i64,
) -> Option<Vec<&'a RowsetMeta>> {
    let mut path: Vec<&RowsetMeta> = Vec::new();
    for r in visible {
        if r.end_version <= version {
            path.push(r);
            continue;
        }
        if r.start_version > version {
            continue;
        }
        let mut inputs: Vec<&RowsetMeta> = stale
            .clone()
            .filter(|s| s.start_version >= r.start_version && s.end_version <= version)
            .collect();
        inputs.sort_by_key(|s| (s.start_version, std::cmp::Reverse(s.end_version)));
        let mut covered = r.start_version - 1;
        let before = path.len();
        for s in inputs {
            if s.start_version > covered {
                covered = s.end_version;
                path.push(s);
            }
        }
        if path.get(before).map(|s| s.start_version) != Some(r.start_version) {
            return None;
        }
    }
    path.sort_by_key(|r| r.start_version);
    Some(path)
}

/// `<root>/data/<shard>/<tablet_id>`: shards keep directories small, as in Doris.
pub fn tablet_dir(data_root: &Path, tablet_id: i64) -> PathBuf {
    data_root
        .join(format!("{}", tablet_id.rem_euclid(1024)))
        .join(tablet_id.to_string())
}
