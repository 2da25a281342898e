-- JSON both ways: integers stay integers, floats stay floats, null is
-- scalekit.null, empty arrays/objects go out as [] / {}, strings survive
-- quoting and unicode; path and query parameters are percent-encoded.
-- Checked on the raw bytes the real fake server received.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"
local cjson = require "cjson"

local number_type, last = util.number_type, util.last

local function has(s, piece)
  return s:find(piece, 1, true) ~= nil
end

describe("json", function()
  local server, sk, org_id
  fixture.fake({ client = "each", fast = true }, function(s, c) server, sk = s, c end)

  before_each(function()
    org_id = server:seed { organizations = 1 }.organization_ids[1]
  end)

  describe("decoding", function()
    it("gives integers for integral numbers", function()
      server:seed { organizations = 2 }
      local page = assert(sk.organizations:list { page_size = 2 })
      assert.equal("integer", number_type(page.total_size))
      assert.equal(3, page.total_size)
      assert.equal(2, #page.organizations)
    end)

    it("keeps floats as floats and integers exact up to 2^53", function()
      server:fault { operation = "getOrganization", status = 200, body =
        '{"organization": {"id": "org_n", "score": 1.5, "neg": -7, "zero": 0, "tiny": 1e-3,'
        .. ' "max_safe": 9007199254740991, "min_safe": -9007199254740991, "third": 0.3333,'
        .. ' "nested": {"list": [1, 2.25, -3]}}}' }
      local org = assert(sk.organizations:get(org_id))
      assert.equal("float", number_type(org.score))
      assert.equal(1.5, org.score)
      assert.equal("integer", number_type(org.neg))
      assert.equal(-7, org.neg)
      assert.equal("integer", number_type(org.zero))
      assert.equal("float", number_type(org.tiny))
      assert.equal(0.001, org.tiny)
      assert.equal("integer", number_type(org.max_safe))
      assert.equal(9007199254740991, org.max_safe)
      assert.equal("integer", number_type(org.min_safe))
      assert.equal(-9007199254740991, org.min_safe)
      assert.equal("float", number_type(org.third))
      assert.equal("integer", number_type(org.nested.list[1]))
      assert.equal("float", number_type(org.nested.list[2]))
      assert.equal("integer", number_type(org.nested.list[3]))
    end)

    it("decodes JSON null as scalekit.null", function()
      server:fault { operation = "getOrganization", status = 200, json = {
        organization = { id = "org_x", display_name = "X", external_id = cjson.null,
                         list = { 1, cjson.null, 3 }, nested = { deep = cjson.null } } } }
      local org = assert(sk.organizations:get(org_id))
      assert.equal("org_x", org.id)
      assert.equal(scalekit.null, org.external_id)
      assert.equal(cjson.null, scalekit.null)
      assert.equal("userdata", type(scalekit.null))
      assert.equal(3, #org.list)
      assert.equal(scalekit.null, org.list[2])
      assert.equal(3, org.list[3])
      assert.equal(scalekit.null, org.nested.deep)
    end)

    it("decodes unicode escapes and raw UTF-8", function()
      server:fault { operation = "getOrganization", status = 200,
                     body = '{"organization": {"id": "org_u", "a": "caf\\u00e9 \\ud83d\\ude00", "b": "naïve ✓"}}' }
      local org = assert(sk.organizations:get(org_id))
      assert.equal("café 😀", org.a)
      assert.equal("naïve ✓", org.b)
    end)
    it("refuses a response that is not valid UTF-8 with a decode error", function()
      -- {"organization":{"id":"\xff"}}
      server:fault { operation = "getOrganization", status = 200,
                     body_base64 = "eyJvcmdhbml6YXRpb24iOnsiaWQiOiL/In19" }
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(org)
      assert.equal("decode", err.kind)
      assert.equal(200, err.status)
      assert.truthy(err.message:find("UTF-8", 1, true))
    end)
  end)

  describe("request bodies", function()
    it("sends empty roles as [] and empty metadata as {}", function()
      server:seed { organizations = 1, users = 1 } -- usr_1, a member of another organization
      local user, err = sk.memberships:add(org_id, "usr_1", { roles = {}, metadata = {} })
      assert.is_nil(err)
      local m
      for _, membership in ipairs(user.memberships) do
        if membership.organization_id == org_id then m = membership end
      end
      assert.same({}, m.roles)
      assert.same({}, m.metadata)
      local body = last(server, "addMembership").body
      assert.truthy(has(body, '"roles":[]'), body)
      assert.truthy(has(body, '"metadata":{}'), body)
      assert.equal("application/json", last(server, "addMembership").headers["content-type"])
    end)

    it("sends empty permissions as []", function()
      local role, err = sk.roles:create(org_id, { name = "viewer", permissions = {} })
      assert.is_nil(err)
      assert.same({}, role.permissions)
      local body = last(server, "createRole").body
      assert.truthy(has(body, '"permissions":[]'), body)
      assert.same({ name = "viewer", permissions = {} }, cjson.decode(body))
    end)

    it("sends empty features as []", function()
      local org, err = sk.organizations:update_settings(org_id, { features = {} })
      assert.is_nil(err)
      assert.equal(org_id, org.id)
      local body = last(server, "updateOrganizationSettings").body
      assert.equal('{"features":[]}', body)
    end)

    it("sends features as an array of objects", function()
      local org = assert(sk.organizations:update_settings(org_id,
        { features = { { name = "sso", enabled = true }, { name = "audit", enabled = false } } }))
      local body = cjson.decode(last(server, "updateOrganizationSettings").body)
      assert.same({ features = { { name = "sso", enabled = true }, { name = "audit", enabled = false } } }, body)
      local enabled = {}
      for _, f in ipairs(org.settings.features) do enabled[f.name] = f.enabled end
      assert.same({ sso = true, dir_sync = false, audit = false }, enabled)
    end)

    it("sends empty metadata as {} on create", function()
      local org = assert(sk.organizations:create { display_name = "Empty meta", metadata = {} })
      assert.same({}, org.metadata)
      assert.truthy(has(last(server, "createOrganization").body, '"metadata":{}'))
    end)

    -- tool_input and connection_name (the first document's) go out as the
    -- live params and connector
    it("sends an empty tool_input as {} and nested input unchanged", function()
      local acct = server:seed { connected_accounts = 1 }
      assert.equal(1, #acct.connected_account_ids)
      local identifier = "user1@example.com"
      local res = assert(sk.tools:execute { tool_name = "noop", identifier = identifier, tool_input = {} })
      assert.truthy(has(last(server, "executeTool").body, '"params":{}'))
      assert.same({}, res.data)

      local input = {
        query = "from:boss",
        limit = 10,
        ratio = 0.25,
        flags = { true, false },
        filters = { labels = { "inbox", "work" }, range = { from = 1, to = 2 }, deep = { a = { b = { c = "d" } } } },
      }
      res = assert(sk.tools:execute { tool_name = "gmail_search", identifier = identifier,
                                      connection_name = "gmail", tool_input = input })
      local sent = cjson.decode(last(server, "executeTool").body)
      assert.same(input, sent.params)
      assert.equal("gmail_search", sent.tool_name)
      assert.equal("gmail", sent.connector)
      assert.is_nil(sent.tool_input)
      assert.is_nil(sent.connection_name)
      assert.same(input, res.data)
      assert.equal("integer", number_type(res.data.limit))
      assert.equal("integer", number_type(res.data.filters.range.from))
      assert.equal("float", number_type(res.data.ratio))
      assert.truthy(res.execution_id)
    end)

    it("round-trips strings with quotes, escapes, control characters and unicode", function()
      local name = 'He said "hi"\n\ttab \\ back / slash \1\31 \127 café ✓ 😀 \244\143\191\191 end'
      local org, err = sk.organizations:create { display_name = name, external_id = "ext\"'<>&",
                                                 metadata = { ["key \"q\"\n"] = "v\0after-nul" } }
      assert.is_nil(err)
      local body = last(server, "createOrganization").body
      local sent = cjson.decode(body)
      assert.equal(name, sent.display_name)
      assert.equal("ext\"'<>&", sent.external_id)
      assert.same({ ["key \"q\"\n"] = "v\0after-nul" }, sent.metadata)
      -- raw control characters never appear unescaped
      assert.falsy(body:find("[%z\1-\31]"), body)
      assert.equal(name, org.display_name)
      assert.same({ ["key \"q\"\n"] = "v\0after-nul" }, org.metadata)
      local again = assert(sk.organizations:get(org.id))
      assert.equal(name, again.display_name)
    end)

    it("encodes scalekit.null in a body field as null", function()
      local _, err = sk.organizations:update(org_id, { external_id = scalekit.null, display_name = "N" })
      local body = last(server, "updateOrganization").body
      assert.truthy(has(body, '"external_id":null'), body)
      assert.equal(cjson.null, cjson.decode(body).external_id)
      -- the fake validates external_id as a string, so it refuses the null
      assert.equal(400, err and err.status)
    end)

    it("encodes scalekit.null inside tool_input as null", function()
      server:seed { connected_accounts = 1 }
      local res = assert(sk.tools:execute { tool_name = "t", identifier = "user1@example.com",
                                            tool_input = { a = scalekit.null, list = { 1, scalekit.null, 3 } } })
      local body = last(server, "executeTool").body
      assert.truthy(has(body, '"a":null'), body)
      assert.truthy(has(body, "[1,null,3]"), body)
      assert.equal(scalekit.null, res.data.a)
      assert.equal(scalekit.null, res.data.list[2])
    end)

    describe("values that cannot be encoded", function()
      -- raises with a message holding every piece (plain text)
      local function raises_with(fn, pieces)
        local ok, msg = pcall(fn)
        assert.is_false(ok, "no error raised")
        assert.is_string(msg)
        for _, piece in ipairs(pieces) do
          assert.truthy(has(msg, piece), ("%q not in %q"):format(piece, msg))
        end
      end

      after_each(function()
        assert.same({}, server:requests())
      end)

      it("raises naming the field path for a function in tool_input", function()
        raises_with(function()
          sk.tools:execute { tool_name = "t", identifier = "i",
                             tool_input = { a = { b = { c = function() end } } } }
        end, { "tools:execute:", "tool_input", ".a.b.c", "cannot encode a function" })
        raises_with(function()
          sk.tools:execute { tool_name = "t", identifier = "i", tool_input = { list = { 1, 2, print } } }
        end, { "tools:execute:", "tool_input", ".list[3]", "cannot encode a function" })
      end)

      it("raises for a coroutine, a userdata and a cycle", function()
        raises_with(function()
          sk.tools:execute { tool_name = "t", identifier = "i", tool_input = { co = coroutine.create(function() end) } }
        end, { "tool_input", ".co", "cannot encode a thread" })
        raises_with(function()
          sk.tools:execute { tool_name = "t", identifier = "i", tool_input = { f = io.stdout } }
        end, { "tool_input", ".f", "cannot encode" })
        local cyc = {}
        cyc.self = cyc
        raises_with(function()
          sk.tools:execute { tool_name = "t", identifier = "i", tool_input = cyc }
        end, { "tools:execute:", "tool_input" })
      end)

      it("raises for NaN and infinity", function()
        raises_with(function()
          sk.tools:execute { tool_name = "t", identifier = "i", tool_input = { x = 0 / 0 } }
        end, { "tool_input", ".x", "cannot encode NaN or infinity" })
        raises_with(function()
          sk.tools:execute { tool_name = "t", identifier = "i", tool_input = { x = -math.huge } }
        end, { "cannot encode NaN or infinity" })
      end)
    end)
    it("raises on a body string that is not valid UTF-8 and sends nothing", function()
      server:clear_requests()
      assert.has_error(function()
        sk.organizations:create { display_name = "Acme\255" }
      end, "organizations:create: field display_name: invalid UTF-8 at byte 4")
      assert.error_matches(function()
        sk.tools:execute { tool_name = "t", identifier = "i", tool_input = { ["k\195"] = 1 } }
      end, "field tool_input: key with invalid UTF%-8")
      assert.equal(0, #server:requests())
    end)
  end)

  describe("path parameters", function()
    it("percent-encodes reserved characters and finds the org", function()
      server:seed { org_ids = { "a/b?c#d" } }
      local org, err = sk.organizations:get("a/b?c#d")
      assert.is_nil(err)
      assert.equal("a/b?c#d", org.id)
      local r = last(server, "getOrganization")
      assert.equal("/api/v1/organizations/a%2Fb%3Fc%23d", r.path)
      assert.equal("", r.raw_query)
    end)

    it("percent-encodes spaces, percent signs and UTF-8", function()
      local id = "acme corp 100% ü+&=.._~-"
      server:seed { org_ids = { id } }
      local org = assert(sk.organizations:get(id))
      assert.equal(id, org.id)
      assert.equal("/api/v1/organizations/acme%20corp%20100%25%20%C3%BC%2B%26%3D.._~-",
        last(server, "getOrganization").path)
    end)

    it("does the same through sk:call and in every path slot", function()
      server:seed { org_ids = { "a/b?c#d" } }
      local org = assert(sk:call("getOrganization", { id = "a/b?c#d" }))
      assert.equal("a/b?c#d", org.id)
      assert.equal("/api/v1/organizations/a%2Fb%3Fc%23d", last(server, "getOrganization").path)
      local _, err = sk.connections:get("a/b?c#d", "x/../y")
      assert.equal(404, err.status)
      assert.equal("/api/v1/organizations/a%2Fb%3Fc%23d/connections/x%2F..%2Fy",
        last(server, "getConnection").path)
      assert.equal(scalekit.operations.getConnection.id, err.operation)
    end)

    it("cannot be used to climb to another route", function()
      local _, err = sk.organizations:get("../connections")
      assert.equal(404, err.status)
      assert.equal("/api/v1/organizations/..%2Fconnections", last(server, "getOrganization").path)
    end)
  end)

  describe("query parameters", function()
    it("percent-encodes query values", function()
      local value = "a b&c=d/é+#?"
      local page = assert(sk.connections:list { organization_id = value })
      assert.same({}, page.connections)
      local r = last(server, "listConnections")
      assert.equal("organization_id=a%20b%26c%3Dd%2F%C3%A9%2B%23%3F", r.raw_query)
      assert.equal(value, r.query.organization_id)
    end)

    it("sends integers without a decimal point", function()
      assert(sk.organizations:list { page_size = 5 })
      assert.equal("page_size=5", last(server, "listOrganizations").raw_query)
      assert(sk.organizations:list { page_size = 5.0 })
      assert.equal("page_size=5", last(server, "listOrganizations").raw_query)
    end)

    it("passes the server's page tokens back intact ('+' and '/')", function()
      server:seed { organizations = 2 }
      local p1 = assert(sk.organizations:list { page_size = 1 })
      assert.matches("^%+/", p1.next_page_token)
      local p2, err = sk.organizations:list { page_size = 1, page_token = p1.next_page_token }
      assert.is_nil(err)
      assert.are_not.equal(p1.organizations[1].id, p2.organizations[1].id)
      assert.truthy(has(last(server, "listOrganizations").raw_query, "page_token=%2B%2F"))
    end)
  end)
end)
