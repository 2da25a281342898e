/* Parsing of raw response header lines and of Retry-After values. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "headers.h"

/* Values above this are capped so that conversions never overflow; no
 * sensible wait is that long anyway (about 31 years). */
#define SK_RETRY_AFTER_MAX 1e9

static int sk_is_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static char sk_lower(char c) { return (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c; }

int sk_header_value(const char *line, size_t len, const char *name, char *out, size_t cap) {
  size_t nlen = strlen(name), i, start, end, n;
  if (len <= nlen || line[nlen] != ':') return 0;
  for (i = 0; i < nlen; i++)
    if (sk_lower(line[i]) != sk_lower(name[i])) return 0;
  start = nlen + 1;
  end = len;
  while (start < end && sk_is_space(line[start])) start++;
  while (end > start && sk_is_space(line[end - 1])) end--;
  if (cap == 0) return 1;
  n = end - start;
  if (n > cap - 1) n = cap - 1;
  memcpy(out, line + start, n);
  out[n] = '\0';
  return 1;
}

double sk_retry_after_seconds(const char *value, time_t now) {
  char date[64];
  size_t start = 0, end;
  double secs;
  time_t t;
  if (value == NULL) return -1;
  end = strlen(value);
  while (start < end && sk_is_space(value[start])) start++;
  while (end > start && sk_is_space(value[end - 1])) end--;
  if (start == end) return -1;
  if (value[start] >= '0' && value[start] <= '9') {
    /* delta-seconds: digits only, accumulated with an early cap. */
    size_t i;
    secs = 0;
    for (i = start; i < end; i++) {
      if (value[i] < '0' || value[i] > '9') return -1;
      if (secs <= SK_RETRY_AFTER_MAX) secs = secs * 10 + (value[i] - '0');
    }
    return secs > SK_RETRY_AFTER_MAX ? SK_RETRY_AFTER_MAX : secs;
  }
  /* Every HTTP-date form starts with a day name; curl_getdate also takes
   * looser forms that are no Retry-After value. */
  if (!((value[start] >= 'A' && value[start] <= 'Z') ||
        (value[start] >= 'a' && value[start] <= 'z')) ||
      end - start >= sizeof date)
    return -1;
  memcpy(date, value + start, end - start);
  date[end - start] = '\0';
  t = curl_getdate(date, NULL);
  if (t == -1) return -1;
  secs = difftime(t, now);
  if (secs < 0) return 0;
  return secs > SK_RETRY_AFTER_MAX ? SK_RETRY_AFTER_MAX : secs;
}

long sk_cache_max_age(const char *value) {
  const char *p;
  for (p = value; *p; p++) {
    if ((p == value || p[-1] == ' ' || p[-1] == ',') && strncasecmp(p, "max-age=", 8) == 0) {
      char *end;
      long v = strtol(p + 8, &end, 10);
      return end > p + 8 && v >= 0 ? v : -1;
    }
  }
  return -1;
}
