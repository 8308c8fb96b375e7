//! The BE storage engine: tablets, rowsets and segment files under `storage_root_path`,
//! their metadata in RocksDB. [`StorageEngine`] is the entry point: create/drop tablets,
//! record pending rowsets of a load transaction, publish them at a version, list segments.

pub mod delete_bitmap;
pub mod meta_store;
pub mod segment;
pub mod segment_cache;
pub mod tablet;
pub mod writer;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use parking_lot::{Mutex, RwLock};
use tracing::{info, warn};

use crate::error::{BeError, Result};
use delete_bitmap::{
    bitmap_key, parse_bitmap_key, tablet_bitmap_prefix, BitmapEntry, BITMAP_PREFIX,
};
use meta_store::{
    pending_key, rowset_key, tablet_key, MetaBatch, MetaStore, PENDING_PREFIX, ROWSET_PREFIX,
    TABLET_PREFIX,
};
pub use segment::SegmentOptions;
use segment_cache::SegmentCache;
use tablet::{tablet_dir, RowsetMeta, Tablet, TabletMeta};

pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Per-tablet statistics for reports and `SHOW TABLETS`.
#[derive(Debug, Clone)]
pub struct TabletStat {
    pub tablet_id: i64,
    pub max_version: i64,
    pub row_count: u64,
    pub data_size: u64,
    pub rowset_count: usize,
    pub columns: Vec<tablet::ColumnStats>,
}

pub struct StorageEngine {
    root: PathBuf,
    data_root: PathBuf,
    meta: MetaStore,
    tablets: RwLock<HashMap<i64, Arc<Tablet>>>,
    /// Serialises publishes and drops so each sees a consistent tablet set.
    publish_lock: Mutex<()>,
    pub segment_options: SegmentOptions,
    pub write_buffer_rows: usize,
    /// Bytes one load may buffer across its tablets before the largest buffer is flushed.
    pub write_buffer_bytes: usize,
    /// This backend's id in the cluster (from the FE's heartbeats; 0 before the first).
    backend_id: std::sync::atomic::AtomicI64,
    /// Decoded segment columns, shared with scans (merge-on-write publishes read keys
    /// through it).
    pub segment_cache: Arc<SegmentCache>,
}

impl std::fmt::Debug for StorageEngine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StorageEngine")
            .field("root", &self.root)
            .finish()
    }
}

impl StorageEngine {
    /// Opens (or creates) the store at `root`, loads every tablet, and removes segment
    /// files that no rowset references plus pending data older than `pending_expire_sec`.
    pub fn open(
        root: &Path,
        segment_options: SegmentOptions,
        (write_buffer_rows, write_buffer_bytes): (usize, usize),
        pending_expire_sec: u64,
    ) -> Result<Self> {
        std::fs::create_dir_all(root.join("data"))?;
        // Segment paths become object-store locations: no `..`, no symlinks.
        let root = &root.canonicalize()?;
        let data_root = root.join("data");
        let meta = MetaStore::open(&root.join("meta"))?;
        let engine = Self {
            root: root.to_path_buf(),
            data_root,
            meta,
            tablets: RwLock::new(HashMap::new()),
            publish_lock: Mutex::new(()),
            segment_options,
            write_buffer_rows: write_buffer_rows.max(1),
            write_buffer_bytes: write_buffer_bytes.max(1 << 20),
            backend_id: std::sync::atomic::AtomicI64::new(0),
            segment_cache: Arc::new(SegmentCache::new(0)),
        };
        engine.load()?;
        engine.expire_pending(pending_expire_sec)?;
        engine.remove_orphan_files()?;
        Ok(engine)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// This backend's id, once a heartbeat told it.
    pub fn backend_id(&self) -> Option<i64> {
        let id = self.backend_id.load(std::sync::atomic::Ordering::Relaxed);
        (id != 0).then_some(id)
    }

    pub fn set_backend_id(&self, id: i64) {
        self.backend_id
            .store(id, std::sync::atomic::Ordering::Relaxed);
    }

    fn load(&self) -> Result<()> {
        let metas: Vec<(String, TabletMeta)> = self.meta.scan_prefix(TABLET_PREFIX)?;
        let rowsets: Vec<(String, RowsetMeta)> = self.meta.scan_prefix(ROWSET_PREFIX)?;
        let mut by_tablet: HashMap<i64, Vec<RowsetMeta>> = HashMap::new();
        for (_, r) in rowsets {
            by_tablet.entry(r.tablet_id).or_default().push(r);
        }
        let mut tablets = self.tablets.write();
        for (_, m) in metas {
            let mut rs = by_tablet.remove(&m.tablet_id).unwrap_or_default();
            rs.sort_by_key(|r| r.start_version);
            let dir = tablet_dir(&self.data_root, m.tablet_id);
            tablets.insert(m.tablet_id, Arc::new(Tablet::new(dir, m, rs)));
        }
        for (key, bytes) in self.meta.scan_prefix_raw(BITMAP_PREFIX)? {
            let (tablet_id, rowset_id, segment, version) = parse_bitmap_key(&key)
                .ok_or_else(|| BeError::Corrupt(format!("delete bitmap key {key}")))?;
            if let Some(t) = tablets.get(&tablet_id) {
                t.delete_bitmap.write().add(BitmapEntry {
                    rowset_id,
                    segment,
                    version,
                    rows: delete_bitmap::decode(&bytes)?,
                });
            }
        }
        info!(tablets = tablets.len(), "storage engine loaded");
        Ok(())
    }

    fn expire_pending(&self, expire_sec: u64) -> Result<()> {
        let pending: Vec<(String, RowsetMeta)> = self.meta.scan_prefix(PENDING_PREFIX)?;
        let cutoff = now_ms() - (expire_sec as i64).saturating_mul(1000);
        let mut batch = MetaBatch::default();
        for (key, r) in pending {
            if r.creation_time_ms < cutoff {
                warn!(
                    txn_id = r.txn_id,
                    tablet_id = r.tablet_id,
                    "removing expired pending rowset"
                );
                batch.delete(&key);
            }
        }
        if !batch.is_empty() {
            self.meta.write(batch)?;
        }
        Ok(())
    }

    /// Deletes segment files referenced by no visible or pending rowset (left by a crash
    /// between writing a file and recording it) and directories of dropped tablets.
    fn remove_orphan_files(&self) -> Result<()> {
        let mut referenced: HashSet<PathBuf> = HashSet::new();
        for t in self.tablets.read().values() {
            for r in t.rowsets.read().iter() {
                for s in &r.segments {
                    referenced.insert(t.dir.join(&s.file));
                }
            }
        }
        let pending: Vec<(String, RowsetMeta)> = self.meta.scan_prefix(PENDING_PREFIX)?;
        for (_, r) in &pending {
            let dir = tablet_dir(&self.data_root, r.tablet_id);
            for s in &r.segments {
                referenced.insert(dir.join(&s.file));
            }
        }
        let live: HashSet<i64> = self.tablets.read().keys().copied().collect();
        let mut removed = 0usize;
        for shard in read_dir_paths(&self.data_root)? {
            for tdir in read_dir_paths(&shard)? {
                let id: Option<i64> = tdir.file_name().and_then(|n| n.to_str()?.parse().ok());
                if id.is_some_and(|id| !live.contains(&id)) {
                    std::fs::remove_dir_all(&tdir)?;
                    removed += 1;
                    continue;
                }
                for f in read_dir_paths(&tdir)? {
                    if !referenced.contains(&f) {
                        std::fs::remove_file(&f)?;
                        removed += 1;
                    }
                }
            }
        }
        if removed > 0 {
            info!(removed, "removed orphan segment files");
        }
        Ok(())
    }

    pub fn tablet(&self, tablet_id: i64) -> Result<Arc<Tablet>> {
        self.tablets
            .read()
            .get(&tablet_id)
            .cloned()
            .ok_or(BeError::TabletNotFound(tablet_id))
    }

    /// Creates a tablet; creating one that exists with the same id is a no-op.
    pub fn create_tablet(&self, meta: TabletMeta) -> Result<()> {
        let _guard = self.publish_lock.lock();
        if self.tablets.read().contains_key(&meta.tablet_id) {
            return Ok(());
        }
        let dir = tablet_dir(&self.data_root, meta.tablet_id);
        std::fs::create_dir_all(&dir)?;
        let mut batch = MetaBatch::default();
        batch.put(&tablet_key(meta.tablet_id), &meta)?;
        self.meta.write(batch)?;
        self.tablets
            .write()
            .insert(meta.tablet_id, Arc::new(Tablet::new(dir, meta, Vec::new())));
        Ok(())
    }

    /// Drops tablets with their rowsets and files; unknown ids are ignored.
    pub fn drop_tablets(&self, ids: &[i64]) -> Result<()> {
        let _guard = self.publish_lock.lock();
        let mut batch = MetaBatch::default();
        let mut dirs = Vec::new();
        for id in ids {
            let Some(t) = self.tablets.read().get(id).cloned() else {
                continue;
            };
            batch.delete(&tablet_key(*id));
            for r in t.rowsets.read().iter() {
                batch.delete(&rowset_key(*id, &r.rowset_id));
            }
            for (key, _) in self.meta.scan_prefix_raw(&tablet_bitmap_prefix(*id))? {
                batch.delete(&key);
            }
            dirs.push(t.dir.clone());
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.meta.write(batch)?;
        {
            let mut tablets = self.tablets.write();
            for id in ids {
                tablets.remove(id);
            }
        }
        for d in dirs {
            if let Err(e) = std::fs::remove_dir_all(&d) {
                warn!(dir = %d.display(), error = %e, "cannot remove dropped tablet dir");
            }
        }
        Ok(())
    }

    pub fn tablet_dir(&self, tablet_id: i64) -> PathBuf {
        tablet_dir(&self.data_root, tablet_id)
    }

    pub fn new_rowset_id() -> String {
        format!("02{}", uuid::Uuid::new_v4().simple())
    }

    /// Records the rowsets a load wrote, invisible until [`Self::publish`].
    pub fn add_pending_rowsets(&self, rowsets: &[RowsetMeta]) -> Result<()> {
        let mut batch = MetaBatch::default();
        for r in rowsets {
            self.tablet(r.tablet_id)?;
            batch.put(&pending_key(r.txn_id, r.tablet_id), r)?;
        }
        if !batch.is_empty() {
            self.meta.write(batch)?;
        }
        Ok(())
    }

    /// Makes `txn_id`'s pending rowsets visible at the given versions, atomically for all
    /// tablets of this BE. Tablets the load did not touch just advance their version.
    /// Publishing again is harmless. Returns tablets this BE does not have.
    pub fn publish(&self, txn_id: i64, tablet_versions: &HashMap<i64, i64>) -> Result<Vec<i64>> {
        let _guard = self.publish_lock.lock();
        let mut batch = MetaBatch::default();
        let mut missing = Vec::new();
        // Per tablet: the version, the rowset made visible and the rows it deletes.
        type Update = (Arc<Tablet>, i64, Option<RowsetMeta>, Vec<BitmapEntry>);
        let mut updates: Vec<Update> = Vec::new();
        for (&tablet_id, &version) in tablet_versions {
            let Ok(tablet) = self.tablet(tablet_id) else {
                missing.push(tablet_id);
                continue;
            };
            let pkey = pending_key(txn_id, tablet_id);
            let pending: Option<RowsetMeta> = self.meta.get(&pkey)?;
            let mut replaced = Vec::new();
            let published = match pending {
                Some(mut r) => {
                    r.start_version = version;
                    r.end_version = version;
                    if let Some(predicate) = &r.delete_predicate {
                        replaced = delete_bitmap::matching_rows(
                            &tablet,
                            predicate,
                            version,
                            &self.segment_cache,
                        )?;
                    } else if tablet.meta.read().merge_on_write {
                        replaced = delete_bitmap::replaced_rows(
                            &tablet,
                            &r,
                            version,
                            &self.segment_cache,
                        )?;
                    }
                    for e in &replaced {
                        batch.put_raw(
                            &bitmap_key(tablet_id, &e.rowset_id, e.segment, e.version),
                            &delete_bitmap::encode(&e.rows)?,
                        );
                    }
                    batch.delete(&pkey);
                    batch.put(&rowset_key(tablet_id, &r.rowset_id), &r)?;
                    Some(r)
                }
                None => None,
            };
            let mut meta = tablet.meta.read().clone();
            if version > meta.max_version {
                meta.max_version = version;
                batch.put(&tablet_key(tablet_id), &meta)?;
            }
            updates.push((tablet, version, published, replaced));
        }
        self.meta.write(batch)?;
        for (tablet, version, published, replaced) in updates {
            {
                let mut m = tablet.meta.write();
                m.max_version = m.max_version.max(version);
            }
            if let Some(r) = published {
                // Readers take the bitmap before the rowsets: they see the new rowset
                // together with the rows it replaces.
                let mut bitmap = tablet.delete_bitmap.write();
                for e in replaced {
                    bitmap.add(e);
                }
                let mut rs = tablet.rowsets.write();
                if !rs.iter().any(|x| x.rowset_id == r.rowset_id) {
                    rs.push(r);
                    rs.sort_by_key(|x| x.start_version);
                }
            }
        }
        Ok(missing)
    }

    /// Records a DELETE of `txn_id` on these tablets: a pending rowset that carries only
    /// the predicate (checked against each tablet's columns now, so a bad predicate fails
    /// the DELETE before it commits).
    pub fn add_delete(&self, txn_id: i64, tablet_ids: &[i64], predicate: &str) -> Result<()> {
        let mut rowsets = Vec::with_capacity(tablet_ids.len());
        for &tablet_id in tablet_ids {
            let tablet = self.tablet(tablet_id)?;
            delete_bitmap::DeletePredicate::compile(&tablet.meta.read(), predicate)?;
            rowsets.push(RowsetMeta {
                rowset_id: Self::new_rowset_id(),
                tablet_id,
                txn_id,
                start_version: 0,
                end_version: 0,
                num_rows: 0,
                data_size: 0,
                segments: Vec::new(),
                creation_time_ms: now_ms(),
                delete_predicate: Some(predicate.to_string()),
            });
        }
        self.add_pending_rowsets(&rowsets)
    }

    /// Discards the pending rowsets of an aborted transaction and their files.
    pub fn clear_txn(&self, txn_id: i64) -> Result<()> {
        let prefix = format!("{PENDING_PREFIX}{txn_id:020}/");
        let pending: Vec<(String, RowsetMeta)> = self.meta.scan_prefix(&prefix)?;
        let mut batch = MetaBatch::default();
        for (key, _) in &pending {
            batch.delete(key);
        }
        if !batch.is_empty() {
            self.meta.write(batch)?;
        }
        for (_, r) in pending {
            remove_segment_files(&self.tablet_dir(r.tablet_id), &r);
        }
        Ok(())
    }

    pub fn tablet_stats(&self) -> Vec<TabletStat> {
        let mut out: Vec<TabletStat> = self
            .tablets
            .read()
            .values()
            .map(|t| TabletStat {
                tablet_id: t.id(),
                max_version: t.meta.read().max_version,
                row_count: t.row_count(),
                data_size: t.data_size(),
                rowset_count: t.rowset_count(),
                columns: t.column_stats(),
            })
            .collect();
        out.sort_by_key(|s| s.tablet_id);
        out
    }

    /// `(tablet count, bytes of segment data)`.
    pub fn usage(&self) -> (usize, u64) {
        let tablets = self.tablets.read();
        (tablets.len(), tablets.values().map(|t| t.data_size()).sum())
    }
}

/// Best-effort removal of a rowset's files (used when a load fails or is aborted).
pub fn remove_segment_files(dir: &Path, rowset: &RowsetMeta) {
    for s in &rowset.segments {
        let p = dir.join(&s.file);
        if let Err(e) = std::fs::remove_file(&p) {
            if e.kind() != std::io::ErrorKind::NotFound {
                warn!(file = %p.display(), error = %e, "cannot remove segment file");
            }
        }
    }
}

fn read_dir_paths(dir: &Path) -> Result<Vec<PathBuf>> {
    match std::fs::read_dir(dir) {
        Ok(entries) => Ok(entries.filter_map(|e| e.ok().map(|e| e.path())).collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e.into()),
    }
}
