-- Quick start: every organization with the users of its SCIM directories,
-- then create and delete one, and a failure as a value. Reads
-- SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID and SCALEKIT_CLIENT_SECRET
-- (`make demo` points them at the bundled fake server, with data).
local scalekit = require "scalekit"

local sk = scalekit.new()

-- Iterators fetch the next page when the loop needs it.
for org in sk.organizations:each { page_size = 50 } do
  print(("organization %s  %s"):format(org.id, org.display_name))
  local directories = assert(sk.directories:list(org.id))
  for _, dir in ipairs(directories.directories or {}) do
    local n = 0
    for user in sk.directories:each_user(org.id, dir.id, { page_size = 100 }) do
      n = n + 1
      if n <= 2 then print("  user " .. user.email) end
    end
    print(("  directory %s: %d users"):format(dir.id, n))
  end
end

local org = assert(sk.organizations:create { display_name = "Acme", external_id = "acme-1" })
print(("created organization %s (%s)"):format(org.id, org.display_name))
assert(sk.organizations:delete(org.id))
print("deleted " .. org.id)

-- Runtime failures return nil and an error object (status, code, message, request_id, ...).
local missing, err = sk.organizations:get("org_does_not_exist")
if not missing then print("expected failure: " .. tostring(err)) end
sk:close()
