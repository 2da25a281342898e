-- A forward HTTP proxy on 127.0.0.1 (spec/helpers/proxy.js) that logs the
-- request lines it receives, for specs of the `proxy` setting. Started and
-- stopped like the fake server, whose process plumbing it reuses.
--
--   local proxy = require "spec.helpers.proxy"
--   local p = proxy.start()                 -- in setup
--   scalekit.new { ..., proxy = p.url }
--   p:requests()   --> { "GET http://127.0.0.1:<port>/api/v1/... HTTP/1.1", ... }
--   p:stop()                                -- in teardown
local fake = require "spec.helpers.fake"

local proxy = {}

local Proxy = {}
Proxy.__index = Proxy

local function script_path()
  local src = debug.getinfo(1, "S").source
  local dir = src:sub(1, 1) == "@" and src:sub(2):match("^(.*)/[^/]*$")
  return (dir or "spec/helpers") .. "/proxy.js"
end

--- Starts the proxy; raises with node's stderr if it does not come up.
function proxy.start()
  local process = fake.start { script = script_path() }
  return setmetatable({ process = process, url = process.url, port = process.port }, Proxy)
end

--- The request lines received so far, oldest first.
function Proxy:requests()
  local lines = {}
  for line in (self.process:stderr() or ""):gmatch("[^\n]+") do lines[#lines + 1] = line end
  return lines
end

--- Stops the proxy (idempotent).
function Proxy:stop()
  self.process:stop()
end

return proxy
