#!/usr/bin/env bash
# Breaking-change gate. Usage: bash spec-tools/gate.sh [WORKING] [RELEASED_DIR]
# (defaults: openapi/imgshare.json, openapi/released).
#
# Compares WORKING with the newest released document (RELEASED_DIR/<semver>.json,
# newest by version) using Optic's breaking-change checks (`optic diff --check`,
# pinned in package.json). Fails on a breaking change unless WORKING's
# info.version has a greater major than the released one. Also fails when
# WORKING's version is lower than the released one.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
working=$(realpath "${1:-$repo/openapi/imgshare.json}")
released_dir=$(realpath "${2:-$repo/openapi/released}")
bash "$here/npm-cached.sh" "$here" >&2
export OPTIC_TELEMETRY_LEVEL=off

newest=$(find "$released_dir" -maxdepth 1 -name '*.json' -printf '%f\n' | sed 's/\.json$//' | sort -V | tail -1)
[ -n "$newest" ] || { echo "FAIL: no released document in $released_dir"; exit 1; }
base="$released_dir/$newest.json"

version_of() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["info"]["version"])' "$1"; }
base_version=$(version_of "$base")
work_version=$(version_of "$working")
[ "$base_version" = "$newest" ] \
  || { echo "FAIL: $base says info.version $base_version, its name says $newest"; exit 1; }
echo "gate: working $work_version ($working) against released $base_version ($base)"

lowest=$(printf '%s\n%s\n' "$base_version" "$work_version" | sort -V | head -1)
if [ "$lowest" != "$base_version" ]; then
  echo "FAIL: working info.version $work_version is lower than released $base_version"
  exit 1
fi
major_bump=false
[ "${work_version%%.*}" -gt "${base_version%%.*}" ] && major_bump=true

# Optic reads both files from a scratch directory, so the report names them
# by version rather than by path.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
cp "$base" "$scratch/released-$base_version.json"
cp "$working" "$scratch/working-$work_version.json"
set +e
(cd "$scratch" && timeout 300 "$here/node_modules/.bin/optic" diff \
  "released-$base_version.json" "working-$work_version.json" --check) > "$scratch/report" 2>&1
rc=$?
set -e
grep -v -e '^\s*$' -e 'Rerun this command with the --web flag' "$scratch/report"

# Optic itself skips its breaking-change rules when the major version grows;
# the branch below keeps the rule ours either way.
if [ "$rc" -eq 0 ] && $major_bump; then
  echo "ok: info.version $work_version is a new major over $base_version: breaking changes allowed"
elif [ "$rc" -eq 0 ]; then
  echo "ok: no breaking change against $base_version"
elif ! grep -q 'This is a breaking change' "$scratch/report"; then
  echo "FAIL: optic exited $rc without a breaking-change finding (see above)"
  exit "$rc"
elif $major_bump; then
  echo "ok: info.version $work_version is a new major over $base_version: breaking changes allowed"
else
  echo "FAIL: breaking change against released $base_version; keep compatibility, or make info.version a new major (README, 'Releasing a new API version')"
  exit 1
fi
