-- Client lifecycle: close (explicit, idempotent, <close>), use after close,
-- garbage collection with live clients/resources/iterators, leaving an
-- iterator early, and keep-alive. Against the real fake server.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"

local logged, full_gc = util.logged, util.full_gc

describe("lifecycle", function()
  local server, org_ids
  fixture.fake({}, function(s) server = s end)

  before_each(function()
    org_ids = server:seed { organizations = 5 }.organization_ids
  end)

  local function new_client(extra)
    return util.client(server, extra)
  end

  describe("close", function()
    it("is idempotent", function()
      local sk = new_client()
      assert.truthy(sk.organizations:list())
      assert.has_no.errors(function() sk:close() end)
      assert.has_no.errors(function() sk:close() end)
      assert.has_no.errors(function() sk:close() end)
      assert.equal("scalekit.client (closed)", tostring(sk))
    end)

    it("makes every method raise 'client is closed' and send nothing", function()
      local sk = new_client()
      local orgs = sk.organizations -- a resource taken before close
      local dirs = sk.directories
      sk:close()
      server:clear_requests()
      assert.error_matches(function() sk:token() end, "token: client is closed")
      assert.error_matches(function() sk:call("listOrganizations", {}) end, "call: client is closed")
      assert.error_matches(function() sk.organizations:get(org_ids[1]) end, "organizations:get: client is closed")
      assert.error_matches(function() orgs:list() end, "organizations:list: client is closed")
      assert.error_matches(function() orgs:create { display_name = "x" } end,
        "organizations:create: client is closed")
      assert.error_matches(function() orgs:each() end, "organizations:each: client is closed")
      assert.error_matches(function() dirs:list_users("o", "d") end, "directories:list_users: client is closed")
      assert.error_matches(function() sk.tools:execute { tool_name = "t", identifier = "i" } end,
        "tools:execute: client is closed")
      assert.same({}, server:requests())
    end)

    it("is done by a <close> variable at the end of its block", function()
      if _VERSION < "Lua 5.4" then
        pending("<close> needs Lua 5.4")
        return
      end
      local chunk = assert(load([[
        local scalekit, opts = ...
        local captured, total
        do
          local sk <close> = scalekit.new(opts)
          captured = sk
          total = assert(sk.organizations:list()).total_size
        end
        return captured, total
      ]], "=close_chunk"))
      local sk, total = chunk(scalekit, server:env())
      assert.equal(5, total)
      assert.equal("scalekit.client (closed)", tostring(sk))
      assert.error_matches(function() sk:token() end, "client is closed")
    end)

    it("is done by a <close> variable when its block raises", function()
      if _VERSION < "Lua 5.4" then
        pending("<close> needs Lua 5.4")
        return
      end
      local chunk = assert(load([[
        local scalekit, opts, box = ...
        local sk <close> = scalekit.new(opts)
        box.sk = sk
        error("boom")
      ]], "=close_chunk"))
      local box = {}
      local ok, err = pcall(chunk, scalekit, server:env(), box)
      assert.is_false(ok)
      assert.matches("boom", err)
      assert.error_matches(function() box.sk.organizations:list() end, "client is closed")
    end)
  end)

  describe("garbage collection", function()
    it("keeps the client alive while a resource is referenced", function()
      local orgs
      do
        local sk = new_client()
        orgs = sk.organizations
      end
      full_gc()
      local page, err = orgs:list()
      assert.is_nil(err)
      assert.equal(5, page.total_size)
    end)

    it("keeps the client alive while an iterator is referenced", function()
      local step, s, ctl, closer
      do
        local sk = new_client()
        step, s, ctl, closer = sk.organizations:each { page_size = 2 }
      end
      full_gc()
      local ids = {}
      for org in step, s, ctl, closer do
        ids[#ids + 1] = org.id
        full_gc()
      end
      assert.same(org_ids, ids)
      assert.equal(3, #logged(server, "listOrganizations"))
    end)

    it("collects an iterator dropped mid-walk safely", function()
      local sk = new_client()
      do
        local step = sk.organizations:each { page_size = 2 }
        assert.equal(org_ids[1], step().id)
      end
      full_gc()
      assert.equal(5, assert(sk.organizations:list()).total_size)
      sk:close()
      full_gc()
    end)

    it("collects unreferenced clients, with and without close, safely", function()
      for i = 1, 20 do
        local sk = new_client()
        assert.truthy(sk.organizations:get(org_ids[1 + i % 5]))
        local step = sk.organizations:each { page_size = 1 }
        step()
        if i % 2 == 0 then sk:close() end
      end
      full_gc()
      -- a new client after all that still works
      local sk = new_client()
      assert.equal(5, assert(sk.organizations:list()).total_size)
    end)
  end)

  describe("iterators", function()
    it("stop fetching when the loop breaks", function()
      local sk = new_client()
      local n = 0
      for _ in sk.organizations:each { page_size = 2 } do
        n = n + 1
        if n == 3 then break end
      end
      assert.equal(3, n)
      assert.equal(2, #logged(server, "listOrganizations"))
      -- the client is fine afterwards
      assert.equal(5, assert(sk.organizations:list()).total_size)
    end)

    it("are closed by the generic for on break (5.4)", function()
      if _VERSION < "Lua 5.4" then
        pending("to-be-closed loop values need Lua 5.4")
        return
      end
      local sk = new_client()
      local step, s, ctl, closer = sk.organizations:each { page_size = 2 }
      assert.is_not_nil(closer)
      for _ in step, s, ctl, closer do break end -- luacheck: ignore 512 (the break is the test)
      server:clear_requests()
      assert.is_nil(step()) -- closed: no more items and no more requests
      assert.same({}, server:requests())
    end)

    it("raise a clear error when the client was closed before the next fetch", function()
      local sk = new_client()
      local step = sk.organizations:each { page_size = 1 }
      assert.equal(org_ids[1], step().id)
      sk:close()
      server:clear_requests()
      assert.error_matches(function() step() end, "client is closed")
      assert.same({}, server:requests())
    end)

    it("raise a clear error at the next step after the client was closed", function()
      local sk = new_client()
      local step = sk.organizations:each { page_size = 2 }
      assert.equal(org_ids[1], step().id)
      sk:close()
      -- the second item is already in memory, but the walk must not go on
      assert.error_matches(function() step() end, "client is closed")
    end)

    it("raise a clear error for pages after the client was closed", function()
      local sk = new_client()
      local step = sk.organizations:pages { page_size = 2 }
      assert.equal(2, #step().organizations)
      sk:close()
      assert.error_matches(function() step() end, "client is closed")
    end)
  end)

  describe("keep-alive", function()
    it("uses one TCP connection for 20 sequential calls", function()
      local sk = new_client()
      for i = 1, 20 do
        assert.truthy(sk.organizations:get(org_ids[1 + i % 5]))
      end
      local stats = server:stats()
      assert.equal(21, stats.requests) -- the token and 20 calls
      assert.equal(1, stats.connections)
      for _, r in ipairs(server:requests()) do assert.equal(1, r.connection) end
    end)

    -- Writes (POST, PATCH) open a fresh connection on purpose: libcurl
    -- would silently resend a write whose reused connection died.
    it("keeps the connection across API errors and reads; writes take a fresh one", function()
      local sk = new_client()
      for i = 1, 5 do
        local _, err = sk.organizations:get("missing-" .. i)
        assert.equal(404, err.status)
        assert.truthy(sk.organizations:create { display_name = "Org " .. i })
        assert.truthy(sk.organizations:update(org_ids[i], { display_name = "Renamed " .. i }))
        assert.truthy(sk.organizations:portal_link(org_ids[i]))
      end
      assert.is_true(assert(sk.organizations:delete(org_ids[1])))
      local stats = server:stats()
      assert.equal(22, stats.requests)
      -- the token POST, 5 creates and 5 updates each opened one; the
      -- GETs, PUTs and the DELETE reused an open connection
      assert.equal(11, stats.connections)
    end)

    it("gives each client its own connection", function()
      local a, b = new_client(), new_client()
      for _ = 1, 3 do
        assert.truthy(a.organizations:list())
        assert.truthy(b.organizations:list())
      end
      assert.equal(2, server:stats().connections)
    end)
  end)
end)
