#!/usr/bin/env bash
# Strata vs PostgreSQL vs UmaDB, same machine, same run, same load shapes:
# durable single-event appends at 1/8/64 clients, 10-event appends at 64
# clients, and a catch-up read of 1 M events, all with ~1 KiB events.
#
# Fair by construction (issue #21):
# - the same workload for every system: each append checks the stream's
#   exact revision (Strata: expected revision; UmaDB: the equivalent DCB
#   condition, no event of the stream's tag after the last one seen;
#   PostgreSQL: the expected-version check under an advisory lock), spread
#   over the same number of streams (STREAMS, 10,000 by default, as the
#   PostgreSQL script uses);
# - the same connection strategy: one HTTP/2 connection per client for both
#   gRPC servers;
# - the binaries users run: UmaDB's load generator (strata-bench with the
#   `umadb` feature) is built in its own target directory, so building it
#   cannot unify features into target/release/strata (its hash is checked
#   before and after);
# - a quiet machine: bench/cell.py waits for an idle machine before every
#   cell, measures the CPU used by other processes during it, reruns a
#   disturbed cell, and every row prints the load and that "other CPU";
# - RUNS runs per cell (2 by default), the order of Strata and UmaDB
#   alternating from run to run, a fresh server and store for every run.
# PostgreSQL's script runs its pgbench workloads back to back (it has no
# per-cell gate); its load at the start is printed with it.
#
# Prints a table of events/s (median over runs) with Strata's ratios and a
# table of every run (p99, server CPU and peak RSS, load, other CPU), and
# writes bench/results/compare-<time>/{*.json,postgres.txt,summary.md,throughput.svg}.
#
#   bash bench/compare.sh      # DURATION=10 CLIENTS="1 8 64" CATCHUP=1000000 STREAMS=10000 RUNS=2
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PEERS="$ROOT/../shared/peers"
DUR=${DURATION:-10}
CLIENTS=${CLIENTS:-"1 8 64"}
CATCHUP=${CATCHUP:-1000000}
STREAMS=${STREAMS:-10000}
RUNS=${RUNS:-2}
OUT="$ROOT/bench/results/compare-$(date -u +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
{ echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, $(uname -r)"
  echo "load at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "streams: $STREAMS, runs per cell: $RUNS, duration: $DUR s, catch-up: $CATCHUP events"; } | tee "$OUT/machine.txt"

cargo build --release --locked -p strata-server -p strata-bench
BIN="$ROOT/target/release/strata"
SB="$ROOT/target/release/strata-bench"
before=$(sha256sum "$BIN" | cut -d' ' -f1)
# umadb-proto's build script needs a protoc: use the one our build vendors.
cargo fetch --locked >/dev/null
export PROTOC=${PROTOC:-$(find "${CARGO_HOME:-$HOME/.cargo}/registry/src" -path '*protoc-bin-vendored-linux-x86_64-*/bin/protoc' | head -n1)}
cargo build --release --locked -p strata-bench --features strata-bench/umadb --target-dir "$ROOT/target/peer-bench"
USB="$ROOT/target/peer-bench/release/strata-bench"
[ "$(sha256sum "$BIN" | cut -d' ' -f1)" = "$before" ] \
  || { echo "target/release/strata changed while building the peer load generator"; exit 1; }
echo "strata under test: $BIN (sha256 $before)" | tee -a "$OUT/machine.txt"

echo "== PostgreSQL (load $(cut -d' ' -f1-3 /proc/loadavg))"
DURATION=$DUR CLIENTS="$CLIENTS" STREAMS=$STREAMS TESTS="append1 batch10_stmt catchup" \
  bash "$PEERS/postgres/bench.sh" | tee "$OUT/postgres.txt"
cp "$PEERS/tmp/pg/results/rows.tsv" "$OUT/postgres.tsv"

UMA_PID="$PEERS/tmp/umadb/server.pid"
cell() { # cell SYSTEM NAME RUN LOADGEN-ARGS...
  local sys=$1 name=$2 run=$3; shift 3
  echo "-- $sys $name (run $run)"
  if [ "$sys" = strata ]; then
    python3 "$ROOT/bench/cell.py" --out "$OUT/strata-$name-r$run.json" -- \
      "$SB" "$@" --spawn-server "$BIN" --json
  else
    python3 "$ROOT/bench/cell.py" --out "$OUT/umadb-$name-r$run.json" \
      --setup "bash '$PEERS/umadb/start.sh'" --teardown "bash '$PEERS/umadb/stop.sh'" \
      --pid-file "$UMA_PID" -- "$USB" "$@" --server-pid '{server_pid}' --json
  fi
}
args() { # args SYSTEM NAME: the load generator's arguments for a cell
  local sys=$1 name=$2 c per
  case $name in
    append1-c*|batch10-c*)
      c=${name#*-c}; per=$(( STREAMS / c > 0 ? STREAMS / c : 1 ))
      local n=1; [ "${name%%-*}" = batch10 ] && n=10
      if [ "$sys" = strata ]; then
        echo append --clients "$c" --connections "$c" --events-per-append $n --event-size 1024 \
          --duration "$DUR" --streams-per-client $per --expected exact
      else
        echo uma-append --clients "$c" --events-per-append $n --event-size 1024 \
          --duration "$DUR" --streams-per-client $per --condition exact
      fi ;;
    catchup)
      if [ "$sys" = strata ]; then
        echo catchup --events "$CATCHUP" --event-size 1024 --connections 1
      else
        echo uma-catchup --events "$CATCHUP" --event-size 1024
      fi ;;
  esac
}
CELLS=""
for c in $CLIENTS; do CELLS="$CELLS append1-c$c"; done
CELLS="$CELLS batch10-c64 catchup"
for name in $CELLS; do
  for run in $(seq 1 "$RUNS"); do
    if [ $((run % 2)) = 1 ]; then order="strata umadb"; else order="umadb strata"; fi
    for sys in $order; do
      # shellcheck disable=SC2046 # the arguments are words without spaces
      cell "$sys" "$name" "$run" $(args "$sys" "$name")
    done
  done
done

python3 "$ROOT/bench/compare_report.py" "$OUT" "$CLIENTS" "$RUNS" | tee "$OUT/summary.md"
echo "results in $OUT"
