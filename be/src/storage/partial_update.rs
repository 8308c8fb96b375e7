//! Partial column updates of merge-on-write UNIQUE KEY tablets: a load that carries only
//! some columns (keys included) changes those columns of existing keys and keeps the
//! others. The load writes full rows (the missing columns at their defaults, right for new
//! keys); publishing it ([`fill_from_current_rows`]), serialised with every other publish
//! of the tablet, first replaces the missing columns of each row whose key already has a
//! live row with that row's values and rewrites the segment files, then the usual
//! merge-on-write marking replaces the old rows. Rows repeating a key within one load each
//! take the values of the key's row before the load (the last of them wins).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, RecordBatch};
use datafusion::arrow::compute::{concat, concat_batches, interleave};
use datafusion::arrow::row::{RowConverter, SortField};
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

use super::segment::{self, SegmentOptions};
use super::segment_cache::{ColumnSpec, SegmentCache};
use super::tablet::{RowsetMeta, Tablet};
use crate::error::{BeError, Result};

fn df(e: datafusion::arrow::error::ArrowError) -> BeError {
    BeError::DataFusion(e.into())
}

/// Fills the columns `rowset` (a partial update published at `version`) does not carry
/// from each key's live row, rewriting its segment files and their metas.
pub fn fill_from_current_rows(
    tablet: &Tablet,
    rowset: &mut RowsetMeta,
    version: i64,
    cache: &SegmentCache,
    options: &SegmentOptions,
) -> Result<()> {
    let Some(provided) = &rowset.partial_columns else {
        return Ok(());
    };
    let provided: HashSet<String> = provided.iter().map(|c| c.to_lowercase()).collect();
    let meta = tablet.meta.read().clone();
    let keys = meta.key_columns();
    // The hidden delete sign always comes with the row.
    let missing: Vec<usize> = (0..meta.columns.len())
        .filter(|&i| {
            let name = meta.columns[i].name.to_lowercase();
            !provided.contains(&name) && name != "__doris_delete_sign__" && !keys.contains(&i)
        })
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let key_specs: Vec<ColumnSpec> = keys.iter().map(|&i| meta.column_spec(i)).collect();
    let converter = RowConverter::new(
        key_specs
            .iter()
            .map(|c| SortField::new(c.data_type.clone()))
            .collect(),
    )
    .map_err(df)?;
    // The live row of every key before this version: the newest one, unmarked.
    let old_segments: Vec<(String, u32, std::path::PathBuf, u64)> = tablet
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
    let mut live: HashMap<Vec<u8>, (usize, usize)> = HashMap::new();
    for (at, (rowset_id, seg, path, rows)) in old_segments.iter().enumerate() {
        let deleted = tablet
            .delete_bitmap
            .read()
            .deleted(rowset_id, *seg, version - 1);
        let columns = cache.read(path, *rows as usize, &key_specs)?;
        let keys_of = columns
            .iter()
            .map(|chunks| {
                let parts: Vec<&dyn Array> = chunks.iter().map(|a| a.as_ref()).collect();
                concat(&parts).map_err(df)
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let encoded = converter.convert_columns(&keys_of).map_err(df)?;
        for (row, key) in encoded.iter().enumerate() {
            if deleted.as_ref().is_some_and(|d| d.contains(row as u32)) {
                continue;
            }
            live.insert(key.as_ref().to_vec(), (at, row));
        }
    }
    if live.is_empty() {
        return Ok(());
    }
    let missing_specs: Vec<ColumnSpec> = missing.iter().map(|&i| meta.column_spec(i)).collect();
    // (old segment, column) -> the whole column, read once.
    let mut old_columns: HashMap<(usize, usize), ArrayRef> = HashMap::new();
    let mut data_size = 0;
    for segment in rowset.segments.iter_mut() {
        let path = tablet.dir.join(&segment.file);
        let batch = read_file(&path)?;
        let column_of = |name: &str| {
            batch
                .schema()
                .index_of(name)
                .map_err(|e| BeError::Corrupt(format!("{}: {e}", path.display())))
        };
        let key_arrays = key_specs
            .iter()
            .map(|c| Ok(Arc::clone(batch.column(column_of(&c.name)?))))
            .collect::<Result<Vec<_>>>()?;
        let encoded = converter.convert_columns(&key_arrays).map_err(df)?;
        // Source of each row's missing values: 0 = the row itself, 1 + n = old segment n.
        let sources: Vec<(usize, usize)> = encoded
            .iter()
            .enumerate()
            .map(|(row, key)| match live.get(key.as_ref()) {
                Some(&(seg, old_row)) => (seg + 1, old_row),
                None => (0, row),
            })
            .collect();
        if sources.iter().all(|(s, _)| *s == 0) {
            data_size += segment.size;
            continue;
        }
        let mut columns = batch.columns().to_vec();
        for (spec, &i) in missing_specs.iter().zip(&missing) {
            let at = column_of(&spec.name)?;
            let mut arrays: Vec<ArrayRef> = vec![Arc::clone(batch.column(at))];
            let used: HashSet<usize> = sources.iter().map(|(s, _)| *s).collect();
            for (n, (_, _, path, rows)) in old_segments.iter().enumerate() {
                if !used.contains(&(n + 1)) {
                    // Placeholder never indexed: an empty array of the type.
                    arrays.push(datafusion::arrow::array::new_empty_array(
                        batch.column(at).data_type(),
                    ));
                    continue;
                }
                let old = match old_columns.get(&(n, i)) {
                    Some(whole) => Arc::clone(whole),
                    None => {
                        let chunks =
                            cache.read(path, *rows as usize, std::slice::from_ref(spec))?;
                        let parts: Vec<&dyn Array> = chunks[0].iter().map(|a| a.as_ref()).collect();
                        let whole = concat(&parts).map_err(df)?;
                        old_columns.insert((n, i), Arc::clone(&whole));
                        whole
                    }
                };
                arrays.push(old);
            }
            let refs: Vec<&dyn Array> = arrays.iter().map(|a| a.as_ref()).collect();
            columns[at] = interleave(&refs, &sources).map_err(df)?;
        }
        let filled = RecordBatch::try_new(batch.schema(), columns).map_err(df)?;
        let tmp = path.with_extension("filling");
        let size = segment::write_segment(&tmp, &filled, options, &meta.segment_layout())?;
        std::fs::rename(&tmp, &path)?;
        segment.size = size;
        segment.columns = segment::column_stats(&filled, &keys);
        data_size += size;
    }
    if let Ok(d) = std::fs::File::open(&tablet.dir) {
        d.sync_all()?;
    }
    rowset.data_size = data_size;
    Ok(())
}

fn read_file(path: &std::path::Path) -> Result<RecordBatch> {
    let file = std::fs::File::open(path)?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file)
        .map_err(datafusion::error::DataFusionError::from)?;
    let schema = Arc::clone(builder.schema());
    let batches = builder
        .build()
        .map_err(datafusion::error::DataFusionError::from)?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(df)?;
    concat_batches(&schema, &batches).map_err(df)
}
