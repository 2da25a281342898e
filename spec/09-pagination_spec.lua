-- Pagination iterators (each*, *pages) against the fake Scalekit server:
-- every item across pages, the page_token chain, failures raising the
-- error object (never a silent end of the list), a server repeating its
-- page token, early break, and flat memory over a long walk.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"

local number_type, logged, full_gc = util.number_type, util.logged, util.full_gc
local walk, walk_ok, walk_fails = util.walk, util.walk_ok, util.walk_fails

-- The request log names it by the first document's id; errors by the
-- published one.
local USERS_OP = "listDirectoryUsers"
local USERS_OPERATION_ID = "DirectoryService_ListDirectoryUsers"

-- Calls step(s, c) by hand, at most 1000 times, until it raises or ends;
-- returns the number of items and what it raised (nil when it ended).
local function step_until_raise(step, s, c)
  local n = 0
  for _ = 1, 1000 do
    local ok, item = pcall(step, s, c)
    if not ok then return n, item end
    if item == nil then break end
    n = n + 1
  end
  return n, nil
end

describe("pagination", function()
  local server, sk, fast
  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  setup(function() fast = util.client(server, { retry_max_delay = 0.02 }) end)
  teardown(function() if fast then fast:close() end end)

  -- Seeds one organization whose directory holds `n` users.
  local function directory(n)
    local s = server:seed { organizations = 1, directory_users = n }
    return s.organization_ids[1], s.directory_ids[1]
  end

  describe("each_user", function()
    -- Walks each_user(org, dir, params), which must end without raising
    -- after yielding `n_users` users in `n_requests` list requests; returns
    -- the users and the requests.
    local function expect_walk(org, dir, params, n_users, n_requests)
      local users = walk_ok(function() return sk.directories:each_user(org, dir, params) end)
      assert.are.equal(n_users, #users)
      local reqs = logged(server, USERS_OP)
      assert.are.equal(n_requests, #reqs)
      return users, reqs
    end

    it("walks every item across pages, sending each page's next_page_token", function()
      local org, dir = directory(250)
      -- the tokens the server hands out for pages 2 and 3
      local p1 = assert(sk.directories:list_users(org, dir, { page_size = 100 }))
      local p2 = assert(sk.directories:list_users(org, dir, { page_size = 100, page_token = p1.next_page_token }))
      assert.is_true(#p1.next_page_token > 0 and #p2.next_page_token > 0)
      server:clear_requests()

      local params = { page_size = 100 }
      local users, reqs = expect_walk(org, dir, params, 250, 3)
      for i, u in ipairs(users) do
        assert.are.equal("diru_" .. i, u.id)
      end

      assert.is_nil(reqs[1].query.page_token)
      assert.are.equal(p1.next_page_token, reqs[2].query.page_token)
      assert.are.equal(p2.next_page_token, reqs[3].query.page_token)
      for _, r in ipairs(reqs) do
        assert.are.equal("100", r.query.page_size)
        assert.are.equal("/api/v1/organizations/" .. org .. "/directories/" .. dir .. "/users", r.path)
      end
      -- the caller's table is not used as the iterator's state
      assert.are.same({ page_size = 100 }, params)
    end)

    it("returns the generic-for quadruple on Lua 5.4 (step, nil, nil, closing value)", function()
      local org, dir = directory(3)
      local n = select("#", sk.directories:each_user(org, dir))
      local step, s, c, closer = sk.directories:each_user(org, dir)
      if _VERSION == "Lua 5.4" then
        assert.are.equal(4, n)
        assert.are.equal("function", type(step))
        assert.is_nil(s)
        assert.is_nil(c)
        assert.are.equal("function", type(getmetatable(closer).__close))
      end
      assert.are.equal("diru_1", step(s, c).id)
      -- before 5.4 the iterator object comes as the state value
      ;(closer or s):close()
      assert.is_nil(step(s, c)) -- closed: finished
    end)

    it("respects page_size", function()
      local org, dir = directory(20)
      local _, reqs = expect_walk(org, dir, { page_size = 7 }, 20, 3)
      for _, r in ipairs(reqs) do assert.are.equal("7", r.query.page_size) end
    end)

    it("sends no page_size when none is given (server default 20)", function()
      local org, dir = directory(45)
      local _, reqs = expect_walk(org, dir, nil, 45, 3)
      for _, r in ipairs(reqs) do assert.is_nil(r.query.page_size) end
    end)

    it("yields nothing for an empty list, after one request", function()
      local org, dir = directory(0)
      expect_walk(org, dir, { page_size = 10 }, 0, 1)
      -- and the same for organizations:each with no organizations at all
      server:reset { keep_tokens = true }
      local orgs = walk_ok(function() return sk.organizations:each() end)
      assert.are.equal(0, #orgs)
    end)

    it("stops fetching when the loop breaks early", function()
      local org, dir = directory(250)
      local n = 0
      for _ in sk.directories:each_user(org, dir, { page_size = 100 }) do
        n = n + 1
        if n == 5 then break end
      end
      assert.are.equal(5, n)
      assert.are.equal(1, #logged(server, USERS_OP))
    end)
  end)

  describe("pages", function()
    it("yields page tables with items, next_page_token and integer total_size", function()
      local org, dir = directory(250)
      local pages = walk_ok(function() return sk.directories:user_pages(org, dir, { page_size = 100 }) end)
      assert.are.equal(3, #pages)
      assert.are.same({ 100, 100, 50 }, { #pages[1].users, #pages[2].users, #pages[3].users })
      assert.are.equal("diru_101", pages[2].users[1].id)
      assert.are.equal("diru_250", pages[3].users[50].id)
      for _, p in ipairs(pages) do
        assert.are.equal(250, p.total_size)
        assert.are.equal("integer", number_type(p.total_size))
      end
      assert.is_true(#pages[1].next_page_token > 0)
      assert.is_true(#pages[2].next_page_token > 0)
      assert.are.equal("", pages[3].next_page_token)
      assert.are.equal(3, #logged(server, USERS_OP))
    end)

    it("yields the one (empty) page of an empty list", function()
      local org, dir = directory(0)
      local pages = walk_ok(function() return sk.directories:user_pages(org, dir) end)
      assert.are.equal(1, #pages)
      assert.are.equal(0, #pages[1].users)
      assert.are.equal(0, pages[1].total_size)
    end)
  end)

  describe("a failure mid-iteration", function()
    local function fail_second_page(status)
      server:faults {
        { operation = USERS_OP, times = 1 }, -- the first page goes through untouched
        { method = "GET", path = "/directories/[^/]+/users$", status = status, times = 1 },
      }
    end

    it("raises the error object from each_user; it never looks like the end of the list", function()
      local org, dir = directory(250)
      fail_second_page(500)
      local err, users = walk_fails(500, function() return sk.directories:each_user(org, dir, { page_size = 100 }) end)
      assert.are.equal(100, #users)
      assert.are.equal("api", err.kind)
      assert.are.equal("INTERNAL", err.code)
      assert.are.equal(USERS_OPERATION_ID, err.operation)
      assert.are.equal(1, err.attempts) -- 500 is not retried
      assert.is_true(err.retryable)
      assert.matches("^req%-%d+$", err.request_id)
      assert.are.equal(2, #logged(server, USERS_OP))
    end)

    it("raises the error object from pages", function()
      local org, dir = directory(250)
      fail_second_page(500)
      local _, pages = walk_fails(500, function() return sk.directories:user_pages(org, dir, { page_size = 100 }) end)
      assert.are.equal(1, #pages)
    end)

    it("leaves the iterator finished: later steps return nil and fetch nothing", function()
      local org, dir = directory(250)
      fail_second_page(500)
      local step, s, c, closer = sk.directories:each_user(org, dir, { page_size = 100 })
      local n, raised = step_until_raise(step, s, c)
      assert.is_not_nil(raised, "the walk ended instead of raising")
      assert.are.equal(100, n)
      assert.is_true(scalekit.is_error(raised))
      assert.are.equal(500, raised.status)
      local before = #logged(server, USERS_OP)
      assert.is_nil(step(s, c))
      assert.is_nil(step(s, c))
      assert.are.equal(before, #logged(server, USERS_OP))
      if closer then closer:close() end
    end)

    it("retries a 503 on a page (GET is idempotent) and completes the walk", function()
      local org, dir = directory(250)
      fail_second_page(503)
      local users = walk_ok(function() return fast.directories:each_user(org, dir, { page_size = 100 }) end)
      assert.are.equal(250, #users)
      assert.are.equal(4, #logged(server, USERS_OP))
    end)

    it("raises the 404 of the very first page", function()
      local org = directory(5)
      local _, users = walk_fails(404, function() return sk.directories:each_user(org, "dir_missing") end)
      assert.are.equal(0, #users)
    end)
  end)

  describe("a server repeating the page token", function()
    local function repeat_token(org, dir)
      local p1 = assert(sk.directories:list_users(org, dir, { page_size = 100 }))
      server:clear_requests()
      server:faults {
        { operation = USERS_OP, times = 1 }, -- the real first page
        -- then a page whose next_page_token is the token just sent; times 3
        -- so that a client that does not notice still ends (and fails here)
        { operation = USERS_OP, status = 200, times = 3,
          json = { users = { { id = "diru_x" } }, next_page_token = p1.next_page_token, total_size = 250 } },
      }
    end

    it("makes each_user raise a decode error instead of looping", function()
      local org, dir = directory(250)
      repeat_token(org, dir)
      local step, s, c = sk.directories:each_user(org, dir, { page_size = 100 })
      local n, raised = step_until_raise(step, s, c)
      assert.is_true(scalekit.is_error(raised), "expected a raised error object, got " .. tostring(raised))
      assert.are.equal("decode", raised.kind)
      assert.are.equal(USERS_OPERATION_ID, raised.operation)
      assert.is_truthy(tostring(raised.message):find("repeat"), raised.message)
      assert.are.equal(100, n)
      assert.are.equal(2, #logged(server, USERS_OP))
      assert.is_nil(step(s, c)) -- finished
      assert.are.equal(2, #logged(server, USERS_OP))
    end)

    it("is not what an empty token sent and an empty token back are", function()
      -- page_token = "" asks for the first page; "" back means the end
      local org, dir = directory(30)
      local ok, err, users = walk(function()
        return sk.directories:each_user(org, dir, { page_size = 100, page_token = "" })
      end)
      assert.is_true(ok, tostring(err))
      assert.are.equal(30, #users)
    end)

    it("makes pages raise a decode error", function()
      local org, dir = directory(250)
      repeat_token(org, dir)
      local ok, err, pages = walk(function() return sk.directories:user_pages(org, dir, { page_size = 100 }) end)
      assert.is_false(ok)
      assert.is_true(scalekit.is_error(err))
      assert.are.equal("decode", err.kind)
      assert.are.equal(1, #pages)
      assert.are.equal(2, #logged(server, USERS_OP))
    end)
  end)

  it("keeps memory flat over a 20,000-user walk", function()
    local org, dir = directory(20000)
    local n, base, growth, last = 0, nil, {}, nil
    for user in sk.directories:each_user(org, dir, { page_size = 100 }) do
      n = n + 1
      last = user.id
      if n == 1000 then
        base = full_gc()
      elseif n % 4000 == 0 then
        growth[#growth + 1] = full_gc() - base
      end
    end
    assert.are.equal(20000, n)
    assert.are.equal("diru_20000", last)
    assert.are.equal(5, #growth)
    for i, kb in ipairs(growth) do
      assert.is_true(kb < 2048, ("heap grew by %.0f KB at sample %d (after %d users)"):format(kb, i, i * 4000))
    end
    assert.are.equal(200, #logged(server, USERS_OP))
  end)
end)
