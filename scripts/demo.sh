#!/usr/bin/env bash
# Runs Lua scripts against the fake Scalekit server, seeded with the demo
# data (scripts/demo_data.lua):
#   scripts/demo.sh [script.lua ...]   those scripts (default examples/quickstart.lua)
#   scripts/demo.sh --all              every examples/*.lua; fails if any fails
# Each script gets SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID and
# SCALEKIT_CLIENT_SECRET for the fake, plus the SCALEKIT_DEMO_* ids of the
# seeded data. Normally started by `make demo` / `make examples`, which build
# first and pass LUA, LUA_PATH and LUA_CPATH for the chosen Lua version.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LUA=${LUA:-lua5.4}
export LUA_PATH=${LUA_PATH:-"lua/?.lua;lua/?/init.lua;./?.lua;;"}
export LUA_CPATH=${LUA_CPATH:-"build/5.4/?.so;;"}

scripts=("$@")
if [ "${scripts[0]:-}" = --all ]; then scripts=(examples/*.lua); fi
if [ ${#scripts[@]} -eq 0 ]; then scripts=(examples/quickstart.lua); fi

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

export SCALEKIT_ENVIRONMENT_URL="http://127.0.0.1:$port"
export SCALEKIT_CLIENT_ID=skc_test
export SCALEKIT_CLIENT_SECRET=test_secret
seeded=$("$LUA" -e 'dofile("scripts/demo_data.lua").seed_over_http(os.getenv("SCALEKIT_ENVIRONMENT_URL"))')
while IFS='=' read -r name value; do
  [[ $name == SCALEKIT_DEMO_* ]] && export "$name=$value"
done <<<"$seeded"
echo "demo: fake server on $SCALEKIT_ENVIRONMENT_URL, seeded:" $seeded

failed=()
for script in "${scripts[@]}"; do
  echo
  echo "===== $LUA $script"
  "$LUA" "$script" || failed+=("$script")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "demo: failed: ${failed[*]}" >&2
  exit 1
fi
