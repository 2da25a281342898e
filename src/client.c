/* The client: configuration, token, secrets, lent transfer handles. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "json.h"

static void free_secret(char **p) {
  if (*p) {
    volatile char *v = *p;
    while (*v) *v++ = 0;
    free(*p);
    *p = NULL;
  }
}

static void release(sk_client *c) {
  int i;
  for (i = 0; i < c->pool_size; i++) {
    if (c->multi) curl_multi_remove_handle(c->multi, c->pool[i]);
    curl_easy_cleanup(c->pool[i]);
  }
  free(c->pool);
  c->pool = NULL;
  c->pool_size = 0;
  if (c->multi) curl_multi_cleanup(c->multi);
  c->multi = NULL;
  free(c->base_url);
  free(c->client_id);
  free(c->user_agent);
  free(c->ca_file);
  free(c->proxy);
  c->base_url = c->client_id = c->user_agent = c->ca_file = c->proxy = NULL;
  free_secret(&c->client_secret);
  free_secret(&c->token);
  sk_mask_free(&c->secrets);
}

void sk_client_close(sk_client *c) {
  if (c->closed && !c->base_url) return; /* released already */
  c->closed = 1;
  if (c->busy == 0) release(c);
}

void sk_client_enter(sk_client *c) { c->busy++; }

void sk_client_leave(sk_client *c) {
  if (--c->busy == 0 && c->closed) release(c);
}

sk_client *sk_client_check(lua_State *L, int idx, const char *who) {
  sk_client *c = (sk_client *)luaL_testudata(L, idx, SK_CLIENT_MT);
  if (!c)
    sk_argerror(L, who, "expected a scalekit client (use ':' to call methods), got %s",
                sk_typename(L, idx));
  else if (c->closed)
    sk_argerror(L, who, "client is closed");
  return c;
}

int sk_client_lend_pool(sk_client *c, int n) {
  if (c->pool_lent) return -1;
  if (!c->multi && !(c->multi = curl_multi_init())) return -2;
  if (n > c->pool_size) {
    CURL **pool = (CURL **)realloc(c->pool, (size_t)n * sizeof *pool);
    if (!pool) return -2;
    c->pool = pool;
    while (c->pool_size < n) {
      if (!(pool[c->pool_size] = curl_easy_init())) return -2;
      c->pool_size++;
    }
  }
  c->pool_lent = 1;
  return 0;
}

void sk_client_return_pool(sk_client *c) { c->pool_lent = 0; }

/* ---- token ---- */

int sk_client_token_valid(const sk_client *c) {
  return c->token && sk_monotonic() < c->token_expires;
}

/* The masks follow the token: the secret's encodings, then the token's. */
static int rebuild_secrets(sk_client *c) {
  int rc;
  sk_mask_free(&c->secrets);
  rc = sk_mask_add(&c->secrets, c->client_secret, strlen(c->client_secret));
  if (c->token) rc |= sk_mask_add(&c->secrets, c->token, strlen(c->token));
  return rc;
}

int sk_client_store_token(sk_client *c, const char *token, double ttl, int supplied) {
  char *copy = strdup(token);
  double margin = 0;
  if (!copy) return -1;
  free_secret(&c->token);
  c->token = copy;
  c->token_generation++;
  /* Refresh ahead of expiry; a lifetime of 0 means "use once". */
  if (!supplied) margin = ttl >= 120 ? 60 : ttl / 4;
  c->token_expires = sk_monotonic() + ttl - margin;
  return rebuild_secrets(c);
}

void sk_client_forget_token(sk_client *c) {
  free_secret(&c->token);
  c->token_expires = 0;
}

double sk_client_random(sk_client *c) {
  /* xorshift64*: jitter needs spread, not cryptographic quality */
  c->rng ^= c->rng >> 12;
  c->rng ^= c->rng << 25;
  c->rng ^= c->rng >> 27;
  return (double)((c->rng * 2685821657736338717ULL) >> 11) / 9007199254740992.0;
}

/* ---- configuration (validated and defaulted by scalekit.lua) ---- */

static const char *opt_string(lua_State *L, const char *key, int required) {
  const char *s;
  lua_getfield(L, 1, key);
  if (lua_isnil(L, -1) && !required) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    sk_argerror(L, "scalekit.core.new", "'%s' must be a string, got %s", key, sk_typename(L, -1));
  s = lua_tostring(L, -1);
  lua_pop(L, 1); /* anchored by the config table */
  return s;
}

static double opt_number(lua_State *L, const char *key, double dflt) {
  double v;
  lua_getfield(L, 1, key);
  if (lua_isnil(L, -1))
    v = dflt;
  else if (lua_type(L, -1) != LUA_TNUMBER)
    return sk_argerror(L, "scalekit.core.new", "'%s' must be a number, got %s", key,
                       sk_typename(L, -1));
  else
    v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!(v >= 0) || !sk_finite(v))
    return sk_argerror(L, "scalekit.core.new", "'%s' must be a finite number >= 0", key);
  return v;
}

static char *dup_or_null(const char *s) { return s ? strdup(s) : NULL; }

int sk_client_new(lua_State *L) {
  const char *url, *id, *secret, *agent, *ca, *proxy;
  double timeout, connect_timeout, stall, max_body, max_depth;
  sk_client *c;
  size_t n;
  luaL_checktype(L, 1, LUA_TTABLE);
  url = opt_string(L, "environment_url", 1);
  id = opt_string(L, "client_id", 1);
  secret = opt_string(L, "client_secret", 1);
  agent = opt_string(L, "user_agent", 1);
  ca = opt_string(L, "ca_file", 0);
  proxy = opt_string(L, "proxy", 0);
  timeout = opt_number(L, "timeout", 20);
  connect_timeout = opt_number(L, "connect_timeout", 5);
  stall = opt_number(L, "stall_timeout", 15);
  max_body = opt_number(L, "max_body_size", 32.0 * 1024 * 1024);
  max_depth = opt_number(L, "max_depth", 128);

  c = (sk_client *)sk_newuserdata(L, sizeof *c);
  memset(c, 0, sizeof *c);
  c->closed = 1; /* born closed: __gc is safe whatever fails below */
  luaL_getmetatable(L, SK_CLIENT_MT);
  lua_setmetatable(L, -2);

  c->max_retries = (int)opt_number(L, "max_retries", 3);
  c->retry_base_delay = opt_number(L, "retry_base_delay", 0.5);
  c->retry_max_delay = opt_number(L, "retry_max_delay", 8);
  c->max_retry_wait = opt_number(L, "max_retry_wait", 60);
  c->transport.timeout_ms = sk_seconds_to_ms(timeout);
  c->transport.connect_timeout_ms = sk_seconds_to_ms(connect_timeout);
  c->transport.stall_timeout_s = stall;
  c->transport.max_body = (size_t)max_body;
  lua_getfield(L, 1, "insecure");
  c->transport.insecure = lua_toboolean(L, -1);
  lua_getfield(L, 1, "debug");
  c->debug = lua_toboolean(L, -1);
  lua_pop(L, 2);
  /* xorshift never leaves 0: the low bit keeps the seed non-zero */
  c->rng = ((unsigned long long)time(NULL) ^ (unsigned long long)(size_t)c) | 1;

  c->base_url = strdup(url);
  c->client_id = strdup(id);
  c->client_secret = strdup(secret);
  c->user_agent = strdup(agent);
  c->ca_file = dup_or_null(ca);
  c->proxy = dup_or_null(proxy);
  if (!c->base_url || !c->client_id || !c->client_secret || !c->user_agent || (ca && !c->ca_file) ||
      (proxy && !c->proxy) || rebuild_secrets(c) != 0) {
    release(c);
    return luaL_error(L, "scalekit.core.new: out of memory");
  }
  n = strlen(c->base_url);
  while (n > 0 && c->base_url[n - 1] == '/') c->base_url[--n] = '\0';
  c->transport.user_agent = c->user_agent;
  c->transport.ca_file = c->ca_file;
  c->transport.proxy = c->proxy;
  c->closed = 0;

  /* The user value anchors the Lua side: decoder, hooks, debug sink. */
  sk_getuservalue(L, -1);
  sk_json_push_decoder(L, (int)max_depth);
  lua_setfield(L, -2, SK_UV_DECODER);
  lua_getfield(L, 1, "on_request");
  if (lua_isfunction(L, -1)) c->hooks |= SK_HOOK_ON_REQUEST;
  lua_setfield(L, -2, SK_UV_ON_REQUEST);
  lua_getfield(L, 1, "on_response");
  if (lua_isfunction(L, -1)) c->hooks |= SK_HOOK_ON_RESPONSE;
  lua_setfield(L, -2, SK_UV_ON_RESPONSE);
  lua_getfield(L, 1, "debug_sink");
  lua_setfield(L, -2, SK_UV_DEBUG);
  lua_pop(L, 1);
  return 1;
}
