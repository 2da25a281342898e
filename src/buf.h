/* Growable byte buffer on malloc; never raises. */
#ifndef SK_BUF_H
#define SK_BUF_H

#include <stddef.h>

typedef struct sk_buf {
  char *data;
  size_t len;
  size_t cap;
  int oom; /* sticky: an allocation failed, contents are incomplete */
} sk_buf;

void sk_buf_init(sk_buf *b);
void sk_buf_free(sk_buf *b);
void sk_buf_reset(sk_buf *b); /* len = 0, keeps the allocation */
/* These return 0, or -1 once an allocation has failed. */
int sk_buf_add(sk_buf *b, const void *p, size_t n);
int sk_buf_adds(sk_buf *b, const char *s);
int sk_buf_addc(sk_buf *b, char c);
/* NUL-terminated view of the contents ("" when empty). */
const char *sk_buf_cstr(sk_buf *b);

#endif
