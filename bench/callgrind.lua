-- Reads callgrind output files (events: Ir) and says where the instructions
-- go. Used by bench/driver.lua; also runnable by hand:
--   lua5.4 bench/callgrind.lua <small.out> <n_small> <large.out> <n_large>
-- Everything is reported per request as the difference between a run of
-- n_large and one of n_small requests, so process start-up (loading
-- libcurl's 30 shared libraries costs ~17 M instructions), the token fetch
-- and the warm-up request cancel out.
--
-- Parts (disjoint call subtrees, each counted with everything it calls):
--   libcurl      functions in libcurl.so, entered from outside (the transfer,
--                including the syscall wrappers, malloc and our write/header
--                callbacks it calls)
--   cjson        functions in lua-cjson's .so (the decode), split into its own
--                parsing and what it calls: Lua API (tables, strings), malloc, GC
--   normalize    sk_json_normalize and its helpers (floats -> integers), and
--                the text scan that decides how deep to walk (sk_json_number_levels)
--   utf8         sk_utf8_valid (the response body check before decoding)
-- and "rest" = total - the parts: the Lua VM running the loop and the
-- method dispatch, the SDK's request building, header list, hooks, result
-- shaping, and the Lua GC outside the parts. The rest is split further by
-- the object holding the instructions (self cost).
local M = {}

local function strip(name) return (name:gsub("'%d+$", "")) end

-- Parses one file into { total, fns = {key -> {obj, name, self}}, edges = {
-- {from, to, cost}} } with key = obj .. "\0" .. name.
function M.parse(path)
  local obs, fls, fns = {}, {}, {}
  local f = assert(io.open(path, "rb"))
  local cur_ob, cur_fn, call_ob, call_fn, pending_call = "?", nil, nil, nil, false
  local funcs, edges, total = {}, {}, 0
  local function ref(tbl, s)
    local id, name = s:match("^%((%d+)%)%s*(.*)$")
    if not id then return s end
    if name ~= "" then tbl[id] = name end
    return tbl[id] or ("?" .. id)
  end
  local function key(ob, fn) return ob .. "\0" .. fn end
  local function func(ob, fn)
    local k = key(ob, strip(fn)) -- recursion levels (f'2, f'3) are one function
    local e = funcs[k]
    if not e then
      e = { obj = ob, name = strip(fn), self = 0 }
      funcs[k] = e
    end
    return k, e
  end
  for line in f:lines() do
    local c = line:byte(1)
    if c and (c >= 48 and c <= 57 or c == 43 or c == 45 or c == 42) then
      -- cost line: "<pos> <Ir>"
      local cost = tonumber(line:match("^%S+%s+(%d+)")) or 0
      if pending_call then
        edges[#edges + 1] = { cur_fn, call_fn, cost }
        pending_call = false
      elseif cur_fn then
        funcs[cur_fn].self = funcs[cur_fn].self + cost
      end
    else
      local k, v = line:match("^(%a+)=(.*)$")
      if k == "ob" then cur_ob = ref(obs, v)
      elseif k == "fn" then cur_fn = func(cur_ob, ref(fns, v)); call_ob = nil
      elseif k == "cob" then call_ob = ref(obs, v)
      elseif k == "cfn" then call_fn = func(call_ob or cur_ob, ref(fns, v)); call_ob = nil
      elseif k == "calls" then pending_call = true
      elseif k == "fl" or k == "fi" or k == "fe" or k == "cfi" or k == "cfl" then ref(fls, v)
      elseif not k then
        local t = line:match("^summary:%s*(%d+)") or line:match("^totals:%s*(%d+)")
        if t then total = tonumber(t) end
      end
    end
  end
  f:close()
  return { total = total, funcs = funcs, edges = edges }
end

local GROUPS = {
  { id = "libcurl", test = function(fn) return fn.obj:find("libcurl", 1, true) ~= nil end },
  { id = "cjson", test = function(fn) return fn.obj:find("cjson", 1, true) ~= nil end },
  { id = "normalize", test = function(fn)
      return fn.name:match("^sk_json_normalize") or fn.name:match("^sk_normalize_") or fn.name == "sk_integral_float"
        or fn.name == "sk_json_number_levels"
    end },
  { id = "utf8", test = function(fn) return fn.name == "sk_utf8_valid" end },
}

local function object_label(obj)
  local base = obj:match("([^/]+)$") or obj
  if base:find("^libcurl") then return "libcurl" end
  if base:find("cjson") then return "lua-cjson" end
  if base == "core.so" then return "scalekit core.so" end
  if base:find("^lua5") or base:find("^liblua") then return "Lua VM (lua5.4)" end
  if base:find("^libc%.so") then return "libc (malloc, memcpy, syscall wrappers)" end
  if base:find("^ld%-linux") then return "ld.so (dynamic linking)" end
  if base:find("^socket") or base:find("core%.so") and obj:find("socket") then return "LuaSocket" end
  if obj:find("/socket/") then return "LuaSocket" end
  if base == "floor" then return "floor" end
  return base
end

-- Per-profile numbers: parts (inclusive, from outside) and self cost by object.
function M.summarize(p)
  local s = { total = p.total, parts = {}, sub = {}, objects = {}, functions = {}, raw = p }
  local member = {}
  for k, fn in pairs(p.funcs) do
    for _, g in ipairs(GROUPS) do
      if g.test(fn) then member[k] = g.id break end
    end
    s.objects[object_label(fn.obj)] = (s.objects[object_label(fn.obj)] or 0) + fn.self
    s.functions[k] = fn
  end
  for _, g in ipairs(GROUPS) do s.parts[g.id] = 0 end
  for k, fn in pairs(p.funcs) do
    local g = member[k]
    if g then s.parts[g] = s.parts[g] + fn.self end
  end
  s.sub.cjson_calls = 0     -- what cjson calls (Lua API, malloc, GC)
  s.sub.curl_callbacks = 0  -- what libcurl calls in core.so (our callbacks)
  for _, e in ipairs(p.edges) do
    local gf, gt = member[e[1]], member[e[2]]
    if gf and gf ~= gt then
      s.parts[gf] = s.parts[gf] + e[3]
      if gf == "cjson" then s.sub.cjson_calls = s.sub.cjson_calls + e[3] end
      if gf == "libcurl" and p.funcs[e[2]].obj:find("core%.so$") then
        s.sub.curl_callbacks = s.sub.curl_callbacks + e[3]
      end
    end
  end
  return s
end

-- Inclusive cost of every function (self + calls to other functions).
function M.inclusive(p)
  local incl = {}
  for k, fn in pairs(p.funcs) do incl[k] = fn.self end
  for _, e in ipairs(p.edges) do
    if e[1] ~= e[2] then incl[e[1]] = incl[e[1]] + e[3] end
  end
  return incl
end

-- Difference large - small, divided by the request count difference.
function M.per_request(small, n_small, large, n_large)
  local a, b = M.summarize(M.parse(small)), M.summarize(M.parse(large))
  local d = n_large - n_small
  local r = { total = (b.total - a.total) / d, parts = {}, sub = {}, objects = {}, functions = {},
              inclusive = {} }
  local ia, ib = M.inclusive(a.raw), M.inclusive(b.raw)
  for k, v in pairs(ib) do
    local fn = b.functions[k]
    r.inclusive[#r.inclusive + 1] = { obj = object_label(fn.obj), name = fn.name, cost = (v - (ia[k] or 0)) / d }
  end
  table.sort(r.inclusive, function(x, y) return x.cost > y.cost end)
  for k, v in pairs(b.parts) do r.parts[k] = (v - (a.parts[k] or 0)) / d end
  for k, v in pairs(b.sub) do r.sub[k] = (v - (a.sub[k] or 0)) / d end
  for k, v in pairs(b.objects) do r.objects[k] = (v - (a.objects[k] or 0)) / d end
  for k, fn in pairs(b.functions) do
    local before = a.functions[k] and a.functions[k].self or 0
    r.functions[#r.functions + 1] = { obj = object_label(fn.obj), name = fn.name, self = (fn.self - before) / d }
  end
  table.sort(r.functions, function(x, y) return x.self > y.self end)
  local parts_sum = 0
  for _, v in pairs(r.parts) do parts_sum = parts_sum + v end
  r.parts.rest = r.total - parts_sum
  return r
end

if arg and arg[0] and arg[0]:match("callgrind%.lua$") and arg[4] then
  local r = M.per_request(arg[1], tonumber(arg[2]), arg[3], tonumber(arg[4]))
  print(string.format("total %.0f Ir/request", r.total))
  for _, k in ipairs { "libcurl", "cjson", "normalize", "utf8", "rest" } do
    print(string.format("  %-10s %9.0f  %5.1f%%", k, r.parts[k], 100 * r.parts[k] / r.total))
  end
  print(string.format("  cjson calls (Lua API/malloc/GC) %.0f; libcurl->core callbacks %.0f",
    r.sub.cjson_calls, r.sub.curl_callbacks))
  print("self cost by object:")
  local objs = {}
  for k, v in pairs(r.objects) do objs[#objs + 1] = { k, v } end
  table.sort(objs, function(x, y) return x[2] > y[2] end)
  for _, o in ipairs(objs) do
    if math.abs(o[2]) >= 1 then print(string.format("  %-45s %9.0f", o[1], o[2])) end
  end
  print("top functions (inclusive):")
  for i = 1, tonumber(os.getenv("CG_TOP") or 40) do
    local fn = r.inclusive[i]
    if not fn then break end
    print(string.format("  %9.0f  %s  [%s]", fn.cost, fn.name, fn.obj))
  end
  print("top functions (self):")
  for i = 1, 25 do
    local fn = r.functions[i]
    if not fn then break end
    print(string.format("  %9.0f  %s  [%s]", fn.self, fn.name, fn.obj))
  end
end

return M
