-- Start, control and stop the fake Scalekit server (spec/fake/server.js)
-- from busted specs. Works on Lua 5.1-5.4 and LuaJIT; needs lua-cjson and
-- LuaSocket.
--
--   local fake = require "spec.helpers.fake"
--   local server
--   setup(function() server = fake.start{ token_ttl = 3600 } end)
--   teardown(function() server:stop() end)      -- always stop in teardown
--   before_each(function() server:reset() end)
--
-- How the process is managed: node is started through io.popen(cmd, "w"),
-- so its stdin is a pipe held by this Lua process. The server exits when
-- that pipe closes, which means it also goes away if the test runner
-- crashes or is killed. Its stdout/stderr go to temporary files; start()
-- polls stdout for the "listening <port>" line. stop() sends SIGTERM,
-- closes the pipe and waits for the process to exit.

local cjson = require "cjson"
local socket = require "socket"
local http = require "socket.http"
local ltn12 = require "ltn12"
local process = require "spec.helpers.process"

local M = {}

local DEFAULTS = {
  client_id = "skc_test",
  client_secret = "test_secret",
  token_ttl = 3600,
  port = 0,
  timeout = 10,
}

local function urlencode(s)
  return (tostring(s):gsub("[^%w%-%._~]", function(c)
    return ("%%%02X"):format(c:byte())
  end))
end

-- A zombie is reaped by closing the popen handle.
local shquote, read_file = process.shquote, process.read_file
local execute_ok, process_alive = process.execute_ok, process.alive

local function script_path()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then
    local dir = src:sub(2):match("^(.*)/[^/]*$")
    if dir then
      local p = dir .. "/../fake/server.js"
      if read_file(p) then return p end
    end
  end
  return "spec/fake/server.js"
end

local Server = {}
Server.__index = Server

--- Start a fake server.
-- opts: port, client_id, client_secret, token_ttl, timeout (seconds to wait
-- for the port, default 10), node (executable; default $NODE or "node"),
-- script (path to server.js), openapi (the API document it serves; default
-- api/scalekit-public-openapi.json), verbose (log requests to node's stderr).
function M.start(opts)
  opts = opts or {}
  local cfg = {}
  for k, v in pairs(DEFAULTS) do cfg[k] = v end
  for k, v in pairs(opts) do cfg[k] = v end

  local node = cfg.node or os.getenv("NODE") or "node"
  if node == "" then node = "node" end
  local script = cfg.script or script_path()
  local out_file, err_file, pid_file = os.tmpname(), os.tmpname(), os.tmpname()

  local args = {
    shquote(node), shquote(script),
    "--port", shquote(cfg.port),
    "--client-id", shquote(cfg.client_id),
    "--client-secret", shquote(cfg.client_secret),
    "--token-ttl", shquote(cfg.token_ttl),
  }
  if cfg.openapi then
    args[#args + 1] = "--openapi"
    args[#args + 1] = shquote(cfg.openapi)
  end
  if cfg.verbose then args[#args + 1] = "--verbose" end
  -- `exec` makes the shell's pid ($$) the pid of node.
  local cmd = "echo $$ > " .. shquote(pid_file) .. "; exec " .. table.concat(args, " ")
    .. " > " .. shquote(out_file) .. " 2> " .. shquote(err_file)

  local pipe, perr = io.popen(cmd, "w")
  if not pipe then
    error("fake.start: cannot spawn node: " .. tostring(perr), 2)
  end

  local self = setmetatable({
    _pipe = pipe,
    _files = { out_file, err_file, pid_file },
    _err_file = err_file,
    _start_cfg = cfg,
    client_id = cfg.client_id,
    client_secret = cfg.client_secret,
  }, Server)

  local deadline = socket.gettime() + cfg.timeout
  local port, pid
  while true do
    pid = pid or tonumber((read_file(pid_file) or ""):match("^(%d+)"))
    port = tonumber((read_file(out_file) or ""):match("^listening (%d+)\n"))
    if port and pid then break end
    local dead = pid and not process_alive(pid)
    if dead or socket.gettime() > deadline then
      self._pid = pid
      self:stop()
      local why = dead and "node exited before listening" or
        ("no 'listening <port>' line within " .. cfg.timeout .. " s")
      error(("fake.start: %s (command: %s)\nnode stderr:\n%s"):format(
        why, cmd, self._stderr or ""), 2)
    end
    socket.sleep(0.02)
  end

  self._pid = pid
  self.pid = pid
  self.port = port
  self.url = "http://127.0.0.1:" .. port
  return self
end

--- Options for scalekit.new pointing at this server.
function Server:env()
  return {
    environment_url = self.url,
    client_id = self.client_id,
    client_secret = self.client_secret,
  }
end

--- Raw HTTP request against the server.
-- opts: headers (table), body (string). Returns status, body, headers.
function Server:http(method, path, opts)
  opts = opts or {}
  local chunks = {}
  local headers = {}
  for k, v in pairs(opts.headers or {}) do headers[k] = v end
  local source
  if opts.body then
    headers["content-length"] = tostring(#opts.body)
    source = ltn12.source.string(opts.body)
  end
  local ok, status, resp_headers = http.request{
    url = self.url .. path,
    method = method,
    headers = headers,
    source = source,
    sink = ltn12.sink.table(chunks),
  }
  if not ok then
    error(("fake: %s %s failed: %s"):format(method, path, tostring(status)), 2)
  end
  return status, table.concat(chunks), resp_headers
end

--- JSON call to the /_fake control API; raises on HTTP errors.
function Server:control(method, path, body)
  if self._stopped then error("fake: server is stopped", 2) end
  local opts = { headers = { accept = "application/json" } }
  if body ~= nil then
    opts.body = cjson.encode(body)
    opts.headers["content-type"] = "application/json"
  end
  local status, text = self:http(method, path, opts)
  if status < 200 or status >= 300 then
    error(("fake: %s %s -> HTTP %s: %s"):format(method, path, tostring(status), text), 2)
  end
  if text == "" then return nil end
  return cjson.decode(text)
end

--- Drop all state, faults, the request log, issued tokens; reset counters
-- and the configuration to the values given to start().
-- Pass { keep_tokens = true } to keep already issued tokens valid.
function Server:reset(opts)
  local r = self:control("POST", "/_fake/reset", opts or {})
  self.client_id = self._start_cfg.client_id
  self.client_secret = self._start_cfg.client_secret
  return r
end

--- Seed organizations, directory users/groups, users, sessions and
-- connected accounts (see spec/fake/README.md); returns
-- { organization_ids = {...}, directory_ids = {...} } plus user_ids,
-- session_ids and connected_account_ids when those were seeded.
function Server:seed(spec)
  return self:control("POST", "/_fake/seed", spec or {})
end

--- Fetch an access token from /oauth/token with the current credentials
-- (for specs that make raw API calls with server:http). Raises on failure.
function Server:token()
  local body = "grant_type=client_credentials&client_id=" .. urlencode(self.client_id)
    .. "&client_secret=" .. urlencode(self.client_secret)
  local status, text = self:http("POST", "/oauth/token", {
    headers = { ["content-type"] = "application/x-www-form-urlencoded" },
    body = body,
  })
  if status ~= 200 then
    error(("fake: POST /oauth/token -> HTTP %s: %s"):format(tostring(status), text), 2)
  end
  return cjson.decode(text).access_token
end

--- Change token_ttl / client_secret / client_id for new token requests.
function Server:config(cfg)
  local r = self:control("POST", "/_fake/config", cfg or {})
  if cfg and cfg.client_id then self.client_id = cfg.client_id end
  if cfg and cfg.client_secret then self.client_secret = cfg.client_secret end
  return r
end

--- Invalidate every issued access token.
function Server:revoke_tokens()
  return self:control("POST", "/_fake/revoke_tokens", {})
end

--- Append one fault (see spec/fake/README.md for the keys).
function Server:fault(f)
  return self:control("POST", "/_fake/faults", { faults = { f } })
end

--- Append several faults at once.
function Server:faults(list)
  return self:control("POST", "/_fake/faults", { faults = list })
end

function Server:clear_faults()
  return self:control("DELETE", "/_fake/faults")
end

--- Logged API requests (everything except /_fake/*), oldest first; with
-- `operation`, only those whose operation (the first document's id where
-- there is one) or operation_id (the published one) is that name.
function Server:requests(operation)
  local all = self:control("GET", "/_fake/requests").requests
  if operation == nil then return all end
  local out = {}
  for _, r in ipairs(all) do
    if r.operation == operation or r.operation_id == operation then out[#out + 1] = r end
  end
  return out
end

function Server:clear_requests()
  return self:control("DELETE", "/_fake/requests")
end

--- { tokens_issued, requests, connections, tcp_connections, faults_applied }
function Server:stats()
  return self:control("GET", "/_fake/stats")
end

--- The passwordless emails the server has "sent", oldest first: { {
-- auth_request_id, email, code, link_token, magic_link, state, template,
-- template_variables, expires_at, sent_at }, ... }.
function Server:passwordless()
  return self:control("GET", "/_fake/passwordless").messages
end

--- The code of the latest passwordless email sent to `email`, or nil.
function Server:passwordless_code(email)
  local messages = self:passwordless()
  for i = #messages, 1, -1 do
    if messages[i].email == email then return messages[i].code end
  end
  return nil
end

--- Terminate node and wait for it to exit. Idempotent.
function Server:stop()
  if self._stopped then return end
  self._stopped = true
  local pid = self._pid
  if pid and process_alive(pid) then
    execute_ok("kill -TERM " .. pid .. " 2>/dev/null")
    local deadline = socket.gettime() + 5
    while process_alive(pid) and socket.gettime() < deadline do
      socket.sleep(0.01)
    end
    if process_alive(pid) then execute_ok("kill -KILL " .. pid .. " 2>/dev/null") end
  end
  -- Closing the pipe also ends node (EOF on its stdin); pclose waits for it.
  if self._pipe then
    pcall(self._pipe.close, self._pipe)
    self._pipe = nil
  end
  self._stderr = read_file(self._err_file)
  for _, f in ipairs(self._files) do os.remove(f) end
end

--- node's stderr so far (or at stop time).
function Server:stderr()
  if self._stopped then return self._stderr end
  return read_file(self._err_file)
end

return M
