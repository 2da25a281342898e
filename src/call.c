/* Executing an operation: token, HTTP exchange, retry policy, decoding,
 * and turning failures into error objects. Nothing here raises between
 * allocating a buffer and freeing it. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "scalekit.h"

static int is_idempotent(const sk_operation *op) {
  if (strcmp(op->id, "createToken") == 0) return 1; /* issuing a token changes nothing */
  return strcmp(op->method, "POST") != 0 && strcmp(op->method, "PATCH") != 0;
}

/* The retry policy of README's "Retries" section. */
sk_failure sk_classify(const sk_operation *op, const sk_http_response *res) {
  sk_failure f = {"transport", 0, 0};
  int idempotent = is_idempotent(op);
  switch (res->outcome) {
    case SK_NET_OK:
      /* A refused token request, or a token the API refuses. */
      f.kind = res->status == 401 ||
                       (strcmp(op->id, "createToken") == 0 && res->status >= 400 &&
                        res->status < 500 && res->status != 429)
                   ? "auth"
                   : "api";
      if (res->status == 429) f.retryable = f.retry_now = 1;
      else if (res->status >= 500) {
        f.retryable = 1;
        f.retry_now = idempotent && (res->status == 502 || res->status == 503 || res->status == 504);
      }
      break;
    case SK_NET_CONNECT:
      f.retryable = f.retry_now = 1;
      break;
    case SK_NET_TIMEOUT:
      f.kind = "timeout";
      f.retryable = 1;
      f.retry_now = idempotent || !res->request_sent;
      break;
    case SK_NET_DROPPED:
      f.retryable = 1;
      f.retry_now = idempotent || !res->request_sent;
      break;
    case SK_NET_TOO_LARGE:
    case SK_NET_FAILED:
      break;
  }
  return f;
}

static double next_random(sk_client *c) {
  /* xorshift64*: jitter needs spread, not cryptographic quality */
  c->rng ^= c->rng >> 12;
  c->rng ^= c->rng << 25;
  c->rng ^= c->rng >> 27;
  return (double)((c->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))), unless the
 * server said when (Retry-After, capped by max_retry_wait). */
double sk_backoff_delay(sk_client *c, int attempt, const sk_http_response *res) {
  double ceiling = c->retry_base_delay;
  int i;
  if (res->retry_after[0]) {
    double wait = sk_retry_after_seconds(res->retry_after, time(NULL));
    if (wait >= 0) return wait < c->max_retry_wait ? wait : c->max_retry_wait;
  }
  for (i = 1; i < attempt && ceiling < c->retry_max_delay; i++) ceiling *= 2;
  if (ceiling > c->retry_max_delay) ceiling = c->retry_max_delay;
  return ceiling * next_random(c);
}

static void sleep_seconds(double s) {
  struct timespec ts;
  if (s <= 0) return;
  ts.tv_sec = (time_t)s;
  ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* The strings a server's message must never carry back to logs. */
static void secrets_of(const sk_client *c, const char *out[3]) {
  out[0] = c->client_secret;
  out[1] = c->token;
  out[2] = NULL;
  if (!out[0]) out[0] = out[1], out[1] = NULL;
}

static void push_redacted(lua_State *L, const sk_client *c, const char *s, size_t n) {
  const char *secrets[3];
  secrets_of(c, secrets);
  sk_push_redacted(L, s, n, secrets);
}

/* ---- debug hooks ---- */

static int push_hook(lua_State *L, int client_idx, const char *slot) {
  sk_getuservalue(L, client_idx);
  lua_getfield(L, -1, slot);
  lua_remove(L, -2);
  if (lua_isfunction(L, -1)) return 1;
  lua_pop(L, 1);
  return 0;
}

/* Runs a hook with the table on top of the stack (popped). A failing hook
 * must not break the call it observes: its error is dropped. */
static void run_hook(lua_State *L) {
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
}

void sk_hook_request(lua_State *L, const sk_exchange *x) {
  const sk_client *c = x->c;
  const sk_operation *op = x->op;
  const sk_http_request *http = &x->http;
  if (!push_hook(L, x->client_idx, SK_UV_ON_REQUEST)) return;
  lua_createtable(L, 0, 5);
  lua_pushstring(L, op->id);
  lua_setfield(L, -2, "operation");
  lua_pushstring(L, http->method);
  lua_setfield(L, -2, "method");
  lua_pushstring(L, http->url);
  lua_setfield(L, -2, "url");
  lua_createtable(L, 0, 4);
  lua_pushstring(L, c->user_agent);
  lua_setfield(L, -2, "User-Agent");
  lua_pushliteral(L, "application/json");
  lua_setfield(L, -2, "Accept");
  if (http->content_type) {
    lua_pushstring(L, http->content_type);
    lua_setfield(L, -2, "Content-Type");
  }
  if (http->authorization) {
    lua_pushliteral(L, "Bearer [redacted]");
    lua_setfield(L, -2, "Authorization");
  }
  lua_setfield(L, -2, "headers");
  if (http->body) {
    push_redacted(L, c, http->body, http->body_len);
    lua_setfield(L, -2, "body");
  }
  run_hook(L);
}

void sk_hook_response(lua_State *L, const sk_exchange *x, double elapsed) {
  const sk_client *c = x->c;
  const sk_operation *op = x->op;
  const sk_http_response *res = &x->res;
  if (!push_hook(L, x->client_idx, SK_UV_ON_RESPONSE)) return;
  lua_createtable(L, 0, 6);
  lua_pushstring(L, op->id);
  lua_setfield(L, -2, "operation");
  if (res->status) {
    lua_pushinteger(L, res->status);
    lua_setfield(L, -2, "status");
  }
  if (res->request_id[0]) {
    lua_pushstring(L, res->request_id);
    lua_setfield(L, -2, "request_id");
  }
  if (res->outcome != SK_NET_OK) {
    lua_pushstring(L, res->error);
    lua_setfield(L, -2, "error");
  }
  if (strcmp(op->id, "createToken") == 0 && res->status == 200)
    lua_pushliteral(L, "[redacted: token response]"); /* the new token */
  else
    push_redacted(L, c, sk_buf_cstr((sk_buf *)&res->body), res->body.len);
  lua_setfield(L, -2, "body");
  lua_pushnumber(L, elapsed);
  lua_setfield(L, -2, "elapsed");
  run_hook(L);
}

/* ---- one operation, with retries ---- */

/* Performs http until success or a final failure, retrying per policy.
 * Leaves the last response in x->res. Returns the sk_failure class (kind
 * NULL on a 2xx). 401s are returned to the caller, never retried here. */
static sk_failure perform_with_retries(lua_State *L, sk_exchange *x) {
  sk_failure f;
  for (;;) {
    double started = sk_monotonic();
    sk_buf_reset(&x->res.body);
    x->attempts++;
    sk_hook_request(L, x);
    sk_transport_perform(x->c->easy, &x->c->transport, &x->http, &x->res);
    sk_hook_response(L, x, sk_monotonic() - started);
    if (x->res.outcome == SK_NET_OK && x->res.status >= 200 && x->res.status < 300) {
      f.kind = NULL;
      return f;
    }
    f = sk_classify(x->op, &x->res);
    if (!f.retry_now || x->attempts > x->c->max_retries) return f;
    sleep_seconds(sk_backoff_delay(x->c, x->attempts, &x->res));
  }
}

/* Decodes x->res.body with the client's decoder; pushes value or message. */
static int decode_body(lua_State *L, sk_exchange *x) {
  int rc;
  sk_getuservalue(L, x->client_idx);
  lua_getfield(L, -1, SK_UV_DECODER);
  lua_remove(L, -2);
  rc = sk_json_decode(L, lua_gettop(L), x->res.body.data ? x->res.body.data : "", x->res.body.len);
  lua_remove(L, -2);
  return rc;
}

/* Pushes the error object for a failed exchange. */
void sk_exchange_push_failure(lua_State *L, sk_exchange *x, sk_failure f) {
  sk_error_info info;
  const char *secrets[3];
  memset(&info, 0, sizeof info);
  info.kind = f.kind;
  info.retryable = f.retryable;
  info.attempts = x->attempts;
  info.operation = x->op->id;
  info.request_id = x->res.request_id;
  info.status = x->res.status;
  if (x->res.outcome != SK_NET_OK) {
    push_redacted(L, x->c, x->res.error, strlen(x->res.error));
    info.message = lua_tostring(L, -1);
    sk_error_push(L, &info, 0);
    lua_remove(L, -2);
    return;
  }
  secrets_of(x->c, secrets);
  sk_getuservalue(L, x->client_idx);
  lua_getfield(L, -1, SK_UV_DECODER);
  sk_error_push_response(L, &info, lua_gettop(L), x->res.body.data, x->res.body.len,
                         x->res.content_type, secrets);
  lua_replace(L, -3);
  lua_pop(L, 1);
}

static void push_decode_error(lua_State *L, sk_exchange *x, const char *why) {
  sk_error_info info;
  memset(&info, 0, sizeof info);
  info.kind = "decode";
  info.status = x->res.status;
  info.message = why;
  info.request_id = x->res.request_id;
  info.operation = x->op->id;
  info.attempts = x->attempts;
  sk_error_push(L, &info, 0);
}

void sk_exchange_init(sk_exchange *x, int client_idx, sk_client *c, sk_request *req) {
  const sk_operation *op = req->op;
  memset(x, 0, sizeof *x);
  x->client_idx = client_idx;
  x->c = c;
  x->op = op;
  x->http.method = op->method;
  x->http.url = sk_buf_cstr(&req->url);
  x->http.content_type = req->content_type;
  x->http.body = req->body.data;
  x->http.body_len = req->body.len;
  sk_http_response_init(&x->res);
}

/* Result shaping: unwrap {"organization": {...}} and friends. */
static void unwrap(lua_State *L, const sk_operation *op) {
  if (!op->unwrap || !lua_istable(L, -1)) return;
  lua_getfield(L, -1, op->unwrap);
  if (lua_istable(L, -1)) lua_remove(L, -2);
  else lua_pop(L, 1);
}

int sk_exchange_push_success(lua_State *L, sk_exchange *x) {
  if (x->res.body.len == 0 || x->res.status == 204) {
    lua_pushboolean(L, 1);
    return 1;
  }
  if (decode_body(L, x) != 0) {
    char why[300];
    snprintf(why, sizeof why, "invalid JSON in response: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    push_decode_error(L, x, why);
    return 0;
  }
  unwrap(L, x->op);
  return 1;
}

/* ---- token ---- */

static int fetch_token(lua_State *L, int client_idx, sk_client *c) {
  const sk_operation *op = sk_operation_find("createToken");
  sk_request req;
  sk_exchange x;
  sk_failure f;
  double ttl, margin;
  memset(&req, 0, sizeof req);
  sk_buf_init(&req.url);
  sk_buf_init(&req.body);
  req.op = op;
  req.content_type = "application/x-www-form-urlencoded";
  sk_buf_adds(&req.url, c->base_url);
  sk_buf_adds(&req.url, op->path);
  sk_buf_adds(&req.body, "grant_type=client_credentials&client_id=");
  sk_form_escape(&req.body, c->client_id, strlen(c->client_id));
  sk_buf_adds(&req.body, "&client_secret=");
  sk_form_escape(&req.body, c->client_secret, strlen(c->client_secret));
  sk_exchange_init(&x, client_idx, c, &req);
  if (req.url.oom || req.body.oom) {
    sk_request_free(&req);
    return luaL_error(L, "scalekit: out of memory");
  }
  f = perform_with_retries(L, &x);
  sk_request_free(&req);
  if (f.kind) {
    sk_exchange_push_failure(L, &x, f);
    sk_http_response_free(&x.res);
    return -1;
  }
  if (!sk_exchange_push_success(L, &x)) {
    sk_http_response_free(&x.res);
    return -1;
  }
  sk_http_response_free(&x.res);
  lua_getfield(L, -1, "access_token");
  lua_getfield(L, -2, "expires_in");
  if (!lua_istable(L, -3) || lua_type(L, -2) != LUA_TSTRING || sk_rawlen(L, -2) == 0) {
    lua_pop(L, 3);
    push_decode_error(L, &x, "token response without an access_token");
    return -1;
  }
  sk_client_forget_token(c);
  c->token = strdup(lua_tostring(L, -2));
  c->token_generation++;
  ttl = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
  lua_pop(L, 3);
  if (!c->token) return luaL_error(L, "scalekit: out of memory");
  /* Refresh ahead of expiry; a lifetime of 0 means "use once". */
  margin = ttl >= 120 ? 60 : ttl / 4;
  c->token_expires = sk_monotonic() + ttl - margin;
  return 0;
}

int sk_call_ensure_token(lua_State *L, int client_idx, sk_client *c) {
  if (c->token && sk_monotonic() < c->token_expires) return 0;
  if (c->token_supplied) {
    sk_error_info info;
    memset(&info, 0, sizeof info);
    info.kind = "auth";
    info.code = "TOKEN_EXPIRED";
    info.message = "the supplied access token expired";
    info.retryable = 1;
    sk_error_push(L, &info, 0);
    return -1;
  }
  return fetch_token(L, lua_absindex(L, client_idx), c);
}

void sk_client_forget_token(sk_client *c) {
  if (c->token) {
    memset(c->token, 0, strlen(c->token));
    free(c->token);
    c->token = NULL;
  }
}

/* ---- public entry ---- */

int sk_call_execute(lua_State *L, int client_idx, sk_request *req) {
  sk_client *c;
  sk_exchange x;
  sk_buf authorization;
  int ok = 0, refreshed = 0, is_token = strcmp(req->op->id, "createToken") == 0;
  client_idx = lua_absindex(L, client_idx);
  c = (sk_client *)lua_touserdata(L, client_idx);
  sk_exchange_init(&x, client_idx, c, req);
  sk_buf_init(&authorization);
  for (;;) {
    sk_failure f;
    if (!is_token) {
      if (sk_call_ensure_token(L, client_idx, c) != 0) break; /* error pushed */
      sk_buf_reset(&authorization);
      sk_buf_adds(&authorization, "Bearer ");
      sk_buf_adds(&authorization, c->token);
      x.http.authorization = sk_buf_cstr(&authorization);
    }
    f = perform_with_retries(L, &x);
    if (!f.kind) {
      ok = sk_exchange_push_success(L, &x);
      break;
    }
    /* An API 401 may mean the token was revoked or expired early: one
     * fresh token, one more try. */
    if (!is_token && x.res.outcome == SK_NET_OK && x.res.status == 401 && !refreshed &&
        !c->token_supplied) {
      refreshed = 1;
      sk_client_forget_token(c);
      continue;
    }
    sk_exchange_push_failure(L, &x, f);
    break;
  }
  sk_buf_free(&authorization);
  sk_http_response_free(&x.res);
  sk_request_free(req);
  if (ok) return 1;
  lua_pushnil(L);
  lua_insert(L, -2);
  return 2;
}
