-- Roles (environment and organization) and permissions of the live API
-- against the fake server. Every environment starts with the roles "admin"
-- (default creator) and "member" (default member) and no permissions.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local cjson = require "cjson"

local api_error, walk_ok, walk_fails, ids = util.api_error, util.walk_ok, util.walk_fails, util.ids
local only = util.only

describe("roles and permissions", function()
  local server, sk, org

  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  -- The role of a list result with that name, or nil.
  local function named(list, name)
    for _, r in ipairs(list) do if r.name == name then return r end end
    return nil
  end

  -- org_1 with usr_1, usr_2 (members); permissions read, write, delete.
  before_each(function()
    org = server:seed { organizations = 1, users = 2 }.organization_ids[1]
    for _, p in ipairs { "read", "write", "delete" } do
      assert(sk:call("RolesService_CreatePermission", { name = p, description = "may " .. p }))
    end
    server:clear_requests()
  end)

  describe("permissions", function()
    it("create returns the permission unwrapped", function()
      local p, err = sk:call("RolesService_CreatePermission", { name = "export", description = "Export data" })
      assert.is_nil(err)
      assert.are.equal("perm_4", p.id)
      assert.are.equal("export", p.name)
      assert.are.equal("Export data", p.description)
      assert.is_false(p.is_scalekit_permission)
      local req = only(server, "RolesService_CreatePermission")
      assert.are.equal("POST", req.method)
      assert.are.equal("/api/v1/permissions", req.path)
      assert.are.same({ name = "export", description = "Export data" }, cjson.decode(req.body))
    end)

    it("get, update (description) and delete", function()
      local p = assert(sk.permissions:get("write"))
      assert.are.equal("may write", p.description)
      assert.are.equal("/api/v1/permissions/write", only(server, "RolesService_GetPermission").path)
      p = assert(sk:call("RolesService_UpdatePermission", { permission_name = "write", description = "Write all" }))
      assert.are.equal("Write all", p.description)
      local req = only(server, "RolesService_UpdatePermission")
      assert.are.equal("PUT", req.method)
      assert.are.same({ description = "Write all" }, cjson.decode(req.body))
      assert.are.equal("Write all", assert(sk.permissions:get("write")).description)
      assert.is_true(assert(sk.permissions:delete("write")))
      assert.are.equal("DELETE", only(server, "RolesService_DeletePermission").method)
      local gone, err = sk.permissions:get("write")
      api_error(404, "NOT_FOUND", gone, err, "RolesService_GetPermission")
    end)

    it("returns nil, err 409 for a duplicate name and 404 for an unknown one", function()
      local p, err = sk.permissions:create { name = "read" }
      api_error(409, "ALREADY_EXISTS", p, err, "RolesService_CreatePermission")
      p, err = sk.permissions:update("nope", { description = "x" })
      api_error(404, "NOT_FOUND", p, err, "RolesService_UpdatePermission")
      p, err = sk:call("RolesService_DeletePermission", { permission_name = "nope" })
      api_error(404, "NOT_FOUND", p, err, "RolesService_DeletePermission")
    end)

    it("lists one page, and each/pages walk every page", function()
      local page = assert(sk:call("RolesService_ListPermissions", { page_size = 2 }))
      assert.are.same({ "read", "write" }, ids(page.permissions, "name"))
      assert.are.equal(3, page.total_size)
      assert.is_true(#page.next_page_token > 0)
      assert.are.equal("2", only(server, "RolesService_ListPermissions").query.page_size)
      local all = walk_ok(function() return sk.permissions:each { page_size = 2 } end)
      assert.are.same({ "read", "write", "delete" }, ids(all, "name"))
      local pages = walk_ok(function() return sk.permissions:pages { page_size = 1 } end)
      assert.are.equal(3, #pages)
      assert.are.equal("", pages[3].next_page_token)
      local env = walk_ok(function() return sk.permissions:each { type = "ENVIRONMENT", page_size = 2 } end)
      assert.are.equal(3, #env)
    end)

    it("raises the error object when a page fails", function()
      server:faults {
        { operation = "RolesService_ListPermissions", times = 1 },
        { operation = "RolesService_ListPermissions", status = 404, times = 1 },
      }
      local _, items = walk_fails(404, function() return sk.permissions:each { page_size = 2 } end)
      assert.are.equal(2, #items)
    end)
  end)

  describe("environment roles", function()
    it("list has the two default roles", function()
      local res = assert(sk:call("RolesService_ListRoles", {}))
      assert.are.same({ "admin", "member" }, ids(res.roles, "name"))
      assert.is_true(named(res.roles, "member").default_member)
      assert.is_true(named(res.roles, "admin").default_creator)
      assert.are.equal("/api/v1/roles", only(server, "RolesService_ListRoles").path)
      assert.are.equal(2, #assert(sk.roles:list_environment()).roles)
    end)

    it("create with permissions and a base role; get shows them", function()
      local viewer, err = sk:call("RolesService_CreateRole", { name = "viewer", display_name = "Viewer", permissions = { "read" } })
      assert.is_nil(err)
      assert.matches("^role_%d+$", viewer.id)
      assert.are.equal("Viewer", viewer.display_name)
      assert.is_false(viewer.is_org_role)
      assert.are.same({ "read" }, ids(viewer.permissions, "name"))
      assert.are.same({ name = "viewer", display_name = "Viewer", permissions = { "read" } },
        cjson.decode(only(server, "RolesService_CreateRole").body))
      local editor = assert(sk.roles:create_environment { name = "editor", extends = "viewer", permissions = { "write" } })
      assert.are.equal("viewer", editor.extends)
      local got = assert(sk:call("RolesService_GetRole", { role_name = "viewer" }))
      assert.are.equal(1, got.dependent_roles_count)
      assert.are.equal("/api/v1/roles/viewer", only(server, "RolesService_GetRole").path)
    end)

    it("update replaces the fields given", function()
      assert(sk.roles:create_environment { name = "viewer", permissions = { "read" } })
      local role = assert(sk:call("RolesService_UpdateRole",
        { role_name = "viewer", description = "Reads", permissions = { "read", "write" } }))
      assert.are.equal("Reads", role.description)
      assert.are.same({ "read", "write" }, ids(role.permissions, "name"))
      local req = only(server, "RolesService_UpdateRole")
      assert.are.equal("PUT", req.method)
      assert.are.equal("/api/v1/roles/viewer", req.path)
      assert.are.same({ description = "Reads", permissions = { "read", "write" } }, cjson.decode(req.body))
      assert.are.equal("Reads", assert(sk.roles:get("viewer")).description)
    end)

    it("adds, lists and removes permissions; effective ones include the base role's", function()
      assert(sk.roles:create_environment { name = "viewer", permissions = { "read" } })
      assert(sk.roles:create_environment { name = "editor", extends = "viewer" })
      local res = assert(sk:call("RolesService_AddPermissionsToRole",
        { role_name = "editor", permission_names = { "write", "delete" } }))
      assert.are.same({ "write", "delete" }, ids(res.permissions, "name"))
      assert.are.same({ permission_names = { "write", "delete" } }, cjson.decode(only(server, "RolesService_AddPermissionsToRole").body))
      assert.are.same({ "write", "delete" }, ids(assert(sk.roles:list_permissions("editor")).permissions, "name"))
      local effective = assert(sk:call("RolesService_ListEffectiveRolePermissions", { role_name = "editor" }))
      assert.are.same({ "write", "delete", "read" }, ids(effective.permissions, "name"))
      assert.are.equal("/api/v1/roles/editor/permissions:all", only(server, "RolesService_ListEffectiveRolePermissions").path)
      assert.is_true(assert(sk.roles:remove_permission("editor", "delete")))
      local req = only(server, "RolesService_RemovePermissionFromRole")
      assert.are.equal("DELETE", req.method)
      assert.are.equal("/api/v1/roles/editor/permissions/delete", req.path)
      assert.are.same({ "write" }, ids(assert(sk.roles:list_permissions("editor")).permissions, "name"))
      local again, err = sk.roles:remove_permission("editor", "delete")
      api_error(404, "NOT_FOUND", again, err, "RolesService_RemovePermissionFromRole")
    end)

    it("lists dependents and counts users", function()
      assert(sk.roles:create_environment { name = "viewer" })
      assert(sk.roles:create_environment { name = "editor", extends = "viewer" })
      local deps = assert(sk:call("RolesService_ListDependentRoles", { role_name = "viewer" }))
      assert.are.same({ "editor" }, ids(deps.roles, "name"))
      assert.are.equal("/api/v1/roles/viewer/dependents", only(server, "RolesService_ListDependentRoles").path)
      local count = assert(sk:call("RolesService_GetRoleUsersCount", { role_name = "member" }))
      assert.are.equal("2", count.count) -- int64 as a string, as the service sends it
      assert.are.equal("/api/v1/roles/member/users:count", only(server, "RolesService_GetRoleUsersCount").path)
      assert.are.equal("0", assert(sk.roles:count_users("viewer")).count)
    end)

    it("sets the default roles on both paths", function()
      assert(sk.roles:create_environment { name = "viewer" })
      local res = assert(sk:call("RolesService_UpdateDefaultRoles", { default_member_role = "viewer" }))
      assert.are.equal("viewer", res.default_member.name)
      assert.are.equal("admin", res.default_creator.name)
      local req = only(server, "RolesService_UpdateDefaultRoles")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/roles:set_defaults", req.path)
      assert.are.same({ default_member_role = "viewer" }, cjson.decode(req.body))
      -- new members now get "viewer"
      local user = assert(sk.users:create(org, { email = "new@example.com" }))
      assert.are.same({ "viewer" }, ids(user.memberships[1].roles, "name"))
      res = assert(sk.roles:update_defaults { default_member = { name = "member" } })
      assert.are.equal("member", res.default_member.name)
      assert.are.equal("/api/v1/roles/default", only(server, "RolesService_UpdateDefaultRoles2").path)
      assert.is_true(assert(sk.roles:get("member")).default_member)
      assert.is_false(assert(sk.roles:get("viewer")).default_member)
    end)

    it("delete: refused while users hold the role, unless they are reassigned", function()
      assert(sk.roles:create_environment { name = "viewer" })
      assert(sk.memberships:update(org, "usr_1", { roles = { { name = "viewer" } } }))
      local res, err = sk:call("RolesService_DeleteRole", { role_name = "viewer" })
      api_error(400, "FAILED_PRECONDITION", res, err, "RolesService_DeleteRole")
      res = assert(sk.roles:delete("viewer", { reassign_role_name = "member" }))
      assert.is_true(res)
      local req = server:requests("RolesService_DeleteRole")[2]
      assert.are.equal("DELETE", req.method)
      assert.are.equal("/api/v1/roles/viewer", req.path)
      assert.are.equal("member", req.query.reassign_role_name)
      assert.are.same({ "member" }, ids(assert(sk.users:list_roles(org, "usr_1")).roles, "name"))
      local gone, gerr = sk.roles:get("viewer")
      api_error(404, "NOT_FOUND", gone, gerr, "RolesService_GetRole")
    end)

    it("returns nil, err 404 for an unknown role and 409 for a duplicate", function()
      local r, err = sk.roles:get("nope")
      api_error(404, "NOT_FOUND", r, err, "RolesService_GetRole")
      r, err = sk.roles:update("nope", { description = "x" })
      api_error(404, "NOT_FOUND", r, err, "RolesService_UpdateRole")
      r, err = sk.roles:create_environment { name = "member" }
      api_error(409, "ALREADY_EXISTS", r, err, "RolesService_CreateRole")
      r, err = sk.roles:create_environment { name = "x", permissions = { "nope" } }
      api_error(400, "INVALID_ARGUMENT", r, err, "RolesService_CreateRole")
      assert.are.equal("permissions[0]", err.details[1].field)
    end)
  end)

  describe("organization roles", function()
    it("create, get, update and delete", function()
      local role, err = sk:call("RolesService_CreateOrganizationRole", { org_id = org, name = "billing", permissions = { "read" } })
      assert.is_nil(err)
      assert.is_true(role.is_org_role)
      assert.are.same({ "read" }, ids(role.permissions, "name"))
      assert.are.equal("/api/v1/organizations/" .. org .. "/roles", only(server, "RolesService_CreateOrganizationRole").path)
      local got = assert(sk:call("RolesService_GetOrganizationRole", { org_id = org, role_name = "billing" }))
      assert.are.equal(role.id, got.id)
      assert.are.equal("/api/v1/organizations/" .. org .. "/roles/billing", only(server, "RolesService_GetOrganizationRole").path)
      local updated = assert(sk.roles:update_for_organization(org, "billing", { display_name = "Billing" }))
      assert.are.equal("Billing", updated.display_name)
      local req = only(server, "RolesService_UpdateOrganizationRole")
      assert.are.equal("PUT", req.method)
      assert.are.same({ display_name = "Billing" }, cjson.decode(req.body))
      assert.are.same({ "billing" }, ids(assert(sk.roles:list_for_organization(org)).roles, "name"))
      assert.is_true(assert(sk.roles:delete_for_organization(org, "billing")))
      assert.are.equal("DELETE", only(server, "RolesService_DeleteOrganizationRole").method)
      local gone, gerr = sk.roles:get_for_organization(org, "billing")
      api_error(404, "NOT_FOUND", gone, gerr, "RolesService_GetOrganizationRole")
    end)

    it("sets the organization's default member role", function()
      assert(sk.roles:create_for_organization(org, { name = "billing" }))
      local role = assert(sk:call("RolesService_UpdateDefaultOrganizationRoles", { org_id = org, default_member_role = "billing" }))
      assert.are.equal("billing", role.name)
      local req = only(server, "RolesService_UpdateDefaultOrganizationRoles")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/organizations/" .. org .. "/roles:set_defaults", req.path)
      assert.are.same({ default_member_role = "billing" }, cjson.decode(req.body))
      local user = assert(sk.users:create(org, { email = "new@example.com" }))
      assert.are.same({ "billing" }, ids(user.memberships[1].roles, "name"))
    end)

    it("returns nil, err 404 for an unknown organization or role", function()
      local r, err = sk.roles:get_for_organization(org, "nope")
      api_error(404, "NOT_FOUND", r, err, "RolesService_GetOrganizationRole")
      r, err = sk.roles:delete_for_organization("org_missing", "x")
      api_error(404, "NOT_FOUND", r, err, "RolesService_DeleteOrganizationRole")
      r, err = sk.roles:set_defaults_for_organization(org, { default_member_role = "nope" })
      api_error(400, "INVALID_ARGUMENT", r, err, "RolesService_UpdateDefaultOrganizationRoles")
    end)
  end)
end)
