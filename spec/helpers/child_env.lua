-- child.run (spec/helpers/child.lua) with environment variables set or
-- removed for the child, for settings read from the environment
-- (SCALEKIT_*, http_proxy, ...), and optionally its stderr apart:
--
--   local child_env = require "spec.helpers.child_env"
--   local run = child_env.run(code, { set = { SCALEKIT_DEBUG = "1" },
--                                     unset = { "SCALEKIT_CLIENT_ID" },
--                                     stderr = true, env = {...} })
--   run.stderr   -- with stderr = true: what the child wrote there (else
--                -- it is in run.output, as with child.run)
--
-- The other options and the result are child.run's. The words put in
-- front of the interpreter run between child.run's time limit and it.
local child = require "spec.helpers.child"
local process = require "spec.helpers.process"

local child_env = {}

function child_env.run(code, opts)
  local shquote = process.shquote
  local words = {}
  local stderr_file = opts.stderr and os.tmpname()
  if stderr_file then
    -- sh runs the rest of the command line ("$@": env, the interpreter,
    -- child.run's script) with stderr sent to the file
    words[#words + 1] = "sh -c " .. shquote('exec "$@" 2>' .. shquote(stderr_file)) .. " sh"
  end
  words[#words + 1] = "env"
  for _, name in ipairs(opts.unset or {}) do words[#words + 1] = "-u " .. shquote(name) end
  for name, value in pairs(opts.set or {}) do words[#words + 1] = shquote(name .. "=" .. value) end
  words[#words + 1] = child.lua
  local interpreter = child.lua
  child.lua = table.concat(words, " ")
  local ok, run = pcall(child.run, code, opts)
  child.lua = interpreter
  if stderr_file then
    if ok then run.stderr = process.read_file(stderr_file) or "" end
    os.remove(stderr_file)
  end
  if not ok then error(run, 0) end
  return run
end

return child_env
