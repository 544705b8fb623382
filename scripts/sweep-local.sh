#!/usr/bin/env bash
# Try sweeps on one machine: a Redis on loopback with the documented persistence, and N workers,
# all stopped by Ctrl-C (or SIGTERM: `kill %1` when started in the background, where bash ignores
# Ctrl-C). Submit from another shell:
#   node bin/lowrank-smc.js sweep submit sweep.json --store STORE --redis redis://127.0.0.1:PORT
# usage: scripts/sweep-local.sh STORE_DIR [WORKERS (1)] [PORT (6379)]
#
# Persistence: append-only file, fsynced before Redis answers (appendfsync always), no RDB snapshots:
# neither a Redis crash nor a power loss loses a write Redis acknowledged. (With everysec a write can
# sit unwritten for up to 2 s while an fsync is slow, and a SIGKILLed Redis lost completed jobs so.)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

store=${1:?usage: scripts/sweep-local.sh STORE_DIR [WORKERS] [PORT]}
workers=${2:-1}
port=${3:-6379}
command -v redis-server >/dev/null || { echo "redis-server not found: run scripts/setup.sh (or apt-get install redis-server)" >&2; exit 1; }
[ -f dist/src/cli/main.js ] || { echo "dist/ not built: run npm run build" >&2; exit 1; }
mkdir -p "$store/.redis"

pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

redis-server --port "$port" --bind 127.0.0.1 --protected-mode yes --dir "$store/.redis" \
  --appendonly yes --appendfsync always --save '' --logfile "$store/.redis/redis.log" &
pids+=($!)
for _ in $(seq 50); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.1
done
redis-cli -p "$port" ping >/dev/null || { echo "redis-server did not start (log: $store/.redis/redis.log)" >&2; exit 1; }
echo "redis on redis://127.0.0.1:$port (data in $store/.redis); starting $workers worker(s); Ctrl-C stops all"

for i in $(seq "$workers"); do
  node bin/lowrank-smc.js worker --redis "redis://127.0.0.1:$port" --store "$store" --name "local-$i" &
  pids+=($!)
done
wait -n "${pids[@]}"
