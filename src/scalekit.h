/* Internal interfaces of scalekit.core. One section per source file. */
#ifndef SCALEKIT_H
#define SCALEKIT_H

#include <stddef.h>
#include <time.h>
#include <curl/curl.h>
#include "compat.h"

#define SK_VERSION "0.1.0"

/* Metatable names in the registry. */
#define SK_CLIENT_MT "scalekit.client"
#define SK_RESOURCE_MT "scalekit.resource"
#define SK_ITERATOR_MT "scalekit.iterator"
#define SK_ERROR_MT "scalekit.error"

/* ---- buf.c: growable byte buffer on malloc; never raises ------------- */

typedef struct sk_buf {
  char *data;
  size_t len;
  size_t cap;
  int oom; /* sticky: an allocation failed, contents are incomplete */
} sk_buf;

void sk_buf_init(sk_buf *b);
void sk_buf_free(sk_buf *b);
void sk_buf_reset(sk_buf *b); /* len = 0, keeps the allocation */
/* These return 0, or -1 once an allocation has failed. */
int sk_buf_add(sk_buf *b, const void *p, size_t n);
int sk_buf_adds(sk_buf *b, const char *s);
int sk_buf_addc(sk_buf *b, char c);
/* NUL-terminated view of the contents ("" when empty). */
const char *sk_buf_cstr(sk_buf *b);

/* ---- url.c: URL pieces from untrusted strings -------------------------- */

/* RFC 3986 percent-encoding: unreserved characters (ALPHA DIGIT - . _ ~)
 * stay, every other byte becomes %XX (upper-case hex). */
int sk_url_escape(sk_buf *b, const char *s, size_t n);
/* application/x-www-form-urlencoded value: as above but space -> '+'. */
int sk_form_escape(sk_buf *b, const char *s, size_t n);
/* Appends "?name=value" or "&name=value" (escaped) to a URL in b. */
int sk_query_add(sk_buf *b, const char *name, const char *value, size_t vlen);
/* 1 when s holds a byte that must never reach a header or request line
 * (CR, LF, NUL), else 0. */
int sk_has_forbidden_byte(const char *s, size_t n);

/* ---- headers.c: response header parsing -------------------------------- */

/* If `line` (one raw header line as libcurl hands it over, with CRLF) is
 * "<name>: value" (name case-insensitive), copies the trimmed value into
 * out (NUL-terminated, truncated to cap - 1) and returns 1; else 0. */
int sk_header_value(const char *line, size_t len, const char *name, char *out,
                    size_t cap);
/* Retry-After: delta-seconds or an HTTP-date. Returns the seconds to wait
 * (>= 0, an HTTP-date in the past gives 0), or -1 when the value is not
 * one of those forms. `now` is the current Unix time. */
double sk_retry_after_seconds(const char *value, time_t now);

/* ---- transport.c: one HTTP exchange over a libcurl easy handle --------- */

typedef struct sk_transport_config {
  long timeout_ms;         /* whole exchange */
  long connect_timeout_ms; /* TCP + TLS handshake */
  double stall_timeout_s;  /* abort when no byte moves for this long */
  size_t max_body;         /* response bodies larger than this are refused */
  const char *ca_file;     /* NULL: system bundle */
  int insecure;            /* 1: no TLS peer/host verification */
  const char *user_agent;
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
  SK_NET_OK = 0,   /* a complete HTTP response arrived (any status) */
  SK_NET_CONNECT,  /* could not connect: nothing reached the server */
  SK_NET_DROPPED,  /* connection reset or closed mid-exchange */
  SK_NET_TIMEOUT,  /* total timeout or stall */
  SK_NET_TOO_LARGE, /* body over max_body */
  SK_NET_FAILED    /* anything else (TLS, protocol, out of memory) */
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
  char error[CURL_ERROR_SIZE + 64]; /* readable reason when outcome != OK */
} sk_http_response;

/* Once per process, from luaopen. */
void sk_transport_global_init(void);
void sk_http_response_init(sk_http_response *res);
void sk_http_response_free(sk_http_response *res);
/* Resets `easy` and sets it up for one exchange (usable with
 * curl_easy_perform or a multi handle). The header list to free after the
 * exchange is returned in *headers. Returns CURLE_OK or the setup error. */
CURLcode sk_transport_setup(CURL *easy, const sk_transport_config *cfg,
                            const sk_http_request *req, sk_http_response *res,
                            struct curl_slist **headers);
/* Classifies a finished exchange: status, outcome, request_sent, error. */
void sk_transport_finish(CURL *easy, CURLcode rc, sk_http_response *res);
/* Unhooks `easy` from the finished exchange's memory (error buffer, header
 * list, callbacks' data) and frees the header list. */
void sk_transport_detach(CURL *easy, struct curl_slist *headers);
/* setup + curl_easy_perform + finish + detach. */
void sk_transport_perform(CURL *easy, const sk_transport_config *cfg,
                          const sk_http_request *req, sk_http_response *res);

/* ---- json.c: JSON <-> Lua ---------------------------------------------- */

/* Encodes the value at idx into b. Tables whose keys are 1..n encode as
 * arrays, other tables as objects (string keys only); an empty table is
 * `[]` when array_hint is set, `{}` otherwise. The null sentinel
 * (lightuserdata NULL) encodes as null; strings must be valid UTF-8.
 * Uses raw access only (no
 * metamethods run). Returns 0, or -1 with a message naming the offending
 * place in err. Never raises. */
int sk_json_encode(lua_State *L, int idx, int array_hint, sk_buf *b, char *err,
                   size_t errcap);
/* 1 when s[0..n) is valid UTF-8, else 0 with the offset of the first bad
 * byte in *bad. */
int sk_utf8_valid(const char *s, size_t n, size_t *bad);
/* Pushes a lua-cjson decoder configured for this SDK (max nesting depth,
 * no NaN/Infinity/hex numbers): a function(string) -> value that raises
 * on bad input. */
void sk_json_push_decoder(lua_State *L, int max_depth);
/* Decodes s with the decoder at decoder_idx. On success pushes the value
 * (integral numbers as integers on 5.3+, null as the sentinel) and returns
 * 0; on failure pushes a message string and returns -1. Never raises
 * (except out of memory). */
int sk_json_decode(lua_State *L, int decoder_idx, const char *s, size_t n);
/* Integral floats in +-2^53 become integers, recursively (no-op on 5.1). */
void sk_json_normalize(lua_State *L, int idx);
/* 1 + the deepest nesting level at which the JSON text s has a number (a
 * top-level number is level 0), or 0 when it has none: how deep
 * normalisation must look. Any input is safe; strings are skipped. */
int sk_json_number_levels(const char *s, size_t n);

/* ---- error.c: structured error objects --------------------------------- */

typedef struct sk_error_info {
  const char *kind;      /* "api", "auth", "transport", "timeout", "decode" */
  long status;           /* 0: no response (nil) */
  const char *code;      /* NULL: nil */
  const char *message;
  const char *request_id; /* NULL or "": nil */
  const char *operation; /* operationId */
  int retryable;
  int attempts;
} sk_error_info;

/* Pushes a new error table (metatable SK_ERROR_MT). If details_idx is not
 * 0 the value there becomes err.details. */
void sk_error_push(lua_State *L, const sk_error_info *info, int details_idx);
void sk_error_register(lua_State *L);
/* Pushes the error object of a non-2xx response (info's status set; its
 * code and message are filled here). A JSON body, decoded with the
 * decoder at decoder_idx, gives code, message and details. Strings in
 * redact (NULL-terminated) are masked in the message. Never raises on
 * any body. */
void sk_error_push_response(lua_State *L, sk_error_info *info, int decoder_idx, const char *body,
                            size_t len, const char *content_type, const char *const *redact);
/* Pushes s[0..n) with every string of redact (8 bytes or longer)
 * replaced by "[redacted]". */
void sk_push_redacted(lua_State *L, const char *s, size_t n, const char *const *redact);

/* ---- operations.c: the API as data ------------------------------------- */

typedef enum sk_param_in { SK_IN_PATH, SK_IN_QUERY, SK_IN_BODY } sk_param_in;
typedef enum sk_param_type {
  SK_T_STRING,
  SK_T_INTEGER,
  SK_T_BOOLEAN,
  SK_T_OBJECT,
  SK_T_ARRAY
} sk_param_type;

typedef struct sk_param {
  const char *name;
  unsigned char in;   /* sk_param_in */
  unsigned char type; /* sk_param_type */
  unsigned char required;
} sk_param;

typedef enum sk_body_kind { SK_BODY_NONE, SK_BODY_JSON, SK_BODY_FORM } sk_body_kind;

typedef struct sk_operation {
  const char *id; /* operationId */
  const char *method;
  const char *path;       /* template: /api/v1/organizations/{id} */
  const sk_param *params; /* terminated by a NULL name */
  unsigned char body;     /* sk_body_kind */
  const char *unwrap;     /* result = body[unwrap] when that is a table */
  const char *items;      /* list key of a paginated response, or NULL */
} sk_operation;

typedef enum sk_method_kind { SK_CALL, SK_EACH, SK_PAGES } sk_method_kind;

/* A resource method: `sk.<resource>:<name>(path params..., [fields])`. */
typedef struct sk_method {
  const char *resource;
  const char *name;
  const char *operation; /* operationId */
  unsigned char kind;    /* sk_method_kind */
} sk_method;

extern const sk_operation sk_operations[];
extern const size_t sk_operation_count;
extern const sk_method sk_methods[];
extern const size_t sk_method_count;

const sk_operation *sk_operation_find(const char *id);
const sk_param *sk_operation_param(const sk_operation *op, const char *name);
/* Number of path parameters (positional arguments of its methods). */
int sk_operation_path_count(const sk_operation *op);
/* The i-th (0-based) path parameter in template order. */
const sk_param *sk_operation_path_param(const sk_operation *op, int i);

/* ---- client.c: the client userdata ------------------------------------- */

typedef struct sk_client {
  CURL *easy; /* reused across calls: keeps the connection alive */
  sk_transport_config transport;
  char *base_url; /* environment URL without a trailing slash */
  char *client_id;
  char *client_secret;
  char *user_agent;
  char *ca_file;
  char *token; /* cached access token, or NULL */
  double token_expires; /* monotonic seconds after which it is refreshed */
  int token_supplied; /* tokens come from core.set_token only (nginx) */
  int max_retries;
  double retry_base_delay; /* seconds */
  double retry_max_delay;
  double max_retry_wait; /* cap on a server's Retry-After */
  unsigned token_generation; /* counts fetches: who holds an old token */
  CURLM *multi;              /* sk:parallel: its connection pool */
  CURL **pool;               /* sk:parallel: easy handles, pool_size */
  int pool_size;
  unsigned long long rng; /* backoff jitter */
  int closed;
} sk_client;

/* User value slots of a client (a table anchored by the userdata). */
#define SK_UV_DECODER "decoder"
#define SK_UV_RESOURCES "resources"
#define SK_UV_ON_REQUEST "on_request"
#define SK_UV_ON_RESPONSE "on_response"
/* Lua functions replacing methods, per name (client) or per resource:
 * how the nginx layer sends through worker threads. */
#define SK_UV_OVERRIDES "overrides"

void sk_client_register(lua_State *L);
int sk_client_new(lua_State *L);
/* The open client at idx, or raises naming `who`. */
sk_client *sk_client_check(lua_State *L, int idx, const char *who);
double sk_monotonic(void);
/* If the client at idx has overrides[key], pushes it and returns 1. */
int sk_client_push_override(lua_State *L, int idx, const char *key);
/* core.set_overrides(client, table), core.set_token(client, token, ttl),
 * core.peek_token(client) */
int sk_client_set_overrides(lua_State *L);
int sk_client_set_token(lua_State *L);
int sk_client_peek_token(lua_State *L);

/* ---- request.c: Lua arguments -> HTTP request -------------------------- */

typedef struct sk_request {
  const sk_operation *op;
  sk_buf url;
  sk_buf body;
  const char *content_type;
} sk_request;

/* Validates params (table at params_idx, or 0 for none) against op and
 * builds the URL and body. Raises (naming `who`) on a programming mistake,
 * before anything is allocated. */
void sk_request_build(lua_State *L, const sk_client *c, const sk_operation *op,
                      int params_idx, const char *who, sk_request *req);
void sk_request_free(sk_request *req);

/* ---- call.c: executing an operation ------------------------------------ */

/* Why an attempt failed, before it becomes an error object. */
typedef struct sk_failure {
  const char *kind; /* NULL: it did not fail */
  int retryable;    /* the caller may safely try again later */
  int retry_now;    /* the retry policy retries it automatically */
} sk_failure;

/* One operation's HTTP exchange and its attempts. */
typedef struct sk_exchange {
  int client_idx;
  sk_client *c;
  const sk_operation *op;
  sk_http_request http;
  sk_http_response res;
  int attempts;
} sk_exchange;

void sk_exchange_init(sk_exchange *x, int client_idx, sk_client *c, sk_request *req);
sk_failure sk_classify(const sk_operation *op, const sk_http_response *res);
double sk_backoff_delay(sk_client *c, int attempt, const sk_http_response *res);
void sk_hook_request(lua_State *L, const sk_exchange *x);
void sk_hook_response(lua_State *L, const sk_exchange *x, double elapsed);
/* After a 2xx: pushes the result (decoded and unwrapped; true when the
 * body is empty) and returns 1, or pushes a decode error and returns 0. */
int sk_exchange_push_success(lua_State *L, sk_exchange *x);
void sk_exchange_push_failure(lua_State *L, sk_exchange *x, sk_failure f);
void sk_client_forget_token(sk_client *c);

/* Runs a built request with auth, retries and decoding. Pushes the result
 * and returns 1, or pushes nil, err and returns 2. Frees req. */
int sk_call_execute(lua_State *L, int client_idx, sk_request *req);
/* Ensures a valid token. Returns 0, or pushes an error object and returns
 * -1. */
int sk_call_ensure_token(lua_State *L, int client_idx, sk_client *c);

/* ---- parallel.c: many operations at once on libcurl's multi interface -- */

int sk_parallel(lua_State *L);

/* ---- resource.c / iterator.c -------------------------------------------- */

void sk_resource_register(lua_State *L);
/* core.prepare: validation without sending (see resource.c). */
int sk_resource_prepare(lua_State *L);
/* Pushes a table {name = resource userdata} for the client at idx. */
void sk_resource_push_all(lua_State *L, int client_idx);
void sk_iterator_register(lua_State *L);
/* Pushes the values a generic `for` needs for walking op from the params
 * table at params_idx (copied) and returns their count. Raises, naming
 * who, when the params are wrong. */
int sk_iterator_push(lua_State *L, int client_idx, const sk_operation *op,
                     int params_idx, int pages, const char *who);

/* core.c: luaL_newmetatable plus __name, and, when close is given,
 * __gc and __close. Leaves the metatable on the stack. */
void sk_new_metatable(lua_State *L, const char *name, lua_CFunction close);

/* Raises "<who>: <message>" at the caller's level. */
int sk_argerror(lua_State *L, const char *who, const char *fmt, ...);

#endif
