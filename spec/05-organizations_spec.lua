-- sk.organizations against the fake Scalekit server: every method, a
-- success and a failure each, and the request the server received.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"
local cjson = require "cjson"

local number_type, logged, only, raises, api_error =
  util.number_type, util.logged, util.only, util.raises, util.api_error

local function feature(org, name)
  for _, f in ipairs(org.settings.features) do
    if f.name == name then return f end
  end
  return nil
end

describe("organizations", function()
  local server, sk
  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  describe("list", function()
    it("returns one page: items, next_page_token and an integer total_size", function()
      server:seed { organizations = 3 }
      local page, err = sk.organizations:list { page_size = 2 }
      assert.is_nil(err)
      assert.are.equal(2, #page.organizations)
      assert.are.equal("org_1", page.organizations[1].id)
      assert.are.equal("org_2", page.organizations[2].id)
      assert.are.equal("Seeded Org org_1", page.organizations[1].display_name)
      assert.are.equal(3, page.total_size)
      assert.are.equal("integer", number_type(page.total_size))
      assert.are.equal("string", type(page.next_page_token))
      assert.is_true(#page.next_page_token > 0)

      local req = only(server, "listOrganizations")
      assert.are.equal("GET", req.method)
      assert.are.equal("/api/v1/organizations", req.path)
      assert.are.equal("2", req.query.page_size)
      assert.is_nil(req.query.page_token)
      assert.are.equal("", req.body)
    end)

    it("fetches the next page with page_token (percent-encoded) and ends with an empty token", function()
      server:seed { organizations = 3 }
      local first = assert(sk.organizations:list { page_size = 2 })
      local second, err = sk.organizations:list { page_size = 2, page_token = first.next_page_token }
      assert.is_nil(err)
      assert.are.equal(1, #second.organizations)
      assert.are.equal("org_3", second.organizations[1].id)
      assert.are.equal("", second.next_page_token)
      assert.are.equal(3, second.total_size)

      local reqs = logged(server, "listOrganizations")
      assert.are.equal(2, #reqs)
      assert.are.equal(first.next_page_token, reqs[2].query.page_token)
      -- the fake's tokens start with "+/": sent raw they would decode wrongly
      assert.matches("page_token=%%2B%%2F", reqs[2].raw_query)
    end)

    it("returns an empty page when there are no organizations", function()
      local page = assert(sk.organizations:list())
      assert.are.equal(0, #page.organizations)
      assert.are.equal(0, page.total_size)
      assert.are.equal("", page.next_page_token)
    end)

    it("returns nil, err 400 for a page_size the server rejects", function()
      local page, err = sk.organizations:list { page_size = 1000 }
      api_error(400, "INVALID_ARGUMENT", page, err, "OrganizationService_ListOrganization")
      assert.is_false(err.retryable)
      assert.are.equal("page_size", err.details[1].field)
      assert.are.equal("1000", only(server, "listOrganizations").query.page_size)
    end)

    it("returns nil, err 400 for a page_token the server does not know", function()
      local page, err = sk.organizations:list { page_token = "bogus" }
      api_error(400, "INVALID_ARGUMENT", page, err, "OrganizationService_ListOrganization")
      assert.are.equal("page_token", err.details[1].field)
    end)

    it("raises on a wrong type or an unknown field and sends nothing", function()
      raises("organizations:list: field 'page_size' must be an integer", function()
        sk.organizations:list { page_size = "ten" }
      end)
      raises("organizations:list: unknown field 'bogus'", function()
        sk.organizations:list { bogus = 1 }
      end)
      assert.are.equal(0, #logged(server))
    end)
  end)

  describe("each", function()
    it("walks every organization across pages", function()
      server:seed { organizations = 5 }
      local ids = {}
      for org in sk.organizations:each { page_size = 2 } do ids[#ids + 1] = org.id end
      assert.are.same({ "org_1", "org_2", "org_3", "org_4", "org_5" }, ids)
      local reqs = logged(server, "listOrganizations")
      assert.are.equal(3, #reqs)
      for _, r in ipairs(reqs) do assert.are.equal("2", r.query.page_size) end
    end)

    it("raises the error object when a page fails", function()
      server:seed { organizations = 5 }
      server:faults {
        { operation = "listOrganizations", times = 1 }, -- first page passes
        { operation = "listOrganizations", status = 500, times = 1 },
      }
      local n = 0
      local ok, err = pcall(function()
        for _ in sk.organizations:each { page_size = 2 } do n = n + 1 end
      end)
      assert.is_false(ok)
      assert.is_true(scalekit.is_error(err))
      assert.are.equal(500, err.status)
      assert.are.equal("OrganizationService_ListOrganization", err.operation)
      assert.are.equal(2, n)
    end)
  end)

  describe("pages", function()
    it("yields whole page tables", function()
      server:seed { organizations = 5 }
      local sizes, totals = {}, {}
      for page in sk.organizations:pages { page_size = 2 } do
        sizes[#sizes + 1] = #page.organizations
        totals[#totals + 1] = page.total_size
      end
      assert.are.same({ 2, 2, 1 }, sizes)
      assert.are.same({ 5, 5, 5 }, totals)
    end)

    it("raises the error object when the first page is refused", function()
      local ok, err = pcall(function()
        for _ in sk.organizations:pages { page_size = 500 } do end
      end)
      assert.is_false(ok)
      assert.is_true(scalekit.is_error(err))
      assert.are.equal(400, err.status)
      assert.are.equal("INVALID_ARGUMENT", err.code)
    end)
  end)

  describe("create", function()
    it("creates an organization and returns it unwrapped", function()
      local org, err = sk.organizations:create {
        display_name = "Acme", external_id = "acme-1", metadata = { tier = "gold" },
      }
      assert.is_nil(err)
      assert.is_nil(org.organization) -- unwrapped
      assert.matches("^org_%d+$", org.id)
      assert.are.equal("Acme", org.display_name)
      assert.are.equal("acme-1", org.external_id)
      assert.are.same({ tier = "gold" }, org.metadata)
      assert.are.equal("string", type(org.create_time))

      local req = only(server, "createOrganization")
      assert.are.equal("POST", req.method)
      assert.are.equal("/api/v1/organizations", req.path)
      assert.matches("^application/json", req.headers["content-type"])
      assert.are.same({ display_name = "Acme", external_id = "acme-1", metadata = { tier = "gold" } },
        cjson.decode(req.body))

      -- it is in the server's state
      local again = assert(sk.organizations:get(org.id))
      assert.are.equal("Acme", again.display_name)
    end)

    it("sends only the fields given; an empty metadata goes out as {}", function()
      local org = assert(sk.organizations:create { display_name = "Solo", metadata = {} })
      assert.is_nil(org.external_id)
      local req = only(server, "createOrganization")
      assert.are.same({ display_name = "Solo", metadata = {} }, cjson.decode(req.body))
      assert.is_truthy(req.body:find('"metadata":{}', 1, true), req.body)
    end)

    it("raises on a missing display_name, a wrong type or an unknown field, sending nothing", function()
      raises("organizations:create: missing required field 'display_name'", function()
        sk.organizations:create { external_id = "x" }
      end)
      raises("organizations:create: missing required field 'display_name'", function()
        sk.organizations:create()
      end)
      raises("field 'display_name' must be a string (got number)", function()
        sk.organizations:create { display_name = 42 }
      end)
      raises("organizations:create: unknown field 'bogus'", function()
        sk.organizations:create { display_name = "A", bogus = true }
      end)
      assert.are.equal(0, #logged(server))
    end)

    it("returns nil, err 400 when the server rejects the body (empty display_name)", function()
      local org, err = sk.organizations:create { display_name = "" }
      api_error(400, "INVALID_ARGUMENT", org, err, "OrganizationService_CreateOrganization")
      assert.are.equal("display_name", err.details[1].field)
      assert.is_false(err.retryable)
      -- nothing was created
      assert.are.equal(0, assert(sk.organizations:list()).total_size)
    end)

    it("returns nil, err 400 for metadata values that are not strings", function()
      local org, err = sk.organizations:create { display_name = "A", metadata = { n = 1 } }
      api_error(400, "INVALID_ARGUMENT", org, err)
      assert.are.equal("metadata.n", err.details[1].field)
    end)
  end)

  describe("get", function()
    it("returns the organization", function()
      local ids = server:seed { organizations = 2 }.organization_ids
      local org, err = sk.organizations:get(ids[2])
      assert.is_nil(err)
      assert.are.equal(ids[2], org.id)
      assert.are.equal("Seeded Org " .. ids[2], org.display_name)
      assert.are.equal("US", org.region_code)
      local req = only(server, "getOrganization")
      assert.are.equal("GET", req.method)
      assert.are.equal("/api/v1/organizations/" .. ids[2], req.path)
    end)

    it("percent-encodes the id in the path", function()
      server:seed { org_ids = { "acme/eu?x#y" } }
      local org = assert(sk.organizations:get("acme/eu?x#y"))
      assert.are.equal("acme/eu?x#y", org.id)
      assert.are.equal("/api/v1/organizations/acme%2Feu%3Fx%23y", only(server, "getOrganization").path)
    end)

    it("returns nil, err 404 for an unknown id", function()
      local org, err = sk.organizations:get("org_missing")
      api_error(404, "NOT_FOUND", org, err, "OrganizationService_GetOrganization")
      assert.is_false(err.retryable)
      assert.are.equal(1, err.attempts)
      assert.is_truthy(err.message:find("org_missing", 1, true))
      local line = tostring(err)
      assert.is_nil(line:find("\n"))
      assert.is_truthy(line:find("404", 1, true))
      assert.is_truthy(line:find("OrganizationService_GetOrganization", 1, true))
    end)

    it("raises when the id is not a non-empty string", function()
      raises("organizations:get: argument #1 (id) must be a non-empty string", function()
        sk.organizations:get("")
      end)
      raises("organizations:get: argument #1 (id) must be a non-empty string", function()
        sk.organizations:get()
      end)
      raises("organizations:get: argument #1 (id) must be a non-empty string", function()
        sk.organizations:get(12)
      end)
      raises("must not contain CR, LF or NUL", function()
        sk.organizations:get("org_1\r\nX: y")
      end)
      assert.are.equal(0, #logged(server))
    end)
  end)

  describe("update", function()
    it("changes only the fields given", function()
      local org = assert(sk.organizations:create {
        display_name = "Old", external_id = "ext-1", metadata = { a = "1" },
      })
      local updated, err = sk.organizations:update(org.id, { display_name = "New" })
      assert.is_nil(err)
      assert.are.equal(org.id, updated.id)
      assert.are.equal("New", updated.display_name)
      assert.are.equal("ext-1", updated.external_id)
      assert.are.same({ a = "1" }, updated.metadata)

      local req = only(server, "updateOrganization")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/organizations/" .. org.id, req.path)
      assert.are.same({ display_name = "New" }, cjson.decode(req.body))

      local merged = assert(sk.organizations:update(org.id, { metadata = { b = "2" }, external_id = "ext-2" }))
      assert.are.equal("New", merged.display_name)
      assert.are.equal("ext-2", merged.external_id)
      assert.are.same({ a = "1", b = "2" }, merged.metadata)
      assert.are.equal("ext-2", assert(sk.organizations:get(org.id)).external_id)
    end)

    it("returns nil, err 404 for an unknown id", function()
      local org, err = sk.organizations:update("org_missing", { display_name = "X" })
      api_error(404, "NOT_FOUND", org, err, "OrganizationService_UpdateOrganization")
    end)

    it("returns nil, err 400 for an empty display_name and leaves the organization alone", function()
      local org = assert(sk.organizations:create { display_name = "Keep" })
      local res, err = sk.organizations:update(org.id, { display_name = "" })
      api_error(400, "INVALID_ARGUMENT", res, err, "OrganizationService_UpdateOrganization")
      assert.are.equal("Keep", assert(sk.organizations:get(org.id)).display_name)
    end)

    it("raises when the id is passed as a field or the fields are not a table", function()
      raises("organizations:update: argument #1 (id) must be a non-empty string", function()
        sk.organizations:update { id = "org_1", display_name = "X" }
      end)
      raises("organizations:update: 'id' is passed as a positional argument, not a field", function()
        sk.organizations:update("org_1", { id = "org_2" })
      end)
      raises("organizations:update: argument #2 (fields) must be a table", function()
        sk.organizations:update("org_1", "X")
      end)
      assert.are.equal(0, #logged(server))
    end)
  end)

  describe("delete", function()
    it("returns true, after which get is a 404", function()
      local org = assert(sk.organizations:create { display_name = "Doomed" })
      local res, err = sk.organizations:delete(org.id)
      assert.is_nil(err)
      assert.is_true(res)
      local req = only(server, "deleteOrganization")
      assert.are.equal("DELETE", req.method)
      assert.are.equal("/api/v1/organizations/" .. org.id, req.path)

      local gone, gerr = sk.organizations:get(org.id)
      api_error(404, "NOT_FOUND", gone, gerr, "OrganizationService_GetOrganization")
    end)

    it("returns nil, err 404 for an unknown id (or the second time)", function()
      local org = assert(sk.organizations:create { display_name = "Twice" })
      assert.is_true(sk.organizations:delete(org.id))
      local res, err = sk.organizations:delete(org.id)
      api_error(404, "NOT_FOUND", res, err, "OrganizationService_DeleteOrganization")
      res, err = sk.organizations:delete("org_never")
      api_error(404, "NOT_FOUND", res, err, "OrganizationService_DeleteOrganization")
    end)
  end)

  describe("update_settings", function()
    it("round-trips features", function()
      local org = assert(sk.organizations:create { display_name = "Feat" })
      assert.is_false(feature(org, "sso").enabled)
      local res, err = sk.organizations:update_settings(org.id, {
        features = { { name = "sso", enabled = true }, { name = "custom_domain", enabled = true } },
      })
      assert.is_nil(err)
      assert.are.equal(org.id, res.id) -- unwrapped organization
      assert.is_true(feature(res, "sso").enabled)
      assert.is_false(feature(res, "dir_sync").enabled)
      assert.is_true(feature(res, "custom_domain").enabled)

      local req = only(server, "updateOrganizationSettings")
      assert.are.equal("PATCH", req.method)
      assert.are.equal("/api/v1/organizations/" .. org.id .. "/settings", req.path)
      assert.are.same({ features = { { name = "sso", enabled = true }, { name = "custom_domain", enabled = true } } },
        cjson.decode(req.body))

      local again = assert(sk.organizations:get(org.id))
      assert.is_true(feature(again, "sso").enabled)
      assert.is_true(feature(again, "custom_domain").enabled)

      -- and back off
      local off = assert(sk.organizations:update_settings(org.id, { features = { { name = "sso", enabled = false } } }))
      assert.is_false(feature(off, "sso").enabled)
    end)

    it("sends an empty features list as a JSON array", function()
      local org = assert(sk.organizations:create { display_name = "Empty" })
      assert(sk.organizations:update_settings(org.id, { features = {} }))
      local body = only(server, "updateOrganizationSettings").body
      assert.are.equal('{"features":[]}', body)
    end)

    it("returns nil, err 404 for an unknown id", function()
      local res, err = sk.organizations:update_settings("org_missing", { features = { { name = "sso", enabled = true } } })
      api_error(404, "NOT_FOUND", res, err, "OrganizationService_UpdateOrganizationSettings")
    end)

    it("returns nil, err 400 for a feature whose enabled is not a boolean", function()
      local org = assert(sk.organizations:create { display_name = "Bad" })
      local res, err = sk.organizations:update_settings(org.id, { features = { { name = "sso", enabled = "yes" } } })
      api_error(400, "INVALID_ARGUMENT", res, err, "OrganizationService_UpdateOrganizationSettings")
      assert.are.equal("features[0].enabled", err.details[1].field)
      assert.is_false(feature(assert(sk.organizations:get(org.id)), "sso").enabled)
    end)

    it("raises when features is not a table", function()
      raises("field 'features' must be a table (JSON array)", function()
        sk.organizations:update_settings("org_1", { features = "sso" })
      end)
      assert.are.equal(0, #logged(server))
    end)
  end)

  describe("portal_link", function()
    it("returns a link with a location string", function()
      local org = assert(sk.organizations:create { display_name = "Portal" })
      local link, err = sk.organizations:portal_link(org.id)
      assert.is_nil(err)
      assert.are.equal("string", type(link.location))
      assert.matches("^https://fake%.scalekit%.test/portal/" .. org.id .. "/%x+$", link.location)
      assert.are.equal("string", type(link.expire_time))
      local req = only(server, "createPortalLink")
      assert.are.equal("PUT", req.method)
      assert.are.equal("/api/v1/organizations/" .. org.id .. "/portal_links", req.path)
    end)

    it("returns nil, err 404 for an unknown id", function()
      local link, err = sk.organizations:portal_link("org_missing")
      api_error(404, "NOT_FOUND", link, err, "OrganizationService_GeneratePortalLink")
    end)
  end)
end)
