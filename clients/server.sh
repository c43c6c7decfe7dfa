# Sourced by clients/run.sh and clients/huawei/run.sh: start the freshly built
# imgshare server on a free loopback port and wait until it listens.
#
#   start_server LOG ARGS...   runs "$server" --bind 127.0.0.1:0 --metrics-bind 127.0.0.1:0 ARGS... with
#                              stderr in LOG; sets server_pid and exports
#                              IMGSHARE_URL and IMGSHARE_SERVER_LOG.
#
# Settings from the caller's environment (IMGSHARE_DATABASE,
# IMGSHARE_PUBLIC_URL, …) must not leak in: every IMGSHARE_* variable is unset
# for the server except those named in KEEP_ENV (space-separated), which is how
# a secret (IMGSHARE_KEYSTONE_PASSWORD) reaches it without a command line.
start_server() {
  local log=$1; shift
  export IMGSHARE_SERVER_LOG="$log"
  local unset_env=() name
  for name in $(env | sed -n 's/^\(IMGSHARE_[A-Z_]*\)=.*/\1/p'); do
    [[ " ${KEEP_ENV:-} " == *" $name "* ]] || unset_env+=(-u "$name")
  done
  : > "$log"
  # Port 0: the kernel picks a free port; the server logs the address it got.
  env "${unset_env[@]}" "$server" --bind 127.0.0.1:0 --metrics-bind 127.0.0.1:0 "$@" 2> "$log" &
  server_pid=$!
  local addr= _
  for _ in $(seq 1 100); do
    addr=$(sed -n 's/.* listening address=\([0-9.:]*\).*/\1/p' "$log" | head -1)
    [ -n "$addr" ] && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$addr" ]; then
    echo "the server did not start:"; cat "$log"; exit 1
  fi
  export IMGSHARE_URL="http://$addr"
  echo "listening on $IMGSHARE_URL"
}

# stop_server: SIGTERM to the server started above and wait for it; fails
# (saying so) when it did not exit cleanly. Safe to call twice.
stop_server() {
  [ -n "${server_pid:-}" ] || return 0
  local pid=$server_pid
  server_pid=
  kill -TERM "$pid" 2>/dev/null || true
  if ! wait "$pid"; then
    echo "the server did not exit cleanly"; return 1
  fi
}

# server_log_tail: the end of the server's log, after a failed suite.
server_log_tail() {
  echo; echo "server log (last 40 lines):"; tail -n 40 "$IMGSHARE_SERVER_LOG"
}
