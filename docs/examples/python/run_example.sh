#!/usr/bin/env bash
# Runs the Python examples against a running Strata server: example.py
# (streams) and groups_example.py (persistent subscriptions) by default, or
# the examples named as arguments (tls_example.py: TLS and credentials,
# against a TLS server with auth on; it needs STRATA_TLS_CA and
# STRATA_ADMIN_PASSWORD).
#
#   STRATA_ADDR  host:port of the server (default 127.0.0.1:2113)
#   STRATA_TLS_SERVER_NAME  tls_example.py: the name to check the server's
#                certificate against when STRATA_ADDR is an IP address
#   VENV         virtualenv to create/use (default .venv at the repo root)
#
# Creates the venv if needed, installs the pinned grpcio/grpcio-tools,
# generates Python stubs from proto/ into docs/examples/python/gen/
# (gitignored), then runs each example. Exits non-zero if anything fails.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../../.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
export STRATA_ADDR="${STRATA_ADDR:-127.0.0.1:2113}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
  echo "creating venv at $VENV"
  "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$HERE/requirements.txt"

GEN="$HERE/gen"
rm -rf "$GEN"
mkdir -p "$GEN"
"$VENV/bin/python" -m grpc_tools.protoc \
  -I "$ROOT/proto" \
  --python_out="$GEN" \
  --grpc_python_out="$GEN" \
  "$ROOT/proto/strata/v1/streams.proto" \
  "$ROOT/proto/strata/v1/persistent.proto" \
  "$ROOT/proto/strata/v1/security.proto"

EXAMPLES=("$@")
[ ${#EXAMPLES[@]} -gt 0 ] || EXAMPLES=(example.py groups_example.py)
for example in "${EXAMPLES[@]}"; do
  echo "running $example against $STRATA_ADDR"
  "$VENV/bin/python" "$HERE/$example"
done
