#!/usr/bin/env python3
"""FE metadata at scale: resident memory and restart (replay) time with many tablets.

For each target tablet count, starts a fresh cluster (one FE, one BE) from the built
binaries, creates tables of `--partitions` RANGE partitions x `--buckets` buckets (one
replica) until the catalog holds the target number of tablets, and reports:

* how long creating them took,
* the FE's resident memory (VmRSS) once created, and after a restart,
* how long the restarted FE took to load its metadata (fe.log, from "starting frontend" to
  "catalog ready") and to answer `SHOW DATABASES` (from its start),
* the size of meta_dir.

Usage: python3 bench/fe_metadata_scale.py --tablets 100000,1000000
(`cargo build --release --bins` first; `--profile debug` uses the debug binaries.)
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from benchlib import free_ports


def mysql(port, sql, timeout=3600):
    out = subprocess.run(
        ["mysql", "-h127.0.0.1", f"-P{port}", "-uroot", "-N", "-e", sql],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if out.returncode != 0:
        raise RuntimeError(f"{sql[:80]}...: {out.stderr.strip()}")
    return out.stdout


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def dir_mib(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.path.getsize(os.path.join(root, f))
            except OSError:
                pass
    return total / (1 << 20)


def wait_answering(port, deadline_s=600):
    start = time.time()
    while time.time() - start < deadline_s:
        try:
            mysql(port, "SHOW DATABASES", timeout=30)
            return time.time() - start
        except Exception:
            time.sleep(0.05)
    raise RuntimeError("FE did not answer")


class Cluster:
    def __init__(self, root, bin_dir, fe_conf=""):
        self.root = root
        self.bin_dir = bin_dir
        shutil.rmtree(root, ignore_errors=True)
        os.makedirs(root)
        (self.qp, self.hp, self.rp, self.ep, bp, wp, hb, brpc) = free_ports(8)
        self.hb = hb
        self.fe_dir = os.path.join(root, "fe")
        self.be_dir = os.path.join(root, "be")
        os.makedirs(self.fe_dir)
        os.makedirs(self.be_dir)
        with open(os.path.join(self.fe_dir, "fe.conf"), "w") as f:
            f.write(
                f"query_port = {self.qp}\nhttp_port = {self.hp}\nrpc_port = {self.rp}\n"
                f"edit_log_port = {self.ep}\nmeta_dir = {self.fe_dir}/meta\n"
                f"sys_log_dir = {self.fe_dir}/log\n{fe_conf}"
            )
        with open(os.path.join(self.be_dir, "be.conf"), "w") as f:
            f.write(
                f"be_port = {bp}\nwebserver_port = {wp}\nheartbeat_service_port = {hb}\n"
                f"brpc_port = {brpc}\nstorage_root_path = {self.be_dir}/storage\n"
                f"sys_log_dir = {self.be_dir}/log\n"
            )
        self.fe = None
        self.be = None

    def start_fe(self):
        self.fe = subprocess.Popen(
            [os.path.join(self.bin_dir, "doris-fe"), "--conf", f"{self.fe_dir}/fe.conf"],
            stdout=open(f"{self.fe_dir}/out", "a"),
            stderr=subprocess.STDOUT,
        )

    def start(self):
        self.be = subprocess.Popen(
            [os.path.join(self.bin_dir, "doris-be"), "--conf", f"{self.be_dir}/be.conf"],
            stdout=open(f"{self.be_dir}/out", "a"),
            stderr=subprocess.STDOUT,
        )
        self.start_fe()
        wait_answering(self.qp)
        mysql(self.qp, f'ALTER SYSTEM ADD BACKEND "127.0.0.1:{self.hb}"')
        for _ in range(120):
            if "true" in mysql(self.qp, "SHOW BACKENDS").split("\t"):
                return
            time.sleep(0.5)
        raise RuntimeError("backend not alive")

    def kill_fe(self):
        self.fe.kill()
        self.fe.wait()

    def stop(self):
        for p in (self.fe, self.be):
            if p and p.poll() is None:
                p.kill()
                p.wait()


def replay_ms(fe_log):
    """Milliseconds from the last "starting frontend" line of fe.log to the "catalog
    ready" line after it (opening meta_dir, loading the image, replaying the log)."""
    from datetime import datetime

    def stamp(line):
        return datetime.strptime(line[:26], "%Y-%m-%dT%H:%M:%S.%f")

    start = ready = None
    with open(fe_log, errors="replace") as f:
        for line in f:
            if "starting frontend" in line:
                start, ready = stamp(line), None
            elif "catalog ready" in line and start and not ready:
                ready = stamp(line)
    if start and ready:
        return int((ready - start).total_seconds() * 1000)
    return None


def table_ddl(i, partitions, buckets):
    step = 1000
    parts = ", ".join(
        f'PARTITION p{j} VALUES LESS THAN ("{(j + 1) * step}")' for j in range(partitions)
    )
    return (
        f"CREATE TABLE scale.t{i} (k INT, v INT, s VARCHAR(32)) DUPLICATE KEY(k) "
        f"PARTITION BY RANGE(k) ({parts}) "
        f"DISTRIBUTED BY HASH(k) BUCKETS {buckets} "
        f'PROPERTIES ("replication_num" = "1")'
    )


def run(target, args, bin_dir):
    per_table = args.partitions * args.buckets
    tables = (target + per_table - 1) // per_table
    fe_conf = f"edit_log_roll_num = {args.roll}\n" if args.roll else ""
    cluster = Cluster(os.path.join(args.workdir, f"t{target}"), bin_dir, fe_conf)
    try:
        cluster.start()
        mysql(cluster.qp, "CREATE DATABASE scale")
        base_rss = rss_mib(cluster.fe.pid)
        start = time.time()
        with ThreadPoolExecutor(args.clients) as pool:
            list(
                pool.map(
                    lambda i: mysql(cluster.qp, table_ddl(i, args.partitions, args.buckets)),
                    range(tables),
                )
            )
        create_s = time.time() - start
        time.sleep(args.settle)
        rss_created = rss_mib(cluster.fe.pid)
        be_rss = rss_mib(cluster.be.pid)
        count = mysql(
            cluster.qp,
            "SELECT count(*) FROM information_schema.tables WHERE TABLE_SCHEMA = 'scale'",
        ).strip()
        cluster.kill_fe()
        start = time.time()
        cluster.start_fe()
        answer_s = wait_answering(cluster.qp)
        time.sleep(args.settle)
        rss_restarted = rss_mib(cluster.fe.pid)
        replay = replay_ms(os.path.join(cluster.fe_dir, "log", "fe.log"))
        meta = dir_mib(os.path.join(cluster.fe_dir, "meta"))
        return {
            "tablets": tables * per_table,
            "tables": int(count),
            "create_s": create_s,
            "fe_rss_empty_mib": base_rss,
            "fe_rss_created_mib": rss_created,
            "fe_rss_restarted_mib": rss_restarted,
            "replay_ms": replay,
            "restart_to_answer_s": answer_s,
            "meta_dir_mib": meta,
            "be_rss_mib": be_rss,
        }
    finally:
        cluster.stop()
        if not args.keep:
            shutil.rmtree(cluster.root, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tablets", default="100000,1000000")
    ap.add_argument("--partitions", type=int, default=10)
    ap.add_argument("--buckets", type=int, default=100)
    ap.add_argument("--clients", type=int, default=4, help="concurrent CREATE TABLEs")
    ap.add_argument("--settle", type=float, default=10.0, help="seconds before reading RSS")
    ap.add_argument("--profile", default="release")
    ap.add_argument(
        "--roll",
        type=int,
        default=0,
        help="edit_log_roll_num (default: fe.conf's 50000, so the restart replays the log; "
        "a small value makes it load an image)",
    )
    ap.add_argument("--workdir", default="/tmp/fe-metadata-scale")
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    target_dir = os.environ.get(
        "CARGO_TARGET_DIR", os.path.expanduser("~/.cache/doris-rs-target")
    )
    bin_dir = os.path.join(target_dir, args.profile)
    if not os.path.exists(os.path.join(bin_dir, "doris-fe")):
        sys.exit(f"no binaries in {bin_dir}: cargo build --{args.profile} --bins")
    print(
        f"{'tablets':>9} {'create s':>9} {'FE RSS MiB':>11} {'after restart':>14} "
        f"{'replay ms':>10} {'answering s':>12} {'meta MiB':>9} {'BE RSS MiB':>11}"
    )
    for target in [int(t) for t in args.tablets.split(",")]:
        r = run(target, args, bin_dir)
        print(
            f"{r['tablets']:>9} {r['create_s']:>9.1f} {r['fe_rss_created_mib']:>11.0f} "
            f"{r['fe_rss_restarted_mib']:>14.0f} {r['replay_ms'] or -1:>10} "
            f"{r['restart_to_answer_s']:>12.2f} {r['meta_dir_mib']:>9.1f} "
            f"{r['be_rss_mib']:>11.0f}",
            flush=True,
        )
        print(f"  (empty FE: {r['fe_rss_empty_mib']:.0f} MiB; {r['tables']} tables)", flush=True)


if __name__ == "__main__":
    main()
