-- scalekit.new: settings from arguments and environment variables, type
-- checks, the https rule, the User-Agent/Accept headers actually sent, and
-- no secret in tostring(client). Runs against the real fake server.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local scalekit = require "scalekit"
local process = require "spec.helpers.process"

local merge, form_decode, leaks = util.merge, util.form_decode, util.leaks

local SECRET = "sk-secret-0xC0FFEE"
local VARS = { "SCALEKIT_ENVIRONMENT_URL", "SCALEKIT_CLIENT_ID", "SCALEKIT_CLIENT_SECRET" }
local LUA = "lua" .. _VERSION:match("%d+%.%d+")

local shquote = process.shquote

-- Runs `code` in a fresh interpreter with the SCALEKIT_* variables removed
-- and then `env` set; returns its combined output and exit code.
local function run_lua(env, code)
  local words = { "env" }
  for _, v in ipairs(VARS) do words[#words + 1] = "-u " .. v end
  words[#words + 1] = shquote("LUA_PATH=" .. package.path)
  words[#words + 1] = shquote("LUA_CPATH=" .. package.cpath)
  for k, v in pairs(env) do words[#words + 1] = shquote(k .. "=" .. v) end
  words[#words + 1] = LUA .. " -e " .. shquote(code)
  return process.run(table.concat(words, " "))
end

-- Child script: scalekit.new(<opts>), one API call, prints the outcome.
local function child_code(opts_literal)
  return ([[
local scalekit = require "scalekit"
local ok, sk = pcall(scalekit.new, %s)
if not ok then io.write("ERROR: ", tostring(sk)) os.exit(3) end
local page, err = sk.organizations:list()
if not page then io.write("CALLFAIL: ", tostring(err)) os.exit(4) end
io.write("OK ", tostring(sk), " total=", tostring(page.total_size))
os.exit(0)
]]):format(opts_literal)
end

local function escape_pattern(s)
  return (s:gsub("[%^%$%(%)%%%.%[%]%*%+%-%?]", "%%%0"))
end

describe("scalekit.new", function()
  local server
  fixture.fake({ server = { client_secret = SECRET } }, function(s) server = s end)

  local function valid(extra)
    return merge({ environment_url = "https://example.com",
                   client_id = "skc_x", client_secret = "secret_x" }, extra or {})
  end

  -- The three SCALEKIT_* variables for this server, with `over` on top.
  local function env_vars(over)
    return merge({
      SCALEKIT_ENVIRONMENT_URL = server.url,
      SCALEKIT_CLIENT_ID = server.client_id,
      SCALEKIT_CLIENT_SECRET = SECRET,
    }, over or {})
  end

  -- Runs child_code(opts_literal) with `env`, which must succeed; returns its output.
  local function child_ok(env, opts_literal)
    local out, rc = run_lua(env, child_code(opts_literal))
    assert.equal(0, rc, out)
    assert.matches("^OK ", out)
    return out
  end

  describe("settings from the environment", function()
    it("builds a client from the three SCALEKIT_* variables alone", function()
      local out = child_ok(env_vars(), "nil")
      assert.truthy(out:find(server.url, 1, true), out)
      assert.truthy(out:find("client_id " .. server.client_id, 1, true), out)
      assert.falsy(out:find(SECRET, 1, true))
      -- the token really was requested with the variables' credentials
      local log = server:requests()
      assert.equal("/oauth/token", log[1].path)
      local form = form_decode(log[1].body)
      assert.equal(server.client_id, form.client_id)
      assert.equal(SECRET, form.client_secret)
      assert.equal(1, server:stats().tokens_issued)
    end)

    it("also works with an empty options table", function()
      child_ok(env_vars(), "{}")
      -- every setting came from the variables
      local form = form_decode(util.only(server, "createToken").body)
      assert.equal(server.client_id, form.client_id)
      assert.equal(SECRET, form.client_secret)
      assert.equal(1, #util.logged(server, "listOrganizations"))
    end)

    it("lets arguments win over the variables", function()
      local opts = ("{ environment_url = %q, client_id = %q, client_secret = %q }")
        :format(server.url, server.client_id, SECRET)
      child_ok({
        SCALEKIT_ENVIRONMENT_URL = "http://127.0.0.1:1",
        SCALEKIT_CLIENT_ID = "env-client",
        SCALEKIT_CLIENT_SECRET = "env-secret",
      }, opts)
      local form = form_decode(server:requests()[1].body)
      assert.equal(server.client_id, form.client_id)
      assert.equal(SECRET, form.client_secret)
    end)

    it("fills only the settings that are missing", function()
      -- URL from the argument, credentials from the environment
      child_ok(env_vars { SCALEKIT_ENVIRONMENT_URL = "http://127.0.0.1:1" },
        ("{ environment_url = %q }"):format(server.url))
      assert.equal(1, server:stats().tokens_issued)
    end)

    for _, case in ipairs {
      { "environment_url", "SCALEKIT_ENVIRONMENT_URL" },
      { "client_id", "SCALEKIT_CLIENT_ID" },
      { "client_secret", "SCALEKIT_CLIENT_SECRET" },
    } do
      local setting, variable = case[1], case[2]
      it("names " .. setting .. " and " .. variable .. " when it is missing", function()
        local given = { environment_url = server.url, client_id = "id", client_secret = "sec" }
        given[setting] = nil
        local parts = {}
        for k, v in pairs(given) do parts[#parts + 1] = ("%s = %q"):format(k, v) end
        local out, rc = run_lua({}, child_code("{ " .. table.concat(parts, ", ") .. " }"))
        assert.equal(3, rc, out)
        assert.matches("^ERROR: ", out)
        assert.truthy(out:find("missing " .. setting, 1, true), out)
        assert.truthy(out:find(variable, 1, true), out)
        assert.same({}, server:requests())
      end)

      it("treats an empty " .. variable .. " as missing", function()
        local env = env_vars { SCALEKIT_CLIENT_ID = "id", SCALEKIT_CLIENT_SECRET = "sec" }
        env[variable] = ""
        local out, rc = run_lua(env, child_code("nil"))
        assert.equal(3, rc, out)
        assert.truthy(out:find("missing " .. setting, 1, true), out)
        assert.truthy(out:find(variable, 1, true), out)
      end)
    end

    it("gives the exact documented message", function()
      local out = run_lua({}, child_code(("{ environment_url = %q, client_secret = 's' }")
        :format(server.url)))
      assert.truthy(out:find(
        "scalekit.new: missing client_id (pass it, or set SCALEKIT_CLIENT_ID)", 1, true), out)
    end)

    it("rejects an empty string argument as missing", function()
      assert.error_matches(function() scalekit.new(valid { client_id = "" }) end,
        "missing client_id.*SCALEKIT_CLIENT_ID")
    end)
  end)

  describe("argument checks", function()
    it("reports errors at the caller's line", function()
      local line
      local ok, msg = pcall(function()
        line = debug.getinfo(1, "l").currentline + 1
        scalekit.new(valid { bogus = true })
      end)
      assert.is_false(ok)
      assert.matches("01%-config_spec%.lua:" .. line .. ": scalekit%.new: unknown setting 'bogus'", msg)
    end)

    it("wants a table", function()
      assert.error_matches(function() scalekit.new("https://example.com") end,
        "scalekit.new: argument #1 %(options%) must be a table")
      assert.error_matches(function() scalekit.new(42) end, "must be a table")
    end)

    for _, case in ipairs {
      { "client_id", 42, "setting 'client_id' must be a string %(got number%)" },
      { "client_secret", true, "setting 'client_secret' must be a string %(got boolean%)" },
      { "environment_url", {}, "setting 'environment_url' must be a string %(got table%)" },
      { "timeout", "5", "setting 'timeout' must be a number %(got string%)" },
      { "connect_timeout", "1", "setting 'connect_timeout' must be a number" },
      { "max_retries", true, "setting 'max_retries' must be a number %(got boolean%)" },
      { "retry_base_delay", "0.1", "setting 'retry_base_delay' must be a number" },
      { "max_body_size", {}, "setting 'max_body_size' must be a number" },
      { "allow_http", "yes", "setting 'allow_http' must be a boolean %(got string%)" },
      { "insecure", 1, "setting 'insecure' must be a boolean %(got number%)" },
      { "user_agent", 7, "setting 'user_agent' must be a string %(got number%)" },
      { "on_request", "print", "setting 'on_request' must be a function %(got string%)" },
      { "on_response", {}, "setting 'on_response' must be a function %(got table%)" },
    } do
      it("rejects " .. case[1] .. " of the wrong type", function()
        assert.error_matches(function() scalekit.new(valid { [case[1]] = case[2] }) end,
          "scalekit.new: " .. case[3])
      end)
    end

    for _, case in ipairs {
      { "timeout", -1 }, { "connect_timeout", -0.5 }, { "max_retries", -1 },
      { "timeout", 0 / 0 }, { "max_retry_wait", math.huge },
    } do
      it("rejects " .. case[1] .. " = " .. tostring(case[2]), function()
        assert.error_matches(function() scalekit.new(valid { [case[1]] = case[2] }) end,
          "setting '" .. case[1] .. "' must be a finite number >= 0")
      end)
    end

    it("accepts every documented setting with the right type", function()
      local sk = scalekit.new(valid {
        timeout = 20, connect_timeout = 5, stall_timeout = 15, max_retries = 3,
        retry_base_delay = 0.5, retry_max_delay = 8, max_retry_wait = 60,
        max_body_size = 1024, max_depth = 64, user_agent = "app/1", allow_http = false,
        ca_file = "/etc/ssl/certs/ca-certificates.crt", insecure = false,
        on_request = function() end, on_response = function() end,
      })
      assert.matches("^scalekit%.client ", tostring(sk))
      sk:close()
    end)

    it("rejects unknown settings, naming them", function()
      assert.error_matches(function() scalekit.new(valid { bogus = 1 }) end,
        "scalekit.new: unknown setting 'bogus'")
      assert.error_matches(function() scalekit.new(valid { client_secert = "typo" }) end,
        "unknown setting 'client_secert'")
      assert.error_matches(function() scalekit.new(valid { "positional" }) end,
        "unknown setting '1'")
    end)
  end)

  describe("environment_url", function()
    for _, url in ipairs {
      "https://example.com", "https://example.com/", "https://EXAMPLE.com:8443",
      "HTTPS://example.com", "http://localhost", "http://localhost:8080", "http://LOCALHOST:1",
      "http://127.0.0.1:1", "http://127.10.20.30", "http://[::1]:8080",
    } do
      it("accepts " .. url, function()
        local sk = scalekit.new(valid { environment_url = url })
        assert.equal("userdata", type(sk))
        sk:close()
      end)
    end

    for _, url in ipairs {
      "http://example.com", "http://example.com:80/", "http://localhost.example.com",
      "http://127.0.0.1.example.com", "http://127.0.0.1@example.com", "http://[::1].evil.com",
      "http://10.0.0.1",
    } do
      it("rejects " .. url .. " (not loopback) without allow_http", function()
        assert.error_matches(function() scalekit.new(valid { environment_url = url }) end,
          "scalekit.new: environment_url must use https://")
      end)
    end

    it("accepts http:// for any host with allow_http = true", function()
      local sk = scalekit.new(valid { environment_url = "http://example.com", allow_http = true })
      assert.truthy(tostring(sk):find("http://example.com", 1, true))
      sk:close()
    end)

    it("rejects other schemes even with allow_http = true", function()
      for _, url in ipairs { "ftp://example.com", "ws://localhost", "gopher://127.0.0.1" } do
        assert.error_matches(function() scalekit.new(valid { environment_url = url }) end,
          "environment_url must use https://", nil, nil, url)
        assert.error_matches(function()
          scalekit.new(valid { environment_url = url, allow_http = true })
        end, "environment_url must use https://", nil, nil, url)
      end
      assert.has_error(function()
        scalekit.new(valid { environment_url = "file:///etc/passwd", allow_http = true })
      end)
    end)

    it("rejects strings that are not absolute URLs", function()
      for _, url in ipairs { "example.com", "//example.com", "https://", "https:///path" } do
        assert.has_error(function() scalekit.new(valid { environment_url = url }) end, nil, url)
      end
      assert.error_matches(function()
        scalekit.new(valid { environment_url = "https://example.com/?x=1" })
      end, "query or fragment")
    end)
  end)

  describe("user_agent", function()
    for name, ua in pairs { CR = "app\r1", LF = "app\nX-Evil: 1", NUL = "app\0x", CRLF = "a\r\nb" } do
      it("rejects " .. name .. " in user_agent", function()
        assert.error_matches(function() scalekit.new(valid { user_agent = ua }) end,
          "scalekit.new: user_agent must not contain CR, LF or NUL")
      end)
    end
  end)

  describe("request headers", function()
    local version_prefix = "^scalekit%-lua/" .. escape_pattern(scalekit.version)
      .. " Lua/" .. escape_pattern(_VERSION:match("%d+%.%d+")) .. " libcurl/%d+%.%d+%.%d+"

    it("sends the SDK User-Agent and Accept on the token and the API requests", function()
      local sk = scalekit.new(server:env())
      assert.truthy(sk.organizations:list())
      local log = server:requests()
      assert.equal(2, #log)
      assert.equal("/oauth/token", log[1].path)
      assert.equal("/api/v1/organizations", log[2].path)
      for _, r in ipairs(log) do
        assert.matches(version_prefix .. "$", r.headers["user-agent"])
        assert.equal("application/json", r.headers["accept"])
      end
      assert.is_nil(log[1].headers["authorization"])
      assert.matches("^Bearer .+", log[2].headers["authorization"])
      sk:close()
    end)

    it("appends a custom user_agent after the SDK's own", function()
      local sk = scalekit.new(merge(server:env(), { user_agent = "billing-job/2.3 (+ops@example.com)" }))
      assert.truthy(sk.organizations:create { display_name = "Acme" })
      local log = server:requests()
      assert.equal(2, #log)
      for _, r in ipairs(log) do
        local ua = r.headers["user-agent"]
        assert.matches(version_prefix .. " billing%-job/2%.3 %(%+ops@example%.com%)$", ua)
        assert.equal("application/json", r.headers["accept"])
      end
      assert.equal("application/json", log[2].headers["content-type"])
      sk:close()
    end)
  end)

  describe("tostring(client)", function()
    it("shows the URL and client id, never the secret or the token", function()
      local sk = scalekit.new(server:env())
      local before = tostring(sk)
      assert.equal(("scalekit.client (%s, client_id %s)"):format(server.url, server.client_id), before)
      local token = assert(sk:token())
      assert.truthy(sk.organizations:list())
      local after = tostring(sk)
      assert.falsy(after:find(SECRET, 1, true))
      assert.falsy(after:find(token, 1, true))
      assert.equal(before, after)
      sk:close()
    end)

    it("names the resources", function()
      local sk = scalekit.new(server:env())
      assert.equal("scalekit.resource (organizations)", tostring(sk.organizations))
      sk:close()
    end)
  end)

  describe("debug hooks", function()
    it("see requests and responses with the token and secret redacted", function()
      local seen = {}
      local sk = scalekit.new(merge(server:env(), {
        on_request = function(info) seen[#seen + 1] = { "request", info } end,
        on_response = function(info) seen[#seen + 1] = { "response", info } end,
      }))
      assert.truthy(sk.organizations:create { display_name = "Hooked" })
      local token = assert(sk:token())
      -- token request, its response, the API request, its response
      assert.equal(4, #seen)
      assert.equal("request", seen[1][1])
      assert.equal("createToken", seen[1][2].operation)
      assert.equal("response", seen[2][1])
      assert.equal(200, seen[2][2].status)
      -- the published operationId (the sketch's createOrganization is an alias)
      assert.equal(scalekit.operations.createOrganization.id, seen[3][2].operation)
      assert.equal("POST", seen[3][2].method)
      assert.equal("Bearer [redacted]", seen[3][2].headers.Authorization)
      assert.equal(201, seen[4][2].status)
      assert.is_nil(leaks(seen, SECRET))
      -- the API request and response carry no token
      assert.is_nil(leaks({ seen[3], seen[4] }, token))
    end)

    it("do not see the access token in the token response body", function()
      local bodies = {}
      local sk = scalekit.new(merge(server:env(), {
        on_response = function(info) bodies[#bodies + 1] = info.body end,
      }))
      local token = assert(sk:token())
      assert.equal(1, #bodies)
      assert.is_string(bodies[1])
      assert.falsy(bodies[1]:find(token, 1, true), "token leaked to on_response: " .. bodies[1])
    end)

    it("cannot break the call they observe", function()
      local sk = scalekit.new(merge(server:env(), {
        on_request = function() error("hook failure") end,
        on_response = function() error({}) end,
      }))
      local page, err = sk.organizations:list()
      assert.is_nil(err)
      assert.equal(0, page.total_size)
    end)
  end)

  it("sends nothing when constructing a client", function()
    local sk = scalekit.new(server:env())
    assert.same({}, server:requests())
    sk:close()
  end)
end)
