/* The client's Lua methods: call, token, parallel, close. */
#include <stdio.h>
#include <string.h>

#include "api.h"
#include "call.h"
#include "driver.h"
#include "resource.h"

#define DEFAULT_CONCURRENCY 16
#define MAX_CONCURRENCY     256
#define CLIENT_METHODS_KEY  "scalekit.client_methods"
#define UV_EXTRAS           "extras" /* sk.auth and friends, set by the Lua layer */

/* close, __gc and __close: idempotent, never raises. Inside a call (a
 * hook closing its client) it only marks the client. */
static int client_close(lua_State *L) {
  sk_client_close((sk_client *)luaL_checkudata(L, 1, SK_CLIENT_MT));
  return 0;
}

static int client_tostring(lua_State *L) {
  sk_client *c = (sk_client *)luaL_checkudata(L, 1, SK_CLIENT_MT);
  if (c->closed)
    lua_pushliteral(L, "scalekit.client (closed)");
  else
    lua_pushfstring(L, "scalekit.client (%s, client_id %s)", c->base_url, c->client_id);
  return 1;
}

/* sk:token() -> access token, seconds left | nil, err */
static int client_token(lua_State *L) {
  sk_client *c = sk_client_check(L, 1, "token");
  double left;
  lua_settop(L, 1);
  if (!sk_client_token_valid(c) && sk_batch_fetch_token(L, 1) != 0) {
    lua_pushnil(L);
    lua_insert(L, -2);
    return 2;
  }
  if (!c->token) { /* closed by a hook during the fetch */
    lua_pushnil(L);
    return 1;
  }
  lua_pushstring(L, c->token);
  left = c->token_expires - sk_monotonic();
  lua_pushinteger(L, left > 0 ? (lua_Integer)left : 0);
  return 2;
}

static const sk_operation *check_operation(lua_State *L, int idx, const char *who) {
  const sk_operation *op;
  if (lua_type(L, idx) != LUA_TSTRING)
    sk_argerror(L, who, "the operation id must be a string (got %s)", sk_typename(L, idx));
  op = sk_catalog_find(lua_tostring(L, idx));
  if (!op) sk_argerror(L, who, "unknown operation '%s'", lua_tostring(L, idx));
  return op;
}

/* sk:call(operation_id, params, options) -> result [, response] | nil, err */
static int client_call(lua_State *L) {
  const sk_operation *op;
  sk_call_options opts;
  char who[128];
  sk_client_check(L, 1, "call");
  op = check_operation(L, 2, "call");
  if (!lua_isnoneornil(L, 3) && !lua_istable(L, 3))
    return sk_argerror(L, "call", "argument #2 (params) must be a table (got %s)",
                       sk_typename(L, 3));
  snprintf(who, sizeof who, "call(%s)", lua_tostring(L, 2));
  opts = sk_call_options_read(L, 4, who);
  return sk_call_run(L, 1, op, lua_istable(L, 3) ? 3 : 0, &opts, who);
}

static int read_concurrency(lua_State *L, int idx) {
  lua_Number v;
  if (lua_isnoneornil(L, idx)) return DEFAULT_CONCURRENCY;
  if (!lua_istable(L, idx))
    return sk_argerror(L, "parallel", "argument #2 (options) must be a table (got %s)",
                       sk_typename(L, idx));
  lua_getfield(L, idx, "concurrency");
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    return DEFAULT_CONCURRENCY;
  }
  v = lua_tonumber(L, -1);
  /* written so that NaN fails too */
  if (lua_type(L, -1) != LUA_TNUMBER || !(v >= 1 && v <= MAX_CONCURRENCY))
    return sk_argerror(L, "parallel", "concurrency must be a number in 1..%d (got %s)",
                       MAX_CONCURRENCY, lua_tostring(L, -1) ? lua_tostring(L, -1) : "nil");
  lua_pop(L, 1);
  return (int)v;
}

/* Reads call #i of a batch (stack top: nothing added); returns its
 * operation and leaves params (table or nil) and options on the stack;
 * raises naming the call on mistakes. */
static const sk_operation *read_call(lua_State *L, int calls, int i, sk_call_options *opts,
                                     char *who, size_t whocap) {
  const sk_operation *op;
  lua_rawgeti(L, calls, i);
  if (!lua_istable(L, -1))
    sk_argerror(L, "parallel", "call #%d must be a table {operation_id, params} (got %s)", i,
                sk_typename(L, -1));
  lua_rawgeti(L, -1, 1);
  snprintf(who, whocap, "parallel: call #%d", i);
  op = check_operation(L, -1, who);
  snprintf(who, whocap, "parallel: call #%d (%s)", i, lua_tostring(L, -1));
  lua_rawgeti(L, -2, 2);
  if (!lua_isnil(L, -1) && !lua_istable(L, -1))
    sk_argerror(L, who, "[2] (params) must be a table (got %s)", sk_typename(L, -1));
  lua_rawgeti(L, -3, 3);
  *opts = sk_call_options_read(L, lua_gettop(L), who);
  lua_pop(L, 1);
  lua_remove(L, -2);
  lua_remove(L, -2); /* params */
  return op;
}

/* sk:parallel(calls, {concurrency = n}) -> values, errors, responses: for
 * each i, exactly one of values[i] and errors[i] is set; responses[i] for
 * calls whose options ask for it. Every call is checked and built before
 * anything is sent. */
static int client_parallel(lua_State *L) {
  sk_client *c = sk_client_check(L, 1, "parallel");
  int n, i, concurrency, batch;
  sk_batch *b;
  if (!lua_istable(L, 2))
    return sk_argerror(L, "parallel", "argument #1 (calls) must be a table (got %s)",
                       sk_typename(L, 2));
  concurrency = read_concurrency(L, 3);
  lua_settop(L, 2);
  n = (int)sk_rawlen(L, 2);
  b = sk_batch_new(L, 1, n, concurrency, 0);
  batch = lua_gettop(L);
  for (i = 1; i <= n; i++) {
    char who[128];
    sk_exchange *x = sk_batch_exchange(b, i - 1);
    sk_call_options opts;
    const sk_operation *op = read_call(L, 2, i, &opts, who, sizeof who);
    x->timeout = opts.timeout;
    x->want_response = opts.want_response;
    sk_request_build(L, c, op, lua_istable(L, -1) ? lua_gettop(L) : 0, who, &x->req);
    lua_pop(L, 1);
  }
  sk_batch_run(L, batch);
  sk_batch_push_results(L, batch);
  return 3;
}

/* core.exchanges(client, calls, options) -> {exchange...}, concurrency:
 * sk:parallel's checks and requests, for a driver written in Lua. */
int sk_api_exchanges(lua_State *L) {
  int n, i, concurrency, list;
  sk_client_check(L, 1, "parallel");
  if (!lua_istable(L, 2))
    return sk_argerror(L, "parallel", "argument #1 (calls) must be a table (got %s)",
                       sk_typename(L, 2));
  concurrency = read_concurrency(L, 3);
  lua_settop(L, 2);
  n = (int)sk_rawlen(L, 2);
  lua_createtable(L, n, 0);
  list = lua_gettop(L);
  for (i = 1; i <= n; i++) {
    char who[128];
    sk_call_options opts;
    const sk_operation *op = read_call(L, 2, i, &opts, who, sizeof who);
    sk_driver_push_exchange(L, 1, op, lua_istable(L, -1) ? lua_gettop(L) : 0, &opts, who);
    lua_rawseti(L, list, i);
    lua_pop(L, 1);
  }
  lua_pushinteger(L, concurrency);
  return 2;
}

/* __index: methods, then resources, then what the Lua layer attached. */
static int client_index(lua_State *L) {
  luaL_checkudata(L, 1, SK_CLIENT_MT);
  lua_pushvalue(L, 2);
  lua_rawget(L, lua_upvalueindex(1));
  if (!lua_isnil(L, -1) || lua_type(L, 2) != LUA_TSTRING) return 1;
  lua_pop(L, 1);
  sk_resource_push(L, 1, lua_tostring(L, 2));
  if (!lua_isnil(L, -1)) return 1;
  sk_getuservalue(L, 1);
  lua_getfield(L, -1, UV_EXTRAS);
  if (!lua_istable(L, -1)) return 0;
  lua_pushvalue(L, 2);
  lua_rawget(L, -2);
  return 1;
}

int sk_api_set_extra(lua_State *L) {
  luaL_checkudata(L, 1, SK_CLIENT_MT);
  luaL_checkstring(L, 2);
  lua_settop(L, 3);
  sk_getuservalue(L, 1);
  lua_getfield(L, -1, UV_EXTRAS);
  if (lua_isnil(L, -1)) {
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, UV_EXTRAS);
  }
  lua_pushvalue(L, 2);
  lua_pushvalue(L, 3);
  lua_rawset(L, -3);
  return 0;
}

int sk_api_is_closed(lua_State *L) {
  lua_pushboolean(L, ((sk_client *)luaL_checkudata(L, 1, SK_CLIENT_MT))->closed);
  return 1;
}

/* core.set_token(client, token, seconds): a token obtained elsewhere
 * (nginx shares one per worker), valid for the seconds given;
 * core.set_token(client, nil) forgets it. */
int sk_api_set_token(lua_State *L) {
  sk_client *c = sk_client_check(L, 1, "set_token");
  if (lua_isnil(L, 2)) {
    sk_client_forget_token(c);
    return 0;
  }
  if (sk_client_store_token(c, luaL_checkstring(L, 2), luaL_checknumber(L, 3), 1) != 0)
    return luaL_error(L, "scalekit: out of memory");
  return 0;
}

/* -> token, seconds left; or nothing when no valid token is cached. */
int sk_api_peek_token(lua_State *L) {
  sk_client *c = sk_client_check(L, 1, "peek_token");
  double left = c->token_expires - sk_monotonic();
  if (!c->token || left <= 0) return 0;
  lua_pushstring(L, c->token);
  lua_pushnumber(L, left);
  return 2;
}

int sk_api_method_tables(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, CLIENT_METHODS_KEY);
  sk_resource_push_methods(L);
  return 2;
}

int sk_api_set_iterator(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  lua_settop(L, 1);
  lua_setfield(L, LUA_REGISTRYINDEX, SK_ITERATE_KEY);
  return 0;
}

void sk_api_register(lua_State *L) {
  static const luaL_Reg methods[] = {{"call", client_call},
                                     {"token", client_token},
                                     {"close", client_close},
                                     {"parallel", client_parallel},
                                     {NULL, NULL}};
  sk_new_metatable(L, SK_CLIENT_MT, client_close);
  lua_pushcfunction(L, client_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_newtable(L);
  luaL_setfuncs(L, methods, 0);
  lua_pushvalue(L, -1);
  lua_setfield(L, LUA_REGISTRYINDEX, CLIENT_METHODS_KEY);
  lua_pushcclosure(L, client_index, 1);
  lua_setfield(L, -2, "__index");
  lua_pop(L, 1);
}
