#!/usr/bin/env bash
# Proves the breaking-change gate can fail: on temp copies of the working
# document, breaking edits must fail it, and pass only with a new major;
# a compatible edit must pass.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir "$scratch/released"
cur=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["info"]["version"])' "$repo/openapi/imgshare.json")
cp "$repo/openapi/imgshare.json" "$scratch/released/$cur.json"

# edit NAME PYTHON: writes $scratch/NAME.json, the working document after PYTHON (on `d`).
edit() {
  python3 - "$repo/openapi/imgshare.json" "$scratch/$1.json" "$2" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(d, open(sys.argv[2], "w"), indent=2)
PY
}
members="d['paths']['/v2/images/{image_id}/members']"
edit remove-op      "del ${members}['post']"
edit remove-field   "d['components']['schemas']['Member']['required'].remove('member_id'); del d['components']['schemas']['Member']['properties']['member_id']"
edit remove-op-v3   "del ${members}['post']; d['info']['version'] = '3.0.0'"
edit unchanged       "pass"
# The next minor over the current version (additions are released as one).
next_minor=$(python3 -c 'import sys; a, b, _ = sys.argv[1].split("."); print(f"{a}.{int(b) + 1}.0")' "$cur")
edit add-optional   "d['components']['schemas']['Member']['properties']['note'] = {'type': 'string'}; d['info']['version'] = '$next_minor'"
edit lower-version  "d['info']['version'] = '1.9.0'"

expect() { # expect pass|fail NAME WHAT_THE_REPORT_MUST_SAY
  local want=$1 name=$2 needle=$3 got
  if bash "$here/gate.sh" "$scratch/$name.json" "$scratch/released" > "$scratch/$name.log" 2>&1; then got=pass; else got=fail; fi
  if [ "$got" != "$want" ] || ! grep -qF -- "$needle" "$scratch/$name.log"; then
    echo "FAIL: gate on '$name': expected $want with \"$needle\", got $got:"
    cat "$scratch/$name.log"
    exit 1
  fi
  echo "ok: $name -> $got ($(grep -F -m1 -- "$needle" "$scratch/$name.log" | sed 's/^ *//'))"
}
expect pass unchanged       "ok: no breaking change against $cur"
expect fail remove-op       "[prevent operation removal] cannot remove an operation"
expect fail remove-field    "[prevent removing response property] cannot remove response property 'member_id'"
expect pass remove-op-v3    "ok: info.version 3.0.0 is a new major over $cur: breaking changes allowed"
expect pass add-optional    "ok: no breaking change against $cur"
expect fail lower-version   "FAIL: working info.version 1.9.0 is lower than released $cur"
echo "ok: the gate fails on breaking edits and passes compatible ones"
