#!/usr/bin/env bash
# Usage: bash spec-tools/npm-cached.sh <dir holding package.json + package-lock.json>
#
# Installs exactly the locked packages once per lockfile, into
# $HOME/.cache/imgshare-ci/npm/<dir name>-<hash of package.json + lockfile>
# (override the root with IMGSHARE_NPM_CACHE), and links <dir>/node_modules
# there. Later runs with the same lockfile install nothing.
set -euo pipefail
dir=$(cd "$1" && pwd)
hash=$(cat "$dir/package.json" "$dir/package-lock.json" | sha256sum | cut -c1-16)
root="${IMGSHARE_NPM_CACHE:-$HOME/.cache/imgshare-ci/npm}"
cache="$root/$(basename "$dir")-$hash"
if [ ! -f "$cache/.complete" ]; then
  echo "npm: installing $(basename "$dir") (lockfile $hash) into $cache"
  tmp="$cache.tmp.$$"
  rm -rf "$tmp"
  mkdir -p "$tmp"
  cp "$dir/package.json" "$dir/package-lock.json" "$tmp/"
  # No install scripts: none of these packages needs one (playwright-core
  # uses Debian's chromium; the others' scripts are telemetry notices).
  (cd "$tmp" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)
  touch "$tmp/.complete"
  rm -rf "$cache"
  mv "$tmp" "$cache"
fi
ln -sfn "$cache/node_modules" "$dir/node_modules"
