//! Doris's `numbers("number" = "N")` table function: one BIGINT column `number`, 0..N-1.
//! [`NumbersFunction`] is the table function; [`NumbersExec`] generates the rows, on FE or BE.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use datafusion::arrow::array::Int64Array;
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::{Session, TableFunctionArgs, TableFunctionImpl, TableProvider};
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::ScalarValue;
use datafusion::datasource::TableType;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{Expr, Operator};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{
    DisplayAs, DisplayFormatType, ExecutionPlan, PhysicalExpr, PlanProperties,
    SendableRecordBatchStream,
};

const BATCH_ROWS: u64 = 8192;

/// The schema of `numbers()`.
pub fn numbers_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![Field::new(
        "number",
        DataType::Int64,
        false,
    )]))
}

/// The `numbers` table function.
#[derive(Debug, Default)]
pub struct NumbersFunction;

fn literal_u64(e: &Expr) -> Option<u64> {
    match e {
        Expr::Literal(v, _) => match v {
            ScalarValue::Int64(Some(n)) => u64::try_from(*n).ok(),
            ScalarValue::UInt64(Some(n)) => Some(*n),
            ScalarValue::Int32(Some(n)) => u64::try_from(*n).ok(),
            ScalarValue::Utf8(Some(s)) | ScalarValue::LargeUtf8(Some(s)) => s.trim().parse().ok(),
            _ => None,
        },
        _ => None,
    }
}

fn literal_str(e: &Expr) -> Option<String> {
    match e {
        Expr::Literal(ScalarValue::Utf8(Some(s)), _) => Some(s.clone()),
        Expr::Column(c) => Some(c.name.clone()),
        _ => None,
    }
}

/// Reads the row count from `numbers("number" = "N")` or `numbers(N)`.
fn parse_count(args: &[Expr]) -> Result<u64> {
    let usage = || {
        DataFusionError::Plan(
            "numbers() takes one argument: numbers(\"number\" = \"N\") with N >= 0".into(),
        )
    };
    let [arg] = args else {
        return Err(usage());
    };
    if let Some(n) = literal_u64(arg) {
        return Ok(n);
    }
    if let Expr::BinaryExpr(b) = arg {
        if b.op == Operator::Eq {
            let key = literal_str(&b.left).ok_or_else(usage)?;
            if key.eq_ignore_ascii_case("number") {
                return literal_u64(&b.right).ok_or_else(usage);
            }
            return Err(DataFusionError::Plan(format!(
                "not supported yet: numbers() parameter '{key}'"
            )));
        }
    }
    Err(usage())
}

impl TableFunctionImpl for NumbersFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        Ok(Arc::new(NumbersTable {
            count: parse_count(args.exprs())?,
        }))
    }
}

/// The table a `numbers()` call produces.
#[derive(Debug)]
struct NumbersTable {
    count: u64,
}

#[async_trait]
impl TableProvider for NumbersTable {
    fn schema(&self) -> SchemaRef {
        numbers_schema()
    }

    fn table_type(&self) -> TableType {
        TableType::Temporary
    }

    async fn scan(
        &self,
        state: &dyn Session,
        projection: Option<&Vec<usize>>,
        _filters: &[Expr],
        limit: Option<usize>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let count = match limit {
            Some(l) => self.count.min(l as u64),
            None => self.count,
        };
        let partitions = state.config().target_partitions().max(1);
        let exec = NumbersExec::new(count, partitions);
        match projection {
            Some(p) if p.is_empty() => Ok(Arc::new(exec.with_empty_projection())),
            _ => Ok(Arc::new(exec)),
        }
    }
}

/// Generates `0..count` split into `partitions` contiguous ranges.
#[derive(Debug)]
pub struct NumbersExec {
    pub count: u64,
    pub partitions: usize,
    /// Output no columns (e.g. `SELECT count(*) FROM numbers(...)`).
    pub empty_projection: bool,
    schema: SchemaRef,
    properties: Arc<PlanProperties>,
}

impl NumbersExec {
    pub fn new(count: u64, partitions: usize) -> Self {
        let schema = numbers_schema();
        Self {
            count,
            partitions: partitions.max(1),
            empty_projection: false,
            properties: super::plain_properties(Arc::clone(&schema), partitions),
            schema,
        }
    }

    pub fn with_empty_projection(self) -> Self {
        let schema = Arc::new(Schema::empty());
        Self {
            empty_projection: true,
            properties: super::plain_properties(Arc::clone(&schema), self.partitions),
            schema,
            ..self
        }
    }

    fn range(&self, partition: usize) -> (u64, u64) {
        let parts = self.partitions as u64;
        let per = self.count / parts;
        let extra = self.count % parts;
        let p = partition as u64;
        let start = p * per + p.min(extra);
        let len = per + u64::from(p < extra);
        (start, start + len)
    }
}

impl DisplayAs for NumbersExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "NumbersExec: number={}", self.count)
    }
}

impl ExecutionPlan for NumbersExec {
    fn name(&self) -> &str {
        "NumbersExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        &self.properties
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        _children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        Ok(self)
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        if partition >= self.partitions {
            return Err(DataFusionError::Internal(format!(
                "NumbersExec has no partition {partition}"
            )));
        }
        let (start, end) = self.range(partition);
        let batch = (context.session_config().batch_size() as u64).clamp(1, BATCH_ROWS * 4);
        let schema = Arc::clone(&self.schema);
        let empty = self.empty_projection;
        let out_schema = Arc::clone(&schema);
        let iter = (start..end).step_by(batch as usize).map(move |lo| {
            let hi = (lo + batch).min(end);
            if empty {
                let opts = datafusion::arrow::record_batch::RecordBatchOptions::new()
                    .with_row_count(Some((hi - lo) as usize));
                return RecordBatch::try_new_with_options(Arc::clone(&schema), vec![], &opts)
                    .map_err(DataFusionError::from);
            }
            let values: Int64Array = (lo as i64..hi as i64).collect();
            RecordBatch::try_new(Arc::clone(&schema), vec![Arc::new(values)])
                .map_err(DataFusionError::from)
        });
        Ok(Box::pin(RecordBatchStreamAdapter::new(
            out_schema,
            futures::stream::iter(iter),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_everything_once() {
        for (count, parts) in [(10u64, 3usize), (0, 2), (5, 8), (1_000_003, 7)] {
            let e = NumbersExec::new(count, parts);
            let mut next = 0;
            for p in 0..parts {
                let (s, t) = e.range(p);
                assert_eq!(s, next);
                next = t;
            }
            assert_eq!(next, count);
        }
    }

    #[test]
    fn parses_doris_argument_forms() {
        use datafusion::logical_expr::{binary_expr, lit};
        assert_eq!(parse_count(&[lit(10i64)]).ok(), Some(10));
        let named = binary_expr(lit("number"), Operator::Eq, lit("42"));
        assert_eq!(parse_count(&[named]).ok(), Some(42));
        assert!(parse_count(&[lit(-1i64)]).is_err());
        assert!(parse_count(&[]).is_err());
    }
}
