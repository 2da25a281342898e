--- scalekit: Lua SDK for the Scalekit API.
-- The C core (scalekit.core) does the work; this layer reads the
-- configuration (arguments, then environment variables) and checks it.
local core = require "scalekit.core"

core.set_iterator(require "scalekit.iterate")

local scalekit = {
  version = core.version,
  null = core.null,
  is_error = core.is_error,
  operations = core.operations,
  methods = core.methods,
}

-- Required settings, in the order they are reported when missing, with
-- the environment variable that fills each when the argument is absent.
local required = {
  { "environment_url", "SCALEKIT_ENVIRONMENT_URL" },
  { "client_id", "SCALEKIT_CLIENT_ID" },
  { "client_secret", "SCALEKIT_CLIENT_SECRET" },
}

-- setting -> Lua type it must have
local setting_types = {
  environment_url = "string", client_id = "string", client_secret = "string",
  timeout = "number", connect_timeout = "number", stall_timeout = "number",
  max_retries = "number", retry_base_delay = "number", retry_max_delay = "number",
  max_retry_wait = "number", max_body_size = "number", max_depth = "number",
  user_agent = "string", allow_http = "boolean", ca_file = "string", insecure = "boolean",
  proxy = "string", debug = "boolean",
  on_request = "function", on_response = "function",
  nginx = "table", -- see scalekit/nginx.lua
  auth = "table",  -- see scalekit/auth.lua (leeway, jwks_min_refetch, jwks_max_age)
}

local numeric_settings = { "timeout", "connect_timeout", "stall_timeout", "max_retries",
                           "retry_base_delay", "retry_max_delay", "max_retry_wait",
                           "max_body_size", "max_depth" }

local loopback_hosts = { ["localhost"] = true, ["127.0.0.1"] = true, ["[::1]"] = true }

-- nil, or what is wrong with the URL
local function url_problem(url, allow_http)
  local scheme, host = url:match("^(%a[%w+.-]*)://([^/?#]*)")
  if not scheme then return ("environment_url %q is not an absolute URL"):format(url) end
  scheme = scheme:lower()
  host = host:gsub("^.*@", ""):gsub(":%d*$", ""):lower()
  if host == "" then return ("environment_url %q has no host"):format(url) end
  if url:find("[?#]") then return "environment_url must not have a query or fragment" end
  if scheme == "https" then return nil end
  if scheme ~= "http" then return ("environment_url must use https:// (got %s://)"):format(scheme) end
  if not (allow_http or loopback_hosts[host] or host:match("^127%.%d+%.%d+%.%d+$")) then
    return "environment_url must use https:// (http:// is allowed for loopback hosts or with "
      .. "allow_http = true)"
  end
end

local function in_nginx()
  local ngx = rawget(_G, "ngx")
  return type(ngx) == "table" and type(ngx.get_phase) == "function"
end

-- What sk.auth is made from: the client's URL and id, and the `auth` setting.
local function auth_settings_of(config)
  local settings = { environment_url = config.environment_url, client_id = config.client_id }
  for key, value in pairs(config.auth or {}) do settings[key] = value end
  return settings
end

-- The checked configuration for core.new, or nil and what is wrong.
local function read_config(options)
  local config = {}
  for key, value in pairs(options) do
    local expected = setting_types[key]
    if not expected then return nil, ("unknown setting '%s'"):format(tostring(key)) end
    if type(value) ~= expected then
      return nil, ("setting '%s' must be a %s (got %s)"):format(key, expected, type(value))
    end
    config[key] = value
  end
  for _, setting in ipairs(required) do
    local key, variable = setting[1], setting[2]
    if config[key] == nil then
      local value = os.getenv(variable)
      if value and value ~= "" then config[key] = value end
    end
    if config[key] == nil or config[key] == "" then
      return nil, ("missing %s (pass it, or set %s)"):format(key, variable)
    end
  end
  local problem = url_problem(config.environment_url, config.allow_http)
  if problem then return nil, problem end
  for _, key in ipairs(numeric_settings) do
    local value = config[key]
    -- written so that NaN fails too
    if value ~= nil and not (value >= 0 and value < math.huge) then
      return nil, ("setting '%s' must be a finite number >= 0 (got %s)"):format(key, value)
    end
  end
  if config.nginx then
    local nginx_problem = require("scalekit.nginx").options_problem(config.nginx)
    if nginx_problem then return nil, nginx_problem end
  end
  local auth_problem = require("scalekit.auth").settings_problem(auth_settings_of(config))
  if auth_problem then return nil, "auth: " .. auth_problem end
  if config.debug == nil then
    local flag = os.getenv("SCALEKIT_DEBUG")
    config.debug = flag ~= nil and flag ~= "" and flag ~= "0"
  end
  if config.debug and in_nginx() then
    local ngx = rawget(_G, "ngx")
    config.debug_sink = function(line) ngx.log(ngx.NOTICE, line) end
  end
  -- LuaJIT reports itself as Lua 5.1, the language it runs
  local agent = ("scalekit-lua/%s %s libcurl/%s"):format(core.version,
    (_VERSION:gsub(" ", "/", 1)), core.curl_version)
  if config.user_agent then
    if config.user_agent:find("[%z\r\n]") then
      return nil, "user_agent must not contain CR, LF or NUL"
    end
    agent = agent .. " " .. config.user_agent
  end
  config.user_agent = agent
  config.allow_http = nil
  return config
end

--- Creates a client. See README, "Configuration".
function scalekit.new(options)
  if options ~= nil and type(options) ~= "table" then
    error(("scalekit.new: argument #1 (options) must be a table (got %s)"):format(type(options)), 2)
  end
  local config, problem = read_config(options or {})
  if not config then error("scalekit.new: " .. problem, 2) end
  local nginx, auth_settings = config.nginx, auth_settings_of(config)
  config.nginx, config.auth = nil, nil
  local client = core.new(config)
  core.set_extra(client, "auth", require("scalekit.auth").new(client, auth_settings))
  -- Inside nginx, calls made where Lua may yield run in worker threads.
  if in_nginx() and not (nginx and nginx.enabled == false) then
    require("scalekit.nginx").attach(client, config, nginx)
  end
  return client
end

return setmetatable(scalekit, {
  -- scalekit.webhooks and scalekit.jwt load on first use
  __index = function(_, key)
    if key == "webhooks" or key == "jwt" then return require("scalekit." .. key) end
  end,
})
