#!/usr/bin/env bash
# Drives Huawei Cloud's Python SDK for IMS (huaweicloudsdkims, unchanged,
# pinned in requirements.txt) against a fresh imgshare server with AK/SK
# (SDK-HMAC-SHA256) identities: see test_sdk.py. Exits non-zero if any check
# fails.
#
#   IMGSHARE_HUAWEI_VENV  virtualenv to use (created if missing); default
#                         $HOME/.cache/imgshare-ci/huawei-venv-<sha of requirements.txt>
#   CARGO_TARGET_DIR      where the server is built (default: target/)
#   PYTHON                interpreter for a new virtualenv (default: python3)
set -euo pipefail
cd "$(dirname "$0")/../.."

step() { printf '\n--- %s (%s)\n' "$1" "$(date -u +%H:%M:%S)"; }

step "virtualenv"
venv=$(bash clients/huawei/venv.sh)
echo "$venv"

step "signature vectors: server/src/auth/testdata/sdk_signatures.json is what this SDK sends"
"$venv/bin/python" clients/huawei/vectors.py --check

step "server build"
target="${CARGO_TARGET_DIR:-target}"
cargo build --quiet -p imgshare-server
server="$target/debug/imgshare-server"
# shellcheck source=clients/server.sh
source clients/server.sh
[ -x "$server" ] || { echo "no server binary at $server"; exit 1; }

scratch=$(mktemp -d)
server_pid=
cleanup() {
  stop_server > /dev/null 2>&1 || true
  rm -rf "$scratch"
}
trap cleanup EXIT

step "server start"
py="${PYTHON:-python3}"
# Shaped like Huawei's: project and user ids 32 hex digits, an access key 20
# upper-case letters and digits, a secret key 40 letters and digits.
hex32() { "$py" -c 'import secrets; print(secrets.token_hex(16))'; }
ak() { "$py" -c 'import secrets, string; a = string.ascii_uppercase + string.digits; print("".join(secrets.choice(a) for _ in range(20)))'; }
sk() { "$py" -c 'import secrets, string; a = string.ascii_letters + string.digits; print("".join(secrets.choice(a) for _ in range(40)))'; }
for who in OWNER MEMBER STRANGER ADMIN; do
  export "HW_${who}_AK=$(ak)" "HW_${who}_SK=$(sk)" "HW_${who}_PROJECT=$(hex32)" "HW_${who}_USER=$(hex32)"
done
export HW_MEMBER_QUOTA=3
identity() { # $1 = OWNER | MEMBER | STRANGER | ADMIN, $2 = roles (TOML array)
  local ak_var="HW_$1_AK" sk_var="HW_$1_SK" project_var="HW_$1_PROJECT" user_var="HW_$1_USER"
  cat <<TOML

[[access_keys]]
access_key = "${!ak_var}"
secret_key = "${!sk_var}"
project_id = "${!project_var}"
user_id = "${!user_var}"
roles = $2
TOML
}
{
  echo "# AK/SK identities only: the owner's project owns the images, the member's is"
  echo "# shared with, the stranger's has nothing to do with either; the admin (its own"
  echo "# project) creates the public image the batch add must refuse."
  identity OWNER '["member", "reader"]'
  identity MEMBER '["member", "reader"]'
  identity STRANGER '["member", "reader"]'
  identity ADMIN '["admin", "member", "reader"]'
} > "$scratch/identities.toml"
chmod 600 "$scratch/identities.toml"

start_server "$scratch/server.log" --data-dir "$scratch/data" --tokens "$scratch/identities.toml" \
  --member-quota "$HW_MEMBER_QUOTA" --log-level info

step "Huawei SDK"
export NO_PROXY="127.0.0.1,localhost" no_proxy="127.0.0.1,localhost"
mkdir -p "$scratch/home"
status=0
HOME="$scratch/home" "$venv/bin/python" clients/huawei/test_sdk.py || status=$?
[ "$status" -eq 0 ] || server_log_tail

step "server stop"
stop_server || status=1
exit "$status"
