-- Runs a Lua chunk in a child interpreter (the one running the specs, with
-- the same module paths), bounded by a time limit, so that a crash
-- (SIGSEGV, abort) or a hang fails one spec instead of killing or blocking
-- busted. Lua 5.1-5.4 and LuaJIT.
--
--   local child = require "spec.helpers.child"
--   local run = child.run([[ emit("value", 42) ]], { env = server:env(), seconds = 5 })
--   child.ok(run)                     -- exited 0, in time, no uncaught error
--   assert.equal("42", run.values.value)
--
-- In the child, `ENV` is opts.env (strings, numbers, booleans and nested
-- tables), `emit(key, value)` reports tostring(value) to the parent (one
-- line each; later emits of a key win, all are in run.emitted), and an
-- uncaught error is reported and makes the exit status 2.
local assert = require "luassert"
local process = require "spec.helpers.process"

local child = {}

-- The interpreter of this process: LuaJIT reports _VERSION "Lua 5.1".
child.lua = rawget(_G, "jit") and "luajit" or "lua" .. _VERSION:match("%d+%.%d+")

-- Exit status of GNU timeout when the limit was reached.
child.TIMED_OUT = 124

local function literal(v)
  local t = type(v)
  if t == "string" then return ("%q"):format(v) end
  if t == "number" or t == "boolean" or t == "nil" then return tostring(v) end
  if t == "table" then
    local parts = {}
    for k, x in pairs(v) do parts[#parts + 1] = "[" .. literal(k) .. "] = " .. literal(x) end
    return "{ " .. table.concat(parts, ", ") .. " }"
  end
  error("child: cannot pass a " .. t .. " to the child", 3)
end

local PRELUDE = [[
local ENV = %s
local function emit(key, value)
  local text = tostring(value):gsub("[\r\n]", " ")
  io.write("@@", key, "\t", text, "\n")
  io.flush()
end
local ok, err = pcall(function()
%s
end)
if not ok then emit("uncaught", err) os.exit(2) end
os.exit(0)
]]

--- Runs `code` in a child interpreter. opts: env (table visible as ENV),
-- seconds (time limit, default 10), set (environment variables for the
-- child), unset (names of variables to remove), stderr (true: the child's
-- stderr goes to run.stderr instead of run.output). Returns {status,
-- output, stderr, values, emitted, timed_out, crashed}; status is the exit
-- code (128 + signal for a signal, 124 on the time limit).
function child.run(code, opts)
  opts = opts or {}
  local shquote = process.shquote
  local file = os.tmpname()
  local stderr_file = opts.stderr and os.tmpname()
  local f = assert(io.open(file, "wb"))
  f:write(PRELUDE:format(literal(opts.env or {}), code))
  f:close()
  local words = {}
  if stderr_file then
    -- sh runs the rest of the command line ("$@") with stderr in the file
    words[1] = "sh -c " .. shquote('exec "$@" 2>' .. shquote(stderr_file)) .. " sh"
  end
  words[#words + 1] = "env"
  for _, name in ipairs(opts.unset or {}) do words[#words + 1] = "-u " .. shquote(name) end
  words[#words + 1] = shquote("LUA_PATH=" .. package.path)
  words[#words + 1] = shquote("LUA_CPATH=" .. package.cpath)
  for name, value in pairs(opts.set or {}) do words[#words + 1] = shquote(name .. "=" .. value) end
  for _, word in ipairs { "timeout -k 2", tostring(opts.seconds or 10), child.lua, shquote(file) } do
    words[#words + 1] = word
  end
  local output, status = process.run(table.concat(words, " "))
  os.remove(file)
  local run = { status = status, output = output, values = {}, emitted = {} }
  if stderr_file then
    run.stderr = process.read_file(stderr_file) or ""
    os.remove(stderr_file)
  end
  for key, value in output:gmatch("@@([^\t\n]*)\t([^\n]*)") do
    run.values[key] = value
    run.emitted[#run.emitted + 1] = { key, value }
  end
  run.timed_out = status == child.TIMED_OUT
  run.crashed = status ~= nil and status > 128
  return run
end

--- The child must have exited 0 within its time limit, raising nothing.
function child.ok(run)
  local why = run.timed_out and "the child hung (killed at its time limit)"
    or run.crashed and ("the child died of signal " .. (run.status - 128))
    or "the child exited " .. tostring(run.status)
  assert.are.equal(0, run.status, why .. "; output:\n" .. run.output)
  return run
end

return child
