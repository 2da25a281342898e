-- Connections and directories as the live API has them, against the fake
-- server: get answers a wrapper the SDK removes, enable/disable/delete,
-- and ListConnections, which takes filters but does not page. Every
-- organization the fake creates has a SAML (OKTA, enabled) and an OIDC
-- (GOOGLE, disabled) connection and one SCIM directory.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"

local api_error, walk_ok, walk_fails, ids = util.api_error, util.walk_ok, util.walk_fails, util.ids
local only = util.only

describe("connections and directories (live API)", function()
  local server, sk, org, other, dir

  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  -- org_1: conn_1 (SAML), conn_2 (OIDC), dir_1 with 5 users and 3 groups;
  -- org_2: conn_3, conn_4, dir_2.
  before_each(function()
    local seeded = server:seed { organizations = 2, directory_users = 5, directory_groups = 3 }
    org, other, dir = seeded.organization_ids[1], seeded.organization_ids[2], seeded.directory_ids[1]
    server:clear_requests()
  end)

  describe("connections", function()
    it("get returns the connection without its wrapper", function()
      local conn, err = sk:call("ConnectionService_GetConnection", { organization_id = org, id = "conn_1" })
      assert.is_nil(err)
      assert.is_nil(conn.connection)
      assert.are.equal("conn_1", conn.id)
      assert.are.equal("SAML", conn.type)
      assert.are.equal("OKTA", conn.provider)
      assert.is_true(conn.enabled)
      assert.are.equal("/api/v1/organizations/" .. org .. "/connections/conn_1", only(server, "ConnectionService_GetConnection").path)
    end)

    it("enable and disable answer {enabled}, and the connection changes", function()
      local res, err = sk:call("ConnectionService_EnableConnection", { organization_id = org, id = "conn_2" })
      assert.is_nil(err)
      assert.is_true(res.enabled)
      local req = only(server, "ConnectionService_EnableConnection")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/organizations/" .. org .. "/connections/conn_2:enable", req.path)
      assert.is_true(assert(sk.connections:get(org, "conn_2")).enabled)
      res = assert(sk.connections:disable(org, "conn_2"))
      assert.is_false(res.enabled)
      assert.are.equal("/api/v1/organizations/" .. org .. "/connections/conn_2:disable",
        only(server, "ConnectionService_DisableConnection").path)
      assert.is_false(assert(sk.connections:get(org, "conn_2")).enabled)
    end)

    it("delete returns true, after which get is a 404", function()
      local res, err = sk:call("ConnectionService_DeleteConnection", { organization_id = org, id = "conn_1" })
      assert.is_nil(err)
      assert.is_true(res)
      assert.are.equal("DELETE", only(server, "ConnectionService_DeleteConnection").method)
      local gone, gerr = sk.connections:get(org, "conn_1")
      api_error(404, "NOT_FOUND", gone, gerr, "ConnectionService_GetConnection")
      assert.are.same({ "conn_2" }, ids(assert(sk.connections:list { organization_id = org }).connections))
      res, err = sk.connections:delete(org, "conn_1")
      api_error(404, "NOT_FOUND", res, err, "ConnectionService_DeleteConnection")
    end)

    it("returns nil, err 404 for another organization's connection", function()
      local res, err = sk.connections:enable(other, "conn_1")
      api_error(404, "NOT_FOUND", res, err, "ConnectionService_EnableConnection")
      res, err = sk.connections:get("org_missing", "conn_1")
      api_error(404, "NOT_FOUND", res, err, "ConnectionService_GetConnection")
    end)

    it("list answers every connection at once; list_by_organization is its organization_id filter", function()
      local res = assert(sk:call("ConnectionService_ListConnections", {}))
      assert.are.same({ "conn_1", "conn_2", "conn_3", "conn_4" }, ids(res.connections))
      assert.are.equal("Seeded Org " .. org, res.connections[1].organization_name)
      res = assert(sk.connections:list_by_organization(other))
      assert.are.same({ "conn_3", "conn_4" }, ids(res.connections))
      local reqs = server:requests("ConnectionService_ListConnections")
      assert.are.equal(2, #reqs)
      assert.are.equal("/api/v1/connections", reqs[2].path)
      assert.are.equal("organization_id=" .. other, reqs[2].raw_query)
      assert.are.equal(0, #assert(sk.connections:list_by_organization("org_missing")).connections)
    end)

    it("filters by the organization's domain", function()
      assert(sk.domains:create(other, { domain = "acme.com" }))
      local res = assert(sk.connections:list { domain = "acme.com" })
      assert.are.same({ "conn_3", "conn_4" }, ids(res.connections))
      assert.are.same({ "acme.com" }, res.connections[1].domains)
    end)

    it("each and pages walk the one answer", function()
      local all = walk_ok(function() return sk.connections:each { organization_id = org } end)
      assert.are.same({ "conn_1", "conn_2" }, ids(all))
      local pages = walk_ok(function() return sk.connections:pages {} end)
      assert.are.equal(1, #pages)
      assert.are.equal(4, #pages[1].connections)
      assert.are.equal(2, #server:requests("ConnectionService_ListConnections"))
    end)
  end)

  describe("directories", function()
    it("get returns the directory without its wrapper, with its counts", function()
      local d, err = sk:call("DirectoryService_GetDirectory", { organization_id = org, id = dir })
      assert.is_nil(err)
      assert.is_nil(d.directory)
      assert.are.equal(dir, d.id)
      assert.are.equal(5, d.total_users)
      assert.are.equal(3, d.total_groups)
      assert.are.equal("/api/v1/organizations/" .. org .. "/directories/" .. dir, only(server, "DirectoryService_GetDirectory").path)
    end)

    it("disable and enable", function()
      local res = assert(sk:call("DirectoryService_DisableDirectory", { organization_id = org, id = dir }))
      assert.is_false(res.enabled)
      local req = only(server, "DirectoryService_DisableDirectory")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/organizations/" .. org .. "/directories/" .. dir .. ":disable", req.path)
      assert.is_false(assert(sk.directories:get(org, dir)).enabled)
      assert.is_true(assert(sk.directories:enable(org, dir)).enabled)
      assert.is_true(assert(sk.directories:get(org, dir)).enabled)
    end)

    it("returns nil, err 404 for an unknown directory or another organization's", function()
      local res, err = sk.directories:enable(org, "dir_404")
      api_error(404, "NOT_FOUND", res, err, "DirectoryService_EnableDirectory")
      res, err = sk.directories:disable(other, dir)
      api_error(404, "NOT_FOUND", res, err, "DirectoryService_DisableDirectory")
    end)

    it("walks users with include_detail across pages", function()
      local users = walk_ok(function()
        return sk.directories:each_user(org, dir, { page_size = 2, include_detail = true })
      end)
      assert.are.same({ "diru_1", "diru_2", "diru_3", "diru_4", "diru_5" }, ids(users))
      assert.are.equal("ext-user-1", users[1].user_detail.externalId)
      local reqs = server:requests("DirectoryService_ListDirectoryUsers")
      assert.are.equal(3, #reqs)
      for _, r in ipairs(reqs) do assert.are.equal("true", r.query.include_detail) end
      local plain = assert(sk.directories:list_users(org, dir, { page_size = 1 }))
      assert.is_nil(plain.users[1].user_detail)
    end)

    it("walks groups page by page and raises a failing page's error", function()
      local pages = walk_ok(function() return sk.directories:group_pages(org, dir, { page_size = 2 }) end)
      assert.are.same({ { "dirg_1", "dirg_2" }, { "dirg_3" } }, { ids(pages[1].groups), ids(pages[2].groups) })
      walk_fails(404, function() return sk.directories:each_group(org, "dir_404") end)
    end)
  end)
end)
