-- Organization domains (live API) against the fake server. Domains page by
-- page_number (1-based), not by token: the iterators stop on a short page.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local cjson = require "cjson"

local api_error, walk_ok, walk_fails, ids = util.api_error, util.walk_ok, util.walk_fails, util.ids
local only = util.only

describe("domains", function()
  local server, sk, org, other

  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  before_each(function()
    local seeded = server:seed { organizations = 2 }
    org, other = seeded.organization_ids[1], seeded.organization_ids[2]
    server:clear_requests()
  end)

  -- n domains d1.example.com .. dn.example.com in org (dom_1 .. dom_n).
  local function add(n)
    for i = 1, n do assert(sk.domains:create(org, { domain = "d" .. i .. ".example.com" })) end
    server:clear_requests()
  end

  describe("create", function()
    it("creates a domain and returns it unwrapped", function()
      local d, err = sk:call("DomainService_CreateDomain", { organization_id = org, domain = "Acme.com" })
      assert.is_nil(err)
      assert.are.equal("dom_1", d.id)
      assert.are.equal("acme.com", d.domain)
      assert.are.equal(org, d.organization_id)
      assert.are.equal("ORGANIZATION_DOMAIN", d.domain_type)
      assert.are.equal("PENDING", d.verification_status)
      local req = only(server, "DomainService_CreateDomain")
      assert.are.equal("POST", req.method)
      assert.are.equal("/api/v1/organizations/" .. org .. "/domains", req.path)
      assert.are.same({ domain = "Acme.com" }, cjson.decode(req.body))
    end)

    it("takes a domain_type", function()
      local d = assert(sk.domains:create(org, { domain = "mail.example.com", domain_type = "ALLOWED_EMAIL_DOMAIN" }))
      assert.are.equal("ALLOWED_EMAIL_DOMAIN", d.domain_type)
      assert.are.same({ domain = "mail.example.com", domain_type = "ALLOWED_EMAIL_DOMAIN" },
        cjson.decode(only(server, "DomainService_CreateDomain").body))
    end)

    it("returns nil, err 409 for a domain that exists in the environment", function()
      assert(sk.domains:create(org, { domain = "acme.com" }))
      local d, err = sk.domains:create(other, { domain = "acme.com" })
      api_error(409, "ALREADY_EXISTS", d, err, "DomainService_CreateDomain")
      assert.are.equal("domain", err.details[1].field)
    end)

    it("returns nil, err 400 for a name that is no domain, or a domain_type outside the enum", function()
      local d, err = sk.domains:create(org, { domain = "not a domain" })
      api_error(400, "INVALID_ARGUMENT", d, err, "DomainService_CreateDomain")
      d, err = sk.domains:create(org, { domain = "acme.com", domain_type = "PARKED" })
      api_error(400, "INVALID_ARGUMENT", d, err, "DomainService_CreateDomain")
      assert.are.equal("domain_type", err.details[1].field)
      assert.are.equal(0, #assert(sk.domains:list(org)).domains)
    end)

    it("returns nil, err 404 for an unknown organization", function()
      local d, err = sk.domains:create("org_missing", { domain = "acme.com" })
      api_error(404, "NOT_FOUND", d, err, "DomainService_CreateDomain")
    end)
  end)

  describe("get", function()
    it("returns the domain", function()
      add(2)
      local d = assert(sk:call("DomainService_GetDomain", { organization_id = org, id = "dom_2" }))
      assert.are.equal("d2.example.com", d.domain)
      local req = only(server, "DomainService_GetDomain")
      assert.are.equal("GET", req.method)
      assert.are.equal("/api/v1/organizations/" .. org .. "/domains/dom_2", req.path)
      assert.are.equal("dom_1", assert(sk.domains:get(org, "dom_1")).id)
    end)

    it("returns nil, err 404 for an unknown domain or another organization's", function()
      add(1)
      local d, err = sk.domains:get(org, "dom_404")
      api_error(404, "NOT_FOUND", d, err, "DomainService_GetDomain")
      d, err = sk.domains:get(other, "dom_1")
      api_error(404, "NOT_FOUND", d, err, "DomainService_GetDomain")
    end)
  end)

  describe("list", function()
    it("returns one page by page_number and page_size", function()
      add(5)
      local page, err = sk:call("DomainService_ListDomains", { organization_id = org, page_size = 2, page_number = 2 })
      assert.is_nil(err)
      assert.are.same({ "dom_3", "dom_4" }, ids(page.domains))
      assert.are.equal(2, page.page_number)
      assert.are.equal(2, page.page_size)
      local req = only(server, "DomainService_ListDomains")
      assert.are.equal("/api/v1/organizations/" .. org .. "/domains", req.path)
      assert.are.same({ page_size = "2", page_number = "2" }, req.query)
    end)

    it("filters by domain_type", function()
      add(2)
      assert(sk.domains:create(org, { domain = "mail.example.org", domain_type = "ALLOWED_EMAIL_DOMAIN" }))
      local page = assert(sk.domains:list(org, { domain_type = "ALLOWED_EMAIL_DOMAIN" }))
      assert.are.same({ "mail.example.org" }, ids(page.domains, "domain"))
    end)

    it("each walks page_number 1, 2, 3 and stops on the short page", function()
      add(5)
      local all = walk_ok(function() return sk.domains:each(org, { page_size = 2 }) end)
      assert.are.same({ "dom_1", "dom_2", "dom_3", "dom_4", "dom_5" }, ids(all))
      local reqs = server:requests("DomainService_ListDomains")
      assert.are.equal(3, #reqs)
      for i, r in ipairs(reqs) do
        assert.are.same({ page_size = "2", page_number = tostring(i) }, r.query)
      end
    end)

    it("pages yields page tables; an exact multiple ends with an empty page", function()
      add(4)
      local pages = walk_ok(function() return sk.domains:pages(org, { page_size = 2 }) end)
      assert.is_true(#pages == 2 or #pages == 3)
      assert.are.same({ "dom_1", "dom_2" }, ids(pages[1].domains))
      assert.are.same({ "dom_3", "dom_4" }, ids(pages[2].domains))
      if pages[3] then assert.are.equal(0, #pages[3].domains) end
      assert.are.equal(#pages, #server:requests("DomainService_ListDomains"))
    end)

    it("returns nil, err 404 for an unknown organization, and the iterators raise it", function()
      local page, err = sk.domains:list("org_missing")
      api_error(404, "NOT_FOUND", page, err, "DomainService_ListDomains")
      walk_fails(404, function() return sk.domains:each("org_missing", { page_size = 2 }) end)
    end)
  end)

  describe("delete", function()
    it("returns true, after which get is a 404", function()
      add(2)
      local res, err = sk:call("DomainService_DeleteDomain", { organization_id = org, id = "dom_1" })
      assert.is_nil(err)
      assert.is_true(res)
      local req = only(server, "DomainService_DeleteDomain")
      assert.are.equal("DELETE", req.method)
      assert.are.equal("/api/v1/organizations/" .. org .. "/domains/dom_1", req.path)
      local d, gerr = sk.domains:get(org, "dom_1")
      api_error(404, "NOT_FOUND", d, gerr, "DomainService_GetDomain")
      assert.are.same({ "dom_2" }, ids(assert(sk.domains:list(org)).domains))
      res, err = sk.domains:delete(org, "dom_1")
      api_error(404, "NOT_FOUND", res, err, "DomainService_DeleteDomain")
    end)

    it("goes with the organization", function()
      add(1)
      assert.is_true(assert(sk.organizations:delete(org)))
      local d, err = sk.domains:create(other, { domain = "d1.example.com" })
      assert.is_nil(err)
      assert.are.equal("d1.example.com", d.domain)
    end)
  end)
end)
