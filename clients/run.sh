#!/usr/bin/env bash
# Drives the real OpenStack clients (python-glanceclient, openstacksdk,
# python-openstackclient; pinned in requirements.txt) against a fresh imgshare
# server: see test_clients.py. Exits non-zero if any check fails.
#
#   IMGSHARE_CLIENTS_VENV  virtualenv to use (created if missing); default
#                          $HOME/.cache/imgshare-ci/clients-venv-<sha of requirements.txt>
#   CARGO_TARGET_DIR       where the server is built (default: target/)
#   PYTHON                 interpreter for a new virtualenv (default: python3)
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n--- %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

req=clients/requirements.txt
sha=$(sha256sum "$req" | cut -c1-16)
venv="${IMGSHARE_CLIENTS_VENV:-$HOME/.cache/imgshare-ci/clients-venv-$sha}"

step "virtualenv $venv"
# A venv is complete only once its marker is written, so an interrupted
# install is redone rather than reused.
if [ ! -f "$venv/.imgshare-complete" ]; then
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "${PYTHON:-python3}" -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req"
  cp "$req" "$venv/.imgshare-complete"
else
  echo "reusing it"
fi

step "server build"
target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet -p imgshare-server
server="$target/debug/imgshare-server"
[ -x "$server" ] || { echo "no server binary at $server"; exit 1; }

scratch=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

step "server start"
token() { "${PYTHON:-python3}" -c 'import secrets; print(secrets.token_hex(16))'; }
export IMGSHARE_TOKEN_A=$(token) IMGSHARE_TOKEN_B=$(token) IMGSHARE_TOKEN_C=$(token)
cat > "$scratch/tokens.toml" <<TOML
# project-a owns the images, project-b is the member, project-c a stranger.
[[tokens]]
token = "$IMGSHARE_TOKEN_A"
project_id = "project-a"
user_id = "user-a"
roles = ["member", "reader"]

[[tokens]]
token = "$IMGSHARE_TOKEN_B"
project_id = "project-b"
user_id = "user-b"
roles = ["member", "reader"]

[[tokens]]
token = "$IMGSHARE_TOKEN_C"
project_id = "project-c"
user_id = "user-c"
roles = ["member", "reader"]
TOML
chmod 600 "$scratch/tokens.toml"
export IMGSHARE_SERVER_LOG="$scratch/server.log"
# Port 0: the kernel picks a free port; the server logs the address it got.
# Settings from the caller's environment (IMGSHARE_DATABASE, IMGSHARE_PUBLIC_URL, …)
# must not leak in: this server is SQLite in a fresh directory.
unset_env=$(env | sed -n 's/^\(IMGSHARE_[A-Z_]*\)=.*/-u \1/p')
# shellcheck disable=SC2086
env $unset_env "$server" --bind 127.0.0.1:0 --data-dir "$scratch/data" --tokens "$scratch/tokens.toml" \
  --log-level info 2> "$IMGSHARE_SERVER_LOG" &
server_pid=$!
addr=
for _ in $(seq 1 100); do
  addr=$(sed -n 's/.* listening address=\([0-9.:]*\).*/\1/p' "$IMGSHARE_SERVER_LOG" | head -1)
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$addr" ]; then
  echo "the server did not start:"; cat "$IMGSHARE_SERVER_LOG"; exit 1
fi
export IMGSHARE_URL="http://$addr"
echo "listening on $IMGSHARE_URL"

step "clients"
status=0
"$venv/bin/python" clients/test_clients.py || status=$?
if [ "$status" -ne 0 ]; then
  echo; echo "server log (last 40 lines):"; tail -n 40 "$IMGSHARE_SERVER_LOG"
fi

step "server stop"
kill -TERM "$server_pid"
if ! wait "$server_pid"; then
  echo "the server did not exit cleanly"; status=1
fi
server_pid=
exit "$status"
