--- scalekit.nginx: the SDK inside nginx (OpenResty, or nginx with
-- lua-nginx-module and lua-resty-core) without blocking the event loop.
--
-- The C core decides everything about a call (scalekit.core exchanges:
-- token, retries, hooks, results); in the phases that may yield, this
-- module only moves the bytes through a worker thread
-- (ngx.run_worker_thread, see nginx_thread.lua), sleeps with ngx.sleep,
-- and shares the access token per worker (and, with `shared_dict`, across
-- workers). Elsewhere (init, set, log, filters...) the C methods run as
-- they are, blocking the worker. The methods are wrapped once per Lua VM,
-- in the method tables the C core reads.
-- luacheck: globals ngx
local core = require "scalekit.core"

local M = {}

M.DEFAULT_THREAD_POOL = "scalekit"
local THREAD_MODULE = "scalekit.nginx_thread"

-- Phases in which ngx.run_worker_thread and ngx.sleep may yield.
local yieldable = { rewrite = true, server_rewrite = true, access = true, content = true,
                    timer = true }

-- A token with less than this left is not handed out: it could expire on
-- the way.
local MIN_LEFT = 1

local option_types = { enabled = "boolean", thread_pool = "string", shared_dict = "string" }

local states = setmetatable({}, { __mode = "k" }) -- client -> state
-- Per worker: tokens[token_key] = {token =, expires = ngx.now() deadline};
-- flights[token_key] = semaphore of the token request in flight.
local tokens, flights = {}, {}

local token_operation
for id, op in pairs(core.operations) do
  if op.issues_token then token_operation = id end
end

--- nil, or what is wrong with the `nginx` setting.
function M.options_problem(options)
  for key, value in pairs(options) do
    local expected = option_types[key]
    if not expected then return ("unknown nginx setting '%s'"):format(tostring(key)) end
    if type(value) ~= expected then
      return ("nginx setting '%s' must be a %s (got %s)"):format(key, expected, type(value))
    end
  end
end

local function can_yield()
  return yieldable[ngx.get_phase()] == true
end

---------------------------------------------------------------------------
-- moving bytes

-- The response to request, from a worker thread; or nil, reason.
local function perform(state, request)
  local delay, deadline = 0.001, ngx.now() + state.lease
  while true do
    local ok, response = ngx.run_worker_thread(state.pool, THREAD_MODULE, "perform", request)
    if ok then return response end
    local why = tostring(response)
    if why:find("not found", 1, true) then
      error(("scalekit: nginx thread_pool '%s' not found: add `thread_pool %s threads=16;` "
        .. "to the main context of nginx.conf (or set nginx.thread_pool)"):format(
          state.pool, state.pool), 0)
    end
    if why ~= "no available Lua vm" or ngx.now() >= deadline then return nil, why end
    -- every thread VM is busy (lua_worker_thread_vm_pool_size): wait
    ngx.sleep(delay)
    delay = math.min(delay * 2, 0.05)
  end
end

local obtain_token -- below

-- Runs exchange x to its end: value [, response] | nil, err.
local function drive(state, x)
  while true do
    local step, arg = x:next()
    if step == "send" then
      local response, why = perform(state, arg)
      if response then
        x:received(response)
      else
        x:fail("transport", "nginx worker thread: " .. why)
      end
    elseif step == "token" then
      local ok, err = obtain_token(state)
      if not ok then
        x:close()
        return nil, err
      end
      x:grant()
    elseif step == "wait" then
      ngx.sleep(arg)
    else
      local a, b = x:result()
      x:close()
      return a, b
    end
  end
end

---------------------------------------------------------------------------
-- the worker's token

local function publish(state, token, left)
  tokens[state.token_key] = { token = token, expires = ngx.now() + left }
  if state.dict and left >= MIN_LEFT then
    -- not fatal if the dict is full: this worker still has it
    state.dict:set(state.token_key, ("%.3f|%s"):format(ngx.now() + left, token), left)
  end
end

-- A valid token of this worker or of the shared dict, or nil.
local function cached(state)
  local now = ngx.now()
  local t = tokens[state.token_key]
  if t and t.expires - now >= MIN_LEFT then return t.token, t.expires - now end
  if state.dict then
    local expires, token = (state.dict:get(state.token_key) or ""):match("^([%d.]+)|(.+)$")
    expires = tonumber(expires)
    if expires and expires - now >= MIN_LEFT then
      tokens[state.token_key] = { token = token, expires = expires }
      return token, expires - now
    end
  end
end

-- Forgets a token the API refused (a 401 made the client drop the token
-- it had been given), unless another request has replaced it already.
local function drop_refused(state)
  local given = state.given
  if not given or core.peek_token(state.client) then return end
  local t = tokens[state.token_key]
  if t and t.token == given then tokens[state.token_key] = nil end
  if state.dict then
    local value = state.dict:get(state.token_key)
    if value and value:sub(-#given - 1) == "|" .. given then state.dict:delete(state.token_key) end
  end
  state.given = nil
end

local function give(state, token, left)
  -- the client must not send it with less than MIN_LEFT to go
  core.set_token(state.client, token, left - MIN_LEFT)
  state.given = token
  return true
end

-- Asks the token endpoint; with a shared dict, at most one worker at a
-- time (the others wait for its result, or for its lock to expire).
local function fetch(state)
  local dict, lock, locked = state.dict, state.token_key .. "|lock", false
  local deadline = ngx.now() + state.lease
  while dict do
    local token, left = cached(state)
    if token then return give(state, token, left) end
    local ok, err = dict:add(lock, true, state.lock_ttl)
    if ok then locked = true break end
    if err ~= "exists" or ngx.now() >= deadline then break end -- fetch anyway
    ngx.sleep(0.01)
  end
  local ok, result, err = pcall(drive, state, core.exchange(state.client, token_operation))
  if locked then dict:delete(lock) end
  if not ok then error(result, 0) end
  if not result then return nil, err end
  local token, left = core.peek_token(state.client)
  if token then
    publish(state, token, left)
    give(state, token, left)
  end
  return true
end

-- A token for state.client: one request per worker at a time, however
-- many requests need one (after a 401 too).
function obtain_token(state)
  drop_refused(state)
  local key = state.token_key
  while true do
    local token, left = cached(state)
    if token then return give(state, token, left) end
    local flight = flights[key]
    if not flight then break end
    -- the request in flight may end any moment; bounded by its lease
    flight:wait(state.lease)
  end
  local flight = state.semaphore.new(0)
  flights[key] = flight
  local ok, a, b = pcall(fetch, state)
  if flights[key] == flight then flights[key] = nil end
  local waiting = -flight:count()
  if waiting > 0 then flight:post(waiting) end
  if not ok then error(a, 0) end
  return a, b
end

---------------------------------------------------------------------------
-- the methods, wrapped once per Lua VM

local function parallel(state, calls, options)
  local exchanges, concurrency = core.exchanges(state.client, calls, options)
  local values, errors, responses, next_index = {}, {}, {}, 1
  local function worker()
    while next_index <= #exchanges do
      local i = next_index
      next_index = i + 1
      local value, extra = drive(state, exchanges[i])
      if value == nil then errors[i] = extra else values[i], responses[i] = value, extra end
    end
  end
  local threads = {}
  for i = 1, math.min(concurrency, #exchanges) do threads[i] = ngx.thread.spawn(worker) end
  for _, thread in ipairs(threads) do
    local ok, err = ngx.thread.wait(thread)
    if not ok then error(err, 0) end
  end
  return values, errors, responses
end

local wrapped = false

local function wrap_methods()
  if wrapped then return end
  wrapped = true
  local client_methods, resources = core.method_tables()
  local call, token, batch = client_methods.call, client_methods.token, client_methods.parallel
  -- In its nginx state and a phase that can yield: the thread path; else
  -- the C method as it is (which also raises the right argument errors).
  local function state_of(client)
    local state = states[client]
    if state and can_yield() and not core.is_closed(client) then return state end
  end
  client_methods.call = function(self, operation, params, options)
    local state = state_of(self)
    if not state then return call(self, operation, params, options) end
    return drive(state, core.exchange(self, operation, params, options))
  end
  client_methods.token = function(self)
    local state = state_of(self)
    if not state then return token(self) end
    local t, left = core.peek_token(self)
    if not t then
      local ok, err = obtain_token(state)
      if not ok then return nil, err end
      t, left = core.peek_token(self)
    end
    return t, math.floor(left or 0)
  end
  client_methods.parallel = function(self, calls, options)
    local state = state_of(self)
    if not state then return batch(self, calls, options) end
    return parallel(state, calls, options)
  end
  for resource, methods in pairs(resources) do
    for name, original in pairs(methods) do
      local who = resource .. ":" .. name
      methods[name] = function(self, ...)
        -- not a resource (a '.' call): the C method says what is wrong
        if not can_yield() or type(self) ~= "userdata" then return original(self, ...) end
        local client, operation, params, kind = core.prepare(self, name, ...)
        local state = state_of(client)
        if not state or kind ~= "call" then return original(self, ...) end
        return drive(state, core.exchange(client, operation, params, nil, who))
      end
    end
  end
end

--- attach(client, config, options): makes calls on client in yieldable
-- phases go through worker threads. config: what scalekit.new gave
-- core.new; options: the `nginx` setting (or nil).
function M.attach(client, config, options)
  options = options or {}
  if type(ngx.run_worker_thread) ~= "function" then
    -- nginx built without threads, or lua-nginx-module before 0.10.21
    ngx.log(ngx.WARN, "scalekit: no ngx.run_worker_thread here: Scalekit calls will ",
            "block the nginx worker")
    return
  end
  local dict
  if options.shared_dict then
    dict = ngx.shared and ngx.shared[options.shared_dict]
    if not dict then
      error(("scalekit.new: nginx.shared_dict '%s' not found (declare it with "
        .. "`lua_shared_dict %s 1m;` in the http block)"):format(
          options.shared_dict, options.shared_dict), 3)
    end
  end
  local timeout = (config.timeout or 20) + (config.connect_timeout or 5)
  states[client] = {
    client = client,
    pool = options.thread_pool or M.DEFAULT_THREAD_POOL,
    dict = dict,
    token_key = "scalekit:token|" .. config.environment_url .. "|" .. config.client_id,
    -- how long a token request or a wait for a thread VM may take at most
    lease = timeout * ((config.max_retries or 3) + 1) + (config.max_retry_wait or 60),
    -- how long other workers wait for one that fetches a token
    lock_ttl = timeout,
    semaphore = require "ngx.semaphore",
  }
  wrap_methods()
end

return M
