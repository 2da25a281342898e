-- Reading params and building paths (issue 11, items 2 and 3): params are
-- read raw, so an __index metamethod is never consulted (a field only
-- visible through it is missing; what it returns is never sent; when it
-- raises nothing leaks: `make test-valgrind`); a path parameter of "." or
-- ".." is refused for every operation, and any other value stays inside its
-- own path segment. Against the real fake server.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"
local cjson = require "cjson"

local logged, only = util.logged, util.only

-- Every operation with its path template, sorted by id. (scalekit.operations
-- maps ids to rows, or lists rows that carry their id.)
local function operations()
  local list = {}
  for key, row in pairs(scalekit.operations) do
    local id = row.id or (type(key) == "string" and key)
    if id and row.path then list[#list + 1] = { id = id, path = row.path } end
  end
  table.sort(list, function(a, b) return a.id < b.id end)
  return list
end

-- The {name}s of a path template, in order.
local function path_params(path)
  local names = {}
  for name in path:gmatch("{([^}]+)}") do names[#names + 1] = name end
  return names
end

-- A value of the type an argument error asks for.
local function value_of(type_text)
  if type_text:find("integer", 1, true) or type_text:find("number", 1, true) then return 1 end
  if type_text:find("boolean", 1, true) then return true end
  if type_text:find("array", 1, true) then return { "x" } end
  if type_text:find("table", 1, true) or type_text:find("object", 1, true) then return {} end
  return "x"
end

-- pcall(sk:call(id, params)); while it raises for a missing or mistyped
-- field other than the one under test, fills that field plausibly and
-- tries again. Returns the last pcall's ok, error (or result).
local function call_filling(sk, id, params, tested)
  local ok, err
  for _ = 1, 25 do
    ok, err = pcall(sk.call, sk, id, params)
    if ok or type(err) ~= "string" then return ok, err end
    local missing = err:match("missing required field '([^']+)'")
    local wrong, wanted = err:match("'([^']+)' must be (.-) %(got")
    if missing and missing ~= tested and params[missing] == nil then
      params[missing] = "x"
    elseif wrong and wrong ~= tested then
      params[wrong] = value_of(wanted)
    else
      return ok, err
    end
  end
  return ok, err
end

-- Percent-decoding of one path segment.
local function unescape(s)
  return (s:gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

describe("params", function()
  local server, sk, org_id
  fixture.fake({ client = "each", fast = true, token = true }, function(s, c) server, sk = s, c end)

  before_each(function()
    org_id = server:seed { organizations = 1 }.organization_ids[1]
  end)

  describe("with an __index metamethod", function()
    -- A params table whose __index answers `answer(key)` and counts calls.
    local function proxy(fields, answer)
      local consulted = { n = 0 }
      return setmetatable(fields, { __index = function(_, key)
        consulted.n = consulted.n + 1
        return answer(key)
      end }), consulted
    end

    it("treats a required field visible only through __index as missing", function()
      local params, consulted = proxy({}, function(key)
        if key == "display_name" then return 42 end
      end)
      util.raises("missing required field 'display_name'", function()
        sk:call("createOrganization", params)
      end)
      assert.are.equal(0, consulted.n)
      assert.same({}, server:requests())
    end)

    it("treats a path parameter visible only through __index as missing", function()
      local params, consulted = proxy({}, function(key)
        if key == "id" then return org_id end
      end)
      util.raises("'id'", function() sk:call("getOrganization", params) end)
      assert.are.equal(0, consulted.n)
      assert.same({}, server:requests())
    end)

    it("never sends what __index returns in the body (a number as display_name)", function()
      local params, consulted = proxy({ display_name = "Acme" }, function() return 42 end)
      local org, err = sk:call("createOrganization", params)
      assert.is_nil(err)
      assert.are.equal("Acme", org.display_name)
      assert.are.equal(0, consulted.n)
      local body = cjson.decode(only(server, "createOrganization").body)
      assert.are.equal("Acme", body.display_name)
      assert.is_nil(body.external_id)
      assert.is_nil(body.metadata)
      for key, value in pairs(body) do assert.are_not.equal(42, value, key) end
    end)

    it("never sends what __index returns in the query", function()
      local params, consulted = proxy({}, function() return 5 end)
      assert.truthy(sk:call("listOrganizations", params))
      assert.are.equal(0, consulted.n)
      local query = only(server, "listOrganizations").query
      assert.is_nil(query.page_size)
      assert.is_nil(query.page_token)
      for key, value in pairs(query) do assert.are_not.equal("5", value, key) end
    end)

    it("does not consult an __index that raises, on a call or in a batch", function()
      local params, consulted = proxy({ display_name = "Raw" }, function(key)
        error("__index consulted for " .. tostring(key))
      end)
      local org, err = sk:call("createOrganization", params)
      assert.is_nil(err)
      assert.are.equal("Raw", org.display_name)
      local list_params = proxy({ page_size = 1 }, function(key)
        error("__index consulted for " .. tostring(key))
      end)
      local values, errors = sk:parallel {
        { "createOrganization", params }, { "listOrganizations", list_params },
      }
      assert.same({}, errors)
      assert.are.equal("Raw", values[1].display_name)
      assert.are.equal(1, #values[2].organizations)
      assert.are.equal(0, consulted.n)
      local creates = logged(server, "createOrganization")
      assert.are.equal(2, #creates)
      for _, req in ipairs(creates) do
        local body = cjson.decode(req.body)
        assert.are.equal("Raw", body.display_name)
        assert.is_nil(body.external_id)
      end
      assert.are.equal("page_size=1", only(server, "listOrganizations").raw_query)
    end)

    it("does not consult __index on a nested table either", function()
      local metadata = setmetatable({ team = "core" }, { __index = function(_, key)
        error("__index consulted for " .. tostring(key))
      end })
      assert.truthy(sk:call("createOrganization", { display_name = "N", metadata = metadata }))
      local body = cjson.decode(only(server, "createOrganization").body)
      assert.same({ team = "core" }, body.metadata)
    end)

    it("raises for a value that cannot be encoded, naming it, and sends nothing", function()
      -- the request buffers are allocated by then: valgrind checks they are freed
      local params = { display_name = "F", metadata = { key = function() end } }
      util.raises("metadata", function() sk:call("createOrganization", params) end)
      assert.same({}, server:requests())
    end)
  end)
end)

describe("path parameters", function()
  local server, sk
  fixture.fake({ client = "each", fast = true, token = true }, function(s, c) server, sk = s, c end)

  describe("equal to '.' or '..' are refused", function()
    for _, op in ipairs(operations()) do
      for _, name in ipairs(path_params(op.path)) do
        for _, dots in ipairs { ".", ".." } do
          it(("%s: %s = %q"):format(op.id, name, dots), function()
            local params = {}
            for _, other in ipairs(path_params(op.path)) do params[other] = "ok_" .. other end
            params[name] = dots
            local ok, err = call_filling(sk, op.id, params, name)
            assert.is_false(ok, ("%s with %s = %q did not raise"):format(op.id, name, dots))
            assert.is_string(err)
            assert.truthy(err:find(name, 1, true), "error does not name " .. name .. ": " .. err)
            assert.truthy(err:find("must not be '.' or '..'", 1, true), err)
            assert.same({}, server:requests())
          end)
        end
      end
    end

    it("by the resource methods too (organizations:get, memberships:remove)", function()
      util.raises("must not be '.' or '..'", function() sk.organizations:get(".") end)
      util.raises("must not be '.' or '..'", function() sk.organizations:get("..") end)
      util.raises("must not be '.' or '..'", function() sk.memberships:remove("org_1", "..") end)
      util.raises("must not be '.' or '..'", function() sk.memberships:remove(".", "usr_1") end)
      assert.same({}, server:requests())
    end)
  end)

  describe("with dots and escapes stay in their own segment", function()
    local ids = { "a.b", "..a", "a..", "...", ".a.", "%2e", "%2e%2e", "a%2F..%2Fb" }

    it("reaches the organization of each id", function()
      server:seed { org_ids = ids }
      server:clear_requests()
      for _, id in ipairs(ids) do
        local org, err = sk.organizations:get(id)
        assert.is_nil(err, id)
        assert.are.equal(id, org.id)
      end
      local log = logged(server, "getOrganization")
      assert.are.equal(#ids, #log)
      for i, req in ipairs(log) do
        local segment = req.path:match("^/api/v1/organizations/([^/]+)$")
        assert.is_string(segment, "raw path " .. req.path)
        assert.are.equal(ids[i], unescape(segment), "raw path " .. req.path)
      end
    end)

    it("keeps each of several parameters in its own segment", function()
      local _, err = sk:call("getConnection", { organization_id = "a.b", id = "..a" })
      assert.are.equal(404, err.status)
      local segments = { only(server, "getConnection").path:match(
        "^/api/v1/organizations/([^/]+)/connections/([^/]+)$") }
      assert.are.equal(2, #segments, only(server, "getConnection").path)
      assert.are.equal("a.b", unescape(segments[1]))
      assert.are.equal("..a", unescape(segments[2]))
    end)
  end)
end)
