-- The data that `make demo`, `make examples` and spec/50-readme_spec.lua put
-- into the fake server (spec/fake/server.js) before running examples and
-- README snippets: three organizations whose SCIM directories hold users and
-- groups (the fake fills the directory of the first organization of each
-- seed call), and two connected Gmail accounts.
--   local demo = dofile("scripts/demo_data.lua")
--   demo.seed(post)   -- post(body) sends one POST /_fake/seed, returns the decoded answer
local demo = {}

demo.seeds = {
  { organizations = 1, directory_users = 120, directory_groups = 3 },
  { organizations = 1, directory_users = 40, directory_groups = 2 },
  { organizations = 1, directory_users = 5, directory_groups = 1, connected_accounts = 2 },
}

-- Seeds everything through post; returns the variables the examples read
-- (see their headers), named after what they hold.
function demo.seed(post)
  local results = {}
  for i, body in ipairs(demo.seeds) do results[i] = post(body) end
  return {
    SCALEKIT_DEMO_ORG_ID = results[1].organization_ids[1],
    SCALEKIT_DEMO_DIRECTORY_ID = results[1].directory_ids[1],
  }
end

-- For scripts/demo.sh: seeds the fake at url with LuaSocket and prints the
-- variables as NAME=value lines.
function demo.seed_over_http(url)
  local http = require "socket.http"
  local ltn12 = require "ltn12"
  local cjson = require "cjson"
  local env = demo.seed(function(body)
    local text = cjson.encode(body)
    local chunks = {}
    local ok, status = http.request {
      url = url .. "/_fake/seed",
      method = "POST",
      headers = { ["content-type"] = "application/json", ["content-length"] = tostring(#text) },
      source = ltn12.source.string(text),
      sink = ltn12.sink.table(chunks),
    }
    if not ok or status ~= 200 then
      error(("demo: POST %s/_fake/seed failed: %s %s"):format(url, tostring(status), table.concat(chunks)), 0)
    end
    return cjson.decode(table.concat(chunks))
  end)
  local names = {}
  for name in pairs(env) do names[#names + 1] = name end
  table.sort(names)
  for _, name in ipairs(names) do print(name .. "=" .. env[name]) end
end

return demo
