#!/usr/bin/env bash
# The benchmark: builds the release server and harness, then runs every
# scenario (see bench/src/main.rs) and prints the table. Arguments go to
# imgshare-bench, e.g. --duration 5 --scale-images 0 --postgres postgres://…
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }
cargo build --release --locked -p imgshare-server -p imgshare-bench
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
exec "$target_dir/release/imgshare-bench" "$@"
