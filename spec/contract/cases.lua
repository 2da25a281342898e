-- Shared part of the contract specs (mock_contract.lua, proxy_contract.lua):
-- one row per operation of api/scalekit-openapi.yaml, each calling the
-- SDK's public method(s) for it and then sk:call(operationId, params), with
-- realistic arguments including the optional fields. Not a spec itself:
-- `make test-contract` runs files matching "_contract" under spec/contract.
--
-- Every SDK call goes through Runner:step(), which fails the spec when the
-- call fails (nil, err, or a raised error), when Prism logged a violation
-- while it ran, and when a request carried a query parameter or body field
-- the document does not define for the operation (Prism lets those pass).
-- The failure message carries the SDK error, the violations Prism listed in
-- its 422 (request) or 500 (response, proxy --errors) body, Prism's log
-- lines for the call, and the HTTP exchanges.

local cjson = require "cjson.safe"
local socket = require "socket"
local scalekit = require "scalekit"
local prism_helper = require "spec.helpers.prism"

local C = {}

-- Realistic credentials: long enough that the SDK's redaction of the secret
-- in hook output does not garble unrelated text.
C.CLIENT_ID = "skc_contract_4f9c1e"
C.CLIENT_SECRET = "test_contract_secret_7d2b9a6e51"

local MAX_BODY = 1500

-- Lua 5.1 / LuaJIT have no table.pack/unpack or integer subtype: there a
-- whole number is what the SDK can give for a JSON integer.
local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end
local function is_integer(v)
  if math.type then return math.type(v) == "integer" end
  return type(v) == "number" and v % 1 == 0
end

local function truncate(s, n)
  s = tostring(s)
  if #s <= n then return s end
  return s:sub(1, n) .. ("... (%d bytes)"):format(#s)
end

local function encode(v)
  if v == nil then return "nil" end
  local s = cjson.encode(v)
  return s or tostring(v)
end

---------------------------------------------------------------------------
-- Client with an exchange recorder, wrapped to record which public methods
-- were called (checked against scalekit.methods at the end).
---------------------------------------------------------------------------

function C.client(url, seen, opts)
  -- exchanges: this step's; requests/operations: totals for the summary.
  local rec = { exchanges = {}, requests = 0, operations = {} }
  local config = {
    environment_url = url,
    client_id = opts and opts.client_id or C.CLIENT_ID,
    client_secret = opts and opts.client_secret or C.CLIENT_SECRET,
    max_retries = 0,
    timeout = 15,
    on_request = function(r)
      rec.exchanges[#rec.exchanges + 1] = { request = r }
      rec.requests = rec.requests + 1
      rec.operations[r.operation] = true
    end,
    on_response = function(r)
      local last = rec.exchanges[#rec.exchanges]
      if last and not last.response then last.response = r
      else rec.exchanges[#rec.exchanges + 1] = { response = r } end
    end,
  }
  local sk = scalekit.new(config)

  local resources = {}
  local tracked = setmetatable({}, {
    __index = function(_, key)
      local v = sk[key]
      if type(v) == "function" then
        return function(_, ...)
          if key == "call" then
            local op = ...
            seen["call:" .. tostring(op)] = true
          else
            seen["sk:" .. key] = true
          end
          return v(sk, ...)
        end
      end
      if scalekit.methods[key] and v ~= nil then
        resources[key] = resources[key] or setmetatable({}, {
          __index = function(_, name)
            local f = v[name]
            if type(f) ~= "function" then return f end
            return function(_, ...)
              seen[key .. ":" .. name] = true
              return f(v, ...)
            end
          end,
        })
        return resources[key]
      end
      return v
    end,
  })
  return tracked, rec, sk
end

---------------------------------------------------------------------------
-- Failure reports
---------------------------------------------------------------------------

-- "query.page_size: Request query parameter page_size must be integer"
local function validation_lines(body)
  local out = {}
  local doc = type(body) == "string" and cjson.decode(body)
  if type(doc) ~= "table" or type(doc.validation) ~= "table" then return out end
  for _, v in ipairs(doc.validation) do
    if type(v) == "table" then
      local loc = type(v.location) == "table" and table.concat(v.location, ".") or "?"
      out[#out + 1] = ("%s [%s] %s: %s"):format(tostring(v.severity), tostring(v.code), loc,
        tostring(v.message))
    end
  end
  if #out > 0 and doc.title then table.insert(out, 1, "(" .. tostring(doc.title) .. ")") end
  return out
end

local function describe_error(err)
  if type(err) ~= "table" and type(err) ~= "userdata" then return tostring(err) end
  local parts = { tostring(err) }
  local ok, fields = pcall(function()
    return ("status=%s kind=%s code=%s message=%s details=%s"):format(
      tostring(err.status), tostring(err.kind), tostring(err.code), tostring(err.message),
      encode(err.details))
  end)
  if ok then parts[#parts + 1] = "  " .. fields end
  return table.concat(parts, "\n")
end

local function report(label, problem, rec, prism_lines)
  local lines = { label .. ": " .. problem }
  local violations = {}
  for _, x in ipairs(rec.exchanges) do
    for _, v in ipairs(validation_lines(x.response and x.response.body)) do
      violations[#violations + 1] = "  " .. v
    end
  end
  if #violations > 0 then
    lines[#lines + 1] = "validator response lists:"
    for _, v in ipairs(violations) do lines[#lines + 1] = v end
  end
  if prism_lines and #prism_lines > 0 then
    lines[#lines + 1] = "Prism log:"
    for _, l in ipairs(prism_lines) do lines[#lines + 1] = "  " .. l end
  end
  lines[#lines + 1] = "HTTP exchanges (bodies as the SDK hooks see them, token/secret redacted):"
  for _, x in ipairs(rec.exchanges) do
    local q, r = x.request, x.response
    if q then
      lines[#lines + 1] = ("  > %s %s%s"):format(q.method, q.url,
        q.body and ("  " .. truncate(q.body, MAX_BODY)) or "")
    end
    if r then
      lines[#lines + 1] = ("  < %s%s  %s"):format(tostring(r.status or "-"),
        r.error and (" (" .. r.error .. ")") or "", truncate(r.body or "", MAX_BODY))
    end
  end
  return table.concat(lines, "\n")
end

---------------------------------------------------------------------------
-- Runner: one per setup (mock / proxy)
---------------------------------------------------------------------------

local Runner = {}
Runner.__index = Runner

-- prism: a spec.helpers.prism server; sk/rec from C.client.
function C.runner(prism, sk, rec, mode)
  return setmetatable({ prism = prism, sk = sk, rec = rec, mode = mode, steps = 0 }, Runner)
end

--- One line for the log: what went through Prism, and what it found.
function Runner:summary(problems)
  local sent, total = 0, 0
  for _, op in ipairs(C.document_operations()) do
    total = total + 1
    if self.rec.operations[op] then sent = sent + 1 end
  end
  return ("contract [%s]: Prism %s (ready in %.1f s): %d/%d operations, %d SDK calls, " ..
    "%d HTTP requests validated, %d violation(s)"):format(self.mode,
    prism_helper.version() or "?", self.prism.startup_seconds or 0,
    sent, total, self.steps, self.rec.requests, #problems)
end

--- Runs fn (one SDK call, or a loop over an iterator); returns its results.
-- Raises a detailed error when it fails or Prism logged a violation.
function Runner:step(label, fn)
  self.rec.exchanges = {}
  self.steps = self.steps + 1
  local mark = self.prism:mark()
  local res = pack(pcall(fn))
  local problem
  if not res[1] then
    problem = "raised " .. describe_error(res[2])
  elseif res[2] == nil and res.n >= 3 then
    problem = "returned nil, " .. describe_error(res[3])
  elseif res[2] == nil then
    problem = "returned nil"
  end
  -- Prism logs asynchronously; on a failure give it time to finish, so that
  -- the report is complete and no line leaks into the next step's window.
  if problem then socket.sleep(0.25) end
  local found = self.prism:violations(mark)
  local extra = C.undocumented(self.rec.exchanges)
  if #extra > 0 then
    problem = (problem and problem .. "\n" or "") ..
      "sent what the document does not define: " .. table.concat(extra, "; ")
  end
  if problem or #found > 0 then
    error(report(("[%s] %s"):format(self.mode, label),
      problem or "Prism logged a violation (the call itself succeeded)", self.rec, found), 0)
  end
  return unpack(res, 2, res.n)
end

--- Runs fn, which must fail with HTTP `status` (an error response the
-- document defines for the operation) without Prism logging a violation.
function Runner:step_error(label, status, fn)
  self.rec.exchanges = {}
  self.steps = self.steps + 1
  local mark = self.prism:mark()
  local ok, res, err = pcall(fn)
  local problem
  if not ok then
    problem = "raised " .. describe_error(res)
  elseif res ~= nil then
    problem = ("succeeded, expected HTTP %d"):format(status)
  elseif type(err) ~= "table" and type(err) ~= "userdata" or err.status ~= status then
    problem = ("expected HTTP %d, got %s"):format(status, describe_error(err))
  end
  if problem then socket.sleep(0.25) end
  local found = self.prism:violations(mark)
  if problem or #found > 0 then
    error(report(("[%s] %s"):format(self.mode, label),
      problem or "Prism logged a violation", self.rec, found), 0)
  end
  return err
end

--- Walks an iterator, at most `limit` items (nil: all); returns the count.
function Runner:walk(label, make_iter, limit)
  return self:step(label, function()
    local n = 0
    for _ in make_iter() do
      n = n + 1
      if limit and n >= limit then break end
    end
    return n
  end)
end

--- Prism's whole log checked for violations, each with its request line.
function C.sweep(prism)
  socket.sleep(0.3)
  local problems, current = {}, "?"
  for line in prism:log():gmatch("[^\n]+") do
    local req = line:match("%[HTTP SERVER%]%s+(%a+%s+%S+)")
    if req then current = req end
    if prism_helper.is_problem(line) then
      problems[#problems + 1] = current .. ": " .. (line:gsub("^%[[^%]]*%]%s*", ""))
    end
  end
  return problems
end

--- What the document allows each operation to send besides path
-- parameters: { [operationId] = { query = set, body = set | nil } }, from a
-- line-based read of api/scalekit-openapi.yaml (its layout: two-space
-- indents, operationId first in each operation, request bodies as $ref).
-- Prism does not flag unknown query parameters or body fields (the schemas
-- do not say additionalProperties: false), so the runner checks these.
local document_cache
function C.document(path)
  if document_cache and not path then return document_cache end
  local f = assert(io.open(path or "api/scalekit-openapi.yaml", "rb"))
  local lines = {}
  for line in f:lines() do lines[#lines + 1] = line end
  f:close()
  local params, schemas, ops = {}, {}, {}
  local section, name, in_props
  for _, line in ipairs(lines) do
    local top = line:match("^  (%w+):%s*$")
    if line:match("^%S") then section = line:match("^(%w+):") end
    if top then section, name, in_props = "components." .. top, nil, false end
    if section == "components.parameters" then
      name = line:match("^    (%w+):%s*$") or name
      local k, v = line:match("^      (%a+):%s*(%S+)%s*$")
      if name and k then params[name] = params[name] or {}; params[name][k] = v end
    elseif section == "components.schemas" then
      local n = line:match("^    (%w+):%s*$")
      if n then name, in_props = n, false; schemas[n] = {} end
      if line:match("^      properties:%s*$") then in_props = true
      elseif line:match("^      %S") then in_props = false end
      local prop = in_props and line:match("^        ([%w_]+):")
      if prop then schemas[name][prop] = true end
    end
  end
  local op, where, pending
  for _, line in ipairs(lines) do
    local id = line:match("^      operationId:%s*(%w+)")
    if id then op, where = { query = {} }, nil; ops[id] = op
    elseif op and line:match("^%s?%s?%s?%s?%S") then op = nil -- next operation or path
    elseif op then
      local key = line:match("^      (%w+):")
      if key then where = key end
      local ref = line:match("%$ref:%s*'#/components/parameters/(%w+)'")
      if where == "parameters" and ref and params[ref] and params[ref]["in"] == "query" then
        op.query[params[ref].name] = true
      end
      pending = line:match("^      %- name:%s*([%w_]+)") or pending
      if pending and line:match("^        in:%s*query") then op.query[pending] = true; pending = nil end
      local schema = line:match("%$ref:%s*'#/components/schemas/(%w+)'")
      if where == "requestBody" and schema then op.body = schemas[schema] end
    end
  end
  if not path then document_cache = ops end
  return ops
end

local function url_decode(s)
  return (s:gsub("%+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

--- Query parameters and body fields the document does not define, as
-- "operationId: query foo" strings (empty when all is documented).
function C.undocumented(exchanges)
  local doc, out = C.document(), {}
  for _, x in ipairs(exchanges) do
    local q = x.request
    local op = q and doc[q.operation]
    if op then
      for key in (q.url:match("%?(.*)$") or ""):gmatch("([^&=]+)=?[^&]*") do
        key = url_decode(key)
        if not op.query[key] then out[#out + 1] = q.operation .. ": query parameter " .. key end
      end
      if q.body and op.body then
        local keys = {}
        local obj = cjson.decode(q.body)
        if type(obj) == "table" then
          for k in pairs(obj) do keys[#keys + 1] = k end
        else -- the form-encoded token request
          for k in q.body:gmatch("([^&=]+)=?[^&]*") do keys[#keys + 1] = url_decode(k) end
        end
        -- The SDK's hooks redact every occurrence of the current token in
        -- the body; with a short token (a mock's) that can hit a key.
        for _, k in ipairs(keys) do
          if not op.body[k] and not tostring(k):find("[redacted]", 1, true) then
            out[#out + 1] = q.operation .. ": body field " .. tostring(k)
          end
        end
      elseif q.body and q.body ~= "" and not op.body then
        out[#out + 1] = q.operation .. ": a request body (the operation has none)"
      end
    end
  end
  return out
end

--- operationIds in the OpenAPI document, sorted.
function C.document_operations(path)
  local f = assert(io.open(path or "api/scalekit-openapi.yaml", "rb"))
  local text = f:read("*a")
  f:close()
  local ops = {}
  for op in text:gmatch("\n%s*operationId:%s*['\"]?([%w_]+)") do ops[#ops + 1] = op end
  table.sort(ops)
  return ops
end

--- Names of public methods (and sk:call operationIds) not in `seen`.
function C.missing(seen)
  local missing = {}
  for resource, methods in pairs(scalekit.methods) do
    for name in pairs(methods) do
      if not seen[resource .. ":" .. name] then missing[#missing + 1] = resource .. ":" .. name end
    end
  end
  for op in pairs(scalekit.operations) do
    if not seen["call:" .. op] then missing[#missing + 1] = "sk:call(" .. op .. ")" end
  end
  if not seen["sk:token"] then missing[#missing + 1] = "sk:token" end
  table.sort(missing)
  return missing
end

---------------------------------------------------------------------------
-- The operations. ctx: mode ("mock" | "proxy"), ids (org, seeded org,
-- connection, directory, user, identifier...), counts (proxy: seeded sizes).
-- run(r, ctx): the public method(s); call(r, ctx): the same via sk:call.
-- In the mock, next_page_token is a placeholder ("string") that the mock
-- hands back again whatever token it gets: iterators are bounded there.
---------------------------------------------------------------------------

local function bounded(ctx) return ctx.mode == "mock" and 1 or nil end

local function is_list(t, key)
  assert(type(t) == "table", "result is not a table")
  assert(type(t[key]) == "table", ("result has no %s array"):format(key))
  return t[key]
end

-- The token of page 1 for a page-2 request: the placeholder in the mock,
-- the real one behind the proxy (nil when there is a single page).
local function next_token(page)
  local t = page.next_page_token
  if type(t) == "string" and t ~= "" then return t end
  return nil
end

local function expect_eq(expected, actual, what)
  if expected ~= actual then
    error(("%s: expected %s, got %s"):format(what, encode(expected), encode(actual)), 2)
  end
end

-- Walks `each` and `pages` of a paginated method; behind the proxy checks
-- they agree and see `total` items (when given).
local function check_iterators(r, ctx, label, each, pages, total)
  local n_items = r:walk(label .. " each", each, bounded(ctx))
  local n_pages = r:walk(label .. " pages", pages, bounded(ctx))
  if ctx.mode == "proxy" then
    assert(n_pages > 1, label .. ": expected several pages behind the proxy")
    if total then expect_eq(total, n_items, label .. " each item count") end
  else
    expect_eq(1, n_items, label .. " each (bounded)")
    expect_eq(1, n_pages, label .. " pages (bounded)")
  end
end

C.cases = {
  {
    op = "createToken",
    run = function(r, ctx)
      local token, left = r:step("sk:token()", function() return r.sk:token() end)
      assert(type(token) == "string" and token ~= "", "token is not a non-empty string")
      assert(type(left) == "number", "seconds left is not a number")
      if ctx.mode == "mock" then
        -- The mock says expires_in: 0: the token is used once, then replaced.
        expect_eq("string", token, "mock token")
        assert(left <= 0, "expires_in 0 must leave no time on the token")
      end
    end,
    call = function(r)
      local res = r:step("sk:call createToken", function()
        return r.sk:call("createToken", {
          grant_type = "client_credentials", client_id = C.CLIENT_ID, client_secret = C.CLIENT_SECRET,
        })
      end)
      assert(type(res) == "table" and type(res.access_token) == "string", "no access_token")
      assert(is_integer(res.expires_in), "expires_in is not an integer")
    end,
  },
  {
    op = "createOrganization",
    run = function(r, ctx)
      local org = r:step("organizations:create", function()
        return r.sk.organizations:create {
          display_name = "Acme Corporation",
          external_id = "acme-" .. ctx.suffix,
          metadata = { plan = "enterprise", region = "eu-west-1" },
        }
      end)
      assert(type(org.id) == "string", "organization is not unwrapped (no id)")
      if ctx.mode == "proxy" then
        expect_eq("Acme Corporation", org.display_name, "display_name")
        expect_eq("enterprise", org.metadata.plan, "metadata.plan")
        ctx.org = org.id
      end
    end,
    call = function(r, ctx)
      local res = r:step("sk:call createOrganization", function()
        return r.sk:call("createOrganization", {
          display_name = "Globex Inc", external_id = "globex-" .. ctx.suffix,
          metadata = { plan = "startup", owner = "ops@globex.example" },
        })
      end)
      assert(type(res) == "table", "no result")
      if ctx.mode == "proxy" then ctx.org = (res.organization or res).id end
    end,
  },
  {
    op = "listOrganizations",
    run = function(r, ctx)
      local sk = r.sk
      local page = r:step("organizations:list", function()
        return sk.organizations:list { page_size = 1 }
      end)
      is_list(page, "organizations")
      assert(is_integer(page.total_size), "total_size is not an integer")
      local token = next_token(page)
      assert(token, "page 1 has no next_page_token")
      local page2 = r:step("organizations:list page_token", function()
        return sk.organizations:list { page_size = 1, page_token = token }
      end)
      is_list(page2, "organizations")
      check_iterators(r, ctx, "organizations",
        function() return sk.organizations:each { page_size = 1 } end,
        function() return sk.organizations:pages { page_size = 1 } end,
        ctx.mode == "proxy" and page.total_size or nil)
    end,
    call = function(r)
      local page = r:step("sk:call listOrganizations", function()
        return r.sk:call("listOrganizations", { page_size = 1 })
      end)
      is_list(page, "organizations")
      local token = next_token(page)
      r:step("sk:call listOrganizations page_token", function()
        return r.sk:call("listOrganizations", { page_size = 1, page_token = token })
      end)
    end,
  },
  {
    op = "getOrganization",
    run = function(r, ctx)
      local org = r:step("organizations:get", function() return r.sk.organizations:get(ctx.org) end)
      assert(type(org.id) == "string", "organization is not unwrapped")
      if ctx.mode == "proxy" then expect_eq(ctx.org, org.id, "id") end
      if ctx.mode == "mock" then
        -- Path parameters are percent-encoded: unencoded, "/", "?" and "#"
        -- would make Prism see another path (404) or drop the rest.
        r:step("organizations:get (id needing percent-encoding)", function()
          return r.sk.organizations:get("acme/eu?region=1#x y")
        end)
      end
    end,
    call = function(r, ctx)
      r:step("sk:call getOrganization", function()
        return r.sk:call("getOrganization", { id = ctx.org })
      end)
    end,
  },
  {
    op = "updateOrganization",
    run = function(r, ctx)
      local org = r:step("organizations:update", function()
        return r.sk.organizations:update(ctx.org, {
          display_name = "Acme Corp (EU)",
          external_id = "acme-eu-" .. ctx.suffix,
          metadata = { plan = "enterprise-plus", billing_contact = "billing@acme.example" },
        })
      end)
      if ctx.mode == "proxy" then
        expect_eq("Acme Corp (EU)", org.display_name, "display_name")
        expect_eq("billing@acme.example", org.metadata.billing_contact, "metadata.billing_contact")
      end
      -- only one optional field, and an empty metadata object ({} in JSON)
      r:step("organizations:update (metadata = {})", function()
        return r.sk.organizations:update(ctx.org, { display_name = "Acme Corp", metadata = {} })
      end)
    end,
    call = function(r, ctx)
      r:step("sk:call updateOrganization", function()
        return r.sk:call("updateOrganization", {
          id = ctx.org, display_name = "Globex Corporation", external_id = "globex-hq-" .. ctx.suffix,
          metadata = { plan = "growth" },
        })
      end)
    end,
  },
  {
    op = "updateOrganizationSettings",
    run = function(r, ctx)
      local org = r:step("organizations:update_settings", function()
        return r.sk.organizations:update_settings(ctx.org, {
          features = { { name = "sso", enabled = true }, { name = "dir_sync", enabled = false } },
        })
      end)
      assert(type(org.id) == "string", "organization is not unwrapped")
      if ctx.mode == "proxy" then
        local sso
        for _, f in ipairs(org.settings.features) do if f.name == "sso" then sso = f.enabled end end
        expect_eq(true, sso, "settings sso enabled")
      end
      r:step("organizations:update_settings (features = {})", function()
        return r.sk.organizations:update_settings(ctx.org, { features = {} })
      end)
    end,
    call = function(r, ctx)
      r:step("sk:call updateOrganizationSettings", function()
        return r.sk:call("updateOrganizationSettings", {
          id = ctx.org, features = { { name = "dir_sync", enabled = true } },
        })
      end)
    end,
  },
  {
    op = "createPortalLink",
    run = function(r, ctx)
      local link = r:step("organizations:portal_link", function()
        return r.sk.organizations:portal_link(ctx.org)
      end)
      assert(type(link.location) == "string", "portal link has no location")
      assert(link.location:match("^https?://"), "location is not a URL")
    end,
    call = function(r, ctx)
      r:step("sk:call createPortalLink", function()
        return r.sk:call("createPortalLink", { id = ctx.org })
      end)
    end,
  },
  {
    op = "listConnections",
    run = function(r, ctx)
      local sk = r.sk
      local page = r:step("connections:list", function()
        return sk.connections:list { organization_id = ctx.seeded_org, page_size = 1 }
      end)
      local conns = is_list(page, "connections")
      if ctx.mode == "proxy" then expect_eq(ctx.seeded_org, conns[1].organization_id, "filter") end
      local token = next_token(page)
      assert(token, "page 1 has no next_page_token")
      r:step("connections:list page_token", function()
        return sk.connections:list { organization_id = ctx.seeded_org, page_size = 1, page_token = token }
      end)
      r:step("connections:list (no filter)", function() return sk.connections:list() end)
      check_iterators(r, ctx, "connections",
        function() return sk.connections:each { organization_id = ctx.seeded_org, page_size = 1 } end,
        function() return sk.connections:pages { organization_id = ctx.seeded_org, page_size = 1 } end,
        ctx.counts and ctx.counts.connections_per_org)
    end,
    call = function(r, ctx)
      local page = r:step("sk:call listConnections", function()
        return r.sk:call("listConnections", { organization_id = ctx.seeded_org, page_size = 1 })
      end)
      r:step("sk:call listConnections page_token", function()
        return r.sk:call("listConnections", {
          organization_id = ctx.seeded_org, page_size = 1, page_token = next_token(page),
        })
      end)
    end,
  },
  {
    op = "listOrganizationConnections",
    run = function(r, ctx)
      local res = r:step("connections:list_by_organization", function()
        return r.sk.connections:list_by_organization(ctx.seeded_org)
      end)
      local conns = is_list(res, "connections")
      if ctx.mode == "proxy" then expect_eq(ctx.counts.connections_per_org, #conns, "connections") end
    end,
    call = function(r, ctx)
      r:step("sk:call listOrganizationConnections", function()
        return r.sk:call("listOrganizationConnections", { organization_id = ctx.seeded_org })
      end)
    end,
  },
  {
    op = "getConnection",
    run = function(r, ctx)
      local conn = r:step("connections:get", function()
        return r.sk.connections:get(ctx.seeded_org, ctx.connection)
      end)
      assert(type(conn.id) == "string", "connection has no id")
      if ctx.mode == "proxy" then expect_eq(ctx.connection, conn.id, "connection id") end
    end,
    call = function(r, ctx)
      r:step("sk:call getConnection", function()
        return r.sk:call("getConnection", { organization_id = ctx.seeded_org, id = ctx.connection })
      end)
    end,
  },
  {
    op = "listDirectories",
    run = function(r, ctx)
      local res = r:step("directories:list", function()
        return r.sk.directories:list(ctx.seeded_org)
      end)
      local dirs = is_list(res, "directories")
      if ctx.mode == "proxy" then expect_eq(ctx.directory, dirs[1].id, "directory id") end
    end,
    call = function(r, ctx)
      r:step("sk:call listDirectories", function()
        return r.sk:call("listDirectories", { organization_id = ctx.seeded_org })
      end)
    end,
  },
  {
    op = "getDirectory",
    run = function(r, ctx)
      local dir = r:step("directories:get", function()
        return r.sk.directories:get(ctx.seeded_org, ctx.directory)
      end)
      assert(type(dir.id) == "string", "directory has no id")
    end,
    call = function(r, ctx)
      r:step("sk:call getDirectory", function()
        return r.sk:call("getDirectory", { organization_id = ctx.seeded_org, directory_id = ctx.directory })
      end)
    end,
  },
  {
    op = "listDirectoryUsers",
    run = function(r, ctx)
      local sk, org, dir = r.sk, ctx.seeded_org, ctx.directory
      local page = r:step("directories:list_users", function()
        return sk.directories:list_users(org, dir, { page_size = 2 })
      end)
      is_list(page, "users")
      assert(is_integer(page.total_size), "total_size is not an integer")
      r:step("directories:list_users page_token", function()
        return sk.directories:list_users(org, dir, { page_size = 2, page_token = next_token(page) })
      end)
      r:step("directories:list_users (no options)", function()
        return sk.directories:list_users(org, dir)
      end)
      check_iterators(r, ctx, "directory users",
        function() return sk.directories:each_user(org, dir, { page_size = 2 }) end,
        function() return sk.directories:user_pages(org, dir, { page_size = 2 }) end,
        ctx.counts and ctx.counts.users)
    end,
    call = function(r, ctx)
      local page = r:step("sk:call listDirectoryUsers", function()
        return r.sk:call("listDirectoryUsers", {
          organization_id = ctx.seeded_org, directory_id = ctx.directory, page_size = 2,
        })
      end)
      r:step("sk:call listDirectoryUsers page_token", function()
        return r.sk:call("listDirectoryUsers", {
          organization_id = ctx.seeded_org, directory_id = ctx.directory, page_size = 2,
          page_token = next_token(page),
        })
      end)
    end,
  },
  {
    op = "listDirectoryGroups",
    run = function(r, ctx)
      local sk, org, dir = r.sk, ctx.seeded_org, ctx.directory
      local page = r:step("directories:list_groups", function()
        return sk.directories:list_groups(org, dir, { page_size = 2 })
      end)
      is_list(page, "groups")
      r:step("directories:list_groups page_token", function()
        return sk.directories:list_groups(org, dir, { page_size = 2, page_token = next_token(page) })
      end)
      check_iterators(r, ctx, "directory groups",
        function() return sk.directories:each_group(org, dir, { page_size = 2 }) end,
        function() return sk.directories:group_pages(org, dir, { page_size = 2 }) end,
        ctx.counts and ctx.counts.groups)
    end,
    call = function(r, ctx)
      local page = r:step("sk:call listDirectoryGroups", function()
        return r.sk:call("listDirectoryGroups", {
          organization_id = ctx.seeded_org, directory_id = ctx.directory, page_size = 2,
        })
      end)
      r:step("sk:call listDirectoryGroups page_token", function()
        return r.sk:call("listDirectoryGroups", {
          organization_id = ctx.seeded_org, directory_id = ctx.directory, page_size = 2,
          page_token = next_token(page),
        })
      end)
    end,
  },
  {
    op = "addMembership",
    run = function(r, ctx)
      local m = r:step("memberships:add", function()
        return r.sk.memberships:add(ctx.seeded_org, ctx.user, {
          roles = { "admin", "billing_manager" },
          metadata = { invited_by = "owner@acme.example", department = "finance" },
        })
      end)
      assert(type(m.roles) == "table", "membership has no roles")
      if ctx.mode == "proxy" then expect_eq("admin", m.roles[1], "roles[1]") end
    end,
    call = function(r, ctx)
      r:step("sk:call addMembership", function()
        return r.sk:call("addMembership", {
          organization_id = ctx.seeded_org, id = ctx.user,
          roles = { "member" }, metadata = { source = "scim" },
        })
      end)
    end,
  },
  {
    op = "updateMembership",
    run = function(r, ctx)
      local m = r:step("memberships:update", function()
        return r.sk.memberships:update(ctx.seeded_org, ctx.user, {
          roles = { "member" }, metadata = { department = "engineering" },
        })
      end)
      if ctx.mode == "proxy" then expect_eq("member", m.roles[1], "roles[1]") end
      -- empty roles go out as [] (an array), empty metadata as {}
      r:step("memberships:update (roles = {}, metadata = {})", function()
        return r.sk.memberships:update(ctx.seeded_org, ctx.user, { roles = {}, metadata = {} })
      end)
    end,
    call = function(r, ctx)
      r:step("sk:call updateMembership", function()
        return r.sk:call("updateMembership", {
          organization_id = ctx.seeded_org, id = ctx.user,
          roles = { "admin" }, metadata = { promoted = "2024-05-01" },
        })
      end)
    end,
  },
  {
    op = "resendInvite",
    run = function(r, ctx)
      local m = r:step("memberships:resend_invite", function()
        return r.sk.memberships:resend_invite(ctx.seeded_org, ctx.user)
      end)
      assert(type(m) == "table", "no membership")
    end,
    call = function(r, ctx)
      r:step("sk:call resendInvite", function()
        return r.sk:call("resendInvite", { organization_id = ctx.seeded_org, id = ctx.user })
      end)
    end,
  },
  {
    op = "createRole",
    run = function(r, ctx)
      local role = r:step("roles:create", function()
        return r.sk.roles:create(ctx.seeded_org, {
          name = "auditor", display_name = "Auditor",
          description = "Read-only access to audit logs and members",
          permissions = { "audit_logs:read", "members:read" },
        })
      end)
      assert(type(role.name) == "string", "role has no name")
      if ctx.mode == "proxy" then expect_eq("members:read", role.permissions[2], "permissions[2]") end
      -- only the required field, then an empty permissions array
      r:step("roles:create (name only)", function()
        return r.sk.roles:create(ctx.seeded_org, { name = "viewer" })
      end)
      r:step("roles:create (permissions = {})", function()
        return r.sk.roles:create(ctx.seeded_org, { name = "guest", permissions = {} })
      end)
    end,
    call = function(r, ctx)
      r:step("sk:call createRole", function()
        return r.sk:call("createRole", {
          org_id = ctx.seeded_org, name = "support_agent", display_name = "Support agent",
          description = "Can read members and reset MFA", permissions = { "members:read", "mfa:reset" },
        })
      end)
    end,
  },
  {
    op = "listRoles",
    run = function(r, ctx)
      local res = r:step("roles:list", function() return r.sk.roles:list(ctx.seeded_org) end)
      local roles = is_list(res, "roles")
      if ctx.mode == "proxy" then expect_eq(3, #roles, "roles") end
    end,
    call = function(r, ctx)
      r:step("sk:call listRoles", function()
        return r.sk:call("listRoles", { org_id = ctx.seeded_org })
      end)
    end,
  },
  {
    op = "createConnectedAccount",
    run = function(r, ctx)
      local acct = r:step("connected_accounts:create", function()
        return r.sk.connected_accounts:create {
          connector = "gmail", identifier = ctx.identifier,
          authorization_details = {
            oauth_token = {
              access_token = "ya29.a0AfH6SMBx-contract", refresh_token = "1//0contract-refresh",
              scopes = { "https://www.googleapis.com/auth/gmail.readonly" }, expires_in = 3599,
            },
          },
        }
      end)
      assert(type(acct.id) == "string", "connected account has no id")
      -- only the required fields
      r:step("connected_accounts:create (no authorization_details)", function()
        return r.sk.connected_accounts:create { connector = "slack", identifier = ctx.identifier }
      end)
    end,
    call = function(r, ctx)
      r:step("sk:call createConnectedAccount", function()
        return r.sk:call("createConnectedAccount", {
          connector = "github", identifier = ctx.identifier,
          authorization_details = { static_auth = { api_key = "ghp_contractExample123" } },
        })
      end)
    end,
  },
  {
    op = "updateConnectedAccountCredentials",
    run = function(r, ctx)
      local acct = r:step("connected_accounts:update_credentials", function()
        return r.sk.connected_accounts:update_credentials {
          connector = "slack", identifier = ctx.identifier,
          authorization_details = {
            oauth_token = { access_token = "xoxp-contract-1", scopes = { "chat:write" } },
          },
        }
      end)
      if ctx.mode == "proxy" then expect_eq("ACTIVE", acct.status, "status") end
    end,
    call = function(r, ctx)
      r:step("sk:call updateConnectedAccountCredentials", function()
        return r.sk:call("updateConnectedAccountCredentials", {
          connector = "github", identifier = ctx.identifier,
          authorization_details = { static_auth = { api_key = "ghp_rotatedContract456" } },
        })
      end)
    end,
  },
  {
    op = "listConnectedAccounts",
    run = function(r, ctx)
      local sk = r.sk
      local page = r:step("connected_accounts:list", function()
        return sk.connected_accounts:list { page_size = 2 }
      end)
      is_list(page, "connected_accounts")
      r:step("connected_accounts:list page_token", function()
        return sk.connected_accounts:list { page_size = 2, page_token = next_token(page) }
      end)
      check_iterators(r, ctx, "connected accounts",
        function() return sk.connected_accounts:each { page_size = 2 } end,
        function() return sk.connected_accounts:pages { page_size = 2 } end)
    end,
    call = function(r)
      local page = r:step("sk:call listConnectedAccounts", function()
        return r.sk:call("listConnectedAccounts", { page_size = 2 })
      end)
      r:step("sk:call listConnectedAccounts page_token", function()
        return r.sk:call("listConnectedAccounts", { page_size = 2, page_token = next_token(page) })
      end)
    end,
  },
  {
    op = "createConnectedAccountMagicLink",
    run = function(r, ctx)
      local link = r:step("connected_accounts:magic_link", function()
        return r.sk.connected_accounts:magic_link { connector = "gmail", identifier = ctx.identifier }
      end)
      assert(type(link.link) == "string" and link.link:match("^https?://"), "no magic link URL")
    end,
    call = function(r, ctx)
      r:step("sk:call createConnectedAccountMagicLink", function()
        return r.sk:call("createConnectedAccountMagicLink", {
          connector = "notion", identifier = ctx.identifier,
        })
      end)
    end,
  },
  {
    op = "executeTool",
    run = function(r, ctx)
      local res = r:step("tools:execute", function()
        return r.sk.tools:execute {
          tool_name = "gmail_fetch_mails", identifier = ctx.identifier, connection_name = "gmail",
          tool_input = { query = "is:unread label:invoices", max_results = 5, include_spam = false },
        }
      end)
      assert(type(res) == "table", "no result")
      if ctx.mode == "proxy" then
        expect_eq(5, res.data.max_results, "data.max_results")
        assert(is_integer(res.data.max_results), "data.max_results is not an integer")
      end
      r:step("tools:execute (required fields only)", function()
        return r.sk.tools:execute { tool_name = "gmail_list_labels", identifier = ctx.identifier }
      end)
    end,
    call = function(r, ctx)
      r:step("sk:call executeTool", function()
        return r.sk:call("executeTool", {
          tool_name = "github_create_issue", identifier = ctx.identifier, connection_name = "github",
          tool_input = { repo = "acme/api", title = "Contract test issue", labels = { "bug" } },
        })
      end)
    end,
  },
  {
    op = "removeMembership",
    run = function(r, ctx)
      local ok = r:step("memberships:remove", function()
        return r.sk.memberships:remove(ctx.seeded_org, ctx.user)
      end)
      expect_eq(true, ok, "result")
    end,
    call = function(r, ctx)
      local ok = r:step("sk:call removeMembership", function()
        return r.sk:call("removeMembership", { organization_id = ctx.seeded_org, id = ctx.user })
      end)
      expect_eq(true, ok, "result")
    end,
  },
  {
    op = "deleteOrganization",
    run = function(r, ctx)
      local ok = r:step("organizations:delete", function() return r.sk.organizations:delete(ctx.org) end)
      expect_eq(true, ok, "result")
    end,
    call = function(r, ctx)
      local ok = r:step("sk:call deleteOrganization", function()
        return r.sk:call("deleteOrganization", { id = ctx.org })
      end)
      expect_eq(true, ok, "result")
    end,
  },
}

return C
