#!/usr/bin/env bash
# Starts the benchmark server (nginx with canned Scalekit JSON) on a free
# loopback port, runs bench/driver.lua against it, and stops it again.
# Normally started by `make bench` / `make bench-smoke`, which build
# scalekit/core.so and bench's floor program first and pass LUA, BENCH_CORE
# (the core.so to measure) and BENCH_FLOOR.
#
# Environment: BENCH_SMOKE=1 (tiny counts, one round: that it runs), BENCH_ROUNDS,
# BENCH_PROFILE=0|1, BENCH_OUT (the summary, default BENCHMARKS.md), BENCH_DETAIL
# (every table, default the generated part of bench/analysis.md), BENCH_KEEP=1 (keep
# the server's work directory), NGINX, NGINX_MODULES.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

LUA=${LUA:-lua5.4}
export BENCH_FLOOR=${BENCH_FLOOR:-build/bench/floor}
NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
export NGINX_MODULES=${NGINX_MODULES:-/usr/lib/nginx/modules}

for need in "$NGINX" "$BENCH_FLOOR"; do
  [ -x "$need" ] || { echo "bench: $need is missing (run: make deps-bench all build/bench/floor)" >&2; exit 1; }
done
[ -f "$NGINX_MODULES/ngx_http_lua_module.so" ] ||
  { echo "bench: $NGINX_MODULES/ngx_http_lua_module.so is missing (libnginx-mod-http-lua)" >&2; exit 1; }

if [ "${BENCH_SMOKE:-0}" = 1 ]; then pages=10; else pages=1000; fi

workdir=$(mktemp -d "${TMPDIR:-/tmp}/scalekit-bench.XXXXXX")
# nginx's worker runs as nobody when started by root: it must read www/.
chmod 755 "$workdir"
nginx_started=""
cleanup() {
  if [ -n "$nginx_started" ] && [ -f "$workdir/nginx.pid" ]; then
    pid=$(cat "$workdir/nginx.pid")
    kill -QUIT "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $workdir"; else rm -rf "$workdir"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A snapshot of the SDK under test (core.so and the Lua layer): the work
# tree may be rebuilt while the rounds run.
core=${BENCH_CORE:-build/5.4/scalekit/core.so}
[ -f "$core" ] || { echo "bench: $core is missing (make all)" >&2; exit 1; }
mkdir -p "$workdir/sdk/scalekit"
cp lua/scalekit/*.lua "$workdir/sdk/scalekit/"
cp "$core" "$workdir/sdk/scalekit/core.so"
export LUA_PATH="$workdir/sdk/?.lua;$workdir/sdk/?/init.lua;;"
export LUA_CPATH="$workdir/sdk/?.so;;"
# LuaJIT's build of the same code, for bench/jwt.lua's OpenResty VM row.
make --no-print-directory all LUA_VERSION=luajit >/dev/null
mkdir -p "$workdir/sdk-luajit/scalekit"
cp build/luajit/scalekit/core.so "$workdir/sdk-luajit/scalekit/core.so"

# A free port: bind port 0, read it back, release it.
port=$("$LUA" -e 'local s = require("socket").bind("127.0.0.1", 0); local _, p = s:getsockname(); s:close(); print(p)')
"$LUA" bench/gen.lua "$workdir" "$port" "$pages"

# -e: the startup error log too, not /var/log/nginx (unwritable when not root)
nginx_args=(-p "$workdir" -c "$workdir/nginx.conf" -e "$workdir/logs/error.log")
[ "$(id -u)" = 0 ] && nginx_args+=(-g "user root;")
"$NGINX" "${nginx_args[@]}" -t -q ||
  { echo "bench: nginx rejected $workdir/nginx.conf" >&2; exit 1; }
"$NGINX" "${nginx_args[@]}"
nginx_started=1

url="http://127.0.0.1:$port"
ready=""
for _ in $(seq 50); do
  if BENCH_URL="$url" "$LUA" -e 'local b = require("socket.http").request(os.getenv("BENCH_URL") .. "/_status")
      os.exit(b and 0 or 1)' 2>/dev/null; then
    ready=1; break
  fi
  sleep 0.1
done
[ -n "$ready" ] || { echo "bench: nginx did not answer on $url" >&2; cat "$workdir/logs/error.log" >&2 || true; exit 1; }
echo "bench: nginx on $url (work dir $workdir)"

BENCH_URL="$url" BENCH_WORKDIR="$workdir" BENCH_PAGES="$pages" LUA="$LUA" NGINX="$NGINX" \
  "$LUA" bench/driver.lua

# The SSO gate's cost in nginx: gated vs ungated requests/s (printed only).
NGINX="$NGINX" bash bench/sso_gate.sh

# validate_token next to `openssl speed rsa2048` verify/s: a section appended to the summary.
BENCH_URL="$url" BENCH_WORKDIR="$workdir" BENCH_LUAJIT_CPATH="$workdir/sdk-luajit/?.so;;" \
  "$LUA" bench/jwt.lua "$workdir/jwt.md"
cat "$workdir/jwt.md" >> "${BENCH_OUT:-$([ "${BENCH_SMOKE:-0}" = 1 ] && echo build/bench/BENCHMARKS.smoke.md || echo BENCHMARKS.md)}"
