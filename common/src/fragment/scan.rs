//! Scan of an OLAP table's tablets at given versions. [`OlapScanExec`] is what the FE plans;
//! a BE replaces it (through [`super::StorageResolver`]) with a reader of its segment files.

use std::fmt;
use std::sync::Arc;

use datafusion::arrow::datatypes::SchemaRef;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream,
};
use serde::{Deserialize, Serialize};

/// One tablet to read, at the version visible when the query was planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TabletRead {
    pub tablet_id: i64,
    pub version: i64,
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
    /// Columns of the table schema to output, in order; `None` = all.
    pub projection: Option<Vec<usize>>,
    pub limit: Option<usize>,
    /// Number of output partitions the plan above expects.
    pub output_partitions: usize,
    /// Backends holding a replica of every scanned tablet (the FE picks one to run on).
    pub replica_backends: Vec<i64>,
}

/// FE-side scan node: carries the spec, the full table schema and the pushed-down predicate
/// (over the full table schema). It cannot execute on the FE.
#[derive(Debug)]
pub struct OlapScanExec {
    pub spec: ScanSpec,
    pub table_schema: SchemaRef,
    pub predicate: Option<Arc<dyn PhysicalExpr>>,
    projected_schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl OlapScanExec {
    pub fn try_new(
        spec: ScanSpec,
        table_schema: SchemaRef,
        predicate: Option<Arc<dyn PhysicalExpr>>,
    ) -> Result<Self> {
        let projected_schema = match &spec.projection {
            Some(p) => Arc::new(table_schema.project(p)?),
            None => Arc::clone(&table_schema),
        };
        let properties =
            super::plain_properties(Arc::clone(&projected_schema), spec.output_partitions);
        Ok(Self {
            spec,
            table_schema,
            predicate,
            projected_schema,
            properties,
        })
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
