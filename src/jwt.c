/* RS256 JWT verification: keysets built from a JWKS (one EVP_PKEY per usable
 * RSA key, made once), and all of a token's checks: structure, header,
 * key, signature, claims (exp, nbf, iat, iss, aud, nonce, scopes). One C
 * call per token with positional options, and a header segment seen
 * before not decoded again, keep validate_token within 20% of the RSA
 * verify itself (issue 10); lua/scalekit/jwt.lua only turns failures into
 * error objects. */
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/rsa.h>

#include "jwt.h"
#include "json.h"

/* Decoded bytes of the largest token: its three segments together. */
#define SK_JWT_DECODED_MAX (SK_JWT_MAX_TOKEN / 4 * 3 + 8)
/* Header segments up to this length are remembered per key (Scalekit's
 * take about 100 characters). */
#define SK_JWT_HEADER_CACHE 256
/* Modulus bytes of the largest key, plus a leading zero some encoders add. */
#define SK_RSA_N_MAX (SK_RSA_MAX_BITS / 8 + 1)
/* Exponent bytes: 65537 takes 3; more than 8 is no real key. */
#define SK_RSA_E_MAX 8
/* key_ops entries looked at. */
#define SK_JWK_OPS_MAX 16

typedef struct sk_jwk {
  EVP_PKEY *pkey;
  EVP_PKEY_CTX *verify; /* set up once: PKCS#1 v1.5 padding, SHA-256 */
  size_t sig_len;       /* modulus bytes: the only signature length */
  int bits;
  size_t kid_len;
  char kid[SK_JWK_KID_MAX + 1];
  /* The last header segment (as sent) that chose this key and passed the
   * header checks: a token repeating it skips decoding its header. */
  size_t header_len;
  char header[SK_JWT_HEADER_CACHE];
} sk_jwk;

/* Born empty (all zero), so __gc can run at any point of its filling. */
typedef struct sk_keyset {
  EVP_MD *sha256;     /* fetched once per keyset, not per token */
  EVP_MD_CTX *digest; /* reused for every token: no allocation per token */
  sk_jwk *keys;
  int count;
  int closed;
} sk_keyset;

/* ---- base64 ------------------------------------------------------------ */

static const char B64_STD[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
static const char B64_URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* The 6-bit value of character c in each alphabet; 64 when not in it. */
#define SK_B64_COMMON(c)                       \
  ((c) >= 'A' && (c) <= 'Z'   ? (c) - 'A'      \
   : (c) >= 'a' && (c) <= 'z' ? (c) - 'a' + 26 \
   : (c) >= '0' && (c) <= '9' ? (c) - '0' + 52 \
                              : 64)
#define SK_B64_STD_VALUE(c) ((c) == '+' ? 62 : (c) == '/' ? 63 : SK_B64_COMMON(c))
#define SK_B64_URL_VALUE(c) ((c) == '-' ? 62 : (c) == '_' ? 63 : SK_B64_COMMON(c))
/* Decoding tables, one per alphabet and position in a group of four: the
 * value already shifted into place, or SK_B64_INVALID, so a group is four
 * lookups or-ed together and one test. Built by the preprocessor. */
#define SK_B64_INVALID ((uint32_t)1 << 24)
#define SK_B64_ENTRY(value, c, shift) \
  (value(c) < 64 ? (uint32_t)value(c) << (shift) : SK_B64_INVALID)
#define SK_B64_4(v, s, i)                                                      \
  SK_B64_ENTRY(v, i, s), SK_B64_ENTRY(v, i + 1, s), SK_B64_ENTRY(v, i + 2, s), \
      SK_B64_ENTRY(v, i + 3, s)
#define SK_B64_16(v, s, i) \
  SK_B64_4(v, s, i), SK_B64_4(v, s, i + 4), SK_B64_4(v, s, i + 8), SK_B64_4(v, s, i + 12)
#define SK_B64_64(v, s, i) \
  SK_B64_16(v, s, i), SK_B64_16(v, s, i + 16), SK_B64_16(v, s, i + 32), SK_B64_16(v, s, i + 48)
#define SK_B64_TABLE(v, s) \
  { SK_B64_64(v, s, 0), SK_B64_64(v, s, 64), SK_B64_64(v, s, 128), SK_B64_64(v, s, 192) }

static const uint32_t b64_std_value[4][256] = {
    SK_B64_TABLE(SK_B64_STD_VALUE, 18), SK_B64_TABLE(SK_B64_STD_VALUE, 12),
    SK_B64_TABLE(SK_B64_STD_VALUE, 6), SK_B64_TABLE(SK_B64_STD_VALUE, 0)};
static const uint32_t b64_url_value[4][256] = {
    SK_B64_TABLE(SK_B64_URL_VALUE, 18), SK_B64_TABLE(SK_B64_URL_VALUE, 12),
    SK_B64_TABLE(SK_B64_URL_VALUE, 6), SK_B64_TABLE(SK_B64_URL_VALUE, 0)};

size_t sk_base64_encoded_len(size_t n, int flags) {
  if (flags & SK_B64_URL) return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
  return (n + 2) / 3 * 4;
}

size_t sk_base64_encode(const unsigned char *in, size_t n, char *out, int flags) {
  const char *abc = (flags & SK_B64_URL) ? B64_URL : B64_STD;
  size_t i = 0, o = 0;
  for (; i + 3 <= n; i += 3) {
    unsigned long v = (unsigned long)in[i] << 16 | (unsigned long)in[i + 1] << 8 | in[i + 2];
    out[o++] = abc[v >> 18];
    out[o++] = abc[(v >> 12) & 63];
    out[o++] = abc[(v >> 6) & 63];
    out[o++] = abc[v & 63];
  }
  if (n - i == 1) {
    out[o++] = abc[in[i] >> 2];
    out[o++] = abc[(in[i] & 3) << 4];
    if (!(flags & SK_B64_URL)) {
      out[o++] = '=';
      out[o++] = '=';
    }
  } else if (n - i == 2) {
    unsigned v = (unsigned)in[i] << 8 | in[i + 1];
    out[o++] = abc[v >> 10];
    out[o++] = abc[(v >> 4) & 63];
    out[o++] = abc[(v & 15) << 2];
    if (!(flags & SK_B64_URL)) out[o++] = '=';
  }
  return o;
}

int sk_base64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen, int flags) {
  const uint32_t(*value)[256] = (flags & SK_B64_URL) ? b64_url_value : b64_std_value;
  const unsigned char *s = (const unsigned char *)in;
  size_t i = 0, o = 0, tail;
  uint32_t bad = 0, v;
  /* The standard alphabet may carry its padding: drop exactly what makes
   * the length a multiple of 4, and only then. */
  if (!(flags & SK_B64_URL) && n > 0 && n % 4 == 0 && s[n - 1] == '=')
    n -= (n >= 2 && s[n - 2] == '=') ? 2 : 1;
  tail = n % 4;
  if (tail == 1) return -1;
  for (; i + 4 <= n; i += 4) {
    v = value[0][s[i]] | value[1][s[i + 1]] | value[2][s[i + 2]] | value[3][s[i + 3]];
    bad |= v;
    out[o] = (unsigned char)(v >> 16);
    out[o + 1] = (unsigned char)(v >> 8);
    out[o + 2] = (unsigned char)v;
    o += 3;
  }
  if (tail >= 2) {
    v = value[0][s[i]] | value[1][s[i + 1]] | (tail == 3 ? value[2][s[i + 2]] : 0);
    bad |= v;
    /* The bits past the last whole byte must be zero: one encoding only. */
    if (v & (tail == 2 ? 0xFFFFu : 0xFFu)) return -1;
    out[o++] = (unsigned char)(v >> 16);
    if (tail == 3) out[o++] = (unsigned char)(v >> 8);
  }
  if (bad & SK_B64_INVALID) return -1;
  *outlen = o;
  return 0;
}

/* ---- keyset userdata --------------------------------------------------- */

/* __gc, __close and close: frees every key; idempotent. */
static int keyset_close(lua_State *L) {
  sk_keyset *ks = luaL_checkudata(L, 1, SK_KEYSET_MT);
  int i;
  for (i = 0; i < ks->count; i++) {
    EVP_PKEY_CTX_free(ks->keys[i].verify);
    EVP_PKEY_free(ks->keys[i].pkey);
  }
  free(ks->keys);
  EVP_MD_CTX_free(ks->digest);
  EVP_MD_free(ks->sha256);
  ks->keys = NULL;
  ks->digest = NULL;
  ks->sha256 = NULL;
  ks->count = 0;
  ks->closed = 1;
  return 0;
}

static sk_keyset *check_keyset(lua_State *L, int idx, const char *who) {
  sk_keyset *ks = luaL_testudata(L, idx, SK_KEYSET_MT);
  if (ks == NULL)
    sk_argerror(L, who, "argument #%d (keyset) must be a keyset from jwt.keyset (got %s)", idx,
                luaL_typename(L, idx));
  else if (ks->closed)
    sk_argerror(L, who, "the keyset is closed");
  return ks;
}

static sk_jwk *keyset_find(const sk_keyset *ks, const char *kid, size_t len) {
  int i;
  for (i = 0; i < ks->count; i++)
    if (ks->keys[i].kid_len == len && memcmp(ks->keys[i].kid, kid, len) == 0) return &ks->keys[i];
  return NULL;
}

/* keyset:get(kid) -> {kid, kty, alg, bits} | nil */
static int keyset_get(lua_State *L) {
  sk_keyset *ks = check_keyset(L, 1, "keyset:get");
  size_t len;
  const char *kid;
  const sk_jwk *k;
  if (lua_type(L, 2) != LUA_TSTRING)
    return sk_argerror(L, "keyset:get", "argument #1 (kid) must be a string (got %s)",
                       luaL_typename(L, 2));
  kid = lua_tolstring(L, 2, &len);
  k = keyset_find(ks, kid, len);
  if (k == NULL) {
    lua_pushnil(L);
    return 1;
  }
  lua_createtable(L, 0, 4);
  lua_pushlstring(L, k->kid, k->kid_len);
  lua_setfield(L, -2, "kid");
  lua_pushliteral(L, "RSA");
  lua_setfield(L, -2, "kty");
  lua_pushliteral(L, "RS256");
  lua_setfield(L, -2, "alg");
  lua_pushinteger(L, k->bits);
  lua_setfield(L, -2, "bits");
  return 1;
}

/* keyset:kids() -> list of kids, in JWKS order */
static int keyset_kids(lua_State *L) {
  sk_keyset *ks = check_keyset(L, 1, "keyset:kids");
  int i;
  lua_createtable(L, ks->count, 0);
  for (i = 0; i < ks->count; i++) {
    lua_pushlstring(L, ks->keys[i].kid, ks->keys[i].kid_len);
    lua_rawseti(L, -2, i + 1);
  }
  return 1;
}

static int keyset_tostring(lua_State *L) {
  sk_keyset *ks = luaL_checkudata(L, 1, SK_KEYSET_MT);
  if (ks->closed)
    lua_pushliteral(L, "scalekit.keyset (closed)");
  else
    lua_pushfstring(L, "scalekit.keyset (%d keys)", ks->count);
  return 1;
}

/* ---- JWK -> EVP_PKEY --------------------------------------------------- */

/* The string field `name` of the table at idx: NULL with *present = 0 when
 * absent, NULL with *present = 1 when not a string. */
static const char *jwk_field(lua_State *L, int idx, const char *name, size_t *len, int *present) {
  const char *s = NULL;
  lua_pushstring(L, name);
  lua_rawget(L, idx);
  *present = !lua_isnil(L, -1);
  if (lua_type(L, -1) == LUA_TSTRING) s = lua_tolstring(L, -1, len);
  lua_pop(L, 1); /* the string stays alive in the JWK table */
  return s;
}

/* 1 when the field is a string equal to want (absent_ok: or absent). */
static int jwk_field_is(lua_State *L, int idx, const char *name, const char *want, int absent_ok) {
  size_t len;
  int present;
  const char *s = jwk_field(L, idx, name, &len, &present);
  if (!present) return absent_ok;
  return s != NULL && len == strlen(want) && memcmp(s, want, len) == 0;
}

/* 1 when key_ops is absent or lists "verify". */
static int jwk_may_verify(lua_State *L, int idx) {
  int found = 0;
  lua_pushliteral(L, "key_ops");
  lua_rawget(L, idx);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return 1;
  }
  if (lua_istable(L, -1)) {
    int i, n = (int)sk_rawlen(L, -1);
    for (i = 1; i <= n && i <= SK_JWK_OPS_MAX && !found; i++) {
      size_t len;
      const char *op;
      lua_rawgeti(L, -1, i);
      op = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &len) : NULL;
      found = op != NULL && len == 6 && memcmp(op, "verify", 6) == 0;
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return found;
}

/* A public key from modulus and exponent, checked by libcrypto and within
 * the bit range, with its verification context. 0, or -1 (key skipped). */
static int jwk_build(sk_jwk *k, const unsigned char *n, size_t n_len, const unsigned char *e,
                     size_t e_len, const EVP_MD *sha256) {
  BIGNUM *bn_n = BN_bin2bn(n, (int)n_len, NULL), *bn_e = BN_bin2bn(e, (int)e_len, NULL);
  OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
  OSSL_PARAM *params = NULL;
  EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL), *check = NULL;
  EVP_PKEY *pkey = NULL;
  int ok = bn_n != NULL && bn_e != NULL && bld != NULL && ctx != NULL &&
           OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) &&
           OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e) &&
           (params = OSSL_PARAM_BLD_to_param(bld)) != NULL && EVP_PKEY_fromdata_init(ctx) > 0 &&
           EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) > 0;
  if (ok) {
    k->bits = EVP_PKEY_get_bits(pkey);
    ok = k->bits >= SK_RSA_MIN_BITS && k->bits <= SK_RSA_MAX_BITS;
  }
  /* e odd and > 1, n odd and without small factors, ... */
  ok = ok && (check = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) != NULL &&
       EVP_PKEY_public_check(check) == 1;
  ok = ok && (k->verify = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) != NULL &&
       EVP_PKEY_verify_init(k->verify) > 0 &&
       EVP_PKEY_CTX_set_rsa_padding(k->verify, RSA_PKCS1_PADDING) > 0 &&
       EVP_PKEY_CTX_set_signature_md(k->verify, sha256) > 0;
  if (ok) {
    k->pkey = pkey;
    k->sig_len = (size_t)EVP_PKEY_get_size(pkey);
  } else {
    EVP_PKEY_CTX_free(k->verify);
    k->verify = NULL;
    EVP_PKEY_free(pkey);
    ERR_clear_error();
  }
  EVP_PKEY_CTX_free(check);
  EVP_PKEY_CTX_free(ctx);
  OSSL_PARAM_free(params);
  OSSL_PARAM_BLD_free(bld);
  BN_free(bn_n);
  BN_free(bn_e);
  return ok ? 0 : -1;
}

/* Adds the JWK table at idx to ks when it is a usable RS256 signing key
 * (kty RSA, use sig or absent, alg RS256 or absent, key_ops absent or with
 * verify, a kid not seen before); anything else is skipped. */
static void keyset_add(lua_State *L, sk_keyset *ks, int idx) {
  unsigned char n[SK_RSA_N_MAX + 2], e[SK_RSA_E_MAX + 2];
  size_t n64_len, e64_len, kid_len, n_len, e_len;
  int present;
  const char *kid, *n64, *e64;
  sk_jwk *k = &ks->keys[ks->count];
  if (!jwk_field_is(L, idx, "kty", "RSA", 0) || !jwk_field_is(L, idx, "use", "sig", 1) ||
      !jwk_field_is(L, idx, "alg", "RS256", 1) || !jwk_may_verify(L, idx))
    return;
  kid = jwk_field(L, idx, "kid", &kid_len, &present);
  n64 = jwk_field(L, idx, "n", &n64_len, &present);
  e64 = jwk_field(L, idx, "e", &e64_len, &present);
  if (kid == NULL || kid_len == 0 || kid_len > SK_JWK_KID_MAX || n64 == NULL || e64 == NULL ||
      keyset_find(ks, kid, kid_len) != NULL)
    return;
  /* Lengths first: nothing oversized is decoded. */
  if (n64_len > sk_base64_encoded_len(SK_RSA_N_MAX, SK_B64_URL) ||
      e64_len > sk_base64_encoded_len(SK_RSA_E_MAX, SK_B64_URL) ||
      sk_base64_decode(n64, n64_len, n, &n_len, SK_B64_URL) != 0 ||
      sk_base64_decode(e64, e64_len, e, &e_len, SK_B64_URL) != 0 || n_len == 0 || e_len == 0)
    return;
  if (jwk_build(k, n, n_len, e, e_len, ks->sha256) != 0) return;
  memcpy(k->kid, kid, kid_len);
  k->kid[kid_len] = '\0';
  k->kid_len = kid_len;
  ks->count++;
}

/* jwt_keyset(jwks) -> keyset | nil, message */
static int l_jwt_keyset(lua_State *L) {
  sk_keyset *ks;
  int i, count;
  if (!lua_istable(L, 1)) {
    lua_pushnil(L);
    lua_pushliteral(L, "the JWKS is not a JSON object");
    return 2;
  }
  lua_settop(L, 1);
  lua_pushliteral(L, "keys");
  lua_rawget(L, 1); /* 2: keys */
  if (!lua_istable(L, 2)) {
    lua_pushnil(L);
    lua_pushliteral(L, "the JWKS has no keys list");
    return 2;
  }
  count = (int)sk_rawlen(L, 2);
  lua_pushnil(L);
  if (count == 0 && lua_next(L, 2)) { /* an object, not a list */
    lua_pushnil(L);
    lua_pushliteral(L, "the JWKS keys are not a list");
    return 2;
  }
  lua_settop(L, 2);
  if (count > SK_JWKS_MAX_KEYS) {
    lua_pushnil(L);
    lua_pushfstring(L, "the JWKS has more than %d keys", SK_JWKS_MAX_KEYS);
    return 2;
  }
  ks = sk_newuserdata(L, sizeof *ks); /* 3 */
  memset(ks, 0, sizeof *ks);
  luaL_getmetatable(L, SK_KEYSET_MT);
  lua_setmetatable(L, 3);
  ks->sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
  ks->digest = EVP_MD_CTX_new();
  ks->keys = calloc((size_t)(count > 0 ? count : 1), sizeof *ks->keys);
  if (ks->sha256 == NULL || ks->digest == NULL || ks->keys == NULL)
    return luaL_error(L, "jwt.keyset: out of memory");
  for (i = 1; i <= count; i++) {
    lua_rawgeti(L, 2, i);
    if (lua_istable(L, -1)) keyset_add(L, ks, lua_gettop(L));
    lua_pop(L, 1);
  }
  return 1;
}

/* Pushes the JSON object in s, decoded by the SDK's lua-cjson decoder
 * (the functions' upvalue); -1 (nothing pushed) for anything else. */
static int push_object(lua_State *L, const unsigned char *s, size_t n) {
  size_t i = 0;
  /* an object, not an array: both decode to a table */
  while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r')) i++;
  if (i == n || s[i] != '{') return -1;
  if (sk_json_decode(L, lua_upvalueindex(1), (const char *)s, n) != 0) {
    lua_pop(L, 1); /* the decoder's message */
    return -1;
  }
  if (!lua_istable(L, -1)) {
    lua_pop(L, 1);
    return -1;
  }
  return 0;
}

/* ---- tokens ------------------------------------------------------------ */

/* A token cut into its segments. Payload and signature are decoded into
 * buf at once; the header only when it must be looked at. */
typedef struct sk_jwt {
  const char *segment[3]; /* header, payload, signature, as sent */
  size_t segment_len[3];
  const unsigned char *header, *payload, *signature;
  size_t header_len, payload_len, signature_len;
  size_t used; /* bytes of buf taken */
  unsigned char buf[SK_JWT_DECODED_MAX];
} sk_jwt;

#define SK_JWT_BAD_BASE64 "a token segment is not base64url without padding"

static int decode_segment(sk_jwt *t, int i, const unsigned char **out, size_t *len) {
  if (sk_base64_decode(t->segment[i], t->segment_len[i], t->buf + t->used, len, SK_B64_URL) != 0)
    return -1;
  *out = t->buf + t->used;
  t->used += *len;
  return 0;
}

/* Splits a token and decodes payload and signature; NULL, or the reason
 * it is malformed. */
static const char *jwt_parse(const char *token, size_t n, sk_jwt *t) {
  const char *dot1, *dot2;
  if (n > SK_JWT_MAX_TOKEN) return "the token is longer than 16384 bytes";
  dot1 = memchr(token, '.', n);
  dot2 = dot1 ? memchr(dot1 + 1, '.', n - (size_t)(dot1 + 1 - token)) : NULL;
  if (dot2 == NULL || memchr(dot2 + 1, '.', n - (size_t)(dot2 + 1 - token)) != NULL)
    return "the token is not three dot-separated segments";
  t->segment[0] = token, t->segment_len[0] = (size_t)(dot1 - token);
  t->segment[1] = dot1 + 1, t->segment_len[1] = (size_t)(dot2 - t->segment[1]);
  t->segment[2] = dot2 + 1, t->segment_len[2] = n - (size_t)(t->segment[2] - token);
  t->used = 0;
  if (decode_segment(t, 1, &t->payload, &t->payload_len) != 0 ||
      decode_segment(t, 2, &t->signature, &t->signature_len) != 0)
    return SK_JWT_BAD_BASE64;
  return NULL;
}

/* Pushes the decoded header object; NULL, or the reason it is malformed
 * (nothing pushed). */
static const char *push_header(lua_State *L, sk_jwt *t) {
  if (decode_segment(t, 0, &t->header, &t->header_len) != 0) return SK_JWT_BAD_BASE64;
  if (push_object(L, t->header, t->header_len) != 0) return "the token header is not a JSON object";
  return NULL;
}

/* nil, reason, message: a failure's results, on top of the stack. */
static int token_failure(lua_State *L, const char *reason, const char *message) {
  lua_pushnil(L);
  lua_pushstring(L, reason);
  lua_pushstring(L, message);
  return 3;
}

static const char *check_token(lua_State *L, size_t *n, const char *who) {
  if (lua_type(L, 1) != LUA_TSTRING)
    sk_argerror(L, who, "argument #1 (token) must be a string (got %s)", luaL_typename(L, 1));
  return lua_tolstring(L, 1, n);
}

/* jwt_decode_header(token) -> header | nil, "malformed", message */
static int l_jwt_decode_header(lua_State *L) {
  size_t n;
  const char *token = check_token(L, &n, "jwt.decode_header"), *why;
  sk_jwt t;
  if ((why = jwt_parse(token, n, &t)) != NULL || (why = push_header(L, &t)) != NULL)
    return token_failure(L, "malformed", why);
  return 1;
}

/* The key whose remembered header segment the token repeats, or NULL. */
static const sk_jwk *remembered_key(const sk_keyset *ks, const sk_jwt *t) {
  int i;
  for (i = 0; i < ks->count; i++) {
    const sk_jwk *k = &ks->keys[i];
    if (k->header_len == t->segment_len[0] && k->header_len > 0 &&
        memcmp(k->header, t->segment[0], k->header_len) == 0)
      return k;
  }
  return NULL;
}

/* Checks the token's header and finds the key its kid names: 0 with *key
 * set (the header segment remembered by the key), or the count of the
 * failure's results pushed (nil, reason, message [, kid]). */
static int header_key(lua_State *L, sk_keyset *ks, sk_jwt *t, const sk_jwk **key) {
  const char *why = push_header(L, t), *alg, *kid = NULL;
  size_t alg_len, kid_len = 0;
  int header = lua_gettop(L), kid_type;
  sk_jwk *k;
  if (why != NULL) return token_failure(L, "malformed", why);
  /* alg decides before the key does: an HS256 or "none" token naming a
   * known kid is still refused as such. */
  lua_pushliteral(L, "alg");
  lua_rawget(L, header);
  alg = lua_type(L, -1) == LUA_TSTRING ? lua_tolstring(L, -1, &alg_len) : NULL;
  if (alg == NULL) return token_failure(L, "malformed", "the token header has no alg");
  if (alg_len != 5 || memcmp(alg, "RS256", 5) != 0)
    return token_failure(L, "unsupported_alg", "only RS256 tokens are accepted");
  lua_pushliteral(L, "crit");
  lua_rawget(L, header);
  if (!lua_isnil(L, -1))
    return token_failure(L, "unsupported_alg", "the token header has crit extensions");
  lua_pushliteral(L, "kid");
  lua_rawget(L, header);
  kid_type = lua_type(L, -1);
  if (kid_type == LUA_TSTRING)
    kid = lua_tolstring(L, -1, &kid_len);
  else if (kid_type != LUA_TNIL)
    return token_failure(L, "malformed", "the token header's kid is not a string");
  k = kid ? keyset_find(ks, kid, kid_len) : NULL;
  if (k == NULL) {
    int kid_idx = lua_gettop(L);
    token_failure(L, "unknown_key",
                  kid ? "no key of the JWKS has the token's kid" : "the token has no kid");
    if (kid == NULL) return 3;
    lua_pushvalue(L, kid_idx);
    return 4;
  }
  if (t->segment_len[0] <= sizeof k->header) {
    memcpy(k->header, t->segment[0], t->segment_len[0]);
    k->header_len = t->segment_len[0];
  }
  lua_settop(L, header - 1);
  *key = k;
  return 0;
}

/* ---- claims checks ----------------------------------------------------- */

#define SK_DEFAULT_LEEWAY 60

typedef struct sk_verify_opts {
  const char *issuer, *audience, *nonce;
  size_t issuer_len, audience_len, nonce_len;
  double leeway, now;
  int scopes; /* stack index of required_scopes, or 0 */
} sk_verify_opts;

static int is_finite(double x) { return x - x == 0; }

/* Argument positions of jwt_verify. */
enum { ARG_TOKEN = 1, ARG_KEYSET, ARG_OPTS, ARG_KNOWN, ARG_WHO, ARG_ISSUER, ARG_LEEWAY, ARG_NOW };

static int key_is(const char *key, size_t len, const char *name) {
  return len == strlen(name) && memcmp(key, name, len) == 0;
}

/* A number option (or default) that must be finite; raises otherwise. */
static double finite_option(lua_State *L, int idx, const char *name, const char *who) {
  double v = lua_tonumber(L, idx);
  if (!is_finite(v)) sk_argerror(L, who, "option '%s' must be finite", name);
  return v;
}

/* Reads and checks the options table (nil: none), falling back to the
 * default arguments; raises on mistakes. Leaves required_scopes on the
 * stack when given. Walking the table here, not in Lua, keeps the check
 * of option names cheap enough to run per token. */
static void read_opts(lua_State *L, sk_verify_opts *o, const char *who) {
  int type = lua_type(L, ARG_OPTS);
  memset(o, 0, sizeof *o);
  o->leeway = lua_isnil(L, ARG_LEEWAY) ? SK_DEFAULT_LEEWAY : lua_tonumber(L, ARG_LEEWAY);
  o->now = lua_isnil(L, ARG_NOW) ? (double)time(NULL) : finite_option(L, ARG_NOW, "now", who);
  o->issuer = lua_tolstring(L, ARG_ISSUER, &o->issuer_len);
  if (type != LUA_TNIL && type != LUA_TTABLE)
    sk_argerror(L, who, "the options must be a table (got %s)", lua_typename(L, type));
  lua_pushnil(L);
  while (type == LUA_TTABLE && lua_next(L, ARG_OPTS)) {
    size_t len = 0;
    const char *key = lua_type(L, -2) == LUA_TSTRING ? lua_tolstring(L, -2, &len) : NULL;
    int want = LUA_TSTRING;
    if (key == NULL) sk_argerror(L, who, "unknown option (a %s key)", luaL_typename(L, -2));
    lua_pushvalue(L, -2);
    lua_rawget(L, ARG_KNOWN);
    if (lua_isnil(L, -1)) sk_argerror(L, who, "unknown option '%s'", key);
    lua_pop(L, 1);
    if (key_is(key, len, "leeway") || key_is(key, len, "now"))
      want = LUA_TNUMBER;
    else if (key_is(key, len, "required_scopes"))
      want = LUA_TTABLE;
    if (lua_type(L, -1) != want)
      sk_argerror(L, who, "option '%s' must be a %s (got %s)", key, lua_typename(L, want),
                  luaL_typename(L, -1));
    if (key_is(key, len, "issuer"))
      o->issuer = lua_tolstring(L, -1, &o->issuer_len);
    else if (key_is(key, len, "audience"))
      o->audience = lua_tolstring(L, -1, &o->audience_len);
    else if (key_is(key, len, "nonce"))
      o->nonce = lua_tolstring(L, -1, &o->nonce_len);
    else if (key_is(key, len, "leeway"))
      o->leeway = lua_tonumber(L, -1);
    else if (key_is(key, len, "now"))
      o->now = finite_option(L, -1, "now", who);
    lua_pop(L, 1);
  }
  if (!(o->leeway >= 0 && is_finite(o->leeway)))
    sk_argerror(L, who, "option 'leeway' must be a finite number >= 0");
  if (o->issuer == NULL) sk_argerror(L, who, "option 'issuer' is required");
  if (type != LUA_TTABLE) return;
  lua_pushliteral(L, "required_scopes");
  lua_rawget(L, ARG_OPTS);
  if (lua_istable(L, -1)) {
    int i, count = (int)sk_rawlen(L, -1);
    o->scopes = lua_gettop(L);
    for (i = 1; i <= count; i++) {
      lua_rawgeti(L, o->scopes, i);
      if (lua_type(L, -1) != LUA_TSTRING)
        sk_argerror(L, who, "required_scopes[%d] must be a string", i);
      lua_pop(L, 1);
    }
  } else {
    lua_pop(L, 1);
  }
}

/* The number claim `name` of the table at idx: 1 with it in *v; 0 when
 * absent; -1 when present but not a finite number. */
static int number_claim(lua_State *L, int idx, const char *name, double *v) {
  int type;
  lua_pushstring(L, name);
  lua_rawget(L, idx);
  type = lua_type(L, -1);
  *v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (type == LUA_TNIL) return 0;
  return type == LUA_TNUMBER && is_finite(*v) ? 1 : -1;
}

/* 1 when the value at idx is the string s[0..n). */
static int is_string(lua_State *L, int idx, const char *s, size_t n) {
  size_t len;
  const char *v;
  if (lua_type(L, idx) != LUA_TSTRING) return 0;
  v = lua_tolstring(L, idx, &len);
  return len == n && memcmp(v, s, n) == 0;
}

/* 1 when the string at idx or one string of the list at idx is s[0..n). */
static int has_string(lua_State *L, int idx, const char *s, size_t n) {
  int i, count, found = 0;
  if (!lua_istable(L, idx)) return is_string(L, idx, s, n);
  count = (int)sk_rawlen(L, idx);
  for (i = 1; i <= count && !found; i++) {
    lua_rawgeti(L, idx, i);
    found = is_string(L, -1, s, n);
    lua_pop(L, 1);
  }
  return found;
}

/* 1 when the space-separated list at idx (a string) has the word s[0..n). */
static int has_word(lua_State *L, int idx, const char *s, size_t n) {
  size_t len, i = 0;
  const char *list;
  if (lua_type(L, idx) != LUA_TSTRING || n == 0) return 0;
  list = lua_tolstring(L, idx, &len);
  while (i < len) {
    const char *space = memchr(list + i, ' ', len - i);
    size_t word = space ? (size_t)(space - list) - i : len - i;
    if (word == n && memcmp(list + i, s, n) == 0) return 1;
    i += word + 1;
  }
  return 0;
}

/* Checks the claims table at idx against o. NULL, or the reason with its
 * message pushed. */
static const char *check_claims(lua_State *L, int claims, const sk_verify_opts *o) {
  double exp, nbf, iat;
  int has_exp, has_nbf, has_iat;
  luaL_checkstack(L, 12, "jwt.verify"); /* what this and the failure results push */
  has_exp = number_claim(L, claims, "exp", &exp);
  has_nbf = number_claim(L, claims, "nbf", &nbf);
  has_iat = number_claim(L, claims, "iat", &iat);
  if (has_exp != 1) {
    lua_pushliteral(L, "the token has no numeric exp claim");
    return "malformed";
  }
  if (has_nbf < 0 || has_iat < 0) {
    lua_pushliteral(L, "the token's nbf or iat claim is not a number");
    return "malformed";
  }
  if (o->now >= exp + o->leeway) {
    lua_pushliteral(L, "the token has expired");
    return "expired";
  }
  if (has_nbf && nbf > o->now + o->leeway) {
    lua_pushliteral(L, "the token is not valid yet (nbf)");
    return "not_yet_valid";
  }
  if (has_iat && iat > o->now + o->leeway) {
    lua_pushliteral(L, "the token was issued in the future (iat)");
    return "not_yet_valid";
  }
  lua_pushliteral(L, "iss");
  lua_rawget(L, claims);
  if (!is_string(L, -1, o->issuer, o->issuer_len)) {
    lua_pushfstring(L, "the token's issuer is not \"%s\"", o->issuer);
    return "bad_issuer";
  }
  lua_pop(L, 1);
  if (o->audience) {
    lua_pushliteral(L, "aud");
    lua_rawget(L, claims);
    if (!has_string(L, -1, o->audience, o->audience_len)) {
      lua_pushfstring(L, "the token's audience does not include \"%s\"", o->audience);
      return "bad_audience";
    }
    lua_pop(L, 1);
  }
  if (o->nonce) {
    lua_pushliteral(L, "nonce");
    lua_rawget(L, claims);
    if (!is_string(L, -1, o->nonce, o->nonce_len)) {
      lua_pushliteral(L, "the token's nonce is not the one sent");
      return "bad_nonce";
    }
    lua_pop(L, 1);
  }
  if (o->scopes) {
    int i, count = (int)sk_rawlen(L, o->scopes);
    lua_pushliteral(L, "scope");
    lua_rawget(L, claims); /* -2: scope */
    lua_pushliteral(L, "scopes");
    lua_rawget(L, claims); /* -1: scopes */
    for (i = 1; i <= count; i++) {
      size_t len;
      const char *want;
      lua_rawgeti(L, o->scopes, i);
      want = lua_tolstring(L, -1, &len);
      if (!has_word(L, -3, want, len) && !(lua_istable(L, -2) && has_string(L, -2, want, len))) {
        lua_pushfstring(L, "the token lacks the scope \"%s\"", want);
        return "missing_scope";
      }
      lua_pop(L, 1);
    }
    lua_pop(L, 2);
  }
  return NULL;
}

/* jwt_verify(token, keyset, opts, known, who, issuer, leeway, now)
 * -> claims | nil, reason, message [, kid]. opts: the caller's options
 * (nil or a table whose keys are all keys of known); issuer, leeway, now:
 * what the options fall back to; who: the function argument errors name. */
static int l_jwt_verify(lua_State *L) {
  const char *who, *token, *why;
  size_t n;
  sk_keyset *ks;
  sk_verify_opts o;
  const sk_jwk *k;
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  sk_jwt t;
  int claims, failure;
  lua_settop(L, ARG_NOW);
  who = lua_type(L, ARG_WHO) == LUA_TSTRING ? lua_tostring(L, ARG_WHO) : "jwt.verify";
  luaL_checktype(L, ARG_KNOWN, LUA_TTABLE);
  token = check_token(L, &n, who);
  ks = check_keyset(L, ARG_KEYSET, who);
  read_opts(L, &o, who);
  if ((why = jwt_parse(token, n, &t)) != NULL) return token_failure(L, "malformed", why);
  if ((k = remembered_key(ks, &t)) == NULL && (failure = header_key(L, ks, &t, &k)) != 0)
    return failure;
  if (t.signature_len != k->sig_len || !EVP_DigestInit_ex2(ks->digest, ks->sha256, NULL) ||
      !EVP_DigestUpdate(ks->digest, token, (size_t)(t.segment[2] - 1 - token)) ||
      !EVP_DigestFinal_ex(ks->digest, md, &md_len) ||
      EVP_PKEY_verify(k->verify, t.signature, t.signature_len, md, md_len) != 1) {
    ERR_clear_error();
    return token_failure(L, "bad_signature", "the token signature does not verify");
  }
  if (push_object(L, t.payload, t.payload_len) != 0)
    return token_failure(L, "malformed", "the token claims are not a JSON object");
  claims = lua_gettop(L);
  if ((why = check_claims(L, claims, &o)) != NULL) {
    lua_pushnil(L);
    lua_pushstring(L, why);
    lua_pushvalue(L, -3); /* the message check_claims pushed */
    return 3;
  }
  lua_settop(L, claims);
  return 1;
}

void sk_jwt_open(lua_State *L) {
  static const luaL_Reg methods[] = {
      {"get", keyset_get}, {"kids", keyset_kids}, {"close", keyset_close}, {NULL, NULL}};
  static const luaL_Reg functions[] = {{"jwt_keyset", l_jwt_keyset},
                                       {"jwt_decode_header", l_jwt_decode_header},
                                       {"jwt_verify", l_jwt_verify},
                                       {NULL, NULL}};
  luaL_newmetatable(L, SK_KEYSET_MT);
  lua_pushliteral(L, SK_KEYSET_MT);
  lua_setfield(L, -2, "__name");
  lua_pushcfunction(L, keyset_close);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, keyset_close);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, keyset_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
  /* header and claims are decoded by lua-cjson, nested at most this deep */
  sk_json_push_decoder(L, SK_JWT_MAX_DEPTH);
  luaL_setfuncs(L, functions, 1);
}
