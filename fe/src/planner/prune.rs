//! Partition and bucket pruning for scans. [`select_partitions`] keeps the partitions of a
//! RANGE/LIST table a filter can match, from simple predicates on partition columns only:
//! `col = | < | <= | > | >= literal`, `col IN (literals)` and `col BETWEEN a AND b`.
//! [`select_buckets`] keeps the buckets of a hash-distributed table when `=` / `IN`
//! conjuncts pin every distribution column (the bucket of each value combination, by the
//! loads' own bucket hash). Anything else leaves the partitions or buckets in; the filter
//! itself is still applied to the rows, so pruning only saves reads and never changes a
//! result.

use datafusion::common::ScalarValue;
use datafusion::logical_expr::utils::{split_binary, split_conjunction};
use datafusion::logical_expr::{Between, BinaryExpr, Expr, Operator};
use doris_common::partition::PartitionValue;
use doris_common::types::ColumnType;

use super::catalog::arrow_name;
use std::sync::Arc;

use datafusion::arrow::array::ArrayRef;

use crate::catalog::{Distribution, PartitionItem, Table};

/// What the filters say about one column's values.
#[derive(Debug, Default, Clone)]
struct Constraint {
    /// Lower bound and whether it is included.
    lower: Option<(PartitionValue, bool)>,
    upper: Option<(PartitionValue, bool)>,
    /// The only values allowed (from `=` and `IN`).
    values: Option<Vec<PartitionValue>>,
}

impl Constraint {
    fn is_empty(&self) -> bool {
        self.lower.is_none() && self.upper.is_none() && self.values.is_none()
    }

    fn raise_lower(&mut self, v: PartitionValue, inclusive: bool) {
        let tighter = match &self.lower {
            None => true,
            Some((cur, cur_incl)) => v > *cur || (v == *cur && !inclusive && *cur_incl),
        };
        if tighter {
            self.lower = Some((v, inclusive));
        }
    }

    fn lower_upper(&mut self, v: PartitionValue, inclusive: bool) {
        let tighter = match &self.upper {
            None => true,
            Some((cur, cur_incl)) => v < *cur || (v == *cur && !inclusive && *cur_incl),
        };
        if tighter {
            self.upper = Some((v, inclusive));
        }
    }

    fn restrict_to(&mut self, vals: Vec<PartitionValue>) {
        self.values = Some(match self.values.take() {
            None => vals,
            Some(cur) => cur.into_iter().filter(|v| vals.contains(v)).collect(),
        });
    }

    /// Adds `other`'s conditions (both must hold).
    fn merge(&mut self, other: &Constraint) {
        if let Some((v, incl)) = &other.lower {
            self.raise_lower(v.clone(), *incl);
        }
        if let Some((v, incl)) = &other.upper {
            self.lower_upper(v.clone(), *incl);
        }
        if let Some(vals) = &other.values {
            self.restrict_to(vals.clone());
        }
    }

    /// Whether `v` satisfies every condition.
    fn admits(&self, v: &PartitionValue) -> bool {
        if *v == PartitionValue::Null {
            // No comparison or IN with literals is true for NULL.
            return false;
        }
        let above = self
            .lower
            .as_ref()
            .is_none_or(|(l, incl)| v > l || (*incl && v == l));
        let below = self
            .upper
            .as_ref()
            .is_none_or(|(u, incl)| v < u || (*incl && v == u));
        above && below && self.values.as_ref().is_none_or(|vals| vals.contains(v))
    }

    /// Whether some value in `[lo, hi)` (`[lo, hi]` when `hi_inclusive`) satisfies every
    /// condition, treating the values as continuous (so it may say yes needlessly, never
    /// no wrongly).
    fn meets_range(&self, lo: &PartitionValue, hi: &PartitionValue, hi_inclusive: bool) -> bool {
        if let Some(vals) = &self.values {
            return vals
                .iter()
                .any(|v| self.admits(v) && v >= lo && (v < hi || (hi_inclusive && v == hi)));
        }
        let (mut l, mut l_incl) = (lo, true);
        if let Some((v, incl)) = &self.lower {
            if v > l || (v == l && !incl) {
                (l, l_incl) = (v, *incl);
            }
        }
        let (mut u, mut u_incl) = (hi, hi_inclusive);
        if let Some((v, incl)) = &self.upper {
            if v < u || (v == u && !incl) {
                (u, u_incl) = (v, *incl);
            }
        }
        l < u || (l == u && l_incl && u_incl)
    }
}

/// A literal as a value of the partition column's type; `None` when it does not convert
/// exactly (then the predicate is not used for pruning).
fn literal_value(s: &ScalarValue, ct: &ColumnType) -> Option<PartitionValue> {
    use ScalarValue as S;
    if s.is_null() {
        return None;
    }
    match ct {
        ColumnType::TinyInt
        | ColumnType::SmallInt
        | ColumnType::Int
        | ColumnType::BigInt
        | ColumnType::LargeInt => {
            let v: i128 = match s {
                S::Int8(Some(v)) => (*v).into(),
                S::Int16(Some(v)) => (*v).into(),
                S::Int32(Some(v)) => (*v).into(),
                S::Int64(Some(v)) => (*v).into(),
                S::UInt8(Some(v)) => (*v).into(),
                S::UInt16(Some(v)) => (*v).into(),
                S::UInt32(Some(v)) => (*v).into(),
                S::UInt64(Some(v)) => (*v).into(),
                S::Decimal128(Some(v), _, 0) => *v,
                S::Decimal256(Some(v), _, 0) => v.to_i128()?,
                _ => return None,
            };
            Some(PartitionValue::Int(v))
        }
        ColumnType::Date => match s {
            S::Date32(Some(d)) => Some(PartitionValue::Date(*d)),
            _ => None,
        },
        ColumnType::DateTime { .. } => match s {
            S::TimestampMicrosecond(Some(v), None) => Some(PartitionValue::DateTime(*v)),
            S::TimestampMillisecond(Some(v), None) => {
                v.checked_mul(1_000).map(PartitionValue::DateTime)
            }
            S::TimestampSecond(Some(v), None) => {
                v.checked_mul(1_000_000).map(PartitionValue::DateTime)
            }
            _ => None,
        },
        ColumnType::Char { .. } | ColumnType::Varchar { .. } | ColumnType::String => match s {
            S::Utf8(Some(v)) | S::LargeUtf8(Some(v)) | S::Utf8View(Some(v)) => {
                Some(PartitionValue::Str(v.clone()))
            }
            _ => None,
        },
        ColumnType::Boolean => match s {
            S::Boolean(Some(b)) => Some(PartitionValue::Bool(*b)),
            _ => None,
        },
        _ => None,
    }
}

fn column_name(e: &Expr) -> Option<&str> {
    match e {
        Expr::Column(c) => Some(c.name.as_str()),
        _ => None,
    }
}

fn literal(e: &Expr) -> Option<&ScalarValue> {
    match e {
        Expr::Literal(v, _) => Some(v),
        _ => None,
    }
}

/// Adds what `e` says about column `name` (of type `ct`) to `c`.
fn collect(e: &Expr, name: &str, ct: &ColumnType, c: &mut Constraint) {
    match e {
        Expr::BinaryExpr(BinaryExpr { left, op, right }) => {
            let (op, lit) = match (
                column_name(left),
                literal(right),
                column_name(right),
                literal(left),
            ) {
                (Some(n), Some(l), _, _) if n == name => (*op, l),
                (_, _, Some(n), Some(l)) if n == name => match op.swap() {
                    Some(op) => (op, l),
                    None => return,
                },
                _ => return,
            };
            let Some(v) = literal_value(lit, ct) else {
                return;
            };
            match op {
                Operator::Eq => c.restrict_to(vec![v]),
                Operator::Lt => c.lower_upper(v, false),
                Operator::LtEq => c.lower_upper(v, true),
                Operator::Gt => c.raise_lower(v, false),
                Operator::GtEq => c.raise_lower(v, true),
                _ => {}
            }
        }
        Expr::InList(list) if !list.negated && column_name(&list.expr) == Some(name) => {
            let vals: Option<Vec<PartitionValue>> = list
                .list
                .iter()
                .map(|e| literal(e).and_then(|l| literal_value(l, ct)))
                .collect();
            if let Some(vals) = vals {
                c.restrict_to(vals);
            }
        }
        Expr::Between(Between {
            expr,
            negated: false,
            low,
            high,
        }) if column_name(expr) == Some(name) => {
            if let Some(v) = literal(low).and_then(|l| literal_value(l, ct)) {
                c.raise_lower(v, true);
            }
            if let Some(v) = literal(high).and_then(|l| literal_value(l, ct)) {
                c.lower_upper(v, true);
            }
        }
        _ => {}
    }
}

/// What the filters say about one column: every clause must hold, and a clause holds when
/// one of its alternatives does (a plain conjunct is a clause of one alternative, `a OR b`
/// one of two). The plain conjuncts are merged into the first clause.
#[derive(Debug, Default)]
struct Clauses(Vec<Vec<Constraint>>);

impl Clauses {
    fn for_column(conjuncts: &[&Expr], name: &str, ct: &ColumnType) -> Self {
        let mut plain = Constraint::default();
        let mut clauses = Vec::new();
        for e in conjuncts {
            if matches!(
                e,
                Expr::BinaryExpr(BinaryExpr {
                    op: Operator::Or,
                    ..
                })
            ) {
                let alternatives: Vec<Constraint> = split_binary(e, Operator::Or)
                    .into_iter()
                    .map(|d| {
                        let mut c = Constraint::default();
                        for part in split_conjunction(d) {
                            collect(part, name, ct, &mut c);
                        }
                        c
                    })
                    .collect();
                // An alternative that says nothing about the column admits everything.
                if alternatives.iter().all(|c| !c.is_empty()) {
                    clauses.push(alternatives);
                }
            } else {
                collect(e, name, ct, &mut plain);
            }
        }
        if !plain.is_empty() {
            // `plain AND (a OR b)` is `(plain AND a) OR (plain AND b)`: tighter alternatives.
            for alts in &mut clauses {
                for c in alts.iter_mut() {
                    c.merge(&plain);
                }
            }
            clauses.insert(0, vec![plain]);
        }
        Clauses(clauses)
    }

    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn admits(&self, v: &PartitionValue) -> bool {
        self.0.iter().all(|alts| alts.iter().any(|c| c.admits(v)))
    }

    fn meets_range(&self, lo: &PartitionValue, hi: &PartitionValue, hi_inclusive: bool) -> bool {
        self.0
            .iter()
            .all(|alts| alts.iter().any(|c| c.meets_range(lo, hi, hi_inclusive)))
    }
}

/// Indices (into `table.partitions`) of the partitions `filters` (ANDed, over unqualified
/// lower-cased column names) may match.
/// Most value combinations of the distribution columns bucket pruning hashes.
const MAX_BUCKET_PROBES: usize = 1024;

/// The buckets (indices into a partition's tablets) the filters can match, or `None`
/// for all of them.
pub fn select_buckets(table: &Table, filters: &[Expr]) -> Option<Vec<u32>> {
    let Distribution::Hash {
        columns, buckets, ..
    } = &table.distribution
    else {
        return None;
    };
    let conjuncts: Vec<&Expr> = filters.iter().flat_map(split_conjunction).collect();
    // Per distribution column: the one-row arrays of the values it may hold.
    let mut choices: Vec<Vec<ArrayRef>> = Vec::with_capacity(columns.len());
    for name in columns {
        let ct = &table.column(name)?.column_type;
        let mut c = Constraint::default();
        for e in &conjuncts {
            collect(e, &arrow_name(name), ct, &mut c);
        }
        let values = c.values?;
        choices.push(
            values
                .iter()
                .filter_map(|v| doris_common::bucket::stored_value(v, ct))
                .collect(),
        );
    }
    let combinations = choices
        .iter()
        .try_fold(1usize, |n, c| n.checked_mul(c.len()))?;
    if combinations > MAX_BUCKET_PROBES {
        return None;
    }
    let mut selected: Vec<u32> = Vec::new();
    for i in 0..combinations {
        let mut rest = i;
        let row: Vec<ArrayRef> = choices
            .iter()
            .map(|c| {
                let v = Arc::clone(&c[rest % c.len()]);
                rest /= c.len();
                v
            })
            .collect();
        selected.push(doris_common::bucket::bucket_of(&row, *buckets).ok()?);
    }
    selected.sort_unstable();
    selected.dedup();
    Some(selected)
}

pub fn select_partitions(table: &Table, filters: &[Expr]) -> Vec<usize> {
    let all: Vec<usize> = (0..table.partitions.len()).collect();
    let Some(partitioning) = &table.partitioning else {
        return all;
    };
    let types = table.partition_column_types();
    if types.len() != partitioning.columns.len() {
        return all;
    }
    let conjuncts: Vec<&Expr> = filters.iter().flat_map(split_conjunction).collect();
    let constraints: Vec<Clauses> = partitioning
        .columns
        .iter()
        .zip(&types)
        .map(|(col, ct)| Clauses::for_column(&conjuncts, &arrow_name(col), ct))
        .collect();
    if constraints.iter().all(Clauses::is_empty) {
        return all;
    }
    let single_column = types.len() == 1;
    all.into_iter()
        .filter(|&i| match &table.partitions[i].item {
            // Only the first column bounds a multi-column range: its values lie in
            // [lower[0], upper[0]] (upper included, the later columns decide).
            Some(PartitionItem::Range { lower, upper }) => match (lower.first(), upper.first()) {
                (Some(lo), Some(hi)) => constraints[0].meets_range(lo, hi, !single_column),
                _ => true,
            },
            Some(PartitionItem::List { values }) => values.iter().any(|key| {
                key.iter()
                    .zip(&constraints)
                    .all(|(v, c)| c.is_empty() || c.admits(v))
            }),
            None => true,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use datafusion::logical_expr::{col, lit};
    use doris_common::partition::{min_value, PartitionKind};

    use super::*;
    use crate::catalog::{Distribution, KeysType, Partition, Partitioning};

    fn table(kind: PartitionKind, ct: ColumnType, items: Vec<PartitionItem>) -> Table {
        Table {
            id: 1,
            name: "t".into(),
            columns: vec![crate::catalog::Column {
                name: "K".into(),
                column_type: ct,
                nullable: true,
                is_key: true,
                aggregation: None,
                default: None,
                comment: String::new(),
                fill_value: None,
            }],
            keys_type: KeysType::Duplicate,
            key_columns: vec!["K".into()],
            distribution: Distribution::Random {
                buckets: 1,
                auto: false,
            },
            partitioning: Some(Partitioning {
                kind,
                columns: vec!["K".into()],
            }),
            partitions: items
                .into_iter()
                .enumerate()
                .map(|(i, item)| Partition {
                    id: i as i64,
                    name: format!("p{i}"),
                    index_id: 0,
                    visible_version: 1,
                    visible_version_time_ms: 0,
                    next_version: 2,
                    tablets: vec![],
                    item: Some(item),
                    index_tablets: Default::default(),
                })
                .collect(),
            properties: Default::default(),
            comment: String::new(),
            create_time_ms: 0,
            schema_version: 0,
            indexes: Vec::new(),
            alter_jobs: Vec::new(),
            dropped_columns: Vec::new(),
        }
    }

    fn int(i: i128) -> PartitionValue {
        PartitionValue::Int(i)
    }

    fn ranges() -> Table {
        // p0 [MIN, 10), p1 [10, 20), p2 [20, MAX)
        let r = |lo: PartitionValue, hi: PartitionValue| PartitionItem::Range {
            lower: vec![lo],
            upper: vec![hi],
        };
        table(
            PartitionKind::Range,
            ColumnType::Int,
            vec![
                r(min_value(&ColumnType::Int), int(10)),
                r(int(10), int(20)),
                r(int(20), PartitionValue::MaxValue),
            ],
        )
    }

    #[test]
    fn range_pruning_keeps_exactly_the_overlapping_partitions() {
        let t = ranges();
        let k = || col("k");
        assert_eq!(select_partitions(&t, &[k().eq(lit(10i32))]), vec![1]);
        assert_eq!(select_partitions(&t, &[k().eq(lit(9i64))]), vec![0]);
        assert_eq!(select_partitions(&t, &[k().lt(lit(10i32))]), vec![0]);
        assert_eq!(select_partitions(&t, &[k().lt_eq(lit(10i32))]), vec![0, 1]);
        assert_eq!(select_partitions(&t, &[k().gt_eq(lit(20i32))]), vec![2]);
        assert_eq!(select_partitions(&t, &[k().gt(lit(19i32))]), vec![1, 2]);
        assert_eq!(
            select_partitions(&t, &[k().gt_eq(lit(10i32)).and(k().lt(lit(20i32)))]),
            vec![1]
        );
        assert_eq!(select_partitions(&t, &[lit(15i32).gt(k())]), vec![0, 1]);
        assert_eq!(
            select_partitions(&t, &[k().in_list(vec![lit(1i32), lit(25i32)], false)]),
            vec![0, 2]
        );
        assert_eq!(
            select_partitions(&t, &[k().between(lit(12i32), lit(13i32))]),
            vec![1]
        );
        // Contradictions select nothing; what cannot be read leaves everything.
        assert_eq!(
            select_partitions(&t, &[k().gt(lit(30i32)), k().lt(lit(5i32))]),
            Vec::<usize>::new()
        );
        assert_eq!(
            select_partitions(&t, &[k().not_eq(lit(1i32))]),
            vec![0, 1, 2]
        );
        assert_eq!(select_partitions(&t, &[k().eq(lit(1.5f64))]), vec![0, 1, 2]);
        // OR of conditions on the column: the union of what each allows.
        assert_eq!(
            select_partitions(&t, &[k().eq(lit(1i32)).or(k().eq(lit(15i32)))]),
            vec![0, 1]
        );
        assert_eq!(
            select_partitions(
                &t,
                &[k()
                    .lt(lit(0i32))
                    .or(k().gt(lit(25i32)).and(col("v").eq(lit("x"))))]
            ),
            vec![0, 2]
        );
        // An alternative saying nothing about the column keeps everything.
        assert_eq!(
            select_partitions(&t, &[k().eq(lit(1i32)).or(col("v").eq(lit("x")))]),
            vec![0, 1, 2]
        );
        assert_eq!(
            select_partitions(
                &t,
                &[k().eq(lit(1i32)).or(k().eq(lit(15i32))), k().gt(lit(5i32))]
            ),
            vec![1]
        );
        assert_eq!(
            select_partitions(&t, &[col("other").eq(lit(1i32))]),
            vec![0, 1, 2]
        );
    }

    #[test]
    fn list_pruning() {
        let s = |v: &str| PartitionValue::Str(v.into());
        let t = table(
            PartitionKind::List,
            ColumnType::Varchar { len: 4 },
            vec![
                PartitionItem::List {
                    values: vec![vec![s("a")], vec![s("b")]],
                },
                PartitionItem::List {
                    values: vec![vec![s("c")], vec![PartitionValue::Null]],
                },
            ],
        );
        assert_eq!(select_partitions(&t, &[col("k").eq(lit("b"))]), vec![0]);
        assert_eq!(select_partitions(&t, &[col("k").gt(lit("b"))]), vec![1]);
        assert_eq!(
            select_partitions(&t, &[col("k").eq(lit("z"))]),
            Vec::<usize>::new()
        );
        assert_eq!(select_partitions(&t, &[col("k").is_null()]), vec![0, 1]);
        assert_eq!(
            select_partitions(&t, &[col("k").eq(lit("c")).or(col("k").eq(lit("a")))]),
            vec![0, 1]
        );
    }
}
