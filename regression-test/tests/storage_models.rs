//! The storage models under interleaved loads, deletes, updates and compactions, checked
//! after every step against a reference model kept in this test (a few lines per model,
//! independent of the database): DUPLICATE KEY keeps every row, AGGREGATE KEY merges equal
//! keys (SUM, MAX, REPLACE, REPLACE_IF_NOT_NULL, MIN), UNIQUE KEY keeps the newest row,
//! merge-on-write and merge-on-read. Operations come from a seeded generator: INSERTs with
//! repeated keys and NULLs, stream loads (with `merge_type: DELETE` on unique tables),
//! DELETEs, UPDATEs, partial column updates (merge-on-write), and compactions of every kind requested through the BE's HTTP API
//! while background compaction also runs. Then: 2,000 single-row INSERTs keep a bounded
//! rowset count, and a tablet past `max_tablet_version_num` refuses loads with E-235 until
//! compaction merged its rowsets.
//!
//! Run: `cargo build --bins && cargo test -p regression-test --test storage_models -- --nocapture`.

use std::collections::BTreeMap;
use std::time::Instant;

use mysql_async::Conn;
use regression_test::{curl, query, Cluster};

const DB: &str = "storage_models";
const STEPS: usize = 60;

/// A row: k1, k2, then v1 BIGINT, v2 INT, v3 VARCHAR(8), v4 INT, v5 INT.
type Key = (i64, i64);

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Row {
    k1: i64,
    k2: i64,
    v1: Option<i64>,
    v2: Option<i64>,
    v3: Option<String>,
    v4: Option<i64>,
    v5: Option<i64>,
}

impl Row {
    fn key(&self) -> Key {
        (self.k1, self.k2)
    }

    fn sql(&self) -> String {
        let n = |v: Option<i64>| v.map_or("NULL".to_string(), |v| v.to_string());
        let s = self
            .v3
            .as_ref()
            .map_or("NULL".to_string(), |v| format!("'{v}'"));
        format!(
            "({}, {}, {}, {}, {s}, {}, {})",
            self.k1,
            self.k2,
            n(self.v1),
            n(self.v2),
            n(self.v4),
            n(self.v5)
        )
    }

    fn csv(&self) -> String {
        let n = |v: Option<i64>| v.map_or("\\N".to_string(), |v| v.to_string());
        format!(
            "{},{},{},{},{},{},{}",
            self.k1,
            self.k2,
            n(self.v1),
            n(self.v2),
            self.v3.clone().unwrap_or_else(|| "\\N".into()),
            n(self.v4),
            n(self.v5)
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Model {
    Duplicate,
    Aggregate,
    UniqueMergeOnWrite,
    UniqueMergeOnRead,
}

impl Model {
    fn ddl(self, table: &str) -> String {
        let (cols, keys, props) = match self {
            Model::Duplicate => (
                "v1 BIGINT, v2 INT, v3 VARCHAR(8), v4 INT, v5 INT",
                "DUPLICATE KEY(k1, k2)",
                "",
            ),
            Model::Aggregate => (
                "v1 BIGINT SUM, v2 INT MAX, v3 VARCHAR(8) REPLACE, v4 INT REPLACE_IF_NOT_NULL, v5 INT MIN",
                "AGGREGATE KEY(k1, k2)",
                "",
            ),
            Model::UniqueMergeOnWrite => (
                "v1 BIGINT, v2 INT, v3 VARCHAR(8), v4 INT, v5 INT",
                "UNIQUE KEY(k1, k2)",
                "",
            ),
            Model::UniqueMergeOnRead => (
                "v1 BIGINT, v2 INT, v3 VARCHAR(8), v4 INT, v5 INT",
                "UNIQUE KEY(k1, k2)",
                ", \"enable_unique_key_merge_on_write\" = \"false\"",
            ),
        };
        format!(
            "CREATE TABLE {table} (k1 INT, k2 INT, {cols}) {keys} DISTRIBUTED BY HASH(k1) BUCKETS 3 \
             PROPERTIES (\"replication_num\" = \"1\"{props})"
        )
    }

    fn unique(self) -> bool {
        matches!(self, Model::UniqueMergeOnWrite | Model::UniqueMergeOnRead)
    }
}

/// What the table must hold.
struct Reference {
    model: Model,
    /// DUPLICATE KEY: every row; the other models: one row per key.
    rows: Vec<Row>,
}

fn combine(a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(f(x, y)),
        (x, y) => x.or(y),
    }
}

impl Reference {
    fn load(&mut self, rows: &[Row]) {
        for r in rows {
            match self.model {
                Model::Duplicate => self.rows.push(r.clone()),
                Model::UniqueMergeOnWrite | Model::UniqueMergeOnRead => {
                    self.rows.retain(|x| x.key() != r.key());
                    self.rows.push(r.clone());
                }
                Model::Aggregate => match self.rows.iter_mut().find(|x| x.key() == r.key()) {
                    None => self.rows.push(r.clone()),
                    Some(x) => {
                        x.v1 = combine(x.v1, r.v1, |a, b| a + b);
                        x.v2 = combine(x.v2, r.v2, i64::max);
                        x.v3 = r.v3.clone();
                        x.v4 = r.v4.or(x.v4);
                        x.v5 = combine(x.v5, r.v5, i64::min);
                    }
                },
            }
        }
    }

    fn delete(&mut self, matches: impl Fn(&Row) -> bool) {
        self.rows.retain(|r| !matches(r));
    }

    fn sorted(&self) -> Vec<Row> {
        let mut rows = self.rows.clone();
        rows.sort();
        rows
    }
}

/// A small deterministic generator (xorshift64*), so failures replay.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> i64 {
        (self.next() % n) as i64
    }

    fn maybe(&mut self, v: i64) -> Option<i64> {
        (self.below(6) != 0).then_some(v)
    }

    fn row(&mut self) -> Row {
        let k1 = self.below(12);
        let k2 = self.below(3);
        let v1 = self.below(1000) - 300;
        let v2 = self.below(100);
        let v3 = format!("s{}", self.below(50));
        let v4 = self.below(100);
        let v5 = self.below(100);
        Row {
            k1,
            k2,
            v1: self.maybe(v1),
            v2: self.maybe(v2),
            v3: (self.below(6) != 0).then_some(v3),
            v4: self.maybe(v4),
            v5: self.maybe(v5),
        }
    }
}

fn parse_row(cells: &[Option<String>]) -> Row {
    let int = |i: usize| {
        cells[i]
            .as_ref()
            .map(|c| c.parse::<i64>().expect("integer"))
    };
    Row {
        k1: int(0).expect("k1"),
        k2: int(1).expect("k2"),
        v1: int(2),
        v2: int(3),
        v3: cells[4].clone(),
        v4: int(5),
        v5: int(6),
    }
}

async fn table_rows(cluster: &Cluster, conn: &mut Conn, table: &str) -> Vec<Row> {
    let out = cluster.exec(conn, &format!("SELECT * FROM {table}")).await;
    let mut rows: Vec<Row> = out.rows().iter().map(|r| parse_row(r)).collect();
    rows.sort();
    rows
}

/// The BE's tablet ids with their rowset counts (from `/api/tablets`).
async fn tablets(cluster: &Cluster) -> BTreeMap<i64, u64> {
    let port = cluster.be_ports(0).webserver_port;
    let (code, body) = curl::get(&format!("http://127.0.0.1:{port}/api/tablets")).await;
    assert_eq!(code, 200, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["data"]["tablets"]
        .as_array()
        .expect("tablets")
        .iter()
        .map(|t| {
            (
                t["tablet_id"].as_i64().expect("id"),
                t["rowset_count"].as_u64().expect("rowsets"),
            )
        })
        .collect()
}

async fn compact_all(cluster: &Cluster, kind: &str) {
    let port = cluster.be_ports(0).webserver_port;
    for id in tablets(cluster).await.into_keys() {
        let url = format!(
            "http://127.0.0.1:{port}/api/compaction/run?tablet_id={id}&compact_type={kind}"
        );
        let (code, body) = curl::post(&url).await;
        assert_eq!(code, 200, "{url}: {body}");
        // "no suitable versions" is a valid answer; a failed merge is not.
        assert!(
            body.contains("Success") || body.contains("no suitable versions"),
            "{url}: {body}"
        );
    }
}

async fn stream_load(cluster: &Cluster, table: &str, rows: &[Row], merge_delete: bool) {
    let dir = cluster.dir().join("loads");
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join(format!("{table}.csv"));
    let body: String = rows.iter().map(|r| r.csv() + "\n").collect();
    std::fs::write(&path, body).expect("write csv");
    let url = format!(
        "http://{}/api/{DB}/{table}/_stream_load",
        cluster.fe_http_addr()
    );
    let mut headers = vec![("column_separator", ",")];
    if merge_delete {
        headers.push(("merge_type", "DELETE"));
    }
    let (code, reply) = curl::put(&url, "root:", &headers, Some(&path)).await;
    assert_eq!(code, 200, "{reply}");
    assert_eq!(reply["Status"], "Success", "{reply}");
}

async fn run_model(cluster: &Cluster, conn: &mut Conn, model: Model, seed: u64) {
    let table = format!("{model:?}").to_lowercase();
    cluster.exec(conn, &model.ddl(&table)).await;
    let mut reference = Reference {
        model,
        rows: Vec::new(),
    };
    let mut rng = Rng(seed);
    for step in 0..STEPS {
        let what = rng.below(10);
        let done = match what {
            0..=3 => {
                let rows: Vec<Row> = (0..1 + rng.below(15)).map(|_| rng.row()).collect();
                let values: Vec<String> = rows.iter().map(Row::sql).collect();
                let sql = format!(
                    "INSERT INTO {table} (k1, k2, v1, v2, v3, v4, v5) VALUES {}",
                    values.join(", ")
                );
                cluster.exec(conn, &sql).await;
                reference.load(&rows);
                sql
            }
            4 => {
                let rows: Vec<Row> = (0..1 + rng.below(20)).map(|_| rng.row()).collect();
                let delete = model.unique() && rng.below(2) == 0;
                stream_load(cluster, &table, &rows, delete).await;
                if delete {
                    reference.delete(|r| rows.iter().any(|d| d.key() == r.key()));
                } else {
                    reference.load(&rows);
                }
                format!("stream load of {} rows (delete: {delete})", rows.len())
            }
            5 | 6 => {
                let (a, b) = (rng.below(12), rng.below(3));
                type Predicate = Box<dyn Fn(&Row) -> bool>;
                let (sql, matches): (String, Predicate) = match rng.below(3) {
                    0 => (format!("k1 = {a}"), Box::new(move |r: &Row| r.k1 == a)),
                    1 => (
                        format!("k1 IN ({a}, {})", (a + 5) % 12),
                        Box::new(move |r: &Row| r.k1 == a || r.k1 == (a + 5) % 12),
                    ),
                    _ => (
                        format!("k2 = {b} AND k1 >= {a}"),
                        Box::new(move |r: &Row| r.k2 == b && r.k1 >= a),
                    ),
                };
                let sql = format!("DELETE FROM {table} WHERE {sql}");
                cluster.exec(conn, &sql).await;
                reference.delete(matches);
                sql
            }
            8 if model == Model::UniqueMergeOnWrite => {
                // A partial column update: v2 only; other columns keep the key's values,
                // or are NULL for a new key.
                let rows: Vec<(i64, i64, i64)> = (0..1 + rng.below(8))
                    .map(|_| (rng.below(12), rng.below(3), rng.below(100)))
                    .collect();
                let values: Vec<String> = rows
                    .iter()
                    .map(|(a, b, v)| format!("({a}, {b}, {v})"))
                    .collect();
                cluster
                    .exec(conn, "SET enable_unique_key_partial_update = true")
                    .await;
                let sql = format!(
                    "INSERT INTO {table} (k1, k2, v2) VALUES {}",
                    values.join(", ")
                );
                cluster.exec(conn, &sql).await;
                cluster
                    .exec(conn, "SET enable_unique_key_partial_update = false")
                    .await;
                for (a, b, v) in rows {
                    match reference.rows.iter_mut().find(|r| r.key() == (a, b)) {
                        Some(r) => r.v2 = Some(v),
                        None => reference.rows.push(Row {
                            k1: a,
                            k2: b,
                            v1: None,
                            v2: Some(v),
                            v3: None,
                            v4: None,
                            v5: None,
                        }),
                    }
                }
                sql
            }
            7 if model.unique() => {
                let (a, v) = (rng.below(12), rng.below(100));
                let sql = format!("UPDATE {table} SET v2 = {v}, v3 = 'u{v}' WHERE k1 = {a}");
                cluster.exec(conn, &sql).await;
                for r in reference.rows.iter_mut().filter(|r| r.k1 == a) {
                    r.v2 = Some(v);
                    r.v3 = Some(format!("u{v}"));
                }
                sql
            }
            _ => {
                let kind = ["cumulative", "base", "full"][rng.below(3) as usize];
                compact_all(cluster, kind).await;
                format!("{kind} compaction")
            }
        };
        let actual = table_rows(cluster, conn, &table).await;
        let expected = reference.sorted();
        assert_eq!(
            actual, expected,
            "{model:?}, step {step} ({done}): table and reference differ"
        );
    }
    eprintln!(
        "{model:?}: {STEPS} steps match the reference ({} rows at the end)",
        reference.rows.len()
    );
}

/// Waits until no schema change job runs (SHOW ALTER TABLE COLUMN has no RUNNING row).
async fn wait_for_alter_jobs(cluster: &Cluster, conn: &mut Conn) {
    for _ in 0..300 {
        let jobs = cluster.exec(conn, "SHOW ALTER TABLE COLUMN").await;
        if !jobs
            .rows()
            .iter()
            .any(|r| r.get(9).and_then(|s| s.as_deref()) == Some("RUNNING"))
        {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("schema change job did not finish in 30 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn storage_models() {
    const INSERTS: i64 = 200;
    // Background compaction runs often so that it interleaves with the steps.
    let cluster = Cluster::start_with_be_conf(
        1,
        "generate_compaction_tasks_interval_ms = 200\ncumulative_compaction_min_deltas = 3\n",
    )
    .await;
    let mut conn = cluster.connect().await;
    cluster
        .exec(&mut conn, &format!("CREATE DATABASE {DB}"))
        .await;
    cluster.exec(&mut conn, &format!("USE {DB}")).await;
    for (i, model) in [
        Model::Duplicate,
        Model::Aggregate,
        Model::UniqueMergeOnWrite,
        Model::UniqueMergeOnRead,
    ]
    .into_iter()
    .enumerate()
    {
        run_model(&cluster, &mut conn, model, 0x5eed + i as u64).await;
    }

    // Schema change while loading: inserts keep arriving while columns are added, widened
    // and dropped, and a key column is added (a background job rewriting the data); every
    // acknowledged row is there, with the added columns' defaults.
    cluster
        .exec(
            &mut conn,
            "CREATE TABLE sc (k INT, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 3 \
             PROPERTIES (\"replication_num\" = \"1\")",
        )
        .await;
    let loader = {
        let mut conn = cluster.try_connect(Some(DB)).await.expect("connect");
        tokio::spawn(async move {
            let mut acknowledged = 0i64;
            for i in 0..INSERTS {
                let sql = format!("INSERT INTO sc (k, v) VALUES ({i}, {i}), ({}, 1)", i + 1000);
                if query(&mut conn, &sql).await.is_ok() {
                    acknowledged += 1;
                }
            }
            acknowledged
        })
    };
    for alter in [
        "ALTER TABLE sc ADD COLUMN c INT DEFAULT \"7\"",
        "ALTER TABLE sc ADD COLUMN k2 INT KEY DEFAULT \"5\"",
        "ALTER TABLE sc MODIFY COLUMN v BIGINT",
        "ALTER TABLE sc ADD COLUMN d VARCHAR(5)",
        "ALTER TABLE sc DROP COLUMN d",
    ] {
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
        cluster.exec(&mut conn, alter).await;
        wait_for_alter_jobs(&cluster, &mut conn).await;
    }
    let acknowledged = loader.await.expect("loader");
    assert_eq!(
        acknowledged, INSERTS,
        "inserts failed during the schema change"
    );
    let jobs = cluster.exec(&mut conn, "SHOW ALTER TABLE COLUMN").await;
    assert_eq!(jobs.rows().len(), 1, "one job rewrote the data: {jobs:?}");
    compact_all(&cluster, "full").await;
    let out = cluster
        .exec(
            &mut conn,
            "SELECT count(*), sum(k), sum(c), count(DISTINCT c), sum(k2) FROM sc",
        )
        .await;
    let expected = [
        2 * INSERTS,
        (0..INSERTS).sum::<i64>() + (1000..1000 + INSERTS).sum::<i64>(),
        2 * INSERTS * 7,
        1,
        2 * INSERTS * 5,
    ];
    assert_eq!(
        out.rows()[0],
        expected.map(|v| Some(v.to_string())).to_vec(),
        "rows after the schema change"
    );

    // BITMAP_UNION / HLL_UNION columns merge the same in compaction as in reads.
    cluster
        .exec(
            &mut conn,
            "CREATE TABLE uv (k INT, users BITMAP BITMAP_UNION, visitors HLL HLL_UNION) \
             AGGREGATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 \
             PROPERTIES (\"replication_num\" = \"1\")",
        )
        .await;
    for load in 0..6 {
        let rows: Vec<String> = (0..20)
            .map(|i| format!("({}, to_bitmap({}), hll_hash({}))", i % 4, load * 7 + i, i))
            .collect();
        cluster
            .exec(
                &mut conn,
                &format!("INSERT INTO uv VALUES {}", rows.join(", ")),
            )
            .await;
    }
    let sketch_query =
        "SELECT k, bitmap_count(users), hll_cardinality(visitors) FROM uv ORDER BY k";
    let before = cluster.lines(&mut conn, sketch_query).await;
    compact_all(&cluster, "full").await;
    assert_eq!(cluster.lines(&mut conn, sketch_query).await, before);
    // Key k holds i = k, k+4, ..., k+16 of every load: 5 distinct hashes, and user ids
    // load*7 + i, distinct unless loads overlap.
    let users: Vec<usize> = (0..4)
        .map(|k| {
            let mut ids: Vec<i64> = (0..6)
                .flat_map(|load| (0..20).filter(|i| i % 4 == k).map(move |i| load * 7 + i))
                .collect();
            ids.sort_unstable();
            ids.dedup();
            ids.len()
        })
        .collect();
    let expected: Vec<String> = (0..4).map(|k| format!("{k}\t{}\t5", users[k])).collect();
    assert_eq!(before, expected);

    // SHOW TABLETS: one row per replica (3 buckets), Doris's 22 columns.
    let out = cluster.exec(&mut conn, "SHOW TABLETS FROM duplicate").await;
    assert_eq!(out.rows().len(), 3, "{out:?}");
    assert!(out.rows().iter().all(|r| r.len() == 22), "{out:?}");

    // A point query by key reads one bucket, one row group and one page of it; a bloom
    // filter column skips row groups too (counters from the query profile).
    cluster
        .exec(
            &mut conn,
            "CREATE TABLE point (k BIGINT, s VARCHAR(20), v BIGINT) DUPLICATE KEY(k) \
             DISTRIBUTED BY HASH(k) BUCKETS 4 PROPERTIES (\"replication_num\" = \"1\", \
             \"bloom_filter_columns\" = \"s\")",
        )
        .await;
    cluster
        .exec(
            &mut conn,
            "INSERT INTO point SELECT number, concat('s', number), number * 3 \
             FROM numbers(\"number\" = \"1000000\")",
        )
        .await;
    cluster.exec(&mut conn, "SET enable_profile = true").await;
    for (sql, row, files, needles) in [
        (
            "SELECT * FROM point WHERE k = 123456",
            "123456\ts123456\t370368",
            1,
            vec![
                "row_groups_pruned_statistics=2 total → 1 matched",
                "page_index_rows_pruned=131.1 K total → 8.19 K matched",
            ],
        ),
        (
            "SELECT * FROM point WHERE s = 's777'",
            "777\ts777\t2331",
            4,
            vec!["row_groups_pruned_bloom_filter=8 total → 1 matched"],
        ),
    ] {
        assert_eq!(cluster.lines(&mut conn, sql).await, [row]);
        let listed = cluster.lines(&mut conn, "SHOW QUERY PROFILE \"/\"").await;
        let id = listed
            .iter()
            .find(|l| l.contains(sql))
            .and_then(|l| l.split('\t').next())
            .unwrap_or_else(|| panic!("{sql} is not profiled: {listed:?}"))
            .to_string();
        let profile = cluster
            .lines(&mut conn, &format!("SHOW QUERY PROFILE \"/{id}\""))
            .await
            .join("\n");
        for needle in needles {
            assert!(profile.contains(needle), "missing {needle} in\n{profile}");
        }
        // Segment files read: one tablet of four for the key, all four for the bloom filter.
        assert_eq!(profile.matches(".dat").count(), files, "{profile}");
    }
    cluster.exec(&mut conn, "SET enable_profile = false").await;

    // 2,000 single-row INSERTs: compaction keeps the rowset count bounded.
    let before: Vec<i64> = tablets(&cluster).await.into_keys().collect();
    cluster
        .exec(
            &mut conn,
            "CREATE TABLE many (k INT, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 \
             PROPERTIES (\"replication_num\" = \"1\")",
        )
        .await;
    let start = Instant::now();
    let mut most = 0u64;
    for i in 0..2000 {
        cluster
            .exec(
                &mut conn,
                &format!("INSERT INTO many VALUES ({i}, {})", i * 2),
            )
            .await;
        if i % 100 == 99 {
            let counts = tablets(&cluster).await;
            let many = counts
                .iter()
                .filter(|(id, _)| !before.contains(id))
                .map(|(_, n)| *n)
                .max()
                .unwrap_or(0);
            most = most.max(many);
        }
    }
    let elapsed = start.elapsed();
    let out = cluster
        .exec(&mut conn, "SELECT count(*), sum(v) FROM many")
        .await;
    assert_eq!(
        out.rows()[0],
        [Some("2000".to_string()), Some((1999 * 2000).to_string())]
    );
    eprintln!(
        "2000 single-row INSERTs in {:.1} s; at most {most} rowsets in the tablet",
        elapsed.as_secs_f64()
    );
    assert!(most <= 60, "rowsets piled up to {most} in the tablet");
    // SHOW TABLETS tells the same from the tablet reports (refreshed after each publish).
    let deadline = Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = cluster.exec(&mut conn, "SHOW TABLETS FROM many").await;
        let row = &out.rows()[0];
        let cell = |i: usize| row[i].clone().unwrap_or_default();
        // RowCount (10) and VersionCount (14)
        if cell(10) == "2000" {
            let versions: u64 = cell(14).parse().expect("VersionCount");
            assert!((1..=60).contains(&versions), "VersionCount {versions}");
            break;
        }
        assert!(Instant::now() < deadline, "SHOW TABLETS: {row:?}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    drop(conn);
    drop(cluster);

    // Past max_tablet_version_num loads fail with E-235, until a compaction merges.
    let cluster = Cluster::start_with_be_conf(
        1,
        "disable_auto_compaction = true\nmax_tablet_version_num = 8\n",
    )
    .await;
    let mut conn = cluster.connect().await;
    cluster.exec(&mut conn, "CREATE DATABASE v").await;
    cluster.exec(&mut conn, "USE v").await;
    cluster
        .exec(
            &mut conn,
            "CREATE TABLE t (k INT, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 \
             PROPERTIES (\"replication_num\" = \"1\")",
        )
        .await;
    for i in 0..8 {
        cluster
            .exec(&mut conn, &format!("INSERT INTO t VALUES ({i}, {i})"))
            .await;
    }
    let err = query(&mut conn, "INSERT INTO t VALUES (8, 8)")
        .await
        .expect_err("a ninth version is refused");
    assert!(
        err.to_string().contains("[E-235]") && err.to_string().contains("exceed limit: 8"),
        "{err}"
    );
    compact_all(&cluster, "full").await;
    cluster.exec(&mut conn, "INSERT INTO t VALUES (8, 8)").await;
    let out = cluster.exec(&mut conn, "SELECT count(*) FROM t").await;
    assert_eq!(out.rows()[0], [Some("9".to_string())]);
}
