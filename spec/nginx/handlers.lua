-- Request handlers of the nginx integration specs (spec/nginx/nginx.conf).
-- /api/<name>/<arg>/<arg>?query runs M.api[name](args, query) in the
-- content phase and answers its table as JSON (status in the `status` key).
-- luacheck: globals ngx
local cjson = require "cjson.safe"
local scalekit = require "scalekit"

local M = { api = {} }
local api = M.api

local settings, sk, blocking_sk

local function new_client(extra)
  local options = {
    environment_url = settings.environment_url,
    client_id = settings.client_id,
    client_secret = settings.client_secret,
    max_retries = 0,
  }
  for k, v in pairs(extra or {}) do options[k] = v end
  return scalekit.new(options)
end

-- init_by_lua: the clients are created in the master process and inherited
-- by the workers, as an application would do.
function M.init(s)
  settings = s
  sk = new_client { nginx = { shared_dict = s.shared_dict } }
  blocking_sk = new_client { nginx = { enabled = false } }
end

local function error_fields(err)
  if type(err) ~= "table" then return { raised = tostring(err) } end
  return {
    kind = err.kind, status = err.status, code = err.code, message = err.message,
    request_id = err.request_id, retryable = err.retryable, attempts = err.attempts,
    operation = err.operation, is_error = scalekit.is_error(err), text = tostring(err),
  }
end

local function reply(t)
  ngx.status = t.status or 200
  t.status = nil
  ngx.header["content-type"] = "application/json"
  ngx.say(cjson.encode(t))
end

function M.dispatch()
  local parts = {}
  for part in ngx.var.uri:gmatch("[^/]+") do parts[#parts + 1] = ngx.unescape_uri(part) end
  local handler = api[parts[2]]
  if not handler then return reply { status = 404, error = "no handler " .. tostring(parts[2]) } end
  local ok, t = pcall(handler, { select(3, unpack(parts)) }, ngx.req.get_uri_args())
  if not ok then return reply { status = 500, raised = tostring(t), error = error_fields(t) } end
  t.phase = t.phase or ngx.get_phase()
  reply(t)
end

local function result(value, err)
  if value == nil then return { status = err.status or 502, error = error_fields(err) } end
  return { result = value }
end

api.get_org = function(a) return result(sk.organizations:get(a[1])) end
api.blocking_get_org = function(a) return result(blocking_sk.organizations:get(a[1])) end
api.call_get_org = function(a) return result(sk:call("getOrganization", { id = a[1] })) end
api.create_org = function(_, q)
  return result(sk.organizations:create { display_name = q.name, external_id = q.external_id })
end
api.update_org = function(a, q)
  return result(sk.organizations:update(a[1], { display_name = q.name }))
end
api.delete_org = function(a) return result(sk.organizations:delete(a[1])) end
api.list_orgs = function(_, q)
  return result(sk.organizations:list { page_size = tonumber(q.page_size) })
end

api.each_org = function(_, q)
  local ids = {}
  for org in sk.organizations:each { page_size = tonumber(q.page_size) } do
    ids[#ids + 1] = org.id
  end
  return { ids = ids }
end

api.pages_org = function(_, q)
  local sizes = {}
  for page in sk.organizations:pages { page_size = tonumber(q.page_size) } do
    sizes[#sizes + 1] = #page.organizations
  end
  return { sizes = sizes }
end

api.each_user = function(a, q)
  local n, emails = 0, {}
  for user in sk.directories:each_user(a[1], a[2], { page_size = tonumber(q.page_size) }) do
    n = n + 1
    emails[n] = user.email
  end
  return { count = n, first = emails[1], last = emails[n] }
end

-- A failed page must raise the error object, never end the loop quietly.
api.each_fail = function(_, q)
  local ids = {}
  local ok, err = pcall(function()
    for org in sk.organizations:each { page_size = tonumber(q.page_size) } do
      ids[#ids + 1] = org.id
    end
  end)
  return { ok = ok, ids = ids, error = error_fields(err) }
end

api.membership = function(a)
  local added, err = sk.memberships:add(a[1], a[2], { roles = { { name = "admin" } } })
  if not added then return result(nil, err) end
  local removed, err2 = sk.memberships:remove(a[1], a[2])
  if not removed then return result(nil, err2) end
  return { added = added, removed = removed }
end

api.roles = function(a, q)
  local role, err = sk.roles:create(a[1], { name = q.name, permissions = {} })
  if not role then return result(nil, err) end
  local list, err2 = sk.roles:list(a[1])
  if not list then return result(nil, err2) end
  return { role = role, list = list }
end

api.parallel = function(a)
  local values, errors = sk:parallel({
    { "getOrganization", { id = a[1] } },
    { "getOrganization", { id = "org_missing" } },
    { "listOrganizations", { page_size = 2 } },
  }, { concurrency = 3 })
  return {
    first = values[1] and values[1].id, second = errors[2] and error_fields(errors[2]),
    third = values[3] and #values[3].organizations,
    exactly_one = (values[1] ~= nil) ~= (errors[1] ~= nil) and (values[2] ~= nil) ~= (errors[2] ~= nil),
  }
end

-- n slow calls in one sk:parallel
api.parallel_get = function(a)
  local calls = {}
  for i = 1, tonumber(a[2]) do calls[i] = { "getOrganization", { id = a[1] } } end
  local values = sk:parallel(calls)
  local n = 0
  for _ in pairs(values) do n = n + 1 end
  return { ok = n }
end

api.token = function()
  local token, left = sk:token()
  return { token_type = type(token), left = left, left_integer = left == math.floor(left) }
end

api.null_field = function(a)
  local org, err = sk.organizations:get(a[1])
  if not org then return result(nil, err) end
  return { is_null = org.external_id == scalekit.null, display_name = org.display_name }
end

-- Programming mistakes raise in the caller's code, naming the method.
-- Programming mistakes raise in the caller's code, naming the method, and
-- send nothing. (No tail calls below: they would hide the caller's line.)
api.bad_arg = function()
  local msgs, sent = {}, false
  local function try(name, f)
    local ok, msg = pcall(f)
    if ok then sent = true end
    msgs[name] = msg
  end
  try("get", function() local r = sk.organizations:get(42); return r end)
  try("call", function() local r = sk:call("getOrganization", {}); return r end)
  try("create", function() local r = sk.organizations:create { bogus = 1 }; return r end)
  try("each", function() local r = sk.organizations:each { page_size = "x" }; return r end)
  try("dot", function() local r = sk.organizations.get("org_1"); return r end)
  -- cannot be copied to a worker thread: the C method rejects it
  try("function_field", function()
    local r = sk:call("createOrganization", { display_name = print }); return r
  end)
  try("parallel", function() local r = sk:parallel { { "nope" } }; return r end)
  return { ok = sent, messages = msgs }
end

api.closed = function()
  local c = new_client()
  c:close()
  local ok, msg = pcall(function() local r = c.organizations:get("org_1"); return r end)
  local ok2, msg2 = pcall(function() local r = c:call("getOrganization", { id = "org_1" }); return r end)
  return { ok = ok or ok2, get = msg, call = msg2 }
end

-- on_request / on_response run in this VM after the call.
api.hooks = function(a)
  local seen = {}
  local c = new_client {
    on_request = function(info) seen[#seen + 1] = "request " .. info.operation end,
    on_response = function(info)
      seen[#seen + 1] = "response " .. info.operation .. " " .. tostring(info.status)
    end,
  }
  local org, err = c.organizations:get(a[1])
  c:close()
  return { ok = org ~= nil, seen = seen, error = err and error_fields(err) }
end

-- A timer: yieldable, so worker threads too.
api.timer = function(a)
  local results = ngx.shared.results
  local key = "timer-" .. ngx.now() .. "-" .. math.random()
  local ok, err = ngx.timer.at(0, function()
    local org, e = sk.organizations:get(a[1])
    results:set(key, cjson.encode { phase = ngx.get_phase(),
                                    name = org and org.display_name, error = e and e.code })
  end)
  if not ok then return { status = 500, error = err } end
  for _ = 1, 500 do
    local v = results:get(key)
    if v then return { timer = cjson.decode(v) } end
    ngx.sleep(0.01)
  end
  return { status = 504, error = "timer did not finish" }
end

-- A thread_pool that nginx.conf does not declare: a clear error.
api.no_pool = function(a)
  local c = new_client { nginx = { thread_pool = "missing" } }
  local ok, msg = pcall(function() local r = c.organizations:get(a[1]); return r end)
  c:close()
  return { ok = ok, message = msg }
end

api.worker = function(a)
  local org, err = sk.organizations:get(a[1])
  return { worker = ngx.worker.id(), ok = org ~= nil, error = err and error_fields(err) }
end

-- access_by_lua: the caller's organization must exist.
function M.check_organization()
  local id = ngx.var.http_x_organization_id
  if not id or id == "" then return ngx.exit(401) end
  local org, err = sk.organizations:get(id)
  if not org then
    if err.status == 404 then return ngx.exit(403) end
    ngx.log(ngx.ERR, "scalekit: ", tostring(err))
    return ngx.exit(502)
  end
  ngx.ctx.org = org
end

function M.rewrite()
  local id = ngx.var.uri:match("^/rewrite/(.+)$")
  local org, err = sk.organizations:get(id)
  ngx.ctx.org_name = org and (org.display_name .. " " .. ngx.get_phase()) or tostring(err)
end

-- set_by_lua: no yielding here, the C path blocks.
function M.set_phase()
  local id = ngx.var.uri:match("^/set/(.+)$")
  local org, err = sk.organizations:get(id)
  return org and (org.display_name .. " " .. ngx.get_phase()) or tostring(err)
end

return M
