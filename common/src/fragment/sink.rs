//! Write of a query's output into an OLAP table's tablets under a load transaction.
//! [`OlapTableSinkExec`] is what the FE plans; a BE replaces it (through
//! [`super::BackendResolver`]) with a writer that distributes rows to buckets.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, Distribution, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream,
};
use serde::{Deserialize, Serialize};

use super::ExchangeEndpoint;
use crate::partition::PartitionItem;
use crate::types::ColumnType;

/// A column of the target table, as the writer validates it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SinkColumn {
    pub name: String,
    pub column_type: ColumnType,
    pub nullable: bool,
    /// A hidden column (the delete sign of a UNIQUE KEY table): loads fill it unless
    /// their column mapping names it.
    #[serde(default)]
    pub hidden: bool,
}

/// One target partition: its name, its bounds and its tablets in bucket order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SinkPartition {
    pub partition_id: i64,
    #[serde(default)]
    pub name: String,
    /// Its range or value list; `None` for the one partition of an unpartitioned table.
    #[serde(default)]
    pub item: Option<PartitionItem>,
    pub tablet_ids: Vec<i64>,
    /// Backends holding a replica of each tablet (same order as `tablet_ids`); every
    /// replica receives the tablet's rows.
    #[serde(default)]
    pub tablet_backends: Vec<Vec<i64>>,
}

/// A materialized index (synchronous materialized view) a load writes with its table:
/// each row routed to the base's bucket i of a partition also goes, projected, to the
/// index's bucket i of that partition (on the same backends).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SinkIndex {
    pub index_id: i64,
    pub columns: Vec<SinkColumn>,
    /// Sort-key columns (indices into `columns`).
    pub key_columns: Vec<usize>,
    /// Per index column, the table column (index into the spec's `columns`) it comes
    /// from; `None` for a column the table does not have yet (a schema change adds it),
    /// which gets its fill value (SQL text; `None`: NULL).
    pub sources: Vec<Option<usize>>,
    #[serde(default)]
    pub fills: Vec<Option<String>>,
    /// Per partition of the spec (same order), the index tablets in bucket order.
    pub tablet_ids: Vec<Vec<i64>>,
}

/// Everything a BE needs to write rows into a table under a transaction.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SinkSpec {
    pub txn_id: i64,
    pub db: String,
    pub table: String,
    pub table_id: i64,
    pub columns: Vec<SinkColumn>,
    /// Sort-key columns (indices into `columns`): segments are sorted by them.
    pub key_columns: Vec<usize>,
    /// Hash-distribution columns; empty means random distribution.
    pub distribution_columns: Vec<usize>,
    /// Partition columns (indices into `columns`); empty for an unpartitioned table.
    #[serde(default)]
    pub partition_columns: Vec<usize>,
    pub partitions: Vec<SinkPartition>,
    /// Where the backends holding the target tablets listen (`brpc_port`).
    #[serde(default)]
    pub backends: Vec<ExchangeEndpoint>,
    /// For a table with a hidden delete-sign column (the last of `columns`): the value an
    /// input without that column gets (0 writes rows, 1 deletes their keys).
    #[serde(default)]
    pub delete_sign: Option<i8>,
    /// Rows that fall in none of `partitions` are skipped instead of failing the write (a
    /// DELETE limited to some partitions of a UNIQUE KEY table).
    #[serde(default)]
    pub skip_unrouted: bool,
    /// A merge-on-write UNIQUE KEY table (partial updates are possible).
    #[serde(default)]
    pub merge_on_write: bool,
    /// A partial column update: the columns the load provides (keys included); the others
    /// keep the values of the key's current row, or get their defaults for a new key.
    #[serde(default)]
    pub partial_columns: Option<Vec<String>>,
    /// Materialized indexes written with the table.
    #[serde(default)]
    pub indexes: Vec<SinkIndex>,
}

/// The single-column (`count`, UInt64) schema an insert plan returns.
pub fn count_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "count",
        DataType::UInt64,
        false,
    )]))
}

/// FE-side sink node; it cannot execute on the FE.
#[derive(Debug)]
pub struct OlapTableSinkExec {
    pub spec: SinkSpec,
    pub input: Arc<dyn ExecutionPlan>,
    properties: Arc<PlanProperties>,
}

impl OlapTableSinkExec {
    pub fn new(spec: SinkSpec, input: Arc<dyn ExecutionPlan>) -> Self {
        Self {
            spec,
            input,
            properties: super::plain_properties(count_schema(), 1),
        }
    }
}

impl DisplayAs for OlapTableSinkExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let tablets: usize = self
            .spec
            .partitions
            .iter()
            .map(|p| p.tablet_ids.len())
            .sum();
        write!(
            f,
            "OlapTableSink: TABLE: {}.{}, txn_id={}, partitions={}, tablets={}",
            self.spec.db,
            self.spec.table,
            self.spec.txn_id,
            self.spec.partitions.len(),
            tablets
        )
    }
}

impl ExecutionPlan for OlapTableSinkExec {
    fn name(&self) -> &str {
        "OlapTableSinkExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.input]
    }

    /// One writer per statement: it routes every row to its tablets' backends.
    fn required_input_distribution(&self) -> Vec<Distribution> {
        vec![Distribution::SinglePartition]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        match children.pop() {
            Some(input) if children.is_empty() => Ok(Arc::new(Self::new(self.spec.clone(), input))),
            _ => Err(DataFusionError::Internal(
                "OlapTableSinkExec takes exactly one child".into(),
            )),
        }
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Err(DataFusionError::Internal(
            "OlapTableSinkExec only runs on a backend".into(),
        ))
    }
}
