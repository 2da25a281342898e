/* sk:parallel(calls, {concurrency = n}): many operations at once on one
 * libcurl multi handle, whose connection pool the client keeps between
 * batches. Same retry policy and results as single calls. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "scalekit.h"

#define DEFAULT_CONCURRENCY 16
#define MAX_CONCURRENCY 256

typedef struct slot {
  CURL *easy;
  struct curl_slist *headers;
  sk_request req;
  sk_exchange x;
  sk_buf authorization;
  unsigned token_generation; /* of the token this attempt carries */
  int index;                 /* 1-based position in calls; 0 = idle */
  int refreshed;             /* already retried after a 401 */
  int waiting;               /* not in the multi: retry at retry_at */
  double retry_at;
  double started;
} slot;

/* The pool grows to the largest concurrency asked for. */
static int ensure_pool(sk_client *c, int n) {
  CURL **pool;
  if (!c->multi && !(c->multi = curl_multi_init())) return -1;
  if (n <= c->pool_size) return 0;
  pool = (CURL **)realloc(c->pool, (size_t)n * sizeof *pool);
  if (!pool) return -1;
  c->pool = pool;
  while (c->pool_size < n) {
    if (!(pool[c->pool_size] = curl_easy_init())) return -1;
    c->pool_size++;
  }
  curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)n);
  return 0;
}

/* Validation of every call before anything is sent, so a mistake in call
 * #900 raises before call #1 has gone out. */
static void validate_calls(lua_State *L, sk_client *c, int calls, int n) {
  int i;
  for (i = 1; i <= n; i++) {
    char who[96];
    const sk_operation *op;
    sk_request req;
    lua_rawgeti(L, calls, i);
    if (!lua_istable(L, -1))
      sk_argerror(L, "parallel", "call #%d must be a table {operation_id, params}", i);
    lua_rawgeti(L, -1, 1);
    if (lua_type(L, -1) != LUA_TSTRING)
      sk_argerror(L, "parallel", "call #%d: [1] must be an operation id", i);
    op = sk_operation_find(lua_tostring(L, -1));
    if (!op || strcmp(op->id, "createToken") == 0)
      sk_argerror(L, "parallel", "call #%d: unknown operation '%s'", i, lua_tostring(L, -1));
    lua_rawgeti(L, -2, 2);
    if (!lua_isnil(L, -1) && !lua_istable(L, -1))
      sk_argerror(L, "parallel", "call #%d: [2] (params) must be a table", i);
    snprintf(who, sizeof who, "parallel: call #%d (%s)", i, op->id);
    sk_request_build(L, c, op, lua_istable(L, -1) ? -1 : 0, who, &req);
    sk_request_free(&req);
    lua_pop(L, 3);
  }
}

/* (Re)starts the slot's exchange with the current token. */
static int start(lua_State *L, sk_client *c, slot *s) {
  CURLcode rc;
  (void)L;
  sk_buf_reset(&s->authorization);
  sk_buf_adds(&s->authorization, "Bearer ");
  sk_buf_adds(&s->authorization, c->token);
  s->x.http.authorization = sk_buf_cstr(&s->authorization);
  s->token_generation = c->token_generation;
  s->x.attempts++;
  s->waiting = 0;
  sk_buf_reset(&s->x.res.body);
  sk_hook_request(L, &s->x);
  s->started = sk_monotonic();
  rc = sk_transport_setup(s->easy, &c->transport, &s->x.http, &s->x.res, &s->headers);
  if (rc != CURLE_OK || curl_multi_add_handle(c->multi, s->easy) != CURLM_OK) return -1;
  return 0;
}

/* Takes call #index into the idle slot s. */
static void assign(lua_State *L, int client_idx, sk_client *c, int calls, slot *s, int index) {
  const sk_operation *op;
  lua_rawgeti(L, calls, index);
  lua_rawgeti(L, -1, 1);
  op = sk_operation_find(lua_tostring(L, -1));
  lua_rawgeti(L, -2, 2);
  /* validated already: this cannot raise (but for out of memory) */
  sk_request_build(L, c, op, lua_istable(L, -1) ? -1 : 0, op->id, &s->req);
  lua_pop(L, 3);
  sk_exchange_init(&s->x, client_idx, c, &s->req);
  s->index = index;
  s->refreshed = 0;
}

static void release_slot(slot *s) {
  sk_http_response_free(&s->x.res);
  sk_request_free(&s->req);
  s->index = 0;
}

/* A finished transfer: store its outcome, or schedule another attempt.
 * Returns 1 when call s->index is complete. */
static int finish(lua_State *L, sk_client *c, slot *s, int values, int errors) {
  sk_failure f;
  sk_hook_response(L, &s->x, sk_monotonic() - s->started);
  if (s->x.res.outcome == SK_NET_OK && s->x.res.status >= 200 && s->x.res.status < 300) {
    int ok = sk_exchange_push_success(L, &s->x);
    lua_rawseti(L, ok ? values : errors, s->index);
    return 1;
  }
  f = sk_classify(s->x.op, &s->x.res);
  if (s->x.res.outcome == SK_NET_OK && s->x.res.status == 401 && !s->refreshed &&
      !c->token_supplied) {
    /* Only the first 401 of a token generation fetches a new token. */
    s->refreshed = 1;
    if (s->token_generation == c->token_generation) sk_client_forget_token(c);
    s->waiting = 1;
    s->retry_at = 0;
    s->x.attempts--; /* the refresh retry is not a policy retry */
    return 0;
  }
  if (f.retry_now && s->x.attempts <= c->max_retries) {
    s->waiting = 1;
    s->retry_at = sk_monotonic() + sk_backoff_delay(c, s->x.attempts, &s->x.res);
    return 0;
  }
  sk_exchange_push_failure(L, &s->x, f);
  lua_rawseti(L, errors, s->index);
  return 1;
}

/* sk:parallel(calls, opts) -> values, errors: for each i, exactly one of
 * values[i] and errors[i] is set. */
int sk_parallel(lua_State *L) {
  sk_client *c = sk_client_check(L, 1, "parallel");
  int n, concurrency = DEFAULT_CONCURRENCY, nslots, next = 1, done = 0, i, values, errors;
  int token_error = 0; /* stack index of the error of a failed token fetch */
  slot *slots;
  luaL_checktype(L, 2, LUA_TTABLE);
  if (!lua_isnoneornil(L, 3)) {
    luaL_checktype(L, 3, LUA_TTABLE);
    lua_getfield(L, 3, "concurrency");
    if (!lua_isnil(L, -1)) {
      lua_Number v = lua_tonumber(L, -1);
      if (lua_type(L, -1) != LUA_TNUMBER || v < 1 || v > MAX_CONCURRENCY)
        return sk_argerror(L, "parallel", "concurrency must be a number in 1..%d",
                           MAX_CONCURRENCY);
      concurrency = (int)v;
    }
    lua_pop(L, 1);
  }
  lua_settop(L, 2);
  n = (int)sk_rawlen(L, 2);
  validate_calls(L, c, 2, n);
  lua_createtable(L, n, 0);
  values = lua_gettop(L);
  lua_createtable(L, n, 0);
  errors = lua_gettop(L);
  if (n == 0) return 2;

  nslots = n < concurrency ? n : concurrency;
  if (ensure_pool(c, nslots) != 0) return luaL_error(L, "parallel: out of memory");
  slots = (slot *)calloc((size_t)nslots, sizeof *slots);
  if (!slots) return luaL_error(L, "parallel: out of memory");
  for (i = 0; i < nslots; i++) {
    slots[i].easy = c->pool[i];
    sk_buf_init(&slots[i].authorization);
  }

  while (done < n) {
    CURLMsg *msg;
    int running, left, finished;
    double now = sk_monotonic(), wake = now + 1;
    for (i = 0; i < nslots; i++) {
      slot *s = &slots[i];
      if (!s->index && next <= n) {
        assign(L, 1, c, 2, s, next++);
        s->waiting = 1;
        s->retry_at = 0;
      }
      if (!s->index || !s->waiting) continue;
      if (s->retry_at > now) {
        if (s->retry_at < wake) wake = s->retry_at;
        continue;
      }
      /* Once the token cannot be had, every call still to send fails
       * with that error, without asking again. */
      if (token_error || sk_call_ensure_token(L, 1, c) != 0) {
        if (!token_error) token_error = lua_gettop(L);
        lua_pushvalue(L, token_error);
        lua_rawseti(L, errors, s->index);
        release_slot(s);
        done++;
        i--; /* the slot is idle again: refill it now */
        continue;
      }
      if (start(L, c, s) != 0) {
        sk_failure f = {"transport", 0, 0};
        sk_transport_detach(s->easy, s->headers);
        s->headers = NULL;
        snprintf(s->x.res.error, sizeof s->x.res.error, "could not start the transfer");
        s->x.res.outcome = SK_NET_FAILED;
        sk_exchange_push_failure(L, &s->x, f);
        lua_rawseti(L, errors, s->index);
        release_slot(s);
        done++;
        i--;
      }
    }
    curl_multi_perform(c->multi, &running);
    finished = 0;
    while ((msg = curl_multi_info_read(c->multi, &left)) != NULL) {
      slot *s = NULL;
      if (msg->msg != CURLMSG_DONE) continue;
      for (i = 0; i < nslots && !s; i++)
        if (slots[i].easy == msg->easy_handle) s = &slots[i];
      curl_multi_remove_handle(c->multi, msg->easy_handle);
      sk_transport_finish(s->easy, msg->data.result, &s->x.res);
      sk_transport_detach(s->easy, s->headers);
      s->headers = NULL;
      if (finish(L, c, s, values, errors)) {
        release_slot(s);
        done++;
      }
      finished = 1;
    }
    /* A slot came free (or wants a retry): refill it before waiting. */
    if (finished) continue;
    if (running > 0) {
      double wait = wake - sk_monotonic();
      curl_multi_poll(c->multi, NULL, 0, wait > 0 ? (int)(wait * 1000) + 1 : 0, NULL);
    } else {
      /* nothing in flight: only retries waiting for their time */
      double wait = wake - sk_monotonic();
      struct timespec ts;
      if (wait > 0) {
        ts.tv_sec = (time_t)wait;
        ts.tv_nsec = (long)((wait - (double)ts.tv_sec) * 1e9);
        nanosleep(&ts, NULL);
      }
    }
  }
  for (i = 0; i < nslots; i++) sk_buf_free(&slots[i].authorization);
  free(slots);
  lua_settop(L, errors);
  return 2;
}
