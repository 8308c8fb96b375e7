//! DDL and admin statements: databases, tables (creating tablets on backends), backends
//! and users. Every change is one edit-log entry through [`Env::log_and_apply`].

use std::collections::BTreeMap;
use std::sync::Arc;

use doris_common::types::ColumnType;
use doris_proto::{
    CreateTabletRequest, CreateTabletsRequest, DropTabletRequest, TabletColumn, TabletSchema,
};
use tracing::{info, warn};

use crate::catalog::{
    Aggregation, Backend, Column, ColumnDefault, Distribution, JournalEntry, KeysType, Partition,
    PartitionItem, Replica, Table, Tablet, User, MERGE_ON_WRITE_PROPERTY,
};
use crate::cluster::agent_address;
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::Session;
use crate::planner::catalog::colocate_group;
use crate::sql::ast::{
    AggKind, AlterSystem, ColumnDef, CreateTable, DefaultValue, DistributionDesc, KeysKind,
    TableName, TypeDef, UserIdent,
};

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// The database a statement refers to: explicit, else the session's.
pub fn resolve_db(session: &Session, db: Option<&str>) -> Result<String> {
    match db {
        Some(d) => Ok(d.to_string()),
        None => session.database.clone().ok_or(FeError::NoDatabaseSelected),
    }
}

pub fn create_database(env: &Env, name: &str, if_not_exists: bool) -> Result<QueryOutput> {
    if name.eq_ignore_ascii_case("information_schema") || name.is_empty() {
        return Err(FeError::DatabaseExists(name.to_string()));
    }
    if env.catalog.read().db_by_name(name).is_some() {
        if if_not_exists {
            return Ok(QueryOutput::ok());
        }
        return Err(FeError::DatabaseExists(name.to_string()));
    }
    let id = env.allocate_id()?;
    env.log_and_apply(JournalEntry::CreateDatabase {
        id,
        name: name.to_string(),
        create_time_ms: now_ms(),
    })?;
    Ok(QueryOutput::ok())
}

pub async fn drop_database(
    env: &Arc<Env>,
    session: &mut Session,
    name: &str,
    if_exists: bool,
) -> Result<QueryOutput> {
    let (db_id, tables) = {
        let catalog = env.catalog.read();
        match catalog.db_by_name(name) {
            Some(db) => (db.id, db.tables.values().cloned().collect::<Vec<_>>()),
            None if if_exists => return Ok(QueryOutput::ok()),
            None => return Err(FeError::DropUnknownDatabase(name.to_string())),
        }
    };
    env.log_and_apply(JournalEntry::DropDatabase { id: db_id })?;
    for t in &tables {
        drop_tablets(env, t).await;
    }
    if session.database.as_deref() == Some(name) {
        session.database = None;
    }
    Ok(QueryOutput::ok())
}

pub async fn drop_table(
    env: &Arc<Env>,
    session: &Session,
    name: &TableName,
    if_exists: bool,
) -> Result<QueryOutput> {
    let db_name = resolve_db(session, name.db.as_deref())?;
    let (db_id, table) = {
        let catalog = env.catalog.read();
        let db = catalog
            .db_by_name(&db_name)
            .ok_or_else(|| FeError::UnknownDatabase(db_name.clone()))?;
        match db.table_by_name(&name.table) {
            Some(t) => (db.id, t.clone()),
            None if if_exists => return Ok(QueryOutput::ok()),
            None => return Err(FeError::DropUnknownTable(name.table.clone())),
        }
    };
    env.log_and_apply(JournalEntry::DropTable {
        db_id,
        table_id: table.id,
    })?;
    drop_tablets(env, &table).await;
    Ok(QueryOutput::ok())
}

/// Asks backends to delete a dropped table's tablets (best effort: the catalog no longer
/// references them, so a backend that is down keeps unreachable files until cleaned).
async fn drop_tablets(env: &Arc<Env>, table: &Table) {
    drop_partition_tablets(env, &table.partitions).await;
}

/// [`drop_tablets`] for some partitions.
pub(super) async fn drop_partition_tablets(env: &Arc<Env>, partitions: &[Partition]) {
    let mut per_backend: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for p in partitions {
        for t in p.all_tablets() {
            for r in &t.replicas {
                per_backend.entry(r.backend_id).or_default().push(t.id);
            }
        }
    }
    for (backend_id, tablet_ids) in per_backend {
        let Some((host, port)) = agent_address(env, backend_id) else {
            warn!(
                backend_id,
                "backend unavailable; dropped tablets stay on it"
            );
            continue;
        };
        let result = async {
            let mut c = env.clients.agent(&host, port)?;
            c.drop_tablet(DropTabletRequest { tablet_ids }).await?;
            Ok::<_, FeError>(())
        }
        .await;
        if let Err(e) = result {
            warn!(backend_id, error = %e, "drop tablets failed");
        }
    }
}

fn convert_type(t: &TypeDef, column: &str) -> Result<ColumnType> {
    match t {
        TypeDef::Supported(c) => Ok(c.clone()),
        TypeDef::Unsupported(name) if name.eq_ignore_ascii_case("BITMAP") => Ok(ColumnType::Bitmap),
        TypeDef::Unsupported(name) if name.eq_ignore_ascii_case("HLL") => Ok(ColumnType::Hll),
        TypeDef::Unsupported(name) => Err(FeError::NotSupported(format!(
            "column type {name} (column `{column}`)"
        ))),
    }
}

/// The aggregation of a value column of an AGGREGATE KEY table, checked against its type
/// like Doris does (SUM on numbers; MIN/MAX on numbers, dates and strings).
fn value_aggregation(agg: AggKind, ty: &ColumnType, column: &str) -> Result<Aggregation> {
    let aggregation = match agg {
        AggKind::Sum => Aggregation::Sum,
        AggKind::Min => Aggregation::Min,
        AggKind::Max => Aggregation::Max,
        AggKind::Replace => Aggregation::Replace,
        AggKind::ReplaceIfNotNull => Aggregation::ReplaceIfNotNull,
        AggKind::HllUnion => Aggregation::HllUnion,
        AggKind::BitmapUnion => Aggregation::BitmapUnion,
        AggKind::QuantileUnion => {
            return Err(FeError::NotSupported("aggregation QUANTILE_UNION".into()))
        }
        AggKind::Generic => return Err(FeError::NotSupported("aggregation GENERIC".into())),
    };
    let numeric = matches!(
        ty,
        ColumnType::TinyInt
            | ColumnType::SmallInt
            | ColumnType::Int
            | ColumnType::BigInt
            | ColumnType::LargeInt
            | ColumnType::Float
            | ColumnType::Double
            | ColumnType::Decimal { .. }
    );
    let object = matches!(ty, ColumnType::Bitmap | ColumnType::Hll);
    let compatible = match aggregation {
        Aggregation::Sum => numeric,
        Aggregation::Min | Aggregation::Max => *ty != ColumnType::Boolean && !object,
        Aggregation::Replace | Aggregation::ReplaceIfNotNull => !object,
        Aggregation::BitmapUnion => *ty == ColumnType::Bitmap,
        Aggregation::HllUnion => *ty == ColumnType::Hll,
    };
    if !compatible {
        return Err(FeError::Analysis(format!(
            "Aggregate type {} is not compatible with primitive type {} (column `{column}`)",
            aggregation.name(),
            ty.sql_name().to_uppercase()
        )));
    }
    Ok(aggregation)
}

/// AGGREGATE KEY tables: key columns have no aggregation, every other column has one.
fn check_aggregate_columns(columns: &[Column]) -> Result<()> {
    for c in columns {
        match (c.is_key, &c.aggregation) {
            (true, Some(_)) => {
                return Err(FeError::Analysis(format!(
                    "Key column can not set aggregation type: {}",
                    c.name
                )))
            }
            (false, None) => {
                return Err(FeError::Analysis(format!(
                    "AGG_KEYS table should specify aggregate type for non-key column[{}]",
                    c.name
                )))
            }
            _ => {}
        }
    }
    Ok(())
}

/// AGGREGATE and UNIQUE KEY tables: partition columns are key columns, so rows with equal
/// keys share a partition and its version sequence (the newest row is the highest version).
fn check_aggregate_partitioning(columns: &[Column], partition_columns: &[String]) -> Result<()> {
    for p in partition_columns {
        if columns
            .iter()
            .any(|c| c.name.eq_ignore_ascii_case(p) && !c.is_key)
        {
            return Err(FeError::Analysis(
                "The partition column could not be aggregated column".into(),
            ));
        }
    }
    Ok(())
}

/// UNIQUE KEY tables: rows with equal keys must land in the same tablet, so the table is
/// hash-distributed on key columns.
fn check_unique_distribution(columns: &[Column], distribution: &Distribution) -> Result<()> {
    if let Distribution::Random { .. } = distribution {
        return Err(FeError::Analysis(
            "Random distribution for unique key table is unsupported".into(),
        ));
    }
    check_aggregate_distribution(columns, distribution)
}

/// AGGREGATE KEY tables: rows with equal keys must land in the same tablet for REPLACE to
/// know which is newest, so hash distribution is on key columns only and random
/// distribution is refused when a column is REPLACE / REPLACE_IF_NOT_NULL (as in Doris).
fn check_aggregate_distribution(columns: &[Column], distribution: &Distribution) -> Result<()> {
    match distribution {
        Distribution::Hash { columns: cols, .. } => {
            for d in cols {
                if columns
                    .iter()
                    .any(|c| c.name.eq_ignore_ascii_case(d) && !c.is_key)
                {
                    return Err(FeError::Analysis(format!(
                        "Distribution column[{d}] is not key column"
                    )));
                }
            }
        }
        Distribution::Random { .. } => {
            let replace = columns.iter().any(|c| {
                matches!(
                    c.aggregation.as_deref().and_then(Aggregation::from_name),
                    Some(Aggregation::Replace | Aggregation::ReplaceIfNotNull)
                )
            });
            if replace {
                return Err(FeError::Analysis(
                    "Create aggregate keys table with value columns of which aggregate type is REPLACE or REPLACE_IF_NOT_NULL should not contain random distribution desc".into(),
                ));
            }
        }
    }
    Ok(())
}

fn replication_num(props: &BTreeMap<String, String>, alive: usize) -> Result<usize> {
    if let Some(v) = props.get("replication_num") {
        return v
            .trim()
            .parse()
            .ok()
            .filter(|n: &usize| *n >= 1)
            .ok_or_else(|| FeError::Analysis(format!("Invalid replication_num: {v}")));
    }
    if let Some(v) = props.get("replication_allocation") {
        // "tag.location.default: 3"
        return v
            .rsplit(':')
            .next()
            .and_then(|n| n.trim().parse().ok())
            .filter(|n: &usize| *n >= 1)
            .ok_or_else(|| FeError::Analysis(format!("Invalid replication_allocation: {v}")));
    }
    // Doris defaults to 3 and then fails on small clusters; use what the cluster can hold.
    Ok(alive.clamp(1, 3))
}

/// A column definition of CREATE TABLE or ALTER TABLE ADD / MODIFY COLUMN, checked for a
/// table of `keys_type` (aggregations only in AGGREGATE KEY tables).
pub(super) fn column_from_def(c: &ColumnDef, keys_type: KeysType) -> Result<Column> {
    if c.auto_increment {
        return Err(FeError::NotSupported(format!(
            "AUTO_INCREMENT column `{}`",
            c.name
        )));
    }
    let column_type = convert_type(&c.data_type, &c.name)?;
    let aggregation = match c.agg {
        None => None,
        Some(agg) if keys_type != KeysType::Aggregate => {
            return Err(FeError::Analysis(format!(
                "column `{}` has aggregation {agg:?}, only AGGREGATE KEY tables allow it",
                c.name
            )));
        }
        Some(agg) => Some(value_aggregation(agg, &column_type, &c.name)?),
    };
    let default = c.default.as_ref().map(|d| match d {
        DefaultValue::Null => ColumnDefault::Null,
        DefaultValue::Literal(s) => ColumnDefault::Literal(s.clone()),
        DefaultValue::CurrentTimestamp => ColumnDefault::CurrentTimestamp,
        DefaultValue::CurrentDate => ColumnDefault::CurrentDate,
    });
    let nullable = c.nullable.unwrap_or(true);
    if default == Some(ColumnDefault::Null) && !nullable {
        return Err(FeError::Analysis(format!(
            "Can not set null default value to non nullable column: {}",
            c.name
        )));
    }
    Ok(Column {
        name: c.name.clone(),
        column_type,
        nullable,
        is_key: c.key,
        aggregation: aggregation.map(|a| a.name().to_string()),
        default,
        comment: c.comment.clone().unwrap_or_default(),
        fill_value: None,
    })
}

pub async fn create_table(
    env: &Arc<Env>,
    session: &Session,
    ct: CreateTable,
) -> Result<QueryOutput> {
    if ct.as_select.is_some() {
        return Err(FeError::NotSupported("CREATE TABLE ... AS SELECT".into()));
    }
    if ct.like.is_some() {
        return Err(FeError::NotSupported("CREATE TABLE ... LIKE".into()));
    }
    if let Some(engine) = &ct.engine {
        if !engine.eq_ignore_ascii_case("olap") {
            return Err(FeError::NotSupported(format!("ENGINE = {engine}")));
        }
    }
    let db_name = resolve_db(session, ct.name.db.as_deref())?;
    let db_id = {
        let catalog = env.catalog.read();
        let db = catalog
            .db_by_name(&db_name)
            .ok_or_else(|| FeError::UnknownDatabase(db_name.clone()))?;
        if db.table_by_name(&ct.name.table).is_some() {
            if ct.if_not_exists {
                return Ok(QueryOutput::ok());
            }
            return Err(FeError::TableExists(ct.name.table.clone()));
        }
        db.id
    };
    if ct.columns.is_empty() {
        return Err(FeError::Analysis(
            "A table must have at least one column".into(),
        ));
    }
    // Without a keys clause, aggregations make it an AGGREGATE KEY table (as in Doris).
    let keys_kind = ct.keys.as_ref().map_or_else(
        || {
            if ct.columns.iter().any(|c| c.agg.is_some()) {
                KeysKind::Aggregate
            } else {
                KeysKind::Duplicate
            }
        },
        |k| k.kind,
    );
    let keys_type = match keys_kind {
        KeysKind::Duplicate => KeysType::Duplicate,
        KeysKind::Aggregate => KeysType::Aggregate,
        KeysKind::Unique => KeysType::Unique,
    };
    let mut columns = Vec::with_capacity(ct.columns.len());
    for c in &ct.columns {
        if columns
            .iter()
            .any(|x: &Column| x.name.eq_ignore_ascii_case(&c.name))
        {
            return Err(FeError::Analysis(format!(
                "Duplicate column name '{}'",
                c.name
            )));
        }
        columns.push(column_from_def(c, keys_type)?);
    }
    // Key columns: declared; for an aggregate table without a keys clause the columns
    // without aggregation; else the first column(s) like Doris (up to 3, before any string
    // column after the first).
    let key_columns: Vec<String> = match &ct.keys {
        Some(k) => k.columns.clone(),
        None if keys_type == KeysType::Aggregate => columns
            .iter()
            .filter(|c| c.aggregation.is_none())
            .map(|c| c.name.clone())
            .collect(),
        None => {
            let mut keys = Vec::new();
            for c in columns.iter().take(3) {
                keys.push(c.name.clone());
                if matches!(
                    c.column_type,
                    ColumnType::Varchar { .. } | ColumnType::String | ColumnType::Char { .. }
                ) {
                    break;
                }
            }
            keys
        }
    };
    for (i, k) in key_columns.iter().enumerate() {
        match columns.get(i) {
            Some(c) if c.name.eq_ignore_ascii_case(k) => {}
            _ => {
                if !columns.iter().any(|c| c.name.eq_ignore_ascii_case(k)) {
                    return Err(FeError::Analysis(format!("Key column[{k}] doesn't exist.")));
                }
                return Err(FeError::Analysis(format!(
                    "Key columns should be a ordered prefix of the schema. KeyColumns[{}] (starts from zero) is {}, but corresponding column is {} in the previous columns declaration.",
                    i,
                    k,
                    columns.get(i).map_or("", |c| c.name.as_str())
                )));
            }
        }
    }
    for c in columns.iter_mut() {
        c.is_key = key_columns.iter().any(|k| k.eq_ignore_ascii_case(&c.name));
        if c.is_key && matches!(c.column_type, ColumnType::Bitmap | ColumnType::Hll) {
            return Err(FeError::Analysis(format!(
                "Key column can not set complex type:{}",
                c.name
            )));
        }
    }
    if keys_type == KeysType::Aggregate {
        check_aggregate_columns(&columns)?;
    }
    if keys_type != KeysType::Duplicate {
        if let Some(p) = &ct.partition {
            check_aggregate_partitioning(&columns, &p.columns)?;
        }
    }
    let default_buckets = env.config.autobucket_default_buckets.max(1);
    let distribution = match &ct.distribution {
        Some(DistributionDesc::Hash {
            columns: cols,
            buckets,
        }) => {
            for d in cols {
                let Some(c) = columns.iter().find(|c| c.name.eq_ignore_ascii_case(d)) else {
                    return Err(FeError::Analysis(format!(
                        "Distribution column[{d}] is not found."
                    )));
                };
                if matches!(c.column_type, ColumnType::Float | ColumnType::Double) {
                    return Err(FeError::Analysis(format!(
                        "Floating point type column can not be distribution column: {d}"
                    )));
                }
            }
            Distribution::Hash {
                columns: cols.clone(),
                buckets: buckets.unwrap_or(default_buckets),
                auto: buckets.is_none(),
            }
        }
        Some(DistributionDesc::Random { buckets }) => Distribution::Random {
            buckets: buckets.unwrap_or(default_buckets),
            auto: buckets.is_none(),
        },
        None => Distribution::Random {
            buckets: default_buckets,
            auto: true,
        },
    };
    match keys_type {
        KeysType::Aggregate => check_aggregate_distribution(&columns, &distribution)?,
        KeysType::Unique => check_unique_distribution(&columns, &distribution)?,
        KeysType::Duplicate => {}
    }
    let buckets = distribution.buckets();
    if buckets == 0 || buckets > 65_535 {
        return Err(FeError::Analysis(format!(
            "Invalid bucket number: {buckets}"
        )));
    }
    // Partitions: declared ones, else one named after the table.
    let (partitioning, partition_defs) = match &ct.partition {
        Some(desc) => {
            let (p, defs) = super::partition::analyze(desc, &columns)?;
            let defs: Vec<(String, Option<PartitionItem>)> =
                defs.into_iter().map(|(n, item)| (n, Some(item))).collect();
            (Some(p), defs)
        }
        None => (None, vec![(ct.name.table.clone(), None)]),
    };
    let mut properties: BTreeMap<String, String> = ct.properties.iter().cloned().collect();
    if keys_type == KeysType::Unique {
        let mow = properties
            .entry(MERGE_ON_WRITE_PROPERTY.to_string())
            .or_insert_with(|| "true".to_string());
        if !mow.eq_ignore_ascii_case("true") && !mow.eq_ignore_ascii_case("false") {
            return Err(FeError::Analysis(format!(
                "Invalid {MERGE_ON_WRITE_PROPERTY} value: {mow}, should be true or false"
            )));
        }
        *mow = mow.to_ascii_lowercase();
    } else if properties.contains_key(MERGE_ON_WRITE_PROPERTY) {
        return Err(FeError::Analysis(format!(
            "{MERGE_ON_WRITE_PROPERTY} property only support unique key table"
        )));
    }
    let mut alive = env.alive_backends();
    if alive.len() < 3 && alive.len() < env.catalog.read().backends.len() {
        // Right after a restart no heartbeat may have reached the backends yet.
        crate::cluster::heartbeat::heartbeat_all(env).await;
        alive = env.alive_backends();
    }
    let replicas = replication_num(&properties, alive.len())?;
    // A colocated table puts bucket i of every partition on the backends of bucket i of
    // the group's other tables (or, for the group's first table, of its first partition).
    let colocated = colocate_placement(env, db_id, &properties, &distribution, &columns, replicas)?;
    let mut bucket_backends: Vec<Vec<i64>> = colocated.unwrap_or_default();
    if colocate_group(&db_name, &properties).is_some() && bucket_backends.is_empty() {
        let mut placement = Placement::new(env, &alive);
        bucket_backends = (0..buckets).map(|_| placement.next(replicas)).collect();
    }
    let ids = env.allocate_ids(2)?;
    let (table_id, index_id) = (ids, ids + 1);
    let partitions = plan_partitions(
        env,
        partition_defs,
        index_id,
        (buckets, replicas),
        &bucket_backends,
    )?;
    let n_partitions = partitions.len();
    let table = Table {
        id: table_id,
        name: ct.name.table.clone(),
        columns,
        keys_type,
        key_columns,
        distribution,
        partitioning,
        partitions,
        properties,
        comment: ct.comment.clone().unwrap_or_default(),
        create_time_ms: now_ms(),
        schema_version: 0,
        indexes: Vec::new(),
        alter_jobs: Vec::new(),
        dropped_columns: Vec::new(),
    };
    check_bloom_filter(&table)?;
    super::dynamic_partition::check_table(&table, &table.properties)?;
    for (k, v) in &table.properties {
        super::dynamic_partition::check_property(k, v)?;
    }
    create_tablets(env, &table).await?;
    env.log_and_apply(JournalEntry::CreateTable {
        db_id,
        table: Box::new(table.clone()),
    })?;
    super::dynamic_partition::schedule_table(env, &db_name, db_id, &table).await?;
    info!(db = %db_name, table = %ct.name.table, partitions = n_partitions, buckets, replicas, "table created");
    Ok(QueryOutput::ok())
}

pub(super) fn tablet_schema(table: &Table) -> Result<TabletSchema> {
    let columns = table
        .storage_columns()
        .iter()
        .map(|c| {
            Ok(TabletColumn {
                name: c.name.clone(),
                column_type: serde_json::to_string(&c.column_type)
                    .map_err(|e| FeError::Internal(e.to_string()))?,
                nullable: c.nullable,
                is_key: c.is_key,
                aggregation: match table.keys_type {
                    KeysType::Aggregate => c.aggregation.clone().unwrap_or_default(),
                    _ => String::new(),
                },
                fill_value: c.fill_value.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TabletSchema {
        keys_type: table.keys_type.proto(),
        columns,
        schema_version: table.schema_version,
        merge_on_write: table.merge_on_write(),
        bloom_filter_columns: bloom_filter_columns(table),
        bloom_filter_fpp: table
            .properties
            .get("bloom_filter_fpp")
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0.0),
    })
}

/// The `bloom_filter_columns` property as column names.
fn bloom_filter_columns(table: &Table) -> Vec<String> {
    table
        .properties
        .get("bloom_filter_columns")
        .map(|v| {
            v.split(',')
                .map(|c| c.trim().trim_matches('`').to_string())
                .filter(|c| !c.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Doris's rules for `bloom_filter_columns` and `bloom_filter_fpp`.
fn check_bloom_filter(table: &Table) -> Result<()> {
    for name in bloom_filter_columns(table) {
        let Some(c) = table.column(&name) else {
            return Err(FeError::Analysis(format!(
                "Bloom filter column does not exist in table. invalid column: {name}"
            )));
        };
        if matches!(
            c.column_type,
            ColumnType::TinyInt | ColumnType::Float | ColumnType::Double | ColumnType::Boolean
        ) {
            return Err(FeError::Analysis(format!(
                "{} is not supported in bloom filter index. invalid column: {name}",
                c.column_type.sql_name().to_uppercase()
            )));
        }
        if table.keys_type == KeysType::Aggregate && !c.is_key {
            return Err(FeError::Analysis(format!(
                "Bloom filter index should only be used in columns of UNIQUE_KEYS/DUP_KEYS table or key columns of AGG_KEYS table. invalid column: {name}"
            )));
        }
    }
    if let Some(v) = table.properties.get("bloom_filter_fpp") {
        match v.trim().parse::<f64>() {
            Ok(f) if (0.0001..=0.05).contains(&f) => {}
            _ => {
                return Err(FeError::Analysis(format!(
                    "Bloom filter fpp should in [0.0001, 0.05], got {v}"
                )))
            }
        }
    }
    Ok(())
}

/// For a table joining colocation group `colocate_with` (see [`colocate_group`]): the
/// backends of each bucket of the group's existing tables, after checking the
/// table fits the group (same bucket count, replication and distribution column types).
/// `None` when the property is absent or the group has no table yet.
fn colocate_placement(
    env: &Env,
    db_id: i64,
    properties: &BTreeMap<String, String>,
    distribution: &Distribution,
    columns: &[Column],
    replicas: usize,
) -> Result<Option<Vec<Vec<i64>>>> {
    let catalog = env.catalog.read();
    let Some(db) = catalog.databases.get(&db_id) else {
        return Ok(None);
    };
    let Some(group) = colocate_group(&db.name, properties) else {
        return Ok(None);
    };
    let Distribution::Hash {
        columns: dist_cols,
        buckets,
        ..
    } = distribution
    else {
        return Err(FeError::Analysis(
            "Colocate tables must be distributed by hash".into(),
        ));
    };
    let types = |cols: &[Column], names: &[String]| -> Vec<ColumnType> {
        names
            .iter()
            .filter_map(|n| cols.iter().find(|c| c.name.eq_ignore_ascii_case(n)))
            .map(|c| c.column_type.clone())
            .collect()
    };
    let member = catalog.databases.values().find_map(|d| {
        d.tables
            .values()
            .find(|t| colocate_group(&d.name, &t.properties).as_ref() == Some(&group))
    });
    let Some(member) = member else {
        return Ok(None);
    };
    let Distribution::Hash {
        columns: member_cols,
        buckets: member_buckets,
        ..
    } = &member.distribution
    else {
        return Ok(None);
    };
    if member_buckets != buckets {
        return Err(FeError::Analysis(format!(
            "Colocate tables must have same bucket num: {member_buckets}"
        )));
    }
    if types(columns, dist_cols) != types(&member.columns, member_cols) {
        return Err(FeError::Analysis(format!(
            "Colocate tables distribution columns must have the same data type: {}",
            member_cols.join(", ")
        )));
    }
    let Some(first) = member.partitions.first() else {
        return Ok(None);
    };
    let placement: Vec<Vec<i64>> = first
        .tablets
        .iter()
        .map(|t| t.replicas.iter().map(|r| r.backend_id).collect())
        .collect();
    if placement.first().is_some_and(|b| b.len() != replicas) {
        return Err(FeError::Analysis(format!(
            "Colocate tables must have same replication num: {}",
            placement.first().map_or(0, Vec::len)
        )));
    }
    Ok(Some(placement))
}

/// Chooses backends for new tablets: each replica of a tablet on a different backend, each
/// tablet on the backends holding the fewest tablets so far (then the least data), so a
/// table's buckets spread evenly over the cluster.
struct Placement {
    /// (tablets, data bytes, backend id) of every alive backend.
    load: Vec<(usize, i64, i64)>,
}

impl Placement {
    fn new(env: &Env, alive: &[i64]) -> Self {
        let tablets = env.catalog.read().tablets_per_backend();
        let states = env.backend_state.read();
        let load = alive
            .iter()
            .map(|id| {
                let bytes = states.get(id).map_or(0, |s| s.data_used_bytes);
                (tablets.get(id).copied().unwrap_or(0), bytes, *id)
            })
            .collect();
        Self { load }
    }

    /// The backends of the next tablet's `replicas` replicas.
    fn next(&mut self, replicas: usize) -> Vec<i64> {
        self.load.sort_unstable();
        self.load
            .iter_mut()
            .take(replicas)
            .map(|(tablets, _, id)| {
                *tablets += 1;
                *id
            })
            .collect()
    }
}

/// `defs` as partitions of `buckets` buckets with `replicas` replicas each: ids allocated,
/// bucket i on `bucket_backends[i]` when given (colocation), else on the least loaded alive
/// backends. Nothing is created on the backends yet.
pub(super) fn plan_partitions(
    env: &Env,
    defs: Vec<(String, Option<PartitionItem>)>,
    index_id: i64,
    (buckets, replicas): (u32, usize),
    bucket_backends: &[Vec<i64>],
) -> Result<Vec<Partition>> {
    let alive = env.alive_backends();
    if alive.len() < replicas {
        return Err(FeError::Analysis(format!(
            "Failed to find enough backend, please check the replication num,replication tag and storage medium and avail capacity of backends.\nCreate failed replications:\nreplication tag: {{\"location\" : \"default\"}}, replication num: {replicas}, storage medium: HDD ({} alive backend(s))",
            alive.len()
        )));
    }
    let mut placement = Placement::new(env, &alive);
    let per_partition = 1 + i64::from(buckets) * (1 + replicas as i64);
    let mut next = env.allocate_ids(defs.len() as i64 * per_partition)?;
    let mut take_id = || {
        let id = next;
        next += 1;
        id
    };
    let created_ms = now_ms();
    Ok(defs
        .into_iter()
        .map(|(name, item)| {
            let id = take_id();
            let tablets = (0..buckets as usize)
                .map(|bucket| {
                    let backends = match bucket_backends.get(bucket) {
                        Some(b) => b.clone(),
                        None => placement.next(replicas),
                    };
                    Tablet {
                        id: take_id(),
                        replicas: backends
                            .into_iter()
                            .map(|b| Replica {
                                id: take_id(),
                                backend_id: b,
                            })
                            .collect(),
                    }
                })
                .collect();
            Partition {
                id,
                name,
                index_id,
                visible_version: 1,
                visible_version_time_ms: created_ms,
                next_version: 2,
                tablets,
                item,
                index_tablets: Default::default(),
            }
        })
        .collect())
}

/// Creates every replica of every tablet of `table`'s partitions; on failure removes the
/// ones created.
async fn create_tablets(env: &Arc<Env>, table: &Table) -> Result<()> {
    create_partition_tablets(env, table, &table.partitions).await
}

/// Creates every replica of every tablet of `partitions` (of `table`); on failure removes
/// the ones created.
pub(super) async fn create_partition_tablets(
    env: &Arc<Env>,
    table: &Table,
    partitions: &[Partition],
) -> Result<()> {
    let mut schemas = vec![(None, tablet_schema(table)?)];
    for index in &table.indexes {
        if let Some(t) = table.index_table(index.id) {
            schemas.push((Some(index.id), tablet_schema(&t)?));
        }
    }
    let mut requests: BTreeMap<i64, Vec<CreateTabletRequest>> = BTreeMap::new();
    for p in partitions {
        for (index, schema) in &schemas {
            let tablets = match index {
                None => &p.tablets,
                Some(id) => match p.index_tablets.get(id) {
                    Some(t) => t,
                    None => continue,
                },
            };
            for t in tablets {
                for r in &t.replicas {
                    requests
                        .entry(r.backend_id)
                        .or_default()
                        .push(CreateTabletRequest {
                            tablet_id: t.id,
                            table_id: table.id,
                            partition_id: p.id,
                            index_id: index.unwrap_or(p.index_id),
                            replica_id: r.id,
                            schema: Some(schema.clone()),
                            version: p.visible_version,
                        });
                }
            }
        }
    }
    // One call per backend with all its replicas (a CREATE TABLE may have thousands).
    let calls = requests.into_iter().map(|(backend_id, tablets)| {
        let env = Arc::clone(env);
        async move {
            let (host, port) = agent_address(&env, backend_id)
                .ok_or_else(|| FeError::Backend(format!("backend {backend_id} is not alive")))?;
            let mut c = env.clients.agent(&host, port)?;
            c.create_tablets(CreateTabletsRequest { tablets })
                .await
                .map_err(|s| {
                    let mut why = s.message().to_string();
                    let mut source = std::error::Error::source(&s);
                    while let Some(e) = source {
                        why.push_str(&format!(": {e}"));
                        source = e.source();
                    }
                    FeError::Backend(format!("create tablet on {host}:{port} failed: {why}"))
                })?;
            Ok::<_, FeError>(())
        }
    });
    let results = futures::future::join_all(calls).await;
    if let Some(Err(e)) = results.into_iter().find(|r| r.is_err()) {
        drop_partition_tablets(env, partitions).await;
        return Err(e);
    }
    Ok(())
}

pub async fn alter_system(env: &Arc<Env>, a: AlterSystem) -> Result<QueryOutput> {
    match a {
        AlterSystem::AddBackends(list) => {
            for s in &list {
                let (host, port) = crate::cluster::parse_endpoint(s)?;
                if env
                    .catalog
                    .read()
                    .backend_by_endpoint(&host, port)
                    .is_some()
                {
                    return Err(FeError::Analysis(format!(
                        "Same backend already exists[{host}:{port}]"
                    )));
                }
                let id = env.allocate_id()?;
                env.log_and_apply(JournalEntry::AddBackend {
                    backend: Backend {
                        id,
                        host,
                        heartbeat_port: port,
                    },
                })?;
            }
            crate::cluster::heartbeat::heartbeat_all(env).await;
            Ok(QueryOutput::ok())
        }
        AlterSystem::DropBackends(list) | AlterSystem::DecommissionBackends(list) => {
            for s in &list {
                let (host, port) = crate::cluster::parse_endpoint(s)?;
                let id = env
                    .catalog
                    .read()
                    .backend_by_endpoint(&host, port)
                    .map(|b| b.id)
                    .ok_or_else(|| {
                        FeError::Analysis(format!("backend does not exist[{host}:{port}]"))
                    })?;
                env.log_and_apply(JournalEntry::DropBackend { id })?;
                env.backend_state.write().remove(&id);
            }
            Ok(QueryOutput::ok())
        }
        AlterSystem::AddFollower(endpoint) => {
            crate::ha::membership::add_frontend(env, &endpoint, crate::ha::membership::FOLLOWER)
                .await?;
            Ok(QueryOutput::ok())
        }
        AlterSystem::AddObserver(endpoint) => {
            crate::ha::membership::add_frontend(env, &endpoint, crate::ha::membership::OBSERVER)
                .await?;
            Ok(QueryOutput::ok())
        }
        AlterSystem::DropFollower(endpoint) => {
            crate::ha::membership::drop_frontend(env, &endpoint, crate::ha::membership::FOLLOWER)
                .await?;
            Ok(QueryOutput::ok())
        }
        AlterSystem::DropObserver(endpoint) => {
            crate::ha::membership::drop_frontend(env, &endpoint, crate::ha::membership::OBSERVER)
                .await?;
            Ok(QueryOutput::ok())
        }
    }
}

pub fn create_user(
    env: &Env,
    user: &UserIdent,
    if_not_exists: bool,
    password: Option<&str>,
) -> Result<QueryOutput> {
    let key = User::key(&user.user, &user.host);
    if env.catalog.read().users.contains_key(&key) {
        if if_not_exists {
            return Ok(QueryOutput::ok());
        }
        return Err(FeError::Analysis(format!(
            "Operation CREATE USER failed for {key}"
        )));
    }
    env.log_and_apply(JournalEntry::UpsertUser {
        user: User {
            name: user.user.clone(),
            host: user.host.clone(),
            password_sha1_sha1: password
                .filter(|p| !p.is_empty())
                .map(crate::mysql::password_hash),
        },
    })?;
    Ok(QueryOutput::ok())
}

pub fn drop_user(env: &Env, user: &UserIdent, if_exists: bool) -> Result<QueryOutput> {
    let key = User::key(&user.user, &user.host);
    if !env.catalog.read().users.contains_key(&key) {
        if if_exists {
            return Ok(QueryOutput::ok());
        }
        return Err(FeError::Analysis(format!(
            "Operation DROP USER failed for {key}"
        )));
    }
    env.log_and_apply(JournalEntry::DropUser { key })?;
    Ok(QueryOutput::ok())
}

pub fn set_password(
    env: &Env,
    session: &Session,
    user: Option<&UserIdent>,
    password: &str,
) -> Result<QueryOutput> {
    let (name, host) = match user {
        Some(u) => (u.user.clone(), u.host.clone()),
        None => (session.user.clone(), "%".to_string()),
    };
    env.log_and_apply(JournalEntry::UpsertUser {
        user: User {
            name,
            host,
            password_sha1_sha1: (!password.is_empty())
                .then(|| crate::mysql::password_hash(password)),
        },
    })?;
    Ok(QueryOutput::ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(name: &str, aggregation: Option<Aggregation>) -> Column {
        Column {
            name: name.into(),
            column_type: ColumnType::Int,
            nullable: true,
            is_key: aggregation.is_none(),
            aggregation: aggregation.map(|a| a.name().to_string()),
            default: None,
            comment: String::new(),
            fill_value: None,
        }
    }

    #[test]
    fn aggregate_tables_partition_and_distribute_by_keys() {
        let columns = [
            column("k", None),
            column("s", Some(Aggregation::Sum)),
            column("r", Some(Aggregation::Replace)),
        ];
        assert!(check_aggregate_partitioning(&columns, &["K".into()]).is_ok());
        let err = check_aggregate_partitioning(&columns, &["s".into()]).expect_err("value");
        assert!(
            err.to_string().contains("could not be aggregated column"),
            "{err}"
        );

        let hash = |c: &str| Distribution::Hash {
            columns: vec![c.into()],
            buckets: 1,
            auto: false,
        };
        assert!(check_aggregate_distribution(&columns, &hash("k")).is_ok());
        let err = check_aggregate_distribution(&columns, &hash("r")).expect_err("value");
        assert!(err
            .to_string()
            .contains("Distribution column[r] is not key column"));
        let random = Distribution::Random {
            buckets: 1,
            auto: false,
        };
        assert!(check_aggregate_distribution(&columns, &random).is_err());
        assert!(check_aggregate_distribution(&columns[..2], &random).is_ok());
    }

    #[test]
    fn aggregations_fit_their_column_types() {
        let ok = |agg, ty| value_aggregation(agg, &ty, "c").is_ok();
        assert!(ok(
            AggKind::Sum,
            ColumnType::Decimal {
                precision: 10,
                scale: 2
            }
        ));
        assert!(ok(AggKind::Sum, ColumnType::LargeInt));
        assert!(!ok(AggKind::Sum, ColumnType::Date));
        assert!(!ok(AggKind::Sum, ColumnType::Boolean));
        assert!(ok(AggKind::Max, ColumnType::Varchar { len: 3 }));
        assert!(!ok(AggKind::Min, ColumnType::Boolean));
        assert!(ok(AggKind::Replace, ColumnType::Boolean));
        assert!(ok(AggKind::ReplaceIfNotNull, ColumnType::String));
        assert!(ok(AggKind::HllUnion, ColumnType::Hll));
        assert!(ok(AggKind::BitmapUnion, ColumnType::Bitmap));
        let err = value_aggregation(AggKind::HllUnion, &ColumnType::Int, "c").expect_err("hll");
        assert!(
            err.to_string()
                .contains("Aggregate type HLL_UNION is not compatible with primitive type INT"),
            "{err}"
        );
        assert!(!ok(AggKind::Max, ColumnType::Bitmap));
    }
}
