/* Response header parsing (src/headers.c), as transport.c's header
 * callback and call.c's backoff use it:
 *   sk_header_value(line, len, name, out, cap) on one raw header line, and
 *   sk_retry_after_seconds(value, now) on the Retry-After value.
 *
 * Input: byte 0 picks the header name (bits 0-1: x-request-id, retry-after,
 * content-type, or "a") and the out buffer size (bits 2-4: the size
 * transport.c uses for that header, or 0, 1, 2, 3, 5, 17, 300); the rest is
 * the header line exactly as libcurl hands it over (CRLF included).
 *
 * Checked against a reference written here: the match (name, ':' right
 * after it, case-insensitive), the trimmed value truncated to cap - 1 and
 * NUL-terminated, no byte written past cap. Then Retry-After (the value
 * when the name matched, else the whole line up to a NUL) for several
 * clocks: the result is -1 or within [0, 1e9], validity does not depend on
 * the clock, delta-seconds give their exact value (capped at 1e9), and an
 * HTTP-date gives max(0, date - now) (capped) for the date libcurl reads. */
#include <math.h>
#include "fuzz.h"

static const char *const NAMES[] = {"x-request-id", "retry-after", "content-type", "a"};
static const size_t REAL_CAP[] = {128, 64, 128, 8};
static const size_t CAPS[] = {0, 0, 1, 2, 3, 5, 17, 300};

static int is_space(unsigned char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }
static unsigned char lower(unsigned char c) { return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c; }

/* 1 and [*vs, *ve) = the trimmed value when line is "<name>:value". */
static int ref_header(const uint8_t *line, size_t len, const char *name, size_t *vs, size_t *ve) {
  size_t n = strlen(name), i;
  if (len < n + 1 || line[n] != ':') return 0;
  for (i = 0; i < n; i++)
    if (lower(line[i]) != lower((unsigned char)name[i])) return 0;
  *vs = n + 1;
  *ve = len;
  while (*vs < *ve && is_space(line[*vs])) (*vs)++;
  while (*ve > *vs && is_space(line[*ve - 1])) (*ve)--;
  return 1;
}

static void check_retry_after(const char *value) {
  static const time_t NOWS[] = {
      0, 1, 784111777, 1000000000, 1764000000, 4102444800LL, 253402300799LL};
  size_t s = 0, e = strlen(value), i;
  double first = 0;
  int all_digits = 1;
  char trimmed[128];
  time_t date = -1;
  while (s < e && is_space((unsigned char)value[s])) s++;
  while (e > s && is_space((unsigned char)value[e - 1])) e--;
  for (i = s; i < e; i++)
    if (value[i] < '0' || value[i] > '9') all_digits = 0;
  if (e - s < sizeof trimmed) {
    memcpy(trimmed, value + s, e - s);
    trimmed[e - s] = '\0';
    if (e > s && ((value[s] >= 'A' && value[s] <= 'Z') || (value[s] >= 'a' && value[s] <= 'z')) &&
        e - s < 64)
      date = curl_getdate(trimmed, NULL);
  }
  for (i = 0; i < sizeof NOWS / sizeof NOWS[0]; i++) {
    double r = sk_retry_after_seconds(value, NOWS[i]);
    FUZZ_CHECK(r == -1 || (r >= 0 && r <= 1e9), "Retry-After '%s' -> %.17g", value, r);
    if (i == 0) first = r;
    FUZZ_CHECK((r == -1) == (first == -1), "validity of '%s' depends on the clock", value);
    if (e == s) {
      FUZZ_CHECK(r == -1, "empty Retry-After '%s' -> %.17g", value, r);
    } else if (value[s] >= '0' && value[s] <= '9') {
      if (!all_digits) {
        FUZZ_CHECK(r == -1, "'%s' (not all digits) -> %.17g", value, r);
      } else {
        /* Exact decimal value, saturating well above the cap. */
        double want = 0;
        size_t k;
        for (k = s; k < e; k++) {
          want = want * 10 + (value[k] - '0');
          if (want > 1e12) want = 1e12;
        }
        if (want > 1e9) want = 1e9;
        FUZZ_CHECK(r == want, "delta-seconds '%s' -> %.17g, want %.17g", value, r, want);
      }
    } else if (date != -1) {
      double want = difftime(date, NOWS[i]);
      if (want < 0) want = 0;
      if (want > 1e9) want = 1e9;
      FUZZ_CHECK(r == want, "HTTP-date '%s' at %lld -> %.17g, want %.17g", value,
                 (long long)NOWS[i], r, want);
    } else {
      FUZZ_CHECK(r == -1, "'%s' is neither form but -> %.17g", value, r);
    }
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  unsigned which, capi;
  const char *name;
  size_t cap, len, vs = 0, ve = 0;
  uint8_t *line;
  char *out;
  int got, want;

  if (size < 1) return 0;
  which = data[0] & 3;
  capi = (data[0] >> 2) & 7;
  name = NAMES[which];
  cap = capi == 0 ? REAL_CAP[which] : CAPS[capi];
  len = size - 1;
  line = malloc(len ? len : 1); /* exact size: no NUL after the line */
  out = malloc(cap ? cap : 1);
  if (line == NULL || out == NULL) abort();
  memcpy(line, data + 1, len);
  memset(out, 0x5A, cap ? cap : 1);

  got = sk_header_value((const char *)line, len, name, out, cap);
  want = ref_header(line, len, name, &vs, &ve);
  FUZZ_CHECK(got == want, "name %s: match %d, want %d", name, got, want);
  if (got && cap > 0) {
    size_t n = ve - vs < cap - 1 ? ve - vs : cap - 1;
    FUZZ_CHECK(out[n] == '\0', "value not terminated at %zu (cap %zu)", n, cap);
    FUZZ_CHECK(memcmp(out, line + vs, n) == 0, "value differs from the trimmed one");
  }
  if (!got || cap == 0)
    FUZZ_CHECK((unsigned char)out[0] == 0x5A, "out written without a match (or cap 0)");

  if (got && cap > 0 && which == 1) {
    check_retry_after(out);
  } else {
    char *s = malloc(len + 1);
    if (s == NULL) abort();
    memcpy(s, line, len);
    s[len] = '\0';
    check_retry_after(s);
    free(s);
  }
  free(line);
  free(out);
  return 0;
}
