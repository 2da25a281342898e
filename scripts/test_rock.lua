-- `luarocks test` (the rockspec's test section): runs the busted suite
-- against the scalekit rock installed in the LuaRocks tree, not against the
-- work tree's lua/ and build/. LuaRocks starts this script with the tree's
-- Lua interpreter but tells it nothing about the tree, so the tree comes
-- from $SCALEKIT_ROCK_TREE, else from the `--tree` of the luarocks command
-- that started it (read from /proc), else the project tree ./lua_modules.
-- Arguments are busted's (`luarocks test -- --filter=...`).
local LUA_VERSION = _VERSION:match("%d+%.%d+")

local function read_file(path)
  local f = io.open(path, "rb")
  if not f then return nil end
  local s = f:read("*a")
  f:close()
  return s
end

local function is_dir(path)
  local f = io.open(path .. "/.", "rb")
  if f then f:close() end
  return f ~= nil
end

-- The value of --tree (or --project-tree) in an argv, or nil.
local function tree_in_argv(argv)
  for i, word in ipairs(argv) do
    local value = word:match("^%-%-tree=(.+)$") or word:match("^%-%-project%-tree=(.+)$")
    if value then return value end
    if (word == "--tree" or word == "--project-tree") and argv[i + 1] then return argv[i + 1] end
  end
  return nil
end

-- Linux: walks up the parent processes (a few: sh, luarocks) for the
-- luarocks command line. Its working directory is this one, so a relative
-- tree resolves the same here.
local function tree_of_luarocks()
  local pid = "self"
  for _ = 1, 6 do
    local stat = read_file("/proc/" .. pid .. "/stat")
    pid = stat and stat:match("^%d+ %b() %S+ (%d+)")
    if not pid or pid == "0" or pid == "1" then return nil end
    local cmdline = read_file("/proc/" .. pid .. "/cmdline") or ""
    local argv = {}
    for word in cmdline:gmatch("([^%z]*)%z") do argv[#argv + 1] = word end
    local is_luarocks = false
    for i = 1, math.min(#argv, 3) do
      if argv[i]:match("luarocks[^/]*$") then is_luarocks = true end
    end
    if is_luarocks then return tree_in_argv(argv) end
  end
  return nil
end

local tree = os.getenv("SCALEKIT_ROCK_TREE")
if not tree or tree == "" then tree = tree_of_luarocks() or "lua_modules" end
if not tree:match("^/") then
  local pwd = io.popen("pwd")
  tree = pwd:read("*l") .. "/" .. tree
  pwd:close()
end

local lua_dir = tree .. "/share/lua/" .. LUA_VERSION
local lib_dir = tree .. "/lib/lua/" .. LUA_VERSION
if not is_dir(lua_dir .. "/scalekit") then
  io.stderr:write(("test_rock: no scalekit rock in %s (install it first: luarocks --tree %s make;"
    .. " or set SCALEKIT_ROCK_TREE)\n"):format(tree, tree))
  os.exit(1)
end

-- The tree first, then the system's modules (busted, LuaSocket, lua-cjson);
-- ./?.lua for the spec helpers. Never lua/ or build/ of the work tree.
package.path = table.concat({ lua_dir .. "/?.lua", lua_dir .. "/?/init.lua", package.path }, ";")
package.cpath = lib_dir .. "/?.so;" .. package.cpath
local found = package.searchpath("scalekit", package.path)
local core = package.searchpath("scalekit.core", package.cpath)
if not (found and found:find(tree, 1, true) == 1 and core and core:find(tree, 1, true) == 1) then
  io.stderr:write("test_rock: scalekit does not resolve into " .. tree .. "\n")
  os.exit(1)
end
print(("test_rock: testing %s and %s"):format(found, core))

-- busted in this process: child interpreters the specs start inherit these
-- paths through package.path. The `rock` run of .busted adds no work-tree paths.
local interpreter = arg[-1]
local args = { [-1] = interpreter, [0] = "busted", "--run=rock" }
for i = 1, #arg do args[#args + 1] = arg[i] end
_G.arg = args
require("busted.runner")({ standalone = false })
