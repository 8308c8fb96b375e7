//! Uncorrelated scalar subqueries (`WHERE x > (SELECT avg(y) FROM t)`) run first, each as a
//! query of its own, and their values replace them in the statement's plan as literals,
//! as Doris's planner does for such subqueries. The main plan can then be cut into
//! fragments anywhere (a subquery's value is needed by every instance that filters on
//! it). Entry point: [`inline_scalar_subqueries`].

use std::sync::Arc;

use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::logical_expr::{Expr, LogicalPlan, Subquery};
use datafusion::prelude::SessionContext;
use datafusion::scalar::ScalarValue;
use futures::TryStreamExt;

use super::coordinator;
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::session::Session;

/// The uncorrelated scalar subqueries of `plan` (not those nested in them).
fn uncorrelated(plan: &LogicalPlan) -> Result<Vec<Subquery>> {
    let mut found: Vec<Subquery> = Vec::new();
    plan.apply_with_subqueries(|node| {
        node.apply_expressions(|e| {
            e.apply(|e| {
                if let Expr::ScalarSubquery(sq) = e {
                    let correlated = !sq.outer_ref_columns.is_empty()
                        || !sq.subquery.all_out_ref_exprs().is_empty();
                    if !correlated && !found.contains(sq) {
                        found.push(sq.clone());
                    }
                    return Ok(TreeNodeRecursion::Jump);
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    })?;
    Ok(found)
}

/// `plan` with every uncorrelated scalar subquery replaced by its value.
pub async fn inline_scalar_subqueries(
    env: &Arc<Env>,
    session: &Session,
    ctx: &SessionContext,
    plan: LogicalPlan,
) -> Result<LogicalPlan> {
    let subqueries = uncorrelated(&plan)?;
    if subqueries.is_empty() {
        return Ok(plan);
    }
    let mut values = Vec::with_capacity(subqueries.len());
    for sq in &subqueries {
        let inner = Box::pin(inline_scalar_subqueries(
            env,
            session,
            ctx,
            sq.subquery.as_ref().clone(),
        ))
        .await?;
        values.push(scalar_value(env, session, ctx, inner).await?);
    }
    let rewritten = plan.transform_up_with_subqueries(|node| {
        node.map_expressions(|e| {
            e.transform(|e| match &e {
                Expr::ScalarSubquery(sq) => match subqueries.iter().position(|s| s == sq) {
                    Some(i) => Ok(Transformed::yes(Expr::Literal(values[i].clone(), None))),
                    None => Ok(Transformed::no(e)),
                },
                _ => Ok(Transformed::no(e)),
            })
        })
    })?;
    Ok(rewritten.data)
}

/// Runs a one-column subquery: its single value, NULL for no row, an error for several.
async fn scalar_value(
    env: &Arc<Env>,
    session: &Session,
    ctx: &SessionContext,
    plan: LogicalPlan,
) -> Result<ScalarValue> {
    let data_type = plan
        .schema()
        .fields()
        .first()
        .map(|f| f.data_type().clone())
        .ok_or_else(|| FeError::Analysis("a scalar subquery must return one column".into()))?;
    let physical = ctx.state().create_physical_plan(&plan).await?;
    let rows = coordinator::execute_plan(env, session, ctx, physical).await?;
    let batches: Vec<_> = rows.batches.try_collect().await?;
    let mut value = None;
    for b in batches.iter().filter(|b| b.num_rows() > 0) {
        if value.is_some() || b.num_rows() > 1 {
            return Err(FeError::Analysis(
                "Expected EQ 1 to be returned by expression: the scalar subquery returned more than one row"
                    .into(),
            ));
        }
        value = Some(ScalarValue::try_from_array(b.column(0), 0)?);
    }
    match value {
        Some(v) => Ok(v),
        None => Ok(ScalarValue::try_from(&data_type)?),
    }
}
