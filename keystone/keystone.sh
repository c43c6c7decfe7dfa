#!/usr/bin/env bash
# A real Keystone (30.0.0, pinned in requirements.txt) on loopback, for the
# tests, CI and clients/run.sh: SQLite, fernet tokens, served by gunicorn.
#
#   keystone.sh start STATE_DIR
#       Sets up a new Keystone in STATE_DIR (which must not hold one yet) on a
#       free 127.0.0.1 port, starts it in the background (PID in
#       STATE_DIR/keystone.pid), creates the test accounts (setup_accounts.py)
#       and prints the path of STATE_DIR/accounts.json as the last line of
#       stdout (progress goes to stderr). Fails loudly, with the log's tail.
#   keystone.sh serve STATE_DIR PORT [TOKEN_EXPIRATION_SECONDS]
#       Another Keystone on 127.0.0.1:PORT in the FOREGROUND (exec: the
#       caller's child PID is gunicorn's master; SIGTERM stops it), on the
#       same database and keys as the started one, so tokens of either
#       validate on both. Its config is STATE_DIR/keystone-PORT.conf: the same
#       but for [token] expiration (when given), public_endpoint and its log.
#       What it prints goes to STATE_DIR/keystone-PORT.log; requests to
#       STATE_DIR/access-PORT.log.
#   keystone.sh stop STATE_DIR
#       SIGTERM to the started Keystone; waits until it has exited.
#
# Environment:
#   IMGSHARE_KEYSTONE_WATCH_PID  with start: stop Keystone and remove STATE_DIR
#                           once this process has exited (tests use it)
#   IMGSHARE_KEYSTONE_VENV  virtualenv to use (created if missing); default
#                           $HOME/.cache/imgshare-ci/keystone-venv-<sha of requirements.txt>
#   PYTHON                  interpreter for a new virtualenv (default: python3)
#   KEYSTONE_START_TIMEOUT  seconds to wait for GET /v3 to answer (default 60)
set -euo pipefail
# wsgi_app.py is imported from this directory: no __pycache__ in the work tree.
export PYTHONDONTWRITEBYTECODE=1

here=$(cd "$(dirname "$0")" && pwd)
req="$here/requirements.txt"

say() { printf 'keystone.sh: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
usage() {
  sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# The cached virtualenv; complete only once its marker is written, so an
# interrupted install is redone rather than reused.
ensure_venv() {
  local sha
  sha=$(sha256sum "$req" | cut -c1-16)
  venv="${IMGSHARE_KEYSTONE_VENV:-$HOME/.cache/imgshare-ci/keystone-venv-$sha}"
  if [ -f "$venv/.imgshare-complete" ]; then
    return
  fi
  say "installing Keystone into $venv (once per requirements.txt)"
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "${PYTHON:-python3}" -m venv "$venv" || die "python -m venv $venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$req" \
    || { rm -rf "$venv"; die "pip install -r $req"; }
  cp "$req" "$venv/.imgshare-complete"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# write_conf FILE STATE_DIR PORT EXPIRATION LOGFILE
write_conf() {
  cat > "$1.tmp" <<EOF
# Written by keystone/keystone.sh: a test Keystone on 127.0.0.1:$3.
[DEFAULT]
public_endpoint = http://127.0.0.1:$3/
log_file = $5
use_stderr = false

[database]
connection = sqlite:///$2/keystone.sqlite

[token]
provider = fernet
expiration = $4

[fernet_tokens]
key_repository = $2/fernet-keys

[fernet_receipts]
key_repository = $2/receipt-keys

[credential]
key_repository = $2/credential-keys

[identity]
# bcrypt cost 4: the test suites create and log in many users. Test use only.
password_hash_rounds = 4

[cache]
enabled = false
EOF
  mv "$1.tmp" "$1"
}

gunicorn_args() { # PORT ACCESS_LOG ERROR_LOG
  local args=(--bind "127.0.0.1:$1" --worker-class gthread --workers 2 --threads 4
              --pythonpath "$here" --access-logfile "$2" --error-logfile "$3"
              --graceful-timeout 10)
  # gunicorn 27 opens ~/.gunicorn/gunicorn.ctl by default, which two gunicorns
  # on one machine would share.
  if "$venv/bin/gunicorn" --help 2>/dev/null | grep -q -- '--no-control-socket'; then
    args+=(--no-control-socket)
  fi
  printf '%s\n' "${args[@]}" wsgi_app:application
}

manage() { # STATE_DIR COMMAND ARGS...: keystone-manage, output kept in STATE_DIR/manage-COMMAND.log
  local state=$1 log="$1/manage-$2.log"; shift
  if ! "$venv/bin/keystone-manage" --config-file "$state/keystone.conf" "$@" > "$log" 2>&1; then
    say "keystone-manage $1 failed; last lines of $log and keystone.log:"
    tail -n 30 "$log" >&2 || true
    tail -n 30 "$state/keystone.log" >&2 2>/dev/null || true
    exit 1
  fi
}

# wait_ready PID PORT TIMEOUT: 0 once GET /v3 answers 200 with the v3 document;
# 1 if the process exited or the time is up.
wait_ready() {
  python3 - "$@" <<'PY'
import json, os, sys, time, urllib.request
pid, port, timeout = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
deadline = time.time() + timeout
while time.time() < deadline:
    try:
        os.kill(pid, 0)
    except OSError:
        sys.exit(1)
    try:
        left = max(0.5, min(5.0, deadline - time.time()))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v3", timeout=left) as r:
            if r.status == 200 and json.load(r)["version"]["id"].startswith("v3"):
                sys.exit(0)
    except Exception:
        time.sleep(0.2)
sys.exit(1)
PY
}

pid_alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

cmd_start() {
  [ $# -eq 1 ] || usage
  local state=$1 t0=$SECONDS
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  if [ -e "$state/keystone.conf" ]; then
    die "$state already holds a Keystone (keystone.conf); use an empty directory"
  fi
  ensure_venv
  say "state in $state, venv $venv"
  printf '%s\n' "$venv" > "$state/venv.path"

  local port attempt pid=
  port=$(free_port)
  write_conf "$state/keystone.conf" "$state" "$port" 3600 "$state/keystone.log"
  # The schema is set up beside the key repositories (each keystone-manage
  # spends ~3 s importing keystone). The three key setups run one after the
  # other: side by side, receipt_setup failed about one start in four
  # (FileNotFoundError renaming receipt-keys/0.tmp).
  local who=(--keystone-user "$(id -un)" --keystone-group "$(id -gn)") step_pids=() p failed=0
  manage "$state" db_sync & step_pids+=($!)
  (
    manage "$state" fernet_setup "${who[@]}" &&
      manage "$state" receipt_setup "${who[@]}" &&
      manage "$state" credential_setup "${who[@]}"
  ) & step_pids+=($!)
  for p in "${step_pids[@]}"; do wait "$p" || failed=1; done
  [ "$failed" -eq 0 ] || die "setting up $state (see the keystone-manage output above)"
  local admin_pw
  admin_pw=$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')

  # The port is free when picked but could be taken before gunicorn binds it:
  # then a new port (bootstrap updates the endpoint URLs when run again).
  for attempt in 1 2 3; do
    [ "$attempt" -eq 1 ] || {
      port=$(free_port)
      write_conf "$state/keystone.conf" "$state" "$port" 3600 "$state/keystone.log"
    }
    OS_BOOTSTRAP_PASSWORD="$admin_pw" manage "$state" bootstrap \
      --bootstrap-username admin --bootstrap-project-name admin --bootstrap-role-name admin \
      --bootstrap-service-name keystone --bootstrap-region-id RegionOne \
      --bootstrap-admin-url "http://127.0.0.1:$port/v3" \
      --bootstrap-internal-url "http://127.0.0.1:$port/v3" \
      --bootstrap-public-url "http://127.0.0.1:$port/v3"
    say "starting gunicorn on 127.0.0.1:$port ($((SECONDS - t0))s)"
    local args
    mapfile -t args < <(gunicorn_args "$port" "$state/access.log" "$state/keystone.log")
    # setsid: the server outlives this script and its terminal; stopped by `stop`.
    OS_KEYSTONE_CONFIG_FILES="$state/keystone.conf" \
    IMGSHARE_KEYSTONE_WRITE_LOCK="$state/sqlite-write.lock" \
      setsid "$venv/bin/gunicorn" "${args[@]}" < /dev/null >> "$state/keystone.log" 2>&1 &
    pid=$!
    printf '%s\n' "$pid" > "$state/keystone.pid"
    if wait_ready "$pid" "$port" "${KEYSTONE_START_TIMEOUT:-60}"; then
      break
    fi
    if pid_alive "$pid"; then
      kill -TERM "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
      say "GET http://127.0.0.1:$port/v3 did not answer in ${KEYSTONE_START_TIMEOUT:-60}s; keystone.log:"
      tail -n 40 "$state/keystone.log" >&2
      rm -f "$state/keystone.pid"
      exit 1
    fi
    rm -f "$state/keystone.pid"
    if grep -q -E 'Connection in use|Address already in use' "$state/keystone.log" \
       && [ "$attempt" -lt 3 ]; then
      say "port $port was taken; another one"
      continue
    fi
    say "gunicorn exited during start; keystone.log:"
    tail -n 40 "$state/keystone.log" >&2
    exit 1
  done
  say "Keystone answers on http://127.0.0.1:$port/v3 (pid $pid, $((SECONDS - t0))s)"

  if ! KEYSTONE_ADMIN_PASSWORD="$admin_pw" "$venv/bin/python" "$here/setup_accounts.py" \
       --auth-url "http://127.0.0.1:$port/v3" --out "$state/accounts.json" --state-dir "$state" \
       --venv "$venv" > /dev/null; then
    say "creating the test accounts failed; last lines of keystone.log:"
    tail -n 20 "$state/keystone.log" >&2
    cmd_stop "$state" || true
    exit 1
  fi
  say "accounts ready ($((SECONDS - t0))s in all)"
  # A caller that cannot stop it (a test process) names itself: once that
  # process is gone, Keystone is stopped and its state removed.
  if [ -n "${IMGSHARE_KEYSTONE_WATCH_PID:-}" ]; then
    (
      trap '' HUP
      while kill -0 "$IMGSHARE_KEYSTONE_WATCH_PID" 2>/dev/null; do sleep 1; done
      cmd_stop "$state" >/dev/null 2>&1 || true
      rm -rf "$state"
    ) </dev/null >/dev/null 2>&1 &
    disown
  fi
  printf '%s\n' "$state/accounts.json"
}

cmd_serve() {
  [ $# -eq 2 ] || [ $# -eq 3 ] || usage
  local state port=$2 exp=${3:-}
  state=$(cd "$1" 2>/dev/null && pwd) || die "no state directory $1"
  [ -f "$state/keystone.conf" ] && [ -f "$state/venv.path" ] \
    || die "$state holds no Keystone: run 'keystone.sh start $1' first"
  [[ "$port" =~ ^[0-9]+$ ]] && [ "$port" -gt 0 ] && [ "$port" -lt 65536 ] || die "bad port $port"
  if [ -n "$exp" ]; then
    [[ "$exp" =~ ^[0-9]+$ ]] && [ "$exp" -gt 0 ] || die "bad token expiration $exp"
  else
    exp=$(sed -n '/^\[token\]/,/^\[/s/^expiration *= *//p' "$state/keystone.conf" | head -1)
  fi
  venv=$(cat "$state/venv.path")
  [ -x "$venv/bin/gunicorn" ] || die "no gunicorn in $venv (the venv recorded by start)"
  local conf="$state/keystone-$port.conf" log="$state/keystone-$port.log"
  write_conf "$conf" "$state" "$port" "$exp" "$log"
  local args
  mapfile -t args < <(gunicorn_args "$port" "$state/access-$port.log" "$log")
  say "serving on 127.0.0.1:$port (token expiration ${exp}s), pid $$, log $log"
  export OS_KEYSTONE_CONFIG_FILES="$conf"
  # Shared with the started instance: see wsgi_app.py.
  export IMGSHARE_KEYSTONE_WRITE_LOCK="$state/sqlite-write.lock"
  exec "$venv/bin/gunicorn" "${args[@]}" < /dev/null >> "$log" 2>&1
}

cmd_stop() {
  [ $# -eq 1 ] || usage
  local state=$1 pid i
  [ -f "$state/keystone.pid" ] || { say "no keystone.pid in $state: not running"; return 0; }
  pid=$(cat "$state/keystone.pid")
  if ! pid_alive "$pid"; then
    say "pid $pid is not running"
    rm -f "$state/keystone.pid"
    return 0
  fi
  kill -TERM "$pid"
  for i in $(seq 1 300); do
    pid_alive "$pid" || break
    sleep 0.1
  done
  if pid_alive "$pid"; then
    say "pid $pid still running 30 s after SIGTERM; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$state/keystone.pid"
  say "stopped (pid $pid)"
}

[ $# -ge 1 ] || usage
cmd=$1; shift
case "$cmd" in
  start) cmd_start "$@" ;;
  serve) cmd_serve "$@" ;;
  stop) cmd_stop "$@" ;;
  *) usage ;;
esac
