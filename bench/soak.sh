#!/usr/bin/env bash
# Power-cut soak: runs every power-cut and fault scenario of
# server/tests/power_cut.rs in turn (appenders through rounds of power cuts,
# cuts at each step of a segment roll-over, during scavenges, while
# metadata/deletes/snapshots/group checkpoints are written, EIO, full disk),
# a new seed each run, for STRATA_SOAK_MINUTES (default 60) minutes, and
# prints how many runs and cuts each scenario had. Stops at the first
# failure, printing its seed (replay: STRATA_TEST_SEED=<seed>).
#
# Needs root and /dev/fuse (lossyfs mounts a FUSE filesystem).
#   STRATA_SOAK_MINUTES=60   how long
#   STRATA_SOAK_RELEASE=1    build and run optimised (slower to build)
#   STRATA_SOAK_LOG=path     where the full output goes
#                            (default target/soak-<time>.log)
# The last lines (the tally) are what docs/RELIABILITY.md records.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${STRATA_SOAK_MINUTES:-60}"
LOG="${STRATA_SOAK_LOG:-target/soak-$(date -u +%Y%m%dT%H%M%SZ).log}"
PROFILE=()
[ "${STRATA_SOAK_RELEASE:-0}" = 1 ] && PROFILE=(--release)
mkdir -p "$(dirname "$LOG")"
[ -e /dev/fuse ] || { echo "soak: /dev/fuse is missing (lossyfs needs FUSE)" >&2; exit 1; }

cargo build "${PROFILE[@]}" --locked -p strata-server --bin strata --test power_cut
echo "soak: ${MINUTES} min, output in $LOG"
start=$(date +%s)
set +e
STRATA_SOAK_MINUTES="$MINUTES" cargo test "${PROFILE[@]}" --locked -p strata-server \
  --test power_cut -- --ignored --exact power_cut_soak --nocapture >"$LOG" 2>&1
rc=$?
set -e
secs=$(( $(date +%s) - start ))
grep '^soak:' "$LOG" | grep -v '^soak: run ' || true
if [ "$rc" -ne 0 ]; then
  grep -E 'seed|panicked' "$LOG" | tail -n 20
  echo "soak: FAILED after ${secs} s (full output: $LOG)"
  exit "$rc"
fi
echo "soak: passed in ${secs} s on $(nproc) cores, $(date -u +%Y-%m-%d), commit $(git rev-parse --short HEAD)"
