#!/usr/bin/env bash
# Lints openapi/imgshare.json with Redocly CLI (pinned in package.json) under
# the committed configuration, redocly.yaml (+ .redocly.lint-ignore.yaml).
# Fails on any error or warning.
set -euo pipefail
cd "$(dirname "$0")/.."
bash spec-tools/npm-cached.sh spec-tools >&2
export REDOCLY_TELEMETRY=off REDOCLY_SUPPRESS_UPDATE_NOTICE=true
out=$(spec-tools/node_modules/.bin/redocly lint --config redocly.yaml --format=stylish 2>&1) || {
  printf '%s\n' "$out"
  exit 1
}
# Node 20 gets a boxed "support is ending" notice from the CLI itself: not a finding.
printf '%s\n' "$out" | grep -v '[║╔╚]' | sed '/^$/d'
# `lint` exits 0 on warnings; a clean run says so in these words.
printf '%s\n' "$out" | grep -q 'Your API description is valid' \
  || { echo "FAIL: the linter reported warnings"; exit 1; }
printf '%s\n' "$out" | grep -qE '[0-9]+ warnings?' && { echo "FAIL: warnings"; exit 1; }
echo "ok: 0 errors, 0 warnings"
