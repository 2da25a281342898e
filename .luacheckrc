-- luacheck configuration
std = "max"
globals = {}

-- Specs run under busted, which provides describe/it/assert/spy/... globals;
-- their request/response literals read better unbroken.
files["spec"] = { std = "+busted", max_line_length = 140 }
files["fuzz"] = { max_line_length = 140 }

exclude_files = { "build/", "lua_modules/", ".luarocks/", "node_modules/" }
