--- Fails when the #include graph of src/ has a cycle: files are layered,
-- and an include only ever points down (README, "Source layout").
--   lua5.4 scripts/check_includes.lua src
local dir = arg[1] or "src"

local edges, files = {}, {}
local listing = assert(io.popen("ls " .. dir))
for name in listing:lines() do
  if name:match("%.[ch]$") then files[#files + 1] = name end
end
listing:close()

for _, name in ipairs(files) do
  -- a .c file and its own header are one unit
  local unit = name:gsub("%.[ch]$", "")
  edges[unit] = edges[unit] or {}
  for line in io.lines(dir .. "/" .. name) do
    local included = line:match('^#include "([%w_]+)%.h"')
    if included and included ~= unit then edges[unit][included] = true end
  end
end

local state, stack = {}, {}
local function visit(unit)
  if state[unit] == "done" then return end
  if state[unit] == "open" then
    local cycle, at = {}, #stack
    while stack[at] ~= unit do
      table.insert(cycle, 1, stack[at])
      at = at - 1
    end
    table.insert(cycle, 1, unit)
    io.stderr:write("check_includes: cycle ", table.concat(cycle, " -> "), " -> ", unit, "\n")
    os.exit(1)
  end
  state[unit] = "open"
  stack[#stack + 1] = unit
  for next_unit in pairs(edges[unit] or {}) do visit(next_unit) end
  stack[#stack] = nil
  state[unit] = "done"
end

for unit in pairs(edges) do visit(unit) end
print(("check_includes: %d files, no include cycle"):format(#files))
