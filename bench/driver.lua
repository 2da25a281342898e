-- Runs every workload through the floor (bench/floor.c), the LuaSocket +
-- lua-cjson baseline (bench/luasocket.lua) and the SDK (bench/sdk.lua),
-- alternating them within each round, then profiles the SDK with callgrind
-- and writes BENCHMARKS.md (one screen of results) and the generated part of
-- bench/analysis.md (every table). Started by bench/run.sh, which starts the server:
--   BENCH_URL      base URL of the running nginx (required)
--   BENCH_PAGES    users pages the server has (1000)
--   BENCH_FLOOR    the floor program (build/bench/floor)
--   BENCH_SMOKE=1  tiny counts, one round, no profile, report to build/bench/
--   BENCH_ROUNDS   rounds (7)
--   BENCH_PROFILE  0: skip callgrind; 1: run it even in smoke mode
--   BENCH_OUT      the summary (BENCHMARKS.md, or build/bench/BENCHMARKS.smoke.md)
--   BENCH_DETAIL   bench/analysis.md with its generated part replaced (written back
--                  to bench/analysis.md, or to build/bench/analysis.smoke.md)
local socket = require "socket"
local http = require "socket.http"
local callgrind = dofile("bench/callgrind.lua")

local gettime = socket.gettime
local URL = assert(os.getenv("BENCH_URL"), "BENCH_URL is not set (start through bench/run.sh)")
local LUA = os.getenv("LUA") or "lua5.4"
local FLOOR = os.getenv("BENCH_FLOOR") or "build/bench/floor"
local PAGES = tonumber(os.getenv("BENCH_PAGES") or "1000")
local SMOKE = os.getenv("BENCH_SMOKE") == "1"
local ROUNDS = tonumber(os.getenv("BENCH_ROUNDS") or (SMOKE and "1" or "7"))
local PROFILE = os.getenv("BENCH_PROFILE")
if PROFILE == nil then PROFILE = not SMOKE else PROFILE = PROFILE == "1" end
local OUT = os.getenv("BENCH_OUT") or (SMOKE and "build/bench/BENCHMARKS.smoke.md" or "BENCHMARKS.md")
local DETAIL = os.getenv("BENCH_DETAIL") or (SMOKE and "build/bench/analysis.smoke.md" or "bench/analysis.md")

local ORG_ID = "org_59615193906282635"
local USERS = "/api/v1/organizations/org_bench/directories/dir_bench/users"

-- Counts. Smoke mode only proves that every path runs.
local N = SMOKE and {
  a = 20, b = 5, c_big = 1000, c_small = 100, d = 64, conc = 32, cold = 1, warm = 5, spawn = 1,
} or {
  a = 4000, b = 1000, c_big = 100000, c_small = 1000, d = 2000, conc = 32, cold = 10, warm = 200, spawn = 10,
}
N.b = math.min(N.b, PAGES)
local IDEAL_D = N.d / N.conc * 0.020

---------------------------------------------------------------------------
-- helpers

local function shquote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function capture(cmd)
  local p = assert(io.popen(cmd .. " 2>&1"))
  local out = p:read("a")
  local ok, how, code = p:close()
  return out, ok, how, code
end

local function sh_line(cmd)
  local out = capture(cmd)
  return (out:gsub("%s+$", ""):match("[^\n]*"))
end

-- Runs a client; returns the key=value pairs of its last line.
local function run_client(cmd)
  local out, ok = capture(cmd)
  if not ok then error("bench: command failed: " .. cmd .. "\n" .. out, 0) end
  local last = out:gsub("%s+$", ""):match("([^\n]*)$")
  if last:match("^unavailable:") then return { unavailable = last:gsub("^unavailable:%s*", "") } end
  local r = {}
  for k, v in last:gmatch("([%w_]+)=(%S+)") do r[k] = tonumber(v) or v end
  if not r.time and not r.cold then error("bench: unexpected output of " .. cmd .. ":\n" .. out, 0) end
  return r
end

-- nginx's accepted-connection counter (stub_status)
local function accepts()
  local body = http.request(URL .. "/_status")
  return body and tonumber(body:match("\n%s*(%d+)%s+%d+%s+%d+")) or 0
end

local function stats(list)
  local s = {}
  for i, v in ipairs(list) do s[i] = v end
  table.sort(s)
  local n = #s
  if n == 0 then return nil end
  local med = n % 2 == 1 and s[(n + 1) // 2] or (s[n // 2] + s[n // 2 + 1]) / 2
  return { min = s[1], median = med, max = s[n], n = n }
end

local function fmt_time(t)
  if t == nil then return "n/a" end
  if t >= 1 then return string.format("%.3f s", t) end
  if t >= 0.001 then return string.format("%.1f ms", t * 1e3) end
  return string.format("%.1f µs", t * 1e6)
end

local function fmt_ratio(x) return x and string.format("%.2f×", x) or "n/a" end
local function fmt_mb(kb) return kb and string.format("%.1f MB", kb / 1024) or "n/a" end
local function fmt_count(x)
  local s = string.format("%.0f", x)
  local neg = s:sub(1, 1) == "-"
  if neg then s = s:sub(2) end
  s = s:reverse():gsub("(%d%d%d)", "%1,"):reverse():gsub("^,", "")
  return (neg and "-" or "") .. s
end

local function progress(fmt, ...) io.stderr:write(string.format(fmt, ...), "\n") end

---------------------------------------------------------------------------
-- the workloads: impl -> command line

local IMPLS = { "floor", "luasocket", "sdk" }
local IMPL_NAME = { floor = "floor (C, libcurl easy)", luasocket = "LuaSocket + lua-cjson", sdk = "SDK" }

local function lua_cmd(script, ...)
  local args = { LUA, "bench/" .. script .. ".lua" }
  for _, a in ipairs { ... } do args[#args + 1] = shquote(a) end
  return table.concat(args, " ")
end

local function floor_cmd(mode, url, ...)
  return table.concat({ FLOOR, mode, shquote(url), ... }, " ")
end

local WORKLOADS = {
  { id = "a", title = string.format("(a) %s sequential organizations:get (~330 B JSON)", fmt_count(N.a)),
    calls = N.a,
    cmd = {
      floor = function() return floor_cmd("get", URL .. "/api/v1/organizations/" .. ORG_ID, N.a) end,
      luasocket = function() return lua_cmd("luasocket", "org", URL, N.a) end,
      sdk = function() return lua_cmd("sdk", "org", URL, N.a) end,
    } },
  { id = "b",
    title = string.format("(b) %s sequential directories:list_users pages of 100 users (~18 KB)", fmt_count(N.b)),
    calls = N.b,
    cmd = {
      floor = function() return floor_cmd("pages", URL .. USERS, N.b, PAGES) end,
      luasocket = function() return lua_cmd("luasocket", "pages", URL, N.b, PAGES) end,
      sdk = function() return lua_cmd("sdk", "pages", URL, N.b, PAGES) end,
    } },
  { id = "c",
    title = string.format("(c) walking %s directory users with each_user (page size 100)", fmt_count(N.c_big)),
    calls = N.c_big // 100,
    cmd = {
      floor = function(users) return floor_cmd("pages", URL .. USERS, users // 100, PAGES) end,
      luasocket = function(users) return lua_cmd("luasocket", "walk", URL, users) end,
      sdk = function(users) return lua_cmd("sdk", "walk", URL, users) end,
    } },
  { id = "d", title = string.format("(d) %s organizations:get at concurrency %d, endpoint answering after 20 ms",
      fmt_count(N.d), N.conc),
    calls = N.d,
    cmd = {
      floor = function() return floor_cmd("multi", URL .. "/api/v1/organizations/slow_" .. ORG_ID, N.d, N.conc) end,
      luasocket = function() return lua_cmd("luasocket", "multi", URL, N.d, N.conc) end,
      sdk = function() return lua_cmd("sdk", "multi", URL, N.d, N.conc) end,
    } },
}

---------------------------------------------------------------------------
-- machine and versions

local function read_file(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

local machine = {}
do
  machine.nproc = sh_line("nproc")
  machine.cpu = (read_file("/proc/cpuinfo") or ""):match("model name%s*:%s*([^\n]+)") or "?"
  machine.mem = (read_file("/proc/meminfo") or ""):match("MemTotal:%s*(%d+)")
  machine.kernel = sh_line("uname -sr")
  machine.os = ((read_file("/etc/os-release") or ""):match('PRETTY_NAME="([^"]+)"')) or "?"
  machine.lua = sh_line(LUA .. " -v"):match("^(Lua %S+)") or "?"
  machine.versions = sh_line(LUA .. [[ -e 'local s = require "scalekit"; local core = require "scalekit.core";
    local cj = require "cjson"; local so = require "socket";
    io.write("scalekit ", s.version, "; libcurl ", core.curl_version, "; lua-cjson ", cj._VERSION or "?",
      "; ", so._VERSION)']])
  machine.nginx = sh_line((os.getenv("NGINX") or "nginx") .. " -v"):gsub("^nginx version: ", "")
  machine.cc = sh_line("${CC:-cc} --version"):gsub("%s*Copyright.*", "")
  machine.valgrind = sh_line("valgrind --version 2>/dev/null || echo none")
  machine.commit = sh_line("git rev-parse --short HEAD 2>/dev/null || echo unknown")
  machine.dirty = sh_line("git status --porcelain -- src lua 2>/dev/null | head -1") ~= ""
  machine.loadavg_start = (read_file("/proc/loadavg") or "?"):match("^(%S+ %S+ %S+)")
  machine.date = os.date("!%Y-%m-%d %H:%M UTC")
end

---------------------------------------------------------------------------
-- timed rounds

local results = {} -- results[workload][impl] = { runs... }
local unavailable = {}
for _, w in ipairs(WORKLOADS) do
  results[w.id] = {}
  for _, impl in ipairs(IMPLS) do results[w.id][impl] = {} end
end
local walk_small = {} -- impl -> { hwm_kb per round }
for _, impl in ipairs(IMPLS) do walk_small[impl] = {} end
local startup = { cold = {}, cold_cpu = {}, warm = {} }
local spawn = { bare = {}, sdk = {}, luasocket = {} }

local SPAWN_CMDS = {
  bare = LUA .. " -e ''",
  sdk = LUA .. [[ -e 'require("scalekit").new{environment_url = "http://127.0.0.1:9",
    client_id = "a", client_secret = "b"}']],
  luasocket = LUA .. [[ -e 'require "socket"; require "cjson"']],
}
local SPAWN_ORDER = { "bare", "luasocket", "sdk" }

local t_start = gettime()
for round = 1, ROUNDS do
  -- rotate the order every round, so that drift hits each client alike
  local order = {}
  for i = 1, #IMPLS do order[i] = IMPLS[(i + round - 2) % #IMPLS + 1] end
  progress("round %d/%d (order: %s)", round, ROUNDS, table.concat(order, ", "))
  for _, w in ipairs(WORKLOADS) do
    for _, impl in ipairs(order) do
      if not unavailable[w.id .. impl] then
        local before = accepts()
        local r = run_client(w.cmd[impl](N.c_big))
        if r.unavailable then
          unavailable[w.id .. impl] = r.unavailable
        else
          r.conns = accepts() - before - 1 -- minus the status request itself
          table.insert(results[w.id][impl], r)
          if w.id == "c" then
            local small = run_client(w.cmd[impl](N.c_small))
            table.insert(walk_small[impl], small.hwm_kb)
            r.growth_kb = r.hwm_kb - small.hwm_kb
          end
        end
      end
    end
  end
  -- require + new: in-process, fresh processes
  for _ = 1, N.cold do
    local r = run_client(lua_cmd("sdk", "startup", URL, N.warm))
    table.insert(startup.cold, r.cold)
    table.insert(startup.cold_cpu, r.cold_cpu)
    table.insert(startup.warm, r.warm)
  end
  -- whole process start, alternating the three commands
  for _ = 1, N.spawn do
    for _, k in ipairs(SPAWN_ORDER) do
      local t0 = gettime()
      local ok = os.execute(SPAWN_CMDS[k])
      if not ok then error("bench: failed: " .. SPAWN_CMDS[k], 0) end
      table.insert(spawn[k], gettime() - t0)
    end
  end
end
local t_rounds = gettime() - t_start
machine.loadavg_end = (read_file("/proc/loadavg") or "?"):match("^(%S+ %S+ %S+)")

---------------------------------------------------------------------------
-- summaries

local function field(runs, key)
  local l = {}
  for _, r in ipairs(runs) do if r[key] then l[#l + 1] = r[key] end end
  return l
end

local summary = {}
for _, w in ipairs(WORKLOADS) do
  summary[w.id] = {}
  for _, impl in ipairs(IMPLS) do
    local runs = results[w.id][impl]
    summary[w.id][impl] = {
      time = stats(field(runs, "time")), cpu = stats(field(runs, "cpu")),
      hwm = stats(field(runs, "hwm_kb")), growth = stats(field(runs, "growth_kb")),
      conns = stats(field(runs, "conns")), runs = runs,
    }
  end
end

local function med(w, impl, what) local s = summary[w][impl][what or "time"] return s and s.median end
local function ratio(x, y) return x and y and y > 0 and x / y or nil end

-- per-round ratio range (same round = same conditions)
local function round_ratios(w, num, den, what)
  local a, b, l = results[w][num], results[w][den], {}
  for i = 1, math.min(#a, #b) do
    local x, y = a[i][what or "time"], b[i][what or "time"]
    if x and y and y > 0 then l[#l + 1] = x / y end
  end
  return stats(l)
end

local targets = {}
local function target(name, measured, goal, met, note)
  targets[#targets + 1] = { name = name, measured = measured, goal = goal, met = met, note = note }
end

do
  for _, spec in ipairs { { "a", 1.10 }, { "b", 1.30 } } do
    local w, limit = spec[1], spec[2]
    local r = ratio(med(w, "sdk"), med(w, "floor"))
    local rr = round_ratios(w, "sdk", "floor")
    local rc = ratio(med(w, "sdk", "cpu"), med(w, "floor", "cpu"))
    target(string.format("(%s) SDK time ≤ %.2f × floor", w, limit),
      string.format("%s (rounds %s–%s; CPU time %s)", fmt_ratio(r), fmt_ratio(rr and rr.min),
        fmt_ratio(rr and rr.max), fmt_ratio(rc)),
      string.format("≤ %.2f×", limit), r and r <= limit,
      r and r > limit and string.format("misses by %s (%.0f%% over the limit)", fmt_ratio(r / limit),
        (r / limit - 1) * 100))
    local s = ratio(med(w, "luasocket"), med(w, "sdk"))
    local sr = round_ratios(w, "luasocket", "sdk")
    local sc = ratio(med(w, "luasocket", "cpu"), med(w, "sdk", "cpu"))
    target(string.format("(%s) SDK ≥ 1.5 × faster than LuaSocket + cjson", w),
      string.format("LuaSocket/SDK %s (rounds %s–%s; CPU time %s)", fmt_ratio(s), fmt_ratio(sr and sr.min),
        fmt_ratio(sr and sr.max), fmt_ratio(sc)),
      "≥ 1.50×", s and s >= 1.5,
      s and s < 1.5 and string.format("SDK needs %.0f%% less time", (1 - s / 1.5) * 100))
  end
  local g = summary.c.sdk.growth
  target(string.format("(c) peak RSS growth, %s vs %s users (SDK)", fmt_count(N.c_big), fmt_count(N.c_small)),
    g and string.format("%+.2f MB median, %+.2f MB max (peak %s)", g.median / 1024, g.max / 1024,
      fmt_mb(med("c", "sdk", "hwm"))) or "n/a",
    "< 10 MB", g and g.max < 10 * 1024)
  local d = med("d", "sdk")
  target(string.format("(d) %s calls at concurrency %d through sk:parallel", fmt_count(N.d), N.conc),
    d and string.format("%s = %s ideal (%s); floor %s", fmt_time(d), fmt_ratio(d / IDEAL_D), fmt_time(IDEAL_D),
      fmt_time(med("d", "floor")))
      or ("not measured: " .. tostring(unavailable["dsdk"])),
    string.format("≤ 1.5 × ideal = %s", fmt_time(1.5 * IDEAL_D)), d and d <= 1.5 * IDEAL_D,
    d and d > 1.5 * IDEAL_D and string.format("misses by %s", fmt_ratio(d / (1.5 * IDEAL_D))))
  local cold = stats(startup.cold)
  local warm = stats(startup.warm)
  target('require "scalekit" + scalekit.new{...}',
    string.format("first in a process %s (median; CPU %s); again in-process %s",
      fmt_time(cold.median), fmt_time(stats(startup.cold_cpu).median), fmt_time(warm.median)),
    "< 5 ms", cold.median < 0.005,
    cold.median >= 0.005 and string.format("misses by %s", fmt_ratio(cold.median / 0.005)))
end

---------------------------------------------------------------------------
-- profile (callgrind): instructions per request, difference of two run lengths

local profile, profile_error
local function have(cmd) return os.execute(cmd .. " >/dev/null 2>&1") end
local function run_profile()
  profile = {}
  local dir = os.getenv("BENCH_WORKDIR") or "/tmp"
  local specs = {
    { id = "a", small = SMOKE and 5 or 100, large = SMOKE and 10 or 500 },
    { id = "b", small = SMOKE and 2 or 20, large = SMOKE and 4 or 120 },
  }
  for _, spec in ipairs(specs) do
    profile[spec.id] = {}
    for _, impl in ipairs(IMPLS) do
      local files = {}
      for _, n in ipairs { spec.small, spec.large } do
        local out = string.format("%s/callgrind.%s.%s.%d", dir, spec.id, impl, n)
        local cmd
        if spec.id == "a" then
          cmd = impl == "floor" and floor_cmd("get", URL .. "/api/v1/organizations/" .. ORG_ID, n)
            or lua_cmd(impl, "org", URL, n)
        else
          cmd = impl == "floor" and floor_cmd("pages", URL .. USERS, n, PAGES)
            or lua_cmd(impl, "pages", URL, n, PAGES)
        end
        progress("callgrind (%s) %s, %d requests", spec.id, impl, n)
        run_client("valgrind --tool=callgrind --log-file=" .. shquote(out .. ".log") ..
          " --callgrind-out-file=" .. shquote(out) .. " " .. cmd)
        files[#files + 1] = out
      end
      profile[spec.id][impl] = callgrind.per_request(files[1], spec.small, files[2], spec.large)
    end
  end
end
if PROFILE and have("command -v valgrind") then
  local ok, err = pcall(run_profile)
  if not ok then
    profile, profile_error = nil, tostring(err)
    progress("profile failed: %s", profile_error)
  end
elseif PROFILE then
  profile_error = "valgrind is not installed (make deps-bench)"
end

---------------------------------------------------------------------------
-- report, part 1: every table, for the generated part of bench/analysis.md

local out = {}
local function p(fmt, ...) out[#out + 1] = select("#", ...) > 0 and string.format(fmt, ...) or fmt end

p("## The latest run in full")
p("")
p("Written by `make bench` (bench/driver.lua) on %s%s; BENCHMARKS.md has the summary.", machine.date,
  SMOKE and " — **SMOKE RUN: tiny counts, the numbers mean nothing**" or "")
p("")
p("### Machine")
p("")
p("- %s CPUs (`nproc`), %s; %s MB RAM", machine.nproc, machine.cpu,
  machine.mem and fmt_count(machine.mem / 1024) or "?")
p("- %s, %s", machine.os, machine.kernel)
p("- %s; %s", machine.lua, machine.versions)
p("- server: %s (1 worker, keep-alive, static files; the 20 ms endpoint uses `ngx.sleep` of the Lua module)",
  machine.nginx)
p("- compiler: %s; valgrind: %s", machine.cc, machine.valgrind)
p("- SDK commit %s%s", machine.commit, machine.dirty and " with uncommitted changes in src/ or lua/" or "")
p("- load average %s at the start, %s at the end (other jobs share this machine: the medians of",
  machine.loadavg_start, machine.loadavg_end)
p("  alternated rounds and the per-round ratios are the figures to read; callgrind counts below do not depend on load)")
p("")
p("### How it was measured")
p("")
p("`make bench` installs what is missing (`make deps-bench`: nginx, libnginx-mod-http-lua, valgrind on top of")
p("`make deps`), builds `scalekit/core.so` and `build/bench/floor`, then `bench/run.sh` starts nginx on a free")
p("127.0.0.1 port with canned Scalekit JSON (bench/gen.lua, bench/nginx.conf.in) and runs bench/driver.lua.")
p("`make bench-smoke` (or `BENCH_SMOKE=1`) runs every workload with tiny counts in a few seconds: a check that")
p("everything runs, not a measurement.")
p("")
p("- %d round%s; in each, every workload runs once per client, each run in a fresh process, the order of the",
  ROUNDS, ROUNDS == 1 and "" or "s")
p("  three clients rotated every round. Times are wall-clock of the timed loop only, after an untimed warm-up")
p("  request (connection opened, token fetched); CPU = the client process's CPU time over the same loop.")
p("- Clients: **floor** = bench/floor.c, one reused libcurl easy handle (multi interface for (d)), body appended")
p("  to a buffer, no decoding. **LuaSocket + lua-cjson** = bench/luasocket.lua: `socket.http` sends")
p("  `Connection: close` and reconnects for every request, so the baseline is the better hand-written client a")
p("  Lua user writes: one raw LuaSocket TCP connection kept alive, HTTP/1.1 requests written by hand, headers")
p("  read line by line, the body read by Content-Length, then `cjson.decode`; for (d) the same client as 32")
p("  coroutines over non-blocking sockets and `socket.select` (what copas does). **SDK** = bench/sdk.lua.")
p("- Commands (`<url>` is the nginx base URL, `<users>` = %s):", USERS)
p("  - (a) `floor get <url>/api/v1/organizations/%s %d`, `%s bench/luasocket.lua org <url> %d`,"
  .. " `%s bench/sdk.lua org <url> %d`", ORG_ID, N.a, LUA, N.a, LUA, N.a)
p("  - (b) `floor pages <url><users> %d %d`, `bench/luasocket.lua pages <url> %d %d`,"
  .. " `bench/sdk.lua pages <url> %d %d`", N.b, PAGES, N.b, PAGES, N.b, PAGES)
p("  - (c) `floor pages <url><users> %d %d`, `bench/luasocket.lua walk <url> %d`,"
  .. " `bench/sdk.lua walk <url> %d`; the same", N.c_big // 100, PAGES, N.c_big, N.c_big)
p("    with %s users in another fresh process; peak RSS = VmHWM of /proc/self/status at the end", fmt_count(N.c_small))
p("  - (d) `floor multi <url>/api/v1/organizations/slow_%s %d %d`, `bench/luasocket.lua multi <url> %d %d`,"
  .. " `bench/sdk.lua multi <url> %d %d`", ORG_ID, N.d, N.conc, N.d, N.conc, N.d, N.conc)
p("  - start-up: `bench/sdk.lua startup <url> %d` (%d processes per round), and whole processes: %s", N.warm, N.cold,
  table.concat({ "`" .. SPAWN_CMDS.bare .. "`", "`" .. LUA .. " -e 'require \"socket\"; require \"cjson\"'`",
    "`" .. LUA .. " -e 'require(\"scalekit\").new{...}'`" }, ", "))
p("")
p("### Results")
p("")
p("| workload | client | min | median | max | per call (median) | CPU (median) | connections opened |")
p("|---|---|---:|---:|---:|---:|---:|---:|")
for _, w in ipairs(WORKLOADS) do
  for _, impl in ipairs(IMPLS) do
    local s = summary[w.id][impl]
    if s.time then
      p("| %s | %s | %s | %s | %s | %s | %s | %s |", w.title, IMPL_NAME[impl], fmt_time(s.time.min),
        fmt_time(s.time.median),
        fmt_time(s.time.max), fmt_time(s.time.median / w.calls), fmt_time(s.cpu and s.cpu.median),
        s.conns and string.format("%.0f", s.conns.median) or "?")
    else
      p("| %s | %s | n/a | n/a | n/a | | | %s |", w.title, IMPL_NAME[impl], unavailable[w.id .. impl] or "")
    end
  end
end
p("")
p("Ratios of medians (in parentheses: the range of the per-round ratios):")
p("")
p("| workload | SDK / floor | LuaSocket / SDK | SDK / floor, CPU time | LuaSocket / SDK, CPU time "
  .. "| LuaSocket / floor |")
p("|---|---:|---:|---:|---:|---:|")
for _, w in ipairs(WORKLOADS) do
  local a, b = round_ratios(w.id, "sdk", "floor"), round_ratios(w.id, "luasocket", "sdk")
  p("| (%s) | %s (%s–%s) | %s (%s–%s) | %s | %s | %s |", w.id,
    fmt_ratio(ratio(med(w.id, "sdk"), med(w.id, "floor"))), fmt_ratio(a and a.min), fmt_ratio(a and a.max),
    fmt_ratio(ratio(med(w.id, "luasocket"), med(w.id, "sdk"))), fmt_ratio(b and b.min), fmt_ratio(b and b.max),
    fmt_ratio(ratio(med(w.id, "sdk", "cpu"), med(w.id, "floor", "cpu"))),
    fmt_ratio(ratio(med(w.id, "luasocket", "cpu"), med(w.id, "sdk", "cpu"))),
    fmt_ratio(ratio(med(w.id, "luasocket"), med(w.id, "floor"))))
end
p("")
p("LuaSocket / floor is the most any libcurl-based client can reach in the LuaSocket / SDK column.")
p("")
p("(c) memory, peak RSS (VmHWM) at the end of each walk, fresh process each:")
p("")
p("| client | %s users | %s users | growth median | growth max |", fmt_count(N.c_small), fmt_count(N.c_big))
p("|---|---:|---:|---:|---:|")
for _, impl in ipairs(IMPLS) do
  local s = summary.c[impl]
  local small = stats(walk_small[impl])
  if s.hwm and small then
    p("| %s | %s | %s | %+.2f MB | %+.2f MB |", IMPL_NAME[impl], fmt_mb(small.median), fmt_mb(s.hwm.median),
      s.growth.median / 1024, s.growth.max / 1024)
  end
end
p("")
p("(d) ideal: %s calls / %d at a time × 20 ms = %s.", fmt_count(N.d), N.conc, fmt_time(IDEAL_D))
p("")
do
  local cold, cold_cpu, warm = stats(startup.cold), stats(startup.cold_cpu), stats(startup.warm)
  p("Start-up, `require \"scalekit\"` + `scalekit.new{...}`:")
  p("")
  p("| measure | min | median | max |")
  p("|---|---:|---:|---:|")
  local function row(label, st)
    p("| %s | %s | %s | %s |", label, fmt_time(st.min), fmt_time(st.median), fmt_time(st.max))
  end
  row(string.format("first time in a fresh process, wall (%d processes)", cold.n), cold)
  row("first time in a fresh process, CPU", cold_cpu)
  row(string.format("again in the same process (package.loaded cleared; core.so stays loaded), mean of %d",
    N.warm), warm)
  local bare, ls, sdk = stats(spawn.bare), stats(spawn.luasocket), stats(spawn.sdk)
  row(string.format("whole process `%s -e ''` (via /bin/sh)", LUA), bare)
  row('whole process, `require "socket"; require "cjson"`', ls)
  row('whole process, `require("scalekit").new{...}`', sdk)
  p("")
  p("Process start with the SDK costs %s more than a bare interpreter (medians); LuaSocket + cjson cost %s more.",
    fmt_time(sdk.median - bare.median), fmt_time(ls.median - bare.median))
end
p("")
p("### Targets")
p("")
p("| target | goal | measured | met |")
p("|---|---|---|---|")
for _, t in ipairs(targets) do
  p("| %s | %s | %s | %s |", t.name, t.goal, t.measured,
    t.met and "**yes**" or ("**no**" .. (t.note and (": " .. t.note) or "")))
end
p("")

if profile then
  p("### Where the instructions go (callgrind)")
  p("")
  p("`valgrind --tool=callgrind` on the same commands with two request counts ((a) %d and %d, (b) %d and %d);",
    SMOKE and 5 or 100, SMOKE and 10 or 500, SMOKE and 2 or 20, SMOKE and 4 or 120)
  p("the difference divided by the extra requests is the cost of one request, without process start, token")
  p("and warm-up. Instruction counts (Ir) are repeatable on a loaded machine; they do not count time in the")
  p("kernel (system calls) or waiting for the server. bench/callgrind.lua does the accounting.")
  p("")
  p("| workload | floor Ir/request | LuaSocket + cjson | SDK | SDK / floor | LuaSocket / SDK |")
  p("|---|---:|---:|---:|---:|---:|")
  for _, id in ipairs { "a", "b" } do
    local f, l, s = profile[id].floor.total, profile[id].luasocket.total, profile[id].sdk.total
    p("| (%s) | %s | %s | %s | %s | %s |", id, fmt_count(f), fmt_count(l), fmt_count(s), fmt_ratio(s / f),
      fmt_ratio(l / s))
  end
  p("")
  p("SDK, per request, by part (each part with everything it calls):")
  p("")
  p("| part | (a) Ir | (a) share | (b) Ir | (b) share |")
  p("|---|---:|---:|---:|---:|")
  local labels = {
    { "libcurl", "libcurl: the transfer (curl_easy_perform, incl. syscall wrappers, malloc, "
      .. "our write/header callbacks)" },
    { "cjson", "lua-cjson decode: parsing + building the Lua tables and strings" },
    { "normalize", "normalization (integral floats → integers: the walk, and the text scan "
      .. "sk_json_number_levels that bounds it)" },
    { "utf8", "UTF-8 check of the body (sk_utf8_valid)" },
    { "rest", "everything else: Lua VM (the loop, method dispatch), request building, header list, "
      .. "GC outside the parts" },
  }
  local pa, pb = profile.a.sdk, profile.b.sdk
  for _, l in ipairs(labels) do
    p("| %s | %s | %.1f%% | %s | %.1f%% |", l[2], fmt_count(pa.parts[l[1]]), 100 * pa.parts[l[1]] / pa.total,
      fmt_count(pb.parts[l[1]]), 100 * pb.parts[l[1]] / pb.total)
  end
  p("| of the cjson part: Lua API calls (table/string building, allocation, GC) | %s | %.1f%% | %s | %.1f%% |",
    fmt_count(pa.sub.cjson_calls), 100 * pa.sub.cjson_calls / pa.total, fmt_count(pb.sub.cjson_calls),
    100 * pb.sub.cjson_calls / pb.total)
  p("| **total** | **%s** | | **%s** | |", fmt_count(pa.total), fmt_count(pb.total))
  p("")
  p("The same instructions by the object that executes them (self cost):")
  p("")
  p("| object | (a) Ir | (b) Ir |")
  p("|---|---:|---:|")
  local objs = {}
  for k, v in pairs(pb.objects) do
    if math.abs(v) >= 50 or math.abs(pa.objects[k] or 0) >= 50 then objs[#objs + 1] = k end
  end
  table.sort(objs, function(x, y) return (pb.objects[x] or 0) > (pb.objects[y] or 0) end)
  for _, k in ipairs(objs) do p("| %s | %s | %s |", k, fmt_count(pa.objects[k] or 0), fmt_count(pb.objects[k] or 0)) end
  p("")
  p("Top functions of the SDK by inclusive cost per request (the system's lua5.4, lua-cjson and libcurl are")
  p("stripped, so their internals show as addresses):")
  p("")
  for _, id in ipairs { "a", "b" } do
    local names = {}
    for _, fn in ipairs(profile[id].sdk.inclusive) do
      if #names >= 14 then break end
      -- (a function re-entered through lua_pcall counts its inner calls twice: skip those)
      if (fn.obj == "scalekit core.so" or fn.name:match("^curl_") or fn.name:match("^lua_")) and fn.cost > 0
        and fn.cost <= profile[id].sdk.total and fn.name ~= "lua_pcallk" then
        names[#names + 1] = string.format("%s %s", fn.name, fmt_count(fn.cost))
      end
    end
    p("- (%s): %s", id, table.concat(names, ", "))
  end
  p("")
end

if profile_error then
  p("### Where the instructions go (callgrind)")
  p("")
  p("Not measured: %s", profile_error)
  p("")
end

p("Timed rounds took %.0f s.", t_rounds)
local detail = table.concat(out, "\n"):gsub("\n\n\n+", "\n\n")

---------------------------------------------------------------------------
-- report, part 2: BENCHMARKS.md, one screen for users

out = {}
local function cell(w, impl)
  local s = summary[w.id][impl].time
  if not s then return "n/a" end
  return fmt_time(w.id == "d" and s.median or s.median / w.calls)
end
p("# Benchmarks")
p("")
p("How fast scalekit-lua is against a plain C client on libcurl (the *floor*: the least any")
p("libcurl-based client can take) and a hand-written LuaSocket + lua-cjson client, all three talking to")
p("one local nginx that serves canned Scalekit JSON.")
p("")
p("Latest `make bench`: %s, commit %s%s; %s CPUs, %s, %s; medians of %d alternated round%s.%s",
  machine.date, machine.commit, machine.dirty and " (with local changes)" or "", machine.nproc, machine.lua,
  machine.versions:match("libcurl [^;]+") or "libcurl ?", ROUNDS, ROUNDS == 1 and "" or "s",
  SMOKE and " **Smoke run: tiny counts, the numbers mean nothing.**" or "")
p("")
p("| workload | SDK | floor | LuaSocket + cjson |")
p("|---|---:|---:|---:|")
local SHORT = {
  a = "(a) one organizations:get, ~330 B of JSON",
  b = "(b) one page of 100 directory users, ~18 KB",
  c = "(c) each_user over %s users, per page of 100",
  d = "(d) %s calls, %d at a time, server answering in 20 ms: all of them",
}
for _, w in ipairs(WORKLOADS) do
  local label = SHORT[w.id]:format(w.id == "c" and fmt_count(N.c_big) or fmt_count(N.d), N.conc)
  p("| %s | %s | %s | %s |", label, cell(w, "sdk"), cell(w, "floor"), cell(w, "luasocket"))
end
p("")
do
  local g, cold, warm = summary.c.sdk.growth, stats(startup.cold), stats(startup.warm)
  local extra_a = med("a", "sdk") and med("a", "floor") and (med("a", "sdk") - med("a", "floor")) / N.a
  local d = med("d", "sdk")
  p("What this means:")
  p("")
  if extra_a and extra_a > 0 then
    p("- A small call costs the SDK %s more than raw libcurl (decoding into Lua tables, the method", fmt_time(extra_a))
    p("  call); against the real API, where a round trip takes milliseconds, that is noise.")
  end
  local share = profile and profile.b.sdk.parts.cjson / profile.b.sdk.total
  p("- Big pages are bound by building Lua tables from JSON%s: the LuaSocket client does the same",
    share and string.format(" (%.0f%% of the SDK's instructions in (b))", share * 100) or "")
  p("  work; the floor decodes nothing.")
  if d then
    p("- Many calls at once are bound by the server: `sk:parallel` took %s the ideal %s.",
      fmt_ratio(d / IDEAL_D), fmt_time(IDEAL_D))
  end
  if g then
    p("- Memory stays flat: the walk over %s users peaked at %s, %+.2f MB over %s users.", fmt_count(N.c_big),
      fmt_mb(med("c", "sdk", "hwm")), g.median / 1024, fmt_count(N.c_small))
  end
  p("- `require \"scalekit\"` + `scalekit.new{...}`: %s the first time in a process (mostly loading libcurl),",
    fmt_time(cold.median))
  p("  %s after that.", fmt_time(warm.median))
end
p("")
local met = 0
for _, t in ipairs(targets) do if t.met then met = met + 1 end end
p("Targets met: %d of %d. Misses:", met, #targets)
for _, t in ipairs(targets) do
  if not t.met then p("- %s: %s", t.name, t.measured) end
end
p("")
p("Rerun with `make bench` (about 5 minutes; installs nginx, its Lua module and valgrind when missing):")
p("it rewrites this file and the generated part of [bench/analysis.md](bench/analysis.md), which has")
p("the method, every table, the callgrind profile and the analysis. `make bench-smoke` checks in")
p("seconds that every workload runs (its report goes to build/bench/).")
local text = table.concat(out, "\n"):gsub("\n\n\n+", "\n\n")

---------------------------------------------------------------------------
-- writing: the summary, and the generated part of the analysis between its
-- markers (appended when the markers are missing)

local BEGIN_MARK = "<!-- BEGIN generated: make bench -->"
local END_MARK = "<!-- END generated: make bench -->"

local function write_file(path, content)
  os.execute("mkdir -p " .. shquote(path:match("^(.*)/") or "."))
  local f = assert(io.open(path, "w"))
  f:write(content)
  f:close()
end

write_file(OUT, text .. "\n")
do
  local analysis = read_file("bench/analysis.md") or "# Benchmark analysis\n"
  local block = BEGIN_MARK .. "\n" .. detail .. "\n" .. END_MARK
  local head, tail = analysis:match("^(.-)" .. BEGIN_MARK:gsub("%p", "%%%0") .. ".-"
    .. END_MARK:gsub("%p", "%%%0") .. "(.*)$")
  if head then
    analysis = head .. block .. tail
  else
    analysis = analysis:gsub("\n*$", "\n\n") .. block .. "\n"
  end
  write_file(DETAIL, analysis)
end

-- console summary
io.write("\n")
for _, w in ipairs(WORKLOADS) do
  io.write(w.title, "\n")
  for _, impl in ipairs(IMPLS) do
    local s = summary[w.id][impl].time
    io.write(string.format("  %-26s %s\n", IMPL_NAME[impl], s and string.format("min %s  median %s  max %s",
      fmt_time(s.min), fmt_time(s.median), fmt_time(s.max)) or ("n/a " .. (unavailable[w.id .. impl] or ""))))
  end
end
io.write("\ntargets:\n")
for _, t in ipairs(targets) do
  io.write(string.format("  %-58s %-5s %s\n", t.name, t.met and "met" or "MISS", t.measured))
end
io.write("\nwrote ", OUT, " and ", DETAIL, "\n")
