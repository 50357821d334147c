#!/usr/bin/env bash
# Backup, restore, export and import speed on a ~1 GiB store, for
# docs/BENCHMARKS.md ("Operations"). Release binaries, a fresh temp dir:
#   1. a server filled with ~1 GiB of 1 KiB events (strata-bench append)
#   2. strata backup (full, page cache dropped first), then an incremental
#      backup after 1,000 more events, then a full backup while 64 clients
#      append (their rate with and without it)
#   3. strata restore (copy, index rebuild, verify)
#   4. strata export of $all to a file; strata import of it into a fresh
#      server; the same import again (everything already there)
# Usage: bash bench/backup-bench.sh   (FILL_SECONDS=N to change the size)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
BIN=${STRATA:-$ROOT/target/release/strata}
SB=${STRATA_BENCH:-$ROOT/target/release/strata-bench}
FILL_SECONDS=${FILL_SECONDS:-10}
WORK=$(mktemp -d)
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$WORK"; }
trap cleanup EXIT

echo "machine: $(nproc) cores, $(free -g | awk '/Mem/{print $2}') GiB, load $(cut -d' ' -f1-3 /proc/loadavg)"

serve() { # data dir -> sets ADDR
  local out="$WORK/$(basename "$1").out"
  "$BIN" serve --data-dir "$1" --listen 127.0.0.1:0 --log-level warn >"$out" 2>"$out.err" &
  PIDS+=($!)
  for _ in $(seq 100); do
    if grep -q "listening on" "$out"; then ADDR=$(sed -n 's/strata listening on //p' "$out"); return; fi
    sleep 0.1
  done
  echo "server did not start" >&2; exit 1
}
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true; }
secs() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

serve "$WORK/a"; A=$ADDR
export STRATA_ADDR=$A
echo "== fill: $FILL_SECONDS s of 100-event appends of 1 KiB events"
"$SB" append --addr "http://$A" --clients 16 --events-per-append 100 --event-size 1024 \
  --duration "$FILL_SECONDS" --json | python3 -c "import json,sys; r=json.load(sys.stdin); print(f\"   {r['events_per_s']:,.0f} events/s\")"
LOG=$(du -sb "$WORK/a/log" | cut -f1)
HEAD=$("$BIN" read '$all' --backwards --max 1 --json | python3 -c "import json,sys; print(json.load(sys.stdin)['position'])")
echo "   log: $((LOG / 1048576)) MiB, head position $HEAD"

echo "== backup (full, cold page cache)"
drop_caches
B=$("$BIN" backup --to "$WORK/backup" --json); echo "   $B"
python3 -c "import json,sys; b=json.loads(sys.argv[1]); print(f\"   {b['bytes_received']/1e6/b['seconds']:,.0f} MB/s\")" "$B"

echo "== incremental backup after 1,000 more events"
"$SB" append --addr "http://$A" --clients 1 --events-per-append 100 --event-size 1024 --duration 1 --json >/dev/null
B=$("$BIN" backup --to "$WORK/backup" --json); echo "   $B"

echo "== backup while 64 clients append (1 KiB single-event appends)"
"$SB" append --addr "http://$A" --clients 64 --events-per-append 1 --event-size 1024 --duration 8 --json \
  | python3 -c "import json,sys; r=json.load(sys.stdin); l=r['latency']; print(f\"   without: {r['events_per_s']:,.0f} events/s, p99 {l['p99_us']} µs\")"
( sleep 2; "$BIN" backup --to "$WORK/backup-2" --json > "$WORK/under-load.json" ) &
BK=$!
"$SB" append --addr "http://$A" --clients 64 --events-per-append 1 --event-size 1024 --duration 8 --json \
  | python3 -c "import json,sys; r=json.load(sys.stdin); l=r['latency']; print(f\"   during a backup: {r['events_per_s']:,.0f} events/s, p99 {l['p99_us']} µs\")"
wait "$BK"
echo "   backup under load: $(cat "$WORK/under-load.json")"

echo "== restore (copy + index rebuild + verify), cold page cache"
drop_caches
R=$("$BIN" restore --from "$WORK/backup" --data-dir "$WORK/restored" --json); echo "   $R"
python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(f\"   copy {r['bytes']/1e6/r['copy_seconds']:,.0f} MB/s; all steps {r['bytes']/1e6/r['seconds']:,.0f} MB/s\")" "$R"

echo "== export \$all"
drop_caches
T0=$(date +%s.%N)
"$BIN" export > "$WORK/events.jsonl"
T1=$(date +%s.%N)
N=$(wc -l < "$WORK/events.jsonl")
python3 -c "import sys; n,t=int(sys.argv[1]),float(sys.argv[2]); print(f'   {n:,} events, {int(sys.argv[3])/1e6:,.0f} MB of JSON in {t:.1f} s: {n/t:,.0f} events/s')" "$N" "$(echo "$T1 - $T0" | bc)" "$(stat -c %s "$WORK/events.jsonl")"

echo "== import into a fresh server"
serve "$WORK/c"; C=$ADDR
I=$(STRATA_ADDR=$C "$BIN" import --file "$WORK/events.jsonl" --json); echo "   $I"
python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(f\"   {r['events']/r['seconds']:,.0f} events/s\")" "$I"
echo "== the same import again (everything already there)"
I=$(STRATA_ADDR=$C "$BIN" import --file "$WORK/events.jsonl" --json); echo "   $I"
python3 -c "import json,sys; r=json.loads(sys.argv[1]); print(f\"   {r['events']/r['seconds']:,.0f} events/s\")" "$I"
