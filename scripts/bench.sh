#!/usr/bin/env bash
# The benchmark: builds the release server and harness, then runs every
# scenario (see bench/src/main.rs) and prints the table. Arguments go to
# imgshare-bench, e.g. --duration 5 --scale-images 0 --postgres postgres://…
# Unless --keystone ACCOUNTS_JSON is given, a Keystone is started for the run
# (keystone/keystone.sh; row 1k) and stopped afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --locked -p imgshare-server -p imgshare-bench
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
if [[ " $* " != *" --keystone "* ]]; then
  ksdir=$(mktemp -d)
  trap 'bash keystone/keystone.sh stop "$ksdir/state" >/dev/null 2>&1 || true; rm -rf "$ksdir"' EXIT
  accounts=$(bash keystone/keystone.sh start "$ksdir/state" | tail -1)
  set -- "$@" --keystone "$accounts"
fi
"$target_dir/release/imgshare-bench" "$@"
