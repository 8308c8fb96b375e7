//! Rollup selection: an aggregation over a table with a synchronous materialized view
//! (a NORMAL materialized index) that can answer it reads the view instead of the base
//! (EXPLAIN shows `TABLE: db.t(view)`). A view answers when every column the query reads
//! is in it, filters and GROUP BY use its key columns only, and every aggregate is one the
//! view's rows preserve: `SUM` / `MIN` / `MAX` of a value column the view aggregates the
//! same way, `MIN` / `MAX` / `COUNT(DISTINCT ..)` of its key columns. The view's rows are
//! read merged by key (it is an AGGREGATE KEY index), and the query aggregates them again,
//! which for these aggregates gives the base table's answer.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::Column;
use datafusion::datasource::provider_as_source;
use datafusion::error::Result;
use datafusion::logical_expr::expr::AggregateFunction;
use datafusion::logical_expr::{
    Aggregate, Expr, ExprSchemable, LogicalPlan, LogicalPlanBuilder, TableScan, TableScanBuilder,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::catalog::{arrow_name, OlapTableProvider};
use crate::catalog::{Aggregation, IndexState, MaterializedIndex};

#[derive(Debug, Default)]
pub struct SelectRollup;

impl OptimizerRule for SelectRollup {
    fn name(&self) -> &str {
        "doris_select_rollup"
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        plan.transform_down(|node| {
            if let LogicalPlan::Aggregate(agg) = &node {
                if let Some(rewritten) = use_rollup(agg)? {
                    return Ok(Transformed::yes(rewritten));
                }
            }
            Ok(Transformed::no(node))
        })
    }
}

fn column_names(e: &Expr) -> HashSet<String> {
    e.column_refs().iter().map(|c| c.name.clone()).collect()
}

/// The column an aggregate argument reads, if it is one (possibly cast).
fn bare_column(e: &Expr) -> Option<&Column> {
    match e {
        Expr::Column(c) => Some(c),
        Expr::Cast(c) => bare_column(&c.expr),
        Expr::TryCast(c) => bare_column(&c.expr),
        _ => None,
    }
}

/// Whether `index` can answer `agg` whose input reads `scan` through `between` (filters
/// and projections).
fn answers(
    index: &MaterializedIndex,
    agg: &Aggregate,
    between: &[&LogicalPlan],
    scan: &TableScan,
) -> bool {
    let keys: HashSet<String> = index.key_columns.iter().map(|k| arrow_name(k)).collect();
    let values: HashMap<String, Aggregation> = index
        .columns
        .iter()
        .filter(|c| !c.is_key)
        .filter_map(|c| {
            Some((
                arrow_name(&c.name),
                c.aggregation.as_deref().and_then(Aggregation::from_name)?,
            ))
        })
        .collect();
    let only_keys = |names: HashSet<String>| names.iter().all(|n| keys.contains(n));
    if !scan.filters.iter().all(|f| only_keys(column_names(f))) {
        return false;
    }
    for node in between {
        let ok = match node {
            LogicalPlan::Filter(f) => only_keys(column_names(&f.predicate)),
            // A value column may only pass through unchanged, to an aggregate.
            LogicalPlan::Projection(p) => p.expr.iter().all(|e| match e {
                Expr::Column(c) => keys.contains(&c.name) || values.contains_key(&c.name),
                other => only_keys(column_names(other)),
            }),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    if !agg.group_expr.iter().all(|g| only_keys(column_names(g))) {
        return false;
    }
    agg.aggr_expr.iter().all(|e| {
        let e = match e {
            Expr::Alias(a) => a.expr.as_ref(),
            other => other,
        };
        let Expr::AggregateFunction(AggregateFunction { func, params }) = e else {
            return false;
        };
        if params.filter.is_some() || !params.order_by.is_empty() {
            return false;
        }
        let [arg] = params.args.as_slice() else {
            return false;
        };
        let Some(column) = bare_column(arg) else {
            return false;
        };
        let name = func.name().to_ascii_lowercase();
        if keys.contains(&column.name) {
            return matches!(name.as_str(), "min" | "max") || (name == "count" && params.distinct);
        }
        let wanted = match name.as_str() {
            "sum" if !params.distinct => Aggregation::Sum,
            "min" => Aggregation::Min,
            "max" => Aggregation::Max,
            _ => return false,
        };
        values.get(&column.name) == Some(&wanted)
    })
}

/// `agg` reading a view instead of the base table, when one answers it.
fn use_rollup(agg: &Aggregate) -> Result<Option<LogicalPlan>> {
    let mut between: Vec<&LogicalPlan> = Vec::new();
    let mut node = agg.input.as_ref();
    let scan = loop {
        match node {
            LogicalPlan::Projection(p) => {
                between.push(node);
                node = p.input.as_ref();
            }
            LogicalPlan::Filter(f) => {
                between.push(node);
                node = f.input.as_ref();
            }
            LogicalPlan::TableScan(s) => break s,
            _ => return Ok(None),
        }
    };
    let Ok(provider) = source_as_provider(&scan.source) else {
        return Ok(None);
    };
    let Some(base) = provider.downcast_ref::<OlapTableProvider>() else {
        return Ok(None);
    };
    let Some(index) = base
        .table()
        .indexes
        .iter()
        .filter(|i| i.state == IndexState::Normal && !i.schema_change)
        .find(|i| answers(i, agg, &between, scan))
    else {
        return Ok(None);
    };
    let Some(view) = base.index_provider(index.id)? else {
        return Ok(None);
    };
    let view_schema = datafusion::catalog::TableProvider::schema(&view);
    let base_schema = provider.schema();
    let projection = match &scan.projection {
        Some(p) => p
            .iter()
            .map(|&i| view_schema.index_of(base_schema.field(i).name()).ok())
            .collect::<Option<Vec<usize>>>(),
        None => (0..base_schema.fields().len())
            .map(|i| view_schema.index_of(base_schema.field(i).name()).ok())
            .collect(),
    };
    let Some(projection) = projection else {
        return Ok(None);
    };
    let mut plan = LogicalPlan::TableScan(
        TableScanBuilder::new(scan.table_name.clone(), provider_as_source(Arc::new(view)))
            .with_projection(Some(projection))
            .with_filters(scan.filters.clone())
            .with_fetch(scan.fetch)
            .build()?,
    );
    for node in between.iter().rev() {
        plan = node.with_new_exprs(node.expressions(), vec![plan])?;
    }
    let rebuilt = LogicalPlan::Aggregate(Aggregate::try_new(
        Arc::new(plan),
        agg.group_expr.clone(),
        agg.aggr_expr.clone(),
    )?);
    // Keep the aggregation's output types (a view's SUM column may be wider).
    if rebuilt.schema().as_ref() == agg.schema.as_ref() {
        return Ok(Some(rebuilt));
    }
    let exprs: Vec<Expr> = agg
        .schema
        .iter()
        .zip(rebuilt.schema().columns())
        .map(|((qualifier, field), column)| {
            Expr::Column(column)
                .cast_to(field.data_type(), rebuilt.schema())
                .map(|e| e.alias_qualified(qualifier.cloned(), field.name()))
        })
        .collect::<Result<_>>()?;
    Ok(Some(
        LogicalPlanBuilder::from(rebuilt).project(exprs)?.build()?,
    ))
}
