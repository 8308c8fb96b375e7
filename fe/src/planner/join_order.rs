//! Join order: a logical optimizer rule that rebuilds each tree of inner joins greedily,
//! always joining next the two inputs whose join is estimated smallest (Greedy Operator
//! Ordering). DataFusion keeps the FROM clause's order, so a query that lists a large fact
//! table before its filtered dimensions (TPC-H Q7: supplier, lineitem, orders, customer,
//! nation, nation) would join the big tables first.
//!
//! Estimates come from the tablet reports ([`super::stats`]): rows per table, and for
//! integer-like columns the value range, which bounds the number of distinct values. A
//! join's size is `|A| * |B| / max(ndv(a), ndv(b))` over its most selective key pair;
//! filters use textbook selectivities (ranges from the column's min/max when known). When a
//! table of the tree has no statistics, the tree keeps its written order.

use std::collections::HashMap;
use std::sync::Arc;

use datafusion::catalog::default_table_source::source_as_provider;
use datafusion::common::tree_node::{Transformed, TreeNode, TreeNodeRecursion};
use datafusion::common::{Column, NullEquality, ScalarValue};
use datafusion::error::Result;
use datafusion::logical_expr::expr::{Alias, Between, BinaryExpr, Cast, InList, Like, TryCast};
use datafusion::logical_expr::utils::{conjunction, split_conjunction};
use datafusion::logical_expr::{
    Expr, ExprSchemable, Join, JoinConstraint, JoinType, LogicalPlan, LogicalPlanBuilder, Operator,
    Projection,
};
use datafusion::optimizer::{OptimizerConfig, OptimizerRule};

use super::catalog::OlapTableProvider;

/// Selectivity of a predicate nothing is known about.
const DEFAULT_SELECTIVITY: f64 = 0.25;
/// Selectivity of `col = literal` when the column's distinct values are unknown.
const EQUALITY_SELECTIVITY: f64 = 0.1;
/// Selectivity of an open range (`col < literal`) without the column's range.
const RANGE_SELECTIVITY: f64 = 1.0 / 3.0;
/// Trees with more inputs keep their order (the greedy search is cubic in this).
const MAX_INPUTS: usize = 32;

/// The optimizer rule (see the module doc).
#[derive(Debug, Default)]
pub struct ReorderJoins;

impl OptimizerRule for ReorderJoins {
    fn name(&self) -> &str {
        "doris_reorder_joins"
    }

    fn rewrite(
        &self,
        plan: LogicalPlan,
        _config: &dyn OptimizerConfig,
    ) -> Result<Transformed<LogicalPlan>> {
        reorder(plan)
    }
}

/// Reorders every inner-join tree in `plan`, outermost first.
fn reorder(plan: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    plan.transform_down(|node| {
        if let Some(pushed) = push_semi_join(&node)? {
            return Ok(Transformed::yes(pushed));
        }
        if !is_reorderable(&node) {
            return Ok(Transformed::no(node));
        }
        reorder_tree(node)
    })
}

/// A LEFT SEMI or ANTI join (`IN`, `EXISTS`, `NOT IN`, `NOT EXISTS`) over an inner-join
/// tree whose condition reads a single input of the tree: it only filters that input's
/// rows, so it moves onto that input when the input is estimated to have fewer rows than
/// the tree's result (fewer rows to probe, and fewer rows for the joins above it).
fn push_semi_join(plan: &LogicalPlan) -> Result<Option<LogicalPlan>> {
    let LogicalPlan::Join(j) = plan else {
        return Ok(None);
    };
    // The tree, possibly under a projection that drops columns.
    let tree = match j.left.as_ref() {
        LogicalPlan::Projection(p) if is_column_projection(p) => p.input.as_ref(),
        other => other,
    };
    if !matches!(j.join_type, JoinType::LeftSemi | JoinType::LeftAnti)
        || j.join_constraint != JoinConstraint::On
        || !is_reorderable(tree)
    {
        return Ok(None);
    }
    let mut inputs = Vec::new();
    let mut conditions = Vec::new();
    flatten(tree, &mut inputs, &mut conditions);
    if inputs.len() > MAX_INPUTS {
        return Ok(None);
    }
    let left_columns: Vec<&Column> =
        j.on.iter()
            .flat_map(|(l, _)| l.column_refs())
            .chain(
                j.filter
                    .iter()
                    .flat_map(|f| f.column_refs())
                    .filter(|c| j.left.schema().has_column(c)),
            )
            .collect();
    let mut owners = left_columns
        .iter()
        .map(|c| inputs.iter().position(|p| p.schema().has_column(c)));
    let Some(Some(k)) = owners.next() else {
        return Ok(None);
    };
    if !owners.all(|o| o == Some(k)) {
        return Ok(None);
    }
    // The tree's size as the join order would build it.
    let (Some((_, whole)), Some(input)) = (greedy(&inputs, &conditions)?, estimate(&inputs[k]))
    else {
        return Ok(None);
    };
    if input.rows >= whole {
        return Ok(None);
    }
    inputs[k] = LogicalPlan::Join(Join::try_new(
        Arc::new(inputs[k].clone()),
        Arc::clone(&j.right),
        j.on.clone(),
        j.filter.clone(),
        j.join_type,
        j.join_constraint,
        j.null_equality,
        j.null_aware,
    )?);
    let Some((rebuilt, _)) = greedy(&inputs, &conditions)? else {
        return Ok(None);
    };
    let columns = plan.schema().columns().into_iter().map(Expr::Column);
    Ok(Some(
        LogicalPlanBuilder::from(rebuilt)
            .project(columns)?
            .build()?,
    ))
}

fn is_reorderable(plan: &LogicalPlan) -> bool {
    matches!(plan, LogicalPlan::Join(j) if j.join_type == JoinType::Inner
        && j.join_constraint == JoinConstraint::On
        && j.null_equality == NullEquality::NullEqualsNothing
        && !j.null_aware)
}

/// A predicate of the tree and the inputs it reads (bit `i` = input `i`).
#[derive(Debug, Clone)]
enum Predicate {
    /// `left = right`, a candidate join key pair.
    Equal(Expr, Expr, u64, u64),
    Other(Expr, u64),
}

impl Predicate {
    fn inputs(&self) -> u64 {
        match self {
            Predicate::Equal(_, _, l, r) => l | r,
            Predicate::Other(_, m) => *m,
        }
    }

    fn expr(&self) -> Expr {
        match self {
            Predicate::Equal(l, r, _, _) => l.clone().eq(r.clone()),
            Predicate::Other(e, _) => e.clone(),
        }
    }
}

/// Part of the tree built so far: which inputs it joins, its plan and its estimate.
struct Component {
    inputs: u64,
    plan: LogicalPlan,
    estimate: Estimate,
}

/// Reorders the tree at `root`, or leaves it (`Transformed::no` with recursion continuing
/// into it) when it cannot be estimated.
fn reorder_tree(root: LogicalPlan) -> Result<Transformed<LogicalPlan>> {
    let mut inputs = Vec::new();
    let mut conditions = Vec::new();
    flatten(&root, &mut inputs, &mut conditions);
    if inputs.len() > MAX_INPUTS {
        return Ok(Transformed::new(root, false, TreeNodeRecursion::Continue));
    }
    let mut inputs = inputs
        .into_iter()
        .map(|p| Ok(reorder(p)?.data))
        .collect::<Result<Vec<_>>>()?;
    let reduced = reduce_aggregates(&mut inputs, &conditions)?;
    if inputs.len() < 3 && !reduced {
        return Ok(Transformed::new(root, false, TreeNodeRecursion::Continue));
    }
    let Some((rebuilt, _)) = greedy(&inputs, &conditions)? else {
        return Ok(Transformed::new(root, false, TreeNodeRecursion::Continue));
    };
    if rebuilt == root {
        return Ok(Transformed::new(root, false, TreeNodeRecursion::Jump));
    }
    // Restore the tree's column order for the plan above.
    let columns = root.schema().columns().into_iter().map(Expr::Column);
    let plan = LogicalPlanBuilder::from(rebuilt)
        .project(columns)?
        .build()?;
    Ok(Transformed::new(plan, true, TreeNodeRecursion::Jump))
}

/// Name prefix of the key sets [`semi_reduce`] adds (which also marks an aggregation as
/// reduced already).
const KEY_SET_ALIAS: &str = "__doris_key_set";

/// Reduces the input of aggregations joined on a group key to a much smaller input of the
/// tree: `Agg(group by k) JOIN small ON k = x` only needs the groups whose `k` is among
/// `small`'s `x`, so the aggregation's input is first semi-joined with `small`'s keys (TPC-H
/// Q17, Q2: a correlated subquery over a big table, for a few outer rows). `small` is read
/// twice, so it must be a plain (filtered) table. Returns whether an input changed.
fn reduce_aggregates(inputs: &mut [LogicalPlan], conditions: &[Expr]) -> Result<bool> {
    let mut reduced = false;
    let mut rows: Vec<Option<f64>> = inputs.iter().map(|p| Some(estimate(p)?.rows)).collect();
    for condition in conditions {
        let Expr::BinaryExpr(BinaryExpr {
            left,
            op: Operator::Eq,
            right,
        }) = condition
        else {
            continue;
        };
        let (Expr::Column(l), Expr::Column(r)) = (left.as_ref(), right.as_ref()) else {
            continue;
        };
        for (agg_column, key_column) in [(l, r), (r, l)] {
            let owner = |c: &Column| inputs.iter().position(|p| p.schema().has_column(c));
            let (Some(a), Some(k)) = (owner(agg_column), owner(key_column)) else {
                continue;
            };
            if a == k || !is_plain_table(&inputs[k]) {
                continue;
            }
            let (Some(keys), Some(groups)) = (rows[k], rows[a]) else {
                continue;
            };
            if keys * 10.0 > groups {
                continue;
            }
            let key_set = (&inputs[k], key_column);
            if let Some(new) = semi_reduce(&inputs[a], agg_column, key_set)? {
                rows[a] = estimate(&new).map(|e| e.rows);
                inputs[a] = new;
                reduced = true;
            }
        }
    }
    Ok(reduced)
}

/// A table scan, possibly filtered, projected or renamed.
fn is_plain_table(plan: &LogicalPlan) -> bool {
    match plan {
        LogicalPlan::TableScan(_) => true,
        LogicalPlan::Filter(f) => is_plain_table(&f.input),
        LogicalPlan::Projection(p) => is_plain_table(&p.input),
        LogicalPlan::SubqueryAlias(a) => is_plain_table(&a.input),
        _ => false,
    }
}

/// `plan` (renames, projections and filters over an aggregation) with the aggregation's
/// input semi-joined with `key_set`'s column, when `column` is a group key of the
/// aggregation; `None` otherwise or when already done.
fn semi_reduce(
    plan: &LogicalPlan,
    column: &Column,
    key_set: (&LogicalPlan, &Column),
) -> Result<Option<LogicalPlan>> {
    let index = plan.schema().index_of_column(column).ok();
    let (child, child_column) = match plan {
        LogicalPlan::SubqueryAlias(a) => {
            let Some(c) = index.and_then(|i| a.input.schema().columns().get(i).cloned()) else {
                return Ok(None);
            };
            (&a.input, c)
        }
        LogicalPlan::Projection(p) => match index.map(|i| strip(&p.expr[i])) {
            Some(Expr::Column(c)) => (&p.input, c.clone()),
            _ => return Ok(None),
        },
        LogicalPlan::Filter(f) => (&f.input, column.clone()),
        LogicalPlan::Aggregate(a) => {
            let group = match index {
                Some(i) if i < a.group_expr.len() => &a.group_expr[i],
                _ => return Ok(None),
            };
            let (keys, key_column) = key_set;
            let already = a.input.exists(|p| {
                Ok(matches!(p, LogicalPlan::SubqueryAlias(s)
                    if s.alias.table().starts_with(KEY_SET_ALIAS)))
            })?;
            let key_type = keys
                .schema()
                .qualified_field_from_column(key_column)?
                .1
                .data_type();
            if already
                || matches!(group, Expr::GroupingSet(_))
                || group.get_type(a.input.schema())? != *key_type
            {
                return Ok(None);
            }
            static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
            let alias = format!(
                "{KEY_SET_ALIAS}_{}",
                NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            );
            let set = LogicalPlanBuilder::from(keys.clone())
                .project(vec![Expr::Column(key_column.clone())])?
                .alias(alias.as_str())?
                .build()?;
            let set_column = Expr::Column(Column::new(Some(alias), key_column.name.clone()));
            let input = LogicalPlan::Join(Join::try_new(
                Arc::clone(&a.input),
                Arc::new(set),
                vec![(group.clone(), set_column)],
                None,
                JoinType::LeftSemi,
                JoinConstraint::On,
                NullEquality::NullEqualsNothing,
                false,
            )?);
            let exprs = plan.expressions();
            return Ok(Some(plan.with_new_exprs(exprs, vec![input])?));
        }
        _ => return Ok(None),
    };
    let Some(new_child) = semi_reduce(child, &child_column, key_set)? else {
        return Ok(None);
    };
    Ok(Some(
        plan.with_new_exprs(plan.expressions(), vec![new_child])?,
    ))
}

/// Whether `expr` reads columns, all of `plan`'s output.
fn reads_only(expr: &Expr, plan: &LogicalPlan) -> bool {
    let columns = expr.column_refs();
    !columns.is_empty() && columns.iter().all(|c| plan.schema().has_column(c))
}

/// A projection that only selects columns.
fn is_column_projection(p: &Projection) -> bool {
    p.expr.iter().all(|e| matches!(e, Expr::Column(_)))
}

/// Collects the inputs of the inner-join tree at `plan` (left to right) and its conditions.
/// Projections that only drop columns between the tree's joins are looked through (the
/// rebuilt tree ends in a projection to the tree's columns).
fn flatten(plan: &LogicalPlan, inputs: &mut Vec<LogicalPlan>, conditions: &mut Vec<Expr>) {
    match plan {
        LogicalPlan::Projection(p) if is_reorderable(&p.input) && is_column_projection(p) => {
            flatten(&p.input, inputs, conditions)
        }
        LogicalPlan::Join(j) if is_reorderable(plan) => {
            flatten(&j.left, inputs, conditions);
            flatten(&j.right, inputs, conditions);
            conditions.extend(j.on.iter().map(|(l, r)| l.clone().eq(r.clone())));
            if let Some(f) = &j.filter {
                conditions.extend(split_conjunction(f).into_iter().cloned());
            }
        }
        other => inputs.push(other.clone()),
    }
}

/// Greedy Operator Ordering over `inputs`: the joined plan and its estimated rows; `None`
/// when an input has no estimate or a condition cannot be placed.
fn greedy(inputs: &[LogicalPlan], conditions: &[Expr]) -> Result<Option<(LogicalPlan, f64)>> {
    let mut components = Vec::with_capacity(inputs.len());
    for (i, plan) in inputs.iter().enumerate() {
        let Some(estimate) = estimate(plan) else {
            return Ok(None);
        };
        components.push(Component {
            inputs: 1 << i,
            plan: plan.clone(),
            estimate,
        });
    }
    let mut predicates = Vec::with_capacity(conditions.len());
    for c in conditions {
        let Some(p) = classify(c, inputs) else {
            return Ok(None);
        };
        predicates.push(p);
    }
    let mut used = vec![false; predicates.len()];
    while components.len() > 1 {
        let (a, b) = best_pair(&components, &predicates, &used);
        // Remove the later index first so the earlier stays valid.
        let right = components.remove(b);
        let left = components.remove(a);
        let joined = join(left, right, &predicates, &mut used)?;
        components.insert(a, joined);
    }
    let Some(mut last) = components.pop() else {
        return Ok(None);
    };
    let rest: Vec<Expr> = predicates
        .iter()
        .zip(&used)
        .filter(|(_, u)| !**u)
        .map(|(p, _)| p.expr())
        .collect();
    if let Some(filter) = conjunction(rest) {
        last.plan = LogicalPlanBuilder::from(last.plan)
            .filter(filter)?
            .build()?;
    }
    Ok(Some((last.plan, last.estimate.rows)))
}

/// Which inputs `expr` reads; `None` if a column belongs to none of them.
fn inputs_of(expr: &Expr, inputs: &[LogicalPlan]) -> Option<u64> {
    let mut mask = 0u64;
    for column in expr.column_refs() {
        let i = inputs.iter().position(|p| p.schema().has_column(column))?;
        mask |= 1 << i;
    }
    Some(mask)
}

fn classify(condition: &Expr, inputs: &[LogicalPlan]) -> Option<Predicate> {
    if let Expr::BinaryExpr(BinaryExpr {
        left,
        op: Operator::Eq,
        right,
    }) = condition
    {
        let (l, r) = (inputs_of(left, inputs)?, inputs_of(right, inputs)?);
        if l != 0 && r != 0 && l & r == 0 {
            return Some(Predicate::Equal(
                left.as_ref().clone(),
                right.as_ref().clone(),
                l,
                r,
            ));
        }
    }
    Some(Predicate::Other(
        condition.clone(),
        inputs_of(condition, inputs)?,
    ))
}

/// The key pairs joining `a` to `b`, oriented `(a side, b side)`.
fn key_pairs<'p>(
    a: u64,
    b: u64,
    predicates: &'p [Predicate],
    used: &'p [bool],
) -> impl Iterator<Item = (usize, &'p Expr, &'p Expr)> + 'p {
    predicates
        .iter()
        .enumerate()
        .filter(move |(i, _)| !used[*i])
        .filter_map(move |(i, p)| match p {
            Predicate::Equal(l, r, lm, rm) if lm & !a == 0 && rm & !b == 0 => Some((i, l, r)),
            Predicate::Equal(l, r, lm, rm) if lm & !b == 0 && rm & !a == 0 => Some((i, r, l)),
            _ => None,
        })
}

/// The two components to join next: the connected pair with the smallest estimated
/// result (then the smaller inputs); when none is connected, the two smallest.
fn best_pair(components: &[Component], predicates: &[Predicate], used: &[bool]) -> (usize, usize) {
    let mut best: Option<((f64, f64), (usize, usize))> = None;
    for a in 0..components.len() {
        for b in a + 1..components.len() {
            let (ca, cb) = (&components[a], &components[b]);
            if key_pairs(ca.inputs, cb.inputs, predicates, used)
                .next()
                .is_none()
            {
                continue;
            }
            let rows = joined_estimate(ca, cb, predicates, used).rows;
            let key = (rows, ca.estimate.rows + cb.estimate.rows);
            if best.is_none_or(|(k, _)| key < k) {
                best = Some((key, (a, b)));
            }
        }
    }
    if let Some((_, pair)) = best {
        return pair;
    }
    let mut order: Vec<usize> = (0..components.len()).collect();
    order.sort_by(|&x, &y| {
        components[x]
            .estimate
            .rows
            .total_cmp(&components[y].estimate.rows)
    });
    let (x, y) = (order[0], order[1]);
    (x.min(y), x.max(y))
}

/// The estimate of joining `a` and `b` on their key pairs and the other predicates that
/// become complete.
fn joined_estimate(
    a: &Component,
    b: &Component,
    predicates: &[Predicate],
    used: &[bool],
) -> Estimate {
    let mut columns = a.estimate.columns.clone();
    columns.extend(b.estimate.columns.iter().map(|(k, v)| (k.clone(), *v)));
    let mut divisor: f64 = 1.0;
    for (_, ka, kb) in key_pairs(a.inputs, b.inputs, predicates, used) {
        let (na, nb) = (
            a.estimate.distinct(ka).unwrap_or(a.estimate.rows),
            b.estimate.distinct(kb).unwrap_or(b.estimate.rows),
        );
        divisor = divisor.max(na.max(nb));
        let shared = na.min(nb);
        for key in [ka, kb] {
            if let Expr::Column(c) = key {
                columns
                    .entry(c.clone())
                    .and_modify(|i| i.distinct = Some(shared));
            }
        }
    }
    let mut estimate = Estimate {
        rows: a.estimate.rows * b.estimate.rows / divisor.max(1.0),
        columns,
    };
    let both = a.inputs | b.inputs;
    for (p, u) in predicates.iter().zip(used) {
        let inside = p.inputs() & !both == 0;
        let new = p.inputs() & !a.inputs != 0 && p.inputs() & !b.inputs != 0;
        if !*u && inside && new && matches!(p, Predicate::Other(..)) {
            estimate.rows *= selectivity(&p.expr(), &estimate);
        }
    }
    estimate.cap();
    estimate
}

/// Joins two components (the smaller estimate on the left, DataFusion's build side).
fn join(
    a: Component,
    b: Component,
    predicates: &[Predicate],
    used: &mut [bool],
) -> Result<Component> {
    let estimate = joined_estimate(&a, &b, predicates, used);
    let (a, b) = if b.estimate.rows < a.estimate.rows {
        (b, a)
    } else {
        (a, b)
    };
    let both = a.inputs | b.inputs;
    let mut on = Vec::new();
    for (i, ka, kb) in key_pairs(a.inputs, b.inputs, predicates, used) {
        on.push((i, ka.clone(), kb.clone()));
    }
    let mut filters = Vec::new();
    for (i, _, _) in &on {
        used[*i] = true;
    }
    for (i, p) in predicates.iter().enumerate() {
        if !used[i] && p.inputs() & !both == 0 {
            used[i] = true;
            filters.push(p.expr());
        }
    }
    let plan = LogicalPlan::Join(Join::try_new(
        Arc::new(a.plan),
        Arc::new(b.plan),
        on.into_iter().map(|(_, l, r)| (l, r)).collect(),
        conjunction(filters),
        JoinType::Inner,
        JoinConstraint::On,
        NullEquality::NullEqualsNothing,
        false,
    )?);
    Ok(Component {
        inputs: both,
        plan,
        estimate,
    })
}

/// What is known of a column of a plan's output.
#[derive(Debug, Clone, Copy)]
struct ColumnInfo {
    /// Estimated distinct values, when known (from an integer column's range).
    distinct: Option<f64>,
    /// Value range of an integer-like column.
    range: Option<(i64, i64)>,
}

/// Estimated output of a plan: rows, and for some columns what is known of them.
#[derive(Debug, Clone, Default)]
struct Estimate {
    rows: f64,
    columns: HashMap<Column, ColumnInfo>,
}

impl Estimate {
    fn column(&self, expr: &Expr) -> Option<&ColumnInfo> {
        match strip(expr) {
            Expr::Column(c) => self.columns.get(c),
            _ => None,
        }
    }

    fn distinct(&self, expr: &Expr) -> Option<f64> {
        self.column(expr)
            .and_then(|c| c.distinct)
            .map(|d| d.min(self.rows).max(1.0))
    }

    /// No column has more distinct values than the plan has rows.
    fn cap(&mut self) {
        let rows = self.rows;
        for c in self.columns.values_mut() {
            c.distinct = c.distinct.map(|d| d.min(rows));
        }
    }

    fn filter(mut self, predicate: &Expr) -> Self {
        self.rows *= selectivity(predicate, &self);
        self.cap();
        self
    }
}

/// Casts and aliases do not change which values a column has.
fn strip(expr: &Expr) -> &Expr {
    match expr {
        Expr::Cast(Cast { expr, .. })
        | Expr::TryCast(TryCast { expr, .. })
        | Expr::Alias(Alias { expr, .. }) => strip(expr),
        other => other,
    }
}

/// The plan's estimated output; `None` when a table's statistics are unknown.
fn estimate(plan: &LogicalPlan) -> Option<Estimate> {
    match plan {
        LogicalPlan::TableScan(scan) => {
            let provider = source_as_provider(&scan.source).ok()?;
            let table = provider.downcast_ref::<OlapTableProvider>()?;
            let stats = table.stats();
            let rows = stats.rows? as f64;
            let columns = scan
                .projected_schema
                .columns()
                .into_iter()
                .map(|c| {
                    let stat = stats.columns.get(&c.name);
                    let info = ColumnInfo {
                        distinct: stats.distinct_bound(&c.name).map(|d| d as f64),
                        range: stat.and_then(|s| s.min.zip(s.max)),
                    };
                    (c, info)
                })
                .collect();
            let mut est = Estimate { rows, columns };
            for f in &scan.filters {
                est = est.filter(f);
            }
            if let Some(fetch) = scan.fetch {
                est.rows = est.rows.min(fetch as f64);
            }
            Some(est)
        }
        LogicalPlan::Filter(f) => Some(estimate(&f.input)?.filter(&f.predicate)),
        LogicalPlan::Projection(p) => {
            let input = estimate(&p.input)?;
            let columns = p
                .expr
                .iter()
                .zip(p.schema.columns())
                .filter_map(|(e, c)| Some((c, *input.column(e)?)))
                .collect();
            Some(Estimate {
                rows: input.rows,
                columns,
            })
        }
        LogicalPlan::SubqueryAlias(a) => {
            let input = estimate(&a.input)?;
            let columns = a
                .input
                .schema()
                .columns()
                .into_iter()
                .zip(a.schema.columns())
                .filter_map(|(from, to)| Some((to, *input.columns.get(&from)?)))
                .collect();
            Some(Estimate {
                rows: input.rows,
                columns,
            })
        }
        LogicalPlan::Aggregate(a) => {
            let input = estimate(&a.input)?;
            let groups = if a.group_expr.is_empty() {
                1.0
            } else {
                a.group_expr
                    .iter()
                    .map(|g| input.distinct(g).unwrap_or(input.rows))
                    .product::<f64>()
                    .min(input.rows)
            };
            let columns = a
                .group_expr
                .iter()
                .zip(a.schema.columns())
                .filter_map(|(e, c)| Some((c, *input.column(e)?)))
                .collect();
            let mut est = Estimate {
                rows: groups,
                columns,
            };
            est.cap();
            Some(est)
        }
        LogicalPlan::Join(j) => {
            let (left, right) = (estimate(&j.left)?, estimate(&j.right)?);
            let key_distinct = |(l, r): &(Expr, Expr)| {
                let (nl, nr) = (
                    left.distinct(l).unwrap_or(left.rows),
                    right.distinct(r).unwrap_or(right.rows),
                );
                (nl, nr)
            };
            // Key pairs, also `a = b` conjuncts of the filter across the two sides (an inner
            // join's equalities stay in its filter until DataFusion extracts them).
            let filter_keys = j.filter.iter().flat_map(split_conjunction).filter_map(|c| {
                let Expr::BinaryExpr(BinaryExpr {
                    left: l,
                    op: Operator::Eq,
                    right: r,
                }) = c
                else {
                    return None;
                };
                let on_left = |e: &Expr| reads_only(e, &j.left);
                let on_right = |e: &Expr| reads_only(e, &j.right);
                match (on_left(l), on_right(r), on_left(r), on_right(l)) {
                    (true, true, _, _) => Some((l.as_ref().clone(), r.as_ref().clone())),
                    (_, _, true, true) => Some((r.as_ref().clone(), l.as_ref().clone())),
                    _ => None,
                }
            });
            let pairs: Vec<(Expr, Expr)> = j.on.iter().cloned().chain(filter_keys).collect();
            let keys: Vec<(f64, f64)> = pairs.iter().map(key_distinct).collect();
            // Semi, anti and mark joins keep rows of one side (the outer), with the distinct
            // counts of the first key pair as (outer, inner).
            let outer = match j.join_type {
                JoinType::LeftSemi | JoinType::LeftAnti | JoinType::LeftMark => {
                    Some((left.rows, keys.first().copied()))
                }
                JoinType::RightSemi | JoinType::RightAnti | JoinType::RightMark => {
                    Some((right.rows, keys.first().map(|&(nl, nr)| (nr, nl))))
                }
                _ => None,
            };
            let rows = match outer {
                Some((outer, key)) => {
                    let semi = key.map_or(outer * 0.5, |(outer_ndv, inner_ndv)| {
                        outer * (inner_ndv / outer_ndv).min(1.0)
                    });
                    match j.join_type {
                        JoinType::LeftAnti | JoinType::RightAnti => (outer - semi).max(outer * 0.1),
                        JoinType::LeftMark | JoinType::RightMark => outer,
                        _ => semi,
                    }
                }
                None => {
                    let divisor = keys.iter().map(|(nl, nr)| nl.max(*nr)).fold(1.0, f64::max);
                    let inner = left.rows * right.rows / divisor;
                    match j.join_type {
                        JoinType::Left => inner.max(left.rows),
                        JoinType::Right => inner.max(right.rows),
                        JoinType::Full => inner.max(left.rows + right.rows),
                        _ => inner,
                    }
                }
            };
            let mut columns = left.columns;
            columns.extend(right.columns);
            let mut est = Estimate { rows, columns };
            est.cap();
            Some(est)
        }
        LogicalPlan::Limit(l) => {
            let mut input = estimate(&l.input)?;
            if let Ok(datafusion::logical_expr::FetchType::Literal(Some(n))) = l.get_fetch_type() {
                input.rows = input.rows.min(n as f64);
                input.cap();
            }
            Some(input)
        }
        LogicalPlan::Sort(s) => estimate(&s.input),
        LogicalPlan::Repartition(r) => estimate(&r.input),
        LogicalPlan::Window(w) => estimate(&w.input),
        LogicalPlan::Distinct(d) => {
            let input = estimate(d.input())?;
            Some(Estimate {
                rows: input.rows * 0.5,
                columns: input.columns,
            })
        }
        LogicalPlan::Union(u) => {
            let rows = u
                .inputs
                .iter()
                .map(|i| Some(estimate(i)?.rows))
                .sum::<Option<f64>>()?;
            Some(Estimate {
                rows,
                columns: HashMap::new(),
            })
        }
        LogicalPlan::Values(v) => Some(Estimate {
            rows: v.values.len() as f64,
            columns: HashMap::new(),
        }),
        LogicalPlan::EmptyRelation(e) => Some(Estimate {
            rows: if e.produce_one_row { 1.0 } else { 0.0 },
            columns: HashMap::new(),
        }),
        _ => None,
    }
}

/// Fraction of `est`'s rows that satisfy `predicate`.
fn selectivity(predicate: &Expr, est: &Estimate) -> f64 {
    let equal = |column: &Expr| {
        est.distinct(column)
            .map_or(EQUALITY_SELECTIVITY, |d| 1.0 / d.max(1.0))
    };
    let s = match predicate {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => match op {
            Operator::And => selectivity(left, est) * selectivity(right, est),
            Operator::Or => {
                let (a, b) = (selectivity(left, est), selectivity(right, est));
                a + b - a * b
            }
            Operator::Eq => match (is_literal(left), is_literal(right)) {
                (false, true) => equal(left),
                (true, false) => equal(right),
                _ => EQUALITY_SELECTIVITY,
            },
            Operator::NotEq => 1.0 - EQUALITY_SELECTIVITY,
            Operator::Lt | Operator::LtEq | Operator::Gt | Operator::GtEq => {
                let (column, value, op) = match (literal(left), literal(right)) {
                    (None, Some(v)) => (left, v, *op),
                    (Some(v), None) => (right, v, op.swap().unwrap_or(*op)),
                    _ => return RANGE_SELECTIVITY,
                };
                let (low, high) = match op {
                    Operator::Lt | Operator::LtEq => (None, Some(value)),
                    _ => (Some(value), None),
                };
                range_fraction(est, column, low, high).unwrap_or(RANGE_SELECTIVITY)
            }
            _ => DEFAULT_SELECTIVITY,
        },
        Expr::Between(Between {
            expr,
            negated,
            low,
            high,
        }) => {
            let inside = range_fraction(est, expr, literal(low), literal(high))
                .unwrap_or(RANGE_SELECTIVITY * RANGE_SELECTIVITY * 2.0);
            if *negated {
                1.0 - inside
            } else {
                inside
            }
        }
        Expr::InList(InList {
            expr,
            list,
            negated,
        }) => {
            let inside = (equal(expr) * list.len() as f64).min(1.0);
            if *negated {
                1.0 - inside
            } else {
                inside
            }
        }
        Expr::Like(Like { negated, .. }) => {
            if *negated {
                1.0 - EQUALITY_SELECTIVITY
            } else {
                EQUALITY_SELECTIVITY
            }
        }
        Expr::Not(e) => 1.0 - selectivity(e, est),
        Expr::IsNull(_) => EQUALITY_SELECTIVITY,
        Expr::IsNotNull(_) => 1.0 - EQUALITY_SELECTIVITY,
        Expr::Literal(ScalarValue::Boolean(Some(true)), _) => 1.0,
        Expr::Literal(ScalarValue::Boolean(Some(false)), _) => 0.0,
        _ => DEFAULT_SELECTIVITY,
    };
    s.clamp(0.0, 1.0)
}

fn is_literal(expr: &Expr) -> bool {
    matches!(strip(expr), Expr::Literal(..))
}

/// An integer-like literal (integers, dates as days), through casts.
fn literal(expr: &Expr) -> Option<i64> {
    match strip(expr) {
        Expr::Literal(v, _) => match v {
            ScalarValue::Date32(Some(d)) => Some(i64::from(*d)),
            v if v.data_type().is_integer() => v
                .cast_to(&datafusion::arrow::datatypes::DataType::Int64)
                .ok()
                .and_then(|v| match v {
                    ScalarValue::Int64(x) => x,
                    _ => None,
                }),
            _ => None,
        },
        _ => None,
    }
}

/// Fraction of `column`'s range between `low` and `high` (either open), when its range
/// is known.
fn range_fraction(
    est: &Estimate,
    column: &Expr,
    low: Option<i64>,
    high: Option<i64>,
) -> Option<f64> {
    let (min, max) = est.column(column)?.range?;
    let width = (max - min).max(0) as f64 + 1.0;
    let lo = low.unwrap_or(min).max(min);
    let hi = high.unwrap_or(max).min(max);
    Some(((hi - lo) as f64 + 1.0).max(0.0) / width)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{KeysType, Table};
    use crate::planner::catalog::PlanEnv;
    use crate::planner::stats::{ColumnStat, TableStats};
    use datafusion::logical_expr::{col, lit};
    use datafusion::prelude::SessionContext;
    use doris_common::types::ColumnType;

    /// A DUPLICATE KEY table `name` of BIGINT columns (and a VARCHAR `name`) whose reported
    /// statistics are `rows` rows and, per integer column, the range `1..=max`.
    fn table(id: i64, name: &str, rows: u64, columns: &[(&str, i64)]) -> OlapTableProvider {
        let column = |n: &str, ty: ColumnType| {
            serde_json::json!({
                "name": n, "column_type": ty, "nullable": true, "is_key": false,
                "aggregation": null, "default": null, "comment": "",
            })
        };
        let mut defs: Vec<_> = columns
            .iter()
            .map(|(n, _)| column(n, ColumnType::BigInt))
            .collect();
        defs.push(column("name", ColumnType::Varchar { len: 8 }));
        let table: Table = serde_json::from_value(serde_json::json!({
            "id": id, "name": name, "columns": defs, "keys_type": KeysType::Duplicate,
            "key_columns": [columns[0].0],
            "distribution": {"Hash": {"columns": [columns[0].0], "buckets": 1, "auto": false}},
            "partitions": [{
                "id": id + 1, "name": name, "index_id": id + 2, "visible_version": 2,
                "visible_version_time_ms": 0, "next_version": 3,
                "tablets": [{"id": id + 3, "replicas": [{"id": id + 4, "backend_id": 1}]}],
            }],
            "properties": {}, "comment": "", "create_time_ms": 0, "schema_version": 0,
        }))
        .expect("table");
        let stats = TableStats {
            tablet_rows: [(id + 3, rows)].into(),
            rows: Some(rows),
            columns: columns
                .iter()
                .map(|(n, max)| {
                    let stat = ColumnStat {
                        null_count: 0,
                        min: Some(1),
                        max: Some(*max),
                        distinct: None,
                    };
                    (n.to_string(), stat)
                })
                .collect(),
        };
        OlapTableProvider::try_new(
            "db".into(),
            table,
            Arc::new(PlanEnv::default()),
            stats.into(),
        )
        .expect("provider")
    }

    /// The optimized logical plan of `sql` over a fact table and two dimensions.
    async fn optimized(sql: &str) -> String {
        let ctx = SessionContext::new();
        ctx.add_optimizer_rule(Arc::new(ReorderJoins));
        let fact = table(10, "fact", 1_000_000, &[("fk1", 1000), ("fk2", 100)]);
        ctx.register_table("fact", Arc::new(fact)).expect("fact");
        let big_dim = table(20, "d1", 1000, &[("k", 1000)]);
        ctx.register_table("d1", Arc::new(big_dim)).expect("d1");
        let small_dim = table(30, "d2", 100, &[("k", 100)]);
        ctx.register_table("d2", Arc::new(small_dim)).expect("d2");
        let plan = ctx.sql(sql).await.expect("plan").into_optimized_plan();
        plan.expect("optimize").display_indent().to_string()
    }

    #[tokio::test]
    async fn the_filtered_dimension_joins_the_fact_table_first() {
        let plan = optimized(
            "select count(*) from fact, d1, d2 \
             where fact.fk1 = d1.k and fact.fk2 = d2.k and d2.name = 'x'",
        )
        .await;
        // The outer join (printed first) is the one with d1: d2 joined below it, where the
        // written order would have joined fact and d1 first.
        let joins: Vec<&str> = plan.lines().filter(|l| l.contains("Inner Join")).collect();
        assert_eq!(joins.len(), 2, "{plan}");
        assert!(
            joins[0].contains("d1.k") && joins[1].contains("d2.k"),
            "{plan}"
        );
    }

    #[tokio::test]
    async fn an_aggregation_joined_on_its_group_key_reads_only_the_matching_keys() {
        let plan = optimized(
            "select count(*) from d1, (select fk1, sum(fk2) s from fact group by fk1) a, fact \
             where d1.k = a.fk1 and fact.fk1 = d1.k and d1.name = 'x' and d1.k < 100",
        )
        .await;
        // The aggregation's input is semi-joined with d1's keys.
        let aggregate = plan.find("Aggregate: groupBy=[[fact.fk1]]").expect(&plan);
        let semi = plan
            .find(&format!("LeftSemi Join: fact.fk1 = {KEY_SET_ALIAS}"))
            .expect(&plan);
        assert!(aggregate < semi, "{plan}");
    }

    /// A column of a test estimate: name, distinct values, range.
    type TestColumn<'a> = (&'a str, Option<f64>, Option<(i64, i64)>);

    fn est(rows: f64, columns: &[TestColumn]) -> Estimate {
        Estimate {
            rows,
            columns: columns
                .iter()
                .map(|(n, d, r)| {
                    let info = ColumnInfo {
                        distinct: *d,
                        range: *r,
                    };
                    (Column::from_qualified_name(*n), info)
                })
                .collect(),
        }
    }

    #[test]
    fn selectivities_use_ranges_and_distinct_counts() {
        let e = est(
            1000.0,
            &[
                ("t.k", Some(100.0), Some((1, 100))),
                ("t.s", Some(4.0), None),
                ("t.u", None, None),
            ],
        );
        let s = |p: Expr| selectivity(&p, &e);
        assert!((s(col("t.k").lt_eq(lit(25i64))) - 0.25).abs() < 1e-9);
        assert!((s(col("t.k").between(lit(11i64), lit(20i64))) - 0.1).abs() < 1e-9);
        assert!((s(col("t.s").eq(lit("a"))) - 0.25).abs() < 1e-9);
        assert!((s(col("t.k").eq(lit(1i64)).or(col("t.k").eq(lit(2i64)))) - 0.0199).abs() < 1e-9);
        assert!((s(col("t.z").eq(lit(1i64))) - EQUALITY_SELECTIVITY).abs() < 1e-9);
        assert!((s(col("t.u").eq(lit("x"))) - EQUALITY_SELECTIVITY).abs() < 1e-9);
        assert_eq!(s(col("t.k").gt(lit(1000i64))), 0.0);
    }
}
