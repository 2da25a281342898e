-- sk:call(operationId, params) for every operationId of the first document
-- (api/scalekit-openapi.yaml, "the sketch"), with its params named as there,
-- each checked against the fake server's request log and state; and every
-- method of the sketch (35), each reaching its operation. The sketch's ids
-- are aliases of published operations. The exhaustive checks over every
-- published operation and method belong to the contract suite (spec/contract).
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local process = require "spec.helpers.process"
local scalekit = require "scalekit"
local cjson = require "cjson"

local number_type, logged, raises = util.number_type, util.logged, util.raises

local function sorted_keys(t)
  local out = {}
  for k in pairs(t) do out[#out + 1] = k end
  table.sort(out)
  return out
end

-- The set of operationIds of an OpenAPI document (JSON) of this tree.
local function operation_ids(path)
  local doc = cjson.decode((assert(process.read_file(path))))
  local ids = {}
  for _, item in pairs(doc.paths) do
    for _, m in ipairs { "get", "put", "post", "delete", "patch" } do
      if item[m] then ids[item[m].operationId] = true end
    end
  end
  return ids
end

describe("sk:call", function()
  local server, sk

  -- util.raw on this file's server (logged too: check the log first).
  local function raw(method, path)
    return util.raw(server, method, path)
  end

  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  -- org_1 (conn_1, conn_2, dir_1 with diru_1..3 and dirg_1..2), org_2
  -- (conn_3, conn_4, dir_2); usr_1, an active member of org_1 only (the
  -- service adds only existing users to an organization); connected
  -- accounts ca_1 (gmail, user1@example.com) and ca_2 (gmail,
  -- user2@example.com), both PENDING_AUTH.
  before_each(function()
    server:seed { organizations = 2, directory_users = 3, directory_groups = 2, users = 1, connected_accounts = 2 }
    server:clear_requests()
  end)

  -- A user's membership of `org` as the API shows it (user.memberships), or nil.
  local function membership_in(user, org)
    for _, m in ipairs(user.memberships) do
      if m.organization_id == org then return m end
    end
  end

  -- usr_1's membership of `org` as the server holds it, or nil.
  local function server_membership(org)
    local status, body = raw("GET", "/api/v1/users/usr_1")
    assert.are.equal(200, status)
    return membership_in(body.user, org)
  end

  ---------------------------------------------------------------------------
  -- One case per operationId.
  ---------------------------------------------------------------------------
  local cases = {}

  -- sk:call(op, params), which must succeed: returns its result and the one
  -- request that the server logged for the operation op resolves to.
  local function call_ok(op, params)
    local res, err = sk:call(op, params)
    assert.is_nil(err)
    local reqs = server:requests(scalekit.operations[op].id)
    assert.are.equal(1, #reqs, "expected exactly one " .. op .. " request")
    return res, reqs[1]
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
    -- errors name the published operationId, whichever name the caller used
    assert.are.equal(scalekit.operations.getOrganization.id, nerr.operation)
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

  -- The live ListConnections does not page: one answer holds every match.
  cases.listConnections = function()
    local res, req = call_ok("listConnections", { organization_id = "org_2" })
    assert.are.same({ "conn_3", "conn_4" }, { res.connections[1].id, res.connections[2].id })
    assert.are.equal(2, #res.connections)
    assert.are.equal("GET", req.method)
    assert.are.equal("/api/v1/connections", req.path)
    assert.are.same({ organization_id = "org_2" }, req.query)
    -- the first document's paging fields raise: never dropped silently
    raises("call(listConnections): unknown field 'page_size'", function()
      sk:call("listConnections", { organization_id = "org_2", page_size = 1 })
    end)
    assert.are.equal(1, #server:requests(scalekit.operations.listConnections.id))
  end

  -- The live API has no per-organization path: the same question is the
  -- organization_id filter of ListConnections.
  cases.listOrganizationConnections = function()
    local res, req = call_ok("listOrganizationConnections", { organization_id = "org_1" })
    assert.are.same({ "conn_1", "conn_2" }, { res.connections[1].id, res.connections[2].id })
    assert.are.equal(2, #res.connections)
    assert.are.equal("GET", req.method)
    assert.are.equal("/api/v1/connections", req.path)
    assert.are.same({ organization_id = "org_1" }, req.query)
  end

  cases.getConnection = function()
    local conn, req = call_ok("getConnection", { organization_id = "org_1", id = "conn_2" })
    assert.are.equal("conn_2", conn.id)
    assert.are.equal("OIDC", conn.type)
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

  -- Membership writes answer the user ({"user": ...}, unwrapped); roles go
  -- on the wire as role objects ({name = ...}), as the service takes them.
  cases.addMembership = function()
    local user, req = call_ok("addMembership",
      { organization_id = "org_2", id = "usr_1", roles = { { name = "admin" } }, metadata = { a = "b" } })
    assert.are.equal("usr_1", user.id)
    local m = membership_in(user, "org_2")
    assert.are.equal(1, #m.roles)
    assert.are.equal("admin", m.roles[1].name)
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/memberships/organizations/org_2/users/usr_1", req.path)
    assert.are.same({ roles = { { name = "admin" } }, metadata = { a = "b" } }, cjson.decode(req.body))
    m = server_membership("org_2")
    assert.are.equal("admin", m.roles[1].name)
    assert.are.same({ a = "b" }, m.metadata)
  end

  cases.updateMembership = function()
    assert(sk.memberships:add("org_2", "usr_1", { roles = { { name = "admin" } } }))
    server:clear_requests()
    local user, req = call_ok("updateMembership",
      { organization_id = "org_2", id = "usr_1", roles = { { name = "member" } } })
    local m = membership_in(user, "org_2")
    assert.are.equal(1, #m.roles)
    assert.are.equal("member", m.roles[1].name)
    assert.are.equal("PATCH", req.method)
    assert.are.equal("/api/v1/memberships/organizations/org_2/users/usr_1", req.path)
    assert.are.equal('{"roles":[{"name":"member"}]}', req.body)
    assert.are.equal("member", server_membership("org_2").roles[1].name)
  end

  cases.removeMembership = function()
    local res, req = call_ok("removeMembership", { organization_id = "org_1", id = "usr_1" })
    assert.is_true(res)
    assert.are.equal("DELETE", req.method)
    assert.are.equal("/api/v1/memberships/organizations/org_1/users/usr_1", req.path)
    assert.is_nil(server_membership("org_1"))
  end

  -- The invitation ({"invite": ...}, unwrapped); the service needs a body: {}.
  cases.resendInvite = function()
    assert(sk.memberships:add("org_2", "usr_1", { send_invitation_email = true }))
    server:clear_requests()
    local invite, req = call_ok("resendInvite", { organization_id = "org_2", id = "usr_1" })
    assert.are.equal("usr_1", invite.user_id)
    assert.are.equal("org_2", invite.organization_id)
    assert.are.equal("PENDING_INVITE", invite.status)
    assert.are.equal(1, invite.resent_count)
    assert.are.equal("PATCH", req.method)
    assert.are.equal("/api/v1/invites/organizations/org_2/users/usr_1/resend", req.path)
    assert.matches("^application/json", req.headers["content-type"])
    assert.are.equal("{}", req.body)
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

  -- The live bodies nest authorization_details under connected_account;
  -- the details themselves are the live AuthorizationDetails object.
  cases.createConnectedAccount = function()
    local details = { static_auth = { details = { api_key = "k" } } }
    local acct, req = call_ok("createConnectedAccount",
      { connector = "slack", identifier = "u1", authorization_details = details })
    assert.are.equal("ca_3", acct.id)
    assert.are.equal("API_KEY", acct.authorization_type)
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/connected_accounts", req.path)
    assert.are.same({ connector = "slack", identifier = "u1", connected_account = { authorization_details = details } },
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
    assert.are.same({ connector = "gmail", identifier = "user2@example.com",
      connected_account = { authorization_details = { oauth_token = { access_token = "a" } } } },
      cjson.decode(req.body))
    local _, body = raw("GET", "/api/v1/connected_accounts")
    assert.are.equal("PENDING_AUTH", body.connected_accounts[1].status)
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
    -- the first document's names go out under the live ones
    assert.are.same({ tool_name = "send_email", identifier = "user2@example.com", connector = "gmail",
      params = { to = "x@y", n = 2 } }, cjson.decode(req.body))
  end

  describe("every operation of the first document", function()
    local sketch = operation_ids("api/scalekit-openapi.json")
    local published = operation_ids("api/scalekit-public-openapi.json")
    local ids = {}
    for id in pairs(cases) do ids[id] = true end
    for id in pairs(sketch) do ids[id] = true end

    for _, id in ipairs(sorted_keys(ids)) do
      it(id, function()
        assert.is_true(sketch[id], "a case for " .. id .. ", which is no operationId of the first document")
        assert.is_not_nil(cases[id], "no sk:call case for operation " .. id)
        -- the alias resolves to a published operation, the same row as
        -- under its published id (createToken is in neither document)
        local row = scalekit.operations[id]
        assert.is_table(row, id .. " is not a key of scalekit.operations")
        if id == "createToken" then
          assert.are.equal("createToken", row.id)
        else
          assert.is_true(published[row.id], id .. " resolves to " .. tostring(row.id) .. ", no published operationId")
        end
        assert.are.equal(row, scalekit.operations[row.id])
        cases[id]()
        -- the operation was reached with its row's method
        local hit = false
        for _, r in ipairs(server:requests(row.id)) do
          if r.method == row.method then hit = true end
        end
        assert.is_true(hit, "no " .. row.method .. " request logged for " .. id)
      end)
    end

    it("are all 26 here, and keys of scalekit.operations next to the 111 published ids", function()
      assert.are.same(sorted_keys(sketch), sorted_keys(cases))
      assert.are.equal(26, #sorted_keys(cases))
      local n = 0
      for id in pairs(published) do
        n = n + 1
        assert.is_table(scalekit.operations[id], id)
        assert.are.equal(id, scalekit.operations[id].id)
      end
      assert.are.equal(111, n)
      assert.is_true(#sorted_keys(scalekit.operations) >= 111 + 26)
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
      raises("call(createOrganization): missing required field 'display_name'", function()
        sk:call("createOrganization", { external_id = "x" })
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
      -- the published operationId, though the caller used the first document's
      local id = scalekit.operations.getDirectory.id
      assert.are.equal("DirectoryService_GetDirectory", id)
      assert.are.equal(id, err.operation)
      assert.is_truthy(tostring(err):find(id, 1, true))
    end)
  end)

  ---------------------------------------------------------------------------
  -- Every resource method of the first document (35), mapped to a call
  -- here. Each function may set up state, then calls ready() before the
  -- call under test; the wrapper checks that what followed reached the
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
      -- ListConnections does not page: its one answer is the one page
      pages = function()
        local sizes = {}
        for page in sk.connections:pages() do sizes[#sizes + 1] = #page.connections end
        assert.are.same({ 4 }, sizes)
      end,
      -- the live API's filter, not a per-organization path
      list_by_organization = function()
        assert.are.equal(2, #assert(sk.connections:list_by_organization("org_2")).connections)
        local req = server:requests(scalekit.methods.connections.list_by_organization)[1]
        assert.are.equal("/api/v1/connections", req.path)
        assert.are.same({ organization_id = "org_2" }, req.query)
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
    -- usr_1 is a member of org_1 (seeded); these add it to org_2
    memberships = {
      add = function() assert.are.equal("usr_1", assert(sk.memberships:add("org_2", "usr_1")).id) end,
      update = function()
        assert(sk.memberships:add("org_2", "usr_1"))
        ready()
        local user = assert(sk.memberships:update("org_2", "usr_1", { roles = { { name = "admin" } } }))
        assert.are.equal("admin", membership_in(user, "org_2").roles[1].name)
      end,
      remove = function() assert.is_true(assert(sk.memberships:remove("org_1", "usr_1"))) end,
      resend_invite = function()
        assert(sk.memberships:add("org_2", "usr_1", { send_invitation_email = true }))
        ready()
        assert.are.equal("usr_1", assert(sk.memberships:resend_invite("org_2", "usr_1")).user_id)
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
          connector = "gmail", identifier = "user1@example.com",
          authorization_details = { static_auth = { details = { api_key = "k" } } },
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

  describe("every method of the first document", function()
    local names = {}
    for resource, methods in pairs(method_calls) do
      for name in pairs(methods) do names[resource .. ":" .. name] = true end
    end

    for _, full in ipairs(sorted_keys(names)) do
      local resource, name = full:match("^(.-):(.*)$")
      it("sk." .. full .. " reaches its operation", function()
        local op = scalekit.methods[resource] and scalekit.methods[resource][name]
        assert.is_not_nil(op, "sk." .. full .. " is no longer in scalekit.methods")
        assert.is_function(sk[resource][name], "sk." .. full)
        assert.is_table(scalekit.operations[op], "scalekit.methods names an unknown operation " .. tostring(op))
        assert.are.equal(op, scalekit.operations[op].id)
        method_calls[resource][name]()
        local reqs = {}
        for _, r in ipairs(logged(server)) do
          if r.operation ~= "createToken" then reqs[#reqs + 1] = r end
        end
        assert.is_true(#reqs > 0, "sk." .. full .. " sent no request")
        for _, r in ipairs(reqs) do
          assert.are.equal(op, r.operation_id)
          assert.are.equal(scalekit.operations[op].method, r.method)
        end
      end)
    end

    it("are all 35 in scalekit.methods, whose every method names an operation", function()
      assert.are.equal(35, #sorted_keys(names))
      local total = 0
      for resource, methods in pairs(scalekit.methods) do
        for name, op in pairs(methods) do
          total = total + 1
          assert.is_table(scalekit.operations[op], resource .. ":" .. name .. " -> " .. tostring(op))
        end
      end
      for full in pairs(names) do
        local resource, name = full:match("^(.-):(.*)$")
        assert.is_string(scalekit.methods[resource] and scalekit.methods[resource][name], full)
      end
      assert.is_true(total > 35)
    end)
  end)
end)
