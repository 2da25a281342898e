-- Secrets in every form (issue 11, item 4): the client secret (with `+`,
-- `/`, `=` and spaces, so that its encodings differ), the access token and
-- exchangeToken's values never show in any encoding (raw, form, percent,
-- JSON-escaped) in hook info, error objects or tostring(err), also when a
-- server echoes them in a body or in X-Request-Id, and also for a token
-- response with a 2xx other than 200. Against the real fake server.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local secrets = require "spec.helpers.secrets"
local scalekit = require "scalekit"

local SECRET = "s3cr+t/k3y=va lue+/= x"
local ENCODED = secrets.encodings(SECRET)

-- v (any value: error object, hook infos, ...) shows no encoding of any
-- of `list`; the message says which and where.
local function no_leak(v, list, what)
  for _, secret in ipairs(list) do
    local leak = secrets.leak(v, secret)
    assert.is_nil(leak, ("%s shows %q: %s"):format(what or "value", secret, tostring(leak)))
  end
end

-- tostring(err) too, and every string inside err.
local function err_clean(err, list)
  assert.is_true(scalekit.is_error(err), "expected an error object, got " .. tostring(err))
  no_leak(err, list, "err")
  no_leak(tostring(err), list, "tostring(err)")
end

describe("secrets", function()
  local server, infos
  fixture.fake({ server = { client_secret = SECRET } }, function(s) server = s end)

  -- A client whose hooks record every info table they get.
  local function client(extra)
    infos = {}
    return util.client(server, util.merge({
      max_retries = 0,
      on_request = function(info) infos[#infos + 1] = { hook = "request", info = info } end,
      on_response = function(info) infos[#infos + 1] = { hook = "response", info = info } end,
    }, extra or {}))
  end

  -- The recorded infos of one hook (for one operation, if given).
  local function seen(hook, operation)
    local out = {}
    for _, rec in ipairs(infos) do
      -- hooks name the published operationId; aliases resolve to it
      local id = operation and scalekit.operations[operation].id
      if rec.hook == hook and (operation == nil or rec.info.operation == id) then
        out[#out + 1] = rec.info
      end
    end
    return out
  end

  it("checks every encoding (the helper finds each one)", function()
    for name, text in pairs(ENCODED) do
      assert.is_string(secrets.found("x=" .. text .. "&y", SECRET), name)
    end
    assert.is_nil(secrets.found("client_secret=[redacted]", SECRET))
  end)

  describe("the client secret", function()
    it("is not in on_request's body of the token request, which did carry it", function()
      local sk = client()
      assert(sk:token())
      assert.truthy(sk:call("listOrganizations", {}))
      local token_requests = seen("request", "createToken")
      assert.are.equal(1, #token_requests)
      assert.is_string(token_requests[1].body)
      no_leak(infos, { SECRET }, "hook info")
      -- the secret did go out, form-encoded
      local sent = util.only(server, "createToken").body
      assert.are.equal(SECRET, util.form_decode(sent).client_secret)
    end)

    for name, text in pairs(ENCODED) do
      it("is masked when the token endpoint echoes it (" .. name .. ") in error_description",
        function()
          server:fault { operation = "createToken", status = 401, content_type = "application/json",
                         body = '{"error":"invalid_client","error_description":"client_secret='
                           .. text .. '&grant_type=client_credentials"}' }
          local sk = client()
          local token, err = sk:token()
          assert.is_nil(token)
          assert.are.equal("auth", err.kind)
          assert.are.equal(401, err.status)
          err_clean(err, { SECRET })
          no_leak(seen("response"), { SECRET }, "on_response info")
        end)
    end

    it("is masked in message, code and details of an echoing error body", function()
      server:fault { operation = "createToken", status = 400, content_type = "application/json",
                     body = '{"code":"' .. ENCODED.percent .. '","message":"form was client_secret='
                       .. ENCODED.form .. '","details":[{"field":"client_secret","description":"'
                       .. ENCODED.json .. '"},{"field":"' .. ENCODED.json_unicode
                       .. '","description":"' .. ENCODED.percent_lower .. '"}]}' }
      local sk = client()
      local _, err = sk:call("getOrganization", { id = "org_1" })
      assert.are.equal(400, err.status)
      err_clean(err, { SECRET })
      no_leak(seen("response"), { SECRET }, "on_response info")
    end)

    it("is masked when an API error echoes it in the body", function()
      local sk = client()
      assert(sk:token())
      server:fault { operation = "getOrganization", status = 400, content_type = "application/json",
                     body = '{"code":"BAD","message":"' .. ENCODED.form .. ' / ' .. ENCODED.json
                       .. '","details":"' .. ENCODED.percent .. '"}' }
      local _, err = sk:call("getOrganization", { id = "org_1" })
      assert.are.equal(400, err.status)
      err_clean(err, { SECRET })
      no_leak(seen("response"), { SECRET }, "on_response info")
    end)
  end)

  describe("X-Request-Id echoing a secret", function()
    -- err.request_id shows [redacted] in place of the echo, tostring(err)
    -- and the hooks show no encoding of it.
    local function masked_request_id(err, list)
      assert.is_string(err.request_id)
      assert.truthy(err.request_id:find("[redacted]", 1, true), "request_id " .. err.request_id)
      err_clean(err, list)
      no_leak(seen("response"), list, "on_response info")
    end

    for _, case in ipairs { { "raw", ENCODED.raw }, { "form", ENCODED.form },
                            { "percent", ENCODED.percent } } do
      it("masks the client secret (" .. case[1] .. ") on an API error", function()
        local sk = client()
        assert(sk:token())
        server:fault { operation = "getOrganization", status = 404,
                       headers = { ["x-request-id"] = "req-" .. case[2] } }
        local _, err = sk:call("getOrganization", { id = "org_1" })
        assert.are.equal(404, err.status)
        masked_request_id(err, { SECRET })
      end)
    end

    it("masks the client secret on a token endpoint error", function()
      server:fault { operation = "createToken", status = 401,
                     headers = { ["x-request-id"] = ENCODED.form } }
      local sk = client()
      local _, err = sk:token()
      assert.are.equal("auth", err.kind)
      masked_request_id(err, { SECRET })
    end)

    it("masks the access token on an API error", function()
      local sk = client()
      local token = assert(sk:token())
      server:fault { operation = "getOrganization", status = 500,
                     headers = { ["x-request-id"] = "req-1 " .. token } }
      local _, err = sk:call("getOrganization", { id = "org_1" })
      assert.are.equal(500, err.status)
      masked_request_id(err, { token, SECRET })
    end)

    it("masks the access token in on_response of a success", function()
      local sk = client()
      local token = assert(sk:token())
      local org_id = server:seed { organizations = 1 }.organization_ids[1]
      server:fault { operation = "getOrganization", headers = { ["x-request-id"] = token } }
      local org, err = sk:call("getOrganization", { id = org_id })
      assert.is_nil(err)
      assert.are.equal(org_id, org.id)
      local responses = seen("response", "getOrganization")
      assert.are.equal(1, #responses)
      assert.truthy(responses[1].request_id:find("[redacted]", 1, true), responses[1].request_id)
      no_leak(seen("response"), { token, SECRET }, "on_response info")
    end)

    it("masks the access token in the response table of a success", function()
      local sk = client()
      local token = assert(sk:token())
      local org_id = server:seed { organizations = 1 }.organization_ids[1]
      server:fault { operation = "getOrganization", headers = { ["x-request-id"] = token } }
      local org, response = sk:call("getOrganization", { id = org_id }, { response = true })
      assert.are.equal(org_id, org.id)
      assert.is_table(response, "sk:call(..., { response = true }) returned no response table")
      assert.truthy(tostring(response.request_id):find("[redacted]", 1, true))
      no_leak(response, { token, SECRET }, "response")
    end)
  end)

  describe("a token response with status 201", function()
    local TOKEN = "tok-created-0123456789abcdef"

    it("is accepted and reaches on_response masked", function()
      server:fault { operation = "createToken", status = 201,
                     json = { access_token = TOKEN, token_type = "Bearer", expires_in = 3600 } }
      local sk = client()
      local token = sk:token()
      assert.are.equal(TOKEN, token)
      local responses = seen("response", "createToken")
      assert.are.equal(1, #responses)
      assert.are.equal(201, responses[1].status)
      no_leak(seen("response"), { TOKEN, SECRET }, "on_response info")
    end)

    for _, status in ipairs { 200, 202, 203 } do
      it("with status " .. status .. " too", function()
        server:fault { operation = "createToken", status = status,
                       json = { access_token = TOKEN, token_type = "Bearer", expires_in = 3600 } }
        local sk = client()
        assert.are.equal(TOKEN, sk:token())
        no_leak(seen("response"), { TOKEN, SECRET }, "on_response info")
      end)
    end
  end)

  describe("exchangeToken's values", function()
    local CODE = "c0de+with/odd=chars and spaces"
    local VERIFIER = "v3rifier+/=~._-0123456789 abc"
    local TOKENS = { id_token = "id-tok-0123456789abcdef", access_token = "acc-tok-0123456789abcdef",
                     refresh_token = "ref-tok-0123456789abcdef" }
    local PARAMS = { grant_type = "authorization_code", code = CODE, code_verifier = VERIFIER,
                     redirect_uri = "https://app.example.com/callback" }

    it("are masked in on_request, and the tokens in on_response (201 included)", function()
      for _, status in ipairs { 200, 201 } do
        server:clear_faults()
        server:fault { operation = "createToken", status = status,
                       json = util.merge(TOKENS, { token_type = "Bearer", expires_in = 300 }) }
        local sk = client()
        local result, err = sk:call("exchangeToken", PARAMS)
        assert.is_nil(err)
        assert.are.equal(TOKENS.id_token, result.id_token)
        assert.are.equal(1, #seen("request", "exchangeToken"), "no on_request for exchangeToken")
        no_leak(infos, { CODE, VERIFIER, SECRET, TOKENS.id_token, TOKENS.access_token,
                         TOKENS.refresh_token }, "hook info (status " .. status .. ")")
      end
      -- the values did go out
      local form = util.form_decode(util.last(server, "createToken").body)
      assert.are.equal(CODE, form.code)
      assert.are.equal(VERIFIER, form.code_verifier)
    end)

    it("are masked when the endpoint echoes them in an error", function()
      local code, verifier = secrets.encodings(CODE), secrets.encodings(VERIFIER)
      server:fault { operation = "createToken", status = 400, content_type = "application/json",
                     headers = { ["x-request-id"] = code.form },
                     body = '{"error":"invalid_grant","error_description":"code=' .. code.form
                       .. '&code_verifier=' .. verifier.percent .. '&client_secret=' .. ENCODED.form
                       .. '","details":["' .. code.json .. '","' .. verifier.json_unicode .. '"]}' }
      local sk = client()
      local result, err = sk:call("exchangeToken", PARAMS)
      assert.is_nil(result)
      assert.are.equal("auth", err.kind)
      err_clean(err, { CODE, VERIFIER, SECRET })
      no_leak(infos, { CODE, VERIFIER, SECRET }, "hook info")
    end)
  end)
end)
