/* The SDK's policy for one operation (see exchange.h). */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "exchange.h"
#include "headers.h"
#include "json.h"

enum { X_READY, X_WAITING, X_SENT, X_DONE };

void sk_transfer_init(sk_transfer *t) {
  memset(t, 0, sizeof *t);
  sk_http_response_init(&t->res);
  sk_buf_init(&t->authorization);
}

void sk_transfer_free(sk_transfer *t) {
  sk_http_response_free(&t->res);
  sk_buf_free(&t->authorization);
}

void sk_exchange_init(sk_exchange *x) {
  memset(x, 0, sizeof *x);
  sk_request_init(&x->req);
}

void sk_exchange_free(sk_exchange *x) { sk_request_free(&x->req); }

int sk_exchange_done(const sk_exchange *x) { return x->state == X_DONE; }

static sk_client *client_at(lua_State *L, int client_idx) {
  return (sk_client *)lua_touserdata(L, client_idx);
}

/* The client's secrets and this request's credentials. */
static void masks_of(const sk_client *c, const sk_exchange *x, const sk_mask *out[3]) {
  out[0] = &c->secrets;
  out[1] = &x->req.secrets;
  out[2] = NULL;
}

/* ---- retry policy (README, "Retries") ---- */

static sk_failure classify(const sk_operation *op, const sk_http_response *res) {
  sk_failure f = {"transport", 0, 0};
  int idempotent = (op->flags & SK_OP_IDEMPOTENT) != 0;
  switch (res->outcome) {
    case SK_NET_OK:
      f.kind = res->status == 401 || ((op->flags & SK_OP_AUTH_FAILURES) && res->status >= 400 &&
                                      res->status < 500 && res->status != 429)
                   ? "auth"
                   : "api";
      if (res->status == 429)
        f.retryable = f.retry_now = 1;
      else if (res->status >= 500) {
        f.retryable = 1;
        f.retry_now =
            idempotent && (res->status == 502 || res->status == 503 || res->status == 504);
      }
      break;
    case SK_NET_CONNECT: f.retryable = f.retry_now = 1; break;
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
    case SK_NET_FAILED: break;
  }
  return f;
}

/* Full jitter: uniform in [0, min(cap, base * 2^(attempt-1))), unless the
 * server said when (Retry-After, capped by max_retry_wait). */
static double backoff_delay(sk_client *c, int attempt, const sk_http_response *res) {
  double ceiling = c->retry_base_delay;
  int i;
  if (res->retry_after[0]) {
    double wait = sk_retry_after_seconds(res->retry_after, time(NULL));
    if (wait >= 0) return wait < c->max_retry_wait ? wait : c->max_retry_wait;
  }
  for (i = 1; i < attempt && ceiling < c->retry_max_delay; i++) ceiling *= 2;
  if (ceiling > c->retry_max_delay) ceiling = c->retry_max_delay;
  return ceiling * sk_client_random(c);
}

/* ---- hooks and the debug line ---- */

static int push_slot(lua_State *L, int client_idx, const char *slot) {
  sk_getuservalue(L, client_idx);
  lua_getfield(L, -1, slot);
  lua_remove(L, -2);
  if (lua_isfunction(L, -1)) return 1;
  lua_pop(L, 1);
  return 0;
}

/* A failing hook must not break the call it observes: its error is
 * dropped. The table on top of the stack is its argument. */
static void run_hook(lua_State *L) {
  if (lua_pcall(L, 1, 0, 0) != LUA_OK) lua_pop(L, 1);
}

static void set_masked(lua_State *L, const char *key, const char *s, size_t n, sk_masks masks) {
  sk_push_masked(L, masks, s, n);
  lua_setfield(L, -2, key);
}

static void hook_request(lua_State *L, int client_idx, const sk_exchange *x, const sk_transfer *t) {
  const sk_client *c = client_at(L, client_idx);
  const sk_operation *op = x->req.op;
  const sk_mask *masks[3];
  if (!(c->hooks & SK_HOOK_ON_REQUEST) || !push_slot(L, client_idx, SK_UV_ON_REQUEST)) return;
  masks_of(c, x, masks);
  lua_createtable(L, 0, 5);
  lua_pushstring(L, op->id);
  lua_setfield(L, -2, "operation");
  lua_pushstring(L, t->http.method);
  lua_setfield(L, -2, "method");
  set_masked(L, "url", t->http.url, strlen(t->http.url), masks);
  lua_createtable(L, 0, 4);
  lua_pushstring(L, c->user_agent);
  lua_setfield(L, -2, "User-Agent");
  lua_pushliteral(L, "application/json");
  lua_setfield(L, -2, "Accept");
  if (t->http.content_type) {
    lua_pushstring(L, t->http.content_type);
    lua_setfield(L, -2, "Content-Type");
  }
  if (t->http.authorization) {
    lua_pushliteral(L, "Bearer [redacted]");
    lua_setfield(L, -2, "Authorization");
  }
  lua_setfield(L, -2, "headers");
  if (t->http.body) {
    if (op->flags & SK_OP_CLIENT_AUTH)
      lua_pushliteral(L, "[redacted: credentials]");
    else
      sk_push_masked(L, masks, t->http.body, t->http.body_len);
    lua_setfield(L, -2, "body");
  }
  run_hook(L);
}

static int succeeded(const sk_http_response *res) {
  return res->outcome == SK_NET_OK && res->status >= 200 && res->status < 300;
}

static void hook_response(lua_State *L, int client_idx, const sk_exchange *x, const sk_transfer *t,
                          double elapsed) {
  const sk_client *c = client_at(L, client_idx);
  const sk_http_response *res = &t->res;
  const sk_mask *masks[3];
  if (!(c->hooks & SK_HOOK_ON_RESPONSE) || !push_slot(L, client_idx, SK_UV_ON_RESPONSE)) return;
  masks_of(c, x, masks);
  lua_createtable(L, 0, 6);
  lua_pushstring(L, x->req.op->id);
  lua_setfield(L, -2, "operation");
  if (res->status) {
    lua_pushinteger(L, res->status);
    lua_setfield(L, -2, "status");
  }
  if (res->request_id[0])
    set_masked(L, "request_id", res->request_id, strlen(res->request_id), masks);
  if (res->outcome != SK_NET_OK) set_masked(L, "error", res->error, strlen(res->error), masks);
  if ((x->req.op->flags & SK_OP_SECRET_RESULT) && succeeded(res))
    lua_pushliteral(L, "[redacted: secret response]");
  else
    sk_push_masked(L, masks, sk_buf_cstr((sk_buf *)&res->body), res->body.len);
  lua_setfield(L, -2, "body");
  lua_pushnumber(L, elapsed);
  lua_setfield(L, -2, "elapsed");
  run_hook(L);
}

/* debug = true: one line per attempt, to the client's sink or stderr. */
static void debug_line(lua_State *L, int client_idx, const sk_exchange *x, const sk_transfer *t,
                       double elapsed) {
  const sk_client *c = client_at(L, client_idx);
  const sk_http_response *res = &t->res;
  const sk_mask *masks[3];
  char line[512], outcome[200];
  if (!c->debug) return;
  masks_of(c, x, masks);
  if (res->outcome == SK_NET_OK)
    snprintf(outcome, sizeof outcome, "%ld", res->status);
  else
    snprintf(outcome, sizeof outcome, "failed (%.150s)", res->error);
  snprintf(line, sizeof line, "scalekit: %s %s %s attempt %d %.0f ms%s%.100s", x->req.op->id,
           t->http.method, outcome, x->attempts, elapsed * 1000,
           res->request_id[0] ? " request_id " : "", res->request_id);
  sk_push_masked(L, masks, line, strlen(line));
  if (push_slot(L, client_idx, SK_UV_DEBUG)) {
    lua_insert(L, -2);
    run_hook(L);
  } else {
    fprintf(stderr, "%s\n", lua_tostring(L, -1));
    lua_pop(L, 1);
  }
}

/* ---- the steps ---- */

void sk_exchange_abort(sk_exchange *x, const char *kind, const char *message) {
  x->failure.kind = kind;
  x->failure.retryable = 0;
  x->failure.retry_now = 0;
  x->abort_message = message;
  x->state = X_DONE;
}

void sk_exchange_grant(sk_exchange *x, const sk_client *c) { x->granted = c->token_generation; }

static int closed_under_us(sk_client *c, sk_exchange *x) {
  if (!c->closed) return 0;
  sk_exchange_abort(x, "closed", "the client was closed during the call");
  return 1;
}

static int needs_token(const sk_exchange *x) { return !(x->req.op->flags & SK_OP_NO_TOKEN); }

sk_step sk_exchange_next(lua_State *L, int client_idx, sk_exchange *x, sk_transfer *t,
                         double *wait) {
  sk_client *c = client_at(L, client_idx);
  const sk_request *req = &x->req;
  if (x->state == X_DONE) return SK_STEP_DONE;
  if (closed_under_us(c, x)) return SK_STEP_DONE;
  if (x->state == X_WAITING) {
    double left = x->wake_at - sk_monotonic();
    if (left > 0) {
      *wait = left;
      return SK_STEP_WAIT;
    }
    x->state = X_READY;
  }
  if (needs_token(x) && !sk_client_token_valid(c) &&
      !(c->token && x->granted == c->token_generation))
    return SK_STEP_TOKEN;

  t->cfg = c->transport;
  if (x->timeout > 0) t->cfg.timeout_ms = sk_seconds_to_ms(x->timeout);
  t->http.method = req->op->method;
  t->http.url = sk_buf_cstr((sk_buf *)&req->url);
  t->http.content_type = req->content_type;
  t->http.body = req->content_type ? sk_buf_cstr((sk_buf *)&req->body) : NULL;
  t->http.body_len = req->body.len;
  t->http.authorization = NULL;
  if (needs_token(x)) {
    sk_buf_reset(&t->authorization);
    sk_buf_adds(&t->authorization, "Bearer ");
    sk_buf_adds(&t->authorization, c->token);
    if (t->authorization.oom) luaL_error(L, "scalekit: out of memory");
    t->http.authorization = sk_buf_cstr(&t->authorization);
    x->token_generation = c->token_generation;
  }
  x->attempts++;
  hook_request(L, client_idx, x, t);
  if (closed_under_us(c, x)) return SK_STEP_DONE;
  x->state = X_SENT;
  t->started = sk_monotonic();
  return SK_STEP_SEND;
}

/* The token op's answer becomes the client's token (only when it was
 * asked with the client's own credentials). */
static void store_token(lua_State *L, int client_idx, sk_client *c, sk_exchange *x,
                        const sk_transfer *t) {
  int stored = 0;
  if (!(x->req.op->flags & SK_OP_TOKEN) || x->req.own_credentials != 3) return;
  sk_getuservalue(L, client_idx);
  lua_getfield(L, -1, SK_UV_DECODER);
  if (sk_json_decode(L, lua_gettop(L), sk_buf_cstr((sk_buf *)&t->res.body), t->res.body.len) == 0 &&
      lua_istable(L, -1)) {
    lua_getfield(L, -1, "access_token");
    lua_getfield(L, -2, "expires_in");
    if (lua_type(L, -2) == LUA_TSTRING && sk_rawlen(L, -2) > 0) {
      double ttl = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : 0;
      if (sk_client_store_token(c, lua_tostring(L, -2), sk_finite(ttl) && ttl > 0 ? ttl : 0, 0))
        luaL_error(L, "scalekit: out of memory");
      stored = 1;
    }
    lua_pop(L, 2);
  }
  lua_pop(L, 3);
  if (!stored) sk_exchange_abort(x, "decode", "token response without an access_token");
}

void sk_exchange_received(lua_State *L, int client_idx, sk_exchange *x, sk_transfer *t) {
  sk_client *c = client_at(L, client_idx);
  const sk_http_response *res = &t->res;
  double elapsed = sk_monotonic() - t->started;
  sk_failure f;
  hook_response(L, client_idx, x, t, elapsed);
  debug_line(L, client_idx, x, t, elapsed);
  if (closed_under_us(c, x)) return;
  if (succeeded(res)) {
    x->failure.kind = NULL;
    x->state = X_DONE;
    store_token(L, client_idx, c, x, t);
    return;
  }
  f = classify(x->req.op, res);
  /* An API 401 may mean the token was revoked or expired early: one
   * fresh token (one fetch for all holders of that token), one more try. */
  if (res->outcome == SK_NET_OK && res->status == 401 && needs_token(x) && !x->refreshed) {
    x->refreshed = 1;
    if (x->token_generation == c->token_generation) sk_client_forget_token(c);
    x->state = X_READY;
    return;
  }
  if (f.retry_now && x->attempts <= c->max_retries) {
    x->state = X_WAITING;
    x->wake_at = sk_monotonic() + backoff_delay(c, x->attempts, res);
    return;
  }
  x->failure = f;
  x->state = X_DONE;
}

/* ---- results ---- */

static void push_decoder(lua_State *L, int client_idx) {
  sk_getuservalue(L, client_idx);
  lua_getfield(L, -1, SK_UV_DECODER);
  lua_remove(L, -2);
}

static void push_simple_error(lua_State *L, const sk_exchange *x, const sk_transfer *t,
                              const char *kind, const char *message, sk_masks masks) {
  sk_error_info info;
  memset(&info, 0, sizeof info);
  info.kind = kind;
  info.status = t ? t->res.status : 0;
  info.message = message;
  info.request_id = t ? t->res.request_id : NULL;
  info.operation = x->req.op->id;
  info.attempts = x->attempts;
  info.retryable = x->failure.retryable;
  sk_error_push(L, &info, 0, masks);
}

/* A token endpoint that answers 404 or HTML is almost always a wrong URL. */
static void add_url_hint(lua_State *L, const sk_client *c, const sk_exchange *x,
                         const sk_transfer *t) {
  const char *type = t->res.content_type;
  if (!(x->req.op->flags & SK_OP_CLIENT_AUTH)) return;
  if (t->res.status != 404 && !strstr(type, "html")) return;
  lua_getfield(L, -1, "message");
  lua_pushfstring(L, "%s (is environment_url right? %s%s answered it)",
                  lua_isstring(L, -1) ? lua_tostring(L, -1) : "", c->base_url, x->req.op->path);
  lua_setfield(L, -3, "message");
  lua_pop(L, 1);
}

static void push_failure(lua_State *L, int client_idx, sk_exchange *x, sk_transfer *t) {
  const sk_client *c = client_at(L, client_idx);
  const sk_mask *masks[3];
  sk_error_info info;
  masks_of(c, x, masks);
  if (x->abort_message) {
    push_simple_error(L, x, t && t->res.status ? t : NULL, x->failure.kind, x->abort_message,
                      masks);
    if (t && t->res.status) add_url_hint(L, c, x, t);
    return;
  }
  if (t->res.outcome != SK_NET_OK) {
    push_simple_error(L, x, t, x->failure.kind, t->res.error, masks);
    return;
  }
  memset(&info, 0, sizeof info);
  info.kind = x->failure.kind;
  info.retryable = x->failure.retryable;
  info.attempts = x->attempts;
  info.operation = x->req.op->id;
  info.request_id = t->res.request_id;
  info.status = t->res.status;
  push_decoder(L, client_idx);
  sk_error_push_response(L, &info, lua_gettop(L), t->res.body.data, t->res.body.len,
                         t->res.content_type, masks);
  lua_remove(L, -2);
  add_url_hint(L, c, x, t);
}

static void push_response_info(lua_State *L, int client_idx, sk_exchange *x, sk_transfer *t) {
  const sk_mask *masks[3];
  masks_of(client_at(L, client_idx), x, masks);
  lua_createtable(L, 0, 3);
  lua_pushinteger(L, t->res.status);
  lua_setfield(L, -2, "status");
  if (t->res.request_id[0])
    set_masked(L, "request_id", t->res.request_id, strlen(t->res.request_id), masks);
  if (t->res.max_age >= 0) {
    lua_pushinteger(L, (lua_Integer)t->res.max_age);
    lua_setfield(L, -2, "max_age");
  }
}

int sk_exchange_push_result(lua_State *L, int client_idx, sk_exchange *x, sk_transfer *t) {
  const sk_operation *op = x->req.op;
  const sk_http_response *res = &t->res;
  if (x->failure.kind) {
    push_failure(L, client_idx, x, t);
    return 0;
  }
  if ((op->flags & SK_OP_RETURNS_TRUE) || res->body.len == 0 || res->status == 204) {
    lua_pushboolean(L, 1);
  } else {
    push_decoder(L, client_idx);
    if (sk_json_decode(L, lua_gettop(L), res->body.data, res->body.len) != 0) {
      char why[300];
      const sk_mask *masks[3];
      snprintf(why, sizeof why, "invalid JSON in response: %s", lua_tostring(L, -1));
      lua_pop(L, 2);
      masks_of(client_at(L, client_idx), x, masks);
      push_simple_error(L, x, t, "decode", why, masks);
      return 0;
    }
    lua_remove(L, -2);
    /* {"organization": {...}} -> the organization; a bare one stays */
    if (op->unwrap && lua_istable(L, -1)) {
      lua_getfield(L, -1, op->unwrap);
      if (lua_istable(L, -1))
        lua_remove(L, -2);
      else
        lua_pop(L, 1);
    }
  }
  if (x->want_response) push_response_info(L, client_idx, x, t);
  return 1;
}
