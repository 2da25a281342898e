/* JWT parsing and verification (src/jwt.c) and base64 (src/crypto.c), through
 * the functions scalekit.jwt calls: jwt_verify, jwt_decode_header,
 * jwt_keyset, and the C pieces sk_base64_*.
 *
 * One RSA-2048 key is made at start (EVP_PKEY_Q_keygen); its JWKS (kid
 * "k1") is the keyset tokens are checked against. Byte 0 picks the mode;
 * the rest is the input:
 *   0 token: verify and decode_header. Results have the documented shape
 *     (a claims table, or nil + a known reason + a message, and
 *     a kid exactly on unknown_key); a token nobody signed never verifies;
 *     decode_header succeeds only when verify got past the structure and
 *     the header.
 *   1 signed: "<header JSON>\n<claims JSON>" signed with the key (so the
 *     checks after the signature are reached): never bad_signature; on
 *     success the claims equal the claims JSON decoded alone.
 *   2, 3 JWKS: the input decoded by lua-cjson and given to jwt_keyset: a
 *     keyset (kids are strings, get finds each) or nil + message; a token
 *     signed with the key then verifies, fails unknown_key or
 *     bad_signature, never anything else.
 *   4 base64: sk_base64_decode in both alphabets accepts exactly the
 *     canonical encodings (decode then encode gives the input back, up to
 *     optional padding), and encode then decode gives the bytes back. */
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "fuzz.h"
#include "crypto.h"
#include "jwt.h"

static lua_State *L;
static EVP_PKEY *key;
static char valid_token[2048];
/* Stack slots made once. */
#define CORE       1 /* table with the crypto functions */
#define KEYSET     2 /* keyset of the key, kid "k1" */
#define OPTS       3 /* verify options */
#define DECODER    4 /* lua-cjson decoder, depth 1000 */
#define CHECK_SAME 5 /* fuzz lib "same" */
#define KNOWN      6 /* the option names verify accepts */

static const char *const REASONS[] = {
    "malformed",  "unsupported_alg", "unknown_key", "bad_signature", "expired", "not_yet_valid",
    "bad_issuer", "bad_audience",    "bad_nonce",   "missing_scope", NULL};

static void b64url(const unsigned char *in, size_t n, char *out) {
  out[sk_base64_encode(in, n, out, SK_B64_URL)] = '\0';
}

/* header.claims signed with the key (RS256), into out (NUL-terminated). */
static void sign_token(const char *header, size_t hlen, const char *claims, size_t clen, char *out,
                       size_t cap) {
  unsigned char sig[512];
  size_t sig_len = sizeof sig, len;
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  FUZZ_CHECK(
      sk_base64_encoded_len(hlen, SK_B64_URL) + sk_base64_encoded_len(clen, SK_B64_URL) + 400 < cap,
      "token too long");
  b64url((const unsigned char *)header, hlen, out);
  len = strlen(out);
  out[len++] = '.';
  b64url((const unsigned char *)claims, clen, out + len);
  len += strlen(out + len);
  FUZZ_CHECK(md && EVP_DigestSignInit_ex(md, NULL, "SHA256", NULL, NULL, key, NULL) == 1 &&
                 EVP_DigestSign(md, sig, &sig_len, (unsigned char *)out, len) == 1,
             "signing failed");
  EVP_MD_CTX_free(md);
  out[len++] = '.';
  b64url(sig, sig_len, out + len);
}

static void push_core_function(const char *name) { lua_getfield(L, CORE, name); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
  BIGNUM *n = NULL, *e = NULL;
  unsigned char bytes[512];
  char n64[700], e64[16];
  (void)argc;
  (void)argv;
  L = fuzz_new_state();
  lua_newtable(L);
  sk_crypto_open(L); /* CORE */
  key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
  if (key == NULL || !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n) ||
      !EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e))
    abort();
  b64url(bytes, (size_t)BN_bn2bin(n, bytes), n64);
  b64url(bytes, (size_t)BN_bn2bin(e, bytes), e64);
  BN_free(n);
  BN_free(e);
  push_core_function("jwt_keyset");
  lua_createtable(L, 0, 1);
  lua_createtable(L, 1, 0);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, "RSA");
  lua_setfield(L, -2, "kty");
  lua_pushstring(L, "k1");
  lua_setfield(L, -2, "kid");
  lua_pushstring(L, n64);
  lua_setfield(L, -2, "n");
  lua_pushstring(L, e64);
  lua_setfield(L, -2, "e");
  lua_rawseti(L, -2, 1);
  lua_setfield(L, -2, "keys");
  if (lua_pcall(L, 1, 1, 0) != LUA_OK || !lua_isuserdata(L, -1)) abort(); /* KEYSET */
  lua_createtable(L, 0, 4);                                               /* OPTS */
  lua_pushstring(L, "iss");
  lua_setfield(L, -2, "issuer");
  lua_pushstring(L, "aud");
  lua_setfield(L, -2, "audience");
  lua_pushnumber(L, 1700000000);
  lua_setfield(L, -2, "now");
  lua_createtable(L, 1, 0);
  lua_pushstring(L, "read");
  lua_rawseti(L, -2, 1);
  lua_setfield(L, -2, "required_scopes");
  sk_json_push_decoder(L, 1000); /* DECODER */
  fuzz_push_chunk(L, "=fuzzlib", FUZZ_LUA_LIB);
  lua_getfield(L, -1, "same");
  lua_replace(L, -2);       /* CHECK_SAME */
  lua_createtable(L, 0, 4); /* KNOWN: the keys of OPTS */
  lua_pushnil(L);
  while (lua_next(L, OPTS)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_pushboolean(L, 1);
    lua_rawset(L, KNOWN);
  }
  if (lua_gettop(L) != KNOWN) abort();
  {
    static const char header[] = "{\"alg\":\"RS256\",\"kid\":\"k1\"}";
    static const char claims[] =
        "{\"iss\":\"iss\",\"aud\":\"aud\",\"exp\":1700003600,\"scope\":\"read\"}";
    sign_token(header, sizeof header - 1, claims, sizeof claims - 1, valid_token,
               sizeof valid_token);
  }
  return 0;
}

/* Calls core.jwt_verify(token, keyset, OPTS, KNOWN, "fuzz"); checks the
 * shape of what comes back and leaves it on the stack; returns the number
 * of results. */
static int verify(const char *token, size_t n, int keyset) {
  int top = lua_gettop(L), count, i;
  push_core_function("jwt_verify");
  lua_pushlstring(L, token, n);
  lua_pushvalue(L, keyset);
  lua_pushvalue(L, OPTS);
  lua_pushvalue(L, KNOWN);
  lua_pushliteral(L, "fuzz");
  FUZZ_CHECK(lua_pcall(L, 5, LUA_MULTRET, 0) == LUA_OK, "jwt_verify raised: %s",
             lua_tostring(L, -1));
  count = lua_gettop(L) - top;
  if (lua_istable(L, top + 1)) {
    FUZZ_CHECK(count == 1, "success gave %d results", count);
    return count;
  }
  FUZZ_CHECK(count == 3 || count == 4, "failure gave %d results", count);
  FUZZ_CHECK(lua_isnil(L, top + 1) && lua_type(L, top + 2) == LUA_TSTRING &&
                 lua_type(L, top + 3) == LUA_TSTRING,
             "failure shape");
  for (i = 0; REASONS[i] && strcmp(REASONS[i], lua_tostring(L, top + 2)) != 0; i++) continue;
  FUZZ_CHECK(REASONS[i] != NULL, "unknown reason %s", lua_tostring(L, top + 2));
  if (count == 4)
    FUZZ_CHECK(
        strcmp(lua_tostring(L, top + 2), "unknown_key") == 0 && lua_type(L, top + 4) == LUA_TSTRING,
        "a kid result with reason %s", lua_tostring(L, top + 2));
  return count;
}

static const char *reason_at(int top) {
  return lua_isnil(L, top + 1) ? lua_tostring(L, top + 2) : "ok";
}

/* The messages of verify's failures before the header is decoded. */
static const char *const STRUCTURAL[] = {"the token is longer than 16384 bytes",
                                         "the token is not three dot-separated segments",
                                         "a token segment is not base64url without padding",
                                         "the token header is not a JSON object", NULL};

static void mode_token(const char *s, size_t n) {
  int top = lua_gettop(L), header_ok, structural = 0, i;
  const char *reason;
  verify(s, n, KEYSET);
  reason = reason_at(top);
  FUZZ_CHECK(strcmp(reason, "ok") != 0, "an unsigned token verified");
  for (i = 0; STRUCTURAL[i]; i++)
    if (strcmp(reason, "malformed") == 0 && strcmp(lua_tostring(L, top + 3), STRUCTURAL[i]) == 0)
      structural = 1;
  lua_settop(L, top);
  push_core_function("jwt_decode_header");
  lua_pushlstring(L, s, n);
  FUZZ_CHECK(lua_pcall(L, 1, LUA_MULTRET, 0) == LUA_OK, "decode_header raised");
  header_ok = lua_istable(L, top + 1);
  FUZZ_CHECK(header_ok == !structural, "decode_header %s but verify said %s",
             header_ok ? "ok" : "failed", reason);
  lua_settop(L, top);
}

static void mode_signed(const char *s, size_t n) {
  static char token[SK_JWT_MAX_TOKEN * 2];
  const char *nl = memchr(s, '\n', n);
  size_t hlen = nl ? (size_t)(nl - s) : n, clen = nl ? n - hlen - 1 : 0;
  int top = lua_gettop(L);
  if (n > 8000) return;
  sign_token(s, hlen, nl ? nl + 1 : "", clen, token, sizeof token);
  verify(token, strlen(token), KEYSET);
  FUZZ_CHECK(strcmp(reason_at(top), "bad_signature") != 0, "a signed token failed its signature");
  if (lua_istable(L, top + 1)) {
    FUZZ_CHECK(nl != NULL && sk_json_decode(L, DECODER, nl + 1, clen) == 0,
               "claims verified but do not decode");
    lua_pushvalue(L, CHECK_SAME);
    lua_pushvalue(L, top + 1);
    lua_pushvalue(L, -3);
    FUZZ_CHECK(lua_pcall(L, 2, 1, 0) == LUA_OK && lua_isnil(L, -1), "claims differ: %s",
               lua_tostring(L, -1));
  }
  lua_settop(L, top);
}

static void mode_jwks(const char *s, size_t n) {
  int top = lua_gettop(L), keyset, i, count;
  const char *reason;
  if (sk_json_decode(L, DECODER, s, n) != 0) {
    lua_settop(L, top);
    lua_pushnil(L);
  }
  push_core_function("jwt_keyset");
  lua_insert(L, -2);
  FUZZ_CHECK(lua_pcall(L, 1, 2, 0) == LUA_OK, "jwt_keyset raised: %s", lua_tostring(L, -1));
  if (lua_isnil(L, -2)) {
    FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "no message");
    lua_settop(L, top);
    return;
  }
  lua_pop(L, 1);
  keyset = lua_gettop(L);
  lua_getfield(L, keyset, "kids");
  lua_pushvalue(L, keyset);
  FUZZ_CHECK(lua_pcall(L, 1, 1, 0) == LUA_OK && lua_istable(L, -1), "kids failed");
  count = (int)lua_rawlen(L, -1);
  FUZZ_CHECK(count <= SK_JWKS_MAX_KEYS, "%d keys", count);
  for (i = 1; i <= count; i++) {
    lua_getfield(L, keyset, "get");
    lua_pushvalue(L, keyset);
    lua_rawgeti(L, -3, i);
    FUZZ_CHECK(lua_type(L, -1) == LUA_TSTRING, "kid %d is not a string", i);
    FUZZ_CHECK(lua_pcall(L, 2, 1, 0) == LUA_OK && lua_istable(L, -1), "get(kids[%d]) failed", i);
    lua_pop(L, 1);
  }
  lua_settop(L, keyset);
  verify(valid_token, strlen(valid_token), keyset);
  reason = reason_at(keyset);
  FUZZ_CHECK(
      !strcmp(reason, "ok") || !strcmp(reason, "unknown_key") || !strcmp(reason, "bad_signature"),
      "the signed token gave %s", reason);
  lua_settop(L, top);
}

static void mode_base64(const char *s, size_t n) {
  unsigned char *bytes = malloc(n + 2);
  char *again = malloc(n + 8);
  int flags;
  if (bytes == NULL || again == NULL) abort();
  for (flags = 0; flags <= 1; flags++) {
    size_t len, elen, e, i;
    if (sk_base64_decode(s, n, bytes, &len, flags) != 0) continue;
    /* The one encoding of these bytes: the input, up to optional padding
     * of the standard alphabet. */
    elen = sk_base64_encode(bytes, len, again, flags);
    for (e = elen; flags == SK_B64_STD && e > 0 && again[e - 1] == '='; e--) continue;
    for (i = n; flags == SK_B64_STD && i > 0 && s[i - 1] == '='; i--) continue;
    FUZZ_CHECK(e == i && memcmp(again, s, i) == 0, "not canonical (flags %d)", flags);
    FUZZ_CHECK(i == n || elen == n, "partial padding accepted");
  }
  /* Every byte string round-trips. */
  for (flags = 0; flags <= 1; flags++) {
    char *enc = malloc(sk_base64_encoded_len(n, flags) + 1);
    unsigned char *dec = malloc(n + 2);
    size_t elen, dlen;
    if (enc == NULL || dec == NULL) abort();
    elen = sk_base64_encode((const unsigned char *)s, n, enc, flags);
    FUZZ_CHECK(elen == sk_base64_encoded_len(n, flags), "encoded length");
    FUZZ_CHECK(
        sk_base64_decode(enc, elen, dec, &dlen, flags) == 0 && dlen == n && memcmp(dec, s, n) == 0,
        "round trip (flags %d)", flags);
    free(enc);
    free(dec);
  }
  free(bytes);
  free(again);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s;
  size_t n;
  if (size == 0) return 0;
  n = size - 1;
  s = malloc(n ? n : 1); /* exact size: ASan sees any read past the end */
  if (s == NULL) abort();
  memcpy(s, data + 1, n);
  switch (data[0] % 8) {
    case 0:
    case 5: mode_token(s, n); break;
    case 1: mode_signed(s, n); break; /* signing is slow: 1 input in 8 */
    case 2:
    case 6:
    case 7: mode_jwks(s, n); break;
    default: mode_base64(s, n); break;
  }
  FUZZ_CHECK(lua_gettop(L) == KNOWN, "stack %d", lua_gettop(L));
  free(s);
  lua_gc(L, LUA_GCCOLLECT, 0);
  return 0;
}
