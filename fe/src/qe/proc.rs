//! `SHOW PROC '/path'` (Doris's metadata tree: `/dbs/<db id>/<table id>/partitions/
//! <partition id>/<index id>/<tablet id>`, `/backends`, `/frontends`), `SHOW TABLETS FROM t`
//! and `SHOW TABLET <id>`. Replica versions, row counts, sizes and rowset counts come from
//! the backends' tablet reports.

use std::sync::Arc;

use super::show::{fmt_time, human_bytes, lookup_table, s};
use crate::catalog::{Database, Partition, Table, Tablet};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::Session;
use crate::sql::ast::TableName;

type Rows = Vec<Vec<Option<String>>>;

const TABLET_COLUMNS: [&str; 22] = [
    "TabletId",
    "ReplicaId",
    "BackendId",
    "SchemaHash",
    "Version",
    "LstSuccessVersion",
    "LstFailedVersion",
    "LstFailedTime",
    "LocalDataSize",
    "RemoteDataSize",
    "RowCount",
    "State",
    "LstConsistencyCheckTime",
    "CheckVersion",
    "VersionCount",
    "QueryHits",
    "PathHash",
    "Path",
    "MetaUrl",
    "CompactionStatus",
    "CooldownReplicaId",
    "CooldownMetaId",
];

/// One row per replica of `tablets` (of a partition at `version`), as `SHOW TABLETS` and
/// `SHOW PROC '.../<index id>'` list them.
fn tablet_rows(env: &Env, partition: &Partition, tablets: &[Tablet]) -> Rows {
    let stats = env.tablet_stats.read();
    let states = env.backend_state.read();
    let catalog = env.catalog.read();
    let mut rows = Vec::new();
    for t in tablets {
        for r in &t.replicas {
            let reported = stats.get(t.id).and_then(|s| s.replica(r.backend_id));
            let http = catalog.backends.get(&r.backend_id).map(|b| {
                let port = states.get(&b.id).map_or(0, |st| st.http_port);
                format!("http://{}:{port}", b.host)
            });
            let http = http.unwrap_or_default();
            rows.push(vec![
                s(t.id),
                s(r.id),
                s(r.backend_id),
                s(0),
                s(partition.visible_version),
                s(partition.visible_version),
                s(-1),
                s("NULL"),
                s(reported.map_or(0, |x| x.bytes)),
                s(0),
                s(reported.map_or(0, |x| x.rows)),
                s("NORMAL"),
                s("NULL"),
                s(-1),
                s(reported.map_or(0, |x| x.rowsets)),
                s(0),
                s(0),
                s(""),
                s(format!("{http}/api/meta/header/{}", t.id)),
                s(format!("{http}/api/compaction/show?tablet_id={}", t.id)),
                s(-1),
                s(-1),
            ]);
        }
    }
    rows
}

/// `SHOW TABLETS FROM t [PARTITION (...)] [LIMIT n]`.
pub fn show_tablets(
    env: &Env,
    session: &Session,
    name: &TableName,
    partitions: &[String],
    limit: Option<u64>,
) -> Result<QueryOutput> {
    let (_, table) = lookup_table(env, session, name)?;
    for p in partitions {
        if !table
            .partitions
            .iter()
            .any(|x| x.name.eq_ignore_ascii_case(p))
        {
            return Err(FeError::Analysis(format!(
                "Partition does not exist. name: {p}"
            )));
        }
    }
    let mut rows = Vec::new();
    for p in table.partitions_in_key_order() {
        if partitions.is_empty() || partitions.iter().any(|n| n.eq_ignore_ascii_case(&p.name)) {
            rows.extend(tablet_rows(env, p, &p.tablets));
        }
    }
    rows.truncate(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)));
    QueryOutput::strings(&TABLET_COLUMNS, rows)
}

/// `SHOW TABLET <id>`: where a tablet belongs.
pub fn show_tablet(env: &Env, id: i64) -> Result<QueryOutput> {
    let catalog = env.catalog.read();
    for db in catalog.databases.values() {
        for t in db.tables.values() {
            for p in &t.partitions {
                if let Some(order) = p.tablets.iter().position(|x| x.id == id) {
                    let row = vec![
                        s(&db.name),
                        s(&t.name),
                        s(&p.name),
                        s(&t.name),
                        s(db.id),
                        s(t.id),
                        s(p.id),
                        s(p.index_id),
                        s(true),
                        s(order),
                        s(0),
                        s(format!(
                            "SHOW PROC '/dbs/{}/{}/partitions/{}/{}/{id}';",
                            db.id, t.id, p.id, p.index_id
                        )),
                    ];
                    return QueryOutput::strings(
                        &[
                            "DbName",
                            "TableName",
                            "PartitionName",
                            "IndexName",
                            "DbId",
                            "TableId",
                            "PartitionId",
                            "IndexId",
                            "IsSync",
                            "Order",
                            "QueryHits",
                            "DetailCmd",
                        ],
                        vec![row],
                    );
                }
            }
        }
    }
    Err(FeError::Analysis(format!("Tablet {id} does not exist")))
}

fn not_found(path: &str) -> FeError {
    FeError::Analysis(format!("Proc path '{path}' does not exist"))
}

fn id_of(part: Option<&&str>, path: &str) -> Result<i64> {
    part.and_then(|p| p.parse().ok())
        .ok_or_else(|| FeError::Analysis(format!("Invalid id in proc path '{path}'")))
}

fn nodes(names: &[&str]) -> Result<QueryOutput> {
    QueryOutput::strings(&["Name"], names.iter().map(|n| vec![s(n)]).collect())
}

/// `SHOW PROC '<path>'`.
pub fn show_proc(env: &Arc<Env>, path: &str) -> Result<QueryOutput> {
    let parts: Vec<&str> = path.split('/').filter(|p| !p.is_empty()).collect();
    match parts.as_slice() {
        [] => nodes(&["backends", "dbs", "frontends"]),
        ["backends"] => super::show::backends(env),
        ["frontends"] => super::show::frontends(env),
        ["dbs"] => dbs(env),
        ["dbs", rest @ ..] => {
            let catalog = env.catalog.read();
            let db_id = id_of(rest.first(), path)?;
            let db = catalog
                .databases
                .get(&db_id)
                .ok_or_else(|| not_found(path))?;
            if rest.len() == 1 {
                return tables(env, db);
            }
            let table = db
                .tables
                .get(&id_of(rest.get(1), path)?)
                .ok_or_else(|| not_found(path))?
                .clone();
            drop(catalog);
            table_proc(env, &table, &rest[2..], path)
        }
        _ => Err(not_found(path)),
    }
}

fn dbs(env: &Env) -> Result<QueryOutput> {
    let catalog = env.catalog.read();
    let stats = env.tablet_stats.read();
    let rows = catalog
        .databases
        .values()
        .map(|db| {
            let tablets = db
                .tables
                .values()
                .flat_map(|t| &t.partitions)
                .flat_map(|p| &p.tablets);
            let (mut bytes, mut replicas) = (0u64, 0usize);
            for t in tablets {
                bytes += stats.get(t.id).map_or(0, |s| s.bytes()) * t.replicas.len() as u64;
                replicas += t.replicas.len();
            }
            vec![
                s(db.id),
                s(&db.name),
                s(db.tables.len()),
                s(human_bytes(bytes as i64)),
                s("1024.000 TB"),
                s("NULL"),
                s(replicas),
                s(1_073_741_824),
                s(0),
                s(1000),
                s(fmt_time(db.create_time_ms)),
            ]
        })
        .collect();
    QueryOutput::strings(
        &[
            "DbId",
            "DbName",
            "TableNum",
            "Size",
            "Quota",
            "LastConsistencyCheckTime",
            "ReplicaCount",
            "ReplicaQuota",
            "RunningTransactionNum",
            "TransactionQuota",
            "LastUpdateTime",
        ],
        rows,
    )
}

fn tables(_env: &Env, db: &Database) -> Result<QueryOutput> {
    let rows = db
        .tables
        .values()
        .map(|t| {
            let newest = t
                .partitions
                .iter()
                .max_by_key(|p| p.visible_version_time_ms);
            vec![
                s(t.id),
                s(&t.name),
                s(1),
                s(t.partitioning
                    .as_ref()
                    .map(|p| p.columns.join(", "))
                    .unwrap_or_default()),
                s(t.partitions.len()),
                s("NORMAL"),
                s("OLAP"),
                s("NULL"),
                s(t.partitions
                    .iter()
                    .map(|p| p.tablets.iter().map(|x| x.replicas.len()).sum::<usize>())
                    .sum::<usize>()),
                s(newest.map_or(0, |p| p.visible_version)),
                s(fmt_time(newest.map_or(0, |p| p.visible_version_time_ms))),
                s(0),
                s(fmt_time(
                    newest.map_or(t.create_time_ms, |p| p.visible_version_time_ms),
                )),
            ]
        })
        .collect();
    QueryOutput::strings(
        &[
            "TableId",
            "TableName",
            "IndexNum",
            "PartitionColumnName",
            "PartitionNum",
            "State",
            "Type",
            "LastConsistencyCheckTime",
            "ReplicaCount",
            "VisibleVersion",
            "VisibleVersionTime",
            "RunningTransactionNum",
            "LastUpdateTime",
        ],
        rows,
    )
}

/// Below `/dbs/<db>/<table>`.
fn table_proc(env: &Env, table: &Table, rest: &[&str], path: &str) -> Result<QueryOutput> {
    match rest {
        [] => nodes(&["partitions", "temp_partitions", "indexes", "index_schema"]),
        ["partitions"] => super::show::partitions_of(table, false, None, None, None),
        ["temp_partitions"] => super::show::partitions_of(table, true, None, None, None),
        ["indexes"] | ["index_schema"] => {
            let index_id = table.partitions.first().map_or(0, |p| p.index_id);
            let keys = table.key_columns.join(", ");
            QueryOutput::strings(
                &[
                    "IndexId",
                    "IndexName",
                    "SchemaVersion",
                    "SchemaHash",
                    "ShortKeyColumnCount",
                    "StorageType",
                    "Keys",
                ],
                vec![vec![
                    s(index_id),
                    s(&table.name),
                    s(table.schema_version),
                    s(0),
                    s(table.key_columns.len().min(3)),
                    s("COLUMN"),
                    s(format!("{}({keys})", table.keys_type.sql())),
                ]],
            )
        }
        ["partitions", pid, tail @ ..] => {
            let pid: i64 = pid.parse().map_err(|_| not_found(path))?;
            let p = table
                .partitions
                .iter()
                .find(|p| p.id == pid)
                .ok_or_else(|| not_found(path))?;
            match tail {
                [] => QueryOutput::strings(
                    &["IndexId", "IndexName", "State", "LastConsistencyCheckTime"],
                    vec![vec![s(p.index_id), s(&table.name), s("NORMAL"), s("NULL")]],
                ),
                [index] if index.parse::<i64>().ok() == Some(p.index_id) => {
                    QueryOutput::strings(&TABLET_COLUMNS, tablet_rows(env, p, &p.tablets))
                }
                [index, tablet] if index.parse::<i64>().ok() == Some(p.index_id) => {
                    let t = p
                        .tablets
                        .iter()
                        .find(|t| tablet.parse::<i64>().ok() == Some(t.id))
                        .ok_or_else(|| not_found(path))?;
                    QueryOutput::strings(
                        &TABLET_COLUMNS,
                        tablet_rows(env, p, std::slice::from_ref(t)),
                    )
                }
                _ => Err(not_found(path)),
            }
        }
        _ => Err(not_found(path)),
    }
}
