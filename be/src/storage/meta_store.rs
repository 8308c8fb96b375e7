//! Tablet and rowset metadata in RocksDB (`<storage_root>/meta`), as Doris keeps it.
//! [`MetaStore`] stores JSON values under typed key prefixes; every write is synced.

use std::path::Path;

use rocksdb::{Direction, IteratorMode, Options, WriteBatch, WriteOptions, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::{BeError, Result};

/// Key prefix of tablet metas: `tablet/<tablet_id>`.
pub const TABLET_PREFIX: &str = "tablet/";
/// Key prefix of visible rowsets: `rowset/<tablet_id>/<rowset_id>`.
pub const ROWSET_PREFIX: &str = "rowset/";
/// Key prefix of pending (written, unpublished) rowsets: `pending/<txn_id>/<tablet_id>`.
pub const PENDING_PREFIX: &str = "pending/";

pub fn tablet_key(tablet_id: i64) -> String {
    format!("{TABLET_PREFIX}{tablet_id:020}")
}

pub fn rowset_key(tablet_id: i64, rowset_id: &str) -> String {
    format!("{ROWSET_PREFIX}{tablet_id:020}/{rowset_id}")
}

pub fn pending_key(txn_id: i64, tablet_id: i64) -> String {
    format!("{PENDING_PREFIX}{txn_id:020}/{tablet_id:020}")
}

pub struct MetaStore {
    db: DB,
}

/// A set of changes applied atomically by [`MetaStore::write`].
#[derive(Default)]
pub struct MetaBatch {
    batch: WriteBatch,
}

impl MetaBatch {
    pub fn put<T: Serialize>(&mut self, key: &str, value: &T) -> Result<()> {
        let bytes = serde_json::to_vec(value).map_err(|e| BeError::Corrupt(e.to_string()))?;
        self.batch.put(key.as_bytes(), bytes);
        Ok(())
    }

    /// Stores `bytes` as they are (values that are not JSON, such as bitmaps).
    pub fn put_raw(&mut self, key: &str, bytes: &[u8]) {
        self.batch.put(key.as_bytes(), bytes);
    }

    pub fn delete(&mut self, key: &str) {
        self.batch.delete(key.as_bytes());
    }

    pub fn is_empty(&self) -> bool {
        self.batch.is_empty()
    }
}

impl MetaStore {
    pub fn open(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut opts = Options::default();
        opts.create_if_missing(true);
        let db = DB::open(&opts, dir)?;
        Ok(Self { db })
    }

    /// Applies `batch` atomically and durably (WAL synced before returning).
    pub fn write(&self, batch: MetaBatch) -> Result<()> {
        let mut wo = WriteOptions::default();
        wo.set_sync(true);
        self.db.write_opt(batch.batch, &wo)?;
        Ok(())
    }

    /// All `(key, value)` pairs whose key starts with `prefix`, in key order.
    pub fn scan_prefix<T: DeserializeOwned>(&self, prefix: &str) -> Result<Vec<(String, T)>> {
        self.scan_prefix_raw(prefix)?
            .into_iter()
            .map(|(key, v)| {
                let value = serde_json::from_slice(&v)
                    .map_err(|e| BeError::Corrupt(format!("meta key {key}: {e}")))?;
                Ok((key, value))
            })
            .collect()
    }

    /// All `(key, raw value)` pairs whose key starts with `prefix`, in key order.
    pub fn scan_prefix_raw(&self, prefix: &str) -> Result<Vec<(String, Vec<u8>)>> {
        let mut out = Vec::new();
        let iter = self
            .db
            .iterator(IteratorMode::From(prefix.as_bytes(), Direction::Forward));
        for item in iter {
            let (k, v) = item?;
            if !k.starts_with(prefix.as_bytes()) {
                break;
            }
            out.push((String::from_utf8_lossy(&k).into_owned(), v.to_vec()));
        }
        Ok(out)
    }

    pub fn get<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        match self.db.get(key.as_bytes())? {
            Some(v) => {
                Ok(Some(serde_json::from_slice(&v).map_err(|e| {
                    BeError::Corrupt(format!("meta key {key}: {e}"))
                })?))
            }
            None => Ok(None),
        }
    }
}
