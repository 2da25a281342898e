-- Contract: every published operation, through its resource method and
-- through sk:call(operationId), and the first document's 25 aliases and
-- createToken, against `prism mock --errors` on the published document
-- (a copy in build/contract/ with its broken response examples fixed and
-- the oauth2 token endpoint added: spec/contract/live.lua, api/README.md).
-- Prism answers an invalid request with 422 and its violations; a valid one
-- with the document's examples. Values come from the document's examples;
-- every documented field is sent. Each step also fails when a query
-- parameter or body field (at any depth) went out that the operation's
-- schema does not define: Prism lets those through. Run with
-- `make test-contract`.
local cjson = require "cjson.safe"
local socket = require "socket"
local prism = require "spec.helpers.prism"
local scalekit = require "scalekit"
local L = require "spec.contract.live"
local optable = require "spec.contract.optable"

local CLIENT_ID = "skc_contract_4f9c1e"
local CLIENT_SECRET = "test_contract_secret_7d2b9a6e51"
local MAX_BODY = 1200

local unpack = table.unpack or unpack
local function pack(...) return { n = select("#", ...), ... } end

local OPS, ALIASES, METHODS, BY_ID = optable.load()
local LIVE = L.operations()
local OVERLAY = dofile("api/overlay.lua")
local ALIAS_TO = {}
for _, a in ipairs(ALIASES) do ALIAS_TO[a.alias] = a.id end

-- The published operation a request was made for (hooks name the row).
local function operation_of(request)
  local op = request.operation
  return op and (ALIAS_TO[op] or op)
end

local function truncate(s, n)
  s = tostring(s)
  if #s <= n then return s end
  return s:sub(1, n) .. ("... (%d bytes)"):format(#s)
end

---------------------------------------------------------------------------
-- Arguments: every documented field, with valid values
---------------------------------------------------------------------------

-- params for sk:call; form "flat" (children of a nested body object given
-- at the top) or "nested" (inside their object).
local function params_for(op, form)
  local entry = LIVE[op.id]
  local params, nested = {}, {}
  for _, p in ipairs(op.params) do if p.parent then nested[p.parent] = true end end
  for _, p in ipairs(op.params) do
    if not optable.is_renamed(op, p) and not (p.where == "BODY" and nested[p.name]) then
      local value = L.value(L.param_schema(entry, p), 0, p.wire)
      if p.where == "PATH" then value = tostring(value) end
      if p.parent and form == "nested" then
        params[p.parent] = params[p.parent] or {}
        params[p.parent][p.wire] = value
      else
        params[p.name] = value
      end
    end
  end
  return params
end

-- Positional arguments and the trailing fields of a resource method.
local function method_args(m)
  local op = BY_ID[m.operation]
  local params = params_for(op, "flat")
  local args = {}
  for i, n in ipairs(optable.positional_names(m, op)) do
    args[i] = params[n]
    params[n] = nil
  end
  if next(params) ~= nil then args[#args + 1] = params end
  return args
end

---------------------------------------------------------------------------
-- Runner
---------------------------------------------------------------------------

local function expected_violation(id)
  local e = OVERLAY.exceptions[id]
  return e and e.prism
end

-- Whether "post /api/v1/..." (a request line of Prism's log) is a request
-- of an operation with a documented exception.
local function exception_request(line)
  local method, path = line:match("^(%a+)%s+([^%s?]+)")
  if not method then return false end
  for id in pairs(OVERLAY.exceptions) do
    local op = BY_ID[id]
    local pattern = "^" .. op.path:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"):gsub("{[^}]+}", "[^/]+") .. "$"
    if method:upper() == op.method and path:match(pattern) then return true end
  end
  return false
end


local function validation_lines(body)
  local out = {}
  local doc = type(body) == "string" and cjson.decode(body)
  if type(doc) ~= "table" or type(doc.validation) ~= "table" then return out end
  for _, v in ipairs(doc.validation) do
    if type(v) == "table" then out[#out + 1] = tostring(v.message) end
  end
  return out
end

local function describe_error(err)
  if type(err) ~= "table" then return tostring(err) end
  return ("%s (status=%s kind=%s)"):format(tostring(err), tostring(err.status), tostring(err.kind))
end

local Runner = {}
Runner.__index = Runner

local function new_runner(p)
  local rec = { exchanges = {}, requests = 0, operations = {}, seen = {} }
  local sk = scalekit.new {
    environment_url = p.url, client_id = CLIENT_ID, client_secret = CLIENT_SECRET,
    max_retries = 0, timeout = 15,
    on_request = function(r)
      rec.exchanges[#rec.exchanges + 1] = { request = r }
      rec.requests = rec.requests + 1
      local op = operation_of(r)
      if op then rec.operations[op] = true end
    end,
    on_response = function(r)
      local last = rec.exchanges[#rec.exchanges]
      if last and not last.response then last.response = r
      else rec.exchanges[#rec.exchanges + 1] = { response = r } end
    end,
  }
  return setmetatable({ prism = p, sk = sk, rec = rec, steps = 0 }, Runner)
end

function Runner:report(label, problem, found)
  local lines = { label .. ": " .. problem }
  if #found > 0 then
    lines[#lines + 1] = "Prism log:"
    for _, l in ipairs(found) do lines[#lines + 1] = "  " .. l end
  end
  lines[#lines + 1] = "HTTP exchanges (as the SDK's hooks see them):"
  for _, x in ipairs(self.rec.exchanges) do
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

--- Runs fn (one SDK call); returns its results. Fails on a raise, on
-- nil, err, on a Prism violation logged meanwhile and on undocumented
-- fields. expected: the one violation a documented exception makes Prism
-- report (then the call must fail with 422 listing exactly that).
function Runner:step(label, fn, expected)
  self.rec.exchanges = {}
  self.steps = self.steps + 1
  self.rec.seen[label] = true
  local mark = self.prism:mark()
  local res = pack(pcall(fn))
  local problem
  if not res[1] then
    problem = "raised " .. describe_error(res[2])
  elseif expected then
    local err = res[3]
    local listed = {}
    for _, x in ipairs(self.rec.exchanges) do
      for _, v in ipairs(validation_lines(x.response and x.response.body)) do listed[#listed + 1] = v end
    end
    if res[2] ~= nil or type(err) ~= "table" or err.status ~= 422 or #listed ~= 1 or
       listed[1] ~= expected then
      problem = ("expected exactly the documented 422 %q, got %s; Prism listed: %s"):format(
        expected, res[2] ~= nil and "success" or describe_error(err), table.concat(listed, "; "))
    end
  elseif res[2] == nil then
    problem = "returned nil, " .. describe_error(res[3])
  end
  -- Prism logs asynchronously: let a failure's (or an exception's) lines
  -- land in this step's window.
  if problem or expected then socket.sleep(0.25) end
  -- A documented exception's 422 was checked above, listing and all; the
  -- lines Prism logs for it say nothing more.
  local found = {}
  if not expected then
    for _, v in ipairs(self.prism:violations(mark)) do
      local req = v:match("%[HTTP SERVER%]%s+(%a+%s+%S+)")
      if not (req and exception_request(req)) then found[#found + 1] = v end
    end
  end
  local extra = L.undocumented(self.rec.exchanges, operation_of)
  if #extra > 0 then
    problem = (problem and problem .. "\n" or "") ..
      "sent what the document does not define: " .. table.concat(extra, "; ")
  end
  if problem or #found > 0 then
    error(self:report(label, problem or "Prism logged a violation", found), 0)
  end
  return unpack(res, 2, res.n)
end

-- The decoded body of the last response (nil when masked or absent).
function Runner:last_body()
  for i = #self.rec.exchanges, 1, -1 do
    local r = self.rec.exchanges[i].response
    if r and r.body then return cjson.decode(r.body) end
  end
  return nil
end

-- Checks a CALL result against the row: true, unwrapped, or a page.
local function check_result(r, op, res, label)
  if op.flags:find("SK_OP_RETURNS_TRUE", 1, true) then
    assert(res == true, label .. ": expected true, got " .. tostring(res))
    return
  end
  assert(type(res) == "table", label .. ": result is not a table")
  local body = r:last_body()
  if op.unwrap and type(body) == "table" and type(body[op.unwrap]) == "table" then
    -- the result is the wrapped object: its fields, not the wrapper's
    for k, v in pairs(body[op.unwrap]) do
      assert(type(res[k]) == type(v), ("%s: not unwrapped from %s (%s)"):format(label, op.unwrap, k))
    end
  end
  if op.paging ~= "NONE" then
    assert(type(res[op.items]) == "table", label .. ": page has no " .. op.items)
  end
end

---------------------------------------------------------------------------
-- The spec
---------------------------------------------------------------------------

describe("contract: prism mock --errors on the published document", function()
  local p, r, fixed

  setup(function()
    local path
    path, fixed = L.write_mocked()
    p = prism.start { mode = "mock", document = path }
    r = new_runner(p)
  end)

  teardown(function()
    if r then r.sk:close() end
    if p then p:stop() end
  end)

  it("the document has 111 operations, all in the SDK's table", function()
    local n = 0
    for id in pairs(LIVE) do
      n = n + 1
      assert(BY_ID[id], id .. " is not in src/operations.c")
      assert(scalekit.operations[id], id .. " is not in scalekit.operations")
    end
    assert.are.equal(111, n)
  end)

  it("the mocked copy fixes exactly the broken examples api/README.md lists", function()
    local fields = {}
    for _, w in ipairs(fixed) do fields[w:match("([^.]+)$")] = true end
    assert.are.same({ absolute_session_timeout_unit = true, count = true, expires_at = true,
                      expiry = true, idle_session_timeout_unit = true }, fields)
  end)

  describe("resource methods, every documented field given flat", function()
    for _, m in ipairs(METHODS) do
      local label = m.resource .. ":" .. m.name
      it(label, function()
        local op = BY_ID[m.operation]
        local args = method_args(m)
        local resource = r.sk[m.resource]
        if m.kind == "CALL" then
          local res = r:step(label, function() return resource[m.name](resource, unpack(args)) end,
                             expected_violation(op.id))
          if not expected_violation(op.id) then check_result(r, op, res, label) end
        else
          -- the mock repeats its example's page token: the first item or
          -- page is enough (walking on would end in the SDK's cycle error)
          local first = r:step(label, function()
            local item = false
            for x in resource[m.name](resource, unpack(args)) do
              item = x
              if item then break end
            end
            return item
          end)
          assert(first == false or type(first) == "table", label .. ": not a table")
        end
      end)
    end
  end)

  describe("sk:call(operationId), nested bodies given nested", function()
    for _, op in ipairs(OPS) do
      if LIVE[op.id] then
        it(op.id, function()
          local res = r:step("call " .. op.id, function()
            return r.sk:call(op.id, params_for(op, "nested"))
          end, expected_violation(op.id))
          if not expected_violation(op.id) then check_result(r, op, res, op.id) end
        end)
      end
    end
  end)

  describe("the first document's operationIds, with its field names", function()
    for _, a in ipairs(ALIASES) do
      it(a.alias .. " -> " .. a.id, function()
        local op = BY_ID[a.id]
        local params = params_for(op, "flat")
        for old, spec in pairs(OVERLAY.renamed_fields[a.id] or {}) do
          if params[spec.to] ~= nil then params[old], params[spec.to] = params[spec.to], nil end
        end
        local res = r:step("call " .. a.alias, function() return r.sk:call(a.alias, params) end,
                           expected_violation(a.id))
        if not expected_violation(a.id) then check_result(r, op, res, a.alias) end
      end)
    end

    it("createToken (sk:token() and sk:call)", function()
      local token = r:step("sk:token()", function() return r.sk:token() end)
      assert.are.equal(L.TOKEN, token)
      local res = r:step("call createToken", function() return r.sk:call("createToken", {}) end)
      assert.are.equal(L.TOKEN, res.access_token)
    end)
  end)

  it("sent every published operation, every method and every alias", function()
    local missing = {}
    for id in pairs(LIVE) do
      if not r.rec.operations[id] then missing[#missing + 1] = id end
      if not r.rec.seen["call " .. id] then missing[#missing + 1] = "sk:call(" .. id .. ")" end
    end
    for _, m in ipairs(METHODS) do
      if not r.rec.seen[m.resource .. ":" .. m.name] then
        missing[#missing + 1] = m.resource .. ":" .. m.name
      end
    end
    for _, a in ipairs(ALIASES) do
      if not r.rec.seen["call " .. a.alias] then missing[#missing + 1] = a.alias end
    end
    table.sort(missing)
    assert(#missing == 0, "never sent: " .. table.concat(missing, ", "))
  end)

  it("Prism logged nothing over the whole run but the documented exceptions", function()
    socket.sleep(0.3)
    local problems, current, excused = {}, "?", 0
    for line in p:log():gmatch("[^\n]+") do
      local req = line:match("%[HTTP SERVER%]%s+(%a+%s+%S+)")
      if req then current = req end
      if prism.is_problem(line) then
        if exception_request(current) then excused = excused + 1
        else problems[#problems + 1] = current .. ": " .. (line:gsub("^%[[^%]]*%]%s*", "")) end
      end
    end
    local sent = 0
    for id in pairs(LIVE) do if r.rec.operations[id] then sent = sent + 1 end end
    io.stdout:write(("\ncontract [mock]: Prism %s (ready in %.1f s): %d/111 operations, " ..
      "%d methods, %d aliases, %d SDK calls, %d HTTP requests validated, " ..
      "%d log line(s) of documented exceptions, %d violation(s)\n"):format(
      prism.version() or "?", p.startup_seconds or 0, sent, #METHODS, #ALIASES, r.steps,
      r.rec.requests, excused, #problems))
    assert(#problems == 0, "Prism logged:\n" .. table.concat(problems, "\n"))
  end)

  it("harness: query parameters and body fields the document lacks are reported", function()
    local found = L.undocumented({
      { request = { operation = "RolesService_CreateOrganizationRole",
                    url = "http://h/api/v1/organizations/o/roles?org_id=o",
                    body = '{"name":"viewer","org_id":"o"}' } },
      { request = { operation = "executeTool", url = "http://h/api/v1/execute_tool",
                    body = '{"tool_name":"t","tool_input":{}}' } },
      { request = { operation = "ConnectedAccountService_CreateConnectedAccount",
                    url = "http://h/api/v1/connected_accounts",
                    body = '{"connected_account":{"authorization_details":{"oauth_tokn":{}}}}' } },
    }, operation_of)
    table.sort(found)
    assert.are.same({
      "ConnectedAccountService_CreateConnectedAccount: body field " ..
        "connected_account.authorization_details.oauth_tokn",
      "RolesService_CreateOrganizationRole: body field org_id",
      "RolesService_CreateOrganizationRole: query parameter org_id",
      "ToolService_ExecuteTool: body field tool_input",
    }, found)
  end)

  -- Last: it makes Prism log a violation on purpose.
  it("harness: a request violation fails the step with Prism's violation text", function()
    local ok, msg = pcall(r.step, r, "self-test", function()
      return r.sk.organizations:create { display_name = "Bad", metadata = { seats = 5 } }
    end)
    assert.is_false(ok, "the mock accepted metadata.seats = 5 (the document says string)")
    assert.is_truthy(tostring(msg):find("metadata.seats must be string", 1, true), msg)
  end)
end)
