-- Spec: the generated operation table (src/operations.c, `make generate`)
-- as the SDK runs it. Every operation is reachable by its operationId and
-- by the first document's alias, every resource method works; unknown
-- fields raise naming the field and the method; every documented field is
-- accepted and goes where the live document puts it; custom-verb paths
-- are built with their parameters percent-encoded.
--
-- The fake server answers every request with 200 (faults), so this checks
-- what the SDK sends (the fake's request log), not the fake's behaviour.
-- The expectations come from the compiled table (parsed from
-- src/operations.c) and from the live document (api/).
local cjson = require "cjson"
local fake = require "spec.helpers.fake"
local optable = require "spec.contract.optable"
local process = require "spec.helpers.process"
local scalekit = require "scalekit"

local TOKEN = "tok_spec20_0123456789abcdef"

-- The table as compiled (parsed from src/operations.c).
local OPS, ALIASES, METHODS, BY_ID = optable.load()

local has_flag, is_renamed = optable.has_flag, optable.is_renamed

local function positional_names(m) return optable.positional_names(m, BY_ID[m.operation]) end

-- A valid value for a param.
local function value_for(p, tag)
  if p.type == "STRING" then
    if p.name:match("_time$") or p.name:match("_after$") then return "2024-05-01T00:00:00Z" end
    return "v_" .. p.name .. (tag or "")
  elseif p.type == "INTEGER" then return 7
  elseif p.type == "NUMBER" then return 1.5
  elseif p.type == "BOOLEAN" then return true
  elseif p.type == "OBJECT" then return { k = "v" }
  elseif p.items == "OBJECT" then return { { name = "n" } }
  elseif p.items == "INTEGER" then return { 3 }
  elseif p.items == "BOOLEAN" then return { true }
  end
  return { "a_" .. p.name, "b_" .. p.name }
end

local function escape(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

local function expand(path, values)
  return (path:gsub("{([^}]+)}", function(n)
    return escape(assert(values[n], "no value for path parameter " .. n))
  end))
end

-- Required params of an operation as sk:call takes them (path included).
local function minimal_params(op)
  local t = {}
  for _, p in ipairs(op.params) do
    if (p.required or p.where == "PATH") and not p.fallback and not is_renamed(op, p) then
      t[p.name] = p.where == "PATH" and ("id_" .. p.name) or value_for(p)
    end
  end
  return t
end

local function path_values(op, params)
  local v = {}
  for _, p in ipairs(op.params) do
    if p.where == "PATH" and params[p.name] ~= nil then v[p.wire] = params[p.name] end
  end
  return v
end

---------------------------------------------------------------------------
-- The server: every request answered with 200
---------------------------------------------------------------------------

describe("generated operation table", function()
  local server, sk

  -- Faults match in order: `first` (once), then the token, then the rest.
  local function answer_all(first)
    server:clear_faults()
    local list = {
      { path = "^/oauth/token$", status = 200, times = -1,
        json = { access_token = TOKEN, token_type = "Bearer", expires_in = 3600 } },
      { status = 200, json = {}, times = -1 },
    }
    if first then table.insert(list, 1, first) end
    server:faults(list)
  end

  setup(function()
    server = fake.start()
    answer_all()
    sk = scalekit.new(server:env())
  end)

  teardown(function()
    if sk then sk:close() end
    if server then server:stop() end
  end)

  before_each(function() server:clear_requests() end)

  -- The requests of the last call, without the SDK's own token fetch.
  local function sent(op)
    local out = {}
    for _, r in ipairs(server:requests()) do
      if op.path == "/oauth/token" or r.path ~= "/oauth/token" then out[#out + 1] = r end
    end
    return out
  end

  local function check_request(op, params, label)
    local reqs = sent(op)
    assert(#reqs >= 1, label .. ": nothing was sent")
    local r = reqs[#reqs]
    assert.are.equal(op.method, r.method, label)
    assert.are.equal(expand(op.path, path_values(op, params)), r.path, label)
    if has_flag(op, "NO_TOKEN") then
      assert.is_nil(r.headers.authorization, label .. " sent a bearer token")
    else
      assert.are.equal("Bearer " .. TOKEN, r.headers.authorization, label)
    end
    return r
  end

  local function body_of(op, r)
    if op.body == "JSON" then return cjson.decode(r.body) end
    local t = {}
    for k, v in (r.body or ""):gmatch("([^&=]+)=([^&]*)") do t[k] = v end
    return t
  end

  it("holds the 111 published operations, createToken, exchangeToken and getJwks", function()
    local doc = cjson.decode((assert(process.read_file("api/scalekit-public-openapi.json"))))
    local expected = { createToken = true, exchangeToken = true, getJwks = true }
    for _, item in pairs(doc.paths) do
      for _, m in ipairs { "get", "put", "post", "delete", "patch" } do
        if item[m] then expected[item[m].operationId] = true end
      end
    end
    local n = 0
    for id in pairs(expected) do
      n = n + 1
      assert.is_table(scalekit.operations[id], id)
      assert.is_table(BY_ID[id], id)
    end
    assert.are.equal(114, n)
    assert.are.equal(114, #OPS)
    assert.are.equal(25, #ALIASES)
  end)

  it("lists operations, aliases and methods sorted for binary search", function()
    for i = 2, #OPS do assert(OPS[i - 1].id < OPS[i].id, OPS[i].id) end
    for i = 2, #ALIASES do assert(ALIASES[i - 1].alias < ALIASES[i].alias, ALIASES[i].alias) end
    for i = 2, #METHODS do
      local a, b = METHODS[i - 1], METHODS[i]
      assert(a.resource < b.resource or (a.resource == b.resource and a.name < b.name),
             b.resource .. ":" .. b.name)
    end
  end)

  it("reaches every operation through sk:call by its operationId", function()
    for _, op in ipairs(OPS) do
      server:clear_requests()
      local params = minimal_params(op)
      local ok, res, err = pcall(sk.call, sk, op.id, params)
      assert(ok, op.id .. " raised: " .. tostring(res))
      assert(res ~= nil, op.id .. " failed: " .. tostring(err))
      if has_flag(op, "RETURNS_TRUE") then assert.are.equal(true, res, op.id) end
      check_request(op, params, op.id)
    end
  end)

  it("reaches every operation of the first document through its alias", function()
    local sketch = cjson.decode((assert(process.read_file("api/scalekit-openapi.json"))))
    local overlay = dofile("api/overlay.lua")
    for _, a in ipairs(ALIASES) do
      local op = BY_ID[a.id]
      -- the first document's own path parameter names
      local params = {}
      for path, item in pairs(sketch.paths) do
        for _, m in ipairs { "get", "put", "post", "delete", "patch" } do
          if item[m] and item[m].operationId == a.alias then
            for n in path:gmatch("{([^}]+)}") do params[n] = "id_" .. n end
          end
        end
      end
      for k, v in pairs(minimal_params(op)) do
        if optable.param(op, k).where ~= "PATH" then params[k] = v end
      end
      server:clear_requests()
      local ok, res, err = pcall(sk.call, sk, a.alias, params)
      assert(ok, a.alias .. " raised: " .. tostring(res))
      assert(res ~= nil, a.alias .. " failed: " .. tostring(err))
      -- the sketch's names land on the live path parameters
      local renamed = overlay.renamed_fields[a.id] or {}
      local values = {}
      for k, v in pairs(params) do values[renamed[k] and renamed[k].to or k] = v end
      local r = sent(op)[#sent(op)]
      assert.are.equal(expand(op.path, values), r.path, a.alias)
    end
  end)

  it("reaches every resource method", function()
    local seen = 0
    for _, m in ipairs(METHODS) do
      local op = BY_ID[m.operation]
      local label = m.resource .. ":" .. m.name
      local names = positional_names(m)
      local args, positional = {}, {}
      for i, n in ipairs(names) do args[i] = "id_" .. n; positional[n] = args[i] end
      local fields = {}
      for k, v in pairs(minimal_params(op)) do
        if positional[k] == nil then
          if optable.param(op, k).where ~= "PATH" then fields[k] = v end
        end
      end
      if next(fields) then args[#args + 1] = fields end
      local resource = sk[m.resource]
      assert(resource, "sk." .. m.resource .. " is missing")
      assert.is_function(resource[m.name], label)
      server:clear_requests()
      local ok, res, err = pcall(function()
        local unpack = table.unpack or unpack
        if m.kind == "CALL" then return resource[m.name](resource, unpack(args)) end
        local n = 0
        for _ in resource[m.name](resource, unpack(args)) do n = n + 1 end
        return n
      end)
      assert(ok, label .. " raised: " .. tostring(res))
      assert(res ~= nil, label .. " failed: " .. tostring(err))
      if m.kind == "PAGES" then assert.are.equal(1, res, label .. ": one (empty) page") end
      if m.kind == "EACH" then assert.are.equal(0, res, label .. ": no items") end
      local values = {}
      for n, v in pairs(positional) do values[n] = v end
      local r = sent(op)[1]
      assert(r, label .. ": nothing was sent")
      local expected = expand(op.path, values)
      if m.positional and not op.path:find("{", 1, true) then
        -- positional query parameters (connections:list_by_organization)
        assert.are.equal(op.path, r.path, label)
        for n, v in pairs(values) do assert.are.equal(v, r.query[n], label .. " " .. n) end
      else
        assert.are.equal(expected, r.path, label)
      end
      seen = seen + 1
    end
    assert.are.equal(#METHODS, seen)
  end)

  it("raises for an unknown field, naming the field and the method", function()
    for _, m in ipairs(METHODS) do
      if m.kind == "CALL" then
        local label = m.resource .. ":" .. m.name
        local args = {}
        for i, n in ipairs(positional_names(m)) do args[i] = "id_" .. n end
        local fields = minimal_params(BY_ID[m.operation])
        fields.zz_not_a_field = 1
        for _, n in ipairs(positional_names(m)) do fields[n] = nil end
        for _, p in ipairs(BY_ID[m.operation].params) do
          if p.where == "PATH" then fields[p.name] = nil end
        end
        args[#args + 1] = fields
        local resource = sk[m.resource]
        local ok, msg = pcall(function()
          return resource[m.name](resource, (table.unpack or unpack)(args))
        end)
        assert.is_false(ok, label .. " accepted an unknown field")
        msg = tostring(msg)
        assert.is_truthy(msg:find("zz_not_a_field", 1, true), msg)
        assert.is_truthy(msg:find(label, 1, true), msg)
      end
    end
    for _, op in ipairs(OPS) do
      local params = minimal_params(op)
      params.zz_not_a_field = 1
      local ok, msg = pcall(sk.call, sk, op.id, params)
      assert.is_false(ok, op.id .. " accepted an unknown field")
      assert.is_truthy(tostring(msg):find("zz_not_a_field", 1, true), tostring(msg))
      assert.is_truthy(tostring(msg):find(op.id, 1, true), tostring(msg))
    end
  end)

  it("accepts every documented field and sends it where the live document puts it", function()
    for _, op in ipairs(OPS) do
      local params, expect_query, expect_body = {}, {}, {}
      local nested = {}
      for _, p in ipairs(op.params) do if p.parent then nested[p.parent] = true end end
      for _, p in ipairs(op.params) do
        -- flat form: the children of a nested object, not the object itself
        if not is_renamed(op, p) and not (p.where == "BODY" and nested[p.name]) then
          params[p.name] = p.where == "PATH" and ("id_" .. p.name) or value_for(p)
          if p.where == "QUERY" then expect_query[#expect_query + 1] = p.wire end
          if p.where == "BODY" then expect_body[#expect_body + 1] = p end
        end
      end
      server:clear_requests()
      local ok, res, err = pcall(sk.call, sk, op.id, params)
      assert(ok, op.id .. " raised: " .. tostring(res))
      assert(res ~= nil, op.id .. " failed: " .. tostring(err))
      local r = check_request(op, params, op.id)
      for _, wire in ipairs(expect_query) do
        assert(r.query[wire] ~= nil, op.id .. ": query " .. wire .. " missing in " .. r.raw_query)
      end
      if #expect_body > 0 then
        local body = body_of(op, r)
        for _, p in ipairs(expect_body) do
          local holder = p.parent and body[p.parent] or body
          assert(type(holder) == "table" and holder[p.wire] ~= nil,
                 op.id .. ": body field " .. (p.parent and p.parent .. "." or "") .. p.wire ..
                 " missing in " .. tostring(r.body))
        end
      end
    end
  end)

  describe("names that differ from the wire", function()
    local function last_body()
      local reqs = server:requests()
      return cjson.decode(reqs[#reqs].body), reqs[#reqs]
    end

    it("the first document's executeTool fields map onto the live ones", function()
      assert(sk.tools:execute { tool_name = "gmail_fetch", identifier = "u@x",
                                connection_name = "gmail", tool_input = { q = "is:unread" } })
      local body = last_body()
      assert.are.same({ tool_name = "gmail_fetch", identifier = "u@x", connector = "gmail",
                        params = { q = "is:unread" } }, body)
    end)

    it("connected-account fields go inside connected_account, flat or nested", function()
      local details = { oauth_token = { access_token = "ya29.x" } }
      assert(sk.connected_accounts:create { connector = "gmail", identifier = "u@x",
                                            authorization_details = details })
      local flat = last_body()
      assert.are.same({ connector = "gmail", identifier = "u@x",
                        connected_account = { authorization_details = details } }, flat)
      assert(sk.connected_accounts:create { connector = "gmail", identifier = "u@x",
        connected_account = { authorization_details = details } })
      assert.are.same(flat, (last_body()))
    end)

    it("a body field named like a path parameter is new_<name>", function()
      assert(sk.users:update_by_external_id("ext 1", { new_external_id = "ext-2" }))
      local body, r = last_body()
      assert.are.equal("/api/v1/users:external/ext%201", r.path)
      assert.are.same({ external_id = "ext-2" }, body)
    end)

    it("getDirectory's directory_id is the live path's {id}", function()
      assert(sk:call("getDirectory", { organization_id = "org_1", directory_id = "dir/1" }))
      local reqs = server:requests()
      assert.are.equal("/api/v1/organizations/org_1/directories/dir%2F1", reqs[#reqs].path)
    end)

    it("a query filter.x is x in Lua, filter.x on the wire", function()
      assert(sk.tools:list { provider = "google", tool_name = { "a", "b" } })
      local reqs = server:requests()
      local q = reqs[#reqs].raw_query
      assert.is_truthy(q:find("filter.provider=google", 1, true), q)
      assert.is_truthy(q:find("filter.tool_name=", 1, true), q)
    end)

    it("CreateMembership's body is flat (the documented exception)", function()
      assert(sk.memberships:add("org_1", "usr_1", { roles = { { name = "admin" } },
                                                    inviter_email = "a@x" }))
      assert.are.same({ roles = { { name = "admin" } }, inviter_email = "a@x" }, (last_body()))
    end)
  end)

  describe("custom-verb paths, with parameters percent-encoded", function()
    local function last() local reqs = server:requests(); return reqs[#reqs] end

    it("/api/v1/users:external/{external_id}", function()
      assert(sk.users:get_by_external_id("a/b c:d?e#f"))
      assert.are.equal("GET", last().method)
      assert.are.equal("/api/v1/users:external/a%2Fb%20c%3Ad%3Fe%23f", last().path)
      assert.are.equal(true, sk.users:delete_by_external_id("x:y"))
      assert.are.equal("/api/v1/users:external/x%3Ay", last().path)
    end)

    it("/api/v1/roles:set_defaults and /api/v1/organizations/{org_id}/roles:set_defaults", function()
      assert(sk.roles:set_defaults { default_member_role = "member" })
      assert.are.equal("PATCH", last().method)
      assert.are.equal("/api/v1/roles:set_defaults", last().path)
      assert(sk.roles:set_defaults_for_organization("org:1", { default_member_role = "viewer" }))
      assert.are.equal("/api/v1/organizations/org%3A1/roles:set_defaults", last().path)
    end)

    it("/api/v1/connected_accounts:delete (POST with a body)", function()
      assert.are.equal(true, sk.connected_accounts:delete { connector = "gmail", identifier = "u@x" })
      assert.are.equal("POST", last().method)
      assert.are.equal("/api/v1/connected_accounts:delete", last().path)
      assert.are.same({ connector = "gmail", identifier = "u@x" }, cjson.decode(last().body))
    end)

    it("{id}:enable and {id}:disable keep the verb after the encoded id", function()
      assert(sk.connections:enable("org_1", "conn 1/2"))
      assert.are.equal("/api/v1/organizations/org_1/connections/conn%201%2F2:enable", last().path)
      assert(sk.directories:disable("org_1", "dir:9"))
      assert.are.equal("/api/v1/organizations/org_1/directories/dir%3A9:disable", last().path)
    end)
  end)

  describe("results", function()
    after_each(function() answer_all() end)

    it("unwraps the single wrapped resource", function()
      answer_all { method = "GET", path = "^/api/v1/users/usr_1$", status = 200,
                   json = { user = { id = "usr_1", email = "a@x" } } }
      local user = assert(sk.users:get("usr_1"))
      assert.are.equal("usr_1", user.id)
      assert.are.equal("a@x", user.email)
    end)

    it("returns true for a delete answered with a body", function()
      answer_all { method = "DELETE", status = 200, json = { success = true } }
      assert.are.equal(true, sk.passkeys:delete("cred_1"))
    end)
  end)
end)
