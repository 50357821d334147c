#!/usr/bin/env bash
# What observability and security cost on the append path: single-event,
# durable appends of 1 KiB with exact expected revisions at CLIENTS (64)
# clients, unary calls, against one source tree run four ways:
#
#   metrics     the default build (Prometheus instruments on the hot path)
#   no-metrics  built with --no-default-features (the instruments compile
#               to nothing)
#   otlp        the default build exporting every request's spans to a
#               local OTLP receiver (`strata-bench otlp-sink`)
#   tls-auth    the default build with TLS (`strata certs dev`) and
#               authentication on: basic credentials on every call
#
# Each configuration runs ROUNDS times (default 3), in rotating order, on a
# fresh server per cell, waiting for the 1-minute load to fall under
# IDLE_LOAD first (at most IDLE_WAIT s). Prints every cell with the load
# before it, then the median events/s and p99 per configuration and each
# one's difference from `metrics`; writes bench/results/overhead-<time>/.
#
#   bash bench/overhead.sh        # ROUNDS=3 DURATION=10 CLIENTS=64 IDLE_LOAD=1.0
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
ROUNDS=${ROUNDS:-3}
DUR=${DURATION:-10}
CLIENTS=${CLIENTS:-64}
IDLE_LOAD=${IDLE_LOAD:-1.0}
IDLE_WAIT=${IDLE_WAIT:-120}
OUT="$ROOT/bench/results/overhead-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
WORK=$(mktemp -d)
trap 'kill $SINK 2>/dev/null || true; rm -rf "$WORK"' EXIT
SINK=""

{ echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -r)"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "source: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (with local changes)')"; } | tee "$OUT/machine.txt"

# Two builds of the same tree: the no-metrics one first, copied aside, then
# the default one (so target/release/strata stays the binary users run).
cargo build --release -p strata-server --no-default-features
cp target/release/strata "$WORK/strata-no-metrics"
cargo build --release -p strata-server -p strata-bench
BIN="$ROOT/target/release/strata"
SB="$ROOT/target/release/strata-bench"

"$BIN" certs dev --out "$WORK/certs" >/dev/null
printf 'bench-password-1' >"$WORK/admin-password"
"$SB" otlp-sink --listen 127.0.0.1:14317 2>"$OUT/otlp-sink.log" &
SINK=$!

wait_idle() {
  local waited=0
  while awk -v max="$IDLE_LOAD" '{exit !($1 > max)}' /proc/loadavg && [ "$waited" -lt "$IDLE_WAIT" ]; do
    sleep 5; waited=$((waited + 5))
  done
}

cell() { # config round
  local cfg=$1 round=$2 bin="$BIN" extra=()
  case "$cfg" in
    no-metrics) bin="$WORK/strata-no-metrics" ;;
    otlp) extra=(--server-arg=--otlp-endpoint --server-arg=http://127.0.0.1:14317) ;;
    tls-auth) extra=(--server-arg=--tls-cert "--server-arg=$WORK/certs/server.pem"
                     --server-arg=--tls-key "--server-arg=$WORK/certs/server.key"
                     --server-arg=--admin-password-file "--server-arg=$WORK/admin-password"
                     --tls-ca "$WORK/certs/ca.pem" --user admin --password bench-password-1) ;;
  esac
  wait_idle
  local load
  load=$(cut -d' ' -f1 /proc/loadavg)
  "$SB" append --clients "$CLIENTS" --events-per-append 1 --event-size 1024 --duration "$DUR" \
    --expected exact --spawn-server "$bin" "${extra[@]}" --json >"$OUT/$cfg-$round.json"
  python3 - "$OUT/$cfg-$round.json" "$cfg" "$round" "$load" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{sys.argv[2]:<11} round {sys.argv[3]}  load {sys.argv[4]:>5}  "
      f"{r['events_per_s']:>8.0f} events/s  p99 {r['latency']['p99_us'] / 1000:6.2f} ms  errors {r['errors']}")
EOF
}

CONFIGS=(metrics no-metrics otlp tls-auth)
for round in $(seq 1 "$ROUNDS"); do
  n=${#CONFIGS[@]}
  for i in $(seq 0 $((n - 1))); do
    cell "${CONFIGS[$(( (i + round - 1) % n ))]}" "$round"
  done
done | tee "$OUT/cells.txt"

python3 - "$OUT" "${CONFIGS[@]}" <<'EOF' | tee "$OUT/summary.md"
import glob, json, statistics, sys
out, configs = sys.argv[1], sys.argv[2:]
med = {}
for c in configs:
    runs = [json.load(open(f)) for f in sorted(glob.glob(f"{out}/{c}-*.json"))]
    med[c] = (statistics.median(r["events_per_s"] for r in runs),
              statistics.median(r["latency"]["p99_us"] for r in runs) / 1000, len(runs))
base = med["metrics"][0]
print("| configuration | runs | median events/s | vs metrics | median p99 |")
print("|---|---|---|---|---|")
for c in configs:
    eps, p99, n = med[c]
    print(f"| {c} | {n} | {eps:,.0f} | {100 * (eps - base) / base:+.1f}% | {p99:.2f} ms |")
EOF
echo "results in $OUT"
