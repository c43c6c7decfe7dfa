#!/usr/bin/env bash
# Drives the real OpenStack clients (python-glanceclient, openstacksdk,
# python-openstackclient; pinned in requirements.txt) against a fresh imgshare
# server behind a real Keystone: see test_clients.py. The server validates the
# clients' tokens with Keystone (--keystone-url, service user imgshare); the
# clients log in with passwords and find imgshare in Keystone's catalog.
# Exits non-zero if any check fails.
#
#   IMGSHARE_TEST_KEYSTONE  accounts.json of a running keystone/keystone.sh
#                           Keystone to use (CI sets it); unset: one is started
#                           in a temporary directory and stopped at exit
#   IMGSHARE_CLIENTS_VENV   virtualenv to use (created if missing); default
#                           $HOME/.cache/imgshare-ci/clients-venv-<sha of requirements.txt>
#   CARGO_TARGET_DIR        where the server is built (default: target/)
#   PYTHON                  interpreter for a new virtualenv (default: python3)
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
# shellcheck source=clients/server.sh
source clients/server.sh
[ -x "$server" ] || { echo "no server binary at $server"; exit 1; }

scratch=$(mktemp -d)
server_pid=
keystone_dir=
cleanup() {
  stop_server > /dev/null 2>&1 || true
  if [ -n "$keystone_dir" ]; then
    bash keystone/keystone.sh stop "$keystone_dir" || true
  fi
  rm -rf "$scratch"
}
trap cleanup EXIT

step "Keystone"
if [ -n "${IMGSHARE_TEST_KEYSTONE:-}" ]; then
  [ -f "$IMGSHARE_TEST_KEYSTONE" ] || { echo "IMGSHARE_TEST_KEYSTONE=$IMGSHARE_TEST_KEYSTONE: no such file"; exit 1; }
  accounts=$IMGSHARE_TEST_KEYSTONE
  echo "using the Keystone of $accounts"
else
  keystone_dir="$scratch/keystone"
  accounts=$(bash keystone/keystone.sh start "$keystone_dir" | tail -n 1)
fi
export IMGSHARE_TEST_KEYSTONE="$accounts"
# account FIELD...: one value from accounts.json
account() {
  python3 - "$accounts" "$@" <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(v)
PY
}
auth_url=$(account auth_url)
echo "Keystone at $auth_url"

step "server start (tokens validated by Keystone)"
# No static identities: every caller is one of Keystone's.
printf '# clients/run.sh: no static identities; Keystone validates every token.\n' \
  > "$scratch/tokens.toml"
chmod 600 "$scratch/tokens.toml"
service_user=$(account service user) service_project=$(account service project)
# The service user's password reaches the server through its environment,
# never a command line.
IMGSHARE_KEYSTONE_PASSWORD=$(account service password) KEEP_ENV=IMGSHARE_KEYSTONE_PASSWORD \
  start_server "$scratch/server.log" --data-dir "$scratch/data" --tokens "$scratch/tokens.toml" \
  --keystone-url "$auth_url" --keystone-user "$service_user" --keystone-project "$service_project" \
  --log-level info

step "Keystone catalog: image service, public endpoint $IMGSHARE_URL (RegionOne)"
# As an operator registers Glance: the clients find imgshare through the
# catalog of their tokens. Older image endpoints (an earlier run on the same
# Keystone) are deleted first.
python3 - "$accounts" "$IMGSHARE_URL" <<'PY'
import json, sys, urllib.error, urllib.request

acc, url = json.load(open(sys.argv[1])), sys.argv[2]
base = acc["auth_url"].rstrip("/")

def call(method, path, token=None, body=None, expect=(200,)):
    req = urllib.request.Request(base + path, method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Accept", "application/json")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("X-Auth-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            status, headers, raw = r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        status, headers, raw = e.code, e.headers, e.read()
    if status not in expect:
        sys.exit(f"{method} {base}{path} -> {status}: {raw[:1000]!r}")
    return headers, (json.loads(raw) if raw.strip() else None)

admin = acc["admin"]
headers, _ = call("POST", "/auth/tokens?nocatalog", body={"auth": {
    "identity": {"methods": ["password"], "password": {"user": {
        "name": admin["user"], "domain": {"id": "default"}, "password": admin["password"]}}},
    "scope": {"project": {"name": admin["project"], "domain": {"id": "default"}}}}},
    expect=(201,))
token = headers["X-Subject-Token"]
_, doc = call("GET", "/services?type=image", token)
services = doc["services"]
if services:
    service_id = services[0]["id"]
else:
    _, doc = call("POST", "/services", token, {"service": {
        "type": "image", "name": "imgshare", "description": "imgshare (image members)",
        "enabled": True}}, expect=(201,))
    service_id = doc["service"]["id"]
removed = 0
for svc in services:
    _, doc = call("GET", f"/endpoints?service_id={svc['id']}", token)
    for ep in doc["endpoints"]:
        call("DELETE", f"/endpoints/{ep['id']}", token, expect=(204,))
        removed += 1
_, doc = call("POST", "/endpoints", token, {"endpoint": {
    "service_id": service_id, "interface": "public", "url": url, "region_id": "RegionOne",
    "enabled": True}}, expect=(201,))
print(f"image service {service_id}: public endpoint {doc['endpoint']['url']} "
      f"({removed} older image endpoint(s) removed)")
PY

step "clients"
status=0
"$venv/bin/python" clients/test_clients.py || status=$?
[ "$status" -eq 0 ] || server_log_tail

step "server stop"
stop_server || status=1
exit "$status"
