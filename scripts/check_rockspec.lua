-- `make lint`: the rockspec's module and source lists must name exactly the
-- files there are, so that no module goes missing from the rock when a file
-- is added, renamed or removed: lua/scalekit/init.lua as `scalekit`, every
-- other lua/scalekit/<name>.lua as `scalekit.<name>`, and every src/*.c
-- (no more, no fewer) among the sources of `scalekit.core`.
-- usage: lua scripts/check_rockspec.lua <rockspec>   (from the project root)
local rockspec_path = assert(arg[1], "usage: check_rockspec.lua <rockspec>")

-- A rockspec is Lua that sets globals; run it with an empty environment.
local function load_rockspec(path)
  local env = {}
  local chunk, err
  if setfenv then
    chunk, err = loadfile(path)
    if chunk then setfenv(chunk, env) end
  else
    chunk, err = loadfile(path, "t", env)
  end
  if not chunk then error(err, 0) end
  chunk()
  return env
end

-- File names in dir matching pattern, sorted.
local function list(dir, pattern)
  local names = {}
  local ls = assert(io.popen("ls -1 " .. dir))
  for name in ls:lines() do
    if name:match(pattern) then names[#names + 1] = dir .. "/" .. name end
  end
  ls:close()
  table.sort(names)
  return names
end

local function set_of(items)
  local set = {}
  for _, item in ipairs(items) do set[item] = true end
  return set
end

local problems = {}
local function problem(fmt, ...) problems[#problems + 1] = fmt:format(...) end

-- Entries of `have` missing from `want`, and of `want` missing from `have`.
local function compare(what, have, want)
  local have_set, want_set = set_of(have), set_of(want)
  for _, item in ipairs(want) do
    if not have_set[item] then problem("%s: missing %s", what, item) end
  end
  for _, item in ipairs(have) do
    if not want_set[item] then problem("%s: lists %s, which does not exist", what, item) end
  end
end

local spec = load_rockspec(rockspec_path)
local modules = (spec.build or {}).modules or {}

-- Lua modules: name -> file, as LuaRocks would install them.
local listed, expected = {}, {}
for name, file in pairs(modules) do
  if type(file) == "string" then listed[#listed + 1] = name .. " = " .. file end
end
for _, file in ipairs(list("lua/scalekit", "%.lua$")) do
  local base = file:match("([^/]+)%.lua$")
  local name = base == "init" and "scalekit" or "scalekit." .. base
  expected[#expected + 1] = name .. " = " .. file
end
table.sort(listed)
compare("build.modules (Lua)", listed, expected)

-- The C module.
local core = modules["scalekit.core"]
if type(core) ~= "table" or type(core.sources) ~= "table" then
  problem("build.modules: no scalekit.core = { sources = {...} }")
else
  local sources = {}
  for i, file in ipairs(core.sources) do sources[i] = file end
  table.sort(sources)
  compare("scalekit.core sources", sources, list("src", "%.c$"))
end

if #problems > 0 then
  io.stderr:write(rockspec_path, " is out of date:\n  ", table.concat(problems, "\n  "), "\n")
  os.exit(1)
end
print(rockspec_path .. ": module and source lists match lua/scalekit/*.lua and src/*.c")
