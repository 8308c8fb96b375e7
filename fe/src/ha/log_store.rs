//! The Raft log in RocksDB: entries in the `raft_logs` column family keyed by their
//! big-endian index (so iteration is in log order), and the vote, the committed log id
//! and the last purged log id in `raft_meta`. Every write is synced before it is
//! acknowledged: an entry the leader counted towards a quorum survives `kill -9`.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{
    AnyError, Entry, LogId, OptionalSend, RaftLogReader, StorageError, StorageIOError, Vote,
};
use rocksdb::{ColumnFamily, Direction, IteratorMode, WriteBatch, WriteOptions, DB};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::TypeConfig;

pub(super) const LOGS: &str = "raft_logs";
pub(super) const META: &str = "raft_meta";

const VOTE: &[u8] = b"vote";
const COMMITTED: &[u8] = b"committed";
const LAST_PURGED: &[u8] = b"last_purged";

type StorageResult<T> = Result<T, StorageError<u64>>;

/// The Raft log of this frontend. Clones share the database (the log reader is one).
#[derive(Clone)]
pub struct LogStore {
    db: Arc<DB>,
}

fn index_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

fn read_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::read_logs(AnyError::new(&e)).into()
}

fn write_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::write_logs(AnyError::new(&e)).into()
}

fn missing_family(name: &str) -> StorageError<u64> {
    StorageIOError::read_logs(AnyError::error(format!("column family {name} is missing"))).into()
}

impl LogStore {
    pub fn new(db: Arc<DB>) -> Self {
        Self { db }
    }

    fn family(&self, name: &str) -> StorageResult<&ColumnFamily> {
        self.db.cf_handle(name).ok_or_else(|| missing_family(name))
    }

    fn write(&self, batch: WriteBatch) -> StorageResult<()> {
        self.write_with(batch, true)
    }

    fn write_with(&self, batch: WriteBatch, sync: bool) -> StorageResult<()> {
        let mut options = WriteOptions::default();
        options.set_sync(sync);
        self.db.write_opt(batch, &options).map_err(write_err)
    }

    fn get_meta<T: DeserializeOwned>(&self, key: &[u8]) -> StorageResult<Option<T>> {
        let Some(bytes) = self.db.get_cf(self.family(META)?, key).map_err(read_err)? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes).map(Some).map_err(read_err)
    }

    fn put_meta<T: Serialize>(&self, key: &[u8], value: &T, sync: bool) -> StorageResult<()> {
        let mut batch = WriteBatch::default();
        let bytes = serde_json::to_vec(value).map_err(write_err)?;
        batch.put_cf(self.family(META)?, key, bytes);
        self.write_with(batch, sync)
    }

    fn decode(bytes: &[u8]) -> StorageResult<Entry<TypeConfig>> {
        serde_json::from_slice(bytes).map_err(read_err)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> StorageResult<Vec<Entry<TypeConfig>>> {
        let start = match range.start_bound() {
            Bound::Included(i) => *i,
            Bound::Excluded(i) => i.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let logs = self.family(LOGS)?;
        let mut entries = Vec::new();
        let from = index_key(start);
        for item in self
            .db
            .iterator_cf(logs, IteratorMode::From(&from, Direction::Forward))
        {
            let (key, value) = item.map_err(read_err)?;
            let index = key
                .as_ref()
                .try_into()
                .map(u64::from_be_bytes)
                .map_err(|_| {
                    StorageError::from(StorageIOError::read_logs(AnyError::error(
                        "log key is not 8 bytes",
                    )))
                })?;
            if !range.contains(&index) {
                break;
            }
            entries.push(Self::decode(&value)?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> StorageResult<LogState<TypeConfig>> {
        let last_purged_log_id: Option<LogId<u64>> = self.get_meta(LAST_PURGED)?;
        let logs = self.family(LOGS)?;
        let last = match self.db.iterator_cf(logs, IteratorMode::End).next() {
            Some(item) => Some(Self::decode(&item.map_err(read_err)?.1)?.log_id),
            None => None,
        };
        Ok(LogState {
            last_purged_log_id,
            last_log_id: last.or(last_purged_log_id),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> StorageResult<()> {
        self.put_meta(VOTE, vote, true)
            .map_err(|e| StorageIOError::write_vote(AnyError::new(&e)).into())
    }

    async fn read_vote(&mut self) -> StorageResult<Option<Vote<u64>>> {
        self.get_meta(VOTE)
    }

    /// Not synced: the committed id only saves re-applying entries after a restart; one
    /// that is lost or older is learned again from the leader (or a new election).
    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> StorageResult<()> {
        self.put_meta(COMMITTED, &committed, false)
    }

    async fn read_committed(&mut self) -> StorageResult<Option<LogId<u64>>> {
        Ok(self.get_meta::<Option<LogId<u64>>>(COMMITTED)?.flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> StorageResult<()>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let logs = self.family(LOGS)?;
        let mut batch = WriteBatch::default();
        for entry in entries {
            let bytes = serde_json::to_vec(&entry).map_err(write_err)?;
            batch.put_cf(logs, index_key(entry.log_id.index), bytes);
        }
        let result = self.write(batch);
        callback.log_io_completed(match &result {
            Ok(()) => Ok(()),
            Err(e) => Err(std::io::Error::other(e.to_string())),
        });
        result
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        let logs = self.family(LOGS)?;
        let mut batch = WriteBatch::default();
        batch.delete_range_cf(logs, index_key(log_id.index), index_key(u64::MAX));
        batch.delete_cf(logs, index_key(u64::MAX));
        self.write(batch)
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> StorageResult<()> {
        let logs = self.family(LOGS)?;
        let meta = self.family(META)?;
        let mut batch = WriteBatch::default();
        batch.put_cf(
            meta,
            LAST_PURGED,
            serde_json::to_vec(&log_id).map_err(write_err)?,
        );
        batch.delete_range_cf(logs, index_key(0), index_key(log_id.index + 1));
        self.write(batch)
    }
}
