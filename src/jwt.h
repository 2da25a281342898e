/* RS256 JWT verification against a keyset built from a JWKS, and the
 * base64 codecs it and the webhook signatures use (jwt.c). */
#ifndef SCALEKIT_JWT_H
#define SCALEKIT_JWT_H

#include <stddef.h>
#include "compat.h"

/* ---- base64 (RFC 4648) ------------------------------------------------ */

/* Alphabet and padding: SK_B64_URL = section 5 ("-_", never padded);
 * otherwise section 4 ("+/"), padded with '=' when encoding. */
#define SK_B64_URL 1
/* Decoding the standard alphabet: '=' padding to a multiple of 4 may be
 * present or absent (no other form is accepted). */
#define SK_B64_STD 0

/* Bytes the encoding of n bytes takes (no NUL). */
size_t sk_base64_encoded_len(size_t n, int flags);
/* Encodes in[0..n) into out (sk_base64_encoded_len bytes, no NUL added);
 * returns that length. */
size_t sk_base64_encode(const unsigned char *in, size_t n, char *out, int flags);
/* Strict decoding of in[0..n) into out (room for n / 4 * 3 + 2 bytes):
 * only the alphabet's characters, no whitespace, no length of the form
 * 4k + 1, and the unused low bits of the last character zero, so every
 * byte string has exactly one accepted encoding. Returns 0 with the length
 * in *outlen, or -1. */
int sk_base64_decode(const char *in, size_t n, unsigned char *out, size_t *outlen, int flags);

/* ---- JWT ------------------------------------------------------------- */

#define SK_KEYSET_MT "scalekit.keyset"

/* Limits on untrusted input. A token longer than SK_JWT_MAX_TOKEN is
 * refused before any decoding; a JWKS with more than SK_JWKS_MAX_KEYS
 * entries is refused; a key is skipped when its kid is longer than
 * SK_JWK_KID_MAX or its modulus is outside the bit range. */
#define SK_JWT_MAX_TOKEN 16384
#define SK_JWKS_MAX_KEYS 100
#define SK_JWK_KID_MAX   256
#define SK_RSA_MIN_BITS  2048
#define SK_RSA_MAX_BITS  8192
/* Nesting depth of header and claims JSON. */
#define SK_JWT_MAX_DEPTH 32

/* Registers the keyset metatable and sets jwt_keyset, jwt_decode_header
 * and jwt_verify as fields of the table on top of the stack:
 *   jwt_keyset(jwks)         -> keyset | nil, message
 *   jwt_decode_header(token) -> header | nil, "malformed", message
 *   jwt_verify(token, keyset, opts, known, who, issuer, leeway, now)
 *                            -> claims | nil, reason, message [, kid]
 * jwt_verify does all of jwt.verify (lua/scalekit/jwt.lua documents the
 * options and the reasons) but building the error object. Each key of
 * opts must be a key of the table known; issuer, leeway and now are what
 * the options fall back to. Wrong arguments raise naming who (default
 * "jwt.verify") at the level of its caller. */
void sk_jwt_open(lua_State *L);

#endif
