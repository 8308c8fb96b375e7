//! MySQL-facing details applied to a parsed query before planning: result columns are named
//! by their source text (`SELECT sum(k)` → `sum(k)`, as MySQL and Doris do) and window frame
//! offsets are bounded like Doris; column references and aliases are matched
//! case-insensitively. Entry points: [`display_names`], [`prepare_select_names`].

use std::ops::ControlFlow;

use datafusion::sql::sqlparser::ast::{
    Expr, Ident, Query, SelectItem, SetExpr, Spanned, Statement, TableFactor, Visit, VisitMut,
    Visitor, VisitorMut, WindowFrameBound,
};

use crate::error::{FeError, Result};

/// Byte offset of a 1-based (line, column-in-chars) location in `sql`.
fn offset(sql: &str, line: u64, column: u64) -> Option<usize> {
    let mut current = 1u64;
    let mut line_start = 0usize;
    if line == 0 || column == 0 {
        return None;
    }
    for (i, ch) in sql.char_indices() {
        if current == line {
            break;
        }
        if ch == '\n' {
            current += 1;
            line_start = i + 1;
        }
    }
    if current != line {
        return None;
    }
    let rest = sql.get(line_start..)?;
    match rest.char_indices().nth((column - 1) as usize) {
        Some((i, _)) => Some(line_start + i),
        None => Some(sql.len()),
    }
}

fn source_text(sql: &str, expr: &Expr) -> Option<String> {
    let span = expr.span();
    let start = offset(sql, span.start.line, span.start.column)?;
    let mut end = offset(sql, span.end.line, span.end.column)?;
    // Some spans stop before a function's closing parenthesis: extend until balanced.
    // Others cover only a function's name: take its argument list too.
    let open = |t: &str| t.matches('(').count() as i64 - t.matches(')').count() as i64;
    let rest = sql.get(end..)?;
    if open(sql.get(start..end)?) == 0 && rest.trim_start().starts_with('(') {
        end += rest.len() - rest.trim_start().len() + 1;
    }
    while open(sql.get(start..end)?) > 0 {
        let next = sql.get(end..)?.chars().next()?;
        end += next.len_utf8();
    }
    let text = sql.get(start..end)?.trim();
    // Spans of some expressions (CAST, IS NULL, ...) cover only a part: use the text only
    // if it is the whole expression, else sqlparser's rendering of it.
    let reparsed = datafusion::sql::sqlparser::parser::Parser::new(
        &datafusion::sql::sqlparser::dialect::MySqlDialect {},
    )
    .try_with_sql(text)
    .and_then(|mut p| p.parse_expr());
    match reparsed {
        Ok(e) if &e == expr && !text.is_empty() => Some(text.to_string()),
        _ => Some(expr.to_string()),
    }
}

fn name_select_items(query: &mut Query, sql: &str) {
    let mut body = query.body.as_mut();
    // The first SELECT of a set operation names the columns.
    while let SetExpr::SetOperation { left, .. } = body {
        body = left.as_mut();
    }
    let select = match body {
        SetExpr::Select(s) => s,
        SetExpr::Query(q) => return name_select_items(q, sql),
        _ => return,
    };
    // Aliases that make every output name unique (MySQL allows duplicate column names,
    // DataFusion does not; clients see the written names through `display_names`).
    let natural: Vec<String> = select
        .projection
        .iter()
        .map(|item| written_name(item, sql).unwrap_or_default().to_lowercase())
        .collect();
    let mut seen = std::collections::HashSet::new();
    for (i, (item, name)) in select.projection.iter_mut().zip(natural).enumerate() {
        let unique = if name.is_empty() || seen.insert(name.clone()) {
            None
        } else {
            Some(format!("{name}__{i}"))
        };
        match item {
            SelectItem::ExprWithAlias { alias, .. } => {
                if let Some(u) = unique {
                    *alias = Ident::with_quote('`', u);
                }
            }
            SelectItem::UnnamedExpr(e) => {
                let is_column = matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
                let alias = match unique {
                    Some(u) => u,
                    None if is_column => continue,
                    None => match source_text(sql, e) {
                        Some(t) => t,
                        None => continue,
                    },
                };
                let expr =
                    std::mem::replace(e, Expr::value(datafusion::sql::sqlparser::ast::Value::Null));
                *item = SelectItem::ExprWithAlias {
                    expr,
                    alias: Ident::with_quote('`', alias),
                };
            }
            _ => {}
        }
    }
}

struct FrameBounds(Option<String>);

impl Visitor for FrameBounds {
    type Break = ();

    fn pre_visit_expr(&mut self, expr: &Expr) -> std::ops::ControlFlow<()> {
        if let Expr::Function(f) = expr {
            if let Some(datafusion::sql::sqlparser::ast::WindowType::WindowSpec(spec)) = &f.over {
                if let Some(frame) = &spec.window_frame {
                    let bounds =
                        std::iter::once(&frame.start_bound).chain(frame.end_bound.as_ref());
                    for b in bounds {
                        if let WindowFrameBound::Preceding(Some(v))
                        | WindowFrameBound::Following(Some(v)) = b
                        {
                            let text = v.to_string();
                            if text.parse::<i128>().is_ok_and(|n| n > i128::from(i32::MAX)) {
                                self.0 = Some(format!(
                                    "BoundOffset of ROWS WindowFrame must not exceed {} (got {text})",
                                    i32::MAX
                                ));
                                return std::ops::ControlFlow::Break(());
                            }
                        }
                    }
                }
            }
        }
        std::ops::ControlFlow::Continue(())
    }
}

/// The names a MySQL client should see for the top-level result columns (alias as written,
/// column name as written, else the expression's source text); `None` with a wildcard.
pub fn display_names(stmt: &Statement, sql: &str) -> Option<Vec<String>> {
    let Statement::Query(q) = stmt else {
        return None;
    };
    let mut body = q.body.as_ref();
    while let SetExpr::SetOperation { left, .. } = body {
        body = left.as_ref();
    }
    let SetExpr::Select(select) = body else {
        return None;
    };
    select
        .projection
        .iter()
        .map(|item| written_name(item, sql))
        .collect()
}

/// The name a result column has as written: its alias, its column name, or the
/// expression's text; `None` for wildcards.
fn written_name(item: &SelectItem, sql: &str) -> Option<String> {
    match item {
        SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
        SelectItem::UnnamedExpr(Expr::Identifier(i)) => Some(i.value.clone()),
        SelectItem::UnnamedExpr(Expr::CompoundIdentifier(parts)) => {
            parts.last().map(|i| i.value.clone())
        }
        SelectItem::UnnamedExpr(e) => Some(source_text(sql, e).unwrap_or_else(|| e.to_string())),
        _ => None,
    }
}

fn lower(ident: &mut Ident) {
    ident.value = ident.value.to_lowercase();
    ident.quote_style = None;
}

/// MySQL column names and aliases are case-insensitive even when quoted: lower-case every
/// column reference and alias so `` `P`.`AREA_ID` `` finds column `area_id` of alias `p`.
/// Result headers keep their written case through [`display_names`].
struct LowercaseIdents;

fn is_dual(from: &[datafusion::sql::sqlparser::ast::TableWithJoins]) -> bool {
    match from {
        [twj] if twj.joins.is_empty() => matches!(
            &twj.relation,
            TableFactor::Table { name, args: None, alias: None, .. }
                if name.0.len() == 1
                    && name.0[0].as_ident().is_some_and(|i| i.value.eq_ignore_ascii_case("dual"))
        ),
        _ => false,
    }
}

fn lower_select_aliases(body: &mut SetExpr) {
    match body {
        SetExpr::Select(select) => {
            // MySQL's `FROM DUAL` is no table at all.
            if is_dual(&select.from) {
                select.from.clear();
            }
            for item in select.projection.iter_mut() {
                if let SelectItem::ExprWithAlias { alias, .. } = item {
                    lower(alias);
                }
            }
        }
        SetExpr::SetOperation { left, right, .. } => {
            lower_select_aliases(left);
            lower_select_aliases(right);
        }
        _ => {}
    }
}

impl VisitorMut for LowercaseIdents {
    type Break = ();

    fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
        if let Some(with) = query.with.as_mut() {
            for cte in with.cte_tables.iter_mut() {
                lower(&mut cte.alias.name);
                for c in cte.alias.columns.iter_mut() {
                    lower(&mut c.name);
                }
            }
        }
        lower_select_aliases(&mut query.body);
        ControlFlow::Continue(())
    }

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let alias = match factor {
            TableFactor::Table { alias, .. }
            | TableFactor::Derived { alias, .. }
            | TableFactor::TableFunction { alias, .. }
            | TableFactor::NestedJoin { alias, .. } => alias.as_mut(),
            _ => None,
        };
        if let Some(a) = alias {
            lower(&mut a.name);
            for c in a.columns.iter_mut() {
                lower(&mut c.name);
            }
        }
        ControlFlow::Continue(())
    }

    fn pre_visit_expr(&mut self, expr: &mut Expr) -> ControlFlow<()> {
        match expr {
            Expr::Identifier(i) => lower(i),
            Expr::CompoundIdentifier(parts) => {
                // `db.t.col`: database and table names stay as written.
                let n = parts.len();
                for (k, p) in parts.iter_mut().enumerate() {
                    if k + 2 >= n {
                        lower(p);
                    }
                }
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Names result columns by source text and validates window frames; `sql` is the text
/// `stmt` was parsed from.
pub fn prepare_select_names(stmt: &mut Statement, sql: &str) -> Result<()> {
    let mut bounds = FrameBounds(None);
    let _ = Visit::visit(&*stmt, &mut bounds);
    if let Some(msg) = bounds.0 {
        return Err(FeError::Analysis(msg));
    }
    match stmt {
        Statement::Query(q) => name_select_items(q, sql),
        Statement::Insert(insert) => {
            if let Some(q) = insert.source.as_mut() {
                name_select_items(q, sql);
            }
        }
        _ => {}
    }
    let _ = VisitMut::visit(stmt, &mut LowercaseIdents);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::sql::sqlparser::dialect::MySqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    fn named(sql: &str) -> String {
        let mut stmt = Parser::parse_sql(&MySqlDialect {}, sql)
            .expect("parse")
            .remove(0);
        prepare_select_names(&mut stmt, sql).expect("prepare");
        stmt.to_string()
    }

    #[test]
    fn aliases_expressions_by_source_text() {
        assert_eq!(
            named("SELECT k, sum(k), 5/2 FROM t GROUP BY k"),
            "SELECT k, sum(k) AS sum(k), 5 / 2 AS 5/2 FROM t GROUP BY k"
        );
        assert_eq!(named("SELECT 1, 1"), "SELECT 1 AS 1, 1 AS 1__1");
        assert_eq!(named("SELECT a, A FROM t"), "SELECT a, a AS a__1 FROM t");
        assert_eq!(
            named("SELECT\n  count(*)\nFROM t"),
            "SELECT count(*) AS count(*) FROM t"
        );
        assert_eq!(
            named("SELECT `P`.`Area_ID` AS `X` FROM `T1` AS `P`"),
            "SELECT p.area_id AS x FROM `T1` AS p"
        );
    }

    #[test]
    fn rejects_huge_frame_offsets() {
        let sql = "SELECT sum(k) OVER (ORDER BY k ROWS BETWEEN UNBOUNDED PRECEDING AND 2147483648 FOLLOWING) FROM t";
        let mut stmt = Parser::parse_sql(&MySqlDialect {}, sql)
            .expect("parse")
            .remove(0);
        assert!(prepare_select_names(&mut stmt, sql).is_err());
    }
}
