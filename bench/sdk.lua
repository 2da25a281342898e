-- The SDK side of each workload (see bench/luasocket.lua for the baseline).
--
--   lua5.4 bench/sdk.lua <workload> <base url> <n> [extra]
--     org      <n>            n sequential sk.organizations:get
--     pages    <n> <pages>    n sequential sk.directories:list_users (page_size 100),
--                             following next_page_token
--     walk     <users>        for user in sk.directories:each_user(...) up to <users>
--     multi    <n> <conc>     sk:parallel of n getOrganization on the 20 ms endpoint
--     startup  <runs>         require "scalekit" + scalekit.new{...}: the first time
--                             in this process (cold), then <runs> times again with
--                             package.loaded cleared (warm: core.so stays mapped)
-- Prints "time=<wall s> cpu=<process CPU s> requests=<n> items=<n> hwm_kb=<VmHWM>"
-- like bench/floor (times of the timed part only);
-- startup prints "cold=<wall s> cold_cpu=<CPU s> warm=<wall s per run>".
-- LuaSocket is loaded only for its clock (socket.gettime).
local gettime = require("socket").gettime

local workload, base, n, extra = arg[1], arg[2], tonumber(arg[3]), tonumber(arg[4])
assert(workload and base and n, "usage: sdk.lua <workload> http://host:port <n> [extra]")

local OPTIONS = { environment_url = base, client_id = "skc_bench", client_secret = "bench_secret" }
local ORG, DIR = "org_bench", "dir_bench"

local function hwm_kb()
  local f = io.open("/proc/self/status")
  local kb = f and f:read("a"):match("VmHWM:%s*(%d+)")
  if f then f:close() end
  return tonumber(kb) or -1
end

if workload == "startup" then
  local t0, c0 = gettime(), os.clock()
  local scalekit = require "scalekit"
  local sk = scalekit.new(OPTIONS)
  local cold, cold_cpu = gettime() - t0, os.clock() - c0
  sk:close()
  t0 = gettime()
  for _ = 1, n do
    package.loaded["scalekit"] = nil
    package.loaded["scalekit.core"] = nil
    local again = require "scalekit"
    again.new(OPTIONS):close()
  end
  io.write(string.format("cold=%.6f cold_cpu=%.6f warm=%.9f\n", cold, cold_cpu, (gettime() - t0) / n))
  return
end

local scalekit = require "scalekit"
local sk = scalekit.new(OPTIONS)
local result = { requests = 0, items = 0 }

local function check(v, err)
  if v == nil then error(tostring(err), 2) end
  return v
end

if workload == "org" then
  check(sk.organizations:get("org_59615193906282635")) -- warm-up: token, connection
  local t0, c0 = gettime(), os.clock()
  for _ = 1, n do
    local org = check(sk.organizations:get("org_59615193906282635"))
    if not org.id then error("organization without id") end
  end
  result.time, result.cpu = gettime() - t0, os.clock() - c0
  result.requests = n
elseif workload == "pages" then
  local pages = assert(extra, "pages: need the page count")
  check(sk.directories:list_users(ORG, DIR, { page_size = 100 })) -- warm-up
  local t0, c0 = gettime(), os.clock()
  local token
  for i = 1, n do
    local page = check(sk.directories:list_users(ORG, DIR, { page_size = 100, page_token = token }))
    result.items = result.items + #page.users
    token = page.next_page_token
    if i % pages == 0 then token = nil end
  end
  result.time, result.cpu = gettime() - t0, os.clock() - c0
  result.requests = n
elseif workload == "walk" then
  sk:token() -- the token request is not part of the walk
  local t0, c0 = gettime(), os.clock()
  local seen = 0
  for user in sk.directories:each_user(ORG, DIR, { page_size = 100 }) do
    if not user.id then error("user without id") end
    seen = seen + 1
    if seen == n then break end
  end
  result.time, result.cpu = gettime() - t0, os.clock() - c0
  result.items = seen
  result.requests = (seen + 99) // 100
elseif workload == "multi" then
  local conc = extra or 32
  local ok, parallel = pcall(function() return sk.parallel end)
  if not ok or type(parallel) ~= "function" then
    io.write("unavailable: sk:parallel is not in this build\n")
    return
  end
  local calls = {}
  for i = 1, n do calls[i] = { "getOrganization", { id = "slow_59615193906282635" } } end
  -- warm-up: the token, and the connections the real run will reuse
  local warm = {}
  for i = 1, math.min(conc, n) do warm[i] = calls[i] end
  sk:parallel(warm, { concurrency = conc })
  local t0, c0 = gettime(), os.clock()
  local values, errors = sk:parallel(calls, { concurrency = conc })
  result.time, result.cpu = gettime() - t0, os.clock() - c0
  -- Two result shapes are accepted: values, errors (exactly one of
  -- values[i], errors[i] set), or one list of {result = v} / {error = e}.
  for i = 1, n do
    local v, e = values[i], errors and errors[i]
    if errors == nil and type(v) == "table" and (v.result ~= nil or v.error ~= nil) then
      v, e = v.result, v.error
    end
    if not (type(v) == "table" and v.id) then
      error(string.format("parallel call %d: %s", i, tostring(e or v)))
    end
  end
  result.requests = n
else
  error("unknown workload " .. tostring(workload))
end

sk:close()
io.write(string.format("time=%.6f cpu=%.6f requests=%d items=%d hwm_kb=%d\n",
  result.time, result.cpu, result.requests, result.items, hwm_kb()))
