-- Client-credentials tokens: fetched on first use, cached, refreshed ahead
-- of expiry and after a 401, final on a refused token request; the secret
-- and tokens never leak into errors. Against the real fake server.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"
local socket = require "socket"

local number_type, form_decode, operations, leaks =
  util.number_type, util.form_decode, util.operations, util.leaks

-- '+', '/', '&', '=', '%' and a space must all be form-encoded.
local SECRET = "s3cr+t/&=%20 x"

local function bearer(r)
  return (r.headers["authorization"] or ""):match("^Bearer (.+)$")
end

describe("auth", function()
  local server, org_id
  fixture.fake({ server = { client_secret = SECRET } }, function(s) server = s end)

  before_each(function()
    org_id = server:seed { organizations = 1 }.organization_ids[1]
  end)

  -- A client that records the status of every response it gets.
  local function new_client(extra)
    local statuses = {}
    local sk = util.client(server, util.merge({
      on_response = function(info) statuses[#statuses + 1] = info.status or "none" end,
    }, extra or {}))
    return sk, statuses
  end

  it("fetches a token on first use with a form-encoded POST", function()
    local sk = new_client()
    assert.same({}, server:requests())
    local org = assert(sk.organizations:get(org_id))
    assert.equal(org_id, org.id)
    local log = server:requests()
    assert.same({ "createToken", "getOrganization" }, operations(log))
    local t = log[1]
    assert.equal("POST", t.method)
    assert.equal("/oauth/token", t.path)
    assert.equal("application/x-www-form-urlencoded", t.headers["content-type"])
    assert.is_nil(t.headers["authorization"])
    assert.same({ grant_type = "client_credentials", client_id = server.client_id,
                  client_secret = SECRET }, form_decode(t.body))
    -- the raw body encodes the reserved characters of the secret
    assert.falsy(t.body:find(SECRET, 1, true))
    assert.equal(1, server:stats().tokens_issued)
    assert.is_string(bearer(log[2]))
  end)

  it("caches the token across calls", function()
    local sk = new_client()
    for _ = 1, 5 do assert.truthy(sk.organizations:get(org_id)) end
    assert.truthy(sk.organizations:list())
    assert.equal(1, server:stats().tokens_issued)
    local log = server:requests()
    assert.equal(7, #log)
    local first = bearer(log[2])
    for i = 2, 7 do assert.equal(first, bearer(log[i])) end
  end)

  it("sk:token() returns the token and the seconds left", function()
    local sk = new_client()
    local token, left = sk:token()
    assert.is_string(token)
    assert.equal("integer", number_type(left))
    -- a 3600 s token is refreshed 60 s ahead of expiry
    assert.is_true(left > 3500 and left <= 3540, "seconds left: " .. tostring(left))
    assert.equal(1, server:stats().tokens_issued)
    -- the same token is used by the next call, and not fetched again
    local token2 = sk:token()
    assert.equal(token, token2)
    assert.truthy(sk.organizations:get(org_id))
    local log = server:requests()
    assert.same({ "createToken", "getOrganization" }, operations(log))
    assert.equal(token, bearer(log[2]))
  end)

  it("refreshes a short-lived token before it expires", function()
    server:config { token_ttl = 2 }
    local sk, statuses = new_client()
    local token1, left = sk:token()
    -- refreshed at 3/4 of the 2 s lifetime
    assert.is_true(left >= 1 and left <= 2, "seconds left: " .. tostring(left))
    assert.truthy(sk.organizations:get(org_id))
    socket.sleep(1.6) -- past 1.5 s, before the token's real expiry at 2 s
    server:clear_requests()
    assert.truthy(sk.organizations:get(org_id))
    local log = server:requests()
    assert.same({ "createToken", "getOrganization" }, operations(log))
    local token2 = bearer(log[2])
    assert.is_string(token2)
    assert.are_not.equal(token1, token2)
    assert.equal(2, server:stats().tokens_issued)
    for _, s in ipairs(statuses) do assert.are_not.equal(401, s) end
  end)

  it("recovers from a revoked token with one 401 and one new token", function()
    local sk, statuses = new_client()
    assert.truthy(sk.organizations:get(org_id))
    local old = sk:token()
    assert.equal(1, server:revoke_tokens().revoked)
    server:clear_requests()
    for i = #statuses, 1, -1 do statuses[i] = nil end

    local org, err = sk.organizations:get(org_id)
    assert.is_nil(err)
    assert.equal(org_id, org.id)
    local log = server:requests()
    assert.same({ "getOrganization", "createToken", "getOrganization" }, operations(log))
    assert.same({ 401, 200, 200 }, statuses)
    assert.equal(old, bearer(log[1]))
    assert.are_not.equal(old, bearer(log[3]))
    assert.equal(2, server:stats().tokens_issued)
    -- and the new token is cached
    assert.truthy(sk.organizations:get(org_id))
    assert.equal(2, server:stats().tokens_issued)
  end)

  -- nil, err with a 401 auth error object
  local function auth_error(res, err)
    assert.is_nil(res)
    assert.is_true(scalekit.is_error(err))
    assert.equal("auth", err.kind)
    assert.equal(401, err.status)
    assert.equal("UNAUTHENTICATED", err.code)
  end

  it("gives an auth error when the 401 persists after a fresh token", function()
    local sk = new_client()
    assert.truthy(sk:token())
    server:clear_requests()
    server:fault { operation = "getOrganization", status = 401, times = 2,
                   json = { code = "UNAUTHENTICATED", message = "token rejected", details = {} } }
    local org, err = sk.organizations:get(org_id)
    auth_error(org, err)
    assert.equal(2, err.attempts)
    assert.equal(scalekit.operations.getOrganization.id, err.operation)
    assert.same({ "getOrganization", "createToken", "getOrganization" }, operations(server:requests()))
    -- the fault is used up: the client works again
    assert.truthy(sk.organizations:get(org_id))
  end)

  it("fails with kind 'auth' and no retry on wrong credentials", function()
    local sk = new_client { client_secret = "wrong-secret", max_retries = 3 }
    local org, err = sk.organizations:get(org_id)
    auth_error(org, err)
    assert.is_false(err.retryable)
    assert.equal(1, err.attempts)
    local log = server:requests()
    assert.same({ "createToken" }, operations(log))
    assert.equal(0, server:stats().tokens_issued)
    -- sk:token() reports the same way
    local token, err2 = sk:token()
    assert.is_nil(token)
    assert.equal("auth", err2.kind)
    assert.equal(401, err2.status)
    assert.equal(2, #server:requests())
  end)

  it("uses a token with expires_in 0 for one call only", function()
    server:config { token_ttl = 0 }
    local sk, statuses = new_client()
    for _ = 1, 3 do
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(err)
      assert.equal(org_id, org.id)
    end
    local log = server:requests()
    assert.same({ "createToken", "getOrganization", "createToken", "getOrganization",
                  "createToken", "getOrganization" }, operations(log))
    local seen = {}
    for _, i in ipairs { 2, 4, 6 } do
      local t = bearer(log[i])
      assert.is_string(t)
      assert.is_nil(seen[t])
      seen[t] = true
    end
    assert.equal(3, server:stats().tokens_issued)
    for _, s in ipairs(statuses) do assert.equal(200, s) end
  end)

  it("sk:token() with expires_in 0 reports 0 seconds left", function()
    server:config { token_ttl = 0 }
    local sk = new_client()
    local token, left = sk:token()
    assert.is_string(token)
    assert.equal(0, left)
  end)

  describe("secrets in errors", function()
    it("never shows the client secret echoed by the token endpoint", function()
      server:fault { operation = "createToken", status = 400, json = {
        code = "INVALID_ARGUMENT",
        message = "client_secret " .. SECRET .. " is not valid for " .. server.client_id,
        details = { { field = "client_secret", description = "got " .. SECRET } },
      } }
      local sk = new_client()
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(org)
      assert.is_true(scalekit.is_error(err))
      assert.equal(400, err.status)
      assert.is_string(err.message)
      assert.falsy(err.message:find(SECRET, 1, true), err.message)
      assert.falsy(tostring(err):find(SECRET, 1, true), tostring(err))
      -- the rest of the message survives
      assert.truthy(err.message:find("is not valid for " .. server.client_id, 1, true), err.message)
    end)

    it("never shows the client secret anywhere in the error object", function()
      server:fault { operation = "createToken", status = 400, json = {
        code = "INVALID_ARGUMENT", message = "bad secret " .. SECRET,
        details = { { field = "client_secret", description = "got " .. SECRET } },
      } }
      local sk = new_client()
      local _, err = sk.organizations:get(org_id)
      assert.is_true(scalekit.is_error(err))
      assert.is_nil(leaks(err, SECRET))
    end)

    it("never shows the access token echoed by the API", function()
      local sk = new_client()
      local token = assert(sk:token())
      server:fault { operation = "getOrganization", status = 403, json = {
        code = "PERMISSION_DENIED", message = "token " .. token .. " lacks scope",
        details = {},
      } }
      local org, err = sk.organizations:get(org_id)
      assert.is_nil(org)
      assert.equal("api", err.kind)
      assert.equal(403, err.status)
      assert.falsy(err.message:find(token, 1, true), err.message)
      assert.falsy(tostring(err):find(token, 1, true), tostring(err))
      assert.truthy(err.message:find("lacks scope", 1, true), err.message)
    end)

    it("never shows the secret or the token in tostring(err) for a transport error", function()
      local sk = new_client { max_retries = 0 }
      local token = assert(sk:token())
      -- every try dropped (libcurl itself may retry once on a reused connection)
      server:fault { operation = "getOrganization", drop = true, times = -1 }
      local _, err = sk.organizations:get(org_id)
      assert.is_true(scalekit.is_error(err))
      assert.equal("transport", err.kind)
      local line = tostring(err)
      assert.falsy(line:find(SECRET, 1, true))
      assert.falsy(line:find(token, 1, true))
    end)
  end)
end)
