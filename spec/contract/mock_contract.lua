-- Contract: every public method and sk:call(operationId) against
-- `prism mock --errors api/scalekit-openapi.yaml`. Prism answers an invalid
-- request with 422 and the list of violations; a valid one with a response
-- built from the document's schemas (placeholders: "string", 0,
-- expires_in: 0, next_page_token "string"). Run with `make test-contract`.
local prism = require "spec.helpers.prism"
local scalekit = require "scalekit"
local C = require "spec.contract.cases"

describe("contract: prism mock --errors", function()
  local p, r
  local seen = {}

  setup(function()
    p = prism.start { mode = "mock" }
    local sk, rec = C.client(p.url, seen)
    r = C.runner(p, sk, rec, "mock")
  end)

  teardown(function()
    if p then p:stop() end
  end)

  it("the document has 26 operations, all in the SDK's operation table and in the cases", function()
    local doc = C.document_operations()
    assert.are.equal(26, #doc)
    local sdk, cases = {}, {}
    for op in pairs(scalekit.operations) do sdk[#sdk + 1] = op end
    for _, case in ipairs(C.cases) do cases[#cases + 1] = case.op end
    table.sort(sdk)
    table.sort(cases)
    assert.are.same(doc, sdk)
    assert.are.same(doc, cases)
  end)

  describe("public methods", function()
    local ctx = {
      mode = "mock", suffix = "m1",
      org = "org_29CfAvb3Jk", seeded_org = "org_29CfAvb3Jk", connection = "conn_4Nq8Lx",
      directory = "dir_7Hk2Pq", user = "usr_alice_01", identifier = "alice@acme.example",
    }
    for _, case in ipairs(C.cases) do
      it(case.op, function() case.run(r, ctx) end)
    end
  end)

  describe("sk:call", function()
    local ctx = {
      mode = "mock", suffix = "m2",
      org = "org_8Ws1Tz", seeded_org = "org_8Ws1Tz", connection = "conn_Q2v9",
      directory = "dir_Z6n3", user = "usr_bob_02", identifier = "bob@globex.example",
    }
    for _, case in ipairs(C.cases) do
      it(case.op, function() case.call(r, ctx) end)
    end
  end)

  it("a token with expires_in 0 is fetched for each call and used once", function()
    local tokens, calls = 0, 0
    for _ = 1, 2 do
      r:step("organizations:get", function() return r.sk.organizations:get("org_29CfAvb3Jk") end)
      for _, x in ipairs(r.rec.exchanges) do
        local op = x.response and x.response.operation
        if op == "createToken" then tokens = tokens + 1 else calls = calls + 1 end
      end
    end
    assert.are.equal(2, calls)
    assert.are.equal(2, tokens)
  end)

  it("an unbounded iterator stops with an error on the mock's repeated page token", function()
    local n = 0
    local ok, err = pcall(function()
      for _ in r.sk.organizations:each { page_size = 1 } do
        n = n + 1
        if n > 10 then break end
      end
    end)
    assert.is_false(ok, "the iterator did not stop on a repeated next_page_token")
    assert.is_truthy(tostring(err):find("next_page_token", 1, true), tostring(err))
    assert.is_true(n <= 2)
  end)

  it("harness: query parameters and body fields the document lacks are reported", function()
    local found = C.undocumented {
      { request = { operation = "createRole", url = "http://h/api/v1/organizations/o/roles?org_id=o",
                    body = '{"name":"viewer","org_id":"o"}' } },
      { request = { operation = "createToken", url = "http://h/oauth/token",
                    body = "grant_type=client_credentials&client_id=a&client_secret=b&scope=x" } },
      { request = { operation = "listConnections",
                    url = "http://h/api/v1/connections?organization_id=o&page_size=1&page_token=t" } },
    }
    assert.are.same({ "createRole: query parameter org_id", "createRole: body field org_id",
                      "createToken: body field scope" }, found)
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

  -- Last: it makes Prism log a violation on purpose.
  it("harness: a request violation fails the step with Prism's violation text", function()
    local ok, msg = pcall(r.step, r, "self-test", function()
      return r.sk.organizations:create { display_name = "Bad", metadata = { seats = 5 } }
    end)
    assert.is_false(ok, "the mock accepted metadata.seats = 5 (the document says string)")
    assert.is_truthy(tostring(msg):find("metadata.seats must be string", 1, true), msg)
  end)
end)
