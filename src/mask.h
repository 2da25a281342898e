/* Secrets and their wire encodings, masked in every string handed out. */
#ifndef SK_MASK_H
#define SK_MASK_H

#include "buf.h"
#include "util.h"

/* Shorter values are not masked: they would garble ordinary words. */
#define SK_MASK_MIN 8

typedef struct sk_mask {
  char **items; /* every encoding of every secret, NULL-terminated */
  size_t count;
  size_t cap;
  sk_buf raw; /* the secrets themselves, each followed by a NUL */
} sk_mask;

/* A set of masks to apply together, NULL-terminated. */
typedef const sk_mask *const *sk_masks;

void sk_mask_init(sk_mask *m);
/* Overwrites the secrets before their memory goes back to malloc. */
void sk_mask_free(sk_mask *m);
/* Adds s[0..n) raw, percent-encoded, form-encoded (upper- and lower-case
 * hex) and JSON-escaped. Returns -1 when out of memory. */
int sk_mask_add(sk_mask *m, const char *s, size_t n);
/* The first place where a masked string starts in s[0..n), or NULL. */
const char *sk_mask_find(sk_masks masks, const char *s, size_t n, size_t *found_len);
/* Pushes s[0..n) with every masked string replaced by "[redacted]"; a
 * string that still shows a secret once percent-, form- or JSON-decoded
 * (in an encoding nobody listed) is replaced whole. */
void sk_push_masked(lua_State *L, sk_masks masks, const char *s, size_t n);

#endif
