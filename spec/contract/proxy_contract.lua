-- Contract: every public method and sk:call(operationId) through
-- `prism proxy --errors api/scalekit-openapi.yaml <fake>` in front of the
-- fake server (spec/fake/server.js). Prism checks each request (422, not
-- forwarded, when invalid) and each of the fake's responses (500 with the
-- violations when --errors is set), so this validates the SDK's requests and
-- the fake's answers against the document. Run with `make test-contract`.
local fake = require "spec.helpers.fake"
local prism = require "spec.helpers.prism"
local scalekit = require "scalekit"
local C = require "spec.contract.cases"

describe("contract: prism proxy --errors in front of the fake server", function()
  local server, p, r
  local seen = {}
  local COUNTS = { connections_per_org = 2, users = 5, groups = 3 }
  -- Filled in setup from the fake's seed.
  local ctx_methods = { mode = "proxy", suffix = "p1", user = "usr_alice_01",
                        identifier = "alice@acme.example", counts = COUNTS }
  local ctx_call = { mode = "proxy", suffix = "p2", user = "usr_bob_02",
                     identifier = "bob@globex.example", counts = COUNTS }

  setup(function()
    server = fake.start { client_id = C.CLIENT_ID, client_secret = C.CLIENT_SECRET }
    -- One seeded organization (with its 2 connections and 1 directory of 5
    -- users and 3 groups) per section, plus 3 connected accounts.
    for i, ctx in ipairs { ctx_methods, ctx_call } do
      local org = i == 1 and "org_acme_seeded" or "org_globex_seeded"
      local ids = server:seed {
        org_ids = { org }, directory_users = COUNTS.users, directory_groups = COUNTS.groups,
        connected_accounts = i == 1 and 3 or 0,
      }
      ctx.seeded_org, ctx.directory = ids.organization_ids[1], ids.directory_ids[1]
    end
    -- Connection ids straight from the fake (not through Prism).
    local direct = scalekit.new(server:env())
    for _, ctx in ipairs { ctx_methods, ctx_call } do
      local res = assert(direct.connections:list_by_organization(ctx.seeded_org))
      ctx.connection = res.connections[1].id
    end
    direct:close()

    p = prism.start { mode = "proxy", upstream = server.url }
    local sk, rec = C.client(p.url, seen)
    r = C.runner(p, sk, rec, "proxy")
  end)

  teardown(function()
    if p then p:stop() end
    if server then server:stop() end
  end)

  describe("public methods", function()
    for _, case in ipairs(C.cases) do
      it(case.op, function() case.run(r, ctx_methods) end)
    end
  end)

  describe("sk:call", function()
    for _, case in ipairs(C.cases) do
      it(case.op, function() case.call(r, ctx_call) end)
    end
  end)

  describe("the fake's documented error responses", function()
    it("getOrganization: 404 with an Error body", function()
      local err = r:step_error("organizations:get (unknown id)", 404, function()
        return r.sk.organizations:get("org_does_not_exist")
      end)
      assert.are.equal("NOT_FOUND", err.code)
    end)

    it("removeMembership: 404 for a user who is not a member", function()
      r:step_error("memberships:remove (not a member)", 404, function()
        return r.sk.memberships:remove(ctx_methods.seeded_org, "usr_nobody")
      end)
    end)

    it("createToken: 401 for a wrong client secret", function()
      local bad, bad_rec = C.client(p.url, {}, { client_secret = "wrong_secret_0123456789" })
      local rb = C.runner(p, bad, bad_rec, "proxy")
      local err = rb:step_error("sk:token() (wrong secret)", 401, function() return bad:token() end)
      assert.are.equal("auth", err.kind)
    end)

    it("listOrganizations: 401 for a revoked token, then one fresh token and a retry", function()
      r:step("sk:token()", function() return r.sk:token() end)
      server:revoke_tokens()
      local page = r:step("organizations:list (after revocation)", function()
        return r.sk.organizations:list { page_size = 1 }
      end)
      assert.is_table(page.organizations)
      local statuses = {}
      for _, x in ipairs(r.rec.exchanges) do
        statuses[#statuses + 1] = x.response.operation .. " " .. tostring(x.response.status)
      end
      assert.are.same({ "listOrganizations 401", "createToken 200", "listOrganizations 200" }, statuses)
    end)
  end)

  it("every operation reached the fake through the proxy", function()
    local reached = {}
    for _, req in ipairs(server:requests()) do
      if req.operation then reached[req.operation] = true end
    end
    local missing = {}
    for _, op in ipairs(C.document_operations()) do
      if not reached[op] then missing[#missing + 1] = op end
    end
    assert(#missing == 0, "never reached the fake: " .. table.concat(missing, ", "))
  end)

  it("covers every public method and every operationId through sk:call", function()
    local missing = C.missing(seen)
    assert(#missing == 0, "never called: " .. table.concat(missing, ", "))
  end)

  it("Prism logged no violation over the whole run", function()
    local problems = C.sweep(p)
    io.stdout:write("\n", r:summary(problems), "\n")
    assert(#problems == 0, "Prism logged:\n" .. table.concat(problems, "\n"))
  end)

  -- Last: it makes Prism report a violation on purpose.
  it("harness: a response violation of the upstream fails the step with Prism's text", function()
    server:fault { operation = "getOrganization", status = 200, json = { organization = { id = 5 } } }
    local ok, msg = pcall(r.step, r, "self-test", function()
      return r.sk.organizations:get(ctx_call.seeded_org)
    end)
    assert.is_false(ok, "Prism let organization.id = 5 through (the document says string)")
    assert.is_truthy(tostring(msg):find("organization.id must be string", 1, true), msg)
  end)
end)
