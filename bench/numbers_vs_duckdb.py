#!/usr/bin/env python3
"""Times a scan aggregate and a GROUP BY over N rows generated with Doris's numbers()
table function, through the `mysql` command-line client against a running cluster, and
DuckDB on the same data in the same run. Prints per-query times and the ratio to DuckDB.

Usage: python3 bench/numbers_vs_duckdb.py [--rows 10000000] [--host 127.0.0.1] [--port 9030]
Needs: a running cluster (bin/start-cluster.sh; PROFILE=release for meaningful figures),
the mysql client, and `pip install duckdb`.
"""
import argparse
import statistics
import subprocess
import time

import duckdb

QUERIES = {
    "scan aggregate": "SELECT count(*), sum(k), max(v) FROM t",
    "group by (1000 groups)": "SELECT v, count(*), sum(k) FROM t GROUP BY v ORDER BY v",
}


def mysql(args, sql, db=None):
    cmd = ["mysql", "-h", args.host, "-P", str(args.port), "-uroot", "-N", "-B"]
    if db:
        cmd += ["-D", db]
    start = time.perf_counter()
    out = subprocess.run(cmd + ["-e", sql], check=True, capture_output=True, text=True).stdout
    return time.perf_counter() - start, out


def best_of(n, f):
    times, result = [], None
    for _ in range(n):
        t, result = f()
        times.append(t)
    return min(times), statistics.median(times), result


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=10_000_000)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9030)
    p.add_argument("--runs", type=int, default=5)
    args = p.parse_args()
    n = args.rows

    mysql(args, "DROP DATABASE IF EXISTS bench_numbers; CREATE DATABASE bench_numbers")
    mysql(args, "CREATE TABLE t (k BIGINT, v BIGINT) DUPLICATE KEY(k) "
                "DISTRIBUTED BY HASH(k) BUCKETS 8 PROPERTIES('replication_num'='1')",
          "bench_numbers")
    load, _ = mysql(args, f'INSERT INTO t SELECT number, number % 1000 FROM numbers("number"="{n}")',
                    "bench_numbers")

    con = duckdb.connect()
    start = time.perf_counter()
    con.execute(f"CREATE TABLE t AS SELECT range AS k, range % 1000 AS v FROM range({n})")
    duck_load = time.perf_counter() - start

    print(f"rows: {n:,}")
    print(f"{'query':28} {'doris-rs best':>14} {'median':>9} {'duckdb best':>12} {'median':>9} {'ratio':>7}")
    print(f"{'load (INSERT numbers)':28} {load:14.3f} {'':>9} {duck_load:12.3f} {'':>9} {load / duck_load:7.2f}")
    for name, sql in QUERIES.items():
        ours_best, ours_med, ours_out = best_of(args.runs, lambda: mysql(args, sql, "bench_numbers"))

        def duck():
            s = time.perf_counter()
            rows = con.execute(sql).fetchall()
            return time.perf_counter() - s, rows
        duck_best, duck_med, duck_rows = best_of(args.runs, duck)
        ours_rows = [tuple(int(x) for x in line.split("\t")) for line in ours_out.strip().splitlines()]
        duck_rows = [tuple(int(x) for x in r) for r in duck_rows]
        if ours_rows != duck_rows:
            raise SystemExit(f"result mismatch for {name}: {ours_rows[:3]} vs {duck_rows[:3]}")
        print(f"{name:28} {ours_best:14.3f} {ours_med:9.3f} {duck_best:12.3f} {duck_med:9.3f} {ours_best / duck_best:7.2f}")
    print("times in seconds; ours include the mysql client's process start (~5 ms); ratio = ours/duckdb (best)")


if __name__ == "__main__":
    main()
