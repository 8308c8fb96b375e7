#!/usr/bin/env python3
"""TPC-H: our cluster against DuckDB on the same data and the same 22 queries.

Generates the eight tables with `tpchgen-cli` ('|'-separated .tbl files; skipped when the
files are already there), loads them into an in-memory DuckDB and runs the queries of
regression-test/tpch/queries/ there, then for each backend count starts a cluster of its own
(1 FE + N BEs, fresh temporary directory, free ports, `nice -n 10`), creates the tables of
regression-test/tpch/ddl.sql, stream-loads the files with `curl` and runs the same queries
over one MySQL-protocol connection (PyMySQL, as a BI tool keeps its connection; DuckDB runs
in-process). Each query runs once to warm up, then --runs times; the median is reported. Our
answers are compared with DuckDB's row by row (WRONG on a mismatch); a query that errors is
reported as FAIL with the first line of the error and the run goes on.

Our times include the protocol round trip and the transfer of the result rows; the median
time of `SELECT 1` on the same connection is printed as the client overhead.

Usage:
  cargo build --release --bins
  python3 bench/tpch_vs_duckdb.py [--sf 1] [--backends 1,3] [--runs 3] [--bin-dir DIR]
      [--data-dir /tmp/tpch-sf1] [--buckets N] [--out /tmp/tpch_bench_sf1.json]
Needs: tpchgen-cli (cargo install tpchgen-cli; also looked for in ~/.cache/tpchgen/bin),
the mysql client, curl, and `pip install duckdb pymysql`.
"""
import argparse
import decimal
import json
import os
import pathlib
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import duckdb
import pymysql

REPO = pathlib.Path(__file__).resolve().parent.parent
TPCH = REPO / "regression-test" / "tpch"
sys.path.insert(0, str(TPCH))
sys.dont_write_bytecode = True  # no __pycache__ in regression-test/tpch
from benchlib import free_ports  # noqa: E402
import duckdb_answers  # noqa: E402  (parse_ddl, load and cell formatting of the test answers)

REL_TOLERANCE = 1e-6
# Doris gives AVG and DECIMAL division scale 6 and truncates, where DuckDB answers a DOUBLE.
ABS_TOLERANCE = 1e-6
START_TIMEOUT = 60.0
FE_PORT_KEYS = ["query_port", "http_port", "rpc_port", "edit_log_port"]
BE_PORT_KEYS = ["be_port", "webserver_port", "heartbeat_service_port", "brpc_port"]


# ---------------------------------------------------------------- data and DDL

def generate(sf, data_dir, tables):
    if all((data_dir / f"{t}.tbl").exists() for t in tables):
        print(f"data: using the existing files in {data_dir}")
        return
    tool = shutil.which("tpchgen-cli") or os.path.expanduser("~/.cache/tpchgen/bin/tpchgen-cli")
    data_dir.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    subprocess.run([tool, "-s", f"{sf:g}", "--output-dir", str(data_dir), "--overwrite"],
                   check=True)
    print(f"data: generated SF {sf:g} into {data_dir} in {time.perf_counter() - start:.1f} s")


def doris_statements(ddl_text, buckets):
    """The CREATE TABLE statements of ddl.sql; with `buckets`, tables of more than one bucket
    get that many instead."""
    text = "".join(l + "\n" for l in ddl_text.splitlines() if not l.lstrip().startswith("--"))
    stmts = [s.strip() for s in text.split(";") if s.strip()]
    if buckets:
        stmts = [re.sub(r"BUCKETS (\d+)",
                        lambda m: m.group(0) if m.group(1) == "1" else f"BUCKETS {buckets}", s)
                 for s in stmts]
    return stmts


def read_queries():
    return [(f.stem, f.read_text()) for f in sorted((TPCH / "queries").glob("q*.sql"))]


# ---------------------------------------------------------------- timing and comparison

def timed_runs(run, runs):
    """One warm-up call of run(), then `runs` timed calls. Returns (median seconds, warm-up
    result); the first exception propagates."""
    result = run()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def decimal_scale(text):
    """Fraction digits of a plain decimal literal ('-12.340' -> 3, '7' -> 0), else None."""
    m = re.fullmatch(r"-?\d+(?:\.(\d*))?", text)
    return None if m is None else len(m.group(1) or "")


def cell_eq(ours, value):
    """Our cell (mysql client text) against DuckDB's value. DuckDB integers and DECIMALs
    printed at our scale must be equal as text; other numbers (DuckDB DOUBLE, other scales)
    within the tolerances; anything else equal as text."""
    expected = duckdb_answers.cell(value)
    if ours == expected:
        return True
    exact = isinstance(value, (int, decimal.Decimal)) and not isinstance(value, bool)
    if exact and decimal_scale(ours) is not None and decimal_scale(ours) == decimal_scale(expected):
        return False
    try:
        a, b = float(ours), float(expected)
    except ValueError:
        return False
    diff = abs(a - b)
    return diff <= ABS_TOLERANCE or diff <= REL_TOLERANCE * max(abs(a), abs(b))


def compare(ours, expected):
    """None when the rows match, else a description of the first difference."""
    if len(ours) != len(expected):
        return f"{len(ours)} rows, DuckDB has {len(expected)}"
    for i, (a, b) in enumerate(zip(ours, expected)):
        if len(a) != len(b):
            return f"row {i}: {len(a)} columns, DuckDB has {len(b)}"
        for j, (x, y) in enumerate(zip(a, b)):
            if not cell_eq(x, y):
                return f"row {i} column {j}: ours {x!r}, DuckDB {duckdb_answers.cell(y)!r}"
    return None


# ---------------------------------------------------------------- DuckDB

def run_duckdb(args, tables, queries):
    con = duckdb.connect(config={"threads": args.threads})
    start = time.perf_counter()
    duckdb_answers.load(con, args.data_dir, tables)
    print(f"duckdb: loaded in {time.perf_counter() - start:.2f} s ({args.threads} threads)")
    results = {}
    for name, sql in queries:
        try:
            secs, rows = timed_runs(lambda: con.execute(sql).fetchall(), args.runs)
            results[name] = {"status": "ok", "seconds": secs, "rows": rows}
            print(f"duckdb: {name} {secs:8.3f} s  ({len(rows)} rows)")
        except duckdb.Error as e:
            results[name] = {"status": "FAIL", "error": str(e).splitlines()[0]}
            print(f"duckdb: {name} FAIL {results[name]['error']}")
    con.close()
    return results


# ---------------------------------------------------------------- our cluster

def write_conf(template, path, overrides):
    """`template` (conf/fe.conf or conf/be.conf) with the values of `overrides` replaced; the
    other keys and the comments are kept."""
    lines = []
    for line in template.read_text().splitlines():
        key = line.split("=", 1)[0].strip()
        if "=" in line and not line.lstrip().startswith("#") and key in overrides:
            line = f"{key} = {overrides[key]}"
        lines.append(line)
    missing = [k for k in overrides if not any(l.startswith(f"{k} =") for l in lines)]
    lines += [f"{k} = {overrides[k]}" for k in missing]
    path.write_text("\n".join(lines) + "\n")


class Cluster:
    """1 FE + N BEs started from `bin_dir` in a temporary directory; stop() kills them."""

    def __init__(self, bin_dir, num_be, be_conf=None):
        self.bin_dir, self.num_be = bin_dir, num_be
        self.be_conf = be_conf or {}  # extra be.conf settings
        self.root = pathlib.Path(tempfile.mkdtemp(prefix=f"tpch-bench-{num_be}be-"))
        self.procs = []  # (name, Popen, node dir)
        self.conn = None  # the PyMySQL connection of query()
        ports = free_ports(4 + 4 * num_be)
        self.fe_ports = dict(zip(FE_PORT_KEYS, ports[:4]))
        self.be_ports = [dict(zip(BE_PORT_KEYS, ports[4 + 4 * i:8 + 4 * i]))
                         for i in range(num_be)]
        self.port, self.http_port = self.fe_ports["query_port"], self.fe_ports["http_port"]

    def start(self):
        self._spawn("fe", "doris-fe", "fe.conf", self.fe_ports, "meta_dir")
        for i, ports in enumerate(self.be_ports):
            self._spawn(f"be{i}", "doris-be", "be.conf", {**ports, **self.be_conf},
                        "storage_root_path")
        self._wait("the FE to answer SELECT 1", lambda: self.mysql("SELECT 1")[0])
        for ports in self.be_ports:
            ok, err, _ = self.mysql(
                f'ALTER SYSTEM ADD BACKEND "127.0.0.1:{ports["heartbeat_service_port"]}"')
            if not ok:
                raise RuntimeError(f"ALTER SYSTEM ADD BACKEND failed: {err}")
        self._wait(f"{self.num_be} backend(s) alive in SHOW BACKENDS", self._backends_alive)

    def _spawn(self, name, binary, conf_name, ports, data_key):
        """Writes <root>/<name>/<conf_name> from conf/<conf_name> and starts the node."""
        d = self.root / name
        (d / "data").mkdir(parents=True)
        (d / "log").mkdir()
        conf = d / conf_name
        write_conf(REPO / "conf" / conf_name, conf,
                   {**ports, data_key: d / "data", "sys_log_dir": d / "log"})
        # A session of its own: Ctrl-C reaches only this script, which then kills the nodes.
        with open(d / "stdout.log", "w") as out:
            p = subprocess.Popen(
                ["nice", "-n", "10", str(self.bin_dir / binary), "--conf", str(conf)],
                cwd=d, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.procs.append((name, p, d))

    def _wait(self, what, ready):
        deadline = time.monotonic() + START_TIMEOUT
        while not ready():
            for name, p, _ in self.procs:
                if p.poll() is not None:
                    raise RuntimeError(f"{name} exited ({p.returncode})\n{self.log_tails()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out waiting for {what}\n{self.log_tails()}")
            time.sleep(0.25)

    def _backends_alive(self):
        ok, _, out = self.mysql("SHOW BACKENDS", header=True)
        if not ok or not out:
            return False
        header, *rows = [line.split("\t") for line in out.splitlines()]
        port, alive = header.index("HeartbeatPort"), header.index("Alive")
        alive_ports = {r[port] for r in rows if r[alive].lower() == "true"}
        return all(str(p["heartbeat_service_port"]) in alive_ports for p in self.be_ports)

    def log_tails(self, lines=15):
        out = []
        for name, _, d in self.procs:
            for f in [d / "stdout.log", *sorted((d / "log").glob("*.log"))]:
                tail = f.read_text(errors="replace").splitlines()[-lines:] if f.exists() else []
                out.append(f"--- {name}: {f}\n" + "\n".join(tail))
        return "\n".join(out)

    def mysql(self, sql, db=None, header=False):
        """(ok, first line of the error, stdout) of `mysql -e sql`."""
        cmd = ["mysql", "-h127.0.0.1", f"-P{self.port}", "-uroot", "-B", "-e", sql]
        cmd += ([] if header else ["-N"]) + (["-D", db] if db else [])
        r = subprocess.run(cmd, capture_output=True, text=True)
        # MariaDB's client prints the failed statement between '-----' lines before the error.
        lines = [l for l in r.stderr.splitlines() if l.strip()]
        err = next((l for l in lines if l.startswith("ERROR")), None) or \
            (lines or [f"exit status {r.returncode}"])[0]
        return r.returncode == 0, re.sub(r" at line \d+:", ":", err), r.stdout

    def query(self, sql):
        """Rows of `sql` as the mysql client prints them (text, NULL for NULL) over one
        connection kept for the run; raises RuntimeError with the server's message."""
        if self.conn is None:
            # conv={}: every value stays the text the server sent.
            self.conn = pymysql.connect(host="127.0.0.1", port=self.port, user="root",
                                        database="tpch", conv={})
        try:
            with self.conn.cursor() as cur:
                cur.execute(sql)
                return [["NULL" if v is None else v for v in row] for row in cur.fetchall()]
        except pymysql.MySQLError as e:
            raise RuntimeError(f"ERROR {e.args[0]}: {e.args[-1]}") from None

    def stop(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        for _, p, _ in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        self.procs = []
        shutil.rmtree(self.root, ignore_errors=True)


def stream_load(cluster, table, columns, path):
    cmd = ["curl", "-sS", "--location-trusted", "-u", "root:", "-T", str(path),
           "-H", f"label:bench_{table}_{int(time.time() * 1000)}", "-H", "column_separator:|",
           "-H", f"columns:{','.join(columns)},bench_dummy", "-H", "timeout:3600",
           f"http://127.0.0.1:{cluster.http_port}/api/tpch/{table}/_stream_load"]
    r = subprocess.run(cmd, capture_output=True, text=True)
    try:
        reply = json.loads(r.stdout)
    except ValueError:
        raise RuntimeError(f"stream load of {table}: {r.stdout or r.stderr}") from None
    if reply.get("Status") != "Success" or reply.get("NumberFilteredRows", 0):
        raise RuntimeError(f"stream load of {table}: {reply}")
    return reply["NumberLoadedRows"]


def run_cluster(args, num_be, tables, statements, queries, expected):
    cluster = Cluster(args.bin_dir, num_be)
    try:
        cluster.start()
        print(f"\n{num_be} BE: cluster up (mysql -h127.0.0.1 -P{cluster.port} -uroot)")
        for sql in ["CREATE DATABASE tpch"] + statements:
            ok, err, _ = cluster.mysql(sql, db=None if sql.startswith("CREATE DATABASE") else "tpch")
            if not ok:
                raise RuntimeError(f"{sql.splitlines()[0]} ...: {err}")
        load, total = {}, time.perf_counter()
        for table, columns in tables:
            start = time.perf_counter()
            rows = stream_load(cluster, table, [c for c, _ in columns],
                               args.data_dir / f"{table}.tbl")
            load[table] = time.perf_counter() - start
            print(f"{num_be} BE: loaded {table:9} {rows:>10} rows in {load[table]:7.2f} s")
        load["total"] = time.perf_counter() - total
        print(f"{num_be} BE: load total {load['total']:.2f} s")
        overhead, _ = timed_runs(lambda: cluster.query("SELECT 1"), max(args.runs, 5))
        print(f"{num_be} BE: client round trip (SELECT 1) {overhead:.4f} s")
        results = {}
        for name, sql in queries:
            results[name] = run_our_query(cluster, sql, args.runs, expected.get(name))
            r = results[name]
            detail = f"{r['seconds']:8.3f} s" if "seconds" in r else ""
            print(f"{num_be} BE: {name} {r['status']:5} {detail} {r.get('error', '')}".rstrip())
        return {"load_seconds": load, "client_overhead_seconds": overhead, "queries": results}
    finally:
        cluster.stop()


def run_our_query(cluster, sql, runs, expected):
    try:
        secs, rows = timed_runs(lambda: cluster.query(sql), runs)
    except RuntimeError as e:
        return {"status": "FAIL", "error": str(e)}
    if expected is None or expected["status"] != "ok":
        return {"status": "ok", "seconds": secs, "error": "(no DuckDB answer to compare)"}
    diff = compare(rows, expected["rows"])
    if diff:
        return {"status": "WRONG", "seconds": secs, "error": diff}
    return {"status": "ok", "seconds": secs}


# ---------------------------------------------------------------- report

def report(queries, duck, ours):
    counts = list(ours)
    head = f"{'query':6} {'duckdb s':>9}" + "".join(
        f" {f'{n} BE s':>9} {'ratio':>7}" for n in counts)
    print("\n" + head + "\n" + "-" * len(head))
    cell = lambda r: f"{r['seconds']:9.3f}" if r["status"] == "ok" else f"{r['status']:>9}"
    for name, _ in queries:
        line = f"{name:6} {cell(duck[name])}"
        for n in counts:
            r = ours[n]["queries"][name]
            ratio = (f"{r['seconds'] / duck[name]['seconds']:7.2f}"
                     if r["status"] == "ok" and duck[name]["status"] == "ok" else " " * 7)
            line += f" {cell(r)} {ratio}"
        print(line)
    good = [q for q, _ in queries if duck[q]["status"] == "ok"
            and all(ours[n]["queries"][q]["status"] == "ok" for n in counts)]
    duck_total = sum(duck[q]["seconds"] for q in good)
    line, totals = f"{'total':6} {duck_total:9.3f}", {"queries": good, "duckdb": duck_total}
    for n in counts:
        t = sum(ours[n]["queries"][q]["seconds"] for q in good)
        totals[n] = t
        line += f" {t:9.3f} {t / duck_total if duck_total else float('nan'):7.2f}"
    print("-" * len(head) + "\n" + line)
    print(f"totals over the {len(good)} queries that are ok everywhere; ratio = ours / DuckDB; "
          "client round trip (SELECT 1): " + ", ".join(
              f"{n} BE {ours[n]['client_overhead_seconds']:.4f} s" for n in counts))
    for n in counts:
        for q, _ in queries:
            r = ours[n]["queries"][q]
            if r["status"] != "ok":
                print(f"  {n} BE {q} {r['status']}: {r['error']}")
    return totals


def main():
    target = os.environ.get("CARGO_TARGET_DIR", os.path.expanduser("~/.cache/doris-rs-target"))
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sf", type=float, default=1.0, help="TPC-H scale factor (default 1)")
    p.add_argument("--data-dir", type=pathlib.Path, help="default /tmp/tpch-sf{SF}")
    p.add_argument("--bin-dir", type=pathlib.Path, default=pathlib.Path(target) / "release",
                   help="directory with doris-fe and doris-be (default $CARGO_TARGET_DIR/release)")
    p.add_argument("--backends", default="1,3", help="comma-separated BE counts (default 1,3)")
    p.add_argument("--runs", type=int, default=3, help="timed runs per query, after 1 warm-up")
    p.add_argument("--buckets", type=int, help="BUCKETS of the multi-bucket tables (default: ddl.sql)")
    p.add_argument("--threads", type=int, default=os.cpu_count(), help="DuckDB threads")
    p.add_argument("--out", type=pathlib.Path, help="JSON results (default /tmp/tpch_bench_sf{SF}.json)")
    args = p.parse_args()
    args.data_dir = args.data_dir or pathlib.Path(f"/tmp/tpch-sf{args.sf:g}")
    args.out = args.out or pathlib.Path(f"/tmp/tpch_bench_sf{args.sf:g}.json")
    backends = [int(n) for n in args.backends.split(",") if n.strip()]
    for b in ("doris-fe", "doris-be"):
        if not (args.bin_dir / b).is_file():
            p.error(f"no {b} in {args.bin_dir} (cargo build --release --bins, or --bin-dir)")
    # SIGTERM unwinds like Ctrl-C, so the clusters are killed in `finally`.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    ddl = (TPCH / "ddl.sql").read_text()
    tables = duckdb_answers.parse_ddl(ddl)
    statements = doris_statements(ddl, args.buckets)
    queries = read_queries()
    generate(args.sf, args.data_dir, [t for t, _ in tables])
    duck = run_duckdb(args, tables, queries)
    ours = {n: run_cluster(args, n, tables, statements, queries, duck) for n in backends}
    totals = report(queries, duck, ours)

    for r in duck.values():
        r.pop("rows", None)
    result = {"sf": args.sf, "runs": args.runs, "bin_dir": str(args.bin_dir),
              "buckets": args.buckets, "duckdb_threads": args.threads, "duckdb": duck,
              "ours": {str(n): v for n, v in ours.items()},
              "totals": {str(k): v for k, v in totals.items()}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"results: {args.out}")


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit("interrupted")
