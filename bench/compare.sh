#!/usr/bin/env bash
# Strata vs PostgreSQL vs UmaDB, same machine, same run, same load shapes:
# durable single-event appends at 1/8/64 clients, 10-event appends at 64
# clients, and a catch-up read of 1 M events, all with ~1 KiB events.
# Prints a table of events/s with Strata's ratio to each peer, and writes
# bench/results/compare-<time>/{*.json,postgres.txt,summary.md,throughput.svg}.
#
#   bash bench/compare.sh                 # DURATION=10 CLIENTS="1 8 64" CATCHUP=1000000
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PEERS="$ROOT/../shared/peers"
DUR=${DURATION:-10}
CLIENTS=${CLIENTS:-"1 8 64"}
CATCHUP=${CATCHUP:-1000000}
OUT="$ROOT/bench/results/compare-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
{ echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -r)"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"; } | tee "$OUT/machine.txt"

# umadb-proto's build script needs a protoc: use the one our build vendors.
cargo fetch --locked >/dev/null
export PROTOC=${PROTOC:-$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*protoc-bin-vendored-linux-x86_64-*/bin/protoc' | head -n1)}
cargo build --release -p strata-server -p strata-bench --features strata-bench/umadb
SB="$ROOT/target/release/strata-bench"
BIN="$ROOT/target/release/strata"

echo "== PostgreSQL"
DURATION=$DUR CLIENTS="$CLIENTS" TESTS="append1 batch10_stmt catchup" bash "$PEERS/postgres/bench.sh" | tee "$OUT/postgres.txt"
cp "$PEERS/tmp/pg/results/rows.tsv" "$OUT/postgres.tsv"

echo "== Strata"
for c in $CLIENTS; do
  "$SB" append --clients "$c" --events-per-append 1 --event-size 1024 --duration "$DUR" \
    --connections $(( c < 8 ? c : 8 )) --spawn-server "$BIN" --json > "$OUT/strata-append1-c$c.json"
done
"$SB" append --clients 64 --events-per-append 10 --event-size 1024 --duration "$DUR" --spawn-server "$BIN" --json > "$OUT/strata-batch10-c64.json"
"$SB" catchup --events "$CATCHUP" --event-size 1024 --connections 1 --spawn-server "$BIN" --json > "$OUT/strata-catchup.json"

echo "== UmaDB"
uma() { # fresh database per run
  bash "$PEERS/umadb/start.sh" >/dev/null
  "$SB" "$@" || { bash "$PEERS/umadb/stop.sh" >/dev/null; return 1; }
  bash "$PEERS/umadb/stop.sh" >/dev/null
}
for c in $CLIENTS; do
  uma uma-append --clients "$c" --events-per-append 1 --event-size 1024 --duration "$DUR" --json > "$OUT/umadb-append1-c$c.json"
done
uma uma-append --clients 64 --events-per-append 10 --event-size 1024 --duration "$DUR" --json > "$OUT/umadb-batch10-c64.json"
uma uma-catchup --events "$CATCHUP" --event-size 1024 --json > "$OUT/umadb-catchup.json"

python3 "$ROOT/bench/compare_report.py" "$OUT" "$CLIENTS" | tee "$OUT/summary.md"
echo "results in $OUT"
