/* URL and query building (src/url.c) on untrusted strings (path ids, query
 * values, form fields), through the sk_buf they write into (src/buf.c).
 *
 * Input: byte 0 = length of the URL already in the buffer, byte 1 = length
 * of the query parameter name (a C string: it stops at a NUL, as strlen
 * does in sk_query_add), then those bytes, the rest is the value.
 *
 * Checked: sk_url_escape output holds only unreserved characters and %XX
 * (upper-case hex), one %XX per other byte, and decodes back to the input;
 * sk_form_escape the same with '+' for space (and only for space);
 * sk_query_add appends '?' (no '?' in the URL yet) or '&', the escaped name,
 * '=', the escaped value, leaving the URL before it untouched; the buffer
 * stays NUL-terminated (sk_buf_cstr); sk_has_forbidden_byte is true exactly
 * when a CR, LF or NUL is present. */
#include "fuzz.h"

static int unreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_' || c == '~';
}

static int hexval(unsigned char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1; /* lower-case hex is not what the escaper writes */
}

/* Checks that out[0..olen) is the escaping of in[0..n); returns the bytes
 * consumed from out (escaped text may be followed by more). */
static size_t check_escaped(const char *out, size_t olen, const uint8_t *in, size_t n, int form) {
  size_t i = 0, o = 0;
  for (i = 0; i < n; i++) {
    unsigned char c = in[i];
    FUZZ_CHECK(o < olen, "output ends after %zu of %zu input bytes", i, n);
    if (unreserved(c)) {
      FUZZ_CHECK((unsigned char)out[o] == c, "unreserved 0x%02X became 0x%02X", c,
                 (unsigned char)out[o]);
      o++;
    } else if (form && c == ' ') {
      FUZZ_CHECK(out[o] == '+', "space became 0x%02X", (unsigned char)out[o]);
      o++;
    } else {
      int hi, lo;
      FUZZ_CHECK(o + 3 <= olen && out[o] == '%', "0x%02X not percent-encoded", c);
      hi = hexval((unsigned char)out[o + 1]);
      lo = hexval((unsigned char)out[o + 2]);
      FUZZ_CHECK(hi >= 0 && lo >= 0, "bad hex after %% for 0x%02X", c);
      FUZZ_CHECK(hi * 16 + lo == c, "0x%02X encoded as %%%c%c", c, out[o + 1], out[o + 2]);
      o += 3;
    }
  }
  return o;
}

static void check_cstr(sk_buf *b) {
  const char *s = sk_buf_cstr(b);
  FUZZ_CHECK(b->len == 0 || s == b->data, "cstr is not the data");
  FUZZ_CHECK(s[b->len] == '\0', "no NUL after the contents");
  FUZZ_CHECK(b->len == 0 || b->len < b->cap, "no room for the NUL: len %zu cap %zu", b->len,
             b->cap);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t plen, nlen, vlen, i;
  const uint8_t *prefix, *value;
  char *name, *vcopy;
  sk_buf b;
  int forbidden = 0, has_q;

  if (size < 2) return 0;
  plen = data[0];
  nlen = data[1];
  data += 2;
  size -= 2;
  if (plen > size) plen = size;
  prefix = data;
  data += plen;
  size -= plen;
  if (nlen > size) nlen = size;
  name = malloc(nlen + 1);
  if (name == NULL) abort();
  memcpy(name, data, nlen);
  name[nlen] = '\0';
  data += nlen;
  size -= nlen;
  value = data;
  vlen = size;
  vcopy = malloc(vlen ? vlen : 1); /* exact size */
  if (vcopy == NULL) abort();
  memcpy(vcopy, value, vlen);

  /* Path segments. */
  sk_buf_init(&b);
  FUZZ_CHECK(sk_url_escape(&b, vcopy, vlen) == 0, "url_escape failed");
  FUZZ_CHECK(check_escaped(b.data, b.len, value, vlen, 0) == b.len, "url_escape: extra output");
  check_cstr(&b);
  /* Form values, appended after a reset (the buffer reused). */
  sk_buf_reset(&b);
  FUZZ_CHECK(sk_form_escape(&b, vcopy, vlen) == 0, "form_escape failed");
  FUZZ_CHECK(check_escaped(b.data, b.len, value, vlen, 1) == b.len, "form_escape: extra output");
  check_cstr(&b);
  sk_buf_free(&b);

  /* A query parameter after a URL (maybe with a query already). */
  sk_buf_init(&b);
  FUZZ_CHECK(sk_buf_add(&b, prefix, plen) == 0, "buf_add failed");
  has_q = memchr(prefix, '?', plen) != NULL;
  FUZZ_CHECK(sk_query_add(&b, name, vcopy, vlen) == 0, "query_add failed");
  check_cstr(&b);
  FUZZ_CHECK(b.len > plen && memcmp(b.data, prefix, plen) == 0, "URL before the query changed");
  FUZZ_CHECK(b.data[plen] == (has_q ? '&' : '?'), "separator 0x%02X with%s '?' before",
             (unsigned char)b.data[plen], has_q ? "" : "out");
  {
    size_t at = plen + 1, n = strlen(name);
    at += check_escaped(b.data + at, b.len - at, (const uint8_t *)name, n, 0);
    FUZZ_CHECK(at < b.len && b.data[at] == '=', "no '=' after the name");
    at++;
    at += check_escaped(b.data + at, b.len - at, value, vlen, 0);
    FUZZ_CHECK(at == b.len, "%zu bytes after the value", b.len - at);
  }
  /* A second parameter always takes '&'. */
  {
    size_t before = b.len;
    FUZZ_CHECK(sk_query_add(&b, "page_token", vcopy, vlen) == 0, "query_add failed");
    FUZZ_CHECK(b.data[before] == '&', "second parameter without '&'");
  }
  sk_buf_free(&b);

  for (i = 0; i < vlen; i++)
    if (value[i] == '\r' || value[i] == '\n' || value[i] == '\0') forbidden = 1;
  FUZZ_CHECK(sk_has_forbidden_byte(vcopy, vlen) == forbidden, "forbidden byte verdict %d",
             !forbidden);
  free(name);
  free(vcopy);
  return 0;
}
