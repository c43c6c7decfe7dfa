#!/usr/bin/env bash
# Makes sure the virtualenv for Huawei's SDK (clients/huawei/requirements.txt)
# exists and prints its path on stdout (progress goes to stderr).
#
#   IMGSHARE_HUAWEI_VENV  virtualenv to use (created if missing); default
#                         $HOME/.cache/imgshare-ci/huawei-venv-<sha of requirements.txt>
#   PYTHON                interpreter for a new virtualenv (default: python3)
#
# A venv counts as complete only once its marker file is written, so an
# interrupted install is redone rather than reused.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
req="$here/requirements.txt"
sha=$(sha256sum "$req" | cut -c1-16)
venv="${IMGSHARE_HUAWEI_VENV:-$HOME/.cache/imgshare-ci/huawei-venv-$sha}"
marker="$venv/.imgshare-complete"
if [ -f "$marker" ] && cmp -s "$req" "$marker"; then
  echo "reusing $venv" >&2
else
  echo "creating $venv" >&2
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "${PYTHON:-python3}" -m venv "$venv"
  # --no-deps: requirements.txt pins the whole closure; a missing pin fails
  # here (pip check) instead of pulling in whatever is newest.
  "$venv/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$req" >&2
  "$venv/bin/pip" check --disable-pip-version-check >&2
  cp "$req" "$marker"
fi
echo "$venv"
