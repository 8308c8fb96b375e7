#!/usr/bin/env python3
"""On-disk size of TPC-H lineitem: our segments against DuckDB's zstd Parquet of the same rows.

Generates lineitem with `tpchgen-cli` (skipped when the .tbl file is there), writes it from
DuckDB with `COPY ... (FORMAT parquet, COMPRESSION zstd)`, then for each segment compression
starts a cluster (1 FE + 1 BE), stream-loads the file into the lineitem table of
regression-test/tpch/ddl.sql, runs a full compaction of every tablet (the steady state: one
rowset per tablet), waits until the replaced files are swept and sums the segment files
under the BE's storage directory. The row count is checked against DuckDB's.

Usage:
  cargo build --release --bins
  python3 bench/storage_size.py [--sf 1] [--data-dir /tmp/tpch-sf1] [--bin-dir DIR]
      [--compressions lz4,zstd] [--buckets N]
Needs what bench/tpch_vs_duckdb.py needs.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

import duckdb

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
sys.dont_write_bytecode = True
import tpch_vs_duckdb as tpch  # noqa: E402

TABLE = "lineitem"


def segment_bytes(root):
    return sum(f.stat().st_size for f in root.rglob("*.dat"))


def measure(args, compression, statements, columns, rows):
    cluster = tpch.Cluster(args.bin_dir, 1, be_conf={
        "segment_compression": compression,
        "tablet_rowset_stale_sweep_time_sec": 1,
        "disable_auto_compaction": "true",
    })
    try:
        cluster.start()
        for sql in ["CREATE DATABASE tpch"] + statements:
            ok, err, _ = cluster.mysql(sql, db=None if sql.startswith("CREATE DATABASE") else "tpch")
            if not ok:
                raise RuntimeError(f"{sql.splitlines()[0]} ...: {err}")
        start = time.perf_counter()
        loaded = tpch.stream_load(cluster, TABLE, columns, args.data_dir / f"{TABLE}.tbl")
        load_s = time.perf_counter() - start
        if loaded != rows:
            raise RuntimeError(f"loaded {loaded} rows, DuckDB has {rows}")
        port = cluster.be_ports[0]["webserver_port"]
        tablets = json.loads(subprocess.run(
            ["curl", "-sS", f"http://127.0.0.1:{port}/api/tablets"],
            capture_output=True, text=True, check=True).stdout)["data"]["tablets"]
        for t in tablets:
            subprocess.run(["curl", "-sS", "-X", "POST",
                            f"http://127.0.0.1:{port}/api/compaction/run?"
                            f"tablet_id={t['tablet_id']}&compact_type=full"],
                           capture_output=True, check=True)
        time.sleep(3)  # the replaced rowsets go after tablet_rowset_stale_sweep_time_sec
        storage = cluster.root / "be0" / "data"
        return segment_bytes(storage), load_s
    finally:
        cluster.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sf", type=float, default=1)
    ap.add_argument("--data-dir", type=pathlib.Path, default=pathlib.Path("/tmp/tpch-sf1"))
    ap.add_argument("--bin-dir", type=pathlib.Path,
                    default=pathlib.Path.home() / ".cache/doris-rs-target/release")
    ap.add_argument("--compressions", default="lz4,zstd")
    ap.add_argument("--buckets", type=int, default=None)
    args = ap.parse_args()

    ddl = (tpch.TPCH / "ddl.sql").read_text()
    tables = [t for t in tpch.duckdb_answers.parse_ddl(ddl) if t[0] == TABLE]
    tpch.generate(args.sf, args.data_dir, [TABLE])
    con = duckdb.connect()
    tpch.duckdb_answers.load(con, args.data_dir, tables)
    rows = con.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    with tempfile.TemporaryDirectory() as d:
        out = pathlib.Path(d) / f"{TABLE}.parquet"
        con.execute(f"COPY {TABLE} TO '{out}' (FORMAT parquet, COMPRESSION zstd)")
        duck_bytes = out.stat().st_size
    tbl_bytes = (args.data_dir / f"{TABLE}.tbl").stat().st_size
    print(f"{TABLE}: {rows} rows; .tbl text {tbl_bytes / 2**20:.1f} MiB; "
          f"DuckDB zstd Parquet {duck_bytes / 2**20:.1f} MiB")
    statements = [s for s in tpch.doris_statements(ddl, args.buckets)
                  if f"TABLE {TABLE}" in s or f"TABLE `{TABLE}`" in s]
    columns = [c for c, _ in tables[0][1]]
    for compression in args.compressions.split(","):
        size, load_s = measure(args, compression, statements, columns, rows)
        print(f"ours ({compression} segments, compacted): {size / 2**20:.1f} MiB "
              f"= {size / duck_bytes:.2f}x DuckDB's zstd Parquet (load {load_s:.1f} s)")


if __name__ == "__main__":
    main()
