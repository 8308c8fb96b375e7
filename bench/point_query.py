#!/usr/bin/env python3
"""Point queries on a large table: how much of it they touch.

Loads N rows (default 10 million) with numbers() into a DUPLICATE KEY table hashed into
16 buckets, with a bloom filter on a string column. Then runs a point query by key and
one by the bloom-filter column with the profile on. It prints what EXPLAIN prunes
(partitions and tablets) and what the scan read: segment files, rows left after zone
maps and page indexes, bytes fetched, and the time. The table's total size and rows come
from SHOW TABLETS. DuckDB answers the same queries over the same rows, to check the rows
and to give a time for comparison.

Usage: python3 bench/point_query.py [--rows 10000000] [--host 127.0.0.1] [--port 9030]
Needs: a running cluster (bin/start-cluster.sh; PROFILE=release for meaningful times) and
`pip install duckdb pymysql`.
"""
import argparse
import re
import time

import duckdb
import pymysql

DB = "bench_point"
QUERIES = [
    ("key", "SELECT k, s, v FROM t WHERE k = {key}"),
    ("bloom filter", "SELECT k, s, v FROM t WHERE s = 's{key}'"),
]


def fetch(cur, sql):
    cur.execute(sql)
    return cur.fetchall()


def profile_of(cur, sql):
    """The text of the newest profile of `sql`."""
    for row in fetch(cur, 'SHOW QUERY PROFILE "/"'):
        if row[3] == sql:
            return "\n".join(r[0] for r in fetch(cur, f'SHOW QUERY PROFILE "/{row[0]}"'))
    raise SystemExit(f"no profile for {sql}")


def counters(profile):
    """Sums of the scans' counters over every fragment instance."""
    files = set(re.findall(r"[\w/]+\.dat", profile))
    out = {"segment files read": len(files)}
    for name in ("page_index_rows_pruned", "row_groups_pruned_statistics",
                 "row_groups_pruned_bloom_filter"):
        total = matched = 0.0
        for t, m in re.findall(name + r"=([\d.]+ ?[KM]?) total → ([\d.]+ ?[KM]?) matched", profile):
            total += number(t)
            matched += number(m)
        out[name] = (matched, total)
    out["bytes read"] = sum(number(b) for b in re.findall(r"bytes_scanned=([\d.]+ ?[KMG]?)", profile))
    return out


def number(text):
    text = text.replace(" ", "")
    scale = {"K": 1e3, "M": 1e6, "G": 1e9}.get(text[-1:], 1)
    return float(text.rstrip("KMG")) * scale


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9030)
    args = p.parse_args()
    n = args.rows
    key = n * 3 // 4 + 7

    conn = pymysql.connect(host=args.host, port=args.port, user="root", autocommit=True)
    cur = conn.cursor()
    cur.execute(f"DROP DATABASE IF EXISTS {DB}")
    cur.execute(f"CREATE DATABASE {DB}")
    cur.execute(f"USE {DB}")
    cur.execute("CREATE TABLE t (k BIGINT, s VARCHAR(20), v BIGINT) DUPLICATE KEY(k) "
                "DISTRIBUTED BY HASH(k) BUCKETS 16 PROPERTIES ('replication_num' = '1', "
                "'bloom_filter_columns' = 's')")
    start = time.perf_counter()
    cur.execute(f"INSERT INTO t SELECT number, concat('s', number), number * 3 "
                f"FROM numbers('number' = '{n}')")
    load = time.perf_counter() - start
    # Tablet statistics arrive with the backend's next report.
    for _ in range(100):
        tablets = fetch(cur, "SHOW TABLETS FROM t")
        size = sum(int(r[8]) for r in tablets)
        rows = sum(int(r[10]) for r in tablets)
        if rows == n:
            break
        time.sleep(0.3)
    else:
        raise SystemExit(f"SHOW TABLETS counts {rows} rows, not {n}")
    print(f"table: {rows:,} rows in {len(tablets)} tablets, {size / 1e6:.1f} MB on disk "
          f"(loaded in {load:.1f} s)")

    duck = duckdb.connect()
    duck.execute(f"CREATE TABLE t AS SELECT range AS k, 's' || range AS s, range * 3 AS v "
                 f"FROM range({n})")
    cur.execute("SET enable_profile = true")
    for name, template in QUERIES:
        sql = template.format(key=key)
        plan = "\n".join(r[0] for r in fetch(cur, "EXPLAIN " + sql))
        pruned = re.search(r"partitions=\S+, tablets=\S+", plan)
        start = time.perf_counter()
        ours = fetch(cur, sql)
        ours_s = time.perf_counter() - start
        start = time.perf_counter()
        theirs = duck.execute(sql).fetchall()
        duck_s = time.perf_counter() - start
        if [tuple(str(c) for c in r) for r in ours] != [tuple(str(c) for c in r) for r in theirs]:
            raise SystemExit(f"{name}: {ours} but DuckDB says {theirs}")
        c = counters(profile_of(cur, sql))
        print(f"\npoint query by {name}: {sql}")
        print(f"  EXPLAIN: {pruned.group(0) if pruned else '(no pruning shown)'}")
        print(f"  segment files read: {c['segment files read']}")
        print("  row groups kept by zone maps: {:,.0f} of {:,.0f}; by bloom filters: {:,.0f} of {:,.0f}"
              .format(*c["row_groups_pruned_statistics"], *c["row_groups_pruned_bloom_filter"]))
        kept, total = c["page_index_rows_pruned"]
        print(f"  rows kept by page indexes: {kept:,.0f} of {total:,.0f} "
              f"({kept / rows:.3%} of the table)")
        print(f"  bytes read: {c['bytes read'] / 1e6:.2f} MB ({c['bytes read'] / size:.2%} of the table)")
        print(f"  time: {ours_s * 1000:.1f} ms (DuckDB in memory: {duck_s * 1000:.1f} ms)")
    cur.execute("SET enable_profile = false")


if __name__ == "__main__":
    main()
