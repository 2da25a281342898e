-- sk.memberships and sk.roles against the fake Scalekit server. A
-- membership joins an existing user to an organization; the live API
-- answers with the user (its memberships included) and takes roles as
-- objects ({ name = "admin" }). roles:list and roles:create are the
-- organization's roles.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local cjson = require "cjson"

local logged, only, raises, api_error, ids = util.logged, util.only, util.raises, util.api_error, util.ids
local membership = util.membership

describe("memberships and roles", function()
  local server, sk, org
  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  -- org_1 (the organization under test) and org_2, where usr_1..usr_3 are
  -- members; usr_1..usr_3 are no members of org_1 yet.
  before_each(function()
    org = server:seed { organizations = 1 }.organization_ids[1]
    server:seed { organizations = 1, users = 3 }
    server:clear_requests()
  end)

  describe("memberships:add", function()
    it("adds a user with roles and metadata; the result is the user", function()
      local user, err = sk.memberships:add(org, "usr_1", {
        roles = { { name = "admin" }, { name = "member" } }, metadata = { team = "blue" },
      })
      assert.is_nil(err)
      assert.are.equal("usr_1", user.id)
      local m = membership(user, org)
      assert.are.same({ "admin", "member" }, ids(m.roles, "name"))
      assert.are.same({ team = "blue" }, m.metadata)
      assert.are.equal("ACTIVE", m.membership_status)

      local req = only(server, "addMembership")
      assert.are.equal("POST", req.method)
      assert.are.equal("/api/v1/memberships/organizations/" .. org .. "/users/usr_1", req.path)
      assert.matches("^application/json", req.headers["content-type"])
      assert.are.same({ roles = { { name = "admin" }, { name = "member" } }, metadata = { team = "blue" } },
        cjson.decode(req.body))
    end)

    it("sends {} without fields and the default role applies", function()
      local user = assert(sk.memberships:add(org, "usr_2"))
      assert.are.same({ "member" }, ids(membership(user, org).roles, "name"))
      assert.are.equal("{}", only(server, "addMembership").body)
    end)

    it("sends an empty roles list as a JSON array", function()
      local user = assert(sk.memberships:add(org, "usr_3", { roles = {} }))
      assert.are.equal(0, #membership(user, org).roles)
      assert.are.equal('{"roles":[]}', only(server, "addMembership").body)
    end)

    it("invites with send_invitation_email (a query parameter)", function()
      local user = assert(sk.memberships:add(org, "usr_1", { send_invitation_email = true }))
      assert.are.equal("PENDING_INVITE", membership(user, org).membership_status)
      local req = only(server, "addMembership")
      assert.are.equal("send_invitation_email=true", req.raw_query)
      assert.are.equal("{}", req.body)
    end)

    it("percent-encodes the user id", function()
      local user, err = sk.memberships:add(org, "a/b c@x")
      api_error(404, "NOT_FOUND", user, err, "UserService_CreateMembership")
      assert.is_truthy(err.message:find("a/b c@x", 1, true)) -- the server decoded the whole id
      assert.are.equal("/api/v1/memberships/organizations/" .. org .. "/users/a%2Fb%20c%40x",
        only(server, "addMembership").path)
    end)

    it("returns nil, err 404 for an unknown organization", function()
      local user, err = sk.memberships:add("org_missing", "usr_1", { roles = { { name = "admin" } } })
      api_error(404, "NOT_FOUND", user, err, "UserService_CreateMembership")
    end)

    it("returns nil, err 409 when the user is already a member", function()
      assert(sk.memberships:add(org, "usr_1"))
      local user, err = sk.memberships:add(org, "usr_1", { roles = { { name = "admin" } } })
      api_error(409, "ALREADY_EXISTS", user, err, "UserService_CreateMembership")
      assert.is_false(err.retryable)
    end)

    it("raises for roles that are not role objects; nil, err 400 for a role that does not exist", function()
      assert.has_error(function() sk.memberships:add(org, "usr_1", { roles = { 1, 2 } }) end,
        "memberships:add: field 'roles[1]' must be a table (JSON object) (got number)")
      local user, err = sk.memberships:add(org, "usr_1", { roles = { { name = "nope" } } })
      api_error(400, "INVALID_ARGUMENT", user, err, "UserService_CreateMembership")
      assert.are.equal("roles[0].name", err.details[1].field)
      assert.is_nil(membership(assert(sk.users:get("usr_1")), org))
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
      assert(sk.memberships:add(org, "usr_1", { roles = { { name = "admin" } } }))
      server:clear_requests()
      local user, err = sk.memberships:update(org, "usr_1", { roles = { { name = "member" } }, metadata = { team = "red" } })
      assert.is_nil(err)
      assert.are.equal("usr_1", user.id)
      assert.are.same({ "member" }, ids(membership(user, org).roles, "name"))
      local req = only(server, "updateMembership")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/memberships/organizations/" .. org .. "/users/usr_1", req.path)
      assert.are.same({ roles = { { name = "member" } }, metadata = { team = "red" } }, cjson.decode(req.body))
      -- persisted
      assert.are.same({ "member" }, ids(assert(sk.users:list_roles(org, "usr_1")).roles, "name"))
    end)

    it("returns nil, err 404 for a user who is not a member", function()
      local user, err = sk.memberships:update(org, "usr_2", { roles = { { name = "member" } } })
      api_error(404, "NOT_FOUND", user, err, "UserService_UpdateMembership")
    end)
  end)

  describe("memberships:remove", function()
    it("returns true and the membership is gone", function()
      assert(sk.memberships:add(org, "usr_1"))
      server:clear_requests()
      local res, err = sk.memberships:remove(org, "usr_1")
      assert.is_nil(err)
      assert.is_true(res)
      local req = only(server, "removeMembership")
      assert.are.equal("DELETE", req.method)
      assert.are.equal("/api/v1/memberships/organizations/" .. org .. "/users/usr_1", req.path)
      assert.are.equal("", req.body)
      local user, uerr = sk.memberships:update(org, "usr_1", { roles = { { name = "admin" } } })
      api_error(404, "NOT_FOUND", user, uerr)
      -- and can be added again
      assert(sk.memberships:add(org, "usr_1"))
    end)

    it("returns nil, err 404 for a user who is not a member", function()
      local res, err = sk.memberships:remove(org, "usr_2")
      api_error(404, "NOT_FOUND", res, err, "UserService_DeleteMembership")
    end)

    it("raises when given a fields table", function()
      raises("memberships:remove: unknown field 'roles'", function()
        sk.memberships:remove(org, "usr_1", { roles = {} })
      end)
    end)
  end)

  describe("memberships:resend_invite", function()
    it("sends {} and returns the invitation", function()
      assert(sk.memberships:add(org, "usr_1", { roles = { { name = "admin" } }, send_invitation_email = true }))
      server:clear_requests()
      local invite, err = sk.memberships:resend_invite(org, "usr_1")
      assert.is_nil(err)
      assert.are.equal("usr_1", invite.user_id)
      assert.are.equal(org, invite.organization_id)
      assert.are.equal("PENDING_INVITE", invite.status)
      assert.are.equal(1, invite.resent_count)
      local req = only(server, "resendInvite")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/invites/organizations/" .. org .. "/users/usr_1/resend", req.path)
      assert.are.equal("{}", req.body)
    end)

    it("returns nil, err 404 without a membership, or for an unknown organization", function()
      local m, err = sk.memberships:resend_invite(org, "usr_2")
      api_error(404, "NOT_FOUND", m, err, "UserService_ResendInvite")
      m, err = sk.memberships:resend_invite("org_missing", "usr_1")
      api_error(404, "NOT_FOUND", m, err, "UserService_ResendInvite")
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
      api_error(404, "NOT_FOUND", res, err, "RolesService_ListOrganizationRoles")
    end)
  end)

  describe("roles:create", function()
    -- Role permissions name permissions of the environment.
    before_each(function()
      assert(sk.permissions:create { name = "read" })
      assert(sk.permissions:create { name = "list" })
      server:clear_requests()
    end)

    it("creates a role with every field", function()
      local role, err = sk.roles:create(org, {
        name = "viewer", display_name = "Viewer", description = "Read only", permissions = { "read", "list" },
      })
      assert.is_nil(err)
      assert.matches("^role_%d+$", role.id)
      assert.are.equal("viewer", role.name)
      assert.are.equal("Viewer", role.display_name)
      assert.are.equal("Read only", role.description)
      assert.are.same({ "read", "list" }, ids(role.permissions, "name"))
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
      api_error(409, "ALREADY_EXISTS", role, err, "RolesService_CreateOrganizationRole")
      assert.are.equal("name", err.details[1].field)
      assert.are.equal(1, #assert(sk.roles:list(org)).roles)
    end)

    it("returns nil, err 404 for an unknown organization", function()
      local role, err = sk.roles:create("org_missing", { name = "viewer" })
      api_error(404, "NOT_FOUND", role, err, "RolesService_CreateOrganizationRole")
    end)

    it("returns nil, err 400 from the service for a missing name (the live document requires none)", function()
      local role, err = sk.roles:create(org, { display_name = "No name" })
      api_error(400, "INVALID_ARGUMENT", role, err, "RolesService_CreateOrganizationRole")
      assert.are.equal("name", err.details[1].field)
      assert.are.same({ display_name = "No name" }, cjson.decode(only(server, "createRole").body))
      role, err = sk.roles:create(org)
      api_error(400, "INVALID_ARGUMENT", role, err, "RolesService_CreateOrganizationRole")
      assert.are.equal(0, #assert(sk.roles:list(org)).roles)
    end)

    it("raises for permissions that are not a table, sending nothing", function()
      raises("roles:create: field 'permissions' must be a table (JSON array)", function()
        sk.roles:create(org, { name = "x", permissions = "read" })
      end)
      assert.are.equal(0, #logged(server))
    end)

    it("raises for permissions that are not strings; nil, err 400 for one that does not exist", function()
      assert.has_error(function()
        sk.roles:create(org, { name = "numbers", permissions = { 1, 2 } })
      end, "roles:create: field 'permissions[1]' must be a string (got number)")
      local role, err = sk.roles:create(org, { name = "ghost", permissions = { "read", "fly" } })
      api_error(400, "INVALID_ARGUMENT", role, err, "RolesService_CreateOrganizationRole")
      assert.are.equal("permissions[1]", err.details[1].field)
      assert.are.equal(0, #assert(sk.roles:list(org)).roles)
    end)

    it("returns nil, err 400 for an empty name", function()
      local role, err = sk.roles:create(org, { name = "" })
      api_error(400, "INVALID_ARGUMENT", role, err, "RolesService_CreateOrganizationRole")
      assert.are.equal("name", err.details[1].field)
    end)
  end)
end)
