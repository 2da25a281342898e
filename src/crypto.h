/* Cryptography of scalekit.core, all of it through OpenSSL 3's libcrypto:
 * SHA-256, HMAC-SHA256, random bytes and webhook signatures (crypto.c), on
 * top of RS256 JWT verification and the base64 codecs (jwt.c, jwt.h). */
#ifndef SCALEKIT_CRYPTO_H
#define SCALEKIT_CRYPTO_H

#include <stddef.h>
#include "compat.h"

/* Sets the crypto and JWT functions as fields of the table on top of the
 * stack (the core module table). */
void sk_crypto_open(lua_State *L);

/* ---- webhook signatures (Standard Webhooks) ---------------------------- */

typedef enum sk_webhook_status {
  SK_WEBHOOK_OK = 0,
  SK_WEBHOOK_BAD_SECRET,    /* the secret is not "[whsec_]<base64 key>" */
  SK_WEBHOOK_BAD_TIMESTAMP, /* not 1 to 15 decimal digits */
  SK_WEBHOOK_TOO_OLD,       /* older than now - tolerance */
  SK_WEBHOOK_TOO_NEW,       /* newer than now + tolerance */
  SK_WEBHOOK_BAD_SIGNATURE, /* no v1 entry matches */
  SK_WEBHOOK_FAILED         /* libcrypto failed (out of memory) */
} sk_webhook_status;

/* Longest secret accepted (its key is at most 3/4 of it). */
#define SK_WEBHOOK_SECRET_MAX 1024

/* The reason string of a status ("bad_secret", ...; "ok"), and a sentence
 * saying what went wrong (no secret or signature in it). */
const char *sk_webhook_reason(sk_webhook_status s);
const char *sk_webhook_message(sk_webhook_status s);

/* Checks one delivery: the timestamp within now +- tolerance seconds,
 * then HMAC-SHA256 with the secret's key over "id.timestamp.body"
 * against every "v1,<base64>" entry of the space-separated signatures
 * (compared in constant time; other versions are ignored). */
sk_webhook_status sk_webhook_verify(const char *secret, size_t secret_len, const char *id,
                                    size_t id_len, const char *timestamp, size_t timestamp_len,
                                    const char *body, size_t body_len, const char *signatures,
                                    size_t signatures_len, double now, double tolerance);

/* Room for a signature entry: "v1," + 44 base64 characters + NUL. */
#define SK_WEBHOOK_SIGNATURE_SIZE 48

/* Writes the "v1,<base64>" entry for a delivery (NUL-terminated) into
 * out[SK_WEBHOOK_SIGNATURE_SIZE]. Returns SK_WEBHOOK_OK, BAD_SECRET or
 * FAILED. The timestamp is signed as given. */
sk_webhook_status sk_webhook_sign(const char *secret, size_t secret_len, const char *id,
                                  size_t id_len, const char *timestamp, size_t timestamp_len,
                                  const char *body, size_t body_len,
                                  char out[SK_WEBHOOK_SIGNATURE_SIZE]);

#endif
