-- LuaRocks configuration for building and testing this rock offline on
-- Debian 12, where the dependencies come as Debian packages, not rocks:
--   export LUAROCKS_CONFIG=$PWD/scripts/luarocks-offline.lua
--   luarocks --lua-version=5.4 --tree ./lua_modules make
--   luarocks --lua-version=5.4 --tree ./lua_modules test
-- It stands in for the user's own config only; /etc/luarocks/config-5.x.lua
-- (the interpreter, LUA_INCDIR) still applies. Nothing here names a CPU:
-- LuaRocks finds libcurl and libcrypto in the multiarch lib dir by itself.

-- No network: never look for rocks on a server.
rocks_servers = {}

-- Installed by `make deps` as Debian packages (lua-cjson, lua-busted,
-- lua-socket), for every Lua version; declared so that the rockspec's
-- dependencies and test_dependencies count as met.
rocks_provided = {
   ["lua-cjson"] = "2.1.0-1",
   ["busted"] = "2.1.1-1",
   ["luasocket"] = "3.1.0-1",
}
