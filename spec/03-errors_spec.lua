-- Programming mistakes raise and send nothing; runtime failures return
-- nil, err with a complete error object; the retry policy, timeouts and
-- hostile responses. Against the real fake server with injected faults.
local fake = require "spec.helpers.fake"
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"
local socket = require "socket"

local logged, operations = util.logged, util.operations

-- A port on 127.0.0.1 with nothing listening.
local function closed_port()
  local s = assert(socket.bind("127.0.0.1", 0))
  local _, port = s:getsockname()
  s:close()
  return tonumber(port)
end

local function timed(fn)
  local t0 = socket.gettime()
  local a, b = fn()
  return socket.gettime() - t0, a, b
end

describe("errors", function()
  local server, org_id
  fixture.fake({}, function(s) server = s end)

  before_each(function()
    org_id = server:seed { organizations = 1 }.organization_ids[1]
  end)

  local function new_client(extra)
    return util.client(server, extra)
  end

  -- err may be retried, yet came after one attempt: `op` reached the server once.
  local function tried_once(err, op)
    assert.is_true(err.retryable)
    assert.equal(1, err.attempts)
    assert.equal(1, #logged(server, op))
  end

  -- res, err must be nil and a retryable error of `kind` that got no HTTP
  -- status, after `attempts` tries.
  local function no_response(res, err, kind, attempts)
    assert.is_nil(res)
    assert.equal(kind, err.kind)
    assert.is_nil(err.status)
    assert.is_true(err.retryable)
    assert.equal(attempts, err.attempts)
  end

  describe("programming mistakes", function()
    local sk
    before_each(function()
      sk = new_client()
    end)
    after_each(function()
      -- nothing at all reached the server, not even a token request
      assert.same({}, server:requests())
      sk:close()
    end)

    local cases = {
      { "missing display_name", function(s) return s.organizations:create {} end,
        "organizations:create: missing required field 'display_name'" },
      { "no fields table at all", function(s) return s.organizations:create() end,
        "organizations:create: missing required field 'display_name'" },
      { "missing id", function(s) return s.organizations:get() end,
        "organizations:get: argument #1 %(id%) must be a non%-empty string" },
      { "numeric id", function(s) return s.organizations:get(42) end,
        "organizations:get: argument #1 %(id%) must be a non%-empty string" },
      { "empty id", function(s) return s.organizations:get("") end,
        "organizations:get: argument #1 %(id%) must be a non%-empty string" },
      { "table id", function(s) return s.organizations:delete({}) end,
        "organizations:delete: argument #1 %(id%) must be a non%-empty string" },
      { "second path argument missing", function(s) return s.connections:get("org_1") end,
        "connections:get: argument #2 %(id%) must be a non%-empty string" },
      { "id with LF", function(s) return s.organizations:get("org\nX-Evil: 1") end,
        "organizations:get: argument #1 %(id%) must not contain CR, LF or NUL" },
      { "id with CR", function(s) return s.organizations:get("org\r") end,
        "organizations:get: argument #1 %(id%) must not contain CR, LF or NUL" },
      { "id with NUL", function(s) return s.organizations:get("org\0x") end,
        "organizations:get: argument #1 %(id%) must not contain CR, LF or NUL" },
      { "user id with LF", function(s) return s.memberships:remove("org_1", "usr\n") end,
        "memberships:remove: argument #2 %(id%) must not contain CR, LF or NUL" },
      { "page_size as a string", function(s) return s.organizations:list { page_size = "10" } end,
        "organizations:list: field 'page_size' must be an integer %(got string%)" },
      { "fractional page_size", function(s) return s.organizations:list { page_size = 1.5 } end,
        "organizations:list: field 'page_size' must be an integer" },
      { "roles as a string", function(s) return s.memberships:add("org_1", "usr_1", { roles = "admin" }) end,
        "memberships:add: field 'roles' must be a table" },
      { "metadata as a string", function(s)
          return s.organizations:create { display_name = "x", metadata = "x" } end,
        "organizations:create: field 'metadata' must be a table" },
      { "display_name as a number", function(s) return s.organizations:create { display_name = 5 } end,
        "organizations:create: field 'display_name' must be a string %(got number%)" },
      { "unknown field", function(s) return s.organizations:create { display_name = "x", bogus = 1 } end,
        "organizations:create: unknown field 'bogus'" },
      { "non-string field name", function(s) return s.organizations:create { display_name = "x", "y" } end,
        "organizations:create: field names must be strings" },
      { "fields that are not a table", function(s) return s.organizations:get("org_1", "extra") end,
        "organizations:get: argument #2 %(fields%) must be a table" },
      { "a path parameter among the fields", function(s)
          return s.organizations:update("org_1", { id = "org_2" }) end,
        "organizations:update: 'id' is passed as a positional argument" },
      { "'.' instead of ':' on a resource", function(s) return s.organizations.get("org_1") end,
        "organizations:get: call it as sk%.organizations:get%(%.%.%.%)" },
      { "a method of another resource", function(s) return s.organizations.get(s.roles, "org_1") end,
        "organizations:get: call it as sk%.organizations:get" },
      { "'.' instead of ':' on the client (call)", function(s)
          return s.call("listOrganizations", {}) end,
        "call: expected a scalekit client %(use ':' to call methods%)" },
      { "'.' instead of ':' on the client (token)", function(s) return s.token() end,
        "token: expected a scalekit client" },
      { "sk:call with an unknown operationId", function(s) return s:call("getOrganisation", { id = "x" }) end,
        "call: unknown operation 'getOrganisation'" },
      { "sk:call missing a path parameter", function(s) return s:call("getOrganization", {}) end,
        "call%(getOrganization%): missing required field 'id'" },
      { "sk:call missing every parameter", function(s) return s:call("getConnection") end,
        "call%(getConnection%): missing required field" },
      { "sk:call with an empty path parameter", function(s) return s:call("getOrganization", { id = "" }) end,
        "call%(getOrganization%): 'id' must be a non%-empty string" },
      { "sk:call with LF in a path parameter", function(s)
          return s:call("getOrganization", { id = "a\nb" }) end,
        "call%(getOrganization%): 'id' must not contain CR, LF or NUL" },
      { "sk:call with an unknown field", function(s)
          return s:call("listOrganizations", { bogus = 1 }) end,
        "call%(listOrganizations%): unknown field 'bogus'" },
      { "sk:call with params that are not a table", function(s)
          return s:call("listOrganizations", "page_size=1") end,
        "call: argument #2 %(params%) must be a table" },
      { "sk:call with a wrong type", function(s)
          return s:call("createRole", { org_id = "o", name = 5 }) end,
        "call%(createRole%): field 'name' must be a string" },
    }
    for _, case in ipairs(cases) do
      it("raises for " .. case[1] .. " and sends nothing", function()
        assert.error_matches(function() case[2](sk) end, case[3])
      end)
    end

    it("accepts an empty features list (and sends it)", function()
      local org, err = sk.organizations:update_settings(org_id, { features = {} })
      assert.is_nil(err)
      assert.equal(org_id, org.id)
      assert.equal(1, #logged(server, "updateOrganizationSettings"))
      server:clear_requests() -- for after_each
    end)

    it("names the method of an iterator whose fields are wrong", function()
      assert.error_matches(function() return sk.organizations:each { page_size = "10" } end,
        "organizations:each: field 'page_size' must be an integer")
      assert.error_matches(function() return sk.organizations:pages { bogus = true } end,
        "organizations:pages: unknown field 'bogus'")
    end)

    it("points at the caller's line", function()
      local line
      local ok, msg = pcall(function()
        line = debug.getinfo(1, "l").currentline + 1
        sk.organizations:get("")
      end)
      assert.is_false(ok)
      assert.matches("03%-errors_spec%.lua:" .. line .. ": organizations:get: ", msg)
    end)
  end)

  describe("runtime errors", function()
    it("returns nil, err for a 404 with every field filled", function()
      local sk = new_client()
      local org, err = sk.organizations:get("org_missing")
      -- the next response id the fake hands out tells which id the SDK saw
      local _, _, headers = server:http("GET", "/_fake/stats")
      local next_id = tonumber(headers["x-request-id"]:match("^req%-(%d+)$"))
      assert.is_nil(org)
      assert.is_true(scalekit.is_error(err))
      assert.equal("api", err.kind)
      assert.equal(404, err.status)
      assert.equal("NOT_FOUND", err.code)
      assert.equal('organization "org_missing" not found', err.message)
      assert.same({}, err.details)
      assert.equal("req-" .. (next_id - 1), err.request_id)
      assert.is_false(err.retryable)
      assert.equal(1, err.attempts)
      -- errors name the published operationId
      local op = scalekit.operations.getOrganization.id
      assert.equal("OrganizationService_GetOrganization", op)
      assert.equal(op, err.operation)
      local line = tostring(err)
      assert.falsy(line:find("\n", 1, true))
      assert.equal('scalekit: api error 404 NOT_FOUND: organization "org_missing" not found'
        .. " (" .. op .. ", request_id " .. err.request_id .. ", 1 attempt)", line)
    end)

    it("keeps the server's details", function()
      local sk = new_client()
      local org, err = sk.organizations:create { display_name = "" }
      assert.is_nil(org)
      assert.equal(400, err.status)
      assert.equal("INVALID_ARGUMENT", err.code)
      assert.equal("display_name", err.details[1].field)
      assert.equal("must not be empty", err.details[1].description)
      assert.is_false(err.retryable)
    end)

    it("keeps tostring(err) on one line whatever the server says", function()
      server:fault { operation = "getOrganization", status = 409, json = {
        code = "ALREADY\nEXISTS", message = "first line\nsecond line\r\nthird", details = {} } }
      local sk = new_client()
      local _, err = sk.organizations:get(org_id)
      local line = tostring(err)
      assert.falsy(line:find("[\r\n]"), line)
      assert.truthy(line:find("first line", 1, true))
      assert.truthy(line:find("third", 1, true))
      assert.truthy(line:find(scalekit.operations.getOrganization.id, 1, true))
    end)

    it("scalekit.is_error tells error objects apart", function()
      local sk = new_client()
      local _, err = sk.organizations:get("nope")
      assert.is_true(scalekit.is_error(err))
      assert.is_false(scalekit.is_error(nil))
      assert.is_false(scalekit.is_error("scalekit: api error"))
      assert.is_false(scalekit.is_error({ kind = "api", status = 404 }))
      assert.is_false(scalekit.is_error(setmetatable({}, {})))
      assert.is_false(scalekit.is_error(sk))
    end)

    it("does not follow redirects", function()
      local sk = new_client()
      server:fault { operation = "getOrganization", status = 302,
                     headers = { location = server.url .. "/api/v1/organizations/" .. org_id } }
      local org, err = sk.organizations:get("org_elsewhere")
      assert.is_nil(org)
      assert.equal("api", err.kind)
      assert.equal(302, err.status)
      assert.same({ "createToken", "getOrganization" }, operations(server:requests()))
    end)
  end)

  describe("retries", function()
    it("retries a GET on 503 with Retry-After 0 and succeeds", function()
      server:fault { operation = "getOrganization", status = 503, headers = { ["retry-after"] = "0" } }
      local sk = new_client()
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(err)
      assert.equal(org_id, org.id)
      assert.equal(2, #logged(server, "getOrganization"))
    end)

    it("gives up on a GET after max_retries + 1 attempts", function()
      server:fault { operation = "getOrganization", status = 503, times = -1,
                     headers = { ["retry-after"] = "0" } }
      local sk = new_client { max_retries = 2 }
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(org)
      assert.equal("api", err.kind)
      assert.equal(503, err.status)
      assert.equal("UNAVAILABLE", err.code)
      assert.is_true(err.retryable)
      assert.equal(3, err.attempts)
      assert.equal(3, #logged(server, "getOrganization"))
      assert.truthy(tostring(err):find("3 attempts", 1, true))
    end)

    for _, case in ipairs {
      { 502, "PUT", "portal_link", "createPortalLink" },
      { 504, "DELETE", "delete", "deleteOrganization" },
      { 502, "GET", "list", "listOrganizations" },
    } do
      it("retries " .. case[2] .. " on " .. case[1], function()
        server:fault { operation = case[4], status = case[1] }
        local sk = new_client()
        local res, err
        if case[3] == "list" then res, err = sk.organizations:list()
        else res, err = sk.organizations[case[3]](sk.organizations, org_id) end
        assert.is_nil(err)
        assert.truthy(res)
        assert.equal(2, #logged(server, case[4]))
      end)
    end

    it("does not retry a GET on 500", function()
      server:fault { operation = "getOrganization", status = 500 }
      local sk = new_client()
      local _, err = sk.organizations:get(org_id)
      assert.equal(500, err.status)
      tried_once(err, "getOrganization")
    end)

    it("does not retry a POST create on 503, but says it may be retried", function()
      server:fault { operation = "createOrganization", status = 503, headers = { ["retry-after"] = "0" } }
      local sk = new_client()
      local org, err = sk.organizations:create { display_name = "Acme" }
      assert.is_nil(org)
      assert.equal("api", err.kind)
      assert.equal(503, err.status)
      tried_once(err, "createOrganization")
    end)

    it("does not retry a PATCH on 502", function()
      server:fault { operation = "updateOrganization", status = 502 }
      local sk = new_client()
      local _, err = sk.organizations:update(org_id, { display_name = "New" })
      assert.equal(502, err.status)
      tried_once(err, "updateOrganization")
    end)

    it("retries a POST on 429", function()
      server:fault { operation = "createOrganization", status = 429, headers = { ["retry-after"] = "0" } }
      local sk = new_client()
      local org, err = sk.organizations:create { display_name = "Acme" }
      assert.is_nil(err)
      assert.equal("Acme", org.display_name)
      assert.equal(2, #logged(server, "createOrganization"))
      assert.equal(2, sk.organizations:list().total_size) -- the seeded one and Acme, once
    end)

    it("reports 429 as retryable after the last attempt", function()
      server:fault { operation = "createOrganization", status = 429, times = -1 }
      local sk = new_client { max_retries = 1 }
      local _, err = sk.organizations:create { display_name = "Acme" }
      assert.equal(429, err.status)
      assert.equal("RESOURCE_EXHAUSTED", err.code)
      assert.is_true(err.retryable)
      assert.equal(2, err.attempts)
    end)

    it("does not retry with max_retries = 0", function()
      server:fault { operation = "getOrganization", status = 503, times = -1 }
      local sk = new_client { max_retries = 0 }
      local _, err = sk.organizations:get(org_id)
      assert.equal(503, err.status)
      tried_once(err, "getOrganization")
    end)

    it("honours Retry-After in seconds", function()
      server:fault { operation = "getOrganization", status = 503, headers = { ["retry-after"] = "1" } }
      local sk = new_client()
      local elapsed, org = timed(function() return sk.organizations:get(org_id) end)
      assert.equal(org_id, org.id)
      assert.is_true(elapsed >= 0.9 and elapsed < 2, "elapsed " .. elapsed)
    end)

    -- One 503 with this Retry-After, then the GET succeeds in under a second.
    local function retried_quickly(retry_after, extra)
      server:fault { operation = "getOrganization", status = 503, headers = { ["retry-after"] = retry_after } }
      local sk = new_client(extra)
      local elapsed, org, err = timed(function() return sk.organizations:get(org_id) end)
      assert.is_nil(err)
      assert.equal(org_id, org.id)
      assert.is_true(elapsed < 1, "elapsed " .. elapsed)
      -- the 503 was really answered, and the GET really sent again
      local log = logged(server, "getOrganization")
      assert.equal(2, #log)
      assert.is_true(log[1].fault)
      assert.is_false(log[2].fault)
    end

    for _, value in ipairs { "soon", "-1", "1e9999", "0x10", "", "Thu, 99 Foo 2015 07:28:00 GMT" } do
      it("copes with a garbage Retry-After " .. ("%q"):format(value), function()
        retried_quickly(value)
      end)
    end

    for _, value in ipairs { "86400", "99999999999999999999", "Fri, 31 Dec 2100 23:59:59 GMT" } do
      it("caps a huge Retry-After " .. ("%q"):format(value) .. " by max_retry_wait", function()
        retried_quickly(value, { max_retry_wait = 0.1 })
      end)
    end

    it("treats a Retry-After date in the past as no wait", function()
      retried_quickly("Wed, 21 Oct 2015 07:28:00 GMT", { retry_base_delay = 5, retry_max_delay = 5 })
    end)
  end)

  describe("transport failures", function()
    it("reports a refused connection after max_retries + 1 attempts", function()
      local sk = scalekit.new(util.merge({ environment_url = "http://127.0.0.1:" .. closed_port(),
                                           client_id = "id", client_secret = "secret",
                                           max_retries = 2 }, util.FAST))
      local elapsed, org, err = timed(function() return sk.organizations:get("org_1") end)
      assert.is_true(scalekit.is_error(err))
      no_response(org, err, "transport", 3)
      assert.is_string(err.message)
      assert.is_true(elapsed < 2, "elapsed " .. elapsed)
    end)

    it("retries a POST whose connection was refused (nothing reached the server)", function()
      local other = fake.start {}
      local ok, e = pcall(function()
        local sk = util.client(other, { max_retries = 2 })
        assert.truthy(sk:token())
        other:stop()
        local org, err = sk.organizations:create { display_name = "Acme" }
        no_response(org, err, "transport", 3)
      end)
      other:stop()
      assert(ok, e)
    end)

    it("times out a slow response with kind 'timeout'", function()
      server:fault { operation = "getOrganization", delay_ms = 3000 }
      local sk = new_client { timeout = 1, max_retries = 0 }
      local elapsed, org, err = timed(function() return sk.organizations:get(org_id) end)
      no_response(org, err, "timeout", 1)
      assert.is_true(elapsed >= 0.9 and elapsed < 2, "elapsed " .. elapsed)
    end)

    it("retries a GET after a timeout", function()
      server:fault { operation = "getOrganization", delay_ms = 3000 }
      local sk = new_client { timeout = 1, max_retries = 1 }
      local elapsed, org, err = timed(function() return sk.organizations:get(org_id) end)
      assert.is_nil(err)
      assert.equal(org_id, org.id)
      assert.equal(2, #logged(server, "getOrganization"))
      assert.is_true(elapsed < 2.5, "elapsed " .. elapsed)
    end)

    it("does not retry a POST after a timeout", function()
      server:fault { operation = "createOrganization", delay_ms = 3000 }
      local sk = new_client { timeout = 1, max_retries = 3 }
      local elapsed, org, err = timed(function() return sk.organizations:create { display_name = "Slow" } end)
      assert.is_nil(org)
      assert.equal("timeout", err.kind)
      tried_once(err, "createOrganization")
      assert.is_true(elapsed < 2, "elapsed " .. elapsed)
    end)

    it("detects a stalled response", function()
      server:fault { operation = "listOrganizations", stall_ms = 4000 }
      local sk = new_client { timeout = 20, stall_timeout = 1, max_retries = 0 }
      local elapsed, page, err = timed(function() return sk.organizations:list() end)
      assert.is_nil(page)
      assert.equal("timeout", err.kind)
      assert.is_true(elapsed < 3, "elapsed " .. elapsed)
    end)

    it("never returns a partial result from a truncated body", function()
      server:fault { operation = "getOrganization", truncate = 10, times = -1 }
      local sk = new_client { max_retries = 1 }
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(org)
      assert.is_true(scalekit.is_error(err))
      assert.equal("transport", err.kind)
      assert.is_true(err.retryable)
      assert.equal(2, err.attempts)
      assert.equal(2, #logged(server, "getOrganization"))
    end)

    it("retries a GET after a truncated body and returns the whole result", function()
      server:fault { operation = "getOrganization", truncate = 10 }
      local sk = new_client()
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(err)
      assert.equal(org_id, org.id)
      assert.equal("Seeded Org " .. org_id, org.display_name)
    end)

    it("does not retry a POST after a truncated body", function()
      server:fault { operation = "createOrganization", truncate = 10 }
      local sk = new_client()
      local org, err = sk.organizations:create { display_name = "Acme" }
      assert.is_nil(org)
      assert.equal("transport", err.kind)
      tried_once(err, "createOrganization")
    end)

    it("retries a GET whose connection was dropped", function()
      server:fault { operation = "getOrganization", drop = true }
      local sk = new_client()
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(err)
      assert.equal(org_id, org.id)
    end)

    it("does not resend a POST whose connection was dropped", function()
      local sk = new_client { max_retries = 3 }
      assert.truthy(sk:token()) -- the POST below goes over a kept-alive connection
      server:fault { operation = "createOrganization", drop = true }
      local org, err = sk.organizations:create { display_name = "Acme" }
      assert.is_nil(org)
      assert.is_true(scalekit.is_error(err))
      assert.equal("transport", err.kind)
      tried_once(err, "createOrganization")
    end)

    it("does not resend a POST dropped on a fresh connection", function()
      server:fault { operation = "createToken", drop = true }
      local sk = new_client { max_retries = 0 }
      local token, err = sk:token()
      assert.is_nil(token)
      assert.equal("transport", err.kind)
      assert.equal(1, #logged(server, "createToken"))
    end)
  end)

  describe("hostile responses", function()
    it("turns an HTML 502 page into a readable api error", function()
      server:fault { operation = "getOrganization", status = 502, times = -1, content_type = "text/html",
                     body = "<html><head><title>502 Bad Gateway</title></head>\n<body><h1>502 Bad Gateway</h1></body></html>" }
      local sk = new_client { max_retries = 1 }
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(org)
      assert.equal("api", err.kind)
      assert.equal(502, err.status)
      assert.is_true(err.retryable)
      assert.equal(2, err.attempts)
      assert.is_string(err.message)
      assert.truthy(err.message:find("502", 1, true), err.message)
      assert.falsy(err.message:find("[\r\n]"), err.message)
      assert.falsy(tostring(err):find("[\r\n]"))
    end)

    it("turns a plain-text error into an api error", function()
      server:fault { operation = "getOrganization", status = 500, content_type = "text/plain",
                     body = "Internal Server Error" }
      local sk = new_client()
      local _, err = sk.organizations:get(org_id)
      assert.equal("api", err.kind)
      assert.equal(500, err.status)
      assert.is_string(err.message)
    end)

    it("reports a 200 with a non-JSON body as a decode error", function()
      server:fault { operation = "getOrganization", status = 200, content_type = "text/plain",
                     body = "OK, all good" }
      local sk = new_client()
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(org)
      assert.is_true(scalekit.is_error(err))
      assert.equal("decode", err.kind)
      assert.equal(200, err.status)
      assert.equal(1, err.attempts)
      assert.equal(scalekit.operations.getOrganization.id, err.operation)
      assert.matches("^req%-%d+$", err.request_id)
      assert.is_string(err.message)
    end)

    it("reports JSON truncated inside a 200 (short content-length) as a decode error", function()
      server:fault { operation = "getOrganization", status = 200, body = '{"organization": {"id": "org_1", "disp' }
      local sk = new_client()
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(org)
      assert.equal("decode", err.kind)
    end)

    it("reports JSON nested deeper than max_depth as a decode error", function()
      local deep = string.rep("[", 40) .. string.rep("]", 40)
      server:fault { operation = "getOrganization", status = 200, body = '{"organization": ' .. deep .. "}" }
      local sk = new_client { max_depth = 16 }
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(org)
      assert.equal("decode", err.kind)
    end)

    it("rejects a body larger than max_body_size cleanly", function()
      server:seed { organizations = 5 }
      local sk = new_client { max_body_size = 200 }
      local page, err = sk.organizations:list()
      assert.is_nil(page)
      assert.is_true(scalekit.is_error(err))
      assert.truthy(err.message:find("larger than 200", 1, true), err.message)
      assert.equal(1, #logged(server, "listOrganizations"))
      -- the client still works for small answers
      local _, err2 = sk.organizations:get("missing")
      assert.equal(404, err2.status)
    end)
  end)
end)
