//! The BE storage engine: tablets, rowsets and segment files under `storage_root_path`,
//! their metadata in RocksDB. [`StorageEngine`] is the entry point: create/drop tablets,
//! record pending rowsets of a load transaction, publish them at a version, list segments.

pub mod compaction;
pub mod delete_bitmap;
pub mod meta_store;
pub mod partial_update;
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
use compaction::{CompactionConfig, CompactionKind};
use delete_bitmap::{
    bitmap_key, parse_bitmap_key, rowset_bitmap_prefix, tablet_bitmap_prefix, BitmapEntry,
    BITMAP_PREFIX,
};
use meta_store::{
    pending_key, rowset_key, tablet_key, MetaBatch, MetaStore, PENDING_PREFIX, ROWSET_PREFIX,
    TABLET_PREFIX,
};
pub use segment::SegmentOptions;
use segment_cache::SegmentCache;
use tablet::{tablet_dir, RowsetMeta, StaleRowset, Tablet, TabletMeta};

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
    /// Encoded keys of merge-on-write segments for publish-time lookups.
    pub key_index: delete_bitmap::KeyIndexCache,
    pub compaction: CompactionConfig,
}

/// What one compaction did.
#[derive(Debug, Clone)]
pub struct CompactionOutcome {
    pub input_rowsets: usize,
    pub input_rows: u64,
    pub output_rows: u64,
    pub versions: (i64, i64),
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
            key_index: delete_bitmap::KeyIndexCache::new(256 << 20),
            compaction: CompactionConfig::default(),
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
        self.create_tablets(vec![meta])
    }

    /// Creates tablets (those that exist already are left alone) in one metadata write.
    pub fn create_tablets(&self, metas: Vec<TabletMeta>) -> Result<()> {
        let _guard = self.publish_lock.lock();
        let mut batch = MetaBatch::default();
        let mut created = Vec::with_capacity(metas.len());
        {
            let tablets = self.tablets.read();
            for meta in metas {
                if tablets.contains_key(&meta.tablet_id) {
                    continue;
                }
                let dir = tablet_dir(&self.data_root, meta.tablet_id);
                std::fs::create_dir_all(&dir)?;
                batch.put(&tablet_key(meta.tablet_id), &meta)?;
                created.push((dir, meta));
            }
        }
        if batch.is_empty() {
            return Ok(());
        }
        self.meta.write(batch)?;
        let mut tablets = self.tablets.write();
        for (dir, meta) in created {
            tablets.insert(meta.tablet_id, Arc::new(Tablet::new(dir, meta, Vec::new())));
        }
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
                        partial_update::fill_from_current_rows(
                            &tablet,
                            &mut r,
                            version,
                            &self.segment_cache,
                            &self.segment_options,
                        )?;
                        replaced = delete_bitmap::replaced_rows(
                            &tablet,
                            &r,
                            version,
                            (&self.segment_cache, &self.key_index),
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

    /// A light schema change: the tablets' columns become `columns` (data untouched:
    /// segments written before read added columns as their fill values). A schema older
    /// than the tablet's is ignored.
    pub fn update_schema(
        &self,
        tablet_ids: &[i64],
        columns: Vec<tablet::ColumnMeta>,
        schema_version: i32,
    ) -> Result<()> {
        let _guard = self.publish_lock.lock();
        let mut batch = MetaBatch::default();
        let mut updated = Vec::new();
        for &id in tablet_ids {
            let tablet = self.tablet(id)?;
            let mut meta = tablet.meta.read().clone();
            if meta.schema_version > schema_version {
                continue;
            }
            meta.columns = columns.clone();
            meta.schema_version = schema_version;
            batch.put(&tablet_key(id), &meta)?;
            updated.push((tablet, meta));
        }
        self.meta.write(batch)?;
        for (tablet, meta) in updated {
            *tablet.meta.write() = meta;
        }
        Ok(())
    }

    /// Builds the rows of materialized index tablet `index_id` up to `version` from base
    /// tablet `base_id` (each index column from the base column named in `sources`), and
    /// puts them in place of the index tablet's rowsets up to that version (those loads
    /// wrote while the index was being created; the later ones stay). Running it again
    /// gives the same result.
    pub fn build_index(
        &self,
        (base_id, index_id): (i64, i64),
        version: i64,
        (sources, fills): (&[String], &HashMap<u32, String>),
    ) -> Result<()> {
        let base = self.tablet(base_id)?;
        let index = self.tablet(index_id)?;
        let index_meta = index.meta.read().clone();
        if sources.len() != index_meta.columns.len() {
            return Err(BeError::InvalidArgument(format!(
                "{} source columns for an index of {}",
                sources.len(),
                index_meta.columns.len()
            )));
        }
        // A column the base lacks (added by a schema change) reads as its fill value.
        let specs: Vec<segment_cache::ColumnSpec> = sources
            .iter()
            .zip(&index_meta.columns)
            .enumerate()
            .map(|(i, (source, c))| {
                let fill = fills.get(&(i as u32)).map(String::as_str);
                segment_cache::ColumnSpec::new(source, c.column_type.to_arrow(), fill)
            })
            .collect();
        let schema = Arc::new(datafusion::arrow::datatypes::Schema::new(
            index_meta
                .columns
                .iter()
                .map(|c| c.column_type.to_field(&c.name.to_lowercase(), c.nullable))
                .collect::<Vec<_>>(),
        ));
        let mut batches = Vec::new();
        for seg in base.segments_at(version)? {
            let columns = self
                .segment_cache
                .read(&seg.path, seg.num_rows as usize, &specs)?;
            let mut offset = 0u32;
            for i in 0..columns.first().map_or(0, |c| c.len()) {
                let arrays = columns.iter().map(|c| Arc::clone(&c[i])).collect();
                let batch = datafusion::arrow::record_batch::RecordBatch::try_new(
                    Arc::clone(&schema),
                    arrays,
                )
                .map_err(datafusion::error::DataFusionError::from)?;
                let n = batch.num_rows() as u32;
                let batch = match &seg.deleted {
                    Some(d) => {
                        let keep: datafusion::arrow::array::BooleanArray =
                            (offset..offset + n).map(|r| Some(!d.contains(r))).collect();
                        datafusion::arrow::compute::filter_record_batch(&batch, &keep)
                            .map_err(datafusion::error::DataFusionError::from)?
                    }
                    None => batch,
                };
                offset += n;
                batches.push(batch);
            }
        }
        let keys = index_meta.key_columns();
        let sorted = segment::sort_by_keys(&schema, &batches, &keys)?;
        drop(batches);
        let rowset_id = Self::new_rowset_id();
        let segments = compaction::write_output(
            &index,
            &rowset_id,
            &sorted,
            self.write_buffer_rows.max(1),
            &self.segment_options,
        )?;
        let built = RowsetMeta {
            rowset_id,
            tablet_id: index_id,
            txn_id: 0,
            start_version: 0,
            end_version: version,
            num_rows: segments.iter().map(|s| s.num_rows).sum(),
            data_size: segments.iter().map(|s| s.size).sum(),
            segments,
            creation_time_ms: now_ms(),
            delete_predicate: None,
            partial_columns: None,
        };
        let _guard = self.publish_lock.lock();
        let replaced: Vec<RowsetMeta> = index
            .rowsets
            .read()
            .iter()
            .filter(|r| r.end_version <= version)
            .cloned()
            .collect();
        let mut batch = MetaBatch::default();
        batch.put(&rowset_key(index_id, &built.rowset_id), &built)?;
        for r in &replaced {
            batch.delete(&rowset_key(index_id, &r.rowset_id));
        }
        let mut meta = index.meta.read().clone();
        meta.max_version = meta.max_version.max(version);
        batch.put(&tablet_key(index_id), &meta)?;
        self.meta.write(batch)?;
        {
            let mut rowsets = index.rowsets.write();
            rowsets.retain(|r| r.end_version > version);
            rowsets.push(built);
            rowsets.sort_by_key(|r| r.start_version);
        }
        *index.meta.write() = meta;
        let since = std::time::Instant::now();
        index.stale.write().extend(
            replaced
                .into_iter()
                .map(|rowset| StaleRowset { rowset, since }),
        );
        Ok(())
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
                partial_columns: None,
            });
        }
        self.add_pending_rowsets(&rowsets)
    }

    /// Runs one compaction of `kind` on a tablet, if its policy finds work: merges, writes
    /// the output and commits it. `Ok(None)`: nothing to do, or another compaction of the
    /// tablet is running.
    pub fn compact(
        &self,
        tablet_id: i64,
        kind: CompactionKind,
    ) -> Result<Option<CompactionOutcome>> {
        let tablet = self.tablet(tablet_id)?;
        let Some(_running) = tablet.compaction_lock.try_lock() else {
            return Ok(None);
        };
        let Some(plan) = compaction::pick(&tablet, kind, &self.compaction) else {
            return Ok(None);
        };
        let result = self.run_compaction(&tablet, &plan);
        let now = now_ms();
        let mut guard = tablet.compaction_status.lock();
        let status = &mut *guard;
        let (success, failure) = match kind {
            CompactionKind::Cumulative => (
                &mut status.last_cumulative_success_ms,
                &mut status.last_cumulative_failure_ms,
            ),
            CompactionKind::Base | CompactionKind::Full => (
                &mut status.last_base_success_ms,
                &mut status.last_base_failure_ms,
            ),
        };
        match &result {
            Ok(Some(_)) => *success = now,
            Ok(None) => {}
            Err(e) => {
                *failure = now;
                warn!(tablet_id, error = %e, "compaction failed");
            }
        }
        result
    }

    fn run_compaction(
        &self,
        tablet: &Arc<Tablet>,
        plan: &compaction::Plan,
    ) -> Result<Option<CompactionOutcome>> {
        if plan.inputs.is_empty() {
            // Only the cumulative point moves (large rowsets joined the base layer).
            let _guard = self.publish_lock.lock();
            let mut meta = tablet.meta.read().clone();
            meta.cumulative_point = plan.cumulative_point;
            let mut batch = MetaBatch::default();
            batch.put(&tablet_key(meta.tablet_id), &meta)?;
            self.meta.write(batch)?;
            *tablet.meta.write() = meta;
            return Ok(None);
        }
        let first = tablet.rowsets.read().first().map(|r| r.start_version);
        let from_first = first == plan.inputs.first().map(|r| r.start_version);
        let merged = compaction::merge(tablet, &plan.inputs, from_first)?;
        let rowset_id = Self::new_rowset_id();
        let rows_per_segment = self.write_buffer_rows.max(1);
        let segments = compaction::write_output(
            tablet,
            &rowset_id,
            &merged.batch,
            rows_per_segment,
            &self.segment_options,
        )?;
        let output = RowsetMeta {
            rowset_id,
            tablet_id: tablet.id(),
            txn_id: 0,
            start_version: plan.inputs.first().map_or(0, |r| r.start_version),
            end_version: plan.inputs.last().map_or(0, |r| r.end_version),
            num_rows: segments.iter().map(|s| s.num_rows).sum(),
            data_size: segments.iter().map(|s| s.size).sum(),
            segments,
            creation_time_ms: now_ms(),
            delete_predicate: None,
            partial_columns: None,
        };
        let outcome = CompactionOutcome {
            input_rowsets: plan.inputs.len(),
            input_rows: plan.inputs.iter().map(|r| r.num_rows).sum(),
            output_rows: output.num_rows,
            versions: (output.start_version, output.end_version),
        };
        match self.commit_compaction(tablet, plan, &output, &merged, rows_per_segment) {
            Ok(true) => {
                info!(tablet_id = tablet.id(), kind = ?plan.kind, ?outcome, "compaction done");
                Ok(Some(outcome))
            }
            Ok(false) => {
                remove_segment_files(&tablet.dir, &output);
                Ok(None)
            }
            Err(e) => {
                remove_segment_files(&tablet.dir, &output);
                Err(e)
            }
        }
    }

    /// Replaces a compaction's inputs by its output in one atomic meta write, moving the
    /// delete-bitmap marks later versions put on the inputs to the output's rows. `false`:
    /// the inputs changed meanwhile (tablet dropped, another compaction), nothing done.
    pub(crate) fn commit_compaction(
        &self,
        tablet: &Arc<Tablet>,
        plan: &compaction::Plan,
        output: &RowsetMeta,
        merged: &compaction::Merged,
        rows_per_segment: usize,
    ) -> Result<bool> {
        let _guard = self.publish_lock.lock();
        let id = tablet.id();
        if !self
            .tablets
            .read()
            .get(&id)
            .is_some_and(|t| Arc::ptr_eq(t, tablet))
        {
            return Ok(false);
        }
        let is_input = |rowset_id: &str| plan.inputs.iter().any(|i| i.rowset_id == rowset_id);
        if tablet
            .rowsets
            .read()
            .iter()
            .filter(|r| is_input(&r.rowset_id))
            .count()
            != plan.inputs.len()
        {
            return Ok(false);
        }
        let marks: Vec<BitmapEntry> = {
            let bitmap = tablet.delete_bitmap.read();
            plan.inputs
                .iter()
                .flat_map(|r| bitmap.entries_of(&r.rowset_id))
                .filter(|e| e.version > output.end_version)
                .collect()
        };
        let carried = compaction::carry_marks(merged, &marks, &output.rowset_id, rows_per_segment);
        let mut batch = MetaBatch::default();
        batch.put(&rowset_key(id, &output.rowset_id), output)?;
        for r in &plan.inputs {
            batch.delete(&rowset_key(id, &r.rowset_id));
            for (key, _) in self
                .meta
                .scan_prefix_raw(&rowset_bitmap_prefix(id, &r.rowset_id))?
            {
                batch.delete(&key);
            }
        }
        for e in &carried {
            batch.put_raw(
                &bitmap_key(id, &e.rowset_id, e.segment, e.version),
                &delete_bitmap::encode(&e.rows)?,
            );
        }
        let mut meta = tablet.meta.read().clone();
        meta.cumulative_point = plan.cumulative_point;
        batch.put(&tablet_key(id), &meta)?;
        self.meta.write(batch)?;
        // The tablet meta on its own: other threads may hold it while taking the locks
        // below (never the reverse).
        *tablet.meta.write() = meta;
        // Readers take the bitmap, then the rowsets, then the stale list: they see the
        // output with its marks, or the inputs.
        let mut bitmap = tablet.delete_bitmap.write();
        for e in carried {
            bitmap.add(e);
        }
        let mut rowsets = tablet.rowsets.write();
        rowsets.retain(|r| !is_input(&r.rowset_id));
        rowsets.push(output.clone());
        rowsets.sort_by_key(|r| r.start_version);
        let since = std::time::Instant::now();
        tablet
            .stale
            .write()
            .extend(plan.inputs.iter().map(|r| StaleRowset {
                rowset: r.clone(),
                since,
            }));
        Ok(true)
    }

    /// One round of background work: compactions of the tablets that need one (most
    /// rowsets first), then removal of replaced rowsets past their keep time.
    pub fn compaction_round(&self) {
        if !self.compaction.disable_auto_compaction {
            let tablets = self.all_tablets();
            let mut work: Vec<(usize, i64, CompactionKind)> = Vec::new();
            for t in &tablets {
                for kind in [CompactionKind::Cumulative, CompactionKind::Base] {
                    if let Some(plan) = compaction::pick(t, kind, &self.compaction) {
                        work.push((plan.inputs.len(), t.id(), kind));
                    }
                }
            }
            work.sort_by_key(|w| std::cmp::Reverse(w.0));
            for (_, tablet_id, kind) in work {
                // Failures are logged and recorded in the tablet's compaction status.
                let _ = self.compact(tablet_id, kind);
            }
        }
        self.sweep_stale();
    }

    /// Deletes the files of rowsets replaced longer ago than the keep time.
    pub fn sweep_stale(&self) {
        let keep = std::time::Duration::from_secs(self.compaction.stale_sweep_sec);
        for t in self.all_tablets() {
            let expired: Vec<RowsetMeta> = {
                let mut stale = t.stale.write();
                let (old, kept): (Vec<StaleRowset>, Vec<StaleRowset>) =
                    stale.drain(..).partition(|s| s.since.elapsed() >= keep);
                *stale = kept;
                old.into_iter().map(|s| s.rowset).collect()
            };
            for r in &expired {
                t.delete_bitmap.write().remove_rowset(&r.rowset_id);
                remove_segment_files(&t.dir, r);
            }
        }
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

    /// Statistics of the tablets `only` names (unknown ids skipped), or of every tablet.
    pub fn tablet_stats(&self, only: &[i64]) -> Vec<TabletStat> {
        let tablets = if only.is_empty() {
            self.all_tablets()
        } else {
            let map = self.tablets.read();
            only.iter().filter_map(|id| map.get(id).cloned()).collect()
        };
        let mut out: Vec<TabletStat> = tablets
            .iter()
            .map(|t| {
                // One lock at a time: a guard in the struct literal would be held while
                // the next field takes the rowsets' lock.
                let max_version = t.meta.read().max_version;
                TabletStat {
                    tablet_id: t.id(),
                    max_version,
                    row_count: t.row_count(),
                    data_size: t.data_size(),
                    rowset_count: t.rowset_count(),
                    columns: t.column_stats(),
                }
            })
            .collect();
        out.sort_by_key(|s| s.tablet_id);
        out
    }

    /// `(tablet count, bytes of segment data)`.
    pub fn usage(&self) -> (usize, u64) {
        // The map's lock is not held while each tablet's own locks are taken.
        let tablets = self.all_tablets();
        (tablets.len(), tablets.iter().map(|t| t.data_size()).sum())
    }

    /// Every tablet, without holding the map's lock afterwards.
    fn all_tablets(&self) -> Vec<Arc<Tablet>> {
        self.tablets.read().values().cloned().collect()
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
