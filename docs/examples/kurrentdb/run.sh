#!/usr/bin/env bash
# Runs the official KurrentDB clients' walk-throughs against a running Strata
# server: Python (kurrentdbclient from PyPI), Node.js (@kurrent/kurrentdb-client
# from npm) and Rust (the kurrentdb crate), each connecting with
# kurrentdb://$STRATA_ADDR?tls=false. Exits non-zero at the first failure.
#
#   STRATA_ADDR  host:port of the server (default 127.0.0.1:2113)
#   PYTHON       the Python 3 to make the venv with (default python3)
#   WALKTHROUGHS which to run, space-separated (default "python node rust")
#
# Installs what each needs under this directory (all gitignored):
# .venv/ (pinned by python/requirements.txt), node/node_modules/ (npm ci, from
# node/package-lock.json) and rust/target/ (cargo, from rust/Cargo.lock).
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
export STRATA_ADDR="${STRATA_ADDR:-127.0.0.1:2113}"
PYTHON="${PYTHON:-python3}"
WALKTHROUGHS="${WALKTHROUGHS:-python node rust}"

for w in $WALKTHROUGHS; do
  case "$w" in
  python)
    VENV="$HERE/.venv"
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/python/requirements.txt"
    echo "== kurrentdbclient (Python) against $STRATA_ADDR"
    "$VENV/bin/python" "$HERE/python/walkthrough.py"
    ;;
  node)
    (cd "$HERE/node" && npm ci --no-audit --no-fund --loglevel=error)
    echo "== @kurrent/kurrentdb-client (Node.js) against $STRATA_ADDR"
    node "$HERE/node/walkthrough.mjs"
    ;;
  rust)
    echo "== kurrentdb crate (Rust): building"
    cargo build --quiet --locked --manifest-path "$HERE/rust/Cargo.toml" --target-dir "$HERE/rust/target"
    echo "== kurrentdb crate (Rust) against $STRATA_ADDR"
    "$HERE/rust/target/debug/strata-kurrentdb-walkthrough"
    ;;
  *)
    echo "unknown walk-through: $w (python, node or rust)" >&2
    exit 2
    ;;
  esac
done
