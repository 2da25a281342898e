package = "scalekit"
version = "0.1.0-1"

source = {
   url = "git+https://github.com/scalekit-lua/scalekit-lua",
   tag = "v0.1.0",
}

description = {
   summary = "Scalekit API client for Lua (C module on libcurl)",
   detailed = [[
      A client for the Scalekit API: a C core built on libcurl, with JSON
      decoded through lua-cjson, and a Lua layer on top (require "scalekit").
   ]],
   homepage = "https://github.com/scalekit-lua/scalekit-lua",
   license = "MIT",
}

dependencies = {
   "lua >= 5.1, < 5.5",
   "lua-cjson >= 2.1.0",
}

-- Debian keeps curl/curl.h under /usr/include/x86_64-linux-gnu, which LuaRocks
-- does not search: there, pass CURL_INCDIR=/usr/include/x86_64-linux-gnu.
external_dependencies = {
   CURL = {
      header = "curl/curl.h",
      library = "curl",
   },
}

build = {
   type = "make",
   -- Given to both the build and the install pass: `make install` depends on
   -- the build, and the Makefile rebuilds whenever the compile flags differ.
   -- BUILD_DIR keeps LuaRocks' objects apart from the work tree's build/<ver>.
   variables = {
      CFLAGS = "$(CFLAGS)",
      LIBFLAG = "$(LIBFLAG)",
      LUA_INCDIR = "$(LUA_INCDIR)",
      CURL_INCDIR = "$(CURL_INCDIR)",
      CURL_LIBDIR = "$(CURL_LIBDIR)",
      BUILD_DIR = "build/luarocks",
   },
   install_variables = {
      INST_LUADIR = "$(LUADIR)",
      INST_LIBDIR = "$(LIBDIR)",
   },
}
