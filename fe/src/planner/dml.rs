//! DELETE and UPDATE, both transactional.
//!
//! * On a UNIQUE KEY table both are loads, as in Doris: UPDATE writes the changed rows as
//!   new versions of their keys, DELETE writes the matching rows with the hidden delete sign
//!   set (reads drop a key whose newest row carries it). They run as an
//!   `INSERT ... SELECT` (see [`super::insert::run_insert`]), so they also work inside
//!   `BEGIN ... COMMIT`.
//! * On DUPLICATE and AGGREGATE KEY tables DELETE is a transaction of its own: each tablet of
//!   the chosen partitions records a rowset that carries only the predicate, and publishing
//!   it removes the older rows the predicate matches (the backends mark them in their delete
//!   bitmaps). Rows loaded later are not affected. As in Doris, the predicate is a
//!   conjunction of `column op literal`, `column [NOT] IN (literals)` and
//!   `column IS [NOT] NULL`, on key columns only for an AGGREGATE KEY table.

use std::collections::BTreeMap;
use std::sync::Arc;

use datafusion::sql::sqlparser::ast::{
    AssignmentTarget, BinaryOperator, Expr as SqlExpr, FromTable, ObjectName, Statement,
    TableFactor, TableWithJoins, UnaryOperator, UpdateTableFromKind, Value,
};
use datafusion::sql::sqlparser::dialect::MySqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};
use doris_proto::PushDeleteRequest;
use tracing::info;

use super::catalog::{arrow_name, PlanEnv};
use crate::catalog::{KeysType, LoadKind, LoadStats, Table};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::Session;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DmlKind {
    Delete,
    Update,
}

/// Whether `sql` is a DELETE or an UPDATE (by its first word).
pub(super) fn statement_kind(sql: &str) -> Option<DmlKind> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql).tokenize().ok()?;
    let first = tokens
        .iter()
        .find(|t| !matches!(t, Token::Whitespace(_) | Token::LParen | Token::SemiColon))?;
    match first {
        Token::Word(w) if w.quote_style.is_none() => {
            if w.value.eq_ignore_ascii_case("DELETE") {
                Some(DmlKind::Delete)
            } else if w.value.eq_ignore_ascii_case("UPDATE") {
                Some(DmlKind::Update)
            } else {
                None
            }
        }
        _ => None,
    }
}

fn parse(sql: &str) -> Result<Statement> {
    let mut stmts =
        Parser::parse_sql(&MySqlDialect {}, sql).map_err(|e| FeError::Syntax(e.to_string()))?;
    if stmts.len() != 1 {
        return Err(FeError::Syntax("expected exactly one statement".into()));
    }
    stmts
        .pop()
        .ok_or_else(|| FeError::Syntax("Query was empty".into()))
}

/// Doris's `DELETE FROM t [alias] PARTITION p | PARTITION (p1, p2) | PARTITIONS (p1, p2)`:
/// removes the partition clause (sqlparser does not know it) and returns the names.
fn take_partition_clause(sql: &str) -> Result<(String, Option<Vec<String>>)> {
    let tokens = Tokenizer::new(&MySqlDialect {}, sql)
        .tokenize()
        .map_err(|e| FeError::Syntax(e.to_string()))?;
    let is_word = |t: &Token, kw: &str| matches!(t, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(kw));
    let Some(start) = tokens
        .iter()
        .take_while(|t| !is_word(t, "WHERE") && !is_word(t, "USING"))
        .position(|t| is_word(t, "PARTITION") || is_word(t, "PARTITIONS"))
    else {
        return Ok((sql.to_string(), None));
    };
    let significant =
        |from: usize| (from..tokens.len()).find(|&i| !matches!(tokens[i], Token::Whitespace(_)));
    let name_of = |t: &Token| match t {
        Token::Word(w) => Some(w.value.clone()),
        _ => None,
    };
    let mut names = Vec::new();
    let mut i = significant(start + 1);
    let end = match i.map(|i| &tokens[i]) {
        Some(Token::LParen) => loop {
            i = i.and_then(|i| significant(i + 1));
            match i.map(|i| &tokens[i]) {
                Some(Token::RParen) => break i,
                Some(Token::Comma) => {}
                Some(t) => names.push(name_of(t).ok_or_else(|| {
                    FeError::Syntax(format!("a partition name expected, found {t}"))
                })?),
                None => return Err(FeError::Syntax("unclosed partition list".into())),
            }
        },
        Some(t) => {
            names.push(
                name_of(t)
                    .ok_or_else(|| FeError::Syntax("a partition name expected".to_string()))?,
            );
            i
        }
        None => None,
    };
    let end = end.ok_or_else(|| FeError::Syntax("a partition name expected".into()))?;
    let text: String = tokens
        .iter()
        .enumerate()
        .filter(|(i, _)| !(start..=end).contains(i))
        .map(|(_, t)| t.to_string())
        .collect();
    Ok((text, Some(names)))
}

/// The table a DML statement names, with its alias.
fn single_table(t: &TableWithJoins) -> Result<(ObjectName, Option<String>)> {
    match &t.relation {
        TableFactor::Table { name, alias, .. } if t.joins.is_empty() => {
            Ok((name.clone(), alias.as_ref().map(|a| a.name.value.clone())))
        }
        _ => Err(FeError::NotSupported(
            "DELETE or UPDATE of a join; name one table and join in FROM / USING".into(),
        )),
    }
}

fn table_copy(env: &Env, db_id: i64, table_id: i64) -> Result<Table> {
    env.catalog
        .read()
        .databases
        .get(&db_id)
        .and_then(|d| d.tables.get(&table_id))
        .cloned()
        .ok_or_else(|| FeError::Internal("table disappeared".into()))
}

fn quoted(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

fn db_name(env: &Env, db_id: i64) -> String {
    env.catalog
        .read()
        .databases
        .get(&db_id)
        .map(|d| d.name.clone())
        .unwrap_or_default()
}

/// `DELETE FROM t [PARTITION ...] [USING ...] WHERE ...`.
pub(super) async fn run_delete(
    env: &Arc<Env>,
    session: &mut Session,
    sql: &str,
) -> Result<QueryOutput> {
    let (sql, partitions) = take_partition_clause(sql)?;
    let Statement::Delete(delete) = parse(&sql)? else {
        return Err(FeError::Syntax("a DELETE statement expected".into()));
    };
    let from = match &delete.from {
        FromTable::WithFromKeyword(f) | FromTable::WithoutKeyword(f) => f,
    };
    let [target] = from.as_slice() else {
        return Err(FeError::NotSupported("DELETE from several tables".into()));
    };
    if !delete.tables.is_empty() || delete.limit.is_some() || !delete.order_by.is_empty() {
        return Err(FeError::NotSupported(
            "DELETE with a table list, ORDER BY or LIMIT".into(),
        ));
    }
    let (name, alias) = single_table(target)?;
    let (db_id, table_id, _) = super::resolve_table(env, session, &name)?;
    let table = table_copy(env, db_id, table_id)?;
    let Some(selection) = &delete.selection else {
        return Err(FeError::Analysis(
            "DELETE needs a WHERE clause; TRUNCATE TABLE removes every row".into(),
        ));
    };
    if let Some(names) = &partitions {
        for n in names {
            if !table
                .partitions
                .iter()
                .any(|p| p.name.eq_ignore_ascii_case(n))
            {
                return Err(FeError::Analysis(format!(
                    "Partition does not exist. name: {n}"
                )));
            }
        }
    }
    if table.keys_type == KeysType::Unique {
        // The matching rows, written again with the delete sign set.
        let qualifier = alias.unwrap_or_else(|| table.name.clone());
        let using = delete
            .using
            .iter()
            .flatten()
            .map(|t| format!(", {t}"))
            .collect::<String>();
        let insert = format!(
            "INSERT INTO {db}.{t} SELECT {q}.* FROM {db}.{t} AS {q}{using} WHERE {selection}",
            db = quoted(&db_name(env, db_id)),
            t = quoted(&table.name),
            q = quoted(&qualifier),
        );
        let write = PlanEnv {
            delete_sign: 1,
            partitions,
            ..PlanEnv::default()
        };
        let stmt = super::parse_one(&insert)?;
        return super::insert::run_insert(
            env,
            session,
            stmt,
            (db_id, table_id, table.name.clone()),
            None,
            write,
        )
        .await;
    }
    if delete.using.is_some() {
        return Err(FeError::NotSupported(
            "DELETE ... USING on a DUPLICATE or AGGREGATE KEY table (only UNIQUE KEY tables take it)"
                .into(),
        ));
    }
    if session.txn.is_some() {
        return Err(FeError::TxnState(
            "DELETE on a DUPLICATE or AGGREGATE KEY table cannot run inside a transaction".into(),
        ));
    }
    let mut conjuncts = Vec::new();
    delete_conjuncts(&table, selection, &mut conjuncts)?;
    let predicate = conjuncts.join(" AND ");
    delete_by_predicate(env, session, db_id, &table, partitions, &predicate).await
}

/// The DELETE of a DUPLICATE or AGGREGATE KEY table: a transaction whose tablets record
/// `predicate`, committed as the next version of every partition of the table.
async fn delete_by_predicate(
    env: &Arc<Env>,
    session: &Session,
    db_id: i64,
    table: &Table,
    partitions: Option<Vec<String>>,
    predicate: &str,
) -> Result<QueryOutput> {
    // Materialized views lose the same rows: the predicate's columns must be theirs.
    let read: Vec<&str> = table
        .columns
        .iter()
        .map(|c| c.name.as_str())
        .filter(|name| predicate.contains(&format!("\"{}\"", arrow_name(name))))
        .collect();
    for index in &table.indexes {
        if let Some(c) = read.iter().find(|c| {
            !index.columns.iter().any(|x| {
                x.name.eq_ignore_ascii_case(c)
                    && (x.is_key || index.keys_type == KeysType::Duplicate)
            })
        }) {
            return Err(FeError::Analysis(format!(
                "the delete condition column {c} is not a key column of materialized view {}",
                index.name
            )));
        }
    }
    let txn = crate::txn::begin(
        env,
        crate::txn::BeginRequest {
            db_id,
            table_id: table.id,
            label: Some(format!("delete_{}", uuid::Uuid::new_v4())),
            kind: LoadKind::Delete,
            coordinator: crate::txn::fe_coordinator(),
            coordinator_backend: None,
            user: session.user.clone(),
            client_ip: session.client_host.clone(),
            two_phase_commit: false,
            timeout_ms: crate::txn::insert_timeout_ms(env),
        },
    )?;
    let mut by_backend: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for p in &table.partitions {
        let chosen = partitions
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n.eq_ignore_ascii_case(&p.name)));
        if !chosen {
            continue;
        }
        for t in p.all_tablets() {
            for r in &t.replicas {
                by_backend.entry(r.backend_id).or_default().push(t.id);
            }
        }
    }
    let pushed = async {
        for (backend_id, tablet_ids) in by_backend {
            let (host, port) = crate::cluster::agent_address(env, backend_id)
                .ok_or_else(|| FeError::Backend(format!("backend {backend_id} is not alive")))?;
            let mut client = env
                .clients
                .agent(&host, port)
                .map_err(|e| FeError::Backend(e.to_string()))?;
            client
                .push_delete(PushDeleteRequest {
                    txn_id: txn.txn_id,
                    tablet_ids,
                    predicate: predicate.to_string(),
                })
                .await
                .map_err(|e| FeError::Backend(format!("backend {backend_id}: {}", e.message())))?;
        }
        Ok::<_, FeError>(())
    }
    .await;
    if let Err(e) = pushed {
        crate::txn::abort(env, txn.txn_id, &e.to_string(), LoadStats::default()).await?;
        return Err(e);
    }
    let status = crate::txn::commit(env, txn.txn_id, LoadStats::default(), None).await?;
    info!(txn_id = txn.txn_id, table = %table.name, predicate, status = status.name(), "delete committed");
    Ok(QueryOutput::Ok {
        affected_rows: 0,
        info: crate::txn::load_info(&txn.label, status.name(), &txn.txn_id.to_string()),
    })
}

const SIMPLE_PREDICATES: &str =
    "Where clause only supports compound predicate, binary predicate, is_null predicate or in predicate";

/// Checks a DELETE's WHERE clause and appends its conjuncts as SQL over the lower-cased
/// column names (what the backends evaluate).
fn delete_conjuncts(table: &Table, e: &SqlExpr, out: &mut Vec<String>) -> Result<()> {
    match e {
        SqlExpr::Nested(inner) => delete_conjuncts(table, inner, out),
        SqlExpr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            delete_conjuncts(table, left, out)?;
            delete_conjuncts(table, right, out)
        }
        SqlExpr::BinaryOp { left, op, right } => {
            let op = match op {
                BinaryOperator::Eq => "=",
                BinaryOperator::NotEq => "!=",
                BinaryOperator::Lt => "<",
                BinaryOperator::LtEq => "<=",
                BinaryOperator::Gt => ">",
                BinaryOperator::GtEq => ">=",
                _ => return Err(FeError::Analysis(SIMPLE_PREDICATES.into())),
            };
            let (column, value, op) = match (column_of(table, left), column_of(table, right)) {
                (Some(c), _) => (c?, literal(right)?, op),
                (None, Some(c)) => {
                    let flipped = match op {
                        "<" => ">",
                        "<=" => ">=",
                        ">" => "<",
                        ">=" => "<=",
                        same => same,
                    };
                    (c?, literal(left)?, flipped)
                }
                (None, None) => return Err(FeError::Analysis(SIMPLE_PREDICATES.into())),
            };
            out.push(format!("{column} {op} {value}"));
            Ok(())
        }
        SqlExpr::InList {
            expr,
            list,
            negated,
        } => {
            let column = column_of(table, expr)
                .ok_or_else(|| FeError::Analysis(SIMPLE_PREDICATES.into()))??;
            let values = list.iter().map(literal).collect::<Result<Vec<_>>>()?;
            let not = if *negated { "NOT " } else { "" };
            out.push(format!("{column} {not}IN ({})", values.join(", ")));
            Ok(())
        }
        SqlExpr::IsNull(inner) | SqlExpr::IsNotNull(inner) => {
            let column = column_of(table, inner)
                .ok_or_else(|| FeError::Analysis(SIMPLE_PREDICATES.into()))??;
            let not = if matches!(e, SqlExpr::IsNotNull(_)) {
                "NOT "
            } else {
                ""
            };
            out.push(format!("{column} IS {not}NULL"));
            Ok(())
        }
        _ => Err(FeError::Analysis(SIMPLE_PREDICATES.into())),
    }
}

/// A column reference of a DELETE predicate as the backends name it; `None` when `e` is
/// not a column; an error for an unknown column or, in an AGGREGATE KEY table, a value one.
fn column_of(table: &Table, e: &SqlExpr) -> Option<Result<String>> {
    let name = match e {
        SqlExpr::Identifier(i) => i.value.clone(),
        SqlExpr::CompoundIdentifier(parts) => parts.last()?.value.clone(),
        _ => return None,
    };
    let Some(column) = table.column(&name) else {
        return Some(Err(FeError::Analysis(format!(
            "Unknown column '{name}' in '{}'",
            table.name
        ))));
    };
    if table.keys_type == KeysType::Aggregate && !column.is_key {
        return Some(Err(FeError::Analysis(format!(
            "delete predicate on value column only supports Unique table with merge-on-write enabled and Duplicate table, but Table[{}] is an Aggregate table.",
            table.name
        ))));
    }
    Some(Ok(format!(
        "\"{}\"",
        arrow_name(&column.name).replace('"', "\"\"")
    )))
}

/// A literal of a DELETE predicate as SQL (MySQL's double-quoted strings become
/// single-quoted ones).
fn literal(e: &SqlExpr) -> Result<String> {
    match e {
        SqlExpr::Value(v) => match &v.value {
            Value::DoubleQuotedString(s) | Value::SingleQuotedString(s) => {
                Ok(format!("'{}'", s.replace('\'', "''")))
            }
            Value::Number(..) | Value::Boolean(_) | Value::Null => Ok(v.value.to_string()),
            _ => Err(FeError::Analysis(SIMPLE_PREDICATES.into())),
        },
        SqlExpr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } if matches!(expr.as_ref(), SqlExpr::Value(v) if matches!(v.value, Value::Number(..))) => {
            Ok(format!("-{expr}"))
        }
        SqlExpr::Nested(inner) => literal(inner),
        _ => Err(FeError::Analysis(SIMPLE_PREDICATES.into())),
    }
}

/// `UPDATE t [alias] SET c = e, ... [FROM ...] WHERE ...` on a UNIQUE KEY table: the
/// matching rows with the new values, loaded as the newest version of their keys.
pub(super) async fn run_update(
    env: &Arc<Env>,
    session: &mut Session,
    sql: &str,
) -> Result<QueryOutput> {
    let Statement::Update(update) = parse(sql)? else {
        return Err(FeError::Syntax("an UPDATE statement expected".into()));
    };
    if update.limit.is_some() || !update.order_by.is_empty() || update.returning.is_some() {
        return Err(FeError::NotSupported(
            "UPDATE with ORDER BY, LIMIT or RETURNING".into(),
        ));
    }
    let (name, alias) = single_table(&update.table)?;
    let (db_id, table_id, _) = super::resolve_table(env, session, &name)?;
    let table = table_copy(env, db_id, table_id)?;
    if table.keys_type != KeysType::Unique {
        return Err(FeError::Analysis(format!(
            "Only unique table could be updated. (table `{}` is {})",
            table.name,
            table.keys_type.sql()
        )));
    }
    let mut assigned: Vec<(usize, String)> = Vec::new();
    for a in &update.assignments {
        let AssignmentTarget::ColumnName(target) = &a.target else {
            return Err(FeError::NotSupported("UPDATE of a column tuple".into()));
        };
        let column = target
            .0
            .last()
            .and_then(|p| p.as_ident())
            .map(|i| i.value.clone())
            .unwrap_or_default();
        let Some(index) = table.column_index(&column) else {
            return Err(FeError::Analysis(format!(
                "Unknown column '{column}' in '{}'",
                table.name
            )));
        };
        if table.columns[index].is_key {
            return Err(FeError::Analysis(format!(
                "Only value columns of unique table could be updated (`{column}` is a key column)"
            )));
        }
        if assigned.iter().any(|(i, _)| *i == index) {
            return Err(FeError::Analysis(format!(
                "column `{column}` is assigned twice"
            )));
        }
        assigned.push((index, a.value.to_string()));
    }
    let qualifier = quoted(&alias.unwrap_or_else(|| table.name.clone()));
    let select: Vec<String> = table
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| match assigned.iter().find(|(x, _)| *x == i) {
            Some((_, value)) => format!("({value}) AS {}", quoted(&c.name)),
            None => format!("{qualifier}.{}", quoted(&c.name)),
        })
        .collect();
    let from = match &update.from {
        Some(UpdateTableFromKind::AfterSet(tables) | UpdateTableFromKind::BeforeSet(tables)) => {
            tables.iter().map(|t| format!(", {t}")).collect::<String>()
        }
        None => String::new(),
    };
    let filter = update
        .selection
        .as_ref()
        .map(|s| format!(" WHERE {s}"))
        .unwrap_or_default();
    let insert = format!(
        "INSERT INTO {db}.{t} SELECT {cols} FROM {db}.{t} AS {qualifier}{from}{filter}",
        db = quoted(&db_name(env, db_id)),
        t = quoted(&table.name),
        cols = select.join(", "),
    );
    let stmt = super::parse_one(&insert)?;
    super::insert::run_insert(
        env,
        session,
        stmt,
        (db_id, table_id, table.name.clone()),
        None,
        PlanEnv::default(),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_clause_is_taken_out() {
        let (sql, names) =
            take_partition_clause("DELETE FROM t PARTITION p1 WHERE k = 1").expect("parse");
        assert_eq!(sql, "DELETE FROM t  WHERE k = 1");
        assert_eq!(names, Some(vec!["p1".to_string()]));
        let (sql, names) =
            take_partition_clause("delete from d.t partitions (p1, `p2`) where partition_k = 1")
                .expect("parse");
        assert_eq!(sql, "delete from d.t  where partition_k = 1");
        assert_eq!(names, Some(vec!["p1".to_string(), "p2".to_string()]));
        let (sql, names) = take_partition_clause("DELETE FROM t WHERE k = 1").expect("parse");
        assert_eq!((sql.as_str(), names), ("DELETE FROM t WHERE k = 1", None));
        assert_eq!(statement_kind(" update t set v = 1"), Some(DmlKind::Update));
        assert_eq!(statement_kind("SELECT 1"), None);
    }
}
