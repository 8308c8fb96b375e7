#!/usr/bin/env bash
# Installs the system packages the build and tests need (Debian/Ubuntu): Debian's RocksDB
# (the rocksdb crate links it instead of compiling RocksDB's C++, ~25 minutes saved),
# libclang for bindgen, the mysql command-line client used by the scripts and curl (stream
# load tests); then DuckDB's Python package, which gives the TPC-H test its expected answers.
set -euo pipefail
need=()
[ -f /usr/include/rocksdb/db.h ] || need+=(librocksdb-dev)
[ -e /usr/lib/x86_64-linux-gnu/libclang.so ] || ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || need+=(libclang-dev)
command -v mysql >/dev/null 2>&1 || need+=(mariadb-client)
command -v curl >/dev/null 2>&1 || need+=(curl)
command -v python3 >/dev/null 2>&1 || need+=(python3)
if ! python3 -c 'import duckdb' >/dev/null 2>&1 && ! python3 -m pip --version >/dev/null 2>&1; then
  need+=(python3-pip)
fi
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
if ! python3 -c 'import duckdb' >/dev/null 2>&1; then
  # --user outside a virtualenv; Debian's system Python also wants --break-system-packages
  # (externally-managed-environment), which only touches the user's site-packages here.
  user=(--user)
  python3 -c 'import sys; sys.exit(sys.prefix != sys.base_prefix)' || user=()
  echo "installing: duckdb (pip)"
  python3 -m pip install -q "${user[@]}" duckdb 2>/dev/null ||
    python3 -m pip install -q "${user[@]}" --break-system-packages duckdb
fi
