-- sk.memberships and sk.roles against the fake Scalekit server.
local fake = require "spec.helpers.fake"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"
local cjson = require "cjson"

local logged, only, raises, api_error = util.logged, util.only, util.raises, util.api_error

describe("memberships and roles", function()
  local server, sk, org

  setup(function()
    server = fake.start {}
    sk = scalekit.new(server:env())
  end)

  teardown(function()
    if sk then sk:close() end
    if server then server:stop() end
  end)

  before_each(function()
    server:reset { keep_tokens = true }
    org = server:seed { organizations = 1 }.organization_ids[1]
  end)

  describe("memberships:add", function()
    it("adds a user with roles and metadata", function()
      local m, err = sk.memberships:add(org, "usr_1", { roles = { "admin", "billing" }, metadata = { team = "blue" } })
      assert.is_nil(err)
      assert.are.equal("usr_1", m.user_id)
      assert.are.equal(org, m.organization_id)
      assert.are.same({ "admin", "billing" }, m.roles)
      assert.are.equal("PENDING_INVITE", m.membership_status)

      local req = only(server, "addMembership")
      assert.are.equal("POST", req.method)
      assert.are.equal("/api/v1/memberships/organizations/" .. org .. "/users/usr_1", req.path)
      assert.matches("^application/json", req.headers["content-type"])
      assert.are.same({ roles = { "admin", "billing" }, metadata = { team = "blue" } }, cjson.decode(req.body))
    end)

    it("sends {} without fields and the server's default role applies", function()
      local m = assert(sk.memberships:add(org, "usr_2"))
      assert.are.same({ "member" }, m.roles)
      assert.are.equal("{}", only(server, "addMembership").body)
    end)

    it("sends an empty roles list as a JSON array", function()
      local m = assert(sk.memberships:add(org, "usr_3", { roles = {} }))
      assert.are.equal(0, #m.roles)
      assert.are.equal('{"roles":[]}', only(server, "addMembership").body)
    end)

    it("percent-encodes the user id", function()
      local m = assert(sk.memberships:add(org, "a/b c@x"))
      assert.are.equal("a/b c@x", m.user_id)
      assert.are.equal("/api/v1/memberships/organizations/" .. org .. "/users/a%2Fb%20c%40x",
        only(server, "addMembership").path)
    end)

    it("returns nil, err 404 for an unknown organization", function()
      local m, err = sk.memberships:add("org_missing", "usr_1", { roles = { "admin" } })
      api_error(404, "NOT_FOUND", m, err, "addMembership")
    end)

    it("returns nil, err 409 when the user is already a member", function()
      assert(sk.memberships:add(org, "usr_1"))
      local m, err = sk.memberships:add(org, "usr_1", { roles = { "admin" } })
      api_error(409, "ALREADY_EXISTS", m, err, "addMembership")
      assert.is_false(err.retryable)
    end)

    it("returns nil, err 400 for roles that are not strings", function()
      local m, err = sk.memberships:add(org, "usr_1", { roles = { 1, 2 } })
      api_error(400, "INVALID_ARGUMENT", m, err, "addMembership")
      assert.are.equal("roles[0]", err.details[1].field)
    end)

    it("raises for wrong types and missing path arguments, sending nothing", function()
      raises("memberships:add: field 'roles' must be a table (JSON array) (got string)", function()
        sk.memberships:add(org, "usr_1", { roles = "admin" })
      end)
      raises("memberships:add: field 'metadata' must be a table (JSON object)", function()
        sk.memberships:add(org, "usr_1", { metadata = "x" })
      end)
      raises("memberships:add: argument #2 (id) must be a non-empty string", function()
        sk.memberships:add(org)
      end)
      assert.are.equal(0, #logged(server))
    end)
  end)

  describe("memberships:update", function()
    it("replaces the roles", function()
      assert(sk.memberships:add(org, "usr_1", { roles = { "admin" } }))
      local m, err = sk.memberships:update(org, "usr_1", { roles = { "viewer" }, metadata = { team = "red" } })
      assert.is_nil(err)
      assert.are.same({ "viewer" }, m.roles)
      assert.are.equal("usr_1", m.user_id)
      local req = only(server, "updateMembership")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/memberships/organizations/" .. org .. "/users/usr_1", req.path)
      assert.are.same({ roles = { "viewer" }, metadata = { team = "red" } }, cjson.decode(req.body))
      -- persisted: resend_invite returns the stored membership
      assert.are.same({ "viewer" }, assert(sk.memberships:resend_invite(org, "usr_1")).roles)
    end)

    it("returns nil, err 404 for a user who is not a member", function()
      local m, err = sk.memberships:update(org, "usr_nobody", { roles = { "viewer" } })
      api_error(404, "NOT_FOUND", m, err, "updateMembership")
    end)
  end)

  describe("memberships:remove", function()
    it("returns true and the membership is gone", function()
      assert(sk.memberships:add(org, "usr_1"))
      local res, err = sk.memberships:remove(org, "usr_1")
      assert.is_nil(err)
      assert.is_true(res)
      local req = only(server, "removeMembership")
      assert.are.equal("DELETE", req.method)
      assert.are.equal("/api/v1/memberships/organizations/" .. org .. "/users/usr_1", req.path)
      assert.are.equal("", req.body)
      local m, uerr = sk.memberships:update(org, "usr_1", { roles = { "x" } })
      api_error(404, "NOT_FOUND", m, uerr)
      -- and can be added again
      assert(sk.memberships:add(org, "usr_1"))
    end)

    it("returns nil, err 404 for a user who is not a member", function()
      local res, err = sk.memberships:remove(org, "usr_nobody")
      api_error(404, "NOT_FOUND", res, err, "removeMembership")
    end)

    it("raises when given a fields table", function()
      raises("memberships:remove: unknown field 'roles'", function()
        sk.memberships:remove(org, "usr_1", { roles = {} })
      end)
    end)
  end)

  describe("memberships:resend_invite", function()
    it("returns the membership", function()
      assert(sk.memberships:add(org, "usr_1", { roles = { "admin" } }))
      local m, err = sk.memberships:resend_invite(org, "usr_1")
      assert.is_nil(err)
      assert.are.equal("usr_1", m.user_id)
      assert.are.equal("PENDING_INVITE", m.membership_status)
      local req = only(server, "resendInvite")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/invites/organizations/" .. org .. "/users/usr_1/resend", req.path)
    end)

    it("returns nil, err 404 without a membership, or for an unknown organization", function()
      local m, err = sk.memberships:resend_invite(org, "usr_nobody")
      api_error(404, "NOT_FOUND", m, err, "resendInvite")
      m, err = sk.memberships:resend_invite("org_missing", "usr_1")
      api_error(404, "NOT_FOUND", m, err, "resendInvite")
    end)
  end)

  describe("roles:list", function()
    it("lists the organization's roles", function()
      local res, err = sk.roles:list(org)
      assert.is_nil(err)
      assert.are.equal("table", type(res.roles))
      assert.are.equal(0, #res.roles)
      assert(sk.roles:create(org, { name = "viewer" }))
      assert(sk.roles:create(org, { name = "editor" }))
      res = assert(sk.roles:list(org))
      assert.are.same({ "viewer", "editor" }, { res.roles[1].name, res.roles[2].name })
      local req = logged(server, "listRoles")[1]
      assert.are.equal("GET", req.method)
      assert.are.equal("/api/v1/organizations/" .. org .. "/roles", req.path)
    end)

    it("returns nil, err 404 for an unknown organization", function()
      local res, err = sk.roles:list("org_missing")
      api_error(404, "NOT_FOUND", res, err, "listRoles")
    end)
  end)

  describe("roles:create", function()
    it("creates a role with every field", function()
      local role, err = sk.roles:create(org, {
        name = "viewer", display_name = "Viewer", description = "Read only", permissions = { "read", "list" },
      })
      assert.is_nil(err)
      assert.matches("^role_%d+$", role.id)
      assert.are.equal("viewer", role.name)
      assert.are.equal("Viewer", role.display_name)
      assert.are.equal("Read only", role.description)
      assert.are.same({ "read", "list" }, role.permissions)
      local req = only(server, "createRole")
      assert.are.equal("POST", req.method)
      assert.are.equal("/api/v1/organizations/" .. org .. "/roles", req.path)
      assert.are.same({ name = "viewer", display_name = "Viewer", description = "Read only",
        permissions = { "read", "list" } }, cjson.decode(req.body))
    end)

    it("sends an empty permissions list as a JSON array", function()
      local role = assert(sk.roles:create(org, { name = "nobody", permissions = {} }))
      assert.are.equal(0, #role.permissions)
      assert.are.equal("nobody", role.display_name) -- server default
      local body = only(server, "createRole").body
      assert.is_truthy(body:find('"permissions":[]', 1, true), body)
    end)

    it("returns nil, err 409 for a duplicate name", function()
      assert(sk.roles:create(org, { name = "viewer" }))
      local role, err = sk.roles:create(org, { name = "viewer", display_name = "Again" })
      api_error(409, "ALREADY_EXISTS", role, err, "createRole")
      assert.are.equal("name", err.details[1].field)
      assert.are.equal(1, #assert(sk.roles:list(org)).roles)
    end)

    it("returns nil, err 404 for an unknown organization", function()
      local role, err = sk.roles:create("org_missing", { name = "viewer" })
      api_error(404, "NOT_FOUND", role, err, "createRole")
    end)

    it("raises for a missing name and sends nothing", function()
      raises("roles:create: missing required field 'name'", function()
        sk.roles:create(org, { display_name = "No name" })
      end)
      raises("roles:create: missing required field 'name'", function()
        sk.roles:create(org)
      end)
      raises("roles:create: field 'permissions' must be a table (JSON array)", function()
        sk.roles:create(org, { name = "x", permissions = "read" })
      end)
      assert.are.equal(0, #logged(server))
    end)

    it("returns nil, err 400 for permissions that are not strings", function()
      local role, err = sk.roles:create(org, { name = "numbers", permissions = { 1, 2 } })
      api_error(400, "INVALID_ARGUMENT", role, err, "createRole")
      assert.are.equal("permissions[0]", err.details[1].field)
      assert.are.equal(0, #assert(sk.roles:list(org)).roles)
    end)

    it("returns nil, err 400 for an empty name", function()
      local role, err = sk.roles:create(org, { name = "" })
      api_error(400, "INVALID_ARGUMENT", role, err, "createRole")
      assert.are.equal("name", err.details[1].field)
    end)
  end)
end)
