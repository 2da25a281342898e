/* Drives exchanges over a libcurl multi handle (see batch.h). */
#include <stdlib.h>
#include <string.h>

#include "batch.h"

typedef struct slot {
  sk_transfer t;
  CURL *easy;
  struct curl_slist *headers;
  int index;       /* exchange in it, or -1 */
  int in_multi;    /* its transfer is in the multi handle */
  int wants_token; /* waits for the token exchange */
} slot;

struct sk_batch {
  sk_client *c;
  CURLM *multi;
  CURL **own_easy; /* a nested batch's own handles (the client's are lent) */
  int lent;        /* holds the client's multi and easy handles */
  int entered;     /* counted in c->busy */
  sk_exchange *x;  /* n calls, then the token exchange */
  int n;
  int single;  /* one call: results in user value slots, no tables */
  slot *slots; /* concurrency for calls, then one for the token */
  int nslots;
  int released;
};

/* User value slots. A single call keeps its value, error and response in
 * the slots themselves; a batch keeps one table of each. */
#define UV_CLIENT      1
#define UV_VALUES      2
#define UV_ERRORS      3
#define UV_RESPONSES   4
#define UV_TOKEN_ERROR 5 /* once the token cannot be had */

static void release(sk_batch *b) {
  int i;
  if (b->released) return;
  b->released = 1;
  for (i = 0; b->slots && i < b->nslots; i++) {
    slot *s = &b->slots[i];
    if (s->in_multi) {
      curl_multi_remove_handle(b->multi, s->easy);
      sk_transport_detach(s->easy, s->headers);
    }
    sk_transfer_free(&s->t);
  }
  for (i = 0; b->x && i <= b->n; i++) sk_exchange_free(&b->x[i]);
  if (b->own_easy) {
    for (i = 0; i < b->nslots; i++)
      if (b->own_easy[i]) curl_easy_cleanup(b->own_easy[i]);
    free(b->own_easy);
    if (b->multi) curl_multi_cleanup(b->multi);
  }
  free(b->slots);
  free(b->x);
  b->slots = NULL;
  b->x = NULL;
  if (b->lent) sk_client_return_pool(b->c);
  if (b->entered) sk_client_leave(b->c);
}

/* close, __gc and __close */
static int batch_close(lua_State *L) {
  release((sk_batch *)luaL_checkudata(L, 1, SK_BATCH_MT));
  return 0;
}

void sk_batch_register(lua_State *L) {
  sk_new_metatable(L, SK_BATCH_MT, batch_close);
  lua_pop(L, 1);
}

sk_batch *sk_batch_new(lua_State *L, int client_idx, int n, int concurrency, int single) {
  sk_client *c = (sk_client *)lua_touserdata(L, client_idx);
  sk_batch *b;
  int i, rc;
  client_idx = lua_absindex(L, client_idx);
  b = (sk_batch *)sk_newuserdata(L, sizeof *b);
  memset(b, 0, sizeof *b);
  b->released = 1; /* born closed until it holds something */
  luaL_getmetatable(L, SK_BATCH_MT);
  lua_setmetatable(L, -2);
  sk_getuservalue(L, -1);
  lua_pushvalue(L, client_idx);
  lua_rawseti(L, -2, UV_CLIENT);
  if (!single) {
    lua_createtable(L, n, 0);
    lua_rawseti(L, -2, UV_VALUES);
    lua_createtable(L, n, 0);
    lua_rawseti(L, -2, UV_ERRORS);
    lua_newtable(L);
    lua_rawseti(L, -2, UV_RESPONSES);
  }
  lua_pop(L, 1);

  b->c = c;
  b->n = n;
  b->single = single;
  b->nslots = (n < concurrency ? n : concurrency) + 1;
  b->released = 0;
  sk_client_enter(c);
  b->entered = 1;
  b->x = (sk_exchange *)calloc((size_t)n + 1, sizeof *b->x);
  b->slots = (slot *)calloc((size_t)b->nslots, sizeof *b->slots);
  if (!b->x || !b->slots) luaL_error(L, "scalekit: out of memory");
  for (i = 0; i <= n; i++) sk_exchange_init(&b->x[i]);
  for (i = 0; i < b->nslots; i++) {
    sk_transfer_init(&b->slots[i].t);
    b->slots[i].index = -1;
  }
  rc = sk_client_lend_pool(c, b->nslots);
  if (rc == 0) {
    b->lent = 1;
    b->multi = c->multi;
    for (i = 0; i < b->nslots; i++) b->slots[i].easy = c->pool[i];
  } else if (rc == -1) {
    /* a hook's call while the client's handles are busy: its own */
    b->own_easy = (CURL **)calloc((size_t)b->nslots, sizeof *b->own_easy);
    if (!b->own_easy || !(b->multi = curl_multi_init())) luaL_error(L, "scalekit: out of memory");
    for (i = 0; i < b->nslots; i++)
      if (!(b->slots[i].easy = b->own_easy[i] = curl_easy_init()))
        luaL_error(L, "scalekit: out of memory");
  } else {
    luaL_error(L, "scalekit: out of memory");
  }
  return b;
}

sk_exchange *sk_batch_exchange(sk_batch *b, int i) { return &b->x[i]; }

/* ---- the loop ---- */

typedef struct run_state {
  sk_batch *b;
  int client_idx;
  int next; /* next call to put into a slot */
  int done; /* calls finished */
  int uv;
} run_state;

static int start_transfer(sk_batch *b, slot *s) {
  CURLcode rc = sk_transport_setup(s->easy, &s->t.cfg, &s->t.http, &s->t.res, &s->headers);
  if (rc == CURLE_OK && curl_multi_add_handle(b->multi, s->easy) == CURLM_OK) {
    s->in_multi = 1;
    return 0;
  }
  sk_transport_detach(s->easy, s->headers);
  s->headers = NULL;
  if (!s->t.res.error[0]) strcpy(s->t.res.error, "could not start the transfer");
  s->t.res.outcome = SK_NET_FAILED;
  return -1;
}

/* Stores the value on top (popped) as call #index's value, error or
 * response (uv_slot UV_VALUES, UV_ERRORS or UV_RESPONSES). */
static void put(lua_State *L, run_state *r, int uv_slot, int index) {
  if (r->b->single) {
    lua_rawseti(L, r->uv, uv_slot);
    return;
  }
  lua_rawgeti(L, r->uv, uv_slot);
  lua_insert(L, -2);
  lua_rawseti(L, -2, index + 1);
  lua_pop(L, 1);
}

static void store_result(lua_State *L, run_state *r, slot *s) {
  sk_exchange *x = &r->b->x[s->index];
  int ok = sk_exchange_push_result(L, r->client_idx, x, &s->t);
  if (ok && x->want_response) put(L, r, UV_RESPONSES, s->index);
  put(L, r, ok ? UV_VALUES : UV_ERRORS, s->index);
}

static void free_slot(run_state *r, slot *s) {
  s->index = -1;
  s->wants_token = 0;
  r->done++;
}

/* The token exchange ended: its waiters go on, or share its error. */
static void token_done(lua_State *L, run_state *r, slot *ts) {
  sk_batch *b = r->b;
  sk_exchange *tx = &b->x[b->n];
  int i, ok = sk_exchange_push_result(L, r->client_idx, tx, &ts->t);
  for (i = 0; i < b->nslots - 1; i++) {
    slot *s = &b->slots[i];
    if (s->index < 0 || !s->wants_token) continue;
    s->wants_token = 0;
    if (ok) {
      sk_exchange_grant(&b->x[s->index], b->c);
    } else {
      lua_pushvalue(L, -1);
      put(L, r, UV_ERRORS, s->index);
      sk_exchange_abort(&b->x[s->index], "auth", "token request failed");
      free_slot(r, s);
    }
  }
  if (ok)
    lua_pop(L, 1);
  else
    lua_rawseti(L, r->uv, UV_TOKEN_ERROR);
  sk_exchange_free(tx);
  sk_exchange_init(tx);
  ts->index = -1;
}

static void start_token(lua_State *L, run_state *r) {
  sk_batch *b = r->b;
  slot *ts = &b->slots[b->nslots - 1];
  if (ts->index >= 0) return; /* one token request at a time */
  sk_request_build(L, b->c, sk_catalog_token_operation(), 0, "token", &b->x[b->n].req);
  ts->index = b->n;
}

/* Moves slot s on; returns 1 when something changed. */
static int advance(lua_State *L, run_state *r, slot *s, double *wake) {
  sk_batch *b = r->b;
  double wait = 0;
  sk_exchange *x = &b->x[s->index];
  if (s->in_multi || s->wants_token) return 0;
  switch (sk_exchange_next(L, r->client_idx, x, &s->t, &wait)) {
    case SK_STEP_SEND:
      if (start_transfer(b, s) != 0) sk_exchange_received(L, r->client_idx, x, &s->t);
      return 1;
    case SK_STEP_WAIT:
      if (sk_monotonic() + wait < *wake) *wake = sk_monotonic() + wait;
      return 0;
    case SK_STEP_TOKEN:
      /* every call still to send shares the error, without asking again */
      lua_rawgeti(L, r->uv, UV_TOKEN_ERROR);
      if (!lua_isnil(L, -1)) {
        put(L, r, UV_ERRORS, s->index);
        sk_exchange_abort(x, "auth", "token request failed");
        free_slot(r, s);
        return 1;
      }
      lua_pop(L, 1);
      s->wants_token = 1;
      start_token(L, r);
      return 1;
    case SK_STEP_DONE:
      if (s->index == b->n) {
        token_done(L, r, s);
      } else {
        store_result(L, r, s);
        free_slot(r, s);
      }
      return 1;
  }
  return 0;
}

/* Every transfer in flight ends with the client (a hook closed it). */
static void abort_transfers(run_state *r) {
  int i;
  for (i = 0; i < r->b->nslots; i++) {
    slot *s = &r->b->slots[i];
    if (!s->in_multi) continue;
    curl_multi_remove_handle(r->b->multi, s->easy);
    sk_transport_detach(s->easy, s->headers);
    s->headers = NULL;
    s->in_multi = 0;
    sk_exchange_abort(&r->b->x[s->index], "closed", "the client was closed during the call");
  }
}

static int collect(lua_State *L, run_state *r) {
  sk_batch *b = r->b;
  CURLMsg *msg;
  int left, any = 0, i;
  while ((msg = curl_multi_info_read(b->multi, &left)) != NULL) {
    slot *s = NULL;
    if (msg->msg != CURLMSG_DONE) continue;
    for (i = 0; i < b->nslots && !s; i++)
      if (b->slots[i].in_multi && b->slots[i].easy == msg->easy_handle) s = &b->slots[i];
    if (!s) continue;
    curl_multi_remove_handle(b->multi, s->easy);
    sk_transport_finish(s->easy, msg->data.result, &s->t.res);
    sk_transport_detach(s->easy, s->headers);
    s->headers = NULL;
    s->in_multi = 0;
    sk_exchange_received(L, r->client_idx, &b->x[s->index], &s->t);
    any = 1;
  }
  return any;
}

/* Protected: (batch, client) -> nothing; results land in the tables. */
static int run(lua_State *L) {
  run_state r;
  memset(&r, 0, sizeof r);
  r.b = (sk_batch *)lua_touserdata(L, 1);
  r.client_idx = 2;
  r.uv = 3;
  sk_getuservalue(L, 1);
  while (r.done < r.b->n) {
    int i, changed = 0, running = 0;
    double wake = sk_monotonic() + 1;
    for (i = 0; i < r.b->nslots; i++) {
      slot *s = &r.b->slots[i];
      if (s->index < 0 && i < r.b->nslots - 1 && r.next < r.b->n) s->index = r.next++;
      if (s->index >= 0) changed |= advance(L, &r, s, &wake);
    }
    if (r.b->c->closed) abort_transfers(&r);
    curl_multi_perform(r.b->multi, &running);
    changed |= collect(L, &r);
    if (changed || r.done >= r.b->n) continue;
    {
      double wait = wake - sk_monotonic();
      int ms = wait > 0 ? (int)(wait * 1000) + 1 : 0;
      if (running > 0)
        curl_multi_poll(r.b->multi, NULL, 0, ms, NULL);
      else
        sk_sleep(wait);
    }
  }
  return 0;
}

void sk_batch_run(lua_State *L, int batch_idx) {
  sk_batch *b = (sk_batch *)lua_touserdata(L, batch_idx);
  int status;
  batch_idx = lua_absindex(L, batch_idx);
  lua_pushcfunction(L, run);
  lua_pushvalue(L, batch_idx);
  sk_getuservalue(L, batch_idx);
  lua_rawgeti(L, -1, UV_CLIENT);
  lua_remove(L, -2);
  status = lua_pcall(L, 2, 0, 0);
  release(b);
  if (status != LUA_OK) lua_error(L);
}

void sk_batch_push_results(lua_State *L, int batch_idx) {
  sk_getuservalue(L, batch_idx);
  lua_rawgeti(L, -1, UV_VALUES);
  lua_rawgeti(L, -2, UV_ERRORS);
  lua_rawgeti(L, -3, UV_RESPONSES);
  lua_remove(L, -4);
}

int sk_batch_push_outcome(lua_State *L, int batch_idx, int want_response) {
  batch_idx = lua_absindex(L, batch_idx);
  sk_getuservalue(L, batch_idx);
  lua_rawgeti(L, -1, UV_VALUES);
  if (!lua_isnil(L, -1)) {
    lua_remove(L, -2);
    if (!want_response) return 1;
    sk_getuservalue(L, batch_idx);
    lua_rawgeti(L, -1, UV_RESPONSES);
    lua_remove(L, -2);
    return 2;
  }
  lua_rawgeti(L, -2, UV_ERRORS);
  lua_remove(L, -3);
  return 2;
}

/* sk:token: the token exchange as the batch's only call. */
int sk_batch_fetch_token(lua_State *L, int client_idx) {
  sk_batch *b;
  int batch;
  client_idx = lua_absindex(L, client_idx);
  b = sk_batch_new(L, client_idx, 1, 1, 1);
  batch = lua_gettop(L);
  sk_request_build(L, b->c, sk_catalog_token_operation(), 0, "token", &b->x[0].req);
  sk_batch_run(L, batch);
  if (sk_batch_push_outcome(L, batch, 0) == 1) {
    lua_pop(L, 2);
    return 0;
  }
  lua_replace(L, batch); /* the error object */
  lua_settop(L, batch);
  return -1;
}
