-- Error positions for specs that check where an error points:
--
--   local position = require "spec.helpers.position"
--   local where, err = position.here(), position.raised(function() sk.organizations:get(42) end)
--   assert.equal(where .. ": organizations:get: ...", err)
--
-- Written on one line, `where` is the line the call inside fn is on.
local assert = require "luassert"

local position = {}

--- "file:line" of the line that called here(), as error positions show it.
function position.here()
  local info = debug.getinfo(2, "Sl")
  return info.short_src .. ":" .. info.currentline
end

--- fn must raise a string; returns it.
function position.raised(fn)
  local ok, err = pcall(fn)
  assert.is_false(ok, "expected an error")
  assert.are.equal("string", type(err), "raised a " .. type(err) .. ": " .. tostring(err))
  return err
end

return position
