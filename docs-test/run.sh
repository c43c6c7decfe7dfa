#!/usr/bin/env bash
# Browser test of GET /docs: builds and starts the server binary on a free
# port with a temp data dir, then drives the page in Debian's headless
# chromium with playwright-core (docs-test/test.mjs). node_modules is cached
# under $HOME/.cache/imgshare-ci/npm (spec-tools/npm-cached.sh).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

chromium=${CHROMIUM:-/usr/bin/chromium}
[ -x "$chromium" ] || { echo "FAIL: $chromium missing: apt-get install -y chromium"; exit 1; }
bash spec-tools/npm-cached.sh docs-test

cargo build --quiet -p imgshare-server
target=${CARGO_TARGET_DIR:-$repo/target}
case "$target" in /*) ;; *) target="$repo/$target" ;; esac
bin="$target/debug/imgshare-server"

tmp=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
# A clean environment for the server: none of the caller's IMGSHARE_* settings.
env -u IMGSHARE_DATABASE -u IMGSHARE_TOKENS -u IMGSHARE_PUBLIC_URL \
  "$bin" --bind 127.0.0.1:0 --metrics-bind 127.0.0.1:0 --data-dir "$tmp/data" --log-level warn,imgshare_server=info \
  2> "$tmp/server.log" &
pid=$!
addr=
for _ in $(seq 100); do
  addr=$(sed -n 's/.*listening address=\([^ ]*\).*/\1/p' "$tmp/server.log" | head -1)
  [ -n "$addr" ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$tmp/server.log"; echo "FAIL: server exited"; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { cat "$tmp/server.log"; echo "FAIL: server did not start"; exit 1; }
echo "server: http://$addr (pid $pid, data $tmp/data)"

CHROMIUM="$chromium" node docs-test/test.mjs "http://$addr"
