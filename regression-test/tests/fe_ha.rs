//! FE high availability: three FE followers, one observer and two BEs. Loads and DDL go
//! to the master while the master and a follower are killed with SIGKILL and restarted in
//! turn; a new master must be elected within 10 s each time. At the end every frontend
//! has applied the same edit log and shows the same catalog, and every acknowledged
//! insert is visible, with exact counts, through every frontend.

use std::time::{Duration, Instant};

use regression_test::mysql::{query, QueryOutput};
use regression_test::Cluster;

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

fn lines(out: &QueryOutput) -> Vec<String> {
    out.rows()
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| c.clone().unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("\t")
        })
        .collect()
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
        out.extend(lines(&result).into_iter().map(|l| {
            if sql.starts_with("SHOW PARTITIONS") {
                l.split('\t').take(3).collect::<Vec<_>>().join("\t")
            } else {
                l
            }
        }));
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frontends_replicate_and_fail_over() {
    let mut cluster = Cluster::start(2).await;
    let followers = [
        cluster.add_frontend(false).await,
        cluster.add_frontend(false).await,
    ];
    let observer = cluster.add_frontend(true).await;
    assert_eq!(cluster.num_fe(), 4);

    on_master(&mut cluster, "CREATE DATABASE ha").await;
    on_master(
        &mut cluster,
        "CREATE TABLE ha.t (k INT, v INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 2 \
         PROPERTIES (\"replication_num\" = \"2\")",
    )
    .await;

    let mut acknowledged = 0i64;
    let mut next_key = 0i64;
    let mut failovers = Vec::new();
    for round in 0..4 {
        // Loads through the master; only acknowledged ones are counted.
        for _ in 0..5 {
            let Some(master) = cluster.master_index().await else {
                continue;
            };
            let mut conn = cluster.connect_frontend(master).await;
            let sql = format!("INSERT INTO ha.t VALUES ({next_key}, {round})");
            next_key += 1;
            if query(&mut conn, &sql).await.is_ok() {
                acknowledged += 1;
            }
        }
        on_master(
            &mut cluster,
            &format!("CREATE TABLE ha.r{round} (k INT) DUPLICATE KEY(k) DISTRIBUTED BY HASH(k) BUCKETS 1 PROPERTIES (\"replication_num\" = \"1\")"),
        )
        .await;

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
        // Writes work with one follower down.
        on_master(&mut cluster, &format!("CREATE DATABASE ha_round{round}")).await;
        cluster.restart_frontend(victim).await;
    }
    eprintln!("failovers (kill -9 of the master to a new master): {failovers:?}");

    // Everyone catches up with the master's log.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let master = wait_for_master(&mut cluster, Duration::from_secs(10))
            .await
            .expect("a master");
        let frontends = lines(&on_master(&mut cluster, "SHOW FRONTENDS").await);
        let journal_ids: Vec<&str> = frontends
            .iter()
            .map(|l| l.split('\t').nth(12).unwrap_or(""))
            .collect();
        let all_alive = frontends
            .iter()
            .all(|l| l.split('\t').nth(11) == Some("true"));
        if all_alive && journal_ids.windows(2).all(|w| w[0] == w[1]) {
            let digest = catalog_digest(&cluster, master).await;
            for fe in 0..cluster.num_fe() {
                assert_eq!(
                    catalog_digest(&cluster, fe).await,
                    digest,
                    "frontend {fe}'s catalog differs from the master's"
                );
            }
            break;
        }
        assert!(
            Instant::now() < deadline,
            "frontends did not converge: {frontends:?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // Every acknowledged insert, through every frontend.
    for fe in 0..cluster.num_fe() {
        let mut conn = cluster.connect_frontend(fe).await;
        let out = query(&mut conn, "SELECT count(*) FROM ha.t")
            .await
            .unwrap_or_else(|e| panic!("count on frontend {fe}: {e}"));
        assert_eq!(
            out.rows()[0][0].as_deref(),
            Some(acknowledged.to_string().as_str()),
            "frontend {fe}"
        );
    }
    assert!(acknowledged > 0);
}
