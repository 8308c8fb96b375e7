//! SHOW statements and DESC, with Doris's column names.

use std::sync::Arc;

use crate::catalog::{ColumnDefault, Distribution, Table};
use crate::env::Env;
use crate::error::{FeError, Result};
use crate::mysql::result::QueryOutput;
use crate::mysql::session::Session;
use crate::sql::ast::TableName;

use super::ddl::resolve_db;

type Rows = Vec<Vec<Option<String>>>;

/// MySQL `LIKE` matching (`%`, `_`, case-insensitive as Doris does for SHOW).
pub fn like_match(pattern: &str, text: &str) -> bool {
    fn rec(p: &[char], t: &[char]) -> bool {
        match p.split_first() {
            None => t.is_empty(),
            Some(('%', rest)) => (0..=t.len()).any(|i| rec(rest, &t[i..])),
            Some(('_', rest)) => !t.is_empty() && rec(rest, &t[1..]),
            Some(('\\', rest)) if !rest.is_empty() => {
                !t.is_empty() && t[0] == rest[0] && rec(&rest[1..], &t[1..])
            }
            Some((c, rest)) => !t.is_empty() && t[0] == *c && rec(rest, &t[1..]),
        }
    }
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    rec(&p, &t)
}

pub(super) fn s(v: impl ToString) -> Option<String> {
    Some(v.to_string())
}

pub(super) fn fmt_time(ms: i64) -> String {
    if ms <= 0 {
        return "NULL".into();
    }
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S")
                .to_string()
        })
        .unwrap_or_default()
}

pub(super) fn human_bytes(b: i64) -> String {
    let b = b.max(0) as f64;
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.3} {}", UNITS[u])
}

pub fn warnings(session: &Session) -> Result<QueryOutput> {
    let rows = session
        .warnings
        .iter()
        .map(|w| vec![s(w.level), s(w.code), s(&w.message)])
        .collect();
    QueryOutput::strings(&["Level", "Code", "Message"], rows)
}

pub fn databases(env: &Env, like: Option<&str>) -> Result<QueryOutput> {
    let mut names: Vec<String> = env
        .catalog
        .read()
        .databases
        .values()
        .map(|d| d.name.clone())
        .collect();
    names.push("information_schema".into());
    names.sort();
    let rows = names
        .into_iter()
        .filter(|n| like.is_none_or(|p| like_match(p, n)))
        .map(|n| vec![Some(n)])
        .collect();
    QueryOutput::strings(&["Database"], rows)
}

fn with_db<T>(env: &Env, db: &str, f: impl FnOnce(&crate::catalog::Database) -> T) -> Result<T> {
    let catalog = env.catalog.read();
    let d = catalog
        .db_by_name(db)
        .ok_or_else(|| FeError::UnknownDatabase(db.to_string()))?;
    Ok(f(d))
}

pub fn tables(
    env: &Env,
    session: &Session,
    db: Option<&str>,
    like: Option<&str>,
    full: bool,
) -> Result<QueryOutput> {
    let db = resolve_db(session, db)?;
    let mut names = if db.eq_ignore_ascii_case(crate::planner::information_schema::NAME) {
        crate::planner::information_schema::TABLES
            .iter()
            .map(|t| (t.to_string(), "SYSTEM VIEW"))
            .collect()
    } else {
        with_db(env, &db, |d| {
            d.tables
                .values()
                .map(|t| (t.name.clone(), "BASE TABLE"))
                .chain(d.views.values().map(|v| (v.name.clone(), "VIEW")))
                .collect::<Vec<_>>()
        })?
    };
    names.sort();
    let header = format!("Tables_in_{db}");
    let rows: Rows = names
        .into_iter()
        .filter(|(n, _)| like.is_none_or(|p| like_match(p, n)))
        .map(|(n, kind)| {
            if full {
                vec![Some(n), s(kind)]
            } else {
                vec![Some(n)]
            }
        })
        .collect();
    if full {
        QueryOutput::strings(&[header.as_str(), "Table_type"], rows)
    } else {
        QueryOutput::strings(&[header.as_str()], rows)
    }
}

pub fn table_status(
    env: &Env,
    session: &Session,
    db: Option<&str>,
    like: Option<&str>,
) -> Result<QueryOutput> {
    let db = resolve_db(session, db)?;
    let rows = with_db(env, &db, |d| {
        d.tables
            .values()
            .filter(|t| like.is_none_or(|p| like_match(p, &t.name)))
            .map(|t| {
                vec![
                    s(&t.name),
                    s("Doris"),
                    None,
                    None,
                    s(0),
                    s(0),
                    s(0),
                    None,
                    None,
                    None,
                    None,
                    s(fmt_time(t.create_time_ms)),
                    None,
                    None,
                    s("utf-8"),
                    None,
                    None,
                    s(&t.comment),
                ]
            })
            .collect()
    })?;
    QueryOutput::strings(
        &[
            "Name",
            "Engine",
            "Version",
            "Row_format",
            "Rows",
            "Avg_row_length",
            "Data_length",
            "Max_data_length",
            "Index_length",
            "Data_free",
            "Auto_increment",
            "Create_time",
            "Update_time",
            "Check_time",
            "Collation",
            "Checksum",
            "Create_options",
            "Comment",
        ],
        rows,
    )
}

pub(super) fn lookup_table(
    env: &Env,
    session: &Session,
    name: &TableName,
) -> Result<(String, Table)> {
    let db = resolve_db(session, name.db.as_deref())?;
    let table = with_db(env, &db, |d| d.table_by_name(&name.table).cloned())?
        .ok_or_else(|| FeError::UnknownTable(name.table.clone()))?;
    Ok((db, table))
}

fn default_text(d: &Option<ColumnDefault>) -> Option<String> {
    match d {
        None | Some(ColumnDefault::Null) => None,
        Some(ColumnDefault::Literal(v)) => Some(v.clone()),
        Some(ColumnDefault::CurrentTimestamp) => s("CURRENT_TIMESTAMP"),
        Some(ColumnDefault::CurrentDate) => s("CURRENT_DATE"),
    }
}

pub fn describe(env: &Env, session: &Session, name: &TableName) -> Result<QueryOutput> {
    let (_, table) = lookup_table(env, session, name)?;
    let rows = table
        .columns
        .iter()
        .map(|c| {
            vec![
                s(&c.name),
                s(c.column_type.sql_name().to_uppercase()),
                s(if c.nullable { "Yes" } else { "No" }),
                s(if c.is_key { "true" } else { "false" }),
                default_text(&c.default),
                s(c.aggregation.clone().unwrap_or_default()),
            ]
        })
        .collect();
    QueryOutput::strings(&["Field", "Type", "Null", "Key", "Default", "Extra"], rows)
}

fn quote(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"")
}

/// Normalised DDL, as Doris prints it.
pub fn create_table_sql(table: &Table) -> String {
    let mut out = format!("CREATE TABLE `{}` (\n", table.name);
    let cols: Vec<String> = table
        .columns
        .iter()
        .map(|c| {
            let mut line = format!("  `{}` {}", c.name, c.column_type.sql_name());
            if let Some(agg) = &c.aggregation {
                line.push_str(&format!(" {agg}"));
            }
            line.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
            match &c.default {
                Some(ColumnDefault::Literal(v)) => {
                    line.push_str(&format!(" DEFAULT \"{}\"", quote(v)))
                }
                Some(ColumnDefault::Null) => line.push_str(" DEFAULT NULL"),
                Some(ColumnDefault::CurrentTimestamp) => {
                    line.push_str(" DEFAULT CURRENT_TIMESTAMP")
                }
                Some(ColumnDefault::CurrentDate) => line.push_str(" DEFAULT CURRENT_DATE"),
                None => {}
            }
            if !c.comment.is_empty() {
                line.push_str(&format!(" COMMENT \"{}\"", quote(&c.comment)));
            }
            line
        })
        .collect();
    out.push_str(&cols.join(",\n"));
    out.push_str("\n) ENGINE=OLAP\n");
    let keys: Vec<String> = table.key_columns.iter().map(|k| format!("`{k}`")).collect();
    out.push_str(&format!("{}({})\n", table.keys_type.sql(), keys.join(", ")));
    if !table.comment.is_empty() {
        out.push_str(&format!("COMMENT \"{}\"\n", quote(&table.comment)));
    }
    if let Some(clause) = super::partition::partition_by_sql(table) {
        out.push_str(&clause);
        out.push('\n');
    }
    match &table.distribution {
        Distribution::Hash {
            columns,
            buckets,
            auto,
        } => {
            let cols: Vec<String> = columns.iter().map(|c| format!("`{c}`")).collect();
            let b = if *auto {
                "AUTO".to_string()
            } else {
                buckets.to_string()
            };
            out.push_str(&format!(
                "DISTRIBUTED BY HASH({}) BUCKETS {b}\n",
                cols.join(", ")
            ));
        }
        Distribution::Random { buckets, auto } => {
            let b = if *auto {
                "AUTO".to_string()
            } else {
                buckets.to_string()
            };
            out.push_str(&format!("DISTRIBUTED BY RANDOM BUCKETS {b}\n"));
        }
    }
    let mut props = table.properties.clone();
    props
        .entry("replication_allocation".into())
        .or_insert_with(|| format!("tag.location.default: {}", table.replication_num()));
    props.remove("replication_num");
    let props: Vec<String> = props
        .iter()
        .map(|(k, v)| format!("\"{}\" = \"{}\"", quote(k), quote(v)))
        .collect();
    out.push_str(&format!("PROPERTIES (\n{}\n);", props.join(",\n")));
    out
}

pub fn create_table(env: &Env, session: &Session, name: &TableName) -> Result<QueryOutput> {
    let db = resolve_db(session, name.db.as_deref())?;
    if let Some(v) = with_db(env, &db, |d| d.view_by_name(&name.table).cloned())? {
        let cols = if v.columns.is_empty() {
            String::new()
        } else {
            let c: Vec<String> = v.columns.iter().map(|c| format!("`{c}`")).collect();
            format!(" ({})", c.join(", "))
        };
        return QueryOutput::strings(
            &[
                "View",
                "Create View",
                "character_set_client",
                "collation_connection",
            ],
            vec![vec![
                s(&v.name),
                s(format!("CREATE VIEW `{}`{cols} AS {}", v.name, v.query)),
                s("utf8mb4"),
                s("utf8mb4_0900_bin"),
            ]],
        );
    }
    let (_, table) = lookup_table(env, session, name)?;
    QueryOutput::strings(
        &["Table", "Create Table"],
        vec![vec![s(&table.name), s(create_table_sql(&table))]],
    )
}

/// `SHOW [TEMPORARY] PARTITIONS FROM t`: one row per partition, in key order, with Doris's
/// columns. Data sizes are not reported to the FE yet, so `DataSize` is NULL.
pub fn partitions(
    env: &Env,
    session: &Session,
    name: &TableName,
    temporary: bool,
    filter_name: Option<&str>,
    name_like: Option<&str>,
    limit: Option<u64>,
) -> Result<QueryOutput> {
    let (_, table) = lookup_table(env, session, name)?;
    partitions_of(&table, temporary, filter_name, name_like, limit)
}

/// `SHOW PARTITIONS` of `table` (also `SHOW PROC '/dbs/<db>/<table>/partitions'`).
pub(super) fn partitions_of(
    table: &Table,
    temporary: bool,
    filter_name: Option<&str>,
    name_like: Option<&str>,
    limit: Option<u64>,
) -> Result<QueryOutput> {
    let types = table.partition_column_types();
    let partition_key = table
        .partitioning
        .as_ref()
        .map(|p| p.columns.join(", "))
        .unwrap_or_default();
    let distribution_key = match &table.distribution {
        Distribution::Hash { columns, .. } => columns.join(", "),
        Distribution::Random { .. } => "RANDOM".to_string(),
    };
    let replicas = table.replication_num();
    let in_memory = table
        .properties
        .get("in_memory")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let medium = table
        .properties
        .get("storage_medium")
        .map_or_else(|| "HDD".to_string(), |m| m.to_uppercase());
    let policy = table
        .properties
        .get("storage_policy")
        .cloned()
        .unwrap_or_default();
    let rows: Rows = if temporary {
        // Temporary partitions (ALTER TABLE ADD TEMPORARY PARTITION) are not built yet.
        Vec::new()
    } else {
        table
            .partitions_in_key_order()
            .into_iter()
            .filter(|p| filter_name.is_none_or(|n| p.name == n))
            .filter(|p| name_like.is_none_or(|pat| like_match(pat, &p.name)))
            .take(limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX)))
            .map(|p| {
                vec![
                    s(p.id),
                    s(&p.name),
                    s(p.visible_version),
                    s(fmt_time(p.visible_version_time_ms)),
                    s("NORMAL"),
                    s(&partition_key),
                    s(p.item
                        .as_ref()
                        .map(|i| i.describe(&types))
                        .unwrap_or_default()),
                    s(&distribution_key),
                    s(p.tablets.len()),
                    s(p.tablets.first().map_or(replicas, |t| t.replicas.len())),
                    s(&medium),
                    s("9999-12-31 23:59:59"),
                    s(&policy),
                    s("NULL"),
                    None,
                    s(in_memory),
                    s(format!(
                        "tag.location.default: {}",
                        p.tablets.first().map_or(replicas, |t| t.replicas.len())
                    )),
                    s(true),
                    s(true),
                    s("NULL"),
                ]
            })
            .collect()
    };
    QueryOutput::strings(
        &[
            "PartitionId",
            "PartitionName",
            "VisibleVersion",
            "VisibleVersionTime",
            "State",
            "PartitionKey",
            "Range",
            "DistributionKey",
            "Buckets",
            "ReplicationNum",
            "StorageMedium",
            "CooldownTime",
            "RemoteStoragePolicy",
            "LastConsistencyCheckTime",
            "DataSize",
            "IsInMemory",
            "ReplicaAllocation",
            "IsMutable",
            "SyncWithBaseTables",
            "UnsyncTables",
        ],
        rows,
    )
}

pub fn create_database(env: &Env, name: &str) -> Result<QueryOutput> {
    with_db(env, name, |_| ())?;
    QueryOutput::strings(
        &["Database", "Create Database"],
        vec![vec![s(name), s(format!("CREATE DATABASE `{name}`"))]],
    )
}

pub fn backends(env: &Arc<Env>) -> Result<QueryOutput> {
    let catalog = env.catalog.read();
    let states = env.backend_state.read();
    let tablets = catalog.tablets_per_backend();
    let rows = catalog
        .backends
        .values()
        .map(|b| {
            let st = states.get(&b.id).cloned().unwrap_or_default();
            let used_pct = if st.disk_total_bytes > 0 {
                100.0 * (st.disk_total_bytes - st.disk_available_bytes) as f64
                    / st.disk_total_bytes as f64
            } else {
                0.0
            };
            vec![
                s(b.id),
                s(&b.host),
                s(b.heartbeat_port),
                s(st.be_port),
                s(st.http_port),
                s(st.brpc_port),
                s(-1),
                s(fmt_time(st.last_start_time_ms)),
                s(fmt_time(st.last_heartbeat_ms)),
                s(st.alive),
                s(false),
                s(tablets.get(&b.id).copied().unwrap_or(0)),
                s(human_bytes(st.data_used_bytes)),
                s(human_bytes(0)),
                s(human_bytes(st.disk_available_bytes)),
                s(human_bytes(st.disk_total_bytes)),
                s(format!("{used_pct:.2} %")),
                s(format!("{used_pct:.2} %")),
                s(human_bytes(0)),
                s("{\"location\" : \"default\"}"),
                s(&st.err_msg),
                s(&st.version),
                s(format!(
                    "{{\"lastSuccessReportTabletsTime\":\"{}\",\"lastStreamLoadTime\":-1,\"isQueryDisabled\":false,\"isLoadDisabled\":false}}",
                    fmt_time(st.last_heartbeat_ms)
                )),
                s(st.failure_count),
                s("mix"),
            ]
        })
        .collect();
    QueryOutput::strings(
        &[
            "BackendId",
            "Host",
            "HeartbeatPort",
            "BePort",
            "HttpPort",
            "BrpcPort",
            "ArrowFlightSqlPort",
            "LastStartTime",
            "LastHeartbeat",
            "Alive",
            "SystemDecommissioned",
            "TabletNum",
            "DataUsedCapacity",
            "TrashUsedCapacity",
            "AvailCapacity",
            "TotalCapacity",
            "UsedPct",
            "MaxDiskUsedPct",
            "RemoteUsedCapacity",
            "Tag",
            "ErrMsg",
            "Version",
            "Status",
            "HeartbeatFailureCounter",
            "NodeRole",
        ],
        rows,
    )
}

/// `SHOW FRONTENDS`: the Raft members (voters are FOLLOWERs, learners OBSERVERs or
/// FOLLOWERs still catching up, `Join` false), with what each last reported.
pub fn frontends(env: &Env) -> Result<QueryOutput> {
    let metrics = env.raft.metrics().borrow().clone();
    let membership = metrics.membership_config.membership().clone();
    let voters: Vec<u64> = membership.voter_ids().collect();
    let state = env.frontend_state.read();
    let now = chrono::Utc::now().timestamp_millis();
    let mut rows = Vec::new();
    for (id, node) in membership.nodes() {
        let voter = voters.contains(id);
        let me = *id == env.node_id;
        let status = if me {
            Some(env.status())
        } else {
            state.get(id).map(|st| st.reply.clone())
        };
        let heard = if me {
            now
        } else {
            state.get(id).map_or(0, |st| st.last_heartbeat_ms)
        };
        // Alive: answered within the last few status rounds.
        let alive = me || (heard > 0 && now - heard < 5_000);
        let error = if me {
            String::new()
        } else {
            state.get(id).map(|st| st.error.clone()).unwrap_or_default()
        };
        let port = |p: Option<i32>| p.filter(|p| *p > 0).map_or(-1, i64::from);
        let role = if voter || node.role.is_empty() {
            crate::ha::membership::FOLLOWER
        } else {
            node.role.as_str()
        };
        rows.push(vec![
            s(format!("fe_{}_{}", node.host, node.edit_log_port)),
            s(&node.host),
            s(node.edit_log_port),
            s(port(status.as_ref().map(|st| st.http_port))),
            s(port(status.as_ref().map(|st| st.query_port))),
            s(port(status.as_ref().map(|st| st.rpc_port))),
            s(-1),
            s(role),
            s(metrics.current_leader == Some(*id)),
            s(env.cluster_id),
            s(voter || role == crate::ha::membership::OBSERVER),
            s(alive),
            s(status.as_ref().map_or(0, |st| st.replayed_journal_id)),
            s(status
                .as_ref()
                .map_or(String::from("NULL"), |st| fmt_time(st.start_time_ms))),
            s(if heard > 0 {
                fmt_time(heard)
            } else {
                "NULL".into()
            }),
            s(metrics.current_leader == Some(*id)),
            s(error),
            s(status.map_or(String::new(), |st| st.version)),
            s(me),
        ]);
    }
    QueryOutput::strings(
        &[
            "Name",
            "Host",
            "EditLogPort",
            "HttpPort",
            "QueryPort",
            "RpcPort",
            "ArrowFlightSqlPort",
            "Role",
            "IsMaster",
            "ClusterId",
            "Join",
            "Alive",
            "ReplayedJournalId",
            "LastStartTime",
            "LastHeartbeat",
            "IsHelper",
            "ErrMsg",
            "Version",
            "CurrentConnected",
        ],
        rows,
    )
}

pub fn processlist(env: &Env, full: bool) -> Result<QueryOutput> {
    let now = chrono::Utc::now().timestamp_millis();
    let rows = env
        .sessions
        .list()
        .into_iter()
        .map(|p| {
            let info: String = if full {
                p.query.clone()
            } else {
                p.query.chars().take(100).collect()
            };
            vec![
                s(p.id),
                s(&p.user),
                s(&p.host),
                s(&p.db),
                s(&p.command),
                s((now - p.start_ms) / 1000),
                s(if p.command == "Query" { "RUNNING" } else { "" }),
                s(&p.query_id),
                s(info),
            ]
        })
        .collect();
    QueryOutput::strings(
        &[
            "Id", "User", "Host", "Db", "Command", "Time", "State", "QueryId", "Info",
        ],
        rows,
    )
}

/// `SHOW QUERY PROFILE "/"`: the recent profiled queries; `"/<query id>"`: one profile.
pub fn query_profile(env: &Env, path: &str) -> Result<QueryOutput> {
    let id = path.trim().trim_start_matches('/');
    if id.is_empty() {
        let rows = env
            .profiles
            .list()
            .into_iter()
            .map(|p| {
                vec![
                    s(&p.query_id),
                    s(&p.user),
                    s(&p.db),
                    s(&p.sql),
                    s("Query"),
                    s(fmt_time(p.start_ms)),
                    s(fmt_time(p.end_ms)),
                    s(format!("{}ms", p.end_ms - p.start_ms)),
                    s(&p.state),
                ]
            })
            .collect();
        return QueryOutput::strings(
            &[
                "QueryId",
                "User",
                "DefaultDb",
                "SQL",
                "QueryType",
                "StartTime",
                "EndTime",
                "TotalTime",
                "QueryState",
            ],
            rows,
        );
    }
    let profile = env.profiles.get(id).ok_or_else(|| {
        FeError::Analysis(format!(
            "query {id} has no profile (run it with SET enable_profile = true)"
        ))
    })?;
    QueryOutput::strings(
        &["Profile"],
        profile.lines().into_iter().map(|l| vec![Some(l)]).collect(),
    )
}

pub fn engines() -> Result<QueryOutput> {
    QueryOutput::strings(
        &[
            "Engine",
            "Support",
            "Comment",
            "Transactions",
            "XA",
            "Savepoints",
        ],
        vec![vec![
            s("Olap engine"),
            s("DEFAULT"),
            s("Default storage engine of Doris"),
            s("YES"),
            s("NO"),
            s("NO"),
        ]],
    )
}

pub fn charset() -> Result<QueryOutput> {
    QueryOutput::strings(
        &["Charset", "Description", "Default collation", "Maxlen"],
        vec![vec![
            s("utf8mb4"),
            s("UTF-8 Unicode"),
            s("utf8mb4_0900_bin"),
            s(4),
        ]],
    )
}

pub fn collation() -> Result<QueryOutput> {
    QueryOutput::strings(
        &[
            "Collation",
            "Charset",
            "Id",
            "Default",
            "Compiled",
            "Sortlen",
        ],
        vec![vec![
            s("utf8mb4_0900_bin"),
            s("utf8mb4"),
            s(309),
            s("Yes"),
            s("Yes"),
            s(1),
        ]],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        assert!(like_match("%time%", "time_zone"));
        assert!(like_match("version_comment", "VERSION_COMMENT"));
        assert!(like_match("a_c", "abc"));
        assert!(!like_match("a_c", "abbc"));
        assert!(like_match("%", ""));
    }
}
