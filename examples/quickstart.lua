-- Quick start: create an organization, page through organizations, walk a
-- directory's users. Reads SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID and
-- SCALEKIT_CLIENT_SECRET (`make demo` points them at the bundled fake).
local scalekit = require "scalekit"

local sk = scalekit.new()

local org = assert(sk.organizations:create { display_name = "Acme", external_id = "acme-1" })
print(("created organization %s (%s)"):format(org.id, org.display_name))

for o in sk.organizations:each { page_size = 50 } do
  print(("  organization %s  %s"):format(o.id, o.display_name))
end

local directories = assert(sk.directories:list(org.id))
for _, dir in ipairs(directories.directories) do
  local n = 0
  for user in sk.directories:each_user(org.id, dir.id, { page_size = 100 }) do
    n = n + 1
    if n <= 3 then print("  user " .. user.email) end
  end
  print(("directory %s: %d users"):format(dir.id, n))
end

local ok, err = sk.organizations:get("org_does_not_exist")
if not ok then print("expected failure: " .. tostring(err)) end

assert(sk.organizations:delete(org.id))
print("deleted " .. org.id)
sk:close()
