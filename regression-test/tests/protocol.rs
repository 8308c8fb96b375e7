//! The MySQL protocol as a Rust driver (mysql_async) uses it: default connection setup
//! (which reads `@@socket`, `@@max_allowed_packet`, ...), password authentication with
//! mysql_native_password, COM_INIT_DB, COM_PING, multi-statement queries, affected rows,
//! server-side prepared statements.

use mysql_async::prelude::Queryable;
use mysql_async::{Conn, OptsBuilder};
use regression_test::Cluster;

fn opts(cluster: &Cluster, user: &str, pass: Option<&str>) -> OptsBuilder {
    let port = cluster.mysql_opts(None).tcp_port();
    OptsBuilder::default()
        .ip_or_hostname("127.0.0.1")
        .tcp_port(port)
        .user(Some(user))
        .pass(pass)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rust_driver_session() {
    let cluster = Cluster::start(1).await;

    // Default options: the driver runs its own setup queries on connect.
    let mut root = Conn::new(opts(&cluster, "root", None))
        .await
        .expect("root connects with the driver's default setup");
    root.ping().await.expect("COM_PING");
    root.query_drop("CREATE DATABASE proto_db")
        .await
        .expect("create db");
    root.query_drop("USE proto_db").await.expect("use");
    root.query_drop(
        "CREATE TABLE t (k INT, v VARCHAR(8)) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2 \
         PROPERTIES (\"replication_num\" = \"1\")",
    )
    .await
    .expect("create table");
    root.query_drop("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, NULL)")
        .await
        .expect("insert");
    assert_eq!(root.affected_rows(), 3, "INSERT reports affected rows");

    // Several statements in one COM_QUERY: each result set in order.
    let mut result = root
        .query_iter("SELECT count(*) FROM t; SELECT v FROM t WHERE k = 2")
        .await
        .expect("multi-statement query");
    let first: Vec<i64> = result.collect().await.expect("first result");
    let second: Vec<String> = result.collect().await.expect("second result");
    drop(result);
    assert_eq!(first, vec![3]);
    assert_eq!(second, vec!["b".to_string()]);

    // Server-side prepared statements (COM_STMT_PREPARE/EXECUTE/CLOSE).
    let row: Option<(i64, String)> = root
        .exec_first("SELECT k, v FROM t WHERE k = ? AND v = ?", (2, "b"))
        .await
        .expect("prepared select");
    assert_eq!(row, Some((2, "b".to_string())));
    root.exec_drop("INSERT INTO t VALUES (?, ?)", (4, "it's"))
        .await
        .expect("prepared insert");
    assert_eq!(root.affected_rows(), 1);
    let quoted: Option<String> = root
        .exec_first("SELECT v FROM t WHERE k = ?", (4,))
        .await
        .expect("read back");
    assert_eq!(quoted.as_deref(), Some("it's"));
    root.query_drop("INSERT INTO t VALUES (9, NULL)")
        .await
        .expect("insert");
    root.query_drop("NOT A STATEMENT")
        .await
        .expect_err("malformed SQL fails, the connection stays usable");
    let total: Option<i64> = root
        .exec_first("SELECT count(*) FROM t WHERE k > ?", (0,))
        .await
        .expect("count");
    assert_eq!(total, Some(5));

    // Passwords: mysql_native_password against the stored double SHA1.
    root.query_drop("CREATE USER 'jack'@'%' IDENTIFIED BY 'secret'")
        .await
        .expect("create user");
    let mut jack = Conn::new(opts(&cluster, "jack", Some("secret")).db_name(Some("proto_db")))
        .await
        .expect("right password is accepted");
    let n: Option<i64> = jack
        .query_first("SELECT count(*) FROM t")
        .await
        .expect("query as jack");
    assert_eq!(n, Some(5));
    assert!(
        Conn::new(opts(&cluster, "jack", Some("wrong")))
            .await
            .is_err(),
        "a wrong password is refused"
    );
    assert!(
        Conn::new(opts(&cluster, "jack", None)).await.is_err(),
        "a missing password is refused"
    );
    assert!(
        Conn::new(opts(&cluster, "nobody", None)).await.is_err(),
        "an unknown user is refused"
    );

    // Connecting with a database that does not exist fails with 1049.
    let err = Conn::new(opts(&cluster, "root", None).db_name(Some("no_such_db")))
        .await
        .expect_err("unknown database at connect");
    assert!(err.to_string().contains("1049"), "got {err}");

    // A client that hangs up in the middle of a large result leaves the server healthy.
    let mut big = Conn::new(opts(&cluster, "root", None))
        .await
        .expect("connect");
    let stream = big
        .query_iter("SELECT number FROM numbers(\"number\" = \"5000000\")")
        .await
        .expect("start a large result");
    drop(stream);
    drop(big);
    let still: Option<i64> = root
        .query_first("SELECT sum(k) FROM t")
        .await
        .expect("server still answers");
    assert_eq!(still, Some(19));
}
