#!/usr/bin/env bash
# Schemathesis (pinned) against /openapi.json of a fresh `saas serve`: free ports, a new data
# directory, rate limits off and a cheap argon2 cost (the README's test settings). Fails on
# any finding, on the missing_auth and validation_mismatch warnings, and when an operation
# other than the event stream got no 2xx answer in the run.
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
if ! python3 -c "import sys, importlib.metadata as m; sys.exit(m.version('schemathesis') != '$SCHEMATHESIS_VERSION')" 2>/dev/null; then
  python3 -m pip install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-/var/tmp/saas-ci-target}"
cargo build --locked -p saas
SAAS="$CARGO_TARGET_DIR/debug/saas"

WORK="$(mktemp -d)"
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null || true; wait "$SERVER_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT

read -r HTTP_PORT GRPC_PORT < <(python3 - <<'PY'
import socket
sockets = [socket.socket() for _ in range(2)]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in sockets))
for s in sockets:
    s.close()
PY
)
API="http://127.0.0.1:$HTTP_PORT"

SAAS_DATA_DIR="$WORK/data" SAAS_HTTP_ADDR="127.0.0.1:$HTTP_PORT" SAAS_GRPC_ADDR="127.0.0.1:$GRPC_PORT" \
  SAAS_RATE_LIMITS=off SAAS_ARGON2=m=8,t=1,p=1 SAAS_LOG=warn \
  "$SAAS" serve >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 240); do
  curl -sf "$API/readyz" >/dev/null 2>&1 && break
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then cat "$WORK/serve.log"; exit 1; fi
  sleep 0.25
done
curl -sf "$API/readyz" >/dev/null

# The run's user and workspace; the hooks log in as this user again every two minutes.
export SAAS_ST_BASE_URL="$API" SAAS_ST_MAIL_DIR="$WORK/data/mail"
export SAAS_ST_EMAIL="schemathesis@example.com" SAAS_ST_PASSWORD="correct horse battery staple"
SAAS_ST_WORKSPACE_ID="$(curl -sf "$API/v1/signup" -H 'content-type: application/json' -d "{
  \"email\": \"$SAAS_ST_EMAIL\", \"password\": \"$SAAS_ST_PASSWORD\",
  \"display_name\": \"Schemathesis\", \"workspace_name\": \"Schemathesis\",
  \"workspace_slug\": \"schemathesis\"}" | python3 -c 'import json, sys; print(json.load(sys.stdin)["workspace"]["id"])')"
export SAAS_ST_WORKSPACE_ID

export SCHEMATHESIS_HOOKS=hooks
export PYTHONPATH="$PWD/.ci/schemathesis${PYTHONPATH:+:$PYTHONPATH}"
REPORTS="$WORK/reports"
status=0
# A fixed seed keeps CI's verdict reproducible; set SCHEMATHESIS_SEED to explore others.
st --config-file .ci/schemathesis/schemathesis.toml run "$API/openapi.json" \
  --phases examples,coverage,fuzzing,stateful \
  --report har,junit --report-dir "$REPORTS" --report-har-path "$REPORTS/run.har" \
  --seed "${SCHEMATHESIS_SEED:-9989}" || status=$?

python3 .ci/schemathesis/every_operation_2xx.py "$API/openapi.json" "$REPORTS/run.har" || status=1
if [ "$status" -ne 0 ]; then
  echo "schemathesis: failed (server log: $WORK/serve.log)"
  tail -n 50 "$WORK/serve.log"
  exit "$status"
fi
echo "schemathesis: clean"
