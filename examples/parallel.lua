-- Many calls at once: fetch a list of organizations over one pool of
-- connections; values and errors come back in the order asked.
-- usage: lua5.4 examples/parallel.lua [organization_id ...]
-- Without ids it fetches every organization the list returns.
local scalekit = require "scalekit"

local sk = scalekit.new()
local calls = {}
for i, id in ipairs(arg) do calls[i] = { "getOrganization", { id = id } } end
if #calls == 0 then
  for org in sk.organizations:each { page_size = 100 } do
    calls[#calls + 1] = { "getOrganization", { id = org.id } }
  end
end

local values, errors = sk:parallel(calls, { concurrency = 16 })
for i = 1, #calls do
  if values[i] then
    print(("%-12s %s"):format(values[i].id, values[i].display_name))
  else
    print(("%-12s %s"):format(calls[i][2].id, tostring(errors[i])))
  end
end
sk:close()
