#!/usr/bin/env bash
# Runs examples/quickstart.lua against the fake Scalekit server.
# Normally started by `make demo`, which builds first and passes LUA,
# LUA_PATH and LUA_CPATH for the chosen Lua version.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LUA=${LUA:-lua5.4}
export LUA_PATH=${LUA_PATH:-"lua/?.lua;lua/?/init.lua;./?.lua;;"}
export LUA_CPATH=${LUA_CPATH:-"build/5.4/?.so;;"}

log=$(mktemp)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -f "$log"
}
trap cleanup EXIT

# Port 0: the OS picks a free port and the server reports it on stdout.
node spec/fake/server.js --port 0 --ignore-stdin >"$log" 2>&1 &
server_pid=$!

port=""
for _ in $(seq 100); do
  port=$(sed -n 's/^listening.*[^0-9]\([0-9][0-9]*\)[[:space:]]*$/\1/p' "$log" | head -n 1)
  [ -n "$port" ] && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "demo: fake server exited before listening:" >&2; cat "$log" >&2; exit 1
  fi
  sleep 0.1
done
if [ -z "$port" ]; then
  echo "demo: fake server did not report 'listening <port>' within 10 s:" >&2; cat "$log" >&2; exit 1
fi
echo "demo: fake server listening on 127.0.0.1:$port"

SCALEKIT_ENVIRONMENT_URL="http://127.0.0.1:$port" \
SCALEKIT_CLIENT_ID=skc_test \
SCALEKIT_CLIENT_SECRET=test_secret \
  "$LUA" examples/quickstart.lua
