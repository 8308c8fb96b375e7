//! Crash durability: acknowledged INSERTs survive `kill -9` of the FE and the BE, and an
//! `INSERT ... SELECT` interrupted by killing the BE is atomic (all rows or none).
//!
//! Run: `cargo build --bins && cargo test -p regression-test --test durability -- --nocapture`.

use std::time::{Duration, Instant};

use mysql_async::Conn;
use regression_test::{mysql, query, Cluster, QueryOutput};

const DB: &str = "durability";
const BATCHES: i64 = 20;
const ROWS_PER_BATCH: i64 = 50;
const BULK_ROWS: u64 = 20_000_000;
/// How long reads after a restart may keep failing (tablet reports, heartbeats) before the
/// test gives up; wrong answers are never retried.
const SETTLE: Duration = Duration::from_secs(60);

/// Inserts keys `first..first + ROWS_PER_BATCH` and checks the insert was acknowledged.
async fn insert_batch(cluster: &Cluster, conn: &mut Conn, first: i64) -> (u64, i64) {
    let keys: Vec<i64> = (first..first + ROWS_PER_BATCH).collect();
    let values: Vec<String> = keys.iter().map(|k| format!("({k}, 'v{k}')")).collect();
    let sql = format!("INSERT INTO t VALUES {}", values.join(", "));
    match cluster.exec(conn, &sql).await {
        QueryOutput::Done { affected_rows } => assert_eq!(
            affected_rows, ROWS_PER_BATCH as u64,
            "INSERT of {ROWS_PER_BATCH} rows reported {affected_rows} affected rows"
        ),
        other => panic!("INSERT returned a result set: {other:?}"),
    }
    (keys.len() as u64, keys.iter().sum())
}

/// `SELECT count(*), sum(k) FROM t` on a fresh connection, retrying errors (not wrong answers)
/// for up to [`SETTLE`] after a restart.
async fn count_and_sum(cluster: &Cluster) -> (u64, i64) {
    let sql = "SELECT count(*), sum(k) FROM t";
    let deadline = Instant::now() + SETTLE;
    loop {
        let result = match cluster.try_connect(Some(DB)).await {
            Ok(mut conn) => {
                let r = query(&mut conn, sql).await;
                let _ = conn.disconnect().await;
                r
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(out) => {
                let row = out.rows().first().cloned().unwrap_or_default();
                let cell = |i: usize| row.get(i).cloned().flatten();
                let count = cell(0)
                    .and_then(|c| c.parse::<u64>().ok())
                    .unwrap_or_else(|| panic!("`{sql}` returned {out:?}"));
                // sum() of an empty table is NULL.
                let sum = cell(1).map_or(0, |s| {
                    s.parse::<i64>()
                        .unwrap_or_else(|_| panic!("`{sql}` returned sum {s:?}"))
                });
                return (count, sum);
            }
            Err(e) if Instant::now() > deadline => {
                panic!(
                    "`{sql}` still failing {} s after restart: {e}\n{}",
                    SETTLE.as_secs(),
                    cluster.logs()
                )
            }
            Err(e) => {
                eprintln!("(read not possible yet: {e}; retrying)");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let mut cluster = Cluster::start(1).await;
    let mut conn = cluster.connect().await;
    cluster
        .exec(&mut conn, &format!("CREATE DATABASE {DB}"))
        .await;
    cluster.exec(&mut conn, &format!("USE {DB}")).await;
    cluster.exec(&mut conn,
        "CREATE TABLE t (k INT, v VARCHAR(20)) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 3 \
         PROPERTIES(\"replication_num\"=\"1\")",
    )
    .await;

    // 1. Acknowledged 50-row INSERTs survive kill -9 of both processes.
    let (mut count, mut sum) = (0u64, 0i64);
    for batch in 0..BATCHES {
        let (c, s) = insert_batch(&cluster, &mut conn, batch * ROWS_PER_BATCH).await;
        count += c;
        sum += s;
    }
    assert_eq!(
        count_and_sum(&cluster).await,
        (count, sum),
        "before any kill"
    );
    let _ = conn.disconnect().await;

    cluster.kill_fe();
    cluster.kill_be(0);
    cluster.restart_fe().await;
    cluster.restart_be(0).await;
    assert_eq!(
        count_and_sum(&cluster).await,
        (count, sum),
        "acknowledged INSERTs changed after kill -9 of FE and BE and restart"
    );

    // 2. An INSERT ... SELECT interrupted by kill -9 of the BE is all-or-nothing.
    let opts = cluster.mysql_opts(Some(DB));
    let bulk_sql =
        format!("INSERT INTO t SELECT number, 'bulk' FROM numbers(\"number\" = \"{BULK_ROWS}\")");
    let bulk = tokio::spawn(async move {
        let mut conn = mysql::connect(opts).await?;
        query(&mut conn, &bulk_sql).await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    if bulk.is_finished() {
        eprintln!("note: the bulk INSERT finished before the BE was killed");
    }
    cluster.kill_be(0);
    cluster.restart_be(0).await;
    let bulk_result = match tokio::time::timeout(Duration::from_secs(180), bulk).await {
        Ok(Ok(r)) => r,
        Ok(Err(join_error)) => panic!("bulk INSERT task panicked: {join_error}"),
        Err(_) => panic!(
            "the INSERT ... SELECT did not return within 180 s after its BE was killed\n{}",
            cluster.logs()
        ),
    };
    let (after, _) = count_and_sum(&cluster).await;
    match &bulk_result {
        Ok(_) => assert_eq!(
            after,
            count + BULK_ROWS,
            "the interrupted INSERT was acknowledged, so all {BULK_ROWS} rows must be there"
        ),
        Err(e) => {
            eprintln!("bulk INSERT failed as the BE died: {e}");
            assert!(
                after == count || after == count + BULK_ROWS,
                "partial INSERT visible: count {after}, expected {count} or {}",
                count + BULK_ROWS
            );
        }
    }
    // The outcome must be final, not still being published.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (again, _) = count_and_sum(&cluster).await;
    assert_eq!(
        again, after,
        "row count still changing after the interrupted INSERT"
    );

    // 3. The table still accepts writes.
    let mut conn = cluster.connect().await;
    cluster.exec(&mut conn, &format!("USE {DB}")).await;
    let (c, _) = insert_batch(&cluster, &mut conn, 1_000_000_000).await;
    let _ = conn.disconnect().await;
    let (last, _) = count_and_sum(&cluster).await;
    assert_eq!(last, after + c, "INSERT after the crash was not visible");
}

/// The BE's tablet ids (from `/api/tablets`).
async fn tablet_ids(cluster: &Cluster) -> Vec<i64> {
    let port = cluster.be_ports(0).webserver_port;
    let (_, body) =
        regression_test::curl::get(&format!("http://127.0.0.1:{port}/api/tablets")).await;
    let v: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
    v["data"]["tablets"]
        .as_array()
        .map(|ts| ts.iter().filter_map(|t| t["tablet_id"].as_i64()).collect())
        .unwrap_or_default()
}

/// `SELECT count(*), sum(k), sum(v) FROM <table>` as text, retried after a restart.
async fn table_digest(cluster: &Cluster, table: &str) -> String {
    let sql = format!("SELECT count(*), sum(k), sum(v) FROM {table}");
    let deadline = Instant::now() + SETTLE;
    loop {
        let result = match cluster.try_connect(Some(DB)).await {
            Ok(mut conn) => {
                let r = query(&mut conn, &sql).await;
                let _ = conn.disconnect().await;
                r
            }
            Err(e) => Err(e),
        };
        match result {
            Ok(out) => {
                return out.rows()[0]
                    .iter()
                    .map(|c| c.clone().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\t")
            }
            Err(e) if Instant::now() > deadline => panic!("`{sql}` failing after restart: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

/// Compactions killed at different points (`kill -9` of the BE while merging or
/// committing) lose and duplicate nothing: the tables read the same after the restart,
/// whether the compaction committed or not, for a DUPLICATE KEY table and a merge-on-write
/// UNIQUE KEY table whose delete bitmaps the compaction rewrites.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compaction_survives_kill_9() {
    let mut cluster = Cluster::start_with_be_conf(1, "disable_auto_compaction = true").await;
    let mut conn = cluster.connect().await;
    cluster
        .exec(&mut conn, &format!("CREATE DATABASE {DB}"))
        .await;
    cluster.exec(&mut conn, &format!("USE {DB}")).await;
    for ddl in [
        "CREATE TABLE dup (k INT, v BIGINT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 \
         PROPERTIES(\"replication_num\"=\"1\")",
        "CREATE TABLE mow (k INT, v BIGINT) UNIQUE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 \
         PROPERTIES(\"replication_num\"=\"1\")",
    ] {
        cluster.exec(&mut conn, ddl).await;
    }
    let mut load = 0u64;
    for (round, delay_ms) in [40u64, 250, 800].into_iter().enumerate() {
        // Ten more loads per table: rowsets to merge, overlapping keys for the unique table.
        for _ in 0..10 {
            load += 1;
            for table in ["dup", "mow"] {
                cluster
                    .exec(
                        &mut conn,
                        &format!(
                            "INSERT INTO {table} SELECT number % 30000, number + {load} \
                             FROM numbers(\"number\" = \"40000\")"
                        ),
                    )
                    .await;
            }
        }
        let before = (
            table_digest(&cluster, "dup").await,
            table_digest(&cluster, "mow").await,
        );
        let port = cluster.be_ports(0).webserver_port;
        let mut jobs = Vec::new();
        for id in tablet_ids(&cluster).await {
            let url = format!(
                "http://127.0.0.1:{port}/api/compaction/run?tablet_id={id}&compact_type=full"
            );
            jobs.push(tokio::spawn(async move {
                regression_test::curl::post(&url).await
            }));
        }
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
        let _ = conn.disconnect().await;
        cluster.kill_be(0);
        let mut finished = 0;
        for j in jobs {
            if let Ok((200, body)) = j.await {
                finished += usize::from(body.contains("Success"));
            }
        }
        eprintln!("round {round}: killed after {delay_ms} ms, {finished} compactions had finished");
        cluster.restart_be(0).await;
        let after = (
            table_digest(&cluster, "dup").await,
            table_digest(&cluster, "mow").await,
        );
        assert_eq!(
            after, before,
            "round {round}: compaction killed after {delay_ms} ms changed the tables"
        );
        conn = cluster.connect().await;
        cluster.exec(&mut conn, &format!("USE {DB}")).await;
    }
}
