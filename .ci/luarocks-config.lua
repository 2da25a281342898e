-- LuaRocks config for offline `luarocks make` (CI and `make check-luarocks`):
--   LUAROCKS_CONFIG=.ci/luarocks-config.lua luarocks --tree DIR make scalekit-0.1.0-1.rockspec
-- It replaces the user config only; /etc/luarocks/config-5.x.lua still applies.

-- No network: never look for rocks on a server.
rocks_servers = {}

-- Debian's lua-cjson package is installed system-wide (cjson.so for every Lua
-- version) but is not a rock; declare it so the dependency is satisfied.
rocks_provided = {
   ["lua-cjson"] = "2.1.0-1",
}

-- Debian's multiarch locations for curl, which LuaRocks' defaults miss
-- (a CURL_INCDIR=... on the command line still wins).
variables = {
   CURL_INCDIR = "/usr/include/x86_64-linux-gnu",
   CURL_LIBDIR = "/usr/lib/x86_64-linux-gnu",
}
