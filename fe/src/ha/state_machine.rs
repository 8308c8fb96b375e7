//! The catalog as the Raft state machine: committed entries are applied to the shared
//! in-memory [`Catalog`]; a snapshot (Doris's image) is the catalog serialised as JSON, kept
//! in the `raft_snapshot` column family beside its metadata (last applied log id and
//! membership), both written in one batch. The
//! state machine itself is not persisted on every apply: on restart it is the last
//! snapshot, and openraft re-applies the committed log entries after it.

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::{RaftStateMachine, Snapshot};
use openraft::{
    AnyError, Entry, EntryPayload, LogId, OptionalSend, RaftSnapshotBuilder, SnapshotMeta,
    StorageError, StorageIOError, StoredMembership,
};
use parking_lot::RwLock;
use rocksdb::{WriteOptions, DB};
use serde::Deserialize;
use tracing::info;

use super::{FeNode, TypeConfig};
use crate::catalog::Catalog;

pub(super) const SNAPSHOT: &str = "raft_snapshot";
/// The current snapshot's metadata (JSON) and data (the catalog as JSON).
const CURRENT_META: &[u8] = b"current_meta";
const CURRENT_DATA: &[u8] = b"current_data";
/// The first format: metadata and data in one JSON document (read, never written).
const LEGACY_CURRENT: &[u8] = b"current";

type StorageResult<T> = Result<T, StorageError<u64>>;
type Meta = SnapshotMeta<u64, FeNode>;

/// A stored snapshot: its metadata and its data (the catalog as JSON). Stored as two keys;
/// the legacy format serialised this struct whole.
#[derive(Deserialize)]
#[cfg_attr(test, derive(serde::Serialize))]
struct StoredSnapshot {
    meta: Meta,
    data: Vec<u8>,
}

fn sm_read_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::read_state_machine(AnyError::new(&e)).into()
}

fn snapshot_write_err(meta: &Meta, e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::write_snapshot(Some(meta.signature()), AnyError::new(&e)).into()
}

fn snapshot_read_err(e: impl std::error::Error + 'static) -> StorageError<u64> {
    StorageIOError::read_snapshot(None, AnyError::new(&e)).into()
}

/// The catalog state machine. `catalog` is shared with the rest of the FE, which reads it.
pub struct CatalogStateMachine {
    db: Arc<DB>,
    catalog: Arc<RwLock<Catalog>>,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, FeNode>,
    /// Snapshots built by this node, to tell them apart.
    snapshots_built: u64,
}

impl CatalogStateMachine {
    /// The state machine over `catalog`, restored from the stored snapshot if there is one.
    pub fn open(db: Arc<DB>, catalog: Arc<RwLock<Catalog>>) -> StorageResult<Self> {
        let mut sm = Self {
            db,
            catalog,
            last_applied: None,
            membership: StoredMembership::default(),
            snapshots_built: 0,
        };
        if let Some(stored) = sm.read_stored()? {
            let restored: Catalog =
                serde_json::from_slice(&stored.data).map_err(snapshot_read_err)?;
            *sm.catalog.write() = restored;
            sm.last_applied = stored.meta.last_log_id;
            sm.membership = stored.meta.last_membership;
            info!(last_applied = ?sm.last_applied, "catalog restored from the raft snapshot");
        }
        Ok(sm)
    }

    fn read_stored(&self) -> StorageResult<Option<StoredSnapshot>> {
        let family = self.db.cf_handle(SNAPSHOT).ok_or_else(|| {
            StorageError::from(StorageIOError::read_snapshot(
                None,
                AnyError::error("column family raft_snapshot is missing"),
            ))
        })?;
        let meta = self
            .db
            .get_cf(family, CURRENT_META)
            .map_err(snapshot_read_err)?;
        if let Some(meta) = meta {
            let meta: Meta = serde_json::from_slice(&meta).map_err(snapshot_read_err)?;
            let data = self
                .db
                .get_cf(family, CURRENT_DATA)
                .map_err(snapshot_read_err)?
                .ok_or_else(|| {
                    StorageError::from(StorageIOError::read_snapshot(
                        Some(meta.signature()),
                        AnyError::error("the snapshot's data is missing"),
                    ))
                })?;
            return Ok(Some(StoredSnapshot { meta, data }));
        }
        match self
            .db
            .get_cf(family, LEGACY_CURRENT)
            .map_err(snapshot_read_err)?
        {
            Some(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(snapshot_read_err),
            None => Ok(None),
        }
    }

    fn save(db: &DB, meta: &Meta, data: &[u8]) -> StorageResult<()> {
        let family = db.cf_handle(SNAPSHOT).ok_or_else(|| {
            snapshot_write_err(
                meta,
                std::io::Error::other("column family raft_snapshot is missing"),
            )
        })?;
        let meta_json = serde_json::to_vec(meta).map_err(|e| snapshot_write_err(meta, e))?;
        let mut options = WriteOptions::default();
        options.set_sync(true);
        let mut batch = rocksdb::WriteBatch::default();
        batch.put_cf(family, CURRENT_META, meta_json);
        batch.put_cf(family, CURRENT_DATA, data);
        batch.delete_cf(family, LEGACY_CURRENT);
        db.write_opt(batch, &options)
            .map_err(|e| snapshot_write_err(meta, e))?;
        // The image (tens of MB for a large catalog) would otherwise stay in the memtable,
        // and be replayed into it from the WAL at every start.
        db.flush_cf(family).map_err(|e| snapshot_write_err(meta, e))
    }
}

/// Builds a snapshot from a copy of the catalog taken when it was asked for.
pub struct CatalogSnapshotBuilder {
    db: Arc<DB>,
    catalog: Catalog,
    last_applied: Option<LogId<u64>>,
    membership: StoredMembership<u64, FeNode>,
    snapshot_id: String,
}

impl RaftSnapshotBuilder<TypeConfig> for CatalogSnapshotBuilder {
    async fn build_snapshot(&mut self) -> StorageResult<Snapshot<TypeConfig>> {
        let meta = Meta {
            last_log_id: self.last_applied,
            last_membership: self.membership.clone(),
            snapshot_id: self.snapshot_id.clone(),
        };
        let data = serde_json::to_vec(&self.catalog).map_err(|e| snapshot_write_err(&meta, e))?;
        CatalogStateMachine::save(&self.db, &meta, &data)?;
        info!(snapshot = %meta.snapshot_id, bytes = data.len(), "raft snapshot (image) written");
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for CatalogStateMachine {
    type SnapshotBuilder = CatalogSnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> StorageResult<(Option<LogId<u64>>, StoredMembership<u64, FeNode>)> {
        Ok((self.last_applied, self.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> StorageResult<Vec<()>>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut responses = Vec::new();
        for entry in entries {
            self.last_applied = Some(entry.log_id);
            match entry.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(change) => self.catalog.write().apply(&change),
                EntryPayload::Membership(membership) => {
                    self.membership = StoredMembership::new(Some(entry.log_id), membership);
                }
            }
            responses.push(());
        }
        Ok(responses)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.snapshots_built += 1;
        let index = self.last_applied.map_or(0, |l| l.index);
        CatalogSnapshotBuilder {
            db: Arc::clone(&self.db),
            catalog: self.catalog.read().clone(),
            last_applied: self.last_applied,
            membership: self.membership.clone(),
            snapshot_id: format!("{index}-{}", self.snapshots_built),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> StorageResult<Box<Cursor<Vec<u8>>>> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &Meta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> StorageResult<()> {
        let data = snapshot.into_inner();
        let catalog: Catalog = serde_json::from_slice(&data).map_err(sm_read_err)?;
        Self::save(&self.db, meta, &data)?;
        *self.catalog.write() = catalog;
        self.last_applied = meta.last_log_id;
        self.membership = meta.last_membership.clone();
        info!(snapshot = %meta.snapshot_id, "installed the master's image (raft snapshot)");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> StorageResult<Option<Snapshot<TypeConfig>>> {
        Ok(self.read_stored()?.map(|stored| Snapshot {
            meta: stored.meta,
            snapshot: Box::new(Cursor::new(stored.data)),
        }))
    }
}

#[cfg(test)]
mod tests {
    use openraft::testing::{StoreBuilder, Suite};

    use super::*;
    use crate::ha::log_store::LogStore;

    /// A fresh store in a temporary directory (kept alive by the returned guard).
    struct TempStores;

    impl StoreBuilder<TypeConfig, LogStore, CatalogStateMachine, tempfile::TempDir> for TempStores {
        async fn build(&self) -> StorageResult<(tempfile::TempDir, LogStore, CatalogStateMachine)> {
            let dir = tempfile::tempdir().map_err(sm_read_err)?;
            let db = crate::ha::open_db(dir.path()).map_err(sm_read_err)?;
            let sm = CatalogStateMachine::open(Arc::clone(&db), Arc::default())?;
            Ok((dir, LogStore::new(db), sm))
        }
    }

    /// Applied catalog changes survive a restart through the snapshot (the image).
    #[tokio::test]
    async fn snapshot_restores_the_catalog() -> StorageResult<()> {
        let dir = tempfile::tempdir().map_err(sm_read_err)?;
        let db = crate::ha::open_db(dir.path()).map_err(sm_read_err)?;
        let mut sm = CatalogStateMachine::open(Arc::clone(&db), Arc::default())?;
        let log_id = LogId::new(openraft::CommittedLeaderId::new(1, 0), 1);
        let change = crate::catalog::JournalEntry::CreateDatabase {
            id: 10_001,
            name: "db1".into(),
            create_time_ms: 0,
        };
        sm.apply([Entry {
            log_id,
            payload: EntryPayload::Normal(change),
        }])
        .await?;
        assert_eq!(sm.catalog.read().databases.len(), 1);
        sm.get_snapshot_builder().await.build_snapshot().await?;

        let catalog: Arc<RwLock<Catalog>> = Arc::default();
        let mut reopened = CatalogStateMachine::open(db, Arc::clone(&catalog))?;
        assert_eq!(catalog.read().databases.len(), 1);
        assert_eq!(reopened.applied_state().await?.0, Some(log_id));
        Ok(())
    }

    /// A snapshot stored in the first format (one JSON document) is still read.
    #[tokio::test]
    async fn reads_the_legacy_snapshot_format() -> StorageResult<()> {
        let dir = tempfile::tempdir().map_err(sm_read_err)?;
        let db = crate::ha::open_db(dir.path()).map_err(sm_read_err)?;
        let mut catalog = Catalog::default();
        catalog.apply(&crate::catalog::JournalEntry::CreateDatabase {
            id: 10_001,
            name: "db1".into(),
            create_time_ms: 0,
        });
        let log_id = LogId::new(openraft::CommittedLeaderId::new(1, 0), 7);
        let legacy = StoredSnapshot {
            meta: Meta {
                last_log_id: Some(log_id),
                last_membership: StoredMembership::default(),
                snapshot_id: "7-1".into(),
            },
            data: serde_json::to_vec(&catalog).map_err(sm_read_err)?,
        };
        let family = db.cf_handle(SNAPSHOT).expect("snapshot column family");
        let bytes = serde_json::to_vec(&legacy).map_err(sm_read_err)?;
        db.put_cf(family, LEGACY_CURRENT, bytes)
            .map_err(sm_read_err)?;

        let restored: Arc<RwLock<Catalog>> = Arc::default();
        let mut sm = CatalogStateMachine::open(Arc::clone(&db), Arc::clone(&restored))?;
        assert_eq!(restored.read().databases.len(), 1);
        assert_eq!(sm.applied_state().await?.0, Some(log_id));
        // The next snapshot is written in the current format, replacing the legacy one.
        sm.get_snapshot_builder().await.build_snapshot().await?;
        assert!(db
            .get_cf(family, LEGACY_CURRENT)
            .map_err(sm_read_err)?
            .is_none());
        let again: Arc<RwLock<Catalog>> = Arc::default();
        CatalogStateMachine::open(db, Arc::clone(&again))?;
        assert_eq!(again.read().databases.len(), 1);
        Ok(())
    }

    /// openraft's own conformance suite for log stores and state machines.
    #[test]
    fn passes_the_openraft_storage_suite() -> StorageResult<()> {
        Suite::test_all(TempStores)
    }
}
