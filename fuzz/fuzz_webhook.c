/* Webhook signature checks (src/crypto.c): sk_webhook_verify and
 * sk_webhook_sign, what webhooks.verify and webhooks.sign call once the
 * headers are found.
 *
 * Input: byte 0 picks the tolerance (0, 1, 300, 86400) and the clock
 * offset from the timestamp (-301 .. 301, or a fixed 1700000000 clock);
 * the rest is "secret\nid\ntimestamp\nsignatures\nbody" (missing parts are
 * empty; the body may hold newlines).
 *
 * Checked: the status is one of the enum; OK only when a v1 entry of the
 * signatures equals the entry sk_webhook_sign makes for the same delivery
 * (and the timestamp is within the tolerance); when signing works, adding
 * its entry to the signatures makes a timely delivery verify, and a body,
 * id or secret changed by one byte then does not. Reference checks (entry
 * search, timestamp rules) are written here independently. */
#include "fuzz.h"
#include "crypto.h"

static const double TOLERANCES[] = {0, 1, 300, 86400};

/* The parts of the input, each [start, start + len). */
typedef struct part {
  const char *s;
  size_t n;
} part;

static void split(const char *s, size_t n, part *parts, int count) {
  int i;
  for (i = 0; i < count; i++) {
    const char *nl = i < count - 1 ? memchr(s, '\n', n) : NULL;
    parts[i].s = s;
    parts[i].n = nl ? (size_t)(nl - s) : n;
    if (nl) {
      n -= parts[i].n + 1;
      s = nl + 1;
    } else {
      s += n;
      n = 0;
    }
  }
}

/* Reference: 1 when the space-separated list has exactly this entry. */
static int has_entry(const char *list, size_t n, const char *entry) {
  size_t len = strlen(entry), i = 0;
  while (i <= n) {
    size_t j = i;
    while (j < n && list[j] != ' ') j++;
    if (j - i == len && memcmp(list + i, entry, len) == 0) return 1;
    i = j + 1;
  }
  return 0;
}

/* Reference: the timestamp's value, or -1 when it is not 1..15 digits. */
static double ref_timestamp(const part *t) {
  double v = 0;
  size_t i;
  if (t->n == 0 || t->n > 15) return -1;
  for (i = 0; i < t->n; i++) {
    if (t->s[i] < '0' || t->s[i] > '9') return -1;
    v = v * 10 + (t->s[i] - '0');
  }
  return v;
}

static sk_webhook_status verify(const part *p, const char *sigs, size_t sigs_n, double now,
                                double tolerance) {
  sk_webhook_status s = sk_webhook_verify(p[0].s, p[0].n, p[1].s, p[1].n, p[2].s, p[2].n, p[4].s,
                                          p[4].n, sigs, sigs_n, now, tolerance);
  FUZZ_CHECK(s >= SK_WEBHOOK_OK && s <= SK_WEBHOOK_BAD_SIGNATURE, "status %d", (int)s);
  FUZZ_CHECK(strlen(sk_webhook_reason(s)) > 0 && strlen(sk_webhook_message(s)) > 0, "no text");
  return s;
}

/* The delivery with one byte of part k changed does not verify with the
 * original's entry (alone: the input's own entries may be made for the
 * changed delivery). */
static void check_tamper(part *p, int k, const char *entry, double now, double tolerance) {
  char *copy;
  const char *orig = p[k].s;
  sk_webhook_status s;
  if (p[k].n == 0) return;
  copy = malloc(p[k].n);
  if (copy == NULL) abort();
  memcpy(copy, orig, p[k].n);
  copy[p[k].n / 2] ^= 0x01;
  p[k].s = copy;
  s = verify(p, entry, strlen(entry), now, tolerance);
  /* A changed secret may no longer decode, or be the same key (one of the
   * optional padding characters, the whsec_ prefix). */
  if (k != 0) FUZZ_CHECK(s == SK_WEBHOOK_BAD_SIGNATURE, "tampered part %d gave %d", k, (int)s);
  p[k].s = orig;
  free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *s, entry[SK_WEBHOOK_SIGNATURE_SIZE];
  part p[5];
  double tolerance, ts, now;
  sk_webhook_status st, signed_st;
  if (size == 0) return 0;
  s = malloc(size - 1 ? size - 1 : 1); /* exact size: ASan sees any read past the end */
  if (s == NULL) abort();
  memcpy(s, data + 1, size - 1);
  split(s, size - 1, p, 5);
  tolerance = TOLERANCES[data[0] & 3];
  ts = ref_timestamp(&p[2]);
  now = (data[0] >> 2) == 63 || ts < 0 ? 1700000000 : ts + (double)((int)(data[0] >> 2) - 31) * 10;

  st = verify(p, p[3].s, p[3].n, now, tolerance);
  signed_st =
      sk_webhook_sign(p[0].s, p[0].n, p[1].s, p[1].n, p[2].s, p[2].n, p[4].s, p[4].n, entry);
  FUZZ_CHECK(signed_st == SK_WEBHOOK_OK || signed_st == SK_WEBHOOK_BAD_SECRET, "sign gave %d",
             (int)signed_st);
  if (ts < 0) {
    FUZZ_CHECK(st == SK_WEBHOOK_BAD_TIMESTAMP, "timestamp '%.*s' gave %d", (int)p[2].n, p[2].s,
               (int)st);
  } else if (signed_st == SK_WEBHOOK_BAD_SECRET) {
    FUZZ_CHECK(st == SK_WEBHOOK_BAD_SECRET, "a bad secret gave %d", (int)st);
  } else if (ts < now - tolerance) {
    FUZZ_CHECK(st == SK_WEBHOOK_TOO_OLD, "old timestamp gave %d", (int)st);
  } else if (ts > now + tolerance) {
    FUZZ_CHECK(st == SK_WEBHOOK_TOO_NEW, "new timestamp gave %d", (int)st);
  } else {
    char *sigs;
    FUZZ_CHECK((st == SK_WEBHOOK_OK) == has_entry(p[3].s, p[3].n, entry),
               "verify %d, entry %s present %d", (int)st, entry, has_entry(p[3].s, p[3].n, entry));
    /* The signatures with our entry appended: verifies, and not once
     * tampered with. */
    sigs = malloc(p[3].n + 1 + sizeof entry);
    if (sigs == NULL) abort();
    memcpy(sigs, p[3].s, p[3].n);
    sigs[p[3].n] = ' ';
    memcpy(sigs + p[3].n + 1, entry, strlen(entry));
    FUZZ_CHECK(verify(p, sigs, p[3].n + 1 + strlen(entry), now, tolerance) == SK_WEBHOOK_OK,
               "its own signature did not verify");
    check_tamper(p, 0, entry, now, tolerance);
    check_tamper(p, 1, entry, now, tolerance);
    check_tamper(p, 4, entry, now, tolerance);
    free(sigs);
  }
  free(s);
  return 0;
}
