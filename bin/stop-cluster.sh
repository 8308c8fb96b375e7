#!/usr/bin/env bash
# Stops the local cluster started by bin/start-cluster.sh.
cd "$(dirname "$0")/.."
for p in output/fe/fe.pid output/be/be.pid; do
  if [ -f "$p" ]; then
    kill "$(cat "$p")" 2>/dev/null || true
    rm -f "$p"
  fi
done
