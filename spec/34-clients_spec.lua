-- Organization API clients (M2M) and their secrets, against the fake server.
-- A secret's plain text comes back once, from the call that creates it; the
-- fake accepts it at /oauth/token until the secret is deleted.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"
local cjson = require "cjson"

local api_error, walk_ok, walk_fails, ids, leaks = util.api_error, util.walk_ok, util.walk_fails, util.ids, util.leaks
local only = util.only

describe("organization clients", function()
  local server, sk, org, other

  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  -- A token for client_id/secret from the fake (nil, err when refused).
  local function token_for(client_id, secret)
    local m2m = scalekit.new { environment_url = server.url, client_id = client_id, client_secret = secret }
    local tok, err = m2m:token()
    m2m:close()
    return tok, err
  end

  before_each(function()
    local seeded = server:seed { organizations = 2 }
    org, other = seeded.organization_ids[1], seeded.organization_ids[2]
    server:clear_requests()
  end)

  it("create returns the client and its first secret, shown this once", function()
    local res, err = sk:call("ClientService_CreateOrganizationClient", {
      organization_id = org, name = "billing-sync", description = "nightly", scopes = { "invoices:read" },
      audience = { "https://api.example.com" }, expiry = "7200",
      custom_claims = { { key = "tier", value = "gold" } },
    })
    assert.is_nil(err)
    local client = res.client
    assert.matches("^m2morg_%d+$", client.client_id)
    assert.are.equal(org, client.organization_id)
    assert.are.equal("billing-sync", client.name)
    assert.are.same({ "invoices:read" }, client.scopes)
    assert.are.equal("7200", client.expiry)
    assert.are.equal(1, #client.secrets)
    assert.are.equal("string", type(res.plain_secret))
    assert.are.equal(res.plain_secret:sub(-4), client.secrets[1].secret_suffix)
    assert.is_nil(client.secrets[1].plain_secret)
    local req = only(server, "ClientService_CreateOrganizationClient")
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/organizations/" .. org .. "/clients", req.path)
    assert.are.same({ name = "billing-sync", description = "nightly", scopes = { "invoices:read" },
      audience = { "https://api.example.com" }, expiry = "7200", custom_claims = { { key = "tier", value = "gold" } } },
      cjson.decode(req.body))

    -- the secret is real, and get/list never show it again
    assert.is_truthy(token_for(client.client_id, res.plain_secret))
    local got = assert(sk.clients:get(org, client.client_id))
    assert.are.equal(client.client_id, got.client_id)
    assert.is_nil(leaks(got, res.plain_secret))
    assert.is_nil(leaks(assert(sk.clients:list(org)), res.plain_secret))
  end)

  it("get and update", function()
    local id = assert(sk.clients:create(org, { name = "a" })).client.client_id
    server:clear_requests()
    local client = assert(sk:call("ClientService_GetOrganizationClient", { organization_id = org, client_id = id }))
    assert.are.equal("a", client.name)
    assert.are.equal("/api/v1/organizations/" .. org .. "/clients/" .. id, only(server, "ClientService_GetOrganizationClient").path)
    client = assert(sk:call("ClientService_UpdateOrganizationClient",
      { organization_id = org, client_id = id, name = "b", scopes = { "x", "y" } }))
    assert.are.equal("b", client.name)
    assert.are.same({ "x", "y" }, client.scopes)
    local req = only(server, "ClientService_UpdateOrganizationClient")
    assert.are.equal("PATCH", req.method)
    assert.are.same({ name = "b", scopes = { "x", "y" } }, cjson.decode(req.body))
    assert.are.equal("b", assert(sk.clients:get(org, id)).name)
  end)

  it("create_secret shows the new secret once; delete_secret revokes it", function()
    local created = assert(sk.clients:create(org, { name = "a" }))
    local id = created.client.client_id
    server:clear_requests()
    local res, err = sk:call("ClientService_CreateOrganizationClientSecret", { organization_id = org, client_id = id })
    assert.is_nil(err)
    assert.are.equal("string", type(res.plain_secret))
    assert.are.equal(res.plain_secret:sub(-4), res.secret.secret_suffix)
    assert.is_nil(res.secret.plain_secret)
    local req = only(server, "ClientService_CreateOrganizationClientSecret")
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/organizations/" .. org .. "/clients/" .. id .. "/secrets", req.path)
    assert.are.equal(2, #assert(sk.clients:get(org, id)).secrets)
    assert.is_truthy(token_for(id, res.plain_secret))

    assert.is_true(assert(sk.clients:delete_secret(org, id, res.secret.id)))
    req = only(server, "ClientService_DeleteOrganizationClientSecret")
    assert.are.equal("DELETE", req.method)
    assert.are.equal("/api/v1/organizations/" .. org .. "/clients/" .. id .. "/secrets/" .. res.secret.id, req.path)
    local tok, terr = token_for(id, res.plain_secret)
    assert.is_nil(tok)
    assert.are.equal(401, terr.status)
    assert.is_truthy(token_for(id, created.plain_secret)) -- the first secret still works
    local again, derr = sk.clients:delete_secret(org, id, res.secret.id)
    api_error(404, "NOT_FOUND", again, derr, "ClientService_DeleteOrganizationClientSecret")
  end)

  it("delete returns true, after which get is a 404", function()
    local id = assert(sk.clients:create(org, { name = "a" })).client.client_id
    local res, err = sk:call("ClientService_DeleteOrganizationClient", { organization_id = org, client_id = id })
    assert.is_nil(err)
    assert.is_true(res)
    assert.are.equal("DELETE", only(server, "ClientService_DeleteOrganizationClient").method)
    local gone, gerr = sk.clients:get(org, id)
    api_error(404, "NOT_FOUND", gone, gerr, "ClientService_GetOrganizationClient")
  end)

  it("lists one page; each and pages walk every page of the organization's clients", function()
    for i = 1, 5 do assert(sk.clients:create(org, { name = "c" .. i })) end
    assert(sk.clients:create(other, { name = "elsewhere" }))
    server:clear_requests()
    local page = assert(sk:call("ClientService_ListOrganizationClients", { organization_id = org, page_size = 2 }))
    assert.are.same({ "c1", "c2" }, ids(page.clients, "name"))
    assert.are.equal(5, page.total_size)
    assert.are.equal("2", only(server, "ClientService_ListOrganizationClients").query.page_size)
    local all = walk_ok(function() return sk.clients:each(org, { page_size = 2 }) end)
    assert.are.same({ "c1", "c2", "c3", "c4", "c5" }, ids(all, "name"))
    local pages = walk_ok(function() return sk.clients:pages(org, { page_size = 3 }) end)
    assert.are.same({ 3, 2 }, { #pages[1].clients, #pages[2].clients })
  end)

  it("returns nil, err 404 for an unknown client or organization (or another organization's client)", function()
    local c, err = sk.clients:get(org, "m2morg_404")
    api_error(404, "NOT_FOUND", c, err, "ClientService_GetOrganizationClient")
    c, err = sk.clients:create("org_missing", { name = "x" })
    api_error(404, "NOT_FOUND", c, err, "ClientService_CreateOrganizationClient")
    walk_fails(404, function() return sk.clients:each("org_missing") end)
    local id = assert(sk.clients:create(org, { name = "a" })).client.client_id
    c, err = sk.clients:get(other, id)
    api_error(404, "NOT_FOUND", c, err, "ClientService_GetOrganizationClient")
    c, err = sk:call("ClientService_CreateOrganizationClientSecret", { organization_id = org, client_id = "m2morg_404" })
    api_error(404, "NOT_FOUND", c, err, "ClientService_CreateOrganizationClientSecret")
  end)
end)
