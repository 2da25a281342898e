-- Passwordless email (send, verify, resend) against the fake server. The
-- fake "sends" each email to its outbox: server:passwordless() and
-- server:passwordless_code(email) read the code a user would receive.
local fixture = require "spec.helpers.fixture"
local util = require "spec.helpers.util"
local cjson = require "cjson"

local api_error, number_type = util.api_error, util.number_type
local only = util.only

describe("passwordless", function()
  local server, sk

  fixture.fake({ client = "shared" }, function(s, c) server, sk = s, c end)

  it("send starts a request and emails a code", function()
    local res, err = sk:call("PasswordlessService_SendPasswordlessEmail", {
      email = "ada@example.com", state = "s-1", template = "SIGNUP", expires_in = 600,
      template_variables = { app = "Demo" },
    })
    assert.is_nil(err)
    assert.are.equal("string", type(res.auth_request_id))
    assert.are.equal(600, res.expires_in)
    assert.are.equal("integer", number_type(res.expires_in))
    assert.matches("^%d+$", res.expires_at) -- int64 as a string
    assert.are.equal("OTP", res.passwordless_type)
    local req = only(server, "PasswordlessService_SendPasswordlessEmail")
    assert.are.equal("POST", req.method)
    assert.are.equal("/api/v1/passwordless/email/send", req.path)
    assert.are.same({ email = "ada@example.com", state = "s-1", template = "SIGNUP", expires_in = 600,
      template_variables = { app = "Demo" } }, cjson.decode(req.body))
    local mail = server:passwordless()[1]
    assert.are.equal(res.auth_request_id, mail.auth_request_id)
    assert.are.equal("ada@example.com", mail.email)
    assert.matches("^%d%d%d%d%d%d$", mail.code)
    assert.are.same({ app = "Demo" }, mail.template_variables)
  end)

  it("verify with the emailed code succeeds once", function()
    local sent = assert(sk.passwordless:send { email = "ada@example.com", state = "s-2" })
    local code = server:passwordless_code("ada@example.com")
    local res, err = sk:call("PasswordlessService_VerifyPasswordlessEmail", { auth_request_id = sent.auth_request_id, code = code })
    assert.is_nil(err)
    assert.are.equal("ada@example.com", res.email)
    assert.are.equal("s-2", res.state)
    assert.are.equal("SIGNIN", res.template)
    local req = only(server, "PasswordlessService_VerifyPasswordlessEmail")
    assert.are.equal("/api/v1/passwordless/email/verify", req.path)
    assert.are.same({ auth_request_id = sent.auth_request_id, code = code }, cjson.decode(req.body))
    local again, aerr = sk.passwordless:verify { auth_request_id = sent.auth_request_id, code = code }
    api_error(404, "NOT_FOUND", again, aerr, "PasswordlessService_VerifyPasswordlessEmail")
  end)

  it("verify returns nil, err 400 for a wrong code, and the right one still works", function()
    local sent = assert(sk.passwordless:send { email = "bob@example.com" })
    local code = server:passwordless_code("bob@example.com")
    local wrong = code == "000000" and "000001" or "000000"
    local res, err = sk.passwordless:verify { auth_request_id = sent.auth_request_id, code = wrong }
    api_error(400, "INVALID_ARGUMENT", res, err, "PasswordlessService_VerifyPasswordlessEmail")
    assert.are.equal("code", err.details[1].field)
    assert.are.equal("bob@example.com", assert(sk.passwordless:verify { auth_request_id = sent.auth_request_id, code = code }).email)
  end)

  it("resend emails a new code and the old one stops working", function()
    local sent = assert(sk.passwordless:send { email = "cy@example.com" })
    local first = server:passwordless_code("cy@example.com")
    local res, err = sk:call("PasswordlessService_ResendPasswordlessEmail", { auth_request_id = sent.auth_request_id })
    assert.is_nil(err)
    assert.are.equal(sent.auth_request_id, res.auth_request_id)
    local req = only(server, "PasswordlessService_ResendPasswordlessEmail")
    assert.are.equal("/api/v1/passwordless/email/resend", req.path)
    assert.are.same({ auth_request_id = sent.auth_request_id }, cjson.decode(req.body))
    local mails = server:passwordless()
    assert.are.equal(2, #mails)
    local second = server:passwordless_code("cy@example.com")
    assert.are.equal(mails[2].code, second)
    assert.are_not.equal(first, second)
    local old, oerr = sk.passwordless:verify { auth_request_id = sent.auth_request_id, code = first }
    api_error(400, "INVALID_ARGUMENT", old, oerr, "PasswordlessService_VerifyPasswordlessEmail")
    assert(sk.passwordless:verify { auth_request_id = sent.auth_request_id, code = second })
  end)

  it("a magic link (link_token) verifies too", function()
    local sent = assert(sk.passwordless:send { email = "di@example.com", magiclink_auth_uri = "https://app.example.com/cb" })
    assert.are.equal("LINK_OTP", sent.passwordless_type)
    local mail = server:passwordless()[1]
    assert.are.equal("https://app.example.com/cb?link_token=" .. mail.link_token, mail.magic_link)
    local res = assert(sk.passwordless:verify { link_token = mail.link_token })
    assert.are.equal("di@example.com", res.email)
    assert.are.equal("LINK_OTP", res.passwordless_type)
  end)

  it("returns nil, err 404 for an unknown request and 400 for a bad email or template", function()
    local res, err = sk.passwordless:resend { auth_request_id = "pwl_404" }
    api_error(404, "NOT_FOUND", res, err, "PasswordlessService_ResendPasswordlessEmail")
    res, err = sk.passwordless:send { email = "not-an-email" }
    api_error(400, "INVALID_ARGUMENT", res, err, "PasswordlessService_SendPasswordlessEmail")
    assert.are.equal("email", err.details[1].field)
    res, err = sk.passwordless:send { email = "a@b.co", template = "WELCOME" }
    api_error(400, "INVALID_ARGUMENT", res, err, "PasswordlessService_SendPasswordlessEmail")
    assert.are.equal("template", err.details[1].field)
    assert.are.equal(0, #server:passwordless())
  end)
end)
