#!/usr/bin/env bash
# Schemathesis against a fresh imgshare server: the document the server serves
# (GET /openapi.json) is the contract, every check schemathesis has is on,
# generation is deterministic, and the run is bounded by examples per
# operation. Exits non-zero when schemathesis reports any failure (or cannot
# run); always stops the server it started. See spec-tools/schemathesis/README.md.
#
#   spec-tools/schemathesis.sh [SERVER_BIN]
#
#   SERVER_BIN / IMGSHARE_SERVER_BIN   the imgshare-server binary to test; default:
#                           cargo build --release -p imgshare-server, then
#                           $CARGO_TARGET_DIR/release/imgshare-server (target/ if unset)
#   IMGSHARE_ST_REPORT_DIR  where reports go (default /tmp): schemathesis-junit.xml,
#                           schemathesis-output.txt, schemathesis-events.ndjson,
#                           schemathesis-server.log
#   IMGSHARE_ST_MAX_EXAMPLES  examples per operation and phase (default 300: about 8,000
#                           test cases, under two minutes on 2 cores)
#   IMGSHARE_ST_SEED        seed (default 20261204)
#   IMGSHARE_ST_WORKERS     schemathesis workers (default 1: with more, the order in
#                           which requests reach the server, and so its state, varies)
#   IMGSHARE_ST_TIMEOUT     hard limit on the schemathesis run in seconds (default 1200)
#   IMGSHARE_ST_VENV        virtualenv to use; default
#                           $HOME/.cache/imgshare-ci/schemathesis-venv-<sha of requirements.txt>
#   PYTHON                  interpreter for a new virtualenv (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."
here="$PWD/spec-tools/schemathesis"

step() { printf '\n--- %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }
started=$(date +%s)

# --- virtualenv, cached by the requirements file's hash -------------------
req="$here/requirements.txt"
sha=$(sha256sum "$req" | cut -c1-16)
venv="${IMGSHARE_ST_VENV:-$HOME/.cache/imgshare-ci/schemathesis-venv-$sha}"
step "virtualenv $venv"
# Complete only once the marker is written: an interrupted install is redone.
if [ -f "$venv/.imgshare-complete" ] && cmp -s "$req" "$venv/.imgshare-complete"; then
  echo "reusing it"
else
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$req"
  "$venv/bin/pip" check --disable-pip-version-check
  cp "$req" "$venv/.imgshare-complete"
fi
"$venv/bin/schemathesis" --version

# --- the server binary -----------------------------------------------------
server="${1:-${IMGSHARE_SERVER_BIN:-}}"
if [ -z "$server" ]; then
  step "server build (cargo build --release -p imgshare-server)"
  cargo build --release --quiet -p imgshare-server
  server="${CARGO_TARGET_DIR:-target}/release/imgshare-server"
fi
[ -x "$server" ] || { echo "no server binary at $server"; exit 1; }
echo "server: $server"

# --- work directory, identity file, reports --------------------------------
reports="${IMGSHARE_ST_REPORT_DIR:-/tmp}"
mkdir -p "$reports"
reports=$(cd "$reports" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/imgshare-schemathesis.XXXXXX")
server_pid=
st_pid=
cleanup() {
  local rc=$?
  if [ -n "$st_pid" ]; then
    kill -TERM "$st_pid" 2>/dev/null || true
    wait "$st_pid" 2>/dev/null || true
  fi
  if [ -n "$server_pid" ]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  [ -f "$work/server.log" ] && cp "$work/server.log" "$reports/schemathesis-server.log"
  rm -rf "$work"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

token() { od -An -N16 -tx1 /dev/urandom | tr -d ' \n'; }
export IMGSHARE_ST_OWNER_TOKEN="st-owner-$(token)" IMGSHARE_ST_MEMBER_TOKEN="st-member-$(token)"
(umask 077 && sed -e "s/@OWNER_TOKEN@/$IMGSHARE_ST_OWNER_TOKEN/" -e "s/@MEMBER_TOKEN@/$IMGSHARE_ST_MEMBER_TOKEN/" \
  "$here/tokens.toml.in" > "$work/tokens.toml")
chmod 600 "$work/tokens.toml"

# --- server on a free loopback port ------------------------------------------
step "server start"
# None of the caller's IMGSHARE_* settings (database, keystone, …) may leak in.
unset_env=()
for name in $(env | sed -n 's/^\(IMGSHARE_[A-Z_]*\)=.*/\1/p'); do
  case $name in IMGSHARE_ST_*) ;; *) unset_env+=(-u "$name") ;; esac
done
# --member-quota: far above what fuzzing add_member can reach, so a positive
# case is never refused for a quota that earlier cases used up.
env "${unset_env[@]}" "$server" --bind 127.0.0.1:0 --metrics-bind 127.0.0.1:0 --data-dir "$work/data" --tokens "$work/tokens.toml" \
  --member-quota 100000 --log-level info 2> "$work/server.log" &
server_pid=$!
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's/.* listening address=\([0-9.:]*\).*/\1/p' "$work/server.log" | head -1)
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
[ -n "$addr" ] || { echo "the server did not start:"; cat "$work/server.log"; exit 1; }
base="http://$addr"
echo "listening on $base"

step "fixtures"
"$venv/bin/python" "$here/fixtures.py" "$base" "$here/schemathesis.toml.in" "$work/schemathesis.toml"

# --- the run -------------------------------------------------------------------
max_examples="${IMGSHARE_ST_MAX_EXAMPLES:-300}"
seed="${IMGSHARE_ST_SEED:-20261204}"
step "schemathesis run: all checks, deterministic, seed $seed, at most $max_examples examples per operation and phase"
out="$reports/schemathesis-output.txt"
rm -f "$reports/schemathesis-junit.xml" "$reports/schemathesis-events.ndjson"
run_started=$(date +%s)
# In the background and waited for, so that a SIGINT/SIGTERM to this script
# is handled at once (bash defers traps while a foreground child runs).
# Run from the work directory: nothing (a `.schemathesis/` cache, say) can land
# in the checkout.
(cd "$work" && SCHEMATHESIS_HOOKS=hooks PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" \
  exec timeout --signal=TERM --kill-after=30 "${IMGSHARE_ST_TIMEOUT:-1200}" \
  "$venv/bin/schemathesis" --config-file "$work/schemathesis.toml" --no-color \
  run "$base/openapi.json" \
  --checks all \
  --phases examples,coverage,fuzzing,stateful \
  --mode all \
  --max-examples "$max_examples" \
  --seed "$seed" --generation-deterministic \
  --workers "${IMGSHARE_ST_WORKERS:-1}" \
  --continue-on-failure \
  --request-timeout 30 \
  --output-truncate false \
  --report junit,ndjson \
  --report-junit-path "$reports/schemathesis-junit.xml" \
  --report-ndjson-path "$reports/schemathesis-events.ndjson" \
  > "$out" 2>&1) &
st_pid=$!
rc=0
wait "$st_pid" || rc=$?
st_pid=
run_secs=$(( $(date +%s) - run_started ))
# The console output, less the per-failure details, for the CI log.
sed -n '/^=* FAILURES =*$/q;p' "$out"
sed -n '/^=* SUMMARY =*$/,$p' "$out"

cases=$(sed -n 's/^ *\([0-9][0-9]*\) generated.*/\1/p' "$out" | tail -1)
step "result"
echo "schemathesis: ${cases:-?} test cases in ${run_secs}s (whole script: $(( $(date +%s) - started ))s), exit $rc"
echo "reports: $out, $reports/schemathesis-junit.xml, $reports/schemathesis-events.ndjson, $reports/schemathesis-server.log"
if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
  echo "FAIL: schemathesis did not finish within ${IMGSHARE_ST_TIMEOUT:-1200}s"
fi
if [ -z "$cases" ] && [ "$rc" -eq 0 ]; then
  echo "FAIL: no test-case count in the schemathesis output"; exit 1
fi
exit "$rc"
