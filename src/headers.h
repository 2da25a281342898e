/* Response header parsing. */
#ifndef SK_HEADERS_H
#define SK_HEADERS_H

#include <stddef.h>
#include <time.h>

/* If `line` (one raw header line as libcurl hands it over, with CRLF) is
 * "<name>: value" (name case-insensitive), copies the trimmed value into
 * out (NUL-terminated, truncated to cap - 1) and returns 1; else 0. */
int sk_header_value(const char *line, size_t len, const char *name, char *out, size_t cap);
/* Retry-After: delta-seconds or an HTTP-date. Returns the seconds to wait
 * (>= 0, an HTTP-date in the past gives 0), or -1 when the value is not
 * one of those forms. `now` is the current Unix time. */
double sk_retry_after_seconds(const char *value, time_t now);
/* max-age of a Cache-Control value in seconds, or -1 when absent. */
long sk_cache_max_age(const char *value);

#endif
