//! `ALTER TABLE` (partitions, rename, properties, schema change) and `TRUNCATE TABLE`.
//! Partition changes create or drop tablets on the backends and log one journal entry
//! each; they are serialised with the table's load commits by its publish lock, so a
//! partition never changes under a commit that is assigning versions.

use std::sync::Arc;

use tracing::info;

use super::ddl::{create_partition_tablets, drop_partition_tablets, plan_partitions};
use super::show::{fmt_time, lookup_table, s};
use crate::catalog::{JournalEntry, Partition, PartitionItem, Table};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::Session;
use crate::sql::ast::{AlterTableOp, TableName};

/// The table as it is now in the catalog (after earlier operations of the statement).
pub(super) fn current(env: &Env, db_id: i64, table_id: i64) -> Result<Table> {
    env.catalog
        .read()
        .databases
        .get(&db_id)
        .and_then(|d| d.tables.get(&table_id))
        .cloned()
        .ok_or_else(|| FeError::Internal("the table was dropped meanwhile".into()))
}

pub(super) fn db_id_of(env: &Env, db: &str) -> Result<i64> {
    env.catalog
        .read()
        .db_by_name(db)
        .map(|d| d.id)
        .ok_or_else(|| FeError::UnknownDatabase(db.to_string()))
}

/// The bucket placement new partitions of a colocated table must follow (that of its
/// existing partitions); empty otherwise.
fn colocated_buckets(db: &str, table: &Table) -> Vec<Vec<i64>> {
    if crate::planner::catalog::colocate_group(db, &table.properties).is_none() {
        return Vec::new();
    }
    table
        .partitions
        .first()
        .map(|p| {
            p.tablets
                .iter()
                .map(|t| t.replicas.iter().map(|r| r.backend_id).collect())
                .collect()
        })
        .unwrap_or_default()
}

/// New empty partitions for `table`, created on the backends (not yet in the catalog).
pub(super) async fn new_partitions(
    env: &Arc<Env>,
    db: &str,
    table: &Table,
    defs: Vec<(String, Option<PartitionItem>)>,
    buckets: Option<u32>,
) -> Result<Vec<Partition>> {
    let index_id = table
        .partitions
        .first()
        .map_or_else(|| env.allocate_id(), |p| Ok::<_, FeError>(p.index_id))?;
    let buckets = buckets.unwrap_or_else(|| table.distribution.buckets());
    let colocated = colocated_buckets(db, table);
    if !colocated.is_empty() && colocated.len() != buckets as usize {
        return Err(FeError::Analysis(format!(
            "Colocate tables must have same bucket num: {}",
            colocated.len()
        )));
    }
    let replicas = table.replication_num().max(1);
    let mut partitions = plan_partitions(env, defs, index_id, (buckets, replicas), &colocated)?;
    for p in partitions.iter_mut() {
        for index in &table.indexes {
            let tablets = super::materialized_view::plan_index_tablets(env, p)?;
            p.index_tablets.insert(index.id, tablets);
        }
    }
    create_partition_tablets(env, table, &partitions).await?;
    Ok(partitions)
}

pub async fn alter_table(
    env: &Arc<Env>,
    session: &Session,
    name: &TableName,
    ops: Vec<AlterTableOp>,
) -> Result<QueryOutput> {
    let (db, table) = lookup_table(env, session, name)?;
    let db_id = db_id_of(env, &db)?;
    let lock = env.publish_lock(table.id);
    let _guard = lock.lock().await;
    for op in ops {
        let table = current(env, db_id, table.id)?;
        match op {
            AlterTableOp::AddPartition {
                def,
                if_not_exists,
                buckets,
            } => {
                if table
                    .partitions
                    .iter()
                    .any(|p| p.name.eq_ignore_ascii_case(&def.name))
                {
                    if if_not_exists {
                        continue;
                    }
                    return Err(FeError::Analysis(format!(
                        "Duplicate partition name {}",
                        def.name
                    )));
                }
                let item = super::partition::new_partition_item(&table, &def)?;
                add_partitions(
                    env,
                    &db,
                    db_id,
                    &table,
                    vec![(def.name, Some(item))],
                    buckets,
                )
                .await?;
            }
            AlterTableOp::DropPartition { name, if_exists } => {
                let Some(p) = table
                    .partitions
                    .iter()
                    .find(|p| p.name.eq_ignore_ascii_case(&name))
                else {
                    if if_exists {
                        continue;
                    }
                    return Err(FeError::Analysis(format!(
                        "Error in list of partitions to {name}"
                    )));
                };
                if table.partitioning.is_none() {
                    return Err(FeError::Analysis(format!(
                        "Table[{}] is not a partitioned table",
                        table.name
                    )));
                }
                drop_partitions(env, db_id, &table, std::slice::from_ref(p)).await?;
            }
            AlterTableOp::RenamePartition { old, new } => {
                let Some(p) = table.partitions.iter().find(|p| p.name == old) else {
                    return Err(FeError::Analysis(format!(
                        "Partition [{old}] does not exist"
                    )));
                };
                if table.partitioning.is_none() {
                    return Err(FeError::Analysis(format!(
                        "Table[{}] is single partitioned. no need to rename partition name.",
                        table.name
                    )));
                }
                if table.partitions.iter().any(|x| x.name == new) {
                    return Err(FeError::Analysis(format!(
                        "Partition name[{new}] is already used"
                    )));
                }
                env.log_and_apply(JournalEntry::RenamePartition {
                    db_id,
                    table_id: table.id,
                    partition_id: p.id,
                    name: new,
                })?;
            }
            AlterTableOp::Rename { new_name } => {
                let taken = env
                    .catalog
                    .read()
                    .databases
                    .get(&db_id)
                    .is_some_and(|d| d.table_by_name(&new_name).is_some());
                if taken {
                    return Err(FeError::TableExists(new_name));
                }
                env.log_and_apply(JournalEntry::RenameTable {
                    db_id,
                    table_id: table.id,
                    name: new_name,
                })?;
            }
            AlterTableOp::SetProperties(props) => {
                let mut properties = table.properties.clone();
                for (k, v) in props {
                    if k.starts_with("bloom_filter_") {
                        return Err(FeError::NotSupported(format!(
                            "changing {k} of an existing table (it is set at CREATE TABLE)"
                        )));
                    }
                    super::dynamic_partition::check_property(&k, &v)?;
                    properties.insert(k, v);
                }
                super::dynamic_partition::check_table(&table, &properties)?;
                env.log_and_apply(JournalEntry::SetTableProperties {
                    db_id,
                    table_id: table.id,
                    properties,
                })?;
                let table = current(env, db_id, table.id)?;
                super::dynamic_partition::schedule_table(env, &db, db_id, &table).await?;
            }
            op @ (AlterTableOp::AddColumns { .. }
            | AlterTableOp::DropColumn { .. }
            | AlterTableOp::ModifyColumn { .. }
            | AlterTableOp::RenameColumn { .. }) => {
                super::schema_change::change_columns(env, db_id, &table, &op).await?;
            }
        }
    }
    Ok(QueryOutput::ok())
}

/// Creates and logs new partitions of `table`.
pub(super) async fn add_partitions(
    env: &Arc<Env>,
    db: &str,
    db_id: i64,
    table: &Table,
    defs: Vec<(String, Option<PartitionItem>)>,
    buckets: Option<u32>,
) -> Result<()> {
    for partition in new_partitions(env, db, table, defs, buckets).await? {
        info!(table = %table.name, partition = %partition.name, "partition added");
        env.log_and_apply(JournalEntry::AddPartition {
            db_id,
            table_id: table.id,
            partition,
        })?;
    }
    Ok(())
}

/// Logs the drop of `partitions` of `table`, then deletes their tablets.
pub(super) async fn drop_partitions(
    env: &Arc<Env>,
    db_id: i64,
    table: &Table,
    partitions: &[Partition],
) -> Result<()> {
    for p in partitions {
        info!(table = %table.name, partition = %p.name, "partition dropped");
        env.log_and_apply(JournalEntry::DropPartition {
            db_id,
            table_id: table.id,
            partition_id: p.id,
        })?;
    }
    drop_partition_tablets(env, partitions).await;
    Ok(())
}

/// `TRUNCATE TABLE t [PARTITION (...)]`: each chosen partition is replaced by an empty one
/// with the same name and bounds.
pub async fn truncate(
    env: &Arc<Env>,
    session: &Session,
    name: &TableName,
    partitions: &[String],
) -> Result<QueryOutput> {
    let (db, table) = lookup_table(env, session, name)?;
    let db_id = db_id_of(env, &db)?;
    let lock = env.publish_lock(table.id);
    let _guard = lock.lock().await;
    let table = current(env, db_id, table.id)?;
    for n in partitions {
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
    let old: Vec<Partition> = table
        .partitions
        .iter()
        .filter(|p| {
            partitions.is_empty() || partitions.iter().any(|n| n.eq_ignore_ascii_case(&p.name))
        })
        .cloned()
        .collect();
    let defs = old
        .iter()
        .map(|p| (p.name.clone(), p.item.clone()))
        .collect();
    let buckets = old.first().map(|p| p.tablets.len() as u32);
    let fresh = new_partitions(env, &db, &table, defs, buckets).await?;
    for (old_p, partition) in old.iter().zip(fresh) {
        env.log_and_apply(JournalEntry::ReplacePartition {
            db_id,
            table_id: table.id,
            old_id: old_p.id,
            partition,
        })?;
    }
    drop_partition_tablets(env, &old).await;
    info!(table = %table.name, partitions = old.len(), "table truncated");
    Ok(QueryOutput::ok())
}

/// `SHOW ALTER TABLE COLUMN [FROM db]`: schema change jobs, with Doris's columns.
pub fn show_alter_table_column(
    env: &Env,
    session: &Session,
    db: Option<&str>,
) -> Result<QueryOutput> {
    let db = match db.or(session.database.as_deref()) {
        Some(d) => d.to_string(),
        None => return Err(FeError::NoDatabaseSelected),
    };
    let catalog = env.catalog.read();
    let d = catalog
        .db_by_name(&db)
        .ok_or_else(|| FeError::UnknownDatabase(db.clone()))?;
    let mut rows = Vec::new();
    for t in d.tables.values() {
        for j in &t.alter_jobs {
            rows.push(vec![
                s(j.job_id),
                s(&t.name),
                s(fmt_time(j.create_time_ms)),
                s(fmt_time(j.finish_time_ms)),
                s(&t.name),
                s(j.job_id),
                s(t.id),
                s(format!("{}:0", j.schema_version)),
                s(j.watershed_txn_id),
                s(&j.state),
                s(&j.msg),
                s("N/A"),
                s(2592000),
            ]);
        }
        for i in t.indexes.iter().filter(|i| i.schema_change) {
            rows.push(vec![
                s(i.id),
                s(&t.name),
                s(fmt_time(i.create_time_ms)),
                s("NULL"),
                s(&t.name),
                s(i.id),
                s(t.id),
                s(format!("{}:0", t.schema_version + 1)),
                s(i.watershed_txn_id),
                s("RUNNING"),
                s(""),
                s("N/A"),
                s(2592000),
            ]);
        }
    }
    rows.sort_by(|a, b| a[0].cmp(&b[0]));
    QueryOutput::strings(
        &[
            "JobId",
            "TableName",
            "CreateTime",
            "FinishTime",
            "IndexName",
            "IndexId",
            "OriginIndexId",
            "SchemaVersion",
            "TransactionId",
            "State",
            "Msg",
            "Progress",
            "Timeout",
        ],
        rows,
    )
}
