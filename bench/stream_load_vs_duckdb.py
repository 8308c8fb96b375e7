#!/usr/bin/env python3
"""Loads a TPC-H `lineitem` file ('|'-separated .tbl) with `curl` stream load into a running
cluster, and the same file into DuckDB with read_csv in the same run. Prints MB/s, rows/s,
the ratio to DuckDB, and the BE's peak resident memory during the load (sampled from
/proc every 20 ms, plus the kernel's VmHWM high-water mark of the BE process).

Usage:
  tpchgen-cli -s 1 --tables lineitem --output-dir /tmp/tpch      # cargo install tpchgen-cli
  python3 bench/stream_load_vs_duckdb.py --file /tmp/tpch/lineitem.tbl [--buckets 8]
Needs: a running cluster (PROFILE=release bin/start-cluster.sh), the mysql client, curl,
and `pip install duckdb`.
"""
import argparse
import json
import os
import subprocess
import threading
import time

import duckdb

COLUMNS = [
    ("l_orderkey", "BIGINT", "BIGINT"),
    ("l_partkey", "BIGINT", "BIGINT"),
    ("l_suppkey", "BIGINT", "BIGINT"),
    ("l_linenumber", "INT", "INTEGER"),
    ("l_quantity", "DECIMAL(15, 2)", "DECIMAL(15, 2)"),
    ("l_extendedprice", "DECIMAL(15, 2)", "DECIMAL(15, 2)"),
    ("l_discount", "DECIMAL(15, 2)", "DECIMAL(15, 2)"),
    ("l_tax", "DECIMAL(15, 2)", "DECIMAL(15, 2)"),
    ("l_returnflag", "CHAR(1)", "VARCHAR"),
    ("l_linestatus", "CHAR(1)", "VARCHAR"),
    ("l_shipdate", "DATE", "DATE"),
    ("l_commitdate", "DATE", "DATE"),
    ("l_receiptdate", "DATE", "DATE"),
    ("l_shipinstruct", "CHAR(25)", "VARCHAR"),
    ("l_shipmode", "CHAR(10)", "VARCHAR"),
    ("l_comment", "VARCHAR(44)", "VARCHAR"),
]


def mysql(args, sql):
    cmd = ["mysql", "-h", args.host, "-P", str(args.port), "-uroot", "-N", "-B", "-e", sql]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def be_pid(args):
    """The BE of the cluster under test: bin/start-cluster.sh records its pid."""
    if args.be_pid:
        return args.be_pid
    path = os.path.join(os.path.dirname(__file__), "..", "output", "be", "be.pid")
    with open(path) as f:
        return int(f.read().strip())


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


class RssSampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_kb, self.running = pid, 0, True

    def run(self):
        while self.running:
            try:
                self.peak_kb = max(self.peak_kb, status_kb(self.pid, "VmRSS"))
            except OSError:
                return
            time.sleep(0.02)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--file", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9030)
    p.add_argument("--http-port", type=int, default=8030)
    p.add_argument("--buckets", type=int, default=8)
    p.add_argument("--be-pid", type=int, default=0, help="default: output/be/be.pid")
    args = p.parse_args()
    size = os.path.getsize(args.file)
    mb = size / 1e6

    mysql(args, "CREATE DATABASE IF NOT EXISTS bench")
    mysql(args, "DROP TABLE IF EXISTS bench.lineitem")
    cols = ", ".join(f"{n} {t} NOT NULL" for n, t, _ in COLUMNS)
    mysql(args, f"CREATE TABLE bench.lineitem ({cols}) DUPLICATE KEY(l_orderkey) "
                f"DISTRIBUTED BY HASH(l_orderkey) BUCKETS {args.buckets}")
    pid = be_pid(args)
    rss_before = status_kb(pid, "VmRSS")
    sampler = RssSampler(pid)
    sampler.start()
    mapping = ",".join(n for n, _, _ in COLUMNS) + ",l_dummy"
    start = time.perf_counter()
    out = subprocess.run(
        ["curl", "-sS", "--location-trusted", "-u", "root:", "-T", args.file,
         "-H", "column_separator:|", "-H", f"columns:{mapping}",
         "-H", f"label:bench_{int(time.time())}",
         f"http://{args.host}:{args.http_port}/api/bench/lineitem/_stream_load"],
        check=True, capture_output=True, text=True).stdout
    ours = time.perf_counter() - start
    sampler.running = False
    sampler.join()
    reply = json.loads(out)
    if reply.get("Status") != "Success":
        raise SystemExit(f"load failed: {reply}")
    rows = reply["NumberLoadedRows"]
    count = int(mysql(args, "SELECT count(*) FROM bench.lineitem").strip())
    assert count == rows, (count, rows)

    con = duckdb.connect()
    duck_cols = ", ".join(f"'{n}': '{t}'" for n, _, t in COLUMNS) + ", 'l_dummy': 'VARCHAR'"
    start = time.perf_counter()
    con.execute(f"CREATE TABLE lineitem AS SELECT * EXCLUDE (l_dummy) FROM read_csv("
                f"'{args.file}', delim='|', header=false, columns={{{duck_cols}}})")
    duck = time.perf_counter() - start
    duck_rows = con.execute("SELECT count(*) FROM lineitem").fetchone()[0]
    assert duck_rows == rows, (duck_rows, rows)

    print(f"file: {args.file}: {mb:.0f} MB, {rows} rows; buckets={args.buckets}")
    print(f"stream load : {ours:7.2f} s  {mb / ours:7.1f} MB/s  {rows / ours / 1e6:6.2f} M rows/s  "
          f"(reply: read {reply['ReadDataTimeMs']} ms, write {reply['WriteDataTimeMs']} ms, "
          f"commit+publish {reply['CommitAndPublishTimeMs']} ms)")
    print(f"duckdb      : {duck:7.2f} s  {mb / duck:7.1f} MB/s  {rows / duck / 1e6:6.2f} M rows/s")
    print(f"rate ratio (ours / duckdb): {duck / ours:.2f}")
    print(f"BE resident memory: {rss_before / 1024:.0f} MiB before, sampled peak during load "
          f"{sampler.peak_kb / 1024:.0f} MiB, process high-water mark (VmHWM) "
          f"{status_kb(pid, 'VmHWM') / 1024:.0f} MiB")


if __name__ == "__main__":
    main()
