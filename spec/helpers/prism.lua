-- Start and stop Prism (npm @stoplight/prism-cli, installed under
-- spec/contract/node_modules by `make test-contract`) from busted specs.
-- Needs LuaSocket; Lua 5.1-5.4 and LuaJIT.
--
--   local prism = require "spec.helpers.prism"
--   local p
--   setup(function() p = prism.start{ mode = "mock" } end)   -- or
--   setup(function() p = prism.start{ mode = "proxy", upstream = fake.url } end)
--   teardown(function() p:stop() end)                       -- always stop
--   ... scalekit.new{ environment_url = p.url, ... } ...
--
-- Both modes run with --errors on 127.0.0.1, on a port the kernel picks
-- (-p 0; the port is read from Prism's "listening on" line), against
-- api/scalekit-openapi.yaml unless opts.document says otherwise.
--
-- How the process is managed: a small shell, started by io.popen(cmd, "w")
-- so that its stdin is a pipe held by this Lua process, starts node in the
-- background, writes node's pid to a file and then waits for EOF on stdin;
-- on EOF it sends SIGTERM to node, waits for it and removes its temporary
-- files. So node also goes away
-- when the test runner crashes or is killed (the pipe closes with it).
-- stop() sends SIGTERM itself, waits (SIGKILL after 5 s), then closes the
-- pipe, which reaps the shell. Prism runs as a single node process (no
-- --multiprocess), so there is nothing else to clean up.

local socket = require "socket"
local process = require "spec.helpers.process"

local M = {}

local shquote, read_file = process.shquote, process.read_file
local execute_ok, process_alive = process.execute_ok, process.alive

local function strip_ansi(s)
  return (s:gsub("\27%[[%d;]*%a", ""))
end

-- Directory holding spec/ (the work tree), from this file's location.
local function tree_root()
  local src = debug.getinfo(1, "S").source
  if src:sub(1, 1) == "@" then
    local dir = src:sub(2):match("^(.*)/spec/helpers/[^/]*$")
    if dir then return dir end
    if src:sub(2):match("^spec/helpers/") then return "." end
  end
  return "."
end

--- Path of the Prism CLI script, or nil and a hint how to install it.
function M.cli_path()
  local env = os.getenv("PRISM_CLI")
  if env and env ~= "" then return env end
  local p = tree_root() .. "/spec/contract/node_modules/@stoplight/prism-cli/dist/index.js"
  if read_file(p) then return p end
  return nil, "Prism is not installed (" .. p .. " is missing): run " ..
    "`make test-contract`, or `npm ci --prefix spec/contract`"
end

--- Prism's version string (e.g. "5.16.0"), from its package.json.
function M.version()
  local cli = M.cli_path()
  local pkg = cli and read_file((cli:gsub("/dist/index%.js$", "/package.json")))
  return pkg and pkg:match('"version"%s*:%s*"([^"]+)"')
end

local Prism = {}
Prism.__index = Prism

--- Start Prism and wait until it listens.
-- opts: mode ("mock" | "proxy", default "mock"), upstream (URL, proxy mode),
-- document (OpenAPI file, default api/scalekit-openapi.yaml), errors
-- (default true: pass --errors), port (default 0: any free port), host
-- (default 127.0.0.1), timeout (seconds to wait for "listening", default 60),
-- node (default $NODE or "node"), args (extra CLI arguments).
function M.start(opts)
  opts = opts or {}
  local mode = opts.mode or "mock"
  if mode ~= "mock" and mode ~= "proxy" then
    error("prism.start: mode must be 'mock' or 'proxy'", 2)
  end
  if mode == "proxy" and type(opts.upstream) ~= "string" then
    error("prism.start: proxy mode needs opts.upstream (a URL)", 2)
  end
  local cli, why = M.cli_path()
  if not cli then error("prism.start: " .. why, 2) end
  local node = opts.node or os.getenv("NODE") or "node"
  if node == "" then node = "node" end
  local host = opts.host or "127.0.0.1"
  local document = opts.document or (tree_root() .. "/api/scalekit-openapi.yaml")
  local timeout = opts.timeout or 60

  local args = { shquote(node), shquote(cli), mode }
  if opts.errors ~= false then args[#args + 1] = "--errors" end
  args[#args + 1] = "-h " .. shquote(host)
  args[#args + 1] = "-p " .. shquote(opts.port or 0)
  for _, a in ipairs(opts.args or {}) do args[#args + 1] = shquote(a) end
  args[#args + 1] = shquote(document)
  if mode == "proxy" then args[#args + 1] = shquote(opts.upstream) end
  local prism_cmd = table.concat(args, " ")

  local out_file, err_file, pid_file = os.tmpname(), os.tmpname(), os.tmpname()
  -- The watchdog shell: node in the background, then wait for EOF on stdin.
  local script = prism_cmd .. " > " .. shquote(out_file) .. " 2> " .. shquote(err_file) ..
    " < /dev/null & echo $! > " .. shquote(pid_file) ..
    "; cat > /dev/null; kill -TERM $! 2>/dev/null; wait; rm -f " ..
    shquote(out_file) .. " " .. shquote(err_file) .. " " .. shquote(pid_file)
  local cmd = "exec sh -c " .. shquote(script)

  local pipe, perr = io.popen(cmd, "w")
  if not pipe then error("prism.start: cannot spawn sh: " .. tostring(perr), 2) end

  local self = setmetatable({
    mode = mode,
    upstream = opts.upstream,
    command = prism_cmd,
    _pipe = pipe,
    _files = { out_file, err_file, pid_file },
    _out_file = out_file,
    _err_file = err_file,
  }, Prism)

  local started = socket.gettime()
  local deadline = started + timeout
  local pid, port
  while true do
    pid = pid or tonumber((read_file(pid_file) or ""):match("^(%d+)"))
    local out = strip_ansi(read_file(out_file) or "")
    port = tonumber(out:match("Prism is listening on https?://[^%s]-:(%d+)"))
    if port and pid then break end
    local dead = pid and not process_alive(pid)
    if dead or socket.gettime() > deadline then
      self._pid = pid
      self:stop()
      error(("prism.start: %s\ncommand: %s\nstdout:\n%s\nstderr:\n%s"):format(
        dead and "Prism exited before listening" or
          ("no 'Prism is listening' line within " .. timeout .. " s"),
        prism_cmd, self._stdout or "", self._stderr or ""), 2)
    end
    socket.sleep(0.05)
  end

  self._pid = pid
  self.pid = pid
  self.port = port
  self.host = host
  self.url = "http://" .. host .. ":" .. port
  self.startup_seconds = socket.gettime() - started
  return self
end

--- Prism's log (stdout, ANSI colours removed) so far, or from a mark on.
function Prism:log(mark)
  local s = self._stopped and self._stdout or read_file(self._out_file, mark)
  if self._stopped and mark and s then s = s:sub(mark + 1) end
  return strip_ansi(s or "")
end

--- A position in the log, for log(mark): what was logged after it.
function Prism:mark()
  if self._stopped then return #(self._stdout or "") end
  local f = io.open(self._out_file, "rb")
  if not f then return 0 end
  local size = f:seek("end")
  f:close()
  return size
end

--- Whether a log line reports a problem: Prism logs violations and failed
-- requests at level warning or error ("[VALIDATOR] ✖  error     Request body
-- must have ..."; the level is padded, then the message). Not problems: the
-- start-up route list ([CLI]), which shows made-up path parameter values
-- (words like "error"), and the mock's response negotiation warnings
-- ([NEGOTIATOR] "Unable to find content for application/json" when a 204
-- has no body for the Accept header): they say nothing about the contract.
function M.is_problem(line)
  if line:find("[CLI]", 1, true) then return false end
  local l = line:lower()
  if l:find("%s(error)%s%s+%S") or l:find("%s(fatal)%s%s+%S") then return true end
  return l:find("%s(warning)%s%s+%S") ~= nil and not line:find("[NEGOTIATOR]", 1, true)
end

--- Log lines reporting validation problems (violations, errors) after mark,
-- without their time stamps.
function Prism:violations(mark)
  local found = {}
  for line in self:log(mark):gmatch("[^\n]+") do
    if M.is_problem(line) then found[#found + 1] = (line:gsub("^%[[^%]]*%]%s*", "")) end
  end
  return found
end

function Prism:stderr()
  if self._stopped then return self._stderr end
  return read_file(self._err_file)
end

--- Terminate Prism and wait for it to exit. Idempotent.
function Prism:stop()
  if self._stopped then return end
  self._stopped = true
  local pid = self._pid
  if pid and process_alive(pid) then
    execute_ok("kill -TERM " .. pid .. " 2>/dev/null")
    local deadline = socket.gettime() + 5
    while process_alive(pid) and socket.gettime() < deadline do socket.sleep(0.02) end
    if process_alive(pid) then
      execute_ok("kill -KILL " .. pid .. " 2>/dev/null")
      deadline = socket.gettime() + 5
      while process_alive(pid) and socket.gettime() < deadline do socket.sleep(0.02) end
    end
  end
  self._stdout = strip_ansi(read_file(self._out_file) or "")
  self._stderr = read_file(self._err_file)
  -- EOF for the watchdog shell; node is gone, so its kill/wait return at
  -- once, and it removes the temporary files (again below, in case).
  if self._pipe then
    pcall(self._pipe.close, self._pipe)
    self._pipe = nil
  end
  for _, f in ipairs(self._files) do os.remove(f) end
end

return M
