//! The in-memory catalog and the one function that changes it.
//! [`Catalog::apply`] applies a [`JournalEntry`]: the same code runs when a change is made
//! and when the edit log is replayed, so the two can never disagree.

pub mod model;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use model::*;

/// How many ids one `IdWatermark` entry reserves.
pub const ID_BATCH: i64 = 1000;

/// One catalog change: the unit of the edit log.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum JournalEntry {
    /// Ids below `next_id` may have been handed out; never reuse them.
    IdWatermark {
        next_id: i64,
    },
    CreateDatabase {
        id: i64,
        name: String,
        create_time_ms: i64,
    },
    DropDatabase {
        id: i64,
    },
    CreateTable {
        db_id: i64,
        table: Box<Table>,
    },
    DropTable {
        db_id: i64,
        table_id: i64,
    },
    CreateView {
        db_id: i64,
        view: View,
    },
    DropView {
        db_id: i64,
        view_id: i64,
    },
    AddBackend {
        backend: Backend,
    },
    DropBackend {
        id: i64,
    },
    UpsertUser {
        user: User,
    },
    DropUser {
        key: String,
    },
    SetGlobalVariable {
        name: String,
        value: String,
    },
    /// A load transaction began: its label is taken. Finished txns that ended before
    /// `expire_before_ms` are forgotten (their labels become free).
    BeginTxn {
        txn: Box<LoadTxn>,
        expire_before_ms: i64,
    },
    /// Two-phase commit: the data is written, invisible until committed.
    PrecommitTxn {
        txn_id: i64,
        time_ms: i64,
        stats: LoadStats,
        sub_txns: Vec<(i64, i64)>,
    },
    /// A load committed: partitions get their new versions (not yet visible).
    CommitTxn {
        txn: CommittedTxn,
        #[serde(default)]
        stats: LoadStats,
    },
    /// A load failed or was cancelled: nothing of it becomes visible, its label is free.
    AbortTxn {
        txn_id: i64,
        time_ms: i64,
        reason: String,
        #[serde(default)]
        stats: LoadStats,
    },
    /// A committed load was published on every BE: its versions become visible.
    VisibleTxn {
        txn_id: i64,
        time_ms: i64,
    },
    /// `ALTER TABLE ... ADD PARTITION` (and dynamic partitions).
    AddPartition {
        db_id: i64,
        table_id: i64,
        partition: Partition,
    },
    /// `ALTER TABLE ... DROP PARTITION` (and dynamic partitions past their start).
    DropPartition {
        db_id: i64,
        table_id: i64,
        partition_id: i64,
    },
    /// `TRUNCATE TABLE`: a partition replaced by an empty one (new id and tablets, same
    /// name and bounds).
    ReplacePartition {
        db_id: i64,
        table_id: i64,
        old_id: i64,
        partition: Partition,
    },
    RenamePartition {
        db_id: i64,
        table_id: i64,
        partition_id: i64,
        name: String,
    },
    RenameTable {
        db_id: i64,
        table_id: i64,
        name: String,
    },
    /// A light schema change (`ALTER TABLE ... ADD / DROP / MODIFY COLUMN`): the table's
    /// columns after it; the data stays as written.
    ModifySchema {
        db_id: i64,
        table_id: i64,
        columns: Vec<Column>,
        schema_version: i32,
    },
    /// `CREATE MATERIALIZED VIEW`: a materialized index and its tablets per partition.
    AddIndex {
        db_id: i64,
        table_id: i64,
        index: MaterializedIndex,
        tablets: Vec<(i64, Vec<Tablet>)>,
    },
    /// A materialized index holds every row: queries may use it.
    IndexBuilt {
        db_id: i64,
        table_id: i64,
        index_id: i64,
        time_ms: i64,
    },
    /// A schema change's shadow index is built: it becomes the table's base index (its
    /// columns, keys and tablets); the old base tablets go.
    FinishSchemaChange {
        db_id: i64,
        table_id: i64,
        index_id: i64,
        time_ms: i64,
    },
    /// `DROP MATERIALIZED VIEW`, or a cancelled schema change's shadow.
    DropIndex {
        db_id: i64,
        table_id: i64,
        index_id: i64,
    },
    /// `ALTER TABLE ... SET (...)`: the table's properties after the change.
    SetTableProperties {
        db_id: i64,
        table_id: i64,
        properties: BTreeMap<String, String>,
    },
}

/// The whole metadata state; serialised as the image (checkpoint).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Catalog {
    /// First id not yet reserved by an `IdWatermark`.
    pub id_watermark: i64,
    pub databases: BTreeMap<i64, Database>,
    pub backends: BTreeMap<i64, Backend>,
    pub users: BTreeMap<String, User>,
    pub global_variables: BTreeMap<String, String>,
    pub committed_txns: BTreeMap<i64, CommittedTxn>,
    /// Load transactions by id, kept until their labels expire.
    #[serde(default)]
    pub txns: BTreeMap<i64, LoadTxn>,
}

impl Catalog {
    /// Applies one change. Entries are validated before they are logged, so applying
    /// never fails; an entry that refers to something gone is ignored.
    pub fn apply(&mut self, entry: &JournalEntry) {
        match entry {
            JournalEntry::IdWatermark { next_id } => {
                self.id_watermark = self.id_watermark.max(*next_id);
            }
            JournalEntry::CreateDatabase {
                id,
                name,
                create_time_ms,
            } => {
                self.databases.insert(
                    *id,
                    Database {
                        id: *id,
                        name: name.clone(),
                        tables: BTreeMap::new(),
                        views: BTreeMap::new(),
                        create_time_ms: *create_time_ms,
                    },
                );
            }
            JournalEntry::DropDatabase { id } => {
                self.databases.remove(id);
            }
            JournalEntry::CreateTable { db_id, table } => {
                if let Some(db) = self.databases.get_mut(db_id) {
                    db.tables.insert(table.id, (**table).clone());
                }
            }
            JournalEntry::DropTable { db_id, table_id } => {
                if let Some(db) = self.databases.get_mut(db_id) {
                    db.tables.remove(table_id);
                }
            }
            JournalEntry::CreateView { db_id, view } => {
                if let Some(db) = self.databases.get_mut(db_id) {
                    db.views.retain(|_, v| v.name != view.name);
                    db.views.insert(view.id, view.clone());
                }
            }
            JournalEntry::DropView { db_id, view_id } => {
                if let Some(db) = self.databases.get_mut(db_id) {
                    db.views.remove(view_id);
                }
            }
            JournalEntry::AddBackend { backend } => {
                self.backends.insert(backend.id, backend.clone());
            }
            JournalEntry::DropBackend { id } => {
                self.backends.remove(id);
            }
            JournalEntry::UpsertUser { user } => {
                self.users
                    .insert(User::key(&user.name, &user.host), user.clone());
            }
            JournalEntry::DropUser { key } => {
                self.users.remove(key);
            }
            JournalEntry::SetGlobalVariable { name, value } => {
                self.global_variables.insert(name.clone(), value.clone());
            }
            JournalEntry::BeginTxn {
                txn,
                expire_before_ms,
            } => {
                self.txns
                    .retain(|_, t| !(t.status.is_final() && t.finish_time_ms < *expire_before_ms));
                self.txns.insert(txn.txn_id, (**txn).clone());
            }
            JournalEntry::PrecommitTxn {
                txn_id,
                time_ms,
                stats,
                sub_txns,
            } => {
                if let Some(t) = self.txns.get_mut(txn_id) {
                    t.status = TxnStatus::Precommitted;
                    t.precommit_time_ms = *time_ms;
                    t.stats = stats.clone();
                    t.sub_txns = sub_txns.clone();
                }
            }
            JournalEntry::CommitTxn { txn, stats } => {
                for part in &txn.parts {
                    if let Some(table) = self.table_mut(txn.db_id, part.table_id) {
                        for (pid, version) in &part.partition_versions {
                            if let Some(p) = table.partitions.iter_mut().find(|p| p.id == *pid) {
                                p.next_version = p.next_version.max(version + 1);
                            }
                        }
                    }
                }
                if let Some(t) = self.txns.get_mut(&txn.txn_id) {
                    t.status = TxnStatus::Committed;
                    t.commit_time_ms = txn.commit_time_ms;
                    t.stats = stats.clone();
                }
                self.committed_txns.insert(txn.txn_id, txn.clone());
            }
            JournalEntry::AddPartition {
                db_id,
                table_id,
                partition,
            } => {
                if let Some(t) = self.table_mut(*db_id, *table_id) {
                    if !t.partitions.iter().any(|p| p.id == partition.id) {
                        t.partitions.push(partition.clone());
                    }
                }
            }
            JournalEntry::DropPartition {
                db_id,
                table_id,
                partition_id,
            } => {
                if let Some(t) = self.table_mut(*db_id, *table_id) {
                    t.partitions.retain(|p| p.id != *partition_id);
                }
            }
            JournalEntry::ReplacePartition {
                db_id,
                table_id,
                old_id,
                partition,
            } => {
                if let Some(t) = self.table_mut(*db_id, *table_id) {
                    if let Some(p) = t.partitions.iter_mut().find(|p| p.id == *old_id) {
                        *p = partition.clone();
                    }
                }
            }
            JournalEntry::RenamePartition {
                db_id,
                table_id,
                partition_id,
                name,
            } => {
                if let Some(t) = self.table_mut(*db_id, *table_id) {
                    if let Some(p) = t.partitions.iter_mut().find(|p| p.id == *partition_id) {
                        p.name = name.clone();
                    }
                }
            }
            JournalEntry::RenameTable {
                db_id,
                table_id,
                name,
            } => {
                if let Some(t) = self.table_mut(*db_id, *table_id) {
                    // An unpartitioned table's one partition carries the table's name.
                    if t.partitioning.is_none() {
                        for p in t.partitions.iter_mut().filter(|p| p.name == t.name) {
                            p.name = name.clone();
                        }
                    }
                    t.name = name.clone();
                }
            }
            JournalEntry::ModifySchema {
                db_id,
                table_id,
                columns,
                schema_version,
            } => {
                if let Some(t) = self.table_mut(*db_id, *table_id) {
                    for old in &t.columns {
                        let name = old.name.to_lowercase();
                        let kept = columns.iter().any(|c| c.name.eq_ignore_ascii_case(&name));
                        if !kept && !t.dropped_columns.contains(&name) {
                            t.dropped_columns.push(name);
                        }
                    }
                    t.columns = columns.clone();
                    t.schema_version = *schema_version;
                }
            }
            JournalEntry::AddIndex {
                db_id,
                table_id,
                index,
                tablets,
            } => {
                if let Some(t) = self.table_mut(*db_id, *table_id) {
                    if !t.indexes.iter().any(|i| i.id == index.id) {
                        t.indexes.push(index.clone());
                    }
                    for (pid, tablets) in tablets {
                        if let Some(p) = t.partitions.iter_mut().find(|p| p.id == *pid) {
                            p.index_tablets.insert(index.id, tablets.clone());
                        }
                    }
                }
            }
            JournalEntry::IndexBuilt {
                db_id,
                table_id,
                index_id,
                time_ms,
            } => {
                if let Some(t) = self.table_mut(*db_id, *table_id) {
                    if let Some(i) = t.indexes.iter_mut().find(|i| i.id == *index_id) {
                        i.state = IndexState::Normal;
                        i.finish_time_ms = *time_ms;
                    }
                }
            }
            JournalEntry::FinishSchemaChange {
                db_id,
                table_id,
                index_id,
                time_ms,
            } => {
                if let Some(t) = self.table_mut(*db_id, *table_id) {
                    if let Some(at) = t.indexes.iter().position(|i| i.id == *index_id) {
                        let index = t.indexes.remove(at);
                        t.columns = index.columns.clone();
                        t.key_columns = index.key_columns.clone();
                        t.schema_version += 1;
                        // The rewritten segments hold only the new columns.
                        t.dropped_columns.clear();
                        for p in t.partitions.iter_mut() {
                            if let Some(tablets) = p.index_tablets.remove(index_id) {
                                p.tablets = tablets;
                            }
                        }
                        t.alter_jobs.push(AlterJobRecord {
                            job_id: index.id,
                            create_time_ms: index.create_time_ms,
                            finish_time_ms: *time_ms,
                            watershed_txn_id: index.watershed_txn_id,
                            schema_version: t.schema_version,
                            state: "FINISHED".into(),
                            msg: String::new(),
                        });
                    }
                }
            }
            JournalEntry::DropIndex {
                db_id,
                table_id,
                index_id,
            } => {
                if let Some(t) = self.table_mut(*db_id, *table_id) {
                    t.indexes.retain(|i| i.id != *index_id);
                    for p in t.partitions.iter_mut() {
                        p.index_tablets.remove(index_id);
                    }
                }
            }
            JournalEntry::SetTableProperties {
                db_id,
                table_id,
                properties,
            } => {
                if let Some(t) = self.table_mut(*db_id, *table_id) {
                    t.properties = properties.clone();
                }
            }
            JournalEntry::VisibleTxn { txn_id, time_ms } => {
                if let Some(txn) = self.committed_txns.remove(txn_id) {
                    for part in &txn.parts {
                        let Some(table) = self.table_mut(txn.db_id, part.table_id) else {
                            continue;
                        };
                        for (pid, version) in &part.partition_versions {
                            if let Some(p) = table.partitions.iter_mut().find(|p| p.id == *pid) {
                                if *version > p.visible_version {
                                    p.visible_version = *version;
                                    p.visible_version_time_ms = *time_ms;
                                }
                            }
                        }
                    }
                }
                if let Some(t) = self.txns.get_mut(txn_id) {
                    t.status = TxnStatus::Visible;
                    t.finish_time_ms = *time_ms;
                }
            }
            JournalEntry::AbortTxn {
                txn_id,
                time_ms,
                reason,
                stats,
            } => {
                if let Some(t) = self.txns.get_mut(txn_id) {
                    t.status = TxnStatus::Aborted;
                    t.finish_time_ms = *time_ms;
                    t.reason = reason.clone();
                    if *stats != LoadStats::default() {
                        t.stats = stats.clone();
                    }
                }
            }
        }
    }

    /// The unaborted transaction holding `label` in `db_id`, if any.
    pub fn txn_by_label(&self, db_id: i64, label: &str) -> Option<&LoadTxn> {
        self.txns
            .values()
            .rev()
            .find(|t| t.db_id == db_id && t.label == label && t.status != TxnStatus::Aborted)
    }

    pub fn db_by_name(&self, name: &str) -> Option<&Database> {
        self.databases.values().find(|d| d.name == name)
    }

    pub fn table_mut(&mut self, db_id: i64, table_id: i64) -> Option<&mut Table> {
        self.databases.get_mut(&db_id)?.tables.get_mut(&table_id)
    }

    pub fn backend_by_endpoint(&self, host: &str, port: u16) -> Option<&Backend> {
        self.backends
            .values()
            .find(|b| b.host == host && b.heartbeat_port == port)
    }

    /// Tablet count per backend id.
    pub fn tablets_per_backend(&self) -> BTreeMap<i64, usize> {
        let mut out: BTreeMap<i64, usize> = self.backends.keys().map(|id| (*id, 0)).collect();
        for db in self.databases.values() {
            for t in db.tables.values() {
                for p in &t.partitions {
                    for tablet in p.all_tablets() {
                        for r in &tablet.replicas {
                            *out.entry(r.backend_id).or_default() += 1;
                        }
                    }
                }
            }
        }
        out
    }
}

impl Database {
    /// A view by name, matched like tables.
    pub fn view_by_name(&self, name: &str) -> Option<&View> {
        self.views.values().find(|v| v.name == name).or_else(|| {
            self.views
                .values()
                .find(|v| v.name.eq_ignore_ascii_case(name))
        })
    }

    /// Exact name first, then case-insensitively (unquoted identifiers arrive lower-cased).
    pub fn table_by_name(&self, name: &str) -> Option<&Table> {
        self.tables.values().find(|t| t.name == name).or_else(|| {
            self.tables
                .values()
                .find(|t| t.name.eq_ignore_ascii_case(name))
        })
    }
}
