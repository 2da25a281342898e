-- Users and memberships of the live API against the fake server: sk:call
-- with the published operationIds (flat params), and the sk.users and
-- sk.memberships methods.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local cjson = require "cjson"

local api_error, walk_ok, walk_fails, ids = util.api_error, util.walk_ok, util.walk_fails, util.ids
local only, number_type, membership = util.only, util.number_type, util.membership

describe("users", function()
  local server, sk, org, other

  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  -- org_1 with usr_1..usr_5 (user<n>@example.com, external_id ext-usr-<n>,
  -- active members with the role "member"); org_2 without users.
  before_each(function()
    local seeded = server:seed { organizations = 2, users = 5 }
    org, other = seeded.organization_ids[1], seeded.organization_ids[2]
    assert.are.same({ "usr_1", "usr_2", "usr_3", "usr_4", "usr_5" }, seeded.user_ids)
    server:clear_requests()
  end)

  describe("create (UserService_CreateUserAndMembership)", function()
    it("creates a user with a membership from flat params: the membership fields go nested", function()
      local user, err = sk:call("UserService_CreateUserAndMembership", {
        organization_id = org, email = "ada@example.com", external_id = "ada-1",
        user_profile = { given_name = "Ada", family_name = "Lovelace" },
        roles = { { name = "admin" } }, inviter_email = "boss@example.com", send_invitation_email = true,
      })
      assert.is_nil(err)
      assert.are.equal("usr_6", user.id)
      assert.are.equal("ada@example.com", user.email)
      assert.are.equal("ada-1", user.external_id)
      assert.are.equal("Ada", user.user_profile.given_name)
      local m = membership(user, org)
      assert.are.equal("PENDING_INVITE", m.membership_status)
      assert.are.same({ "admin" }, ids(m.roles, "name"))
      assert.are.equal("boss@example.com", m.inviter_email)

      local req = only(server, "UserService_CreateUserAndMembership")
      assert.are.equal("POST", req.method)
      assert.are.equal("/api/v1/organizations/" .. org .. "/users", req.path)
      assert.are.equal("send_invitation_email=true", req.raw_query)
      assert.are.same({
        email = "ada@example.com", external_id = "ada-1",
        user_profile = { given_name = "Ada", family_name = "Lovelace" },
        membership = { roles = { { name = "admin" } }, inviter_email = "boss@example.com" },
      }, cjson.decode(req.body))
      assert.are.equal("ada-1", assert(sk:call("UserService_GetUser", { id = "usr_6" })).external_id)
    end)

    it("takes the membership nested as well, and users:create names it", function()
      local user = assert(sk.users:create(org, { email = "bob@example.com", membership = { roles = { { name = "member" } } } }))
      local m = membership(user, org)
      assert.are.equal("ACTIVE", m.membership_status) -- no invitation asked for
      assert.are.same({ "member" }, ids(m.roles, "name"))
      local req = only(server, "UserService_CreateUserAndMembership")
      assert.are.equal("", req.raw_query)
      assert.are.same({ email = "bob@example.com", membership = { roles = { { name = "member" } } } },
        cjson.decode(req.body))
    end)

    it("gives the organization's default role when no role is named", function()
      local user = assert(sk.users:create(org, { email = "carl@example.com" }))
      assert.are.same({ "member" }, ids(membership(user, org).roles, "name"))
      assert.are.same({ email = "carl@example.com" }, cjson.decode(only(server, "UserService_CreateUserAndMembership").body))
    end)

    it("returns nil, err 409 for an email that is taken, creating nothing", function()
      local user, err = sk:call("UserService_CreateUserAndMembership",
        { organization_id = other, email = "user2@example.com" })
      api_error(409, "ALREADY_EXISTS", user, err, "UserService_CreateUserAndMembership")
      assert.are.equal("email", err.details[1].field)
      assert.are.equal(0, #assert(sk.users:list_for_organization(other)).users)
    end)

    it("returns nil, err 404 for an unknown organization", function()
      local user, err = sk.users:create("org_missing", { email = "x@example.com" })
      api_error(404, "NOT_FOUND", user, err, "UserService_CreateUserAndMembership")
    end)

    it("returns nil, err 400 for a role that does not exist, and raises for a role given as a string", function()
      local user, err = sk.users:create(org, { email = "x@example.com", roles = { { name = "nope" } } })
      api_error(400, "INVALID_ARGUMENT", user, err, "UserService_CreateUserAndMembership")
      assert.are.equal("roles[0].name", err.details[1].field)
      assert.has_error(function()
        sk.users:create(org, { email = "x@example.com", roles = { "admin" } })
      end, "users:create: field 'roles[1]' must be a table (JSON object) (got string)")
      assert.are.equal(5, #assert(sk.users:list()).users)
    end)
  end)

  describe("get", function()
    it("returns the user, unwrapped, with its memberships", function()
      local user, err = sk:call("UserService_GetUser", { id = "usr_2" })
      assert.is_nil(err)
      assert.are.equal("usr_2", user.id)
      assert.are.equal("user2@example.com", user.email)
      assert.are.equal("Given2", user.user_profile.given_name)
      assert.are.same({ "member" }, ids(membership(user, org).roles, "name"))
      local req = only(server, "UserService_GetUser")
      assert.are.equal("GET", req.method)
      assert.are.equal("/api/v1/users/usr_2", req.path)
      assert.are.equal("usr_2", assert(sk.users:get("usr_2")).id)
    end)

    it("finds a user by external id on the custom-verb path", function()
      local user = assert(sk:call("UserService_GetUser2", { external_id = "ext-usr-3" }))
      assert.are.equal("usr_3", user.id)
      assert.are.equal("/api/v1/users:external/ext-usr-3", only(server, "UserService_GetUser2").path)
      assert.are.equal("usr_3", assert(sk.users:get_by_external_id("ext-usr-3")).id)
    end)

    it("returns nil, err 404 for an unknown id or external id", function()
      local user, err = sk:call("UserService_GetUser", { id = "usr_404" })
      api_error(404, "NOT_FOUND", user, err, "UserService_GetUser")
      user, err = sk.users:get_by_external_id("ext-none")
      api_error(404, "NOT_FOUND", user, err, "UserService_GetUser2")
    end)
  end)

  describe("update", function()
    it("changes the fields given and keeps the rest", function()
      local user, err = sk:call("UserService_UpdateUser", {
        id = "usr_1", user_profile = { given_name = "Grace" }, metadata = { team = "blue" },
      })
      assert.is_nil(err)
      assert.are.equal("Grace", user.user_profile.given_name)
      assert.are.equal("Family1", user.user_profile.family_name)
      assert.are.same({ team = "blue" }, user.metadata)
      local req = only(server, "UserService_UpdateUser")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/users/usr_1", req.path)
      assert.are.same({ user_profile = { given_name = "Grace" }, metadata = { team = "blue" } }, cjson.decode(req.body))
      assert.are.equal("Grace", assert(sk.users:get("usr_1")).user_profile.given_name)
    end)

    it("by external id: the body's external_id is new_external_id", function()
      local user = assert(sk.users:update_by_external_id("ext-usr-2", { new_external_id = "a/b c" }))
      assert.are.equal("a/b c", user.external_id)
      local req = only(server, "UserService_UpdateUser2")
      assert.are.equal("/api/v1/users:external/ext-usr-2", req.path)
      assert.are.same({ external_id = "a/b c" }, cjson.decode(req.body))
      -- the new id works (percent-encoded in the path), the old one is gone
      assert.are.equal("usr_2", assert(sk.users:get_by_external_id("a/b c")).id)
      assert.are.equal("/api/v1/users:external/a%2Fb%20c", server:requests("UserService_GetUser2")[1].path)
      local gone, err = sk.users:get_by_external_id("ext-usr-2")
      api_error(404, "NOT_FOUND", gone, err, "UserService_GetUser2")
    end)

    it("returns nil, err 409 for an external id another user has", function()
      local user, err = sk.users:update("usr_1", { external_id = "ext-usr-2" })
      api_error(409, "ALREADY_EXISTS", user, err, "UserService_UpdateUser")
      assert.are.equal("ext-usr-1", assert(sk.users:get("usr_1")).external_id)
    end)

    it("returns nil, err 400 when a nested profile field has the wrong type", function()
      local user, err = sk.users:update("usr_1", { user_profile = { given_name = 5 } })
      api_error(400, "INVALID_ARGUMENT", user, err, "UserService_UpdateUser")
      assert.are.equal("user_profile.given_name", err.details[1].field)
    end)

    it("returns nil, err 404 for an unknown user", function()
      local user, err = sk.users:update("usr_404", { metadata = { a = "b" } })
      api_error(404, "NOT_FOUND", user, err, "UserService_UpdateUser")
    end)
  end)

  describe("delete", function()
    it("returns true, after which the user is gone (a second delete is a 404)", function()
      local res, err = sk:call("UserService_DeleteUser", { id = "usr_5" })
      assert.is_nil(err)
      assert.is_true(res)
      local req = only(server, "UserService_DeleteUser")
      assert.are.equal("DELETE", req.method)
      assert.are.equal("/api/v1/users/usr_5", req.path)
      local user, gerr = sk.users:get("usr_5")
      api_error(404, "NOT_FOUND", user, gerr, "UserService_GetUser")
      res, err = sk.users:delete("usr_5")
      api_error(404, "NOT_FOUND", res, err, "UserService_DeleteUser")
    end)

    it("deletes by external id", function()
      assert.is_true(assert(sk.users:delete_by_external_id("ext-usr-4")))
      local req = only(server, "UserService_DeleteUser2")
      assert.are.equal("DELETE", req.method)
      assert.are.equal("/api/v1/users:external/ext-usr-4", req.path)
      assert.are.same({ "usr_1", "usr_2", "usr_3", "usr_5" }, ids(assert(sk.users:list()).users))
    end)
  end)

  describe("list and search", function()
    it("returns one page with a next_page_token and an integer total_size", function()
      local page, err = sk:call("UserService_ListUsers", { page_size = 2 })
      assert.is_nil(err)
      assert.are.same({ "usr_1", "usr_2" }, ids(page.users))
      assert.are.equal(5, page.total_size)
      assert.are.equal("integer", number_type(page.total_size))
      assert.is_true(#page.next_page_token > 0)
      local req = only(server, "UserService_ListUsers")
      assert.are.equal("/api/v1/users", req.path)
      assert.are.equal("2", req.query.page_size)
    end)

    it("each walks every page; pages yields them", function()
      local users = walk_ok(function() return sk.users:each { page_size = 2 } end)
      assert.are.same({ "usr_1", "usr_2", "usr_3", "usr_4", "usr_5" }, ids(users))
      local reqs = server:requests("UserService_ListUsers")
      assert.are.equal(3, #reqs)
      assert.is_nil(reqs[1].query.page_token)
      assert.are.equal("string", type(reqs[3].query.page_token))
      local pages = walk_ok(function() return sk.users:pages { page_size = 2 } end)
      assert.are.same({ 2, 2, 1 }, { #pages[1].users, #pages[2].users, #pages[3].users })
    end)

    it("searches by a query string, across pages", function()
      local page = assert(sk:call("UserService_SearchUsers", { query = "user3" }))
      assert.are.same({ "usr_3" }, ids(page.users))
      local req = only(server, "UserService_SearchUsers")
      assert.are.equal("/api/v1/users:search", req.path)
      assert.are.equal("user3", req.query.query)
      local all = walk_ok(function() return sk.users:each_search { query = "example.com", page_size = 2 } end)
      assert.are.equal(5, #all)
      assert.are.equal(4, #server:requests("UserService_SearchUsers"))
    end)

    it("returns nil, err 400 for a query the service refuses (shorter than 3 characters)", function()
      local page, err = sk.users:search { query = "us" }
      api_error(400, "INVALID_ARGUMENT", page, err, "UserService_SearchUsers")
      assert.are.equal("query", err.details[1].field)
    end)

    it("lists and searches an organization's users", function()
      local page = assert(sk:call("UserService_ListOrganizationUsers", { organization_id = org, page_size = 3 }))
      assert.are.same({ "usr_1", "usr_2", "usr_3" }, ids(page.users))
      assert.are.equal("/api/v1/organizations/" .. org .. "/users", only(server, "UserService_ListOrganizationUsers").path)
      local members = walk_ok(function() return sk.users:each_for_organization(org, { page_size = 2 }) end)
      assert.are.equal(5, #members)
      assert.are.equal(0, #assert(sk.users:list_for_organization(other)).users)
      assert(sk.users:create(other, { email = "new@example.org" }))
      local found = assert(sk:call("UserService_SearchOrganizationUsers", { organization_id = other, query = "example.org" }))
      assert.are.same({ "usr_6" }, ids(found.users))
      assert.are.equal("/api/v1/organizations/" .. other .. "/users:search",
        only(server, "UserService_SearchOrganizationUsers").path)
      local pages = walk_ok(function()
        return sk.users:pages_search_for_organization(org, { query = "example.com", page_size = 4 })
      end)
      assert.are.same({ 4, 1 }, { #pages[1].users, #pages[2].users })
    end)

    it("returns nil, err 404 for an unknown organization, and the iterators raise it", function()
      local page, err = sk.users:list_for_organization("org_missing")
      api_error(404, "NOT_FOUND", page, err, "UserService_ListOrganizationUsers")
      local werr = walk_fails(404, function() return sk.users:each_for_organization("org_missing") end)
      assert.are.equal("NOT_FOUND", werr.code)
    end)
  end)

  describe("roles and permissions of a member", function()
    it("lists the roles and the permissions they grant", function()
      assert(sk:call("RolesService_CreatePermission", { name = "invoices:read" }))
      assert(sk:call("RolesService_AddPermissionsToRole", { role_name = "member", permission_names = { "invoices:read" } }))
      local res = assert(sk:call("UserService_ListUserRoles", { organization_id = org, user_id = "usr_1" }))
      assert.are.same({ "member" }, ids(res.roles, "name"))
      assert.are.equal("/api/v1/organizations/" .. org .. "/users/usr_1/roles", only(server, "UserService_ListUserRoles").path)
      local perms = assert(sk.users:list_permissions(org, "usr_1"))
      assert.are.same({ "invoices:read" }, ids(perms.permissions, "name"))
      assert.are.equal("/api/v1/organizations/" .. org .. "/users/usr_1/permissions",
        only(server, "UserService_ListUserPermissions").path)
    end)

    it("returns nil, err 404 for a user who is no member", function()
      local res, err = sk.users:list_roles(other, "usr_1")
      api_error(404, "NOT_FOUND", res, err, "UserService_ListUserRoles")
    end)
  end)
end)

describe("memberships", function()
  local server, sk, org, other

  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  before_each(function()
    local seeded = server:seed { organizations = 2, users = 3 }
    org, other = seeded.organization_ids[1], seeded.organization_ids[2]
    server:clear_requests()
  end)

  it("adds an existing user to an organization: the result is the user", function()
    local user, err = sk:call("UserService_CreateMembership", {
      organization_id = other, id = "usr_1", roles = { { name = "admin" } }, metadata = { team = "red" },
    })
    assert.is_nil(err)
    assert.are.equal("usr_1", user.id)
    assert.are.equal(2, #user.memberships)
    local m = membership(user, other)
    assert.are.same({ "admin" }, ids(m.roles, "name"))
    assert.are.same({ team = "red" }, m.metadata)
    assert.are.equal("ACTIVE", m.membership_status)
    local req = only(server, "UserService_CreateMembership")
    assert.are.equal("addMembership", req.operation) -- the first document's id
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/memberships/organizations/" .. other .. "/users/usr_1", req.path)
    assert.are.same({ roles = { { name = "admin" } }, metadata = { team = "red" } }, cjson.decode(req.body))
  end)

  it("invites, then resends the invitation with an empty JSON body", function()
    local user = assert(sk.memberships:add(other, "usr_2", { send_invitation_email = true, inviter_email = "a@b.co" }))
    assert.are.equal("PENDING_INVITE", membership(user, other).membership_status)
    assert.are.equal("send_invitation_email=true", only(server, "UserService_CreateMembership").raw_query)
    local invite, err = sk:call("UserService_ResendInvite", { organization_id = other, id = "usr_2" })
    assert.is_nil(err)
    assert.are.equal("usr_2", invite.user_id)
    assert.are.equal(other, invite.organization_id)
    assert.are.equal(1, invite.resent_count)
    assert.are.equal("a@b.co", invite.inviter_email)
    local req = only(server, "UserService_ResendInvite")
    assert.are.equal("PATCH", req.method)
    assert.are.equal("/api/v1/invites/organizations/" .. other .. "/users/usr_2/resend", req.path)
    assert.are.equal("{}", req.body)
    assert.are.equal(2, assert(sk.memberships:resend_invite(other, "usr_2")).resent_count)
  end)

  it("refuses to resend to an active member (400 FAILED_PRECONDITION)", function()
    local res, err = sk.memberships:resend_invite(org, "usr_1")
    api_error(400, "FAILED_PRECONDITION", res, err, "UserService_ResendInvite")
  end)

  it("updates the roles and merges the metadata", function()
    local user, err = sk.memberships:update(org, "usr_1", { roles = { { name = "admin" } }, metadata = { k = "v" } })
    assert.is_nil(err)
    assert.are.same({ "admin" }, ids(membership(user, org).roles, "name"))
    local req = only(server, "UserService_UpdateMembership")
    assert.are.equal("PATCH", req.method)
    assert.are.same({ roles = { { name = "admin" } }, metadata = { k = "v" } }, cjson.decode(req.body))
    assert.are.same({ "admin" }, ids(assert(sk.users:list_roles(org, "usr_1")).roles, "name"))
  end)

  it("adds, updates and removes by the user's external id", function()
    local user = assert(sk:call("UserService_CreateMembership2", { organization_id = other, external_id = "ext-usr-3" }))
    assert.is_not_nil(membership(user, other))
    assert.are.equal("/api/v1/memberships/organizations/" .. other .. "/users:external/ext-usr-3",
      only(server, "UserService_CreateMembership2").path)
    user = assert(sk.memberships:update_by_external_id(other, "ext-usr-3", { roles = { { name = "admin" } } }))
    assert.are.same({ "admin" }, ids(membership(user, other).roles, "name"))
    assert.is_true(assert(sk.memberships:remove_by_external_id(other, "ext-usr-3")))
    assert.are.equal("DELETE", only(server, "UserService_DeleteMembership2").method)
    assert.is_nil(membership(assert(sk.users:get("usr_3")), other))
  end)

  it("removes: true, then the user has no membership there (a second remove is a 404)", function()
    local res, err = sk:call("UserService_DeleteMembership", { organization_id = org, id = "usr_1" })
    assert.is_nil(err)
    assert.is_true(res)
    assert.are.equal("/api/v1/memberships/organizations/" .. org .. "/users/usr_1", only(server, "UserService_DeleteMembership").path)
    assert.is_nil(membership(assert(sk.users:get("usr_1")), org))
    res, err = sk.memberships:remove(org, "usr_1")
    api_error(404, "NOT_FOUND", res, err, "UserService_DeleteMembership")
  end)

  it("returns nil, err 409 for a second membership and 404 for an unknown user or organization", function()
    local user, err = sk.memberships:add(org, "usr_1")
    api_error(409, "ALREADY_EXISTS", user, err, "UserService_CreateMembership")
    user, err = sk.memberships:add(org, "usr_404")
    api_error(404, "NOT_FOUND", user, err, "UserService_CreateMembership")
    user, err = sk.memberships:add("org_missing", "usr_1")
    api_error(404, "NOT_FOUND", user, err, "UserService_CreateMembership")
  end)
end)
