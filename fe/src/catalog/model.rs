//! The metadata tree: databases → tables → partitions → tablets → replicas, plus backends,
//! users and committed load transactions. Plain serializable data; changes go through
//! [`super::Catalog::apply`].

use std::collections::BTreeMap;

pub use doris_common::partition::{PartitionItem, PartitionKind, PartitionValue};
use doris_common::types::ColumnType;
pub use doris_common::types::KeysType;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Database {
    pub id: i64,
    pub name: String,
    pub tables: BTreeMap<i64, Table>,
    #[serde(default)]
    pub views: BTreeMap<i64, View>,
    pub create_time_ms: i64,
}

/// A logical view: its query text is planned wherever the view is referenced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct View {
    pub id: i64,
    pub name: String,
    /// Column names given in `CREATE VIEW v (a, b)`; empty = the query's own names.
    pub columns: Vec<String>,
    pub query: String,
    pub create_time_ms: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum ColumnDefault {
    Null,
    Literal(String),
    CurrentTimestamp,
    CurrentDate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Column {
    pub name: String,
    pub column_type: ColumnType,
    pub nullable: bool,
    pub is_key: bool,
    /// Aggregation of a value column in an AGGREGATE KEY table (`SUM`, `REPLACE`, ...).
    pub aggregation: Option<String>,
    pub default: Option<ColumnDefault>,
    pub comment: String,
    /// The value (SQL text) of rows loaded before the column was added by ALTER TABLE ADD
    /// COLUMN (its default at that time); `None`: NULL, or a column the table was created
    /// with.
    #[serde(default)]
    pub fill_value: Option<String>,
}

/// How an AGGREGATE KEY table merges a value column across rows with equal keys
/// (`Column::aggregation` holds its [`Aggregation::name`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Aggregation {
    Sum,
    Min,
    Max,
    /// The value of the newest row (NULL included).
    Replace,
    /// The newest non-NULL value.
    ReplaceIfNotNull,
    /// The union of BITMAP values.
    BitmapUnion,
    /// The union of HLL sketches.
    HllUnion,
}

impl Aggregation {
    const ALL: [Aggregation; 7] = [
        Aggregation::Sum,
        Aggregation::Min,
        Aggregation::Max,
        Aggregation::Replace,
        Aggregation::ReplaceIfNotNull,
        Aggregation::BitmapUnion,
        Aggregation::HllUnion,
    ];

    /// The keyword DDL, `DESC` and `SHOW CREATE TABLE` use.
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Sum => "SUM",
            Aggregation::Min => "MIN",
            Aggregation::Max => "MAX",
            Aggregation::Replace => "REPLACE",
            Aggregation::ReplaceIfNotNull => "REPLACE_IF_NOT_NULL",
            Aggregation::BitmapUnion => "BITMAP_UNION",
            Aggregation::HllUnion => "HLL_UNION",
        }
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Distribution {
    Hash {
        columns: Vec<String>,
        buckets: u32,
        auto: bool,
    },
    Random {
        buckets: u32,
        auto: bool,
    },
}

impl Distribution {
    pub fn buckets(&self) -> u32 {
        match self {
            Distribution::Hash { buckets, .. } | Distribution::Random { buckets, .. } => *buckets,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Replica {
    pub id: i64,
    pub backend_id: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tablet {
    pub id: i64,
    pub replicas: Vec<Replica>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Partition {
    pub id: i64,
    pub name: String,
    /// The base index id (rollups come later).
    pub index_id: i64,
    /// Version readers use; data of later versions is invisible.
    pub visible_version: i64,
    pub visible_version_time_ms: i64,
    /// Version the next committed load gets.
    pub next_version: i64,
    /// Tablets in bucket order.
    pub tablets: Vec<Tablet>,
    /// Its range or value list; `None` for the one partition of an unpartitioned table.
    #[serde(default)]
    pub item: Option<PartitionItem>,
    /// The tablets of each materialized index (rollup) of the table, by index id, in bucket
    /// order (bucket i holds the rows of the base's bucket i, on the same backends).
    #[serde(default)]
    pub index_tablets: BTreeMap<i64, Vec<Tablet>>,
}

impl Partition {
    /// Every tablet of the partition: the base's, then each materialized index's.
    pub fn all_tablets(&self) -> impl Iterator<Item = &Tablet> {
        self.tablets
            .iter()
            .chain(self.index_tablets.values().flatten())
    }
}

/// Where a materialized index stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum IndexState {
    /// Loads write it; its rows from before are being built; queries do not use it.
    Building,
    /// Complete: queries may read it instead of the base.
    Normal,
}

/// A synchronous materialized view (rollup) of a table: its own tablets in every
/// partition, written by every load together with the base, so it is never stale.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MaterializedIndex {
    pub id: i64,
    pub name: String,
    /// Its columns, keys first; an aggregated view's values carry their aggregation and
    /// keep the name of the base column they aggregate.
    pub columns: Vec<Column>,
    pub keys_type: KeysType,
    pub key_columns: Vec<String>,
    pub state: IndexState,
    /// Load transactions with a smaller id did not write it; its rows from before come from
    /// the base once they have finished.
    pub watershed_txn_id: i64,
    /// The `SELECT` it was created with.
    pub definition: String,
    pub create_time_ms: i64,
    #[serde(default)]
    pub finish_time_ms: i64,
    /// The shadow of a schema change that rewrites the data (ALTER TABLE ... on key
    /// columns): once built it becomes the table's base; queries never read it before.
    #[serde(default)]
    pub schema_change: bool,
    /// Per column: the value rows of the base hold when the base has no such column (a
    /// column the schema change adds); `None`: NULL.
    #[serde(default)]
    pub fills: Vec<Option<String>>,
}

/// A finished or cancelled schema change job, for `SHOW ALTER TABLE COLUMN`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AlterJobRecord {
    pub job_id: i64,
    pub create_time_ms: i64,
    pub finish_time_ms: i64,
    pub watershed_txn_id: i64,
    /// The table's schema version the job produced.
    pub schema_version: i32,
    /// FINISHED or CANCELLED.
    pub state: String,
    pub msg: String,
}

/// `PARTITION BY RANGE|LIST (columns)` of a table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partitioning {
    pub kind: PartitionKind,
    pub columns: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Table {
    pub id: i64,
    pub name: String,
    pub columns: Vec<Column>,
    pub keys_type: KeysType,
    pub key_columns: Vec<String>,
    pub distribution: Distribution,
    /// `None`: unpartitioned (one partition named after the table).
    #[serde(default)]
    pub partitioning: Option<Partitioning>,
    pub partitions: Vec<Partition>,
    pub properties: BTreeMap<String, String>,
    pub comment: String,
    pub create_time_ms: i64,
    pub schema_version: i32,
    /// Synchronous materialized views (rollups), and the shadow of a running schema change.
    #[serde(default)]
    pub indexes: Vec<MaterializedIndex>,
    /// Schema change jobs that ended.
    #[serde(default)]
    pub alter_jobs: Vec<AlterJobRecord>,
    /// Columns a light schema change dropped (lower case): segments written before may
    /// still hold their data, which a column re-added under the name would read.
    #[serde(default)]
    pub dropped_columns: Vec<String>,
}

/// The hidden column of UNIQUE KEY tables: 1 on a row that deletes its key (DELETE, stream
/// load `merge_type: DELETE`), 0 otherwise. Reads keep the newest row of each key and drop
/// it when its sign is 1.
pub const DELETE_SIGN_COLUMN: &str = "__DORIS_DELETE_SIGN__";

/// The table property choosing merge-on-write for a UNIQUE KEY table (default true).
pub const MERGE_ON_WRITE_PROPERTY: &str = "enable_unique_key_merge_on_write";

impl Table {
    /// UNIQUE KEY with merge-on-write: a load's publish marks the rows it replaces in a
    /// delete bitmap, so reads need no merge.
    pub fn merge_on_write(&self) -> bool {
        self.keys_type == KeysType::Unique
            && !self
                .properties
                .get(MERGE_ON_WRITE_PROPERTY)
                .is_some_and(|v| v.eq_ignore_ascii_case("false"))
    }

    /// Whether the table stores the hidden [`DELETE_SIGN_COLUMN`] (after its columns).
    pub fn has_delete_sign(&self) -> bool {
        self.keys_type == KeysType::Unique
    }

    /// What the tablets store: the columns, then the hidden ones.
    pub fn storage_columns(&self) -> Vec<Column> {
        let mut columns = self.columns.clone();
        if self.has_delete_sign() {
            columns.push(Column {
                name: DELETE_SIGN_COLUMN.to_string(),
                column_type: ColumnType::TinyInt,
                nullable: false,
                is_key: false,
                aggregation: Some(Aggregation::Replace.name().to_string()),
                default: Some(ColumnDefault::Literal("0".into())),
                comment: String::new(),
                fill_value: None,
            });
        }
        columns
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns
            .iter()
            .find(|c| c.name.eq_ignore_ascii_case(name))
    }

    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns
            .iter()
            .position(|c| c.name.eq_ignore_ascii_case(name))
    }

    pub fn tablet_count(&self) -> usize {
        self.partitions.iter().map(|p| p.tablets.len()).sum()
    }

    /// The partition columns' types (empty for an unpartitioned table).
    pub fn partition_column_types(&self) -> Vec<ColumnType> {
        self.partitioning
            .iter()
            .flat_map(|p| p.columns.iter())
            .filter_map(|c| self.column(c).map(|c| c.column_type.clone()))
            .collect()
    }

    /// Partitions in key order (ranges by lower bound, lists by their values), as SHOW
    /// PARTITIONS and SHOW CREATE TABLE list them.
    pub fn partitions_in_key_order(&self) -> Vec<&Partition> {
        let mut parts: Vec<&Partition> = self.partitions.iter().collect();
        parts.sort_by(|a, b| match (&a.item, &b.item) {
            (
                Some(PartitionItem::Range { lower: la, .. }),
                Some(PartitionItem::Range { lower: lb, .. }),
            ) => la.cmp(lb),
            (
                Some(PartitionItem::List { values: va }),
                Some(PartitionItem::List { values: vb }),
            ) => va.cmp(vb),
            _ => a.id.cmp(&b.id),
        });
        parts
    }

    /// The materialized index `index_id` as a table of its own: its columns and model,
    /// and in each partition its tablets (the view a scan or a load of it works with).
    pub fn index_table(&self, index_id: i64) -> Option<Table> {
        let index = self.indexes.iter().find(|i| i.id == index_id)?;
        let mut t = self.clone();
        t.columns = index.columns.clone();
        t.keys_type = index.keys_type;
        t.key_columns = index.key_columns.clone();
        t.indexes = Vec::new();
        t.properties.remove("bloom_filter_columns");
        for p in t.partitions.iter_mut() {
            p.tablets = p.index_tablets.remove(&index_id).unwrap_or_default();
            p.index_tablets.clear();
        }
        Some(t)
    }

    pub fn replication_num(&self) -> usize {
        self.partitions
            .first()
            .and_then(|p| p.tablets.first())
            .map_or(1, |t| t.replicas.len())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Backend {
    pub id: i64,
    pub host: String,
    pub heartbeat_port: u16,
}

impl Backend {
    pub fn endpoint(&self) -> String {
        format!("{}:{}", self.host, self.heartbeat_port)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    pub host: String,
    /// Hex of SHA1(SHA1(password)); `None` = no password.
    pub password_sha1_sha1: Option<String>,
}

impl User {
    pub fn key(name: &str, host: &str) -> String {
        format!("'{name}'@'{host}'")
    }
}

/// One table's share of a committed transaction: the id its rowsets were written under
/// on the BEs (the txn id itself, or a per-statement id inside `BEGIN ... COMMIT`) and the
/// versions assigned at commit.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TxnPart {
    pub sub_txn_id: i64,
    pub table_id: i64,
    /// `(partition_id, version)` assigned at commit.
    pub partition_versions: Vec<(i64, i64)>,
}

/// A committed load whose publish may not have finished: on restart it is published again.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CommittedTxn {
    pub txn_id: i64,
    pub label: String,
    pub db_id: i64,
    pub parts: Vec<TxnPart>,
    pub commit_time_ms: i64,
    pub rows: u64,
}

impl CommittedTxn {
    pub fn table_ids(&self) -> Vec<i64> {
        let mut ids: Vec<i64> = self.parts.iter().map(|p| p.table_id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }
}

/// Where a load transaction stands (Doris's `TransactionStatus`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TxnStatus {
    Prepare,
    Precommitted,
    Committed,
    Visible,
    Aborted,
}

impl TxnStatus {
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Prepare => "PREPARE",
            TxnStatus::Precommitted => "PRECOMMITTED",
            TxnStatus::Committed => "COMMITTED",
            TxnStatus::Visible => "VISIBLE",
            TxnStatus::Aborted => "ABORTED",
        }
    }

    pub fn is_final(self) -> bool {
        matches!(self, TxnStatus::Visible | TxnStatus::Aborted)
    }
}

/// What started a load transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LoadKind {
    Insert,
    StreamLoad,
    /// `DELETE FROM` a DUPLICATE or AGGREGATE KEY table.
    Delete,
}

/// Row and byte counts a load reports.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LoadStats {
    pub total_rows: u64,
    pub loaded_rows: u64,
    pub filtered_rows: u64,
    pub unselected_rows: u64,
    pub load_bytes: u64,
    pub error_url: String,
}

/// A load transaction and its label, from begin until `label_keep_max_second` after it
/// finished (a label is refused while an unaborted txn holds it).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LoadTxn {
    pub txn_id: i64,
    pub label: String,
    pub db_id: i64,
    pub table_ids: Vec<i64>,
    pub kind: LoadKind,
    pub status: TxnStatus,
    /// "FE: host" or "BE: host".
    pub coordinator: String,
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub client_ip: String,
    /// The backend coordinating a stream load (its death aborts the txn).
    pub coordinator_backend: Option<i64>,
    pub two_phase_commit: bool,
    pub timeout_ms: i64,
    pub prepare_time_ms: i64,
    pub precommit_time_ms: i64,
    pub commit_time_ms: i64,
    pub finish_time_ms: i64,
    pub reason: String,
    pub stats: LoadStats,
    /// Ids the rowsets were written under (the txn id, or one per statement of an
    /// explicit transaction), with their tables: what commit publishes, abort clears.
    pub sub_txns: Vec<(i64, i64)>,
}
