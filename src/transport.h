/* One HTTP exchange over a libcurl easy handle. */
#ifndef SK_TRANSPORT_H
#define SK_TRANSPORT_H

#include <curl/curl.h>

#include "buf.h"

typedef struct sk_transport_config {
  long timeout_ms;         /* whole exchange */
  long connect_timeout_ms; /* TCP + TLS handshake */
  double stall_timeout_s;  /* abort when no byte moves for this long */
  size_t max_body;         /* response bodies larger than this are refused */
  const char *ca_file;     /* NULL: system bundle */
  int insecure;            /* 1: no TLS peer/host verification */
  const char *user_agent;
  const char *proxy; /* NULL: libcurl's default (the *_proxy variables) */
} sk_transport_config;

typedef struct sk_http_request {
  const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
  const char *url;
  const char *content_type; /* NULL when there is no body */
  const char *body;
  size_t body_len;
  const char *authorization; /* whole header value ("Bearer ...") or NULL */
} sk_http_request;

typedef enum sk_net_outcome {
  SK_NET_OK = 0,    /* a complete HTTP response arrived (any status) */
  SK_NET_CONNECT,   /* could not connect: nothing reached the server */
  SK_NET_DROPPED,   /* connection reset or closed mid-exchange */
  SK_NET_TIMEOUT,   /* total timeout or stall */
  SK_NET_TOO_LARGE, /* body over max_body */
  SK_NET_FAILED     /* anything else (TLS, protocol, out of memory) */
} sk_net_outcome;

typedef struct sk_http_response {
  long status; /* 0 when no response */
  sk_buf body;
  sk_net_outcome outcome;
  int request_sent; /* the request may have reached the server */
  size_t max_body;
  double stall_timeout_s; /* from the config; 0: no stall detection */
  double last_activity;   /* monotonic time a byte last moved */
  curl_off_t moved;       /* bytes moved so far (both directions) */
  int stalled;            /* the stall detector aborted the exchange */
  char request_id[128];   /* x-request-id */
  char retry_after[64];   /* raw Retry-After value */
  char content_type[128];
  long max_age;                     /* Cache-Control max-age, -1 when absent */
  char error[CURL_ERROR_SIZE + 64]; /* readable reason when outcome != OK */
} sk_http_response;

/* Once per process, from luaopen. */
void sk_transport_global_init(void);
void sk_http_response_init(sk_http_response *res);
void sk_http_response_free(sk_http_response *res);
/* Resets `easy` and sets it up for one exchange (usable with
 * curl_easy_perform or a multi handle). The header list to free after the
 * exchange is returned in *headers. Returns CURLE_OK or the setup error. */
CURLcode sk_transport_setup(CURL *easy, const sk_transport_config *cfg, const sk_http_request *req,
                            sk_http_response *res, struct curl_slist **headers);
/* Classifies a finished exchange: status, outcome, request_sent, error. */
void sk_transport_finish(CURL *easy, CURLcode rc, sk_http_response *res);
/* Unhooks `easy` from the finished exchange's memory (error buffer, header
 * list, callbacks' data) and frees the header list. */
void sk_transport_detach(CURL *easy, struct curl_slist *headers);
/* setup + curl_easy_perform + finish + detach. */
void sk_transport_perform(CURL *easy, const sk_transport_config *cfg, const sk_http_request *req,
                          sk_http_response *res);

#endif
