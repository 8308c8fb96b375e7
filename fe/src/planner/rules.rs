//! Analyzer rules for MySQL semantics that need types (so cannot be an AST rewrite).
//! [`DatetimeLiterals`]: a string compared with a DATETIME is parsed here with MySQL's
//! formats before type coercion, so values outside 1677..2262 (e.g. the common
//! `9999-12-31` sentinel) work: Arrow's string-to-timestamp cast goes through nanoseconds
//! and overflows.

use chrono::{NaiveDate, NaiveDateTime};
use datafusion::arrow::datatypes::{DataType, TimeUnit};
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::common::DFSchema;
use datafusion::common::ScalarValue;
use datafusion::error::Result;
use datafusion::logical_expr::expr::InList;
use datafusion::logical_expr::{Between, BinaryExpr, Expr, ExprSchemable, LogicalPlan, Operator};
use datafusion::optimizer::AnalyzerRule;

#[derive(Debug, Default)]
pub struct DatetimeLiterals;

/// `YYYY-MM-DD[ HH:MM:SS[.ffffff]]` (also with `T`) as microseconds since the epoch.
fn parse_micros(s: &str) -> Option<i64> {
    let s = s.trim();
    let dt = [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%dT%H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
    ]
    .iter()
    .find_map(|f| NaiveDateTime::parse_from_str(s, f).ok())
    .or_else(|| {
        NaiveDate::parse_from_str(s, "%Y-%m-%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0))
    })?;
    Some(dt.and_utc().timestamp_micros())
}

fn timestamp_literal(s: &str, unit: &TimeUnit) -> Option<ScalarValue> {
    let us = parse_micros(s)?;
    Some(match unit {
        TimeUnit::Second => ScalarValue::TimestampSecond(Some(us.div_euclid(1_000_000)), None),
        TimeUnit::Millisecond => {
            ScalarValue::TimestampMillisecond(Some(us.div_euclid(1_000)), None)
        }
        TimeUnit::Microsecond => ScalarValue::TimestampMicrosecond(Some(us), None),
        TimeUnit::Nanosecond => {
            ScalarValue::TimestampNanosecond(Some(us.checked_mul(1_000)?), None)
        }
    })
}

/// The timestamp unit of `e` if it is a DATETIME-typed expression.
fn timestamp_unit(e: &Expr, schema: &DFSchema) -> Option<TimeUnit> {
    match e.get_type(schema).ok()? {
        DataType::Timestamp(unit, None) => Some(unit),
        _ => None,
    }
}

fn as_text(e: &Expr) -> Option<&str> {
    match e {
        Expr::Literal(
            ScalarValue::Utf8(Some(s))
            | ScalarValue::LargeUtf8(Some(s))
            | ScalarValue::Utf8View(Some(s)),
            _,
        ) => Some(s),
        _ => None,
    }
}

/// Replaces a string literal compared with a DATETIME by a timestamp literal.
fn convert(literal: &mut Expr, unit: &TimeUnit) -> bool {
    match as_text(literal).and_then(|s| timestamp_literal(s, unit)) {
        Some(v) => {
            *literal = Expr::Literal(v, None);
            true
        }
        None => false,
    }
}

fn rewrite(mut e: Expr, schema: &DFSchema) -> Result<Transformed<Expr>> {
    let changed = match &mut e {
        Expr::BinaryExpr(BinaryExpr {
            left,
            op:
                Operator::Eq
                | Operator::NotEq
                | Operator::Lt
                | Operator::LtEq
                | Operator::Gt
                | Operator::GtEq
                | Operator::IsDistinctFrom
                | Operator::IsNotDistinctFrom,
            right,
        }) => {
            if let Some(unit) = timestamp_unit(left, schema) {
                convert(right, &unit)
            } else if let Some(unit) = timestamp_unit(right, schema) {
                convert(left, &unit)
            } else {
                false
            }
        }
        Expr::Between(Between {
            expr, low, high, ..
        }) => match timestamp_unit(expr, schema) {
            Some(unit) => convert(low, &unit) | convert(high, &unit),
            None => false,
        },
        Expr::InList(InList { expr, list, .. }) => match timestamp_unit(expr, schema) {
            Some(unit) => list
                .iter_mut()
                .fold(false, |acc, l| convert(l, &unit) | acc),
            None => false,
        },
        _ => false,
    };
    Ok(if changed {
        Transformed::yes(e)
    } else {
        Transformed::no(e)
    })
}

/// The schema expressions of `plan` are evaluated against: its inputs' columns.
fn input_schema(plan: &LogicalPlan) -> Option<DFSchema> {
    let mut inputs = plan.inputs().into_iter();
    let mut schema = inputs.next()?.schema().as_ref().clone();
    for other in inputs {
        schema.merge(other.schema());
    }
    Some(schema)
}

impl AnalyzerRule for DatetimeLiterals {
    fn analyze(&self, plan: LogicalPlan, _config: &ConfigOptions) -> Result<LogicalPlan> {
        Ok(plan
            .transform_up_with_subqueries(|p| {
                let Some(schema) = input_schema(&p) else {
                    return Ok(Transformed::no(p));
                };
                p.map_expressions(|e| e.transform_up(|e| rewrite(e, &schema)))
            })?
            .data)
    }

    fn name(&self) -> &str {
        "mysql_datetime_literals"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_beyond_nanosecond_range() {
        assert_eq!(parse_micros("1970-01-01 00:00:01"), Some(1_000_000));
        assert!(parse_micros("9999-12-31 23:59:59.999999").is_some());
        assert!(parse_micros("0001-01-01").is_some());
        assert_eq!(parse_micros("not a date"), None);
        assert_eq!(
            timestamp_literal("9999-01-01", &TimeUnit::Nanosecond),
            None,
            "does not fit in nanoseconds: left to the cast's own error"
        );
    }
}
