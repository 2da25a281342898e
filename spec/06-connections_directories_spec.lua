-- sk.connections and sk.directories against the fake Scalekit server.
-- Every organization the fake creates comes with two SSO connections
-- (SAML/OKTA COMPLETED enabled, OIDC/GOOGLE DRAFT disabled) and one SCIM
-- directory. The live ListConnections does not page: one answer holds
-- every connection, and connections:each/pages walk that answer.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"

local number_type, logged, only, raises, api_error =
  util.number_type, util.logged, util.only, util.raises, util.api_error
local walk_ok, walk_fails, ids = util.walk_ok, util.walk_fails, util.ids

describe("connections and directories", function()
  local server, sk
  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  describe("connections", function()
    local orgs
    before_each(function()
      orgs = server:seed { organizations = 3 }.organization_ids -- conn_1..conn_6
    end)

    describe("list", function()
      it("lists every connection in one answer", function()
        local page, err = sk.connections:list()
        assert.is_nil(err)
        assert.are.same({ "conn_1", "conn_2", "conn_3", "conn_4", "conn_5", "conn_6" }, ids(page.connections))
        assert.is_nil(page.next_page_token)
        local req = only(server, "listConnections")
        assert.are.equal("GET", req.method)
        assert.are.equal("/api/v1/connections", req.path)
        assert.are.equal("", req.raw_query)
      end)

      it("filters by organization_id, sent in the query string", function()
        local page, err = sk.connections:list { organization_id = orgs[2] }
        assert.is_nil(err)
        assert.are.same({ "conn_3", "conn_4" }, ids(page.connections))
        for _, c in ipairs(page.connections) do assert.are.equal(orgs[2], c.organization_id) end
        assert.are.equal("SAML", page.connections[1].type)
        assert.are.equal("OKTA", page.connections[1].provider)
        assert.is_true(page.connections[1].enabled)
        assert.is_false(page.connections[2].enabled)
        local req = only(server, "listConnections")
        assert.are.equal(orgs[2], req.query.organization_id)
        assert.matches("organization_id=" .. orgs[2], req.raw_query, 1, true)
      end)

      it("returns an empty list for an organization_id without connections", function()
        local page = assert(sk.connections:list { organization_id = "org_nobody" })
        assert.are.equal(0, #page.connections)
      end)

      it("raises for page_size and page_token, which the service does not take, sending nothing", function()
        raises("connections:list: unknown field 'page_size'", function()
          sk.connections:list { page_size = 4 }
        end)
        raises("connections:list: unknown field 'page_token'", function()
          sk.connections:list { page_token = "x" }
        end)
        assert.are.equal(0, #logged(server))
      end)

      it("raises for a non-string organization_id", function()
        raises("connections:list: field 'organization_id' must be a string", function()
          sk.connections:list { organization_id = true }
        end)
        assert.are.equal(0, #logged(server))
      end)
    end)

    describe("each", function()
      it("walks the filtered connections of the one answer, keeping the filter", function()
        local items = walk_ok(function()
          return sk.connections:each { organization_id = orgs[3] }
        end)
        assert.are.same({ "conn_5", "conn_6" }, ids(items))
        local reqs = logged(server, "listConnections")
        assert.are.equal(1, #reqs)
        assert.are.same({ organization_id = orgs[3] }, reqs[1].query)
      end)

      it("raises the error object when the request fails", function()
        server:fault { operation = "listConnections", status = 404 }
        local _, items = walk_fails(404, function() return sk.connections:each {} end)
        assert.are.equal(0, #items)
      end)
    end)

    describe("pages", function()
      it("yields the one answer as the only page", function()
        local pages = walk_ok(function() return sk.connections:pages {} end)
        assert.are.equal(1, #pages)
        assert.are.equal(6, #pages[1].connections)
        assert.are.equal(1, #logged(server, "listConnections"))
      end)

      it("raises for a page_size, which the service does not take", function()
        raises("connections:pages: unknown field 'page_size'", function()
          for _ in sk.connections:pages { page_size = 101 } do end
        end)
      end)
    end)

    describe("list_by_organization", function()
      it("lists the organization's connections: GET /api/v1/connections?organization_id=", function()
        local res, err = sk.connections:list_by_organization(orgs[1])
        assert.is_nil(err)
        assert.are.same({ "conn_1", "conn_2" }, ids(res.connections))
        assert.are.equal("OIDC", res.connections[2].type)
        local req = only(server, "listConnections")
        assert.are.equal("GET", req.method)
        assert.are.equal("/api/v1/connections", req.path)
        assert.are.equal("organization_id=" .. orgs[1], req.raw_query)
      end)

      it("returns an empty list for an unknown organization (a filter, not a path)", function()
        local res = assert(sk.connections:list_by_organization("org_missing"))
        assert.are.equal(0, #res.connections)
      end)

      it("raises for an empty organization_id", function()
        raises("connections:list_by_organization: argument #1 (organization_id) must be a non-empty string",
          function() sk.connections:list_by_organization("") end)
      end)
    end)

    describe("get", function()
      it("returns the connection", function()
        local conn, err = sk.connections:get(orgs[2], "conn_3")
        assert.is_nil(err)
        assert.are.equal("conn_3", conn.id)
        assert.are.equal(orgs[2], conn.organization_id)
        assert.are.equal("SAML", conn.type)
        assert.are.equal("COMPLETED", conn.status)
        local req = only(server, "getConnection")
        assert.are.equal("/api/v1/organizations/" .. orgs[2] .. "/connections/conn_3", req.path)
      end)

      it("returns nil, err 404 for an unknown connection, one of another organization, or an unknown organization", function()
        local c, err = sk.connections:get(orgs[1], "conn_missing")
        api_error(404, "NOT_FOUND", c, err, "ConnectionService_GetConnection")
        c, err = sk.connections:get(orgs[1], "conn_3")
        api_error(404, "NOT_FOUND", c, err, "ConnectionService_GetConnection")
        c, err = sk.connections:get("org_missing", "conn_1")
        api_error(404, "NOT_FOUND", c, err, "ConnectionService_GetConnection")
      end)

      it("raises when the second path argument is missing", function()
        raises("connections:get: argument #2 (id) must be a non-empty string", function()
          sk.connections:get(orgs[1])
        end)
      end)
    end)
  end)

  describe("directories", function()
    local org, dir
    before_each(function()
      local seeded = server:seed { organizations = 2, directory_users = 5, directory_groups = 3 }
      org, dir = seeded.organization_ids[1], seeded.directory_ids[1]
    end)

    describe("list", function()
      it("lists the organization's directories", function()
        local res, err = sk.directories:list(org)
        assert.is_nil(err)
        assert.are.equal(1, #res.directories)
        assert.are.equal(dir, res.directories[1].id)
        assert.are.equal("SCIM", res.directories[1].directory_type)
        local req = only(server, "listDirectories")
        assert.are.equal("GET", req.method)
        assert.are.equal("/api/v1/organizations/" .. org .. "/directories", req.path)
      end)

      it("returns nil, err 404 for an unknown organization", function()
        local res, err = sk.directories:list("org_missing")
        api_error(404, "NOT_FOUND", res, err, "DirectoryService_ListDirectories")
      end)
    end)

    describe("get", function()
      it("returns the directory", function()
        local d, err = sk.directories:get(org, dir)
        assert.is_nil(err)
        assert.are.equal(dir, d.id)
        assert.are.equal(org, d.organization_id)
        assert.are.equal("ACTIVE", d.status)
        assert.is_true(d.enabled)
        assert.are.equal("/api/v1/organizations/" .. org .. "/directories/" .. dir,
          only(server, "getDirectory").path)
      end)

      it("returns nil, err 404 for an unknown directory, another organization's, or an unknown organization", function()
        local d, err = sk.directories:get(org, "dir_missing")
        api_error(404, "NOT_FOUND", d, err, "DirectoryService_GetDirectory")
        d, err = sk.directories:get("org_2", dir)
        api_error(404, "NOT_FOUND", d, err, "DirectoryService_GetDirectory")
        d, err = sk.directories:get("org_missing", dir)
        api_error(404, "NOT_FOUND", d, err, "DirectoryService_GetDirectory")
      end)
    end)

    describe("list_users", function()
      it("returns one page of users with an integer total_size", function()
        local page, err = sk.directories:list_users(org, dir, { page_size = 2 })
        assert.is_nil(err)
        assert.are.same({ "diru_1", "diru_2" }, ids(page.users))
        assert.are.equal("user1@example.com", page.users[1].email)
        assert.are.same({ "user1@example.com" }, page.users[1].emails)
        assert.are.equal("Given1", page.users[1].given_name)
        assert.are.equal(5, page.total_size)
        assert.are.equal("integer", number_type(page.total_size))
        assert.is_true(#page.next_page_token > 0)
        local req = only(server, "listDirectoryUsers")
        assert.are.equal("/api/v1/organizations/" .. org .. "/directories/" .. dir .. "/users", req.path)
        assert.are.equal("2", req.query.page_size)
      end)

      it("works without the fields table", function()
        local page = assert(sk.directories:list_users(org, dir))
        assert.are.equal(5, #page.users)
        assert.are.equal("", page.next_page_token)
      end)

      it("returns nil, err 404 for an unknown directory or organization", function()
        local page, err = sk.directories:list_users(org, "dir_missing")
        api_error(404, "NOT_FOUND", page, err, "DirectoryService_ListDirectoryUsers")
        page, err = sk.directories:list_users("org_missing", dir, { page_size = 2 })
        api_error(404, "NOT_FOUND", page, err, "DirectoryService_ListDirectoryUsers")
      end)
    end)

    describe("each_user", function()
      it("walks every user", function()
        local users = walk_ok(function() return sk.directories:each_user(org, dir, { page_size = 2 }) end)
        assert.are.same({ "user1@example.com", "user2@example.com", "user3@example.com",
          "user4@example.com", "user5@example.com" }, ids(users, "email"))
        assert.are.equal(3, #logged(server, "listDirectoryUsers"))
      end)

      it("raises the error object for an unknown directory", function()
        local err, users = walk_fails(404, function() return sk.directories:each_user(org, "dir_missing") end)
        assert.are.equal("NOT_FOUND", err.code)
        assert.are.equal(0, #users)
      end)

      it("raises at once for a bad argument", function()
        raises("directories:each_user: argument #2 (directory_id) must be a non-empty string", function()
          sk.directories:each_user(org, "")
        end)
        assert.are.equal(0, #logged(server))
      end)
    end)

    describe("user_pages", function()
      it("yields page tables", function()
        local pages = walk_ok(function() return sk.directories:user_pages(org, dir, { page_size = 2 }) end)
        assert.are.equal(3, #pages)
        assert.are.same({ 2, 2, 1 }, { #pages[1].users, #pages[2].users, #pages[3].users })
        assert.are.equal(5, pages[3].total_size)
      end)

      it("raises the error object for an unknown organization", function()
        walk_fails(404, function() return sk.directories:user_pages("org_missing", dir) end)
      end)
    end)

    describe("list_groups", function()
      it("returns one page of groups", function()
        local page, err = sk.directories:list_groups(org, dir, { page_size = 2 })
        assert.is_nil(err)
        assert.are.same({ "dirg_1", "dirg_2" }, ids(page.groups))
        assert.are.equal("Group 1", page.groups[1].display_name)
        assert.are.equal("string", type(page.groups[1].updated_at))
        assert.is_true(#page.next_page_token > 0)
        local req = only(server, "listDirectoryGroups")
        assert.are.equal("/api/v1/organizations/" .. org .. "/directories/" .. dir .. "/groups", req.path)
      end)

      it("returns nil, err 404 for an unknown directory", function()
        local page, err = sk.directories:list_groups(org, "dir_missing")
        api_error(404, "NOT_FOUND", page, err, "DirectoryService_ListDirectoryGroups")
      end)
    end)

    describe("each_group", function()
      it("walks every group", function()
        local groups = walk_ok(function() return sk.directories:each_group(org, dir, { page_size = 2 }) end)
        assert.are.same({ "dirg_1", "dirg_2", "dirg_3" }, ids(groups))
        assert.are.equal(2, #logged(server, "listDirectoryGroups"))
      end)

      it("raises the error object for an unknown organization", function()
        walk_fails(404, function() return sk.directories:each_group("org_missing", dir) end)
      end)
    end)

    describe("group_pages", function()
      it("yields page tables", function()
        local pages = walk_ok(function() return sk.directories:group_pages(org, dir, { page_size = 2 }) end)
        assert.are.equal(2, #pages)
        assert.are.same({ "dirg_3" }, ids(pages[2].groups))
        assert.are.equal("", pages[2].next_page_token)
      end)

      it("raises the error object for an unknown directory", function()
        walk_fails(404, function() return sk.directories:group_pages(org, "dir_missing") end)
      end)
    end)

    it("an organization without seeded users has an empty directory", function()
      local other = assert(sk.directories:list("org_2")).directories[1].id
      local page = assert(sk.directories:list_users("org_2", other))
      assert.are.equal(0, #page.users)
      assert.are.equal(0, page.total_size)
    end)
  end)
end)
