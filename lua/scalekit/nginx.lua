--- scalekit.nginx: the SDK inside nginx (OpenResty, or nginx with
-- lua-nginx-module and lua-resty-core), without blocking the event loop.
--
-- scalekit.new calls attach() when it runs inside nginx. attach() replaces
-- the client's methods (core.set_overrides: sk:call, sk:token, sk:parallel
-- and every resource method) by Lua functions that, in the phases that may
-- yield (rewrite, access, content, timers), send each request from a worker
-- thread: ngx.run_worker_thread runs the real C path (libcurl) in a thread
-- of the `thread_pool`, with a client cached per configuration in that
-- thread's Lua VM (scalekit.nginx_thread), while this request's coroutine
-- waits and the event loop serves everything else. Iterators are Lua here,
-- one worker-thread call per page. In the other phases (init, init_worker,
-- set, log, header and body filters, ssl_*) they call the normal C
-- methods, which block the worker.
--
-- The access token lives here, in the worker's main VM: one per
-- environment and client id, shared by every client object, copied into
-- the worker thread with each call; at most one token request is in flight
-- per worker (other requests wait for it). With `shared_dict`, workers
-- also share it through that lua_shared_dict (and at most one worker asks).
-- luacheck: globals ngx
local core = require "scalekit.core"

local M = {}

M.DEFAULT_THREAD_POOL = "scalekit"

local THREAD_MODULE = "scalekit.nginx_thread"

-- Phases in which ngx.run_worker_thread may yield.
local yieldable = { rewrite = true, server_rewrite = true, access = true, content = true,
                    timer = true }

-- A token with less than this left is not handed to a worker thread (it
-- could expire before the thread sends it).
local MIN_LEFT = 1

local option_types = { enabled = "boolean", thread_pool = "string", shared_dict = "string" }

-- Per worker (this module's tables live in the worker's main VM):
-- tokens[token_key] = {token =, expires = ngx.now() deadline}
-- flights[token_key] = {sem =, deadline =} while a token request runs
local tokens, flights = {}, {}

local unpack = table.unpack or unpack

local function pack(...) return { n = select("#", ...), ... } end

local RAISE = {} -- status of a programming mistake reported by a thread
local COPY = {}  -- status of an argument that cannot be copied to a thread

local function new_error(fields)
  fields.retryable = fields.retryable or false
  fields.attempts = fields.attempts or 0
  return core.error(fields)
end

-- Messages raised by C functions called from here carry our position
-- (or the thread module's): the caller's is put instead, by error(msg, n).
local function strip(msg)
  if type(msg) ~= "string" then return msg end
  return (msg:gsub("^[^\n]-scalekit[/\\]nginx[%w_]*%.lua:%d+: ", "", 1))
end

local function in_thread_phase()
  return yieldable[ngx.get_phase()] == true
end

local function is_closed(sk)
  return not pcall(core.peek_token, sk)
end

---------------------------------------------------------------------------
-- tokens

local function remember(state, token, left, publish)
  local expires = ngx.now() + left
  tokens[state.token_key] = { token = token, expires = expires }
  if not is_closed(state.client) then core.set_token(state.client, token, left) end
  if publish and state.dict and left >= MIN_LEFT then
    -- Not fatal if the dict is full: this worker still has it.
    state.dict:set(state.token_key, string.format("%.3f|%s", expires, token), left)
  end
end

-- A valid token from this worker, the client object or the shared dict.
local function cached_token(state)
  local now = ngx.now()
  local t = tokens[state.token_key]
  if t and t.expires - now >= MIN_LEFT then
    if core.peek_token(state.client) ~= t.token then
      core.set_token(state.client, t.token, t.expires - now)
    end
    return t.token, t.expires - now
  end
  -- A blocking call (other phase) may have fetched one.
  local token, left = core.peek_token(state.client)
  if token and left >= MIN_LEFT then
    remember(state, token, left, true)
    return token, left
  end
  if state.dict then
    local value = state.dict:get(state.token_key)
    local expires, shared = (value or ""):match("^([%d.]+)|(.+)$")
    expires = tonumber(expires)
    if expires and expires - now >= MIN_LEFT then
      remember(state, shared, expires - now, false)
      return shared, expires - now
    end
  end
end

local run_thread -- below

-- Asks a worker thread for a new token; with a shared dict, at most one
-- worker at a time does (the others wait for its result, or for its lock
-- to expire if that worker died).
local function fetch_token(state, deadline)
  local dict, lock, locked = state.dict, state.token_key .. "|lock", false
  while dict do
    local token, left = cached_token(state)
    if token then return token, left end
    local ok, err = dict:add(lock, true, state.lock_ttl)
    if ok then locked = true break end
    if err ~= "exists" or ngx.now() >= deadline then break end -- fetch anyway
    ngx.sleep(0.01)
  end
  local ok, status, token, left, _, events =
    pcall(run_thread, state, "token", state.key, state.config, state.has_hooks)
  if locked then dict:delete(lock) end
  if not ok then error(status, 0) end
  state.replay(events)
  if status == "ok" then
    if left >= MIN_LEFT then remember(state, token, left, true) end
    return token, math.max(left, MIN_LEFT) -- a use-once token: this call only
  end
  if status == RAISE then error(token, 0) end
  return nil, token
end

-- A valid token, fetching one if needed: one request per worker at a time.
local function get_token(state)
  local token, left = cached_token(state)
  if token then return token, left end
  local key = state.token_key
  while true do
    local flight = flights[key]
    if not flight then break end
    local now = ngx.now()
    if now >= flight.deadline then
      -- Its request was aborted mid-fetch: take over.
      if flights[key] == flight then flights[key] = nil end
      break
    end
    flight.sem:wait(flight.deadline - now)
    token, left = cached_token(state)
    if token then return token, left end
    -- It failed: the next waiter (or this one) tries.
  end
  local flight = { sem = state.semaphore.new(0), deadline = ngx.now() + state.lease }
  flights[key] = flight
  local ok, a, b = pcall(fetch_token, state, flight.deadline)
  if flights[key] == flight then flights[key] = nil end
  local waiting = -flight.sem:count()
  if waiting > 0 then flight.sem:post(waiting) end
  if not ok then error(a, 0) end
  return a, b
end

---------------------------------------------------------------------------
-- worker threads

-- ngx.run_worker_thread(pool, THREAD_MODULE, func, ...), waiting for a free
-- thread VM (lua_worker_thread_vm_pool_size) when all are busy. Returns
-- the thread function's values (status first), with RAISE for "raise";
-- or COPY, message when an argument cannot be copied to the thread (the
-- caller then lets the C method reject it); or "fail", error table.
function run_thread(state, func, ...)
  local delay, deadline = 0.001, ngx.now() + state.lease
  while true do
    local r = pack(ngx.run_worker_thread(state.pool, THREAD_MODULE, func, ...))
    if r[1] then
      if r[2] == "raise" then r[2] = RAISE end
      if r[2] == "fail" and type(r[3]) == "table" then r[3] = core.error(r[3]) end
      return unpack(r, 2, r.n)
    end
    local why = tostring(r[2])
    if why:find("not found", 1, true) then
      error(("scalekit: nginx thread_pool '%s' not found: add `thread_pool %s threads=16;` "
        .. "to the main context of nginx.conf (or set nginx.thread_pool)"):format(
          state.pool, state.pool), 0)
    end
    if why:find("in the argument", 1, true) then return COPY, why end
    if why ~= "no available Lua vm" or ngx.now() >= deadline then
      local kind = why:find("in the return value", 1, true) and "decode" or "transport"
      return "fail", new_error { kind = kind, message = "nginx worker thread: " .. why,
                                 retryable = kind == "transport" }
    end
    ngx.sleep(delay)
    delay = math.min(delay * 2, 0.05)
  end
end

-- A token for a thread, or nil, err (err.operation set).
local function token_for(state, operation)
  local token, left = get_token(state)
  if not token and type(left) == "table" and not left.operation then
    left.operation = operation
  end
  return token, left
end

-- Forgets a token the API refused, wherever this worker keeps it, unless
-- another request has replaced it already.
local function forget_token(state, token)
  local t = tokens[state.token_key]
  if t and t.token == token then tokens[state.token_key] = nil end
  if not is_closed(state.client) and core.peek_token(state.client) == token then
    core.set_token(state.client, nil)
  end
  if state.dict then
    local value = state.dict:get(state.token_key)
    if value and value:sub(-#token - 1) == "|" .. token then state.dict:delete(state.token_key) end
  end
end

-- An API 401: the token was revoked or expired early.
local function refused(err)
  return type(err) == "table" and err.kind == "auth" and err.status == 401
end

-- One operation from a worker thread:
-- result | nil, err | RAISE, message | COPY, message.
-- After a 401, one fresh token (one fetch per worker, however many
-- requests saw the 401) and one more try.
local function thread_call(state, operation, params)
  for attempt = 1, 2 do
    local token, left = token_for(state, operation)
    if not token then return nil, left end
    local status, a, events = run_thread(
      state, "call", state.key, state.config, state.has_hooks, token, left, operation, params)
    if status == COPY then return COPY, a end
    state.replay(events)
    if status == "ok" then return a end
    if status == RAISE then return RAISE, strip(a) end
    if attempt == 2 or not refused(a) then
      if type(a) == "table" and not a.operation then a.operation = operation end
      return nil, a
    end
    forget_token(state, token)
  end
end

-- One batch from a worker thread: values, errors, token used
-- | RAISE, message | COPY, message.
local function thread_batch(state, calls, options)
  local token, left = token_for(state, "createToken")
  local status, values, errors, events
  if token then
    status, values, errors, events = run_thread(state, "parallel", state.key,
      state.config, state.has_hooks, token, left, calls, options)
    if status == COPY then return COPY, values end
    state.replay(events)
    if status == "ok" then
      for i, e in pairs(errors or {}) do errors[i] = core.error(e) end
      return values, errors or {}, token
    end
    if status == RAISE then return RAISE, strip(values) end
    left = values
  end
  -- No token, or the thread failed: every call gets the error.
  errors = {}
  for i = 1, #calls do errors[i] = left end
  return {}, errors
end

-- sk:parallel from a worker thread (one thread runs the whole batch):
-- values, errors | RAISE, message | COPY, message. Calls refused with a
-- 401 go once more, with a fresh token.
local function thread_parallel(state, calls, options)
  local values, errors, token = thread_batch(state, calls, options)
  if values == RAISE or values == COPY then return values, errors end
  local again, where = {}, {}
  for i = 1, #calls do
    if refused(errors[i]) then again[#again + 1], where[#where + 1] = calls[i], i end
  end
  if #again == 0 then return values, errors end
  forget_token(state, token)
  local values2, errors2 = thread_batch(state, again, options)
  if values2 == RAISE or values2 == COPY then return values2, errors2 end
  for j, i in ipairs(where) do values[i], errors[i] = values2[j], errors2[j] end
  return values, errors
end

---------------------------------------------------------------------------
-- the blocking path (phases that cannot yield)

-- pcall(original, ...) for a C method, with the worker's token handed to
-- the client before and taken from it after. -> pcall's values, packed.
local function blocking(state, original, ...)
  local sk = state.client
  if not is_closed(sk) and not core.peek_token(sk) then cached_token(state) end
  local r = pack(pcall(original, ...))
  if not is_closed(sk) then
    local token, left = core.peek_token(sk)
    local t = tokens[state.token_key]
    if token and left >= MIN_LEFT and not (t and t.token == token) then
      remember(state, token, left, true)
    end
  end
  return r
end

-- Raises e at the level of the caller of the function calling rethrow, as
-- the C methods do (so call it as a statement, never as `return rethrow()`).
local function rethrow(e)
  if type(e) == "string" then error(strip(e), 3) end
  error(e, 0)
end

-- The C method itself (blocking), for phases that cannot yield and for
-- arguments it must reject: its values, or its error. Always called as a
-- tail call (`return blocking_call(...)`), so level 2 is the method's caller.
local function blocking_call(state, original, ...)
  local r = blocking(state, original, ...)
  if not r[1] then
    if type(r[2]) == "string" then error(strip(r[2]), 2) end
    error(r[2], 0)
  end
  return unpack(r, 2, r.n)
end

---------------------------------------------------------------------------
-- iterators (Lua, so that the loop body may yield between pages)

local function iterate(state, operation, params, pages)
  local items_key = core.operations[operation].items
  local p = {}
  for k, v in pairs(params) do p[k] = v end
  local started, done, items, index, next_token = false, false, nil, 0, nil
  local it = {}
  local function finish() done, items = true, nil end
  function it.close() finish() end
  local function step()
    if done then return nil end
    while true do
      if items and index < #items then
        index = index + 1
        return items[index]
      end
      if started and (next_token == nil or next_token == "") then
        finish()
        return nil
      end
      if started then p.page_token = next_token end
      started = true
      if is_closed(state.client) then
        finish()
        error("iterator: client is closed", 2)
      end
      local page, err
      if in_thread_phase() then
        page, err = thread_call(state, operation, p)
        if page == RAISE then finish(); error(err, 2) end
        if page == COPY then
          page, err = nil, new_error { kind = "transport", operation = operation, message = err }
        end
      else
        local r = blocking(state, state.originals.call, state.client, operation, p)
        if not r[1] then finish(); rethrow(r[2]) end
        page, err = r[2], r[3]
      end
      if page == nil then
        finish()
        error(err, 0) -- never looks like the end of the list
      end
      local nt = page.next_page_token
      if type(nt) == "string" and nt ~= "" and nt == p.page_token then
        finish()
        error(new_error { kind = "decode", operation = operation,
                          message = "next_page_token repeats the token of the request" }, 0)
      end
      next_token = type(nt) == "string" and nt or nil
      if pages then return page end
      items = type(page[items_key]) == "table" and page[items_key] or {}
      index = 0
    end
  end
  return step, it
end

---------------------------------------------------------------------------
-- attach

local function check_options(options)
  for key, value in pairs(options) do
    local expected = option_types[key]
    if not expected then
      error(("scalekit.new: unknown nginx setting '%s'"):format(tostring(key)), 4)
    end
    if type(value) ~= expected then
      error(("scalekit.new: nginx setting '%s' must be a %s (got %s)"):format(
        key, expected, type(value)), 4)
    end
  end
end

-- A string naming the configuration: clients cached in worker threads are
-- shared by every client object with the same one.
local function config_key(config, hooks)
  local keys, parts = {}, {}
  for k in pairs(config) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = tostring(config[k])
    parts[#parts + 1] = ("%s=%s:%d:%s"):format(k, type(config[k]), #v, v)
  end
  if hooks then parts[#parts + 1] = "hooks" end
  return table.concat(parts, "\n")
end

--- attach(client, config, options) -> client. config: what scalekit.new
-- gave core.new; options: the `nginx` setting (or nil).
function M.attach(sk, config, options)
  options = options or {}
  check_options(options)
  local ngx = rawget(_G, "ngx")
  if options.enabled == false or type(ngx) ~= "table" or type(ngx.get_phase) ~= "function" then
    return sk -- not inside nginx (or not wanted): the C methods
  end
  if type(ngx.run_worker_thread) ~= "function" then
    -- nginx built without threads, or lua-nginx-module before 0.10.21
    ngx.log(ngx.WARN, "scalekit: no ngx.run_worker_thread here: Scalekit calls will ",
            "block the nginx worker")
    return sk
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

  local thread_config, hooks = {}, {}
  for k, v in pairs(config) do
    if type(v) == "function" then hooks[k] = v else thread_config[k] = v end
  end
  local has_hooks = next(hooks) ~= nil
  local timeout = (config.timeout or 20) + (config.connect_timeout or 5)
  local state = {
    client = sk,
    pool = options.thread_pool or M.DEFAULT_THREAD_POOL,
    dict = dict,
    config = thread_config,
    has_hooks = has_hooks,
    key = config_key(thread_config, has_hooks),
    token_key = "scalekit:token|" .. config.environment_url .. "|" .. config.client_id,
    -- how long a token request or a wait for a thread VM may take at most
    lease = timeout * ((config.max_retries or 3) + 1) + (config.max_retry_wait or 60),
    -- how long other workers wait for one that fetches a token
    lock_ttl = timeout,
    semaphore = require "ngx.semaphore",
    originals = { call = sk.call, token = sk.token, parallel = sk.parallel },
    resources = {},
  }
  -- Hooks run here, after the call, with what the thread recorded; a
  -- failing hook is ignored, as in the C path.
  state.replay = function(events)
    if not events then return end
    for _, e in ipairs(events) do
      local hook = hooks[e[1]]
      if hook then pcall(hook, e[2]) end
    end
  end

  local overrides = {}
  overrides.call = function(self, operation, params)
    if not in_thread_phase() or not rawequal(self, sk) or is_closed(sk)
      or type(operation) ~= "string" or not core.operations[operation]
      or (params ~= nil and type(params) ~= "table") then
      -- the C method: blocking, or raising the right error without sending
      return blocking_call(state, state.originals.call, self, operation, params)
    end
    local result, err = thread_call(state, operation, params)
    if result == RAISE then error(err, 2) end
    if result == COPY then
      return blocking_call(state, state.originals.call, self, operation, params)
    end
    return result, err
  end
  overrides.parallel = function(self, calls, opts)
    if not in_thread_phase() or not rawequal(self, sk) or is_closed(sk)
      or type(calls) ~= "table" or (opts ~= nil and type(opts) ~= "table") then
      return blocking_call(state, state.originals.parallel, self, calls, opts)
    end
    local values, errors = thread_parallel(state, calls, opts)
    if values == RAISE then error(errors, 2) end
    if values == COPY then
      return blocking_call(state, state.originals.parallel, self, calls, opts)
    end
    return values, errors
  end
  overrides.token = function(self)
    if not in_thread_phase() or not rawequal(self, sk) or is_closed(sk) then
      return blocking_call(state, state.originals.token, self)
    end
    local token, left = get_token(state)
    if not token then return nil, left end
    return token, math.floor(left)
  end
  for resource, methods in pairs(core.methods) do
    local resource_ud = sk[resource]
    local originals = {}
    local replaced = {}
    state.resources[resource] = resource_ud
    for name in pairs(methods) do
      local original = resource_ud[name]
      originals[name] = original
      replaced[name] = function(self, ...)
        if not in_thread_phase() or not rawequal(self, resource_ud) then
          return blocking_call(state, original, self, ...)
        end
        local ok, client, operation, params, kind = pcall(core.prepare, self, name, ...)
        if not ok then error(strip(client), 2) end
        if kind == "call" then
          local result, err = thread_call(state, operation, params)
          if result == RAISE then error(err, 2) end
          if result == COPY then
            return blocking_call(state, original, self, ...)
          end
          return result, err
        end
        return iterate(state, operation, params, kind == "pages")
      end
    end
    state.originals[resource] = originals
    overrides[resource] = replaced
  end
  core.set_overrides(sk, overrides)
  return sk
end

return M
