//! MPP on one FE and three BEs: tablets spread over the backends, rows written through one
//! backend land on the others, and queries run as fragments exchanging data BE to BE:
//! gather, hash shuffle and broadcast (each checked in EXPLAIN and by its answer), broadcast
//! and partitioned joins giving the same answers, top-N and LIMIT, window functions,
//! COUNT(DISTINCT), NOT IN and scalar subqueries. Then the controls: `query_timeout`,
//! `KILL QUERY`, a client that disconnects (both cancel the query's fragments on every
//! backend), and a backend killed mid-query (the query fails naming it, without hanging).
//!
//! Expected answers are computed in this file from the generating formulas, never taken
//! from the server.
//!
//! Run: `cargo build --bins && cargo test -p regression-test --test mpp -- --nocapture`.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use regression_test::{query, Cluster};
use serde_json::Value;

const DB: &str = "mpp";
const BIG_ROWS: u64 = 300_000;
/// A query that runs for many minutes: a nested-loop join of `big` with itself (4.5e10 pairs).
const LONG_QUERY: &str = "SELECT count(*) FROM big a JOIN big b ON a.k < b.k";

/// Every line of the backends' log files.
fn be_logs(cluster: &Cluster) -> String {
    let mut out = String::new();
    for i in 0..cluster.num_be() {
        let dir = cluster.dir().join(format!("be{i}")).join("log");
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            out.push_str(&std::fs::read_to_string(entry.path()).unwrap_or_default());
        }
    }
    out
}

/// Backends whose log says they cancelled fragments of `query_id`.
fn backends_that_cancelled(cluster: &Cluster, query_id: &str) -> usize {
    (0..cluster.num_be())
        .filter(|i| {
            let dir = cluster.dir().join(format!("be{i}")).join("log");
            std::fs::read_dir(&dir)
                .into_iter()
                .flatten()
                .flatten()
                .any(|e| {
                    std::fs::read_to_string(e.path())
                        .unwrap_or_default()
                        .lines()
                        .any(|l| l.contains("cancelled") && l.contains(query_id))
                })
        })
        .count()
}

async fn explain(cluster: &Cluster, conn: &mut Conn, sql: &str) -> String {
    cluster
        .lines(conn, &format!("EXPLAIN {sql}"))
        .await
        .join("\n")
}

/// The query id of the long query connection `id` (any, if `None`) runs now (from SHOW
/// PROCESSLIST), once it has one.
async fn running_query_id(cluster: &Cluster, conn: &mut Conn, id: Option<&str>) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let rows = cluster.exec(conn, "SHOW PROCESSLIST").await;
        let found = rows.rows().iter().find_map(|r| {
            let cell = |i: usize| r.get(i).cloned().flatten().unwrap_or_default();
            let this = id.is_none_or(|id| cell(0) == id);
            (this && cell(8).contains("JOIN big b") && !cell(7).is_empty()).then(|| cell(7))
        });
        if let Some(q) = found {
            return q;
        }
        assert!(
            Instant::now() < deadline,
            "connection {id:?} never showed its query"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn wait_for_cancel(cluster: &Cluster, query_id: &str, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while backends_that_cancelled(cluster, query_id) < cluster.num_be() {
        assert!(
            Instant::now() < deadline,
            "{what}: only {} of {} backends cancelled query {query_id}\n{}",
            backends_that_cancelled(cluster, query_id),
            cluster.num_be(),
            be_logs(cluster)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mpp_on_three_backends() {
    let mut cluster = Cluster::start(3).await;
    let mut conn = cluster.connect().await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {DB}"),
        format!("CREATE DATABASE {DB}"),
        format!("USE {DB}"),
        "CREATE TABLE big (k BIGINT, g INT, v BIGINT) DUPLICATE KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 6 PROPERTIES (\"replication_num\" = \"1\")"
            .into(),
        "CREATE TABLE small (g INT, name VARCHAR(10)) DUPLICATE KEY(g) \
         DISTRIBUTED BY HASH(g) BUCKETS 3 PROPERTIES (\"replication_num\" = \"1\")"
            .into(),
        "CREATE TABLE mid (k BIGINT, w BIGINT) DUPLICATE KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 4 PROPERTIES (\"replication_num\" = \"1\")"
            .into(),
        format!(
            "INSERT INTO big SELECT number, number % 100, number % 7 FROM numbers(\"number\" = \"{BIG_ROWS}\")"
        ),
        "INSERT INTO small SELECT number, concat('n', number) FROM numbers(\"number\" = \"100\")".into(),
        "INSERT INTO mid SELECT number * 10, number % 3 FROM numbers(\"number\" = \"30000\")".into(),
    ] {
        cluster.exec(&mut conn, &sql).await;
    }

    // Placement: 13 tablets over 3 backends, as evenly as counts allow.
    let backends = cluster.exec(&mut conn, "SHOW BACKENDS").await;
    let regression_test::QueryOutput::Rows { columns, rows } = &backends else {
        panic!("SHOW BACKENDS returned no rows");
    };
    let col = columns
        .iter()
        .position(|c| c.name == "TabletNum")
        .expect("TabletNum");
    let tablets: Vec<u64> = rows
        .iter()
        .map(|r| {
            r[col]
                .clone()
                .unwrap_or_default()
                .parse()
                .expect("TabletNum")
        })
        .collect();
    assert_eq!(
        tablets.iter().sum::<u64>(),
        13,
        "tablets per backend: {tablets:?}"
    );
    assert!(
        tablets.iter().max().unwrap_or(&0) - tablets.iter().min().unwrap_or(&0) <= 1,
        "tablets per backend: {tablets:?}"
    );

    // Rows written by one coordinator are on every backend's tablets: all of them count.
    let expected_sum_v: u64 = (0..BIG_ROWS).map(|n| n % 7).sum();
    assert_eq!(
        cluster
            .lines(
                &mut conn,
                "SELECT count(*), sum(v), count(DISTINCT v), count(DISTINCT g) FROM big"
            )
            .await,
        [format!("{BIG_ROWS}\t{expected_sum_v}\t7\t100")]
    );

    // Stream load through the FE's redirect to any backend, into tablets on all three.
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    for i in 0..1000 {
        writeln!(file, "{},{}", 1000 + i, i % 10).expect("write");
    }
    let url = format!(
        "http://{}/api/{DB}/mid/_stream_load",
        cluster.fe_http_addr()
    );
    let (_, reply) = regression_test::curl::put(
        &url,
        "root:",
        &[("column_separator", ","), ("label", "mpp_load_1")],
        Some(file.path()),
    )
    .await;
    assert_eq!(
        reply.get("Status").and_then(Value::as_str),
        Some("Success"),
        "{reply}"
    );
    assert_eq!(
        cluster
            .lines(
                &mut conn,
                "SELECT count(*), sum(w) FROM mid WHERE k >= 1000 AND k < 2000"
            )
            .await,
        // 1000 loaded rows (sum of i % 10 = 4500) and the 100 multiples of 10 from the INSERT
        // (w = (k / 10) % 3 for k / 10 in 100..200: 33 zeros, 34 ones, 33 twos = 100).
        ["1100\t4600"]
    );

    // Gather of partial aggregates.
    let plan = explain(&cluster, &mut conn, "SELECT count(*) FROM big").await;
    for needle in [
        "PLAN FRAGMENT 1",
        "VEXCHANGE",
        "UNPARTITIONED",
        "VAGGREGATE (update serialize)",
        "VAGGREGATE (merge finalize)",
        "tablets=6/6",
    ] {
        assert!(plan.contains(needle), "missing {needle} in\n{plan}");
    }
    // Hash shuffle by the group key.
    let sql = "SELECT g, count(*), sum(v) FROM big GROUP BY g ORDER BY g LIMIT 3";
    let plan = explain(&cluster, &mut conn, sql).await;
    assert!(plan.contains("HASH_PARTITIONED: g"), "{plan}");
    let mut by_group: BTreeMap<u64, (u64, u64)> = BTreeMap::new();
    for n in 0..BIG_ROWS {
        let e = by_group.entry(n % 100).or_default();
        e.0 += 1;
        e.1 += n % 7;
    }
    let expected: Vec<String> = by_group
        .iter()
        .take(3)
        .map(|(g, (c, s))| format!("{g}\t{c}\t{s}"))
        .collect();
    assert_eq!(cluster.lines(&mut conn, sql).await, expected);

    // GROUP BY the distribution key: each bucket aggregated where it is, no shuffle.
    let by_key = "SELECT count(*), max(c) FROM (SELECT k, count(*) AS c FROM mid GROUP BY k) t";
    let plan = explain(&cluster, &mut conn, by_key).await;
    assert!(
        plan.contains("bucket-aligned") && !plan.contains("HASH_PARTITIONED: k"),
        "{plan}"
    );
    // mid: 30,000 keys from the INSERT, 1,000 loaded, 100 of them in both.
    assert_eq!(cluster.lines(&mut conn, by_key).await, ["30900\t2"]);

    // Joins: broadcast of the small side once the backends reported row counts, and
    // partitioned when broadcasting is disabled; the same answer either way.
    let join = "SELECT s.name, count(*), sum(b.v) FROM big b JOIN small s ON b.g = s.g \
                WHERE s.g IN (3, 42, 97) GROUP BY s.name ORDER BY s.name";
    let expected: Vec<String> = [3u64, 42, 97]
        .iter()
        .map(|g| (format!("n{g}"), by_group[g]))
        .collect::<BTreeMap<_, _>>()
        .into_iter()
        .map(|(name, (c, s))| format!("{name}\t{c}\t{s}"))
        .collect();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let plan = explain(&cluster, &mut conn, join).await;
        if plan.contains("INNER JOIN(BROADCAST)") && plan.contains("BROADCAST\n") {
            break;
        }
        assert!(Instant::now() < deadline, "never a broadcast join:\n{plan}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(cluster.lines(&mut conn, join).await, expected);
    cluster
        .exec(&mut conn, "SET broadcast_row_count_limit = 0")
        .await;
    let plan = explain(&cluster, &mut conn, join).await;
    // small is distributed by the join key: big's rows go to the backends of its buckets.
    assert!(plan.contains("INNER JOIN(BUCKET_SHUFFLE)"), "{plan}");
    assert!(plan.contains("BUCKET_SHFFULE_HASH_PARTITIONED"), "{plan}");
    assert_eq!(cluster.lines(&mut conn, join).await, expected);
    let join_by_sum =
        "SELECT s.name, count(*), sum(b.v) FROM big b JOIN small s ON b.v + b.g = s.g \
                       WHERE s.g IN (3, 42, 97) GROUP BY s.name ORDER BY s.name";
    let plan = explain(&cluster, &mut conn, join_by_sum).await;
    assert!(plan.contains("INNER JOIN(PARTITIONED)"), "{plan}");
    // A LEFT join must not emit its unmatched rows once per instance. mid's keys: the
    // 30,000 multiples of 10 below 300,000 and the 1,000 loaded keys 1000..1999.
    let mut mid_keys: BTreeMap<u64, u64> = BTreeMap::new();
    for k in (0..30_000).map(|n| n * 10).chain(1000..2000) {
        *mid_keys.entry(k).or_default() += 1;
    }
    let matched: u64 = (0..BIG_ROWS)
        .map(|k| mid_keys.get(&k).copied().unwrap_or(0))
        .sum();
    let unmatched = (0..BIG_ROWS).filter(|k| !mid_keys.contains_key(k)).count() as u64;
    let left_join = "SELECT count(*), count(m.k) FROM big b LEFT JOIN mid m ON b.k = m.k";
    let expected = [format!("{}\t{matched}", matched + unmatched)];
    assert_eq!(cluster.lines(&mut conn, left_join).await, expected);
    let plan = explain(&cluster, &mut conn, left_join).await;
    assert!(plan.contains("JOIN(BUCKET_SHUFFLE)"), "{plan}");

    // Colocate join: tables of one colocation group have bucket i on the same backend.
    for sql in [
        "CREATE TABLE ca (k BIGINT, x BIGINT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 6 \
         PROPERTIES (\"replication_num\" = \"1\", \"colocate_with\" = \"g1\")",
        "CREATE TABLE cb (k BIGINT, y BIGINT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 6 \
         PROPERTIES (\"replication_num\" = \"1\", \"colocate_with\" = \"g1\")",
        "INSERT INTO ca SELECT number, number % 10 FROM numbers(\"number\" = \"200000\")",
        "INSERT INTO cb SELECT number * 2, number % 5 FROM numbers(\"number\" = \"200000\")",
    ] {
        cluster.exec(&mut conn, sql).await;
    }
    let err = query(
        &mut conn,
        "CREATE TABLE cc (k BIGINT) DISTRIBUTED BY HASH(k) BUCKETS 5 \
         PROPERTIES (\"replication_num\" = \"1\", \"colocate_with\" = \"g1\")",
    )
    .await
    .expect_err("a group member with another bucket count");
    assert!(err.to_string().contains("same bucket num"), "{err}");
    let colocate = "SELECT count(*), sum(a.x + b.y) FROM ca a JOIN cb b ON a.k = b.k";
    let plan = explain(&cluster, &mut conn, colocate).await;
    assert!(plan.contains("INNER JOIN(COLOCATE)"), "{plan}");
    // Matches: the even k below 200,000 (k = 2n for n < 100,000): x = k % 10, y = n % 5.
    let (count, sum) =
        (0..100_000u64).fold((0u64, 0u64), |(c, s), n| (c + 1, s + (2 * n) % 10 + n % 5));
    assert_eq!(
        cluster.lines(&mut conn, colocate).await,
        [format!("{count}\t{sum}")]
    );
    // A window over a bucket-shuffle join: its input is hashed again on the partition
    // key and sorted again after the exchange.
    let distinct_matched = (0..BIG_ROWS).filter(|k| mid_keys.contains_key(k)).count();
    assert_eq!(
        cluster
            .lines(
                &mut conn,
                "SELECT count(*) FROM (SELECT b.k, row_number() OVER (PARTITION BY b.k ORDER BY m.w) AS rn \
                 FROM big b JOIN mid m ON b.k = m.k) t WHERE rn = 1",
            )
            .await,
        [distinct_matched.to_string()]
    );
    cluster
        .exec(&mut conn, "SET broadcast_row_count_limit = DEFAULT")
        .await;
    assert_eq!(cluster.lines(&mut conn, left_join).await, expected);

    // UNION ALL of distributed aggregations; a view with a scalar subquery; a recursive
    // query joining a table.
    assert_eq!(
        cluster
            .lines(
                &mut conn,
                "SELECT count(*), sum(c) FROM (SELECT g, count(*) AS c FROM big GROUP BY g \
                 UNION ALL SELECT g, count(*) FROM small GROUP BY g) t",
            )
            .await,
        [format!("200\t{}", BIG_ROWS + 100)]
    );
    cluster
        .exec(
            &mut conn,
            "CREATE VIEW above_avg AS SELECT k FROM big WHERE v > (SELECT avg(v) FROM big)",
        )
        .await;
    let above_average = (0..BIG_ROWS)
        .filter(|n| (n % 7) as f64 > expected_sum_v as f64 / BIG_ROWS as f64)
        .count();
    assert_eq!(
        cluster
            .lines(&mut conn, "SELECT count(*) FROM above_avg")
            .await,
        [above_average.to_string()]
    );
    // Recursive queries over tables are refused clearly (one over constants runs on the FE).
    let err = query(
        &mut conn,
        "WITH RECURSIVE r(n) AS (SELECT min(g) FROM small UNION ALL \
         SELECT r.n + 1 FROM r JOIN small s ON s.g = r.n + 1 WHERE r.n < 10) \
         SELECT count(*), sum(n) FROM r",
    )
    .await
    .expect_err("not supported yet");
    assert!(
        err.to_string().contains("not supported yet: recursive"),
        "{err}"
    );
    assert_eq!(
        cluster
            .lines(
                &mut conn,
                "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 10) \
                 SELECT count(*), sum(n) FROM r",
            )
            .await,
        ["10\t55"]
    );

    // Top-N below the gather, LIMIT, window after a shuffle by the partition key.
    assert_eq!(
        cluster
            .lines(&mut conn, "SELECT k FROM big ORDER BY k DESC LIMIT 3")
            .await,
        ["299999", "299998", "299997"]
    );
    assert_eq!(
        cluster
            .lines(
                &mut conn,
                "SELECT count(*) FROM (SELECT k FROM big LIMIT 10) t"
            )
            .await,
        ["10"]
    );
    assert_eq!(
        cluster
            .lines(&mut conn, "SELECT count(*) FROM (SELECT k, row_number() OVER (PARTITION BY g ORDER BY k) AS rn FROM big) t WHERE rn = k DIV 100 + 1")
            .await,
        [BIG_ROWS.to_string()]
    );
    // NOT IN (null-aware anti join) and an uncorrelated scalar subquery.
    assert_eq!(
        cluster
            .lines(
                &mut conn,
                "SELECT count(*) FROM small WHERE g NOT IN (SELECT g FROM big WHERE g < 50)"
            )
            .await,
        ["50"]
    );
    assert_eq!(
        cluster
            .lines(
                &mut conn,
                "SELECT count(*) FROM big WHERE v > (SELECT avg(v) FROM big)"
            )
            .await,
        [above_average.to_string()]
    );

    // exec_mem_limit: a join whose hash table cannot fit fails with Doris's hint.
    cluster
        .exec(&mut conn, "SET exec_mem_limit = 1048576")
        .await;
    let err = query(
        &mut conn,
        "SELECT count(*) FROM big a JOIN big b ON a.k = b.k",
    )
    .await
    .expect_err("1 MiB is too little for a 300,000-row hash table");
    let err = err.to_string();
    assert!(
        err.contains("MEM_LIMIT_EXCEEDED") && err.contains("exec_mem_limit"),
        "{err}"
    );
    cluster
        .exec(&mut conn, "SET exec_mem_limit = DEFAULT")
        .await;
    assert_eq!(
        cluster
            .lines(
                &mut conn,
                "SELECT count(*) FROM big a JOIN big b ON a.k = b.k"
            )
            .await,
        [BIG_ROWS.to_string()]
    );

    // Profiles: per fragment instance and operator, rows and times.
    cluster.exec(&mut conn, "SET enable_profile = true").await;
    cluster
        .exec(&mut conn, "SELECT g, count(*) FROM big GROUP BY g")
        .await;
    cluster.exec(&mut conn, "SET enable_profile = false").await;
    let listed = cluster.lines(&mut conn, "SHOW QUERY PROFILE \"/\"").await;
    let id = listed
        .iter()
        .find(|l| l.contains("GROUP BY g"))
        .and_then(|l| l.split('\t').next())
        .unwrap_or_else(|| panic!("the profiled query is not listed: {listed:?}"))
        .to_string();
    let profile = cluster
        .lines(&mut conn, &format!("SHOW QUERY PROFILE \"/{id}\""))
        .await
        .join("\n");
    for needle in [
        "Instance on backend",
        "CachedSegmentScan",
        "output_rows=",
        "elapsed_compute=",
        "ExchangeSink",
    ] {
        assert!(profile.contains(needle), "missing {needle} in\n{profile}");
    }
    let analyzed = cluster
        .lines(&mut conn, "EXPLAIN ANALYZE SELECT count(*) FROM big")
        .await
        .join("\n");
    assert!(
        analyzed.contains("output_rows=") && analyzed.contains("Fragment 1"),
        "{analyzed}"
    );

    // query_timeout.
    cluster.exec(&mut conn, "SET query_timeout = 2").await;
    let start = Instant::now();
    let err = query(&mut conn, LONG_QUERY)
        .await
        .expect_err("the query must time out");
    assert!(err.to_string().contains("timeout"), "{err}");
    assert!(
        start.elapsed() < Duration::from_secs(15),
        "timed out after {:?}",
        start.elapsed()
    );
    cluster.exec(&mut conn, "SET query_timeout = DEFAULT").await;

    // KILL QUERY from another connection cancels the fragments on every backend.
    let mut victim = cluster.connect().await;
    cluster.exec(&mut victim, &format!("USE {DB}")).await;
    let id = cluster
        .lines(&mut victim, "SELECT CONNECTION_ID()")
        .await
        .join("");
    let running = tokio::spawn(async move {
        let r = query(&mut victim, LONG_QUERY).await;
        (r, victim)
    });
    let query_id = running_query_id(&cluster, &mut conn, Some(&id)).await;
    // Let every backend start its fragments.
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.exec(&mut conn, &format!("KILL QUERY {id}")).await;
    let (result, mut victim) = tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .expect("KILL QUERY did not stop the query")
        .expect("task");
    let err = result.expect_err("a killed query fails");
    assert!(err.to_string().contains("cancelled"), "{err}");
    wait_for_cancel(&cluster, &query_id, "KILL QUERY").await;
    // The connection is still usable.
    assert_eq!(
        cluster
            .lines(&mut victim, "SELECT count(*) FROM small")
            .await,
        ["100"]
    );

    // A client that disconnects mid-query (the `mysql` client killed with SIGKILL).
    let mut client = std::process::Command::new("mysql")
        .args(["-h127.0.0.1", "-uroot", "-D", DB, "-e", LONG_QUERY])
        .arg(format!("-P{}", cluster.query_port()))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("run the mysql client");
    let query_id = running_query_id(&cluster, &mut conn, None).await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    client.kill().expect("kill the mysql client");
    let _ = client.wait();
    wait_for_cancel(&cluster, &query_id, "client disconnect").await;

    // A backend killed mid-query: the query fails promptly, naming it.
    let mut victim = cluster.connect().await;
    cluster.exec(&mut victim, &format!("USE {DB}")).await;
    let running = tokio::spawn(async move { query(&mut victim, LONG_QUERY).await });
    tokio::time::sleep(Duration::from_secs(2)).await;
    cluster.kill_be(2);
    let brpc = cluster.be_ports(2).brpc_port;
    let result = tokio::time::timeout(Duration::from_secs(30), running)
        .await
        .expect("the query hung after a backend died")
        .expect("task");
    let err = result.expect_err("the query must fail").to_string();
    assert!(
        err.contains(&format!(":{brpc}")),
        "the error should name backend :{brpc}: {err}"
    );
    cluster.restart_be(2).await;
    assert_eq!(
        cluster.lines(&mut conn, "SELECT count(*) FROM big").await,
        [BIG_ROWS.to_string()]
    );
}
