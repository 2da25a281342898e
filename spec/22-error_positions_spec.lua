-- Errors that say where and what (issue 12, part 4): configuration and
-- argument errors raise at the caller's line and name the type received;
-- missing settings are reported in a fixed order whatever the table's
-- iteration order; an error object raised by an iterator carries the
-- position of the loop (`err.where`, and tostring starts with it); an HTML
-- or 404 answer from the token endpoint suggests checking environment_url.
-- Against the real fake server; runs that need the SCALEKIT_* variables
-- unset are child interpreters.
local fixture = require "spec.helpers.fixture"
local child = require "spec.helpers.child"
local position = require "spec.helpers.position"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"

local REQUIRED = {
  { "environment_url", "SCALEKIT_ENVIRONMENT_URL" },
  { "client_id", "SCALEKIT_CLIENT_ID" },
  { "client_secret", "SCALEKIT_CLIENT_SECRET" },
}
local VARIABLES = { "SCALEKIT_ENVIRONMENT_URL", "SCALEKIT_CLIENT_ID", "SCALEKIT_CLIENT_SECRET" }

local here, raised = position.here, position.raised

local function escape(s) return (s:gsub("%p", "%%%0")) end

describe("configuration errors", function()
  local VALID = { environment_url = "http://127.0.0.1:9", client_id = "skc_1", client_secret = "s" }
  local function with(settings) return util.merge(VALID, settings) end

  -- scalekit.new(settings) raises `message` at the caller's line.
  local function assert_config_error(settings, message)
    local where, err = here(), raised(function() scalekit.new(settings) end)
    assert.equal(where .. ": scalekit.new: " .. message, err)
  end

  it("name an unknown setting at the caller's line", function()
    assert_config_error(with { time_out = 5 }, "unknown setting 'time_out'")
    assert_config_error(with { [1] = true }, "unknown setting '1'")
  end)

  it("name the type expected and the type received", function()
    local cases = {
      { { timeout = "5" }, "setting 'timeout' must be a number (got string)" },
      { { max_retries = true }, "setting 'max_retries' must be a number (got boolean)" },
      { { client_id = 42 }, "setting 'client_id' must be a string (got number)" },
      { { environment_url = {} }, "setting 'environment_url' must be a string (got table)" },
      { { insecure = "no" }, "setting 'insecure' must be a boolean (got string)" },
      { { on_request = true }, "setting 'on_request' must be a function (got boolean)" },
      { { auth = "yes" }, "setting 'auth' must be a table (got string)" },
    }
    for _, case in ipairs(cases) do assert_config_error(with(case[1]), case[2]) end
    local where, err = here(), raised(function() scalekit.new("https://x.scalekit.com") end)
    assert.equal(where .. ": scalekit.new: argument #1 (options) must be a table (got string)", err)
  end)

  it("say what is wrong with the URL", function()
    assert_config_error(with { environment_url = "acme.scalekit.com" },
      'environment_url "acme.scalekit.com" is not an absolute URL')
    assert_config_error(with { environment_url = "https://" }, 'environment_url "https://" has no host')
    assert_config_error(with { environment_url = "ftp://acme.scalekit.com" },
      "environment_url must use https:// (got ftp://)")
    assert_config_error(with { environment_url = "http://acme.scalekit.com" },
      "environment_url must use https:// (http:// is allowed for loopback hosts or with allow_http = true)")
    assert_config_error(with { environment_url = "https://acme.scalekit.com/?x=1" },
      "environment_url must not have a query or fragment")
  end)

  it("refuse NaN, infinities and negative numbers", function()
    for _, key in ipairs { "timeout", "connect_timeout", "stall_timeout", "max_retries",
                           "retry_base_delay", "retry_max_delay", "max_retry_wait",
                           "max_body_size", "max_depth" } do
      for _, value in ipairs { 0 / 0, math.huge, -math.huge, -1 } do
        local where, err = here(), raised(function() scalekit.new(with { [key] = value }) end)
        assert.matches("^" .. escape(where) .. ": scalekit%.new: setting '" .. key
          .. "' must be a finite number >= 0 %(got [^)]+%)$", err)
      end
    end
    assert.is_not_nil(scalekit.new(with { timeout = 0.5, max_retries = 0 }))
  end)

  -- Known bugs (see the H9 report): today the auth settings raise at
  -- lua/scalekit/init.lua:129, and the nginx settings outside nginx raise
  -- two levels up (nowhere under pcall).
  -- scalekit.new(settings) raises at the caller's line, ending in `message`.
  local function assert_raised_here_ending(settings, message)
    local where, err = here(), raised(function() scalekit.new(settings) end)
    assert.equal(where .. ": ", err:sub(1, #where + 2))
    assert.equal(message, err:sub(-#message))
  end

  it("name a wrong auth setting at the caller's line", function()
    assert_raised_here_ending(with { auth = { leeway = "60" } }, "setting 'leeway' must be a number (got string)")
    assert_raised_here_ending(with { auth = { leway = 60 } }, "unknown setting 'leway'")
  end)

  it("name a wrong nginx setting at the caller's line outside nginx", function()
    assert_raised_here_ending(with { nginx = { bogus = 1 } }, "unknown nginx setting 'bogus'")
  end)

  it("report a missing setting at the caller's line, naming its variable", function()
    local run = child.run([[
      local scalekit = require "scalekit"
      local ok, err = pcall(function()
        emit("line", debug.getinfo(1, "l").currentline + 1)
        scalekit.new { client_id = "skc_1", client_secret = "s" }
      end)
      emit("error", err)
      emit("source", debug.getinfo(1, "S").short_src)
    ]], { unset = VARIABLES })
    child.ok(run)
    assert.equal(run.values.source .. ":" .. run.values.line
      .. ": scalekit.new: missing environment_url (pass it, or set SCALEKIT_ENVIRONMENT_URL)",
      run.values.error)
  end)

  -- Missing settings, whatever the order pairs() visits the table in: the
  -- child builds each subset of the three required settings many times,
  -- with the keys inserted in shuffled orders among other settings, and
  -- reports for each subset every distinct message it saw, and how many
  -- distinct pairs() orders of the required keys it met.
  local MISSING_ORDER = [[
    local scalekit = require "scalekit"
    local names = { "environment_url", "client_id", "client_secret" }
    local values = { environment_url = "http://127.0.0.1:9", client_id = "skc_1", client_secret = "s" }
    local others = { timeout = 5, connect_timeout = 2, stall_timeout = 3, max_retries = 1,
                     max_depth = 64, user_agent = "t", insecure = false, allow_http = false }
    local other_names = {}
    for k in pairs(others) do other_names[#other_names + 1] = k end
    table.sort(other_names)
    math.randomseed(ENV.seed)
    local orders = {}
    for mask = 0, 7 do
      local messages, distinct = {}, {}
      for _ = 1, 300 do
        local keys = {}
        for i, name in ipairs(names) do
          if math.floor(mask / 2 ^ (i - 1)) % 2 == 1 then keys[#keys + 1] = name end
        end
        for _ = 1, math.random(0, #other_names) do
          keys[#keys + 1] = other_names[math.random(#other_names)]
        end
        for i = #keys, 2, -1 do
          local j = math.random(i)
          keys[i], keys[j] = keys[j], keys[i]
        end
        local t = {}
        for _, k in ipairs(keys) do t[k] = values[k] or others[k] end
        local order = {}
        for k in pairs(t) do if values[k] then order[#order + 1] = k end end
        orders[table.concat(order, ",")] = true
        local ok, err = pcall(scalekit.new, t)
        local message = ok and "ok" or tostring(err)
        if not distinct[message] then
          distinct[message] = true
          messages[#messages + 1] = message
        end
      end
      emit("mask" .. mask, table.concat(messages, " | "))
    end
    local n = 0
    for _ in pairs(orders) do n = n + 1 end
    emit("orders", n)
  ]]

  -- What scalekit.new reports for the settings in `mask` (bit i: REQUIRED[i]
  -- is in the table) with the variables in `set`.
  local function expected(mask, set)
    for i, setting in ipairs(REQUIRED) do
      local given = math.floor(mask / 2 ^ (i - 1)) % 2 == 1
      if not given and (set[setting[2]] or "") == "" then
        return ("scalekit.new: missing %s (pass it, or set %s)"):format(setting[1], setting[2])
      end
    end
    return "ok"
  end

  local ENVIRONMENTS = {
    {},
    { SCALEKIT_CLIENT_ID = "skc_env" },
    { SCALEKIT_ENVIRONMENT_URL = "http://127.0.0.1:9" },
    { SCALEKIT_CLIENT_SECRET = "env_secret", SCALEKIT_ENVIRONMENT_URL = "http://127.0.0.1:9" },
    { SCALEKIT_CLIENT_ID = "", SCALEKIT_CLIENT_SECRET = "env_secret" },
  }

  it("report missing settings in a fixed order, whatever the table's order", function()
    local orders = 0
    for n, set in ipairs(ENVIRONMENTS) do
      local unset = {}
      for _, name in ipairs(VARIABLES) do
        if set[name] == nil then unset[#unset + 1] = name end
      end
      local run = child.run(MISSING_ORDER, { env = { seed = n }, set = set, unset = unset })
      child.ok(run)
      for mask = 0, 7 do
        assert.equal(expected(mask, set), run.values["mask" .. mask],
          ("environment #%d, settings mask %d"):format(n, mask))
      end
      orders = math.max(orders, tonumber(run.values.orders))
    end
    -- the walk met the required keys in several orders, or this proves nothing
    assert.is_true(orders >= 6, "pairs() orders seen: " .. orders)
  end)
end)

describe("argument errors", function()
  local server, sk
  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  before_each(function() server:clear_requests() end)

  -- err is `message` at the position `where`.
  local function assert_raises_here(where, err, message)
    assert.equal(where .. ": " .. message, err)
  end

  it("name the argument and the type received, at the caller's line", function()
    local where, err = here(), raised(function() sk.organizations:get(42) end)
    assert_raises_here(where, err, "organizations:get: argument #1 (id) must be a non-empty string (got number)")
    where, err = here(), raised(function() sk.organizations:get("") end)
    assert_raises_here(where, err, "organizations:get: argument #1 (id) must be a non-empty string (got an empty string)")
    where, err = here(), raised(function() sk.organizations:get() end)
    assert_raises_here(where, err, "organizations:get: argument #1 (id) must be a non-empty string (got no value)")
    where, err = here(), raised(function() sk.organizations:update("org_1", true) end)
    assert_raises_here(where, err, "organizations:update: argument #2 (fields) must be a table (got boolean)")
    where, err = here(), raised(function() sk.organizations:create { display_name = 7 } end)
    assert_raises_here(where, err, "organizations:create: field 'display_name' must be a string (got number)")
    where, err = here(), raised(function() sk.organizations:list { page_size = "10" } end)
    assert_raises_here(where, err, "organizations:list: field 'page_size' must be an integer (got string)")
    where, err = here(), raised(function() sk.organizations:create {} end)
    assert_raises_here(where, err, "organizations:create: missing required field 'display_name'")
    where, err = here(), raised(function() sk.organizations:create { display_name = "A", dispaly_name = "B" } end)
    assert_raises_here(where, err, "organizations:create: unknown field 'dispaly_name'")
    assert.equal(0, #server:requests())
  end)

  it("of sk:call name the operation and the type received, at the caller's line", function()
    local where, err = here(), raised(function() sk:call(42) end)
    assert_raises_here(where, err, "call: the operation id must be a string (got number)")
    where, err = here(), raised(function() sk:call("getOrganization", "org_1") end)
    assert_raises_here(where, err, "call: argument #2 (params) must be a table (got string)")
    where, err = here(), raised(function() sk:call("getOrganization", { id = 42 }) end)
    assert_raises_here(where, err, "call(getOrganization): 'id' must be a non-empty string (got number)")
    where, err = here(), raised(function() sk:call("nope", {}) end)
    assert_raises_here(where, err, "call: unknown operation 'nope'")
    where, err = here(), raised(function() sk:call("getOrganization", { id = "org_1" }, { retries = 2 }) end)
    assert_raises_here(where, err, "call(getOrganization): unknown option 'retries'")
    assert.equal(0, #server:requests())
  end)

  it("of iterators raise where the loop is written, before any page", function()
    local where, err = here(), raised(function() for _ in sk.organizations:each { page_size = "x" } do end end)
    assert_raises_here(where, err, "organizations:each: field 'page_size' must be an integer (got string)")
    assert.equal(0, #server:requests())
  end)

  it("after close point at the caller's line", function()
    local closed = util.client(server)
    closed:close()
    local where, err = here(), raised(function() closed.organizations:get("org_1") end)
    assert_raises_here(where, err, "organizations:get: client is closed")
    where, err = here(), raised(function() closed:call("getOrganization", { id = "org_1" }) end)
    assert_raises_here(where, err, "call: client is closed")
  end)
end)

describe("an error raised by an iterator", function()
  local server, sk, ids
  fixture.fake({ client = "each", settings = { max_retries = 0 } }, function(s, c) server, sk = s, c end)

  before_each(function()
    ids = server:seed { organizations = 3 }.organization_ids
  end)

  -- The first list page is served; the next answers `status`.
  local function fail_second_page(status)
    server:faults {
      { operation = "listOrganizations", delay_ms = 1 },
      { operation = "listOrganizations", status = status },
    }
  end

  -- err is an error object whose where is `where` and whose tostring
  -- starts with it.
  local function assert_raised_at(where, ok, err, status)
    assert.is_false(ok, "the walk did not raise")
    assert.is_true(scalekit.is_error(err), "raised a " .. type(err) .. ": " .. tostring(err))
    assert.equal(status, err.status)
    assert.equal(where, err.where)
    assert.equal(where .. ": scalekit: ", tostring(err):sub(1, #where + 12))
    assert.matches("22%-error_positions_spec%.lua:%d+$", where)
  end

  it("mid-walk carries the position of the for loop (each)", function()
    fail_second_page(500)
    local seen, where = {}, nil
    local ok, err = pcall(function()
      where = here(); for org in sk.organizations:each { page_size = 1 } do
        seen[#seen + 1] = org.id
      end
    end)
    assert_raised_at(where, ok, err, 500)
    assert.same({ ids[1] }, seen)
    assert.equal(2, #util.logged(server, "listOrganizations"))
  end)

  it("carries the position of the for loop (pages), in whatever function it is", function()
    fail_second_page(503)
    local where
    local function walk()
      where = here(); for _ in sk.organizations:pages { page_size = 1 } do end
    end
    local ok, err = pcall(walk)
    assert_raised_at(where, ok, err, 503)
  end)

  it("on the first page carries the loop's position too", function()
    server:fault { operation = "listOrganizations", status = 404 }
    local where
    local ok, err = pcall(function()
      where = here(); for _ in sk.organizations:each {} do end
    end)
    assert_raised_at(where, ok, err, 404)
  end)

  it("for a list that cannot be walked carries it too", function()
    -- a next_page_token that is a number: a decode error raised by the walk itself
    server:fault { operation = "listOrganizations", status = 200, content_type = "application/json",
                   body = '{"organizations":[],"next_page_token":7}' }
    local where
    local ok, err = pcall(function()
      where = here(); for _ in sk.organizations:each {} do end
    end)
    assert.is_false(ok)
    assert.equal("decode", err.kind)
    assert.equal(where, err.where)
    assert.equal(where .. ": scalekit: ", tostring(err):sub(1, #where + 12))
  end)

  it("is the line that called the iterator function, when called by hand", function()
    fail_second_page(500)
    local step, state, control = sk.organizations:each { page_size = 1 }
    assert.equal(ids[1], step(state, control).id)
    local where
    local ok, err = pcall(function()
      where = here(); step(state, control)
    end)
    assert_raised_at(where, ok, err, 500)
  end)

  it("when the client was closed in the loop, points at the loop's line", function()
    local where
    local ok, err = pcall(function()
      where = here(); for _ in sk.organizations:each { page_size = 1 } do sk:close() end
    end)
    assert.is_false(ok)
    assert.equal(where .. ": organizations:each: client is closed", err)
  end)

  it("is not added to errors that are returned", function()
    local org, err = sk.organizations:get("org_missing")
    assert.is_nil(org)
    assert.is_nil(err.where)
    assert.matches("^scalekit: api error 404", tostring(err))
  end)
end)

describe("an HTML or 404 answer from the token endpoint", function()
  local server, org_id
  fixture.fake({}, function(s) server = s end)

  before_each(function()
    org_id = server:seed { organizations = 1 }.organization_ids[1]
  end)

  local HINT = "is environment_url right?"

  local function get_with(settings)
    local sk = util.client(server, util.merge({ max_retries = 0 }, settings or {}))
    local org, err = sk.organizations:get(org_id)
    sk:close()
    assert.is_nil(org)
    assert.is_true(scalekit.is_error(err))
    return err
  end

  it("suggests checking environment_url for an HTML page", function()
    server:fault { operation = "createToken", status = 404, content_type = "text/html",
                   body = "<html><body>Not Found</body></html>" }
    local err = get_with()
    assert.equal(404, err.status)
    assert.truthy(err.message:find(HINT, 1, true), err.message)
    assert.truthy(err.message:find(server.url .. "/oauth/token", 1, true), err.message)
    assert.truthy(tostring(err):find(HINT, 1, true), tostring(err))
    assert.equal(0, #util.logged(server, "getOrganization"))
  end)

  it("suggests it for an HTML page of any error status", function()
    server:fault { operation = "createToken", status = 403, content_type = "text/html; charset=utf-8",
                   body = "<!doctype html><title>Forbidden</title>" }
    local err = get_with()
    assert.equal(403, err.status)
    assert.truthy(err.message:find(HINT, 1, true), err.message)
  end)

  it("suggests it for a 404 with a JSON body, as from a URL with a wrong path", function()
    local err = get_with { environment_url = server.url .. "/wrong" }
    assert.equal(404, err.status)
    assert.truthy(err.message:find(HINT, 1, true), err.message)
    assert.truthy(err.message:find(server.url .. "/wrong/oauth/token", 1, true), err.message)
  end)

  it("suggests it for an HTML page answered with 200", function()
    server:fault { operation = "createToken", status = 200, content_type = "text/html",
                   body = "<html><body>Welcome</body></html>" }
    local err = get_with()
    assert.truthy(err.message:find(HINT, 1, true), err.message)
  end)

  it("does not suggest it for refused credentials or an API 404", function()
    local err = get_with { client_secret = "wrong" }
    assert.equal("auth", err.kind)
    assert.equal(401, err.status)
    assert.is_nil(err.message:find(HINT, 1, true), err.message)
    local sk = util.client(server)
    local org
    org, err = sk.organizations:get("org_missing")
    sk:close()
    assert.is_nil(org)
    assert.equal(404, err.status)
    assert.is_nil(err.message:find(HINT, 1, true), err.message)
  end)
end)
