//! AGGREGATE KEY tables loaded by stream load (real `curl`, following the FE's 307 to the
//! BE): rows with equal keys merge on read across loads and within one file, where the
//! later line is the newer one for REPLACE; the merge survives a BE restart (rowset
//! versions and segment order come back from the BE's metadata).
//! Expected values are worked out by hand from the CSV bodies below.
//!
//! Run: `cargo build --bins && cargo test -p regression-test --test aggregate_load -- --nocapture`.

use std::io::Write;

use regression_test::Cluster;
use serde_json::Value;

const DB: &str = "agg_load";

/// A CSV stream load through the FE as root; returns the reply, which must say Success.
async fn stream_load(cluster: &Cluster, table: &str, body: &str) -> Value {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    file.write_all(body.as_bytes()).expect("write body");
    let url = format!(
        "http://{}/api/{DB}/{table}/_stream_load",
        cluster.fe_http_addr()
    );
    let (_, reply) = regression_test::curl::put(
        &url,
        "root:",
        &[("column_separator", ",")],
        Some(file.path()),
    )
    .await;
    assert_eq!(
        reply.get("Status").and_then(Value::as_str),
        Some("Success"),
        "stream load into {table}: {reply}\n{}",
        cluster.logs()
    );
    reply
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_loads_merge_by_key() {
    let mut cluster = Cluster::start(1).await;
    let mut conn = cluster.connect().await;
    for sql in [
        format!("DROP DATABASE IF EXISTS {DB}"),
        format!("CREATE DATABASE {DB}"),
        format!("USE {DB}"),
        "CREATE TABLE t (k INT, s BIGINT SUM, r VARCHAR(5) REPLACE, rn INT REPLACE_IF_NOT_NULL, \
         mx INT MAX, mn INT MIN) AGGREGATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2 \
         PROPERTIES (\"replication_num\" = \"1\")"
            .into(),
    ] {
        cluster.exec(&mut conn, &sql).await;
    }

    // One file, keys repeated: the later line of a key is the newer one.
    let first = "1,1,a,1,5,5\n2,1,b,2,1,1\n1,2,c,\\N,7,3\n1,3,d,4,2,9\n2,5,\\N,\\N,\\N,\\N\n1,4,e,\\N,6,4\n";
    let reply = stream_load(&cluster, "t", first).await;
    assert_eq!(reply.get("NumberLoadedRows"), Some(&Value::from(6)));
    let sql = "SELECT * FROM t ORDER BY k";
    // k=1: s 1+2+3+4, r e (last line), rn 4 (last non-NULL), mx 7, mn 3
    // k=2: s 1+5, r NULL (the last line's), rn 2, mx 1, mn 1
    assert_eq!(
        cluster.lines(&mut conn, sql).await,
        ["1\t10\te\t4\t7\t3", "2\t6\tNULL\t2\t1\t1"]
    );

    // A second load: newer than every line of the first.
    stream_load(
        &cluster,
        "t",
        "2,10,x,\\N,0,0\n3,1,y,3,3,3\n1,\\N,\\N,8,\\N,\\N\n",
    )
    .await;
    let merged = [
        "1\t10\tNULL\t8\t7\t3",
        "2\t16\tx\t2\t1\t0",
        "3\t1\ty\t3\t3\t3",
    ];
    assert_eq!(cluster.lines(&mut conn, sql).await, merged);
    assert_eq!(
        cluster
            .lines(&mut conn, "SELECT count(*), sum(s) FROM t WHERE rn > 2")
            .await,
        ["2\t11"]
    );

    // The BE reloads its rowsets from RocksDB: same versions, same segment order.
    drop(conn);
    cluster.restart_be(0).await;
    let mut conn = cluster.connect().await;
    cluster.exec(&mut conn, &format!("USE {DB}")).await;
    assert_eq!(cluster.lines(&mut conn, sql).await, merged);
    cluster
        .exec(&mut conn, &format!("DROP DATABASE {DB}"))
        .await;
}
