//! FE high availability: three FE followers, one observer and two BEs. DDL, INSERTs and
//! stream loads go through every frontend in turn (the others forward them to the master)
//! while the master and a follower are killed with SIGKILL and restarted in turn; a new
//! master must be elected within 10 s each time, and a client reads its own writes on the
//! frontend it wrote through. Images are taken every 20 entries, so a frontend that was down
//! catches up from an image. At the end every frontend has applied the same edit log and
//! shows the same catalog, every acknowledged load is visible with exact counts through
//! every frontend, and with a majority of the followers down writes fail with a clear error
//! while reads go on.

use std::time::{Duration, Instant};

use regression_test::mysql::{query, QueryOutput};
use regression_test::{curl, Cluster};

/// The master as the running frontends report it, waiting up to `within`.
async fn wait_for_master(cluster: &mut Cluster, within: Duration) -> Option<usize> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(m) = cluster.master_index().await {
            return Some(m);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `sql` on the master, retrying while the cluster settles (a master just elected has
/// no backend heartbeats yet); panics after 30 s.
async fn on_master(cluster: &mut Cluster, sql: &str) -> QueryOutput {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(master) = cluster.master_index().await {
            let mut conn = cluster.connect_frontend(master).await;
            match query(&mut conn, sql).await {
                Ok(out) => return out,
                Err(e) if Instant::now() > deadline => {
                    panic!("`{sql}` failed on the master: {e}\n{}", cluster.logs())
                }
                Err(_) => {}
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// What must be identical on every frontend: databases, tables, and each tablet's id,
/// backend and version.
async fn catalog_digest(cluster: &Cluster, fe: usize) -> Vec<String> {
    let mut conn = cluster.connect_frontend(fe).await;
    let mut out = Vec::new();
    for sql in [
        "SHOW DATABASES",
        "SHOW TABLES FROM ha",
        "SELECT TABLE_NAME, COLUMN_NAME, COLUMN_TYPE FROM information_schema.columns \
         WHERE TABLE_SCHEMA = 'ha' ORDER BY TABLE_NAME, ORDINAL_POSITION",
        "SHOW PARTITIONS FROM ha.t",
    ] {
        let result = query(&mut conn, sql)
            .await
            .unwrap_or_else(|e| panic!("`{sql}` on frontend {fe}: {e}"));
        // SHOW PARTITIONS carries data sizes that come from reports: keep id, name and
        // visible version.
        out.extend(result.lines().into_iter().map(|l| {
            if sql.starts_with("SHOW PARTITIONS") {
                l.split('\t').take(3).collect::<Vec<_>>().join("\t")
            } else {
                l
            }
        }));
    }
    out
}

/// Runs `sql` through frontend `fe`, or the next running one, retrying while the cluster
/// settles; panics after 30 s. Returns the frontend used and the output.
async fn on_frontend(cluster: &mut Cluster, fe: usize, sql: &str) -> (usize, QueryOutput) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut fe = fe % cluster.num_fe();
    loop {
        if cluster.frontend_running(fe) {
            let mut conn = cluster.connect_frontend(fe).await;
            match query(&mut conn, sql).await {
                Ok(out) => return (fe, out),
                Err(e) if Instant::now() > deadline => {
                    panic!("`{sql}` failed on frontend {fe}: {e}\n{}", cluster.logs())
                }
                Err(_) => {}
            }
        }
        fe = (fe + 1) % cluster.num_fe();
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

async fn count_rows(conn: &mut mysql_async::Conn) -> Result<i64, String> {
    let out = query(conn, "SELECT count(*) FROM ha.t")
        .await
        .map_err(|e| e.to_string())?;
    out.rows()[0][0]
        .as_deref()
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| "no count".to_string())
}

/// Waits until every frontend is alive and has applied the master's whole log, then checks
/// that all show the same catalog and count `rows` rows in `ha.t`.
async fn assert_converged(cluster: &mut Cluster, rows: i64) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let master = wait_for_master(cluster, Duration::from_secs(10))
            .await
            .expect("a master");
        let frontends = on_master(cluster, "SHOW FRONTENDS").await.lines();
        let journal_ids: Vec<&str> = frontends
            .iter()
            .map(|l| l.split('\t').nth(12).unwrap_or(""))
            .collect();
        let all_alive = frontends
            .iter()
            .all(|l| l.split('\t').nth(11) == Some("true"));
        if all_alive && journal_ids.windows(2).all(|w| w[0] == w[1]) {
            let digest = catalog_digest(cluster, master).await;
            for fe in 0..cluster.num_fe() {
                assert_eq!(
                    catalog_digest(cluster, fe).await,
                    digest,
                    "frontend {fe}'s catalog differs from the master's"
                );
                let mut conn = cluster.connect_frontend(fe).await;
                let count = count_rows(&mut conn)
                    .await
                    .unwrap_or_else(|e| panic!("count on frontend {fe}: {e}"));
                assert_eq!(count, rows, "frontend {fe}");
            }
            return;
        }
        assert!(
            Instant::now() < deadline,
            "frontends did not converge: {frontends:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frontends_replicate_and_fail_over() {
    let mut cluster = Cluster::start_with_conf(
        2,
        "edit_log_roll_num = 20\nmeta_delay_toleration_second = 5",
        "",
    )
    .await;
    let followers = [
        cluster.add_frontend(false).await,
        cluster.add_frontend(false).await,
    ];
    let observer = cluster.add_frontend(true).await;
    assert_eq!(cluster.num_fe(), 4);

    // DDL through a follower and the observer: forwarded to the master.
    on_frontend(&mut cluster, followers[0], "CREATE DATABASE ha").await;
    on_frontend(
        &mut cluster,
        observer,
        "CREATE TABLE ha.t (k INT, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2 \
         PROPERTIES (\"replication_num\" = \"2\")",
    )
    .await;

    let mut acknowledged = 0i64;
    let mut unsure = 0;
    let mut next_key = 0i64;
    let mut failovers = Vec::new();
    let mut lost_txn_checked = false;
    for round in 0..4 {
        // INSERTs through every frontend in turn; only acknowledged ones are counted, and
        // the client sees its insert at once on the frontend it used.
        for i in 0..8 {
            let fe = i % cluster.num_fe();
            if !cluster.frontend_running(fe) {
                continue;
            }
            let mut conn = cluster.connect_frontend(fe).await;
            let sql = format!("INSERT INTO ha.t VALUES ({next_key}, {round})");
            next_key += 1;
            match query(&mut conn, &sql).await {
                Ok(_) => {
                    acknowledged += 1;
                    // Read-your-writes on the frontend used. As in Doris, an INSERT whose
                    // publish was delayed (just after a failover) is acknowledged as
                    // COMMITTED and becomes visible moments later: wait up to 10 s for it.
                    let deadline = Instant::now() + Duration::from_secs(10);
                    loop {
                        let seen = count_rows(&mut conn)
                            .await
                            .unwrap_or_else(|e| panic!("count on frontend {fe}: {e}"));
                        let ok = if unsure == 0 {
                            seen == acknowledged
                        } else {
                            seen >= acknowledged
                        };
                        if ok {
                            break;
                        }
                        assert!(
                            Instant::now() < deadline,
                            "frontend {fe} does not read its own insert: {seen} rows, \
                             {acknowledged} acknowledged"
                        );
                        eprintln!("frontend {fe}: {seen} of {acknowledged} rows visible yet");
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                Err(e) => {
                    eprintln!("insert through frontend {fe} failed: {e}");
                    unsure += 1;
                }
            }
        }
        // A stream load sent to a frontend's HTTP port (307 to a BE, which asks the master).
        let fe = (round + 1) % cluster.num_fe();
        if cluster.frontend_running(fe) {
            let rows: String = (0..3)
                .map(|j| format!("{}\t{round}\n", next_key + j))
                .collect();
            next_key += 3;
            let file = tempfile::NamedTempFile::new().expect("temp file");
            std::fs::write(file.path(), rows).expect("write rows");
            let url = format!(
                "http://127.0.0.1:{}/api/ha/t/_stream_load",
                cluster.frontend_ports(fe).http_port
            );
            let label = format!("ha_sl_{round}");
            let (_, reply) =
                curl::put(&url, "root:", &[("label", &label)], Some(file.path())).await;
            if reply["Status"] == "Success" {
                acknowledged += 3;
            } else {
                eprintln!("stream load through frontend {fe} failed: {reply}");
                unsure += 1;
            }
        }
        // DDL through a frontend that is (usually) not the master, visible there at once.
        let (fe, _) = on_frontend(
            &mut cluster,
            round + 1,
            &format!("CREATE TABLE ha.r{round} (k INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 PROPERTIES (\"replication_num\" = \"1\")"),
        )
        .await;
        let mut conn = cluster.connect_frontend(fe).await;
        let tables = query(&mut conn, "SHOW TABLES FROM ha")
            .await
            .expect("show tables")
            .lines();
        assert!(
            tables.contains(&format!("r{round}")),
            "frontend {fe}: {tables:?}"
        );

        // Even rounds kill the master, odd rounds a follower that is not the master.
        let master = wait_for_master(&mut cluster, Duration::from_secs(10))
            .await
            .expect("a master");
        let victim = if round % 2 == 0 {
            master
        } else {
            *followers
                .iter()
                .chain(std::iter::once(&0))
                .find(|&&f| f != master)
                .expect("a follower")
        };
        // A transaction open through another frontend when the master dies is lost as a
        // whole, and COMMIT says so.
        let mut open_txn = None;
        if victim == master && !lost_txn_checked {
            let fe = (0..cluster.num_fe())
                .find(|&f| f != master)
                .expect("a frontend");
            let mut conn = cluster.connect_frontend(fe).await;
            query(&mut conn, "BEGIN").await.expect("begin");
            let sql = format!(
                "INSERT INTO ha.t VALUES ({next_key}, -1), ({}, -1)",
                next_key + 1
            );
            next_key += 2;
            query(&mut conn, &sql)
                .await
                .expect("insert in a transaction");
            open_txn = Some(conn);
        }
        cluster.kill_frontend(victim);
        let start = Instant::now();
        let new_master = wait_for_master(&mut cluster, Duration::from_secs(10)).await;
        let elapsed = start.elapsed();
        let new_master = new_master.unwrap_or_else(|| {
            panic!(
                "no master within 10 s after killing frontend {victim}\n{}",
                cluster.logs()
            )
        });
        assert_ne!(new_master, victim);
        assert_ne!(new_master, observer, "an observer never becomes master");
        if victim == master {
            failovers.push(elapsed);
        }
        if let Some(mut conn) = open_txn {
            let err = query(&mut conn, "COMMIT")
                .await
                .expect_err("COMMIT of a transaction whose master died");
            assert!(err.to_string().contains("transaction was lost"), "{err}");
            lost_txn_checked = true;
        }
        // Writes work with one follower down, through any frontend.
        on_frontend(
            &mut cluster,
            round,
            &format!("CREATE DATABASE ha_round{round}"),
        )
        .await;
        cluster.restart_frontend(victim).await;
    }
    assert!(lost_txn_checked);
    eprintln!("failovers (kill -9 of the master to a new master): {failovers:?}");

    // Everyone catches up with the master's log, and every acknowledged load is there
    // (an unacknowledged one failed cleanly: none of its rows are).
    assert_converged(&mut cluster, acknowledged).await;
    assert!(acknowledged > 0);

    // A frontend that joins late starts from the master's image: the start of the log is
    // purged by now.
    let late = cluster.add_frontend(true).await;
    assert_converged(&mut cluster, acknowledged).await;
    let log = std::fs::read_to_string(cluster.dir().join(format!("fe{late}/log/fe.log")))
        .expect("the late frontend's log");
    assert!(
        log.contains("installed the master's image"),
        "the late frontend did not start from an image"
    );
    // DROP OBSERVER: it leaves the cluster.
    let late_port = cluster.frontend_ports(late).edit_log_port;
    on_master(
        &mut cluster,
        &format!("ALTER SYSTEM DROP OBSERVER \"127.0.0.1:{late_port}\""),
    )
    .await;
    let frontends = on_master(&mut cluster, "SHOW FRONTENDS").await.lines();
    assert_eq!(frontends.len(), 4, "{frontends:?}");
    assert!(!frontends
        .iter()
        .any(|l| l.split('\t').nth(2) == Some(late_port.to_string().as_str())));
    cluster.kill_frontend(late);

    // A majority of the followers down: no master, writes fail with a clear error, reads
    // go on while the metadata is recent (meta_delay_toleration_second, 5 s here), then
    // are refused.
    let master = wait_for_master(&mut cluster, Duration::from_secs(10))
        .await
        .expect("a master");
    let other = *followers
        .iter()
        .chain(std::iter::once(&0))
        .find(|&&f| f != master)
        .expect("a follower");
    cluster.kill_frontend(master);
    cluster.kill_frontend(other);
    let survivor = *followers
        .iter()
        .chain(std::iter::once(&0))
        .find(|&&f| f != master && f != other)
        .expect("a surviving follower");
    for fe in [survivor, observer] {
        let mut conn = cluster.connect_frontend(fe).await;
        let count = count_rows(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("read on frontend {fe} without a master: {e}"));
        assert_eq!(count, acknowledged, "frontend {fe} without a master");
    }
    for fe in [survivor, observer] {
        let mut conn = cluster.connect_frontend(fe).await;
        let err = query(&mut conn, "CREATE DATABASE ha_no_quorum")
            .await
            .expect_err("a write without a quorum");
        assert!(
            err.to_string().contains("metadata cannot change now"),
            "{err}"
        );
    }
    // By now (each write waited 10 s for a master) the metadata is too old to serve.
    for fe in [survivor, observer] {
        let mut conn = cluster.connect_frontend(fe).await;
        let err = count_rows(&mut conn)
            .await
            .expect_err("a read on stale metadata");
        assert!(err.contains("meta_delay_toleration_second"), "{err}");
    }
}

/// A node bound to one cluster (its cluster id, from `meta_dir/image/VERSION` or the BE's
/// first heartbeat) refuses another cluster's FE: a BE refuses its heartbeats, an FE its
/// Raft calls, and neither cluster is harmed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_of_another_cluster_are_refused() {
    let a = Cluster::start(1).await;
    let b = Cluster::start(0).await;
    let mut conn_a = a.connect().await;
    let mut conn_b = b.connect().await;
    let be_port = a.be_ports(0).heartbeat_service_port;
    query(
        &mut conn_b,
        &format!("ALTER SYSTEM ADD BACKEND \"127.0.0.1:{be_port}\""),
    )
    .await
    .expect("add A's backend to B");
    let fe_port = b.fe_ports().edit_log_port;
    query(
        &mut conn_a,
        &format!("ALTER SYSTEM ADD FOLLOWER \"127.0.0.1:{fe_port}\""),
    )
    .await
    .expect("add B's frontend to A");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let backends = query(&mut conn_b, "SHOW BACKENDS")
            .await
            .expect("backends")
            .lines();
        let frontends = query(&mut conn_a, "SHOW FRONTENDS")
            .await
            .expect("frontends")
            .lines();
        let be_refused = backends
            .iter()
            .any(|l| l.contains("cluster id mismatch") && l.split('\t').nth(9) == Some("false"));
        let fe_refused = frontends.iter().any(|l| {
            l.split('\t').nth(2) == Some(fe_port.to_string().as_str())
                && l.contains("refused")
                && l.split('\t').nth(11) == Some("false")
        });
        if be_refused && fe_refused {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not refused:\n{backends:?}\n{frontends:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Neither cluster is harmed: A's quorum does not count the refused frontend, and its
    // backend still serves A.
    query(&mut conn_a, "CREATE DATABASE still_a")
        .await
        .expect("A still writes");
    query(&mut conn_b, "CREATE DATABASE still_b")
        .await
        .expect("B still writes");
    let alive = query(&mut conn_a, "SHOW BACKENDS")
        .await
        .expect("backends")
        .lines();
    assert_eq!(alive[0].split('\t').nth(9), Some("true"), "{alive:?}");
}
