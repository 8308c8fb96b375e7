#!/usr/bin/env bash
# Installs the system packages the build and tests need (Debian/Ubuntu): Debian's RocksDB
# (the rocksdb crate links it instead of compiling RocksDB's C++, ~25 minutes saved),
# libclang for bindgen, the mysql command-line client used by the scripts and curl (stream
# load tests).
set -euo pipefail
need=()
[ -f /usr/include/rocksdb/db.h ] || need+=(librocksdb-dev)
[ -e /usr/lib/x86_64-linux-gnu/libclang.so ] || ls /usr/lib/llvm-*/lib/libclang.so >/dev/null 2>&1 || need+=(libclang-dev)
command -v mysql >/dev/null 2>&1 || need+=(mariadb-client)
command -v curl >/dev/null 2>&1 || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  echo "installing: ${need[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
