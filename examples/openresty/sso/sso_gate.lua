-- sso_gate: Scalekit sign-in in front of a location (see README.md and
-- nginx.conf next to this file).
--
--   init_by_lua_block        { require("sso_gate").init() }
--   init_worker_by_lua_block { require("sso_gate").init_worker() }
--   location /app      { access_by_lua_block  { require("sso_gate").protect() } ... }
--   location /callback { content_by_lua_block { require("sso_gate").callback() } }
--   location /logout   { content_by_lua_block { require("sso_gate").logout() } }
--   location /webhooks { content_by_lua_block { require("sso_gate").webhook() } }
--
-- Sessions live in a lua_shared_dict (tokens never reach the browser); the
-- browser holds a random session id in an HMAC-signed cookie. The sign-in
-- in progress (state, nonce, PKCE verifier) is a short-lived signed cookie.
-- On each request the session's access token is checked locally: the
-- signature against the keys this worker cached (no network, no thread
-- hop), the expiry against the clock. A worker remembers the outcome per
-- session cookie for as long as the session's tokens stay the same and the
-- token has not expired, so the cookie's MAC and the token's RSA signature
-- are checked once per token and worker, while a logout or a refresh
-- (another worker's too) is seen on the next request.
-- An expired access token is refreshed with the refresh token, once per
-- session even when several requests find it expired at the same time.
-- luacheck: globals ngx
local scalekit = require "scalekit"
local jwt = require "scalekit.jwt"
local webhooks = require "scalekit.webhooks"
local lrucache = require "resty.lrucache"
local cjson = require "cjson.safe"

local M = {}

local SESSION_COOKIE, LOGIN_COOKIE = "sk_session", "sk_login"
local SESSION_VAR, LOGIN_VAR = "cookie_" .. SESSION_COOKIE, "cookie_" .. LOGIN_COOKIE

local cfg, sk, auth, sessions, verified

local function setting(options, name, env, default)
  local value = options[name]
  if value == nil and env then value = os.getenv(env) end
  if value == nil or value == "" then value = default end
  return value
end

--- Once, in init_by_lua (the workers inherit the client). options (all
-- optional): scalekit (scalekit.new's options; default the SCALEKIT_*
-- variables and the "scalekit" thread pool), cookie_secret
-- ($SSO_COOKIE_SECRET, at least 32 bytes), webhook_secret
-- ($SCALEKIT_WEBHOOK_SECRET), redirect_uri and post_logout_redirect_uri
-- (default: this server's /callback and /signed-out), session_dict
-- ("sso_sessions"), session_ttl (seconds, 8 h), login_ttl (seconds to
-- finish a sign-in, 600), leeway (seconds of clock skew on the access
-- token's exp, 30; $SSO_LEEWAY), cache_size (sessions remembered per
-- worker, 10000; 0: check the signature on every request).
function M.init(options)
  options = options or {}
  cfg = {
    cookie_secret = setting(options, "cookie_secret", "SSO_COOKIE_SECRET"),
    webhook_secret = setting(options, "webhook_secret", "SCALEKIT_WEBHOOK_SECRET"),
    redirect_uri = setting(options, "redirect_uri", "SSO_REDIRECT_URI"),
    post_logout_redirect_uri = setting(options, "post_logout_redirect_uri", "SSO_POST_LOGOUT_URI"),
    session_ttl = setting(options, "session_ttl", nil, 8 * 3600),
    login_ttl = setting(options, "login_ttl", nil, 600),
    leeway = tonumber(setting(options, "leeway", "SSO_LEEWAY", 30)),
    cache_size = tonumber(setting(options, "cache_size", "SSO_CACHE_SIZE", 10000)),
  }
  if type(cfg.cookie_secret) ~= "string" or #cfg.cookie_secret < 32 then
    error("sso_gate.init: cookie_secret (or $SSO_COOKIE_SECRET) of at least 32 bytes is required", 2)
  end
  local dict = setting(options, "session_dict", nil, "sso_sessions")
  sessions = ngx.shared[dict] or error("sso_gate.init: no lua_shared_dict " .. dict, 2)
  sk = scalekit.new(options.scalekit or { nginx = { thread_pool = "scalekit" } })
  auth = sk.auth
  if cfg.cache_size > 0 then verified = assert(lrucache.new(cfg.cache_size)) end
end

--- init_worker_by_lua: each worker fetches the keys at once, so that no
-- request of the gate waits for them.
function M.init_worker()
  ngx.timer.at(0, function(premature)
    if premature then return end
    local ok, err = auth:fetch_keys()
    if not ok then ngx.log(ngx.WARN, "sso: key set not fetched yet: ", tostring(err)) end
  end)
end

---------------------------------------------------------------------------
-- cookies

-- Same length strings compared without an early exit.
local function equal(a, b)
  if #a ~= #b then return false end
  local diff = 0
  for i = 1, #a do
    if a:byte(i) ~= b:byte(i) then diff = diff + 1 end
  end
  return diff == 0
end

-- The purpose is part of the MAC, so a login cookie never passes as a
-- session cookie or the other way round.
local function mac(purpose, payload)
  return jwt.base64url_encode(jwt.hmac_sha256(cfg.cookie_secret, purpose .. "|" .. payload))
end

local function signed(purpose, payload)
  return payload .. "." .. mac(purpose, payload)
end

-- The payload of a signed cookie value, or nil when it was tampered with.
local function unsigned(purpose, value)
  if type(value) ~= "string" then return nil end
  local payload, tag = value:match("^([%w_-]+)%.([%w_-]+)$")
  if not payload or not equal(tag, mac(purpose, payload)) then return nil end
  return payload
end

local function cookie(name, value, max_age)
  local parts = { name .. "=" .. value, "Path=/", "HttpOnly", "SameSite=Lax",
                  "Max-Age=" .. math.floor(max_age) }
  if ngx.var.scheme == "https" then parts[#parts + 1] = "Secure" end
  return table.concat(parts, "; ")
end

local function set_cookies(list)
  ngx.header["Set-Cookie"] = list
end

local function base_url()
  return ngx.var.scheme .. "://" .. (ngx.var.http_host or ngx.var.host)
end

local function redirect_uri() return cfg.redirect_uri or base_url() .. "/callback" end

-- Only paths of this site (no "//host", no scheme) are followed after sign-in.
local function local_path(path)
  if type(path) == "string" and path:match("^/[^/\\]") or path == "/" then return path end
  return nil
end

local function fail(status, message)
  ngx.status = status
  ngx.header["Content-Type"] = "text/plain; charset=utf-8"
  ngx.say(message)
  return ngx.exit(status)
end

local HTML_ESCAPES = { ["&"] = "&amp;", ["<"] = "&lt;", [">"] = "&gt;", ['"'] = "&quot;",
                       ["'"] = "&#39;" }

--- content_by_lua: the example's application, a page naming the user the
-- gate let through (ngx.ctx.user), or "nobody" without the gate.
function M.page()
  local user = ngx.ctx.user
  local name = user and (user.email or user.id) or "nobody"
  ngx.say('<!doctype html><title>app</title><p id="user">Signed in as ',
          (tostring(name):gsub("[&<>\"']", HTML_ESCAPES)),
          '</p><p><a id="logout" href="/logout">Sign out</a></p>')
end

---------------------------------------------------------------------------
-- sessions: sessions[id] = JSON {access_token, refresh_token, id_token,
-- user, expires}; sessions[id .. "|v"] = a random version, new with every
-- write, so that a worker's remembered check of a session costs one short
-- read.

local function session_id()
  return unsigned("session", ngx.var[SESSION_VAR])
end

local function version_key(id) return id .. "|v" end

-- -> session, version | nil
local function load(id)
  local version = sessions:get(version_key(id))
  local raw = sessions:get(id)
  return raw and cjson.decode(raw), version
end

local function forget(id)
  sessions:delete(id)
  sessions:delete(version_key(id))
end

local function save(id, session)
  local left = session.expires - ngx.now()
  if left <= 0 then return forget(id) end
  local ok, err = sessions:set(id, cjson.encode(session), left)
  if ok then
    ok, err = sessions:set(version_key(id), jwt.base64url_encode(jwt.random_bytes(12)), left)
  end
  if not ok then ngx.log(ngx.ERR, "sso: session not stored: ", err) end
  return ok
end

---------------------------------------------------------------------------
-- sign-in

-- 302 to Scalekit, the sign-in's state, nonce and PKCE verifier in a
-- signed cookie. extra: authorization_url options (IdP-initiated login).
local function start_login(return_to, extra, clear_session)
  local verifier, challenge = auth.pkce()
  local state, nonce = auth.random_state(), auth.random_nonce()
  local login = jwt.base64url_encode(cjson.encode {
    state = state, nonce = nonce, verifier = verifier, return_to = local_path(return_to) or "/app",
    expires = ngx.now() + cfg.login_ttl,
  })
  local opts = { state = state, nonce = nonce, code_challenge = challenge,
                 code_challenge_method = "S256" }
  for k, v in pairs(extra or {}) do opts[k] = v end
  local cookies = { cookie(LOGIN_COOKIE, signed("login", login), cfg.login_ttl) }
  if clear_session then cookies[2] = cookie(SESSION_COOKIE, "", 0) end
  set_cookies(cookies)
  return ngx.redirect(auth:authorization_url(redirect_uri(), opts), ngx.HTTP_MOVED_TEMPORARILY)
end

local function unauthenticated(clear_session)
  local method = ngx.req.get_method()
  if method ~= "GET" and method ~= "HEAD" then
    if clear_session then set_cookies { cookie(SESSION_COOKIE, "", 0) } end
    return fail(ngx.HTTP_UNAUTHORIZED, "sign in first")
  end
  return start_login(ngx.var.request_uri, nil, clear_session)
end

-- IdP-initiated login: check the token, then start a normal sign-in with
-- its connection, organization and login hint.
local function idp_initiated(token)
  local claims, err = auth:idp_initiated_claims(token)
  if not claims then
    ngx.log(ngx.WARN, "sso: idp_initiated_login refused: ", tostring(err))
    return fail(ngx.HTTP_UNAUTHORIZED, "sign-in refused")
  end
  local extra = {}
  for _, name in ipairs { "connection_id", "organization_id", "login_hint" } do
    if type(claims[name]) == "string" and claims[name] ~= "" then extra[name] = claims[name] end
  end
  return start_login(claims.relay_state, extra)
end

--- content_by_lua at the redirect URI: finishes the sign-in.
function M.callback()
  local args = ngx.req.get_uri_args(20)
  if type(args.idp_initiated_login) == "string" then return idp_initiated(args.idp_initiated_login) end
  local login = unsigned("login", ngx.var[LOGIN_VAR])
  login = login and cjson.decode(jwt.base64url_decode(login) or "")
  set_cookies { cookie(LOGIN_COOKIE, "", 0) }
  if type(args.error) == "string" then
    ngx.log(ngx.WARN, "sso: sign-in failed: ", args.error)
    return fail(ngx.HTTP_UNAUTHORIZED, "sign-in failed")
  end
  if type(login) ~= "table" or type(login.expires) ~= "number" or login.expires < ngx.now() then
    return fail(ngx.HTTP_BAD_REQUEST, "no sign-in in progress (or it took too long): start again")
  end
  if type(args.state) ~= "string" or not equal(args.state, login.state) then
    return fail(ngx.HTTP_BAD_REQUEST, "state does not match this sign-in")
  end
  if type(args.code) ~= "string" or args.code == "" then
    return fail(ngx.HTTP_BAD_REQUEST, "no code")
  end
  local result, err = auth:exchange_code(args.code, redirect_uri(),
                                         { code_verifier = login.verifier, nonce = login.nonce })
  if not result then
    ngx.log(ngx.WARN, "sso: code exchange failed: ", tostring(err))
    return fail(err.kind == "token" and ngx.HTTP_UNAUTHORIZED or ngx.HTTP_BAD_GATEWAY, "sign-in failed")
  end
  local old = session_id()
  if old then forget(old) end
  local id = jwt.base64url_encode(jwt.random_bytes(32))
  local user = result.user
  local stored = save(id, {
    access_token = result.access_token, refresh_token = result.refresh_token,
    id_token = result.id_token, expires = ngx.now() + cfg.session_ttl,
    user = { id = user.id, email = user.email, name = user.name },
  })
  if not stored then return fail(ngx.HTTP_SERVICE_UNAVAILABLE, "no room for the session") end
  set_cookies { cookie(LOGIN_COOKIE, "", 0), cookie(SESSION_COOKIE, signed("session", id), cfg.session_ttl) }
  return ngx.redirect(local_path(login.return_to) or "/app", ngx.HTTP_MOVED_TEMPORARILY)
end

---------------------------------------------------------------------------
-- the gate

-- New tokens for an expired session; one request per session refreshes,
-- the others wait for its outcome. -> session | nil
local function refresh(id, session)
  local lock = id .. "|refresh"
  if not sessions:add(lock, true, 15) then
    for _ = 1, 200 do -- at most 10 s
      ngx.sleep(0.05)
      local current = load(id)
      if not current or current.access_token ~= session.access_token then return current end
      if not sessions:get(lock) then break end
    end
    return nil
  end
  local tokens, err = auth:refresh(session.refresh_token)
  if tokens then
    session.access_token = tokens.access_token
    session.refresh_token = tokens.refresh_token or session.refresh_token
    session.id_token = tokens.id_token or session.id_token
    save(id, session)
  else
    ngx.log(ngx.INFO, "sso: refresh failed, signing in again: ", tostring(err))
    forget(id)
  end
  sessions:delete(lock)
  return tokens and session
end

local function admit(user)
  ngx.ctx.user = user
  ngx.req.set_header("X-User-Id", user.id)
  ngx.req.set_header("X-User-Email", user.email)
end

--- access_by_lua: lets signed-in users through (ngx.ctx.user, headers
-- X-User-Id and X-User-Email to the upstream); others go to sign-in.
function M.protect()
  local value = ngx.var[SESSION_VAR]
  if not value then return unauthenticated(false) end
  local now = ngx.now()
  -- This exact cookie passed its MAC check, and the session's tokens are
  -- the ones that verified and have not expired yet.
  local known = verified and verified:get(value)
  if known and now < known.expires and sessions:get(known.version_key) == known.version then
    return admit(known.user)
  end
  local id = unsigned("session", value)
  if not id then return unauthenticated(true) end
  local session, version = load(id)
  if not session then return unauthenticated(true) end

  local claims, err = auth:validate_token(session.access_token, { leeway = cfg.leeway })
  if not claims and err.kind == "token" and err.reason == "expired" then
    session = refresh(id, session)
    if not session then return unauthenticated(true) end
    session, version = load(id)
    if not session then return unauthenticated(true) end
    claims, err = auth:validate_token(session.access_token, { leeway = cfg.leeway })
  end
  if not claims then
    if err.kind ~= "token" then
      ngx.log(ngx.ERR, "sso: cannot check tokens: ", tostring(err))
      return fail(ngx.HTTP_SERVICE_UNAVAILABLE, "sign-in service unavailable")
    end
    ngx.log(ngx.WARN, "sso: session token refused (", err.reason, ")")
    forget(id)
    return unauthenticated(true)
  end
  if verified and version then
    local expires = claims.exp + cfg.leeway
    verified:set(value, { version_key = version_key(id), version = version, user = session.user,
                          expires = expires }, expires - now)
  end
  return admit(session.user)
end

--- content_by_lua: ends the session here and at Scalekit.
function M.logout()
  local id = session_id()
  local session = id and load(id)
  if id then forget(id) end
  set_cookies { cookie(SESSION_COOKIE, "", 0) }
  local url = auth:logout_url {
    id_token_hint = session and session.id_token or nil,
    post_logout_redirect_uri = cfg.post_logout_redirect_uri or base_url() .. "/signed-out",
  }
  return ngx.redirect(url, ngx.HTTP_MOVED_TEMPORARILY)
end

--- content_by_lua: Scalekit's webhooks, 401 unless the signature is good.
function M.webhook()
  if ngx.req.get_method() ~= "POST" then return fail(ngx.HTTP_NOT_ALLOWED, "POST only") end
  if not cfg.webhook_secret then return fail(ngx.HTTP_SERVICE_UNAVAILABLE, "no webhook secret") end
  ngx.req.read_body()
  local body = ngx.req.get_body_data() or ""
  local ok, err = webhooks.verify(cfg.webhook_secret, ngx.req.get_headers(), body, { tolerance = 300 })
  if not ok then
    ngx.log(ngx.WARN, "sso: webhook refused: ", tostring(err))
    return fail(ngx.HTTP_UNAUTHORIZED, "bad signature")
  end
  local event = cjson.decode(body) or {}
  ngx.log(ngx.INFO, "sso: webhook ", tostring(event.type), " ", tostring(event.id))
  ngx.header["Content-Type"] = "application/json"
  ngx.say(cjson.encode { received = true, type = event.type })
end

return M
