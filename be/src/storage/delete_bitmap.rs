//! Delete bitmaps: which rows of each segment a later version removed. [`DeleteBitmap`] is
//! one tablet's set, persisted under `dlb/<tablet>/<rowset>/<segment>/<version>`. Two kinds
//! of publish add to it: a load into a merge-on-write UNIQUE KEY tablet marks the rows its
//! keys replace ([`replaced_rows`]), and a DELETE on any other tablet marks the older rows
//! its predicate matches ([`matching_rows`]). A read at version V skips the rows marked at
//! versions up to V; a read at an older version still sees them.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch};
use datafusion::arrow::compute::concat;
use datafusion::arrow::datatypes::{Schema, SchemaRef};
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::common::DFSchema;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::prelude::SessionContext;
use roaring::RoaringBitmap;

use super::segment_cache::{ColumnSpec, SegmentCache};
use super::tablet::{RowsetMeta, Tablet, TabletMeta};
use crate::error::{BeError, Result};

/// Key prefix of delete bitmaps: `dlb/<tablet_id>/<rowset_id>/<segment>/<version>`.
pub const BITMAP_PREFIX: &str = "dlb/";

pub fn bitmap_key(tablet_id: i64, rowset_id: &str, segment: u32, version: i64) -> String {
    format!("{BITMAP_PREFIX}{tablet_id:020}/{rowset_id}/{segment:06}/{version:020}")
}

/// Prefix of one tablet's bitmaps.
pub fn tablet_bitmap_prefix(tablet_id: i64) -> String {
    format!("{BITMAP_PREFIX}{tablet_id:020}/")
}

/// Prefix of one rowset's bitmaps.
pub fn rowset_bitmap_prefix(tablet_id: i64, rowset_id: &str) -> String {
    format!("{BITMAP_PREFIX}{tablet_id:020}/{rowset_id}/")
}

/// Splits a [`bitmap_key`] into `(tablet_id, rowset_id, segment, version)`.
pub fn parse_bitmap_key(key: &str) -> Option<(i64, String, u32, i64)> {
    let mut parts = key.strip_prefix(BITMAP_PREFIX)?.split('/');
    let tablet_id = parts.next()?.parse().ok()?;
    let rowset_id = parts.next()?.to_string();
    let segment = parts.next()?.parse().ok()?;
    let version = parts.next()?.parse().ok()?;
    Some((tablet_id, rowset_id, segment, version))
}

pub fn encode(bitmap: &RoaringBitmap) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bitmap.serialized_size());
    bitmap.serialize_into(&mut out)?;
    Ok(out)
}

pub fn decode(bytes: &[u8]) -> Result<RoaringBitmap> {
    RoaringBitmap::deserialize_from(bytes)
        .map_err(|e| BeError::Corrupt(format!("delete bitmap: {e}")))
}

/// One segment's rows replaced by the load published at `version`.
#[derive(Debug, Clone)]
pub struct BitmapEntry {
    pub rowset_id: String,
    pub segment: u32,
    pub version: i64,
    pub rows: RoaringBitmap,
}

/// A tablet's delete bitmaps: per segment, the rows each later version replaced.
#[derive(Debug, Default)]
pub struct DeleteBitmap {
    entries: HashMap<(String, u32), BTreeMap<i64, RoaringBitmap>>,
}

impl DeleteBitmap {
    pub fn add(&mut self, entry: BitmapEntry) {
        *self
            .entries
            .entry((entry.rowset_id, entry.segment))
            .or_default()
            .entry(entry.version)
            .or_default() |= entry.rows;
    }

    /// Rows of the segment replaced by versions up to `version`; `None` when there are none.
    pub fn deleted(&self, rowset_id: &str, segment: u32, version: i64) -> Option<RoaringBitmap> {
        let by_version = self.entries.get(&(rowset_id.to_string(), segment))?;
        let mut rows = RoaringBitmap::new();
        for (_, r) in by_version.range(..=version) {
            rows |= r;
        }
        (!rows.is_empty()).then_some(rows)
    }

    /// Every entry of a rowset's segments (to move or drop them with the rowset).
    pub fn entries_of(&self, rowset_id: &str) -> Vec<BitmapEntry> {
        let mut out = Vec::new();
        for ((rs, segment), by_version) in &self.entries {
            if rs != rowset_id {
                continue;
            }
            for (version, rows) in by_version {
                out.push(BitmapEntry {
                    rowset_id: rs.clone(),
                    segment: *segment,
                    version: *version,
                    rows: rows.clone(),
                });
            }
        }
        out
    }

    pub fn remove_rowset(&mut self, rowset_id: &str) {
        self.entries.retain(|(rs, _), _| rs != rowset_id);
    }
}

/// The key columns of one segment, encoded so that equal keys are equal bytes.
struct SegmentKeys {
    rows: Rows,
}

impl SegmentKeys {
    fn read(
        (path, num_rows): (&Path, u64),
        key_columns: &[ColumnSpec],
        converter: &RowConverter,
        cache: &SegmentCache,
    ) -> Result<Self> {
        let chunks = cache.read(path, num_rows as usize, key_columns)?;
        let columns = chunks
            .iter()
            .map(|chunks| {
                let parts: Vec<&dyn datafusion::arrow::array::Array> =
                    chunks.iter().map(|a| a.as_ref()).collect();
                if parts.is_empty() {
                    return Err(BeError::Corrupt(format!(
                        "segment {} has no rows",
                        path.display()
                    )));
                }
                Ok(concat(&parts).map_err(datafusion::error::DataFusionError::from)?)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let rows = converter
            .convert_columns(&columns)
            .map_err(datafusion::error::DataFusionError::from)?;
        Ok(Self { rows })
    }
}

/// The encoded keys of one published segment, and whether they are in order (segments
/// are sorted by key, so a few keys are looked up by binary search).
pub struct KeyIndex {
    rows: Rows,
    sorted: bool,
}

impl KeyIndex {
    fn new(rows: Rows) -> Self {
        let sorted = (1..rows.num_rows()).all(|i| rows.row(i - 1) <= rows.row(i));
        Self { rows, sorted }
    }

    /// Rows holding one of `keys`.
    fn matching(&self, keys: &HashSet<&[u8]>) -> RoaringBitmap {
        let n = self.rows.num_rows();
        // A handful of keys in many rows: binary search; else one pass over the rows.
        if self.sorted && keys.len().saturating_mul(32) < n {
            let mut out = RoaringBitmap::new();
            for key in keys {
                let mut i = partition_point(n, |i| self.rows.row(i).data() < *key);
                while i < n && self.rows.row(i).data() == *key {
                    out.insert(i as u32);
                    i += 1;
                }
            }
            return out;
        }
        self.rows
            .iter()
            .enumerate()
            .filter(|(_, k)| keys.contains(k.data()))
            .map(|(r, _)| r as u32)
            .collect()
    }
}

/// The first index in `0..n` for which `before` is false (`before` must be true, then false).
fn partition_point(n: usize, before: impl Fn(usize) -> bool) -> usize {
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if before(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The key indexes of published segments of merge-on-write tablets (Doris's primary key
/// index), so a load's publish looks its keys up instead of re-encoding every older key;
/// least recently used first out past the limit (`pk_storage_page_cache_limit`).
pub struct KeyIndexCache {
    limit: usize,
    inner: parking_lot::Mutex<(lru::LruCache<std::path::PathBuf, Arc<KeyIndex>>, usize)>,
}

impl KeyIndexCache {
    pub fn new(limit: usize) -> Self {
        Self {
            limit,
            inner: parking_lot::Mutex::new((lru::LruCache::unbounded(), 0)),
        }
    }

    fn get(
        &self,
        (path, num_rows): (&Path, u64),
        key_columns: &[ColumnSpec],
        converter: &RowConverter,
        cache: &SegmentCache,
    ) -> Result<Arc<KeyIndex>> {
        if let Some(found) = self.inner.lock().0.get(path) {
            return Ok(Arc::clone(found));
        }
        let keys = SegmentKeys::read((path, num_rows), key_columns, converter, cache)?;
        let index = Arc::new(KeyIndex::new(keys.rows));
        let bytes = index.rows.size();
        let mut inner = self.inner.lock();
        if let Some(old) = inner.0.put(path.to_path_buf(), Arc::clone(&index)) {
            inner.1 = inner.1.saturating_sub(old.rows.size());
        }
        inner.1 += bytes;
        while inner.1 > self.limit {
            match inner.0.pop_lru() {
                Some((_, old)) => inner.1 = inner.1.saturating_sub(old.rows.size()),
                None => break,
            }
        }
        Ok(index)
    }
}

/// The rows that publishing `rowset` at `version` replaces in `tablet` (a merge-on-write
/// UNIQUE KEY tablet): for each of its segments in load order, the rows with the same key
/// in every visible rowset and in its own earlier segments, and the earlier rows of a key
/// repeated inside the segment. The newest row of each key is the one left unmarked.
pub fn replaced_rows(
    tablet: &Tablet,
    rowset: &RowsetMeta,
    version: i64,
    (cache, key_index): (&SegmentCache, &KeyIndexCache),
) -> Result<Vec<BitmapEntry>> {
    let meta = tablet.meta.read().clone();
    let key_columns: Vec<ColumnSpec> = meta
        .key_columns()
        .into_iter()
        .map(|i| meta.column_spec(i))
        .collect();
    let fields = key_columns
        .iter()
        .map(|c| SortField::new(c.data_type.clone()))
        .collect();
    let converter = RowConverter::new(fields).map_err(datafusion::error::DataFusionError::from)?;
    // Older segments: every visible rowset (all below `version`), then the new rowset's
    // segments as they are passed.
    let mut older: Vec<(Arc<str>, u32, std::path::PathBuf, u64)> = tablet
        .rowsets
        .read()
        .iter()
        .filter(|r| r.end_version < version && r.rowset_id != rowset.rowset_id)
        .flat_map(|r| {
            let id: Arc<str> = Arc::from(r.rowset_id.as_str());
            r.segments.iter().enumerate().map(move |(i, s)| {
                (
                    Arc::clone(&id),
                    i as u32,
                    tablet.dir.join(&s.file),
                    s.num_rows,
                )
            })
        })
        .collect();
    let mut marked: BTreeMap<(Arc<str>, u32), RoaringBitmap> = BTreeMap::new();
    let new_id: Arc<str> = Arc::from(rowset.rowset_id.as_str());
    for (i, segment) in rowset.segments.iter().enumerate() {
        let path = tablet.dir.join(&segment.file);
        let keys = SegmentKeys::read((&path, segment.num_rows), &key_columns, &converter, cache)?;
        // Inside the segment the later row of a key wins (rows of equal keys keep their
        // arrival order).
        let mut newest: HashMap<&[u8], u32> = HashMap::with_capacity(keys.rows.num_rows());
        for (row, key) in keys.rows.iter().enumerate() {
            if let Some(earlier) = newest.insert(key.data(), row as u32) {
                marked
                    .entry((Arc::clone(&new_id), i as u32))
                    .or_default()
                    .insert(earlier);
            }
        }
        let new_keys: HashSet<&[u8]> = newest.into_keys().collect();
        let published = older.len() - i;
        for (n, (rowset_id, seg, old_path, old_rows)) in older.iter().enumerate() {
            // Published segments come from the key index; the load's own earlier ones not.
            let rows = if n < published {
                key_index
                    .get((old_path, *old_rows), &key_columns, &converter, cache)?
                    .matching(&new_keys)
            } else {
                KeyIndex::new(
                    SegmentKeys::read((old_path, *old_rows), &key_columns, &converter, cache)?.rows,
                )
                .matching(&new_keys)
            };
            if !rows.is_empty() {
                *marked.entry((Arc::clone(rowset_id), *seg)).or_default() |= rows;
            }
        }
        older.push((Arc::clone(&new_id), i as u32, path, segment.num_rows));
    }
    Ok(marked
        .into_iter()
        .map(|((rowset_id, segment), rows)| BitmapEntry {
            rowset_id: rowset_id.to_string(),
            segment,
            version,
            rows,
        })
        .collect())
}

/// A DELETE's predicate compiled against a tablet's columns: it reads `columns` (indices
/// into the tablet's columns), in that order.
pub struct DeletePredicate {
    columns: Vec<ColumnSpec>,
    schema: SchemaRef,
    expr: Arc<dyn PhysicalExpr>,
}

impl DeletePredicate {
    pub fn compile(meta: &TabletMeta, sql: &str) -> Result<Self> {
        let full = Schema::new(
            meta.columns
                .iter()
                .map(|c| c.column_type.to_field(&c.name.to_lowercase(), c.nullable))
                .collect::<Vec<_>>(),
        );
        let ctx = SessionContext::new();
        let invalid = |e: datafusion::error::DataFusionError| {
            BeError::InvalidArgument(format!("delete predicate `{sql}`: {e}"))
        };
        let df_full = DFSchema::try_from(full.clone()).map_err(invalid)?;
        let expr = ctx.parse_sql_expr(sql, &df_full).map_err(invalid)?;
        let mut columns: Vec<usize> = expr
            .column_refs()
            .iter()
            .map(|c| {
                full.index_of(&c.name)
                    .map_err(|e| invalid(datafusion::error::DataFusionError::from(e)))
            })
            .collect::<Result<_>>()?;
        columns.sort_unstable();
        columns.dedup();
        let schema = Arc::new(full.project(&columns).map_err(|e| invalid(e.into()))?);
        let df_schema = DFSchema::try_from(schema.as_ref().clone()).map_err(invalid)?;
        let expr = ctx
            .create_physical_expr(expr, &df_schema)
            .map_err(invalid)?;
        Ok(Self {
            columns: columns.into_iter().map(|i| meta.column_spec(i)).collect(),
            schema,
            expr,
        })
    }

    /// Rows of the segment at `path` the predicate is true for (NULL is not a match).
    fn matching(
        &self,
        (path, num_rows): (&Path, u64),
        cache: &SegmentCache,
    ) -> Result<RoaringBitmap> {
        let mut rows = RoaringBitmap::new();
        if self.columns.is_empty() {
            return Err(BeError::InvalidArgument(
                "a delete predicate must read a column".into(),
            ));
        }
        let chunks = cache.read(path, num_rows as usize, &self.columns)?;
        let mut offset = 0u32;
        for i in 0..chunks.first().map_or(0, |c| c.len()) {
            let arrays = chunks.iter().map(|c| Arc::clone(&c[i])).collect();
            let batch = RecordBatch::try_new(Arc::clone(&self.schema), arrays)
                .map_err(datafusion::error::DataFusionError::from)?;
            let result = self.expr.evaluate(&batch)?.into_array(batch.num_rows())?;
            let matched = result.as_boolean_opt().ok_or_else(|| {
                BeError::InvalidArgument("a delete predicate must be a condition".into())
            })?;
            rows.extend(
                matched
                    .iter()
                    .enumerate()
                    .filter(|(_, m)| *m == Some(true))
                    .map(|(r, _)| offset + r as u32),
            );
            offset += batch.num_rows() as u32;
        }
        Ok(rows)
    }
}

/// The rows a DELETE published at `version` removes from `tablet`: those of every visible
/// rowset (all below `version`) its predicate is true for.
pub fn matching_rows(
    tablet: &Tablet,
    predicate: &str,
    version: i64,
    cache: &SegmentCache,
) -> Result<Vec<BitmapEntry>> {
    let predicate = DeletePredicate::compile(&tablet.meta.read(), predicate)?;
    let segments: Vec<(String, u32, std::path::PathBuf, u64)> = tablet
        .rowsets
        .read()
        .iter()
        .filter(|r| r.end_version < version)
        .flat_map(|r| {
            r.segments.iter().enumerate().map(|(i, s)| {
                (
                    r.rowset_id.clone(),
                    i as u32,
                    tablet.dir.join(&s.file),
                    s.num_rows,
                )
            })
        })
        .collect();
    let mut out = Vec::new();
    for (rowset_id, segment, path, num_rows) in segments {
        let rows = predicate.matching((&path, num_rows), cache)?;
        if !rows.is_empty() {
            out.push(BitmapEntry {
                rowset_id,
                segment,
                version,
                rows,
            });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_index_finds_rows_by_search_and_by_scan() {
        use datafusion::arrow::array::Int64Array;
        use datafusion::arrow::datatypes::DataType;
        let converter =
            RowConverter::new(vec![SortField::new(DataType::Int64)]).expect("converter");
        // 0, 1, 2, 2, 3, ... (key 2 twice), sorted
        let mut values: Vec<i64> = (0..2000).collect();
        values.insert(3, 2);
        let column: ArrayRef = Arc::new(Int64Array::from(values));
        let index = KeyIndex::new(converter.convert_columns(&[column]).expect("rows"));
        assert!(index.sorted);
        let probe = |keys: &[i64]| {
            let rows = converter
                .convert_columns(&[Arc::new(Int64Array::from(keys.to_vec())) as ArrayRef])
                .expect("rows");
            let set: HashSet<&[u8]> = rows.iter().map(|r| r.data()).collect();
            index.matching(&set).iter().collect::<Vec<u32>>()
        };
        // Few keys: binary search; many keys: one pass. Same answers.
        assert_eq!(probe(&[2, 1999, 5000]), vec![2, 3, 2000]);
        let many: Vec<i64> = (0..200).map(|k| k * 10).collect();
        let found = probe(&many);
        assert_eq!(found.len(), 200);
        assert_eq!(found[..3], [0, 11, 21]);
    }

    #[test]
    fn reads_see_only_earlier_versions() {
        let mut bitmap = DeleteBitmap::default();
        let entry = |version: i64, rows: &[u32]| BitmapEntry {
            rowset_id: "r1".into(),
            segment: 0,
            version,
            rows: rows.iter().copied().collect(),
        };
        bitmap.add(entry(3, &[1, 2]));
        bitmap.add(entry(5, &[7]));
        assert!(bitmap.deleted("r1", 0, 2).is_none());
        let at = |v| {
            bitmap
                .deleted("r1", 0, v)
                .map(|b| b.iter().collect::<Vec<_>>())
        };
        assert_eq!(at(3), Some(vec![1, 2]));
        assert_eq!(at(9), Some(vec![1, 2, 7]));
        assert!(bitmap.deleted("r1", 1, 9).is_none());
        let key = bitmap_key(12, "r1", 3, 5);
        assert_eq!(parse_bitmap_key(&key), Some((12, "r1".into(), 3, 5)));
        let bytes = encode(&entry(1, &[4, 100_000]).rows).expect("encode");
        assert_eq!(decode(&bytes).expect("decode").len(), 2);
        bitmap.remove_rowset("r1");
        assert!(bitmap.deleted("r1", 0, 9).is_none());
    }
}
