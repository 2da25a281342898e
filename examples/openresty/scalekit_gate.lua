-- scalekit_gate: lets a request through only if the caller's organization
-- exists in Scalekit (access phase). Used by examples/openresty/nginx.conf:
--
--   init_by_lua_block   { require("scalekit_gate").init() }
--   access_by_lua_block { require("scalekit_gate").access() }
--
-- Where the organization id comes from is up to you: here a request
-- header, in production rather a claim of a session or token you verified.
-- luacheck: globals ngx
local scalekit = require "scalekit"
local lrucache = require "resty.lrucache"

local M = {}

local sk
-- Organizations found, per worker, so that most requests make no call.
local found = assert(lrucache.new(10000))
local CACHE_SECONDS = 60

--- Creates the client, once, in init_by_lua (the workers inherit it).
-- options: scalekit.new's; environment_url, client_id and client_secret
-- default to the SCALEKIT_* environment variables.
function M.init(options)
  options = options or {}
  -- The thread_pool and lua_shared_dict of nginx.conf ("scalekit" is the
  -- default pool name anyway).
  options.nginx = options.nginx or { thread_pool = "scalekit", shared_dict = "scalekit_tokens" }
  sk = scalekit.new(options)
end

--- access_by_lua: 401 without an organization id, 403 for an unknown
-- organization, 503 when Scalekit cannot say; otherwise the organization
-- goes to ngx.ctx.organization and, as a header, to the upstream.
function M.access()
  local id = ngx.var.http_x_organization_id
  if not id or id == "" then return ngx.exit(ngx.HTTP_UNAUTHORIZED) end
  local org = found:get(id)
  if not org then
    -- Runs in a worker thread: this request waits, the worker does not.
    local err
    org, err = sk.organizations:get(id)
    if not org then
      if err.status == 404 then return ngx.exit(ngx.HTTP_FORBIDDEN) end
      ngx.log(ngx.ERR, "organization check failed: ", tostring(err))
      return ngx.exit(ngx.HTTP_SERVICE_UNAVAILABLE)
    end
    found:set(id, org, CACHE_SECONDS)
  end
  ngx.ctx.organization = org
  ngx.req.set_header("X-Organization-Name", org.display_name)
end

return M
