/* The client userdata: configuration, the cached token, one reused libcurl
 * handle, and the resources hanging off it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "scalekit.h"

double sk_monotonic(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Secrets are overwritten before their memory goes back to malloc. */
static void free_secret(char **p) {
  if (*p) {
    volatile char *v = *p;
    while (*v) *v++ = 0;
    free(*p);
    *p = NULL;
  }
}

static void client_release(sk_client *c) {
  int i;
  for (i = 0; i < c->pool_size; i++) curl_easy_cleanup(c->pool[i]);
  free(c->pool);
  c->pool = NULL;
  c->pool_size = 0;
  if (c->multi) {
    curl_multi_cleanup(c->multi);
    c->multi = NULL;
  }
  if (c->easy) {
    curl_easy_cleanup(c->easy);
    c->easy = NULL;
  }
  free(c->base_url);
  free(c->client_id);
  free(c->user_agent);
  free(c->ca_file);
  c->base_url = c->client_id = c->user_agent = c->ca_file = NULL;
  free_secret(&c->client_secret);
  free_secret(&c->token);
  c->closed = 1;
}

sk_client *sk_client_check(lua_State *L, int idx, const char *who) {
  sk_client *c = (sk_client *)luaL_testudata(L, idx, SK_CLIENT_MT);
  if (!c) sk_argerror(L, who, "expected a scalekit client (use ':' to call methods)");
  else if (c->closed) sk_argerror(L, who, "client is closed");
  return c;
}

/* ---- configuration (already validated and defaulted by scalekit.lua) ---- */

static const char *opt_string(lua_State *L, const char *key, int required) {
  const char *s;
  lua_getfield(L, 1, key);
  if (lua_isnil(L, -1) && !required) {
    lua_pop(L, 1);
    return NULL;
  }
  if (lua_type(L, -1) != LUA_TSTRING)
    sk_argerror(L, "scalekit.core.new", "'%s' must be a string", key);
  s = lua_tostring(L, -1);
  lua_pop(L, 1); /* anchored by the config table */
  return s;
}

static double opt_number(lua_State *L, const char *key, double dflt) {
  double v;
  lua_getfield(L, 1, key);
  if (lua_isnil(L, -1)) v = dflt;
  else if (lua_type(L, -1) != LUA_TNUMBER)
    return sk_argerror(L, "scalekit.core.new", "'%s' must be a number", key);
  else v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  if (!(v >= 0)) return sk_argerror(L, "scalekit.core.new", "'%s' must be >= 0", key);
  return v;
}

static char *dup_or_null(const char *s) {
  return s ? strdup(s) : NULL;
}

/* core.new(config) -> client. Keys as in README's configuration table. */
int sk_client_new(lua_State *L) {
  const char *url, *id, *secret, *agent, *ca;
  double timeout, connect_timeout, stall, max_body, max_depth;
  sk_client *c;
  size_t n;
  luaL_checktype(L, 1, LUA_TTABLE);
  url = opt_string(L, "environment_url", 1);
  id = opt_string(L, "client_id", 1);
  secret = opt_string(L, "client_secret", 1);
  agent = opt_string(L, "user_agent", 1);
  ca = opt_string(L, "ca_file", 0);
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
  c->transport.timeout_ms = (long)(timeout * 1000);
  c->transport.connect_timeout_ms = (long)(connect_timeout * 1000);
  c->transport.stall_timeout_s = stall;
  c->transport.max_body = (size_t)max_body;
  lua_getfield(L, 1, "insecure");
  c->transport.insecure = lua_toboolean(L, -1);
  lua_pop(L, 1);
  /* xorshift never leaves 0: the low bit keeps the seed non-zero */
  c->rng = ((unsigned long long)time(NULL) ^ (unsigned long long)(size_t)c) | 1;

  c->base_url = strdup(url);
  c->client_id = strdup(id);
  c->client_secret = strdup(secret);
  c->user_agent = strdup(agent);
  c->ca_file = dup_or_null(ca);
  c->easy = curl_easy_init();
  if (!c->base_url || !c->client_id || !c->client_secret || !c->user_agent ||
      (ca && !c->ca_file) || !c->easy) {
    client_release(c);
    return luaL_error(L, "scalekit.core.new: out of memory");
  }
  n = strlen(c->base_url);
  while (n > 0 && c->base_url[n - 1] == '/') c->base_url[--n] = '\0';
  c->transport.user_agent = c->user_agent;
  c->transport.ca_file = c->ca_file;
  c->closed = 0;

  /* The user value anchors the Lua side: decoder, resources, hooks. */
  sk_getuservalue(L, -1);
  sk_json_push_decoder(L, (int)max_depth);
  lua_setfield(L, -2, SK_UV_DECODER);
  sk_resource_push_all(L, -2);
  lua_setfield(L, -2, SK_UV_RESOURCES);
  lua_getfield(L, 1, "on_request");
  lua_setfield(L, -2, SK_UV_ON_REQUEST);
  lua_getfield(L, 1, "on_response");
  lua_setfield(L, -2, SK_UV_ON_RESPONSE);
  lua_pop(L, 1);
  return 1;
}

/* ---- methods ----------------------------------------------------------- */

/* close, __gc and __close: idempotent, never raises. */
static int client_close(lua_State *L) {
  sk_client *c = (sk_client *)luaL_checkudata(L, 1, SK_CLIENT_MT);
  if (!c->closed) client_release(c);
  return 0;
}

static int client_tostring(lua_State *L) {
  sk_client *c = (sk_client *)luaL_checkudata(L, 1, SK_CLIENT_MT);
  if (c->closed) lua_pushfstring(L, "scalekit.client (closed)");
  else
    lua_pushfstring(L, "scalekit.client (%s, client_id %s)", c->base_url, c->client_id);
  return 1;
}

/* sk:token() -> access token, seconds left */
static int client_token(lua_State *L) {
  sk_client *c = sk_client_check(L, 1, "token");
  double left;
  if (sk_call_ensure_token(L, 1, c) != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  lua_pushstring(L, c->token);
  left = c->token_expires - sk_monotonic();
  lua_pushinteger(L, left > 0 ? (lua_Integer)left : 0);
  return 2;
}

/* sk:call(operation_id, params) -> result | nil, err */
static int client_call(lua_State *L) {
  sk_client *c = sk_client_check(L, 1, "call");
  const char *id = luaL_checkstring(L, 2);
  const sk_operation *op = sk_operation_find(id);
  sk_request req;
  if (!op) return sk_argerror(L, "call", "unknown operation '%s'", id);
  if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
    return sk_argerror(L, "call", "argument #2 (params) must be a table");
  lua_settop(L, 3);
  if (strcmp(op->id, "createToken") == 0) {
    /* The client's own credentials unless the caller names others. */
    lua_newtable(L);
    if (lua_istable(L, 3)) {
      lua_pushnil(L);
      while (lua_next(L, 3)) {
        lua_pushvalue(L, -2);
        lua_insert(L, -2);
        lua_settable(L, 4);
      }
    }
    lua_getfield(L, 4, "grant_type");
    if (lua_isnil(L, -1)) {
      lua_pushliteral(L, "client_credentials");
      lua_setfield(L, 4, "grant_type");
    }
    lua_getfield(L, 4, "client_id");
    if (lua_isnil(L, -1)) {
      lua_pushstring(L, c->client_id);
      lua_setfield(L, 4, "client_id");
    }
    lua_getfield(L, 4, "client_secret");
    if (lua_isnil(L, -1)) {
      lua_pushstring(L, c->client_secret);
      lua_setfield(L, 4, "client_secret");
    }
    lua_settop(L, 4);
    lua_replace(L, 3);
  }
  {
    char who[96];
    snprintf(who, sizeof who, "call(%s)", op->id);
    sk_request_build(L, c, op, lua_istable(L, 3) ? 3 : 0, who, &req);
  }
  return sk_call_execute(L, 1, &req);
}

int sk_client_push_override(lua_State *L, int idx, const char *key) {
  sk_getuservalue(L, idx);
  lua_getfield(L, -1, SK_UV_OVERRIDES);
  lua_remove(L, -2);
  if (lua_istable(L, -1)) {
    lua_getfield(L, -1, key);
    lua_remove(L, -2);
    if (!lua_isnil(L, -1)) return 1;
  }
  lua_pop(L, 1);
  return 0;
}

int sk_client_set_overrides(lua_State *L) {
  luaL_checkudata(L, 1, SK_CLIENT_MT);
  if (!lua_isnil(L, 2)) luaL_checktype(L, 2, LUA_TTABLE);
  lua_settop(L, 2);
  sk_getuservalue(L, 1);
  lua_pushvalue(L, 2);
  lua_setfield(L, -2, SK_UV_OVERRIDES);
  return 0;
}

/* core.set_token(client, token, seconds, supplied): a token obtained
 * elsewhere (another VM of the same nginx worker). With supplied, the
 * client never fetches one itself: an expired token or an API 401 is
 * returned as an auth error, so that its owner refreshes it once for all
 * its threads. core.set_token(client, nil) forgets the token and lets the
 * client fetch its own again. */
int sk_client_set_token(lua_State *L) {
  sk_client *c = sk_client_check(L, 1, "set_token");
  char *copy = NULL;
  if (!lua_isnil(L, 2)) {
    const char *token = luaL_checkstring(L, 2);
    if (!(copy = strdup(token))) return luaL_error(L, "scalekit: out of memory");
  }
  free_secret(&c->token);
  c->token = copy;
  c->token_expires = copy ? sk_monotonic() + luaL_checknumber(L, 3) : 0;
  c->token_supplied = copy && lua_toboolean(L, 4);
  return 0;
}

/* -> token, seconds left; or nothing when no valid token is cached. */
int sk_client_peek_token(lua_State *L) {
  sk_client *c = sk_client_check(L, 1, "peek_token");
  double left = c->token_expires - sk_monotonic();
  if (!c->token || left <= 0) return 0;
  lua_pushstring(L, c->token);
  lua_pushnumber(L, left);
  return 2;
}

static int client_index(lua_State *L) {
  luaL_checkudata(L, 1, SK_CLIENT_MT);
  /* only functions: overrides.<resource> tables are for the resources */
  if (lua_type(L, 2) == LUA_TSTRING && sk_client_push_override(L, 1, lua_tostring(L, 2))) {
    if (lua_isfunction(L, -1)) return 1;
    lua_pop(L, 1);
  }
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1)); /* methods */
  if (!lua_isnil(L, -1)) return 1;
  sk_getuservalue(L, 1);
  lua_getfield(L, -1, SK_UV_RESOURCES);
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

void sk_client_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"call", client_call},
                                     {"token", client_token},
                                     {"close", client_close},
                                     {"parallel", sk_parallel},
                                     {NULL, NULL}};
  sk_new_metatable(L, SK_CLIENT_MT, client_close);
  lua_pushcfunction(L, client_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_pushcclosure(L, client_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
