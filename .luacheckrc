-- luacheck configuration
std = "max"
globals = {}

-- Specs run under busted, which provides describe/it/assert/spy/... globals.
files["spec"] = { std = "+busted" }

exclude_files = { "build/", "lua_modules/", ".luarocks/", "node_modules/" }
