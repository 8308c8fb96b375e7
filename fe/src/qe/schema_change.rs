//! Schema change: `ALTER TABLE ... ADD COLUMN`, `DROP COLUMN` and `MODIFY COLUMN`.
//!
//! Light changes, of value columns, change metadata only. Segments are matched to columns by name when
//! read (see the BE's segment cache and scan): an added column reads, for rows loaded
//! before it, as its default at the time it was added (its fill value); a dropped column's
//! data is ignored and compaction leaves it out; a widened type (`INT` to `BIGINT`, longer
//! `VARCHAR`, `FLOAT` to `DOUBLE`, ...) is cast when old segments are read, which loses
//! nothing. The tablets learn the new schema (the `UpdateTabletSchema` call to every
//! backend) before the catalog logs it when columns are added or widened, and after it when
//! columns are dropped, so that no compaction ever drops data the catalog still shows.
//!
//! Heavy changes rewrite the data: adding, dropping, widening or moving a key column of a
//! DUPLICATE KEY table, or of an AGGREGATE KEY table without REPLACE values, starts a job
//! (`SHOW ALTER TABLE COLUMN`) that builds a shadow index with the new schema the way a
//! materialized view is built (every load writes it from the start, each backend builds
//! the older rows re-sorted by the new key); when built it replaces the base in one
//! journal entry (`FinishSchemaChange`). Other rewrites (key columns of UNIQUE KEY tables
//! or with REPLACE values, narrowing or converting types) are refused with a clear error.

use std::collections::BTreeMap;
use std::sync::Arc;

use doris_common::types::ColumnType;
use doris_proto::UpdateTabletSchemaRequest;
use tracing::{info, warn};

use super::ddl::{column_from_def, tablet_schema};
use crate::catalog::{
    Column, ColumnDefault, Distribution, IndexState, JournalEntry, KeysType, MaterializedIndex,
    Table,
};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::sql::ast::{AlterTableOp, ColumnPosition};

fn analysis(msg: impl Into<String>) -> FeError {
    FeError::Analysis(msg.into())
}

fn heavy(what: &str) -> FeError {
    FeError::NotSupported(format!(
        "{what} (a schema change that rewrites the data); only value columns can be added, dropped or widened"
    ))
}

/// What rows loaded before a column was added hold: its default now.
fn fill_value(default: &Option<ColumnDefault>) -> Option<String> {
    let now = chrono::Local::now();
    match default {
        Some(ColumnDefault::Literal(v)) => Some(v.clone()),
        Some(ColumnDefault::CurrentTimestamp) => Some(now.format("%Y-%m-%d %H:%M:%S").to_string()),
        Some(ColumnDefault::CurrentDate) => Some(now.format("%Y-%m-%d").to_string()),
        Some(ColumnDefault::Null) | None => None,
    }
}

/// Whether values of `from` always convert to `to` without loss, so old segments can be
/// read in the new type.
fn widens(from: &ColumnType, to: &ColumnType) -> bool {
    use ColumnType as T;
    let int_rank = |t: &T| match t {
        T::TinyInt => Some(1),
        T::SmallInt => Some(2),
        T::Int => Some(3),
        T::BigInt => Some(4),
        T::LargeInt => Some(5),
        _ => None,
    };
    // Characters the longest value of an integer type prints as.
    let int_width = |t: &T| match t {
        T::TinyInt => Some(4),
        T::SmallInt => Some(6),
        T::Int => Some(11),
        T::BigInt => Some(20),
        T::LargeInt => Some(40),
        _ => None,
    };
    match (from, to) {
        _ if from == to => true,
        (a, b) if int_rank(a).is_some() && int_rank(b).is_some() => int_rank(a) <= int_rank(b),
        (a, T::Varchar { len }) if int_width(a).is_some() => int_width(a) <= Some(*len),
        (a, T::String) if int_rank(a).is_some() => true,
        // Exactly representable: 24 and 53 bits of mantissa.
        (T::TinyInt | T::SmallInt, T::Float) => true,
        (T::TinyInt | T::SmallInt | T::Int | T::Float, T::Double) => true,
        (T::Varchar { len: a }, T::Varchar { len: b }) => a <= b,
        (T::Char { len: a }, T::Varchar { len: b }) => a <= b,
        (T::Varchar { .. } | T::Char { .. }, T::String) => true,
        (
            T::Decimal {
                precision: p1,
                scale: s1,
            },
            T::Decimal {
                precision: p2,
                scale: s2,
            },
        ) => s1 == s2 && p1 <= p2,
        (T::DateTime { precision: a }, T::DateTime { precision: b }) => a <= b,
        _ => false,
    }
}

/// Where value column `name` may go: FIRST is before the keys, AFTER a key column is among
/// them unless it is the last key.
fn insert_at(columns: &[Column], position: &Option<ColumnPosition>) -> Result<usize> {
    match position {
        None => Ok(columns.len()),
        Some(ColumnPosition::First) => Err(analysis("Can not add value column before key column")),
        Some(ColumnPosition::After(after)) => {
            let i = columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(after))
                .ok_or_else(|| analysis(format!("Column[{after}] does not exists")))?;
            if columns.get(i + 1).is_some_and(|c| c.is_key) {
                return Err(analysis("Can not add value column before key column"));
            }
            Ok(i + 1)
        }
    }
}

/// Where a key column goes: keys stay a prefix of the schema, so after the given key
/// column, or first, else after the last key.
fn key_insert_at(columns: &[Column], position: &Option<ColumnPosition>) -> Result<usize> {
    match position {
        None => Ok(columns.iter().take_while(|x| x.is_key).count()),
        Some(ColumnPosition::First) => Ok(0),
        Some(ColumnPosition::After(after)) => {
            let i = columns
                .iter()
                .position(|x| x.name.eq_ignore_ascii_case(after))
                .ok_or_else(|| analysis(format!("Column[{after}] does not exists")))?;
            if !columns[i].is_key {
                return Err(analysis("Can not add key column after value column"));
            }
            Ok(i + 1)
        }
    }
}

fn is_distribution_or_partition(table: &Table, name: &str) -> bool {
    let distribution = match &table.distribution {
        Distribution::Hash { columns, .. } => columns.iter().any(|c| c.eq_ignore_ascii_case(name)),
        Distribution::Random { .. } => false,
    };
    let partition = table
        .partitioning
        .iter()
        .flat_map(|p| &p.columns)
        .any(|c| c.eq_ignore_ascii_case(name));
    distribution || partition
}

fn in_bloom_filter(table: &Table, name: &str) -> bool {
    table
        .properties
        .get("bloom_filter_columns")
        .is_some_and(|v| v.split(',').any(|c| c.trim().eq_ignore_ascii_case(name)))
}

/// Whether `table`'s data can be rewritten by a schema change job: DUPLICATE KEY tables,
/// and AGGREGATE KEY tables whose values merge the same in any order (the job builds the
/// rows of every version into one rowset, losing which of two REPLACE values is newer).
fn rewritable(table: &Table) -> Result<()> {
    match table.keys_type {
        KeysType::Duplicate => Ok(()),
        KeysType::Aggregate => match table.columns.iter().find(|c| is_replace(c)) {
            Some(c) => Err(heavy(&format!(
                "rewriting the keys of an AGGREGATE KEY table with {} column {}",
                c.aggregation.as_deref().unwrap_or_default(),
                c.name
            ))),
            None => Ok(()),
        },
        KeysType::Unique => Err(heavy("rewriting the keys of a UNIQUE KEY table")),
    }
}

fn is_replace(c: &Column) -> bool {
    c.aggregation.as_deref().is_some_and(|a| {
        a.eq_ignore_ascii_case("REPLACE") || a.eq_ignore_ascii_case("REPLACE_IF_NOT_NULL")
    })
}

/// The columns after `op`, checked; `rewrite` is set when the change needs the data
/// rewritten (key columns: a background schema change job, see [`rewritable`]).
fn new_columns(table: &Table, op: &AlterTableOp, rewrite: &mut bool) -> Result<Vec<Column>> {
    let mut columns = table.columns.clone();
    match op {
        AlterTableOp::AddColumns {
            columns: defs,
            position,
        } => {
            // Where the next added value / key column goes.
            let (mut next_value, mut next_key) = (None, None);
            for def in defs {
                if columns
                    .iter()
                    .any(|c| c.name.eq_ignore_ascii_case(&def.name))
                {
                    return Err(analysis(format!("Duplicate column name '{}'", def.name)));
                }
                if table.dropped_columns.contains(&def.name.to_lowercase()) {
                    return Err(FeError::NotSupported(format!(
                        "adding column {} again after it was dropped: older segments still hold its old values (segments find columns by name); use another name",
                        def.name
                    )));
                }
                if def.key {
                    rewritable(table)?;
                }
                let mut c = column_from_def(def, table.keys_type)?;
                if table.keys_type == KeysType::Aggregate && !c.is_key && c.aggregation.is_none() {
                    return Err(analysis(format!(
                        "Can not add column which is not aggregated in aggregate key table: {}",
                        c.name
                    )));
                }
                if !c.nullable && c.default.is_none() {
                    return Err(analysis(format!(
                        "Can not add NOT NULL column {} without a default value: rows loaded before it need one",
                        c.name
                    )));
                }
                c.fill_value = fill_value(&c.default);
                if c.is_key {
                    *rewrite = true;
                    let at = match next_key {
                        Some(at) => at,
                        None => key_insert_at(&columns, position)?,
                    };
                    columns.insert(at, c);
                    next_key = Some(at + 1);
                    next_value = next_value.map(|v: usize| v + 1);
                } else {
                    let at = match next_value {
                        Some(at) => at,
                        None => insert_at(&columns, position)?,
                    };
                    columns.insert(at, c);
                    next_value = Some(at + 1);
                }
            }
        }
        AlterTableOp::DropColumn { name } => {
            let i = columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(name))
                .ok_or_else(|| analysis(format!("Column does not exists: {name}")))?;
            if columns[i].is_key {
                match table.keys_type {
                    KeysType::Unique => {
                        return Err(analysis("Can not drop key column in UNIQUE KEY table"))
                    }
                    KeysType::Aggregate if table.columns.iter().any(is_replace) => {
                        return Err(analysis(
                            "Can not drop key column when table has value column with REPLACE aggregation method",
                        ))
                    }
                    _ => rewritable(table)?,
                }
            }
            if is_distribution_or_partition(table, name) {
                return Err(analysis(format!(
                    "Can not drop partition or distribution column : {name}"
                )));
            }
            if in_bloom_filter(table, name) {
                return Err(analysis(format!(
                    "Can not drop column {name}: it is in bloom_filter_columns"
                )));
            }
            if columns.iter().filter(|c| !c.is_key).count() == 1
                && table.keys_type != KeysType::Duplicate
            {
                return Err(analysis(format!(
                    "Can not drop the last value column of a {} table",
                    table.keys_type.sql()
                )));
            }
            if columns[i].is_key {
                if columns.iter().filter(|c| c.is_key).count() == 1 {
                    return Err(analysis("Can not drop the only key column"));
                }
                *rewrite = true;
            }
            columns.remove(i);
        }
        AlterTableOp::ModifyColumn {
            column: def,
            position,
        } => {
            let i = columns
                .iter()
                .position(|c| c.name.eq_ignore_ascii_case(&def.name))
                .ok_or_else(|| analysis(format!("Column[{}] does not exists", def.name)))?;
            let old = columns[i].clone();
            let mut c = column_from_def(def, table.keys_type)?;
            c.name = old.name.clone();
            c.is_key = old.is_key;
            c.fill_value = old.fill_value.clone();
            if table.keys_type == KeysType::Aggregate && !old.is_key {
                let same = c.aggregation.as_deref().is_none_or(|a| {
                    old.aggregation
                        .as_deref()
                        .is_some_and(|o| o.eq_ignore_ascii_case(a))
                });
                if !same {
                    return Err(analysis(format!(
                        "Can not change aggregation type of column {}",
                        old.name
                    )));
                }
                c.aggregation = old.aggregation.clone();
            }
            if c.column_type != old.column_type {
                if is_distribution_or_partition(table, &old.name) {
                    return Err(analysis(format!(
                        "Can not modify partition or distribution column : {}",
                        old.name
                    )));
                }
                if table.keys_type == KeysType::Aggregate
                    && !old.is_key
                    && !is_replace(&old)
                    && matches!(
                        c.column_type,
                        ColumnType::Char { .. } | ColumnType::Varchar { .. } | ColumnType::String
                    )
                {
                    // SUM can't add text; MIN / MAX would order it differently.
                    return Err(analysis(format!(
                        "Can not change aggregation column {} to {}",
                        old.name,
                        c.column_type.sql_name().to_uppercase()
                    )));
                }
                if !widens(&old.column_type, &c.column_type) {
                    if widens(&c.column_type, &old.column_type) {
                        // Narrowing: Doris refuses it too.
                        return Err(analysis(format!(
                            "Can not change {} to {}",
                            old.column_type.sql_name().to_uppercase(),
                            c.column_type.sql_name().to_uppercase()
                        )));
                    }
                    return Err(heavy(&format!(
                        "changing column {} from {} to {}",
                        old.name,
                        old.column_type.sql_name().to_uppercase(),
                        c.column_type.sql_name().to_uppercase()
                    )));
                }
                if old.is_key {
                    rewritable(table)?;
                    *rewrite = true;
                }
            }
            if old.nullable && !c.nullable {
                return Err(heavy(&format!(
                    "changing column {} from NULL to NOT NULL",
                    old.name
                )));
            }
            columns.remove(i);
            let at = match position {
                None => i,
                Some(_) if old.is_key => {
                    rewritable(table)?;
                    *rewrite = true;
                    key_insert_at(&columns, position)?
                }
                Some(_) => insert_at(&columns, position)?,
            };
            columns.insert(at, c);
        }
        AlterTableOp::RenameColumn { .. } => {
            return Err(FeError::NotSupported(
                "RENAME COLUMN (segments find their columns by name)".into(),
            ))
        }
        _ => return Err(FeError::Internal("not a column change".into())),
    }
    let keys = columns.iter().take_while(|c| c.is_key).count();
    if columns.iter().filter(|c| c.is_key).count() != keys {
        return Err(analysis(
            "Key columns should be a ordered prefix of the schema",
        ));
    }
    Ok(columns)
}

/// Tells every backend holding a replica of `table` its new schema; all must answer.
async fn push_schema(env: &Arc<Env>, table: &Table) -> Result<()> {
    let schema = tablet_schema(table)?;
    let mut per_backend: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for p in &table.partitions {
        for t in &p.tablets {
            for r in &t.replicas {
                per_backend.entry(r.backend_id).or_default().push(t.id);
            }
        }
    }
    for (backend_id, tablet_ids) in per_backend {
        let (host, port) = crate::cluster::agent_address(env, backend_id).ok_or_else(|| {
            FeError::Backend(format!(
                "backend {backend_id} is not alive: a schema change needs every replica"
            ))
        })?;
        let mut client = env.clients.agent(&host, port)?;
        client
            .update_tablet_schema(UpdateTabletSchemaRequest {
                tablet_ids,
                schema: Some(schema.clone()),
            })
            .await
            .map_err(|e| FeError::Backend(format!("{host}:{port}: {}", e.message())))?;
    }
    Ok(())
}

/// The materialized view of `table` reading column `name`, if any.
fn view_reading<'a>(table: &'a Table, name: &str) -> Option<&'a str> {
    table
        .indexes
        .iter()
        .find(|i| i.columns.iter().any(|c| c.name.eq_ignore_ascii_case(name)))
        .map(|i| i.name.as_str())
}

/// Applies one column change of `ALTER TABLE` to `table`.
pub(super) async fn change_columns(
    env: &Arc<Env>,
    db_id: i64,
    table: &Table,
    op: &AlterTableOp,
) -> Result<()> {
    let touched = match op {
        AlterTableOp::DropColumn { name } => Some(name.as_str()),
        AlterTableOp::ModifyColumn { column, .. } => Some(column.name.as_str()),
        _ => None,
    };
    if let Some((name, view)) = touched.and_then(|n| view_reading(table, n).map(|v| (n, v))) {
        return Err(FeError::Analysis(format!(
            "Can not drop or modify column {name}: materialized view {view} reads it"
        )));
    }
    super::materialized_view::ensure_no_job(table)?;
    let mut rewrite = false;
    let columns = new_columns(table, op, &mut rewrite)?;
    if rewrite {
        return start_rewrite(env, db_id, table, columns).await;
    }
    let mut changed = table.clone();
    changed.columns = columns.clone();
    changed.schema_version = table.schema_version + 1;
    let entry = JournalEntry::ModifySchema {
        db_id,
        table_id: table.id,
        columns,
        schema_version: changed.schema_version,
    };
    if matches!(op, AlterTableOp::DropColumn { .. }) {
        env.log_and_apply(entry)?;
        if let Err(e) = push_schema(env, &changed).await {
            // The column is gone from the catalog; a backend that keeps it only carries
            // data no query reads.
            warn!(table = %table.name, error = %e, "tablets keep the dropped column for now");
        }
    } else {
        push_schema(env, &changed).await?;
        env.log_and_apply(entry)?;
    }
    info!(table = %table.name, schema_version = changed.schema_version, "schema changed");
    Ok(())
}

/// A schema change that rewrites the data: a shadow index with the new columns, written
/// by every load from now on and built from the base in the background (see
/// [`super::materialized_view::run_build`]); when built it replaces the base.
async fn start_rewrite(
    env: &Arc<Env>,
    db_id: i64,
    table: &Table,
    columns: Vec<Column>,
) -> Result<()> {
    let fills = columns
        .iter()
        .map(|c| {
            if table.column(&c.name).is_some() {
                None
            } else {
                fill_value(&c.default)
            }
        })
        .collect();
    let key_columns = columns
        .iter()
        .filter(|c| c.is_key)
        .map(|c| c.name.clone())
        .collect();
    let id = env.allocate_id()?;
    let index = MaterializedIndex {
        id,
        name: format!("__schema_change_{id}"),
        columns,
        keys_type: table.keys_type,
        key_columns,
        state: IndexState::Building,
        // Set by `add_index`.
        watershed_txn_id: 0,
        definition: "ALTER TABLE".into(),
        create_time_ms: chrono::Utc::now().timestamp_millis(),
        finish_time_ms: 0,
        schema_change: true,
        fills,
    };
    super::materialized_view::add_index(env, db_id, table, index).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn widening_is_lossless_only() {
        use ColumnType as T;
        assert!(widens(&T::Int, &T::BigInt));
        assert!(widens(&T::TinyInt, &T::LargeInt));
        assert!(!widens(&T::BigInt, &T::Int));
        assert!(widens(&T::Varchar { len: 10 }, &T::Varchar { len: 20 }));
        assert!(!widens(&T::Varchar { len: 20 }, &T::Varchar { len: 10 }));
        // Integers become text when every value fits.
        assert!(widens(&T::Int, &T::Varchar { len: 11 }));
        assert!(!widens(&T::Int, &T::Varchar { len: 10 }));
        assert!(widens(&T::LargeInt, &T::String));
        assert!(!widens(&T::Varchar { len: 20 }, &T::Int));
        assert!(widens(&T::Int, &T::Double));
        assert!(!widens(&T::BigInt, &T::Double));
        assert!(!widens(&T::Int, &T::Float));
        assert!(widens(
            &T::Decimal {
                precision: 10,
                scale: 2
            },
            &T::Decimal {
                precision: 20,
                scale: 2
            }
        ));
        assert!(!widens(
            &T::Decimal {
                precision: 10,
                scale: 2
            },
            &T::Decimal {
                precision: 20,
                scale: 3
            }
        ));
    }
}
