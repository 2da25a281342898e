-- Numbers and limits at their edges (issue 11, item 5): integer fields
-- refuse what the API cannot take and send the rest exactly; a
-- sub-millisecond timeout rounds up instead of turning the timeout off;
-- NaN and infinities are refused for every numeric setting and for
-- parallel's concurrency. The timeout cases run in a child interpreter with
-- a time limit, so a call that hangs fails the spec instead of blocking it.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local child = require "spec.helpers.child"
local scalekit = require "scalekit"

local logged, only = util.logged, util.only

local NAN, INF = 0 / 0, math.huge

-- Numeric settings of scalekit.new.
local NUMERIC_SETTINGS = { "timeout", "connect_timeout", "stall_timeout", "max_retries",
                           "retry_base_delay", "retry_max_delay", "max_retry_wait",
                           "max_body_size", "max_depth" }

describe("limits", function()
  local server, sk
  fixture.fake({ client = "each", fast = true, token = true, settings = { max_retries = 0 } },
               function(s, c) server, sk = s, c end)

  describe("page_size", function()
    -- math.maxinteger only exists on 5.3+; 2^63 is its float neighbour.
    local too_big = {
      { "math.maxinteger", math.maxinteger or 2 ^ 63 },
      { "2^53 + 1 (a float)", 2 ^ 53 + 1 },
      { "2^31", 2 ^ 31 },
      { "-2^31 - 1", -2 ^ 31 - 1 },
      { "1e300", 1e300 },
      { "-1e300", -1e300 },
      { "NaN", NAN },
      { "inf", INF },
      { "-inf", -INF },
    }
    if math.mininteger then too_big[#too_big + 1] = { "math.mininteger", math.mininteger } end

    for _, case in ipairs(too_big) do
      it("refuses " .. case[1] .. ", naming the field, and sends nothing", function()
        local err = util.raises("page_size", function()
          sk:call("listOrganizations", { page_size = case[2] })
        end)
        assert.falsy(err:find("unknown", 1, true), err)
        util.raises("page_size", function() sk.organizations:list { page_size = case[2] } end)
        assert.same({}, server:requests())
      end)
    end

    it("sends in-range integers exactly, integral floats as integers", function()
      for _, case in ipairs {
        { 2147483647, "2147483647" }, { -2147483648, "-2147483648" }, { 100, "100" },
        { 7.0, "7" }, { 2 ^ 31 - 1, "2147483647" },
      } do
        server:clear_requests()
        sk:call("listOrganizations", { page_size = case[1] })
        assert.are.equal("page_size=" .. case[2], only(server, "listOrganizations").raw_query)
      end
    end)

    it("goes out as given and pages accordingly", function()
      server:seed { organizations = 5 }
      server:clear_requests()
      local page = assert(sk.organizations:list { page_size = 3 })
      assert.are.equal(3, #page.organizations)
      assert.are.equal("page_size=3", only(server, "listOrganizations").raw_query)
    end)
  end)

  describe("timeouts", function()
    -- In a child: a client with `settings`, one getOrganization of a seeded
    -- organization whose answer stalls for 5 s (opts: per-call options).
    -- Reports the outcome and how long the call took.
    local function stalled_call(settings, opts)
      local org_id = server:seed { organizations = 1 }.organization_ids[1]
      local pre = child.run([[
        local scalekit = require "scalekit"
        local socket = require "socket"
        local settings = ENV.settings
        settings.environment_url, settings.client_id, settings.client_secret =
          ENV.url, ENV.client_id, ENV.client_secret
        local sk = scalekit.new(settings)
        if ENV.prefetch then assert(sk:token()) end
        emit("ready", "yes")
        local t0 = socket.gettime()
        local org, err = sk:call("getOrganization", { id = ENV.org_id }, ENV.opts)
        emit("elapsed", socket.gettime() - t0)
        emit("result", org and org.id or "nil")
        emit("kind", err and err.kind or "none")
        emit("is_error", scalekit.is_error(err))
      ]], {
        seconds = 3,
        env = util.merge(server:env(), { url = server.url, org_id = org_id,
                                         settings = util.merge({ max_retries = 0 }, settings),
                                         opts = opts, prefetch = opts ~= nil }),
      })
      return pre, org_id
    end

    local function timed_out_quickly(r)
      assert.is_false(r.timed_out, "the call hung (the child was killed at its time limit)")
      child.ok(r)
      assert.are.equal("nil", r.values.result, r.output)
      assert.are.equal("true", r.values.is_error, r.output)
      assert.are.equal("timeout", r.values.kind, r.output)
      assert.is_true(tonumber(r.values.elapsed) < 1.5, "took " .. tostring(r.values.elapsed))
    end

    before_each(function()
      server:fault { operation = "getOrganization", stall_ms = 5000, times = -1 }
    end)

    it("timeout = 0.0005 on the client fails a stalled call instead of hanging", function()
      timed_out_quickly(stalled_call { timeout = 0.0005 })
    end)

    it("timeout = 0.0005 for one call fails it instead of hanging", function()
      timed_out_quickly(stalled_call({ timeout = 20 }, { timeout = 0.0005 }))
      assert.are.equal(1, #logged(server, "getOrganization"))
    end)

    it("stall_timeout = 0.0005 still detects a stall", function()
      local r = stalled_call { stall_timeout = 0.0005, timeout = 20 }
      assert.is_false(r.timed_out, "the call hung (the child was killed at its time limit)")
      child.ok(r)
      assert.are.equal("timeout", r.values.kind, r.output)
    end)

  end)

  describe("NaN and infinities", function()
    it("are refused for a per-call timeout", function()
      for _, bad in ipairs { NAN, INF, -INF } do
        util.raises("timeout", function()
          sk:call("listOrganizations", {}, { timeout = bad })
        end)
      end
      assert.same({}, server:requests())
    end)

    for _, value in ipairs { { "NaN", NAN }, { "inf", INF }, { "-inf", -INF } } do
      it("are refused for parallel's concurrency (" .. value[1] .. ")", function()
        local calls = { { "listOrganizations", {} }, { "listOrganizations", {} } }
        local ok, err = pcall(sk.parallel, sk, calls, { concurrency = value[2] })
        assert.is_false(ok, "concurrency = " .. value[1] .. " was accepted")
        assert.truthy(tostring(err):find("concurrency", 1, true), tostring(err))
        assert.same({}, server:requests())
      end)

      for _, setting in ipairs(NUMERIC_SETTINGS) do
        it("are refused for scalekit.new's " .. setting .. " (" .. value[1] .. ")", function()
          local ok, err = pcall(scalekit.new, util.merge(server:env(), { [setting] = value[2] }))
          assert.is_false(ok, setting .. " = " .. value[1] .. " was accepted")
          assert.truthy(tostring(err):find(setting, 1, true), tostring(err))
        end)
      end
    end
  end)
end)
