/* Growable byte buffer on malloc: never raises, remembers allocation failure. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

#define SK_BUF_MIN 256

void sk_buf_init(sk_buf *b) {
  b->data = NULL;
  b->len = 0;
  b->cap = 0;
  b->oom = 0;
}

void sk_buf_free(sk_buf *b) {
  free(b->data);
  sk_buf_init(b);
}

/* Starting over also forgets an earlier failure: the (empty) contents are
 * complete again. */
void sk_buf_reset(sk_buf *b) {
  b->len = 0;
  b->oom = 0;
}

/* Makes room for `need` bytes in total (the caller counts the spare byte
 * for the terminating NUL). */
static int sk_buf_grow(sk_buf *b, size_t need) {
  size_t cap = b->cap ? b->cap : SK_BUF_MIN;
  char *p;
  while (cap < need) {
    if (cap > SIZE_MAX / 2) { /* doubling would wrap: take what is needed */
      cap = need;
      break;
    }
    cap *= 2;
  }
  p = realloc(b->data, cap);
  if (p == NULL) {
    b->oom = 1;
    return -1;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

int sk_buf_add(sk_buf *b, const void *p, size_t n) {
  if (b->oom) return -1;
  if (n == 0) return 0; /* p may be NULL then */
  if (n > SIZE_MAX - 1 - b->len) {
    b->oom = 1;
    return -1;
  }
  if (b->len + n + 1 > b->cap && sk_buf_grow(b, b->len + n + 1) != 0) return -1;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}

int sk_buf_adds(sk_buf *b, const char *s) { return sk_buf_add(b, s, strlen(s)); }

int sk_buf_addc(sk_buf *b, char c) {
  /* Hot path of the escapers: skip the general checks when there is room
   * (cap > len + 1 keeps the spare byte for the NUL). */
  if (!b->oom && b->cap - b->len > 1) {
    b->data[b->len++] = c;
    return 0;
  }
  return sk_buf_add(b, &c, 1);
}

const char *sk_buf_cstr(sk_buf *b) {
  if (b->data == NULL) return "";
  b->data[b->len] = '\0'; /* the spare byte is always there */
  return b->data;
}
