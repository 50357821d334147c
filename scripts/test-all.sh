#!/usr/bin/env bash
# Runs every test Strata has, on a fresh machine, setting up what they need:
#   1. builds the workspace (debug) and runs all Rust tests with cargo-nextest
#      (falls back to cargo test) — unit, property, crash/kill, and the
#      integration tests that start the real `strata` binary;
#   2. runs the doc tests (nextest does not);
#   3. creates a Python venv (.venv), installs grpcio, generates stubs from
#      proto/, starts a real server and runs the Python examples against it
#      (example.py: streams; groups_example.py: persistent subscriptions;
#      tls_example.py: TLS and credentials, against a second server with TLS
#      and auth on),
#      then scrapes /metrics with prometheus_client's parsers while working
#      (scripts/tests/metrics_check.py), and checks every metric the Grafana
#      dashboard queries against that scrape (docs/grafana/check_dashboard.py);
#   4. runs the official KurrentDB clients' walk-throughs against a fresh
#      server (docs/examples/kurrentdb/run.sh): kurrentdbclient from PyPI in its
#      own venv, @kurrent/kurrentdb-client from npm (npm ci), and the kurrentdb
#      crate built in its own cargo project and target dir;
#   5. installs headless Chromium and chromedriver from the Debian packages
#      if they are missing (apt-get, as root) and Selenium into the venv, and
#      drives the admin web UI against its own server (scripts/tests/ui_test.py;
#      screenshots of each page in target/ui-screenshots).
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

echo "== build"
cargo build --workspace --all-targets --locked

LOGS=$(mktemp -d)
echo "== rust tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast 2>&1 | tee "$LOGS/rust.log"
  RUST_PASSED=$(sed -n 's/.* tests run: \([0-9]*\) passed.*/\1/p' "$LOGS/rust.log" | tail -n1)
else
  cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$LOGS/rust.log"
  RUST_PASSED=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$LOGS/rust.log" | awk '{s+=$1} END {print s+0}')
fi

echo "== doc tests"
cargo test --workspace --doc --locked 2>&1 | tee "$LOGS/doc.log"
DOC_PASSED=$(sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' "$LOGS/doc.log" | awk '{s+=$1} END {print s+0}')

echo "== python examples against a live server"
export VENV="${VENV:-$ROOT/.venv}"
DATA=$(mktemp -d)
LOG=$(mktemp)
"$ROOT/target/debug/strata" serve --data-dir "$DATA/data" --listen 127.0.0.1:0 >"$LOG" 2>&1 &
PID=$!
cleanup() { kill -9 "$PID" 2>/dev/null || true; rm -rf "$DATA"; }
trap cleanup EXIT
ADDR=""
for _ in $(seq 1 200); do
  ADDR=$(sed -n 's/^strata listening on //p' "$LOG" | head -n1)
  [ -n "$ADDR" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG"; echo "server died"; exit 1; }
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$LOG"; echo "server did not start"; exit 1; }
STRATA_ADDR="$ADDR" bash "$ROOT/docs/examples/python/run_example.sh"
# run_example.sh runs both examples and fails on the first failure.
echo "== /metrics through the reference Prometheus parsers"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/scripts/tests/requirements.txt"
# Uses the stubs run_example.sh generated; its streams are its own, but it
# compares counters before and after, so nothing else may run meanwhile.
STRATA_ADDR="$ADDR" "$VENV/bin/python" "$ROOT/scripts/tests/metrics_check.py"
echo "== the Grafana dashboard against the same server's /metrics"
python3 "$ROOT/docs/grafana/check_dashboard.py" "http://$ADDR/metrics"
PY_PASSED=4
kill -TERM "$PID"
wait "$PID"
echo "server exited cleanly after SIGTERM"
trap - EXIT

echo "== python over TLS with credentials against a TLS server with auth on"
CERTS=$(mktemp -d)
"$ROOT/target/debug/strata" certs dev --out "$CERTS" >/dev/null
export STRATA_ADMIN_PASSWORD="tls-example-$RANDOM-$RANDOM"
"$ROOT/target/debug/strata" serve --data-dir "$CERTS/data" --listen 127.0.0.1:0 \
  --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key" >"$LOG" 2>&1 &
PID=$!
cleanup() { kill -9 "$PID" 2>/dev/null || true; rm -rf "$CERTS"; }
trap cleanup EXIT
ADDR=""
for _ in $(seq 1 200); do
  ADDR=$(sed -n 's/^strata listening on //p' "$LOG" | head -n1)
  [ -n "$ADDR" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG"; echo "TLS server died"; exit 1; }
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$LOG"; echo "TLS server did not start"; exit 1; }
# The dev certificate names localhost: dial the address the server printed
# and check the certificate against that name.
STRATA_ADDR="$ADDR" STRATA_TLS_SERVER_NAME=localhost STRATA_TLS_CA="$CERTS/ca.pem" \
  bash "$ROOT/docs/examples/python/run_example.sh" tls_example.py \
  || { echo "tls_example.py failed; the TLS server's log:"; cat "$LOG"; exit 1; }
unset STRATA_ADMIN_PASSWORD
PY_PASSED=$((PY_PASSED + 1))
kill -TERM "$PID"
wait "$PID"
trap - EXIT
rm -rf "$CERTS"

echo "== the official KurrentDB clients (Python, Node.js, Rust) against a fresh server"
KDB=$(mktemp -d)
"$ROOT/target/debug/strata" serve --data-dir "$KDB/data" --listen 127.0.0.1:0 >"$LOG" 2>&1 &
PID=$!
cleanup() { kill -9 "$PID" 2>/dev/null || true; rm -rf "$KDB"; }
trap cleanup EXIT
ADDR=""
for _ in $(seq 1 200); do
  ADDR=$(sed -n 's/^strata listening on //p' "$LOG" | head -n1)
  [ -n "$ADDR" ] && break
  kill -0 "$PID" 2>/dev/null || { cat "$LOG"; echo "server died"; exit 1; }
  sleep 0.1
done
[ -n "$ADDR" ] || { cat "$LOG"; echo "server did not start"; exit 1; }
STRATA_ADDR="$ADDR" bash "$ROOT/docs/examples/kurrentdb/run.sh" \
  || { echo "a KurrentDB client walk-through failed; the server's log:"; cat "$LOG"; exit 1; }
# run.sh runs the three walk-throughs and fails on the first failure.
KDB_PASSED=3
kill -TERM "$PID"
wait "$PID"
trap - EXIT
rm -rf "$KDB"

echo "== the admin web UI in headless Chromium (Selenium + chromedriver)"
if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then
  command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ] \
    || { echo "the UI test needs chromium and chromedriver: apt-get install chromium chromium-driver (as root)"; exit 1; }
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y chromium chromium-driver
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$ROOT/scripts/tests/ui-requirements.txt"
STRATA_BIN="$ROOT/target/debug/strata" UI_SCREENSHOTS="$ROOT/target/ui-screenshots" \
  "$VENV/bin/python" "$ROOT/scripts/tests/ui_test.py"
PY_PASSED=$((PY_PASSED + 1))
rm -rf "$DATA"
rm -rf "$LOGS"
echo "== all tests passed"
# One plain closing line with the totals (Rust tests, doc tests, Python
# checks, KurrentDB client walk-throughs).
echo "tests: $(( ${RUST_PASSED:-0} + ${DOC_PASSED:-0} + PY_PASSED + KDB_PASSED )) passed, 0 failed"
