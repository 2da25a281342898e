--- scalekit.auth: sign-in with Scalekit (OAuth 2.0 authorization code flow
-- with PKCE, OpenID Connect ID tokens) and local validation of access
-- tokens against the environment's JWKS.
--
--   local auth = require("scalekit.auth").new(sk, settings)   -- sk.auth
--
-- The token endpoint and the key set are reached through the client
-- (sk:call "exchangeToken" / "getJwks"), so inside nginx they run in worker
-- threads like every other call. Signatures, claims and randomness are
-- scalekit.jwt's (OpenSSL's libcrypto).
--
-- Keys: fetched on first need and cached for the response's Cache-Control
-- max-age (jwks_max_age when absent; at least jwks_min_refetch, at most a
-- day). A token whose kid is not in the cached set makes the set be fetched
-- once more, at most once per jwks_min_refetch seconds, so a stream of
-- garbage tokens cannot turn into a stream of /keys requests, while a key
-- rotation is picked up without a restart. A failed fetch is not retried
-- for jwks_min_refetch seconds either (a cached set stays in use meanwhile).
-- Each auth object (so, inside nginx, each worker) has its own cache.
local jwt = require "scalekit.jwt"

local auth = {}

local Auth = {}
Auth.__index = Auth

local DEFAULT_SCOPE = "openid profile email"
local DEFAULT_LEEWAY = 60
local DEFAULT_MIN_REFETCH = 30
local DEFAULT_MAX_AGE = 3600
-- A server's max-age beyond this is cut down to it, so that a rotation
-- is never missed for longer than a day.
local MAX_MAX_AGE = 86400

-- setting -> type
local setting_types = {
  environment_url = "string", client_id = "string", leeway = "number",
  jwks_min_refetch = "number", jwks_max_age = "number", clock = "function",
}

-- ID token claim -> field of the user table (sub becomes id).
local USER_CLAIMS = {
  "name", "preferred_username", "given_name", "family_name", "email", "email_verified",
  "phone_number", "phone_number_verified", "picture", "locale", "zoneinfo", "updated_at",
  "identities", "metadata",
}

-- Options of authorization_url.
local authorize_option = {}
for _, name in ipairs { "scope", "state", "nonce", "login_hint", "domain_hint", "connection_id",
                        "organization_id", "provider", "prompt", "code_challenge",
                        "code_challenge_method" } do
  authorize_option[name] = true
end
-- Query parameters of the authorization URL, in the order they are sent.
local AUTHORIZE_QUERY = {
  "response_type", "client_id", "redirect_uri", "scope", "state", "nonce", "login_hint",
  "domain_hint", "domain", "connection_id", "organization_id", "provider", "prompt",
  "code_challenge", "code_challenge_method",
}

local LOGOUT_OPTIONS = { "id_token_hint", "post_logout_redirect_uri", "state" }
local logout_option = {}
for _, name in ipairs(LOGOUT_OPTIONS) do logout_option[name] = true end

local VALIDATE_OPTIONS = { audience = true, issuer = true, required_scopes = true, leeway = true }
-- The checks of ID tokens and IdP-initiated login tokens.
local ID_TOKEN_CHECKS = { audience = true, nonce = true }

-- Inside nginx: requests of one worker wait for a key fetch another one
-- started, where they may yield.
local semaphore
if rawget(_G, "ngx") then
  local ok, module = pcall(require, "ngx.semaphore")
  if ok then semaphore = module end
end
local yieldable = { rewrite = true, server_rewrite = true, access = true, content = true,
                    timer = true }

local function can_wait()
  return semaphore ~= nil and yieldable[rawget(_G, "ngx").get_phase()] == true
end

local token_error, check_token = jwt.token_error, jwt.check
-- Checking against no keys still checks the options: a mistake in them
-- raises even when no key set can be fetched.
local NO_KEYS = assert(jwt.keyset { keys = {} })

local function check_string(who, position, name, value)
  if type(value) ~= "string" or value == "" then
    error(("%s: argument #%d (%s) must be a non-empty string"):format(who, position, name), 3)
  end
end

-- opts must be nil or a table whose keys are all in `known`, with string
-- values (or, for the keys in `other`, values of the type given there).
local function check_options(who, position, opts, known, other)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("%s: argument #%d (options) must be a table"):format(who, position), 3)
  end
  for key, value in pairs(opts) do
    if not known[key] then
      error(("%s: unknown option '%s'"):format(who, tostring(key)), 3)
    end
    local expected = other and other[key] or "string"
    if expected ~= "any" and type(value) ~= expected then
      error(("%s: option '%s' must be a %s (got %s)"):format(who, key, expected, type(value)), 3)
    end
  end
  return opts
end

local function percent_encode(s)
  return (s:gsub("[^%w%-%._~]", function(c) return ("%%%02X"):format(c:byte()) end))
end

-- url with the query name=values[name] for each of names that has a
-- value, in the order of names.
local function with_query(url, names, values)
  local parts = {}
  for _, name in ipairs(names) do
    local value = values[name]
    if value ~= nil then parts[#parts + 1] = name .. "=" .. percent_encode(value) end
  end
  if #parts == 0 then return url end
  return url .. "?" .. table.concat(parts, "&")
end

local function default_clock()
  local ngx = rawget(_G, "ngx")
  if ngx and ngx.now then return ngx.now end
  return os.time
end

--- Creates the sign-in helpers of a client (scalekit.new makes them sk.auth).
-- client: an object with sk:call (the scalekit client).
-- settings: environment_url, client_id (required); leeway (seconds of clock
-- skew allowed on exp/nbf/iat, default 60); jwks_min_refetch (seconds
-- between two key-set fetches caused by unknown kids or failures, default
-- 30); jwks_max_age (seconds a key set is kept when its response has no
-- max-age, default 3600); clock (function returning seconds since the
-- epoch; default ngx.now inside nginx, else os.time). scalekit.new passes
-- the client's environment_url and client_id and its `auth` setting.
--- nil, or what is wrong with settings (scalekit.new checks its `auth`
-- setting with this before it makes the client).
function auth.settings_problem(settings)
  for key, value in pairs(settings) do
    local expected = setting_types[key]
    if not expected then return ("unknown setting '%s'"):format(tostring(key)) end
    if type(value) ~= expected then
      return ("setting '%s' must be a %s (got %s)"):format(key, expected, type(value))
    end
  end
  for _, key in ipairs { "environment_url", "client_id" } do
    if settings[key] == nil or settings[key] == "" then
      return ("missing setting '%s'"):format(key)
    end
  end
  for _, key in ipairs { "leeway", "jwks_min_refetch", "jwks_max_age" } do
    local value = settings[key]
    if value ~= nil and not (value >= 0 and value < math.huge) then
      return ("setting '%s' must be a finite number >= 0"):format(key)
    end
  end
end

function auth.new(client, settings)
  if type(client) ~= "table" and type(client) ~= "userdata" then
    error("auth.new: argument #1 (client) must be a scalekit client", 2)
  end
  if type(settings) ~= "table" then
    error("auth.new: argument #2 (settings) must be a table", 2)
  end
  local problem = auth.settings_problem(settings)
  if problem then error("auth.new: " .. problem, 2) end
  local config = settings
  local base = config.environment_url:gsub("/+$", "")
  return setmetatable({
    client = client,
    issuer = base,
    client_id = config.client_id,
    authorize_endpoint = base .. "/oauth/authorize",
    logout_endpoint = base .. "/oidc/logout",
    leeway = config.leeway or DEFAULT_LEEWAY,
    min_refetch = config.jwks_min_refetch or DEFAULT_MIN_REFETCH,
    default_max_age = config.jwks_max_age or DEFAULT_MAX_AGE,
    clock = config.clock or default_clock(),
    keyset = nil,      -- the cached jwt keyset
    keys_expire = 0,   -- clock time after which the keyset is fetched again
    last_fetch = nil,  -- clock time of the last fetch attempt
    last_refetch = nil, -- clock time of the last fetch an unknown kid caused
    last_error = nil,  -- error of the last fetch, while no keyset is cached
    flight = nil,      -- {sem =, waiters =} while a fetch runs (nginx)
  }, Auth)
end

---------------------------------------------------------------------------
-- helpers without a client

--- A PKCE pair: verifier (43 characters of base64url from 32 random bytes)
-- and its S256 challenge.
function auth.pkce()
  local verifier = jwt.base64url_encode(jwt.random_bytes(32))
  return verifier, jwt.base64url_encode(jwt.sha256(verifier))
end

--- A random state value (128 bits, base64url).
function auth.random_state()
  return jwt.base64url_encode(jwt.random_bytes(16))
end

--- A random nonce value (128 bits, base64url).
function auth.random_nonce()
  return jwt.base64url_encode(jwt.random_bytes(16))
end

-- The helpers are reachable from an auth object too: sk.auth.pkce().
Auth.pkce, Auth.random_state, Auth.random_nonce = auth.pkce, auth.random_state, auth.random_nonce

---------------------------------------------------------------------------
-- URLs

--- The URL to send the user to. opts: scope (string, or list of scopes;
-- default "openid profile email"), state, nonce, login_hint, domain_hint,
-- connection_id, organization_id, provider, prompt, code_challenge,
-- code_challenge_method ("S256" when a challenge is given without one).
function Auth:authorization_url(redirect_uri, opts)
  local who = "auth:authorization_url"
  check_string(who, 1, "redirect_uri", redirect_uri)
  opts = check_options(who, 2, opts, authorize_option, { scope = "any" })
  local scope = opts.scope
  if type(scope) == "table" then
    for i, s in ipairs(scope) do
      if type(s) ~= "string" then error(who .. ": scope[" .. i .. "] must be a string", 2) end
    end
    scope = table.concat(scope, " ")
  elseif scope ~= nil and type(scope) ~= "string" then
    error(who .. ": option 'scope' must be a string or a list of strings", 2)
  end
  local query = { response_type = "code", client_id = self.client_id, redirect_uri = redirect_uri,
                  scope = scope or DEFAULT_SCOPE, domain = opts.domain_hint }
  for name in pairs(authorize_option) do
    if name ~= "scope" then query[name] = opts[name] end
  end
  if opts.code_challenge and not opts.code_challenge_method then
    query.code_challenge_method = "S256"
  end
  return with_query(self.authorize_endpoint, AUTHORIZE_QUERY, query)
end

--- The URL that ends the user's Scalekit session. opts: id_token_hint,
-- post_logout_redirect_uri, state (all optional).
function Auth:logout_url(opts)
  opts = check_options("auth:logout_url", 1, opts, logout_option)
  return with_query(self.logout_endpoint, LOGOUT_OPTIONS, opts)
end

---------------------------------------------------------------------------
-- keys

-- Fetches the key set (one request), caches it. -> true | nil, err
local function fetch(self)
  local now = self.clock()
  self.last_fetch = now
  local body, response = self.client:call("getJwks", nil, { response = true })
  local keyset, err
  if body then
    keyset, err = jwt.keyset(body)
  else
    err = response
  end
  if not keyset then
    -- A stale set stays in use until the next attempt may be made.
    if self.keyset then self.keys_expire = now + self.min_refetch end
    self.last_error = err
    return nil, err
  end
  local max_age = response and response.max_age
  if type(max_age) ~= "number" or max_age < 0 then max_age = self.default_max_age end
  -- max-age=0 would mean a fetch per token: the refetch interval is the floor.
  max_age = math.min(math.max(max_age, self.min_refetch), MAX_MAX_AGE)
  self.keyset, self.keys_expire, self.last_error = keyset, now + max_age, nil
  return true
end

--- Fetches the key set now (e.g. in init_worker, so that no request waits
-- for it). One fetch per auth object at a time: inside nginx, requests of
-- the same worker that need keys while a fetch runs wait for it.
-- -> true | nil, err
function Auth:fetch_keys()
  local flight = self.flight
  if flight and flight.sem and can_wait() then
    flight.waiters = flight.waiters + 1
    flight.sem:wait(60)
    if self.keyset then return true end
    return nil, self.last_error
  end
  flight = { waiters = 0 }
  if can_wait() then flight.sem = semaphore.new() end
  self.flight = flight
  local ok, done, err = pcall(fetch, self)
  if self.flight == flight then self.flight = nil end
  if flight.sem and flight.waiters > 0 then flight.sem:post(flight.waiters) end
  if not ok then error(done, 0) end
  return done, err
end

-- The key set to verify with, when the cached one is missing or stale.
-- -> keyset | nil, err
local function refresh_keys(self, now)
  if not self.keyset and self.last_fetch and now - self.last_fetch < self.min_refetch then
    return nil, self.last_error
  end
  local ok, err = self:fetch_keys()
  if self.keyset then return self.keyset end
  return ok, err
end

-- Verifies a JWT against the cached keys; an unknown kid gets one refetch
-- (rate-limited). opts: the checks (jwt.check; keys from known), falling
-- back to the environment URL as issuer and the auth object's leeway.
-- -> claims | nil, err
local function verify(self, who, token, opts, known)
  local now, keyset = self.clock(), self.keyset
  if not keyset or now >= self.keys_expire then
    local problem
    keyset, problem = refresh_keys(self, now)
    if not keyset then
      check_token(token, NO_KEYS, opts, known, who, self.issuer, self.leeway, now)
      return nil, problem
    end
    now = self.clock() -- the fetch took time
  end
  local claims, err = check_token(token, keyset, opts, known, who, self.issuer, self.leeway, now)
  if claims or err.reason ~= "unknown_key" then return claims, err end
  if self.last_refetch and now - self.last_refetch < self.min_refetch then
    return nil, err
  end
  self.last_refetch = now
  local fetched = self:fetch_keys()
  if not fetched or self.keyset == keyset then return nil, err end
  return check_token(token, self.keyset, opts, known, who, self.issuer, self.leeway, self.clock())
end

---------------------------------------------------------------------------
-- tokens

--- Checks an access token locally (signature by the environment's keys,
-- exp/nbf/iat, issuer). opts: issuer (default the environment URL),
-- audience (the token's aud must contain it; checked only when given), required_scopes
-- (list), leeway (seconds, default the auth object's).
-- -> claims | nil, err (kind "token" with err.reason; the SDK's error when
-- the key set cannot be fetched)
function Auth:validate_token(token, opts)
  if type(token) ~= "string" then
    error("auth:validate_token: argument #1 (token) must be a string", 2)
  end
  if opts ~= nil and type(opts) ~= "table" then
    error("auth:validate_token: argument #2 (options) must be a table", 2)
  end
  return verify(self, "auth:validate_token", token, opts, VALIDATE_OPTIONS)
end

local function user_of(claims)
  local user = { id = claims.sub }
  for _, name in ipairs(USER_CLAIMS) do user[name] = claims[name] end
  return user
end

local EXCHANGE_OPTIONS = { code_verifier = true, nonce = true }

--- Exchanges the code the callback received for tokens and verifies the
-- ID token (signature, issuer = environment URL, audience contains the
-- client id, exp/nbf/iat, and the nonce when given). opts: code_verifier
-- (PKCE), nonce. -> {user, claims, id_token, access_token, refresh_token,
-- expires_in} | nil, err
function Auth:exchange_code(code, redirect_uri, opts)
  local who = "auth:exchange_code"
  check_string(who, 1, "code", code)
  check_string(who, 2, "redirect_uri", redirect_uri)
  opts = check_options(who, 3, opts, EXCHANGE_OPTIONS)
  local result, err = self.client:call("exchangeToken", {
    grant_type = "authorization_code", code = code, redirect_uri = redirect_uri,
    code_verifier = opts.code_verifier,
  })
  if not result then return nil, err end
  if type(result.id_token) ~= "string" then
    return nil, token_error("malformed",
                            "the token response has no id_token (is 'openid' in the scope?)")
  end
  local claims
  claims, err = verify(self, who, result.id_token, { audience = self.client_id, nonce = opts.nonce },
                       ID_TOKEN_CHECKS)
  if not claims then return nil, err end
  return {
    user = user_of(claims),
    claims = claims,
    id_token = result.id_token,
    access_token = result.access_token,
    refresh_token = result.refresh_token,
    expires_in = result.expires_in,
  }
end

--- New tokens for a refresh token. -> the token response ({access_token,
-- refresh_token, expires_in, ...}) | nil, err
function Auth:refresh(refresh_token)
  check_string("auth:refresh", 1, "refresh_token", refresh_token)
  return self.client:call("exchangeToken", {
    grant_type = "refresh_token", refresh_token = refresh_token,
  })
end

--- The claims of the `idp_initiated_login` token a callback received,
-- verified like an ID token (audience = client id): connection_id,
-- organization_id, login_hint, relay_state (and the standard claims).
-- Start a normal login with them. -> claims | nil, err
function Auth:idp_initiated_claims(token)
  check_string("auth:idp_initiated_claims", 1, "token", token)
  return verify(self, "auth:idp_initiated_claims", token, { audience = self.client_id },
                ID_TOKEN_CHECKS)
end

function Auth:__tostring()
  return ("scalekit.auth(%s, %s)"):format(self.issuer, self.client_id)
end

return auth
