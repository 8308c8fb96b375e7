#!/usr/bin/env bash
# Builds doris-fe and doris-be and starts a local cluster: one FE and one BE with the
# configuration in conf/, data and logs under output/, the BE registered with the FE.
# Then: mysql -h127.0.0.1 -P9030 -uroot
# PROFILE=release builds optimised binaries (slower to build, faster queries).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PROFILE=${PROFILE:-debug}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/doris-rs-target}
bin/install-deps.sh
if [ "$PROFILE" = release ]; then cargo build --release --bins; else cargo build --bins; fi
BIN=$CARGO_TARGET_DIR/$PROFILE
mkdir -p output/fe output/be
bin/stop-cluster.sh >/dev/null 2>&1 || true
nohup "$BIN/doris-fe" --conf "$ROOT/conf/fe.conf" > output/fe/fe.out 2>&1 &
echo $! > output/fe/fe.pid
nohup "$BIN/doris-be" --conf "$ROOT/conf/be.conf" > output/be/be.out 2>&1 &
echo $! > output/be/be.pid
port() { grep -E "^\s*$1\s*=" "conf/$2" | sed 's/.*=\s*//' | tr -d ' '; }
QP=$(port query_port fe.conf); HB=$(port heartbeat_service_port be.conf)
for _ in $(seq 1 60); do
  mysql -h127.0.0.1 -P"$QP" -uroot -e "SELECT 1" >/dev/null 2>&1 && break
  sleep 0.5
done
if ! mysql -h127.0.0.1 -P"$QP" -uroot -N -e "SHOW BACKENDS" 2>/dev/null | grep -q "127.0.0.1	$HB"; then
  mysql -h127.0.0.1 -P"$QP" -uroot -e "ALTER SYSTEM ADD BACKEND \"127.0.0.1:$HB\""
fi
for _ in $(seq 1 60); do
  if mysql -h127.0.0.1 -P"$QP" -uroot -N -e "SHOW BACKENDS" 2>/dev/null | grep "127.0.0.1	$HB" | grep -q true; then
    echo "cluster ready: mysql -h127.0.0.1 -P$QP -uroot   (logs: output/fe/log, output/be/log)"
    exit 0
  fi
  sleep 0.5
done
echo "backend did not become alive; see output/be/log/be.log and output/fe/log/fe.log" >&2
exit 1
