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

-- The client's token if it is not the one it was given (it got one of its
-- own after an API 401), so that the main VM can keep it.
local function fresher_token(key, given)
  local c = clients[key]
  if not c then return nil end
  local current, left = core.peek_token(c)
  if current == given then return nil end
  return current, left
end

--- call(key, config, hooks, token, ttl, operation_id, params)
-- -> "ok", result, new_token, seconds_left, events
--  | "fail", error table, new_token, seconds_left, events
--  | "raise", message, nil, nil, events (a programming mistake; nothing sent)
-- new_token: see fresher_token.
function M.call(key, config, hooks, token, ttl, operation, params)
  local status, a, _, _, recorded = task(key, config, hooks, function(c)
    if token then core.set_token(c, token, ttl) end
    local result, err = c:call(operation, params)
    if result == nil then return nil, err end
    return result
  end)
  if status == "raise" then return status, a, nil, nil, recorded end
  local current, left = fresher_token(key, token)
  return status, a, current, left, recorded
end

--- parallel(key, config, hooks, token, ttl, calls, options)
-- -> "ok", values, errors, new_token, seconds_left, events
--  | "raise", message, nil, nil, nil, events
function M.parallel(key, config, hooks, token, ttl, calls, options)
  local status, values, errors, _, recorded = task(key, config, hooks, function(c)
    if token then core.set_token(c, token, ttl) end
    return c:parallel(calls, options)
  end)
  if status == "raise" then return status, values, nil, nil, nil, recorded end
  local current, left = fresher_token(key, token)
  return status, values, errors, current, left, recorded
end

--- token(key, config, hooks, min_left) -> "ok", token, seconds_left, nil, events
--  | "fail", error table, nil, nil, events
-- A token the client has with less than min_left seconds left is not
-- reused. seconds_left is 0 for a token the server gave no lifetime (use
-- once).
function M.token(key, config, hooks, min_left)
  return task(key, config, hooks, function(c)
    local current, left = core.peek_token(c)
    if current and left < (min_left or 0) then core.set_token(c, current, 0) end
    local token, err = c:token()
    if not token then return nil, err end
    local _, left = core.peek_token(c)
    return token, left or 0
  end)
end

return M
