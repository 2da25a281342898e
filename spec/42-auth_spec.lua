-- Sign-in (scalekit.auth) against the fake identity provider of
-- spec/fake/idp.js: authorization URL, PKCE, code exchange with a verified
-- ID token, refresh, local validation of access tokens with every error
-- reason, the key set's cache (max-age, rotation, the refetch rate limit),
-- logout URL and IdP-initiated login.
local cjson = require "cjson"
local http = require "socket.http"
local ltn12 = require "ltn12"
local socket = require "socket"
local scalekit = require "scalekit"
local auth_module = require "scalekit.auth"
local jwt = require "scalekit.jwt"
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"

local REDIRECT = "http://127.0.0.1:1/callback"

local function url_decode(s)
  return (s:gsub("+", " "):gsub("%%(%x%x)", function(h) return string.char(tonumber(h, 16)) end))
end

-- The query of a URL as a table (and the part before it).
local function query_of(url)
  local base, query = url:match("^([^?]*)%??(.*)$")
  local t = {}
  for pair in query:gmatch("[^&]+") do
    local k, v = pair:match("^([^=]*)=?(.*)$")
    t[url_decode(k)] = url_decode(v)
  end
  return t, base
end

-- One HTTP request that does not follow redirects: status, body, headers.
local function request(method, url, body, headers)
  local chunks = {}
  headers = headers or {}
  if body then
    headers["content-type"] = "application/x-www-form-urlencoded"
    headers["content-length"] = tostring(#body)
  end
  local ok, status, response_headers = http.request {
    url = url, method = method, headers = headers, redirect = false,
    source = body and ltn12.source.string(body), sink = ltn12.sink.table(chunks),
  }
  assert(ok, "HTTP " .. method .. " " .. url .. ": " .. tostring(status))
  return status, table.concat(chunks), response_headers
end

local function count(server, path)
  local n = 0
  for _, r in ipairs(server:requests()) do
    if r.path == path then n = n + 1 end
  end
  return n
end

describe("sign-in (scalekit.auth)", function()
  local server, sk
  fixture.fake({ client = "shared", fast = true }, function(s, c) server, sk = s, c end)

  -- The fake's /_fake/idp/* controls.
  local function idp(method, path, body)
    return server:control(method, "/_fake/idp/" .. path, body)
  end
  local function idp_config(cfg) return idp("POST", "config", cfg).config end
  local function mint(params) return idp("POST", "token", params or {}).token end

  -- A clock the test moves (seconds; starts at the real time, as the
  -- fake's tokens do).
  local now
  local function clock() return now end

  local function new_auth(settings)
    return auth_module.new(sk, util.merge({ environment_url = server.url, client_id = "skc_test",
                                            clock = clock }, settings or {}))
  end

  before_each(function()
    now = os.time()
  end)

  -- Follows an authorization URL through the fake's login form as `email`:
  -- the redirect's query ({code =, state =}).
  local function sign_in(url, email)
    local status, body, headers = request("GET", url)
    if status == 200 then
      local id = assert(body:match('name="request" value="([^"]+)"'), body)
      status, body, headers = request("POST", server.url .. "/oauth/authorize",
        "request=" .. id .. "&email=" .. (email or "alice@example.com"))
    end
    assert.are.equal(302, status, body)
    local query, base = query_of(headers.location)
    assert.are.equal(REDIRECT, base)
    return query
  end

  -- A whole sign-in with PKCE and nonce: result, err of exchange_code.
  local function full_sign_in(auth, opts)
    opts = opts or {}
    local verifier, challenge = auth.pkce()
    local nonce = auth.random_nonce()
    local url = auth:authorization_url(REDIRECT, { state = "st-1", nonce = nonce,
                                                   code_challenge = challenge, scope = opts.scope })
    local back = sign_in(url, opts.email)
    assert.are.equal("st-1", back.state)
    return auth:exchange_code(back.code, opts.redirect_uri or REDIRECT,
                              { code_verifier = opts.verifier or verifier,
                                nonce = opts.nonce or nonce })
  end

  local function token_error(reason, value, err)
    assert.is_nil(value)
    assert.is_true(scalekit.is_error(err), "expected an error object, got " .. tostring(err))
    assert.are.equal("token", err.kind)
    assert.are.equal(reason, err.reason, tostring(err))
    return err
  end

  describe("auth.new", function()
    it("needs a client, environment_url and client_id", function()
      util.raises("argument #1 (client)", function() auth_module.new(nil, {}) end)
      util.raises("missing setting 'environment_url'", function()
        auth_module.new(sk, { client_id = "x" })
      end)
      util.raises("missing setting 'client_id'", function()
        auth_module.new(sk, { environment_url = server.url })
      end)
      util.raises("setting 'leeway' must be a number", function() new_auth { leeway = "5" } end)
      util.raises("auth.new: unknown setting 'leway'", function() new_auth { leway = 5 } end)
      util.raises("setting 'jwks_min_refetch' must be a finite number >= 0", function()
        new_auth { jwks_min_refetch = -1 }
      end)
    end)

    it("sends nothing until keys or tokens are needed", function()
      new_auth()
      assert.are.same({}, server:requests())
    end)

    it("is the client's sk.auth, with scalekit.new's auth settings", function()
      local a = sk.auth
      assert.are.equal("function", type(a.validate_token))
      local url = a:authorization_url(REDIRECT)
      assert.are.equal(server.url .. "/oauth/authorize", select(2, query_of(url)))
      assert.are.equal("skc_test", query_of(url).client_id)
      assert(a:validate_token(mint()))
      local stale = mint { ttl = -30 }
      assert(a:validate_token(stale)) -- default leeway: 60 s
      local strict = scalekit.new(util.merge(server:env(), { auth = { leeway = 5 } }))
      token_error("expired", strict.auth:validate_token(stale))
      util.raises("unknown setting 'leway'", function()
        scalekit.new(util.merge(server:env(), { auth = { leway = 5 } }))
      end)
      strict:close()
    end)
  end)

  describe("authorization_url", function()
    it("has response_type, client_id, redirect_uri and the default scope", function()
      local url = new_auth():authorization_url("https://app.example.com/cb?x=1&y=a b")
      local q, base = query_of(url)
      assert.are.equal(server.url .. "/oauth/authorize", base)
      assert.are.same({ response_type = "code", client_id = "skc_test",
                        redirect_uri = "https://app.example.com/cb?x=1&y=a b",
                        scope = "openid profile email" }, q)
      assert.is_nil(url:find(" ", 1, true))
    end)

    it("sends every option; domain_hint also as domain; S256 by default", function()
      local url = new_auth():authorization_url(REDIRECT, {
        scope = { "openid", "email", "offline_access" }, state = "s&1", nonce = "n=1",
        login_hint = "a@example.com", domain_hint = "example.com", connection_id = "conn_1",
        organization_id = "org_1", provider = "google", prompt = "login",
        code_challenge = "abc",
      })
      assert.are.same({
        response_type = "code", client_id = "skc_test", redirect_uri = REDIRECT,
        scope = "openid email offline_access", state = "s&1", nonce = "n=1",
        login_hint = "a@example.com", domain_hint = "example.com", domain = "example.com",
        connection_id = "conn_1", organization_id = "org_1", provider = "google",
        prompt = "login", code_challenge = "abc", code_challenge_method = "S256",
      }, query_of(url))
    end)

    it("is accepted by the identity provider", function()
      idp_config { auto_approve = true }
      local back = sign_in(new_auth():authorization_url(REDIRECT, { state = "a b/c?d" }))
      assert.are.equal("a b/c?d", back.state)
      assert.matches("^code%-", back.code)
    end)

    it("raises on unknown options and wrong types", function()
      local a = new_auth()
      util.raises("auth:authorization_url: unknown option 'redirect'", function()
        a:authorization_url(REDIRECT, { redirect = "x" })
      end)
      util.raises("option 'state' must be a string", function()
        a:authorization_url(REDIRECT, { state = 1 })
      end)
      util.raises("argument #1 (redirect_uri)", function() a:authorization_url(nil) end)
      util.raises("scope[2] must be a string", function()
        a:authorization_url(REDIRECT, { scope = { "openid", 2 } })
      end)
    end)
  end)

  describe("helpers", function()
    it("pkce gives a 43-character verifier and its S256 challenge", function()
      local verifier, challenge = auth_module.pkce()
      assert.matches("^[%w_-]+$", verifier)
      assert.are.equal(43, #verifier)
      assert.are.equal(jwt.base64url_encode(jwt.sha256(verifier)), challenge)
      local v2 = auth_module.pkce()
      assert.are_not.equal(verifier, v2)
    end)

    it("random_state and random_nonce are base64url and never repeat", function()
      local seen = {}
      for _ = 1, 200 do
        for _, value in ipairs { auth_module.random_state(), sk.auth.random_nonce() } do
          assert.matches("^[%w_-]+$", value)
          assert.are.equal(22, #value)
          assert.is_nil(seen[value])
          seen[value] = true
        end
      end
    end)
  end)

  describe("exchange_code", function()
    it("signs in through the login form: tokens, verified claims, the user", function()
      local a = new_auth()
      local result = assert(full_sign_in(a, { email = "alice@example.com" }))
      assert.are.equal("alice@example.com", result.user.email)
      assert.are.equal(result.claims.sub, result.user.id)
      assert.matches("^usr_", result.user.id)
      assert.is_true(result.user.email_verified)
      assert.are.equal("alice", result.user.given_name)
      assert.are.equal(server.url, result.claims.iss)
      assert.are.equal(3600, result.expires_in)
      assert.matches("^rt%-", result.refresh_token)
      assert.are.equal(3, select(2, result.access_token:gsub("%.", "")) + 1)
      -- what went to the token endpoint
      local sent = util.form_decode(util.last(server, "createToken").body)
      assert.are.equal("authorization_code", sent.grant_type)
      assert.are.equal(REDIRECT, sent.redirect_uri)
      assert.are.equal(43, #sent.code_verifier)
      assert.are.equal(1, count(server, "/keys"))
      -- the access token it returned validates locally
      assert.are.equal(result.claims.sub, assert(a:validate_token(result.access_token)).sub)
    end)

    it("maps every user claim", function()
      idp_config { auto_approve = true, id_token_claims = {
        name = "Ann Lee", preferred_username = "ann", given_name = "Ann", family_name = "Lee",
        phone_number = "+15551234", phone_number_verified = false, picture = "https://p/a.png",
        locale = "de", zoneinfo = "Europe/Berlin", updated_at = 1700000000,
        identities = { { provider_name = "okta", connection_id = "conn_1" } },
        metadata = { team = "blue" }, custom = "not a user field",
      } }
      local result = assert(full_sign_in(new_auth()))
      assert.are.same({
        id = result.claims.sub, name = "Ann Lee", preferred_username = "ann", given_name = "Ann",
        family_name = "Lee", email = "user@example.com", email_verified = true,
        phone_number = "+15551234", phone_number_verified = false, picture = "https://p/a.png",
        locale = "de", zoneinfo = "Europe/Berlin", updated_at = 1700000000,
        identities = { { provider_name = "okta", connection_id = "conn_1" } },
        metadata = { team = "blue" },
      }, result.user)
      assert.are.equal("not a user field", result.claims.custom)
    end)

    it("fails as an auth error on a wrong PKCE verifier, without the code in it", function()
      idp_config { auto_approve = true }
      local result, err = full_sign_in(new_auth(), { verifier = string.rep("x", 43) })
      assert.is_nil(result)
      assert.are.equal("auth", err.kind)
      assert.are.equal(400, err.status)
      local code = util.form_decode(util.last(server, "createToken").body).code
      assert.is_nil(util.leaks(err, code))
      assert.is_nil(tostring(err):find(code, 1, true))
    end)

    it("fails on a redirect_uri other than the authorization's", function()
      idp_config { auto_approve = true }
      local result, err = full_sign_in(new_auth(), { redirect_uri = "http://127.0.0.1:1/other" })
      assert.is_nil(result)
      assert.are.equal("auth", err.kind)
    end)

    it("fails on a code used twice", function()
      idp_config { auto_approve = true }
      local a = new_auth()
      local back = sign_in(a:authorization_url(REDIRECT))
      assert(a:exchange_code(back.code, REDIRECT))
      local result, err = a:exchange_code(back.code, REDIRECT)
      assert.is_nil(result)
      assert.are.equal("auth", err.kind)
    end)

    describe("refuses an ID token", function()
      before_each(function() idp_config { auto_approve = true } end)

      it("with another nonce (bad_nonce)", function()
        token_error("bad_nonce", full_sign_in(new_auth(), { nonce = "not-the-one-sent" }))
      end)

      it("from another issuer (bad_issuer)", function()
        idp_config { id_token_claims = { iss = "https://evil.example.com" } }
        token_error("bad_issuer", full_sign_in(new_auth()))
      end)

      it("for another client (bad_audience)", function()
        idp_config { id_token_claims = { aud = { "skc_other" } } }
        token_error("bad_audience", full_sign_in(new_auth()))
      end)

      it("that has expired (expired)", function()
        idp_config { id_token_ttl = -3600 }
        token_error("expired", full_sign_in(new_auth()))
      end)

      it("not valid yet (not_yet_valid)", function()
        idp_config { id_token_claims = { nbf = os.time() + 3600 } }
        token_error("not_yet_valid", full_sign_in(new_auth()))
      end)

      it("that is missing (malformed)", function()
        local err = token_error("malformed", full_sign_in(new_auth(), { scope = "profile email" }))
        assert.matches("id_token", err.message)
      end)
    end)

    it("raises on missing arguments and unknown options", function()
      local a = new_auth()
      util.raises("auth:exchange_code: argument #1 (code)", function() a:exchange_code(nil, REDIRECT) end)
      util.raises("argument #2 (redirect_uri)", function() a:exchange_code("c", "") end)
      util.raises("unknown option 'verifier'", function()
        a:exchange_code("c", REDIRECT, { verifier = "x" })
      end)
      assert.are.same({}, server:requests())
    end)
  end)

  describe("refresh", function()
    it("gives new tokens for a refresh token, which then is used up", function()
      idp_config { auto_approve = true }
      local a = new_auth()
      local first = assert(full_sign_in(a))
      local renewed = assert(a:refresh(first.refresh_token))
      assert.are_not.equal(first.access_token, renewed.access_token)
      assert.are_not.equal(first.refresh_token, renewed.refresh_token)
      assert.are.equal(3600, renewed.expires_in)
      assert(a:validate_token(renewed.access_token))
      local sent = util.form_decode(util.last(server, "createToken").body)
      assert.are.same({ grant_type = "refresh_token", refresh_token = first.refresh_token,
                        client_id = "skc_test", client_secret = "test_secret" }, sent)
      local again, err = a:refresh(first.refresh_token)
      assert.is_nil(again)
      assert.are.equal("auth", err.kind)
      assert.is_nil(tostring(err):find(first.refresh_token, 1, true))
    end)

    it("raises without a refresh token", function()
      util.raises("auth:refresh: argument #1 (refresh_token)", function() new_auth():refresh() end)
    end)
  end)

  describe("validate_token", function()
    it("returns the claims of a good access token", function()
      local claims = assert(new_auth():validate_token(mint { email = "bob@example.com" }))
      assert.are.equal(server.url, claims.iss)
      assert.are.equal("openid profile email", claims.scope)
      assert.matches("^usr_", claims.sub)
    end)

    it("checks required scopes (missing_scope) and the audience when asked (bad_audience)", function()
      local a, token = new_auth(), mint { scope = "openid read:orgs" }
      assert(a:validate_token(token, { required_scopes = { "read:orgs" }, audience = "skc_test" }))
      token_error("missing_scope", a:validate_token(token, { required_scopes = { "write:orgs" } }))
      token_error("bad_audience", a:validate_token(token, { audience = "api://other" }))
    end)

    it("checks the issuer: the environment URL, or the one given (bad_issuer)", function()
      local a = new_auth()
      token_error("bad_issuer", a:validate_token(mint { claims = { iss = "https://x.scalekit.com" } }))
      token_error("bad_issuer", a:validate_token(mint(), { issuer = "https://x.scalekit.com" }))
    end)

    it("checks exp and nbf with the leeway (expired, not_yet_valid)", function()
      local a = new_auth()
      local stale = mint { ttl = -30 }
      assert(a:validate_token(stale))                          -- default leeway 60 s
      token_error("expired", a:validate_token(stale, { leeway = 0 }))
      token_error("expired", a:validate_token(mint { ttl = -3600 }))
      local early = mint { claims = { nbf = os.time() + 3600 } }
      token_error("not_yet_valid", a:validate_token(early))
      token_error("expired", new_auth { leeway = 10 }:validate_token(stale))
    end)

    it("refuses bad signatures, alg none, HS256 and unknown keys", function()
      local a = new_auth()
      token_error("bad_signature", a:validate_token(mint { sign = "bad_signature" }))
      token_error("unsupported_alg", a:validate_token(mint { sign = "none" }))
      token_error("unsupported_alg", a:validate_token(mint { sign = "hs256_public_key" }))
      local err = token_error("unknown_key", a:validate_token(mint { sign = "unknown_key" }))
      assert.matches("^unpublished%-", err.kid)
    end)

    it("refuses malformed tokens without fetching keys for each", function()
      local a = new_auth()
      for _, bad in ipairs { "", "abc", "a.b.c", "a.b", string.rep("x", 100000) } do
        token_error("malformed", a:validate_token(bad))
      end
      assert.is_true(count(server, "/keys") <= 1)
    end)

    it("raises on wrong argument types and unknown options", function()
      local a = new_auth()
      util.raises("auth:validate_token: argument #1 (token) must be a string", function()
        a:validate_token(nil)
      end)
      util.raises("unknown option 'aud'", function() a:validate_token("x", { aud = "y" }) end)
      util.raises("option 'required_scopes' must be a table", function()
        a:validate_token("x", { required_scopes = "read" })
      end)
    end)

    it("raises on option mistakes even when no key set can be fetched", function()
      server:fault { operation = "getJwks", status = 503, times = -1 }
      local a = new_auth()
      util.raises("auth:validate_token: unknown option 'aud'", function()
        a:validate_token("x", { aud = "y" })
      end)
      util.raises("auth:validate_token: option 'leeway' must be a number (got string)", function()
        a:validate_token("x", { leeway = "5" })
      end)
      -- and a call without mistakes gets the fetch's error
      local claims, err = a:validate_token("x", { leeway = 5 })
      assert.is_nil(claims)
      assert.are.equal(503, err.status)
      server:clear_faults()
    end)
  end)

  describe("keys", function()
    it("are fetched on first need, then served from the cache", function()
      local a = new_auth()
      local token = mint()
      for _ = 1, 20 do assert(a:validate_token(token)) end
      assert.are.equal(1, count(server, "/keys"))
    end)

    it("can be fetched ahead with fetch_keys", function()
      local a = new_auth()
      assert.is_true(a:fetch_keys())
      assert.are.equal(1, count(server, "/keys"))
      assert(a:validate_token(mint()))
      assert.are.equal(1, count(server, "/keys"))
      server:fault { operation = "getJwks", status = 503, times = -1 }
      local ok, err = new_auth():fetch_keys()
      assert.is_nil(ok)
      assert.are.equal(503, err.status)
    end)

    -- A new auth with `settings` still uses its first keys `seconds - 1`
    -- seconds later and fetches them again at `seconds + 1`.
    local function kept_for(seconds, settings)
      local a, token = new_auth(settings), mint()
      assert(a:validate_token(token))
      now = now + seconds - 1
      assert(a:validate_token(token))
      assert.are.equal(1, count(server, "/keys"))
      now = now + 2
      assert(a:validate_token(token))
      assert.are.equal(2, count(server, "/keys"))
    end

    it("are kept as long as the response's max-age says", function()
      idp_config { keys_max_age = 120 }
      kept_for(120)
    end)

    it("are kept jwks_max_age seconds when the response has no max-age", function()
      idp_config { keys_max_age = cjson.null }
      kept_for(500, { jwks_max_age = 500 })
    end)

    it("expire by the real clock too", function()
      idp_config { keys_max_age = 1 }
      local a, token = new_auth { clock = os.time, jwks_min_refetch = 1 }, mint()
      assert(a:validate_token(token))
      assert(a:validate_token(token))
      assert.is_true(count(server, "/keys") <= 2) -- at most one second boundary crossed
      local before = count(server, "/keys")
      local deadline = os.time() + 3
      repeat socket.sleep(0.1) until os.time() >= deadline -- bounded: 3 s
      assert(a:validate_token(token))
      assert.are.equal(before + 1, count(server, "/keys"))
    end)

    it("follow a rotation without a restart: one refetch for the new kid", function()
      local a = new_auth()
      local old = mint()
      assert(a:validate_token(old))
      local rotated = idp("POST", "rotate_keys", {})
      local new = mint()
      assert.are.equal(rotated.kid, jwt.decode_header(new).kid)
      assert(a:validate_token(new))
      assert(a:validate_token(old))
      assert(a:validate_token(new))
      assert.are.equal(2, count(server, "/keys"))
    end)

    it("drop a retired key once refetched", function()
      local a = new_auth()
      local old = mint()
      assert(a:validate_token(old))
      idp("POST", "rotate_keys", { keep_old = false })
      assert(a:validate_token(mint()))
      token_error("unknown_key", a:validate_token(old))
    end)

    it("are refetched for unknown kids at most once per jwks_min_refetch", function()
      local a = new_auth()
      assert(a:validate_token(mint()))
      for _ = 1, 50 do
        token_error("unknown_key", a:validate_token(mint { sign = "unknown_key" }))
      end
      assert.are.equal(2, count(server, "/keys")) -- the first fetch and one refetch
      now = now + 29
      token_error("unknown_key", a:validate_token(mint { sign = "unknown_key" }))
      assert.are.equal(2, count(server, "/keys"))
      now = now + 2
      for _ = 1, 10 do
        token_error("unknown_key", a:validate_token(mint { sign = "unknown_key" }))
      end
      assert.are.equal(3, count(server, "/keys"))
      local b = new_auth { jwks_min_refetch = 5 }
      assert(b:validate_token(mint()))
      token_error("unknown_key", b:validate_token(mint { sign = "unknown_key" }))
      now = now + 6
      token_error("unknown_key", b:validate_token(mint { sign = "unknown_key" }))
      assert.are.equal(6, count(server, "/keys"))
    end)

    it("that cannot be fetched give the SDK's error, retried only after jwks_min_refetch", function()
      server:fault { operation = "getJwks", status = 404, times = -1 }
      local a, token = new_auth(), mint()
      local claims, err = a:validate_token(token)
      assert.is_nil(claims)
      assert.are.equal("api", err.kind)
      assert.are.equal(404, err.status)
      assert.is_nil(a:validate_token(token))
      assert.are.equal(1, count(server, "/keys"))
      server:clear_faults()
      now = now + 31
      assert(a:validate_token(token))
      assert.are.equal(2, count(server, "/keys"))
    end)

    it("stay in use when a refetch after max-age fails", function()
      idp_config { keys_max_age = 60 }
      local a, token = new_auth(), mint()
      assert(a:validate_token(token))
      server:fault { operation = "getJwks", status = 404, times = -1 }
      now = now + 61
      assert(a:validate_token(token))
      assert(a:validate_token(token))
      assert.are.equal(2, count(server, "/keys"))
      now = now + 31
      assert(a:validate_token(token))
      assert.are.equal(3, count(server, "/keys"))
    end)

    it("from a JWKS that is not one give a decode error", function()
      server:fault { operation = "getJwks", status = 200, json = { keys = "nope" }, times = -1 }
      local claims, err = new_auth():validate_token(mint())
      assert.is_nil(claims)
      assert.are.equal("decode", err.kind)
    end)
  end)

  describe("logout_url", function()
    it("ends the session at the identity provider and comes back", function()
      idp_config { auto_approve = true }
      local a = new_auth()
      local result = assert(full_sign_in(a))
      local url = a:logout_url { id_token_hint = result.id_token,
                                 post_logout_redirect_uri = "http://127.0.0.1:1/bye?x=1",
                                 state = "s 1" }
      local q, base = query_of(url)
      assert.are.equal(server.url .. "/oidc/logout", base)
      assert.are.same({ id_token_hint = result.id_token,
                        post_logout_redirect_uri = "http://127.0.0.1:1/bye?x=1", state = "s 1" }, q)
      local status, _, headers = request("GET", url)
      assert.are.equal(302, status)
      assert.are.equal("http://127.0.0.1:1/bye?x=1&state=s+1", headers.location)
      assert.are.equal(1, idp("GET", "stats").logouts)
    end)

    it("works without options and raises on unknown ones", function()
      local a = new_auth()
      assert.are.equal(server.url .. "/oidc/logout", a:logout_url())
      assert.are.equal(server.url .. "/oidc/logout", a:logout_url {})
      util.raises("auth:logout_url: unknown option 'redirect_uri'", function()
        a:logout_url { redirect_uri = "x" }
      end)
    end)
  end)

  describe("idp_initiated_claims", function()
    it("verifies the token and gives its connection, organization, hint and relay state", function()
      local token = mint { kind = "idp_initiated", email = "carol@example.com",
                           claims = { connection_id = "conn_9", organization_id = "org_9",
                                      relay_state = "/app/reports" } }
      local claims = assert(new_auth():idp_initiated_claims(token))
      assert.are.equal("conn_9", claims.connection_id)
      assert.are.equal("org_9", claims.organization_id)
      assert.are.equal("carol@example.com", claims.login_hint)
      assert.are.equal("/app/reports", claims.relay_state)
    end)

    it("refuses one for another client, an expired one, a forged one", function()
      local a = new_auth()
      token_error("bad_audience", a:idp_initiated_claims(
        mint { kind = "idp_initiated", claims = { aud = "skc_other" } }))
      token_error("expired", a:idp_initiated_claims(mint { kind = "idp_initiated", ttl = -3600 }))
      token_error("bad_signature", a:idp_initiated_claims(
        mint { kind = "idp_initiated", sign = "bad_signature" }))
      util.raises("argument #1 (token)", function() a:idp_initiated_claims(nil) end)
    end)
  end)

  describe("secrets", function()
    it("never reach the hooks: code, verifier, tokens", function()
      idp_config { auto_approve = true }
      local seen = {}
      local hooked = scalekit.new(util.merge(server:env(), {
        on_request = function(info) seen[#seen + 1] = info end,
        on_response = function(info) seen[#seen + 1] = info end,
      }))
      local a = auth_module.new(hooked, { environment_url = server.url, client_id = "skc_test" })
      local result = assert(full_sign_in(a))
      assert(a:refresh(result.refresh_token))
      hooked:close()
      local sent = util.form_decode(util.logged(server, "createToken")[1].body)
      assert.is_true(#seen >= 4)
      for _, secret in ipairs { sent.code, sent.code_verifier, "test_secret", result.id_token,
                                result.access_token, result.refresh_token } do
        assert.is_nil(util.leaks(seen, secret), "leaked into a hook: " .. secret:sub(1, 12))
      end
    end)
  end)
end)
