-- Directory sync: walk every user and group of every SCIM directory of an
-- organization, one page in memory at a time.
-- usage: lua5.4 examples/directory_sync.lua [organization_id]
-- The organization defaults to $SCALEKIT_DEMO_ORG_ID, which `make demo` and
-- `make examples` set to a seeded organization.
local scalekit = require "scalekit"

local organization_id = arg[1] or os.getenv("SCALEKIT_DEMO_ORG_ID")
if not organization_id then error("usage: directory_sync.lua <organization_id>", 0) end
local sk = scalekit.new()

local directories = assert(sk.directories:list(organization_id))
for _, dir in ipairs(directories.directories or {}) do
  local users, active = 0, 0
  -- a failed page raises: wrap the walk to report it and go on
  local ok, err = pcall(function()
    -- include_detail: each user carries its SCIM attributes (user_detail), `active` among them
    for user in sk.directories:each_user(organization_id, dir.id, { page_size = 100, include_detail = true }) do
      users = users + 1
      if user.user_detail and user.user_detail.active then active = active + 1 end
    end
  end)
  if not ok and not scalekit.is_error(err) then error(err, 0) end -- a bug, not a failed page
  if not ok then
    print(("directory %s: stopped after %d users: %s"):format(dir.id, users, tostring(err)))
  else
    local groups = 0
    for _ in sk.directories:each_group(organization_id, dir.id) do groups = groups + 1 end
    print(("directory %s: %d users (%d active), %d groups"):format(dir.id, users, active, groups))
  end
end
sk:close()
