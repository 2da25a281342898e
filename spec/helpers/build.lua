-- busted helper of the default run (.busted): plain `busted` in the project
-- root builds scalekit/core.so for the interpreter it runs on before the
-- specs load it, so it never tests a stale or missing build. Under make
-- (`make test` and friends build first) it does nothing.
if os.getenv("MAKELEVEL") then return end

-- make prints nothing when the build is up to date, the compiler lines otherwise.
local version = jit and "luajit" or _VERSION:match("%d+%.%d+")
local make = "make --no-print-directory all LUA_VERSION=" .. version
local status = os.execute(make .. " >&2")
if status ~= true and status ~= 0 then
  error("spec/helpers/build.lua: `" .. make .. "` failed; see the lines above", 0)
end
