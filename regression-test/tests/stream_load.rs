//! Stream load and load transactions against a real FE + BE, driven with real `curl`
//! (`--location-trusted`, following the FE's 307 to the BE) and raw HTTP for the faults:
//! every header, CSV and JSON, compressed bodies, labels, two-phase commit, filtered rows
//! and their `ErrorURL`, INSERT labels and explicit transactions, the SHOW statements,
//! concurrent loads, a client hanging up, a timeout and a BE killed mid-load.
//!
//! Run: `cargo build --bins && cargo test -p regression-test --test stream_load -- --nocapture`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use mysql_async::Conn;
use regression_test::{query, Cluster};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const DB: &str = "sl";

async fn scalar(cluster: &Cluster, conn: &mut Conn, sql: &str) -> String {
    cluster.lines(conn, sql).await.join("\n")
}

/// [`regression_test::curl::put`] with the body given as bytes (written to a temp file).
async fn curl(
    url: &str,
    auth: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> (u16, Value) {
    let file = body.map(|b| {
        let mut f = tempfile::NamedTempFile::new().expect("temp file");
        f.write_all(b).expect("write body");
        f
    });
    regression_test::curl::put(url, auth, headers, file.as_ref().map(|f| f.path())).await
}

fn load_url(cluster: &Cluster, table: &str) -> String {
    format!(
        "http://{}/api/{DB}/{table}/_stream_load",
        cluster.fe_http_addr()
    )
}

/// A stream load through the FE as root; panics unless curl got an HTTP 200.
async fn load(cluster: &Cluster, table: &str, headers: &[(&str, &str)], body: &[u8]) -> Value {
    let (code, reply) = curl(&load_url(cluster, table), "root:", headers, Some(body)).await;
    assert_eq!(
        code,
        200,
        "stream load HTTP status; reply {reply}\n{}",
        cluster.logs()
    );
    reply
}

fn field<'a>(reply: &'a Value, name: &str) -> &'a Value {
    reply.get(name).unwrap_or(&Value::Null)
}

fn assert_loaded(reply: &Value, total: u64, loaded: u64, filtered: u64, unselected: u64) {
    assert_eq!(field(reply, "Status"), "Success", "reply {reply}");
    assert_eq!(field(reply, "Message"), "OK", "reply {reply}");
    let n = |k: &str| field(reply, k).as_u64().unwrap_or(u64::MAX);
    assert_eq!(
        (
            n("NumberTotalRows"),
            n("NumberLoadedRows"),
            n("NumberFilteredRows"),
            n("NumberUnselectedRows")
        ),
        (total, loaded, filtered, unselected),
        "row counts of {reply}"
    );
    for k in [
        "TxnId",
        "LoadBytes",
        "LoadTimeMs",
        "BeginTxnTimeMs",
        "StreamLoadPutTimeMs",
        "ReadDataTimeMs",
        "WriteDataTimeMs",
        "CommitAndPublishTimeMs",
    ] {
        assert!(field(reply, k).is_number(), "{k} missing in {reply}");
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).expect("gzip");
    e.finish().expect("gzip")
}

fn lz4(data: &[u8]) -> Vec<u8> {
    let mut e = lz4_flex::frame::FrameEncoder::new(Vec::new());
    e.write_all(data).expect("lz4");
    e.finish().expect("lz4")
}

async fn setup(cluster: &Cluster) -> Conn {
    let mut conn = cluster.connect().await;
    for sql in [
        format!("CREATE DATABASE {DB}"),
        format!("USE {DB}"),
        "CREATE TABLE t (k INT NOT NULL, name VARCHAR(8), v DOUBLE) DUPLICATE KEY(k) \
         DISTRIBUTED BY HASH(k) BUCKETS 3"
            .into(),
        "CREATE TABLE typed (k BIGINT NOT NULL, ti TINYINT, d DATE, dt DATETIME, \
         dec DECIMAL(10, 2), s CHAR(4), lg LARGEINT, dflt INT DEFAULT '7') \
         DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2"
            .into(),
    ] {
        cluster.exec(&mut conn, &sql).await;
    }
    conn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_load_headers_formats_and_labels() {
    let cluster = Cluster::start(1).await;
    let mut conn = setup(&cluster).await;
    let c = &cluster;

    // Plain CSV with a separator; the FE redirects (307) and curl follows with the auth.
    let reply = load(
        c,
        "t",
        &[("label", "csv1"), ("column_separator", ",")],
        b"1,a,1.5\n2,b,2.5\n3,c,3.5\n",
    )
    .await;
    assert_loaded(&reply, 3, 3, 0, 0);
    assert_eq!(field(&reply, "Label"), "csv1");
    assert_eq!(field(&reply, "TwoPhaseCommit"), "false");
    assert_eq!(
        scalar(c, &mut conn, "SELECT count(*), sum(k), sum(v) FROM t").await,
        "3\t6\t7.5"
    );

    // The same label again: refused, nothing written.
    let reply = load(
        c,
        "t",
        &[("label", "csv1"), ("column_separator", ",")],
        b"9,z,9\n",
    )
    .await;
    assert_eq!(field(&reply, "Status"), "Label Already Exists", "{reply}");
    assert_eq!(field(&reply, "ExistingJobStatus"), "FINISHED");
    assert_eq!(scalar(c, &mut conn, "SELECT count(*) FROM t").await, "3");

    // Wrong password / unknown user: 401 from the FE, nothing written.
    let (code, _) = curl(&load_url(c, "t"), "root:wrong", &[], Some(b"8,x,1\n")).await;
    assert_eq!(code, 401);
    let (code, _) = curl(&load_url(c, "t"), "nobody:", &[], Some(b"8,x,1\n")).await;
    assert_eq!(code, 401);
    // Straight to the BE with a wrong password: 401 as well.
    let be_url = format!(
        "http://127.0.0.1:{}/api/{DB}/t/_stream_load",
        c.be_ports(0).webserver_port
    );
    let (code, reply) = curl(
        &be_url,
        "root:wrong",
        &[("column_separator", ",")],
        Some(b"8,x,1\n"),
    )
    .await;
    assert_eq!(code, 401, "{reply}");
    assert_eq!(scalar(c, &mut conn, "SELECT count(*) FROM t").await, "3");

    // Directly on the BE works; default separator is a tab.
    let (code, reply) = curl(&be_url, "root:", &[], Some(b"4\td\t4.5\n")).await;
    assert_eq!(code, 200);
    assert_loaded(&reply, 1, 1, 0, 0);

    // Hex separator, multi-character line delimiter, no trailing delimiter.
    let reply = load(
        c,
        "t",
        &[("column_separator", "\\x01"), ("line_delimiter", "||")],
        b"5\x01e\x015.5||6\x01f\x016.5",
    )
    .await;
    assert_loaded(&reply, 2, 2, 0, 0);

    // columns: reorder, skip (a placeholder that is not a column), derived values.
    let reply = load(
        c,
        "t",
        &[
            ("column_separator", ","),
            ("columns", "v, skipped, k, name = concat('n', k)"),
        ],
        b"7.5,zzz,7\n8.5,yyy,8\n",
    )
    .await;
    assert_loaded(&reply, 2, 2, 0, 0);
    assert_eq!(
        c.lines(
            &mut conn,
            "SELECT k, name, v FROM t WHERE k >= 7 ORDER BY k"
        )
        .await,
        ["7\tn7\t7.5", "8\tn8\t8.5"]
    );
    let reply = load(
        c,
        "t",
        &[
            ("column_separator", ","),
            ("columns", "k, tmp, v = tmp * 2"),
        ],
        b"9,1.25\n",
    )
    .await;
    assert_loaded(&reply, 1, 1, 0, 0);
    assert_eq!(
        scalar(c, &mut conn, "SELECT name, v FROM t WHERE k = 9").await,
        "NULL\t2.5"
    );

    // where: rows it drops are unselected, not errors.
    let reply = load(
        c,
        "t",
        &[("column_separator", ","), ("where", "k > 10 AND v < 100")],
        b"10,a,1\n11,b,2\n12,c,200\n13,d,3\n",
    )
    .await;
    assert_loaded(&reply, 4, 2, 0, 2);
    assert_eq!(
        c.lines(&mut conn, "SELECT k FROM t WHERE k >= 10 ORDER BY k")
            .await,
        ["11", "13"]
    );

    // csv_with_names / csv_with_names_and_types skip their header lines; enclose and
    // trim_double_quotes.
    let reply = load(
        c,
        "t",
        &[
            ("column_separator", ","),
            ("format", "csv_with_names"),
            ("enclose", "\""),
            ("columns", "k, name, v"),
        ],
        b"k,name,v\n20,\"a,b\",1\n",
    )
    .await;
    assert_loaded(&reply, 1, 1, 0, 0);
    let reply = load(
        c,
        "t",
        &[
            ("column_separator", ","),
            ("format", "csv_with_names_and_types"),
            ("trim_double_quotes", "true"),
        ],
        b"k,name,v\nINT,VARCHAR,DOUBLE\n21,\"q\",1\n",
    )
    .await;
    assert_loaded(&reply, 1, 1, 0, 0);
    assert_eq!(
        c.lines(
            &mut conn,
            "SELECT name FROM t WHERE k IN (20, 21) ORDER BY k"
        )
        .await,
        ["a,b", "q"]
    );

    // Compressed bodies.
    let body = b"30,gz,1\n31,gz,1\n";
    let reply = load(
        c,
        "t",
        &[("column_separator", ","), ("compress_type", "gz")],
        &gzip(body),
    )
    .await;
    assert_loaded(&reply, 2, 2, 0, 0);
    let reply = load(
        c,
        "t",
        &[("column_separator", ","), ("compress_type", "zstd")],
        &zstd::encode_all(&b"32,zs,1\n"[..], 3).expect("zstd"),
    )
    .await;
    assert_loaded(&reply, 1, 1, 0, 0);
    let reply = load(
        c,
        "t",
        &[("column_separator", ","), ("compress_type", "lz4")],
        &lz4(b"33,lz,1\n"),
    )
    .await;
    assert_loaded(&reply, 1, 1, 0, 0);
    let reply = load(
        c,
        "t",
        &[("column_separator", ","), ("compress_type", "gz")],
        b"not gzip at all",
    )
    .await;
    assert_eq!(field(&reply, "Status"), "Fail", "{reply}");
    assert_eq!(
        c.lines(&mut conn, "SELECT name FROM t WHERE k >= 30 ORDER BY k")
            .await,
        ["gz", "gz", "zs", "lz"]
    );

    // JSON: an array of objects, one object per line, jsonpaths, json_root.
    let reply = load(
        c,
        "t",
        &[("format", "json"), ("strip_outer_array", "true")],
        br#"[{"k": 40, "name": "j1", "v": 1.5}, {"K": 41, "v": 2}]"#,
    )
    .await;
    assert_loaded(&reply, 2, 2, 0, 0);
    let reply = load(
        c,
        "t",
        &[
            ("format", "json"),
            ("read_json_by_line", "true"),
            ("fuzzy_parse", "true"),
        ],
        b"{\"k\": 42, \"name\": \"j3\"}\n{\"k\": 43, \"name\": \"j4\"}\nnot json\n",
    )
    .await;
    assert_eq!(
        field(&reply, "Status"),
        "Fail",
        "one bad line with max_filter_ratio 0: {reply}"
    );
    let reply = load(
        c,
        "t",
        &[
            ("format", "json"),
            ("read_json_by_line", "true"),
            ("max_filter_ratio", "0.5"),
        ],
        b"{\"k\": 42, \"name\": \"j3\"}\n{\"k\": 43, \"name\": \"j4\"}\nnot json\n",
    )
    .await;
    assert_loaded(&reply, 3, 2, 1, 0);
    let reply = load(
        c,
        "t",
        &[
            ("format", "json"),
            ("jsonpaths", r#"["$.id", "$.info.label"]"#),
            ("columns", "k, name"),
            ("json_root", "$.data"),
        ],
        br#"{"data": {"id": 44, "info": {"label": "deep"}}}"#,
    )
    .await;
    assert_loaded(&reply, 1, 1, 0, 0);
    assert_eq!(
        c.lines(
            &mut conn,
            "SELECT k, name, v FROM t WHERE k >= 40 ORDER BY k"
        )
        .await,
        [
            "40\tj1\t1.5",
            "41\tNULL\t2",
            "42\tj3\tNULL",
            "43\tj4\tNULL",
            "44\tdeep\tNULL"
        ]
    );

    // Data quality: wrong column count, too long, NULL into NOT NULL; strict mode.
    let body = b"50,ok,1\n51,too-long-name,1\n52,x\n\\N,null-key,1\nabc,bad-key,1\n";
    let reply = load(c, "t", &[("column_separator", ",")], body).await;
    assert_eq!(field(&reply, "Status"), "Fail", "{reply}");
    assert_eq!(
        field(&reply, "Message"),
        "[DATA_QUALITY_ERROR]too many filtered rows"
    );
    assert_eq!(field(&reply, "NumberLoadedRows"), 0);
    assert_eq!(field(&reply, "NumberFilteredRows"), 4);
    let url = field(&reply, "ErrorURL")
        .as_str()
        .expect("ErrorURL")
        .to_string();
    let log = regression_test::curl::get(&url).await.1;
    assert!(log.contains("less than schema column number"), "{log}");
    assert!(log.contains("too long"), "{log}");
    assert!(log.contains("null value for not null column"), "{log}");
    assert!(log.contains("src line [abc,bad-key,1]"), "{log}");
    assert_eq!(
        scalar(c, &mut conn, "SELECT count(*) FROM t WHERE k >= 50").await,
        "0"
    );
    let reply = load(
        c,
        "t",
        &[
            ("column_separator", ","),
            ("max_filter_ratio", "0.8"),
            ("label", "ratio1"),
        ],
        body,
    )
    .await;
    assert_loaded(&reply, 5, 1, 4, 0);
    assert!(field(&reply, "ErrorURL").is_string());
    assert_eq!(
        c.lines(&mut conn, "SELECT k FROM t WHERE k >= 50").await,
        ["50"]
    );

    // Type conversion: not strict → NULL; strict → filtered.
    let typed = b"1,300,2024-01-02,2024-01-02 03:04:05,12.345,abcd,170141183460469231731687303715884105727,\n2,5,not-a-date,2024-01-02 03:04:05,1.5,ab,-1,\n";
    let cols = "k, ti, d, dt, dec, s, lg, ignored";
    let reply = load(
        c,
        "typed",
        &[("column_separator", ","), ("columns", cols)],
        typed,
    )
    .await;
    assert_loaded(&reply, 2, 2, 0, 0);
    assert_eq!(
        c.lines(&mut conn, "SELECT k, ti, d, dt, dec, s, lg, dflt FROM typed ORDER BY k").await,
        [
            "1\tNULL\t2024-01-02\t2024-01-02 03:04:05\t12.35\tabcd\t170141183460469231731687303715884105727\t7",
            "2\t5\tNULL\t2024-01-02 03:04:05\t1.50\tab\t-1\t7"
        ]
    );
    let reply = load(
        c,
        "typed",
        &[
            ("column_separator", ","),
            ("columns", cols),
            ("strict_mode", "true"),
            ("max_filter_ratio", "1"),
        ],
        typed,
    )
    .await;
    assert_loaded(&reply, 2, 0, 2, 0);
    let reply = load(
        c,
        "typed",
        &[
            ("column_separator", ","),
            ("columns", "k, lg"),
            ("strict_mode", "true"),
        ],
        b"3,170141183460469231731687303715884105728\n",
    )
    .await;
    assert_eq!(
        field(&reply, "Status"),
        "Fail",
        "LARGEINT overflow: {reply}"
    );

    // partitions (an unpartitioned table's one partition is named after it), timeout.
    let reply = load(
        c,
        "t",
        &[
            ("column_separator", ","),
            ("partitions", "t"),
            ("timeout", "60"),
        ],
        b"60,p,1\n",
    )
    .await;
    assert_loaded(&reply, 1, 1, 0, 0);
    let reply = load(
        c,
        "t",
        &[("column_separator", ","), ("partitions", "nope")],
        b"61,p,1\n",
    )
    .await;
    assert_eq!(field(&reply, "Status"), "Fail", "{reply}");
    assert!(
        field(&reply, "Message")
            .as_str()
            .unwrap_or("")
            .contains("nope"),
        "{reply}"
    );
    // Bad headers are refused before anything is read.
    for bad in [
        ("max_filter_ratio", "2"),
        ("strict_mode", "maybe"),
        ("format", "orc"),
        ("compress_type", "rar"),
    ] {
        let reply = load(c, "t", &[bad], b"1\n").await;
        assert_eq!(field(&reply, "Status"), "Fail", "{bad:?}: {reply}");
    }
    // Unknown table.
    let reply = load(c, "no_such_table", &[], b"1\n").await;
    assert_eq!(field(&reply, "Status"), "Fail", "{reply}");

    // Two-phase commit: invisible until committed; abort frees the label.
    let reply = load(
        c,
        "t",
        &[
            ("column_separator", ","),
            ("label", "tpc1"),
            ("two_phase_commit", "true"),
        ],
        b"70,a,1\n71,b,1\n",
    )
    .await;
    assert_loaded(&reply, 2, 2, 0, 0);
    assert_eq!(field(&reply, "TwoPhaseCommit"), "true");
    let txn_id = field(&reply, "TxnId").as_i64().expect("TxnId");
    assert_eq!(
        scalar(c, &mut conn, "SELECT count(*) FROM t WHERE k >= 70").await,
        "0"
    );
    let tpc_url = format!("http://{}/api/{DB}/t/_stream_load_2pc", c.fe_http_addr());
    let (code, r) = curl(
        &tpc_url,
        "root:",
        &[("txn_id", &txn_id.to_string()), ("txn_operation", "abort")],
        None,
    )
    .await;
    assert_eq!(
        (code, field(&r, "status").clone()),
        (200, Value::from("Success")),
        "{r}"
    );
    assert_eq!(
        scalar(c, &mut conn, "SELECT count(*) FROM t WHERE k >= 70").await,
        "0"
    );
    let reply = load(
        c,
        "t",
        &[
            ("column_separator", ","),
            ("label", "tpc1"),
            ("two_phase_commit", "true"),
        ],
        b"70,a,1\n71,b,1\n",
    )
    .await;
    assert_loaded(&reply, 2, 2, 0, 0);
    let (code, r) = curl(
        &tpc_url,
        "root:",
        &[("label", "tpc1"), ("txn_operation", "commit")],
        None,
    )
    .await;
    assert_eq!(
        (code, field(&r, "status").clone()),
        (200, Value::from("Success")),
        "{r}"
    );
    assert_eq!(
        scalar(c, &mut conn, "SELECT count(*) FROM t WHERE k >= 70").await,
        "2"
    );
    let (_, r) = curl(
        &tpc_url,
        "root:",
        &[("label", "tpc1"), ("txn_operation", "commit")],
        None,
    )
    .await;
    assert_eq!(field(&r, "status"), "Fail");
    assert!(
        field(&r, "msg")
            .as_str()
            .unwrap_or("")
            .contains("already visible"),
        "{r}"
    );
    let (code, _) = curl(
        &tpc_url,
        "root:bad",
        &[("label", "tpc1"), ("txn_operation", "abort")],
        None,
    )
    .await;
    assert_eq!(code, 401);

    // SHOW STREAM LOAD / SHOW LOAD / SHOW TRANSACTION.
    let rows = c
        .lines(&mut conn, "SHOW STREAM LOAD WHERE LABEL = 'ratio1'")
        .await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let cols: Vec<&str> = rows[0].split('\t').collect();
    assert_eq!(&cols[..5], ["ratio1", DB, "t", "127.0.0.1", "Success"]);
    assert_eq!(&cols[7..11], ["5", "1", "4", "0"]);
    assert!(cols[6].contains("_load_error_log"), "{cols:?}");
    let state = c.lines(&mut conn, "SHOW LOAD WHERE LABEL = 'csv1'").await;
    assert_eq!(state.len(), 1);
    assert_eq!(state[0].split('\t').nth(2), Some("FINISHED"));
    let txn = c
        .lines(&mut conn, &format!("SHOW TRANSACTION WHERE ID = {txn_id}"))
        .await;
    assert_eq!(txn[0].split('\t').nth(3), Some("ABORTED"), "{txn:?}");
    let txn = c
        .lines(&mut conn, "SHOW TRANSACTION WHERE LABEL = 'tpc1'")
        .await;
    assert_eq!(txn[0].split('\t').nth(3), Some("VISIBLE"), "{txn:?}");

    // INSERT ... WITH LABEL, and label reuse through SQL.
    c.exec(
        &mut conn,
        "INSERT INTO t WITH LABEL ins1 VALUES (80, 'i', 1)",
    )
    .await;
    let err = query(
        &mut conn,
        "INSERT INTO t WITH LABEL ins1 VALUES (81, 'i', 1)",
    )
    .await
    .expect_err("label reuse");
    assert!(err.to_string().contains("has already been used"), "{err}");
    let reply = load(c, "t", &[("label", "ins1")], b"82\ti\t1\n").await;
    assert_eq!(field(&reply, "Status"), "Label Already Exists");
    assert_eq!(
        c.lines(&mut conn, "SELECT k FROM t WHERE k >= 80").await,
        ["80"]
    );
    let state = c.lines(&mut conn, "SHOW LOAD WHERE LABEL = 'ins1'").await;
    assert_eq!(state[0].split('\t').nth(4), Some("INSERT"), "{state:?}");

    // BEGIN; INSERT; INSERT; COMMIT: all visible at once; ROLLBACK: none.
    c.exec(&mut conn, "BEGIN WITH LABEL txn_a").await;
    c.exec(&mut conn, "INSERT INTO t VALUES (90, 'x', 1)").await;
    c.exec(&mut conn, "INSERT INTO t VALUES (91, 'y', 1), (92, 'z', 1)")
        .await;
    c.exec(&mut conn, "INSERT INTO typed (k) VALUES (90)").await;
    let mut other = c.connect().await;
    c.exec(&mut other, &format!("USE {DB}")).await;
    assert_eq!(
        scalar(c, &mut other, "SELECT count(*) FROM t WHERE k >= 90").await,
        "0"
    );
    c.exec(&mut conn, "COMMIT").await;
    assert_eq!(
        scalar(c, &mut other, "SELECT count(*) FROM t WHERE k >= 90").await,
        "3"
    );
    assert_eq!(
        scalar(c, &mut other, "SELECT count(*) FROM typed WHERE k = 90").await,
        "1"
    );
    c.exec(&mut conn, "BEGIN").await;
    c.exec(&mut conn, "INSERT INTO t VALUES (95, 'r', 1)").await;
    c.exec(&mut conn, "ROLLBACK").await;
    assert_eq!(
        scalar(c, &mut other, "SELECT count(*) FROM t WHERE k >= 95").await,
        "0"
    );
    // A client that leaves inside a transaction: nothing of it becomes visible.
    c.exec(&mut other, "BEGIN WITH LABEL txn_left").await;
    c.exec(&mut other, "INSERT INTO t VALUES (96, 'l', 1)")
        .await;
    drop(other);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let t = c
            .lines(&mut conn, "SHOW TRANSACTION WHERE LABEL = 'txn_left'")
            .await;
        if t.first().and_then(|r| r.split('\t').nth(3)) == Some("ABORTED") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "txn of a closed connection not aborted: {t:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        scalar(c, &mut conn, "SELECT count(*) FROM t WHERE k >= 95").await,
        "0"
    );
}

/// Sends a stream-load request by hand: headers, then `body` in `chunks` pieces 100 ms
/// apart, then hangs up (`hang_up`) or waits for the reply.
async fn raw_put(
    port: u16,
    table: &str,
    headers: &[(&str, &str)],
    content_length: usize,
    (body, chunks): (&[u8], usize),
    hang_up: bool,
) -> String {
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .expect("connect");
    let mut req = format!(
        "PUT /api/{DB}/{table}/_stream_load HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Basic cm9vdDo=\r\nContent-Length: {content_length}\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).await.expect("send headers");
    for chunk in body.chunks(body.len().div_ceil(chunks).max(1)) {
        if s.write_all(chunk).await.is_err() {
            break; // the server went away
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if hang_up {
        drop(s);
        return String::new();
    }
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(30), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).to_string()
}

async fn txn_state(cluster: &Cluster, conn: &mut Conn, label: &str) -> Option<String> {
    cluster
        .lines(conn, &format!("SHOW TRANSACTION WHERE LABEL = '{label}'"))
        .await
        .first()
        .and_then(|r| r.split('\t').nth(3).map(str::to_string))
}

async fn wait_aborted(cluster: &Cluster, conn: &mut Conn, label: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let state = txn_state(cluster, conn, label).await;
        if state.as_deref() == Some("ABORTED") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{label} is {state:?}, not ABORTED\n{}",
            cluster.logs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn segment_files(dir: &Path) -> usize {
    let mut n = 0;
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                n += segment_files(&p);
            } else if p.extension().is_some_and(|x| x == "dat") {
                n += 1;
            }
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_load_faults_and_concurrency() {
    // The segment-file count before and after the killed load is compared: no compaction
    // may rewrite files in between.
    let mut cluster = Cluster::start_with_be_conf(1, "disable_auto_compaction = true").await;
    let mut conn = setup(&cluster).await;
    let be_http = cluster.be_ports(0).webserver_port;

    // 8 concurrent loads into one table: all succeed with distinct transactions.
    let mut jobs = Vec::new();
    for i in 0..8u64 {
        let url = load_url(&cluster, "t");
        jobs.push(tokio::spawn(async move {
            let body: String = (0..1000)
                .map(|r| format!("{},c{i},1\n", i * 1000 + r))
                .collect();
            let label = format!("conc{i}");
            curl(
                &url,
                "root:",
                &[("label", &label), ("column_separator", ",")],
                Some(body.as_bytes()),
            )
            .await
        }));
    }
    let mut txns = Vec::new();
    for j in jobs {
        let (code, reply) = j.await.expect("join");
        assert_eq!(code, 200);
        assert_loaded(&reply, 1000, 1000, 0, 0);
        txns.push(field(&reply, "TxnId").as_i64().expect("TxnId"));
    }
    txns.sort_unstable();
    txns.dedup();
    assert_eq!(txns.len(), 8);
    // Each load published its own version: the partition went from 1 to 9.
    let partitions = cluster.lines(&mut conn, "SHOW PARTITIONS FROM t").await;
    assert_eq!(partitions.len(), 1, "{partitions:?}");
    assert_eq!(
        partitions[0].split('\t').nth(2),
        Some("9"),
        "{partitions:?}"
    );
    // keys 0..8000, each once: count 8000, sum 0+..+7999.
    assert_eq!(
        scalar(
            &cluster,
            &mut conn,
            "SELECT count(*), count(DISTINCT k), sum(k) FROM t"
        )
        .await,
        "8000\t8000\t31996000"
    );

    // A client that hangs up mid-upload: aborted, nothing visible, label free again.
    raw_put(
        be_http,
        "t",
        &[("label", "hangup"), ("column_separator", ",")],
        1_000_000,
        (b"100001,a,1\n100002,b,1\n", 4),
        true,
    )
    .await;
    wait_aborted(&cluster, &mut conn, "hangup").await;
    assert_eq!(
        scalar(
            &cluster,
            &mut conn,
            "SELECT count(*) FROM t WHERE k > 100000"
        )
        .await,
        "0"
    );
    let reply = load(
        &cluster,
        "t",
        &[("label", "hangup"), ("column_separator", ",")],
        b"100003,c,1\n",
    )
    .await;
    assert_loaded(&reply, 1, 1, 0, 0);

    // A load that outlives its timeout: Fail, aborted, label free.
    let reply = raw_put(
        be_http,
        "t",
        &[
            ("label", "slow"),
            ("column_separator", ","),
            ("timeout", "1"),
        ],
        1_000_000,
        (&[b'x'; 40], 4),
        false,
    )
    .await;
    assert!(
        reply.contains("\"Status\":\"Fail\"") && reply.contains("TIMEOUT"),
        "{reply}"
    );
    wait_aborted(&cluster, &mut conn, "slow").await;
    let reply = load(
        &cluster,
        "t",
        &[("label", "slow"), ("column_separator", ",")],
        b"100004,d,1\n",
    )
    .await;
    assert_loaded(&reply, 1, 1, 0, 0);
    cluster.exec(&mut conn, "CREATE TABLE one_bucket (k INT, name VARCHAR(8), v DOUBLE) DISTRIBUTED BY HASH(k) BUCKETS 1").await;
    cluster
        .exec(
            &mut conn,
            "INSERT INTO one_bucket VALUES (1, 'a', 1), (2, 'b', 2)",
        )
        .await;
    let before = scalar(
        &cluster,
        &mut conn,
        "SELECT count(*), sum(k) FROM one_bucket",
    )
    .await;
    assert_eq!(before, "2\t3");

    // The BE killed mid-load: the FE aborts the txn, nothing is visible, the label is
    // free, and the restarted BE keeps no files of the load.
    let storage = cluster.dir().join("be0").join("storage");
    let files_before = segment_files(&storage);
    // 3M rows sent over ~4 s: more than a tablet's write buffer, so segment files are
    // being written when the BE dies.
    let big: String = (0..3_000_000)
        .map(|r| format!("{},big,1\n", 200_000 + r))
        .collect();
    let upload = tokio::spawn(async move {
        let headers = [("label", "killed"), ("column_separator", ",")];
        raw_put(
            be_http,
            "one_bucket",
            &headers,
            big.len(),
            (big.as_bytes(), 40),
            false,
        )
        .await
    });
    // Kill once the load has flushed segment files (a 1M-row write buffer).
    let deadline = Instant::now() + Duration::from_secs(20);
    while segment_files(&storage) == files_before && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        segment_files(&storage) > files_before,
        "the load wrote no segment before the kill"
    );
    cluster.kill_be(0);
    let reply = upload.await.expect("join");
    assert!(!reply.contains("Success"), "{reply}");
    wait_aborted(&cluster, &mut conn, "killed").await;
    cluster.restart_be(0).await;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match query(&mut conn, "SELECT count(*), sum(k) FROM one_bucket").await {
            Ok(out) if !out.rows().is_empty() => {
                let got = out.rows()[0]
                    .iter()
                    .map(|c| c.clone().unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\t");
                assert_eq!(got, before, "rows of the killed load became visible");
                break;
            }
            _ if Instant::now() < deadline => tokio::time::sleep(Duration::from_millis(300)).await,
            other => panic!("count after BE restart: {other:?}\n{}", cluster.logs()),
        }
    }
    assert_eq!(
        segment_files(&storage),
        files_before,
        "files of the killed load remain"
    );
    let reply = load(
        &cluster,
        "one_bucket",
        &[("label", "killed"), ("column_separator", ",")],
        b"100005,e,1\n",
    )
    .await;
    assert_loaded(&reply, 1, 1, 0, 0);
}
