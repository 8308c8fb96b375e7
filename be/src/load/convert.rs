//! From parsed text fields to the table's rows: the `columns` mapping (source columns by
//! position, derived columns `v = expr`, defaults for the rest), conversion to each
//! column's type, Doris's data-quality rules (strict mode, NOT NULL, length, range) and the
//! `where` filter. Expressions are planned once with DataFusion (MySQL functions
//! included) and evaluated on every batch. Entry: [`LoadPlan`].

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, RecordBatch, StringArray};
use datafusion::arrow::compute::{cast_with_options, filter_record_batch, CastOptions};
use datafusion::arrow::datatypes::{i256, DataType, Decimal256Type, Field, Schema, SchemaRef};
use datafusion::common::DFSchema;
use datafusion::datasource::MemTable;
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_plan::PhysicalExpr;
use datafusion::prelude::{SessionConfig, SessionContext};
use datafusion::sql::sqlparser::ast::{
    BinaryOperator, CastKind, DataType as SqlType, Expr as SqlExpr, Statement,
};
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use doris_common::fragment::SinkColumn;
use doris_common::types::ColumnType;

use super::format::{RawBatch, RowError};
use super::request::ColumnItem;

const SOURCE_TABLE: &str = "__load_source";
const TARGET_TABLE: &str = "__load_target";

/// Rows of one batch after conversion.
pub struct Converted {
    /// Rows to write, with the table's columns and types.
    pub batch: RecordBatch,
    /// Rows rejected by the data-quality rules.
    pub filtered: Vec<RowError>,
    /// Rows the `where` filter dropped.
    pub unselected: usize,
}

/// How one table column gets its value.
struct TargetColumn {
    column: SinkColumn,
    expr: Arc<dyn PhysicalExpr>,
    /// Index of the source column it is taken from unchanged (strict mode applies).
    direct_source: Option<usize>,
}

/// The compiled column mapping of one load.
pub struct LoadPlan {
    source_names: Vec<String>,
    source_schema: SchemaRef,
    targets: Vec<TargetColumn>,
    target_schema: SchemaRef,
    where_expr: Option<Arc<dyn PhysicalExpr>>,
    strict_mode: bool,
}

/// Wraps bare column references that are operands of arithmetic in `CAST(.. AS DOUBLE)`:
/// source fields are text, and Doris/MySQL evaluate text in arithmetic as a number.
fn cast_text_operands(e: &mut SqlExpr) {
    use datafusion::sql::sqlparser::ast::{ExactNumberInfo, Value};
    let wrap = |e: &mut SqlExpr| {
        if matches!(e, SqlExpr::Identifier(_) | SqlExpr::CompoundIdentifier(_)) {
            let inner = std::mem::replace(e, SqlExpr::value(Value::Null));
            *e = SqlExpr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(inner),
                data_type: SqlType::Double(ExactNumberInfo::None),
                array: false,
                format: None,
            };
        }
    };
    match e {
        SqlExpr::BinaryOp {
            left,
            op:
                BinaryOperator::Plus
                | BinaryOperator::Minus
                | BinaryOperator::Multiply
                | BinaryOperator::Divide
                | BinaryOperator::Modulo,
            right,
        } => {
            wrap(left);
            wrap(right);
        }
        SqlExpr::UnaryOp { expr, .. } => wrap(expr),
        _ => {}
    }
}

fn context(time_zone: Option<&str>) -> SessionContext {
    let mut config = SessionConfig::new();
    doris_common::functions::apply_mysql_options(config.options_mut());
    if let Some(tz) = time_zone.and_then(doris_common::functions::valid_time_zone) {
        config.options_mut().execution.time_zone = Some(tz);
    }
    let ctx = SessionContext::new_with_config(config);
    doris_common::functions::register_mysql_functions(&ctx);
    ctx
}

/// Plans `SELECT <exprs> FROM <table>` and returns the projection's expressions as
/// physical expressions over `schema`.
async fn plan_exprs(
    ctx: &SessionContext,
    table: &str,
    schema: &SchemaRef,
    exprs: &[String],
    where_expr: Option<&str>,
) -> Result<(Vec<Arc<dyn PhysicalExpr>>, Option<Arc<dyn PhysicalExpr>>), String> {
    let sql = format!(
        "SELECT {} FROM {table}{}",
        if exprs.is_empty() {
            "1".to_string()
        } else {
            let aliased: Vec<String> = exprs
                .iter()
                .enumerate()
                .map(|(i, e)| format!("{e} AS __c{i}"))
                .collect();
            aliased.join(", ")
        },
        where_expr
            .map(|w| format!(" WHERE {w}"))
            .unwrap_or_default()
    );
    let mut statements = Parser::parse_sql(&MySqlDialect {}, &sql)
        .map_err(|e| format!("[ANALYSIS_ERROR]{e} in `{sql}`"))?;
    let Some(mut stmt) = statements.pop() else {
        return Err("[ANALYSIS_ERROR]empty expression".into());
    };
    if table == SOURCE_TABLE {
        let _ = datafusion::sql::sqlparser::ast::visit_expressions_mut(&mut stmt, |e| {
            cast_text_operands(e);
            std::ops::ControlFlow::<()>::Continue(())
        });
    }
    doris_common::functions::rewrite_mysql_semantics(&mut stmt);
    let plan = ctx
        .state()
        .statement_to_plan(datafusion::sql::parser::Statement::Statement(Box::new(
            stmt as Statement,
        )))
        .await
        .map_err(|e| format!("[ANALYSIS_ERROR]{e}"))?;
    let df_schema =
        DFSchema::try_from(schema.as_ref().clone()).map_err(|e| format!("[ANALYSIS_ERROR]{e}"))?;
    let physical = |e: datafusion::logical_expr::Expr| {
        let e = e.unalias_nested().data;
        let e = unqualify(e);
        ctx.create_physical_expr(e, &df_schema)
            .map_err(|err| format!("[ANALYSIS_ERROR]{err}"))
    };
    let mut projection = None;
    let mut predicate = None;
    let mut node = &plan;
    loop {
        match node {
            LogicalPlan::Projection(p) => projection = Some(p.expr.clone()),
            LogicalPlan::Filter(f) => predicate = Some(f.predicate.clone()),
            _ => {}
        }
        match node.inputs().first() {
            Some(child) => node = child,
            None => break,
        }
    }
    let exprs_out = if exprs.is_empty() {
        Vec::new()
    } else {
        projection
            .unwrap_or_default()
            .into_iter()
            .map(physical)
            .collect::<Result<Vec<_>, _>>()?
    };
    let predicate = predicate.map(physical).transpose()?;
    Ok((exprs_out, predicate))
}

fn unqualify(e: datafusion::logical_expr::Expr) -> datafusion::logical_expr::Expr {
    use datafusion::common::tree_node::{Transformed, TreeNode};
    use datafusion::logical_expr::Expr;
    e.transform(|e| {
        Ok(match e {
            Expr::Column(c) => Transformed::yes(Expr::Column(
                datafusion::common::Column::new_unqualified(c.name),
            )),
            other => Transformed::no(other),
        })
    })
    .map(|t| t.data)
    .unwrap_or_else(|e| {
        datafusion::logical_expr::Expr::Literal(
            datafusion::common::ScalarValue::Utf8(Some(e.to_string())),
            None,
        )
    })
}

fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl LoadPlan {
    /// Compiles the mapping. `defaults[i]` is column i's default as SQL ("" = none).
    pub async fn try_new(
        columns: &[SinkColumn],
        defaults: &[String],
        items: &[ColumnItem],
        where_expr: Option<&str>,
        strict_mode: bool,
        time_zone: Option<&str>,
    ) -> Result<Self, String> {
        let items: Vec<ColumnItem> = if items.is_empty() {
            columns
                .iter()
                .filter(|c| !c.hidden)
                .map(|c| ColumnItem::Source(c.name.clone()))
                .collect()
        } else {
            items.to_vec()
        };
        let source_names: Vec<String> = items
            .iter()
            .filter_map(|i| match i {
                ColumnItem::Source(n) => Some(n.to_lowercase()),
                ColumnItem::Derived { .. } => None,
            })
            .collect();
        for item in &items {
            let name = match item {
                ColumnItem::Source(_) => continue,
                ColumnItem::Derived { name, .. } => name,
            };
            if !columns.iter().any(|c| c.name.eq_ignore_ascii_case(name)) {
                return Err(format!(
                    "[ANALYSIS_ERROR]derived column '{name}' is not a column of the table"
                ));
            }
        }
        let source_schema = Arc::new(Schema::new(
            source_names
                .iter()
                .map(|n| Field::new(n, DataType::Utf8, true))
                .collect::<Vec<_>>(),
        ));
        let ctx = context(time_zone);
        ctx.register_table(
            SOURCE_TABLE,
            Arc::new(
                MemTable::try_new(Arc::clone(&source_schema), vec![vec![]])
                    .map_err(|e| e.to_string())?,
            ),
        )
        .map_err(|e| e.to_string())?;
        let mut sql_exprs = Vec::with_capacity(columns.len());
        let mut direct = Vec::with_capacity(columns.len());
        for (i, col) in columns.iter().enumerate() {
            let derived = items.iter().find_map(|it| match it {
                ColumnItem::Derived { name, expr } if name.eq_ignore_ascii_case(&col.name) => {
                    Some(expr.clone())
                }
                _ => None,
            });
            let source = source_names
                .iter()
                .position(|n| n.eq_ignore_ascii_case(&col.name));
            let (sql, direct_source) = match (derived, source) {
                (Some(expr), _) => (format!("({expr})"), None),
                (None, Some(idx)) => (quote_ident(&source_names[idx]), Some(idx)),
                (None, None) => match defaults.get(i).map(String::as_str) {
                    Some(d) if !d.is_empty() => (d.to_string(), None),
                    _ if col.nullable => ("NULL".to_string(), None),
                    _ => {
                        return Err(format!(
                            "[ANALYSIS_ERROR]Column has no default value. column: {}",
                            col.name
                        ))
                    }
                },
            };
            sql_exprs.push(sql);
            direct.push(direct_source);
        }
        let (exprs, _) = plan_exprs(&ctx, SOURCE_TABLE, &source_schema, &sql_exprs, None).await?;
        let target_schema = Arc::new(Schema::new(
            columns
                .iter()
                .map(|c| Field::new(&c.name, c.column_type.to_arrow(), true))
                .collect::<Vec<_>>(),
        ));
        let where_expr = match where_expr {
            None => None,
            Some(w) => {
                ctx.register_table(
                    TARGET_TABLE,
                    Arc::new(
                        MemTable::try_new(Arc::clone(&target_schema), vec![vec![]])
                            .map_err(|e| e.to_string())?,
                    ),
                )
                .map_err(|e| e.to_string())?;
                plan_exprs(&ctx, TARGET_TABLE, &target_schema, &[], Some(w))
                    .await?
                    .1
            }
        };
        let targets = columns
            .iter()
            .zip(exprs)
            .zip(direct)
            .map(|((column, expr), direct_source)| TargetColumn {
                column: column.clone(),
                expr,
                direct_source,
            })
            .collect();
        Ok(LoadPlan {
            source_names,
            source_schema,
            targets,
            target_schema,
            where_expr,
            strict_mode,
        })
    }

    /// Source columns each row of the body must have.
    pub fn source_names(&self) -> &[String] {
        &self.source_names
    }

    /// Converts one parsed batch. `separator` renders a rejected row's fields.
    pub fn convert(&self, raw: RawBatch, separator: &str) -> Result<Converted, String> {
        let n = raw.num_rows;
        let mut filtered = raw.errors;
        if n == 0 {
            return Ok(Converted {
                batch: RecordBatch::new_empty(Arc::clone(&self.target_schema)),
                filtered,
                unselected: 0,
            });
        }
        let columns: Vec<ArrayRef> = raw
            .columns
            .into_iter()
            .map(|c| Arc::new(c) as ArrayRef)
            .collect();
        let source = RecordBatch::try_new(Arc::clone(&self.source_schema), columns)
            .map_err(|e| e.to_string())?;
        let mut reasons: Vec<Option<String>> = vec![None; n];
        let mut out: Vec<ArrayRef> = Vec::with_capacity(self.targets.len());
        for t in &self.targets {
            let value = t
                .expr
                .evaluate(&source)
                .and_then(|v| v.into_array(n))
                .map_err(|e| format!("[INTERNAL_ERROR]evaluating column {}: {e}", t.column.name))?;
            let target_type = t.column.column_type.to_arrow();
            let array = if value.data_type() == &target_type {
                value
            } else if let (DataType::Utf8, DataType::Decimal128(p, s)) =
                (value.data_type(), &target_type)
            {
                Arc::new(parse_decimals(value.as_string::<i32>(), *p, *s))
            } else {
                let options = CastOptions {
                    safe: true,
                    ..CastOptions::default()
                };
                cast_with_options(&value, &target_type, &options).map_err(|e| {
                    format!(
                        "[ANALYSIS_ERROR]column {} cannot be converted to {}: {e}",
                        t.column.name,
                        t.column.column_type.sql_name()
                    )
                })?
            };
            check_column(t, &source, &array, self.strict_mode, &mut reasons);
            out.push(array);
        }
        let typed = RecordBatch::try_new(Arc::clone(&self.target_schema), out)
            .map_err(|e| e.to_string())?;
        let keep: BooleanArray = reasons.iter().map(|r| Some(r.is_none())).collect();
        for (row, reason) in reasons.into_iter().enumerate() {
            if let Some(reason) = reason {
                filtered.push(RowError::new(
                    row_text(&source, row, separator).as_bytes(),
                    reason,
                ));
            }
        }
        let valid = filter_record_batch(&typed, &keep).map_err(|e| e.to_string())?;
        let (batch, unselected) = match &self.where_expr {
            None => (valid, 0),
            Some(w) => {
                let mask = w
                    .evaluate(&valid)
                    .and_then(|v| v.into_array(valid.num_rows()))
                    .map_err(|e| format!("[INTERNAL_ERROR]evaluating where: {e}"))?;
                let mask = mask
                    .as_boolean_opt()
                    .ok_or("[ANALYSIS_ERROR]the where expression is not a condition")?;
                // NULL counts as false.
                let kept = if mask.null_count() > 0 {
                    let mask = datafusion::arrow::compute::prep_null_mask_filter(mask);
                    filter_record_batch(&valid, &mask)
                } else {
                    filter_record_batch(&valid, mask)
                }
                .map_err(|e| e.to_string())?;
                let dropped = valid.num_rows() - kept.num_rows();
                (kept, dropped)
            }
        };
        Ok(Converted {
            batch,
            filtered,
            unselected,
        })
    }
}

/// Text to DECIMAL(p, s) (arrow's parser allocates per value; loads parse millions):
/// `[+-]digits[.digits]`, surrounding spaces allowed, rounded half away from zero to
/// `s` digits; anything else, or more than `p` digits, is NULL.
fn parse_decimals(
    text: &StringArray,
    precision: u8,
    scale: i8,
) -> datafusion::arrow::array::Decimal128Array {
    let scale = scale.max(0) as u32;
    let limit = 10i128.pow(u32::from(precision.min(38)));
    let parse = |v: &str| -> Option<i128> {
        let v = v.trim().as_bytes();
        let (negative, digits) = match v.first()? {
            b'-' => (true, &v[1..]),
            b'+' => (false, &v[1..]),
            _ => (false, v),
        };
        let (int, frac) = match digits.iter().position(|&b| b == b'.') {
            Some(i) => (&digits[..i], &digits[i + 1..]),
            None => (digits, &digits[digits.len()..]),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let mut value: i128 = 0;
        for &b in int {
            if !b.is_ascii_digit() {
                return None;
            }
            value = value.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        for i in 0..scale as usize {
            let d = match frac.get(i) {
                Some(b) if b.is_ascii_digit() => i128::from(b - b'0'),
                Some(_) => return None,
                None => 0,
            };
            value = value.checked_mul(10)?.checked_add(d)?;
        }
        let rest = frac.get(scale as usize..).unwrap_or_default();
        if !rest.iter().all(u8::is_ascii_digit) {
            return None;
        }
        if rest.first().is_some_and(|&d| d >= b'5') {
            value = value.checked_add(1)?;
        }
        if value >= limit {
            return None;
        }
        Some(if negative { -value } else { value })
    };
    let values: datafusion::arrow::array::Decimal128Array =
        text.iter().map(|v| v.and_then(parse)).collect();
    values.with_data_type(DataType::Decimal128(precision, scale as i8))
}

/// A row's source fields joined by the separator (`\N` for NULL), for the error log.
fn row_text(source: &RecordBatch, row: usize, separator: &str) -> String {
    source
        .columns()
        .iter()
        .map(|c| {
            let s: &StringArray = c.as_string();
            if s.is_null(row) {
                "\\N".to_string()
            } else {
                s.value(row).to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(separator)
}

/// Marks rows of `array` (column `t`) that break Doris's rules; the first reason wins.
fn check_column(
    t: &TargetColumn,
    source: &RecordBatch,
    array: &ArrayRef,
    strict_mode: bool,
    reasons: &mut [Option<String>],
) {
    let name = &t.column.name;
    let raw = t.direct_source.map(|i| source.column(i).as_string::<i32>());
    for (row, reason) in reasons.iter_mut().enumerate() {
        if reason.is_some() || !array.is_null(row) {
            continue;
        }
        let failed_conversion = raw.is_some_and(|r| !r.is_null(row));
        if failed_conversion && strict_mode {
            let value = raw.map(|r| r.value(row)).unwrap_or_default();
            *reason = Some(format!(
                "column_name[{name}], the value [{value}] can not be converted to {} while strict mode is true",
                t.column.column_type.sql_name()
            ));
        } else if !t.column.nullable {
            *reason = Some(if failed_conversion {
                let value = raw.map(|r| r.value(row)).unwrap_or_default();
                format!(
                    "column_name[{name}], the value [{value}] can not be converted to {}, and the column is not nullable",
                    t.column.column_type.sql_name()
                )
            } else {
                format!("column_name[{name}], null value for not null column")
            });
        }
    }
    if let (Some(max), DataType::Utf8) = (t.column.column_type.max_len(), array.data_type()) {
        let strings = array.as_string::<i32>();
        for (row, reason) in reasons.iter_mut().enumerate() {
            if reason.is_some() || strings.is_null(row) {
                continue;
            }
            let v = strings.value(row);
            if v.len() > max {
                *reason = Some(format!(
                    "column_name[{name}], the length of input is too long than schema. input_str: [{}] schema length: {max}; actual length: {};",
                    v.chars().take(64).collect::<String>(),
                    v.len()
                ));
            }
        }
    }
    if t.column.column_type == ColumnType::LargeInt {
        let values = array.as_primitive::<Decimal256Type>();
        let (lo, hi) = (i256::from_i128(i128::MIN), i256::from_i128(i128::MAX));
        for (row, reason) in reasons.iter_mut().enumerate() {
            if reason.is_some() || values.is_null(row) {
                continue;
            }
            let v = values.value(row);
            if v < lo || v > hi {
                *reason = Some(format!(
                    "column_name[{name}], the value [{v}] is out of range for LARGEINT"
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::format::BatchBuilder;

    fn col(name: &str, column_type: ColumnType, nullable: bool) -> SinkColumn {
        SinkColumn {
            name: name.into(),
            column_type,
            nullable,
            hidden: false,
        }
    }

    fn raw(rows: &[&[Option<&str>]]) -> RawBatch {
        let mut b = BatchBuilder::new(rows[0].len());
        for r in rows {
            b.push_row(r.iter().copied());
        }
        b.take()
    }

    #[tokio::test]
    async fn mapping_derived_columns_defaults_and_where() {
        let columns = vec![
            col("k1", ColumnType::BigInt, false),
            col("v", ColumnType::BigInt, true),
            col("d", ColumnType::Int, true),
            col("s", ColumnType::Varchar { len: 3 }, true),
        ];
        let defaults = vec![String::new(), String::new(), "'7'".into(), String::new()];
        let items = vec![
            ColumnItem::Source("k1".into()),
            ColumnItem::Source("tmp".into()),
            ColumnItem::Derived {
                name: "v".into(),
                expr: "tmp * 2".into(),
            },
        ];
        let plan = LoadPlan::try_new(&columns, &defaults, &items, Some("k1 > 1"), false, None)
            .await
            .unwrap();
        assert_eq!(plan.source_names(), ["k1", "tmp"]);
        let out = plan
            .convert(
                raw(&[
                    &[Some("1"), Some("10")],
                    &[Some("2"), Some("20")],
                    &[Some("x"), Some("30")],
                    &[Some("3"), None],
                ]),
                ",",
            )
            .unwrap();
        // "x" is not a BIGINT: NULL, and k1 is NOT NULL → filtered.
        assert_eq!(out.filtered.len(), 1);
        assert_eq!(out.filtered[0].line, "x,30");
        assert_eq!(out.unselected, 1);
        assert_eq!(out.batch.num_rows(), 2);
        let k1 = out
            .batch
            .column(0)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let v = out
            .batch
            .column(1)
            .as_primitive::<datafusion::arrow::datatypes::Int64Type>();
        let d = out
            .batch
            .column(2)
            .as_primitive::<datafusion::arrow::datatypes::Int32Type>();
        assert_eq!((k1.value(0), v.value(0), d.value(0)), (2, 40, 7));
        assert_eq!((k1.value(1), v.is_null(1)), (3, true));
        assert!(out.batch.column(3).is_null(0));
    }

    #[test]
    fn decimals_parse_round_and_overflow() {
        let text = StringArray::from(vec![
            Some("12.345"),
            Some("-0.005"),
            Some(" 7 "),
            Some("1e3"),
            Some("99999999.995"),
            Some("."),
            None,
            Some("+.5"),
        ]);
        let d = parse_decimals(&text, 10, 2);
        let got: Vec<Option<i128>> = d.iter().collect();
        assert_eq!(
            got,
            [
                Some(1235),
                Some(-1),
                Some(700),
                None,
                None,
                None,
                None,
                Some(50)
            ]
        );
        assert_eq!(d.data_type(), &DataType::Decimal128(10, 2));
    }

    #[tokio::test]
    async fn strict_mode_filters_failed_conversions() {
        let columns = vec![
            col("a", ColumnType::TinyInt, true),
            col("b", ColumnType::Varchar { len: 2 }, true),
        ];
        let defaults = vec![String::new(), String::new()];
        let rows: &[&[Option<&str>]] = &[
            &[Some("1"), Some("ok")],
            &[Some("300"), Some("ok")],
            &[None, Some("toolong")],
        ];
        let lenient = LoadPlan::try_new(&columns, &defaults, &[], None, false, None)
            .await
            .unwrap();
        let out = lenient.convert(raw(rows), "\t").unwrap();
        assert_eq!(out.batch.num_rows(), 2, "300 becomes NULL when not strict");
        assert_eq!(out.filtered.len(), 1, "too long is always filtered");
        assert!(out.filtered[0].reason.contains("too long"));
        let strict = LoadPlan::try_new(&columns, &defaults, &[], None, true, None)
            .await
            .unwrap();
        let out = strict.convert(raw(rows), "\t").unwrap();
        assert_eq!(out.batch.num_rows(), 1);
        assert_eq!(out.filtered.len(), 2);
        assert_eq!(out.filtered[0].line, "300\tok");
    }

    #[tokio::test]
    async fn unknown_derived_target_and_missing_not_null_are_errors() {
        let columns = vec![
            col("a", ColumnType::Int, false),
            col("b", ColumnType::Int, true),
        ];
        let defaults = vec![String::new(), String::new()];
        let items = vec![ColumnItem::Source("b".into())];
        let e = LoadPlan::try_new(&columns, &defaults, &items, None, false, None).await;
        assert!(e.err().unwrap().contains("no default value"));
        let items = vec![
            ColumnItem::Source("a".into()),
            ColumnItem::Derived {
                name: "zz".into(),
                expr: "a + 1".into(),
            },
        ];
        let e = LoadPlan::try_new(&columns, &defaults, &items, None, false, None).await;
        assert!(e.err().unwrap().contains("zz"));
    }
}
