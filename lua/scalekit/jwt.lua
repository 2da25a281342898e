--- scalekit.jwt: RS256 JWT verification against the keys of a JWKS, and the
-- small crypto helpers sign-in needs (random bytes, base64url, SHA-256,
-- HMAC-SHA256). The keys, the token's structure, header and signature are
-- handled in C on libcrypto (src/jwt.c, src/crypto.c).
--
--   local keyset = assert(jwt.keyset(jwks))       -- jwks: the decoded {keys = {...}}
--   local claims = jwt.verify(token, keyset, {issuer = "https://..."})
--   local header = jwt.decode_header(token)       -- when the header is wanted
--
-- Failures are `nil, err` with err.kind == "token" and err.reason one of
-- malformed, unsupported_alg, unknown_key (err.kid = the token's kid),
-- bad_signature, expired, not_yet_valid, bad_issuer, bad_audience,
-- bad_nonce, missing_scope.
local core = require "scalekit.core"

local c_keyset, c_decode_header, c_verify = core.jwt_keyset, core.jwt_decode_header, core.jwt_verify
local make_error = core.error

local jwt = {
  random_bytes = core.random_bytes,
  base64url_encode = core.base64url_encode,
  base64url_decode = core.base64url_decode,
  sha256 = core.sha256,
  hmac_sha256 = core.hmac_sha256,
}

--- The error object of a token that fails a check (err.kind "token").
function jwt.token_error(reason, message, kid)
  return make_error { kind = "token", reason = reason, message = message, kid = kid,
                      retryable = false, attempts = 0 }
end
local token_error = jwt.token_error

--- keyset | nil, err (kind "decode", reason "bad_jwks") from a decoded JWKS.
-- Keys that are not RS256 signing keys of 2048 to 8192 bits with a kid are
-- skipped; a JWKS without a usable key gives an empty keyset.
function jwt.keyset(jwks)
  local keyset, message = c_keyset(jwks)
  if keyset then return keyset end
  return nil, make_error { kind = "decode", reason = "bad_jwks", message = message }
end

--- The token's header, not verified (to pick a key): header | nil, err.
function jwt.decode_header(token)
  local header, reason, message = c_decode_header(token)
  if header then return header end
  return nil, token_error(reason, message)
end

local VERIFY_OPTIONS = { issuer = true, audience = true, leeway = true, now = true, nonce = true,
                         required_scopes = true }

--- claims | nil, err. opts: issuer (required), audience (a string the aud
-- claim, a string or a list, must hold), leeway (seconds, default 60), now
-- (seconds, default the current time), nonce, required_scopes (a list;
-- granted by the `scope` string, space-separated, or the `scopes` list).
function jwt.verify(token, keyset, opts)
  if type(opts) ~= "table" then
    error(("jwt.verify: argument #3 (opts) must be a table (got %s)"):format(type(opts)), 2)
  end
  return jwt.check(token, keyset, opts, VERIFY_OPTIONS, "jwt.verify")
end

--- jwt.verify for callers with their own option names and defaults
-- (sk.auth): opts is nil or a table whose keys are all keys of known;
-- issuer, leeway and now are used where opts has none; who is the
-- function argument errors name. Everything, the checks of the options
-- and of the claims included, runs in one C call per token.
-- -> claims | nil, err
function jwt.check(token, keyset, opts, known, who, issuer, leeway, now)
  local claims, reason, message, kid = c_verify(token, keyset, opts, known, who, issuer, leeway, now)
  if claims then return claims end
  return nil, token_error(reason, message, kid)
end

return jwt
