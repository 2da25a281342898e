-- Integration specs: the SDK inside a real nginx (Debian's nginx +
-- libnginx-mod-http-lua + lua-resty-core standing in for OpenResty), with
-- the fake Scalekit server as backend. Run by `make test-nginx` (not by
-- `make test`: the file name does not match busted's _spec pattern).
--
-- nginx runs spec/nginx/nginx.conf from a temporary prefix, handlers in
-- spec/nginx/handlers.lua, the LuaJIT build of scalekit.core.
local cjson = require "cjson"
local socket = require "socket"
local fake = require "spec.helpers.fake"
local driver = require "spec.nginx.driver"

local function decode(body)
  local ok, t = pcall(cjson.decode, body or "")
  assert(ok, "not JSON: " .. tostring(body))
  return t
end

describe("scalekit inside nginx", function()
  local server, nginx, org_ids

  -- GET path -> status, decoded body (with the error log on failure)
  local function get(path, headers)
    local status, body = nginx:get(path, headers)
    assert(status, "no answer from nginx for " .. path .. "\n" .. nginx:error_log())
    return status, body
  end

  local function get_json(path, expected_status)
    local status, body = get(path)
    if status ~= (expected_status or 200) then
      error(("GET %s -> %s %s\n%s"):format(path, tostring(status), tostring(body),
        nginx:error_log():sub(-4000)), 2)
    end
    return decode(body)
  end

  setup(function()
    server = fake.start {}
    nginx = driver.start { fake = server, workers = 1, shared_dict = "scalekit_tokens" }
  end)

  teardown(function()
    if nginx then nginx:stop() end
    if server then server:stop() end
  end)

  before_each(function()
    -- keep_tokens: the workers keep their token across tests
    server:reset { keep_tokens = true }
    org_ids = server:seed { organizations = 5, directory_users = 25 }.organization_ids
  end)

  describe("operations in the content phase", function()
    it("create, get, update, list and delete organizations", function()
      local created = get_json("/api/create_org?name=Acme&external_id=acme-1").result
      assert.equal("Acme", created.display_name)
      assert.equal("acme-1", created.external_id)
      local got = get_json("/api/get_org/" .. created.id)
      assert.equal("content", got.phase)
      assert.equal(created.id, got.result.id)
      assert.equal("Acme 2", get_json("/api/update_org/" .. created.id .. "?name=Acme%202")
        .result.display_name)
      local page = get_json("/api/list_orgs?page_size=2").result
      assert.equal(2, #page.organizations)
      assert.is_true(get_json("/api/delete_org/" .. created.id).result)
      assert.equal(404, get_json("/api/get_org/" .. created.id, 404).error.status)
    end)

    it("sk:parallel runs a batch in a worker thread", function()
      local t = get_json("/api/parallel/" .. org_ids[1])
      assert.equal(org_ids[1], t.first)
      assert.equal(404, t.second.status)
      assert.is_true(t.second.is_error)
      assert.equal(2, t.third)
      assert.is_true(t.exactly_one)
    end)

    it("sk:call by operationId", function()
      assert.equal(org_ids[2], get_json("/api/call_get_org/" .. org_ids[2]).result.id)
    end)

    it("memberships and roles", function()
      local user_id = server:seed { users = 1 }.user_ids[1]
      -- seeded users join the oldest organization: add this one to another
      local t = get_json("/api/membership/" .. org_ids[2] .. "/" .. user_id)
      assert.equal(user_id, t.added.id) -- the service answers with the user
      local membership
      for _, m in ipairs(t.added.memberships) do
        if m.organization_id == org_ids[2] then membership = m end
      end
      assert.equal("admin", membership.roles[1].name)
      assert.is_true(t.removed)
      local r = get_json("/api/roles/" .. org_ids[1] .. "?name=viewer")
      assert.equal("viewer", r.role.name)
      assert.equal("viewer", r.list.roles[1].name)
    end)

    it("sk:token returns the cached token and an integer lifetime", function()
      local t = get_json("/api/token")
      assert.equal("string", t.token_type)
      assert.is_true(t.left_integer)
      assert.is_true(t.left > 0)
    end)

    it("JSON null arrives as scalekit.null", function()
      server:fault { operation = "getOrganization", status = 200,
                     json = { organization = { id = org_ids[1], display_name = "N",
                                               external_id = cjson.null } } }
      local t = get_json("/api/null_field/" .. org_ids[1])
      assert.is_true(t.is_null)
      assert.equal("N", t.display_name)
    end)

    it("on_request / on_response hooks run for calls made in worker threads", function()
      local t = get_json("/api/hooks/" .. org_ids[1])
      assert.is_true(t.ok)
      -- hooks run in the request's VM, and name the published operationId
      assert.same({ "request OrganizationService_GetOrganization",
                    "response OrganizationService_GetOrganization 200" }, t.seen)
    end)
  end)

  describe("iterators", function()
    it("each walks every item across pages", function()
      local t = get_json("/api/each_org?page_size=2")
      assert.same(org_ids, t.ids)
      assert.equal(3, #server:requests("listOrganizations"))
    end)

    it("pages yields each page", function()
      assert.same({ 2, 2, 1 }, get_json("/api/pages_org?page_size=2").sizes)
    end)

    it("each_user walks a directory's users", function()
      local dirs = decode(select(2, server:http("GET", "/api/v1/organizations/" .. org_ids[1]
        .. "/directories", { headers = { authorization = "Bearer " .. server:token() } })))
      local dir = dirs.directories[1].id
      local t = get_json("/api/each_user/" .. org_ids[1] .. "/" .. dir .. "?page_size=10")
      assert.equal(25, t.count)
      assert.equal("user1@example.com", t.first)
      assert.equal(3, #server:requests("listDirectoryUsers"))
    end)

    it("a failed page raises the error object instead of ending the loop", function()
      server:faults {
        { operation = "listOrganizations", delay_ms = 0, times = 1 }, -- page 1 passes
        { operation = "listOrganizations", status = 500, times = 1 },
      }
      local t = get_json("/api/each_fail?page_size=2")
      assert.is_false(t.ok)
      assert.same({ org_ids[1], org_ids[2] }, t.ids)
      assert.is_true(t.error.is_error)
      assert.equal(500, t.error.status)
      assert.equal("api", t.error.kind)
    end)
  end)

  describe("errors", function()
    it("a 404 comes back as nil, err with every field", function()
      local status, body = get("/api/get_org/org_missing")
      assert.equal(404, status)
      local err = decode(body).error
      assert.equal("api", err.kind)
      assert.equal(404, err.status)
      assert.equal("NOT_FOUND", err.code)
      assert.equal("OrganizationService_GetOrganization", err.operation)
      assert.is_false(err.retryable)
      assert.equal(1, err.attempts)
      assert.matches("^req%-%d+$", err.request_id)
      assert.is_true(err.is_error)
      assert.matches("^scalekit: api error 404 NOT_FOUND: .*OrganizationService_GetOrganization", err.text)
      assert.not_matches(server.client_secret, err.text, 1, true)
    end)

    it("a result nested deeper than nginx copies between VMs arrives whole", function()
      -- lua-nginx-module copies tables only up to 100 levels deep between VMs;
      -- the body crosses as a string and is decoded in the request's VM
      local body = '{"organization": {"id": "x", "deep": ' .. ("["):rep(120) .. ("]"):rep(120) .. "}}"
      server:fault { operation = "getOrganization", status = 200, body = body,
                     content_type = "application/json" }
      local status, text = get("/api/get_org/" .. org_ids[1])
      assert.equal(200, status, text)
      assert.equal("x", decode(text).result.id)
    end)

    it("programming mistakes raise at the caller's line and send nothing", function()
      local t = get_json("/api/bad_arg")
      assert.is_false(t.ok)
      local m = t.messages
      assert.matches("handlers%.lua:%d+: organizations:get: argument #1 %(id%) must be a non%-empty string", m.get)
      assert.matches("handlers%.lua:%d+: call%(getOrganization%): missing required field 'id'", m.call)
      assert.matches("handlers%.lua:%d+: organizations:create: unknown field 'bogus'", m.create)
      assert.matches("handlers%.lua:%d+: organizations:each: field 'page_size'", m.each)
      assert.matches("handlers%.lua:%d+: organizations:get: call it as sk%.organizations:get", m.dot)
      assert.matches("handlers%.lua:%d+: call%(createOrganization%): field 'display_name' must be a string",
                     m.function_field)
      assert.matches("handlers%.lua:%d+: parallel: call #1: unknown operation 'nope'", m.parallel)
      assert.equal(0, #server:requests())
    end)

    it("a thread_pool missing from nginx.conf is a clear error", function()
      local t = get_json("/api/no_pool/" .. org_ids[1])
      assert.is_false(t.ok)
      assert.matches("thread_pool 'missing' not found: add `thread_pool missing", t.message)
    end)

    it("a closed client raises", function()
      local t = get_json("/api/closed")
      assert.is_false(t.ok)
      assert.matches("handlers%.lua:%d+: organizations:get: client is closed", t.get)
      assert.matches("handlers%.lua:%d+: call: client is closed", t.call)
    end)
  end)

  describe("other phases", function()
    it("access_by_lua checks the caller's organization", function()
      assert.equal(200, (get("/access/x", { ["X-Organization-Id"] = org_ids[3] })))
      assert.equal(403, (get("/access/x", { ["X-Organization-Id"] = "org_nope" })))
      assert.equal(401, (get("/access/x")))
    end)

    it("rewrite_by_lua", function()
      local status, body = get("/rewrite/" .. org_ids[1])
      assert.equal(200, status)
      assert.equal("Seeded Org " .. org_ids[1] .. " rewrite\n", body)
    end)

    it("timers", function()
      local t = get_json("/api/timer/" .. org_ids[1]).timer
      assert.equal("timer", t.phase)
      assert.equal("Seeded Org " .. org_ids[1], t.name)
    end)

    it("set_by_lua (cannot yield) uses the blocking C path", function()
      local status, body = get("/set/" .. org_ids[2])
      assert.equal(200, status)
      assert.equal("Seeded Org " .. org_ids[2] .. " set\n", body)
    end)
  end)

  describe("tokens and connections", function()
    it("one token for many requests, and keep-alive connections", function()
      get_json("/api/get_org/" .. org_ids[1])
      local before = server:stats()
      for i = 1, 12 do
        get_json("/api/get_org/" .. org_ids[(i % 5) + 1])
      end
      get_json("/api/each_org?page_size=2")
      local stats = server:stats()
      assert.equal(before.tokens_issued, stats.tokens_issued)
      -- Sequential calls get the same thread VM back, and its client's
      -- connection: no new one.
      assert.equal(before.connections, stats.connections)
    end)

    it("after a 401 the worker thread's fresh token is kept by the worker", function()
      server:revoke_tokens()
      for i = 1, 6 do
        get_json("/api/get_org/" .. org_ids[(i % 5) + 1])
      end
      assert.equal(200, (get("/set/" .. org_ids[1]))) -- the blocking path: same token
      assert.equal(1, server:stats().tokens_issued)
    end)

    it("concurrent requests refused with a 401 share one fresh token", function()
      get_json("/api/get_org/" .. org_ids[1])
      local before = server:stats().tokens_issued
      server:revoke_tokens()
      -- the token request is slow, so every request sees its 401 first
      server:fault { operation = "createToken", delay_ms = 300 }
      local paths = {}
      for i = 1, 6 do paths[i] = "/api/get_org/" .. org_ids[i % 5 + 1] end
      local results = nginx:concurrent(paths)
      for _, r in ipairs(results) do assert.equal(200, r.status, r.body) end
      assert.equal(1, server:stats().tokens_issued - before)
    end)

    it("concurrent requests needing a token share one token request", function()
      -- Tokens now live 2 s: refreshed 0.5 s early, and not handed to a
      -- thread with less than 1 s left, so the next one is due after 0.5 s.
      server:config { token_ttl = 2 }
      finally(function()
        -- leave the worker a long-lived token for the next tests
        server:config { token_ttl = 3600 }
        server:clear_faults()
        socket.sleep(0.6)
        get_json("/api/get_org/" .. org_ids[1])
      end)
      server:revoke_tokens()
      get_json("/api/get_org/" .. org_ids[1])
      socket.sleep(0.7)
      local before = server:stats().tokens_issued
      server:fault { operation = "createToken", delay_ms = 300 }
      local paths = {}
      for i = 1, 6 do paths[i] = "/api/get_org/" .. org_ids[i % 5 + 1] end
      local results, elapsed = nginx:concurrent(paths)
      for _, r in ipairs(results) do assert.equal(200, r.status, r.body) end
      assert.equal(1, server:stats().tokens_issued - before)
      assert.is_true(elapsed < 1.5, "took " .. elapsed)
    end)
  end)

  describe("the event loop", function()
    it("4 concurrent 1-second calls in one worker finish together", function()
      get_json("/api/get_org/" .. org_ids[1]) -- token in place
      server:fault { operation = "getOrganization", delay_ms = 1000, times = -1 }
      local paths = {}
      for i = 1, 4 do paths[i] = "/api/get_org/" .. org_ids[i] end
      local results, elapsed = nginx:concurrent(paths)
      print(("\n  worker threads: 4 concurrent 1-s calls took %.2f s"):format(elapsed))
      for i, r in ipairs(results) do
        assert.equal(200, r.status, r.body)
        assert.equal(org_ids[i], decode(r.body).result.id)
      end
      assert.is_true(elapsed >= 1 and elapsed < 2, "took " .. elapsed)
    end)

    it("so do 4 concurrent sk:parallel batches of 3 slow calls", function()
      get_json("/api/get_org/" .. org_ids[1])
      server:fault { operation = "getOrganization", delay_ms = 1000, times = -1 }
      local paths = {}
      for i = 1, 4 do paths[i] = "/api/parallel_get/" .. org_ids[i] .. "/3" end
      local results, elapsed = nginx:concurrent(paths)
      for _, r in ipairs(results) do
        assert.equal(200, r.status, r.body)
        assert.equal(3, decode(r.body).ok)
      end
      assert.is_true(elapsed >= 1 and elapsed < 2, "took " .. elapsed)
    end)

    it("while the blocking C path serializes them (the contrast)", function()
      get_json("/api/blocking_get_org/" .. org_ids[1])
      server:fault { operation = "getOrganization", delay_ms = 1000, times = -1 }
      local paths = {}
      for i = 1, 4 do paths[i] = "/api/blocking_get_org/" .. org_ids[i] end
      local results, elapsed = nginx:concurrent(paths)
      print(("\n  blocking path: 4 concurrent 1-s calls took %.2f s"):format(elapsed))
      for _, r in ipairs(results) do assert.equal(200, r.status, r.body) end
      assert.is_true(elapsed >= 4, "took " .. elapsed)
    end)
  end)

  it("leaves no Lua errors in the error log", function()
    local log = nginx:error_log()
    assert.not_matches("%[error%]", log)
    assert.not_matches("%[alert%]", log)
  end)
end)

describe("scalekit inside nginx, two workers sharing a lua_shared_dict", function()
  local server, nginx

  setup(function()
    server = fake.start {}
    nginx = driver.start { fake = server, workers = 2, reuseport = true,
                           shared_dict = "scalekit_tokens" }
  end)

  teardown(function()
    if nginx then nginx:stop() end
    if server then server:stop() end
  end)

  it("fetch one token for both workers", function()
    local org = server:seed { organizations = 1 }.organization_ids[1]
    local workers = {}
    for _ = 1, 40 do
      local status, body = nginx:get("/api/worker/" .. org)
      assert.equal(200, status, body)
      local t = decode(body)
      assert.is_true(t.ok)
      workers[t.worker] = true
    end
    assert.is_true(workers[0] and workers[1], "both workers answered")
    assert.equal(1, server:stats().tokens_issued)
  end)
end)

describe("scalekit inside nginx, more calls than thread VMs", function()
  local server, nginx

  setup(function()
    server = fake.start {}
    nginx = driver.start { fake = server, vm_pool = 2 }
  end)

  teardown(function()
    if nginx then nginx:stop() end
    if server then server:stop() end
  end)

  it("calls wait for a free VM instead of failing", function()
    local org = server:seed { organizations = 1 }.organization_ids[1]
    assert.equal(200, (nginx:get("/api/get_org/" .. org))) -- token in place
    server:fault { operation = "getOrganization", delay_ms = 1000, times = -1 }
    local paths = {}
    for i = 1, 4 do paths[i] = "/api/get_org/" .. org end
    local results, elapsed = nginx:concurrent(paths)
    for _, r in ipairs(results) do assert.equal(200, r.status, r.body) end
    assert.is_true(elapsed >= 2 and elapsed < 3, "took " .. elapsed)
  end)
end)

describe("examples/openresty", function()
  local server, nginx

  setup(function()
    server = fake.start {}
    nginx = driver.start_example { fake = server }
  end)

  teardown(function()
    if nginx then nginx:stop() end
    if server then server:stop() end
  end)

  it("lets known organizations through, and only those", function()
    local org = server:seed { organizations = 1 }.organization_ids[1]
    local status, body = nginx:get("/hello", { ["X-Organization-Id"] = org })
    assert.equal(200, status, nginx:error_log())
    assert.equal("hello, Seeded Org " .. org .. "\n", body)
    assert.equal(403, (nginx:get("/hello", { ["X-Organization-Id"] = "org_unknown" })))
    assert.equal(401, (nginx:get("/hello")))
    -- Found organizations are cached per worker (worker_processes auto):
    -- at most one more call per other worker.
    for _ = 1, 6 do
      assert.equal(200, (nginx:get("/hello", { ["X-Organization-Id"] = org })))
    end
    local p = io.popen("nproc")
    local cpus = tonumber(p:read("*l"))
    p:close()
    assert.is_true(#server:requests("getOrganization") <= 2 + (cpus - 1))
    server:fault { operation = "getOrganization", status = 500, times = -1 }
    assert.equal(503, (nginx:get("/hello", { ["X-Organization-Id"] = "org_other" })))
  end)
end)

describe("scalekit.new's nginx setting outside nginx", function()
  local scalekit = require "scalekit"
  local env = { environment_url = "http://127.0.0.1:1", client_id = "id", client_secret = "s" }
  local function with(nginx)
    local o = { nginx = nginx }
    for k, v in pairs(env) do o[k] = v end
    return o
  end

  it("is checked", function()
    assert.error_matches(function() scalekit.new(with { bogus = 1 }) end,
      "scalekit.new: unknown nginx setting 'bogus'", 1, true)
    assert.error_matches(function() scalekit.new(with { thread_pool = 5 }) end,
      "scalekit.new: nginx setting 'thread_pool' must be a string (got number)", 1, true)
    assert.error_matches(function() scalekit.new(with("x")) end,
      "setting 'nginx' must be a table", 1, true)
  end)

  it("changes nothing outside nginx", function()
    local sk = scalekit.new(with { thread_pool = "p", shared_dict = "d" })
    assert.equal("userdata", type(sk.organizations))
    sk:close()
  end)
end)
