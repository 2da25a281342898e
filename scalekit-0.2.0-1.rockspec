rockspec_format = "3.0"
package = "scalekit"
version = "0.2.0-1"

source = {
   url = "git+https://github.com/scalekit-lua/scalekit-lua",
   tag = "v0.2.0",
}

description = {
   summary = "Scalekit API client for Lua (C module on libcurl)",
   detailed = [[
      A client for the Scalekit API: a C core built on libcurl, with JSON
      decoded through lua-cjson, and a Lua layer on top (require "scalekit").
   ]],
   homepage = "https://github.com/scalekit-lua/scalekit-lua",
   license = "MIT",
   labels = { "scalekit", "sso", "scim", "http", "libcurl" },
}

dependencies = {
   "lua >= 5.1, < 5.5",
   "lua-cjson >= 2.1.0",
}

-- Only the libraries are looked up: Debian keeps curl/curl.h in the multiarch
-- include dir (/usr/include/<triplet>), which the compiler searches by itself
-- but LuaRocks does not, so a header test would fail there for no reason.
external_dependencies = {
   CURL = { library = "curl" },
   OPENSSL = { library = "crypto" },
}

-- `make lint` checks (scripts/check_rockspec.lua) that these lists name
-- exactly lua/scalekit/*.lua and src/*.c.
build = {
   type = "builtin",
   modules = {
      ["scalekit"] = "lua/scalekit/init.lua",
      ["scalekit.auth"] = "lua/scalekit/auth.lua",
      ["scalekit.iterate"] = "lua/scalekit/iterate.lua",
      ["scalekit.jwt"] = "lua/scalekit/jwt.lua",
      ["scalekit.nginx"] = "lua/scalekit/nginx.lua",
      ["scalekit.nginx_thread"] = "lua/scalekit/nginx_thread.lua",
      ["scalekit.webhooks"] = "lua/scalekit/webhooks.lua",
      ["scalekit.core"] = {
         sources = {
            "src/api.c",
            "src/batch.c",
            "src/buf.c",
            "src/call.c",
            "src/catalog.c",
            "src/client.c",
            "src/compat.c",
            "src/core.c",
            "src/crypto.c",
            "src/driver.c",
            "src/error.c",
            "src/exchange.c",
            "src/headers.c",
            "src/json.c",
            "src/jwt.c",
            "src/mask.c",
            "src/operations.c",
            "src/request.c",
            "src/resource.c",
            "src/transport.c",
            "src/url.c",
            "src/util.c",
         },
         libraries = { "curl", "crypto" },
         incdirs = { "$(CURL_INCDIR)", "$(OPENSSL_INCDIR)" },
         libdirs = { "$(CURL_LIBDIR)", "$(OPENSSL_LIBDIR)" },
      },
   },
}

-- `luarocks test` runs the busted suite against the rock installed in the
-- tree it is given (scripts/test_rock.lua); the specs also need LuaSocket
-- and node (for the fake server, spec/fake/server.js).
test_dependencies = {
   "busted >= 2.0",
   "luasocket >= 3.0",
}

test = {
   type = "command",
   script = "scripts/test_rock.lua",
}
