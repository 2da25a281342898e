-- Starts and stops an nginx for the integration specs: the project's
-- spec/nginx/nginx.conf, filled in and run from a temporary prefix
-- (`nginx -p PREFIX -c PREFIX/nginx.conf`), listening on 127.0.0.1 only.
--
--   local nginx = driver.start { fake = server, workers = 1 }
--   local status, body = nginx:get("/api/get_org/org_1")
--   nginx:stop()   -- always, in teardown
local socket = require "socket"
local process = require "spec.helpers.process"

local M = {}

local NGINX = os.getenv("NGINX") or "nginx"
local ROOT = os.getenv("SCALEKIT_ROOT") or io.popen("pwd"):read("*l")

local sh, read_file, shquote = process.execute_ok, process.read_file, process.shquote

local function write_file(path, s)
  local f = assert(io.open(path, "wb"))
  f:write(s)
  f:close()
end

local function free_port()
  local server = assert(socket.bind("127.0.0.1", 0))
  local _, port = server:getsockname()
  server:close()
  return tonumber(port)
end

local function is_root()
  local p = io.popen("id -u")
  local uid = p:read("*l")
  p:close()
  return uid == "0"
end

local Nginx = {}
Nginx.__index = Nginx

-- Writes conf (and files: name -> content) into a new prefix and starts
-- nginx there, with env (name -> value) added to its environment.
local function launch(port, conf, files, env)
  local prefix = assert(io.popen("mktemp -d /tmp/scalekit-nginx.XXXXXX")):read("*l")
  conf = conf:gsub("%${PREFIX}", prefix)
  assert(sh("mkdir -p " .. prefix .. "/logs " .. prefix .. "/tmp"))
  write_file(prefix .. "/nginx.conf", conf)
  for name, content in pairs(files or {}) do write_file(prefix .. "/" .. name, content) end
  local self = setmetatable({ prefix = prefix, port = port,
                              conf = prefix .. "/nginx.conf" }, Nginx)
  local vars = {}
  for k, v in pairs(env or {}) do vars[#vars + 1] = k .. "=" .. shquote(v) end
  -- The master daemonizes once the configuration loaded and the port is
  -- bound; its pid file is how it is stopped.
  local cmd = ("env %s %s -p %s -c %s -e %s/logs/error.log >%s/logs/stdout 2>&1"):format(
    table.concat(vars, " "), NGINX, prefix, self.conf, prefix, prefix)
  if not sh(cmd) then
    local log = (read_file(prefix .. "/logs/stdout") or "") .. self:error_log()
    sh("rm -rf " .. prefix)
    error("nginx did not start:\n" .. log, 3)
  end
  local deadline = socket.gettime() + 10
  while socket.gettime() < deadline do
    local pid = read_file(prefix .. "/logs/nginx.pid")
    local c = socket.tcp()
    c:settimeout(0.2)
    local connected = c:connect("127.0.0.1", port)
    c:close()
    if pid and connected then
      self.pid = tonumber(pid)
      return self
    end
    socket.sleep(0.05)
  end
  self:stop()
  error("nginx did not listen on port " .. port .. ":\n" .. self:error_log(), 3)
end

local function check_build()
  local so = ROOT .. "/build/luajit/scalekit/core.so"
  assert(io.open(so, "rb"), "missing " .. so .. ": run `make LUA_VERSION=luajit` first")
end

-- Workers of a root master run as nobody, who may not read the work tree
-- (e.g. under /root); for other users the directive would be ignored.
local function user_directive()
  return is_root() and "user root;" or ""
end

--- The specs' own nginx.conf. opts: fake (a spec.helpers.fake server),
-- workers (default 1), shared_dict (name for the SDK's nginx.shared_dict,
-- or nil), reuseport, vm_pool (lua_worker_thread_vm_pool_size, default 16).
function M.start(opts)
  check_build()
  local port = free_port()
  local env = opts.fake:env()
  local vars = {
    PREFIX = "${PREFIX}", -- filled in by launch
    ROOT = ROOT,
    PORT = tostring(port),
    WORKERS = tostring(opts.workers or 1),
    VM_POOL = tostring(opts.vm_pool or 16),
    REUSEPORT = opts.reuseport and "reuseport" or "",
    USER = user_directive(),
    FAKE_URL = env.environment_url,
    CLIENT_ID = env.client_id,
    CLIENT_SECRET = env.client_secret,
    SHARED_DICT = opts.shared_dict and ('"' .. opts.shared_dict .. '"') or "nil",
  }
  local template = assert(read_file(ROOT .. "/spec/nginx/nginx.conf"))
  local conf = template:gsub("%${([%w_]+)}", function(name)
    return vars[name] or error("spec/nginx/nginx.conf: unknown ${" .. name .. "}", 3)
  end)
  return launch(port, conf)
end

--- examples/openresty as a user would run it, but on a free port (and as
-- root with `user root;`), the SDK from the work tree through LUA_PATH and
-- LUA_CPATH, the SCALEKIT_* variables pointing at the fake server.
function M.start_example(opts)
  check_build()
  local port = free_port()
  local dir = ROOT .. "/examples/openresty/"
  local conf = assert(read_file(dir .. "nginx.conf"))
  local n
  conf, n = conf:gsub("listen 127%.0%.0%.1:8080;", "listen 127.0.0.1:" .. port .. ";")
  assert(n == 1, "examples/openresty/nginx.conf: no `listen 127.0.0.1:8080;`")
  conf = user_directive() .. "\n" .. conf
  local env = {
    LUA_PATH = ROOT .. "/lua/?.lua;" .. ROOT .. "/lua/?/init.lua;;",
    LUA_CPATH = ROOT .. "/build/luajit/?.so;;",
  }
  for k, v in pairs(opts.fake:env()) do env["SCALEKIT_" .. k:upper()] = v end
  return launch(port, conf, { ["scalekit_gate.lua"] = assert(read_file(dir .. "scalekit_gate.lua")) },
                env)
end

function Nginx:error_log()
  return read_file(self.prefix .. "/logs/error.log") or ""
end

--- Stops nginx (SIGTERM to the master, waiting for it to exit) and
-- removes the prefix. Idempotent.
function Nginx:stop()
  if self.stopped then return end
  self.stopped = true
  local pid = self.pid or tonumber(read_file(self.prefix .. "/logs/nginx.pid") or "")
  if pid then
    sh("kill -TERM " .. pid .. " 2>/dev/null")
    for _ = 1, 200 do
      if not sh("kill -0 " .. pid .. " 2>/dev/null") then break end
      socket.sleep(0.05)
    end
  end
  if os.getenv("KEEP_NGINX_PREFIX") then
    io.stderr:write("nginx prefix kept: " .. self.prefix .. "\n")
  else
    sh("rm -rf " .. self.prefix)
  end
end

-- One HTTP/1.0 exchange: status, body.
local function parse(raw)
  if not raw then return nil end
  local status = tonumber(raw:match("^HTTP/%d%.%d (%d+)"))
  local body = raw:match("\r\n\r\n(.*)$") or ""
  return status, body
end

local function request_text(method, path, headers)
  local lines = { ("%s %s HTTP/1.0"):format(method, path), "Host: 127.0.0.1" }
  for k, v in pairs(headers or {}) do lines[#lines + 1] = k .. ": " .. v end
  return table.concat(lines, "\r\n") .. "\r\n\r\n"
end

--- nginx:request(method, path, headers) -> status, body
function Nginx:request(method, path, headers)
  local c = socket.tcp()
  c:settimeout(30)
  assert(c:connect("127.0.0.1", self.port))
  assert(c:send(request_text(method, path, headers)))
  local raw, err, partial = c:receive("*a")
  c:close()
  local status, body = parse(raw or partial)
  return status, body, err
end

function Nginx:get(path, headers) return self:request("GET", path, headers) end

--- Sends every request first, then reads every answer: the requests are
-- in nginx at the same time. -> { {status, body, seconds}, ... }, seconds
function Nginx:concurrent(paths)
  local started = socket.gettime()
  local conns = {}
  for i, path in ipairs(paths) do
    local c = socket.tcp()
    c:settimeout(30)
    assert(c:connect("127.0.0.1", self.port))
    assert(c:send(request_text("GET", path)))
    conns[i] = c
  end
  local results = {}
  for i, c in ipairs(conns) do
    local raw, _, partial = c:receive("*a")
    c:close()
    local status, body = parse(raw or partial)
    results[i] = { status = status, body = body, seconds = socket.gettime() - started }
  end
  return results, socket.gettime() - started
end

return M
