-- scalekit.jwt: keysets from a JWKS, RS256 token verification (every
-- failure reason, alg confusion, malformed input) and the crypto helpers.
-- Keys are made and tokens signed by node's crypto module (one process for
-- the whole file), so nothing here is checked against our own signing.
local jwt = require "scalekit.jwt"
local scalekit = require "scalekit"
local cjson = require "cjson"
local process = require "spec.helpers.process"
local util = require "spec.helpers.util"

local raises, number_type = util.raises, util.number_type

local NOW = 1700000000
local ISSUER = "https://env.example.scalekit.test"
local CLIENT_ID = "skc_app"

-- Makes the keys of `keys` ({name = {rsa = bits} | {ec = true}}) and signs
-- each entry of `tokens` ({key, alg, header, claims}: header and claims are
-- tables, JSON-encoded here, or strings used as the JSON text). Returns the
-- public JWKs and PEMs by key name and the tokens by entry name.
local SIGNER = [[
const crypto = require('crypto');
const req = JSON.parse(require('fs').readFileSync(0, 'utf8'));
const keys = {}, out = { jwk: {}, pem: {}, tokens: {} };
for (const [name, spec] of Object.entries(req.keys)) {
  keys[name] = spec.ec ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
                       : crypto.generateKeyPairSync('rsa', { modulusLength: spec.rsa });
  out.jwk[name] = keys[name].publicKey.export({ format: 'jwk' });
  out.pem[name] = keys[name].publicKey.export({ format: 'pem', type: 'spki' });
}
const b64u = (b) => Buffer.from(b).toString('base64url');
for (const [name, t] of Object.entries(req.tokens)) {
  // header and claims come base64url-encoded: any bytes survive the trip
  const input = t.header + '.' + t.claims;
  const data = Buffer.from(input), key = keys[t.key].privateKey;
  let sig;
  if (t.alg === 'RS256') sig = crypto.sign('sha256', data, key);
  else if (t.alg === 'RS512') sig = crypto.sign('sha512', data, key);
  else if (t.alg === 'PS256')
    sig = crypto.sign('sha256', data, { key, padding: crypto.constants.RSA_PKCS1_PSS_PADDING });
  else if (t.alg === 'ES256') sig = crypto.sign('sha256', data, { key, dsaEncoding: 'ieee-p1363' });
  else if (t.alg === 'HS256-pem') sig = crypto.createHmac('sha256', out.pem[t.key]).update(data).digest();
  else if (t.alg === 'none') sig = Buffer.alloc(0);
  else throw new Error('unknown alg ' + t.alg);
  out.tokens[name] = input + '.' + b64u(sig);
}
process.stdout.write(JSON.stringify(out));
]]

local function sign_all(keys, tokens)
  local request = { keys = keys, tokens = {} }
  for name, t in pairs(tokens) do
    request.tokens[name] = {
      key = t.key, alg = t.alg,
      header = jwt.base64url_encode(type(t.header) == "string" and t.header or cjson.encode(t.header)),
      claims = jwt.base64url_encode(type(t.claims) == "string" and t.claims or cjson.encode(t.claims)),
    }
  end
  local input = os.tmpname()
  local f = assert(io.open(input, "wb"))
  f:write(cjson.encode(request))
  f:close()
  local node = os.getenv("NODE") or "node"
  local out, code = process.run(process.shquote(node) .. " -e " .. process.shquote(SIGNER)
    .. " < " .. process.shquote(input))
  os.remove(input)
  assert(code == 0, "signer failed: " .. out)
  return cjson.decode(out)
end

local function copy(t)
  local c = {}
  for k, v in pairs(t) do c[k] = type(v) == "table" and copy(v) or v end
  return c
end

local function with(base, changes)
  local t = copy(base)
  for k, v in pairs(changes) do
    if v == cjson.null then t[k] = nil else t[k] = v end
  end
  return t
end

local CLAIMS = {
  iss = ISSUER, aud = CLIENT_ID, sub = "usr_1", email = "ann@example.com",
  exp = NOW + 3600, iat = NOW - 10, nbf = NOW - 10, nonce = "n-123",
  scope = "openid profile email read:orgs",
}
local HEADER_A = { alg = "RS256", kid = "key-a", typ = "JWT" }

local function token(key, alg, header, claims)
  return { key = key, alg = alg, header = header, claims = claims }
end

local TOKENS = {
  valid = token("a", "RS256", HEADER_A, CLAIMS),
  valid_b = token("b", "RS256", { alg = "RS256", kid = "key-b" }, CLAIMS),
  aud_list = token("a", "RS256", HEADER_A, with(CLAIMS, { aud = { "other", CLIENT_ID } })),
  aud_list_other = token("a", "RS256", HEADER_A, with(CLAIMS, { aud = { "x", "y" } })),
  no_aud = token("a", "RS256", HEADER_A, with(CLAIMS, { aud = cjson.null })),
  scopes_list = token("a", "RS256", HEADER_A,
    with(CLAIMS, { scope = cjson.null, scopes = { "read:orgs", "write:orgs" } })),
  no_iss = token("a", "RS256", HEADER_A, with(CLAIMS, { iss = cjson.null })),
  other_iss = token("a", "RS256", HEADER_A, with(CLAIMS, { iss = "https://evil.example" })),
  no_nonce = token("a", "RS256", HEADER_A, with(CLAIMS, { nonce = cjson.null })),
  no_exp = token("a", "RS256", HEADER_A, with(CLAIMS, { exp = cjson.null })),
  string_exp = token("a", "RS256", HEADER_A, with(CLAIMS, { exp = tostring(NOW + 3600) })),
  string_nbf = token("a", "RS256", HEADER_A, with(CLAIMS, { nbf = "soon" })),
  huge_exp = token("a", "RS256", HEADER_A,
    (cjson.encode(with(CLAIMS, { exp = cjson.null })):gsub("^{", '{"exp":1e999,'))),
  no_nbf_iat = token("a", "RS256", HEADER_A, with(CLAIMS, { nbf = cjson.null, iat = cjson.null })),
  future_nbf = token("a", "RS256", HEADER_A, with(CLAIMS, { nbf = NOW + 600 })),
  future_iat = token("a", "RS256", HEADER_A, with(CLAIMS, { iat = NOW + 600, nbf = cjson.null })),
  no_kid = token("a", "RS256", { alg = "RS256" }, CLAIMS),
  unknown_kid = token("a", "RS256", { alg = "RS256", kid = "key-zzz" }, CLAIMS),
  kid_number = token("a", "RS256", { alg = "RS256", kid = 7 }, CLAIMS),
  no_alg = token("a", "RS256", { kid = "key-a" }, CLAIMS),
  alg_none = token("a", "none", { alg = "none", kid = "key-a" }, CLAIMS),
  alg_none_upper = token("a", "none", { alg = "NONE", kid = "key-a" }, CLAIMS),
  hs256_pem = token("a", "HS256-pem", { alg = "HS256", kid = "key-a" }, CLAIMS),
  rs512 = token("a", "RS512", { alg = "RS512", kid = "key-a" }, CLAIMS),
  rs512_as_rs256 = token("a", "RS512", HEADER_A, CLAIMS),
  ps256 = token("a", "PS256", { alg = "PS256", kid = "key-a" }, CLAIMS),
  ps256_as_rs256 = token("a", "PS256", HEADER_A, CLAIMS),
  es256 = token("ec", "ES256", { alg = "ES256", kid = "key-ec" }, CLAIMS),
  rs256_ec_kid = token("a", "RS256", { alg = "RS256", kid = "key-ec" }, CLAIMS),
  crit = token("a", "RS256", { alg = "RS256", kid = "key-a", crit = { "exp" } }, CLAIMS),
  signed_by_b = token("b", "RS256", HEADER_A, CLAIMS),
  weak = token("weak", "RS256", { alg = "RS256", kid = "key-weak" }, CLAIMS),
  rs512_jwk = token("a", "RS256", { alg = "RS256", kid = "key-a-rs512" }, CLAIMS),
  -- valid signatures over content that is not a JWT
  claims_array = token("a", "RS256", HEADER_A, "[1,2,3]"),
  claims_string = token("a", "RS256", HEADER_A, '"claims"'),
  claims_garbage = token("a", "RS256", HEADER_A, "{not json"),
  claims_bad_utf8 = token("a", "RS256", HEADER_A, '{"iss":"\255"}'),
  claims_deep = token("a", "RS256", HEADER_A, string.rep("[", 200) .. string.rep("]", 200)),
  header_array = token("a", "RS256", '["RS256"]', CLAIMS),
  header_garbage = token("a", "RS256", "{alg:RS256}", CLAIMS),
  -- the same header with escapes and spacing: decoded by lua-cjson, not the
  -- fast path, and still accepted
  header_escaped = token("a", "RS256", ' { "alg" : "RS\\u0032\\u00356", "kid":"key-a" } ', CLAIMS),
  header_extra = token("a", "RS256", { alg = "RS256", kid = "key-a", typ = "at+jwt", x5t = 1,
                                       jku = "https://evil.example/keys" }, CLAIMS),
}

describe("scalekit.jwt", function()
  local signed, jwks, keyset

  setup(function()
    signed = sign_all({ a = { rsa = 2048 }, b = { rsa = 2048 }, weak = { rsa = 1024 }, ec = { ec = true } },
      TOKENS)
    local a, b = signed.jwk.a, signed.jwk.b
    a.kid, a.use, a.alg = "key-a", "sig", "RS256"
    b.kid = "key-b" -- no use, no alg: both may be absent
    jwks = { keys = { a, b } }
    keyset = assert(jwt.keyset(jwks))
  end)

  local function opts(extra)
    return with({ issuer = ISSUER, audience = CLIENT_ID, now = NOW }, extra or {})
  end

  -- verify must fail with this reason; returns the error object.
  local function fails(reason, tok, o, ks)
    local claims, err = jwt.verify(tok, ks or keyset, o or opts())
    assert.is_nil(claims)
    assert.is_true(scalekit.is_error(err), "expected an error object, got " .. tostring(err))
    assert.are.equal("token", err.kind)
    assert.are.equal(reason, err.reason, "message: " .. tostring(err.message))
    assert.are.equal("string", type(err.message))
    -- nothing of the token itself is handed out
    if #tok >= 16 then
      assert.is_falsy(tostring(err):find(tok:sub(-16), 1, true))
      assert.is_falsy(err.message:find(tok:sub(-16), 1, true))
    end
    return err
  end

  describe("keyset", function()
    it("keeps the RS256 signing keys by kid, in JWKS order", function()
      assert.are.same({ "key-a", "key-b" }, keyset:kids())
      assert.are.same({ kid = "key-a", kty = "RSA", alg = "RS256", bits = 2048 }, keyset:get("key-a"))
      assert.are.equal(2048, keyset:get("key-b").bits)
      assert.are.equal("integer", number_type(keyset:get("key-b").bits))
      assert.is_nil(keyset:get("key-zzz"))
      assert.matches("^scalekit.keyset %(2 keys%)$", tostring(keyset))
    end)

    it("skips keys that are not usable RS256 signing keys", function()
      local a = signed.jwk.a
      local function variant(changes) return with(a, changes) end
      local n_bytes = jwt.base64url_decode(a.n)
      local ks = assert(jwt.keyset { keys = {
        variant { kid = "ok" },
        with(signed.jwk.ec, { kid = "ec" }),
        with(signed.jwk.weak, { kid = "weak-1024" }),
        variant { kid = "enc", use = "enc" },
        variant { kid = "rs512", alg = "RS512" },
        variant { kid = "none", alg = "none" },
        { kty = "oct", kid = "hmac", k = "c2VjcmV0", alg = "HS256" },
        variant { kid = "no-kty", kty = cjson.null },
        variant { kid = "kty-lower", kty = "rsa" },
        variant { kid = "no-n", n = cjson.null },
        variant { kid = "no-e", e = cjson.null },
        variant { kid = "n-number", n = 12345 },
        variant { kid = "n-padded", n = a.n .. "=" },
        variant { kid = "n-std-alphabet", n = a.n:gsub("%-", "+"):gsub("_", "/") .. "+" },
        variant { kid = "n-empty", n = "" },
        variant { kid = "n-even", n = jwt.base64url_encode(n_bytes:sub(1, -2) .. "\0") },
        variant { kid = "n-huge", n = string.rep("A", 2000) .. "B" },
        variant { kid = "e-one", e = "AQ" },
        variant { kid = "e-even", e = "AQAA" },
        variant { kid = "e-huge", e = string.rep("_", 40) },
        variant { kid = "ops-sign", key_ops = { "sign" } },
        variant { kid = "ops-verify", key_ops = { "verify" } },
        variant { kid = cjson.null },
        variant { kid = "" },
        variant { kid = 42 },
        variant { kid = string.rep("k", 257) },
        variant { kid = "ok", e = "Aw" }, -- a second "ok": the first one stays
        "not a key", 17, cjson.null,
      } })
      assert.are.same({ "ok", "ops-verify" }, ks:kids())
      assert.is_nil(ks:get("ec"))
    end)

    it("keeps the first of two keys with the same kid", function()
      local a = signed.jwk.a
      local wrong_first = assert(jwt.keyset { keys = { with(a, { e = "Aw" }), a } })
      fails("bad_signature", signed.tokens.valid, opts(), wrong_first)
      local right_first = assert(jwt.keyset { keys = { a, with(a, { e = "Aw" }) } })
      assert(jwt.verify(signed.tokens.valid, right_first, opts()))
    end)

    it("takes moduli from 2048 to 8192 bits, with or without a leading zero byte", function()
      local n_bytes = jwt.base64url_decode(signed.jwk.a.n)
      local ks = assert(jwt.keyset { keys = {
        with(signed.jwk.a, { kid = "zero", n = jwt.base64url_encode("\0" .. n_bytes) }),
        with(signed.jwk.a, { kid = "2040", n = jwt.base64url_encode(n_bytes:sub(2)) }),
        -- n repeated: odd, and no small factors
        with(signed.jwk.a, { kid = "8192", n = jwt.base64url_encode(string.rep(n_bytes, 4)) }),
        with(signed.jwk.a, { kid = "8193", n = jwt.base64url_encode("\1" .. string.rep(n_bytes, 4)) }),
      } })
      assert.are.same({ "zero", "8192" }, ks:kids())
      assert.are.equal(8192, ks:get("8192").bits)
    end)

    it("refuses what is not a JWKS with a decode error", function()
      local cases = {
        { "not a table", "the JWKS is not a JSON object" },
        { nil, "the JWKS is not a JSON object" },
        { 42, "the JWKS is not a JSON object" },
        { {}, "the JWKS has no keys list" },
        { { keys = "x" }, "the JWKS has no keys list" },
        { { keys = { a = signed.jwk.a } }, "the JWKS keys are not a list" },
      }
      local many = {}
      for i = 1, 101 do many[i] = with(signed.jwk.a, { kid = "k" .. i }) end
      cases[#cases + 1] = { { keys = many }, "the JWKS has more than 100 keys" }
      for _, case in ipairs(cases) do
        local ks, err = jwt.keyset(case[1])
        assert.is_nil(ks)
        assert.is_true(scalekit.is_error(err))
        assert.are.equal("decode", err.kind)
        assert.are.equal("bad_jwks", err.reason)
        assert.are.equal(case[2], err.message)
      end
    end)

    it("is empty for an empty key list: every token then has an unknown key", function()
      local ks = assert(jwt.keyset { keys = {} })
      assert.are.same({}, ks:kids())
      local err = fails("unknown_key", signed.tokens.valid, opts(), ks)
      assert.are.equal("key-a", err.kid)
    end)

    it("closes once; a closed keyset is refused", function()
      local ks = assert(jwt.keyset(jwks))
      ks:close()
      ks:close()
      assert.are.equal("scalekit.keyset (closed)", tostring(ks))
      raises("jwt.verify: the keyset is closed", function() jwt.verify(signed.tokens.valid, ks, opts()) end)
      raises("keyset:kids: the keyset is closed", function() ks:kids() end)
      raises("keyset:get: argument #1 (kid) must be a string", function() keyset:get(1) end)
    end)

    it("can be collected (its keys are freed by __gc: see make test-asan)", function()
      local weak = setmetatable({}, { __mode = "k" })
      weak[assert(jwt.keyset(jwks))] = true
      util.full_gc()
      assert.is_nil(next(weak))
    end)
  end)

  describe("verify", function()
    it("returns the claims of a valid token (and only them: the header is jwt.decode_header's)", function()
      local claims, err = jwt.verify(signed.tokens.valid, keyset, opts())
      assert.is_table(claims, tostring(err))
      assert.is_nil(err)
      assert.are.equal("usr_1", claims.sub)
      assert.are.equal("ann@example.com", claims.email)
      assert.are.equal(NOW + 3600, claims.exp)
      assert.are.equal("integer", number_type(claims.exp))
      assert.are.same(HEADER_A, jwt.decode_header(signed.tokens.valid))
      -- each call hands out its own tables
      local again = jwt.verify(signed.tokens.valid, keyset, opts())
      assert.are_not.equal(claims, again)
      assert.are.same(claims, again)
    end)

    -- A header segment that passed its checks is remembered by its key and
    -- not decoded again; the verdict on any token must stay what decoding
    -- its own header gives.
    it("judges each token by its own header when a key remembers another one", function()
      local ks = assert(jwt.keyset(jwks))
      local valid = signed.tokens.valid
      local h, p, s = valid:match("^([^.]*)%.([^.]*)%.([^.]*)$")
      assert(jwt.verify(valid, ks, opts()))
      -- the same header over another signature, and other headers naming key-a
      fails("bad_signature", h .. "." .. p .. "." .. s:sub(1, -3) .. (s:sub(-2) == "AA" and "AQ" or "AA"), opts(), ks)
      fails("unsupported_alg", signed.tokens.alg_none, opts(), ks)
      fails("unsupported_alg", signed.tokens.crit, opts(), ks)
      fails("unsupported_alg", signed.tokens.hs256_pem, opts(), ks)
      fails("malformed", "e30." .. p .. "." .. s, opts(), ks) -- header {}
      -- two keys in turn, each with its header remembered
      for _ = 1, 3 do
        assert.are.equal("usr_1", assert(jwt.verify(signed.tokens.valid_b, ks, opts())).sub)
        assert.are.equal("usr_1", assert(jwt.verify(valid, ks, opts())).sub)
      end
      -- a header signed by b under key-a's kid still fails after key-a's header was remembered
      fails("bad_signature", signed.tokens.signed_by_b, opts(), ks)
      -- a header that failed is not remembered: the unknown kid stays unknown
      fails("unknown_key", signed.tokens.unknown_kid, opts(), ks)
      assert.are.equal("key-zzz", fails("unknown_key", signed.tokens.unknown_kid, opts(), ks).kid)
    end)

    it("checks options against the caller's names and falls back to its defaults (jwt.check)", function()
      local tok = signed.tokens.valid
      local known = { audience = true }
      -- issuer, leeway and now from the arguments; opts may be nil
      assert(jwt.check(tok, keyset, nil, known, "my.check", ISSUER, 60, NOW))
      assert.are.equal("bad_issuer", select(2, jwt.check(tok, keyset, nil, known, "my.check",
                                                         "https://other.example", 60, NOW)).reason)
      assert.are.equal("expired", select(2, jwt.check(tok, keyset, {}, known, "my.check", ISSUER, 0,
                                                      NOW + 3600)).reason)
      assert.are.equal("bad_audience", select(2, jwt.check(tok, keyset, { audience = "x" }, known,
                                                           "my.check", ISSUER, 60, NOW)).reason)
      -- an option the caller does not know is a mistake, named after the caller
      raises("my.check: unknown option 'nonce'", function()
        jwt.check(tok, keyset, { nonce = "n-123" }, known, "my.check", ISSUER, 60, NOW)
      end)
      raises("my.check: option 'audience' must be a string (got number)", function()
        jwt.check(tok, keyset, { audience = 1 }, known, "my.check", ISSUER, 60, NOW)
      end)
      raises("my.check: option 'issuer' is required", function()
        jwt.check(tok, keyset, nil, known, "my.check")
      end)
      raises("my.check: the options must be a table (got string)", function()
        jwt.check(tok, keyset, "x", known, "my.check", ISSUER)
      end)
    end)

    it("verifies with the key the kid names", function()
      assert.are.equal("usr_1", jwt.verify(signed.tokens.valid_b, keyset, opts()).sub)
    end)

    it("checks the audience against a string or a list, and not at all without opts.audience", function()
      assert(jwt.verify(signed.tokens.aud_list, keyset, opts()))
      assert(jwt.verify(signed.tokens.no_aud, keyset, opts { audience = cjson.null }))
      assert(jwt.verify(signed.tokens.aud_list_other, keyset, opts { audience = cjson.null }))
      fails("bad_audience", signed.tokens.aud_list_other)
      fails("bad_audience", signed.tokens.no_aud)
      fails("bad_audience", signed.tokens.valid, opts { audience = "skc_other" })
    end)

    it("checks the issuer exactly", function()
      fails("bad_issuer", signed.tokens.other_iss)
      fails("bad_issuer", signed.tokens.no_iss)
      fails("bad_issuer", signed.tokens.valid, opts { issuer = ISSUER .. "/" })
    end)

    it("checks exp with the leeway (default 60 s)", function()
      local exp = NOW + 3600
      assert(jwt.verify(signed.tokens.valid, keyset, opts { now = exp + 59 }))
      fails("expired", signed.tokens.valid, opts { now = exp + 60 })
      assert(jwt.verify(signed.tokens.valid, keyset, opts { now = exp - 1, leeway = 0 }))
      fails("expired", signed.tokens.valid, opts { now = exp, leeway = 0 })
      assert(jwt.verify(signed.tokens.valid, keyset, opts { now = exp + 299, leeway = 300 }))
      fails("expired", signed.tokens.valid, opts { now = exp + 300, leeway = 300 })
    end)

    it("checks nbf and iat with the leeway", function()
      assert(jwt.verify(signed.tokens.future_nbf, keyset, opts { now = NOW + 540 }))
      fails("not_yet_valid", signed.tokens.future_nbf, opts { now = NOW + 539 })
      fails("not_yet_valid", signed.tokens.future_nbf, opts { now = NOW + 599, leeway = 0 })
      assert(jwt.verify(signed.tokens.future_iat, keyset, opts { now = NOW + 540 }))
      fails("not_yet_valid", signed.tokens.future_iat)
      assert(jwt.verify(signed.tokens.no_nbf_iat, keyset, opts()))
    end)

    it("uses the current time when opts.now is absent", function()
      fails("expired", signed.tokens.valid, opts { now = cjson.null }) -- NOW is in 2023
    end)

    it("checks the nonce when one is given", function()
      assert(jwt.verify(signed.tokens.valid, keyset, opts { nonce = "n-123" }))
      fails("bad_nonce", signed.tokens.valid, opts { nonce = "n-124" })
      fails("bad_nonce", signed.tokens.no_nonce, opts { nonce = "n-123" })
      assert(jwt.verify(signed.tokens.no_nonce, keyset, opts()))
    end)

    it("checks required scopes from the scope string or the scopes list", function()
      assert(jwt.verify(signed.tokens.valid, keyset, opts { required_scopes = { "read:orgs", "openid" } }))
      assert(jwt.verify(signed.tokens.valid, keyset, opts { required_scopes = {} }))
      local err = fails("missing_scope", signed.tokens.valid, opts { required_scopes = { "openid", "write:orgs" } })
      assert.matches("write:orgs", err.message, 1, true)
      assert(jwt.verify(signed.tokens.scopes_list, keyset, opts { required_scopes = { "write:orgs" } }))
      fails("missing_scope", signed.tokens.scopes_list, opts { required_scopes = { "openid" } })
      fails("missing_scope", signed.tokens.valid, opts { required_scopes = { "read" } }) -- whole words only
    end)

    it("names the token's kid on unknown_key so the caller can refetch the JWKS", function()
      local err = fails("unknown_key", signed.tokens.unknown_kid)
      assert.are.equal("key-zzz", err.kid)
      err = fails("unknown_key", signed.tokens.no_kid)
      assert.is_nil(err.kid)
      -- a JWK whose own alg is not RS256 is no key for RS256 tokens
      local ks = assert(jwt.keyset { keys = { with(signed.jwk.a, { kid = "key-a-rs512", alg = "RS512" }) } })
      assert.are.equal("key-a-rs512", fails("unknown_key", signed.tokens.rs512_jwk, opts(), ks).kid)
      -- keys under 2048 bits are never loaded
      local weak = assert(jwt.keyset { keys = { with(signed.jwk.weak, { kid = "key-weak" }) } })
      fails("unknown_key", signed.tokens.weak, opts(), weak)
    end)

    it("refuses bad signatures", function()
      fails("bad_signature", signed.tokens.signed_by_b)
      local tok = signed.tokens.valid
      local h, p, s = tok:match("^([^.]*)%.([^.]*)%.([^.]*)$")
      local sig = jwt.base64url_decode(s)
      local flipped = sig:sub(1, 100) .. string.char((sig:byte(101) + 1) % 256) .. sig:sub(102)
      fails("bad_signature", h .. "." .. p .. "." .. jwt.base64url_encode(flipped))
      fails("bad_signature", h .. "." .. p .. "." .. jwt.base64url_encode(sig:sub(2)))
      fails("bad_signature", h .. "." .. p .. "." .. jwt.base64url_encode("\0" .. sig))
      fails("bad_signature", h .. "." .. p .. ".")
      -- claims changed after signing
      local claims = cjson.decode(jwt.base64url_decode(p))
      claims.sub = "usr_admin"
      fails("bad_signature", h .. "." .. jwt.base64url_encode(cjson.encode(claims)) .. "." .. s)
    end)

    describe("refuses algorithm confusion", function()
      local cases = {
        { "alg none", "alg_none", "unsupported_alg" },
        { "alg NONE", "alg_none_upper", "unsupported_alg" },
        { "HS256 signed with the public key PEM as secret", "hs256_pem", "unsupported_alg" },
        { "RS512", "rs512", "unsupported_alg" },
        { "PS256", "ps256", "unsupported_alg" },
        { "ES256 with an EC key", "es256", "unsupported_alg" },
        { "RS512 signature under alg RS256", "rs512_as_rs256", "bad_signature" },
        { "PS256 signature under alg RS256", "ps256_as_rs256", "bad_signature" },
        { "RS256 naming an EC key (kty mismatch)", "rs256_ec_kid", "unknown_key" },
        { "crit header parameters", "crit", "unsupported_alg" },
      }
      for _, case in ipairs(cases) do
        it(case[1], function()
          -- the EC key is in the JWKS too: it must not be usable
          local ks = assert(jwt.keyset { keys = { jwks.keys[1], with(signed.jwk.ec, { kid = "key-ec" }) } })
          fails(case[3], signed.tokens[case[2]], opts(), ks)
        end)
      end
    end)

    it("ignores header parameters it does not use (jku, x5t, typ)", function()
      assert(jwt.verify(signed.tokens.header_extra, keyset, opts()))
      local header = jwt.decode_header(signed.tokens.header_extra)
      assert.are.equal("https://evil.example/keys", header.jku)
      assert.are.equal(1, header.x5t)
    end)

    it("decodes headers with escapes and spacing the same way", function()
      assert(jwt.verify(signed.tokens.header_escaped, keyset, opts()))
      assert.are.same({ alg = "RS256", kid = "key-a" }, jwt.decode_header(signed.tokens.header_escaped))
    end)

    describe("refuses malformed tokens", function()
      local function b64(s) return jwt.base64url_encode(s) end
      local good_h = b64('{"alg":"RS256","kid":"key-a"}')
      local cases = {
        { "empty", function() return "" end },
        { "one segment", function() return "abc" end },
        { "two segments", function() return good_h .. ".e30" end },
        { "four segments", function(v) return v .. ".e30" end },
        { "five segments (JWE)", function(v) return v .. ".e30.e30" end },
        { "only dots", function() return ".." end },
        { "padding", function(v) return (v:gsub("%.", "=.", 1)) end },
        { "standard alphabet", function(v) return (v:gsub("^(.)", "+")) end },
        { "whitespace", function(v) return " " .. v end },
        { "newline inside", function(v) return (v:gsub("%.", "\n.", 1)) end },
        { "NUL byte", function(v) return (v:gsub("%.", "\0.", 1)) end },
        { "length 4k+1 segment", function(v) return (v:gsub("^[^.]*", "AAAAA")) end },
        { "non-zero trailing bits", function(v) return (v:gsub("%.[^.]*%.", ".e31.")) end },
        { "header not JSON", function() return b64("alg=RS256") .. ".e30.AA" end },
        { "header JSON array", function() return b64('["RS256"]') .. ".e30.AA" end },
        { "header JSON string", function() return b64('"RS256"') .. ".e30.AA" end },
        { "header JSON number", function() return b64("256") .. ".e30.AA" end },
        { "header empty", function() return ".e30.AA" end },
        { "header invalid UTF-8", function() return b64('{"alg":"RS256","kid":"\255"}') .. ".e30.AA" end },
        { "header with NUL", function() return b64('{"alg":"RS256"}\0') .. ".e30.AA" end },
        { "header nested 1000 deep", function()
          return b64('{"a":' .. string.rep("[", 1000) .. string.rep("]", 1000) .. "}") .. ".e30.AA" end },
        { "header without alg", function() return signed.tokens.no_alg end },
        { "kid not a string", function() return signed.tokens.kid_number end },
        { "signed claims: a JSON array", function() return signed.tokens.claims_array end },
        { "signed claims: a JSON string", function() return signed.tokens.claims_string end },
        { "signed claims: not JSON", function() return signed.tokens.claims_garbage end },
        { "signed claims: invalid UTF-8", function() return signed.tokens.claims_bad_utf8 end },
        { "signed claims: nested too deep", function() return signed.tokens.claims_deep end },
        { "signed header: a JSON array", function() return signed.tokens.header_array end },
        { "signed header: not JSON", function() return signed.tokens.header_garbage end },
        { "signed claims without exp", function() return signed.tokens.no_exp end },
        { "signed claims with a string exp", function() return signed.tokens.string_exp end },
        { "signed claims with an infinite exp", function() return signed.tokens.huge_exp end },
        { "signed claims with a string nbf", function() return signed.tokens.string_nbf end },
        { "over 16 KB", function(v)
          local h, rest = v:match("^([^.]*)(.*)$")
          return h .. string.rep("A", 16384) .. rest end },
        { "1 MB of dots", function() return string.rep(".", 1024 * 1024) end },
      }
      for _, case in ipairs(cases) do
        it(case[1], function()
          local tok = case[2](signed.tokens.valid)
          fails("malformed", tok)
        end)
      end
    end)

    it("raises on programming mistakes, naming the caller's line", function()
      local tok = signed.tokens.valid
      local err = raises("jwt.verify: argument #1 (token) must be a string (got nil)", function()
        jwt.verify(nil, keyset, opts())
      end)
      assert.matches("40%-jwt_spec%.lua:%d+: jwt%.verify", err)
      err = raises("jwt.verify: argument #2 (keyset) must be a keyset", function() jwt.verify(tok, jwks, opts()) end)
      assert.matches("40%-jwt_spec%.lua:%d+: jwt%.verify", err)
      raises("jwt.verify: argument #3 (opts) must be a table", function() jwt.verify(tok, keyset) end)
      raises("jwt.verify: option 'issuer' is required", function() jwt.verify(tok, keyset, { now = NOW }) end)
      raises("jwt.verify: unknown option 'audiences'", function()
        jwt.verify(tok, keyset, opts { audiences = { CLIENT_ID } })
      end)
      raises("jwt.verify: unknown option (a number key)", function()
        jwt.verify(tok, keyset, opts { [1] = "x" })
      end)
      raises("jwt.verify: option 'audience' must be a string (got table)", function()
        jwt.verify(tok, keyset, opts { audience = { CLIENT_ID } })
      end)
      raises("jwt.verify: option 'leeway' must be a finite number >= 0", function()
        jwt.verify(tok, keyset, opts { leeway = -1 })
      end)
      raises("jwt.verify: option 'now' must be finite", function()
        jwt.verify(tok, keyset, opts { now = 0 / 0 })
      end)
      raises("jwt.verify: required_scopes[2] must be a string", function()
        jwt.verify(tok, keyset, opts { required_scopes = { "a", 2 } })
      end)
    end)
  end)

  describe("decode_header", function()
    it("returns the header without verifying anything", function()
      assert.are.same(HEADER_A, jwt.decode_header(signed.tokens.valid))
      assert.are.same({ alg = "none", kid = "key-a" }, jwt.decode_header(signed.tokens.alg_none))
      assert.are.same({ alg = "RS256", kid = "key-zzz" }, jwt.decode_header(signed.tokens.unknown_kid))
    end)

    it("fails with malformed for what is not a token", function()
      for _, tok in ipairs { "", "a.b", "a.b.c.d", "e30.e30.e30=", "WzFd.e30.", string.rep("A", 20000) } do
        local header, err = jwt.decode_header(tok)
        assert.is_nil(header)
        assert.are.equal("token", err.kind)
        assert.are.equal("malformed", err.reason)
      end
      local err = raises("jwt.decode_header: argument #1 (token) must be a string", function()
        jwt.decode_header(42)
      end)
      assert.matches("40%-jwt_spec%.lua:%d+: jwt%.decode_header", err)
    end)
  end)

  describe("helpers", function()
    it("random_bytes gives n bytes from a CSPRNG", function()
      assert.are.equal("", jwt.random_bytes(0))
      local a, b = jwt.random_bytes(32), jwt.random_bytes(32)
      assert.are.equal(32, #a)
      assert.are_not.equal(a, b)
      local seen, distinct = {}, 0
      for c in jwt.random_bytes(4096):gmatch(".") do
        if not seen[c] then seen[c], distinct = true, distinct + 1 end
      end
      assert.is_true(distinct > 200, "distinct byte values: " .. distinct)
      raises("jwt.random_bytes: argument #1 (n) must be an integer from 0 to 1048576", function()
        jwt.random_bytes(1.5)
      end)
      raises("jwt.random_bytes: argument #1 (n) must be an integer", function() jwt.random_bytes(-1) end)
      raises("jwt.random_bytes: argument #1 (n) must be a number", function() jwt.random_bytes("8") end)
    end)

    it("base64url round-trips every length and has exactly one encoding per value", function()
      for n = 0, 40 do
        local s = jwt.random_bytes(n)
        local e = jwt.base64url_encode(s)
        assert.is_nil(e:find("[^%w%-_]"))
        assert.are.equal(s, jwt.base64url_decode(e))
      end
      assert.are.equal("_-8", jwt.base64url_encode("\255\239"))
      assert.are.equal("\255\239", jwt.base64url_decode("_-8"))
      for _, bad in ipairs { "A", "AAAAA", "YQ==", "YQ=", "Y+", "Y/", "YR", "YWF", "Y Q", "YQ\n", "\0" } do
        assert.is_nil(jwt.base64url_decode(bad), bad)
      end
      assert.are.equal("", jwt.base64url_decode(""))
    end)

    it("sha256 and hmac_sha256 match the standard test vectors", function()
      local function hex(s) return (s:gsub(".", function(c) return string.format("%02x", c:byte()) end)) end
      assert.are.equal("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", hex(jwt.sha256("abc")))
      assert.are.equal("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", hex(jwt.sha256("")))
      -- RFC 4231 test case 2
      assert.are.equal("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
        hex(jwt.hmac_sha256("Jefe", "what do ya want for nothing?")))
      assert.are.equal(32, #jwt.hmac_sha256("", ""))
      raises("jwt.hmac_sha256: argument #2 (s) must be a string", function() jwt.hmac_sha256("k") end)
      raises("jwt.sha256: argument #1 (s) must be a string", function() jwt.sha256(1) end)
    end)
  end)
end)
