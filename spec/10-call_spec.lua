-- sk:call(operationId, params) for every row of scalekit.operations, with
-- params named as in api/scalekit-openapi.yaml, each checked against the
-- fake server's request log and state; plus coverage checks: the set of
-- operations tested here is exactly scalekit.operations, and every method
-- of scalekit.methods is exercised (and reaches its operation).
local fake = require "spec.helpers.fake"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"
local cjson = require "cjson"

local number_type, logged, only, raises = util.number_type, util.logged, util.only, util.raises

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

describe("sk:call", function()
  local server, sk

  -- util.raw on this file's server (logged too: check the log first).
  local function raw(method, path)
    return util.raw(server, method, path)
  end

  setup(function()
    server = fake.start {}
    sk = scalekit.new(server:env())
  end)

  teardown(function()
    if sk then sk:close() end
    if server then server:stop() end
  end)

  -- org_1 (conn_1, conn_2, dir_1 with diru_1..3 and dirg_1..2), org_2
  -- (conn_3, conn_4, dir_2); connected accounts ca_1 (gmail,
  -- user1@example.com) and ca_2 (gmail, user2@example.com).
  before_each(function()
    server:reset { keep_tokens = true }
    server:seed { organizations = 2, directory_users = 3, directory_groups = 2, connected_accounts = 2 }
    server:clear_requests()
  end)

  ---------------------------------------------------------------------------
  -- One case per operationId.
  ---------------------------------------------------------------------------
  local cases = {}

  -- sk:call(op, params), which must succeed: returns its result and the one
  -- request of op that the server logged.
  local function call_ok(op, params)
    local res, err = sk:call(op, params)
    assert.is_nil(err)
    return res, only(server, op)
  end

  cases.createToken = function()
    local res, req = call_ok("createToken", {})
    assert.matches("^tok%-", res.access_token)
    assert.are.equal("Bearer", res.token_type)
    assert.are.equal(3600, res.expires_in)
    assert.are.equal("integer", number_type(res.expires_in))
    assert.are.equal("POST", req.method)
    assert.are.equal("/oauth/token", req.path)
    assert.matches("^application/x%-www%-form%-urlencoded", req.headers["content-type"])
    assert.is_nil(req.headers.authorization)
    assert.are.same({ grant_type = "client_credentials", client_id = "skc_test", client_secret = "test_secret" },
      util.form_decode(req.body))
    -- the server accepts the token it issued
    local status = server:http("GET", "/api/v1/organizations", {
      headers = { authorization = "Bearer " .. res.access_token },
    })
    assert.are.equal(200, status)
    -- wrong credentials: nil, err of kind "auth"
    local bad, berr = sk:call("createToken", { client_secret = "wrong" })
    assert.is_nil(bad)
    assert.is_true(scalekit.is_error(berr))
    assert.are.equal("auth", berr.kind)
    assert.are.equal(401, berr.status)
    assert.are.equal("createToken", berr.operation)
  end

  cases.listOrganizations = function()
    local page, req = call_ok("listOrganizations", { page_size = 1 }) -- one page only
    assert.are.equal(1, #page.organizations)
    assert.are.equal("org_1", page.organizations[1].id)
    assert.are.equal(2, page.total_size)
    assert.are.equal("integer", number_type(page.total_size))
    assert.is_true(#page.next_page_token > 0)
    assert.are.equal("GET", req.method)
    assert.are.equal("1", req.query.page_size)
    local rest = assert(sk:call("listOrganizations", { page_size = 1, page_token = page.next_page_token }))
    assert.are.equal("org_2", rest.organizations[1].id)
    assert.are.equal("", rest.next_page_token)
  end

  cases.createOrganization = function()
    local org, req = call_ok("createOrganization",
      { display_name = "Made by call", external_id = "mbc-1", metadata = { k = "v" } })
    assert.is_nil(org.organization)
    assert.are.equal("org_3", org.id)
    assert.are.equal("Made by call", org.display_name)
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/organizations", req.path)
    assert.are.same({ display_name = "Made by call", external_id = "mbc-1", metadata = { k = "v" } },
      cjson.decode(req.body))
    local status, body = raw("GET", "/api/v1/organizations/org_3")
    assert.are.equal(200, status)
    assert.are.equal("mbc-1", body.organization.external_id)
    assert.are.same({ k = "v" }, body.organization.metadata)
  end

  cases.getOrganization = function()
    local org, req = call_ok("getOrganization", { id = "org_2" })
    assert.are.equal("org_2", org.id)
    assert.are.equal("Seeded Org org_2", org.display_name)
    assert.are.equal("GET", req.method)
    assert.are.equal("/api/v1/organizations/org_2", req.path)
    local none, nerr = sk:call("getOrganization", { id = "org_404" })
    assert.is_nil(none)
    assert.are.equal(404, nerr.status)
    assert.are.equal("getOrganization", nerr.operation)
  end

  cases.updateOrganization = function()
    local org, req = call_ok("updateOrganization", { id = "org_1", display_name = "Renamed" })
    assert.are.equal("org_1", org.id)
    assert.are.equal("Renamed", org.display_name)
    assert.are.equal("PATCH", req.method)
    assert.are.equal("/api/v1/organizations/org_1", req.path)
    assert.are.equal('{"display_name":"Renamed"}', req.body) -- the path parameter stays out
    local _, body = raw("GET", "/api/v1/organizations/org_1")
    assert.are.equal("Renamed", body.organization.display_name)
  end

  cases.deleteOrganization = function()
    local res, req = call_ok("deleteOrganization", { id = "org_2" })
    assert.is_true(res)
    assert.are.equal("DELETE", req.method)
    assert.are.equal("/api/v1/organizations/org_2", req.path)
    assert.are.equal(404, (raw("GET", "/api/v1/organizations/org_2")))
    assert.are.equal(200, (raw("GET", "/api/v1/organizations/org_1")))
  end

  cases.updateOrganizationSettings = function()
    local org, req = call_ok("updateOrganizationSettings",
      { id = "org_1", features = { { name = "sso", enabled = true } } })
    assert.are.equal("org_1", org.id)
    assert.are.equal("PATCH", req.method)
    assert.are.equal("/api/v1/organizations/org_1/settings", req.path)
    assert.are.same({ features = { { name = "sso", enabled = true } } }, cjson.decode(req.body))
    local _, body = raw("GET", "/api/v1/organizations/org_1")
    local sso
    for _, f in ipairs(body.organization.settings.features) do
      if f.name == "sso" then sso = f end
    end
    assert.is_true(sso.enabled)
  end

  cases.createPortalLink = function()
    local link, req = call_ok("createPortalLink", { id = "org_1" })
    assert.matches("^https://fake%.scalekit%.test/portal/org_1/", link.location)
    assert.are.equal("PUT", req.method)
    assert.are.equal("/api/v1/organizations/org_1/portal_links", req.path)
  end

  cases.listConnections = function()
    local page, req = call_ok("listConnections", { organization_id = "org_2", page_size = 1 })
    assert.are.equal(1, #page.connections)
    assert.are.equal("conn_3", page.connections[1].id)
    assert.is_true(#page.next_page_token > 0)
    assert.are.equal("/api/v1/connections", req.path)
    assert.are.equal("org_2", req.query.organization_id)
    assert.are.equal("1", req.query.page_size)
  end

  cases.listOrganizationConnections = function()
    local res, req = call_ok("listOrganizationConnections", { organization_id = "org_1" })
    assert.are.same({ "conn_1", "conn_2" }, { res.connections[1].id, res.connections[2].id })
    assert.are.equal("/api/v1/organizations/org_1/connections", req.path)
  end

  cases.getConnection = function()
    local conn, req = call_ok("getConnection", { organization_id = "org_1", id = "conn_2" })
    assert.are.equal("conn_2", conn.id)
    assert.are.equal("SSO_OIDC", conn.type)
    assert.are.equal("/api/v1/organizations/org_1/connections/conn_2", req.path)
  end

  cases.listDirectories = function()
    local res, req = call_ok("listDirectories", { organization_id = "org_2" })
    assert.are.equal("dir_2", res.directories[1].id)
    assert.are.equal("/api/v1/organizations/org_2/directories", req.path)
  end

  cases.getDirectory = function()
    local dir, req = call_ok("getDirectory", { organization_id = "org_1", directory_id = "dir_1" })
    assert.are.equal("dir_1", dir.id)
    assert.are.equal("org_1", dir.organization_id)
    assert.are.equal("/api/v1/organizations/org_1/directories/dir_1", req.path)
  end

  cases.listDirectoryUsers = function()
    local page, req = call_ok("listDirectoryUsers",
      { organization_id = "org_1", directory_id = "dir_1", page_size = 2 })
    assert.are.same({ "diru_1", "diru_2" }, { page.users[1].id, page.users[2].id })
    assert.are.equal(3, page.total_size)
    assert.are.equal("/api/v1/organizations/org_1/directories/dir_1/users", req.path)
    assert.are.equal("2", req.query.page_size)
  end

  cases.listDirectoryGroups = function()
    local page, req = call_ok("listDirectoryGroups",
      { organization_id = "org_1", directory_id = "dir_1", page_size = 1 })
    assert.are.equal("dirg_1", page.groups[1].id)
    assert.is_true(#page.next_page_token > 0)
    assert.are.equal("/api/v1/organizations/org_1/directories/dir_1/groups", req.path)
  end

  cases.addMembership = function()
    local m, req = call_ok("addMembership",
      { organization_id = "org_1", id = "usr_9", roles = { "admin" }, metadata = { a = "b" } })
    assert.are.equal("usr_9", m.user_id)
    assert.are.same({ "admin" }, m.roles)
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/memberships/organizations/org_1/users/usr_9", req.path)
    assert.are.same({ roles = { "admin" }, metadata = { a = "b" } }, cjson.decode(req.body))
    local status, body = raw("PATCH", "/api/v1/invites/organizations/org_1/users/usr_9/resend")
    assert.are.equal(200, status)
    assert.are.same({ "admin" }, body.roles)
  end

  cases.updateMembership = function()
    assert(sk.memberships:add("org_1", "usr_9", { roles = { "admin" } }))
    server:clear_requests()
    local m, req = call_ok("updateMembership", { organization_id = "org_1", id = "usr_9", roles = { "viewer" } })
    assert.are.same({ "viewer" }, m.roles)
    assert.are.equal("PATCH", req.method)
    assert.are.equal('{"roles":["viewer"]}', req.body)
    local _, body = raw("PATCH", "/api/v1/invites/organizations/org_1/users/usr_9/resend")
    assert.are.same({ "viewer" }, body.roles)
  end

  cases.removeMembership = function()
    assert(sk.memberships:add("org_1", "usr_9"))
    server:clear_requests()
    local res, req = call_ok("removeMembership", { organization_id = "org_1", id = "usr_9" })
    assert.is_true(res)
    assert.are.equal("DELETE", req.method)
    assert.are.equal("/api/v1/memberships/organizations/org_1/users/usr_9", req.path)
    assert.are.equal(404, (raw("PATCH", "/api/v1/invites/organizations/org_1/users/usr_9/resend")))
  end

  cases.resendInvite = function()
    assert(sk.memberships:add("org_1", "usr_9"))
    server:clear_requests()
    local m, req = call_ok("resendInvite", { organization_id = "org_1", id = "usr_9" })
    assert.are.equal("usr_9", m.user_id)
    assert.are.equal("PENDING_INVITE", m.membership_status)
    assert.are.equal("PATCH", req.method)
    assert.are.equal("/api/v1/invites/organizations/org_1/users/usr_9/resend", req.path)
  end

  cases.listRoles = function()
    assert(sk.roles:create("org_1", { name = "viewer" }))
    server:clear_requests()
    local res, req = call_ok("listRoles", { org_id = "org_1" })
    assert.are.equal(1, #res.roles)
    assert.are.equal("viewer", res.roles[1].name)
    assert.are.equal("GET", req.method)
    assert.are.equal("/api/v1/organizations/org_1/roles", req.path)
  end

  cases.createRole = function()
    local role, req = call_ok("createRole", { org_id = "org_1", name = "viewer" })
    assert.are.equal("viewer", role.name)
    assert.matches("^role_%d+$", role.id)
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/organizations/org_1/roles", req.path)
    assert.are.equal('{"name":"viewer"}', req.body)
    local _, body = raw("GET", "/api/v1/organizations/org_1/roles")
    assert.are.equal(role.id, body.roles[1].id)
    -- a duplicate is a 409
    local dup, derr = sk:call("createRole", { org_id = "org_1", name = "viewer" })
    assert.is_nil(dup)
    assert.are.equal(409, derr.status)
  end

  cases.listConnectedAccounts = function()
    local page, req = call_ok("listConnectedAccounts", { page_size = 1 })
    assert.are.equal("ca_1", page.connected_accounts[1].id)
    assert.is_true(#page.next_page_token > 0)
    assert.are.equal("/api/v1/connected_accounts", req.path)
    assert.are.equal("1", req.query.page_size)
  end

  cases.createConnectedAccount = function()
    local acct, req = call_ok("createConnectedAccount",
      { connector = "slack", identifier = "u1", authorization_details = { api_key = "k" } })
    assert.are.equal("ca_3", acct.id)
    assert.are.equal("API_KEY", acct.authorization_type)
    assert.are.equal("POST", req.method)
    assert.are.same({ connector = "slack", identifier = "u1", authorization_details = { api_key = "k" } },
      cjson.decode(req.body))
    local _, body = raw("GET", "/api/v1/connected_accounts")
    assert.are.equal(3, #body.connected_accounts)
  end

  cases.updateConnectedAccountCredentials = function()
    local acct, req = call_ok("updateConnectedAccountCredentials", {
      connector = "gmail", identifier = "user2@example.com",
      authorization_details = { oauth_token = { access_token = "a" } },
    })
    assert.are.equal("ca_2", acct.id)
    assert.are.equal("ACTIVE", acct.status)
    assert.are.equal("PUT", req.method)
    assert.are.equal("/api/v1/connected_accounts", req.path)
    local _, body = raw("GET", "/api/v1/connected_accounts")
    assert.are.equal("PENDING", body.connected_accounts[1].status)
    assert.are.equal("ACTIVE", body.connected_accounts[2].status)
  end

  cases.createConnectedAccountMagicLink = function()
    local res, req = call_ok("createConnectedAccountMagicLink", { connector = "gmail", identifier = "user1@example.com" })
    assert.matches("^https://fake%.scalekit%.test/magic_link/gmail/", res.link)
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/connected_accounts/magic_link", req.path)
  end

  cases.executeTool = function()
    local res, req = call_ok("executeTool",
      { tool_name = "send_email", identifier = "user2@example.com", connection_name = "gmail", tool_input = { to = "x@y", n = 2 } })
    assert.are.same({ to = "x@y", n = 2 }, res.data)
    assert.matches("^exec_%d+$", res.execution_id)
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/execute_tool", req.path)
    assert.are.same({ tool_name = "send_email", identifier = "user2@example.com", connection_name = "gmail",
      tool_input = { to = "x@y", n = 2 } }, cjson.decode(req.body))
  end

  describe("every operation", function()
    local ids = {}
    for id in pairs(cases) do ids[id] = true end
    for id in pairs(scalekit.operations) do ids[id] = true end

    for _, id in ipairs(sorted_keys(ids)) do
      it(id, function()
        assert.is_not_nil(scalekit.operations[id], "a case for " .. id .. ", which is no operation")
        assert.is_not_nil(cases[id], "no sk:call case for operation " .. id)
        cases[id]()
        -- the operation was reached with its row's method
        local row = scalekit.operations[id]
        local hit = false
        for _, r in ipairs(logged(server, id)) do
          if r.method == row.method then hit = true end
        end
        assert.is_true(hit, "no " .. row.method .. " request logged for " .. id)
      end)
    end

    it("are exactly the keys of scalekit.operations (26 of them)", function()
      assert.are.same(sorted_keys(scalekit.operations), sorted_keys(cases))
      assert.are.equal(26, #sorted_keys(scalekit.operations))
    end)
  end)

  describe("mistakes and failures", function()
    it("raises for an unknown operation", function()
      raises("call: unknown operation 'getOrganisation'", function()
        sk:call("getOrganisation", { id = "org_1" })
      end)
    end)

    it("raises for a missing path parameter, an unknown field, or non-table params, sending nothing", function()
      raises("call(getOrganization): missing required field 'id'", function()
        sk:call("getOrganization", {})
      end)
      raises("call(getOrganization): missing required field 'id'", function()
        sk:call("getOrganization")
      end)
      raises("call(createRole): unknown field 'nme'", function()
        sk:call("createRole", { org_id = "org_1", nme = "viewer" })
      end)
      raises("call(createRole): missing required field 'name'", function()
        sk:call("createRole", { org_id = "org_1" })
      end)
      raises("call: argument #2 (params) must be a table", function()
        sk:call("getOrganization", "org_1")
      end)
      raises("call(getOrganization): 'id' must be a non-empty string", function()
        sk:call("getOrganization", { id = "" })
      end)
      assert.are.equal(0, #logged(server))
    end)

    it("raises for a path parameter that is a number, not a string", function()
      raises("call(getOrganization): 'id' must be a non-empty string", function()
        sk:call("getOrganization", { id = 1 })
      end)
      assert.are.equal(0, #logged(server))
    end)

    it("returns nil, err for an API failure, naming the operation", function()
      local res, err = sk:call("getDirectory", { organization_id = "org_1", directory_id = "dir_2" })
      assert.is_nil(res)
      assert.is_true(scalekit.is_error(err))
      assert.are.equal(404, err.status)
      assert.are.equal("NOT_FOUND", err.code)
      assert.are.equal("getDirectory", err.operation)
      assert.is_truthy(tostring(err):find("getDirectory", 1, true))
    end)
  end)

  ---------------------------------------------------------------------------
  -- Every resource method of scalekit.methods, mapped to a call here.
  -- Each function may set up state, then calls ready() before the call
  -- under test; the wrapper checks that what followed reached the
  -- operation scalekit.methods names.
  ---------------------------------------------------------------------------
  local function ready() server:clear_requests() end

  local function count(iter_fn)
    local n = 0
    for _ in iter_fn() do n = n + 1 end
    return n
  end

  local method_calls = {
    organizations = {
      list = function() assert.are.equal(1, #assert(sk.organizations:list { page_size = 1 }).organizations) end,
      each = function() assert.are.equal(2, count(function() return sk.organizations:each { page_size = 1 } end)) end,
      pages = function() assert.are.equal(2, count(function() return sk.organizations:pages { page_size = 1 } end)) end,
      create = function() assert.are.equal("X", assert(sk.organizations:create { display_name = "X" }).display_name) end,
      get = function() assert.are.equal("org_1", assert(sk.organizations:get("org_1")).id) end,
      update = function() assert.are.equal("Y", assert(sk.organizations:update("org_1", { display_name = "Y" })).display_name) end,
      delete = function() assert.is_true(assert(sk.organizations:delete("org_2"))) end,
      update_settings = function()
        assert.are.equal("org_1", assert(sk.organizations:update_settings("org_1", { features = {} })).id)
      end,
      portal_link = function() assert.are.equal("string", type(assert(sk.organizations:portal_link("org_1")).location)) end,
    },
    connections = {
      list = function() assert.are.equal(4, #assert(sk.connections:list()).connections) end,
      each = function() assert.are.equal(2, count(function() return sk.connections:each { organization_id = "org_1" } end)) end,
      pages = function() assert.are.equal(4, count(function() return sk.connections:pages { page_size = 1 } end)) end,
      list_by_organization = function()
        assert.are.equal(2, #assert(sk.connections:list_by_organization("org_2")).connections)
      end,
      get = function() assert.are.equal("conn_4", assert(sk.connections:get("org_2", "conn_4")).id) end,
    },
    directories = {
      list = function() assert.are.equal("dir_1", assert(sk.directories:list("org_1")).directories[1].id) end,
      get = function() assert.are.equal("dir_1", assert(sk.directories:get("org_1", "dir_1")).id) end,
      list_users = function() assert.are.equal(3, #assert(sk.directories:list_users("org_1", "dir_1")).users) end,
      each_user = function()
        assert.are.equal(3, count(function() return sk.directories:each_user("org_1", "dir_1", { page_size = 2 }) end))
      end,
      user_pages = function()
        assert.are.equal(2, count(function() return sk.directories:user_pages("org_1", "dir_1", { page_size = 2 }) end))
      end,
      list_groups = function() assert.are.equal(2, #assert(sk.directories:list_groups("org_1", "dir_1")).groups) end,
      each_group = function()
        assert.are.equal(2, count(function() return sk.directories:each_group("org_1", "dir_1", { page_size = 1 }) end))
      end,
      group_pages = function()
        assert.are.equal(2, count(function() return sk.directories:group_pages("org_1", "dir_1", { page_size = 1 }) end))
      end,
    },
    memberships = {
      add = function() assert.are.equal("u1", assert(sk.memberships:add("org_1", "u1")).user_id) end,
      update = function()
        assert(sk.memberships:add("org_1", "u1"))
        ready()
        assert.are.same({ "r" }, assert(sk.memberships:update("org_1", "u1", { roles = { "r" } })).roles)
      end,
      remove = function()
        assert(sk.memberships:add("org_1", "u1"))
        ready()
        assert.is_true(assert(sk.memberships:remove("org_1", "u1")))
      end,
      resend_invite = function()
        assert(sk.memberships:add("org_1", "u1"))
        ready()
        assert.are.equal("u1", assert(sk.memberships:resend_invite("org_1", "u1")).user_id)
      end,
    },
    roles = {
      list = function() assert.are.equal(0, #assert(sk.roles:list("org_1")).roles) end,
      create = function() assert.are.equal("r", assert(sk.roles:create("org_1", { name = "r" })).name) end,
    },
    connected_accounts = {
      list = function() assert.are.equal(2, #assert(sk.connected_accounts:list()).connected_accounts) end,
      each = function() assert.are.equal(2, count(function() return sk.connected_accounts:each { page_size = 1 } end)) end,
      pages = function() assert.are.equal(2, count(function() return sk.connected_accounts:pages { page_size = 1 } end)) end,
      create = function()
        assert.are.equal("ca_3", assert(sk.connected_accounts:create { connector = "c", identifier = "i" }).id)
      end,
      update_credentials = function()
        assert.are.equal("ca_1", assert(sk.connected_accounts:update_credentials {
          connector = "gmail", identifier = "user1@example.com", authorization_details = { api_key = "k" },
        }).id)
      end,
      magic_link = function()
        assert.are.equal("string", type(assert(sk.connected_accounts:magic_link { connector = "c", identifier = "i" }).link))
      end,
    },
    tools = {
      execute = function()
        assert.are.same({ q = "x" }, assert(sk.tools:execute {
          tool_name = "t", identifier = "user1@example.com", tool_input = { q = "x" },
        }).data)
      end,
    },
  }

  describe("every method of scalekit.methods", function()
    local names = {}
    for resource, methods in pairs(scalekit.methods) do
      for name in pairs(methods) do names[resource .. ":" .. name] = true end
    end
    for resource, methods in pairs(method_calls) do
      for name in pairs(methods) do names[resource .. ":" .. name] = true end
    end

    for _, full in ipairs(sorted_keys(names)) do
      local resource, name = full:match("^(.-):(.*)$")
      it("sk." .. full .. " reaches its operation", function()
        local op = scalekit.methods[resource] and scalekit.methods[resource][name]
        local fn = method_calls[resource] and method_calls[resource][name]
        assert.is_not_nil(op, "a call for sk." .. full .. ", which scalekit.methods does not list")
        assert.is_not_nil(fn, "no call in this file for sk." .. full)
        assert.is_not_nil(scalekit.operations[op], "scalekit.methods names an unknown operation " .. tostring(op))
        fn()
        local reqs = {}
        for _, r in ipairs(logged(server)) do
          if r.operation ~= "createToken" then reqs[#reqs + 1] = r end
        end
        assert.is_true(#reqs > 0, "sk." .. full .. " sent no request")
        for _, r in ipairs(reqs) do
          assert.are.equal(op, r.operation)
          assert.are.equal(scalekit.operations[op].method, r.method)
        end
      end)
    end

    it("are all mapped to a call here (and nothing else is)", function()
      local want, have = {}, {}
      for resource, methods in pairs(scalekit.methods) do
        for name in pairs(methods) do want[#want + 1] = resource .. ":" .. name end
      end
      for resource, methods in pairs(method_calls) do
        for name in pairs(methods) do have[#have + 1] = resource .. ":" .. name end
      end
      table.sort(want)
      table.sort(have)
      assert.are.same(want, have)
      assert.are.equal(35, #want)
    end)
  end)
end)
