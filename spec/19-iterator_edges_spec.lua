-- Iterators against a misbehaving server (issue 11, item 6): whatever the
-- pages say, each/pages raise only SDK error objects (kind "decode" for a
-- next_page_token that is not a string, a token cycle, or too many empty
-- pages in a row) and every walk ends in bounded time. The pages come from
-- faults on listOrganizations, consumed in order. Against the real fake.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"
local cjson = require "cjson"

local logged = util.logged

-- More requests than any of these walks may make. Each page fault is used
-- once; after the last one the fake answers for itself (a 400 for a token
-- it never issued), so a walk that does not stop by itself ends in an
-- "api" error after this many requests instead of running forever.
local SERVER_PATIENCE = 1000

-- A fault answering one listOrganizations request with the JSON text `body`.
local function page_fault(body)
  return { operation = "listOrganizations", status = 200, content_type = "application/json",
           body = body }
end

-- A page of the organizations numbered `items` (possibly none: a JSON [])
-- whose next_page_token is the Lua value `token`.
local function page(items, token)
  local orgs = {}
  for i, n in ipairs(items) do
    orgs[i] = cjson.encode { id = "org_p" .. n, display_name = "Page org " .. n }
  end
  return ('{"organizations":[%s],"next_page_token":%s}'):format(table.concat(orgs, ","),
                                                             cjson.encode(token))
end

describe("iterators at the edges", function()
  local server, sk
  fixture.fake({ client = "each", fast = true, token = true, settings = { max_retries = 0 } },
               function(s, c) server, sk = s, c end)

  -- The walk raised an SDK error object of `kind`; returns it.
  local function raised(kind, ok, err)
    assert.is_false(ok, "the walk ended without raising")
    assert.is_true(scalekit.is_error(err), "raised a " .. type(err) .. ": " .. tostring(err))
    assert.are.equal(kind, err.kind, tostring(err))
    return err
  end

  local walks = {
    each = function(s) return s.organizations:each {} end,
    pages = function(s) return s.organizations:pages {} end,
  }

  for name, make in pairs(walks) do
    describe(name, function()
      for _, bad in ipairs {
        { "a number", 5 }, { "a float", 1.5 }, { "a boolean", true },
        { "an object", { token = "A" } }, { "an array", { "A" } },
      } do
        it("raises a decode error object for a next_page_token that is " .. bad[1], function()
          server:fault(page_fault(page({ 1 }, bad[2])))
          local ok, err = util.walk(function() return make(sk) end)
          raised("decode", ok, err)
          assert.are.equal(1, #logged(server, "listOrganizations"))
        end)
      end

      it("raises a decode error object for a token cycle A -> B -> A", function()
        local faults = {}
        for i = 1, SERVER_PATIENCE do
          faults[i] = page_fault(page({ i }, i % 2 == 1 and "A" or "B"))
        end
        server:faults(faults)
        local ok, err = util.walk(function() return make(sk) end)
        raised("decode", ok, err)
        -- pages: (none) -> A, A -> B, B -> A: the third answer closes the cycle
        assert.is_true(#logged(server, "listOrganizations") <= 4,
          #logged(server, "listOrganizations") .. " requests")
      end)

      it("raises a decode error object for a longer cycle A -> B -> C -> A", function()
        local faults, tokens = {}, { "A", "B", "C" }
        for i = 1, SERVER_PATIENCE do
          faults[i] = page_fault(page({ i }, tokens[(i - 1) % 3 + 1]))
        end
        server:faults(faults)
        local ok, err = util.walk(function() return make(sk) end)
        raised("decode", ok, err)
        assert.is_true(#logged(server, "listOrganizations") <= 5,
          #logged(server, "listOrganizations") .. " requests")
      end)

      it("raises a decode error object after many empty pages with fresh tokens", function()
        local faults = {}
        for i = 1, SERVER_PATIENCE do
          faults[i] = page_fault(page({}, "fresh-" .. i))
        end
        server:faults(faults)
        local ok, err = util.walk(function() return make(sk) end)
        raised("decode", ok, err)
        -- the SDK gave up by itself, before the server stopped misbehaving
        assert.is_true(#logged(server, "listOrganizations") < SERVER_PATIENCE,
          #logged(server, "listOrganizations") .. " requests")
      end)

      it("goes on after empty pages when items come again", function()
        server:faults {
          page_fault(page({ 1 }, "t1")),
          page_fault(page({}, "t2")),
          page_fault(page({}, "t3")),
          page_fault(page({ 2 }, "")),
        }
        local items = util.walk_ok(function() return make(sk) end)
        if name == "each" then
          assert.same({ "org_p1", "org_p2" }, util.ids(items))
        else
          assert.are.equal(4, #items)
        end
        assert.are.equal(4, #logged(server, "listOrganizations"))
      end)

      for _, hostile in ipairs {
        { "items that are a number", '{"organizations":5,"next_page_token":""}' },
        { "items that are a string", '{"organizations":"x","next_page_token":""}' },
        { "items that are an object", '{"organizations":{"a":1},"next_page_token":""}' },
        { "a page without items", '{"next_page_token":""}' },
        { "a page that is an array", "[1,2,3]" },
        { "a page that is a string", '"page"' },
        { "a page that is null", "null" },
      } do
        it("ends, raising nothing but an error object, for " .. hostile[1], function()
          server:fault(page_fault(hostile[2]))
          local ok, err = util.walk(function() return make(sk) end)
          if not ok then
            assert.is_true(scalekit.is_error(err), "raised a " .. type(err) .. ": " .. tostring(err))
          end
          assert.are.equal(1, #logged(server, "listOrganizations"))
        end)
      end
    end)
  end
end)
