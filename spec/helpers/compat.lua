-- What the specs need to run unchanged on Lua 5.1, LuaJIT, 5.3 and 5.4.
local compat = {}

-- math.type where it exists; on 5.1/LuaJIT (no integer subtype) a number
-- with an integral value counts as "integer".
function compat.number_type(x)
  if math.type then return math.type(x) end
  if type(x) ~= "number" then return nil end
  return x == math.floor(x) and "integer" or "float"
end

return compat
