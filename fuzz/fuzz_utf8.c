/* sk_utf8_valid (src/json.c), the gate in front of every decode, against
 * the reference decoder in fuzz.h: same verdict and the same offset of the
 * first bad byte, from every alignment (its ASCII fast path reads eight
 * bytes at a time) and for every prefix end near the input's end. */
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  size_t off, cut;
  /* An exact-size copy, so that ASan sees any read past the end. */
  for (off = 0; off < 8 && off <= size; off++) {
    for (cut = 0; cut < 4 && cut <= size - off; cut++) {
      size_t n = size - off - cut, bad = (size_t)-1, ref_bad = (size_t)-1;
      char *copy = malloc(n ? n : 1);
      int ok, ref;
      if (copy == NULL) abort();
      memcpy(copy, data + off, n);
      ok = sk_utf8_valid(copy, n, &bad);
      ref = fuzz_ref_utf8((const unsigned char *)copy, n, &ref_bad);
      FUZZ_CHECK(ok == ref,
                 "offset %zu length %zu: sk_utf8_valid says %d, reference %d "
                 "(reference bad byte %zu)",
                 off, n, ok, ref, ref_bad);
      if (!ok) {
        FUZZ_CHECK(bad == ref_bad, "first bad byte at %zu, reference says %zu", bad, ref_bad);
        FUZZ_CHECK(bad < n, "bad offset %zu past the length %zu", bad, n);
      } else {
        FUZZ_CHECK(bad == (size_t)-1, "*bad written on success");
      }
      FUZZ_CHECK(sk_utf8_valid(copy, n, NULL) == ok, "verdict depends on bad == NULL");
      free(copy);
    }
  }
  return 0;
}
