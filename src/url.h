/* URL pieces from untrusted strings. */
#ifndef SK_URL_H
#define SK_URL_H

#include "buf.h"

/* RFC 3986 percent-encoding: unreserved characters (ALPHA DIGIT - . _ ~)
 * stay, every other byte becomes %XX (upper-case hex). */
int sk_url_escape(sk_buf *b, const char *s, size_t n);
/* application/x-www-form-urlencoded value: as above but space -> '+'. */
int sk_form_escape(sk_buf *b, const char *s, size_t n);
/* Appends "?name=value" or "&name=value" (both escaped) to a URL in b. */
int sk_query_add(sk_buf *b, const char *name, const char *value, size_t vlen);
/* 1 when s holds a byte that must never reach a header or request line
 * (CR, LF, NUL), else 0. */
int sk_has_forbidden_byte(const char *s, size_t n);

#endif
