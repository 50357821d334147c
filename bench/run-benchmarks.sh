#!/usr/bin/env bash
# Runs the benchmarks recorded in docs/BENCHMARKS.md, back to back on this
# machine, and writes raw results under bench/results/<date>/ (git-ignored):
#   1. PostgreSQL baseline (../shared/peers/postgres/bench.sh), same machine, same run
#   2. strata-bench over gRPC against a release `strata`: appends (1/8/64
#      clients, single events and batches of 10, 1 KiB), $all and stream
#      reads, live subscription latency (1/10/100 subscribers at 1,000
#      appends/s), catch-up of 1 M events of 1 KiB
#   3. criterion benches of the storage engine (in-process, fsync on)
# Usage: bash bench/run-benchmarks.sh [quick]   (quick: shorter runs, no criterion)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT="$ROOT/bench/results/$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
QUICK=${1:-}
DUR=10; [ "$QUICK" = quick ] && DUR=4

echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -r)" | tee "$OUT/machine.txt"
echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"

cargo build --release -p strata-server -p strata-bench
BIN="$ROOT/target/release/strata"
SB="$ROOT/target/release/strata-bench"

PEERS="$ROOT/../shared/peers"
if [ -d "$PEERS/postgres" ] && [ "${SKIP_PG:-0}" != 1 ]; then
  echo "== PostgreSQL baseline"
  DURATION=$DUR CLIENTS="1 8 64" TESTS="append1 batch10_stmt catchup" bash "$PEERS/postgres/bench.sh" 2>&1 | tee "$OUT/postgres.txt"
fi

run() { # name, args...
  local name=$1; shift
  echo "== strata $name: $*"
  "$SB" "$@" --spawn-server "$BIN" --json > "$OUT/$name.json"
  python3 - "$OUT/$name.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
l = r.get("latency") or {}
s = r.get("server") or {}
print(f"   {r['events_per_s']:>12,.0f} events/s  {r['mb_per_s']:7.1f} MB/s  p50 {l.get('p50_us','-')} µs  p99 {l.get('p99_us','-')} µs  max {l.get('max_us','-')} µs  server RSS {s.get('rss_max_mib',0):.0f} MiB CPU {s.get('cpu_percent',0):.0f}%")
for n in r.get("notes", []): print("   note:", n)
PY
}

for c in 1 8 64; do
  run "append-c$c-e1" append --clients $c --events-per-append 1 --event-size 1024 --duration $DUR --connections $(( c < 8 ? c : 8 ))
done
run append-c64-e10 append --clients 64 --events-per-append 10 --event-size 1024 --duration $DUR
run append-c64-slow-subs append --clients 64 --events-per-append 1 --event-size 1024 --slow-subscribers 10 --duration $DUR
run append-c64-exact append --clients 64 --events-per-append 1 --event-size 1024 --expected exact --duration $DUR
run read-all read --kind all --prefill 500000 --event-size 1024 --clients 1 --duration $DUR --connections 1
run read-stream read --kind stream --prefill 200000 --event-size 1024 --stream-len 100 --clients 8 --duration $DUR
for n in 1 10 100; do
  run "subscribe-$n" subscribe --subscribers $n --rate 1000 --event-size 256 --duration $DUR
done
run catchup-1m catchup --events 1000000 --event-size 1024 --connections 1

if [ "$QUICK" != quick ]; then
  echo "== criterion (storage engine, in-process)"
  STRATA_BENCH_OPEN_EVENTS=${STRATA_BENCH_OPEN_EVENTS:-10000000} \
    cargo bench -p strata-storage --bench storage -- --warm-up-time 1 --measurement-time 4 2>&1 | tee "$OUT/criterion.txt" | grep -E "^[a-z_]+/|time:|thrpt:"
fi
echo "results in $OUT"
