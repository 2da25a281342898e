-- Helpers shared by the specs spec/01-*_spec.lua .. spec/11-*_spec.lua:
-- what they need to run unchanged on Lua 5.1, LuaJIT, 5.3 and 5.4, client
-- construction, the fake server's request log, and assertions on raised
-- messages, error objects and iterators.
--
--   local util = require "spec.helpers.util"
--   local only, raises = util.only, util.raises
--
-- A module required by a spec does not see busted's per-file globals, so
-- the assertions here use luassert directly (the same module busted
-- exports as `assert`).
local assert = require "luassert"
local cjson = require "cjson"
local scalekit = require "scalekit"

local util = {}

---------------------------------------------------------------------------
-- Lua versions
---------------------------------------------------------------------------

-- math.type where it exists; on 5.1/LuaJIT (no integer subtype) a number
-- with an integral value counts as "integer".
function util.number_type(x)
  if math.type then return math.type(x) end
  if type(x) ~= "number" then return nil end
  return x == math.floor(x) and "integer" or "float"
end

-- Two full collection cycles (finalizers run in the first); returns the
-- heap size in KB afterwards.
function util.full_gc()
  collectgarbage("collect")
  collectgarbage("collect")
  return collectgarbage("count")
end

---------------------------------------------------------------------------
-- Tables and strings
---------------------------------------------------------------------------

-- A new table with the keys of every argument; later ones win.
function util.merge(...)
  local t = {}
  for i = 1, select("#", ...) do
    for k, v in pairs((select(i, ...))) do t[k] = v end
  end
  return t
end

-- application/x-www-form-urlencoded text to a table.
function util.form_decode(s)
  local t = {}
  local function dec(x)
    return (x:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
  end
  for pair in s:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    t[dec(k)] = dec(v)
  end
  return t
end

-- Every string reachable from v (keys and values), for leak checks.
function util.strings_in(v, out, seen)
  out, seen = out or {}, seen or {}
  if type(v) == "string" then
    out[#out + 1] = v
  elseif type(v) == "table" and not seen[v] then
    seen[v] = true
    for k, x in pairs(v) do
      util.strings_in(k, out, seen)
      util.strings_in(x, out, seen)
    end
  end
  return out
end

-- The first string reachable from v that contains `needle` (plain), or nil.
function util.leaks(v, needle)
  for _, s in ipairs(util.strings_in(v)) do
    if s:find(needle, 1, true) then return s end
  end
  return nil
end

---------------------------------------------------------------------------
-- Clients
---------------------------------------------------------------------------

-- Retry delays short enough for specs that go through retries.
util.FAST = { retry_base_delay = 0.01, retry_max_delay = 0.05 }

-- A client for `server` with the FAST retry delays and `extra` settings.
function util.client(server, extra)
  return scalekit.new(util.merge(server:env(), util.FAST, extra or {}))
end

---------------------------------------------------------------------------
-- The fake server's request log
---------------------------------------------------------------------------

-- Logged requests (optionally only those of one operation: the document's
-- id or the published operationId).
function util.logged(server, op)
  return server:requests(op)
end

-- The one logged request of an operation (fails when there is not exactly one).
function util.only(server, op)
  local list = util.logged(server, op)
  assert.are.equal(1, #list, "expected exactly one " .. op .. " request")
  return list[1]
end

-- The last logged request of an operation, or nil.
function util.last(server, op)
  local list = util.logged(server, op)
  return list[#list]
end

-- The operationIds of a request log, in order.
function util.operations(log)
  local ops = {}
  for i, r in ipairs(log) do ops[i] = r.operation end
  return ops
end

-- The server's own view, through a raw HTTP request with a fresh token:
-- status and decoded body. (Raw requests are logged too: check the log
-- before calling this.)
function util.raw(server, method, path)
  local status, body = server:http(method, path, {
    headers = { authorization = "Bearer " .. server:token(), accept = "application/json" },
  })
  return status, (body ~= "" and cjson.decode(body) or nil)
end

---------------------------------------------------------------------------
-- Assertions
---------------------------------------------------------------------------

-- pcall(fn) must raise a string containing `text` (plain match).
function util.raises(text, fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error containing: " .. text)
  assert.are.equal("string", type(err))
  assert.is_truthy(err:find(text, 1, true), "error was: " .. tostring(err))
  return err
end

-- res, err must be nil and a complete API error object of the given
-- status and code (and operationId, when given). Returns err.
function util.api_error(status, code, res, err, op)
  assert.is_nil(res)
  assert.is_true(scalekit.is_error(err), "expected an error object, got " .. tostring(err))
  assert.are.equal("api", err.kind)
  assert.are.equal(status, err.status)
  assert.are.equal("integer", util.number_type(err.status))
  assert.are.equal(code, err.code)
  assert.are.equal("string", type(err.message))
  assert.are.equal("boolean", type(err.retryable))
  assert.matches("^req%-%d+$", err.request_id)
  if op then assert.are.equal(op, err.operation) end
  return err
end

---------------------------------------------------------------------------
-- Iterators
---------------------------------------------------------------------------

-- Runs a generic for over the iterator make() returns, under pcall:
-- returns ok, err, items.
function util.walk(make)
  local items = {}
  local ok, err = pcall(function()
    for x in make() do items[#items + 1] = x end
  end)
  return ok, err, items
end

-- The walk must end without raising: returns its items.
function util.walk_ok(make)
  local ok, err, items = util.walk(make)
  assert.is_true(ok, tostring(err))
  return items
end

-- The walk must raise an error object of the given status: returns it and
-- the items that came before.
function util.walk_fails(status, make)
  local ok, err, items = util.walk(make)
  assert.is_false(ok)
  assert.is_true(scalekit.is_error(err), "raised: " .. tostring(err))
  assert.are.equal(status, err.status)
  return err, items
end

-- The `field` (default "id") of every element of a list.
function util.ids(list, field)
  local out = {}
  for i, x in ipairs(list) do out[i] = x[field or "id"] end
  return out
end

-- The membership of `user` in organization `org_id`, or nil.
function util.membership(user, org_id)
  for _, m in ipairs(user.memberships or {}) do
    if m.organization_id == org_id then return m end
  end
  return nil
end

return util
