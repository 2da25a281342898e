--- scalekit.nginx_thread: what runs in nginx worker threads
-- (ngx.run_worker_thread): only the bytes. Each thread VM keeps one libcurl
-- handle, so keep-alive connections survive from one task to the next.
-- Requests and responses are plain tables (see src/driver.c).
local core = require "scalekit.core"

local M = {}

local transport

--- perform(request) -> response
function M.perform(request)
  transport = transport or core.transport()
  return transport:perform(request)
end

return M
