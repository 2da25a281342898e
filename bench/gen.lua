-- Writes the canned Scalekit responses and nginx.conf for the benchmark
-- server into a work directory:
--   lua5.4 bench/gen.lua <workdir> <port> <pages>
-- <workdir>/www/org.json           getOrganization (~300 bytes)
-- <workdir>/www/token.json         createToken
-- <workdir>/www/users/first.json   listDirectoryUsers, no page_token
-- <workdir>/www/users/p<k>.json    the page after token p<k>; the last one
--                                  (k = pages - 1) has an empty next_page_token
-- Every users page holds the same 100 users (~18 KB); only the token differs,
-- so the files are written from one prefix and one suffix.
-- <workdir>/nginx.conf             bench/nginx.conf.in with @VARS@ filled in
local cjson = require "cjson"

local workdir, port, pages = arg[1], tonumber(arg[2]), tonumber(arg[3] or 1000)
assert(workdir and port and pages and pages >= 1, "usage: gen.lua <workdir> <port> <pages>")
local here = arg[0]:match("^(.*)/[^/]*$") or "."

local function write(path, s)
  local f = assert(io.open(path, "wb"))
  assert(f:write(s))
  assert(f:close())
end

-- Field order matters for the byte count only; build the JSON by hand so
-- it is stable and looks like the API's output.
local org = '{"organization":{"id":"org_59615193906282635","display_name":"Megasoft Inc",'
  .. '"external_id":"tenant-7f3a9c21","region_code":"US","create_time":"2024-05-14T09:26:53.318Z",'
  .. '"update_time":"2025-01-30T17:02:11.904Z","metadata":{"plan":"pro"},'
  .. '"settings":{"features":[{"name":"sso","enabled":true},{"name":"dir_sync","enabled":true}]}}}'
assert(cjson.decode(org))

local token = cjson.encode { access_token = string.rep("t", 40) .. ".bench.token", token_type = "Bearer",
  expires_in = 86399, scope = "" }

local users = {}
for i = 1, 100 do
  local n = string.format("%06d", 48000 + i)
  users[i] = string.format('{"id":"diru_6195%s","email":"j.doe%s@megasoft.example",'
    .. '"preferred_username":"j.doe%s","given_name":"Jane","family_name":"Doe%s",'
    .. '"active":true,"roles":["member"]}', n, n, n, n)
end
local prefix = '{"users":[' .. table.concat(users, ",") .. '],"next_page_token":"'
local function page(next_token)
  return prefix .. next_token .. '","total_size":' .. (pages * 100) .. '}'
end
assert(#cjson.decode(page("p1")).users == 100)

os.execute("mkdir -p '" .. workdir .. "/www/users' '" .. workdir .. "/logs' '" .. workdir .. "/tmp'")
write(workdir .. "/www/org.json", org)
write(workdir .. "/www/token.json", token)
write(workdir .. "/www/users/first.json", page(pages > 1 and "p1" or ""))
for k = 1, pages - 1 do
  write(workdir .. "/www/users/p" .. k .. ".json", page(k + 1 < pages and ("p" .. (k + 1)) or ""))
end

local f = assert(io.open(here .. "/nginx.conf.in", "rb"))
local conf = f:read("a")
f:close()
local vars = { WORKDIR = workdir, PORT = tostring(port), TOKEN = token,
  MODULES = os.getenv("NGINX_MODULES") or "/usr/lib/nginx/modules" }
conf = conf:gsub("@(%u+)@", function(k) return assert(vars[k], "unknown template variable " .. k) end)
write(workdir .. "/nginx.conf", conf)
io.write(string.format("gen: org %d bytes, users page %d bytes, %d pages\n", #org, #page("p1"), pages))
