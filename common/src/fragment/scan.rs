//! Scan of an OLAP table's tablets at given versions. [`OlapScanExec`] is what the FE plans;
//! a BE replaces it (through [`super::BackendResolver`]) with a reader of its segment files.
//!
//! A scan that feeds an AGGREGATE KEY merge ([`ScanSpec::merge_order`]) also outputs where
//! each row comes from ([`merge_order_fields`]): the rowset version and the segment number
//! (constant per file, so free to produce) and the row's position in its segment file (the
//! Parquet reader's row-number virtual column). Within one tablet these three order every
//! row exactly as it was loaded, which is what "the newest value wins" needs.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use datafusion::common::stats::Precision;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::ColumnStatistics;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::parquet::arrow::RowNumber;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream, Statistics, StatisticsArgs,
};
use serde::{Deserialize, Serialize};

/// Version of the rowset a row belongs to (the load that wrote it).
pub const VERSION_COLUMN: &str = "__doris_version";
/// Position of the row's segment file within its rowset (segments are written in load order).
pub const SEGMENT_COLUMN: &str = "__doris_segment";
/// Position of the row within its segment file.
pub const ROW_COLUMN: &str = "__doris_row";

/// The columns a [`ScanSpec::merge_order`] scan appends to the table columns, in this order:
/// [`VERSION_COLUMN`], [`SEGMENT_COLUMN`], [`ROW_COLUMN`] (all `Int64`). The row number
/// carries Parquet's `RowNumber` extension type so the BE's reader produces it.
pub fn merge_order_fields() -> Vec<FieldRef> {
    vec![
        Arc::new(Field::new(VERSION_COLUMN, DataType::Int64, false)),
        Arc::new(Field::new(SEGMENT_COLUMN, DataType::Int64, false)),
        Arc::new(Field::new(ROW_COLUMN, DataType::Int64, true).with_extension_type(RowNumber)),
    ]
}

/// The schema a scan reads before projection: the table's columns, followed by
/// [`merge_order_fields`] when `merge_order` is set.
pub fn scan_schema(table_schema: &SchemaRef, merge_order: bool) -> SchemaRef {
    if !merge_order {
        return Arc::clone(table_schema);
    }
    let fields: Vec<FieldRef> = table_schema
        .fields()
        .iter()
        .cloned()
        .chain(merge_order_fields())
        .collect();
    Arc::new(Schema::new_with_metadata(
        fields,
        table_schema.metadata().clone(),
    ))
}

/// One tablet to read, at the version visible when the query was planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabletRead {
    pub tablet_id: i64,
    pub version: i64,
    /// Backends holding a replica (the FE picks one to read from).
    #[serde(default)]
    pub backends: Vec<i64>,
    /// The tablet's bucket (its position in its partition).
    #[serde(default)]
    pub bucket: u32,
    /// For a bucket-aligned scan: the output partition this tablet's rows go to (so equal
    /// buckets meet in equal partitions, see [`ScanSpec::bucket_group`]).
    #[serde(default)]
    pub partition: Option<usize>,
}

/// Everything a BE needs to scan an OLAP table's tablets.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ScanSpec {
    pub db: String,
    pub table: String,
    pub table_id: i64,
    pub tablets: Vec<TabletRead>,
    /// Tablets of the table in total (EXPLAIN prints `tablets=selected/total`).
    pub total_tablets: usize,
    pub selected_partitions: usize,
    pub total_partitions: usize,
    /// Columns of the scan schema ([`scan_schema`]) to output, in order; `None` = all.
    pub projection: Option<Vec<usize>>,
    pub limit: Option<usize>,
    /// Number of output partitions the plan above expects.
    pub output_partitions: usize,
    /// Rows in the scanned tablets as last reported (planner statistics), if known.
    #[serde(default)]
    pub rows: Option<u64>,
    /// Hash-distribution columns (indices into the table's columns; empty: random).
    #[serde(default)]
    pub distribution: Vec<usize>,
    #[serde(default)]
    pub buckets: u32,
    /// The table's colocation group (`colocate_with`, qualified by database).
    #[serde(default)]
    pub colocate_group: Option<String>,
    /// Set by the distributed planner when this scan feeds a colocate or bucket-shuffle
    /// join: scans and exchanges of one group place bucket `b` on the same backend and
    /// output partition.
    #[serde(default)]
    pub bucket_group: Option<u32>,
    /// Also output [`merge_order_fields`] after the table columns (input of the AGGREGATE KEY
    /// merge); projection indices count them.
    #[serde(default)]
    pub merge_order: bool,
    /// Per column of the table schema: the value (SQL text) rows written before the column
    /// was added hold (`None`: NULL). Empty when no column was added.
    #[serde(default)]
    pub fill_values: Vec<Option<String>>,
}

/// FE-side scan node: carries the spec, the full table schema and the pushed-down predicate
/// (over the scan schema, see [`scan_schema`]). It cannot execute on the FE.
#[derive(Debug)]
pub struct OlapScanExec {
    pub spec: ScanSpec,
    pub table_schema: SchemaRef,
    pub predicate: Option<Arc<dyn PhysicalExpr>>,
    projected_schema: SchemaRef,
    properties: Arc<PlanProperties>,
    /// Planner statistics of the output columns (FE only; empty when unknown).
    column_statistics: Vec<ColumnStatistics>,
}

impl OlapScanExec {
    pub fn try_new(
        spec: ScanSpec,
        table_schema: SchemaRef,
        predicate: Option<Arc<dyn PhysicalExpr>>,
    ) -> Result<Self> {
        let schema = scan_schema(&table_schema, spec.merge_order);
        let projected_schema = match &spec.projection {
            Some(p) => Arc::new(schema.project(p)?),
            None => schema,
        };
        let properties =
            super::plain_properties(Arc::clone(&projected_schema), spec.output_partitions);
        Ok(Self {
            spec,
            table_schema,
            predicate,
            projected_schema,
            properties,
            column_statistics: Vec::new(),
        })
    }

    /// Sets the statistics of the output columns, one per column in order.
    pub fn with_column_statistics(mut self, columns: Vec<ColumnStatistics>) -> Self {
        if columns.len() == self.projected_schema.fields().len() {
            self.column_statistics = columns;
        }
        self
    }
}

impl DisplayAs for OlapScanExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        let s = &self.spec;
        write!(
            f,
            "OlapScanNode: TABLE: {}.{}, partitions={}/{}, tablets={}/{}",
            s.db,
            s.table,
            s.selected_partitions,
            s.total_partitions,
            s.tablets.len(),
            s.total_tablets
        )?;
        let cols: Vec<&str> = self
            .projected_schema
            .fields()
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        write!(f, ", columns=[{}]", cols.join(", "))?;
        if let Some(p) = &self.predicate {
            write!(f, ", predicate={p}")?;
        }
        if let Some(l) = s.limit {
            write!(f, ", limit={l}")?;
        }
        if s.bucket_group.is_some() {
            write!(f, ", bucket-aligned")?;
        }
        Ok(())
    }
}

impl ExecutionPlan for OlapScanExec {
    fn name(&self) -> &str {
        "OlapScanExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    /// Row counts and column statistics from the tablet reports, so DataFusion can order
    /// joins and choose to broadcast a small side.
    fn statistics_from_inputs(
        &self,
        _input_stats: &[Arc<Statistics>],
        args: &StatisticsArgs,
    ) -> Result<Arc<Statistics>> {
        let mut stats = Statistics::new_unknown(&self.schema());
        if !self.column_statistics.is_empty() {
            stats.column_statistics = self.column_statistics.clone();
        }
        if let Some(rows) = self.spec.rows {
            let rows = match args.partition() {
                Some(_) => rows / self.spec.output_partitions.max(1) as u64,
                None => rows,
            };
            let rows = usize::try_from(rows).unwrap_or(usize::MAX);
            stats.num_rows = Precision::Inexact(match self.spec.limit {
                Some(l) => rows.min(l),
                None => rows,
            });
        }
        Ok(Arc::new(stats))
    }

    fn apply_expressions(
        &self,
        f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        match &self.predicate {
            Some(p) => f(p),
            None => Ok(TreeNodeRecursion::Continue),
        }
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        _partition: usize,
        _context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        Err(DataFusionError::Internal(
            "OlapScanExec only runs on a backend".into(),
        ))
    }
}
