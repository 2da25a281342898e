--- scalekit: Lua SDK for the Scalekit API.
-- The C core (scalekit.core) does the work; this layer reads the
-- configuration (arguments, then environment variables) and checks it.
local core = require "scalekit.core"

local scalekit = {
  version = core.version,
  null = core.null,
  is_error = core.is_error,
  operations = core.operations,
  methods = core.methods,
}

-- setting -> environment variable that fills it when the argument is absent
local from_env = {
  environment_url = "SCALEKIT_ENVIRONMENT_URL",
  client_id = "SCALEKIT_CLIENT_ID",
  client_secret = "SCALEKIT_CLIENT_SECRET",
}

-- setting -> Lua type it must have
local setting_types = {
  environment_url = "string", client_id = "string", client_secret = "string",
  timeout = "number", connect_timeout = "number", stall_timeout = "number",
  max_retries = "number", retry_base_delay = "number", retry_max_delay = "number",
  max_retry_wait = "number", max_body_size = "number", max_depth = "number",
  user_agent = "string", allow_http = "boolean", ca_file = "string", insecure = "boolean",
  on_request = "function", on_response = "function",
  nginx = "table", -- see scalekit/nginx.lua
}

local loopback_hosts = { ["localhost"] = true, ["127.0.0.1"] = true, ["[::1]"] = true }

local function fail(fmt, ...)
  error("scalekit.new: " .. string.format(fmt, ...), 3)
end

local function check_url(url, allow_http)
  local scheme, host = url:match("^(%a[%w+.-]*)://([^/?#]*)")
  if not scheme then fail("environment_url %q is not an absolute URL", url) end
  scheme = scheme:lower()
  host = host:gsub("^.*@", ""):gsub(":%d*$", ""):lower()
  if host == "" then fail("environment_url %q has no host", url) end
  if url:find("[?#]") then fail("environment_url must not have a query or fragment") end
  if scheme == "https" then return end
  if scheme ~= "http" then fail("environment_url must use https:// (got %s://)", scheme) end
  if not (allow_http or loopback_hosts[host] or host:match("^127%.%d+%.%d+%.%d+$")) then
    fail("environment_url must use https:// (http:// is allowed for loopback hosts or with allow_http = true)")
  end
end


--- Creates a client. See README, "Configuration".
function scalekit.new(options)
  if options ~= nil and type(options) ~= "table" then
    error("scalekit.new: argument #1 (options) must be a table", 2)
  end
  local config = {}
  for key, value in pairs(options or {}) do
    local expected = setting_types[key]
    if not expected then fail("unknown setting '%s'", tostring(key)) end
    if type(value) ~= expected then
      fail("setting '%s' must be a %s (got %s)", key, expected, type(value))
    end
    config[key] = value
  end
  for key, variable in pairs(from_env) do
    if config[key] == nil then
      local value = os.getenv(variable)
      if value and value ~= "" then config[key] = value end
    end
    if config[key] == nil or config[key] == "" then
      fail("missing %s (pass it, or set %s)", key, variable)
    end
  end
  check_url(config.environment_url, config.allow_http)
  for _, key in ipairs { "timeout", "connect_timeout", "stall_timeout", "max_retries",
                         "retry_base_delay", "retry_max_delay", "max_retry_wait",
                         "max_body_size", "max_depth" } do
    local value = config[key]
    if value ~= nil and not (value >= 0 and value < math.huge) then
      fail("setting '%s' must be a finite number >= 0", key)
    end
  end
  -- LuaJIT reports itself as Lua 5.1, the language it runs
  local agent = string.format("scalekit-lua/%s %s libcurl/%s", core.version,
                              (_VERSION:gsub(" ", "/", 1)), core.curl_version)
  if config.user_agent then
    if config.user_agent:find("[%z\r\n]") then
      fail("user_agent must not contain CR, LF or NUL")
    end
    agent = agent .. " " .. config.user_agent
  end
  config.user_agent = agent
  config.allow_http = nil
  local nginx = config.nginx
  config.nginx = nil
  local client = core.new(config)
  -- Inside nginx, methods called where Lua may yield run in worker threads.
  if nginx or rawget(_G, "ngx") then
    client = require("scalekit.nginx").attach(client, config, nginx)
  end
  return client
end

return scalekit
