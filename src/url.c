/* Percent-encoding of untrusted strings into URL paths, queries and forms. */
#include <string.h>

#include "url.h"

static int sk_unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static int sk_escape(sk_buf *b, const char *s, size_t n, int space_plus) {
  static const char hex[] = "0123456789ABCDEF";
  size_t i = 0;
  while (i < n) {
    size_t run = i;
    unsigned char c;
    /* Copy runs of safe bytes in one go. */
    while (run < n && sk_unreserved((unsigned char)s[run])) run++;
    if (run > i) {
      sk_buf_add(b, s + i, run - i);
      i = run;
      continue;
    }
    c = (unsigned char)s[i++];
    if (space_plus && c == ' ') {
      sk_buf_addc(b, '+');
    } else {
      char e[3];
      e[0] = '%';
      e[1] = hex[c >> 4];
      e[2] = hex[c & 15];
      sk_buf_add(b, e, 3);
    }
  }
  return b->oom ? -1 : 0;
}

int sk_url_escape(sk_buf *b, const char *s, size_t n) { return sk_escape(b, s, n, 0); }

int sk_form_escape(sk_buf *b, const char *s, size_t n) { return sk_escape(b, s, n, 1); }

int sk_query_add(sk_buf *b, const char *name, const char *value, size_t vlen) {
  int has_query = b->len > 0 && memchr(b->data, '?', b->len) != NULL;
  sk_buf_addc(b, has_query ? '&' : '?');
  sk_url_escape(b, name, strlen(name));
  sk_buf_addc(b, '=');
  return sk_url_escape(b, value, vlen);
}

int sk_has_forbidden_byte(const char *s, size_t n) {
  size_t i;
  for (i = 0; i < n; i++)
    if (s[i] == '\r' || s[i] == '\n' || s[i] == '\0') return 1;
  return 0;
}
