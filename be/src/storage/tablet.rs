//! Tablet and rowset metadata kept by the BE, and the in-memory view of one tablet.
//! [`Tablet`] answers "which segment files make up version V" for readers.

use std::path::{Path, PathBuf};

use doris_common::types::ColumnType;
pub use doris_common::types::KeysType;
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ColumnMeta {
    pub name: String,
    pub column_type: ColumnType,
    pub nullable: bool,
    pub is_key: bool,
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
}

/// One segment file of a rowset.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SegmentMeta {
    /// File name inside the tablet directory.
    pub file: String,
    pub num_rows: u64,
    pub size: u64,
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
}

/// A tablet: its meta and visible rowsets.
pub struct Tablet {
    pub dir: PathBuf,
    pub meta: RwLock<TabletMeta>,
    pub rowsets: RwLock<Vec<RowsetMeta>>,
}

/// A segment file to read: absolute path and size, and where it stands in load order.
#[derive(Debug, Clone)]
pub struct SegmentFile {
    pub path: PathBuf,
    pub size: u64,
    /// End version of the segment's rowset.
    pub version: i64,
    /// Position of the segment within its rowset (segments are written in load order).
    pub ordinal: usize,
}

impl Tablet {
    pub fn new(dir: PathBuf, meta: TabletMeta, rowsets: Vec<RowsetMeta>) -> Self {
        Self {
            dir,
            meta: RwLock::new(meta),
            rowsets: RwLock::new(rowsets),
        }
    }

    pub fn id(&self) -> i64 {
        self.meta.read().tablet_id
    }

    /// Segment files of every rowset visible at `version`, oldest rowset first.
    pub fn segments_at(&self, version: i64) -> Vec<SegmentFile> {
        self.rowsets
            .read()
            .iter()
            .filter(|r| r.end_version <= version)
            .flat_map(|r| {
                r.segments
                    .iter()
                    .enumerate()
                    .map(move |(ordinal, s)| (r.end_version, ordinal, s))
            })
            .map(|(version, ordinal, s)| SegmentFile {
                path: self.dir.join(&s.file),
                size: s.size,
                version,
                ordinal,
            })
            .collect()
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
}

/// `<root>/data/<shard>/<tablet_id>`: shards keep directories small, as in Doris.
pub fn tablet_dir(data_root: &Path, tablet_id: i64) -> PathBuf {
    data_root
        .join(format!("{}", tablet_id.rem_euclid(1024)))
        .join(tablet_id.to_string())
}
