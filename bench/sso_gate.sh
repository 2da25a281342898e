#!/usr/bin/env bash
# The cost of the SSO gate (examples/openresty/sso) in nginx: wrk's
# requests/s on /app with a valid session (the gate checks the session
# cookie, the session and its access token) against /open, the same content
# without the gate, in the same nginx run. Loopback only; the fake identity
# provider stands in for Scalekit (one sign-in, then no calls to it).
#
#   bash bench/sso_gate.sh        (make bench runs it after bench/run.sh)
#
# Environment: SSO_BENCH_SECONDS (per measurement, default 3; BENCH_SMOKE=1:
# 1), SSO_BENCH_CONNECTIONS (default 32), SSO_BENCH_ROUNDS (default 5), NGINX,
# WRK. Each round measures /open, then /app right after it; the result is
# the median of the rounds' ratios (neighbours in time share the machine's
# load), next to the best requests/s of each. nginx runs one worker and wrk
# one thread, so each has a core of a 2-core machine. Needs the LuaJIT
# build (built here when missing), node, curl and wrk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root=$PWD

NGINX=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
WRK=${WRK:-$(command -v wrk || true)}
if [ "${BENCH_SMOKE:-0}" = 1 ]; then seconds=1 rounds=1; else seconds=${SSO_BENCH_SECONDS:-3} rounds=${SSO_BENCH_ROUNDS:-5}; fi
connections=${SSO_BENCH_CONNECTIONS:-32}

if [ -z "$WRK" ] || [ ! -x "$WRK" ]; then echo "sso_gate: wrk is missing (apt-get install wrk)" >&2; exit 1; fi
command -v curl >/dev/null || { echo "sso_gate: curl is missing" >&2; exit 1; }
# incremental: a stale LuaJIT build would not match the Lua layer
make --no-print-directory all LUA_VERSION=luajit >/dev/null

work=$(mktemp -d "${TMPDIR:-/tmp}/scalekit-sso-bench.XXXXXX")
chmod 755 "$work"
mkdir -p "$work/logs"
fake_pid="" nginx_started=""
cleanup() {
  if [ -n "$nginx_started" ] && [ -f "$work/logs/nginx.pid" ]; then
    pid=$(cat "$work/logs/nginx.pid")
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  if [ -n "$fake_pid" ]; then kill -TERM "$fake_pid" 2>/dev/null || true; wait "$fake_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  node -e 'const s = require("net").createServer().listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); })'
}

# The fake server (keeps running with --ignore-stdin; stopped by cleanup).
node spec/fake/server.js --port 0 --ignore-stdin > "$work/fake.out" 2> "$work/fake.err" &
fake_pid=$!
fake_port=""
for _ in $(seq 100); do
  fake_port=$(sed -n 's/^listening \([0-9]*\)$/\1/p' "$work/fake.out")
  [ -n "$fake_port" ] && break
  sleep 0.05
done
[ -n "$fake_port" ] || { echo "sso_gate: the fake server did not start" >&2; cat "$work/fake.err" >&2; exit 1; }
fake="http://127.0.0.1:$fake_port"
curl -sf -X POST -H 'content-type: application/json' -d '{"auto_approve": true}' "$fake/_fake/idp/config" >/dev/null

# The example's nginx.conf: a free port, one worker (as root: workers as root,
# who can read the work tree).
port=$(free_port)
sed -e "s/listen 127\.0\.0\.1:8080;/listen 127.0.0.1:$port;/" -e 's/^worker_processes auto;/worker_processes 1;/' \
  examples/openresty/sso/nginx.conf > "$work/nginx.conf"
[ "$(id -u)" = 0 ] && sed -i '1i user root;' "$work/nginx.conf"
cp examples/openresty/sso/sso_gate.lua "$work/"
# Not $NGINX in nginx's environment: nginx reads a variable of that name as
# sockets inherited from an old master, and then does not daemonize (the
# timeout bounds such a wait).
env -u NGINX LUA_PATH="$root/lua/?.lua;$root/lua/?/init.lua;;" LUA_CPATH="$root/build/luajit/?.so;;" \
  SCALEKIT_ENVIRONMENT_URL="$fake" SCALEKIT_CLIENT_ID=skc_test SCALEKIT_CLIENT_SECRET=test_secret \
  SSO_COOKIE_SECRET="$(head -c 32 /dev/urandom | base64)" \
  timeout 30 "$NGINX" -p "$work" -c "$work/nginx.conf" -e "$work/logs/error.log"
nginx_started=1
url="http://127.0.0.1:$port"
for _ in $(seq 100); do curl -s -o /dev/null "$url/open" && break; sleep 0.05; done

# One sign-in through the redirects (auto-approved): the session cookie.
curl -s -L -o "$work/app.html" -c "$work/jar" -b "$work/jar" "$url/app"
grep -q 'Signed in as user@example.com' "$work/app.html" ||
  { echo "sso_gate: the sign-in did not work" >&2; tail -n 20 "$work/logs/error.log" >&2; exit 1; }
session=$(awk '$6 == "sk_session" { print $7 }' "$work/jar")
[ -n "$session" ] || { echo "sso_gate: no session cookie" >&2; exit 1; }

# The worker's CPU time (clock ticks): other load on the machine moves
# requests/s more than the CPU time nginx spends per request.
worker=$(pgrep -P "$(cat "$work/logs/nginx.pid")" | head -n 1)
ticks() { awk '{ print $14 + $15 }' "/proc/$worker/stat"; }
hz=$(getconf CLK_TCK)

measure() { # path -> "requests/s CPU-microseconds-per-request" (after a 1 s warm-up)
  "$WRK" -t1 -c"$connections" -d1s -H "Cookie: sk_session=$session" "$url$1" >/dev/null
  local before after
  before=$(ticks)
  "$WRK" -t1 -c"$connections" -d"${seconds}s" -H "Cookie: sk_session=$session" "$url$1" > "$work/wrk.out"
  after=$(ticks)
  if grep -q 'Non-2xx' "$work/wrk.out"; then
    echo "sso_gate: $1 answered other than 2xx:" >&2; cat "$work/wrk.out" >&2; exit 1
  fi
  awk -v t=$((after - before)) -v hz="$hz" '/requests in/ { n = $1 } /^Requests\/sec:/ { r = $2 }
    END { printf "%d %.1f\n", r, t * 1e6 / hz / n }' "$work/wrk.out"
}

best_open=0 best_app=0 ratios=() cpu_ratios=()
for round in $(seq "$rounds"); do
  read -r open open_cpu < <(measure /open)
  read -r app app_cpu < <(measure /app)
  ratio=$(awk -v a="$app" -v o="$open" 'BEGIN { printf "%.3f", a / o }')
  cpu_ratio=$(awk -v a="$app_cpu" -v o="$open_cpu" 'BEGIN { printf "%.3f", o / a }')
  echo "sso_gate: round $round: /open $open req/s ($open_cpu us CPU each), /app (gated) $app req/s" \
       "($app_cpu us CPU each): ratio $ratio (by CPU time $cpu_ratio)"
  ratios+=("$ratio")
  cpu_ratios+=("$cpu_ratio")
  [ "$open" -gt "$best_open" ] && best_open=$open
  [ "$app" -gt "$best_app" ] && best_app=$app
done
token_requests=$(curl -s "$fake/_fake/requests" | node -e 'let s = ""; process.stdin.on("data", (c) => s += c).on("end", () => console.log(JSON.parse(s).requests.filter((r) => r.path === "/oauth/token").length))')
median() { printf '%s\n' "$@" | sort -n | awk '{ r[NR] = $1 } END { printf "%.2f", NR % 2 ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2 }'; }
ratio=$(median "${ratios[@]}")
met=$(awk -v r="$ratio" 'BEGIN { print (r >= 0.7 ? "met" : "MISS") }')
echo "sso_gate: gated /app / ungated /open requests/s: median ratio $ratio (target >= 0.70: $met);" \
     "by the worker's CPU time per request: $(median "${cpu_ratios[@]}"); best /app $best_app req/s, best /open" \
     "$best_open req/s (wrk -t1 -c$connections, ${seconds} s x $rounds, nginx 1 worker; token requests during the run:" \
     "$token_requests)"
