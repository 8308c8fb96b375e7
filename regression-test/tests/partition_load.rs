//! Stream load into a partitioned table: rows are routed to their partitions, rows that fit
//! no partition are filtered as data-quality errors (`no partition for this tuple`, in the
//! error log, counted in `NumberFilteredRows`, subject to `max_filter_ratio`), and the
//! `partitions` header keeps only rows of the listed partitions. Every load gives every
//! partition the next visible version.
//!
//! Run: `cargo build --bins && cargo test -p regression-test --test partition_load -- --nocapture`.

use regression_test::doris_case::http;
use regression_test::Cluster;

const DB: &str = "part_load";

/// Stream-loads `body` (CSV, `,`-separated) into `d` through the FE; returns the JSON reply.
async fn stream_load(cluster: &Cluster, body: &str, extra: &[(&str, &str)]) -> serde_json::Value {
    let mut headers = vec![("column_separator".to_string(), ",".to_string())];
    headers.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    let host = cluster.fe_http_addr().to_string();
    let resp = http::put(
        &host,
        &format!("/api/{DB}/d/_stream_load"),
        &headers,
        body.as_bytes(),
    )
    .await
    .unwrap_or_else(|e| panic!("stream load failed: {e}\n{}", cluster.logs()));
    let text = resp.body_text();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("reply is not JSON ({e}): {text}"))
}

fn field(reply: &serde_json::Value, key: &str) -> String {
    match reply.get(key) {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => panic!("`{key}` missing in {reply}"),
    }
}

/// Fetches the error log a reply points to (its `ErrorURL`).
async fn error_log(reply: &serde_json::Value) -> String {
    let url = field(reply, "ErrorURL");
    let (status, body) = regression_test::curl::get(&url).await;
    assert_eq!(status, 200, "GET {url} answered: {body}");
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_load_routes_and_filters_by_partition() {
    let cluster = Cluster::start(1).await;
    let mut conn = cluster.connect().await;
    cluster
        .exec(&mut conn, &format!("CREATE DATABASE {DB}"))
        .await;
    cluster.exec(&mut conn, &format!("USE {DB}")).await;
    // Half-years of 2024 and 2026; 2025 and before 2024 have no partition.
    cluster
        .exec(
            &mut conn,
            "CREATE TABLE d (dt DATE NOT NULL, id INT, amount INT) DUPLICATE KEY(dt)
         PARTITION BY RANGE(dt) (
           PARTITION h1 VALUES [('2024-01-01'), ('2024-07-01')),
           PARTITION h2 VALUES [('2024-07-01'), ('2025-01-01')),
           PARTITION y26 VALUES [('2026-01-01'), ('2027-01-01'))
         ) DISTRIBUTED BY HASH(id) BUCKETS 2 PROPERTIES ('replication_num' = '1')",
        )
        .await;

    // 5 rows, 2 without a partition: 40% filtered, allowed by max_filter_ratio 0.5.
    let body =
        "2024-02-02,1,10\n2025-05-05,2,20\n2026-06-06,3,30\n2023-01-01,4,40\n2024-08-08,5,50\n";
    let reply = stream_load(&cluster, body, &[("max_filter_ratio", "0.5")]).await;
    assert_eq!(field(&reply, "Status"), "Success", "{reply}");
    assert_eq!(field(&reply, "NumberTotalRows"), "5", "{reply}");
    assert_eq!(field(&reply, "NumberLoadedRows"), "3", "{reply}");
    assert_eq!(field(&reply, "NumberFilteredRows"), "2", "{reply}");
    let log = error_log(&reply).await;
    assert_eq!(
        log.matches("no partition for this tuple").count(),
        2,
        "error log: {log}"
    );
    assert!(
        log.contains("2025-05-05") && log.contains("2023-01-01"),
        "{log}"
    );
    assert_eq!(
        cluster
            .lines(&mut conn, "SELECT dt, id FROM d ORDER BY id")
            .await,
        vec!["2024-02-02\t1", "2026-06-06\t3", "2024-08-08\t5"]
    );

    // The same rows with the default max_filter_ratio (0): the load fails, nothing changes.
    let reply = stream_load(&cluster, body, &[]).await;
    assert_eq!(field(&reply, "Status"), "Fail", "{reply}");
    assert!(
        field(&reply, "Message").contains("too many filtered rows"),
        "{reply}"
    );
    assert_eq!(
        cluster.lines(&mut conn, "SELECT count(*) FROM d").await,
        vec!["3"]
    );

    // `partitions: H1, y26` (names case-insensitive): rows of h2 are filtered like rows of
    // no partition.
    let body = "2024-03-03,6,1\n2024-09-09,7,2\n2026-01-01,8,3\n2022-01-01,9,4\n";
    let reply = stream_load(
        &cluster,
        body,
        &[("partitions", "H1, y26"), ("max_filter_ratio", "0.5")],
    )
    .await;
    assert_eq!(field(&reply, "Status"), "Success", "{reply}");
    assert_eq!(field(&reply, "NumberLoadedRows"), "2", "{reply}");
    assert_eq!(field(&reply, "NumberFilteredRows"), "2", "{reply}");
    assert_eq!(
        cluster
            .lines(&mut conn, "SELECT id FROM d WHERE id >= 6 ORDER BY id")
            .await,
        vec!["6", "8"]
    );

    // An unknown partition name is refused before anything is read.
    let reply = stream_load(&cluster, body, &[("partitions", "nope")]).await;
    assert_eq!(field(&reply, "Status"), "Fail", "{reply}");
    assert!(
        field(&reply, "Message").contains("Unknown partition 'nope'"),
        "{reply}"
    );

    // Two successful loads (the failed ones changed nothing): every partition is at 1 + 2.
    let versions = cluster.lines(&mut conn, "SHOW PARTITIONS FROM d").await;
    let got: Vec<String> = versions
        .iter()
        .map(|r| {
            let cells: Vec<&str> = r.split('\t').collect();
            format!("{} {}", cells[1], cells[2])
        })
        .collect();
    assert_eq!(got, vec!["h1 3", "h2 3", "y26 3"]);
    assert_eq!(
        cluster
            .lines(&mut conn, "SELECT count(*), sum(amount) FROM d")
            .await,
        vec!["5\t94"]
    );
}
