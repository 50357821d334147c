#!/usr/bin/env bash
# The KurrentDB protocol against Strata's native API on one server build
# (issue #19: within 20%): compare.sh's append and catch-up workloads —
# exact-revision single-event appends at 1/8/64 clients, 10-event appends at
# 64 clients, a catch-up of 1 M events, 1 KiB events, STREAMS streams —
# once through strata.v1 and once through event_store.client.streams, each
# cell through bench/cell.py (idle gate, other CPU, reruns of disturbed
# cells), RUNS runs per cell in alternating order, a fresh server each.
# Prints a table and writes bench/results/kurrent-<time>/.
#
#   bash bench/kurrent.sh      # DURATION=10 CLIENTS="1 8 64" CATCHUP=1000000 STREAMS=10000 RUNS=2
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
DUR=${DURATION:-10}
CLIENTS=${CLIENTS:-"1 8 64"}
CATCHUP=${CATCHUP:-1000000}
STREAMS=${STREAMS:-10000}
RUNS=${RUNS:-2}
OUT="$ROOT/bench/results/kurrent-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
{ echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -r)"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "streams: $STREAMS, runs per cell: $RUNS, duration: $DUR s, catch-up: $CATCHUP events"
  echo "commit: $(git rev-parse --short HEAD)"; } | tee "$OUT/machine.txt"
cargo build --release --locked -p strata-server -p strata-bench
BIN="$ROOT/target/release/strata"
SB="$ROOT/target/release/strata-bench"

args() { # args NAME VIA: the load generator's arguments for a cell
  local name=$1 via=$2 c per n=1
  case $name in
    catchup)
      [ "$via" = kurrent ] || via=native
      echo catchup --events "$CATCHUP" --event-size 1024 --connections 1 --via "$via" ;;
    *)
      c=${name#*-c}; per=$(( STREAMS / c > 0 ? STREAMS / c : 1 ))
      [ "${name%%-*}" = batch10 ] && n=10
      echo append --clients "$c" --connections "$c" --events-per-append $n --event-size 1024 \
        --duration "$DUR" --streams-per-client $per --expected exact --via "$via" ;;
  esac
}
CELLS=""
for c in $CLIENTS; do CELLS="$CELLS append1-c$c"; done
CELLS="$CELLS batch10-c64 catchup"
for name in $CELLS; do
  for run in $(seq 1 "$RUNS"); do
    if [ $((run % 2)) = 1 ]; then order="raw kurrent"; else order="kurrent raw"; fi
    for via in $order; do
      echo "-- $name via $via (run $run)"
      # shellcheck disable=SC2046 # the arguments are words without spaces
      python3 "$ROOT/bench/cell.py" --out "$OUT/$via-$name-r$run.json" -- \
        "$SB" $(args "$name" "$via") --spawn-server "$BIN" --json
    done
  done
done

python3 - "$OUT" "$CELLS" "$RUNS" <<'EOF' | tee "$OUT/summary.md"
import json, os, statistics, sys
out, cells, runs = sys.argv[1], sys.argv[2].split(), int(sys.argv[3])
def reps(via, cell):
    r = []
    for n in range(1, runs + 1):
        p = os.path.join(out, f"{via}-{cell}-r{n}.json")
        if os.path.exists(p):
            r.append(json.load(open(p)))
    return r
print(f"| cell (1 KiB events, exact revisions; median of {runs}) | strata.v1 events/s | KurrentDB protocol events/s | KurrentDB / native | p99 ms native / KurrentDB | server CPU native / KurrentDB | other CPU (max) |")
print("|---|---|---|---|---|---|---|")
for cell in cells:
    n, k = reps("raw", cell), reps("kurrent", cell)
    if not n or not k:
        continue
    med = lambda rs: statistics.median(r["events_per_s"] for r in rs)
    p99 = lambda rs: statistics.median((r.get("latency") or {}).get("p99_us", 0) for r in rs) / 1000
    cpu = lambda rs: statistics.median((r.get("server") or {}).get("cpu_percent", 0) for r in rs)
    other = max(r["gate"]["other_cpu_pct"] for r in n + k)
    lat = f"{p99(n):.1f} / {p99(k):.1f}" if cell != "catchup" else "—"
    print(f"| {cell} | {med(n):,.0f} | {med(k):,.0f} | {med(k) / med(n):.2f} | {lat} | {cpu(n):.0f}% / {cpu(k):.0f}% | {other}% |")
EOF
echo "results in $OUT"
