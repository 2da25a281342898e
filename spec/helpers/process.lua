-- Shell and process plumbing shared by the spec helpers (fake server,
-- Prism, nginx) and the specs that run child interpreters. Lua 5.1-5.4
-- and LuaJIT.
local process = {}

-- s quoted for /bin/sh.
function process.shquote(s)
  return "'" .. (tostring(s):gsub("'", "'\\''")) .. "'"
end

-- The file's contents from offset (default 0), or nil if it cannot be read.
function process.read_file(path, offset)
  local f = io.open(path, "rb")
  if not f then return nil end
  if offset and offset > 0 then f:seek("set", offset) end
  local s = f:read("*a")
  f:close()
  return s
end

-- os.execute returns a number in 5.1 and true/nil in 5.2+.
function process.execute_ok(cmd)
  local r = os.execute(cmd)
  return r == true or r == 0
end

-- A process that has exited but not been reaped yet (zombie) counts as dead.
function process.alive(pid)
  local stat = process.read_file("/proc/" .. pid .. "/stat")
  if stat then return stat:match("%)%s+(%a)") ~= "Z" end
  if process.execute_ok("test -d /proc/self") then return false end -- /proc works: gone
  return process.execute_ok("kill -0 " .. pid .. " 2>/dev/null")
end

-- Runs a shell command; returns its combined output and exit code (echoed
-- by the shell: 5.1's popen close does not report it).
function process.run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"<exit $?>\""))
  local out = p:read("*a")
  p:close()
  return (out:gsub("<exit %d+>%s*$", "")), tonumber(out:match("<exit (%d+)>%s*$"))
end

return process
