//! AST rewrite giving MySQL semantics to constructs DataFusion would plan differently.
//! Entry point: [`rewrite_mysql_semantics`], applied to a parsed statement before DataFusion
//! plans it.
//!
//! Rewrites (post-order, so nested expressions are handled too):
//! * `a / b` -> `__mysql_divide(a, b)`, `a DIV b` -> `__mysql_intdiv(a, b)`,
//!   `a % b` -> `__mysql_mod(a, b)` (see [`super::arith`]; sqlparser does not parse the
//!   infix `a MOD b`, the function form `MOD(a, b)` is a registered alias).
//! * numeric literals with an exponent (`5e0`) -> `CAST('5e0' AS DOUBLE)`: in MySQL they
//!   are DOUBLE even when decimal literals are planned as DECIMAL.
//! * `IF(c, a, b)` -> `CASE WHEN c THEN a ELSE b END` (`c` cast to BOOLEAN unless it is
//!   already a predicate, so `IF(1, ..)` works).
//! * `GROUP_CONCAT([DISTINCT] x [, sep] [ORDER BY ..] [SEPARATOR s])` ->
//!   `string_agg([DISTINCT] concat(x), sep [ORDER BY ..])`; the default separator is `','`;
//!   several arguments with a `SEPARATOR` clause are concatenated (MySQL), two arguments
//!   without one are value and separator (Doris).
//! * `SUBSTRING(s FROM p FOR n)` / `SUBSTR(s, p, n)` -> `substr(s, p, n)`, so the registered
//!   MySQL `substr` is used instead of DataFusion's planner shortcut.
//! * `TIMESTAMPDIFF(unit, a, b)` / `TIMESTAMPADD(unit, n, d)`: the bare unit keyword becomes
//!   a string literal.
//! * bare `CURRENT_USER` -> `current_user()`.
//! * Names in `HAVING` are the select list's aliases first (MySQL), unless they are
//!   grouped by: such a name is replaced by its aliased expression. `HAVING` in a query
//!   without `GROUP BY` and without aggregates filters the output rows: it becomes part of
//!   `WHERE`.

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::helpers::attached_token::AttachedToken;
use datafusion::sql::sqlparser::ast::{
    visit_expressions_mut, BinaryOperator, CaseWhen, CastKind, DataType, DuplicateTreatment,
    ExactNumberInfo, Expr, Function, FunctionArg, FunctionArgExpr, FunctionArgumentClause,
    FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, ObjectName, ObjectNamePart, Query,
    Select, SelectItem, SetExpr, Statement, TimezoneInfo, UnaryOperator, Value, VisitMut,
    VisitorMut,
};

/// Rewrites `stmt` in place so DataFusion plans it with MySQL semantics (see the module
/// documentation for the list of rewrites).
pub fn rewrite_mysql_semantics(stmt: &mut Statement) {
    let _ = stmt.visit(&mut HavingAsFilter);
    let _ = visit_expressions_mut(stmt, |expr| {
        reassociate_div(expr);
        ControlFlow::<()>::Continue(())
    });
    let _ = visit_expressions_mut(stmt, |expr| {
        rewrite_expr(expr);
        ControlFlow::<()>::Continue(())
    });
}

/// Aggregate functions: a query using one groups its rows even without `GROUP BY`.
const AGGREGATES: &[&str] = &[
    "count",
    "sum",
    "avg",
    "min",
    "max",
    "group_concat",
    "string_agg",
    "stddev",
    "stddev_pop",
    "stddev_samp",
    "std",
    "variance",
    "var_pop",
    "var_samp",
    "any_value",
    "approx_count_distinct",
    "ndv",
    "bitmap_union",
    "bitmap_union_count",
    "hll_union",
    "hll_union_agg",
    "hll_raw_agg",
    "array_agg",
    "median",
    "percentile",
    "bool_and",
    "bool_or",
    "bit_and",
    "bit_or",
    "bit_xor",
    "collect_list",
    "collect_set",
];

/// Whether `e` calls an aggregate function (outside a window).
fn has_aggregate(e: &Expr) -> bool {
    let mut found = false;
    let mut e = e.clone();
    let _ = visit_expressions_mut(&mut e, |x| {
        if let Expr::Function(f) = x {
            let name = f.name.to_string().to_ascii_lowercase();
            if f.over.is_none() && AGGREGATES.contains(&name.as_str()) {
                found = true;
            }
        }
        ControlFlow::<()>::Continue(())
    });
    found
}

/// Moves `HAVING` into `WHERE` in queries that do not group (see the module doc).
struct HavingAsFilter;

impl VisitorMut for HavingAsFilter {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let SetExpr::Select(select) = query.body.as_mut() {
            having_as_filter(select);
        }
        ControlFlow::Continue(())
    }
}

fn having_as_filter(select: &mut Select) {
    let Some(having) = &select.having else {
        return;
    };
    let (grouped, group_names): (bool, Vec<String>) = match &select.group_by {
        GroupByExpr::All(_) => (true, Vec::new()),
        GroupByExpr::Expressions(exprs, _) => (
            !exprs.is_empty(),
            exprs
                .iter()
                .filter_map(|e| match e {
                    Expr::Identifier(id) => Some(id.value.to_ascii_lowercase()),
                    _ => None,
                })
                .collect(),
        ),
    };
    let aliases: Vec<(String, Expr)> = select
        .projection
        .iter()
        .filter_map(|item| match item {
            SelectItem::ExprWithAlias { expr, alias } => {
                Some((alias.value.to_ascii_lowercase(), expr.clone()))
            }
            _ => None,
        })
        .filter(|(alias, _)| !group_names.contains(alias))
        .collect();
    let mut filter = having.clone();
    let _ = visit_expressions_mut(&mut filter, |x| {
        if let Expr::Identifier(id) = x {
            if let Some((_, e)) = aliases
                .iter()
                .find(|(a, _)| *a == id.value.to_ascii_lowercase())
            {
                *x = Expr::Nested(Box::new(e.clone()));
            }
        }
        ControlFlow::<()>::Continue(())
    });
    let aggregated = has_aggregate(having)
        || select.projection.iter().any(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                has_aggregate(e)
            }
            _ => false,
        });
    if grouped || aggregated {
        select.having = Some(filter);
        return;
    }
    select.selection = Some(match select.selection.take() {
        Some(w) => Expr::BinaryOp {
            left: Box::new(Expr::Nested(Box::new(w))),
            op: BinaryOperator::And,
            right: Box::new(Expr::Nested(Box::new(filter))),
        },
        None => filter,
    });
    select.having = None;
}

/// sqlparser's MySQL dialect parses everything after `DIV` as its right operand, so
/// `a DIV b + 1` comes out as `a DIV (b + 1)`. In MySQL `DIV` binds like `*` and `/`
/// (left to right, tighter than `+`, comparisons, `IS NULL`, `BETWEEN`, ...): hand the
/// looser operator's left operand to the `DIV` and put the operator back on top.
/// Parenthesised operands are `Expr::Nested` and stay as written.
fn reassociate_div(expr: &mut Expr) {
    let Expr::BinaryOp {
        op: BinaryOperator::MyIntegerDivide,
        right,
        ..
    } = expr
    else {
        return;
    };
    if left_operand(right).is_none() {
        return;
    }
    let Expr::BinaryOp { left, right, .. } = std::mem::replace(expr, placeholder()) else {
        return;
    };
    let mut top = *right;
    if let Some(slot) = left_operand(&mut top) {
        let operand = std::mem::replace(slot.as_mut(), placeholder());
        let mut div = Expr::BinaryOp {
            left,
            op: BinaryOperator::MyIntegerDivide,
            right: Box::new(operand),
        };
        reassociate_div(&mut div);
        **slot = div;
    }
    *expr = top;
}

/// The left operand of an expression that binds no tighter than `DIV`.
fn left_operand(e: &mut Expr) -> Option<&mut Box<Expr>> {
    match e {
        // `^` (bitwise XOR) is the only MySQL operator binding tighter than `DIV`.
        Expr::BinaryOp { op, left, .. } if *op != BinaryOperator::BitwiseXor => Some(left),
        Expr::IsNull(x)
        | Expr::IsNotNull(x)
        | Expr::IsTrue(x)
        | Expr::IsNotTrue(x)
        | Expr::IsFalse(x)
        | Expr::IsNotFalse(x)
        | Expr::IsUnknown(x)
        | Expr::IsNotUnknown(x) => Some(x),
        Expr::Between { expr, .. }
        | Expr::InList { expr, .. }
        | Expr::InSubquery { expr, .. }
        | Expr::Like { expr, .. }
        | Expr::ILike { expr, .. }
        | Expr::RLike { expr, .. }
        | Expr::SimilarTo { expr, .. } => Some(expr),
        _ => None,
    }
}

fn placeholder() -> Expr {
    Expr::value(Value::Null)
}

/// `name(args...)` as a plain function call.
pub(crate) fn call(name: &str, args: Vec<Expr>) -> Expr {
    call_with(name, args, None, vec![])
}

fn call_with(
    name: &str,
    args: Vec<Expr>,
    duplicate_treatment: Option<DuplicateTreatment>,
    clauses: Vec<FunctionArgumentClause>,
) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment,
            args: args
                .into_iter()
                .map(|e| FunctionArg::Unnamed(FunctionArgExpr::Expr(e)))
                .collect(),
            clauses,
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// MySQL/Doris DATETIME is a microsecond timestamp without time zone; DataFusion's SQL
/// planner only knows TIMESTAMP.
fn rewrite_type(t: &mut DataType) {
    let custom = match t {
        DataType::Custom(name, _) => simple_name(name),
        _ => None,
    };
    match (&*t, custom.as_deref()) {
        (DataType::Datetime(_), _) | (_, Some("datetimev2")) => {
            *t = DataType::Timestamp(Some(6), TimezoneInfo::None);
        }
        (_, Some("datev2")) => *t = DataType::Date,
        _ => {}
    }
}

/// A quoted string used as an operand of `+`, `-` or `*`: MySQL converts it to DOUBLE by
/// its numeric prefix (`'10'` is 10, `'abc'` is 0); DataFusion refuses Utf8 arithmetic.
fn numeric_string_operand(e: &mut Expr) {
    let Expr::Value(v) = e else { return };
    let (Value::SingleQuotedString(s) | Value::DoubleQuotedString(s)) = &v.value else {
        return;
    };
    let n = super::util::mysql_str_to_f64(s);
    *e = Expr::Cast {
        kind: CastKind::Cast,
        expr: Box::new(Expr::value(Value::SingleQuotedString(n.to_string()))),
        data_type: DataType::Double(ExactNumberInfo::None),
        array: false,
        format: None,
    };
}

fn rewrite_expr(expr: &mut Expr) {
    match expr {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Plus | BinaryOperator::Minus | BinaryOperator::Multiply,
            right,
        } => {
            numeric_string_operand(left);
            numeric_string_operand(right);
        }
        Expr::Cast { data_type, .. } => rewrite_type(data_type),
        Expr::TypedString(ts) => rewrite_type(&mut ts.data_type),
        Expr::BinaryOp { op, .. } => {
            let name = match op {
                BinaryOperator::Divide => "__mysql_divide",
                BinaryOperator::MyIntegerDivide => "__mysql_intdiv",
                BinaryOperator::Modulo => "__mysql_mod",
                _ => return,
            };
            if let Expr::BinaryOp { left, right, .. } = std::mem::replace(expr, placeholder()) {
                *expr = call(name, vec![*left, *right]);
            }
        }
        Expr::Value(v) => {
            if let Value::Number(n, false) = &v.value {
                if n.contains(['e', 'E']) {
                    let text = n.clone();
                    *expr = Expr::Cast {
                        kind: CastKind::Cast,
                        expr: Box::new(Expr::value(Value::SingleQuotedString(text))),
                        data_type: DataType::Double(ExactNumberInfo::None),
                        array: false,
                        format: None,
                    };
                }
            }
        }
        Expr::Substring { .. } => {
            if let Expr::Substring {
                expr: s,
                substring_from,
                substring_for,
                ..
            } = std::mem::replace(expr, placeholder())
            {
                let from = substring_from.map_or_else(|| Expr::value(number("1")), |f| *f);
                let mut args = vec![*s, from];
                if let Some(len) = substring_for {
                    args.push(*len);
                }
                *expr = call("substr", args);
            }
        }
        Expr::Identifier(id)
            if id.quote_style.is_none() && id.value.eq_ignore_ascii_case("current_user") =>
        {
            *expr = call("current_user", vec![]);
        }
        Expr::Function(f) => {
            if let Some(new) = rewrite_function(f) {
                *expr = new;
            }
        }
        _ => {}
    }
}

fn number(n: &str) -> Value {
    Value::Number(n.to_string(), false)
}

/// Lower-case name of a single-part, unquoted function name.
fn simple_name(name: &ObjectName) -> Option<String> {
    match name.0.as_slice() {
        [ObjectNamePart::Identifier(id)] if id.quote_style.is_none() => {
            Some(id.value.to_ascii_lowercase())
        }
        _ => None,
    }
}

/// The plain expression arguments of a call, if it has only those (no clauses, no
/// named arguments, no wildcards).
fn plain_args(list: &FunctionArgumentList) -> Option<Vec<Expr>> {
    if list.duplicate_treatment.is_some() || !list.clauses.is_empty() {
        return None;
    }
    list.args
        .iter()
        .map(|a| match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
            _ => None,
        })
        .collect()
}

/// `LEAD/LAG(x, n, default)` with a non-constant default (DataFusion accepts only literal
/// defaults): `CASE WHEN LEAD(1, n) OVER w IS NULL THEN default ELSE LEAD(x, n) OVER w END`.
/// `LEAD(1, n)` is NULL exactly when the offset row does not exist, so a NULL `x` there
/// stays NULL as in Doris.
fn rewrite_lead_lag_default(f: &Function, name: &str) -> Option<Expr> {
    if name != "lead" && name != "lag" {
        return None;
    }
    let FunctionArguments::List(list) = &f.args else {
        return None;
    };
    let args = plain_args(list)?;
    let [value, offset, default]: [Expr; 3] = args.try_into().ok()?;
    if matches!(default, Expr::Value(_)) {
        return None;
    }
    let with_args = |args: Vec<Expr>| {
        let mut g = f.clone();
        if let Expr::Function(c) = call(name, args) {
            g.args = c.args;
        }
        Expr::Function(g)
    };
    let probe = with_args(vec![Expr::value(number("1")), offset.clone()]);
    Some(Expr::Case {
        case_token: AttachedToken::empty(),
        end_token: AttachedToken::empty(),
        operand: None,
        conditions: vec![CaseWhen {
            condition: Expr::IsNull(Box::new(probe)),
            result: default,
        }],
        else_result: Some(Box::new(with_args(vec![value, offset]))),
    })
}

fn rewrite_function(f: &mut Function) -> Option<Expr> {
    let name = simple_name(&f.name)?;
    if f.over.is_some() {
        return rewrite_lead_lag_default(f, &name);
    }
    let FunctionArguments::List(list) = &mut f.args else {
        return None;
    };
    match name.as_str() {
        "if" => {
            let args = plain_args(list)?;
            let [cond, then, otherwise]: [Expr; 3] = args.try_into().ok()?;
            let condition = if is_predicate(&cond) {
                cond
            } else {
                Expr::Cast {
                    kind: CastKind::Cast,
                    expr: Box::new(cond),
                    data_type: DataType::Boolean,
                    array: false,
                    format: None,
                }
            };
            Some(Expr::Case {
                case_token: AttachedToken::empty(),
                end_token: AttachedToken::empty(),
                operand: None,
                conditions: vec![CaseWhen {
                    condition,
                    result: then,
                }],
                else_result: Some(Box::new(otherwise)),
            })
        }
        "group_concat" => rewrite_group_concat(list, f.filter.take()),
        // MySQL `COUNT(DISTINCT a, b)`: distinct combinations without NULLs, as one struct.
        "count"
            if list.duplicate_treatment == Some(DuplicateTreatment::Distinct)
                && list.args.len() > 1 =>
        {
            let args = list
                .args
                .iter()
                .map(|a| match a {
                    FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                    _ => None,
                })
                .collect::<Option<Vec<Expr>>>()?;
            let any_null = args
                .iter()
                .map(|a| Expr::IsNull(Box::new(a.clone())))
                .reduce(|l, r| Expr::BinaryOp {
                    left: Box::new(l),
                    op: BinaryOperator::Or,
                    right: Box::new(r),
                })?;
            let combined = Expr::Case {
                case_token: AttachedToken::empty(),
                end_token: AttachedToken::empty(),
                operand: None,
                conditions: vec![CaseWhen {
                    condition: any_null,
                    result: Expr::value(Value::Null),
                }],
                else_result: Some(Box::new(call("struct", args))),
            };
            list.args = vec![FunctionArg::Unnamed(FunctionArgExpr::Expr(combined))];
            None
        }
        // Doris `days_diff(end, start)` and friends = `timestampdiff(UNIT, start, end)`.
        "years_diff" | "months_diff" | "weeks_diff" | "days_diff" | "hours_diff"
        | "minutes_diff" | "seconds_diff" => {
            let args = plain_args(list)?;
            let [end, start]: [Expr; 2] = args.try_into().ok()?;
            let unit = name.trim_end_matches("s_diff").to_ascii_uppercase();
            Some(call(
                "timestampdiff",
                vec![Expr::value(Value::SingleQuotedString(unit)), start, end],
            ))
        }
        "timestampdiff" | "timestampadd" => {
            if let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(first))) = list.args.first_mut()
            {
                if let Expr::Identifier(unit) = first {
                    *first =
                        Expr::value(Value::SingleQuotedString(unit.value.to_ascii_uppercase()));
                }
            }
            None
        }
        _ => None,
    }
}

fn rewrite_group_concat(
    list: &mut FunctionArgumentList,
    filter: Option<Box<Expr>>,
) -> Option<Expr> {
    let mut values = Vec::new();
    for a in &list.args {
        match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => values.push(e.clone()),
            _ => return None,
        }
    }
    if values.is_empty() {
        return None;
    }
    let mut separator = None;
    let mut clauses = Vec::new();
    for c in list.clauses.drain(..) {
        match c {
            FunctionArgumentClause::Separator(v) => separator = Some(Expr::Value(v)),
            other => clauses.push(other),
        }
    }
    let (value, separator) = match separator {
        Some(sep) => (call("concat", values.clone()), sep),
        None if values.len() == 2 => {
            let sep = values.pop()?;
            (call("concat", values.clone()), sep)
        }
        None => (
            call("concat", values.clone()),
            Expr::value(Value::SingleQuotedString(",".to_string())),
        ),
    };
    let distinct = matches!(list.duplicate_treatment, Some(DuplicateTreatment::Distinct));
    if distinct && values.len() == 1 {
        // DISTINCT aggregates only accept ORDER BY on the aggregated expression itself: order
        // by the stringified value when the ORDER BY names the original one.
        for c in &mut clauses {
            if let FunctionArgumentClause::OrderBy(obs) = c {
                for ob in obs.iter_mut() {
                    if ob.expr == values[0] {
                        ob.expr = value.clone();
                    }
                }
            }
        }
    }
    let mut out = call_with(
        "string_agg",
        vec![value, separator],
        list.duplicate_treatment,
        clauses,
    );
    if let Expr::Function(f) = &mut out {
        f.filter = filter;
    }
    Some(out)
}

/// Whether `e` certainly evaluates to a boolean (so `IF` needs no cast).
fn is_predicate(e: &Expr) -> bool {
    match e {
        Expr::BinaryOp { op, .. } => matches!(
            op,
            BinaryOperator::Eq
                | BinaryOperator::NotEq
                | BinaryOperator::Lt
                | BinaryOperator::LtEq
                | BinaryOperator::Gt
                | BinaryOperator::GtEq
                | BinaryOperator::And
                | BinaryOperator::Or
                | BinaryOperator::Xor
        ),
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            ..
        } => true,
        Expr::Nested(inner) => is_predicate(inner),
        Expr::Value(v) => matches!(v.value, Value::Boolean(_)),
        Expr::IsNull(_)
        | Expr::IsNotNull(_)
        | Expr::IsTrue(_)
        | Expr::IsNotTrue(_)
        | Expr::IsFalse(_)
        | Expr::IsNotFalse(_)
        | Expr::IsUnknown(_)
        | Expr::IsNotUnknown(_)
        | Expr::IsDistinctFrom(..)
        | Expr::IsNotDistinctFrom(..)
        | Expr::InList { .. }
        | Expr::InSubquery { .. }
        | Expr::Between { .. }
        | Expr::Like { .. }
        | Expr::ILike { .. }
        | Expr::SimilarTo { .. }
        | Expr::RLike { .. }
        | Expr::Exists { .. } => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::functions::test_util::{q, q_all, q_type};
    use datafusion::sql::sqlparser::dialect::MySqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn rewritten(sql: &str) -> String {
        let mut stmts = Parser::parse_sql(&MySqlDialect {}, sql).expect("parse");
        rewrite_mysql_semantics(&mut stmts[0]);
        stmts[0].to_string()
    }

    #[test]
    fn having_names_and_having_without_grouping() {
        assert_eq!(
            rewritten("SELECT f(d) AS d FROM t WHERE k > 1 HAVING d = 5 ORDER BY d"),
            "SELECT f(d) AS d FROM t WHERE (k > 1) AND ((f(d)) = 5) ORDER BY d"
        );
        // A grouped name stays the column; other aliases are their expressions.
        assert_eq!(
            rewritten("SELECT id, sum(v1) v1, sum(v2) v2 FROM t GROUP BY id, v1 HAVING v1 != 2 AND v2 > 1"),
            "SELECT id, sum(v1) AS v1, sum(v2) AS v2 FROM t GROUP BY id, v1 HAVING v1 <> 2 AND (sum(v2)) > 1"
        );
        // Aggregates without GROUP BY: still a HAVING.
        assert_eq!(
            rewritten("SELECT count(*) c FROM t HAVING c > 1"),
            "SELECT count(*) AS c FROM t HAVING (count(*)) > 1"
        );
        assert_eq!(
            q_all("SELECT x AS y FROM (VALUES (1), (2), (3)) v(x) HAVING y >= 2 ORDER BY y"),
            ["2", "3"]
        );
    }

    #[test]
    fn operators_become_calls() {
        assert_eq!(
            rewritten("SELECT a / b, a DIV b, a % b FROM t"),
            "SELECT __mysql_divide(a, b), __mysql_intdiv(a, b), __mysql_mod(a, b) FROM t"
        );
        assert_eq!(
            rewritten("SELECT (a + 1) / (b / 2) FROM t"),
            "SELECT __mysql_divide((a + 1), (__mysql_divide(b, 2))) FROM t"
        );
    }

    #[test]
    fn exponent_literals_are_double() {
        assert_eq!(
            rewritten("SELECT 5e0, 1.5"),
            "SELECT CAST('5e0' AS DOUBLE), 1.5"
        );
        assert_eq!(q("SELECT 1e300 * 10"), "1e301");
    }

    #[test]
    fn if_function() {
        assert_eq!(q("SELECT if(1>2,'a','b')"), "b");
        assert_eq!(q("SELECT IF(1 < 2, 'a', 'b')"), "a");
        assert_eq!(q("SELECT if(1, 'yes', 'no')"), "yes");
        assert_eq!(q("SELECT if(0, 'yes', 'no')"), "no");
        assert_eq!(q("SELECT if(NULL, 'yes', 'no')"), "no");
        assert_eq!(q("SELECT if(1 > 0, 1, 2.5)"), "1.0");
    }

    #[test]
    fn nested_rewrites() {
        assert_eq!(q("SELECT if(10 / 4 > 2, 7 DIV 2, 0)"), "3");
        // DIV binds like `/`: tighter than `+` and comparisons, left to right.
        assert_eq!(q("SELECT 250 DIV 100 + 1"), "3");
        assert_eq!(q("SELECT 250 DIV (100 + 1)"), "2");
        assert_eq!(q("SELECT 100 DIV 10 DIV 3"), "3");
        assert_eq!(q("SELECT 7 DIV 2 * 2"), "6");
        assert_eq!(q("SELECT 9 DIV 2 > 3 AND 1 = 1"), "true");
        assert_eq!(q("SELECT 9 DIV 2 BETWEEN 4 AND 4"), "true");
        assert_eq!(q("SELECT 9 DIV 2 IN (4)"), "true");
    }

    #[test]
    fn substring_forms() {
        assert_eq!(q("SELECT SUBSTRING('hello' FROM 2 FOR 3)"), "ell");
        assert_eq!(q("SELECT substring('hello', -3)"), "llo");
        assert_eq!(q("SELECT substr('hello', -3, 2)"), "ll");
        assert_eq!(q("SELECT mid('hello', 2, 2)"), "el");
    }

    #[test]
    fn group_concat_variants() {
        let t = "(VALUES (1, 'b'), (2, 'a'), (3, 'b'), (4, NULL)) t(id, v)";
        assert_eq!(
            q(&format!("SELECT group_concat(v ORDER BY id) FROM {t}")),
            "b,a,b"
        );
        assert_eq!(
            q(&format!(
                "SELECT GROUP_CONCAT(v ORDER BY id SEPARATOR ', ') FROM {t}"
            )),
            "b, a, b"
        );
        assert_eq!(
            q(&format!(
                "SELECT group_concat(DISTINCT v ORDER BY v) FROM {t}"
            )),
            "a,b"
        );
        assert_eq!(
            q(&format!(
                "SELECT group_concat(DISTINCT v ORDER BY v DESC SEPARATOR '|') FROM {t}"
            )),
            "b|a"
        );
        assert_eq!(
            q(&format!(
                "SELECT group_concat(id, '-') FROM (SELECT * FROM {t} ORDER BY id) s"
            )),
            "1-2-3-4"
        );
        assert_eq!(
            q(&format!(
                "SELECT group_concat(id, v ORDER BY id SEPARATOR ';') FROM {t}"
            )),
            "1b;2a;3b"
        );
        assert_eq!(
            q_all(&format!(
                "SELECT group_concat(id ORDER BY id) FROM {t} GROUP BY v ORDER BY v"
            )),
            vec!["2", "1,3", "4"]
        );
    }

    #[test]
    fn string_literals_in_arithmetic() {
        assert_eq!(
            rewritten("SELECT '10' + 5, k * 'abc'"),
            "SELECT CAST('10' AS DOUBLE) + 5, k * CAST('0' AS DOUBLE)"
        );
    }

    #[test]
    fn count_distinct_several_columns() {
        assert_eq!(
            rewritten("SELECT count(DISTINCT a, b) FROM t"),
            "SELECT count(DISTINCT CASE WHEN a IS NULL OR b IS NULL THEN NULL ELSE struct(a, b) END) FROM t"
        );
    }

    #[test]
    fn doris_diff_functions() {
        assert_eq!(
            rewritten("SELECT days_diff(a, b)"),
            "SELECT timestampdiff('DAY', b, a)"
        );
    }

    #[test]
    fn timestampdiff_unit_keyword() {
        assert_eq!(
            rewritten("SELECT TIMESTAMPDIFF(DAY, a, b)"),
            "SELECT TIMESTAMPDIFF('DAY', a, b)"
        );
    }

    #[test]
    fn current_user_without_parens() {
        assert_eq!(q("SELECT current_user"), "root@%");
        assert_eq!(q_type("SELECT current_user"), arrow_utf8());
    }

    fn arrow_utf8() -> datafusion::arrow::datatypes::DataType {
        datafusion::arrow::datatypes::DataType::Utf8
    }
}
