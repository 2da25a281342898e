-- Directory sync: walk every user and group of every SCIM directory of an
-- organization, one page in memory at a time.
-- usage: lua5.4 examples/directory_sync.lua <organization_id>
local scalekit = require "scalekit"

local organization_id = assert(arg[1], "usage: directory_sync.lua <organization_id>")
local sk = scalekit.new()

local directories = assert(sk.directories:list(organization_id))
for _, dir in ipairs(directories.directories or {}) do
  local users, active = 0, 0
  -- a failed page raises: wrap the walk to report it and go on
  local ok, err = pcall(function()
    for user in sk.directories:each_user(organization_id, dir.id, { page_size = 100 }) do
      users = users + 1
      if user.active then active = active + 1 end
    end
  end)
  if not ok then
    print(("directory %s: stopped after %d users: %s"):format(dir.id, users, tostring(err)))
  else
    local groups = 0
    for _ in sk.directories:each_group(organization_id, dir.id) do groups = groups + 1 end
    print(("directory %s: %d users (%d active), %d groups"):format(dir.id, users, active, groups))
  end
end
sk:close()
