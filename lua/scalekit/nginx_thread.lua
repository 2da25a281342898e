--- scalekit.nginx_thread: the half of scalekit.nginx that runs in nginx
-- worker threads (ngx.run_worker_thread). Each thread has its own Lua VM,
-- no ngx API, and is reused for later tasks, so the clients cached here
-- (one per configuration) keep their libcurl handle, and with it the
-- keep-alive connection, from one call to the next.
--
-- Everything that goes in or out is plain data (strings, numbers, booleans,
-- nil, tables, scalekit.null): functions and userdata cannot cross VMs.
local core = require "scalekit.core"

local M = {}

local clients, count = {}, 0 -- config key -> client
local MAX_CLIENTS = 32       -- more configurations than that: start over

-- Hook calls of the current task, replayed by the main VM afterwards.
local events

local function recorder(kind)
  return function(info)
    if events then events[#events + 1] = { kind, info } end
  end
end

local function client_for(key, config, hooks)
  local c = clients[key]
  if c then return c end
  if count >= MAX_CLIENTS then
    for _, old in pairs(clients) do old:close() end
    clients, count = {}, 0
  end
  local settings = {}
  for k, v in pairs(config) do settings[k] = v end
  if hooks then
    settings.on_request = recorder("on_request")
    settings.on_response = recorder("on_response")
  end
  c = core.new(settings)
  clients[key], count = c, count + 1
  return c
end

-- Runs fn(client) with the task's hook recorder; returns a status
-- ("ok", "fail" or "raise") and fn's values, then the recorded events.
local function task(key, config, hooks, fn)
  events = hooks and {} or nil
  local ok, a, b, c = pcall(function()
    return fn(client_for(key, config, hooks))
  end)
  local recorded = events
  events = nil
  if not ok then return "raise", tostring(a), nil, nil, recorded end
  if a == nil then return "fail", b, nil, nil, recorded end
  return "ok", a, b, c, recorded
end

--- call(key, config, hooks, token, ttl, operation_id, params)
-- -> "ok", result, events | "fail", error table, events
--  | "raise", message, events (a programming mistake; nothing sent)
-- The token is supplied: the client does not fetch one itself, an API 401
-- comes back as an auth error and the main VM refreshes once per worker.
function M.call(key, config, hooks, token, ttl, operation, params)
  local status, a, _, _, recorded = task(key, config, hooks, function(c)
    core.set_token(c, token, ttl, true)
    local result, err = c:call(operation, params)
    if result == nil then return nil, err end
    return result
  end)
  return status, a, recorded
end

--- parallel(key, config, hooks, token, ttl, calls, options)
-- -> "ok", values, errors, events | "raise", message, nil, events
function M.parallel(key, config, hooks, token, ttl, calls, options)
  local status, values, errors, _, recorded = task(key, config, hooks, function(c)
    core.set_token(c, token, ttl, true)
    return c:parallel(calls, options)
  end)
  return status, values, errors, recorded
end

--- token(key, config, hooks) -> "ok", token, seconds_left, nil, events
--  | "fail", error table, nil, nil, events
-- Always a new token: the main VM asks only when it has no valid one (or
-- the API refused it). seconds_left is 0 for a token the server gave no
-- lifetime (use once).
function M.token(key, config, hooks)
  return task(key, config, hooks, function(c)
    core.set_token(c, nil)
    local token, err = c:token()
    if not token then return nil, err end
    local _, left = core.peek_token(c)
    return token, left or 0
  end)
end

return M
