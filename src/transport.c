/* One HTTP exchange over a libcurl easy handle: setup, callbacks, outcome. */
#include <stdio.h>
#include <string.h>

#include "headers.h"
#include "transport.h"
#include "url.h"
#include "util.h"

void sk_transport_global_init(void) {
  /* Called from luaopen_scalekit_core, which Lua runs under its own lock
   * in normal use (require), so a plain flag is enough to call
   * curl_global_init only once and not keep raising its refcount. */
  static int done;
  if (!done && curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK) done = 1;
}

void sk_http_response_init(sk_http_response *res) {
  memset(res, 0, sizeof *res);
  res->max_age = -1;
  sk_buf_init(&res->body);
}

void sk_http_response_free(sk_http_response *res) { sk_buf_free(&res->body); }

static size_t sk_on_body(char *p, size_t size, size_t nmemb, void *ud) {
  sk_http_response *res = ud;
  size_t n = size * nmemb; /* libcurl always passes size 1 */
  /* body.len never exceeds max_body, so the subtraction cannot wrap. */
  if (n > res->max_body - res->body.len) {
    res->outcome = SK_NET_TOO_LARGE; /* read back by sk_transport_finish */
    return 0;
  }
  if (sk_buf_add(&res->body, p, n) != 0) return 0;
  return n;
}

static size_t sk_on_header(char *p, size_t size, size_t nmemb, void *ud) {
  sk_http_response *res = ud;
  size_t n = size * nmemb;
  if (n >= 5 && memcmp(p, "HTTP/", 5) == 0) {
    /* A new status line: headers of a 1xx interim response do not apply
     * to the final one. */
    res->request_id[0] = '\0';
    res->retry_after[0] = '\0';
    res->content_type[0] = '\0';
    res->max_age = -1;
  } else if (!sk_header_value(p, n, "x-request-id", res->request_id, sizeof res->request_id) &&
             !sk_header_value(p, n, "retry-after", res->retry_after, sizeof res->retry_after)) {
    char cache[128];
    if (!sk_header_value(p, n, "content-type", res->content_type, sizeof res->content_type) &&
        sk_header_value(p, n, "cache-control", cache, sizeof cache))
      res->max_age = sk_cache_max_age(cache);
  }
  return n;
}

/* The stall detector: libcurl's LOW_SPEED options average over a window,
 * which fires seconds late; this aborts once no byte has moved for
 * stall_timeout_s. libcurl calls it at least once a second. */
static int sk_on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                          curl_off_t ulnow) {
  sk_http_response *res = ud;
  double now = sk_monotonic();
  (void)dltotal;
  (void)ultotal;
  if (dlnow + ulnow != res->moved || res->last_activity == 0) {
    res->moved = dlnow + ulnow;
    res->last_activity = now;
    return 0;
  }
  if (now - res->last_activity >= res->stall_timeout_s) {
    res->stalled = 1;
    return 1;
  }
  return 0;
}

/* curl_slist_append that frees the list when it fails, so a chain of
 * appends needs one NULL check per step and leaks nothing. */
static struct curl_slist *sk_append(struct curl_slist *list, const char *line) {
  struct curl_slist *next = curl_slist_append(list, line);
  if (next == NULL) curl_slist_free_all(list);
  return next;
}

/* Appends "<name>: <value>"; NULL (list freed) when out of memory. */
static struct curl_slist *sk_add_header(struct curl_slist *list, const char *name,
                                        const char *value) {
  sk_buf line;
  sk_buf_init(&line);
  sk_buf_adds(&line, name);
  sk_buf_adds(&line, ": ");
  sk_buf_adds(&line, value);
  if (line.oom) {
    curl_slist_free_all(list);
    list = NULL;
  } else {
    list = sk_append(list, sk_buf_cstr(&line));
  }
  sk_buf_free(&line);
  return list;
}

/* Values that end up in the request head must not smuggle in lines. */
static int sk_header_safe(const char *s) {
  return s == NULL || !sk_has_forbidden_byte(s, strlen(s));
}

#define SK_SET(opt, val)                   \
  do {                                     \
    rc = curl_easy_setopt(easy, opt, val); \
    if (rc != CURLE_OK) goto fail;         \
  } while (0)

CURLcode sk_transport_setup(CURL *easy, const sk_transport_config *cfg, const sk_http_request *req,
                            sk_http_response *res, struct curl_slist **headers) {
  const char *method = req->method ? req->method : "GET";
  struct curl_slist *list = NULL;
  CURLcode rc;

  *headers = NULL;
  /* Reset keeps the connection cache, so keep-alive survives. */
  curl_easy_reset(easy);

  res->status = 0;
  res->outcome = SK_NET_OK;
  res->request_sent = 0;
  res->max_body = cfg->max_body;
  res->stall_timeout_s = cfg->stall_timeout_s;
  res->last_activity = 0;
  res->moved = 0;
  res->stalled = 0;
  res->request_id[0] = '\0';
  res->retry_after[0] = '\0';
  res->content_type[0] = '\0';
  res->max_age = -1;
  res->error[0] = '\0';
  sk_buf_reset(&res->body);

  if (!sk_header_safe(req->content_type) || !sk_header_safe(req->authorization) ||
      !sk_header_safe(cfg->user_agent)) {
    snprintf(res->error, sizeof res->error, "header value contains CR or LF");
    return CURLE_BAD_FUNCTION_ARGUMENT;
  }

  SK_SET(CURLOPT_ERRORBUFFER, res->error);
  SK_SET(CURLOPT_URL, req->url);
  /* Path parameters are escaped into their own segment; libcurl must not
   * squash dot segments on top of that. */
  SK_SET(CURLOPT_PATH_AS_IS, 1L);
  if (cfg->proxy != NULL) SK_SET(CURLOPT_PROXY, cfg->proxy);

  if (strcmp(method, "POST") == 0) {
    SK_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(req->body ? req->body_len : 0));
    SK_SET(CURLOPT_POSTFIELDS, req->body ? req->body : "");
  } else if (strcmp(method, "GET") != 0) {
    SK_SET(CURLOPT_CUSTOMREQUEST, method);
    if (req->body != NULL) {
      SK_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
      SK_SET(CURLOPT_POSTFIELDS, req->body);
    } else if (strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) {
      /* An empty body makes curl send Content-Length: 0, which some
       * servers require for PUT/PATCH. */
      SK_SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
      SK_SET(CURLOPT_POSTFIELDS, "");
    }
  }

  list = sk_append(NULL, "Accept: application/json");
  /* Without a content type, "Content-Type:" stops curl from adding its
   * form default to a bodiless POST. */
  if (list != NULL)
    list = req->content_type ? sk_add_header(list, "Content-Type", req->content_type)
                             : sk_append(list, "Content-Type:");
  if (list != NULL && req->authorization != NULL)
    list = sk_add_header(list, "Authorization", req->authorization);
  /* No 100-continue: it costs a round trip for nothing here. */
  if (list != NULL) list = sk_append(list, "Expect:");
  if (list == NULL) {
    rc = CURLE_OUT_OF_MEMORY;
    goto fail;
  }
  SK_SET(CURLOPT_HTTPHEADER, list);
  if (cfg->user_agent != NULL) SK_SET(CURLOPT_USERAGENT, cfg->user_agent);

  /* No signals: SIGALRM-based DNS timeouts break threaded hosts (nginx). */
  SK_SET(CURLOPT_NOSIGNAL, 1L);
  /* A redirect could carry the bearer token to another host. */
  SK_SET(CURLOPT_FOLLOWLOCATION, 0L);
#if LIBCURL_VERSION_NUM >= 0x075500
  SK_SET(CURLOPT_PROTOCOLS_STR, "http,https");
#else
  SK_SET(CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
  SK_SET(CURLOPT_TCP_KEEPALIVE, 1L);
  if (cfg->timeout_ms > 0) SK_SET(CURLOPT_TIMEOUT_MS, cfg->timeout_ms);
  if (cfg->connect_timeout_ms > 0) SK_SET(CURLOPT_CONNECTTIMEOUT_MS, cfg->connect_timeout_ms);
  if (cfg->stall_timeout_s > 0) {
    SK_SET(CURLOPT_XFERINFOFUNCTION, sk_on_progress);
    SK_SET(CURLOPT_XFERINFODATA, res);
    SK_SET(CURLOPT_NOPROGRESS, 0L);
  }
  /* libcurl silently resends a request whose reused connection died
   * before any answer; for a write that may duplicate it. Writes take a
   * new connection, so every attempt is one the retry policy counts. */
  if (strcmp(method, "POST") == 0 || strcmp(method, "PATCH") == 0)
    SK_SET(CURLOPT_FRESH_CONNECT, 1L);

  SK_SET(CURLOPT_SSL_VERIFYPEER, cfg->insecure ? 0L : 1L);
  SK_SET(CURLOPT_SSL_VERIFYHOST, cfg->insecure ? 0L : 2L);
  if (cfg->ca_file != NULL) SK_SET(CURLOPT_CAINFO, cfg->ca_file);

  SK_SET(CURLOPT_WRITEFUNCTION, sk_on_body);
  SK_SET(CURLOPT_WRITEDATA, res);
  SK_SET(CURLOPT_HEADERFUNCTION, sk_on_header);
  SK_SET(CURLOPT_HEADERDATA, res);

  *headers = list;
  return CURLE_OK;

fail:
  /* Do not leave the handle pointing at a list that is freed here. */
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_slist_free_all(list);
  return rc;
}

void sk_transport_finish(CURL *easy, CURLcode rc, sk_http_response *res) {
  long status = 0, header_bytes = 0;
  curl_off_t pretransfer = 0;
  int too_large = res->outcome == SK_NET_TOO_LARGE;

  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
  curl_easy_getinfo(easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer);
  curl_easy_getinfo(easy, CURLINFO_HEADER_SIZE, &header_bytes);
  res->status = status;
  /* Sending had started, or the server answered something: a non-
   * idempotent request may have taken effect. */
  res->request_sent = pretransfer > 0 || header_bytes > 0 || res->body.len > 0 || status > 0;

  switch (rc) {
    case CURLE_OK: res->outcome = SK_NET_OK; break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY: res->outcome = SK_NET_CONNECT; break;
    case CURLE_OPERATION_TIMEDOUT:
      /* A connect timeout is a timeout too; request_sent says which. */
      res->outcome = SK_NET_TIMEOUT;
      break;
    case CURLE_ABORTED_BY_CALLBACK:
      res->outcome = res->stalled ? SK_NET_TIMEOUT : SK_NET_FAILED;
      break;
    case CURLE_WRITE_ERROR: res->outcome = too_large ? SK_NET_TOO_LARGE : SK_NET_FAILED; break;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE: res->outcome = SK_NET_DROPPED; break;
    default: res->outcome = SK_NET_FAILED; break;
  }

  if (res->outcome == SK_NET_OK)
    res->error[0] = '\0';
  else if (res->outcome == SK_NET_TOO_LARGE)
    snprintf(res->error, sizeof res->error, "response body larger than %zu bytes", res->max_body);
  else if (res->stalled)
    snprintf(res->error, sizeof res->error, "no data moved for %g s (stalled connection)",
             res->stall_timeout_s);
  else if (rc == CURLE_WRITE_ERROR && res->body.oom)
    snprintf(res->error, sizeof res->error, "out of memory reading the response body");
  else if (res->error[0] == '\0')
    snprintf(res->error, sizeof res->error, "%s", curl_easy_strerror(rc));
}

void sk_transport_perform(CURL *easy, const sk_transport_config *cfg, const sk_http_request *req,
                          sk_http_response *res) {
  struct curl_slist *headers = NULL;
  CURLcode rc = sk_transport_setup(easy, cfg, req, res, &headers);
  if (rc == CURLE_OK) rc = curl_easy_perform(easy);
  sk_transport_finish(easy, rc, res);
  sk_transport_detach(easy, headers);
}

void sk_transport_detach(CURL *easy, struct curl_slist *headers) {
  /* The handle outlives res and the list; closing a cached connection
   * later may still report an error into ERRORBUFFER. */
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, (char *)NULL);
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, (struct curl_slist *)NULL);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, (void *)NULL);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, (void *)NULL);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, (void *)NULL);
  curl_slist_free_all(headers);
}
