-- scalekit.webhooks: Standard Webhooks signatures (webhooks and interceptor
-- calls). Checked against the published Standard Webhooks test vector and
-- against signatures made by node's crypto module, not only our own sign.
local webhooks = require "scalekit.webhooks"
local jwt = require "scalekit.jwt"
local scalekit = require "scalekit"
local cjson = require "cjson"
local process = require "spec.helpers.process"
local util = require "spec.helpers.util"

local raises = util.raises

-- The Standard Webhooks specification's example.
local SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
local ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
local TS = 1614265330
local BODY = '{"test": 2432232314}'
local SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="

local function headers(prefix, id, ts, sig)
  return { [prefix .. "-id"] = id, [prefix .. "-timestamp"] = ts, [prefix .. "-signature"] = sig }
end

local function hook_headers(changes)
  local h = headers("webhook", ID, tostring(TS), SIGNATURE)
  for k, v in pairs(changes or {}) do
    if v == cjson.null then h[k] = nil else h[k] = v end
  end
  return h
end

-- base64url -> standard base64 with padding
local function std64(s)
  s = s:gsub("%-", "+"):gsub("_", "/")
  return s .. string.rep("=", (4 - #s % 4) % 4)
end

describe("scalekit.webhooks", function()
  local function ok(result, err)
    assert.is_nil(err)
    assert.are.equal(true, result)
  end

  local function fails(reason, result, err)
    assert.is_nil(result)
    assert.is_true(scalekit.is_error(err), "expected an error object, got " .. tostring(err))
    assert.are.equal("webhook", err.kind)
    assert.are.equal(reason, err.reason, "message: " .. tostring(err.message))
    assert.are.equal("string", type(err.message))
    -- neither the secret nor a signature is handed out
    for _, secret in ipairs { SECRET:sub(7), SIGNATURE:sub(4) } do
      assert.is_falsy(tostring(err):find(secret, 1, true))
      assert.is_falsy(err.message:find(secret, 1, true))
    end
    return err
  end

  local function verify(h, body, opts)
    return webhooks.verify(SECRET, h, body or BODY, opts or { now = TS })
  end

  it("accepts the Standard Webhooks example", function()
    ok(verify(hook_headers()))
    ok(webhooks.verify(SECRET, hook_headers(), BODY, { now = TS, tolerance = 0 }))
  end)

  it("signs like the Standard Webhooks example", function()
    assert.are.equal(SIGNATURE, webhooks.sign(SECRET, ID, TS, BODY))
    assert.are.equal(SIGNATURE, webhooks.sign(SECRET, ID, tostring(TS), BODY))
    assert.are.equal(SIGNATURE, webhooks.sign(SECRET:sub(7), ID, TS, BODY)) -- prefix optional
  end)

  it("agrees with node's HMAC on binary and large bodies", function()
    local bodies = { "", "a\0b\255\254", jwt.random_bytes(4096), string.rep("x", 1024 * 1024) }
    local key = jwt.random_bytes(32)
    local secret = "whsec_" .. std64(jwt.base64url_encode(key))
    local request = { key = jwt.base64url_encode(key), bodies = {} }
    for i, body in ipairs(bodies) do request.bodies[i] = jwt.base64url_encode(body) end
    local input = os.tmpname()
    local f = assert(io.open(input, "wb"))
    f:write(cjson.encode(request))
    f:close()
    local script = [[
      const c = require('crypto');
      const r = JSON.parse(require('fs').readFileSync(0, 'utf8'));
      const key = Buffer.from(r.key, 'base64url');
      process.stdout.write(JSON.stringify(r.bodies.map((b) => 'v1,' + c.createHmac('sha256', key)
        .update(Buffer.concat([Buffer.from('msg_1.1700000000.'), Buffer.from(b, 'base64url')]))
        .digest('base64'))));
    ]]
    local out, code = process.run(process.shquote(os.getenv("NODE") or "node") .. " -e "
      .. process.shquote(script) .. " < " .. process.shquote(input))
    os.remove(input)
    assert.are.equal(0, code, out)
    local signatures = cjson.decode(out)
    for i, body in ipairs(bodies) do
      ok(webhooks.verify(secret, headers("webhook", "msg_1", "1700000000", signatures[i]), body,
        { now = 1700000000 }))
      assert.are.equal(signatures[i], webhooks.sign(secret, "msg_1", 1700000000, body))
      fails("bad_signature", webhooks.verify(secret, headers("webhook", "msg_1", "1700000000", signatures[i]),
        body .. " ", { now = 1700000000 }))
    end
  end)

  it("accepts when any v1 entry matches", function()
    local other = "v1," .. std64(jwt.base64url_encode(jwt.random_bytes(32)))
    ok(verify(hook_headers { ["webhook-signature"] = other .. " " .. SIGNATURE }))
    ok(verify(hook_headers { ["webhook-signature"] = SIGNATURE .. " " .. other }))
    ok(verify(hook_headers { ["webhook-signature"] = "v1a,xyz  " .. SIGNATURE .. " v2,abc" }))
    fails("bad_signature", verify(hook_headers { ["webhook-signature"] = other }))
    fails("bad_signature", verify(hook_headers { ["webhook-signature"] = "v2," .. SIGNATURE:sub(4) }))
    fails("bad_signature", verify(hook_headers { ["webhook-signature"] = SIGNATURE:sub(4) }))
    fails("bad_signature", verify(hook_headers { ["webhook-signature"] = SIGNATURE .. "=" }))
    fails("bad_signature", verify(hook_headers { ["webhook-signature"] = SIGNATURE:sub(1, -2) }))
    fails("bad_signature", verify(hook_headers { ["webhook-signature"] = "v1," }))
  end)

  it("refuses a changed body, id or timestamp, and another secret", function()
    fails("bad_signature", verify(hook_headers(), BODY .. "\n"))
    fails("bad_signature", verify(hook_headers { ["webhook-id"] = ID .. "x" }))
    fails("bad_signature", verify(hook_headers { ["webhook-timestamp"] = tostring(TS + 1) }))
    local other = "whsec_" .. std64(jwt.base64url_encode(jwt.random_bytes(24)))
    fails("bad_signature", webhooks.verify(other, hook_headers(), BODY, { now = TS }))
  end)

  it("refuses secrets that are not whsec_<base64>", function()
    for _, secret in ipairs { "", "whsec_", "whsec_!!!!", "whsec_" .. SECRET:sub(7, -2), "whsec_ " .. SECRET:sub(7),
                              "whsec_" .. string.rep("A", 2000) } do
      fails("bad_secret", webhooks.verify(secret, hook_headers(), BODY, { now = TS }))
    end
    raises("webhooks.sign: the webhook secret is not whsec_ followed by a base64 key", function()
      webhooks.sign("whsec_!", ID, TS, BODY)
    end)
  end)

  it("allows the tolerance (default 5 minutes) on both sides", function()
    ok(verify(hook_headers(), BODY, { now = TS + 300 }))
    fails("too_old", verify(hook_headers(), BODY, { now = TS + 301 }))
    ok(verify(hook_headers(), BODY, { now = TS - 300 }))
    fails("too_new", verify(hook_headers(), BODY, { now = TS - 301 }))
    ok(verify(hook_headers(), BODY, { now = TS + 10, tolerance = 10 }))
    fails("too_old", verify(hook_headers(), BODY, { now = TS + 11, tolerance = 10 }))
    fails("too_new", verify(hook_headers(), BODY, { now = TS - 11, tolerance = 10 }))
    -- without opts.now: the example is from 2021
    fails("too_old", webhooks.verify(SECRET, hook_headers(), BODY))
  end)

  it("refuses timestamps that are not Unix seconds", function()
    for _, ts in ipairs { "abc", "-1", "1614265330.0", " 1614265330", "1614265330 ", "+1614265330",
                          "0x6036", string.rep("1", 16) } do
      fails("bad_timestamp", verify(hook_headers { ["webhook-timestamp"] = ts }))
    end
  end)

  it("names a missing header", function()
    for _, name in ipairs { "webhook-id", "webhook-timestamp", "webhook-signature" } do
      local err = fails("missing_header", verify(hook_headers { [name] = cjson.null }))
      assert.matches(name, err.message, 1, true)
      fails("missing_header", verify(hook_headers { [name] = "" }))
      fails("missing_header", verify(hook_headers { [name] = {} }))
    end
    fails("missing_header", verify({}))
  end)

  it("takes ngx.req.get_headers() tables: any case, repeated headers as lists", function()
    ok(verify { ["Webhook-Id"] = ID, ["WEBHOOK-TIMESTAMP"] = tostring(TS), ["webhook-Signature"] = SIGNATURE })
    -- a repeated signature header: every entry of every copy counts
    ok(verify(hook_headers { ["webhook-signature"] = { "v1,bad", SIGNATURE } }))
    ok(verify(hook_headers { ["webhook-id"] = { ID, ID } }))
    fails("duplicate_header", verify(hook_headers { ["webhook-id"] = { ID, "msg_other" } }))
    fails("duplicate_header", verify(hook_headers { ["Webhook-Timestamp"] = tostring(TS - 1) }))
    -- ngx's table also answers lookups in other spellings through __index
    local h = setmetatable(hook_headers(), { __index = function(t, k)
      return rawget(t, (k:lower():gsub("_", "-")))
    end })
    ok(verify(h))
    -- values that are not strings do not count
    fails("missing_header", verify(hook_headers { ["webhook-id"] = 42 }))
  end)

  it("checks interceptor calls with the interceptor-* headers", function()
    local sig = webhooks.sign(SECRET, "icp_1", TS, BODY)
    ok(webhooks.verify_interceptor(SECRET, headers("interceptor", "icp_1", tostring(TS), sig), BODY, { now = TS }))
    ok(webhooks.verify_interceptor(SECRET, { ["Interceptor-Id"] = "icp_1", ["Interceptor-Timestamp"] = tostring(TS),
      ["Interceptor-Signature"] = { sig } }, BODY, { now = TS }))
    local err = fails("missing_header", webhooks.verify_interceptor(SECRET, hook_headers(), BODY, { now = TS }))
    assert.matches("interceptor-id", err.message, 1, true)
    fails("too_old", webhooks.verify_interceptor(SECRET, headers("interceptor", "icp_1", tostring(TS), sig), BODY,
      { now = TS + 301 }))
    fails("bad_signature", webhooks.verify_interceptor(SECRET, headers("interceptor", "icp_2", tostring(TS), sig),
      BODY, { now = TS }))
    -- a webhook signature is no interceptor signature for another id
    fails("missing_header", webhooks.verify(SECRET, headers("interceptor", "icp_1", tostring(TS), sig), BODY))
  end)

  it("raises on programming mistakes, naming the caller's line", function()
    local err = raises("webhooks.verify: argument #1 (secret) must be a string (got nil)", function()
      webhooks.verify(nil, hook_headers(), BODY)
    end)
    assert.matches("41%-webhooks_spec%.lua:%d+: webhooks%.verify", err)
    raises("webhooks.verify: argument #2 (headers) must be a table (got string)", function()
      webhooks.verify(SECRET, "webhook-id: x", BODY)
    end)
    raises("webhooks.verify: argument #3 (body) must be a string (got nil)", function()
      webhooks.verify(SECRET, hook_headers(), nil)
    end)
    raises("webhooks.verify_interceptor: argument #4 (opts) must be a table", function()
      webhooks.verify_interceptor(SECRET, hook_headers(), BODY, 300)
    end)
    raises("webhooks.verify: unknown option 'tolerence'", function()
      webhooks.verify(SECRET, hook_headers(), BODY, { tolerence = 5 })
    end)
    raises("webhooks.verify: option 'tolerance' must be a finite number >= 0", function()
      webhooks.verify(SECRET, hook_headers(), BODY, { tolerance = -1 })
    end)
    raises("webhooks.verify: option 'tolerance' must be a finite number >= 0", function()
      webhooks.verify(SECRET, hook_headers(), BODY, { tolerance = 0 / 0 })
    end)
    raises("webhooks.verify: option 'now' must be a finite number", function()
      webhooks.verify(SECRET, hook_headers(), BODY, { now = math.huge })
    end)
    err = raises("webhooks.sign: argument #3 (timestamp) must be Unix seconds", function()
      webhooks.sign(SECRET, ID, 1.5, BODY)
    end)
    assert.matches("41%-webhooks_spec%.lua:%d+: webhooks%.sign", err)
    raises("webhooks.sign: argument #3 (timestamp) must be Unix seconds", function()
      webhooks.sign(SECRET, ID, "12a", BODY)
    end)
    raises("webhooks.sign: argument #4 (body) must be a string", function() webhooks.sign(SECRET, ID, TS) end)
  end)
end)
