-- The fake-server fixture most spec files share: one fake server per
-- describe block, reset before every test, stopped after the block, and
-- optionally a client on it. Registers the busted hooks itself, so a spec
-- file names only what differs:
--
--   local fixture = require "spec.helpers.fixture"
--   describe("organizations", function()
--     local server, sk
--     fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)
--
-- opts:
--   server    options for fake.start (e.g. { client_secret = SECRET })
--   client    nil: no client; "shared": one client for the whole block,
--             made in setup (the server then resets with keep_tokens, so its
--             cached token stays valid and the log holds only the test's
--             requests); "each": a new client before every test, closed after it
--   settings  extra settings for the client (over server:env())
--   fast      true: the client also gets util.FAST's short retry delays
--   token     true: the client holds its access token before each test
--             (fetched, then the log cleared, so it holds only the test's
--             requests)
-- bind(server, client) is called whenever they change (after setup, and
-- before each test with client = "each"), for the spec's own locals.
local busted = require "busted"
local scalekit = require "scalekit"
local fake = require "spec.helpers.fake"
local process = require "spec.helpers.process"
local util = require "spec.helpers.util"

local fixture = {}

-- The interpreter running the specs (busted's arg[-1]), for child scripts.
local LUA = arg and arg[-1] or "lua5.4"

local CLIENT_MODES = { shared = true, each = true }

function fixture.fake(opts, bind)
  opts = opts or {}
  bind = bind or function() end
  if opts.client ~= nil and not CLIENT_MODES[opts.client] then
    error("fixture.fake: client must be nil, 'shared' or 'each'", 2)
  end
  if opts.token and opts.client == nil then
    error("fixture.fake: token needs a client", 2)
  end
  local server, client

  local function new_client()
    return scalekit.new(util.merge(server:env(), opts.fast and util.FAST or {}, opts.settings or {}))
  end

  busted.setup(function()
    server = fake.start(opts.server or {})
    if opts.client == "shared" then client = new_client() end
    bind(server, client)
  end)

  busted.teardown(function()
    if client then client:close() end
    if server then server:stop() end
  end)

  busted.before_each(function()
    server:reset(opts.client == "shared" and { keep_tokens = true } or nil)
    if opts.client == "each" then
      client = new_client()
      bind(server, client)
    end
    if opts.token then
      assert(client:token())
      server:clear_requests()
    end
  end)

  if opts.client == "each" then
    busted.after_each(function()
      client:close()
      client = nil
    end)
  end
end

-- Runs the Lua script at path with args in a child interpreter, as a user
-- would against this server: this process's module paths, the SCALEKIT_*
-- settings of server, and env (name -> value) in its environment. Returns
-- its combined output and exit code.
function fixture.run_script(server, path, args, env)
  local shquote = process.shquote
  local words = {
    "env",
    shquote("LUA_PATH=" .. package.path), shquote("LUA_CPATH=" .. package.cpath),
    shquote("SCALEKIT_ENVIRONMENT_URL=" .. server.url),
    shquote("SCALEKIT_CLIENT_ID=" .. server.client_id),
    shquote("SCALEKIT_CLIENT_SECRET=" .. server.client_secret),
  }
  for name, value in pairs(env or {}) do words[#words + 1] = shquote(name .. "=" .. value) end
  words[#words + 1] = LUA .. " " .. shquote(path)
  for _, a in ipairs(args or {}) do words[#words + 1] = shquote(a) end
  return process.run(table.concat(words, " "))
end

return fixture
