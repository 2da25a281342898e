/* SHA-256, HMAC-SHA256, random bytes and webhook signatures, and the Lua
 * functions of scalekit.core for them and for jwt.c; every cryptographic
 * step is libcrypto's (EVP, RAND_bytes, CRYPTO_memcmp). */
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "crypto.h"
#include "jwt.h"
#include "json.h"

/* random_bytes: more than this is a mistake, not a nonce. */
#define SK_RANDOM_MAX (1024 * 1024)
#define SK_SHA256_LEN 32
/* Timestamps of at most 15 digits are exact in a double. */
#define SK_TIMESTAMP_DIGITS_MAX 15

/* ---- HMAC-SHA256 over several pieces ------------------------------------ */

typedef struct sk_piece {
  const void *data;
  size_t len;
} sk_piece;

/* Returns 0 with the MAC in out, or -1 when libcrypto fails. */
static int hmac_sha256(const unsigned char *key, size_t key_len, const sk_piece *pieces, int count,
                       unsigned char out[SK_SHA256_LEN]) {
  static const unsigned char no_key = 0;
  char digest[] = "SHA256";
  OSSL_PARAM params[2];
  EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
  EVP_MAC_CTX *ctx = mac ? EVP_MAC_CTX_new(mac) : NULL;
  size_t len = 0;
  int i, ok;
  params[0] = OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0);
  params[1] = OSSL_PARAM_construct_end();
  /* A NULL key means "keep the previous key" to EVP_MAC_init. */
  ok = ctx != NULL && EVP_MAC_init(ctx, key_len ? key : &no_key, key_len, params);
  for (i = 0; ok && i < count; i++) ok = EVP_MAC_update(ctx, pieces[i].data, pieces[i].len);
  ok = ok && EVP_MAC_final(ctx, out, &len, SK_SHA256_LEN) && len == SK_SHA256_LEN;
  EVP_MAC_CTX_free(ctx);
  EVP_MAC_free(mac);
  return ok ? 0 : -1;
}

/* ---- webhooks ---------------------------------------------------------- */

const char *sk_webhook_reason(sk_webhook_status s) {
  switch (s) {
    case SK_WEBHOOK_OK: return "ok";
    case SK_WEBHOOK_BAD_SECRET: return "bad_secret";
    case SK_WEBHOOK_BAD_TIMESTAMP: return "bad_timestamp";
    case SK_WEBHOOK_TOO_OLD: return "too_old";
    case SK_WEBHOOK_TOO_NEW: return "too_new";
    case SK_WEBHOOK_BAD_SIGNATURE: return "bad_signature";
    default: return "failed";
  }
}

const char *sk_webhook_message(sk_webhook_status s) {
  switch (s) {
    case SK_WEBHOOK_OK: return "signature verified";
    case SK_WEBHOOK_BAD_SECRET: return "the webhook secret is not whsec_ followed by a base64 key";
    case SK_WEBHOOK_BAD_TIMESTAMP: return "the timestamp is not a Unix time in seconds";
    case SK_WEBHOOK_TOO_OLD: return "the timestamp is older than the tolerance allows";
    case SK_WEBHOOK_TOO_NEW: return "the timestamp is further ahead than the tolerance allows";
    case SK_WEBHOOK_BAD_SIGNATURE: return "no signature matches";
    default: return "libcrypto failed to compute the signature";
  }
}

/* The key of "[whsec_]<base64>" into key[SK_WEBHOOK_SECRET_MAX]. */
static int webhook_key(const char *secret, size_t n, unsigned char *key, size_t *key_len) {
  if (n > 6 && memcmp(secret, "whsec_", 6) == 0) {
    secret += 6;
    n -= 6;
  }
  if (n == 0 || n > SK_WEBHOOK_SECRET_MAX) return -1;
  if (sk_base64_decode(secret, n, key, key_len, SK_B64_STD) != 0 || *key_len == 0) return -1;
  return 0;
}

/* base64 of HMAC-SHA256(key, id "." timestamp "." body): 44 characters. */
static sk_webhook_status webhook_mac(const char *secret, size_t secret_len, const char *id,
                                     size_t id_len, const char *timestamp, size_t timestamp_len,
                                     const char *body, size_t body_len, char b64[45]) {
  unsigned char key[SK_WEBHOOK_SECRET_MAX], mac[SK_SHA256_LEN];
  size_t key_len, len;
  sk_piece pieces[5];
  int rc;
  if (webhook_key(secret, secret_len, key, &key_len) != 0) return SK_WEBHOOK_BAD_SECRET;
  pieces[0].data = id, pieces[0].len = id_len;
  pieces[1].data = ".", pieces[1].len = 1;
  pieces[2].data = timestamp, pieces[2].len = timestamp_len;
  pieces[3].data = ".", pieces[3].len = 1;
  pieces[4].data = body, pieces[4].len = body_len;
  rc = hmac_sha256(key, key_len, pieces, 5, mac);
  OPENSSL_cleanse(key, sizeof key);
  if (rc != 0) return SK_WEBHOOK_FAILED;
  len = sk_base64_encode(mac, sizeof mac, b64, SK_B64_STD);
  b64[len] = '\0';
  return SK_WEBHOOK_OK;
}

sk_webhook_status sk_webhook_sign(const char *secret, size_t secret_len, const char *id,
                                  size_t id_len, const char *timestamp, size_t timestamp_len,
                                  const char *body, size_t body_len,
                                  char out[SK_WEBHOOK_SIGNATURE_SIZE]) {
  char b64[45];
  sk_webhook_status s =
      webhook_mac(secret, secret_len, id, id_len, timestamp, timestamp_len, body, body_len, b64);
  if (s != SK_WEBHOOK_OK) return s;
  memcpy(out, "v1,", 3);
  memcpy(out + 3, b64, 45);
  return SK_WEBHOOK_OK;
}

sk_webhook_status sk_webhook_verify(const char *secret, size_t secret_len, const char *id,
                                    size_t id_len, const char *timestamp, size_t timestamp_len,
                                    const char *body, size_t body_len, const char *signatures,
                                    size_t signatures_len, double now, double tolerance) {
  char expected[45];
  double ts = 0;
  size_t i;
  int matched = 0;
  sk_webhook_status s;
  if (timestamp_len == 0 || timestamp_len > SK_TIMESTAMP_DIGITS_MAX)
    return SK_WEBHOOK_BAD_TIMESTAMP;
  for (i = 0; i < timestamp_len; i++) {
    if (timestamp[i] < '0' || timestamp[i] > '9') return SK_WEBHOOK_BAD_TIMESTAMP;
    ts = ts * 10 + (timestamp[i] - '0');
  }
  s = webhook_mac(secret, secret_len, id, id_len, timestamp, timestamp_len, body, body_len,
                  expected);
  if (s != SK_WEBHOOK_OK) return s;
  /* Written so that a NaN now or tolerance fails. */
  if (!(ts >= now - tolerance)) return SK_WEBHOOK_TOO_OLD;
  if (!(ts <= now + tolerance)) return SK_WEBHOOK_TOO_NEW;
  /* Space-separated entries; any v1 entry may match (key rotation). */
  i = 0;
  while (i < signatures_len) {
    const char *entry = signatures + i;
    const char *end = memchr(entry, ' ', signatures_len - i);
    size_t len = end ? (size_t)(end - entry) : signatures_len - i;
    if (len == 3 + 44 && memcmp(entry, "v1,", 3) == 0 &&
        CRYPTO_memcmp(entry + 3, expected, 44) == 0)
      matched = 1;
    i += len + 1;
  }
  return matched ? SK_WEBHOOK_OK : SK_WEBHOOK_BAD_SIGNATURE;
}

/* ---- Lua functions ----------------------------------------------------- */

static const char *check_string(lua_State *L, int idx, size_t *len, const char *who,
                                const char *what) {
  if (lua_type(L, idx) != LUA_TSTRING)
    sk_argerror(L, who, "argument #%d (%s) must be a string (got %s)", idx, what,
                luaL_typename(L, idx));
  return lua_tolstring(L, idx, len);
}

static double check_number(lua_State *L, int idx, const char *who, const char *what) {
  if (lua_type(L, idx) != LUA_TNUMBER)
    sk_argerror(L, who, "argument #%d (%s) must be a number (got %s)", idx, what,
                luaL_typename(L, idx));
  return (double)lua_tonumber(L, idx);
}

/* Scratch memory owned by the Lua stack (freed by the GC even if a later
 * step raises). */
static void *scratch(lua_State *L, size_t n) { return lua_newuserdata(L, n ? n : 1); }

/* base64url_encode(s) -> string (no padding) */
static int l_base64url_encode(lua_State *L) {
  size_t n;
  const char *s = check_string(L, 1, &n, "jwt.base64url_encode", "s");
  char *out = scratch(L, sk_base64_encoded_len(n, SK_B64_URL));
  lua_pushlstring(L, out, sk_base64_encode((const unsigned char *)s, n, out, SK_B64_URL));
  return 1;
}

/* base64url_decode(s) -> string | nil (strict) */
static int l_base64url_decode(lua_State *L) {
  size_t n, len;
  const char *s = check_string(L, 1, &n, "jwt.base64url_decode", "s");
  unsigned char *out = scratch(L, n / 4 * 3 + 2);
  if (sk_base64_decode(s, n, out, &len, SK_B64_URL) != 0)
    lua_pushnil(L);
  else
    lua_pushlstring(L, (const char *)out, len);
  return 1;
}

/* sha256(s) -> 32 bytes */
static int l_sha256(lua_State *L) {
  size_t n;
  unsigned int len = 0;
  unsigned char md[EVP_MAX_MD_SIZE];
  const char *s = check_string(L, 1, &n, "jwt.sha256", "s");
  if (!EVP_Digest(s, n, md, &len, EVP_sha256(), NULL) || len != SK_SHA256_LEN)
    return luaL_error(L, "jwt.sha256: libcrypto failed");
  lua_pushlstring(L, (const char *)md, len);
  return 1;
}

/* hmac_sha256(key, s) -> 32 bytes */
static int l_hmac_sha256(lua_State *L) {
  size_t key_len;
  sk_piece piece;
  unsigned char mac[SK_SHA256_LEN];
  const char *key = check_string(L, 1, &key_len, "jwt.hmac_sha256", "key");
  piece.data = check_string(L, 2, &piece.len, "jwt.hmac_sha256", "s");
  if (hmac_sha256((const unsigned char *)key, key_len, &piece, 1, mac) != 0)
    return luaL_error(L, "jwt.hmac_sha256: libcrypto failed");
  lua_pushlstring(L, (const char *)mac, sizeof mac);
  return 1;
}

/* random_bytes(n) -> n bytes from libcrypto's CSPRNG */
static int l_random_bytes(lua_State *L) {
  double want = check_number(L, 1, "jwt.random_bytes", "n");
  unsigned char *out;
  if (!(want >= 0 && want <= SK_RANDOM_MAX) || want != (double)(size_t)want)
    return sk_argerror(L, "jwt.random_bytes", "argument #1 (n) must be an integer from 0 to %d",
                       SK_RANDOM_MAX);
  out = scratch(L, (size_t)want);
  if (want > 0 && RAND_bytes(out, (int)want) != 1)
    return luaL_error(L, "jwt.random_bytes: RAND_bytes failed");
  lua_pushlstring(L, (const char *)out, (size_t)want);
  return 1;
}

/* webhook_verify(secret, id, timestamp, body, signatures, now, tolerance)
 *   -> true | nil, reason, message */
static int l_webhook_verify(lua_State *L) {
  static const char *const who = "webhooks.verify";
  size_t secret_len, id_len, ts_len, body_len, sig_len;
  const char *secret = check_string(L, 1, &secret_len, who, "secret");
  const char *id = check_string(L, 2, &id_len, who, "id");
  const char *ts = check_string(L, 3, &ts_len, who, "timestamp");
  const char *body = check_string(L, 4, &body_len, who, "body");
  const char *sigs = check_string(L, 5, &sig_len, who, "signatures");
  double now = check_number(L, 6, who, "now");
  double tolerance = check_number(L, 7, who, "tolerance");
  sk_webhook_status s;
  if (!(now - now == 0)) return sk_argerror(L, who, "argument #6 (now) must be finite");
  if (!(tolerance >= 0 && tolerance - tolerance == 0))
    return sk_argerror(L, who, "argument #7 (tolerance) must be a finite number >= 0");
  s = sk_webhook_verify(secret, secret_len, id, id_len, ts, ts_len, body, body_len, sigs, sig_len,
                        now, tolerance);
  if (s == SK_WEBHOOK_FAILED) return luaL_error(L, "%s: libcrypto failed", who);
  if (s == SK_WEBHOOK_OK) {
    lua_pushboolean(L, 1);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, sk_webhook_reason(s));
  lua_pushstring(L, sk_webhook_message(s));
  return 3;
}

/* webhook_sign(secret, id, timestamp, body) -> "v1,<base64>" | nil, reason, message */
static int l_webhook_sign(lua_State *L) {
  static const char *const who = "webhooks.sign";
  size_t secret_len, id_len, ts_len, body_len;
  char out[SK_WEBHOOK_SIGNATURE_SIZE];
  const char *secret = check_string(L, 1, &secret_len, who, "secret");
  const char *id = check_string(L, 2, &id_len, who, "id");
  const char *ts = check_string(L, 3, &ts_len, who, "timestamp");
  const char *body = check_string(L, 4, &body_len, who, "body");
  sk_webhook_status s =
      sk_webhook_sign(secret, secret_len, id, id_len, ts, ts_len, body, body_len, out);
  if (s == SK_WEBHOOK_FAILED) return luaL_error(L, "%s: libcrypto failed", who);
  if (s == SK_WEBHOOK_OK) {
    lua_pushstring(L, out);
    return 1;
  }
  lua_pushnil(L);
  lua_pushstring(L, sk_webhook_reason(s));
  lua_pushstring(L, sk_webhook_message(s));
  return 3;
}

void sk_crypto_open(lua_State *L) {
  static const luaL_Reg functions[] = {{"base64url_encode", l_base64url_encode},
                                       {"base64url_decode", l_base64url_decode},
                                       {"sha256", l_sha256},
                                       {"hmac_sha256", l_hmac_sha256},
                                       {"random_bytes", l_random_bytes},
                                       {"webhook_verify", l_webhook_verify},
                                       {"webhook_sign", l_webhook_sign},
                                       {NULL, NULL}};
  luaL_setfuncs(L, functions, 0);
  sk_jwt_open(L);
}
