-- Error bodies beyond the API's own {code, message, details}: RFC 7807
-- problem bodies from proxies and validators, and the masking of secrets,
-- which must not garble ordinary text. Against the real fake server.
local fixture = require "spec.helpers.fixture"
local scalekit = require "scalekit"

local LONG_SECRET = "sk_live_0123456789abcdef"

describe("error bodies", function()
  local server, sk
  fixture.fake({ server = { client_secret = LONG_SECRET }, client = "each", settings = { max_retries = 0 } },
    function(s, c) server, sk = s, c end)

  it("takes the message of a problem+json body from detail or title", function()
    server:fault { operation = "listOrganizations", status = 422, content_type = "application/problem+json",
                   json = { type = "https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY",
                            title = "Invalid request", detail = "Your request is not valid" } }
    local page, err = sk.organizations:list()
    assert.is_nil(page)
    assert.equal(422, err.status)
    assert.equal("Your request is not valid", err.message)
    server:fault { operation = "listOrganizations", status = 500, json = { title = "Boom" } }
    page, err = sk.organizations:list()
    assert.is_nil(page)
    assert.equal("Boom", err.message)
  end)

  it("masks the client secret wherever a server echoes it, details included", function()
    server:fault { operation = "getOrganization", status = 400,
                   json = { code = "BAD", message = "secret " .. LONG_SECRET .. " rejected",
                            details = { { description = "was " .. LONG_SECRET } } } }
    local org, err = sk.organizations:get("org_1")
    assert.is_nil(org)
    assert.equal("secret [redacted] rejected", err.message)
    assert.equal("was [redacted]", err.details[1].description)
    assert.falsy(tostring(err):find(LONG_SECRET, 1, true))
  end)

  it("gives an error object for an error status with an empty body", function()
    server:fault { operation = "getOrganization", status = 500, body = "" }
    local org, err = sk.organizations:get("org_1")
    assert.is_nil(org)
    assert.is_true(scalekit.is_error(err))
    assert.equal(500, err.status)
    assert.equal("HTTP 500", err.message)
  end)

  it("masks a secret hidden behind a JSON escape, in message and details", function()
    local escaped = LONG_SECRET:gsub("_", "\\u005f") -- sk\u005flive...
    server:fault { operation = "getOrganization", status = 400, content_type = "application/json",
                   body = '{"message":"bad ' .. escaped .. '","details":[{"' .. escaped .. '":"' .. escaped .. '"}]}' }
    local _, err = sk.organizations:get("org_1")
    assert.equal("bad [redacted]", err.message)
    assert.same({ { ["[redacted]"] = "[redacted]" } }, err.details)
  end)

  it("masks a secret in details that are a string instead of a list", function()
    server:fault { operation = "getOrganization", status = 400,
                   json = { code = "BAD", message = "no", details = "was " .. LONG_SECRET } }
    local _, err = sk.organizations:get("org_1")
    assert.equal("was [redacted]", err.details)
  end)

  it("masks a secret in the content type of a non-JSON error", function()
    server:fault { operation = "getOrganization", status = 502, content_type = "text/html; x=" .. LONG_SECRET,
                   body = "<html>bad gateway</html>" }
    local _, err = sk.organizations:get("org_1")
    assert.equal("HTTP 502 with a non-JSON body (text/html; x=[redacted])", err.message)
  end)

  it("refuses a body with a NUL byte instead of reading up to it", function()
    -- {"message":"<secret>"} NUL {}
    server:fault { operation = "getOrganization", status = 400, content_type = "application/json",
                   body_base64 = "eyJtZXNzYWdlIjoic2tfbGl2ZV8wMTIzNDU2Nzg5YWJjZGVmIn0Ae30=" }
    local _, err = sk.organizations:get("org_1")
    assert.equal(400, err.status)
    assert.falsy(tostring(err):find(LONG_SECRET, 1, true))
    server:fault { operation = "getOrganization", status = 200, content_type = "application/json",
                   body_base64 = "eyJvcmdhbml6YXRpb24iOnt9fQB7fQ==" } -- {"organization":{}} NUL {}
    local org
    org, err = sk.organizations:get("org_1")
    assert.is_nil(org)
    assert.equal("decode", err.kind)
  end)

  it("leaves ordinary words alone when a test server's token is one of them", function()
    -- Prism's mock answers every token request with access_token "string"
    server:fault { operation = "createToken", status = 200, times = -1,
                   json = { access_token = "string", token_type = "Bearer", expires_in = 3600 } }
    server:fault { operation = "listOrganizations", status = 422,
                   json = { code = "INVALID", message = "metadata.seats must be string" } }
    local page, err = sk.organizations:list()
    assert.is_nil(page)
    assert.equal("metadata.seats must be string", err.message)
  end)
end)
